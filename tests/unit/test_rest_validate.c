/* In-process tests of the $validate operation (src/rest/validate_op.c):
 * lg_rest_handle over a real SQLite store in a temporary directory. They pin
 * down when $validate answers 200 with findings and when the request itself
 * is refused (400/404/405); tests/integration/test_validate_op.c checks the
 * same over the wire against the real server. */
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

TestSuite(validate_op, .init = setup, .fini = teardown);

typedef struct reply {
    lg_rest_response r;
    cJSON *json;
} reply;

static reply call(const char *method, const char *path, const char *query, const char *body)
{
    reply out;
    lg_rest_request req = {
        .method = method, .path = path, .query = query, .base = "http://test",
        .content_type = body ? "application/fhir+json" : NULL,
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

/* Number of issues of this severity; with expr, only those whose first
 * expression is exactly expr. */
static int count_issues(const cJSON *oo, const char *severity, const char *expr)
{
    int n = 0;
    const cJSON *it;
    cr_assert_str_eq(str_at(oo, "resourceType"), "OperationOutcome");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(oo, "issue")) {
        const char *sev = str_at(it, "severity");
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(it, "expression"), 0);
        if(sev && strcmp(sev, severity) == 0 &&
           (!expr || (cJSON_IsString(e) && strcmp(e->valuestring, expr) == 0)))
            n++;
    }
    return n;
}

static int all_ok(const cJSON *oo)
{
    const cJSON *issues = cJSON_GetObjectItemCaseSensitive(oo, "issue");
    const cJSON *first = cJSON_GetArrayItem(issues, 0);
    return cJSON_GetArraySize(issues) == 1 && str_at(first, "severity") &&
           strcmp(str_at(first, "severity"), "information") == 0 && str_at(first, "diagnostics") &&
           strcmp(str_at(first, "diagnostics"), "All OK") == 0;
}

/* With a narrative: R4's dom-6 warns about a resource without one. */
#define NARRATIVE "\"text\":{\"status\":\"generated\",\"div\":\"<div " \
                  "xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\"}"
static const char *const good_patient =
    "{\"resourceType\":\"Patient\",\"id\":\"p1\"," NARRATIVE ",\"name\":[{\"family\":"
    "\"Rivera\",\"given\":[\"Ana\"]}],\"birthDate\":\"2015-02-07\"}";
static const char *const bad_patient =
    "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Rivera\",\"given\":[\"Ana\",7]}],"
    "\"birthDate\":\"2015-02-30\",\"colour\":\"blue\"}";

Test(validate_op, raw_valid_resource_is_all_ok)
{
    reply r = call("POST", "/Patient/$validate", NULL, good_patient);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert(all_ok(r.json), "%s", r.r.body);
    cr_assert_str_eq(r.r.content_type, "application/fhir+json; charset=utf-8");
    done(&r);
}

Test(validate_op, raw_invalid_resource_is_200_with_located_errors)
{
    reply r = call("POST", "/Patient/$validate", NULL, bad_patient);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.birthDate"), 1, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.name[0].given[1]"), 1, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.colour"), 1, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "information", NULL), 0, "%s", r.r.body);
    done(&r);
}

/* A raw body's issues say where they are in the posted text; a resource
 * inside Parameters gets none (its locations are not the posted text's). */
Test(validate_op, raw_body_issues_carry_line_and_column)
{
    const char *body = "{\n \"resourceType\": \"Patient\",\n \"birthDate\": \"1974-02-30\"\n}";
    reply r = call("POST", "/Patient/$validate", NULL, body);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    const cJSON *iss = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "issue"), 0);
    const cJSON *ext = cJSON_GetObjectItem(iss, "extension");
    cr_assert_eq(cJSON_GetArraySize(ext), 2, "%s", r.r.body);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ext, 0), "valueInteger")->valueint, 3);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ext, 1), "valueInteger")->valueint, 2);
    done(&r);
    char *wrapped = NULL;
    cr_assert(asprintf(&wrapped, "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":"
                                 "\"resource\",\"resource\":%s}]}", body) > 0);
    reply w = call("POST", "/Patient/$validate", NULL, wrapped);
    iss = cJSON_GetArrayItem(cJSON_GetObjectItem(w.json, "issue"), 0);
    cr_assert_null(cJSON_GetObjectItem(iss, "extension"), "%s", w.r.body);
    free(wrapped);
    done(&w);
}

