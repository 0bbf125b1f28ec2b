/* forward_hooks.c - how a directory platform's status reaches a Task
 * (issue #5): the lg_fwd_hooks the inbound path (webhooks on the HTTP
 * workers, polls and dead jobs on the forwarder thread) calls, and the
 * route look-up the REST layer asks inside a write.
 *
 * Every change goes through lg_rest_handle, never straight to the store:
 * the platform moves the Task as its owner would (actor: referral
 * recipient acting for Task.owner), so the SDOHCC state machine, who may
 * make which transition, validation, version history, the report facts
 * and forward jobs all apply exactly as to the CBO's own PUT. A transition
 * the rules refuse comes back as 409/403/422 and the inbound layer parks
 * the event. Reads and the business status are the server's own (no
 * actor). Status changes use an lg_rest with defer_sync 0: the write is
 * flushed before the hook returns, because the caller records the event as
 * applied next (and a webhook's answer promises it). The business status
 * uses a copy with defer_sync 1: the forwarder records it right after a
 * verdict and flushes once for all the verdicts of a loop iteration (see
 * set_business_status in loopgate/forward.h).
 */
#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/json.h"
#include "loopgate/time.h"
#include "forward_hooks.h"

#define FORWARDING_STATUS_SYSTEM "https://loopgate.example.org/fhir/CodeSystem/forwarding-status"
/* A write between our read and our PUT (If-Match 412) is retried with the
 * new version; more than this many in a row is a hot Task: give up. */
#define MAX_TRIES 3

void lg_fwd_glue_init(lg_fwd_glue *g, const lg_defs *defs, const lg_rest_config *cfg, const char *base)
{
    memset(g, 0, sizeof(*g));
    g->rest.defs = defs;
    g->rest.cfg = *cfg;
    g->rest.cfg.defer_sync = 0;
    g->rest_deferred = g->rest;
    g->rest_deferred.cfg.defer_sync = 1;
    snprintf(g->base, sizeof(g->base), "%s", base && *base ? base : "http://localhost");
}

void lg_fwd_glue_hooks(lg_fwd_glue *g, lg_fwd_hooks *out)
{
    out->apply_status = lg_fwd_glue_apply_status;
    out->set_business_status = lg_fwd_glue_set_business_status;
    out->ctx = g;
}

void lg_fwd_glue_set_forwarder(lg_fwd_glue *g, lg_forwarder *fw)
{
    __atomic_store_n(&g->fw, fw, __ATOMIC_RELEASE);
}

lg_forwarder *lg_fwd_glue_forwarder(const lg_fwd_glue *g)
{
    return __atomic_load_n(&g->fw, __ATOMIC_ACQUIRE);
}

int lg_fwd_glue_route(const void *ctx, const char *owner_ref, const char **platform, const char **target)
{
    const lg_fwd_route *r = ctx ? lg_fwd_route_find(ctx, owner_ref) : NULL;
    if(!r)
        return 0;
    *platform = r->platform;
    *target = r->target;
    return 1;
}

/* ------------------------------------------------------------ helpers */

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* msg = the first diagnostics of the OperationOutcome in resp, or fallback. */
static void explain(const lg_rest_response *resp, const char *fallback, char *msg, size_t msg_len)
{
    cJSON *oo = resp->body ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(oo, "issue");
    const cJSON *first = NULL, *i;
    /* errors explain a refusal better than the warnings before them */
    cJSON_ArrayForEach(i, iss) {
        const char *sev = jstr(i, "severity");
        if(sev && (strcmp(sev, "error") == 0 || strcmp(sev, "fatal") == 0)) {
            first = i;
            break;
        }
    }
    if(!first && cJSON_IsArray(iss))
        first = iss->child;
    const char *d = jstr(first, "diagnostics");
    if(msg && msg_len)
        snprintf(msg, msg_len, "%s", d ? d : fallback);
    cJSON_Delete(oo);
}

/* One REST interaction on st through rest (g->rest or g->rest_deferred);
 * resp is the caller's to clear. */
