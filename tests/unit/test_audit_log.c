/* test_audit_log.c - audit line encode/decode (escaping, bounds), the
 * appending writer under threads, query parsing, interaction mapping and the
 * newest-first export with _count and date filters. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loopgate/audit.h"
#include "loopgate/time.h"

static char dir[64];
static char path[128];

static void mkdir_tmp(void)
{
    snprintf(dir, sizeof(dir), "/tmp/lg-audit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/%s", dir, LG_AUDIT_FILE);
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(audit, .init = mkdir_tmp, .fini = rm_tmp);

static int64_t at(const char *iso)
{
    int64_t lo, hi;
    cr_assert_eq(lg_time_parse_range(iso, &lo, &hi), LG_OK, "%s", iso);
    return lo;
}

Test(audit, line_round_trip)
{
    lg_audit_record r = {.time_ms = at("2026-11-30T20:01:02.345Z"), .client = "cbo-1",
                         .role = "referral-recipient", .who = "Organization/cbo-1",
                         .method = "GET", .path = "/Task", .query = "owner=Organization/cbo-1&status=requested",
                         .status = 200, .type = "Task", .id = NULL, .ms = 1.25};
    char line[LG_AUDIT_MAX_LINE];
    size_t n = lg_audit_encode(&r, line, sizeof(line));
    cr_assert_gt(n, 0);
    cr_assert_eq(line[n - 1], '\n');
    cr_assert_null(memchr(line, '\n', n - 1), "one line");
    lg_audit_entry e;
    cr_assert_eq(lg_audit_decode(line, n, &e), LG_OK, "%.*s", (int)n, line);
    cr_assert_eq(e.r.time_ms, r.time_ms);
    cr_assert_str_eq(e.r.client, "cbo-1");
    cr_assert_str_eq(e.r.role, "referral-recipient");
    cr_assert_str_eq(e.r.who, "Organization/cbo-1");
    cr_assert_str_eq(e.r.method, "GET");
    cr_assert_str_eq(e.r.path, "/Task");
    cr_assert_str_eq(e.r.query, r.query);
    cr_assert_eq(e.r.status, 200);
    cr_assert_str_eq(e.r.type, "Task");
    cr_assert_null(e.r.id);
    cr_assert_float_eq(e.r.ms, 1.25, 1e-9);
    lg_audit_entry_clear(&e);

    /* an unauthenticated request: nulls survive as NULL */
    lg_audit_record u = {.time_ms = r.time_ms, .method = "DELETE", .path = "/Patient/1",
                         .status = 401};
    n = lg_audit_encode(&u, line, sizeof(line));
    cr_assert_eq(lg_audit_decode(line, n, &e), LG_OK);
    cr_assert_null(e.r.client);
    cr_assert_null(e.r.role);
    cr_assert_null(e.r.query);
    cr_assert_eq(e.r.status, 401);
    lg_audit_entry_clear(&e);
    cr_assert_eq(lg_audit_decode("not json\n", 9, &e), LG_EINVAL);
    cr_assert_eq(lg_audit_decode("{\"time\":\"x\"}", 12, &e), LG_EINVAL);
    cr_assert_eq(lg_audit_decode("", 0, &e), LG_EINVAL);
}

Test(audit, hostile_text_stays_one_valid_bounded_line)
{
    /* quotes, backslashes, control characters, invalid UTF-8, and a path
     * far beyond the line bound */
    size_t big = 20000;
    char *path_text = malloc(big + 1);
    for(size_t i = 0; i < big; i++)
        path_text[i] = "a\"\\\n\x01\xff\xc3\xa9/"[i % 9];
    path_text[big] = '\0';
    lg_audit_record r = {.time_ms = 0, .client = "c", .method = "GET", .path = path_text,
                         .query = "q=\"x\"\r\n{}", .status = 400};
    char line[LG_AUDIT_MAX_LINE];
    size_t n = lg_audit_encode(&r, line, sizeof(line));
    cr_assert_leq(n, LG_AUDIT_MAX_LINE);
    cr_assert_null(memchr(line, '\n', n - 1));
    lg_audit_entry e;
    cr_assert_eq(lg_audit_decode(line, n, &e), LG_OK, "%.300s", line);
    cr_assert_str_eq(e.r.query, "q=\"x\"\r\n{}");
    cr_assert_lt(strlen(e.r.path), big);
    cr_assert_eq(strncmp(e.r.path, "a\"\\\n\x01?\xc3\xa9/a", 10), 0, "invalid byte became '?'");
    cJSON *j = cJSON_ParseWithLength(line, n);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "cut")), "a cut line says so");
    cJSON_Delete(j);
    lg_audit_entry_clear(&e);
    free(path_text);
    /* a buffer below the bound is refused */
    cr_assert_eq(lg_audit_encode(&r, line, 100), 0);
}

