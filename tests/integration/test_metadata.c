/* Integration: the CapabilityStatement states what is served. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void) { lg_it_start(&S, NULL); }
static void down(void) { lg_it_cleanup(&S); }
TestSuite(metadata, .init = up, .fini = down, .timeout = 60);

static cJSON *find_type(cJSON *rest, const char *type)
{
    cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(rest, "resource"))
        if(lg_str(r, "type") && strcmp(lg_str(r, "type"), type) == 0)
            return r;
    return NULL;
}

static int has_named(cJSON *arr, const char *key, const char *name)
{
    cJSON *x;
    cJSON_ArrayForEach(x, arr)
        if(lg_str(x, key) && strcmp(lg_str(x, key), name) == 0)
            return 1;
    return 0;
}

Test(metadata, capability_statement_lists_served_types_and_parameters)
{
    lg_resp r = lg_http(&S, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "CapabilityStatement");
    cr_assert_str_eq(lg_str(r.json, "fhirVersion"), "4.0.1");
    cJSON *rest = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "rest"), 0);
    cr_assert_str_eq(lg_str(rest, "mode"), "server");
    const char *served[] = {"Patient", "ServiceRequest", "Task", "CarePlan", "Procedure", "Consent",
                            "Organization", "QuestionnaireResponse"};
    for(size_t i = 0; i < sizeof(served) / sizeof(*served); i++)
        cr_assert_not_null(find_type(rest, served[i]), "%s missing", served[i]);
    cr_assert_null(find_type(rest, "Account"));
    cJSON *task = find_type(rest, "Task");
    cJSON *sp = cJSON_GetObjectItem(task, "searchParam");
    const char *params[] = {"owner", "status", "focus", "patient", "subject", "requester",
                            "business-status", "code", "authored-on", "modified", "identifier",
                            "_id", "_lastUpdated"};
    for(size_t i = 0; i < sizeof(params) / sizeof(*params); i++)
        cr_assert(has_named(sp, "name", params[i]), "Task searchParam %s missing", params[i]);
    cr_assert(has_named(cJSON_GetObjectItem(task, "interaction"), "code", "patch"));
    cr_assert(has_named(cJSON_GetObjectItem(rest, "interaction"), "code", "transaction"));
    cr_assert(has_named(cJSON_GetObjectItem(rest, "interaction"), "code", "batch"));
    lg_resp_free(&r);
}

Test(metadata, statement_shape)
{
    lg_resp r = lg_http(&S, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.content_type, "application/fhir+json"), "%s", r.content_type);
    cr_assert_not_null(lg_str(r.json, "status"));
    cr_assert_not_null(lg_str(r.json, "date"));
    cr_assert_str_eq(lg_str(r.json, "kind"), "instance");
    int json = 0;
    cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(r.json, "format"))
        json |= cJSON_IsString(f) && strstr(f->valuestring, "json") != NULL;
    cr_assert(json, "format does not list json");
    cJSON *rest = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "rest"), 0);
    cJSON *res;
    int n = 0;
    cJSON_ArrayForEach(res, cJSON_GetObjectItem(rest, "resource")) {
        const char *type = lg_str(res, "type");
        cr_assert_not_null(type);
        cJSON *in = cJSON_GetObjectItem(res, "interaction");
        const char *codes[] = {"read", "vread", "update", "patch", "delete", "history-instance",
                               "history-type", "create", "search-type"};
        for(size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++)
            cr_assert(has_named(in, "code", codes[i]), "%s lacks interaction %s", type, codes[i]);
        cJSON *sp;
        cJSON_ArrayForEach(sp, cJSON_GetObjectItem(res, "searchParam")) {
            cr_assert_not_null(lg_str(sp, "name"));
            const char *t = lg_str(sp, "type");
            cr_assert(t && (strcmp(t, "token") == 0 || strcmp(t, "string") == 0 ||
                            strcmp(t, "date") == 0 || strcmp(t, "reference") == 0 ||
                            strcmp(t, "number") == 0 || strcmp(t, "quantity") == 0 ||
                            strcmp(t, "uri") == 0 || strcmp(t, "composite") == 0 ||
                            strcmp(t, "special") == 0),
                      "%s.%s: type %s", type, lg_str(sp, "name"), t ? t : "(none)");
        }
        /* every listed type is really served */
        char path[128];
        snprintf(path, sizeof(path), "/%s?_summary=count", type);
        lg_resp s = lg_http(&S, "GET", path, NULL, NULL);
        cr_assert_eq(s.status, 200, "%s: %ld", path, s.status);
        lg_resp_free(&s);
        n++;
    }
    cr_assert_geq(n, 8);
    lg_resp_free(&r);
    /* _format and Accept for JSON are honoured */
    r = lg_http(&S, "GET", "/metadata?_format=json", NULL, NULL);
    cr_assert_eq(r.status, 200);
    lg_resp_free(&r);
    const char *h[] = {"Accept: application/fhir+json", NULL};
    r = lg_http(&S, "GET", "/metadata", h, NULL);
    cr_assert_eq(r.status, 200);
    lg_resp_free(&r);
    const char *x[] = {"Accept: application/fhir+xml", NULL};
    r = lg_http(&S, "GET", "/metadata", x, NULL);
    /* XML is served (issue #6), and labelled as such */
    cr_assert(r.status == 200 && strstr(r.content_type, "application/fhir+xml") &&
                  strstr(r.body, "<CapabilityStatement xmlns=\"http://hl7.org/fhir\""),
              "Accept XML: %ld %s", r.status, r.content_type);
    lg_resp_free(&r);
}
