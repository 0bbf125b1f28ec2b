/* test_forward_engine.c - the forwarder (src/forward/engine.c, job.c) against
 * a small libevent HTTP server on 127.0.0.1 running on its own thread, with
 * fake adapters defined here: delivery, retries with backoff, Retry-After,
 * dead jobs and the businessStatus hook, transport failures, the
 * idempotency key, per-task order, the concurrency limit, tokens, wake
 * latency, a finished job never sent again while verdicts await their
 * shared flush, stop with work in flight, contact stripping, polling and
 * directory searches. Timing bounds are generous (the machine is shared);
 * each still fails when the behaviour is missing. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forward/internal.h"
#include "loopgate/time.h"

/* ------------------------------------------------------ the test server */

#define MAX_HITS 256

typedef struct hit {
    char method[8];
    char path[160];
    char key[160];   /* Idempotency-Key */
    char auth[160];  /* Authorization */
    char body[1024];
    int64_t at_ms;
    int concurrent;  /* requests open at the server when this one arrived */
} hit;

static struct {
    pthread_mutex_t mu;
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    hit hits[MAX_HITS];
    int n;
    int script[64]; /* status of the i-th referral request; then dflt */
    int n_script;
    int dflt;
    char retry_after[64];
    int hang;       /* never answer referral requests */
    int delay_ms;   /* answer referral requests this late */
    int open;       /* requests received, not yet answered */
    int max_open;
    int tokens;     /* tokens issued */
    int reject_token; /* answer 401 to requests carrying this token number */
    char poll_body[256];
    int big;        /* answer referral requests with 2 MiB */
    int redirect;   /* answer referral requests with a 302 */
    int fail_first; /* answer 500 to the first referral request of each Idempotency-Key */
    char slow_path[64]; /* with delay_ms: delay only requests to this path */
    char fast_prefix[32]; /* requests whose path starts with this: answered at once, never hung */
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct pending {
    struct evhttp_request *req;
    int status;
    char body[256];
} pending;

static void send_reply(struct evhttp_request *req, int status, const char *body)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s", body);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if((status == 429 || status == 503) && srv.retry_after[0])
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", srv.retry_after);
    evhttp_send_reply(req, status, "x", b);
    evbuffer_free(b);
    pthread_mutex_lock(&srv.mu);
    srv.open--;
    pthread_mutex_unlock(&srv.mu);
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
    pending *p = arg;
    send_reply(p->req, p->status, p->body);
    free(p);
}

static void handler(struct evhttp_request *req, void *arg)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *key = evhttp_find_header(in, "Idempotency-Key");
    const char *auth = evhttp_find_header(in, "Authorization");
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    pthread_mutex_lock(&srv.mu);
    int i = srv.n < MAX_HITS ? srv.n++ : MAX_HITS - 1;
    hit *h = &srv.hits[i];
    memset(h, 0, sizeof *h);
    snprintf(h->method, sizeof h->method, "%s",
             evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" : "POST");
    snprintf(h->path, sizeof h->path, "%s", uri);
    snprintf(h->key, sizeof h->key, "%s", key ? key : "");
    snprintf(h->auth, sizeof h->auth, "%s", auth ? auth : "");
    size_t bl = evbuffer_get_length(body);
    if(bl >= sizeof h->body)
        bl = sizeof h->body - 1;
    evbuffer_copyout(body, h->body, bl);
    h->at_ms = lg_time_now_ms();
    srv.open++;
    h->concurrent = srv.open;
    if(srv.open > srv.max_open)
        srv.max_open = srv.open;

    char out[256];
    int status;
    if(strcmp(uri, "/token") == 0) {
        status = 200;
        snprintf(out, sizeof out, "{\"token\": \"tok%d\"}", ++srv.tokens);
        pthread_mutex_unlock(&srv.mu);
        send_reply(req, status, out);
        return;
    }
    if(strncmp(uri, "/status/", 8) == 0) {
        snprintf(out, sizeof out, "%s", srv.poll_body);
        pthread_mutex_unlock(&srv.mu);
        send_reply(req, 200, out);
        return;
    }
    if(strncmp(uri, "/services", 9) == 0) {
        snprintf(out, sizeof out, "{\"total\": 2, \"echo\": \"%.100s\"}", uri);
        pthread_mutex_unlock(&srv.mu);
        send_reply(req, 200, out);
        return;
    }
    /* Referral requests: count them for the script. */
    int nref = 0;
    for(int k = 0; k <= i; k++)
        if(strstr(srv.hits[k].path, "/referrals"))
            nref++;
    status = nref - 1 < srv.n_script ? srv.script[nref - 1] : srv.dflt;
    if(srv.fail_first) {
        int seen = 0;
        for(int k = 0; k < i && !seen; k++)
            seen = strcmp(srv.hits[k].key, h->key) == 0;
        if(!seen)
            status = 500;
    }
    char want[32];
    snprintf(want, sizeof want, "Bearer tok%d", srv.reject_token);
    if(srv.reject_token && auth && strcmp(auth, want) == 0)
        status = 401;
    int hang = srv.hang, delay = srv.delay_ms, big = srv.big, redirect = srv.redirect;
    if(srv.slow_path[0] && strcmp(srv.slow_path, uri) != 0)
        delay = 0;
    if(srv.fast_prefix[0] && strncmp(uri, srv.fast_prefix, strlen(srv.fast_prefix)) == 0)
        hang = delay = 0;
    snprintf(out, sizeof out, "{\"id\": \"R-%d\"}", nref);
    pthread_mutex_unlock(&srv.mu);
    if(hang)
        return; /* the connection is closed when the server stops */
    if(big) {
        size_t n = 2u << 20;
        char *huge = malloc(n + 1);
        memset(huge, ' ', n);
        huge[n] = '\0';
        memcpy(huge, "{\"id\": \"R-big\"}", 15);
        send_reply(req, 201, huge);
        free(huge);
        return;
    }
    if(redirect) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", "/elsewhere");
        send_reply(req, 302, "{}");
        return;
    }
    if(delay) {
        pending *p = calloc(1, sizeof *p);
        p->req = req;
        p->status = status;
        snprintf(p->body, sizeof p->body, "%s", out);
        struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
        event_base_once(srv.base, -1, EV_TIMEOUT, delayed_cb, p, &tv);
        return;
    }
    send_reply(req, status, out);
}

