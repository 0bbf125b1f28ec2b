/* findhelp.c - adapter "findhelp": a referral platform with an API key,
 * program lookup and status by polling (docs/forwarding.md, Style B).
 *
 * Pure translation (adapter.h): builds the program lookup, create, cancel
 * and poll requests and reads their replies. The state (the API key) is
 * never changed after configure, so any thread may use it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter.h"
#include "forward/adapter_util.h"
#include "loopgate/time.h"

#define FH_MAX_ID 256
#define FH_MAX_TEXT 4096

typedef struct fh_state {
    char *api_key;
} fh_state;

static void fh_free_state(void *state)
{
    fh_state *s = state;
    if(!s)
        return;
    lg_fwd_wipe_free(s->api_key);
    free(s);
}

static lg_status fh_configure(const lg_fwd_platform *p, const cJSON *obj, void **state, lg_issues *issues)
{
    *state = NULL;
    fh_state *s = calloc(1, sizeof *s);
    if(!s)
        return LG_ENOMEM;
    lg_status st = lg_fwd_setting_string(p, obj, "api_key", 1, &s->api_key, issues);
    /* poll_seconds is a common setting (config.c reads it into p); checked
     * here as well because only a polling adapter gives it a meaning. */
    const cJSON *ps = obj ? cJSON_GetObjectItemCaseSensitive(obj, "poll_seconds") : NULL;
    if(ps && !cJSON_IsNull(ps) &&
       (!cJSON_IsNumber(ps) || ps->valuedouble < 1 || ps->valuedouble > 86400 ||
        ps->valuedouble != (double)(int)ps->valuedouble)) {
        char loc[160];
        snprintf(loc, sizeof loc, "platforms.where(name='%.64s').poll_seconds", p && p->name ? p->name : "?");
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc, "'poll_seconds' must be a whole number from 1 to 86400");
        if(st == LG_OK)
            st = LG_EINVAL;
    }
    if(st != LG_OK)
        goto fail;
    *state = s;
    return LG_OK;
fail:
    fh_free_state(s);
    return st;
}

/* ------------------------------------------------------------ bodies */

static int put(cJSON *o, const char *key, const char *s)
{
    if(!s || !*s)
        return 0;
    return cJSON_AddStringToObject(o, key, s) ? 0 : -1;
}

/* The create body (step 1). Caller frees *body. */
static lg_status create_body(const lg_fwd_job *job, char **body)
{
    const lg_referral *r = job->referral;
    char ext[300];
    *body = NULL;
    cJSON *root = cJSON_CreateObject(), *client;
    if(!root)
        return LG_ENOMEM;
    snprintf(ext, sizeof ext, "Task/%.256s", job->task_id);
    if(put(root, "program_id", job->target) || put(root, "external_reference", ext) ||
       !(client = cJSON_AddObjectToObject(root, "client")))
        goto fail;
    const lg_child *c = job->child;
    int contact = !r->contact_prohibited;
    if(c) {
        if(put(client, "first_name", c->given) || put(client, "last_name", c->family) ||
           put(client, "birth_date", c->birth_date) || put(client, "language", c->preferred_language))
            goto fail;
        const lg_language_need *ln = lg_fwd_language_need(c);
        if(ln && (put(client, "dialect", ln->dialect) ||
                  !cJSON_AddBoolToObject(client, "needs_interpreter", ln->interpreter_needed)))
            goto fail;
    }
    if(!cJSON_AddBoolToObject(client, "contact_allowed", contact))
        goto fail;
    if(contact && c && lg_fwd_add_caregivers(client, c) != 0)
        goto fail;
    const char *desc = r->service_text ? r->service_text : r->service.display;
    const char *org = job->referrer_name     ? job->referrer_name
                      : r->referrer_org.display ? r->referrer_org.display
                                                : r->referrer_org.reference;
    if(put(root, "need", lg_fwd_need_category(r)) || put(root, "need_description", desc) ||
       put(root, "referring_organization", org) || put(root, "urgency", lg_priority_code(r->priority)))
        goto fail;
    *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return *body ? LG_OK : LG_ENOMEM;
fail:
    cJSON_Delete(root);
    return LG_ENOMEM;
}

/* ------------------------------------------------------------ delivery */

