/* engine.c - the forwarder: one thread with its own event_base and store
 * handle that delivers due outbox jobs to the platforms, polls the
 * platforms that send no webhooks, and sends directory searches for the
 * HTTP layer.
 *
 * All network I/O goes through libcurl's multi-socket interface driven by
 * the libevent loop (curl docs/examples/hiperfifo.c): curl tells us which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
 * (CURLMOPT_TIMERFUNCTION), so no call on this thread ever waits for a
 * partner. Store reads and writes are synchronous SQLite on the
 * forwarder's own handle: short, and never under a network wait.
 *
 * A job occupies one of its platform's `concurrency` slots from the moment
 * it is picked until its verdict is recorded (auth waits included). Each
 * platform's due jobs are read on their own (lg_store_outbox_due_platform,
 * as many as its slots can take), so a platform with a large backlog and a
 * slow server never delays another platform's jobs; at most
 * one job per Task is in flight, and lg_store_outbox_due only offers the
 * oldest pending job of each Task, so the jobs of a Task go out in order.
 * Nothing is written when an attempt starts: a job abandoned by stop or a
 * crash is simply still pending, and the Idempotency-Key makes the resend
 * harmless.
 *
 * Verdicts share flushes (group commit): a verdict ends its transaction
 * with lg_store_commit_nowait, so the delivery rate does not follow the
 * disk's fsync latency. Every job finished since the last flush is listed
 * in fw->unsynced, and the next tick - one per loop iteration, however
 * many transfers finished in it (job_release activates the wake event) -
 * flushes once for all of them. Until that flush this handle's reads
 * outside a transaction still see such a job as it was (pending, due): the
 * tick skips every job of the list, so a finished job is never sent again.
 * A verdict lost to a crash before its flush leaves the job pending; it is
 * sent again with the same Idempotency-Key, which is harmless.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "forward/internal.h"
#include "loopgate/buf.h"
#include "loopgate/json.h"
#include "loopgate/outcome.h"
#include "loopgate/time.h"

#define RESP_MAX (1u << 20)   /* a platform's answer larger than this is abandoned */
#define FALLBACK_MS 1000      /* look at the outbox at least this often */
#define DUE_BATCH 256         /* jobs read per look */
#define POLL_BATCH 64         /* links read per page while polling */
#define UNKNOWN_PLATFORM_DELAY_MS 60000
#define SOON_MAX 256          /* retry times remembered for the timer */

typedef enum xkind { X_JOB, X_AUTH, X_POLL, X_SEARCH } xkind;

typedef struct jobctx {
    struct lg_forwarder *fw;
    lg_outbox_job oj;      /* as read from the outbox; owned */
    lg_fwd_job_data data;  /* what the adapter sees; owned */
    size_t pi;             /* platform index */
    int step;              /* LG_FWD_NEXT steps taken in this attempt */
    int reauthed;          /* REAUTH used in this attempt */
    int attempt;           /* this attempt's number: oj.attempts + 1 */
    unsigned auth_gen;     /* the platform's token generation the request was built with */
    struct jobctx *next;   /* fw->jobs */
    struct jobctx *wnext;  /* the platform's queue waiting for a token */
} jobctx;

typedef struct searchreq {
    char *query, *base;
    struct event_base *reply_base;
    lg_fwd_search_done done;
    void *arg;
    int status;
    char *body;
    size_t body_len;
    struct searchreq *next;
} searchreq;

typedef struct sockinfo {
    struct event ev;
    int added;
} sockinfo;

typedef struct xfer {
    xkind kind;
    struct lg_forwarder *fw;
    size_t pi;
    CURL *easy;
    struct curl_slist *hdrs;
    lg_fwd_req req;          /* kept alive: curl reads url and body from it */
    lg_buf body;
    int too_large;
    char ctype[128];
    char retry_after[128];
    char errbuf[CURL_ERROR_SIZE];
    jobctx *job;             /* X_JOB */
    char *remote_id;         /* X_POLL */
    searchreq *search;       /* X_SEARCH */
    struct xfer *prev, *next;
} xfer;

typedef struct pstate {
    int active;              /* jobs and polls holding a slot */
    int auth_in_flight;
    unsigned auth_gen;       /* counts tokens obtained: a 401 to an older one drops nothing */
    jobctx *wait_head, *wait_tail;
    int64_t next_poll_ms;
    char *poll_after;        /* cursor of the poll round in progress */
} pstate;

struct lg_forwarder {
    const lg_fwd_config *cfg;
    lg_fwd_hooks hooks;
    lg_store *st;
    struct event_base *base;
    CURLM *multi;
    struct event *curl_timer, *tick_ev, *wake_ev, *stop_ev, *search_ev;
    pthread_t thread;
    pstate *ps;
    jobctx *jobs;
    xfer *xfers;
    pthread_mutex_t mu;      /* the search queue and accepting */
    searchreq *sq_head, *sq_tail;
    int accepting;
    atomic_int stopping;
    int64_t hold_until_ms;   /* after a failed store write: no new attempt before this */
    int64_t orphans_at_ms;   /* next look for jobs of platforms not configured (0: at once) */
    /* Jobs whose verdict is committed but not yet flushed (see the header
     * comment); dirty: something (a verdict, a business status) waits for
     * the next flush. */
    int64_t *unsynced;
    size_t n_unsynced, cap_unsynced;
    int dirty;
    int reread;              /* a write of a hook may have added jobs: look again after the flush */
    /* When the retries this thread recorded fall due (the soonest
     * SOON_MAX; unordered). The store's next due time is that of the
     * oldest head job, which is in the past while a job is in flight, so
     * without these a retry due in 100 ms would wait for the fallback
     * timer (1 s) whenever another job of the outbox is being sent. */
    int64_t soon[SOON_MAX];
    size_t n_soon;
    uint64_t rnd;
    _Atomic uint64_t n_attempts, n_delivered, n_retried, n_dead, n_polls, n_events, n_in_flight;
};

static void kick(lg_forwarder *fw);
static void job_step(jobctx *jc);
static void round_end(struct lg_forwarder *fw, size_t pi, int64_t now);

/* ------------------------------------------------------ small helpers */

