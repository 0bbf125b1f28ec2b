/* test_forward_inbound.c - inbound status events (src/forward/inbound.c)
 * with a fake adapter and an apply hook that moves the Task in a real store
 * and refuses transitions out of a closed state: signatures, parse errors,
 * de-duplication, out-of-order events, parked transitions, unknown
 * referrals, echoed Task ids and the link bookkeeping. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forward/internal.h"
#include "loopgate/time.h"

/* ---- the fake adapter: "X-Sig: good" signs; body
 * {"type", "event_id", "remote_id", "task_id", "status", "at", "reason"} */

static lg_status fk_verify(const lg_fwd_platform *p, void *state, lg_fwd_header_fn header,
                           const void *hctx, const char *body, size_t len, int64_t now_ms)
{
    const char *sig = header(hctx, "X-Sig");
    return sig && strcmp(sig, "good") == 0 ? LG_OK : LG_EFORBIDDEN;
}

static char *dup_member(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static lg_status fk_parse_event(const lg_fwd_platform *p, void *state, const char *body, size_t len,
                                lg_fwd_event *out, lg_issues *issues)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    if(!j) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "not JSON");
        return LG_EINVAL;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if(cJSON_IsString(type) && strcmp(type->valuestring, "status") != 0) {
        cJSON_Delete(j);
        return LG_ENOTFOUND;
    }
    out->event_id = dup_member(j, "event_id");
    out->remote_id = dup_member(j, "remote_id");
    out->task_id = dup_member(j, "task_id");
    out->platform_status = dup_member(j, "status");
    out->reason = dup_member(j, "reason");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "at");
    out->occurred_ms = cJSON_IsNumber(at) ? (int64_t)at->valuedouble : INT64_MIN;
    lg_status rc = LG_OK;
    if(!out->platform_status || lg_task_status_parse(out->platform_status, &out->status) != 0) {
        lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", "status", "unknown status");
        rc = LG_EINVAL;
    }
    cJSON_Delete(j);
    return rc;
}

static const lg_fwd_adapter hookad = {.name = "hook", .verify = fk_verify,
                                      .parse_event = fk_parse_event};
static const lg_fwd_adapter quiet = {.name = "quiet"};

static const lg_fwd_adapter *find(const char *name)
{
    if(strcmp(name, "hook") == 0)
        return &hookad;
    if(strcmp(name, "quiet") == 0)
        return &quiet;
    return NULL;
}

static const char *header(const void *hctx, const char *name)
{
    const char *const *h = hctx; /* {name, value, NULL} */
    for(; h && h[0]; h += 2)
        if(strcasecmp(h[0], name) == 0)
            return h[1];
    return NULL;
}

/* ---- the store and the apply hook */

static lg_store *st;
static char dir[] = "/tmp/lg-fwdin-XXXXXX";
static lg_fwd_config *cfg;
static int n_applied;
static char last_reason[128];

static void put_task(const char *id, const char *status)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"%s\",\"intent\":\"order\"}", id,
             status);
    int64_t ver = 1;
    lg_resource cur = {0};
    if(lg_store_read(st, "Task", id, &cur) == LG_OK)
        ver = cur.version + 1;
    lg_resource_clear(&cur);
    lg_store_write w = {.type = "Task", .id = id, .version = ver, .last_updated = lg_time_now_ms(),
                        .method = "PUT", .json = json, .json_len = strlen(json)};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_put(st, &w, NULL), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
}

static lg_task_status task_status_of(const char *id)
{
    lg_resource r = {0};
    cr_assert_eq(lg_store_read(st, "Task", id, &r), LG_OK);
    cJSON *t = cJSON_Parse(r.json);
    lg_task_status s = LG_TASK_STATUS_COUNT;
    lg_task_status_parse(cJSON_GetObjectItem(t, "status")->valuestring, &s);
    cJSON_Delete(t);
    lg_resource_clear(&r);
    return s;
}

/* As the owner would: nothing leaves a closed state. */
static int apply_status(void *ctx, lg_store *s, const char *task_id, lg_task_status status,
                        const char *reason, const char *outcome, char *msg, size_t msg_len)
{
    cr_assert_eq(s, st, "the hook gets the caller's store handle");
    lg_task_status cur = task_status_of(task_id);
    if(lg_fwd_status_terminal(cur)) {
        snprintf(msg, msg_len, "Task is %s: no transition to %s", lg_task_status_code(cur),
                 lg_task_status_code(status));
        return 409;
    }
    put_task(task_id, lg_task_status_code(status));
    snprintf(last_reason, sizeof last_reason, "%s", reason ? reason : "");
    n_applied++;
    return 200;
}

static const lg_fwd_hooks hooks = {.apply_status = apply_status};

