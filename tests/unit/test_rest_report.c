/* GET /$closed-loop-report through lg_rest_handle (issue #4, Closed-loop
 * report): a small data set written through the REST API
 * (Patients with demographics, referrals answered and closed at chosen
 * lastModified times), then the endpoint's counts, shares, medians
 * and 90th percentiles checked against values worked out by hand below,
 * small-cell suppression (no hidden cell recomputable from its row or
 * column), the MeasureReport validated against base R4, 400s naming the
 * parameter, 403 for referral sources and recipients, and /metadata.
 *
 * The data is written by the server itself (no actor: ids chosen here;
 * test_rest_workflow covers who may write what), Task transitions through
 * the same state machine.
 *
 * The data set (period 2026-10-01 .. 2026-10-31; authored 2026-10-01T00:00Z):
 *   child pa: race 2106-3, language es, county Fresno
 *   child pb: race 2054-5, language en, county Alameda
 *   child pc: no Patient resource (demographics unknown)
 *   r1 pa  accepted +1 d, completed +5 d   closed-served      resp 1  close 5
 *   r2 pa  accepted +3 d, in-progress       in-progress        resp 3
 *   r3 pb  rejected +2 d                    closed-not-served  resp 2  close 2
 *   r4 pb  requested                        pending
 *   r5 pc  accepted +1 d, completed +9 d   closed-served      resp 1  close 9
 *   r6 pa  authored 2026-09-15             outside the period
 * Overall: total 5, pending 1, in-progress 1, served 2, not served 1,
 * closed 3, share 0.6; response days {1,1,2,3}: median 1.5, p90 2.7
 * (type 7: h = 3 x 0.9 = 2.7 -> 2 + 0.7 x (3 - 2)); closure days {2,5,9}:
 * median 5, p90 8.2 (h = 1.8 -> 5 + 0.8 x 4); overdue 2 (r4 unanswered
 * after 3 days, r2 open after 30 days; "now" is after 2026-11-01).
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/model.h"
#include "loopgate/rest.h"
#include "loopgate/store.h"
#include "loopgate/validate.h"
#include "lg_test.h"
#include "lg_test_rest.h"

static const char *const clinic_refs[] = {"Organization/clinic-1"};
static const char *const cbo_refs[] = {"Organization/cbo-17"};
static const lg_actor requester = {LG_ROLE_REFERRAL_SOURCE, clinic_refs, 1};
static const lg_actor owner = {LG_ROLE_REFERRAL_RECIPIENT, cbo_refs, 1};
static const lg_actor reporter = {LG_ROLE_REPORTING, NULL, 0};
static const lg_actor staff = {LG_ROLE_COORDINATION, NULL, 0};

typedef struct reply {
    lg_rest_response r;
    cJSON *json;
} reply;

static reply call_h(const lg_actor *a, const char *method, const char *path, const char *query,
                    const char *body, const char *accept)
{
    reply out;
    lg_rest_request req = {
        .method = method, .path = path, .query = query, .base = "http://test", .accept = accept,
        .content_type = body ? "application/fhir+json" : NULL,
        .body = body, .body_len = body ? strlen(body) : 0, .actor = a,
    };
    cr_assert_eq(lg_rest_handle(&rest, store, &req, &out.r), LG_OK);
    out.json = out.r.body ? cJSON_ParseWithLength(out.r.body, out.r.body_len) : NULL;
    return out;
}

static void done(reply *r)
{
    cJSON_Delete(r->json);
    lg_rest_response_clear(&r->r);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    cr_assert_geq(vasprintf(&s, f, ap), 0);
    va_end(ap);
    return s;
}

static void put(const lg_actor *a, const char *type, const char *id, char *body)
{
    char path[128];
    snprintf(path, sizeof(path), "/%s/%s", type, id);
    reply r = call_h(a, "PUT", path, NULL, body, NULL);
    cr_assert(r.r.status == 200 || r.r.status == 201, "PUT %s: %d %s", path, r.r.status, r.r.body);
    done(&r);
    free(body);
}

#define SDOHCC "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

static char *patient(const char *id, const char *race, const char *lang, const char *county)
{
    return fmt("{\"resourceType\":\"Patient\",\"id\":\"%s\",\"extension\":[{\"url\":\"" LG_URL_US_CORE_RACE "\","
               "\"extension\":[{\"url\":\"ombCategory\",\"valueCoding\":{\"system\":\"urn:oid:2.16.840.1.113883.6.238\","
               "\"code\":\"%s\"}},{\"url\":\"text\",\"valueString\":\"r\"}]}],"
               "\"communication\":[{\"language\":{\"coding\":[{\"system\":\"urn:ietf:bcp:47\",\"code\":\"%s\"}]},"
               "\"preferred\":true}],\"address\":[{\"district\":\"%s\",\"state\":\"CA\"}]}",
               id, race, lang, county);
}

static char *sr(const char *id, const char *child, const char *authored)
{
    return fmt("{\"resourceType\":\"ServiceRequest\",\"id\":\"%s\",\"status\":\"active\",\"intent\":\"order\","
               "\"category\":[{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"food-insecurity\"}]}],"
               "\"subject\":{\"reference\":\"Patient/%s\"},\"authoredOn\":\"%s\","
               "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
               "\"performer\":[{\"reference\":\"Organization/cbo-17\"}]}", id, child, authored);
}

static char *task(const char *id, const char *child, const char *status, const char *at, const char *extra)
{
    return fmt("{\"resourceType\":\"Task\",\"id\":\"t-%s\",\"status\":\"%s\",\"intent\":\"order\","
               "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\",\"code\":\"fulfill\"}]},"
               "\"focus\":{\"reference\":\"ServiceRequest/%s\"},\"for\":{\"reference\":\"Patient/%s\"},"
               "\"authoredOn\":\"2026-09-15T00:00:00Z\",\"lastModified\":\"%s\","
               "\"requester\":{\"reference\":\"Organization/clinic-1\"},"
               "\"owner\":{\"reference\":\"Organization/cbo-17\"}%s}", id, status, id, child, at, extra);
}

#define OUTPUT ",\"output\":[{\"type\":{\"coding\":[{\"system\":\"" SDOHCC "\",\"code\":\"resulting-activity\"}]}," \
               "\"valueReference\":{\"reference\":\"Procedure/pr-1\"}}]"
#define REASON ",\"statusReason\":{\"text\":\"at capacity\"}"

static void referral(const char *id, const char *child, const char *authored)
{
    char tid[32];
    snprintf(tid, sizeof(tid), "t-%s", id);
    put(NULL, "ServiceRequest", id, sr(id, child, authored));
    put(NULL, "Task", tid, task(id, child, "requested", authored, ""));
}

static void move(const char *id, const char *child, const char *status, const char *at, const char *extra)
{
    char tid[32];
    snprintf(tid, sizeof(tid), "t-%s", id);
    put(NULL, "Task", tid, task(id, child, status, at, extra));
}

static void load(void)
{
    put(NULL, "Patient", "pa", patient("pa", "2106-3", "es", "Fresno"));
    put(NULL, "Patient", "pb", patient("pb", "2054-5", "en", "Alameda"));
    const char *t0 = "2026-10-01T00:00:00Z";
    referral("r1", "pa", t0);
    move("r1", "pa", "accepted", "2026-10-02T00:00:00Z", "");
    move("r1", "pa", "completed", "2026-10-06T00:00:00Z", OUTPUT);
    referral("r2", "pa", t0);
    move("r2", "pa", "accepted", "2026-10-04T00:00:00Z", "");
    move("r2", "pa", "in-progress", "2026-10-05T00:00:00Z", "");
    referral("r3", "pb", t0);
    move("r3", "pb", "rejected", "2026-10-03T00:00:00Z", REASON);
    referral("r4", "pb", t0);
    referral("r5", "pc", t0);
    move("r5", "pc", "accepted", "2026-10-02T00:00:00Z", "");
    move("r5", "pc", "completed", "2026-10-10T00:00:00Z", OUTPUT);
    referral("r6", "pa", "2026-09-15T00:00:00Z");
}

static void init(void)
{
    setup();
    rest.cfg.report_min_cell = 1; /* lets the hand-checked set be read unsuppressed */
    load();
}

