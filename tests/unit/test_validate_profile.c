/* test_validate_profile.c - profile validation (lg_validate_full): every
 * SDOHCC example conforms to the profiles it claims, every official R4
 * example still passes, and one mutation per rule of a valid SDOHCC
 * ServiceRequest / Task is refused with the exact severity and location. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/profile.h"
#include "loopgate/validate.h"
#include "lg_test.h"

#define PKG_DIR LG_SHARED_DIR "/fhir/packages/"
#define USCORE PKG_DIR "hl7.fhir.us.core#7.0.0"
#define SDOHCC PKG_DIR "hl7.fhir.us.sdoh-clinicalcare#3.0.0"
#define SDOH_SD "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"

static lg_defs *D;

#define TEST_SD "http://loopgate.test/StructureDefinition/"

/* A small profile added at start-up: the IGs at hand slice nothing
 * closed, openAtEnd or ordered, so this one does. */
static const char test_profile[] =
    "{\"resourceType\":\"StructureDefinition\",\"url\":\"" TEST_SD "SlicedPatient\","
    "\"name\":\"SlicedPatient\",\"kind\":\"resource\",\"abstract\":false,\"type\":\"Patient\","
    "\"baseDefinition\":\"http://hl7.org/fhir/StructureDefinition/Patient\","
    "\"derivation\":\"constraint\",\"snapshot\":{\"element\":["
    "{\"id\":\"Patient\",\"path\":\"Patient\",\"min\":0,\"max\":\"*\"},"
    "{\"id\":\"Patient.identifier\",\"path\":\"Patient.identifier\",\"min\":0,\"max\":\"*\","
    "\"base\":{\"path\":\"Patient.identifier\",\"min\":0,\"max\":\"*\"},"
    "\"type\":[{\"code\":\"Identifier\"}],\"slicing\":{\"discriminator\":[{\"type\":\"value\","
    "\"path\":\"system\"}],\"rules\":\"closed\"}},"
    "{\"id\":\"Patient.identifier:mrn\",\"path\":\"Patient.identifier\",\"sliceName\":\"mrn\","
    "\"min\":1,\"max\":\"1\",\"base\":{\"path\":\"Patient.identifier\",\"min\":0,\"max\":\"*\"},"
    "\"type\":[{\"code\":\"Identifier\"}]},"
    "{\"id\":\"Patient.identifier:mrn.system\",\"path\":\"Patient.identifier.system\",\"min\":1,"
    "\"max\":\"1\",\"base\":{\"path\":\"Identifier.system\",\"min\":0,\"max\":\"1\"},"
    "\"type\":[{\"code\":\"uri\"}],\"fixedUri\":\"urn:test:mrn\"},"
    "{\"id\":\"Patient.identifier:nhs\",\"path\":\"Patient.identifier\",\"sliceName\":\"nhs\","
    "\"min\":0,\"max\":\"1\",\"base\":{\"path\":\"Patient.identifier\",\"min\":0,\"max\":\"*\"},"
    "\"type\":[{\"code\":\"Identifier\"}]},"
    "{\"id\":\"Patient.identifier:nhs.system\",\"path\":\"Patient.identifier.system\",\"min\":1,"
    "\"max\":\"1\",\"base\":{\"path\":\"Identifier.system\",\"min\":0,\"max\":\"1\"},"
    "\"type\":[{\"code\":\"uri\"}],\"fixedUri\":\"urn:test:nhs\"},"
    "{\"id\":\"Patient.name\",\"path\":\"Patient.name\",\"min\":1,\"max\":\"*\","
    "\"base\":{\"path\":\"Patient.name\",\"min\":0,\"max\":\"*\"},\"type\":[{\"code\":\"HumanName\"}],"
    "\"constraint\":[{\"key\":\"tst-1\",\"severity\":\"error\",\"human\":\"A name has a family name\","
    "\"expression\":\"family.exists()\"}]},"
    "{\"id\":\"Patient.telecom\",\"path\":\"Patient.telecom\",\"min\":0,\"max\":\"*\","
    "\"base\":{\"path\":\"Patient.telecom\",\"min\":0,\"max\":\"*\"},"
    "\"type\":[{\"code\":\"ContactPoint\"}],\"slicing\":{\"discriminator\":[{\"type\":\"value\","
    "\"path\":\"system\"}],\"rules\":\"openAtEnd\",\"ordered\":true}},"
    "{\"id\":\"Patient.telecom:phone\",\"path\":\"Patient.telecom\",\"sliceName\":\"phone\","
    "\"min\":0,\"max\":\"1\",\"type\":[{\"code\":\"ContactPoint\"}]},"
    "{\"id\":\"Patient.telecom:phone.system\",\"path\":\"Patient.telecom.system\",\"min\":1,"
    "\"max\":\"1\",\"type\":[{\"code\":\"code\"}],\"fixedCode\":\"phone\"},"
    "{\"id\":\"Patient.telecom:email\",\"path\":\"Patient.telecom\",\"sliceName\":\"email\","
    "\"min\":0,\"max\":\"1\",\"type\":[{\"code\":\"ContactPoint\"}]},"
    "{\"id\":\"Patient.telecom:email.system\",\"path\":\"Patient.telecom.system\",\"min\":1,"
    "\"max\":\"1\",\"type\":[{\"code\":\"code\"}],\"fixedCode\":\"email\"}"
    "]}}";

