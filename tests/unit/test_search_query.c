/* Unit tests for search parameter parsing (src/search/query.c) and string
 * normalisation (src/search/normalise.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

TestSuite(query, .init = setup, .fini = teardown);

/* Parse one parameter into a fresh query of type; returns the status and
 * leaves the query in *q and the issues in *is for inspection. */
static lg_status parse(const char *type, const char *name, const char *value, lg_query *q,
                       lg_issues *is)
{
    memset(q, 0, sizeof(*q));
    memset(is, 0, sizeof(*is));
    q->type = strdup(type);
    return lg_query_add_param(defs, q, name, value, is);
}

static const lg_query_param *ok1(const char *type, const char *name, const char *value,
                                 lg_query *q)
{
    lg_issues is;
    lg_status st = parse(type, name, value, q, &is);
    cr_assert_eq(st, LG_OK, "%s?%s=%s: %s", type, name, value,
                 is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
    cr_assert_eq(q->nparams, 1);
    return &q->params[0];
}

/* Expect LG_EINVAL with an issue located at name that mentions needle. */
static void bad1(const char *type, const char *name, const char *value, const char *needle)
{
    lg_query q;
    lg_issues is;
    lg_status st = parse(type, name, value, &q, &is);
    cr_assert_eq(st, LG_EINVAL, "%s?%s=%s accepted", type, name, value);
    cr_assert_eq(q.nparams, 0);
    cr_assert_geq(is.count, 1);
    cr_assert_str_eq(is.items[0].location, name);
    cr_assert(is.items[0].severity == LG_SEV_ERROR);
    if(needle)
        cr_assert(strstr(is.items[0].diagnostics, needle), "'%s' lacks '%s'",
                  is.items[0].diagnostics, needle);
    lg_issues_free(&is);
    lg_query_free(&q);
}

static void str_or_null(const char *got, const char *want, const char *what)
{
    if(!want)
        cr_assert_null(got, "%s: got '%s'", what, got ? got : "");
    else {
        cr_assert_not_null(got, "%s: NULL", what);
        cr_assert_str_eq(got, want, "%s", what);
    }
}

Test(query, tokens)
{
    lg_query q;
    const lg_query_param *p = ok1("Task", "status", "requested", &q);
    cr_assert_str_eq(p->code, "status");
    cr_assert_eq(p->type, LG_SP_TOKEN);
    cr_assert_eq(p->modifier, LG_MOD_NONE);
    cr_assert_eq(p->nvalues, 1);
    str_or_null(p->values[0].s1, NULL, "any system");
    str_or_null(p->values[0].s2, "requested", "code");
    lg_query_free(&q);

    p = ok1("Task", "code", "http://loinc.org|1234-5,|abc,http://x.org|,plain", &q);
    cr_assert_eq(p->nvalues, 4);
    str_or_null(p->values[0].s1, "http://loinc.org", "system");
    str_or_null(p->values[0].s2, "1234-5", "code");
    str_or_null(p->values[1].s1, "", "no system");
    str_or_null(p->values[1].s2, "abc", "code");
    str_or_null(p->values[2].s1, "http://x.org", "system only");
    str_or_null(p->values[2].s2, NULL, "any code");
    str_or_null(p->values[3].s1, NULL, "any system");
    str_or_null(p->values[3].s2, "plain", "code");
    lg_query_free(&q);

    /* Escapes: \, and \| are data, \\ is a backslash. */
    p = ok1("Patient", "identifier", "urn:sys\\|x|a\\,b,c\\\\d", &q);
    cr_assert_eq(p->nvalues, 2);
    str_or_null(p->values[0].s1, "urn:sys|x", "escaped bar");
    str_or_null(p->values[0].s2, "a,b", "escaped comma");
    str_or_null(p->values[1].s2, "c\\d", "escaped backslash");
    lg_query_free(&q);

    p = ok1("Patient", "gender:not", "male", &q);
    cr_assert_eq(p->modifier, LG_MOD_NOT);
    str_or_null(p->values[0].s2, "male", "not");
    lg_query_free(&q);

    p = ok1("Condition", "code:text", "Heart attack|x", &q);
    cr_assert_eq(p->modifier, LG_MOD_TEXT);
    str_or_null(p->values[0].s3, "Heart attack|x", ":text keeps the text");
    str_or_null(p->values[0].s2, NULL, ":text has no code");
    lg_query_free(&q);

    p = ok1("Task", "_id", "abc-1,def.2", &q);
    cr_assert_eq(p->type, LG_SP_TOKEN);
    cr_assert_eq(p->nvalues, 2);
    str_or_null(p->values[0].s2, "abc-1", "_id");
    str_or_null(p->values[1].s2, "def.2", "_id");
    lg_query_free(&q);

    bad1("Task", "status", "|", "status");
    bad1("Patient", "gender:exact", "male", "does not apply");
    bad1("Patient", "gender:contains", "male", "does not apply");
    bad1("Patient", "gender:below", "male", "not supported");
    bad1("Task", "_id:not", "x", NULL);
}

Test(query, references)
{
    lg_query q;
    const lg_query_param *p = ok1("Task", "owner", "Organization/xyz", &q);
    cr_assert_eq(p->type, LG_SP_REFERENCE);
    str_or_null(p->values[0].s1, "Organization", "type");
    str_or_null(p->values[0].s2, "xyz", "id");
    str_or_null(p->values[0].s3, NULL, "absolute");
    lg_query_free(&q);

    p = ok1("Task", "owner", "xyz,Practitioner/p1/_history/3", &q);
    cr_assert_eq(p->nvalues, 2);
    str_or_null(p->values[0].s1, NULL, "bare id: any type");
    str_or_null(p->values[0].s2, "xyz", "bare id");
    str_or_null(p->values[1].s1, "Practitioner", "versioned type");
    str_or_null(p->values[1].s2, "p1", "versioned id");
    lg_query_free(&q);

    p = ok1("Task", "owner:Organization", "xyz", &q);
    cr_assert_eq(p->modifier, LG_MOD_TYPE);
    str_or_null(p->type_modifier, "Organization", "type modifier");
    str_or_null(p->values[0].s1, "Organization", "type from modifier");
    str_or_null(p->values[0].s2, "xyz", "id");
    lg_query_free(&q);

    p = ok1("Task", "focus", "http://other.org/fhir/ServiceRequest/sr-1,urn:uuid:1234", &q);
    str_or_null(p->values[0].s3, "http://other.org/fhir/ServiceRequest/sr-1", "absolute");
    str_or_null(p->values[0].s1, "ServiceRequest", "absolute type");
    str_or_null(p->values[0].s2, "sr-1", "absolute id");
    str_or_null(p->values[1].s3, "urn:uuid:1234", "urn");
    str_or_null(p->values[1].s1, NULL, "urn type");
    lg_query_free(&q);

    p = ok1("Task", "subject:missing", "true", &q);
    cr_assert_eq(p->modifier, LG_MOD_MISSING);
    cr_assert_eq(p->values[0].missing, 1);
    lg_query_free(&q);
    p = ok1("Task", "subject:missing", "false", &q);
    cr_assert_eq(p->values[0].missing, 0);
    lg_query_free(&q);

    bad1("Task", "owner", "Frob/1", "not a resource type");
    bad1("Task", "owner", "Organization/", NULL);
    bad1("Task", "owner", "Organization/a b", NULL);
    bad1("Task", "owner", "Organization/1/2", NULL);
    bad1("Task", "owner", "#contained", "contained");
    bad1("Task", "owner:Organization", "Practitioner/1", "modifier");
    bad1("Task", "owner:Observation", "1", "cannot refer to");
    bad1("Task", "owner:Frob", "1", "Unknown modifier");
    bad1("Task", "owner:identifier", "x|1", "not supported");
    bad1("Task", "owner:exact", "x", "does not apply");
    bad1("Task", "owner:missing", "yes", "true or false");
}

Test(query, dates)
{
    lg_query q;
    char a[LG_TIME_BUFSZ], b[LG_TIME_BUFSZ];
    const lg_query_param *p = ok1("Task", "authored-on", "ge2026-11-24,lt2027,2026-11-24T10:00:00+01:00", &q);
    cr_assert_eq(p->type, LG_SP_DATE);
    cr_assert_eq(p->nvalues, 3);
    cr_assert_eq(p->values[0].prefix, LG_PFX_GE);
    lg_time_format(p->values[0].lo, a, sizeof(a));
    lg_time_format(p->values[0].hi, b, sizeof(b));
    cr_assert_str_eq(a, "2026-11-24T00:00:00.000Z");
    cr_assert_str_eq(b, "2026-11-24T23:59:59.999Z");
    cr_assert_eq(p->values[1].prefix, LG_PFX_LT);
    cr_assert_eq(p->values[2].prefix, LG_PFX_EQ);
    lg_time_format(p->values[2].lo, a, sizeof(a));
    cr_assert_str_eq(a, "2026-11-24T09:00:00.000Z");
    lg_query_free(&q);

    /* A form-decoded '+' (a blank) in the zone still parses. */
    p = ok1("Task", "modified", "sa2026-11-24T10:00:00 01:00", &q);
    cr_assert_eq(p->values[0].prefix, LG_PFX_SA);
    lg_time_format(p->values[0].lo, a, sizeof(a));
    cr_assert_str_eq(a, "2026-11-24T09:00:00.000Z");
    lg_query_free(&q);

    const char *prefixes[] = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"};
    for(size_t i = 0; i < 9; i++) {
        char v[32];
        snprintf(v, sizeof(v), "%s2026-01", prefixes[i]);
        p = ok1("Patient", "birthdate", v, &q);
        cr_assert_eq(p->values[0].prefix, (lg_prefix)i);
        lg_query_free(&q);
    }
    p = ok1("Task", "_lastUpdated", "gt2026-11-24T10:00:00Z", &q);
    cr_assert_eq(p->type, LG_SP_DATE);
    lg_query_free(&q);

    bad1("Task", "authored-on", "2026-13-01",
         "Invalid date '2026-13-01' for parameter 'authored-on' (expected "
         "[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.sss]][Z|(+|-)hh:mm]]]])");
    bad1("Task", "authored-on", "xx2026", NULL);
    bad1("Task", "authored-on", "ge", NULL);
    bad1("Task", "authored-on", "2026-02-29", NULL);
    bad1("Task", "authored-on", "today", NULL);
    bad1("Task", "authored-on", "2026-11-24,nope", "nope");
    bad1("Task", "authored-on:exact", "2026", "does not apply");
    bad1("Task", "authored-on:not", "2026", "does not apply");
}

Test(query, strings_uris_numbers_quantities)
{
    lg_query q;
    const lg_query_param *p = ok1("Patient", "family", "  Müller  Óscar ", &q);
    cr_assert_eq(p->type, LG_SP_STRING);
    str_or_null(p->values[0].s1, "muller oscar", "normalised");
    str_or_null(p->values[0].s2, "  Müller  Óscar ", "as written");
    lg_query_free(&q);
    p = ok1("Patient", "name:exact", "Peter", &q);
    cr_assert_eq(p->modifier, LG_MOD_EXACT);
    lg_query_free(&q);
    p = ok1("Patient", "name:contains", "ete,a\\,b", &q);
    cr_assert_eq(p->modifier, LG_MOD_CONTAINS);
    cr_assert_eq(p->nvalues, 2);
    str_or_null(p->values[1].s2, "a,b", "escaped comma");
    lg_query_free(&q);
    bad1("Patient", "name:text", "x", "does not apply");
    bad1("Patient", "name:not", "x", "does not apply");

    p = ok1("Task", "_profile", "http://example.org/StructureDefinition/x", &q);
    cr_assert_eq(p->type, LG_SP_URI);
    str_or_null(p->values[0].s1, "http://example.org/StructureDefinition/x", "uri");
    lg_query_free(&q);
    bad1("Task", "_profile:below", "http://x", "not supported");

    p = ok1("Goal", "target-date", "le2026", &q);
    cr_assert_eq(p->type, LG_SP_DATE);
    lg_query_free(&q);

    p = ok1("Observation", "value-quantity", "gt5.4|http://unitsofmeasure.org|mg", &q);
    cr_assert_eq(p->type, LG_SP_QUANTITY);
    cr_assert_eq(p->values[0].prefix, LG_PFX_GT);
    str_or_null(p->values[0].s1, "5.4", "number");
    str_or_null(p->values[0].s2, "http://unitsofmeasure.org", "system");
    str_or_null(p->values[0].s3, "mg", "code");
    cr_assert_eq(p->values[0].lo, 5350);
    cr_assert_eq(p->values[0].hi, 5449);
    lg_query_free(&q);
    p = ok1("Observation", "value-quantity", "100||mg", &q);
    str_or_null(p->values[0].s2, NULL, "no system");
    str_or_null(p->values[0].s3, "mg", "code");
    cr_assert_eq(p->values[0].lo, 99500);
    cr_assert_eq(p->values[0].hi, 100499);
    lg_query_free(&q);
    p = ok1("Observation", "value-quantity", "1.2345", &q);
    cr_assert_eq(p->values[0].lo, 1235);
    cr_assert_eq(p->values[0].hi, 1235);
    lg_query_free(&q);
    bad1("Observation", "value-quantity", "abc", "Invalid quantity");
    bad1("Observation", "value-quantity", "5|x", "Invalid quantity");
    bad1("Observation", "value-quantity", "5|x|y|z", "Invalid quantity");
    bad1("Observation", "value-quantity", "01", NULL);
    bad1("Observation", "value-quantity", "1.", NULL);
    bad1("Observation", "value-quantity", "1e999", NULL);
    bad1("Observation", "value-quantity", "99999999999999999", NULL);
}

Test(query, numbers)
{
    lg_query q;
    /* RiskAssessment is not served; Questionnaire/Group have no number
     * params in R4 - use a custom served set. */
    lg_defs *d2 = NULL;
    lg_issues is = {0};
    const char *types[] = {"RiskAssessment", "Task", NULL};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), types, &d2, &is), LG_OK);
    memset(&q, 0, sizeof(q));
    q.type = strdup("RiskAssessment");
    cr_assert_eq(lg_query_add_param(d2, &q, "probability", "ge0.5,1e1,-2", &is), LG_OK);
    const lg_query_param *p = &q.params[0];
    cr_assert_eq(p->type, LG_SP_NUMBER);
    cr_assert_eq(p->values[0].prefix, LG_PFX_GE);
    cr_assert_eq(p->values[0].lo, 450);
    cr_assert_eq(p->values[0].hi, 549);
    str_or_null(p->values[0].s1, "0.5", "as written");
    cr_assert_eq(p->values[1].lo, 5000);
    cr_assert_eq(p->values[1].hi, 14999);
    cr_assert_eq(p->values[2].lo, -2500);
    cr_assert_eq(p->values[2].hi, -1501);
    cr_assert_eq(lg_query_add_param(d2, &q, "probability", "1,5", &is), LG_OK);
    cr_assert_eq(q.nparams, 2, "a repeated parameter is ANDed");
    cr_assert_eq(lg_query_add_param(d2, &q, "probability", "x1", &is), LG_EINVAL);
    cr_assert_eq(lg_query_add_param(d2, &q, "probability", "1.5.1", &is), LG_EINVAL);
    cr_assert_eq(lg_query_add_param(d2, &q, "probability", "+1", &is), LG_EINVAL);
    cr_assert_eq(lg_query_add_param(d2, &q, "probability:contains", "1", &is), LG_EINVAL);
    cr_assert_eq(q.nparams, 2, "failed parameters add nothing");
    lg_query_free(&q);
    cr_assert_null(q.params);
    lg_issues_free(&is);
    lg_defs_free(d2);
}

