/* uniteus.c - adapter "uniteus": a referral platform with OAuth2 client
 * credentials and HMAC-signed webhooks (docs/forwarding.md, Style A).
 *
 * Pure translation (adapter.h): builds the token, create and cancel
 * requests, reads their replies, verifies and parses webhooks. The token
 * cache lives in the state and is touched only by the forwarder thread;
 * verify/parse_event only read the (immutable) webhook secret, so the HTTP
 * threads may call them concurrently. */
#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter.h"
#include "forward/adapter_util.h"
#include "loopgate/time.h"
#include "uniteus_body.h"

/* A bearer token longer than this is refused: it goes into every header. */
#define UU_MAX_TOKEN 4096
/* Lifetimes outside [1 s, 1 year] are clamped; absent is taken as 1 hour. */
#define UU_DEFAULT_LIFETIME_S 3600
#define UU_MAX_LIFETIME_S (365LL * 24 * 3600)
/* Webhook timestamps further than this from our clock are refused. */
#define UU_WEBHOOK_SKEW_S 300
/* Bounds on what a webhook may carry. */
#define UU_MAX_ID 256
#define UU_MAX_TEXT 4096
#define UU_MAX_EVENT_BODY (1u << 20)

typedef struct uu_state {
    char *token_url, *client_id, *client_secret, *webhook_secret, *scope;
    char *token;          /* the cached access token, or NULL */
    int64_t refresh_at_ms; /* fetch a new one from this instant on */
} uu_state;

static void uu_free_state(void *state)
{
    uu_state *s = state;
    if(!s)
        return;
    free(s->token_url);
    free(s->client_id);
    lg_fwd_wipe_free(s->client_secret);
    lg_fwd_wipe_free(s->webhook_secret);
    free(s->scope);
    lg_fwd_wipe_free(s->token);
    free(s);
}

static lg_status uu_configure(const lg_fwd_platform *p, const cJSON *obj, void **state, lg_issues *issues)
{
    *state = NULL;
    uu_state *s = calloc(1, sizeof *s);
    if(!s)
        return LG_ENOMEM;
    static const char *const keys[] = { "token_url", "client_id", "client_secret", "webhook_secret", "scope" };
    char **slots[] = { &s->token_url, &s->client_id, &s->client_secret, &s->webhook_secret, &s->scope };
    lg_status st = LG_OK;
    /* Read every key before failing, so one load names all that is wrong. */
    for(size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        lg_status r = lg_fwd_setting_string(p, obj, keys[i], i < 4, slots[i], issues);
        if(r != LG_OK && st != LG_ENOMEM)
            st = r;
    }
    if(st == LG_OK && !s->scope && !(s->scope = strdup("referrals")))
        st = LG_ENOMEM;
    if(st != LG_OK)
        goto fail;
    *state = s;
    return LG_OK;
fail:
    uu_free_state(s);
    return st;
}

/* ------------------------------------------------------------ token */

/* application/x-www-form-urlencoded value (RFC 3986 unreserved kept). */
static int uu_auth_request(const lg_fwd_platform *p, void *state, int64_t now_ms, lg_fwd_req *out)
{
    (void)p;
    uu_state *s = state;
    if(s->token && now_ms < s->refresh_at_ms)
        return 0;
    char *cred = NULL, *b64 = NULL, *scope = NULL;
    lg_fwd_req_clear(out);
    size_t cl = strlen(s->client_id) + 1 + strlen(s->client_secret);
    if(!(cred = malloc(cl + 1)) || !(b64 = malloc(4 * ((cl + 2) / 3) + 1)))
        goto fail;
    /* base64(client_id ":" client_secret), as docs/forwarding.md writes it. */
    snprintf(cred, cl + 1, "%s:%s", s->client_id, s->client_secret);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, (int)cl);
    if(!(scope = lg_fwd_escape(s->scope)))
        goto fail;
    memcpy(out->method, "POST", 5);
    if(!(out->url = strdup(s->token_url)) ||
       lg_fwd_req_header(out, "Content-Type: application/x-www-form-urlencoded") != LG_OK ||
       lg_fwd_req_header(out, "Accept: application/json") != LG_OK ||
       lg_fwd_req_header(out, "Authorization: Basic %s", b64) != LG_OK ||
       asprintf(&out->body, "grant_type=client_credentials&scope=%s", scope) < 0)
        goto fail;
    out->body_len = strlen(out->body);
    OPENSSL_cleanse(cred, cl);
    free(cred);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    free(scope);
    return 1;
