/* crud.c - create, read, vread, update, delete and patch, plus their
 * conditional forms, and the write pipeline they share.
 *
 * Every write runs under the store's write lock (lg_txn_begin): the current
 * version is read, preconditions (If-Match, conditional matches) are checked
 * and the new version is written in one transaction, so two clients racing
 * on the same resource cannot both win. Inside a transaction Bundle the
 * Bundle owns the transaction and these functions only add to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/json.h"
#include "loopgate/patch.h"
#include "loopgate/time.h"
#include "loopgate/validate.h"
#include "internal.h"

/* lastUpdated must never go backwards in write order, or _lastUpdated
 * polling (gt the last value seen) would miss writes. Writers are serialised
 * by the store, so a process-wide high-water mark taken under that lock is
 * enough; the atomic only keeps sanitizers and compilers honest. */
static int64_t last_stamp;

lg_status lg_txn_begin(lg_ctx *c)
{
    if(c->in_txn)
        return LG_OK;
    lg_status st = lg_store_begin(c->st);
    if(st)
        return lg_fail(c, st, "exception", NULL, "Could not start a store transaction");
    int64_t now = lg_time_now_ms();
    int64_t prev = __atomic_load_n(&last_stamp, __ATOMIC_ACQUIRE);
    if(now <= prev)
        now = prev + 1;
    __atomic_store_n(&last_stamp, now, __ATOMIC_RELEASE);
    c->now = now;
    return LG_OK;
}

lg_status lg_txn_commit(lg_ctx *c)
{
    if(c->in_txn)
        return LG_OK;
    uint64_t ticket = 0;
    lg_status st;
    if(c->rest->cfg.defer_sync) {
        /* The caller holds the reply until the store has flushed past it. */
        if(!(st = lg_store_commit_nowait(c->st, &ticket)) && ticket > c->resp->durable_ticket)
            c->resp->durable_ticket = ticket;
    } else {
        st = lg_store_commit(c->st);
    }
    if(st) {
        c->resp->outbox_added = 0; /* the jobs were not committed either */
        return lg_fail(c, st, "exception", NULL, "Could not commit to the store");
    }
    return LG_OK;
}

void lg_txn_rollback(lg_ctx *c)
{
    if(!c->in_txn) {
        lg_store_rollback(c->st);
        c->resp->outbox_added = 0; /* forward jobs added in it are gone */
    }
}

/* End a transaction begun by this interaction: commit on success. */
static lg_status finish(lg_ctx *c, lg_status st)
{
    if(st) {
        lg_txn_rollback(c);
        return st;
    }
    return lg_txn_commit(c);
}

lg_status lg_parse_body_object(lg_ctx *c, const char *type, cJSON **out)
{
    *out = NULL;
    if(!c->req->body_len)
        return lg_fail(c, LG_EINVAL, "required", NULL, "A %s resource is required in the body",
                       type);
    cJSON *res = NULL;
    lg_status st = lg_json_parse(c->req->body, c->req->body_len, &c->rest->cfg.json, &res,
                                 &c->issues);
    if(st)
        return lg_fail_issues(c, st);
    if(!cJSON_IsObject(res)) {
        cJSON_Delete(res);
        return lg_fail(c, LG_EINVAL, "structure", NULL, "The body must be a JSON object");
    }
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(res, "resourceType");
    if(!cJSON_IsString(rt)) {
        cJSON_Delete(res);
        return lg_fail(c, LG_EINVAL, "required", "resourceType",
                       "The resource has no resourceType");
    }
    if(strcmp(rt->valuestring, type) != 0) {
        lg_fail(c, LG_EINVAL, "invalid", "resourceType",
                "resourceType '%s' does not match the endpoint type '%s'", rt->valuestring,
                type);
        cJSON_Delete(res);
        return LG_EINVAL;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "id");
    if(id && (!cJSON_IsString(id) || !lg_valid_id(id->valuestring))) {
        cJSON_Delete(res);
        return lg_fail(c, LG_EINVAL, "invalid", "id", "Resource id is not a valid FHIR id");
    }
    *out = res;
    return LG_OK;
}

/* Validation runs here, before the store's write lock is taken, so a slow
 * check of one client's body never holds up everyone else's writes. */
