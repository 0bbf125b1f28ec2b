/* bundle.c - batch and transaction Bundles posted to the base URL.
 *
 * Each entry becomes an lg_rest_request routed through lg_dispatch, so an
 * entry behaves exactly like the same request sent on its own. A
 * transaction runs all entries inside one store transaction: ids for
 * creates are assigned first, urn:uuid: references are rewritten to them,
 * conditional creates and updates are resolved against the store, then the
 * entries run in the order R4 prescribes (DELETE, POST, PUT/PATCH, GET) and
 * the first failure rolls everything back. A batch runs entries one by one,
 * each in its own transaction, and reports each outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/outcome.h"
#include "loopgate/time.h"
#include "internal.h"

typedef struct entry {
    const cJSON *json;       /* Bundle.entry[i] */
    const char *method;
    char *url;               /* request.url, possibly rewritten to Type/id */
    cJSON *resource;         /* our copy, references rewritten */
    const char *full_url;
    const char *if_match, *if_none_match, *if_none_exist;
    char *forced_id;
    int done;                /* response already decided in the pre-pass */
    lg_rest_response resp;
} entry;

typedef struct urn_map {
    char **from, **to;
    size_t count;
} urn_map;

static int method_rank(const char *m)
{
    if(strcmp(m, "DELETE") == 0) return 0;
    if(strcmp(m, "POST") == 0) return 1;
    if(strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) return 2;
    return 3; /* GET, HEAD */
}

static const char *reason(int status)
{
    switch(status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    default: return status >= 500 ? "Internal Server Error" : "";
    }
}