TestSuite(rest_report, .init = init, .fini = teardown);

static reply report(const lg_actor *a, const char *query)
{
    return call_h(a, "GET", "/$closed-loop-report", query, NULL, NULL);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert(cJSON_IsNumber(v), "%s is not a number", k);
    return v->valuedouble;
}

static const cJSON *obj(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert_not_null(v, "no %s", k);
    return v;
}

#define CLOSE(a, b) cr_assert(fabs((a) - (b)) < 1e-3, "%s = %f, want %f", #a, (double)(a), (double)(b))

Test(rest_report, overall_counts_shares_and_days)
{
    reply r = report(&reporter, "start=2026-10-01&end=2026-10-31&threshold=1");
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert(strncmp(r.r.content_type, "application/json", 16) == 0);
    const cJSON *o = obj(r.json, "overall");
    CLOSE(num(o, "total"), 5);
    const cJSON *s = obj(o, "states");
    CLOSE(num(s, "pending"), 1);
    CLOSE(num(s, "accepted"), 0);
    CLOSE(num(s, "in-progress"), 1);
    CLOSE(num(s, "on-hold"), 0);
    CLOSE(num(s, "closed-served"), 2);
    CLOSE(num(s, "closed-not-served"), 1);
    CLOSE(num(o, "closed"), 3);
    CLOSE(num(o, "shareClosed"), 0.6);
    CLOSE(num(o, "overdue"), 2);
    CLOSE(num(obj(o, "daysToFirstResponse"), "median"), 1.5);
    CLOSE(num(obj(o, "daysToFirstResponse"), "p90"), 2.7);
    CLOSE(num(obj(o, "daysToClosure"), "median"), 5);
    CLOSE(num(obj(o, "daysToClosure"), "p90"), 8.2);
    done(&r);
    /* r6 (September) comes in when the period does. */
    r = report(&staff, "start=2026-09-01&end=2026-10-31&threshold=1");
    cr_assert_eq(r.r.status, 200);
    CLOSE(num(obj(r.json, "overall"), "total"), 6);
    done(&r);
    /* The server itself (no actor) may ask too. */
    r = report(NULL, "start=2026-10-01&end=2026-10-31&threshold=1");
    cr_assert_eq(r.r.status, 200);
    done(&r);
}

