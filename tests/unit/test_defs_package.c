/* test_defs_package.c - loading FHIR IG packages into an lg_defs: profiles
 * compiled from snapshots (slices, discriminator values, constraints,
 * links to other profiles), base R4 definitions usable as profiles,
 * terminology kept, and the warnings and errors of bad packages. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "loopgate/defs.h"
#include "loopgate/profile.h"
#include "lg_test.h"

#define PKG_DIR LG_SHARED_DIR "/fhir/packages/"
#define USCORE PKG_DIR "hl7.fhir.us.core#7.0.0"
#define SDOHCC PKG_DIR "hl7.fhir.us.sdoh-clinicalcare#3.0.0"
#define SDOH_SD "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
#define USCORE_SD "http://hl7.org/fhir/us/core/StructureDefinition/"

static lg_defs *D;
static lg_issues load_issues;

static void load(void)
{
    lg_status st = lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &D, &load_issues);
    cr_assert_eq(st, LG_OK);
    size_t base = lg_defs_profile_count(D);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(lg_defs_load_package(D, USCORE, &load_issues), LG_OK);
    cr_assert_eq(lg_defs_load_package(D, SDOHCC "/package", &load_issues), LG_OK,
                 "the package folder itself is accepted too");
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(stderr, "packages: %zu base profiles, %zu after US Core + SDOHCC, %.1f ms\n", base,
            lg_defs_profile_count(D),
            (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
}

static void unload(void)
{
    lg_defs_free(D);
    D = NULL;
    lg_issues_free(&load_issues);
}

TestSuite(package, .init = load, .fini = unload, .timeout = 120);

Test(package, base_definitions_are_profiles)
{
    const lg_profile *p = lg_defs_base_profile(D, "Patient");
    cr_assert_not_null(p);
    cr_expect_eq(p->constraint, 0);
    cr_expect_str_eq(p->type, "Patient");
    cr_expect_str_eq(p->root->id, "Patient");
    const lg_pnode *contact = lg_profile_node(p, "Patient.contact");
    cr_assert_not_null(contact);
    cr_expect_eq(contact->min, 0);
    cr_expect_eq(contact->max, UINT_MAX);
    cr_expect_geq(contact->nkids, 5, "backbone children are under it");
    /* ele-1 is left to the structure check; pat-1 is compiled */
    int pat1 = 0;
    for(size_t i = 0; i < contact->nconstraints; i++) {
        cr_expect_str_neq(contact->constraints[i]->key, "ele-1");
        pat1 |= !strcmp(contact->constraints[i]->key, "pat-1") && contact->constraints[i]->expr;
    }
    cr_expect(pat1, "pat-1 is on Patient.contact and compiled");
    /* contentReference links to the referenced element */
    const lg_pnode *qi = lg_profile_node(lg_defs_base_profile(D, "Questionnaire"),
                                         "Questionnaire.item.item");
    cr_assert_not_null(qi);
    cr_expect_not_null(qi->content_ref);
    cr_expect_str_eq(qi->content_ref->id, "Questionnaire.item");
    cr_expect_not_null(lg_defs_base_profile(D, "HumanName"), "datatypes too");
}

Test(package, profile_compiled_from_snapshot)
{
    const lg_profile *p = lg_defs_profile(D, SDOH_SD "SDOHCC-TaskForReferralManagement|3.0.0");
    cr_assert_not_null(p);
    cr_expect_str_eq(p->url, SDOH_SD "SDOHCC-TaskForReferralManagement");
    cr_expect_str_eq(p->package, "hl7.fhir.us.sdoh-clinicalcare#3.0.0");
    cr_expect_eq(p->constraint, 1);
    const lg_pnode *intent = lg_profile_node(p, "Task.intent");
    cr_assert_not_null(intent);
    cr_assert_not_null(intent->fixed);
    cr_expect_str_eq(intent->fixed->valuestring, "order");
    cr_expect_eq(intent->is_pattern, 0);
    const lg_pnode *authored = lg_profile_node(p, "Task.authoredOn");
    cr_expect_eq(authored->min, 1);
    cr_expect_eq(authored->base_min, 0);
    /* slicing: Task.output by value(type) and type(value) */
    const lg_pnode *out = lg_profile_node(p, "Task.output");
    cr_assert_not_null(out);
    cr_expect(out->sliced);
    cr_assert_eq(out->ndiscs, 2);
    cr_expect_eq(out->discs[0].type, LG_DISC_VALUE);
    cr_expect_str_eq(out->discs[0].path, "type");
    cr_expect_eq(out->discs[1].type, LG_DISC_TYPE);
    cr_assert_eq(out->nslices, 3);
    const lg_pnode *par = out->slices[0];
    cr_expect_str_eq(par->slice_name, "PerformedActivityReference");
    cr_expect(par->disc_values[0].known);
    cr_expect(cJSON_IsObject(par->disc_values[0].value), "the type's pattern");
    cr_expect(par->disc_values[1].known);
    cr_expect_str_eq(par->disc_values[1].type, "Reference");
    /* target profiles linked to loaded profiles */
    const lg_pnode *focus = lg_profile_node(p, "Task.focus");
    cr_assert_eq(focus->ntypes, 1);
    cr_assert_eq(focus->types[0].ntargets, 1);
    cr_assert_not_null(focus->types[0].target_defs[0]);
    cr_expect_str_eq(focus->types[0].target_defs[0]->type, "ServiceRequest");
    /* invariant of the profile root */
    int inv1 = 0;
    for(size_t i = 0; i < p->root->nconstraints; i++)
        inv1 |= !strcmp(p->root->constraints[i]->key, "inv-1");
    cr_expect(inv1);
}

