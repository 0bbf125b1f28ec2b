/* test_forward_uniteus.c - the "uniteus" adapter (docs/forwarding.md,
 * Style A): configuration, OAuth2 token cache, the exact create and cancel
 * bodies, reply verdicts, webhook signatures (checked against HMACs
 * computed here with OpenSSL and a vector computed outside the project)
 * and webhook events with every row of the status table. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>

#include "lg_test_forward.h"
#include "loopgate/time.h"

#define CONF                                                                                                 \
    "{\"name\":\"uu\",\"adapter\":\"uniteus\",\"base_url\":\"https://api.example.org\","                    \
    "\"token_url\":\"https://auth.example.org/oauth2/token\",\"client_id\":\"loopgate\","                  \
    "\"client_secret\":\"s3cret\",\"webhook_secret\":\"whsec_test\"}"

static lg_fwd_platform P;
static void *S;

static void setup(void)
{
    P = tf_platform("uu", &lg_fwd_uniteus, "https://api.example.org/");
    S = tf_configure(&lg_fwd_uniteus, &P, CONF);
}

static void teardown(void)
{
    lg_fwd_uniteus.free_state(S);
}

TestSuite(uniteus, .init = setup, .fini = teardown);

/* Give the state a token valid for lifetime seconds from now_ms. */
static void get_token(int64_t now_ms, const char *token, int lifetime)
{
    char body[256];
    snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":%d}", token,
             lifetime);
    lg_fwd_resp r = tf_resp(200, body);
    char msg[200] = "";
    cr_assert_eq(lg_fwd_uniteus.auth_response(&P, S, &r, now_ms, msg, sizeof msg), LG_OK, "%s", msg);
}

/* ------------------------------------------------------------ table, configuration */

Test(uniteus, table_finds_every_adapter)
{
    cr_assert_eq(lg_fwd_adapter_find("uniteus"), &lg_fwd_uniteus);
    cr_assert_eq(lg_fwd_adapter_find("findhelp"), &lg_fwd_findhelp);
    cr_assert_eq(lg_fwd_adapter_find("hsds"), &lg_fwd_hsds);
    cr_assert_null(lg_fwd_adapter_find("UNITEUS"));
    cr_assert_null(lg_fwd_adapter_find("onedegree"));
    cr_assert_null(lg_fwd_adapter_find(NULL));
    /* A webhook platform: no polling, no directory search. */
    cr_assert_not_null(lg_fwd_uniteus.verify);
    cr_assert_null(lg_fwd_uniteus.build_poll);
    cr_assert_null(lg_fwd_uniteus.build_search);
}

Test(uniteus, configure_names_every_missing_setting)
{
    cJSON *o = cJSON_Parse("{\"name\":\"uu\",\"adapter\":\"uniteus\",\"base_url\":\"https://x\"}");
    lg_issues is = { 0 };
    void *st = (void *)1;
    cr_assert_eq(lg_fwd_uniteus.configure(&P, o, &st, &is), LG_EINVAL);
    cr_assert_null(st);
    cr_assert_eq(is.count, 4);
    const char *want[] = { "token_url", "client_id", "client_secret", "webhook_secret" };
    for(size_t i = 0; i < 4; i++) {
        char loc[100];
        snprintf(loc, sizeof loc, "platforms.where(name='uu').%s", want[i]);
        cr_assert_str_eq(is.items[i].location, loc);
        cr_assert_str_eq(is.items[i].code, "required");
    }
    lg_issues_free(&is);
    cJSON_Delete(o);
}

