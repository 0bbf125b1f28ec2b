/* lg_test_forward.h - what the adapter suites share: a referral and a
 * child as the forwarder hands them to an adapter, a platform, a header
 * table for inbound requests and request accessors. Include after
 * criterion.h. */
#ifndef LG_TEST_FORWARD_H
#define LG_TEST_FORWARD_H

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "forward/adapter.h"

/* A referral as the store would give it: every string borrowed (static). */
static inline lg_referral tf_referral(void)
{
    static lg_sdoh_category cats[] = { LG_SDOH_UNSPECIFIED, LG_SDOH_FOOD_INSECURITY };
    lg_referral r;
    memset(&r, 0, sizeof r);
    r.service_request_id = (char *)"sr-1";
    r.task_id = (char *)"task-1";
    r.referrer_org.reference = (char *)"Organization/clinic-1";
    r.referrer_org.type = (char *)"Organization";
    r.referrer_org.id = (char *)"clinic-1";
    r.referrer_org.display = (char *)"Eastside Clinic";
    r.categories = cats;
    r.n_categories = 2;
    r.service.system = (char *)"http://snomed.info/sct";
    r.service.code = (char *)"464001000124107";
    r.service.display = (char *)"Referral to food pantry program";
    r.service_text = (char *)"Food pantry, weekly box";
    r.priority = LG_PRIORITY_URGENT;
    r.authored_ms = INT64_MIN;
    return r;
}

/* A child with a language need and two caregivers (one who may be contacted). */
static inline lg_child tf_child(void)
{
    static lg_language_need langs[] = {
        { { (char *)"urn:ietf:bcp:47", (char *)"en", NULL }, NULL, false },
        { { (char *)"urn:ietf:bcp:47", (char *)"es", NULL }, (char *)"mexicano", true },
    };
    static lg_caregiver cgs[] = {
        { { (char *)"RelatedPerson/rp-1", NULL, NULL, NULL }, true, true, LG_CONTACT_PHONE | LG_CONTACT_SMS,
          (char *)"Maria Rivera", { NULL, (char *)"MTH", (char *)"mother" } },
        { { (char *)"RelatedPerson/rp-2", NULL, NULL, NULL }, false, false, LG_CONTACT_EMAIL,
          (char *)"Jose Rivera", { NULL, (char *)"FTH", (char *)"father" } },
    };
    lg_child c;
    memset(&c, 0, sizeof c);
    c.id = (char *)"child-1";
    c.family = (char *)"Rivera";
    c.given = (char *)"Ana";
    c.birth_date = (char *)"2015-04-02";
    c.preferred_language = (char *)"es";
    c.languages = langs;
    c.n_languages = 2;
    c.caregivers = cgs;
    c.n_caregivers = 2;
    return c;
}

static inline lg_fwd_job tf_job(const char *kind, const lg_referral *r, const lg_child *c)
{
    lg_fwd_job j;
    memset(&j, 0, sizeof j);
    j.job_id = 42;
    j.kind = kind;
    j.idempotency_key = strcmp(kind, "cancel") == 0 ? "lg-task-1-cancel-43" : "lg-task-1-create-42";
    j.task_id = "task-1";
    j.target = "prog-123";
    j.remote_id = strcmp(kind, "cancel") == 0 ? "R-17" : NULL;
    j.referral = r;
    j.child = c;
    j.referrer_name = "Eastside Clinic Inc.";
    j.cancel_reason = strcmp(kind, "cancel") == 0 ? "family moved away" : NULL;
    return j;
}

static inline lg_fwd_platform tf_platform(const char *name, const lg_fwd_adapter *a, const char *base)
{
    lg_fwd_platform p;
    memset(&p, 0, sizeof p);
    p.name = (char *)name;
    p.adapter = a;
    p.base_url = (char *)base;
    p.max_attempts = 8;
    p.backoff_ms = 1000;
    p.max_backoff_ms = 3600000;
    p.timeout_ms = 10000;
    p.concurrency = 8;
    p.verify_tls = 1;
    p.poll_seconds = 300;
    return p;
}

/* Configure a from JSON text; fails the test unless it works. */
static inline void *tf_configure(const lg_fwd_adapter *a, const lg_fwd_platform *p, const char *json)
{
    cJSON *o = cJSON_Parse(json);
    cr_assert_not_null(o, "fixture JSON");
    lg_issues is = { 0 };
    void *state = NULL;
    lg_status st = a->configure(p, o, &state, &is);
    cr_assert_eq(st, LG_OK, "configure: %s", is.count ? is.items[0].diagnostics : "");
    cr_assert_eq(is.count, 0);
    lg_issues_free(&is);
    cJSON_Delete(o);
    return state;
}

/* The value of header name in r ("Name: value"), or NULL. */
static inline const char *tf_header(const lg_fwd_req *r, const char *name)
{
    size_t n = strlen(name);
    for(size_t i = 0; i < r->n_headers; i++)
        if(strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return r->headers[i] + n + 2;
    return NULL;
}

/* Inbound headers for verify: pairs name, value, ..., NULL. */
static inline const char *tf_lookup(const void *hctx, const char *name)
{
    const char *const *h = hctx;
    for(size_t i = 0; h[i]; i += 2)
        if(strcasecmp(h[i], name) == 0)
            return h[i + 1];
    return NULL;
}

static inline lg_fwd_resp tf_resp(int status, const char *body)
{
    lg_fwd_resp r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.body = body;
    r.body_len = body ? strlen(body) : 0;
    r.content_type = body ? "application/json" : NULL;
    r.error = status == 0 ? "Connection refused" : NULL;
    return r;
}

/* A JSON string member, or NULL. */
static inline const char *tf_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

#endif
