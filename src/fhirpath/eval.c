/* eval.c - evaluating compiled FHIRPath over cJSON resources.
 *
 * Collections are flat arrays of lg_fp_item. Nodes of the resource are
 * borrowed, never copied; computed values own their strings. Evaluation
 * is bounded: a collection may not exceed FP_MAX_ITEMS items, so
 * descendants() or repeat() on a hostile resource cannot exhaust memory.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ast.h"
#include "model.h"
#include "temporal.h"
#include "loopgate/time.h"

#define FP_MAX_ITEMS 100000
#define FP_MAX_EVAL_DEPTH 1100 /* the parser caps trees at 1000 levels */
#define FP_MAX_SORT_KEYS 16
#define FP_MAX_STEPS ((size_t)10 * 1000 * 1000)
#define FP_MAX_STRING (16 * 1024 * 1024)

typedef lg_fp_collection coll;
typedef lg_fp_item item;

typedef struct ev {
    const cJSON *resource;      /* %resource */
    const cJSON *root_resource; /* %rootResource */
    const lg_fp_env *env;       /* never NULL */
    const lg_fp_model *model;   /* env->model */
    int strict;                 /* model and env->strict */
    lg_issues *issues;
    int err;
    int depth;
    const coll *this_; /* $this: the focus of the innermost iteration */
    int64_t index;
    const coll *root;  /* %context (the initial focus) */
    coll *res_c, *rootres_c; /* %resource, %rootResource: built on first use */
    int res_ready, rootres_ready;
    const coll *total; /* $total inside aggregate() */
    size_t steps;      /* work done, bounded by FP_MAX_STEPS */
    const char *tcache_name;    /* the last type name type_is() looked up */
    const fp_mtype *tcache_type;
    coll *memo;        /* values of constant subexpressions (fp_node.memo) */
    unsigned char *memo_done;
    int nmemo;
} ev;

static void ev_error(ev *e, const char *fmt, const char *arg)
{
    if(!e->err && e->issues)
        lg_issues_add(e->issues, LG_SEV_ERROR, "processing", NULL, fmt, arg ? arg : "");
    e->err = 1;
}

void lg_fp_collection_free(coll *c)
{
    for(size_t i = 0; i < c->count; i++)
        free(c->items[i].own);
    free(c->items);
    memset(c, 0, sizeof(*c));
}

/* A new last item of c, uninitialised (the caller fills it whole), or
 * NULL on error. */
static item *push_raw(ev *e, coll *c)
{
    if(e->err)
        return NULL;
    if(c->count == c->cap) {
        if(c->cap >= FP_MAX_ITEMS) {
            ev_error(e, "FHIRPath result larger than the limit%s", NULL);
            return NULL;
        }
        size_t ncap = c->cap ? c->cap * 2 : 4;
        item *n = realloc(c->items, ncap * sizeof(*n));
        if(!n) {
            ev_error(e, "out of memory%s", NULL);
            return NULL;
        }
        c->items = n;
        c->cap = ncap;
    }
    return &c->items[c->count++];
}

/* A new, zeroed last item of c, or NULL on error. */
static item *push(ev *e, coll *c)
{
    item *it = push_raw(e, c);
    if(it)
        memset(it, 0, sizeof(*it));
    return it;
}

static void add_copy(ev *e, coll *c, const item *src)
{
    item *it = push_raw(e, c);
    if(!it)
        return;
    *it = *src;
    if(src->own) {
        it->own = strdup(src->own);
        if(src->s == src->own)
            it->s = it->own;
        if(src->type == src->own)
            it->type = it->own;
    }
}

/* Type a node from the model: t is the element's declared type; a
 * resource in a Resource-typed element (contained, entry.resource) takes
 * its resourceType. */
static void set_mtype(ev *e, item *it, const fp_mtype *t)
{
    if(!e->model)
        return;
    if((!t || t->kind == FP_MK_RESOURCE) && cJSON_IsObject(it->node)) {
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(it->node, "resourceType");
        if(cJSON_IsString(rt)) {
            const fp_mtype *r = fp_model_type(e->model, rt->valuestring);
            if(r)
                t = r;
        }
    }
    if(t) {
        it->mtype = t;
        it->type = t->fhir_name;
    }
}

static void add_node(ev *e, coll *c, const cJSON *n, const char *type)
{
    if(cJSON_IsNull(n))
        return;
    item *it = push(e, c);
    if(!it)
        return;
    it->kind = LG_FP_NODE;
    it->node = n;
    it->type = type;
    if(!type && cJSON_IsObject(n)) {
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(n, "resourceType");
        if(cJSON_IsString(rt))
            it->type = rt->valuestring;
    }
    if(e->model)
        set_mtype(e, it, type ? fp_model_type(e->model, type) : NULL);
}

static void add_bool(ev *e, coll *c, int b)
{
    item *it = push(e, c);
    if(it) {
        it->kind = LG_FP_BOOL;
        it->b = !!b;
    }
}

static void add_int(ev *e, coll *c, int64_t v)
{
    item *it = push(e, c);
    if(it) {
        it->kind = LG_FP_INT;
        it->i = v;
    }
}

static void add_dec(ev *e, coll *c, double v)
{
    item *it = push(e, c);
    if(it) {
        it->kind = LG_FP_DECIMAL;
        it->d = v;
    }
}

/* Takes ownership of s. */
static void add_str_own(ev *e, coll *c, char *s)
{
    if(!s) {
        ev_error(e, "out of memory%s", NULL);
        return;
    }
    item *it = push(e, c);
    if(!it) {
        free(s);
        return;
    }
    it->kind = LG_FP_STRING;
    it->own = s;
    it->s = s;
}

static void add_str(ev *e, coll *c, const char *s)
{
    add_str_own(e, c, strdup(s));
}

static void add_time(ev *e, coll *c, const fp_time *t)
{
    char buf[64];
    fp_time_format(t, buf, sizeof(buf));
    add_str(e, c, buf);
    if(!e->err && c->count)
        c->items[c->count - 1].kind = t->kind == FP_T_DATE ? LG_FP_DATE
                                      : t->kind == FP_T_TIME ? LG_FP_TIME : LG_FP_DATETIME;
}

static void add_qty(ev *e, coll *c, double v, const char *unit)
{
    add_str(e, c, unit ? unit : "1");
    if(!e->err && c->count) {
        item *it = &c->items[c->count - 1];
        it->kind = LG_FP_QUANTITY;
        it->d = v;
    }
}

/* A whole double as an Integer; -1 when it does not fit (casting it would
 * be undefined behaviour). */
static int d2i(double d, int64_t *out)
{
    if(!(d >= -9.2e18 && d <= 9.2e18))
        return -1;
    *out = (int64_t)d;
    return 0;
}

static void add_int_d(ev *e, coll *c, double d)
{
    int64_t v;
    if(d2i(d, &v) == 0)
        add_int(e, c, v);
}

/* ---- value views ---- */

typedef enum { V_NONE, V_BOOL, V_NUM, V_STR, V_OBJ, V_TIME, V_QTY } vkind;

typedef struct val {
    vkind k;
    int b;
    double d;      /* V_NUM, V_QTY */
    int is_int;    /* V_NUM: an Integer; i holds it exactly */
    int scale;     /* V_NUM decimal, V_QTY: digits after the point of the literal, -1 unknown */
    int64_t i;
    const char *s; /* V_STR text, V_QTY unit */
    const cJSON *obj;
    fp_time t;     /* V_TIME */
} val;

static int is_time_type(const char *t)
{
    return t && (t[0] == 'd' || t[0] == 'i' || t[0] == 't') && (!strcmp(t, "date") || !strcmp(t, "dateTime") || !strcmp(t, "instant") ||
                 !strcmp(t, "time"));
}

static int is_qty_type(const char *t)
{
    return t && isupper((unsigned char)t[0]) && (!strcmp(t, "Quantity") || !strcmp(t, "Age") || !strcmp(t, "Duration") ||
                 !strcmp(t, "Distance") || !strcmp(t, "Count") || !strcmp(t, "SimpleQuantity") ||
                 !strcmp(t, "MoneyQuantity"));
}

/* A Quantity-shaped object as a quantity value: its code, else its unit. */
static int obj_qty(const cJSON *o, val *v)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "value");
    if(!cJSON_IsNumber(n))
        return -1;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "code");
    if(!cJSON_IsString(u))
        u = cJSON_GetObjectItemCaseSensitive(o, "unit");
    v->k = V_QTY;
    v->d = n->valuedouble;
    v->s = cJSON_IsString(u) ? u->valuestring : "1";
    return 0;
}

static val value_of(const item *it)
{
    val v = {0};
    v.scale = -1;
    switch(it->kind) {
    case LG_FP_BOOL: v.k = V_BOOL; v.b = it->b; break;
    case LG_FP_INT: v.k = V_NUM; v.d = (double)it->i; v.i = it->i; v.is_int = 1; break;
    case LG_FP_DECIMAL: v.k = V_NUM; v.d = it->d; v.scale = it->i > 0 && it->i < 20 ? (int)it->i - 1 : -1; break;
    case LG_FP_STRING: v.k = V_STR; v.s = it->s; break;
    case LG_FP_TYPED: v.k = V_NONE; break;
    case LG_FP_DATE: case LG_FP_DATETIME: case LG_FP_TIME:
        v.k = V_STR;
        v.s = it->s;
        if(fp_time_parse(it->s, it->kind == LG_FP_DATE ? FP_T_DATE : it->kind == LG_FP_TIME
                         ? FP_T_TIME : FP_T_DATETIME, &v.t) == 0)
            v.k = V_TIME;
        break;
    case LG_FP_QUANTITY: v.k = V_QTY; v.d = it->d; v.s = it->s; v.scale = it->i > 0 && it->i < 20 ? (int)it->i - 1 : -1; break;
    case LG_FP_NODE:
        if(!it->node || cJSON_IsNull(it->node)) { v.k = V_NONE; }
        else if(cJSON_IsBool(it->node)) { v.k = V_BOOL; v.b = cJSON_IsTrue(it->node); }
        else if(cJSON_IsNumber(it->node)) {
            v.k = V_NUM;
            v.d = it->node->valuedouble;
            v.is_int = v.d == floor(v.d) && fabs(v.d) < 9e15;
            v.i = v.is_int ? (int64_t)v.d : 0;
        } else if(cJSON_IsString(it->node)) {
            v.k = V_STR;
            v.s = it->node->valuestring;
            if(is_time_type(it->type) && fp_time_parse(v.s, -1, &v.t) == 0)
                v.k = V_TIME;
        } else {
            v.k = V_OBJ;
            v.obj = it->node;
            if(is_qty_type(it->type))
                obj_qty(it->node, &v);
        }
        break;
    }
    return v;
}

static const char *str_of(const item *it)
{
    val v = value_of(it);
    return v.k == V_STR ? v.s : NULL;
}

/* Bring x to y's kind where FHIR JSON hides the type: a string node
 * compared with a date literal is a date, a Quantity-shaped object compared
 * with a quantity is a quantity. */
static void coerce(val *x, const val *y)
{
    if(x->k == V_STR && (y->k == V_TIME || y->k == V_QTY)) {
        fp_time t;
        if(fp_time_parse(x->s, -1, &t) == 0) {
            x->t = t;
            x->k = V_TIME;
        }
    } else if(x->k == V_OBJ && y->k == V_QTY) {
        obj_qty(x->obj, x);
    }
}

/* A unit as a multiple of its dimension's base unit, for the UCUM codes
 * clinical data uses most and the calendar words. Returns the dimension
 * (a static name) or NULL when the unit is unknown. Calendar years and
 * months are their own dimensions: they do not convert to 'a' or 'mo'. */
