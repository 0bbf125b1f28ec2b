/* Integration: search semantics, paging under concurrent inserts, _include,
 * _revinclude, _summary=count and POST _search. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lg_it.h"

static lg_server S;
static char pat[64], sr[64], task[64];

static char *create(const char *type, const char *body)
{
    char path[64];
    snprintf(path, sizeof(path), "/%s", type);
    lg_resp r = lg_http_json(&S, "POST", path, body);
    cr_assert_eq(r.status, 201, "%s: %s", type, r.body);
    char *id = strdup(lg_str(r.json, "id"));
    lg_resp_free(&r);
    return id;
}

static void up(void)
{
    lg_it_start(&S, NULL);
    char *p = create("Patient",
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:mrn\",\"value\":\"S-1\"}],"
        "\"name\":[{\"family\":\"García López\",\"given\":[\"María\",\"José\"]}],"
        "\"gender\":\"female\",\"birthDate\":\"2014-06-01\"}");
    free(create("Patient", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Garcia\"}],"
                           "\"gender\":\"male\",\"birthDate\":\"2010-01-01\"}"));
    free(create("Patient", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Smith\"}]}"));
    snprintf(pat, sizeof(pat), "%s", p);
    char body[2048];
    snprintf(body, sizeof(body),
        "{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\","
        "\"identifier\":[{\"system\":\"urn:ref\",\"value\":\"R-9\"}],"
        "\"category\":[{\"coding\":[{\"system\":\"http://hl7.org/fhir/us/core/CodeSystem/"
        "us-core-category\",\"code\":\"sdoh\"}]}],\"code\":{\"coding\":[{\"system\":"
        "\"http://snomed.info/sct\",\"code\":\"467771000124109\"}]},"
        "\"subject\":{\"reference\":\"Patient/%s\"},\"requester\":{\"reference\":"
        "\"Practitioner/dr-1\"},\"performer\":[{\"reference\":\"Organization/cbo-17\"}],"
        "\"authoredOn\":\"2026-11-20T09:00:00Z\"}", p);
    char *s = create("ServiceRequest", body);
    snprintf(sr, sizeof(sr), "%s", s);
    snprintf(body, sizeof(body),
        "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\","
        "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
        "\"code\":\"fulfill\"}]},\"businessStatus\":{\"text\":\"waiting\"},"
        "\"focus\":{\"reference\":\"ServiceRequest/%s\"},\"for\":{\"reference\":\"Patient/%s\"},"
        "\"owner\":{\"reference\":\"Organization/cbo-17\"},\"requester\":{\"reference\":"
        "\"Practitioner/dr-1\"},\"authoredOn\":\"2026-11-20T09:00:00Z\","
        "\"lastModified\":\"2026-11-21T09:00:00Z\",\"identifier\":[{\"value\":\"T-1\"}]}", s, p);
    char *t = create("Task", body);
    snprintf(task, sizeof(task), "%s", t);
    free(create("Task", "{\"resourceType\":\"Task\",\"status\":\"accepted\",\"intent\":\"order\","
                        "\"owner\":{\"reference\":\"Organization/cbo-3\"}}"));
    free(create("Task", "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\"}"));
    snprintf(body, sizeof(body),
        "{\"resourceType\":\"CarePlan\",\"status\":\"active\",\"intent\":\"plan\","
        "\"category\":[{\"coding\":[{\"system\":\"urn:cat\",\"code\":\"sdoh\"}]}],"
        "\"subject\":{\"reference\":\"Patient/%s\"},\"activity\":[{\"reference\":"
        "{\"reference\":\"Task/%s\"}}]}", p, t);
    free(create("CarePlan", body));
    free(p); free(s); free(t);
}
static void down(void) { lg_it_cleanup(&S); }
TestSuite(search, .init = up, .fini = down, .timeout = 180);

/* Number of matches (search.mode=match) of GET path. */
static int hits(const char *path)
{
    lg_resp r = lg_http(&S, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    cr_assert_str_eq(lg_str(r.json, "type"), "searchset");
    int n = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entry")) {
        const char *mode = lg_at_str(e, "search.mode");
        cr_assert_not_null(mode, "%s: entry without search.mode", path);
        n += strcmp(mode, "match") == 0;
    }
    lg_resp_free(&r);
    return n;
}