static void load(void)
{
    lg_issues is = {0};
    lg_status st = lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &D, &is);
    if(!st)
        st = lg_defs_load_package(D, USCORE, &is);
    if(!st)
        st = lg_defs_load_package(D, SDOHCC, &is);
    cJSON *sd = cJSON_Parse(test_profile);
    cr_assert_not_null(sd);
    if(!st)
        st = lg_defs_add_profile(D, sd, &is);
    cJSON_Delete(sd);
    if(!st)
        st = lg_defs_load_terminology(D, lg_test_defs_dir(), &is);
    for(size_t i = 0; st && i < is.count; i++)
        fprintf(stderr, "%s\n", is.items[i].diagnostics);
    lg_issues_free(&is);
    cr_assert_eq(st, LG_OK, "definitions and packages load");
}

static void unload(void)
{
    lg_defs_free(D);
    D = NULL;
}

TestSuite(profile, .init = load, .fini = unload, .timeout = 300);

static cJSON *read_json(const char *path)
{
    char *text = lg_test_read_text(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    cJSON *j = NULL;
    lg_issues is = {0};
    lg_json_limits lim = lg_json_default_limits;
    lim.max_bytes = 64u << 20;
    cr_assert_eq(lg_json_parse(text, strlen(text), &lim, &j, &is), LG_OK, "%s parses", path);
    lg_issues_free(&is);
    free(text);
    return j;
}

static void dump(const char *what, const lg_issues *is)
{
    static const char *sev[] = {"fatal", "error", "warning", "information"};
    for(size_t i = 0; i < is->count; i++)
        fprintf(stderr, "%s: %s %s: %s\n", what, sev[is->items[i].severity],
                is->items[i].location ? is->items[i].location : "-", is->items[i].diagnostics);
}

static int is_definition(const char *rt)
{
    return !rt || !strcmp(rt, "StructureDefinition") || !strcmp(rt, "ValueSet") ||
           !strcmp(rt, "CodeSystem") || !strcmp(rt, "CapabilityStatement") ||
           !strcmp(rt, "SearchParameter") || !strcmp(rt, "ImplementationGuide") ||
           !strcmp(rt, "OperationDefinition");
}

/* Validate every instance in dir with lg_validate_full; returns how many
 * were checked, adds failures to *bad and instances that claim a profile
 * to *claimed. */
static int sweep(const char *dir, int *bad, int *claimed)
{
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh, "cannot open %s", dir);
    struct dirent *de;
    int n = 0;
    while((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if(nl < 6 || strcmp(de->d_name + nl - 5, ".json") || !strcmp(de->d_name, "package.json") ||
           de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cJSON *j = read_json(path);
        const char *rt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "resourceType"));
        if(is_definition(rt)) {
            cJSON_Delete(j);
            continue;
        }
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "meta"), "profile");
        if(claimed && cJSON_GetArraySize(mp) > 0)
            (*claimed)++;
        lg_issues is = {0};
        lg_status st = lg_validate_full(D, j, NULL, 0, &is);
        /* really invalid (see test_validate_structure.c): nested items
         * without linkId; must still fail */
        if(getenv("LG_TEST_VERBOSE"))
            dump(de->d_name, &is);
        if(!strcmp(de->d_name, "Questionnaire-qs1.json")) {
            cr_expect_eq(st, LG_EINVAL, "Questionnaire-qs1 is known to be invalid");
        } else if(st != LG_OK || lg_issues_errors(&is)) {
            (*bad)++;
            dump(de->d_name, &is);
        }
        lg_issues_free(&is);
        cJSON_Delete(j);
        n++;
    }
    closedir(dh);
    return n;
}