Test(uniteus, configure_refuses_bad_values)
{
    static const char *const bad[] = {
        "{\"token_url\":\"https://t\",\"client_id\":\"a\",\"client_secret\":\"b\",\"webhook_secret\":7}",
        "{\"token_url\":\"https://t\",\"client_id\":\"\",\"client_secret\":\"b\",\"webhook_secret\":\"w\"}",
        /* a CR/LF would split the Authorization header */
        "{\"token_url\":\"https://t\",\"client_id\":\"a\",\"client_secret\":\"b\\r\\nX: y\",\"webhook_secret\":\"w\"}",
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *o = cJSON_Parse(bad[i]);
        lg_issues is = { 0 };
        void *st = NULL;
        cr_assert_eq(lg_fwd_uniteus.configure(&P, o, &st, &is), LG_EINVAL, "case %zu", i);
        cr_assert_null(st);
        cr_assert_eq(is.count, 1, "case %zu", i);
        cr_assert_str_eq(is.items[0].code, "value");
        lg_issues_free(&is);
        cJSON_Delete(o);
    }
}

/* ------------------------------------------------------------ token */

Test(uniteus, token_request_is_client_credentials_with_basic_auth)
{
    lg_fwd_req r = { 0 };
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, 1000, &r), 1);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.url, "https://auth.example.org/oauth2/token");
    /* base64("loopgate:s3cret"), computed outside the project */
    cr_assert_str_eq(tf_header(&r, "Authorization"), "Basic bG9vcGdhdGU6czNjcmV0");
    cr_assert_str_eq(tf_header(&r, "Content-Type"), "application/x-www-form-urlencoded");
    cr_assert_eq(r.body_len, strlen("grant_type=client_credentials&scope=referrals"));
    cr_assert_str_eq(r.body, "grant_type=client_credentials&scope=referrals");
    lg_fwd_req_clear(&r);
}

Test(uniteus, token_is_cached_and_refreshed_60s_before_expiry)
{
    const int64_t t0 = 1764547200000;
    get_token(t0, "tok-A", 3600);
    lg_fwd_req r = { 0 };
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, t0, &r), 0);
    cr_assert_null(r.url);
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, t0 + 3540000 - 1, &r), 0);
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, t0 + 3540000, &r), 1);
    lg_fwd_req_clear(&r);
}

Test(uniteus, short_token_is_refreshed_a_tenth_of_its_life_early)
{
    const int64_t t0 = 5000000;
    get_token(t0, "tok-B", 300); /* a tenth: 30 s, shorter than 60 s */
    lg_fwd_req r = { 0 };
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, t0 + 270000 - 1, &r), 0);
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, t0 + 270000, &r), 1);
    lg_fwd_req_clear(&r);
}

Test(uniteus, invalidate_forgets_the_token)
{
    get_token(0, "tok-C", 3600);
    lg_fwd_req r = { 0 };
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, 1000, &r), 0);
    lg_fwd_uniteus.auth_invalidate(S);
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, 1000, &r), 1);
    lg_fwd_req_clear(&r);
    /* and build refuses to send without one */
    lg_referral ref = tf_referral();
    lg_fwd_job job = tf_job("create", &ref, NULL);
    lg_issues is = { 0 };
    cr_assert_neq(lg_fwd_uniteus.build(&P, S, &job, 0, &r, &is), LG_OK);
    cr_assert_null(r.url);
    lg_issues_free(&is);
}

