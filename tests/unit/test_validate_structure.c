/* test_validate_structure.c - the base-specification structure check:
 * every official R4, SDOHCC and Synthea example passes it, and each kind
 * of mistake a client makes is refused with the right location. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/validate.h"
#include "lg_test.h"

static lg_defs *D;

static void load(void)
{
    lg_issues is = {0};
    lg_status st = lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &D, &is);
    for(size_t i = 0; st && i < is.count; i++)
        fprintf(stderr, "%s\n", is.items[i].diagnostics);
    lg_issues_free(&is);
    cr_assert_eq(st, LG_OK, "definitions load from %s", lg_test_defs_dir());
}

static void unload(void)
{
    lg_defs_free(D);
    D = NULL;
}

TestSuite(validate, .init = load, .fini = unload, .timeout = 120);

static cJSON *parse(const char *text)
{
    cJSON *j = NULL;
    lg_issues is = {0};
    lg_json_limits lim = lg_json_default_limits;
    cr_assert_eq(lg_json_parse(text, strlen(text), &lim, &j, &is), LG_OK, "test JSON: %s", text);
    lg_issues_free(&is);
    return j;
}

/* Official examples that really are invalid, with the issue that shows it
 * (the HL7 validator reports the same). */
static const struct { const char *file, *location; } known_bad[] = {
    /* nested items have text but no linkId (Questionnaire.item.linkId 1..1) */
    {"Questionnaire-qs1.json", "Questionnaire.item[0].item[0].linkId"},
};

static int has_location(const lg_issues *is, const char *loc)
{
    for(size_t i = 0; i < is->count; i++)
        if(is->items[i].location && !strcmp(is->items[i].location, loc) &&
           is->items[i].severity <= LG_SEV_ERROR)
            return 1;
    return 0;
}

/* Validate every *.json in dir; returns how many were checked and adds the
 * number with unexpected results to *bad, printing each issue. */
static int sweep(const char *dir, int *bad)
{
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh, "cannot open %s", dir);
    struct dirent *de;
    int n = 0;
    lg_json_limits lim = lg_json_default_limits;
    lim.max_bytes = 64u << 20;
    while((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if(nl < 6 || strcmp(de->d_name + nl - 5, ".json") || !strcmp(de->d_name, "package.json") ||
           strstr(de->d_name, ".index."))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        size_t len;
        char *text = lg_test_read_text(path, &len);
        cr_assert_not_null(text, "%s", path);
        cJSON *j = NULL;
        lg_issues is = {0};
        cr_assert_eq(lg_json_parse(text, len, &lim, &j, &is), LG_OK, "%s does not parse", path);
        free(text);
        const char *rt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "resourceType"));
        /* Conformance resources in the packages are definitions, not data. */
        if(rt && (!strcmp(rt, "StructureDefinition") || !strcmp(rt, "ValueSet") ||
                  !strcmp(rt, "CodeSystem") || !strcmp(rt, "CapabilityStatement") ||
                  !strcmp(rt, "SearchParameter") || !strcmp(rt, "ImplementationGuide"))) {
            cJSON_Delete(j);
            continue;
        }
        lg_issues_free(&is);
        lg_status st = lg_validate_resource(D, j, &is);
        const char *expect = NULL;
        for(size_t k = 0; k < sizeof(known_bad) / sizeof(*known_bad); k++)
            if(!strcmp(known_bad[k].file, de->d_name))
                expect = known_bad[k].location;
        if(expect) {
            cr_expect_eq(st, LG_EINVAL, "%s is known to be invalid", de->d_name);
            cr_expect(has_location(&is, expect), "%s: no error at %s", de->d_name, expect);
        } else if(st != LG_OK) {
            (*bad)++;
            for(size_t i = 0; i < is.count; i++)
                fprintf(stderr, "%s: %s: %s\n", de->d_name,
                        is.items[i].location ? is.items[i].location : "-",
                        is.items[i].diagnostics);
        }
        lg_issues_free(&is);
        cJSON_Delete(j);
        n++;
    }
    closedir(dh);
    return n;
}

