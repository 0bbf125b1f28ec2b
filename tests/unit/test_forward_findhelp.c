/* test_forward_findhelp.c - the "findhelp" adapter (docs/forwarding.md,
 * Style B): configuration, the program lookup step and its verdicts, the
 * exact create and cancel bodies, X-API-Key on every request, polling and
 * its event ids, every row of the status table. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "lg_test_forward.h"
#include "loopgate/time.h"

#define CONF "{\"name\":\"fh\",\"adapter\":\"findhelp\",\"base_url\":\"https://fh.example.org\",\"api_key\":\"k-123\",\"poll_seconds\":60}"

static lg_fwd_platform P;
static void *S;

static void setup(void)
{
    P = tf_platform("fh", &lg_fwd_findhelp, "https://fh.example.org");
    S = tf_configure(&lg_fwd_findhelp, &P, CONF);
}

static void teardown(void)
{
    lg_fwd_findhelp.free_state(S);
}

TestSuite(findhelp, .init = setup, .fini = teardown);

Test(findhelp, shape_of_a_polling_platform)
{
    cr_assert_eq(lg_fwd_adapter_find("findhelp"), &lg_fwd_findhelp);
    cr_assert_null(lg_fwd_findhelp.auth_request, "an API key needs no token");
    cr_assert_null(lg_fwd_findhelp.verify, "no webhooks");
    cr_assert_not_null(lg_fwd_findhelp.build_poll);
    cr_assert_not_null(lg_fwd_findhelp.parse_poll);
}

Test(findhelp, configure_requires_api_key_and_checks_poll_seconds)
{
    static const struct {
        const char *json;
        const char *loc;
    } bad[] = {
        { "{\"poll_seconds\":60}", "platforms.where(name='fh').api_key" },
        { "{\"api_key\":\"\"}", "platforms.where(name='fh').api_key" },
        { "{\"api_key\":\"k\",\"poll_seconds\":0}", "platforms.where(name='fh').poll_seconds" },
        { "{\"api_key\":\"k\",\"poll_seconds\":1.5}", "platforms.where(name='fh').poll_seconds" },
        { "{\"api_key\":\"k\",\"poll_seconds\":\"60\"}", "platforms.where(name='fh').poll_seconds" },
        { "{\"api_key\":\"k\",\"poll_seconds\":100000}", "platforms.where(name='fh').poll_seconds" },
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *o = cJSON_Parse(bad[i].json);
        lg_issues is = { 0 };
        void *st = NULL;
        cr_assert_eq(lg_fwd_findhelp.configure(&P, o, &st, &is), LG_EINVAL, "case %zu", i);
        cr_assert_null(st);
        cr_assert_eq(is.count, 1, "case %zu", i);
        cr_assert_str_eq(is.items[0].location, bad[i].loc, "case %zu", i);
        lg_issues_free(&is);
        cJSON_Delete(o);
    }
    void *st = tf_configure(&lg_fwd_findhelp, &P, "{\"api_key\":\"k\"}");
    cr_assert_not_null(st);
    lg_fwd_findhelp.free_state(st);
}

static lg_fwd_req build(lg_fwd_job *job, int step)
{
    lg_fwd_req r = { 0 };
    lg_issues is = { 0 };
    lg_status st = lg_fwd_findhelp.build(&P, S, job, step, &r, &is);
    cr_assert_eq(st, LG_OK, "build step %d: %s", step, is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
    cr_assert_str_eq(tf_header(&r, "X-API-Key"), "k-123");
    return r;
}

Test(findhelp, create_looks_the_program_up_first)
{
    lg_referral ref = tf_referral();
    lg_fwd_job job = tf_job("create", &ref, NULL);
    job.target = "fh program/77";
    lg_fwd_req r = build(&job, 0);
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(r.url, "https://fh.example.org/api/v2/programs/fh%20program%2F77");
    cr_assert_null(r.body);
    lg_fwd_req_clear(&r);
}

static lg_fwd_verdict parse(lg_fwd_job *job, int step, int status, const char *body, char **rid, char **err)
{
    lg_fwd_resp r = tf_resp(status, body);
    return lg_fwd_findhelp.parse(&P, S, job, step, &r, rid, err);
}

Test(findhelp, program_lookup_verdicts)
{
    lg_referral ref = tf_referral();
    lg_fwd_job job = tf_job("create", &ref, NULL);
    char *rid, *err;
    const char *live = "{\"id\":\"prog-123\",\"name\":\"Food\",\"active\":true,\"organization\":{\"id\":\"o\",\"name\":\"O\"}}";
    cr_assert_eq(parse(&job, 0, 200, live, &rid, &err), LG_FWD_NEXT);
    cr_assert_null(rid);
    cr_assert_null(err);
    cr_assert_eq(parse(&job, 0, 200, "{\"id\":\"prog-123\",\"active\":false}", &rid, &err), LG_FWD_FAIL);
    cr_assert(strstr(err, "not active") && strstr(err, "prog-123"), "%s", err);
    free(err);
    cr_assert_eq(parse(&job, 0, 404, "{\"message\":\"no such program\"}", &rid, &err), LG_FWD_FAIL);
    cr_assert(strstr(err, "not found") && strstr(err, "prog-123"), "%s", err);
    free(err);
    cr_assert_eq(parse(&job, 0, 200, "{\"id\":\"prog-123\"}", &rid, &err), LG_FWD_FAIL, "no active: unreadable");
    free(err);
    cr_assert_eq(parse(&job, 0, 503, "", &rid, &err), LG_FWD_RETRY);
    free(err);
    cr_assert_eq(parse(&job, 0, 0, NULL, &rid, &err), LG_FWD_RETRY);
    cr_assert(strstr(err, "Connection refused"), "%s", err);
    free(err);
    cr_assert_eq(parse(&job, 0, 401, "{\"message\":\"bad key\"}", &rid, &err), LG_FWD_FAIL, "an API key is not refreshed");
    cr_assert(strstr(err, "bad key"), "%s", err);
    free(err);
}

Test(findhelp, create_request_and_body)
{
    lg_referral ref = tf_referral();
    lg_child child = tf_child();
    lg_fwd_job job = tf_job("create", &ref, &child);
    lg_fwd_req r = build(&job, 1);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.url, "https://fh.example.org/api/v2/referrals");
    cr_assert_str_eq(tf_header(&r, "Idempotency-Key"), "lg-task-1-create-42");
    cr_assert_str_eq(tf_header(&r, "Content-Type"), "application/json");
    cr_assert_eq(r.body_len, strlen(r.body));
    cJSON *b = cJSON_Parse(r.body);
    cr_assert_not_null(b);
    cr_assert_str_eq(tf_str(b, "program_id"), "prog-123");
    cr_assert_str_eq(tf_str(b, "external_reference"), "Task/task-1");
    const cJSON *c = cJSON_GetObjectItem(b, "client");
    cr_assert_str_eq(tf_str(c, "first_name"), "Ana");
    cr_assert_str_eq(tf_str(c, "last_name"), "Rivera");
    cr_assert_str_eq(tf_str(c, "birth_date"), "2015-04-02");
    cr_assert_str_eq(tf_str(c, "language"), "es");
    cr_assert_str_eq(tf_str(c, "dialect"), "mexicano");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(c, "needs_interpreter")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(c, "contact_allowed")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c, "caregivers")), 1);
    cr_assert_str_eq(tf_str(b, "need"), "food-insecurity");
    cr_assert_str_eq(tf_str(b, "need_description"), "Food pantry, weekly box");
    cr_assert_str_eq(tf_str(b, "referring_organization"), "Eastside Clinic Inc.");
    cr_assert_str_eq(tf_str(b, "urgency"), "urgent");
    cr_assert_null(cJSON_GetObjectItem(b, "note"));
    cJSON_Delete(b);
    lg_fwd_req_clear(&r);
}

Test(findhelp, create_without_contact_details_when_prohibited)
{
    lg_referral ref = tf_referral();
    ref.contact_prohibited = true;
    ref.priority = LG_PRIORITY_UNSET;
    lg_child child = tf_child();
    lg_fwd_job job = tf_job("create", &ref, &child);
    job.referrer_name = NULL;
    lg_fwd_req r = build(&job, 1);
    cJSON *b = cJSON_Parse(r.body);
    const cJSON *c = cJSON_GetObjectItem(b, "client");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "contact_allowed")));
    cr_assert_null(cJSON_GetObjectItem(c, "caregivers"));
    cr_assert_null(strstr(r.body, "Maria"), "%s", r.body);
    cr_assert_null(cJSON_GetObjectItem(b, "urgency"), "unset priority is left out");
    /* without the job's name, the organization's display */
    cr_assert_str_eq(tf_str(b, "referring_organization"), "Eastside Clinic");
    cJSON_Delete(b);
    lg_fwd_req_clear(&r);
}

