/* dirsim.c - the directory simulator: a small libevent HTTP server that
 * plays the resource-directory platforms of docs/forwarding.md on loopback,
 * so the forwarding integration tests and the forwarding bench run the real
 * gateway against something that speaks the wire formats exactly and can
 * misbehave on command.
 *
 *  - Style A (adapter uniteus): POST /oauth2/token (client credentials,
 *    Basic), POST /v1/referrals (Bearer, Idempotency-Key dedupe),
 *    POST /v1/referrals/{id}/cancel, signed webhooks to the gateway.
 *  - Style B (adapter findhelp): X-API-Key; GET /api/v2/programs/{id},
 *    POST /api/v2/referrals, GET /api/v2/referrals/{id},
 *    POST /api/v2/referrals/{id}/cancellation.
 *  - Style C (adapter hsds): GET [anything]/services over ~30 built-in
 *    services, HSDS 3.0 page envelope.
 *  - /_control/...: scripted faults, what was received, status changes
 *    (webhook or polled state), raw webhooks, counters (see usage()).
 *
 * One thread runs the event loop; webhooks go out from a second thread with
 * blocking libcurl calls (the gateway may take a while to apply an event and
 * the loop must keep answering meanwhile), and the control request that
 * asked for them is answered back on the loop thread (event_base_once).
 * Everything a request received is bounded (body, header sizes, lists). */
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#define MAX_BODY (1u << 20)     /* request bodies */
#define MAX_REFERRALS 100000    /* what one run may record */
#define MAX_TOKENS 4096         /* issued tokens remembered (ring) */
#define MAX_FAULTS 64
#define MAX_PENDING 4096        /* delayed or hung replies */
#define MAX_STR 4096            /* any string kept from a request */
#define MAX_LOG 20000           /* platform requests logged (later ones only counted) */

/* ------------------------------------------------------------ state */

typedef struct referral {
    char *id;          /* "R-n" (style A) or "F-n" (style B) */
    char style;        /* 'A' or 'B' */
    char *external_id; /* Task/{id} */
    char *key;         /* Idempotency-Key of the create */
    char *program;     /* receiving program */
    cJSON *body;       /* the create body as received */
    char *reply;       /* the 201 body, sent again (200) for a repeated key */
    int times;         /* creates received with this key */
    int64_t received_ms, last_ms;
    char *status;      /* platform status */
    char *changed_at;  /* when it changed (ISO) */
    char *reason, *outcome;
    int cancels;       /* cancel requests received */
    char *cancel_reason;
} referral;

typedef struct token {
    char value[65];
    int64_t expires_ms;
} token;

typedef struct fault {
    char prefix[256];
    char mode[24];  /* refuse hang close drop_after_commit slow or an HTTP status */
    int remaining;  /* <= 0: until cleared */
    int retry_after;
    int delay_ms;
} fault;

typedef struct reply {
    int status;
    char *body;             /* owned */
    char retry_after[24];   /* "" none */
} reply;

/* A reply sent later: after a delay (timer) or never until released (hang). */
typedef struct pending {
    struct evhttp_request *req;
    struct evhttp_connection *evcon; /* only compared, never used */
    struct event *timer;             /* NULL for a hang */
    reply r;
    int used;
} pending;

/* One platform request as received (GET /_control/requests). */
typedef struct logline {
    char method[8];
    char path[128];
    char key[128];   /* Idempotency-Key, "" none */
    char fault[24];  /* the fault applied, "" none */
    int status;      /* answered (0: no answer) */
    int64_t received_ms;
} logline;

/* A webhook job for the sender thread. */
typedef struct whjob {
    struct whjob *next;
    char *url, *secret;
    char *body;
    int copies;
    int bad_signature;
    int64_t timestamp; /* 0: now */
    struct evhttp_request *req; /* control request to answer when done */
    int statuses[16];
    char *last_body;   /* the gateway's last answer */
    int sent;
} whjob;

static struct {
    struct event_base *base;
    struct evhttp *http;
    char *webhook_url, *webhook_secret;
    char *client_id, *client_secret, *api_key;
    int delay_ms;
    int token_ttl;
    /* programs of style B: id and active flag */
    char *programs[32];
    int program_active[32];
    size_t n_programs;
    referral *refs;
    size_t n_refs, cap_refs;
    int next_a, next_b;
    token tokens[MAX_TOKENS];
    size_t n_tokens; /* total issued; ring index n % MAX_TOKENS */
    fault faults[MAX_FAULTS];
    size_t n_faults;
    pending pend[MAX_PENDING];
    cJSON *services;
    int next_event;
    logline *log;
    size_t n_log;
    /* counters */
    uint64_t requests, token_requests, tokens_issued, unauthorized, creates, duplicates,
        cancels, polls, program_lookups, searches, faults_applied, webhooks_sent,
        webhooks_failed;
    /* sender thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    whjob *queue_head, *queue_tail;
    int stopping;
} S;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* strdup of at most MAX_STR bytes; NULL stays NULL. Caller frees. */
static char *dup_bounded(const char *s)
{
    if(!s)
        return NULL;
    size_t n = 0;
    while(n < MAX_STR && s[n])
        n++;
    char *d = malloc(n + 1);
    if(d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = dup_bounded(s);
}

/* ------------------------------------------------------------ replies */

static void send_json(struct evhttp_request *req, int status, const char *body,
                      const char *retry_after)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    if(retry_after && *retry_after)
        evhttp_add_header(h, "Retry-After", retry_after);
    struct evbuffer *b = evbuffer_new();
    if(b && body)
        evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, status, NULL, b);
    if(b)
        evbuffer_free(b);
}

/* Reply with cJSON o (deleted here). */
static void send_obj(struct evhttp_request *req, int status, cJSON *o)
{
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    send_json(req, status, t ? t : "{}", NULL);
    free(t);
    cJSON_Delete(o);
}

static void send_error(struct evhttp_request *req, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    send_obj(req, status, o);
}

/* Close the connection without any answer (refused / dropped). The request
 * is freed with its connection; nothing touches it after this callback. */
static void drop_connection(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if(evcon)
        evhttp_connection_free(evcon);
}

static void pending_release(pending *p)
{
    if(p->timer)
        event_free(p->timer);
    free(p->r.body);
    memset(p, 0, sizeof(*p));
}

/* A connection goes away: a reply still attached to it is freed with it, so
 * forget it; a detached one (libevent saw EOF first) stays, and sending it
 * later frees it. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)arg;
    for(size_t i = 0; i < MAX_PENDING; i++) {
        pending *p = &S.pend[i];
        if(p->used && p->evcon == evcon && evhttp_request_get_connection(p->req) == evcon)
            pending_release(p);
    }
}

static void pending_fire(pending *p)
{
    send_json(p->req, p->r.status, p->r.body, p->r.retry_after);
    pending_release(p);
}

static void on_pending_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pending_fire(arg);
}

/* Answer r later: after delay_ms, or (delay_ms < 0) when released. Takes r's
 * body. With no free slot the reply goes out now. */