Test(validate, every_official_r4_example_passes)
{
    int bad = 0, n = sweep(LG_SHARED_DIR "/fhir/r4-examples", &bad);
    cr_assert_gt(n, 150);
    cr_expect_eq(bad, 0, "%d of %d R4 examples fail the structure check", bad, n);
}

Test(validate, every_sdohcc_example_passes)
{
    int bad = 0,
        n = sweep(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package", &bad);
    cr_assert_gt(n, 50);
    cr_expect_eq(bad, 0, "%d of %d SDOHCC examples fail the structure check", bad, n);
}

Test(validate, every_synthea_bundle_passes)
{
    int bad = 0, n = sweep(LG_SHARED_DIR "/fhir/synthea", &bad);
    cr_assert_gt(n, 5);
    cr_expect_eq(bad, 0, "%d of %d Synthea bundles fail the structure check", bad, n);
}

/* ---- mistakes, one per rule ---- */

/* Validate text; expect an error at location (or success when NULL). */
static void check(const char *text, const char *location, const char *code)
{
    cJSON *j = parse(text);
    lg_issues is = {0};
    lg_status st = lg_validate_resource(D, j, &is);
    if(!location) {
        cr_expect_eq(st, LG_OK, "%s: unexpected %s at %s", text,
                     is.count ? is.items[0].diagnostics : "-",
                     is.count && is.items[0].location ? is.items[0].location : "-");
    } else {
        cr_expect_eq(st, LG_EINVAL, "%s was accepted", text);
        int found = 0;
        for(size_t i = 0; i < is.count; i++)
            if((*location ? is.items[i].location && !strcmp(is.items[i].location, location)
                          : !is.items[i].location) &&
               (!code || !strcmp(is.items[i].code, code)))
                found = 1;
        cr_expect(found, "%s: expected %s at %s; got %s at %s", text, code ? code : "an error",
                  location, is.count ? is.items[0].diagnostics : "nothing",
                  is.count && is.items[0].location ? is.items[0].location : "-");
    }
    lg_issues_free(&is);
    cJSON_Delete(j);
}

Test(validate, wrong_json_types)
{
    check("{\"resourceType\":\"Patient\",\"active\":\"yes\"}", "Patient.active", "structure");
    check("{\"resourceType\":\"Patient\",\"active\":true}", NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"gender\":7}", "Patient.gender", "structure");
    check("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":\"2\"}",
          "Patient.multipleBirthInteger", "structure");
    check("{\"resourceType\":\"Patient\",\"name\":[{\"family\":{\"x\":1}}]}",
          "Patient.name[0].family", "structure");
    check("{\"resourceType\":\"Patient\",\"contact\":[\"mum\"]}", "Patient.contact[0]",
          "structure");
}

Test(validate, arrays_and_single_values)
{
    check("{\"resourceType\":\"Patient\",\"name\":\"Smith\"}", "Patient.name", "structure");
    check("{\"resourceType\":\"Patient\",\"name\":{\"family\":\"Smith\"}}", "Patient.name",
          "structure");
    check("{\"resourceType\":\"Patient\",\"gender\":[\"male\"]}", "Patient.gender", "structure");
    check("{\"resourceType\":\"Patient\",\"name\":[]}", "Patient.name", "structure");
    check("{\"resourceType\":\"Patient\",\"name\":[{}]}", "Patient.name[0]", "structure");
    check("{\"resourceType\":\"Patient\",\"gender\":null}", "Patient.gender", "structure");
}

Test(validate, unknown_elements_anywhere)
{
    check("{\"resourceType\":\"Patient\",\"noSuchElement\":1}", "Patient.noSuchElement",
          "structure");
    check("{\"resourceType\":\"Patient\",\"name\":[{\"famly\":\"Smith\"}]}",
          "Patient.name[0].famly", "structure");
    check("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
          "\"restriction\":{\"repetitionz\":1}}",
          "Task.restriction.repetitionz", "structure");
    /* resourceType is only a property of a resource, not of a datatype */
    check("{\"resourceType\":\"Patient\",\"name\":[{\"resourceType\":\"HumanName\"}]}",
          "Patient.name[0].resourceType", "structure");
}

Test(validate, choice_types)
{
    check("{\"resourceType\":\"Patient\",\"deceasedBoolean\":false}", NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-01-02\"}", NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"deceasedString\":\"yes\"}", "Patient.deceasedString",
          "structure");
    check("{\"resourceType\":\"Patient\",\"deceased\":true}", "Patient.deceased", "structure");
    check("{\"resourceType\":\"Patient\",\"deceasedboolean\":true}", "Patient.deceasedboolean",
          "structure");
    check("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},"
          "\"valueQuantity\":{\"value\":1.5,\"unit\":\"kg\"}}",
          NULL, NULL);
}

/* The day a date names must exist in its month, for date, dateTime and
 * instant alike (leap years by the Gregorian rule). */
Test(validate, calendar_days)
{
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2019-04-31\"}", "Patient.birthDate",
          "value");
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"1900-02-29\"}", "Patient.birthDate",
          "value");
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2000-02-29\"}", NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2019-12-31\"}", NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2019-11\"}", NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2019-06-31T10:00:00Z\"}",
          "Patient.deceasedDateTime", "value");
    check("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2019-06-30T10:00:00Z\"}", NULL,
          NULL);
    check("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
          "\"meta\":{\"lastUpdated\":\"2023-02-29T10:00:00Z\"}}",
          "Task.meta.lastUpdated", "value");
    check("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
          "\"meta\":{\"lastUpdated\":\"2024-02-29T10:00:00.123+02:00\"}}",
          NULL, NULL);
}