typedef struct job {
    lg_audit_log *log;
    int thread;
} job;

static void *writer(void *arg)
{
    job *j = arg;
    char q[64];
    for(int i = 0; i < 500; i++) {
        snprintf(q, sizeof(q), "t=%d&i=%d", j->thread, i);
        lg_audit_record r = {.time_ms = lg_time_now_ms(), .client = "w", .method = "GET",
                             .path = "/Patient", .query = q, .status = 200};
        if(lg_audit_log_write(j->log, &r))
            return (void *)1;
    }
    return NULL;
}

Test(audit, threads_append_whole_lines_and_the_file_survives_reopening)
{
    lg_audit_log *log;
    lg_issues is = {0};
    cr_assert_eq(lg_audit_log_open(dir, &log, &is), LG_OK);
    pthread_t t[4];
    job jobs[4];
    for(int i = 0; i < 4; i++) {
        jobs[i] = (job){log, i};
        pthread_create(&t[i], NULL, writer, &jobs[i]);
    }
    for(int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        cr_assert_null(rv);
    }
    lg_audit_log_close(log);
    /* reopened: appends, never truncates */
    cr_assert_eq(lg_audit_log_open(dir, &log, &is), LG_OK);
    lg_audit_record last = {.time_ms = lg_time_now_ms(), .method = "GET", .path = "/x",
                            .status = 404};
    cr_assert_eq(lg_audit_log_write(log, &last), LG_OK);
    lg_audit_log_close(log);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    FILE *f = fopen(path, "r");
    char line[LG_AUDIT_MAX_LINE + 2];
    int count = 0, seen[4] = {0};
    while(fgets(line, sizeof(line), f)) {
        lg_audit_entry e;
        cr_assert_eq(lg_audit_decode(line, strlen(line), &e), LG_OK, "line %d: %s", count, line);
        int th, i;
        if(e.r.query && sscanf(e.r.query, "t=%d&i=%d", &th, &i) == 2) {
            cr_assert_eq(i, seen[th], "thread %d's lines in order", th);
            seen[th]++;
        }
        lg_audit_entry_clear(&e);
        count++;
    }
    fclose(f);
    cr_assert_eq(count, 2001);
    for(int i = 0; i < 4; i++)
        cr_assert_eq(seen[i], 500);
    lg_issues_free(&is);
}

Test(audit, query_parse)
{
    lg_audit_query q;
    lg_issues is = {0};
    cr_assert_eq(lg_audit_query_parse(NULL, &q, &is), LG_OK);
    cr_assert_eq(q.count, LG_AUDIT_DEFAULT_COUNT);
    cr_assert_eq(q.since, INT64_MIN);
    cr_assert_eq(q.until, INT64_MAX);
    cr_assert_eq(lg_audit_query_parse("_count=5000", &q, &is), LG_OK);
    cr_assert_eq(q.count, LG_AUDIT_MAX_COUNT);
    cr_assert_eq(lg_audit_query_parse("date=ge2026-11-30T10:00:00Z&date=le2026-11-30", &q, &is),
                 LG_OK);
    cr_assert_eq(q.since, at("2026-11-30T10:00:00Z"));
    cr_assert_eq(q.until, at("2026-12-01") - 1);
    cr_assert_eq(lg_audit_query_parse("date=2026-11-30", &q, &is), LG_OK);
    cr_assert_eq(q.since, at("2026-11-30"));
    cr_assert_eq(q.until, at("2026-12-01") - 1);
    cr_assert_eq(lg_audit_query_parse("date=gt2026-11-30T10:00:00%2B01:00", &q, &is), LG_OK);
    cr_assert_eq(q.since, at("2026-11-30T09:00:01Z"));
    cr_assert_eq(lg_audit_query_parse("date=lt2026-11-30T10:00:00Z", &q, &is), LG_OK);
    cr_assert_eq(q.until, at("2026-11-30T10:00:00Z") - 1);
    cr_assert_eq(lg_audit_query_parse("_count=x", &q, &is), LG_EINVAL);
    cr_assert_eq(lg_audit_query_parse("date=sa2026", &q, &is), LG_EINVAL);
    cr_assert_eq(lg_audit_query_parse("date=yesterday", &q, &is), LG_EINVAL);
    cr_assert_eq(lg_audit_query_parse("agent=x", &q, &is), LG_EINVAL);
    cr_assert_not_null(strstr(is.items[is.count - 1].diagnostics, "agent"));
    lg_issues_free(&is);
}

