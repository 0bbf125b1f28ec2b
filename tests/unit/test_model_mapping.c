/* Unit tests for FHIR <-> coordination model translation (src/model/from_fhir.c,
 * src/model/to_fhir.c), field by field, on the SDOHCC 3.0.0 example instances
 * and Loopgate's own examples in profiles/package/example/ (read in place). */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/model.h"
#include "loopgate/time.h"
#include "lg_test.h"

#define SDOHCC LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/"
#define LGEX LG_SOURCE_DIR "/profiles/package/example/"

static int64_t at(const char *s)
{
    int64_t lo, hi;
    cr_assert_eq(lg_time_parse_range(s, &lo, &hi), LG_OK, "%s", s);
    return lo;
}

static bool has_issue_at(const lg_issues *is, const char *loc)
{
    for(size_t i = 0; i < is->count; i++)
        if(is->items[i].severity <= LG_SEV_ERROR && is->items[i].location && strcmp(is->items[i].location, loc) == 0)
            return true;
    return false;
}

#define STR(a, b) cr_assert_str_eq((a) ? (a) : "(null)", b)

/* ------------------------------------------------------------ Patient */

Test(model_mapping, loopgate_patient_example_field_by_field)
{
    cJSON *p = lg_test_load_json(LGEX "Patient-loopgate-patient-example.json");
    lg_child *c = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_OK);
    cr_assert_eq(is.count, 0);
    STR(c->id, "loopgate-patient-example");
    STR(c->family, "Martínez López");
    STR(c->given, "Sofía");
    STR(c->birth_date, "2012-04-17");
    cr_assert_eq(lg_child_age(c, at("2026-11-30")), 14);
    cr_assert_eq(lg_child_age(c, at("2026-04-16")), 13);
    cr_assert_eq(lg_child_age(c, at("2026-04-17")), 14);
    STR(c->preferred_language, "es");
    cr_assert_eq(c->n_languages, 2);
    STR(c->languages[0].language.code, "es-MX");
    STR(c->languages[0].language.system, "urn:ietf:bcp:47");
    STR(c->languages[0].dialect, "Mexican Spanish, Oaxaca Mixteca region");
    cr_assert(c->languages[0].interpreter_needed);
    STR(c->languages[1].language.code, "mix");
    STR(c->languages[1].dialect, "Mixteco Alto de San Juan Mixtepec");
    cr_assert_eq(c->n_race, 1);
    STR(c->race[0].code, "1002-5");
    STR(c->race[0].system, "urn:oid:2.16.840.1.113883.6.238");
    cr_assert_eq(c->n_race_detailed, 1);
    STR(c->race_detailed[0].code, "1072-8");
    STR(c->race_text, "Mixteco (Indigenous Mexican)");
    cr_assert_eq(c->n_ethnicity, 1);
    STR(c->ethnicity[0].code, "2135-2");
    STR(c->ethnicity_detailed[0].code, "2148-5");
    STR(c->ethnicity_text, "Hispanic or Latino");
    STR(c->county, "Ventura County");
    cr_assert_eq(c->phm_tier, LG_PHM_ENHANCED);
    cr_assert_eq(c->ecm_populations, LG_ECM_BIT(LG_ECM_HOMELESSNESS) | LG_ECM_BIT(LG_ECM_AVOIDABLE_UTILIZATION));
    cr_assert_eq(c->former_foster_youth, LG_UNKNOWN);
    cr_assert_eq(c->n_caregivers, 1);
    STR(c->caregivers[0].person.reference, "RelatedPerson/loopgate-caregiver-example");
    STR(c->caregivers[0].person.type, "RelatedPerson");
    STR(c->caregivers[0].person.id, "loopgate-caregiver-example");
    STR(c->caregivers[0].person.display, "Rosa López (mother)");
    cr_assert(c->caregivers[0].may_contact);
    cr_assert(c->caregivers[0].primary);
    cr_assert_eq(c->caregivers[0].methods, LG_CONTACT_PHONE | LG_CONTACT_SMS);
    lg_model_child_free(c);
    cJSON_Delete(p);
}

Test(model_mapping, sdohcc_patient_race_ethnicity_and_current_address)
{
    cJSON *p = lg_test_load_json(SDOHCC "Patient-pat-53234.json");
    lg_child *c = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_OK);
    STR(c->id, "pat-53234");
    /* Two names without use: the first is taken. */
    STR(c->family, "ABBAS");
    STR(c->given, "COLIN");
    cr_assert_eq(lg_child_age(c, at("2026-11-30")), 39);
    cr_assert_eq(c->n_race, 3);
    STR(c->race[0].code, "2106-3");
    STR(c->race[1].code, "1002-5");
    STR(c->race[2].code, "2028-9");
    cr_assert_eq(c->n_race_detailed, 2);
    STR(c->race_detailed[1].code, "2036-2");
    STR(c->race_text, "Mixed");
    cr_assert_eq(c->n_ethnicity, 1);
    cr_assert_eq(c->n_ethnicity_detailed, 2);
    STR(c->ethnicity_detailed[0].code, "2184-0");
    cr_assert_null(c->county); /* neither address has a district */
    cr_assert_null(c->preferred_language);
    cr_assert_eq(c->phm_tier, LG_PHM_UNKNOWN);
    cr_assert_eq(c->ecm_populations, 0);
    cr_assert_eq(c->n_caregivers, 0);
    lg_model_child_free(c);
    cJSON_Delete(p);

    p = lg_test_load_json(SDOHCC "Patient-SDOHCC-PatientBabyAbbas.json");
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_OK);
    cr_assert_eq(lg_child_age(c, at("2026-11-30")), 3);
    cr_assert_eq(c->n_race, 0);
    lg_model_child_free(c);
    cJSON_Delete(p);
    lg_issues_free(&is);
}

