/* fhirpath.h - FHIRPath (http://hl7.org/fhirpath/N1/) over cJSON trees.
 *
 * Compile an expression once (lg_fhirpath_compile), evaluate it many times
 * from any number of threads (a compiled expression is immutable). The
 * search indexer evaluates the R4 SearchParameter expressions untyped with
 * lg_fhirpath_eval; the validator evaluates profile invariants with
 * lg_fhirpath_eval_env, which adds the FHIR type model, %resource /
 * %rootResource / %context, caller variables and callbacks for memberOf(),
 * conformsTo() and resolve().
 *
 * With the R4 model and strict mode the engine passes the whole official
 * R4 suite (935 of 935 cases, tests/unit/test_fhirpath_conformance.c);
 * untyped it passes 916 (the rest are about FHIR types). Validators should
 * use the model in lenient mode: R4's own dom-3 applies as() to
 * collections, which strict mode rejects.
 *
 * Supported: paths (with choice types such as value[x] and resource type
 * names at the root), indexers, literals (string, integer, decimal,
 * boolean, {}, @date/@datetime/@time, quantities such as 4 'mg' and
 * 1 year), $this, $index, $total, %resource, %rootResource, %context,
 * %ucum, %sct, %loinc, %"vs-name", %"ext-name",
 * the operators . [] unary - * / div mod + - & is as | < > <= >= = != ~ !~
 * in contains and xor or implies, and the functions empty exists all
 * allTrue anyTrue allFalse anyFalse count distinct isDistinct subsetOf
 * supersetOf where select repeat aggregate sort ofType as is single first
 * last tail skip take intersect exclude union combine iif not hasValue
 * extension resolve children descendants trace startsWith endsWith
 * contains matches matchesFull replaceMatches replace indexOf lastIndexOf
 * substring upper lower length toChars trim split join encode decode
 * escape unescape toString toInteger toDecimal toBoolean toDate toDateTime
 * toTime toQuantity and their convertsTo* twins, type() abs ceiling floor
 * round truncate sqrt ln exp power log lowBoundary highBoundary precision
 * comparable today now timeOfDay memberOf conformsTo htmlChecks.
 *
 * Cost: names of functions, operators and variables are resolved when
 * compiling; subexpressions that do not depend on the focus (such as
 * %resource.descendants() in dom-3) are computed once per evaluation.
 */
#ifndef LOOPGATE_FHIRPATH_H
#define LOOPGATE_FHIRPATH_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/status.h"

typedef struct cJSON cJSON;
typedef struct lg_fhirpath lg_fhirpath;

typedef enum lg_fp_kind {
    LG_FP_NODE,    /* a node of the input tree (borrowed) */
    LG_FP_BOOL,    /* b */
    LG_FP_INT,     /* i */
    LG_FP_DECIMAL, /* d */
    LG_FP_STRING,  /* s */
    LG_FP_TYPED,   /* a typed placeholder: what resolve() answers (type = the
                      referenced resource type) and what type() answers
                      (type = "System.Integer", "FHIR.Patient", ...) */
    LG_FP_DATE,    /* s = "2026-11-24" (partial dates allowed), no '@' */
    LG_FP_DATETIME,/* s = "2026-11-24T10:00:00+01:00", no '@' */
    LG_FP_TIME,    /* s = "10:00:00", no '@' or 'T' */
    LG_FP_QUANTITY,/* d = value, s = unit: a UCUM code or a calendar word */
} lg_fp_kind;

typedef struct lg_fp_item {
    lg_fp_kind kind;
    const cJSON *node;  /* LG_FP_NODE: borrowed from the evaluated resource */
    const char *type;   /* FHIR type when known ("Patient", "Quantity"), else NULL;
                           points into the tree, the expression or own */
    int b;              /* BOOL */
    int64_t i;          /* INT; for DECIMAL and QUANTITY 1 + the digits after the
                           point when known (1.50 has 3), else 0 */
    double d;           /* DECIMAL, QUANTITY value */
    char *own;          /* owned by the collection: a string value, a unit or a type name */
    const char *s;      /* text of STRING, DATE, DATETIME, TIME; unit of QUANTITY
                           (points to own or into the tree) */
    const cJSON *ext;   /* LG_FP_NODE primitive: its "_name" sibling (id and
                           extensions) when present, borrowed; else NULL. A
                           primitive with extensions but no value is an item
                           whose node is JSON null */
    const void *mtype;  /* private to the engine: the node's type in the model
                           (lg_fp_env.model), or NULL when untyped */
} lg_fp_item;

typedef struct lg_fp_collection {
    lg_fp_item *items;
    size_t count, cap;
} lg_fp_collection;

/* Limits: an expression is at most 64 KiB and nests at most 200 deep
 * (compile fails with LG_EINVAL); one evaluation yields at most 100000 items
 * per collection and does at most 10 million units of work (evaluation
 * fails with LG_EINVAL and an issue), so hostile expressions or resources
 * cannot exhaust the stack, memory or CPU. */

/* Compile src (NUL-terminated, not retained: the expression keeps a copy).
 * On LG_OK *out is owned by the caller (lg_fhirpath_free). On a syntax
 * error *out is NULL, LG_EINVAL, and an issue whose diagnostics read
 * "FHIRPath syntax error at offset N (line L, column C): why near '...'". */
lg_status lg_fhirpath_compile(const char *src, lg_fhirpath **out, lg_issues *issues);
void lg_fhirpath_free(lg_fhirpath *e);
/* The source text (borrowed from e). */
const char *lg_fhirpath_source(const lg_fhirpath *e);

