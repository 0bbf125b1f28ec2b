/* sqlite.c - the embedded SQLite backend of the store: opening, the schema,
 * transactions, reads, writes and history (search lives in query.c).
 *
 * Durability, with group commit in batches: all writes of a process go
 * through one writer connection per directory. A write transaction of a
 * handle (lg_store_begin .. commit) is a SAVEPOINT inside the writer's open
 * batch transaction; lg_store_commit_nowait RELEASEs it and hands out a
 * ticket, but nothing is visible to other connections yet. lg_store_sync
 * (the leader of a group) COMMITs the batch - with synchronous=NORMAL that
 * appends it to the WAL without flushing - and then flushes the WAL
 * (fdatasync of the -wal file): one COMMIT and one flush cover every write
 * released before it. Many small writes in one SQLite transaction share
 * their B-tree pages, so the WAL grows by far fewer pages than with one
 * COMMIT per write. lg_store_commit (commit_nowait + sync) returns only once
 * the write is on disk, so nothing acknowledged can be lost to kill -9 or
 * power loss; the HTTP layer answers a client only when lg_store_synced()
 * reaches its ticket. Once a COMMIT or flush fails nothing is trusted again
 * (Linux may drop the dirty pages of a failed fsync): every later sync fails.
 *
 * Concurrency: every worker thread opens its own connection for reads.
 * Writers of one process are serialised by a mutex shared by all handles on
 * the same directory (a refcounted registry keyed by realpath), taken in
 * begin and released at commit/rollback; while a handle holds it, all its
 * reads and writes use the writer connection, so they see the writes
 * released before them. Reads outside a transaction are autocommit reads on
 * the handle's own connection, which WAL runs beside the writer; they see
 * a batch once it is committed (before any of its writes is acknowledged).
 * Another process is kept out of the directory by flock (loopgate.lock).
 *
 * Layout (schema version 4, PRAGMA user_version):
 *   res  the current state of each logical resource (rid, type, id, version,
 *        last_updated, deleted, seq of the current version, creator: the
 *        author of version 1, kept here so access checks cost no extra read);
 *   ver  every version with the client that wrote it (author, NULL for the
 *        server); its rowid is the store-wide seq, so seq order is the
 *        table order, max(seq) is O(1), and seq is unique by construction;
 *   idx  the search index rows of current versions only: a put replaces the
 *        resource's rows, a delete removes them.
 * The closed-loop report's fact tables are in facts.c; the forwarding
 * tables (outbox, forward links, inbound events; version 3; the
 * per-platform due index, version 4) in outbox.c.
 * seq is max(seq) + 1 read under the writer lock (versions are never
 * removed, so it strictly increases).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sq.h"

#define SCHEMA_VERSION 4
#define BUSY_TIMEOUT_MS 10000

/* ---- process-wide writer locks, one per store directory ---- */

struct sq_writer_lock {
    char *path;
    pthread_mutex_t mu;  /* the writer lock */
    int refs;
    struct sq_writer_lock *next;
    /* group commit: commits counts COMMITs (taken under mu); the rest
     * under smu */
    uint64_t commits;
    pthread_mutex_t smu;
    pthread_cond_t scv;
    uint64_t synced;     /* every commit <= synced is on disk */
    int syncing;         /* a flush is running (its leader dropped smu) */
    int failed;          /* a flush failed: nothing is durable any more */
    int dir_synced;      /* the directory entry of the -wal file is on disk */
    int wal_pages;       /* WAL size after the last commit (atomic) */
    int checkpointing;   /* a checkpoint runs (atomic flag) */
    int lock_fd;         /* loopgate.lock, flock'd: one process per directory */
    struct sq_store *writer; /* the writer connection (under mu) */
    int batch_open;      /* the writer is inside a BEGIN (under mu) */
    uint64_t gen;        /* batches committed (atomic): lg_store_generation */
};

/* Checkpoints are ours too: SQLite's automatic one would copy the WAL into
 * the database and fsync it inside some writer's COMMIT, holding the writer
 * lock for milliseconds. Instead the WAL size is noted at each commit and
 * lg_store_maintain copies it back from a thread that holds no lock. */
#define CHECKPOINT_PAGES 4000

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    __atomic_store_n(&((sq_writer_lock *)arg)->wal_pages, pages, __ATOMIC_RELAXED);
    return SQLITE_OK;
}

static pthread_mutex_t locks_mu = PTHREAD_MUTEX_INITIALIZER;
static sq_writer_lock *locks;

/* The per-directory state, shared by every handle of this process on that
 * directory. The first reference takes an exclusive flock on
 * <dir>/loopgate.lock, held until the last handle closes: a second process
 * on the same directory is refused (*busy = 1), because writers coordinate
 * (and readers cache results against lg_store_generation) only within one
 * process. */
