/* model.h - the FHIR type model FHIRPath evaluates against (private to
 * src/fhirpath): types, their elements and bases, compiled from
 * StructureDefinitions by model.c. */
#ifndef LG_FHIRPATH_MODEL_H
#define LG_FHIRPATH_MODEL_H

#include <stddef.h>

#include "loopgate/fhirpath.h"

typedef enum fp_mkind {
    FP_MK_PRIMITIVE, /* boolean, string, code, ... */
    FP_MK_COMPLEX,   /* HumanName, Quantity, Age, Element, BackboneElement */
    FP_MK_RESOURCE,  /* Patient, DomainResource, Resource */
    FP_MK_BACKBONE,  /* an inline element: "Patient.contact" */
} fp_mkind;

typedef struct fp_mtype fp_mtype;

typedef struct fp_melem {
    char *name;              /* FHIRPath name: "value" for value[x] */
    int choice;              /* the JSON name is name + a type suffix */
    int many;                /* max > 1 */
    const fp_mtype **types;  /* in definition order; one for a backbone */
    size_t ntypes;
    char **tnames;           /* type names until resolved (owned) */
} fp_melem;

struct fp_mtype {
    char *name;              /* "Patient", "code", "Patient.contact" */
    const char *fhir_name;   /* what type() says: "BackboneElement" for a backbone */
    fp_mkind kind;
    int abstract;
    char *base_name;         /* "DomainResource", "string", NULL for Element */
    const fp_mtype *base;
    fp_melem *elems;         /* sorted by name once resolved */
    size_t nelems, cap;
    unsigned *eslots;        /* hash of elems by name: index + 1, 0 empty */
    size_t neslots;          /* a power of two, or 0 */
};

const fp_mtype *fp_model_type(const lg_fp_model *m, const char *name);
/* The element called name (FHIRPath name, no suffix), or NULL. */
const fp_melem *fp_model_elem(const fp_mtype *t, const char *name);
/* The element a JSON key selects ("valueQuantity" finds value[x]); *type
 * receives the type the key names (the suffix for a choice). NULL when
 * the key is no element of t. */
const fp_melem *fp_model_key(const fp_mtype *t, const char *key, const fp_mtype **type);
/* 1 when t is base or derives from it (code is a string; Age a Quantity;
 * Patient a DomainResource and a Resource). */
int fp_mtype_derives(const fp_mtype *t, const fp_mtype *base);

#endif