static void reply_later(struct evhttp_request *req, reply *r, int delay_ms)
{
    pending *p = NULL;
    for(size_t i = 0; i < MAX_PENDING && !p; i++)
        if(!S.pend[i].used)
            p = &S.pend[i];
    if(!p) {
        send_json(req, r->status, r->body, r->retry_after);
        free(r->body);
        return;
    }
    p->used = 1;
    p->req = req;
    p->evcon = evhttp_request_get_connection(req);
    p->r = *r;
    r->body = NULL;
    if(p->evcon)
        evhttp_connection_set_closecb(p->evcon, on_conn_close, NULL);
    if(delay_ms >= 0) {
        p->timer = evtimer_new(S.base, on_pending_timer, p);
        struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
        if(!p->timer || evtimer_add(p->timer, &tv) != 0)
            pending_fire(p);
    }
}

/* Hung requests are answered 503 (a fault cleared, or shutting down). */
static void release_hung(void)
{
    for(size_t i = 0; i < MAX_PENDING; i++)
        if(S.pend[i].used && !S.pend[i].timer)
            pending_fire(&S.pend[i]);
}

/* ------------------------------------------------------------ requests */

typedef struct request {
    struct evhttp_request *req;
    enum evhttp_cmd_type method;
    char path[1024];
    struct evkeyvalq query;
    char *body; /* NUL-terminated copy, NULL when empty */
    size_t body_len;
    cJSON *json; /* body parsed, or NULL */
} request;

static const char *header(const request *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

/* "/a/b/c" split: whether path starts with prefix, and the rest. */
static const char *after(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 ? path + n : NULL;
}

static int bearer_ok(const request *r)
{
    const char *a = header(r, "Authorization");
    if(!a || strncasecmp(a, "Bearer ", 7) != 0)
        return 0;
    const char *t = a + 7;
    int64_t now = now_ms();
    size_t n = S.n_tokens < MAX_TOKENS ? S.n_tokens : MAX_TOKENS;
    for(size_t i = 0; i < n; i++)
        if(strcmp(S.tokens[i].value, t) == 0)
            return S.tokens[i].expires_ms > now;
    return 0;
}

static int api_key_ok(const request *r)
{
    const char *k = header(r, "X-API-Key");
    return k && S.api_key && strcmp(k, S.api_key) == 0;
}

static referral *ref_by_id(const char *id)
{
    for(size_t i = 0; i < S.n_refs; i++)
        if(strcmp(S.refs[i].id, id) == 0)
            return &S.refs[i];
    return NULL;
}

static referral *ref_by_key(char style, const char *key)
{
    for(size_t i = 0; i < S.n_refs; i++)
        if(S.refs[i].style == style && strcmp(S.refs[i].key, key) == 0)
            return &S.refs[i];
    return NULL;
}

static referral *ref_add(void)
{
    if(S.n_refs == MAX_REFERRALS)
        return NULL;
    if(S.n_refs == S.cap_refs) {
        size_t cap = S.cap_refs ? S.cap_refs * 2 : 64;
        referral *n = realloc(S.refs, cap * sizeof(*n));
        if(!n)
            return NULL;
        S.refs = n;
        S.cap_refs = cap;
    }
    referral *f = &S.refs[S.n_refs++];
    memset(f, 0, sizeof(*f));
    return f;
}

static void ref_free(referral *f)
{
    free(f->id);
    free(f->external_id);
    free(f->key);
    free(f->program);
    cJSON_Delete(f->body);
    free(f->reply);
    free(f->status);
    free(f->changed_at);
    free(f->reason);
    free(f->outcome);
    free(f->cancel_reason);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Record a create; *out the reply. A repeated key answers 200 with the
 * first reply. */
static void create_referral(const request *r, char style, reply *out)
{
    const char *key = header(r, "Idempotency-Key");
    out->status = 400;
    if(!key || !*key || strlen(key) > 200) {
        out->body = strdup("{\"error\":\"Idempotency-Key required\"}");
        return;
    }
    referral *f = ref_by_key(style, key);
    if(f) {
        f->times++;
        f->last_ms = now_ms();
        S.duplicates++;
        out->status = 200;
        out->body = strdup(f->reply);
        return;
    }
    const char *ext = jstr(r->json, style == 'A' ? "external_id" : "external_reference");
    const char *prog = jstr(r->json, style == 'A' ? "receiving_program_id" : "program_id");
    if(!cJSON_IsObject(r->json)) {
        out->body = strdup("{\"error\":\"body is not a JSON object\"}");
        return;
    }
    if(!ext || !prog) {
        out->status = 422;
        out->body = strdup(style == 'A'
                               ? "{\"error\":\"external_id and receiving_program_id required\"}"
                               : "{\"error\":\"external_reference and program_id required\"}");
        return;
    }
    if(style == 'B') {
        int known = 0;
        for(size_t i = 0; i < S.n_programs; i++)
            known |= strcmp(S.programs[i], prog) == 0 && S.program_active[i];
        if(!known) {
            out->status = 422;
            out->body = strdup("{\"error\":\"no such active program\"}");
            return;
        }
    }
    f = ref_add();
    if(!f) {
        out->status = 507;
        out->body = strdup("{\"error\":\"too many referrals\"}");
        return;
    }
    char id[32], at[32];
    snprintf(id, sizeof(id), "%c-%d", style == 'A' ? 'R' : 'F', style == 'A' ? ++S.next_a : ++S.next_b);
    iso_now(at, sizeof(at));
    f->id = strdup(id);
    f->style = style;
    f->external_id = dup_bounded(ext);
    f->key = strdup(key);
    f->program = dup_bounded(prog);
    f->body = cJSON_Duplicate(r->json, 1);
    f->times = 1;
    f->received_ms = f->last_ms = now_ms();
    f->status = strdup(style == 'A' ? "pending" : "sent");
    f->changed_at = strdup(at);
    cJSON *o = cJSON_CreateObject();
    if(style == 'A') {
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "status", "pending");
        cJSON_AddStringToObject(o, "external_id", ext);
    } else {
        cJSON_AddStringToObject(o, "referral_id", id);
        cJSON_AddStringToObject(o, "state", "sent");
    }
    f->reply = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    S.creates++;
    out->status = 201;
    out->body = strdup(f->reply ? f->reply : "{}");
}

static void cancel_referral(const request *r, char style, const char *id, reply *out)
{
    referral *f = ref_by_id(id);
    if(!f || f->style != style) {
        out->status = 404;
        out->body = strdup("{\"error\":\"no such referral\"}");
        return;
    }
    f->cancels++;
    S.cancels++;
    const char *reason = jstr(r->json, "reason");
    if(reason)
        set_str(&f->cancel_reason, reason);
    char at[32];
    iso_now(at, sizeof(at));
    set_str(&f->status, "cancelled");
    set_str(&f->changed_at, at);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, style == 'A' ? "id" : "referral_id", f->id);
    cJSON_AddStringToObject(o, style == 'A' ? "status" : "state", "cancelled");
    out->status = 200;
    out->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
}