#define HITS(n, ...) do { char _p[512]; snprintf(_p, sizeof(_p), __VA_ARGS__); \
    cr_assert_eq(hits(_p), n, "%s", _p); } while(0)

Test(search, patient_parameters)
{
    HITS(1, "/Patient?identifier=urn:mrn|S-1");
    HITS(1, "/Patient?identifier=S-1");
    HITS(0, "/Patient?identifier=urn:other|S-1");
    HITS(1, "/Patient?identifier=urn:mrn|");
    HITS(0, "/Patient?identifier=|S-1");        /* |code: only identifiers without system */
    HITS(1, "/Patient?identifier:not=urn:mrn|S-1&family=garcia");
    HITS(2, "/Patient?name=GARCIA");            /* case-insensitive */
    HITS(0, "/Patient?family:exact=garcia");    /* exact is case-sensitive */
    HITS(0, "/Patient?family=arcia");           /* default is a prefix match, not contains */
    HITS(2, "/Patient?gender:missing=false");
    HITS(2, "/Patient?family=garcia");          /* prefix, accents folded */
    HITS(1, "/Patient?family:exact=Garcia");
    HITS(1, "/Patient?name:contains=lopez");
    HITS(1, "/Patient?given=mar");
    HITS(1, "/Patient?gender=female");
    HITS(2, "/Patient?gender:not=female");
    HITS(1, "/Patient?gender:missing=true");
    HITS(2, "/Patient?gender=female,male");
    HITS(1, "/Patient?birthdate=2014");
    HITS(1, "/Patient?birthdate=gt2012-01-01");
    HITS(2, "/Patient?birthdate=le2014-06-01");
    HITS(1, "/Patient?birthdate=lt2014-06-01");
    HITS(1, "/Patient?birthdate=ne2014-06-01"); /* no birthDate never matches ne */
    HITS(1, "/Patient?birthdate=sa2012-01-01");
    HITS(1, "/Patient?birthdate=eb2012-01-01");
    HITS(1, "/Patient?birthdate=2014-06");
    HITS(0, "/Patient?birthdate=2014-07");
    HITS(1, "/Patient?_id=%s", pat);
    HITS(3, "/Patient?_lastUpdated=gt2020-01-01");
    HITS(0, "/Patient?_lastUpdated=lt2020-01-01");
}

