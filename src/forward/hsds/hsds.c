/* hsds.c - adapter "hsds": an Open Referral HSDS 3.0 directory answering
 * GET /HealthcareService (docs/forwarding.md, Style C).
 *
 * Pure translation (adapter.h): a FHIR search query becomes an HSDS
 * /services query (query.c), an HSDS page becomes a FHIR searchset Bundle
 * of HealthcareService with contained Locations (here). Everything taken
 * from the directory is bounded and cleaned so the Bundle stays valid R4
 * whatever the directory sends. The state never changes after configure. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter.h"
#include "forward/adapter_util.h"
#include "hsds_query.h"
#include "loopgate/buf.h"

/* Bounds on a page: services, and the members of each taken. */
#define HSDS_MAX_SERVICES 1000
#define HSDS_MAX_PHONES 10
#define HSDS_MAX_LANGUAGES 20
#define HSDS_MAX_ATTRIBUTES 50
#define HSDS_MAX_LOCATIONS 20
#define HSDS_MAX_STRING 1024
#define HSDS_MAX_DESCRIPTION 8192

typedef struct hsds_state {
    char *api_key; /* optional: sent as X-API-Key when the directory wants one */
} hsds_state;

static void hsds_free_state(void *state)
{
    hsds_state *s = state;
    if(!s)
        return;
    lg_fwd_wipe_free(s->api_key);
    free(s);
}

static lg_status hsds_configure(const lg_fwd_platform *p, const cJSON *obj, void **state, lg_issues *issues)
{
    *state = NULL;
    hsds_state *s = calloc(1, sizeof *s);
    if(!s)
        return LG_ENOMEM;
    lg_status st = lg_fwd_setting_string(p, obj, "api_key", 0, &s->api_key, issues);
    if(st != LG_OK)
        goto fail;
    *state = s;
    return LG_OK;
fail:
    hsds_free_state(s);
    return st;
}

/* ------------------------------------------------------------ request */

static lg_status add_param(lg_buf *b, const char *name, const char *value)
{
    char *v = lg_fwd_escape(value);
    lg_status st = v ? lg_buf_printf(b, "%c%s=%s", b->len ? '&' : '?', name, v) : LG_ENOMEM;
    free(v);
    return st;
}

static lg_status hsds_build_search(const lg_fwd_platform *p, void *state, const char *query, lg_fwd_req *out,
                                   lg_issues *issues)
{
    hsds_state *s = state;
    hsds_query q;
    lg_buf b;
    char num[16];
    lg_buf_init(&b, HSDS_MAX_QUERY * 4);
    lg_fwd_req_clear(out);
    lg_status st = hsds_query_parse(query, &q, issues);
    if(st != LG_OK)
        goto fail;
    if((q.search && (st = add_param(&b, "search", q.search)) != LG_OK) ||
       (q.taxonomy && (st = add_param(&b, "taxonomy_term_id", q.taxonomy)) != LG_OK) ||
       (q.organization && (st = add_param(&b, "organization_id", q.organization)) != LG_OK) ||
       (q.postcode && (st = add_param(&b, "postcode", q.postcode)) != LG_OK))
        goto fail;
    if(q.page > 0) {
        snprintf(num, sizeof num, "%d", q.page);
        if((st = add_param(&b, "page", num)) != LG_OK)
            goto fail;
    }
    if(q.per_page > 0) {
        snprintf(num, sizeof num, "%d", q.per_page);
        if((st = add_param(&b, "per_page", num)) != LG_OK)
            goto fail;
    }
    memcpy(out->method, "GET", 4);
    st = LG_ENOMEM;
    if(lg_fwd_req_url(out, p->base_url, "/services%s", b.data ? b.data : "") != LG_OK ||
       lg_fwd_req_header(out, "Accept: application/json") != LG_OK ||
       (s && s->api_key && lg_fwd_req_header(out, "X-API-Key: %s", s->api_key) != LG_OK))
        goto fail;
    lg_buf_free(&b);
    hsds_query_free(&q);
    return LG_OK;
fail:
    lg_buf_free(&b);
    hsds_query_free(&q);
    lg_fwd_req_clear(out);
    return st;
}

