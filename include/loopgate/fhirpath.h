/* fhirpath.h - FHIRPath (http://hl7.org/fhirpath/N1/) over cJSON trees.
 *
 * Compile an expression once (lg_fhirpath_compile), evaluate it many times
 * from any number of threads (a compiled expression is immutable). The
 * search indexer evaluates the R4 SearchParameter expressions with it; the
 * validator will evaluate profile invariants.
 *
 * Supported now: paths (with choice types such as value[x] and resource
 * type names at the root), indexers, literals (string, integer, decimal,
 * boolean, {}, @date/@datetime/@time, quantities such as 4 'mg' and
 * 1 year), $this, $index, %resource,
 * %context, the operators . [] unary - * / div mod + - & is as | < > <= >= =
 * != ~ !~ in contains and xor or implies, and the functions empty exists
 * all allTrue anyTrue allFalse anyFalse count distinct isDistinct where
 * select repeat ofType as is single first last tail skip take intersect
 * exclude union combine iif not hasValue extension resolve children
 * descendants trace startsWith endsWith contains matches replaceMatches
 * replace indexOf substring upper lower length toChars toString toInteger
 * toDecimal toBoolean toDate toDateTime toTime toQuantity and their
 * convertsTo* twins, type()
 * abs ceiling floor round truncate sqrt ln exp power log today now
 * memberOf conformsTo htmlChecks (the last three answer without
 * terminology: memberOf returns empty).
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
    int64_t i;          /* INT; for DECIMAL and QUANTITY private (literal precision) */
    double d;           /* DECIMAL, QUANTITY value */
    char *own;          /* owned by the collection: a string value, a unit or a type name */
    const char *s;      /* text of STRING, DATE, DATETIME, TIME; unit of QUANTITY
                           (points to own or into the tree) */
    const cJSON *ext;   /* LG_FP_NODE primitive: its "_name" sibling (id and
                           extensions) when present, borrowed; else NULL. A
                           primitive with extensions but no value is an item
                           whose node is JSON null */
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
/* Evaluate e with focus (a node inside resource) as the initial focus and
 * %context, resource as %resource and root_resource (the outermost
 * resource, e.g. the Bundle holding resource; NULL: resource itself) as
 * %rootResource - how profile invariants are evaluated on an element.
 * focus_ext is a primitive's "_name" sibling (or NULL); focus_type its FHIR
 * type when known (borrowed; keep it alive while using the result). Same
 * ownership and errors as lg_fhirpath_eval. */
lg_status lg_fhirpath_eval_at(const lg_fhirpath *e, const cJSON *resource,
                              const cJSON *root_resource, const cJSON *focus,
                              const cJSON *focus_ext, const char *focus_type,
                              lg_fp_collection *out, lg_issues *issues);
void lg_fp_collection_free(lg_fp_collection *c);

/* Single-boolean view of a result: 1 true, 0 false, -1 empty or not boolean. */
int lg_fp_truth(const lg_fp_collection *c);

#endif
