/* Unit tests for FHIRPath values (src/fhirpath): dates, times and
 * quantities with their precision rules, the type system, conversions,
 * string and collection functions, and the cases the spec makes errors. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/fhirpath.h"

static cJSON *basic(void)
{
    return cJSON_Parse("{\"resourceType\":\"Observation\",\"id\":\"o1\","
                       "\"effectiveDateTime\":\"2026-11-24T10:00:00+01:00\","
                       "\"issued\":\"2026-11-24T09:30:00Z\","
                       "\"valueQuantity\":{\"value\":72.5,\"unit\":\"kg\",\"code\":\"kg\","
                       "\"system\":\"http://unitsofmeasure.org\"},"
                       "\"component\":[{\"valueString\":\"a\"},{\"valueBoolean\":true},"
                       "{\"valueInteger\":3},{\"valueDateTime\":\"2020-01\"}],"
                       "\"subject\":{\"reference\":\"https://example.org/fhir/Patient/p1/_history/2\"},"
                       "\"performer\":[{\"reference\":\"Practitioner/pr1\"},{\"reference\":\"#c1\"},"
                       "{\"display\":\"nobody\"}],"
                       "\"contained\":[{\"resourceType\":\"Organization\",\"id\":\"c1\"}]}");
}

/* Render a result as "a|b|c"; dates as @..., quantities as 4 'mg'. The
 * caller frees. */
static char *render(const lg_fp_collection *c)
{
    size_t cap = 4096;
    char *out = calloc(1, cap);
    for(size_t i = 0; i < c->count; i++) {
        const lg_fp_item *it = &c->items[i];
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
        if(i)
            strncat(out, "|", cap - strlen(out) - 1);
        strncat(out, one, cap - strlen(out) - 1);
    }
    return out;
}

static void expect(const char *expr, const cJSON *res, const char *want)
{
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    lg_fp_collection c = {0};
    cr_assert_eq(lg_fhirpath_compile(expr, &e, &is), LG_OK, "compile %s: %s", expr,
                 is.count ? is.items[0].diagnostics : "");
    cr_assert_eq(lg_fhirpath_eval(e, res, &c, &is), LG_OK, "eval %s: %s", expr,
                 is.count ? is.items[0].diagnostics : "");
    char *got = render(&c);
    cr_expect_str_eq(got, want, "%s", expr);
    free(got);
    lg_fp_collection_free(&c);
    lg_fhirpath_free(e);
    lg_issues_free(&is);
}

/* The expression compiles but its evaluation is an error with an issue. */
static void expect_error(const char *expr, const cJSON *res)
{
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    lg_fp_collection c = {0};
    cr_assert_eq(lg_fhirpath_compile(expr, &e, &is), LG_OK, "compile %s", expr);
    cr_expect_eq(lg_fhirpath_eval(e, res, &c, &is), LG_EINVAL, "%s evaluated", expr);
    cr_expect_geq(lg_issues_errors(&is), 1, "%s: no issue", expr);
    lg_fp_collection_free(&c);
    lg_fhirpath_free(e);
    lg_issues_free(&is);
}

Test(fhirpath_values, date_and_time_literals_keep_their_kind_and_precision)
{
    cJSON *r = basic();
    expect("@2026-11-24", r, "@2026-11-24");
    expect("@2026-11", r, "@2026-11");
    expect("@2026T", r, "@2026T");
    expect("@2026-11-24T10:30:00.250+01:00", r, "@2026-11-24T10:30:00.250+01:00");
    expect("@T14:34", r, "@T14:34");
    expect("@2015.is(Date)", r, "true");
    expect("@2015-02-04T14:34.is(DateTime)", r, "true");
    expect("@T14:34:28.123.is(Time)", r, "true");
    expect("@2026-11-24.is(DateTime)", r, "false");
    expect("@2026-11-24.toString()", r, "2026-11-24");
    cJSON_Delete(r);
}