static void token_endpoint(const request *r, reply *out)
{
    S.token_requests++;
    const char *a = header(r, "Authorization");
    int ok = 0;
    if(a && strncasecmp(a, "Basic ", 6) == 0 && strlen(a + 6) < 512) {
        unsigned char dec[400];
        const char *b64 = a + 6;
        int n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)strlen(b64));
        if(n > 0) {
            /* EVP_DecodeBlock counts the padding as zero bytes */
            size_t l = strlen(b64);
            while(l && b64[l - 1] == '=' && n > 0) {
                n--;
                l--;
            }
            dec[n] = '\0';
            char want[512];
            snprintf(want, sizeof(want), "%s:%s", S.client_id, S.client_secret);
            ok = strcmp((char *)dec, want) == 0;
        }
    }
    if(!ok) {
        S.unauthorized++;
        out->status = 401;
        out->body = strdup("{\"error\":\"invalid_client\"}");
        return;
    }
    if(!r->body || !strstr(r->body, "grant_type=client_credentials")) {
        out->status = 400;
        out->body = strdup("{\"error\":\"unsupported_grant_type\"}");
        return;
    }
    unsigned char raw[32];
    token *t = &S.tokens[S.n_tokens % MAX_TOKENS];
    RAND_bytes(raw, sizeof(raw));
    for(size_t i = 0; i < sizeof(raw); i++)
        snprintf(t->value + 2 * i, 3, "%02x", raw[i]);
    t->expires_ms = now_ms() + (int64_t)S.token_ttl * 1000;
    S.n_tokens++;
    S.tokens_issued++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "access_token", t->value);
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    cJSON_AddNumberToObject(o, "expires_in", S.token_ttl);
    out->status = 200;
    out->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
}

static void program_lookup(const char *id, reply *out)
{
    S.program_lookups++;
    for(size_t i = 0; i < S.n_programs; i++) {
        if(strcmp(S.programs[i], id) != 0)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        char name[128];
        snprintf(name, sizeof(name), "Program %.100s", id);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddBoolToObject(o, "active", S.program_active[i]);
        cJSON *org = cJSON_AddObjectToObject(o, "organization");
        cJSON_AddStringToObject(org, "id", "fh-org-1");
        cJSON_AddStringToObject(org, "name", "Eastside Legal Aid");
        out->status = 200;
        out->body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return;
    }
    out->status = 404;
    out->body = strdup("{\"error\":\"no such program\"}");
}

static void referral_state(const char *id, reply *out)
{
    S.polls++;
    referral *f = ref_by_id(id);
    if(!f || f->style != 'B') {
        out->status = 404;
        out->body = strdup("{\"error\":\"no such referral\"}");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "referral_id", f->id);
    cJSON_AddStringToObject(o, "state", f->status);
    cJSON_AddStringToObject(o, "state_changed_at", f->changed_at);
    if(f->reason)
        cJSON_AddStringToObject(o, "state_reason", f->reason);
    if(f->outcome)
        cJSON_AddStringToObject(o, "outcome", f->outcome);
    out->status = 200;
    out->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
}

/* ------------------------------------------------------------ HSDS */

static const char *const AREAS[5][3] = {{"Eastside", "95811", "38.58"},
                                        {"Westside", "95691", "38.57"},
                                        {"Northgate", "95833", "38.62"},
                                        {"Southpark", "95823", "38.48"},
                                        {"Riverside", "95818", "38.55"}};
static const char *const CATS[6][3] = {
    {"food-insecurity", "Food Insecurity", "Food Pantry"},
    {"housing-instability", "Housing Instability", "Housing Help Desk"},
    {"transportation-insecurity", "Transportation Insecurity", "Ride Program"},
    {"utility-insecurity", "Utility Insecurity", "Utility Assistance"},
    {"financial-insecurity", "Financial Insecurity", "Financial Coaching"},
    {"educational-attainment", "Educational Attainment", "Tutoring Center"}};
static const char *const ORGS[8][2] = {
    {"org-1", "Valley Food Bank"},         {"org-2", "Eastside Housing Help"},
    {"org-3", "River City Transit Aid"},   {"org-4", "Sacramento Community Action"},
    {"org-5", "Family Resource Network"},  {"org-6", "Northgate Neighbors"},
    {"org-7", "Southpark Family Services"}, {"org-8", "Delta Learning Alliance"}};

#define SDOHCC_CS "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

