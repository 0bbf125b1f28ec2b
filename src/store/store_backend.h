/* store_backend.h - what a storage backend implements (private to src/store). */
#ifndef LG_STORE_BACKEND_H
#define LG_STORE_BACKEND_H

#include "loopgate/store.h"

typedef struct lg_store_ops {
    void (*close)(lg_store *st);
    lg_status (*begin)(lg_store *st);
    lg_status (*commit)(lg_store *st);
    void (*rollback)(lg_store *st);
    lg_status (*commit_nowait)(lg_store *st, uint64_t *ticket);
    lg_status (*sync)(lg_store *st, uint64_t ticket);
    uint64_t (*synced)(lg_store *st);
    void (*maintain)(lg_store *st);
    /* version 0 = current */
    lg_status (*read)(lg_store *st, const char *type, const char *id, int64_t version,
                      lg_resource *out);
    lg_status (*put)(lg_store *st, const lg_store_write *w, int64_t *seq_out);
    /* out NULL: count only into *total */
    lg_status (*search)(lg_store *st, const lg_query *q, lg_resource_list *out, int64_t *total,
                        lg_issues *issues);
    lg_status (*history)(lg_store *st, const char *type, const char *id, int64_t since,
                         int64_t before_seq, int count, lg_resource_list *out);
    lg_status (*max_seq)(lg_store *st, int64_t *out);
    lg_status (*type_seq)(lg_store *st, const char *type, int64_t *out);
    uint64_t (*generation)(lg_store *st);
    lg_status (*snapshot)(lg_store *st, int begin);
    /* report facts (store.h) */
    lg_status (*fact_put)(lg_store *st, const lg_store_referral_fact *f);
    lg_status (*fact_times)(lg_store *st, const char *referral_id, int64_t times[3]);
    lg_status (*fact_delete)(lg_store *st, const char *referral_id);
    lg_status (*child_put)(lg_store *st, const lg_store_child_facts *c);
    lg_status (*child_delete)(lg_store *st, const char *child_id);
    lg_status (*fact_scan)(lg_store *st, int64_t start_ms, int64_t end_ms, lg_store_fact_fn fn,
                           void *ctx);
    /* forwarding outbox, links, inbound events (store.h); arguments already
     * checked by store.c */
    lg_status (*outbox_add)(lg_store *st, const lg_outbox_job *j, int64_t *id_out);
    lg_status (*outbox_get)(lg_store *st, int64_t id, lg_outbox_job *out);
    lg_status (*outbox_due)(lg_store *st, int64_t now_ms, size_t max, lg_outbox_list *out);
    lg_status (*outbox_due_platform)(lg_store *st, const char *platform, int64_t now_ms, size_t max,
                                     lg_outbox_list *out);
    lg_status (*outbox_next_due)(lg_store *st, int64_t *out);
    lg_status (*outbox_list)(lg_store *st, int state, const char *platform, int64_t after_id,
                             size_t max, lg_outbox_list *out);
    lg_status (*outbox_update)(lg_store *st, int64_t id, lg_outbox_state state, int attempts,
                               int64_t next_at_ms, const char *last_error,
                               const char *remote_id, int64_t now_ms);
    lg_status (*outbox_replay)(lg_store *st, int64_t id, int64_t now_ms);
    lg_status (*outbox_counts)(lg_store *st, int64_t counts[3]);
    lg_status (*link_put)(lg_store *st, const lg_forward_link *l);
    lg_status (*link_get)(lg_store *st, const char *platform, const char *remote_id,
                          lg_forward_link *out);
    lg_status (*link_by_task)(lg_store *st, const char *platform, const char *task_id,
                              lg_forward_link *out);
    lg_status (*links_open)(lg_store *st, const char *platform, const char *after, size_t max,
                            lg_forward_link_list *out);
    lg_status (*event_add)(lg_store *st, const lg_inbound_event *e);
    lg_status (*event_get)(lg_store *st, const char *platform, const char *event_id,
                           lg_inbound_event *out);
    lg_status (*events_list)(lg_store *st, const char *outcome, int64_t after_seq, size_t max,
                             lg_inbound_event_list *out);
} lg_store_ops;

/* Every backend's handle starts with this. */
struct lg_store {
    const lg_store_ops *ops;
};

/* Append a zeroed element; NULL on allocation failure. */
lg_resource *lg_resource_list_push(lg_resource_list *l);
lg_outbox_job *lg_outbox_list_push(lg_outbox_list *l);
lg_forward_link *lg_forward_link_list_push(lg_forward_link_list *l);
lg_inbound_event *lg_inbound_event_list_push(lg_inbound_event_list *l);

lg_status lg_sqlite_open(const char *dir, lg_store **out, lg_issues *issues);

#endif