Test(model_mapping, county_from_extension_when_no_district)
{
    cJSON *p = cJSON_Parse("{\"resourceType\":\"Patient\",\"id\":\"x\",\"address\":[{\"use\":\"old\","
                           "\"district\":\"Kern\",\"period\":{\"end\":\"2020\"}},{\"use\":\"home\",\"extension\":[{\"url\":\""
                           LG_URL_COUNTY "\",\"valueString\":\"Fresno\"}]}]}");
    lg_child *c = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_OK);
    STR(c->county, "Fresno");
    lg_model_child_free(c);
    cJSON_Delete(p);
}

Test(model_mapping, malformed_loopgate_extensions_are_errors)
{
    cJSON *p = lg_test_load_json(LGEX "Patient-loopgate-patient-example.json");
    cJSON *exts = cJSON_GetObjectItem(p, "extension");
    /* [2] phm-tier: an unknown tier; [5] interpreter-need: drop interpreterNeeded. */
    cJSON *coding = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(exts, 2),
                                                                               "valueCodeableConcept"), "coding"), 0);
    cJSON_ReplaceItemInObject(coding, "code", cJSON_CreateString("premium"));
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(cJSON_GetArrayItem(exts, 5), "extension"), 2);
    lg_child *c = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_EINVAL);
    cr_assert_null(c);
    cr_assert(has_issue_at(&is, "Patient.extension[2]"));
    cr_assert(has_issue_at(&is, "Patient.extension[5]"));
    lg_issues_free(&is);
    cJSON_Delete(p);

    cJSON *sr = lg_test_load_json(LGEX "ServiceRequest-loopgate-servicerequest-example.json");
    cr_assert_eq(lg_model_child_from_fhir(sr, &c, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "resourceType"));
    lg_issues_free(&is);
    cJSON_Delete(sr);
}

Test(model_mapping, related_person_enriches_caregiver_of_the_same_child_only)
{
    cJSON *p = lg_test_load_json(SDOHCC "Patient-pat-53234.json");
    cJSON *rp = lg_test_load_json(SDOHCC "RelatedPerson-SDOHCC-RelatedPersonMotherExample.json");
    lg_child *c = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_OK);
    cr_assert_eq(lg_model_child_add_related_person(c, rp, &is), LG_OK);
    cr_assert_eq(c->n_caregivers, 1);
    STR(c->caregivers[0].person.reference, "RelatedPerson/SDOHCC-RelatedPersonMotherExample");
    STR(c->caregivers[0].name, "Eve Everywoman");
    STR(c->caregivers[0].relationship.code, "NMTH");
    cr_assert_not(c->caregivers[0].may_contact); /* only the Patient's extension grants contact */
    /* Again: updates, does not duplicate. */
    cr_assert_eq(lg_model_child_add_related_person(c, rp, &is), LG_OK);
    cr_assert_eq(c->n_caregivers, 1);
    lg_model_child_free(c);
    cJSON_Delete(p);

    p = lg_test_load_json(LGEX "Patient-loopgate-patient-example.json");
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_OK);
    cr_assert_eq(lg_model_child_add_related_person(c, rp, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "RelatedPerson.patient"));
    cr_assert_eq(c->n_caregivers, 1);
    lg_model_child_free(c);
    cJSON_Delete(p);
    cJSON_Delete(rp);
    lg_issues_free(&is);
}

/* ------------------------------------------------------------ referral */