static void *srv_run(void *arg)
{
    event_base_loop(srv.base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void srv_start(void)
{
    srv.base = event_base_new();
    cr_assert_not_null(srv.base);
    srv.http = evhttp_new(srv.base);
    evhttp_set_gencb(srv.http, handler, NULL);
    evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(srv.http, "127.0.0.1", 0);
    cr_assert_not_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    srv.port = ntohs(sa.sin_port);
    srv.dflt = 201;
    cr_assert_eq(pthread_create(&srv.thread, NULL, srv_run, NULL), 0);
}

static void srv_stop(void)
{
    if(!srv.base)
        return;
    /* loopexit is an event: it works even when the thread has not entered
     * its loop yet (loopbreak would be forgotten then). */
    event_base_loopexit(srv.base, NULL);
    pthread_join(srv.thread, NULL);
    evhttp_free(srv.http);
    event_base_free(srv.base);
    srv.base = NULL;
}

static int hits(void)
{
    pthread_mutex_lock(&srv.mu);
    int n = srv.n;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

static hit hit_at(int i)
{
    pthread_mutex_lock(&srv.mu);
    hit h = srv.hits[i];
    pthread_mutex_unlock(&srv.mu);
    return h;
}

/* A port nobody listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ------------------------------------------------------ fake adapters */

/* "fake": POST /referrals/{task} (create), POST /referrals/{remote}/cancel;
 * the body says what the adapter was given. */
static lg_status fake_build(const lg_fwd_platform *p, void *state, const lg_fwd_job *job, int step,
                            lg_fwd_req *out, lg_issues *issues)
{
    lg_status rc;
    snprintf(out->method, sizeof out->method, "POST");
    if(strcmp(job->kind, "cancel") == 0)
        rc = lg_fwd_req_url(out, p->base_url, "/referrals/%s/cancel", job->remote_id);
    else
        rc = lg_fwd_req_url(out, p->base_url, "/referrals/%s", job->task_id);
    if(rc == LG_OK)
        rc = lg_fwd_req_header(out, "Idempotency-Key: %s", job->idempotency_key);
    if(rc == LG_OK && state && *(char *)state)
        rc = lg_fwd_req_header(out, "Authorization: Bearer %s", (char *)state);
    if(rc != LG_OK)
        return rc;
    const lg_child *c = job->child;
    if(asprintf(&out->body,
                "{\"family\": \"%s\", \"caregivers\": %zu, \"referrer\": \"%s\", \"target\": \"%s\","
                " \"sr\": \"%s\", \"reason\": \"%s\"}",
                c && c->family ? c->family : "", c ? c->n_caregivers : 0,
                job->referrer_name ? job->referrer_name : "", job->target ? job->target : "",
                job->referral->service_request_id ? job->referral->service_request_id : "",
                job->cancel_reason ? job->cancel_reason : "") < 0)
        return LG_ENOMEM;
    out->body_len = strlen(out->body);
    return LG_OK;
}

static lg_fwd_verdict fake_parse(const lg_fwd_platform *p, void *state, const lg_fwd_job *job,
                                 int step, const lg_fwd_resp *resp, char **remote_id, char **error)
{
    if(resp->status >= 200 && resp->status < 300) {
        cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        if(cJSON_IsString(id))
            *remote_id = strdup(id->valuestring);
        cJSON_Delete(j);
        return LG_FWD_DONE;
    }
    if(resp->status == 0) {
        if(asprintf(error, "transport: %s", resp->error ? resp->error : "?") < 0)
            *error = NULL;
        return LG_FWD_RETRY;
    }
    if(asprintf(error, "platform answered %d", resp->status) < 0)
        *error = NULL;
    if(resp->status == 401)
        return LG_FWD_REAUTH;
    if(resp->status == 408 || resp->status == 429 || resp->status >= 500)
        return LG_FWD_RETRY;
    return LG_FWD_FAIL;
}

static const lg_fwd_adapter fake = {.name = "fake", .build = fake_build, .parse = fake_parse};

/* "fakeauth": as fake, with a token from POST /token kept in the state. */
static lg_status fa_configure(const lg_fwd_platform *p, const cJSON *obj, void **state,
                              lg_issues *issues)
{
    *state = calloc(1, 64);
    return *state ? LG_OK : LG_ENOMEM;
}
static void fa_free(void *state)
{
    free(state);
}
static int fa_auth_request(const lg_fwd_platform *p, void *state, int64_t now_ms, lg_fwd_req *out)
{
    if(*(char *)state)
        return 0;
    snprintf(out->method, sizeof out->method, "POST");
    if(lg_fwd_req_url(out, p->base_url, "/token") != LG_OK)
        return -1;
    return 1;
}
static lg_status fa_auth_response(const lg_fwd_platform *p, void *state, const lg_fwd_resp *resp,
                                  int64_t now_ms, char *msg, size_t msg_len)
{
    if(resp->status != 200) {
        snprintf(msg, msg_len, "token refused");
        return resp->status == 0 || resp->status >= 500 ? LG_EIO : LG_EFORBIDDEN;
    }
    cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
    lg_status rc = LG_EINVAL;
    if(cJSON_IsString(t) && strlen(t->valuestring) < 63) {
        snprintf((char *)state, 64, "%s", t->valuestring);
        rc = LG_OK;
    }
    cJSON_Delete(j);
    return rc;
}
static void fa_invalidate(void *state)
{
    *(char *)state = '\0';
}

static const lg_fwd_adapter fakeauth = {
    .name = "fakeauth", .configure = fa_configure, .free_state = fa_free,
    .auth_request = fa_auth_request, .auth_response = fa_auth_response,
    .auth_invalidate = fa_invalidate, .build = fake_build, .parse = fake_parse};

/* "fakepoll": as fake, and GET /status/{remote} answers {"status", "at"}. */
static lg_status fp_build_poll(const lg_fwd_platform *p, void *state, const char *remote_id,
                               lg_fwd_req *out)
{
    snprintf(out->method, sizeof out->method, "GET");
    return lg_fwd_req_url(out, p->base_url, "/status/%s", remote_id);
}
static lg_status fp_parse_poll(const lg_fwd_platform *p, void *state, const char *remote_id,
                               const lg_fwd_resp *resp, lg_fwd_event *out)
{
    if(resp->status != 200)
        return LG_EIO;
    cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "at");
    lg_status rc = LG_EINVAL;
    if(cJSON_IsString(s) && cJSON_IsNumber(at) && lg_task_status_parse(s->valuestring, &out->status) == 0) {
        out->remote_id = strdup(remote_id);
        out->platform_status = strdup(s->valuestring);
        out->occurred_ms = (int64_t)at->valuedouble;
        if(asprintf(&out->event_id, "%s:%s:%lld", remote_id, s->valuestring,
                    (long long)out->occurred_ms) < 0)
            out->event_id = NULL;
        rc = out->remote_id && out->platform_status && out->event_id ? LG_OK : LG_ENOMEM;
    }
    cJSON_Delete(j);
    return rc;
}
static const lg_fwd_adapter fakepoll = {.name = "fakepoll", .build = fake_build, .parse = fake_parse,
                                        .build_poll = fp_build_poll, .parse_poll = fp_parse_poll};

/* "fakedir": GET /services?{query}; a parameter "bad" cannot be mapped. */
static lg_status fd_build_search(const lg_fwd_platform *p, void *state, const char *query,
                                 lg_fwd_req *out, lg_issues *issues)
{
    if(strstr(query, "bad=")) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", "bad", "parameter bad is not supported");
        return LG_EINVAL;
    }
    snprintf(out->method, sizeof out->method, "GET");
    return lg_fwd_req_url(out, p->base_url, "/services?%s", query);
}
static lg_status fd_parse_search(const lg_fwd_platform *p, void *state, const char *query,
                                 const char *base, const lg_fwd_resp *resp, cJSON **bundle,
                                 lg_issues *issues)
{
    cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(j, "total");
    if(resp->status != 200 || !cJSON_IsNumber(total)) {
        cJSON_Delete(j);
        lg_issues_add(issues, LG_SEV_ERROR, "transient", NULL, "directory failed");
        return LG_EIO;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "resourceType", "Bundle");
    cJSON_AddStringToObject(b, "type", "searchset");
    cJSON_AddNumberToObject(b, "total", total->valuedouble);
    cJSON_AddStringToObject(b, "base", base);
    cJSON_AddStringToObject(b, "echo", cJSON_GetObjectItemCaseSensitive(j, "echo")->valuestring);
    cJSON_Delete(j);
    *bundle = b;
    return LG_OK;
}
static const lg_fwd_adapter fakedir = {.name = "fakedir", .build = fake_build, .parse = fake_parse,
                                       .build_search = fd_build_search,
                                       .parse_search = fd_parse_search};

static const lg_fwd_adapter *find(const char *name)
{
    const lg_fwd_adapter *all[] = {&fake, &fakeauth, &fakepoll, &fakedir};
    for(size_t i = 0; i < sizeof all / sizeof *all; i++)
        if(strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

/* ------------------------------------------------------ hooks */

typedef struct call {
    char task[64], code[32], text[300];
} call;

static struct {
    pthread_mutex_t mu;
    call business[64];
    int n_business;
    call status[64];
    int n_status;
} hk = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int set_business(void *ctx, lg_store *s, const char *task_id, const char *code,
                        const char *text, char *msg, size_t msg_len)
{
    pthread_mutex_lock(&hk.mu);
    if(hk.n_business < 64) {
        call *c = &hk.business[hk.n_business++];
        snprintf(c->task, sizeof c->task, "%s", task_id);
        snprintf(c->code, sizeof c->code, "%s", code);
        snprintf(c->text, sizeof c->text, "%s", text ? text : "");
    }
    pthread_mutex_unlock(&hk.mu);
    return 200;
}

static int apply_status(void *ctx, lg_store *s, const char *task_id, lg_task_status status,
                        const char *reason, const char *outcome, char *msg, size_t msg_len)
{
    pthread_mutex_lock(&hk.mu);
    if(hk.n_status < 64) {
        call *c = &hk.status[hk.n_status++];
        snprintf(c->task, sizeof c->task, "%s", task_id);
        snprintf(c->code, sizeof c->code, "%s", lg_task_status_code(status));
    }
    pthread_mutex_unlock(&hk.mu);
    return 200;
}

static const lg_fwd_hooks hooks = {.apply_status = apply_status, .set_business_status = set_business};

static int n_business(void)
{
    pthread_mutex_lock(&hk.mu);
    int n = hk.n_business;
    pthread_mutex_unlock(&hk.mu);
    return n;
}

/* ------------------------------------------------------ store fixture */

static lg_store *st;
static char dir[] = "/tmp/lg-fwdeng-XXXXXX";
static lg_fwd_config *cfg;
static lg_forwarder *fw;

static void setup(void)
{
    evthread_use_pthreads();
    lg_issues is = {0};
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(lg_store_open(dir, &st, &is), LG_OK);
    lg_issues_free(&is);
    srv_start();
}

static void teardown(void)
{
    lg_forwarder_stop(fw);
    fw = NULL;
    srv_stop();
    lg_fwd_config_free(cfg);
    cfg = NULL;
    lg_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(forward_engine, .init = setup, .fini = teardown, .timeout = 60);

static void put(const char *type, const char *id, const char *json)
{
    int64_t ver = 1;
    lg_resource cur = {0};
    if(lg_store_read(st, type, id, &cur) == LG_OK)
        ver = cur.version + 1;
    lg_resource_clear(&cur);
    lg_store_write w = {.type = type, .id = id, .version = ver, .last_updated = lg_time_now_ms(),
                        .method = "PUT", .json = json, .json_len = strlen(json)};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_put(st, &w, NULL), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
}

/* Patient p-{n}, ServiceRequest sr-{n}, Task t-{n} (owner cbo-1), from
 * Organization clinic-1. */
static void referral(int n, int prohibited)
{
    char id[32], json[2048];
    put("Organization", "clinic-1",
        "{\"resourceType\":\"Organization\",\"id\":\"clinic-1\",\"name\":\"Sunrise Clinic\"}");
    snprintf(id, sizeof id, "p-%d", n);
    snprintf(json, sizeof json,
             "{\"resourceType\":\"Patient\",\"id\":\"p-%d\",\"name\":[{\"family\":\"Rivera%d\","
             "\"given\":[\"Ana\"]}],\"birthDate\":\"2015-04-02\",\"telecom\":[{\"system\":\"phone\","
             "\"value\":\"555-0100\"}],\"extension\":[{\"url\":\"" LG_URL_CAREGIVER "\",\"extension\":"
             "[{\"url\":\"caregiver\",\"valueReference\":{\"reference\":\"RelatedPerson/rp-1\"}},"
             "{\"url\":\"mayContact\",\"valueBoolean\":true}]}]}",
             n, n);
    put("Patient", id, json);
    snprintf(id, sizeof id, "sr-%d", n);
    snprintf(json, sizeof json,
             "{\"resourceType\":\"ServiceRequest\",\"id\":\"sr-%d\",\"status\":\"active\","
             "\"intent\":\"order\",\"subject\":{\"reference\":\"Patient/p-%d\"},"
             "\"requester\":{\"reference\":\"Organization/clinic-1\"},\"code\":{\"text\":\"food\"}%s}",
             n, n,
             prohibited ? ",\"orderDetail\":[{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES
                          "\",\"code\":\"contacting-subject-prohibited\"}]}]"
                        : "");
    put("ServiceRequest", id, json);
    snprintf(id, sizeof id, "t-%d", n);
    snprintf(json, sizeof json,
             "{\"resourceType\":\"Task\",\"id\":\"t-%d\",\"status\":\"requested\",\"intent\":\"order\","
             "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
             "\"code\":\"fulfill\"}]},\"focus\":{\"reference\":\"ServiceRequest/sr-%d\"},"
             "\"for\":{\"reference\":\"Patient/p-%d\"},\"owner\":{\"reference\":\"Organization/cbo-1\"},"
             "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
             "\"statusReason\":{\"text\":\"family moved\"}}",
             n, n, n);
    put("Task", id, json);
}

static int64_t add_job(const char *platform, const char *kind, const char *task)
{
    int64_t now = lg_time_now_ms();
    lg_outbox_job j = {.platform = (char *)platform, .kind = (char *)kind, .task_id = (char *)task,
                       .target = "prog-9", .created_ms = now, .next_at_ms = now};
    int64_t id = 0;
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_add(st, &j, &id), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    return id;
}

static void configure(const char *adapter, const char *extra)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"platforms\": [{\"name\": \"p\", \"adapter\": \"%s\", \"base_url\": "
             "\"http://127.0.0.1:%d\"%s%s}], \"directory\": %s}",
             adapter, srv.port, extra && *extra ? ", " : "", extra ? extra : "",
             strcmp(adapter, "fakedir") == 0 ? "\"p\"" : "null");
    lg_issues is = {0};
    cr_assert_eq(lg_fwd_config_parse(json, strlen(json), find, &cfg, &is), LG_OK, "%s",
                 is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
}

static void start(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_forwarder_start(cfg, dir, &hooks, &fw, &is), LG_OK);
    lg_issues_free(&is);
}

static lg_outbox_job job(int64_t id)
{
    lg_outbox_job j = {0};
    cr_assert_eq(lg_store_outbox_get(st, id, &j), LG_OK);
    return j;
}

/* Wait (up to ms) until job id leaves pending; its state. */
static lg_outbox_state wait_settled(int64_t id, int ms)
{
    int64_t end = lg_time_now_ms() + ms;
    for(;;) {
        lg_outbox_job j = job(id);
        lg_outbox_state s = j.state;
        lg_outbox_job_clear(&j);
        if(s != LG_OUTBOX_PENDING || lg_time_now_ms() > end)
            return s;
        usleep(10000);
    }
}

/* Stats are counted just after the store records the verdict. */
static lg_forwarder_stats stats_when(int ms, uint64_t delivered, uint64_t dead)
{
    lg_forwarder_stats s;
    int64_t end = lg_time_now_ms() + ms;
    do {
        lg_forwarder_stats_get(fw, &s);
        if(s.delivered >= delivered && s.dead >= dead)
            break;
        usleep(5000);
    } while(lg_time_now_ms() < end);
    return s;
}

static void wait_hits(int n, int ms)
{
    int64_t end = lg_time_now_ms() + ms;
    while(hits() < n && lg_time_now_ms() < end)
        usleep(5000);
}

/* ------------------------------------------------------ delivery */

Test(forward_engine, delivers_once_with_key_link_and_business_status)
{
    referral(1, 0);
    configure("fake", NULL);
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 5000), LG_OUTBOX_DONE);
    lg_outbox_job j = job(id);
    cr_expect_eq(j.attempts, 1);
    cr_expect_str_eq(j.remote_id, "R-1");
    lg_outbox_job_clear(&j);
    cr_assert_eq(hits(), 1);
    hit h = hit_at(0);
    char key[64];
    snprintf(key, sizeof key, "lg-t-1-create-%lld", (long long)id);
    cr_expect_str_eq(h.key, key);
    cr_expect_str_eq(h.path, "/referrals/t-1");
    /* The adapter was given the stored referral, child and referrer. */
    cr_expect(strstr(h.body, "\"family\": \"Rivera1\"") != NULL, "%s", h.body);
    cr_expect(strstr(h.body, "\"caregivers\": 1") != NULL, "%s", h.body);
    cr_expect(strstr(h.body, "\"referrer\": \"Sunrise Clinic\"") != NULL, "%s", h.body);
    cr_expect(strstr(h.body, "\"target\": \"prog-9\"") != NULL, "%s", h.body);
    cr_expect(strstr(h.body, "\"sr\": \"sr-1\"") != NULL, "%s", h.body);

    lg_forward_link l = {0};
    cr_assert_eq(lg_store_forward_link_get(st, "p", "R-1", &l), LG_OK);
    cr_expect_str_eq(l.task_id, "t-1");
    cr_expect_eq(l.closed, 0);
    lg_forward_link_clear(&l);

    int64_t end = lg_time_now_ms() + 2000;
    while(n_business() < 1 && lg_time_now_ms() < end)
        usleep(5000);
    cr_assert_eq(n_business(), 1);
    cr_expect_str_eq(hk.business[0].task, "t-1");
    cr_expect_str_eq(hk.business[0].code, "delivered");
    lg_forwarder_stats stats = stats_when(2000, 1, 0);
    cr_expect_eq(stats.delivered, 1);
    cr_expect_eq(stats.attempts, 1);
    cr_expect_eq(stats.dead, 0);
    usleep(300000);
    cr_expect_eq(hits(), 1, "a delivered job is never sent again");
}

