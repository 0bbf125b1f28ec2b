/* Forward jobs in the write transaction (issue #5), through lg_rest_handle
 * with a forward_route function standing in for DATA/forwarding.json: a
 * referral Task reaching a routed owner (created, leaving draft, or given
 * to a routed owner) adds a "create" job; a forwarded Task cancelled,
 * entered in error or deleted while open - by its requester or by the
 * ServiceRequest revoke cascade - adds a "cancel" job; other Tasks add none; a transaction
 * Bundle that fails adds none (the job rolls back with the write); and the
 * response says when jobs were added (outbox_added). */
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

static const char *const clinic_refs[] = {"Organization/clinic-1"};
static const char *const cbo_refs[] = {"Organization/cbo-17"};
static const lg_actor requester = {LG_ROLE_REFERRAL_SOURCE, clinic_refs, 1};
static const lg_actor owner = {LG_ROLE_REFERRAL_RECIPIENT, cbo_refs, 1};

#define ROUTED "Organization/cbo-17"
#define ROUTED2 "HealthcareService/legal-7"
#define UNROUTED "Organization/cbo-99"

static int route_calls;

/* The configuration of the tests: two routed owners on two platforms. */
static int test_route(const void *ctx, const char *owner_ref, const char **platform, const char **target)
{
    cr_assert_str_eq((const char *)ctx, "cfg", "forward_ctx is handed back");
    route_calls++;
    if(strcmp(owner_ref, ROUTED) == 0) {
        *platform = "uu";
        *target = "prog-123";
        return 1;
    }
    if(strcmp(owner_ref, ROUTED2) == 0) {
        *platform = "fh";
        *target = "fh-program-77";
        return 1;
    }
    return 0;
}

static void fwd_setup(void)
{
    setup();
    rest.cfg.forward_route = test_route;
    rest.cfg.forward_ctx = "cfg";
    route_calls = 0;
}

TestSuite(rest_forward, .init = fwd_setup, .fini = teardown);

typedef struct reply {
    lg_rest_response r;
    cJSON *json;
} reply;

