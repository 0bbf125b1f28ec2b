/* inbound.c - status events coming back from the platforms: webhooks
 * (lg_fwd_inbound, on an HTTP worker thread) and polls (the forwarder
 * thread) share lg_fwd_apply_event. An event is recorded once per
 * (platform, event id), mapped to its Task through the forward link (or the
 * Task id the platform echoes), dropped when older than the last one
 * applied, and applied through the HTTP layer's hooks - the same workflow
 * rules as a CBO's own update. A transition the rules refuse is parked
 * (recorded with the reason), never retried: the platform would only send
 * it again.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/internal.h"

int lg_fwd_status_terminal(lg_task_status s)
{
    return s == LG_TASK_COMPLETED || s == LG_TASK_FAILED || s == LG_TASK_REJECTED ||
           s == LG_TASK_CANCELLED || s == LG_TASK_ENTERED_IN_ERROR;
}

/* The Task's current status: 0 and *out, or -1 when it is gone or
 * unreadable; -2 on a store failure. */
static int task_status(lg_store *st, const char *task_id, lg_task_status *out)
{
    lg_resource r = {0};
    lg_status rc = lg_store_read(st, "Task", task_id, &r);
    if(rc == LG_ENOTFOUND)
        return -1;
    if(rc != LG_OK)
        return -2;
    int res = -1;
    if(!r.deleted && r.json) {
        cJSON *t = cJSON_ParseWithLength(r.json, r.json_len);
        const cJSON *s = t ? cJSON_GetObjectItemCaseSensitive(t, "status") : NULL;
        if(cJSON_IsString(s) && s->valuestring && lg_task_status_parse(s->valuestring, out) == 0)
            res = 0;
        cJSON_Delete(t);
    }
    lg_resource_clear(&r);
    return res;
}

/* Record the event's outcome and, when the event moved (or confirmed) the
 * referral, its link. LG_ECONFLICT: somebody recorded the same event
 * first. */
static lg_status record(lg_store *st, const lg_fwd_platform *p, const lg_fwd_event *ev,
                        const char *task_id, const char *outcome, const char *detail,
                        const lg_forward_link *link, int64_t now_ms)
{
    lg_status rc = lg_store_begin(st);
    if(rc != LG_OK)
        return rc;
    lg_inbound_event e = {0};
    e.platform = (char *)p->name;
    e.event_id = ev->event_id;
    e.task_id = (char *)task_id;
    e.status = ev->platform_status ? ev->platform_status : (char *)lg_task_status_code(ev->status);
    e.outcome = (char *)outcome;
    e.detail = (char *)detail;
    e.received_ms = now_ms;
    rc = lg_store_inbound_event_add(st, &e);
    if(rc == LG_OK && link)
        rc = lg_store_forward_link_put(st, link);
    if(rc != LG_OK) {
        lg_store_rollback(st);
        return rc;
    }
    return lg_store_commit(st);
}