static sq_writer_lock *lock_ref(const char *path, int *busy)
{
    *busy = 0;
    pthread_mutex_lock(&locks_mu);
    sq_writer_lock *l = locks;
    while(l && strcmp(l->path, path) != 0)
        l = l->next;
    if(!l && (l = calloc(1, sizeof(*l))) != NULL) {
        char lp[PATH_MAX];
        l->lock_fd = -1;
        if(snprintf(lp, sizeof(lp), "%s/loopgate.lock", path) >= (int)sizeof(lp) ||
           (l->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
           flock(l->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            *busy = l->lock_fd >= 0 && errno == EWOULDBLOCK;
            if(l->lock_fd >= 0)
                close(l->lock_fd);
            free(l);
            l = NULL;
        } else if(!(l->path = strdup(path)) || pthread_mutex_init(&l->mu, NULL) != 0 ||
                  pthread_mutex_init(&l->smu, NULL) != 0 ||
                  pthread_cond_init(&l->scv, NULL) != 0) {
            close(l->lock_fd);
            free(l->path);
            free(l);
            l = NULL;
        } else {
            l->next = locks;
            locks = l;
        }
    }
    if(l)
        l->refs++;
    pthread_mutex_unlock(&locks_mu);
    return l;
}

static void close_writer(sq_writer_lock *l);

static void lock_unref(sq_writer_lock *l)
{
    pthread_mutex_lock(&locks_mu);
    if(--l->refs == 0) {
        sq_writer_lock **pp = &locks;
        while(*pp != l)
            pp = &(*pp)->next;
        *pp = l->next;
        pthread_mutex_destroy(&l->mu);
        pthread_mutex_destroy(&l->smu);
        pthread_cond_destroy(&l->scv);
        if(l->writer)
            close_writer(l);
        close(l->lock_fd); /* releases the flock */
        free(l->path);
        free(l);
    }
    pthread_mutex_unlock(&locks_mu);
}

static void sq_rollback_txn(sq_store *s);
static lg_status sq_snapshot(lg_store *base, int begin);

/* ---- statements and schema ---- */

static const char *const sql_text[SQ_NSTMT] = {
    [SQ_READ] = "SELECT r.version, r.last_updated, r.seq, r.deleted, v.method, v.json, "
                "v.author, r.creator "
                "FROM res r JOIN ver v ON v.seq = r.seq WHERE r.type = ?1 AND r.id = ?2",
    [SQ_VREAD] = "SELECT v.version, v.last_updated, v.seq, v.deleted, v.method, v.json, "
                 "v.author, r.creator "
                 "FROM res r JOIN ver v ON v.rid = r.rid "
                 "WHERE r.type = ?1 AND r.id = ?2 AND v.version = ?3",
    [SQ_LOOKUP] = "SELECT rid, version FROM res WHERE type = ?1 AND id = ?2",
    [SQ_RES_INSERT] = "INSERT INTO res(type, id, version, last_updated, deleted, seq, creator) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQ_RES_UPDATE] = "UPDATE res SET version = ?2, last_updated = ?3, deleted = ?4, seq = ?5 "
                      "WHERE rid = ?1",
    [SQ_VER_INSERT] = "INSERT INTO ver(seq, rid, version, last_updated, deleted, method, json, "
                      "author) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQ_IDX_DELETE] = "DELETE FROM idx WHERE rid = ?1",
    [SQ_IDX_INSERT] = "INSERT INTO idx(rid, type, param, s1, s2, s3, lo, hi) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQ_MAX_SEQ] = "SELECT coalesce(max(seq), 0) FROM ver",
    [SQ_TYPE_SEQ] = "SELECT coalesce(max(seq), 0) FROM res WHERE type = ?1",
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_BEGIN_READ] = "BEGIN",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT w",
    [SQ_RELEASE] = "RELEASE w",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO w",
};

/* Index choice: idx_s2 serves token codes and reference ids (s2, then s1 for
 * the system/type), idx_s1 string prefixes, URIs and system-only tokens,
 * idx_range dates and numbers, idx_rid the per-resource delete and
 * :missing. res_type_seq and res_type_lu serve the two result orders. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS res("
    "  rid INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL,"
    "  version INTEGER NOT NULL, last_updated INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL, seq INTEGER NOT NULL, creator TEXT, UNIQUE(type, id));"
    "CREATE INDEX IF NOT EXISTS res_type_seq ON res(type, seq);"
    "CREATE INDEX IF NOT EXISTS res_type_lu ON res(type, last_updated, seq);"
    "CREATE TABLE IF NOT EXISTS ver("
    "  seq INTEGER PRIMARY KEY, rid INTEGER NOT NULL, version INTEGER NOT NULL,"
    "  last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL, method TEXT NOT NULL,"
    "  json TEXT, author TEXT, UNIQUE(rid, version));"
    "CREATE TABLE IF NOT EXISTS idx("
    "  rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,"
    "  s1 TEXT, s2 TEXT, s3 TEXT, lo INTEGER, hi INTEGER);"
    "CREATE INDEX IF NOT EXISTS idx_s2 ON idx(type, param, s2, s1);"
    "CREATE INDEX IF NOT EXISTS idx_s1 ON idx(type, param, s1);"
    "CREATE INDEX IF NOT EXISTS idx_range ON idx(type, param, lo, hi);"
    "CREATE INDEX IF NOT EXISTS idx_rid ON idx(rid, param);";

lg_status sq_status(int rc)
{
    switch(rc & 0xff) {
    case SQLITE_NOMEM: return LG_ENOMEM;
    case SQLITE_CONSTRAINT: return LG_ECONFLICT;
    case SQLITE_TOOBIG: return LG_ETOOLARGE;
    default: return LG_EIO;
    }
}

static sqlite3_stmt *stmt(sq_store *s, int which)
{
    sqlite3_stmt *p = s->st[which];
    sqlite3_reset(p);
    sqlite3_clear_bindings(p);
    return p;
}

/* Step a statement that returns no row, and reset it so it holds no lock. */
static lg_status exec_stmt(sqlite3_stmt *p)
{
    int rc = sqlite3_step(p);
    sqlite3_reset(p);
    return rc == SQLITE_DONE ? LG_OK : sq_status(rc);
}

/* ---- transactions ---- */

static void free_conn(sq_store *s)
{
    for(int i = 0; i < SQ_NSTMT; i++)
        sqlite3_finalize(s->st[i]);
    for(int i = 0; i < SQ_NHIST; i++)
        sqlite3_finalize(s->hist[i]);
    sq_facts_finalize(s);
    sq_outbox_finalize(s);
    sqlite3_close(s->db);
    free(s);
}

sq_store *sq_conn(sq_store *s)
{
    return s->in_txn ? s->wlock->writer : s;
}

static void reset_all(sq_store *w)
{
    for(int i = 0; i < SQ_NSTMT; i++)
        sqlite3_reset(w->st[i]);
    for(int i = 0; i < SQ_NHIST; i++)
        if(w->hist[i])
            sqlite3_reset(w->hist[i]);
    for(int i = 0; i < SQ_NFACTS; i++)
        if(w->facts[i])
            sqlite3_reset(w->facts[i]);
    for(int i = 0; i < SQ_NOUTBOX; i++)
        if(w->outbox[i])
            sqlite3_reset(w->outbox[i]);
}

/* Flush the WAL (and, once, the directory that holds it). */
static int flush_wal(sq_writer_lock *l, int sync_dir)
{
    char wal[PATH_MAX];
    if(snprintf(wal, sizeof(wal), "%s/loopgate.db-wal", l->path) >= (int)sizeof(wal))
        return -1;
    int fd = open(wal, O_RDONLY | O_CLOEXEC);
    if(fd < 0)
        return -1;
    int rc = fdatasync(fd);
    close(fd);
    if(rc == 0 && sync_dir) {
        fd = open(l->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = fd < 0 ? -1 : fsync(fd);
        if(fd >= 0)
            close(fd);
    }
    return rc;
}

/* Last handle of the directory gone: commit what the batch holds (no
 * reply waits for it any more, but it was released as a whole) and close. */
static void close_writer(sq_writer_lock *l)
{
    sq_store *w = l->writer;
    reset_all(w);
    if(l->batch_open && exec_stmt(stmt(w, SQ_COMMIT)) == LG_OK)
        flush_wal(l, 1);
    l->batch_open = 0;
    free_conn(w);
    l->writer = NULL;
}

static void sq_close(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    if(s->in_txn)
        sq_rollback_txn(s);
    sq_snapshot(base, 0);
    sq_writer_lock *l = s->wlock;
    free_conn(s);
    if(l)
        lock_unref(l);
}

static lg_status sq_begin(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    if(s->in_txn || s->in_snapshot)
        return LG_EINTERNAL;
    sq_writer_lock *l = s->wlock;
    pthread_mutex_lock(&l->mu);
    sq_store *w = l->writer;
    lg_status st = LG_OK;
    if(!l->batch_open) {
        if((st = exec_stmt(stmt(w, SQ_BEGIN))))
            goto fail;
        l->batch_open = 1;
    }
    if((st = exec_stmt(stmt(w, SQ_SAVEPOINT))))
        goto fail;
    s->in_txn = 1;
    return LG_OK;
fail:
    pthread_mutex_unlock(&l->mu);
    return st;
}

/* Undo the handle's savepoint and give up the write lock. */
static void sq_rollback_txn(sq_store *s)
{
    sq_writer_lock *l = s->wlock;
    sq_store *w = l->writer;
    reset_all(w); /* statements left mid-step by a failed put would block ROLLBACK TO */
    if(exec_stmt(stmt(w, SQ_ROLLBACK_TO)) || exec_stmt(stmt(w, SQ_RELEASE))) {
        /* The batch can no longer be trusted to hold exactly the released
         * writes: give it up, and with it durability (they were not
         * acknowledged, and will not be). */
        if(!sqlite3_get_autocommit(w->db))
            sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        l->batch_open = 0;
        pthread_mutex_lock(&l->smu);
        l->failed = 1;
        pthread_cond_broadcast(&l->scv);
        pthread_mutex_unlock(&l->smu);
    }
    s->in_txn = 0;
    pthread_mutex_unlock(&l->mu);
}

static lg_status sq_commit_nowait(lg_store *base, uint64_t *ticket)
{
    sq_store *s = (sq_store *)base;
    *ticket = 0;
    if(!s->in_txn)
        return LG_EINTERNAL;
    sq_writer_lock *l = s->wlock;
    lg_status st = exec_stmt(stmt(l->writer, SQ_RELEASE));
    if(st) {
        sq_rollback_txn(s);
        return st;
    }
    *ticket = __atomic_add_fetch(&l->commits, 1, __ATOMIC_ACQ_REL);
    s->in_txn = 0;
    pthread_mutex_unlock(&l->mu);
    return LG_OK;
}

/* COMMIT the open batch; returns the last ticket it holds, 0 on failure. */
static uint64_t commit_batch(sq_writer_lock *l, int *ok)
{
    pthread_mutex_lock(&l->mu);
    uint64_t target = __atomic_load_n(&l->commits, __ATOMIC_ACQUIRE);
    *ok = 1;
    if(l->batch_open) {
        sq_store *w = l->writer;
        reset_all(w);
        if(exec_stmt(stmt(w, SQ_COMMIT)) != LG_OK) {
            if(!sqlite3_get_autocommit(w->db))
                sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
            *ok = 0;
        }
        l->batch_open = 0;
        __atomic_add_fetch(&l->gen, 1, __ATOMIC_ACQ_REL);
    }
    pthread_mutex_unlock(&l->mu);
    return target;
}

static lg_status sq_sync(lg_store *base, uint64_t ticket)
{
    sq_store *s = (sq_store *)base;
    sq_writer_lock *l = s->wlock;
    lg_status st = LG_OK;
    pthread_mutex_lock(&l->smu);
    while(!l->failed && l->synced < ticket) {
        if(l->syncing) {
            pthread_cond_wait(&l->scv, &l->smu);
            continue;
        }
        /* Lead: commit the batch of every write released so far and flush
         * it; those released meanwhile wait for the next round. */
        l->syncing = 1;
        int sync_dir = !l->dir_synced;
        pthread_mutex_unlock(&l->smu);
        int ok;
        uint64_t target = commit_batch(l, &ok);
        int rc = ok ? flush_wal(l, sync_dir) : -1;
        pthread_mutex_lock(&l->smu);
        l->syncing = 0;
        if(rc)
            l->failed = 1;
        else {
            l->dir_synced = 1;
            if(target > l->synced)
                l->synced = target;
        }
        pthread_cond_broadcast(&l->scv);
    }
    if(l->failed)
        st = LG_EIO;
    pthread_mutex_unlock(&l->smu);
    return st;
}

static uint64_t sq_synced(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    pthread_mutex_lock(&s->wlock->smu);
    uint64_t v = s->wlock->failed ? 0 : s->wlock->synced;
    pthread_mutex_unlock(&s->wlock->smu);
    return v;
}

static void sq_maintain(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    sq_writer_lock *l = s->wlock;
    if(s->in_txn || __atomic_load_n(&l->wal_pages, __ATOMIC_RELAXED) < CHECKPOINT_PAGES)
        return;
    int idle = 0;
    if(!__atomic_compare_exchange_n(&l->checkpointing, &idle, 1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED))
        return; /* another thread is on it */
    /* PASSIVE never waits for readers or the writer; what it cannot copy
     * now the next call will. Once all is copied the next writer starts the
     * WAL over from its beginning. */
    int log = 0, done = 0;
    if(sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
           SQLITE_OK && done >= log)
        __atomic_store_n(&l->wal_pages, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&l->checkpointing, 0, __ATOMIC_RELEASE);
}

static lg_status sq_commit(lg_store *base)
{
    uint64_t ticket;
    lg_status st = sq_commit_nowait(base, &ticket);
    if(!st && !(st = sq_sync(base, ticket)))
        sq_maintain(base);
    return st;
}

static void sq_rollback(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    if(s->in_txn)
        sq_rollback_txn(s);
}

/* ---- reads ---- */

static char *col_dup(sqlite3_stmt *p, int col, size_t *len)
{
    const unsigned char *t = sqlite3_column_text(p, col);
    int n = sqlite3_column_bytes(p, col);
    *len = 0;
    if(!t)
        return NULL;
    char *d = malloc((size_t)n + 1);
    if(d) {
        memcpy(d, t, (size_t)n);
        d[n] = '\0';
        *len = (size_t)n;
    }
    return d;
}

lg_status sq_fill(sqlite3_stmt *p, int col0, const char *type, const char *id, lg_resource *r)
{
    memset(r, 0, sizeof(*r));
    r->version = sqlite3_column_int64(p, col0);
    r->last_updated = sqlite3_column_int64(p, col0 + 1);
    r->seq = sqlite3_column_int64(p, col0 + 2);
    r->deleted = sqlite3_column_int(p, col0 + 3);
    const unsigned char *m = sqlite3_column_text(p, col0 + 4);
    snprintf(r->method, sizeof(r->method), "%s", m ? (const char *)m : "");
    r->type = type ? strdup(type) : NULL;
    r->id = id ? strdup(id) : NULL;
    if(!r->deleted && sqlite3_column_type(p, col0 + 5) != SQLITE_NULL &&
       !(r->json = col_dup(p, col0 + 5, &r->json_len)))
        goto fail;
    size_t n;
    if(sqlite3_column_type(p, col0 + 6) != SQLITE_NULL && !(r->author = col_dup(p, col0 + 6, &n)))
        goto fail;
    if(sqlite3_column_type(p, col0 + 7) != SQLITE_NULL &&
       !(r->creator = col_dup(p, col0 + 7, &n)))
        goto fail;
    if(!r->type || !r->id)
        goto fail;
    return LG_OK;
fail:
    lg_resource_clear(r);
    return LG_ENOMEM;
}

static lg_status sq_read(lg_store *base, const char *type, const char *id, int64_t version,
                         lg_resource *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    memset(out, 0, sizeof(*out));
    if(!type || !id)
        return LG_ENOTFOUND;
    sqlite3_stmt *p = stmt(s, version ? SQ_VREAD : SQ_READ);
    sqlite3_bind_text(p, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, id, -1, SQLITE_STATIC);
    if(version)
        sqlite3_bind_int64(p, 3, version);
    int rc = sqlite3_step(p);
    lg_status st;
    if(rc == SQLITE_ROW)
        st = sq_fill(p, 0, type, id, out);
    else
        st = rc == SQLITE_DONE ? LG_ENOTFOUND : sq_status(rc);
    sqlite3_reset(p); /* ends the autocommit read transaction */
    return st;
}

static lg_status sq_max_seq(lg_store *base, int64_t *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = stmt(s, SQ_MAX_SEQ);
    int rc = sqlite3_step(p);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(p, 0) : 0;
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? LG_OK : sq_status(rc);
}

static lg_status sq_type_seq(lg_store *base, const char *type, int64_t *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = stmt(s, SQ_TYPE_SEQ);
    sqlite3_bind_text(p, 1, type, -1, SQLITE_STATIC);
    int rc = sqlite3_step(p);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(p, 0) : 0;
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? LG_OK : sq_status(rc);
}

static lg_status sq_snapshot(lg_store *base, int begin)
{
    sq_store *s = (sq_store *)base;
    if(s->in_txn)
        return begin ? LG_EINTERNAL : LG_OK;
    if(begin) {
        if(s->in_snapshot)
            return LG_EINTERNAL;
        lg_status st = exec_stmt(stmt(s, SQ_BEGIN_READ));
        s->in_snapshot = !st;
        return st;
    }
    if(s->in_snapshot) {
        reset_all(s);
        if(exec_stmt(stmt(s, SQ_COMMIT)) && !sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_snapshot = 0;
    }
    return LG_OK;
}

static uint64_t sq_generation(lg_store *base)
{
    return __atomic_load_n(&((sq_store *)base)->wlock->gen, __ATOMIC_ACQUIRE);
}

/* ---- writes ---- */

static void bind_opt(sqlite3_stmt *p, int i, const char *v)
{
    if(v)
        sqlite3_bind_text(p, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(p, i);
}

static lg_status put_index(sq_store *s, int64_t rid, const lg_store_write *w)
{
    for(size_t i = 0; i < w->index->count; i++) {
        const lg_index_entry *e = &w->index->items[i];
        if(!e->param)
            return LG_EINTERNAL;
        sqlite3_stmt *p = stmt(s, SQ_IDX_INSERT);
        sqlite3_bind_int64(p, 1, rid);
        sqlite3_bind_text(p, 2, w->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 3, e->param, -1, SQLITE_STATIC);
        bind_opt(p, 4, e->s1);
        bind_opt(p, 5, e->s2);
        bind_opt(p, 6, e->s3);
        /* lo/hi mean something only for ranges; NULL keeps them out of idx_range. */
        if(e->type == LG_SP_DATE || e->type == LG_SP_NUMBER || e->type == LG_SP_QUANTITY) {
            sqlite3_bind_int64(p, 7, e->lo);
            sqlite3_bind_int64(p, 8, e->hi);
        }
        lg_status st = exec_stmt(p);
        if(st)
            return st;
    }
    return LG_OK;
}

static lg_status sq_put(lg_store *base, const lg_store_write *w, int64_t *seq_out)
{
    sq_store *s = (sq_store *)base;
    int64_t rid = 0, cur = 0, seq;
    lg_status st;
    if(!s->in_txn)
        return LG_EINTERNAL;
    s = sq_conn(s);
    if(!w->type || !w->id || !*w->type || !*w->id || (!w->deleted && !w->json))
        return LG_EINVAL;
    if(w->json && w->json_len > (size_t)INT_MAX)
        return LG_ETOOLARGE;
    sqlite3_stmt *p = stmt(s, SQ_LOOKUP);
    sqlite3_bind_text(p, 1, w->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, w->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(p);
    if(rc == SQLITE_ROW) {
        rid = sqlite3_column_int64(p, 0);
        cur = sqlite3_column_int64(p, 1);
    }
    sqlite3_reset(p);
    if(rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_status(rc);
    if(w->version != cur + 1)
        return LG_ECONFLICT;
    if((st = sq_max_seq(base, &seq)))
        return st;
    seq++;
    if(rid == 0) {
        p = stmt(s, SQ_RES_INSERT);
        sqlite3_bind_text(p, 1, w->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 2, w->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(p, 3, w->version);
        sqlite3_bind_int64(p, 4, w->last_updated);
        sqlite3_bind_int(p, 5, w->deleted ? 1 : 0);
        sqlite3_bind_int64(p, 6, seq);
        if(w->author)
            sqlite3_bind_text(p, 7, w->author, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(p, 7);
        if((st = exec_stmt(p)))
            return st;
        rid = sqlite3_last_insert_rowid(s->db);
    } else {
        p = stmt(s, SQ_RES_UPDATE);
        sqlite3_bind_int64(p, 1, rid);
        sqlite3_bind_int64(p, 2, w->version);
        sqlite3_bind_int64(p, 3, w->last_updated);
        sqlite3_bind_int(p, 4, w->deleted ? 1 : 0);
        sqlite3_bind_int64(p, 5, seq);
        if((st = exec_stmt(p)))
            return st;
    }
    p = stmt(s, SQ_VER_INSERT);
    sqlite3_bind_int64(p, 1, seq);
    sqlite3_bind_int64(p, 2, rid);
    sqlite3_bind_int64(p, 3, w->version);
    sqlite3_bind_int64(p, 4, w->last_updated);
    sqlite3_bind_int(p, 5, w->deleted ? 1 : 0);
    sqlite3_bind_text(p, 6, w->method ? w->method : (w->deleted ? "DELETE" : "PUT"), -1,
                      SQLITE_STATIC);
    if(w->deleted)
        sqlite3_bind_null(p, 7);
    else
        sqlite3_bind_text(p, 7, w->json, (int)w->json_len, SQLITE_STATIC);
    if(w->author)
        sqlite3_bind_text(p, 8, w->author, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(p, 8);
    if((st = exec_stmt(p)))
        return st;
    if(cur > 0) { /* a new resource has no rows yet */
        p = stmt(s, SQ_IDX_DELETE);
        sqlite3_bind_int64(p, 1, rid);
        if((st = exec_stmt(p)))
            return st;
    }
    if(!w->deleted && w->index && (st = put_index(s, rid, w)))
        return st;
    if(seq_out)
        *seq_out = seq;
    return LG_OK;
}

/* ---- history ---- */

static lg_status sq_history(lg_store *base, const char *type, const char *id, int64_t since,
                            int64_t before_seq, int count, lg_resource_list *out)
{
    sq_store *s = sq_conn((sq_store *)base);
    /* An id without a type names nothing: treat it as "whole system"
     * would be wrong, so it is refused. */
    if(id && !type)
        return LG_EINVAL;
    int k = (type ? 1 : 0) | (id ? 2 : 0) | (since ? 4 : 0) | (before_seq ? 8 : 0);
    if(!s->hist[k]) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT r.type, r.id, v.version, v.last_updated, v.seq, v.deleted, v.method, "
                 "v.json, v.author, r.creator FROM ver v JOIN res r ON r.rid = v.rid "
                 "WHERE 1%s%s%s%s "
                 "ORDER BY v.seq DESC LIMIT ?5",
                 type ? " AND r.type = ?1" : "", id ? " AND r.id = ?2" : "",
                 since ? " AND v.last_updated >= ?3" : "", before_seq ? " AND v.seq < ?4" : "");
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->hist[k], NULL);
        if(rc != SQLITE_OK)
            return sq_status(rc);
    }
    sqlite3_stmt *p = s->hist[k];
    sqlite3_reset(p);
    sqlite3_clear_bindings(p);
    if(type) sqlite3_bind_text(p, 1, type, -1, SQLITE_STATIC);
    if(id) sqlite3_bind_text(p, 2, id, -1, SQLITE_STATIC);
    if(since) sqlite3_bind_int64(p, 3, since);
    if(before_seq) sqlite3_bind_int64(p, 4, before_seq);
    sqlite3_bind_int64(p, 5, (int64_t)(count > 0 ? count : 0) + 1);
    lg_status st = LG_OK;
    int rc;
    while((rc = sqlite3_step(p)) == SQLITE_ROW) {
        lg_resource *r = lg_resource_list_push(out);
        if(!r) {
            st = LG_ENOMEM;
            break;
        }
        if((st = sq_fill(p, 2, (const char *)sqlite3_column_text(p, 0),
                         (const char *)sqlite3_column_text(p, 1), r))) {
            out->count--;
            break;
        }
    }
    if(!st && rc != SQLITE_DONE)
        st = sq_status(rc);
    sqlite3_reset(p);
    return st;
}

static const lg_store_ops sq_ops = {
    .close = sq_close, .begin = sq_begin, .commit = sq_commit, .rollback = sq_rollback,
    .commit_nowait = sq_commit_nowait, .sync = sq_sync, .synced = sq_synced,
    .maintain = sq_maintain,
    .read = sq_read, .put = sq_put, .search = sq_search, .history = sq_history,
    .max_seq = sq_max_seq,
    .type_seq = sq_type_seq,
    .generation = sq_generation,
    .snapshot = sq_snapshot,
    .fact_put = sq_fact_put, .fact_times = sq_fact_times, .fact_delete = sq_fact_delete,
    .child_put = sq_child_put, .child_delete = sq_child_delete, .fact_scan = sq_fact_scan,
    .outbox_add = sq_outbox_add, .outbox_get = sq_outbox_get, .outbox_due = sq_outbox_due,
    .outbox_due_platform = sq_outbox_due_platform,
    .outbox_next_due = sq_outbox_next_due, .outbox_list = sq_outbox_list,
    .outbox_update = sq_outbox_update, .outbox_replay = sq_outbox_replay,
    .outbox_counts = sq_outbox_counts, .link_put = sq_link_put, .link_get = sq_link_get,
    .link_by_task = sq_link_by_task, .links_open = sq_links_open, .event_add = sq_event_add,
    .event_get = sq_event_get, .events_list = sq_events_list,
};

/* ---- opening ---- */

/* lg_search_normalise as SQL lg_norm(x), for token :text. */
static void sql_norm(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const unsigned char *t = sqlite3_value_text(argv[0]);
    if(!t) {
        sqlite3_result_null(ctx);
        return;
    }
    char *n = lg_search_normalise((const char *)t);
    if(!n)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_text(ctx, n, -1, free);
}

static int read_version(sqlite3 *db)
{
    sqlite3_stmt *p = NULL;
    int have = -1;
    if(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &p, NULL) == SQLITE_OK &&
       sqlite3_step(p) == SQLITE_ROW)
        have = sqlite3_column_int(p, 0);
    sqlite3_finalize(p);
    return have;
}

static lg_status migrate(sq_store *s, lg_issues *issues)
{
    int have = read_version(s->db);
    if(have < 0) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot read the schema version: %s",
                      sqlite3_errmsg(s->db));
        return LG_EIO;
    }
    if(have > SCHEMA_VERSION) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL,
                      "The database schema (version %d) is newer than this Loopgate (%d)", have,
                      SCHEMA_VERSION);
        return LG_EUNSUPPORTED;
    }
    /* Checked before taking the write lock: every open but a store's
     * first finds the schema current, and an open batch may hold the lock. */
    if(have == SCHEMA_VERSION)
        return LG_OK;
    /* Handles (or processes) may race to create or migrate: BEGIN IMMEDIATE
     * serialises them, and the version is read again under the lock so the
     * loser's run does nothing. Each step takes the schema one version up;
     * a new store gets the whole current schema at once. */
    char *err = NULL;
    char ver[48];
    if(sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
        goto fail;
    if((have = read_version(s->db)) < 0)
        goto fail;
    if(have == 0) {
        if(sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK ||
           sqlite3_exec(s->db, sq_outbox_schema, NULL, NULL, &err) != SQLITE_OK ||
           sqlite3_exec(s->db, sq_outbox_schema_v4, NULL, NULL, &err) != SQLITE_OK)
            goto fail;
    } else if(have < SCHEMA_VERSION) {
        /* Version 2 adds who wrote each version and who created each
         * resource; rows stored before have NULL (the server itself). */
        if(have == 1 && sqlite3_exec(s->db, "ALTER TABLE res ADD COLUMN creator TEXT;"
                                            "ALTER TABLE ver ADD COLUMN author TEXT;",
                                     NULL, NULL, &err) != SQLITE_OK)
            goto fail;
        /* Version 3 adds the forwarding tables (outbox.c), empty. */
        if(have <= 2 && sqlite3_exec(s->db, sq_outbox_schema, NULL, NULL, &err) != SQLITE_OK)
            goto fail;
        /* Version 4 adds the per-platform due index (outbox.c). */
        if(have <= 3 && sqlite3_exec(s->db, sq_outbox_schema_v4, NULL, NULL, &err) != SQLITE_OK)
            goto fail;
    }
    snprintf(ver, sizeof(ver), "PRAGMA user_version=%d", SCHEMA_VERSION);
    if(sqlite3_exec(s->db, ver, NULL, NULL, &err) != SQLITE_OK ||
       sqlite3_exec(s->db, "COMMIT", NULL, NULL, &err) != SQLITE_OK)
        goto fail;
    return LG_OK;
fail:
    lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL,
                  "Cannot create or migrate the schema to version %d: %s", SCHEMA_VERSION,
                  err ? err : sqlite3_errmsg(s->db));
    sqlite3_free(err);
    if(!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return LG_EIO;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if(n == 0 || n >= sizeof(path))
        return -1;
    memcpy(path, dir, n + 1);
    for(size_t i = 1; i <= n; i++) {
        if(path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if(mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        path[i] = c;
    }
    struct stat sb;
    return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : -1;
}

/* Open s->db on path, configured, migrated, with the hot statements
 * prepared. On failure what was opened stays in s for free_conn. */
static lg_status open_db(sq_store *s, const char *path, lg_issues *issues)
{
    lg_status st = LG_EIO;
    char *err = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if(rc != SQLITE_OK) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot open %s: %s", path,
                      s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return st;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* WAL is what lets readers run beside the writer: refuse to run without
     * it (e.g. on a filesystem that cannot share memory maps). */
    /* Switching a new database to WAL needs an exclusive lock, and SQLite
     * does not call the busy handler for it: handles opening a new store at
     * once get SQLITE_BUSY straight away. Wait for the other one here
     * (bounded by the busy timeout). */
    int wal = 0;
    for(int waited = 0;; waited += 5) {
        sqlite3_stmt *jm = NULL;
        int rc2 = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &jm, NULL);
        if(rc2 == SQLITE_OK)
            rc2 = sqlite3_step(jm);
        wal = rc2 == SQLITE_ROW && sqlite3_column_text(jm, 0) &&
              strcmp((const char *)sqlite3_column_text(jm, 0), "wal") == 0;
        sqlite3_finalize(jm);
        int busy = (rc2 & 0xff) == SQLITE_BUSY || (rc2 & 0xff) == SQLITE_LOCKED;
        if(wal || !busy || waited >= BUSY_TIMEOUT_MS)
            break;
        sqlite3_sleep(5);
    }
    if(!wal) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL,
                      "Cannot put %s in WAL mode: %s", path, sqlite3_errmsg(s->db));
        return st;
    }
    if(sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL; "
                           "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY; "
                           "PRAGMA cache_size=-16384;", NULL, NULL, &err) != SQLITE_OK) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot configure %s: %s", path,
                      err ? err : "unknown");
        sqlite3_free(err);
        return st;
    }
    if(sqlite3_create_function_v2(s->db, "lg_norm", 1,
                                  SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                  sql_norm, NULL, NULL, NULL) != SQLITE_OK)
        return st;
    if((st = migrate(s, issues)) || (st = sq_facts_schema(s, issues)))
        return st;
    st = LG_EIO;
    for(int i = 0; i < SQ_NSTMT; i++)
        if(sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                              NULL) != SQLITE_OK) {
            lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot prepare: %s",
                          sqlite3_errmsg(s->db));
            return st;
        }
    sqlite3_wal_hook(s->db, on_wal_commit, s->wlock); /* replaces auto-checkpoint */
    return LG_OK;
}

