/* Unit tests for the terminology layer with IG packages on top of base R4:
 * every CodeSystem-*.json and ValueSet-*.json of SDOH Clinical Care 3.0.0
 * and US Core 7.0.0 (from LG_SHARED_DIR), added one by one, as the
 * profile validator will load them. */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "loopgate/json.h"
#include "loopgate/terminology.h"
#include "lg_test.h"

static lg_terminology *T;
static size_t added;

/* Parse one package file with the gateway's bounded parser and add it. */
static void add_file(const char *path, lg_issues *is)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = malloc(4u << 20);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, 4u << 20, f);
    fclose(f);
    cr_assert_lt(n, 4u << 20, "%s is unexpectedly large", path);
    cJSON *r = NULL;
    cr_assert_eq(lg_json_parse(buf, n, &lg_json_default_limits, &r, is), LG_OK, "%s", path);
    free(buf);
    cr_assert_eq(lg_terminology_add(T, r, is), LG_OK, "%s", path);
    cJSON_Delete(r);
    added++;
}

static void add_glob(const char *pattern, lg_issues *is)
{
    glob_t g;
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "nothing matches %s", pattern);
    for(size_t i = 0; i < g.gl_pathc; i++)
        add_file(g.gl_pathv[i], is);
    globfree(&g);
}

