/* coordinate.c - the coordination model wired into the write pipeline
 * (issue #4: Workflow). lg_coordinate runs for every create, update, patch
 * and delete (and so every Bundle entry) just before the version is stored,
 * inside the interaction's write transaction, so whatever it adds - a Task
 * cancelled because its ServiceRequest was revoked, the referral's row in
 * the report's fact table - commits or rolls back with the write itself.
 *
 *  - referral Task (code fulfill / SDOHCC TaskForReferralManagement): the
 *    SDOHCC state machine and who may move it (lg_workflow_check: 409, 403,
 *    422), then the Task must agree with its focus ServiceRequest, read from
 *    the store (same child; 422), then the referral's facts are rewritten.
 *  - patient Task (SDOHCC TaskForPatient): the same status checks.
 *  - ServiceRequest: revoked / entered-in-error carries over to its open
 *    referral Tasks (written here, same transaction); facts rewritten.
 *  - Patient: ECM population-of-focus age limits (422); the child's
 *    demographics row the report joins.
 *  - CarePlan: the six-month review rule (422) while the plan is in force.
 *  - forwarding (issue #5): when the configuration routes a referral Task's
 *    owner to a directory platform, the forward job ("create" when the
 *    referral reaches a routed owner, "cancel" when a forwarded referral is
 *    cancelled, entered in error or deleted - by its requester or by the
 *    ServiceRequest cascade) goes into the outbox in this same transaction,
 *    so a committed change always has its job and a rolled-back one never.
 *
 * With no actor (req->actor NULL: the server itself - imports, internal
 * writes, tests of the REST layer alone, a server run without
 * authentication) only the state machine is checked, never who makes a
 * transition; a referral Task may be created in any referral status (a
 * loop that started elsewhere); the Medi-Cal rules that refuse writes (ECM
 * age, care plan review) apply to clients only. The Task/ServiceRequest
 * agreement and the report facts apply to everyone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/json.h"
#include "loopgate/report.h"
#include "loopgate/time.h"
#include "internal.h"

#define TASK_CODE_SYSTEM "http://hl7.org/fhir/CodeSystem/task-code"
/* Open referral Tasks followed per ServiceRequest change, at most: a
 * referral has one Task in practice; the bound keeps one write finite. */
#define MAX_FOLLOWED_TASKS 1000
#define TASK_PAGE 100

/* ------------------------------------------------------------ helpers */

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t jtime(const cJSON *o, const char *key)
{
    const char *s = jstr(o, key);
    int64_t lo, hi;
    return s && lg_time_parse_range(s, &lo, &hi) == LG_OK ? lo : INT64_MIN;
}

static int has_coding(const cJSON *cc, const char *system, const char *code)
{
    const cJSON *cd, *codings = cc ? cJSON_GetObjectItemCaseSensitive(cc, "coding") : NULL;
    cJSON_ArrayForEach(cd, codings) {
        const char *s = jstr(cd, "system"), *k = jstr(cd, "code");
        if(k && strcmp(k, code) == 0 && (!system || (s && strcmp(s, system) == 0)))
            return 1;
    }
    return 0;
}

static int has_profile(const cJSON *res, const char *url)
{
    const cJSON *p, *ps = cJSON_GetObjectItemCaseSensitive(
                          cJSON_GetObjectItemCaseSensitive(res, "meta"), "profile");
    cJSON_ArrayForEach(p, ps)
        if(cJSON_IsString(p) && strncmp(p->valuestring, url, strlen(url)) == 0 &&
           (p->valuestring[strlen(url)] == '\0' || p->valuestring[strlen(url)] == '|'))
            return 1;
    return 0;
}

static int is_referral_task(const cJSON *t)
{
    return t && (has_coding(cJSON_GetObjectItemCaseSensitive(t, "code"), TASK_CODE_SYSTEM, "fulfill") ||
                 has_profile(t, LG_TASK_PROFILE_REFERRAL));
}

/* A Task for the patient (SDOHCC TaskForPatient): the profile, or a code
 * from the SDOHCC task codes (make-contact, review-material, ...). */
