/* Integration: a client's mistakes get the right status and an
 * OperationOutcome, and never crash or wedge the server. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void)
{
    const char *extra[] = {"--max-body", "65536", NULL};
    lg_it_start(&S, extra);
}
static void down(void) { lg_it_cleanup(&S); }
TestSuite(errors, .init = up, .fini = down, .timeout = 120);

static void expect_oo(lg_resp *r, long status)
{
    cr_assert_eq(r->status, status, "want %ld got %ld: %s", status, r->status, r->body);
    cr_assert_not_null(r->json, "body is not JSON: %s", r->body);
    cr_assert_str_eq(lg_str(r->json, "resourceType"), "OperationOutcome");
    cJSON *i0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "issue"), 0);
    cr_assert_not_null(lg_str(i0, "severity"));
    cr_assert_not_null(lg_str(i0, "code"));
    cr_assert_str_neq(lg_diag(r->json), "");
    lg_resp_free(r);
}

static void still_alive(void)
{
    lg_resp r = lg_http(&S, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200, "server stopped answering");
    lg_resp_free(&r);
}

Test(errors, malformed_json_names_line_and_column)
{
    lg_resp r = lg_http_json(&S, "POST", "/Patient", "{\n \"resourceType\": \"Patient\",\n \"gender\": }");
    cr_assert_not_null(strstr(lg_diag(r.json), "line 3"), "%s", lg_diag(r.json));
    expect_oo(&r, 400);
    r = lg_http_json(&S, "POST", "/Patient", "[1,2]");
    expect_oo(&r, 400);
    r = lg_http_json(&S, "POST", "/Patient", "");
    expect_oo(&r, 400);
    still_alive();
}

Test(errors, wrong_type_unknown_type_and_methods)
{
    lg_resp r = lg_http_json(&S, "POST", "/Patient", "{\"resourceType\":\"Task\"}");
    expect_oo(&r, 400);
    r = lg_http_json(&S, "POST", "/Patient", "{\"gender\":\"male\"}");
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Foo/1", NULL, NULL);
    expect_oo(&r, 404);
    r = lg_http(&S, "GET", "/Account", NULL, NULL);
    expect_oo(&r, 404);
    r = lg_http(&S, "DELETE", "/Patient", NULL, NULL);
    cr_assert_neq(r.allow[0], '\0', "405 carries Allow");
    expect_oo(&r, 405);
    r = lg_http_json(&S, "PUT", "/metadata", "{}");
    expect_oo(&r, 405);
    r = lg_http(&S, "GET", "/Patient/bad$id", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Patient/does-not-exist", NULL, NULL);
    expect_oo(&r, 404);
}

Test(errors, content_type_and_size)
{
    const char *h[] = {"Content-Type: text/plain", NULL};
    lg_resp r = lg_http(&S, "POST", "/Patient", h, "{\"resourceType\":\"Patient\"}");
    expect_oo(&r, 415);
    size_t n = 100000;
    char *big = malloc(n + 64);
    cr_assert_not_null(big);
    int k = snprintf(big, n + 64, "{\"resourceType\":\"Patient\",\"x\":\"");
    memset(big + k, 'a', n);
    memcpy(big + k + n, "\"}", 3);
    r = lg_http_json(&S, "POST", "/Patient", big);
    expect_oo(&r, 413);
    free(big);
    still_alive();
}

Test(errors, search_parameter_errors)
{
    lg_resp r = lg_http(&S, "GET", "/Patient?nonsense=1", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Patient?_count=abc", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Task?authored-on=2026-13-01", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Patient?gender:contains=x", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Task?_sort=status", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Task?_cursor=garbage", NULL, NULL);
    expect_oo(&r, 400);
    /* lenient handling drops the unknown parameter and says so */
    const char *h[] = {"Prefer: handling=lenient", NULL};
    r = lg_http(&S, "GET", "/Patient?nonsense=1", h, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
}

Test(errors, hostile_bodies_do_not_crash)
{
    size_t depth = 10000;
    char *deep = malloc(depth * 2 + 64);
    cr_assert_not_null(deep);
    char *p = deep + snprintf(deep, 64, "{\"resourceType\":\"Patient\",\"x\":");
    for(size_t i = 0; i < depth; i++) *p++ = '[';
    for(size_t i = 0; i < depth; i++) *p++ = ']';
    memcpy(p, "}", 2);
    lg_resp r = lg_http_json(&S, "POST", "/Patient", deep);
    cr_assert(r.status == 400 || r.status == 413, "%ld", r.status);
    lg_resp_free(&r);
    free(deep);
    const char *junk[] = {"{\"resourceType\":\"Patient\",\"a\":\"\xff\xfe\"}",
                          "{\"resourceType\":\"Patient\",\"a\":1,\"a\":2}",
                          "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":7}",
                          "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{}]}",
                          "{\"resourceType\":\"Bundle\",\"type\":\"document\"}", "nul\x01l"};
    for(size_t i = 0; i < sizeof(junk) / sizeof(*junk); i++) {
        r = lg_http_json(&S, "POST", i < 2 ? "/Patient" : "/", junk[i]);
        cr_assert(r.status == 400, "junk %zu: %ld %s", i, r.status, r.body);
        lg_resp_free(&r);
    }
    still_alive();
}