static const char *client_of(const lg_actor *a)
{
    return a == &requester ? "clinic-client" : a == &owner ? "cbo-17-client" : NULL;
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

static const char *str_at(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
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
#define REASON ",\"statusReason\":{\"text\":\"family moved out of the service area\"}"

static char *service_request(const char *id, const char *status)
{
    return fmt("{\"resourceType\":\"ServiceRequest\",\"id\":\"%s\",\"status\":\"%s\",\"intent\":\"order\","
               "\"category\":[{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"food-insecurity\"}]}],"
               "\"code\":{\"text\":\"Food pantry enrolment\"},\"subject\":{\"reference\":\"Patient/p1\"},"
               "\"authoredOn\":\"2026-10-01T10:00:00Z\",\"requester\":{\"reference\":\"Organization/clinic-1\"}}",
               id, status);
}

/* A referral Task for ServiceRequest/sr owned by owner_ref; extra is
 * spliced in. */
static char *task(const char *id, const char *sr, const char *status, const char *owner_ref,
                  const char *extra)
{
    return fmt("{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"%s\",\"intent\":\"order\","
               "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
               "\"code\":\"fulfill\"}]},\"focus\":{\"reference\":\"ServiceRequest/%s\"},"
               "\"for\":{\"reference\":\"Patient/p1\"},\"authoredOn\":\"2026-10-01T10:00:00Z\","
               "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
               "\"owner\":{\"reference\":\"%s\"}%s}",
               id, status, sr, owner_ref, extra);
}

/* POST body as a, expecting status; on 201 the new id into id (64 bytes).
 * Returns the response's outbox_added. */
static int post(const lg_actor *a, const char *type, char *body, int status, char *id)
{
    char path[64];
    snprintf(path, sizeof(path), "/%s", type);
    reply r = call(a, "POST", path, body);
    cr_assert_eq(r.r.status, status, "POST %s: %d (wanted %d) %s", path, r.r.status, status,
                 r.r.body ? r.r.body : "");
    if(id && status == 201)
        snprintf(id, 64, "%s", str_at(r.json, "id"));
    int added = r.r.outbox_added;
    done(&r);
    free(body);
    return added;
}

static int put(const lg_actor *a, const char *type, const char *id, char *body, int status)
{
    char path[128];
    snprintf(path, sizeof(path), "/%s/%s", type, id);
    reply r = call(a, "PUT", path, body);
    cr_assert_eq(r.r.status, status, "PUT %s: %d (wanted %d) %s", path, r.r.status, status,
                 r.r.body ? r.r.body : "");
    int added = r.r.outbox_added;
    done(&r);
    free(body);
    return added;
}

/* Every job in the outbox, in creation order. */
static lg_outbox_list jobs(void)
{
    lg_outbox_list l = {0};
    cr_assert_eq(lg_store_outbox_list(store, -1, NULL, 0, 1000, &l), LG_OK);
    return l;
}

static size_t job_count(void)
{
    lg_outbox_list l = jobs();
    size_t n = l.count;
    lg_outbox_list_clear(&l);
    return n;
}

static void expect_job(const lg_outbox_job *j, const char *kind, const char *platform, const char *target,
                       const char *task_id, const char *sr_id)
{
    cr_assert_str_eq(j->kind, kind);
    cr_assert_str_eq(j->platform, platform);
    cr_assert_not_null(j->target);
    cr_assert_str_eq(j->target, target);
    cr_assert_str_eq(j->task_id, task_id);
    cr_assert_not_null(j->referral_id);
    cr_assert_str_eq(j->referral_id, sr_id);
    cr_assert_eq(j->state, LG_OUTBOX_PENDING);
    cr_assert_eq(j->attempts, 0);
    cr_assert_null(j->remote_id);
}

/* ServiceRequest and a Task of status for owner_ref, by the referral source. */
static int open_referral(const char *status, const char *owner_ref, char *sr, char *t)
{
    cr_assert_eq(post(&requester, "ServiceRequest", service_request("x", "active"), 201, sr), 0,
                 "a ServiceRequest alone adds no job");
    return post(&requester, "Task", task("x", sr, status, owner_ref, ""), 201, t);
}

Test(rest_forward, routed_create_adds_a_create_job)
{
    char sr[64], t[64];
    int64_t before = lg_time_now_ms();
    cr_assert_eq(open_referral("requested", ROUTED, sr, t), 1, "outbox_added on the Task's create");
    int64_t after = lg_time_now_ms();
    cr_assert_gt(route_calls, 0);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 1);
    expect_job(&l.items[0], "create", "uu", "prog-123", t, sr);
    cr_assert_eq(l.items[0].next_at_ms, l.items[0].created_ms, "due at once");
    cr_assert_geq(l.items[0].created_ms, before);
    cr_assert_leq(l.items[0].created_ms, after + 1);
    lg_outbox_list_clear(&l);

    /* Reading it, or the owner accepting it, adds nothing. */
    char path[96];
    snprintf(path, sizeof(path), "/Task/%s", t);
    reply r = call(&requester, "GET", path, NULL);
    cr_assert_eq(r.r.status, 200);
    cr_assert_eq(r.r.outbox_added, 0);
    done(&r);
    cr_assert_eq(put(&owner, "Task", t, task(t, sr, "accepted", ROUTED, ""), 200), 0);
    cr_assert_eq(job_count(), 1);
}

Test(rest_forward, second_platform_route)
{
    char sr[64], t[64];
    cr_assert_eq(open_referral("requested", ROUTED2, sr, t), 1);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 1);
    expect_job(&l.items[0], "create", "fh", "fh-program-77", t, sr);
    lg_outbox_list_clear(&l);
}

Test(rest_forward, unrouted_owner_and_draft_add_nothing)
{
    char sr[64], t[64], sr2[64], t2[64];
    cr_assert_eq(open_referral("requested", UNROUTED, sr, t), 0);
    cr_assert_eq(job_count(), 0);
    /* A draft is not sent yet ... */
    cr_assert_eq(open_referral("draft", ROUTED, sr2, t2), 0);
    cr_assert_eq(job_count(), 0);
    /* ... it is when the requester sends it. */
    cr_assert_eq(put(&requester, "Task", t2, task(t2, sr2, "requested", ROUTED, ""), 200), 1);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 1);
    expect_job(&l.items[0], "create", "uu", "prog-123", t2, sr2);
    lg_outbox_list_clear(&l);
    /* Cancelling the unrouted one adds nothing either. */
    cr_assert_eq(put(&requester, "Task", t, task(t, sr, "cancelled", UNROUTED, REASON), 200), 0);
    cr_assert_eq(job_count(), 1);
}

