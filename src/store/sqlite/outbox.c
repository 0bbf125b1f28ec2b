/* outbox.c - the SQLite tables of forwarding (store.h, "forwarding
 * outbox"): the durable outbox of forward jobs, the links from a platform's
 * referral id back to the Task, and the inbound status events recorded once
 * each.
 *
 *   outbox(id INTEGER PRIMARY KEY, platform, kind, task_id, referral_id,
 *          target, remote_id, last_error, state, attempts, created_ms,
 *          next_at_ms, updated_ms)
 *     outbox_due   (next_at_ms, id)  WHERE state = 0  -- due jobs, earliest first
 *     outbox_head  (task_id, id)     WHERE state = 0  -- oldest pending per task
 *     outbox_platform_due (platform, next_at_ms, id) WHERE state = 0
 *                                    -- one platform's due jobs (version 4)
 *     outbox_state (state, id)                        -- operator lists, counts
 *   forward_link(platform, remote_id PRIMARY KEY, task_id, last_status,
 *                last_event_ms, closed) WITHOUT ROWID
 *     forward_link_task (task_id)
 *     forward_link_open (platform, remote_id) WHERE closed = 0
 *   inbound_event(seq INTEGER PRIMARY KEY, platform, event_id, task_id,
 *                 status, outcome, detail, received_ms, UNIQUE(platform, event_id))
 *     inbound_event_outcome (outcome, seq)
 *
 * The partial indexes keep the forwarder's queries proportional to the
 * pending jobs, not to every job ever sent: done and dead rows stay for the
 * operator but never enter outbox_due or outbox_head.
 *
 * The tables belong to schema version 3 (sqlite.c migrates a version 2
 * store in place with sq_outbox_schema); version 4 adds
 * outbox_platform_due (sq_outbox_schema_v4), so the forwarder reads each
 * platform's due jobs without walking past another platform's backlog. Writes go through the writer
 * connection of the handle's open transaction, like every other put, so a
 * job commits or rolls back with the resource change that caused it.
 * Statements are prepared on first use per connection and finalised with it.
 */
#include <stdlib.h>
#include <string.h>

#include "sq.h"

const char sq_outbox_schema[] =
    "CREATE TABLE IF NOT EXISTS outbox("
    "  id INTEGER PRIMARY KEY, platform TEXT NOT NULL, kind TEXT NOT NULL,"
    "  task_id TEXT NOT NULL, referral_id TEXT, target TEXT, remote_id TEXT, last_error TEXT,"
    "  state INTEGER NOT NULL, attempts INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    "  next_at_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(next_at_ms, id) WHERE state = 0;"
    "CREATE INDEX IF NOT EXISTS outbox_head ON outbox(task_id, id) WHERE state = 0;"
    "CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, id);"
    "CREATE TABLE IF NOT EXISTS forward_link("
    "  platform TEXT NOT NULL, remote_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    "  last_status TEXT, last_event_ms INTEGER, closed INTEGER NOT NULL,"
    "  PRIMARY KEY(platform, remote_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS forward_link_task ON forward_link(task_id);"
    "CREATE INDEX IF NOT EXISTS forward_link_open ON forward_link(platform, remote_id)"
    "  WHERE closed = 0;"
    "CREATE TABLE IF NOT EXISTS inbound_event("
    "  seq INTEGER PRIMARY KEY, platform TEXT NOT NULL, event_id TEXT NOT NULL, task_id TEXT,"
    "  status TEXT, outcome TEXT NOT NULL, detail TEXT, received_ms INTEGER NOT NULL,"
    "  UNIQUE(platform, event_id));"
    "CREATE INDEX IF NOT EXISTS inbound_event_outcome ON inbound_event(outcome, seq);";

const char sq_outbox_schema_v4[] =
    "CREATE INDEX IF NOT EXISTS outbox_platform_due ON outbox(platform, next_at_ms, id)"
    " WHERE state = 0;";

#define JOB_COLS "id, platform, kind, task_id, referral_id, target, remote_id, last_error," \
                 " state, attempts, created_ms, next_at_ms, updated_ms"
