/* Whole referral lifecycles through lg_rest_handle with actors set by hand
 * (issue #4, Workflow): the referral source creates the ServiceRequest and
 * its Task, the CBO that owns it answers, works and closes it; illegal
 * transitions are 409 naming both states, the wrong party 403, missing
 * reasons/outputs and disagreeing resources 422; a revoked ServiceRequest
 * cancels its open Task in the same transaction; the Medi-Cal rules (ECM age,
 * care plan review) refuse clients' writes; and every referral write leaves
 * the referral's row in the store's report facts. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/model.h"
#include "loopgate/rest.h"
#include "loopgate/store.h"
#include "loopgate/time.h"
#include "lg_test.h"
#include "lg_test_rest.h"

TestSuite(rest_workflow, .init = setup, .fini = teardown);

static const char *const clinic_refs[] = {"Organization/clinic-1"};
static const char *const cbo_refs[] = {"Organization/cbo-17"};
static const char *const other_refs[] = {"Organization/cbo-99"};
static const lg_actor requester = {LG_ROLE_REFERRAL_SOURCE, clinic_refs, 1};
static const lg_actor owner = {LG_ROLE_REFERRAL_RECIPIENT, cbo_refs, 1};
static const lg_actor other_cbo = {LG_ROLE_REFERRAL_RECIPIENT, other_refs, 1};

typedef struct reply {
    lg_rest_response r;
    cJSON *json;
} reply;

/* The configured client each actor stands for (access rules: "created"). */
static const char *client_of(const lg_actor *a)
{
    return a == &requester ? "clinic-client" : a == &owner ? "cbo-17-client" : a == &other_cbo ? "cbo-99-client"
                                                                                                : NULL;
}

static reply call(const lg_actor *a, const char *method, const char *path, const char *body)
{
    reply out;
    lg_rest_request req = {
        .method = method, .path = path, .base = "http://test",
        .content_type = body ? "application/fhir+json" : NULL,
        .body = body, .body_len = body ? strlen(body) : 0, .actor = a, .client_id = client_of(a),
    };
    cr_assert_eq(lg_rest_handle(&rest, store, &req, &out.r), LG_OK);
    out.json = out.r.body ? cJSON_ParseWithLength(out.r.body, out.r.body_len) : NULL;
    return out;
}

static void done(reply *r)
{
    cJSON_Delete(r->json);
    lg_rest_response_clear(&r->r);
}

/* Call and expect a status; the reply is freed. */
static void expect(const lg_actor *a, const char *method, const char *path, const char *body, int status)
{
    reply r = call(a, method, path, body);
    cr_assert_eq(r.r.status, status, "%s %s: %d (wanted %d) %s", method, path, r.r.status, status,
                 r.r.body ? r.r.body : "");
    done(&r);
}

