/* The inbound hooks of src/http/forward_hooks.c (issue #5) against a real
 * store and REST layer: a platform's status moves the Task as its owner
 * would (the owner-side state machine applies: an illegal transition or a
 * requester-only one is refused and the Task unchanged), a completion
 * creates the Procedure the SDOHCC resulting-activity output must
 * reference, rejections carry a statusReason, every change is a new
 * version; the business status is the server's note beside the status;
 * and the route wrapper answers what the REST layer asks. */
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
#include "lg_test.h"
#include "lg_test_rest.h"
#include "http/forward_hooks.h"

static lg_fwd_glue glue;
static lg_fwd_hooks hooks;

static void hooks_setup(void)
{
    setup();
    lg_fwd_glue_init(&glue, defs, &rest.cfg, "http://test");
    lg_fwd_glue_hooks(&glue, &hooks);
}

TestSuite(forward_hooks, .init = hooks_setup, .fini = teardown);

static const char *const clinic_refs[] = {"Organization/clinic-1"};
static const lg_actor requester = {LG_ROLE_REFERRAL_SOURCE, clinic_refs, 1};

#define SDOHCC "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

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

static cJSON *call(const lg_actor *a, const char *method, const char *path, char *body, int status)
{
    lg_rest_response r = {0};
    lg_rest_request req = {
        .method = method, .path = path, .base = "http://test",
        .content_type = body ? "application/fhir+json" : NULL,
        .body = body, .body_len = body ? strlen(body) : 0, .actor = a,
        .client_id = a ? "clinic-client" : NULL,
    };
    cr_assert_eq(lg_rest_handle(&rest, store, &req, &r), LG_OK);
    cr_assert_eq(r.status, status, "%s %s: %d %s", method, path, r.status, r.body ? r.body : "");
    cJSON *j = r.body ? cJSON_ParseWithLength(r.body, r.body_len) : NULL;
    lg_rest_response_clear(&r);
    free(body);
    return j;
}