#define LINK_COLS "platform, remote_id, task_id, last_status, last_event_ms, closed"
#define EVENT_COLS "seq, platform, event_id, task_id, status, outcome, detail, received_ms"

/* A pending job is the head of its task when no older job of the task is
 * pending: only heads go out, so one referral's jobs leave in order. */
#define IS_HEAD "NOT EXISTS(SELECT 1 FROM outbox e WHERE e.state = 0 AND e.task_id = o.task_id" \
                " AND e.id < o.id)"

static const char *const outbox_sql[SQ_NOUTBOX] = {
    [SQO_ADD] = "INSERT INTO outbox(platform, kind, task_id, referral_id, target, remote_id,"
                " state, attempts, created_ms, next_at_ms, updated_ms)"
                " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?7, ?8, ?7)",
    [SQO_GET] = "SELECT " JOB_COLS " FROM outbox WHERE id = ?1",
    /* Walks outbox_due in next_at_ms order and stops at the limit: the
     * jobs that waited longest go first, and a large backlog is not sorted
     * on every poll. */
    [SQO_DUE] = "SELECT " JOB_COLS " FROM outbox o INDEXED BY outbox_due"
                " WHERE o.state = 0 AND o.next_at_ms <= ?1 AND " IS_HEAD
                " ORDER BY o.next_at_ms, o.id LIMIT ?2",
    /* One platform's share of SQO_DUE: the index range of (platform, due
     * times <= now) in due order, so a platform with a large backlog costs
     * another platform's read nothing. */
    [SQO_DUE_PLATFORM] = "SELECT " JOB_COLS " FROM outbox o INDEXED BY outbox_platform_due"
                         " WHERE o.state = 0 AND o.platform = ?3 AND o.next_at_ms <= ?1 AND " IS_HEAD
                         " ORDER BY o.next_at_ms, o.id LIMIT ?2",
    /* The same heads: a job waiting behind an older one of its task is not
     * due yet whatever its own time says, or the forwarder would wake for
     * nothing in a loop. */
    [SQO_NEXT_DUE] = "SELECT o.next_at_ms FROM outbox o INDEXED BY outbox_due"
                     " WHERE o.state = 0 AND " IS_HEAD " ORDER BY o.next_at_ms, o.id LIMIT 1",
    [SQO_LIST_ANY] = "SELECT " JOB_COLS " FROM outbox WHERE id > ?1"
                     " AND (?3 IS NULL OR platform = ?3) ORDER BY id LIMIT ?4",
    [SQO_LIST_STATE] = "SELECT " JOB_COLS " FROM outbox INDEXED BY outbox_state"
                       " WHERE state = ?2 AND id > ?1 AND (?3 IS NULL OR platform = ?3)"
                       " ORDER BY id LIMIT ?4",
    [SQO_UPDATE] = "UPDATE outbox SET state = ?2, attempts = ?3,"
                   " next_at_ms = CASE WHEN ?2 = 0 THEN ?4 ELSE next_at_ms END,"
                   " last_error = ?5, remote_id = coalesce(?6, remote_id), updated_ms = ?7"
                   " WHERE id = ?1",
    [SQO_REPLAY] = "UPDATE outbox SET state = 0, attempts = 0, next_at_ms = ?2, updated_ms = ?2"
                   " WHERE id = ?1 AND state = 2",
    [SQO_EXISTS] = "SELECT state FROM outbox WHERE id = ?1",
    [SQO_COUNTS] = "SELECT state, count(*) FROM outbox GROUP BY state",
    [SQO_LINK_PUT] = "INSERT OR REPLACE INTO forward_link(" LINK_COLS ")"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [SQO_LINK_GET] = "SELECT " LINK_COLS " FROM forward_link WHERE platform = ?1 AND remote_id = ?2",
    [SQO_LINK_TASK] = "SELECT " LINK_COLS " FROM forward_link WHERE task_id = ?2"
                      " AND (?1 IS NULL OR platform = ?1) ORDER BY platform, remote_id LIMIT 1",
    [SQO_LINKS_OPEN] = "SELECT " LINK_COLS " FROM forward_link INDEXED BY forward_link_open"
                       " WHERE closed = 0 AND platform = ?1 AND remote_id > ?2"
                       " ORDER BY remote_id LIMIT ?3",
    [SQO_EVENT_ADD] = "INSERT OR IGNORE INTO inbound_event(platform, event_id, task_id, status,"
                      " outcome, detail, received_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQO_EVENT_GET] = "SELECT " EVENT_COLS " FROM inbound_event"
                      " WHERE platform = ?1 AND event_id = ?2",
    [SQO_EVENTS_ANY] = "SELECT " EVENT_COLS " FROM inbound_event WHERE seq > ?1"
                       " ORDER BY seq LIMIT ?3",
    [SQO_EVENTS_OUTCOME] = "SELECT " EVENT_COLS " FROM inbound_event INDEXED BY"
                           " inbound_event_outcome WHERE outcome = ?2 AND seq > ?1"
                           " ORDER BY seq LIMIT ?3",
};

