/* ast.h - the compiled form of a FHIRPath expression (private to src/fhirpath). */
#ifndef LG_FHIRPATH_AST_H
#define LG_FHIRPATH_AST_H

#include <stdint.h>

#include "loopgate/fhirpath.h"

typedef enum fp_node_kind {
    FP_EMPTY,     /* {} */
    FP_STRING,    /* str */
    FP_INT,       /* i */
    FP_DECIMAL,   /* d */
    FP_BOOL,      /* i */
    FP_DATE,      /* str (date, dateTime or time literal, without '@') */
    FP_QUANTITY,  /* d, str = unit */
    FP_IDENT,     /* str: member name, or a type name at the root */
    FP_VAR,       /* str: "this", "index", "total", "resource", "context", ... */
    FP_CALL,      /* str = function, args/nargs; target = a (NULL: focus) */
    FP_MEMBER,    /* a.str */
    FP_INDEX,     /* a[b] */
    FP_BINARY,    /* a op b; str = operator */
    FP_NEG,       /* -a */
    FP_IS,        /* a is str */
    FP_AS,        /* a as str */
} fp_node_kind;

typedef struct fp_node {
    fp_node_kind kind;
    char *str;
    int64_t i;
    double d;
    struct fp_node *a, *b;
    struct fp_node **args;
    int nargs;
} fp_node;

struct lg_fhirpath {
    char *src;
    fp_node *root;
};

void fp_node_free(fp_node *n);

#endif