static int is_patient_task(const cJSON *t)
{
    if(!t || is_referral_task(t))
        return 0;
    if(has_profile(t, LG_TASK_PROFILE_PATIENT))
        return 1;
    const cJSON *cd, *codings = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "code"), "coding");
    cJSON_ArrayForEach(cd, codings) {
        const char *sys = jstr(cd, "system");
        if(sys && strcmp(sys, LG_SDOHCC_CODES) == 0)
            return 1;
    }
    return 0;
}

/* 403: the transition (or deletion) exists, but not for this actor. */
static lg_status forbid(lg_ctx *c)
{
    return lg_fail_issues(c, LG_EFORBIDDEN);
}

static lg_status fail_code(lg_ctx *c, lg_status s)
{
    return s == LG_ENOMEM ? lg_fail(c, s, "exception", NULL, "Out of memory") : lg_fail_issues(c, s);
}

/* The current version of type/id parsed (NULL when absent or deleted).
 * *version gets its version (0 when none). Caller cJSON_Deletes *out. */
static lg_status read_current(lg_ctx *c, const char *type, const char *id, cJSON **out,
                              int64_t *version)
{
    lg_resource r = {0};
    *out = NULL;
    if(version)
        *version = 0;
    lg_status st = lg_store_read(c->st, type, id, &r);
    if(st == LG_ENOTFOUND)
        return LG_OK;
    if(st)
        return lg_fail(c, st, "exception", NULL, "Could not read %s/%s", type, id);
    if(version)
        *version = r.version;
    if(!r.deleted && r.json) {
        *out = cJSON_ParseWithLength(r.json, r.json_len);
        if(!*out)
            st = lg_fail(c, LG_EINTERNAL, "exception", NULL, "Stored %s/%s is not JSON", type, id);
    }
    lg_resource_clear(&r);
    return st;
}

/* res carries id (a create gets its id only in lg_write_version; the model
 * needs it now). */
static lg_status set_id(lg_ctx *c, cJSON *res, const char *id)
{
    const char *have = jstr(res, "id");
    if(have && strcmp(have, id) == 0)
        return LG_OK;
    cJSON *v = cJSON_CreateString(id);
    if(!v || (cJSON_GetObjectItemCaseSensitive(res, "id") ? !cJSON_ReplaceItemInObjectCaseSensitive(res, "id", v)
                                                          : !cJSON_AddItemToObject(res, "id", v))) {
        cJSON_Delete(v);
        return lg_fail(c, LG_ENOMEM, "exception", NULL, "Out of memory");
    }
    return LG_OK;
}

/* "ServiceRequest/12" -> id "12" (NULL when the reference is not a
 * relative ServiceRequest reference). Caller frees. */
static char *sr_id_of(const cJSON *task)
{
    lg_ref r;
    const char *text = jstr(cJSON_GetObjectItemCaseSensitive(task, "focus"), "reference");
    if(!text || lg_ref_set(&r, text, NULL) != LG_OK)
        return NULL;
    char *id = r.type && r.id && strcmp(r.type, "ServiceRequest") == 0 ? strdup(r.id) : NULL;
    lg_ref_clear(&r);
    return id;
}

/* ------------------------------------------------------------ facts */

/* When the change from prev_task to task happened: the Task's lastModified
 * when the client moved it (present and not the previous version's),
 * otherwise when the server stored it. */
static int64_t transition_time(const lg_ctx *c, const cJSON *task, const cJSON *prev_task)
{
    const char *lm = jstr(task, "lastModified"), *plm = jstr(prev_task, "lastModified");
    if(lm && (!plm || strcmp(lm, plm) != 0)) {
        int64_t t = jtime(task, "lastModified");
        if(t != INT64_MIN)
            return t;
    }
    return c->now;
}

/* The referral (sr and its referral Task, either may be NULL... sr not)
 * into the report's fact table, keeping the milestones already recorded:
 * the first response and the closure happen once. */
