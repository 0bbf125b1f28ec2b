/* test_forward.c - forwarding end to end (issue #5): the real `loopgate
 * serve` with a DATA/forwarding.json pointing at the real directory
 * simulator (lg_dirsim) on loopback. A referral transaction Bundle whose
 * Task is owned by a routed organization is delivered exactly once in
 * effect through 500s, 429 + Retry-After, refused connections, a response
 * lost after the platform committed, and a kill -9 of the gateway; statuses
 * come back by webhook (Style A) and by polling (Style B) and move the Task;
 * dead jobs are visible and replayable; HealthcareService searches are
 * answered from the HSDS directory; a Task nobody routes stays local.
 *
 * Waiting: delivery is asynchronous, so each check polls (WAIT_UNTIL) with
 * a generous limit - the sanitizer build is several times slower. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/lg_it.h"
#include "support/lg_sim.h"

#define SDOHCC "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
#define FWD_CS "https://loopgate.example.org/fhir/CodeSystem/forwarding-status"
#define WEBHOOK_SECRET "whsec-it-5f2c"
#define WAIT_MS 20000

/* Poll cond every 50 ms until it holds or ms pass; its last value. */
#define WAIT_UNTIL(cond, ms)                                                                       \
    ({                                                                                             \
        long long wait_end_ = lg_now_ms() + (ms);                                                  \
        int wait_ok_;                                                                              \
        while(!(wait_ok_ = (cond)) && lg_now_ms() < wait_end_)                                     \
            usleep(50000);                                                                         \
        wait_ok_;                                                                                  \
    })

static lg_server S;
static lg_sim SIM;

/* forwarding.json for the simulator: Style A (uu) for Organization/cbo-uu,
 * Style B (fh) for Organization/cbo-fh and, to a program the platform has
 * closed, Organization/cbo-fh-closed; HSDS (dir) as the directory.
 * timeout_ms: per request. Caller frees. */
static char *forwarding_json(int timeout_ms, int max_backoff_ms)
{
    return lg_fmt(
        "{\"platforms\":["
        "{\"name\":\"uu\",\"adapter\":\"uniteus\",\"base_url\":\"%s\","
        "\"token_url\":\"%s/oauth2/token\",\"client_id\":\"loopgate\","
        "\"client_secret\":\"sim-secret\",\"webhook_secret\":\"" WEBHOOK_SECRET "\","
        "\"max_attempts\":8,\"backoff_ms\":50,\"max_backoff_ms\":%d,\"timeout_ms\":%d,"
        "\"concurrency\":4,\"verify_tls\":false},"
        "{\"name\":\"fh\",\"adapter\":\"findhelp\",\"base_url\":\"%s\",\"api_key\":\"sim-api-key\","
        "\"poll_seconds\":1,\"backoff_ms\":50,\"max_backoff_ms\":%d,\"timeout_ms\":%d},"
        "{\"name\":\"dir\",\"adapter\":\"hsds\",\"base_url\":\"%s\",\"timeout_ms\":%d}],"
        "\"routes\":["
        "{\"owner\":\"Organization/cbo-uu\",\"platform\":\"uu\",\"target\":\"prog-123\"},"
        "{\"owner\":\"Organization/cbo-fh\",\"platform\":\"fh\",\"target\":\"fh-program-77\"},"
        "{\"owner\":\"Organization/cbo-fh-closed\",\"platform\":\"fh\","
        "\"target\":\"fh-program-closed\"}],"
        "\"directory\":\"dir\"}",
        SIM.base, SIM.base, max_backoff_ms, timeout_ms, SIM.base, max_backoff_ms, timeout_ms,
        SIM.base, timeout_ms);
}

static void start_both(int timeout_ms, int max_backoff_ms)
{
    lg_sim_start(&SIM, NULL);
    char *cfg = forwarding_json(timeout_ms, max_backoff_ms);
    const char *files[] = {"forwarding.json", cfg, NULL};
    lg_it_start_files(&S, NULL, files);
    free(cfg);
    char *c = lg_fmt("{\"webhook_url\":\"%s/forward/uu/events\",\"webhook_secret\":\"" WEBHOOK_SECRET
                     "\"}",
                     S.base);
    lg_sim_control(&SIM, "/_control/config", c);
    free(c);
    const char *orgs[][2] = {{"clinic-1", "Sunrise Pediatrics"},
                             {"cbo-uu", "Valley Food Bank"},
                             {"cbo-fh", "Eastside Legal Aid"},
                             {"cbo-local", "Westside Family Center"},
                             {"cbo-fh-closed", "Northgate Tenant Clinic"}};
    for(size_t i = 0; i < sizeof(orgs) / sizeof(*orgs); i++) {
        char *o = lg_fmt("{\"resourceType\":\"Organization\",\"id\":\"%s\",\"name\":\"%s\"}",
                         orgs[i][0], orgs[i][1]);
        lg_put(&S, "Organization", orgs[i][0], o);
        free(o);
    }
}

static void up(void)
{
    start_both(3000, 2000);
}

static void down(void)
{
    lg_it_cleanup(&S);
    lg_sim_stop(&SIM);
}

TestSuite(forward, .init = up, .fini = down, .timeout = 180);

