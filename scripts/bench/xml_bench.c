/* xml_bench.c - FHIR XML against FHIR JSON on the same resources, one
 * thread, for scripts/bench/xml.sh.
 *
 *   lg_bench_xml [--defs DIR] [--rounds N] [--round-ms MS] FILE.json...
 *
 * Every JSON file is read, and its XML made with lg_json_to_xml, outside the
 * clock. Then three things are timed for each format on the whole set, in
 * rounds of about --round-ms (median of --rounds reported, the machines
 * here being shared and noisy):
 *   parse           lg_json_parse  vs lg_xml_to_json (text -> the same tree)
 *   parse+structure  + lg_validate_resource
 *   parse+full       + lg_validate_full (invariants, bindings: what a write does)
 * Output (TSV): step  format  files  MB  median_rps  MB/s, then the ratio
 * XML/JSON of each step's median throughput.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "loopgate/buf.h"
#include "loopgate/cli.h"
#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/time.h"
#include "loopgate/validate.h"
#include "loopgate/xml.h"

#define MAX_FILES 5000
#define MAX_ROUNDS 51

typedef struct doc {
    char *json, *xml;
    size_t json_len, xml_len;
} doc;

static doc docs[MAX_FILES];
static size_t ndocs;
static lg_defs *defs;
static lg_json_limits lim;

/* One pass over every document: parse (format 0 JSON, 1 XML), then
 * validate at level 0 none, 1 structure, 2 full. Returns failures. */
static size_t pass(int xml, int level)
{
    size_t bad = 0;
    for(size_t i = 0; i < ndocs; i++) {
        cJSON *res = NULL;
        lg_issues is = {0};
        lg_status st = xml ? lg_xml_to_json(defs, docs[i].xml, docs[i].xml_len, &lim, &res, &is)
                           : lg_json_parse(docs[i].json, docs[i].json_len, &lim, &res, &is);
        if(st)
            bad++;
        else if(level == 1)
            lg_validate_resource(defs, res, &is);
        else if(level == 2)
            lg_validate_full(defs, res, NULL, 0, &is);
        lg_issues_free(&is);
        cJSON_Delete(res);
    }
    return bad;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median passes per second over rounds of about round_ms each. */
static double measure(int xml, int level, int rounds, int round_ms)
{
    int64_t t0 = lg_time_mono_us();
    pass(xml, level);
    double one = (double)(lg_time_mono_us() - t0);
    int reps = one > 0 ? (int)(round_ms * 1000.0 / one) : 1;
    if(reps < 1)
        reps = 1;
    double rate[MAX_ROUNDS];
    for(int r = 0; r < rounds; r++) {
        t0 = lg_time_mono_us();
        for(int k = 0; k < reps; k++)
            pass(xml, level);
        double us = (double)(lg_time_mono_us() - t0);
        rate[r] = us > 0 ? reps * 1e6 / us : 0;
    }
    qsort(rate, (size_t)rounds, sizeof(*rate), cmp_double);
    return rate[rounds / 2];
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int rounds = 7, round_ms = 300, i = 1;
    for(; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if(strcmp(argv[i], "--defs") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if(strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = (int)strtol(argv[++i], NULL, 10);
        else if(strcmp(argv[i], "--round-ms") == 0 && i + 1 < argc)
            round_ms = (int)strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: lg_bench_xml [--defs DIR] [--rounds N] [--round-ms MS] FILE...\n");
            return 2;
        }
    }
    if(rounds < 1 || rounds > MAX_ROUNDS || round_ms < 1) {
        fprintf(stderr, "lg_bench_xml: --rounds 1..%d, --round-ms > 0\n", MAX_ROUNDS);
        return 2;
    }
    if(!dir)
        dir = lg_defs_default_dir(argv[0]);
    lg_issues is = {0};
    if(!dir || lg_defs_load(dir, lg_defs_default_types, &defs, &is) ||
       lg_defs_load_terminology(defs, dir, &is)) {
        fprintf(stderr, "lg_bench_xml: cannot load definitions from %s\n", dir ? dir : "(none)");
        return 2;
    }
    lg_issues_free(&is);
    lim = lg_json_default_limits;
    lim.max_bytes = 64u << 20;
    size_t json_bytes = 0, xml_bytes = 0;
    for(; i < argc && ndocs < MAX_FILES; i++) {
        doc *d = &docs[ndocs];
        if(lg_cli_read_file(argv[i], 64u << 20, &d->json, &d->json_len))
            continue;
        cJSON *res = NULL;
        lg_buf b;
        lg_buf_init(&b, 256u << 20);
        if(lg_json_parse(d->json, d->json_len, &lim, &res, &is) ||
           lg_json_to_xml(defs, res, &b, &is)) {
            fprintf(stderr, "lg_bench_xml: skipped %s\n", argv[i]);
            free(d->json);
            lg_buf_free(&b);
        } else {
            d->xml = lg_buf_take(&b, &d->xml_len);
            json_bytes += d->json_len;
            xml_bytes += d->xml_len;
            ndocs++;
        }
        lg_issues_free(&is);
        cJSON_Delete(res);
    }
    if(!ndocs) {
        fprintf(stderr, "lg_bench_xml: no files\n");
        return 2;
    }
    static const char *const steps[] = {"parse", "parse+structure", "parse+full"};
    printf("step\tformat\tfiles\tMB\tmedian_rps\tMB/s\n");
    double ratio[3];
    for(int level = 0; level < 3; level++) {
        double rj = measure(0, level, rounds, round_ms);
        double rx = measure(1, level, rounds, round_ms);
        printf("%s\tjson\t%zu\t%.2f\t%.0f\t%.1f\n", steps[level], ndocs, json_bytes / 1e6,
               rj * (double)ndocs, rj * (double)json_bytes / 1e6);
        printf("%s\txml\t%zu\t%.2f\t%.0f\t%.1f\n", steps[level], ndocs, xml_bytes / 1e6,
               rx * (double)ndocs, rx * (double)xml_bytes / 1e6);
        ratio[level] = rj > 0 ? rx / rj : 0;
    }
    for(int level = 0; level < 3; level++)
        printf("ratio xml/json %s: %.2f (XML takes %.1fx the time of JSON)\n", steps[level],
               ratio[level], ratio[level] > 0 ? 1 / ratio[level] : 0);
    for(size_t k = 0; k < ndocs; k++) {
        free(docs[k].json);
        free(docs[k].xml);
    }
    lg_defs_free(defs);
    return 0;
}