static const char *str_at(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A referral (ServiceRequest + requested Task owned by cbo-17) by the
 * clinic; the Task id into t (64 bytes), the ServiceRequest's into sr. */
static void open_referral(char *sr, char *t)
{
    cJSON *j = call(&requester, "POST", "/ServiceRequest",
                    fmt("{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\","
                        "\"category\":[{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"food-insecurity\"}]}],"
                        "\"code\":{\"text\":\"Food pantry enrolment\"},\"subject\":{\"reference\":\"Patient/p1\"},"
                        "\"requester\":{\"reference\":\"Organization/clinic-1\"}}"),
                    201);
    snprintf(sr, 64, "%s", str_at(j, "id"));
    cJSON_Delete(j);
    j = call(&requester, "POST", "/Task",
             fmt("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
                 "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
                 "\"code\":\"fulfill\"}]},\"focus\":{\"reference\":\"ServiceRequest/%s\"},"
                 "\"for\":{\"reference\":\"Patient/p1\"},\"authoredOn\":\"2026-10-01T10:00:00Z\","
                 "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
                 "\"owner\":{\"reference\":\"Organization/cbo-17\"}}", sr),
             201);
    snprintf(t, 64, "%s", str_at(j, "id"));
    cJSON_Delete(j);
}

static cJSON *read_task(const char *t)
{
    char path[96];
    snprintf(path, sizeof(path), "/Task/%s", t);
    return call(NULL, "GET", path, NULL, 200);
}

static const char *version_of(const cJSON *res)
{
    return str_at(cJSON_GetObjectItemCaseSensitive(res, "meta"), "versionId");
}

/* The business status hook, then the flush its contract leaves to the
 * caller (forward.h: the write may be committed but not yet flushed). */
static int business(const char *t, const char *code, const char *text, char *msg)
{
    int http = hooks.set_business_status(hooks.ctx, store, t, code, text, msg, 256);
    cr_assert_eq(lg_store_begin(store), LG_OK);
    cr_assert_eq(lg_store_commit(store), LG_OK);
    return http;
}

static int apply(const char *t, lg_task_status s, const char *reason, const char *outcome, char *msg)
{
    return hooks.apply_status(hooks.ctx, store, t, s, reason, outcome, msg, 256);
}

Test(forward_hooks, accepted_then_completed_with_a_procedure)
{
    char sr[64], t[64], msg[256];
    open_referral(sr, t);
    cr_assert_eq(apply(t, LG_TASK_ACCEPTED, NULL, NULL, msg), 200, "%s", msg);
    cJSON *task = read_task(t);
    cr_assert_str_eq(str_at(task, "status"), "accepted");
    cr_assert_str_eq(version_of(task), "2");
    cJSON_Delete(task);

    cr_assert_eq(apply(t, LG_TASK_IN_PROGRESS, NULL, NULL, msg), 200, "%s", msg);
    cr_assert_eq(apply(t, LG_TASK_COMPLETED, NULL, "Enrolled in the Tuesday pantry", msg), 200, "%s", msg);
    task = read_task(t);
    cr_assert_str_eq(str_at(task, "status"), "completed");
    /* The resulting activity is a Reference to a stored Procedure. */
    const cJSON *out = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(task, "output"), 0);
    const char *ref = str_at(cJSON_GetObjectItemCaseSensitive(out, "valueReference"), "reference");
    cr_assert_not_null(ref, "output: %s", cJSON_PrintUnformatted(task));
    cr_assert_eq(strncmp(ref, "Procedure/", 10), 0, "%s", ref);
    char path[128];
    snprintf(path, sizeof(path), "/%s", ref);
    cJSON *proc = call(NULL, "GET", path, NULL, 200);
    cr_assert_str_eq(str_at(proc, "status"), "completed");
    cr_assert_str_eq(str_at(cJSON_GetObjectItemCaseSensitive(proc, "code"), "text"),
                     "Enrolled in the Tuesday pantry");
    cr_assert_str_eq(str_at(cJSON_GetObjectItemCaseSensitive(proc, "subject"), "reference"), "Patient/p1");
    char focus[96];
    snprintf(focus, sizeof(focus), "ServiceRequest/%s", sr);
    cr_assert_str_eq(str_at(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(proc, "basedOn"), 0),
                            "reference"), focus);
    cJSON_Delete(proc);
    cJSON_Delete(task);
}

Test(forward_hooks, completion_without_outcome_says_service_provided)
{
    char sr[64], t[64], msg[256];
    open_referral(sr, t);
    cr_assert_eq(apply(t, LG_TASK_ACCEPTED, NULL, NULL, msg), 200, "%s", msg);
    cr_assert_eq(apply(t, LG_TASK_COMPLETED, NULL, NULL, msg), 200, "%s", msg);
    cJSON *task = read_task(t);
    const cJSON *out = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(task, "output"), 0);
    char path[128];
    snprintf(path, sizeof(path), "/%s", str_at(cJSON_GetObjectItemCaseSensitive(out, "valueReference"), "reference"));
    cJSON *proc = call(NULL, "GET", path, NULL, 200);
    cr_assert_str_eq(str_at(cJSON_GetObjectItemCaseSensitive(proc, "code"), "text"), "Service provided");
    cJSON_Delete(proc);
    cJSON_Delete(task);
}

Test(forward_hooks, refused_completion_leaves_no_procedure)
{
    char sr[64], t[64], msg[256];
    open_referral(sr, t);
    /* requested -> completed is no edge of the machine. */
    cr_assert_eq(apply(t, LG_TASK_COMPLETED, NULL, "x", msg), 409, "%s", msg);
    cr_assert(strstr(msg, "requested") && strstr(msg, "completed"), "%s", msg);
    cJSON *s = call(NULL, "GET", "/Procedure", NULL, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "entry")), 0, "the Bundle rolled back");
    cJSON_Delete(s);
    cJSON *task = read_task(t);
    cr_assert_str_eq(str_at(task, "status"), "requested");
    cr_assert_str_eq(version_of(task), "1");
    cJSON_Delete(task);
}

