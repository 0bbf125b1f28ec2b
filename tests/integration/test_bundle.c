/* Integration: transaction and batch Bundles at the base URL. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void) { lg_it_start(&S, NULL); }
static void down(void) { lg_it_cleanup(&S); }
TestSuite(bundle, .init = up, .fini = down, .timeout = 120);

/* The EHR's referral: Patient + ServiceRequest + Task linked by urn:uuid. */
static const char *REFERRAL =
    "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
    "{\"fullUrl\":\"urn:uuid:9d2a1c2e-0000-4000-8000-000000000001\",\"resource\":"
    "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\",\"value\":\"%s\"}],"
    "\"name\":[{\"family\":\"Lopez\"}]},\"request\":{\"method\":\"POST\",\"url\":\"Patient\","
    "\"ifNoneExist\":\"identifier=urn:mrn|%s\"}},"
    "{\"fullUrl\":\"urn:uuid:9d2a1c2e-0000-4000-8000-000000000002\",\"resource\":"
    "{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\","
    "\"subject\":{\"reference\":\"urn:uuid:9d2a1c2e-0000-4000-8000-000000000001\"}},"
    "\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}},"
    "{\"fullUrl\":\"urn:uuid:9d2a1c2e-0000-4000-8000-000000000003\",\"resource\":"
    "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
    "\"focus\":{\"reference\":\"urn:uuid:9d2a1c2e-0000-4000-8000-000000000002\"},"
    "\"for\":{\"reference\":\"urn:uuid:9d2a1c2e-0000-4000-8000-000000000001\"},"
    "\"owner\":{\"reference\":\"Organization/cbo-17\"}},"
    "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}%s]}";

static cJSON *entry(const cJSON *b, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(b, "entry"), i);
}

Test(bundle, transaction_resolves_references_in_entry_order)
{
    char body[4096];
    snprintf(body, sizeof(body), REFERRAL, "TX-1", "TX-1", "");
    lg_resp r = lg_http_json(&S, "POST", "/", body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "type"), "transaction-response");
    cr_assert_eq(lg_entries(r.json), 3);
    const char *types[] = {"Patient", "ServiceRequest", "Task"};
    for(int i = 0; i < 3; i++) {
        cJSON *resp = cJSON_GetObjectItem(entry(r.json, i), "response");
        cr_assert_str_eq(lg_str(resp, "status"), "201 Created");
        cr_assert_not_null(strstr(lg_str(resp, "location"), types[i]));
        cr_assert_str_eq(lg_str(resp, "etag"), "W/\"1\"");
    }
    const char *pid = lg_str(cJSON_GetObjectItem(entry(r.json, 0), "resource"), "id");
    const char *sid = lg_str(cJSON_GetObjectItem(entry(r.json, 1), "resource"), "id");
    char want[128], path[128];
    snprintf(path, sizeof(path), "/Task?focus=ServiceRequest/%s&patient=Patient/%s", sid, pid);
    lg_resp t = lg_http(&S, "GET", path, NULL, NULL);
    cr_assert_eq(lg_entries(t.json), 1, "%s", t.body);
    cJSON *task = cJSON_GetObjectItem(entry(t.json, 0), "resource");
    snprintf(want, sizeof(want), "Patient/%s", pid);
    cr_assert_str_eq(lg_str(cJSON_GetObjectItem(task, "for"), "reference"), want);
    lg_resp_free(&t);

    /* Posting the same referral again: the Patient exists (ifNoneExist), so the
     * new ServiceRequest points at the existing Patient. */
    lg_resp again = lg_http_json(&S, "POST", "/", body);
    cr_assert_eq(again.status, 200, "%s", again.body);
    cJSON *p0 = cJSON_GetObjectItem(entry(again.json, 0), "response");
    cr_assert_str_eq(lg_str(p0, "status"), "200 OK");
    cJSON *sr2 = cJSON_GetObjectItem(entry(again.json, 1), "resource");
    cr_assert_str_eq(lg_str(cJSON_GetObjectItem(sr2, "subject"), "reference"), want);
    lg_resp_free(&again);
    lg_resp_free(&r);
}