Test(findhelp, create_reply_verdicts)
{
    lg_referral ref = tf_referral();
    lg_fwd_job job = tf_job("create", &ref, NULL);
    char *rid, *err;
    cr_assert_eq(parse(&job, 1, 201, "{\"referral_id\":\"F-9\",\"state\":\"sent\"}", &rid, &err), LG_FWD_DONE);
    cr_assert_str_eq(rid, "F-9");
    free(rid);
    cr_assert_eq(parse(&job, 1, 200, "{\"referral_id\":\"F-9\",\"state\":\"sent\"}", &rid, &err), LG_FWD_DONE);
    free(rid);
    cr_assert_eq(parse(&job, 1, 201, "{\"id\":\"F-9\"}", &rid, &err), LG_FWD_FAIL);
    cr_assert_null(rid);
    cr_assert(strstr(err, "without a referral_id"), "%s", err);
    free(err);
    cr_assert_eq(parse(&job, 1, 422, "{\"message\":\"birth_date is required\"}", &rid, &err), LG_FWD_FAIL);
    cr_assert(strstr(err, "HTTP 422") && strstr(err, "birth_date is required"), "%s", err);
    free(err);
    cr_assert_eq(parse(&job, 1, 429, "{}", &rid, &err), LG_FWD_RETRY);
    free(err);
    cr_assert_eq(parse(&job, 1, 408, "{}", &rid, &err), LG_FWD_RETRY);
    free(err);
    /* step 1 has no program semantics: a 404 is an ordinary failure */
    cr_assert_eq(parse(&job, 1, 404, "{}", &rid, &err), LG_FWD_FAIL);
    cr_assert_null(strstr(err, "program"));
    free(err);
}

