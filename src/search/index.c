/* index.c - turns a resource into search index entries by evaluating each
 * served SearchParameter's compiled FHIRPath expression and converting
 * every result item by the parameter's type (layout in search.h).
 *
 * FHIRPath results rarely carry a FHIR type name (only choice elements such
 * as value[x] do), so complex values are recognised by shape: an object with
 * "coding" is a CodeableConcept, "reference" a Reference, "family"/"given" a
 * HumanName, and so on.
 *
 * Decisions:
 *  - _id and _lastUpdated are not indexed: search.h has backends answer
 *    them from the resource row;
 *  - a CodeableConcept gives one TOKEN entry per coding (s3 = its display)
 *    and, when it has text, one more entry with s1 = s2 = NULL, s3 = text;
 *  - a relative reference gives s1/s2 with s3 NULL; absolute, urn: and
 *    canonical references keep the text in s3 (canonical "|version" cut
 *    off for s1/s2);
 *  - a Quantity's s3 is its code, or its unit when it has no code;
 *  - a date that does not parse is a warning and no entry.
 */
#include "loopgate/search.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "loopgate/defs.h"
#include "loopgate/fhirpath.h"
#include "loopgate/time.h"

/* A resource with more entries than this is indexed partially (warning). */
#define INDEX_MAX_ENTRIES 20000
#define FHIR_MAX_ID 64

typedef struct ix_ctx {
    const lg_defs *defs;
    const lg_search_param *sp;
    lg_index *out;
    size_t first; /* first entry of the current parameter, for de-duplication */
    lg_issues *issues;
    int full;     /* INDEX_MAX_ENTRIES reached */
} ix_ctx;

void lg_index_free(lg_index *ix)
{
    if(!ix)
        return;
    for(size_t i = 0; i < ix->count; i++) {
        free(ix->items[i].s1);
        free(ix->items[i].s2);
        free(ix->items[i].s3);
    }
    free(ix->items);
    memset(ix, 0, sizeof(*ix));
}

static int eq_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Append an entry; the strings are copied. Identical entries of the same
 * parameter are dropped. */
