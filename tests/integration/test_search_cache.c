/* Integration: the per-worker search cache never answers with a stale
 * result. Each test repeats one search (so the second answer can come from
 * the cache), writes something the result depends on, and checks the next
 * identical search shows the write. Also: one process per data directory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "lg_it.h"

static lg_server S;

/* One worker thread, so repeated searches surely meet the same cache. */
static const char *const one_thread[] = {"--threads", "1", NULL};

static void up(void) { lg_it_start(&S, one_thread); }
static void down(void) { lg_it_cleanup(&S); }

TestSuite(search_cache, .init = up, .fini = down, .timeout = 60);

/* The ids of the entries with search.mode mode, as "Type/id" joined by ' '. */
static char *entry_ids(const cJSON *bundle, const char *mode)
{
    char *out = calloc(1, 8192);
    cr_assert(out);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(bundle, "entry")) {
        if(strcmp(lg_at_str(e, "search.mode") ? lg_at_str(e, "search.mode") : "", mode) != 0)
            continue;
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "resource");
        size_t n = strlen(out);
        snprintf(out + n, 8192 - n, "%s%s/%s", n ? " " : "", lg_str(r, "resourceType"),
                 lg_str(r, "id"));
    }
    return out;
}

static cJSON *search(const char *path)
{
    lg_resp r = lg_http(&S, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    cJSON *j = r.json;
    r.json = NULL;
    lg_resp_free(&r);
    return j;
}

static char *task_for(const char *owner, const char *patient)
{
    char *body = lg_res_task("requested", owner, NULL, patient);
    char *id = lg_create(&S, "Task", body);
    free(body);
    return id;
}

Test(search_cache, new_match_appears_and_envelope_is_fresh)
{
    char *t1 = task_for("Organization/cbo-1", NULL);
    const char *q = "/Task?owner=Organization/cbo-1&status=requested";
    cJSON *a = search(q), *b = search(q);
    char *ia = entry_ids(a, "match"), *ib = entry_ids(b, "match");
    cr_assert_str_eq(ia, ib);
    cr_assert_str_neq(lg_str(a, "id"), lg_str(b, "id"), "each searchset has its own id");
    char *t2 = task_for("Organization/cbo-1", NULL);
    cJSON *c = search(q);
    cr_assert_eq(lg_entries(c), 2, "the new Task must be found");
    char *ic = entry_ids(c, "match");
    cr_assert(strstr(ic, t1) && strstr(ic, t2), "%s", ic);
    cJSON_Delete(a); cJSON_Delete(b); cJSON_Delete(c);
    free(ia); free(ib); free(ic); free(t1); free(t2);
}

Test(search_cache, status_change_and_delete_leave_the_result)
{
    char *t = task_for("Organization/cbo-2", NULL);
    const char *q = "/Task?owner=Organization/cbo-2&status=requested";
    cJSON *a = search(q), *b = search(q);
    cr_assert_eq(lg_entries(a), 1);
    cr_assert_eq(lg_entries(b), 1);
    char path[128];
    snprintf(path, sizeof(path), "/Task/%s", t);
    const char *patch_hdr[] = {"Content-Type: application/json-patch+json", NULL};
    lg_resp p = lg_http(&S, "PATCH", path, patch_hdr,
                        "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"accepted\"}]");
    cr_assert_eq(p.status, 200, "%s", p.body);
    lg_resp_free(&p);
    cJSON *c = search(q);
    cr_assert_eq(lg_entries(c), 0, "an accepted Task is no longer requested");
    cJSON *d = search("/Task?owner=Organization/cbo-2");
    cr_assert_eq(lg_entries(d), 1);
    lg_resp del = lg_http(&S, "DELETE", path, NULL, NULL);
    cr_assert(del.status == 200 || del.status == 204, "%ld", del.status);
    lg_resp_free(&del);
    cJSON *e = search("/Task?owner=Organization/cbo-2");
    cr_assert_eq(lg_entries(e), 0, "a deleted Task is not found");
    cJSON_Delete(a); cJSON_Delete(b); cJSON_Delete(c); cJSON_Delete(d); cJSON_Delete(e);
    free(t);
}

Test(search_cache, included_resource_shows_its_new_version)
{
    char *body = lg_res_patient("urn:mrn", "C-1", "Rivera", NULL, "female", "2015-01-01");
    char *pid = lg_create(&S, "Patient", body);
    free(body);
    char pref[96];
    snprintf(pref, sizeof(pref), "Patient/%s", pid);
    char *t = task_for("Organization/cbo-3", pref);
    const char *q = "/Task?owner=Organization/cbo-3&_include=Task:patient";
    cJSON *a = search(q), *b = search(q);
    char *ia = entry_ids(b, "include");
    cr_assert_str_eq(ia, pref);
    body = lg_fmt("{\"resourceType\":\"Patient\",\"id\":\"%s\","
                  "\"name\":[{\"family\":\"Rivera-Lopez\"}]}", pid);
    lg_put(&S, "Patient", pid, body);
    free(body);
    cJSON *c = search(q);
    const cJSON *e;
    int seen = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "entry")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "resource");
        if(strcmp(lg_str(r, "resourceType"), "Patient") == 0) {
            cr_assert_str_eq(lg_at_str(r, "meta.versionId"), "2");
            cr_assert_str_eq(lg_at_str(r, "name.0.family"), "Rivera-Lopez");
            seen = 1;
        }
    }
    cr_assert(seen, "the included Patient is in the result");
    cJSON_Delete(a); cJSON_Delete(b); cJSON_Delete(c);
    free(ia); free(pid); free(t);
}