static lg_status fh_build(const lg_fwd_platform *p, void *state, const lg_fwd_job *job, int step,
                          lg_fwd_req *out, lg_issues *issues)
{
    fh_state *s = state;
    char *esc = NULL;
    lg_status st = LG_EINVAL;
    lg_fwd_req_clear(out);
    int cancel = job->kind && strcmp(job->kind, "cancel") == 0;
    if(!cancel && !(job->kind && strcmp(job->kind, "create") == 0)) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", NULL, "unknown job kind '%.32s'", job->kind ? job->kind : "");
        goto fail;
    }
    if(step < 0 || step > (cancel ? 0 : 1)) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "findhelp %s has no step %d", job->kind, step);
        st = LG_EINTERNAL;
        goto fail;
    }
    if(cancel) {
        if(!job->remote_id || !*job->remote_id) {
            lg_issues_add(issues, LG_SEV_ERROR, "required", NULL, "a cancel needs the platform's referral id");
            goto fail;
        }
        st = LG_ENOMEM;
        cJSON *b = cJSON_CreateObject();
        if(!b || put(b, "reason", job->cancel_reason) || !(out->body = cJSON_PrintUnformatted(b))) {
            cJSON_Delete(b);
            goto fail;
        }
        cJSON_Delete(b);
        memcpy(out->method, "POST", 5);
        if(!(esc = lg_fwd_escape(job->remote_id)) ||
           lg_fwd_req_url(out, p->base_url, "/api/v2/referrals/%s/cancellation", esc) != LG_OK)
            goto fail;
    } else {
        if(!job->referral || !job->task_id || !*job->task_id || !job->target || !*job->target) {
            lg_issues_add(issues, LG_SEV_ERROR, "required", NULL,
                          "a create needs the referral, its Task id and the route's target");
            goto fail;
        }
        st = LG_ENOMEM;
        if(step == 0) {
            /* Is the program the route names still there and taking referrals? */
            memcpy(out->method, "GET", 4);
            if(!(esc = lg_fwd_escape(job->target)) ||
               lg_fwd_req_url(out, p->base_url, "/api/v2/programs/%s", esc) != LG_OK)
                goto fail;
        } else {
            memcpy(out->method, "POST", 5);
            if((st = create_body(job, &out->body)) != LG_OK)
                goto fail;
            st = LG_ENOMEM;
            if(lg_fwd_req_url(out, p->base_url, "/api/v2/referrals") != LG_OK)
                goto fail;
        }
    }
    st = LG_ENOMEM;
    if(out->body) {
        out->body_len = strlen(out->body);
        if(lg_fwd_req_header(out, "Content-Type: application/json") != LG_OK ||
           (job->idempotency_key && lg_fwd_req_header(out, "Idempotency-Key: %s", job->idempotency_key) != LG_OK))
            goto fail;
    }
    if(lg_fwd_req_header(out, "X-API-Key: %s", s->api_key) != LG_OK ||
       lg_fwd_req_header(out, "Accept: application/json") != LG_OK)
        goto fail;
    free(esc);
    return LG_OK;
fail:
    free(esc);
    lg_fwd_req_clear(out);
    return st;
}

static lg_fwd_verdict fh_parse(const lg_fwd_platform *p, void *state, const lg_fwd_job *job, int step,
                               const lg_fwd_resp *resp, char **remote_id, char **error)
{
    (void)p;
    (void)state;
    *remote_id = NULL;
    *error = NULL;
    int cancel = job->kind && strcmp(job->kind, "cancel") == 0;
    int lookup = !cancel && step == 0;
    const char *what = cancel ? "cancel" : lookup ? "program lookup" : "create";
    int ok = resp->status >= 200 && resp->status <= 299;
    if(!ok) {
        if(lookup && resp->status == 404) {
            if(asprintf(error, "program lookup: program '%.200s' not found at the platform (the route names no live program)",
                        job->target ? job->target : "") < 0)
                *error = NULL;
            return LG_FWD_FAIL;
        }
        *error = lg_fwd_status_error(resp, what);
        /* An API key has no token to fetch again: 401 is permanent. */
        return lg_fwd_verdict_of_status(resp->status, 0);
    }
    if(cancel)
        return LG_FWD_DONE;
    cJSON *j = lg_fwd_parse_body(resp->body, resp->body_len);
    lg_fwd_verdict v = LG_FWD_FAIL;
    if(lookup) {
        const cJSON *active = cJSON_GetObjectItemCaseSensitive(j, "active");
        if(cJSON_IsTrue(active)) {
            v = LG_FWD_NEXT;
        } else if(cJSON_IsFalse(active)) {
            if(asprintf(error, "program lookup: program '%.200s' is not active at the platform (the route names no live program)",
                        job->target ? job->target : "") < 0)
                *error = NULL;
        } else {
            char *text = lg_fwd_excerpt(resp->body, resp->body ? resp->body_len : 0, LG_FWD_MAX_ERROR_TEXT);
            if(asprintf(error, "program lookup: HTTP %d without 'active': %s", resp->status, text ? text : "") < 0)
                *error = NULL;
            free(text);
        }
    } else if((*remote_id = lg_fwd_reply_id(j, "referral_id", FH_MAX_ID))) {
        v = LG_FWD_DONE;
    } else {
        char *text = lg_fwd_excerpt(resp->body, resp->body ? resp->body_len : 0, LG_FWD_MAX_ERROR_TEXT);
        if(asprintf(error, "create: HTTP %d without a referral_id: %s", resp->status, text ? text : "") < 0)
            *error = NULL;
        free(text);
    }
    cJSON_Delete(j);
    return v;
}

