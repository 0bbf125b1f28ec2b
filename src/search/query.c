/* query.c - parsing FHIR search parameters (name[:modifier]=value[,value])
 * into an lg_query that store backends translate.
 *
 * Decisions (see search.h for the value layout):
 *  - an empty value ("status=") or empty ORed values ("a,,b") are ignored, as
 *    FHIR servers commonly do; a parameter whose values are all empty adds
 *    nothing to the query;
 *  - token :text puts the text as written in s3 (s1 = s2 = NULL);
 *  - _id keeps the whole value in s2 (an id never contains '|');
 *  - reference values: "Type/id" and "Type/id/_history/n" give s1/s2;
 *    a bare id gives s2 (s1 = the :Type modifier or NULL); absolute
 *    references keep the text in s3 and, when they end in Type/id of a known
 *    type, s1/s2 as well;
 *  - number/quantity lo..hi is the implicit precision range of the value
 *    ("100" is [99.5, 100.5)), times 1000, hi inclusive; s1 is the number as
 *    written;
 *  - date values: a blank is read as '+', because a '+' in a zone offset
 *    often arrives form-decoded into a space.
 */
#include "loopgate/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/time.h"

#define QUERY_MAX_PARAMS 100
#define QUERY_MAX_VALUES 4096
#define QUERY_MAX_NAME 256
#define QUERY_MAX_VALUE (1024u * 1024)
#define FHIR_MAX_ID 64

static const char date_syntax[] =
    "[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.sss]][Z|(+|-)hh:mm]]]]";

static void value_clear(lg_query_value *v)
{
    free(v->s1);
    free(v->s2);
    free(v->s3);
    memset(v, 0, sizeof(*v));
}

static void param_clear(lg_query_param *p)
{
    for(size_t i = 0; i < p->nvalues; i++)
        value_clear(&p->values[i]);
    free(p->values);
    free(p->code);
    free(p->type_modifier);
    memset(p, 0, sizeof(*p));
}

void lg_query_free(lg_query *q)
{
    if(!q)
        return;
    for(size_t i = 0; i < q->nparams; i++)
        param_clear(&q->params[i]);
    free(q->params);
    free(q->type);
    memset(q, 0, sizeof(*q));
}

/* Position of the first unescaped sep in s[0..n), or n. */
static size_t find_unescaped(const char *s, size_t n, char sep)
{
    for(size_t i = 0; i < n; i++) {
        if(s[i] == '\\' && i + 1 < n)
            i++;
        else if(s[i] == sep)
            return i;
    }
    return n;
}

/* Copy s[0..n) resolving the FHIR escapes \, \| \$ \\ ; any other
 * backslash is kept as written. malloc'd, NULL on allocation failure. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if(!out)
        return NULL;
    for(size_t i = 0; i < n; i++) {
        if(s[i] == '\\' && i + 1 < n && strchr(",|$\\", s[i + 1]))
            i++;
        *o++ = s[i];
    }
    *o = '\0';
    return out;
}

static int valid_id(const char *s)
{
    size_t n = strlen(s);
    if(n == 0 || n > FHIR_MAX_ID)
        return 0;
    for(; *s; s++)
        if(!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
             *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int parse_prefix(const char **s, lg_prefix *out)
{
    static const char *const names[] = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"};
    *out = LG_PFX_EQ;
    for(size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if(strncmp(*s, names[i], 2) == 0) {
            *out = (lg_prefix)i;
            *s += 2;
            return 1;
        }
    }
    return 0;
}

/* A FHIR decimal (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) into
 * its implicit range x1000. Parsed by hand: strtod would follow LC_NUMERIC. */