/* ------------------------------------------------------------ response */

/* A FHIR string from a directory value: trimmed, control bytes (and, for
 * one-line values, line breaks) made spaces, cut at max bytes on a UTF-8
 * boundary. Caller frees; NULL when v is no string or nothing is left. */
static char *clean(const cJSON *v, size_t max, int multiline)
{
    if(!cJSON_IsString(v) || !v->valuestring)
        return NULL;
    const char *s = v->valuestring;
    size_t n = strlen(s);
    while(n && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n')) {
        s++;
        n--;
    }
    while(n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if(n > max) {
        n = max;
        while(n && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n] continues a sequence: cut before it */
            n--;
        while(n && s[n - 1] == ' ')
            n--;
    }
    if(!n)
        return NULL;
    char *out = malloc(n + 1);
    if(!out)
        return NULL;
    for(size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f ? ' ' : (char)c;
    }
    out[n] = '\0';
    return out;
}

/* A FHIR code: non-empty, no leading, trailing or doubled whitespace. */
static char *clean_code(const cJSON *v)
{
    char *c = clean(v, 256, 0);
    if(c && strstr(c, "  ")) {
        free(c);
        return NULL;
    }
    return c;
}

/* A FHIR id ([A-Za-z0-9-.]{1,64}). */
static int fhir_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if(n == 0 || n > 64)
        return 0;
    for(size_t i = 0; i < n; i++) {
        char c = s[i];
        if(!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* A URI usable as Coding.system: a scheme and no whitespace. */
static int uri_like(const char *s)
{
    if(!s || !strchr(s, ':'))
        return 0;
    for(const char *p = s; *p; p++)
        if(*p == ' ' || *p == '\t')
            return 0;
    return 1;
}

/* Set key to the cleaned string of v when there is one (takes s). 0 or -1. */
static int put_owned(cJSON *o, const char *key, char *s)
{
    if(!s)
        return 0;
    cJSON *v = cJSON_AddStringToObject(o, key, s);
    free(s);
    return v ? 0 : -1;
}

static int put(cJSON *o, const char *key, const char *s)
{
    return !s || cJSON_AddStringToObject(o, key, s) ? 0 : -1;
}

static cJSON *array_of(cJSON *o, const char *key)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    return a ? a : cJSON_AddArrayToObject(o, key);
}

/* identifier [{system, value}] with the directory's id of the record. */
static int add_identifier(cJSON *res, const char *system, const char *id)
{
    cJSON *arr = cJSON_AddArrayToObject(res, "identifier"), *i = cJSON_CreateObject();
    if(!arr || !i || !cJSON_AddItemToArray(arr, i)) {
        cJSON_Delete(i);
        return -1;
    }
    return put(i, "system", system) || put(i, "value", id) ? -1 : 0;
}

static int add_telecom(cJSON *hs, const char *system, char *value)
{
    if(!value)
        return 0;
    cJSON *arr = array_of(hs, "telecom"), *t = cJSON_CreateObject();
    if(!arr || !t || !cJSON_AddItemToArray(arr, t)) {
        cJSON_Delete(t);
        free(value);
        return -1;
    }
    return put(t, "system", system) || put_owned(t, "value", value) ? -1 : 0;
}

/* A CodeableConcept {coding: [{system, code, display}], text} from parts
 * (owned; any may be NULL). NULL when there is nothing to say or on
 * ENOMEM (*oom set). */
static cJSON *concept(char *system, char *code, char *display, int *oom)
{
    cJSON *cc = NULL;
    if(!code && !display)
        goto done;
    if(!(cc = cJSON_CreateObject()))
        goto fail;
    if(code) {
        cJSON *coding = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(cc, "coding");
        if(!coding || !arr || !cJSON_AddItemToArray(arr, coding)) {
            cJSON_Delete(coding);
            goto fail;
        }
        if((system && put(coding, "system", system)) || put(coding, "code", code) ||
           (display && put(coding, "display", display)))
            goto fail;
    }
    if(display && put(cc, "text", display))
        goto fail;
done:
    free(system);
    free(code);
    free(display);
    return cc;
fail:
    *oom = 1;
    cJSON_Delete(cc);
    cc = NULL;
    goto done;
}

static int add_concept(cJSON *hs, const char *key, cJSON *cc)
{
    cJSON *arr = cc ? array_of(hs, key) : NULL;
    if(cc && (!arr || !cJSON_AddItemToArray(arr, cc))) {
        cJSON_Delete(cc);
        return -1;
    }
    return 0;
}

/* Taxonomy terms: an SDOHCC category code (the coordination model's need
 * categories) is a category; every other term a type. */
static int add_terms(cJSON *hs, const cJSON *attrs)
{
    int taken = 0, oom = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, attrs) {
        if(taken++ >= HSDS_MAX_ATTRIBUTES)
            break;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(a, "taxonomy_term");
        if(!cJSON_IsObject(t))
            continue;
        char *code = clean_code(cJSON_GetObjectItemCaseSensitive(t, "code"));
        char *term = clean(cJSON_GetObjectItemCaseSensitive(t, "term"), HSDS_MAX_STRING, 0);
        char *tax = clean(cJSON_GetObjectItemCaseSensitive(t, "taxonomy"), HSDS_MAX_STRING, 0);
        lg_sdoh_category cat;
        int sdoh = code && lg_sdoh_category_parse(code, &cat) == 0;
        char *system = sdoh ? strdup(LG_SDOHCC_CODES) : uri_like(tax) ? tax : NULL;
        if(system != tax)
            free(tax);
        if(sdoh && !system)
            oom = 1;
        cJSON *cc = concept(system, code, term, &oom);
        if(oom || add_concept(hs, sdoh ? "category" : "type", cc) != 0)
            return -1;
    }
    return 0;
}

static int add_languages(cJSON *hs, const cJSON *langs)
{
    int taken = 0, oom = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, langs) {
        if(taken++ >= HSDS_MAX_LANGUAGES)
            break;
        char *code = clean_code(cJSON_GetObjectItemCaseSensitive(l, "code"));
        char *name = clean(cJSON_GetObjectItemCaseSensitive(l, "name"), HSDS_MAX_STRING, 0);
        /* BCP-47 tags have no spaces; anything else is kept as text only. */
        if(code && strchr(code, ' ')) {
            free(code);
            code = NULL;
        }
        char *system = code ? strdup("urn:ietf:bcp:47") : NULL;
        if(code && !system)
            oom = 1;
        cJSON *cc = concept(system, code, name, &oom);
        if(oom || add_concept(hs, "communication", cc) != 0)
            return -1;
    }
    return 0;
}