static lg_status add(ix_ctx *c, const char *s1, const char *s2, const char *s3, int64_t lo,
                     int64_t hi)
{
    lg_index *ix = c->out;
    for(size_t i = c->first; i < ix->count; i++) {
        const lg_index_entry *e = &ix->items[i];
        if(e->lo == lo && e->hi == hi && eq_str(e->s1, s1) && eq_str(e->s2, s2) &&
           eq_str(e->s3, s3))
            return LG_OK;
    }
    if(ix->count >= INDEX_MAX_ENTRIES) {
        if(!c->full)
            lg_issues_add(c->issues, LG_SEV_WARNING, "too-costly", NULL,
                          "More than %d search index entries; the rest are not indexed",
                          INDEX_MAX_ENTRIES);
        c->full = 1;
        return LG_OK;
    }
    if(ix->count == ix->cap) {
        size_t ncap = ix->cap ? ix->cap * 2 : 32;
        lg_index_entry *n = realloc(ix->items, ncap * sizeof(*n));
        if(!n)
            return LG_ENOMEM;
        ix->items = n;
        ix->cap = ncap;
    }
    lg_index_entry *e = &ix->items[ix->count];
    memset(e, 0, sizeof(*e));
    e->param = c->sp->code;
    e->type = c->sp->type;
    e->lo = lo;
    e->hi = hi;
    if((s1 && !(e->s1 = strdup(s1))) || (s2 && !(e->s2 = strdup(s2))) ||
       (s3 && !(e->s3 = strdup(s3)))) {
        free(e->s1);
        free(e->s2);
        free(e->s3);
        return LG_ENOMEM;
    }
    ix->count++;
    return LG_OK;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int valid_id(const char *s, size_t n)
{
    if(n == 0 || n > FHIR_MAX_ID)
        return 0;
    for(size_t i = 0; i < n; i++) {
        char ch = s[i];
        if(!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

/* Find "Type/id" (optionally followed by "/_history/n") ending s[0..n);
 * relative = the whole string must be that. Fills type/id buffers. */
static int ref_tail(const lg_defs *defs, const char *s, size_t n, int relative, char *type,
                    size_t tsz, char *id)
{
    const char *h = NULL;
    for(const char *p = s; p + 10 <= s + n; p++)
        if(memcmp(p, "/_history/", 10) == 0)
            h = p;
    if(h) {
        const char *v = h + 10;
        if(v == s + n || strspn(v, "0123456789") < (size_t)(s + n - v))
            return 0;
        n = (size_t)(h - s);
    }
    const char *slash = memrchr(s, '/', n);
    if(!slash || slash == s)
        return 0;
    const char *t = slash;
    while(t > s && t[-1] != '/')
        t--;
    if(relative && t != s)
        return 0;
    size_t tl = (size_t)(slash - t), il = (size_t)(s + n - slash - 1);
    if(tl == 0 || tl >= tsz || !valid_id(slash + 1, il))
        return 0;
    memcpy(type, t, tl);
    type[tl] = '\0';
    memcpy(id, slash + 1, il);
    id[il] = '\0';
    return lg_defs_is_resource_type(defs, type);
}

/* A reference or canonical string. */
static lg_status add_ref_string(ix_ctx *c, const char *ref)
{
    char type[128], id[FHIR_MAX_ID + 1];
    if(!*ref || ref[0] == '#') /* contained resources are not indexed */
        return LG_OK;
    int absolute = strstr(ref, "://") != NULL;
    if(strncmp(ref, "urn:", 4) == 0)
        return add(c, NULL, NULL, ref, 0, 0);
    size_t n = strcspn(ref, "|"); /* canonical version */
    if(!absolute && ref[n] == '\0' && ref_tail(c->defs, ref, n, 1, type, sizeof(type), id))
        return add(c, type, id, NULL, 0, 0);
    if(ref_tail(c->defs, ref, n, 0, type, sizeof(type), id))
        return add(c, type, id, ref, 0, 0);
    return add(c, NULL, NULL, ref, 0, 0);
}

static lg_status add_string(ix_ctx *c, const char *s)
{
    char *n = lg_search_normalise(s);
    if(!n)
        return LG_ENOMEM;
    lg_status st = *n ? add(c, n, s, NULL, 0, 0) : LG_OK;
    free(n);
    return st;
}

/* value (string or array of strings) of o[key] as STRING entries */
static lg_status add_string_field(ix_ctx *c, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key), *x;
    lg_status st = LG_OK;
    if(cJSON_IsString(v))
        return add_string(c, v->valuestring);
    const cJSON *arr = cJSON_IsArray(v) ? v : NULL;
    cJSON_ArrayForEach(x, arr) {
        if(cJSON_IsString(x) && (st = add_string(c, x->valuestring)))
            break;
    }
    return st;
}

static lg_status add_date_text(ix_ctx *c, const char *s, int64_t *lo, int64_t *hi)
{
    if(lg_time_parse_range(s, lo, hi)) {
        lg_issues_add(c->issues, LG_SEV_WARNING, "value", c->sp->code,
                      "'%s' is not a valid date for search parameter %s; not indexed", s,
                      c->sp->code);
        return LG_EINVAL;
    }
    return LG_OK;
}

static lg_status add_date(ix_ctx *c, const char *s)
{
    int64_t lo, hi;
    if(add_date_text(c, s, &lo, &hi))
        return LG_OK;
    return add(c, NULL, NULL, NULL, lo, hi);
}

/* Period-shaped object: open ends reach the end of time. */
static lg_status add_period(ix_ctx *c, const cJSON *o)
{
    const char *s = jstr(o, "start"), *e = jstr(o, "end");
    int64_t lo = INT64_MIN, hi = INT64_MAX, s_hi = INT64_MIN, e_lo = INT64_MAX, a, b;
    if(!s && !e)
        return LG_OK;
    if(s) {
        if(add_date_text(c, s, &a, &b))
            return LG_OK;
        lo = a;
        s_hi = b;
    }
    if(e) {
        if(add_date_text(c, e, &a, &b))
            return LG_OK;
        hi = b;
        e_lo = a;
    }
    /* A start after the end (invalid by per-1, or a date-only end read in
     * UTC against an offset start) would give an inverted range that
     * matches every gt and lt search at once: index the span of both. */
    if(lo > hi) {
        lg_issues_add(c->issues, LG_SEV_WARNING, "value", c->sp->code,
                      "Period start '%s' is after its end '%s'; indexed as the span of both",
                      s, e);
        lo = e_lo;
        hi = s_hi;
    }
    return add(c, NULL, NULL, NULL, lo, hi);
}

/* value * 1000, rounded; 0 if it does not fit. */
static int scale(double v, int64_t *out)
{
    double s = v * 1000.0;
    if(!isfinite(s) || fabs(s) >= 9.0e18)
        return -1;
    *out = llround(s);
    return 0;
}

static lg_status add_number(ix_ctx *c, double v, const char *sys, const char *code)
{
    char text[64];
    int64_t m;
    if(scale(v, &m))
        return LG_OK;
    snprintf(text, sizeof(text), "%.15g", v);
    return add(c, text, sys, code, m, m);
}

static lg_status token_item(ix_ctx *c, const lg_fp_item *it)
{
    const cJSON *n = it->node, *x;
    lg_status st = LG_OK;
    if(it->kind == LG_FP_STRING)
        return it->s ? add(c, "", it->s, NULL, 0, 0) : LG_OK;
    if(it->kind == LG_FP_BOOL)
        return add(c, "", it->b ? "true" : "false", NULL, 0, 0);
    if(it->kind != LG_FP_NODE || !n)
        return LG_OK;
    if(cJSON_IsString(n))
        return add(c, "", n->valuestring, NULL, 0, 0);
    if(cJSON_IsBool(n))
        return add(c, "", cJSON_IsTrue(n) ? "true" : "false", NULL, 0, 0);
    if(!cJSON_IsObject(n))
        return LG_OK;
    const cJSON *coding = cJSON_GetObjectItemCaseSensitive(n, "coding");
    const char *text = jstr(n, "text");
    if(cJSON_IsArray(coding) || (text && !jstr(n, "code") && !jstr(n, "value"))) {
        /* CodeableConcept */
        const cJSON *codings = cJSON_IsArray(coding) ? coding : NULL;
        cJSON_ArrayForEach(x, codings) {
            const char *code = jstr(x, "code"), *sys = jstr(x, "system");
            if(code && (st = add(c, sys ? sys : "", code, jstr(x, "display"), 0, 0)))
                return st;
        }
        return text ? add(c, NULL, NULL, text, 0, 0) : LG_OK;
    }
    if(jstr(n, "code")) /* Coding */
        return add(c, jstr(n, "system") ? jstr(n, "system") : "", jstr(n, "code"),
                   jstr(n, "display"), 0, 0);
    if(jstr(n, "value")) {
        /* Identifier (system is a URI) or ContactPoint (system is a code). */
        static const char *const cp_systems[] = {"phone", "fax", "email", "pager",
                                                 "url", "sms", "other"};
        const char *sys = jstr(n, "system");
        int contact = it->type && strcmp(it->type, "ContactPoint") == 0;
        for(size_t i = 0; sys && !contact && i < sizeof(cp_systems) / sizeof(*cp_systems); i++)
            contact = strcmp(sys, cp_systems[i]) == 0;
        if(contact)
            return add(c, "", jstr(n, "value"), NULL, 0, 0);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
        return add(c, sys ? sys : "", jstr(n, "value"), jstr(type, "text"), 0, 0);
    }
    return LG_OK;
}

static lg_status reference_item(ix_ctx *c, const lg_fp_item *it)
{
    const cJSON *n = it->node;
    if(it->kind == LG_FP_STRING)
        return it->s ? add_ref_string(c, it->s) : LG_OK;
    if(it->kind != LG_FP_NODE || !n)
        return LG_OK;
    if(cJSON_IsString(n))
        return add_ref_string(c, n->valuestring);
    if(cJSON_IsObject(n) && jstr(n, "reference"))
        return add_ref_string(c, jstr(n, "reference"));
    return LG_OK;
}

static lg_status string_item(ix_ctx *c, const lg_fp_item *it)
{
    static const char *const fields[] = {"family",   "given", "prefix",     "suffix",
                                         "text",     "line",  "city",       "district",
                                         "state",    "postalCode", "country"};
    const cJSON *n = it->node;
    lg_status st = LG_OK;
    if(it->kind == LG_FP_STRING || it->kind == LG_FP_DATE || it->kind == LG_FP_DATETIME ||
       it->kind == LG_FP_TIME)
        return it->s ? add_string(c, it->s) : LG_OK;
    if(it->kind != LG_FP_NODE || !n)
        return LG_OK;
    if(cJSON_IsString(n))
        return add_string(c, n->valuestring);
    if(!cJSON_IsObject(n))
        return LG_OK;
    /* HumanName and Address parts; other complex values are not text. */
    for(size_t i = 0; !st && i < sizeof(fields) / sizeof(*fields); i++)
        st = add_string_field(c, n, fields[i]);
    return st;
}

static lg_status date_item(ix_ctx *c, const lg_fp_item *it)
{
    const cJSON *n = it->node, *x;
    lg_status st = LG_OK;
    /* Computed values (e.g. an expression using toDate()) arrive typed. */
    if(it->kind == LG_FP_STRING || it->kind == LG_FP_DATE || it->kind == LG_FP_DATETIME)
        return it->s ? add_date(c, it->s) : LG_OK;
    if(it->kind != LG_FP_NODE || !n)
        return LG_OK;
    if(cJSON_IsString(n))
        return add_date(c, n->valuestring);
    if(!cJSON_IsObject(n))
        return LG_OK;
    if(jstr(n, "start") || jstr(n, "end"))
        return add_period(c, n);
    /* Timing: each event, and the repeat bounds when a Period. */
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(n, "event")) {
        if(cJSON_IsString(x) && (st = add_date(c, x->valuestring)))
            return st;
    }
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(n, "repeat");
    const cJSON *bp = cJSON_GetObjectItemCaseSensitive(rep, "boundsPeriod");
    if(cJSON_IsObject(bp))
        st = add_period(c, bp);
    return st;
}

static lg_status number_item(ix_ctx *c, const lg_fp_item *it)
{
    const cJSON *n = it->node;
    if(it->kind == LG_FP_INT)
        return add_number(c, (double)it->i, NULL, NULL);
    if(it->kind == LG_FP_DECIMAL)
        return add_number(c, it->d, NULL, NULL);
    if(it->kind == LG_FP_NODE && cJSON_IsNumber(n))
        return add_number(c, n->valuedouble, NULL, NULL);
    return LG_OK;
}

static lg_status quantity_item(ix_ctx *c, const lg_fp_item *it)
{
    const cJSON *n = it->node;
    if(it->kind != LG_FP_NODE || !cJSON_IsObject(n))
        return number_item(c, it);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(n, "value");
    if(!cJSON_IsNumber(v))
        return LG_OK; /* SampledData, Range, ... */
    const char *code = jstr(n, "code") ? jstr(n, "code") : jstr(n, "unit");
    return add_number(c, v->valuedouble, jstr(n, "system"), code);
}

static lg_status uri_item(ix_ctx *c, const lg_fp_item *it)
{
    if(it->kind == LG_FP_STRING && it->s)
        return add(c, it->s, NULL, NULL, 0, 0);
    if(it->kind == LG_FP_NODE && cJSON_IsString(it->node))
        return add(c, it->node->valuestring, NULL, NULL, 0, 0);
    return LG_OK;
}

/* Evaluate one parameter on resource and append its entries. */
static lg_status extract_param(ix_ctx *c, const lg_search_param *sp, const cJSON *resource)
{
    lg_fp_collection res = {0};
    lg_issues ev = {0};
    lg_status st = LG_OK;
    if(!sp->compiled || sp->type == LG_SP_COMPOSITE || sp->type == LG_SP_SPECIAL ||
       strcmp(sp->code, "_id") == 0 || strcmp(sp->code, "_lastUpdated") == 0)
        return LG_OK;
    c->sp = sp;
    c->first = c->out->count;
    lg_status est = lg_fhirpath_eval(sp->compiled, resource, &res, &ev);
    if(est == LG_ENOMEM) {
        st = est;
    } else if(est) {
        lg_issues_add(c->issues, LG_SEV_WARNING, "processing", sp->code,
                      "Search parameter %s not indexed: %s", sp->code,
                      ev.count && ev.items[0].diagnostics ? ev.items[0].diagnostics
                                                          : lg_status_str(est));
    }
    for(size_t k = 0; !est && !st && k < res.count; k++) {
        const lg_fp_item *it = &res.items[k];
        switch(sp->type) {
        case LG_SP_TOKEN: st = token_item(c, it); break;
        case LG_SP_REFERENCE: st = reference_item(c, it); break;
        case LG_SP_STRING: st = string_item(c, it); break;
        case LG_SP_DATE: st = date_item(c, it); break;
        case LG_SP_NUMBER: st = number_item(c, it); break;
        case LG_SP_QUANTITY: st = quantity_item(c, it); break;
        case LG_SP_URI: st = uri_item(c, it); break;
        default: break;
        }
    }
    lg_fp_collection_free(&res);
    lg_issues_free(&ev);
    return st;
}

static lg_status extract(const lg_defs *defs, const char *type, const cJSON *resource,
                         const char *only, lg_index *out, lg_issues *issues)
{
    const lg_resource_def *t = lg_defs_type(defs, type);
    ix_ctx c = {.defs = defs, .out = out, .issues = issues};
    lg_status st = LG_OK;
    if(!t || !cJSON_IsObject(resource)) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", NULL,
                      "Cannot index: '%s' is not a served resource type", type ? type : "");
        return LG_EINVAL;
    }
    for(size_t i = 0; !st && !c.full && i < t->nparams; i++)
        if(!only || strcmp(t->params[i].code, only) == 0)
            st = extract_param(&c, &t->params[i], resource);
    return st;
}

lg_status lg_index_extract(const lg_defs *defs, const char *type, const cJSON *resource,
                           lg_index *out, lg_issues *issues)
{
    return extract(defs, type, resource, NULL, out, issues);
}

lg_status lg_index_extract_param(const lg_defs *defs, const char *type, const cJSON *resource,
                                 const char *code, lg_index *out, lg_issues *issues)
{
    return extract(defs, type, resource, code, out, issues);
}
