/* outbox_op.c - the operator's view of forwarding on a running server
 * (issue #5): the same listing and replay `loopgate outbox --data` does
 * offline, for when the server holds the data directory.
 *
 *   GET  /$outbox?state=&platform=&_count=&after=   a page of jobs and the
 *        counts by state: {"jobs":[...],"counts":{...},"next_after":id}
 *   GET  /$outbox?id=N                               one job
 *   POST /$outbox-replay?id=N                        a dead job back to
 *        pending: 200 with the job, 404 unknown, 409 not dead; the response
 *        says outbox_added so the HTTP layer wakes the forwarder once the
 *        change is durable
 *   GET  /$outbox-events?outcome=&_count=&after=     inbound status events
 *
 * Answers are plain JSON (include/loopgate/outbox.h), like the closed-loop
 * report's plain form: this is an operator's tool, not FHIR. Errors are
 * OperationOutcomes naming the parameter.
 *
 * Who: coordination clients and the server itself (actor NULL); everyone
 * else 403. The outbox names every referral's Task and program, so it is not
 * for referral partners.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/outbox.h"
#include "internal.h"

/* Read the parameters shared by the three operations. */
typedef struct outbox_params {
    const char *state, *platform, *outcome, *count, *after, *id;
} outbox_params;

static lg_status bad_param(lg_ctx *c, const char *op, const char *name, const char *why,
                           const char *value)
{
    return lg_fail(c, LG_EINVAL, "invalid", name, "$%s parameter '%s': %s%s%.80s%s", op, name, why,
                   value ? " ('" : "", value ? value : "", value ? "')" : "");
}

/* A whole number 1..max (no sign, no spaces) into *out; 0 when it is not. */
static int parse_number(const char *v, int64_t min, int64_t max, int64_t *out)
{
    if(!v || !*v || strlen(v) > 18)
        return 0;
    int64_t n = 0;
    for(const char *p = v; *p; p++) {
        if(*p < '0' || *p > '9')
            return 0;
        n = n * 10 + (*p - '0');
    }
    if(n < min || n > max)
        return 0;
    *out = n;
    return 1;
}

/* Counts and job ids start at 1. */
static int parse_count(const char *v, int64_t max, int64_t *out)
{
    return parse_number(v, 1, max, out);
}

/* The caller may look at the outbox. */
static lg_status guard(lg_ctx *c, const char *op)
{
    const lg_actor *a = c->req->actor;
    if(a && a->role != LG_ROLE_COORDINATION)
        return lg_fail(c, LG_EFORBIDDEN, "forbidden", NULL, "$%s is for coordination staff", op);
    return LG_OK;
}

/* Parse the query into p; allowed lists the names this operation takes
 * (space-separated). Values stay owned by ps. */
static lg_status read_params(lg_ctx *c, const char *op, const char *allowed, lg_params *ps,
                             outbox_params *p)
{
    const char *q = c->req->query;
    memset(p, 0, sizeof(*p));
    if(lg_params_parse(q, q ? strlen(q) : 0, ps))
        return lg_fail(c, LG_EINVAL, "invalid", NULL, "Could not parse the query string");
    for(size_t i = 0; i < ps->count; i++) {
        const char *n = ps->items[i].name, *v = ps->items[i].value ? ps->items[i].value : "";
        const char **slot = NULL;
        const char *hit = strstr(allowed, n);
        size_t nl = strlen(n);
        /* n must be a whole word of allowed */
        if(nl && hit && (hit == allowed || hit[-1] == ' ') && (hit[nl] == ' ' || !hit[nl])) {
            if(strcmp(n, "state") == 0) slot = &p->state;
            else if(strcmp(n, "platform") == 0) slot = &p->platform;
            else if(strcmp(n, "outcome") == 0) slot = &p->outcome;
            else if(strcmp(n, "_count") == 0) slot = &p->count;
            else if(strcmp(n, "after") == 0) slot = &p->after;
            else if(strcmp(n, "id") == 0) slot = &p->id;
        }
        if(!slot) {
            char why[96];
            snprintf(why, sizeof(why), "unknown parameter (%s)", allowed);
            return bad_param(c, op, n, why, NULL);
        }
        if(*slot)
            return bad_param(c, op, n, "given more than once", NULL);
        *slot = v;
    }
    return LG_OK;
}

/* The page size: _count, else the server's default, at most the smaller
 * of its maximum and LG_OUTBOX_PAGE_MAX. */
static lg_status page_size(lg_ctx *c, const char *op, const char *v, int *out)
{
    int64_t max = LG_OUTBOX_PAGE_MAX, n;
    if(c->rest->cfg.max_count > 0 && c->rest->cfg.max_count < max)
        max = c->rest->cfg.max_count;
    if(!v) {
        n = c->rest->cfg.default_count > 0 ? c->rest->cfg.default_count : 20;
        *out = (int)(n > max ? max : n);
        return LG_OK;
    }
    if(!parse_count(v, INT64_MAX / 10, &n))
        return bad_param(c, op, "_count", "not a whole number from 1", v);
    *out = (int)(n > max ? max : n);
    return LG_OK;
}

static void reply_json(lg_ctx *c, lg_buf *b)
{
    lg_reply_buf(c, 200, b);
    if(c->resp->body)
        c->resp->content_type = "application/json; charset=utf-8";
}

static lg_status write_failed(lg_ctx *c, lg_status st)
{
    return lg_fail(c, st, st == LG_ETOOLARGE ? "too-costly" : "exception", NULL,
                   "Could not read the outbox (%s)", lg_status_str(st));
}