Test(validate, primitive_formats)
{
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"not-a-date\"}", "Patient.birthDate",
          "value");
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2019-02-30\"}", "Patient.birthDate",
          "value");
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2020-02-29\"}", NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2019\"}", NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2019-07-04T10:00:00Z\"}",
          "Patient.birthDate", "value");
    check("{\"resourceType\":\"Patient\",\"gender\":\"\"}", "Patient.gender", "value");
    check("{\"resourceType\":\"Patient\",\"gender\":\" male\"}", "Patient.gender", "value");
    check("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
          "\"authoredOn\":\"2026-11-24T10:00:00\"}",
          "Task.authoredOn", "value"); /* a time needs a zone */
    check("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
          "\"meta\":{\"lastUpdated\":\"2026-11-24\"}}",
          "Task.meta.lastUpdated", "value"); /* instant is a full timestamp */
    check("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":1.5}",
          "Patient.multipleBirthInteger", "value");
    check("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":3000000000}",
          "Patient.multipleBirthInteger", "value");
    check("{\"resourceType\":\"Patient\",\"photo\":[{\"data\":\"not base64!\"}]}",
          "Patient.photo[0].data", "value");
    check("{\"resourceType\":\"Patient\",\"photo\":[{\"data\":\"aGVsbG8=\",\"size\":-1}]}",
          "Patient.photo[0].size", "value"); /* unsignedInt */
    check("{\"resourceType\":\"Patient\",\"photo\":[{\"data\":\"aGVsbG8=\",\"size\":0}]}", NULL,
          NULL);
    check("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\","
          "\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">x</div>\"}}",
          NULL, NULL);
}

