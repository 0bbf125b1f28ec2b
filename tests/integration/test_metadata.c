/* Integration: the CapabilityStatement states what is served. */
#include <criterion/criterion.h>
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
        if(strcmp(lg_str(r, "type"), type) == 0)
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
    lg_resp_free(&r);
}
