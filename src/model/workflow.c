/* workflow.c - the SDOHCC referral Task state machine (who may move a Task
 * from which status to which) and the Medi-Cal business rules the
 * coordination model enforces: ECM age limits, the six-month care plan
 * review, and no contact details on contact-prohibited referrals.
 *
 * The transitions are the IG's state diagram (see ../shared/docs/domain.md):
 * draft -> requested; requested -> accepted | rejected | cancelled;
 * accepted -> in-progress | on-hold | completed | failed | cancelled;
 * in-progress <-> on-hold; in-progress, on-hold -> completed | failed |
 * cancelled; any -> entered-in-error. The requester (referral source) sets
 * draft, requested, cancelled and entered-in-error; the owner (the CBO)
 * accepted, rejected, in-progress, on-hold, completed and failed (issue #4:
 * "the referral source may create and cancel"; a CBO that cannot serve a
 * referral it accepted fails it, with a reason, rather than cancelling it).
 *
 * lg_workflow_check with no actor (the server itself: internal writes such
 * as a Task cancelled because its ServiceRequest was revoked, and tests of
 * the REST layer alone) checks only the state machine and the fields a
 * transition needs, never who makes it.
 */
#include "loopgate/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loopgate/time.h"
#include "model/internal.h"

static bool terminal(lg_task_status s)
{
    return s == LG_TASK_COMPLETED || s == LG_TASK_REJECTED || s == LG_TASK_CANCELLED ||
           s == LG_TASK_FAILED || s == LG_TASK_ENTERED_IN_ERROR;
}

lg_wf_party lg_workflow_party(lg_task_status from, lg_task_status to)
{
    if(!lg_task_status_in_referral_vs(to))
        return LG_PARTY_NOBODY;
    if(from == LG_TASK_STATUS_COUNT) /* creation */
        return to == LG_TASK_DRAFT || to == LG_TASK_REQUESTED ? LG_PARTY_REQUESTER : LG_PARTY_NOBODY;
    if(!lg_task_status_in_referral_vs(from) || from == to)
        return LG_PARTY_NOBODY;
    if(to == LG_TASK_ENTERED_IN_ERROR)
        return LG_PARTY_REQUESTER; /* correcting a mistake: from anywhere */
    if(terminal(from))
        return LG_PARTY_NOBODY;
    if(to == LG_TASK_CANCELLED)
        return LG_PARTY_REQUESTER;
    switch(from) {
    case LG_TASK_DRAFT:
        return to == LG_TASK_REQUESTED ? LG_PARTY_REQUESTER : LG_PARTY_NOBODY;
    case LG_TASK_REQUESTED:
        return to == LG_TASK_ACCEPTED || to == LG_TASK_REJECTED ? LG_PARTY_OWNER : LG_PARTY_NOBODY;
    case LG_TASK_ACCEPTED:
        return to == LG_TASK_IN_PROGRESS || to == LG_TASK_ON_HOLD || to == LG_TASK_COMPLETED ||
                       to == LG_TASK_FAILED ? LG_PARTY_OWNER : LG_PARTY_NOBODY;
    case LG_TASK_IN_PROGRESS:
        return to == LG_TASK_ON_HOLD || to == LG_TASK_COMPLETED || to == LG_TASK_FAILED
                   ? LG_PARTY_OWNER : LG_PARTY_NOBODY;
    case LG_TASK_ON_HOLD:
        return to == LG_TASK_IN_PROGRESS || to == LG_TASK_COMPLETED || to == LG_TASK_FAILED
                   ? LG_PARTY_OWNER : LG_PARTY_NOBODY;
    default:
        return LG_PARTY_NOBODY;
    }
}

/* The reference text at task[key].reference, or NULL. */
static const char *ref_text(const cJSON *task, const char *key)
{
    return lg_mj_str(task ? cJSON_GetObjectItemCaseSensitive(task, key) : NULL, "reference");
}

bool lg_actor_acts_for(const lg_actor *a, const char *ref)
{
    if(!a || !ref)
        return false;
    lg_ref want;
    if(lg_ref_set(&want, ref, NULL) != LG_OK)
        return false;
    bool yes = false;
    for(size_t i = 0; i < a->n_refs && !yes; i++) {
        lg_ref have;
        if(a->refs[i] && lg_ref_set(&have, a->refs[i], NULL) == LG_OK) {
            yes = lg_ref_same(&want, &have);
            lg_ref_clear(&have);
        }
    }
    lg_ref_clear(&want);
    return yes;
}

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Parse a Task's status for the check; LG_TASK_STATUS_COUNT when unusable. */
static lg_task_status status_of(const cJSON *task)
{
    lg_task_status s;
    const char *code = lg_mj_str(task, "status");
    if(!code || lg_task_status_parse(code, &s) != 0)
        return LG_TASK_STATUS_COUNT;
    return s;
}