static void setup(void)
{
    lg_issues is = {0};
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(lg_store_open(dir, &st, &is), LG_OK);
    const char *json = "{\"platforms\": ["
                       "{\"name\": \"uu\", \"adapter\": \"hook\", \"base_url\": \"https://uu\"},"
                       "{\"name\": \"fh\", \"adapter\": \"quiet\", \"base_url\": \"https://fh\"}]}";
    cr_assert_eq(lg_fwd_config_parse(json, strlen(json), find, &cfg, &is), LG_OK);
    lg_issues_free(&is);
    put_task("t-1", "requested");
    put_task("t-2", "requested");
    lg_forward_link l = {.platform = "uu", .remote_id = "R-1", .task_id = "t-1",
                         .last_event_ms = INT64_MIN};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_forward_link_put(st, &l), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
}

static void teardown(void)
{
    lg_fwd_config_free(cfg);
    lg_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(forward_inbound, .init = setup, .fini = teardown);

static const char *signed_hdrs[] = {"x-sig", "good", NULL};

static int post(const char *platform, const char *body, const char *const *hdrs, char *msg)
{
    return lg_fwd_inbound(cfg, st, platform, header, hdrs, body, strlen(body), &hooks,
                          lg_time_now_ms(), msg, 256);
}

static int event(const char *id, const char *remote, const char *status, long long at, char *msg)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"type\": \"status\", \"event_id\": \"%s\", \"remote_id\": \"%s\", \"status\": \"%s\","
             " \"at\": %lld, \"reason\": \"no capacity\"}",
             id, remote, status, at);
    return post("uu", body, signed_hdrs, msg);
}

/* The recorded outcome of an event, or "" when not recorded. */
static char outcome_buf[64], detail_buf[256];
static const char *outcome(const char *id)
{
    lg_inbound_event e = {0};
    outcome_buf[0] = detail_buf[0] = '\0';
    if(lg_store_inbound_event_get(st, "uu", id, &e) == LG_OK) {
        snprintf(outcome_buf, sizeof outcome_buf, "%s", e.outcome ? e.outcome : "?");
        snprintf(detail_buf, sizeof detail_buf, "%s", e.detail ? e.detail : "");
    }
    lg_inbound_event_clear(&e);
    return outcome_buf;
}

Test(forward_inbound, bad_signature_is_401_and_changes_nothing)
{
    char msg[256];
    const char *body = "{\"type\": \"status\", \"event_id\": \"e1\", \"remote_id\": \"R-1\", "
                       "\"status\": \"accepted\", \"at\": 1000}";
    const char *bad[] = {"X-Sig", "forged", NULL};
    cr_expect_eq(post("uu", body, bad, msg), 401);
    cr_expect_eq(post("uu", body, NULL, msg), 401);
    cr_expect_eq(n_applied, 0);
    cr_expect_str_eq(outcome("e1"), "");
    cr_expect_eq(task_status_of("t-1"), LG_TASK_REQUESTED);
    /* The same event signed goes through. */
    cr_expect_eq(post("uu", body, signed_hdrs, msg), 200, "%s", msg);
    cr_expect_eq(n_applied, 1);
}

Test(forward_inbound, unknown_platform_or_no_webhooks_is_404)
{
    char msg[256];
    cr_expect_eq(post("nope", "{}", signed_hdrs, msg), 404);
    cr_expect_eq(post("fh", "{}", signed_hdrs, msg), 404);
    cr_expect(strstr(msg, "no webhooks") != NULL, "%s", msg);
}

Test(forward_inbound, unreadable_is_400_other_types_ignored)
{
    char msg[256];
    cr_expect_eq(post("uu", "{not json", signed_hdrs, msg), 400);
    cr_expect_eq(post("uu", "{\"type\": \"status\", \"event_id\": \"e9\", \"remote_id\": \"R-1\", "
                            "\"status\": \"bogus\"}", signed_hdrs, msg), 400);
    cr_expect(strstr(msg, "unknown status") != NULL, "%s", msg);
    cr_expect_eq(post("uu", "{\"type\": \"referral.created\", \"event_id\": \"e8\"}", signed_hdrs, msg),
                 200);
    cr_expect_str_eq(outcome("e8"), "");
    cr_expect_eq(n_applied, 0);
}

Test(forward_inbound, applied_then_duplicate_changes_nothing)
{
    char msg[256];
    cr_assert_eq(event("e1", "R-1", "accepted", 1000, msg), 200, "%s", msg);
    cr_expect_eq(n_applied, 1);
    cr_expect_eq(task_status_of("t-1"), LG_TASK_ACCEPTED);
    cr_expect_str_eq(outcome("e1"), "applied");
    lg_forward_link l = {0};
    cr_assert_eq(lg_store_forward_link_get(st, "uu", "R-1", &l), LG_OK);
    cr_expect_str_eq(l.last_status, "accepted");
    cr_expect_eq(l.last_event_ms, 1000);
    cr_expect_eq(l.closed, 0);
    lg_forward_link_clear(&l);

    /* The same event id again (even saying something else): 200, no apply. */
    cr_expect_eq(event("e1", "R-1", "accepted", 1000, msg), 200);
    cr_expect(strstr(msg, "duplicate") != NULL, "%s", msg);
    cr_expect_eq(event("e1", "R-1", "in-progress", 1100, msg), 200);
    cr_expect_eq(n_applied, 1);
    cr_expect_eq(task_status_of("t-1"), LG_TASK_ACCEPTED);
}

