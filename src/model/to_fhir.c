/* to_fhir.c - coordination model -> FHIR, for the resources Loopgate itself
 * produces: Task status updates (when a directory adapter or the platform
 * moves a referral on) and a referral summary as SDOHCC ServiceRequest +
 * TaskForReferralManagement. The mapping is docs/model-mapping.md.
 */
#include "loopgate/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "loopgate/time.h"
#include "model/internal.h"

/* Set obj[key] to a new string (replacing any); false on allocation failure. */
static bool set_str(cJSON *obj, const char *key, const char *val)
{
    cJSON *s = cJSON_CreateString(val);
    if(!s)
        return false;
    if(cJSON_GetObjectItemCaseSensitive(obj, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, s);
    if(!cJSON_AddItemToObject(obj, key, s)) {
        cJSON_Delete(s);
        return false;
    }
    return true;
}

static bool set_time(cJSON *obj, const char *key, int64_t ms)
{
    char buf[LG_TIME_BUFSZ];
    if(ms == INT64_MIN)
        return true;
    lg_time_format(ms, buf, sizeof(buf));
    return set_str(obj, key, buf);
}

static cJSON *coding(const char *system, const char *code, const char *display)
{
    cJSON *c = cJSON_CreateObject();
    if(!c || (system && !set_str(c, "system", system)) || (code && !set_str(c, "code", code)) ||
       (display && !set_str(c, "display", display))) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

/* {"coding":[coding]} (consumes c). */
static cJSON *concept(cJSON *c)
{
    cJSON *cc = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if(!c || !cc || !arr) {
        cJSON_Delete(c);
        cJSON_Delete(cc);
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddItemToArray(arr, c);
    cJSON_AddItemToObject(cc, "coding", arr);
    return cc;
}

static bool add(cJSON *obj, const char *key, cJSON *item)
{
    if(!item)
        return false;
    if(!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool append(cJSON *arr, cJSON *item)
{
    if(!item)
        return false;
    if(!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

/* A Reference object for r; NULL on allocation failure. Caller owns it. */
static cJSON *ref_obj(const lg_ref *r)
{
    cJSON *o = cJSON_CreateObject();
    if(!o || (r->reference && !set_str(o, "reference", r->reference)) ||
       (r->display && !set_str(o, "display", r->display))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool set_ref(cJSON *obj, const char *key, const lg_ref *r)
{
    if(!r->reference && !r->display)
        return true;
    return add(obj, key, ref_obj(r));
}

static cJSON *resulting_activity(void)
{
    return concept(coding(LG_SDOHCC_CODES, "resulting-activity", "Resulting Activity"));
}

lg_status lg_model_task_status_update(const cJSON *current, lg_task_status s, const char *reason,
                                      const char *output_ref, int64_t now_ms, cJSON **out)
{
    *out = NULL;
    const char *rt = lg_mj_str(current, "resourceType");
    if(!rt || strcmp(rt, "Task") != 0 || (unsigned)s >= LG_TASK_STATUS_COUNT)
        return LG_EINVAL;
    cJSON *t = cJSON_Duplicate(current, 1);
    if(!t || !set_str(t, "status", lg_task_status_code(s)) || !set_time(t, "lastModified", now_ms))
        goto fail;
    if(reason) {
        cJSON *sr = cJSON_CreateObject();
        if(!sr || !set_str(sr, "text", reason)) {
            cJSON_Delete(sr);
            goto fail;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(t, "statusReason");
        if(!add(t, "statusReason", sr))
            goto fail;
    }
    if(output_ref) {
        cJSON *outs = cJSON_GetObjectItemCaseSensitive(t, "output");
        if(!outs && !add(t, "output", outs = cJSON_CreateArray()))
            goto fail;
        cJSON *o = cJSON_CreateObject(), *vr = cJSON_CreateObject();
        if(!o || !vr || !set_str(vr, "reference", output_ref) || !add(o, "type", resulting_activity())) {
            cJSON_Delete(o);
            cJSON_Delete(vr);
            goto fail;
        }
        if(!add(o, "valueReference", vr) || !append(outs, o)) {
            cJSON_Delete(o);
            goto fail;
        }
    }
    *out = t;
    return LG_OK;
fail:
    cJSON_Delete(t);
    return LG_ENOMEM;
}

/* ServiceRequest.status for a referral whose ServiceRequest status is not known. */
static const char *sr_status_for(lg_loop_state l)
{
    switch(l) {
    case LG_LOOP_DRAFT: return "draft";
    case LG_LOOP_CLOSED_SERVED: return "completed";
    case LG_LOOP_CLOSED_NOT_SERVED: return "revoked";
    case LG_LOOP_ERROR: return "entered-in-error";
    case LG_LOOP_ON_HOLD: return "on-hold";
    default: return "active";
    }
}

static cJSON *profile_meta(const char *profile)
{
    cJSON *meta = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    if(!meta || !arr || !append(arr, cJSON_CreateString(profile))) {
        cJSON_Delete(meta);
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddItemToObject(meta, "profile", arr);
    return meta;
}

static cJSON *build_sr(const lg_referral *r)
{
    cJSON *sr = cJSON_CreateObject();
    if(!sr || !set_str(sr, "resourceType", "ServiceRequest") ||
       (r->service_request_id && !set_str(sr, "id", r->service_request_id)) ||
       !add(sr, "meta", profile_meta("http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-ServiceRequest")) ||
       !set_str(sr, "status", r->sr_status ? r->sr_status : sr_status_for(r->loop)) ||
       !set_str(sr, "intent", "order"))
        goto fail;
    cJSON *cats = cJSON_CreateArray();
    if(!add(sr, "category", cats) ||
       !append(cats, concept(coding("http://snomed.info/sct", "410606002", "Social service procedure"))))
        goto fail;
    for(size_t i = 0; i < r->n_categories; i++)
        if(!append(cats, concept(coding(LG_SDOHCC_CODES, lg_sdoh_category_code(r->categories[i]), NULL))))
            goto fail;
    if(lg_priority_code(r->priority) && !set_str(sr, "priority", lg_priority_code(r->priority)))
        goto fail;
    if(r->service.code || r->service_text) {
        cJSON *code = r->service.code ? concept(coding(r->service.system, r->service.code, r->service.display))
                                      : cJSON_CreateObject();
        if(!code || (r->service_text && !set_str(code, "text", r->service_text))) {
            cJSON_Delete(code);
            goto fail;
        }
        if(!add(sr, "code", code))
            goto fail;
    }
    if(r->contact_prohibited) {
        cJSON *od = cJSON_CreateArray();
        if(!add(sr, "orderDetail", od) ||
           !append(od, concept(coding(LG_SDOHCC_CODES, "contacting-subject-prohibited",
                                      "Contacting subject prohibited"))))
            goto fail;
    }
    if(!set_ref(sr, "subject", &r->child) || !set_time(sr, "authoredOn", r->authored_ms) ||
       !set_ref(sr, "requester", r->referrer_practitioner.reference ? &r->referrer_practitioner : &r->referrer_org))
        goto fail;
    const lg_ref *rec = r->recipient_org.reference ? &r->recipient_org : &r->recipient_program;
    if(rec->reference) {
        cJSON *perf = cJSON_CreateArray();
        if(!add(sr, "performer", perf) || !append(perf, ref_obj(rec)))
            goto fail;
    }
    if(r->consent.reference) {
        cJSON *si = cJSON_CreateArray();
        if(!add(sr, "supportingInfo", si) || !append(si, ref_obj(&r->consent)))
            goto fail;
    }
    return sr;
fail:
    cJSON_Delete(sr);
    return NULL;
}

static cJSON *build_task(const lg_referral *r)
{
    cJSON *t = cJSON_CreateObject();
    lg_task_status s = r->has_task ? r->task_status : LG_TASK_REQUESTED;
    char focus[128];
    if(!t || !set_str(t, "resourceType", "Task") || (r->task_id && !set_str(t, "id", r->task_id)) ||
       !add(t, "meta", profile_meta(LG_TASK_PROFILE_REFERRAL)) ||
       !set_str(t, "status", lg_task_status_code(s)) || !set_str(t, "intent", "order") ||
       !add(t, "code", concept(coding("http://hl7.org/fhir/CodeSystem/task-code", "fulfill",
                                      "Fulfill the focal request"))))
        goto fail;
    if(lg_priority_code(r->priority) && !set_str(t, "priority", lg_priority_code(r->priority)))
        goto fail;
    if(r->service_request_id) {
        lg_ref f = { 0 };
        snprintf(focus, sizeof(focus), "ServiceRequest/%s", r->service_request_id);
        f.reference = focus;
        if(!set_ref(t, "focus", &f))
            goto fail;
    }
    int64_t last = r->n_timeline ? r->timeline[r->n_timeline - 1].at_ms : INT64_MIN;
    if(!set_ref(t, "for", &r->child) || !set_time(t, "authoredOn", r->authored_ms) ||
       !set_time(t, "lastModified", last) ||
       !set_ref(t, "requester", r->referrer_practitioner.reference ? &r->referrer_practitioner : &r->referrer_org) ||
       !set_ref(t, "owner", r->recipient_org.reference ? &r->recipient_org : &r->recipient_program))
        goto fail;
    if(r->status_reason || (r->not_served != LG_NOT_SERVED_NONE && r->not_served != LG_NOT_SERVED_OTHER)) {
        cJSON *reason = r->not_served != LG_NOT_SERVED_NONE && r->not_served != LG_NOT_SERVED_OTHER
                            ? concept(coding(LG_REASON_SYSTEM, lg_not_served_code(r->not_served), NULL))
                            : cJSON_CreateObject();
        if(!add(t, "statusReason", reason) || (r->status_reason && !set_str(reason, "text", r->status_reason)))
            goto fail;
    }
    if(r->business_status) {
        cJSON *bs = cJSON_CreateObject();
        if(!add(t, "businessStatus", bs) || !set_str(bs, "text", r->business_status))
            goto fail;
    }
    if(r->outcome_procedure.reference || r->outcome_code.code) {
        cJSON *outs = cJSON_CreateArray(), *o = cJSON_CreateObject();
        if(!add(t, "output", outs) || !append(outs, o) || !add(o, "type", resulting_activity()))
            goto fail;
        if(r->outcome_procedure.reference ? !set_ref(o, "valueReference", &r->outcome_procedure)
                                          : !add(o, "valueCodeableConcept",
                                                 concept(coding(r->outcome_code.system, r->outcome_code.code,
                                                                r->outcome_code.display))))
            goto fail;
    }
    return t;
fail:
    cJSON_Delete(t);
    return NULL;
}

lg_status lg_model_referral_to_fhir(const lg_referral *r, bool want_task, cJSON **service_request, cJSON **task)
{
    *service_request = NULL;
    *task = NULL;
    cJSON *sr = build_sr(r);
    if(!sr)
        return LG_ENOMEM;
    if(r->has_task || want_task) {
        cJSON *t = build_task(r);
        if(!t) {
            cJSON_Delete(sr);
            return LG_ENOMEM;
        }
        *task = t;
    }
    *service_request = sr;
    return LG_OK;
}