static bool has_resulting_activity(const cJSON *task)
{
    const cJSON *o, *outputs = cJSON_GetObjectItemCaseSensitive(task, "output");
    cJSON_ArrayForEach(o, outputs) {
        if(!lg_mj_has_code(cJSON_GetObjectItemCaseSensitive(o, "type"), LG_SDOHCC_CODES, "resulting-activity"))
            continue;
        if(ref_text(o, "valueReference") || lg_mj_coding(cJSON_GetObjectItemCaseSensitive(o, "valueCodeableConcept"), NULL))
            return true;
    }
    return false;
}

#define ADD(sev, code, loc, ...)                                               \
    do {                                                                       \
        if(lg_issues_add(issues, sev, code, loc, __VA_ARGS__) != LG_OK)        \
            return LG_WF_NOMEM;                                                \
    } while(0)

lg_wf_result lg_workflow_check(const cJSON *current, const cJSON *proposed, const lg_actor *actor,
                               lg_issues *issues)
{
    const char *pcode = lg_mj_str(proposed, "status");
    const char *rt = lg_mj_str(proposed, "resourceType");
    if(!rt || strcmp(rt, "Task") != 0) {
        ADD(LG_SEV_ERROR, "invalid", "resourceType", "expected a Task");
        return LG_WF_INVALID;
    }
    lg_task_status to = status_of(proposed);
    if(to == LG_TASK_STATUS_COUNT) {
        ADD(LG_SEV_ERROR, "code-invalid", "Task.status", "'%s' is not a Task status", pcode ? pcode : "");
        return LG_WF_INVALID;
    }
    if(!lg_task_status_in_referral_vs(to)) {
        ADD(LG_SEV_ERROR, "code-invalid", "Task.status",
            "'%s' is not in the SDOHCC referral Task status value set (received and ready are excluded)", pcode);
        return LG_WF_INVALID;
    }
    lg_task_status from = LG_TASK_STATUS_COUNT;
    const char *fcode = NULL;
    if(current) {
        fcode = lg_mj_str(current, "status");
        from = status_of(current);
        if(from == LG_TASK_STATUS_COUNT) {
            ADD(LG_SEV_ERROR, "invariant", "Task.status", "the stored Task has no usable status ('%s')",
                fcode ? fcode : "");
            return LG_WF_INVALID;
        }
        /* What the Task is about and who asked never change. */
        static const char *const fixed[] = { "focus", "for", "requester" };
        for(size_t i = 0; i < 3; i++)
            if(!same_text(ref_text(current, fixed[i]), ref_text(proposed, fixed[i]))) {
                char loc[32];
                snprintf(loc, sizeof(loc), "Task.%s", fixed[i]);
                ADD(LG_SEV_ERROR, "business-rule", loc, "Task.%s cannot change (was %s, now %s)", fixed[i],
                    ref_text(current, fixed[i]) ? ref_text(current, fixed[i]) : "absent",
                    ref_text(proposed, fixed[i]) ? ref_text(proposed, fixed[i]) : "absent");
                return LG_WF_INVALID;
            }
    }

    /* Who is asking: the requester of the Task (a referral source acting
     * for Task.requester) or its owner (a recipient acting for Task.owner).
     * The owner is the stored one: an update cannot make its author the
     * owner, except to claim an unassigned requested Task by answering it. */
    lg_actor_role role = actor ? actor->role : LG_ROLE_NONE;
    const char *req = ref_text(current ? current : proposed, "requester");
    const char *cur_owner = ref_text(current, "owner"), *new_owner = ref_text(proposed, "owner");
    bool claim = current && !cur_owner && from == LG_TASK_REQUESTED &&
                 (to == LG_TASK_ACCEPTED || to == LG_TASK_REJECTED);
    const char *owner = current ? (claim ? new_owner : cur_owner) : new_owner;
    /* No actor: the server itself, which may play either side. */
    bool is_req = !actor || ((role == LG_ROLE_REFERRAL_SOURCE || role == LG_ROLE_COORDINATION) &&
                             lg_actor_acts_for(actor, req));
    bool is_own = !actor || ((role == LG_ROLE_REFERRAL_RECIPIENT || role == LG_ROLE_COORDINATION) &&
                             lg_actor_acts_for(actor, owner));
    const char *fname = current ? fcode : "(new)";

    if(!current) {
        if(!is_req) {
            ADD(LG_SEV_ERROR, "forbidden", "Task.requester",
                "only the referral source named in Task.requester (%s) may create the referral Task",
                req ? req : "absent");
            return LG_WF_FORBIDDEN;
        }
    } else if(!is_req && !is_own) {
        ADD(LG_SEV_ERROR, "forbidden", "Task",
            "only the Task's requester or owner may change it (Task is %s, requested %s)", fname, pcode);
        return LG_WF_FORBIDDEN;
    }

    /* Reassignment: only the requester, and only before anyone answered. */
    if(current && !claim && !same_text(cur_owner, new_owner)) {
        if(!is_req) {
            ADD(LG_SEV_ERROR, "forbidden", "Task.owner", "only the requester may change Task.owner (from %s to %s)",
                cur_owner ? cur_owner : "unassigned", new_owner ? new_owner : "unassigned");
            return LG_WF_FORBIDDEN;
        }
        if(from != LG_TASK_DRAFT && from != LG_TASK_REQUESTED) {
            ADD(LG_SEV_ERROR, "business-rule", "Task.owner",
                "Task.owner cannot change once the Task is %s (requested %s)", fname, pcode);
            return LG_WF_CONFLICT;
        }
    }

    if(current && from == to)
        return LG_WF_ALLOWED; /* no transition: other fields (businessStatus, notes) */

    lg_wf_party party = lg_workflow_party(from, to);
    if(party == LG_PARTY_NOBODY) {
        if(!current)
            ADD(LG_SEV_ERROR, "business-rule", "Task.status",
                "a referral Task is created as draft or requested, not %s", pcode);
        else
            ADD(LG_SEV_ERROR, "business-rule", "Task.status",
                "Task is %s and cannot become %s", fname, pcode);
        return LG_WF_CONFLICT;
    }
    if(!((party & LG_PARTY_REQUESTER) && is_req) && !((party & LG_PARTY_OWNER) && is_own)) {
        ADD(LG_SEV_ERROR, "forbidden", "Task.status", "only the %s may move the Task from %s to %s",
            party == LG_PARTY_REQUESTER ? "requester (referral source)" : "owner (referral recipient)",
            fname, pcode);
        return LG_WF_FORBIDDEN;
    }

    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(proposed, "statusReason");
    const char *reason_text = lg_mj_str(reason, "text");
    if(to == LG_TASK_REJECTED && !reason_text) {
        ADD(LG_SEV_ERROR, "required", "Task.statusReason",
            "rejecting a referral (Task %s -> rejected) needs statusReason.text", fname);
        return LG_WF_INVALID;
    }
    if((to == LG_TASK_CANCELLED || to == LG_TASK_ON_HOLD || to == LG_TASK_FAILED) && !reason_text)
        ADD(LG_SEV_WARNING, "business-rule", "Task.statusReason",
            "statusReason.text is expected when a Task becomes %s", pcode);
    /* Only a referral (fulfill) Task names a resulting activity; a patient
     * Task's result is the family's answer, not a service. */
    bool fulfill = lg_mj_has_code(cJSON_GetObjectItemCaseSensitive(proposed, "code"),
                                  "http://hl7.org/fhir/CodeSystem/task-code", "fulfill");
    if(to == LG_TASK_COMPLETED && fulfill && !has_resulting_activity(proposed)) {
        ADD(LG_SEV_ERROR, "required", "Task.output",
            "completing a referral (Task %s -> completed) needs an output of type resulting-activity "
            "naming what was done (a Procedure reference or code)", fname);
        return LG_WF_INVALID;
    }
    if(to != LG_TASK_DRAFT && to != LG_TASK_REQUESTED && to != LG_TASK_CANCELLED &&
       to != LG_TASK_ENTERED_IN_ERROR && !new_owner) {
        ADD(LG_SEV_ERROR, "required", "Task.owner", "a Task that is %s has an owner (lg-task-2)", pcode);
        return LG_WF_INVALID;
    }
    return LG_WF_ALLOWED;
}

