/* fuzz_fhirpath_eval.c - libFuzzer target for the FHIRPath engine: the input
 * bytes are an expression. lg_fhirpath_compile must accept it or fail with
 * LG_EINVAL and an error issue; an expression that compiles is evaluated
 * against a small fixed Patient (choice types, primitive extensions, a
 * contained resource, dates and quantities, so most functions have something
 * to chew on) and must answer LG_OK or LG_EINVAL. A broken contract aborts,
 * so the fuzzer reports it like a crash. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/fhirpath.h"

/* Larger inputs than this are cut: the engine's own limit is 64 KiB, and
 * the interesting bugs live in short expressions. */
#define MAX_EXPR 4096

static const char patient_json[] =
    "{\"resourceType\":\"Patient\",\"id\":\"fz1\","
    "\"meta\":{\"versionId\":\"2\",\"lastUpdated\":\"2026-11-24T10:00:00.123+01:00\","
    "\"profile\":[\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient\"]},"
    "\"text\":{\"status\":\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">"
    "Ana</div>\"},"
    "\"contained\":[{\"resourceType\":\"Organization\",\"id\":\"org\",\"name\":\"CBO 17\"}],"
    "\"extension\":[{\"url\":\"http://example.org/birthWeight\","
    "\"valueQuantity\":{\"value\":3.25,\"unit\":\"kg\",\"system\":\"http://unitsofmeasure.org\","
    "\"code\":\"kg\"}},"
    "{\"url\":\"http://example.org/flag\",\"valueBoolean\":true}],"
    "\"identifier\":[{\"system\":\"urn:oid:1.2.36.146.595.217.0.1\",\"value\":\"12345\","
    "\"period\":{\"start\":\"2001-05-06\"}},{\"use\":\"old\",\"value\":\"A-7\"}],"
    "\"active\":true,"
    "\"name\":[{\"use\":\"official\",\"family\":\"Rivera\",\"given\":[\"Ana\",\"Maria\"]},"
    "{\"use\":\"nickname\",\"given\":[\"Annie\",null],"
    "\"_given\":[null,{\"extension\":[{\"url\":\"http://example.org/x\",\"valueString\":\"y\"}]}]}],"
    "\"telecom\":[{\"system\":\"phone\",\"value\":\"(03) 5555 6473\",\"rank\":2}],"
    "\"gender\":\"female\",\"_gender\":{\"id\":\"g1\"},"
    "\"birthDate\":\"2014-12-25\",\"deceasedBoolean\":false,"
    "\"multipleBirthInteger\":2,"
    "\"address\":[{\"line\":[\"534 Erewhon St\"],\"city\":\"PleasantVille\","
    "\"postalCode\":\"3999\",\"period\":{\"start\":\"1974-12-25T14:35:45-05:00\"}}],"
    "\"contact\":[{\"relationship\":[{\"coding\":[{\"system\":"
    "\"http://terminology.hl7.org/CodeSystem/v2-0131\",\"code\":\"N\"}]}],"
    "\"organization\":{\"reference\":\"#org\"}}],"
    "\"managingOrganization\":{\"reference\":\"Organization/1\",\"display\":\"ACME\"}}";

static cJSON *patient;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if(!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_fhirpath_eval: contract broken: %s (line %d)\n",    \
                    #cond, __LINE__);                                                 \
            abort();                                                                  \
        }                                                                             \
    } while(0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    patient = cJSON_Parse(patient_json);
    if(!patient) {
        fprintf(stderr, "fuzz_fhirpath_eval: the fixed Patient does not parse\n");
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if(size > MAX_EXPR)
        size = MAX_EXPR;
    /* The API takes a NUL-terminated string: an embedded NUL ends it. */
    char *src = malloc(size + 1);
    if(!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';

    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    lg_status st = lg_fhirpath_compile(src, &e, &is);
    CHECK(st == LG_OK || st == LG_EINVAL || st == LG_ENOMEM);
    CHECK((st == LG_OK) == (e != NULL));
    if(st == LG_EINVAL)
        CHECK(lg_issues_errors(&is) >= 1);
    if(e) {
        CHECK(strcmp(lg_fhirpath_source(e), src) == 0);
        lg_fp_collection c = {0};
        st = lg_fhirpath_eval(e, patient, &c, &is);
        CHECK(st == LG_OK || st == LG_EINVAL || st == LG_ENOMEM);
        CHECK(c.count <= c.cap);
        for(size_t i = 0; i < c.count; i++) {
            const lg_fp_item *it = &c.items[i];
            if(it->kind == LG_FP_NODE)
                CHECK(it->node != NULL);
            if(it->kind == LG_FP_STRING || it->kind == LG_FP_DATE ||
               it->kind == LG_FP_DATETIME || it->kind == LG_FP_TIME)
                CHECK(it->s != NULL && strlen(it->s) < (1u << 30));
        }
        (void)lg_fp_truth(&c);
        lg_fp_collection_free(&c);
        lg_fhirpath_free(e);
    }
    lg_issues_free(&is);
    free(src);
    return 0;
}