static double rnd01(lg_forwarder *fw)
{
    /* xorshift64*: jitter needs spread, not secrecy. */
    uint64_t x = fw->rnd;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    fw->rnd = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

int64_t lg_fwd_backoff_ms(const lg_fwd_platform *p, int attempts, double rnd)
{
    int64_t d = p->backoff_ms;
    for(int i = 1; i < attempts && d < p->max_backoff_ms; i++)
        d *= 2;
    if(d > p->max_backoff_ms)
        d = p->max_backoff_ms;
    int64_t half = d / 2;
    if(rnd < 0)
        rnd = 0;
    if(rnd >= 1)
        rnd = 0.999999;
    return half + (int64_t)(rnd * (double)(d - half));
}

int64_t lg_fwd_retry_after_ms(const char *value, int64_t now_ms)
{
    if(!value)
        return -1;
    while(*value == ' ' || *value == '\t')
        value++;
    if(*value >= '0' && *value <= '9') {
        int64_t s = 0;
        const char *p = value;
        for(; *p >= '0' && *p <= '9'; p++) {
            if(s > 100000000)
                return -1;
            s = s * 10 + (*p - '0');
        }
        while(*p == ' ' || *p == '\t')
            p++;
        return *p ? -1 : s * 1000;
    }
    time_t t = curl_getdate(value, NULL);
    if(t == (time_t)-1)
        return -1;
    int64_t d = (int64_t)t * 1000 - now_ms;
    return d < 0 ? 0 : d;
}

static const lg_fwd_platform *plat(lg_forwarder *fw, size_t pi)
{
    return &fw->cfg->platforms[pi];
}

/* A one-line description of a response that went wrong. */
static void describe(const lg_fwd_resp *r, char *buf, size_t n)
{
    if(r->status == 0)
        snprintf(buf, n, "no response: %s", r->error ? r->error : "transport error");
    else
        snprintf(buf, n, "HTTP %d", r->status);
}

/* ------------------------------------------------------ curl <-> libevent */

static void check_multi_info(lg_forwarder *fw);

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
    lg_forwarder *fw = arg;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(fw->multi, fd, action, &running);
    check_multi_info(fw);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
    lg_forwarder *fw = userp;
    sockinfo *si = sockp;
    if(what == CURL_POLL_REMOVE) {
        if(si) {
            if(si->added)
                event_del(&si->ev);
            free(si);
            curl_multi_assign(fw->multi, s, NULL);
        }
        return 0;
    }
    if(!si) {
        si = calloc(1, sizeof *si);
        if(!si)
            return -1;
        curl_multi_assign(fw->multi, s, si);
    } else if(si->added) {
        event_del(&si->ev);
        si->added = 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                         EV_PERSIST);
    event_assign(&si->ev, fw->base, s, kind, sock_event_cb, fw);
    if(event_add(&si->ev, NULL) == 0)
        si->added = 1;
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    lg_forwarder *fw = userp;
    if(timeout_ms < 0) {
        evtimer_del(fw->curl_timer);
    } else {
        /* Never call curl back from inside its own callback: a zero
         * timeout becomes an immediate timer event. */
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(fw->curl_timer, &tv);
    }
    return 0;
}

static void curl_timer_fired(evutil_socket_t fd, short what, void *arg)
{
    lg_forwarder *fw = arg;
    int running = 0;
    curl_multi_socket_action(fw->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(fw);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    if(lg_buf_add(&x->body, ptr, n) != LG_OK) {
        x->too_large = 1;
        return 0; /* aborts the transfer */
    }
    return n;
}

/* Copy a header's value (trimmed) when line is "name: value". */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t out_len)
{
    size_t nl = strlen(name);
    if(len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    const char *v = line + nl + 1, *end = line + len;
    while(v < end && (*v == ' ' || *v == '\t'))
        v++;
    while(end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if(vl >= out_len)
        vl = out_len - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return 1;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userp)
{
    xfer *x = userp;
    size_t n = size * nitems;
    if(n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue): forget the last one's. */
        x->ctype[0] = x->retry_after[0] = '\0';
    } else if(!header_value(buf, n, "content-type", x->ctype, sizeof x->ctype)) {
        header_value(buf, n, "retry-after", x->retry_after, sizeof x->retry_after);
    }
    return n;
}

static void xfer_free(xfer *x)
{
    if(!x)
        return;
    lg_forwarder *fw = x->fw;
    if(x->prev)
        x->prev->next = x->next;
    else if(fw->xfers == x)
        fw->xfers = x->next;
    if(x->next)
        x->next->prev = x->prev;
    if(x->easy) {
        curl_multi_remove_handle(fw->multi, x->easy);
        curl_easy_cleanup(x->easy);
        atomic_fetch_sub(&fw->n_in_flight, 1);
    }
    curl_slist_free_all(x->hdrs);
    lg_fwd_req_clear(&x->req);
    lg_buf_free(&x->body);
    free(x->remote_id);
    free(x);
}

/* Start sending req (moved into the transfer; cleared on failure too).
 * NULL when curl refused it. */
static xfer *xfer_start(lg_forwarder *fw, xkind kind, size_t pi, lg_fwd_req *req)
{
    const lg_fwd_platform *p = plat(fw, pi);
    xfer *x = calloc(1, sizeof *x);
    if(!x) {
        lg_fwd_req_clear(req);
        return NULL;
    }
    x->kind = kind;
    x->fw = fw;
    x->pi = pi;
    x->req = *req;
    memset(req, 0, sizeof *req);
    lg_buf_init(&x->body, RESP_MAX);
    x->next = fw->xfers;
    if(fw->xfers)
        fw->xfers->prev = x;
    fw->xfers = x;
    if(!x->req.url)
        goto fail;

    CURL *e = x->easy = curl_easy_init();
    if(!e)
        goto fail;
    atomic_fetch_add(&fw->n_in_flight, 1);
    for(size_t i = 0; i < x->req.n_headers; i++) {
        struct curl_slist *h = curl_slist_append(x->hdrs, x->req.headers[i]);
        if(!h)
            goto fail;
        x->hdrs = h;
    }
    /* No "Expect: 100-continue" round trip before larger bodies. */
    struct curl_slist *h = curl_slist_append(x->hdrs, "Expect:");
    if(!h)
        goto fail;
    x->hdrs = h;

    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, x->req.url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, p->verify_tls ? 1L : 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, p->verify_tls ? 2L : 0L) != CURLE_OK;
    if(p->ca_file)
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)RESP_MAX) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "loopgate-forwarder") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, x) != CURLE_OK;
    if(strcmp(x->req.method, "GET") == 0) {
        bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    } else {
        if(strcmp(x->req.method, "POST") != 0)
            bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->req.method) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req.body_len) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req.body ? x->req.body : "") != CURLE_OK;
    }
    if(bad)
        goto fail;
    if(curl_multi_add_handle(fw->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        x->easy = NULL;
        atomic_fetch_sub(&fw->n_in_flight, 1);
        goto fail;
    }
    return x;
fail:
    if(x->easy) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        atomic_fetch_sub(&fw->n_in_flight, 1);
    }
    xfer_free(x);
    return NULL;
}

