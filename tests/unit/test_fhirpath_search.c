/* The search indexer's use of FHIRPath (src/fhirpath): the kinds of R4
 * SearchParameter expressions it evaluates, checked on official examples,
 * and every R4 SearchParameter expression evaluated on every example of its
 * base types without an evaluation error. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopgate/fhirpath.h"
#include "lg_test.h"

static cJSON *example(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/fhir/r4-examples/%s", LG_SHARED_DIR, name);
    cJSON *j = lg_test_read_json(path);
    cr_assert_not_null(j, "cannot read %s", path);
    return j;
}

/* Values of a result as "a|b": strings and numbers of nodes, reference
 * strings of Reference objects, <Type> for typed placeholders. */
static void expect(const char *expr, const cJSON *res, const char *want)
{
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    lg_fp_collection c = {0};
    cr_assert_eq(lg_fhirpath_compile(expr, &e, &is), LG_OK, "compile %s", expr);
    cr_assert_eq(lg_fhirpath_eval(e, res, &c, &is), LG_OK, "eval %s: %s", expr,
                 is.count ? is.items[0].diagnostics : "");
    char got[2048] = "";
    for(size_t i = 0; i < c.count; i++) {
        const lg_fp_item *it = &c.items[i];
        char one[256] = "?";
        if(it->kind == LG_FP_NODE && cJSON_IsString(it->node))
            snprintf(one, sizeof(one), "%s", it->node->valuestring);
        else if(it->kind == LG_FP_NODE && cJSON_IsNumber(it->node))
            snprintf(one, sizeof(one), "%g", it->node->valuedouble);
        else if(it->kind == LG_FP_NODE && cJSON_IsObject(it->node)) {
            const cJSON *r = cJSON_GetObjectItem(it->node, "reference");
            const cJSON *v = cJSON_GetObjectItem(it->node, "value");
            if(cJSON_IsString(r))
                snprintf(one, sizeof(one), "%s", r->valuestring);
            else if(cJSON_IsNumber(v))
                snprintf(one, sizeof(one), "%s:%g", it->type ? it->type : "", v->valuedouble);
            else
                snprintf(one, sizeof(one), "{%s}", it->type ? it->type : "");
        } else if(it->kind == LG_FP_TYPED)
            snprintf(one, sizeof(one), "<%s>", it->type);
        else if(it->kind == LG_FP_BOOL)
            snprintf(one, sizeof(one), "%s", it->b ? "true" : "false");
        size_t l = strlen(got);
        snprintf(got + l, sizeof(got) - l, "%s%s", i ? "|" : "", one);
    }
    cr_expect_str_eq(got, want, "%s", expr);
    lg_fp_collection_free(&c);
    lg_fhirpath_free(e);
    lg_issues_free(&is);
}

Test(fhirpath_search, reference_targets_by_resolve)
{
    cJSON *t = example("Task-example1.json");
    expect("Task.for.where(resolve() is Patient)", t, "Patient/example");
    expect("Task.for.where(resolve() is Group)", t, "");
    expect("Task.owner.where(resolve() is Organization)", t, "Organization/1832473e-2fe0-452d-abe9-3cdb9879522f");
    expect("Task.focus.resolve()", t, "<ServiceRequest>");
    /* a Task is not a Patient: type-rooted paths of other types are empty */
    expect("Patient.name.family", t, "");
    expect("Task.requester | Patient.generalPractitioner", t, "Practitioner/example");
    cJSON_Delete(t);
    /* absolute references and contained ones */
    cJSON *r = cJSON_Parse("{\"resourceType\":\"Task\",\"for\":{\"reference\":"
                           "\"https://ehr.example/fhir/Patient/42/_history/3\"},"
                           "\"owner\":{\"reference\":\"#org\"},\"contained\":[{\"resourceType\":"
                           "\"Organization\",\"id\":\"org\",\"name\":\"Acme\"}],"
                           "\"requester\":{\"identifier\":{\"value\":\"x\"}}}");
    expect("Task.for.where(resolve() is Patient)", r, "https://ehr.example/fhir/Patient/42/_history/3");
    expect("Task.owner.resolve().name", r, "Acme");
    expect("Task.owner.where(resolve() is Organization)", r, "#org");
    expect("Task.requester.resolve()", r, "");
    cJSON_Delete(r);
}