static void call_with(const lg_fwd_glue *g, const lg_rest *rest, lg_store *st, const lg_actor *actor,
                      const char *method, const char *path, const char *if_match, const char *body,
                      lg_rest_response *resp)
{
    lg_rest_request req = {
        .method = method, .path = path, .base = g->base,
        .content_type = body ? "application/fhir+json" : NULL,
        .if_match = if_match, .prefer = "return=minimal",
        .body = body, .body_len = body ? strlen(body) : 0, .actor = actor,
    };
    if(lg_rest_handle(rest, st, &req, resp) != LG_OK && !resp->status)
        resp->status = 500;
    /* A hook's write that added forward jobs (a cancel the platform
     * reported, say) is durable now (defer_sync 0): deliver it. With
     * defer_sync 1 only the forwarder's own thread writes, and it looks at
     * the outbox again after its next flush. */
    lg_forwarder *fw = lg_fwd_glue_forwarder(g);
    if(resp->outbox_added && resp->status < 300 && fw && !rest->cfg.defer_sync)
        lg_forwarder_wake(fw);
}

static void call(const lg_fwd_glue *g, lg_store *st, const lg_actor *actor, const char *method,
                 const char *path, const char *if_match, const char *body, lg_rest_response *resp)
{
    call_with(g, &g->rest, st, actor, method, path, if_match, body, resp);
}

/* After a 412: the write that beat ours may be committed only into the
 * store's open batch, which this handle's reads outside a transaction do
 * not see until a flush - re-reading at once would fetch the same old
 * version and fail again. One flush (an empty write transaction) makes
 * every committed write visible. */
static void see_latest(lg_store *st)
{
    if(lg_store_begin(st) == LG_OK)
        lg_store_commit(st);
}

/* The current Task/id as the server reads it: *out parsed (caller
 * cJSON_Deletes), *version its version. Returns 200 or the HTTP status of
 * the failed read (msg says why). */
static int read_task(const lg_fwd_glue *g, lg_store *st, const char *id, cJSON **out, long long *version,
                     char *msg, size_t msg_len)
{
    char path[256];
    lg_rest_response resp = {0};
    *out = NULL;
    if(snprintf(path, sizeof(path), "/Task/%s", id) >= (int)sizeof(path)) {
        snprintf(msg, msg_len, "Task id too long");
        return 400;
    }
    call(g, st, NULL, "GET", path, NULL, NULL, &resp);
    int status = resp.status;
    if(status != 200) {
        explain(&resp, "the Task could not be read", msg, msg_len);
        lg_rest_response_clear(&resp);
        return status;
    }
    *out = cJSON_ParseWithLength(resp.body, resp.body_len);
    const char *vid = jstr(cJSON_GetObjectItemCaseSensitive(*out, "meta"), "versionId");
    char *end = NULL;
    *version = vid ? strtoll(vid, &end, 10) : 0;
    lg_rest_response_clear(&resp);
    if(!*out || !vid || *end || *version <= 0) {
        cJSON_Delete(*out);
        *out = NULL;
        snprintf(msg, msg_len, "stored Task/%s has no readable version", id);
        return 500;
    }
    return 200;
}

static int put_task(const lg_fwd_glue *g, const lg_rest *rest, lg_store *st, const lg_actor *actor,
                    const char *id, long long version, const cJSON *task, char *msg, size_t msg_len)
{
    char path[256], etag[40];
    lg_rest_response resp = {0};
    char *body = lg_json_print(task, 0);
    if(!body) {
        snprintf(msg, msg_len, "out of memory");
        return 500;
    }
    snprintf(path, sizeof(path), "/Task/%s", id);
    snprintf(etag, sizeof(etag), "W/\"%lld\"", version);
    call_with(g, rest, st, actor, "PUT", path, etag, body, &resp);
    free(body);
    int status = resp.status;
    if(status >= 300)
        explain(&resp, "the Task update was refused", msg, msg_len);
    else
        snprintf(msg, msg_len, "Task/%s updated", id);
    lg_rest_response_clear(&resp);
    return status;
}

