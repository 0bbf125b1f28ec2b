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


/* ---- forwarding outbox (issue #5) ----
 *
 * A forward job is added in the same write transaction as the Task or
 * ServiceRequest change that caused it, so a committed change always has
 * its job and a rolled-back one never does. The forwarder (src/forward/)
 * reads due jobs with its own handle and records each attempt's result.
 * Jobs of one Task go out in order: lg_store_outbox_due returns only the
 * oldest pending job of each Task. Strings in lg_outbox_job are owned by
 * the struct (lg_outbox_job_clear); the add function borrows them.
 *
 * Every string the forwarding functions store is bounded (strlen): names
 * (platform, kind, outcome) by LG_STORE_NAME_MAX, ids and statuses (task_id,
 * referral_id, target, remote_id, event_id, status, last_status) by
 * LG_STORE_KEY_MAX, free text (last_error, detail) by LG_STORE_TEXT_MAX; a
 * longer one is refused with LG_EINVAL, so callers cut free text first. */
#define LG_STORE_NAME_MAX 64
#define LG_STORE_KEY_MAX 1024
#define LG_STORE_TEXT_MAX 4096

typedef enum lg_outbox_state {
    LG_OUTBOX_PENDING = 0, /* waiting for its next attempt (next_at_ms) */
    LG_OUTBOX_DONE = 1,    /* delivered */
    LG_OUTBOX_DEAD = 2     /* given up: attempts exhausted or refused for good */
} lg_outbox_state;

typedef struct lg_outbox_job {
    int64_t id;            /* > 0, increasing in creation order */
    char *platform;        /* platform name from the forwarding configuration */
    char *kind;            /* "create", "cancel" */
    char *task_id;         /* the referral Task (required) */
    char *referral_id;     /* its ServiceRequest id, or NULL */
    char *target;          /* the program/organization id at the platform, or NULL */
    char *remote_id;       /* the platform's id for the referral, once known, or NULL */
    char *last_error;      /* why the last attempt failed, or NULL */
    lg_outbox_state state;
    int attempts;          /* attempts made */
    int64_t created_ms, next_at_ms, updated_ms;
} lg_outbox_job;

void lg_outbox_job_clear(lg_outbox_job *j);

typedef struct lg_outbox_list {
    lg_outbox_job *items;
    size_t count, cap;
} lg_outbox_list;

void lg_outbox_list_clear(lg_outbox_list *l);

/* Add a pending job (inside begin/commit) from j's platform, kind, task_id,
 * referral_id, target, remote_id, created_ms and next_at_ms; the other
 * fields are ignored. *id_out (if not NULL) gets its id. LG_EINVAL without
 * platform, kind or task_id. */
lg_status lg_store_outbox_add(lg_store *st, const lg_outbox_job *j, int64_t *id_out);
/* One job by id. LG_ENOTFOUND. */
lg_status lg_store_outbox_get(lg_store *st, int64_t id, lg_outbox_job *out);
/* Pending jobs with next_at_ms <= now_ms, at most max, oldest first (by
 * next_at_ms, then id), only the oldest pending job of each task_id.
 * Appends to *out. */
lg_status lg_store_outbox_due(lg_store *st, int64_t now_ms, size_t max, lg_outbox_list *out);
/* The same for one platform: its pending jobs with next_at_ms <= now_ms
 * that are the oldest pending job of their task (a job behind an older one
 * of its task, on any platform, is not returned), at most max, oldest first. Served by an
 * index of its own, so another platform's backlog does not slow it.
 * Appends to *out. LG_EINVAL when platform is NULL. */
lg_status lg_store_outbox_due_platform(lg_store *st, const char *platform, int64_t now_ms, size_t max,
                                       lg_outbox_list *out);
/* The earliest next_at_ms of any pending job that is the oldest pending
 * job of its task (the jobs lg_store_outbox_due can return) into *out;
 * LG_ENOTFOUND when no job is pending. */
lg_status lg_store_outbox_next_due(lg_store *st, int64_t *out);
/* Jobs in id order with id > after_id, at most max; state -1 = any state,
 * platform NULL = any platform. Appends to *out. */