/* The group whose key[dim] is value. */
static const cJSON *group(const cJSON *rep, const char *dim, const char *value)
{
    const cJSON *g, *gs = obj(rep, "groups");
    cJSON_ArrayForEach(g, gs) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj(g, "key"), dim);
        if(cJSON_IsString(v) && strcmp(v->valuestring, value) == 0)
            return g;
    }
    cr_assert_fail("no group %s=%s", dim, value);
    return NULL;
}

Test(rest_report, group_by_race_and_a_patient_update)
{
    reply r = report(&reporter, "start=2026-10-01&end=2026-10-31&threshold=1&group-by=race");
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    cr_assert_eq(cJSON_GetArraySize(obj(r.json, "groups")), 3);
    const cJSON *w = group(r.json, "race", "2106-3"), *b = group(r.json, "race", "2054-5"),
                *u = group(r.json, "race", "unknown");
    CLOSE(num(w, "total"), 2);
    CLOSE(num(obj(w, "states"), "closed-served"), 1);
    CLOSE(num(obj(w, "states"), "in-progress"), 1);
    CLOSE(num(w, "shareClosed"), 0.5);
    CLOSE(num(obj(w, "daysToFirstResponse"), "median"), 2); /* {1, 3} */
    CLOSE(num(b, "total"), 2);
    CLOSE(num(obj(b, "states"), "pending"), 1);
    CLOSE(num(obj(b, "states"), "closed-not-served"), 1);
    CLOSE(num(u, "total"), 1);
    CLOSE(num(obj(u, "daysToClosure"), "median"), 9);
    done(&r);

    /* Two dimensions cross-tabulate; pb moving county moves both its referrals. */
    put(NULL, "Patient", "pb", patient("pb", "2054-5", "en", "Fresno"));
    r = report(&reporter, "start=2026-10-01&end=2026-10-31&threshold=1&group-by=county,language");
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    const cJSON *g, *gs = obj(r.json, "groups");
    int fresno = 0;
    cJSON_ArrayForEach(g, gs) {
        const cJSON *k = obj(g, "key");
        const char *county = cJSON_GetObjectItem(k, "county")->valuestring;
        cr_assert_str_neq(county, "Alameda", "pb's referrals follow the Patient update");
        if(strcmp(county, "Fresno") == 0)
            fresno += (int)num(g, "total");
    }
    cr_assert_eq(fresno, 4);
    done(&r);
}

/* In each equation of a row or column, never exactly one hidden member. */
static const char *const cells[] = {"pending", "accepted", "in-progress", "on-hold", "closed-served",
                                    "closed-not-served"};

static int hidden(const cJSON *row, const char *cell)
{
    const cJSON *v = strcmp(cell, "total") == 0 || strcmp(cell, "closed") == 0 || strcmp(cell, "overdue") == 0
                         ? cJSON_GetObjectItemCaseSensitive(row, cell)
                         : cJSON_GetObjectItemCaseSensitive(obj(row, "states"), cell);
    cr_assert_not_null(v, "no cell %s", cell);
    return cJSON_IsNull(v);
}