Test(forward_engine, contact_prohibited_referral_leaves_without_contact_details)
{
    referral(1, 1);
    configure("fake", NULL);
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 5000), LG_OUTBOX_DONE);
    hit h = hit_at(0);
    cr_expect(strstr(h.body, "\"family\": \"Rivera1\"") != NULL, "%s", h.body);
    cr_expect(strstr(h.body, "\"caregivers\": 0") != NULL,
              "the contactable caregiver is stripped: %s", h.body);
}

Test(forward_engine, retries_500_with_backoff_then_delivers_with_the_same_key)
{
    referral(1, 0);
    srv.script[0] = 500;
    srv.n_script = 1;
    configure("fake", "\"backoff_ms\": 400, \"max_attempts\": 5");
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 8000), LG_OUTBOX_DONE);
    cr_assert_eq(hits(), 2);
    hit a = hit_at(0), b = hit_at(1);
    cr_expect_str_eq(a.key, b.key, "the idempotency key is the same on every attempt");
    cr_expect_neq(a.key[0], '\0');
    /* Delay for attempt 1: half of 400 plus jitter: 200..400 ms. */
    cr_expect_geq(b.at_ms - a.at_ms, 190, "retried after %lld ms", (long long)(b.at_ms - a.at_ms));
    lg_outbox_job j = job(id);
    cr_expect_eq(j.attempts, 2);
    lg_outbox_job_clear(&j);
    lg_forwarder_stats stats = stats_when(2000, 1, 0);
    cr_expect_eq(stats.retried, 1);
    cr_expect_eq(stats.delivered, 1);
}

