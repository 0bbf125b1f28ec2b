/* profile.h - StructureDefinitions (base types, profiles, extensions)
 * compiled from their snapshots into element trees the profile validator
 * walks.
 *
 * One lg_profile per StructureDefinition with a snapshot: the base R4 types
 * and resources (so the same walker checks base invariants), and every
 * profile and extension of the IG packages loaded with
 * lg_defs_load_package. Each element becomes an lg_pnode holding what the
 * validator needs, already parsed: cardinality, fixed/pattern value,
 * allowed types with their profiles and target profiles (linked to the
 * lg_profile they name once every package is loaded), constraints with
 * their FHIRPath compiled (identical constraints are compiled once and
 * shared), binding, and slicing with its slices.
 *
 * Everything is owned by the lg_defs that loaded it and is read-only once
 * loading is over, so any number of threads may walk it.
 */
#ifndef LOOPGATE_PROFILE_H
#define LOOPGATE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/nameslot.h"
#include "loopgate/status.h"

typedef struct cJSON cJSON;
typedef struct lg_fhirpath lg_fhirpath;
typedef struct lg_defs lg_defs;
typedef struct lg_profile lg_profile;
typedef struct lg_pnode lg_pnode;

/* Invariants of R4 that the validator can often decide from one look at
 * the focus (src/validate/shortcut.c), recognised by key and exact
 * expression when the constraint is loaded. Where the look is not
 * conclusive the FHIRPath is evaluated as for any other constraint. */
typedef enum lg_pshortcut {
    LG_PSC_NONE,
    LG_PSC_REF1,  /* ref-1: a reference that is not "#..." cannot fail */
    LG_PSC_DOM2,  /* dom-2, dom-4, dom-5: about contained resources */
    LG_PSC_DOM4,
    LG_PSC_DOM5,
    LG_PSC_DOM6,  /* dom-6: text.div exists */
    LG_PSC_BDL8,  /* bdl-8: fullUrl without /_history/ */
    LG_PSC_BDL5,  /* bdl-5: the entry has a resource */
    LG_PSC_CMD1,  /* cmd-1: a comment, or no equivalence */
    LG_PSC_CPT2,  /* cpt-2: no value, or a system */
    LG_PSC_QTY3,  /* qty-3: no code, or a system */
    LG_PSC_OBS6,  /* obs-6: no dataAbsentReason, or no value */
    LG_PSC_OBS7,  /* obs-7: no value, or no component */
    LG_PSC_PER1,  /* per-1: no start, or a start and no end */
    LG_PSC_BDL3,  /* bdl-3: entry.request present as the Bundle type asks */
    LG_PSC_BDL4,  /* bdl-4: entry.response present as the Bundle type asks */
    LG_PSC_BDL7,  /* bdl-7: a history, or fullUrl & versionId distinct */
    LG_PSC_HTML,  /* txt-1, txt-2: htmlChecks(), which the engine answers true */
    LG_PSC_EXT1,  /* ext-1: extensions or a value, not both */
} lg_pshortcut;

/* ElementDefinition.constraint, shared by every element that declares the
 * same key and expression. */
typedef struct lg_pconstraint {
    char *key;           /* "prr-1" */
    lg_severity severity;/* LG_SEV_ERROR or LG_SEV_WARNING */
    char *human;
    char *expression;    /* FHIRPath source */
    lg_fhirpath *expr;   /* compiled, or NULL when it did not compile (then skipped) */
    lg_pshortcut shortcut;
    int is_dom3;         /* dom-3 (any expression): checked natively */
} lg_pconstraint;

/* ElementDefinition.type */
typedef struct lg_ptype {
    char *code;                   /* "CodeableConcept", "Reference", "Extension", ... */
    char **profiles;              /* type.profile canonicals */
    const lg_profile **profile_defs; /* parallel to profiles; NULL when not loaded */
    size_t nprofiles;
    char **targets;               /* type.targetProfile canonicals */
    const lg_profile **target_defs;  /* parallel; NULL when not loaded */
    size_t ntargets;
    const lg_profile *type_def;   /* base definition of code (complex types), or NULL */
    int extension;                /* code is "Extension" */
} lg_ptype;

typedef enum lg_disc_type {
    LG_DISC_VALUE, LG_DISC_PATTERN, LG_DISC_TYPE, LG_DISC_PROFILE, LG_DISC_EXISTS,
} lg_disc_type;

typedef struct lg_pdisc {
    lg_disc_type type;
    char *path;            /* "url", "coding.code", "$this", "resolve()" */
} lg_pdisc;

typedef enum lg_slice_rules {
    LG_SLICE_OPEN, LG_SLICE_CLOSED, LG_SLICE_OPEN_AT_END,
} lg_slice_rules;

typedef enum lg_binding_strength {
    LG_BIND_NONE, LG_BIND_EXAMPLE, LG_BIND_PREFERRED, LG_BIND_EXTENSIBLE, LG_BIND_REQUIRED,
} lg_binding_strength;

