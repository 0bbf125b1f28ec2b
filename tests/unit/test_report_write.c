/* Unit tests for the closed-loop report's writers (src/report/write.c):
 * the plain JSON (valid, numbers as computed, suppressed values null and
 * listed) and the FHIR R4 MeasureReport (valid JSON, type summary,
 * populations, measureScore, stratifier codes, strata values and
 * components, masked counts), computed end to end from a small table with
 * the default threshold of 11. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "loopgate/report.h"

#define DAY 86400000LL
#define T0 1735689600000LL /* 2025-01-01T00:00:00Z */

/* n referrals of one kind: race, county, loop state (completed ones close
 * 10 days after authored, accepted ones respond after 1 day). */
static void add_n(lg_report_table *t, int n, const char *race, const char *county, lg_task_status fin)
{
    static int seq;
    for(int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "sr-%d", ++seq);
        lg_referral r;
        memset(&r, 0, sizeof(r));
        lg_referral_event ev[3];
        size_t ne = 0;
        r.service_request_id = id;
        r.authored_ms = T0 + DAY;
        ev[ne++] = (lg_referral_event){ LG_TASK_REQUESTED, r.authored_ms, NULL };
        if(fin != LG_TASK_REQUESTED)
            ev[ne++] = (lg_referral_event){ LG_TASK_ACCEPTED, r.authored_ms + DAY, NULL };
        if(fin == LG_TASK_COMPLETED)
            ev[ne++] = (lg_referral_event){ fin, r.authored_ms + 10 * DAY, NULL };
        r.timeline = ev;
        r.n_timeline = ne;
        r.loop = lg_loop_state_of(fin);
        lg_child c;
        memset(&c, 0, sizeof(c));
        lg_code rc = { NULL, (char *)race, NULL };
        c.race = &rc;
        c.n_race = 1;
        c.county = (char *)county;
        cr_assert_eq(lg_report_add_referral(t, &r, &c), LG_OK);
    }
}

/* White: 30 completed, 20 accepted, 5 pending (small). Black: 40
 * completed, 25 accepted, 15 pending. */
static lg_report_table *sample(void)
{
    lg_report_table *t = lg_report_table_new();
    add_n(t, 30, "2106-3", "Fresno", LG_TASK_COMPLETED);
    add_n(t, 20, "2106-3", "Kern", LG_TASK_ACCEPTED);
    add_n(t, 5, "2106-3", "Kern", LG_TASK_REQUESTED);
    add_n(t, 40, "2054-5", "Fresno", LG_TASK_COMPLETED);
    add_n(t, 25, "2054-5", "Kern", LG_TASK_ACCEPTED);
    add_n(t, 15, "2054-5", "Kern", LG_TASK_REQUESTED);
    return t;
}

static lg_report_result *run(const lg_report_table *t, lg_report_dim d0, int nd, lg_report_dim d1)
{
    lg_report_params p = { .start_ms = T0, .end_ms = T0 + 30 * DAY, .now_ms = T0 + 20 * DAY,
                           .n_dims = (size_t)nd };
    p.dims[0] = d0;
    p.dims[1] = d1;
    lg_issues is = { 0 };
    lg_report_result *r = NULL;
    cr_assert_eq(lg_report_compute(t, &p, &r, &is), LG_OK);
    lg_issues_free(&is);
    return r;
}

static cJSON *parse_buf(lg_buf *b)
{
    cJSON *j = cJSON_Parse(b->data);
    cr_assert_not_null(j, "not JSON: %.300s", b->data ? b->data : "(null)");
    return j;
}

static cJSON *at(const cJSON *j, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    cr_assert_not_null(v, "no %s", k);
    return v;
}

