/* Integration: create, read, vread, update, delete, history and patch over HTTP. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void) { lg_it_start(&S, NULL); }
static void down(void) { lg_it_cleanup(&S); }
TestSuite(crud, .init = up, .fini = down, .timeout = 120);

static const char *PAT = "{\"resourceType\":\"Patient\",\"id\":\"client-id\",\"identifier\":"
                         "[{\"system\":\"urn:mrn\",\"value\":\"M1\"}],\"gender\":\"female\"}";

static char *created_id(lg_resp *r)
{
    return strdup(lg_str(r->json, "id"));
}

Test(crud, create_sets_id_meta_and_headers)
{
    lg_resp r = lg_http_json(&S, "POST", "/Patient", PAT);
    cr_assert_eq(r.status, 201, "%s", r.body);
    const char *id = lg_str(r.json, "id");
    cr_assert_not_null(id);
    cr_assert_str_neq(id, "client-id");
    char want[256];
    snprintf(want, sizeof(want), "%s/Patient/%s/_history/1", S.base, id);
    cr_assert_str_eq(r.location, want);
    cr_assert_str_eq(r.etag, "W/\"1\"");
    cr_assert_neq(r.last_modified[0], '\0');
    cr_assert_not_null(strstr(r.content_type, "application/fhir+json"));
    cJSON *meta = cJSON_GetObjectItem(r.json, "meta");
    cr_assert_str_eq(lg_str(meta, "versionId"), "1");
    cr_assert_not_null(lg_str(meta, "lastUpdated"));
    lg_resp_free(&r);
}

Test(crud, prefer_return_variants)
{
    const char *hmin[] = {"Content-Type: application/fhir+json", "Prefer: return=minimal", NULL};
    lg_resp r = lg_http(&S, "POST", "/Patient", hmin, PAT);
    cr_assert_eq(r.status, 201);
    cr_assert_eq(r.len, 0, "minimal must have no body: %s", r.body);
    cr_assert_neq(r.location[0], '\0');
    lg_resp_free(&r);
    const char *hoo[] = {"Content-Type: application/fhir+json", "Prefer: return=OperationOutcome",
                         NULL};
    r = lg_http(&S, "POST", "/Patient", hoo, PAT);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
    lg_resp_free(&r);
    const char *hrep[] = {"Content-Type: application/json", "Prefer: return=representation", NULL};
    r = lg_http(&S, "POST", "/Patient", hrep, PAT);
    cr_assert_eq(r.status, 201);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "Patient");
    lg_resp_free(&r);
}

Test(crud, conditional_create)
{
    const char *h[] = {"Content-Type: application/fhir+json",
                       "If-None-Exist: identifier=urn:mrn|COND-1", NULL};
    const char *body = "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\","
                       "\"value\":\"COND-1\"}]}";
    lg_resp a = lg_http(&S, "POST", "/Patient", h, body);
    cr_assert_eq(a.status, 201, "%s", a.body);
    lg_resp b = lg_http(&S, "POST", "/Patient", h, body);
    cr_assert_eq(b.status, 200, "%s", b.body);
    cr_assert_str_eq(lg_str(a.json, "id"), lg_str(b.json, "id"));
    /* a second match makes the condition ambiguous */
    lg_resp c = lg_http_json(&S, "POST", "/Patient", body);
    cr_assert_eq(c.status, 201);
    lg_resp d = lg_http(&S, "POST", "/Patient", h, body);
    cr_assert_eq(d.status, 412, "%s", d.body);
    lg_resp_free(&a); lg_resp_free(&b); lg_resp_free(&c); lg_resp_free(&d);
}