/* ------------------------------------------------------------ helpers */

typedef struct referral {
    char *patient, *sr, *task; /* ids */
    char ext[96];              /* "Task/{id}" */
} referral;

static char *id_of_location(const char *loc, const char *type)
{
    cr_assert_not_null(loc);
    const char *p = strstr(loc, type);
    cr_assert_not_null(p, "location %s", loc);
    p += strlen(type) + 1;
    size_t n = strcspn(p, "/");
    return lg_fmt("%.*s", (int)n, p);
}

/* Patient + ServiceRequest + Task (owner Organization/{cbo}) in one
 * transaction, as an EHR sends it. */
static referral send_referral(const char *mrn, const char *category, const char *cbo)
{
    char *b = lg_fmt(
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:3c1d0f4e-0000-4000-8000-000000000001\",\"resource\":"
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\",\"value\":\"%s\"}],"
        "\"name\":[{\"family\":\"Lopez\",\"given\":[\"Ana\"]}],\"birthDate\":\"2016-04-02\"},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"fullUrl\":\"urn:uuid:3c1d0f4e-0000-4000-8000-000000000002\",\"resource\":"
        "{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\","
        "\"category\":[{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"%s\"}]}],"
        "\"code\":{\"text\":\"Community resource referral\"},"
        "\"subject\":{\"reference\":\"urn:uuid:3c1d0f4e-0000-4000-8000-000000000001\"},"
        "\"authoredOn\":\"2026-11-02T09:00:00Z\","
        "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
        "\"performer\":[{\"reference\":\"Organization/%s\"}]},"
        "\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}},"
        "{\"fullUrl\":\"urn:uuid:3c1d0f4e-0000-4000-8000-000000000003\",\"resource\":"
        "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
        "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
        "\"code\":\"fulfill\"}]},"
        "\"focus\":{\"reference\":\"urn:uuid:3c1d0f4e-0000-4000-8000-000000000002\"},"
        "\"for\":{\"reference\":\"urn:uuid:3c1d0f4e-0000-4000-8000-000000000001\"},"
        "\"authoredOn\":\"2026-11-02T09:00:00Z\","
        "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
        "\"owner\":{\"reference\":\"Organization/%s\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Task\"}}]}",
        mrn, category, cbo, cbo);
    lg_resp r = lg_http_json(&S, "POST", "/", b);
    free(b);
    cr_assert_eq(r.status, 200, "transaction: %ld %s", r.status, r.body);
    referral out;
    out.patient = id_of_location(lg_at_str(r.json, "entry.0.response.location"), "Patient");
    out.sr = id_of_location(lg_at_str(r.json, "entry.1.response.location"), "ServiceRequest");
    out.task = id_of_location(lg_at_str(r.json, "entry.2.response.location"), "Task");
    snprintf(out.ext, sizeof(out.ext), "Task/%s", out.task);
    lg_resp_free(&r);
    return out;
}

static void referral_free(referral *f)
{
    free(f->patient);
    free(f->sr);
    free(f->task);
}

/* The stored Task (caller deletes). */
static cJSON *get_task(const referral *f)
{
    lg_resp r = lg_getf(&S, "/Task/%s", f->task);
    cr_assert_eq(r.status, 200, "GET Task/%s: %ld %s", f->task, r.status, r.body);
    cJSON *t = r.json;
    r.json = NULL;
    lg_resp_free(&r);
    return t;
}

/* 1 when the Task's status is status. */
static int task_is(const referral *f, const char *status)
{
    cJSON *t = get_task(f);
    const char *s = lg_str(t, "status");
    int ok = s && strcmp(s, status) == 0;
    cJSON_Delete(t);
    return ok;
}

/* 1 when Task.businessStatus carries code in the forwarding code system. */
static int business_is(const referral *f, const char *code)
{
    cJSON *t = get_task(f);
    const cJSON *c;
    int ok = 0;
    cJSON_ArrayForEach(c, lg_at(t, "businessStatus.coding")) {
        const char *sys = lg_str(c, "system"), *cd = lg_str(c, "code");
        ok |= sys && cd && strcmp(sys, FWD_CS) == 0 && strcmp(cd, code) == 0;
    }
    cJSON_Delete(t);
    return ok;
}

static int versions(const referral *f)
{
    lg_resp r = lg_getf(&S, "/Task/%s/_history?_count=500", f->task);
    cr_assert_eq(r.status, 200, "%s", r.body);
    int n = lg_total(r.json);
    if(n < 0)
        n = lg_entries(r.json);
    lg_resp_free(&r);
    return n;
}

/* The outbox jobs of the Task in state ("pending", "done", "dead", or NULL
 * for any) through GET /$outbox; *job_id (if not NULL) the last one's id. */
static int jobs_of(const referral *f, const char *state, long long *job_id)
{
    lg_resp r = state ? lg_getf(&S, "/$outbox?state=%s&_count=100", state)
                      : lg_getf(&S, "/$outbox?_count=100");
    cr_assert_eq(r.status, 200, "GET /$outbox: %ld %s", r.status, r.body);
    const cJSON *j;
    int n = 0;
    cJSON_ArrayForEach(j, cJSON_GetObjectItem(r.json, "jobs")) {
        const char *t = lg_str(j, "task_id");
        if(t && strcmp(t, f->task) == 0) {
            n++;
            const cJSON *id = cJSON_GetObjectItem(j, "id");
            if(job_id && cJSON_IsNumber(id))
                *job_id = (long long)id->valuedouble;
        }
    }
    lg_resp_free(&r);
    return n;
}

