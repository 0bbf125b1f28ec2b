/* GET /$outbox, POST /$outbox-replay and GET /$outbox-events through
 * lg_rest_handle (issue #5, src/rest/outbox_op.c): a store filled with jobs
 * and inbound events through store.h, then the pages, filters, counts and
 * paging of the listing, one job by id, replay (200 with the job and
 * outbox_added, 404, 409), the parameter errors (400 OperationOutcomes),
 * who may ask (403 for everyone but coordination staff), and /metadata. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/model.h"
#include "loopgate/rest.h"
#include "loopgate/store.h"
#include "lg_test.h"
#include "lg_test_rest.h"

static const char *const cbo_refs[] = {"Organization/cbo-17"};
static const lg_actor recipient = {LG_ROLE_REFERRAL_RECIPIENT, cbo_refs, 1};
static const lg_actor reporter = {LG_ROLE_REPORTING, NULL, 0};
static const lg_actor staff = {LG_ROLE_COORDINATION, NULL, 0};

typedef struct reply {
    lg_rest_response r;
    cJSON *json;
} reply;

static reply call(const lg_actor *a, const char *method, const char *path, const char *query)
{
    reply out;
    lg_rest_request req = {.method = method, .path = path, .query = query,
                           .base = "http://test", .actor = a};
    cr_assert_eq(lg_rest_handle(&rest, store, &req, &out.r), LG_OK);
    out.json = out.r.body ? cJSON_ParseWithLength(out.r.body, out.r.body_len) : NULL;
    cr_assert_not_null(out.json, "the answer is JSON");
    return out;
}

static void done(reply *r)
{
    cJSON_Delete(r->json);
    lg_rest_response_clear(&r->r);
}

static int is_outcome(const reply *r)
{
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(r->json, "resourceType");
    return cJSON_IsString(rt) && strcmp(rt->valuestring, "OperationOutcome") == 0;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    cr_assert(cJSON_IsNumber(v), "%s is a number", k);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t ids[5];

/* Five jobs: 0 uu pending, 1 uu dead, 2 fh done, 3 fh dead, 4 uu pending;
 * three events, one parked. */
static void fill(void)
{
    static const char *const plat[5] = {"uu", "uu", "fh", "fh", "uu"};
    cr_assert_eq(lg_store_begin(store), LG_OK);
    for(int i = 0; i < 5; i++) {
        char task[8];
        snprintf(task, sizeof(task), "t%d", i);
        lg_outbox_job j = {.platform = (char *)plat[i], .kind = "create", .task_id = task,
                           .referral_id = "sr-1", .target = "prog-1", .created_ms = 1000 + i,
                           .next_at_ms = 1000 + i};
        cr_assert_eq(lg_store_outbox_add(store, &j, &ids[i]), LG_OK);
    }
    cr_assert_eq(lg_store_outbox_update(store, ids[1], LG_OUTBOX_DEAD, 8, 0, "HTTP 500", NULL, 2000),
                 LG_OK);
    cr_assert_eq(lg_store_outbox_update(store, ids[2], LG_OUTBOX_DONE, 1, 0, NULL, "R-2", 2000),
                 LG_OK);
    cr_assert_eq(lg_store_outbox_update(store, ids[3], LG_OUTBOX_DEAD, 1, 0, "HTTP 400 \"bad\"",
                                        NULL, 2000),
                 LG_OK);
    static char outcome[3][8] = {"applied", "parked", "ignored"};
    for(int i = 0; i < 3; i++) {
        char ev[8];
        snprintf(ev, sizeof(ev), "ev-%d", i);
        lg_inbound_event e = {.platform = "uu", .event_id = ev, .task_id = "t0",
                              .status = "accepted", .outcome = outcome[i],
                              .detail = i == 1 ? "completed -> accepted is not allowed" : NULL,
                              .received_ms = 3000 + i};
        cr_assert_eq(lg_store_inbound_event_add(store, &e), LG_OK);
    }
    cr_assert_eq(lg_store_commit(store), LG_OK);
}

static void suite_setup(void)
{
    setup();
    fill();
}

TestSuite(rest_outbox, .init = suite_setup, .fini = teardown);