/* What a slice is recognised by, for one discriminator, computed at load
 * time from the slice's own definition. */
typedef struct lg_pdisc_value {
    const cJSON *value;    /* value/pattern: the fixed[x] or pattern[x] found at the path
                              (borrowed from the slice's nodes), or a string for url */
    int pattern;           /* 1: match as a pattern, 0: exactly */
    const char *type;      /* type: the type code the slice allows */
    const lg_ptype *profile_type; /* profile: the type entry naming the profiles */
    int resolve;           /* profile on "resolve()": the type's target profiles apply
                              to the referenced resource (decidable only when it is
                              contained or in the same Bundle) */
    int exists;            /* exists: 1 must exist, 0 must not, -1 unknown */
    int known;             /* 0: the slice does not say (e.g. a binding-only slice) */
    cJSON *owned;          /* what value points to when made here (an extension url) */
} lg_pdisc_value;

struct lg_pnode {
    char *id;              /* "ServiceRequest.category:SDOHCC" */
    char *name;            /* JSON name without [x]: "category", "value" */
    int choice;            /* name[x] */
    char *slice_name;      /* NULL unless a slice */
    unsigned min, max;     /* max UINT_MAX for "*" */
    unsigned base_min, base_max; /* ElementDefinition.base: what the base already checks */
    cJSON *fixed;          /* fixed[x] / pattern[x] value (owned), or NULL */
    int is_pattern;
    char *fixed_type;      /* the [x] suffix: "CodeableConcept", "Uri", ... */
    lg_ptype *types;
    size_t ntypes;
    const lg_pconstraint **constraints; /* shared, owned by the profile set */
    size_t nconstraints;
    lg_binding_strength binding;
    char *valueset;        /* binding.valueSet without |version, or NULL */
    lg_pnode **kids;       /* child elements that are not slices, in snapshot order */
    size_t nkids;
    /* slicing of this element (the slices are its siblings in the snapshot) */
    int sliced;
    lg_pdisc *discs;
    size_t ndiscs;
    lg_slice_rules rules;
    int ordered;
    lg_pnode **slices;
    size_t nslices;
    lg_pdisc_value *disc_values; /* slices only: one per discriminator of the sliced element */
    const lg_pnode *content_ref; /* contentReference: the node whose children apply */
    const lg_ptype *reference;   /* the "Reference" type entry when it names target
                                    profiles, else NULL (saves a search per value) */
    /* What the walker uses to go fast, computed once the definitions are
     * loaded (lg_pset_link): */
    lg_name_slot *kid_slots; /* open addressing by lg_pname_hash(name) (nameslot.h:
                              kid index + 1, 0 empty, and the name's head);
                              nkid_slots is a power of two (0: no kids) */
    size_t nkid_slots;
    int choice_kids;       /* some kid is a choice element (name[x]) */
    uint32_t *empty_kids;  /* kids (indexes, ascending) that can report even when the
                              JSON has no value for them: a minimum above the base's,
                              or a slice with a minimum */
    size_t nempty_kids;
    int work;              /* checking a value against this node can report something:
                              its own rules (fixed/pattern, reference targets,
                              constraints, binding) or those of an element or
                              type below it. 0: the value's subtree is skipped */
    int kid_work;          /* as a child: work, or cardinality tighter than the base,
                              slices, or a choice whose types the walker checks */
};

/* The hash of a kid's name that kid_slots is keyed by (FNV-1a), one byte
 * at a time so that a walker can hash a JSON key and probe each choice
 * prefix ("valueQuantity": "value") in the same pass. */
#define LG_PNAME_HASH_INIT 2166136261u
static inline uint32_t lg_pname_hash_step(uint32_t h, char c)
{
    return (h ^ (unsigned char)c) * 16777619u;
}

struct lg_profile {
    char *url;             /* canonical, without |version */
    char *version;         /* may be NULL */
    char *name;
    char *type;            /* the constrained type: "ServiceRequest", "Extension" */
    char *base;            /* baseDefinition, or NULL */
    char *package;         /* "hl7.fhir.us.core#7.0.0", or "hl7.fhir.r4.core#4.0.1" */
    int constraint;        /* derivation = constraint (a profile) vs specialization */
    int is_extension;
    lg_pnode *root;
};

/* Look up a StructureDefinition by canonical URL; a trailing "|version" is
 * ignored. NULL when not loaded. The pointer lives as long as d. */
const lg_profile *lg_defs_profile(const lg_defs *d, const char *url);
/* The base definition of a type ("Patient", "Extension"), or NULL. */
const lg_profile *lg_defs_base_profile(const lg_defs *d, const char *type);

/* The element node of p whose id is id ("ServiceRequest.category:SDOHCC"),
 * or NULL. Linear: for tests and tools, not for the validator. */
const lg_pnode *lg_profile_node(const lg_profile *p, const char *id);

/* Number of profiles loaded (base definitions included). */
size_t lg_defs_profile_count(const lg_defs *d);

#endif
