/* Unit tests for search index extraction (src/search/index.c) on the R4
 * examples and on hand-made resources. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "loopgate/defs.h"
#include "loopgate/search.h"
#include "loopgate/time.h"
#include "lg_test.h"

static lg_defs *defs;

static void setup(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &defs, &is), LG_OK);
    lg_issues_free(&is);
}

static void teardown(void)
{
    lg_defs_free(defs);
}

TestSuite(index, .init = setup, .fini = teardown);

static cJSON *load_example(const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/fhir/r4-examples/%s", LG_SHARED_DIR, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[4 * 1024 * 1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    cr_assert_not_null(j, "%s does not parse", path);
    return j;
}

static lg_index extract(const char *type, const cJSON *res, lg_issues *is)
{
    lg_index ix = {0};
    memset(is, 0, sizeof(*is));
    cr_assert_eq(lg_index_extract(defs, type, res, &ix, is), LG_OK);
    return ix;
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static size_t count_param(const lg_index *ix, const char *param)
{
    size_t n = 0;
    for(size_t i = 0; i < ix->count; i++)
        n += strcmp(ix->items[i].param, param) == 0;
    return n;
}

/* Is there an entry param with exactly these strings (lo/hi ignored)? */
static const lg_index_entry *find(const lg_index *ix, const char *param, const char *s1,
                                  const char *s2, const char *s3)
{
    for(size_t i = 0; i < ix->count; i++) {
        const lg_index_entry *e = &ix->items[i];
        if(strcmp(e->param, param) == 0 && same(e->s1, s1) && same(e->s2, s2) && same(e->s3, s3))
            return e;
    }
    return NULL;
}

static void dump(const lg_index *ix)
{
    for(size_t i = 0; i < ix->count; i++)
        fprintf(stderr, "  %s [%d] %s | %s | %s | %lld..%lld\n", ix->items[i].param,
                ix->items[i].type, ix->items[i].s1 ? ix->items[i].s1 : "(null)",
                ix->items[i].s2 ? ix->items[i].s2 : "(null)",
                ix->items[i].s3 ? ix->items[i].s3 : "(null)", (long long)ix->items[i].lo,
                (long long)ix->items[i].hi);
}

#define HAS(ix, p, a, b, c)                                                                  \
    do {                                                                                     \
        if(!find(ix, p, a, b, c)) {                                                          \
            dump(ix);                                                                        \
            cr_assert_fail("no %s entry %s|%s|%s", p, a ? a : "-", b ? b : "-", c ? c : "-"); \
        }                                                                                    \
    } while(0)

static int64_t ms(const char *s, int hi)
{
    int64_t lo, h;
    cr_assert_eq(lg_time_parse_range(s, &lo, &h), LG_OK, "%s", s);
    return hi ? h : lo;
}

Test(index, task_example)
{
    cJSON *t = load_example("Task-example1.json");
    lg_issues is;
    lg_index ix = extract("Task", t, &is);
    HAS(&ix, "owner", "Organization", "1832473e-2fe0-452d-abe9-3cdb9879522f", NULL);
    HAS(&ix, "subject", "Patient", "example", NULL);
    HAS(&ix, "patient", "Patient", "example", NULL);
    HAS(&ix, "focus", "ServiceRequest", "lipid", NULL);
    HAS(&ix, "requester", "Practitioner", "example", NULL);
    HAS(&ix, "status", "", "in-progress", NULL);
    HAS(&ix, "intent", "", "order", NULL);
    HAS(&ix, "business-status", NULL, NULL, "waiting for specimen");
    HAS(&ix, "code", NULL, NULL, "Lipid Panel");
    HAS(&ix, "identifier", "http:/goodhealth.org/identifiers", "20170201-001", NULL);
    cr_assert_eq(count_param(&ix, "based-on"), 0, "display-only reference");
    const lg_index_entry *e = find(&ix, "authored-on", NULL, NULL, NULL);
    cr_assert_not_null(e);
    cr_assert_eq(e->type, LG_SP_DATE);
    cr_assert_eq(e->lo, ms("2016-10-30T22:25:05Z", 0));
    cr_assert_eq(e->hi, ms("2016-10-30T22:25:05Z", 1));
    e = find(&ix, "modified", NULL, NULL, NULL);
    cr_assert_not_null(e);
    cr_assert_eq(e->lo, ms("2016-10-30T23:45:05Z", 0));
    e = find(&ix, "period", NULL, NULL, NULL);
    cr_assert_not_null(e, "executionPeriod with an open end");
    cr_assert_eq(e->lo, ms("2016-10-30T22:25:05Z", 0));
    cr_assert_eq(e->hi, INT64_MAX);
    cr_assert_eq(count_param(&ix, "owner"), 1);
    cr_assert_eq(count_param(&ix, "_id"), 0, "answered from the resource row");
    cr_assert_eq(count_param(&ix, "_lastUpdated"), 0);
    for(size_t i = 0; i < ix.count; i++)
        cr_assert_eq(ix.items[i].type, lg_defs_param(defs, "Task", ix.items[i].param)->type);
    lg_index_free(&ix);
    cr_assert_null(ix.items);
    cr_assert_eq(ix.count, 0);
    lg_issues_free(&is);
    cJSON_Delete(t);
}