Test(forward_engine, honours_retry_after_on_429)
{
    referral(1, 0);
    srv.script[0] = 429;
    srv.n_script = 1;
    snprintf(srv.retry_after, sizeof srv.retry_after, "1");
    configure("fake", "\"backoff_ms\": 10");
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 8000), LG_OUTBOX_DONE);
    cr_assert_eq(hits(), 2);
    int64_t gap = hit_at(1).at_ms - hit_at(0).at_ms;
    cr_expect_geq(gap, 950, "Retry-After: 1 waited only %lld ms (backoff alone is ~10 ms)",
                  (long long)gap);
}

Test(forward_engine, no_retry_on_400_dead_and_business_status)
{
    referral(1, 0);
    srv.dflt = 400;
    configure("fake", "\"backoff_ms\": 10");
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 5000), LG_OUTBOX_DEAD);
    lg_outbox_job j = job(id);
    cr_expect_eq(j.attempts, 1);
    cr_expect(j.last_error && strstr(j.last_error, "400"), "%s", j.last_error ? j.last_error : "");
    lg_outbox_job_clear(&j);
    int64_t end = lg_time_now_ms() + 2000;
    while(n_business() < 1 && lg_time_now_ms() < end)
        usleep(5000);
    cr_assert_eq(n_business(), 1);
    cr_expect_str_eq(hk.business[0].code, "delivery-failed");
    cr_expect(strstr(hk.business[0].text, "400") != NULL, "%s", hk.business[0].text);
    usleep(200000);
    cr_expect_eq(hits(), 1);
}

