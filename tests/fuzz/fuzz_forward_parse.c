/* fuzz_forward_parse.c - libFuzzer target: what directory platforms send
 * Loopgate (issue #5). The first byte picks the parser, the rest is the
 * input:
 *   0  a Style A webhook body (uniteus parse_event; the signature is
 *      checked before this in the server, but a platform's own bugs or a
 *      leaked secret still reach it)
 *   1  a Style B poll answer (findhelp parse_poll)
 *   2  an HSDS /services page (hsds parse_search), as the answer to a
 *      fixed query
 *   3  a FHIR HealthcareService query string (hsds build_search: any
 *      authenticated client writes it)
 *   4  a forwarding.json (the configuration, with the real adapters)
 *   5  a reply to a referral create, any status (uniteus and findhelp parse)
 *   7  an OAuth2 token endpoint's reply (uniteus auth_response)
 *
 * Contracts checked (a broken one aborts, reported like a crash): a
 * refusal always says why (an issue, or an error text), success fills what
 * it promises (event id, remote id and a status in range; a searchset
 * Bundle), and nothing outlives the call (ASan's leak check). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter.h"
#include "forward/internal.h"

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if(!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_forward_parse: contract broken: %s (line %d)\n",   \
                    #cond, __LINE__);                                                 \
            abort();                                                                  \
        }                                                                             \
    } while(0)

/* One platform per style, configured once; read-only afterwards. */
static lg_fwd_config *cfg;
static const lg_fwd_platform *uu, *fh, *dir;

static const char config_json[] =
    "{\"platforms\":["
    "{\"name\":\"uu\",\"adapter\":\"uniteus\",\"base_url\":\"http://127.0.0.1:9\","
    "\"token_url\":\"http://127.0.0.1:9/token\",\"client_id\":\"c\",\"client_secret\":\"s\","
    "\"webhook_secret\":\"w\"},"
    "{\"name\":\"fh\",\"adapter\":\"findhelp\",\"base_url\":\"http://127.0.0.1:9\",\"api_key\":\"k\"},"
    "{\"name\":\"dir\",\"adapter\":\"hsds\",\"base_url\":\"http://127.0.0.1:9/api\"}],"
    "\"routes\":[{\"owner\":\"Organization/cbo-1\",\"platform\":\"uu\",\"target\":\"p-1\"}],"
    "\"directory\":\"dir\"}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    lg_issues is = {0};
    if(lg_fwd_config_parse(config_json, sizeof config_json - 1, lg_fwd_adapter_find, &cfg, &is) != LG_OK) {
        fprintf(stderr, "fuzz_forward_parse: the seed configuration does not load\n");
        exit(1);
    }
    lg_issues_free(&is);
    uu = lg_fwd_platform_get(cfg, "uu", NULL);
    fh = lg_fwd_platform_get(cfg, "fh", NULL);
    dir = lg_fwd_platform_get(cfg, "dir", NULL);
    if(!uu || !fh || !dir)
        exit(1);
    return 0;
}

static void check_event(lg_status st, const lg_fwd_event *ev, const lg_issues *is, int need_issue)
{
    if(st == LG_OK) {
        CHECK(ev->event_id && *ev->event_id);
        CHECK(ev->remote_id || ev->task_id);
        CHECK((int)ev->status >= 0 && ev->status < LG_TASK_STATUS_COUNT);
    } else if(need_issue && st == LG_EINVAL) {
        CHECK(lg_issues_errors(is) > 0);
    }
}

static void fuzz_event(const char *body, size_t len)
{
    lg_fwd_event ev;
    memset(&ev, 0, sizeof ev);
    lg_issues is = {0};
    lg_status st = uu->adapter->parse_event(uu, uu->state, body, len, &ev, &is);
    check_event(st, &ev, &is, 1);
    lg_fwd_event_clear(&ev);
    lg_issues_free(&is);
}

static void fuzz_poll(const char *body, size_t len)
{
    lg_fwd_event ev;
    memset(&ev, 0, sizeof ev);
    lg_fwd_resp resp = {.status = 200, .body = body, .body_len = len,
                        .content_type = "application/json"};
    lg_status st = fh->adapter->parse_poll(fh, fh->state, "F-1", &resp, &ev);
    check_event(st, &ev, NULL, 0);
    lg_fwd_event_clear(&ev);
}