lg_status lg_workflow_follow_service_request(const cJSON *sr, const cJSON *task, int64_t now_ms,
                                             cJSON **task_update, lg_issues *issues)
{
    *task_update = NULL;
    const char *sid = lg_mj_str(sr, "id");
    lg_ref focus;
    if(lg_ref_set(&focus, ref_text(task, "focus"), NULL) != LG_OK)
        return LG_ENOMEM;
    bool ours = sid && focus.type && strcmp(focus.type, "ServiceRequest") == 0 && focus.id &&
                strcmp(focus.id, sid) == 0;
    if(!ours) {
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.focus",
                      "Task.focus is %s, not ServiceRequest/%s", focus.reference ? focus.reference : "absent",
                      sid ? sid : "?");
        lg_ref_clear(&focus);
        return LG_EINVAL;
    }
    lg_ref_clear(&focus);
    const char *srs = lg_mj_str(sr, "status");
    lg_task_status ts = status_of(task);
    if(!srs || ts == LG_TASK_STATUS_COUNT)
        return LG_OK;
    if(strcmp(srs, "revoked") == 0 && !terminal(ts))
        return lg_model_task_status_update(task, LG_TASK_CANCELLED, "The referral (ServiceRequest) was revoked",
                                           NULL, now_ms, task_update);
    if(strcmp(srs, "entered-in-error") == 0 && ts != LG_TASK_ENTERED_IN_ERROR)
        return lg_model_task_status_update(task, LG_TASK_ENTERED_IN_ERROR,
                                           "The referral (ServiceRequest) was entered in error", NULL, now_ms,
                                           task_update);
    return LG_OK;
}