static lg_status put_referral_facts(lg_ctx *c, const cJSON *sr, const cJSON *task, const cJSON *prev_task)
{
    lg_referral *r = NULL;
    lg_issues mis = {0};
    lg_status st = lg_model_referral_from_fhir(sr, task, &r, &mis);
    if(st == LG_EINVAL && !task) {
        /* A ServiceRequest that is not (yet) a referral the model can read
         * (no Patient subject: an order for a Group, a Device...) is not
         * refused, only left out of the report. */
        lg_issues_free(&mis);
        const char *sid = jstr(sr, "id");
        if(sid && (st = lg_store_referral_fact_delete(c->st, sid)))
            return lg_fail(c, st, "exception", NULL, "Could not update the report facts");
        return LG_OK;
    }
    for(size_t i = 0; i < mis.count; i++)
        if(lg_issues_add(&c->issues, mis.items[i].severity, mis.items[i].code, mis.items[i].location, "%s",
                         mis.items[i].diagnostics ? mis.items[i].diagnostics : "") != LG_OK)
            st = st ? st : LG_ENOMEM;
    lg_issues_free(&mis);
    if(st) {
        lg_model_referral_free(r);
        return st == LG_EINVAL ? lg_fail_issues(c, LG_EUNPROCESSABLE) : fail_code(c, st);
    }
    lg_report_fact f;
    lg_report_fact_of(r, NULL, &f);
    int64_t times[3];
    int known = lg_store_referral_fact_times(c->st, f.referral, times) == LG_OK;
    if(!known)
        times[0] = times[1] = times[2] = INT64_MIN;
    int64_t at = task ? transition_time(c, task, prev_task) : c->now;
    lg_loop_state loop = r->loop;
    int64_t created = f.created_ms != INT64_MIN ? f.created_ms : times[0] != INT64_MIN ? times[0] : c->now;
    /* First response: the owner answered (accepted or rejected; any later
     * owner state implies an answer). A cancel before an answer is none. */
    int answered = loop == LG_LOOP_ACCEPTED || loop == LG_LOOP_IN_PROGRESS || loop == LG_LOOP_ON_HOLD ||
                   loop == LG_LOOP_CLOSED_SERVED ||
                   (loop == LG_LOOP_CLOSED_NOT_SERVED && r->has_task && r->task_status != LG_TASK_CANCELLED);
    int64_t first = times[1] != INT64_MIN ? times[1] : answered ? at : INT64_MIN;
    int64_t closed = times[2] != INT64_MIN ? times[2] : lg_loop_state_closed(loop) ? at : INT64_MIN;
    if(loop != LG_LOOP_ERROR && !lg_loop_state_closed(loop))
        closed = INT64_MIN; /* not closed (any more): no closure time to measure */
    if(first != INT64_MIN && first < created)
        first = created; /* clocks of two systems: never a negative wait */
    if(closed != INT64_MIN && closed < created)
        closed = created;
    lg_store_referral_fact sf = {
        .referral_id = f.referral, .task_id = r->task_id, .child_id = f.child,
        .organization = f.organization, .created_ms = created, .first_response_ms = first,
        .closed_ms = closed, .loop = (int)loop, .not_served = f.not_served, .category = f.category,
    };
    st = lg_store_referral_fact_put(c->st, &sf);
    lg_model_referral_free(r);
    if(st)
        return lg_fail(c, st, "exception", NULL, "Could not store the referral's report facts");
    return LG_OK;
}

/* ------------------------------------------------------------ forwarding */

static const char *owner_of(const cJSON *task)
{
    return jstr(cJSON_GetObjectItemCaseSensitive(task, "owner"), "reference");
}

/* A referral the platform holds as live: sent and not yet closed. draft
 * was never forwarded; the closed states have nothing left to cancel or
 * deliver. */
static int open_status(const cJSON *task)
{
    lg_task_status s;
    const char *code = jstr(task, "status");
    if(!code || lg_task_status_parse(code, &s) != 0)
        return 0;
    switch(s) {
    case LG_TASK_REQUESTED: case LG_TASK_RECEIVED: case LG_TASK_ACCEPTED: case LG_TASK_READY:
    case LG_TASK_IN_PROGRESS: case LG_TASK_ON_HOLD:
        return 1;
    default:
        return 0;
    }
}