static const char *unit_base(const char *u, double *factor)
{
    *factor = 1; /* defined on every path: callers multiply by it */
    static const struct { const char *u, *dim; double f; } units[] = {
        {"kg", "g", 1e3}, {"g", "g", 1}, {"mg", "g", 1e-3}, {"ug", "g", 1e-6}, {"ng", "g", 1e-9},
        {"km", "m", 1e3}, {"m", "m", 1}, {"cm", "m", 1e-2}, {"mm", "m", 1e-3}, {"um", "m", 1e-6},
        {"L", "L", 1}, {"l", "L", 1}, {"dL", "L", 0.1}, {"mL", "L", 1e-3}, {"uL", "L", 1e-6},
        {"wk", "s", 604800}, {"week", "s", 604800}, {"weeks", "s", 604800},
        {"d", "s", 86400}, {"day", "s", 86400}, {"days", "s", 86400},
        {"h", "s", 3600}, {"hour", "s", 3600}, {"hours", "s", 3600},
        {"min", "s", 60}, {"minute", "s", 60}, {"minutes", "s", 60},
        {"s", "s", 1}, {"second", "s", 1}, {"seconds", "s", 1},
        {"ms", "s", 1e-3}, {"millisecond", "s", 1e-3}, {"milliseconds", "s", 1e-3},
        {"year", "year", 1}, {"years", "year", 1}, {"month", "month", 1}, {"months", "month", 1},
        {"a", "a", 1}, {"mo", "mo", 1},
        {"[in_i]", "m", 0.0254}, {"[ft_i]", "m", 0.3048}, {"[yd_i]", "m", 0.9144},
        {"[mi_i]", "m", 1609.344}, {"[lb_av]", "g", 453.59237}, {"[oz_av]", "g", 28.349523125},
    };
    for(size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
        if(!strcmp(u, units[i].u)) {
            *factor = units[i].f;
            return units[i].dim;
        }
    return NULL;
}

/* Both quantities in one unit: *a and *b become comparable values.
 * Returns -1 when the units do not convert, -2 for a calendar year or
 * month against UCUM a or mo outside equivalence. */
static int qty_align(const val *x, const val *y, double *a, double *b, int equiv)
{
    *a = x->d;
    *b = y->d;
    if(!strcmp(x->s, y->s))
        return 0;
    double fx = 1, fy = 1;
    const char *dx = unit_base(x->s, &fx), *dy = unit_base(y->s, &fy);
    if(!dx || !dy)
        return -1;
    if(strcmp(dx, dy)) {
        /* calendar year/month against UCUM a/mo: equivalent, but whether
         * they are equal is unknown (-2) */
        int cal = (!strcmp(dx, "year") && !strcmp(dy, "a")) || (!strcmp(dx, "a") && !strcmp(dy, "year")) ||
                  (!strcmp(dx, "month") && !strcmp(dy, "mo")) || (!strcmp(dx, "mo") && !strcmp(dy, "month"));
        if(!cal)
            return -1;
        if(!equiv)
            return -2;
    }
    *a = x->d * fx;
    *b = y->d * fy;
    return 0;
}

/* Same quantity units, allowing a calendar word for its UCUM code. */
static int same_unit(const char *a, const char *b, int equiv)
{
    if(!strcmp(a, b))
        return 1;
    static const char *const pairs[][3] = {
        {"year", "years", "a"}, {"month", "months", "mo"}, {"week", "weeks", "wk"},
        {"day", "days", "d"}, {"hour", "hours", "h"}, {"minute", "minutes", "min"},
        {"second", "seconds", "s"}, {"millisecond", "milliseconds", "ms"},
    };
    for(size_t i = 0; i < sizeof(pairs) / sizeof(*pairs); i++) {
        int ia = !strcmp(a, pairs[i][0]) || !strcmp(a, pairs[i][1]) || !strcmp(a, pairs[i][2]);
        int ib = !strcmp(b, pairs[i][0]) || !strcmp(b, pairs[i][1]) || !strcmp(b, pairs[i][2]);
        /* calendar years/months are not UCUM a/mo, except for equivalence */
        if(ia && ib)
            return equiv || i >= 2 || strcmp(a, pairs[i][2]) == strcmp(b, pairs[i][2]);
    }
    return 0;
}

/* 1 equal, 0 not, -1 not comparable */
static int equal_items(const item *a, const item *b, int equiv)
{
    val x = value_of(a), y = value_of(b);
    coerce(&x, &y);
    coerce(&y, &x);
    if(x.k != y.k)
        return 0;
    switch(x.k) {
    case V_TIME: {
        int r;
        if((x.t.kind == FP_T_TIME) != (y.t.kind == FP_T_TIME))
            return 0;
        if(fp_time_cmp(&x.t, &y.t, &r))
            return equiv ? 0 : -1;
        return r == 0;
    }
    case V_QTY: {
        double p, q;
        int rc = qty_align(&x, &y, &p, &q, equiv);
        if(rc)
            return rc == -2 ? -1 : 0;
        if(fabs(p - q) <= 1e-12 * fmax(1, fmax(fabs(p), fabs(q))))
            return 1;
        if(!equiv || (x.scale < 0 && y.scale < 0))
            return 0;
        /* equivalence: equal at the precision of the less precise, in
         * either operand's unit */
        int sc = x.scale < 0 ? y.scale : y.scale < 0 ? x.scale : x.scale < y.scale ? x.scale : y.scale;
        double m = pow(10, sc), fx = 1, fy = 1;
        if(strcmp(x.s, y.s)) {
            unit_base(x.s, &fx);
            unit_base(y.s, &fy);
        }
        return round(p / fx * m) == round(q / fx * m) || round(p / fy * m) == round(q / fy * m);
    }
    case V_BOOL: return x.b == y.b;
    case V_NUM:
        if(x.is_int && y.is_int)
            return x.i == y.i;
        if(equiv && (x.scale >= 0 || y.scale >= 0)) {
            /* equivalence: equal at the precision of the less precise */
            int sc = x.scale < 0 ? y.scale : y.scale < 0 ? x.scale : x.scale < y.scale ? x.scale : y.scale;
            double m = pow(10, sc);
            return round(x.d * m) == round(y.d * m);
        }
        /* decimals are exact in FHIRPath; binary doubles are not, so allow
         * for the last bits (1.8 - 1.2 = 0.6) */
        return fabs(x.d - y.d) <= 1e-12 * fmax(1, fmax(fabs(x.d), fabs(y.d)));
    case V_STR:
        if(equiv) {
            /* equivalence: case-insensitive, whitespace-normalised */
            const char *p = x.s, *q = y.s;
            for(;;) {
                while(isspace((unsigned char)*p) && isspace((unsigned char)p[1])) p++;
                while(isspace((unsigned char)*q) && isspace((unsigned char)q[1])) q++;
                if(!*p || !*q)
                    return !*p && !*q;
                int cp = isspace((unsigned char)*p) ? ' ' : tolower((unsigned char)*p);
                int cq = isspace((unsigned char)*q) ? ' ' : tolower((unsigned char)*q);
                if(cp != cq)
                    return 0;
                p++;
                q++;
            }
        }
        return strcmp(x.s, y.s) == 0;
    case V_OBJ: return cJSON_Compare(x.obj, y.obj, 1);
    default: return a->kind == b->kind && a->type && b->type && !strcmp(a->type, b->type);
    }
}

/* Charge n units of work; past FP_MAX_STEPS the evaluation fails, so no
 * expression (repeat, nested where over descendants) can run unbounded. */
static int spend(ev *e, size_t n)
{
    e->steps += n;
    if(e->steps > FP_MAX_STEPS) {
        ev_error(e, "FHIRPath evaluation exceeded its work limit%s", NULL);
        return -1;
    }
    return 0;
}

static int contains_item(ev *e, const coll *c, const item *it)
{
    if(spend(e, c->count + 1))
        return 0;
    for(size_t i = 0; i < c->count; i++)
        if(equal_items(&c->items[i], it, 0) == 1)
            return 1;
    return 0;
}

/* Singleton truth: 1, 0, or -1 for empty. Non-boolean singletons are true. */
static int truth(ev *e, const coll *c)
{
    if(c->count == 0)
        return -1;
    if(c->count > 1) {
        ev_error(e, "a boolean was expected but a collection was found%s", NULL);
        return -1;
    }
    val v = value_of(&c->items[0]);
    return v.k == V_BOOL ? v.b : 1;
}

int lg_fp_truth(const lg_fp_collection *c)
{
    if(c->count != 1)
        return -1;
    val v = value_of(&c->items[0]);
    return v.k == V_BOOL ? v.b : -1;
}

/* ---- types ---- */

/* The FHIR primitive types, as choice suffixes spell them ("DateTime")
 * and as the type system does ("dateTime"). */
static const char *const fhir_primitives[] = {
    "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
    "instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
    "uri", "url", "uuid", "xhtml",
};

/* A choice suffix as a type name: primitives are lower-camel ("dateTime"),
 * complex types keep the suffix ("Quantity"). Returns a static string or
 * the suffix itself. */
static const char *choice_type(const char *suffix)
{
    for(size_t i = 0; i < sizeof(fhir_primitives) / sizeof(*fhir_primitives); i++)
        if(!strcasecmp(suffix, fhir_primitives[i]))
            return fhir_primitives[i];
    return suffix;
}

/* The System types (FHIRPath's own), with or without "System.". */
static int is_system_type(const char *t)
{
    static const char *const sys[] = {"Boolean", "String", "Integer", "Decimal", "Date",
                                      "DateTime", "Time", "Quantity"};
    if(!strncmp(t, "System.", 7))
        t += 7;
    for(size_t i = 0; i < sizeof(sys) / sizeof(*sys); i++)
        if(!strcmp(t, sys[i]))
            return 1;
    return 0;
}

/* Whether it is of type t. inherit: is() answers for base types too (a
 * code is a string); as() and ofType() match FHIR primitives exactly, as
 * the R4 suite expects (gender.as(string) is empty), and complex types and
 * resources by inheritance (a Patient is a Resource). */
static int type_is(ev *e, const item *it, const char *t, int inherit)
{
    if(e->model) {
        /* names come from the expression, so one pointer is one name: an
         * ofType() over every descendant looks its type up once */
        const fp_mtype *target;
        if(e->tcache_name == t) {
            target = e->tcache_type;
        } else {
            const char *bare = !strncmp(t, "FHIR.", 5) ? t + 5 : t;
            target = strncmp(t, "System.", 7) ? fp_model_type(e->model, bare) : NULL;
            e->tcache_name = t;
            e->tcache_type = target;
        }
        if(!target && e->strict && strncmp(t, "System.", 7) && !is_system_type(t)) {
            ev_error(e, "unknown type '%s'", t);
            return 0;
        }
        if(it->kind == LG_FP_NODE && it->mtype) {
            /* a FHIR value is never of a System type (Boolean vs boolean) */
            const fp_mtype *mt = it->mtype;
            if(!target)
                return 0;
            if(inherit || target->kind != FP_MK_PRIMITIVE)
                return fp_mtype_derives(mt, target);
            return mt == target;
        }
    }
    int sys = 0, fhir = 0;
    if(t[0] == 'S' && !strncmp(t, "System.", 7)) {
        sys = 1;
        t += 7;
    } else if(t[0] == 'F' && !strncmp(t, "FHIR.", 5)) {
        fhir = 1;
        t += 5;
    }
    const char *sysname = NULL;
    switch(it->kind) {
    case LG_FP_BOOL: sysname = "Boolean"; break;
    case LG_FP_INT: sysname = "Integer"; break;
    case LG_FP_DECIMAL: sysname = "Decimal"; break;
    case LG_FP_STRING: sysname = "String"; break;
    case LG_FP_DATE: sysname = "Date"; break;
    case LG_FP_DATETIME: sysname = "DateTime"; break;
    case LG_FP_TIME: sysname = "Time"; break;
    case LG_FP_QUANTITY: sysname = "Quantity"; break;
    case LG_FP_TYPED: return !sys && it->type && !strcmp(it->type, t);
    case LG_FP_NODE: break;
    }
    if(sysname)
        return !fhir && !strcmp(t, sysname);
    if(sys)
        return 0; /* tree nodes are FHIR types */
    if(it->type) {
        if(!strcmp(it->type, t))
            return 1;
        /* a typed primitive (from a choice suffix) also answers to the
         * suffix spelling, as some R4 search expressions write it */
        if(islower((unsigned char)it->type[0]) && !strcasecmp(it->type, t))
            return 1;
        if(cJSON_IsObject(it->node) && cJSON_GetObjectItemCaseSensitive(it->node, "resourceType"))
            return !strcmp(t, "Resource") || !strcmp(t, "DomainResource");
        return 0;
    }
    const cJSON *n = it->node;
    if(cJSON_IsString(n))
        return !strcmp(t, "string");
    if(cJSON_IsBool(n))
        return !strcmp(t, "boolean");
    if(cJSON_IsNumber(n))
        return !strcmp(t, "decimal") ||
               (!strcmp(t, "integer") && n->valuedouble == floor(n->valuedouble));
    if(cJSON_IsObject(n)) {
        /* Shape-based guesses for the complex types search expressions test. */
        if(!strcmp(t, "Reference"))
            return cJSON_HasObjectItem(n, "reference") || cJSON_HasObjectItem(n, "identifier");
        if(!strcmp(t, "CodeableConcept"))
            return cJSON_HasObjectItem(n, "coding") || cJSON_HasObjectItem(n, "text");
        if(!strcmp(t, "Quantity"))
            return cJSON_HasObjectItem(n, "value") &&
                   (cJSON_HasObjectItem(n, "unit") || cJSON_HasObjectItem(n, "code"));
        if(!strcmp(t, "Period"))
            return cJSON_HasObjectItem(n, "start") || cJSON_HasObjectItem(n, "end");
    }
    return 0;
}

/* ---- navigation ---- */

/* Type names that may end a choice element's name (valueQuantity), so
 * that "code" does not match "codeFilter". */
static int is_data_type(const char *suffix)
{
    static const char *const complex[] = {
        "Address", "Age", "Annotation", "Attachment", "CodeableConcept", "Coding", "ContactDetail",
        "ContactPoint", "Contributor", "Count", "DataRequirement", "Distance", "Dosage", "Duration",
        "Expression", "HumanName", "Identifier", "Meta", "Money", "ParameterDefinition", "Period",
        "Quantity", "Range", "Ratio", "Reference", "RelatedArtifact", "SampledData", "Signature",
        "Timing", "TriggerDefinition", "UsageContext",
    };
    if(!isupper((unsigned char)suffix[0]))
        return 0;
    for(size_t i = 0; i < sizeof(complex) / sizeof(*complex); i++)
        if(!strcmp(suffix, complex[i]))
            return 1;
    for(size_t i = 0; i < sizeof(fhir_primitives) / sizeof(*fhir_primitives); i++)
        if(!strcasecmp(suffix, fhir_primitives[i]))
            return 1;
    return 0;
}

/* A JSON null standing for a primitive that has extensions but no value. */
static const cJSON null_node = {.type = cJSON_NULL};

static item *add_ext_node(ev *e, coll *c, const cJSON *n, const char *type, const cJSON *ext)
{
    if(cJSON_IsNull(n) && !cJSON_IsObject(ext))
        return NULL;
    item *it = push(e, c);
    if(!it)
        return NULL;
    it->kind = LG_FP_NODE;
    it->node = n;
    it->type = type;
    it->ext = cJSON_IsObject(ext) ? ext : NULL;
    if(!type && cJSON_IsObject(n)) {
        /* cJSON_GetObjectItemCaseSensitive(n, "resourceType") with the
         * compare inline (most members differ at the first byte) */
        for(const cJSON *rt = n->child; rt && rt->string; rt = rt->next)
            if(rt->string[0] == 'r' && !strcmp(rt->string, "resourceType")) {
                if(cJSON_IsString(rt))
                    it->type = rt->valuestring;
                break;
            }
    }
    return it;
}

/* Add the value(s) of JSON member v (with its "_name" sibling ext) typed t. */
static void add_typed(ev *e, coll *out, const cJSON *v, const cJSON *ext, const fp_mtype *t)
{
    /* a known type spares add_ext_node the resourceType look-up; set_mtype
     * still looks at resourceType where t is Resource (contained, entries) */
    const char *tn = t ? t->fhir_name : NULL;
    if(!v) {
        /* only extensions: items without a value */
        if(cJSON_IsArray(ext)) {
            for(const cJSON *x = ext->child; x && !e->err; x = x->next) {
                item *it = add_ext_node(e, out, &null_node, tn, x);
                if(it) set_mtype(e, it, t);
            }
        } else {
            item *it = add_ext_node(e, out, &null_node, tn, ext);
            if(it) set_mtype(e, it, t);
        }
        return;
    }
    if(cJSON_IsArray(v)) {
        const cJSON *xe = cJSON_IsArray(ext) ? ext->child : NULL;
        for(const cJSON *x = v->child; x && !e->err; x = x->next) {
            item *it = add_ext_node(e, out, x, tn, xe);
            if(it) set_mtype(e, it, t);
            xe = xe ? xe->next : NULL;
        }
    } else {
        item *it = add_ext_node(e, out, v, tn, cJSON_IsObject(ext) ? ext : NULL);
        if(it) set_mtype(e, it, t);
    }
}

/* The "_key" sibling of a JSON member, or NULL. */
static const cJSON *ext_of(const cJSON *obj, const char *key)
{
    char uname[128];
    size_t n = strlen(key);
    if(n + 2 > sizeof(uname))
        return NULL;
    uname[0] = '_';
    memcpy(uname + 1, key, n + 1);
    return cJSON_GetObjectItemCaseSensitive(obj, uname);
}

/* key and its "_key" sibling in one pass over obj (two look-ups would scan
 * it twice: this runs for every member step). */
static int same_str(const char *a, const char *b)
{
    /* inline: the names compared are short, a strcmp call cost more */
    while(*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static void find_pair(const cJSON *obj, const char *key, const cJSON **v, const cJSON **ext)
{
    *v = *ext = NULL;
    for(const cJSON *ch = obj->child; ch; ch = ch->next) {
        const char *k = ch->string;
        if(!k)
            continue;
        if(k[0] == '_') {
            if(!*ext && same_str(k + 1, key))
                *ext = ch;
        } else if(!*v && k[0] == key[0] && same_str(k, key)) {
            *v = ch;
        }
    }
}

/* Navigation with the model: the element's type comes from the
 * definition, a choice takes the type its JSON suffix names. Returns 1
 * when name is an element (or a type) of the item's type, 0 when not,
 * -1 when it names another resource type than the item's. */
static int member_typed(ev *e, const item *it, const char *name, coll *out)
{
    const fp_mtype *mt = it->mtype;
    const cJSON *obj = it->node;
    if(isupper((unsigned char)name[0])) {
        /* a type name: the item itself when it is of that type */
        const fp_mtype *t = fp_model_type(e->model, name);
        if(!t)
            return 0;
        if(fp_mtype_derives(mt, t))
            add_copy(e, out, it);
        else if(t->kind == FP_MK_RESOURCE && mt->kind == FP_MK_RESOURCE)
            return -1;
        return 1;
    }
    const fp_melem *el = fp_model_elem(mt, name);
    if(!el)
        return 0;
    if(!cJSON_IsObject(obj))
        return 1;
    if(!el->choice) {
        const cJSON *v, *ext;
        find_pair(obj, name, &v, &ext);
        if(v || ext)
            add_typed(e, out, v, ext, el->ntypes ? el->types[0] : NULL);
        return 1;
    }
    size_t n = strlen(name);
    for(const cJSON *ch = obj->child; ch; ch = ch->next) {
        const char *k = ch->string;
        if(!k)
            continue;
        int under = k[0] == '_';
        if(strncmp(k + under, name, n) || !k[under + n])
            continue;
        const fp_mtype *st = NULL;
        for(size_t i = 0; i < el->ntypes && !st; i++)
            if(el->types[i] && !strcasecmp(el->types[i]->name, k + under + n) &&
               !strcmp(el->types[i]->name + 1, k + under + n + 1))
                st = el->types[i];
        if(!st)
            continue;
        if(under) {
            /* "_valueString" without "valueString": extensions only */
            if(!cJSON_GetObjectItemCaseSensitive(obj, k + 1))
                add_typed(e, out, NULL, ch, st);
        } else {
            add_typed(e, out, ch, ext_of(obj, k), st);
        }
        return 1;
    }
    return 1;
}

/* Append member name of it to out. Returns 1 when the model knows the
 * name for it (or it is untyped), 0 when its type has no such element, -1
 * when name is another resource type (see member_typed). */
static int member(ev *e, const item *it, const char *name, coll *out)
{
    if(it->kind == LG_FP_TYPED && it->type && strchr(it->type, '.')) {
        /* a type() answer: TypeInfo's namespace and name */
        const char *dot = strchr(it->type, '.');
        if(!strcmp(name, "namespace"))
            add_str_own(e, out, strndup(it->type, (size_t)(dot - it->type)));
        else if(!strcmp(name, "name"))
            add_str(e, out, dot + 1);
        return 1;
    }
    if(it->kind == LG_FP_NODE && it->ext && cJSON_IsObject(it->ext) &&
       (!strcmp(name, "extension") || !strcmp(name, "id"))) {
        /* a primitive's id and extensions live in its "_name" sibling */
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(it->ext, name);
        for(const cJSON *k = cJSON_IsArray(x) ? x->child : NULL; k; k = k->next)
            add_node(e, out, k, "Extension");
        if(x && !cJSON_IsArray(x))
            add_node(e, out, x, "string");
        return 1;
    }
    if(it->kind == LG_FP_NODE && cJSON_IsObject(it->node) && !it->mtype && e->model &&
       isupper((unsigned char)name[0]) && e->strict) {
        /* an untyped object under a model: only a resource root gets here */
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(it->node, "resourceType");
        if(cJSON_IsString(rt) && !fp_model_type(e->model, name))
            ev_error(e, "unknown type '%s'", name);
    }
    if(it->kind == LG_FP_NODE && it->mtype && e->model)
        return member_typed(e, it, name, out);
    if(it->kind != LG_FP_NODE || !cJSON_IsObject(it->node))
        return 1;
    const cJSON *obj = it->node;
    if(isupper((unsigned char)name[0])) {
        /* A type name: the resource itself when it is of that type. */
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(obj, "resourceType");
        if(cJSON_IsString(rt) && (!strcmp(rt->valuestring, name) || !strcmp(name, "Resource") ||
                                  !strcmp(name, "DomainResource")))
            add_copy(e, out, it);
        return 1;
    }
    const cJSON *v, *ext;
    find_pair(obj, name, &v, &ext);
    const char *type = NULL;
    if(!v) {
        /* Choice element name[x]: valueQuantity etc.; the suffix is the type. */
        size_t n = strlen(name);
        for(const cJSON *ch = obj->child; ch; ch = ch->next)
            if(ch->string && !strncmp(ch->string, name, n) && is_data_type(ch->string + n)) {
                v = ch;
                type = choice_type(ch->string + n);
                break;
            }
    }
    /* "_name": the id and extensions of primitive values, index-aligned
     * for arrays; it may stand where the value itself is null or absent */
    if(v && v->string && strcmp(v->string, name))
        ext = ext_of(obj, v->string); /* a choice: "_valueString" */
    if(!v && !ext)
        return 1;
    if(!v) {
        /* only extensions: items without a value */
        if(cJSON_IsArray(ext)) {
            for(const cJSON *x = ext->child; x && !e->err; x = x->next)
                add_ext_node(e, out, &null_node, type, x);
        } else {
            add_ext_node(e, out, &null_node, type, ext);
        }
        return 1;
    }
    if(cJSON_IsArray(v)) {
        const cJSON *xe = cJSON_IsArray(ext) ? ext->child : NULL;
        for(const cJSON *x = v->child; x && !e->err; x = x->next) {
            add_ext_node(e, out, x, type, xe);
            xe = xe ? xe->next : NULL;
        }
    } else {
        add_ext_node(e, out, v, type, cJSON_IsObject(ext) ? ext : NULL);
    }
    return 1;
}

/* name on every item of focus. Strict mode: an error when no item's type
 * has the element (name.given1), or when name is a resource type other
 * than the focus's (Encounter.name on a Patient). Items of several types
 * (descendants()) pass when any of them has it. */
static void members(ev *e, const coll *focus, const char *name, coll *out)
{
    int known = 0, other = 0;
    for(size_t i = 0; i < focus->count && !e->err; i++) {
        int r = member(e, &focus->items[i], name, out);
        known |= r == 1;
        other |= r == -1;
    }
    if(e->strict && focus->count && !known && !e->err)
        ev_error(e, other ? "the expression is about '%s', not the type of its focus"
                          : "'%s' is not an element of the focus's type", name);
}

static void children_of(ev *e, const item *src, coll *out)
{
    /* a copy: descendants() passes an item of out itself, which pushing
     * may move */
    const item self = *src, *it = &self;
    if(it->kind != LG_FP_NODE || !cJSON_IsObject(it->node))
        return;
    /* the object's "_name" members, gathered once, so pairing each child
     * with its extensions does not rescan the object */
    const cJSON *unders[16];
    int nunders = 0, overflow = 0;
    if(it->mtype && e->model)
        for(const cJSON *ch = it->node->child; ch; ch = ch->next)
            if(ch->string && ch->string[0] == '_') {
                if(nunders < 16)
                    unders[nunders++] = ch;
                else
                    overflow = 1;
            }
    for(const cJSON *ch = it->node->child; ch && !e->err; ch = ch->next) {
        if(ch->string && (ch->string[0] == '_' || !strcmp(ch->string, "resourceType")))
            continue;
        if(it->mtype && e->model && ch->string) {
            const fp_mtype *t = NULL;
            if(fp_model_key(it->mtype, ch->string, &t)) {
                const cJSON *x = NULL;
                if(overflow) {
                    x = ext_of(it->node, ch->string);
                } else {
                    for(int u = 0; u < nunders && !x; u++)
                        if(!strcmp(unders[u]->string + 1, ch->string))
                            x = unders[u];
                }
                add_typed(e, out, ch, x, t);
                continue;
            }
        }
        if(cJSON_IsArray(ch))
            for(const cJSON *x = ch->child; x; x = x->next)
                add_node(e, out, x, NULL);
        else
            add_node(e, out, ch, NULL);
    }
}

/* Type of a reference string: "Patient/1", ".../Patient/1/_history/2". */
static char *ref_type(const char *ref)
{
    const char *end = ref + strlen(ref);
    const char *h = strstr(ref, "/_history/");
    if(h)
        end = h;
    const char *slash_id = NULL;
    for(const char *p = end - 1; p >= ref; p--)
        if(*p == '/') {
            slash_id = p;
            break;
        }
    if(!slash_id || slash_id == ref)
        return NULL;
    const char *ts = slash_id - 1;
    while(ts > ref && ts[-1] != '/')
        ts--;
    size_t n = (size_t)(slash_id - ts);
    if(!n || !isupper((unsigned char)*ts))
        return NULL;
    return strndup(ts, n);
}

/* The entry of a Bundle that ref names: by fullUrl, else a relative
 * "Type/id" against each entry's resource type and id. NULL if none. */
static const cJSON *bundle_find(const cJSON *bundle, const char *ref)
{
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(bundle, "resourceType");
    if(!cJSON_IsString(rt) || strcmp(rt->valuestring, "Bundle"))
        return NULL;
    const char *slash = strchr(ref, '/');
    size_t tlen = slash ? (size_t)(slash - ref) : 0;
    const char *id = slash ? slash + 1 : NULL;
    size_t idlen = id ? strcspn(id, "/") : 0;
    int relative = slash && !strstr(ref, "://") && strncmp(ref, "urn:", 4);
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(bundle, "entry");
    for(const cJSON *en = entries ? entries->child : NULL; en; en = en->next) {
        const cJSON *fu = cJSON_GetObjectItemCaseSensitive(en, "fullUrl");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(en, "resource");
        if(!cJSON_IsObject(r))
            continue;
        if(cJSON_IsString(fu) && !strcmp(fu->valuestring, ref))
            return r;
        if(relative) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "resourceType");
            const cJSON *rid = cJSON_GetObjectItemCaseSensitive(r, "id");
            if(cJSON_IsString(t) && cJSON_IsString(rid) && strlen(t->valuestring) == tlen &&
               !strncmp(t->valuestring, ref, tlen) && strlen(rid->valuestring) == idlen &&
               !strncmp(rid->valuestring, id, idlen))
                return r;
        }
    }
    return NULL;
}

static void resolve_item(ev *e, const item *it, coll *out)
{
    const char *ref = NULL;
    if(it->kind == LG_FP_NODE && cJSON_IsObject(it->node)) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it->node, "reference");
        ref = cJSON_IsString(r) ? r->valuestring : NULL;
    } else {
        ref = str_of(it);
    }
    if(!ref)
        return;
    if(ref[0] == '#') {
        /* contained: in %resource, or in the container when %resource is
         * itself contained ("#" alone is the container) */
        if(!ref[1]) {
            add_node(e, out, e->root_resource, NULL);
            return;
        }
        const cJSON *holders[2] = {e->resource, e->root_resource};
        for(int h = 0; h < 2; h++) {
            if(h == 1 && holders[1] == holders[0])
                break;
            const cJSON *contained = cJSON_GetObjectItemCaseSensitive(holders[h], "contained");
            for(const cJSON *c = contained ? contained->child : NULL; c; c = c->next) {
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
                if(cJSON_IsString(id) && !strcmp(id->valuestring, ref + 1)) {
                    add_node(e, out, c, NULL);
                    return;
                }
            }
        }
        return;
    }
    const cJSON *found = bundle_find(e->root_resource, ref);
    if(!found && e->env->resolve)
        found = e->env->resolve(e->env->ud, ref);
    if(found) {
        add_node(e, out, found, NULL);
        return;
    }
    char *t = ref_type(ref);
    if(!t)
        return;
    item *r = push(e, out);
    if(!r) {
        free(t);
        return;
    }
    r->kind = LG_FP_TYPED;
    r->own = t;
    r->type = t;
}