fail:
    if(cred)
        OPENSSL_cleanse(cred, cl);
    free(cred);
    free(b64);
    free(scope);
    lg_fwd_req_clear(out);
    return -1;
}

/* A token is put in a header as is: RFC 6750 b64token characters only. */
static int token_ok(const char *t, size_t n)
{
    if(n == 0 || n > UU_MAX_TOKEN)
        return 0;
    for(size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if(!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
             c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='))
            return 0;
    }
    return 1;
}

static lg_status uu_auth_response(const lg_fwd_platform *p, void *state, const lg_fwd_resp *resp,
                                  int64_t now_ms, char *msg, size_t msg_len)
{
    (void)p;
    uu_state *s = state;
    cJSON *j = NULL;
    lg_status st;
    char *text = NULL;
    if(resp->status < 200 || resp->status > 299) {
        if(resp->status == 0) {
            snprintf(msg, msg_len, "token endpoint: no response (%.200s)", resp->error ? resp->error : "no error text");
            return LG_EIO;
        }
        text = lg_fwd_error_text(resp->body, resp->body_len);
        snprintf(msg, msg_len, "token endpoint answered %d%s%s", resp->status, text ? ": " : "", text ? text : "");
        free(text);
        /* 408/429/5xx pass; anything else is the credentials or the request. */
        return lg_fwd_verdict_of_status(resp->status, 0) == LG_FWD_RETRY ? LG_EIO : LG_EFORBIDDEN;
    }
    j = lg_fwd_parse_body(resp->body, resp->body_len);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "token_type");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    if(!cJSON_IsString(tok) || !token_ok(tok->valuestring, strlen(tok->valuestring))) {
        snprintf(msg, msg_len, "token endpoint answered %d without a usable access_token", resp->status);
        st = LG_EINVAL;
        goto fail;
    }
    if(type && (!cJSON_IsString(type) || strcasecmp(type->valuestring, "Bearer") != 0)) {
        snprintf(msg, msg_len, "token endpoint gave token_type %.40s, not Bearer",
                 cJSON_IsString(type) ? type->valuestring : "(not a string)");
        st = LG_EINVAL;
        goto fail;
    }
    double life = UU_DEFAULT_LIFETIME_S;
    if(cJSON_IsNumber(exp))
        life = exp->valuedouble;
    else if(cJSON_IsString(exp) && exp->valuestring[0]) /* some servers quote it */
        life = strtod(exp->valuestring, NULL);
    if(!(life >= 1))
        life = 1;
    if(life > (double)UU_MAX_LIFETIME_S)
        life = (double)UU_MAX_LIFETIME_S;
    int64_t life_ms = (int64_t)(life * 1000);
    /* Refresh 60 s before expiry, or a tenth of the lifetime if that is shorter. */
    int64_t margin = life_ms / 10 < 60000 ? life_ms / 10 : 60000;
    char *copy = strdup(tok->valuestring);
    if(!copy) {
        st = LG_ENOMEM;
        snprintf(msg, msg_len, "out of memory");
        goto fail;
    }
    lg_fwd_wipe_free(s->token);
    s->token = copy;
    s->refresh_at_ms = now_ms + life_ms - margin;
    cJSON_Delete(j);
    return LG_OK;
fail:
    cJSON_Delete(j);
    return st;
}

static void uu_auth_invalidate(void *state)
{
    uu_state *s = state;
    lg_fwd_wipe_free(s->token);
    s->token = NULL;
    s->refresh_at_ms = 0;
}

/* ------------------------------------------------------------ delivery */

