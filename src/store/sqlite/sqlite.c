/* sqlite.c - the embedded SQLite backend of the store.
 *
 * Durability: WAL journal with synchronous=FULL, so COMMIT returns only after
 * the WAL is fsync'ed; a kill -9 (or power loss) after lg_store_commit loses
 * nothing. Concurrency: every worker thread has its own connection; writers
 * of one process are serialised by a mutex shared per database file (taken
 * in begin, released at commit/rollback) and use BEGIN IMMEDIATE, so no
 * writer ever waits in SQLite's sleeping busy handler. Readers run
 * concurrently with the writer thanks to WAL.
 *
 * Layout: res holds the current state of each logical resource, ver every
 * version with its JSON, idx the search index rows of current versions.
 * seq is a store-wide write counter: the order of versions, the paging key.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../store_backend.h"
#include "loopgate/buf.h"

#define SCHEMA_VERSION 1

/* ---- process-wide writer locks, one per database file ---- */

typedef struct writer_lock {
    char *path;
    pthread_mutex_t mu;
    int refs;
    struct writer_lock *next;
} writer_lock;

static pthread_mutex_t locks_mu = PTHREAD_MUTEX_INITIALIZER;
static writer_lock *locks;

static writer_lock *lock_acquire_ref(const char *path)
{
    pthread_mutex_lock(&locks_mu);
    writer_lock *l = locks;
    while(l && strcmp(l->path, path) != 0)
        l = l->next;
    if(!l && (l = calloc(1, sizeof(*l))) != NULL) {
        l->path = strdup(path);
        if(!l->path) {
            free(l);
            l = NULL;
        } else {
            pthread_mutex_init(&l->mu, NULL);
            l->next = locks;
            locks = l;
        }
    }
    if(l)
        l->refs++;
    pthread_mutex_unlock(&locks_mu);
    return l;
}

static void lock_release_ref(writer_lock *l)
{
    pthread_mutex_lock(&locks_mu);
    if(--l->refs == 0) {
        writer_lock **pp = &locks;
        while(*pp != l)
            pp = &(*pp)->next;
        *pp = l->next;
        pthread_mutex_destroy(&l->mu);
        free(l->path);
        free(l);
    }
    pthread_mutex_unlock(&locks_mu);
}

/* ---- handle ---- */

enum {
    S_READ, S_VREAD, S_LOOKUP, S_RES_INSERT, S_RES_UPDATE, S_VER_INSERT, S_IDX_DELETE,
    S_IDX_INSERT, S_MAX_SEQ, S_BEGIN, S_COMMIT, S_ROLLBACK, S_COUNT
};

static const char *const sql_text[S_COUNT] = {
    [S_READ] = "SELECT r.version, r.last_updated, r.seq, r.deleted, v.method, v.json "
               "FROM res r JOIN ver v ON v.rid = r.rid AND v.version = r.version "
               "WHERE r.type = ?1 AND r.id = ?2",
    [S_VREAD] = "SELECT v.version, v.last_updated, v.seq, v.deleted, v.method, v.json "
                "FROM res r JOIN ver v ON v.rid = r.rid "
                "WHERE r.type = ?1 AND r.id = ?2 AND v.version = ?3",
    [S_LOOKUP] = "SELECT rid, version FROM res WHERE type = ?1 AND id = ?2",
    [S_RES_INSERT] = "INSERT INTO res(type, id, version, last_updated, deleted, seq) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_RES_UPDATE] = "UPDATE res SET version = ?2, last_updated = ?3, deleted = ?4, seq = ?5 "
                     "WHERE rid = ?1",
    [S_VER_INSERT] = "INSERT INTO ver(rid, version, last_updated, deleted, seq, method, json) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_IDX_DELETE] = "DELETE FROM idx WHERE rid = ?1",
    [S_IDX_INSERT] = "INSERT INTO idx(rid, type, param, s1, s2, s3, lo, hi) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_MAX_SEQ] = "SELECT coalesce(max(seq), 0) FROM ver",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS res("
    "  rid INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL,"
    "  version INTEGER NOT NULL, last_updated INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL, seq INTEGER NOT NULL, UNIQUE(type, id));"
    "CREATE INDEX IF NOT EXISTS res_type_seq ON res(type, seq);"
    "CREATE INDEX IF NOT EXISTS res_type_lu ON res(type, last_updated, seq);"
    "CREATE TABLE IF NOT EXISTS ver("
    "  rid INTEGER NOT NULL, version INTEGER NOT NULL, last_updated INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL, seq INTEGER NOT NULL, method TEXT NOT NULL, json TEXT,"
    "  PRIMARY KEY(rid, version));"
    "CREATE UNIQUE INDEX IF NOT EXISTS ver_seq ON ver(seq);"
    "CREATE TABLE IF NOT EXISTS idx("
    "  rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,"
    "  s1 TEXT, s2 TEXT, s3 TEXT, lo INTEGER, hi INTEGER);"
    "CREATE INDEX IF NOT EXISTS idx_tok ON idx(type, param, s2, s1);"
    "CREATE INDEX IF NOT EXISTS idx_s1 ON idx(type, param, s1);"
    "CREATE INDEX IF NOT EXISTS idx_date ON idx(type, param, lo, hi);"
    "CREATE INDEX IF NOT EXISTS idx_rid ON idx(rid, param);";

typedef struct sq_store {
    lg_store base;
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    writer_lock *wlock;
    int in_txn;
} sq_store;

static lg_status sq_err(sq_store *s, int rc)
{
    (void)s;
    if(rc == SQLITE_NOMEM)
        return LG_ENOMEM;
    if(rc == SQLITE_CONSTRAINT)
        return LG_ECONFLICT;
    return LG_EIO;
}

static sqlite3_stmt *stmt(sq_store *s, int which)
{
    sqlite3_stmt *p = s->st[which];
    sqlite3_reset(p);
    sqlite3_clear_bindings(p);
    return p;
}

static void sq_close(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    if(s->in_txn) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->wlock->mu);
    }
    for(int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    if(s->wlock)
        lock_release_ref(s->wlock);
    free(s);
}