Test(rest_forward, without_a_route_function_nothing_is_forwarded)
{
    char sr[64], t[64];
    rest.cfg.forward_route = NULL;
    cr_assert_eq(open_referral("requested", ROUTED, sr, t), 0);
    cr_assert_eq(job_count(), 0);
    cr_assert_eq(route_calls, 0);
}

Test(rest_forward, owner_changed_to_a_routed_owner)
{
    char sr[64], t[64];
    cr_assert_eq(open_referral("requested", UNROUTED, sr, t), 0);
    cr_assert_eq(put(&requester, "Task", t, task(t, sr, "requested", ROUTED, ""), 200), 1);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 1);
    expect_job(&l.items[0], "create", "uu", "prog-123", t, sr);
    lg_outbox_list_clear(&l);
    /* The same owner again (a PUT that changes something else) is no new
     * referral. */
    cr_assert_eq(put(&requester, "Task", t, task(t, sr, "requested", ROUTED,
                                                 ",\"description\":\"call after 5pm\""), 200), 0);
    cr_assert_eq(job_count(), 1);
    /* To another routed owner: withdrawn from the first platform, then
     * delivered to the second, in that order. */
    cr_assert_eq(put(&requester, "Task", t, task(t, sr, "requested", ROUTED2, ""), 200), 1);
    l = jobs();
    cr_assert_eq(l.count, 3);
    expect_job(&l.items[1], "cancel", "uu", "prog-123", t, sr);
    expect_job(&l.items[2], "create", "fh", "fh-program-77", t, sr);
    cr_assert_gt(l.items[1].id, l.items[0].id);
    cr_assert_gt(l.items[2].id, l.items[1].id);
    lg_outbox_list_clear(&l);
    /* Back to an owner served over FHIR: only the withdrawal. */
    cr_assert_eq(put(&requester, "Task", t, task(t, sr, "requested", UNROUTED, ""), 200), 1);
    l = jobs();
    cr_assert_eq(l.count, 4);
    expect_job(&l.items[3], "cancel", "fh", "fh-program-77", t, sr);
    lg_outbox_list_clear(&l);
}

Test(rest_forward, requester_cancel_adds_a_cancel_job)
{
    char sr[64], t[64];
    cr_assert_eq(open_referral("requested", ROUTED, sr, t), 1);
    cr_assert_eq(put(&owner, "Task", t, task(t, sr, "accepted", ROUTED, ""), 200), 0);
    cr_assert_eq(put(&requester, "Task", t, task(t, sr, "cancelled", ROUTED, REASON), 200), 1);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 2);
    expect_job(&l.items[0], "create", "uu", "prog-123", t, sr);
    expect_job(&l.items[1], "cancel", "uu", "prog-123", t, sr);
    lg_outbox_list_clear(&l);
}

Test(rest_forward, entered_in_error_adds_a_cancel_job)
{
    char sr[64], t[64];
    cr_assert_eq(open_referral("requested", ROUTED, sr, t), 1);
    cr_assert_eq(put(NULL, "Task", t, task(t, sr, "entered-in-error", ROUTED, REASON), 200), 1);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 2);
    expect_job(&l.items[1], "cancel", "uu", "prog-123", t, sr);
    lg_outbox_list_clear(&l);
}

Test(rest_forward, closed_referral_is_not_cancelled)
{
    char sr[64], t[64];
    cr_assert_eq(open_referral("requested", ROUTED, sr, t), 1);
    cr_assert_eq(put(&owner, "Task", t, task(t, sr, "rejected", ROUTED, REASON), 200), 0);
    /* The platform closed it already: nothing to cancel there. */
    cr_assert_eq(put(NULL, "Task", t, task(t, sr, "entered-in-error", ROUTED, REASON), 200), 0);
    cr_assert_eq(job_count(), 1);
}