Test(package, extension_slices_know_their_url)
{
    const lg_profile *p = lg_defs_profile(D, USCORE_SD "us-core-patient");
    cr_assert_not_null(p);
    const lg_pnode *ext = lg_profile_node(p, "Patient.extension");
    cr_assert_not_null(ext);
    const lg_pnode *race = lg_profile_node(p, "Patient.extension:race");
    cr_assert_not_null(race);
    cr_assert(race->disc_values[0].known);
    cr_expect_str_eq(race->disc_values[0].value->valuestring, USCORE_SD "us-core-race");
    cr_assert_not_null(race->types[0].profile_defs[0], "the extension definition is linked");
    cr_expect(race->types[0].profile_defs[0]->is_extension);
}

Test(package, constraints_are_shared)
{
    const lg_pnode *a = lg_profile_node(lg_defs_base_profile(D, "Patient"), "Patient.extension");
    const lg_pnode *b = lg_profile_node(lg_defs_base_profile(D, "Task"), "Task.extension");
    cr_assert(a && b && a->nconstraints && b->nconstraints);
    cr_expect_eq(a->constraints[0], b->constraints[0], "ext-1 is compiled once");
}

Test(package, missing_snapshot_is_a_warning_naming_it)
{
    int found = 0;
    for(size_t i = 0; i < load_issues.count; i++)
        found |= load_issues.items[i].severity == LG_SEV_WARNING &&
                 strstr(load_issues.items[i].diagnostics, "us-core-questionnaireresponse") &&
                 strstr(load_issues.items[i].diagnostics, "no snapshot");
    cr_expect(found, "US Core's QuestionnaireResponse profile has no snapshot");
    cr_expect_null(lg_defs_profile(D, USCORE_SD "us-core-questionnaireresponse"));
}

Test(package, terminology_kept)
{
    const cJSON *vs = lg_defs_valueset(
        D, "http://hl7.org/fhir/us/sdoh-clinicalcare/ValueSet/SDOHCC-ValueSetSDOHCategory|3.0.0");
    cr_assert_not_null(vs);
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(vs, "resourceType")->valuestring, "ValueSet");
    cr_expect_not_null(lg_defs_codesystem(
        D, "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"));
    cr_expect_null(lg_defs_valueset(D, "http://example.org/none"));
    cr_expect_eq(D->npackages, 2);
    cr_expect_str_eq(D->packages[0], "hl7.fhir.us.core#7.0.0");
}

Test(package, not_a_package)
{
    lg_issues is = {0};
    cr_expect_eq(lg_defs_load_package(D, "/nonexistent/pkg", &is), LG_EINVAL);
    cr_expect_eq(lg_defs_load_package(D, LG_SHARED_DIR "/fhir", &is), LG_EINVAL);
    cr_expect_geq(is.count, 2);
    cr_expect(strstr(is.items[0].diagnostics, "not a FHIR package") != NULL);
    lg_issues_free(&is);
}

Test(package, bad_files_and_duplicates)
{
    char dir[] = "/tmp/lg_pkg_test_XXXXXX", pkg[64], path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(pkg, sizeof(pkg), "%s/package", dir);
    cr_assert_eq(mkdir(pkg, 0700), 0);
    static const struct { const char *name, *text; } files[] = {
        {"package.json", "{\"name\":\"bad.pkg\",\"version\":\"1.0.0\"}"},
        {"broken.json", "{\"resourceType\": "},
        {"StructureDefinition-dup.json",
         "{\"resourceType\":\"StructureDefinition\",\"url\":\"http://hl7.org/fhir/StructureDefinition/"
         "Patient\",\"type\":\"Patient\",\"kind\":\"resource\",\"snapshot\":{\"element\":[{\"id\":"
         "\"Patient\",\"path\":\"Patient\"}]}}"},
    };
    for(size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        snprintf(path, sizeof(path), "%s/%s", pkg, files[i].name);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(files[i].text, f);
        fclose(f);
    }
    lg_issues is = {0};
    const lg_profile *before = lg_defs_base_profile(D, "Patient");
    cr_expect_eq(lg_defs_load_package(D, dir, &is), LG_OK, "bad files are warnings");
    int broken = 0, dup = 0;
    for(size_t i = 0; i < is.count; i++) {
        broken |= is.items[i].severity == LG_SEV_WARNING && strstr(is.items[i].diagnostics, "broken.json");
        dup |= is.items[i].severity == LG_SEV_WARNING && strstr(is.items[i].diagnostics, "defined again");
    }
    cr_expect(broken);
    cr_expect(dup);
    cr_expect_eq(lg_defs_base_profile(D, "Patient"), before, "the first definition is kept");
    lg_issues_free(&is);
    for(size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        snprintf(path, sizeof(path), "%s/%s", pkg, files[i].name);
        unlink(path);
    }
    rmdir(pkg);
    rmdir(dir);
}