Test(rest_outbox, list_all_with_counts)
{
    reply r = call(&staff, "GET", "/$outbox", NULL);
    cr_assert_eq(r.r.status, 200);
    cr_assert(strncmp(r.r.content_type, "application/json", 16) == 0);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(r.json, "jobs");
    cr_assert_eq(cJSON_GetArraySize(jobs), 5);
    for(int i = 0; i < 5; i++)
        cr_assert_eq((int64_t)num(cJSON_GetArrayItem(jobs, i), "id"), ids[i]);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r.json, "counts");
    cr_assert_eq(num(c, "pending"), 2);
    cr_assert_eq(num(c, "done"), 1);
    cr_assert_eq(num(c, "dead"), 2);
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(r.json, "next_after"));
    const cJSON *j3 = cJSON_GetArrayItem(jobs, 3);
    cr_assert_str_eq(str(j3, "state"), "dead");
    cr_assert_str_eq(str(j3, "platform"), "fh");
    cr_assert_str_eq(str(j3, "last_error"), "HTTP 400 \"bad\"", "escaped and read back");
    cr_assert_str_eq(str(cJSON_GetArrayItem(jobs, 2), "remote_id"), "R-2");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(jobs, 0),
                                                            "remote_id")));
    done(&r);
    /* the server itself may ask too */
    r = call(NULL, "GET", "/$outbox", NULL);
    cr_assert_eq(r.r.status, 200);
    done(&r);
}

Test(rest_outbox, filters_and_paging)
{
    reply r = call(&staff, "GET", "/$outbox", "state=dead");
    cr_assert_eq(r.r.status, 200);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(r.json, "jobs");
    cr_assert_eq(cJSON_GetArraySize(jobs), 2);
    cr_assert_eq((int64_t)num(cJSON_GetArrayItem(jobs, 0), "id"), ids[1]);
    cr_assert_eq((int64_t)num(cJSON_GetArrayItem(jobs, 1), "id"), ids[3]);
    done(&r);
    r = call(&staff, "GET", "/$outbox", "state=pending&platform=uu");
    jobs = cJSON_GetObjectItemCaseSensitive(r.json, "jobs");
    cr_assert_eq(cJSON_GetArraySize(jobs), 2);
    cr_assert_eq((int64_t)num(cJSON_GetArrayItem(jobs, 1), "id"), ids[4]);
    done(&r);
    /* two per page, following next_after */
    char q[64];
    int64_t after = 0;
    int seen = 0, pages = 0;
    for(;;) {
        snprintf(q, sizeof(q), "_count=2&after=%lld", (long long)after);
        /* the first page asked for with after=0, the others with the last id */
        r = call(&staff, "GET", "/$outbox", q);
        cr_assert_eq(r.r.status, 200);
        jobs = cJSON_GetObjectItemCaseSensitive(r.json, "jobs");
        int n = cJSON_GetArraySize(jobs);
        cr_assert_leq(n, 2);
        for(int i = 0; i < n; i++)
            cr_assert_eq((int64_t)num(cJSON_GetArrayItem(jobs, i), "id"), ids[seen + i]);
        seen += n;
        pages++;
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "next_after");
        if(!next) {
            done(&r);
            break;
        }
        after = (int64_t)next->valuedouble;
        cr_assert_eq(after, ids[seen - 1]);
        done(&r);
        cr_assert_lt(pages, 5);
    }
    cr_assert_eq(seen, 5);
    cr_assert_eq(pages, 3);
}

Test(rest_outbox, one_job)
{
    char q[32];
    snprintf(q, sizeof(q), "id=%lld", (long long)ids[1]);
    reply r = call(&staff, "GET", "/$outbox", q);
    cr_assert_eq(r.r.status, 200);
    cr_assert_eq((int64_t)num(r.json, "id"), ids[1]);
    cr_assert_str_eq(str(r.json, "state"), "dead");
    cr_assert_str_eq(str(r.json, "task_id"), "t1");
    cr_assert_eq(num(r.json, "attempts"), 8);
    done(&r);
    r = call(&staff, "GET", "/$outbox", "id=999999");
    cr_assert_eq(r.r.status, 404);
    cr_assert(is_outcome(&r));
    done(&r);
}

Test(rest_outbox, replay)
{
    char q[32];
    snprintf(q, sizeof(q), "id=%lld", (long long)ids[1]);
    reply r = call(&staff, "POST", "/$outbox-replay", q);
    cr_assert_eq(r.r.status, 200);
    cr_assert_eq(r.r.outbox_added, 1, "the forwarder is woken");
    cr_assert_eq((int64_t)num(r.json, "id"), ids[1]);
    cr_assert_str_eq(str(r.json, "state"), "pending");
    cr_assert_eq(num(r.json, "attempts"), 0);
    cr_assert_str_eq(str(r.json, "last_error"), "HTTP 500");
    done(&r);
    lg_outbox_job j;
    cr_assert_eq(lg_store_outbox_get(store, ids[1], &j), LG_OK);
    cr_assert_eq(j.state, LG_OUTBOX_PENDING, "the replay is stored");
    lg_outbox_job_clear(&j);
    /* again: now pending, not dead */
    r = call(&staff, "POST", "/$outbox-replay", q);
    cr_assert_eq(r.r.status, 409);
    cr_assert_eq(r.r.outbox_added, 0);
    cr_assert(is_outcome(&r));
    done(&r);
    snprintf(q, sizeof(q), "id=%lld", (long long)ids[2]);
    r = call(&staff, "POST", "/$outbox-replay", q);
    cr_assert_eq(r.r.status, 409, "done is not dead");
    done(&r);
    r = call(&staff, "POST", "/$outbox-replay", "id=424242");
    cr_assert_eq(r.r.status, 404);
    cr_assert(is_outcome(&r));
    done(&r);
    r = call(&staff, "POST", "/$outbox-replay", NULL);
    cr_assert_eq(r.r.status, 400, "id is required");
    done(&r);
    r = call(&staff, "GET", "/$outbox-replay", q);
    cr_assert_eq(r.r.status, 405);
    done(&r);
    int64_t c[3];
    cr_assert_eq(lg_store_outbox_counts(store, c), LG_OK);
    cr_assert_eq(c[LG_OUTBOX_PENDING], 3);
    cr_assert_eq(c[LG_OUTBOX_DEAD], 1);
}

