/* facts.c - the SQLite tables behind the closed-loop report (store.h,
 * "closed-loop report facts"): one row per referral and one per child,
 * written by the REST layer in the same transaction as the resources they
 * come from, read back by one range scan.
 *
 *   report_child(child PRIMARY KEY, race, ethnicity, language, county,
 *                phm_tier, population)                 -- source of truth
 *   report_referral(created_ms, referral,              -- PRIMARY KEY, so the
 *                   task, child, organization,         -- table is stored in
 *                   first_response_ms, closed_ms,      -- created_ms order
 *                   loop, not_served, category,
 *                   demo, race, ethnicity, language,   -- the child's row as
 *                   county, phm_tier, population)      -- of the last write
 *   UNIQUE(referral), INDEX(child)
 *
 * Why this layout: the report reads every referral of a period. With a
 * rowid table and an index on created_ms, SQLite fetched each row by rowid
 * (random access) and joined each child by primary key: 1,000,000 rows cost
 * ~5 s of CPU. Clustering the table by (created_ms, referral) makes the scan
 * one sequential range read, and the join is done at write time instead: a
 * referral row copies its child's demographics when written, and a write of
 * the child's row (a Patient write) updates all of that child's referral
 * rows through the child index - a handful of rows, once per Patient write,
 * instead of a million look-ups per report. The scan still hands out the
 * child's facts separately (NULL when the child has no row: demo = 0), as
 * the store.h contract says.
 *
 * The tables are created (if missing) when a connection opens, independently
 * of the main schema's user_version, so they can be added to an existing
 * store without a migration step. Statements are prepared on first use per
 * connection and finalised with it.
 */
#include <stdio.h>
#include <string.h>

#include "sq.h"

/* created_ms is never NULL here: INT64_MIN stands for "unknown". */
static const char facts_schema[] =
    "CREATE TABLE IF NOT EXISTS report_child("
    "  child TEXT PRIMARY KEY, race TEXT, ethnicity TEXT, language TEXT, county TEXT,"
    "  phm_tier INTEGER NOT NULL, population INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS report_referral("
    "  created_ms INTEGER NOT NULL, referral TEXT NOT NULL, task TEXT, child TEXT,"
    "  organization TEXT, first_response_ms INTEGER, closed_ms INTEGER,"
    "  loop INTEGER NOT NULL, not_served INTEGER NOT NULL, category INTEGER NOT NULL,"
    "  demo INTEGER NOT NULL DEFAULT 0, race TEXT, ethnicity TEXT, language TEXT, county TEXT,"
    "  phm_tier INTEGER NOT NULL DEFAULT 0, population INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(created_ms, referral)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX IF NOT EXISTS report_referral_id ON report_referral(referral);"
    "CREATE INDEX IF NOT EXISTS report_referral_child ON report_referral(child);";

#define CHILD_COLS "demo = (c.child IS NOT NULL), race = c.race, ethnicity = c.ethnicity," \
                   " language = c.language, county = c.county, phm_tier = coalesce(c.phm_tier, 0)," \
                   " population = coalesce(c.population, 0)"

static const char *const facts_sql[SQ_NFACTS] = {
    [SQF_PUT] = "INSERT INTO report_referral(created_ms, referral, task, child, organization,"
                " first_response_ms, closed_ms, loop, not_served, category)"
                " VALUES(?5, ?1, ?2, ?3, ?4, ?6, ?7, ?8, ?9, ?10)"
                " ON CONFLICT(referral) DO UPDATE SET task = ?2, child = ?3, organization = ?4,"
                " created_ms = ?5, first_response_ms = ?6, closed_ms = ?7, loop = ?8,"
                " not_served = ?9, category = ?10",
    /* the child's demographics onto the referral's row (after SQF_PUT) */
    [SQF_PUT_DEMO] = "UPDATE report_referral SET " CHILD_COLS
                     " FROM (SELECT ?2 AS k) LEFT JOIN report_child c ON c.child = k"
                     " WHERE referral = ?1",
    [SQF_TIMES] = "SELECT created_ms, first_response_ms, closed_ms FROM report_referral"
                  " WHERE referral = ?1",
    [SQF_DELETE] = "DELETE FROM report_referral WHERE referral = ?1",
    [SQF_CHILD_PUT] = "INSERT OR REPLACE INTO report_child(child, race, ethnicity, language,"
                      " county, phm_tier, population) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQF_CHILD_DELETE] = "DELETE FROM report_child WHERE child = ?1",
    /* every referral row of the child, from the child's row (or none) */
    [SQF_CHILD_SPREAD] = "UPDATE report_referral SET " CHILD_COLS
                         " FROM (SELECT ?1 AS k) LEFT JOIN report_child c ON c.child = k"
                         " WHERE report_referral.child = ?1",
    [SQF_SCAN] = "SELECT referral, task, child, organization, created_ms, first_response_ms,"
                 " closed_ms, loop, not_served, category, demo, race, ethnicity, language, county,"
                 " phm_tier, population FROM report_referral"
                 " WHERE created_ms >= ?1 AND created_ms < ?2 ORDER BY created_ms",
};