Test(crud, read_vread_update_if_match_delete_history)
{
    lg_resp c = lg_http_json(&S, "POST", "/CarePlan",
                             "{\"resourceType\":\"CarePlan\",\"status\":\"draft\",\"intent\":"
                             "\"plan\",\"subject\":{\"reference\":\"Patient/p1\"}}");
    cr_assert_eq(c.status, 201);
    char *id = created_id(&c);
    char path[200], body[400];
    snprintf(path, sizeof(path), "/CarePlan/%s", id);
    lg_resp r = lg_http(&S, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.etag, "W/\"1\"");
    lg_resp_free(&r);

    snprintf(body, sizeof(body), "{\"resourceType\":\"CarePlan\",\"id\":\"%s\",\"status\":"
             "\"active\",\"intent\":\"plan\",\"subject\":{\"reference\":\"Patient/p1\"}}", id);
    const char *stale[] = {"Content-Type: application/fhir+json", "If-Match: W/\"5\"", NULL};
    r = lg_http(&S, "PUT", path, stale, body);
    cr_assert_eq(r.status, 412, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
    lg_resp_free(&r);
    const char *good[] = {"Content-Type: application/fhir+json", "If-Match: W/\"1\"", NULL};
    r = lg_http(&S, "PUT", path, good, body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.etag, "W/\"2\"");
    cr_assert_str_eq(lg_str(r.json, "status"), "active");
    lg_resp_free(&r);

    char vpath[240];
    snprintf(vpath, sizeof(vpath), "%s/_history/1", path);
    r = lg_http(&S, "GET", vpath, NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(lg_str(r.json, "status"), "draft");
    lg_resp_free(&r);
    snprintf(vpath, sizeof(vpath), "%s/_history/9", path);
    r = lg_http(&S, "GET", vpath, NULL, NULL);
    cr_assert_eq(r.status, 404);
    lg_resp_free(&r);

    r = lg_http(&S, "DELETE", path, NULL, NULL);
    cr_assert(r.status == 200 || r.status == 204, "%ld", r.status);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 410, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
    lg_resp_free(&r);
    snprintf(vpath, sizeof(vpath), "%s/_history/2", path);
    r = lg_http(&S, "GET", vpath, NULL, NULL);
    cr_assert_eq(r.status, 200, "old versions stay readable after delete");
    lg_resp_free(&r);

    snprintf(vpath, sizeof(vpath), "%s/_history", path);
    r = lg_http(&S, "GET", vpath, NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(lg_str(r.json, "type"), "history");
    cr_assert_eq(lg_entries(r.json), 3);
    cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "entry"), 0);
    cr_assert_str_eq(lg_str(cJSON_GetObjectItem(e0, "request"), "method"), "DELETE");
    cJSON *e2 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "entry"), 2);
    cr_assert_str_eq(lg_str(cJSON_GetObjectItem(e2, "response"), "status"), "201 Created");
    lg_resp_free(&r);

    r = lg_http(&S, "GET", "/CarePlan/_history", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_geq(lg_entries(r.json), 3);
    lg_resp_free(&r);
    r = lg_http(&S, "DELETE", "/CarePlan/never-existed", NULL, NULL);
    cr_assert(r.status == 404 || r.status == 204 || r.status == 200);
    lg_resp_free(&r);
    lg_resp_free(&c);
    free(id);
}

Test(crud, update_creates_with_client_id_and_checks_ids)
{
    lg_resp r = lg_http_json(&S, "PUT", "/Organization/cbo-17",
                             "{\"resourceType\":\"Organization\",\"id\":\"cbo-17\",\"name\":"
                             "\"Food Bank\"}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(r.etag, "W/\"1\"");
    lg_resp_free(&r);
    r = lg_http_json(&S, "PUT", "/Organization/cbo-17",
                     "{\"resourceType\":\"Organization\",\"id\":\"other\",\"name\":\"x\"}");
    cr_assert_eq(r.status, 400);
    lg_resp_free(&r);
    r = lg_http_json(&S, "PUT", "/Organization/cbo-17",
                     "{\"resourceType\":\"Organization\",\"id\":\"cbo-17\",\"name\":\"Food Bank 2\"}");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.etag, "W/\"2\"");
    lg_resp_free(&r);
}