/* 30 services: every (area, category) pair once; every tenth inactive. */
static cJSON *build_services(void)
{
    cJSON *all = cJSON_CreateArray();
    for(int i = 0; i < 30; i++) {
        const char *const *a = AREAS[i % 5], *const *c = CATS[i % 6], *const *g = ORGS[i % 8];
        char buf[256];
        cJSON *s = cJSON_CreateObject();
        snprintf(buf, sizeof(buf), "svc-%d", i + 1);
        cJSON_AddStringToObject(s, "id", buf);
        snprintf(buf, sizeof(buf), "%s %s", a[0], c[2]);
        cJSON_AddStringToObject(s, "name", buf);
        snprintf(buf, sizeof(buf), "%s for families with children in %s (%s).", c[2], a[0],
                 c[1]);
        cJSON_AddStringToObject(s, "description", buf);
        snprintf(buf, sizeof(buf), "https://directory.example.org/services/svc-%d", i + 1);
        cJSON_AddStringToObject(s, "url", buf);
        snprintf(buf, sizeof(buf), "svc-%d@directory.example.org", i + 1);
        cJSON_AddStringToObject(s, "email", buf);
        cJSON_AddStringToObject(s, "status", i % 10 == 9 ? "inactive" : "active");
        cJSON *org = cJSON_AddObjectToObject(s, "organization");
        cJSON_AddStringToObject(org, "id", g[0]);
        cJSON_AddStringToObject(org, "name", g[1]);
        cJSON *phones = cJSON_AddArrayToObject(s, "phones");
        cJSON *ph = cJSON_CreateObject();
        snprintf(buf, sizeof(buf), "916-555-01%02d", i + 1);
        cJSON_AddStringToObject(ph, "number", buf);
        cJSON_AddItemToArray(phones, ph);
        cJSON *langs = cJSON_AddArrayToObject(s, "languages");
        cJSON *en = cJSON_CreateObject();
        cJSON_AddStringToObject(en, "name", "English");
        cJSON_AddStringToObject(en, "code", "en");
        cJSON_AddItemToArray(langs, en);
        if(i % 2 == 0) {
            cJSON *es = cJSON_CreateObject();
            cJSON_AddStringToObject(es, "name", "Spanish");
            cJSON_AddStringToObject(es, "code", "es");
            cJSON_AddItemToArray(langs, es);
        }
        cJSON *attrs = cJSON_AddArrayToObject(s, "attributes");
        cJSON *at = cJSON_CreateObject();
        cJSON *tt = cJSON_AddObjectToObject(at, "taxonomy_term");
        cJSON_AddStringToObject(tt, "id", c[0]);
        cJSON_AddStringToObject(tt, "code", c[0]);
        cJSON_AddStringToObject(tt, "term", c[1]);
        cJSON_AddStringToObject(tt, "taxonomy", SDOHCC_CS);
        cJSON_AddItemToArray(attrs, at);
        cJSON *sals = cJSON_AddArrayToObject(s, "service_at_locations");
        cJSON *sal = cJSON_CreateObject();
        cJSON *loc = cJSON_AddObjectToObject(sal, "location");
        snprintf(buf, sizeof(buf), "loc-%d", i + 1);
        cJSON_AddStringToObject(loc, "id", buf);
        snprintf(buf, sizeof(buf), "%s Community Center", a[0]);
        cJSON_AddStringToObject(loc, "name", buf);
        cJSON *addrs = cJSON_AddArrayToObject(loc, "addresses");
        cJSON *ad = cJSON_CreateObject();
        snprintf(buf, sizeof(buf), "%d %s Blvd", 100 + i * 7, a[0]);
        cJSON_AddStringToObject(ad, "address_1", buf);
        cJSON_AddStringToObject(ad, "city", "Sacramento");
        cJSON_AddStringToObject(ad, "state_province", "CA");
        cJSON_AddStringToObject(ad, "postal_code", a[1]);
        cJSON_AddStringToObject(ad, "country", "US");
        cJSON_AddItemToArray(addrs, ad);
        cJSON_AddNumberToObject(loc, "latitude", strtod(a[2], NULL) + i * 0.001);
        cJSON_AddNumberToObject(loc, "longitude", -121.49 + i * 0.001);
        cJSON_AddItemToArray(sals, sal);
        cJSON_AddItemToArray(all, s);
    }
    return all;
}

/* A positive integer query value, def when absent, -1 when malformed. */
static long qnum(const request *r, const char *k, long def)
{
    const char *v = evhttp_find_header(&r->query, k);
    if(!v)
        return def;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if(errno || end == v || *end || n < 1 || n > 1000000)
        return -1;
    return n;
}

static int service_matches(const cJSON *s, const request *r)
{
    const char *q = evhttp_find_header(&r->query, "search");
    const char *tax = evhttp_find_header(&r->query, "taxonomy_term_id");
    const char *org = evhttp_find_header(&r->query, "organization_id");
    const char *pc = evhttp_find_header(&r->query, "postcode");
    if(q && *q && !strcasestr(jstr(s, "name"), q) && !strcasestr(jstr(s, "description"), q))
        return 0;
    if(org && *org && strcmp(jstr(cJSON_GetObjectItem(s, "organization"), "id"), org) != 0)
        return 0;
    if(tax && *tax) {
        int hit = 0;
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(s, "attributes")) {
            const cJSON *t = cJSON_GetObjectItem(a, "taxonomy_term");
            hit |= strcmp(jstr(t, "id"), tax) == 0 || strcmp(jstr(t, "code"), tax) == 0;
        }
        if(!hit)
            return 0;
    }
    if(pc && *pc) {
        int hit = 0;
        const cJSON *sal, *ad;
        cJSON_ArrayForEach(sal, cJSON_GetObjectItem(s, "service_at_locations")) {
            const cJSON *loc = cJSON_GetObjectItem(sal, "location");
            cJSON_ArrayForEach(ad, cJSON_GetObjectItem(loc, "addresses"))
                hit |= strcmp(jstr(ad, "postal_code"), pc) == 0;
        }
        if(!hit)
            return 0;
    }
    return 1;
}

static void hsds_services(const request *r, reply *out)
{
    S.searches++;
    long page = qnum(r, "page", 1), per = qnum(r, "per_page", 50);
    if(page < 0 || per < 0) {
        out->status = 400;
        out->body = strdup("{\"error\":\"page and per_page are positive integers\"}");
        return;
    }
    if(per > 100)
        per = 100;
    cJSON *match = cJSON_CreateArray();
    const cJSON *s;
    cJSON_ArrayForEach(s, S.services) if(service_matches(s, r))
        cJSON_AddItemToArray(match, cJSON_Duplicate(s, 1));
    long total = cJSON_GetArraySize(match);
    long pages = (total + per - 1) / per;
    cJSON *contents = cJSON_CreateArray();
    for(long i = (page - 1) * per; i < total && i < page * per; i++)
        cJSON_AddItemToArray(contents, cJSON_Duplicate(cJSON_GetArrayItem(match, (int)i), 1));
    cJSON_Delete(match);
    long size = cJSON_GetArraySize(contents);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total_items", (double)total);
    cJSON_AddNumberToObject(o, "total_pages", (double)pages);
    cJSON_AddNumberToObject(o, "page_number", (double)page);
    cJSON_AddNumberToObject(o, "size", (double)size);
    cJSON_AddBoolToObject(o, "first_page", page == 1);
    cJSON_AddBoolToObject(o, "last_page", page >= pages);
    cJSON_AddBoolToObject(o, "empty", size == 0);
    cJSON_AddItemToObject(o, "contents", contents);
    out->status = 200;
    out->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
}

/* The platform's answer to a non-control request. */
static void platform(const request *r, reply *out)
{
    const char *rest;
    int post = r->method == EVHTTP_REQ_POST, get = r->method == EVHTTP_REQ_GET;
    out->status = 404;
    if(post && (strcmp(r->path, "/oauth2/token") == 0 || strcmp(r->path, "/token") == 0)) {
        token_endpoint(r, out);
        return;
    }
    if((rest = after(r->path, "/v1/referrals")) != NULL) {
        if(!bearer_ok(r)) {
            S.unauthorized++;
            out->status = 401;
            out->body = strdup("{\"error\":\"invalid_token\"}");
            return;
        }
        char id[64];
        if(post && *rest == '\0') {
            create_referral(r, 'A', out);
            return;
        }
        if(post && sscanf(rest, "/%63[^/]/cancel", id) == 1 && strstr(rest, "/cancel") &&
           strcmp(strstr(rest, "/cancel"), "/cancel") == 0) {
            cancel_referral(r, 'A', id, out);
            return;
        }
    }
    if((rest = after(r->path, "/api/v2/")) != NULL) {
        if(!api_key_ok(r)) {
            S.unauthorized++;
            out->status = 401;
            out->body = strdup("{\"error\":\"bad api key\"}");
            return;
        }
        const char *p;
        if(get && (p = after(rest, "programs/")) != NULL && *p && !strchr(p, '/')) {
            program_lookup(p, out);
            return;
        }
        if(post && strcmp(rest, "referrals") == 0) {
            create_referral(r, 'B', out);
            return;
        }
        if((p = after(rest, "referrals/")) != NULL && *p) {
            const char *slash = strchr(p, '/');
            char id[64];
            size_t n = slash ? (size_t)(slash - p) : strlen(p);
            if(n < sizeof(id)) {
                memcpy(id, p, n);
                id[n] = '\0';
                if(get && !slash) {
                    referral_state(id, out);
                    return;
                }
                if(post && slash && strcmp(slash, "/cancellation") == 0) {
                    cancel_referral(r, 'B', id, out);
                    return;
                }
            }
        }
    }
    size_t pl = strlen(r->path);
    if(get && pl >= 9 && strcmp(r->path + pl - 9, "/services") == 0) {
        hsds_services(r, out);
        return;
    }
    out->body = strdup("{\"error\":\"not found\"}");
}