Test(uniteus, token_failures_say_why)
{
    char msg[300];
    lg_fwd_resp r = tf_resp(401, "{\"error\":\"invalid_client\",\"error_description\":\"unknown client loopgate\"}");
    cr_assert_eq(lg_fwd_uniteus.auth_response(&P, S, &r, 0, msg, sizeof msg), LG_EFORBIDDEN);
    cr_assert(strstr(msg, "401") && strstr(msg, "unknown client loopgate"), "%s", msg);
    r = tf_resp(503, "busy");
    cr_assert_eq(lg_fwd_uniteus.auth_response(&P, S, &r, 0, msg, sizeof msg), LG_EIO);
    r = tf_resp(0, NULL);
    cr_assert_eq(lg_fwd_uniteus.auth_response(&P, S, &r, 0, msg, sizeof msg), LG_EIO);
    cr_assert(strstr(msg, "Connection refused"), "%s", msg);
    static const char *const bad[] = {
        "{\"token_type\":\"Bearer\",\"expires_in\":3600}",
        "{\"access_token\":\"has space\",\"expires_in\":3600}",
        "{\"access_token\":\"ok\",\"token_type\":\"mac\"}",
        "not json",
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = tf_resp(200, bad[i]);
        cr_assert_eq(lg_fwd_uniteus.auth_response(&P, S, &r, 0, msg, sizeof msg), LG_EINVAL, "case %zu", i);
    }
    /* a token is bounded: 4096 characters pass, 4097 do not */
    char *big = malloc(4200), *body = malloc(4300);
    memset(big, 'a', 4097);
    big[4097] = '\0';
    snprintf(body, 4300, "{\"access_token\":\"%s\",\"expires_in\":60}", big);
    r = tf_resp(200, body);
    cr_assert_eq(lg_fwd_uniteus.auth_response(&P, S, &r, 0, msg, sizeof msg), LG_EINVAL);
    big[4096] = '\0';
    snprintf(body, 4300, "{\"access_token\":\"%s\",\"expires_in\":60}", big);
    r = tf_resp(200, body);
    cr_assert_eq(lg_fwd_uniteus.auth_response(&P, S, &r, 0, msg, sizeof msg), LG_OK, "%s", msg);
    free(big);
    free(body);
    /* nothing failed above left a token behind except the last */
    lg_fwd_req q = { 0 };
    cr_assert_eq(lg_fwd_uniteus.auth_request(&P, S, 1000, &q), 0);
}

/* ------------------------------------------------------------ create / cancel */

static cJSON *build_body(lg_fwd_job *job, lg_fwd_req *r)
{
    lg_issues is = { 0 };
    lg_status st = lg_fwd_uniteus.build(&P, S, job, 0, r, &is);
    cr_assert_eq(st, LG_OK, "build: %s", is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
    cr_assert_not_null(r->body);
    cr_assert_eq(r->body_len, strlen(r->body));
    cJSON *j = cJSON_Parse(r->body);
    cr_assert_not_null(j, "body is JSON: %s", r->body);
    return j;
}

Test(uniteus, create_request_and_body)
{
    get_token(0, "tok-D", 3600);
    lg_referral ref = tf_referral();
    lg_child child = tf_child();
    lg_fwd_job job = tf_job("create", &ref, &child);
    lg_fwd_req r = { 0 };
    cJSON *b = build_body(&job, &r);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.url, "https://api.example.org/v1/referrals");
    cr_assert_str_eq(tf_header(&r, "Authorization"), "Bearer tok-D");
    cr_assert_str_eq(tf_header(&r, "Idempotency-Key"), "lg-task-1-create-42");
    cr_assert_str_eq(tf_header(&r, "Content-Type"), "application/json");

    cr_assert_str_eq(tf_str(b, "external_id"), "Task/task-1");
    cr_assert_str_eq(tf_str(b, "service_request_id"), "sr-1");
    cr_assert_str_eq(tf_str(b, "receiving_program_id"), "prog-123");
    const cJSON *so = cJSON_GetObjectItem(b, "sending_organization");
    cr_assert_str_eq(tf_str(so, "reference"), "Organization/clinic-1");
    cr_assert_str_eq(tf_str(so, "name"), "Eastside Clinic Inc.");
    const cJSON *p = cJSON_GetObjectItem(b, "person");
    cr_assert_str_eq(tf_str(p, "first_name"), "Ana");
    cr_assert_str_eq(tf_str(p, "last_name"), "Rivera");
    cr_assert_str_eq(tf_str(p, "date_of_birth"), "2015-04-02");
    cr_assert_str_eq(tf_str(p, "preferred_language"), "es");
    cr_assert_str_eq(tf_str(p, "dialect"), "mexicano"); /* the need of the preferred language */
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(p, "interpreter_needed")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(p, "contact_allowed")));
    const cJSON *cg = cJSON_GetObjectItem(p, "caregivers");
    cr_assert_eq(cJSON_GetArraySize(cg), 1, "only the caregiver who may be contacted");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(cg, 0), "name"), "Maria Rivera");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(cg, 0), "relationship"), "mother");
    const cJSON *m = cJSON_GetObjectItem(cJSON_GetArrayItem(cg, 0), "methods");
    cr_assert_eq(cJSON_GetArraySize(m), 2);
    cr_assert_str_eq(cJSON_GetArrayItem(m, 0)->valuestring, "phone");
    cr_assert_str_eq(cJSON_GetArrayItem(m, 1)->valuestring, "sms");
    const cJSON *n = cJSON_GetObjectItem(b, "need");
    cr_assert_str_eq(tf_str(n, "category"), "food-insecurity"); /* the first specific category */
    cr_assert_str_eq(tf_str(n, "code"), "464001000124107");
    cr_assert_str_eq(tf_str(n, "system"), "http://snomed.info/sct");
    cr_assert_str_eq(tf_str(n, "description"), "Food pantry, weekly box");
    cr_assert_str_eq(tf_str(b, "priority"), "urgent");
    cr_assert_null(cJSON_GetObjectItem(b, "notes"), "absent values are left out");
    cJSON_Delete(b);
    lg_fwd_req_clear(&r);
}