lg_status lg_parse_resource_body(lg_ctx *c, const char *type, cJSON **out)
{
    cJSON *res = NULL;
    lg_status st = lg_parse_body_object(c, type, &res);
    if(st)
        return st;
    /* base structure (400 when broken) + profiles (422: well-formed but
     * not what a claimed or required profile allows) */
    if((st = lg_validate_full(c->rest->defs, res, NULL, 0, &c->issues))) {
        cJSON_Delete(res);
        if(!c->req->rebuilt_body)
            lg_issues_locate(&c->issues, 0, c->req->body, c->req->body_len);
        return lg_fail_issues(c, st);
    }
    *out = res;
    return LG_OK;
}

/* Put key (replacing any existing) at position pos of object obj. */
static int set_at(cJSON *obj, const char *key, cJSON *val, int pos)
{
    if(!val)
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    /* A detached item may still carry its old key; it is ours to free. */
    if(!(val->type & cJSON_StringIsConst))
        cJSON_free(val->string);
    val->type &= ~cJSON_StringIsConst;
    val->string = strdup(key);
    if(!val->string) {
        cJSON_Delete(val);
        return -1;
    }
    if(lg_json_insert(obj, pos, val)) {
        cJSON_Delete(val);
        return -1;
    }
    return 0;
}

lg_status lg_write_version(lg_ctx *c, const char *type, const char *id, cJSON *res,
                           int64_t prev_version, const char *method, lg_resource *out)
{
    char vbuf[24], tbuf[LG_TIME_BUFSZ];
    lg_index ix = {0};
    lg_issues warnings = {0};
    char *json = NULL;
    lg_status st = LG_ENOMEM;
    int64_t version = prev_version + 1;

    memset(out, 0, sizeof(*out));
    snprintf(vbuf, sizeof(vbuf), "%lld", (long long)version);
    lg_time_format(c->now, tbuf, sizeof(tbuf));
    /* Keep the client's meta (profile, tag, security, source) but own
     * versionId and lastUpdated. */
    cJSON *meta = cJSON_DetachItemFromObjectCaseSensitive(res, "meta");
    if(!cJSON_IsObject(meta)) {
        cJSON_Delete(meta);
        meta = cJSON_CreateObject();
    }
    if(!meta)
        goto fail;
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "versionId");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "lastUpdated");
    if(set_at(meta, "versionId", cJSON_CreateString(vbuf), 0) ||
       set_at(meta, "lastUpdated", cJSON_CreateString(tbuf), 1)) {
        cJSON_Delete(meta);
        goto fail;
    }
    if(set_at(res, "id", cJSON_CreateString(id), 1) || set_at(res, "meta", meta, 2))
        goto fail;
    json = lg_json_print(res, 0);
    if(!json)
        goto fail;
    if((st = lg_index_extract(c->rest->defs, type, res, &ix, &warnings)))
        goto fail;
    lg_store_write w = {
        .type = type, .id = id, .version = version, .last_updated = c->now,
        .method = method, .json = json, .json_len = strlen(json), .index = &ix,
        .author = c->req->client_id,
    };
    int64_t seq = 0;
    st = lg_store_put(c->st, &w, &seq);
    if(st == LG_ECONFLICT) {
        lg_fail(c, st, "conflict", NULL, "%s/%s was changed concurrently", type, id);
        goto fail;
    }
    if(st) {
        lg_fail(c, st, "exception", NULL, "Could not store %s/%s", type, id);
        goto fail;
    }
    out->type = strdup(type);
    out->id = strdup(id);
    if(!out->type || !out->id) {
        st = LG_ENOMEM;
        goto fail;
    }
    out->version = version;
    out->last_updated = c->now;
    out->seq = seq;
    snprintf(out->method, sizeof(out->method), "%s", method);
    out->json = json;
    out->json_len = w.json_len;
    json = NULL;
    st = LG_OK;
fail:
    if(st == LG_ENOMEM && !c->resp->status)
        lg_fail(c, st, "exception", NULL, "Out of memory while storing %s/%s", type, id);
    else if(st && !c->resp->status)
        lg_fail(c, st, "exception", NULL, "Could not store %s/%s", type, id);
    if(st)
        lg_resource_clear(out);
    free(json);
    lg_index_free(&ix);
    lg_issues_free(&warnings);
    return st;
}

