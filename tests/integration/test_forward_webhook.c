/* Platform status webhooks against the real server (issue #5): a
 * uniteus-style platform in a forwarding.json (its base_url a closed port:
 * deliveries fail and back off, which this suite does not look at), a
 * routed referral whose create job is in the outbox, the job and its
 * forward link then marked delivered in the store the way a delivery would
 * (server stopped meanwhile), then signed webhooks (HMAC-SHA256 computed here with
 * OpenSSL, docs/forwarding.md Style A) move the Task: accepted, completed
 * (with the resulting-activity Procedure). Refused: a bad signature and a
 * stale timestamp (401), an unknown platform (404); a duplicate event
 * changes nothing; an illegal transition is answered 200 (parked) and
 * leaves the Task as it was; no bearer token is needed and the request is
 * audited. With a directory platform, HealthcareService searches go to it
 * (here unreachable: an OperationOutcome, not a hang), reporting clients
 * are refused, and reads stay local. `serve` with a broken
 * forwarding.json does not start. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lg_it.h"
#include "loopgate/store.h"

#define SECRET "whsec-test-3f9a"
#define SDOHCC "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

static lg_server srv;
static char cfgdir[] = "/tmp/lg-fwd-XXXXXX";
static char cfgfile[64];
static const char *extra[4];

/* A port nothing listens on: bind, read the port, close. */
static int closed_port(void)
{
    char cmd[] = "python3 -c 'import socket;s=socket.socket();s.bind((\"127.0.0.1\",0));print(s.getsockname()[1])'";
    FILE *p = popen(cmd, "r");
    int port = 0;
    cr_assert_not_null(p);
    cr_assert_eq(fscanf(p, "%d", &port), 1);
    pclose(p);
    return port;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, 0600), 0);
}

static void start(void)
{
    cr_assert_not_null(mkdtemp(cfgdir));
    snprintf(cfgfile, sizeof(cfgfile), "%s/forwarding.json", cfgdir);
    int port = closed_port();
    char *cfg = lg_fmt("{\"platforms\":[{\"name\":\"uu\",\"adapter\":\"uniteus\","
                       "\"base_url\":\"http://127.0.0.1:%d\",\"token_url\":\"http://127.0.0.1:%d/oauth2/token\","
                       "\"client_id\":\"loopgate\",\"client_secret\":\"s3cret\",\"webhook_secret\":\"" SECRET "\","
                       "\"max_attempts\":3,\"backoff_ms\":3600000,\"timeout_ms\":2000},"
                       "{\"name\":\"dir\",\"adapter\":\"hsds\",\"base_url\":\"http://127.0.0.1:%d/api\","
                       "\"timeout_ms\":2000}],"
                       "\"routes\":[{\"owner\":\"Organization/cbo-17\",\"platform\":\"uu\",\"target\":\"prog-123\"}],"
                       "\"directory\":\"dir\"}",
                       port, port, port);
    write_file(cfgfile, cfg);
    free(cfg);
    extra[0] = "--forwarding";
    extra[1] = cfgfile;
    extra[2] = NULL;
    lg_it_start(&srv, extra);
}

static void stop(void)
{
    lg_it_cleanup(&srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", cfgdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(forward_webhook, .init = start, .fini = stop, .timeout = 120);

/* hex HMAC-SHA256(SECRET, ts "." body) */
static void sign(const char *ts, const char *body, const char *secret, char hex[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char *msg = lg_fmt("%s.%s", ts, body);
    cr_assert_not_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg),
                            mac, &len));
    cr_assert_eq(len, 32u);
    for(unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    free(msg);
}

/* POST a webhook to platform with the timestamp now + skew, signed with
 * secret; no Authorization header at all. */
static lg_resp webhook_as(const char *platform, const char *body, long skew, const char *secret)
{
    char ts[32], hex[65], h_ts[64], h_sig[128], path[96];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL) + skew);
    sign(ts, body, secret, hex);
    snprintf(h_ts, sizeof(h_ts), "X-Loopgate-Timestamp: %s", ts);
    snprintf(h_sig, sizeof(h_sig), "X-Loopgate-Signature: sha256=%s", hex);
    snprintf(path, sizeof(path), "/forward/%s/events", platform);
    const char *headers[] = {h_ts, h_sig, "Content-Type: application/json", NULL};
    return lg_http_as(&srv, "", "POST", path, headers, body);
}

static lg_resp webhook(const char *body)
{
    return webhook_as("uu", body, 0, SECRET);
}