Test(forward_inbound, older_events_are_ignored)
{
    char msg[256];
    cr_assert_eq(event("e1", "R-1", "in-progress", 2000, msg), 200);
    cr_expect_eq(n_applied, 1);
    cr_expect_eq(event("e0", "R-1", "accepted", 1500, msg), 200, "%s", msg);
    cr_expect_eq(n_applied, 1, "an older event is not applied");
    cr_expect_eq(task_status_of("t-1"), LG_TASK_IN_PROGRESS);
    cr_expect_str_eq(outcome("e0"), "ignored");
    lg_forward_link l = {0};
    cr_assert_eq(lg_store_forward_link_get(st, "uu", "R-1", &l), LG_OK);
    cr_expect_eq(l.last_event_ms, 2000);
    cr_expect_str_eq(l.last_status, "in-progress");
    lg_forward_link_clear(&l);
    /* A newer one is. */
    cr_expect_eq(event("e2", "R-1", "completed", 2500, msg), 200);
    cr_expect_eq(n_applied, 2);
    cr_assert_eq(lg_store_forward_link_get(st, "uu", "R-1", &l), LG_OK);
    cr_expect_eq(l.closed, 1, "a completed referral's link is closed");
    lg_forward_link_clear(&l);
}

Test(forward_inbound, refused_transition_is_parked_with_its_reason)
{
    char msg[256];
    cr_assert_eq(event("e1", "R-1", "rejected", 1000, msg), 200);
    cr_expect_str_eq(last_reason, "no capacity", "the platform's reason reaches the hook");
    cr_expect_eq(task_status_of("t-1"), LG_TASK_REJECTED);
    cr_expect_eq(event("e2", "R-1", "accepted", 2000, msg), 200, "a parked event is still 200");
    cr_expect_eq(task_status_of("t-1"), LG_TASK_REJECTED);
    cr_expect_str_eq(outcome("e2"), "parked");
    cr_expect(strstr(detail_buf, "409") && strstr(detail_buf, "no transition"), "%s", detail_buf);
    /* Parked is recorded: sent again, it is a duplicate. */
    cr_expect_eq(event("e2", "R-1", "accepted", 2000, msg), 200);
    cr_expect(strstr(msg, "duplicate") != NULL, "%s", msg);
}

Test(forward_inbound, unknown_referral_is_404_and_not_recorded)
{
    char msg[256];
    cr_expect_eq(event("e1", "R-404", "accepted", 1000, msg), 404);
    cr_expect_str_eq(outcome("e1"), "");
    cr_expect_eq(post("uu", "{\"type\": \"status\", \"event_id\": \"e2\", \"remote_id\": \"R-5\", "
                            "\"task_id\": \"Task/t-404\", \"status\": \"accepted\"}", signed_hdrs, msg),
                 404);
    cr_expect_eq(n_applied, 0);
}

Test(forward_inbound, echoed_task_id_without_link_is_applied_and_linked)
{
    char msg[256];
    cr_expect_eq(post("uu", "{\"type\": \"status\", \"event_id\": \"e1\", \"remote_id\": \"R-7\", "
                            "\"task_id\": \"Task/t-2\", \"status\": \"accepted\", \"at\": 5}",
                      signed_hdrs, msg), 200, "%s", msg);
    cr_expect_eq(task_status_of("t-2"), LG_TASK_ACCEPTED);
    lg_forward_link l = {0};
    cr_assert_eq(lg_store_forward_link_get(st, "uu", "R-7", &l), LG_OK);
    cr_expect_str_eq(l.task_id, "t-2");
    cr_expect_str_eq(l.last_status, "accepted");
    lg_forward_link_clear(&l);
    /* From now on the remote id alone finds it. */
    cr_expect_eq(event("e2", "R-7", "in-progress", 6, msg), 200);
    cr_expect_eq(task_status_of("t-2"), LG_TASK_IN_PROGRESS);
}

Test(forward_inbound, same_status_is_ignored_as_no_change)
{
    char msg[256];
    cr_expect_eq(event("e1", "R-1", "requested", 1000, msg), 200);
    cr_expect_eq(n_applied, 0);
    cr_expect_str_eq(outcome("e1"), "ignored");
}

Test(forward_inbound, overlong_ids_are_400_before_anything_is_applied)
{
    char msg[256];
    char id[LG_STORE_KEY_MAX + 10];
    memset(id, 'e', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    cr_expect_eq(event(id, "R-1", "accepted", 1000, msg), 400, "%s", msg);
    cr_expect_eq(n_applied, 0);
    cr_expect_eq(task_status_of("t-1"), LG_TASK_REQUESTED);
}
