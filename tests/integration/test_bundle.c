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
    /* the stored ServiceRequest points at the new Patient, not the urn:uuid */
    t = lg_getf(&S, "/ServiceRequest/%s", sid);
    cr_assert_eq(t.status, 200);
    cr_assert_str_eq(lg_at_str(t.json, "subject.reference"), want);
    lg_resp_free(&t);
    for(int i = 0; i < 3; i++) {
        const char *loc = lg_at_str(entry(r.json, i), "response.location");
        const char *id = lg_at_str(entry(r.json, i), "resource.id");
        char *tail = lg_fmt("%s/%s/_history/1", types[i], id);
        cr_assert_not_null(strstr(loc, tail), "location %s, want ...%s", loc, tail);
        free(tail);
    }

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
    int before = lg_total(r.json);
    cr_assert_geq(before, 0, "%s", r.body);
    lg_resp_free(&r);
    const char *invalid = ",{\"resource\":{\"resourceType\":\"Task\"},\"request\":{\"method\":"
                          "\"POST\",\"url\":\"Patient\"}}";
    snprintf(body, sizeof(body), REFERRAL, "TX-3", "TX-3", invalid);
    r = lg_http_json(&S, "POST", "/", body);
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert_not_null(strstr(lg_diag(r.json), "entry[3]"), "%s", lg_diag(r.json));
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Task?owner=Organization/cbo-17&_summary=count", NULL, NULL);
    cr_assert_eq(lg_total(r.json), before);
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
        const char *st = lg_str(resp, "status");
        cr_assert(st && strncmp(st, want[i], 3) == 0, "entry %d: %s", i,
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
     * Entries of types this deployment serves are stored (201); the others
     * answer 404 each without failing the batch. */
    cJSON *served = lg_served_types(&S);
    char *b = lg_shared_file("synthea/Bibi254_Schowalter414_475d72ca-91c7-7211-97e3-f000af33fc04.json");
    cJSON *in = cJSON_Parse(b);
    cr_assert_str_eq(lg_str(in, "type"), "batch");
    lg_resp r = lg_http_json(&S, "POST", "/", b);
    free(b);
    cr_assert_eq(r.status, 200, "%.300s", r.body);
    cr_assert_str_eq(lg_str(r.json, "type"), "batch-response");
    int n = lg_entries(in), want_created = 0, created = 0;
    cr_assert_eq(lg_entries(r.json), n);
    for(int i = 0; i < n; i++) {
        const char *type = lg_at_str(entry(in, i), "resource.resourceType");
        const char *st = lg_at_str(entry(r.json, i), "response.status");
        cr_assert_not_null(st, "entry %d has no response.status", i);
        if(lg_in(served, type)) {
            cr_assert_eq(strncmp(st, "201", 3), 0, "entry %d (%s): %s", i, type, st);
            want_created++;
        } else {
            cr_assert_eq(strncmp(st, "404", 3), 0, "entry %d (%s, not served): %s", i, type, st);
        }
        created += strncmp(st, "201", 3) == 0;
    }
    cr_assert_eq(created, want_created);
    cr_assert_gt(created, 10);
    cJSON_Delete(in);
    cJSON_Delete(served);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient?family=Schowalter", NULL, NULL);
    cr_assert_eq(lg_entries(r.json), 1, "%.300s", r.body);
    lg_resp_free(&r);
}