static lg_status sq_begin(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    if(s->in_txn)
        return LG_EINTERNAL;
    pthread_mutex_lock(&s->wlock->mu);
    int rc = sqlite3_step(stmt(s, S_BEGIN));
    if(rc != SQLITE_DONE) {
        pthread_mutex_unlock(&s->wlock->mu);
        return sq_err(s, rc);
    }
    s->in_txn = 1;
    return LG_OK;
}

static lg_status sq_commit(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    if(!s->in_txn)
        return LG_EINTERNAL;
    int rc = sqlite3_step(stmt(s, S_COMMIT));
    if(rc != SQLITE_DONE) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        rc = rc ? rc : SQLITE_ERROR;
    } else {
        rc = SQLITE_OK;
    }
    s->in_txn = 0;
    pthread_mutex_unlock(&s->wlock->mu);
    return rc == SQLITE_OK ? LG_OK : sq_err(s, rc);
}

static void sq_rollback(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    if(!s->in_txn)
        return;
    sqlite3_step(stmt(s, S_ROLLBACK));
    sqlite3_reset(s->st[S_ROLLBACK]);
    s->in_txn = 0;
    pthread_mutex_unlock(&s->wlock->mu);
}

static char *col_dup(sqlite3_stmt *p, int col, size_t *len)
{
    const unsigned char *t = sqlite3_column_text(p, col);
    int n = sqlite3_column_bytes(p, col);
    if(!t) {
        if(len)
            *len = 0;
        return NULL;
    }
    char *d = malloc((size_t)n + 1);
    if(d) {
        memcpy(d, t, (size_t)n);
        d[n] = '\0';
    }
    if(len)
        *len = (size_t)n;
    return d;
}

/* Columns: version, last_updated, seq, deleted, method, json (from col0). */
static lg_status fill(sqlite3_stmt *p, int col0, const char *type, const char *id, lg_resource *r)
{
    r->version = sqlite3_column_int64(p, col0);
    r->last_updated = sqlite3_column_int64(p, col0 + 1);
    r->seq = sqlite3_column_int64(p, col0 + 2);
    r->deleted = sqlite3_column_int(p, col0 + 3);
    const unsigned char *m = sqlite3_column_text(p, col0 + 4);
    snprintf(r->method, sizeof(r->method), "%s", m ? (const char *)m : "");
    r->type = strdup(type);
    r->id = strdup(id);
    r->json = r->deleted ? NULL : col_dup(p, col0 + 5, &r->json_len);
    if(!r->type || !r->id || (!r->deleted && !r->json)) {
        lg_resource_clear(r);
        return LG_ENOMEM;
    }
    return LG_OK;
}

