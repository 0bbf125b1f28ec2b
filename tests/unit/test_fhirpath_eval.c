/* Unit tests for the FHIRPath engine (src/fhirpath): parsing, evaluation on
 * official R4 examples, and compilation of every R4 SearchParameter
 * expression. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
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
    return lg_test_load_json(path);
}

/* Evaluate and render results as "a|b|c" (strings, numbers, booleans, types). */
static char *run(const char *expr, const cJSON *res)
{
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    lg_fp_collection c = {0};
    cr_assert_eq(lg_fhirpath_compile(expr, &e, &is), LG_OK, "compile %s: %s", expr,
                 is.count ? is.items[0].diagnostics : "");
    cr_assert_eq(lg_fhirpath_eval(e, res, &c, &is), LG_OK, "eval %s: %s", expr,
                 is.count ? is.items[0].diagnostics : "");
    char *out = calloc(1, 4096);
    for(size_t i = 0; i < c.count; i++) {
        const lg_fp_item *it = &c.items[i];
        char one[512] = "";
        switch(it->kind) {
        case LG_FP_BOOL: snprintf(one, sizeof(one), "%s", it->b ? "true" : "false"); break;
        case LG_FP_INT: snprintf(one, sizeof(one), "%lld", (long long)it->i); break;
        case LG_FP_DECIMAL: snprintf(one, sizeof(one), "%g", it->d); break;
        case LG_FP_STRING: snprintf(one, sizeof(one), "%s", it->s); break;
        case LG_FP_TYPED: snprintf(one, sizeof(one), "<%s>", it->type); break;
        case LG_FP_DATE: case LG_FP_DATETIME: snprintf(one, sizeof(one), "@%s", it->s); break;
        case LG_FP_TIME: snprintf(one, sizeof(one), "@T%s", it->s); break;
        case LG_FP_QUANTITY: snprintf(one, sizeof(one), "%g '%s'", it->d, it->s); break;
        case LG_FP_NODE:
            if(cJSON_IsString(it->node)) snprintf(one, sizeof(one), "%s", it->node->valuestring);
            else if(cJSON_IsNumber(it->node)) snprintf(one, sizeof(one), "%g", it->node->valuedouble);
            else if(cJSON_IsBool(it->node)) snprintf(one, sizeof(one), "%s", cJSON_IsTrue(it->node) ? "true" : "false");
            else snprintf(one, sizeof(one), "{%s}", it->type ? it->type : "");
            break;
        }
        if(i) strncat(out, "|", 4095 - strlen(out));
        strncat(out, one, 4095 - strlen(out));
    }
    lg_fp_collection_free(&c);
    lg_fhirpath_free(e);
    lg_issues_free(&is);
    return out;
}

static void expect(const char *expr, const cJSON *res, const char *want)
{
    char *got = run(expr, res);
    cr_assert_str_eq(got, want, "%s", expr);
    free(got);
}

Test(fhirpath, paths_on_patient_example)
{
    cJSON *p = example("Patient-example.json");
    expect("Patient.name.family", p, "Chalmers|Windsor");
    expect("Patient.name.given", p, "Peter|James|Jim|Peter|James");
    expect("name.where(use = 'official').given.first()", p, "Peter");
    expect("Patient.birthDate", p, "1974-12-25");
    expect("Task.status", p, "");
    expect("Patient.name.count()", p, "3");
    expect("Patient.name[1].given", p, "Jim");
    expect("Patient.gender = 'male'", p, "true");
    expect("Patient.active and Patient.gender.exists()", p, "true");
    expect("Patient.telecom.where(system = 'phone').value.count() > 1", p, "true");
    expect("Patient.name.given.distinct().count()", p, "3");
    expect("Patient.identifier.system.startsWith('urn:oid')", p, "true");
    expect("Patient.name.family | Practitioner.name.family", p, "Chalmers|Windsor");
    expect("Patient.name.first().family & ', ' & Patient.name.given.first()", p, "Chalmers, Peter");
    expect("Patient.managingOrganization.resolve() is Organization", p, "true");
    expect("%resource.id", p, "example");
    expect("Patient.deceased", p, "false");
    expect("Patient.deceased is Boolean", p, "true");
    expect("(Patient.deceased as dateTime).exists()", p, "false");
    cJSON_Delete(p);
}

Test(fhirpath, search_parameter_style_expressions)
{
    cJSON *t = example("Task-example1.json");
    expect("Task.for.where(resolve() is Patient)", t, "{}");
    expect("Task.for.where(resolve() is Patient).reference", t, "Patient/example");
    expect("Task.for.where(resolve() is Group)", t, "");
    expect("Task.owner.reference", t, "Organization/1832473e-2fe0-452d-abe9-3cdb9879522f");
    expect("Task.focus.resolve()", t, "<ServiceRequest>");
    expect("Task.businessStatus.text", t, "waiting for specimen");
    expect("Task.identifier.where(system.exists()).value", t, "20170201-001");
    cJSON_Delete(t);
    cJSON *o = example("Observation-example.json");
    expect("(Observation.value as Quantity).value", o, "185");
    expect("Observation.value.ofType(Quantity).unit", o, "lbs");
    expect("(Observation.value as CodeableConcept).text", o, "");
    cJSON_Delete(o);
    cJSON *cp = example("CarePlan-example.json");
    expect("CarePlan.subject.reference", cp, "Patient/example");
    cJSON_Delete(cp);
}