Test(search, service_request_and_task_parameters)
{
    HITS(1, "/ServiceRequest?patient=Patient/%s", pat);
    HITS(1, "/ServiceRequest?patient=%s", pat);
    HITS(1, "/ServiceRequest?subject=Patient/%s", pat);
    HITS(1, "/ServiceRequest?status=active");
    HITS(1, "/ServiceRequest?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh");
    HITS(1, "/ServiceRequest?code=467771000124109");
    HITS(1, "/ServiceRequest?requester=Practitioner/dr-1");
    HITS(1, "/ServiceRequest?performer=Organization/cbo-17");
    HITS(1, "/ServiceRequest?authored=2026-11-20");
    HITS(1, "/ServiceRequest?identifier=urn:ref|R-9");
    HITS(1, "/Task?owner=Organization/cbo-17&status=requested&_lastUpdated=gt2026-01-01T00:00:00Z");
    HITS(1, "/Task?owner:missing=true");
    HITS(2, "/Task?status=requested");
    HITS(1, "/Task?status:not=requested");
    HITS(1, "/Task?focus=ServiceRequest/%s", sr);
    HITS(1, "/Task?patient=Patient/%s", pat);
    HITS(1, "/Task?subject=Patient/%s", pat);
    HITS(1, "/Task?requester=Practitioner/dr-1");
    HITS(1, "/Task?business-status:text=wait");
    HITS(1, "/Task?code=http://hl7.org/fhir/CodeSystem/task-code|fulfill");
    HITS(1, "/Task?authored-on=ge2026-11-20");
    HITS(1, "/Task?modified=2026-11-21");
    HITS(1, "/Task?identifier=T-1");
    HITS(1, "/Task?identifier=|T-1");
    HITS(1, "/Task?owner=Organization/cbo-17&status=requested,accepted");
    HITS(2, "/Task?owner=Organization/cbo-17,Organization/cbo-3");
    HITS(0, "/Task?owner=Organization/cbo-1");  /* references match whole ids only */
    HITS(1, "/CarePlan?patient=Patient/%s", pat);
    HITS(1, "/CarePlan?subject=%s", pat);
    HITS(1, "/CarePlan?status=active");
    HITS(1, "/CarePlan?category=urn:cat|sdoh");
    HITS(1, "/CarePlan?activity-reference=Task/%s", task);
}

Test(search, include_revinclude_summary_and_post)
{
    lg_resp r = lg_http(&S, "GET", "/Task?owner=Organization/cbo-17&_include=Task:focus"
                                   "&_include=Task:patient", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    int inc = 0, match = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entry")) {
        const char *mode = lg_str(cJSON_GetObjectItem(e, "search"), "mode");
        const char *rt = lg_str(cJSON_GetObjectItem(e, "resource"), "resourceType");
        cr_assert(mode && rt, "entry without search.mode or resource");
        if(!strcmp(mode, "include")) {
            inc++;
            cr_assert(!strcmp(rt, "ServiceRequest") || !strcmp(rt, "Patient"), "%s", rt);
        } else {
            match++;
        }
    }
    cr_assert_eq(match, 1);
    cr_assert_eq(inc, 2);
    lg_resp_free(&r);

    char path[256];
    snprintf(path, sizeof(path), "/ServiceRequest?_id=%s&_revinclude=Task:focus", sr);
    r = lg_http(&S, "GET", path, NULL, NULL);
    cr_assert_eq(lg_entries(r.json), 2, "%s", r.body);
    lg_resp_free(&r);

    r = lg_http(&S, "GET", "/Task?status=requested&_summary=count", NULL, NULL);
    cr_assert_eq(lg_total(r.json), 2, "%s", r.body);
    cr_assert_eq(lg_entries(r.json), 0);
    lg_resp_free(&r);

    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    r = lg_http(&S, "POST", "/Task/_search", h, "owner=Organization%2Fcbo-17&status=requested");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(lg_entries(r.json), 1);
    lg_resp_free(&r);
}

