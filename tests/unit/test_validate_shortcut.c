/* test_validate_shortcut.c - the invariants the validator decides natively
 * (src/validate/shortcut.c) agree with their FHIRPath: over every object
 * of every R4 example, Synthea Bundle and IG package instance, wherever
 * the native look says "passes", the FHIRPath evaluated on the same object
 * is true or empty, without error. Crafted objects where the FHIRPath is
 * false show the native look never claims those.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/fhirpath.h"
#include "loopgate/profile.h"
#include "lg_test.h"
#include "validate/shortcut.h"

#define NKINDS (LG_PSC_EXT1 + 1)

static lg_defs *D;
static const lg_pconstraint *K[NKINDS];
static long passed[NKINDS], deferred[NKINDS];

static void grab(const lg_pnode *n)
{
    cr_assert_not_null(n);
    for(size_t i = 0; i < n->nconstraints; i++)
        if(n->constraints[i]->shortcut)
            K[n->constraints[i]->shortcut] = n->constraints[i];
}

static void load(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &D, &is), LG_OK);
    lg_issues_free(&is);
    grab(lg_defs_base_profile(D, "Patient")->root);
    grab(lg_defs_base_profile(D, "Reference")->root);
    grab(lg_profile_node(lg_defs_base_profile(D, "Bundle"), "Bundle.entry"));
    grab(lg_profile_node(lg_defs_base_profile(D, "ConceptMap"),
                         "ConceptMap.group.element.target"));
    grab(lg_defs_base_profile(D, "ContactPoint")->root);
    grab(lg_defs_base_profile(D, "Quantity")->root);
    grab(lg_defs_base_profile(D, "Observation")->root);
    grab(lg_defs_base_profile(D, "Period")->root);
    grab(lg_defs_base_profile(D, "Bundle")->root);
    grab(lg_profile_node(lg_defs_base_profile(D, "Narrative"), "Narrative.div"));
    grab(lg_defs_base_profile(D, "Extension")->root);
    for(int k = 1; k < NKINDS; k++) {
        cr_assert_not_null(K[k], "the R4 constraint for shortcut %d is loaded and recognised", k);
        cr_assert_not_null(K[k]->expr, "%s compiles", K[k]->key);
    }
}

static void unload(void)
{
    lg_defs_free(D);
}

TestSuite(shortcut, .init = load, .fini = unload, .timeout = 600);

/* The FHIRPath truth of kind on focus: 1, 0, -1 empty; -2 error. */
static int fhirpath_truth(int kind, const cJSON *focus, const cJSON *res, const cJSON *root)
{
    lg_fp_item it = {.kind = LG_FP_NODE, .node = focus};
    lg_fp_env env = {.context_item = &it, .resource = res, .root_resource = root};
    lg_fp_collection out = {0};
    lg_issues is = {0};
    lg_status st = lg_fhirpath_eval_env(K[kind]->expr, &env, &out, &is);
    int t = st || is.count ? -2 : lg_fp_truth(&out);
    lg_fp_collection_free(&out);
    lg_issues_free(&is);
    return t;
}

/* Every object under j (res: the nearest resource, root: the document). */
static void sweep(const cJSON *j, const cJSON *res, const cJSON *root, const char *file)
{
    if(cJSON_IsObject(j)) {
        if(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "resourceType")))
            res = j;
        for(int k = 1; k < NKINDS; k++) {
            if(!lg_vshortcut_passes((lg_pshortcut)k, j)) {
                deferred[k]++;
                continue;
            }
            passed[k]++;
            int t = fhirpath_truth(k, j, res, root);
            if(t == 0 || t == -2) {
                char *s = cJSON_PrintUnformatted(j);
                cr_expect(0, "%s: shortcut says %s passes, FHIRPath says %s, on %.300s", file,
                        K[k]->key, t ? "error" : "false", s ? s : "?");
                free(s);
            }
        }
    }
    for(const cJSON *c = j->child; c; c = c->next)
        sweep(c, res, root, file);
}