/* The referral the simulator holds for f, exactly one (caller deletes). */
static cJSON *the_one_referral(const referral *f)
{
    cJSON *x = NULL;
    int n = lg_sim_referrals_for(&SIM, f->ext, &x);
    cr_assert_eq(n, 1, "the simulator holds %d referrals for %s", n, f->ext);
    return x;
}

static int delivered(const referral *f)
{
    return lg_sim_referrals_for(&SIM, f->ext, NULL) >= 1 && business_is(f, "delivered");
}

/* The logged POSTs to path for f's Task (Idempotency-Key
 * lg-{task}-create-{job}) all carry the same key; returns how many there
 * were. Every POST must carry a key. */
static int attempts_with_one_key(const referral *f, const char *path)
{
    cJSON *q = lg_sim_requests(&SIM, path);
    const cJSON *e;
    const char *key = NULL;
    int n = 0;
    char *want = lg_fmt("lg-%s-create-", f->task);
    cJSON_ArrayForEach(e, q) {
        const char *m = lg_str(e, "method"), *p = lg_str(e, "path");
        if(strcmp(m, "POST") != 0 || strcmp(p, path) != 0)
            continue;
        const char *k = lg_str(e, "idempotency_key");
        cr_assert_not_null(k, "attempt %d without an Idempotency-Key", n + 1);
        if(strncmp(k, want, strlen(want)) != 0)
            continue; /* another referral's */
        if(key)
            cr_assert_str_eq(k, key, "attempt %d changed the key", n + 1);
        key = k;
        n++;
    }
    free(want);
    cJSON_Delete(q);
    return n;
}

/* POST /_control/status on the simulator; for Style A the answer lists the
 * gateway's status for each webhook copy: all must be 200. */
static void platform_says(const char *json, int copies)
{
    lg_resp r = lg_sim_post(&SIM, "/_control/status", json);
    cr_assert_eq(r.status, 200, "%s: %ld %s", json, r.status, r.body);
    if(copies > 0) {
        const cJSON *st = cJSON_GetObjectItem(r.json, "statuses"), *s;
        cr_assert_eq(cJSON_GetArraySize(st), copies, "%s", r.body);
        cJSON_ArrayForEach(s, st)
            cr_assert_eq((int)s->valuedouble, 200, "webhook answered %d: %s", (int)s->valuedouble,
                         r.body);
    }
    lg_resp_free(&r);
}

/* ------------------------------------------------------------ tests */

Test(forward, a_referral_is_delivered_with_its_content)
{
    referral f = send_referral("mrn-fw-1", "food-insecurity", "cbo-uu");
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "not delivered (see %s)", S.log);
    cJSON *x = the_one_referral(&f);
    const cJSON *b = cJSON_GetObjectItem(x, "body");
    cr_assert_str_eq(lg_str(b, "external_id"), f.ext);
    cr_assert_str_eq(lg_str(b, "receiving_program_id"), "prog-123");
    cr_assert_str_eq(lg_str(b, "service_request_id"), f.sr);
    cr_assert_str_eq(lg_at_str(b, "person.first_name"), "Ana");
    cr_assert_str_eq(lg_at_str(b, "person.last_name"), "Lopez");
    cr_assert_str_eq(lg_at_str(b, "person.date_of_birth"), "2016-04-02");
    cr_assert_str_eq(lg_at_str(b, "need.category"), "food-insecurity");
    cr_assert_str_eq(lg_at_str(b, "sending_organization.reference"), "Organization/clinic-1");
    cr_assert_eq((int)cJSON_GetObjectItem(x, "times_received")->valuedouble, 1);
    cJSON_Delete(x);
    cr_assert_eq(attempts_with_one_key(&f, "/v1/referrals"), 1);
    /* one token, fetched with the client's credentials */
    lg_resp st = lg_sim_get(&SIM, "/_control/stats");
    cr_assert_eq((int)cJSON_GetObjectItem(st.json, "tokens_issued")->valuedouble, 1, "%s", st.body);
    cr_assert_eq((int)cJSON_GetObjectItem(st.json, "unauthorized")->valuedouble, 0, "%s", st.body);
    lg_resp_free(&st);
    cr_assert_eq(jobs_of(&f, "done", NULL), 1);
    referral_free(&f);
}