Test(index, patient_example)
{
    cJSON *p = load_example("Patient-example.json");
    lg_issues is;
    lg_index ix = extract("Patient", p, &is);
    HAS(&ix, "identifier", "urn:oid:1.2.36.146.595.217.0.1", "12345", NULL);
    HAS(&ix, "family", "chalmers", "Chalmers", NULL);
    HAS(&ix, "family", "windsor", "Windsor", NULL);
    cr_assert_eq(count_param(&ix, "family"), 2);
    HAS(&ix, "given", "peter", "Peter", NULL);
    HAS(&ix, "given", "jim", "Jim", NULL);
    cr_assert_eq(count_param(&ix, "given"), 3, "Peter/James appear twice, indexed once");
    HAS(&ix, "name", "james", "James", NULL);
    cr_assert_eq(count_param(&ix, "name"), 5);
    HAS(&ix, "gender", "", "male", NULL);
    HAS(&ix, "phone", "", "(03) 5555 6473", NULL);
    cr_assert_eq(count_param(&ix, "phone"), 3);
    HAS(&ix, "telecom", "", "(03) 3410 5613", NULL);
    HAS(&ix, "address-city", "pleasantville", "PleasantVille", NULL);
    HAS(&ix, "address-postalcode", "3999", "3999", NULL);
    HAS(&ix, "address", "534 erewhon st", "534 Erewhon St", NULL);
    HAS(&ix, "address", "rainbow", "Rainbow", NULL);
    HAS(&ix, "address", "534 erewhon st peasantville, rainbow, vic 3999",
        "534 Erewhon St PeasantVille, Rainbow, Vic  3999", NULL);
    HAS(&ix, "organization", "Organization", "1", NULL);
    HAS(&ix, "active", "", "true", NULL);
    const lg_index_entry *e = find(&ix, "birthdate", NULL, NULL, NULL);
    cr_assert_not_null(e);
    cr_assert_eq(e->lo, ms("1974-12-25", 0));
    cr_assert_eq(e->hi, ms("1974-12-25", 1));
    lg_index_free(&ix);
    lg_issues_free(&is);
    cJSON_Delete(p);
}

Test(index, service_request_and_care_plan)
{
    lg_issues is;
    cJSON *sr = load_example("ServiceRequest-physiotherapy.json");
    lg_index ix = extract("ServiceRequest", sr, &is);
    HAS(&ix, "code", "http://snomed.info/sct", "34431008",
        "Physiotherapy of chest (regime/therapy) ");
    HAS(&ix, "requester", "Practitioner", "example", NULL);
    HAS(&ix, "patient", "Patient", "example", NULL);
    HAS(&ix, "identifier", "http://goodhealth.org/placer-ids", "20170201-0001", "Placer");
    HAS(&ix, "status", "", "completed", NULL);
    const lg_index_entry *e = find(&ix, "authored", NULL, NULL, NULL);
    cr_assert_not_null(e);
    cr_assert_eq(e->lo, ms("2017-02-01T17:23:07Z", 0));
    lg_index_free(&ix);
    lg_issues_free(&is);
    cJSON_Delete(sr);

    cJSON *cp = load_example("CarePlan-example.json");
    ix = extract("CarePlan", cp, &is);
    HAS(&ix, "subject", "Patient", "example", NULL);
    HAS(&ix, "patient", "Patient", "example", NULL);
    HAS(&ix, "goal", "Goal", "example", NULL);
    HAS(&ix, "care-team", "CareTeam", "example", NULL);
    HAS(&ix, "category", NULL, NULL, "Weight management plan");
    cr_assert_eq(count_param(&ix, "condition"), 0, "contained #p1 is not indexed");
    e = find(&ix, "date", NULL, NULL, NULL);
    cr_assert_not_null(e);
    cr_assert_eq(e->lo, INT64_MIN, "open start");
    cr_assert_eq(e->hi, ms("2017-06-01", 1));
    lg_index_free(&ix);
    lg_issues_free(&is);
    cJSON_Delete(cp);
}

