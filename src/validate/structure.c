/* structure.c - the base-specification check of a resource's JSON: walks
 * the tree beside the compiled element tables (lg_type_def) and reports
 * what R4's JSON format rules (formats.html, json.html) and the snapshots'
 * cardinalities forbid.
 *
 * Locations are FHIRPath with indexes ("Patient.name[0].given[1]"), which
 * is what an OperationOutcome.issue.expression carries. Messages name the
 * rule and the offending value, cut short, so a client can fix its payload
 * without reading our source.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/validate.h"
#include "loopgate/xml.h"
#include "path.h"
#include "validate/jget.h"
#include "validate/lexical.h"

#define PATH_MAX_LEN 512
#define MAX_ELEMS_COUNTED 512 /* the widest R4 type has well under 100 */

typedef struct walk {
    const lg_defs *d;
    const lg_type_def *element; /* "Element": what a primitive's _name holds */
    /* primitives with a check beyond their regex, looked up once per call so
     * each value costs a pointer compare, not a string compare */
    const lg_type_def *base64, *date, *date_time, *instant, *xhtml;
    lg_issues *issues;
    size_t reported;
    size_t errors;
    pcre2_match_data *md;
    lg_vloc loc;
} walk;

static void report(walk *w, lg_severity sev, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(walk *w, lg_severity sev, const char *code, const char *fmt, ...)
{
    if(sev <= LG_SEV_ERROR)
        w->errors++;
    if(w->reported++ >= LG_VALIDATE_MAX_ISSUES)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char path[PATH_MAX_LEN];
    size_t len = lg_vloc_text(&w->loc, path, sizeof(path));
    lg_issues_add(w->issues, sev, code, len ? path : NULL, "%s", msg);
}

/* Step the location: sep (0: none), s and "[index]" (index >= 0). This
 * runs for every element, so it only records the step (path.h). Returns
 * the mark to restore. */
static size_t push(walk *w, char sep, const char *s, int index)
{
    return lg_vloc_push(&w->loc, sep, s, index);
}

static void pop(walk *w, size_t mark)
{
    lg_vloc_pop(&w->loc, mark);
}

static const char *json_kind(const cJSON *v)
{
    if(lg_vis_string(v)) return "a string";
    if(lg_vis_number(v)) return "a number";
    if(lg_vis_bool(v)) return "a boolean";
    if(lg_vis_array(v)) return "an array";
    if(lg_vis_object(v)) return "an object";
    if(lg_vis_null(v)) return "null";
    return "an unknown JSON value";
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* The spec's date regexes allow 31 days in every month; a date that names
 * a day its month does not have is still invalid. */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int calendar_ok(const char *s)
{
    int y, m, d;
    if(is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-' &&
       is_digit(s[5]) && is_digit(s[6]) && s[7] == '-' && is_digit(s[8]) && is_digit(s[9])) {
        /* the usual "YYYY-MM-DD...", read as sscanf below would (sscanf was
         * most of what a date cost) */
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        m = (s[5] - '0') * 10 + (s[6] - '0');
        d = (s[8] - '0') * 10 + (s[9] - '0');
    } else if(sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3) {
        return 1; /* year or year-month only: the regex said enough */
    }
    return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* base64Binary by hand: the spec's regex backtracks on every group of
 * four, which a megabyte attachment turns into a match-limit failure. Same
 * language: groups of four alphabet characters, whitespace between. */
/* Each byte's class for base64: 0 not allowed, 1 white space (skipped),
 * 2 a base64 character (A-Z a-z 0-9 + / =). */
static const unsigned char b64_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 2, 0, 0,
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0,
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static int base64_ok(const char *s)
{
    size_t n = 0;
    for(; *s; s++) {
        unsigned char k = b64_class[(unsigned char)*s];
        if(!k)
            return 0;
        n += k == 2;
    }
    return n > 0 && n % 4 == 0;
}

static void check_primitive(walk *w, const lg_type_def *t, const cJSON *v)
{
    switch(t->json) {
    case LG_JSON_KIND_BOOL:
        if(!lg_vis_bool(v))
            report(w, LG_SEV_ERROR, "structure", "Expected true or false for a boolean, found %s",
                   json_kind(v));
        return;
    case LG_JSON_KIND_DECIMAL:
        if(!lg_vis_number(v) || !isfinite(v->valuedouble))
            report(w, LG_SEV_ERROR, "structure", "Expected a JSON number for a decimal, found %s",
                   json_kind(v));
        return;
    case LG_JSON_KIND_INTEGER:
        if(!lg_vis_number(v)) {
            report(w, LG_SEV_ERROR, "structure", "Expected a JSON number for %s, found %s",
                   t->name, json_kind(v));
        } else if(v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)t->min_int ||
                  v->valuedouble > (double)INT_MAX) {
            report(w, LG_SEV_ERROR, "value", "%g is not a valid %s (a whole number from %lld to %d)",
                   v->valuedouble, t->name, t->min_int, INT_MAX);
        }
        return;
    case LG_JSON_KIND_STRING:
        break;
    }
    if(!lg_vis_string(v)) {
        report(w, LG_SEV_ERROR, "structure", "Expected a JSON string for %s, found %s", t->name,
               json_kind(v));
        return;
    }
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if(n == 0) {
        report(w, LG_SEV_ERROR, "value", "A %s must not be empty (leave the element out instead)",
               t->name);
        return;
    }
    int ok;
    if(t == w->xhtml) {
        /* the narrative rules (txt-1/txt-2), the same check for a div that
         * came as JSON or as XML */
        size_t before = lg_issues_errors(w->issues);
        char path[PATH_MAX_LEN];
        size_t plen = lg_vloc_text(&w->loc, path, sizeof(path));
        if(lg_xhtml_check(s, n, plen ? path : NULL, w->issues) != LG_OK)
            w->errors += lg_issues_errors(w->issues) - before;
        return;
    } else if(t == w->base64) {
        ok = base64_ok(s);
    } else if(t->lex != LG_LEX_REGEX) {
        ok = lg_vlex_ok(t->lex, s, n);
    } else if(t->regex) {
        int rc = pcre2_match(t->regex, (PCRE2_SPTR)s, n, 0, 0, w->md, NULL);
        if(rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            report(w, LG_SEV_INFORMATION, "informational",
                   "The format of this %s was not checked (regex engine limit %d)", t->name, rc);
            return;
        }
        ok = rc >= 0;
    } else {
        ok = 1;
    }
    if(!ok) {
        report(w, LG_SEV_ERROR, "value", "'%.80s%s' is not a valid %s", s, n > 80 ? "..." : "",
               t->name);
        return;
    }
    if((t == w->date || t == w->date_time || t == w->instant) && !calendar_ok(s))
        report(w, LG_SEV_ERROR, "value", "'%.40s' is not a valid %s: no such day", s, t->name);
}

static void walk_object(walk *w, const lg_type_def *t, const cJSON *obj, int is_resource);
static void walk_resource(walk *w, const cJSON *obj);

static void walk_value(walk *w, const lg_type_def *t, const cJSON *v, int ext)
{
    if(ext) {
        walk_object(w, w->element, v, 0);
        return;
    }
    switch(t->kind) {
    case LG_TYPE_PRIMITIVE:
        check_primitive(w, t, v);
        break;
    case LG_TYPE_RESOURCE:
        walk_resource(w, v);
        break;
    case LG_TYPE_COMPLEX:
    case LG_TYPE_BACKBONE:
        walk_object(w, t, v, 0);
        break;
    }
}

/* A null holds a place in a primitive array so that value[i] and _value[i]
 * line up; it is valid only where the other array has something at i. */
static int null_placeholder_ok(const cJSON *obj, const char *key, int ext, int i)
{
    char other[256];
    if(snprintf(other, sizeof(other), "%s%s", ext ? "" : "_", key + ext) >= (int)sizeof(other))
        return 0;
    const cJSON *o = cJSON_GetArrayItem(lg_vget(obj, other), i);
    return o && !lg_vis_null(o);
}

/* Checks one property's value(s); returns how many values it holds. */
static unsigned walk_property(walk *w, const cJSON *obj, const lg_elem_def *e,
                              const lg_type_def *t, const cJSON *item, int ext)
{
    const char *key = item->string;
    if(!lg_vis_array(item)) {
        if(e->max > 1)
            report(w, LG_SEV_ERROR, "structure",
                   "'%s' repeats: it must be a JSON array, even with one value", key);
        if(lg_vis_null(item))
            report(w, LG_SEV_ERROR, "structure", "'%s' is null: leave it out instead", key);
        else
            walk_value(w, t, item, ext);
        return 1;
    }
    if(e->max <= 1) {
        report(w, LG_SEV_ERROR, "structure",
               "'%s' holds at most one value: it must not be a JSON array", key);
        return 1;
    }
    /* counted only where a maximum applies (rare beside "*"): the walk
     * below counts the values anyway */
    if(!item->child)
        report(w, LG_SEV_ERROR, "structure", "'%s' is an empty array: leave it out instead", key);
    if(e->max != UINT_MAX) {
        int n = cJSON_GetArraySize(item);
        if((unsigned)n > e->max)
            report(w, LG_SEV_ERROR, "structure", "'%s' holds %d values; at most %u are allowed",
                   key, n, e->max);
    }
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, item) {
        size_t mark = push(w, 0, NULL, i);
        if(!lg_vis_null(v))
            walk_value(w, t, v, ext);
        else if(t->kind != LG_TYPE_PRIMITIVE || !null_placeholder_ok(obj, key, ext, i))
            report(w, LG_SEV_ERROR, "structure",
                   "null is only allowed in a primitive array, to line up with '_%s'",
                   key + ext);
        pop(w, mark);
        i++;
    }
    return (unsigned)i;
}

static void walk_object(walk *w, const lg_type_def *t, const cJSON *obj, int is_resource)
{
    if(!lg_vis_object(obj)) {
        report(w, LG_SEV_ERROR, "structure", "Expected a JSON object for %s, found %s", t->name,
               json_kind(obj));
        return;
    }
    if(!obj->child) {
        report(w, LG_SEV_ERROR, "structure", "An empty object is not allowed: leave it out");
        return;
    }
    /* only the elements with a minimum are counted (t->required): zeroing
     * and scanning all of them for every object was a measurable share of
     * validation */
    unsigned counts[MAX_ELEMS_COUNTED];
    if(t->required_known) {
        for(size_t r = 0; r < t->nrequired; r++)
            if(t->required[r] < MAX_ELEMS_COUNTED)
                counts[t->required[r]] = 0;
    } else {
        memset(counts, 0, (t->nelems < MAX_ELEMS_COUNTED ? t->nelems : MAX_ELEMS_COUNTED) *
                              sizeof(*counts));
    }
    const cJSON *item;
    for(item = obj->child; item; item = item->next) {
        const char *key = item->string;
        if(is_resource && key[0] == 'r' && strcmp(key, "resourceType") == 0)
            continue; /* (the first byte first: this runs for every key) */
        int ext = key[0] == '_';
        const lg_type_def *ct = NULL;
        const lg_elem_def *e = lg_defs_elem(t, key + ext, &ct);
        size_t mark = push(w, '.', key + ext, -1);
        if(!e) {
            report(w, LG_SEV_ERROR, "structure", "Unrecognized element '%s' in %s", key, t->name);
            pop(w, mark);
            continue;
        }
        if(!ct)
            ct = e->body ? e->body : e->ntypes ? e->types[0] : NULL;
        if(!ct) {
            pop(w, mark);
            continue; /* a type the definitions do not describe: nothing to check */
        }
        if(ext && ct->kind != LG_TYPE_PRIMITIVE) {
            report(w, LG_SEV_ERROR, "structure",
                   "'%s' is only allowed beside a primitive element", key);
            pop(w, mark);
            continue;
        }
        unsigned n = walk_property(w, obj, e, ct, item, ext);
        size_t idx = (size_t)(e - t->elems);
        if(e->min > 0 && idx < MAX_ELEMS_COUNTED && n > counts[idx])
            counts[idx] = n;
        pop(w, mark);
    }
    size_t nchk = t->required_known ? t->nrequired : t->nelems;
    for(size_t r = 0; r < nchk; r++) {
        size_t i = t->required_known ? t->required[r] : r;
        if(i >= MAX_ELEMS_COUNTED)
            break;
        const lg_elem_def *e = &t->elems[i];
        if(counts[i] >= e->min)
            continue;
        size_t mark = push(w, '.', e->name, -1);
        report(w, LG_SEV_ERROR, "required", "%s.%s%s is required (minimum %u, found %u)", t->name,
               e->name, e->choice ? "[x]" : "", e->min, counts[i]);
        pop(w, mark);
    }
}

static void walk_resource(walk *w, const cJSON *obj)
{
    if(!lg_vis_object(obj)) {
        report(w, LG_SEV_ERROR, "structure", "Expected a resource (a JSON object), found %s",
               json_kind(obj));
        return;
    }
    const cJSON *rt = lg_vget(obj, "resourceType");
    if(!lg_vis_string(rt)) {
        report(w, LG_SEV_ERROR, "structure", "A resource needs a resourceType string");
        return;
    }
    const lg_type_def *t = lg_defs_struct(w->d, rt->valuestring);
    if(!t || t->kind != LG_TYPE_RESOURCE || t->abstract) {
        report(w, LG_SEV_ERROR, "structure", "'%.64s' is not an R4 resource type",
               rt->valuestring);
        return;
    }
    /* Only the outermost resource starts the path with its type; a nested
     * one continues its container's ("Bundle.entry[0].resource.name"). */
    size_t mark = w->loc.n ? w->loc.n : push(w, 0, t->name, -1);
    walk_object(w, t, obj, 1);
    pop(w, mark);
}

lg_status lg_validate_resource(const lg_defs *defs, const cJSON *res, lg_issues *issues)
{
    walk w = {.d = defs, .issues = issues};
    w.element = lg_defs_struct(defs, "Element");
    w.base64 = lg_defs_struct(defs, "base64Binary");
    w.date = lg_defs_struct(defs, "date");
    w.date_time = lg_defs_struct(defs, "dateTime");
    w.instant = lg_defs_struct(defs, "instant");
    w.xhtml = lg_defs_struct(defs, "xhtml");
    if(!w.element) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL,
                      "No structure definitions are loaded; cannot validate");
        return LG_EINVAL;
    }
    /* One pair of offsets is enough: we only ask whether a value matches. */
    if(!(w.md = pcre2_match_data_create(1, NULL)))
        return LG_ENOMEM;
    walk_resource(&w, res);
    pcre2_match_data_free(w.md);
    lg_vloc_free(&w.loc);
    if(w.reported > LG_VALIDATE_MAX_ISSUES)
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                      "%zu more issues were found and not listed",
                      w.reported - LG_VALIDATE_MAX_ISSUES);
    return w.errors ? LG_EINVAL : LG_OK;
}