static int sweep_dir(const char *dir, int skip_definitions)
{
    DIR *dh = opendir(dir);
    if(!dh)
        return 0;
    struct dirent *de;
    int n = 0;
    while((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if(nl < 6 || strcmp(de->d_name + nl - 5, ".json") || de->d_name[0] == '.')
            continue;
        if(skip_definitions && (!strncmp(de->d_name, "StructureDefinition-", 20) ||
                                !strncmp(de->d_name, "ValueSet-", 9) ||
                                !strncmp(de->d_name, "CodeSystem-", 11)))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cJSON *j = lg_test_read_json(path);
        if(!j)
            continue;
        sweep(j, j, j, de->d_name);
        cJSON_Delete(j);
        n++;
    }
    closedir(dh);
    return n;
}

Test(shortcut, agrees_with_fhirpath_over_the_corpus)
{
    int n = sweep_dir(LG_SHARED_DIR "/fhir/r4-examples", 0);
    n += sweep_dir(LG_SHARED_DIR "/fhir/synthea", 0);
    n += sweep_dir(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.core#7.0.0/package", 1);
    n += sweep_dir(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package", 1);
    n += sweep_dir(LG_SOURCE_DIR "/profiles/package/example", 0);
    cr_assert_gt(n, 400, "the corpus is there (%d files)", n);
    for(int k = 1; k < NKINDS; k++) {
        fprintf(stderr, "shortcut %s: passed natively on %ld objects, deferred on %ld\n",
                K[k]->key, passed[k], deferred[k]);
        cr_expect_gt(passed[k], 20, "%s is decided natively somewhere", K[k]->key);
        if(k != LG_PSC_HTML) /* htmlChecks() is decided everywhere */
            cr_expect_gt(deferred[k], 0, "%s is left to FHIRPath somewhere", K[k]->key);
    }
}

/* Where the FHIRPath is false, the shortcut must not claim a pass. */
Test(shortcut, never_passes_what_fhirpath_fails)
{
    static const struct {
        int kind;
        const char *json;
    } cases[] = {
        {LG_PSC_REF1, "{\"reference\":\"#nope\"}"},
        {LG_PSC_DOM2, "{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Patient\","
                      "\"id\":\"a\",\"contained\":[{\"resourceType\":\"Patient\",\"id\":\"b\"}]}]}"},
        {LG_PSC_DOM4, "{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Patient\","
                      "\"id\":\"a\",\"meta\":{\"versionId\":\"1\"}}]}"},
        {LG_PSC_DOM5, "{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Patient\","
                      "\"id\":\"a\",\"meta\":{\"security\":[{\"code\":\"R\"}]}}]}"},
        {LG_PSC_DOM6, "{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\"}}"},
        {LG_PSC_DOM6, "{\"resourceType\":\"Patient\"}"},
        {LG_PSC_BDL8, "{\"fullUrl\":\"http://x.org/fhir/Patient/1/_history/2\"}"},
        {LG_PSC_BDL5, "{\"fullUrl\":\"urn:uuid:1\"}"},
        {LG_PSC_BDL5, "{\"resource\":null,\"search\":{\"mode\":\"match\"}}"},
        {LG_PSC_CMD1, "{\"code\":\"a\",\"equivalence\":\"narrower\"}"},
        {LG_PSC_CPT2, "{\"value\":\"555\"}"},
        {LG_PSC_QTY3, "{\"value\":1,\"code\":\"mg\"}"},
        {LG_PSC_OBS6, "{\"resourceType\":\"Observation\",\"valueString\":\"x\","
                      "\"dataAbsentReason\":{\"text\":\"y\"}}"},
        {LG_PSC_OBS7, "{\"resourceType\":\"Observation\",\"code\":{\"coding\":[{\"code\":\"a\"}]},"
                      "\"valueString\":\"x\",\"component\":[{\"code\":{\"coding\":"
                      "[{\"code\":\"a\"}]}}]}"},
        {LG_PSC_PER1, "{\"start\":\"2020-02-01\",\"end\":\"2020-01-01\"}"},
        {LG_PSC_EXT1, "{\"url\":\"http://x.org/e\"}"},
        {LG_PSC_EXT1, "{\"url\":\"http://x.org/e\",\"valueString\":\"a\",\"extension\":"
                      "[{\"url\":\"b\",\"valueString\":\"c\"}]}"},
        {LG_PSC_BDL3, "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"request\":"
                      "{\"method\":\"GET\",\"url\":\"Patient\"}},{\"fullUrl\":\"urn:uuid:1\"}]}"},
        {LG_PSC_BDL3, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"request\":"
                      "{\"method\":\"GET\",\"url\":\"Patient\"}}]}"},
        {LG_PSC_BDL4, "{\"resourceType\":\"Bundle\",\"type\":\"batch-response\",\"entry\":"
                      "[{\"fullUrl\":\"urn:uuid:1\"}]}"},
        {LG_PSC_BDL7, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
                      "{\"fullUrl\":\"urn:uuid:1\"},{\"fullUrl\":\"urn:uuid:1\"}]}"},
        {LG_PSC_BDL7, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
                      "{\"fullUrl\":\"a1\",\"resource\":{\"resourceType\":\"Patient\","
                      "\"meta\":{\"versionId\":\"b\"}}},{\"fullUrl\":\"a\",\"resource\":"
                      "{\"resourceType\":\"Patient\",\"meta\":{\"versionId\":\"1b\"}}}]}"},
    };
    for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        cr_assert_not_null(j);
        cr_expect_eq(fhirpath_truth(cases[i].kind, j, j, j), 0, "%s is false on %s",
                     K[cases[i].kind]->key, cases[i].json);
        cr_expect_eq(lg_vshortcut_passes((lg_pshortcut)cases[i].kind, j), 0,
                     "no native pass for %s on %s", K[cases[i].kind]->key, cases[i].json);
        cJSON_Delete(j);
    }
    /* and the common cases are decided natively */
    cJSON *r = cJSON_Parse("{\"reference\":\"Patient/1\"}");
    cr_expect_eq(lg_vshortcut_passes(LG_PSC_REF1, r), 1);
    cJSON_Delete(r);
}