Test(validate_op, parameters_wrapper_gives_the_same_findings)
{
    char *body = NULL;
    cr_assert(asprintf(&body, "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":"
                              "\"resource\",\"resource\":%s}]}", bad_patient) > 0);
    reply r = call("POST", "/Patient/$validate", NULL, body);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.birthDate"), 1, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", NULL), 3, "%s", r.r.body);
    free(body);
    cr_assert(asprintf(&body, "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":"
                              "\"mode\",\"valueCode\":\"create\"},{\"name\":\"resource\","
                              "\"resource\":%s}]}", good_patient) > 0);
    reply g = call("POST", "/Patient/$validate", NULL, body);
    cr_assert_eq(g.r.status, 200, "%s", g.r.body);
    cr_assert_eq(count_issues(g.json, "error", NULL), 0, "%s", g.r.body);
    /* the id in a create is ignored by the server: said, not an error */
    cr_assert_eq(count_issues(g.json, "information", "Patient.id"), 1, "%s", g.r.body);
    free(body);
    done(&r); done(&g);
}

Test(validate_op, malformed_requests_are_400)
{
    static const char *const bodies[] = {
        "{\"resourceType\":\"Patient\",",                               /* unparseable */
        "[1,2]",                                                          /* not an object */
        "{\"name\":[]}",                                                  /* no resourceType */
        "{\"resourceType\":\"Parameters\",\"parameter\":{}}",             /* not an array */
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"valueCode\":\"create\"}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"resource\"}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"resource\",\"resource\":"
        "{\"resourceType\":\"Patient\"}},{\"name\":\"resource\",\"resource\":"
        "{\"resourceType\":\"Patient\"}}]}",                              /* two resources */
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\",\"valueCode\":"
        "\"upsert\"},{\"name\":\"resource\",\"resource\":{\"resourceType\":\"Patient\"}}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\",\"valueInteger\":1},"
        "{\"name\":\"resource\",\"resource\":{\"resourceType\":\"Patient\"}}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"colour\",\"valueCode\":"
        "\"x\"},{\"name\":\"resource\",\"resource\":{\"resourceType\":\"Patient\"}}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\",\"valueCode\":"
        "\"create\"}]}",                                                  /* nothing to check */
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\",\"valueCode\":"
        "\"profile\"},{\"name\":\"resource\",\"resource\":{\"resourceType\":\"Patient\"}}]}",
    };
    for(size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        reply r = call("POST", "/Patient/$validate", NULL, bodies[i]);
        cr_assert_eq(r.r.status, 400, "body %zu: %d %s", i, r.r.status, r.r.body);
        cr_assert_eq(count_issues(r.json, "error", NULL), 1, "body %zu: %s", i, r.r.body);
        done(&r);
    }
    reply e = call("POST", "/Patient/$validate", NULL, NULL);
    cr_assert_eq(e.r.status, 400, "%s", e.r.body);
    reply q = call("POST", "/Patient/$validate", "mode=sideways", good_patient);
    cr_assert_eq(q.r.status, 400, "%s", q.r.body);
    reply u = call("POST", "/Patient/$validate", "strict=true", good_patient);
    cr_assert_eq(u.r.status, 400, "%s", u.r.body);
    done(&e); done(&q); done(&u);
}

Test(validate_op, routing_errors)
{
    reply a = call("POST", "/Foo/$validate", NULL, good_patient);
    cr_assert_eq(a.r.status, 404, "%s", a.r.body);
    reply b = call("POST", "/Patient/$frobnicate", NULL, good_patient);
    cr_assert_eq(b.r.status, 404, "%s", b.r.body);
    reply c = call("GET", "/Patient/$validate", NULL, NULL);
    cr_assert_eq(c.r.status, 405, "%s", c.r.body);
    cr_assert_str_eq(c.r.allow, "POST");
    reply d = call("POST", "/Patient/bad_id!/$validate", NULL, good_patient);
    cr_assert_eq(d.r.status, 400, "%s", d.r.body);
    /* instance level needs a served type: it may read the store */
    reply e = call("POST", "/Account/a1/$validate", NULL, "{\"resourceType\":\"Account\"}");
    cr_assert_eq(e.r.status, 404, "%s", e.r.body);
    done(&a); done(&b); done(&c); done(&d); done(&e);
}

Test(validate_op, unserved_r4_type_validates_but_cannot_be_created)
{
    const char *acct = "{\"resourceType\":\"Account\"," NARRATIVE ",\"status\":\"active\"}";
    reply a = call("POST", "/Account/$validate", NULL, acct);
    cr_assert_eq(a.r.status, 200, "%s", a.r.body);
    cr_assert(all_ok(a.json), "%s", a.r.body);
    reply b = call("POST", "/Account/$validate", NULL, "{\"resourceType\":\"Account\"}");
    cr_assert_eq(count_issues(b.json, "error", "Account.status"), 1, "%s", b.r.body);
    reply c = call("POST", "/Account/$validate", "mode=create", acct);
    cr_assert_eq(c.r.status, 200, "%s", c.r.body);
    cr_assert_eq(count_issues(c.json, "error", NULL), 1, "%s", c.r.body);
    done(&a); done(&b); done(&c);
}