Test(forward_engine, max_attempts_then_dead)
{
    referral(1, 0);
    srv.dflt = 503;
    configure("fake", "\"backoff_ms\": 10, \"max_backoff_ms\": 20, \"max_attempts\": 3");
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 8000), LG_OUTBOX_DEAD);
    lg_outbox_job j = job(id);
    cr_expect_eq(j.attempts, 3);
    lg_outbox_job_clear(&j);
    usleep(200000);
    cr_expect_eq(hits(), 3);
    cr_assert_eq(n_business(), 1);
    cr_expect_str_eq(hk.business[0].code, "delivery-failed");
    lg_forwarder_stats stats = stats_when(2000, 0, 1);
    cr_expect_eq(stats.dead, 1);
    cr_expect_eq(stats.retried, 2);
}

Test(forward_engine, connection_refused_is_retried)
{
    referral(1, 0);
    int port = closed_port();
    char json[512];
    snprintf(json, sizeof json,
             "{\"platforms\": [{\"name\": \"p\", \"adapter\": \"fake\", \"base_url\": "
             "\"http://127.0.0.1:%d\", \"backoff_ms\": 20, \"max_attempts\": 3}]}", port);
    lg_issues is = {0};
    cr_assert_eq(lg_fwd_config_parse(json, strlen(json), find, &cfg, &is), LG_OK);
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 8000), LG_OUTBOX_DEAD);
    lg_outbox_job j = job(id);
    cr_expect_eq(j.attempts, 3, "refused connections are retried up to max_attempts");
    cr_expect(j.last_error && strstr(j.last_error, "transport"), "%s", j.last_error ? j.last_error : "");
    lg_outbox_job_clear(&j);
}

Test(forward_engine, timeout_is_retried)
{
    referral(1, 0);
    srv.hang = 1;
    configure("fake", "\"timeout_ms\": 250, \"backoff_ms\": 10, \"max_attempts\": 2");
    int64_t id = add_job("p", "create", "t-1");
    int64_t t0 = lg_time_now_ms();
    start();
    cr_assert_eq(wait_settled(id, 8000), LG_OUTBOX_DEAD);
    cr_expect_geq(lg_time_now_ms() - t0, 480, "two attempts of 250 ms each");
    cr_expect_eq(hits(), 2);
    lg_outbox_job j = job(id);
    cr_expect_eq(j.attempts, 2);
    cr_expect(j.last_error && strstr(j.last_error, "transport"), "%s", j.last_error ? j.last_error : "");
    lg_outbox_job_clear(&j);
}

Test(forward_engine, oversized_response_is_abandoned)
{
    referral(1, 0);
    srv.big = 1;
    configure("fake", "\"max_attempts\": 1");
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 5000), LG_OUTBOX_DEAD);
    lg_outbox_job j = job(id);
    cr_expect(j.last_error && strstr(j.last_error, "larger than 1 MiB"), "%s",
              j.last_error ? j.last_error : "");
    cr_expect_null(j.remote_id, "nothing of the oversized answer was used");
    lg_outbox_job_clear(&j);
}

Test(forward_engine, redirects_are_not_followed)
{
    referral(1, 0);
    srv.redirect = 1;
    configure("fake", NULL);
    int64_t id = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 5000), LG_OUTBOX_DEAD, "a 3xx is the adapter's to judge (here: fail)");
    usleep(100000);
    cr_expect_eq(hits(), 1, "the Location was not visited");
    cr_expect_str_eq(hit_at(0).path, "/referrals/t-1");
}

Test(forward_engine, jobs_of_a_task_go_in_order_other_tasks_in_parallel)
{
    referral(1, 0);
    referral(2, 0);
    srv.delay_ms = 300;
    configure("fake", NULL);
    int64_t c1 = add_job("p", "create", "t-1");
    int64_t x1 = add_job("p", "cancel", "t-1");
    int64_t c2 = add_job("p", "create", "t-2");
    start();
    cr_assert_eq(wait_settled(c1, 5000), LG_OUTBOX_DONE);
    cr_assert_eq(wait_settled(c2, 5000), LG_OUTBOX_DONE);
    cr_assert_eq(wait_settled(x1, 5000), LG_OUTBOX_DONE);
    cr_assert_eq(hits(), 3);
    int ic1 = -1, ix1 = -1, ic2 = -1;
    for(int i = 0; i < 3; i++) {
        hit h = hit_at(i);
        if(strcmp(h.path, "/referrals/t-1") == 0)
            ic1 = i;
        else if(strcmp(h.path, "/referrals/t-2") == 0)
            ic2 = i;
        else if(strstr(h.path, "/cancel"))
            ix1 = i;
    }
    cr_assert(ic1 >= 0 && ix1 >= 0 && ic2 >= 0);
    hit create1 = hit_at(ic1), cancel1 = hit_at(ix1), create2 = hit_at(ic2);
    cr_expect_lt(ic1, ix1, "the create goes before the cancel");
    cr_expect_geq(cancel1.at_ms - create1.at_ms, 290, "the cancel waits for the create's answer");
    /* The cancel names the platform's id the create returned. */
    lg_outbox_job cj = job(c1);
    char want[64];
    snprintf(want, sizeof want, "/referrals/%s/cancel", cj.remote_id);
    cr_expect_str_eq(cancel1.path, want);
    lg_outbox_job_clear(&cj);
    cr_expect(strstr(cancel1.body, "\"reason\": \"family moved\"") != NULL, "%s", cancel1.body);
    int64_t d = create2.at_ms - create1.at_ms;
    cr_expect_lt(d < 0 ? -d : d, 250, "another Task's job does not wait");
    /* The delivered cancel closes the link: no more polling. */
    lg_forward_link l = {0};
    cr_assert_eq(lg_store_forward_link_by_task(st, "p", "t-1", &l), LG_OK);
    cr_expect_eq(l.closed, 1);
    lg_forward_link_clear(&l);
}

/* Verdicts are committed without waiting for the disk and flushed once
 * per loop iteration; until then the forwarder's own reads see a finished
 * job as still pending and due. Under a burst - transfers finishing while
 * ticks run, 1 ms backoffs making every retry due at once, a cancel behind
 * each create - no job may be sent more often than its verdicts ask. */