Test(fhirpath_values, date_comparison_follows_precision_and_zones)
{
    cJSON *r = basic();
    expect("@2026-11-24 < @2026-12-01", r, "true");
    expect("@2026-11-24 = @2026-11-24", r, "true");
    expect("@2026-11 = @2026-11-24", r, "");            /* precision runs out: unknown */
    expect("@2026-10 < @2026-11-24", r, "true");        /* decided before it runs out */
    expect("@2012-04-15T15:00:00+02:00 = @2012-04-15T16:00:00+03:00", r, "true");
    expect("@2012-04-15T15:00:00Z = @2012-04-15T10:00:00", r, "");  /* one zone only */
    expect("@2026-11-24 != @T12:00", r, "true");        /* a date is never a time */
    expect("@2026-11-24 ~ @2026-11", r, "false");
    /* a dateTime element (known from its choice suffix) compares as a date */
    expect("Observation.effective > @2026-11-24T08:59:59Z", r, "true");
    expect("Observation.effective < @2026-11-24T09:00:01Z", r, "true");
    /* a plain string element is read as a date when compared with one */
    expect("Observation.issued > @2026-11-24T09:00:00Z", r, "true");
    expect("Observation.component.value.where($this is dateTime) < @2020-02", r, "true");
    expect("today() > @2000-01-01", r, "true");
    expect("now() > @2000-01-01T00:00:00Z", r, "true");
    expect("timeOfDay().is(Time)", r, "true");
    cJSON_Delete(r);
}

Test(fhirpath_values, date_arithmetic)
{
    cJSON *r = basic();
    expect("@2026-01-31 + 1 month", r, "@2026-02-28");
    expect("@2024-02-29 + 1 year", r, "@2025-02-28");
    expect("@1973-12-25 + 1 'wk'", r, "@1974-01-01");
    expect("@2026-03-01 - 1 day", r, "@2026-02-28");
    expect("@2026-11-24T23:30:00Z + 45 minutes", r, "@2026-11-25T00:15:00Z");
    expect("@T23:30 + 1 hour", r, "@T00:30");
    expect("@2026 + 3 days", r, "@2026");                /* below its precision */
    expect_error("@1973-12-25 + 1 'a'", r);             /* UCUM years are not calendar years */
    expect_error("@1974-12-25 + 7", r);
    expect_error("@1974-12-25 - 1 'cm'", r);
    cJSON_Delete(r);
}

Test(fhirpath_values, quantities_compare_across_units)
{
    cJSON *r = basic();
    expect("4 'mg'", r, "4 'mg'");
    expect("4.0000 'g' = 4000.0 'mg'", r, "true");
    expect("4 'g' ~ 4040 'mg'", r, "true");
    expect("4 'g' != 4040 'mg'", r, "true");
    expect("7 days = 1 week", r, "true");
    expect("6 days < 1 'wk'", r, "true");
    expect("1 year = 1 'a'", r, "");
    expect("1 year ~ 1 'a'", r, "true");
    expect("3 'mg' = 3 '[lb_av]'", r, "false");
    expect("2.0 'cm' * 2.0 'm' = 0.040 'm2'", r, "true");
    expect("(-5.5 'mg').abs()", r, "5.5 'mg'");
    expect("1 week.toString()", r, "1 week");
    expect("1 'wk'.toString()", r, "1 'wk'");
    /* a Quantity element compares with a quantity literal */
    expect("(Observation.value as Quantity) > 70 'kg'", r, "true");
    expect("Observation.value = 72500 'g'", r, "true");
    expect("'5.5 mg'.convertsToQuantity()", r, "false");
    expect("'5.5 \\'mg\\''.toQuantity()", r, "5.5 'mg'");
    expect("'1 day'.toQuantity() = 1 'd'", r, "true");
    expect("'1 wk'.convertsToQuantity()", r, "false");
    cJSON_Delete(r);
}