static int status_is(const cJSON *task, const char *code)
{
    const char *s = jstr(task, "status");
    return s && strcmp(s, code) == 0;
}

/* Same target (Type/id) for two reference texts; -1 out of memory. */
static int same_ref(const char *a, const char *b)
{
    lg_ref ra, rb;
    if(!a || !b)
        return 0;
    if(lg_ref_set(&ra, a, NULL) != LG_OK)
        return -1;
    if(lg_ref_set(&rb, b, NULL) != LG_OK) {
        lg_ref_clear(&ra);
        return -1;
    }
    int same = lg_ref_same(&ra, &rb);
    lg_ref_clear(&ra);
    lg_ref_clear(&rb);
    return same;
}

/* The route of owner (platform and target borrowed from the configuration),
 * or 0 when it is not forwarded. */
static int route_of(const lg_ctx *c, const char *owner, const char **platform, const char **target)
{
    const lg_rest_config *cfg = &c->rest->cfg;
    *platform = *target = NULL;
    if(!owner || !cfg->forward_route)
        return 0;
    return cfg->forward_route(cfg->forward_ctx, owner, platform, target) == 1 && *platform;
}

static lg_status add_job(lg_ctx *c, const char *kind, const char *task_id, const cJSON *task,
                         const char *platform, const char *target)
{
    char *sr_id = sr_id_of(task);
    lg_outbox_job j = {
        .platform = (char *)platform, .kind = (char *)kind, .task_id = (char *)task_id,
        .referral_id = sr_id, .target = (char *)target, .created_ms = c->now, .next_at_ms = c->now,
    };
    lg_status st = lg_store_outbox_add(c->st, &j, NULL);
    free(sr_id);
    if(st)
        return lg_fail(c, st, "exception", NULL, "Could not add the forward job (%s) of Task/%s", kind,
                       task_id);
    /* The HTTP layer wakes the forwarder once this is durable; a rollback
     * clears it again (lg_txn_rollback). */
    c->resp->outbox_added = 1;
    return LG_OK;
}

/* The forward jobs of a referral Task going from prev (NULL: created) to
 * task (docs/forwarding.md, "What is forwarded when"):
 *  - create: task is open with a routed owner, and prev was not open
 *    (created, or leaving draft) or had another owner;
 *  - cancel: task becomes cancelled or entered-in-error while prev was
 *    open with a routed owner (it was forwarded), to prev's platform; or
 *    the open Task moves from a routed owner to another owner (the first
 *    platform must stop working on it; a create to the new owner's
 *    platform, if routed, follows in order). */
static lg_status forward_jobs(lg_ctx *c, const char *task_id, const cJSON *prev, const cJSON *task)
{
    const char *platform, *target;
    if(!task || !c->rest->cfg.forward_route)
        return LG_OK;
    if(open_status(task) && prev && open_status(prev)) {
        int same = same_ref(owner_of(prev), owner_of(task));
        if(same < 0)
            return lg_fail(c, LG_ENOMEM, "exception", NULL, "Out of memory");
        if(same)
            return LG_OK; /* an update that does not move the referral */
        lg_status st;
        if(route_of(c, owner_of(prev), &platform, &target) &&
           (st = add_job(c, "cancel", task_id, prev, platform, target)))
            return st;
        if(route_of(c, owner_of(task), &platform, &target))
            return add_job(c, "create", task_id, task, platform, target);
        return LG_OK;
    }
    if(open_status(task) && route_of(c, owner_of(task), &platform, &target))
        return add_job(c, "create", task_id, task, platform, target);
    if(prev && open_status(prev) && (status_is(task, "cancelled") || status_is(task, "entered-in-error")) &&
       route_of(c, owner_of(prev), &platform, &target))
        return add_job(c, "cancel", task_id, prev, platform, target);
    return LG_OK;
}

/* ------------------------------------------------------------ Task */