Test(index, every_served_example_indexes)
{
    static const char *files[] = {
        "Condition-example.json",       "Goal-example.json",         "Observation-example.json",
        "Practitioner-f001.json",       "PractitionerRole-example.json", "Location-1.json",
        "Questionnaire-3141.json",      "QuestionnaireResponse-3141.json", "CareTeam-example.json",
        "Patient-glossy.json",          "Task-fm-example1.json",     "CarePlan-f001.json",
    };
    for(size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        cJSON *r = load_example(files[i]);
        const char *type = cJSON_GetObjectItem(r, "resourceType")->valuestring;
        lg_issues is;
        lg_index ix = extract(type, r, &is);
        cr_assert_gt(ix.count, 0, "%s", files[i]);
        for(size_t k = 0; k < ix.count; k++) {
            cr_assert_not_null(lg_defs_param(defs, type, ix.items[k].param));
            for(size_t j = 0; j < k; j++) {
                const lg_index_entry *a = &ix.items[j], *b = &ix.items[k];
                cr_assert(!(a->param == b->param && same(a->s1, b->s1) && same(a->s2, b->s2) &&
                            same(a->s3, b->s3) && a->lo == b->lo && a->hi == b->hi),
                          "%s: duplicate %s entry", files[i], a->param);
            }
        }
        lg_index_free(&ix);
        lg_issues_free(&is);
        cJSON_Delete(r);
    }
}

Test(index, shapes_references_quantities_timing)
{
    static const char obs[] =
        "{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\","
        "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"29463-7\","
        "\"display\":\"Body weight\"},{\"system\":\"http://loinc.org\",\"code\":\"29463-7\","
        "\"display\":\"Body weight\"}],\"text\":\"Weight\"},"
        "\"subject\":{\"reference\":\"http://other.org/fhir/Patient/123/_history/2\"},"
        "\"focus\":[{\"reference\":\"urn:uuid:0b2a4c36-0000-4000-8000-000000000001\"},"
        "{\"reference\":\"#c1\"},{\"display\":\"no reference\"}],"
        "\"basedOn\":[{\"reference\":\"ServiceRequest/sr1/_history/4\"},"
        "{\"reference\":\"Frobnicator/1\"}],"
        "\"effectiveTiming\":{\"event\":[\"2026-01-02\",\"2026-01-03T10:00:00Z\","
        "\"2026-02-30\"]},"
        "\"valueQuantity\":{\"value\":70.25,\"unit\":\"kg\",\"system\":\"http://unitsofmeasure.org\","
        "\"code\":\"kg\"}}";
    cJSON *o = cJSON_Parse(obs);
    lg_issues is;
    lg_index ix = extract("Observation", o, &is);
    HAS(&ix, "code", "http://loinc.org", "29463-7", "Body weight");
    HAS(&ix, "code", NULL, NULL, "Weight");
    cr_assert_eq(count_param(&ix, "code"), 2, "duplicate coding dropped");
    HAS(&ix, "subject", "Patient", "123", "http://other.org/fhir/Patient/123/_history/2");
    HAS(&ix, "patient", "Patient", "123", "http://other.org/fhir/Patient/123/_history/2");
    HAS(&ix, "focus", NULL, NULL, "urn:uuid:0b2a4c36-0000-4000-8000-000000000001");
    cr_assert_eq(count_param(&ix, "focus"), 1, "contained and display-only skipped");
    HAS(&ix, "based-on", "ServiceRequest", "sr1", NULL);
    HAS(&ix, "based-on", NULL, NULL, "Frobnicator/1");
    const lg_index_entry *e = find(&ix, "value-quantity", "70.25", "http://unitsofmeasure.org", "kg");
    cr_assert_not_null(e);
    cr_assert_eq(e->lo, 70250);
    cr_assert_eq(e->hi, 70250);
    cr_assert_eq(count_param(&ix, "date"), 2, "one entry per Timing event");
    int warned = 0;
    for(size_t i = 0; i < is.count; i++)
        warned |= is.items[i].severity == LG_SEV_WARNING && strstr(is.items[i].diagnostics, "2026-02-30");
    cr_assert(warned, "an invalid date is a warning");
    cr_assert_eq(lg_issues_errors(&is), 0);
    lg_index_free(&ix);
    lg_issues_free(&is);
    cJSON_Delete(o);

    static const char qr[] =
        "{\"resourceType\":\"QuestionnaireResponse\",\"status\":\"completed\","
        "\"questionnaire\":\"http://example.org/Questionnaire/q1|2.0\","
        "\"authored\":\"2026-11-24T10:00:00-05:00\"}";
    o = cJSON_Parse(qr);
    ix = extract("QuestionnaireResponse", o, &is);
    HAS(&ix, "questionnaire", "Questionnaire", "q1", "http://example.org/Questionnaire/q1|2.0");
    e = find(&ix, "authored", NULL, NULL, NULL);
    cr_assert_not_null(e);
    cr_assert_eq(e->lo, ms("2026-11-24T15:00:00Z", 0));
    lg_index_free(&ix);
    lg_issues_free(&is);
    cJSON_Delete(o);
}

