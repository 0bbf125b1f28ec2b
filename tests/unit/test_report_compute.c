/* Unit tests for the closed-loop report's table and arithmetic
 * (src/report/table.c, compute.c): counts per loop state, share closed,
 * median and p90 (odd and even counts), overdue, the period, group-by one
 * and two dimensions, replacement of a referral, and filling from FHIR
 * through the model. Every expected number is worked out by hand in the
 * comments next to it. Suppression is off (threshold 1) unless said. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/report.h"

#define DAY 86400000LL
#define T0 1735689600000LL /* 2025-01-01T00:00:00Z */
#define NONE -1

/* A referral built by hand, as the model would hold it: authored on day
 * `created`, first response (accepted, or rejected when the final status
 * is rejected) on day `resp` (NONE: never), final status `fin` on day
 * `closed` (NONE: still open in `fin`). Days may be fractional. */
typedef struct spec {
    const char *id, *race, *county;
    lg_sdoh_category cat;
    const char *org;
    double created, resp, closed;
    lg_task_status fin;
} spec;

static void add(lg_report_table *t, const spec *s)
{
    lg_referral r;
    memset(&r, 0, sizeof(r));
    lg_referral_event ev[3];
    size_t n = 0;
    r.service_request_id = (char *)s->id;
    r.recipient_org.reference = (char *)s->org;
    r.authored_ms = T0 + (int64_t)(s->created * DAY);
    ev[n++] = (lg_referral_event){ LG_TASK_REQUESTED, r.authored_ms, NULL };
    if(s->resp != NONE)
        ev[n++] = (lg_referral_event){ s->fin == LG_TASK_REJECTED ? LG_TASK_REJECTED : LG_TASK_ACCEPTED,
                                       T0 + (int64_t)(s->resp * DAY), NULL };
    if(s->closed != NONE && s->fin != LG_TASK_REJECTED)
        ev[n++] = (lg_referral_event){ s->fin, T0 + (int64_t)(s->closed * DAY), NULL };
    r.timeline = ev;
    r.n_timeline = n;
    r.task_status = s->fin;
    r.has_task = true;
    r.loop = lg_loop_state_of(s->fin);
    lg_sdoh_category cat = s->cat;
    r.categories = &cat;
    r.n_categories = 1;
    lg_child c;
    memset(&c, 0, sizeof(c));
    lg_code race = { NULL, (char *)s->race, NULL };
    c.id = (char *)"child";
    c.race = s->race ? &race : NULL;
    c.n_race = s->race ? 1 : 0;
    c.county = (char *)s->county;
    cr_assert_eq(lg_report_add_referral(t, &r, &c), LG_OK);
}

static lg_report_table *table_of(const spec *s, size_t n)
{
    lg_report_table *t = lg_report_table_new();
    cr_assert_not_null(t);
    for(size_t i = 0; i < n; i++)
        add(t, &s[i]);
    return t;
}

static lg_report_result *compute(const lg_report_table *t, const lg_report_dim *dims, size_t nd,
                                 unsigned threshold, double now_day)
{
    lg_report_params p = { .start_ms = T0, .end_ms = T0 + 365 * DAY, .now_ms = T0 + (int64_t)(now_day * DAY),
                           .n_dims = nd, .threshold = threshold };
    for(size_t i = 0; i < nd; i++)
        p.dims[i] = dims[i];
    lg_issues is = { 0 };
    lg_report_result *r = NULL;
    cr_assert_eq(lg_report_compute(t, &p, &r, &is), LG_OK);
    cr_assert_eq(is.count, 0);
    lg_issues_free(&is);
    return r;
}

#define W "2106-3"
#define B "2054-5"
#define FOOD LG_SDOH_FOOD_INSECURITY
#define HOUSING LG_SDOH_HOUSING_INSTABILITY

/* 15 referrals: 3 pending, 2 accepted, 1 in-progress, 1 on-hold,
 * 4 completed, 2 closed without service (rejected, cancelled), 1 draft and
 * 1 entered-in-error (both excluded). */