static lg_status check_status_change(lg_ctx *c, const cJSON *cur, const cJSON *res)
{
    if(!c->req->actor && !cur) {
        /* The server itself bringing a referral in (an import, a loop that
         * started elsewhere, the IG's examples): any referral status may be
         * its first stored one. Transitions from then on are checked. */
        lg_task_status s;
        const char *code = jstr(res, "status");
        if(code && lg_task_status_parse(code, &s) == 0 && lg_task_status_in_referral_vs(s))
            return LG_OK;
        return lg_fail(c, LG_EUNPROCESSABLE, "code-invalid", "Task.status",
                       "'%s' is not in the SDOHCC referral Task status value set (received and ready are "
                       "excluded)", code ? code : "");
    }
    switch(lg_workflow_check(cur, res, c->req->actor, &c->issues)) {
    case LG_WF_ALLOWED: return LG_OK;
    case LG_WF_CONFLICT: return lg_fail_issues(c, LG_ECONFLICT);
    case LG_WF_FORBIDDEN: return forbid(c);
    case LG_WF_INVALID: return lg_fail_issues(c, LG_EUNPROCESSABLE);
    case LG_WF_NOMEM: break;
    }
    return lg_fail(c, LG_ENOMEM, "exception", NULL, "Out of memory");
}

static lg_status task_written(lg_ctx *c, const char *id, cJSON *res)
{
    cJSON *cur = NULL, *sr = NULL;
    char *sr_id = NULL;
    lg_status st = read_current(c, "Task", id, &cur, NULL);
    if(st)
        return st;
    int referral = is_referral_task(res) || is_referral_task(cur);
    if(!res) { /* delete */
        if(referral && cur) {
            const lg_actor *a = c->req->actor;
            if(a && !(a->role == LG_ROLE_COORDINATION ||
                      (a->role == LG_ROLE_REFERRAL_SOURCE &&
                       lg_actor_acts_for(a, jstr(cJSON_GetObjectItemCaseSensitive(cur, "requester"), "reference"))))) {
                lg_issues_add(&c->issues, LG_SEV_ERROR, "forbidden", "Task",
                              "only the referral source that requested Task/%s may delete it "
                              "(cancel it instead to close the loop)", id);
                st = forbid(c);
                goto out;
            }
            /* The referral stays (its ServiceRequest); its loop goes back to
             * what the ServiceRequest alone says. */
            if((sr_id = sr_id_of(cur)) && !(st = read_current(c, "ServiceRequest", sr_id, &sr, NULL)) && sr)
                st = put_referral_facts(c, sr, NULL, NULL);
            /* A forwarded referral still open is withdrawn from its platform
             * like a cancel: the platform would otherwise keep working on a
             * referral the sender no longer has (the job loads the deleted
             * Task's last version; docs/forwarding.md). */
            const char *platform, *target;
            if(!st && open_status(cur) && route_of(c, owner_of(cur), &platform, &target))
                st = add_job(c, "cancel", id, cur, platform, target);
        }
        goto out;
    }
    if((st = set_id(c, res, id)))
        goto out;
    if(referral) {
        if((st = check_status_change(c, cur, res)))
            goto out;
        /* The Task and the ServiceRequest it fulfils must agree (issue #4:
         * a Task whose focus is not a ServiceRequest for the same child is
         * refused). */
        const char *focus = jstr(cJSON_GetObjectItemCaseSensitive(res, "focus"), "reference");
        if(!(sr_id = sr_id_of(res))) {
            st = lg_fail(c, LG_EUNPROCESSABLE, "business-rule", "Task.focus",
                         "a referral Task's focus is the ServiceRequest it fulfils (as ServiceRequest/id), not %s",
                         focus ? focus : "absent");
            goto out;
        }
        if((st = read_current(c, "ServiceRequest", sr_id, &sr, NULL)))
            goto out;
        if(!sr && c->req->actor) {
            st = lg_fail(c, LG_EUNPROCESSABLE, "business-rule", "Task.focus",
                         "Task.focus %s is not a stored ServiceRequest (post the ServiceRequest first, "
                         "or before the Task in the same transaction)", focus);
            goto out;
        }
        /* (The server itself may store a Task ahead of its referral: no
         * facts then, the ServiceRequest's write will add them.) */
        if(sr && (st = put_referral_facts(c, sr, res, cur)))
            goto out;
        st = forward_jobs(c, id, cur, res);
    } else if(is_patient_task(res)) {
        lg_patient_task *pt = NULL;
        if((st = lg_model_patient_task_from_fhir(res, &pt, &c->issues))) {
            st = st == LG_EINVAL ? lg_fail_issues(c, LG_EUNPROCESSABLE) : fail_code(c, st);
            goto out;
        }
        lg_model_patient_task_free(pt);
        st = check_status_change(c, cur, res);
    }
out:
    free(sr_id);
    cJSON_Delete(cur);
    cJSON_Delete(sr);
    return st;
}