void sq_outbox_finalize(sq_store *s)
{
    for(int i = 0; i < SQ_NOUTBOX; i++) {
        sqlite3_finalize(s->outbox[i]);
        s->outbox[i] = NULL;
    }
}

/* The statement `which` of connection s, prepared on first use, reset and
 * unbound; NULL when it cannot be prepared. */
static sqlite3_stmt *ostmt(sq_store *s, int which)
{
    if(!s->outbox[which] &&
       sqlite3_prepare_v3(s->db, outbox_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                          &s->outbox[which], NULL) != SQLITE_OK)
        return NULL;
    sqlite3_stmt *p = s->outbox[which];
    sqlite3_reset(p);
    sqlite3_clear_bindings(p);
    return p;
}

/* Writes go through the writer connection of the open transaction. */
static sq_store *writer_of(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    return s->in_txn ? sq_conn(s) : NULL;
}

static void bind_text(sqlite3_stmt *p, int i, const char *v)
{
    if(v)
        sqlite3_bind_text(p, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(p, i);
}

/* max as a LIMIT: SQLite takes a signed 64-bit number. */
static void bind_limit(sqlite3_stmt *p, int i, size_t max)
{
    sqlite3_bind_int64(p, i, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
}

/* A copy of a text column (NULL stays NULL). *ok drops to 0 when a copy
 * fails. The caller owns the copy. */
static char *col_text(sqlite3_stmt *p, int col, int *ok)
{
    if(sqlite3_column_type(p, col) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_column_text(p, col);
    int n = sqlite3_column_bytes(p, col);
    char *d = t ? malloc((size_t)n + 1) : NULL;
    if(!d) {
        *ok = 0;
        return NULL;
    }
    memcpy(d, t, (size_t)n);
    d[n] = '\0';
    return d;
}

static lg_status fill_job(sqlite3_stmt *p, lg_outbox_job *j)
{
    int ok = 1;
    memset(j, 0, sizeof(*j));
    j->id = sqlite3_column_int64(p, 0);
    j->platform = col_text(p, 1, &ok);
    j->kind = col_text(p, 2, &ok);
    j->task_id = col_text(p, 3, &ok);
    j->referral_id = col_text(p, 4, &ok);
    j->target = col_text(p, 5, &ok);
    j->remote_id = col_text(p, 6, &ok);
    j->last_error = col_text(p, 7, &ok);
    j->state = (lg_outbox_state)sqlite3_column_int(p, 8);
    j->attempts = sqlite3_column_int(p, 9);
    j->created_ms = sqlite3_column_int64(p, 10);
    j->next_at_ms = sqlite3_column_int64(p, 11);
    j->updated_ms = sqlite3_column_int64(p, 12);
    if(!ok) {
        lg_outbox_job_clear(j);
        return LG_ENOMEM;
    }
    return LG_OK;
}

static lg_status fill_link(sqlite3_stmt *p, lg_forward_link *l)
{
    int ok = 1;
    memset(l, 0, sizeof(*l));
    l->platform = col_text(p, 0, &ok);
    l->remote_id = col_text(p, 1, &ok);
    l->task_id = col_text(p, 2, &ok);
    l->last_status = col_text(p, 3, &ok);
    l->last_event_ms = sqlite3_column_type(p, 4) == SQLITE_NULL ? INT64_MIN
                                                                : sqlite3_column_int64(p, 4);
    l->closed = sqlite3_column_int(p, 5);
    if(!ok) {
        lg_forward_link_clear(l);
        return LG_ENOMEM;
    }
    return LG_OK;
}

static lg_status fill_event(sqlite3_stmt *p, lg_inbound_event *e)
{
    int ok = 1;
    memset(e, 0, sizeof(*e));
    e->seq = sqlite3_column_int64(p, 0);
    e->platform = col_text(p, 1, &ok);
    e->event_id = col_text(p, 2, &ok);
    e->task_id = col_text(p, 3, &ok);
    e->status = col_text(p, 4, &ok);
    e->outcome = col_text(p, 5, &ok);
    e->detail = col_text(p, 6, &ok);
    e->received_ms = sqlite3_column_int64(p, 7);
    if(!ok) {
        lg_inbound_event_clear(e);
        return LG_ENOMEM;
    }
    return LG_OK;
}

/* Step a statement that returns no row; *changes (if not NULL) gets the
 * rows it changed. The statement is reset so it holds no lock. */
static lg_status run(sq_store *s, sqlite3_stmt *p, int *changes)
{
    int rc = sqlite3_step(p);
    if(changes)
        *changes = rc == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    sqlite3_reset(p);
    return rc == SQLITE_DONE ? LG_OK : sq_status(rc);
}

/* ---- the outbox ---- */

lg_status sq_outbox_add(lg_store *base, const lg_outbox_job *j, int64_t *id_out)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = ostmt(s, SQO_ADD)))
        return LG_EIO;
    bind_text(p, 1, j->platform);
    bind_text(p, 2, j->kind);
    bind_text(p, 3, j->task_id);
    bind_text(p, 4, j->referral_id);
    bind_text(p, 5, j->target);
    bind_text(p, 6, j->remote_id);
    sqlite3_bind_int64(p, 7, j->created_ms);
    sqlite3_bind_int64(p, 8, j->next_at_ms);
    lg_status st = run(s, p, NULL);
    if(!st && id_out)
        *id_out = sqlite3_last_insert_rowid(s->db);
    return st;
}