/* Evaluate e with resource as %resource, %context and the initial focus.
 * Thread-safe: e is only read, so one compiled expression may be evaluated
 * by many threads at once. LG_FP_NODE items borrow from resource (keep it
 * alive while using them); everything else the collection owns.
 * Terminology-bound functions (memberOf, conformsTo on a non-base profile)
 * answer empty and add an LG_SEV_WARNING issue, not an error.
 * Appends results to *out (zero-initialised by the caller; free with
 * lg_fp_collection_free). Evaluation errors (e.g. single() on many items)
 * are LG_EINVAL with an issue. */
lg_status lg_fhirpath_eval(const lg_fhirpath *e, const cJSON *resource, lg_fp_collection *out,
                           lg_issues *issues);
void lg_fp_collection_free(lg_fp_collection *c);

/* ---- the type model ----
 * FHIRPath over FHIR needs the FHIR types: Patient.gender is a code (so
 * gender.is(code) and gender.as(string) differ), Observation.valueQuantity
 * is not a path, name.given1 is an error. A model is compiled from
 * StructureDefinitions (specializations only; profiles add no types),
 * is immutable once built and may be shared by all threads. */
typedef struct lg_fp_model lg_fp_model;

/* Read profiles-types.json and profiles-resources.json from dir (the
 * dist/fhir/r4 folder). *out is owned by the caller: lg_fp_model_free. */
lg_status lg_fp_model_load(const char *dir, lg_fp_model **out, lg_issues *issues);
/* An empty model (owned by the caller), and adding a StructureDefinition or
 * a Bundle of them (json borrowed; nothing of it is kept). Not thread-safe
 * while adding. */
lg_status lg_fp_model_new(lg_fp_model **out);
lg_status lg_fp_model_add(lg_fp_model *m, const cJSON *json, lg_issues *issues);
void lg_fp_model_free(lg_fp_model *m);

typedef struct lg_fp_elem_info {
    const char *type; /* "code", "HumanName", "Patient.contact" for a backbone
                         (look its children up by that name), "Resource";
                         borrowed from the model */
    int many;         /* max > 1: an array in JSON */
    int choice;       /* a choice element (value[x]); type is the key's suffix */
    int primitive;    /* type is a FHIR primitive */
} lg_fp_elem_info;

/* The element of type (a type or backbone name) that the JSON key names
 * ("valueQuantity" selects value[x] as a Quantity). 0 found, -1 not. */
int lg_fp_model_elem(const lg_fp_model *m, const char *type, const char *key,
                     lg_fp_elem_info *out);
/* 1 when the model knows the type or backbone name. */
int lg_fp_model_has_type(const lg_fp_model *m, const char *type);

/* ---- the evaluation environment (the validator's view) ---- */
typedef struct lg_fp_var {
    const char *name;       /* without '%': "profile", "vs-foo" */
    const lg_fp_item *items; /* its value, borrowed for the evaluation */
    size_t count;
} lg_fp_var;

typedef struct lg_fp_env {
    /* The focus and %context: the node the expression is evaluated on (a
     * resource, or an element for an element-level invariant). NULL means
     * resource. context_type is its FHIR type when it is not a resource
     * ("HumanName", "Patient.contact"); NULL takes resourceType. */
    const cJSON *context;
    const char *context_type;
    /* Or the focus as an item a previous evaluation returned (borrowed),
     * which keeps its type: evaluate an element's path, then each
     * invariant on each item (tests/unit/test_fhirpath_invariants.c does
     * this for every R4 invariant). The item must come from an evaluation
     * with the same model, or be built by the caller (kind LG_FP_NODE,
     * node, ext, and type naming a model type or backbone such as
     * "Patient.contact"; context_type overrides it). Takes precedence
     * over context. */
    const lg_fp_item *context_item;
    const cJSON *resource;      /* %resource: the resource holding context */
    const cJSON *root_resource; /* %rootResource: the Bundle or container
                                   resource; NULL means resource */
    const lg_fp_model *model;   /* types; NULL evaluates untyped, as
                                   lg_fhirpath_eval does */
    /* With a model: unknown elements and types, and navigating from a
     * resource type that is not the focus's, are errors (FHIRPath strict
     * mode), and as() on several items is an error. Off, they are empty. */
    int strict;
    /* first/last/skip/take/tail and [] straight on children() or
     * descendants() (whose order is not defined) are errors */
    int check_ordered;
    void *ud; /* passed to the callbacks */
    /* memberOf(valueset): 1 item in the value set, 0 not, -1 unknown
     * (memberOf answers empty). NULL: always unknown. */
    int (*member_of)(void *ud, const lg_fp_item *item, const char *valueset);
    /* conformsTo(profile) for profiles other than the base R4 types: 1, 0,
     * -1 unknown (empty). NULL: unknown. */
    int (*conforms_to)(void *ud, const lg_fp_item *item, const char *profile);
    /* resolve() of a reference that is neither contained ("#id") nor in
     * the %rootResource Bundle: the resource (borrowed; must outlive the
     * result) or NULL. NULL callback: only those two are found. */
    const cJSON *(*resolve)(void *ud, const char *reference);
    const lg_fp_var *vars; /* extra %variables, searched before the built-ins */
    size_t nvars;
} lg_fp_env;

/* Evaluate e in env (borrowed, only read: one env may serve many threads if
 * its callbacks are thread-safe). Built-in variables: %resource,
 * %rootResource, %context, %ucum, %sct, %loinc, %"vs-name" and
 * %"ext-name" (the R4 canonical URLs), plus env->vars. Results and errors
 * as lg_fhirpath_eval. */
lg_status lg_fhirpath_eval_env(const lg_fhirpath *e, const lg_fp_env *env, lg_fp_collection *out,
                               lg_issues *issues);

/* Single-boolean view of a result: 1 true, 0 false, -1 empty or not boolean. */
int lg_fp_truth(const lg_fp_collection *c);

#endif
