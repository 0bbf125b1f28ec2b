/* Unit tests for the forwarding tables of the SQLite store (store.h,
 * "forwarding outbox", src/store/sqlite/outbox.c): the outbox (add, get,
 * due with per-task order, next_due, update, replay, counts, list), the
 * forward links, the inbound events, transactions (rollback, reopen) and
 * the in-place migration of a schema-2 store. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/store.h"

static lg_store *st;
static char dir[] = "/tmp/lg-outbox-XXXXXX";

static void setup(void)
{
    lg_issues is = {0};
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(lg_store_open(dir, &st, &is), LG_OK);
    lg_issues_free(&is);
}

static void teardown(void)
{
    char cmd[128];
    lg_store_close(st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(store_outbox, .init = setup, .fini = teardown);

/* Add one job in its own transaction; returns its id. */
static int64_t add(const char *platform, const char *task, int64_t created, int64_t next_at)
{
    lg_outbox_job j = {.platform = (char *)platform, .kind = "create", .task_id = (char *)task,
                       .referral_id = "sr-1", .target = "prog-9", .created_ms = created,
                       .next_at_ms = next_at};
    int64_t id = 0;
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_add(st, &j, &id), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    cr_assert_gt(id, 0);
    return id;
}

static void update(int64_t id, lg_outbox_state state, int attempts, int64_t next_at,
                   const char *err, const char *remote, int64_t now)
{
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_update(st, id, state, attempts, next_at, err, remote, now), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
}

Test(store_outbox, add_and_get)
{
    int64_t a = add("uniteus", "t1", 1000, 1000);
    int64_t b = add("findhelp", "t2", 1001, 1500);
    cr_assert_gt(b, a, "ids increase in creation order");
    lg_outbox_job j;
    cr_assert_eq(lg_store_outbox_get(st, a, &j), LG_OK);
    cr_assert_eq(j.id, a);
    cr_assert_str_eq(j.platform, "uniteus");
    cr_assert_str_eq(j.kind, "create");
    cr_assert_str_eq(j.task_id, "t1");
    cr_assert_str_eq(j.referral_id, "sr-1");
    cr_assert_str_eq(j.target, "prog-9");
    cr_assert_null(j.remote_id);
    cr_assert_null(j.last_error);
    cr_assert_eq(j.state, LG_OUTBOX_PENDING);
    cr_assert_eq(j.attempts, 0);
    cr_assert_eq(j.created_ms, 1000);
    cr_assert_eq(j.next_at_ms, 1000);
    cr_assert_eq(j.updated_ms, 1000);
    lg_outbox_job_clear(&j);
    cr_assert_eq(lg_store_outbox_get(st, b + 100, &j), LG_ENOTFOUND);
    cr_assert_eq(lg_store_outbox_get(st, 0, &j), LG_ENOTFOUND);
}

Test(store_outbox, add_refuses_missing_and_absurd)
{
    cr_assert_eq(lg_store_begin(st), LG_OK);
    lg_outbox_job j = {.platform = "p", .kind = "create", .task_id = NULL};
    cr_assert_eq(lg_store_outbox_add(st, &j, NULL), LG_EINVAL);
    j.task_id = "t";
    j.kind = "";
    cr_assert_eq(lg_store_outbox_add(st, &j, NULL), LG_EINVAL);
    j.kind = "create";
    char *big = malloc(LG_STORE_KEY_MAX + 2);
    cr_assert_not_null(big);
    memset(big, 'x', LG_STORE_KEY_MAX + 1);
    big[LG_STORE_KEY_MAX + 1] = '\0';
    j.target = big;
    cr_assert_eq(lg_store_outbox_add(st, &j, NULL), LG_EINVAL);
    big[LG_STORE_KEY_MAX] = '\0'; /* exactly the bound: accepted */
    int64_t id = 0;
    cr_assert_eq(lg_store_outbox_add(st, &j, &id), LG_OK);
    char *err = malloc(LG_STORE_TEXT_MAX + 2);
    cr_assert_not_null(err);
    memset(err, 'e', LG_STORE_TEXT_MAX + 1);
    err[LG_STORE_TEXT_MAX + 1] = '\0';
    cr_assert_eq(lg_store_outbox_update(st, id, LG_OUTBOX_PENDING, 1, 5, err, NULL, 5), LG_EINVAL);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    free(big);
    free(err);
}