/* ------------------------------------------------------------ webhooks */

static void hmac_hex(const char *secret, const char *ts, const char *body, char out[65])
{
    size_t tl = strlen(ts), bl = strlen(body);
    unsigned char *msg = malloc(tl + 1 + bl);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    out[0] = '\0';
    if(!msg)
        return;
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, bl);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + bl, mac, &ml);
    free(msg);
    for(unsigned int i = 0; i < ml && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

typedef struct sink {
    char *p;
    size_t n;
} sink;

static size_t on_body(char *d, size_t sz, size_t n, void *arg)
{
    sink *k = arg;
    size_t add = sz * n;
    if(k->n + add > MAX_BODY)
        return 0;
    char *np = realloc(k->p, k->n + add + 1);
    if(!np)
        return 0;
    memcpy(np + k->n, d, add);
    np[k->n + add] = '\0';
    k->p = np;
    k->n += add;
    return add;
}

/* On the sender thread: POST the webhook copies; statuses 0 when no answer. */
static void webhook_send(whjob *j)
{
    for(int c = 0; c < j->copies && c < 16; c++) {
        char ts[32], sig[65], h1[64], h2[128];
        snprintf(ts, sizeof(ts), "%" PRId64, j->timestamp ? j->timestamp : (int64_t)time(NULL));
        hmac_hex(j->secret ? j->secret : "", ts, j->body, sig);
        if(j->bad_signature)
            sig[0] = sig[0] == '0' ? '1' : '0';
        snprintf(h1, sizeof(h1), "X-Loopgate-Timestamp: %s", ts);
        snprintf(h2, sizeof(h2), "X-Loopgate-Signature: sha256=%s", sig);
        struct curl_slist *h = NULL;
        h = curl_slist_append(h, h1);
        h = curl_slist_append(h, h2);
        h = curl_slist_append(h, "Content-Type: application/json");
        h = curl_slist_append(h, "Expect:");
        sink k = {0};
        long status = 0;
        CURL *cu = curl_easy_init();
        if(cu && j->url) {
            curl_easy_setopt(cu, CURLOPT_URL, j->url);
            curl_easy_setopt(cu, CURLOPT_POST, 1L);
            curl_easy_setopt(cu, CURLOPT_POSTFIELDS, j->body);
            curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
            curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
            curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(cu, CURLOPT_WRITEDATA, &k);
            curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
            curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
            if(curl_easy_perform(cu) == CURLE_OK)
                curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
        }
        if(cu)
            curl_easy_cleanup(cu);
        curl_slist_free_all(h);
        j->statuses[c] = (int)status;
        j->sent++;
        free(j->last_body);
        j->last_body = k.p;
    }
}

static void whjob_free(whjob *j)
{
    free(j->url);
    free(j->secret);
    free(j->body);
    free(j->last_body);
    free(j);
}

/* Back on the loop thread: answer the control request. */
static void on_webhook_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    whjob *j = arg;
    cJSON *o = cJSON_CreateObject();
    cJSON *st = cJSON_AddArrayToObject(o, "statuses");
    for(int i = 0; i < j->sent; i++) {
        cJSON_AddItemToArray(st, cJSON_CreateNumber(j->statuses[i]));
        if(j->statuses[i] >= 200 && j->statuses[i] < 300)
            S.webhooks_sent++;
        else
            S.webhooks_failed++;
    }
    cJSON *ans = j->last_body ? cJSON_Parse(j->last_body) : NULL;
    if(ans)
        cJSON_AddItemToObject(o, "answer", ans);
    else if(j->last_body)
        cJSON_AddStringToObject(o, "answer", j->last_body);
    cJSON *sent = cJSON_Parse(j->body);
    if(sent)
        cJSON_AddItemToObject(o, "event", sent);
    send_obj(j->req, 200, o);
    whjob_free(j);
}

static void *sender_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&S.mu);
    for(;;) {
        while(!S.queue_head && !S.stopping)
            pthread_cond_wait(&S.cv, &S.mu);
        if(S.stopping)
            break;
        whjob *j = S.queue_head;
        S.queue_head = j->next;
        if(!S.queue_head)
            S.queue_tail = NULL;
        pthread_mutex_unlock(&S.mu);
        webhook_send(j);
        struct timeval zero = {0, 0};
        if(event_base_once(S.base, -1, EV_TIMEOUT, on_webhook_done, j, &zero) != 0)
            whjob_free(j); /* the loop is gone: nobody to answer */
        pthread_mutex_lock(&S.mu);
    }
    pthread_mutex_unlock(&S.mu);
    return NULL;
}

/* Queue a webhook; takes body. The control request is answered when sent. */
static void webhook_queue(struct evhttp_request *req, char *body, int copies, int bad, int64_t ts)
{
    if(!S.webhook_url) {
        free(body);
        send_error(req, 409, "no webhook URL configured (--webhook-url or /_control/config)");
        return;
    }
    whjob *j = calloc(1, sizeof(*j));
    if(!j) {
        free(body);
        send_error(req, 500, "out of memory");
        return;
    }
    j->url = strdup(S.webhook_url);
    j->secret = S.webhook_secret ? strdup(S.webhook_secret) : NULL;
    j->body = body;
    j->copies = copies < 1 ? 1 : copies > 16 ? 16 : copies;
    j->bad_signature = bad;
    j->timestamp = ts;
    j->req = req;
    pthread_mutex_lock(&S.mu);
    if(S.queue_tail)
        S.queue_tail->next = j;
    else
        S.queue_head = j;
    S.queue_tail = j;
    pthread_cond_signal(&S.cv);
    pthread_mutex_unlock(&S.mu);
}

/* ------------------------------------------------------------ control */

static int jint(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : def;
}