lg_status sq_outbox_get(lg_store *base, int64_t id, lg_outbox_job *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_GET);
    if(!p)
        return LG_EIO;
    sqlite3_bind_int64(p, 1, id);
    int rc = sqlite3_step(p);
    lg_status st = rc == SQLITE_ROW ? fill_job(p, out)
                   : rc == SQLITE_DONE ? LG_ENOTFOUND : sq_status(rc);
    sqlite3_reset(p);
    return st;
}

/* Appends the row p is on to the list out as one item; on failure the
 * list is as it was. */
typedef lg_status (*row_fn)(sqlite3_stmt *p, void *out);

/* Append every row of p (already bound) to out with row. */
static lg_status collect(sqlite3_stmt *p, row_fn row, void *out)
{
    lg_status st = LG_OK;
    int rc;
    while((rc = sqlite3_step(p)) == SQLITE_ROW && !(st = row(p, out)))
        ;
    if(!st && rc != SQLITE_DONE)
        st = sq_status(rc);
    sqlite3_reset(p);
    return st;
}

static lg_status job_row(sqlite3_stmt *p, void *out)
{
    lg_outbox_list *l = out;
    lg_outbox_job *j = lg_outbox_list_push(l);
    lg_status st = j ? fill_job(p, j) : LG_ENOMEM;
    if(j && st)
        l->count--;
    return st;
}

static lg_status link_row(sqlite3_stmt *p, void *out)
{
    lg_forward_link_list *l = out;
    lg_forward_link *k = lg_forward_link_list_push(l);
    lg_status st = k ? fill_link(p, k) : LG_ENOMEM;
    if(k && st)
        l->count--;
    return st;
}