static char *event(const char *id, const char *task, const char *status, const char *at, const char *more)
{
    return lg_fmt("{\"event_id\":\"%s\",\"type\":\"referral.status_changed\",\"occurred_at\":\"%s\","
                  "\"referral\":{\"id\":\"R-17\",\"external_id\":\"Task/%s\",\"status\":\"%s\"%s}}",
                  id, at, task, status, more);
}

/* A referral for the routed CBO, by the harness's unrestricted client. */
static void open_referral(char **sr, char **task)
{
    char *b = lg_fmt("{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\","
                     "\"category\":[{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"food-insecurity\"}]}],"
                     "\"code\":{\"text\":\"Food pantry enrolment\"},\"subject\":{\"reference\":\"Patient/p1\"},"
                     "\"requester\":{\"reference\":\"Organization/clinic-1\"}}");
    *sr = lg_create(&srv, "ServiceRequest", b);
    free(b);
    b = lg_fmt("{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
               "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
               "\"code\":\"fulfill\"}]},\"focus\":{\"reference\":\"ServiceRequest/%s\"},"
               "\"for\":{\"reference\":\"Patient/p1\"},\"authoredOn\":\"2026-10-01T10:00:00Z\","
               "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
               "\"owner\":{\"reference\":\"Organization/cbo-17\"}}", *sr);
    *task = lg_create(&srv, "Task", b);
    free(b);
}

/* Deliver the routed referral's create job the way the forwarder does on
 * success - job done with the platform's id, forward link recorded - with
 * the server stopped (the store is one process's at a time), then start it
 * again on the same data. */
static void delivered(const char *task)
{
    lg_store *st = NULL;
    lg_issues is = {0};
    lg_it_stop(&srv, SIGTERM);
    lg_status ost = lg_store_open(srv.dir, &st, &is);
    cr_assert_eq(ost, LG_OK, "%s", is.count ? is.items[0].diagnostics : lg_status_str(ost));
    lg_outbox_list l = {0};
    cr_assert_eq(lg_store_outbox_list(st, -1, NULL, 0, 100, &l), LG_OK);
    int64_t job = 0;
    int attempts = 0;
    for(size_t k = 0; k < l.count; k++)
        if(strcmp(l.items[k].task_id, task) == 0) {
            cr_assert_eq(job, 0, "one job per routed referral");
            cr_assert_str_eq(l.items[k].kind, "create");
            cr_assert_str_eq(l.items[k].platform, "uu");
            cr_assert_str_eq(l.items[k].target, "prog-123");
            cr_assert_neq(l.items[k].state, LG_OUTBOX_DONE, "nothing listens at the platform's port");
            job = l.items[k].id;
            attempts = l.items[k].attempts;
        }
    lg_outbox_list_clear(&l);
    cr_assert_gt(job, 0, "the routed referral's create job is in the outbox");
    lg_forward_link link = {.platform = "uu", .remote_id = "R-17", .task_id = (char *)task,
                            .last_event_ms = INT64_MIN};
    int64_t now = (int64_t)time(NULL) * 1000;
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_update(st, job, LG_OUTBOX_DONE, attempts + 1, now, NULL, "R-17", now), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &link), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    lg_store_close(st);
    lg_issues_free(&is);
    lg_it_restart(&srv);
}

static cJSON *task_now(const char *id, int *version)
{
    lg_resp r = lg_getf(&srv, "/Task/%s", id);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cJSON *t = cJSON_Duplicate(r.json, 1);
    *version = atoi(lg_at_str(t, "meta.versionId"));
    lg_resp_free(&r);
    return t;
}

static int expect_status(const char *task, const char *status)
{
    int v;
    cJSON *t = task_now(task, &v);
    cr_assert_str_eq(lg_str(t, "status"), status);
    cJSON_Delete(t);
    return v;
}