Test(uniteus, no_contact_details_when_contact_is_prohibited)
{
    get_token(0, "tok-E", 3600);
    lg_referral ref = tf_referral();
    ref.contact_prohibited = true;
    lg_child child = tf_child();
    lg_fwd_job job = tf_job("create", &ref, &child);
    lg_fwd_req r = { 0 };
    cJSON *b = build_body(&job, &r);
    const cJSON *p = cJSON_GetObjectItem(b, "person");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(p, "contact_allowed")));
    cr_assert_null(cJSON_GetObjectItem(p, "caregivers"));
    cr_assert_null(strstr(r.body, "Maria"), "no caregiver anywhere: %s", r.body);
    cr_assert_null(strstr(r.body, "phone"));
    cr_assert_str_eq(tf_str(p, "first_name"), "Ana");
    cJSON_Delete(b);
    lg_fwd_req_clear(&r);
}

Test(uniteus, absent_values_are_left_out)
{
    get_token(0, "tok-F", 3600);
    lg_referral ref;
    memset(&ref, 0, sizeof ref);
    lg_fwd_job job = tf_job("create", &ref, NULL);
    job.referrer_name = NULL;
    lg_fwd_req r = { 0 };
    cJSON *b = build_body(&job, &r);
    /* external_id, receiving_program_id and person.contact_allowed only */
    cr_assert_eq(cJSON_GetArraySize(b), 3, "%s", r.body);
    cr_assert_str_eq(tf_str(b, "external_id"), "Task/task-1");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "person")), 1);
    cJSON_Delete(b);
    lg_fwd_req_clear(&r);

    lg_issues is = { 0 };
    job.target = NULL;
    cr_assert_eq(lg_fwd_uniteus.build(&P, S, &job, 0, &r, &is), LG_EINVAL);
    cr_assert_null(r.url);
    lg_issues_free(&is);
}

Test(uniteus, cancel_request_and_body)
{
    get_token(0, "tok-G", 3600);
    lg_referral ref = tf_referral();
    lg_fwd_job job = tf_job("cancel", &ref, NULL);
    job.remote_id = "R 17/x"; /* escaped into the path */
    lg_fwd_req r = { 0 };
    cJSON *b = build_body(&job, &r);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.url, "https://api.example.org/v1/referrals/R%2017%2Fx/cancel");
    cr_assert_str_eq(tf_header(&r, "Idempotency-Key"), "lg-task-1-cancel-43");
    cr_assert_str_eq(tf_header(&r, "Authorization"), "Bearer tok-G");
    cr_assert_str_eq(tf_str(b, "reason"), "family moved away");
    cr_assert_eq(cJSON_GetArraySize(b), 1);
    cJSON_Delete(b);
    lg_fwd_req_clear(&r);

    lg_issues is = { 0 };
    job.remote_id = NULL;
    cr_assert_eq(lg_fwd_uniteus.build(&P, S, &job, 0, &r, &is), LG_EINVAL);
    job.remote_id = "R-17";
    job.kind = "update";
    cr_assert_eq(lg_fwd_uniteus.build(&P, S, &job, 0, &r, &is), LG_EINVAL);
    job.kind = "cancel";
    cr_assert_neq(lg_fwd_uniteus.build(&P, S, &job, 1, &r, &is), LG_OK, "one step only");
    cr_assert_null(r.url);
    lg_issues_free(&is);
}