Test(crud, conditional_update)
{
    const char *b = "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:cu\","
                    "\"value\":\"1\"}],\"gender\":\"male\"}";
    lg_resp a = lg_http_json(&S, "PUT", "/Patient?identifier=urn:cu|1", b);
    cr_assert_eq(a.status, 201, "%s", a.body);
    lg_resp c = lg_http_json(&S, "PUT", "/Patient?identifier=urn:cu|1", b);
    cr_assert_eq(c.status, 200, "%s", c.body);
    cr_assert_str_eq(lg_str(a.json, "id"), lg_str(c.json, "id"));
    cr_assert_str_eq(c.etag, "W/\"2\"");
    lg_resp d = lg_http_json(&S, "POST", "/Patient", b);
    lg_resp e = lg_http_json(&S, "PUT", "/Patient?identifier=urn:cu|1", b);
    cr_assert_eq(e.status, 412);
    lg_resp_free(&a); lg_resp_free(&c); lg_resp_free(&d); lg_resp_free(&e);
}

Test(crud, json_patch_changes_task_status)
{
    lg_resp c = lg_http_json(&S, "POST", "/Task",
                             "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":"
                             "\"order\",\"owner\":{\"reference\":\"Organization/cbo-17\"}}");
    char path[200];
    snprintf(path, sizeof(path), "/Task/%s", lg_str(c.json, "id"));
    const char *h[] = {"Content-Type: application/json-patch+json", NULL};
    lg_resp p = lg_http(&S, "PATCH", path, h,
                        "[{\"op\":\"test\",\"path\":\"/status\",\"value\":\"requested\"},"
                        "{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"accepted\"}]");
    cr_assert_eq(p.status, 200, "%s", p.body);
    cr_assert_str_eq(lg_str(p.json, "status"), "accepted");
    cr_assert_str_eq(p.etag, "W/\"2\"");
    lg_resp_free(&p);
    p = lg_http(&S, "PATCH", path, h,
                "[{\"op\":\"test\",\"path\":\"/status\",\"value\":\"requested\"}]");
    cr_assert_eq(p.status, 422, "%s", p.body);
    lg_resp_free(&p);
    p = lg_http(&S, "PATCH", path, h, "[{\"op\":\"replace\",\"path\":\"/nope\",\"value\":1}]");
    cr_assert_eq(p.status, 400, "%s", p.body);
    lg_resp_free(&p);
    p = lg_http(&S, "PATCH", path, h, "[{\"op\":\"replace\",\"path\":\"/id\",\"value\":\"x\"}]");
    cr_assert(p.status == 400 || p.status == 422, "%ld", p.status);
    lg_resp_free(&p);
    const char *wrong[] = {"Content-Type: application/fhir+json", NULL};
    p = lg_http(&S, "PATCH", path, wrong, "[]");
    cr_assert_eq(p.status, 415);
    lg_resp_free(&p);
    lg_resp r = lg_http(&S, "GET", path, NULL, NULL);
    cr_assert_str_eq(lg_str(r.json, "status"), "accepted");
    cr_assert_str_eq(r.etag, "W/\"2\"");
    lg_resp_free(&r);
    lg_resp_free(&c);
}

Test(crud, if_none_match_gives_304)
{
    lg_resp c = lg_http_json(&S, "POST", "/Goal", "{\"resourceType\":\"Goal\",\"lifecycleStatus\":"
                             "\"active\",\"description\":{\"text\":\"housing\"},\"subject\":"
                             "{\"reference\":\"Patient/p\"}}");
    char path[200];
    snprintf(path, sizeof(path), "/Goal/%s", lg_str(c.json, "id"));
    const char *h[] = {"If-None-Match: W/\"1\"", NULL};
    lg_resp r = lg_http(&S, "GET", path, h, NULL);
    cr_assert_eq(r.status, 304);
    lg_resp_free(&r);
    lg_resp_free(&c);
}
