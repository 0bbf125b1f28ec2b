/* test_lifecycle.c - whole referral lifecycles over HTTP against the real
 * server with authentication on (issue #4, Tests): a clinic (referral
 * source) sends referrals in transaction Bundles, two CBOs (referral
 * recipients) poll, answer, work and close the Tasks they own - and try to
 * read and change each other's - and a state pilot (reporting) pulls the
 * closed-loop report. Each actor is a client of its own with its own bearer
 * token; what each may see and do is decided by the server alone. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/lg_it.h"

static lg_server S;
static char *clinic, *cbo_a, *cbo_b, *state, *coord;
/* min cell 1: the report over this small data set must show its counts */
static const char *const flags[] = {"--report-min-cell", "1", NULL};

static void up(void)
{
    lg_it_start(&S, flags);
    clinic = lg_it_add_client(&S, "clinic-1", "referral-source", "Organization/clinic-1");
    cbo_a = lg_it_add_client(&S, "cbo-a", "referral-recipient", "Organization/cbo-a");
    cbo_b = lg_it_add_client(&S, "cbo-b", "referral-recipient", "Organization/cbo-b");
    state = lg_it_add_client(&S, "state-pilot", "reporting", "Organization/state-pilot");
    coord = lg_it_add_client(&S, "plan-cm", "coordination", "Organization/plan");
    lg_it_reload(&S, coord);
    const char *orgs[][2] = {{"clinic-1", "Sunrise Pediatrics"}, {"cbo-a", "Valley Food Bank"},
                             {"cbo-b", "Eastside Housing Help"}};
    for(size_t i = 0; i < 3; i++) {
        char *o = lg_fmt("{\"resourceType\":\"Organization\",\"id\":\"%s\",\"name\":\"%s\"}",
                         orgs[i][0], orgs[i][1]);
        lg_put(&S, "Organization", orgs[i][0], o);
        free(o);
    }
}

static void down(void)
{
    lg_it_cleanup(&S);
    free(clinic);
    free(cbo_a);
    free(cbo_b);
    free(state);
    free(coord);
}

TestSuite(lifecycle, .init = up, .fini = down, .timeout = 120);

static const char *const json_ct[] = {"Content-Type: application/fhir+json", NULL};

static lg_resp as(const char *token, const char *method, const char *path, const char *body)
{
    return lg_http_as(&S, token, method, path, body ? json_ct : NULL, body);
}

static void expect(const char *token, const char *method, const char *path, const char *body,
                   long status)
{
    lg_resp r = as(token, method, path, body);
    cr_assert_eq(r.status, status, "%s %s: %ld (wanted %ld) %s", method, path, r.status, status,
                 r.body ? r.body : "");
    lg_resp_free(&r);
}

#define SDOHCC "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

/* A referral as an EHR sends it: Patient + ServiceRequest + Task in one
 * transaction, linked by urn:uuid. Returns the Bundle text (caller frees). */
static char *referral_bundle(const char *mrn, const char *category, const char *cbo)
{
    return lg_fmt(
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:0b5e6f3c-0000-4000-8000-000000000001\",\"resource\":"
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\",\"value\":\"%s\"}],"
        "\"name\":[{\"family\":\"Lopez\",\"given\":[\"Ana\"]}],\"birthDate\":\"2016-04-02\"},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"fullUrl\":\"urn:uuid:0b5e6f3c-0000-4000-8000-000000000002\",\"resource\":"
        "{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\","
        "\"category\":[{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"%s\"}]}],"
        "\"code\":{\"text\":\"Community resource referral\"},"
        "\"subject\":{\"reference\":\"urn:uuid:0b5e6f3c-0000-4000-8000-000000000001\"},"
        "\"authoredOn\":\"2026-11-02T09:00:00Z\","
        "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
        "\"performer\":[{\"reference\":\"Organization/%s\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}},"
        "{\"fullUrl\":\"urn:uuid:0b5e6f3c-0000-4000-8000-000000000003\",\"resource\":"
        "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
        "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
        "\"code\":\"fulfill\"}]},"
        "\"focus\":{\"reference\":\"urn:uuid:0b5e6f3c-0000-4000-8000-000000000002\"},"
        "\"for\":{\"reference\":\"urn:uuid:0b5e6f3c-0000-4000-8000-000000000001\"},"
        "\"authoredOn\":\"2026-11-02T09:00:00Z\","
        "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
        "\"owner\":{\"reference\":\"Organization/%s\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}",
        mrn, category, cbo, cbo);
}