Test(profile, packages_loaded)
{
    cr_assert_not_null(lg_defs_profile(D, SDOH_SD "SDOHCC-ServiceRequest"));
    cr_assert_not_null(lg_defs_profile(D, SDOH_SD "SDOHCC-TaskForReferralManagement|3.0.0"));
    cr_assert_not_null(
        lg_defs_profile(D, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"));
    cr_assert_not_null(lg_defs_base_profile(D, "Patient"));
}

Test(profile, sdohcc_examples_conform)
{
    int bad = 0, claimed = 0;
    int n = sweep(SDOHCC "/package", &bad, &claimed);
    fprintf(stderr, "SDOHCC examples: %d checked, %d claim profiles, %d with errors\n", n, claimed,
            bad);
    cr_assert_geq(n, 65);
    cr_assert_geq(claimed, 65);
    cr_expect_eq(bad, 0, "%d SDOHCC examples fail their profiles", bad);
}

Test(profile, r4_examples_still_pass)
{
    int bad = 0;
    int n = sweep(LG_SHARED_DIR "/fhir/r4-examples", &bad, NULL);
    fprintf(stderr, "R4 examples: %d checked, %d with errors\n", n, bad);
    cr_assert_geq(n, 50);
    cr_expect_eq(bad, 0, "%d R4 examples fail base validation", bad);
}

/* ---- mutations: one broken rule each, on valid SDOHCC examples ---- */

#define TASK_EX SDOHCC "/package/Task-SDOHCC-TaskReferralManagementOrderFulfillmentCompletedExample.json"
#define SR_EX SDOHCC "/package/ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json"
#define CONSENT_EX SDOHCC "/package/Consent-SDOHCC-ConsentInformationDisclosureExample.json"

static cJSON *example(const char *path)
{
    cJSON *j = read_json(path);
    lg_issues is = {0};
    lg_status st = lg_validate_full(D, j, NULL, 0, &is);
    if(st)
        dump(path, &is);
    cr_assert_eq(st, LG_OK, "the unbroken example conforms");
    cr_assert_eq(lg_issues_errors(&is), 0);
    lg_issues_free(&is);
    return j;
}

/* Validate j, expect status st and an issue of severity sev at loc whose
 * message contains text. */
static void expect_issue(cJSON *j, lg_status st, lg_severity sev, const char *loc,
                         const char *text)
{
    lg_issues is = {0};
    lg_status got = lg_validate_full(D, j, NULL, 0, &is);
    int found = 0;
    for(size_t i = 0; i < is.count && !found; i++)
        found = is.items[i].severity == sev && is.items[i].location &&
                !strcmp(is.items[i].location, loc) &&
                strstr(is.items[i].diagnostics, text) != NULL;
    if(!found || got != st)
        dump("mutation", &is);
    cr_expect_eq(got, st, "status %d, expected %d", got, st);
    cr_expect(found, "no issue of severity %d at %s mentioning '%s'", sev, loc, text);
    lg_issues_free(&is);
    cJSON_Delete(j);
}

static void set_str(cJSON *obj, const char *key, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddStringToObject(obj, key, v);
}

static cJSON *get(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert_not_null(v, "example has %s", key);
    return v;
}

Test(profile, cardinality_tightened_by_profile)
{
    cJSON *t = example(TASK_EX);
    cJSON_DeleteItemFromObjectCaseSensitive(t, "authoredOn"); /* 0..1 in R4, 1..1 here */
    expect_issue(t, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Task.authoredOn", "minimum required = 1");
}

Test(profile, max_zero_in_profile)
{
    cJSON *sr = example(SR_EX);
    cJSON *spec = cJSON_AddArrayToObject(sr, "specimen");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "reference", "Specimen/s1");
    cJSON_AddItemToArray(spec, r);
    expect_issue(sr, LG_EUNPROCESSABLE, LG_SEV_ERROR, "ServiceRequest.specimen",
                 "maximum allowed = 0");
}

Test(profile, fixed_value)
{
    cJSON *t = example(TASK_EX);
    set_str(t, "intent", "plan"); /* a valid R4 code, but fixedCode order */
    expect_issue(t, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Task.intent", "fixed value \"order\"");
}

Test(profile, pattern_value)
{
    cJSON *t = example(TASK_EX);
    cJSON *coding = cJSON_GetArrayItem(get(get(t, "code"), "coding"), 0);
    set_str(coding, "code", "approve");
    expect_issue(t, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Task.code", "pattern value");
}

Test(profile, reference_target_type)
{
    cJSON *t = example(TASK_EX);
    set_str(get(t, "focus"), "reference", "Patient/pat-53234");
    expect_issue(t, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Task.focus",
                 "points to a Patient, but profile SDOHCCTaskForReferralManagement allows only "
                 "ServiceRequest (SDOHCCServiceRequest)");
}

Test(profile, reference_target_in_slice)
{
    /* output:PerformedActivityReference.valueReference targets SDOHCC-Procedure */
    cJSON *t = example(TASK_EX);
    cJSON *out = cJSON_GetArrayItem(get(t, "output"), 0);
    set_str(get(out, "valueReference"), "reference", "Observation/o1");
    expect_issue(t, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Task.output[0].valueReference",
                 "points to a Observation");
}

Test(profile, reference_to_contained)
{
    cJSON *t = example(TASK_EX);
    cJSON *contained = cJSON_AddArrayToObject(t, "contained");
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "resourceType", "Goal");
    cJSON_AddStringToObject(g, "id", "g1");
    cJSON_AddStringToObject(g, "lifecycleStatus", "active");
    cJSON *desc = cJSON_AddObjectToObject(g, "description");
    cJSON_AddStringToObject(desc, "text", "eat");
    cJSON *subj = cJSON_AddObjectToObject(g, "subject");
    cJSON_AddStringToObject(subj, "reference", "Patient/pat-53234");
    cJSON_AddItemToArray(contained, g);
    set_str(get(t, "focus"), "reference", "#g1");
    expect_issue(t, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Task.focus", "points to a Goal");
}

Test(profile, reference_to_bundle_entry)
{
    cJSON *t = example(TASK_EX);
    set_str(get(t, "focus"), "reference", "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "resourceType", "Bundle");
    cJSON_AddStringToObject(b, "type", "transaction");
    cJSON *entries = cJSON_AddArrayToObject(b, "entry");
    cJSON *e0 = cJSON_CreateObject();
    cJSON_AddStringToObject(e0, "fullUrl", "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0");
    cJSON *p = cJSON_AddObjectToObject(e0, "resource");
    cJSON_AddStringToObject(p, "resourceType", "Patient");
    cJSON_AddBoolToObject(p, "active", 1);
    cJSON *rq = cJSON_AddObjectToObject(e0, "request");
    cJSON_AddStringToObject(rq, "method", "POST");
    cJSON_AddStringToObject(rq, "url", "Patient");
    cJSON_AddItemToArray(entries, e0);
    cJSON *e1 = cJSON_CreateObject();
    cJSON_AddStringToObject(e1, "fullUrl", "urn:uuid:9a7e5b39-5d2c-4a8e-a4f9-0b1e6d3c2f10");
    cJSON_AddItemToObject(e1, "resource", t);
    rq = cJSON_AddObjectToObject(e1, "request");
    cJSON_AddStringToObject(rq, "method", "POST");
    cJSON_AddStringToObject(rq, "url", "Task");
    cJSON_AddItemToArray(entries, e1);
    expect_issue(b, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Bundle.entry[1].resource.focus",
                 "points to a Patient");
}

Test(profile, invariant)
{
    cJSON *t = example(TASK_EX);
    set_str(t, "lastModified", "2019-01-01T00:00:00Z"); /* before authoredOn */
    expect_issue(t, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Task", "inv-1");
}

Test(profile, warning_invariant_is_a_warning)
{
    cJSON *t = example(TASK_EX);
    lg_issues is = {0};
    cr_assert_eq(lg_validate_full(D, t, NULL, 0, &is), LG_OK);
    int found = 0;
    for(size_t i = 0; i < is.count; i++)
        found |= is.items[i].severity == LG_SEV_WARNING && !strcmp(is.items[i].location, "Task") &&
                 strstr(is.items[i].diagnostics, "dom-6") != NULL;
    cr_expect(found, "dom-6 (no narrative) is a warning");
    lg_issues_free(&is);
    cJSON_Delete(t);
}

Test(profile, unknown_claimed_profile)
{
    cJSON *t = example(TASK_EX);
    cJSON_AddItemToArray(get(get(t, "meta"), "profile"),
                         cJSON_CreateString("http://example.org/StructureDefinition/nope"));
    expect_issue(t, LG_OK, LG_SEV_WARNING, "Task.meta.profile[1]", "not known");
}

Test(profile, required_slice_missing)
{
    cJSON *c = example(CONSENT_EX);
    cJSON *coding = cJSON_GetArrayItem(get(cJSON_GetArrayItem(get(c, "category"), 0), "coding"), 0);
    set_str(coding, "code", "INFA"); /* category:IDSCL is 1..1, by pattern */
    expect_issue(c, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Consent.category",
                 "Slice IDSCL of Consent.category requires at least 1");
}

Test(profile, slice_max)
{
    /* orderDetail:SubjectContactDetail is 0..1 */
    cJSON *sr = example(SR_EX);
    cJSON *od = cJSON_AddArrayToObject(sr, "orderDetail");
    for(int i = 0; i < 2; i++) {
        cJSON *cc = cJSON_CreateObject();
        cJSON *codings = cJSON_AddArrayToObject(cc, "coding");
        cJSON *cd = cJSON_CreateObject();
        cJSON_AddStringToObject(cd, "system", "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/"
                                              "SDOHCC-CodeSystemTemporaryCodes");
        cJSON_AddStringToObject(cd, "code", "contacting-subject-prohibited");
        cJSON_AddItemToArray(codings, cd);
        cJSON_AddItemToArray(od, cc);
    }
    expect_issue(sr, LG_EUNPROCESSABLE, LG_SEV_ERROR, "ServiceRequest.orderDetail",
                 "Slice SubjectContactDetail of ServiceRequest.orderDetail allows at most 1");
}

Test(profile, extension_slice_checked)
{
    /* extension:pertainsToGoal takes a Reference */
    cJSON *sr = example(SR_EX);
    cJSON *exts = cJSON_AddArrayToObject(sr, "extension");
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "url", "http://hl7.org/fhir/StructureDefinition/resource-pertainsToGoal");
    cJSON_AddStringToObject(x, "valueString", "a goal");
    cJSON_AddItemToArray(exts, x);
    expect_issue(sr, LG_EUNPROCESSABLE, LG_SEV_ERROR, "ServiceRequest.extension[0].valueString",
                 "Type String is not allowed");
}

Test(profile, extension_checked_by_url)
{
    /* No profile claimed: the base Patient walk still checks a US Core race
     * extension against its own definition (extension:text is 1..1). */
    cJSON *p = cJSON_Parse(
        "{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":\"<div "
        "xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\"},\"extension\":[{\"url\":"
        "\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race\",\"extension\":[{\"url\":"
        "\"ombCategory\",\"valueCoding\":{\"system\":\"urn:oid:2.16.840.1.113883.6.238\",\"code\":"
        "\"2106-3\"}}]}]}");
    cr_assert_not_null(p);
    expect_issue(p, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Patient.extension[0].extension",
                 "Slice text of Extension.extension requires at least 1");
}

Test(profile, extra_and_required_profiles)
{
    /* A bare Task claims nothing; asking for the SDOHCC profile finds what
     * it lacks. */
    cJSON *t = cJSON_Parse("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":"
                           "\"order\"}");
    const char *prof[] = {SDOH_SD "SDOHCC-TaskForReferralManagement"};
    lg_issues is = {0};
    cr_assert_eq(lg_validate_full(D, t, prof, 1, &is), LG_EUNPROCESSABLE);
    int focus = 0;
    for(size_t i = 0; i < is.count; i++)
        focus |= is.items[i].location && !strcmp(is.items[i].location, "Task.focus");
    cr_expect(focus, "Task.focus is required by the profile");
    lg_issues_free(&is);
    cr_assert_eq(lg_validate_full(D, t, NULL, 0, &is), LG_OK, "base R4 only");
    lg_issues_free(&is);
    const char *unknown[] = {"http://example.org/nope"};
    cr_assert_eq(lg_validate_full(D, t, unknown, 1, &is), LG_EUNPROCESSABLE);
    lg_issues_free(&is);
    cJSON_Delete(t);
}

/* ---- slicing rules, on the test package's SlicedPatient ---- */

static cJSON *sliced_patient(const char *identifiers, const char *telecoms)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"resourceType\":\"Patient\",\"meta\":{\"profile\":[\"" TEST_SD "SlicedPatient\"]},"
             "\"identifier\":[%s],\"name\":[{\"family\":\"Rivera\"}],\"telecom\":[%s]}",
             identifiers, telecoms);
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "%s", text);
    return j;
}

#define MRN "{\"system\":\"urn:test:mrn\",\"value\":\"1\"}"
#define NHS "{\"system\":\"urn:test:nhs\",\"value\":\"2\"}"
#define OTHER_ID "{\"system\":\"urn:test:other\",\"value\":\"3\"}"
#define PHONE "{\"system\":\"phone\",\"value\":\"555\"}"
#define EMAIL "{\"system\":\"email\",\"value\":\"a@b.c\"}"
#define SMS "{\"system\":\"sms\",\"value\":\"556\"}"

Test(profile, sliced_patient_valid)
{
    cJSON *p = sliced_patient(MRN "," NHS, PHONE "," EMAIL "," SMS);
    lg_issues is = {0};
    lg_status st = lg_validate_full(D, p, NULL, 0, &is);
    if(st)
        dump("sliced", &is);
    cr_expect_eq(st, LG_OK);
    lg_issues_free(&is);
    cJSON_Delete(p);
}

Test(profile, closed_slicing)
{
    expect_issue(sliced_patient(MRN "," OTHER_ID, PHONE), LG_EUNPROCESSABLE, LG_SEV_ERROR,
                 "Patient.identifier[1]", "does not match any slice defined by profile SlicedPatient, and the slicing of Patient.identifier is closed");
}

Test(profile, required_slice_by_value)
{
    expect_issue(sliced_patient(NHS, PHONE), LG_EUNPROCESSABLE, LG_SEV_ERROR,
                 "Patient.identifier", "Slice mrn of Patient.identifier requires at least 1 value(s), found 0 (profile SlicedPatient)");
}

Test(profile, open_at_end)
{
    expect_issue(sliced_patient(MRN, SMS "," PHONE), LG_EUNPROCESSABLE, LG_SEV_ERROR,
                 "Patient.telecom[0]", "only at the end");
}

Test(profile, ordered_slices)
{
    expect_issue(sliced_patient(MRN, EMAIL "," PHONE), LG_EUNPROCESSABLE, LG_SEV_ERROR,
                 "Patient.telecom[1]", "out of order");
}

Test(profile, invariant_on_element)
{
    cJSON *p = sliced_patient(MRN, PHONE);
    cJSON *name = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(p, "name"), 0);
    cJSON_DeleteItemFromObjectCaseSensitive(name, "family");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(name, "given"), cJSON_CreateString("Ana"));
    expect_issue(p, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Patient.name[0]",
                 "tst-1: 'A name has a family name'");
}