Test(forward_hooks, rejection_carries_the_reason)
{
    char sr[64], t[64], msg[256];
    open_referral(sr, t);
    cr_assert_eq(apply(t, LG_TASK_REJECTED, "program is full", NULL, msg), 200, "%s", msg);
    cJSON *task = read_task(t);
    cr_assert_str_eq(str_at(task, "status"), "rejected");
    cr_assert_str_eq(str_at(cJSON_GetObjectItemCaseSensitive(task, "statusReason"), "text"), "program is full");
    cJSON_Delete(task);
}

Test(forward_hooks, failure_without_a_reason_still_closes_the_loop)
{
    char sr[64], t[64], msg[256];
    open_referral(sr, t);
    cr_assert_eq(apply(t, LG_TASK_ACCEPTED, NULL, NULL, msg), 200, "%s", msg);
    cr_assert_eq(apply(t, LG_TASK_FAILED, NULL, NULL, msg), 200, "%s", msg);
    cJSON *task = read_task(t);
    cr_assert_str_eq(str_at(task, "status"), "failed");
    cr_assert_not_null(str_at(cJSON_GetObjectItemCaseSensitive(task, "statusReason"), "text"));
    cJSON_Delete(task);
}

Test(forward_hooks, owner_side_rules_apply)
{
    char sr[64], t[64], msg[256];
    open_referral(sr, t);
    /* Cancelling is the requester's transition, not the owner's: 403. */
    cr_assert_eq(apply(t, LG_TASK_CANCELLED, "platform says cancelled", NULL, msg), 403, "%s", msg);
    cJSON *task = read_task(t);
    cr_assert_str_eq(str_at(task, "status"), "requested");
    cJSON_Delete(task);
    cr_assert_eq(apply("no-such-task", LG_TASK_ACCEPTED, NULL, NULL, msg), 404, "%s", msg);
}

Test(forward_hooks, business_status_is_set_beside_the_status)
{
    char sr[64], t[64], msg[256];
    open_referral(sr, t);
    cr_assert_eq(business(t, "delivered", "sent to uu as R-17", msg), 200, "%s", msg);
    cJSON *task = read_task(t);
    cr_assert_str_eq(str_at(task, "status"), "requested", "the status is unchanged");
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(task, "businessStatus");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bs, "coding"), 0);
    cr_assert_str_eq(str_at(c, "system"), "https://loopgate.example.org/fhir/CodeSystem/forwarding-status");
    cr_assert_str_eq(str_at(c, "code"), "delivered");
    cr_assert_str_eq(str_at(bs, "text"), "sent to uu as R-17");
    cr_assert_str_eq(version_of(task), "2");
    cJSON_Delete(task);
    /* Replaced, not appended, by the next one. */
    cr_assert_eq(business(t, "delivery-failed", "HTTP 400", msg), 200, "%s", msg);
    task = read_task(t);
    bs = cJSON_GetObjectItemCaseSensitive(task, "businessStatus");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(bs, "coding")), 1);
    cr_assert_str_eq(str_at(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bs, "coding"), 0), "code"),
                     "delivery-failed");
    /* The same note again makes no new version. */
    cr_assert_eq(business(t, "delivery-failed", "HTTP 400", msg), 200, "%s", msg);
    cJSON *again = read_task(t);
    cr_assert_str_eq(version_of(again), version_of(task));
    cJSON_Delete(again);
    cJSON_Delete(task);
    cr_assert_eq(business("nope", "delivered", NULL, msg), 404);
}

Test(forward_hooks, hooks_never_defer_their_flush)
{
    /* The caller records the event as applied right after the hook: the
     * hook's write must be on disk first, whatever the server defers. */
    cr_assert_eq(glue.rest.cfg.defer_sync, 0);
    rest.cfg.defer_sync = 1;
    lg_fwd_glue_init(&glue, defs, &rest.cfg, NULL);
    cr_assert_eq(glue.rest.cfg.defer_sync, 0);
    /* Only the business status leaves its flush to the forwarder. */
    cr_assert_eq(glue.rest_deferred.cfg.defer_sync, 1);
    cr_assert_str_eq(glue.base, "http://localhost");
    cr_assert_null(lg_fwd_glue_forwarder(&glue));
}