static const char *str_at(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Whether an error issue of the OperationOutcome has code and mentions a and b. */
static int outcome_says(const cJSON *oo, const char *code, const char *a, const char *b)
{
    const cJSON *i, *issues = cJSON_GetObjectItemCaseSensitive(oo, "issue");
    cJSON_ArrayForEach(i, issues) {
        const char *sev = str_at(i, "severity"), *c = str_at(i, "code"), *d = str_at(i, "diagnostics");
        if(sev && strcmp(sev, "error") == 0 && c && (!code || strcmp(c, code) == 0) && d &&
           (!a || strstr(d, a)) && (!b || strstr(d, b)))
            return 1;
    }
    return 0;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    cr_assert_geq(vasprintf(&s, f, ap), 0);
    va_end(ap);
    return s;
}

#define SDOHCC "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

static char *service_request(const char *id, const char *status, const char *child)
{
    return fmt("{\"resourceType\":\"ServiceRequest\",\"id\":\"%s\",\"status\":\"%s\",\"intent\":\"order\","
               "\"category\":[{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"food-insecurity\"}]}],"
               "\"code\":{\"text\":\"Food pantry enrolment\"},\"subject\":{\"reference\":\"Patient/%s\"},"
               "\"authoredOn\":\"2026-10-01T10:00:00Z\",\"requester\":{\"reference\":\"Organization/clinic-1\"},"
               "\"performer\":[{\"reference\":\"Organization/cbo-17\"}]}",
               id, status, child);
}

/* A referral Task whose focus is the reference text focus; extra is
 * spliced in (",\"statusReason\":{...}") or "". */
static char *task_on(const char *id, const char *focus, const char *child, const char *status,
                     const char *last_modified, const char *extra)
{
    return fmt("{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"%s\",\"intent\":\"order\","
               "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
               "\"code\":\"fulfill\"}]},\"focus\":{\"reference\":\"%s\"},"
               "\"for\":{\"reference\":\"Patient/%s\"},\"authoredOn\":\"2026-10-01T10:00:00Z\","
               "\"lastModified\":\"%s\",\"requester\":{\"reference\":\"Organization/clinic-1\"},"
               "\"owner\":{\"reference\":\"Organization/cbo-17\"}%s}",
               id, status, focus, child, last_modified, extra);
}

static char *task(const char *id, const char *sr, const char *child, const char *status,
                  const char *last_modified, const char *extra)
{
    char focus[96];
    snprintf(focus, sizeof(focus), "ServiceRequest/%s", sr);
    return task_on(id, focus, child, status, last_modified, extra);
}

#define REASON ",\"statusReason\":{\"text\":\"family moved out of the service area\"}"
#define OUTPUT ",\"output\":[{\"type\":{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"resulting-activity\"}]}," \
               "\"valueReference\":{\"reference\":\"Procedure/pr-1\"}}]"

static void put(const lg_actor *a, const char *type, const char *id, char *body, int status)
{
    char path[128];
    snprintf(path, sizeof(path), "/%s/%s", type, id);
    expect(a, "PUT", path, body, status);
    free(body);
}

/* The current status of Task/id. */
static char *task_status(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/Task/%s", id);
    reply r = call(NULL, "GET", path, NULL);
    cr_assert_eq(r.r.status, 200);
    char *s = strdup(str_at(r.json, "status"));
    done(&r);
    return s;
}

typedef struct fact_seen {
    const char *want;
    int found;
    lg_store_referral_fact f;
    char task[64], org[64], child[64], county[64];
} fact_seen;

static int find_fact(const lg_store_referral_fact *f, const lg_store_child_facts *c, void *ctx)
{
    fact_seen *s = ctx;
    if(strcmp(f->referral_id, s->want) == 0) {
        s->found++;
        s->f = *f;
        snprintf(s->task, sizeof(s->task), "%s", f->task_id ? f->task_id : "");
        snprintf(s->org, sizeof(s->org), "%s", f->organization ? f->organization : "");
        snprintf(s->child, sizeof(s->child), "%s", f->child_id ? f->child_id : "");
        snprintf(s->county, sizeof(s->county), "%s", c && c->county ? c->county : "");
        s->f.referral_id = s->f.task_id = s->f.organization = s->f.child_id = NULL;
    }
    return 0;
}

static fact_seen fact_of(const char *referral)
{
    fact_seen s = {.want = referral};
    cr_assert_eq(lg_store_referral_facts_scan(store, INT64_MIN, INT64_MAX, find_fact, &s), LG_OK);
    return s;
}

static int64_t ms(const char *t)
{
    int64_t lo, hi;
    cr_assert_eq(lg_time_parse_range(t, &lo, &hi), LG_OK);
    return lo;
}

/* POST body as a; expects status; on 201 the server's id into id (64 bytes). */
static void post(const lg_actor *a, const char *type, char *body, int status, char *id)
{
    char path[64];
    snprintf(path, sizeof(path), "/%s", type);
    reply r = call(a, "POST", path, body);
    cr_assert_eq(r.r.status, status, "POST %s: %d (wanted %d) %s", path, r.r.status, status,
                 r.r.body ? r.r.body : "");
    if(id && status == 201) {
        cr_assert_not_null(str_at(r.json, "id"));
        snprintf(id, 64, "%s", str_at(r.json, "id"));
    }
    done(&r);
    free(body);
}

/* The referral source posts the ServiceRequest and its Task (server ids:
 * clients never choose ids under the access rules). */
static void open_referral(const char *child, char *sr, char *t)
{
    post(&requester, "ServiceRequest", service_request("x", "active", child), 201, sr);
    post(&requester, "Task", task("x", sr, child, "requested", "2026-10-01T10:00:00Z", ""), 201, t);
}

Test(rest_workflow, served_referral_lifecycle)
{
    char sr[64], t[64];
    open_referral("p1", sr, t);
    fact_seen f = fact_of(sr);
    cr_assert_eq(f.found, 1);
    cr_assert_eq(f.f.loop, LG_LOOP_PENDING);
    cr_assert_str_eq(f.task, t);
    cr_assert_str_eq(f.org, "Organization/cbo-17");
    cr_assert_str_eq(f.child, "p1");
    cr_assert_eq(f.f.category, LG_SDOH_FOOD_INSECURITY);
    cr_assert_eq(f.f.created_ms, ms("2026-10-01T10:00:00Z"));
    cr_assert_eq(f.f.first_response_ms, INT64_MIN);

    put(&owner, "Task", t, task(t, sr, "p1", "accepted", "2026-10-03T10:00:00Z", ""), 200);
    put(&owner, "Task", t, task(t, sr, "p1", "in-progress", "2026-10-05T10:00:00Z", ""), 200);
    /* Completing needs the resulting activity. */
    put(&owner, "Task", t, task(t, sr, "p1", "completed", "2026-10-11T10:00:00Z", ""), 422);
    put(&owner, "Task", t, task(t, sr, "p1", "completed", "2026-10-11T10:00:00Z", OUTPUT), 200);
    char *s = task_status(t);
    cr_assert_str_eq(s, "completed");
    free(s);

    f = fact_of(sr);
    cr_assert_eq(f.f.loop, LG_LOOP_CLOSED_SERVED);
    cr_assert_eq(f.f.first_response_ms, ms("2026-10-03T10:00:00Z"), "first response is the acceptance");
    cr_assert_eq(f.f.closed_ms, ms("2026-10-11T10:00:00Z"));
    cr_assert_eq(f.f.not_served, LG_NOT_SERVED_NONE);
}

Test(rest_workflow, rejection_needs_a_reason)
{
    char sr[64], t[64], path[96];
    open_referral("p1", sr, t);
    snprintf(path, sizeof(path), "/Task/%s", t);
    char *b = task(t, sr, "p1", "rejected", "2026-10-02T10:00:00Z", "");
    reply r = call(&owner, "PUT", path, b);
    free(b);
    cr_assert_eq(r.r.status, 422, "%s", r.r.body);
    cr_assert(outcome_says(r.json, "required", "statusReason", NULL), "%s", r.r.body);
    done(&r);
    put(&owner, "Task", t, task(t, sr, "p1", "rejected", "2026-10-02T10:00:00Z", REASON), 200);
    fact_seen f = fact_of(sr);
    cr_assert_eq(f.f.loop, LG_LOOP_CLOSED_NOT_SERVED);
    cr_assert_eq(f.f.not_served, LG_NOT_SERVED_OTHER);
    cr_assert_eq(f.f.first_response_ms, ms("2026-10-02T10:00:00Z"));
    cr_assert_eq(f.f.closed_ms, ms("2026-10-02T10:00:00Z"));
}

Test(rest_workflow, illegal_transition_is_409_naming_both_states)
{
    char sr[64], t[64], path[96];
    open_referral("p1", sr, t);
    snprintf(path, sizeof(path), "/Task/%s", t);
    char *b = task(t, sr, "p1", "completed", "2026-10-02T10:00:00Z", OUTPUT);
    reply r = call(&owner, "PUT", path, b);
    free(b);
    cr_assert_eq(r.r.status, 409, "%s", r.r.body);
    cr_assert(outcome_says(r.json, "business-rule", "requested", "completed"), "%s", r.r.body);
    done(&r);
    char *s = task_status(t);
    cr_assert_str_eq(s, "requested", "a refused write stores nothing");
    free(s);
    /* A closed loop stays closed: completed -> in-progress is no edge. */
    put(&owner, "Task", t, task(t, sr, "p1", "accepted", "2026-10-02T10:00:00Z", ""), 200);
    put(&owner, "Task", t, task(t, sr, "p1", "completed", "2026-10-04T10:00:00Z", OUTPUT), 200);
    b = task(t, sr, "p1", "in-progress", "2026-10-05T10:00:00Z", "");
    r = call(&owner, "PUT", path, b);
    free(b);
    cr_assert_eq(r.r.status, 409);
    cr_assert(outcome_says(r.json, NULL, "completed", "in-progress"), "%s", r.r.body);
    done(&r);
    /* Even the server itself follows the machine on updates. */
    b = task(t, sr, "p1", "requested", "2026-10-05T10:00:00Z", "");
    r = call(NULL, "PUT", path, b);
    free(b);
    cr_assert_eq(r.r.status, 409, "%s", r.r.body);
    done(&r);
}

Test(rest_workflow, wrong_party_is_refused)
{
    char sr[64], t[64], path[96];
    open_referral("p1", sr, t);
    snprintf(path, sizeof(path), "/Task/%s", t);
    /* Another CBO cannot answer a Task it does not own: it cannot even see
     * it (the access rules answer 404, as for a missing Task). */
    char *b = task(t, sr, "p1", "accepted", "2026-10-02T10:00:00Z", "");
    reply r = call(&other_cbo, "PUT", path, b);
    free(b);
    cr_assert(r.r.status == 404 || r.r.status == 403, "%d %s", r.r.status, r.r.body);
    done(&r);
    /* The requester cannot accept on the CBO's behalf. */
    b = task(t, sr, "p1", "accepted", "2026-10-02T10:00:00Z", "");
    r = call(&requester, "PUT", path, b);
    free(b);
    cr_assert_eq(r.r.status, 403, "%s", r.r.body);
    cr_assert(outcome_says(r.json, "forbidden", "requested", "accepted"), "%s", r.r.body);
    done(&r);
    /* Only the requester cancels (issue #4); the owner fails instead. */
    put(&owner, "Task", t, task(t, sr, "p1", "accepted", "2026-10-02T10:00:00Z", ""), 200);
    put(&owner, "Task", t, task(t, sr, "p1", "cancelled", "2026-10-03T10:00:00Z", REASON), 403);
    put(&owner, "Task", t, task(t, sr, "p1", "failed", "2026-10-03T10:00:00Z", REASON), 200);
    /* Only the referral source creates referral Tasks. */
    char sr2[64];
    post(&requester, "ServiceRequest", service_request("x", "active", "p1"), 201, sr2);
    post(&owner, "Task", task("x", sr2, "p1", "requested", "2026-10-01T10:00:00Z", ""), 403, NULL);
    /* ... and the owner may not delete one it did not request. */
    expect(&owner, "DELETE", path, NULL, 403);
    char *s = task_status(t);
    cr_assert_str_eq(s, "failed");
    free(s);
    /* The requester cancels an open referral. */
    char sr3[64], t3[64];
    open_referral("p1", sr3, t3);
    put(&requester, "Task", t3, task(t3, sr3, "p1", "cancelled", "2026-10-03T10:00:00Z", REASON), 200);
}

Test(rest_workflow, revoked_service_request_cancels_the_open_task_in_the_same_transaction)
{
    char sr[64], t[64], path[96];
    open_referral("p1", sr, t);
    put(&owner, "Task", t, task(t, sr, "p1", "accepted", "2026-10-02T10:00:00Z", ""), 200);
    put(&requester, "ServiceRequest", sr, service_request(sr, "revoked", "p1"), 200);
    snprintf(path, sizeof(path), "/Task/%s", t);
    reply tr = call(NULL, "GET", path, NULL);
    cr_assert_eq(tr.r.status, 200);
    cr_assert_str_eq(str_at(tr.json, "status"), "cancelled");
    cr_assert_str_eq(str_at(cJSON_GetObjectItem(tr.json, "meta"), "versionId"), "3");
    cr_assert_not_null(str_at(cJSON_GetObjectItem(tr.json, "statusReason"), "text"));
    snprintf(path, sizeof(path), "/ServiceRequest/%s", sr);
    reply srr = call(NULL, "GET", path, NULL);
    cr_assert_eq(srr.r.status, 200);
    /* One transaction: both versions carry the same lastUpdated instant
     * (taken once, under the write lock, for the whole interaction). */
    cr_assert_str_eq(str_at(cJSON_GetObjectItem(tr.json, "meta"), "lastUpdated"),
                     str_at(cJSON_GetObjectItem(srr.json, "meta"), "lastUpdated"));
    done(&tr);
    done(&srr);
    fact_seen f = fact_of(sr);
    cr_assert_eq(f.f.loop, LG_LOOP_CLOSED_NOT_SERVED);
    cr_assert_eq(f.f.not_served, LG_NOT_SERVED_CANCELLED);
    cr_assert_eq(f.f.first_response_ms, ms("2026-10-02T10:00:00Z"));
    cr_assert_neq(f.f.closed_ms, INT64_MIN);

    /* A closed Task is left alone by a later revoke ... */
    char sr6[64], t6[64];
    open_referral("p1", sr6, t6);
    put(&owner, "Task", t6, task(t6, sr6, "p1", "rejected", "2026-10-02T10:00:00Z", REASON), 200);
    put(&requester, "ServiceRequest", sr6, service_request(sr6, "revoked", "p1"), 200);
    char *s = task_status(t6);
    cr_assert_str_eq(s, "rejected");
    free(s);
    /* ... and entered-in-error follows through. */
    put(&requester, "ServiceRequest", sr6, service_request(sr6, "entered-in-error", "p1"), 200);
    s = task_status(t6);
    cr_assert_str_eq(s, "entered-in-error");
    free(s);
    cr_assert_eq(fact_of(sr6).f.loop, LG_LOOP_ERROR);
}

static int count_rows(const lg_store_referral_fact *f, const lg_store_child_facts *c, void *ctx)
{
    (void)f;
    (void)c;
    ++*(int *)ctx;
    return 0;
}

static int fact_rows(void)
{
    int n = 0;
    cr_assert_eq(lg_store_referral_facts_scan(store, INT64_MIN, INT64_MAX, count_rows, &n), LG_OK);
    return n;
}

#define URN "urn:uuid:1b0c5b9e-0e8a-4c36-9d7e-5d3a8f1e2a01"

/* ServiceRequest + Task posted together (the usual EHR message), the
 * Task's focus an urn:uuid of the Bundle. */
static char *referral_bundle(const char *task_status)
{
    char *srb = service_request("x", "active", "p1");
    char *tb = task_on("x", URN, "p1", task_status, "2026-10-01T10:00:00Z", "");
    char *b = fmt("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
                  "{\"fullUrl\":\"" URN "\",\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}},"
                  "{\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}", srb, tb);
    free(srb);
    free(tb);
    return b;
}

Test(rest_workflow, transaction_bundle_is_all_or_nothing)
{
    /* Created accepted by the referral source: the machine has no such edge,
     * and the ServiceRequest before it is rolled back with it. */
    char *bad = referral_bundle("accepted");
    reply r = call(&requester, "POST", "/", bad);
    free(bad);
    cr_assert_eq(r.r.status, 409, "%s", r.r.body);
    done(&r);
    cr_assert_eq(fact_rows(), 0, "no facts from a rolled-back transaction");
    r = call(NULL, "GET", "/ServiceRequest", NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "entry")), 0, "%s", r.r.body);
    done(&r);

    char *good = referral_bundle("requested");
    r = call(&requester, "POST", "/", good);
    free(good);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "entry"), 0);
    const cJSON *e1 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "entry"), 1);
    const char *l0 = str_at(cJSON_GetObjectItem(e0, "response"), "location");
    const char *l1 = str_at(cJSON_GetObjectItem(e1, "response"), "location");
    cr_assert(l0 && l1);
    char sr[64], t[64];
    snprintf(sr, sizeof(sr), "%.*s", (int)strcspn(strstr(l0, "ServiceRequest/") + 15, "/"),
             strstr(l0, "ServiceRequest/") + 15);
    snprintf(t, sizeof(t), "%.*s", (int)strcspn(strstr(l1, "Task/") + 5, "/"), strstr(l1, "Task/") + 5);
    done(&r);
    fact_seen f = fact_of(sr);
    cr_assert_eq(f.found, 1);
    cr_assert_eq(f.f.loop, LG_LOOP_PENDING);
    cr_assert_str_eq(f.task, t, "the Task joined its referral through the urn:uuid");

    /* The requester accepting inside a transaction is refused as a whole, with 403. */
    char *tb = task(t, sr, "p1", "accepted", "2026-10-02T10:00:00Z", "");
    char *acc = fmt("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
                    "{\"resource\":%s,\"request\":{\"method\":\"PUT\",\"url\":\"Task/%s\"}}]}", tb, t);
    r = call(&requester, "POST", "/", acc);
    cr_assert_eq(r.r.status, 403, "%s", r.r.body);
    done(&r);
    free(tb);
    free(acc);
    char *s = task_status(t);
    cr_assert_str_eq(s, "requested");
    free(s);
}