/* A contained Location per service_at_location, referenced from location. */
static int add_locations(cJSON *hs, const cJSON *sals, const char *loc_system)
{
    int taken = 0, n = 0;
    const cJSON *sal;
    cJSON_ArrayForEach(sal, sals) {
        if(taken++ >= HSDS_MAX_LOCATIONS)
            break;
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(sal, "location");
        if(!cJSON_IsObject(l))
            continue;
        char cid[16], ref[20];
        snprintf(cid, sizeof cid, "loc%d", ++n);
        snprintf(ref, sizeof ref, "#%s", cid);
        cJSON *loc = cJSON_CreateObject(), *contained = array_of(hs, "contained");
        if(!loc || !contained || !cJSON_AddItemToArray(contained, loc)) {
            cJSON_Delete(loc);
            return -1;
        }
        char *lid = clean(cJSON_GetObjectItemCaseSensitive(l, "id"), 256, 0);
        if(put(loc, "resourceType", "Location") || put(loc, "id", cid) ||
           (lid && add_identifier(loc, loc_system, lid)) ||
           put_owned(loc, "name", clean(cJSON_GetObjectItemCaseSensitive(l, "name"), HSDS_MAX_STRING, 0))) {
            free(lid);
            return -1;
        }
        free(lid);
        /* Location.address is 0..1: the first address. */
        const cJSON *ad = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "addresses"), 0);
        if(cJSON_IsObject(ad)) {
            cJSON *a = cJSON_CreateObject();
            if(!a)
                return -1;
            char *l1 = clean(cJSON_GetObjectItemCaseSensitive(ad, "address_1"), HSDS_MAX_STRING, 0);
            char *l2 = clean(cJSON_GetObjectItemCaseSensitive(ad, "address_2"), HSDS_MAX_STRING, 0);
            int bad = 0;
            if(l1 || l2) {
                cJSON *lines = cJSON_AddArrayToObject(a, "line");
                bad = !lines || (l1 && !cJSON_AddItemToArray(lines, cJSON_CreateString(l1))) ||
                      (l2 && !cJSON_AddItemToArray(lines, cJSON_CreateString(l2)));
            }
            free(l1);
            free(l2);
            if(bad || put_owned(a, "city", clean(cJSON_GetObjectItemCaseSensitive(ad, "city"), HSDS_MAX_STRING, 0)) ||
               put_owned(a, "state", clean(cJSON_GetObjectItemCaseSensitive(ad, "state_province"), HSDS_MAX_STRING, 0)) ||
               put_owned(a, "postalCode", clean(cJSON_GetObjectItemCaseSensitive(ad, "postal_code"), 64, 0)) ||
               put_owned(a, "country", clean(cJSON_GetObjectItemCaseSensitive(ad, "country"), 64, 0))) {
                cJSON_Delete(a);
                return -1;
            }
            if(cJSON_GetArraySize(a) > 0) {
                if(!cJSON_AddItemToObject(loc, "address", a)) {
                    cJSON_Delete(a);
                    return -1;
                }
            } else {
                cJSON_Delete(a);
            }
        }
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(l, "latitude");
        const cJSON *lon = cJSON_GetObjectItemCaseSensitive(l, "longitude");
        if(cJSON_IsNumber(lat) && cJSON_IsNumber(lon) && lat->valuedouble >= -90 && lat->valuedouble <= 90 &&
           lon->valuedouble >= -180 && lon->valuedouble <= 180) {
            cJSON *pos = cJSON_AddObjectToObject(loc, "position");
            if(!pos || !cJSON_AddNumberToObject(pos, "longitude", lon->valuedouble) ||
               !cJSON_AddNumberToObject(pos, "latitude", lat->valuedouble))
                return -1;
        }
        cJSON *locs = array_of(hs, "location"), *r = cJSON_CreateObject();
        if(!locs || !r || !cJSON_AddItemToArray(locs, r)) {
            cJSON_Delete(r);
            return -1;
        }
        if(put(r, "reference", ref))
            return -1;
    }
    return 0;
}