Test(forward, faults_on_the_way_still_deliver_exactly_once)
{
    /* 500, 429 with Retry-After: 1, a refused connection, and a referral the
     * platform records but whose answer never arrives: the next attempt
     * carries the same key and the platform answers 200 with the same id */
    lg_sim_control(&SIM, "/_control/fault", "{\"path_prefix\":\"/v1/referrals\",\"mode\":\"500\",\"count\":1}");
    lg_sim_control(&SIM, "/_control/fault",
                   "{\"path_prefix\":\"/v1/referrals\",\"mode\":\"429\",\"count\":1,\"retry_after\":1}");
    /* faults are used in the order they were added */
    lg_sim_control(&SIM, "/_control/fault",
                   "{\"path_prefix\":\"/v1/referrals\",\"mode\":\"refuse\",\"count\":1}");
    lg_sim_control(&SIM, "/_control/fault",
                   "{\"path_prefix\":\"/v1/referrals\",\"mode\":\"drop_after_commit\",\"count\":1}");
    referral f = send_referral("mrn-fw-2", "food-insecurity", "cbo-uu");
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "not delivered (see %s)", S.log);

    cJSON *x = the_one_referral(&f);
    /* the lost answer's referral and the retry's: one referral, seen twice */
    cr_assert_eq((int)cJSON_GetObjectItem(x, "times_received")->valuedouble, 2);
    cJSON_Delete(x);
    cr_assert_eq(attempts_with_one_key(&f, "/v1/referrals"), 5);

    /* the attempt after the 429 waited for Retry-After (1 s), not backoff_ms */
    cJSON *q = lg_sim_requests(&SIM, "/v1/referrals");
    long long t429 = 0, tnext = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, q) {
        const char *fm = lg_str(e, "fault");
        long long t = (long long)cJSON_GetObjectItem(e, "received_ms")->valuedouble;
        if(t429 && !tnext)
            tnext = t;
        if(fm && strcmp(fm, "429") == 0)
            t429 = t;
    }
    cJSON_Delete(q);
    cr_assert(t429 && tnext, "no attempt after the 429");
    cr_assert_geq(tnext - t429, 900, "retried %lld ms after a 429 with Retry-After: 1", tnext - t429);
    cr_assert_eq(jobs_of(&f, "done", NULL), 1);
    cr_assert_eq(jobs_of(&f, NULL, NULL), 1, "one job for one referral");
    referral_free(&f);
}

Test(forward, a_kill_9_mid_delivery_still_delivers_once_after_restart)
{
    lg_it_cleanup(&S);
    lg_sim_stop(&SIM);
    start_both(30000, 2000); /* the hung request must outlive the gateway, not time out */
    lg_sim_control(&SIM, "/_control/fault", "{\"path_prefix\":\"/v1/referrals\",\"mode\":\"hang\",\"count\":1}");
    referral f = send_referral("mrn-fw-3", "food-insecurity", "cbo-uu");
    /* the delivery is in flight: the simulator holds it unanswered */
    cr_assert(WAIT_UNTIL(({
                             lg_resp s_ = lg_sim_get(&SIM, "/_control/stats");
                             int h_ = (int)cJSON_GetObjectItem(s_.json, "hung")->valuedouble;
                             lg_resp_free(&s_);
                             h_ == 1;
                         }),
                         WAIT_MS),
              "the delivery never reached the simulator (see %s)", S.log);
    lg_it_stop(&S, SIGKILL);
    lg_sim_control(&SIM, "/_control/fault", "{\"mode\":\"none\"}");
    cr_assert_eq(lg_sim_referrals_for(&SIM, f.ext, NULL), 0);
    lg_it_restart(&S);
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "not delivered after the restart (see %s)", S.log);
    cJSON *x = the_one_referral(&f);
    cJSON_Delete(x);
    cr_assert_eq(attempts_with_one_key(&f, "/v1/referrals"), 2);
    cr_assert_eq(jobs_of(&f, NULL, NULL), 1);
    referral_free(&f);
}

