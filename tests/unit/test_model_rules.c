/* Unit tests for the Medi-Cal business rules of the coordination model
 * (src/model/workflow.c): ECM population-of-focus age limits, the six-month
 * care plan review, and contact-prohibited referrals. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/model.h"
#include "loopgate/time.h"
#include "lg_test.h"

#define LGEX LG_SOURCE_DIR "/profiles/package/example/"

static int64_t at(const char *s)
{
    int64_t lo, hi;
    cr_assert_eq(lg_time_parse_range(s, &lo, &hi), LG_OK, "%s", s);
    return lo;
}

/* ------------------------------------------------------------ ECM age */

static lg_status ecm(const char *birth, unsigned pops, lg_tristate foster, const char *today, lg_issues *is)
{
    lg_child c = { 0 };
    c.birth_date = (char *)birth;
    c.ecm_populations = pops;
    c.former_foster_youth = foster;
    return lg_rule_ecm_age(&c, at(today), is);
}

#define HOMELESS LG_ECM_BIT(LG_ECM_HOMELESSNESS)
#define WELFARE LG_ECM_BIT(LG_ECM_CHILD_WELFARE)
#define JAIL LG_ECM_BIT(LG_ECM_INCARCERATION)
#define CCS LG_ECM_BIT(LG_ECM_CCS_WHOLE_CHILD)

Test(model_rules, ecm_under_21_for_every_population)
{
    lg_issues is = { 0 };
    for(int p = 0; p < LG_ECM_POPULATION_COUNT; p++) {
        cr_assert_eq(ecm("2006-12-01", LG_ECM_BIT(p), LG_UNKNOWN, "2026-11-30", &is), LG_OK, "20: %d", p);
        /* 21st birthday today: out, except the two former-foster-youth populations. */
        bool foster = p == LG_ECM_CHILD_WELFARE || p == LG_ECM_INCARCERATION;
        cr_assert_eq(ecm("2005-11-30", LG_ECM_BIT(p), LG_NO, "2026-11-30", &is),
                     LG_EUNPROCESSABLE, "21: %d", p);
        cr_assert_eq(ecm("2005-11-30", LG_ECM_BIT(p), LG_YES, "2026-11-30", &is),
                     foster ? LG_OK : LG_EUNPROCESSABLE, "21 foster: %d", p);
    }
    lg_issues_free(&is);
}

Test(model_rules, ecm_error_names_population_and_age)
{
    lg_issues is = { 0 };
    cr_assert_eq(ecm("2003-05-01", HOMELESS | CCS, LG_UNKNOWN, "2026-11-30", &is), LG_EUNPROCESSABLE);
    cr_assert_eq(lg_issues_errors(&is), 2);
    cr_assert(strstr(is.items[0].diagnostics, "homelessness") && strstr(is.items[0].diagnostics, "23"));
    cr_assert(strstr(is.items[1].diagnostics, "ccs-whole-child"));
    cr_assert(strstr(is.items[0].location, "ecm-population-of-focus"));
    lg_issues_free(&is);
}

Test(model_rules, former_foster_youth_up_to_26)
{
    lg_issues is = { 0 };
    /* 25 and former foster youth: in. */
    cr_assert_eq(ecm("2001-01-15", WELFARE | JAIL, LG_YES, "2026-11-30", &is), LG_OK);
    cr_assert_eq(is.count, 0);
    /* 25, status unknown: accepted with a warning per population. */
    cr_assert_eq(ecm("2001-01-15", WELFARE | JAIL, LG_UNKNOWN, "2026-11-30", &is), LG_OK);
    cr_assert_eq(is.count, 2);
    cr_assert_eq(is.items[0].severity, LG_SEV_WARNING);
    lg_issues_free(&is);
    /* 25, known not to be a former foster youth: out. */
    cr_assert_eq(ecm("2001-01-15", WELFARE, LG_NO, "2026-11-30", &is), LG_EUNPROCESSABLE);
    cr_assert(strstr(is.items[0].diagnostics, "not a former foster youth"));
    lg_issues_free(&is);
    /* 26th birthday: out even for former foster youth; the day before: in. */
    cr_assert_eq(ecm("2000-11-30", WELFARE, LG_YES, "2026-11-30", &is), LG_EUNPROCESSABLE);
    cr_assert_eq(ecm("2000-12-01", WELFARE, LG_YES, "2026-11-30", &is), LG_OK);
    /* Homelessness has no foster extension. */
    cr_assert_eq(ecm("2001-01-15", HOMELESS, LG_YES, "2026-11-30", &is), LG_EUNPROCESSABLE);
    lg_issues_free(&is);
}