static void clear_faults(void)
{
    S.n_faults = 0;
    release_hung();
}

static void control_fault(const request *r)
{
    if(r->method == EVHTTP_REQ_DELETE) {
        clear_faults();
        send_json(r->req, 200, "{\"faults\":0}", NULL);
        return;
    }
    const char *mode = jstr(r->json, "mode");
    if(!mode || strcmp(mode, "none") == 0 || strcmp(mode, "clear") == 0) {
        clear_faults();
        send_json(r->req, 200, "{\"faults\":0}", NULL);
        return;
    }
    static const char *const modes[] = {"refuse", "hang", "close", "slow", "drop_after_commit"};
    int known = strlen(mode) == 3 && mode[0] >= '1' && mode[0] <= '5' && isdigit((unsigned char)mode[1]) &&
                isdigit((unsigned char)mode[2]);
    for(size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++)
        known |= strcmp(mode, modes[i]) == 0;
    if(!known || S.n_faults == MAX_FAULTS) {
        send_error(r->req, 400, "unknown mode, or too many faults");
        return;
    }
    fault *f = &S.faults[S.n_faults++];
    memset(f, 0, sizeof(*f));
    const char *p = jstr(r->json, "path_prefix");
    snprintf(f->prefix, sizeof(f->prefix), "%s", p ? p : "/");
    snprintf(f->mode, sizeof(f->mode), "%s", mode);
    f->remaining = jint(r->json, "count", 0);
    f->retry_after = jint(r->json, "retry_after", -1);
    f->delay_ms = jint(r->json, "delay_ms", 1000);
    char msg[64];
    snprintf(msg, sizeof(msg), "{\"faults\":%zu}", S.n_faults);
    send_json(r->req, 200, msg, NULL);
}

static void control_referrals(const request *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "referrals");
    for(size_t i = 0; i < S.n_refs; i++) {
        const referral *f = &S.refs[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", f->id);
        cJSON_AddStringToObject(x, "style", f->style == 'A' ? "A" : "B");
        cJSON_AddStringToObject(x, "external_id", f->external_id);
        cJSON_AddStringToObject(x, "idempotency_key", f->key);
        cJSON_AddStringToObject(x, "program", f->program);
        cJSON_AddItemToObject(x, "body", cJSON_Duplicate(f->body, 1));
        cJSON_AddNumberToObject(x, "times_received", f->times);
        cJSON_AddNumberToObject(x, "received_ms", (double)f->received_ms);
        cJSON_AddNumberToObject(x, "last_ms", (double)f->last_ms);
        cJSON_AddStringToObject(x, "status", f->status);
        cJSON_AddNumberToObject(x, "cancels", f->cancels);
        if(f->cancel_reason)
            cJSON_AddStringToObject(x, "cancel_reason", f->cancel_reason);
        cJSON_AddItemToArray(a, x);
    }
    send_obj(r->req, 200, o);
}

static void control_requests(const request *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "requests");
    for(size_t i = 0; i < S.n_log; i++) {
        const logline *L = &S.log[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "method", L->method);
        cJSON_AddStringToObject(x, "path", L->path);
        if(L->key[0])
            cJSON_AddStringToObject(x, "idempotency_key", L->key);
        if(L->fault[0])
            cJSON_AddStringToObject(x, "fault", L->fault);
        cJSON_AddNumberToObject(x, "status", L->status);
        cJSON_AddNumberToObject(x, "received_ms", (double)L->received_ms);
        cJSON_AddItemToArray(a, x);
    }
    send_obj(r->req, 200, o);
}

static void control_stats(const request *r)
{
    cJSON *o = cJSON_CreateObject();
#define N(x) cJSON_AddNumberToObject(o, #x, (double)S.x)
    N(requests);
    N(token_requests);
    N(tokens_issued);
    N(unauthorized);
    N(creates);
    N(duplicates);
    N(cancels);
    N(polls);
    N(program_lookups);
    N(searches);
    N(faults_applied);
    N(webhooks_sent);
    N(webhooks_failed);
#undef N
    cJSON_AddNumberToObject(o, "referrals", (double)S.n_refs);
    size_t hung = 0;
    for(size_t i = 0; i < MAX_PENDING; i++)
        hung += S.pend[i].used && !S.pend[i].timer;
    cJSON_AddNumberToObject(o, "hung", (double)hung);
    send_obj(r->req, 200, o);
}

/* Style A: send the status webhook (+ duplicates). Style B: the state the
 * next poll sees. */
static void control_status(const request *r)
{
    const char *id = jstr(r->json, "id"), *status = jstr(r->json, "status");
    referral *f = id ? ref_by_id(id) : NULL;
    if(!f || !status) {
        send_error(r->req, 404, "id of a received referral and status required");
        return;
    }
    const char *reason = jstr(r->json, "reason"), *outcome = jstr(r->json, "outcome");
    const char *occ = jstr(r->json, "occurred_at");
    char at[40];
    if(occ)
        snprintf(at, sizeof(at), "%s", occ);
    else
        iso_now(at, sizeof(at));
    set_str(&f->status, status);
    set_str(&f->changed_at, at);
    set_str(&f->reason, reason);
    set_str(&f->outcome, outcome);
    if(f->style == 'B') {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "referral_id", f->id);
        cJSON_AddStringToObject(o, "state", f->status);
        cJSON_AddStringToObject(o, "state_changed_at", f->changed_at);
        send_obj(r->req, 200, o);
        return;
    }
    const char *eid = jstr(r->json, "event_id");
    char gen[32];
    if(!eid) {
        snprintf(gen, sizeof(gen), "evt-%d", ++S.next_event);
        eid = gen;
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event_id", eid);
    cJSON_AddStringToObject(ev, "type", "referral.status_changed");
    cJSON_AddStringToObject(ev, "occurred_at", at);
    cJSON *rf = cJSON_AddObjectToObject(ev, "referral");
    cJSON_AddStringToObject(rf, "id", f->id);
    cJSON_AddStringToObject(rf, "external_id", f->external_id);
    cJSON_AddStringToObject(rf, "status", status);
    if(reason)
        cJSON_AddStringToObject(rf, "reason", reason);
    if(outcome)
        cJSON_AddStringToObject(rf, "outcome", outcome);
    char *body = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if(!body) {
        send_error(r->req, 500, "out of memory");
        return;
    }
    webhook_queue(r->req, body, 1 + jint(r->json, "duplicate", 0), 0, 0);
}

/* {"body": string or object, "bad_signature": bool, "timestamp": unix s,
 * "copies": n} */
static void control_webhook_raw(const request *r)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(r->json, "body");
    char *body = cJSON_IsString(b) ? strdup(b->valuestring)
                 : b               ? cJSON_PrintUnformatted(b)
                                   : NULL;
    if(!body) {
        send_error(r->req, 400, "body required");
        return;
    }
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(r->json, "timestamp");
    webhook_queue(r->req, body, jint(r->json, "copies", 1),
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "bad_signature")),
                  cJSON_IsNumber(ts) ? (int64_t)ts->valuedouble : 0);
}

