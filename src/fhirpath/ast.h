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

/* Function, operator and variable names are resolved once, at compile
 * time, to these ids (fp_node.id), so evaluation switches on integers
 * instead of comparing strings. */
#define FP_FUNCTIONS(X) \
    X(abs) \
    X(aggregate) \
    X(all) \
    X(allFalse) \
    X(allTrue) \
    X(anyFalse) \
    X(anyTrue) \
    X(as) \
    X(ceiling) \
    X(children) \
    X(combine) \
    X(comparable) \
    X(conformsTo) \
    X(contains) \
    X(convertsToBoolean) \
    X(convertsToDate) \
    X(convertsToDateTime) \
    X(convertsToDecimal) \
    X(convertsToInteger) \
    X(convertsToQuantity) \
    X(convertsToString) \
    X(convertsToTime) \
    X(count) \
    X(decode) \
    X(descendants) \
    X(distinct) \
    X(empty) \
    X(encode) \
    X(endsWith) \
    X(escape) \
    X(exclude) \
    X(exists) \
    X(exp) \
    X(extension) \
    X(first) \
    X(floor) \
    X(hasValue) \
    X(highBoundary) \
    X(htmlChecks) \
    X(iif) \
    X(indexOf) \
    X(intersect) \
    X(is) \
    X(isDistinct) \
    X(join) \
    X(last) \
    X(lastIndexOf) \
    X(length) \
    X(ln) \
    X(log) \
    X(lowBoundary) \
    X(lower) \
    X(matches) \
    X(matchesFull) \
    X(memberOf) \
    X(not) \
    X(now) \
    X(ofType) \
    X(power) \
    X(precision) \
    X(repeat) \
    X(replace) \
    X(replaceMatches) \
    X(resolve) \
    X(round) \
    X(select) \
    X(single) \
    X(skip) \
    X(sort) \
    X(split) \
    X(sqrt) \
    X(startsWith) \
    X(subsetOf) \
    X(substring) \
    X(supersetOf) \
    X(tail) \
    X(take) \
    X(timeOfDay) \
    X(toBoolean) \
    X(toChars) \
    X(toDate) \
    X(toDateTime) \
    X(toDecimal) \
    X(toInteger) \
    X(toQuantity) \
    X(toString) \
    X(toTime) \
    X(today) \
    X(trace) \
    X(trim) \
    X(truncate) \
    X(type) \
    X(unescape) \
    X(union) \
    X(upper) \
    X(where)

typedef enum fp_fn {
    FN_UNKNOWN = 0,
#define FP_FN_ENUM(n) FN_##n,
    FP_FUNCTIONS(FP_FN_ENUM)
#undef FP_FN_ENUM
} fp_fn;

typedef enum fp_op {
    OP_UNKNOWN = 0, OP_IMPLIES, OP_OR, OP_XOR, OP_AND, OP_IN, OP_CONTAINS, OP_EQ, OP_EQUIV,
    OP_NE, OP_NEQUIV, OP_LT, OP_GT, OP_LE, OP_GE, OP_UNION, OP_PLUS, OP_MINUS, OP_AMP, OP_MUL,
    OP_DIVIDE, OP_DIV, OP_MOD,
} fp_op;

typedef enum fp_var {
    VAR_OTHER = 0, VAR_THIS, VAR_TOTAL, VAR_INDEX, VAR_CONTEXT, VAR_RESOURCE, VAR_ROOT_RESOURCE,
    VAR_UCUM, VAR_SCT, VAR_LOINC,
} fp_var;

typedef struct fp_node {
    fp_node_kind kind;
    int id;      /* FP_CALL: fp_fn; FP_BINARY: fp_op; FP_VAR: fp_var */
    int is_const;/* the value depends on no focus, $this, $index or $total:
                    the same throughout one evaluation */
    int memo;    /* > 0: its value is kept in that slot for the rest of an
                    evaluation (see analyse.c); 0: evaluated each time */
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
    int nmemo; /* memo slots used (1..nmemo) */
};

/* Mark constant subexpressions and give memo slots to those worth keeping
 * (analyse.c). Returns the number of slots. */
int fp_analyse(fp_node *root);

void fp_node_free(fp_node *n);

#endif