Test(store_outbox, writes_need_a_transaction)
{
    lg_outbox_job j = {.platform = "p", .kind = "create", .task_id = "t"};
    cr_assert_neq(lg_store_outbox_add(st, &j, NULL), LG_OK);
    lg_outbox_list l = {0};
    cr_assert_eq(lg_store_outbox_list(st, -1, NULL, 0, 10, &l), LG_OK);
    cr_assert_eq(l.count, 0);
}

Test(store_outbox, due_in_order_and_one_per_task)
{
    int64_t t1a = add("p", "t1", 100, 100);
    int64_t t2a = add("p", "t2", 101, 50);
    int64_t t1b = add("p", "t1", 102, 10);  /* due early, but behind t1a */
    int64_t t3a = add("p", "t3", 103, 5000); /* not due yet */
    lg_outbox_list l = {0};
    cr_assert_eq(lg_store_outbox_due(st, 1000, 10, &l), LG_OK);
    cr_assert_eq(l.count, 2);
    cr_assert_eq(l.items[0].id, t2a, "earliest next_at first");
    cr_assert_eq(l.items[1].id, t1a, "only the oldest pending job of t1");
    lg_outbox_list_clear(&l);
    /* max bounds the answer */
    cr_assert_eq(lg_store_outbox_due(st, 1000, 1, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_eq(l.items[0].id, t2a);
    lg_outbox_list_clear(&l);
    /* before anything is due */
    cr_assert_eq(lg_store_outbox_due(st, 49, 10, &l), LG_OK);
    cr_assert_eq(l.count, 0);
    /* t1a delivered: t1b becomes t1's head */
    update(t1a, LG_OUTBOX_DONE, 1, 0, NULL, "R-1", 1001);
    cr_assert_eq(lg_store_outbox_due(st, 1001, 10, &l), LG_OK);
    cr_assert_eq(l.count, 2);
    cr_assert_eq(l.items[0].id, t1b);
    cr_assert_eq(l.items[1].id, t2a);
    lg_outbox_list_clear(&l);
    /* t1b's retry later: not due now */
    update(t1b, LG_OUTBOX_PENDING, 1, 3000, "HTTP 503", NULL, 1002);
    cr_assert_eq(lg_store_outbox_due(st, 1002, 10, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_eq(l.items[0].id, t2a);
    lg_outbox_list_clear(&l);
    cr_assert_eq(lg_store_outbox_due(st, 6000, 10, &l), LG_OK);
    cr_assert_eq(l.count, 3);
    cr_assert_eq(l.items[0].id, t2a);
    cr_assert_eq(l.items[1].id, t1b);
    cr_assert_eq(l.items[2].id, t3a);
    lg_outbox_list_clear(&l);
}

/* The query plan of sql on the store's database, one text. */
static void plan_of(const char *sql, char *out, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/loopgate.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *p = NULL;
    out[0] = '\0';
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &p, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    size_t n = 0;
    while(sqlite3_step(p) == SQLITE_ROW && n < len) {
        const char *d = (const char *)sqlite3_column_text(p, 3);
        int w = snprintf(out + n, len - n, "%s; ", d ? d : "");
        if(w < 0)
            break;
        n += (size_t)w;
    }
    sqlite3_finalize(p);
    sqlite3_close(db);
}

Test(store_outbox, due_per_platform)
{
    /* Platform a: a backlog of due jobs; platform b: two tasks. */
    int64_t a[20];
    char task[16];
    for(int i = 0; i < 20; i++) {
        snprintf(task, sizeof(task), "a%d", i);
        a[i] = add("a", task, 100 + i, 100 + i);
    }
    int64_t b1 = add("b", "b1", 200, 900);
    int64_t b2 = add("b", "b2", 201, 300);
    int64_t b3 = add("b", "b3", 202, 5000); /* not due yet */
    /* A task with jobs on both platforms: a's older job is its head, so
     * b's job waits, whatever its own time says. */
    int64_t xa = add("a", "x", 300, 400);
    int64_t xb = add("b", "x", 301, 10);
    lg_outbox_list l = {0};
    /* All platforms: the first 10 due are all a's. */
    cr_assert_eq(lg_store_outbox_due(st, 1000, 10, &l), LG_OK);
    cr_assert_eq(l.count, 10);
    for(size_t i = 0; i < l.count; i++)
        cr_assert_str_eq(l.items[i].platform, "a");
    lg_outbox_list_clear(&l);
    /* b alone: its due heads in due order, b3 (later) and xb (behind xa)
     * left out. */
    cr_assert_eq(lg_store_outbox_due_platform(st, "b", 1000, 10, &l), LG_OK);
    cr_assert_eq(l.count, 2);
    cr_assert_eq(l.items[0].id, b2, "earliest next_at first");
    cr_assert_eq(l.items[1].id, b1);
    lg_outbox_list_clear(&l);
    /* a alone, bounded by max, oldest first; appends to the list. */
    cr_assert_eq(lg_store_outbox_due_platform(st, "a", 1000, 5, &l), LG_OK);
    cr_assert_eq(lg_store_outbox_due_platform(st, "b", 1000, 1, &l), LG_OK);
    cr_assert_eq(l.count, 6);
    for(int i = 0; i < 5; i++)
        cr_assert_eq(l.items[i].id, a[i]);
    cr_assert_eq(l.items[5].id, b2);
    lg_outbox_list_clear(&l);
    /* xa delivered: xb becomes x's head, due at once on b. */
    update(xa, LG_OUTBOX_DONE, 1, 0, NULL, "R-x", 1001);
    cr_assert_eq(lg_store_outbox_due_platform(st, "b", 1001, 10, &l), LG_OK);
    cr_assert_eq(l.count, 3);
    cr_assert_eq(l.items[0].id, xb);
    lg_outbox_list_clear(&l);
    cr_assert_eq(lg_store_outbox_due_platform(st, "b", 6000, 10, &l), LG_OK);
    cr_assert_eq(l.count, 4);
    cr_assert_eq(l.items[3].id, b3);
    lg_outbox_list_clear(&l);
    /* An unknown platform has none; NULL is refused; max 0 reads nothing. */
    cr_assert_eq(lg_store_outbox_due_platform(st, "zz", 6000, 10, &l), LG_OK);
    cr_assert_eq(l.count, 0);
    cr_assert_eq(lg_store_outbox_due_platform(st, NULL, 6000, 10, &l), LG_EINVAL);
    cr_assert_eq(lg_store_outbox_due_platform(st, "a", 6000, 0, &l), LG_OK);
    cr_assert_eq(l.count, 0);
    /* The read is a range of the per-platform index, not a walk of every
     * due job. */
    char plan[1024];
    plan_of("EXPLAIN QUERY PLAN SELECT id FROM outbox o WHERE o.state = 0 AND o.platform = 'b'"
            " AND o.next_at_ms <= 1000 ORDER BY o.next_at_ms, o.id LIMIT 10", plan, sizeof(plan));
    cr_assert(strstr(plan, "outbox_platform_due") && strstr(plan, "platform=?"), "%s", plan);
}

Test(store_outbox, next_due_follows_the_heads)
{
    int64_t due;
    cr_assert_eq(lg_store_outbox_next_due(st, &due), LG_ENOTFOUND);
    int64_t a = add("p", "t1", 100, 900);
    add("p", "t1", 101, 200); /* behind a: its own time does not count */
    int64_t c = add("p", "t2", 102, 700);
    cr_assert_eq(lg_store_outbox_next_due(st, &due), LG_OK);
    cr_assert_eq(due, 700);
    update(c, LG_OUTBOX_DONE, 1, 0, NULL, NULL, 701);
    cr_assert_eq(lg_store_outbox_next_due(st, &due), LG_OK);
    cr_assert_eq(due, 900);
    update(a, LG_OUTBOX_DEAD, 5, 0, "refused", NULL, 901);
    cr_assert_eq(lg_store_outbox_next_due(st, &due), LG_OK);
    cr_assert_eq(due, 200, "the dead job no longer holds its task back");
}

Test(store_outbox, update_states)
{
    int64_t id = add("p", "t1", 100, 100);
    lg_outbox_job j;
    update(id, LG_OUTBOX_PENDING, 1, 400, "connection refused", NULL, 150);
    cr_assert_eq(lg_store_outbox_get(st, id, &j), LG_OK);
    cr_assert_eq(j.state, LG_OUTBOX_PENDING);
    cr_assert_eq(j.attempts, 1);
    cr_assert_eq(j.next_at_ms, 400);
    cr_assert_eq(j.updated_ms, 150);
    cr_assert_str_eq(j.last_error, "connection refused");
    cr_assert_null(j.remote_id);
    lg_outbox_job_clear(&j);
    update(id, LG_OUTBOX_DONE, 2, 999, NULL, "R-77", 450);
    cr_assert_eq(lg_store_outbox_get(st, id, &j), LG_OK);
    cr_assert_eq(j.state, LG_OUTBOX_DONE);
    cr_assert_eq(j.attempts, 2);
    cr_assert_eq(j.next_at_ms, 400, "next_at only moves for pending");
    cr_assert_null(j.last_error, "NULL clears the error");
    cr_assert_str_eq(j.remote_id, "R-77");
    lg_outbox_job_clear(&j);
    /* a NULL remote id keeps the known one */
    update(id, LG_OUTBOX_DEAD, 3, 0, "gone", NULL, 500);
    cr_assert_eq(lg_store_outbox_get(st, id, &j), LG_OK);
    cr_assert_eq(j.state, LG_OUTBOX_DEAD);
    cr_assert_str_eq(j.remote_id, "R-77");
    cr_assert_str_eq(j.last_error, "gone");
    lg_outbox_job_clear(&j);
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_update(st, id + 1, LG_OUTBOX_DONE, 1, 0, NULL, NULL, 1),
                 LG_ENOTFOUND);
    cr_assert_eq(lg_store_outbox_update(st, id, (lg_outbox_state)7, 1, 0, NULL, NULL, 1),
                 LG_EINVAL);
    lg_store_rollback(st);
}

Test(store_outbox, replay_only_dead)
{
    int64_t id = add("p", "t1", 100, 100);
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_replay(st, id, 200), LG_ECONFLICT, "pending is not dead");
    cr_assert_eq(lg_store_outbox_replay(st, id + 5, 200), LG_ENOTFOUND);
    cr_assert_eq(lg_store_outbox_update(st, id, LG_OUTBOX_DEAD, 8, 0, "HTTP 500", NULL, 300),
                 LG_OK);
    cr_assert_eq(lg_store_outbox_replay(st, id, 400), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    lg_outbox_job j;
    cr_assert_eq(lg_store_outbox_get(st, id, &j), LG_OK);
    cr_assert_eq(j.state, LG_OUTBOX_PENDING);
    cr_assert_eq(j.attempts, 0);
    cr_assert_eq(j.next_at_ms, 400);
    cr_assert_eq(j.updated_ms, 400);
    cr_assert_str_eq(j.last_error, "HTTP 500", "the last error is kept");
    lg_outbox_job_clear(&j);
    lg_outbox_list l = {0};
    cr_assert_eq(lg_store_outbox_due(st, 400, 10, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_eq(l.items[0].id, id);
    lg_outbox_list_clear(&l);
    update(id, LG_OUTBOX_DONE, 1, 0, NULL, "R", 500);
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_replay(st, id, 600), LG_ECONFLICT, "done is not dead");
    lg_store_rollback(st);
}

Test(store_outbox, counts_and_list)
{
    int64_t ids[6];
    for(int i = 0; i < 6; i++) {
        char task[8];
        snprintf(task, sizeof(task), "t%d", i);
        ids[i] = add(i % 2 ? "findhelp" : "uniteus", task, 100 + i, 100 + i);
    }
    update(ids[0], LG_OUTBOX_DONE, 1, 0, NULL, NULL, 200);
    update(ids[1], LG_OUTBOX_DEAD, 4, 0, "x", NULL, 200);
    update(ids[3], LG_OUTBOX_DEAD, 4, 0, "y", NULL, 200);
    int64_t c[3];
    cr_assert_eq(lg_store_outbox_counts(st, c), LG_OK);
    cr_assert_eq(c[LG_OUTBOX_PENDING], 3);
    cr_assert_eq(c[LG_OUTBOX_DONE], 1);
    cr_assert_eq(c[LG_OUTBOX_DEAD], 2);

    lg_outbox_list l = {0};
    cr_assert_eq(lg_store_outbox_list(st, -1, NULL, 0, 100, &l), LG_OK);
    cr_assert_eq(l.count, 6);
    for(size_t i = 0; i < 6; i++)
        cr_assert_eq(l.items[i].id, ids[i], "id order");
    lg_outbox_list_clear(&l);
    cr_assert_eq(lg_store_outbox_list(st, LG_OUTBOX_DEAD, NULL, 0, 100, &l), LG_OK);
    cr_assert_eq(l.count, 2);
    cr_assert_eq(l.items[0].id, ids[1]);
    cr_assert_eq(l.items[1].id, ids[3]);
    lg_outbox_list_clear(&l);
    cr_assert_eq(lg_store_outbox_list(st, LG_OUTBOX_PENDING, "uniteus", 0, 100, &l), LG_OK);
    cr_assert_eq(l.count, 2);
    cr_assert_eq(l.items[0].id, ids[2]);
    cr_assert_eq(l.items[1].id, ids[4]);
    lg_outbox_list_clear(&l);
    cr_assert_eq(lg_store_outbox_list(st, -1, "findhelp", 0, 100, &l), LG_OK);
    cr_assert_eq(l.count, 3);
    lg_outbox_list_clear(&l);
    /* paging: two at a time, after the last id seen */
    int64_t after = 0;
    size_t seen = 0;
    for(int page = 0; page < 4; page++) {
        cr_assert_eq(lg_store_outbox_list(st, -1, NULL, after, 2, &l), LG_OK);
        if(l.count == 0)
            break;
        cr_assert_leq(l.count, 2);
        for(size_t i = 0; i < l.count; i++)
            cr_assert_eq(l.items[i].id, ids[seen + i]);
        seen += l.count;
        after = l.items[l.count - 1].id;
        lg_outbox_list_clear(&l);
    }
    cr_assert_eq(seen, 6);
    cr_assert_eq(lg_store_outbox_list(st, 3, NULL, 0, 10, &l), LG_EINVAL);
}

Test(store_outbox, rolled_back_job_is_gone)
{
    lg_outbox_job j = {.platform = "p", .kind = "create", .task_id = "t1", .created_ms = 1,
                       .next_at_ms = 1};
    int64_t id = 0;
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_add(st, &j, &id), LG_OK);
    lg_outbox_job seen;
    cr_assert_eq(lg_store_outbox_get(st, id, &seen), LG_OK, "visible inside its transaction");
    lg_outbox_job_clear(&seen);
    lg_store_rollback(st);
    cr_assert_eq(lg_store_outbox_get(st, id, &seen), LG_ENOTFOUND);
    int64_t c[3];
    cr_assert_eq(lg_store_outbox_counts(st, c), LG_OK);
    cr_assert_eq(c[0] + c[1] + c[2], 0);
    int64_t due;
    cr_assert_eq(lg_store_outbox_next_due(st, &due), LG_ENOTFOUND);
}

Test(store_outbox, survives_reopen)
{
    int64_t id = add("p", "t1", 10, 10);
    lg_forward_link l = {.platform = "p", .remote_id = "R-1", .task_id = "t1",
                         .last_status = "accepted", .last_event_ms = 77, .closed = 0};
    lg_inbound_event e = {.platform = "p", .event_id = "ev-1", .task_id = "t1",
                          .status = "accepted", .outcome = "applied", .received_ms = 78};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &l), LG_OK);
    cr_assert_eq(lg_store_inbound_event_add(st, &e), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    lg_store_close(st);
    lg_issues is = {0};
    cr_assert_eq(lg_store_open(dir, &st, &is), LG_OK);
    lg_issues_free(&is);
    lg_outbox_job j;
    cr_assert_eq(lg_store_outbox_get(st, id, &j), LG_OK);
    cr_assert_str_eq(j.task_id, "t1");
    lg_outbox_job_clear(&j);
    lg_forward_link got;
    cr_assert_eq(lg_store_forward_link_get(st, "p", "R-1", &got), LG_OK);
    cr_assert_str_eq(got.last_status, "accepted");
    lg_forward_link_clear(&got);
    cr_assert_eq(lg_store_inbound_event_get(st, "p", "ev-1", NULL), LG_OK);
}

Test(store_outbox, links)
{
    lg_forward_link a = {.platform = "uniteus", .remote_id = "R-2", .task_id = "t1",
                         .last_status = NULL, .last_event_ms = INT64_MIN, .closed = 0};
    lg_forward_link b = {.platform = "uniteus", .remote_id = "R-1", .task_id = "t2",
                         .last_status = "pending", .last_event_ms = 5, .closed = 0};
    lg_forward_link c = {.platform = "uniteus", .remote_id = "R-3", .task_id = "t3",
                         .last_status = "closed", .last_event_ms = 9, .closed = 1};
    lg_forward_link d = {.platform = "findhelp", .remote_id = "R-1", .task_id = "t4",
                         .last_event_ms = INT64_MIN};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &a), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &b), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &c), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &d), LG_OK);
    lg_forward_link bad = {.platform = "uniteus", .remote_id = "", .task_id = "t"};
    cr_assert_eq(lg_store_forward_link_put(st, &bad), LG_EINVAL);
    cr_assert_eq(lg_store_commit(st), LG_OK);

    lg_forward_link got;
    cr_assert_eq(lg_store_forward_link_get(st, "uniteus", "R-1", &got), LG_OK);
    cr_assert_str_eq(got.task_id, "t2");
    cr_assert_str_eq(got.last_status, "pending");
    cr_assert_eq(got.last_event_ms, 5);
    lg_forward_link_clear(&got);
    cr_assert_eq(lg_store_forward_link_get(st, "findhelp", "R-1", &got), LG_OK);
    cr_assert_str_eq(got.task_id, "t4", "remote ids are per platform");
    cr_assert_eq(got.last_event_ms, INT64_MIN);
    cr_assert_null(got.last_status);
    lg_forward_link_clear(&got);
    cr_assert_eq(lg_store_forward_link_get(st, "uniteus", "R-9", &got), LG_ENOTFOUND);

    cr_assert_eq(lg_store_forward_link_by_task(st, "uniteus", "t3", &got), LG_OK);
    cr_assert_str_eq(got.remote_id, "R-3");
    cr_assert_eq(got.closed, 1);
    lg_forward_link_clear(&got);
    cr_assert_eq(lg_store_forward_link_by_task(st, NULL, "t4", &got), LG_OK);
    cr_assert_str_eq(got.platform, "findhelp");
    lg_forward_link_clear(&got);
    cr_assert_eq(lg_store_forward_link_by_task(st, "uniteus", "t4", &got), LG_ENOTFOUND);

    /* open links of uniteus in remote_id order, paged; R-3 is closed */
    lg_forward_link_list l = {0};
    cr_assert_eq(lg_store_forward_links_open(st, "uniteus", NULL, 1, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_str_eq(l.items[0].remote_id, "R-1");
    cr_assert_eq(lg_store_forward_links_open(st, "uniteus", l.items[0].remote_id, 10, &l), LG_OK);
    cr_assert_eq(l.count, 2, "appends");
    cr_assert_str_eq(l.items[1].remote_id, "R-2");
    lg_forward_link_list_clear(&l);
    cr_assert_eq(lg_store_forward_links_open(st, "uniteus", "R-2", 10, &l), LG_OK);
    cr_assert_eq(l.count, 0);

    /* replace: close R-1 */
    b.closed = 1;
    b.last_status = "completed";
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &b), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    cr_assert_eq(lg_store_forward_links_open(st, "uniteus", NULL, 10, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_str_eq(l.items[0].remote_id, "R-2");
    lg_forward_link_list_clear(&l);
    cr_assert_eq(lg_store_forward_link_get(st, "uniteus", "R-1", &got), LG_OK);
    cr_assert_str_eq(got.last_status, "completed");
    lg_forward_link_clear(&got);
}

Test(store_outbox, inbound_events)
{
    lg_inbound_event e1 = {.platform = "uniteus", .event_id = "ev-1", .task_id = "t1",
                           .status = "accepted", .outcome = "applied", .received_ms = 10};
    lg_inbound_event e2 = {.platform = "uniteus", .event_id = "ev-2", .task_id = "t1",
                           .status = "bogus", .outcome = "parked",
                           .detail = "completed -> requested is not allowed", .received_ms = 11};
    lg_inbound_event e3 = {.platform = "findhelp", .event_id = "ev-1", .task_id = "t2",
                           .status = "pending", .outcome = "ignored", .received_ms = 12};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_inbound_event_add(st, &e1), LG_OK);
    cr_assert_eq(lg_store_inbound_event_add(st, &e2), LG_OK);
    cr_assert_eq(lg_store_inbound_event_add(st, &e3), LG_OK, "event ids are per platform");
    lg_inbound_event dup = e1;
    dup.status = "completed";
    cr_assert_eq(lg_store_inbound_event_add(st, &dup), LG_ECONFLICT);
    lg_inbound_event none = {.platform = "p", .event_id = "x", .outcome = NULL};
    cr_assert_eq(lg_store_inbound_event_add(st, &none), LG_EINVAL);
    cr_assert_eq(lg_store_commit(st), LG_OK, "a duplicate does not spoil the transaction");

    lg_inbound_event got;
    cr_assert_eq(lg_store_inbound_event_get(st, "uniteus", "ev-1", &got), LG_OK);
    cr_assert_str_eq(got.status, "accepted", "the duplicate changed nothing");
    cr_assert_str_eq(got.outcome, "applied");
    cr_assert_null(got.detail);
    cr_assert_eq(got.received_ms, 10);
    lg_inbound_event_clear(&got);
    cr_assert_eq(lg_store_inbound_event_get(st, "uniteus", "ev-9", &got), LG_ENOTFOUND);

    lg_inbound_event_list l = {0};
    cr_assert_eq(lg_store_inbound_events_list(st, NULL, 0, 10, &l), LG_OK);
    cr_assert_eq(l.count, 3);
    cr_assert_lt(l.items[0].seq, l.items[1].seq);
    cr_assert_lt(l.items[1].seq, l.items[2].seq);
    cr_assert_str_eq(l.items[2].platform, "findhelp");
    int64_t second = l.items[1].seq;
    lg_inbound_event_list_clear(&l);
    cr_assert_eq(lg_store_inbound_events_list(st, "parked", 0, 10, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_str_eq(l.items[0].event_id, "ev-2");
    cr_assert_str_eq(l.items[0].detail, "completed -> requested is not allowed");
    lg_inbound_event_list_clear(&l);
    cr_assert_eq(lg_store_inbound_events_list(st, NULL, second, 10, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_str_eq(l.items[0].event_id, "ev-1");
    cr_assert_str_eq(l.items[0].platform, "findhelp");
    lg_inbound_event_list_clear(&l);
}

/* The tables of schema version 2, as the store created them before the
 * forwarding tables existed (src/store/sqlite/sqlite.c at d30d813). */
static const char schema_v2[] =
    "CREATE TABLE res("
    "  rid INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL,"
    "  version INTEGER NOT NULL, last_updated INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL, seq INTEGER NOT NULL, creator TEXT, UNIQUE(type, id));"
    "CREATE INDEX res_type_seq ON res(type, seq);"
    "CREATE INDEX res_type_lu ON res(type, last_updated, seq);"
    "CREATE TABLE ver("
    "  seq INTEGER PRIMARY KEY, rid INTEGER NOT NULL, version INTEGER NOT NULL,"
    "  last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL, method TEXT NOT NULL,"
    "  json TEXT, author TEXT, UNIQUE(rid, version));"
    "CREATE TABLE idx("
    "  rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,"
    "  s1 TEXT, s2 TEXT, s3 TEXT, lo INTEGER, hi INTEGER);"
    "CREATE INDEX idx_s2 ON idx(type, param, s2, s1);"
    "CREATE INDEX idx_s1 ON idx(type, param, s1);"
    "CREATE INDEX idx_range ON idx(type, param, lo, hi);"
    "CREATE INDEX idx_rid ON idx(rid, param);"
    "INSERT INTO res VALUES(1, 'Task', 'old', 1, 5, 0, 1, 'ehr');"
    "INSERT INTO ver VALUES(1, 1, 1, 5, 0, 'POST',"
    "  '{\"resourceType\":\"Task\",\"id\":\"old\"}', 'ehr');"
    "PRAGMA user_version=2;";

static int user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *p = NULL;
    int v = -1;
    if(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
       sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &p, NULL) == SQLITE_OK &&
       sqlite3_step(p) == SQLITE_ROW)
        v = sqlite3_column_int(p, 0);
    sqlite3_finalize(p);
    sqlite3_close(db);
    return v;
}

Test(store_outbox, migrates_a_schema_2_store)
{
    char old[] = "/tmp/lg-outbox-v2-XXXXXX", path[128], cmd[160];
    cr_assert_not_null(mkdtemp(old));
    snprintf(path, sizeof(path), "%s/loopgate.db", old);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, schema_v2, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(user_version(path), 2);

    lg_store *s2 = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_store_open(old, &s2, &is), LG_OK);
    lg_issues_free(&is);
    /* the old rows are still there */
    lg_resource r;
    cr_assert_eq(lg_store_read(s2, "Task", "old", &r), LG_OK);
    cr_assert_str_eq(r.creator, "ehr");
    lg_resource_clear(&r);
    /* and the new tables work */
    lg_outbox_job j = {.platform = "p", .kind = "create", .task_id = "old", .created_ms = 6,
                       .next_at_ms = 6};
    int64_t id = 0;
    cr_assert_eq(lg_store_begin(s2), LG_OK);
    cr_assert_eq(lg_store_outbox_add(s2, &j, &id), LG_OK);
    cr_assert_eq(lg_store_commit(s2), LG_OK);
    lg_outbox_list l = {0};
    cr_assert_eq(lg_store_outbox_due(s2, 6, 10, &l), LG_OK);
    cr_assert_eq(l.count, 1);
    cr_assert_eq(l.items[0].id, id);
    lg_outbox_list_clear(&l);
    cr_assert_eq(lg_store_outbox_due_platform(s2, "p", 6, 10, &l), LG_OK);
    cr_assert_eq(l.count, 1, "the per-platform read works on a migrated store");
    lg_outbox_list_clear(&l);
    lg_store_close(s2);
    cr_assert_eq(user_version(path), 4);
    /* opening again is a no-op */
    cr_assert_eq(lg_store_open(old, &s2, &is), LG_OK);
    lg_issues_free(&is);
    int64_t c[3];
    cr_assert_eq(lg_store_outbox_counts(s2, c), LG_OK);
    cr_assert_eq(c[LG_OUTBOX_PENDING], 1);
    lg_store_close(s2);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", old);
    cr_assert_eq(system(cmd), 0);
}

/* Schema version 1: version 2 without who wrote what. */
static const char schema_v1[] =
    "CREATE TABLE res("
    "  rid INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL,"
    "  version INTEGER NOT NULL, last_updated INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL, seq INTEGER NOT NULL, UNIQUE(type, id));"
    "CREATE TABLE ver("
    "  seq INTEGER PRIMARY KEY, rid INTEGER NOT NULL, version INTEGER NOT NULL,"
    "  last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL, method TEXT NOT NULL,"
    "  json TEXT, UNIQUE(rid, version));"
    "CREATE TABLE idx("
    "  rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,"
    "  s1 TEXT, s2 TEXT, s3 TEXT, lo INTEGER, hi INTEGER);"
    "INSERT INTO res VALUES(1, 'Task', 'older', 1, 5, 0, 1);"
    "INSERT INTO ver VALUES(1, 1, 1, 5, 0, 'POST', '{\"resourceType\":\"Task\",\"id\":\"older\"}');"
    "PRAGMA user_version=1;";

Test(store_outbox, migrates_a_schema_1_store_through_2)
{
    char old[] = "/tmp/lg-outbox-v1-XXXXXX", path[128], cmd[160];
    cr_assert_not_null(mkdtemp(old));
    snprintf(path, sizeof(path), "%s/loopgate.db", old);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    lg_store *s1 = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_store_open(old, &s1, &is), LG_OK);
    lg_issues_free(&is);
    lg_resource r;
    cr_assert_eq(lg_store_read(s1, "Task", "older", &r), LG_OK);
    cr_assert_null(r.creator, "rows from before version 2 were written by the server");
    lg_resource_clear(&r);
    lg_inbound_event e = {.platform = "p", .event_id = "e", .outcome = "applied"};
    cr_assert_eq(lg_store_begin(s1), LG_OK);
    cr_assert_eq(lg_store_inbound_event_add(s1, &e), LG_OK);
    cr_assert_eq(lg_store_commit(s1), LG_OK);
    lg_store_close(s1);
    cr_assert_eq(user_version(path), 4);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", old);
    cr_assert_eq(system(cmd), 0);
}

Test(store_outbox, newer_schema_is_refused)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/loopgate.db", dir);
    lg_store_close(st);
    st = NULL;
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    lg_issues is = {0};
    cr_assert_eq(lg_store_open(dir, &st, &is), LG_EUNSUPPORTED);
    cr_assert_null(st);
    lg_issues_free(&is);
}
