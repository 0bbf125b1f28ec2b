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