lg_status lg_store_outbox_list(lg_store *st, int state, const char *platform, int64_t after_id,
                               size_t max, lg_outbox_list *out);
/* Record an attempt (inside begin/commit): the job becomes state with
 * attempts, next_at_ms (pending only), last_error (NULL clears) and, when
 * remote_id is not NULL, that remote id; updated_ms = now_ms. LG_ENOTFOUND. */
lg_status lg_store_outbox_update(lg_store *st, int64_t id, lg_outbox_state state, int attempts,
                                 int64_t next_at_ms, const char *last_error, const char *remote_id,
                                 int64_t now_ms);
/* A dead job back to pending (inside begin/commit): attempts 0, due now_ms,
 * last_error kept. LG_ENOTFOUND; LG_ECONFLICT when the job is not dead. */
lg_status lg_store_outbox_replay(lg_store *st, int64_t id, int64_t now_ms);
/* Counts by state (pending, done, dead) into counts[3]. */
lg_status lg_store_outbox_counts(lg_store *st, int64_t counts[3]);

/* A delivered referral as the platform knows it: maps the platform's
 * referral id back to the Task (inbound status events), and lists what a
 * polling adapter must ask about. Strings owned (lg_forward_link_clear). */
typedef struct lg_forward_link {
    char *platform, *remote_id, *task_id;
    char *last_status;     /* the platform status last applied, or NULL */
    int64_t last_event_ms; /* when that status happened at the platform; INT64_MIN unknown */
    int closed;            /* 1: the loop is closed, no more polling */
} lg_forward_link;

void lg_forward_link_clear(lg_forward_link *l);

typedef struct lg_forward_link_list {
    lg_forward_link *items;
    size_t count, cap;
} lg_forward_link_list;

void lg_forward_link_list_clear(lg_forward_link_list *l);

/* Insert or replace the link (platform, remote_id) (inside begin/commit). */
lg_status lg_store_forward_link_put(lg_store *st, const lg_forward_link *l);
/* The link of (platform, remote_id); LG_ENOTFOUND. */
lg_status lg_store_forward_link_get(lg_store *st, const char *platform, const char *remote_id,
                                    lg_forward_link *out);
/* The link of a Task on a platform (platform NULL: any); LG_ENOTFOUND. */
lg_status lg_store_forward_link_by_task(lg_store *st, const char *platform, const char *task_id,
                                        lg_forward_link *out);
/* Open (closed = 0) links of platform, at most max, remote_id > after
 * (NULL: from the start), in remote_id order. Appends to *out. */
lg_status lg_store_forward_links_open(lg_store *st, const char *platform, const char *after,
                                      size_t max, lg_forward_link_list *out);

/* Inbound status events, recorded once per (platform, event_id): the
 * de-duplication of webhooks and polls. outcome says what was done:
 * "applied", "ignored" (stale or no change), "parked" (refused by the
 * workflow rules: detail says why). */
typedef struct lg_inbound_event {
    int64_t seq;           /* > 0, in arrival order */
    char *platform, *event_id, *task_id, *status, *outcome, *detail;
    int64_t received_ms;
} lg_inbound_event;

void lg_inbound_event_clear(lg_inbound_event *e);

typedef struct lg_inbound_event_list {
    lg_inbound_event *items;
    size_t count, cap;
} lg_inbound_event_list;

void lg_inbound_event_list_clear(lg_inbound_event_list *l);

/* Record an event (inside begin/commit) from e's platform, event_id,
 * task_id, status, outcome, detail, received_ms. LG_ECONFLICT when
 * (platform, event_id) is already recorded (a duplicate: nothing changes). */
lg_status lg_store_inbound_event_add(lg_store *st, const lg_inbound_event *e);
/* Whether (platform, event_id) is recorded: LG_OK (and *out filled when not
 * NULL) or LG_ENOTFOUND. */
lg_status lg_store_inbound_event_get(lg_store *st, const char *platform, const char *event_id,
                                     lg_inbound_event *out);
/* Events with seq > after_seq, oldest first, at most max; outcome NULL =
 * any. Appends to *out. */
lg_status lg_store_inbound_events_list(lg_store *st, const char *outcome, int64_t after_seq,
                                       size_t max, lg_inbound_event_list *out);

#endif