static void load(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_terminology_new(&T), LG_OK);
    cr_assert_eq(lg_terminology_load_r4(T, lg_test_defs_dir(), &is), LG_OK);
    added = 0;
    add_glob(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.core#7.0.0/package/CodeSystem-*.json", &is);
    add_glob(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.core#7.0.0/package/ValueSet-*.json", &is);
    add_glob(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/"
                           "CodeSystem-*.json", &is);
    add_glob(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/"
                           "ValueSet-*.json", &is);
    cr_assert_eq(lg_terminology_seal(T, &is), LG_OK);
    cr_expect_eq(lg_issues_errors(&is), 0);
    lg_issues_free(&is);
}

static void unload(void)
{
    lg_terminology_free(T);
}

TestSuite(terminology_ig, .init = load, .fini = unload);

#define SDOH_VS(name) "http://hl7.org/fhir/us/sdoh-clinicalcare/ValueSet/SDOHCC-ValueSet" name
#define SDOH_CS "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
#define USC_VS(name) "http://hl7.org/fhir/us/core/ValueSet/" name
#define TASK "http://hl7.org/fhir/task-status"

static lg_term_result chk(const char *vs, const char *sys, const char *code)
{
    return lg_terminology_check(T, vs, sys, code, NULL);
}

Test(terminology_ig, all_files_load)
{
    lg_terminology_stats s;
    lg_terminology_stats_get(T, &s);
    cr_expect_eq(added, 45, "27 US Core + 18 SDOHCC files");
    cr_expect_eq(s.valuesets, 1317 + 22 + 17);
}

Test(terminology_ig, referral_task_status_imports_and_excludes)
{
    /* = R4 task-status minus ready and received */
    const char *vs = SDOH_VS("ReferralTaskStatus");
    cr_expect_eq(chk(vs, TASK, "requested"), LG_TERM_IN);
    cr_expect_eq(chk(vs, TASK, "accepted"), LG_TERM_IN);
    cr_expect_eq(chk(vs, TASK, "completed"), LG_TERM_IN);
    cr_expect_eq(chk(vs, TASK, "ready"), LG_TERM_NOT_IN);
    cr_expect_eq(chk(vs, TASK, "received"), LG_TERM_NOT_IN);
    cr_expect_eq(chk(vs, NULL, "received"), LG_TERM_NOT_IN);
    cr_expect_eq(chk(vs, NULL, "draft"), LG_TERM_IN);
    /* the enumerated CBO-side status set */
    cr_expect_eq(chk(SDOH_VS("TaskStatus"), TASK, "ready"), LG_TERM_IN);
    cr_expect_eq(chk(SDOH_VS("TaskStatus"), TASK, "draft"), LG_TERM_NOT_IN);
    cr_expect_eq(chk(SDOH_VS("TaskPriority"), "http://hl7.org/fhir/request-priority", "urgent"),
                 LG_TERM_IN);
    cr_expect_eq(chk(SDOH_VS("TaskPriority"), "http://hl7.org/fhir/request-priority", "stat"),
                 LG_TERM_NOT_IN);
}

Test(terminology_ig, sdoh_temporary_codes)
{
    cr_expect_eq(chk(SDOH_VS("SDOHCategory"), SDOH_CS, "food-insecurity"), LG_TERM_IN);
    cr_expect_eq(chk(SDOH_VS("SDOHCategory"), SDOH_CS, "housing-instability"), LG_TERM_IN);
    cr_expect_eq(chk(SDOH_VS("SDOHCategory"), SDOH_CS, "self-reported"), LG_TERM_NOT_IN,
                 "a temporary code of another set");
    cr_expect_eq(chk(SDOH_VS("ObservationMethod"), SDOH_CS, "self-reported"), LG_TERM_IN);
    /* version 7.0.0 of us-core-category is named; the held one is used */
    cr_expect_eq(chk(SDOH_VS("ServiceCategory"), "http://hl7.org/fhir/us/core/CodeSystem/"
                                                 "us-core-category", "sdoh"),
                 LG_TERM_IN);
}

Test(terminology_ig, external_systems)
{
    const char *why = NULL;
    /* enumerated LOINC answers are decided without LOINC */
    cr_expect_eq(chk(SDOH_VS("PronounsValue"), "http://loinc.org", "LA29518-0"), LG_TERM_IN);
    cr_expect_eq(chk(SDOH_VS("PronounsValue"), "http://loinc.org", "LA00000-0"), LG_TERM_NOT_IN);
    cr_expect_eq(chk(SDOH_VS("PronounsValue"),
                     "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK"), LG_TERM_IN);
    /* all of LOINC and SNOMED CT */
    cr_expect_eq(lg_terminology_check(T, SDOH_VS("LOINCSNOMEDCT"), "http://snomed.info/sct",
                                      "445281000124101", &why),
                 LG_TERM_UNKNOWN);
    cr_assert_not_null(why);
    cr_expect(strstr(why, "snomed"), "the reason names the missing system: %s", why);
    cr_expect_eq(lg_terminology_check(T, SDOH_VS("LOINCSNOMEDCT"), "http://loinc.org", "88122-7",
                                      &why),
                 LG_TERM_UNKNOWN);
    cr_assert_not_null(why);
    cr_expect(strstr(why, "loinc"), "the reason names the missing system: %s", why);
    cr_expect_eq(chk(SDOH_VS("LOINCSNOMEDCT"), "http://example.org", "1"), LG_TERM_NOT_IN);
    /* CDC race and ethnicity codes, enumerated */
    cr_expect_eq(chk(SDOH_VS("OMBRaceCategories"), "urn:oid:2.16.840.1.113883.6.238", "2028-9"),
                 LG_TERM_IN);
    cr_expect_eq(chk(SDOH_VS("OMBRaceCategories"), "urn:oid:2.16.840.1.113883.6.238", "2135-2"),
                 LG_TERM_NOT_IN, "an ethnicity code");
    /* US Core's OMB sets import VSAC sets that are not held */
    cr_expect_eq(chk(USC_VS("omb-race-category"), "urn:oid:2.16.840.1.113883.6.238", "2028-9"),
                 LG_TERM_UNKNOWN);
    cr_expect_eq(chk(USC_VS("us-core-usps-state"), "https://www.usps.com/", "CA"),
                 LG_TERM_UNKNOWN);
}

Test(terminology_ig, us_core_sets)
{
    const char *cat = USC_VS("us-core-simple-observation-category");
    cr_expect_eq(chk(cat, "http://hl7.org/fhir/us/core/CodeSystem/us-core-category", "sdoh"),
                 LG_TERM_IN);
    cr_expect_eq(chk(cat, "http://terminology.hl7.org/CodeSystem/observation-category",
                     "survey"),
                 LG_TERM_IN);
    cr_expect_eq(chk(cat, "http://terminology.hl7.org/CodeSystem/observation-category", "nope"),
                 LG_TERM_NOT_IN);
    /* a system written with a |version suffix still resolves */
    cr_expect_eq(chk(USC_VS("us-core-provenance-participant-type"),
                     "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                     "author"),
                 LG_TERM_IN);
    cr_expect_eq(chk(USC_VS("us-core-provenance-participant-type"),
                     "http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type",
                     "transmitter"),
                 LG_TERM_IN);
    cr_expect_eq(chk(USC_VS("us-core-narrative-status"), NULL, "generated"), LG_TERM_IN);
    cr_expect_eq(chk(USC_VS("us-core-narrative-status"), NULL, "empty"), LG_TERM_NOT_IN);
    /* a LOINC property filter cannot be decided */
    cr_expect_eq(chk(USC_VS("us-core-documentreference-type"), "http://loinc.org", "18842-5"),
                 LG_TERM_UNKNOWN);
    cr_expect_eq(chk(USC_VS("us-core-documentreference-type"),
                     "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK"),
                 LG_TERM_IN);
}