Test(rest_forward, revoked_service_request_cancels_at_the_platform)
{
    char sr[64], t[64], sr2[64], t2[64];
    cr_assert_eq(open_referral("requested", ROUTED, sr, t), 1);
    cr_assert_eq(open_referral("requested", UNROUTED, sr2, t2), 0);
    cr_assert_eq(put(&requester, "ServiceRequest", sr, service_request(sr, "revoked"), 200), 1,
                 "the cascade's cancel job is reported on the ServiceRequest write");
    cr_assert_eq(put(&requester, "ServiceRequest", sr2, service_request(sr2, "revoked"), 200), 0);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 2);
    expect_job(&l.items[0], "create", "uu", "prog-123", t, sr);
    expect_job(&l.items[1], "cancel", "uu", "prog-123", t, sr);
    lg_outbox_list_clear(&l);
    /* The Task was cancelled by the cascade itself. */
    char path[96];
    snprintf(path, sizeof(path), "/Task/%s", t);
    reply r = call(NULL, "GET", path, NULL);
    cr_assert_str_eq(str_at(r.json, "status"), "cancelled");
    done(&r);
}

/* A transaction Bundle: ServiceRequest + routed Task (+ an extra entry). */
static char *txn(const char *extra_entry)
{
    char *sr = service_request("x", "active");
    char *t = task("x", "urn-placeholder", "requested", ROUTED, "");
    /* The Task's focus is the ServiceRequest's urn:uuid. */
    char *at = strstr(t, "ServiceRequest/urn-placeholder");
    cr_assert_not_null(at);
    char *t2 = fmt("%.*surn:uuid:7b3a1c52-0b9e-4b53-9d0f-1c2d3e4f5a6b%s", (int)(at - t), t,
                   at + strlen("ServiceRequest/urn-placeholder"));
    char *b = fmt("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
                  "{\"fullUrl\":\"urn:uuid:7b3a1c52-0b9e-4b53-9d0f-1c2d3e4f5a6b\",\"resource\":%s,"
                  "\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}},"
                  "{\"fullUrl\":\"urn:uuid:0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f\",\"resource\":%s,"
                  "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}%s]}",
                  sr, t2, extra_entry);
    free(sr);
    free(t);
    free(t2);
    return b;
}

Test(rest_forward, transaction_bundle_adds_the_job)
{
    char *b = txn("");
    reply r = call(&requester, "POST", "/", b);
    free(b);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert_eq(r.r.outbox_added, 1);
    done(&r);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 1);
    cr_assert_str_eq(l.items[0].kind, "create");
    cr_assert_str_eq(l.items[0].platform, "uu");
    /* The job names the stored ids, not the urn:uuids. */
    cr_assert_null(strstr(l.items[0].task_id, "urn"));
    cr_assert_not_null(l.items[0].referral_id);
    cr_assert_null(strstr(l.items[0].referral_id, "urn"));
    char path[128];
    snprintf(path, sizeof(path), "/Task/%s", l.items[0].task_id);
    reply t = call(NULL, "GET", path, NULL);
    cr_assert_eq(t.r.status, 200);
    done(&t);
    lg_outbox_list_clear(&l);
}

Test(rest_forward, failed_transaction_leaves_no_job)
{
    /* The last entry breaks the rule that a referral Task's focus is a
     * stored ServiceRequest (422): everything rolls back, the job too. */
    char *bad = task("x", "does-not-exist", "requested", ROUTED, "");
    char *extra = fmt(",{\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}", bad);
    free(bad);
    char *b = txn(extra);
    free(extra);
    reply r = call(&requester, "POST", "/", b);
    free(b);
    cr_assert_geq(r.r.status, 400, "%s", r.r.body);
    cr_assert_eq(r.r.outbox_added, 0);
    done(&r);
    cr_assert_eq(job_count(), 0);
    /* Nothing else was stored either. */
    reply s = call(NULL, "GET", "/Task", NULL);
    cr_assert_eq(s.r.status, 200);
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(s.json, "entry");
    cr_assert_eq(cJSON_GetArraySize(entries), 0, "%s", s.r.body);
    done(&s);
}