/* ------------------------------------------------------ job verdicts */

static void job_release(jobctx *jc, lg_forwarder *fw)
{
    for(jobctx **pp = &fw->jobs; *pp; pp = &(*pp)->next)
        if(*pp == jc) {
            *pp = jc->next;
            break;
        }
    fw->ps[jc->pi].active--;
    lg_outbox_job_clear(&jc->oj);
    lg_fwd_job_data_clear(&jc->data);
    free(jc);
    kick(fw);
}

static lg_forwarder *job_fw(jobctx *jc)
{
    return jc->fw;
}

/* The verdict could not be written: the job is still pending as it was
 * and would be picked again at once. Pause new attempts for a moment
 * rather than hammer the platform while the store is failing. */
static void store_failed(lg_forwarder *fw, const char *what, int64_t id, lg_status rc)
{
    fprintf(stderr, "forward: %s %lld failed: %s\n", what, (long long)id, lg_status_str(rc));
    fw->hold_until_ms = lg_time_now_ms() + FALLBACK_MS;
}

/* Remember that a job falls due at at_ms. When the list is full the
 * latest time gives way (a forgotten one is found by the fallback timer). */
static void soon_add(lg_forwarder *fw, int64_t at_ms)
{
    if(fw->n_soon < SOON_MAX) {
        fw->soon[fw->n_soon++] = at_ms;
        return;
    }
    size_t late = 0;
    for(size_t i = 1; i < fw->n_soon; i++)
        if(fw->soon[i] > fw->soon[late])
            late = i;
    if(at_ms < fw->soon[late])
        fw->soon[late] = at_ms;
}

/* One flush for everything committed on any handle so far: an empty write
 * transaction ends in lg_store_commit, whose flush covers every batch
 * committed before it (ours with commit_nowait included); afterwards this
 * handle's reads see them all. */
static lg_status flush(lg_forwarder *fw)
{
    lg_status rc = lg_store_begin(fw->st);
    if(rc == LG_OK)
        rc = lg_store_commit(fw->st);
    if(rc == LG_OK) {
        fw->n_unsynced = 0;
        fw->dirty = 0;
    }
    return rc;
}

static int unsynced_has(const lg_forwarder *fw, int64_t id)
{
    for(size_t i = 0; i < fw->n_unsynced; i++)
        if(fw->unsynced[i] == id)
            return 1;
    return 0;
}

/* End the verdict transaction of job id without waiting for the disk. The
 * list is bounded by the jobs finished in one loop iteration; when it
 * cannot grow, the verdict is flushed at once instead (the old way). */
static lg_status commit_verdict(lg_forwarder *fw, int64_t id)
{
    uint64_t ticket = 0;
    lg_status rc = lg_store_commit_nowait(fw->st, &ticket);
    if(rc != LG_OK)
        return rc;
    if(fw->n_unsynced == fw->cap_unsynced) {
        size_t cap = fw->cap_unsynced ? fw->cap_unsynced * 2 : 64;
        int64_t *n = realloc(fw->unsynced, cap * sizeof *n);
        if(!n) {
            rc = lg_store_sync(fw->st, ticket);
            if(rc == LG_OK)
                fw->n_unsynced = 0; /* the flush covered every earlier verdict too */
            return rc;
        }
        fw->unsynced = n;
        fw->cap_unsynced = cap;
    }
    fw->unsynced[fw->n_unsynced++] = id;
    fw->dirty = 1;
    return LG_OK;
}

/* The hook may leave its write unflushed (forward.h): the next tick's
 * flush covers it, and looks at the outbox again after it in case the
 * write added jobs this handle could not see yet. */
static void set_business(lg_forwarder *fw, const char *task_id, const char *code, const char *text)
{
    if(!fw->hooks.set_business_status)
        return;
    char msg[256];
    fw->hooks.set_business_status(fw->hooks.ctx, fw->st, task_id, code, text, msg, sizeof msg);
    fw->dirty = 1;
    fw->reread = 1;
}

static void finish_done(jobctx *jc, const char *remote_id, const char *note)
{
    lg_forwarder *fw = job_fw(jc);
    const lg_fwd_platform *p = plat(fw, jc->pi);
    int64_t now = lg_time_now_ms();
    int create = strcmp(jc->oj.kind, "create") == 0;
    /* A cancel is about the referral the create made, whatever the
     * platform's answer names. */
    if(!remote_id || !create)
        remote_id = jc->data.remote_id ? jc->data.remote_id : jc->oj.remote_id;
    lg_status rc = lg_store_begin(fw->st);
    if(rc == LG_OK) {
        rc = lg_store_outbox_update(fw->st, jc->oj.id, LG_OUTBOX_DONE, jc->attempt, 0, note,
                                    remote_id, now);
        if(rc == LG_OK && remote_id) {
            lg_forward_link l = {0};
            lg_status lr = lg_store_forward_link_get(fw->st, p->name, remote_id, &l);
            if(lr == LG_ENOTFOUND) {
                lg_forward_link_clear(&l);
                l.platform = (char *)p->name;
                l.remote_id = (char *)remote_id;
                l.task_id = jc->oj.task_id;
                l.last_event_ms = INT64_MIN;
                l.closed = !create;
                rc = lg_store_forward_link_put(fw->st, &l);
            } else if(lr == LG_OK) {
                /* A cancel closes the loop on the platform: stop polling it. */
                if(!create && !l.closed) {
                    l.closed = 1;
                    rc = lg_store_forward_link_put(fw->st, &l);
                }
                lg_forward_link_clear(&l);
            } else {
                rc = lr;
            }
        }
        if(rc == LG_OK)
            rc = commit_verdict(fw, jc->oj.id);
        else
            lg_store_rollback(fw->st);
    }
    if(rc == LG_OK) {
        atomic_fetch_add(&fw->n_delivered, 1);
        if(create && !note) {
            char text[256];
            snprintf(text, sizeof text, "delivered to %s%s%.100s", p->name, remote_id ? " as " : "",
                     remote_id ? remote_id : "");
            set_business(fw, jc->oj.task_id, "delivered", text);
        }
    } else {
        store_failed(fw, "recording delivery of job", jc->oj.id, rc);
    }
    job_release(jc, fw);
}