Test(profile, required_profile_configuration)
{
    lg_issues is = {0};
    cr_assert_eq(lg_defs_require_profile(D, "Task", TEST_SD "SlicedPatient", &is), LG_EINVAL,
                 "a Patient profile cannot be required of Task");
    cr_assert_eq(lg_defs_require_profile(D, "Patient", "http://example.org/none", &is), LG_EINVAL);
    cr_assert_eq(lg_defs_require_profile(D, "Patient", TEST_SD "SlicedPatient", &is), LG_OK);
    lg_issues_free(&is);
    /* now a Patient that claims nothing is held to SlicedPatient */
    cJSON *p = cJSON_Parse("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"X\"}]}");
    expect_issue(p, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Patient.identifier",
                 "Slice mrn of Patient.identifier requires at least 1");
}

/* ---- bindings (terminology from the R4 bundles and the packages) ---- */

Test(profile, required_binding)
{
    cJSON *t = example(TASK_EX);
    set_str(t, "status", "finished"); /* a well-formed code, not a task status */
    expect_issue(t, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Task.status",
                 "The code 'finished' is not in the value set "
                 "http://hl7.org/fhir/us/sdoh-clinicalcare/ValueSet/SDOHCC-ValueSetReferralTaskStatus");
}

Test(profile, extensible_binding_is_a_warning)
{
    cJSON *p = cJSON_Parse("{\"resourceType\":\"Patient\",\"maritalStatus\":{\"coding\":[{"
                           "\"system\":\"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus\","
                           "\"code\":\"ZZ\"}]}}");
    expect_issue(p, LG_OK, LG_SEV_WARNING, "Patient.maritalStatus",
                 "is not in the value set http://hl7.org/fhir/ValueSet/marital-status");
}