Test(search, paging_is_stable_while_resources_arrive)
{
    static const char *OBS = "{\"resourceType\":\"Observation\",\"status\":\"final\","
                             "\"code\":{\"text\":\"pg\"},\"subject\":{\"reference\":"
                             "\"Patient/paging\"}}";
    enum { CAP = 128 };
    static char before[CAP][72], during[CAP][72], seen[CAP][72];
    int nbefore = 0, nduring = 0;
    for(int i = 0; i < 23; i++) {
        char *id = lg_create(&S, "Observation", OBS);
        snprintf(before[nbefore++], 72, "%s", id);
        free(id);
    }
    const char *sorts[] = {"", "&_sort=_lastUpdated", "&_sort=-_lastUpdated"};
    for(int s = 0; s < 3; s++) {
        char url[2048], prev[64] = "";
        int n = 0, pages = 0;
        lg_resp c = lg_http(&S, "GET", "/Observation?subject=Patient/paging&_summary=count",
                            NULL, NULL);
        cr_assert_eq(lg_total(c.json), nbefore + nduring, "%s", c.body);
        lg_resp_free(&c);
        int have = nbefore; /* resources existing when paging starts */
        snprintf(url, sizeof(url), "/Observation?subject=Patient/paging&_count=5%s", sorts[s]);
        while(url[0]) {
            lg_resp r = lg_http(&S, "GET", url, NULL, NULL);
            cr_assert_eq(r.status, 200, "%s: %s", url, r.body);
            cr_assert_str_eq(lg_str(r.json, "type"), "searchset");
            cr_assert_not_null(lg_link(r.json, "self"), "page %d has no self link", pages);
            cr_assert_leq(lg_entries(r.json), 5, "_count=5 exceeded");
            const cJSON *e;
            cJSON_ArrayForEach(e, lg_at(r.json, "entry")) {
                const cJSON *res = lg_at(e, "resource");
                const char *id = lg_str(res, "id");
                cr_assert_not_null(id);
                cr_assert_not_null(lg_str(e, "fullUrl"), "entry without fullUrl");
                for(int k = 0; k < n; k++)
                    cr_assert_str_neq(seen[k], id, "sort %d: %s twice across pages", s, id);
                cr_assert_lt(n, CAP);
                snprintf(seen[n++], 72, "%s", id);
                const char *lu = lg_at_str(res, "meta.lastUpdated");
                if(s == 1 && prev[0])
                    cr_assert_geq(strcmp(lu, prev), 0, "ascending order broken");
                if(s == 2 && prev[0])
                    cr_assert_leq(strcmp(lu, prev), 0, "descending order broken");
                snprintf(prev, sizeof(prev), "%s", lu);
            }
            /* Someone else creates a matching resource between pages. */
            char *nid = lg_create(&S, "Observation", OBS);
            cr_assert_lt(nbefore + nduring, CAP);
            snprintf(during[nduring++], 72, "%s", nid);
            free(nid);
            const char *next = lg_link(r.json, "next");
            cr_assert(!next || strncmp(next, S.base, strlen(S.base)) == 0,
                      "next link %s is not under the base URL", next);
            snprintf(url, sizeof(url), "%s", next ? next : "");
            pages++;
            lg_resp_free(&r);
            cr_assert_lt(pages, 40, "paging does not end");
        }
        /* No gaps: every resource that existed before paging began was seen
         * exactly once; anything else seen was created during paging. */
        for(int k = 0; k < have; k++) {
            int found = 0;
            for(int j = 0; j < n; j++)
                found += strcmp(seen[j], before[k]) == 0;
            cr_assert_eq(found, 1, "sort %d: %s missing from the pages", s, before[k]);
        }
        for(int j = 0; j < n; j++) {
            int known = 0;
            for(int k = 0; k < nbefore; k++)
                known |= strcmp(seen[j], before[k]) == 0;
            for(int k = 0; k < nduring; k++)
                known |= strcmp(seen[j], during[k]) == 0;
            cr_assert(known, "sort %d: %s matched but was never created here", s, seen[j]);
        }
        /* resources created during this pass exist before the next pass */
        for(int k = 0; k < nduring; k++)
            snprintf(before[nbefore++], 72, "%.71s", during[k]);
        nduring = 0;
    }
}

/* The CBO's polling loop: remember the newest lastUpdated seen, ask for
 * what changed strictly after it. */