/* One HSDS service as a HealthcareService. NULL on ENOMEM. */
static cJSON *service_to_fhir(const cJSON *svc, const char *base_url)
{
    char sys_svc[LG_FWD_MAX_SETTING + 32], sys_org[LG_FWD_MAX_SETTING + 32], sys_loc[LG_FWD_MAX_SETTING + 32];
    snprintf(sys_svc, sizeof sys_svc, "%s/services", base_url);
    snprintf(sys_org, sizeof sys_org, "%s/organizations", base_url);
    snprintf(sys_loc, sizeof sys_loc, "%s/locations", base_url);
    cJSON *hs = cJSON_CreateObject();
    char *id = clean(cJSON_GetObjectItemCaseSensitive(svc, "id"), 256, 0);
    if(!hs || put(hs, "resourceType", "HealthcareService") || (fhir_id(id) && put(hs, "id", id)))
        goto fail;
    /* Contained resources come before the elements that point at them. */
    if(add_locations(hs, cJSON_GetObjectItemCaseSensitive(svc, "service_at_locations"), sys_loc) ||
       (id && add_identifier(hs, sys_svc, id)))
        goto fail;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(svc, "status");
    if(cJSON_IsString(status) && !cJSON_AddBoolToObject(hs, "active", strcmp(status->valuestring, "active") == 0))
        goto fail;
    const cJSON *org = cJSON_GetObjectItemCaseSensitive(svc, "organization");
    if(cJSON_IsObject(org)) {
        char *oid = clean(cJSON_GetObjectItemCaseSensitive(org, "id"), 256, 0);
        char *oname = clean(cJSON_GetObjectItemCaseSensitive(org, "name"), HSDS_MAX_STRING, 0);
        if(oid || oname) {
            cJSON *by = cJSON_AddObjectToObject(hs, "providedBy"), *ident = NULL;
            if(!by || (oid && (!(ident = cJSON_AddObjectToObject(by, "identifier")) || put(ident, "system", sys_org) ||
                               put(ident, "value", oid)))) {
                free(oid);
                free(oname);
                goto fail;
            }
            free(oid);
            if(put_owned(by, "display", oname))
                goto fail;
        } else {
            free(oid);
        }
    }
    if(add_terms(hs, cJSON_GetObjectItemCaseSensitive(svc, "attributes")) ||
       put_owned(hs, "name", clean(cJSON_GetObjectItemCaseSensitive(svc, "name"), HSDS_MAX_STRING, 0)) ||
       put_owned(hs, "comment", clean(cJSON_GetObjectItemCaseSensitive(svc, "description"), HSDS_MAX_DESCRIPTION, 1)))
        goto fail;
    int taken = 0;
    const cJSON *ph;
    cJSON_ArrayForEach(ph, cJSON_GetObjectItemCaseSensitive(svc, "phones")) {
        if(taken++ >= HSDS_MAX_PHONES)
            break;
        if(add_telecom(hs, "phone", clean(cJSON_GetObjectItemCaseSensitive(ph, "number"), 64, 0)))
            goto fail;
    }
    if(add_telecom(hs, "email", clean(cJSON_GetObjectItemCaseSensitive(svc, "email"), 256, 0)) ||
       add_telecom(hs, "url", clean(cJSON_GetObjectItemCaseSensitive(svc, "url"), HSDS_MAX_STRING, 0)) ||
       add_languages(hs, cJSON_GetObjectItemCaseSensitive(svc, "languages")))
        goto fail;
    free(id);
    return hs;
fail:
    free(id);
    cJSON_Delete(hs);
    return NULL;
}