/* ------------------------------------------------------------ rules */

#define ECM_LOC "Patient.extension.where(url='" LG_URL_ECM_POPULATION "')"

lg_status lg_rule_ecm_age(const lg_child *c, int64_t now_ms, lg_issues *issues)
{
    if(!c->ecm_populations)
        return LG_OK;
    int age = lg_child_age(c, now_ms);
    if(age < 0) {
        lg_issues_add(issues, LG_SEV_WARNING, "incomplete", "Patient.birthDate",
                      "no full birth date: ECM population-of-focus age limits not checked");
        return LG_OK;
    }
    lg_status st = LG_OK;
    for(int p = 0; p < LG_ECM_POPULATION_COUNT; p++) {
        if(!(c->ecm_populations & LG_ECM_BIT(p)) || age < 21)
            continue;
        /* Former foster youth stay in these two populations up to 26. */
        bool foster_pop = p == LG_ECM_CHILD_WELFARE || p == LG_ECM_INCARCERATION;
        if(foster_pop && age < 26 && c->former_foster_youth != LG_NO) {
            if(c->former_foster_youth == LG_UNKNOWN)
                lg_issues_add(issues, LG_SEV_WARNING, "business-rule", ECM_LOC,
                              "ECM population '%s' at age %d requires former foster youth status, "
                              "which is not recorded", lg_ecm_population_code((lg_ecm_population)p), age);
            continue;
        }
        if(foster_pop)
            lg_issues_add(issues, LG_SEV_ERROR, "business-rule", ECM_LOC,
                          "ECM population '%s' is for members under 21, or former foster youth under 26; "
                          "this member is %d%s", lg_ecm_population_code((lg_ecm_population)p), age,
                          c->former_foster_youth == LG_NO && age < 26 ? " and not a former foster youth" : "");
        else
            lg_issues_add(issues, LG_SEV_ERROR, "business-rule", ECM_LOC,
                          "ECM population '%s' (children and youth) is for members under 21; this member is %d",
                          lg_ecm_population_code((lg_ecm_population)p), age);
        st = LG_EUNPROCESSABLE;
    }
    return st;
}

/* The last millisecond of the calendar day six months after now_ms (UTC);
 * a day the month lacks becomes its last day (31 Aug + 6 months = 28/29 Feb). */
static int64_t six_months_after(int64_t now_ms, char *buf, size_t n)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d;
    lg_model_ms_ymd(now_ms, &y, &m, &d);
    m += 6;
    if(m > 12) {
        m -= 12;
        y++;
    }
    int last = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    if(d > last)
        d = last;
    snprintf(buf, n, "%04d-%02d-%02d", y, m, d);
    int64_t lo, hi;
    if(lg_time_parse_range(buf, &lo, &hi) != LG_OK)
        return INT64_MAX;
    return hi;
}