Test(forward_webhook, signed_events_move_the_task)
{
    char *sr, *task;
    open_referral(&sr, &task);
    delivered(task);
    int v0 = expect_status(task, "requested");

    char *e = event("evt-1", task, "accepted", "2026-11-30T20:00:00Z", "");
    lg_resp r = webhook(e);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_not_null(lg_str(r.json, "outcome"), "%s", r.body);
    lg_resp_free(&r);
    int v1 = expect_status(task, "accepted");
    cr_assert_eq(v1, v0 + 1);

    /* The same event again (a platform retrying): 200, nothing changes. */
    r = webhook(e);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
    cr_assert_eq(expect_status(task, "accepted"), v1, "a duplicate makes no version");
    free(e);

    e = event("evt-2", task, "completed", "2026-11-30T21:00:00Z", ",\"outcome\":\"Enrolled in the pantry\"");
    r = webhook(e);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
    free(e);
    int v2;
    cJSON *t = task_now(task, &v2);
    cr_assert_str_eq(lg_str(t, "status"), "completed");
    const char *ref = lg_at_str(t, "output.0.valueReference.reference");
    cr_assert_not_null(ref);
    lg_resp p = lg_getf(&srv, "/%s", ref);
    cr_assert_eq(p.status, 200, "%s", p.body);
    cr_assert_str_eq(lg_at_str(p.json, "code.text"), "Enrolled in the pantry");
    lg_resp_free(&p);
    cJSON_Delete(t);

    /* completed -> accepted is no edge: parked, answered 200, Task as it was. */
    e = event("evt-3", task, "accepted", "2026-11-30T22:00:00Z", "");
    r = webhook(e);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
    free(e);
    cr_assert_eq(expect_status(task, "completed"), v2, "a refused transition changes nothing");
    free(sr);
    free(task);
}

Test(forward_webhook, bad_signature_stale_timestamp_unknown_platform)
{
    char *sr, *task;
    open_referral(&sr, &task);
    delivered(task);
    int v0 = expect_status(task, "requested");
    char *e = event("evt-9", task, "accepted", "2026-11-30T20:00:00Z", "");

    lg_resp r = webhook_as("uu", e, 0, "not-the-secret");
    cr_assert_eq(r.status, 401, "%s", r.body);
    lg_resp_free(&r);
    r = webhook_as("uu", e, -3600, SECRET);
    cr_assert_eq(r.status, 401, "a timestamp an hour old: %s", r.body);
    lg_resp_free(&r);
    r = webhook_as("nope", e, 0, SECRET);
    cr_assert_eq(r.status, 404, "%s", r.body);
    lg_resp_free(&r);
    /* A body changed after signing. */
    char ts[32], hex[65], h_ts[64], h_sig[128];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    sign(ts, e, SECRET, hex);
    snprintf(h_ts, sizeof(h_ts), "X-Loopgate-Timestamp: %s", ts);
    snprintf(h_sig, sizeof(h_sig), "X-Loopgate-Signature: sha256=%s", hex);
    const char *headers[] = {h_ts, h_sig, "Content-Type: application/json", NULL};
    char *tampered = event("evt-9", task, "completed", "2026-11-30T20:00:00Z", "");
    r = lg_http_as(&srv, "", "POST", "/forward/uu/events", headers, tampered);
    cr_assert_eq(r.status, 401, "%s", r.body);
    lg_resp_free(&r);
    free(tampered);
    /* Nothing was applied, and the event id is still free: the genuine
     * event goes through afterwards. */
    cr_assert_eq(expect_status(task, "requested"), v0);
    r = webhook(e);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
    expect_status(task, "accepted");
    free(e);

    /* Only POST, only .../events. */
    r = lg_http_as(&srv, "", "GET", "/forward/uu/events", NULL, NULL);
    cr_assert_eq(r.status, 405);
    lg_resp_free(&r);
    r = lg_http_as(&srv, "", "POST", "/forward/uu/other", NULL, "{}");
    cr_assert_eq(r.status, 404);
    lg_resp_free(&r);
    /* The webhook bypasses tokens, nothing else does. */
    r = lg_http_as(&srv, "", "GET", "/Task", NULL, NULL);
    cr_assert_eq(r.status, 401);
    lg_resp_free(&r);

    /* Audited like every request, under no client. */
    r = lg_http(&srv, "GET", "/AuditEvent?_count=200", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "/forward/uu/events"), "the webhook is in the audit log");
    lg_resp_free(&r);
    free(sr);
    free(task);
}

Test(forward_webhook, oversized_body_is_refused)
{
    size_t n = 70 * 1024;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    lg_resp r = webhook(big);
    cr_assert_eq(r.status, 413, "%ld", r.status);
    lg_resp_free(&r);
    free(big);
}