Test(findhelp, cancel_request_body_and_verdicts)
{
    lg_referral ref = tf_referral();
    lg_fwd_job job = tf_job("cancel", &ref, NULL);
    job.remote_id = "F-9";
    lg_fwd_req r = build(&job, 0);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.url, "https://fh.example.org/api/v2/referrals/F-9/cancellation");
    cr_assert_str_eq(tf_header(&r, "Idempotency-Key"), "lg-task-1-cancel-43");
    cJSON *b = cJSON_Parse(r.body);
    cr_assert_str_eq(tf_str(b, "reason"), "family moved away");
    cr_assert_eq(cJSON_GetArraySize(b), 1);
    cJSON_Delete(b);
    lg_fwd_req_clear(&r);
    char *rid, *err;
    cr_assert_eq(parse(&job, 0, 200, "{}", &rid, &err), LG_FWD_DONE);
    cr_assert_eq(parse(&job, 0, 500, "{}", &rid, &err), LG_FWD_RETRY);
    free(err);
    lg_issues is = { 0 };
    cr_assert_neq(lg_fwd_findhelp.build(&P, S, &job, 1, &r, &is), LG_OK, "a cancel is one step");
    job.remote_id = NULL;
    cr_assert_eq(lg_fwd_findhelp.build(&P, S, &job, 0, &r, &is), LG_EINVAL);
    cr_assert_null(r.url);
    lg_issues_free(&is);
}

Test(findhelp, create_refuses_a_job_without_target)
{
    lg_referral ref = tf_referral();
    lg_fwd_job job = tf_job("create", &ref, NULL);
    job.target = "";
    lg_fwd_req r = { 0 };
    lg_issues is = { 0 };
    cr_assert_eq(lg_fwd_findhelp.build(&P, S, &job, 0, &r, &is), LG_EINVAL);
    cr_assert_eq(lg_fwd_findhelp.build(&P, S, &job, 1, &r, &is), LG_EINVAL);
    cr_assert_geq(is.count, 2);
    cr_assert_null(r.url);
    lg_issues_free(&is);
}

/* ------------------------------------------------------------ polling */

Test(findhelp, poll_request)
{
    lg_fwd_req r = { 0 };
    cr_assert_eq(lg_fwd_findhelp.build_poll(&P, S, "F-9", &r), LG_OK);
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(r.url, "https://fh.example.org/api/v2/referrals/F-9");
    cr_assert_str_eq(tf_header(&r, "X-API-Key"), "k-123");
    cr_assert_null(r.body);
    lg_fwd_req_clear(&r);
    cr_assert_eq(lg_fwd_findhelp.build_poll(&P, S, "", &r), LG_EINVAL);
    cr_assert_null(r.url);
}

static lg_status poll(int status, const char *body, lg_fwd_event *e)
{
    lg_fwd_resp r = tf_resp(status, body);
    return lg_fwd_findhelp.parse_poll(&P, S, "F-9", &r, e);
}