Test(rest_outbox, events)
{
    reply r = call(&staff, "GET", "/$outbox-events", NULL);
    cr_assert_eq(r.r.status, 200);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(r.json, "events");
    cr_assert_eq(cJSON_GetArraySize(ev), 3);
    cr_assert_str_eq(str(cJSON_GetArrayItem(ev, 0), "event_id"), "ev-0");
    done(&r);
    r = call(&staff, "GET", "/$outbox-events", "outcome=parked");
    ev = cJSON_GetObjectItemCaseSensitive(r.json, "events");
    cr_assert_eq(cJSON_GetArraySize(ev), 1);
    cr_assert_str_eq(str(cJSON_GetArrayItem(ev, 0), "event_id"), "ev-1");
    cr_assert_str_eq(str(cJSON_GetArrayItem(ev, 0), "detail"),
                     "completed -> accepted is not allowed");
    done(&r);
    r = call(&staff, "GET", "/$outbox-events", "_count=1");
    ev = cJSON_GetObjectItemCaseSensitive(r.json, "events");
    cr_assert_eq(cJSON_GetArraySize(ev), 1);
    double next = num(r.json, "next_after");
    cr_assert_eq(next, num(cJSON_GetArrayItem(ev, 0), "seq"));
    done(&r);
}

Test(rest_outbox, bad_parameters)
{
    static const char *const bad[][2] = {
        {"/$outbox", "state=lost"},   {"/$outbox", "_count=0"},
        {"/$outbox", "_count=abc"},   {"/$outbox", "after=-1"},
        {"/$outbox", "colour=red"},   {"/$outbox", "state=dead&state=done"},
        {"/$outbox", "id=1&state=dead"}, {"/$outbox", "id=x"},
        {"/$outbox-events", "state=dead"}, {"/$outbox-replay", "id=0"},
    };
    for(size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *m = strcmp(bad[i][0], "/$outbox-replay") == 0 ? "POST" : "GET";
        reply r = call(&staff, m, bad[i][0], bad[i][1]);
        cr_assert_eq(r.r.status, 400, "%s?%s", bad[i][0], bad[i][1]);
        cr_assert(is_outcome(&r));
        done(&r);
    }
}

Test(rest_outbox, only_coordination)
{
    const lg_actor *others[] = {&recipient, &reporter};
    const char *paths[][2] = {{"GET", "/$outbox"}, {"POST", "/$outbox-replay"},
                              {"GET", "/$outbox-events"}};
    char q[32];
    snprintf(q, sizeof(q), "id=%lld", (long long)ids[3]);
    for(size_t a = 0; a < 2; a++)
        for(size_t p = 0; p < 3; p++) {
            reply r = call(others[a], paths[p][0], paths[p][1], p == 1 ? q : NULL);
            cr_assert_eq(r.r.status, 403, "%s %s", paths[p][0], paths[p][1]);
            cr_assert(is_outcome(&r));
            done(&r);
        }
    lg_outbox_job j;
    cr_assert_eq(lg_store_outbox_get(store, ids[3], &j), LG_OK);
    cr_assert_eq(j.state, LG_OUTBOX_DEAD, "a refused replay changed nothing");
    lg_outbox_job_clear(&j);
}

Test(rest_outbox, listed_in_metadata)
{
    reply r = call(NULL, "GET", "/metadata", NULL);
    cr_assert_eq(r.r.status, 200);
    const cJSON *rest0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "rest"), 0);
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(rest0, "operation");
    int found = 0;
    const cJSON *op;
    cJSON_ArrayForEach(op, ops) {
        const char *n = str(op, "name");
        found += n && (strcmp(n, "outbox") == 0 || strcmp(n, "outbox-replay") == 0 ||
                       strcmp(n, "outbox-events") == 0);
    }
    cr_assert_eq(found, 3);
    done(&r);
}