Test(forward, webhook_statuses_move_the_task)
{
    referral f = send_referral("mrn-fw-4", "food-insecurity", "cbo-uu");
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "not delivered (see %s)", S.log);
    cJSON *x = the_one_referral(&f);
    char *rid = lg_fmt("%s", lg_str(x, "id"));
    cJSON_Delete(x);

    char *ev = lg_fmt("{\"id\":\"%s\",\"status\":\"accepted\",\"event_id\":\"evt-1\","
                      "\"occurred_at\":\"2026-11-30T10:00:00Z\"}",
                      rid);
    platform_says(ev, 1);
    free(ev);
    cr_assert(task_is(&f, "accepted"), "the webhook was answered 200 but the Task did not move");

    /* the same event three times: one change */
    int before = versions(&f);
    ev = lg_fmt("{\"id\":\"%s\",\"status\":\"in_progress\",\"event_id\":\"evt-2\","
                "\"occurred_at\":\"2026-11-30T10:05:00Z\",\"duplicate\":2}",
                rid);
    platform_says(ev, 3);
    free(ev);
    cr_assert(task_is(&f, "in-progress"));
    cr_assert_eq(versions(&f), before + 1, "three copies of one event made %d versions",
                 versions(&f) - before);

    /* an event older than the last applied one is ignored (on_hold would be
     * a legal move from in-progress, so applying it would show) */
    before = versions(&f);
    char *raw = lg_fmt("{\"body\":{\"event_id\":\"evt-old\",\"type\":\"referral.status_changed\","
                       "\"occurred_at\":\"2026-11-30T10:01:00Z\",\"referral\":{\"id\":\"%s\","
                       "\"external_id\":\"%s\",\"status\":\"on_hold\"}}}",
                       rid, f.ext);
    lg_resp r = lg_sim_post(&SIM, "/_control/webhook_raw", raw);
    free(raw);
    cr_assert_eq(r.status, 200);
    cr_assert_eq((int)lg_at(r.json, "statuses.0")->valuedouble, 200, "%s", r.body);
    lg_resp_free(&r);
    cr_assert(task_is(&f, "in-progress"), "an out-of-order event was applied");
    cr_assert_eq(versions(&f), before);

    /* a bad signature is refused and changes nothing */
    raw = lg_fmt("{\"bad_signature\":true,\"body\":{\"event_id\":\"evt-forged\","
                 "\"type\":\"referral.status_changed\",\"occurred_at\":\"2026-11-30T10:06:00Z\","
                 "\"referral\":{\"id\":\"%s\",\"external_id\":\"%s\",\"status\":\"on_hold\"}}}",
                 rid, f.ext);
    r = lg_sim_post(&SIM, "/_control/webhook_raw", raw);
    free(raw);
    cr_assert_eq((int)lg_at(r.json, "statuses.0")->valuedouble, 401, "%s", r.body);
    lg_resp_free(&r);
    cr_assert(task_is(&f, "in-progress"));

    /* completed with an outcome: the outcome becomes the resulting activity */
    ev = lg_fmt("{\"id\":\"%s\",\"status\":\"completed\",\"event_id\":\"evt-3\","
                "\"occurred_at\":\"2026-11-30T10:10:00Z\","
                "\"outcome\":\"Enrolled in the weekly food box programme\"}",
                rid);
    platform_says(ev, 1);
    free(ev);
    cJSON *t = get_task(&f);
    cr_assert_str_eq(lg_str(t, "status"), "completed");
    char *out = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "output"));
    cr_assert_not_null(out, "completed without an output");
    const char *proc = lg_at_str(t, "output.0.valueReference.reference");
    if(proc) {
        lg_resp p = lg_getf(&S, "/%s", proc);
        cr_assert_eq(p.status, 200, "%s", p.body);
        cr_assert(strstr(p.body, "weekly food box"), "the Procedure does not say the outcome: %s",
                  p.body);
        lg_resp_free(&p);
    } else {
        cr_assert(strstr(out, "weekly food box"), "the output does not say the outcome: %s", out);
    }
    free(out);
    cJSON_Delete(t);

    /* accepted after completed: refused by the workflow, parked, answered
     * 200 so the platform does not resend it; the Task stays completed */
    before = versions(&f);
    ev = lg_fmt("{\"id\":\"%s\",\"status\":\"accepted\",\"event_id\":\"evt-late\","
                "\"occurred_at\":\"2026-11-30T10:20:00Z\"}",
                rid);
    platform_says(ev, 1);
    free(ev);
    cr_assert(task_is(&f, "completed"));
    cr_assert_eq(versions(&f), before);
    lg_resp p = lg_http(&S, "GET", "/$outbox-events?outcome=parked", NULL, NULL);
    cr_assert_eq(p.status, 200, "%s", p.body);
    cr_assert(p.body && strstr(p.body, "evt-late"), "the parked event is not listed: %s", p.body);
    cr_assert(!strstr(p.body, "\"evt-3\""), "an applied event is listed as parked: %s", p.body);
    lg_resp_free(&p);
    free(rid);
    referral_free(&f);
}

Test(forward, polling_moves_a_findhelp_task)
{
    referral f = send_referral("mrn-fw-5", "housing-instability", "cbo-fh");
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "not delivered (see %s)", S.log);
    cJSON *x = the_one_referral(&f);
    const cJSON *b = cJSON_GetObjectItem(x, "body");
    cr_assert_str_eq(lg_str(b, "program_id"), "fh-program-77");
    cr_assert_str_eq(lg_str(b, "external_reference"), f.ext);
    cr_assert_str_eq(lg_at_str(b, "client.first_name"), "Ana");
    cr_assert_str_eq(lg_at_str(b, "client.birth_date"), "2016-04-02");
    char *rid = lg_fmt("%s", lg_str(x, "id"));
    cJSON_Delete(x);
    /* the program was looked up before the referral was made */
    cJSON *q = lg_sim_requests(&SIM, "/api/v2/");
    cr_assert_str_eq(lg_at_str(q, "0.path"), "/api/v2/programs/fh-program-77");
    cJSON_Delete(q);

    char *st = lg_fmt("{\"id\":\"%s\",\"status\":\"accepted\","
                      "\"occurred_at\":\"2026-11-30T10:00:00Z\"}",
                      rid);
    platform_says(st, 0);
    free(st);
    cr_assert(WAIT_UNTIL(task_is(&f, "accepted"), WAIT_MS), "the poll did not move the Task");
    /* the state polled again and again is one change */
    int v = versions(&f);
    usleep(2500000);
    cr_assert_eq(versions(&f), v, "polling the same state changed the Task again");

    /* the CBO could not serve it after all: not_served fails the Task */
    st = lg_fmt("{\"id\":\"%s\",\"status\":\"not_served\",\"reason\":\"outside our service area\","
                "\"occurred_at\":\"2026-11-30T10:10:00Z\"}",
                rid);
    platform_says(st, 0);
    free(st);
    cr_assert(WAIT_UNTIL(task_is(&f, "failed"), WAIT_MS), "not_served did not fail the Task");
    cJSON *t = get_task(&f);
    char *reason = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "statusReason"));
    cr_assert(reason && strstr(reason, "outside our service area"), "statusReason %s", reason);
    free(reason);
    cJSON_Delete(t);
    free(rid);
    referral_free(&f);
}