/* Prefer: return=minimal | representation | OperationOutcome */
static lg_status reply_written(lg_ctx *c, int status, const lg_resource *r)
{
    const char *prefer = c->req->prefer;
    lg_status st;
    if(prefer && strstr(prefer, "return=minimal")) {
        free(c->resp->body);
        c->resp->body = NULL;
        c->resp->body_len = 0;
        c->resp->content_type = NULL;
        c->resp->status = status;
        st = LG_OK;
    } else if(prefer && strstr(prefer, "return=OperationOutcome")) {
        st = lg_reply_info(c, status, "%s/%s version %lld stored", r->type, r->id,
                           (long long)r->version);
    } else {
        st = lg_reply_resource(c, status, r);
    }
    lg_set_version_headers(c, r, 1);
    return st;
}

/* If-Match against the current version (0 = none, or deleted). */
static lg_status check_if_match(lg_ctx *c, const char *type, const char *id, int64_t current)
{
    if(!c->req->if_match)
        return LG_OK;
    int64_t want = lg_parse_etag(c->req->if_match);
    if(want < 0)
        return lg_fail(c, LG_EINVAL, "invalid", NULL,
                       "If-Match '%s' is not a version ETag such as W/\"3\"", c->req->if_match);
    if(current == 0)
        return lg_fail(c, LG_EPRECOND, "conflict", NULL,
                       "If-Match W/\"%lld\" given but %s/%s does not exist", (long long)want,
                       type, id);
    if(want != current)
        return lg_fail(c, LG_EPRECOND, "conflict", NULL,
                       "Version conflict on %s/%s: If-Match W/\"%lld\" but the current version "
                       "is %lld",
                       type, id, (long long)want, (long long)current);
    return LG_OK;
}

static lg_status create_in_txn(lg_ctx *c, const char *type, cJSON *body,
                               const char *if_none_exist, const char *forced_id)
{
    lg_resource_list m = {0};
    lg_resource r = {0};
    char idbuf[40];
    lg_status st;
    if(if_none_exist && *if_none_exist) {
        const char *q = if_none_exist;
        /* Clients send either "identifier=x" or "Patient?identifier=x". */
        const char *qm = strchr(q, '?');
        if(qm)
            q = qm + 1;
        if((st = lg_conditional_match(c, type, q, &m)))
            return st;
        if(m.count > 1) {
            lg_resource_list_clear(&m);
            return lg_fail(c, LG_EPRECOND, "multiple-matches", NULL,
                           "If-None-Exist '%s' matches more than one %s", if_none_exist, type);
        }
        if(m.count == 1) {
            st = reply_written(c, 200, &m.items[0]);
            lg_resource_list_clear(&m);
            return st;
        }
    }
    if(forced_id) {
        snprintf(idbuf, sizeof(idbuf), "%s", forced_id);
    } else {
        lg_new_id(idbuf);
    }
    if((st = lg_coordinate(c, type, idbuf, body)) ||
       (st = lg_write_version(c, type, idbuf, body, 0, "POST", &r)))
        return st;
    st = reply_written(c, 201, &r);
    lg_resource_clear(&r);
    return st;
}

lg_status lg_do_create(lg_ctx *c, const char *type, cJSON *body, const char *if_none_exist,
                       const char *forced_id)
{
    lg_status st = lg_access_may_create(c, type);
    if(st || (st = lg_txn_begin(c)))
        return st;
    return finish(c, create_in_txn(c, type, body, if_none_exist, forced_id));
}