/* {"webhook_url", "webhook_secret", "delay_ms", "token_ttl"} */
static void control_config(const request *r)
{
    const char *u = jstr(r->json, "webhook_url"), *s = jstr(r->json, "webhook_secret");
    if(u)
        set_str(&S.webhook_url, u);
    if(s)
        set_str(&S.webhook_secret, s);
    S.delay_ms = jint(r->json, "delay_ms", S.delay_ms);
    S.token_ttl = jint(r->json, "token_ttl", S.token_ttl);
    send_json(r->req, 200, "{}", NULL);
}

/* Every token issued so far is refused from now on (a platform that
 * rotated its keys): the next request with one gets 401. */
static void control_revoke_tokens(const request *r)
{
    size_t n = S.n_tokens < MAX_TOKENS ? S.n_tokens : MAX_TOKENS;
    for(size_t i = 0; i < n; i++)
        S.tokens[i].expires_ms = 0;
    char msg[64];
    snprintf(msg, sizeof(msg), "{\"revoked\":%zu}", n);
    send_json(r->req, 200, msg, NULL);
}

/* Forget what was received (the bench between runs); faults stay. */
static void control_reset(const request *r)
{
    for(size_t i = 0; i < S.n_refs; i++)
        ref_free(&S.refs[i]);
    S.n_refs = 0;
    S.n_log = 0;
    S.requests = S.creates = S.duplicates = S.cancels = S.polls = S.faults_applied = 0;
    send_json(r->req, 200, "{}", NULL);
}

static void control(const request *r)
{
    const char *c = r->path + strlen("/_control/");
    int post = r->method == EVHTTP_REQ_POST, get = r->method == EVHTTP_REQ_GET;
    if(post && r->body && !r->json) {
        send_error(r->req, 400, "body is not JSON");
        return;
    }
    if(strcmp(c, "fault") == 0 && (post || r->method == EVHTTP_REQ_DELETE))
        control_fault(r);
    else if(strcmp(c, "referrals") == 0 && get)
        control_referrals(r);
    else if(strcmp(c, "requests") == 0 && get)
        control_requests(r);
    else if(strcmp(c, "stats") == 0 && get)
        control_stats(r);
    else if(strcmp(c, "status") == 0 && post)
        control_status(r);
    else if(strcmp(c, "webhook_raw") == 0 && post)
        control_webhook_raw(r);
    else if(strcmp(c, "config") == 0 && post)
        control_config(r);
    else if(strcmp(c, "revoke_tokens") == 0 && post)
        control_revoke_tokens(r);
    else if(strcmp(c, "reset") == 0 && post)
        control_reset(r);
    else
        send_error(r->req, 404, "unknown control request");
}

/* ------------------------------------------------------------ dispatch */

static fault *fault_for(const char *path)
{
    for(size_t i = 0; i < S.n_faults; i++) {
        fault *f = &S.faults[i];
        if(strncmp(path, f->prefix, strlen(f->prefix)) != 0)
            continue;
        if(f->remaining > 0 && --f->remaining == 0) {
            /* the last use: take it out, keep a copy for the caller */
            static fault last;
            last = *f;
            memmove(f, f + 1, (S.n_faults - i - 1) * sizeof(*f));
            S.n_faults--;
            return &last;
        }
        return f;
    }
    return NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    request r;
    memset(&r, 0, sizeof(r));
    r.req = req;
    r.method = evhttp_request_get_command(req);
    r.query.tqh_first = NULL; /* TAILQ_INIT without sys/queue.h */
    r.query.tqh_last = &r.query.tqh_first;
    S.requests++;
    struct evhttp_uri *u = evhttp_uri_parse(evhttp_request_get_uri(req));
    const char *p = u ? evhttp_uri_get_path(u) : NULL;
    if(!p || strlen(p) >= sizeof(r.path)) {
        evhttp_uri_free(u);
        send_error(req, 400, "bad request target");
        return;
    }
    snprintf(r.path, sizeof(r.path), "%s", *p ? p : "/");
    if(evhttp_uri_get_query(u))
        evhttp_parse_query_str(evhttp_uri_get_query(u), &r.query);
    evhttp_uri_free(u);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    r.body_len = evbuffer_get_length(in);
    if(r.body_len) {
        r.body = malloc(r.body_len + 1);
        if(!r.body) {
            send_error(req, 500, "out of memory");
            goto done;
        }
        evbuffer_copyout(in, r.body, r.body_len);
        r.body[r.body_len] = '\0';
        r.json = cJSON_ParseWithLength(r.body, r.body_len);
    }
    if(after(r.path, "/_control/")) {
        control(&r);
        goto done;
    }
    fault *f = fault_for(r.path);
    if(f)
        S.faults_applied++;
    logline *L = NULL;
    if(S.n_log < MAX_LOG && S.log) {
        L = &S.log[S.n_log++];
        memset(L, 0, sizeof(*L));
        const char *key = header(&r, "Idempotency-Key");
        snprintf(L->method, sizeof(L->method), "%s", r.method == EVHTTP_REQ_GET    ? "GET"
                                                     : r.method == EVHTTP_REQ_POST ? "POST"
                                                                                   : "OTHER");
        snprintf(L->path, sizeof(L->path), "%.127s", r.path);
        snprintf(L->key, sizeof(L->key), "%.127s", key ? key : "");
        snprintf(L->fault, sizeof(L->fault), "%s", f ? f->mode : "");
        L->received_ms = now_ms();
    }
    if(f && strcmp(f->mode, "refuse") == 0) {
        drop_connection(req);
        goto done;
    }
    if(f && strcmp(f->mode, "hang") == 0) {
        reply hang = {.status = 503, .body = strdup("{\"error\":\"hung request released\"}")};
        reply_later(req, &hang, -1);
        goto done;
    }
    if(f && isdigit((unsigned char)f->mode[0])) {
        char ra[24] = "";
        if(f->retry_after >= 0)
            snprintf(ra, sizeof(ra), "%d", f->retry_after);
        int st = (int)strtol(f->mode, NULL, 10);
        if(L)
            L->status = st;
        send_json(req, st, "{\"error\":\"injected fault\"}", ra);
        goto done;
    }
    if(f && strcmp(f->mode, "close") == 0) {
        /* the connection goes down after the whole request was read */
        drop_connection(req);
        goto done;
    }
    reply out = {0};
    platform(&r, &out);
    if(L && !(f && strcmp(f->mode, "drop_after_commit") == 0))
        L->status = out.status;
    if(f && strcmp(f->mode, "drop_after_commit") == 0) {
        free(out.body);
        drop_connection(req);
        goto done;
    }
    int delay = S.delay_ms;
    if(f && strcmp(f->mode, "slow") == 0)
        delay += f->delay_ms;
    if(delay > 0) {
        reply_later(req, &out, delay);
    } else {
        send_json(req, out.status, out.body, out.retry_after);
        free(out.body);
    }
done:
    evhttp_clear_headers(&r.query);
    cJSON_Delete(r.json);
    free(r.body);
}