Test(fhirpath_values, types_and_namespaces)
{
    cJSON *r = basic();
    expect("Observation.value is Quantity", r, "true");
    expect("Observation.component.value.where($this is string)", r, "a");
    expect("Observation.component.value.ofType(boolean)", r, "true");
    expect("Observation.component.value.ofType(integer)", r, "3");
    expect("Observation.component[0].value is System.String", r, "false"); /* a FHIR string */
    expect("'a' is System.String", r, "true");
    expect("'a' is FHIR.string", r, "false");
    expect("1.type().namespace", r, "System");
    expect("1.type().name", r, "Integer");
    expect("Observation.type().name", r, "Observation");
    expect("Observation.component[1].value.type().name", r, "boolean");
    expect("Observation is Resource", r, "true");
    expect("Observation.is(System.Observation)", r, "false");
    expect("Observation.subject.resolve() is Patient", r, "true");
    expect("Observation.performer.resolve()", r, "<Practitioner>|{Organization}");
    expect("conformsTo('http://hl7.org/fhir/StructureDefinition/Observation')", r, "true");
    expect("conformsTo('http://hl7.org/fhir/StructureDefinition/Patient')", r, "false");
    expect_error("conformsTo('http://trash')", r);
    cJSON_Delete(r);
}

Test(fhirpath_values, numbers_and_conversions)
{
    cJSON *r = basic();
    expect("1.8 - 1.2 = 0.6", r, "true");
    expect("1.2 / 1.8 ~ 0.67", r, "true");
    expect("1.0.toString()", r, "1.0");
    expect("9223372036854775807 + 1", r, "");            /* overflow: empty, not UB */
    expect("(-9223372036854775807 - 1) div -1", r, "");
    expect("5 div 0", r, "");
    expect("5 mod 0", r, "");
    expect("'1e3'.convertsToInteger()", r, "false");
    expect("'inf'.convertsToDecimal()", r, "false");
    expect("'0x10'.toInteger()", r, "");
    expect("'-12'.toInteger() + 2", r, "-10");
    expect("'2026-02-30'.convertsToDate()", r, "false");
    expect("'2026-02-28'.toDate()", r, "@2026-02-28");
    expect("'2026-02-28T10:00:00Z'.toDateTime()", r, "@2026-02-28T10:00:00Z");
    expect("'10:00'.toTime()", r, "@T10:00");
    expect("(2.0).power(4000).exists()", r, "false");
    expect("100000000000000000000.0.floor().exists()", r, "false");
    expect("2.5.round()", r, "3");
    expect("'yes'.toBoolean()", r, "true");
    cJSON_Delete(r);
}

Test(fhirpath_values, string_functions)
{
    cJSON *r = basic();
    expect("'2026-11-24'.replaceMatches('(\\\\d+)-(\\\\d+)-(\\\\d+)', '$3/$2/$1')", r, "24/11/2026");
    expect("'abc123'.replaceMatches('[0-9]', '-')", r, "abc---");
    expect("'abc'.replace('', 'x')", r, "xaxbxcx");
    expect("'a.b.c'.lastIndexOf('.')", r, "3");
    expect("'  x y  '.trim()", r, "x y");
    expect("'A,,C'.split(',').join('+')", r, "A++C");
    expect("'test'.encode('base64')", r, "dGVzdA==");
    expect("'dGVzdA=='.decode('base64')", r, "test");
    expect("'test'.encode('hex')", r, "74657374");
    expect("'\"1<2\"'.escape('html')", r, "&quot;1&lt;2&quot;");
    expect("'12345'.matches('\\\\d{5}')", r, "true");
    expect("'x12345'.matchesFull('\\\\d+')", r, "false");
    expect("'abc'.toChars().count()", r, "3");
    expect_error("Observation.subject.startsWith('x')", r);
    expect_error("'abc'.matches('(')", r);
    cJSON_Delete(r);
}