/* Job id as JSON into b (read through c's handle: inside a write
 * transaction it sees the transaction's own change). */
static lg_status job_json(lg_ctx *c, int64_t id, lg_buf *b)
{
    lg_outbox_job j;
    lg_status st = lg_store_outbox_get(c->st, id, &j);
    if(st == LG_ENOTFOUND)
        return lg_fail(c, st, "not-found", "id", "No outbox job %lld", (long long)id);
    if(st)
        return write_failed(c, st);
    st = lg_outbox_job_write_json(b, &j);
    lg_outbox_job_clear(&j);
    return st ? write_failed(c, st) : LG_OK;
}

lg_status lg_do_outbox(lg_ctx *c)
{
    lg_params ps = {0};
    outbox_params p;
    lg_buf b;
    lg_status st;
    int64_t after = 0, id;
    int count, state = -1;
    lg_buf_init(&b, c->rest->cfg.max_response);
    if((st = guard(c, "outbox")) ||
       (st = read_params(c, "outbox", "state platform _count after id", &ps, &p)))
        goto out;
    if(p.id) {
        if(p.state || p.platform || p.count || p.after) {
            st = bad_param(c, "outbox", "id", "names one job: no other parameter goes with it",
                           NULL);
            goto out;
        }
        if(!parse_count(p.id, INT64_MAX / 10, &id)) {
            st = bad_param(c, "outbox", "id", "not a job id", p.id);
            goto out;
        }
        if(!(st = job_json(c, id, &b)))
            reply_json(c, &b);
        goto out;
    }
    if(p.state && (state = lg_outbox_state_parse(p.state)) < 0) {
        st = bad_param(c, "outbox", "state", "not pending, done or dead", p.state);
        goto out;
    }
    if(p.platform && (!*p.platform || strlen(p.platform) > LG_STORE_NAME_MAX)) {
        st = bad_param(c, "outbox", "platform", "not a platform name", p.platform);
        goto out;
    }
    /* after=0 is the first page, as a client that starts from 0 expects. */
    if(p.after && !parse_number(p.after, 0, INT64_MAX / 10, &after)) {
        st = bad_param(c, "outbox", "after", "not a job id", p.after);
        goto out;
    }
    if((st = page_size(c, "outbox", p.count, &count)))
        goto out;
    if((st = lg_outbox_page_json(c->st, state, p.platform, after, count, &b))) {
        st = write_failed(c, st);
        goto out;
    }
    reply_json(c, &b);
out:
    lg_buf_free(&b);
    lg_params_free(&ps);
    return st;
}

lg_status lg_do_outbox_replay(lg_ctx *c)
{
    lg_params ps = {0};
    outbox_params p;
    lg_buf b;
    lg_status st;
    int64_t id;
    lg_buf_init(&b, c->rest->cfg.max_response);
    if((st = guard(c, "outbox-replay")) ||
       (st = read_params(c, "outbox-replay", "id", &ps, &p)))
        goto out;
    if(!p.id) {
        st = bad_param(c, "outbox-replay", "id", "required (the dead job to send again)", NULL);
        goto out;
    }
    if(!parse_count(p.id, INT64_MAX / 10, &id)) {
        st = bad_param(c, "outbox-replay", "id", "not a job id", p.id);
        goto out;
    }
    if((st = lg_txn_begin(c)))
        goto out;
    st = lg_store_outbox_replay(c->st, id, c->now);
    if(st == LG_ENOTFOUND)
        st = lg_fail(c, st, "not-found", "id", "No outbox job %lld", (long long)id);
    else if(st == LG_ECONFLICT)
        st = lg_fail(c, st, "conflict", "id",
                     "Outbox job %lld is not dead: only dead jobs are replayed", (long long)id);
    else if(st)
        st = lg_fail(c, st, "exception", NULL, "Could not replay the job (%s)", lg_status_str(st));
    /* The answer is read inside the transaction: with deferred sync this
     * handle's reads after the commit may not see the change yet. */
    if(!st)
        st = job_json(c, id, &b);
    if(st) {
        lg_txn_rollback(c);
        goto out;
    }
    if((st = lg_txn_commit(c)))
        goto out;
    c->resp->outbox_added = 1;
    reply_json(c, &b);
out:
    lg_buf_free(&b);
    lg_params_free(&ps);
    return st;
}

lg_status lg_do_outbox_events(lg_ctx *c)
{
    lg_params ps = {0};
    outbox_params p;
    lg_buf b;
    lg_status st;
    int64_t after = 0;
    int count;
    lg_buf_init(&b, c->rest->cfg.max_response);
    if((st = guard(c, "outbox-events")) ||
       (st = read_params(c, "outbox-events", "outcome _count after", &ps, &p)))
        goto out;
    if(p.outcome && (!*p.outcome || strlen(p.outcome) > LG_STORE_NAME_MAX)) {
        st = bad_param(c, "outbox-events", "outcome", "not an outcome (applied, ignored, parked)",
                       p.outcome);
        goto out;
    }
    /* after=0 is the first page, as a client that starts from 0 expects. */
    if(p.after && !parse_number(p.after, 0, INT64_MAX / 10, &after)) {
        st = bad_param(c, "outbox-events", "after", "not an event seq", p.after);
        goto out;
    }
    if((st = page_size(c, "outbox-events", p.count, &count)))
        goto out;
    if((st = lg_inbound_events_page_json(c->st, p.outcome, after, count, &b))) {
        st = write_failed(c, st);
        goto out;
    }
    reply_json(c, &b);
out:
    lg_buf_free(&b);
    lg_params_free(&ps);
    return st;
}