Test(forward, a_refusing_platform_makes_a_dead_job_that_replays)
{
    lg_sim_control(&SIM, "/_control/fault", "{\"path_prefix\":\"/v1/referrals\",\"mode\":\"400\"}");
    referral f = send_referral("mrn-fw-6", "food-insecurity", "cbo-uu");
    long long job = 0;
    cr_assert(WAIT_UNTIL(jobs_of(&f, "dead", &job) == 1, WAIT_MS), "no dead job (see %s)", S.log);
    cr_assert(WAIT_UNTIL(business_is(&f, "delivery-failed"), WAIT_MS),
              "businessStatus is not delivery-failed");
    /* a 400 is not retried */
    cr_assert_eq(attempts_with_one_key(&f, "/v1/referrals"), 1);
    cr_assert_eq(lg_sim_referrals_for(&SIM, f.ext, NULL), 0);
    cJSON *t = get_task(&f);
    cr_assert_str_eq(lg_str(t, "status"), "requested", "delivery failure is no workflow change");
    cJSON_Delete(t);

    /* not dead any more after the operator's fix: replay */
    lg_sim_control(&SIM, "/_control/fault", "{\"mode\":\"none\"}");
    lg_resp r = lg_getf(&S, "/$outbox-replay?id=%lld", job);
    cr_assert_neq(r.status, 200, "replay is a POST");
    lg_resp_free(&r);
    char *path = lg_fmt("/$outbox-replay?id=%lld", job);
    r = lg_http(&S, "POST", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "replay: %ld %s", r.status, r.body);
    lg_resp_free(&r);
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "the replayed job was not delivered");
    cJSON_Delete(the_one_referral(&f));
    cr_assert_eq(jobs_of(&f, "done", NULL), 1);
    cr_assert_eq(jobs_of(&f, "dead", NULL), 0);
    /* a job that is not dead cannot be replayed */
    r = lg_http(&S, "POST", path, NULL, NULL);
    cr_assert_eq(r.status, 409, "%ld %s", r.status, r.body);
    lg_resp_free(&r);
    free(path);
    referral_free(&f);
}

Test(forward, a_revoked_referral_is_cancelled_at_the_platform)
{
    referral f = send_referral("mrn-fw-7", "food-insecurity", "cbo-uu");
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "not delivered (see %s)", S.log);
    char *sr = lg_fmt("{\"resourceType\":\"ServiceRequest\",\"id\":\"%s\",\"status\":\"revoked\","
                      "\"intent\":\"order\",\"category\":[{\"coding\":[{\"system\":\"" SDOHCC
                      "\",\"code\":\"food-insecurity\"}]}],"
                      "\"code\":{\"text\":\"Community resource referral\"},"
                      "\"subject\":{\"reference\":\"Patient/%s\"},"
                      "\"authoredOn\":\"2026-11-02T09:00:00Z\","
                      "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
                      "\"performer\":[{\"reference\":\"Organization/cbo-uu\"}]}",
                      f.sr, f.patient);
    lg_put(&S, "ServiceRequest", f.sr, sr);
    free(sr);
    cr_assert(task_is(&f, "cancelled"));
    cr_assert(WAIT_UNTIL(({
                             cJSON *x_ = NULL;
                             lg_sim_referrals_for(&SIM, f.ext, &x_);
                             const cJSON *c_ = cJSON_GetObjectItem(x_, "cancels");
                             int ok_ = cJSON_IsNumber(c_) && c_->valuedouble >= 1;
                             cJSON_Delete(x_);
                             ok_;
                         }),
                         WAIT_MS),
              "the platform never got the cancellation (see %s)", S.log);
    cJSON *x = the_one_referral(&f);
    cr_assert_eq((int)cJSON_GetObjectItem(x, "cancels")->valuedouble, 1);
    cr_assert_str_eq(lg_str(x, "status"), "cancelled");
    cJSON_Delete(x);
    cr_assert(WAIT_UNTIL(jobs_of(&f, "done", NULL) == 2, WAIT_MS), "create and cancel both done");
    referral_free(&f);
}

Test(forward, a_task_nobody_routes_stays_local)
{
    referral local = send_referral("mrn-fw-8", "food-insecurity", "cbo-local");
    referral routed = send_referral("mrn-fw-9", "food-insecurity", "cbo-uu");
    /* the routed one, written after, is through: the forwarder has run */
    cr_assert(WAIT_UNTIL(delivered(&routed), WAIT_MS), "not delivered (see %s)", S.log);
    cr_assert_eq(lg_sim_referrals_for(&SIM, local.ext, NULL), 0);
    cr_assert_eq(jobs_of(&local, NULL, NULL), 0);
    cJSON *t = get_task(&local);
    cr_assert_null(cJSON_GetObjectItem(t, "businessStatus"));
    cJSON_Delete(t);
    cJSON *all = lg_sim_referrals(&SIM);
    cr_assert_eq(cJSON_GetArraySize(all), 1);
    cJSON_Delete(all);
    referral_free(&local);
    referral_free(&routed);
}