Test(fhirpath_values, collection_functions)
{
    cJSON *r = basic();
    expect("(3 | 1 | 2).sort()", r, "1|2|3");
    expect("(3 | 1 | 2).sort(-$this)", r, "3|2|1");
    expect("('b' | 'a' | 'c').sort($this).first()", r, "a");
    expect("(1 | 2 | 3 | 4).aggregate($this + $total, 0)", r, "10");
    expect("(1 | 2 | 3) ~ (3 | 2 | 1)", r, "true");
    expect("(1 | 2 | 3) = (3 | 2 | 1)", r, "false");
    expect("(1 | 2).subsetOf(1 | 2 | 3)", r, "true");
    expect("(1 | 2 | 3).supersetOf(4)", r, "false");
    expect("('context').iif($this = 'context', 'yes', 'no')", r, "yes");
    expect("Observation.component.value.count()", r, "4");
    expect("Observation.descendants().where($this is string).count() > 3", r, "true");
    expect("(1 | 2 | 3).where($index > 0)", r, "2|3");
    expect_error("(1 | 2) & 'b'", r);
    expect_error("('a' | 'b').iif(true, 1, 2)", r);
    expect_error("iif('x', 1, 2)", r);
    expect_error("(1 | 2).single()", r);
    expect_error("(true | 'foo').allTrue()", r);
    expect_error("-(true)", r);
    expect_error("Observation.id < 3", r);
    expect_error("'a' - 'b'", r);
    cJSON_Delete(r);
}

Test(fhirpath_values, primitive_extensions_and_choice_names)
{
    cJSON *r = cJSON_Parse(
        "{\"resourceType\":\"Patient\",\"birthDate\":\"1974-12-25\","
        "\"_birthDate\":{\"extension\":[{\"url\":\"http://hl7.org/fhir/StructureDefinition/"
        "patient-birthTime\",\"valueDateTime\":\"1974-12-25T14:35:45-05:00\"}]},"
        "\"name\":[{\"given\":[null,\"Jim\"],\"_given\":[{\"extension\":[{\"url\":\"u\","
        "\"valueString\":\"masked\"}]},null]}],"
        "\"_gender\":{\"id\":\"g1\"},"
        "\"contact\":[{\"codeFilter\":\"not a choice\"}]}");
    expect("Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime')"
           ".value", r, "1974-12-25T14:35:45-05:00");
    expect("Patient.birthDate.extension.url.count()", r, "1");
    expect("Patient.name.given.select($this.hasValue())", r, "false|true");
    expect("Patient.name.given.count()", r, "2");
    expect("Patient.name.given.extension('u').value", r, "masked");
    expect("Patient.gender.id", r, "g1");
    expect("Patient.gender.hasValue()", r, "false");
    expect("Patient.contact.code", r, "");  /* codeFilter is not code[x] */
    cJSON_Delete(r);
}

Test(fhirpath_values, member_of_is_empty_with_a_warning)
{
    cJSON *r = basic();
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    lg_fp_collection c = {0};
    cr_assert_eq(lg_fhirpath_compile("'x'.memberOf('http://hl7.org/fhir/ValueSet/x')", &e, &is), LG_OK);
    cr_assert_eq(lg_fhirpath_eval(e, r, &c, &is), LG_OK);
    cr_expect_eq(c.count, 0);
    cr_expect_eq(is.count, 1);
    cr_expect_eq(lg_issues_errors(&is), 0);
    cr_expect_eq(is.items[0].severity, LG_SEV_WARNING);
    lg_fp_collection_free(&c);
    lg_fhirpath_free(e);
    lg_issues_free(&is);
    cJSON_Delete(r);
}

Test(fhirpath_values, results_are_bounded)
{
    /* repeat() over a self-feeding expression stops at the result limit */
    cJSON *r = basic();
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    lg_fp_collection c = {0};
    cr_assert_eq(lg_fhirpath_compile("(1).repeat($this + 1)", &e, &is), LG_OK);
    cr_expect_eq(lg_fhirpath_eval(e, r, &c, &is), LG_EINVAL);
    cr_expect_geq(lg_issues_errors(&is), 1);
    lg_fp_collection_free(&c);
    lg_fhirpath_free(e);
    lg_issues_free(&is);
    cJSON_Delete(r);
}