static void finish_dead(jobctx *jc, const char *error)
{
    lg_forwarder *fw = job_fw(jc);
    int64_t now = lg_time_now_ms();
    lg_status rc = lg_store_begin(fw->st);
    if(rc == LG_OK) {
        rc = lg_store_outbox_update(fw->st, jc->oj.id, LG_OUTBOX_DEAD, jc->attempt, 0, error, NULL, now);
        if(rc == LG_OK)
            rc = commit_verdict(fw, jc->oj.id);
        else
            lg_store_rollback(fw->st);
    }
    if(rc == LG_OK) {
        atomic_fetch_add(&fw->n_dead, 1);
        char text[300];
        snprintf(text, sizeof text, "delivery to %s failed: %.250s", jc->oj.platform,
                 error ? error : "unknown error");
        set_business(fw, jc->oj.task_id, "delivery-failed", text);
    } else {
        store_failed(fw, "recording dead job", jc->oj.id, rc);
    }
    job_release(jc, fw);
}

/* status/retry_after: the response that asked for the retry (0/NULL none). */
static void finish_retry(jobctx *jc, const char *error, int status, const char *retry_after)
{
    lg_forwarder *fw = job_fw(jc);
    const lg_fwd_platform *p = plat(fw, jc->pi);
    if(jc->attempt >= p->max_attempts) {
        char why[300];
        snprintf(why, sizeof why, "%d attempts; last: %.250s", jc->attempt, error ? error : "?");
        finish_dead(jc, why);
        return;
    }
    int64_t now = lg_time_now_ms();
    int64_t delay = lg_fwd_backoff_ms(p, jc->attempt, rnd01(fw));
    if((status == 429 || status == 503) && retry_after && *retry_after) {
        int64_t ra = lg_fwd_retry_after_ms(retry_after, now);
        if(ra >= 0)
            delay = ra < p->max_backoff_ms ? ra : p->max_backoff_ms;
    }
    lg_status rc = lg_store_begin(fw->st);
    if(rc == LG_OK) {
        rc = lg_store_outbox_update(fw->st, jc->oj.id, LG_OUTBOX_PENDING, jc->attempt, now + delay,
                                    error, NULL, now);
        if(rc == LG_OK)
            rc = commit_verdict(fw, jc->oj.id);
        else
            lg_store_rollback(fw->st);
    }
    if(rc == LG_OK) {
        atomic_fetch_add(&fw->n_retried, 1);
        soon_add(fw, now + delay);
    } else
        store_failed(fw, "recording retry of job", jc->oj.id, rc);
    job_release(jc, fw);
}

/* ------------------------------------------------------ authentication */

static void wait_push(pstate *ps, jobctx *jc)
{
    jc->wnext = NULL;
    if(ps->wait_tail)
        ps->wait_tail->wnext = jc;
    else
        ps->wait_head = jc;
    ps->wait_tail = jc;
}

/* Make sure platform pi has (or is fetching) a token. 1: ready now; 0: a
 * token request is in flight (wait); -1: it could not be started. */
static int ensure_auth(lg_forwarder *fw, size_t pi)
{
    const lg_fwd_platform *p = plat(fw, pi);
    const lg_fwd_adapter *a = p->adapter;
    pstate *ps = &fw->ps[pi];
    if(!a->auth_request)
        return 1;
    if(ps->auth_in_flight)
        return 0;
    lg_fwd_req req;
    memset(&req, 0, sizeof req);
    int need = a->auth_request(p, p->state, lg_time_now_ms(), &req);
    if(need <= 0) {
        lg_fwd_req_clear(&req);
        return need == 0 ? 1 : -1;
    }
    xfer *x = xfer_start(fw, X_AUTH, pi, &req);
    if(!x)
        return -1;
    ps->auth_in_flight = 1;
    return 0;
}

static void auth_done(xfer *x, const lg_fwd_resp *resp)
{
    lg_forwarder *fw = x->fw;
    const lg_fwd_platform *p = plat(fw, x->pi);
    pstate *ps = &fw->ps[x->pi];
    char msg[256] = "";
    lg_status rc = p->adapter->auth_response(p, p->state, resp, lg_time_now_ms(), msg, sizeof msg);
    ps->auth_in_flight = 0;
    if(rc == LG_OK)
        ps->auth_gen++;
    else if(p->adapter->build_poll)
        round_end(fw, x->pi, lg_time_now_ms()); /* no token: polls wait for their next round */
    jobctx *w = ps->wait_head;
    ps->wait_head = ps->wait_tail = NULL;
    char why[400];
    if(rc != LG_OK) {
        char d[160];
        describe(resp, d, sizeof d);
        snprintf(why, sizeof why, "token request failed (%s)%s%.150s", d, msg[0] ? ": " : "", msg);
    }
    while(w) {
        jobctx *next = w->wnext;
        w->wnext = NULL;
        if(rc == LG_OK)
            job_step(w);
        else if(rc == LG_EIO || rc == LG_ENOMEM)
            finish_retry(w, why, resp->status, resp->retry_after);
        else
            finish_dead(w, why);
        w = next;
    }
    kick(fw);
}

/* ------------------------------------------------------ jobs */

/* Build and send the current step of jc (after a token when needed). */
static void job_step(jobctx *jc)
{
    lg_forwarder *fw = job_fw(jc);
    const lg_fwd_platform *p = plat(fw, jc->pi);
    const lg_fwd_adapter *a = p->adapter;
    int ready = ensure_auth(fw, jc->pi);
    if(ready == 0) {
        wait_push(&fw->ps[jc->pi], jc);
        return;
    }
    if(ready < 0) {
        finish_retry(jc, "cannot start the token request", 0, NULL);
        return;
    }
    lg_fwd_req req;
    memset(&req, 0, sizeof req);
    lg_issues is = {0};
    jc->auth_gen = fw->ps[jc->pi].auth_gen;
    lg_status rc = a->build(p, p->state, &jc->data.job, jc->step, &req, &is);
    if(rc != LG_OK) {
        char why[300];
        snprintf(why, sizeof why, "cannot build the request: %.250s",
                 is.count && is.items[0].diagnostics ? is.items[0].diagnostics : lg_status_str(rc));
        lg_issues_free(&is);
        lg_fwd_req_clear(&req);
        if(rc == LG_ENOMEM)
            finish_retry(jc, why, 0, NULL);
        else
            finish_dead(jc, why);
        return;
    }
    lg_issues_free(&is);
    xfer *x = xfer_start(fw, X_JOB, jc->pi, &req);
    if(!x) {
        finish_retry(jc, "cannot start the request", 0, NULL);
        return;
    }
    x->job = jc;
}