lg_status lg_rule_care_plan_review(const lg_care_plan *p, int64_t now_ms, lg_issues *issues)
{
    if(p->review_due_ms == INT64_MIN) {
        lg_issues_add(issues, LG_SEV_ERROR, "required", "CarePlan.period.end",
                      "a care plan has a review due date (period.end), at most six months out");
        return LG_EUNPROCESSABLE;
    }
    char latest[48];
    int64_t limit = six_months_after(now_ms, latest, sizeof(latest));
    if(p->review_due_ms > limit) {
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "CarePlan.period.end",
                      "review due %s is more than six months out (latest %s): a plan of care is reviewed "
                      "at least every six months", p->review_due ? p->review_due : "?", latest);
        return LG_EUNPROCESSABLE;
    }
    int64_t lo, hi;
    char today[LG_TIME_BUFSZ];
    lg_time_format(now_ms, today, sizeof(today));
    today[10] = '\0';
    if(lg_time_parse_range(today, &lo, &hi) == LG_OK && p->review_due_ms < lo)
        lg_issues_add(issues, LG_SEV_WARNING, "business-rule", "CarePlan.period.end",
                      "care plan review was due %s and is overdue", p->review_due ? p->review_due : "?");
    return LG_OK;
}

/* Address parts that locate or reach the family; district, state and
 * country stay (reporting by county needs them). */
static const char *const address_contact[] = { "line", "city", "postalCode", "text", "_line", "_city",
                                               "_postalCode", "_text" };
static const char *const patient_contact[] = { "telecom", "contact", "photo", "text", "_telecom" };

lg_status lg_rule_strip_contact(const cJSON *patient, cJSON **out)
{
    *out = NULL;
    const char *rt = lg_mj_str(patient, "resourceType");
    if(!rt || strcmp(rt, "Patient") != 0)
        return LG_EINVAL;
    cJSON *p = cJSON_Duplicate(patient, 1);
    if(!p)
        return LG_ENOMEM;
    for(size_t i = 0; i < sizeof(patient_contact) / sizeof(*patient_contact); i++)
        cJSON_DeleteItemFromObjectCaseSensitive(p, patient_contact[i]);
    cJSON *a, *addrs = cJSON_GetObjectItemCaseSensitive(p, "address");
    cJSON_ArrayForEach(a, addrs)
        for(size_t i = 0; i < sizeof(address_contact) / sizeof(*address_contact); i++)
            cJSON_DeleteItemFromObjectCaseSensitive(a, address_contact[i]);
    cJSON *exts = cJSON_GetObjectItemCaseSensitive(p, "extension");
    for(int i = cJSON_GetArraySize(exts) - 1; i >= 0; i--) {
        const char *u = lg_mj_str(cJSON_GetArrayItem(exts, i), "url");
        if(u && strcmp(u, LG_URL_CAREGIVER) == 0)
            cJSON_DeleteItemFromArray(exts, i);
    }
    if(exts && cJSON_GetArraySize(exts) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(p, "extension"); /* FHIR forbids empty arrays */
    *out = p;
    return LG_OK;
}

lg_status lg_rule_forward_check(const lg_referral *r, const cJSON *patient, lg_issues *issues)
{
    if(!r->contact_prohibited)
        return LG_OK;
    size_t before = lg_issues_errors(issues);
    char loc[64];
    for(size_t i = 0; i < sizeof(patient_contact) / sizeof(*patient_contact); i++)
        if(cJSON_GetObjectItemCaseSensitive(patient, patient_contact[i])) {
            snprintf(loc, sizeof(loc), "Patient.%s", patient_contact[i]);
            lg_issues_add(issues, LG_SEV_ERROR, "security", loc,
                          "the referral prohibits contacting the family; %s must not be forwarded", loc);
        }
    const cJSON *a, *addrs = cJSON_GetObjectItemCaseSensitive(patient, "address");
    int ai = -1;
    cJSON_ArrayForEach(a, addrs) {
        ai++;
        for(size_t i = 0; i < sizeof(address_contact) / sizeof(*address_contact); i++)
            if(cJSON_GetObjectItemCaseSensitive(a, address_contact[i])) {
                snprintf(loc, sizeof(loc), "Patient.address[%d].%s", ai, address_contact[i]);
                lg_issues_add(issues, LG_SEV_ERROR, "security", loc,
                              "the referral prohibits contacting the family; %s must not be forwarded", loc);
            }
    }
    const cJSON *e, *exts = cJSON_GetObjectItemCaseSensitive(patient, "extension");
    int ei = -1;
    cJSON_ArrayForEach(e, exts) {
        ei++;
        const char *u = lg_mj_str(e, "url");
        if(u && strcmp(u, LG_URL_CAREGIVER) == 0) {
            snprintf(loc, sizeof(loc), "Patient.extension[%d]", ei);
            lg_issues_add(issues, LG_SEV_ERROR, "security", loc,
                          "the referral prohibits contacting the family; the contactable caregiver must not "
                          "be forwarded");
        }
    }
    return lg_issues_errors(issues) > before ? LG_EUNPROCESSABLE : LG_OK;
}
