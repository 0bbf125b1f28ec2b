/* validate_bench.c - validation throughput of Loopgate's validator, one
 * thread, for scripts/bench/validate.sh.
 *
 *   lg_bench_validate [--defs DIR] [--package DIR]... [--rounds N] [--round-ms MS]
 *                     [--slowest N] NAME=LISTFILE...
 *   lg_bench_validate --served-types
 *   lg_bench_validate [--defs DIR] [--package DIR]... --dump NAME=LISTFILE...
 *
 * Each LISTFILE names one JSON file per line. The definitions are loaded
 * once and every file is parsed once, outside the clock; only validation is
 * timed, twice: lg_validate_full (structure, then the base definitions'
 * invariants in FHIRPath, bindings against R4's ValueSets, and any profile a
 * resource claims that is loaded: what $validate and the CLI do) and lg_validate_resource (the structure
 * check alone). A round validates the whole set as many
 * times as fills about --round-ms (calibrated once), so short sets are not
 * measured at the clock's grain; the median of the rounds is reported, as
 * the machines here are shared and noisy. Output, one line per set (TSV):
 *
 *   loopgate|loopgate-structure  NAME  files  invalid  median_rps  min_rps  max_rps
 *
 * "invalid" counts files with at least one error, so the other validators'
 * work can be compared with ours. --slowest N lists the N files that take
 * longest (to stderr). --full-only skips the structure-only measurement
 * (for perf record). --passes N runs N untimed passes of the full check
 * over each set and nothing else (for perf stat: count instructions where
 * the clock is too noisy).
 *
 * --dump times nothing: it prints, for every file, the status of
 * lg_validate_full and every issue it reports (severity, code, location,
 * message), one per line, so that a change meant only to make validation
 * faster can be checked to report exactly the same things
 * (scripts/bench/validate-diff.sh runs it before and after).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/cli.h"
#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/time.h"
#include "loopgate/validate.h"

#define MAX_ROUNDS 101
#define MAX_FILES 100000
#define MAX_FILE_BYTES (64u << 20)

typedef struct set {
    const char *name;
    cJSON **res;
    char **paths;
    size_t n;
} set;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Parse every file named in list into s (trees owned by s). 0 or -1. */
static int load_set(set *s, const char *list)
{
    FILE *f = fopen(list, "r");
    char line[4096];
    if(!f) {
        fprintf(stderr, "lg_bench_validate: %s: %s\n", list, strerror(errno));
        return -1;
    }
    while(fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if(!line[0])
            continue;
        if(s->n == MAX_FILES) {
            fprintf(stderr, "lg_bench_validate: more than %d files in %s\n", MAX_FILES, list);
            goto fail;
        }
        char *text = NULL;
        size_t len = 0;
        lg_issues is = {0};
        cJSON *res = NULL;
        lg_json_limits lim = lg_json_default_limits;
        lim.max_bytes = MAX_FILE_BYTES;
        if(lg_cli_read_file(line, MAX_FILE_BYTES, &text, &len) ||
           lg_json_parse(text, len, &lim, &res, &is)) {
            fprintf(stderr, "lg_bench_validate: cannot read or parse %s\n", line);
            free(text);
            lg_issues_free(&is);
            goto fail;
        }
        free(text);
        cJSON **grown = realloc(s->res, (s->n + 1) * sizeof(*s->res));
        if(grown)
            s->res = grown;
        char **pgrown = grown ? realloc(s->paths, (s->n + 1) * sizeof(*s->paths)) : NULL;
        if(pgrown)
            s->paths = pgrown;
        char *path = pgrown ? strdup(line) : NULL;
        if(!path) {
            cJSON_Delete(res);
            goto fail;
        }
        s->paths[s->n] = path;
        s->res[s->n++] = res;
    }
    fclose(f);
    return 0;
fail:
    fclose(f);
    return -1;
}

/* Validate the set reps times; returns the number of files with errors in
 * the last pass, or -1 when validation ran out of memory. */
static long pass(const lg_defs *defs, const set *s, long reps, int full)
{
    long invalid = 0;
    for(long r = 0; r < reps; r++) {
        invalid = 0;
        for(size_t i = 0; i < s->n; i++) {
            lg_issues is = {0};
            lg_status st = full ? lg_validate_full(defs, s->res[i], NULL, 0, &is)
                                : lg_validate_resource(defs, s->res[i], &is);
            lg_issues_free(&is);
            if(st == LG_ENOMEM)
                return -1;
            invalid += st != LG_OK;
        }
    }
    return invalid;
}

