/* test_validate_location.c - issue locations deep in a resource: the
 * walks keep the location as steps (src/validate/path.h), the first ones
 * inline and deeper ones on the heap; the text must be the full FHIRPath
 * either way, in the structure check and in the profile walk, and must be
 * cut at the same place as before when it is too long.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/validate.h"
#include "lg_test.h"
#include "validate/path.h"

static lg_defs *D;

static void load(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &D, &is), LG_OK);
    lg_issues_free(&is);
}

static void unload(void)
{
    lg_defs_free(D);
}

TestSuite(location, .init = load, .fini = unload, .timeout = 120);

/* A Questionnaire whose items nest depth deep; the innermost item gets
 * extra (JSON text). The expected location of the innermost item goes to
 * where (where_size bytes). Returns the parsed resource (caller frees). */
static cJSON *nested(int depth, const char *extra, char *where, size_t where_size)
{
    static char text[64 * 1024];
    size_t n = 0, w = 0;
    n += (size_t)snprintf(text + n, sizeof(text) - n,
                          "{\"resourceType\":\"Questionnaire\",\"status\":\"draft\"");
    w += (size_t)snprintf(where + w, where_size - w, "Questionnaire");
    for(int i = 0; i < depth; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              ",\"item\":[{\"linkId\":\"l%d\",\"type\":\"group\"", i);
        w += (size_t)snprintf(where + w, where_size - w, ".item[0]");
    }
    n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", extra);
    for(int i = 0; i < depth; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "}]");
    snprintf(text + n, sizeof(text) - n, "}");
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j);
    return j;
}

static const lg_issue *find(const lg_issues *is, const char *loc)
{
    for(size_t i = 0; i < is->count; i++)
        if(is->items[i].location && strcmp(is->items[i].location, loc) == 0)
            return &is->items[i];
    return NULL;
}

Test(location, deep_structure_issue)
{
    char where[4096];
    /* 40 levels: 81 steps, well past the inline ones */
    cJSON *q = nested(40, ",\"bogus\":1", where, sizeof(where));
    strncat(where, ".bogus", sizeof(where) - strlen(where) - 1);
    lg_issues is = {0};
    cr_expect_eq(lg_validate_resource(D, q, &is), LG_EINVAL);
    cr_expect_not_null(find(&is, where), "an issue at %s", where);
    lg_issues_free(&is);
    cJSON_Delete(q);
}

Test(location, deep_profile_issue)
{
    char where[4096];
    /* ref-1 fails on a "#id" that nothing contained has, found by the profile walk */
    cJSON *q = nested(30,
                      ",\"enableWhen\":[{\"question\":\"l0\",\"operator\":\"exists\","
                      "\"answerReference\":{\"reference\":\"#nope\"}}]",
                      where, sizeof(where));
    strncat(where, ".enableWhen[0].answerReference", sizeof(where) - strlen(where) - 1);
    lg_issues is = {0};
    lg_validate_full(D, q, NULL, 0, &is);
    const lg_issue *it = find(&is, where);
    cr_expect_not_null(it, "an issue at %s", where);
    if(it)
        cr_expect(strstr(it->diagnostics, "ref-1") != NULL, "%s", it->diagnostics);
    lg_issues_free(&is);
    cJSON_Delete(q);
}

/* The steps give the text lg_vpath_push gives, also when it is cut. */
Test(location, steps_match_the_text_builder)
{
    lg_vloc l = {0};
    char direct[512], built[512];
    size_t dlen = 0;
    direct[0] = '\0';
    lg_vloc_push(&l, 0, "Bundle", -1);
    lg_vpath_push(direct, sizeof(direct), &dlen, 0, "Bundle", -1);
    for(int i = 0; i < 400; i++) {
        char sep = i % 3 == 2 ? 0 : '.';
        const char *s = i % 3 == 2 ? NULL : i % 2 ? "entry" : "resourceLongName";
        int index = i % 3 == 1 ? -1 : i;
        lg_vloc_push(&l, sep, s, index);
        lg_vpath_push(direct, sizeof(direct), &dlen, sep, s, index);
        size_t blen = lg_vloc_text(&l, built, sizeof(built));
        cr_assert_eq(blen, dlen, "step %d", i);
        cr_assert_str_eq(built, direct, "step %d", i);
    }
    /* popping back restores the shorter text */
    lg_vloc_pop(&l, 1);
    cr_expect_eq(lg_vloc_text(&l, built, sizeof(built)), strlen("Bundle"));
    cr_expect_str_eq(built, "Bundle");
    lg_vloc_free(&l);
}