Test(report_write, json_values_and_suppressed_nulls)
{
    lg_report_table *t = sample();
    lg_report_result *r = run(t, LG_DIM_RACE, 1, 0);
    lg_buf b;
    lg_buf_init(&b, 1 << 20);
    cr_assert_eq(lg_report_write_json(r, &b), LG_OK);
    cJSON *j = parse_buf(&b);
    cr_assert_eq(at(j, "threshold")->valueint, 11);
    cr_assert_str_eq(cJSON_GetArrayItem(at(j, "groupBy"), 0)->valuestring, "race");
    cJSON *o = at(j, "overall");
    cr_assert_eq(at(o, "total")->valueint, 135);
    cr_assert_eq(at(o, "closed")->valueint, 70);
    cr_assert_float_eq(at(o, "shareClosed")->valuedouble, 0.5185, 1e-4); /* 70 / 135 */
    cr_assert_eq(at(at(o, "states"), "pending")->valueint, 20);
    /* Overdue at day 20 (authored day 1): the 20 pending have had no
     * response for 19 days; accepted ones are 19 days open (< 30). */
    cr_assert_eq(at(o, "overdue")->valueint, 20);
    cr_assert_float_eq(at(at(o, "daysToClosure"), "median")->valuedouble, 10.0, 1e-9);
    cr_assert_float_eq(at(at(o, "daysToFirstResponse"), "p90")->valuedouble, 1.0, 1e-9);
    cJSON *groups = at(j, "groups");
    cr_assert_eq(cJSON_GetArraySize(groups), 2);
    cJSON *black = cJSON_GetArrayItem(groups, 0), *white = cJSON_GetArrayItem(groups, 1);
    cr_assert_str_eq(at(at(black, "key"), "race")->valuestring, "2054-5");
    cr_assert_str_eq(at(at(white, "key"), "race")->valuestring, "2106-3");
    /* White pending 5: hidden, with white accepted 20 as its row
     * complement; the pending and accepted columns then hide black's. */
    cr_assert(cJSON_IsNull(at(at(white, "states"), "pending")));
    cr_assert(cJSON_IsNull(at(at(white, "states"), "accepted")));
    cr_assert(cJSON_IsNull(at(at(black, "states"), "pending")));
    cr_assert(cJSON_IsNull(at(at(black, "states"), "accepted")));
    cr_assert(cJSON_IsNull(at(white, "overdue")));
    cr_assert_eq(at(white, "total")->valueint, 55);
    cr_assert_eq(at(at(white, "states"), "closed-served")->valueint, 30);
    bool listed = false;
    cJSON *s;
    cJSON_ArrayForEach(s, at(white, "suppressed"))
        listed |= strcmp(s->valuestring, "pending") == 0;
    cr_assert(listed);
    cJSON_Delete(j);
    lg_buf_free(&b);
    lg_report_result_free(r);
    lg_report_table_free(t);
}

static cJSON *population(const cJSON *pops, const char *code)
{
    cJSON *p;
    cJSON_ArrayForEach(p, pops) {
        cJSON *cd = cJSON_GetArrayItem(at(at(p, "code"), "coding"), 0);
        if(strcmp(at(cd, "code")->valuestring, code) == 0)
            return p;
    }
    cr_assert_fail("no population %s", code);
    return NULL;
}

Test(report_write, measure_report_shape)
{
    lg_report_table *t = sample();
    lg_report_result *by_race = run(t, LG_DIM_RACE, 1, 0);
    lg_report_result *by_two = run(t, LG_DIM_RACE, 2, LG_DIM_COUNTY);
    const lg_report_result *rs[] = { by_race, by_two };
    lg_buf b;
    lg_buf_init(&b, 1 << 20);
    cr_assert_eq(lg_report_write_measure_report(rs, 2, "clr-1", &b), LG_OK);
    cJSON *j = parse_buf(&b);
    cr_assert_str_eq(at(j, "resourceType")->valuestring, "MeasureReport");
    cr_assert_str_eq(at(j, "id")->valuestring, "clr-1");
    cr_assert_str_eq(at(j, "status")->valuestring, "complete");
    cr_assert_str_eq(at(j, "type")->valuestring, "summary");
    cr_assert_str_eq(at(j, "measure")->valuestring, LG_REPORT_MEASURE_URL);
    cr_assert_str_eq(at(at(j, "period"), "start")->valuestring, "2025-01-01T00:00:00.000Z");
    cr_assert_str_eq(at(at(j, "period"), "end")->valuestring, "2025-01-30T23:59:59.999Z");
    cJSON *g = cJSON_GetArrayItem(at(j, "group"), 0);
    cr_assert_eq(at(population(at(g, "population"), "initial-population"), "count")->valueint, 135);
    cr_assert_eq(at(population(at(g, "population"), "numerator"), "count")->valueint, 70);
    cr_assert_eq(at(population(at(g, "population"), "closed-served"), "count")->valueint, 70);
    cr_assert_float_eq(at(at(g, "measureScore"), "value")->valuedouble, 70.0 / 135.0, 1e-4);
    cJSON *strat = at(g, "stratifier");
    cr_assert_eq(cJSON_GetArraySize(strat), 2);
    /* One dim: code [race], strata with value. */
    cJSON *s0 = cJSON_GetArrayItem(strat, 0);
    cJSON *code0 = at(s0, "code");
    cr_assert_eq(cJSON_GetArraySize(code0), 1);
    cJSON *cd = cJSON_GetArrayItem(at(cJSON_GetArrayItem(code0, 0), "coding"), 0);
    cr_assert_str_eq(at(cd, "system")->valuestring, LG_REPORT_DIM_SYSTEM);
    cr_assert_str_eq(at(cd, "code")->valuestring, "race");
    cJSON *st = at(s0, "stratum");
    cr_assert_eq(cJSON_GetArraySize(st), 2);
    cJSON *white = cJSON_GetArrayItem(st, 1);
    cJSON *vc = cJSON_GetArrayItem(at(at(white, "value"), "coding"), 0);
    cr_assert_str_eq(at(vc, "system")->valuestring, "urn:oid:2.16.840.1.113883.6.238");
    cr_assert_str_eq(at(vc, "code")->valuestring, "2106-3");
    /* The hidden pending count: no count, a masked data-absent-reason. */
    cJSON *pend = population(at(white, "population"), "pending");
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(pend, "count"));
    cJSON *ext = cJSON_GetArrayItem(at(at(pend, "_count"), "extension"), 0);
    cr_assert_str_eq(at(ext, "url")->valuestring, "http://hl7.org/fhir/StructureDefinition/data-absent-reason");
    cr_assert_str_eq(at(ext, "valueCode")->valuestring, "masked");
    cr_assert_eq(at(population(at(white, "population"), "denominator"), "count")->valueint, 55);
    /* Two dims: code [race, county], strata with two components. */
    cJSON *s1 = cJSON_GetArrayItem(strat, 1);
    cr_assert_eq(cJSON_GetArraySize(at(s1, "code")), 2);
    cJSON *cd1 = cJSON_GetArrayItem(at(cJSON_GetArrayItem(at(s1, "code"), 1), "coding"), 0);
    cr_assert_str_eq(at(cd1, "code")->valuestring, "county");
    cJSON *st1 = at(s1, "stratum");
    cr_assert_eq(cJSON_GetArraySize(st1), 4); /* {2054-5, 2106-3} x {Fresno, Kern} */
    cJSON *comp = at(cJSON_GetArrayItem(st1, 0), "component");
    cr_assert_eq(cJSON_GetArraySize(comp), 2);
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(st1, 0), "value"));
    cJSON *c1 = cJSON_GetArrayItem(comp, 1);
    cr_assert_str_eq(at(cJSON_GetArrayItem(at(at(c1, "code"), "coding"), 0), "code")->valuestring, "county");
    cr_assert_str_eq(at(at(c1, "value"), "text")->valuestring, "Fresno");
    cJSON_Delete(j);
    lg_buf_free(&b);
    lg_report_result_free(by_race);
    lg_report_result_free(by_two);
    lg_report_table_free(t);
}