/* Fuzz finding (fuzz_search_query): near the top of the accepted range a
 * double's step exceeds the implicit precision range, and
 * "le4999999999999996" gave lo > hi, a range no value falls in. Every
 * accepted number must give lo <= hi, and huge ones stay close to the
 * value itself. */
Test(query, huge_numbers_keep_lo_le_hi)
{
    static const char *const vals[] = {
        "4999999999999996", "le4999999999999996||kg", "-4999999999999996", "8999999999999999",
        "4503599627370497", "8999999999999998", "123456789012345.6", "1e15", "-1.2e15",
    };
    for(size_t i = 0; i < sizeof(vals) / sizeof(*vals); i++) {
        lg_query q;
        const lg_query_param *p = ok1("Observation", "value-quantity", vals[i], &q);
        cr_assert_leq(p->values[0].lo, p->values[0].hi, "%s: %lld > %lld", vals[i],
                      (long long)p->values[0].lo, (long long)p->values[0].hi);
        lg_query_free(&q);
    }
    lg_query q;
    const lg_query_param *p = ok1("Observation", "value-quantity", "4999999999999996", &q);
    cr_assert_leq(llabs(p->values[0].lo - 4999999999999996000LL), 4096);
    cr_assert_leq(llabs(p->values[0].hi - 4999999999999996000LL), 4096);
    lg_query_free(&q);
}