/* A urn:uuid for a Bundle-local reference (RFC 4122 version 4). */
static int new_urn(char *buf, size_t n)
{
    unsigned char b[16];
    if(RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, n,
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

static int add_copy(cJSON *to, const char *key, const cJSON *from)
{
    cJSON *c = from ? cJSON_Duplicate(from, 1) : NULL;
    if(!c || !cJSON_AddItemToObject(to, key, c)) {
        cJSON_Delete(c);
        return -1;
    }
    return 0;
}

/* The Procedure a completed referral's resulting-activity output points at
 * (SDOHCC TaskForReferralManagement: output PerformedActivityReference is
 * a Reference to an SDOHCC Procedure, never a text): the child, the
 * ServiceRequest it was based on, what was done. Caller cJSON_Deletes. */
static cJSON *procedure_for(const cJSON *task, const char *outcome, int64_t now_ms)
{
    char when[LG_TIME_BUFSZ];
    cJSON *p = cJSON_CreateObject(), *based = cJSON_CreateArray(), *code = cJSON_CreateObject();
    const cJSON *subject = cJSON_GetObjectItemCaseSensitive(task, "for");
    const cJSON *focus = cJSON_GetObjectItemCaseSensitive(task, "focus");
    const cJSON *owner = cJSON_GetObjectItemCaseSensitive(task, "owner");
    lg_time_format(now_ms, when, sizeof(when));
    if(!p || !based || !code || !cJSON_AddStringToObject(p, "resourceType", "Procedure") ||
       !cJSON_AddStringToObject(p, "status", "completed"))
        goto fail;
    if(focus) {
        cJSON *f = cJSON_Duplicate(focus, 1);
        if(!f || !cJSON_AddItemToArray(based, f)) {
            cJSON_Delete(f);
            goto fail;
        }
        if(!cJSON_AddItemToObject(p, "basedOn", based))
            goto fail;
    } else {
        cJSON_Delete(based);
    }
    based = NULL;
    if(!cJSON_AddStringToObject(code, "text", outcome && *outcome ? outcome : "Service provided") ||
       !cJSON_AddItemToObject(p, "code", code)) {
        code = NULL; /* owned by p if added */
        goto fail;
    }
    code = NULL;
    if((subject && add_copy(p, "subject", subject)) || !cJSON_AddStringToObject(p, "performedDateTime", when))
        goto fail;
    if(owner) {
        cJSON *perf = cJSON_CreateArray(), *one = cJSON_CreateObject();
        if(!perf || !one || add_copy(one, "actor", owner) || !cJSON_AddItemToArray(perf, one)) {
            cJSON_Delete(perf);
            cJSON_Delete(one);
            goto fail;
        }
        if(!cJSON_AddItemToObject(p, "performer", perf)) {
            cJSON_Delete(perf);
            goto fail;
        }
    }
    return p;
fail:
    cJSON_Delete(p);
    cJSON_Delete(based);
    cJSON_Delete(code);
    return NULL;
}

/* Completed: the Procedure and the Task (its output referencing the
 * Procedure's urn:uuid) in one transaction Bundle, so a refused completion
 * leaves no orphan Procedure behind. */
static int complete_task(const lg_fwd_glue *g, lg_store *st, const lg_actor *actor, const char *id,
                         long long version, const cJSON *cur, const char *outcome, int64_t now_ms,
                         char *msg, size_t msg_len)
{
    char urn[64];
    cJSON *proc = NULL, *upd = NULL;
    char *pj = NULL, *tj = NULL, *body = NULL;
    int status = 500;
    lg_rest_response resp = {0};
    snprintf(msg, msg_len, "out of memory");
    if(new_urn(urn, sizeof(urn))) {
        snprintf(msg, msg_len, "no random bytes for a Bundle reference");
        return 500;
    }
    if(!(proc = procedure_for(cur, outcome, now_ms)) ||
       lg_model_task_status_update(cur, LG_TASK_COMPLETED, NULL, urn, now_ms, &upd) != LG_OK ||
       !(pj = lg_json_print(proc, 0)) || !(tj = lg_json_print(upd, 0)))
        goto out;
    /* Both parts are JSON printed above; the id is a stored Task's (FHIR
     * id syntax: no quote or backslash to escape). */
    if(asprintf(&body,
                "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
                "{\"fullUrl\":\"%s\",\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":\"Procedure\"}},"
                "{\"resource\":%s,\"request\":{\"method\":\"PUT\",\"url\":\"Task/%s\","
                "\"ifMatch\":\"W/\\\"%lld\\\"\"}}]}",
                urn, pj, tj, id, version) < 0) {
        body = NULL;
        goto out;
    }
    call(g, st, actor, "POST", "/", NULL, body, &resp);
    status = resp.status;
    if(status >= 300)
        explain(&resp, "the completion was refused", msg, msg_len);
    else
        snprintf(msg, msg_len, "Task/%s completed", id);
out:
    lg_rest_response_clear(&resp);
    free(body);
    free(pj);
    free(tj);
    cJSON_Delete(proc);
    cJSON_Delete(upd);
    return status;
}

/* ------------------------------------------------------------ hooks */

int lg_fwd_glue_apply_status(void *ctx, lg_store *st, const char *task_id, lg_task_status status,
                             const char *reason, const char *outcome, char *msg, size_t msg_len)
{
    const lg_fwd_glue *g = ctx;
    int http = 500;
    for(int attempt = 0; attempt < MAX_TRIES; attempt++) {
        cJSON *cur = NULL, *upd = NULL;
        long long version = 0;
        if((http = read_task(g, st, task_id, &cur, &version, msg, msg_len)) != 200)
            return http;
        /* The platform speaks for the CBO that owns the Task: the owner-side
         * rules of the state machine apply to it. */
        const char *owner = jstr(cJSON_GetObjectItemCaseSensitive(cur, "owner"), "reference");
        const char *refs[1] = {owner};
        lg_actor actor = {LG_ROLE_REFERRAL_RECIPIENT, refs, owner ? 1 : 0};
        int64_t now = lg_time_now_ms();
        if(status == LG_TASK_COMPLETED) {
            http = complete_task(g, st, &actor, task_id, version, cur, outcome, now, msg, msg_len);
        } else {
            /* A refusal, failure or cancellation needs a reason (SDOHCC);
             * a platform that gave none still closed the loop. */
            const char *why = NULL;
            if(status == LG_TASK_REJECTED || status == LG_TASK_FAILED || status == LG_TASK_CANCELLED)
                why = reason && *reason ? reason : "No reason given by the referral platform";
            else if(status == LG_TASK_ON_HOLD && reason && *reason)
                why = reason;
            if(lg_model_task_status_update(cur, status, why, NULL, now, &upd) != LG_OK) {
                snprintf(msg, msg_len, "out of memory");
                http = 500;
            } else {
                http = put_task(g, &g->rest, st, &actor, task_id, version, upd, msg, msg_len);
            }
        }
        cJSON_Delete(cur);
        cJSON_Delete(upd);
        if(http != 412)
            return http;
        see_latest(st);
    }
    return http;
}

int lg_fwd_glue_set_business_status(void *ctx, lg_store *st, const char *task_id, const char *code,
                                    const char *text, char *msg, size_t msg_len)
{
    const lg_fwd_glue *g = ctx;
    int http = 500;
    if(!code || !*code) {
        snprintf(msg, msg_len, "no business status code");
        return 400;
    }
    for(int attempt = 0; attempt < MAX_TRIES; attempt++) {
        cJSON *cur = NULL;
        long long version = 0;
        if((http = read_task(g, st, task_id, &cur, &version, msg, msg_len)) != 200)
            return http;
        /* The same note again (a job retried once more) makes no version. */
        const cJSON *have = cJSON_GetObjectItemCaseSensitive(cur, "businessStatus");
        const cJSON *hc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(have, "coding"), 0);
        const char *ht = jstr(have, "text"), *hs = jstr(hc, "system"), *hk = jstr(hc, "code");
        if(hs && hk && strcmp(hs, FORWARDING_STATUS_SYSTEM) == 0 && strcmp(hk, code) == 0 &&
           ((!text || !*text) ? !ht : (ht && strcmp(ht, text) == 0))) {
            cJSON_Delete(cur);
            snprintf(msg, msg_len, "Task/%s already says %s", task_id, code);
            return 200;
        }
        cJSON *bs = cJSON_CreateObject(), *codings = cJSON_CreateArray(), *c = cJSON_CreateObject();
        int ok = bs && codings && c && cJSON_AddStringToObject(c, "system", FORWARDING_STATUS_SYSTEM) &&
                 cJSON_AddStringToObject(c, "code", code) && cJSON_AddItemToArray(codings, c);
        if(ok)
            c = NULL;
        ok = ok && cJSON_AddItemToObject(bs, "coding", codings);
        if(ok)
            codings = NULL;
        ok = ok && (!text || !*text || cJSON_AddStringToObject(bs, "text", text));
        if(ok) {
            cJSON_DeleteItemFromObjectCaseSensitive(cur, "businessStatus");
            ok = cJSON_AddItemToObject(cur, "businessStatus", bs);
            if(ok)
                bs = NULL;
        }
        cJSON_Delete(bs);
        cJSON_Delete(codings);
        cJSON_Delete(c);
        if(!ok) {
            cJSON_Delete(cur);
            snprintf(msg, msg_len, "out of memory");
            return 500;
        }
        /* The server's own note (no actor): not a transition, only the
         * state machine is checked, and the status is unchanged. Left
         * unflushed (defer_sync 1): the forwarder flushes it with its
         * verdicts. If-Match still guards against a client's write. */
        http = put_task(g, &g->rest_deferred, st, NULL, task_id, version, cur, msg, msg_len);
        cJSON_Delete(cur);
        if(http != 412)
            return http;
        see_latest(st);
    }
    return http;
}
