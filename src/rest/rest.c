/* rest.c - request routing and the helpers every interaction shares:
 * error replies, version headers, query-string parsing, ids and ETags. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "loopgate/outcome.h"
#include "loopgate/report.h"
#include "loopgate/time.h"
#include "loopgate/xml.h"
#include "internal.h"

#define LG_MAX_PARAMS 256
#define LG_MAX_SEGMENTS 8

void lg_rest_config_defaults(lg_rest_config *c)
{
    memset(c, 0, sizeof(*c));
    c->max_body = 16u << 20;
    c->json = lg_json_default_limits;
    c->json.max_bytes = c->max_body;
    c->default_count = 20;
    c->max_count = 1000;
    c->max_bundle_entries = 10000;
    c->max_response = 256u << 20;
    c->max_includes = 1000;
    c->report_min_cell = LG_REPORT_DEFAULT_THRESHOLD;
}

void lg_rest_response_clear(lg_rest_response *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int lg_rest_http_status(lg_status s)
{
    switch(s) {
    case LG_OK: return 200;
    case LG_EINVAL: return 400;
    case LG_ENOTFOUND: return 404;
    case LG_EGONE: return 410;
    case LG_ECONFLICT: return 409;
    case LG_EPRECOND: return 412;
    case LG_ETOOLARGE: return 413;
    case LG_EUNSUPPORTED: return 415;
    case LG_EMETHOD: return 405;
    case LG_EUNPROCESSABLE: return 422;
    case LG_EFORBIDDEN: return 403;
    default: return 500;
    }
}

void lg_reply_buf(lg_ctx *c, int status, lg_buf *b)
{
    lg_rest_response *r = c->resp;
    free(r->body);
    r->status = status;
    r->body = lg_buf_take(b, &r->body_len);
    r->content_type = r->body ? "application/fhir+json; charset=utf-8" : NULL;
}

lg_status lg_fail_issues(lg_ctx *c, lg_status s)
{
    lg_buf b;
    lg_buf_init(&b, c->rest->cfg.max_response);
    lg_status st = lg_outcome_write(&b, &c->issues, LG_SEV_ERROR, "exception", lg_status_str(s));
    if(st) {
        lg_buf_free(&b);
        c->resp->status = 500;
        return st;
    }
    c->resp->location[0] = c->resp->etag[0] = c->resp->last_modified[0] = '\0';
    c->resp->last_updated = 0;
    lg_reply_buf(c, lg_rest_http_status(s), &b);
    return s;
}

lg_status lg_fail(lg_ctx *c, lg_status s, const char *code, const char *location,
                  const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if(vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    lg_issues_add(&c->issues, LG_SEV_ERROR, code, location, "%s", msg ? msg : lg_status_str(s));
    free(msg);
    return lg_fail_issues(c, s);
}

lg_status lg_reply_info(lg_ctx *c, int status, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if(vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    lg_issues info = {0};
    lg_issues_add(&info, LG_SEV_INFORMATION, "informational", NULL, "%s", msg ? msg : "ok");
    free(msg);
    lg_buf b;
    lg_buf_init(&b, c->rest->cfg.max_response);
    lg_status st = lg_outcome_write(&b, &info, LG_SEV_INFORMATION, "informational", "ok");
    lg_issues_free(&info);
    if(st) {
        lg_buf_free(&b);
        return st;
    }
    lg_reply_buf(c, status, &b);
    return LG_OK;
}

void lg_set_version_headers(lg_ctx *c, const lg_resource *r, int with_location)
{
    lg_rest_response *resp = c->resp;
    snprintf(resp->etag, sizeof(resp->etag), "W/\"%lld\"", (long long)r->version);
    lg_time_format_http(r->last_updated, resp->last_modified, sizeof(resp->last_modified));
    resp->last_updated = r->last_updated;
    if(with_location)
        snprintf(resp->location, sizeof(resp->location), "%s/%s/%s/_history/%lld",
                 c->req->base ? c->req->base : "", r->type, r->id, (long long)r->version);
}

lg_status lg_reply_resource(lg_ctx *c, int status, const lg_resource *r)
{
    lg_rest_response *resp = c->resp;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->status = status;
    lg_set_version_headers(c, r, 0);
    if(r->json) {
        resp->body = strndup(r->json, r->json_len);
        if(!resp->body)
            return LG_ENOMEM;
        resp->body_len = r->json_len;
        resp->content_type = "application/fhir+json; charset=utf-8";
    }
    return LG_OK;
}

/* ---- query strings ---- */