/* Update type/id to body (whose id, if any, must be id). */
static lg_status update_in_txn(lg_ctx *c, const char *type, const char *id, cJSON *body,
                               const char *method)
{
    lg_resource cur = {0};
    lg_resource r = {0};
    int64_t prev = 0;
    int existed = 0;
    lg_status st = lg_store_read(c->st, type, id, &cur);
    if(st == LG_OK) {
        prev = cur.version;
        existed = !cur.deleted;
        /* What the client may not see answers like what does not exist. */
        int hidden = !lg_access_resource(c, &cur);
        lg_resource_clear(&cur);
        if(hidden)
            return lg_fail(c, LG_ENOTFOUND, "not-found", NULL, "%s/%s is not known", type, id);
    } else if(st != LG_ENOTFOUND) {
        return lg_fail(c, st, "exception", NULL, "Could not read %s/%s", type, id);
    } else if(lg_access_limited(c) && c->req->actor->role != LG_ROLE_COORDINATION &&
              !lg_access_shared_type(type) && !(c->forced_id && strcmp(c->forced_id, id) == 0)) {
        /* No create-on-update under a client-chosen id: 201 here against
         * 404 for a hidden resource would tell the two apart. Coordination
         * sees everything and directory types are visible to every client,
         * so neither can learn anything from it. */
        return lg_fail(c, LG_ENOTFOUND, "not-found", NULL, "%s/%s is not known", type, id);
    } else if((st = lg_access_may_create(c, type))) {
        return st;
    }
    if((st = check_if_match(c, type, id, existed ? prev : 0)))
        return st;
    if((st = lg_coordinate(c, type, id, body)) ||
       (st = lg_write_version(c, type, id, body, prev, method, &r)))
        return st;
    st = reply_written(c, existed ? 200 : 201, &r);
    lg_resource_clear(&r);
    return st;
}

static lg_status body_id_matches(lg_ctx *c, const cJSON *body, const char *id, int required)
{
    const cJSON *bid = cJSON_GetObjectItemCaseSensitive(body, "id");
    if(!bid)
        return required ? lg_fail(c, LG_EINVAL, "required", "id",
                                  "The resource in an update must carry its id ('%s')", id)
                        : LG_OK;
    if(strcmp(bid->valuestring, id) != 0)
        return lg_fail(c, LG_EINVAL, "invalid", "id",
                       "Resource id '%s' does not match the id in the URL '%s'", bid->valuestring,
                       id);
    return LG_OK;
}

lg_status lg_do_update(lg_ctx *c, const char *type, const char *id, cJSON *body)
{
    lg_status st = body_id_matches(c, body, id, 1);
    if(st || (st = lg_txn_begin(c)))
        return st;
    return finish(c, update_in_txn(c, type, id, body, "PUT"));
}

static lg_status cond_update_in_txn(lg_ctx *c, const char *type, const char *query, cJSON *body)
{
    lg_resource_list m = {0};
    char idbuf[72];
    const cJSON *bid = cJSON_GetObjectItemCaseSensitive(body, "id");
    lg_status st = lg_conditional_match(c, type, query, &m);
    if(st)
        return st;
    if(m.count > 1) {
        lg_resource_list_clear(&m);
        return lg_fail(c, LG_EPRECOND, "multiple-matches", NULL,
                       "Conditional update criteria match more than one %s", type);
    }
    if(m.count == 1) {
        snprintf(idbuf, sizeof(idbuf), "%s", m.items[0].id);
        lg_resource_list_clear(&m);
        if((st = body_id_matches(c, body, idbuf, 0)))
            return st;
    } else if(bid && !lg_access_limited(c)) {
        snprintf(idbuf, sizeof(idbuf), "%s", bid->valuestring);
    } else {
        /* A client's conditional create gets a server id, never its own
         * (which might name a resource it may not see). */
        lg_new_id(idbuf);
        if(lg_access_limited(c)) {
            const char *saved = c->forced_id;
            c->forced_id = idbuf;
            lg_status st2 = update_in_txn(c, type, idbuf, body, "PUT");
            c->forced_id = saved;
            return st2;
        }
    }
    return update_in_txn(c, type, idbuf, body, "PUT");
}

lg_status lg_do_conditional_update(lg_ctx *c, const char *type, const char *query, cJSON *body)
{
    lg_status st = lg_txn_begin(c);
    if(st)
        return st;
    return finish(c, cond_update_in_txn(c, type, query, body));
}

lg_status lg_do_read(lg_ctx *c, const char *type, const char *id)
{
    lg_resource r = {0};
    lg_status st = lg_store_read(c->st, type, id, &r);
    if(st == LG_OK && !lg_access_resource(c, &r)) {
        lg_resource_clear(&r);
        st = LG_ENOTFOUND; /* hidden looks exactly like missing */
    }
    if(st == LG_ENOTFOUND)
        return lg_fail(c, st, "not-found", NULL, "%s/%s is not known", type, id);
    if(st)
        return lg_fail(c, st, "exception", NULL, "Could not read %s/%s", type, id);
    if(r.deleted) {
        lg_fail(c, LG_EGONE, "deleted", NULL, "%s/%s was deleted (version %lld)", type, id,
                (long long)r.version);
        lg_set_version_headers(c, &r, 0);
        lg_resource_clear(&r);
        return LG_EGONE;
    }
    if(c->req->if_none_match && lg_parse_etag(c->req->if_none_match) == r.version) {
        lg_set_version_headers(c, &r, 0);
        c->resp->status = 304;
        lg_resource_clear(&r);
        return LG_OK;
    }
    st = lg_reply_resource(c, 200, &r);
    lg_resource_clear(&r);
    return st;
}