static lg_status uu_build(const lg_fwd_platform *p, void *state, const lg_fwd_job *job, int step,
                          lg_fwd_req *out, lg_issues *issues)
{
    uu_state *s = state;
    char *esc = NULL;
    lg_status st = LG_EINTERNAL;
    lg_fwd_req_clear(out);
    if(step != 0) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "uniteus delivers in one step (asked for step %d)", step);
        goto fail;
    }
    if(!s->token) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "no access token: auth_request must come first");
        goto fail;
    }
    int cancel = job->kind && strcmp(job->kind, "cancel") == 0;
    if(!cancel && !(job->kind && strcmp(job->kind, "create") == 0)) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", NULL, "unknown job kind '%.32s'", job->kind ? job->kind : "");
        st = LG_EINVAL;
        goto fail;
    }
    memcpy(out->method, "POST", 5);
    if(cancel) {
        if(!job->remote_id || !*job->remote_id) {
            lg_issues_add(issues, LG_SEV_ERROR, "required", NULL, "a cancel needs the platform's referral id");
            st = LG_EINVAL;
            goto fail;
        }
        st = LG_ENOMEM;
        if(!(esc = lg_fwd_escape(job->remote_id)) ||
           lg_fwd_req_url(out, p->base_url, "/v1/referrals/%s/cancel", esc) != LG_OK)
            goto fail;
        st = lg_uu_cancel_body(job, &out->body, issues);
    } else {
        st = LG_ENOMEM;
        if(lg_fwd_req_url(out, p->base_url, "/v1/referrals") != LG_OK)
            goto fail;
        st = lg_uu_create_body(job, &out->body, issues);
    }
    if(st != LG_OK)
        goto fail;
    out->body_len = strlen(out->body);
    st = LG_ENOMEM;
    if(lg_fwd_req_header(out, "Authorization: Bearer %s", s->token) != LG_OK ||
       lg_fwd_req_header(out, "Content-Type: application/json") != LG_OK ||
       lg_fwd_req_header(out, "Accept: application/json") != LG_OK ||
       (job->idempotency_key && lg_fwd_req_header(out, "Idempotency-Key: %s", job->idempotency_key) != LG_OK))
        goto fail;
    free(esc);
    return LG_OK;
fail:
    free(esc);
    lg_fwd_req_clear(out);
    return st;
}

static lg_fwd_verdict uu_parse(const lg_fwd_platform *p, void *state, const lg_fwd_job *job, int step,
                               const lg_fwd_resp *resp, char **remote_id, char **error)
{
    (void)p;
    (void)state;
    (void)step;
    *remote_id = NULL;
    *error = NULL;
    int cancel = job->kind && strcmp(job->kind, "cancel") == 0;
    const char *what = cancel ? "cancel" : "create";
    if(resp->status >= 200 && resp->status <= 299) {
        if(cancel)
            return LG_FWD_DONE;
        cJSON *j = lg_fwd_parse_body(resp->body, resp->body_len);
        *remote_id = lg_fwd_reply_id(j, "id", UU_MAX_ID);
        cJSON_Delete(j);
        if(*remote_id)
            return LG_FWD_DONE;
        char *text = lg_fwd_excerpt(resp->body, resp->body ? resp->body_len : 0, LG_FWD_MAX_ERROR_TEXT);
        if(asprintf(error, "create: HTTP %d without a referral id: %s", resp->status, text ? text : "") < 0)
            *error = NULL;
        free(text);
        return LG_FWD_FAIL;
    }
    *error = lg_fwd_status_error(resp, what);
    return lg_fwd_verdict_of_status(resp->status, 1);
}

/* ------------------------------------------------------------ webhooks */

static int hexval(char c)
{
    if(c >= '0' && c <= '9')
        return c - '0';
    if(c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if(c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* HMAC-SHA256(key, ts "." body) into mac[32]. 0 or -1. */
static int hmac_sha256(const char *key, const char *ts, const char *body, size_t len, unsigned char mac[32])
{
    int rc = -1;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end() };
    size_t outl = 0;
    if(!ctx || !EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) ||
       !EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) ||
       !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
       (len && !EVP_MAC_update(ctx, (const unsigned char *)body, len)) || !EVP_MAC_final(ctx, mac, &outl, 32) ||
       outl != 32)
        goto done;
    rc = 0;
done:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return rc;
}

