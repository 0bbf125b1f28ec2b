/* test_auth.c - authentication and the audit log over HTTP: 401 without or
 * with a wrong token (before the body is looked at), /metadata open, the
 * roles' tokens accepted after a restart, one audit line per request with
 * the client and status, GET /AuditEvent for coordination only, serve
 * refusing to start without clients, and --no-auth. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lg_it.h"

static lg_server S;

static void up(void) { lg_it_start(&S, NULL); }
static void down(void) { lg_it_cleanup(&S); }

TestSuite(auth, .init = up, .fini = down, .timeout = 120);

/* The audit log's lines, parsed (a cJSON array the caller frees). */
static cJSON *audit_lines(const lg_server *s)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/audit.log", s->dir);
    cJSON *out = cJSON_CreateArray();
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    char line[8192];
    while(fgets(line, sizeof(line), f)) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "audit line is not JSON: %s", line);
        cJSON_AddItemToArray(out, j);
    }
    fclose(f);
    return out;
}

static void assert_401(lg_resp *r, const char *what)
{
    cr_assert_eq(r->status, 401, "%s: %ld %s", what, r->status, r->body ? r->body : r->error);
    cr_assert_str_eq(r->www_authenticate, "Bearer realm=\"loopgate\"", "%s", what);
    cr_assert_str_eq(lg_str(r->json, "resourceType"), "OperationOutcome", "%s", what);
    cr_assert_str_eq(lg_at_str(r->json, "issue.0.code"), "login", "%s", what);
    lg_resp_free(r);
}

Test(auth, no_or_wrong_token_is_401_before_the_body_is_read)
{
    lg_resp r = lg_http_as(&S, NULL, "GET", "/Patient/x", NULL, NULL);
    assert_401(&r, "no token");
    /* a broken body is not even parsed: 401, not 400 */
    const char *ct[] = {"Content-Type: application/fhir+json", NULL};
    r = lg_http_as(&S, NULL, "POST", "/Patient", ct, "{not json");
    assert_401(&r, "no token, bad body");
    r = lg_http_as(&S, "not-a-token", "GET", "/Patient/x", NULL, NULL);
    assert_401(&r, "wrong token");
    char *near = strdup(S.token);
    near[0] = near[0] == 'A' ? 'B' : 'A';
    r = lg_http_as(&S, near, "GET", "/Task", NULL, NULL);
    assert_401(&r, "token one character off");
    free(near);
    char big[1200];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    r = lg_http_as(&S, big, "GET", "/Task", NULL, NULL);
    assert_401(&r, "overlong token");
    const char *basic[] = {"Authorization: Basic aXQtYWRtaW46eA==", NULL};
    r = lg_http(&S, "GET", "/Patient/x", basic, NULL);
    assert_401(&r, "Basic scheme");
    /* the bundle endpoint and operations too */
    r = lg_http_as(&S, NULL, "POST", "/", ct, "{\"resourceType\":\"Bundle\"}");
    assert_401(&r, "transaction");
    r = lg_http_as(&S, NULL, "POST", "/Patient/$validate", ct, "{\"resourceType\":\"Patient\"}");
    assert_401(&r, "$validate");
}