Test(model_rules, ecm_without_populations_or_birth_date)
{
    lg_issues is = { 0 };
    cr_assert_eq(ecm("1950-01-01", 0, LG_UNKNOWN, "2026-11-30", &is), LG_OK);
    cr_assert_eq(is.count, 0);
    cr_assert_eq(ecm(NULL, HOMELESS, LG_UNKNOWN, "2026-11-30", &is), LG_OK);
    cr_assert_eq(ecm("1990", HOMELESS, LG_UNKNOWN, "2026-11-30", &is), LG_OK);
    cr_assert_eq(is.count, 2);
    cr_assert_eq(is.items[0].severity, LG_SEV_WARNING);
    lg_issues_free(&is);
}

Test(model_rules, ecm_on_the_loopgate_example_patient)
{
    cJSON *p = lg_test_load_json(LGEX "Patient-loopgate-patient-example.json");
    lg_child *c = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_OK);
    cr_assert_eq(lg_rule_ecm_age(c, at("2026-11-30"), &is), LG_OK); /* 14 */
    cr_assert_eq(lg_rule_ecm_age(c, at("2033-04-17"), &is), LG_EUNPROCESSABLE); /* 21 */
    cr_assert_eq(lg_issues_errors(&is), 2); /* homelessness, avoidable-utilization */
    lg_issues_free(&is);
    lg_model_child_free(c);
    cJSON_Delete(p);
}

/* ------------------------------------------------------------ care plan */

static lg_status review(const char *due, const char *today, lg_issues *is)
{
    lg_care_plan p = { 0 };
    p.review_due = (char *)due;
    p.review_due_ms = INT64_MIN;
    int64_t lo, hi;
    if(due && lg_time_parse_range(due, &lo, &hi) == LG_OK)
        p.review_due_ms = lo;
    return lg_rule_care_plan_review(&p, at(today), is);
}

Test(model_rules, care_plan_review_at_most_six_months_out)
{
    lg_issues is = { 0 };
    cr_assert_eq(review("2027-05-30", "2026-11-30", &is), LG_OK);
    cr_assert_eq(review("2026-12-15", "2026-11-30", &is), LG_OK);
    cr_assert_eq(is.count, 0);
    cr_assert_eq(review("2027-05-31", "2026-11-30", &is), LG_EUNPROCESSABLE);
    cr_assert_str_eq(is.items[0].location, "CarePlan.period.end");
    cr_assert(strstr(is.items[0].diagnostics, "2027-05-31") && strstr(is.items[0].diagnostics, "2027-05-30"));
    lg_issues_free(&is);
    /* 31 August + six months is the last day of February (leap and not). */
    cr_assert_eq(review("2027-02-28", "2026-08-31", &is), LG_OK);
    cr_assert_eq(review("2027-03-01", "2026-08-31", &is), LG_EUNPROCESSABLE);
    cr_assert_eq(review("2028-02-29", "2027-08-31", &is), LG_OK);
    cr_assert_eq(review("2028-03-01", "2027-08-31", &is), LG_EUNPROCESSABLE);
    lg_issues_free(&is);
    /* A date-time on the last allowed day is still in. */
    cr_assert_eq(review("2027-05-30T23:00:00Z", "2026-11-30", &is), LG_OK);
    lg_issues_free(&is);
}

Test(model_rules, care_plan_review_missing_or_overdue)
{
    lg_issues is = { 0 };
    cr_assert_eq(review(NULL, "2026-11-30", &is), LG_EUNPROCESSABLE);
    cr_assert_eq(is.items[0].severity, LG_SEV_ERROR);
    lg_issues_free(&is);
    cr_assert_eq(review("2026-10-01", "2026-11-30", &is), LG_OK);
    cr_assert_eq(is.count, 1);
    cr_assert_eq(is.items[0].severity, LG_SEV_WARNING);
    cr_assert(strstr(is.items[0].diagnostics, "overdue"));
    lg_issues_free(&is);
}

/* ------------------------------------------------------------ contact */

