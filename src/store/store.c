/* store.c - the backend-neutral part of the store interface: result
 * containers, and choosing a backend from the location. */
#include <stdlib.h>
#include <string.h>

#include "loopgate/store.h"
#include "store_backend.h"

void lg_resource_clear(lg_resource *r)
{
    free(r->type);
    free(r->id);
    free(r->json);
    free(r->author);
    free(r->creator);
    memset(r, 0, sizeof(*r));
}

void lg_resource_list_clear(lg_resource_list *l)
{
    for(size_t i = 0; i < l->count; i++)
        lg_resource_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

lg_resource *lg_resource_list_push(lg_resource_list *l)
{
    if(l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        lg_resource *n = realloc(l->items, ncap * sizeof(*n));
        if(!n)
            return NULL;
        l->items = n;
        l->cap = ncap;
    }
    lg_resource *r = &l->items[l->count++];
    memset(r, 0, sizeof(*r));
    return r;
}

lg_status lg_store_open(const char *location, lg_store **out, lg_issues *issues)
{
    *out = NULL;
    if(!location || !*location) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "No store location given");
        return LG_EINVAL;
    }
    if(strncmp(location, "postgres://", 11) == 0 || strncmp(location, "postgresql://", 13) == 0) {
        lg_issues_add(issues, LG_SEV_FATAL, "not-supported", NULL,
                      "The PostgreSQL backend is not built into this Loopgate");
        return LG_EUNSUPPORTED;
    }
    return lg_sqlite_open(location, out, issues);
}

void lg_store_close(lg_store *st)
{
    if(st)
        st->ops->close(st);
}

lg_status lg_store_begin(lg_store *st) { return st->ops->begin(st); }
lg_status lg_store_commit(lg_store *st) { return st->ops->commit(st); }
void lg_store_rollback(lg_store *st) { st->ops->rollback(st); }
lg_status lg_store_commit_nowait(lg_store *st, uint64_t *ticket)
{
    return st->ops->commit_nowait(st, ticket);
}
lg_status lg_store_sync(lg_store *st, uint64_t ticket) { return st->ops->sync(st, ticket); }
uint64_t lg_store_synced(lg_store *st) { return st->ops->synced(st); }
void lg_store_maintain(lg_store *st) { st->ops->maintain(st); }

lg_status lg_store_read(lg_store *st, const char *type, const char *id, lg_resource *out)
{
    return st->ops->read(st, type, id, 0, out);
}

lg_status lg_store_vread(lg_store *st, const char *type, const char *id, int64_t version,
                         lg_resource *out)
{
    if(version < 1) {
        memset(out, 0, sizeof(*out));
        return LG_ENOTFOUND;
    }
    return st->ops->read(st, type, id, version, out);
}

lg_status lg_store_put(lg_store *st, const lg_store_write *w, int64_t *seq_out)
{
    return st->ops->put(st, w, seq_out);
}

lg_status lg_store_search(lg_store *st, const lg_query *q, lg_resource_list *out,
                          lg_issues *issues)
{
    return st->ops->search(st, q, out, NULL, issues);
}

lg_status lg_store_count(lg_store *st, const lg_query *q, int64_t *total, lg_issues *issues)
{
    return st->ops->search(st, q, NULL, total, issues);
}

lg_status lg_store_history(lg_store *st, const char *type, const char *id, int64_t since,
                           int64_t before_seq, int count, lg_resource_list *out)
{
    return st->ops->history(st, type, id, since, before_seq, count, out);
}

lg_status lg_store_type_seq(lg_store *st, const char *type, int64_t *out)
{
    return st->ops->type_seq(st, type, out);
}

lg_status lg_store_snapshot_begin(lg_store *st)
{
    return st->ops->snapshot(st, 1);
}

void lg_store_snapshot_end(lg_store *st)
{
    st->ops->snapshot(st, 0);
}

uint64_t lg_store_generation(lg_store *st)
{
    return st->ops->generation(st);
}

lg_status lg_store_max_seq(lg_store *st, int64_t *out)
{
    return st->ops->max_seq(st, out);
}

lg_status lg_store_referral_fact_put(lg_store *st, const lg_store_referral_fact *f)
{
    if(!f->referral_id || !*f->referral_id)
        return LG_EINVAL;
    return st->ops->fact_put(st, f);
}

lg_status lg_store_referral_fact_times(lg_store *st, const char *referral_id, int64_t times[3])
{
    times[0] = times[1] = times[2] = INT64_MIN;
    if(!referral_id)
        return LG_ENOTFOUND;
    return st->ops->fact_times(st, referral_id, times);
}