Test(model_mapping, loopgate_referral_example_field_by_field)
{
    cJSON *sr = lg_test_load_json(LGEX "ServiceRequest-loopgate-servicerequest-example.json");
    cJSON *t = lg_test_load_json(LGEX "Task-loopgate-task-example.json");
    lg_referral *r = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK);
    cr_assert_eq(lg_issues_errors(&is), 0);
    STR(r->service_request_id, "loopgate-servicerequest-example");
    STR(r->task_id, "loopgate-task-example");
    STR(r->sr_status, "active");
    STR(r->child.reference, "Patient/loopgate-patient-example");
    STR(r->child.display, "Sofía Martínez López");
    STR(r->referrer_practitioner.reference, "PractitionerRole/loopgate-care-manager-example");
    cr_assert_null(r->referrer_org.reference);
    STR(r->recipient_org.reference, "Organization/loopgate-cbo-example");
    STR(r->recipient_org.display, "Ventura County Family Food Network");
    cr_assert_null(r->recipient_program.reference);
    cr_assert_eq(r->n_categories, 1);
    cr_assert_eq(r->categories[0], LG_SDOH_FOOD_INSECURITY);
    STR(r->service.code, "467771000124109");
    STR(r->service.system, "http://snomed.info/sct");
    cr_assert_eq(r->priority, LG_PRIORITY_ROUTINE);
    cr_assert_eq(r->authored_ms, at("2026-11-03T00:20:00Z"));
    cr_assert(r->has_task);
    cr_assert_eq(r->task_status, LG_TASK_REQUESTED);
    cr_assert_eq(r->loop, LG_LOOP_PENDING);
    cr_assert_eq(r->n_timeline, 1);
    cr_assert_eq(r->timeline[0].status, LG_TASK_REQUESTED);
    cr_assert_eq(r->timeline[0].at_ms, r->authored_ms);
    cr_assert_eq(lg_referral_first_response_ms(r), INT64_MIN);
    cr_assert_eq(lg_referral_closed_ms(r), INT64_MIN);
    STR(r->timeline[0].by, "PractitionerRole/loopgate-care-manager-example");
    cr_assert_not(r->contact_prohibited);
    cr_assert_null(r->consent.reference);
    cr_assert_eq(r->not_served, LG_NOT_SERVED_NONE);
    lg_model_referral_free(r);
    cJSON_Delete(sr);
    cJSON_Delete(t);
}

Test(model_mapping, sdohcc_completed_referral_with_procedure_and_consent)
{
    cJSON *sr = lg_test_load_json(SDOHCC "ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json");
    cJSON *acc = lg_test_load_json(SDOHCC "Task-SDOHCC-TaskReferralManagementOrderFulfillmentAcceptedExample.json");
    cJSON *done = lg_test_load_json(SDOHCC "Task-SDOHCC-TaskReferralManagementOrderFulfillmentCompletedExample.json");
    cJSON *proc = lg_test_load_json(SDOHCC "Procedure-SDOHCC-ProcedureFoodPantryApplicationAssistanceExample.json");
    cJSON *consent = lg_test_load_json(SDOHCC "Consent-SDOHCC-ConsentInformationDisclosureExample.json");
    lg_referral *r = NULL;
    lg_issues is = { 0 };
    cJSON_AddStringToObject(acc, "lastModified", "2020-09-12T10:00:00Z");
    cr_assert_eq(lg_model_referral_from_fhir(sr, acc, &r, &is), LG_OK);
    cr_assert_eq(r->task_status, LG_TASK_ACCEPTED);
    cr_assert_eq(r->loop, LG_LOOP_ACCEPTED);
    cr_assert_eq(r->n_timeline, 2);
    cr_assert_eq(r->timeline[0].status, LG_TASK_REQUESTED);
    cr_assert_eq(r->timeline[0].at_ms, at("2020-09-11T21:56:54.671Z"));
    cr_assert_eq(r->timeline[1].status, LG_TASK_ACCEPTED);
    cr_assert_eq(r->timeline[1].at_ms, at("2020-09-12T10:00:00Z"));
    STR(r->timeline[1].by, "Organization/SDOHCC-OrganizationCoordinationPlatformExample");
    STR(r->child.reference, "Patient/pat-53234");
    STR(r->referrer_practitioner.reference, "PractitionerRole/SDOHCC-PractitionerRoleDrJanWaterExample");
    STR(r->recipient_org.reference, "Organization/SDOHCC-OrganizationCoordinationPlatformExample");
    cr_assert_eq(r->authored_ms, at("2020-09-11T21:56:54.671Z")); /* SR has no authoredOn: the Task's */
    cr_assert_eq(r->priority, LG_PRIORITY_UNSET);

    /* The IG's completed example is another resource: not this referral's Task. */
    int64_t now = at("2020-09-17T10:00:00Z");
    cr_assert_eq(lg_model_referral_apply_task(r, done, now, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "Task.id"));
    cr_assert_eq(r->task_status, LG_TASK_ACCEPTED);
    lg_issues_free(&is);
    /* As a later version of the same Task it closes the loop. */
    cJSON_ReplaceItemInObject(done, "id", cJSON_CreateString(r->task_id));
    cr_assert_eq(lg_model_referral_apply_task(r, done, now, &is), LG_OK);
    cr_assert_eq(r->task_status, LG_TASK_COMPLETED);
    cr_assert_eq(r->loop, LG_LOOP_CLOSED_SERVED);
    cr_assert(lg_loop_state_closed(r->loop));
    cr_assert_eq(r->n_timeline, 3);
    cr_assert_eq(r->timeline[2].status, LG_TASK_COMPLETED);
    cr_assert_eq(r->timeline[2].at_ms, now); /* no lastModified: when we saw it */
    STR(r->outcome_procedure.reference, "Procedure/SDOHCC-ProcedureFoodPantryApplicationAssistanceExample");
    STR(r->outcome_procedure.type, "Procedure");
    cr_assert_eq(lg_referral_first_response_ms(r), at("2020-09-12T10:00:00Z"));
    cr_assert_eq(lg_referral_closed_ms(r), now);

    cr_assert_eq(lg_model_referral_add_procedure(r, proc, &is), LG_OK);
    cr_assert_eq(lg_model_referral_add_consent(r, consent, &is), LG_OK);
    STR(r->consent.reference, "Consent/SDOHCC-ConsentInformationDisclosureExample");
    cr_assert_eq(lg_issues_errors(&is), 0);

    /* A Procedure or Consent of another child, or an inactive Consent, is refused. */
    cJSON_ReplaceItemInObject(proc, "subject", cJSON_Parse("{\"reference\":\"Patient/SDOHCC-PatientBabyAbbas\"}"));
    cr_assert_eq(lg_model_referral_add_procedure(r, proc, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "Procedure.subject"));
    cJSON_ReplaceItemInObject(consent, "status", cJSON_CreateString("inactive"));
    cr_assert_eq(lg_model_referral_add_consent(r, consent, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "Consent.status"));
    lg_issues_free(&is);
    lg_model_referral_free(r);
    cJSON_Delete(sr);
    cJSON_Delete(acc);
    cJSON_Delete(done);
    cJSON_Delete(proc);
    cJSON_Delete(consent);
}