typedef struct referral {
    char *patient, *sr, *task; /* ids */
} referral;

/* "Type/id/_history/1" -> "id" (caller frees). */
static char *id_of_location(const char *loc, const char *type)
{
    const char *p = strstr(loc, type);
    cr_assert_not_null(p, "location %s", loc);
    p += strlen(type) + 1;
    size_t n = strcspn(p, "/");
    return lg_fmt("%.*s", (int)n, p);
}

static referral send_referral(const char *mrn, const char *category, const char *cbo)
{
    char *b = referral_bundle(mrn, category, cbo);
    lg_resp r = as(clinic, "POST", "/", b);
    free(b);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    referral out;
    out.patient = id_of_location(lg_at_str(r.json, "entry.0.response.location"), "Patient");
    out.sr = id_of_location(lg_at_str(r.json, "entry.1.response.location"), "ServiceRequest");
    out.task = id_of_location(lg_at_str(r.json, "entry.2.response.location"), "Task");
    lg_resp_free(&r);
    return out;
}

static void referral_free(referral *f)
{
    free(f->patient);
    free(f->sr);
    free(f->task);
}

/* The referral Task as its owner would write it back with a new status;
 * extra is spliced in (statusReason, output) or "". Caller frees. */
static char *task_update(const referral *f, const char *cbo, const char *status, const char *extra)
{
    return lg_fmt("{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"%s\",\"intent\":\"order\","
                  "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
                  "\"code\":\"fulfill\"}]},\"focus\":{\"reference\":\"ServiceRequest/%s\"},"
                  "\"for\":{\"reference\":\"Patient/%s\"},\"authoredOn\":\"2026-11-02T09:00:00Z\","
                  "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
                  "\"owner\":{\"reference\":\"Organization/%s\"}%s}",
                  f->task, status, f->sr, f->patient, cbo, extra);
}

static void put_task(const char *token, const referral *f, const char *cbo, const char *status,
                     const char *extra, long want)
{
    char *path = lg_fmt("/Task/%s", f->task);
    char *body = task_update(f, cbo, status, extra);
    expect(token, "PUT", path, body, want);
    free(body);
    free(path);
}

static const char *task_status(const char *token, const referral *f)
{
    static char buf[32];
    char *path = lg_fmt("/Task/%s", f->task);
    lg_resp r = as(token, "GET", path, NULL);
    free(path);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    snprintf(buf, sizeof(buf), "%s", lg_str(r.json, "status"));
    lg_resp_free(&r);
    return buf;
}

/* Whether an error issue of the OperationOutcome says both a and b. */
static int diag_says(const lg_resp *r, const char *a, const char *b)
{
    const cJSON *i;
    cJSON_ArrayForEach(i, cJSON_GetObjectItem(r->json, "issue")) {
        const char *sev = lg_str(i, "severity"), *d = lg_str(i, "diagnostics");
        if(sev && strcmp(sev, "error") == 0 && d && strstr(d, a) && strstr(d, b))
            return 1;
    }
    return 0;
}