Test(report_write, bounded_output)
{
    lg_report_table *t = sample();
    lg_report_result *r = run(t, LG_DIM_RACE, 1, 0);
    lg_buf b;
    lg_buf_init(&b, 200); /* far too small */
    cr_assert_eq(lg_report_write_json(r, &b), LG_ETOOLARGE);
    lg_buf_free(&b);
    const lg_report_result *rs[] = { r };
    lg_buf_init(&b, 300);
    cr_assert_eq(lg_report_write_measure_report(rs, 1, NULL, &b), LG_ETOOLARGE);
    lg_buf_free(&b);
    lg_report_result_free(r);
    lg_report_table_free(t);
}

Test(report_write, empty_period_is_still_valid)
{
    /* No referral in the period: counts are 0 (shown: zero describes
     * nobody), no median, no stratum array (FHIR arrays are never empty),
     * and no measureScore value. */
    lg_report_table *t = sample();
    lg_report_params p = { .start_ms = T0 + 100 * DAY, .end_ms = T0 + 200 * DAY, .now_ms = T0 + 200 * DAY,
                           .n_dims = 1, .dims = { LG_DIM_RACE } };
    lg_issues is = { 0 };
    lg_report_result *r = NULL;
    cr_assert_eq(lg_report_compute(t, &p, &r, &is), LG_OK);
    cr_assert_eq(r->n_groups, 0);
    lg_buf b;
    lg_buf_init(&b, 1 << 20);
    const lg_report_result *rs[] = { r };
    cr_assert_eq(lg_report_write_measure_report(rs, 1, NULL, &b), LG_OK);
    cJSON *j = parse_buf(&b);
    cJSON *g = cJSON_GetArrayItem(at(j, "group"), 0);
    cr_assert_eq(at(population(at(g, "population"), "initial-population"), "count")->valueint, 0);
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(at(g, "measureScore"), "value"));
    cJSON *s0 = cJSON_GetArrayItem(at(g, "stratifier"), 0);
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(s0, "stratum"));
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(g, "extension"));
    cJSON_Delete(j);
    lg_buf_free(&b);
    lg_buf_init(&b, 1 << 20);
    cr_assert_eq(lg_report_write_json(r, &b), LG_OK);
    j = parse_buf(&b);
    cr_assert(cJSON_IsNull(at(at(at(j, "overall"), "daysToClosure"), "median")));
    cr_assert_eq(cJSON_GetArraySize(at(j, "groups")), 0);
    cJSON_Delete(j);
    lg_buf_free(&b);
    lg_report_result_free(r);
    lg_report_table_free(t);
    lg_issues_free(&is);
}