Test(validate_op, resource_type_must_match_the_endpoint)
{
    reply r = call("POST", "/Patient/$validate", NULL,
                   "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\"}");
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", "resourceType"), 1, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", NULL), 1, "%s", r.r.body);
    done(&r);
}

Test(validate_op, update_mode_checks_the_id)
{
    const char *params =
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\",\"valueCode\":"
        "\"update\"},{\"name\":\"resource\",\"resource\":%s}]}";
    char *body = NULL;
    cr_assert(asprintf(&body, params, good_patient) > 0);
    reply same = call("POST", "/Patient/p1/$validate", NULL, body);
    cr_assert_eq(same.r.status, 200, "%s", same.r.body);
    cr_assert(all_ok(same.json), "%s", same.r.body);
    reply other = call("POST", "/Patient/p2/$validate", NULL, body);
    cr_assert_eq(other.r.status, 200, "%s", other.r.body);
    cr_assert_eq(count_issues(other.json, "error", "Patient.id"), 1, "%s", other.r.body);
    free(body);
    /* the same rule from the query string */
    reply q = call("POST", "/Patient/p2/$validate", "mode=update", good_patient);
    cr_assert_eq(count_issues(q.json, "error", "Patient.id"), 1, "%s", q.r.body);
    /* without mode a different id is only a warning */
    reply w = call("POST", "/Patient/p2/$validate", NULL, good_patient);
    cr_assert_eq(count_issues(w.json, "error", NULL), 0, "%s", w.r.body);
    cr_assert_eq(count_issues(w.json, "warning", "Patient.id"), 1, "%s", w.r.body);
    /* an update without an id */
    reply n = call("POST", "/Patient/$validate", "mode=update",
                   "{\"resourceType\":\"Patient\"," NARRATIVE ",\"active\":true}");
    cr_assert_eq(count_issues(n.json, "error", "Patient.id"), 1, "%s", n.r.body);
    done(&same); done(&other); done(&q); done(&w); done(&n);
}

Test(validate_op, delete_mode_looks_at_the_store)
{
    reply c = call("POST", "/Patient", NULL, good_patient);
    cr_assert_eq(c.r.status, 201, "%s", c.r.body);
    char path[128];
    snprintf(path, sizeof(path), "/Patient/%s/$validate", str_at(c.json, "id"));
    const char *del = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\","
                      "\"valueCode\":\"delete\"}]}";
    reply d = call("POST", path, NULL, del);
    cr_assert_eq(d.r.status, 200, "%s", d.r.body);
    cr_assert(all_ok(d.json), "%s", d.r.body);
    reply m = call("POST", "/Patient/missing/$validate", NULL, del);
    cr_assert_eq(m.r.status, 200, "%s", m.r.body);
    cr_assert_eq(count_issues(m.json, "warning", NULL), 1, "%s", m.r.body);
    reply t = call("POST", "/Patient/$validate", NULL, del);
    cr_assert_eq(t.r.status, 400, "%s", t.r.body);
    /* query form, no body */
    reply q = call("POST", path, "mode=delete", NULL);
    cr_assert_eq(q.r.status, 200, "%s", q.r.body);
    cr_assert(all_ok(q.json), "%s", q.r.body);
    /* the resource is still there: $validate never writes */
    char rpath[128];
    snprintf(rpath, sizeof(rpath), "/Patient/%s", str_at(c.json, "id"));
    reply g = call("GET", rpath, NULL, NULL);
    cr_assert_eq(g.r.status, 200);
    done(&c); done(&d); done(&m); done(&t); done(&q); done(&g);
}

Test(validate_op, validation_stores_nothing)
{
    for(int i = 0; i < 3; i++) {
        reply r = call("POST", "/Patient/$validate", "mode=create", good_patient);
        cr_assert_eq(r.r.status, 200);
        done(&r);
    }
    reply s = call("GET", "/Patient", NULL, NULL);
    cr_assert_eq(s.r.status, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(s.json, "entry")), 0, "%s", s.r.body);
    done(&s);
}