/* ---- evaluation ---- */

static void eval(ev *e, const fp_node *n, const coll *focus, coll *out);

static void eval_with_this(ev *e, const fp_node *n, const item *it, int64_t index, coll *out)
{
    /* the item is borrowed for the call: $this and the focus are only read,
     * and it outlives the call, so no copy (this runs once per item of
     * every where/select/exists/all) */
    item borrowed = *it;
    coll one = {.items = &borrowed, .count = 1, .cap = 1};
    const coll *saved = e->this_;
    int64_t saved_index = e->index;
    e->this_ = &one;
    e->index = index;
    eval(e, n, &one, out);
    e->this_ = saved;
    e->index = saved_index;
}

static int arg_int(ev *e, const fp_node *n, int64_t *v)
{
    coll c = {0};
    eval(e, n, e->this_, &c);
    int ok = c.count == 1 && value_of(&c.items[0]).k == V_NUM &&
             d2i(value_of(&c.items[0]).d, v) == 0;
    lg_fp_collection_free(&c);
    return ok ? 0 : -1;
}

/* A string argument, copied; NULL when empty or not a string. */
static char *arg_str(ev *e, const fp_node *n)
{
    coll c = {0};
    eval(e, n, e->this_, &c);
    char *s = c.count == 1 && str_of(&c.items[0]) ? strdup(str_of(&c.items[0])) : NULL;
    lg_fp_collection_free(&c);
    return s;
}

static const char *type_arg(const fp_node *n, char *buf, size_t bufsz)
{
    /* ofType(Patient) parses Patient as an identifier; FHIR.Patient and
     * System.String as members, whose namespace matters */
    if(n->kind == FP_MEMBER && n->a && n->a->kind == FP_IDENT &&
       (!strcmp(n->a->str, "System") || !strcmp(n->a->str, "FHIR"))) {
        snprintf(buf, bufsz, "%s.%s", n->a->str, n->str);
        return buf;
    }
    if(n->kind == FP_IDENT || n->kind == FP_MEMBER)
        return n->str;
    if(n->kind == FP_STRING)
        return n->str;
    return NULL;
}