Test(model_mapping, all_sdohcc_referral_tasks_map_with_their_service_requests)
{
    static const char *const pairs[][2] = {
        { "Task-SDOHCC-TaskContentRichReferralWICExample.json",
          "ServiceRequest-SDOHCC-ServiceRequestActiveWICReferralExample.json" },
        { "Task-SDOHCC-TaskReferralManagementOrderFulfillmentAcceptedExample.json",
          "ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json" },
        { "Task-SDOHCC-TaskReferralManagementOrderFulfillmentCompletedExample.json",
          "ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json" },
    };
    for(size_t i = 0; i < 3; i++) {
        char tp[512], sp[512];
        snprintf(tp, sizeof(tp), SDOHCC "%s", pairs[i][0]);
        snprintf(sp, sizeof(sp), SDOHCC "%s", pairs[i][1]);
        cJSON *t = lg_test_load_json(tp), *sr = lg_test_load_json(sp);
        lg_referral *r = NULL;
        lg_issues is = { 0 };
        cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK, "%s", pairs[i][0]);
        STR(r->task_id, cJSON_GetObjectItem(t, "id")->valuestring);
        cr_assert_eq(r->categories[0], LG_SDOH_FOOD_INSECURITY);
        lg_model_referral_free(r);
        lg_issues_free(&is);
        cJSON_Delete(t);
        cJSON_Delete(sr);
    }
}

Test(model_mapping, task_for_another_service_request_or_child_is_refused)
{
    cJSON *sr = lg_test_load_json(SDOHCC "ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json");
    cJSON *wic = lg_test_load_json(SDOHCC "Task-SDOHCC-TaskContentRichReferralWICExample.json");
    lg_referral *r = NULL;
    lg_issues is = { 0 };
    /* The WIC Task's focus is the WIC ServiceRequest, and it is for Baby Abbas. */
    cr_assert_eq(lg_model_referral_from_fhir(sr, wic, &r, &is), LG_EINVAL);
    cr_assert_null(r);
    cr_assert(has_issue_at(&is, "Task.focus"));
    cr_assert(has_issue_at(&is, "Task.for"));
    lg_issues_free(&is);

    /* Right focus, wrong child. */
    cJSON *t = lg_test_load_json(SDOHCC "Task-SDOHCC-TaskReferralManagementOrderFulfillmentAcceptedExample.json");
    cJSON_ReplaceItemInObject(t, "for", cJSON_Parse("{\"reference\":\"Patient/SDOHCC-PatientBabyAbbas\"}"));
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_EINVAL);
    cr_assert_not(has_issue_at(&is, "Task.focus"));
    cr_assert(has_issue_at(&is, "Task.for"));
    lg_issues_free(&is);

    /* Focus that is not a ServiceRequest; a status outside the value set; not a fulfill Task. */
    cJSON_ReplaceItemInObject(t, "for", cJSON_Parse("{\"reference\":\"Patient/pat-53234\"}"));
    cJSON_ReplaceItemInObject(t, "focus", cJSON_Parse("{\"reference\":\"Questionnaire/q1\"}"));
    cJSON_ReplaceItemInObject(t, "status", cJSON_CreateString("received"));
    cJSON_ReplaceItemInObject(t, "code", cJSON_Parse("{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                                                     "\",\"code\":\"make-contact\"}]}"));
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "Task.focus"));
    cr_assert(has_issue_at(&is, "Task.status"));
    cr_assert(has_issue_at(&is, "Task.code"));
    cr_assert_not(has_issue_at(&is, "Task.for"));
    lg_issues_free(&is);
    cJSON_Delete(t);
    cJSON_Delete(sr);
    cJSON_Delete(wic);
}