/* ------------------------------------------------------------ ServiceRequest */

/* Each referral Task whose focus is ServiceRequest/sr_id follows sr (cancel
 * on revoked, entered-in-error); the referral's facts are rewritten from sr
 * and its (first) referral Task. */
static lg_status service_request_written(lg_ctx *c, const char *id, cJSON *sr)
{
    lg_query q = {0};
    lg_resource_list l = {0};
    cJSON *ref_task = NULL, *ref_prev = NULL;
    char focus[160];
    size_t seen = 0;
    lg_status st = LG_OK;

    /* The referral is the referral source's: a CBO answers through the
     * Task (accept, reject, complete...), never by rewriting, revoking or
     * deleting the ServiceRequest it can read through its Task. */
    if(c->req->actor && c->req->actor->role == LG_ROLE_REFERRAL_RECIPIENT)
        return lg_fail(c, LG_EFORBIDDEN, "forbidden", "ServiceRequest",
                       "A referral recipient cannot change or delete ServiceRequest/%s; it answers "
                       "through the referral Task", id);
    if(!sr) /* deleted: the referral is gone from the report */
        return (st = lg_store_referral_fact_delete(c->st, id))
                   ? lg_fail(c, st, "exception", NULL, "Could not update the report facts") : LG_OK;
    if((st = set_id(c, sr, id)))
        return st;
    snprintf(focus, sizeof(focus), "ServiceRequest/%s", id);
    if(!(q.type = strdup("Task")))
        return lg_fail(c, LG_ENOMEM, "exception", NULL, "Out of memory");
    q.count = TASK_PAGE;
    if((st = lg_query_add_param(c->rest->defs, &q, "focus", focus, &c->issues))) {
        st = lg_fail_issues(c, LG_EINTERNAL);
        goto out;
    }
    for(;;) {
        if((st = lg_store_search(c->st, &q, &l, &c->issues))) {
            st = lg_fail_issues(c, st);
            goto out;
        }
        size_t n = l.count > (size_t)q.count ? (size_t)q.count : l.count;
        for(size_t i = 0; i < n; i++) {
            if(++seen > MAX_FOLLOWED_TASKS) {
                st = lg_fail(c, LG_ETOOLARGE, "too-costly", "ServiceRequest",
                             "more than %d Tasks fulfil %s", MAX_FOLLOWED_TASKS, focus);
                goto out;
            }
            cJSON *t = cJSON_ParseWithLength(l.items[i].json, l.items[i].json_len);
            if(!t) {
                st = lg_fail(c, LG_EINTERNAL, "exception", NULL, "Stored Task/%s is not JSON", l.items[i].id);
                goto out;
            }
            if(!is_referral_task(t)) {
                cJSON_Delete(t);
                continue;
            }
            cJSON *upd = NULL;
            if((st = lg_workflow_follow_service_request(sr, t, c->now, &upd, &c->issues))) {
                cJSON_Delete(t);
                st = fail_code(c, st == LG_EINVAL ? LG_EUNPROCESSABLE : st);
                goto out;
            }
            if(upd) {
                lg_resource w = {0};
                st = lg_write_version(c, "Task", l.items[i].id, upd, l.items[i].version, "PUT", &w);
                lg_resource_clear(&w);
                /* A forwarded referral cancelled by the cascade is cancelled
                 * at its platform too. */
                if(!st)
                    st = forward_jobs(c, l.items[i].id, t, upd);
                if(st) {
                    cJSON_Delete(t);
                    cJSON_Delete(upd);
                    goto out;
                }
            }
            if(!ref_task) { /* the referral's Task: the first one written */
                ref_task = upd ? upd : t;
                ref_prev = upd ? t : NULL;
                continue;
            }
            cJSON_Delete(t);
            cJSON_Delete(upd);
        }
        if(l.count <= (size_t)q.count)
            break;
        q.has_cursor = 1;
        q.after_seq = l.items[n - 1].seq;
        lg_resource_list_clear(&l);
    }
    st = put_referral_facts(c, sr, ref_task, ref_prev);
out:
    lg_resource_list_clear(&l);
    lg_query_free(&q);
    if(ref_prev)
        cJSON_Delete(ref_prev);
    cJSON_Delete(ref_task);
    return st;
}