static void job_done(xfer *x, const lg_fwd_resp *resp)
{
    jobctx *jc = x->job;
    lg_forwarder *fw = x->fw;
    const lg_fwd_platform *p = plat(fw, jc->pi);
    const lg_fwd_adapter *a = p->adapter;
    char *rid = NULL, *error = NULL;
    lg_fwd_verdict v = a->parse(p, p->state, &jc->data.job, jc->step, resp, &rid, &error);
    char d[200];
    describe(resp, d, sizeof d);
    const char *why = error ? error : d;
    switch(v) {
    case LG_FWD_NEXT:
        jc->step++;
        job_step(jc);
        break;
    case LG_FWD_DONE:
        if(rid && strlen(rid) > LG_STORE_KEY_MAX)
            /* Unrecordable: resending would only get the same answer. */
            finish_dead(jc, "the platform's referral id is too long to record");
        else
            finish_done(jc, rid, NULL);
        break;
    case LG_FWD_REAUTH:
        if(!jc->reauthed && a->auth_invalidate) {
            /* Several requests may carry the refused token; only the first
             * 401 drops it, the others use the token fetched since. */
            if(jc->auth_gen == fw->ps[jc->pi].auth_gen)
                a->auth_invalidate(p->state);
            jc->reauthed = 1;
            job_step(jc);
        } else {
            finish_retry(jc, why, resp->status, resp->retry_after);
        }
        break;
    case LG_FWD_RETRY:
        finish_retry(jc, why, resp->status, resp->retry_after);
        break;
    case LG_FWD_FAIL:
    default:
        finish_dead(jc, why);
        break;
    }
    free(rid);
    free(error);
}

static int job_active(lg_forwarder *fw, const lg_outbox_job *oj)
{
    for(jobctx *j = fw->jobs; j; j = j->next)
        if(j->oj.id == oj->id || strcmp(j->oj.task_id, oj->task_id) == 0)
            return 1;
    return 0;
}

/* Take oj (moved out of the list) and make an attempt. */
static void job_start(lg_forwarder *fw, size_t pi, lg_outbox_job *oj)
{
    jobctx *jc = calloc(1, sizeof *jc);
    if(!jc)
        return; /* stays pending; the next look tries again */
    jc->oj = *oj;
    memset(oj, 0, sizeof *oj);
    jc->pi = pi;
    jc->attempt = jc->oj.attempts + 1;
    jc->fw = fw;
    jc->next = fw->jobs;
    fw->jobs = jc;
    fw->ps[pi].active++;
    atomic_fetch_add(&fw->n_attempts, 1);
    char err[300];
    switch(lg_fwd_job_load(fw->st, &jc->oj, &jc->data, err, sizeof err)) {
    case LG_FWD_LOAD_OK:
        job_step(jc);
        break;
    case LG_FWD_LOAD_NOTHING:
        finish_done(jc, NULL, err);
        break;
    case LG_FWD_LOAD_GONE:
    case LG_FWD_LOAD_INVALID:
        finish_dead(jc, err);
        break;
    case LG_FWD_LOAD_TRANSIENT:
    default:
        finish_retry(jc, err, 0, NULL);
        break;
    }
}

/* A job for a platform the configuration no longer names: keep it, look
 * again later (an operator may restore the platform). */
static void job_unknown_platform(lg_forwarder *fw, const lg_outbox_job *oj, int64_t now)
{
    char err[160];
    snprintf(err, sizeof err, "platform %.64s is not configured", oj->platform);
    if(lg_store_begin(fw->st) != LG_OK)
        return;
    if(lg_store_outbox_update(fw->st, oj->id, LG_OUTBOX_PENDING, oj->attempts,
                              now + UNKNOWN_PLATFORM_DELAY_MS, err, NULL, now) == LG_OK)
        commit_verdict(fw, oj->id);
    else
        lg_store_rollback(fw->st);
}

/* ------------------------------------------------------ polling */

static void poll_done(xfer *x, const lg_fwd_resp *resp)
{
    lg_forwarder *fw = x->fw;
    const lg_fwd_platform *p = plat(fw, x->pi);
    fw->ps[x->pi].active--;
    atomic_fetch_add(&fw->n_polls, 1);
    lg_fwd_event ev;
    memset(&ev, 0, sizeof ev);
    ev.occurred_ms = INT64_MIN;
    if(p->adapter->parse_poll(p, p->state, x->remote_id, resp, &ev) == LG_OK) {
        char msg[256];
        lg_fwd_apply_result r = lg_fwd_apply_event(fw->st, p, &ev, &fw->hooks, lg_time_now_ms(),
                                                   NULL, msg, sizeof msg);
        if(r == LG_FWD_APPLIED)
            atomic_fetch_add(&fw->n_events, 1);
    }
    lg_fwd_event_clear(&ev);
    kick(fw);
}

static void round_end(lg_forwarder *fw, size_t pi, int64_t now)
{
    pstate *ps = &fw->ps[pi];
    free(ps->poll_after);
    ps->poll_after = NULL;
    ps->next_poll_ms = now + (int64_t)plat(fw, pi)->poll_seconds * 1000;
}

static void poll_platform(lg_forwarder *fw, size_t pi, int64_t now)
{
    const lg_fwd_platform *p = plat(fw, pi);
    const lg_fwd_adapter *a = p->adapter;
    pstate *ps = &fw->ps[pi];
    if(!a->build_poll || !a->parse_poll || now < ps->next_poll_ms)
        return;
    int ready = ensure_auth(fw, pi);
    if(ready < 0) {
        round_end(fw, pi, now); /* cannot even ask for a token: next round */
        return;
    }
    if(ready == 0)
        return; /* the token's arrival looks again */
    while(ps->active < p->concurrency) {
        size_t want = (size_t)(p->concurrency - ps->active);
        if(want > POLL_BATCH)
            want = POLL_BATCH;
        lg_forward_link_list l = {0};
        if(lg_store_forward_links_open(fw->st, p->name, ps->poll_after, want, &l) != LG_OK) {
            lg_forward_link_list_clear(&l);
            round_end(fw, pi, now);
            return;
        }
        for(size_t i = 0; i < l.count; i++) {
            lg_fwd_req req;
            memset(&req, 0, sizeof req);
            char *after = strdup(l.items[i].remote_id);
            if(!after)
                break;
            free(ps->poll_after);
            ps->poll_after = after;
            if(a->build_poll(p, p->state, l.items[i].remote_id, &req) != LG_OK) {
                lg_fwd_req_clear(&req);
                continue;
            }
            xfer *x = xfer_start(fw, X_POLL, pi, &req);
            if(!x)
                continue;
            x->remote_id = strdup(l.items[i].remote_id);
            if(!x->remote_id) {
                xfer_free(x);
                continue;
            }
            ps->active++;
        }
        size_t got = l.count;
        lg_forward_link_list_clear(&l);
        if(got < want) {
            round_end(fw, pi, now);
            return;
        }
    }
}