Test(validate_op, profiles_are_checked_or_refused)
{
    /* not loaded: an error, never a silent pass */
    reply r = call("POST", "/Patient/$validate",
                   "profile=http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient",
                   good_patient);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", NULL), 1, "%s", r.r.body);
    cr_assert(!all_ok(r.json));
    /* the base definition is a profile like any other */
    reply b = call("POST", "/Patient/$validate", "profile=http://hl7.org/fhir/StructureDefinition/"
                   "Patient", good_patient);
    cr_assert(all_ok(b.json), "%s", b.r.body);
    /* base invariants run: pat-1 (contact needs details or an organization) */
    reply i = call("POST", "/Patient/$validate", NULL,
                   "{\"resourceType\":\"Patient\"," NARRATIVE ",\"contact\":[{\"gender\":"
                   "\"male\"}]}");
    cr_assert_eq(count_issues(i.json, "error", NULL), 1, "%s", i.r.body);
    cr_assert_not_null(strstr(i.r.body, "pat-1"), "%s", i.r.body);
    done(&r); done(&b); done(&i);
}

/* With the terminology built (as serve does), required bindings hold. */
Test(validate_op, required_binding)
{
    lg_issues is = {0};
    cr_assert_eq(lg_defs_load_terminology(defs, lg_test_defs_dir(), &is), LG_OK);
    lg_issues_free(&is);
    reply r = call("POST", "/Patient/$validate", NULL,
                   "{\"resourceType\":\"Patient\"," NARRATIVE ",\"gender\":\"mail\"}");
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.gender"), 1, "%s", r.r.body);
    reply g = call("POST", "/Patient/$validate", NULL, good_patient);
    cr_assert(all_ok(g.json), "%s", g.r.body);
    done(&r); done(&g);
}

/* With the SDOHCC package loaded (serve --package), its profiles apply. */
Test(validate_op, package_profiles)
{
    lg_issues is = {0};
    cr_assert_eq(lg_defs_load_package(defs, LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.core#7.0.0",
                                      &is), LG_OK);
    cr_assert_eq(lg_defs_load_package(defs, LG_SHARED_DIR
                                      "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0", &is),
                 LG_OK);
    lg_issues_free(&is);
    const char *url = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
                      "SDOHCC-TaskForReferralManagement";
    /* an R4 Task that is no referral: the profile finds what it lacks */
    const char *task = "{\"resourceType\":\"Task\"," NARRATIVE ",\"status\":\"requested\","
                       "\"intent\":\"order\"}";
    char *params = NULL;
    cr_assert(asprintf(&params, "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":"
                                "\"profile\",\"valueUri\":\"%s\"},{\"name\":\"resource\","
                                "\"resource\":%s}]}", url, task) > 0);
    reply p = call("POST", "/Task/$validate", NULL, params);
    cr_assert_eq(p.r.status, 200, "%s", p.r.body);
    cr_assert_geq(count_issues(p.json, "error", "Task.authoredOn"), 1, "%s", p.r.body);
    /* the same Task without the profile is fine */
    reply q = call("POST", "/Task/$validate", NULL, task);
    cr_assert(all_ok(q.json), "%s", q.r.body);
    free(params);
    done(&p); done(&q);
}

Test(validate_op, capability_statement_lists_validate_for_each_type)
{
    reply m = call("GET", "/metadata", NULL, NULL);
    cr_assert_eq(m.r.status, 200);
    const cJSON *res = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(m.json, "rest"),
                                                              0), "resource");
    cr_assert_gt(cJSON_GetArraySize(res), 0);
    const cJSON *t;
    cJSON_ArrayForEach(t, res) {
        int found = 0;
        const cJSON *op;
        cJSON_ArrayForEach(op, cJSON_GetObjectItem(t, "operation"))
            if(str_at(op, "name") && strcmp(str_at(op, "name"), "validate") == 0 &&
               strcmp(str_at(op, "definition"),
                      "http://hl7.org/fhir/OperationDefinition/Resource-validate") == 0)
                found = 1;
        cr_assert(found, "%s has no validate operation", str_at(t, "type"));
    }
    done(&m);
}

Test(validate_op, inside_a_batch)
{
    char *body = NULL;
    cr_assert(asprintf(&body, "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":["
                              "{\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":"
                              "\"Patient/$validate\"}},{\"resource\":%s,\"request\":{\"method\":"
                              "\"POST\",\"url\":\"Patient/$validate\"}}]}",
                       good_patient, bad_patient) > 0);
    reply r = call("POST", "/", NULL, body);
    free(body);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    const cJSON *entries = cJSON_GetObjectItem(r.json, "entry");
    cr_assert_eq(cJSON_GetArraySize(entries), 2, "%s", r.r.body);
    for(int i = 0; i < 2; i++) {
        const cJSON *resp = cJSON_GetObjectItem(cJSON_GetArrayItem(entries, i), "response");
        cr_assert_not_null(str_at(resp, "status"), "%s", r.r.body);
        cr_assert_eq(strncmp(str_at(resp, "status"), "200", 3), 0, "%s", r.r.body);
    }
    done(&r);
}