Test(model_mapping, closure_reasons_and_contact_prohibition)
{
    cJSON *sr = lg_test_load_json(LGEX "ServiceRequest-loopgate-servicerequest-example.json");
    cJSON_AddItemToObject(sr, "orderDetail", cJSON_Parse("[{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                                                         "\",\"code\":\"contacting-subject-prohibited\"}]}]"));
    cJSON_AddItemToObject(sr, "supportingInfo", cJSON_Parse("[{\"reference\":\"Observation/o1\"},"
                                                            "{\"reference\":\"Consent/c1\"}]"));
    cJSON *t = lg_test_load_json(LGEX "Task-loopgate-task-example.json");
    cJSON_ReplaceItemInObject(t, "status", cJSON_CreateString("rejected"));
    cJSON_ReplaceItemInObject(t, "lastModified", cJSON_CreateString("2026-11-04T09:00:00Z"));
    cJSON_AddItemToObject(t, "statusReason", cJSON_Parse("{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                                                         "\",\"code\":\"no-capacity\"}],\"text\":\"Waitlist full\"}"));
    lg_referral *r = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK);
    cr_assert(r->contact_prohibited);
    STR(r->consent.reference, "Consent/c1");
    cr_assert_eq(r->loop, LG_LOOP_CLOSED_NOT_SERVED);
    cr_assert_eq(r->not_served, LG_NOT_SERVED_AT_CAPACITY);
    STR(r->status_reason, "Waitlist full");
    cr_assert_eq(r->n_timeline, 2);
    cr_assert_eq(r->timeline[1].at_ms, at("2026-11-04T09:00:00Z"));
    /* A rejection is both the first response and the closure. */
    cr_assert_eq(lg_referral_first_response_ms(r), at("2026-11-04T09:00:00Z"));
    cr_assert_eq(lg_referral_closed_ms(r), at("2026-11-04T09:00:00Z"));
    lg_model_referral_free(r);

    /* Loopgate's own reason codes; cancelled is always "cancelled". */
    cJSON_ReplaceItemInObject(t, "statusReason", cJSON_Parse("{\"coding\":[{\"system\":\"" LG_REASON_SYSTEM
                                                             "\",\"code\":\"unable-to-contact\"}]}"));
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK);
    cr_assert_eq(r->not_served, LG_NOT_SERVED_UNABLE_TO_CONTACT);
    lg_model_referral_free(r);
    cJSON_ReplaceItemInObject(t, "status", cJSON_CreateString("cancelled"));
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK);
    cr_assert_eq(r->not_served, LG_NOT_SERVED_CANCELLED);
    lg_model_referral_free(r);
    cJSON_ReplaceItemInObject(t, "status", cJSON_CreateString("failed"));
    cJSON_DeleteItemFromObject(t, "statusReason");
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK);
    cr_assert_eq(r->not_served, LG_NOT_SERVED_OTHER);
    lg_model_referral_free(r);
    lg_issues_free(&is);
    cJSON_Delete(sr);
    cJSON_Delete(t);
}

Test(model_mapping, service_request_alone_and_its_loop_state)
{
    cJSON *sr = lg_test_load_json(LGEX "ServiceRequest-loopgate-servicerequest-example.json");
    lg_referral *r = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_referral_from_fhir(sr, NULL, &r, &is), LG_OK);
    cr_assert_not(r->has_task);
    cr_assert_eq(r->loop, LG_LOOP_PENDING);
    cr_assert_null(r->task_id);
    lg_model_referral_free(r);
    cJSON_ReplaceItemInObject(sr, "status", cJSON_CreateString("revoked"));
    cr_assert_eq(lg_model_referral_from_fhir(sr, NULL, &r, &is), LG_OK);
    cr_assert_eq(r->loop, LG_LOOP_CLOSED_NOT_SERVED);
    cr_assert_eq(r->not_served, LG_NOT_SERVED_CANCELLED);
    lg_model_referral_free(r);
    /* A subject that is not a Patient; a bad priority. */
    cJSON_ReplaceItemInObject(sr, "subject", cJSON_Parse("{\"reference\":\"Group/g1\"}"));
    cJSON_ReplaceItemInObject(sr, "priority", cJSON_CreateString("whenever"));
    cr_assert_eq(lg_model_referral_from_fhir(sr, NULL, &r, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "ServiceRequest.subject"));
    cr_assert(has_issue_at(&is, "ServiceRequest.priority"));
    lg_issues_free(&is);
    cJSON_Delete(sr);
}

Test(model_mapping, references_taken_apart)
{
    lg_ref a, b;
    cr_assert_eq(lg_ref_set(&a, "https://ehr.example/fhir/Patient/p-1/_history/3", NULL), LG_OK);
    STR(a.type, "Patient");
    STR(a.id, "p-1");
    cr_assert_eq(lg_ref_set(&b, "Patient/p-1", "Pat"), LG_OK);
    cr_assert(lg_ref_same(&a, &b));
    lg_ref_clear(&a);
    cr_assert_eq(lg_ref_set(&a, "urn:uuid:6f1c1e9e-1a7b-4c55-9e3b-0d3c0c7f2a11", NULL), LG_OK);
    cr_assert_null(a.type);
    cr_assert_not(lg_ref_same(&a, &b));
    lg_ref_clear(&a);
    cr_assert_eq(lg_ref_set(&a, "patient/p-1", NULL), LG_OK); /* not a type name */
    cr_assert_null(a.type);
    lg_ref_clear(&a);
    lg_ref_clear(&b);
}

/* ------------------------------------------------------------ others */