Test(forward_engine, finished_jobs_are_never_resent_under_a_burst)
{
    enum { N = 30 };
    for(int i = 1; i <= N; i++)
        referral(i, 0);
    srv.fail_first = 1;
    configure("fake", "\"backoff_ms\": 1, \"max_backoff_ms\": 1, \"max_attempts\": 5");
    int64_t ids[2 * N];
    char task[16];
    for(int i = 0; i < N; i++) {
        snprintf(task, sizeof task, "t-%d", i + 1);
        ids[2 * i] = add_job("p", "create", task);
        ids[2 * i + 1] = add_job("p", "cancel", task);
    }
    start();
    for(int i = 0; i < 2 * N; i++)
        cr_assert_eq(wait_settled(ids[i], 20000), LG_OUTBOX_DONE, "job %d", i);
    lg_forwarder_stats stats = stats_when(5000, 2 * N, 0);
    usleep(300000); /* any resend of a finished job would arrive by now */
    cr_assert_eq(hits(), 4 * N, "each job: one refused attempt, one delivery (%d requests)", hits());
    for(int i = 0; i < 2 * N; i++) {
        lg_outbox_job j = job(ids[i]);
        char key[64];
        snprintf(key, sizeof key, "lg-%s-%s-%lld", j.task_id, j.kind, (long long)ids[i]);
        cr_expect_eq(j.attempts, 2, "job %d: %d attempts", i, j.attempts);
        lg_outbox_job_clear(&j);
        int n = 0;
        for(int k = 0; k < hits(); k++)
            n += strcmp(hit_at(k).key, key) == 0;
        cr_expect_eq(n, 2, "%s sent %d times", key, n);
    }
    cr_expect_eq(stats.delivered, 2 * N);
    cr_expect_eq(stats.retried, 2 * N);
    cr_expect_eq(stats.attempts, 4 * N);
    cr_expect_eq(n_business(), N, "one business status per delivered create");
}

/* While one job is in flight (the store's next due time is then in the
 * past), a retry of another Task falls due in 50-100 ms: it must go then,
 * not at the forwarder's 1 s fallback look. */
Test(forward_engine, a_retry_is_not_held_up_by_a_job_in_flight)
{
    referral(1, 0);
    referral(2, 0);
    srv.fail_first = 1;
    srv.delay_ms = 1500;
    snprintf(srv.slow_path, sizeof srv.slow_path, "/referrals/t-1");
    configure("fake", "\"backoff_ms\": 100, \"max_backoff_ms\": 100");
    int64_t slow = add_job("p", "create", "t-1");
    int64_t quick = add_job("p", "create", "t-2");
    start();
    cr_assert_eq(wait_settled(quick, 5000), LG_OUTBOX_DONE);
    lg_outbox_job j = job(slow);
    cr_assert_eq(j.state, LG_OUTBOX_PENDING, "t-1's first attempt is still in flight");
    lg_outbox_job_clear(&j);
    int64_t first = 0, second = 0;
    for(int k = 0; k < hits(); k++) {
        hit h = hit_at(k);
        if(strcmp(h.path, "/referrals/t-2") != 0)
            continue;
        if(!first)
            first = h.at_ms;
        else if(!second)
            second = h.at_ms;
    }
    cr_assert(first && second, "t-2 was sent twice");
    cr_expect_lt(second - first, 600, "the retry went %lld ms after the first attempt",
                 (long long)(second - first));
    /* Let t-1 finish too: no reply may be left pending at teardown. */
    cr_assert_eq(wait_settled(slow, 8000), LG_OUTBOX_DONE);
}

Test(forward_engine, concurrency_limit_per_platform)
{
    for(int i = 1; i <= 5; i++)
        referral(i, 0);
    srv.delay_ms = 200;
    configure("fake", "\"concurrency\": 2");
    int64_t ids[5];
    char task[16];
    for(int i = 0; i < 5; i++) {
        snprintf(task, sizeof task, "t-%d", i + 1);
        ids[i] = add_job("p", "create", task);
    }
    start();
    for(int i = 0; i < 5; i++)
        cr_assert_eq(wait_settled(ids[i], 8000), LG_OUTBOX_DONE);
    cr_expect_eq(hits(), 5);
    cr_expect_eq(srv.max_open, 2, "at most 2 requests at once, and 2 used (max %d)", srv.max_open);
}

Test(forward_engine, token_first_then_reauth_once_on_401)
{
    referral(1, 0);
    referral(2, 0);
    srv.reject_token = 1; /* the first token is refused by the referral endpoint */
    configure("fakeauth", "\"backoff_ms\": 10");
    int64_t a = add_job("p", "create", "t-1");
    int64_t b = add_job("p", "create", "t-2");
    start();
    cr_assert_eq(wait_settled(a, 5000), LG_OUTBOX_DONE);
    cr_assert_eq(wait_settled(b, 5000), LG_OUTBOX_DONE);
    cr_expect_str_eq(hit_at(0).path, "/token", "the token request goes first");
    int tokens = 0, refs_ok = 0;
    for(int i = 0; i < hits(); i++) {
        hit h = hit_at(i);
        if(strcmp(h.path, "/token") == 0)
            tokens++;
        else if(strcmp(h.auth, "Bearer tok2") == 0)
            refs_ok++;
    }
    cr_expect_eq(tokens, 2, "one token for both jobs, one more after the 401 (%d)", tokens);
    cr_expect_eq(refs_ok, 2);
    lg_outbox_job j = job(a);
    cr_expect_eq(j.attempts, 1, "a re-authentication is part of the same attempt");
    lg_outbox_job_clear(&j);
}

Test(forward_engine, missing_task_is_dead_without_a_request)
{
    configure("fake", NULL);
    int64_t id = add_job("p", "create", "t-404");
    start();
    cr_assert_eq(wait_settled(id, 5000), LG_OUTBOX_DEAD);
    lg_outbox_job j = job(id);
    cr_expect(j.last_error && strstr(j.last_error, "gone"), "%s", j.last_error ? j.last_error : "");
    lg_outbox_job_clear(&j);
    cr_expect_eq(hits(), 0);
}

Test(forward_engine, cancel_of_an_undelivered_referral_sends_nothing)
{
    referral(1, 0);
    configure("fake", NULL);
    int64_t id = add_job("p", "cancel", "t-1");
    start();
    cr_assert_eq(wait_settled(id, 5000), LG_OUTBOX_DONE);
    lg_outbox_job j = job(id);
    cr_expect(j.last_error && strstr(j.last_error, "nothing to cancel"), "%s",
              j.last_error ? j.last_error : "");
    lg_outbox_job_clear(&j);
    usleep(100000);
    cr_expect_eq(hits(), 0);
    cr_expect_eq(n_business(), 0, "no 'delivered' for a cancel");
}

/* A tombstone for type/id (what DELETE stores). */
static void del(const char *type, const char *id)
{
    lg_resource cur = {0};
    cr_assert_eq(lg_store_read(st, type, id, &cur), LG_OK);
    lg_store_write w = {.type = type, .id = id, .version = cur.version + 1,
                        .last_updated = lg_time_now_ms(), .deleted = 1, .method = "DELETE"};
    lg_resource_clear(&cur);
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_put(st, &w, NULL), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
}