static lg_status event_row(sqlite3_stmt *p, void *out)
{
    lg_inbound_event_list *l = out;
    lg_inbound_event *e = lg_inbound_event_list_push(l);
    lg_status st = e ? fill_event(p, e) : LG_ENOMEM;
    if(e && st)
        l->count--;
    return st;
}

lg_status sq_outbox_due(lg_store *base, int64_t now_ms, size_t max, lg_outbox_list *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_DUE);
    if(!p)
        return LG_EIO;
    sqlite3_bind_int64(p, 1, now_ms);
    bind_limit(p, 2, max);
    return collect(p, job_row, out);
}

lg_status sq_outbox_due_platform(lg_store *base, const char *platform, int64_t now_ms, size_t max,
                                 lg_outbox_list *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_DUE_PLATFORM);
    if(!p)
        return LG_EIO;
    sqlite3_bind_int64(p, 1, now_ms);
    bind_limit(p, 2, max);
    sqlite3_bind_text(p, 3, platform, -1, SQLITE_STATIC);
    return collect(p, job_row, out);
}

lg_status sq_outbox_next_due(lg_store *base, int64_t *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_NEXT_DUE);
    if(!p)
        return LG_EIO;
    int rc = sqlite3_step(p);
    if(rc == SQLITE_ROW)
        *out = sqlite3_column_int64(p, 0);
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? LG_OK : rc == SQLITE_DONE ? LG_ENOTFOUND : sq_status(rc);
}

lg_status sq_outbox_list(lg_store *base, int state, const char *platform, int64_t after_id,
                         size_t max, lg_outbox_list *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, state < 0 ? SQO_LIST_ANY : SQO_LIST_STATE);
    if(!p)
        return LG_EIO;
    sqlite3_bind_int64(p, 1, after_id);
    if(state >= 0)
        sqlite3_bind_int(p, 2, state);
    bind_text(p, 3, platform);
    bind_limit(p, 4, max);
    return collect(p, job_row, out);
}

lg_status sq_outbox_update(lg_store *base, int64_t id, lg_outbox_state state, int attempts,
                           int64_t next_at_ms, const char *last_error, const char *remote_id,
                           int64_t now_ms)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = ostmt(s, SQO_UPDATE)))
        return LG_EIO;
    sqlite3_bind_int64(p, 1, id);
    sqlite3_bind_int(p, 2, (int)state);
    sqlite3_bind_int(p, 3, attempts);
    sqlite3_bind_int64(p, 4, next_at_ms);
    bind_text(p, 5, last_error);
    bind_text(p, 6, remote_id);
    sqlite3_bind_int64(p, 7, now_ms);
    int n = 0;
    lg_status st = run(s, p, &n);
    return st ? st : n == 0 ? LG_ENOTFOUND : LG_OK;
}

lg_status sq_outbox_replay(lg_store *base, int64_t id, int64_t now_ms)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = ostmt(s, SQO_REPLAY)))
        return LG_EIO;
    sqlite3_bind_int64(p, 1, id);
    sqlite3_bind_int64(p, 2, now_ms);
    int n = 0;
    lg_status st = run(s, p, &n);
    if(st || n > 0)
        return st;
    /* Nothing changed: either there is no such job or it is not dead. */
    if(!(p = ostmt(s, SQO_EXISTS)))
        return LG_EIO;
    sqlite3_bind_int64(p, 1, id);
    int rc = sqlite3_step(p);
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? LG_ECONFLICT : rc == SQLITE_DONE ? LG_ENOTFOUND : sq_status(rc);
}

lg_status sq_outbox_counts(lg_store *base, int64_t counts[3])
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_COUNTS);
    if(!p)
        return LG_EIO;
    int rc;
    while((rc = sqlite3_step(p)) == SQLITE_ROW) {
        int state = sqlite3_column_int(p, 0);
        if(state >= 0 && state < 3)
            counts[state] = sqlite3_column_int64(p, 1);
    }
    sqlite3_reset(p);
    return rc == SQLITE_DONE ? LG_OK : sq_status(rc);
}