/* Length of a FHIRPath number at the start of s ([+-]digits[.digits]), 0
 * if none; strtod alone would also take "inf", "nan" and hex. */
static size_t num_len(const char *s)
{
    size_t i = (*s == '+' || *s == '-') ? 1 : 0, d0 = i;
    while(isdigit((unsigned char)s[i]))
        i++;
    if(i == d0)
        return 0;
    if(s[i] == '.') {
        size_t f0 = ++i;
        while(isdigit((unsigned char)s[i]))
            i++;
        if(i == f0)
            return 0;
    }
    return i;
}

/* The type() answer: "System.Integer", "FHIR.Patient", ...; NULL unknown. */
static char *type_name(const item *it)
{
    const char *sys = NULL;
    switch(it->kind) {
    case LG_FP_BOOL: sys = "Boolean"; break;
    case LG_FP_INT: sys = "Integer"; break;
    case LG_FP_DECIMAL: sys = "Decimal"; break;
    case LG_FP_STRING: sys = "String"; break;
    case LG_FP_DATE: sys = "Date"; break;
    case LG_FP_DATETIME: sys = "DateTime"; break;
    case LG_FP_TIME: sys = "Time"; break;
    case LG_FP_QUANTITY: sys = "Quantity"; break;
    case LG_FP_TYPED: return it->type && !strchr(it->type, '.') ? strdup(it->type) : NULL;
    case LG_FP_NODE: break;
    }
    char *r = NULL;
    if(sys)
        return asprintf(&r, "System.%s", sys) < 0 ? NULL : r;
    const char *t = it->type;
    const cJSON *n = it->node;
    if(!t) {
        if(cJSON_IsString(n)) t = "string";
        else if(cJSON_IsBool(n)) t = "boolean";
        else if(cJSON_IsNumber(n))
            t = n->valuedouble == floor(n->valuedouble) ? "integer" : "decimal";
        else
            return NULL;
    }
    return asprintf(&r, "FHIR.%s", t) < 0 ? NULL : r;
}

/* "4 'mg'", "4 days", "4": value and unit (owned by the caller; NULL for
 * the default unit '1'). */
static int parse_quantity(const char *s, double *d, char **unit)
{
    char *end;
    *unit = NULL;
    if(!*s || isspace((unsigned char)*s))
        return -1;
    size_t len = num_len(s);
    if(!len)
        return -1;
    *d = strtod(s, NULL);
    end = (char *)s + len;
    if(!*end)
        return 0;
    if(*end != ' ')
        return -1;
    end++;
    size_t n = strlen(end);
    if(n >= 2 && end[0] == '\'' && end[n - 1] == '\'') {
        *unit = strndup(end + 1, n - 2);
        return *unit ? 0 : -1;
    }
    if(!fp_calendar_word(end))
        return -1; /* a bare word must be a calendar word, not a UCUM code */
    *unit = strdup(end);
    return *unit ? 0 : -1;
}


static int is_string_fn(const char *f)
{
    static const char *const fns[] = {
        "startsWith", "endsWith", "contains", "indexOf", "lastIndexOf", "matches",
        "matchesFull", "replace", "replaceMatches", "substring", "upper", "lower", "toChars",
        "trim", "split", "encode", "decode", "escape", "unescape",
    };
    for(size_t i = 0; i < sizeof(fns) / sizeof(*fns); i++)
        if(!strcmp(f, fns[i]))
            return 1;
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char c, int url)
{
    if(c == (url ? '-' : '+'))
        return 62;
    if(c == (url ? '_' : '/'))
        return 63;
    const char *p = c ? strchr(b64, c) : NULL;
    return p && p - b64 < 62 ? (int)(p - b64) : -1;
}

/* encode/decode (base64, urlbase64, hex) and escape/unescape (html, json).
 * Returns an owned string, or NULL when the input or the scheme is invalid. */
static char *transcode(const char *f, const char *how, const char *s)
{
    size_t n = strlen(s);
    if(n > 1024 * 1024)
        return NULL;
    char *r = malloc(n * 6 + 8), *o = r;
    if(!r)
        return NULL;
    int url = !strcmp(how, "urlbase64");
    if(!strcmp(f, "encode") && (url || !strcmp(how, "base64"))) {
        const unsigned char *u = (const unsigned char *)s;
        for(size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 : 0) |
                         (i + 2 < n ? u[i + 2] : 0);
            for(int k = 0; k < 4; k++) {
                char c = b64[(v >> (18 - 6 * k)) & 63];
                if(url && c == '+') c = '-';
                if(url && c == '/') c = '_';
                *o++ = (size_t)k <= n - i ? c : '=';
            }
        }
    } else if(!strcmp(f, "decode") && (url || !strcmp(how, "base64"))) {
        unsigned acc = 0;
        int bits = 0;
        for(size_t i = 0; i < n && s[i] != '='; i++) {
            int v = b64_val(s[i], url);
            if(v < 0)
                goto bad;
            acc = (acc << 6 | (unsigned)v) & 0xFFFFFF;
            bits += 6;
            if(bits >= 8) {
                bits -= 8;
                *o++ = (char)((acc >> bits) & 0xFF);
            }
        }
    } else if(!strcmp(f, "encode") && !strcmp(how, "hex")) {
        for(size_t i = 0; i < n; i++)
            o += snprintf(o, 3, "%02x", (unsigned char)s[i]);
    } else if(!strcmp(f, "decode") && !strcmp(how, "hex")) {
        if(n % 2)
            goto bad;
        for(size_t i = 0; i < n; i += 2) {
            if(!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]))
                goto bad;
            char h[3] = {s[i], s[i + 1], 0};
            *o++ = (char)strtol(h, NULL, 16);
        }
    } else if(!strcmp(f, "escape") && (!strcmp(how, "html") || !strcmp(how, "json"))) {
        int html = how[0] == 'h';
        for(size_t i = 0; i < n; i++) {
            const char *rep = NULL;
            if(html)
                rep = s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" : s[i] == '&' ? "&amp;"
                    : s[i] == '"' ? "&quot;" : s[i] == '\'' ? "&#39;" : NULL;
            else
                rep = s[i] == '"' ? "\\\"" : s[i] == '\\' ? "\\\\" : s[i] == '\n' ? "\\n"
                    : s[i] == '\r' ? "\\r" : s[i] == '\t' ? "\\t" : NULL;
            if(rep) {
                memcpy(o, rep, strlen(rep));
                o += strlen(rep);
            } else {
                *o++ = s[i];
            }
        }
    } else if(!strcmp(f, "unescape") && !strcmp(how, "html")) {
        static const char *const ents[][2] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"},
                                              {"&quot;", "\""}, {"&#39;", "'"}, {"&apos;", "'"}};
        for(size_t i = 0; i < n;) {
            size_t k = 0;
            for(; k < sizeof(ents) / sizeof(*ents); k++)
                if(!strncmp(s + i, ents[k][0], strlen(ents[k][0])))
                    break;
            if(k < sizeof(ents) / sizeof(*ents)) {
                *o++ = ents[k][1][0];
                i += strlen(ents[k][0]);
            } else {
                *o++ = s[i++];
            }
        }
    } else if(!strcmp(f, "unescape") && !strcmp(how, "json")) {
        for(size_t i = 0; i < n; i++) {
            if(s[i] != '\\' || i + 1 == n) {
                *o++ = s[i];
                continue;
            }
            char c = s[++i];
            *o++ = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        }
    } else {
        goto bad;
    }
    *o = '\0';
    return r;
bad:
    free(r);
    return NULL;
}

static char *num_to_string(double d, int is_int)
{
    char *s = NULL;
    /* An integer literal too large for long long (the parser keeps it as a
     * double) is written without the cast, which would be undefined. */
    if(is_int && d > -9.2e18 && d < 9.2e18)
        return asprintf(&s, "%lld", (long long)d) < 0 ? NULL : s;
    if(is_int)
        return asprintf(&s, "%.0f", d) < 0 ? NULL : s;
    return asprintf(&s, "%.15g", d) < 0 ? NULL : s;
}

/* FHIRPath regexes are PCRE-flavoured; POSIX ERE lacks the common class
 * escapes, so \d \w \s (and negations) are rewritten to bracket classes. */
static char *to_posix(const char *pat, int whole)
{
    size_t n = strlen(pat);
    char *r = malloc(n * 16 + 8), *o = r;
    if(!r)
        return NULL;
    if(whole) {
        memcpy(o, "^(", 2);
        o += 2;
    }
    for(size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        if(pat[i] == '\\' && i + 1 < n) {
            switch(pat[i + 1]) {
            case 'd': rep = "[0-9]"; break;
            case 'D': rep = "[^0-9]"; break;
            case 'w': rep = "[A-Za-z0-9_]"; break;
            case 'W': rep = "[^A-Za-z0-9_]"; break;
            case 's': rep = "[[:space:]]"; break;
            case 'S': rep = "[^[:space:]]"; break;
            default: break;
            }
            if(rep) {
                memcpy(o, rep, strlen(rep));
                o += strlen(rep);
                i++;
                continue;
            }
            *o++ = pat[i++];
        }
        *o++ = pat[i];
    }
    if(whole) {
        memcpy(o, ")$", 2);
        o += 2;
    }
    *o = '\0';
    return r;
}

/* glibc's regcomp copies a subexpression for each repetition it needs
 * (x{m,n}: n copies, nested, costing about (n-m)^2 words; x+: two copies),
 * so nested or stacked repetitions grow the compiled form exponentially:
 * "a{1,10000}" takes 800 MB and "x+++...+" or "a+?+?+?..." gigabytes or
 * minutes (fuzz finding). regex_cost estimates the compiled size of an ERE
 * in units of about 1 KB; patterns over REGEX_MAX_COST are refused, and so
 * is a quantifier after a quantifier and its one lazy/possessive modifier
 * (PCRE refuses those too). Returns the cost, REGEX_MAX_COST + 1 when too
 * costly, or SIZE_MAX for such a stacked quantifier. */
#define REGEX_MAX_COST 20000u

static size_t cost_cap(unsigned long long v)
{
    return v > REGEX_MAX_COST ? REGEX_MAX_COST + 1 : (size_t)v;
}

/* An ERE interval at p ("{m}", "{m,}", "{m,n}", "{,n}" as glibc reads it):
 * the text after it, or NULL when p is a literal brace. Bounds saturate. */
static const char *regex_interval(const char *p, unsigned long long *m, unsigned long long *n)
{
    const char *q = p + 1;
    *m = *n = 0;
    for(; *q >= '0' && *q <= '9'; q++)
        if(*m < 100000)
            *m = *m * 10 + (unsigned)(*q - '0');
    if(q == p + 1 && *q != ',')
        return NULL;
    *n = *m;
    if(*q == ',') {
        const char *d = ++q;
        for(*n = 0; *q >= '0' && *q <= '9'; q++)
            if(*n < 100000)
                *n = *n * 10 + (unsigned)(*q - '0');
        if(q == d)
            *n = *m + 1; /* {m,}: m copies and a star */
    }
    return *q == '}' && *n >= *m ? q + 1 : NULL;
}

static size_t regex_cost(const char **pp, int depth)
{
    const char *p = *pp;
    size_t total = 0, last = 0;
    int quant = 0; /* 0 after an atom, 1 after a quantifier, 2 after its modifier */
    while(*p && *p != ')') {
        size_t atom = 1;
        unsigned long long m, n, times = 1;
        const char *after = *p == '{' ? regex_interval(p, &m, &n) : p + 1;
        if(after && (*p == '*' || *p == '+' || *p == '?' || *p == '{')) {
            if(quant == 2 || (quant == 1 && *p != '?' && *p != '+')) {
                *pp = p;
                return SIZE_MAX;
            }
            if(*p == '{')
                times = n + (n - m) * (n - m) / 128;
            else if(*p == '+')
                times = 2;
            quant++;
            size_t grown = cost_cap((unsigned long long)last * (times ? times : 1));
            total = cost_cap((unsigned long long)total - last + grown);
            last = grown;
            p = after;
            continue;
        }
        if(*p == '|') {
            p++;
            quant = 0;
            last = 0;
            continue;
        }
        if(*p == '(') {
            p++;
            if(depth >= 100) {
                *pp = p;
                return REGEX_MAX_COST + 1;
            }
            atom = regex_cost(&p, depth + 1);
            if(atom == SIZE_MAX) {
                *pp = p;
                return SIZE_MAX;
            }
            atom = cost_cap((unsigned long long)atom + 1);
            if(*p == ')')
                p++;
        } else if(*p == '[') {
            /* a bracket expression is one atom: "[]x]", "[^]x]", "[[:alpha:]]" */
            p++;
            if(*p == '^')
                p++;
            if(*p == ']')
                p++;
            while(*p && *p != ']') {
                if(*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                    const char *end = strchr(p + 2, p[1]);
                    while(end && end[1] != ']')
                        end = strchr(end + 1, p[1]);
                    p = end ? end + 2 : p + strlen(p);
                } else {
                    p++;
                }
            }
            if(*p)
                p++;
        } else if(*p == '\\' && p[1]) {
            p += 2;
        } else {
            p++;
        }
        quant = 0;
        last = atom;
        total = cost_cap((unsigned long long)total + atom);
    }
    *pp = p;
    return total;
}

static int regex_compile(ev *e, const char *pat, int whole, int flags, regex_t *re)
{
    if(strlen(pat) > 4096) {
        ev_error(e, "regular expression too long%s", NULL);
        return -1;
    }
    char *p = to_posix(pat, whole);
    if(!p) {
        ev_error(e, "out of memory%s", NULL);
        return -1;
    }
    const char *scan = p;
    size_t cost = 0;
    while(*scan && cost <= REGEX_MAX_COST) {
        /* an unbalanced ')' ends a level: go on past it (regcomp rejects it) */
        size_t part = regex_cost(&scan, 0);
        cost = part == SIZE_MAX ? part : cost_cap((unsigned long long)cost + part);
        if(*scan == ')')
            scan++;
    }
    if(cost > REGEX_MAX_COST) {
        free(p);
        ev_error(e, cost == SIZE_MAX ? "invalid regular expression '%s' (a quantifier "
                                       "cannot follow a quantifier)"
                                     : "regular expression '%s' is too costly to compile",
                 pat);
        return -1;
    }
    int rc = regcomp(re, p, REG_EXTENDED | flags);
    free(p);
    if(rc) {
        ev_error(e, "invalid regular expression '%s'", pat);
        return -1;
    }
    return 0;
}

/* matches() runs for every value an invariant looks at (the R4 invariants
 * test identifiers, codes and urls with it), and compiling a POSIX regex
 * costs far more than running it. Each thread keeps its last few compiled
 * patterns; a pthread key frees them when the thread ends. */
