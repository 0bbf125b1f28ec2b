/* Unit tests for the SDOHCC referral Task state machine (src/model/workflow.c):
 * every transition between referral Task statuses, for the requester, the
 * owner, a stranger and a reporting client, against a table written here
 * from the IG's state diagram; plus the field requirements of transitions. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "loopgate/model.h"

#define CREATE LG_TASK_STATUS_COUNT
#define R LG_PARTY_REQUESTER
#define O LG_PARTY_OWNER

/* The IG's diagram, written out edge by edge (independently of workflow.c). */
static const struct edge { lg_task_status from, to; lg_wf_party who; } edges[] = {
    { CREATE, LG_TASK_DRAFT, R }, { CREATE, LG_TASK_REQUESTED, R },
    { LG_TASK_DRAFT, LG_TASK_REQUESTED, R }, { LG_TASK_DRAFT, LG_TASK_CANCELLED, R },
    { LG_TASK_DRAFT, LG_TASK_ENTERED_IN_ERROR, R },
    { LG_TASK_REQUESTED, LG_TASK_ACCEPTED, O }, { LG_TASK_REQUESTED, LG_TASK_REJECTED, O },
    { LG_TASK_REQUESTED, LG_TASK_CANCELLED, R }, { LG_TASK_REQUESTED, LG_TASK_ENTERED_IN_ERROR, R },
    { LG_TASK_ACCEPTED, LG_TASK_IN_PROGRESS, O }, { LG_TASK_ACCEPTED, LG_TASK_ON_HOLD, O },
    { LG_TASK_ACCEPTED, LG_TASK_COMPLETED, O }, { LG_TASK_ACCEPTED, LG_TASK_FAILED, O },
    { LG_TASK_ACCEPTED, LG_TASK_CANCELLED, R }, { LG_TASK_ACCEPTED, LG_TASK_ENTERED_IN_ERROR, R },
    { LG_TASK_IN_PROGRESS, LG_TASK_ON_HOLD, O }, { LG_TASK_IN_PROGRESS, LG_TASK_COMPLETED, O },
    { LG_TASK_IN_PROGRESS, LG_TASK_FAILED, O }, { LG_TASK_IN_PROGRESS, LG_TASK_CANCELLED, R },
    { LG_TASK_IN_PROGRESS, LG_TASK_ENTERED_IN_ERROR, R },
    { LG_TASK_ON_HOLD, LG_TASK_IN_PROGRESS, O }, { LG_TASK_ON_HOLD, LG_TASK_COMPLETED, O },
    { LG_TASK_ON_HOLD, LG_TASK_FAILED, O }, { LG_TASK_ON_HOLD, LG_TASK_CANCELLED, R },
    { LG_TASK_ON_HOLD, LG_TASK_ENTERED_IN_ERROR, R },
    { LG_TASK_REJECTED, LG_TASK_ENTERED_IN_ERROR, R }, { LG_TASK_CANCELLED, LG_TASK_ENTERED_IN_ERROR, R },
    { LG_TASK_FAILED, LG_TASK_ENTERED_IN_ERROR, R }, { LG_TASK_COMPLETED, LG_TASK_ENTERED_IN_ERROR, R },
};