Test(rest_workflow, task_and_service_request_must_agree)
{
    char sr[64];
    post(&requester, "ServiceRequest", service_request("x", "active", "p1"), 201, sr);
    /* Task.for another child than the ServiceRequest's subject. */
    char *b = task("x", sr, "p2", "requested", "2026-10-01T10:00:00Z", "");
    reply r = call(&requester, "POST", "/Task", b);
    free(b);
    cr_assert_eq(r.r.status, 422, "%s", r.r.body);
    cr_assert(outcome_says(r.json, "business-rule", "Patient/p2", "Patient/p1"), "%s", r.r.body);
    done(&r);
    /* A focus that is not a stored ServiceRequest. */
    post(&requester, "Task", task("x", "nosuch", "p1", "requested", "2026-10-01T10:00:00Z", ""), 422, NULL);
    /* A focus that is not a ServiceRequest at all. */
    b = task_on("x", "Observation/obs-1", "p1", "requested", "2026-10-01T10:00:00Z", "");
    r = call(&requester, "POST", "/Task", b);
    free(b);
    cr_assert_eq(r.r.status, 422, "%s", r.r.body);
    cr_assert(outcome_says(r.json, "business-rule", "Observation/obs-1", NULL), "%s", r.r.body);
    done(&r);
    r = call(NULL, "GET", "/Task", NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "entry")), 0, "nothing stored: %s", r.r.body);
    done(&r);
}