lg_status lg_sqlite_open(const char *dir, lg_store **out, lg_issues *issues)
{
    char path[PATH_MAX], real[PATH_MAX];
    lg_status st = LG_EIO;
    *out = NULL;
    if(make_dirs(dir) != 0) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL,
                      "Cannot create the store directory '%s': %s",
                      dir, strerror(errno));
        return LG_EIO;
    }
    if(!realpath(dir, real) ||
       snprintf(path, sizeof(path), "%s/loopgate.db", real) >= (int)sizeof(path)) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Bad store directory '%s'", dir);
        return LG_EIO;
    }
    sq_store *s = calloc(1, sizeof(*s));
    if(!s)
        return LG_ENOMEM;
    s->base.ops = &sq_ops;
    int busy;
    if(!(s->wlock = lock_ref(real, &busy))) {
        st = busy ? LG_ECONFLICT : LG_EIO;
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL,
                      busy ? "Another process is using the store directory '%s' (%s/loopgate.lock)"
                           : "Cannot lock the store directory '%s' (%s/loopgate.lock)",
                      dir, real);
        goto fail;
    }
    if((st = open_db(s, path, issues)))
        goto fail;
    /* The first handle of the directory opens the shared writer connection. */
    pthread_mutex_lock(&s->wlock->mu);
    if(!s->wlock->writer) {
        sq_store *w = calloc(1, sizeof(*w));
        if(!w) {
            st = LG_ENOMEM;
        } else {
            w->base.ops = &sq_ops;
            w->wlock = s->wlock;
            w->is_writer = 1;
            if((st = open_db(w, path, issues)))
                free_conn(w);
            else
                s->wlock->writer = w;
        }
    }
    pthread_mutex_unlock(&s->wlock->mu);
    if(st)
        goto fail;
    *out = &s->base;
    return LG_OK;
fail:
    sq_close(&s->base);
    return st;
}
