/* query.c - FHIR HealthcareService search parameters -> HSDS /services
 * parameters (docs/forwarding.md, Style C table), bounded and strict: a
 * parameter the directory cannot answer is refused, never dropped, so a
 * client never takes a wider result for a filtered one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter.h"
#include "loopgate/buf.h"
#include "hsds_query.h"

void hsds_query_free(hsds_query *q)
{
    if(!q)
        return;
    free(q->search);
    free(q->taxonomy);
    free(q->organization);
    free(q->postcode);
    for(size_t i = 0; i < q->n; i++) {
        free(q->names[i]);
        free(q->values[i]);
    }
    memset(q, 0, sizeof *q);
}

static int hexval(char c)
{
    if(c >= '0' && c <= '9')
        return c - '0';
    if(c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if(c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode n bytes of s into a new string ('+' is a space). NULL
 * with *bad set on a broken escape or a decoded NUL or control byte; NULL
 * with *bad clear on ENOMEM. */
static char *decode(const char *s, size_t n, int *bad)
{
    *bad = 0;
    char *out = malloc(n + 1), *o = out;
    if(!out)
        return NULL;
    for(size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if(c == '%') {
            if(n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                goto bad;
            c = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        } else if(c == '+') {
            c = ' ';
        }
        if(c < 0x20 || c == 0x7f)
            goto bad;
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
bad:
    free(out);
    *bad = 1;
    return NULL;
}

/* A whole number in [0, 999999999]; -1 otherwise. */
static long number(const char *v)
{
    size_t n = strlen(v);
    if(n == 0 || n > 9)
        return -1;
    long x = 0;
    for(size_t i = 0; i < n; i++) {
        if(v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* Codes of a token list "sys|a,b" -> "a,b" (each code without its system). */
static char *token_codes(const char *v)
{
    size_t n = strlen(v);
    char *out = malloc(n + 1), *o = out;
    if(!out)
        return NULL;
    const char *p = v;
    while(*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *bar = memchr(p, '|', len);
        const char *code = bar ? bar + 1 : p;
        size_t cl = len - (size_t)(code - p);
        if(memchr(code, '|', cl) || cl == 0) {
            free(out);
            return NULL;
        }
        if(o != out)
            *o++ = ',';
        memcpy(o, code, cl);
        o += cl;
        p = end ? end + 1 : p + len;
        if(end && !*p) { /* trailing comma */
            free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

/* The Organization id of "Organization/7", ".../Organization/7" or "7". */
static char *organization_id(const char *v)
{
    const char *id = v;
    const char *at = strstr(v, "Organization/");
    if(at && (at == v || at[-1] == '/'))
        id = at + strlen("Organization/");
    if(!*id || strchr(id, '/') || strchr(id, ','))
        return NULL;
    return strdup(id);
}

enum { P_SEARCH, P_TAXONOMY, P_ORG, P_POSTCODE, P_COUNT, P_PAGE, P_DROP };

static const struct {
    const char *fhir;
    int target;
} params[] = {
    { "name", P_SEARCH },
    { "_text", P_SEARCH },
    { "_content", P_SEARCH },
    { "service-category", P_TAXONOMY },
    { "service-type", P_TAXONOMY },
    { "organization", P_ORG },
    { "location.address-postalcode", P_POSTCODE },
    { "address-postalcode", P_POSTCODE },
    { "_count", P_COUNT },
    { "_page", P_PAGE },
    { "_format", P_DROP },
    { "_pretty", P_DROP },
};

lg_status hsds_query_parse(const char *query, hsds_query *q, lg_issues *issues)
{
    memset(q, 0, sizeof *q);
    if(!query)
        return LG_OK;
    size_t qlen = strnlen(query, HSDS_MAX_QUERY + 1);
    if(qlen > HSDS_MAX_QUERY) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "the query is longer than %d bytes", HSDS_MAX_QUERY);
        return LG_EINVAL;
    }
    char *name = NULL, *value = NULL;
    lg_status st = LG_OK;
    int seen[P_DROP] = { 0 };
    const char *p = query, *end = query + qlen;
    while(p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        int bad = 0;
        if(stop == p) { /* "a=1&&b=2" */
            p = stop + 1;
            continue;
        }
        name = decode(p, (size_t)((eq ? eq : stop) - p), &bad);
        if(!name) {
            st = bad ? LG_EINVAL : LG_ENOMEM;
            if(bad)
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL, "a parameter name has a broken percent-escape");
            goto fail;
        }
        value = eq ? decode(eq + 1, (size_t)(stop - eq - 1), &bad) : strdup("");
        if(!value) {
            st = bad ? LG_EINVAL : LG_ENOMEM;
            if(bad)
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", name, "the value of %s has a broken percent-escape", name);
            goto fail;
        }
        int target = -1;
        for(size_t i = 0; i < sizeof params / sizeof params[0]; i++)
            if(strcmp(params[i].fhir, name) == 0)
                target = params[i].target;
        if(target < 0) {
            lg_issues_add(issues, LG_SEV_ERROR, "not-supported", name,
                          "the directory cannot search HealthcareService by '%.100s'", name);
            st = LG_EINVAL;
            goto fail;
        }
        if(strlen(value) > HSDS_MAX_VALUE) {
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", name, "the value of %s is longer than %d bytes", name,
                          HSDS_MAX_VALUE);
            st = LG_EINVAL;
            goto fail;
        }
        if(target == P_DROP || !*value) {
            free(name);
            free(value);
            name = value = NULL;
            p = stop + 1;
            continue;
        }
        if(seen[target]++) {
            lg_issues_add(issues, LG_SEV_ERROR, "not-supported", name,
                          "%s (or a parameter the directory answers the same way) is given twice", name);
            st = LG_EINVAL;
            goto fail;
        }
        if(q->n >= HSDS_MAX_PARAMS) {
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", name, "more than %d parameters", HSDS_MAX_PARAMS);
            st = LG_EINVAL;
            goto fail;
        }
        char **slot = NULL;
        char *mapped = NULL;
        long x;
        switch(target) {
        case P_SEARCH:
            slot = &q->search;
            mapped = strdup(value);
            break;
        case P_TAXONOMY:
            slot = &q->taxonomy;
            if(!(mapped = token_codes(value)))
                goto bad_value;
            break;
        case P_ORG:
            slot = &q->organization;
            if(!(mapped = organization_id(value)))
                goto bad_value;
            break;
        case P_POSTCODE:
            slot = &q->postcode;
            mapped = strdup(value);
            break;
        case P_COUNT:
            if((x = number(value)) < 0)
                goto bad_value;
            /* _count=0 asks for no entries; HSDS pages hold at least one. */
            q->per_page = x < 1 ? 1 : x > HSDS_MAX_COUNT ? HSDS_MAX_COUNT : (int)x;
            free(value);
            if(asprintf(&value, "%d", q->per_page) < 0) {
                value = NULL;
                st = LG_ENOMEM;
                goto fail;
            }
            break;
        case P_PAGE:
            if((x = number(value)) < 1 || x > 1000000)
                goto bad_value;
            q->page = (int)x;
            break;
        }
        if(slot) {
            if(!mapped) {
                st = LG_ENOMEM;
                goto fail;
            }
            *slot = mapped;
        }
        if(target == P_PAGE) { /* the links set their own _page */
            free(name);
            free(value);
        } else {
            q->names[q->n] = name;
            q->values[q->n++] = value;
        }
        name = value = NULL;
        p = stop + 1;
        continue;
    bad_value:
        lg_issues_add(issues, LG_SEV_ERROR, "value", name, "'%.100s' is not a value %s accepts", value, name);
        st = LG_EINVAL;
        goto fail;
    }
    return LG_OK;
fail:
    free(name);
    free(value);
    return st;
}

char *hsds_query_fhir(const hsds_query *q, int page)
{
    lg_buf b;
    lg_buf_init(&b, HSDS_MAX_QUERY * 4);
    for(size_t i = 0; i < q->n; i++) {
        char *n = lg_fwd_escape(q->names[i]), *v = lg_fwd_escape(q->values[i]);
        lg_status st = n && v ? lg_buf_printf(&b, "%s%s=%s", i ? "&" : "", n, v) : LG_ENOMEM;
        free(n);
        free(v);
        if(st != LG_OK)
            goto fail;
    }
    if(page > 0 && lg_buf_printf(&b, "%s_page=%d", q->n ? "&" : "", page) != LG_OK)
        goto fail;
    size_t len;
    char *out = lg_buf_take(&b, &len);
    return out ? out : strdup("");
fail:
    lg_buf_free(&b);
    return NULL;
}