/* ------------------------------------------------------------ Patient, CarePlan */

static lg_status patient_written(lg_ctx *c, const char *id, cJSON *res)
{
    lg_status st;
    if(!res)
        return (st = lg_store_child_facts_delete(c->st, id))
                   ? lg_fail(c, st, "exception", NULL, "Could not update the report facts") : LG_OK;
    if((st = set_id(c, res, id)))
        return st;
    lg_child *ch = NULL;
    if((st = lg_model_child_from_fhir(res, &ch, &c->issues)))
        return st == LG_EINVAL ? lg_fail_issues(c, LG_EUNPROCESSABLE) : fail_code(c, st);
    /* Medi-Cal rules refuse what clients send; the server itself (no
     * actor: imports, REST-only tests) is trusted with its records. */
    if(c->req->actor && (st = lg_rule_ecm_age(ch, c->now, &c->issues))) {
        lg_model_child_free(ch);
        return lg_fail_issues(c, st);
    }
    lg_report_fact f;
    lg_report_fact_of(NULL, ch, &f);
    lg_store_child_facts cf = {
        .child_id = id, .race = f.race, .ethnicity = f.ethnicity, .language = f.language,
        .county = f.county, .phm_tier = f.phm_tier, .population = f.population,
    };
    st = lg_store_child_facts_put(c->st, &cf);
    lg_model_child_free(ch);
    return st ? lg_fail(c, st, "exception", NULL, "Could not store the child's report facts") : LG_OK;
}

static lg_status care_plan_written(lg_ctx *c, const char *id, cJSON *res)
{
    lg_status st;
    if(!res || !c->req->actor) /* see patient_written: the server itself is trusted */
        return LG_OK;
    /* A plan no longer in force is not reviewed any more. */
    const char *s = jstr(res, "status");
    if(s && (strcmp(s, "completed") == 0 || strcmp(s, "revoked") == 0 ||
             strcmp(s, "entered-in-error") == 0))
        return LG_OK;
    if((st = set_id(c, res, id)))
        return st;
    lg_care_plan *p = NULL;
    if((st = lg_model_care_plan_from_fhir(res, &p, &c->issues)))
        return st == LG_EINVAL ? lg_fail_issues(c, LG_EUNPROCESSABLE) : fail_code(c, st);
    st = lg_rule_care_plan_review(p, c->now, &c->issues);
    lg_model_care_plan_free(p);
    return st ? lg_fail_issues(c, st) : LG_OK;
}

lg_status lg_coordinate(lg_ctx *c, const char *type, const char *id, cJSON *res)
{
    if(strcmp(type, "Task") == 0)
        return task_written(c, id, res);
    if(strcmp(type, "ServiceRequest") == 0)
        return service_request_written(c, id, res);
    if(strcmp(type, "Patient") == 0)
        return patient_written(c, id, res);
    if(strcmp(type, "CarePlan") == 0)
        return care_plan_written(c, id, res);
    return LG_OK;
}
