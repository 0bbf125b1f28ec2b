/* Who may see what (issue #4; rules in docs/access.md), through
 * lg_rest_handle with req.actor set: two CBOs, a clinic, coordination staff
 * and a reporting client over a small data set of referrals - adults,
 * children and adolescents with sharing choices. Each rule is checked from
 * both sides (who sees, who does not), and everything a client may not see
 * must look exactly like what does not exist. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/rest.h"
#include "loopgate/store.h"
#include "lg_test.h"
#include "lg_test_rest.h"

TestSuite(access, .init = setup, .fini = teardown);

/* ---- the clients ---- */

static const char *const refs_cbo_a[] = {"Organization/cbo-a"};
static const char *const refs_cbo_b[] = {"Organization/cbo-b"};
static const char *const refs_clinic[] = {"Organization/clinic"};
static const char *const refs_plan[] = {"Organization/plan"};

static const lg_actor cbo_a = {LG_ROLE_REFERRAL_RECIPIENT, refs_cbo_a, 1};
static const lg_actor cbo_b = {LG_ROLE_REFERRAL_RECIPIENT, refs_cbo_b, 1};
static const lg_actor clinic = {LG_ROLE_REFERRAL_SOURCE, refs_clinic, 1};
static const lg_actor coord = {LG_ROLE_COORDINATION, refs_plan, 1};
static const lg_actor reporter = {LG_ROLE_REPORTING, refs_plan, 1};

static const char *client_of(const lg_actor *a)
{
    if(a == &cbo_a) return "cbo-a-client";
    if(a == &cbo_b) return "cbo-b-client";
    if(a == &clinic) return "clinic-client";
    if(a == &coord) return "plan-client";
    if(a == &reporter) return "report-client";
    return NULL;
}

typedef struct reply {
    lg_rest_response r;
    cJSON *json;
} reply;

static lg_search_cache *cache; /* NULL unless a test turns it on */

static reply call_h(const lg_actor *who, const char *method, const char *path, const char *query,
                    const char *body, const char *content_type, const char *if_none_exist)
{
    reply out;
    lg_rest_request req = {
        .method = method, .path = path, .query = query, .base = "http://test",
        .content_type = body ? (content_type ? content_type : "application/fhir+json") : NULL,
        .body = body, .body_len = body ? strlen(body) : 0, .if_none_exist = if_none_exist,
        .actor = who, .client_id = client_of(who), .search_cache = cache,
    };
    cr_assert_eq(lg_rest_handle(&rest, store, &req, &out.r), LG_OK);
    out.json = out.r.body ? cJSON_ParseWithLength(out.r.body, out.r.body_len) : NULL;
    return out;
}

static reply call(const lg_actor *who, const char *method, const char *path, const char *query,
                  const char *body)
{
    return call_h(who, method, path, query, body, NULL, NULL);
}

static void done(reply *r)
{
    cJSON_Delete(r->json);
    lg_rest_response_clear(&r->r);
}

static const char *str_at(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The first error of an OperationOutcome (warnings about a posted body,
 * such as dom-6, come before it). */
static const cJSON *issue0(const cJSON *oo)
{
    const cJSON *is = cJSON_GetObjectItem(oo, "issue");
    for(const cJSON *i = is ? is->child : NULL; i; i = i->next)
        if(strcmp(str_at(i, "severity"), "error") == 0 || strcmp(str_at(i, "severity"), "fatal") == 0)
            return i;
    return NULL;
}

/* The status of a request, the reply freed. */
static int status_of(const lg_actor *who, const char *method, const char *path, const char *query,
                     const char *body)
{
    reply r = call(who, method, path, query, body);
    int s = r.r.status;
    done(&r);
    return s;
}

static void put(const char *path, const char *body)
{
    reply r = call(NULL, "PUT", path, NULL, body);
    cr_assert(r.r.status == 201 || r.r.status == 200, "seed %s: %d %s", path, r.r.status,
              r.r.body);
    done(&r);
}

/* ---- the data set (written by the server itself) ----
 *
 *  patient  age  referral (requester)          Task (owner)  sharing choice
 *  p1       36   sr1 (clinic), Consent c1       t1 (cbo-a)    -
 *  p2        8   sr2 (other-clinic)             t2 (cbo-b)    -
 *  teen     16   sr3 (clinic)                   t3 (cbo-a)    on sr3: cbo not allowed
 *                sr4 (clinic)                   t4 (cbo-a)    -
 *  teen2    15   sr5 (clinic)                   t5 (cbo-b)    on the Patient: Organization/plan
 *                                                             and primary-care not allowed,
 *                                                             cbo allowed (never widens)
 *  young     6   sr6 (clinic)                   t6 (cbo-a)    on sr6: cbo not allowed (under 12:
 *                                                             not applied)
 *  lonely   40   -                              -             -
 *  Condition cond2 of p2 (no referral points at it).
 */
#define SHARING "https://loopgate.dev/fhir/StructureDefinition/adolescent-sharing-choice"
#define ROLE_SYS "https://loopgate.dev/fhir/CodeSystem/sharing-role"

static void put_patient(const char *id, const char *birth, const char *ext)
{
    char path[64], body[2048];
    snprintf(path, sizeof(path), "/Patient/%s", id);
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Patient\",\"id\":\"%s\",%s\"identifier\":[{\"system\":"
             "\"urn:test\",\"value\":\"%s\"}],\"birthDate\":\"%s\"}",
             id, ext ? ext : "", id, birth);
    put(path, body);
}