static const spec mix[] = {
    { "p1", W, "Fresno", FOOD, "Organization/a", 1, NONE, NONE, LG_TASK_REQUESTED },
    { "p2", W, "Fresno", FOOD, "Organization/a", 2, NONE, NONE, LG_TASK_REQUESTED },
    { "p3", B, "Kern", HOUSING, "Organization/b", 3, NONE, NONE, LG_TASK_REQUESTED },
    { "a1", W, "Fresno", FOOD, "Organization/a", 1, 2, NONE, LG_TASK_ACCEPTED },
    { "a2", B, "Kern", FOOD, "Organization/b", 1, 4, NONE, LG_TASK_ACCEPTED },
    { "i1", B, "Fresno", FOOD, "Organization/a", 1, 1.5, NONE, LG_TASK_IN_PROGRESS },
    { "h1", W, "Kern", HOUSING, "Organization/b", 1, 3, NONE, LG_TASK_ON_HOLD },
    { "c1", W, "Fresno", FOOD, "Organization/a", 10, 11, 20, LG_TASK_COMPLETED },
    { "c2", W, "Fresno", HOUSING, "Organization/a", 10, 12, 30, LG_TASK_COMPLETED },
    { "c3", B, "Kern", FOOD, "Organization/b", 10, 13, 40, LG_TASK_COMPLETED },
    { "c4", B, "Kern", FOOD, "Organization/b", 10, 14, 50, LG_TASK_COMPLETED },
    { "r1", W, "Fresno", FOOD, "Organization/a", 10, 10.5, 10.5, LG_TASK_REJECTED },
    { "x1", NULL, NULL, FOOD, "Organization/b", 10, NONE, 16, LG_TASK_CANCELLED },
    { "d1", W, "Fresno", FOOD, "Organization/a", 5, NONE, NONE, LG_TASK_DRAFT },
    { "e1", W, "Fresno", FOOD, "Organization/a", 5, NONE, NONE, LG_TASK_ENTERED_IN_ERROR },
};
#define NMIX (sizeof(mix) / sizeof(mix[0]))

Test(report_compute, counts_share_closed_and_exclusions)
{
    lg_report_table *t = table_of(mix, NMIX);
    cr_assert_eq(lg_report_table_rows(t), NMIX);
    lg_report_result *r = compute(t, NULL, 0, 1, 100);
    const lg_report_group *o = &r->overall;
    cr_assert_eq(o->count[LG_RC_PENDING], 3);
    cr_assert_eq(o->count[LG_RC_ACCEPTED], 2);
    cr_assert_eq(o->count[LG_RC_IN_PROGRESS], 1);
    cr_assert_eq(o->count[LG_RC_ON_HOLD], 1);
    cr_assert_eq(o->count[LG_RC_CLOSED_SERVED], 4);
    cr_assert_eq(o->count[LG_RC_CLOSED_NOT_SERVED], 2);
    cr_assert_eq(o->count[LG_RC_TOTAL], 13);
    cr_assert_eq(o->count[LG_RC_CLOSED], 6);
    cr_assert_eq(r->excluded, 2);
    cr_assert_float_eq(o->share_closed, 6.0 / 13.0, 1e-12);
    cr_assert_eq(o->suppressed, 0);
    cr_assert_eq(r->n_groups, 1); /* no dims: one group, the same as overall */
    cr_assert_eq(memcmp(r->groups[0].count, o->count, sizeof(o->count)), 0);
    lg_report_result_free(r);
    lg_report_table_free(t);
}

