/* store.h - durable resource storage behind one interface.
 *
 * The REST layer speaks only this interface; the SQLite backend
 * (src/store/sqlite/) is the embedded default and a PostgreSQL backend can be
 * added beside it. A store keeps every version of every resource and the
 * search index of each current version.
 *
 * Threads: an lg_store handle belongs to one thread at a time. Each worker
 * opens its own handle with lg_store_open on the same location; handles of
 * one process on one location coordinate writers between themselves.
 *
 * Writes happen only inside lg_store_begin / lg_store_commit. Reads may be
 * done inside or outside a write transaction; inside they see the
 * transaction's own writes. lg_store_commit returns LG_OK only once the
 * transaction is durable (survives kill -9 and power loss as far as fsync
 * promises).
 */
#ifndef LOOPGATE_STORE_H
#define LOOPGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/search.h"
#include "loopgate/status.h"

typedef struct lg_store lg_store;

/* One stored version. Every pointer member is owned by the struct; release
 * with lg_resource_clear (which does not free the struct itself). */
typedef struct lg_resource {
    char *type;
    char *id;
    int64_t version;       /* 1, 2, ... */
    int64_t last_updated;  /* ms since the epoch, UTC */
    int64_t seq;           /* store-wide write order, strictly increasing */
    int deleted;           /* 1: this version is a delete tombstone (json NULL) */
    char method[8];        /* "POST", "PUT", "PATCH", "DELETE": how it was made */
    char *json;            /* the resource as stored, NUL-terminated; NULL if deleted */
    size_t json_len;
    char *author;          /* the client that wrote this version (lg_store_write.author), or
                            * NULL: the server itself */
    char *creator;         /* the author of version 1 (who created the resource), or NULL */
} lg_resource;

void lg_resource_clear(lg_resource *r);

/* A list of versions (search results, history). Release with lg_resource_list_clear. */
typedef struct lg_resource_list {
    lg_resource *items;
    size_t count, cap;
} lg_resource_list;

void lg_resource_list_clear(lg_resource_list *l);

/* What a write stores. The caller has already put id and meta (versionId,
 * lastUpdated) into json. index may be NULL for deletes. */
typedef struct lg_store_write {
    const char *type;
    const char *id;
    int64_t version;       /* must be current version + 1 (1 for new) */
    int64_t last_updated;  /* ms */
    int deleted;
    const char *method;
    const char *json;      /* NULL for a delete */
    size_t json_len;
    const lg_index *index; /* index of this version; ignored for deletes */
    const char *author;    /* the writing client's id, or NULL for the server itself. Opaque
                            * to the store; version 1's author is kept as the creator. */
} lg_store_write;

/* Open (creating if needed) the store at location: for SQLite a directory
 * that will hold loopgate.db. *out is owned by the caller: lg_store_close. */
lg_status lg_store_open(const char *location, lg_store **out, lg_issues *issues);
void lg_store_close(lg_store *st);

/* Write transactions. begin blocks until this handle is the only writer of
 * the process; a commit or rollback ends it. */
lg_status lg_store_begin(lg_store *st);
lg_status lg_store_commit(lg_store *st);
void lg_store_rollback(lg_store *st);

/* Group commit, for callers that can wait without holding a thread.
 * lg_store_commit_nowait ends the transaction like lg_store_commit but
 * returns before its writes are on disk - and before other handles' reads
 * outside a transaction see them (later transactions of any handle do);
 * *ticket (> 0) names the commit. It is durable once
 * lg_store_synced() >= ticket, which lg_store_sync(st, ticket) brings about:
 * one flush covers every commit made before it began, so writers waiting
 * together share it. Once lg_store_sync(st, ticket) returned LG_OK every
 * handle sees the writes. Nothing may be acknowledged before that. Tickets are
 * per store location and increase with commit order. lg_store_commit is
 * commit_nowait followed by sync. After a failed flush every sync returns
 * LG_EIO and lg_store_synced() returns 0: durability is lost, stop. */
lg_status lg_store_commit_nowait(lg_store *st, uint64_t *ticket);
lg_status lg_store_sync(lg_store *st, uint64_t ticket);
uint64_t lg_store_synced(lg_store *st);

/* Housekeeping that must not run under the writer lock (for SQLite: copy
 * the WAL back into the database once it has grown). lg_store_commit does
 * it itself; a caller using commit_nowait calls this now and then from a
 * thread with no transaction open, e.g. after each sync. Cheap when there
 * is nothing to do. */
void lg_store_maintain(lg_store *st);

/* The current version of type/id, tombstones included (deleted = 1).
 * LG_ENOTFOUND if the resource never existed. *out is filled on LG_OK. */
lg_status lg_store_read(lg_store *st, const char *type, const char *id, lg_resource *out);
/* One historic version. LG_ENOTFOUND if that version does not exist. */
lg_status lg_store_vread(lg_store *st, const char *type, const char *id,
                         int64_t version, lg_resource *out);

/* Store one new version (see lg_store_write). Must be inside begin/commit.
 * LG_ECONFLICT if w->version is not current + 1. On LG_OK *seq_out (if not
 * NULL) receives the version's seq. */
lg_status lg_store_put(lg_store *st, const lg_store_write *w, int64_t *seq_out);

