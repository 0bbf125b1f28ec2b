/* Unit tests for the closed-loop report's fact tables in the SQLite store
 * (store.h "closed-loop report facts", src/store/sqlite/facts.c): upsert,
 * times, delete, the created_ms range scan and its join with the children's
 * demographics, rollback, and that the tables survive reopening. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/store.h"

static lg_store *st;
static char dir[] = "/tmp/lg-facts-XXXXXX";

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

TestSuite(store_facts, .init = setup, .fini = teardown);

static void put(const char *id, const char *child, int64_t created, int loop)
{
    lg_store_referral_fact f = {.referral_id = id, .task_id = "t", .child_id = child,
                                .organization = "Organization/cbo-1", .created_ms = created,
                                .first_response_ms = INT64_MIN, .closed_ms = INT64_MIN, .loop = loop,
                                .not_served = 0, .category = 1};
    cr_assert_eq(lg_store_referral_fact_put(st, &f), LG_OK);
}

typedef struct seen {
    int n;
    char ids[8][16];
    char county[8][16];
    int loop[8];
    int64_t created[8];
} seen;

static int collect(const lg_store_referral_fact *f, const lg_store_child_facts *c, void *ctx)
{
    seen *s = ctx;
    cr_assert_lt(s->n, 8);
    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", f->referral_id);
    snprintf(s->county[s->n], sizeof(s->county[0]), "%s", c && c->county ? c->county : "-");
    s->loop[s->n] = f->loop;
    s->created[s->n] = f->created_ms;
    s->n++;
    return 0;
}

static seen scan(int64_t a, int64_t b)
{
    seen s = {0};
    cr_assert_eq(lg_store_referral_facts_scan(st, a, b, collect, &s), LG_OK);
    return s;
}

Test(store_facts, upsert_scan_join_and_delete)
{
    cr_assert_eq(lg_store_begin(st), LG_OK);
    put("r3", "c1", 300, 1);
    put("r1", "c1", 100, 1);
    put("r2", "c2", 200, 1);
    lg_store_child_facts c1 = {.child_id = "c1", .race = "2106-3", .county = "Fresno", .phm_tier = 3,
                               .population = 1};
    cr_assert_eq(lg_store_child_facts_put(st, &c1), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);

    seen s = scan(0, 1000);
    cr_assert_eq(s.n, 3);
    /* created_ms order, whatever the insertion order */
    cr_assert_str_eq(s.ids[0], "r1");
    cr_assert_str_eq(s.ids[1], "r2");
    cr_assert_str_eq(s.ids[2], "r3");
    cr_assert_str_eq(s.county[0], "Fresno");
    cr_assert_str_eq(s.county[1], "-", "a child without demographics joins as NULL");
    /* [start, end): 300 is out of [100, 300) */
    s = scan(100, 300);
    cr_assert_eq(s.n, 2);

    /* Upsert replaces; the child's update changes every one of its rows. */
    cr_assert_eq(lg_store_begin(st), LG_OK);
    put("r1", "c1", 100, 5);
    c1.county = "Alameda";
    cr_assert_eq(lg_store_child_facts_put(st, &c1), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    s = scan(0, 1000);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.loop[0], 5);
    cr_assert_str_eq(s.county[0], "Alameda");
    cr_assert_str_eq(s.county[2], "Alameda");

    int64_t times[3];
    cr_assert_eq(lg_store_referral_fact_times(st, "r2", times), LG_OK);
    cr_assert_eq(times[0], 200);
    cr_assert_eq(times[1], INT64_MIN);
    cr_assert_eq(lg_store_referral_fact_times(st, "nope", times), LG_ENOTFOUND);

    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_referral_fact_delete(st, "r2"), LG_OK);
    cr_assert_eq(lg_store_child_facts_delete(st, "c1"), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    s = scan(0, 1000);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.county[0], "-");
}

Test(store_facts, rollback_and_reopen)
{
    cr_assert_eq(lg_store_begin(st), LG_OK);
    put("kept", "c", 10, 1);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    cr_assert_eq(lg_store_begin(st), LG_OK);
    put("lost", "c", 20, 1);
    lg_store_rollback(st);
    cr_assert_eq(scan(INT64_MIN, INT64_MAX).n, 1);
    /* Writes need a transaction. */
    lg_store_referral_fact f = {.referral_id = "x", .created_ms = 1};
    cr_assert_neq(lg_store_referral_fact_put(st, &f), LG_OK);
    f.referral_id = NULL;
    cr_assert_eq(lg_store_referral_fact_put(st, &f), LG_EINVAL);

    lg_store_close(st);
    lg_issues is = {0};
    cr_assert_eq(lg_store_open(dir, &st, &is), LG_OK);
    lg_issues_free(&is);
    seen s = scan(INT64_MIN, INT64_MAX);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.ids[0], "kept");
}

static int stop_at_first(const lg_store_referral_fact *f, const lg_store_child_facts *c, void *ctx)
{
    (void)f;
    (void)c;
    ++*(int *)ctx;
    return 1;
}

Test(store_facts, callback_stops_the_scan)
{
    cr_assert_eq(lg_store_begin(st), LG_OK);
    put("a", NULL, 1, 1);
    put("b", NULL, 2, 1);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    int n = 0;
    cr_assert_neq(lg_store_referral_facts_scan(st, 0, 10, stop_at_first, &n), LG_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(lg_store_referral_facts_scan(st, 10, 0, stop_at_first, &n), LG_EINVAL);
}
