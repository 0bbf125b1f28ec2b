/* In-process tests of the REST layer: lg_rest_handle over a real SQLite store
 * in a temporary directory, without HTTP. They pin down status codes,
 * headers and bodies of the FHIR interactions quickly and under sanitizers;
 * tests/integration/ checks the same over the wire. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopgate/defs.h"
#include "loopgate/rest.h"
#include "loopgate/store.h"
#include "lg_test.h"
#include "lg_test_rest.h"

TestSuite(rest, .init = setup, .fini = teardown);

typedef struct reply {
    lg_rest_response r;
    cJSON *json;
} reply;

static reply call(const char *method, const char *path, const char *query, const char *body,
                  const char *if_match)
{
    reply out;
    lg_rest_request req = {
        .method = method, .path = path, .query = query, .base = "http://test",
        .content_type = body ? "application/fhir+json" : NULL, .if_match = if_match,
        .body = body, .body_len = body ? strlen(body) : 0,
    };
    cr_assert_eq(lg_rest_handle(&rest, store, &req, &out.r), LG_OK);
    out.json = out.r.body ? cJSON_ParseWithLength(out.r.body, out.r.body_len) : NULL;
    return out;
}

static void done(reply *r)
{
    cJSON_Delete(r->json);
    lg_rest_response_clear(&r->r);
}

static const char *str_at(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *first_diag(const cJSON *oo)
{
    return str_at(cJSON_GetArrayItem(cJSON_GetObjectItem(oo, "issue"), 0), "diagnostics");
}

Test(rest, create_read_update_delete_cycle)
{
    reply c = call("POST", "/Patient", NULL,
                   "{\"resourceType\":\"Patient\",\"id\":\"ignored\",\"gender\":\"female\"}", NULL);
    cr_assert_eq(c.r.status, 201, "create: %d %s", c.r.status, c.r.body);
    const char *id = str_at(c.json, "id");
    cr_assert_not_null(id);
    cr_assert_str_neq(id, "ignored");
    cr_assert_str_eq(c.r.etag, "W/\"1\"");
    char loc[256];
    snprintf(loc, sizeof(loc), "http://test/Patient/%s/_history/1", id);
    cr_assert_str_eq(c.r.location, loc);
    cr_assert_str_eq(str_at(cJSON_GetObjectItem(c.json, "meta"), "versionId"), "1");

    char path[128], body[256];
    snprintf(path, sizeof(path), "/Patient/%s", id);
    reply r = call("GET", path, NULL, NULL, NULL);
    cr_assert_eq(r.r.status, 200);
    cr_assert_str_eq(str_at(r.json, "gender"), "female");

    snprintf(body, sizeof(body), "{\"resourceType\":\"Patient\",\"id\":\"%s\",\"gender\":\"male\"}",
             id);
    reply bad = call("PUT", path, NULL, body, "W/\"7\"");
    cr_assert_eq(bad.r.status, 412, "%s", bad.r.body);
    reply u = call("PUT", path, NULL, body, "W/\"1\"");
    cr_assert_eq(u.r.status, 200, "%s", u.r.body);
    cr_assert_str_eq(u.r.etag, "W/\"2\"");

    reply d = call("DELETE", path, NULL, NULL, NULL);
    cr_assert_eq(d.r.status, 200);
    reply g = call("GET", path, NULL, NULL, NULL);
    cr_assert_eq(g.r.status, 410);
    char vpath[160];
    snprintf(vpath, sizeof(vpath), "%s/_history/2", path);
    reply v = call("GET", vpath, NULL, NULL, NULL);
    cr_assert_eq(v.r.status, 200);
    cr_assert_str_eq(str_at(v.json, "gender"), "male");
    reply h = call("GET", vpath, NULL, NULL, NULL);
    done(&h);
    snprintf(vpath, sizeof(vpath), "%s/_history", path);
    h = call("GET", vpath, NULL, NULL, NULL);
    cr_assert_eq(h.r.status, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(h.json, "entry")), 3);
    cr_assert_str_eq(str_at(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(h.json,
                     "entry"), 0), "request"), "method"), "DELETE");
    done(&c); done(&r); done(&bad); done(&u); done(&d); done(&g); done(&v); done(&h);
}

Test(rest, errors_are_operation_outcomes)
{
    reply a = call("POST", "/Patient", NULL, "{\"resourceType\":\"Patient\",", NULL);
    cr_assert_eq(a.r.status, 400);
    cr_assert_str_eq(str_at(a.json, "resourceType"), "OperationOutcome");
    cr_assert_not_null(strstr(first_diag(a.json), "line"), "%s", first_diag(a.json));
    reply b = call("POST", "/Patient", NULL, "{\"resourceType\":\"Task\"}", NULL);
    cr_assert_eq(b.r.status, 400);
    reply c = call("GET", "/Foo/1", NULL, NULL, NULL);
    cr_assert_eq(c.r.status, 404);
    reply d = call("GET", "/Account/1", NULL, NULL, NULL);
    cr_assert_eq(d.r.status, 404);
    reply e = call("DELETE", "/Patient", NULL, NULL, NULL);
    cr_assert_eq(e.r.status, 405);
    cr_assert_str_neq(e.r.allow, "");
    reply f = call("GET", "/Patient", "bogus-param=1", NULL, NULL);
    cr_assert_eq(f.r.status, 400);
    reply g = call("GET", "/Patient", "_count=abc", NULL, NULL);
    cr_assert_eq(g.r.status, 400);
    reply h = call("GET", "/Patient/nope", NULL, NULL, NULL);
    cr_assert_eq(h.r.status, 404);
    done(&a); done(&b); done(&c); done(&d); done(&e); done(&f); done(&g); done(&h);
}

Test(rest, transaction_resolves_urns_and_rolls_back)
{
    const char *ok =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:11111111-1111-4111-8111-111111111111\",\"resource\":"
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\",\"value\":\"T1\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"fullUrl\":\"urn:uuid:22222222-2222-4222-8222-222222222222\",\"resource\":"
        "{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\","
        "\"subject\":{\"reference\":\"urn:uuid:11111111-1111-4111-8111-111111111111\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}}]}";
    reply t = call("POST", "/", NULL, ok, NULL);
    cr_assert_eq(t.r.status, 200, "%s", t.r.body);
    cr_assert_str_eq(str_at(t.json, "type"), "transaction-response");
    cJSON *e1 = cJSON_GetArrayItem(cJSON_GetObjectItem(t.json, "entry"), 1);
    cJSON *res = cJSON_GetObjectItem(e1, "resource");
    const char *subj = str_at(cJSON_GetObjectItem(res, "subject"), "reference");
    cr_assert_not_null(subj);
    cr_assert(strncmp(subj, "Patient/", 8) == 0, "subject %s", subj);
    reply s = call("GET", "/ServiceRequest", "subject=Patient/x-none", NULL, NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s.json, "entry")), 0);
    char q[128];
    snprintf(q, sizeof(q), "subject=%s", subj);
    reply s2 = call("GET", "/ServiceRequest", q, NULL, NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s2.json, "entry")), 1, "%s", s2.r.body);

    const char *bad =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\","
        "\"value\":\"T2\"}]},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"Task\"},\"request\":{\"method\":\"POST\",\"url\":"
        "\"Patient\"}}]}";
    reply f = call("POST", "/", NULL, bad, NULL);
    cr_assert_eq(f.r.status, 400, "%s", f.r.body);
    reply chk = call("GET", "/Patient", "identifier=urn:mrn|T2", NULL, NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(chk.json, "entry")), 0,
                 "rolled-back entry is visible: %s", chk.r.body);
    done(&t); done(&s); done(&s2); done(&f); done(&chk);
}

Test(rest, paging_links_walk_every_match_once)
{
    for(int i = 0; i < 25; i++) {
        reply c = call("POST", "/Task", NULL,
                       "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
                       "\"owner\":{\"reference\":\"Organization/cbo-17\"}}", NULL);
        cr_assert_eq(c.r.status, 201);
        done(&c);
    }
    char query[512] = "owner=Organization/cbo-17&status=requested&_count=10";
    int seen = 0, pages = 0;
    for(;;) {
        reply p = call("GET", "/Task", query, NULL, NULL);
        cr_assert_eq(p.r.status, 200, "%s", p.r.body);
        seen += cJSON_GetArraySize(cJSON_GetObjectItem(p.json, "entry"));
        pages++;
        /* A new match between pages must not disturb the walk. */
        reply extra = call("POST", "/Task", NULL,
                           "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":"
                           "\"order\",\"owner\":{\"reference\":\"Organization/cbo-17\"}}", NULL);
        done(&extra);
        const char *next = NULL;
        cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItem(p.json, "link"))
            if(strcmp(str_at(l, "relation"), "next") == 0)
                next = str_at(l, "url");
        if(!next) {
            done(&p);
            break;
        }
        const char *qm = strchr(next, '?');
        cr_assert_not_null(qm);
        snprintf(query, sizeof(query), "%s", qm + 1);
        done(&p);
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(seen, 25);
    cr_assert_eq(pages, 3);
}

Test(rest, patch_changes_task_status)
{
    reply c = call("POST", "/Task", NULL,
                   "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\"}", NULL);
    char path[128];
    snprintf(path, sizeof(path), "/Task/%s", str_at(c.json, "id"));
    const char *patch = "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"accepted\"}]";
    lg_rest_request req = {.method = "PATCH", .path = path, .base = "http://test",
                           .content_type = "application/json-patch+json", .body = patch,
                           .body_len = strlen(patch)};
    lg_rest_response r;
    lg_rest_handle(&rest, store, &req, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.etag, "W/\"2\"");
    cr_assert_not_null(strstr(r.body, "\"accepted\""));
    lg_rest_response_clear(&r);
    done(&c);
}