static lg_status sq_read(lg_store *base, const char *type, const char *id, int64_t version,
                         lg_resource *out)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *p = stmt(s, version ? S_VREAD : S_READ);
    memset(out, 0, sizeof(*out));
    sqlite3_bind_text(p, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, id, -1, SQLITE_STATIC);
    if(version)
        sqlite3_bind_int64(p, 3, version);
    int rc = sqlite3_step(p);
    lg_status st;
    if(rc == SQLITE_ROW)
        st = fill(p, 0, type, id, out);
    else
        st = rc == SQLITE_DONE ? LG_ENOTFOUND : sq_err(s, rc);
    sqlite3_reset(p);
    return st;
}

static lg_status sq_max_seq(lg_store *base, int64_t *out)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *p = stmt(s, S_MAX_SEQ);
    int rc = sqlite3_step(p);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(p, 0) : 0;
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? LG_OK : sq_err(s, rc);
}

static void bind_opt(sqlite3_stmt *p, int i, const char *v)
{
    if(v)
        sqlite3_bind_text(p, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(p, i);
}

static lg_status sq_put(lg_store *base, const lg_store_write *w, int64_t *seq_out)
{
    sq_store *s = (sq_store *)base;
    int64_t rid = 0, cur = 0, seq;
    int rc;
    if(!s->in_txn)
        return LG_EINTERNAL;
    sqlite3_stmt *p = stmt(s, S_LOOKUP);
    sqlite3_bind_text(p, 1, w->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, w->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(p);
    if(rc == SQLITE_ROW) {
        rid = sqlite3_column_int64(p, 0);
        cur = sqlite3_column_int64(p, 1);
    } else if(rc != SQLITE_DONE) {
        return sq_err(s, rc);
    }
    sqlite3_reset(p);
    if(w->version != cur + 1)
        return LG_ECONFLICT;
    lg_status st = sq_max_seq(base, &seq);
    if(st)
        return st;
    seq++;
    if(rid == 0) {
        p = stmt(s, S_RES_INSERT);
        sqlite3_bind_text(p, 1, w->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 2, w->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(p, 3, w->version);
        sqlite3_bind_int64(p, 4, w->last_updated);
        sqlite3_bind_int(p, 5, w->deleted);
        sqlite3_bind_int64(p, 6, seq);
        if((rc = sqlite3_step(p)) != SQLITE_DONE)
            return sq_err(s, rc);
        rid = sqlite3_last_insert_rowid(s->db);
    } else {
        p = stmt(s, S_RES_UPDATE);
        sqlite3_bind_int64(p, 1, rid);
        sqlite3_bind_int64(p, 2, w->version);
        sqlite3_bind_int64(p, 3, w->last_updated);
        sqlite3_bind_int(p, 4, w->deleted);
        sqlite3_bind_int64(p, 5, seq);
        if((rc = sqlite3_step(p)) != SQLITE_DONE)
            return sq_err(s, rc);
    }
    p = stmt(s, S_VER_INSERT);
    sqlite3_bind_int64(p, 1, rid);
    sqlite3_bind_int64(p, 2, w->version);
    sqlite3_bind_int64(p, 3, w->last_updated);
    sqlite3_bind_int(p, 4, w->deleted);
    sqlite3_bind_int64(p, 5, seq);
    sqlite3_bind_text(p, 6, w->method ? w->method : "PUT", -1, SQLITE_STATIC);
    if(w->deleted || !w->json)
        sqlite3_bind_null(p, 7);
    else
        sqlite3_bind_text(p, 7, w->json, (int)w->json_len, SQLITE_STATIC);
    if((rc = sqlite3_step(p)) != SQLITE_DONE)
        return sq_err(s, rc);
    p = stmt(s, S_IDX_DELETE);
    sqlite3_bind_int64(p, 1, rid);
    if((rc = sqlite3_step(p)) != SQLITE_DONE)
        return sq_err(s, rc);
    if(!w->deleted && w->index) {
        for(size_t i = 0; i < w->index->count; i++) {
            const lg_index_entry *e = &w->index->items[i];
            p = stmt(s, S_IDX_INSERT);
            sqlite3_bind_int64(p, 1, rid);
            sqlite3_bind_text(p, 2, w->type, -1, SQLITE_STATIC);
            sqlite3_bind_text(p, 3, e->param, -1, SQLITE_STATIC);
            bind_opt(p, 4, e->s1);
            bind_opt(p, 5, e->s2);
            bind_opt(p, 6, e->s3);
            if(e->type == LG_SP_DATE || e->type == LG_SP_NUMBER || e->type == LG_SP_QUANTITY) {
                sqlite3_bind_int64(p, 7, e->lo);
                sqlite3_bind_int64(p, 8, e->hi);
            }
            if((rc = sqlite3_step(p)) != SQLITE_DONE)
                return sq_err(s, rc);
        }
    }
    sqlite3_reset(p);
    if(seq_out)
        *seq_out = seq;
    return LG_OK;
}

/* ---- search: lg_query → SQL with bound parameters only ---- */

typedef enum { B_TEXT, B_INT } bkind;
typedef struct bval {
    bkind k;
    const char *s;
    char *owned;
    int64_t i;
} bval;

typedef struct sqlq {
    lg_buf sql;
    bval *b;
    size_t nb, capb;
    lg_status st;
} sqlq;

static void add(sqlq *q, const char *s)
{
    if(!q->st)
        q->st = lg_buf_adds(&q->sql, s);
}

static void bind_slot(sqlq *q, bkind k, const char *s, char *owned, int64_t i)
{
    if(q->st)
        goto drop;
    if(q->nb == q->capb) {
        size_t n = q->capb ? q->capb * 2 : 16;
        bval *nb = realloc(q->b, n * sizeof(*nb));
        if(!nb) {
            q->st = LG_ENOMEM;
            goto drop;
        }
        q->b = nb;
        q->capb = n;
    }
    q->b[q->nb++] = (bval){.k = k, .s = owned ? owned : s, .owned = owned, .i = i};
    q->st = lg_buf_adds(&q->sql, "?");
    return;
drop:
    free(owned);
}

static void add_text(sqlq *q, const char *s) { bind_slot(q, B_TEXT, s, NULL, 0); }
static void add_owned(sqlq *q, char *s)
{
    if(!s && !q->st)
        q->st = LG_ENOMEM;
    bind_slot(q, B_TEXT, NULL, s, 0);
}
static void add_int(sqlq *q, int64_t i) { bind_slot(q, B_INT, NULL, NULL, i); }

/* Range condition for prefix on columns lo/hi against value [vlo, vhi]. */
static void range_cond(sqlq *q, const char *lo, const char *hi, lg_prefix pfx, int64_t vlo,
                       int64_t vhi)
{
    char a[96];
    switch(pfx) {
    case LG_PFX_EQ:
    case LG_PFX_NE:
        snprintf(a, sizeof(a), "%s(%s >= ", pfx == LG_PFX_NE ? "NOT " : "", lo);
        add(q, a); add_int(q, vlo);
        snprintf(a, sizeof(a), " AND %s <= ", hi);
        add(q, a); add_int(q, vhi); add(q, ")");
        break;
    case LG_PFX_GT: snprintf(a, sizeof(a), "%s > ", hi); add(q, a); add_int(q, vhi); break;
    case LG_PFX_LT: snprintf(a, sizeof(a), "%s < ", lo); add(q, a); add_int(q, vlo); break;
    case LG_PFX_GE: snprintf(a, sizeof(a), "%s >= ", hi); add(q, a); add_int(q, vlo); break;
    case LG_PFX_LE: snprintf(a, sizeof(a), "%s <= ", lo); add(q, a); add_int(q, vhi); break;
    case LG_PFX_SA: snprintf(a, sizeof(a), "%s > ", lo); add(q, a); add_int(q, vhi); break;
    case LG_PFX_EB: snprintf(a, sizeof(a), "%s < ", hi); add(q, a); add_int(q, vlo); break;
    case LG_PFX_AP: {
        /* approximately: overlap with the value widened by 10% of its distance from now */
        int64_t w = (vhi - vlo) / 10 + 1;
        snprintf(a, sizeof(a), "(%s <= ", lo); add(q, a); add_int(q, vhi + w);
        snprintf(a, sizeof(a), " AND %s >= ", hi); add(q, a); add_int(q, vlo - w); add(q, ")");
        break;
    }
    }
}

static char *like_escape(const char *s, int prefix_only)
{
    size_t n = strlen(s);
    char *o = malloc(n * 2 + 3), *p = o;
    if(!o)
        return NULL;
    if(!prefix_only)
        *p++ = '%';
    for(; *s; s++) {
        if(*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '%';
    *p = '\0';
    return o;
}

/* One value's match condition on an idx row aliased i. */
static void value_cond(sqlq *q, const lg_query_param *qp, const lg_query_value *v)
{
    switch(qp->type) {
    case LG_SP_TOKEN:
        if(qp->modifier == LG_MOD_TEXT) {
            add(q, "i.s3 LIKE "); add_owned(q, like_escape(v->s3 ? v->s3 : v->s2 ? v->s2 : "", 0));
            add(q, " ESCAPE '\\'");
            break;
        }
        add(q, "(1");
        if(v->s1) { add(q, " AND i.s1 = "); add_text(q, v->s1); }
        if(v->s2) { add(q, " AND i.s2 = "); add_text(q, v->s2); }
        add(q, ")");
        break;
    case LG_SP_REFERENCE:
        add(q, "(");
        if(v->s2) {
            add(q, "(i.s2 = "); add_text(q, v->s2);
            const char *t = v->s1 ? v->s1 : qp->type_modifier;
            if(t) { add(q, " AND i.s1 = "); add_text(q, t); }
            add(q, ")");
            if(v->s3) add(q, " OR ");
        }
        if(v->s3) { add(q, "i.s3 = "); add_text(q, v->s3); }
        if(!v->s2 && !v->s3) add(q, "0");
        add(q, ")");
        break;
    case LG_SP_STRING:
        if(qp->modifier == LG_MOD_EXACT) {
            add(q, "i.s2 = "); add_text(q, v->s2 ? v->s2 : "");
        } else if(qp->modifier == LG_MOD_CONTAINS) {
            add(q, "i.s1 LIKE "); add_owned(q, like_escape(v->s1 ? v->s1 : "", 0));
            add(q, " ESCAPE '\\'");
        } else {
            /* Prefix match as a range, so the idx_s1 index serves it:
             * every string starting with p sorts in [p, p + U+10FFFF). */
            const char *pre = v->s1 ? v->s1 : "";
            char *hi = NULL;
            if(asprintf(&hi, "%s\xf4\x8f\xbf\xbf", pre) < 0)
                hi = NULL;
            add(q, "(i.s1 >= "); add_text(q, pre); add(q, " AND i.s1 < "); add_owned(q, hi);
            add(q, ")");
        }
        break;
    case LG_SP_URI:
        add(q, "i.s1 = "); add_text(q, v->s1 ? v->s1 : "");
        break;
    case LG_SP_DATE:
    case LG_SP_NUMBER:
    case LG_SP_QUANTITY:
        add(q, "(");
        range_cond(q, "i.lo", "i.hi", v->prefix, v->lo, v->hi);
        if(qp->type == LG_SP_QUANTITY && v->s3) { add(q, " AND i.s3 = "); add_text(q, v->s3); }
        if(qp->type == LG_SP_QUANTITY && v->s2) { add(q, " AND i.s2 = "); add_text(q, v->s2); }
        add(q, ")");
        break;
    default:
        add(q, "0");
    }
}

static void param_cond(sqlq *q, const lg_query *qq, const lg_query_param *qp)
{
    if(strcmp(qp->code, "_id") == 0) {
        add(q, qp->modifier == LG_MOD_NOT ? " AND r.id NOT IN (" : " AND r.id IN (");
        for(size_t k = 0; k < qp->nvalues; k++) {
            if(k) add(q, ",");
            add_text(q, qp->values[k].s2 ? qp->values[k].s2 : "");
        }
        add(q, ")");
        return;
    }
    if(strcmp(qp->code, "_lastUpdated") == 0) {
        add(q, " AND (");
        for(size_t k = 0; k < qp->nvalues; k++) {
            if(k) add(q, " OR ");
            range_cond(q, "r.last_updated", "r.last_updated", qp->values[k].prefix,
                       qp->values[k].lo, qp->values[k].hi);
        }
        add(q, ")");
        return;
    }
    if(qp->modifier == LG_MOD_MISSING) {
        for(size_t k = 0; k < qp->nvalues; k++) {
            add(q, qp->values[k].missing ? " AND NOT EXISTS" : " AND EXISTS");
            add(q, "(SELECT 1 FROM idx i WHERE i.rid = r.rid AND i.param = ");
            add_text(q, qp->code);
            add(q, ")");
        }
        return;
    }
    add(q, qp->modifier == LG_MOD_NOT ? " AND r.rid NOT IN" : " AND r.rid IN");
    add(q, "(SELECT i.rid FROM idx i WHERE i.type = ");
    add_text(q, qq->type);
    add(q, " AND i.param = ");
    add_text(q, qp->code);
    add(q, " AND (");
    for(size_t k = 0; k < qp->nvalues; k++) {
        if(k) add(q, " OR ");
        value_cond(q, qp, &qp->values[k]);
    }
    if(qp->nvalues == 0) add(q, "1");
    add(q, "))");
}

static lg_status sq_search(lg_store *base, const lg_query *qq, lg_resource_list *out,
                           int64_t *total, lg_issues *issues)
{
    sq_store *s = (sq_store *)base;
    sqlq q = {0};
    sqlite3_stmt *p = NULL;
    lg_status st = LG_OK;
    lg_buf_init(&q.sql, 4u << 20);
    add(&q, out ? "SELECT r.type, r.id, r.version, r.last_updated, r.seq, r.deleted, v.method, "
                  "v.json FROM res r JOIN ver v ON v.rid = r.rid AND v.version = r.version "
                : "SELECT count(*) FROM res r ");
    add(&q, "WHERE r.type = ");
    add_text(&q, qq->type);
    add(&q, " AND r.deleted = 0");
    if(qq->max_seq > 0) {
        add(&q, " AND r.seq <= ");
        add_int(&q, qq->max_seq);
    }
    for(size_t i = 0; i < qq->nparams; i++)
        param_cond(&q, qq, &qq->params[i]);
    if(out) {
        if(qq->has_cursor) {
            if(qq->sort == LG_SORT_NONE) {
                add(&q, " AND r.seq > "); add_int(&q, qq->after_seq);
            } else {
                const char *op = qq->sort == LG_SORT_LASTUPDATED_ASC ? ">" : "<";
                char a[64];
                snprintf(a, sizeof(a), " AND (r.last_updated %s ", op);
                add(&q, a); add_int(&q, qq->after_key);
                add(&q, " OR (r.last_updated = "); add_int(&q, qq->after_key);
                snprintf(a, sizeof(a), " AND r.seq %s ", op);
                add(&q, a); add_int(&q, qq->after_seq); add(&q, "))");
            }
        }
        add(&q, qq->sort == LG_SORT_LASTUPDATED_ASC    ? " ORDER BY r.last_updated, r.seq"
                : qq->sort == LG_SORT_LASTUPDATED_DESC ? " ORDER BY r.last_updated DESC, r.seq DESC"
                                                       : " ORDER BY r.seq");
        add(&q, " LIMIT ");
        add_int(&q, (int64_t)(qq->count > 0 ? qq->count : 0) + 1);
    }
    if((st = q.st))
        goto out;
    int rc = sqlite3_prepare_v2(s->db, q.sql.data, (int)q.sql.len, &p, NULL);
    if(rc != SQLITE_OK) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "search could not be prepared: %s",
                      sqlite3_errmsg(s->db));
        st = sq_err(s, rc);
        goto out;
    }
    for(size_t i = 0; i < q.nb; i++) {
        if(q.b[i].k == B_INT)
            sqlite3_bind_int64(p, (int)i + 1, q.b[i].i);
        else
            sqlite3_bind_text(p, (int)i + 1, q.b[i].s, -1, SQLITE_STATIC);
    }
    while((rc = sqlite3_step(p)) == SQLITE_ROW) {
        if(!out) {
            *total = sqlite3_column_int64(p, 0);
            continue;
        }
        lg_resource *r = lg_resource_list_push(out);
        if(!r || fill(p, 2, (const char *)sqlite3_column_text(p, 0),
                      (const char *)sqlite3_column_text(p, 1), r)) {
            if(r)
                out->count--;
            st = LG_ENOMEM;
            goto out;
        }
    }
    if(rc != SQLITE_DONE)
        st = sq_err(s, rc);
out:
    sqlite3_finalize(p);
    for(size_t i = 0; i < q.nb; i++)
        free(q.b[i].owned);
    free(q.b);
    lg_buf_free(&q.sql);
    return st;
}

static lg_status sq_history(lg_store *base, const char *type, const char *id, int64_t since,
                            int64_t before_seq, int count, lg_resource_list *out)
{
    sq_store *s = (sq_store *)base;
    char sql[512];
    sqlite3_stmt *p = NULL;
    int n = 1;
    snprintf(sql, sizeof(sql),
             "SELECT r.type, r.id, v.version, v.last_updated, v.seq, v.deleted, v.method, v.json "
             "FROM ver v JOIN res r ON r.rid = v.rid WHERE 1%s%s%s%s "
             "ORDER BY v.seq DESC LIMIT ?",
             type ? " AND r.type = ?" : "", id ? " AND r.id = ?" : "",
             since ? " AND v.last_updated >= ?" : "", before_seq ? " AND v.seq < ?" : "");
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &p, NULL);
    if(rc != SQLITE_OK)
        return sq_err(s, rc);
    if(type) sqlite3_bind_text(p, n++, type, -1, SQLITE_STATIC);
    if(id) sqlite3_bind_text(p, n++, id, -1, SQLITE_STATIC);
    if(since) sqlite3_bind_int64(p, n++, since);
    if(before_seq) sqlite3_bind_int64(p, n++, before_seq);
    sqlite3_bind_int64(p, n, (int64_t)count + 1);
    lg_status st = LG_OK;
    while((rc = sqlite3_step(p)) == SQLITE_ROW) {
        lg_resource *r = lg_resource_list_push(out);
        if(!r || fill(p, 2, (const char *)sqlite3_column_text(p, 0),
                      (const char *)sqlite3_column_text(p, 1), r)) {
            if(r)
                out->count--;
            st = LG_ENOMEM;
            break;
        }
    }
    if(!st && rc != SQLITE_DONE)
        st = sq_err(s, rc);
    sqlite3_finalize(p);
    return st;
}

static const lg_store_ops sq_ops = {
    .close = sq_close, .begin = sq_begin, .commit = sq_commit, .rollback = sq_rollback,
    .read = sq_read, .put = sq_put, .search = sq_search, .history = sq_history,
    .max_seq = sq_max_seq,
};

static lg_status migrate(sq_store *s, lg_issues *issues)
{
    sqlite3_stmt *p = NULL;
    int have = 0;
    if(sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &p, NULL) == SQLITE_OK &&
       sqlite3_step(p) == SQLITE_ROW)
        have = sqlite3_column_int(p, 0);
    sqlite3_finalize(p);
    if(have > SCHEMA_VERSION) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL,
                      "The database schema (version %d) is newer than this Loopgate (%d)", have,
                      SCHEMA_VERSION);
        return LG_EUNSUPPORTED;
    }
    if(have == SCHEMA_VERSION)
        return LG_OK;
    /* Two processes may race to create the schema: serialise on the file lock. */
    char *err = NULL;
    char sql[sizeof(schema) + 128];
    snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%sPRAGMA user_version=%d;COMMIT;", schema,
             SCHEMA_VERSION);
    if(sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot create the schema: %s",
                      err ? err : "unknown");
        sqlite3_free(err);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return LG_EIO;
    }
    return LG_OK;
}

