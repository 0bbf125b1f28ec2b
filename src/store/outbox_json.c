/* outbox_json.c - the plain JSON form of outbox jobs and inbound events
 * (include/loopgate/outbox.h), shared by the REST operations and the
 * `loopgate outbox` command so both print the same document. */
#include <string.h>

#include "loopgate/outbox.h"

static const char *const state_names[] = {"pending", "done", "dead"};

const char *lg_outbox_state_name(int state)
{
    return state >= 0 && state < 3 ? state_names[state] : NULL;
}

int lg_outbox_state_parse(const char *name)
{
    for(int i = 0; name && i < 3; i++)
        if(strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

/* ,"key":"value" or ,"key":null */
static lg_status field(lg_buf *b, const char *key, const char *v)
{
    lg_status st = lg_buf_printf(b, ",\"%s\":", key);
    if(!st)
        st = v ? lg_buf_add_json_string(b, v) : lg_buf_adds(b, "null");
    return st;
}

lg_status lg_outbox_job_write_json(lg_buf *b, const lg_outbox_job *j)
{
    const char *state = lg_outbox_state_name((int)j->state);
    lg_status st = lg_buf_printf(b, "{\"id\":%lld", (long long)j->id);
    if(!st) st = field(b, "platform", j->platform);
    if(!st) st = field(b, "kind", j->kind);
    if(!st) st = field(b, "task_id", j->task_id);
    if(!st) st = field(b, "referral_id", j->referral_id);
    if(!st) st = field(b, "target", j->target);
    if(!st) st = field(b, "remote_id", j->remote_id);
    if(!st) st = field(b, "state", state ? state : "unknown");
    if(!st) st = lg_buf_printf(b, ",\"attempts\":%d", j->attempts);
    if(!st) st = field(b, "last_error", j->last_error);
    if(!st)
        st = lg_buf_printf(b, ",\"created_ms\":%lld,\"next_at_ms\":%lld,\"updated_ms\":%lld}",
                           (long long)j->created_ms, (long long)j->next_at_ms,
                           (long long)j->updated_ms);
    return st;
}

lg_status lg_inbound_event_write_json(lg_buf *b, const lg_inbound_event *e)
{
    lg_status st = lg_buf_printf(b, "{\"seq\":%lld", (long long)e->seq);
    if(!st) st = field(b, "platform", e->platform);
    if(!st) st = field(b, "event_id", e->event_id);
    if(!st) st = field(b, "task_id", e->task_id);
    if(!st) st = field(b, "status", e->status);
    if(!st) st = field(b, "outcome", e->outcome);
    if(!st) st = field(b, "detail", e->detail);
    if(!st) st = lg_buf_printf(b, ",\"received_ms\":%lld}", (long long)e->received_ms);
    return st;
}

lg_status lg_outbox_page_json(lg_store *st, int state, const char *platform, int64_t after_id,
                              int count, lg_buf *b)
{
    lg_outbox_list l = {0};
    int64_t counts[3];
    lg_status s;
    if(count < 1 || count > LG_OUTBOX_PAGE_MAX || state < -1 || state > LG_OUTBOX_DEAD)
        return LG_EINVAL;
    /* One snapshot: the counts agree with the page. count + 1 rows tell
     * whether another page follows. */
    int snap = lg_store_snapshot_begin(st) == LG_OK;
    if((s = lg_store_outbox_counts(st, counts)) ||
       (s = lg_store_outbox_list(st, state, platform, after_id, (size_t)count + 1, &l)))
        goto out;
    size_t n = l.count > (size_t)count ? (size_t)count : l.count;
    s = lg_buf_adds(b, "{\"jobs\":[");
    for(size_t i = 0; !s && i < n; i++) {
        if(i)
            s = lg_buf_adds(b, ",");
        if(!s)
            s = lg_outbox_job_write_json(b, &l.items[i]);
    }
    if(!s)
        s = lg_buf_printf(b, "],\"counts\":{\"pending\":%lld,\"done\":%lld,\"dead\":%lld}",
                          (long long)counts[0], (long long)counts[1], (long long)counts[2]);
    if(!s && l.count > n)
        s = lg_buf_printf(b, ",\"next_after\":%lld", (long long)l.items[n - 1].id);
    if(!s)
        s = lg_buf_adds(b, "}");
out:
    if(snap)
        lg_store_snapshot_end(st);
    lg_outbox_list_clear(&l);
    return s;
}

lg_status lg_inbound_events_page_json(lg_store *st, const char *outcome, int64_t after_seq,
                                      int count, lg_buf *b)
{
    lg_inbound_event_list l = {0};
    lg_status s;
    if(count < 1 || count > LG_OUTBOX_PAGE_MAX)
        return LG_EINVAL;
    if((s = lg_store_inbound_events_list(st, outcome, after_seq, (size_t)count + 1, &l)))
        goto out;
    size_t n = l.count > (size_t)count ? (size_t)count : l.count;
    s = lg_buf_adds(b, "{\"events\":[");
    for(size_t i = 0; !s && i < n; i++) {
        if(i)
            s = lg_buf_adds(b, ",");
        if(!s)
            s = lg_inbound_event_write_json(b, &l.items[i]);
    }
    if(!s)
        s = lg_buf_adds(b, "]");
    if(!s && l.count > n)
        s = lg_buf_printf(b, ",\"next_after\":%lld", (long long)l.items[n - 1].seq);
    if(!s)
        s = lg_buf_adds(b, "}");
out:
    lg_inbound_event_list_clear(&l);
    return s;
}