Test(rest_report, small_cells_are_suppressed_and_cannot_be_recomputed)
{
    reply r = report(&reporter, "start=2026-10-01&end=2026-10-31&threshold=3&group-by=race");
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    CLOSE(num(r.json, "threshold"), 3);
    const cJSON *o = obj(r.json, "overall"), *g, *gs = obj(r.json, "groups");
    CLOSE(num(o, "total"), 5); /* 5 >= 3: shown */
    cJSON_ArrayForEach(g, gs) {
        /* every group has 1 or 2 referrals: its total is hidden, and so are
         * its share and day figures */
        cr_assert(hidden(g, "total"));
        cr_assert(cJSON_IsNull(cJSON_GetObjectItem(g, "shareClosed")));
        cr_assert(cJSON_IsNull(cJSON_GetObjectItem(obj(g, "daysToFirstResponse"), "median")));
        /* no shown count between 1 and threshold - 1 */
        for(size_t c = 0; c < sizeof(cells) / sizeof(*cells); c++)
            if(!hidden(g, cells[c]))
                cr_assert_eq(num(obj(g, "states"), cells[c]), 0);
        /* row equation: states + total never with exactly one hidden */
        int h = hidden(g, "total");
        for(size_t c = 0; c < sizeof(cells) / sizeof(*cells); c++)
            h += hidden(g, cells[c]);
        cr_assert_neq(h, 1);
    }
    /* column equations: groups + overall */
    const char *cols[] = {"total", "closed", "overdue", "pending", "accepted", "in-progress", "on-hold",
                          "closed-served", "closed-not-served"};
    for(size_t c = 0; c < sizeof(cols) / sizeof(*cols); c++) {
        int h = hidden(o, cols[c]);
        cJSON_ArrayForEach(g, gs) h += hidden(g, cols[c]);
        cr_assert_neq(h, 1, "column %s has exactly one hidden cell", cols[c]);
    }
    done(&r);
}

Test(rest_report, measure_report_validates_against_base_r4)
{
    /* Asked for by _format, and by Accept. */
    const char *q = "start=2026-10-01&end=2026-10-31&threshold=1&group-by=race,language&_format=application/fhir%2Bjson";
    for(int how = 0; how < 2; how++) {
        reply r = how == 0 ? report(&reporter, q)
                           : call_h(&reporter, "GET", "/$closed-loop-report",
                                    "start=2026-10-01&end=2026-10-31&threshold=1&group-by=race",
                                    NULL, "application/fhir+json");
        cr_assert_eq(r.r.status, 200, "%s", r.r.body);
        cr_assert(strncmp(r.r.content_type, "application/fhir+json", 21) == 0);
        cr_assert_str_eq(cJSON_GetObjectItem(r.json, "resourceType")->valuestring, "MeasureReport");
        lg_issues is = {0};
        lg_status st = lg_validate_full(defs, r.json, NULL, 0, &is);
        for(size_t i = 0; i < is.count; i++)
            if(is.items[i].severity <= LG_SEV_ERROR)
                cr_log_error("%s: %s", is.items[i].location ? is.items[i].location : "",
                             is.items[i].diagnostics);
        cr_assert_eq(st, LG_OK);
        cr_assert_eq(lg_issues_errors(&is), 0);
        lg_issues_free(&is);
        const cJSON *grp = cJSON_GetArrayItem(obj(r.json, "group"), 0);
        CLOSE(num(obj(grp, "measureScore"), "value"), 0.6);
        const cJSON *strat = cJSON_GetArrayItem(obj(grp, "stratifier"), 0);
        cr_assert_eq(cJSON_GetArraySize(obj(strat, "code")), how == 0 ? 2 : 1);
        cr_assert_gt(cJSON_GetArraySize(obj(strat, "stratum")), 0);
        done(&r);
    }
    /* XML asked: the MeasureReport, written as FHIR XML by the negotiation */
    reply x = report(&reporter, "start=2026-10-01&end=2026-10-31&threshold=1&_format=xml");
    cr_assert_eq(x.r.status, 200, "%s", x.r.body);
    cr_assert(strncmp(x.r.content_type, "application/fhir+xml", 20) == 0, "%s", x.r.content_type);
    cr_assert(x.r.body && strstr(x.r.body, "<MeasureReport xmlns=\"http://hl7.org/fhir\""), "%s", x.r.body);
    done(&x);
    /* _format=json: the plain summary, not a FHIR resource */
    reply p = report(&reporter, "start=2026-10-01&end=2026-10-31&threshold=1&_format=json");
    cr_assert_eq(p.r.status, 200, "%s", p.r.body);
    cr_assert_null(cJSON_GetObjectItem(p.json, "resourceType"));
    CLOSE(num(obj(p.json, "overall"), "total"), 5);
    done(&p);
}