Test(search_cache, revinclude_source_written_and_unrelated_write)
{
    char *body = lg_res_patient("urn:mrn", "C-2", "Nguyen", NULL, "male", "2013-05-05");
    char *pid = lg_create(&S, "Patient", body);
    free(body);
    char pref[96], q[160];
    snprintf(pref, sizeof(pref), "Patient/%s", pid);
    snprintf(q, sizeof(q), "/Patient?_id=%s&_revinclude=Task:patient", pid);
    cJSON *a = search(q), *b = search(q);
    cr_assert_eq(lg_entries(b), 1, "the Patient alone");
    free(lg_create(&S, "Organization", "{\"resourceType\":\"Organization\",\"name\":\"CBO\"}"));
    cJSON *c = search(q);
    cr_assert_eq(lg_entries(c), 1, "an unrelated write changes nothing");
    char *t = task_for("Organization/cbo-4", pref);
    cJSON *d = search(q);
    cr_assert_eq(lg_entries(d), 2, "the new Task pointing at the Patient is revincluded");
    char *id = entry_ids(d, "include");
    cr_assert(strstr(id, t), "%s", id);
    cJSON_Delete(a); cJSON_Delete(b); cJSON_Delete(c); cJSON_Delete(d);
    free(id); free(pid); free(t);
}

Test(search_cache, cache_off_gives_the_same_answers)
{
    static const char *const off[] = {"--search-cache-mb", "0", NULL};
    lg_server T;
    lg_it_start(&T, off);
    char *body = lg_res_task("requested", "Organization/cbo-5", NULL, NULL);
    lg_resp r = lg_http_json(&T, "POST", "/Task", body);
    cr_assert_eq(r.status, 201);
    lg_resp_free(&r);
    for(int i = 0; i < 2; i++) {
        lg_resp s = lg_http(&T, "GET", "/Task?owner=Organization/cbo-5", NULL, NULL);
        cr_assert_eq(s.status, 200);
        cr_assert_eq(lg_entries(s.json), i + 1);
        lg_resp_free(&s);
        r = lg_http_json(&T, "POST", "/Task", body);
        cr_assert_eq(r.status, 201);
        lg_resp_free(&r);
    }
    free(body);
    lg_it_cleanup(&T);
}

Test(search_cache, second_process_on_the_same_directory_is_refused)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "'%s' serve --listen 127.0.0.1:0 --data '%s' 2>&1", LG_BINARY,
             S.dir);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = 0;
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0, "must exit with an error: %s", out);
    cr_assert(strstr(out, "Another process is using the store directory"), "%s", out);
    /* the first server is unharmed */
    lg_resp r = lg_http(&S, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200);
    lg_resp_free(&r);
}