static int parse_number(const char *s, int64_t *lo, int64_t *hi)
{
    const char *p = s;
    double mant = 0;
    int neg = 0, decimals = 0, exp = 0, exp_neg = 0, ndig = 0;
    if(*p == '-') {
        neg = 1;
        p++;
    }
    if(*p == '0' && p[1] >= '0' && p[1] <= '9')
        return -1;
    for(; *p >= '0' && *p <= '9'; p++, ndig++)
        mant = mant * 10 + (*p - '0');
    if(!ndig)
        return -1;
    if(*p == '.') {
        p++;
        if(!(*p >= '0' && *p <= '9'))
            return -1;
        for(; *p >= '0' && *p <= '9'; p++, decimals++)
            mant = mant * 10 + (*p - '0');
    }
    if(*p == 'e' || *p == 'E') {
        p++;
        if(*p == '+' || *p == '-')
            exp_neg = *p++ == '-';
        if(!(*p >= '0' && *p <= '9'))
            return -1;
        for(; *p >= '0' && *p <= '9'; p++)
            if(exp < 1000)
                exp = exp * 10 + (*p - '0');
        if(exp_neg)
            exp = -exp;
    }
    if(*p || decimals > 30 || exp > 30 || exp < -30)
        return -1;
    int pe = exp - decimals;
    double scaled = mant * pow(10.0, pe + 3) * (neg ? -1 : 1);
    double h = 0.5 * pow(10.0, pe + 3);
    if(fabs(scaled) + h >= 9.0e18)
        return -1;
    if(h < 0.5) {
        *lo = *hi = llround(scaled);
    } else {
        *lo = (int64_t)ceil(scaled - h);
        *hi = (int64_t)ceil(scaled + h) - 1;
        /* Past 2^53 a double's step can exceed the implicit range, so
         * scaled - h and scaled + h may round to the same value and leave
         * hi < lo, a range nothing matches: use the value itself, which is
         * what the indexer stores at that magnitude (llround of v*1000). */
        if(*hi < *lo)
            *lo = *hi = llround(scaled);
    }
    return 0;
}

static const char *type_name(lg_sp_type t)
{
    static const char *const n[] = {"number", "date",      "string",   "token", "reference",
                                    "composite", "quantity", "uri", "special"};
    return (size_t)t < sizeof(n) / sizeof(*n) ? n[t] : "unknown";
}

typedef struct parse_ctx {
    const lg_defs *defs;
    const lg_search_param *sp;
    const char *name; /* as given, for messages and issue locations */
    const char *type; /* resource type searched */
    lg_modifier mod;
    const char *type_mod;
    lg_issues *issues;
} parse_ctx;

static lg_status bad(const parse_ctx *c, const char *fmt_value, const char *value,
                     const char *why)
{
    lg_issues_add(c->issues, LG_SEV_ERROR, "invalid", c->name, fmt_value, value, c->name, why);
    return LG_EINVAL;
}

/* Split "Type/id[/_history/n]" at the end of s into s1/s2 when Type is a
 * resource type; returns 1 when it did. */
static int split_tail(const parse_ctx *c, const char *s, char **type, char **id, lg_status *st)
{
    const char *end = s + strlen(s), *h = strstr(s, "/_history/");
    const char *id_end = end;
    if(h && strchr(h + 10, '/') == NULL && h > s)
        id_end = h;
    const char *slash = NULL;
    for(const char *p = id_end; p > s; p--) {
        if(p[-1] == '/') {
            slash = p - 1;
            break;
        }
    }
    if(!slash || slash == s)
        return 0;
    const char *tstart = slash;
    while(tstart > s && tstart[-1] != '/')
        tstart--;
    char tbuf[128], ibuf[FHIR_MAX_ID + 1];
    size_t tl = (size_t)(slash - tstart), il = (size_t)(id_end - slash - 1);
    if(tl == 0 || tl >= sizeof(tbuf) || il == 0 || il >= sizeof(ibuf))
        return 0;
    memcpy(tbuf, tstart, tl);
    tbuf[tl] = '\0';
    memcpy(ibuf, slash + 1, il);
    ibuf[il] = '\0';
    if(!lg_defs_is_resource_type(c->defs, tbuf) || !valid_id(ibuf))
        return 0;
    *type = strdup(tbuf);
    *id = strdup(ibuf);
    if(!*type || !*id) {
        free(*type);
        free(*id);
        *type = *id = NULL;
        *st = LG_ENOMEM;
        return 0;
    }
    return 1;
}