Test(report_compute, median_and_p90_from_timelines)
{
    lg_report_table *t = table_of(mix, NMIX);
    lg_report_result *r = compute(t, NULL, 0, 1, 100);
    /* First responses (days after authored): a1 1, a2 3, i1 0.5, h1 2,
     * c1..c4 1 2 3 4, r1 0.5 -> 9 values sorted
     * 0.5 0.5 1 1 2 2 3 3 4. Median (odd): the 5th = 2. p90: h = 8 * 0.9
     * = 7.2 -> v[7] + 0.2 (v[8] - v[7]) = 3 + 0.2 = 3.2. */
    cr_assert_eq(r->overall.response.n, 9);
    cr_assert_float_eq(r->overall.response.median, 2.0, 1e-9);
    cr_assert_float_eq(r->overall.response.p90, 3.2, 1e-9);
    /* Closures: c1..c4 10 20 30 40, r1 0.5, x1 6 -> 0.5 6 10 20 30 40
     * (even). Median = (10 + 20) / 2 = 15. p90: h = 5 * 0.9 = 4.5 ->
     * 30 + 0.5 * 10 = 35. */
    cr_assert_eq(r->overall.closure.n, 6);
    cr_assert_float_eq(r->overall.closure.median, 15.0, 1e-9);
    cr_assert_float_eq(r->overall.closure.p90, 35.0, 1e-9);
    lg_report_result_free(r);
    lg_report_table_free(t);
}

Test(report_compute, percentile_method)
{
    double odd[] = { 1, 2, 3, 4, 5 }, even[] = { 1, 2, 3, 4 }, one[] = { 7 };
    cr_assert_float_eq(lg_report_percentile(odd, 5, 0.5), 3.0, 1e-12);
    cr_assert_float_eq(lg_report_percentile(odd, 5, 0.9), 4.6, 1e-12);   /* h = 3.6 */
    cr_assert_float_eq(lg_report_percentile(even, 4, 0.5), 2.5, 1e-12);  /* h = 1.5 */
    cr_assert_float_eq(lg_report_percentile(even, 4, 0.9), 3.7, 1e-12);  /* h = 2.7 */
    cr_assert_float_eq(lg_report_percentile(one, 1, 0.5), 7.0, 1e-12);
    cr_assert_float_eq(lg_report_percentile(one, 1, 0.9), 7.0, 1e-12);
    cr_assert_float_eq(lg_report_percentile(odd, 5, 0.0), 1.0, 1e-12);
    cr_assert_float_eq(lg_report_percentile(odd, 5, 1.0), 5.0, 1e-12);
}

Test(report_compute, overdue_open_referrals)
{
    /* now = day 40. Default clocks: no response 3 days after authored, or
     * not closed 30 days after authored. */
    static const spec s[] = {
        { "o1", W, "Fresno", FOOD, "Organization/a", 36, NONE, NONE, LG_TASK_REQUESTED }, /* 4 d, no response: overdue */
        { "o2", W, "Fresno", FOOD, "Organization/a", 38, NONE, NONE, LG_TASK_REQUESTED }, /* 2 d: not yet */
        { "o3", W, "Fresno", FOOD, "Organization/a", 5, 6, NONE, LG_TASK_IN_PROGRESS },   /* 35 d open: overdue */
        { "o4", W, "Fresno", FOOD, "Organization/a", 20, 21, NONE, LG_TASK_ON_HOLD },     /* 20 d, answered: not */
        { "o5", W, "Fresno", FOOD, "Organization/a", 1, 30, 35, LG_TASK_COMPLETED },      /* closed: never */
        { "o6", W, "Fresno", FOOD, "Organization/a", 1, NONE, NONE, LG_TASK_ACCEPTED },   /* 39 d: overdue */
    };
    lg_report_table *t = table_of(s, 6);
    lg_report_result *r = compute(t, NULL, 0, 1, 40);
    cr_assert_eq(r->overall.count[LG_RC_OVERDUE], 3);
    lg_report_result_free(r);
    /* A longer response clock (5 days) keeps o1 within time. */
    lg_report_params p = { .start_ms = T0, .end_ms = T0 + 365 * DAY, .now_ms = T0 + 40 * DAY,
                           .threshold = 1, .response_due_ms = 5 * DAY };
    lg_issues is = { 0 };
    cr_assert_eq(lg_report_compute(t, &p, &r, &is), LG_OK);
    cr_assert_eq(r->overall.count[LG_RC_OVERDUE], 2);
    lg_report_result_free(r);
    lg_report_table_free(t);
}