Test(profile, undecidable_binding_is_information)
{
    cJSON *sr = example(SR_EX); /* SNOMED CT is not held here */
    expect_issue(sr, LG_OK, LG_SEV_INFORMATION, "ServiceRequest.code", "was not checked");
}

Test(profile, slice_by_value_set)
{
    /* SDOHCC-Condition category:screening-assessment (1..*) is recognised
     * by its required binding (US Core's screening-assessment categories);
     * without the "sdoh" category it is missing. */
    cJSON *c = read_json(SDOHCC "/package/Condition-SDOHCC-ConditionHomelessExample.json");
    cJSON *cats = get(c, "category");
    cr_assert_eq(cJSON_GetArraySize(cats), 3);
    cJSON_DeleteItemFromArray(cats, 1); /* us-core-category "sdoh" */
    expect_issue(c, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Condition.category",
                 "Slice screening-assessment of Condition.category requires at least 1");
}

/* Loopgate's own package (profiles/, written on another branch): when it is
 * in the tree, its examples conform to its profiles. */
Test(profile, loopgate_package_examples)
{
    const char *dir = LG_SOURCE_DIR "/profiles";
    if(access(LG_SOURCE_DIR "/profiles/package/package.json", R_OK) != 0)
        cr_skip_test("no profiles/ package in this tree");
    lg_issues is = {0};
    cr_assert_eq(lg_defs_load_package(D, dir, &is), LG_OK);
    lg_issues_free(&is);
    int bad = 0, claimed = 0;
    int n = sweep(LG_SOURCE_DIR "/profiles/package/example", &bad, &claimed);
    fprintf(stderr, "Loopgate examples: %d checked, %d claim profiles, %d with errors\n", n,
            claimed, bad);
    cr_expect_gt(n, 0);
    cr_expect_eq(bad, 0);
}

