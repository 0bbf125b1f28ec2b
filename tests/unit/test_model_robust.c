/* Robustness of the model's FHIR readers (src/model/from_fhir.c,
 * workflow.c, to_fhir.c): every node of the example resources is replaced in
 * turn by a value of each JSON type, and every reader must return LG_OK or
 * LG_EINVAL (with an error issue), never crash or leak (run under ASan);
 * a stripped Patient must pass the forwarding check whatever its shape. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/model.h"
#include "lg_test.h"

#define SDOHCC LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/"
#define LGEX LG_SOURCE_DIR "/profiles/package/example/"

/* Count the nodes below root (not root itself). */
static int count_nodes(const cJSON *n)
{
    int c = 0;
    for(const cJSON *k = n->child; k; k = k->next)
        c += 1 + count_nodes(k);
    return c;
}

/* The idx-th node below n in document order (pre-order), or NULL; *parent
 * is set to the node that holds it. */
static cJSON *nth(cJSON *n, int *idx, cJSON **parent)
{
    for(cJSON *k = n->child; k; k = k->next) {
        if((*idx)-- == 0) {
            *parent = n;
            return k;
        }
        cJSON *f = nth(k, idx, parent);
        if(f)
            return f;
    }
    return NULL;
}

static cJSON *variant(int v)
{
    switch(v) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateNumber(7);
    case 2: return cJSON_CreateString("Patient/x");
    case 3: return cJSON_CreateArray();
    case 4: return cJSON_CreateObject();
    default: return cJSON_CreateTrue();
    }
}

static void check_status(lg_status st, const lg_issues *is, const char *what, int node, int v)
{
    cr_assert(st == LG_OK || st == LG_EINVAL, "%s node %d variant %d: status %d", what, node, v, st);
    if(st == LG_EINVAL)
        cr_assert_gt(lg_issues_errors(is), 0, "%s node %d variant %d: refused without an issue", what, node, v);
}

/* Mutate every node of base and run fn on each mutant. */
static int mutate_all(const char *path, void (*fn)(cJSON *, const char *, int, int))
{
    cJSON *base = lg_test_load_json(path);
    int n = count_nodes(base), runs = 0;
    for(int i = 0; i < n; i++)
        for(int v = 0; v < 6; v++) {
            cJSON *m = cJSON_Duplicate(base, 1);
            int idx = i;
            cJSON *parent = NULL, *node = nth(m, &idx, &parent);
            cr_assert_not_null(node);
            cJSON *rep = variant(v);
            cr_assert_not_null(rep);
            /* An object member keeps its key, so the reader meets the wrong type. */
            if(cJSON_IsObject(parent))
                cr_assert(cJSON_ReplaceItemInObjectCaseSensitive(parent, node->string, rep));
            else
                cr_assert(cJSON_ReplaceItemViaPointer(parent, node, rep));
            fn(m, path, i, v);
            cJSON_Delete(m);
            runs++;
        }
    cJSON_Delete(base);
    return runs;
}

static void run_patient(cJSON *m, const char *path, int i, int v)
{
    lg_issues is = { 0 };
    lg_child *c = NULL;
    lg_status st = lg_model_child_from_fhir(m, &c, &is);
    check_status(st, &is, path, i, v);
    if(c) {
        lg_rule_ecm_age(c, 1800000000000, &is);
        lg_child_age(c, 1800000000000);
    }
    cJSON *s = NULL;
    if(lg_rule_strip_contact(m, &s) == LG_OK) {
        lg_referral r = { .contact_prohibited = true };
        cr_assert_eq(lg_rule_forward_check(&r, s, &is), LG_OK, "%s node %d variant %d: strip left contact", path, i, v);
    }
    cJSON_Delete(s);
    lg_model_child_free(c);
    lg_issues_free(&is);
}

static cJSON *g_sr, *g_task;