Test(forward_engine, cancel_of_a_deleted_task_goes_out_from_its_last_version)
{
    referral(1, 0);
    referral(2, 0);
    configure("fake", NULL);
    int64_t c = add_job("p", "create", "t-1");
    start();
    cr_assert_eq(wait_settled(c, 5000), LG_OUTBOX_DONE);
    lg_outbox_job cj = job(c);
    cr_assert_not_null(cj.remote_id);
    /* The sender deletes the Task (and here its ServiceRequest too). */
    del("Task", "t-1");
    del("ServiceRequest", "sr-1");
    int64_t x = add_job("p", "cancel", "t-1");
    lg_forwarder_wake(fw);
    cr_assert_eq(wait_settled(x, 5000), LG_OUTBOX_DONE);
    cr_assert_eq(hits(), 2);
    hit h = hit_at(1);
    char want[64];
    snprintf(want, sizeof want, "/referrals/%s/cancel", cj.remote_id);
    cr_expect_str_eq(h.path, want, "the cancel names the platform's id");
    cr_expect(strstr(h.body, "\"reason\": \"the referral was deleted at the sender\"") != NULL, "%s",
              h.body);
    cr_expect(strstr(h.body, "\"sr\": \"sr-1\"") != NULL, "the last ServiceRequest: %s", h.body);
    lg_outbox_job_clear(&cj);
    lg_forward_link l = {0};
    cr_assert_eq(lg_store_forward_link_by_task(st, "p", "t-1", &l), LG_OK);
    cr_expect_eq(l.closed, 1, "the delivered cancel closes the link");
    lg_forward_link_clear(&l);

    /* A deleted Task never delivered: nothing to withdraw, nothing sent. */
    del("Task", "t-2");
    int64_t y = add_job("p", "cancel", "t-2");
    lg_forwarder_wake(fw);
    cr_assert_eq(wait_settled(y, 5000), LG_OUTBOX_DONE);
    lg_outbox_job yj = job(y);
    cr_expect(yj.last_error && strstr(yj.last_error, "nothing to cancel"), "%s",
              yj.last_error ? yj.last_error : "");
    lg_outbox_job_clear(&yj);
    usleep(100000);
    cr_expect_eq(hits(), 2);
}

/* Platform a's server hangs with a backlog of due jobs larger than any
 * one read; platform b's single job, the youngest of all, still goes at
 * once: each platform's due jobs are read on their own. */
Test(forward_engine, a_saturated_platform_does_not_delay_another)
{
    enum { BACKLOG = 300 };
    referral(1, 0);
    referral(2, 0);
    srv.hang = 1;
    snprintf(srv.fast_prefix, sizeof srv.fast_prefix, "/b/");
    /* a's Tasks (same referral, Tasks a-0..) and jobs, in one transaction
     * each, older than b's. */
    char id[32], json[1024];
    int64_t now = lg_time_now_ms();
    cr_assert_eq(lg_store_begin(st), LG_OK);
    for(int i = 0; i < BACKLOG; i++) {
        snprintf(id, sizeof id, "a-%d", i);
        snprintf(json, sizeof json,
                 "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"requested\",\"intent\":\"order\","
                 "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
                 "\"code\":\"fulfill\"}]},\"focus\":{\"reference\":\"ServiceRequest/sr-1\"},"
                 "\"for\":{\"reference\":\"Patient/p-1\"},\"owner\":{\"reference\":\"Organization/cbo-1\"},"
                 "\"requester\":{\"reference\":\"Organization/clinic-1\"}}",
                 id);
        lg_store_write w = {.type = "Task", .id = id, .version = 1, .last_updated = now,
                            .method = "PUT", .json = json, .json_len = strlen(json)};
        cr_assert_eq(lg_store_put(st, &w, NULL), LG_OK);
        lg_outbox_job j = {.platform = "a", .kind = "create", .task_id = id, .target = "prog-9",
                           .created_ms = now - 1000 + i, .next_at_ms = now - 1000 + i};
        cr_assert_eq(lg_store_outbox_add(st, &j, NULL), LG_OK);
    }
    cr_assert_eq(lg_store_commit(st), LG_OK);
    int64_t b = add_job("b", "create", "t-2");
    snprintf(json, sizeof json,
             "{\"platforms\": [{\"name\": \"a\", \"adapter\": \"fake\", \"base_url\": "
             "\"http://127.0.0.1:%d/a\", \"concurrency\": 2, \"timeout_ms\": 30000},"
             " {\"name\": \"b\", \"adapter\": \"fake\", \"base_url\": \"http://127.0.0.1:%d/b\"}],"
             " \"directory\": null}",
             srv.port, srv.port);
    lg_issues is = {0};
    cr_assert_eq(lg_fwd_config_parse(json, strlen(json), find, &cfg, &is), LG_OK, "%s",
                 is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
    int64_t t0 = lg_time_now_ms();
    start();
    cr_assert_eq(wait_settled(b, 5000), LG_OUTBOX_DONE, "b's job waited behind a's backlog");
    int64_t took = lg_time_now_ms() - t0;
    cr_expect_lt(took, 3000, "b's job took %lld ms", (long long)took);
    /* a is saturated all along: its two slots hang, the rest pending. */
    lg_forwarder_stats stats;
    lg_forwarder_stats_get(fw, &stats);
    cr_expect_eq(stats.in_flight, 2);
    int a_hits = 0, b_hits = 0;
    for(int i = 0; i < hits(); i++) {
        hit h = hit_at(i);
        a_hits += strncmp(h.path, "/a/referrals/", 13) == 0;
        b_hits += strcmp(h.path, "/b/referrals/t-2") == 0;
    }
    cr_expect_eq(a_hits, 2, "a never has more than its concurrency in flight");
    cr_expect_eq(b_hits, 1);
    int64_t counts[3];
    cr_assert_eq(lg_store_outbox_counts(st, counts), LG_OK);
    cr_expect_eq(counts[LG_OUTBOX_PENDING], BACKLOG);
    cr_expect_eq(counts[LG_OUTBOX_DONE], 1);
}

Test(forward_engine, job_for_an_unconfigured_platform_waits)
{
    referral(1, 0);
    configure("fake", NULL);
    int64_t id = add_job("gone", "create", "t-1");
    int64_t t0 = lg_time_now_ms();
    start();
    lg_outbox_job j = {0};
    int64_t end = t0 + 5000;
    for(;;) {
        j = job(id);
        if(j.last_error || lg_time_now_ms() > end)
            break;
        lg_outbox_job_clear(&j);
        usleep(10000);
    }
    cr_expect_eq(j.state, LG_OUTBOX_PENDING);
    cr_expect_eq(j.attempts, 0);
    cr_expect(j.last_error && strstr(j.last_error, "not configured"), "%s",
              j.last_error ? j.last_error : "");
    cr_expect_geq(j.next_at_ms, t0 + 50000, "looked at again much later, not in a loop");
    lg_outbox_job_clear(&j);
    cr_expect_eq(hits(), 0);
}

Test(forward_engine, wake_starts_a_new_job_at_once)
{
    configure("fake", NULL);
    start();
    for(int round = 1; round <= 3; round++) {
        referral(round, 0);
        usleep(150000 + 97000 * (unsigned)round); /* land somewhere inside the fallback second */
        char task[16];
        snprintf(task, sizeof task, "t-%d", round);
        int64_t t0 = lg_time_now_ms();
        add_job("p", "create", task);
        lg_forwarder_wake(fw);
        wait_hits(round, 3000);
        cr_assert_eq(hits(), round);
        int64_t lat = hit_at(round - 1).at_ms - t0;
        cr_expect_lt(lat, 150, "round %d: woken job reached the platform after %lld ms", round,
                     (long long)lat);
    }
}

Test(forward_engine, stop_with_jobs_in_flight_leaves_them_pending)
{
    referral(1, 0);
    srv.hang = 1;
    configure("fake", "\"timeout_ms\": 20000");
    int64_t id = add_job("p", "create", "t-1");
    start();
    wait_hits(1, 5000);
    cr_assert_eq(hits(), 1);
    lg_forwarder_stats stats;
    lg_forwarder_stats_get(fw, &stats);
    cr_expect_eq(stats.in_flight, 1);
    int64_t t0 = lg_time_now_ms();
    lg_forwarder_stop(fw);
    fw = NULL;
    cr_expect_lt(lg_time_now_ms() - t0, 1000, "stop does not wait for the platform");
    lg_outbox_job j = job(id);
    cr_expect_eq(j.state, LG_OUTBOX_PENDING);
    cr_expect_eq(j.attempts, 0, "an abandoned attempt is not counted");
    lg_outbox_job_clear(&j);
}

Test(forward_engine, polls_open_links_and_applies_status)
{
    referral(1, 0);
    snprintf(srv.poll_body, sizeof srv.poll_body, "{\"status\": \"accepted\", \"at\": 1764547200000}");
    configure("fakepoll", "\"poll_seconds\": 1");
    lg_forward_link l = {.platform = "p", .remote_id = "R-9", .task_id = "t-1",
                         .last_event_ms = INT64_MIN};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &l), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    start();
    /* The first round right away, the second a second later: the same
     * state twice is one event. */
    wait_hits(2, 5000);
    cr_assert_geq(hits(), 2);
    cr_expect_str_eq(hit_at(0).path, "/status/R-9");
    usleep(200000);
    pthread_mutex_lock(&hk.mu);
    int n = hk.n_status;
    pthread_mutex_unlock(&hk.mu);
    cr_assert_eq(n, 1, "applied once (%d)", n);
    cr_expect_str_eq(hk.status[0].task, "t-1");
    cr_expect_str_eq(hk.status[0].code, "accepted");
    lg_forward_link got = {0};
    cr_assert_eq(lg_store_forward_link_get(st, "p", "R-9", &got), LG_OK);
    cr_expect_str_eq(got.last_status, "accepted");
    cr_expect_eq(got.last_event_ms, 1764547200000LL);
    lg_forward_link_clear(&got);
    lg_forwarder_stats stats;
    lg_forwarder_stats_get(fw, &stats);
    cr_expect_geq(stats.polls, 2);
    cr_expect_eq(stats.events, 1);
}