Test(audit, interactions_and_targets)
{
    static const struct { const char *m, *p, *code, *action; } cases[] = {
        {"GET", "/Patient/1", "read", "R"},
        {"GET", "/Patient/1/_history/2", "vread", "R"},
        {"GET", "/Patient/1/_history", "history-instance", "R"},
        {"GET", "/Patient/_history", "history-type", "R"},
        {"GET", "/_history", "history-system", "R"},
        {"GET", "/Patient", "search-type", "E"},
        {"POST", "/Patient/_search", "search-type", "E"},
        {"POST", "/Patient", "create", "C"},
        {"PUT", "/Patient/1", "update", "U"},
        {"PATCH", "/Patient/1", "patch", "U"},
        {"DELETE", "/Patient/1", "delete", "D"},
        {"DELETE", "/Patient", "delete", "D"},
        {"POST", "/", "transaction", "E"},
        {"GET", "/metadata", "capabilities", "R"},
        {"POST", "/Patient/$validate", "operation", "E"},
        {"GET", "/AuditEvent", "search-type", "E"},
    };
    for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *code, *action;
        lg_audit_interaction(cases[i].m, cases[i].p, NULL, &code, &action);
        cr_assert_str_eq(code, cases[i].code, "%s %s", cases[i].m, cases[i].p);
        cr_assert_str_eq(action, cases[i].action, "%s %s", cases[i].m, cases[i].p);
    }
    char t[80], id[80];
    lg_audit_target("/Task/7/_history/2", NULL, t, sizeof(t), id, sizeof(id));
    cr_assert(strcmp(t, "Task") == 0 && strcmp(id, "7") == 0);
    lg_audit_target("/Patient", "http://h:1/Patient/abc-1/_history/1", t, sizeof(t), id, sizeof(id));
    cr_assert(strcmp(t, "Patient") == 0 && strcmp(id, "abc-1") == 0, "%s/%s", t, id);
    lg_audit_target("/Patient", "", t, sizeof(t), id, sizeof(id));
    cr_assert(strcmp(t, "Patient") == 0 && id[0] == '\0');
    lg_audit_target("/Patient/_search", NULL, t, sizeof(t), id, sizeof(id));
    cr_assert(strcmp(t, "Patient") == 0 && id[0] == '\0');
    lg_audit_target("/metadata", NULL, t, sizeof(t), id, sizeof(id));
    cr_assert(t[0] == '\0' && id[0] == '\0');
    lg_audit_target("/", NULL, t, sizeof(t), id, sizeof(id));
    cr_assert(t[0] == '\0');
}

/* n lines, one minute apart from 2026-11-30T00:00Z, status 200 + i */
static void write_lines(int n)
{
    lg_audit_log *log;
    lg_issues is = {0};
    cr_assert_eq(lg_audit_log_open(dir, &log, &is), LG_OK);
    for(int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof(id), "p%d", i);
        lg_audit_record r = {.time_ms = at("2026-11-30T00:00:00Z") + (int64_t)i * 60000,
                             .client = "c", .role = "coordination", .who = "Organization/o",
                             .method = "GET", .path = "/Patient", .status = 200,
                             .type = "Patient", .id = id};
        cr_assert_eq(lg_audit_log_write(log, &r), LG_OK);
    }
    lg_audit_log_close(log);
}

static cJSON *export(const char *query)
{
    lg_audit_query q;
    lg_issues is = {0};
    lg_buf b;
    cr_assert_eq(lg_audit_query_parse(query, &q, &is), LG_OK);
    lg_buf_init(&b, 64u << 20);
    cr_assert_eq(lg_audit_export(path, &q, "http://h", query, &b, &is), LG_OK);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    cr_assert_not_null(j, "%.300s", b.data);
    lg_buf_free(&b);
    lg_issues_free(&is);
    return j;
}

static const char *entry_id(const cJSON *bundle, int i)
{
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(bundle, "entry"), i);
    const cJSON *what = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "resource"), "entity"), 0),
        "what");
    const cJSON *ref = cJSON_GetObjectItem(what, "reference");
    return cJSON_IsString(ref) ? ref->valuestring : "";
}