lg_fwd_apply_result lg_fwd_apply_event(lg_store *st, const lg_fwd_platform *p,
                                       const lg_fwd_event *ev, const lg_fwd_hooks *hooks,
                                       int64_t now_ms, int *http, char *msg, size_t msg_len)
{
    lg_fwd_apply_result res = LG_FWD_FAILED;
    int code = 500;
    lg_forward_link link = {0};
    int have_link = 0;
    const char *task_id = NULL;
    char hook_msg[256] = "";
    const char *outcome = NULL;
    lg_status rc;
    snprintf(msg, msg_len, "store failure");

    if(!ev->event_id || !ev->event_id[0] || (!ev->remote_id && !ev->task_id)) {
        snprintf(msg, msg_len, "the event has no id or names no referral");
        res = LG_FWD_UNKNOWN;
        code = 400;
        goto out;
    }
    /* The store refuses longer keys: say so before anything is applied. */
    if(strlen(ev->event_id) > LG_STORE_KEY_MAX || (ev->remote_id && strlen(ev->remote_id) > LG_STORE_KEY_MAX) ||
       (ev->task_id && strlen(ev->task_id) > LG_STORE_KEY_MAX) ||
       (ev->platform_status && strlen(ev->platform_status) > LG_STORE_KEY_MAX)) {
        snprintf(msg, msg_len, "the event's ids or status are longer than %d bytes", LG_STORE_KEY_MAX);
        res = LG_FWD_UNKNOWN;
        code = 400;
        goto out;
    }
    rc = lg_store_inbound_event_get(st, p->name, ev->event_id, NULL);
    if(rc == LG_OK) {
        snprintf(msg, msg_len, "duplicate event %.100s", ev->event_id);
        res = LG_FWD_DUPLICATE;
        code = 200;
        goto out;
    }
    if(rc != LG_ENOTFOUND)
        goto out;

    /* Which Task: the link of the platform's referral id, else the Task id
     * the platform echoes ("Task/id" or "id"). */
    if(ev->remote_id) {
        rc = lg_store_forward_link_get(st, p->name, ev->remote_id, &link);
        if(rc == LG_OK)
            have_link = 1;
        else if(rc != LG_ENOTFOUND)
            goto out;
    }
    const char *echoed = ev->task_id;
    if(echoed && strncmp(echoed, "Task/", 5) == 0)
        echoed += 5;
    if(!have_link && echoed && *echoed) {
        lg_forward_link_clear(&link);
        rc = lg_store_forward_link_by_task(st, p->name, echoed, &link);
        if(rc == LG_OK)
            have_link = 1;
        else if(rc != LG_ENOTFOUND)
            goto out;
    }
    task_id = have_link ? link.task_id : (echoed && *echoed ? echoed : NULL);
    lg_task_status current = LG_TASK_STATUS_COUNT;
    int ts = task_id ? task_status(st, task_id, &current) : -1;
    if(ts == -2)
        goto out;
    if(!task_id || ts != 0) {
        snprintf(msg, msg_len, "no referral %.100s on platform %s", ev->remote_id ? ev->remote_id
                 : ev->task_id, p->name);
        res = LG_FWD_UNKNOWN;
        code = 404;
        goto out;
    }
    if(!have_link) {
        /* The platform answered before the delivery was recorded (or the
         * link was lost): the echoed Task id is trusted only because the
         * event is authenticated; remember the pairing. */
        lg_forward_link_clear(&link);
        link.platform = strdup(p->name);
        link.remote_id = ev->remote_id ? strdup(ev->remote_id) : NULL;
        link.task_id = strdup(task_id);
        link.last_event_ms = INT64_MIN;
        if(!link.platform || !link.task_id || (ev->remote_id && !link.remote_id))
            goto out;
        task_id = link.task_id;
    }

    if(link.last_event_ms != INT64_MIN && ev->occurred_ms != INT64_MIN &&
       ev->occurred_ms < link.last_event_ms) {
        snprintf(msg, msg_len, "event %.100s is older than the last one applied", ev->event_id);
        outcome = "ignored";
        res = LG_FWD_IGNORED;
    } else if(current == ev->status) {
        snprintf(msg, msg_len, "Task/%.64s is already %s", task_id, lg_task_status_code(current));
        outcome = "ignored";
        res = LG_FWD_IGNORED;
    } else {
        int hc = hooks && hooks->apply_status
                     ? hooks->apply_status(hooks->ctx, st, task_id, ev->status, ev->reason,
                                           ev->outcome, hook_msg, sizeof hook_msg)
                     : 500;
        if(hc >= 200 && hc < 300) {
            snprintf(msg, msg_len, "Task/%.64s is now %s", task_id, lg_task_status_code(ev->status));
            outcome = "applied";
            res = LG_FWD_APPLIED;
        } else if(hc == 403 || hc == 409 || hc == 422) {
            snprintf(msg, msg_len, "refused (%d): %.200s", hc, hook_msg);
            outcome = "parked";
            res = LG_FWD_PARKED;
        } else if(hc == 404 || hc == 410) {
            snprintf(msg, msg_len, "Task/%.64s is gone", task_id);
            res = LG_FWD_UNKNOWN;
            code = 404;
            goto out;
        } else {
            snprintf(msg, msg_len, "applying the status failed (%d): %.200s", hc, hook_msg);
            res = LG_FWD_FAILED;
            goto out;
        }
    }

    /* The link follows what the platform says when the event was applied or
     * only confirmed the Task's state; a stale or refused event leaves it. */
    lg_forward_link *upd = NULL;
    char *old_status = link.last_status;
    if(link.remote_id && (res == LG_FWD_APPLIED || (res == LG_FWD_IGNORED && current == ev->status))) {
        link.last_status = ev->platform_status;
        if(ev->occurred_ms != INT64_MIN && (link.last_event_ms == INT64_MIN ||
                                            ev->occurred_ms > link.last_event_ms))
            link.last_event_ms = ev->occurred_ms;
        if(lg_fwd_status_terminal(ev->status))
            link.closed = 1;
        upd = &link;
    } else if(!have_link && link.remote_id) {
        upd = &link; /* remember the pairing even when parked */
    }
    rc = record(st, p, ev, task_id, outcome, res == LG_FWD_PARKED ? msg : NULL, upd, now_ms);
    link.last_status = old_status;
    if(rc == LG_ECONFLICT) {
        snprintf(msg, msg_len, "duplicate event %.100s", ev->event_id);
        res = LG_FWD_DUPLICATE;
    } else if(rc != LG_OK) {
        snprintf(msg, msg_len, "recording the event failed: %s", lg_status_str(rc));
        res = LG_FWD_FAILED;
        goto out;
    }
    code = 200;

out:
    lg_forward_link_clear(&link);
    if(http)
        *http = code;
    return res;
}

