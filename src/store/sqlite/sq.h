/* sq.h - what the files of the SQLite backend share (private to src/store/sqlite). */
#ifndef LG_STORE_SQ_H
#define LG_STORE_SQ_H

#include <sqlite3.h>

#include "../store_backend.h"

/* Cached statements of the hot paths, prepared once per handle. */
enum {
    SQ_READ, SQ_VREAD, SQ_LOOKUP, SQ_RES_INSERT, SQ_RES_UPDATE, SQ_VER_INSERT, SQ_IDX_DELETE,
    SQ_IDX_INSERT, SQ_MAX_SEQ, SQ_TYPE_SEQ, SQ_BEGIN, SQ_BEGIN_READ, SQ_COMMIT, SQ_ROLLBACK,
    SQ_SAVEPOINT, SQ_RELEASE, SQ_ROLLBACK_TO, SQ_NSTMT
};

/* Statements of the report fact tables (facts.c), prepared on first use. */
enum { SQF_PUT, SQF_PUT_DEMO, SQF_TIMES, SQF_DELETE, SQF_CHILD_PUT, SQF_CHILD_DELETE, SQF_CHILD_SPREAD,
       SQF_SCAN, SQ_NFACTS };

/* Statements of the forwarding tables (outbox.c), prepared on first use. */
enum { SQO_ADD, SQO_GET, SQO_DUE, SQO_DUE_PLATFORM, SQO_NEXT_DUE, SQO_LIST_ANY, SQO_LIST_STATE, SQO_UPDATE,
       SQO_REPLAY, SQO_EXISTS, SQO_COUNTS, SQO_LINK_PUT, SQO_LINK_GET, SQO_LINK_TASK,
       SQO_LINKS_OPEN, SQO_EVENT_ADD, SQO_EVENT_GET, SQO_EVENTS_ANY, SQO_EVENTS_OUTCOME,
       SQ_NOUTBOX };

/* History statements: one per combination of the optional filters
 * (type, id, since, before_seq), prepared on first use. */
#define SQ_NHIST 16

typedef struct sq_writer_lock sq_writer_lock;

typedef struct sq_store {
    lg_store base;
    sqlite3 *db;
    sqlite3_stmt *st[SQ_NSTMT];
    sqlite3_stmt *hist[SQ_NHIST];
    sqlite3_stmt *facts[SQ_NFACTS];
    sqlite3_stmt *outbox[SQ_NOUTBOX];
    sq_writer_lock *wlock;
    int in_txn;
    int is_writer;   /* the location's shared writer connection */
    int in_snapshot; /* own connection inside a read transaction */
} sq_store;

/* The connection a handle's statements run on: the shared writer while it
 * holds the write lock (so it sees its own and earlier released writes),
 * else its own. */
sq_store *sq_conn(sq_store *s);

/* An lg_status for a SQLite result code. */
lg_status sq_status(int rc);

/* Fill r from the current row of p: columns col0.. are version,
 * last_updated, seq, deleted, method, json, author, creator. type and id are copied. On
 * failure r is left cleared. */
lg_status sq_fill(sqlite3_stmt *p, int col0, const char *type, const char *id, lg_resource *r);

/* lg_store_search (out != NULL) and lg_store_count (out == NULL, result in
 * *total): see query.c. */
lg_status sq_search(lg_store *st, const lg_query *q, lg_resource_list *out, int64_t *total,
                    lg_issues *issues);

/* The report fact tables (facts.c): created when missing at open; the
 * statements finalised with the connection; the lg_store_ops entries. */
lg_status sq_facts_schema(sq_store *s, lg_issues *issues);
void sq_facts_finalize(sq_store *s);
lg_status sq_fact_put(lg_store *st, const lg_store_referral_fact *f);
lg_status sq_fact_times(lg_store *st, const char *referral_id, int64_t times[3]);
lg_status sq_fact_delete(lg_store *st, const char *referral_id);
lg_status sq_child_put(lg_store *st, const lg_store_child_facts *c);
lg_status sq_child_delete(lg_store *st, const char *child_id);
lg_status sq_fact_scan(lg_store *st, int64_t start_ms, int64_t end_ms, lg_store_fact_fn fn,
                       void *ctx);

/* The forwarding tables (outbox.c): their schema (part of schema version
 * 3: sqlite.c creates it with the rest or adds it to a version 2 store;
 * sq_outbox_schema_v4 is the per-platform due index version 4 adds), the
 * statements finalised with the connection, the lg_store_ops entries. */
extern const char sq_outbox_schema[];
extern const char sq_outbox_schema_v4[];
void sq_outbox_finalize(sq_store *s);
lg_status sq_outbox_add(lg_store *st, const lg_outbox_job *j, int64_t *id_out);
lg_status sq_outbox_get(lg_store *st, int64_t id, lg_outbox_job *out);
lg_status sq_outbox_due(lg_store *st, int64_t now_ms, size_t max, lg_outbox_list *out);
lg_status sq_outbox_due_platform(lg_store *st, const char *platform, int64_t now_ms, size_t max,
                                 lg_outbox_list *out);
lg_status sq_outbox_next_due(lg_store *st, int64_t *out);
lg_status sq_outbox_list(lg_store *st, int state, const char *platform, int64_t after_id,
                         size_t max, lg_outbox_list *out);
lg_status sq_outbox_update(lg_store *st, int64_t id, lg_outbox_state state, int attempts,
                           int64_t next_at_ms, const char *last_error, const char *remote_id,
                           int64_t now_ms);
lg_status sq_outbox_replay(lg_store *st, int64_t id, int64_t now_ms);
lg_status sq_outbox_counts(lg_store *st, int64_t counts[3]);
lg_status sq_link_put(lg_store *st, const lg_forward_link *l);
lg_status sq_link_get(lg_store *st, const char *platform, const char *remote_id,
                      lg_forward_link *out);
lg_status sq_link_by_task(lg_store *st, const char *platform, const char *task_id,
                          lg_forward_link *out);
lg_status sq_links_open(lg_store *st, const char *platform, const char *after, size_t max,
                        lg_forward_link_list *out);
lg_status sq_event_add(lg_store *st, const lg_inbound_event *e);
lg_status sq_event_get(lg_store *st, const char *platform, const char *event_id,
                       lg_inbound_event *out);
lg_status sq_events_list(lg_store *st, const char *outcome, int64_t after_seq, size_t max,
                         lg_inbound_event_list *out);

#endif
