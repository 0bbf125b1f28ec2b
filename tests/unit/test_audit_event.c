/* test_audit_event.c - the AuditEvents built from audit lines conform to
 * base R4 (lg_validate_full with terminology: required bindings of action
 * and outcome are checked), and carry the mapping issue #4 asks for. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "loopgate/audit.h"
#include "loopgate/outcome.h"
#include "loopgate/defs.h"
#include "loopgate/time.h"
#include "loopgate/validate.h"
#include "lg_test.h"

static lg_defs *D;

static void load(void)
{
    static const char *const types[] = {"AuditEvent", "Bundle", "Patient", NULL};
    lg_issues is = {0};
    lg_status st = lg_defs_load(lg_test_defs_dir(), types, &D, &is);
    if(!st)
        st = lg_defs_load_terminology(D, lg_test_defs_dir(), &is);
    for(size_t i = 0; st && i < is.count; i++)
        fprintf(stderr, "%s\n", is.items[i].diagnostics);
    lg_issues_free(&is);
    cr_assert_eq(st, LG_OK, "definitions load from %s", lg_test_defs_dir());
}

static void unload(void)
{
    lg_defs_free(D);
    D = NULL;
}

TestSuite(audit_event, .init = load, .fini = unload, .timeout = 120);

/* The AuditEvent for r, through the same encode/decode a log line takes. */
static cJSON *event_for(const lg_audit_record *r, uint64_t offset)
{
    char line[LG_AUDIT_MAX_LINE];
    size_t n = lg_audit_encode(r, line, sizeof(line));
    lg_audit_entry e;
    cr_assert_eq(lg_audit_decode(line, n, &e), LG_OK);
    e.offset = offset;
    lg_buf b;
    lg_buf_init(&b, 1u << 20);
    cr_assert_eq(lg_audit_event_write(&e, &b), LG_OK);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    cr_assert_not_null(j, "not JSON: %s", b.data);
    lg_buf_free(&b);
    lg_audit_entry_clear(&e);
    return j;
}

static void assert_valid(const cJSON *res)
{
    lg_issues is = {0};
    lg_status st = lg_validate_full(D, res, NULL, 0, &is);
    char *text = cJSON_PrintUnformatted(res);
    for(size_t i = 0; i < is.count; i++)
        if(is.items[i].severity <= LG_SEV_WARNING)
            cr_log_warn("%s: %s at %s", lg_severity_str(is.items[i].severity),
                        is.items[i].diagnostics, is.items[i].location ? is.items[i].location : "");
    cr_assert_eq(st, LG_OK, "%s: %s", lg_status_str(st), text);
    cr_assert_eq(lg_issues_errors(&is), 0, "%s: %s", is.count ? is.items[0].diagnostics : "", text);
    free(text);
    lg_issues_free(&is);
}

static const char *s(const cJSON *o, const char *path)
{
    char key[64];
    while(o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        path += n + (path[n] == '.');
        o = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, atoi(key)) : cJSON_GetObjectItem(o, key);
    }
    return cJSON_IsString(o) ? o->valuestring : NULL;
}

Test(audit_event, read_by_a_client)
{
    lg_audit_record r = {.time_ms = 1796054400123, .client = "cbo-1", .role = "referral-recipient",
                         .who = "Organization/cbo-1", .method = "GET", .path = "/Task/7",
                         .status = 200, .type = "Task", .id = "7", .ms = 0.5};
    cJSON *ev = event_for(&r, 1234);
    assert_valid(ev);
    cr_assert_str_eq(s(ev, "id"), "audit-1234");
    cr_assert_str_eq(s(ev, "type.code"), "rest");
    cr_assert_str_eq(s(ev, "subtype.0.code"), "read");
    cr_assert_str_eq(s(ev, "action"), "R");
    cr_assert_str_eq(s(ev, "outcome"), "0");
    char t[LG_TIME_BUFSZ];
    lg_time_format(r.time_ms, t, sizeof(t));
    cr_assert_str_eq(s(ev, "recorded"), t);
    cr_assert_str_eq(s(ev, "agent.0.who.reference"), "Organization/cbo-1");
    cr_assert_str_eq(s(ev, "agent.0.altId"), "cbo-1");
    cr_assert_str_eq(s(ev, "entity.0.what.reference"), "Task/7");
    /* controls: the validator does catch a broken AuditEvent */
    lg_issues is = {0};
    cJSON *bad = cJSON_Duplicate(ev, 1);
    cJSON_ReplaceItemInObject(bad, "action", cJSON_CreateString("X"));
    lg_validate_full(D, bad, NULL, 0, &is);
    cr_assert_gt(lg_issues_errors(&is), 0, "action X is outside the required value set");
    lg_issues_free(&is);
    cJSON_DeleteItemFromObject(bad, "action");
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(bad, "agent"), 0), "requestor") ? cJSON_GetObjectItem(bad, "agent") : NULL, 0);
    lg_validate_full(D, bad, NULL, 0, &is);
    cr_assert_gt(lg_issues_errors(&is), 0, "agent is 1..*");
    lg_issues_free(&is);
    cJSON_Delete(bad);
    cJSON_Delete(ev);
}