lg_status lg_store_referral_fact_delete(lg_store *st, const char *referral_id)
{
    return referral_id ? st->ops->fact_delete(st, referral_id) : LG_OK;
}

lg_status lg_store_child_facts_put(lg_store *st, const lg_store_child_facts *c)
{
    if(!c->child_id || !*c->child_id)
        return LG_EINVAL;
    return st->ops->child_put(st, c);
}

lg_status lg_store_child_facts_delete(lg_store *st, const char *child_id)
{
    return child_id ? st->ops->child_delete(st, child_id) : LG_OK;
}

lg_status lg_store_referral_facts_scan(lg_store *st, int64_t start_ms, int64_t end_ms,
                                       lg_store_fact_fn fn, void *ctx)
{
    if(start_ms > end_ms)
        return LG_EINVAL;
    return st->ops->fact_scan(st, start_ms, end_ms, fn, ctx);
}

/* ---- forwarding outbox, links, inbound events ---- */

void lg_outbox_job_clear(lg_outbox_job *j)
{
    free(j->platform);
    free(j->kind);
    free(j->task_id);
    free(j->referral_id);
    free(j->target);
    free(j->remote_id);
    free(j->last_error);
    memset(j, 0, sizeof(*j));
}

void lg_outbox_list_clear(lg_outbox_list *l)
{
    for(size_t i = 0; i < l->count; i++)
        lg_outbox_job_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

void lg_forward_link_clear(lg_forward_link *l)
{
    free(l->platform);
    free(l->remote_id);
    free(l->task_id);
    free(l->last_status);
    memset(l, 0, sizeof(*l));
}

void lg_forward_link_list_clear(lg_forward_link_list *l)
{
    for(size_t i = 0; i < l->count; i++)
        lg_forward_link_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

void lg_inbound_event_clear(lg_inbound_event *e)
{
    free(e->platform);
    free(e->event_id);
    free(e->task_id);
    free(e->status);
    free(e->outcome);
    free(e->detail);
    memset(e, 0, sizeof(*e));
}

void lg_inbound_event_list_clear(lg_inbound_event_list *l)
{
    for(size_t i = 0; i < l->count; i++)
        lg_inbound_event_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Append a zeroed element of size elem to the array *items (count, cap);
 * NULL on allocation failure (the array is unchanged). */
static void *grow(void **items, size_t *count, size_t *cap, size_t elem)
{
    if(*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        if(ncap > SIZE_MAX / elem)
            return NULL;
        void *n = realloc(*items, ncap * elem);
        if(!n)
            return NULL;
        *items = n;
        *cap = ncap;
    }
    char *e = (char *)*items + elem * (*count)++;
    memset(e, 0, elem);
    return e;
}

lg_outbox_job *lg_outbox_list_push(lg_outbox_list *l)
{
    return grow((void **)&l->items, &l->count, &l->cap, sizeof(*l->items));
}

lg_forward_link *lg_forward_link_list_push(lg_forward_link_list *l)
{
    return grow((void **)&l->items, &l->count, &l->cap, sizeof(*l->items));
}

lg_inbound_event *lg_inbound_event_list_push(lg_inbound_event_list *l)
{
    return grow((void **)&l->items, &l->count, &l->cap, sizeof(*l->items));
}

/* v is NULL or at most max bytes long (read no further than max + 1). */
static int fits(const char *v, size_t max)
{
    return !v || strnlen(v, max + 1) <= max;
}

/* v is present, not empty, and at most max bytes long. */
static int given(const char *v, size_t max)
{
    return v && *v && fits(v, max);
}

lg_status lg_store_outbox_add(lg_store *st, const lg_outbox_job *j, int64_t *id_out)
{
    if(!given(j->platform, LG_STORE_NAME_MAX) || !given(j->kind, LG_STORE_NAME_MAX) ||
       !given(j->task_id, LG_STORE_KEY_MAX) || !fits(j->referral_id, LG_STORE_KEY_MAX) ||
       !fits(j->target, LG_STORE_KEY_MAX) || !fits(j->remote_id, LG_STORE_KEY_MAX))
        return LG_EINVAL;
    return st->ops->outbox_add(st, j, id_out);
}

lg_status lg_store_outbox_get(lg_store *st, int64_t id, lg_outbox_job *out)
{
    memset(out, 0, sizeof(*out));
    return id > 0 ? st->ops->outbox_get(st, id, out) : LG_ENOTFOUND;
}

lg_status lg_store_outbox_due(lg_store *st, int64_t now_ms, size_t max, lg_outbox_list *out)
{
    return max ? st->ops->outbox_due(st, now_ms, max, out) : LG_OK;
}

lg_status lg_store_outbox_due_platform(lg_store *st, const char *platform, int64_t now_ms, size_t max,
                                       lg_outbox_list *out)
{
    if(!platform)
        return LG_EINVAL;
    return max ? st->ops->outbox_due_platform(st, platform, now_ms, max, out) : LG_OK;
}

lg_status lg_store_outbox_next_due(lg_store *st, int64_t *out)
{
    return st->ops->outbox_next_due(st, out);
}

lg_status lg_store_outbox_list(lg_store *st, int state, const char *platform, int64_t after_id,
                               size_t max, lg_outbox_list *out)
{
    if(state < -1 || state > LG_OUTBOX_DEAD || !fits(platform, LG_STORE_NAME_MAX))
        return LG_EINVAL;
    return max ? st->ops->outbox_list(st, state, platform, after_id, max, out) : LG_OK;
}

lg_status lg_store_outbox_update(lg_store *st, int64_t id, lg_outbox_state state, int attempts,
                                 int64_t next_at_ms, const char *last_error, const char *remote_id,
                                 int64_t now_ms)
{
    if((int)state < LG_OUTBOX_PENDING || state > LG_OUTBOX_DEAD || attempts < 0 ||
       !fits(last_error, LG_STORE_TEXT_MAX) || !fits(remote_id, LG_STORE_KEY_MAX))
        return LG_EINVAL;
    return st->ops->outbox_update(st, id, state, attempts, next_at_ms, last_error, remote_id,
                                  now_ms);
}

lg_status lg_store_outbox_replay(lg_store *st, int64_t id, int64_t now_ms)
{
    return st->ops->outbox_replay(st, id, now_ms);
}

lg_status lg_store_outbox_counts(lg_store *st, int64_t counts[3])
{
    counts[0] = counts[1] = counts[2] = 0;
    return st->ops->outbox_counts(st, counts);
}

lg_status lg_store_forward_link_put(lg_store *st, const lg_forward_link *l)
{
    if(!given(l->platform, LG_STORE_NAME_MAX) || !given(l->remote_id, LG_STORE_KEY_MAX) ||
       !given(l->task_id, LG_STORE_KEY_MAX) || !fits(l->last_status, LG_STORE_KEY_MAX))
        return LG_EINVAL;
    return st->ops->link_put(st, l);
}

lg_status lg_store_forward_link_get(lg_store *st, const char *platform, const char *remote_id,
                                    lg_forward_link *out)
{
    memset(out, 0, sizeof(*out));
    if(!platform || !remote_id)
        return LG_ENOTFOUND;
    return st->ops->link_get(st, platform, remote_id, out);
}

lg_status lg_store_forward_link_by_task(lg_store *st, const char *platform, const char *task_id,
                                        lg_forward_link *out)
{
    memset(out, 0, sizeof(*out));
    if(!task_id)
        return LG_ENOTFOUND;
    return st->ops->link_by_task(st, platform, task_id, out);
}

lg_status lg_store_forward_links_open(lg_store *st, const char *platform, const char *after,
                                      size_t max, lg_forward_link_list *out)
{
    if(!given(platform, LG_STORE_NAME_MAX) || !fits(after, LG_STORE_KEY_MAX))
        return LG_EINVAL;
    return max ? st->ops->links_open(st, platform, after, max, out) : LG_OK;
}

lg_status lg_store_inbound_event_add(lg_store *st, const lg_inbound_event *e)
{
    if(!given(e->platform, LG_STORE_NAME_MAX) || !given(e->event_id, LG_STORE_KEY_MAX) ||
       !given(e->outcome, LG_STORE_NAME_MAX) || !fits(e->task_id, LG_STORE_KEY_MAX) ||
       !fits(e->status, LG_STORE_KEY_MAX) || !fits(e->detail, LG_STORE_TEXT_MAX))
        return LG_EINVAL;
    return st->ops->event_add(st, e);
}

lg_status lg_store_inbound_event_get(lg_store *st, const char *platform, const char *event_id,
                                     lg_inbound_event *out)
{
    if(out)
        memset(out, 0, sizeof(*out));
    if(!platform || !event_id)
        return LG_ENOTFOUND;
    return st->ops->event_get(st, platform, event_id, out);
}

lg_status lg_store_inbound_events_list(lg_store *st, const char *outcome, int64_t after_seq,
                                       size_t max, lg_inbound_event_list *out)
{
    if(!fits(outcome, LG_STORE_NAME_MAX))
        return LG_EINVAL;
    return max ? st->ops->events_list(st, outcome, after_seq, max, out) : LG_OK;
}
