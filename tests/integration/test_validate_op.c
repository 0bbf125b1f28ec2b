/* Integration: the $validate operation over HTTP against the real server -
 * every official R4 example and its mutated copy, the SDOHCC referral
 * examples, the Parameters form with modes, and the request errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void) { lg_it_start(&S, NULL); }
static void down(void) { lg_it_cleanup(&S); }
TestSuite(validate_op, .init = up, .fini = down, .timeout = 120);

/* Issues of this severity (and, with expr, at exactly this expression). */
static int count_issues(const cJSON *oo, const char *severity, const char *expr)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(oo, "issue")) {
        const char *e = lg_at_str(it, "expression.0");
        if(lg_str(it, "severity") && !strcmp(lg_str(it, "severity"), severity) &&
           (!expr || (e && !strcmp(e, expr))))
            n++;
    }
    return n;
}

static lg_resp validate(const char *path, const char *body)
{
    return lg_http_json(&S, "POST", path, body);
}

/* Every official R4 example is checked at its type's $validate; the one
 * that breaks a base rule (Questionnaire-qs1: nested items without linkId)
 * is reported, everything else is clean. Then a copy with an element R4
 * does not define must be reported at that element. */
Test(validate_op, r4_examples_and_mutated_copies, .timeout = 240)
{
    FILE *ls = popen("ls " LG_SHARED_DIR "/fhir/r4-examples", "r");
    cr_assert_not_null(ls);
    char name[512];
    int clean = 0, mutated = 0;
    while(fgets(name, sizeof(name), ls)) {
        name[strcspn(name, "\n")] = '\0';
        char rel[600], path[128], expr[128];
        snprintf(rel, sizeof(rel), "r4-examples/%s", name);
        char *text = lg_shared_file(rel);
        cJSON *in = cJSON_Parse(text);
        const char *type = lg_str(in, "resourceType");
        cr_assert_not_null(type, "%s", name);
        snprintf(path, sizeof(path), "/%s/$validate", type);
        lg_resp r = validate(path, text);
        cr_assert_eq(r.status, 200, "%s: %ld %.300s", name, r.status, r.body);
        cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
        if(!strcmp(name, "Questionnaire-qs1.json")) {
            cr_assert_geq(count_issues(r.json, "error", "Questionnaire.item[0].item[0].linkId"), 1,
                          "%.400s", r.body);
        } else {
            cr_assert_eq(count_issues(r.json, "error", NULL), 0, "%s: %.600s", name, r.body);
            clean++;
        }
        lg_resp_free(&r);

        cJSON_AddStringToObject(in, "bogusElement", "x");
        char *bad = cJSON_PrintUnformatted(in);
        r = validate(path, bad);
        snprintf(expr, sizeof(expr), "%s.bogusElement", type);
        cr_assert_eq(r.status, 200, "%s", name);
        cr_assert_eq(count_issues(r.json, "error", expr), 1, "%s: %.400s", name, r.body);
        mutated++;
        lg_resp_free(&r);
        free(bad);
        cJSON_Delete(in);
        free(text);
    }
    pclose(ls);
    cr_assert_geq(clean, 150, "only %d clean examples", clean);
    cr_assert_geq(mutated, 150);
}

/* The SDOHCC referral examples (what EHRs post) pass the base check when
 * wrapped in Parameters with mode=create; a Task without status does not. */