static void fuzz_page(const char *body, size_t len)
{
    cJSON *bundle = NULL;
    lg_issues is = {0};
    lg_fwd_resp resp = {.status = 200, .body = body, .body_len = len,
                        .content_type = "application/json"};
    lg_status st = dir->adapter->parse_search(dir, dir->state, "name=food&_count=5",
                                              "http://127.0.0.1:8080", &resp, &bundle, &is);
    if(st == LG_OK) {
        CHECK(bundle);
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(bundle, "resourceType");
        CHECK(cJSON_IsString(rt) && strcmp(rt->valuestring, "Bundle") == 0);
    } else {
        CHECK(!bundle);
        CHECK(lg_issues_errors(&is) > 0);
    }
    cJSON_Delete(bundle);
    lg_issues_free(&is);
}

static void fuzz_query(const char *data, size_t len)
{
    /* A query string arrives NUL-terminated from the HTTP layer. */
    char *q = malloc(len + 1);
    if(!q)
        return;
    memcpy(q, data, len);
    q[len] = '\0';
    lg_fwd_req req;
    memset(&req, 0, sizeof req);
    lg_issues is = {0};
    lg_status st = dir->adapter->build_search(dir, dir->state, q, &req, &is);
    if(st == LG_OK)
        CHECK(req.url && strncmp(req.url, "http://127.0.0.1:9/api/services", 31) == 0);
    else if(st == LG_EINVAL)
        CHECK(lg_issues_errors(&is) > 0);
    lg_fwd_req_clear(&req);
    lg_issues_free(&is);
    free(q);
}

static void fuzz_config(const char *data, size_t len)
{
    lg_fwd_config *c = NULL;
    lg_issues is = {0};
    lg_status st = lg_fwd_config_parse(data, len, lg_fwd_adapter_find, &c, &is);
    if(st == LG_OK)
        CHECK(c);
    else if(st == LG_EINVAL)
        CHECK(!c && lg_issues_errors(&is) > 0);
    lg_fwd_config_free(c);
    lg_issues_free(&is);
}

static void fuzz_reply(const char *body, size_t len, int status)
{
    static lg_referral r;
    lg_fwd_job job;
    memset(&job, 0, sizeof job);
    job.job_id = 1;
    job.kind = "create";
    job.idempotency_key = "lg-t-create-1";
    job.task_id = "t";
    job.target = "p-1";
    job.referral = &r;
    lg_fwd_resp resp = {.status = status, .body = body, .body_len = len,
                        .content_type = "application/json"};
    const lg_fwd_platform *ps[2] = {uu, fh};
    for(int i = 0; i < 2; i++) {
        char *remote = NULL, *err = NULL;
        int step = i == 1; /* findhelp: the create itself is step 1 */
        lg_fwd_verdict v = ps[i]->adapter->parse(ps[i], ps[i]->state, &job, step, &resp, &remote, &err);
        if(v == LG_FWD_DONE)
            CHECK(remote && *remote);
        else if(v != LG_FWD_NEXT)
            CHECK(err && *err);
        free(remote);
        free(err);
    }
}

static void fuzz_token(const char *body, size_t len)
{
    char msg[256] = "";
    lg_fwd_resp resp = {.status = 200, .body = body, .body_len = len,
                        .content_type = "application/json"};
    lg_status st = uu->adapter->auth_response(uu, uu->state, &resp, 1764547200000, msg, sizeof msg);
    if(st != LG_OK)
        CHECK(msg[0]);
    uu->adapter->auth_invalidate(uu->state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if(size < 1 || size > (1u << 20))
        return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    switch(data[0] % 8) {
    case 0: fuzz_event(body, len); break;
    case 1: fuzz_poll(body, len); break;
    case 2: fuzz_page(body, len); break;
    case 3: fuzz_query(body, len); break;
    case 4: fuzz_config(body, len); break;
    case 5: fuzz_reply(body, len, 201); break;
    case 6: fuzz_reply(body, len, len ? 400 + data[1] % 200 : 500); break;
    case 7: fuzz_token(body, len); break;
    }
    return 0;
}