Test(query, unknown_and_unsupported)
{
    bad1("Task", "nope", "1", "Unknown search parameter 'nope' for resource type Task");
    bad1("Task", "patient.name", "x", "Chained");
    bad1("Task", "_text", "x", "Unknown search parameter");
    /* Composite parameters are not loaded; special ones are refused. */
    bad1("Observation", "code-value-quantity", "x$1", "Unknown search parameter");
    bad1("Location", "near", "42.2|-83.7|10|km", "not supported");
    lg_query q = {0};
    lg_issues is = {0};
    q.type = strdup("Account");
    cr_assert_eq(lg_query_add_param(defs, &q, "identifier", "1", &is), LG_EINVAL);
    cr_assert_str_eq(is.items[0].location, "identifier");
    lg_query_free(&q);
    lg_issues_free(&is);

    /* Empty values are ignored, not errors. */
    const lg_query_param *p;
    cr_assert_eq(parse("Task", "status", "", &q, &is), LG_OK);
    cr_assert_eq(q.nparams, 0);
    lg_query_free(&q);
    p = ok1("Task", "status", ",a,,b,", &q);
    cr_assert_eq(p->nvalues, 2);
    lg_query_free(&q);

    /* Bounds. */
    char *big = malloc(2 * 1024 * 1024);
    memset(big, 'a', 2 * 1024 * 1024 - 1);
    big[2 * 1024 * 1024 - 1] = '\0';
    cr_assert_eq(parse("Task", "status", big, &q, &is), LG_ETOOLARGE);
    lg_query_free(&q);
    lg_issues_free(&is);
    free(big);
    memset(&q, 0, sizeof(q));
    q.type = strdup("Task");
    for(int i = 0; i < 100; i++)
        cr_assert_eq(lg_query_add_param(defs, &q, "status", "a", &is), LG_OK);
    cr_assert_eq(lg_query_add_param(defs, &q, "status", "a", &is), LG_ETOOLARGE);
    lg_query_free(&q);
    lg_issues_free(&is);
}

Test(query, normalise)
{
    static const char *cases[][2] = {
        {"Hello World", "hello world"}, {"  a \t\n b  ", "a b"}, {"", ""}, {"   ", ""},
        {"ÀÉÎÕÜ àéîõü", "aeiou aeiou"}, {"Ærø Straße", "aero strasse"}, {"Çağ", "ca\xc4\x9f"},
        {"日本", "日本"}, {"ABC-123_x", "abc-123_x"},
    };
    for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char *n = lg_search_normalise(cases[i][0]);
        cr_assert_not_null(n);
        cr_assert_str_eq(n, cases[i][1], "'%s'", cases[i][0]);
        free(n);
    }
    cr_assert_null(lg_search_normalise(NULL));
    /* A truncated UTF-8 sequence is copied, never read past. */
    char *n = lg_search_normalise("x\xc3");
    cr_assert_str_eq(n, "x\xc3");
    free(n);
}