Test(fhirpath_search, choice_types_and_unions)
{
    cJSON *o = example("Observation-example.json");
    expect("(Observation.value as Quantity)", o, "Quantity:185");
    expect("Observation.value.as(Quantity).unit", o, "lbs");
    expect("(Observation.value as CodeableConcept)", o, "");
    expect("(Observation.effective as dateTime)", o, "2016-03-28");
    expect("Observation.effective.ofType(Period)", o, "");
    expect("Observation.code.coding.code", o, "29463-7|3141-9|27113001|body-weight");
    expect("Observation.subject.where(resolve() is Patient)", o, "Patient/example");
    /* unions across types: the common "multi-resource" parameters */
    expect("AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | "
           "Observation.subject.where(resolve() is Patient)", o, "Patient/example");
    cJSON_Delete(o);
    cJSON *p = example("Patient-example.json");
    expect("Patient.name", p, "{}|{}|{}");
    expect("Patient.name.family | Practitioner.name.family", p, "Chalmers|Windsor");
    expect("Patient.telecom.where(system='phone')", p, "{}|{}|{}");
    expect("Patient.deceased.exists() and Patient.deceased != false", p, "false");
    expect("Patient.birthDate", p, "1974-12-25");
    expect("Patient.address.postalCode | Patient.address.city", p, "3999|PleasantVille");
    cJSON_Delete(p);
    cJSON *cp = example("CarePlan-example.json");
    expect("CarePlan.activity.reference", cp, "");
    cJSON_Delete(cp);
    cJSON *cp2 = example("CarePlan-f001.json");
    expect("CarePlan.activity.reference", cp2, "");
    expect("CarePlan.activity.detail.code.coding.code", cp2, "64915003");
    cJSON_Delete(cp2);
    cJSON *cp3 = example("CarePlan-preg.json");
    expect("CarePlan.activity.reference", cp3, "{}");
    expect("CarePlan.activity.reference.display", cp3, "Prenatal vitamin MedicationRequest");
    cJSON_Delete(cp3);
}

#define MAX_EXAMPLES 400

Test(fhirpath_search, every_r4_expression_evaluates_on_the_examples)
{
    const char *d = lg_test_defs_dir();
    if(!d)
        cr_skip_test("R4 definitions not installed (set LOOPGATE_DEFS)");
    char path[1024];
    snprintf(path, sizeof(path), "%s/search-parameters.json", d);
    cJSON *bundle = lg_test_read_json(path);
    cr_assert_not_null(bundle, "%s", path);
    /* the examples, by resource type */
    static cJSON *ex[MAX_EXAMPLES];
    int nex = 0;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/fhir/r4-examples", LG_SHARED_DIR);
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh);
    struct dirent *de;
    while((de = readdir(dh)) && nex < MAX_EXAMPLES) {
        if(!strstr(de->d_name, ".json"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cJSON *j = lg_test_read_json(path);
        if(j)
            ex[nex++] = j;
    }
    closedir(dh);
    int nexpr = 0, evals = 0, errors = 0, nonempty = 0;
    cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItem(bundle, "entry")) {
        const cJSON *sp = cJSON_GetObjectItem(entry, "resource");
        const cJSON *expr = cJSON_GetObjectItem(sp, "expression");
        if(!cJSON_IsString(expr))
            continue;
        lg_fhirpath *e = NULL;
        lg_issues is = {0};
        cr_assert_eq(lg_fhirpath_compile(expr->valuestring, &e, &is), LG_OK, "%s", expr->valuestring);
        nexpr++;
        const cJSON *base;
        cJSON_ArrayForEach(base, cJSON_GetObjectItem(sp, "base")) {
            for(int i = 0; i < nex; i++) {
                const cJSON *rt = cJSON_GetObjectItem(ex[i], "resourceType");
                if(!cJSON_IsString(rt) || !cJSON_IsString(base) ||
                   (strcmp(rt->valuestring, base->valuestring) && strcmp(base->valuestring, "Resource") &&
                    strcmp(base->valuestring, "DomainResource")))
                    continue;
                lg_fp_collection c = {0};
                lg_issues ei = {0};
                evals++;
                if(lg_fhirpath_eval(e, ex[i], &c, &ei) != LG_OK) {
                    errors++;
                    cr_log_error("%s on %s: %s", expr->valuestring, rt->valuestring,
                                 ei.count ? ei.items[0].diagnostics : "");
                }
                nonempty += c.count > 0;
                lg_fp_collection_free(&c);
                lg_issues_free(&ei);
            }
        }
        lg_fhirpath_free(e);
    }
    for(int i = 0; i < nex; i++)
        cJSON_Delete(ex[i]);
    cJSON_Delete(bundle);
    cr_log_info("%d expressions, %d evaluations on %d examples, %d non-empty, %d errors", nexpr,
                evals, nex, nonempty, errors);
    printf("R4 search expressions: %d compiled, %d evaluations, %d non-empty, %d errors\n", nexpr,
           evals, nonempty, errors);
    cr_expect_gt(nexpr, 1000);
    cr_expect_gt(evals, 2000);
    cr_expect_gt(nonempty, 1000, "the expressions should find values in the examples");
    cr_expect_eq(errors, 0);
}