static void run_task(cJSON *m, const char *path, int i, int v)
{
    lg_issues is = { 0 };
    lg_referral *r = NULL;
    check_status(lg_model_referral_from_fhir(g_sr, m, &r, &is), &is, path, i, v);
    if(r) {
        cJSON *a = NULL, *b = NULL;
        cr_assert_eq(lg_model_referral_to_fhir(r, true, &a, &b), LG_OK);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    lg_model_referral_free(r);
    static const char *const refs[] = { "Organization/loopgate-cbo-example" };
    lg_actor cbo = { LG_ROLE_REFERRAL_RECIPIENT, refs, 1 };
    lg_wf_result w = lg_workflow_check(g_task, m, &cbo, &is);
    cr_assert(w >= LG_WF_ALLOWED && w <= LG_WF_CONFLICT);
    w = lg_workflow_check(m, g_task, &cbo, &is);
    cr_assert(w >= LG_WF_ALLOWED && w <= LG_WF_CONFLICT);
    lg_patient_task *pt = NULL;
    lg_status st = lg_model_patient_task_from_fhir(m, &pt, &is);
    cr_assert(st == LG_OK || st == LG_EINVAL);
    lg_model_patient_task_free(pt);
    cJSON *u = NULL;
    st = lg_model_task_status_update(m, LG_TASK_ACCEPTED, "r", "Procedure/1", 0, &u);
    cr_assert(st == LG_OK || st == LG_EINVAL);
    cJSON_Delete(u);
    lg_issues_free(&is);
}

static void run_sr(cJSON *m, const char *path, int i, int v)
{
    lg_issues is = { 0 };
    lg_referral *r = NULL;
    check_status(lg_model_referral_from_fhir(m, g_task, &r, &is), &is, path, i, v);
    if(r) {
        cJSON *a = NULL, *b = NULL;
        cr_assert_eq(lg_model_referral_to_fhir(r, false, &a, &b), LG_OK);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    lg_model_referral_free(r);
    lg_issues_free(&is);
}

static void run_other(cJSON *m, const char *path, int i, int v)
{
    lg_issues is = { 0 };
    lg_referral *r = NULL;
    cr_assert_eq(lg_model_referral_from_fhir(g_sr, NULL, &r, &is), LG_OK);
    lg_status st = lg_model_referral_add_procedure(r, m, &is);
    cr_assert(st == LG_OK || st == LG_EINVAL);
    st = lg_model_referral_add_consent(r, m, &is);
    cr_assert(st == LG_OK || st == LG_EINVAL);
    lg_org *o = NULL;
    st = lg_model_org_from_fhir(m, &o, &is);
    cr_assert(st == LG_OK || st == LG_EINVAL);
    lg_model_org_free(o);
    lg_care_plan *p = NULL;
    st = lg_model_care_plan_from_fhir(m, &p, &is);
    cr_assert(st == LG_OK || st == LG_EINVAL);
    if(p)
        lg_rule_care_plan_review(p, 0, &is);
    lg_model_care_plan_free(p);
    lg_model_referral_free(r);
    lg_issues_free(&is);
    (void)path, (void)i, (void)v;
}

static void run_related(cJSON *m, const char *path, int i, int v)
{
    cJSON *p = lg_test_load_json(SDOHCC "Patient-pat-53234.json");
    lg_issues is = { 0 };
    lg_child *c = NULL;
    cr_assert_eq(lg_model_child_from_fhir(p, &c, &is), LG_OK);
    check_status(lg_model_child_add_related_person(c, m, &is), &is, path, i, v);
    lg_model_child_free(c);
    lg_issues_free(&is);
    cJSON_Delete(p);
}

Test(model_robust, every_node_of_every_example_replaced_by_every_json_type)
{
    g_sr = lg_test_load_json(LGEX "ServiceRequest-loopgate-servicerequest-example.json");
    g_task = lg_test_load_json(LGEX "Task-loopgate-task-example.json");
    int runs = 0;
    runs += mutate_all(LGEX "Patient-loopgate-patient-example.json", run_patient);
    runs += mutate_all(SDOHCC "Patient-pat-53234.json", run_patient);
    runs += mutate_all(LGEX "Task-loopgate-task-example.json", run_task);
    runs += mutate_all(SDOHCC "Task-SDOHCC-TaskPatientMakeAppointmentCompletedExample.json", run_task);
    runs += mutate_all(LGEX "ServiceRequest-loopgate-servicerequest-example.json", run_sr);
    runs += mutate_all(SDOHCC "Procedure-SDOHCC-ProcedureFoodPantryApplicationAssistanceExample.json", run_other);
    runs += mutate_all(SDOHCC "Organization-SDOHCC-OrganizationWICCommunityOrganizationExample.json", run_other);
    runs += mutate_all(SDOHCC "RelatedPerson-SDOHCC-RelatedPersonMotherExample.json", run_related);
    cr_log_info("model robustness: %d mutants", runs);
    cr_assert_gt(runs, 1000);
    cJSON_Delete(g_sr);
    cJSON_Delete(g_task);
}