Test(findhelp, poll_reply_becomes_an_event)
{
    lg_fwd_event e = { 0 };
    const char *body = "{\"referral_id\":\"F-9\",\"state\":\"closed_not_served\","
                       "\"state_changed_at\":\"2026-11-30T21:15:00Z\",\"state_reason\":\"unable to reach family\","
                       "\"outcome\":\"3 calls\"}";
    cr_assert_eq(poll(200, body, &e), LG_OK);
    cr_assert_str_eq(e.event_id, "F-9:closed_not_served:2026-11-30T21:15:00Z");
    cr_assert_str_eq(e.remote_id, "F-9");
    cr_assert_null(e.task_id);
    cr_assert_str_eq(e.platform_status, "closed_not_served");
    cr_assert_eq(e.status, LG_TASK_FAILED);
    cr_assert_str_eq(e.reason, "unable to reach family");
    cr_assert_str_eq(e.outcome, "3 calls");
    int64_t lo, hi;
    lg_time_parse_range("2026-11-30T21:15:00Z", &lo, &hi);
    cr_assert_eq(e.occurred_ms, lo);
    lg_fwd_event_clear(&e);
}

Test(findhelp, poll_status_table_every_row)
{
    static const struct {
        const char *platform;
        lg_task_status want;
    } rows[] = {
        { "pending", LG_TASK_RECEIVED },        { "sent", LG_TASK_RECEIVED },
        { "viewed", LG_TASK_RECEIVED },         { "accepted", LG_TASK_ACCEPTED },
        { "in_progress", LG_TASK_IN_PROGRESS }, { "working", LG_TASK_IN_PROGRESS },
        { "on_hold", LG_TASK_ON_HOLD },         { "declined", LG_TASK_REJECTED },
        { "completed", LG_TASK_COMPLETED },     { "closed_served", LG_TASK_COMPLETED },
        { "not_served", LG_TASK_FAILED },       { "closed_not_served", LG_TASK_FAILED },
        { "cancelled", LG_TASK_CANCELLED },
    };
    for(size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char body[256], want[128];
        snprintf(body, sizeof body, "{\"referral_id\":\"F-9\",\"state\":\"%s\",\"state_changed_at\":\"2026-12-01T08:00:00Z\"}",
                 rows[i].platform);
        lg_fwd_event e = { 0 };
        cr_assert_eq(poll(200, body, &e), LG_OK, "%s", rows[i].platform);
        cr_assert_eq(e.status, rows[i].want, "%s", rows[i].platform);
        snprintf(want, sizeof want, "F-9:%s:2026-12-01T08:00:00Z", rows[i].platform);
        cr_assert_str_eq(e.event_id, want);
        lg_fwd_event_clear(&e);
    }
}

Test(findhelp, poll_failures)
{
    lg_fwd_event e = { 0 };
    cr_assert_eq(poll(0, NULL, &e), LG_EIO);
    cr_assert_eq(poll(503, "busy", &e), LG_EIO);
    cr_assert_eq(poll(429, "{}", &e), LG_EIO);
    cr_assert_eq(poll(408, "{}", &e), LG_EIO);
    cr_assert_eq(poll(404, "{}", &e), LG_ENOTFOUND);
    cr_assert_eq(poll(401, "{}", &e), LG_EFORBIDDEN);
    cr_assert_eq(poll(400, "{}", &e), LG_EINVAL);
    static const char *const bad[] = {
        "nope",
        "{\"referral_id\":\"F-9\",\"state_changed_at\":\"2026-12-01T08:00:00Z\"}",
        "{\"referral_id\":\"F-9\",\"state\":\"sent\"}",
        "{\"referral_id\":\"F-9\",\"state\":\"sent\",\"state_changed_at\":\"soon\"}",
        "{\"referral_id\":\"F-9\",\"state\":\"open\",\"state_changed_at\":\"2026-12-01T08:00:00Z\"}",
        /* about another referral */
        "{\"referral_id\":\"F-10\",\"state\":\"sent\",\"state_changed_at\":\"2026-12-01T08:00:00Z\"}",
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(poll(200, bad[i], &e), LG_EINVAL, "case %zu", i);
        cr_assert_null(e.event_id);
        cr_assert_null(e.platform_status);
    }
    /* without referral_id the one polled for is meant */
    cr_assert_eq(poll(200, "{\"state\":\"accepted\",\"state_changed_at\":\"2026-12-01T08:00:00Z\"}", &e), LG_OK);
    cr_assert_str_eq(e.event_id, "F-9:accepted:2026-12-01T08:00:00Z");
    lg_fwd_event_clear(&e);
}