static const char *str_member(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static lg_status map_add(urn_map *m, const char *from, const char *type, const char *id)
{
    char **f = realloc(m->from, (m->count + 1) * sizeof(*f));
    if(!f)
        return LG_ENOMEM;
    m->from = f;
    char **t = realloc(m->to, (m->count + 1) * sizeof(*t));
    if(!t)
        return LG_ENOMEM;
    m->to = t;
    m->from[m->count] = strdup(from);
    if(asprintf(&m->to[m->count], "%s/%s", type, id) < 0)
        m->to[m->count] = NULL;
    if(!m->from[m->count] || !m->to[m->count]) {
        free(m->from[m->count]);
        free(m->to[m->count]);
        return LG_ENOMEM;
    }
    m->count++;
    return LG_OK;
}

static void map_free(urn_map *m)
{
    for(size_t i = 0; i < m->count; i++) {
        free(m->from[i]);
        free(m->to[i]);
    }
    free(m->from);
    free(m->to);
}

/* Rewrite every Reference.reference found in the map. */
static lg_status rewrite_refs(cJSON *node, const urn_map *m, int depth)
{
    if(depth > 128)
        return LG_OK; /* parse limits keep real resources far shallower */
    for(cJSON *ch = node ? node->child : NULL; ch; ch = ch->next) {
        if(cJSON_IsString(ch) && ch->string && strcmp(ch->string, "reference") == 0) {
            for(size_t i = 0; i < m->count; i++)
                if(strcmp(ch->valuestring, m->from[i]) == 0) {
                    if(!cJSON_SetValuestring(ch, m->to[i]))
                        return LG_ENOMEM;
                    break;
                }
        } else if(cJSON_IsObject(ch) || cJSON_IsArray(ch)) {
            lg_status st = rewrite_refs(ch, m, depth + 1);
            if(st)
                return st;
        }
    }
    return LG_OK;
}

/* Strip our own base from an absolute request.url. */
static const char *relative_url(const lg_ctx *c, const char *url)
{
    size_t bl = c->req->base ? strlen(c->req->base) : 0;
    if(bl && strncmp(url, c->req->base, bl) == 0 && url[bl] == '/')
        return url + bl + 1;
    while(*url == '/')
        url++;
    return url;
}

/* Type part of a relative URL "Type", "Type/id", "Type?q" into buf. */
static void url_type(const char *url, char *buf, size_t n)
{
    size_t k = strcspn(url, "/?");
    snprintf(buf, n, "%.*s", (int)(k < n ? k : n - 1), url);
}

/* Run one entry through the router with ctx settings of the bundle. */
static lg_status run_entry(lg_ctx *parent, entry *e, int in_txn)
{
    char *path = NULL, *body = NULL;
    const char *url = relative_url(parent, e->url);
    const char *qm = strchr(url, '?');
    if(asprintf(&path, "/%.*s", (int)(qm ? qm - url : (long)strlen(url)), url) < 0)
        return LG_ENOMEM;
    if(e->resource) {
        body = lg_json_print(e->resource, 0);
        if(!body) {
            free(path);
            return LG_ENOMEM;
        }
    }
    lg_rest_request r = {
        .method = e->method, .path = path, .query = qm ? qm + 1 : NULL,
        .base = parent->req->base, .content_type = body ? "application/fhir+json" : NULL,
        .if_match = e->if_match, .if_none_match = e->if_none_match,
        .if_none_exist = e->if_none_exist, .prefer = parent->req->prefer,
        .body = body, .body_len = body ? strlen(body) : 0, .rebuilt_body = 1,
        .actor = parent->req->actor, .client_id = parent->req->client_id,
    };
    lg_ctx sub = {.rest = parent->rest, .st = parent->st, .req = &r, .resp = &e->resp,
                  .in_txn = in_txn, .now = parent->now, .forced_id = e->forced_id};
    memset(&e->resp, 0, sizeof(e->resp));
    /* Earlier batch entries' writes become visible to plain reads only once
     * the store commits them (store.h): a read entry waits for that. */
    uint64_t pending = parent->resp->durable_ticket;
    if(!in_txn && pending && strcmp(e->method, "GET") == 0 &&
       lg_store_sync(parent->st, pending) != LG_OK)
        lg_fail(&sub, LG_EIO, "exception", NULL, "The store could not commit earlier entries");
    else
        lg_dispatch(&sub);
    if(!e->resp.status)
        e->resp.status = 500;
    /* A batch entry commits alone: the Bundle's reply waits for its flush. */
    if(e->resp.durable_ticket > parent->resp->durable_ticket)
        parent->resp->durable_ticket = e->resp.durable_ticket;
    /* Forward jobs of an entry: a batch entry's are committed already; a
     * transaction's are cleared again if the Bundle rolls back. */
    if(e->resp.outbox_added)
        parent->resp->outbox_added = 1;
    lg_issues_free(&sub.issues);
    free(path);
    free(body);
    return LG_OK;
}

static lg_status write_response(lg_ctx *c, const char *type, entry *es, size_t n)
{
    lg_buf b;
    char id[40], now[LG_TIME_BUFSZ];
    lg_new_id(id);
    lg_time_format(lg_time_now_ms(), now, sizeof(now));
    lg_buf_init(&b, c->rest->cfg.max_response);
    lg_status st = lg_buf_printf(&b, "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":{"
                                     "\"lastUpdated\":\"%s\"},\"type\":\"%s\",\"entry\":[",
                                 id, now, type);
    for(size_t i = 0; !st && i < n; i++) {
        const lg_rest_response *r = &es[i].resp;
        int ok = r->status < 400;
        st = lg_buf_adds(&b, i ? ",{" : "{");
        if(!st && ok && r->body && r->body_len) {
            st = lg_buf_adds(&b, "\"resource\":");
            if(!st) st = lg_buf_add(&b, r->body, r->body_len);
            if(!st) st = lg_buf_adds(&b, ",");
        }
        if(!st) st = lg_buf_printf(&b, "\"response\":{\"status\":\"%d %s\"", r->status,
                                   reason(r->status));
        if(!st && r->location[0]) {
            st = lg_buf_adds(&b, ",\"location\":");
            if(!st) st = lg_buf_add_json_string(&b, r->location);
        }
        if(!st && r->etag[0]) {
            st = lg_buf_adds(&b, ",\"etag\":");
            if(!st) st = lg_buf_add_json_string(&b, r->etag);
        }
        if(!st && r->last_updated) {
            char lm[LG_TIME_BUFSZ];
            lg_time_format(r->last_updated, lm, sizeof(lm));
            st = lg_buf_printf(&b, ",\"lastModified\":\"%s\"", lm);
        }
        if(!st && !ok && r->body && r->body_len) {
            st = lg_buf_adds(&b, ",\"outcome\":");
            if(!st) st = lg_buf_add(&b, r->body, r->body_len);
        }
        if(!st) st = lg_buf_adds(&b, "}}");
    }
    if(!st) st = lg_buf_adds(&b, "]}");
    if(st) {
        lg_buf_free(&b);
        return lg_fail(c, st, "too-costly", NULL, "Could not assemble the Bundle response");
    }
    lg_reply_buf(c, 200, &b);
    return LG_OK;
}

/* Read Bundle.entry into es[]; reports problems per entry. */
static lg_status load_entries(lg_ctx *c, const cJSON *arr, entry *es, size_t n, int txn)
{
    size_t i = 0;
    for(const cJSON *ej = arr ? arr->child : NULL; ej && i < n; ej = ej->next, i++) {
        entry *e = &es[i];
        char loc[64];
        snprintf(loc, sizeof(loc), "Bundle.entry[%zu]", i);
        e->json = ej;
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(ej, "request");
        e->method = str_member(req, "method");
        const char *url = str_member(req, "url");
        e->full_url = str_member(ej, "fullUrl");
        e->if_match = str_member(req, "ifMatch");
        e->if_none_match = str_member(req, "ifNoneMatch");
        e->if_none_exist = str_member(req, "ifNoneExist");
        const char *why = NULL;
        if(!cJSON_IsObject(ej))
            why = "must be an object";
        else if(!e->method || !url)
            why = "needs request.method and request.url";
        else if(strcmp(e->method, "GET") && strcmp(e->method, "HEAD") &&
                strcmp(e->method, "POST") && strcmp(e->method, "PUT") &&
                strcmp(e->method, "DELETE") && strcmp(e->method, "PATCH"))
            why = "has an unknown request.method";
        else if(strcmp(e->method, "PATCH") == 0)
            why = "uses PATCH, which Loopgate supports only outside Bundles";
        if(!why) {
            e->url = strdup(url);
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(ej, "resource");
            if(res && !(e->resource = cJSON_Duplicate(res, 1)))
                return LG_ENOMEM;
            if(!e->url)
                return LG_ENOMEM;
            if((!strcmp(e->method, "POST") || !strcmp(e->method, "PUT")) && !e->resource)
                why = "needs a resource for POST and PUT";
            else if(strcmp(e->method, "HEAD") == 0)
                e->method = "GET";
        }
        if(why) {
            if(txn)
                return lg_fail(c, LG_EINVAL, "invalid", loc, "%s %s", loc, why);
            lg_issues one = {0};
            lg_buf b;
            lg_buf_init(&b, 1 << 16);
            lg_issues_add(&one, LG_SEV_ERROR, "invalid", loc, "%s %s", loc, why);
            lg_outcome_write(&b, &one, LG_SEV_ERROR, "invalid", why);
            lg_issues_free(&one);
            e->resp.status = 400;
            e->resp.body = lg_buf_take(&b, &e->resp.body_len);
            e->done = 1;
        }
    }
    return LG_OK;
}

/* Transaction pre-pass: assign ids, resolve conditional creates/updates,
 * build the urn map. Runs inside the transaction. */
static lg_status prepare_txn(lg_ctx *c, entry *es, size_t n, urn_map *m)
{
    lg_status st = LG_OK;
    for(size_t i = 0; !st && i < n; i++) {
        entry *e = &es[i];
        char type[72], loc[64];
        const char *url = relative_url(c, e->url);
        url_type(url, type, sizeof(type));
        snprintf(loc, sizeof(loc), "Bundle.entry[%zu]", i);
        if(strcmp(e->method, "POST") == 0 && !strchr(url, '/') && !strchr(url, '?')) {
            char id[40];
            lg_resource_list hits = {0};
            if(e->if_none_exist && *e->if_none_exist) {
                const char *q = strchr(e->if_none_exist, '?');
                if((st = lg_conditional_match(c, type, q ? q + 1 : e->if_none_exist, &hits)))
                    return st;
                if(hits.count > 1) {
                    lg_resource_list_clear(&hits);
                    return lg_fail(c, LG_EPRECOND, "multiple-matches", loc,
                                   "%s: ifNoneExist matches more than one %s", loc, type);
                }
            }
            if(hits.count == 1) {
                /* Existing resource: the entry answers 200 and references to
                 * its fullUrl point at the existing resource. */
                e->done = 1;
                e->resp.status = 200;
                lg_ctx sub = {.rest = c->rest, .st = c->st, .req = c->req, .resp = &e->resp};
                lg_set_version_headers(&sub, &hits.items[0], 1);
                snprintf(id, sizeof(id), "%s", hits.items[0].id);
                e->resp.body = strndup(hits.items[0].json, hits.items[0].json_len);
                e->resp.body_len = e->resp.body ? hits.items[0].json_len : 0;
            } else {
                lg_new_id(id);
                e->forced_id = strdup(id);
                e->if_none_exist = NULL; /* decided here, under the lock */
                if(!e->forced_id)
                    st = LG_ENOMEM;
            }
            lg_resource_list_clear(&hits);
            if(!st && e->full_url)
                st = map_add(m, e->full_url, type, id);
        } else if(strcmp(e->method, "PUT") == 0) {
            const char *qm = strchr(url, '?');
            char id[72] = "";
            if(qm) {
                lg_resource_list hits = {0};
                if((st = lg_conditional_match(c, type, qm + 1, &hits)))
                    return st;
                if(hits.count > 1) {
                    lg_resource_list_clear(&hits);
                    return lg_fail(c, LG_EPRECOND, "multiple-matches", loc,
                                   "%s: conditional update matches more than one %s", loc, type);
                }
                const char *bid = str_member(e->resource, "id");
                if(hits.count == 1) {
                    snprintf(id, sizeof(id), "%s", hits.items[0].id);
                } else if(bid && !lg_access_limited(c)) {
                    snprintf(id, sizeof(id), "%s", bid);
                } else {
                    /* A client's conditional create gets a server id (see
                     * crud.c): forced_id lets the update create it. */
                    lg_new_id(id);
                    if(lg_access_limited(c) && !(e->forced_id = strdup(id))) {
                        lg_resource_list_clear(&hits);
                        return LG_ENOMEM;
                    }
                }
                lg_resource_list_clear(&hits);
                free(e->url);
                if(asprintf(&e->url, "%s/%s", type, id) < 0) {
                    e->url = NULL;
                    return LG_ENOMEM;
                }
                if(!cJSON_IsObject(e->resource))
                    return lg_fail(c, LG_EINVAL, "invalid", loc, "%s: resource must be an object",
                                   loc);
                cJSON_DeleteItemFromObjectCaseSensitive(e->resource, "id");
                if(!cJSON_AddStringToObject(e->resource, "id", id))
                    return LG_ENOMEM;
            } else {
                const char *slash = strchr(url, '/');
                snprintf(id, sizeof(id), "%s", slash ? slash + 1 : "");
            }
            if(e->full_url && id[0])
                st = map_add(m, e->full_url, type, id);
        }
    }
    for(size_t i = 0; !st && i < n; i++)
        if(es[i].resource)
            st = rewrite_refs(es[i].resource, m, 0);
    return st;
}

lg_status lg_do_bundle(lg_ctx *c)
{
    cJSON *bundle = NULL;
    entry *es = NULL;
    size_t n = 0;
    urn_map m = {0};
    int txn = 0, began = 0;
    lg_status st = lg_parse_body_object(c, "Bundle", &bundle);
    if(st)
        return st;
    const char *type = str_member(bundle, "type");
    if(!type || (strcmp(type, "transaction") && strcmp(type, "batch"))) {
        st = lg_fail(c, LG_EINVAL, "invalid", "Bundle.type",
                     "Only Bundles of type transaction or batch can be posted to the base URL "
                     "(got '%s')", type ? type : "(none)");
        goto out;
    }
    txn = strcmp(type, "transaction") == 0;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(bundle, "entry");
    if(arr && !cJSON_IsArray(arr)) {
        st = lg_fail(c, LG_EINVAL, "structure", "Bundle.entry", "Bundle.entry must be an array");
        goto out;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    if(n > c->rest->cfg.max_bundle_entries) {
        st = lg_fail(c, LG_ETOOLARGE, "too-costly", "Bundle.entry",
                     "Bundle has %zu entries; the limit is %zu", n,
                     c->rest->cfg.max_bundle_entries);
        goto out;
    }
    es = calloc(n ? n : 1, sizeof(*es));
    if(!es) {
        st = LG_ENOMEM;
        goto out;
    }
    if((st = load_entries(c, arr, es, n, txn)))
        goto out;
    if(txn) {
        if((st = lg_txn_begin(c)))
            goto out;
        began = 1;
        if((st = prepare_txn(c, es, n, &m)))
            goto out;
        for(int rank = 0; rank <= 3; rank++)
            for(size_t i = 0; i < n; i++) {
                entry *e = &es[i];
                if(e->done || method_rank(e->method) != rank)
                    continue;
                if((st = run_entry(c, e, 1)))
                    goto out;
                if(e->resp.status >= 400) {
                    /* The failing entry's outcome becomes the answer, with
                     * its position. */
                    char loc[64];
                    snprintf(loc, sizeof(loc), "Bundle.entry[%zu]", i);
                    cJSON *oo = cJSON_ParseWithLength(e->resp.body, e->resp.body_len);
                    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(oo, "issue");
                    const cJSON *first = cJSON_IsArray(iss) ? iss->child : NULL, *it;
                    /* the error that failed it, not a warning listed before it */
                    cJSON_ArrayForEach(it, iss) {
                        const char *sev = str_member(it, "severity");
                        if(sev && (strcmp(sev, "error") == 0 || strcmp(sev, "fatal") == 0)) {
                            first = it;
                            break;
                        }
                    }
                    const char *diag = str_member(first, "diagnostics");
                    const char *code = str_member(first, "code");
                    int hs = e->resp.status;
                    lg_status es_st = hs == 404 ? LG_ENOTFOUND : hs == 403 ? LG_EFORBIDDEN
                                    : hs == 409 ? LG_ECONFLICT
                                    : hs == 410 ? LG_EGONE : hs == 412 ? LG_EPRECOND
                                    : hs == 413 ? LG_ETOOLARGE : hs == 415 ? LG_EUNSUPPORTED
                                    : hs == 422 ? LG_EUNPROCESSABLE : hs >= 500 ? LG_EIO
                                    : LG_EINVAL;
                    st = lg_fail(c, es_st, code ? code : "processing", loc,
                                 "Transaction failed at %s (%s %s): %s", loc, e->method, e->url,
                                 diag ? diag : "error");
                    cJSON_Delete(oo);
                    goto out;
                }
            }
        began = 0;
        if((st = lg_txn_commit(c)))
            goto out;
    } else {
        for(int rank = 0; rank <= 3; rank++)
            for(size_t i = 0; i < n; i++)
                if(!es[i].done && method_rank(es[i].method) == rank &&
                   (st = run_entry(c, &es[i], 0)))
                    goto out;
    }
    st = write_response(c, txn ? "transaction-response" : "batch-response", es, n);
out:
    if(began)
        lg_txn_rollback(c);
    for(size_t i = 0; es && i < n; i++) {
        free(es[i].url);
        free(es[i].forced_id);
        cJSON_Delete(es[i].resource);
        lg_rest_response_clear(&es[i].resp);
    }
    if(st == LG_ENOMEM && !c->resp->status)
        lg_fail(c, st, "exception", NULL, "Out of memory processing the Bundle");
    free(es);
    map_free(&m);
    cJSON_Delete(bundle);
    return st;
}