Test(lifecycle, a_referral_is_served_and_the_loop_closes)
{
    referral f = send_referral("mrn-1", "food-insecurity", "cbo-a");

    /* CBO A polls its queue and gets the referral with what it points to */
    lg_resp q = as(cbo_a, "GET",
                   "/Task?owner=Organization/cbo-a&status=requested&_include=Task:focus"
                   "&_include=Task:patient&_total=accurate",
                   NULL);
    cr_assert_eq(q.status, 200, "%s", q.body);
    cr_assert_eq(lg_total(q.json), 1, "%s", q.body);
    cr_assert_eq(lg_entries(q.json), 3, "Task + ServiceRequest + Patient: %s", q.body);
    lg_resp_free(&q);

    /* CBO B sees none of it, and cannot tell it exists */
    q = as(cbo_b, "GET", "/Task?status=requested&_include=Task:patient&_total=accurate", NULL);
    cr_assert_eq(q.status, 200);
    cr_assert_eq(lg_total(q.json), 0, "%s", q.body);
    cr_assert_eq(lg_entries(q.json), 0);
    lg_resp_free(&q);
    char *tp = lg_fmt("/Task/%s", f.task), *pp = lg_fmt("/Patient/%s", f.patient),
         *sp = lg_fmt("/ServiceRequest/%s", f.sr);
    lg_resp missing = as(cbo_b, "GET", "/Task/no-such-task", NULL);
    lg_resp hidden = as(cbo_b, "GET", tp, NULL);
    cr_assert_eq(missing.status, 404);
    cr_assert_eq(hidden.status, 404);
    /* the same words for both, except for the id itself */
    cr_assert(strstr(lg_diag(hidden.json), "is not known"), "%s", hidden.body);
    cr_assert(strstr(lg_diag(missing.json), "is not known"), "%s", missing.body);
    lg_resp_free(&missing);
    lg_resp_free(&hidden);
    expect(cbo_b, "GET", pp, NULL, 404);
    expect(cbo_b, "GET", sp, NULL, 404);
    /* ... nor change it: a hidden Task answers like a missing one */
    put_task(cbo_b, &f, "cbo-b", "accepted", "", 404);
    put_task(cbo_b, &f, "cbo-a", "accepted", "", 404);

    /* the family's data is not the reporting client's to read */
    expect(state, "GET", pp, NULL, 403);

    /* CBO A answers and works the referral */
    put_task(cbo_a, &f, "cbo-a", "accepted", "", 200);
    /* an edge the state machine lacks: 409 naming both states */
    char *body = task_update(&f, "cbo-a", "requested", "");
    lg_resp back = as(cbo_a, "PUT", tp, body);
    free(body);
    cr_assert_eq(back.status, 409, "%ld %s", back.status, back.body);
    cr_assert(diag_says(&back, "accepted", "requested"), "%s", back.body);
    lg_resp_free(&back);
    /* the requester may not do the owner's part */
    put_task(clinic, &f, "cbo-a", "in-progress", "", 403);
    put_task(cbo_a, &f, "cbo-a", "in-progress", "", 200);
    /* completing needs the resulting activity */
    put_task(cbo_a, &f, "cbo-a", "completed", "", 422);
    char *proc = lg_fmt("{\"resourceType\":\"Procedure\",\"status\":\"completed\","
                        "\"code\":{\"text\":\"Enrolled in the weekly food box programme\"},"
                        "\"subject\":{\"reference\":\"Patient/%s\"},"
                        "\"basedOn\":[{\"reference\":\"ServiceRequest/%s\"}]}",
                        f.patient, f.sr);
    lg_resp pr = as(cbo_a, "POST", "/Procedure", proc);
    free(proc);
    cr_assert_eq(pr.status, 201, "%ld %s", pr.status, pr.body);
    char *proc_id = lg_fmt("%s", lg_str(pr.json, "id"));
    lg_resp_free(&pr);
    char *output = lg_fmt(",\"output\":[{\"type\":{\"coding\":[{\"system\":\"" SDOHCC
                          "\",\"code\":\"resulting-activity\"}]},"
                          "\"valueReference\":{\"reference\":\"Procedure/%s\"}}]",
                          proc_id);
    put_task(cbo_a, &f, "cbo-a", "completed", output, 200);
    free(output);
    free(proc_id);

    /* the EHR sees the loop closed, without knowing anything of the CBO */
    cr_assert_str_eq(task_status(clinic, &f), "completed");
    expect(clinic, "GET", sp, NULL, 200);
    /* and a closed loop stays closed */
    put_task(cbo_a, &f, "cbo-a", "in-progress", "", 409);

    /* every access is in the audit log, the refused ones too */
    lg_resp audit = as(coord, "GET", "/AuditEvent?_count=1000", NULL);
    cr_assert_eq(audit.status, 200, "%s", audit.body);
    int refused_read = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(audit.json, "entry")) {
        const cJSON *ev = cJSON_GetObjectItem(e, "resource");
        const char *who = lg_at_str(ev, "agent.0.altId");
        const char *what = lg_at_str(ev, "entity.0.what.reference");
        if(who && strcmp(who, "cbo-b") == 0 && what && strstr(what, f.task) &&
           strcmp(lg_str(ev, "outcome"), "4") == 0)
            refused_read++;
    }
    cr_assert_geq(refused_read, 1, "CBO B's refused look at the Task is audited: %s", audit.body);
    lg_resp_free(&audit);
    expect(cbo_a, "GET", "/AuditEvent", NULL, 403);

    free(tp);
    free(pp);
    free(sp);
    referral_free(&f);
}

