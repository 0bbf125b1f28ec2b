/* Unit tests for line/column look-up of FHIRPath locations in JSON text
 * (src/fhir/locate.c) and their rendering in OperationOutcome. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <string.h>

#include "loopgate/json.h"
#include "loopgate/outcome.h"

static const char doc[] =
    "{\n"
    "  \"resourceType\": \"Patient\",\n"
    "  \"name\": [\n"
    "    {\"family\": \"Ri\\\"vera\", \"given\": [\"Ana\", \"María\"]},\n"
    "    { \"text\" : \"x\" }\n"
    "  ],\n"
    "  \"contact\": [{\"name\": {\"family\": \"Q\"}, \"gender\": 7}],\n"
    "  \"birthDate\": \"2015-13-01\"\n"
    "}\n";

static int at(const char *loc, int *line, int *col)
{
    return lg_json_locate(doc, strlen(doc), loc, line, col);
}

Test(locate, members_and_items_are_found)
{
    int l, c;
    cr_assert_eq(at("Patient.birthDate", &l, &c), 1);
    cr_assert_eq(l, 8);
    cr_assert_eq(c, 3, "the key's column");
    cr_assert_eq(at("Patient.name[0].given[1]", &l, &c), 1);
    cr_assert_eq(l, 4);
    /* 4 spaces, {"family": "Ri\"vera", "given": ["Ana", then "María" at column 45 */
    cr_assert_eq(c, 45, "got %d", c);
    cr_assert_eq(at("Patient.name[1].text", &l, &c), 1);
    cr_assert_eq(l, 5);
    cr_assert_eq(c, 7);
    cr_assert_eq(at("Patient.contact[0].gender", &l, &c), 1);
    cr_assert_eq(l, 7);
}

Test(locate, absent_elements_give_the_nearest_ancestor)
{
    int l, c;
    cr_assert_eq(at("Patient.name[0].prefix", &l, &c), 0);
    cr_assert_eq(l, 4, "the name[0] object");
    cr_assert_eq(c, 5);
    cr_assert_eq(at("Patient.name[7]", &l, &c), 0);
    cr_assert_eq(l, 3, "the name key");
    cr_assert_eq(at("Patient.gender", &l, &c), 0);
    cr_assert_eq(l, 1, "the resource itself");
    cr_assert_eq(at("Patient.extension('http://x').value", &l, &c), 0);
    cr_assert_eq(at("Patient.birthDate.x", &l, &c), 0, "a primitive has no members");
    cr_assert_eq(l, 8);
}

Test(locate, malformed_or_foreign_text_is_refused)
{
    int l = 9, c = 9;
    cr_assert_eq(lg_json_locate("[1,2]", 5, "Patient.a", &l, &c), -1);
    cr_assert_eq(l, 0);
    cr_assert_eq(lg_json_locate("{\"a\": [1, {\"b\": \"unterminated", 28, "X.a[1].c", &l, &c), -1);
    cr_assert_eq(lg_json_locate("{\"a\":1}", 3, "X.a", &l, &c), -1, "len bounds the scan");
    cr_assert_eq(lg_json_locate(NULL, 0, "X.a", &l, &c), -1);
}

Test(locate, issues_get_positions_and_outcome_shows_them)
{
    lg_issues is = {0};
    lg_issues_add(&is, LG_SEV_ERROR, "invalid", "Patient.birthDate", "bad date");
    lg_issues_add(&is, LG_SEV_WARNING, "informational", NULL, "no location");
    lg_issues_locate(&is, 0, doc, strlen(doc));
    cr_assert_eq(is.items[0].line, 8);
    cr_assert_eq(is.items[0].col, 3);
    cr_assert_eq(is.items[1].line, 0);
    lg_buf b;
    lg_buf_init(&b, 1 << 16);
    cr_assert_eq(lg_outcome_write(&b, &is, LG_SEV_ERROR, "exception", ""), LG_OK);
    cJSON *j = cJSON_Parse(b.data);
    cr_assert_not_null(j, "%s", b.data);
    cJSON *i0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "issue"), 0);
    cJSON *ext = cJSON_GetObjectItem(i0, "extension");
    cr_assert_eq(cJSON_GetArraySize(ext), 2);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ext, 0), "url")->valuestring,
                     "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ext, 0), "valueInteger")->valueint, 8);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ext, 1), "valueInteger")->valueint, 3);
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(i0, "location"), 0)->valuestring,
                     "Line[8] Col[3]");
    cJSON *i1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "issue"), 1);
    cr_assert_null(cJSON_GetObjectItem(i1, "extension"));
    cJSON_Delete(j);
    lg_buf_free(&b);
    lg_issues_free(&is);
}