/* A transaction: Task (SDOHCC) whose focus is the ServiceRequest entry; the
 * entry must conform to SDOHCC-ServiceRequest, the focus's target profile. */
static cJSON *task_and_request(int break_request)
{
    cJSON *sr = read_json(SR_EX);
    if(break_request)
        cJSON_DeleteItemFromObjectCaseSensitive(sr, "code"); /* 0..1 in R4, 1..1 in SDOHCC */
    cJSON_DeleteItemFromObjectCaseSensitive(sr, "meta"); /* judged by the Task's target only */
    cJSON *t = read_json(TASK_EX);
    set_str(get(t, "focus"), "reference", "urn:uuid:1d6a4d5e-7a4b-4c1e-9a55-3f1a9f0c2b01");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "resourceType", "Bundle");
    cJSON_AddStringToObject(b, "type", "collection");
    cJSON *entries = cJSON_AddArrayToObject(b, "entry");
    cJSON *e0 = cJSON_CreateObject();
    cJSON_AddStringToObject(e0, "fullUrl", "urn:uuid:9a7e5b39-5d2c-4a8e-a4f9-0b1e6d3c2f10");
    cJSON_AddItemToObject(e0, "resource", t);
    cJSON_AddItemToArray(entries, e0);
    cJSON *e1 = cJSON_CreateObject();
    cJSON_AddStringToObject(e1, "fullUrl", "urn:uuid:1d6a4d5e-7a4b-4c1e-9a55-3f1a9f0c2b01");
    cJSON_AddItemToObject(e1, "resource", sr);
    cJSON_AddItemToArray(entries, e1);
    return b;
}