static const char *const sev_name[] = {"fatal", "error", "warning", "information"};

/* --dump: every file's status and issues, in the order reported. */
static int dump_set(const lg_defs *defs, const set *s)
{
    for(size_t i = 0; i < s->n; i++) {
        lg_issues is = {0};
        lg_status st = lg_validate_full(defs, s->res[i], NULL, 0, &is);
        printf("== %s %s: %s\n", s->name, s->paths[i], lg_status_str(st));
        for(size_t k = 0; k < is.count; k++) {
            const lg_issue *x = &is.items[k];
            unsigned sv = (unsigned)x->severity;
            printf("  %s %s %s: %s\n", sv < 4 ? sev_name[sv] : "?", x->code ? x->code : "-",
                   x->location ? x->location : "-", x->diagnostics ? x->diagnostics : "");
        }
        lg_issues_free(&is);
        if(st == LG_ENOMEM)
            return -1;
    }
    return 0;
}

typedef struct file_time {
    double us;
    size_t i;
} file_time;

static int cmp_time_desc(const void *a, const void *b)
{
    double x = ((const file_time *)a)->us, y = ((const file_time *)b)->us;
    return x > y ? -1 : x < y;
}

/* To stderr: the top files by validation time (best of 3), to show where
 * the time goes. */
static void report_slowest(const lg_defs *defs, const set *s, int full, size_t top)
{
    file_time *t = calloc(s->n, sizeof(*t));
    if(!t)
        return;
    for(size_t i = 0; i < s->n; i++) {
        t[i].i = i;
        t[i].us = 1e18;
        for(int r = 0; r < 3; r++) {
            lg_issues is = {0};
            int64_t t0 = lg_time_mono_us();
            if(full)
                lg_validate_full(defs, s->res[i], NULL, 0, &is);
            else
                lg_validate_resource(defs, s->res[i], &is);
            double us = (double)(lg_time_mono_us() - t0);
            lg_issues_free(&is);
            if(us < t[i].us)
                t[i].us = us;
        }
    }
    qsort(t, s->n, sizeof(*t), cmp_time_desc);
    for(size_t k = 0; k < top && k < s->n; k++)
        fprintf(stderr, "slowest %s %s: %8.0f us  %s\n", full ? "full" : "structure", s->name,
                t[k].us, s->paths[t[k].i]);
    free(t);
}

static int parse_long(const char *opt, const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if(errno || !*v || *end || n < min || n > max) {
        fprintf(stderr, "lg_bench_validate: %s expects %ld..%ld, not '%s'\n", opt, min, max, v);
        return -1;
    }
    *out = n;
    return 0;
}