Test(auth, metadata_is_open_and_a_good_token_works)
{
    lg_resp r = lg_http_as(&S, NULL, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "CapabilityStatement");
    lg_resp_free(&r);
    char *id = lg_create(&S, "Patient", "{\"resourceType\":\"Patient\",\"gender\":\"female\"}");
    r = lg_getf(&S, "/Patient/%s", id);
    cr_assert_eq(r.status, 200);
    lg_resp_free(&r);
    /* the scheme is case-insensitive; the caller's own header wins */
    char *h = lg_fmt("Authorization: bearer %s", S.token);
    const char *hs[] = {h, NULL};
    char *path = lg_fmt("/Patient/%s", id);
    r = lg_http(&S, "GET", path, hs, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
    free(h);
    free(path);
    free(id);
}

Test(auth, clients_added_later_work_after_a_restart)
{
    char *rep = lg_it_add_client(&S, "plan-reports", "reporting", "Organization/plan");
    char *src = lg_it_add_client(&S, "ehr-1", "referral-source", "Organization/ehr-1");
    /* not yet: the server read the file when it started */
    lg_resp r = lg_http_as(&S, rep, "GET", "/Patient/x", NULL, NULL);
    assert_401(&r, "before restart");
    lg_it_stop(&S, SIGTERM);
    lg_it_restart(&S);
    /* what a reporting client may see is the access rules' business; here
     * only that it is authenticated */
    r = lg_http_as(&S, rep, "GET", "/Patient/x", NULL, NULL);
    cr_assert_neq(r.status, 401, "%s", r.body);
    lg_resp_free(&r);
    r = lg_http_as(&S, src, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200);
    lg_resp_free(&r);
    /* the first client's token still works */
    r = lg_http(&S, "GET", "/Patient/x", NULL, NULL);
    cr_assert_eq(r.status, 404, "%s", r.body);
    lg_resp_free(&r);
    free(rep);
    free(src);
}

Test(auth, one_audit_line_per_request_with_client_and_status)
{
    cJSON *before = audit_lines(&S);
    int n0 = cJSON_GetArraySize(before);
    cJSON_Delete(before);
    lg_resp r = lg_http_as(&S, "wrong", "GET", "/Patient/a1?name=x", NULL, NULL);
    lg_resp_free(&r);
    char *id = lg_create(&S, "Patient", "{\"resourceType\":\"Patient\"}");
    r = lg_http(&S, "GET", "/Task?status=requested&_count=3", NULL, NULL);
    cr_assert_eq(r.status, 200);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient/missing-1", NULL, NULL);
    lg_resp_free(&r);

    cJSON *lines = audit_lines(&S);
    cr_assert_eq(cJSON_GetArraySize(lines), n0 + 4, "one line per request");
    const cJSON *l401 = cJSON_GetArrayItem(lines, n0);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(l401, "client")));
    cr_assert_eq(cJSON_GetObjectItem(l401, "status")->valueint, 401);
    cr_assert_str_eq(lg_str(l401, "path"), "/Patient/a1");
    cr_assert_str_eq(lg_str(l401, "query"), "name=x");
    const cJSON *lc = cJSON_GetArrayItem(lines, n0 + 1);
    cr_assert_str_eq(lg_str(lc, "client"), "it-admin");
    cr_assert_str_eq(lg_str(lc, "role"), "coordination");
    cr_assert_str_eq(lg_str(lc, "method"), "POST");
    cr_assert_eq(cJSON_GetObjectItem(lc, "status")->valueint, 201);
    cr_assert_str_eq(lg_str(lc, "type"), "Patient");
    cr_assert_str_eq(lg_str(lc, "id"), id, "the created resource's id, from Location");
    const cJSON *ls = cJSON_GetArrayItem(lines, n0 + 2);
    cr_assert_str_eq(lg_str(ls, "query"), "status=requested&_count=3");
    cr_assert_eq(cJSON_GetObjectItem(ls, "status")->valueint, 200);
    const cJSON *l404 = cJSON_GetArrayItem(lines, n0 + 3);
    cr_assert_eq(cJSON_GetObjectItem(l404, "status")->valueint, 404);
    cr_assert_str_eq(lg_str(l404, "id"), "missing-1");
    /* never the token */
    for(int i = 0; i < cJSON_GetArraySize(lines); i++) {
        char *t = cJSON_PrintUnformatted(cJSON_GetArrayItem(lines, i));
        cr_assert_null(strstr(t, S.token));
        free(t);
    }
    cJSON_Delete(lines);

    /* the log survives a restart and goes on */
    lg_it_stop(&S, SIGTERM);
    lg_it_restart(&S);
    r = lg_http(&S, "GET", "/Patient/missing-2", NULL, NULL);
    lg_resp_free(&r);
    lines = audit_lines(&S);
    cr_assert_geq(cJSON_GetArraySize(lines), n0 + 5);
    const cJSON *last = cJSON_GetArrayItem(lines, cJSON_GetArraySize(lines) - 1);
    cr_assert_str_eq(lg_str(last, "id"), "missing-2");
    cJSON_Delete(lines);
    free(id);
}

