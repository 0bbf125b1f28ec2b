/* report_store_bench.c - the closed-loop report as the endpoint computes it:
 * from the store's fact tables in a real SQLite file, not from an in-memory
 * table filled by the generator.
 *
 *   lg_bench_report_store load DIR [N [SEED]]
 *       writes N synthetic referrals (scripts/report/gen_referrals.c) as
 *       referral fact rows and child demographics rows into the store at
 *       DIR, 10,000 per transaction (default 1,000,000, seed 42)
 *   lg_bench_report_store run DIR
 *       what GET /$closed-loop-report does after parsing its parameters:
 *       one indexed scan of the fact rows joined with the children
 *       (lg_report_fill_from_store), lg_report_compute and the JSON writer,
 *       for a few group-by combinations over the whole two years and over
 *       the last year; wall and CPU time of each step, and the peak RSS of
 *       this process (run it in its own process, as report.sh does, so the
 *       load phase does not count).
 * Run through scripts/bench/report.sh --store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gen_referrals.h"
#include "loopgate/report.h"
#include "loopgate/store.h"
#include "loopgate/time.h"
#include "rest/internal.h"

#define DAY 86400000LL
#define BATCH 10000

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

/* The load keeps every generated fact in memory first (this process only),
 * so it can write in authoring order, as a live server receives referrals:
 * the generator draws them in random time order, which would make every
 * insert land on a random page of the created_ms-ordered table. */
typedef struct fact_copy {
    int64_t created, first, closed;
    uint8_t loop, not_served, category;
    uint32_t sid;   /* strings: offsets into the load's string pool */
    uint32_t child, org;
} fact_copy;

typedef struct child_copy {
    uint32_t id, race, eth, lang, county;
    uint8_t tier, pop;
} child_copy;

typedef struct load_ctx {
    fact_copy *facts;
    size_t n, cap;
    child_copy *kids;
    size_t nk, capk;
    char *pool;
    size_t used, pcap;
} load_ctx;

static uint32_t keep(load_ctx *lc, const char *s)
{
    if(!s)
        return UINT32_MAX;
    size_t n = strlen(s) + 1;
    if(lc->used + n > lc->pcap) {
        size_t nc = lc->pcap ? lc->pcap * 2 : 1u << 24;
        char *p = realloc(lc->pool, nc);
        if(!p)
            abort();
        lc->pool = p;
        lc->pcap = nc;
    }
    memcpy(lc->pool + lc->used, s, n);
    lc->used += n;
    return (uint32_t)(lc->used - n);
}

static const char *str(const load_ctx *lc, uint32_t off)
{
    return off == UINT32_MAX ? NULL : lc->pool + off;
}

static int collect(const lg_referral *r, const lg_child *c, void *arg)
{
    load_ctx *lc = arg;
    lg_report_fact f;
    lg_report_fact_of(r, c, &f);
    if(lc->n == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 1024;
        lc->facts = realloc(lc->facts, lc->cap * sizeof(*lc->facts));
        if(!lc->facts)
            return 1;
    }
    fact_copy *fc = &lc->facts[lc->n++];
    fc->created = f.created_ms;
    fc->first = f.first_response_ms;
    fc->closed = f.closed_ms;
    fc->loop = f.loop;
    fc->not_served = f.not_served;
    fc->category = f.category;
    fc->sid = keep(lc, f.referral);
    fc->child = keep(lc, f.child);
    fc->org = keep(lc, f.organization);
    if(f.child) { /* children repeat; the last version wins, as with Patient updates */
        if(lc->nk == lc->capk) {
            lc->capk = lc->capk ? lc->capk * 2 : 1024;
            lc->kids = realloc(lc->kids, lc->capk * sizeof(*lc->kids));
            if(!lc->kids)
                return 1;
        }
        child_copy *k = &lc->kids[lc->nk++];
        *k = (child_copy){fc->child, keep(lc, f.race), keep(lc, f.ethnicity), keep(lc, f.language),
                          keep(lc, f.county), f.phm_tier, f.population};
    }
    return 0;
}

static int by_created(const void *a, const void *b)
{
    const fact_copy *x = a, *y = b;
    return x->created < y->created ? -1 : x->created > y->created;
}

/* Two years of referrals up to 2026-11-30, as scripts/bench/report_bench.c. */
static const int64_t END = 1796083200000LL, START = 1796083200000LL - 730 * DAY;