static lg_status uu_verify(const lg_fwd_platform *p, void *state, lg_fwd_header_fn header, const void *hctx,
                           const char *body, size_t len, int64_t now_ms)
{
    (void)p;
    uu_state *s = state;
    const char *ts = header ? header(hctx, "X-Loopgate-Timestamp") : NULL;
    const char *sig = header ? header(hctx, "X-Loopgate-Signature") : NULL;
    if(!ts || !sig || len > UU_MAX_EVENT_BODY || (!body && len))
        return LG_EFORBIDDEN;
    /* Unix seconds: 1 to 12 digits, nothing else (the text is signed as sent). */
    size_t tl = strnlen(ts, 13);
    if(tl == 0 || tl > 12)
        return LG_EFORBIDDEN;
    int64_t t = 0;
    for(size_t i = 0; i < tl; i++) {
        if(ts[i] < '0' || ts[i] > '9')
            return LG_EFORBIDDEN;
        t = t * 10 + (ts[i] - '0');
    }
    int64_t now_s = now_ms / 1000;
    if(t > now_s + UU_WEBHOOK_SKEW_S || t < now_s - UU_WEBHOOK_SKEW_S)
        return LG_EFORBIDDEN;
    if(strncmp(sig, "sha256=", 7) != 0 || strnlen(sig + 7, 65) != 64)
        return LG_EFORBIDDEN;
    unsigned char given[32], mac[32];
    for(int i = 0; i < 32; i++) {
        int hi = hexval(sig[7 + 2 * i]), lo = hexval(sig[8 + 2 * i]);
        if(hi < 0 || lo < 0)
            return LG_EFORBIDDEN;
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    if(hmac_sha256(s->webhook_secret, ts, body, len, mac) != 0)
        return LG_EFORBIDDEN;
    int diff = CRYPTO_memcmp(given, mac, 32);
    OPENSSL_cleanse(mac, sizeof mac);
    return diff == 0 ? LG_OK : LG_EFORBIDDEN;
}

static lg_status uu_parse_event(const lg_fwd_platform *p, void *state, const char *body, size_t len,
                                lg_fwd_event *out, lg_issues *issues)
{
    (void)p;
    (void)state;
    lg_status st;
    char *type = NULL, *ext = NULL, *when = NULL;
    cJSON *j = NULL;
    lg_fwd_event_clear(out);
    if(len > UU_MAX_EVENT_BODY) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "event body over %u bytes", UU_MAX_EVENT_BODY);
        return LG_EINVAL;
    }
    if(!(j = lg_fwd_parse_body(body, len)) || !cJSON_IsObject(j)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "the event is not a JSON object");
        st = LG_EINVAL;
        goto fail;
    }
    if((st = lg_fwd_member(j, "type", "type", 1, 128, &type, issues)) != LG_OK)
        goto fail;
    if(strcmp(type, "referral.status_changed") != 0) {
        st = LG_ENOTFOUND; /* carries no status: answered 200 and ignored */
        goto fail;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j, "referral");
    if(!cJSON_IsObject(ref)) {
        lg_issues_add(issues, LG_SEV_ERROR, "required", "referral", "referral must be an object");
        st = LG_EINVAL;
        goto fail;
    }
    if((st = lg_fwd_member(j, "event_id", "event_id", 1, UU_MAX_ID, &out->event_id, issues)) != LG_OK ||
       (st = lg_fwd_member(j, "occurred_at", "occurred_at", 0, 64, &when, issues)) != LG_OK ||
       (st = lg_fwd_member(ref, "id", "referral.id", 1, UU_MAX_ID, &out->remote_id, issues)) != LG_OK ||
       (st = lg_fwd_member(ref, "external_id", "referral.external_id", 0, UU_MAX_ID, &ext, issues)) != LG_OK ||
       (st = lg_fwd_member(ref, "status", "referral.status", 1, 64, &out->platform_status, issues)) != LG_OK ||
       (st = lg_fwd_member(ref, "reason", "referral.reason", 0, UU_MAX_TEXT, &out->reason, issues)) != LG_OK ||
       (st = lg_fwd_member(ref, "outcome", "referral.outcome", 0, UU_MAX_TEXT, &out->outcome, issues)) != LG_OK)
        goto fail;
    if(lg_fwd_status_map(out->platform_status, &out->status) != 0) {
        lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", "referral.status", "unknown referral status '%.64s'",
                      out->platform_status);
        st = LG_EINVAL;
        goto fail;
    }
    if(when) {
        int64_t lo, hi;
        if(lg_time_parse_range(when, &lo, &hi) != LG_OK) {
            lg_issues_add(issues, LG_SEV_ERROR, "value", "occurred_at", "occurred_at '%.64s' is not a date-time", when);
            st = LG_EINVAL;
            goto fail;
        }
        out->occurred_ms = lo;
    }
    /* We sent "Task/{id}"; anything else is not ours to trust as a Task id. */
    if(ext && strncmp(ext, "Task/", 5) == 0 && ext[5] && !strchr(ext + 5, '/') && !(out->task_id = strdup(ext + 5))) {
        st = LG_ENOMEM;
        goto fail;
    }
    free(type);
    free(ext);
    free(when);
    cJSON_Delete(j);
    return LG_OK;
fail:
    free(type);
    free(ext);
    free(when);
    cJSON_Delete(j);
    lg_fwd_event_clear(out);
    return st;
}

const lg_fwd_adapter lg_fwd_uniteus = {
    .name = "uniteus",
    .configure = uu_configure,
    .free_state = uu_free_state,
    .auth_request = uu_auth_request,
    .auth_response = uu_auth_response,
    .auth_invalidate = uu_auth_invalidate,
    .build = uu_build,
    .parse = uu_parse,
    .verify = uu_verify,
    .parse_event = uu_parse_event,
};