static lg_wf_party expected_party(lg_task_status from, lg_task_status to)
{
    for(size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        if(edges[i].from == from && edges[i].to == to)
            return edges[i].who;
    return LG_PARTY_NOBODY;
}

static const char *const requester_refs[] = { "Organization/clinic-1", "PractitionerRole/cm-1" };
static const char *const owner_refs[] = { "Organization/cbo-17" };
static const char *const stranger_refs[] = { "Organization/cbo-99" };

static const lg_actor requester = { LG_ROLE_REFERRAL_SOURCE, requester_refs, 2 };
static const lg_actor owner = { LG_ROLE_REFERRAL_RECIPIENT, owner_refs, 1 };
static const lg_actor stranger = { LG_ROLE_REFERRAL_RECIPIENT, stranger_refs, 1 };
/* Acts for the owner's organization, but as a reporting client. */
static const lg_actor reporter = { LG_ROLE_REPORTING, owner_refs, 1 };

/* A referral Task in status s with everything every transition can need:
 * a statusReason and a resulting-activity output. */
static cJSON *task(const char *status, bool reason, bool output)
{
    char buf[1500];
    snprintf(buf, sizeof(buf),
             "{\"resourceType\":\"Task\",\"id\":\"t1\",\"status\":\"%s\",\"intent\":\"order\","
             "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\",\"code\":\"fulfill\"}]},"
             "\"focus\":{\"reference\":\"ServiceRequest/sr1\"},\"for\":{\"reference\":\"Patient/p1\"},"
             "\"authoredOn\":\"2026-11-02\",\"requester\":{\"reference\":\"PractitionerRole/cm-1\"},"
             "\"owner\":{\"reference\":\"Organization/cbo-17\"}%s%s}",
             status, reason ? ",\"statusReason\":{\"text\":\"family asked\"}" : "",
             output ? ",\"output\":[{\"type\":{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                      "\",\"code\":\"resulting-activity\"}]},\"valueReference\":{\"reference\":\"Procedure/pr1\"}}]"
                    : "");
    cJSON *t = cJSON_Parse(buf);
    cr_assert_not_null(t);
    return t;
}

static bool names(const lg_issues *is, const char *a, const char *b)
{
    for(size_t i = 0; i < is->count; i++)
        if(is->items[i].severity <= LG_SEV_ERROR && strstr(is->items[i].diagnostics, a) &&
           strstr(is->items[i].diagnostics, b))
            return true;
    return false;
}

Test(model_workflow, party_table_matches_the_ig_diagram_for_every_pair)
{
    int edges_seen = 0;
    for(int f = 0; f <= LG_TASK_STATUS_COUNT; f++)
        for(int t = 0; t < LG_TASK_STATUS_COUNT; t++) {
            lg_wf_party want = expected_party((lg_task_status)f, (lg_task_status)t);
            cr_assert_eq(lg_workflow_party((lg_task_status)f, (lg_task_status)t), want, "%s -> %s",
                         f == CREATE ? "(create)" : lg_task_status_code((lg_task_status)f),
                         lg_task_status_code((lg_task_status)t));
            edges_seen += want != LG_PARTY_NOBODY;
        }
    cr_assert_eq(edges_seen, (int)(sizeof(edges) / sizeof(edges[0])));
}

Test(model_workflow, received_and_ready_are_outside_the_referral_value_set)
{
    int in = 0;
    for(int s = 0; s < LG_TASK_STATUS_COUNT; s++)
        in += lg_task_status_in_referral_vs((lg_task_status)s);
    cr_assert_eq(in, 10);
    cr_assert_not(lg_task_status_in_referral_vs(LG_TASK_RECEIVED));
    cr_assert_not(lg_task_status_in_referral_vs(LG_TASK_READY));
}

/* Every (from, to, actor): the verdict the table predicts, and a conflict
 * names both states. */
Test(model_workflow, every_transition_for_every_actor)
{
    const lg_actor *actors[] = { &requester, &owner, &stranger, &reporter };
    const char *actor_names[] = { "requester", "owner", "stranger", "reporter" };
    int counts[5] = { 0 };
    for(int f = 0; f <= LG_TASK_STATUS_COUNT; f++) {
        if(f != CREATE && !lg_task_status_in_referral_vs((lg_task_status)f))
            continue; /* a stored Task is never received/ready */
        for(int t = 0; t < LG_TASK_STATUS_COUNT; t++)
            for(int a = 0; a < 4; a++) {
                cJSON *cur = f == CREATE ? NULL : task(lg_task_status_code((lg_task_status)f), false, false);
                cJSON *prop = task(lg_task_status_code((lg_task_status)t), true, true);
                lg_issues is = { 0 };
                lg_wf_result got = lg_workflow_check(cur, prop, actors[a], &is);
                lg_wf_party p = expected_party((lg_task_status)f, (lg_task_status)t);
                bool is_req = a == 0, is_own = a == 1;
                lg_wf_result want;
                if(!lg_task_status_in_referral_vs((lg_task_status)t))
                    want = LG_WF_INVALID;
                else if(f == CREATE)
                    want = !is_req ? LG_WF_FORBIDDEN : p ? LG_WF_ALLOWED : LG_WF_CONFLICT;
                else if(!is_req && !is_own)
                    want = LG_WF_FORBIDDEN;
                else if(f == t)
                    want = LG_WF_ALLOWED;
                else if(p == LG_PARTY_NOBODY)
                    want = LG_WF_CONFLICT;
                else if(((p & R) && is_req) || ((p & O) && is_own))
                    want = LG_WF_ALLOWED;
                else
                    want = LG_WF_FORBIDDEN;
                const char *fc = f == CREATE ? "(create)" : lg_task_status_code((lg_task_status)f);
                const char *tc = lg_task_status_code((lg_task_status)t);
                cr_assert_eq(got, want, "%s: %s -> %s gave %d, want %d", actor_names[a], fc, tc, got, want);
                if(got != LG_WF_ALLOWED)
                    cr_assert_gt(lg_issues_errors(&is), 0, "%s -> %s refused without an issue", fc, tc);
                else
                    cr_assert_eq(lg_issues_errors(&is), 0);
                if(got == LG_WF_CONFLICT && f != CREATE)
                    cr_assert(names(&is, fc, tc), "conflict %s -> %s must name both states", fc, tc);
                counts[got]++;
                lg_issues_free(&is);
                cJSON_Delete(cur);
                cJSON_Delete(prop);
            }
    }
    /* 11 "from" rows (create + 10 statuses) x 12 targets x 4 actors. */
    cr_assert_eq(counts[0] + counts[1] + counts[2] + counts[3], 11 * 12 * 4);
    cr_log_info("workflow verdicts: allowed %d, invalid %d, forbidden %d, conflict %d", counts[0], counts[1],
                counts[2], counts[3]);
    cr_assert_gt(counts[LG_WF_CONFLICT], 0);
}

static lg_wf_result check(const char *from, cJSON *prop, const lg_actor *a, lg_issues *is)
{
    cJSON *cur = from ? task(from, false, false) : NULL;
    lg_wf_result r = lg_workflow_check(cur, prop, a, is);
    cJSON_Delete(cur);
    cJSON_Delete(prop);
    return r;
}

Test(model_workflow, reject_needs_status_reason)
{
    lg_issues is = { 0 };
    cr_assert_eq(check("requested", task("rejected", false, false), &owner, &is), LG_WF_INVALID);
    cr_assert_str_eq(is.items[0].location, "Task.statusReason");
    lg_issues_free(&is);
    cr_assert_eq(check("requested", task("rejected", true, false), &owner, &is), LG_WF_ALLOWED);
    lg_issues_free(&is);
}

Test(model_workflow, complete_needs_resulting_activity)
{
    lg_issues is = { 0 };
    cr_assert_eq(check("in-progress", task("completed", false, false), &owner, &is), LG_WF_INVALID);
    cr_assert_str_eq(is.items[0].location, "Task.output");
    lg_issues_free(&is);
    /* An output of another type does not count. */
    cJSON *p = task("completed", false, false);
    cJSON *o = cJSON_Parse("[{\"type\":{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                           "\",\"code\":\"additional-content\"}]},\"valueReference\":{\"reference\":\"Observation/1\"}}]");
    cJSON_AddItemToObject(p, "output", o);
    cr_assert_eq(check("in-progress", p, &owner, &is), LG_WF_INVALID);
    lg_issues_free(&is);
    /* A code names the activity as well as a reference does. */
    p = task("completed", false, false);
    o = cJSON_Parse("[{\"type\":{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                    "\",\"code\":\"resulting-activity\"}]},\"valueCodeableConcept\":{\"coding\":[{\"system\":"
                    "\"http://snomed.info/sct\",\"code\":\"467771000124109\"}]}}]");
    cJSON_AddItemToObject(p, "output", o);
    cr_assert_eq(check("in-progress", p, &owner, &is), LG_WF_ALLOWED);
    lg_issues_free(&is);
}

Test(model_workflow, hold_without_reason_is_allowed_with_a_warning)
{
    lg_issues is = { 0 };
    cr_assert_eq(check("in-progress", task("on-hold", false, false), &owner, &is), LG_WF_ALLOWED);
    cr_assert_eq(is.count, 1);
    cr_assert_eq(is.items[0].severity, LG_SEV_WARNING);
    lg_issues_free(&is);
}

Test(model_workflow, focus_for_and_requester_never_change)
{
    const char *keys[] = { "focus", "for", "requester" };
    for(int i = 0; i < 3; i++) {
        cJSON *p = task("requested", false, false);
        cJSON *ref = cJSON_Parse("{\"reference\":\"ServiceRequest/other\"}");
        cJSON_ReplaceItemInObjectCaseSensitive(p, keys[i], ref);
        lg_issues is = { 0 };
        cr_assert_eq(check("requested", p, &requester, &is), LG_WF_INVALID, "%s", keys[i]);
        char loc[32];
        snprintf(loc, sizeof(loc), "Task.%s", keys[i]);
        cr_assert_str_eq(is.items[0].location, loc);
        lg_issues_free(&is);
    }
}

Test(model_workflow, owner_reassignment_only_by_requester_before_an_answer)
{
    lg_issues is = { 0 };
    cJSON *p = task("requested", false, false);
    cJSON_ReplaceItemInObjectCaseSensitive(p, "owner", cJSON_Parse("{\"reference\":\"Organization/cbo-99\"}"));
    cr_assert_eq(check("requested", p, &requester, &is), LG_WF_ALLOWED);
    lg_issues_free(&is);

    p = task("requested", false, false);
    cJSON_ReplaceItemInObjectCaseSensitive(p, "owner", cJSON_Parse("{\"reference\":\"Organization/cbo-99\"}"));
    cr_assert_eq(check("requested", p, &owner, &is), LG_WF_FORBIDDEN);
    lg_issues_free(&is);

    p = task("accepted", false, false);
    cJSON_ReplaceItemInObjectCaseSensitive(p, "owner", cJSON_Parse("{\"reference\":\"Organization/cbo-99\"}"));
    cr_assert_eq(check("accepted", p, &requester, &is), LG_WF_CONFLICT);
    lg_issues_free(&is);
}

Test(model_workflow, an_unassigned_request_is_claimed_by_answering_it)
{
    cJSON *cur = task("requested", false, false);
    cJSON_DeleteItemFromObjectCaseSensitive(cur, "owner");
    cJSON *prop = task("accepted", false, false); /* owner Organization/cbo-17 */
    lg_issues is = { 0 };
    cr_assert_eq(lg_workflow_check(cur, prop, &owner, &is), LG_WF_ALLOWED);
    /* ... but nobody may start work on it without accepting first. */
    cJSON_Delete(prop);
    prop = task("in-progress", false, false);
    cr_assert_eq(lg_workflow_check(cur, prop, &owner, &is), LG_WF_FORBIDDEN);
    lg_issues_free(&is);
    cJSON_Delete(cur);
    cJSON_Delete(prop);
}

Test(model_workflow, role_must_match_the_side)
{
    /* A recipient-role client that happens to act for the requester is not the requester. */
    static const char *const refs[] = { "PractitionerRole/cm-1" };
    lg_actor wrong = { LG_ROLE_REFERRAL_RECIPIENT, refs, 1 };
    lg_issues is = { 0 };
    cr_assert_eq(check("requested", task("cancelled", true, false), &wrong, &is), LG_WF_FORBIDDEN);
    lg_issues_free(&is);
    /* Coordination staff acting for the requester may cancel. */
    lg_actor staff = { LG_ROLE_COORDINATION, refs, 1 };
    cr_assert_eq(check("requested", task("cancelled", true, false), &staff, &is), LG_WF_ALLOWED);
    lg_issues_free(&is);
    /* No actor: the server itself, which checks only the state machine. */
    cr_assert_eq(check("requested", task("cancelled", true, false), NULL, &is), LG_WF_ALLOWED);
    lg_issues_free(&is);
    cr_assert_eq(check("completed", task("cancelled", true, false), NULL, &is), LG_WF_CONFLICT);
    cr_assert(names(&is, "completed", "cancelled"));
    lg_issues_free(&is);
    cr_assert_eq(check("requested", task("rejected", false, false), NULL, &is), LG_WF_INVALID);
    lg_issues_free(&is);
}

Test(model_workflow, unknown_status_and_not_a_task_are_invalid)
{
    lg_issues is = { 0 };
    cr_assert_eq(check("requested", task("done", false, false), &owner, &is), LG_WF_INVALID);
    cr_assert_str_eq(is.items[0].location, "Task.status");
    lg_issues_free(&is);
    cJSON *p = cJSON_Parse("{\"resourceType\":\"ServiceRequest\",\"status\":\"active\"}");
    cr_assert_eq(check("requested", p, &owner, &is), LG_WF_INVALID);
    lg_issues_free(&is);
}

/* A TaskForPatient: the patient (owner) completes it without a resulting
 * activity, as the SDOHCC example does. */
Test(model_workflow, patient_task_completed_by_the_patient)
{
    cJSON *cur = cJSON_Parse(
        "{\"resourceType\":\"Task\",\"status\":\"in-progress\",\"intent\":\"order\",\"code\":{\"coding\":[{"
        "\"system\":\"" LG_SDOHCC_CODES "\",\"code\":\"make-contact\"}]},\"for\":{\"reference\":\"Patient/p1\"},"
        "\"requester\":{\"reference\":\"Organization/clinic-1\"},\"owner\":{\"reference\":\"Patient/p1\"}}");
    cJSON *prop = cJSON_Duplicate(cur, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(prop, "status", cJSON_CreateString("completed"));
    static const char *const refs[] = { "Patient/p1" };
    lg_actor patient = { LG_ROLE_REFERRAL_RECIPIENT, refs, 1 };
    lg_issues is = { 0 };
    cr_assert_eq(lg_workflow_check(cur, prop, &patient, &is), LG_WF_ALLOWED);
    cr_assert_eq(lg_workflow_check(cur, prop, &stranger, &is), LG_WF_FORBIDDEN);
    lg_issues_free(&is);
    cJSON_Delete(cur);
    cJSON_Delete(prop);
}

/* A cancelled referral cancels its open Task; a closed Task stays closed. */
Test(model_workflow, task_follows_its_service_request)
{
    cJSON *sr = cJSON_Parse("{\"resourceType\":\"ServiceRequest\",\"id\":\"sr1\",\"status\":\"active\"}");
    lg_issues is = { 0 };
    cJSON *upd = NULL;
    const char *open_states[] = { "draft", "requested", "accepted", "in-progress", "on-hold" };
    const char *closed_states[] = { "completed", "rejected", "cancelled", "failed", "entered-in-error" };
    for(int i = 0; i < 5; i++) {
        cJSON *t = task(open_states[i], false, false);
        cJSON_ReplaceItemInObject(sr, "status", cJSON_CreateString("active"));
        cr_assert_eq(lg_workflow_follow_service_request(sr, t, 0, &upd, &is), LG_OK);
        cr_assert_null(upd);
        cJSON_ReplaceItemInObject(sr, "status", cJSON_CreateString("revoked"));
        cr_assert_eq(lg_workflow_follow_service_request(sr, t, 1800000000000, &upd, &is), LG_OK);
        cr_assert_not_null(upd, "%s", open_states[i]);
        cr_assert_str_eq(cJSON_GetObjectItem(upd, "status")->valuestring, "cancelled");
        cr_assert_str_eq(cJSON_GetObjectItem(upd, "lastModified")->valuestring, "2027-01-15T08:00:00.000Z");
        cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(upd, "statusReason"), "text"));
        /* ... and that is a change the requester may make (coordination staff acting for it). */
        static const char *const refs[] = { "PractitionerRole/cm-1" };
        lg_actor staff = { LG_ROLE_COORDINATION, refs, 1 };
        cr_assert_eq(lg_workflow_check(t, upd, &staff, &is), LG_WF_ALLOWED);
        cJSON_Delete(upd);
        cJSON_Delete(t);
    }
    cJSON_ReplaceItemInObject(sr, "status", cJSON_CreateString("revoked"));
    for(int i = 0; i < 5; i++) {
        cJSON *t = task(closed_states[i], false, false);
        cr_assert_eq(lg_workflow_follow_service_request(sr, t, 0, &upd, &is), LG_OK);
        cr_assert_null(upd, "%s", closed_states[i]);
        cJSON_Delete(t);
    }
    cJSON_ReplaceItemInObject(sr, "status", cJSON_CreateString("entered-in-error"));
    cJSON *t = task("completed", false, false);
    cr_assert_eq(lg_workflow_follow_service_request(sr, t, 0, &upd, &is), LG_OK);
    cr_assert_str_eq(cJSON_GetObjectItem(upd, "status")->valuestring, "entered-in-error");
    cJSON_Delete(upd);
    /* Another ServiceRequest's Task is refused. */
    cJSON_ReplaceItemInObject(sr, "id", cJSON_CreateString("sr2"));
    cr_assert_eq(lg_workflow_follow_service_request(sr, t, 0, &upd, &is), LG_EINVAL);
    cr_assert_null(upd);
    cr_assert_str_eq(is.items[is.count - 1].location, "Task.focus");
    lg_issues_free(&is);
    cJSON_Delete(t);
    cJSON_Delete(sr);
}