static int load(lg_store *st, size_t n, uint64_t seed)
{
    load_ctx lc = {0};
    int64_t w0 = lg_time_mono_us();
    if(lg_gen_referrals(seed, n, START, END, END, collect, &lc) != 0)
        return 1;
    qsort(lc.facts, lc.n, sizeof(*lc.facts), by_created);
    /* Children first (as Patients are usually written before their
     * referrals), then the referrals, BATCH rows per transaction. */
    for(size_t i = 0; i < lc.nk; i++) {
        const child_copy *k = &lc.kids[i];
        if(i % BATCH == 0 && lg_store_begin(st) != LG_OK)
            return 1;
        lg_store_child_facts cf = {
            .child_id = str(&lc, k->id), .race = str(&lc, k->race), .ethnicity = str(&lc, k->eth),
            .language = str(&lc, k->lang), .county = str(&lc, k->county), .phm_tier = k->tier,
            .population = k->pop,
        };
        if(lg_store_child_facts_put(st, &cf) != LG_OK)
            return 1;
        if((i + 1) % BATCH == 0 && lg_store_commit(st) != LG_OK)
            return 1;
    }
    if(lc.nk % BATCH && lg_store_commit(st) != LG_OK)
        return 1;
    for(size_t i = 0; i < lc.n; i++) {
        const fact_copy *f = &lc.facts[i];
        if(i % BATCH == 0 && lg_store_begin(st) != LG_OK)
            return 1;
        lg_store_referral_fact rf = {
            .referral_id = str(&lc, f->sid), .child_id = str(&lc, f->child), .organization = str(&lc, f->org),
            .created_ms = f->created, .first_response_ms = f->first, .closed_ms = f->closed,
            .loop = f->loop, .not_served = f->not_served, .category = f->category,
        };
        if(lg_store_referral_fact_put(st, &rf) != LG_OK) {
            fprintf(stderr, "load failed at row %zu\n", i);
            return 1;
        }
        if((i + 1) % BATCH == 0 && lg_store_commit(st) != LG_OK)
            return 1;
    }
    if(lc.n % BATCH && lg_store_commit(st) != LG_OK)
        return 1;
    printf("loaded %zu referral fact rows (%zu child rows written) in %.1f s\n", lc.n, lc.nk,
           (lg_time_mono_us() - w0) / 1e6);
    free(lc.facts);
    free(lc.kids);
    free(lc.pool);
    return 0;
}

static int run(lg_store *st)
{
    static const struct { const char *name; int nd; lg_report_dim d[3]; } combos[] = {
        {"(none)", 0, {0}},
        {"race", 1, {LG_DIM_RACE}},
        {"county", 1, {LG_DIM_COUNTY}},
        {"organization", 1, {LG_DIM_ORGANIZATION}},
        {"race,ethnicity,language", 3, {LG_DIM_RACE, LG_DIM_ETHNICITY, LG_DIM_LANGUAGE}},
    };
    printf("%-26s %-6s %8s %10s %10s %10s %10s %8s\n", "group-by", "period", "rows", "scan wall", "scan cpu",
           "compute", "json", "groups");
    for(int year = 0; year < 2; year++)
        for(size_t k = 0; k < sizeof(combos) / sizeof(*combos); k++) {
            lg_report_params p = {.start_ms = year ? END - 365 * DAY : START, .end_ms = END, .now_ms = END,
                                  .n_dims = (size_t)combos[k].nd};
            memcpy(p.dims, combos[k].d, sizeof(combos[k].d));
            lg_report_table *t = lg_report_table_new();
            if(!t)
                return 1;
            int64_t w0 = lg_time_mono_us(), c0 = cpu_us();
            if(lg_report_fill_from_store(st, p.start_ms, p.end_ms, t) != LG_OK) {
                fprintf(stderr, "scan failed\n");
                return 1;
            }
            int64_t scan_w = lg_time_mono_us() - w0, scan_c = cpu_us() - c0;
            lg_issues is = {0};
            lg_report_result *r = NULL;
            c0 = cpu_us();
            if(lg_report_compute(t, &p, &r, &is) != LG_OK)
                return 1;
            int64_t comp = cpu_us() - c0;
            lg_buf b;
            lg_buf_init(&b, 256u << 20);
            c0 = cpu_us();
            if(lg_report_write_json(r, &b) != LG_OK)
                return 1;
            int64_t wr = cpu_us() - c0;
            printf("%-26s %-6s %8zu %8.0fms %8.0fms %8.1fms %8.1fms %8zu\n", combos[k].name, year ? "1 y" : "2 y",
                   lg_report_table_rows(t), scan_w / 1000.0, scan_c / 1000.0, comp / 1000.0, wr / 1000.0,
                   r->n_groups);
            lg_buf_free(&b);
            lg_report_result_free(r);
            lg_report_table_free(t);
            lg_issues_free(&is);
        }
    printf("peak RSS of this process: %.1f MB\n", peak_rss_kb() / 1024.0);
    return 0;
}

int main(int argc, char **argv)
{
    if(argc < 3 || (strcmp(argv[1], "load") != 0 && strcmp(argv[1], "run") != 0)) {
        fprintf(stderr, "usage: %s load DIR [N [SEED]] | run DIR\n", argv[0]);
        return 2;
    }
    size_t n = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 1000000;
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 42;
    if(n == 0 || n > LG_REPORT_MAX_ROWS) {
        fprintf(stderr, "N must be 1..%u\n", LG_REPORT_MAX_ROWS);
        return 2;
    }
    lg_issues is = {0};
    lg_store *st = NULL;
    if(lg_store_open(argv[2], &st, &is) != LG_OK) {
        fprintf(stderr, "cannot open the store at %s: %s\n", argv[2],
                is.count ? is.items[0].diagnostics : "?");
        lg_issues_free(&is);
        return 1;
    }
    int rc = strcmp(argv[1], "load") == 0 ? load(st, n, seed) : run(st);
    lg_store_close(st);
    lg_issues_free(&is);
    return rc;
}