/* ------------------------------------------------------------ reply verdicts */

static lg_fwd_verdict parse(const char *kind, int status, const char *body, char **rid, char **err)
{
    lg_referral ref = tf_referral();
    lg_fwd_job job = tf_job(kind, &ref, NULL);
    lg_fwd_resp r = tf_resp(status, body);
    return lg_fwd_uniteus.parse(&P, S, &job, 0, &r, rid, err);
}

Test(uniteus, parse_success_needs_an_id)
{
    char *rid, *err;
    cr_assert_eq(parse("create", 201, "{\"id\":\"R-17\",\"status\":\"pending\"}", &rid, &err), LG_FWD_DONE);
    cr_assert_str_eq(rid, "R-17");
    cr_assert_null(err);
    free(rid);
    /* a repeated Idempotency-Key answers 200 with the same body */
    cr_assert_eq(parse("create", 200, "{\"id\":\"R-17\"}", &rid, &err), LG_FWD_DONE);
    cr_assert_str_eq(rid, "R-17");
    free(rid);
    static const char *const noid[] = { "{\"status\":\"pending\"}", "{\"id\":17}", "{\"id\":\"\"}", "<html>", NULL };
    for(size_t i = 0; i < 5; i++) {
        cr_assert_eq(parse("create", 201, noid[i], &rid, &err), LG_FWD_FAIL, "case %zu", i);
        cr_assert_null(rid);
        cr_assert_not_null(err);
        cr_assert(strstr(err, "without a referral id"), "%s", err);
        free(err);
    }
    cr_assert_eq(parse("cancel", 200, "{}", &rid, &err), LG_FWD_DONE);
    cr_assert_null(rid);
    cr_assert_null(err);
}

Test(uniteus, parse_maps_failures)
{
    char *rid, *err;
    cr_assert_eq(parse("create", 401, "{\"message\":\"token expired\"}", &rid, &err), LG_FWD_REAUTH);
    cr_assert(strstr(err, "401"), "%s", err);
    free(err);
    const int retry[] = { 0, 408, 429, 500, 502, 503, 504 };
    for(size_t i = 0; i < sizeof retry / sizeof retry[0]; i++) {
        cr_assert_eq(parse("create", retry[i], "oops", &rid, &err), LG_FWD_RETRY, "status %d", retry[i]);
        cr_assert_not_null(err);
        free(err);
    }
    const int fail[] = { 400, 403, 404, 409, 410, 422 };
    for(size_t i = 0; i < sizeof fail / sizeof fail[0]; i++) {
        cr_assert_eq(parse("create", fail[i], "{\"error\":{\"message\":\"receiving_program_id unknown\"}}", &rid, &err),
                     LG_FWD_FAIL, "status %d", fail[i]);
        cr_assert_null(rid);
        char want[16];
        snprintf(want, sizeof want, "HTTP %d", fail[i]);
        cr_assert(strstr(err, want) && strstr(err, "receiving_program_id unknown"), "%s", err);
        free(err);
    }
}

Test(uniteus, parse_error_text_is_bounded_and_one_line)
{
    char *body = malloc(10001), *rid, *err;
    memset(body, 'x', 10000);
    body[10000] = '\0';
    body[5] = '\n';
    cr_assert_eq(parse("create", 422, body, &rid, &err), LG_FWD_FAIL);
    cr_assert_lt(strlen(err), 300);
    cr_assert_null(strchr(err, '\n'));
    cr_assert(strstr(err, "..."));
    free(err);
    free(body);
}

/* ------------------------------------------------------------ webhooks */