/* ---- forward links ---- */

lg_status sq_link_put(lg_store *base, const lg_forward_link *l)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = ostmt(s, SQO_LINK_PUT)))
        return LG_EIO;
    bind_text(p, 1, l->platform);
    bind_text(p, 2, l->remote_id);
    bind_text(p, 3, l->task_id);
    bind_text(p, 4, l->last_status);
    if(l->last_event_ms == INT64_MIN)
        sqlite3_bind_null(p, 5);
    else
        sqlite3_bind_int64(p, 5, l->last_event_ms);
    sqlite3_bind_int(p, 6, l->closed ? 1 : 0);
    return run(s, p, NULL);
}

/* The first row of p (bound) as a link, or LG_ENOTFOUND. */
static lg_status one_link(sqlite3_stmt *p, lg_forward_link *out)
{
    int rc = sqlite3_step(p);
    lg_status st = rc == SQLITE_ROW ? fill_link(p, out)
                   : rc == SQLITE_DONE ? LG_ENOTFOUND : sq_status(rc);
    sqlite3_reset(p);
    return st;
}

lg_status sq_link_get(lg_store *base, const char *platform, const char *remote_id,
                      lg_forward_link *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_LINK_GET);
    if(!p)
        return LG_EIO;
    bind_text(p, 1, platform);
    bind_text(p, 2, remote_id);
    return one_link(p, out);
}

lg_status sq_link_by_task(lg_store *base, const char *platform, const char *task_id,
                          lg_forward_link *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_LINK_TASK);
    if(!p)
        return LG_EIO;
    bind_text(p, 1, platform);
    bind_text(p, 2, task_id);
    return one_link(p, out);
}

lg_status sq_links_open(lg_store *base, const char *platform, const char *after, size_t max,
                        lg_forward_link_list *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_LINKS_OPEN);
    if(!p)
        return LG_EIO;
    bind_text(p, 1, platform);
    /* '' sorts before every other text: "from the start". */
    sqlite3_bind_text(p, 2, after ? after : "", -1, SQLITE_STATIC);
    bind_limit(p, 3, max);
    return collect(p, link_row, out);
}

/* ---- inbound events ---- */

lg_status sq_event_add(lg_store *base, const lg_inbound_event *e)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = ostmt(s, SQO_EVENT_ADD)))
        return LG_EIO;
    bind_text(p, 1, e->platform);
    bind_text(p, 2, e->event_id);
    bind_text(p, 3, e->task_id);
    bind_text(p, 4, e->status);
    bind_text(p, 5, e->outcome);
    bind_text(p, 6, e->detail);
    sqlite3_bind_int64(p, 7, e->received_ms);
    /* OR IGNORE: a duplicate is an expected answer, not a failed
     * statement, and leaves the transaction as it was. */
    int n = 0;
    lg_status st = run(s, p, &n);
    return st ? st : n == 0 ? LG_ECONFLICT : LG_OK;
}

lg_status sq_event_get(lg_store *base, const char *platform, const char *event_id,
                       lg_inbound_event *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, SQO_EVENT_GET);
    if(!p)
        return LG_EIO;
    bind_text(p, 1, platform);
    bind_text(p, 2, event_id);
    int rc = sqlite3_step(p);
    lg_status st = rc == SQLITE_ROW ? (out ? fill_event(p, out) : LG_OK)
                   : rc == SQLITE_DONE ? LG_ENOTFOUND : sq_status(rc);
    sqlite3_reset(p);
    return st;
}

lg_status sq_events_list(lg_store *base, const char *outcome, int64_t after_seq, size_t max,
                         lg_inbound_event_list *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = ostmt(s, outcome ? SQO_EVENTS_OUTCOME : SQO_EVENTS_ANY);
    if(!p)
        return LG_EIO;
    sqlite3_bind_int64(p, 1, after_seq);
    bind_text(p, 2, outcome);
    bind_limit(p, 3, max);
    return collect(p, event_row, out);
}
