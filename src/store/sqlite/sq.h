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

#endif