Test(auth, audit_events_for_coordination_only)
{
    char *src = lg_it_add_client(&S, "ehr-1", "referral-source", "Organization/ehr-1");
    lg_it_stop(&S, SIGTERM);
    lg_it_restart(&S);
    lg_resp r = lg_http_as(&S, src, "GET", "/Patient/seen-by-ehr", NULL, NULL);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient/seen-by-admin", NULL, NULL);
    lg_resp_free(&r);

    r = lg_http_as(&S, src, "GET", "/AuditEvent", NULL, NULL);
    cr_assert_eq(r.status, 403, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
    cr_assert_str_eq(lg_at_str(r.json, "issue.0.code"), "forbidden");
    lg_resp_free(&r);
    r = lg_http_as(&S, NULL, "GET", "/AuditEvent", NULL, NULL);
    assert_401(&r, "AuditEvent without a token");

    r = lg_http(&S, "GET", "/AuditEvent?_count=5", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(lg_str(r.json, "type"), "searchset");
    cr_assert_eq(lg_entries(r.json), 5);
    /* newest first: the 401 and 403 on /AuditEvent, then the admin's read,
     * then the ehr's (made before it) */
    int seen_admin = -1, seen_ehr = -1;
    for(int i = 0; i < lg_entries(r.json); i++) {
        char p[64];
        snprintf(p, sizeof(p), "entry.%d.resource.entity.0.what.reference", i);
        const char *what = lg_at_str(r.json, p);
        if(what && strcmp(what, "Patient/seen-by-admin") == 0)
            seen_admin = i;
        if(what && strcmp(what, "Patient/seen-by-ehr") == 0) {
            seen_ehr = i;
            snprintf(p, sizeof(p), "entry.%d.resource.agent.0.altId", i);
            cr_assert_str_eq(lg_at_str(r.json, p), "ehr-1");
            snprintf(p, sizeof(p), "entry.%d.resource.agent.0.who.reference", i);
            cr_assert_str_eq(lg_at_str(r.json, p), "Organization/ehr-1");
            snprintf(p, sizeof(p), "entry.%d.resource.outcome", i);
            cr_assert_str_eq(lg_at_str(r.json, p), "4"); /* a 404 */
            snprintf(p, sizeof(p), "entry.%d.resource.subtype.0.code", i);
            cr_assert_str_eq(lg_at_str(r.json, p), "read");
        }
    }
    cr_assert(seen_admin >= 0 && seen_ehr > seen_admin, "admin %d ehr %d", seen_admin, seen_ehr);
    cr_assert_str_eq(lg_at_str(r.json, "entry.0.resource.resourceType"), "AuditEvent");
    lg_resp_free(&r);

    /* a date window in the future is empty; a bad parameter is 400 */
    r = lg_http(&S, "GET", "/AuditEvent?date=ge2100-01-01", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(lg_entries(r.json), 0);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/AuditEvent?agent=x", NULL, NULL);
    cr_assert_eq(r.status, 400, "%s", r.body);
    lg_resp_free(&r);
    r = lg_http_json(&S, "POST", "/AuditEvent", "{\"resourceType\":\"AuditEvent\"}");
    cr_assert_eq(r.status, 405, "%s", r.body);
    lg_resp_free(&r);

    /* a plain (not unrestricted) coordination client may read it too */
    char *coord = lg_it_add_client(&S, "care-mgr", "coordination", "Organization/plan");
    lg_it_reload(&S, coord);
    r = lg_http_as(&S, coord, "GET", "/AuditEvent?_count=1", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
    free(coord);
    free(src);
}

Test(auth, sighup_reloads_the_clients_file)
{
    char *cbo = lg_it_add_client(&S, "cbo-7", "referral-recipient", "Organization/cbo-7");
    lg_resp r = lg_http_as(&S, cbo, "GET", "/Task", NULL, NULL);
    assert_401(&r, "before SIGHUP");
    lg_it_reload(&S, cbo);
    r = lg_http_as(&S, cbo, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200);
    lg_resp_free(&r);
    /* removed and reloaded: refused again; the admin still works */
    const char *rm[] = {"client", "remove", "--data", S.dir, "--id", "cbo-7", NULL};
    int st = 0;
    free(lg_it_run(rm, &st, NULL));
    cr_assert_eq(st, 0);
    kill(S.pid, SIGHUP);
    int refused = 0;
    for(int i = 0; i < 200 && !refused; i++) {
        r = lg_http_as(&S, cbo, "GET", "/Task", NULL, NULL);
        refused = r.status == 401;
        lg_resp_free(&r);
        if(!refused)
            usleep(25000);
    }
    cr_assert(refused, "a removed client is refused after SIGHUP");
    r = lg_http(&S, "GET", "/Patient/x", NULL, NULL);
    cr_assert_eq(r.status, 404);
    lg_resp_free(&r);
    /* a broken file changes nothing */
    char path[256];
    snprintf(path, sizeof(path), "%s/clients.json", S.dir);
    FILE *f = fopen(path, "w");
    fputs("{broken", f);
    fclose(f);
    kill(S.pid, SIGHUP);
    usleep(300000);
    r = lg_http(&S, "GET", "/Patient/x", NULL, NULL);
    cr_assert_eq(r.status, 404, "still authenticated after a bad reload: %ld", r.status);
    lg_resp_free(&r);
    free(cbo);
}

Test(auth, serve_without_clients_refuses_to_start)
{
    char dir[] = "/tmp/lg-it-noclients-XXXXXX", err[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(err, sizeof(err), "%s.err", dir);
    const char *args[] = {"serve", "--data", dir, "--listen", "127.0.0.1:1", NULL};
    int st = 0;
    char *out = lg_it_run(args, &st, err);
    cr_assert_eq(st, 2);
    free(out);
    FILE *f = fopen(err, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_assert_not_null(strstr(text, "loopgate client add --data"), "%s", text);
    remove(err);
    rmdir(dir);
}

Test(auth, no_auth_serves_everyone)
{
    lg_server N;
    const char *flags[] = {"--no-auth", NULL};
    lg_it_start(&N, flags);
    cr_assert_str_eq(N.token, "");
    lg_resp r = lg_http(&N, "GET", "/Patient/nobody", NULL, NULL);
    cr_assert_eq(r.status, 404, "%s", r.body);
    lg_resp_free(&r);
    char *id = lg_create(&N, "Patient", "{\"resourceType\":\"Patient\"}");
    r = lg_http(&N, "GET", "/AuditEvent", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_geq(lg_entries(r.json), 2);
    cr_assert_str_eq(lg_at_str(r.json, "entry.0.resource.agent.0.name"), "no authenticated client");
    lg_resp_free(&r);
    cJSON *lines = audit_lines(&N);
    const cJSON *last = cJSON_GetArrayItem(lines, cJSON_GetArraySize(lines) - 1);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(last, "client")));
    cJSON_Delete(lines);
    free(id);
    lg_it_cleanup(&N);
}