Test(model_mapping, organization_and_patient_tasks)
{
    cJSON *o = lg_test_load_json(SDOHCC "Organization-SDOHCC-OrganizationWICCommunityOrganizationExample.json");
    lg_org *org = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_org_from_fhir(o, &org, &is), LG_OK);
    STR(org->id, "SDOHCC-OrganizationWICCommunityOrganizationExample");
    STR(org->name, "Special Supplemental Nutrition Program for Women, Infants and Children (WIC) Office");
    cr_assert(org->active);
    lg_model_org_free(org);
    cJSON_Delete(o);

    static const char *const files[] = {
        "Task-SDOHCC-TaskPatientInformationRequestCompletedExample.json",
        "Task-SDOHCC-TaskPatientMakeAppointmentCompletedExample.json",
        "Task-SDOHCC-TaskPatientReviewInformationCompletedExample.json",
        "Task-SDOHCC-TaskPatientRiskQuestionnaireCompletedExample.json",
    };
    for(size_t i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof(path), SDOHCC "%s", files[i]);
        cJSON *t = lg_test_load_json(path);
        lg_patient_task *pt = NULL;
        cr_assert_eq(lg_model_patient_task_from_fhir(t, &pt, &is), LG_OK, "%s", files[i]);
        cr_assert_eq(pt->status, LG_TASK_COMPLETED);
        STR(pt->child.reference, "Patient/pat-53234");
        lg_model_patient_task_free(pt);
        cJSON_Delete(t);
    }
    cJSON *t = lg_test_load_json(SDOHCC "Task-SDOHCC-TaskPatientMakeAppointmentCompletedExample.json");
    lg_patient_task *pt = NULL;
    cr_assert_eq(lg_model_patient_task_from_fhir(t, &pt, &is), LG_OK);
    STR(pt->code.code, "make-contact");
    STR(pt->owner.reference, "Patient/pat-53234");
    STR(pt->requester.reference, "Organization/SDOHCC-OrganizationClinicExample");
    STR(pt->description, "Please contact the clinic to schedule your appointment");
    cr_assert_eq(pt->authored_ms, at("2020-09-12T21:56:54.671Z"));
    lg_model_patient_task_free(pt);
    /* Owned by an Organization, or by another patient: refused. */
    cJSON_ReplaceItemInObject(t, "owner", cJSON_Parse("{\"reference\":\"Organization/o1\"}"));
    cr_assert_eq(lg_model_patient_task_from_fhir(t, &pt, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "Task.owner"));
    lg_issues_free(&is);
    cJSON_ReplaceItemInObject(t, "owner", cJSON_Parse("{\"reference\":\"Patient/other\"}"));
    cr_assert_eq(lg_model_patient_task_from_fhir(t, &pt, &is), LG_EINVAL);
    lg_issues_free(&is);
    cJSON_Delete(t);
}

Test(model_mapping, care_plan_goals_activities_lead_and_review)
{
    cJSON *cp = cJSON_Parse(
        "{\"resourceType\":\"CarePlan\",\"id\":\"cp1\",\"status\":\"active\",\"intent\":\"plan\","
        "\"subject\":{\"reference\":\"Patient/loopgate-patient-example\"},\"created\":\"2026-11-02\","
        "\"period\":{\"start\":\"2026-11-02\",\"end\":\"2027-05-01\"},"
        "\"author\":{\"reference\":\"PractitionerRole/lead-cm\",\"display\":\"Lead Care Manager\"},"
        "\"goal\":[{\"reference\":\"Goal/SDOHCC-GoalFoodSecurityExample\"}],"
        "\"activity\":[{\"reference\":{\"reference\":\"ServiceRequest/loopgate-servicerequest-example\"}},"
        "{\"detail\":{\"status\":\"scheduled\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
        "\"code\":\"410606002\"}]}}}]}");
    lg_care_plan *p = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_care_plan_from_fhir(cp, &p, &is), LG_OK);
    STR(p->id, "cp1");
    STR(p->status, "active");
    STR(p->subject.reference, "Patient/loopgate-patient-example");
    cr_assert_eq(p->n_goals, 1);
    STR(p->goals[0].id, "SDOHCC-GoalFoodSecurityExample");
    cr_assert_eq(p->n_activities, 2);
    STR(p->activities[0].reference.type, "ServiceRequest");
    STR(p->activities[1].code.code, "410606002");
    STR(p->activities[1].status, "scheduled");
    STR(p->lead_care_manager.reference, "PractitionerRole/lead-cm");
    STR(p->review_due, "2027-05-01");
    cr_assert_eq(p->review_due_ms, at("2027-05-01"));
    cr_assert_eq(p->created_ms, at("2026-11-02"));
    lg_model_care_plan_free(p);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cp, "period"), "end", cJSON_CreateString("soon"));
    cr_assert_eq(lg_model_care_plan_from_fhir(cp, &p, &is), LG_EINVAL);
    cr_assert(has_issue_at(&is, "CarePlan.period.end"));
    lg_issues_free(&is);
    cJSON_Delete(cp);
}

/* ------------------------------------------------------------ model -> FHIR */