#define RX_CACHE 16

typedef struct rx_entry {
    char *pat;     /* NULL: empty slot */
    int whole;
    regex_t re;
    unsigned long used;
} rx_entry;

typedef struct rx_cache {
    rx_entry e[RX_CACHE];
    unsigned long tick;
} rx_cache;

static pthread_key_t rx_key;
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;

static void rx_cache_free(void *p)
{
    rx_cache *c = p;
    for(int i = 0; c && i < RX_CACHE; i++)
        if(c->e[i].pat) {
            regfree(&c->e[i].re);
            free(c->e[i].pat);
        }
    free(c);
}

static void rx_key_make(void)
{
    if(pthread_key_create(&rx_key, rx_cache_free) != 0)
        rx_key = (pthread_key_t)-1;
}

/* The compiled form of pat (REG_NOSUB) from this thread's cache, or NULL
 * when the cache is unavailable (the caller compiles its own). */
static const regex_t *rx_cached(ev *e, const char *pat, int whole, int *failed)
{
    *failed = 0;
    pthread_once(&rx_once, rx_key_make);
    if(rx_key == (pthread_key_t)-1)
        return NULL;
    rx_cache *c = pthread_getspecific(rx_key);
    if(!c) {
        if(!(c = calloc(1, sizeof(*c))) || pthread_setspecific(rx_key, c) != 0) {
            free(c);
            return NULL;
        }
    }
    rx_entry *slot = &c->e[0];
    for(int i = 0; i < RX_CACHE; i++) {
        rx_entry *x = &c->e[i];
        if(x->pat && x->whole == whole && strcmp(x->pat, pat) == 0) {
            x->used = ++c->tick;
            return &x->re;
        }
        if(!x->pat || (slot->pat && x->used < slot->used))
            slot = x;
    }
    char *copy = strdup(pat);
    if(!copy)
        return NULL;
    regex_t re;
    if(regex_compile(e, pat, whole, REG_NOSUB, &re)) {
        free(copy);
        *failed = 1;
        return NULL;
    }
    if(slot->pat) {
        regfree(&slot->re);
        free(slot->pat);
    }
    slot->pat = copy;
    slot->whole = whole;
    slot->re = re;
    slot->used = ++c->tick;
    return &slot->re;
}

static int regex_match(ev *e, const char *s, const char *pat, int whole)
{
    int failed;
    const regex_t *cached = rx_cached(e, pat, whole, &failed);
    if(failed)
        return -1;
    if(cached)
        return regexec(cached, s, 0, NULL, 0) == 0;
    regex_t re;
    if(regex_compile(e, pat, whole, REG_NOSUB, &re))
        return -1;
    int rc = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return rc;
}

/* Grow-as-you-go output for replace()/replaceMatches(), bounded. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int bad;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if(b->bad)
        return;
    if(b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = cap <= FP_MAX_STRING ? realloc(b->p, cap) : NULL;
        if(!p) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* replaceMatches: every match of pat replaced by sub, where $1..$9 name
 * groups. Returns an owned string or NULL (error already reported). */