Test(lifecycle, rejected_and_cancelled_referrals_close_unserved_and_are_reported)
{
    referral served = send_referral("mrn-10", "food-insecurity", "cbo-a");
    referral rejected = send_referral("mrn-11", "housing-instability", "cbo-b");
    referral cancelled = send_referral("mrn-12", "transportation-insecurity", "cbo-b");

    /* CBO A serves its referral */
    put_task(cbo_a, &served, "cbo-a", "accepted", "", 200);
    put_task(cbo_a, &served, "cbo-a", "in-progress", "", 200);
    char *output = lg_fmt(",\"output\":[{\"type\":{\"coding\":[{\"system\":\"" SDOHCC
                          "\",\"code\":\"resulting-activity\"}]},"
                          "\"valueCodeableConcept\":{\"coding\":[{\"system\":\"http://snomed.info/sct\","
                          "\"code\":\"467771000124109\",\"display\":\"Assistance with "
                          "application for food program\"}]}}]");
    put_task(cbo_a, &served, "cbo-a", "completed", output, 200);
    free(output);

    /* CBO B must say why it rejects */
    put_task(cbo_b, &rejected, "cbo-b", "rejected", "", 422);
    put_task(cbo_b, &rejected, "cbo-b", "rejected",
             ",\"statusReason\":{\"text\":\"at capacity until January\"}", 200);
    /* CBO A cannot touch CBO B's Task, even naming itself owner */
    put_task(cbo_a, &cancelled, "cbo-a", "accepted", "", 404);

    /* only the requester cancels: the owner is refused, the clinic revokes
     * the ServiceRequest and the open Task follows in the same transaction */
    put_task(cbo_b, &cancelled, "cbo-b", "cancelled",
             ",\"statusReason\":{\"text\":\"family asked\"}", 403);
    char *sr = lg_fmt("{\"resourceType\":\"ServiceRequest\",\"id\":\"%s\",\"status\":\"revoked\","
                      "\"intent\":\"order\",\"category\":[{\"coding\":[{\"system\":\"" SDOHCC
                      "\",\"code\":\"transportation-insecurity\"}]}],"
                      "\"code\":{\"text\":\"Community resource referral\"},"
                      "\"subject\":{\"reference\":\"Patient/%s\"},"
                      "\"authoredOn\":\"2026-11-02T09:00:00Z\","
                      "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
                      "\"performer\":[{\"reference\":\"Organization/cbo-b\"}]}",
                      cancelled.sr, cancelled.patient);
    char *srp = lg_fmt("/ServiceRequest/%s", cancelled.sr);
    expect(cbo_b, "PUT", srp, sr, 403); /* a CBO never rewrites the referral... */
    expect(cbo_b, "DELETE", srp, NULL, 403); /* ... nor deletes it */
    expect(clinic, "PUT", srp, sr, 200);
    free(sr);
    free(srp);
    cr_assert_str_eq(task_status(cbo_b, &cancelled), "cancelled");
    cr_assert_str_eq(task_status(clinic, &rejected), "rejected");

    /* the state pilot pulls the closed-loop report: counts only */
    lg_resp rep = as(state, "GET",
                     "/$closed-loop-report?start=2026-11-01&end=2026-11-30&group-by=organization",
                     NULL);
    cr_assert_eq(rep.status, 200, "%ld %s", rep.status, rep.body);
    const cJSON *all = cJSON_GetObjectItem(rep.json, "overall");
    cr_assert_not_null(all, "%s", rep.body);
    /* each test has a server of its own: these three referrals */
    cr_assert_eq((int)cJSON_GetObjectItem(all, "total")->valuedouble, 3, "%s", rep.body);
    cr_assert_eq((int)lg_at(all, "states.closed-served")->valuedouble, 1, "%s", rep.body);
    cr_assert_eq((int)lg_at(all, "states.closed-not-served")->valuedouble, 2, "%s", rep.body);
    cr_assert_eq((int)cJSON_GetObjectItem(all, "closed")->valuedouble, 3, "%s", rep.body);
    /* per organization: CBO B closed both of its referrals unserved */
    int found_b = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(rep.json, "groups")) {
        const char *org = lg_at_str(g, "key.organization");
        if(org && strstr(org, "cbo-b")) {
            found_b = 1;
            cr_assert_eq((int)cJSON_GetObjectItem(g, "total")->valuedouble, 2, "%s", rep.body);
            cr_assert_eq((int)lg_at(g, "states.closed-not-served")->valuedouble, 2, "%s", rep.body);
        }
    }
    cr_assert(found_b, "%s", rep.body);
    lg_resp_free(&rep);
    /* CBOs and clinics do not get the aggregate */
    expect(cbo_a, "GET", "/$closed-loop-report?start=2026-11-01&end=2026-11-30", NULL, 403);
    expect(clinic, "GET", "/$closed-loop-report?start=2026-11-01&end=2026-11-30", NULL, 403);

    referral_free(&served);
    referral_free(&rejected);
    referral_free(&cancelled);
}