Test(validate_op, sdohcc_referral_examples_in_parameters)
{
    FILE *ls = popen("ls '" LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/"
                     "package' | grep -E '^(ServiceRequest|Task)-'", "r");
    cr_assert_not_null(ls);
    char name[512];
    int n = 0;
    while(fgets(name, sizeof(name), ls)) {
        name[strcspn(name, "\n")] = '\0';
        char rel[600], path[128];
        snprintf(rel, sizeof(rel), "packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/%s",
                 name);
        char *text = lg_shared_file(rel);
        cJSON *res = cJSON_Parse(text);
        const char *type = lg_str(res, "resourceType");
        cr_assert_not_null(type);
        snprintf(path, sizeof(path), "/%s/$validate", type);
        char *body = lg_fmt("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\","
                            "\"valueCode\":\"create\"},{\"name\":\"resource\",\"resource\":%s}]}",
                            text);
        lg_resp r = validate(path, body);
        cr_assert_eq(r.status, 200, "%s", name);
        cr_assert_eq(count_issues(r.json, "error", NULL), 0, "%s: %.600s", name, r.body);
        lg_resp_free(&r);
        free(body);
        if(!strcmp(type, "Task")) {
            cJSON_DeleteItemFromObject(res, "status");
            char *bad = cJSON_PrintUnformatted(res);
            body = lg_fmt("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":"
                          "\"resource\",\"resource\":%s}]}", bad);
            r = validate(path, body);
            cr_assert_eq(r.status, 200, "%s", name);
            cr_assert_eq(count_issues(r.json, "error", "Task.status"), 1, "%s: %.400s", name,
                         r.body);
            lg_resp_free(&r);
            free(body);
            free(bad);
        }
        cJSON_Delete(res);
        free(text);
        n++;
    }
    pclose(ls);
    cr_assert_geq(n, 10, "only %d SDOHCC ServiceRequest/Task examples", n);
}

Test(validate_op, instance_modes_against_stored_resources)
{
    char *p = lg_res_patient("urn:mrn", "V1", "Valid", "Ana", "female", "2016-01-02");
    char *id = lg_create(&S, "Patient", p);
    cJSON *res = cJSON_Parse(p);
    cJSON_AddStringToObject(res, "id", id);
    /* with a narrative, so R4's dom-6 has nothing to warn about */
    cJSON *text = cJSON_AddObjectToObject(res, "text");
    cJSON_AddStringToObject(text, "status", "generated");
    cJSON_AddStringToObject(text, "div", "<div xmlns=\"http://www.w3.org/1999/xhtml\">Ana</div>");
    char *with_id = cJSON_PrintUnformatted(res);
    char *path = lg_fmt("/Patient/%s/$validate", id);

    char *upd = lg_fmt("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\","
                       "\"valueCode\":\"update\"},{\"name\":\"resource\",\"resource\":%s}]}",
                       with_id);
    lg_resp r = validate(path, upd);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_diag(r.json), "All OK");
    lg_resp_free(&r);
    r = validate("/Patient/someone-else/$validate", upd);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.id"), 1, "%s", r.body);
    lg_resp_free(&r);

    const char *del = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\","
                      "\"valueCode\":\"delete\"}]}";
    r = validate(path, del);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_diag(r.json), "All OK");
    lg_resp_free(&r);
    /* still there, still version 1: nothing was written */
    char *rpath = lg_fmt("/Patient/%s", id);
    r = lg_http(&S, "GET", rpath, NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.etag, "W/\"1\"");
    lg_resp_free(&r);
    /* after a real delete the delete check warns */
    r = lg_http(&S, "DELETE", rpath, NULL, NULL);
    cr_assert(r.status == 200 || r.status == 204, "%ld", r.status);
    lg_resp_free(&r);
    r = validate(path, del);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(count_issues(r.json, "warning", NULL), 1, "%s", r.body);
    cr_assert_eq(count_issues(r.json, "error", NULL), 0, "%s", r.body);
    lg_resp_free(&r);
    free(rpath); free(upd); free(path); free(with_id); cJSON_Delete(res); free(id); free(p);
}