lg_status lg_do_vread(lg_ctx *c, const char *type, const char *id, const char *vid)
{
    int64_t v = lg_parse_etag(vid);
    if(v <= 0 || strchr(vid, '"'))
        return lg_fail(c, LG_ENOTFOUND, "not-found", NULL, "'%s' is not a version of %s/%s",
                       vid, type, id);
    lg_resource r = {0};
    lg_status st = lg_store_vread(c->st, type, id, v, &r);
    /* Visibility follows the resource as it is now, not the old version. */
    if(st == LG_OK && !lg_access_current(c, type, id)) {
        lg_resource_clear(&r);
        st = LG_ENOTFOUND;
    }
    if(st == LG_ENOTFOUND)
        return lg_fail(c, st, "not-found", NULL, "%s/%s has no version %lld", type, id,
                       (long long)v);
    if(st)
        return lg_fail(c, st, "exception", NULL, "Could not read %s/%s", type, id);
    if(r.deleted) {
        lg_fail(c, LG_EGONE, "deleted", NULL, "Version %lld of %s/%s is a deletion",
                (long long)v, type, id);
        lg_resource_clear(&r);
        return LG_EGONE;
    }
    st = lg_reply_resource(c, 200, &r);
    lg_resource_clear(&r);
    return st;
}

static lg_status delete_in_txn(lg_ctx *c, const char *type, const char *id)
{
    lg_resource cur = {0};
    lg_status st = lg_store_read(c->st, type, id, &cur);
    if(st == LG_OK && !lg_access_resource(c, &cur)) {
        lg_resource_clear(&cur);
        st = LG_ENOTFOUND;
    }
    if(st == LG_ENOTFOUND)
        return lg_fail(c, st, "not-found", NULL, "%s/%s is not known", type, id);
    if(st)
        return lg_fail(c, st, "exception", NULL, "Could not read %s/%s", type, id);
    int64_t prev = cur.version;
    int deleted = cur.deleted;
    lg_resource_clear(&cur);
    if((st = check_if_match(c, type, id, deleted ? 0 : prev)))
        return st;
    if(deleted)
        return lg_reply_info(c, 200, "%s/%s was already deleted", type, id);
    if((st = lg_coordinate(c, type, id, NULL)))
        return st;
    lg_store_write w = {.type = type, .id = id, .version = prev + 1, .last_updated = c->now,
                        .deleted = 1, .method = "DELETE", .author = c->req->client_id};
    st = lg_store_put(c->st, &w, NULL);
    if(st)
        return lg_fail(c, st, st == LG_ECONFLICT ? "conflict" : "exception", NULL,
                       "Could not delete %s/%s", type, id);
    lg_resource tomb = {.type = (char *)type, .id = (char *)id, .version = prev + 1,
                        .last_updated = c->now, .deleted = 1};
    st = lg_reply_info(c, 200, "Deleted %s/%s (version %lld)", type, id, (long long)(prev + 1));
    lg_set_version_headers(c, &tomb, 0);
    return st;
}

lg_status lg_do_delete(lg_ctx *c, const char *type, const char *id)
{
    lg_status st = lg_txn_begin(c);
    if(st)
        return st;
    return finish(c, delete_in_txn(c, type, id));
}

static lg_status cond_delete_in_txn(lg_ctx *c, const char *type, const char *query)
{
    lg_resource_list m = {0};
    char idbuf[72];
    lg_status st = lg_conditional_match(c, type, query, &m);
    if(st)
        return st;
    if(m.count > 1) {
        lg_resource_list_clear(&m);
        return lg_fail(c, LG_EPRECOND, "multiple-matches", NULL,
                       "Conditional delete criteria match more than one %s", type);
    }
    if(m.count == 0) {
        c->resp->status = 204;
        return LG_OK;
    }
    snprintf(idbuf, sizeof(idbuf), "%s", m.items[0].id);
    lg_resource_list_clear(&m);
    return delete_in_txn(c, type, idbuf);
}