Test(bundle, failing_transaction_stores_nothing)
{
    char body[4096];
    const char *bad = ",{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"zz\"},"
                      "\"request\":{\"method\":\"PUT\",\"url\":\"Patient/zz\",\"ifMatch\":\"W/\\\"3\\\"\"}}";
    snprintf(body, sizeof(body), REFERRAL, "TX-2", "TX-2", bad);
    lg_resp r = lg_http_json(&S, "POST", "/", body);
    cr_assert_eq(r.status, 412, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient?identifier=urn:mrn|TX-2", NULL, NULL);
    cr_assert_eq(lg_entries(r.json), 0, "rolled back Patient is visible");
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Task?owner=Organization/cbo-17&_summary=count", NULL, NULL);
    int before = cJSON_GetObjectItem(r.json, "total")->valueint;
    lg_resp_free(&r);
    const char *invalid = ",{\"resource\":{\"resourceType\":\"Task\"},\"request\":{\"method\":"
                          "\"POST\",\"url\":\"Patient\"}}";
    snprintf(body, sizeof(body), REFERRAL, "TX-3", "TX-3", invalid);
    r = lg_http_json(&S, "POST", "/", body);
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert_not_null(strstr(lg_diag(r.json), "entry[3]"), "%s", lg_diag(r.json));
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Task?owner=Organization/cbo-17&_summary=count", NULL, NULL);
    cr_assert_eq(cJSON_GetObjectItem(r.json, "total")->valueint, before);
    lg_resp_free(&r);
}

Test(bundle, batch_reports_each_entry)
{
    const char *body =
        "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Organization\",\"name\":\"A\"},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Organization\"}},"
        "{\"resource\":{\"resourceType\":\"Task\"},\"request\":{\"method\":\"POST\",\"url\":"
        "\"Organization\"}},"
        "{\"request\":{\"method\":\"GET\",\"url\":\"Organization?name=A\"}},"
        "{\"request\":{\"method\":\"GET\",\"url\":\"Organization/missing\"}}]}";
    lg_resp r = lg_http_json(&S, "POST", "/", body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "type"), "batch-response");
    const char *want[] = {"201", "400", "200", "404"};
    for(int i = 0; i < 4; i++) {
        cJSON *resp = cJSON_GetObjectItem(entry(r.json, i), "response");
        cr_assert(strncmp(lg_str(resp, "status"), want[i], 3) == 0, "entry %d: %s", i,
                  lg_str(resp, "status"));
    }
    cJSON *outcome = cJSON_GetObjectItem(cJSON_GetObjectItem(entry(r.json, 1), "response"),
                                         "outcome");
    cr_assert_str_eq(lg_str(outcome, "resourceType"), "OperationOutcome");
    cJSON *search = cJSON_GetObjectItem(entry(r.json, 2), "resource");
    cr_assert_str_eq(lg_str(search, "type"), "searchset");
    cr_assert_eq(lg_entries(search), 1);
    lg_resp_free(&r);
}

Test(bundle, synthea_batch_bundle_loads)
{
    /* Real-world shape: a Synthea child's bundle (type batch, 94 entries).
     * Entries of types this deployment does not serve (Encounter, Claim,
     * Immunization, ...) answer 404 each; the served ones are stored. */
    char *b = lg_shared_file("synthea/Bibi254_Schowalter414_475d72ca-91c7-7211-97e3-f000af33fc04.json");
    lg_resp r = lg_http_json(&S, "POST", "/", b);
    free(b);
    cr_assert_eq(r.status, 200, "%.300s", r.body);
    cr_assert_eq(lg_entries(r.json), 94);
    int created = 0, notfound = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entry")) {
        const char *st = lg_str(cJSON_GetObjectItem(e, "response"), "status");
        created += strncmp(st, "201", 3) == 0;
        notfound += strncmp(st, "404", 3) == 0;
    }
    /* Patient, Observation x16, Condition x9, Organization x2, Practitioner x2,
     * CareTeam x2, CarePlan x2, Procedure: 35 served; the rest are not. */
    cr_assert_eq(created, 35, "created %d", created);
    cr_assert_eq(notfound, 94 - 35);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient?family=Schowalter", NULL, NULL);
    cr_assert_eq(lg_entries(r.json), 1, "%.300s", r.body);
    lg_resp_free(&r);
}
