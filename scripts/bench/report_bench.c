/* report_bench.c - times the closed-loop report on N synthetic referrals
 * (scripts/report/gen_referrals.c): fill of the fact table, building the
 * created_ms index, lg_report_compute per group-by combination, the two
 * writers, and peak resident memory. Times are CPU time. Run through scripts/bench/report.sh.
 *
 * usage: lg_bench_report [N [SEED]]   (default 1000000 referrals, seed 42)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gen_referrals.h"
#include "loopgate/report.h"
#include "loopgate/time.h"

#define DAY 86400000LL


static int count_only(const lg_referral *r, const lg_child *c, void *ctx)
{
    /* Touch the data so the generation pass is not optimised away. */
    *(size_t *)ctx += (size_t)r->loop + (c->county ? (size_t)c->county[4] : 0);
    return 0;
}

static int add(const lg_referral *r, const lg_child *c, void *ctx)
{
    return lg_report_add_referral(ctx, r, c) == LG_OK ? 0 : 1;
}

/* CPU time of this process in microseconds: the machine is shared, so wall
 * time would measure the neighbours as much as the report. */
static int64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static unsigned hidden_cells(const lg_report_result *r)
{
    unsigned n = 0;
    for(size_t g = 0; g < r->n_groups; g++)
        n += (unsigned)__builtin_popcount(r->groups[g].suppressed);
    return n;
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    uint64_t seed = 42;
    if(argc > 1)
        n = (size_t)strtoull(argv[1], NULL, 10);
    if(argc > 2)
        seed = strtoull(argv[2], NULL, 10);
    if(n == 0 || n > LG_REPORT_MAX_ROWS) {
        fprintf(stderr, "N must be 1..%u\n", LG_REPORT_MAX_ROWS);
        return 2;
    }
    /* Two years of referrals up to 2026-11-30. */
    int64_t end = 1796083200000LL, start = end - 730 * DAY, now = end;

    printf("referrals: %zu (seed %llu)\n", n, (unsigned long long)seed);
    size_t sink = 0;
    int64_t t0 = cpu_us();
    lg_gen_referrals(seed, n, start, end, now, count_only, &sink);
    int64_t t_gen = cpu_us() - t0;
    long rss_before = peak_rss_kb();

    lg_report_table *t = lg_report_table_new();
    if(!t)
        return 1;
    t0 = cpu_us();
    if(lg_gen_referrals(seed, n, start, end, now, add, t) != 0) {
        fprintf(stderr, "fill failed\n");
        return 1;
    }
    int64_t t_fill = cpu_us() - t0;
    t0 = cpu_us();
    if(lg_report_table_index(t) != LG_OK)
        return 1;
    int64_t t_index = cpu_us() - t0;
    printf("generate only:           %8.1f ms (model structs, not stored; sink %zu)\n", t_gen / 1000.0,
           sink % 10);
    printf("generate + fill table:   %8.1f ms (fill alone ~%.1f ms, %.2f us/referral)\n", t_fill / 1000.0,
           (t_fill - t_gen) / 1000.0, (double)(t_fill - t_gen) / (double)n);
    printf("created_ms index:        %8.1f ms\n", t_index / 1000.0);
    printf("table: %zu rows, %.1f MB (row %zu bytes)\n", lg_report_table_rows(t),
           lg_report_table_bytes(t) / 1048576.0, sizeof(lg_report_row));

    static const struct { const char *name; int nd; lg_report_dim d[3]; } combos[] = {
        { "(none)", 0, { 0 } },
        { "race", 1, { LG_DIM_RACE } },
        { "ethnicity", 1, { LG_DIM_ETHNICITY } },
        { "language", 1, { LG_DIM_LANGUAGE } },
        { "county", 1, { LG_DIM_COUNTY } },
        { "population-of-focus", 1, { LG_DIM_POPULATION } },
        { "phm-tier", 1, { LG_DIM_PHM_TIER } },
        { "category", 1, { LG_DIM_CATEGORY } },
        { "organization", 1, { LG_DIM_ORGANIZATION } },
        { "race,ethnicity", 2, { LG_DIM_RACE, LG_DIM_ETHNICITY } },
        { "race,county", 2, { LG_DIM_RACE, LG_DIM_COUNTY } },
        { "county,category", 2, { LG_DIM_COUNTY, LG_DIM_CATEGORY } },
        { "organization,race", 2, { LG_DIM_ORGANIZATION, LG_DIM_RACE } },
        { "race,ethnicity,language", 3, { LG_DIM_RACE, LG_DIM_ETHNICITY, LG_DIM_LANGUAGE } },
    };
    printf("\n%-26s %10s %8s %8s %14s\n", "group-by (2 years)", "cpu ms", "groups", "hidden", "period-1y ms");
    lg_report_result *race = NULL;
    for(size_t k = 0; k < sizeof(combos) / sizeof(combos[0]); k++) {
        lg_report_params p = { .start_ms = start, .end_ms = end, .now_ms = now, .n_dims = (size_t)combos[k].nd };
        memcpy(p.dims, combos[k].d, sizeof(combos[k].d));
        lg_issues is = { 0 };
        lg_report_result *r = NULL;
        t0 = cpu_us();
        if(lg_report_compute(t, &p, &r, &is) != LG_OK)
            return 1;
        int64_t tc = cpu_us() - t0;
        /* The same over the last year only (the index halves the rows read). */
        lg_report_params p1 = p;
        p1.start_ms = end - 365 * DAY;
        lg_report_result *r1 = NULL;
        t0 = cpu_us();
        if(lg_report_compute(t, &p1, &r1, &is) != LG_OK)
            return 1;
        int64_t tc1 = cpu_us() - t0;
        printf("%-26s %10.1f %8zu %8u %14.1f\n", combos[k].name, tc / 1000.0, r->n_groups, hidden_cells(r),
               tc1 / 1000.0);
        if(k == 0) {
            printf("  overall: total %u, closed %u (share %.3f), overdue %u, days to first response "
                   "median %.2f p90 %.2f, to closure median %.2f p90 %.2f, excluded %u\n",
                   r->overall.count[LG_RC_TOTAL], r->overall.count[LG_RC_CLOSED], r->overall.share_closed,
                   r->overall.count[LG_RC_OVERDUE], r->overall.response.median, r->overall.response.p90,
                   r->overall.closure.median, r->overall.closure.p90, r->excluded);
        }
        lg_report_result_free(r1);
        lg_issues_free(&is);
        if(k == 1)
            race = r;
        else
            lg_report_result_free(r);
    }
    lg_buf b;
    lg_buf_init(&b, 64u << 20);
    t0 = cpu_us();
    lg_status st = lg_report_write_json(race, &b);
    int64_t tj = cpu_us() - t0;
    printf("\nJSON by race: %zu bytes, %.2f ms (%s)\n", b.len, tj / 1000.0, lg_status_str(st));
    lg_buf_free(&b);
    lg_buf_init(&b, 64u << 20);
    const lg_report_result *rs[] = { race };
    t0 = cpu_us();
    st = lg_report_write_measure_report(rs, 1, "bench", &b);
    tj = cpu_us() - t0;
    printf("MeasureReport by race: %zu bytes, %.2f ms (%s)\n", b.len, tj / 1000.0, lg_status_str(st));
    lg_buf_free(&b);
    lg_report_result_free(race);
    printf("peak RSS: %.1f MB (before the table: %.1f MB)\n", peak_rss_kb() / 1024.0, rss_before / 1024.0);
    lg_report_table_free(t);
    return 0;
}