Test(profile, bundle_target_conforms_to_target_profile)
{
    cJSON *b = task_and_request(0);
    lg_issues is = {0};
    lg_status st = lg_validate_full(D, b, NULL, 0, &is);
    if(st)
        dump("bundle", &is);
    cr_expect_eq(st, LG_OK);
    lg_issues_free(&is);
    cJSON_Delete(b);
}

Test(profile, bundle_target_breaks_target_profile)
{
    expect_issue(task_and_request(1), LG_EUNPROCESSABLE, LG_SEV_ERROR,
                 "Bundle.entry[0].resource.focus",
                 "The referenced ServiceRequest does not conform to the target profile");
}

Test(profile, many_claimed_profiles_are_bounded)
{
    cJSON *t = example(TASK_EX);
    cJSON *mp = get(get(t, "meta"), "profile");
    for(int i = 0; i < 1000; i++) {
        char u[64];
        snprintf(u, sizeof(u), "http://example.org/StructureDefinition/p%d", i);
        cJSON_AddItemToArray(mp, cJSON_CreateString(u));
    }
    lg_issues is = {0};
    cr_expect_eq(lg_validate_full(D, t, NULL, 0, &is), LG_OK);
    cr_expect_lt(is.count, 100, "%zu issues", is.count);
    lg_issues_free(&is);
    cJSON_Delete(t);
}