static const char *jstr(const cJSON *o, const char *path)
{
    /* dotted path with numeric array steps: "category.1.coding.0.code" */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *cur = o;
    for(char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
        cur = (tok[0] >= '0' && tok[0] <= '9') ? cJSON_GetArrayItem(cur, (int)strtol(tok, NULL, 10))
                                               : cJSON_GetObjectItemCaseSensitive(cur, tok);
    return cJSON_IsString(cur) ? cur->valuestring : "(absent)";
}

Test(model_mapping, referral_summary_round_trips)
{
    cJSON *sr = lg_test_load_json(LGEX "ServiceRequest-loopgate-servicerequest-example.json");
    cJSON *t = lg_test_load_json(LGEX "Task-loopgate-task-example.json");
    cJSON_AddItemToObject(sr, "orderDetail", cJSON_Parse("[{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                                                         "\",\"code\":\"contacting-subject-prohibited\"}]}]"));
    lg_referral *r = NULL, *back = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK);
    cJSON *osr = NULL, *ot = NULL;
    cr_assert_eq(lg_model_referral_to_fhir(r, false, &osr, &ot), LG_OK);
    cr_assert_not_null(ot);
    cr_assert_str_eq(jstr(osr, "resourceType"), "ServiceRequest");
    cr_assert_str_eq(jstr(osr, "id"), "loopgate-servicerequest-example");
    cr_assert_str_eq(jstr(osr, "status"), "active");
    cr_assert_str_eq(jstr(osr, "intent"), "order");
    cr_assert_str_eq(jstr(osr, "category.0.coding.0.code"), "410606002");
    cr_assert_str_eq(jstr(osr, "category.1.coding.0.code"), "food-insecurity");
    cr_assert_str_eq(jstr(osr, "category.1.coding.0.system"), LG_SDOHCC_CODES);
    cr_assert_str_eq(jstr(osr, "code.coding.0.code"), "467771000124109");
    cr_assert_str_eq(jstr(osr, "subject.reference"), "Patient/loopgate-patient-example");
    cr_assert_str_eq(jstr(osr, "requester.reference"), "PractitionerRole/loopgate-care-manager-example");
    cr_assert_str_eq(jstr(osr, "performer.0.reference"), "Organization/loopgate-cbo-example");
    cr_assert_str_eq(jstr(osr, "authoredOn"), "2026-11-03T00:20:00.000Z");
    cr_assert_str_eq(jstr(osr, "priority"), "routine");
    cr_assert_str_eq(jstr(osr, "orderDetail.0.coding.0.code"), "contacting-subject-prohibited");
    cr_assert_str_eq(jstr(ot, "resourceType"), "Task");
    cr_assert_str_eq(jstr(ot, "id"), "loopgate-task-example");
    cr_assert_str_eq(jstr(ot, "status"), "requested");
    cr_assert_str_eq(jstr(ot, "intent"), "order");
    cr_assert_str_eq(jstr(ot, "code.coding.0.code"), "fulfill");
    cr_assert_str_eq(jstr(ot, "focus.reference"), "ServiceRequest/loopgate-servicerequest-example");
    cr_assert_str_eq(jstr(ot, "for.reference"), "Patient/loopgate-patient-example");
    cr_assert_str_eq(jstr(ot, "owner.reference"), "Organization/loopgate-cbo-example");
    cr_assert_str_eq(jstr(ot, "meta.profile.0"), LG_TASK_PROFILE_REFERRAL);

    /* And back: the same model. */
    cr_assert_eq(lg_model_referral_from_fhir(osr, ot, &back, &is), LG_OK);
    STR(back->child.reference, r->child.reference);
    STR(back->referrer_practitioner.reference, r->referrer_practitioner.reference);
    STR(back->recipient_org.reference, r->recipient_org.reference);
    cr_assert_eq(back->n_categories, r->n_categories);
    cr_assert_eq(back->categories[0], r->categories[0]);
    STR(back->service.code, r->service.code);
    cr_assert_eq(back->priority, r->priority);
    cr_assert_eq(back->authored_ms, r->authored_ms);
    cr_assert_eq(back->task_status, r->task_status);
    cr_assert_eq(back->loop, r->loop);
    cr_assert(back->contact_prohibited);
    lg_model_referral_free(back);
    lg_model_referral_free(r);
    cJSON_Delete(osr);
    cJSON_Delete(ot);
    cJSON_Delete(sr);
    cJSON_Delete(t);
    lg_issues_free(&is);
}