Test(search, cbo_polling_with_last_updated)
{
    char *body = lg_res_task("requested", "Organization/cbo-poll", NULL, NULL);
    char *a = lg_create(&S, "Task", body);
    lg_resp r = lg_getf(&S, "/Task/%s", a);
    char lu[64];
    snprintf(lu, sizeof(lu), "%s", lg_at_str(r.json, "meta.lastUpdated"));
    lg_resp_free(&r);
    cr_assert(strlen(lu) >= 20, "lastUpdated %s", lu);
    cr_assert_null(strchr(lu, '+'), "test assumes UTC 'Z' instants: %s", lu);
    HITS(1, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=ge%s", lu);
    HITS(1, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=le%s", lu);
    HITS(1, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=eq%s", lu);
    HITS(1, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=%s", lu);
    HITS(0, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=gt%s", lu);
    HITS(0, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=lt%s", lu);
    usleep(20000);
    char *b = lg_create(&S, "Task", body);
    HITS(1, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=gt%s", lu);
    r = lg_getf(&S, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=gt%s", lu);
    cr_assert_str_eq(lg_at_str(r.json, "entry.0.resource.id"), b);
    lg_resp_free(&r);
    /* an update moves a Task back into the window */
    char *upd = lg_fmt("{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"requested\","
                       "\"intent\":\"order\",\"owner\":{\"reference\":\"Organization/cbo-poll\"},"
                       "\"note\":[{\"text\":\"changed\"}]}", a);
    lg_put(&S, "Task", a, upd);
    HITS(2, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=gt%s", lu);
    HITS(0, "/Task?owner=Organization/cbo-poll&status=requested&_lastUpdated=lt2000-01-01");
    free(upd);
    free(body);
    free(a);
    free(b);
}

/* Sorted ids of the match entries of a response (caller frees). */
static char *match_ids(const cJSON *bundle)
{
    char *out = lg_fmt("%s", "");
    const cJSON *e;
    cJSON_ArrayForEach(e, lg_at(bundle, "entry")) {
        char *n = lg_fmt("%s%s,", out, lg_at_str(e, "resource.id"));
        free(out);
        out = n;
    }
    return out;
}

Test(search, post_search_equals_get)
{
    const char *gets[] = {"/Task?owner=Organization/cbo-17&status=requested",
                          "/Task?status=requested", "/Patient?family=garcia&_sort=_lastUpdated",
                          "/Task?status=requested&_count=1"};
    const char *posts[][2] = {{"/Task/_search", "owner=Organization%2Fcbo-17&status=requested"},
                              {"/Task/_search", "status=requested"},
                              {"/Patient/_search", "family=garcia&_sort=_lastUpdated"},
                              {"/Task/_search?status=requested", "_count=1"}};
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    for(int i = 0; i < 4; i++) {
        lg_resp g = lg_http(&S, "GET", gets[i], NULL, NULL);
        lg_resp p = lg_http(&S, "POST", posts[i][0], h, posts[i][1]);
        cr_assert_eq(g.status, 200, "%s", g.body);
        cr_assert_eq(p.status, 200, "%s: %s", posts[i][1], p.body);
        cr_assert_str_eq(lg_str(p.json, "type"), "searchset");
        char *gi = match_ids(g.json), *pi = match_ids(p.json);
        cr_assert_gt(strlen(gi), 0, "%s matched nothing", gets[i]);
        cr_assert_str_eq(gi, pi, "GET %s vs POST %s", gets[i], posts[i][1]);
        free(gi);
        free(pi);
        lg_resp_free(&g);
        lg_resp_free(&p);
    }
    /* a search body must be form-encoded */
    lg_resp r = lg_http_json(&S, "POST", "/Task/_search", "{\"status\":\"requested\"}");
    cr_assert(r.status == 400 || r.status == 415, "%ld %s", r.status, r.body);
    lg_resp_free(&r);
}

/* The SDOHCC IG's own referral examples. */
static void load_sdohcc(void)
{
    lg_it_start(&S, NULL);
    FILE *ls = popen("cd '" LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/"
                     "package' && ls Task-*.json ServiceRequest-*.json", "r");
    cr_assert_not_null(ls);
    char name[256];
    int n = 0;
    while(fgets(name, sizeof(name), ls)) {
        name[strcspn(name, "\n")] = '\0';
        char rel[400];
        snprintf(rel, sizeof(rel), "packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package/%s", name);
        char *text = lg_shared_file(rel);
        cJSON *j = cJSON_Parse(text);
        lg_put(&S, lg_str(j, "resourceType"), lg_str(j, "id"), text);
        cJSON_Delete(j);
        free(text);
        n++;
    }
    pclose(ls);
    cr_assert_eq(n, 15);
}
TestSuite(sdohcc, .init = load_sdohcc, .fini = down, .timeout = 120);

Test(sdohcc, referral_queries)
{
    HITS(4, "/Task?focus=ServiceRequest/"
            "SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample");
    HITS(10, "/Task?patient=Patient/pat-53234");
    HITS(1, "/Task?patient=SDOHCC-PatientBabyAbbas");
    HITS(1, "/Task?owner=Organization/SDOHCC-OrganizationCoordinationPlatformExample"
            "&status=accepted");
    HITS(7, "/Task?code=http://hl7.org/fhir/CodeSystem/task-code|fulfill");
    HITS(4, "/Task?code=fulfill&status=completed");
    HITS(4, "/Task?authored-on=lt2020-09-12");
    HITS(4, "/Task?authored-on=2020-09-12");
    HITS(4, "/Task?requester=PractitionerRole/SDOHCC-PractitionerRoleDrJanWaterExample");
    HITS(4, "/ServiceRequest?category=food-insecurity");
    HITS(4, "/ServiceRequest?category=http://snomed.info/sct|410606002");
    HITS(2, "/ServiceRequest?code=http://snomed.info/sct|467771000124109");
    HITS(2, "/ServiceRequest?status=completed");
    HITS(3, "/ServiceRequest?patient=pat-53234");
}

Test(sdohcc, include_and_revinclude)
{
    lg_resp r = lg_http(&S, "GET", "/ServiceRequest?_id=SDOHCC-ServiceRequestActiveFoodPantry"
                                   "ApplicationAssistExample&_revinclude=Task:focus", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    int match = 0, inc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, lg_at(r.json, "entry")) {
        const char *mode = lg_at_str(e, "search.mode");
        cr_assert_not_null(mode);
        if(strcmp(mode, "match") == 0) {
            match++;
            cr_assert_str_eq(lg_at_str(e, "resource.resourceType"), "ServiceRequest");
        } else {
            cr_assert_str_eq(mode, "include");
            cr_assert_str_eq(lg_at_str(e, "resource.resourceType"), "Task");
            inc++;
        }
    }
    cr_assert_eq(match, 1);
    cr_assert_eq(inc, 4);
    lg_resp_free(&r);
    /* includes of targets that are not stored are silently absent */
    r = lg_http(&S, "GET", "/Task?_id=SDOHCC-TaskReferralManagementOrderFulfillmentAccepted"
                           "Example&_include=Task:focus&_include=Task:owner", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(lg_entries(r.json), 2, "%s", r.body);
    cr_assert_str_eq(lg_at_str(r.json, "entry.1.search.mode"), "include");
    cr_assert_str_eq(lg_at_str(r.json, "entry.1.resource.resourceType"), "ServiceRequest");
    lg_resp_free(&r);
}

/* Searches see the current version only: an update moves a resource out of
 * the old matches, a delete removes it from every search. */
Test(search, index_follows_updates_and_deletes)
{
    char *body = lg_res_task("requested", "Organization/cbo-idx", NULL, NULL);
    char *id = lg_create(&S, "Task", body);
    free(body);
    HITS(1, "/Task?owner=Organization/cbo-idx&status=requested");
    body = lg_fmt("{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"accepted\",\"intent\":"
                  "\"order\",\"owner\":{\"reference\":\"Organization/cbo-idx\"}}", id);
    lg_put(&S, "Task", id, body);
    free(body);
    HITS(0, "/Task?owner=Organization/cbo-idx&status=requested");
    HITS(1, "/Task?owner=Organization/cbo-idx&status=accepted");
    /* JSON Patch re-indexes too */
    char path[128];
    snprintf(path, sizeof(path), "/Task/%s", id);
    const char *h[] = {"Content-Type: application/json-patch+json", NULL};
    lg_resp r = lg_http(&S, "PATCH", path, h,
                        "[{\"op\":\"replace\",\"path\":\"/owner/reference\","
                        "\"value\":\"Organization/cbo-idx2\"}]");
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
    HITS(0, "/Task?owner=Organization/cbo-idx");
    HITS(1, "/Task?owner=Organization/cbo-idx2");
    r = lg_http(&S, "DELETE", path, NULL, NULL);
    lg_resp_free(&r);
    HITS(0, "/Task?owner=Organization/cbo-idx2");
    HITS(0, "/Task?_id=%s", id);
    r = lg_http(&S, "GET", "/Task?owner=Organization/cbo-idx2&_summary=count", NULL, NULL);
    cr_assert_eq(lg_total(r.json), 0);
    lg_resp_free(&r);
    free(id);
}

Test(search, result_bundle_shape)
{
    lg_resp r = lg_http(&S, "GET", "/Patient?family=garcia&_count=1", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "Bundle");
    cr_assert_str_eq(lg_str(r.json, "type"), "searchset");
    cr_assert_eq(lg_entries(r.json), 1);
    const char *full = lg_at_str(r.json, "entry.0.fullUrl");
    char *want = lg_fmt("%s/Patient/%s", S.base, lg_at_str(r.json, "entry.0.resource.id"));
    cr_assert_str_eq(full, want, "fullUrl is the absolute, version-independent URL");
    free(want);
    const char *self = lg_link(r.json, "self");
    cr_assert_not_null(self);
    cr_assert_not_null(strstr(self, "family=garcia"), "self link %s lost the query", self);
    cr_assert_not_null(lg_link(r.json, "next"), "two matches, _count=1, no next link");
    lg_resp_free(&r);
    /* nothing matches: an empty searchset, not 404 */
    r = lg_http(&S, "GET", "/Patient?family=nobody-has-this-name", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(lg_entries(r.json), 0);
    cr_assert_null(lg_link(r.json, "next"));
    lg_resp_free(&r);
    /* _count=0 R4: only the total */
    r = lg_http(&S, "GET", "/Patient?family=garcia&_count=0", NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(lg_entries(r.json), 0);
    lg_resp_free(&r);
}

/* R4 search.html#reference: [type]/[id], [id] with a :[type] modifier, and an
 * absolute URL on this server's base all name the same target. */
Test(search, reference_forms_and_encoding)
{
    HITS(1, "/Task?owner=Organization/cbo-17");
    HITS(1, "/Task?owner:Organization=cbo-17");
    {
        /* SHOULD-level in R4: an absolute reference on our own base is local */
        char p[512];
        snprintf(p, sizeof(p), "/Task?owner=%s/Organization/cbo-17", S.base);
        int n = hits(p);
        cr_expect_eq(n, 1, "%s matched %d", p, n);
    }
    HITS(0, "/Task?owner:Patient=cbo-17");
    HITS(1, "/Patient?_id=%s,does-not-exist,%s", pat, pat); /* a set, not a list */
    HITS(1, "/Patient?_id=%s,does-not-exist", pat);
    /* percent-encoded UTF-8, a space, and the accent-insensitive match */
    HITS(1, "/Patient?family=Garc%%C3%%ADa%%20L");
    HITS(1, "/Patient?family:exact=Garc%%C3%%ADa%%20L%%C3%%B3pez");
    HITS(0, "/Patient?family:exact=Garcia%%20Lopez");
    HITS(1, "/Patient?given:exact=Mar%%C3%%ADa");
    /* a conditional read by identifier through a percent-encoded '|' */
    HITS(1, "/Patient?identifier=urn%%3Amrn%%7CS-1");
}
