/* Unit tests for ValueSet expansion rules of the terminology layer, on small
 * hand-written CodeSystems and ValueSets: filters, hierarchy, imports and
 * their cycles, excludes that cannot be decided, intersections, case
 * folding, versions, the size bound and the error paths. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "loopgate/terminology.h"

#define CS "http://example.org/cs/animals"
#define VSU "http://example.org/vs/"

/* animals: a small is-a hierarchy, plus a second parent given by a `child`
 * property (bat is also a flyer), properties for = / in / exists */
static const char animals[] =
    "{\"resourceType\":\"CodeSystem\",\"url\":\"" CS "\",\"content\":\"complete\","
    "\"caseSensitive\":true,\"valueSet\":\"" VSU "all-animals\","
    "\"concept\":["
    " {\"code\":\"animal\",\"property\":[{\"code\":\"notSelectable\",\"valueBoolean\":true}],"
    "  \"concept\":["
    "   {\"code\":\"mammal\",\"property\":[{\"code\":\"legs\",\"valueInteger\":4}],"
    "    \"concept\":["
    "     {\"code\":\"dog\",\"property\":[{\"code\":\"legs\",\"valueInteger\":4},"
    "                                    {\"code\":\"sound\",\"valueString\":\"woof\"}]},"
    "     {\"code\":\"bat\",\"property\":[{\"code\":\"legs\",\"valueInteger\":2}]},"
    "     {\"code\":\"whale\",\"concept\":[{\"code\":\"orca\"}]}]},"
    "   {\"code\":\"bird\",\"property\":[{\"code\":\"legs\",\"valueInteger\":2}],"
    "    \"concept\":[{\"code\":\"eagle\"},{\"code\":\"penguin\"}]}]},"
    " {\"code\":\"flyer\",\"property\":[{\"code\":\"child\",\"valueCode\":\"bat\"},"
    "                                   {\"code\":\"child\",\"valueCode\":\"eagle\"}]}"
    "]}";

static lg_terminology *T;
static lg_issues IS;

static void add_json(const char *json)
{
    cJSON *r = cJSON_Parse(json);
    cr_assert_not_null(r, "bad test JSON: %s", json);
    lg_status st = lg_terminology_add(T, r, &IS);
    cJSON_Delete(r);
    cr_assert_eq(st, LG_OK, "%s", IS.count ? IS.items[IS.count - 1].diagnostics : "");
}

/* A ValueSet with url VSU name and the given compose JSON. */
static void add_vs(const char *name, const char *compose)
{
    size_t cap = strlen(name) + strlen(compose) + 256;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    int n = snprintf(buf, cap,
                     "{\"resourceType\":\"ValueSet\",\"url\":\"" VSU "%s\",\"status\":\"active\","
                     "\"compose\":%s}",
                     name, compose);
    cr_assert(n > 0 && (size_t)n < cap);
    add_json(buf);
    free(buf);
}

static void setup(void)
{
    memset(&IS, 0, sizeof(IS));
    cr_assert_eq(lg_terminology_new(&T), LG_OK);
}

static void teardown(void)
{
    lg_terminology_free(T);
    lg_issues_free(&IS);
}

static void seal(void)
{
    cr_assert_eq(lg_terminology_seal(T, &IS), LG_OK);
}

static lg_term_result chk(const char *vs, const char *sys, const char *code)
{
    char url[512];
    snprintf(url, sizeof(url), VSU "%s", vs);
    return lg_terminology_check(T, url, sys, code, NULL);
}

TestSuite(terminology_compose, .init = setup, .fini = teardown);