int main(int argc, char **argv)
{
    const char *defs_dir = NULL;
    const char *packages[8];
    size_t npackages = 0;
    long rounds = 7, round_ms = 300, slowest = 0;
    int dump = 0, full_only = 0;
    long passes = -1;
    set sets[16];
    size_t nsets = 0;
    int rc = 1;
    lg_defs *defs = NULL;
    memset(sets, 0, sizeof(sets));
    for(int i = 1; i < argc; i++) {
        if(!strcmp(argv[i], "--served-types")) {
            for(const char *const *t = lg_defs_default_types; *t; t++)
                printf("%s\n", *t);
            return 0;
        } else if(!strcmp(argv[i], "--full-only")) {
            full_only = 1; /* for profiling the full check alone */
        } else if(!strcmp(argv[i], "--passes") && i + 1 < argc) {
            /* a fixed amount of work, for counting instructions (perf stat)
             * on a machine too noisy to time */
            if(parse_long("--passes", argv[++i], 0, 100000, &passes))
                return 2;
        } else if(!strcmp(argv[i], "--dump")) {
            dump = 1;
        } else if(!strcmp(argv[i], "--defs") && i + 1 < argc) {
            defs_dir = argv[++i];
        } else if(!strcmp(argv[i], "--package") && i + 1 < argc &&
                  npackages < sizeof(packages) / sizeof(*packages)) {
            packages[npackages++] = argv[++i]; /* claimed IG profiles are then checked too */
        } else if(!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            if(parse_long("--rounds", argv[++i], 1, MAX_ROUNDS, &rounds))
                return 2;
        } else if(!strcmp(argv[i], "--slowest") && i + 1 < argc) {
            if(parse_long("--slowest", argv[++i], 0, 1000, &slowest))
                return 2;
        } else if(!strcmp(argv[i], "--round-ms") && i + 1 < argc) {
            if(parse_long("--round-ms", argv[++i], 1, 60000, &round_ms))
                return 2;
        } else if(strchr(argv[i], '=') && argv[i][0] != '-' &&
                  nsets < sizeof(sets) / sizeof(*sets)) {
            char *eq = strchr(argv[i], '=');
            *eq = '\0';
            sets[nsets].name = argv[i];
            if(load_set(&sets[nsets++], eq + 1))
                goto out;
        } else {
            fprintf(stderr, "usage: lg_bench_validate [--defs DIR] [--package DIR]... [--rounds N] "
                            "[--round-ms MS] [--slowest N] [--dump] [--full-only] [--passes N] NAME=LISTFILE... | --served-types\n");
            return 2;
        }
    }
    if(!defs_dir)
        defs_dir = lg_defs_default_dir(argv[0]);
    lg_issues is = {0};
    if(!defs_dir || lg_defs_load(defs_dir, lg_defs_default_types, &defs, &is)) {
        fprintf(stderr, "lg_bench_validate: cannot load definitions (--defs DIR)\n");
        lg_issues_free(&is);
        goto out;
    }
    lg_issues_free(&is);
    for(size_t k = 0; k < npackages; k++) {
        lg_status pst = lg_defs_load_package(defs, packages[k], &is);
        lg_issues_free(&is);
        if(pst) {
            fprintf(stderr, "lg_bench_validate: cannot load package %s\n", packages[k]);
            goto out;
        }
    }
    /* Bindings too, as $validate and the CLI check them. */
    if(lg_defs_load_terminology(defs, defs_dir, &is)) {
        fprintf(stderr, "lg_bench_validate: cannot build the terminology\n");
        lg_issues_free(&is);
        goto out;
    }
    lg_issues_free(&is);
    if(passes >= 0) {
        for(size_t k = 0; k < nsets; k++)
            if(pass(defs, &sets[k], passes, 1) < 0)
                goto out;
        rc = 0;
        goto out;
    }
    if(dump) {
        for(size_t k = 0; k < nsets; k++)
            if(dump_set(defs, &sets[k]))
                goto out;
        rc = 0;
        goto out;
    }
    for(int full = 1; full >= full_only; full--) {
        for(size_t k = 0; k < nsets; k++) {
            set *s = &sets[k];
            if(!s->n)
                continue;
            if(slowest)
                report_slowest(defs, s, full, (size_t)slowest);
            /* Calibrate: a warm-up pass, then as many passes as fill round_ms. */
            int64_t t0 = lg_time_mono_us();
            long invalid = pass(defs, s, 1, full);
            int64_t one = lg_time_mono_us() - t0;
            if(invalid < 0)
                goto out;
            long reps = one > 0 ? (long)(round_ms * 1000 / one) : 1000;
            if(reps < 1)
                reps = 1;
            double rps[MAX_ROUNDS];
            for(long r = 0; r < rounds; r++) {
                t0 = lg_time_mono_us();
                if(pass(defs, s, reps, full) < 0)
                    goto out;
                int64_t us = lg_time_mono_us() - t0;
                rps[r] = (double)s->n * (double)reps * 1e6 / (double)(us > 0 ? us : 1);
            }
            qsort(rps, (size_t)rounds, sizeof(*rps), cmp_double);
            printf("%s\t%s\t%zu\t%ld\t%.0f\t%.0f\t%.0f\n", full ? "loopgate" : "loopgate-structure",
                   s->name, s->n, invalid, rps[rounds / 2], rps[0], rps[rounds - 1]);
            fflush(stdout);
        }
    }
    rc = 0;
out:
    for(size_t k = 0; k < nsets; k++) {
        for(size_t i = 0; i < sets[k].n; i++) {
            cJSON_Delete(sets[k].res[i]);
            free(sets[k].paths[i]);
        }
        free(sets[k].res);
        free(sets[k].paths);
    }
    lg_defs_free(defs);
    return rc;
}