Test(model_rules, strip_contact_keeps_what_reporting_needs)
{
    cJSON *p = lg_test_load_json(LGEX "Patient-loopgate-patient-example.json");
    cJSON *s = NULL;
    cr_assert_eq(lg_rule_strip_contact(p, &s), LG_OK);
    cr_assert_null(cJSON_GetObjectItem(s, "telecom"));
    cr_assert_null(cJSON_GetObjectItem(s, "text"));
    cJSON *addr = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "address"), 0);
    cr_assert_null(cJSON_GetObjectItem(addr, "line"));
    cr_assert_null(cJSON_GetObjectItem(addr, "city"));
    cr_assert_null(cJSON_GetObjectItem(addr, "postalCode"));
    cr_assert_str_eq(cJSON_GetObjectItem(addr, "district")->valuestring, "Ventura County");
    cr_assert_str_eq(cJSON_GetObjectItem(addr, "state")->valuestring, "CA");
    /* 10 extensions, one of them the contactable caregiver. */
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(p, "extension")), 10);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s, "extension")), 9);
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(s, "extension"))
        cr_assert_str_neq(cJSON_GetObjectItem(e, "url")->valuestring, LG_URL_CAREGIVER);
    /* The child model still reads race, language, county, tier from the copy. */
    lg_child *c = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_child_from_fhir(s, &c, &is), LG_OK);
    cr_assert_eq(c->n_race, 1);
    cr_assert_eq(c->n_languages, 2);
    cr_assert_str_eq(c->county, "Ventura County");
    cr_assert_eq(c->phm_tier, LG_PHM_ENHANCED);
    cr_assert_eq(c->n_caregivers, 0);
    lg_model_child_free(c);
    /* The original is untouched. */
    cr_assert_not_null(cJSON_GetObjectItem(p, "telecom"));
    cJSON_Delete(s);
    cr_assert_eq(lg_rule_strip_contact(cJSON_GetObjectItem(p, "name"), &s), LG_EINVAL);
    cr_assert_null(s);
    cJSON_Delete(p);
}

Test(model_rules, contact_prohibited_referral_never_forwarded_with_contact_details)
{
    cJSON *p = lg_test_load_json(LGEX "Patient-loopgate-patient-example.json");
    lg_referral r = { 0 };
    lg_issues is = { 0 };
    /* Not prohibited: anything goes. */
    cr_assert_eq(lg_rule_forward_check(&r, p, &is), LG_OK);
    cr_assert_eq(is.count, 0);
    r.contact_prohibited = true;
    cr_assert_eq(lg_rule_forward_check(&r, p, &is), LG_EUNPROCESSABLE);
    const char *want[] = { "Patient.telecom", "Patient.text", "Patient.address[0].line", "Patient.address[0].city",
                           "Patient.address[0].postalCode", "Patient.extension[7]" };
    for(size_t w = 0; w < sizeof(want) / sizeof(*want); w++) {
        bool found = false;
        for(size_t i = 0; i < is.count; i++)
            found |= is.items[i].location && strcmp(is.items[i].location, want[w]) == 0;
        cr_assert(found, "no issue at %s", want[w]);
    }
    cr_assert_eq(lg_issues_errors(&is), sizeof(want) / sizeof(*want));
    lg_issues_free(&is);
    cJSON *s = NULL;
    cr_assert_eq(lg_rule_strip_contact(p, &s), LG_OK);
    cr_assert_eq(lg_rule_forward_check(&r, s, &is), LG_OK);
    cr_assert_eq(is.count, 0);
    cJSON_Delete(s);
    cJSON_Delete(p);
}

Test(model_rules, contact_prohibited_flag_comes_from_the_service_request)
{
    cJSON *sr = lg_test_load_json(LGEX "ServiceRequest-loopgate-servicerequest-example.json");
    cJSON *p = lg_test_load_json(LGEX "Patient-loopgate-patient-example.json");
    lg_referral *r = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_model_referral_from_fhir(sr, NULL, &r, &is), LG_OK);
    cr_assert_eq(lg_rule_forward_check(r, p, &is), LG_OK);
    lg_model_referral_free(r);
    cJSON_AddItemToObject(sr, "orderDetail", cJSON_Parse("[{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                                                         "\",\"code\":\"contacting-subject-prohibited\"}]}]"));
    cr_assert_eq(lg_model_referral_from_fhir(sr, NULL, &r, &is), LG_OK);
    cr_assert_eq(lg_rule_forward_check(r, p, &is), LG_EUNPROCESSABLE);
    lg_model_referral_free(r);
    lg_issues_free(&is);
    cJSON_Delete(sr);
    cJSON_Delete(p);
}