lg_status sq_facts_schema(sq_store *s, lg_issues *issues)
{
    /* Look first: creating takes the write lock, which a running batch may
     * hold; the tables exist on every open but the first. */
    sqlite3_stmt *p = NULL;
    int have = 0;
    if(sqlite3_prepare_v2(s->db,
                          "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                          " ('report_referral', 'report_child')",
                          -1, &p, NULL) == SQLITE_OK &&
       sqlite3_step(p) == SQLITE_ROW)
        have = sqlite3_column_int(p, 0);
    sqlite3_finalize(p);
    if(have == 2)
        return LG_OK;
    char *err = NULL;
    char sql[sizeof(facts_schema) + 32];
    snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%sCOMMIT;", facts_schema);
    if(sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        lg_issues_add(issues, LG_SEV_FATAL, "exception", NULL,
                      "Cannot create the report tables: %s", err ? err : "unknown");
        sqlite3_free(err);
        if(!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return LG_EIO;
    }
    return LG_OK;
}

void sq_facts_finalize(sq_store *s)
{
    for(int i = 0; i < SQ_NFACTS; i++) {
        sqlite3_finalize(s->facts[i]);
        s->facts[i] = NULL;
    }
}

/* The statement `which` of connection s, prepared on first use, reset and
 * unbound; NULL when it cannot be prepared. */
static sqlite3_stmt *fstmt(sq_store *s, int which)
{
    if(!s->facts[which] &&
       sqlite3_prepare_v3(s->db, facts_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                          &s->facts[which], NULL) != SQLITE_OK)
        return NULL;
    sqlite3_stmt *p = s->facts[which];
    sqlite3_reset(p);
    sqlite3_clear_bindings(p);
    return p;
}

static void bind_text(sqlite3_stmt *p, int i, const char *v)
{
    if(v && *v)
        sqlite3_bind_text(p, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(p, i);
}

static void bind_time(sqlite3_stmt *p, int i, int64_t v)
{
    if(v == INT64_MIN)
        sqlite3_bind_null(p, i);
    else
        sqlite3_bind_int64(p, i, v);
}

static int64_t col_time(sqlite3_stmt *p, int col)
{
    return sqlite3_column_type(p, col) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(p, col);
}

static lg_status run(sqlite3_stmt *p)
{
    int rc = sqlite3_step(p);
    sqlite3_reset(p);
    return rc == SQLITE_DONE ? LG_OK : sq_status(rc);
}

/* Writes go through the writer connection of the open transaction. */
static sq_store *writer_of(lg_store *base)
{
    sq_store *s = (sq_store *)base;
    return s->in_txn ? sq_conn(s) : NULL;
}

lg_status sq_fact_put(lg_store *base, const lg_store_referral_fact *f)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = fstmt(s, SQF_PUT)))
        return LG_EIO;
    bind_text(p, 1, f->referral_id);
    bind_text(p, 2, f->task_id);
    bind_text(p, 3, f->child_id);
    bind_text(p, 4, f->organization);
    sqlite3_bind_int64(p, 5, f->created_ms);
    bind_time(p, 6, f->first_response_ms);
    bind_time(p, 7, f->closed_ms);
    sqlite3_bind_int(p, 8, f->loop);
    sqlite3_bind_int(p, 9, f->not_served);
    sqlite3_bind_int(p, 10, f->category);
    lg_status st = run(p);
    if(st)
        return st;
    if(!(p = fstmt(s, SQF_PUT_DEMO)))
        return LG_EIO;
    sqlite3_bind_text(p, 1, f->referral_id, -1, SQLITE_STATIC);
    bind_text(p, 2, f->child_id);
    return run(p);
}

