/* Integration: profile validation on writes. The server loads the US Core
 * and SDOHCC packages (--package); a resource that claims a profile it
 * breaks is 422, a malformed one stays 400, and --require-profile holds
 * resources that claim nothing to a profile. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_it.h"

#define PKGS LG_SHARED_DIR "/fhir/packages/"
#define SDOH_SD "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
#define TASK_EX "packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/" \
                "Task-SDOHCC-TaskReferralManagementOrderFulfillmentCompletedExample.json"
#define SR_EX "packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/" \
              "ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json"

static lg_server S;
static const char *const flags[] = {"--package", PKGS "hl7.fhir.us.core#7.0.0", "--package",
                                    PKGS "hl7.fhir.us.sdoh-clinicalcare#3.0.0", NULL};
static void up(void) { lg_it_start(&S, flags); }
static void down(void) { lg_it_cleanup(&S); }
TestSuite(profiles, .init = up, .fini = down, .timeout = 120);

static int has_issue(const cJSON *oo, const char *severity, const char *expr)
{
    const cJSON *i;
    cJSON_ArrayForEach(i, cJSON_GetObjectItem(oo, "issue")) {
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(i, "expression"), 0);
        if(lg_str(i, "severity") && !strcmp(lg_str(i, "severity"), severity) &&
           cJSON_IsString(e) && !strcmp(e->valuestring, expr))
            return 1;
    }
    return 0;
}

static char *with_replaced(const char *json, const char *from, const char *to)
{
    const char *at = strstr(json, from);
    cr_assert_not_null(at, "example has %s", from);
    return lg_fmt("%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
}

Test(profiles, conforming_examples_are_created)
{
    char *sr = lg_shared_file(SR_EX);
    lg_resp r = lg_http_json(&S, "PUT",
                             "/ServiceRequest/SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample",
                             sr);
    cr_expect(r.status == 201 || r.status == 200, "%d %s", r.status, r.body);
    lg_resp_free(&r);
    free(sr);
    char *t = lg_shared_file(TASK_EX);
    r = lg_http_json(&S, "POST", "/Task", t);
    cr_expect_eq(r.status, 201, "%s", r.body);
    lg_resp_free(&r);
    free(t);
}

Test(profiles, profile_failure_is_422)
{
    char *t = lg_shared_file(TASK_EX);
    char *bad = with_replaced(t, "\"intent\": \"order\"", "\"intent\": \"plan\"");
    lg_resp r = lg_http_json(&S, "POST", "/Task", bad);
    cr_expect_eq(r.status, 422, "%s", r.body);
    cr_expect(has_issue(r.json, "error", "Task.intent"), "%s", r.body);
    lg_resp_free(&r);
    free(bad);
    /* a structural error is still 400 */
    bad = with_replaced(t, "\"intent\": \"order\"", "\"intent\": 7");
    r = lg_http_json(&S, "POST", "/Task", bad);
    cr_expect_eq(r.status, 400, "%s", r.body);
    lg_resp_free(&r);
    free(bad);
    free(t);
}

Test(profiles, unknown_profile_is_a_warning_only)
{
    lg_resp r = lg_http_json(&S, "POST", "/Patient",
                             "{\"resourceType\":\"Patient\",\"meta\":{\"profile\":["
                             "\"http://example.org/StructureDefinition/nope\"]},"
                             "\"name\":[{\"family\":\"X\"}]}");
    cr_expect_eq(r.status, 201, "%s", r.body);
    lg_resp_free(&r);
}

Test(profiles, transaction_entry_failing_its_profile)
{
    char *t = lg_shared_file(TASK_EX);
    char *bad = with_replaced(t, "\"intent\": \"order\"", "\"intent\": \"plan\"");
    char *bundle = lg_fmt("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{"
                          "\"fullUrl\":\"urn:uuid:5b1bd2f6-0d3a-4a4e-8f43-1c1a0c9b7e11\","
                          "\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}",
                          bad);
    lg_resp r = lg_http_json(&S, "POST", "/", bundle);
    cr_expect_eq(r.status, 422, "%s", r.body);
    lg_resp_free(&r);
    free(bundle);
    free(bad);
    free(t);
}