Test(index, refuses_unserved_types_and_appends)
{
    cJSON *o = cJSON_Parse("{\"resourceType\":\"Account\",\"status\":\"active\"}");
    lg_index ix = {0};
    lg_issues is = {0};
    cr_assert_eq(lg_index_extract(defs, "Account", o, &ix, &is), LG_EINVAL);
    cr_assert_eq(ix.count, 0);
    lg_issues_free(&is);
    cJSON_Delete(o);

    /* An empty resource has no entries; extraction appends to what is there. */
    o = cJSON_Parse("{\"resourceType\":\"Task\",\"status\":\"draft\"}");
    cr_assert_eq(lg_index_extract(defs, "Task", o, &ix, &is), LG_OK);
    cr_assert_eq(ix.count, 1);
    cr_assert_eq(lg_index_extract(defs, "Task", o, &ix, &is), LG_OK);
    cr_assert_eq(ix.count, 2, "appends");
    lg_index_free(&ix);
    lg_issues_free(&is);
    cJSON_Delete(o);
}

/* Fuzz finding (fuzz_rest_resource): a Period whose start is after its end
 * gave an entry with lo > hi, which every gt and every lt search matched.
 * It is now the span of both instants, with a warning. */
Test(index, inverted_period_is_a_span_with_a_warning)
{
    cJSON *t = cJSON_Parse("{\"resourceType\":\"Task\",\"status\":\"draft\",\"intent\":\"order\","
                           "\"executionPeriod\":{\"start\":\"5387-10-31T08:45:05+10:00\","
                           "\"end\":\"2016-10-31T14:45:05+10:00\"}}");
    cr_assert_not_null(t);
    lg_issues is;
    lg_index ix = extract("Task", t, &is);
    const lg_index_entry *e = find(&ix, "period", NULL, NULL, NULL);
    cr_assert_not_null(e);
    cr_assert_eq(e->lo, ms("2016-10-31T04:45:05Z", 0));
    cr_assert_eq(e->hi, ms("5387-10-30T22:45:05Z", 1));
    for(size_t i = 0; i < ix.count; i++)
        cr_assert_leq(ix.items[i].lo, ix.items[i].hi, "%s", ix.items[i].param);
    int warned = 0;
    for(size_t i = 0; i < is.count; i++)
        warned |= is.items[i].severity == LG_SEV_WARNING && strstr(is.items[i].diagnostics, "after");
    cr_assert(warned, "an inverted period is a warning");
    cr_assert_eq(lg_issues_errors(&is), 0);
    lg_index_free(&ix);
    lg_issues_free(&is);
    cJSON_Delete(t);
}