static void put_sr(const char *id, const char *patient, const char *requester, const char *extra)
{
    char path[64], body[2048];
    snprintf(path, sizeof(path), "/ServiceRequest/%s", id);
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"ServiceRequest\",\"id\":\"%s\",%s\"status\":\"active\","
             "\"intent\":\"order\",\"subject\":{\"reference\":\"Patient/%s\"},"
             "\"requester\":{\"reference\":\"Organization/%s\"}}",
             id, extra ? extra : "", patient, requester);
    put(path, body);
}

static void put_task(const char *id, const char *sr, const char *patient, const char *requester,
                     const char *owner)
{
    char path[64], body[2048];
    snprintf(path, sizeof(path), "/Task/%s", id);
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Task\",\"id\":\"%s\",\"status\":\"requested\","
             "\"intent\":\"order\",\"code\":{\"coding\":[{\"system\":"
             "\"http://hl7.org/fhir/CodeSystem/task-code\",\"code\":\"fulfill\"}]},"
             "\"focus\":{\"reference\":\"ServiceRequest/%s\"},"
             "\"for\":{\"reference\":\"Patient/%s\"},"
             "\"requester\":{\"reference\":\"Organization/%s\"},"
             "\"owner\":{\"reference\":\"Organization/%s\"}}",
             id, sr, patient, requester, owner);
    put(path, body);
}

static void put_org(const char *id)
{
    char path[64], body[256];
    snprintf(path, sizeof(path), "/Organization/%s", id);
    snprintf(body, sizeof(body), "{\"resourceType\":\"Organization\",\"id\":\"%s\",\"name\":\"%s\"}",
             id, id);
    put(path, body);
}

static void seed(void)
{
    put_org("cbo-a");
    put_org("cbo-b");
    put_org("clinic");
    put_org("other-clinic");
    put_org("plan");
    put_patient("p1", "1990-03-04", NULL);
    put_patient("p2", "2018-05-06", NULL);
    put_patient("teen", "2010-01-01", NULL);
    put_patient("teen2", "2011-02-02",
                "\"extension\":[{\"url\":\"" SHARING "\",\"extension\":[{\"url\":\"who\","
                "\"valueReference\":{\"reference\":\"Organization/plan\"}},{\"url\":\"allowed\","
                "\"valueBoolean\":false}]},{\"url\":\"" SHARING "\",\"extension\":[{\"url\":"
                "\"who\",\"valueCodeableConcept\":{\"coding\":[{\"system\":\"" ROLE_SYS "\","
                "\"code\":\"primary-care\"}]}},{\"url\":\"allowed\",\"valueBoolean\":false}]},"
                "{\"url\":\"" SHARING "\",\"extension\":[{\"url\":\"who\","
                "\"valueCodeableConcept\":{\"coding\":[{\"system\":\"" ROLE_SYS "\",\"code\":"
                "\"cbo\"}]}},{\"url\":\"allowed\",\"valueBoolean\":true}]}],");
    put_patient("young", "2020-01-01", NULL);
    put_patient("lonely", "1986-01-01", NULL);
    put("/Consent/c1",
        "{\"resourceType\":\"Consent\",\"id\":\"c1\",\"status\":\"active\",\"scope\":{\"coding\":"
        "[{\"system\":\"http://terminology.hl7.org/CodeSystem/consentscope\",\"code\":"
        "\"patient-privacy\"}]},\"category\":[{\"coding\":[{\"system\":\"http://loinc.org\","
        "\"code\":\"59284-0\"}]}],\"patient\":{\"reference\":\"Patient/p1\"},\"policyRule\":"
        "{\"text\":\"share with the CBO\"}}");
    put("/Condition/cond2",
        "{\"resourceType\":\"Condition\",\"id\":\"cond2\",\"subject\":{\"reference\":"
        "\"Patient/p2\"},\"code\":{\"text\":\"food insecurity\"}}");
    const char *no_cbo =
        "\"extension\":[{\"url\":\"" SHARING "\",\"extension\":[{\"url\":\"who\","
        "\"valueCodeableConcept\":{\"coding\":[{\"system\":\"" ROLE_SYS "\",\"code\":\"cbo\"}]}},"
        "{\"url\":\"allowed\",\"valueBoolean\":false}]}],";
    put_sr("sr1", "p1", "clinic", "\"supportingInfo\":[{\"reference\":\"Consent/c1\"}],");
    put_sr("sr2", "p2", "other-clinic", NULL);
    put_sr("sr3", "teen", "clinic", no_cbo);
    put_sr("sr4", "teen", "clinic", NULL);
    put_sr("sr5", "teen2", "clinic", NULL);
    put_sr("sr6", "young", "clinic", no_cbo);
    put_task("t1", "sr1", "p1", "clinic", "cbo-a");
    put_task("t2", "sr2", "p2", "other-clinic", "cbo-b");
    put_task("t3", "sr3", "teen", "clinic", "cbo-a");
    put_task("t4", "sr4", "teen", "clinic", "cbo-a");
    put_task("t5", "sr5", "teen2", "clinic", "cbo-b");
    put_task("t6", "sr6", "young", "clinic", "cbo-a");
}

/* "Type/id" of every entry (in order, comma-separated) with search.mode
 * mode (NULL: any), into buf. */
static const char *entries(const cJSON *bundle, const char *mode, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    const cJSON *es = cJSON_GetObjectItem(bundle, "entry");
    for(const cJSON *e = es ? es->child : NULL; e; e = e->next) {
        const cJSON *res = cJSON_GetObjectItem(e, "resource");
        const char *m = str_at(cJSON_GetObjectItem(e, "search"), "mode");
        if(mode && (!m || strcmp(m, mode) != 0))
            continue;
        if(!res || strcmp(str_at(res, "resourceType"), "OperationOutcome") == 0)
            continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s/%s", len ? "," : "",
                                str_at(res, "resourceType"), str_at(res, "id"));
        cr_assert_lt(len, n);
    }
    return buf;
}