static lg_server R;
static const char *const require_flags[] = {
    "--package", PKGS "hl7.fhir.us.core#7.0.0", "--package", PKGS "hl7.fhir.us.sdoh-clinicalcare#3.0.0",
    "--require-profile", SDOH_SD "SDOHCC-TaskForReferralManagement", NULL};

Test(profiles, required_profile, .init = NULL, .fini = NULL)
{
    lg_it_start(&R, require_flags);
    lg_resp r = lg_http_json(&S, "POST", "/Task",
                             "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\"}");
    cr_expect_eq(r.status, 201, "without --require-profile: %s", r.body);
    lg_resp_free(&r);
    r = lg_http_json(&R, "POST", "/Task",
                     "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\"}");
    cr_expect_eq(r.status, 422, "%s", r.body);
    cr_expect(has_issue(r.json, "error", "Task.focus"), "%s", r.body);
    lg_resp_free(&r);
    lg_it_cleanup(&R);
}

/* Loopgate's own package (profiles/): its examples conform, and its
 * SearchParameters are served, so a CBO can find children by PHM tier. */
static lg_server M;
static const char *const medi_cal[] = {"--package", PKGS "hl7.fhir.us.core#7.0.0", "--package",
                                       PKGS "hl7.fhir.us.sdoh-clinicalcare#3.0.0", "--package",
                                       LG_SOURCE_DIR "/profiles", NULL};
static void mc_up(void) { lg_it_start(&M, medi_cal); }
static void mc_down(void) { lg_it_cleanup(&M); }
TestSuite(medi_cal, .init = mc_up, .fini = mc_down, .timeout = 120);

static char *source_file(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", LG_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

Test(medi_cal, examples_conform_and_extension_search_works)
{
    static const char *const ex[][2] = {
        {"Patient", "profiles/package/example/Patient-loopgate-patient-example.json"},
        {"ServiceRequest", "profiles/package/example/ServiceRequest-loopgate-servicerequest-example.json"},
        {"Task", "profiles/package/example/Task-loopgate-task-example.json"},
    };
    for(size_t i = 0; i < 3; i++) {
        char *body = source_file(ex[i][1]);
        const cJSON *id = NULL;
        cJSON *j = cJSON_Parse(body);
        id = cJSON_GetObjectItem(j, "id");
        char *path = lg_fmt("/%s/%s", ex[i][0], id->valuestring);
        lg_resp r = lg_http_json(&M, "PUT", path, body);
        cr_expect(r.status == 201 || r.status == 200, "%s: %ld %s", ex[i][1], r.status, r.body);
        lg_resp_free(&r);
        free(path);
        cJSON_Delete(j);
        free(body);
    }
    lg_resp s = lg_http(&M, "GET", "/Patient?phm-tier=enhanced", NULL, NULL);
    cr_assert_eq(s.status, 200, "%s", s.body);
    cr_assert_eq(lg_entries(s.json), 1, "%s", s.body);
    lg_resp_free(&s);
    s = lg_http(&M, "GET", "/Patient?phm-tier=https://loopgate.dev/fhir/CodeSystem/phm-tier|basic",
                NULL, NULL);
    cr_assert_eq(s.status, 200, "%s", s.body);
    cr_assert_eq(lg_entries(s.json), 0, "%s", s.body);
    lg_resp_free(&s);
}

Test(medi_cal, a_wrong_tier_code_breaks_the_profile)
{
    char *body = source_file("profiles/package/example/Patient-loopgate-patient-example.json");
    char *bad = with_replaced(body, "\"code\": \"enhanced\"", "\"code\": \"platinum\"");
    lg_resp r = lg_http_json(&M, "POST", "/Patient", bad);
    cr_assert_eq(r.status, 422, "%s", r.body);
    lg_resp_free(&r);
    free(bad);
    free(body);
}