/* ------------------------------------------------------ searches */

static void reply_cb(evutil_socket_t fd, short what, void *arg)
{
    searchreq *sr = arg;
    sr->done(sr->arg, sr->status, sr->body, sr->body_len);
    free(sr->query);
    free(sr->base);
    free(sr);
}

/* Hand the answer to the caller's thread; sr and body change hands. */
static void search_reply(searchreq *sr, int status, char *body, size_t len)
{
    sr->status = status;
    sr->body = body;
    sr->body_len = len;
    struct timeval now = {0, 0};
    if(!sr->reply_base || event_base_once(sr->reply_base, -1, EV_TIMEOUT, reply_cb, sr, &now) != 0)
        reply_cb(-1, 0, sr);
}

static void search_fail(searchreq *sr, int status, const lg_issues *is, const char *code,
                        const char *text)
{
    lg_buf b;
    lg_buf_init(&b, 1u << 20);
    size_t len = 0;
    char *body = NULL;
    if(lg_outcome_write(&b, is, LG_SEV_ERROR, code, text) == LG_OK)
        body = lg_buf_take(&b, &len);
    lg_buf_free(&b);
    search_reply(sr, status, body, body ? len : 0);
}

static void search_start(lg_forwarder *fw, searchreq *sr)
{
    size_t pi = 0;
    const lg_fwd_platform *p = lg_fwd_platform_get(fw->cfg, fw->cfg->directory, &pi);
    if(!p) {
        search_fail(sr, 501, NULL, "not-supported", "no directory is configured");
        return;
    }
    lg_fwd_req req;
    memset(&req, 0, sizeof req);
    lg_issues is = {0};
    lg_status rc = p->adapter->build_search(p, p->state, sr->query, &req, &is);
    if(rc != LG_OK) {
        lg_fwd_req_clear(&req);
        if(rc == LG_EINVAL)
            search_fail(sr, 400, &is, "invalid", "the search cannot be sent to the directory");
        else
            search_fail(sr, 500, &is, "exception", lg_status_str(rc));
        lg_issues_free(&is);
        return;
    }
    lg_issues_free(&is);
    xfer *x = xfer_start(fw, X_SEARCH, pi, &req);
    if(!x) {
        search_fail(sr, 500, NULL, "exception", "cannot start the directory request");
        return;
    }
    x->search = sr;
}

static void search_done(xfer *x, const lg_fwd_resp *resp)
{
    searchreq *sr = x->search;
    x->search = NULL;
    lg_forwarder *fw = x->fw;
    const lg_fwd_platform *p = plat(fw, x->pi);
    if(resp->status == 0) {
        char d[200];
        describe(resp, d, sizeof d);
        search_fail(sr, 504, NULL, "timeout", d);
        return;
    }
    cJSON *bundle = NULL;
    lg_issues is = {0};
    lg_status rc = p->adapter->parse_search(p, p->state, sr->query, sr->base, resp, &bundle, &is);
    if(rc == LG_OK && bundle) {
        char *body = lg_json_print(bundle, 0);
        cJSON_Delete(bundle);
        if(body)
            search_reply(sr, 200, body, strlen(body));
        else
            search_fail(sr, 500, NULL, "exception", "out of memory");
    } else {
        cJSON_Delete(bundle);
        char d[200];
        describe(resp, d, sizeof d);
        search_fail(sr, 502, &is, "transient", d);
    }
    lg_issues_free(&is);
}

static void search_queue_cb(evutil_socket_t fd, short what, void *arg)
{
    lg_forwarder *fw = arg;
    pthread_mutex_lock(&fw->mu);
    searchreq *q = fw->sq_head;
    fw->sq_head = fw->sq_tail = NULL;
    pthread_mutex_unlock(&fw->mu);
    while(q) {
        searchreq *next = q->next;
        q->next = NULL;
        if(atomic_load(&fw->stopping))
            search_fail(q, 503, NULL, "transient", "the forwarder is stopping");
        else
            search_start(fw, q);
        q = next;
    }
}

/* ------------------------------------------------------ the loop */