Test(audit, export_newest_first_with_count_and_dates)
{
    /* a missing log is an empty searchset, without an empty "entry" array */
    cJSON *b = export(NULL);
    cr_assert_str_eq(cJSON_GetObjectItem(b, "type")->valuestring, "searchset");
    cr_assert_null(cJSON_GetObjectItem(b, "entry"));
    cJSON_Delete(b);

    /* enough lines to span several 64 KiB chunks read backwards */
    write_lines(3000);
    b = export(NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "entry")), LG_AUDIT_DEFAULT_COUNT);
    cr_assert_str_eq(entry_id(b, 0), "Patient/p2999");
    cr_assert_str_eq(entry_id(b, 49), "Patient/p2950");
    cJSON_Delete(b);

    b = export("_count=1000");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "entry")), 1000);
    cr_assert_str_eq(entry_id(b, 999), "Patient/p2000");
    /* ids are the lines' offsets: unique */
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "entry"), 0);
    const cJSON *e1 = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "entry"), 1);
    const char *id0 = cJSON_GetObjectItem(cJSON_GetObjectItem(e0, "resource"), "id")->valuestring;
    const char *id1 = cJSON_GetObjectItem(cJSON_GetObjectItem(e1, "resource"), "id")->valuestring;
    cr_assert_str_neq(id0, id1);
    char full[128];
    snprintf(full, sizeof(full), "http://h/AuditEvent/%s", id0);
    cr_assert_str_eq(cJSON_GetObjectItem(e0, "fullUrl")->valuestring, full);
    cJSON_Delete(b);

    /* minutes 10..19 of the day: lines p10..p19 */
    b = export("date=ge2026-11-30T00:10:00Z&date=lt2026-11-30T00:20:00Z&_count=100");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "entry")), 10);
    cr_assert_str_eq(entry_id(b, 0), "Patient/p19");
    cr_assert_str_eq(entry_id(b, 9), "Patient/p10");
    cJSON_Delete(b);

    b = export("date=ge2026-12-25");
    cr_assert_null(cJSON_GetObjectItem(b, "entry"));
    cJSON_Delete(b);

    b = export("_count=0");
    cr_assert_null(cJSON_GetObjectItem(b, "entry"));
    cJSON_Delete(b);
}

Test(audit, export_skips_a_torn_line)
{
    write_lines(3);
    FILE *f = fopen(path, "a");
    fputs("{\"time\":\"2026-11-30T01:00:00Z\",\"meth", f); /* a crash mid-line */
    fclose(f);
    cJSON *b = export(NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "entry")), 3);
    cr_assert_str_eq(entry_id(b, 0), "Patient/p2");
    cJSON_Delete(b);
    /* reopening ends the torn line, so the next line is whole */
    write_lines(1);
    b = export(NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "entry")), 4);
    cr_assert_str_eq(entry_id(b, 0), "Patient/p0");
    cJSON_Delete(b);
}

Test(audit, times_and_durations_are_exact_across_the_per_second_cache)
{
    /* the encoder reuses the last second's text; milliseconds must still be
     * each line's own, and a new second must be formatted afresh */
    const int64_t base = at("2026-11-30T23:59:59Z");
    const int64_t times[] = {base + 7, base + 999, base + 1000, base + 1001, base + 7, 0};
    for(size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        lg_audit_record r = {.time_ms = times[i], .method = "GET", .path = "/", .status = 200,
                             .ms = 12.3456};
        char line[LG_AUDIT_MAX_LINE];
        size_t n = lg_audit_encode(&r, line, sizeof(line));
        lg_audit_entry e;
        cr_assert_eq(lg_audit_decode(line, n, &e), LG_OK, "%s", line);
        cr_assert_eq(e.r.time_ms, times[i], "%s", line);
        cr_assert_not_null(strstr(line, "\"ms\":12.346"), "%s", line);
        lg_audit_entry_clear(&e);
    }
    lg_audit_record r = {.time_ms = base, .method = "GET", .path = "/", .status = 503, .ms = 0};
    char line[LG_AUDIT_MAX_LINE];
    lg_audit_encode(&r, line, sizeof(line));
    cr_assert_not_null(strstr(line, "\"status\":503,"), "%s", line);
    cr_assert_not_null(strstr(line, "\"ms\":0.000"), "%s", line);
    cr_assert_not_null(strstr(line, "\"time\":\"2026-11-30T23:59:59.000Z\""), "%s", line);
}