Test(report_compute, group_by_one_dimension)
{
    lg_report_table *t = table_of(mix, NMIX);
    lg_report_dim d[] = { LG_DIM_RACE };
    lg_report_result *r = compute(t, d, 1, 1, 100);
    /* Groups sorted by code: 2054-5 (p3 a2 i1 c3 c4), 2106-3 (p1 p2 a1 h1 c1
     * c2 r1), unknown (x1). */
    cr_assert_eq(r->n_groups, 3);
    cr_assert_str_eq(lg_report_value_code(r, LG_DIM_RACE, r->groups[0].key[0]), B);
    cr_assert_str_eq(lg_report_value_code(r, LG_DIM_RACE, r->groups[1].key[0]), W);
    cr_assert_str_eq(lg_report_value_code(r, LG_DIM_RACE, r->groups[2].key[0]), "unknown");
    const lg_report_group *b = &r->groups[0], *w = &r->groups[1], *u = &r->groups[2];
    cr_assert_eq(b->count[LG_RC_TOTAL], 5);
    cr_assert_eq(b->count[LG_RC_PENDING], 1);
    cr_assert_eq(b->count[LG_RC_ACCEPTED], 1);
    cr_assert_eq(b->count[LG_RC_IN_PROGRESS], 1);
    cr_assert_eq(b->count[LG_RC_CLOSED_SERVED], 2);
    cr_assert_float_eq(b->share_closed, 0.4, 1e-12);
    cr_assert_eq(w->count[LG_RC_TOTAL], 7);
    cr_assert_eq(w->count[LG_RC_PENDING], 2);
    cr_assert_eq(w->count[LG_RC_ON_HOLD], 1);
    cr_assert_eq(w->count[LG_RC_CLOSED_SERVED], 2);
    cr_assert_eq(w->count[LG_RC_CLOSED_NOT_SERVED], 1);
    cr_assert_float_eq(w->share_closed, 3.0 / 7.0, 1e-12);
    cr_assert_eq(u->count[LG_RC_TOTAL], 1);
    cr_assert_eq(u->count[LG_RC_CLOSED_NOT_SERVED], 1);
    /* Black: closure days 30 and 40 (even): median 35, p90 h = 0.9 -> 39. */
    cr_assert_eq(b->closure.n, 2);
    cr_assert_float_eq(b->closure.median, 35.0, 1e-9);
    cr_assert_float_eq(b->closure.p90, 39.0, 1e-9);
    /* White: responses a1 1, h1 2, c1 1, c2 2, r1 0.5 -> 0.5 1 1 2 2:
     * median 1, p90 h = 3.6 -> 2. */
    cr_assert_eq(w->response.n, 5);
    cr_assert_float_eq(w->response.median, 1.0, 1e-9);
    cr_assert_float_eq(w->response.p90, 2.0, 1e-9);
    lg_report_result_free(r);
    lg_report_table_free(t);
}

Test(report_compute, group_by_two_dimensions)
{
    lg_report_table *t = table_of(mix, NMIX);
    lg_report_dim d[] = { LG_DIM_COUNTY, LG_DIM_CATEGORY };
    lg_report_result *r = compute(t, d, 2, 1, 100);
    /* Fresno/food: p1 p2 a1 i1 c1 r1 = 6; Fresno/housing: c2 = 1;
     * Kern/food: a2 c3 c4 = 3; Kern/housing: p3 h1 = 2; unknown/food: x1. */
    cr_assert_eq(r->n_groups, 5);
    static const struct { const char *county, *cat; unsigned total, closed; } want[] = {
        { "Fresno", "food-insecurity", 6, 2 }, { "Fresno", "housing-instability", 1, 1 },
        { "Kern", "food-insecurity", 3, 2 }, { "Kern", "housing-instability", 2, 0 },
        { "unknown", "food-insecurity", 1, 1 },
    };
    unsigned sum = 0;
    for(size_t i = 0; i < 5; i++) {
        const lg_report_group *g = &r->groups[i];
        cr_assert_str_eq(lg_report_value_code(r, LG_DIM_COUNTY, g->key[0]), want[i].county);
        cr_assert_str_eq(lg_report_value_code(r, LG_DIM_CATEGORY, g->key[1]), want[i].cat);
        cr_assert_eq(g->count[LG_RC_TOTAL], want[i].total, "group %zu", i);
        cr_assert_eq(g->count[LG_RC_CLOSED], want[i].closed, "group %zu", i);
        sum += g->count[LG_RC_TOTAL];
    }
    cr_assert_eq(sum, r->overall.count[LG_RC_TOTAL]);
    lg_report_result_free(r);
    lg_report_table_free(t);
}