/* ------------------------------------------------------------ polling */

static lg_status fh_build_poll(const lg_fwd_platform *p, void *state, const char *remote_id, lg_fwd_req *out)
{
    fh_state *s = state;
    lg_fwd_req_clear(out);
    if(!remote_id || !*remote_id)
        return LG_EINVAL;
    char *esc = lg_fwd_escape(remote_id);
    memcpy(out->method, "GET", 4);
    if(!esc || lg_fwd_req_url(out, p->base_url, "/api/v2/referrals/%s", esc) != LG_OK ||
       lg_fwd_req_header(out, "X-API-Key: %s", s->api_key) != LG_OK ||
       lg_fwd_req_header(out, "Accept: application/json") != LG_OK) {
        free(esc);
        lg_fwd_req_clear(out);
        return LG_ENOMEM;
    }
    free(esc);
    return LG_OK;
}

static lg_status fh_parse_poll(const lg_fwd_platform *p, void *state, const char *remote_id,
                               const lg_fwd_resp *resp, lg_fwd_event *out)
{
    (void)p;
    (void)state;
    lg_fwd_event_clear(out);
    if(resp->status == 0 || resp->status == 408 || resp->status == 429 || resp->status >= 500)
        return LG_EIO; /* poll again next round */
    if(resp->status == 404)
        return LG_ENOTFOUND;
    if(resp->status == 401 || resp->status == 403)
        return LG_EFORBIDDEN;
    if(resp->status < 200 || resp->status > 299)
        return LG_EINVAL;
    lg_issues is = { 0 };
    lg_status st;
    char *when = NULL, *id = NULL;
    cJSON *j = lg_fwd_parse_body(resp->body, resp->body_len);
    if(!cJSON_IsObject(j)) {
        st = LG_EINVAL;
        goto fail;
    }
    if((st = lg_fwd_member(j, "referral_id", "referral_id", 0, FH_MAX_ID, &id, &is)) != LG_OK ||
       (st = lg_fwd_member(j, "state", "state", 1, 64, &out->platform_status, &is)) != LG_OK ||
       (st = lg_fwd_member(j, "state_changed_at", "state_changed_at", 1, 64, &when, &is)) != LG_OK ||
       (st = lg_fwd_member(j, "state_reason", "state_reason", 0, FH_MAX_TEXT, &out->reason, &is)) != LG_OK ||
       (st = lg_fwd_member(j, "outcome", "outcome", 0, FH_MAX_TEXT, &out->outcome, &is)) != LG_OK)
        goto fail;
    /* The reply must be about the referral asked for. */
    if(id && remote_id && strcmp(id, remote_id) != 0) {
        st = LG_EINVAL;
        goto fail;
    }
    int64_t lo, hi;
    if(lg_fwd_status_map(out->platform_status, &out->status) != 0 || lg_time_parse_range(when, &lo, &hi) != LG_OK) {
        st = LG_EINVAL;
        goto fail;
    }
    out->occurred_ms = lo;
    const char *rid = id ? id : remote_id;
    st = LG_ENOMEM;
    if(!rid || !(out->remote_id = strdup(rid)) ||
       asprintf(&out->event_id, "%s:%s:%s", rid, out->platform_status, when) < 0) {
        out->event_id = NULL;
        st = rid ? LG_ENOMEM : LG_EINVAL;
        goto fail;
    }
    free(id);
    free(when);
    cJSON_Delete(j);
    lg_issues_free(&is);
    return LG_OK;
fail:
    free(id);
    free(when);
    cJSON_Delete(j);
    lg_issues_free(&is);
    lg_fwd_event_clear(out);
    return st;
}

const lg_fwd_adapter lg_fwd_findhelp = {
    .name = "findhelp",
    .configure = fh_configure,
    .free_state = fh_free_state,
    .build = fh_build,
    .parse = fh_parse,
    .build_poll = fh_build_poll,
    .parse_poll = fh_parse_poll,
};