Test(rest_workflow, patient_task_status_is_checked)
{
    const char *pt = "{\"resourceType\":\"Task\",\"id\":\"pt1\",\"status\":\"%s\",\"intent\":\"order\","
                     "\"code\":{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"make-contact\"}]},"
                     "\"for\":{\"reference\":\"Patient/p1\"},\"requester\":{\"reference\":\"Organization/clinic-1\"},"
                     "\"owner\":{\"reference\":\"Patient/p1\"}}";
    put(NULL, "Task", "pt1", fmt(pt, "requested"), 201);
    /* requested -> in-progress skips the answer. */
    put(NULL, "Task", "pt1", fmt(pt, "in-progress"), 409);
    put(NULL, "Task", "pt1", fmt(pt, "accepted"), 200);
    put(NULL, "Task", "pt1", fmt(pt, "in-progress"), 200);
    /* in-progress -> requested is no edge of the machine. */
    put(NULL, "Task", "pt1", fmt(pt, "requested"), 409);
    /* received is outside the SDOHCC referral status value set. */
    put(NULL, "Task", "pt1", fmt(pt, "received"), 422);
    /* A client (the referral source) posts one for the family too. */
    post(&requester, "Task", fmt(pt, "requested"), 201, NULL);
}

/* A Patient born `years` years and 30 days ago, in ECM population pop. */
static char *ecm_patient(int years, const char *pop)
{
    int64_t now = lg_time_now_ms();
    char today[LG_TIME_BUFSZ];
    lg_time_format(now - 30LL * 86400000, today, sizeof(today));
    int y = atoi(today);
    return fmt("{\"resourceType\":\"Patient\",\"birthDate\":\"%04d%.6s\","
               "\"extension\":[{\"url\":\"" LG_URL_ECM_POPULATION "\",\"valueCodeableConcept\":{\"coding\":"
               "[{\"system\":\"https://loopgate.dev/fhir/CodeSystem/ecm-population-of-focus\",\"code\":\"%s\"}]}}]}",
               y - years, today + 4, pop);
}