Test(report_compute, period_with_and_without_index)
{
    lg_report_table *t = table_of(mix, NMIX);
    /* [day 2, day 10): p2 (day 2) and p3 (day 3); d1/e1 (day 5) excluded. */
    lg_report_params p = { .start_ms = T0 + 2 * DAY, .end_ms = T0 + 10 * DAY, .now_ms = T0 + 100 * DAY,
                           .threshold = 1 };
    lg_issues is = { 0 };
    lg_report_result *scan = NULL, *ix = NULL;
    cr_assert_eq(lg_report_compute(t, &p, &scan, &is), LG_OK);
    cr_assert_eq(lg_report_table_index(t), LG_OK);
    cr_assert_eq(lg_report_compute(t, &p, &ix, &is), LG_OK);
    cr_assert_eq(scan->overall.count[LG_RC_TOTAL], 2);
    cr_assert_eq(scan->overall.count[LG_RC_PENDING], 2);
    cr_assert_eq(scan->excluded, 2);
    cr_assert_eq(memcmp(scan->overall.count, ix->overall.count, sizeof(ix->overall.count)), 0);
    cr_assert_eq(ix->excluded, 2);
    lg_report_result_free(scan);
    lg_report_result_free(ix);
    /* After another add the index is stale: the scan still sees the row. */
    static const spec late = { "late", W, "Fresno", FOOD, "Organization/a", 4, NONE, NONE, LG_TASK_REQUESTED };
    add(t, &late);
    cr_assert_eq(lg_report_compute(t, &p, &scan, &is), LG_OK);
    cr_assert_eq(scan->overall.count[LG_RC_TOTAL], 3);
    lg_report_result_free(scan);
    lg_report_table_free(t);
}

Test(report_compute, a_later_version_replaces_the_row)
{
    static const spec v1 = { "sr-9", W, "Fresno", FOOD, "Organization/a", 1, NONE, NONE, LG_TASK_REQUESTED };
    static const spec v2 = { "sr-9", W, "Fresno", FOOD, "Organization/a", 1, 2, 9, LG_TASK_COMPLETED };
    lg_report_table *t = lg_report_table_new();
    add(t, &v1);
    add(t, &v2);
    cr_assert_eq(lg_report_table_rows(t), 1);
    const lg_report_row *row = lg_report_table_row(t, 0);
    cr_assert_eq(row->loop, LG_LOOP_CLOSED_SERVED);
    cr_assert_eq(row->closed_ms, T0 + 9 * DAY);
    cr_assert_str_eq(lg_report_table_string(t, row->referral), "sr-9");
    cr_assert_str_eq(lg_report_table_string(t, row->race), W);
    cr_assert_null(lg_report_table_row(t, 1));
    lg_report_table_free(t);
}