Test(rest_forward, failed_single_write_leaves_no_job)
{
    /* The Task fails profile-free validation after the route was asked
     * (an unknown element): nothing is stored, no job, no outbox_added. */
    char sr[64];
    post(&requester, "ServiceRequest", service_request("x", "active"), 201, sr);
    char *b = task("x", sr, "requested", ROUTED, ",\"notAnElement\":1");
    cr_assert_eq(post(&requester, "Task", b, 400, NULL), 0);
    cr_assert_eq(job_count(), 0);
}

Test(rest_forward, batch_entry_jobs_are_reported)
{
    char sr[64];
    post(&requester, "ServiceRequest", service_request("x", "active"), 201, sr);
    char *t = task("x", sr, "requested", ROUTED, "");
    char *bad = task("x", "does-not-exist", "requested", ROUTED, "");
    char *b = fmt("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":["
                  "{\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":\"Task\"}},"
                  "{\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}", t, bad);
    free(t);
    free(bad);
    reply r = call(&requester, "POST", "/", b);
    free(b);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert_eq(r.r.outbox_added, 1, "the first entry committed a job");
    done(&r);
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 1, "the failed entry added none");
    cr_assert_str_eq(l.items[0].referral_id, sr);
    lg_outbox_list_clear(&l);
}

/* DELETE /Task/id as a, expecting status (-1: any); returns outbox_added. */
static int del(const lg_actor *a, const char *id, int status)
{
    char path[128];
    snprintf(path, sizeof(path), "/Task/%s", id);
    reply r = call(a, "DELETE", path, NULL);
    cr_assert(status < 0 || r.r.status == status, "DELETE %s: %d (wanted %d) %s", path, r.r.status, status,
                 r.r.body ? r.r.body : "");
    int added = r.r.outbox_added;
    done(&r);
    return added;
}

Test(rest_forward, deleting_an_open_routed_task_adds_a_cancel_job)
{
    char sr[64], t[64];
    cr_assert_eq(open_referral("requested", ROUTED, sr, t), 1);
    cr_assert_eq(put(&owner, "Task", t, task(t, sr, "accepted", ROUTED, ""), 200), 0);
    /* The owner may not delete it: refused, and no job. */
    cr_assert_eq(del(&owner, t, 403), 0);
    cr_assert_eq(job_count(), 1);
    cr_assert_eq(del(&requester, t, 200), 1, "outbox_added on the delete");
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 2);
    expect_job(&l.items[0], "create", "uu", "prog-123", t, sr);
    expect_job(&l.items[1], "cancel", "uu", "prog-123", t, sr);
    lg_outbox_list_clear(&l);
    /* Deleting the tombstone again withdraws nothing more. */
    del(&requester, t, -1);
    cr_assert_eq(job_count(), 2);
}

Test(rest_forward, deleting_on_the_second_platform_cancels_there)
{
    char sr[64], t[64];
    cr_assert_eq(open_referral("requested", ROUTED2, sr, t), 1);
    cr_assert_eq(del(NULL, t, 200), 1, "the server itself deleting");
    lg_outbox_list l = jobs();
    cr_assert_eq(l.count, 2);
    expect_job(&l.items[1], "cancel", "fh", "fh-program-77", t, sr);
    lg_outbox_list_clear(&l);
}

Test(rest_forward, deleting_a_closed_or_unrouted_task_adds_nothing)
{
    char sr[64], t[64], sr2[64], t2[64], sr3[64], t3[64];
    /* Closed at the platform already (rejected by the owner). */
    cr_assert_eq(open_referral("requested", ROUTED, sr, t), 1);
    cr_assert_eq(put(&owner, "Task", t, task(t, sr, "rejected", ROUTED, REASON), 200), 0);
    cr_assert_eq(del(&requester, t, 200), 0);
    /* Served over FHIR. */
    cr_assert_eq(open_referral("requested", UNROUTED, sr2, t2), 0);
    cr_assert_eq(del(&requester, t2, 200), 0);
    /* Never sent (a draft). */
    cr_assert_eq(open_referral("draft", ROUTED, sr3, t3), 0);
    cr_assert_eq(del(&requester, t3, 200), 0);
    cr_assert_eq(job_count(), 1, "only the first referral's create");
}