Test(rest_workflow, ecm_age_limits)
{
    char *b = ecm_patient(22, "homelessness");
    reply r = call(&requester, "POST", "/Patient", b);
    free(b);
    cr_assert_eq(r.r.status, 422, "%s", r.r.body);
    cr_assert(outcome_says(r.json, "business-rule", "homelessness", "22"), "%s", r.r.body);
    done(&r);
    post(&requester, "Patient", ecm_patient(20, "homelessness"), 201, NULL);
    /* Child welfare covers former foster youth to 26: with the status
     * unrecorded, 22 is accepted (with a warning). */
    post(&requester, "Patient", ecm_patient(22, "child-welfare"), 201, NULL);
    post(&requester, "Patient", ecm_patient(27, "child-welfare"), 422, NULL);
}

static char *care_plan(int months)
{
    int64_t now = lg_time_now_ms();
    char d[LG_TIME_BUFSZ];
    /* months * 31 days: 8 months is clearly beyond six calendar months, 3 within. */
    lg_time_format(now + (int64_t)months * 31 * 86400000LL, d, sizeof(d));
    d[10] = '\0';
    return fmt("{\"resourceType\":\"CarePlan\",\"status\":\"active\",\"intent\":\"plan\","
               "\"subject\":{\"reference\":\"Patient/p1\"},\"period\":{\"end\":\"%s\"}}", d);
}