static lg_status parse_reference(const parse_ctx *c, const char *v, lg_query_value *out)
{
    static const char fmt[] = "Invalid reference '%s' for parameter '%s' (%s)";
    lg_status st = LG_OK;
    int absolute = strstr(v, "://") != NULL || strncmp(v, "urn:", 4) == 0;
    if(v[0] == '#')
        return bad(c, fmt, v, "contained references cannot be searched");
    if(absolute) {
        if(c->mod == LG_MOD_TYPE)
            return bad(c, fmt, v, "with a :Type modifier the value must be an id");
        if(!(out->s3 = strdup(v)))
            return LG_ENOMEM;
        if(strncmp(v, "urn:", 4) != 0)
            split_tail(c, v, &out->s1, &out->s2, &st);
        return st;
    }
    if(!strchr(v, '/')) {
        if(!valid_id(v))
            return bad(c, fmt, v, "expected Type/id, id or an absolute URL");
        out->s2 = strdup(v);
        if(c->type_mod)
            out->s1 = strdup(c->type_mod);
        return out->s2 && (!c->type_mod || out->s1) ? LG_OK : LG_ENOMEM;
    }
    /* Relative: exactly Type/id or Type/id/_history/n. */
    const char *slash = strchr(v, '/'), *rest = slash + 1, *more = strchr(rest, '/');
    if(more) {
        const char *n = more + 10;
        if(strncmp(more, "/_history/", 10) != 0 || !*n || strspn(n, "0123456789") != strlen(n))
            return bad(c, fmt, v, "expected Type/id or Type/id/_history/version");
    }
    size_t tl = (size_t)(slash - v), il = more ? (size_t)(more - rest) : strlen(rest);
    if(!(out->s1 = strndup(v, tl)) || !(out->s2 = strndup(rest, il)))
        return LG_ENOMEM;
    if(!lg_defs_is_resource_type(c->defs, out->s1)) {
        lg_issues_add(c->issues, LG_SEV_ERROR, "invalid", c->name,
                      "Invalid reference '%s' for parameter '%s': '%s' is not a resource type", v,
                      c->name, out->s1);
        return LG_EINVAL;
    }
    if(!valid_id(out->s2))
        return bad(c, fmt, v, "the id must be 1-64 characters of A-Z a-z 0-9 - .");
    if(c->type_mod && strcmp(c->type_mod, out->s1) != 0) {
        lg_issues_add(c->issues, LG_SEV_ERROR, "invalid", c->name,
                      "Reference '%s' does not match the modifier of parameter '%s'", v, c->name);
        return LG_EINVAL;
    }
    return LG_OK;
}

/* One ORed value, still escaped: raw[0..n). */
static lg_status parse_value(const parse_ctx *c, const char *raw, size_t n, lg_query_value *out)
{
    lg_status st = LG_OK;
    char *v = NULL;
    memset(out, 0, sizeof(*out));
    if(c->mod == LG_MOD_MISSING) {
        if(n == 4 && memcmp(raw, "true", 4) == 0)
            out->missing = 1;
        else if(n == 5 && memcmp(raw, "false", 5) == 0)
            out->missing = 0;
        else {
            if(!(v = unescape(raw, n)))
                return LG_ENOMEM;
            st = bad(c, "Invalid value '%s' for parameter '%s' (%s)", v,
                     ":missing takes true or false");
        }
        free(v);
        return st;
    }
    if(c->sp->type == LG_SP_TOKEN && c->mod != LG_MOD_TEXT && strcmp(c->sp->code, "_id") != 0) {
        size_t bar = find_unescaped(raw, n, '|');
        if(bar == n) {
            out->s2 = unescape(raw, n);
            return out->s2 ? LG_OK : LG_ENOMEM;
        }
        if(bar == 0 && n == 1) {
            lg_issues_add(c->issues, LG_SEV_ERROR, "invalid", c->name,
                          "Invalid token '|' for parameter '%s' (expected [system]|[code] or code)",
                          c->name);
            return LG_EINVAL;
        }
        if(!(out->s1 = unescape(raw, bar)))
            return LG_ENOMEM;
        if(bar + 1 < n && !(out->s2 = unescape(raw + bar + 1, n - bar - 1)))
            return LG_ENOMEM;
        return LG_OK;
    }
    if(c->sp->type == LG_SP_QUANTITY) {
        /* [prefix]number or [prefix]number|system|code (system, code may be empty) */
        size_t b1 = find_unescaped(raw, n, '|'), b2 = n, tail = 0;
        if(b1 < n) {
            b2 = b1 + 1 + find_unescaped(raw + b1 + 1, n - b1 - 1, '|');
            tail = b2 < n ? find_unescaped(raw + b2 + 1, n - b2 - 1, '|') : 0;
        }
        char *num = unescape(raw, b1);
        const char *p = num;
        if(!num)
            return LG_ENOMEM;
        parse_prefix(&p, &out->prefix);
        int shape_ok = b1 == n || (b2 < n && tail == n - b2 - 1);
        if(!shape_ok || parse_number(p, &out->lo, &out->hi)) {
            if((v = unescape(raw, n)))
                st = bad(c, "Invalid quantity '%s' for parameter '%s' (expected %s)", v,
                         "[prefix]number[|system|code]");
            else
                st = LG_ENOMEM;
        } else if(!(out->s1 = strdup(p))) {
            st = LG_ENOMEM;
        } else if(b1 < n) {
            if(b2 > b1 + 1 && !(out->s2 = unescape(raw + b1 + 1, b2 - b1 - 1)))
                st = LG_ENOMEM;
            else if(b2 + 1 < n && !(out->s3 = unescape(raw + b2 + 1, n - b2 - 1)))
                st = LG_ENOMEM;
        }
        free(num);
        free(v);
        return st;
    }
    if(!(v = unescape(raw, n)))
        return LG_ENOMEM;
    switch(c->sp->type) {
    case LG_SP_TOKEN: /* _id or :text */
        if(c->mod == LG_MOD_TEXT)
            out->s3 = v;
        else
            out->s2 = v;
        return LG_OK;
    case LG_SP_STRING:
        out->s2 = v;
        if(!(out->s1 = lg_search_normalise(v)))
            return LG_ENOMEM;
        return LG_OK;
    case LG_SP_URI:
        out->s1 = v;
        return LG_OK;
    case LG_SP_REFERENCE:
        st = parse_reference(c, v, out);
        break;
    case LG_SP_DATE: {
        const char *p = v;
        parse_prefix(&p, &out->prefix);
        for(char *q = v; *q; q++)
            if(*q == ' ')
                *q = '+';
        if(lg_time_parse_range(p, &out->lo, &out->hi))
            st = bad(c, "Invalid date '%s' for parameter '%s' (expected %s)", v, date_syntax);
        break;
    }
    case LG_SP_NUMBER: {
        const char *p = v;
        parse_prefix(&p, &out->prefix);
        if(parse_number(p, &out->lo, &out->hi))
            st = bad(c, "Invalid number '%s' for parameter '%s' (expected %s)", v,
                     "[prefix]decimal, e.g. 100, ge2.5, 1e3");
        else if(!(out->s1 = strdup(p)))
            st = LG_ENOMEM;
        break;
    }
    default:
        st = LG_EINTERNAL;
        break;
    }
    free(v);
    return st;
}