static const char EVENT[] = "{\"event_id\":\"evt-81\",\"type\":\"referral.status_changed\","
                            "\"occurred_at\":\"2026-11-30T20:00:00Z\",\"referral\":{\"id\":\"R-17\","
                            "\"external_id\":\"Task/task-1\",\"status\":\"declined\",\"reason\":\"at capacity\","
                            "\"outcome\":\"none\"}}";

/* "sha256=" + hex HMAC-SHA256(key, ts "." body), with OpenSSL's one-shot HMAC(). */
static void sign(const char *key, const char *ts, const char *body, char out[72])
{
    size_t tl = strlen(ts), bl = strlen(body);
    unsigned char *msg = malloc(tl + 1 + bl), mac[32];
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, bl);
    unsigned int ml = 0;
    cr_assert_not_null(HMAC(EVP_sha256(), key, (int)strlen(key), msg, tl + 1 + bl, mac, &ml));
    cr_assert_eq(ml, 32);
    free(msg);
    memcpy(out, "sha256=", 7);
    for(int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
}

static lg_status verify(const char *ts, const char *sig, const char *body, int64_t now_ms)
{
    const char *h[] = { "Content-Type", "application/json", "x-loopgate-timestamp", ts, "X-LOOPGATE-SIGNATURE", sig,
                        NULL };
    if(!ts)
        h[2] = "X-Other";
    if(!sig)
        h[4] = "X-Other";
    return lg_fwd_uniteus.verify(&P, S, tf_lookup, h, body, strlen(body), now_ms);
}

Test(uniteus, verify_accepts_a_known_vector)
{
    /* HMAC-SHA256("whsec_test", "1764547200.{\"event_id\":\"evt-1\"}"), computed with Python's hmac */
    const char *sig = "sha256=cd22e4faae81f8a6024ded11ea46cecde7e519cb7fd19889b87ed53efa7ac65f";
    cr_assert_eq(verify("1764547200", sig, "{\"event_id\":\"evt-1\"}", 1764547200000), LG_OK);
    const char *upper = "sha256=CD22E4FAAE81F8A6024DED11EA46CECDE7E519CB7FD19889B87ED53EFA7AC65F";
    cr_assert_eq(verify("1764547200", upper, "{\"event_id\":\"evt-1\"}", 1764547200000), LG_OK);
    cr_assert_eq(verify("1764547200", sig, "{\"event_id\":\"evt-2\"}", 1764547200000), LG_EFORBIDDEN);
}

Test(uniteus, verify_checks_signature_and_clock)
{
    const int64_t now = 1764547200000;
    char sig[72];
    sign("whsec_test", "1764547200", EVENT, sig);
    cr_assert_eq(verify("1764547200", sig, EVENT, now), LG_OK);
    /* 300 s either way is still fresh; 301 s is not */
    cr_assert_eq(verify("1764547200", sig, EVENT, now + 300000), LG_OK);
    cr_assert_eq(verify("1764547200", sig, EVENT, now - 300000), LG_OK);
    cr_assert_eq(verify("1764547200", sig, EVENT, now + 301000), LG_EFORBIDDEN);
    cr_assert_eq(verify("1764547200", sig, EVENT, now - 301000), LG_EFORBIDDEN);
    /* the timestamp is signed: moving it breaks the signature */
    cr_assert_eq(verify("1764547201", sig, EVENT, now), LG_EFORBIDDEN);
    /* a tampered body */
    char *t = strdup(EVENT);
    strstr(t, "declined")[0] = 'D';
    cr_assert_eq(verify("1764547200", sig, t, now), LG_EFORBIDDEN);
    free(t);
    /* another secret */
    char other[72];
    sign("whsec_other", "1764547200", EVENT, other);
    cr_assert_eq(verify("1764547200", other, EVENT, now), LG_EFORBIDDEN);
    /* missing or malformed headers */
    cr_assert_eq(verify(NULL, sig, EVENT, now), LG_EFORBIDDEN);
    cr_assert_eq(verify("1764547200", NULL, EVENT, now), LG_EFORBIDDEN);
    cr_assert_eq(verify("1764547200", sig + 7, EVENT, now), LG_EFORBIDDEN);
    cr_assert_eq(verify("1764547200.0", sig, EVENT, now), LG_EFORBIDDEN);
    cr_assert_eq(verify("-1764547200", sig, EVENT, now), LG_EFORBIDDEN);
    cr_assert_eq(verify("", sig, EVENT, now), LG_EFORBIDDEN);
    char cut[72];
    memcpy(cut, sig, 70);
    cut[70] = '\0';
    cr_assert_eq(verify("1764547200", cut, EVENT, now), LG_EFORBIDDEN);
    char longer[80];
    snprintf(longer, sizeof longer, "%s00", sig);
    cr_assert_eq(verify("1764547200", longer, EVENT, now), LG_EFORBIDDEN);
    char nonhex[72];
    memcpy(nonhex, sig, 72);
    nonhex[10] = 'g';
    cr_assert_eq(verify("1764547200", nonhex, EVENT, now), LG_EFORBIDDEN);
}