Test(forward, healthcare_service_search_is_answered_from_the_directory)
{
    /* what the directory itself says */
    lg_resp d = lg_sim_get(&SIM, "/services?search=Food&per_page=100");
    cr_assert_eq(d.status, 200);
    int total = (int)cJSON_GetObjectItem(d.json, "total_items")->valuedouble;
    cr_assert_gt(total, 2);

    lg_resp r = lg_http(&S, "GET", "/HealthcareService?name=Food", NULL, NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "Bundle");
    cr_assert_str_eq(lg_str(r.json, "type"), "searchset");
    cr_assert_eq(lg_total(r.json), total, "%s", r.body);
    cr_assert_eq(lg_entries(r.json), total);
    const cJSON *e, *s;
    int i = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entry")) {
        const cJSON *hs = cJSON_GetObjectItem(e, "resource");
        s = cJSON_GetArrayItem(cJSON_GetObjectItem(d.json, "contents"), i++);
        cr_assert_str_eq(lg_str(hs, "resourceType"), "HealthcareService");
        cr_assert_str_eq(lg_str(hs, "id"), lg_str(s, "id"));
        cr_assert_str_eq(lg_str(hs, "name"), lg_str(s, "name"));
        cr_assert_str_eq(lg_at_str(hs, "providedBy.display"), lg_at_str(s, "organization.name"));
        const cJSON *active = cJSON_GetObjectItem(hs, "active");
        cr_assert(cJSON_IsBool(active));
        cr_assert_eq(cJSON_IsTrue(active), strcmp(lg_str(s, "status"), "active") == 0);
        cr_assert_not_null(cJSON_GetObjectItem(hs, "location"), "no location: %s",
                           cJSON_PrintUnformatted(hs));
    }
    lg_resp_free(&r);
    lg_resp_free(&d);

    /* paging: _count and _page become per_page and page */
    r = lg_http(&S, "GET", "/HealthcareService?service-category=housing-instability&_count=2", NULL,
                NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_eq(lg_total(r.json), 5, "%s", r.body);
    cr_assert_eq(lg_entries(r.json), 2);
    const char *next = lg_link(r.json, "next");
    cr_assert(next && strstr(next, "_page=2"), "next link %s", next ? next : "(none)");
    lg_resp_free(&r);

    /* a parameter HSDS cannot express is a 400 naming it */
    r = lg_http(&S, "GET", "/HealthcareService?specialty=x", NULL, NULL);
    cr_assert_eq(r.status, 400, "%ld %s", r.status, r.body);
    cr_assert(r.body && strstr(r.body, "specialty"), "%s", r.body);
    lg_resp_free(&r);
}

static int sim_stat(const char *name)
{
    lg_resp r = lg_sim_get(&SIM, "/_control/stats");
    const cJSON *v = cJSON_GetObjectItem(r.json, name);
    cr_assert(cJSON_IsNumber(v), "no %s in %s", name, r.body);
    int n = (int)v->valuedouble;
    lg_resp_free(&r);
    return n;
}

Test(forward, tokens_are_fetched_again_when_they_expire_or_are_refused)
{
    lg_sim_control(&SIM, "/_control/config", "{\"token_ttl\":3}");
    referral a = send_referral("mrn-fw-10", "food-insecurity", "cbo-uu");
    cr_assert(WAIT_UNTIL(delivered(&a), WAIT_MS), "not delivered (see %s)", S.log);
    cr_assert_eq(sim_stat("tokens_issued"), 1);
    usleep(3500000); /* the token has expired */
    referral b = send_referral("mrn-fw-11", "food-insecurity", "cbo-uu");
    cr_assert(WAIT_UNTIL(delivered(&b), WAIT_MS), "not delivered (see %s)", S.log);
    /* fetched again before use, not after a refusal */
    cr_assert_eq(sim_stat("tokens_issued"), 2);
    cr_assert_eq(sim_stat("unauthorized"), 0);

    /* the platform refuses a token the gateway holds as valid: 401, a new
     * token at once, and the same referral delivered once */
    lg_sim_control(&SIM, "/_control/revoke_tokens", "{}");
    referral c = send_referral("mrn-fw-12", "food-insecurity", "cbo-uu");
    cr_assert(WAIT_UNTIL(delivered(&c), WAIT_MS), "not delivered after a 401 (see %s)", S.log);
    cr_assert_eq(sim_stat("tokens_issued"), 3);
    cr_assert_eq(sim_stat("unauthorized"), 1);
    cJSON_Delete(the_one_referral(&c));
    cr_assert_eq(attempts_with_one_key(&c, "/v1/referrals"), 2);
    referral_free(&a);
    referral_free(&b);
    referral_free(&c);
}