/* ------------------------------------------------------ searches */

static struct {
    int status;
    char *body;
    pthread_t thread;
    int calls;
} sres;

static void search_done(void *arg, int status, char *body, size_t len)
{
    sres.status = status;
    sres.body = body;
    sres.thread = pthread_self();
    sres.calls++;
    event_base_loopbreak(arg);
}

static void run_search(const char *query)
{
    struct event_base *b = event_base_new();
    memset(&sres, 0, sizeof sres);
    cr_assert_eq(lg_forwarder_search(fw, query, "http://gw/fhir", b, search_done, b), LG_OK);
    struct timeval limit = {5, 0};
    event_base_loopexit(b, &limit);
    event_base_loop(b, EVLOOP_NO_EXIT_ON_EMPTY);
    event_base_free(b);
}

Test(forward_engine, directory_search_answers_on_the_callers_base)
{
    configure("fakedir", NULL);
    start();
    run_search("name=food&_count=5");
    cr_assert_eq(sres.calls, 1);
    cr_expect_eq(sres.status, 200);
    cr_expect(pthread_equal(sres.thread, pthread_self()), "done runs on the caller's thread");
    cr_assert_not_null(sres.body);
    cJSON *b = cJSON_Parse(sres.body);
    cr_assert_not_null(b);
    cr_expect_str_eq(cJSON_GetObjectItem(b, "resourceType")->valuestring, "Bundle");
    cr_expect_eq(cJSON_GetObjectItem(b, "total")->valueint, 2);
    cr_expect_str_eq(cJSON_GetObjectItem(b, "echo")->valuestring, "/services?name=food&_count=5");
    cr_expect_str_eq(cJSON_GetObjectItem(b, "base")->valuestring, "http://gw/fhir");
    cJSON_Delete(b);
    free(sres.body);

    run_search("bad=1");
    cr_assert_eq(sres.calls, 1);
    cr_expect_eq(sres.status, 400);
    cr_assert_not_null(sres.body);
    cr_expect(strstr(sres.body, "OperationOutcome") && strstr(sres.body, "parameter bad"), "%s",
              sres.body);
    free(sres.body);
}

Test(forward_engine, search_without_directory_is_unsupported)
{
    configure("fake", NULL);
    start();
    cr_expect_eq(lg_forwarder_search(fw, "name=x", "http://gw", NULL, search_done, NULL),
                 LG_EUNSUPPORTED);
}

Test(forward_engine, backoff_and_retry_after_arithmetic)
{
    lg_fwd_platform p = {.backoff_ms = 1000, .max_backoff_ms = 10000};
    cr_expect_eq(lg_fwd_backoff_ms(&p, 1, 0.0), 500);
    cr_expect_eq(lg_fwd_backoff_ms(&p, 1, 0.999), 999);
    cr_expect_eq(lg_fwd_backoff_ms(&p, 3, 0.0), 2000);
    cr_expect_eq(lg_fwd_backoff_ms(&p, 30, 0.0), 5000, "capped at max_backoff_ms");
    cr_expect_leq(lg_fwd_backoff_ms(&p, 30, 0.999), 10000);
    cr_expect_eq(lg_fwd_retry_after_ms("120", 0), 120000);
    cr_expect_eq(lg_fwd_retry_after_ms(" 7 ", 0), 7000);
    cr_expect_eq(lg_fwd_retry_after_ms("soon", 0), -1);
    cr_expect_eq(lg_fwd_retry_after_ms("12x", 0), -1);
    /* HTTP-date: Sun, 06 Nov 1994 08:49:37 GMT is 784111777 s. */
    cr_expect_eq(lg_fwd_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000LL - 3000), 3000);
    cr_expect_eq(lg_fwd_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000LL + 3000), 0);
}