Test(fhirpath, operators_and_functions)
{
    cJSON *r = cJSON_Parse("{\"resourceType\":\"Basic\"}");
    expect("1 + 2 * 3", r, "7");
    expect("(1 + 2) * 3", r, "9");
    expect("7 div 2", r, "3");
    expect("7 mod 2", r, "1");
    expect("7 / 2", r, "3.5");
    expect("(-3.5).abs()", r, "3.5");
    expect("-3.5.abs()", r, "-3.5");
    expect("'abc' + 'def'", r, "abcdef");
    expect("'Hello'.upper() = 'HELLO'", r, "true");
    expect("'abc' ~ 'ABC'", r, "true");
    expect("{} = 1", r, "");
    expect("true and {}", r, "");
    expect("false and {}", r, "false");
    expect("true or {}", r, "true");
    expect("false implies {}", r, "true");
    expect("true xor false", r, "true");
    expect("(1 | 2 | 2 | 3).count()", r, "3");
    expect("(1 | 2).combine(2).count()", r, "3");
    expect("2 in (1 | 2)", r, "true");
    expect("(1 | 2) contains 3", r, "false");
    expect("iif(1 < 2, 'yes', 'no')", r, "yes");
    expect("'2026-11-24' < '2026-12-01'", r, "true");
    expect("'abcdef'.substring(2, 3)", r, "cde");
    expect("'a-b-c'.replace('-', '+')", r, "a+b+c");
    expect("'12345'.matches('^[0-9]+$')", r, "true");
    expect("'42'.toInteger() + 1", r, "43");
    expect("(1 | 2 | 3).where($this > 1)", r, "2|3");
    expect("(1 | 2 | 3).select($this * 10)", r, "10|20|30");
    expect("(1 | 2 | 3).all($this > 0)", r, "true");
    expect("(1 | 2 | 3).skip(1).take(1)", r, "2");
    expect("(1 | 2 | 3).tail().last()", r, "3");
    expect("@2026-11-24", r, "@2026-11-24");
    cJSON_Delete(r);
}

Test(fhirpath, syntax_errors_say_where)
{
    const char *bad[] = {"Patient.", "Patient.name.where(", "1 +", "(1", "'unterminated",
                         "Patient..name", "a ! b", "{1}", "f(1,)", "x is", ""};
    for(size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        lg_fhirpath *e = NULL;
        lg_issues is = {0};
        cr_assert_eq(lg_fhirpath_compile(bad[i], &e, &is), LG_EINVAL, "'%s' compiled", bad[i]);
        cr_assert_null(e);
        cr_assert_not_null(strstr(is.items[0].diagnostics, "offset"), "%s",
                           is.items[0].diagnostics);
        lg_issues_free(&is);
    }
}

Test(fhirpath, hostile_inputs_do_not_crash)
{
    char *deep = malloc(5000);
    memset(deep, '(', 4999);
    deep[4999] = '\0';
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_fhirpath_compile(deep, &e, &is), LG_EINVAL);
    lg_issues_free(&is);
    free(deep);
    /* found by fuzz_fhirpath_eval: an integer literal beyond long long, as
     * text, was a double-to-long-long conversion out of range (UBSan) */
    expect("17777777777777777777777.convertsToString()", NULL, "true");
    char *big = run("17777777777777777777777.toString()", NULL);
    cr_assert(big[0] >= '1' && big[0] <= '9', "%s", big);
    free(big);
    srand(42);
    const char alphabet[] = "abPT.()[]|'=<>!~+-*/&$%@{},0123456789 \\`";
    for(int k = 0; k < 2000; k++) {
        char s[40];
        int n = rand() % 39;
        for(int i = 0; i < n; i++)
            s[i] = alphabet[rand() % (sizeof(alphabet) - 1)];
        s[n] = '\0';
        if(lg_fhirpath_compile(s, &e, &is) == LG_OK) {
            lg_fp_collection c = {0};
            cJSON *r = cJSON_Parse("{\"resourceType\":\"Patient\",\"a\":[1,2],\"b\":\"x\"}");
            lg_issues ei = {0};
            lg_fhirpath_eval(e, r, &c, &ei);
            lg_fp_collection_free(&c);
            lg_issues_free(&ei);
            cJSON_Delete(r);
            lg_fhirpath_free(e);
        }
        lg_issues_free(&is);
    }
}

Test(fhirpath, every_r4_search_parameter_expression_compiles)
{
    const char *d = lg_test_defs_dir();
    cr_assert_not_null(d, "definitions not installed: run scripts/setup.sh");
    char path[600];
    snprintf(path, sizeof(path), "%s/search-parameters.json", d);
    cJSON *b = lg_test_load_json(path);
    int n = 0, failed = 0;
    cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItem(b, "entry")) {
        cJSON *expr = cJSON_GetObjectItem(cJSON_GetObjectItem(entry, "resource"), "expression");
        if(!cJSON_IsString(expr))
            continue;
        lg_fhirpath *e = NULL;
        lg_issues is = {0};
        n++;
        if(lg_fhirpath_compile(expr->valuestring, &e, &is) != LG_OK) {
            failed++;
            cr_log_error("%s", is.items[0].diagnostics);
        }
        lg_fhirpath_free(e);
        lg_issues_free(&is);
    }
    cJSON_Delete(b);
    cr_log_info("%d SearchParameter expressions compiled, %d failed", n - failed, failed);
    cr_assert_gt(n, 1000);
    cr_assert_eq(failed, 0);
}