/* ------------------------------------------------------------ main */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    event_base_loopexit(S.base, NULL);
}

static void usage(FILE *f)
{
    fputs("usage: lg_dirsim [--port N] [--webhook-url URL] [--webhook-secret S]\n"
          "                 [--client-id ID] [--client-secret S] [--api-key K]\n"
          "                 [--delay-ms MS] [--token-ttl S] [--programs id,id,!inactive-id]\n"
          "--port 0 (the default) picks a free port and prints it as the first line.\n"
          "Control: POST /_control/fault {path_prefix, mode, count, retry_after, delay_ms}\n"
          "  (refuse or close: no answer, the connection closes; hang: no answer until\n"
          "  cleared; slow: +delay_ms; drop_after_commit: recorded, then closed; NNN:\n"
          "  that HTTP status; none: clear all; count n: the next n requests only),\n"
          "  GET /_control/referrals, GET /_control/requests (every platform request:\n"
          "  path, idempotency_key, fault, status, received_ms), POST /_control/status {id, status, reason, outcome,\n"
          "  duplicate, event_id, occurred_at}, POST /_control/webhook_raw {body,\n"
          "  bad_signature, timestamp, copies}, POST /_control/config {webhook_url,\n"
          "  webhook_secret, delay_ms, token_ttl}, POST /_control/revoke_tokens,\n"
          "  POST /_control/reset, GET /_control/stats.\n",
          f);
}

/* "a,b,!c": programs a and b active, c inactive (at most 32). */
static int add_programs(const char *list)
{
    for(const char *p = list; *p && S.n_programs < 32;) {
        size_t n = strcspn(p, ",");
        int active = *p != '!';
        const char *name = active ? p : p + 1;
        size_t nl = active ? n : (n ? n - 1 : 0);
        if(nl > 0 && nl < 256) {
            char *d = strndup(name, nl);
            if(!d)
                return -1;
            S.programs[S.n_programs] = d;
            S.program_active[S.n_programs++] = active;
        }
        p += n;
        if(*p == ',')
            p++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},        {"webhook-url", required_argument, NULL, 'w'},
        {"webhook-secret", required_argument, NULL, 's'}, {"client-id", required_argument, NULL, 'i'},
        {"client-secret", required_argument, NULL, 'c'}, {"api-key", required_argument, NULL, 'k'},
        {"delay-ms", required_argument, NULL, 'd'},    {"token-ttl", required_argument, NULL, 't'},
        {"programs", required_argument, NULL, 'g'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int port = 0, rc = 1, o;
    const char *programs = "fh-program-77,fh-program-78,!fh-program-closed";
    S.token_ttl = 3600;
    while((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch(o) {
        case 'p': port = (int)strtol(optarg, NULL, 10); break;
        case 'w': set_str(&S.webhook_url, optarg); break;
        case 's': set_str(&S.webhook_secret, optarg); break;
        case 'i': set_str(&S.client_id, optarg); break;
        case 'c': set_str(&S.client_secret, optarg); break;
        case 'k': set_str(&S.api_key, optarg); break;
        case 'd': S.delay_ms = (int)strtol(optarg, NULL, 10); break;
        case 't': S.token_ttl = (int)strtol(optarg, NULL, 10); break;
        case 'g': programs = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if(port < 0 || port > 65535 || S.delay_ms < 0 || S.token_ttl < 1) {
        usage(stderr);
        return 2;
    }
    if(!S.client_id)
        S.client_id = strdup("loopgate");
    if(!S.client_secret)
        S.client_secret = strdup("sim-secret");
    if(!S.api_key)
        S.api_key = strdup("sim-api-key");
    if(add_programs(programs) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    evthread_use_pthreads(); /* the sender thread calls event_base_once */
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.cv, NULL);
    S.services = build_services();
    S.log = calloc(MAX_LOG, sizeof(*S.log));
    S.base = event_base_new();
    S.http = S.base ? evhttp_new(S.base) : NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    int thread_ok = 0;
    if(!S.http || !S.services)
        goto out;
    evhttp_set_max_body_size(S.http, MAX_BODY);
    evhttp_set_max_headers_size(S.http, 64 * 1024);
    evhttp_set_allowed_methods(S.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                           EVHTTP_REQ_PUT);
    evhttp_set_gencb(S.http, on_request, NULL);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(S.http, "127.0.0.1", (uint16_t)port);
    if(!bs) {
        fprintf(stderr, "lg_dirsim: cannot listen on 127.0.0.1:%d\n", port);
        goto out;
    }
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    if(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&a, &al) != 0)
        goto out;
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    sigterm = evsignal_new(S.base, SIGTERM, on_signal, NULL);
    sigint = evsignal_new(S.base, SIGINT, on_signal, NULL);
    if(!sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL))
        goto out;
    if(pthread_create(&S.thread, NULL, sender_main, NULL) != 0)
        goto out;
    thread_ok = 1;
    event_base_dispatch(S.base);
    rc = 0;
out:
    if(thread_ok) {
        pthread_mutex_lock(&S.mu);
        S.stopping = 1;
        pthread_cond_signal(&S.cv);
        pthread_mutex_unlock(&S.mu);
        pthread_join(S.thread, NULL);
        /* webhook jobs never sent, or sent but not answered back: the loop
         * is over, so their control requests die with their connections */
        for(whjob *j = S.queue_head, *n; j; j = n) {
            n = j->next;
            whjob_free(j);
        }
        event_base_loop(S.base, EVLOOP_NONBLOCK); /* run on_webhook_done already queued */
    }
    for(size_t i = 0; i < MAX_PENDING; i++)
        if(S.pend[i].used)
            pending_fire(&S.pend[i]);
    if(sigterm)
        event_free(sigterm);
    if(sigint)
        event_free(sigint);
    if(S.http)
        evhttp_free(S.http);
    if(S.base)
        event_base_free(S.base);
    for(size_t i = 0; i < S.n_refs; i++)
        ref_free(&S.refs[i]);
    free(S.refs);
    for(size_t i = 0; i < S.n_programs; i++)
        free(S.programs[i]);
    cJSON_Delete(S.services);
    free(S.log);
    free(S.webhook_url);
    free(S.webhook_secret);
    free(S.client_id);
    free(S.client_secret);
    free(S.api_key);
    pthread_mutex_destroy(&S.mu);
    pthread_cond_destroy(&S.cv);
    curl_global_cleanup();
    libevent_global_shutdown();
    return rc;
}