Test(audit_event, search_create_failures_and_anonymous)
{
    lg_audit_record search = {.time_ms = 1796054400000, .client = "ehr", .role = "referral-source",
                              .who = "PractitionerRole/pr-1", .method = "GET", .path = "/Patient",
                              .query = "name=Rivera&_count=5", .status = 200, .type = "Patient"};
    cJSON *ev = event_for(&search, 1);
    assert_valid(ev);
    cr_assert_str_eq(s(ev, "subtype.0.code"), "search-type");
    cr_assert_str_eq(s(ev, "action"), "E");
    cr_assert_str_eq(s(ev, "entity.0.query"), "bmFtZT1SaXZlcmEmX2NvdW50PTU="); /* base64 */
    cJSON_Delete(ev);

    lg_audit_record create = {.time_ms = 1796054400000, .client = "ehr", .role = "referral-source",
                              .who = "Organization/ehr", .method = "POST", .path = "/Task",
                              .status = 201, .type = "Task", .id = "t-9"};
    ev = event_for(&create, 2);
    assert_valid(ev);
    cr_assert_str_eq(s(ev, "action"), "C");
    cr_assert_str_eq(s(ev, "entity.0.what.reference"), "Task/t-9");
    cJSON_Delete(ev);

    lg_audit_record denied = {.time_ms = 1796054400000, .method = "DELETE", .path = "/Patient/1",
                              .status = 401, .type = "Patient", .id = "1"};
    ev = event_for(&denied, 3);
    assert_valid(ev);
    cr_assert_str_eq(s(ev, "outcome"), "4");
    cr_assert_str_eq(s(ev, "action"), "D");
    cr_assert_null(s(ev, "agent.0.altId"));
    cJSON_Delete(ev);

    lg_audit_record broke = {.time_ms = 1796054400000, .client = "x", .role = "coordination",
                             .who = "Organization/x", .method = "POST", .path = "/",
                             .status = 500};
    ev = event_for(&broke, 4);
    assert_valid(ev);
    cr_assert_str_eq(s(ev, "outcome"), "8");
    cr_assert_str_eq(s(ev, "subtype.0.code"), "transaction");
    cJSON_Delete(ev);

    /* markup in a path is escaped in the narrative */
    lg_audit_record odd = {.time_ms = 1796054400000, .method = "GET",
                           .path = "/Patient/<b>&\"x\"", .status = 400, .type = "Patient"};
    ev = event_for(&odd, 5);
    assert_valid(ev);
    cr_assert_not_null(strstr(s(ev, "text.div"), "&lt;b&gt;&amp;"));
    cJSON_Delete(ev);
}

Test(audit_event, exported_bundle_validates)
{
    char dir[] = "/tmp/lg-audit-ev-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    lg_audit_log *log;
    lg_issues is = {0};
    cr_assert_eq(lg_audit_log_open(dir, &log, &is), LG_OK);
    const char *paths[] = {"/Patient/1", "/Task", "/metadata", "/Patient/1/_history/1"};
    for(int i = 0; i < 4; i++) {
        lg_audit_record r = {.time_ms = lg_time_now_ms(), .client = "c", .role = "coordination",
                             .who = "Organization/o", .method = "GET", .path = paths[i],
                             .query = i == 1 ? "status=requested" : NULL, .status = 200};
        char t[80], id[80];
        lg_audit_target(paths[i], NULL, t, sizeof(t), id, sizeof(id));
        r.type = t[0] ? t : NULL;
        r.id = id[0] ? id : NULL;
        cr_assert_eq(lg_audit_log_write(log, &r), LG_OK);
    }
    lg_audit_log_close(log);
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, LG_AUDIT_FILE);
    lg_audit_query q = {.since = INT64_MIN, .until = INT64_MAX, .count = 10};
    lg_buf b;
    lg_buf_init(&b, 1u << 20);
    cr_assert_eq(lg_audit_export(path, &q, "http://localhost:8080", "_count=10", &b, &is), LG_OK);
    cJSON *bundle = cJSON_ParseWithLength(b.data, b.len);
    cr_assert_not_null(bundle);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(bundle, "entry")), 4);
    assert_valid(bundle);
    cJSON_Delete(bundle);
    lg_buf_free(&b);
    lg_issues_free(&is);
    unlink(path);
    rmdir(dir);
}