static int hexval(int ch)
{
    if(ch >= '0' && ch <= '9') return ch - '0';
    if(ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if(ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decode n bytes of percent-encoding; a malformed escape is kept literally. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if(!out)
        return NULL;
    for(size_t i = 0; i < n; i++) {
        if(s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if(s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

lg_status lg_params_parse(const char *qs, size_t len, lg_params *out)
{
    memset(out, 0, sizeof(*out));
    if(!qs || !len)
        return LG_OK;
    size_t cap = 1;
    for(size_t i = 0; i < len; i++)
        if(qs[i] == '&')
            cap++;
    if(cap > LG_MAX_PARAMS)
        return LG_ETOOLARGE;
    out->items = calloc(cap, sizeof(*out->items));
    if(!out->items)
        return LG_ENOMEM;
    const char *p = qs, *end = qs + len;
    while(p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if(!amp)
            amp = end;
        if(amp > p) {
            const char *eq = memchr(p, '=', (size_t)(amp - p));
            const char *nend = eq ? eq : amp;
            lg_param *pp = &out->items[out->count];
            pp->name = pct_decode(p, (size_t)(nend - p));
            pp->value = eq ? pct_decode(eq + 1, (size_t)(amp - eq - 1)) : strdup("");
            if(!pp->name || !pp->value) {
                free(pp->name);
                free(pp->value);
                lg_params_free(out);
                return LG_ENOMEM;
            }
            out->count++;
        }
        p = amp + 1;
    }
    return LG_OK;
}

void lg_params_free(lg_params *p)
{
    for(size_t i = 0; i < p->count; i++) {
        free(p->items[i].name);
        free(p->items[i].value);
    }
    free(p->items);
    memset(p, 0, sizeof(*p));
}

/* ---- ids and versions ---- */

void lg_new_id(char *buf)
{
    unsigned char r[16];
    size_t got = 0;
    while(got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if(n > 0)
            got += (size_t)n;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
}

/* FHIR id: [A-Za-z0-9\-\.]{1,64} */
int lg_valid_id(const char *id)
{
    size_t n = 0;
    for(; id[n]; n++)
        if(!isalnum((unsigned char)id[n]) && id[n] != '-' && id[n] != '.')
            return 0;
    return n >= 1 && n <= 64;
}

int64_t lg_parse_etag(const char *s)
{
    while(*s == ' ')
        s++;
    if(s[0] == 'W' && s[1] == '/')
        s += 2;
    int quoted = *s == '"';
    if(quoted)
        s++;
    if(!isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    while(isdigit((unsigned char)*s)) {
        if(v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s++ - '0');
    }
    if(quoted && *s++ != '"')
        return -1;
    while(*s == ' ')
        s++;
    return *s ? -1 : v;
}

/* ---- routing ---- */

static int split_path(char *path, char **seg, int max)
{
    int n = 0;
    for(char *p = path; *p;) {
        while(*p == '/')
            p++;
        if(!*p)
            break;
        if(n == max)
            return -1;
        seg[n++] = p;
        char *slash = strchr(p, '/');
        if(!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return n;
}

static int is_method(const lg_ctx *c, const char *m)
{
    return strcmp(c->req->method, m) == 0;
}

static lg_status not_allowed(lg_ctx *c, const char *allow, const char *what)
{
    snprintf(c->resp->allow, sizeof(c->resp->allow), "%s", allow);
    return lg_fail(c, LG_EMETHOD, "not-supported", NULL, "%s is not supported on %s (allowed: %s)",
                   c->req->method, what, allow);
}

static int has_query(const lg_ctx *c)
{
    return c->req->query && c->req->query[0];
}

static lg_status check_type(lg_ctx *c, const char *type)
{
    if(lg_defs_type(c->rest->defs, type))
        return LG_OK;
    if(lg_defs_is_resource_type(c->rest->defs, type))
        return lg_fail(c, LG_ENOTFOUND, "not-supported", NULL,
                       "Resource type '%s' is not served by this server", type);
    return lg_fail(c, LG_ENOTFOUND, "not-found", NULL, "Unknown resource type '%s'", type);
}

/* Body of a write must be JSON FHIR; JSON Patch has its own media type. */
static lg_status check_content_type(lg_ctx *c, int patch)
{
    const char *ct = c->req->content_type;
    if(!ct)
        return c->req->body_len ? lg_fail(c, LG_EUNSUPPORTED, "not-supported", NULL,
                                          "Content-Type is required")
                                : LG_OK;
    size_t n = strcspn(ct, ";");
    while(n && ct[n - 1] == ' ')
        n--;
#define CT_IS(s) (n == strlen(s) && strncasecmp(ct, s, n) == 0)
    if(patch ? CT_IS("application/json-patch+json")
             : (CT_IS("application/fhir+json") || CT_IS("application/json") ||
                CT_IS("application/json+fhir")))
        return LG_OK;
#undef CT_IS
    return lg_fail(c, LG_EUNSUPPORTED, "not-supported", NULL,
                   "Unsupported Content-Type '%.*s'; expected %s", (int)n, ct,
                   patch ? "application/json-patch+json"
                         : "application/fhir+json or application/fhir+xml");
}

const lg_operation lg_operations[] = {
    {"validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate", "POST", 1,
     lg_do_validate},
};
const size_t lg_noperations = sizeof(lg_operations) / sizeof(*lg_operations);

const lg_system_operation lg_system_operations[] = {
    {"closed-loop-report", "https://loopgate.dev/fhir/OperationDefinition/closed-loop-report", "GET",
     lg_do_closed_loop_report},
    {"outbox", "https://loopgate.dev/fhir/OperationDefinition/outbox", "GET", lg_do_outbox},
    {"outbox-replay", "https://loopgate.dev/fhir/OperationDefinition/outbox-replay", "POST",
     lg_do_outbox_replay},
    {"outbox-events", "https://loopgate.dev/fhir/OperationDefinition/outbox-events", "GET",
     lg_do_outbox_events},
};
const size_t lg_nsystem_operations = sizeof(lg_system_operations) / sizeof(*lg_system_operations);

/* 1 when m is one of the methods in list ("GET, POST"). */
static int method_listed(const char *list, const char *m)
{
    size_t n = strlen(m);
    for(const char *p = list; *p;) {
        size_t k = strcspn(p, ", ");
        if(k == n && strncmp(p, m, n) == 0)
            return 1;
        p += k;
        p += strspn(p, ", ");
    }
    return 0;
}

/* [type]/$op or [type]/[id]/$op (id NULL at type level). */
static lg_status dispatch_operation(lg_ctx *c, const char *type, const char *id, const char *name)
{
    const lg_operation *op = NULL;
    lg_status st;
    for(size_t i = 0; i < lg_noperations && !op; i++)
        if(strcmp(lg_operations[i].name, name) == 0)
            op = &lg_operations[i];
    if(!op)
        return lg_fail(c, LG_ENOTFOUND, "not-supported", NULL, "Unknown operation '$%.64s'",
                       name);
    if(!(op->any_r4_type && !id && lg_defs_is_resource_type(c->rest->defs, type)) &&
       (st = check_type(c, type)))
        return st;
    if(id && !lg_valid_id(id))
        return lg_fail(c, LG_EINVAL, "invalid", NULL, "'%s' is not a valid FHIR id", id);
    if(!method_listed(op->methods, c->req->method)) {
        char what[80];
        snprintf(what, sizeof(what), "$%s", op->name);
        return not_allowed(c, op->methods, what);
    }
    if(strcmp(c->req->method, "POST") == 0 && (st = check_content_type(c, 0)))
        return st;
    return op->run(c, type, id);
}

/* /$op at the base URL. */
static lg_status dispatch_system_operation(lg_ctx *c, const char *name)
{
    for(size_t i = 0; i < lg_nsystem_operations; i++) {
        const lg_system_operation *op = &lg_system_operations[i];
        if(strcmp(op->name, name) != 0)
            continue;
        if(!method_listed(op->methods, c->req->method)) {
            char what[80];
            snprintf(what, sizeof(what), "$%s", op->name);
            return not_allowed(c, op->methods, what);
        }
        return op->run(c);
    }
    return lg_fail(c, LG_ENOTFOUND, "not-supported", NULL, "Unknown operation '$%.64s'", name);
}

lg_status lg_dispatch(lg_ctx *c)
{
    const lg_rest_request *req = c->req;
    char *path = strdup(req->path ? req->path : "/");
    char *seg[LG_MAX_SEGMENTS];
    lg_status st = LG_OK;
    cJSON *body = NULL;
    if(!path)
        return LG_ENOMEM;
    int n = split_path(path, seg, LG_MAX_SEGMENTS);
    if(n < 0) {
        st = lg_fail(c, LG_ENOTFOUND, "not-found", NULL, "No such endpoint");
        goto out;
    }
    if(n == 0) {
        if(is_method(c, "POST")) {
            if(!(st = lg_access_guard(c)) && !(st = check_content_type(c, 0)))
                st = lg_do_bundle(c);
        } else {
            st = not_allowed(c, "POST", "the base URL");
        }
        goto out;
    }
    if(seg[0][0] == '$' && n == 1) {
        st = dispatch_system_operation(c, seg[0] + 1);
        goto out;
    }
    if(seg[0][0] == '$' || strcmp(seg[0], "metadata") == 0) {
        if(strcmp(seg[0], "metadata") != 0 || n != 1)
            st = lg_fail(c, LG_ENOTFOUND, "not-supported", NULL, "Unknown operation '%s'", seg[0]);
        else if(!is_method(c, "GET"))
            st = not_allowed(c, "GET", "/metadata");
        else
            st = lg_do_capabilities(c);
        goto out;
    }
    /* Everything below shows or changes individual resources. */
    if((st = lg_access_guard(c)))
        goto out;
    if(strcmp(seg[0], "_history") == 0 && n == 1) {
        st = is_method(c, "GET") ? lg_do_history(c, NULL, NULL, req->query)
                                 : not_allowed(c, "GET", "/_history");
        goto out;
    }
    if((n == 2 || n == 3) && seg[n - 1][0] == '$') {
        st = dispatch_operation(c, seg[0], n == 3 ? seg[1] : NULL, seg[n - 1] + 1);
        goto out;
    }
    const char *type = seg[0];
    if((st = check_type(c, type)))
        goto out;
    if(n == 1) {
        if(is_method(c, "GET")) {
            st = lg_do_search(c, type, req->query, NULL, 0);
        } else if(is_method(c, "POST")) {
            if((st = check_content_type(c, 0)) || (st = lg_parse_resource_body(c, type, &body)))
                goto out;
            st = lg_do_create(c, type, body, req->if_none_exist, c->forced_id);
        } else if(is_method(c, "PUT") && has_query(c)) {
            if((st = check_content_type(c, 0)) || (st = lg_parse_resource_body(c, type, &body)))
                goto out;
            st = lg_do_conditional_update(c, type, req->query, body);
        } else if(is_method(c, "DELETE") && has_query(c)) {
            st = lg_do_conditional_delete(c, type, req->query);
        } else if(is_method(c, "PATCH") && has_query(c)) {
            if(!(st = check_content_type(c, 1)))
                st = lg_do_patch(c, type, NULL, req->query);
        } else {
            st = not_allowed(c, "GET, POST, PUT?query, DELETE?query, PATCH?query", "a type");
        }
        goto out;
    }
    if(n == 2 && strcmp(seg[1], "_search") == 0) {
        if(!is_method(c, "POST")) {
            st = not_allowed(c, "POST", "_search");
            goto out;
        }
        const char *ct = req->content_type;
        if(req->body_len && (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)) {
            st = lg_fail(c, LG_EUNSUPPORTED, "not-supported", NULL,
                         "_search expects Content-Type application/x-www-form-urlencoded");
            goto out;
        }
        st = lg_do_search(c, type, req->query, req->body, req->body_len);
        goto out;
    }
    if(n == 2 && strcmp(seg[1], "_history") == 0) {
        st = is_method(c, "GET") ? lg_do_history(c, type, NULL, req->query)
                                 : not_allowed(c, "GET", "type history");
        goto out;
    }
    const char *id = seg[1];
    if(!lg_valid_id(id)) {
        st = lg_fail(c, LG_EINVAL, "invalid", NULL, "'%s' is not a valid FHIR id", id);
        goto out;
    }
    if(n == 2) {
        if(is_method(c, "GET")) {
            st = lg_do_read(c, type, id);
        } else if(is_method(c, "PUT")) {
            if((st = check_content_type(c, 0)) || (st = lg_parse_resource_body(c, type, &body)))
                goto out;
            st = lg_do_update(c, type, id, body);
        } else if(is_method(c, "DELETE")) {
            st = lg_do_delete(c, type, id);
        } else if(is_method(c, "PATCH")) {
            if(!(st = check_content_type(c, 1)))
                st = lg_do_patch(c, type, id, NULL);
        } else {
            st = not_allowed(c, "GET, PUT, DELETE, PATCH", "a resource");
        }
        goto out;
    }
    if(strcmp(seg[2], "_history") == 0 && (n == 3 || n == 4)) {
        if(!is_method(c, "GET"))
            st = not_allowed(c, "GET", "history");
        else if(n == 3)
            st = lg_do_history(c, type, id, req->query);
        else
            st = lg_do_vread(c, type, id, seg[3]);
        goto out;
    }
    st = lg_fail(c, LG_ENOTFOUND, "not-found", NULL, "No such endpoint: %s", req->path);
out:
    cJSON_Delete(body);
    free(path);
    return st;
}

/* ---- content negotiation (R4 http.html#mime-type) ----
 * Everything inside works on FHIR JSON. An XML body is converted before
 * dispatch and the request re-labelled as JSON; an XML reply is converted
 * from the finished JSON reply, so every interaction, error and Bundle
 * speaks XML without knowing it. */

enum { FMT_JSON = 0, FMT_XML = 1, FMT_NONE = -1 };

/* A _format value or Accept media range: FMT_JSON, FMT_XML, FMT_NONE for
 * a wildcard (the default applies), -2 when unsupported. A '+' decoded as
 * a space in a query string counts as '+'. */
static int format_of(const char *s, size_t n)
{
    static const char *const json[] = {"json", "application/fhir+json", "application/json",
                                       "application/json+fhir", "text/json"};
    static const char *const xml[] = {"xml", "application/fhir+xml", "application/xml",
                                      "text/xml", "application/xml+fhir"};
    while(n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while(n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char t[40];
    if(n == 0 || n >= sizeof(t))
        return -2;
    for(size_t i = 0; i < n; i++)
        t[i] = s[i] == ' ' ? '+' : s[i];
    t[n] = '\0';
    if(strcmp(t, "*/*") == 0 || strcasecmp(t, "application/*") == 0)
        return FMT_NONE;
    if(strcasecmp(t, "text/*") == 0)
        return FMT_XML;
    for(size_t i = 0; i < sizeof(json) / sizeof(*json); i++)
        if(strcasecmp(t, json[i]) == 0)
            return FMT_JSON;
    for(size_t i = 0; i < sizeof(xml) / sizeof(*xml); i++)
        if(strcasecmp(t, xml[i]) == 0)
            return FMT_XML;
    return -2;
}

/* The best format an Accept header allows: FMT_JSON, FMT_XML, FMT_NONE
 * (any), or -2 when it allows none we speak. Highest q wins; on a tie the
 * first listed. */
static int accept_format(const char *accept)
{
    int best = -2;
    double best_q = 0;
    for(const char *p = accept; *p;) {
        size_t n = strcspn(p, ",");
        size_t mt = strcspn(p, ";,");
        double q = 1;
        for(const char *par = p + mt; par < p + n && *par == ';';) {
            par++;
            while(*par == ' ')
                par++;
            if((par[0] == 'q' || par[0] == 'Q') && par[1] == '=')
                q = strtod(par + 2, NULL);
            par += strcspn(par, ";,");
        }
        int f = format_of(p, mt);
        if(f != -2 && q > best_q) {
            best = f;
            best_q = q;
        }
        p += n;
        if(*p == ',')
            p++;
    }
    return best;
}

/* The query without its _format parameters, into out (caller frees);
 * *value receives the last _format value (malloc'd, or NULL). */
static lg_status strip_format(const char *query, char **out, char **value)
{
    *out = *value = NULL;
    size_t len = strlen(query);
    char *q = malloc(len + 1);
    if(!q)
        return LG_ENOMEM;
    size_t o = 0;
    for(const char *p = query; *p;) {
        size_t n = strcspn(p, "&");
        if(n >= 8 && strncmp(p, "_format=", 8) == 0) {
            lg_params one;
            if(lg_params_parse(p, n, &one) == LG_OK && one.count == 1) {
                free(*value);
                *value = one.items[0].value;
                one.items[0].value = NULL;
            }
            lg_params_free(&one);
        } else if(n) {
            if(o)
                q[o++] = '&';
            memcpy(q + o, p, n);
            o += n;
        }
        p += n;
        if(*p == '&')
            p++;
    }
    q[o] = '\0';
    *out = q;
    return LG_OK;
}

/* Replace a FHIR JSON reply body by its XML. A body that does not convert
 * (not a FHIR resource: an endpoint that answers plain JSON) is left as it
 * is, correctly labelled: a server may ignore Accept (RFC 9110), and
 * losing the answer would be worse. */
static void reply_as_xml(lg_ctx *c)
{
    lg_rest_response *r = c->resp;
    if(!r->body || !r->content_type ||
       strncmp(r->content_type, "application/fhir+json", 21) != 0)
        return;
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    if(j) /* keep exact decimals (1.50) for the XML; -1/-2 only lose them */
        lg_json_attach_literals(j, r->body, r->body_len);
    lg_buf b;
    lg_buf_init(&b, c->rest->cfg.max_response);
    lg_issues is = {0};
    lg_status st = j ? lg_json_to_xml(c->rest->defs, j, &b, &is) : LG_EINVAL;
    cJSON_Delete(j);
    lg_issues_free(&is);
    if(st) {
        lg_buf_free(&b);
        return;
    }
    free(r->body);
    r->body = lg_buf_take(&b, &r->body_len);
    r->content_type = r->body ? "application/fhir+xml; charset=utf-8" : NULL;
}

/* Errors about an XML body get the XML's line and column: validation
 * ran on the converted tree, so the OperationOutcome is rewritten with the
 * positions lg_xml_issues_locate finds. */
static void locate_in_xml(lg_ctx *c, const char *xml, size_t len)
{
    lg_rest_response *r = c->resp;
    if(r->status < 400 || !c->issues.count)
        return;
    int before = 0, after = 0;
    for(size_t i = 0; i < c->issues.count; i++)
        before += c->issues.items[i].line > 0;
    lg_xml_issues_locate(&c->issues, 0, xml, len);
    for(size_t i = 0; i < c->issues.count; i++)
        after += c->issues.items[i].line > 0;
    if(after == before)
        return;
    lg_buf b;
    lg_buf_init(&b, c->rest->cfg.max_response);
    if(lg_outcome_write(&b, &c->issues, LG_SEV_ERROR, "exception", "error") == LG_OK)
        lg_reply_buf(c, r->status, &b);
    else
        lg_buf_free(&b);
}

lg_status lg_rest_handle(const lg_rest *rest, lg_store *st, const lg_rest_request *req,
                         lg_rest_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    lg_rest_request r2 = *req;
    lg_ctx c = {.rest = rest, .st = st, .req = &r2, .resp = resp};
    char *query = NULL, *fmt_value = NULL, *json_body = NULL;
    int body_xml = req->body_len && lg_xml_media_type(req->content_type);
    int fmt = FMT_NONE;
    if(req->query && strstr(req->query, "_format=")) {
        if(strip_format(req->query, &query, &fmt_value)) {
            resp->status = 500;
            goto out;
        }
        r2.query = query;
    }
    if(fmt_value) {
        r2.format = fmt_value;
        fmt = format_of(fmt_value, strlen(fmt_value));
        if(fmt == -2) {
            lg_fail(&c, LG_EUNSUPPORTED, "not-supported", "_format",
                    "_format=%.60s is not supported (json or xml)", fmt_value);
            resp->status = 406;
            goto out;
        }
    } else if(req->accept && *req->accept) {
        fmt = accept_format(req->accept);
        if(fmt == -2) {
            lg_fail(&c, LG_EUNSUPPORTED, "not-supported", NULL,
                    "No format in Accept '%.80s' is supported (application/fhir+json or "
                    "application/fhir+xml)", req->accept);
            resp->status = 406;
            goto out;
        }
    }
    if(fmt == FMT_NONE)
        fmt = body_xml ? FMT_XML : FMT_JSON;
    if(req->body_len > rest->cfg.max_body) {
        lg_fail(&c, LG_ETOOLARGE, "too-costly", NULL,
                "Request body of %zu bytes exceeds the limit of %zu bytes", req->body_len,
                rest->cfg.max_body);
        goto out;
    }
    if(body_xml) {
        cJSON *tree = NULL;
        lg_status xs = lg_xml_to_json(rest->defs, req->body, req->body_len, &rest->cfg.json, &tree,
                                      &c.issues);
        if(xs) {
            lg_fail_issues(&c, xs);
            goto out;
        }
        json_body = lg_json_print(tree, 0);
        cJSON_Delete(tree);
        if(!json_body) {
            resp->status = 500;
            goto out;
        }
        r2.body = json_body;
        r2.body_len = strlen(json_body);
        r2.content_type = "application/fhir+json";
        r2.rebuilt_body = 1; /* positions come from the XML, below */
        r2.xml_body = req->body;
        r2.xml_body_len = req->body_len;
    }
    lg_dispatch(&c);
    if(body_xml)
        locate_in_xml(&c, req->body, req->body_len);
out:
    if(fmt == FMT_XML)
        reply_as_xml(&c);
    lg_issues_free(&c.issues);
    free(query);
    free(fmt_value);
    free(json_body);
    if(!resp->status)
        resp->status = 500;
    return LG_OK;
}
