/* Unit tests for OperationOutcome serialisation (src/fhir/outcome.c). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "loopgate/outcome.h"

static cJSON *render(const lg_issues *l)
{
    lg_buf b;
    lg_buf_init(&b, 1 << 16);
    cr_assert_eq(lg_outcome_write(&b, l, LG_SEV_ERROR, "exception", "fallback"), LG_OK);
    cJSON *j = cJSON_Parse(b.data);
    cr_assert_not_null(j, "not JSON: %s", b.data);
    lg_buf_free(&b);
    return j;
}

Test(outcome, issues_become_issue_entries_with_expression)
{
    lg_issues l = {0};
    lg_issues_add(&l, LG_SEV_ERROR, "invalid", "Task.status", "bad \"status\"");
    lg_issues_add(&l, LG_SEV_WARNING, "informational", NULL, "note");
    cJSON *j = render(&l);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "resourceType")->valuestring, "OperationOutcome");
    cJSON *iss = cJSON_GetObjectItem(j, "issue");
    cr_assert_eq(cJSON_GetArraySize(iss), 2);
    cJSON *i0 = cJSON_GetArrayItem(iss, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(i0, "severity")->valuestring, "error");
    cr_assert_str_eq(cJSON_GetObjectItem(i0, "code")->valuestring, "invalid");
    cr_assert_str_eq(cJSON_GetObjectItem(i0, "diagnostics")->valuestring, "bad \"status\"");
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(i0, "expression"), 0)->valuestring,
                     "Task.status");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(iss, 1), "expression"));
    cJSON_Delete(j);
    lg_issues_free(&l);
}

Test(outcome, empty_list_uses_fallback_issue)
{
    lg_issues l = {0};
    cJSON *j = render(&l);
    cJSON *i0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "issue"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(i0, "code")->valuestring, "exception");
    cr_assert_str_eq(cJSON_GetObjectItem(i0, "diagnostics")->valuestring, "fallback");
    cJSON_Delete(j);
}