static void check_multi_info(lg_forwarder *fw)
{
    CURLMsg *m;
    int left;
    while((m = curl_multi_info_read(fw->multi, &left))) {
        if(m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        if(!x)
            continue;
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        lg_fwd_resp resp;
        memset(&resp, 0, sizeof resp);
        resp.status = res == CURLE_OK ? (int)code : 0;
        resp.body = x->body.data ? x->body.data : "";
        resp.body_len = x->body.len;
        resp.content_type = x->ctype[0] ? x->ctype : NULL;
        resp.retry_after = x->retry_after[0] ? x->retry_after : NULL;
        if(res != CURLE_OK)
            resp.error = x->too_large || res == CURLE_FILESIZE_EXCEEDED ? "response larger than 1 MiB"
                         : x->errbuf[0] ? x->errbuf : curl_easy_strerror(res);
        switch(x->kind) {
        case X_JOB: job_done(x, &resp); break;
        case X_AUTH: auth_done(x, &resp); break;
        case X_POLL: poll_done(x, &resp); break;
        case X_SEARCH: search_done(x, &resp); break;
        }
        xfer_free(x);
    }
}

static void schedule(lg_forwarder *fw, int64_t now)
{
    int64_t delay = FALLBACK_MS, nd = 0;
    /* A due job that could not start now (platform full, its Task busy)
     * starts when a slot frees (kick), so only future jobs set the timer. */
    if(lg_store_outbox_next_due(fw->st, &nd) == LG_OK && nd > now && nd - now < delay)
        delay = nd - now;
    /* The store's next due time is in the past while its oldest head job
     * is in flight; retries recorded here may fall due before the
     * fallback. Times passed are forgotten (the tick just looked). */
    size_t k = 0;
    for(size_t i = 0; i < fw->n_soon; i++) {
        int64_t d = fw->soon[i] - now;
        if(d <= 0)
            continue;
        fw->soon[k++] = fw->soon[i];
        if(d < delay)
            delay = d;
    }
    fw->n_soon = k;
    /* Likewise a poll round that is due but waits (for a slot, a token, or
     * its running transfers) is moved on by their completion, not by the
     * timer: only rounds still to come set it. */
    for(size_t i = 0; i < fw->cfg->n_platforms; i++) {
        const lg_fwd_platform *p = plat(fw, i);
        if(!p->adapter->build_poll)
            continue;
        int64_t d = fw->ps[i].next_poll_ms - now;
        if(d > 0 && d < delay)
            delay = d;
    }
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    evtimer_add(fw->tick_ev, &tv);
}

/* Each platform's due jobs, read separately (lg_store_outbox_due_platform)
 * so a saturated platform's backlog never hides another platform's jobs:
 * the read of platform i is bounded by its free slots plus the jobs of it
 * the answer may hold that cannot start (in flight, or finished and
 * awaiting their flush); a full platform is not read at all. Appends to
 * *l. Jobs of platforms no longer configured come from one bounded read of
 * all platforms into *other (its configured ones are ignored by the
 * caller). Only jobs written before this configuration can name such a
 * platform (the REST layer routes with the same one), and they are only
 * put off, so that read is made once per UNKNOWN_PLATFORM_DELAY_MS, not
 * on every tick. 0 when a read failed (nothing is sent then; the timer
 * tries again). */
static int read_due(lg_forwarder *fw, int64_t now, lg_outbox_list *l, lg_outbox_list *other)
{
    for(size_t i = 0; i < fw->cfg->n_platforms; i++) {
        const lg_fwd_platform *p = plat(fw, i);
        int free_slots = p->concurrency - fw->ps[i].active;
        if(free_slots <= 0)
            continue;
        size_t want = (size_t)p->concurrency + fw->n_unsynced;
        if(want > DUE_BATCH)
            want = DUE_BATCH;
        if(lg_store_outbox_due_platform(fw->st, p->name, now, want, l) != LG_OK)
            return 0;
    }
    if(now < fw->orphans_at_ms)
        return 1;
    if(lg_store_outbox_due(fw->st, now, DUE_BATCH, other) != LG_OK)
        return 0;
    fw->orphans_at_ms = now + UNKNOWN_PLATFORM_DELAY_MS;
    return 1;
}

/* A job can be read here after the store COMMITted its batch but before
 * the batch's flush reached the disk (lg_store_sync commits, then flushes;
 * the wake after a durable reply is only the usual path, the timer is
 * another). Sending then could deliver a referral whose Task a power loss
 * takes back. So the flush comes after the read and before any send: it
 * covers every job just read, and every verdict recorded since the last
 * one - one flush per tick. */
static void tick(lg_forwarder *fw)
{
    if(atomic_load(&fw->stopping))
        return;
    int64_t now = lg_time_now_ms();
    int looked = 0;
    if(fw->cfg->n_platforms) {
        lg_outbox_list l = {0}, other = {0};
        char *skip = NULL;
        if(now >= fw->hold_until_ms && read_due(fw, now, &l, &other) &&
           (l.count == 0 || (skip = calloc(l.count, 1)))) {
            looked = 1;
            /* skip[i]: job i is in flight, or finished and read as it was
             * before its unflushed verdict - never to be sent again. */
            int fresh = 0, stale = 0;
            size_t n = l.count;
            for(size_t i = 0; i < n; i++) {
                int old = unsynced_has(fw, l.items[i].id);
                skip[i] = (char)(old || job_active(fw, &l.items[i]));
                stale |= old;
                fresh |= !skip[i];
            }
            int reread = fw->reread;
            /* When the store fails nothing is sent; the timer tries again. */
            int synced = 1;
            if((fresh || fw->dirty) && flush(fw) != LG_OK) {
                synced = 0;
                n = 0;
            } else if(stale || reread) {
                /* A finished job may have hidden the next job of its Task
                 * (only the oldest pending job of a Task is offered), and a
                 * hook's write may have added some: read again, now that
                 * everything is flushed. */
                fw->reread = 0;
                kick(fw);
            }
            for(size_t i = 0; i < n; i++) {
                lg_outbox_job *oj = &l.items[i];
                if(skip[i] || job_active(fw, oj))
                    continue;
                size_t pi = 0;
                const lg_fwd_platform *p = lg_fwd_platform_get(fw->cfg, oj->platform, &pi);
                if(!p || fw->ps[pi].active >= p->concurrency)
                    continue;
                job_start(fw, pi, oj);
            }
            for(size_t i = 0; synced && i < other.count; i++) {
                size_t pi;
                const lg_outbox_job *oj = &other.items[i];
                if(!lg_fwd_platform_get(fw->cfg, oj->platform, &pi) && !unsynced_has(fw, oj->id))
                    job_unknown_platform(fw, oj, now);
            }
        }
        free(skip);
        lg_outbox_list_clear(&l);
        lg_outbox_list_clear(&other);
        for(size_t i = 0; i < fw->cfg->n_platforms; i++)
            poll_platform(fw, i, now);
    }
    /* Held or unreadable: the verdicts still get their flush now. */
    if(!looked && fw->dirty && flush(fw) != LG_OK)
        fprintf(stderr, "forward: flushing verdicts failed\n");
    schedule(fw, lg_time_now_ms());
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    tick(arg);
}

/* Look at the outbox again soon, from the loop (never re-entering the
 * code that finished a job). */
static void kick(lg_forwarder *fw)
{
    if(!atomic_load(&fw->stopping))
        event_active(fw->wake_ev, EV_TIMEOUT, 0);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    lg_forwarder *fw = arg;
    /* Abandon every transfer: jobs stay pending in the outbox (nothing was
     * written when their attempt began), searches are answered 503. */
    while(fw->xfers) {
        xfer *x = fw->xfers;
        if(x->kind == X_SEARCH && x->search) {
            search_fail(x->search, 503, NULL, "transient", "the forwarder is stopping");
            x->search = NULL;
        }
        xfer_free(x);
    }
    while(fw->jobs) {
        jobctx *jc = fw->jobs;
        fw->jobs = jc->next;
        lg_outbox_job_clear(&jc->oj);
        lg_fwd_job_data_clear(&jc->data);
        free(jc);
    }
    for(size_t i = 0; i < fw->cfg->n_platforms; i++) {
        fw->ps[i].wait_head = fw->ps[i].wait_tail = NULL;
        fw->ps[i].active = 0;
    }
    search_queue_cb(-1, 0, fw);
    /* Verdicts already recorded need not be sent again after a restart. */
    if(fw->dirty && flush(fw) != LG_OK)
        fprintf(stderr, "forward: flushing verdicts at stop failed\n");
    event_base_loopbreak(fw->base);
}

static void *run(void *arg)
{
    lg_forwarder *fw = arg;
    event_base_loop(fw->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* ------------------------------------------------------ public */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void fw_free(lg_forwarder *fw)
{
    if(!fw)
        return;
    if(fw->multi)
        curl_multi_cleanup(fw->multi); /* may still close sockets: before the base goes */
    if(fw->curl_timer)
        event_free(fw->curl_timer);
    if(fw->tick_ev)
        event_free(fw->tick_ev);
    if(fw->wake_ev)
        event_free(fw->wake_ev);
    if(fw->stop_ev)
        event_free(fw->stop_ev);
    if(fw->search_ev)
        event_free(fw->search_ev);
    if(fw->base)
        event_base_free(fw->base);
    if(fw->st)
        lg_store_close(fw->st);
    if(fw->ps) {
        for(size_t i = 0; i < fw->cfg->n_platforms; i++)
            free(fw->ps[i].poll_after);
        free(fw->ps);
    }
    free(fw->unsynced);
    pthread_mutex_destroy(&fw->mu);
    free(fw);
}

lg_status lg_forwarder_start(const lg_fwd_config *config, const char *store_location,
                             const lg_fwd_hooks *hooks, lg_forwarder **out, lg_issues *issues)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    /* Searches and wakes arrive from other threads: the base needs locks.
     * Harmless when the server already asked for them. */
    evthread_use_pthreads();
    lg_status rc = LG_ENOMEM;
    lg_forwarder *fw = calloc(1, sizeof *fw);
    if(!fw)
        return LG_ENOMEM;
    pthread_mutex_init(&fw->mu, NULL);
    fw->cfg = config;
    if(hooks)
        fw->hooks = *hooks;
    fw->accepting = 1;
    fw->rnd = ((uint64_t)lg_time_mono_us() << 16) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)fw;
    if(!fw->rnd)
        fw->rnd = 88172645463325252ULL;
    fw->ps = calloc(config->n_platforms ? config->n_platforms : 1, sizeof *fw->ps);
    if(!fw->ps)
        goto fail;
    int64_t now = lg_time_now_ms();
    for(size_t i = 0; i < config->n_platforms; i++)
        fw->ps[i].next_poll_ms = now; /* the first round right away: catch up after a restart */
    rc = lg_store_open(store_location, &fw->st, issues);
    if(rc != LG_OK)
        goto fail;
    rc = LG_ENOMEM;
    if(!(fw->base = event_base_new()))
        goto fail;
    fw->curl_timer = evtimer_new(fw->base, curl_timer_fired, fw);
    fw->tick_ev = evtimer_new(fw->base, tick_cb, fw);
    fw->wake_ev = event_new(fw->base, -1, 0, tick_cb, fw);
    fw->stop_ev = event_new(fw->base, -1, 0, stop_cb, fw);
    fw->search_ev = event_new(fw->base, -1, 0, search_queue_cb, fw);
    if(!fw->curl_timer || !fw->tick_ev || !fw->wake_ev || !fw->stop_ev || !fw->search_ev)
        goto fail;
    if(!(fw->multi = curl_multi_init()))
        goto fail;
    curl_multi_setopt(fw->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(fw->multi, CURLMOPT_SOCKETDATA, fw);
    curl_multi_setopt(fw->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(fw->multi, CURLMOPT_TIMERDATA, fw);
    /* First look at the outbox as soon as the loop runs. */
    struct timeval zero = {0, 0};
    evtimer_add(fw->tick_ev, &zero);
    if(pthread_create(&fw->thread, NULL, run, fw) != 0) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "cannot start the forwarder thread");
        rc = LG_EIO;
        goto fail;
    }
    *out = fw;
    return LG_OK;
fail:
    if(rc == LG_ENOMEM)
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "cannot set up the forwarder");
    fw_free(fw);
    return rc;
}