Test(validate_op, request_errors_over_http)
{
    lg_resp r = validate("/Patient/$validate", "{\"resourceType\":\"Patient\",\n\"name\":[");
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert_not_null(strstr(lg_diag(r.json), "line 2"), "%s", r.body);
    lg_resp_free(&r);
    r = validate("/Patient/$validate", "{\"resourceType\":\"Parameters\",\"parameter\":"
                                       "[{\"name\":\"resource\",\"valueString\":\"x\"}]}");
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert_str_eq(lg_at_str(r.json, "issue.0.expression.0"), "Parameters.parameter[0]");
    lg_resp_free(&r);
    r = validate("/NotAType/$validate", "{\"resourceType\":\"NotAType\"}");
    cr_assert_eq(r.status, 404, "%s", r.body);
    lg_resp_free(&r);
    /* a code outside its required ValueSet (the server builds terminology) */
    r = validate("/Patient/$validate", "{\"resourceType\":\"Patient\",\"gender\":\"mail\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.gender"), 1, "%s", r.body);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient/$validate", NULL, NULL);
    cr_assert_eq(r.status, 405, "%s", r.body);
    cr_assert_str_eq(r.allow, "POST");
    lg_resp_free(&r);
    /* XML bodies are validated like JSON ones (issue #6); XML outside the
     * FHIR namespace is malformed, and an unsupported type is 415 */
    const char *xml[] = {"Content-Type: application/fhir+xml", "Accept: application/fhir+json",
                         NULL};
    r = lg_http(&S, "POST", "/Patient/$validate", xml, "<Patient/>");
    cr_assert_eq(r.status, 400, "%s", r.body);
    lg_resp_free(&r);
    r = lg_http(&S, "POST", "/Patient/$validate", xml,
                "<Patient xmlns=\"http://hl7.org/fhir\">\n <gender value=\"mail\"/></Patient>");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.gender"), 1, "%s", r.body);
    cr_assert(strstr(r.body, "Line[2] Col[2]"), "located in the XML: %s", r.body);
    lg_resp_free(&r);
    const char *plain[] = {"Content-Type: text/plain", NULL};
    r = lg_http(&S, "POST", "/Patient/$validate", plain, "Patient");
    cr_assert_eq(r.status, 415, "%s", r.body);
    lg_resp_free(&r);
    /* a percent-encoded '$' is the same operation */
    r = validate("/Patient/%24validate", "{\"resourceType\":\"Patient\",\"active\":1}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(count_issues(r.json, "error", "Patient.active"), 1, "%s", r.body);
    lg_resp_free(&r);
}

Test(validate_op, metadata_lists_the_operation)
{
    lg_resp r = lg_http(&S, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200);
    const cJSON *t;
    int types = 0;
    cJSON_ArrayForEach(t, lg_at(r.json, "rest.0.resource")) {
        cr_assert_str_eq(lg_at_str(t, "operation.0.name"), "validate", "%s", lg_str(t, "type"));
        cr_assert_str_eq(lg_at_str(t, "operation.0.definition"),
                         "http://hl7.org/fhir/OperationDefinition/Resource-validate");
        types++;
    }
    cr_assert_geq(types, 20);
    lg_resp_free(&r);
}

/* ---- serve --package: IG profiles for $validate ---- */

#define PKG_DIR LG_SHARED_DIR "/fhir/packages/"
static lg_server P;
static const char *const pkg_flags[] = {
    "--package", PKG_DIR "hl7.fhir.us.core#7.0.0",
    "--package", PKG_DIR "hl7.fhir.us.sdoh-clinicalcare#3.0.0", NULL,
};
static void pkg_up(void) { lg_it_start(&P, pkg_flags); }
static void pkg_down(void) { lg_it_cleanup(&P); }
TestSuite(validate_op_packages, .init = pkg_up, .fini = pkg_down, .timeout = 120);

#define REFERRAL "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/" \
                 "SDOHCC-TaskForReferralManagement"