Test(model_mapping, closed_referral_summary_carries_outcome_and_reason)
{
    cJSON *sr = lg_test_load_json(SDOHCC "ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json");
    cJSON *t = lg_test_load_json(SDOHCC "Task-SDOHCC-TaskReferralManagementOrderFulfillmentCompletedExample.json");
    lg_referral *r = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK);
    cJSON *osr = NULL, *ot = NULL;
    cr_assert_eq(lg_model_referral_to_fhir(r, false, &osr, &ot), LG_OK);
    cr_assert_str_eq(jstr(ot, "status"), "completed");
    cr_assert_str_eq(jstr(ot, "output.0.type.coding.0.code"), "resulting-activity");
    cr_assert_str_eq(jstr(ot, "output.0.valueReference.reference"),
                     "Procedure/SDOHCC-ProcedureFoodPantryApplicationAssistanceExample");
    cJSON_Delete(osr);
    cJSON_Delete(ot);
    lg_model_referral_free(r);

    /* A referral closed at capacity says so in statusReason. */
    cJSON_ReplaceItemInObject(t, "status", cJSON_CreateString("rejected"));
    cJSON_DeleteItemFromObject(t, "output");
    cJSON_AddItemToObject(t, "statusReason", cJSON_Parse("{\"coding\":[{\"code\":\"at-capacity\"}],\"text\":\"full\"}"));
    cr_assert_eq(lg_model_referral_from_fhir(sr, t, &r, &is), LG_OK);
    cr_assert_eq(lg_model_referral_to_fhir(r, false, &osr, &ot), LG_OK);
    cr_assert_str_eq(jstr(ot, "statusReason.coding.0.code"), "at-capacity");
    cr_assert_str_eq(jstr(ot, "statusReason.coding.0.system"), LG_REASON_SYSTEM);
    cr_assert_str_eq(jstr(ot, "statusReason.text"), "full");
    cJSON_Delete(osr);
    cJSON_Delete(ot);
    lg_model_referral_free(r);
    lg_issues_free(&is);
    cJSON_Delete(sr);
    cJSON_Delete(t);
}

Test(model_mapping, task_status_update_passes_the_workflow)
{
    cJSON *cur = lg_test_load_json(LGEX "Task-loopgate-task-example.json");
    cJSON *acc = NULL, *done = NULL, *prog = NULL;
    int64_t now = at("2026-11-05T15:00:00Z");
    cr_assert_eq(lg_model_task_status_update(cur, LG_TASK_ACCEPTED, NULL, NULL, now, &acc), LG_OK);
    cr_assert_str_eq(jstr(acc, "status"), "accepted");
    cr_assert_str_eq(jstr(acc, "lastModified"), "2026-11-05T15:00:00.000Z");
    cr_assert_str_eq(jstr(cur, "status"), "requested"); /* a copy */
    static const char *const refs[] = { "Organization/loopgate-cbo-example" };
    lg_actor cbo = { LG_ROLE_REFERRAL_RECIPIENT, refs, 1 };
    lg_issues is = { 0 };
    cr_assert_eq(lg_workflow_check(cur, acc, &cbo, &is), LG_WF_ALLOWED);
    cr_assert_eq(lg_model_task_status_update(acc, LG_TASK_IN_PROGRESS, NULL, NULL, now, &prog), LG_OK);
    cr_assert_eq(lg_model_task_status_update(prog, LG_TASK_COMPLETED, "Application submitted", "Procedure/pr-9",
                                             now, &done), LG_OK);
    cr_assert_str_eq(jstr(done, "statusReason.text"), "Application submitted");
    cr_assert_str_eq(jstr(done, "output.0.type.coding.0.code"), "resulting-activity");
    cr_assert_str_eq(jstr(done, "output.0.valueReference.reference"), "Procedure/pr-9");
    cr_assert_eq(lg_workflow_check(prog, done, &cbo, &is), LG_WF_ALLOWED);
    /* Skipping acceptance is not. */
    cr_assert_eq(lg_workflow_check(cur, done, &cbo, &is), LG_WF_CONFLICT);
    cJSON *bad = NULL;
    cr_assert_eq(lg_model_task_status_update(cur, LG_TASK_STATUS_COUNT, NULL, NULL, now, &bad), LG_EINVAL);
    cr_assert_null(bad);
    cr_assert_eq(lg_model_task_status_update(cJSON_GetObjectItem(cur, "for"), LG_TASK_ACCEPTED, NULL, NULL, now,
                                             &bad), LG_EINVAL);
    lg_issues_free(&is);
    cJSON_Delete(cur);
    cJSON_Delete(acc);
    cJSON_Delete(prog);
    cJSON_Delete(done);
}

Test(model_mapping, timeline_keeps_time_order)
{
    lg_referral *r = calloc(1, sizeof(*r));
    cr_assert_not_null(r);
    cr_assert_eq(lg_referral_add_event(r, LG_TASK_REQUESTED, 1000, "PractitionerRole/a"), LG_OK);
    cr_assert_eq(lg_referral_add_event(r, LG_TASK_IN_PROGRESS, 3000, NULL), LG_OK);
    cr_assert_eq(lg_referral_add_event(r, LG_TASK_ON_HOLD, INT64_MIN, NULL), LG_OK);
    cr_assert_eq(lg_referral_add_event(r, LG_TASK_ACCEPTED, 2000, "Organization/b"), LG_OK);
    cr_assert_eq(r->n_timeline, 4);
    cr_assert_eq(r->timeline[0].status, LG_TASK_REQUESTED);
    cr_assert_eq(r->timeline[1].status, LG_TASK_ACCEPTED);
    STR(r->timeline[1].by, "Organization/b");
    cr_assert_eq(r->timeline[2].status, LG_TASK_IN_PROGRESS);
    cr_assert_eq(r->timeline[3].status, LG_TASK_ON_HOLD); /* unknown time: last */
    cr_assert_eq(r->task_status, LG_TASK_ON_HOLD);
    cr_assert_eq(r->loop, LG_LOOP_ON_HOLD);
    cr_assert_eq(lg_referral_first_response_ms(r), 2000);
    lg_model_referral_free(r);
}