Test(forward_webhook, broken_forwarding_file_refuses_to_start)
{
    char bad[96], data[96], err[112];
    snprintf(bad, sizeof(bad), "%s/broken.json", cfgdir);
    snprintf(data, sizeof(data), "%s/data", cfgdir);
    snprintf(err, sizeof(err), "%s/err.txt", cfgdir);
    write_file(bad, "{\"platforms\":[{\"name\":\"x\",\"adapter\":\"no-such-adapter\",\"base_url\":\"http://x\"}]}");
    const char *args[] = {"serve", "--no-auth", "--listen", "127.0.0.1:1", "--data", data,
                          "--forwarding", bad, NULL};
    int status = 0;
    char *out = lg_it_run(args, &status, err);
    free(out);
    cr_assert_neq(status, 0, "serve must not start");
    FILE *f = fopen(err, "r");
    cr_assert_not_null(f);
    char text[4096] = {0};
    size_t got = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    cr_assert_gt(got, 0u);
    cr_assert_not_null(strstr(text, "forwarding"), "%s", text);
    cr_assert_not_null(strstr(text, "no-such-adapter"), "the issue is printed: %s", text);
    /* Not JSON at all. */
    write_file(bad, "{\"platforms\": [");
    out = lg_it_run(args, &status, err);
    free(out);
    cr_assert_neq(status, 0);
    /* A named file that does not exist. */
    snprintf(bad, sizeof(bad), "%s/missing.json", cfgdir);
    out = lg_it_run(args, &status, err);
    free(out);
    cr_assert_neq(status, 0);
}

Test(forward_webhook, readable_credentials_are_warned_about)
{
    char file[96], data[96], err[112];
    snprintf(file, sizeof(file), "%s/open.json", cfgdir);
    snprintf(data, sizeof(data), "%s/data-open", cfgdir);
    snprintf(err, sizeof(err), "%s/err-open.txt", cfgdir);
    write_file(file, "{\"platforms\":[{\"name\":\"d\",\"adapter\":\"hsds\","
                     "\"base_url\":\"http://127.0.0.1:9\"}],\"directory\":\"d\"}");
    /* An address that cannot be listened on ends the run after the
     * configuration is read. */
    const char *args[] = {"serve", "--no-auth", "--listen", "127.0.0.1:99999", "--data", data,
                          "--forwarding", file, NULL};
    char text[4096];
    for(int pass = 0; pass < 2; pass++) {
        cr_assert_eq(chmod(file, pass ? 0600 : 0644), 0);
        unlink(err); /* lg_it_run appends */
        int status = 0;
        free(lg_it_run(args, &status, err));
        FILE *f = fopen(err, "r");
        cr_assert_not_null(f);
        memset(text, 0, sizeof text);
        size_t got = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        (void)got;
        if(pass == 0)
            cr_assert_not_null(strstr(text, "holds platform credentials"), "%s", text);
        else
            cr_assert_null(strstr(text, "holds platform credentials"), "%s", text);
    }
}

Test(forward_webhook, healthcare_service_search_goes_to_the_directory)
{
    /* The directory's port is closed: the proxied search fails as a
     * gateway error with an OperationOutcome - the worker is not held. */
    lg_resp r = lg_http(&srv, "GET", "/HealthcareService?name=food", NULL, NULL);
    cr_assert(r.status == 502 || r.status == 503 || r.status == 504, "%ld %s", r.status, r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome", "%s", r.body);
    lg_resp_free(&r);
    /* A parameter HSDS has no counterpart for is the client's error. */
    r = lg_http(&srv, "GET", "/HealthcareService?no-such-param=1", NULL, NULL);
    cr_assert_eq(r.status, 400, "%s", r.body);
    lg_resp_free(&r);
    /* Reads of a stored HealthcareService stay local. */
    char *id = lg_create(&srv, "HealthcareService",
                         "{\"resourceType\":\"HealthcareService\",\"name\":\"Local pantry\",\"active\":true}");
    r = lg_getf(&srv, "/HealthcareService/%s", id);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "name"), "Local pantry");
    lg_resp_free(&r);
    free(id);
    /* Reporting clients see aggregates only; others need a token. */
    char *tok = lg_it_add_client(&srv, "state-pilot", "reporting", "Organization/state");
    lg_it_reload(&srv, tok);
    r = lg_http_as(&srv, tok, "GET", "/HealthcareService?name=food", NULL, NULL);
    cr_assert_eq(r.status, 403, "%s", r.body);
    lg_resp_free(&r);
    r = lg_http_as(&srv, "", "GET", "/HealthcareService?name=food", NULL, NULL);
    cr_assert_eq(r.status, 401, "%s", r.body);
    lg_resp_free(&r);
    free(tok);
}