Test(uniteus, verify_reads_only_len_bytes)
{
    /* the body is not NUL-terminated (an HTTP buffer): sign the prefix only */
    const int64_t now = 1764547200000;
    char sig[72];
    sign("whsec_test", "1764547200", "{\"a\":1}", sig);
    char *buf = malloc(7);
    memcpy(buf, "{\"a\":1}", 7);
    const char *h[] = { "X-Loopgate-Timestamp", "1764547200", "X-Loopgate-Signature", sig, NULL };
    cr_assert_eq(lg_fwd_uniteus.verify(&P, S, tf_lookup, h, buf, 7, now), LG_OK);
    cr_assert_eq(lg_fwd_uniteus.verify(&P, S, tf_lookup, h, buf, 6, now), LG_EFORBIDDEN);
    free(buf);
}

Test(uniteus, parse_event_reads_every_field)
{
    lg_fwd_event e = { 0 };
    lg_issues is = { 0 };
    cr_assert_eq(lg_fwd_uniteus.parse_event(&P, S, EVENT, strlen(EVENT), &e, &is), LG_OK);
    cr_assert_str_eq(e.event_id, "evt-81");
    cr_assert_str_eq(e.remote_id, "R-17");
    cr_assert_str_eq(e.task_id, "task-1");
    cr_assert_str_eq(e.platform_status, "declined");
    cr_assert_eq(e.status, LG_TASK_REJECTED);
    cr_assert_str_eq(e.reason, "at capacity");
    cr_assert_str_eq(e.outcome, "none");
    int64_t lo, hi;
    cr_assert_eq(lg_time_parse_range("2026-11-30T20:00:00Z", &lo, &hi), LG_OK);
    cr_assert_eq(e.occurred_ms, lo);
    cr_assert_eq(e.occurred_ms, 1796068800000); /* python: datetime(2026,11,30,20,tzinfo=utc) */
    cr_assert_eq(is.count, 0);
    lg_fwd_event_clear(&e);
}

static lg_status event_with(const char *status, lg_fwd_event *e, lg_issues *is)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"event_id\":\"e1\",\"type\":\"referral.status_changed\",\"referral\":{\"id\":\"R-1\","
             "\"status\":\"%s\"}}",
             status);
    return lg_fwd_uniteus.parse_event(&P, S, body, strlen(body), e, is);
}

Test(uniteus, status_table_every_row)
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
        lg_fwd_event e = { 0 };
        lg_issues is = { 0 };
        cr_assert_eq(event_with(rows[i].platform, &e, &is), LG_OK, "%s", rows[i].platform);
        cr_assert_eq(e.status, rows[i].want, "%s -> %s", rows[i].platform, lg_task_status_code(e.status));
        cr_assert_str_eq(e.platform_status, rows[i].platform);
        cr_assert_null(e.task_id);
        cr_assert_eq(e.occurred_ms, INT64_MIN, "no occurred_at: unknown");
        lg_fwd_event_clear(&e);
        lg_issues_free(&is);
    }
    static const char *const unknown[] = { "Accepted", "in-progress", "closed", "rejected", "" };
    for(size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        lg_fwd_event e = { 0 };
        lg_issues is = { 0 };
        cr_assert_eq(event_with(unknown[i], &e, &is), LG_EINVAL, "'%s'", unknown[i]);
        cr_assert_str_eq(is.items[0].location, "referral.status");
        cr_assert_null(e.event_id, "nothing half-filled");
        lg_issues_free(&is);
    }
}