Test(forward, a_platform_that_keeps_failing_makes_a_dead_job_after_max_attempts)
{
    lg_sim_control(&SIM, "/_control/fault", "{\"path_prefix\":\"/v1/referrals\",\"mode\":\"503\"}");
    referral f = send_referral("mrn-fw-13", "food-insecurity", "cbo-uu");
    long long job = 0;
    cr_assert(WAIT_UNTIL(jobs_of(&f, "dead", &job) == 1, WAIT_MS), "no dead job (see %s)", S.log);
    /* max_attempts 8, every one with the same key */
    cr_assert_eq(attempts_with_one_key(&f, "/v1/referrals"), 8);
    lg_resp r = lg_getf(&S, "/$outbox?id=%lld", job);
    cr_assert_eq(r.status, 200, "%s", r.body);
    const cJSON *j = cJSON_GetObjectItem(r.json, "jobs") ? lg_at(r.json, "jobs.0") : r.json;
    cr_assert_eq((int)cJSON_GetObjectItem(j, "attempts")->valuedouble, 8, "%s", r.body);
    const char *err = lg_str(j, "last_error");
    cr_assert(err && strstr(err, "503"), "last_error %s", err ? err : "(none)");
    lg_resp_free(&r);
    cr_assert(WAIT_UNTIL(business_is(&f, "delivery-failed"), WAIT_MS));
    cr_assert_eq(lg_sim_referrals_for(&SIM, f.ext, NULL), 0);
    referral_free(&f);
}

Test(forward, a_hung_request_times_out_and_the_retry_delivers_once)
{
    /* timeout_ms is 3000 in this suite's configuration */
    lg_sim_control(&SIM, "/_control/fault",
                   "{\"path_prefix\":\"/v1/referrals\",\"mode\":\"hang\",\"count\":1}");
    referral f = send_referral("mrn-fw-14", "food-insecurity", "cbo-uu");
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "not delivered (see %s)", S.log);
    cJSON_Delete(the_one_referral(&f));
    cJSON *q = lg_sim_requests(&SIM, "/v1/referrals");
    cr_assert_eq(cJSON_GetArraySize(q), 2, "the hung attempt and its retry");
    long long t0 = (long long)lg_at(q, "0.received_ms")->valuedouble;
    long long t1 = (long long)lg_at(q, "1.received_ms")->valuedouble;
    cr_assert_geq(t1 - t0, 2900, "retried %lld ms after a request that never answered", t1 - t0);
    cJSON_Delete(q);
    cr_assert_eq(attempts_with_one_key(&f, "/v1/referrals"), 2);
    lg_sim_control(&SIM, "/_control/fault", "{\"mode\":\"none\"}");
    referral_free(&f);
}

Test(forward, a_findhelp_route_to_a_closed_program_is_a_dead_job)
{
    referral f = send_referral("mrn-fw-15", "housing-instability", "cbo-fh-closed");
    cr_assert(WAIT_UNTIL(jobs_of(&f, "dead", NULL) == 1, WAIT_MS), "no dead job (see %s)", S.log);
    cr_assert(WAIT_UNTIL(business_is(&f, "delivery-failed"), WAIT_MS));
    /* the lookup said inactive: no referral was attempted */
    cJSON *q = lg_sim_requests(&SIM, "/api/v2/");
    cr_assert_eq(cJSON_GetArraySize(q), 1, "only the program lookup");
    cr_assert_str_eq(lg_at_str(q, "0.path"), "/api/v2/programs/fh-program-closed");
    cJSON_Delete(q);
    cr_assert_eq(lg_sim_referrals_for(&SIM, f.ext, NULL), 0);
    referral_free(&f);
}

Test(forward, a_revoked_findhelp_referral_is_cancelled_and_no_longer_polled)
{
    referral f = send_referral("mrn-fw-16", "housing-instability", "cbo-fh");
    cr_assert(WAIT_UNTIL(delivered(&f), WAIT_MS), "not delivered (see %s)", S.log);
    char *sr = lg_fmt("{\"resourceType\":\"ServiceRequest\",\"id\":\"%s\",\"status\":\"revoked\","
                      "\"intent\":\"order\",\"category\":[{\"coding\":[{\"system\":\"" SDOHCC
                      "\",\"code\":\"housing-instability\"}]}],"
                      "\"code\":{\"text\":\"Community resource referral\"},"
                      "\"subject\":{\"reference\":\"Patient/%s\"},"
                      "\"authoredOn\":\"2026-11-02T09:00:00Z\","
                      "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
                      "\"performer\":[{\"reference\":\"Organization/cbo-fh\"}]}",
                      f.sr, f.patient);
    lg_put(&S, "ServiceRequest", f.sr, sr);
    free(sr);
    cr_assert(WAIT_UNTIL(jobs_of(&f, "done", NULL) == 2, WAIT_MS), "the cancel was not delivered");
    cJSON *x = the_one_referral(&f);
    cr_assert_eq((int)cJSON_GetObjectItem(x, "cancels")->valuedouble, 1);
    cr_assert_str_eq(lg_str(x, "status"), "cancelled");
    cJSON_Delete(x);
    /* the loop is closed at the platform: polling stops (poll_seconds 1) */
    usleep(1500000);
    int polls = sim_stat("polls");
    usleep(2500000);
    cr_assert_eq(sim_stat("polls"), polls, "a cancelled referral is still polled");
    cr_assert(task_is(&f, "cancelled"));
    referral_free(&f);
}