static int add_link(cJSON *links, const char *rel, const char *base, const hsds_query *q, int page)
{
    char *qs = hsds_query_fhir(q, page), *url = NULL;
    size_t bl = strlen(base);
    while(bl && base[bl - 1] == '/')
        bl--;
    if(!qs || asprintf(&url, "%.*s/HealthcareService%s%s", (int)bl, base, *qs ? "?" : "", qs) < 0) {
        free(qs);
        return -1;
    }
    free(qs);
    cJSON *l = cJSON_CreateObject();
    if(!l || !cJSON_AddItemToArray(links, l)) {
        cJSON_Delete(l);
        free(url);
        return -1;
    }
    int rc = put(l, "relation", rel) || put(l, "url", url) ? -1 : 0;
    free(url);
    return rc;
}

/* A whole number member of the page, or -1. */
static long page_number(const cJSON *page, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(page, key);
    if(!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2e9 ||
       v->valuedouble != (double)(long)v->valuedouble)
        return -1;
    return (long)v->valuedouble;
}

static lg_status hsds_parse_search(const lg_fwd_platform *p, void *state, const char *query, const char *base,
                                   const lg_fwd_resp *resp, cJSON **bundle, lg_issues *issues)
{
    (void)state;
    *bundle = NULL;
    hsds_query q;
    cJSON *page = NULL, *b = NULL;
    lg_status st = hsds_query_parse(query, &q, issues);
    if(st != LG_OK)
        goto fail;
    if(resp->status < 200 || resp->status > 299) {
        char *e = lg_fwd_status_error(resp, "directory");
        int transient = lg_fwd_verdict_of_status(resp->status, 0) == LG_FWD_RETRY;
        lg_issues_add(issues, LG_SEV_ERROR, transient ? "transient" : "exception", NULL, "%s",
                      e ? e : "the directory failed");
        free(e);
        st = LG_EIO;
        goto fail;
    }
    page = lg_fwd_parse_body(resp->body, resp->body_len);
    const cJSON *contents = cJSON_GetObjectItemCaseSensitive(page, "contents");
    if(!cJSON_IsObject(page) || !cJSON_IsArray(contents)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                      "the directory's reply is not an HSDS page (a JSON object with a contents array)");
        st = LG_EINVAL;
        goto fail;
    }
    if(cJSON_GetArraySize(contents) > HSDS_MAX_SERVICES) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "the directory's page holds more than %d services",
                      HSDS_MAX_SERVICES);
        st = LG_EINVAL;
        goto fail;
    }
    st = LG_ENOMEM;
    cJSON *links, *entries;
    if(!(b = cJSON_CreateObject()) || put(b, "resourceType", "Bundle") || put(b, "type", "searchset"))
        goto fail;
    long total = page_number(page, "total_items");
    if(total >= 0 && !cJSON_AddNumberToObject(b, "total", (double)total))
        goto fail;
    long num = page_number(page, "page_number"), pages = page_number(page, "total_pages");
    if(num < 1)
        num = q.page > 0 ? q.page : 1;
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(page, "last_page");
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(page, "first_page");
    int has_next = cJSON_IsBool(last) ? cJSON_IsFalse(last) : pages >= 0 && num < pages;
    int has_prev = num > 1 && !cJSON_IsTrue(first);
    if(!(links = cJSON_AddArrayToObject(b, "link")) || add_link(links, "self", base, &q, (int)num) ||
       (has_next && num < 1000000 && add_link(links, "next", base, &q, (int)num + 1)) ||
       (has_prev && add_link(links, "previous", base, &q, (int)num - 1)))
        goto fail;
    if(!(entries = cJSON_AddArrayToObject(b, "entry")))
        goto fail;
    size_t bl = strlen(base);
    while(bl && base[bl - 1] == '/')
        bl--;
    int i = 0;
    const cJSON *svc;
    cJSON_ArrayForEach(svc, contents) {
        if(!cJSON_IsObject(svc)) {
            char loc[32];
            snprintf(loc, sizeof loc, "contents[%d]", i);
            lg_issues_add(issues, LG_SEV_ERROR, "structure", loc, "a service is not a JSON object");
            st = LG_EINVAL;
            goto fail;
        }
        i++;
        cJSON *hs = service_to_fhir(svc, p->base_url), *e = cJSON_CreateObject();
        if(!hs || !e || !cJSON_AddItemToArray(entries, e)) {
            cJSON_Delete(hs);
            cJSON_Delete(e);
            goto fail;
        }
        const cJSON *hid = cJSON_GetObjectItemCaseSensitive(hs, "id");
        char *full = NULL;
        if(hid && asprintf(&full, "%.*s/HealthcareService/%s", (int)bl, base, hid->valuestring) < 0) {
            cJSON_Delete(hs);
            goto fail;
        }
        /* A directory repeating a service id must not break bdl-7 (unique
         * fullUrl): the repeat goes without one. */
        const cJSON *prev;
        cJSON_ArrayForEach(prev, entries) {
            const cJSON *pf = cJSON_GetObjectItemCaseSensitive(prev, "fullUrl");
            if(full && cJSON_IsString(pf) && strcmp(pf->valuestring, full) == 0) {
                free(full);
                full = NULL;
                break;
            }
        }
        int bad = (full && put(e, "fullUrl", full)) || !cJSON_AddItemToObject(e, "resource", hs);
        free(full);
        if(bad) {
            cJSON_Delete(hs);
            goto fail;
        }
        cJSON *search = cJSON_AddObjectToObject(e, "search");
        if(!search || put(search, "mode", "match"))
            goto fail;
    }
    if(!cJSON_GetArraySize(entries))
        cJSON_DeleteItemFromObjectCaseSensitive(b, "entry");
    cJSON_Delete(page);
    hsds_query_free(&q);
    *bundle = b;
    return LG_OK;
fail:
    if(st == LG_ENOMEM)
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "out of memory");
    cJSON_Delete(page);
    cJSON_Delete(b);
    hsds_query_free(&q);
    return st;
}

const lg_fwd_adapter lg_fwd_hsds = {
    .name = "hsds",
    .configure = hsds_configure,
    .free_state = hsds_free_state,
    .build_search = hsds_build_search,
    .parse_search = hsds_parse_search,
};