void lg_forwarder_wake(lg_forwarder *fw)
{
    if(fw && !atomic_load(&fw->stopping))
        event_active(fw->wake_ev, EV_TIMEOUT, 0);
}

void lg_forwarder_stop(lg_forwarder *fw)
{
    if(!fw)
        return;
    pthread_mutex_lock(&fw->mu);
    fw->accepting = 0;
    pthread_mutex_unlock(&fw->mu);
    atomic_store(&fw->stopping, 1);
    event_active(fw->stop_ev, EV_TIMEOUT, 0);
    pthread_join(fw->thread, NULL);
    fw_free(fw);
}

void lg_forwarder_stats_get(lg_forwarder *fw, lg_forwarder_stats *out)
{
    memset(out, 0, sizeof *out);
    if(!fw)
        return;
    out->attempts = atomic_load(&fw->n_attempts);
    out->delivered = atomic_load(&fw->n_delivered);
    out->retried = atomic_load(&fw->n_retried);
    out->dead = atomic_load(&fw->n_dead);
    out->polls = atomic_load(&fw->n_polls);
    out->events = atomic_load(&fw->n_events);
    out->in_flight = atomic_load(&fw->n_in_flight);
}

lg_status lg_forwarder_search(lg_forwarder *fw, const char *query, const char *base,
                              struct event_base *reply_base, lg_fwd_search_done done, void *arg)
{
    if(!fw || !fw->cfg->directory)
        return LG_EUNSUPPORTED;
    searchreq *sr = calloc(1, sizeof *sr);
    if(!sr)
        return LG_ENOMEM;
    sr->query = strdup(query ? query : "");
    sr->base = strdup(base ? base : "");
    sr->reply_base = reply_base;
    sr->done = done;
    sr->arg = arg;
    if(!sr->query || !sr->base) {
        free(sr->query);
        free(sr->base);
        free(sr);
        return LG_ENOMEM;
    }
    pthread_mutex_lock(&fw->mu);
    int ok = fw->accepting;
    if(ok) {
        if(fw->sq_tail)
            fw->sq_tail->next = sr;
        else
            fw->sq_head = sr;
        fw->sq_tail = sr;
    }
    pthread_mutex_unlock(&fw->mu);
    if(!ok) {
        free(sr->query);
        free(sr->base);
        free(sr);
        return LG_EUNSUPPORTED;
    }
    event_active(fw->search_ev, EV_TIMEOUT, 0);
    return LG_OK;
}