static void bad(const lg_actor *a, const char *query, int status, const char *param)
{
    reply r = report(a, query);
    cr_assert_eq(r.r.status, status, "%s: %d %s", query, r.r.status, r.r.body);
    const cJSON *iss = cJSON_GetArrayItem(obj(r.json, "issue"), 0);
    if(param) {
        const cJSON *ex = cJSON_GetArrayItem(cJSON_GetObjectItem(iss, "expression"), 0);
        cr_assert(cJSON_IsString(ex) && strcmp(ex->valuestring, param) == 0, "%s: %s", query, r.r.body);
        cr_assert_not_null(strstr(cJSON_GetObjectItem(iss, "diagnostics")->valuestring, param));
    }
    done(&r);
}

Test(rest_report, bad_parameters_are_400_naming_the_parameter)
{
    bad(&reporter, "end=2026-10-31", 400, "start");
    bad(&reporter, "start=2026-10-01", 400, "end");
    bad(&reporter, "start=yesterday&end=2026-10-31", 400, "start");
    bad(&reporter, "start=2026-10-01&end=2026-09-01", 400, "end");
    bad(&reporter, "start=2026-10-01&end=2026-10-31&group-by=zip", 400, "group-by");
    bad(&reporter, "start=2026-10-01&end=2026-10-31&group-by=race,race", 400, "group-by");
    bad(&reporter, "start=2026-10-01&end=2026-10-31&group-by=race&group-by=race", 400, "group-by");
    bad(&reporter, "start=2026-10-01&end=2026-10-31&threshold=abc", 400, "threshold");
    bad(&reporter, "start=2026-10-01&end=2026-10-31&threshold=0", 400, "threshold");
    bad(&reporter, "start=2026-10-01&end=2026-10-31&_format=yaml", 406, "_format");
    bad(&reporter, "start=2026-10-01&end=2026-10-31&colour=blue", 400, "colour");
    /* The server's minimum cell size: a client may raise the threshold, never lower it. */
    rest.cfg.report_min_cell = 11;
    bad(&reporter, "start=2026-10-01&end=2026-10-31&threshold=5", 400, "threshold");
    reply r = report(&reporter, "start=2026-10-01&end=2026-10-31");
    cr_assert_eq(r.r.status, 200);
    CLOSE(num(r.json, "threshold"), 11);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(obj(r.json, "overall"), "total")), "5 < 11 is hidden");
    done(&r);
    r = report(&reporter, "start=2026-10-01&end=2026-10-31&threshold=20");
    cr_assert_eq(r.r.status, 200);
    CLOSE(num(r.json, "threshold"), 20);
    done(&r);
}

Test(rest_report, referral_parties_are_refused)
{
    bad(&requester, "start=2026-10-01&end=2026-10-31", 403, NULL);
    bad(&owner, "start=2026-10-01&end=2026-10-31", 403, NULL);
    reply r = call_h(&reporter, "POST", "/$closed-loop-report", NULL, "{}", NULL);
    cr_assert_eq(r.r.status, 405);
    done(&r);
}

Test(rest_report, metadata_lists_the_operation)
{
    reply r = call_h(NULL, "GET", "/metadata", NULL, NULL, NULL);
    cr_assert_eq(r.r.status, 200);
    const cJSON *rs = cJSON_GetArrayItem(obj(r.json, "rest"), 0);
    const cJSON *op, *ops = obj(rs, "operation");
    int found = 0;
    cJSON_ArrayForEach(op, ops)
        found += strcmp(cJSON_GetObjectItem(op, "name")->valuestring, "closed-loop-report") == 0;
    cr_assert_eq(found, 1);
    lg_issues is = {0};
    lg_status st = lg_validate_full(defs, r.json, NULL, 0, &is);
    for(size_t i = 0; i < is.count; i++)
        if(is.items[i].severity <= LG_SEV_ERROR)
            cr_log_error("%s: %s", is.items[i].location ? is.items[i].location : "", is.items[i].diagnostics);
    cr_assert_eq(st, LG_OK);
    lg_issues_free(&is);
    done(&r);
}