/* The loaded definitions are shared by every worker thread: validating at
 * once gives each thread the same answer. */
typedef struct job {
    const cJSON *res;
    size_t errors, count;
    int mismatch;
} job;

static void *validate_many(void *arg)
{
    job *j = arg;
    for(int i = 0; i < 50; i++) {
        lg_issues is = {0};
        lg_validate_full(D, j->res, NULL, 0, &is);
        if(i == 0) {
            j->errors = lg_issues_errors(&is);
            j->count = is.count;
        } else if(lg_issues_errors(&is) != j->errors || is.count != j->count) {
            j->mismatch = 1;
        }
        lg_issues_free(&is);
    }
    return NULL;
}

Test(profile, concurrent_validation)
{
    cJSON *t = example(TASK_EX);
    set_str(t, "intent", "plan");
    set_str(t, "status", "finished");
    job jobs[4] = {{.res = t}, {.res = t}, {.res = t}, {.res = t}};
    pthread_t th[4];
    for(int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, validate_many, &jobs[i]), 0);
    for(int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for(int i = 0; i < 4; i++) {
        cr_expect_eq(jobs[i].mismatch, 0);
        cr_expect_eq(jobs[i].errors, 2, "intent and status: %zu", jobs[i].errors);
        cr_expect_eq(jobs[i].count, jobs[0].count);
    }
    cJSON_Delete(t);
}

/* Synthea batch Bundles: entries with contained resources referenced as
 * "#id" (ref-1 needs %rootResource to be the entry, not the Bundle). */
Test(profile, synthea_bundles_pass)
{
    int bad = 0;
    int n = sweep(LG_SHARED_DIR "/fhir/synthea", &bad, NULL);
    fprintf(stderr, "Synthea Bundles: %d checked, %d with errors\n", n, bad);
    cr_assert_geq(n, 10);
    cr_expect_eq(bad, 0);
}

Test(profile, contained_reference_invariant)
{
    /* ref-1: a local reference needs its contained resource */
    cJSON *p = cJSON_Parse("{\"resourceType\":\"Patient\",\"generalPractitioner\":[{\"reference\":"
                           "\"#gp\"}]}");
    expect_issue(p, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Patient.generalPractitioner[0]", "ref-1");
}

Test(profile, bundle_relative_reference_resolves_by_fullurl)
{
    /* "ServiceRequest/sr1" resolves to the entry http://example.org/fhir/ServiceRequest/sr1 */
    cJSON *b = task_and_request(1);
    cJSON *entries = get(b, "entry");
    cJSON *e1 = cJSON_GetArrayItem(entries, 1);
    set_str(e1, "fullUrl", "http://example.org/fhir/ServiceRequest/sr1");
    cJSON *t = get(cJSON_GetArrayItem(entries, 0), "resource");
    set_str(get(t, "focus"), "reference", "ServiceRequest/sr1");
    expect_issue(b, LG_EUNPROCESSABLE, LG_SEV_ERROR, "Bundle.entry[0].resource.focus",
                 "does not conform to the target profile");
}