Test(terminology_compose, hierarchy_filters)
{
    /* the ValueSets come before the CodeSystem: seal resolves in any order */
    add_vs("mammals", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"concept\","
                      "\"op\":\"is-a\",\"value\":\"mammal\"}]}]}");
    add_vs("below-mammal", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":"
                           "\"concept\",\"op\":\"descendent-of\",\"value\":\"mammal\"}]}]}");
    add_vs("not-mammal", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":"
                         "\"concept\",\"op\":\"is-not-a\",\"value\":\"mammal\"}]}]}");
    add_vs("above-orca", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":"
                         "\"concept\",\"op\":\"generalizes\",\"value\":\"orca\"}]}]}");
    add_vs("flyers", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"concept\","
                     "\"op\":\"is-a\",\"value\":\"flyer\"}]}]}");
    add_vs("nothing", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"concept\","
                      "\"op\":\"is-a\",\"value\":\"unicorn\"}]}]}");
    add_json(animals);
    seal();
    cr_expect_eq(chk("mammals", CS, "mammal"), LG_TERM_IN);
    cr_expect_eq(chk("mammals", CS, "dog"), LG_TERM_IN);
    cr_expect_eq(chk("mammals", CS, "orca"), LG_TERM_IN, "two levels down");
    cr_expect_eq(chk("mammals", CS, "eagle"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("below-mammal", CS, "mammal"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("below-mammal", CS, "whale"), LG_TERM_IN);
    cr_expect_eq(chk("not-mammal", CS, "penguin"), LG_TERM_IN);
    cr_expect_eq(chk("not-mammal", CS, "flyer"), LG_TERM_IN);
    cr_expect_eq(chk("not-mammal", CS, "bat"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("above-orca", CS, "whale"), LG_TERM_IN);
    cr_expect_eq(chk("above-orca", CS, "mammal"), LG_TERM_IN);
    cr_expect_eq(chk("above-orca", CS, "dog"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("above-orca", CS, "animal"), LG_TERM_NOT_IN, "abstract root");
    /* the `child` property adds a second parent */
    cr_expect_eq(chk("flyers", CS, "bat"), LG_TERM_IN);
    cr_expect_eq(chk("flyers", CS, "eagle"), LG_TERM_IN);
    cr_expect_eq(chk("flyers", CS, "penguin"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("nothing", CS, "dog"), LG_TERM_NOT_IN, "is-a of an unknown code is empty");
    /* CodeSystem.valueSet without a ValueSet of its own: all codes */
    cr_expect_eq(chk("all-animals", CS, "penguin"), LG_TERM_IN);
    cr_expect_eq(chk("all-animals", NULL, "orca"), LG_TERM_IN);
    cr_expect_eq(chk("all-animals", NULL, "unicorn"), LG_TERM_NOT_IN);
}

Test(terminology_compose, property_filters)
{
    add_json(animals);
    add_vs("four-legs", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"legs\","
                        "\"op\":\"=\",\"value\":\"4\"}]}]}");
    add_vs("legs-in", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"legs\","
                      "\"op\":\"in\",\"value\":\"2,4\"}]}]}");
    add_vs("legs-not-in", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":"
                          "\"legs\",\"op\":\"not-in\",\"value\":\"2,4\"}]}]}");
    add_vs("has-sound", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"sound\","
                        "\"op\":\"exists\",\"value\":\"true\"}]}]}");
    add_vs("kids-of-bird", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":"
                           "\"parent\",\"op\":\"=\",\"value\":\"bird\"}]}]}");
    add_vs("two-filters", "{\"include\":[{\"system\":\"" CS "\",\"filter\":["
                          "{\"property\":\"concept\",\"op\":\"is-a\",\"value\":\"mammal\"},"
                          "{\"property\":\"legs\",\"op\":\"=\",\"value\":\"2\"}]}]}");
    add_vs("regex", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"code\","
                    "\"op\":\"regex\",\"value\":\"d.*\"}]}]}");
    seal();
    cr_expect_eq(chk("four-legs", CS, "dog"), LG_TERM_IN);
    cr_expect_eq(chk("four-legs", CS, "mammal"), LG_TERM_IN);
    cr_expect_eq(chk("four-legs", CS, "bat"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("legs-in", CS, "bird"), LG_TERM_IN);
    cr_expect_eq(chk("legs-in", CS, "dog"), LG_TERM_IN);
    cr_expect_eq(chk("legs-in", CS, "orca"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("legs-not-in", CS, "orca"), LG_TERM_IN);
    cr_expect_eq(chk("legs-not-in", CS, "dog"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("has-sound", CS, "dog"), LG_TERM_IN);
    cr_expect_eq(chk("has-sound", CS, "bat"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("kids-of-bird", CS, "eagle"), LG_TERM_IN);
    cr_expect_eq(chk("kids-of-bird", CS, "bird"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("two-filters", CS, "bat"), LG_TERM_IN, "filters are and-ed");
    cr_expect_eq(chk("two-filters", CS, "dog"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("two-filters", CS, "eagle"), LG_TERM_NOT_IN);
    /* an unsupported filter leaves the system undecided, never IN */
    const char *why = NULL;
    cr_expect_eq(lg_terminology_check(T, VSU "regex", CS, "dog", &why), LG_TERM_UNKNOWN);
    cr_assert_not_null(why);
    cr_expect(strstr(why, "regex"), "%s", why);
    cr_expect_eq(chk("regex", "http://other.org", "dog"), LG_TERM_NOT_IN);
}

Test(terminology_compose, enumerated_codes_of_unheld_systems_decide)
{
    add_vs("pronouns", "{\"include\":[{\"system\":\"http://loinc.org\",\"concept\":["
                       "{\"code\":\"LA29518-0\"},{\"code\":\"LA29519-8\"}]}]}");
    add_json(animals);
    add_vs("enum-checked", "{\"include\":[{\"system\":\"" CS "\",\"concept\":["
                           "{\"code\":\"dog\"},{\"code\":\"unicorn\"}]}]}");
    seal();
    cr_expect_eq(chk("pronouns", "http://loinc.org", "LA29518-0"), LG_TERM_IN);
    cr_expect_eq(chk("pronouns", "http://loinc.org", "LA29520-6"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("pronouns", NULL, "LA29519-8"), LG_TERM_IN);
    /* a listed code the complete CodeSystem does not define is no value */
    cr_expect_eq(chk("enum-checked", CS, "dog"), LG_TERM_IN);
    cr_expect_eq(chk("enum-checked", CS, "unicorn"), LG_TERM_NOT_IN);
}

Test(terminology_compose, undecidable_exclude)
{
    /* some LOINC codes listed, then everything below a LOINC part excluded:
     * without LOINC we cannot tell whether the listed codes survive */
    add_json(animals);
    add_vs("minus-loinc", "{\"include\":[{\"system\":\"http://loinc.org\",\"concept\":["
                          "{\"code\":\"1-8\"}]},{\"system\":\"" CS "\",\"concept\":["
                          "{\"code\":\"dog\"},{\"code\":\"bat\"}]}],"
                          "\"exclude\":[{\"system\":\"http://loinc.org\",\"filter\":[{\"property\":"
                          "\"parent\",\"op\":\"=\",\"value\":\"LP1\"}]},"
                          "{\"system\":\"" CS "\",\"concept\":[{\"code\":\"bat\"}]}]}");
    seal();
    cr_expect_eq(chk("minus-loinc", "http://loinc.org", "1-8"), LG_TERM_UNKNOWN);
    cr_expect_eq(chk("minus-loinc", "http://loinc.org", "2-9"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("minus-loinc", CS, "dog"), LG_TERM_IN);
    cr_expect_eq(chk("minus-loinc", CS, "bat"), LG_TERM_NOT_IN);
    lg_terminology_stats s;
    lg_terminology_stats_get(T, &s);
    cr_expect_eq(s.vs_partial, 1);
}

Test(terminology_compose, imports_union_intersection_cycles)
{
    add_json(animals);
    add_vs("mammals", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"concept\","
                      "\"op\":\"is-a\",\"value\":\"mammal\"}]}]}");
    add_vs("two-legs", "{\"include\":[{\"system\":\"" CS "\",\"filter\":[{\"property\":\"legs\","
                       "\"op\":\"=\",\"value\":\"2\"}]}]}");
    add_vs("both", "{\"include\":[{\"valueSet\":[\"" VSU "mammals\",\"" VSU "two-legs\"]}]}");
    add_vs("either", "{\"include\":[{\"valueSet\":[\"" VSU "mammals\"]},{\"valueSet\":[\"" VSU
                     "two-legs\"]}]}");
    add_vs("mammals-but-dog", "{\"include\":[{\"valueSet\":[\"" VSU "mammals|1.0\"]}],"
                              "\"exclude\":[{\"system\":\"" CS "\",\"concept\":[{\"code\":\"dog\"}]}]}");
    add_vs("cycle-a", "{\"include\":[{\"valueSet\":[\"" VSU "cycle-b\"]},{\"system\":\"" CS
                      "\",\"concept\":[{\"code\":\"dog\"}]}]}");
    add_vs("cycle-b", "{\"include\":[{\"valueSet\":[\"" VSU "cycle-a\"]}]}");
    add_vs("self", "{\"include\":[{\"valueSet\":[\"" VSU "self\"]}]}");
    add_vs("missing", "{\"include\":[{\"valueSet\":[\"" VSU "nowhere\"]}]}");
    seal();
    cr_expect_eq(chk("both", CS, "bat"), LG_TERM_IN);
    cr_expect_eq(chk("both", CS, "dog"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("both", CS, "eagle"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("either", CS, "dog"), LG_TERM_IN);
    cr_expect_eq(chk("either", CS, "bird"), LG_TERM_IN);
    cr_expect_eq(chk("either", CS, "eagle"), LG_TERM_NOT_IN, "no legs property, not a mammal");
    cr_expect_eq(chk("either", CS, "flyer"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("mammals-but-dog", CS, "dog"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("mammals-but-dog", CS, "orca"), LG_TERM_IN);
    /* cycles end, are reported, and answer UNKNOWN rather than IN or NOT_IN
     * for what the cycle would have decided */
    size_t warnings = 0;
    for(size_t i = 0; i < IS.count; i++)
        warnings += strstr(IS.items[i].diagnostics, "cyclic") != NULL;
    cr_expect_geq(warnings, 2);
    cr_expect_eq(chk("cycle-a", CS, "dog"), LG_TERM_IN, "the decided part still answers");
    cr_expect_eq(chk("self", CS, "dog"), LG_TERM_UNKNOWN);
    cr_expect_eq(chk("missing", CS, "dog"), LG_TERM_UNKNOWN);
    const char *why = NULL;
    cr_expect_eq(lg_terminology_check(T, VSU "missing", "http://x.org", "x", &why),
                 LG_TERM_UNKNOWN);
    cr_assert_not_null(why);
    cr_expect(strstr(why, "nowhere"), "%s", why);
}

Test(terminology_compose, case_insensitive_and_versions)
{
    add_json("{\"resourceType\":\"CodeSystem\",\"url\":\"http://e.org/ci\",\"content\":"
             "\"complete\",\"caseSensitive\":false,\"concept\":[{\"code\":\"Alpha\"},"
             "{\"code\":\"beta\"}]}");
    add_json("{\"resourceType\":\"ValueSet\",\"url\":\"" VSU "v\",\"version\":\"1\","
             "\"compose\":{\"include\":[{\"system\":\"http://e.org/ci\",\"concept\":"
             "[{\"code\":\"alpha\"}]}]}}");
    add_json("{\"resourceType\":\"ValueSet\",\"url\":\"" VSU "v\",\"version\":\"2\","
             "\"compose\":{\"include\":[{\"system\":\"http://e.org/ci\"}]}}");
    seal();
    cr_expect_eq(chk("v", "http://e.org/ci", "ALPHA"), LG_TERM_IN);
    cr_expect_eq(chk("v", "http://e.org/ci", "Beta"), LG_TERM_IN, "version 2 is the last added");
    cr_expect_eq(chk("v|1", "http://e.org/ci", "Beta"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("v|1", "http://e.org/ci", "alpha"), LG_TERM_IN);
    cr_expect_eq(chk("v|2", NULL, "bEtA"), LG_TERM_IN);
    cr_expect_eq(chk("v|2", "http://e.org/ci", "gamma"), LG_TERM_NOT_IN);
}

Test(terminology_compose, expansion_only_and_partial_systems)
{
    add_json("{\"resourceType\":\"ValueSet\",\"url\":\"" VSU "expanded\",\"expansion\":{"
             "\"timestamp\":\"2026-01-01\",\"contains\":[{\"system\":\"http://s.org\",\"code\":"
             "\"a\"},{\"abstract\":true,\"system\":\"http://s.org\",\"code\":\"grp\",\"contains\":"
             "[{\"system\":\"http://s.org\",\"code\":\"b\"}]}]}}");
    add_json("{\"resourceType\":\"ValueSet\",\"url\":\"" VSU "paged\",\"expansion\":{"
             "\"timestamp\":\"2026-01-01\",\"total\":50,\"offset\":0,\"contains\":[{\"system\":"
             "\"http://loinc.org\",\"code\":\"a\"}]},\"compose\":{\"include\":[{\"system\":"
             "\"http://loinc.org\"}]}}");
    add_json("{\"resourceType\":\"CodeSystem\",\"url\":\"http://e.org/frag\",\"content\":"
             "\"fragment\",\"concept\":[{\"code\":\"x\"}]}");
    /* the later complete version of a url replaces the fragment; an example
     * version added after a complete one does not replace it */
    add_json("{\"resourceType\":\"CodeSystem\",\"url\":\"http://e.org/full\",\"content\":"
             "\"complete\",\"concept\":[{\"code\":\"x\"},{\"code\":\"y\"}]}");
    add_json("{\"resourceType\":\"CodeSystem\",\"url\":\"http://e.org/full\",\"content\":"
             "\"example\",\"concept\":[{\"code\":\"x\"}]}");
    add_vs("frag", "{\"include\":[{\"system\":\"http://e.org/frag\"}]}");
    add_vs("full", "{\"include\":[{\"system\":\"http://e.org/full\"}]}");
    seal();
    cr_expect_eq(chk("expanded", "http://s.org", "a"), LG_TERM_IN);
    cr_expect_eq(chk("expanded", "http://s.org", "b"), LG_TERM_IN);
    cr_expect_eq(chk("expanded", "http://s.org", "grp"), LG_TERM_NOT_IN, "abstract entry");
    cr_expect_eq(chk("expanded", "http://s.org", "c"), LG_TERM_NOT_IN);
    cr_expect_eq(chk("paged", "http://loinc.org", "a"), LG_TERM_UNKNOWN,
                 "an expansion of 1 of 50 codes decides nothing");
    cr_expect_eq(chk("frag", "http://e.org/frag", "x"), LG_TERM_IN);
    cr_expect_eq(chk("frag", "http://e.org/frag", "z"), LG_TERM_UNKNOWN);
    cr_expect_eq(chk("full", "http://e.org/full", "y"), LG_TERM_IN);
    cr_expect_eq(chk("full", "http://e.org/full", "z"), LG_TERM_NOT_IN);
}

/* A CodeSystem of n codes named prefix0..prefix(n-1). Caller frees. */
static cJSON *big_cs(const char *url, const char *prefix, int n)
{
    cJSON *cs = cJSON_CreateObject(), *list = cJSON_CreateArray();
    char code[64];
    cJSON_AddStringToObject(cs, "resourceType", "CodeSystem");
    cJSON_AddStringToObject(cs, "url", url);
    cJSON_AddStringToObject(cs, "content", "complete");
    for(int i = 0; i < n; i++) {
        cJSON *c = cJSON_CreateObject();
        snprintf(code, sizeof(code), "%s%d", prefix, i);
        cJSON_AddStringToObject(c, "code", code);
        cJSON_AddItemToArray(list, c);
    }
    cJSON_AddItemToObject(cs, "concept", list);
    return cs;
}

Test(terminology_compose, size_bound, .timeout = 120)
{
    cJSON *a = big_cs("http://e.org/a", "a", 60000), *b = big_cs("http://e.org/b", "b", 60000);
    cr_assert_eq(lg_terminology_add(T, a, &IS), LG_OK);
    cr_assert_eq(lg_terminology_add(T, b, &IS), LG_OK);
    cJSON_Delete(a);
    cJSON_Delete(b);
    add_vs("a", "{\"include\":[{\"system\":\"http://e.org/a\"}]}");
    add_vs("huge", "{\"include\":[{\"system\":\"http://e.org/a\"},{\"system\":\"http://e.org/b\"}]}");
    seal();
    cr_expect_eq(chk("a", "http://e.org/a", "a59999"), LG_TERM_IN);
    cr_expect_eq(chk("a", "http://e.org/a", "a60000"), LG_TERM_NOT_IN);
    const char *why = NULL;
    cr_expect_eq(lg_terminology_check(T, VSU "huge", "http://e.org/a", "a1", &why),
                 LG_TERM_UNKNOWN);
    cr_assert_not_null(why);
    cr_expect(strstr(why, "100000"), "%s", why);
    int reported = 0;
    for(size_t i = 0; i < IS.count; i++)
        reported |= IS.items[i].severity == LG_SEV_WARNING &&
                    strstr(IS.items[i].diagnostics, "huge") != NULL;
    cr_expect(reported);
}

Test(terminology_compose, errors)
{
    lg_issues is = {0};
    cJSON *pat = cJSON_Parse("{\"resourceType\":\"Patient\"}");
    cJSON *nourl = cJSON_Parse("{\"resourceType\":\"ValueSet\",\"compose\":{}}");
    cJSON *bundle = cJSON_Parse("{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":"
                                "{\"resourceType\":\"Patient\"}},{\"resource\":{\"resourceType\":"
                                "\"ValueSet\",\"url\":\"" VSU "in-bundle\",\"compose\":{\"include\":"
                                "[{\"system\":\"http://s.org\",\"concept\":[{\"code\":\"a\"}]}]}}}]}");
    cr_assert(pat && nourl && bundle);
    cr_expect_eq(lg_terminology_add(T, pat, &is), LG_EINVAL);
    cr_expect_eq(lg_issues_errors(&is), 1);
    cr_expect_eq(lg_terminology_add(T, nourl, &is), LG_OK);
    cr_expect_eq(is.count, 2);
    cr_expect_eq(is.items[1].severity, LG_SEV_WARNING);
    cr_expect_eq(lg_terminology_add(T, bundle, &is), LG_OK);
    cr_expect_eq(is.count, 2, "other Bundle entries are skipped silently");
    /* before seal nothing is decided */
    cr_expect_eq(chk("in-bundle", "http://s.org", "a"), LG_TERM_UNKNOWN);
    cr_expect_eq(lg_terminology_load_r4(T, "/nonexistent-dir", &is), LG_EIO);
    cr_expect_eq(lg_issues_errors(&is), 2);
    seal();
    cr_expect_eq(chk("in-bundle", "http://s.org", "a"), LG_TERM_IN);
    cr_expect_eq(lg_terminology_check(T, VSU "in-bundle", "http://s.org", NULL, NULL),
                 LG_TERM_UNKNOWN);
    cr_expect_eq(lg_terminology_check(T, NULL, "http://s.org", "a", NULL), LG_TERM_UNKNOWN);
    cr_expect_eq(lg_terminology_check(NULL, VSU "in-bundle", "http://s.org", "a", NULL),
                 LG_TERM_UNKNOWN);
    /* a code longer than any held code is simply not a member */
    char *long_code = malloc(LG_TERM_MAX_TEXT * 2);
    cr_assert_not_null(long_code);
    memset(long_code, 'a', LG_TERM_MAX_TEXT * 2 - 1);
    long_code[LG_TERM_MAX_TEXT * 2 - 1] = '\0';
    cr_expect_eq(chk("in-bundle", "http://s.org", long_code), LG_TERM_NOT_IN);
    free(long_code);
    lg_terminology_free(NULL);
    cJSON_Delete(pat);
    cJSON_Delete(nourl);
    cJSON_Delete(bundle);
    lg_issues_free(&is);
}

/* Over-long urls and codes in definitions are skipped, never fatal. */
Test(terminology_compose, overlong_definitions)
{
    size_t n = LG_TERM_MAX_TEXT + 100;
    char *big = malloc(n + 1), *json = malloc(4 * n + 1024);
    cr_assert(big && json);
    memset(big, 'z', n);
    big[n] = '\0';
    snprintf(json, 4 * n + 1024,
             "{\"resourceType\":\"CodeSystem\",\"url\":\"http://e.org/long\",\"content\":"
             "\"complete\",\"valueSet\":\"%s\",\"concept\":[{\"code\":\"%s\"},{\"code\":"
             "\"ok\",\"property\":[{\"code\":\"%s\",\"valueString\":\"%s\"}]}]}",
             big, big, big, big);
    add_json(json);
    snprintf(json, 4 * n + 1024,
             "{\"include\":[{\"system\":\"%s\"},{\"system\":\"http://e.org/long\","
             "\"concept\":[{\"code\":\"%s\"},{\"code\":\"ok\"}]}]}",
             big, big);
    add_vs("long", json);
    seal();
    cr_expect_eq(chk("long", "http://e.org/long", "ok"), LG_TERM_IN);
    cr_expect_eq(chk("long", "http://e.org/long", big), LG_TERM_UNKNOWN,
                 "the over-long system could be anything");
    free(big);
    free(json);
}
