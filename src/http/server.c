/* server.c - libevent (evhttp) front end.
 *
 * One listening socket, shared by N worker threads: each worker has its own
 * event_base, evhttp, and store handle, and accepts on a dup() of the socket
 * (evhttp closes the descriptor it was given when it is freed, so each needs
 * its own). A request is handled to completion on the worker that accepted
 * it: FHIR interactions are short and SQLite calls are synchronous, so the
 * threads - not callbacks - are the unit of parallelism. The main thread
 * only waits for SIGTERM/SIGINT and then asks each worker to stop.
 *
 * Writes use group commit: a worker commits without flushing, parks the
 * reply, and goes on serving; one syncer thread flushes the store for
 * everything committed so far and wakes the workers, which then send the
 * replies it covered. A 201 thus never leaves before its write is on disk,
 * yet one flush pays for many writes and no worker sits idle in fsync.
 *
 * Authentication happens here, before anything of the request is parsed:
 * the bearer token is looked up in the clients loaded at start, and the
 * client's actor (built once at load) is lent to the REST layer. Every
 * reply, 401s included, is appended to the audit log when it is sent, so a
 * parked write is logged with the status the client finally got. GET
 * /AuditEvent is answered here from that log (AuditEvent is not a stored
 * type: the REST layer never sees it).
 *
 * Forwarding (issue #5, with a forwarding configuration): the REST layer
 * asks the routes inside each write and adds forward jobs to the outbox in
 * the same transaction; once such a write is durable (its parked reply is
 * sent) the forwarder thread is woken to deliver it. Platforms' webhooks
 * (POST /forward/{platform}/events) are verified and applied here on the
 * worker's store handle through the hooks of forward_hooks.c; directory
 * searches (GET /HealthcareService) are handed to the forwarder, which
 * calls back on this worker's event_base - evhttp is not thread-safe, so
 * the reply is sent from the worker's own thread.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopgate/audit.h"
#include "loopgate/outcome.h"
#include "loopgate/server.h"
#include "loopgate/store.h"
#include "loopgate/time.h"
#include "forward_hooks.h"

/* A webhook body larger than this is refused unread (413): status events
 * are a few hundred bytes. */
#define MAX_WEBHOOK_BODY (64 * 1024)
/* How long a stopping worker waits for directory searches in flight. */
#define SEARCH_DRAIN_SECONDS 15

typedef struct worker worker;

/* The clients in force. SIGHUP loads the file again and swaps `current`
 * (workers read it once per request); earlier sets stay alive until the
 * server stops, because requests in flight and parked replies still point
 * at their clients. Reloads are bounded so that cannot grow without end. */
#define MAX_RELOADS 64
typedef struct auth_state {
    const lg_clients *current; /* atomic; NULL: --no-auth */
    lg_clients *loaded[MAX_RELOADS];
    int nloaded;
    const lg_server_config *cfg;
} auth_state;

/* Who asked and when: carried with a reply until it is sent and logged. */
typedef struct reqinfo {
    const lg_client *client; /* NULL: unauthenticated, or --no-auth */
    const char *method;
    int64_t t0;              /* monotonic, us */
    int64_t wall;            /* wall clock, ms */
} reqinfo;

/* A reply held back until the store has flushed past its commit. */
typedef struct parked {
    struct parked *next;
    struct evhttp_request *req;
    lg_rest_response resp;
    reqinfo info;
} parked;

typedef struct syncer {
    pthread_t thread;
    int started;
    lg_store *store;        /* its own handle: it only flushes */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t wanted;        /* highest ticket a parked reply waits for */
    uint64_t synced;        /* flushed through this ticket */
    int failed;             /* a flush failed: every parked write becomes a 500 */
    int stop;
    worker *ws;
    int nworkers;
} syncer;

struct worker {
    pthread_t thread;
    int index;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    lg_store *store;
    lg_rest rest;
    lg_search_cache *cache; /* this worker's search results, or NULL */
    const lg_server_config *cfg;
    char default_base[128];
    int fd;
    int started; /* thread running: must be stopped and joined */
    syncer *sync;
    struct event *wake;   /* made active by the syncer after each flush */
    parked *head, **tail; /* in arrival order, so tickets ascend */
    int stopping;
    lg_audit_log *audit;  /* shared by all workers (one write() per line) */
    auth_state *auth;
    lg_fwd_glue *glue;    /* forwarding hooks and the forwarder, or NULL: off */
    lg_fwd_hooks hooks;   /* over glue */
    int searches;         /* directory searches waiting for their reply */
};

/* Whether the worker may leave its loop: nothing parked, no search pending. */
static int drained(const worker *w)
{
    return !w->head && !w->searches;
}

