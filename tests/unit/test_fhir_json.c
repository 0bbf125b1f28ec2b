/* Unit tests for bounded JSON parsing (src/fhir/json.c). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/json.h"

static lg_status parse(const char *s, const lg_json_limits *lim, char *diag, size_t n)
{
    cJSON *j = NULL;
    lg_issues is = {0};
    lg_status st = lg_json_parse(s, strlen(s), lim, &j, &is);
    if(diag)
        snprintf(diag, n, "%s", is.count ? is.items[0].diagnostics : "");
    cr_assert(st == LG_OK ? j != NULL : j == NULL);
    cJSON_Delete(j);
    lg_issues_free(&is);
    return st;
}

Test(json, valid_documents_parse)
{
    cr_assert_eq(parse("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Núñez\"}]}", NULL,
                       NULL, 0), LG_OK);
    cr_assert_eq(parse("  [1, 2.5, true, null, \"\\u00e9\"]\n", NULL, NULL, 0), LG_OK);
}

Test(json, syntax_errors_name_line_and_column)
{
    char d[256];
    cr_assert_eq(parse("{\n  \"a\": 1,\n  \"status\": ,\n}", NULL, d, sizeof(d)), LG_EINVAL);
    cr_assert_not_null(strstr(d, "line 3"), "%s", d);
    cr_assert_not_null(strstr(d, "column"), "%s", d);
    cr_assert_eq(parse("", NULL, d, sizeof(d)), LG_EINVAL);
    cr_assert_eq(parse("{} x", NULL, d, sizeof(d)), LG_EINVAL);
    cr_assert_not_null(strstr(d, "trailing"), "%s", d);
}

Test(json, depth_limit_is_exact)
{
    lg_json_limits lim = lg_json_default_limits;
    lim.max_depth = 5;
    cr_assert_eq(parse("[[[[[1]]]]]", &lim, NULL, 0), LG_OK);
    cr_assert_eq(parse("[[[[[[1]]]]]]", &lim, NULL, 0), LG_ETOOLARGE);
    char *deep = malloc(20001);
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    cr_assert_eq(parse(deep, NULL, NULL, 0), LG_ETOOLARGE);
    free(deep);
}

Test(json, string_and_document_limits)
{
    lg_json_limits lim = lg_json_default_limits;
    lim.max_string = 4;
    cr_assert_eq(parse("[\"abcd\"]", &lim, NULL, 0), LG_OK);
    cr_assert_eq(parse("[\"abcde\"]", &lim, NULL, 0), LG_ETOOLARGE);
    lim = lg_json_default_limits;
    lim.max_bytes = 8;
    cr_assert_eq(parse("[1,2,3,4,5]", &lim, NULL, 0), LG_ETOOLARGE);
}

Test(json, invalid_utf8_and_duplicates_are_refused)
{
    cr_assert_eq(parse("[\"\xc0\xaf\"]", NULL, NULL, 0), LG_EINVAL);    /* overlong */
    cr_assert_eq(parse("[\"\xed\xa0\x80\"]", NULL, NULL, 0), LG_EINVAL); /* surrogate */
    cr_assert_eq(parse("[\"\xe2\x82\"]", NULL, NULL, 0), LG_EINVAL);     /* truncated */
    char d[256];
    cr_assert_eq(parse("{\"a\":{\"b\":1,\"b\":2}}", NULL, d, sizeof(d)), LG_EINVAL);
    cr_assert_not_null(strstr(d, "'b'"), "%s", d);
}

Test(json, every_prefix_of_a_resource_fails_cleanly)
{
    const char *doc = "{\"resourceType\":\"Task\",\"status\":\"requested\",\"owner\":"
                      "{\"reference\":\"Organization/cbo-17\"},\"input\":[1,2.5e3,true,null]}";
    size_t n = strlen(doc);
    for(size_t k = 1; k < n; k++) {
        char *cut = strndup(doc, k);
        cJSON *j = NULL;
        lg_issues is = {0};
        cr_assert_neq(lg_json_parse(cut, k, NULL, &j, &is), LG_OK, "prefix %zu parsed", k);
        cr_assert_null(j);
        cr_assert_gt(is.count, 0);
        lg_issues_free(&is);
        free(cut);
    }
    cr_assert_eq(parse(doc, NULL, NULL, 0), LG_OK);
}

Test(json, insert_at_start_middle_and_end)
{
    cJSON *a = cJSON_Parse("[1,2]");
    cr_assert_eq(lg_json_insert(a, 0, cJSON_CreateNumber(0)), 0);
    cr_assert_eq(lg_json_insert(a, 2, cJSON_CreateNumber(1.5)), 0);
    cr_assert_eq(lg_json_insert(a, 99, cJSON_CreateNumber(3)), 0);
    char *s = cJSON_PrintUnformatted(a);
    cr_assert_str_eq(s, "[0,1,1.5,2,3]");
    free(s);
    /* cJSON's own appends must still work after our inserts. */
    cJSON_AddItemToArray(a, cJSON_CreateNumber(4));
    s = cJSON_PrintUnformatted(a);
    cr_assert_str_eq(s, "[0,1,1.5,2,3,4]");
    free(s);
    cJSON_Delete(a);
}