Test(validate_op_packages, claimed_and_requested_profiles)
{
    char *ex = lg_shared_file("packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/"
                              "Task-SDOHCC-TaskReferralManagementOrderFulfillmentAcceptedExample.json");
    /* the example claims the referral profile and conforms */
    lg_resp r = lg_http_json(&P, "POST", "/Task/$validate", ex);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(count_issues(r.json, "error", NULL), 0, "%.600s", r.body);
    cr_assert_null(strstr(r.body, "not known here"), "%.600s", r.body);
    lg_resp_free(&r);
    /* without authoredOn (1..1 in the profile, 0..1 in R4) it does not */
    cJSON *t = cJSON_Parse(ex);
    cJSON_DeleteItemFromObject(t, "authoredOn");
    char *bad = cJSON_PrintUnformatted(t);
    r = lg_http_json(&P, "POST", "/Task/$validate", bad);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_geq(count_issues(r.json, "error", "Task.authoredOn"), 1, "%.600s", r.body);
    lg_resp_free(&r);
    /* an R4 Task asked to conform to the referral profile */
    char *r4 = lg_shared_file("r4-examples/Task-example1.json");
    char *body = lg_fmt("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"profile\","
                        "\"valueUri\":\"" REFERRAL "\"},{\"name\":\"resource\",\"resource\":%s}]}",
                        r4);
    r = lg_http_json(&P, "POST", "/Task/$validate", body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_geq(count_issues(r.json, "error", "Task.code"), 1, "%.600s", r.body);
    lg_resp_free(&r);
    /* and the same without the profile passes the base check */
    r = lg_http_json(&P, "POST", "/Task/$validate", r4);
    cr_assert_eq(count_issues(r.json, "error", NULL), 0, "%.600s", r.body);
    lg_resp_free(&r);
    free(body); free(r4); free(bad); cJSON_Delete(t); free(ex);
}

/* ---- $validate predicts the write: serve --require-profile ---- */

static lg_server R;
static const char *const req_flags[] = {
    "--package", PKG_DIR "hl7.fhir.us.core#7.0.0",
    "--package", PKG_DIR "hl7.fhir.us.sdoh-clinicalcare#3.0.0",
    "--require-profile", REFERRAL, NULL,
};
static void req_up(void) { lg_it_start(&R, req_flags); }
static void req_down(void) { lg_it_cleanup(&R); }
TestSuite(validate_op_required, .init = req_up, .fini = req_down, .timeout = 120);

/* For every Task example (R4 and SDOHCC), POST /Task/$validate?mode=create
 * reports an error exactly when POST /Task refuses the resource, and then
 * the required profile is named. */
Test(validate_op_required, validate_agrees_with_create)
{
    FILE *ls = popen("ls " LG_SHARED_DIR "/fhir/r4-examples/Task-*.json '" LG_SHARED_DIR
                     "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/'Task-*.json",
                     "r");
    cr_assert_not_null(ls);
    char path[1024];
    int accepted = 0, refused = 0;
    while(fgets(path, sizeof(path), ls)) {
        path[strcspn(path, "\n")] = '\0';
        const char *rel = strstr(path, "/fhir/") + 6;
        char *text = lg_shared_file(rel);
        lg_resp v = lg_http_json(&R, "POST", "/Task/$validate?mode=create", text);
        cr_assert_eq(v.status, 200, "%s: %s", rel, v.body);
        int errors = count_issues(v.json, "error", NULL);
        lg_resp w = lg_http_json(&R, "POST", "/Task", text);
        if(errors) {
            cr_assert(w.status == 400 || w.status == 422, "%s: $validate found %d errors, "
                      "create answered %ld", rel, errors, w.status);
            cr_assert_not_null(strstr(v.body, "SDOHCCTaskForReferralManagement"), "%s: %.400s",
                               rel, v.body);
            refused++;
        } else {
            cr_assert_eq(w.status, 201, "%s: $validate found no error, create answered %ld "
                         "%.400s", rel, w.status, w.body);
            accepted++;
        }
        lg_resp_free(&v);
        lg_resp_free(&w);
        free(text);
    }
    pclose(ls);
    /* both outcomes occur, or the comparison proves little */
    cr_assert_geq(accepted, 1, "no Task accepted");
    cr_assert_geq(refused, 1, "no Task refused");
}