Test(report_compute, bad_parameters)
{
    lg_report_table *t = table_of(mix, NMIX);
    lg_issues is = { 0 };
    lg_report_result *r = NULL;
    lg_report_params p = { .start_ms = T0 + DAY, .end_ms = T0 + DAY };
    cr_assert_eq(lg_report_compute(t, &p, &r, &is), LG_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(lg_issues_errors(&is), 1);
    p.end_ms = T0 + 2 * DAY;
    p.n_dims = 2;
    p.dims[0] = LG_DIM_RACE;
    p.dims[1] = LG_DIM_RACE;
    cr_assert_eq(lg_report_compute(t, &p, &r, &is), LG_EINVAL);
    cr_assert_eq(lg_issues_errors(&is), 2);
    lg_report_dim d;
    cr_assert_eq(lg_report_dim_parse("population-of-focus", &d), 0);
    cr_assert_eq(d, LG_DIM_POPULATION);
    cr_assert_eq(lg_report_dim_parse("zip", &d), -1);
    lg_referral empty;
    memset(&empty, 0, sizeof(empty));
    cr_assert_eq(lg_report_add_referral(t, &empty, NULL), LG_EINVAL);
    lg_issues_free(&is);
    lg_report_table_free(t);
}

Test(report_compute, filled_from_fhir_through_the_model)
{
    const char *pat =
        "{\"resourceType\":\"Patient\",\"id\":\"kid-1\",\"extension\":["
        "{\"url\":\"" LG_URL_US_CORE_RACE "\",\"extension\":[{\"url\":\"ombCategory\",\"valueCoding\":"
        "{\"system\":\"urn:oid:2.16.840.1.113883.6.238\",\"code\":\"2028-9\"}},"
        "{\"url\":\"ombCategory\",\"valueCoding\":{\"system\":\"urn:oid:2.16.840.1.113883.6.238\",\"code\":\"2106-3\"}},"
        "{\"url\":\"text\",\"valueString\":\"Asian, White\"}]}],"
        "\"communication\":[{\"language\":{\"coding\":[{\"system\":\"urn:ietf:bcp:47\",\"code\":\"es\"}]},\"preferred\":true}],"
        "\"address\":[{\"use\":\"home\",\"district\":\"Tulare\",\"state\":\"CA\"}]}";
    const char *sr =
        "{\"resourceType\":\"ServiceRequest\",\"id\":\"sr-1\",\"status\":\"active\",\"intent\":\"order\","
        "\"category\":[{\"coding\":[{\"system\":\"" LG_SDOHCC_CODES "\",\"code\":\"food-insecurity\"}]}],"
        "\"subject\":{\"reference\":\"Patient/kid-1\"},\"authoredOn\":\"2025-03-01T10:00:00Z\","
        "\"performer\":[{\"reference\":\"Organization/cbo-17\"}]}";
    cJSON *jp = cJSON_Parse(pat), *js = cJSON_Parse(sr);
    cr_assert_not_null(jp);
    cr_assert_not_null(js);
    lg_issues is = { 0 };
    lg_child *c = NULL;
    lg_referral *r = NULL;
    cr_assert_eq(lg_model_child_from_fhir(jp, &c, &is), LG_OK);
    cr_assert_eq(lg_model_referral_from_fhir(js, NULL, &r, &is), LG_OK);
    cr_assert_eq(lg_referral_add_event(r, LG_TASK_ACCEPTED, r->authored_ms + 2 * DAY, NULL), LG_OK);
    lg_report_table *t = lg_report_table_new();
    cr_assert_eq(lg_report_add_referral(t, r, c), LG_OK);
    const lg_report_row *row = lg_report_table_row(t, 0);
    cr_assert_str_eq(lg_report_table_string(t, row->race), "multiple"); /* two OMB categories */
    cr_assert_str_eq(lg_report_table_string(t, row->language), "es");
    cr_assert_str_eq(lg_report_table_string(t, row->county), "Tulare");
    cr_assert_str_eq(lg_report_table_string(t, row->child), "kid-1");
    cr_assert_eq(row->category, LG_SDOH_FOOD_INSECURITY);
    cr_assert_eq(row->loop, LG_LOOP_ACCEPTED);
    cr_assert_eq(row->first_response_ms - row->created_ms, 2 * DAY);
    lg_report_table_free(t);
    lg_model_child_free(c);
    lg_model_referral_free(r);
    cJSON_Delete(jp);
    cJSON_Delete(js);
    lg_issues_free(&is);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

Test(report_compute, selection_agrees_with_sorting)
{
    /* compute.c finds percentiles by selection, not by sorting: on many
     * pseudo-random data sets (sizes 1..200, many ties) its answer must be
     * the type-7 percentile of the sorted values. */
    uint64_t x = 12345;
    for(int round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)round;
        lg_report_table *t = lg_report_table_new();
        double v[256];
        for(size_t i = 0; i < n; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            double d = (double)(x % (round % 3 == 0 ? 5 : 400)) / 4.0; /* quarter days, ties */
            v[i] = d;
            char id[24];
            snprintf(id, sizeof(id), "r%zu", i);
            spec s = { id, W, "Fresno", FOOD, "Organization/a", 1, 1 + d, NONE, LG_TASK_ACCEPTED };
            add(t, &s);
        }
        lg_report_result *r = compute(t, NULL, 0, 1, 300);
        qsort(v, n, sizeof(v[0]), cmp_d);
        cr_assert_eq(r->overall.response.n, n);
        cr_assert_float_eq(r->overall.response.median, lg_report_percentile(v, n, 0.5), 1e-9, "n=%zu", n);
        cr_assert_float_eq(r->overall.response.p90, lg_report_percentile(v, n, 0.9), 1e-9, "n=%zu", n);
        lg_report_result_free(r);
        lg_report_table_free(t);
    }
}

static int cmp_pair(const lg_report_result *r, const lg_report_group *a, const lg_report_group *b)
{
    int c = strcmp(lg_report_value_code(r, LG_DIM_RACE, a->key[0]), lg_report_value_code(r, LG_DIM_RACE, b->key[0]));
    return c ? c : strcmp(lg_report_value_code(r, LG_DIM_COUNTY, a->key[1]),
                          lg_report_value_code(r, LG_DIM_COUNTY, b->key[1]));
}

Test(report_compute, groups_agree_with_brute_force)
{
    /* 3000 pseudo-random referrals over 3 races x 4 counties x 5 states;
     * each group's counts must equal a direct count of the specs. */
    static const char *races[] = { W, B, "2028-9" };
    static const char *counties[] = { "Fresno", "Kern", "Tulare", "Kings" };
    static const lg_task_status fins[] = { LG_TASK_REQUESTED, LG_TASK_ACCEPTED, LG_TASK_ON_HOLD,
                                           LG_TASK_COMPLETED, LG_TASK_FAILED };
    static const int cells[] = { LG_RC_PENDING, LG_RC_ACCEPTED, LG_RC_ON_HOLD, LG_RC_CLOSED_SERVED,
                                 LG_RC_CLOSED_NOT_SERVED };
    unsigned want[3][4][5] = { { { 0 } } };
    lg_report_table *t = lg_report_table_new();
    uint64_t x = 777;
    for(int i = 0; i < 3000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int ri = (int)(x % 3), ci = (int)((x >> 8) % 4), fi = (int)((x >> 16) % 5);
        char id[24];
        snprintf(id, sizeof(id), "b%d", i);
        spec s = { id, races[ri], counties[ci], FOOD, "Organization/a", 1, fi ? 2 : NONE, fi >= 3 ? 5 : NONE,
                   fins[fi] };
        add(t, &s);
        want[ri][ci][fi]++;
    }
    lg_report_dim d[] = { LG_DIM_RACE, LG_DIM_COUNTY };
    lg_report_result *r = compute(t, d, 2, 1, 100);
    cr_assert_eq(r->n_groups, 12);
    for(size_t g = 0; g < r->n_groups; g++) {
        const char *race = lg_report_value_code(r, LG_DIM_RACE, r->groups[g].key[0]);
        const char *county = lg_report_value_code(r, LG_DIM_COUNTY, r->groups[g].key[1]);
        int ri = -1, ci = -1;
        for(int k = 0; k < 3; k++)
            if(strcmp(race, races[k]) == 0)
                ri = k;
        for(int k = 0; k < 4; k++)
            if(strcmp(county, counties[k]) == 0)
                ci = k;
        cr_assert(ri >= 0 && ci >= 0);
        unsigned total = 0;
        for(int f = 0; f < 5; f++) {
            cr_assert_eq(r->groups[g].count[cells[f]], want[ri][ci][f], "%s/%s state %d", race, county, f);
            total += want[ri][ci][f];
        }
        cr_assert_eq(r->groups[g].count[LG_RC_TOTAL], total);
        if(g > 0) /* sorted by race code, then county name */
            cr_assert(cmp_pair(r, &r->groups[g - 1], &r->groups[g]) < 0);
    }
    lg_report_result_free(r);
    lg_report_table_free(t);
}