Test(rest_workflow, care_plan_review_within_six_months)
{
    char *b = care_plan(8);
    reply r = call(&requester, "POST", "/CarePlan", b);
    free(b);
    cr_assert_eq(r.r.status, 422, "%s", r.r.body);
    cr_assert(outcome_says(r.json, "business-rule", "six months", NULL), "%s", r.r.body);
    done(&r);
    post(&requester, "CarePlan", care_plan(3), 201, NULL);
    /* No review date at all. */
    post(&requester, "CarePlan",
         strdup("{\"resourceType\":\"CarePlan\",\"status\":\"active\",\"intent\":\"plan\","
                "\"subject\":{\"reference\":\"Patient/p1\"}}"), 422, NULL);
}

Test(rest_workflow, patient_update_moves_the_childs_demographics)
{
    const char *pat = "{\"resourceType\":\"Patient\",%s\"address\":[{\"district\":\"%s\"}]}";
    char p[64], idpart[96], sr[64], t[64];
    post(&requester, "Patient", fmt(pat, "", "Alameda"), 201, p);
    open_referral(p, sr, t);
    cr_assert_str_eq(fact_of(sr).county, "Alameda");
    snprintf(idpart, sizeof(idpart), "\"id\":\"%s\",", p);
    put(&requester, "Patient", p, fmt(pat, idpart, "Fresno"), 200);
    fact_seen f = fact_of(sr);
    cr_assert_eq(f.found, 1);
    cr_assert_str_eq(f.county, "Fresno", "the referral row follows the child's current demographics");
    /* A referral for a child not yet known has no demographics until the Patient comes. */
    char sr2[64], t2[64];
    open_referral("nobody-yet", sr2, t2);
    cr_assert_str_eq(fact_of(sr2).county, "");
    /* A deleted ServiceRequest leaves the report. */
    char path[96];
    snprintf(path, sizeof(path), "/ServiceRequest/%s", sr);
    expect(&requester, "DELETE", path, NULL, 200);
    cr_assert_eq(fact_of(sr).found, 0);
}