int lg_fwd_inbound(const lg_fwd_config *c, lg_store *st, const char *platform,
                   lg_fwd_header_fn header, const void *hctx, const char *body, size_t body_len,
                   const lg_fwd_hooks *hooks, int64_t now_ms, char *msg, size_t msg_len)
{
    const lg_fwd_platform *p = lg_fwd_platform_get(c, platform, NULL);
    if(!p) {
        snprintf(msg, msg_len, "no platform named %.64s", platform ? platform : "");
        return 404;
    }
    const lg_fwd_adapter *a = p->adapter;
    if(!a || !a->verify || !a->parse_event) {
        snprintf(msg, msg_len, "platform %s sends no webhooks", p->name);
        return 404;
    }
    if(a->verify(p, p->state, header, hctx, body, body_len, now_ms) != LG_OK) {
        snprintf(msg, msg_len, "bad or missing signature");
        return 401;
    }
    lg_fwd_event ev;
    memset(&ev, 0, sizeof ev);
    ev.occurred_ms = INT64_MIN;
    lg_issues is = {0};
    lg_status rc = a->parse_event(p, p->state, body, body_len, &ev, &is);
    int code;
    if(rc == LG_ENOTFOUND) {
        snprintf(msg, msg_len, "event carries no status: ignored");
        code = 200;
    } else if(rc == LG_ENOMEM) {
        snprintf(msg, msg_len, "out of memory");
        code = 500;
    } else if(rc != LG_OK) {
        snprintf(msg, msg_len, "unreadable event%s%.200s", is.count && is.items[0].diagnostics
                 ? ": " : "", is.count && is.items[0].diagnostics ? is.items[0].diagnostics : "");
        code = 400;
    } else {
        lg_fwd_apply_event(st, p, &ev, hooks, now_ms, &code, msg, msg_len);
    }
    lg_fwd_event_clear(&ev);
    lg_issues_free(&is);
    return code;
}