Test(bundle, transaction_with_put_delete_get_and_nested_references)
{
    lg_put(&S, "Organization", "gone", "{\"resourceType\":\"Organization\",\"id\":\"gone\",\"name\":\"G\"}");
    lg_put(&S, "Organization", "cbo-9", "{\"resourceType\":\"Organization\",\"id\":\"cbo-9\","
                                        "\"name\":\"Old\"}");
    const char *body =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"request\":{\"method\":\"DELETE\",\"url\":\"Organization/gone\"}},"
        "{\"fullUrl\":\"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a\",\"resource\":"
        "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
        "\"owner\":{\"reference\":\"Organization/cbo-9\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}},"
        "{\"resource\":{\"resourceType\":\"CarePlan\",\"id\":\"cp-tx\",\"status\":\"active\","
        "\"intent\":\"plan\",\"subject\":{\"reference\":\"Patient/p\"},\"activity\":[{"
        "\"reference\":{\"reference\":\"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a\"}}]},"
        "\"request\":{\"method\":\"PUT\",\"url\":\"CarePlan/cp-tx\"}},"
        "{\"resource\":{\"resourceType\":\"Organization\",\"id\":\"cbo-9\",\"name\":\"New\"},"
        "\"request\":{\"method\":\"PUT\",\"url\":\"Organization/cbo-9\",\"ifMatch\":\"W/\\\"1\\\"\"}},"
        "{\"request\":{\"method\":\"GET\",\"url\":\"Organization/cbo-9\"}}]}";
    lg_resp r = lg_http_json(&S, "POST", "/", body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "type"), "transaction-response");
    cr_assert_eq(lg_entries(r.json), 5);
    const char *want[] = {"20", "201", "201", "200", "200"};
    for(int i = 0; i < 5; i++) {
        const char *st = lg_at_str(entry(r.json, i), "response.status");
        cr_assert(st && strncmp(st, want[i], strlen(want[i])) == 0, "entry %d: %s", i, st);
    }
    /* GET is processed last, so it sees the update */
    cr_assert_str_eq(lg_at_str(entry(r.json, 4), "resource.name"), "New");
    const char *tid = lg_at_str(entry(r.json, 1), "resource.id");
    cr_assert_not_null(tid);
    char *ref = lg_fmt("Task/%s", tid);
    lg_resp c = lg_http(&S, "GET", "/CarePlan/cp-tx", NULL, NULL);
    cr_assert_str_eq(lg_at_str(c.json, "activity.0.reference.reference"), ref);
    lg_resp_free(&c);
    c = lg_http(&S, "GET", "/Organization/gone", NULL, NULL);
    cr_assert_eq(c.status, 410);
    lg_resp_free(&c);
    c = lg_http(&S, "GET", "/Organization/cbo-9", NULL, NULL);
    cr_assert_str_eq(c.etag, "W/\"2\"");
    lg_resp_free(&c);
    free(ref);
    lg_resp_free(&r);
}

Test(bundle, bundle_shape_errors)
{
    /* a transaction or batch goes to the base URL only */
    lg_resp r = lg_http_json(&S, "POST", "/Bundle",
                             "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[]}");
    cr_assert(r.status == 201 || r.status == 400 || r.status == 404 || r.status == 405,
              "%ld %s", r.status, r.body);
    lg_resp_free(&r);
    /* an empty transaction is a valid, empty response */
    r = lg_http_json(&S, "POST", "/", "{\"resourceType\":\"Bundle\",\"type\":\"transaction\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "type"), "transaction-response");
    cr_assert_eq(lg_entries(r.json), 0);
    lg_resp_free(&r);
    /* a non-Bundle at the base URL */
    r = lg_http_json(&S, "POST", "/", "{\"resourceType\":\"Patient\"}");
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
    lg_resp_free(&r);
    /* an entry without request */
    r = lg_http_json(&S, "POST", "/", "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
                                      "\"entry\":[{\"resource\":{\"resourceType\":\"Patient\"}}]}");
    cr_assert_eq(r.status, 400, "%s", r.body);
    lg_resp_free(&r);
}

/* Each entry's resource is validated: in a batch only the bad entry fails;
 * in a transaction the whole Bundle does, naming the entry and element. */
Test(bundle, invalid_entry_resources)
{
    const char *batch =
        "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\","
        "\"value\":\"VAL-1\"}]},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"Patient\",\"active\":\"yes\",\"identifier\":"
        "[{\"system\":\"urn:mrn\",\"value\":\"VAL-2\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}";
    lg_resp r = lg_http_json(&S, "POST", "/", batch);
    cr_assert_eq(r.status, 200, "%s", r.body);
    const char *s0 = lg_str(cJSON_GetObjectItem(entry(r.json, 0), "response"), "status");
    const char *s1 = lg_str(cJSON_GetObjectItem(entry(r.json, 1), "response"), "status");
    cr_assert(s0 && !strncmp(s0, "201", 3), "%s", r.body);
    cr_assert(s1 && !strncmp(s1, "400", 3), "%s", r.body);
    cr_assert(strstr(r.body, "Patient.active") != NULL, "%s", r.body);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient?identifier=urn:mrn|VAL-2&_summary=count", NULL, NULL);
    cr_assert_eq(lg_total(r.json), 0, "%s", r.body);
    lg_resp_free(&r);

    const char *txn =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\","
        "\"value\":\"VAL-3\"}]},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"Task\",\"intent\":\"order\"},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}";
    r = lg_http_json(&S, "POST", "/", txn);
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
    cr_assert(strstr(r.body, "Task.status") != NULL, "%s", r.body);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient?identifier=urn:mrn|VAL-3&_summary=count", NULL, NULL);
    cr_assert_eq(lg_total(r.json), 0, "rolled back Patient is visible: %s", r.body);
    lg_resp_free(&r);
}