lg_status lg_do_conditional_delete(lg_ctx *c, const char *type, const char *query)
{
    lg_status st = lg_txn_begin(c);
    if(st)
        return st;
    return finish(c, cond_delete_in_txn(c, type, query));
}

static lg_status patch_in_txn(lg_ctx *c, const char *type, const char *id_in, const char *query)
{
    lg_resource cur = {0}, r = {0};
    lg_resource_list m = {0};
    cJSON *ops = NULL, *doc = NULL, *patched = NULL;
    char id[72];
    lg_status st;

    if(query) {
        if((st = lg_conditional_match(c, type, query, &m)))
            return st;
        if(m.count != 1) {
            size_t n = m.count;
            lg_resource_list_clear(&m);
            return n == 0 ? lg_fail(c, LG_ENOTFOUND, "not-found", NULL,
                                    "Conditional patch criteria match no %s", type)
                          : lg_fail(c, LG_EPRECOND, "multiple-matches", NULL,
                                    "Conditional patch criteria match more than one %s", type);
        }
        snprintf(id, sizeof(id), "%s", m.items[0].id);
        lg_resource_list_clear(&m);
    } else {
        snprintf(id, sizeof(id), "%s", id_in);
    }
    st = lg_store_read(c->st, type, id, &cur);
    if(st == LG_OK && !lg_access_resource(c, &cur)) {
        lg_resource_clear(&cur);
        st = LG_ENOTFOUND;
    }
    if(st == LG_ENOTFOUND)
        return lg_fail(c, st, "not-found", NULL, "%s/%s is not known", type, id);
    if(st)
        return lg_fail(c, st, "exception", NULL, "Could not read %s/%s", type, id);
    if(cur.deleted) {
        st = lg_fail(c, LG_EGONE, "deleted", NULL, "%s/%s was deleted", type, id);
        goto out;
    }
    if((st = check_if_match(c, type, id, cur.version)))
        goto out;
    if((st = lg_json_parse(c->req->body, c->req->body_len, &c->rest->cfg.json, &ops,
                           &c->issues))) {
        st = lg_fail_issues(c, st);
        goto out;
    }
    if(!cJSON_IsArray(ops)) {
        st = lg_fail(c, LG_EINVAL, "structure", NULL, "A JSON Patch document must be an array");
        goto out;
    }
    if((st = lg_json_parse(cur.json, cur.json_len, &c->rest->cfg.json, &doc, &c->issues))) {
        st = lg_fail_issues(c, LG_EINTERNAL);
        goto out;
    }
    if((st = lg_json_patch(doc, ops, &patched, &c->issues))) {
        st = lg_fail_issues(c, st);
        goto out;
    }
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(patched, "resourceType");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(patched, "id");
    if(!cJSON_IsObject(patched) || !cJSON_IsString(rt) || strcmp(rt->valuestring, type) != 0 ||
       !cJSON_IsString(pid) || strcmp(pid->valuestring, id) != 0) {
        st = lg_fail(c, LG_EUNPROCESSABLE, "processing", NULL,
                     "A patch must not change resourceType or id");
        goto out;
    }
    /* R4 http.html#patch: a patch whose result is not a valid resource is 422. */
    if(lg_validate_full(c->rest->defs, patched, NULL, 0, &c->issues)) {
        st = lg_fail_issues(c, LG_EUNPROCESSABLE);
        goto out;
    }
    if((st = lg_coordinate(c, type, id, patched)) ||
       (st = lg_write_version(c, type, id, patched, cur.version, "PATCH", &r)))
        goto out;
    st = reply_written(c, 200, &r);
out:
    lg_resource_clear(&cur);
    lg_resource_clear(&r);
    cJSON_Delete(ops);
    cJSON_Delete(doc);
    cJSON_Delete(patched);
    return st;
}

lg_status lg_do_patch(lg_ctx *c, const char *type, const char *id, const char *query)
{
    lg_status st = lg_txn_begin(c);
    if(st)
        return st;
    return finish(c, patch_in_txn(c, type, id, query));
}