lg_status sq_fact_times(lg_store *base, const char *referral_id, int64_t times[3])
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = fstmt(s, SQF_TIMES);
    if(!p)
        return LG_EIO;
    sqlite3_bind_text(p, 1, referral_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(p);
    lg_status st = rc == SQLITE_ROW ? LG_OK : rc == SQLITE_DONE ? LG_ENOTFOUND : sq_status(rc);
    if(rc == SQLITE_ROW)
        for(int i = 0; i < 3; i++)
            times[i] = col_time(p, i); /* created_ms is INT64_MIN itself when unknown */
    sqlite3_reset(p);
    return st;
}

static lg_status delete_by(lg_store *base, int which, const char *key)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = fstmt(s, which)))
        return LG_EIO;
    sqlite3_bind_text(p, 1, key, -1, SQLITE_STATIC);
    return run(p);
}

lg_status sq_fact_delete(lg_store *base, const char *referral_id)
{
    return delete_by(base, SQF_DELETE, referral_id);
}

/* Copy the child's row (or its absence) onto its referral rows. */
static lg_status spread(lg_store *base, const char *child_id)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = fstmt(s, SQF_CHILD_SPREAD)))
        return LG_EIO;
    sqlite3_bind_text(p, 1, child_id, -1, SQLITE_STATIC);
    return run(p);
}

lg_status sq_child_delete(lg_store *base, const char *child_id)
{
    lg_status st = delete_by(base, SQF_CHILD_DELETE, child_id);
    return st ? st : spread(base, child_id);
}

lg_status sq_child_put(lg_store *base, const lg_store_child_facts *c)
{
    sq_store *s = writer_of(base);
    sqlite3_stmt *p;
    if(!s)
        return LG_EINTERNAL;
    if(!(p = fstmt(s, SQF_CHILD_PUT)))
        return LG_EIO;
    bind_text(p, 1, c->child_id);
    bind_text(p, 2, c->race);
    bind_text(p, 3, c->ethnicity);
    bind_text(p, 4, c->language);
    bind_text(p, 5, c->county);
    sqlite3_bind_int(p, 6, c->phm_tier);
    sqlite3_bind_int(p, 7, c->population);
    lg_status st = run(p);
    return st ? st : spread(base, c->child_id);
}

lg_status sq_fact_scan(lg_store *base, int64_t start_ms, int64_t end_ms, lg_store_fact_fn fn,
                              void *ctx)
{
    /* One statement is one read transaction: the rows are a consistent
     * snapshot without an explicit BEGIN. The primary key (created_ms,
     * referral) makes it a sequential range read. */
    sq_store *s = sq_conn((sq_store *)base);
    sqlite3_stmt *p = fstmt(s, SQF_SCAN);
    if(!p)
        return LG_EIO;
    sqlite3_bind_int64(p, 1, start_ms);
    sqlite3_bind_int64(p, 2, end_ms);
    lg_status st = LG_OK;
    int rc;
#define TXT(i) ((const char *)sqlite3_column_text(p, (i)))
    while((rc = sqlite3_step(p)) == SQLITE_ROW) {
        lg_store_referral_fact f = {
            .referral_id = TXT(0), .task_id = TXT(1), .child_id = TXT(2),
            .organization = TXT(3), .created_ms = sqlite3_column_int64(p, 4),
            .first_response_ms = col_time(p, 5), .closed_ms = col_time(p, 6),
            .loop = sqlite3_column_int(p, 7), .not_served = sqlite3_column_int(p, 8),
            .category = sqlite3_column_int(p, 9),
        };
        lg_store_child_facts c = {
            .child_id = f.child_id, .race = TXT(11), .ethnicity = TXT(12), .language = TXT(13),
            .county = TXT(14), .phm_tier = sqlite3_column_int(p, 15),
            .population = sqlite3_column_int(p, 16),
        };
        if(fn(&f, sqlite3_column_int(p, 10) && c.child_id ? &c : NULL, ctx)) {
            st = LG_EINTERNAL;
            break;
        }
    }
#undef TXT
    if(!st && rc != SQLITE_DONE)
        st = sq_status(rc);
    sqlite3_reset(p);
    return st;
}