Test(validate, cardinality_at_every_level)
{
    check("{\"resourceType\":\"Task\",\"intent\":\"order\"}", "Task.status", "required");
    check("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\"}", NULL, NULL);
    /* Patient.link.other is 1..1 inside a backbone */
    check("{\"resourceType\":\"Patient\",\"link\":[{\"type\":\"seealso\"}]}",
          "Patient.link[0].other", "required");
    /* Extension.url is required on every extension, nested or not */
    check("{\"resourceType\":\"Patient\",\"extension\":[{\"valueString\":\"x\"}]}",
          "Patient.extension[0].url", "required");
    check("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\","
          "\"extension\":[{\"valueString\":\"x\"}]}]}",
          "Patient.extension[0].extension[0].url", "required");
    /* a choice that is required counts whichever type is present */
    check("{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
          "\"subject\":{\"reference\":\"Patient/1\"}}",
          "MedicationRequest.medication", "required");
    check("{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":\"order\","
          "\"subject\":{\"reference\":\"Patient/1\"},\"medicationReference\":"
          "{\"reference\":\"Medication/m\"}}",
          NULL, NULL);
}

Test(validate, primitive_extensions)
{
    check("{\"resourceType\":\"Patient\",\"birthDate\":\"2019-01-01\",\"_birthDate\":"
          "{\"extension\":[{\"url\":\"http://hl7.org/fhir/StructureDefinition/patient-birthTime\","
          "\"valueDateTime\":\"2019-01-01T10:00:00Z\"}]}}",
          NULL, NULL);
    /* an extension alone satisfies a required primitive */
    check("{\"resourceType\":\"Task\",\"intent\":\"order\",\"_status\":{\"extension\":"
          "[{\"url\":\"http://hl7.org/fhir/StructureDefinition/data-absent-reason\","
          "\"valueCode\":\"unknown\"}]}}",
          NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"_birthDate\":\"x\"}", "Patient.birthDate",
          "structure");
    check("{\"resourceType\":\"Patient\",\"_name\":{\"id\":\"a\"}}", "Patient.name", "structure");
    check("{\"resourceType\":\"Patient\",\"_birthDate\":{\"nope\":1}}", "Patient.birthDate.nope",
          "structure");
    /* arrays line up with nulls */
    check("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",null],\"_given\":"
          "[null,{\"id\":\"g2\"}]}]}",
          NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",null]}]}",
          "Patient.name[0].given[1]", "structure");
}

Test(validate, resource_type_and_nested_resources)
{
    check("{\"resourceType\":\"NotAType\"}", "", NULL);
    check("{\"resourceType\":\"DomainResource\"}", "", NULL);
    check("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Organization\","
          "\"id\":\"o1\",\"name\":\"Clinic\"}],\"managingOrganization\":{\"reference\":\"#o1\"}}",
          NULL, NULL);
    check("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Organization\","
          "\"nam\":\"Clinic\"}]}",
          "Patient.contained[0].nam", "structure");
    check("{\"resourceType\":\"Patient\",\"contained\":[{\"name\":\"Clinic\"}]}",
          "Patient.contained[0]", "structure");
    check("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"resource\":"
          "{\"resourceType\":\"Patient\",\"active\":\"yes\"},\"request\":{\"method\":\"POST\","
          "\"url\":\"Patient\"}}]}",
          "Bundle.entry[0].resource.active", "structure");
    check("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"request\":"
          "{\"url\":\"Patient\"}}]}",
          "Bundle.entry[0].request.method", "required");
}

Test(validate, issues_are_bounded)
{
    /* 1000 unknown elements: at most LG_VALIDATE_MAX_ISSUES listed, plus one
     * summary saying how many more. */
    char *text = malloc(40000);
    size_t n = (size_t)sprintf(text, "{\"resourceType\":\"Patient\"");
    for(int i = 0; i < 1000; i++)
        n += (size_t)sprintf(text + n, ",\"x%d\":1", i);
    strcpy(text + n, "}");
    cJSON *j = parse(text);
    lg_issues is = {0};
    cr_assert_eq(lg_validate_resource(D, j, &is), LG_EINVAL);
    cr_expect_eq(is.count, LG_VALIDATE_MAX_ISSUES + 1);
    cr_expect(strstr(is.items[is.count - 1].diagnostics, "900 more") != NULL, "%s",
              is.items[is.count - 1].diagnostics);
    lg_issues_free(&is);
    cJSON_Delete(j);
    free(text);
}