lg_status lg_sqlite_open(const char *dir, lg_store **out, lg_issues *issues)
{
    char path[PATH_MAX], real[PATH_MAX];
    lg_status st = LG_EIO;
    *out = NULL;
    if(mkdir(dir, 0700) != 0 && errno != EEXIST) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot create '%s': %s", dir,
                      strerror(errno));
        return LG_EIO;
    }
    if(!realpath(dir, real) || snprintf(path, sizeof(path), "%s/loopgate.db", real) >=
                                   (int)sizeof(path)) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Bad store directory '%s'", dir);
        return LG_EIO;
    }
    sq_store *s = calloc(1, sizeof(*s));
    if(!s)
        return LG_ENOMEM;
    s->base.ops = &sq_ops;
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if(rc != SQLITE_OK) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot open %s: %s", path,
                      s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 10000); /* other processes only; ours use the mutex */
    char *err = NULL;
    if(sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                           "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY; "
                           "PRAGMA cache_size=-16384;", NULL, NULL, &err) != SQLITE_OK) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot configure %s: %s", path,
                      err ? err : "unknown");
        sqlite3_free(err);
        goto fail;
    }
    if((st = migrate(s, issues)))
        goto fail;
    st = LG_EIO;
    for(int i = 0; i < S_COUNT; i++)
        if(sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                              NULL) != SQLITE_OK) {
            lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL, "Cannot prepare: %s",
                          sqlite3_errmsg(s->db));
            goto fail;
        }
    if(!(s->wlock = lock_acquire_ref(path))) {
        st = LG_ENOMEM;
        goto fail;
    }
    *out = &s->base;
    return LG_OK;
fail:
    sq_close(&s->base);
    return st;
}