/* Does a comma-separated list hold item? */
static int has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for(const char *p = list; (p = strstr(p, item)); p += n)
        if((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

static int total_of(const cJSON *bundle)
{
    const cJSON *t = cJSON_GetObjectItem(bundle, "total");
    return cJSON_IsNumber(t) ? t->valueint : -1;
}

/* A refused read must be the reply a missing resource gets: the same
 * status, code and text. */
static void assert_hidden_like_missing(const lg_actor *who, const char *type, const char *id)
{
    char path[128], want[160];
    snprintf(path, sizeof(path), "/%s/%s", type, id);
    reply r = call(who, "GET", path, NULL, NULL);
    reply m = call(who, "GET", "/Patient/never-existed", NULL, NULL);
    cr_assert_eq(r.r.status, 404, "%s: %d %s", path, r.r.status, r.r.body);
    cr_assert_eq(m.r.status, 404);
    snprintf(want, sizeof(want), "%s/%s is not known", type, id);
    cr_assert_str_eq(str_at(issue0(r.json), "diagnostics"), want);
    cr_assert_str_eq(str_at(issue0(m.json), "diagnostics"), "Patient/never-existed is not known");
    cr_assert_str_eq(str_at(issue0(r.json), "code"), str_at(issue0(m.json), "code"));
    cr_assert_str_eq(str_at(issue0(r.json), "severity"), str_at(issue0(m.json), "severity"));
    done(&r);
    done(&m);
}

static void assert_visible(const lg_actor *who, const char *type, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/%s/%s", type, id);
    reply r = call(who, "GET", path, NULL, NULL);
    cr_assert_eq(r.r.status, 200, "%s as %s: %d %s", path, client_of(who), r.r.status, r.r.body);
    cr_assert_str_eq(str_at(r.json, "id"), id);
    done(&r);
}

/* ---- reads ---- */

Test(access, the_server_itself_sees_everything)
{
    seed();
    assert_visible(NULL, "Task", "t3");
    assert_visible(NULL, "Patient", "lonely");
    reply s = call(NULL, "GET", "/Task", "_total=accurate", NULL);
    cr_assert_eq(total_of(s.json), 6);
    done(&s);
}

Test(access, cbo_sees_its_tasks_and_what_they_point_to)
{
    seed();
    assert_visible(&cbo_a, "Task", "t1");
    assert_visible(&cbo_a, "ServiceRequest", "sr1");
    assert_visible(&cbo_a, "Patient", "p1");
    assert_visible(&cbo_a, "Consent", "c1");       /* sr1.supportingInfo */
    assert_visible(&cbo_a, "Organization", "clinic"); /* directory */
    assert_visible(&cbo_a, "Task", "t4");
    assert_visible(&cbo_a, "Patient", "teen");     /* through t4 */
    /* the other CBO's referral, and patient data no Task points to */
    assert_hidden_like_missing(&cbo_a, "Task", "t2");
    assert_hidden_like_missing(&cbo_a, "ServiceRequest", "sr2");
    assert_hidden_like_missing(&cbo_a, "Patient", "p2");
    assert_hidden_like_missing(&cbo_a, "Condition", "cond2");
    assert_hidden_like_missing(&cbo_a, "Patient", "lonely");
    /* and the other way round */
    assert_visible(&cbo_b, "Task", "t2");
    assert_visible(&cbo_b, "Patient", "p2");
    assert_hidden_like_missing(&cbo_b, "Task", "t1");
    assert_hidden_like_missing(&cbo_b, "ServiceRequest", "sr1");
    assert_hidden_like_missing(&cbo_b, "Patient", "p1");
    assert_hidden_like_missing(&cbo_b, "Consent", "c1");
    assert_hidden_like_missing(&cbo_b, "Condition", "cond2"); /* not referenced by sr2 */
}

Test(access, adolescent_choice_hides_the_referral)
{
    seed();
    /* sr3 (teen, 16) refuses CBOs: its Task too, even though cbo-a owns it */
    assert_hidden_like_missing(&cbo_a, "ServiceRequest", "sr3");
    assert_hidden_like_missing(&cbo_a, "Task", "t3");
    /* the same choice on a 6-year-old's referral is not applied */
    assert_visible(&cbo_a, "ServiceRequest", "sr6");
    assert_visible(&cbo_a, "Task", "t6");
    assert_visible(&cbo_a, "Patient", "young");
    /* the choice names CBOs only: the clinic and coordination still see sr3 */
    assert_visible(&clinic, "ServiceRequest", "sr3");
    assert_visible(&coord, "Task", "t3");
    /* teen2's choice on the Patient names the plan (by reference) and
     * primary care (by role): all her referrals are hidden from them */
    assert_hidden_like_missing(&coord, "ServiceRequest", "sr5");
    assert_hidden_like_missing(&coord, "Task", "t5");
    assert_hidden_like_missing(&clinic, "ServiceRequest", "sr5");
    assert_hidden_like_missing(&clinic, "Task", "t5");
    assert_visible(&coord, "Patient", "teen2"); /* the choice is about referrals */
    /* allowed=true for CBOs does not widen: cbo-a owns nothing of teen2 */
    assert_visible(&cbo_b, "Task", "t5");
    assert_hidden_like_missing(&cbo_a, "Task", "t5");
    assert_hidden_like_missing(&cbo_a, "Patient", "teen2");
}

Test(access, clinic_sees_what_it_requested_and_created)
{
    seed();
    assert_visible(&clinic, "ServiceRequest", "sr1");
    assert_visible(&clinic, "Task", "t1");
    assert_visible(&clinic, "Patient", "p1");
    assert_visible(&clinic, "Consent", "c1");
    assert_hidden_like_missing(&clinic, "ServiceRequest", "sr2"); /* other-clinic's */
    assert_hidden_like_missing(&clinic, "Task", "t2");
    assert_hidden_like_missing(&clinic, "Patient", "p2");
    assert_hidden_like_missing(&clinic, "Patient", "lonely");
    /* A Patient it posts is its own before any referral exists ... */
    reply c = call(&clinic, "POST", "/Patient", NULL,
                   "{\"resourceType\":\"Patient\",\"birthDate\":\"2015-01-01\"}");
    cr_assert_eq(c.r.status, 201, "%d %s", c.r.status, c.r.body);
    char id[64];
    snprintf(id, sizeof(id), "%s", str_at(c.json, "id"));
    done(&c);
    assert_visible(&clinic, "Patient", id);
    /* ... and nobody else's */
    assert_hidden_like_missing(&cbo_a, "Patient", id);
    assert_visible(&coord, "Patient", id);
    /* the store keeps who created it and who wrote each version */
    lg_resource r = {0};
    cr_assert_eq(lg_store_read(store, "Patient", id, &r), LG_OK);
    cr_assert_str_eq(r.creator, "clinic-client");
    cr_assert_str_eq(r.author, "clinic-client");
    lg_resource_clear(&r);
    char path[96], body[256];
    snprintf(path, sizeof(path), "/Patient/%s", id);
    snprintf(body, sizeof(body),
             "{\"resourceType\":\"Patient\",\"id\":\"%s\",\"birthDate\":\"2015-01-02\"}", id);
    reply u = call(&coord, "PUT", path, NULL, body);
    cr_assert_eq(u.r.status, 200, "%d %s", u.r.status, u.r.body);
    done(&u);
    cr_assert_eq(lg_store_read(store, "Patient", id, &r), LG_OK);
    cr_assert_str_eq(r.creator, "clinic-client");
    cr_assert_str_eq(r.author, "plan-client");
    lg_resource_clear(&r);
    cr_assert_eq(lg_store_read(store, "Patient", "p1", &r), LG_OK);
    cr_assert_null(r.creator); /* the server itself */
    lg_resource_clear(&r);
}

Test(access, coordination_sees_everything_else)
{
    seed();
    assert_visible(&coord, "Patient", "lonely");
    assert_visible(&coord, "Condition", "cond2");
    assert_visible(&coord, "Task", "t2");
    reply s = call(&coord, "GET", "/Task", "_total=accurate", NULL);
    char buf[512];
    cr_assert_eq(total_of(s.json), 5); /* all six but t5 */
    cr_assert_not(has(entries(s.json, "match", buf, sizeof(buf)), "Task/t5"));
    done(&s);
}

Test(access, reporting_sees_aggregates_only)
{
    seed();
    const char *paths[][3] = {
        {"GET", "/Patient/p1", NULL}, {"GET", "/Patient", NULL}, {"GET", "/Task/t1/_history", NULL},
        {"GET", "/Task/_history", NULL}, {"GET", "/_history", NULL},
        {"GET", "/Organization/plan", NULL}, {"GET", "/Task/t1/_history/1", NULL},
        {"POST", "/Patient", "{\"resourceType\":\"Patient\"}"}, {"DELETE", "/Task/t1", NULL},
    };
    for(size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
        reply r = call(&reporter, paths[i][0], paths[i][1], NULL, paths[i][2]);
        cr_assert_eq(r.r.status, 403, "%s %s: %d", paths[i][0], paths[i][1], r.r.status);
        cr_assert_str_eq(str_at(issue0(r.json), "code"), "forbidden");
        cr_assert(strstr(str_at(issue0(r.json), "diagnostics"), "aggregates only"));
        done(&r);
    }
    cr_assert_eq(status_of(&reporter, "GET", "/metadata", NULL, NULL), 200);
    assert_visible(NULL, "Task", "t1"); /* nothing was deleted */
}

/* ---- search ---- */

Test(access, search_totals_count_only_visible_matches)
{
    seed();
    char buf[1024];
    reply a = call(&cbo_a, "GET", "/Task", "_total=accurate", NULL);
    cr_assert_eq(a.r.status, 200);
    cr_assert_eq(total_of(a.json), 3); /* t1, t4, t6; t3 withheld by the choice */
    entries(a.json, "match", buf, sizeof(buf));
    cr_assert(has(buf, "Task/t1") && has(buf, "Task/t4") && has(buf, "Task/t6"), "%s", buf);
    cr_assert_not(has(buf, "Task/t3") || has(buf, "Task/t2") || has(buf, "Task/t5"), "%s", buf);
    done(&a);
    reply b = call(&cbo_b, "GET", "/Task", "_summary=count", NULL);
    cr_assert_eq(total_of(b.json), 2);
    done(&b);
    reply p = call(&cbo_b, "GET", "/Patient", "_total=accurate", NULL);
    cr_assert_eq(total_of(p.json), 2, "%s", p.r.body); /* p2, teen2 */
    done(&p);
    reply c = call(&cbo_b, "GET", "/Consent", "_total=accurate", NULL);
    cr_assert_eq(total_of(c.json), 0);
    cr_assert_str_eq(entries(c.json, NULL, buf, sizeof(buf)), "");
    done(&c);
    reply s = call(&clinic, "GET", "/ServiceRequest", "_total=accurate", NULL);
    cr_assert_eq(total_of(s.json), 4); /* sr1, sr3, sr4, sr6: not sr2 (other), sr5 (choice) */
    done(&s);
    /* a search that names a hidden resource finds nothing */
    reply i = call(&cbo_a, "GET", "/Task", "_id=t2", NULL);
    cr_assert_str_eq(entries(i.json, NULL, buf, sizeof(buf)), "");
    done(&i);
}

Test(access, includes_leave_out_what_the_client_may_not_see)
{
    seed();
    char buf[1024];
    reply a = call(&cbo_a, "GET", "/Task", "_include=Task:focus&_include=Task:patient", NULL);
    entries(a.json, "include", buf, sizeof(buf));
    cr_assert(has(buf, "ServiceRequest/sr1") && has(buf, "Patient/p1") &&
              has(buf, "ServiceRequest/sr4") && has(buf, "Patient/teen"), "%s", buf);
    cr_assert_not(has(buf, "ServiceRequest/sr3"), "%s", buf);
    done(&a);
    /* teen is visible (t4), but her t3 is withheld: _revinclude must not add it */
    reply r = call(&cbo_a, "GET", "/Patient", "_id=teen&_revinclude=Task:patient", NULL);
    entries(r.json, NULL, buf, sizeof(buf));
    cr_assert(has(buf, "Patient/teen") && has(buf, "Task/t4"), "%s", buf);
    cr_assert_not(has(buf, "Task/t3"), "%s", buf);
    done(&r);
    /* cbo-b reads a directory entry and asks for everything pointing at it */
    reply o = call(&cbo_b, "GET", "/Organization", "_id=cbo-a&_revinclude=Task:owner", NULL);
    entries(o.json, NULL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "Organization/cbo-a");
    done(&o);
    /* the server itself still gets everything */
    reply s = call(NULL, "GET", "/Organization", "_id=cbo-a&_revinclude=Task:owner", NULL);
    entries(s.json, "include", buf, sizeof(buf));
    cr_assert(has(buf, "Task/t1") && has(buf, "Task/t3"), "%s", buf);
    done(&s);
}

Test(access, paging_walks_every_visible_match_once)
{
    seed();
    char seen[1024] = "", buf[512], q[512];
    int pages = 0;
    snprintf(q, sizeof(q), "_count=1&_total=accurate");
    for(;;) {
        reply r = call(&cbo_a, "GET", "/Task", q, NULL);
        cr_assert_eq(r.r.status, 200, "%s", r.r.body);
        cr_assert_eq(total_of(r.json), 3);
        entries(r.json, "match", buf, sizeof(buf));
        cr_assert(!*buf || !has(seen, buf), "repeated %s", buf);
        if(*buf)
            snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s", *seen ? "," : "",
                     buf);
        const char *next = NULL;
        const cJSON *links = cJSON_GetObjectItem(r.json, "link");
        for(const cJSON *l = links ? links->child : NULL; l; l = l->next)
            if(strcmp(str_at(l, "relation"), "next") == 0)
                next = str_at(l, "url");
        pages++;
        if(!next) {
            done(&r);
            break;
        }
        snprintf(q, sizeof(q), "%s", strchr(next, '?') + 1);
        done(&r);
        cr_assert_lt(pages, 10);
    }
    cr_assert_str_eq(seen, "Task/t1,Task/t4,Task/t6");
    cr_assert_eq(pages, 3);
}

Test(access, cached_searches_are_per_client)
{
    seed();
    cr_assert_eq(lg_search_cache_new(1 << 20, &cache), LG_OK);
    char a1[512], b1[512], a2[512], s1[512];
    reply r = call(&cbo_a, "GET", "/Task", "status=requested", NULL);
    entries(r.json, "match", a1, sizeof(a1));
    done(&r);
    r = call(&cbo_b, "GET", "/Task", "status=requested", NULL);
    entries(r.json, "match", b1, sizeof(b1));
    done(&r);
    r = call(&cbo_a, "GET", "/Task", "status=requested", NULL);
    entries(r.json, "match", a2, sizeof(a2));
    done(&r);
    r = call(NULL, "GET", "/Task", "status=requested", NULL);
    entries(r.json, "match", s1, sizeof(s1));
    done(&r);
    cr_assert_str_eq(a1, "Task/t1,Task/t4,Task/t6");
    cr_assert_str_eq(b1, "Task/t2,Task/t5");
    cr_assert_str_eq(a2, a1);
    cr_assert_str_eq(s1, "Task/t1,Task/t2,Task/t3,Task/t4,Task/t5,Task/t6");
    /* a choice added later is honoured at once, cache or not */
    put_patient("young", "2010-06-01", NULL); /* now 16: sr6's refusal applies */
    r = call(&cbo_a, "GET", "/Task", "status=requested", NULL);
    entries(r.json, "match", a2, sizeof(a2));
    done(&r);
    cr_assert_str_eq(a2, "Task/t1,Task/t4");
    lg_search_cache_free(cache);
    cache = NULL;
}

/* ---- versions and history ---- */

Test(access, vread_and_history_look_missing)
{
    seed();
    reply v = call(&cbo_b, "GET", "/Task/t1/_history/1", NULL, NULL);
    reply m = call(&cbo_b, "GET", "/Task/none/_history/1", NULL, NULL);
    cr_assert_eq(v.r.status, 404);
    cr_assert_eq(m.r.status, 404);
    cr_assert_str_eq(str_at(issue0(v.json), "diagnostics"), "Task/t1 has no version 1");
    cr_assert_str_eq(str_at(issue0(m.json), "diagnostics"), "Task/none has no version 1");
    done(&v);
    done(&m);
    reply h = call(&cbo_b, "GET", "/Task/t1/_history", NULL, NULL);
    cr_assert_eq(h.r.status, 404);
    cr_assert_str_eq(str_at(issue0(h.json), "diagnostics"), "Task/t1 is not known");
    done(&h);
    cr_assert_eq(status_of(&cbo_a, "GET", "/Task/t1/_history/1", NULL, NULL), 200);
    cr_assert_eq(status_of(&cbo_a, "GET", "/Task/t1/_history", NULL, NULL), 200);

    /* type and system history keep only versions of what the client sees */
    char buf[2048];
    put_task("t1", "sr1", "p1", "clinic", "cbo-a"); /* a second version of t1 */
    reply t = call(&cbo_a, "GET", "/Task/_history", NULL, NULL);
    entries(t.json, NULL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "Task/t1,Task/t6,Task/t4,Task/t1", "%s", buf);
    done(&t);
    reply p = call(&cbo_a, "GET", "/Task/_history", "_count=1", NULL);
    entries(p.json, NULL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "Task/t1");
    cr_assert(strstr(p.r.body, "\"next\""));
    done(&p);
    reply s = call(&cbo_b, "GET", "/_history", "_count=100", NULL);
    entries(s.json, NULL, buf, sizeof(buf));
    cr_assert(has(buf, "Task/t2") && has(buf, "Patient/p2") && has(buf, "Organization/plan"),
              "%s", buf);
    cr_assert_not(has(buf, "Task/t1") || has(buf, "Patient/p1") || has(buf, "Consent/c1") ||
                  has(buf, "Condition/cond2") || has(buf, "Patient/lonely"), "%s", buf);
    done(&s);

    /* a deleted resource: 410 for who could see it, 404 for the others */
    cr_assert_eq(status_of(NULL, "DELETE", "/Task/t2", NULL, NULL), 200);
    cr_assert_eq(status_of(&cbo_b, "GET", "/Task/t2", NULL, NULL), 410);
    assert_hidden_like_missing(&cbo_a, "Task", "t2");
}

/* ---- writes ---- */

Test(access, writes_to_hidden_resources_are_404)
{
    seed();
    const char *task_t1 =
        "{\"resourceType\":\"Task\",\"id\":\"t1\",\"status\":\"requested\",\"intent\":\"order\","
        "\"owner\":{\"reference\":\"Organization/cbo-b\"}}";
    reply u = call(&cbo_b, "PUT", "/Task/t1", NULL, task_t1);
    cr_assert_eq(u.r.status, 404);
    cr_assert_str_eq(str_at(issue0(u.json), "diagnostics"), "Task/t1 is not known");
    done(&u);
    reply p = call_h(&cbo_b, "PATCH", "/Task/t1", NULL,
                     "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"accepted\"}]",
                     "application/json-patch+json", NULL);
    cr_assert_eq(p.r.status, 404);
    done(&p);
    cr_assert_eq(status_of(&cbo_b, "DELETE", "/Task/t1", NULL, NULL), 404);
    /* conditional forms: a hidden match is no match */
    cr_assert_eq(status_of(&cbo_b, "DELETE", "/Task", "_id=t1", NULL), 204);
    reply cp = call_h(&cbo_b, "PATCH", "/Task", "_id=t1",
                      "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"accepted\"}]",
                      "application/json-patch+json", NULL);
    cr_assert_eq(cp.r.status, 404);
    cr_assert_str_eq(str_at(issue0(cp.json), "diagnostics"),
                     "Conditional patch criteria match no Task");
    done(&cp);
    /* conditional update matching hidden p1 creates a new Patient instead */
    reply cu = call(&cbo_b, "PUT", "/Patient", "identifier=urn:test|p1",
                    "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"birthDate\":\"2001-01-01\"}");
    cr_assert_eq(cu.r.status, 201, "%d %s", cu.r.status, cu.r.body);
    cr_assert_str_neq(str_at(cu.json, "id"), "p1");
    done(&cu);
    /* If-None-Exist matching a hidden Patient creates rather than returning it */
    reply ce = call_h(&cbo_b, "POST", "/Patient", NULL,
                      "{\"resourceType\":\"Patient\",\"birthDate\":\"2001-01-01\"}", NULL,
                      "identifier=urn:test|p1");
    cr_assert_eq(ce.r.status, 201, "%d %s", ce.r.status, ce.r.body);
    cr_assert_str_neq(str_at(ce.json, "id"), "p1");
    done(&ce);
    /* the clinic's If-None-Exist finds its own patient */
    reply cc = call_h(&clinic, "POST", "/Patient", NULL,
                      "{\"resourceType\":\"Patient\",\"birthDate\":\"2001-01-01\"}", NULL,
                      "identifier=urn:test|p1");
    cr_assert_eq(cc.r.status, 200, "%d %s", cc.r.status, cc.r.body);
    cr_assert_str_eq(str_at(cc.json, "id"), "p1");
    done(&cc);
    /* PUT under a client-chosen new id: 404 like a hidden one, nothing created */
    cr_assert_eq(status_of(&cbo_b, "PUT", "/Patient/brand-new", NULL,
                           "{\"resourceType\":\"Patient\",\"id\":\"brand-new\"}"), 404);
    cr_assert_eq(status_of(NULL, "GET", "/Patient/brand-new", NULL, NULL), 404);
    /* ... but coordination sees everything, and a directory type is visible
     * to every client, so neither learns anything from a create-on-update */
    cr_assert_eq(status_of(&coord, "PUT", "/Patient/coord-new", NULL,
                           "{\"resourceType\":\"Patient\",\"id\":\"coord-new\"}"), 201);
    cr_assert_eq(status_of(&cbo_b, "PUT", "/Organization/cbo-b-site", NULL,
                           "{\"resourceType\":\"Organization\",\"id\":\"cbo-b-site\",\"name\":\"B\"}"),
                 201);
    /* nothing of t1 or p1 changed */
    reply t = call(NULL, "GET", "/Task/t1", NULL, NULL);
    cr_assert_str_eq(str_at(cJSON_GetObjectItem(t.json, "meta"), "versionId"), "1");
    done(&t);
    reply pp = call(NULL, "GET", "/Patient/p1", NULL, NULL);
    cr_assert_str_eq(str_at(pp.json, "birthDate"), "1990-03-04");
    done(&pp);
    /* the owner may change its Task (keeping what the referral workflow
     * never lets change: code, focus, for, requester) */
    const char *mine =
        "{\"resourceType\":\"Task\",\"id\":\"t1\",\"status\":\"requested\",\"intent\":\"order\","
        "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\",\"code\":\"fulfill\"}]},"
        "\"focus\":{\"reference\":\"ServiceRequest/sr1\"},\"for\":{\"reference\":\"Patient/p1\"},"
        "\"requester\":{\"reference\":\"Organization/clinic\"},"
        "\"owner\":{\"reference\":\"Organization/cbo-a\"},\"note\":[{\"text\":\"called\"}]}";
    cr_assert_eq(status_of(&cbo_a, "PUT", "/Task/t1", NULL, mine), 200);
}

Test(access, creates_are_allowed_by_role)
{
    seed();
    const char *sr = "{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":"
                     "\"order\",\"subject\":{\"reference\":\"Patient/p1\"}}";
    reply r = call(&cbo_a, "POST", "/ServiceRequest", NULL, sr);
    cr_assert_eq(r.r.status, 403);
    cr_assert_str_eq(str_at(issue0(r.json), "code"), "forbidden");
    done(&r);
    cr_assert_eq(status_of(&clinic, "POST", "/ServiceRequest", NULL, sr), 201);
    /* a CBO records what it did and reads it back; the other CBO cannot */
    reply o = call(&cbo_a, "POST", "/Observation", NULL,
                   "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":"
                   "\"food pantry visit\"},\"subject\":{\"reference\":\"Patient/p1\"}}");
    cr_assert_eq(o.r.status, 201, "%d %s", o.r.status, o.r.body);
    char id[64];
    snprintf(id, sizeof(id), "%s", str_at(o.json, "id"));
    done(&o);
    assert_visible(&cbo_a, "Observation", id);
    assert_hidden_like_missing(&cbo_b, "Observation", id);
}

/* ---- Bundles ---- */

Test(access, batch_entries_are_checked_one_by_one)
{
    seed();
    const char *batch =
        "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":["
        "{\"request\":{\"method\":\"GET\",\"url\":\"Task/t1\"}},"
        "{\"request\":{\"method\":\"GET\",\"url\":\"Task/t2\"}},"
        "{\"request\":{\"method\":\"GET\",\"url\":\"Task?_total=accurate\"}},"
        "{\"request\":{\"method\":\"DELETE\",\"url\":\"Task/t1\"}},"
        "{\"resource\":{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":"
        "\"order\",\"subject\":{\"reference\":\"Patient/p2\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}}]}";
    reply r = call(&cbo_b, "POST", "/", NULL, batch);
    cr_assert_eq(r.r.status, 200, "%s", r.r.body);
    const cJSON *es = cJSON_GetObjectItem(r.json, "entry");
    /* entries answer in Bundle order: GET t1, GET t2, search, DELETE t1, POST SR */
    const char *want[] = {"404 Not Found", "200 OK", "200 OK", "404 Not Found", "403 Forbidden"};
    for(int i = 0; i < 5; i++) {
        const cJSON *e = cJSON_GetArrayItem(es, i);
        cr_assert_str_eq(str_at(cJSON_GetObjectItem(e, "response"), "status"), want[i],
                         "entry %d: %s", i, r.r.body);
    }
    const cJSON *search = cJSON_GetObjectItem(cJSON_GetArrayItem(es, 2), "resource");
    cr_assert_eq(total_of(search), 2);
    done(&r);
    assert_visible(NULL, "Task", "t1");
}

Test(access, a_transaction_fails_as_a_whole)
{
    seed();
    const char *txn =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:6c1a2f0e-1d2b-4f7a-9a51-0c9f1e2d3b4a\",\"resource\":"
        "{\"resourceType\":\"Patient\",\"birthDate\":\"2001-01-01\"},"
        "\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},"
        "{\"resource\":{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":"
        "\"order\",\"subject\":{\"reference\":\"urn:uuid:6c1a2f0e-1d2b-4f7a-9a51-0c9f1e2d3b4a\"}},"
        "\"request\":{\"method\":\"POST\",\"url\":\"ServiceRequest\"}}]}";
    reply r = call(&cbo_a, "POST", "/", NULL, txn);
    cr_assert_eq(r.r.status, 403, "%d %s", r.r.status, r.r.body);
    done(&r);
    reply s = call(NULL, "GET", "/Patient", "_total=accurate", NULL);
    cr_assert_eq(total_of(s.json), 6); /* nothing was created */
    done(&s);
    /* a transaction touching another CBO's Task fails with 404 */
    const char *other =
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
        "{\"request\":{\"method\":\"DELETE\",\"url\":\"Task/t4\"}},"
        "{\"request\":{\"method\":\"DELETE\",\"url\":\"Task/t1\"}}]}";
    r = call(&cbo_b, "POST", "/", NULL, other);
    cr_assert_eq(r.r.status, 404, "%d %s", r.r.status, r.r.body);
    done(&r);
    assert_visible(NULL, "Task", "t4");
    /* the clinic's own transaction goes through, and it reads the result */
    r = call(&clinic, "POST", "/", NULL, txn);
    cr_assert_eq(r.r.status, 200, "%d %s", r.r.status, r.r.body);
    done(&r);
    s = call(&clinic, "GET", "/ServiceRequest", "_total=accurate", NULL);
    cr_assert_eq(total_of(s.json), 5);
    done(&s);
}

Test(access, validate_delete_mode_does_not_tell_existence)
{
    seed();
    const char *del = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\","
                      "\"valueCode\":\"delete\"}]}";
    reply h = call(&cbo_b, "POST", "/Task/t1/$validate", NULL, del);
    reply m = call(&cbo_b, "POST", "/Task/none/$validate", NULL, del);
    reply v = call(&cbo_a, "POST", "/Task/t1/$validate", NULL, del);
    cr_assert_eq(h.r.status, 200, "%s", h.r.body);
    cr_assert(strstr(h.r.body, "Task/t1 does not exist"), "%s", h.r.body);
    cr_assert(strstr(m.r.body, "Task/none does not exist"), "%s", m.r.body);
    cr_assert_null(strstr(v.r.body, "does not exist"), "%s", v.r.body);
    done(&h);
    done(&m);
    done(&v);
}

/* More hidden matches than one page may scan (5,000): the page ends early
 * with a next link after the last row scanned, the walk still finds every
 * visible match once, and the total is withheld rather than wrong. */
Test(access, long_scans_end_the_page_and_continue, .timeout = 120)
{
    seed();
    size_t cap = 4u << 20, len = 0;
    char *b = malloc(cap);
    cr_assert_not_null(b);
    for(int part = 0; part < 6; part++) {
        len = (size_t)snprintf(b, cap, "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
                                       "\"entry\":[");
        for(int i = 0; i < 900; i++)
            len += (size_t)snprintf(b + len, cap - len,
                                    "%s{\"resource\":{\"resourceType\":\"Observation\",\"status\":"
                                    "\"final\",\"code\":{\"text\":\"hidden %d\"}},\"request\":{"
                                    "\"method\":\"POST\",\"url\":\"Observation\"}}",
                                    i ? "," : "", part * 900 + i);
        len += (size_t)snprintf(b + len, cap - len, "]}");
        cr_assert_lt(len, cap);
        reply r = call(&coord, "POST", "/", NULL, b); /* created by the plan: hidden from CBOs */
        cr_assert_eq(r.r.status, 200);
        done(&r);
    }
    free(b);
    const char *mine = "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":"
                       "\"mine\"}}";
    cr_assert_eq(status_of(&cbo_a, "POST", "/Observation", NULL, mine), 201);
    cr_assert_eq(status_of(&cbo_a, "POST", "/Observation", NULL, mine), 201);

    reply t = call(&cbo_a, "GET", "/Observation", "_summary=count", NULL);
    cr_assert_eq(t.r.status, 200);
    cr_assert_eq(total_of(t.json), -1, "%s", t.r.body); /* not given: too many to check */
    cr_assert(strstr(t.r.body, "too-costly"), "%s", t.r.body);
    done(&t);

    char q[512], buf[256];
    int pages = 0, found = 0, empty = 0;
    snprintf(q, sizeof(q), "_count=1");
    for(;;) {
        reply r = call(&cbo_a, "GET", "/Observation", q, NULL);
        cr_assert_eq(r.r.status, 200);
        entries(r.json, "match", buf, sizeof(buf));
        if(*buf)
            found++;
        else
            empty++;
        const char *next = NULL;
        const cJSON *links = cJSON_GetObjectItem(r.json, "link");
        for(const cJSON *l = links ? links->child : NULL; l; l = l->next)
            if(strcmp(str_at(l, "relation"), "next") == 0)
                next = str_at(l, "url");
        pages++;
        if(next)
            snprintf(q, sizeof(q), "%s", strchr(next, '?') + 1);
        done(&r);
        if(!next)
            break;
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(found, 2);
    cr_assert_geq(empty, 1); /* the first 5,000 rows held nothing visible */
    /* the server itself counts them all */
    reply s = call(NULL, "GET", "/Observation", "_summary=count", NULL);
    cr_assert_eq(total_of(s.json), 5402);
    done(&s);
}

/* Only a reference to this server grants anything: an owner on another
 * server with the same Organization id is someone else. */
Test(access, only_local_references_grant)
{
    seed();
    put("/Task/t-abs-own",
        "{\"resourceType\":\"Task\",\"id\":\"t-abs-own\",\"status\":\"requested\",\"intent\":"
        "\"order\",\"owner\":{\"reference\":\"http://test/Organization/cbo-a\"}}");
    put("/Task/t-abs-other",
        "{\"resourceType\":\"Task\",\"id\":\"t-abs-other\",\"status\":\"requested\",\"intent\":"
        "\"order\",\"owner\":{\"reference\":\"https://elsewhere.example/fhir/Organization/cbo-a\"}}");
    assert_visible(&cbo_a, "Task", "t-abs-own");
    assert_hidden_like_missing(&cbo_a, "Task", "t-abs-other");
    assert_visible(&coord, "Task", "t-abs-other");
    /* a search (the owner condition pushed into the query) agrees with reads */
    char buf[256];
    reply r = call(&cbo_a, "GET", "/Task", "_id=t-abs-own,t-abs-other", NULL);
    cr_assert_str_eq(entries(r.json, "match", buf, sizeof(buf)), "Task/t-abs-own");
    done(&r);
}