Test(uniteus, parse_event_other_types_and_bad_events)
{
    lg_fwd_event e = { 0 };
    lg_issues is = { 0 };
    const char *other = "{\"event_id\":\"e2\",\"type\":\"referral.note_added\",\"referral\":{\"id\":\"R-1\"}}";
    cr_assert_eq(lg_fwd_uniteus.parse_event(&P, S, other, strlen(other), &e, &is), LG_ENOTFOUND);
    cr_assert_eq(is.count, 0);
    static const struct {
        const char *body, *loc;
    } bad[] = {
        { "[1,2]", NULL },
        { "{\"event_id\":\"e\",\"type\":\"referral.status_changed\"", NULL },
        { "{\"type\":\"referral.status_changed\",\"referral\":{\"id\":\"R\",\"status\":\"sent\"}}", "event_id" },
        { "{\"event_id\":\"e\",\"referral\":{\"id\":\"R\",\"status\":\"sent\"}}", "type" },
        { "{\"event_id\":\"e\",\"type\":\"referral.status_changed\"}", "referral" },
        { "{\"event_id\":\"e\",\"type\":\"referral.status_changed\",\"referral\":{\"status\":\"sent\"}}", "referral.id" },
        { "{\"event_id\":\"e\",\"type\":\"referral.status_changed\",\"referral\":{\"id\":\"R\"}}", "referral.status" },
        { "{\"event_id\":\"e\",\"type\":\"referral.status_changed\",\"occurred_at\":\"yesterday\","
          "\"referral\":{\"id\":\"R\",\"status\":\"sent\"}}",
          "occurred_at" },
        { "{\"event_id\":\"e\",\"type\":\"referral.status_changed\",\"occurred_at\":\"2026-02-30T10:00:00Z\","
          "\"referral\":{\"id\":\"R\",\"status\":\"sent\"}}",
          "occurred_at" },
        { "{\"event_id\":7,\"type\":\"referral.status_changed\",\"referral\":{\"id\":\"R\",\"status\":\"sent\"}}",
          "event_id" },
    };
    for(size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(lg_fwd_uniteus.parse_event(&P, S, bad[i].body, strlen(bad[i].body), &e, &is), LG_EINVAL,
                     "case %zu", i);
        cr_assert_geq(is.count, 1);
        if(bad[i].loc)
            cr_assert_str_eq(is.items[is.count - 1].location, bad[i].loc, "case %zu", i);
        cr_assert_null(e.event_id);
        lg_issues_free(&is);
    }
    /* an event id is bounded */
    char body[700];
    char id[300];
    memset(id, 'e', 257);
    id[257] = '\0';
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"type\":\"referral.status_changed\",\"referral\":{\"id\":\"R\",\"status\":\"sent\"}}",
             id);
    cr_assert_eq(lg_fwd_uniteus.parse_event(&P, S, body, strlen(body), &e, &is), LG_EINVAL);
    lg_issues_free(&is);
}

Test(uniteus, parse_event_reads_only_len_bytes)
{
    /* the HTTP body carries no NUL; what follows it must not be read */
    size_t n = strlen(EVENT);
    char *buf = malloc(n);
    memcpy(buf, EVENT, n);
    lg_fwd_event e = { 0 };
    lg_issues is = { 0 };
    cr_assert_eq(lg_fwd_uniteus.parse_event(&P, S, buf, n, &e, &is), LG_OK);
    cr_assert_str_eq(e.event_id, "evt-81");
    lg_fwd_event_clear(&e);
    cr_assert_eq(lg_fwd_uniteus.parse_event(&P, S, buf, n - 1, &e, &is), LG_EINVAL);
    lg_issues_free(&is);
    free(buf);
}