Test(forward_hooks, route_wrapper_answers_from_the_configuration)
{
    char path[64];
    snprintf(path, sizeof(path), "%s/forwarding.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"platforms\":[{\"name\":\"uu\",\"adapter\":\"uniteus\",\"base_url\":\"https://api.example.org\","
          "\"token_url\":\"https://auth.example.org/oauth2/token\",\"client_id\":\"lg\","
          "\"client_secret\":\"s\",\"webhook_secret\":\"w\"}],"
          "\"routes\":[{\"owner\":\"Organization/cbo-17\",\"platform\":\"uu\",\"target\":\"prog-123\"}]}", f);
    cr_assert_eq(fclose(f), 0);
    lg_fwd_config *c = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_fwd_config_load(path, &c, &is), LG_OK, "%s", is.count ? is.items[0].diagnostics : "");
    const char *platform = NULL, *target = NULL;
    cr_assert_eq(lg_fwd_glue_route(c, "Organization/cbo-17", &platform, &target), 1);
    cr_assert_str_eq(platform, "uu");
    cr_assert_str_eq(target, "prog-123");
    cr_assert_eq(lg_fwd_glue_route(c, "Organization/cbo-99", &platform, &target), 0);
    cr_assert_eq(lg_fwd_glue_route(NULL, "Organization/cbo-17", &platform, &target), 0);

    /* Wired into the REST layer as the server wires it, a routed referral
     * gets its job. */
    rest.cfg.forward_route = lg_fwd_glue_route;
    rest.cfg.forward_ctx = c;
    char sr[64], t[64];
    open_referral(sr, t);
    lg_outbox_list l = {0};
    cr_assert_eq(lg_store_outbox_list(store, -1, NULL, 0, 10, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_str_eq(l.items[0].task_id, t);
    cr_assert_str_eq(l.items[0].target, "prog-123");
    lg_outbox_list_clear(&l);
    rest.cfg.forward_route = NULL;
    lg_fwd_config_free(c);
    lg_issues_free(&is);
}

Test(forward_hooks, business_status_after_an_unflushed_client_write)
{
    /* A client's write committed into the store's open batch (defer_sync,
     * not yet flushed) is invisible to this handle's reads outside a
     * transaction, so the hook's first PUT meets 412; it must flush and
     * re-read rather than fail three times on the same old version. */
    char sr[64], t[64], msg[256];
    open_referral(sr, t);
    cJSON *task = read_task(t);
    cr_assert_not_null(task);
    cJSON_DeleteItemFromObjectCaseSensitive(task, "note");
    cJSON_AddItemToObject(task, "note", cJSON_CreateArray());
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "text", "called the patient");
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(task, "note"), n);
    char *body = cJSON_PrintUnformatted(task);
    cJSON_Delete(task);
    lg_rest deferred = rest;
    deferred.cfg.defer_sync = 1;
    lg_rest_response r = {0};
    char path[96];
    snprintf(path, sizeof(path), "/Task/%s", t);
    lg_rest_request req = {
        .method = "PUT", .path = path, .base = "http://test", .content_type = "application/fhir+json",
        .body = body, .body_len = strlen(body), .actor = &requester, .client_id = "clinic-client",
    };
    cr_assert_eq(lg_rest_handle(&deferred, store, &req, &r), LG_OK);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body ? r.body : "");
    cr_assert_gt(r.durable_ticket, 0);
    lg_rest_response_clear(&r);
    free(body);
    cr_assert_eq(business(t, "delivered", "sent", msg), 200, "%s", msg);
    task = read_task(t);
    cr_assert_str_eq(version_of(task), "3", "the client's version, then the business status");
    cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(task, "note"), "the client's note is kept");
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(task, "businessStatus");
    cr_assert_str_eq(str_at(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bs, "coding"), 0), "code"),
                     "delivered");
    cJSON_Delete(task);
}
