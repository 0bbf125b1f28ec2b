/* Unit tests for JSON Patch (src/fhir/patch.c), including RFC 6902 Appendix A. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/patch.h"

/* Apply patch to doc; expect status st and (on success) result want. */
static void check(const char *doc, const char *patch, lg_status want_st, const char *want)
{
    cJSON *d = cJSON_Parse(doc), *p = cJSON_Parse(patch), *out = NULL;
    cr_assert_not_null(d);
    cr_assert_not_null(p);
    char *before = cJSON_PrintUnformatted(d);
    lg_issues is = {0};
    lg_status st = lg_json_patch(d, p, &out, &is);
    cr_assert_eq(st, want_st, "patch %s on %s: status %d (%s)", patch, doc, st,
                 is.count ? is.items[0].diagnostics : "");
    char *after = cJSON_PrintUnformatted(d);
    cr_assert_str_eq(before, after, "input document was modified");
    if(want) {
        cJSON *w = cJSON_Parse(want);
        cr_assert(cJSON_Compare(out, w, 1), "got %s want %s", cJSON_PrintUnformatted(out), want);
        cJSON_Delete(w);
    } else {
        cr_assert_null(out);
        cr_assert_gt(is.count, 0);
        cr_assert_not_null(is.items[0].location);
    }
    free(before);
    free(after);
    cJSON_Delete(out);
    cJSON_Delete(d);
    cJSON_Delete(p);
    lg_issues_free(&is);
}

Test(patch, rfc6902_appendix_a)
{
    check("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]", LG_OK,
          "{\"baz\":\"qux\",\"foo\":\"bar\"}");
    check("{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
          LG_OK, "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
    check("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]", LG_OK,
          "{\"foo\":\"bar\"}");
    check("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", LG_OK,
          "{\"foo\":[\"bar\",\"baz\"]}");
    check("{\"baz\":\"qux\",\"foo\":\"bar\"}",
          "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]", LG_OK,
          "{\"baz\":\"boo\",\"foo\":\"bar\"}");
    check("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
          "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]", LG_OK,
          "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}");
    check("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
          "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]", LG_OK,
          "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
    check("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
          "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
          "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]", LG_OK,
          "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}");
    check("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
          LG_EUNPROCESSABLE, NULL);
    check("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
          LG_OK, "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}");
    check("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
          LG_EINVAL, NULL);
    check("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]", LG_OK,
          "{\"/\":9,\"~1\":10}");
    check("{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
          LG_OK, "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}");
}

Test(patch, cbo_accepts_a_task)
{
    check("{\"resourceType\":\"Task\",\"id\":\"t1\",\"status\":\"requested\"}",
          "[{\"op\":\"test\",\"path\":\"/status\",\"value\":\"requested\"},"
          "{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"accepted\"}]",
          LG_OK, "{\"resourceType\":\"Task\",\"id\":\"t1\",\"status\":\"accepted\"}");
}

Test(patch, all_or_nothing_and_bad_documents)
{
    /* The second op fails: the first must not show in any result. */
    check("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":2},"
                       "{\"op\":\"remove\",\"path\":\"/missing\"}]", LG_EINVAL, NULL);
    check("{\"a\":1}", "{\"op\":\"remove\"}", LG_EINVAL, NULL);
    check("{\"a\":1}", "[{\"op\":\"frobnicate\",\"path\":\"/a\"}]", LG_EINVAL, NULL);
    check("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":2}]", LG_EINVAL, NULL);
    check("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/01\",\"value\":2}]", LG_EINVAL, NULL);
    check("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/3\",\"value\":2}]", LG_EINVAL, NULL);
    check("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/2\",\"value\":3}]", LG_OK,
          "{\"a\":[1,2,3]}");
    check("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]",
          LG_EINVAL, NULL);
    check("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":2}]", LG_EINVAL, NULL);
    check("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"}]", LG_OK,
          "{\"a\":1,\"b\":1}");
    check("{\"a\":{\"x\":1,\"y\":2}}",
          "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"y\":2,\"x\":1.0}}]", LG_OK,
          "{\"a\":{\"x\":1,\"y\":2}}");
}