/* Search current, non-deleted resources. Appends at most q->count + 1
 * results to *out (the extra one tells the caller there is a next page).
 * LG_EINVAL (with issues) if the backend cannot express the query. */
lg_status lg_store_search(lg_store *st, const lg_query *q, lg_resource_list *out,
                          lg_issues *issues);
/* Number of current, non-deleted resources matching q (ignores count/cursor). */
lg_status lg_store_count(lg_store *st, const lg_query *q, int64_t *total, lg_issues *issues);

/* History, newest first: type NULL = whole system, id NULL = whole type.
 * since (ms, 0 = none) keeps versions with last_updated >= since;
 * before_seq (0 = none) keeps versions with seq < before_seq (paging cursor).
 * Appends at most count + 1 versions. */
lg_status lg_store_history(lg_store *st, const char *type, const char *id,
                           int64_t since, int64_t before_seq, int count,
                           lg_resource_list *out);

/* Highest seq written so far (0 for an empty store). */
lg_status lg_store_max_seq(lg_store *st, int64_t *out);

/* Reads between lg_store_snapshot_begin and _end (outside a write
 * transaction) all see the store as it was at the first of them, and cost
 * less than the same reads one by one (SQLite: one read transaction
 * instead of one per statement). No write may be begun in between. Every
 * successful begin needs its end. */
lg_status lg_store_snapshot_begin(lg_store *st);
void lg_store_snapshot_end(lg_store *st);

/* Highest seq of any version of a resource of type (0 if none): it changes
 * whenever a resource of that type is created, updated or deleted, so a
 * result computed from that type alone is still right while it holds. */
lg_status lg_store_type_seq(lg_store *st, const char *type, int64_t *out);

/* A number that changes whenever a write transaction commits at this
 * store's location (in this process - a location is used by one process
 * only: lg_store_open refuses a second one with LG_ECONFLICT). Costs no
 * I/O. A result computed after reading generation g is still right while
 * lg_store_generation() == g. */
uint64_t lg_store_generation(lg_store *st);

/* ---- closed-loop report facts (issue #4) ----
 *
 * Two indexed tables the REST layer keeps in step with the resources, in the
 * same write transaction, so the closed-loop report reads compact rows
 * instead of parsing stored JSON:
 *  - one row per referral (keyed by its ServiceRequest id, else Task id):
 *    child, receiving organization, when it was created, first answered and
 *    closed, its loop state, why it closed without service, its category;
 *  - one row per child (Patient id) with the demographics the report groups
 *    by, written on Patient writes.
 * A scan gives each referral with its child's current row, so a Patient
 * update moves all of that child's referrals to its new demographics (the
 * SQLite backend joins at write time: see facts.c). The enums are the coordination model's
 * (lg_loop_state, lg_not_served, lg_sdoh_category, lg_phm_tier, and the
 * report's population code) stored as small integers; the store does not
 * interpret them. Strings are borrowed by the put functions and, in a scan,
 * valid only during the callback. */
typedef struct lg_store_referral_fact {
    const char *referral_id;   /* required */
    const char *task_id;       /* the referral Task, or NULL */
    const char *child_id;      /* Patient id, or NULL */
    const char *organization;  /* receiving organization/program reference, or NULL */
    int64_t created_ms;        /* INT64_MIN: unknown */
    int64_t first_response_ms; /* INT64_MIN: none yet */
    int64_t closed_ms;         /* INT64_MIN: not closed */
    int loop, not_served, category;
} lg_store_referral_fact;

typedef struct lg_store_child_facts {
    const char *child_id;      /* required */
    const char *race, *ethnicity, *language, *county; /* NULL: unknown */
    int phm_tier, population;
} lg_store_child_facts;

/* Insert or replace the referral's row (inside begin/commit). LG_EINVAL
 * without referral_id. */
lg_status lg_store_referral_fact_put(lg_store *st, const lg_store_referral_fact *f);
/* The referral's stored times (created, first response, closed; INT64_MIN
 * when NULL) into times[3]. LG_ENOTFOUND when there is no row. */
lg_status lg_store_referral_fact_times(lg_store *st, const char *referral_id, int64_t times[3]);
/* Remove the referral's row (no row: LG_OK). Inside begin/commit. */
lg_status lg_store_referral_fact_delete(lg_store *st, const char *referral_id);
/* Insert or replace a child's demographics; delete them (no row: LG_OK). */
lg_status lg_store_child_facts_put(lg_store *st, const lg_store_child_facts *c);
lg_status lg_store_child_facts_delete(lg_store *st, const char *child_id);

/* Called once per referral row; c is NULL when the child has no
 * demographics row. Non-zero stops the scan. */
typedef int (*lg_store_fact_fn)(const lg_store_referral_fact *f, const lg_store_child_facts *c,
                                void *ctx);
/* Every referral row with start_ms <= created_ms < end_ms (one range read
 * in created_ms order), with its child's row, in one read snapshot. A callback's non-zero return stops the scan: LG_EINTERNAL
 * is returned then (the caller knows why it stopped). */
lg_status lg_store_referral_facts_scan(lg_store *st, int64_t start_ms, int64_t end_ms,
                                       lg_store_fact_fn fn, void *ctx);

#endif