/* Which modifiers each parameter type accepts. */
static lg_status parse_modifier(parse_ctx *c, const char *m)
{
    lg_sp_type t = c->sp->type;
    lg_modifier mod = LG_MOD_NONE;
    int ok = 0;
    if(!m) {
        c->mod = LG_MOD_NONE;
        return LG_OK;
    }
    if(strcmp(m, "missing") == 0) {
        mod = LG_MOD_MISSING;
        ok = 1;
    } else if(strcmp(m, "exact") == 0 || strcmp(m, "contains") == 0) {
        mod = m[0] == 'e' ? LG_MOD_EXACT : LG_MOD_CONTAINS;
        ok = t == LG_SP_STRING;
    } else if(strcmp(m, "not") == 0 || strcmp(m, "text") == 0) {
        mod = m[0] == 'n' ? LG_MOD_NOT : LG_MOD_TEXT;
        ok = t == LG_SP_TOKEN && strcmp(c->sp->code, "_id") != 0;
    } else if(strcmp(m, "identifier") == 0 && t == LG_SP_REFERENCE) {
        lg_issues_add(c->issues, LG_SEV_ERROR, "not-supported", c->name,
                      "The :identifier modifier is not supported (parameter '%s')", c->name);
        return LG_EINVAL;
    } else if(t == LG_SP_REFERENCE && lg_defs_is_resource_type(c->defs, m)) {
        int allowed = c->sp->ntargets == 0;
        for(size_t i = 0; i < c->sp->ntargets; i++)
            allowed |= strcmp(c->sp->targets[i], m) == 0;
        if(!allowed) {
            lg_issues_add(c->issues, LG_SEV_ERROR, "invalid", c->name,
                          "Parameter '%s' of %s cannot refer to a %s", c->sp->code, c->type, m);
            return LG_EINVAL;
        }
        mod = LG_MOD_TYPE;
        c->type_mod = m;
        ok = 1;
    } else {
        static const char *const known[] = {"above", "below", "in", "not-in", "of-type",
                                            "identifier", "iterate"};
        int is_known = 0;
        for(size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
            is_known |= strcmp(m, known[i]) == 0;
        lg_issues_add(c->issues, LG_SEV_ERROR, is_known ? "not-supported" : "invalid", c->name,
                      is_known ? "The :%s modifier is not supported on %s parameter '%s'"
                               : "Unknown modifier ':%s' on %s parameter '%s'",
                      m, type_name(t), c->sp->code);
        return LG_EINVAL;
    }
    if(!ok) {
        lg_issues_add(c->issues, LG_SEV_ERROR, "invalid", c->name,
                      "The :%s modifier does not apply to %s parameter '%s'", m, type_name(t),
                      c->sp->code);
        return LG_EINVAL;
    }
    c->mod = mod;
    return LG_OK;
}

lg_status lg_query_add_param(const lg_defs *defs, lg_query *q, const char *name,
                             const char *value, lg_issues *issues)
{
    char code[QUERY_MAX_NAME + 1];
    char *mod = NULL;
    lg_query_param p = {0};
    parse_ctx c = {.defs = defs, .name = name, .issues = issues};
    lg_status st = LG_OK;
    size_t vlen;

    if(!defs || !q || !q->type || !name || !value)
        return LG_EINTERNAL;
    c.type = q->type;
    if(!lg_defs_type(defs, q->type)) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", name,
                      "Resource type '%s' is not served", q->type);
        return LG_EINVAL;
    }
    if(strlen(name) > QUERY_MAX_NAME || !*name) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                      "Search parameter names must be 1 to %d characters", QUERY_MAX_NAME);
        return LG_EINVAL;
    }
    if((vlen = strlen(value)) > QUERY_MAX_VALUE) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", name,
                      "The value of parameter '%s' is longer than %u bytes", name,
                      QUERY_MAX_VALUE);
        return LG_ETOOLARGE;
    }
    if(q->nparams >= QUERY_MAX_PARAMS) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", name,
                      "A search may have at most %d parameters", QUERY_MAX_PARAMS);
        return LG_ETOOLARGE;
    }
    memcpy(code, name, strlen(name) + 1);
    if((mod = strchr(code, ':')))
        *mod++ = '\0';
    if(strchr(code, '.')) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", name,
                      "Chained search parameters are not supported ('%s')", name);
        return LG_EINVAL;
    }
    if(!(c.sp = lg_defs_param(defs, q->type, code))) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", name,
                      "Unknown search parameter '%s' for resource type %s", code, q->type);
        return LG_EINVAL;
    }
    if(c.sp->type == LG_SP_COMPOSITE || c.sp->type == LG_SP_SPECIAL) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", name,
                      "Search parameter '%s' (%s) is not supported", code,
                      type_name(c.sp->type));
        return LG_EINVAL;
    }
    if((st = parse_modifier(&c, mod)))
        return st;

    for(size_t start = 0; start <= vlen;) {
        size_t len = find_unescaped(value + start, vlen - start, ',');
        if(len > 0) {
            if(p.nvalues == QUERY_MAX_VALUES) {
                lg_issues_add(issues, LG_SEV_ERROR, "too-costly", name,
                              "Parameter '%s' has more than %d values", name, QUERY_MAX_VALUES);
                st = LG_ETOOLARGE;
                goto fail;
            }
            lg_query_value *nv = realloc(p.values, (p.nvalues + 1) * sizeof(*nv));
            if(!nv) {
                st = LG_ENOMEM;
                goto fail;
            }
            p.values = nv;
            st = parse_value(&c, value + start, len, &p.values[p.nvalues]);
            p.nvalues++; /* counted even on failure so param_clear frees it */
            if(st)
                goto fail;
        }
        start += len + 1;
    }
    if(p.nvalues == 0)
        return LG_OK;
    p.type = c.sp->type;
    p.modifier = c.mod;
    if(!(p.code = strdup(code)) || (c.type_mod && !(p.type_modifier = strdup(c.type_mod)))) {
        st = LG_ENOMEM;
        goto fail;
    }
    lg_query_param *np = realloc(q->params, (q->nparams + 1) * sizeof(*np));
    if(!np) {
        st = LG_ENOMEM;
        goto fail;
    }
    q->params = np;
    q->params[q->nparams++] = p;
    return LG_OK;
fail:
    if(st == LG_ENOMEM)
        lg_issues_add(issues, LG_SEV_ERROR, "exception", name, "Out of memory parsing '%s'",
                      name);
    param_clear(&p);
    return st;
}
