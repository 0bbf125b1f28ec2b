/* Integration: search semantics, paging under concurrent inserts, _include,
 * _revinclude, _summary=count and POST _search. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    create("Patient", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Garcia\"}],"
                      "\"gender\":\"male\",\"birthDate\":\"2010-01-01\"}");
    create("Patient", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Smith\"}]}");
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
    create("Task", "{\"resourceType\":\"Task\",\"status\":\"accepted\",\"intent\":\"order\","
                   "\"owner\":{\"reference\":\"Organization/cbo-3\"}}");
    create("Task", "{\"resourceType\":\"Task\",\"status\":\"requested\",\"intent\":\"order\"}");
    snprintf(body, sizeof(body),
        "{\"resourceType\":\"CarePlan\",\"status\":\"active\",\"intent\":\"plan\","
        "\"category\":[{\"coding\":[{\"system\":\"urn:cat\",\"code\":\"sdoh\"}]}],"
        "\"subject\":{\"reference\":\"Patient/%s\"},\"activity\":[{\"reference\":"
        "{\"reference\":\"Task/%s\"}}]}", p, t);
    create("CarePlan", body);
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
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entry"))
        if(strcmp(lg_str(cJSON_GetObjectItem(e, "search"), "mode"), "match") == 0)
            n++;
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
    cr_assert_eq(cJSON_GetObjectItem(r.json, "total")->valueint, 2);
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
    for(int i = 0; i < 23; i++)
        free(create("Observation", "{\"resourceType\":\"Observation\",\"status\":\"final\","
                                   "\"code\":{\"text\":\"pg\"},\"subject\":{\"reference\":"
                                   "\"Patient/paging\"}}"));
    const char *sorts[] = {"", "&_sort=_lastUpdated", "&_sort=-_lastUpdated"};
    for(int s = 0; s < 3; s++) {
        char url[1024], seen[64][64], prev[64] = "";
        int n = 0, pages = 0;
        lg_resp c = lg_http(&S, "GET", "/Observation?subject=Patient/paging&_summary=count",
                            NULL, NULL);
        int total = cJSON_GetObjectItem(c.json, "total")->valueint;
        lg_resp_free(&c);
        snprintf(url, sizeof(url), "/Observation?subject=Patient/paging&_count=5%s", sorts[s]);
        while(url[0]) {
            lg_resp r = lg_http(&S, "GET", url, NULL, NULL);
            cr_assert_eq(r.status, 200, "%s", r.body);
            cr_assert_not_null(lg_link(r.json, "self"));
            cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entry")) {
                cJSON *res = cJSON_GetObjectItem(e, "resource");
                const char *id = lg_str(res, "id");
                for(int k = 0; k < n; k++)
                    cr_assert_str_neq(seen[k], id, "duplicate across pages");
                cr_assert_lt(n, 64);
                snprintf(seen[n++], 64, "%s", id);
                const char *lu = lg_str(cJSON_GetObjectItem(res, "meta"), "lastUpdated");
                if(s == 1 && prev[0])
                    cr_assert_geq(strcmp(lu, prev), 0, "ascending order broken");
                if(s == 2 && prev[0])
                    cr_assert_leq(strcmp(lu, prev), 0, "descending order broken");
                snprintf(prev, sizeof(prev), "%s", lu);
            }
            /* Someone else creates a matching resource between pages. */
            free(create("Observation", "{\"resourceType\":\"Observation\",\"status\":\"final\","
                                       "\"code\":{\"text\":\"pg\"},\"subject\":{\"reference\":"
                                       "\"Patient/paging\"}}"));
            const char *next = lg_link(r.json, "next");
            snprintf(url, sizeof(url), "%s", next ? next : "");
            pages++;
            lg_resp_free(&r);
            cr_assert_lt(pages, 20);
        }
        /* Every resource that existed at the first page, exactly once. */
        cr_assert_eq(n, total, "sort %d: saw %d of %d resources in %d pages", s, n, total, pages);
        cr_assert_eq(pages, (total + 4) / 5);
    }
}