static char *regex_replace(ev *e, const char *s, const char *pat, const char *sub)
{
    regex_t re;
    if(!*pat)
        return strdup(s); /* an empty pattern replaces nothing (R4 suite) */
    if(regex_compile(e, pat, 0, 0, &re))
        return NULL;
    sbuf b = {0};
    sb_add(&b, "", 0);
    const char *p = s;
    regmatch_t m[10];
    int eflags = 0;
    while(!b.bad && *p && regexec(&re, p, 10, m, eflags) == 0) {
        sb_add(&b, p, (size_t)m[0].rm_so);
        for(const char *q = sub; *q; q++) {
            if(*q == '$' && isdigit((unsigned char)q[1])) {
                int g = q[1] - '0';
                if(m[g].rm_so >= 0)
                    sb_add(&b, p + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
                q++;
            } else {
                sb_add(&b, q, 1);
            }
        }
        if(m[0].rm_eo == m[0].rm_so) {
            /* an empty match: copy one char so the scan moves on */
            if(!p[m[0].rm_eo]) {
                p += m[0].rm_eo;
                break;
            }
            sb_add(&b, p + m[0].rm_eo, 1);
            p += m[0].rm_eo + 1;
        } else {
            p += m[0].rm_eo;
        }
        eflags = REG_NOTBOL;
    }
    sb_add(&b, p, strlen(p));
    regfree(&re);
    if(b.bad) {
        free(b.p);
        ev_error(e, "replaceMatches() result too large%s", NULL);
        return NULL;
    }
    return b.p;
}

static char *str_replace(ev *e, const char *s, const char *x, const char *y)
{
    sbuf b = {0};
    sb_add(&b, "", 0);
    size_t xl = strlen(x);
    if(!xl) {
        /* an empty pattern matches between every character */
        sb_add(&b, y, strlen(y));
        for(const char *p = s; *p; p++) {
            sb_add(&b, p, 1);
            sb_add(&b, y, strlen(y));
        }
    } else {
        for(const char *p = s; *p;) {
            if(!strncmp(p, x, xl)) {
                sb_add(&b, y, strlen(y));
                p += xl;
            } else {
                sb_add(&b, p++, 1);
            }
        }
    }
    if(b.bad) {
        free(b.p);
        ev_error(e, "replace() result too large%s", NULL);
        return NULL;
    }
    return b.p;
}

/* Digits after the point of a decimal: the literal's, else the shortest
 * form of the double's. */
static int dec_scale(const val *v)
{
    if(v->scale >= 0)
        return v->scale;
    char buf[64];
    snprintf(buf, sizeof(buf), "%.15g", v->d);
    const char *dot = strchr(buf, '.');
    return dot && !strchr(buf, 'e') ? (int)strlen(dot + 1) : 0;
}

static double floor_p(double y, int p)
{
    double m = pow(10, p);
    return floor(y * m + 1e-7) / m; /* 12.4995 * 1e4 is 124994.99999... */
}

/* low/highBoundary of x given to scale digits, at precision p: the value
 * stands for [x - 0.5e-scale, x + 0.5e-scale]. A negative value's low
 * boundary is the negated high boundary of its magnitude (as the R4 suite
 * and the Java reference compute it). */
static double dec_boundary(double x, int scale, int high, int p)
{
    double a = fabs(x), half = 0.5 * pow(10, -scale);
    int up = x < 0 ? !high : high;
    double r = up ? floor_p(a + half + 0.5 * pow(10, -p), p) : floor_p(a - half, p);
    return x < 0 ? -r : r;
}

static int cmp_vals(const item *a, const item *b, int *res);
static void sort_items(ev *e, const fp_node *n, const coll *in, coll *out);

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* isDistinct() on strings only (bdl-7 over every Bundle's fullUrls, que-2
 * over every linkId): sorted, in O(n log n) rather than comparing each item
 * with all before it. 1 when every item is a plain string and no two are
 * equal, charging the work the pairwise way would have; 0 when the
 * pairwise way must decide (a duplicate, another kind, no memory). */
static int strings_distinct(ev *e, const coll *in)
{
    const char **v = malloc(in->count * sizeof(*v));
    int ok = v != NULL;
    for(size_t i = 0; ok && i < in->count; i++) {
        val x = value_of(&in->items[i]);
        ok = x.k == V_STR;
        v[i] = x.s;
    }
    if(ok) {
        qsort(v, in->count, sizeof(*v), cmp_str_ptr);
        for(size_t i = 1; ok && i < in->count; i++)
            ok = strcmp(v[i - 1], v[i]) != 0;
    }
    free(v);
    /* the pairwise way compares item i with the i distinct ones before it */
    if(ok)
        spend(e, in->count * (in->count + 1) / 2);
    return ok;
}

static void call(ev *e, const fp_node *n, const coll *in, coll *out)
{
    const char *f = n->str;
    int na = n->nargs;
    const fp_node *a0 = na > 0 ? n->args[0] : NULL, *a1 = na > 1 ? n->args[1] : NULL;
    const int fn = n->id;
#define IS(name) (fn == FN_##name)
    /* --- existence and filtering --- */
    if(IS(empty)) { add_bool(e, out, in->count == 0); return; }
    if(IS(exists)) {
        if(!a0) { add_bool(e, out, in->count > 0); return; }
        for(size_t i = 0; i < in->count && !e->err; i++) {
            coll r = {0};
            eval_with_this(e, a0, &in->items[i], (int64_t)i, &r);
            int t = truth(e, &r);
            lg_fp_collection_free(&r);
            if(t == 1) { add_bool(e, out, 1); return; }
        }
        add_bool(e, out, 0);
        return;
    }
    if(IS(where) || IS(select) || IS(all) || IS(repeat)) {
        if(!a0) { ev_error(e, "%s() needs an argument", f); return; }
        if(IS(repeat)) {
            coll work = {0};
            for(size_t i = 0; i < in->count; i++)
                add_copy(e, &work, &in->items[i]);
            for(size_t i = 0; i < work.count && !e->err; i++) {
                coll r = {0};
                item cur = work.items[i];
                cur.own = cur.own ? strdup(cur.own) : NULL;
                if(cur.own) { cur.s = cur.own; }
                eval_with_this(e, a0, &cur, (int64_t)i, &r);
                free(cur.own);
                for(size_t k = 0; k < r.count; k++)
                    if(!contains_item(e, out, &r.items[k])) {
                        add_copy(e, out, &r.items[k]);
                        add_copy(e, &work, &r.items[k]);
                    }
                lg_fp_collection_free(&r);
            }
            lg_fp_collection_free(&work);
            return;
        }
        int all = 1;
        for(size_t i = 0; i < in->count && !e->err; i++) {
            coll r = {0};
            eval_with_this(e, a0, &in->items[i], (int64_t)i, &r);
            if(IS(select)) {
                for(size_t k = 0; k < r.count; k++)
                    add_copy(e, out, &r.items[k]);
            } else {
                int t = truth(e, &r);
                if(IS(where) && t == 1)
                    add_copy(e, out, &in->items[i]);
                if(t != 1)
                    all = 0;
            }
            lg_fp_collection_free(&r);
        }
        if(IS(all))
            add_bool(e, out, all);
        return;
    }
    if(IS(allTrue) || IS(anyTrue) || IS(allFalse) || IS(anyFalse)) {
        int want = strstr(f, "True") != NULL, any = f[1] == 'n';
        int res = any ? 0 : 1;
        for(size_t i = 0; i < in->count; i++) {
            val v = value_of(&in->items[i]);
            if(v.k != V_BOOL) { ev_error(e, "%s() on a non-boolean", f); return; }
            int hit = v.b == want;
            if(any && hit) res = 1;
            if(!any && !hit) res = 0;
        }
        add_bool(e, out, res);
        return;
    }
    if(IS(count)) { add_int(e, out, (int64_t)in->count); return; }
    if(IS(isDistinct) && in->count > 2 && strings_distinct(e, in)) {
        add_bool(e, out, 1);
        return;
    }
    if(IS(distinct) || IS(isDistinct)) {
        coll d = {0};
        for(size_t i = 0; i < in->count; i++)
            if(!contains_item(e, &d, &in->items[i]))
                add_copy(e, &d, &in->items[i]);
        if(IS(isDistinct)) {
            add_bool(e, out, d.count == in->count);
        } else {
            for(size_t i = 0; i < d.count; i++)
                add_copy(e, out, &d.items[i]);
        }
        lg_fp_collection_free(&d);
        return;
    }
    if(IS(subsetOf) || IS(supersetOf) || IS(intersect) || IS(exclude) || IS(union) ||
       IS(combine)) {
        coll other = {0};
        if(!a0) { ev_error(e, "%s() needs an argument", f); return; }
        eval(e, a0, e->this_, &other);
        if(IS(subsetOf) || IS(supersetOf)) {
            const coll *sub = IS(subsetOf) ? in : &other, *sup = IS(subsetOf) ? &other : in;
            int ok = 1;
            for(size_t i = 0; i < sub->count && ok; i++)
                ok = contains_item(e, sup, &sub->items[i]);
            add_bool(e, out, ok);
        } else if(IS(intersect)) {
            for(size_t i = 0; i < in->count; i++)
                if(contains_item(e, &other, &in->items[i]) && !contains_item(e, out, &in->items[i]))
                    add_copy(e, out, &in->items[i]);
        } else if(IS(exclude)) {
            for(size_t i = 0; i < in->count; i++)
                if(!contains_item(e, &other, &in->items[i]))
                    add_copy(e, out, &in->items[i]);
        } else {
            int dedup = IS(union);
            for(size_t i = 0; i < in->count; i++)
                if(!dedup || !contains_item(e, out, &in->items[i]))
                    add_copy(e, out, &in->items[i]);
            for(size_t i = 0; i < other.count; i++)
                if(!dedup || !contains_item(e, out, &other.items[i]))
                    add_copy(e, out, &other.items[i]);
        }
        lg_fp_collection_free(&other);
        return;
    }
    /* --- subsetting --- */
    if(IS(first)) { if(in->count) add_copy(e, out, &in->items[0]); return; }
    if(IS(last)) { if(in->count) add_copy(e, out, &in->items[in->count - 1]); return; }
    if(IS(single)) {
        if(in->count > 1) { ev_error(e, "single() on a collection of several items%s", NULL); return; }
        if(in->count) add_copy(e, out, &in->items[0]);
        return;
    }
    if(IS(tail)) { for(size_t i = 1; i < in->count; i++) add_copy(e, out, &in->items[i]); return; }
    if(IS(skip) || IS(take)) {
        int64_t k;
        if(!a0 || arg_int(e, a0, &k)) { ev_error(e, "%s() needs an integer", f); return; }
        for(size_t i = 0; i < in->count; i++)
            if(IS(skip) ? (int64_t)i >= k : (int64_t)i < k)
                add_copy(e, out, &in->items[i]);
        return;
    }
    if(IS(ofType) || IS(as) || IS(is)) {
        char tbuf[256];
        const char *t = a0 ? type_arg(a0, tbuf, sizeof(tbuf)) : NULL;
        if(t == tbuf)
            e->tcache_name = NULL; /* a stack name: not a key for the cache */
        if(!t) { ev_error(e, "%s() needs a type", f); return; }
        if(IS(is)) {
            if(in->count == 1) add_bool(e, out, type_is(e, &in->items[0], t, 1));
            return;
        }
        if(IS(as) && e->strict && in->count > 1) {
            ev_error(e, "as() on a collection of several items%s", NULL);
            return;
        }
        for(size_t i = 0; i < in->count; i++)
            if(type_is(e, &in->items[i], t, 0))
                add_copy(e, out, &in->items[i]);
        return;
    }
    if(IS(iif)) {
        if(na < 2) { ev_error(e, "iif() needs two or three arguments%s", NULL); return; }
        if(in->count > 1) { ev_error(e, "iif() on a collection of several items%s", NULL); return; }
        /* $this in the criterion is the input item, when there is one */
        const coll *saved = e->this_;
        if(n->a && in->count == 1)
            e->this_ = in;
        coll c = {0};
        eval(e, a0, in, &c);
        if(c.count == 1 && value_of(&c.items[0]).k != V_BOOL)
            ev_error(e, "iif() criterion is not a boolean%s", NULL);
        int t = truth(e, &c);
        lg_fp_collection_free(&c);
        if(t == 1) eval(e, a1, in, out);
        else if(na > 2) eval(e, n->args[2], in, out);
        e->this_ = saved;
        return;
    }
    if(IS(aggregate)) {
        if(!a0) { ev_error(e, "aggregate() needs an aggregator%s", NULL); return; }
        coll total = {0};
        if(a1)
            eval(e, a1, e->this_, &total);
        const coll *saved = e->total;
        for(size_t i = 0; i < in->count && !e->err; i++) {
            coll next_total = {0};
            e->total = &total;
            eval_with_this(e, a0, &in->items[i], (int64_t)i, &next_total);
            lg_fp_collection_free(&total);
            total = next_total;
        }
        e->total = saved;
        for(size_t i = 0; i < total.count; i++)
            add_copy(e, out, &total.items[i]);
        lg_fp_collection_free(&total);
        return;
    }
    if(IS(sort)) {
        sort_items(e, n, in, out);
        return;
    }
    if(IS(join)) {
        if(!in->count)
            return;
        char *sep = a0 ? arg_str(e, a0) : strdup("");
        size_t len = 0, cap = 64;
        char *r = sep ? malloc(cap) : NULL;
        for(size_t i = 0; r && i < in->count; i++) {
            const char *x = str_of(&in->items[i]);
            if(!x) { ev_error(e, "join() on a non-string%s", NULL); break; }
            size_t need = len + strlen(x) + strlen(sep) + 1;
            if(need > cap) {
                cap = need * 2;
                char *nr = realloc(r, cap);
                if(!nr) { free(r); r = NULL; break; }
                r = nr;
            }
            len += (size_t)snprintf(r + len, cap - len, "%s%s", i ? sep : "", x);
        }
        if(r) r[len] = '\0';
        if(r && !e->err) add_str_own(e, out, r);
        else free(r);
        free(sep);
        return;
    }
    if(IS(not)) {
        int t = truth(e, in);
        if(t >= 0) add_bool(e, out, !t);
        return;
    }
    if(IS(hasValue)) {
        add_bool(e, out, in->count == 1 && value_of(&in->items[0]).k != V_OBJ &&
                             value_of(&in->items[0]).k != V_NONE);
        return;
    }
    if(IS(children) || IS(descendants)) {
        size_t start = out->count;
        for(size_t i = 0; i < in->count; i++)
            children_of(e, &in->items[i], out);
        /* descendants: breadth first, the collection itself the queue
         * (children_of copies its item before pushing) */
        if(IS(descendants))
            for(size_t i = start; i < out->count && !e->err; i++)
                children_of(e, &out->items[i], out);
        return;
    }
    if(IS(extension)) {
        char *url = a0 ? arg_str(e, a0) : NULL;
        if(!url) { ev_error(e, "extension() needs a url%s", NULL); return; }
        for(size_t i = 0; i < in->count; i++) {
            const item *it = &in->items[i];
            const cJSON *holder = it->kind != LG_FP_NODE ? NULL
                                  : cJSON_IsObject(it->node) ? it->node : it->ext;
            if(!cJSON_IsObject(holder))
                continue;
            const cJSON *ext = cJSON_GetObjectItemCaseSensitive(holder, "extension");
            for(const cJSON *x = ext ? ext->child : NULL; x; x = x->next) {
                const cJSON *u = cJSON_GetObjectItemCaseSensitive(x, "url");
                if(cJSON_IsString(u) && !strcmp(u->valuestring, url))
                    add_node(e, out, x, "Extension");
            }
        }
        free(url);
        return;
    }
    if(IS(resolve)) {
        for(size_t i = 0; i < in->count; i++)
            resolve_item(e, &in->items[i], out);
        return;
    }
    if(IS(trace)) { for(size_t i = 0; i < in->count; i++) add_copy(e, out, &in->items[i]); return; }
    if(IS(memberOf)) {
        if(!in->count)
            return;
        char *vs = a0 ? arg_str(e, a0) : NULL;
        if(!vs) {
            if(!e->err) ev_error(e, "memberOf() needs a value set url%s", NULL);
            return;
        }
        /* The spec defines it on one element; profiles write
         * coding.memberOf(vs) over several codings and mean "any": true when
         * one is in, false when all are known not to be, else unknown. */
        int r = 0;
        for(size_t i = 0; i < in->count && r != 1; i++) {
            int one = e->env->member_of ? e->env->member_of(e->env->ud, &in->items[i], vs) : -1;
            if(one == 1 || one < 0)
                r = one;
        }
        if(r >= 0)
            add_bool(e, out, r);
        else if(e->issues) /* unknown, and say so */
            lg_issues_add(e->issues, LG_SEV_WARNING, "not-supported", NULL,
                          "memberOf('%s') could not be decided; treated as empty", vs);
        free(vs);
        return;
    }
    if(IS(conformsTo)) {
        char *url = a0 ? arg_str(e, a0) : NULL;
        static const char base[] = "http://hl7.org/fhir/StructureDefinition/";
        if(!url || !strstr(url, "/StructureDefinition/")) {
            ev_error(e, "conformsTo() needs a StructureDefinition url%s", NULL);
        } else if(!strncmp(url, base, sizeof(base) - 1)) {
            /* a base definition: conformance is being of that type */
            for(size_t i = 0; i < in->count; i++)
                add_bool(e, out, type_is(e, &in->items[i], url + sizeof(base) - 1, 1));
        } else {
            for(size_t i = 0; i < in->count && !e->err; i++) {
                int r = e->env->conforms_to ? e->env->conforms_to(e->env->ud, &in->items[i], url) : -1;
                if(r >= 0)
                    add_bool(e, out, r);
                else if(e->issues)
                    lg_issues_add(e->issues, LG_SEV_WARNING, "not-supported", NULL,
                                  "conformsTo('%s') could not be decided; treated as empty", url);
            }
        }
        free(url);
        return;
    }
    if(IS(htmlChecks)) { add_bool(e, out, 1); return; }
    if(IS(today) || IS(now) || IS(timeOfDay)) {
        char buf[LG_TIME_BUFSZ];
        fp_time t;
        lg_time_format(lg_time_now_ms(), buf, sizeof(buf));
        if(IS(today))
            buf[10] = '\0';
        if(IS(timeOfDay))
            buf[23] = '\0'; /* drop the zone: a Time has none */
        if(fp_time_parse(IS(timeOfDay) ? buf + 11 : buf, -1, &t) == 0)
            add_time(e, out, &t);
        return;
    }
    /* --- functions of one singleton --- */
    if(in->count == 0)
        return;
    if(in->count > 1) {
        ev_error(e, "%s() expects a single item", f);
        return;
    }
    const item *it = &in->items[0];
    val v = value_of(it);
    const char *s = v.k == V_STR ? v.s : NULL;
    if(IS(type)) {
        char *t = type_name(it);
        if(t) {
            item *r = push(e, out);
            if(!r) { free(t); return; }
            r->kind = LG_FP_TYPED;
            r->own = t;
            r->type = t;
        }
        return;
    }
    if(IS(lowBoundary) || IS(highBoundary) || IS(precision)) {
        if(IS(precision)) {
            if(v.k == V_TIME) add_int(e, out, fp_time_precision(&v.t));
            else if(v.k == V_NUM) add_int(e, out, v.is_int ? 0 : dec_scale(&v));
            return;
        }
        int high = f[0] == 'h';
        int64_t p = -1;
        if(a0 && arg_int(e, a0, &p)) return;
        if(v.k == V_TIME) {
            fp_time t = v.t;
            /* a FHIR dateTime given to the day is still a DateTime */
            if(t.kind == FP_T_DATE && it->kind == LG_FP_NODE && it->type &&
               (!strcmp(it->type, "dateTime") || !strcmp(it->type, "instant")))
                t.kind = FP_T_DATETIME;
            int digits = a0 ? (int)p : t.kind == FP_T_DATE ? 8 : t.kind == FP_T_TIME ? 9 : 17;
            if(a0 && (p < 0 || p > 17)) return;
            if(fp_time_boundary(&t, high, digits) == 0) add_time(e, out, &t);
            return;
        }
        if(v.k == V_NUM || v.k == V_QTY) {
            if(a0 && (p < 0 || p > 31)) return; /* beyond what a decimal holds */
            int prec = a0 ? (int)p : 8;
            double r = dec_boundary(v.d, v.is_int ? 0 : dec_scale(&v), high, prec);
            if(v.k == V_QTY) add_qty(e, out, r, v.s);
            else add_dec(e, out, r);
            if(!e->err) out->items[out->count - 1].i = 1 + prec;
        }
        return;
    }
    if(IS(comparable)) {
        coll c = {0};
        if(!a0) { ev_error(e, "comparable() needs a quantity%s", NULL); return; }
        eval(e, a0, e->this_, &c);
        if(c.count == 1 && v.k == V_QTY) {
            val w = value_of(&c.items[0]);
            double fx, fy;
            const char *dx = unit_base(v.s, &fx), *dy = w.k == V_QTY ? unit_base(w.s, &fy) : NULL;
            add_bool(e, out, dx && dy && !strcmp(dx, dy));
        }
        lg_fp_collection_free(&c);
        return;
    }
    if(IS(toDate) || IS(toDateTime) || IS(toTime) || IS(convertsToDate) ||
       IS(convertsToDateTime) || IS(convertsToTime)) {
        int want = strstr(f, "DateTime") ? FP_T_DATETIME : strstr(f, "Date") ? FP_T_DATE : FP_T_TIME;
        fp_time t;
        int ok = 0;
        if(v.k == V_STR)
            ok = fp_time_parse(v.s, want, &t) == 0;
        else if(v.k == V_TIME) {
            t = v.t;
            ok = (t.kind == FP_T_TIME) == (want == FP_T_TIME);
            if(ok && want == FP_T_DATE && t.prec > 3) {
                t.prec = 3;
                t.has_ms = t.has_tz = 0;
            }
            if(ok)
                t.kind = (fp_tkind)want;
        }
        if(f[0] == 'c') add_bool(e, out, ok);
        else if(ok) add_time(e, out, &t);
        return;
    }
    if(IS(toQuantity) || IS(convertsToQuantity)) {
        double d = 0;
        char *unit = NULL;
        int ok = 0;
        if(v.k == V_QTY) { ok = 1; d = v.d; unit = strdup(v.s); }
        else if(v.k == V_NUM) { ok = 1; d = v.d; }
        else if(v.k == V_BOOL) { ok = 1; d = v.b; }
        else if(s) ok = parse_quantity(s, &d, &unit) == 0;
        if(ok && a0 && f[0] == 't') {
            /* toQuantity(unit): only the identity conversion is known */
            char *want = arg_str(e, a0);
            ok = want && same_unit(unit ? unit : "1", want, 0);
            free(want);
        }
        if(f[0] == 'c') add_bool(e, out, ok);
        else if(ok) add_qty(e, out, d, unit);
        free(unit);
        return;
    }
    if(IS(toString) || IS(convertsToString)) {
        char *r = v.k == V_STR ? strdup(v.s) : v.k == V_NUM ? num_to_string(v.d, v.is_int)
                : v.k == V_BOOL ? strdup(v.b ? "true" : "false") : NULL;
        if(v.k == V_NUM && !v.is_int && v.scale > 0) {
            free(r);
            if(asprintf(&r, "%.*f", v.scale, v.d) < 0)
                r = NULL;
        } else if(v.k == V_TIME) {
            char buf[64];
            fp_time_format(&v.t, buf, sizeof(buf));
            r = strdup(buf);
        } else if(v.k == V_QTY) {
            char *num = num_to_string(v.d, 0);
            double uf;
            const char *dim = unit_base(v.s, &uf);
            /* calendar words print bare (1 week), UCUM codes quoted */
            int word = dim && fp_calendar_word(v.s);
            if(num && asprintf(&r, word ? "%s %s" : "%s '%s'", num, v.s) < 0)
                r = NULL;
            free(num);
        }
        if(IS(convertsToString)) { add_bool(e, out, r != NULL); free(r); }
        else if(r) add_str_own(e, out, r);
        return;
    }
    if(IS(toInteger) || IS(convertsToInteger) || IS(toDecimal) || IS(convertsToDecimal)) {
        int want_int = strstr(f, "Integer") != NULL, conv = f[0] == 'c';
        int ok = 0;
        double d = 0;
        if(v.k == V_NUM) { ok = !want_int || v.is_int; d = v.d; }
        else if(v.k == V_BOOL) { ok = 1; d = v.b; }
        else if(s) {
            size_t len = num_len(s);
            ok = len && !s[len] && (!want_int || !strchr(s, '.'));
            d = ok ? strtod(s, NULL) : 0;
        }
        if(conv) add_bool(e, out, ok);
        else if(ok && want_int) add_int_d(e, out, d);
        else if(ok) add_dec(e, out, d);
        return;
    }
    if(IS(toBoolean) || IS(convertsToBoolean)) {
        int b = -1;
        if(v.k == V_BOOL) b = v.b;
        else if(v.k == V_NUM && (v.d == 0 || v.d == 1)) b = v.d == 1;
        else if(s) {
            if(!strcasecmp(s, "true") || !strcasecmp(s, "t") || !strcasecmp(s, "yes") ||
               !strcasecmp(s, "y") || !strcmp(s, "1") || !strcmp(s, "1.0")) b = 1;
            else if(!strcasecmp(s, "false") || !strcasecmp(s, "f") || !strcasecmp(s, "no") ||
                    !strcasecmp(s, "n") || !strcmp(s, "0") || !strcmp(s, "0.0")) b = 0;
        }
        if(f[0] == 'c') add_bool(e, out, b >= 0);
        else if(b >= 0) add_bool(e, out, b);
        return;
    }
    if(v.k == V_QTY && IS(abs)) { add_qty(e, out, fabs(v.d), v.s); return; }
    if(v.k == V_NUM && (IS(abs) || IS(ceiling) || IS(floor) || IS(round) ||
                        IS(truncate) || IS(sqrt) || IS(ln) || IS(exp) || IS(power) ||
                        IS(log))) {
        double r;
        if(IS(abs)) { if(v.is_int) add_int_d(e, out, fabs(v.d)); else add_dec(e, out, fabs(v.d)); return; }
        if(IS(ceiling)) { add_int_d(e, out, ceil(v.d)); return; }
        if(IS(floor)) { add_int_d(e, out, floor(v.d)); return; }
        if(IS(truncate)) { add_int_d(e, out, trunc(v.d)); return; }
        if(IS(round)) {
            int64_t p = 0;
            if(a0 && arg_int(e, a0, &p)) return;
            double m = pow(10, (double)p);
            add_dec(e, out, round(v.d * m) / m);
            return;
        }
        if(IS(sqrt)) r = sqrt(v.d);
        else if(IS(ln)) r = log(v.d);
        else if(IS(exp)) r = exp(v.d);
        else {
            coll c = {0};
            if(!a0) return;
            eval(e, a0, e->this_, &c);
            if(c.count != 1 || value_of(&c.items[0]).k != V_NUM) { lg_fp_collection_free(&c); return; }
            double x = value_of(&c.items[0]).d;
            int xi = value_of(&c.items[0]).is_int;
            lg_fp_collection_free(&c);
            r = IS(power) ? pow(v.d, x) : log(v.d) / log(x);
            if(IS(power) && v.is_int && xi && !isnan(r)) { add_int_d(e, out, r); return; }
        }
        if(!isnan(r) && !isinf(r)) add_dec(e, out, r);
        return;
    }
    if(!s) {
        /* string functions on complex values are errors, not just empty */
        if(v.k == V_OBJ && is_string_fn(f))
            ev_error(e, "%s() needs a string", f);
        else if(is_string_fn(f) || !strcmp(f, "length"))
            return;
        else
            ev_error(e, "unknown FHIRPath function '%s'", f);
        return;
    }
    if(IS(length)) { add_int(e, out, (int64_t)strlen(s)); return; }
    if(IS(trim)) {
        const char *b = s, *t = s + strlen(s);
        while(isspace((unsigned char)*b)) b++;
        while(t > b && isspace((unsigned char)t[-1])) t--;
        add_str_own(e, out, strndup(b, (size_t)(t - b)));
        return;
    }
    if(IS(split)) {
        char *sep = a0 ? arg_str(e, a0) : NULL;
        if(!sep) return;
        const char *p = s;
        for(;;) {
            const char *q = *sep ? strstr(p, sep) : NULL;
            if(!q) { add_str(e, out, p); break; }
            add_str_own(e, out, strndup(p, (size_t)(q - p)));
            p = q + strlen(sep);
            if(e->err) break;
        }
        free(sep);
        return;
    }
    if(IS(encode) || IS(decode) || IS(escape) || IS(unescape)) {
        char *how = a0 ? arg_str(e, a0) : NULL;
        char *r = how ? transcode(f, how, s) : NULL;
        if(r) add_str_own(e, out, r);
        free(how);
        return;
    }
    if(IS(upper) || IS(lower)) {
        char *r = strdup(s);
        for(char *p = r; p && *p; p++)
            *p = (char)(IS(upper) ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
        add_str_own(e, out, r);
        return;
    }
    if(IS(toChars)) {
        for(const char *p = s; *p; p++) {
            char c2[2] = {*p, 0};
            add_str(e, out, c2);
        }
        return;
    }
    if(IS(startsWith) || IS(endsWith) || IS(contains) || IS(indexOf) || IS(lastIndexOf) || IS(matchesFull) ||
       IS(matches) || IS(replace) || IS(replaceMatches) || IS(substring)) {
        if(IS(substring)) {
            int64_t start, len = -1;
            if(!a0 || arg_int(e, a0, &start)) return;
            if(a1 && arg_int(e, a1, &len)) return;
            int64_t sl = (int64_t)strlen(s);
            if(start < 0 || start >= sl) return;
            if(len < 0 || start + len > sl) len = sl - start;
            add_str_own(e, out, strndup(s + start, (size_t)len));
            return;
        }
        char *x = a0 ? arg_str(e, a0) : NULL;
        if(!x) return;
        if(IS(startsWith)) add_bool(e, out, !strncmp(s, x, strlen(x)));
        else if(IS(endsWith)) add_bool(e, out, strlen(s) >= strlen(x) && !strcmp(s + strlen(s) - strlen(x), x));
        else if(IS(contains)) add_bool(e, out, strstr(s, x) != NULL);
        else if(IS(indexOf)) { const char *p = strstr(s, x); add_int(e, out, p ? p - s : -1); }
        else if(IS(lastIndexOf)) {
            const char *last = NULL;
            for(const char *p = strstr(s, x); p; p = *p ? strstr(p + 1, x) : NULL) {
                last = p;
                if(!*x) { last = s + strlen(s); break; }
            }
            add_int(e, out, last ? last - s : -1);
        }
        else if(IS(matches) || IS(matchesFull)) {
            int m = regex_match(e, s, x, IS(matchesFull));
            if(m >= 0) add_bool(e, out, m);
        }
        else if(IS(replace) || IS(replaceMatches)) {
            char *y = a1 ? arg_str(e, a1) : NULL;
            char *r = !y ? NULL : IS(replace) ? str_replace(e, s, x, y) : regex_replace(e, s, x, y);
            if(r) add_str_own(e, out, r);
            free(y);
        }
        free(x);
        return;
    }
    ev_error(e, "unknown FHIRPath function '%s'", f);
#undef IS
}

static int cmp_vals(const item *a, const item *b, int *res)
{
    val x = value_of(a), y = value_of(b);
    coerce(&x, &y);
    coerce(&y, &x);
    if(x.k == V_TIME && y.k == V_TIME)
        return fp_time_cmp(&x.t, &y.t, res);
    if(x.k == V_QTY && y.k == V_QTY) {
        double p, q;
        if(qty_align(&x, &y, &p, &q, 0))
            return -1;
        *res = p < q ? -1 : p > q;
        return 0;
    }
    if(x.k == V_NUM && y.k == V_NUM) {
        *res = x.d < y.d ? -1 : x.d > y.d;
        return 0;
    }
    if(x.k == V_STR && y.k == V_STR) {
        int c = strcmp(x.s, y.s);
        *res = c < 0 ? -1 : c > 0;
        return 0;
    }
    return -2; /* kinds that never compare: an error, not just empty */
}


/* + - * / div mod on single values; empty where the spec says so (division
 * by zero, integer overflow, mismatched kinds). */
static void arith(ev *e, const char *op, val *x, val *y, coll *out)
{
    char o = op[0] == 'd' ? 'd' : op[0] == 'm' ? 'm' : op[0];
    if(o == '+' && x->k == V_STR && y->k == V_STR) {
        char *s = NULL;
        if(asprintf(&s, "%s%s", x->s, y->s) >= 0)
            add_str_own(e, out, s);
        return;
    }
    if(x->k == V_TIME && (o == '+' || o == '-')) {
        fp_time t = x->t;
        if(y->k != V_QTY || fp_time_add(&t, o == '-' ? -y->d : y->d, y->s))
            ev_error(e, "a date/time can only add a time-valued quantity%s", NULL);
        else
            add_time(e, out, &t);
        return;
    }
    if(x->k == V_QTY && y->k == V_QTY && (o == '+' || o == '-')) {
        double p, q, fx = 1;
        if(qty_align(x, y, &p, &q, 0) == 0) {
            if(strcmp(x->s, y->s))
                unit_base(x->s, &fx);
            add_qty(e, out, (o == '+' ? p + q : p - q) / fx, x->s);
        }
        return;
    }
    if(x->k == V_QTY && y->k == V_QTY && (o == '*' || o == '/')) {
        double fx = 1, fy = 1;
        const char *dx = unit_base(x->s, &fx), *dy = unit_base(y->s, &fy);
        if(!dx || !dy || (o == '/' && y->d == 0))
            return;
        char unit[32];
        if(o == '/')
            snprintf(unit, sizeof(unit), "%s", !strcmp(dx, dy) ? "1" : "");
        if(o == '/' && strcmp(dx, dy))
            snprintf(unit, sizeof(unit), "%s/%s", dx, dy);
        if(o == '*')
            snprintf(unit, sizeof(unit), !strcmp(dx, dy) ? "%s2" : "%s.%s", dx, dy);
        add_qty(e, out, o == '*' ? x->d * fx * y->d * fy : x->d * fx / (y->d * fy), unit);
        return;
    }
    if(x->k == V_QTY && y->k == V_NUM && (o == '*' || o == '/')) {
        if(o == '*' || y->d != 0)
            add_qty(e, out, o == '*' ? x->d * y->d : x->d / y->d, x->s);
        return;
    }
    if(x->k == V_NUM && y->k == V_QTY && o == '*') {
        add_qty(e, out, x->d * y->d, y->s);
        return;
    }
    if(x->k != V_NUM || y->k != V_NUM) {
        if(x->k != V_OBJ && y->k != V_OBJ && x->k != V_NONE && y->k != V_NONE)
            ev_error(e, "operator '%s' does not apply to these values", op);
        return;
    }
    if(x->is_int && y->is_int && o != '/') {
        int64_t r = 0;
        int ovf = 0;
        switch(o) {
        case '+': ovf = __builtin_add_overflow(x->i, y->i, &r); break;
        case '-': ovf = __builtin_sub_overflow(x->i, y->i, &r); break;
        case '*': ovf = __builtin_mul_overflow(x->i, y->i, &r); break;
        case 'd':
        case 'm':
            if(y->i == 0 || (x->i == INT64_MIN && y->i == -1))
                return;
            r = o == 'd' ? x->i / y->i : x->i % y->i;
            break;
        default: return;
        }
        if(!ovf)
            add_int(e, out, r);
        return;
    }
    double r;
    switch(o) {
    case '+': r = x->d + y->d; break;
    case '-': r = x->d - y->d; break;
    case '*': r = x->d * y->d; break;
    case '/': if(y->d == 0) return; r = x->d / y->d; break;
    case 'd':
        if(y->d == 0 || !(fabs(x->d / y->d) < 9e18)) return;
        add_int(e, out, (int64_t)trunc(x->d / y->d));
        return;
    case 'm': if(y->d == 0) return; r = fmod(x->d, y->d); break;
    default: return;
    }
    if(isfinite(r))
        add_dec(e, out, r);
}


typedef struct sort_row {
    size_t idx;
    coll *keys; /* one collection per sort key */
} sort_row;

typedef struct sort_ctx {
    int nkeys;
    const int *desc;
} sort_ctx;

static int sort_cmp(const void *pa, const void *pb, void *pc)
{
    const sort_row *a = pa, *b = pb;
    const sort_ctx *c = pc;
    for(int k = 0; k < c->nkeys; k++) {
        const coll *x = &a->keys[k], *y = &b->keys[k];
        int r = 0;
        if(!x->count || !y->count) {
            r = (x->count > 0) - (y->count > 0); /* empty first, either direction */
            if(r)
                return r;
            continue;
        }
        if(cmp_vals(&x->items[0], &y->items[0], &r))
            r = 0;
        if(r)
            return c->desc[k] ? -r : r;
    }
    return a->idx < b->idx ? -1 : a->idx > b->idx; /* stable */
}

/* sort(key, -key, ...): a leading unary minus sorts that key descending. */
static void sort_items(ev *e, const fp_node *n, const coll *in, coll *out)
{
    int nk = n->nargs ? n->nargs : 1;
    int desc[FP_MAX_SORT_KEYS] = {0};
    if(nk > FP_MAX_SORT_KEYS) {
        ev_error(e, "too many sort keys%s", NULL);
        return;
    }
    sort_row *rows = calloc(in->count ? in->count : 1, sizeof(*rows));
    coll *keys = calloc((in->count ? in->count : 1) * (size_t)nk, sizeof(*keys));
    if(!rows || !keys) {
        ev_error(e, "out of memory%s", NULL);
        goto out;
    }
    for(size_t i = 0; i < in->count && !e->err; i++) {
        rows[i].idx = i;
        rows[i].keys = &keys[i * (size_t)nk];
        for(int k = 0; k < nk; k++) {
            if(!n->nargs) {
                add_copy(e, &rows[i].keys[k], &in->items[i]);
                continue;
            }
            const fp_node *key = n->args[k];
            if(key->kind == FP_NEG) {
                desc[k] = 1;
                key = key->a;
            }
            eval_with_this(e, key, &in->items[i], (int64_t)i, &rows[i].keys[k]);
        }
    }
    if(!e->err) {
        sort_ctx c = {nk, desc};
        qsort_r(rows, in->count, sizeof(*rows), sort_cmp, &c);
        for(size_t i = 0; i < in->count; i++)
            add_copy(e, out, &in->items[rows[i].idx]);
    }
out:
    if(keys)
        for(size_t i = 0; i < in->count * (size_t)nk; i++)
            lg_fp_collection_free(&keys[i]);
    free(keys);
    free(rows);
}

static void binary(ev *e, const fp_node *n, const coll *focus, coll *out)
{
    const char *op = n->str;
    const int opid = n->id;
    coll l = {0}, r = {0};
    eval(e, n->a, focus, &l);
    if((opid == OP_AND) || (opid == OP_OR) || (opid == OP_XOR) || (opid == OP_IMPLIES)) {
        int a = truth(e, &l), b;
        /* Short-circuit where the answer is already known. */
        if(((opid == OP_AND) && a == 0) || ((opid == OP_OR) && a == 1)) {
            add_bool(e, out, a);
            goto out;
        }
        if((opid == OP_IMPLIES) && a == 0) {
            add_bool(e, out, 1);
            goto out;
        }
        eval(e, n->b, focus, &r);
        b = truth(e, &r);
        if((opid == OP_AND)) {
            if(b == 0) add_bool(e, out, 0);
            else if(a == 1 && b == 1) add_bool(e, out, 1);
        } else if((opid == OP_OR)) {
            if(b == 1) add_bool(e, out, 1);
            else if(a == 0 && b == 0) add_bool(e, out, 0);
        } else if((opid == OP_XOR)) {
            if(a >= 0 && b >= 0) add_bool(e, out, a != b);
        } else { /* implies, a is true or empty */
            if(b == 1) add_bool(e, out, 1);
            else if(a == 1 && b == 0) add_bool(e, out, 0);
        }
        goto out;
    }
    eval(e, n->b, focus, &r);
    if((opid == OP_UNION)) {
        for(size_t i = 0; i < l.count; i++)
            if(!contains_item(e, out, &l.items[i])) add_copy(e, out, &l.items[i]);
        for(size_t i = 0; i < r.count; i++)
            if(!contains_item(e, out, &r.items[i])) add_copy(e, out, &r.items[i]);
        goto out;
    }
    if((opid == OP_IN) || (opid == OP_CONTAINS)) {
        const coll *needle = op[0] == 'i' ? &l : &r, *hay = op[0] == 'i' ? &r : &l;
        if(needle->count == 1)
            add_bool(e, out, contains_item(e, hay, &needle->items[0]));
        else if(needle->count > 1)
            ev_error(e, "'%s' needs a single item", op);
        goto out;
    }
    if((opid == OP_EQ) || (opid == OP_NE) || (opid == OP_EQUIV) || (opid == OP_NEQUIV)) {
        int equiv = strchr(op, '~') != NULL, neg = op[0] == '!';
        if(!equiv && (l.count == 0 || r.count == 0))
            goto out;
        int eq = l.count == r.count;
        for(size_t i = 0; eq == 1 && i < l.count; i++) {
            if(!equiv) {
                eq = equal_items(&l.items[i], &r.items[i], 0);
                continue;
            }
            /* equivalence ignores order: each item needs a partner */
            eq = 0;
            for(size_t k = 0; !eq && k < r.count; k++)
                eq = equal_items(&l.items[i], &r.items[k], 1) == 1;
        }
        if(eq >= 0) /* -1: precision ran out, the answer is unknown */
            add_bool(e, out, neg ? !eq : eq);
        goto out;
    }
    if((opid == OP_AMP)) {
        if(l.count > 1 || r.count > 1) {
            ev_error(e, "operator '&' needs single items%s", NULL);
            goto out;
        }
        const char *a = l.count == 1 ? str_of(&l.items[0]) : "";
        const char *b = r.count == 1 ? str_of(&r.items[0]) : "";
        char *s = NULL;
        if(asprintf(&s, "%s%s", a ? a : "", b ? b : "") >= 0)
            add_str_own(e, out, s);
        goto out;
    }
    if(l.count == 0 || r.count == 0)
        goto out;
    if(l.count > 1 || r.count > 1) {
        ev_error(e, "operator '%s' needs single items", op);
        goto out;
    }
    if(op[0] == '<' || op[0] == '>') {
        int c, rc = cmp_vals(&l.items[0], &r.items[0], &c);
        if(rc == 0) {
            int res = (opid == OP_LT) ? c < 0 : (opid == OP_GT) ? c > 0
                    : (opid == OP_LE) ? c <= 0 : c >= 0;
            add_bool(e, out, res);
        } else if(rc == -2) {
            ev_error(e, "operator '%s' cannot compare these values", op);
        }
        goto out;
    }
    val x = value_of(&l.items[0]), y = value_of(&r.items[0]);
    coerce(&x, &y);
    coerce(&y, &x);
    arith(e, op, &x, &y, out);
out:
    lg_fp_collection_free(&l);
    lg_fp_collection_free(&r);
}

/* Strict mode: (x as T).name needs T to have name, even when x is empty
 * (a static check the R4 suite asks for). */
static void check_cast_member(ev *e, const fp_node *n)
{
    const fp_node *a = n->a;
    const char *t = NULL;
    char tbuf[256];
    if(a->kind == FP_AS)
        t = a->str;
    else if(a->kind == FP_CALL && (a->id == FN_as || a->id == FN_ofType) && a->nargs == 1)
        t = type_arg(a->args[0], tbuf, sizeof(tbuf));
    if(!t || isupper((unsigned char)n->str[0]))
        return;
    const fp_mtype *mt = fp_model_type(e->model, !strncmp(t, "FHIR.", 5) ? t + 5 : t);
    if(mt && mt->kind != FP_MK_PRIMITIVE && !fp_model_elem(mt, n->str))
        ev_error(e, "'%s' is not an element of this type", n->str);
}

/* A variable of env->vars: 1 found (its items appended), 0 not. */
static int env_var(ev *e, const char *name, coll *out)
{
    for(size_t i = 0; i < e->env->nvars; i++) {
        const lg_fp_var *v = &e->env->vars[i];
        if(v->name && !strcmp(v->name, name)) {
            for(size_t k = 0; k < v->count; k++)
                add_copy(e, out, &v->items[k]);
            return 1;
        }
    }
    return 0;
}

/* An ordered function straight on children()/descendants(), whose order
 * the spec leaves undefined. */
static int unordered_input(const fp_node *n)
{
    return n && n->kind == FP_CALL && (n->id == FN_children || n->id == FN_descendants);
}

static void eval_kind(ev *e, const fp_node *n, const coll *focus, coll *out);

static void eval(ev *e, const fp_node *n, const coll *focus, coll *out)
{
    if(e->err || spend(e, 1))
        return;
    if(++e->depth > FP_MAX_EVAL_DEPTH) {
        ev_error(e, "FHIRPath evaluation nested too deeply%s", NULL);
        e->depth--;
        return;
    }
    if(n->memo > 0 && n->memo <= e->nmemo) {
        /* a constant subexpression: computed once per evaluation */
        coll *m = &e->memo[n->memo - 1];
        if(!e->memo_done[n->memo - 1]) {
            eval_kind(e, n, focus, m);
            e->memo_done[n->memo - 1] = 1;
        }
        if(spend(e, m->count) == 0)
            for(size_t i = 0; i < m->count && !e->err; i++)
                add_copy(e, out, &m->items[i]);
    } else {
        eval_kind(e, n, focus, out);
    }
    e->depth--;
}

static void eval_kind(ev *e, const fp_node *n, const coll *focus, coll *out)
{
    switch(n->kind) {
    case FP_EMPTY: break;
    case FP_STRING: add_str(e, out, n->str); break;
    case FP_DATE: {
        fp_time t;
        if(fp_time_parse(n->str, -1, &t) == 0)
            add_time(e, out, &t);
        else
            ev_error(e, "invalid date/time literal '@%s'", n->str);
        break;
    }
    case FP_INT: add_int(e, out, n->i); break;
    case FP_DECIMAL:
        add_dec(e, out, n->d);
        if(!e->err)
            out->items[out->count - 1].i = n->i; /* 1 + scale */
        break;
    case FP_QUANTITY:
        add_qty(e, out, n->d, n->str);
        if(!e->err)
            out->items[out->count - 1].i = n->i; /* 1 + scale */
        break;
    case FP_BOOL: add_bool(e, out, (int)n->i); break;
    case FP_VAR:
        if((n->id == VAR_THIS)) {
            for(size_t i = 0; i < e->this_->count; i++) add_copy(e, out, &e->this_->items[i]);
        } else if((n->id == VAR_TOTAL)) {
            for(size_t i = 0; e->total && i < e->total->count; i++) add_copy(e, out, &e->total->items[i]);
        } else if((n->id == VAR_INDEX)) {
            add_int(e, out, e->index);
        } else if(n->str[0] == '%' && env_var(e, n->str + 1, out)) {
            /* a caller's variable */
        } else if((n->id == VAR_CONTEXT)) {
            for(size_t i = 0; i < e->root->count; i++) add_copy(e, out, &e->root->items[i]);
        } else if((n->id == VAR_RESOURCE)) {
            if(!e->res_ready && e->resource)
                add_node(e, e->res_c, e->resource, NULL);
            e->res_ready = 1;
            for(size_t i = 0; i < e->res_c->count; i++) add_copy(e, out, &e->res_c->items[i]);
        } else if((n->id == VAR_ROOT_RESOURCE)) {
            if(!e->rootres_ready && e->root_resource)
                add_node(e, e->rootres_c, e->root_resource, NULL);
            e->rootres_ready = 1;
            for(size_t i = 0; i < e->rootres_c->count; i++) add_copy(e, out, &e->rootres_c->items[i]);
        } else if((n->id == VAR_UCUM)) {
            add_str(e, out, "http://unitsofmeasure.org");
        } else if((n->id == VAR_SCT)) {
            add_str(e, out, "http://snomed.info/sct");
        } else if((n->id == VAR_LOINC)) {
            add_str(e, out, "http://loinc.org");
        } else if(!strncmp(n->str, "%vs-", 4) || !strncmp(n->str, "%ext-", 5)) {
            char *u = NULL;
            if(asprintf(&u, "http://hl7.org/fhir/%s/%s", n->str[1] == 'v' ? "ValueSet"
                        : "StructureDefinition", strchr(n->str, '-') + 1) >= 0)
                add_str_own(e, out, u);
        } else {
            ev_error(e, "unknown variable '%s'", n->str);
        }
        break;
    case FP_IDENT:
        members(e, focus, n->str, out);
        break;
    case FP_MEMBER: {
        coll base = {0};
        if(e->strict)
            check_cast_member(e, n);
        eval(e, n->a, focus, &base);
        members(e, &base, n->str, out);
        lg_fp_collection_free(&base);
        break;
    }
    case FP_CALL: {
        coll base = {0};
        if(e->env->check_ordered && unordered_input(n->a) &&
           (n->id == FN_first || n->id == FN_last || n->id == FN_tail || n->id == FN_skip ||
            n->id == FN_take)) {
            ev_error(e, "%s() on an unordered collection", n->str);
            break;
        }
        if(n->a)
            eval(e, n->a, focus, &base);
        call(e, n, n->a ? &base : focus, out);
        lg_fp_collection_free(&base);
        break;
    }
    case FP_INDEX: {
        coll base = {0}, idx = {0};
        if(e->env->check_ordered && unordered_input(n->a)) {
            ev_error(e, "an indexer on an unordered collection%s", NULL);
            break;
        }
        eval(e, n->a, focus, &base);
        eval(e, n->b, e->this_, &idx);
        if(idx.count == 1 && value_of(&idx.items[0]).k == V_NUM) {
            double k = value_of(&idx.items[0]).d;
            if(k >= 0 && k < (double)base.count)
                add_copy(e, out, &base.items[(size_t)k]);
        }
        lg_fp_collection_free(&base);
        lg_fp_collection_free(&idx);
        break;
    }
    case FP_BINARY: binary(e, n, focus, out); break;
    case FP_NEG: {
        coll a = {0};
        eval(e, n->a, focus, &a);
        if(a.count == 1) {
            val v = value_of(&a.items[0]);
            if(v.k == V_NUM && v.is_int) { if(v.i != INT64_MIN) add_int(e, out, -v.i); }
            else if(v.k == V_NUM) {
                add_dec(e, out, 0 - v.d); /* 0 - x: -(0.0) is 0.0, not -0.0 */
                if(!e->err) out->items[out->count - 1].i = a.items[0].kind == LG_FP_DECIMAL ? a.items[0].i : 0;
            }
            else if(v.k == V_QTY) add_qty(e, out, -v.d, v.s);
            else ev_error(e, "unary '-' needs a number or a quantity%s", NULL);
        }
        lg_fp_collection_free(&a);
        break;
    }
    case FP_IS:
    case FP_AS: {
        coll a = {0};
        eval(e, n->a, focus, &a);
        if(n->kind == FP_IS) {
            if(a.count == 1) add_bool(e, out, type_is(e, &a.items[0], n->str, 1));
        } else if(e->strict && a.count > 1) {
            ev_error(e, "'as' on a collection of several items%s", NULL);
        } else {
            for(size_t i = 0; i < a.count; i++)
                if(type_is(e, &a.items[i], n->str, 0)) add_copy(e, out, &a.items[i]);
        }
        lg_fp_collection_free(&a);
        break;
    }
    }
}

lg_status lg_fhirpath_eval_env(const lg_fhirpath *expr, const lg_fp_env *env, lg_fp_collection *out,
                               lg_issues *issues)
{
    /* one item each, on the stack: no allocation per evaluation for them
     * (each is pushed once, so they never grow) */
    item ctx_it, res_it, root_it;
    coll ctx = {.items = &ctx_it, .cap = 1}, res = {.items = &res_it, .cap = 1},
         rootres = {.items = &root_it, .cap = 1};
    const cJSON *context = env->context_item && env->context_item->kind == LG_FP_NODE
                           ? env->context_item->node
                           : env->context ? env->context : env->resource;
    ev e = {.resource = env->resource ? env->resource : context, .env = env, .model = env->model,
            .strict = env->model && env->strict, .issues = issues};
    e.root_resource = env->root_resource ? env->root_resource : e.resource;
    if(env->context_item) {
        add_copy(&e, &ctx, env->context_item);
        if(!env->model && ctx.count)
            ctx.items[0].mtype = NULL; /* typed by another model: not ours */
        if(env->model && ctx.count && !ctx.items[0].mtype && ctx.items[0].kind == LG_FP_NODE) {
            /* an item built by the caller: type it by context_type, else by
             * its type name ("HumanName", "Patient.contact", "code") */
            const char *tn = env->context_type ? env->context_type : ctx.items[0].type;
            const fp_mtype *t = tn ? fp_model_type(e.model, tn) : NULL;
            /* "BackboneElement" or "Element" names no children: typing by it
             * would hide them, so such an item stays untyped */
            if(t && (!strcmp(t->name, "BackboneElement") || !strcmp(t->name, "Element")))
                t = NULL;
            set_mtype(&e, &ctx.items[0], t); /* type() of a backbone: BackboneElement */
        }
    } else if(context) {
        add_node(&e, &ctx, context, NULL);
        if(env->context_type && e.model && ctx.count) {
            const fp_mtype *t = fp_model_type(e.model, env->context_type);
            if(t)
                set_mtype(&e, &ctx.items[0], t);
            else
                ctx.items[0].type = env->context_type;
        } else if(env->context_type && ctx.count) {
            ctx.items[0].type = env->context_type;
        }
    }
    e.this_ = &ctx;
    e.root = &ctx;
    e.res_c = &res;
    e.rootres_c = &rootres;
    /* small: slots for the few constant subexpressions worth keeping */
    coll memo[64];
    unsigned char memo_done[64];
    if(expr->nmemo > 0 && expr->nmemo <= 64) {
        memset(memo, 0, sizeof(*memo) * (size_t)expr->nmemo);
        memset(memo_done, 0, (size_t)expr->nmemo);
        e.memo = memo;
        e.memo_done = memo_done;
        e.nmemo = expr->nmemo;
    }
    if(!e.err)
        eval(&e, expr->root, &ctx, out);
    for(int i = 0; i < e.nmemo; i++)
        lg_fp_collection_free(&memo[i]);
    const coll *mine[] = {&ctx, &res, &rootres};
    for(int i = 0; i < 3; i++)
        if(mine[i]->count)
            free(mine[i]->items[0].own); /* not the stack items themselves */
    return e.err ? LG_EINVAL : LG_OK;
}

lg_status lg_fhirpath_eval(const lg_fhirpath *expr, const cJSON *resource, lg_fp_collection *out,
                           lg_issues *issues)
{
    lg_fp_env env = {.resource = resource};
    return lg_fhirpath_eval_env(expr, &env, out, issues);
}