static void wake_forwarder(worker *w)
{
    lg_forwarder *fw = w->glue ? lg_fwd_glue_forwarder(w->glue) : NULL;
    if(fw)
        lg_forwarder_wake(fw);
}

static const char *reason_phrase(int status)
{
    switch(status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch(t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_HEAD: return "GET"; /* evhttp drops the body of HEAD answers */
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    default: return "OTHER";
    }
}

/* Host header → base URL, only if it looks like a host[:port]. */
static void base_from_host(const char *host, char *buf, size_t n, const char *fallback)
{
    if(host && *host && strlen(host) < 100 &&
       strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") ==
           strlen(host))
        snprintf(buf, n, "http://%s", host);
    else
        snprintf(buf, n, "%s", fallback);
}

static void free_body(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/* Append the request to the audit log. */
static void audit(worker *w, struct evhttp_request *req, const lg_rest_response *resp,
                  const reqinfo *in)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *p = uri ? evhttp_uri_get_path(uri) : NULL;
    char type[80], id[80];
    if(!w->audit)
        return;
    lg_audit_target(p, resp->location, type, sizeof(type), id, sizeof(id));
    lg_audit_record r = {
        .time_ms = in->wall,
        .client = in->client ? in->client->id : NULL,
        .role = in->client ? lg_auth_role_name(in->client->actor.role) : NULL,
        .who = in->client && in->client->actor.n_refs ? in->client->refs[0] : NULL,
        .method = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ? "HEAD" : in->method,
        .path = p && *p ? p : "/",
        .query = uri ? evhttp_uri_get_query(uri) : NULL,
        .status = resp->status,
        .type = type[0] ? type : NULL,
        .id = id[0] ? id : NULL,
        .ms = (double)(lg_time_mono_us() - in->t0) / 1000.0,
    };
    if(lg_audit_log_write(w->audit, &r)) {
        /* not fatal for the request; said once so a full disk is noticed */
        static int said;
        if(!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
            fprintf(stderr, "loopgate: cannot append to the audit log: %s\n", strerror(errno));
    }
}

/* Send resp (its body moves into the reply) and log the request. */
static void send_reply(worker *w, struct evhttp_request *req, lg_rest_response *resp,
                       const reqinfo *in)
{
    const char *m = in->method;
    int64_t t0 = in->t0;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *ob = evbuffer_new();
    if(resp->content_type)
        evhttp_add_header(out, "Content-Type", resp->content_type);
    if(resp->location[0])
        evhttp_add_header(out, "Location", resp->location);
    if(resp->etag[0])
        evhttp_add_header(out, "ETag", resp->etag);
    if(resp->last_modified[0])
        evhttp_add_header(out, "Last-Modified", resp->last_modified);
    if(resp->allow[0])
        evhttp_add_header(out, "Allow", resp->allow);
    if(resp->status == 401)
        evhttp_add_header(out, "WWW-Authenticate", "Bearer realm=\"loopgate\"");
    audit(w, req, resp, in);
    if(ob && resp->body && resp->body_len) {
        if(evbuffer_add_reference(ob, resp->body, resp->body_len, free_body, NULL) == 0)
            resp->body = NULL; /* the evbuffer frees it once sent */
    }
    if(!w->cfg->quiet) {
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
        const char *p = uri ? evhttp_uri_get_path(uri) : NULL, *q = uri ? evhttp_uri_get_query(uri) : NULL;
        fprintf(stderr, "%s %s%s%s %d %.1fms\n",
                evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ? "HEAD" : m,
                p && *p ? p : "/", q ? "?" : "", q ? q : "", resp->status,
                (double)(lg_time_mono_us() - t0) / 1000.0);
    }
    evhttp_send_reply(req, resp->status, reason_phrase(resp->status), ob);
    if(ob)
        evbuffer_free(ob);
}

/* The write was committed but could not be flushed: the client must not
 * take it as kept. */
static void make_unsure(lg_rest_response *resp)
{
    static const char body[] =
        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"fatal\","
        "\"code\":\"exception\",\"diagnostics\":\"The store could not flush this write to "
        "disk; it may not survive a crash. The server needs attention.\"}]}";
    free(resp->body);
    resp->body = strdup(body);
    resp->body_len = resp->body ? sizeof(body) - 1 : 0;
    resp->status = 500;
    resp->outbox_added = 0; /* not durable: the forwarder learns of it at its next look */
    resp->content_type = "application/fhir+json; charset=utf-8";
    resp->location[0] = resp->etag[0] = resp->last_modified[0] = resp->allow[0] = '\0';
}

/* Hold the reply until the syncer has flushed its commit. Returns 0 when
 * the reply should go now instead (already flushed, or flushing failed -
 * then resp has become the 500). On 1, resp's contents moved to the list. */
static int park(worker *w, struct evhttp_request *req, lg_rest_response *resp,
                const reqinfo *in)
{
    syncer *sy = w->sync;
    parked *p = NULL;
    pthread_mutex_lock(&sy->mu);
    if(sy->failed) {
        pthread_mutex_unlock(&sy->mu);
        make_unsure(resp);
        return 0;
    }
    if(sy->synced >= resp->durable_ticket || !(p = calloc(1, sizeof(*p)))) {
        pthread_mutex_unlock(&sy->mu);
        /* no memory to wait asynchronously: wait here instead */
        if(p == NULL && sy->synced < resp->durable_ticket &&
           lg_store_sync(w->store, resp->durable_ticket))
            make_unsure(resp);
        return 0;
    }
    if(resp->durable_ticket > sy->wanted) {
        sy->wanted = resp->durable_ticket;
        pthread_cond_signal(&sy->cv);
    }
    pthread_mutex_unlock(&sy->mu);
    p->req = req;
    p->resp = *resp;
    memset(resp, 0, sizeof(*resp));
    p->info = *in;
    *w->tail = p;
    w->tail = &p->next;
    return 1;
}

/* On the worker's thread, after a flush: send what it covered. */
static void on_wake(evutil_socket_t fd, short ev, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)ev;
    pthread_mutex_lock(&w->sync->mu);
    uint64_t synced = w->sync->synced;
    int failed = w->sync->failed;
    pthread_mutex_unlock(&w->sync->mu);
    int jobs = 0;
    while(w->head && (failed || w->head->resp.durable_ticket <= synced)) {
        parked *p = w->head;
        w->head = p->next;
        if(!w->head)
            w->tail = &w->head;
        if(failed)
            make_unsure(&p->resp);
        jobs |= p->resp.outbox_added;
        send_reply(w, p->req, &p->resp, &p->info);
        lg_rest_response_clear(&p->resp);
        free(p);
    }
    /* The forward jobs of these writes are on disk now: deliver them. */
    if(jobs)
        wake_forwarder(w);
    if(w->stopping && drained(w)) {
        struct timeval grace = {0, 200 * 1000};
        event_base_loopexit(w->base, &grace);
    }
}

static void *syncer_main(void *arg)
{
    syncer *sy = arg;
    pthread_mutex_lock(&sy->mu);
    while(!sy->stop) {
        if(sy->failed || sy->wanted <= sy->synced) {
            pthread_cond_wait(&sy->cv, &sy->mu);
            continue;
        }
        uint64_t want = sy->wanted;
        pthread_mutex_unlock(&sy->mu);
        lg_status st = lg_store_sync(sy->store, want);
        uint64_t done = lg_store_synced(sy->store);
        pthread_mutex_lock(&sy->mu);
        if(st) {
            fprintf(stderr, "loopgate: FATAL: the store could not flush to disk; "
                            "writes are refused from now on\n");
            sy->failed = 1;
        } else if(done > sy->synced) {
            sy->synced = done;
        }
        for(int i = 0; i < sy->nworkers; i++)
            if(sy->ws[i].wake)
                event_active(sy->ws[i].wake, EV_READ, 0);
        /* after the wake-ups, so no reply waits for the checkpoint */
        pthread_mutex_unlock(&sy->mu);
        lg_store_maintain(sy->store);
        pthread_mutex_lock(&sy->mu);
    }
    pthread_mutex_unlock(&sy->mu);
    return NULL;
}

/* resp becomes an OperationOutcome with one error issue. */
static void reply_outcome(lg_rest_response *resp, int status, const char *code, const char *msg)
{
    lg_issues is = {0};
    lg_buf b;
    lg_buf_init(&b, 64 * 1024);
    lg_issues_add(&is, LG_SEV_ERROR, code, NULL, "%s", msg);
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->content_type = NULL;
    if(lg_outcome_write(&b, &is, LG_SEV_ERROR, code, msg) == LG_OK) {
        resp->body = lg_buf_take(&b, &resp->body_len);
        resp->content_type = "application/fhir+json; charset=utf-8";
    }
    lg_buf_free(&b);
    lg_issues_free(&is);
    resp->status = status;
}

/* GET /AuditEvent: the audit log as a searchset Bundle, for coordination
 * staff only (the log names every client and what it searched for). */
static void serve_audit(worker *w, const char *path, const char *query, const char *base,
                        const reqinfo *in, lg_rest_response *resp)
{
    lg_audit_query q;
    lg_issues is = {0};
    lg_buf b;
    char file[4096];
    memset(resp, 0, sizeof(*resp));
    if(strcmp(path, "/AuditEvent") != 0 && strcmp(path, "/AuditEvent/") != 0) {
        reply_outcome(resp, 404, "not-found", "AuditEvents are searched only: GET /AuditEvent");
        return;
    }
    if(strcmp(in->method, "GET") != 0) {
        reply_outcome(resp, 405, "not-supported", "AuditEvent supports only GET (search)");
        snprintf(resp->allow, sizeof(resp->allow), "GET");
        return;
    }
    if(in->client && in->client->actor.role != LG_ROLE_COORDINATION) {
        reply_outcome(resp, 403, "forbidden", "The audit log is open to coordination clients only");
        return;
    }
    lg_status st = lg_audit_query_parse(query, &q, &is);
    if(st) {
        reply_outcome(resp, 400, "invalid", is.count ? is.items[0].diagnostics : "bad query");
        lg_issues_free(&is);
        return;
    }
    snprintf(file, sizeof(file), "%s/%s", w->cfg->data_dir, LG_AUDIT_FILE);
    lg_buf_init(&b, w->cfg->rest.max_response);
    st = lg_audit_export(file, &q, base, query, &b, &is);
    if(st) {
        reply_outcome(resp, st == LG_ETOOLARGE ? 413 : 500, "exception",
                      is.count ? is.items[0].diagnostics : lg_status_str(st));
    } else {
        resp->status = 200;
        resp->body = lg_buf_take(&b, &resp->body_len);
        resp->content_type = "application/fhir+json; charset=utf-8";
    }
    lg_buf_free(&b);
    lg_issues_free(&is);
}

/* ------------------------------------------------------------ forwarding */

static const char *webhook_header(const void *hctx, const char *name)
{
    return evhttp_find_header((struct evkeyvalq *)hctx, name);
}

/* resp = {"outcome": msg} (plain JSON: the platform is not a FHIR client). */
static void reply_plain(lg_rest_response *resp, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    char *text = o && cJSON_AddStringToObject(o, "outcome", msg ? msg : "") ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    memset(resp, 0, sizeof(*resp));
    resp->status = status;
    if(text) {
        resp->body = text;
        resp->body_len = strlen(text);
        resp->content_type = "application/json";
    }
}

/* POST /forward/{platform}/events: a platform's status webhook. No bearer
 * token - lg_fwd_inbound checks the platform's signature - but bounded and
 * audited like every request. Applied on this worker's store handle. */
static void serve_webhook(worker *w, struct evhttp_request *req, const char *path, const char *method,
                          lg_rest_response *resp)
{
    char platform[65], msg[512];
    const char *p = path + strlen("/forward/");
    size_t n = strcspn(p, "/");
    if(n == 0 || n >= sizeof(platform) || strcmp(p + n, "/events") != 0) {
        reply_plain(resp, 404, "no such endpoint: POST /forward/{platform}/events");
        return;
    }
    if(strcmp(method, "POST") != 0) {
        reply_plain(resp, 405, "webhooks are POSTed");
        snprintf(resp->allow, sizeof(resp->allow), "POST");
        return;
    }
    snprintf(platform, sizeof(platform), "%.*s", (int)n, p);
    if(!w->glue || !lg_fwd_platform_exists(w->cfg->forwarding, platform)) {
        reply_plain(resp, 404, "unknown platform");
        return;
    }
    struct evbuffer *body_in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(body_in);
    if(blen > MAX_WEBHOOK_BODY) {
        reply_plain(resp, 413, "event body too large");
        return;
    }
    /* Not NUL-terminated: lg_fwd_inbound reads body_len bytes only. */
    const char *body = blen ? (const char *)evbuffer_pullup(body_in, -1) : "";
    msg[0] = '\0';
    int status = lg_fwd_inbound(w->cfg->forwarding, w->store, platform, webhook_header,
                                evhttp_request_get_input_headers(req), body, blen, &w->hooks,
                                lg_time_now_ms(), msg, sizeof(msg));
    reply_plain(resp, status, msg[0] ? msg : reason_phrase(status));
}

/* A directory search on its way: who gets the answer. */
typedef struct hs_search {
    worker *w;
    struct evhttp_request *req;
    reqinfo info;
} hs_search;

/* On the worker's thread (event_base_once from the forwarder). */
static void search_done(void *arg, int status, char *body, size_t body_len)
{
    hs_search *s = arg;
    worker *w = s->w;
    lg_rest_response resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = status;
    resp.body = body; /* ours now */
    resp.body_len = body ? body_len : 0;
    resp.content_type = body ? "application/fhir+json; charset=utf-8" : NULL;
    send_reply(w, s->req, &resp, &s->info);
    lg_rest_response_clear(&resp);
    free(s);
    w->searches--;
    if(w->stopping && drained(w)) {
        struct timeval grace = {0, 200 * 1000};
        event_base_loopexit(w->base, &grace);
    }
}

/* GET /HealthcareService?... with a directory platform: proxied (read and
 * vread of a HealthcareService stay local). Returns 1 when the reply will
 * come through search_done, 0 with resp filled to send now. */
static int proxy_search(worker *w, struct evhttp_request *req, const char *query, const char *base,
                        const reqinfo *in, lg_rest_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    if(in->client && !in->client->unrestricted && in->client->actor.role == LG_ROLE_REPORTING) {
        reply_outcome(resp, 403, "forbidden", "Reporting clients see aggregates only");
        return 0;
    }
    lg_forwarder *fw = lg_fwd_glue_forwarder(w->glue);
    hs_search *s = fw ? calloc(1, sizeof(*s)) : NULL;
    if(!s) {
        reply_outcome(resp, 503, "transient", "The directory is not available");
        return 0;
    }
    s->w = w;
    s->req = req;
    s->info = *in;
    lg_status st = lg_forwarder_search(fw, query ? query : "", base, w->base, search_done, s);
    if(st) {
        free(s);
        reply_outcome(resp, st == LG_EUNSUPPORTED ? 404 : 503, "transient",
                      "The directory search could not be started");
        return 0;
    }
    w->searches++;
    return 1;
}

/* Open without a token: the CapabilityStatement, as FHIR servers do (a
 * client must be able to discover how to authenticate). */
static int is_open(const char *method, const char *path)
{
    return strcmp(method, "GET") == 0 && strcmp(path, "/metadata") == 0;
}

static void handle(struct evhttp_request *req, void *arg)
{
    worker *w = arg;
    int64_t t0 = lg_time_mono_us();
    reqinfo info = {.t0 = t0, .wall = lg_time_now_ms()};
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
    size_t plen = 0;
    char *path = evhttp_uridecode(raw_path && *raw_path ? raw_path : "/", 0, &plen);
    struct evbuffer *body_in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(body_in);
    char base[160];
    lg_rest_response resp;
    const char *m = method_name(evhttp_request_get_command(req));
    info.method = m;

    if(w->cfg->rest.base_url)
        snprintf(base, sizeof(base), "%s", w->cfg->rest.base_url);
    else
        base_from_host(evhttp_find_header(in, "Host"), base, sizeof(base), w->default_base);

    /* A platform's webhook authenticates by its signature, not a token. */
    if(path && strncmp(path, "/forward/", 9) == 0 && strlen(path) == plen) {
        serve_webhook(w, req, path, m, &resp);
        goto send;
    }
    const lg_clients *clients = __atomic_load_n(&w->auth->current, __ATOMIC_ACQUIRE);
    if(clients && !is_open(m, path ? path : "/")) {
        size_t tlen = 0;
        const char *tok = lg_auth_bearer(evhttp_find_header(in, "Authorization"), &tlen);
        info.client = tok ? lg_clients_authenticate(clients, tok, tlen) : NULL;
        if(!info.client) {
            memset(&resp, 0, sizeof(resp));
            reply_outcome(&resp, 401, "login",
                          tok ? "The bearer token is not one of a configured client"
                              : "Authentication required: send 'Authorization: Bearer <token>'");
            goto send;
        }
    }
    if(path && strncmp(path, "/AuditEvent", 11) == 0 && (path[11] == '\0' || path[11] == '/')) {
        serve_audit(w, path, uri ? evhttp_uri_get_query(uri) : NULL, base, &info, &resp);
        goto send;
    }
    if(w->glue && lg_fwd_directory(w->cfg->forwarding) && path && strcmp(m, "GET") == 0 &&
       (strcmp(path, "/HealthcareService") == 0 || strcmp(path, "/HealthcareService/") == 0)) {
        if(proxy_search(w, req, uri ? evhttp_uri_get_query(uri) : NULL, base, &info, &resp))
            goto out; /* answered by search_done */
        goto send;
    }

    lg_rest_request r = {
        .method = m,
        .path = path && strlen(path) == plen ? path : "/\x01", /* embedded NUL: no route */
        .query = uri ? evhttp_uri_get_query(uri) : NULL,
        .base = base,
        .content_type = evhttp_find_header(in, "Content-Type"),
        .accept = evhttp_find_header(in, "Accept"),
        .if_match = evhttp_find_header(in, "If-Match"),
        .if_none_match = evhttp_find_header(in, "If-None-Match"),
        .if_none_exist = evhttp_find_header(in, "If-None-Exist"),
        .if_modified_since = evhttp_find_header(in, "If-Modified-Since"),
        .prefer = evhttp_find_header(in, "Prefer"),
        .body = blen ? (const char *)evbuffer_pullup(body_in, -1) : NULL,
        .body_len = blen,
        .search_cache = w->cache,
        /* an unrestricted client is the server itself to the REST layer */
        .actor = info.client && !info.client->unrestricted ? &info.client->actor : NULL,
        .client_id = info.client && !info.client->unrestricted ? info.client->id : NULL,
    };
    lg_rest_handle(&w->rest, w->store, &r, &resp);

    if(resp.durable_ticket && park(w, req, &resp, &info))
        goto out;
    /* Durable already (or the write failed: no jobs then). */
    if(resp.outbox_added && resp.status < 300)
        wake_forwarder(w);
send:
    send_reply(w, req, &resp, &info);
out:
    lg_rest_response_clear(&resp);
    free(path);
}

/* Runs on the worker's own thread (scheduled by the main thread). */
static void stop_worker(evutil_socket_t fd, short ev, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)ev;
    if(w->bound) {
        evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
    }
    /* Requests are handled synchronously, so none is half-done here, but
     * replies may be parked waiting for a flush: on_wake exits once they
     * are sent. The grace period lets queued responses drain to sockets. */
    w->stopping = 1;
    if(drained(w)) {
        struct timeval grace = {0, 200 * 1000};
        event_base_loopexit(w->base, &grace);
    } else if(w->searches) {
        /* A directory that never answers must not hold the shutdown: the
         * forwarder abandons its requests when it stops, after this. */
        struct timeval most = {SEARCH_DRAIN_SECONDS, 0};
        event_base_loopexit(w->base, &most);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, int *loopback)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if(!colon || colon == s || strlen(s) >= sizeof(host))
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if(*end || port < 0 || port > 65535 || end == colon + 1)
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
    memset(ss, 0, sizeof(*ss));
    if(host[0] == '[' && host[strlen(host) - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        host[strlen(host) - 1] = '\0';
        if(inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return -1;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if(strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if(inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return -1;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof(*a);
    *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

/* SIGHUP: read the clients file again. A file that cannot be loaded, or
 * has no client, leaves the clients in force as they were. */
static void on_sighup(evutil_socket_t sig, short ev, void *arg)
{
    auth_state *a = arg;
    char path[4096];
    lg_clients *cs = NULL;
    lg_issues is = {0};
    (void)sig;
    (void)ev;
    if(!a->current) {
        fprintf(stderr, "loopgate: SIGHUP ignored: serving with --no-auth\n");
        return;
    }
    if(a->nloaded >= MAX_RELOADS) {
        fprintf(stderr, "loopgate: SIGHUP ignored: %d reloads already; restart the server to "
                        "read the clients file again\n", MAX_RELOADS);
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", a->cfg->data_dir, LG_AUTH_FILE);
    lg_status st = lg_clients_load(path, &cs, &is);
    if(!st && lg_clients_count(cs) == 0)
        st = LG_ENOTFOUND;
    if(st) {
        fprintf(stderr, "loopgate: SIGHUP: clients not reloaded (%s); keeping %zu client%s\n",
                is.count ? is.items[0].diagnostics : "the file has no client",
                lg_clients_count(a->current), lg_clients_count(a->current) == 1 ? "" : "s");
        lg_clients_free(cs);
    } else {
        a->loaded[a->nloaded++] = cs;
        __atomic_store_n(&a->current, cs, __ATOMIC_RELEASE);
        fprintf(stderr, "loopgate: SIGHUP: %zu client%s loaded from %s\n", lg_clients_count(cs),
                lg_clients_count(cs) == 1 ? "" : "s", path);
    }
    lg_issues_free(&is);
}

static void on_signal(evutil_socket_t sig, short ev, void *arg)
{
    (void)ev;
    fprintf(stderr, "loopgate: signal %d, shutting down\n", (int)sig);
    event_base_loopbreak(arg);
}

int lg_server_run(const lg_server_config *cfg, const lg_defs *defs)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int loopback = 0, fd = -1, rc = 1, nthreads = cfg->threads > 0 ? cfg->threads : 1;
    worker *ws = NULL;
    syncer sy = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    struct event_base *main_base = NULL;
    struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
    lg_audit_log *audit_log = NULL;
    auth_state auth = {.current = cfg->clients, .cfg = cfg};
    lg_fwd_glue *glue = NULL;
    lg_fwd_hooks fwd_hooks;
    lg_forwarder *fw = NULL;

    if(parse_listen(cfg->listen, &ss, &sl, &loopback)) {
        fprintf(stderr, "loopgate: --listen '%s' is not HOST:PORT with a numeric address\n",
                cfg->listen);
        return 2;
    }
    if(!loopback && !cfg->allow_remote) {
        fprintf(stderr, "loopgate: refusing to listen on non-loopback '%s' without "
                        "--allow-remote (and put TLS in front: the server speaks plain HTTP)\n",
                cfg->listen);
        return 2;
    }
    if(!loopback && !cfg->clients) {
        fprintf(stderr, "loopgate: refusing to listen on non-loopback '%s' without "
                        "authentication\n", cfg->listen);
        return 2;
    }
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    /* TCP_NODELAY is inherited by accepted sockets on Linux. Without it a
     * reply evhttp writes in two pieces (headers, then a body larger than
     * one segment) waits for the client's delayed ACK: ~40 ms per request
     * on keep-alive connections. */
    if(fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
       setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
       bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 1024)) {
        fprintf(stderr, "loopgate: cannot listen on %s: %s\n", cfg->listen, strerror(errno));
        goto out;
    }
    ws = calloc((size_t)nthreads, sizeof(*ws));
    if(!ws)
        goto out;
    {
        lg_issues issues = {0};
        if(lg_store_open(cfg->data_dir, &sy.store, &issues)) {
            fprintf(stderr, "loopgate: cannot open the store in '%s': %s\n", cfg->data_dir,
                    issues.count ? issues.items[0].diagnostics : "unknown error");
            lg_issues_free(&issues);
            goto out;
        }
        lg_issues_free(&issues);
        /* after the store: it creates the data directory */
        if(lg_audit_log_open(cfg->data_dir, &audit_log, &issues)) {
            fprintf(stderr, "loopgate: %s\n",
                    issues.count ? issues.items[0].diagnostics : "cannot open the audit log");
            lg_issues_free(&issues);
            goto out;
        }
    }
    sy.ws = ws;
    sy.nworkers = nthreads;
    lg_rest_config rest_cfg = cfg->rest;
    /* No platform (the file is missing or lists none): forwarding is off -
     * no routes, no webhooks, no forwarder thread. */
    if(cfg->forwarding && lg_fwd_platform_count(cfg->forwarding) > 0) {
        char ibase[160];
        if(!(glue = malloc(sizeof(*glue))))
            goto out;
        /* Each write asks the routes (inside its transaction). */
        rest_cfg.forward_route = lg_fwd_glue_route;
        rest_cfg.forward_ctx = cfg->forwarding;
        snprintf(ibase, sizeof(ibase), "http://%s", cfg->listen);
        lg_fwd_glue_init(glue, defs, &rest_cfg, cfg->rest.base_url ? cfg->rest.base_url : ibase);
        lg_fwd_glue_hooks(glue, &fwd_hooks);
    }
    for(int i = 0; i < nthreads; i++) {
        worker *w = &ws[i];
        lg_issues issues = {0};
        w->index = i;
        w->cfg = cfg;
        w->rest.defs = defs;
        w->rest.cfg = rest_cfg;
        w->rest.cfg.defer_sync = 1;
        w->glue = glue;
        if(glue)
            w->hooks = fwd_hooks;
        w->sync = &sy;
        w->tail = &w->head;
        w->fd = -1;
        w->audit = audit_log;
        w->auth = &auth;
        snprintf(w->default_base, sizeof(w->default_base), "http://%s", cfg->listen);
        if(lg_store_open(cfg->data_dir, &w->store, &issues)) {
            fprintf(stderr, "loopgate: cannot open the store in '%s': %s\n", cfg->data_dir,
                    issues.count ? issues.items[0].diagnostics : "unknown error");
            lg_issues_free(&issues);
            goto out;
        }
        lg_issues_free(&issues);
        if(lg_search_cache_new(cfg->search_cache_bytes, &w->cache))
            goto out;
        w->base = event_base_new();
        w->http = w->base ? evhttp_new(w->base) : NULL;
        w->wake = w->base ? event_new(w->base, -1, 0, on_wake, w) : NULL;
        w->fd = dup(fd);
        if(!w->http || !w->wake || w->fd < 0)
            goto out;
        evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                                EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                                EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
        /* libevent's own 413 (plain text) is only the backstop for absurd
         * sizes; between max_body and the backstop the REST layer answers
         * with an OperationOutcome. */
        size_t hard = cfg->rest.max_body * 2 + (1u << 20);
        evhttp_set_max_body_size(w->http, (ev_ssize_t)hard);
        evhttp_set_max_headers_size(w->http, 64 * 1024);
        evhttp_set_timeout(w->http, cfg->idle_timeout > 0 ? cfg->idle_timeout : 60);
        evhttp_set_default_content_type(w->http, "application/fhir+json; charset=utf-8");
        evhttp_set_gencb(w->http, handle, w);
        w->bound = evhttp_accept_socket_with_handle(w->http, w->fd);
        if(!w->bound)
            goto out;
        w->fd = -1; /* owned by evhttp now */
    }
    main_base = event_base_new();
    if(!main_base)
        goto out;
    sigterm = evsignal_new(main_base, SIGTERM, on_signal, main_base);
    sigint = evsignal_new(main_base, SIGINT, on_signal, main_base);
    sighup = evsignal_new(main_base, SIGHUP, on_sighup, &auth);
    if(!sigterm || !sigint || !sighup || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL) ||
       evsignal_add(sighup, NULL))
        goto out;
    if(pthread_create(&sy.thread, NULL, syncer_main, &sy) != 0)
        goto out;
    sy.started = 1;
    if(glue) {
        /* Once the workers are set up, before they take a request: a
         * request must never find no forwarder (a directory search would
         * be refused). Its own store handle delivers the outbox; callbacks
         * queued on a worker's event_base run once that worker runs. */
        lg_issues issues = {0};
        if(lg_forwarder_start(cfg->forwarding, cfg->data_dir, &fwd_hooks, &fw, &issues)) {
            fprintf(stderr, "loopgate: cannot start the forwarder: %s\n",
                    issues.count ? issues.items[0].diagnostics : "unknown error");
            lg_issues_free(&issues);
            goto out;
        }
        lg_issues_free(&issues);
        lg_fwd_glue_set_forwarder(glue, fw);
        const char *dir = lg_fwd_directory(cfg->forwarding);
        fprintf(stderr, "loopgate: forwarding to %zu platform%s%s%s\n",
                lg_fwd_platform_count(cfg->forwarding),
                lg_fwd_platform_count(cfg->forwarding) == 1 ? "" : "s",
                dir ? "; HealthcareService searches from " : "", dir ? dir : "");
    }
    for(int i = 0; i < nthreads; i++)
        if(pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) == 0)
            ws[i].started = 1;
        else
            goto out;
    fprintf(stderr, "loopgate: serving FHIR R4 on http://%s with %d worker thread%s, data in %s\n",
            cfg->listen, nthreads, nthreads == 1 ? "" : "s", cfg->data_dir);
    if(cfg->clients) {
        size_t n = lg_clients_count(cfg->clients), unr = 0;
        for(size_t i = 0; i < n; i++)
            unr += lg_clients_at(cfg->clients, i)->unrestricted != 0;
        fprintf(stderr, "loopgate: %zu client%s may authenticate (bearer tokens), %zu of them "
                        "unrestricted\n", n, n == 1 ? "" : "s", unr);
    }
    else
        fprintf(stderr, "loopgate: WARNING: --no-auth: every request is served without "
                        "authentication\n");
    event_base_dispatch(main_base);
    rc = 0;
out:
    if(ws) {
        for(int i = 0; i < nthreads; i++)
            if(ws[i].started)
                event_base_once(ws[i].base, -1, EV_TIMEOUT, stop_worker, &ws[i], NULL);
        for(int i = 0; i < nthreads; i++)
            if(ws[i].started)
                pthread_join(ws[i].thread, NULL);
    }
    /* No worker wakes it or waits for a search any more; it calls back on
     * the workers' event_bases, so it stops before they are freed. */
    if(glue)
        lg_fwd_glue_set_forwarder(glue, NULL);
    lg_forwarder_stop(fw);
    /* Workers have sent every parked reply; only now may the syncer go. */
    if(sy.started) {
        pthread_mutex_lock(&sy.mu);
        sy.stop = 1;
        pthread_cond_signal(&sy.cv);
        pthread_mutex_unlock(&sy.mu);
        pthread_join(sy.thread, NULL);
    }
    if(ws) {
        for(int i = 0; i < nthreads; i++) {
            worker *w = &ws[i];
            while(w->head) { /* only if a worker never ran */
                parked *p = w->head;
                w->head = p->next;
                lg_rest_response_clear(&p->resp);
                free(p);
            }
            if(w->wake)
                event_free(w->wake);
            if(w->http)
                evhttp_free(w->http);
            if(w->base)
                event_base_free(w->base);
            if(w->fd >= 0)
                close(w->fd);
            if(w->store)
                lg_store_close(w->store);
            lg_search_cache_free(w->cache);
        }
        free(ws);
    }
    if(sy.store)
        lg_store_close(sy.store);
    lg_audit_log_close(audit_log);
    if(sigterm)
        event_free(sigterm);
    if(sigint)
        event_free(sigint);
    if(sighup)
        event_free(sighup);
    /* the workers are joined: no request points at a client any more */
    for(int i = 0; i < auth.nloaded; i++)
        lg_clients_free(auth.loaded[i]);
    if(main_base)
        event_base_free(main_base);
    free(glue);
    if(fd >= 0)
        close(fd);
    if(rc == 0)
        fprintf(stderr, "loopgate: stopped\n");
    return rc;
}
