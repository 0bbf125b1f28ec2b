/* report_op.c - GET /$closed-loop-report (issue #4, Closed-loop report):
 * the referral report computed from the store's indexed fact tables
 * (store.h, kept in step with every referral and Patient write by
 * coordinate.c), never from stored JSON.
 *
 *   start, end   required FHIR dates/dateTimes: referrals authored from the
 *                start of `start` up to and including the whole of `end`
 *                (end=2026-06-30 includes that day), as MeasureReport.period
 *   group-by     any of race, ethnicity, language, county,
 *                population-of-focus, phm-tier, category, organization;
 *                comma-separated and/or repeated, each at most once;
 *                several give their cross-tabulation
 *   threshold    small-cell threshold, at least the server's
 *                --report-min-cell (default 11): lowering it would weaken
 *                the privacy the threshold exists for, so a client may only
 *                raise it
 *   _format      json | application/json (default: a plain JSON
 *                summary) | any FHIR format (application/fhir+json, xml,
 *                application/fhir+xml: a FHIR R4 MeasureReport, as XML when
 *                XML is asked); without _format, an Accept naming a FHIR
 *                media type asks for the MeasureReport. Content negotiation
 *                (rest.c) takes _format out of the query and hands it over
 *                in lg_rest_request.format
 *
 * Who: coordination staff and reporting clients (and the server itself,
 * actor NULL); referral sources and recipients are refused (403). Bad
 * parameters are 400 with an OperationOutcome naming the parameter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loopgate/report.h"
#include "loopgate/time.h"
#include "internal.h"

#define MAX_THRESHOLD 1000000u

typedef struct fill_ctx {
    lg_report_table *t;
    lg_status st;
} fill_ctx;

static int add_row(const lg_store_referral_fact *f, const lg_store_child_facts *ch, void *arg)
{
    fill_ctx *fc = arg;
    lg_report_fact rf = {
        .referral = f->referral_id, .child = f->child_id, .organization = f->organization,
        .created_ms = f->created_ms, .first_response_ms = f->first_response_ms,
        .closed_ms = f->closed_ms,
    };
    /* Stored enums are checked by lg_report_add_fact; out-of-byte values
     * must not wrap into valid ones. */
    if(f->loop < 0 || f->loop > 255 || f->not_served < 0 || f->not_served > 255 || f->category < 0 ||
       f->category > 255 || (ch && (ch->phm_tier < 0 || ch->phm_tier > 255 || ch->population < 0 ||
                                    ch->population > 255))) {
        fc->st = LG_EINTERNAL;
        return 1;
    }
    rf.loop = (uint8_t)f->loop;
    rf.not_served = (uint8_t)f->not_served;
    rf.category = (uint8_t)f->category;
    if(ch) {
        rf.race = ch->race;
        rf.ethnicity = ch->ethnicity;
        rf.language = ch->language;
        rf.county = ch->county;
        rf.phm_tier = (uint8_t)ch->phm_tier;
        rf.population = (uint8_t)ch->population;
    }
    fc->st = lg_report_add_fact(fc->t, &rf);
    if(fc->st == LG_EINVAL)
        fc->st = LG_EINTERNAL; /* a stored row the report cannot read */
    return fc->st != LG_OK;
}

lg_status lg_report_fill_from_store(lg_store *st, int64_t start_ms, int64_t end_ms, lg_report_table *t)
{
    fill_ctx fc = {.t = t, .st = LG_OK};
    lg_status s = lg_store_referral_facts_scan(st, start_ms, end_ms, add_row, &fc);
    if(fc.st)
        return fc.st;
    if(s)
        return s;
    return lg_report_table_index(t);
}

static lg_status bad_param(lg_ctx *c, const char *name, const char *fmt, const char *value)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, value ? value : "");
    return lg_fail(c, LG_EINVAL, "invalid", name, "$closed-loop-report parameter '%s': %s", name, msg);
}

/* group-by value list "race, language" into p->dims. */
static lg_status add_dims(lg_ctx *c, const char *v, lg_report_params *p)
{
    char code[64];
    const char *s = v;
    for(;;) {
        s += strspn(s, " ");
        size_t n = strcspn(s, ",");
        size_t k = n;
        while(k && s[k - 1] == ' ')
            k--;
        if(k == 0 || k >= sizeof(code))
            return bad_param(c, "group-by", "'%s' is not a list of dimensions (race, ethnicity, language, "
                             "county, population-of-focus, phm-tier, category, organization)", v);
        memcpy(code, s, k);
        code[k] = '\0';
        lg_report_dim d;
        if(lg_report_dim_parse(code, &d) != 0) {
            char msg[160];
            snprintf(msg, sizeof(msg), "'%s' is not a dimension", code);
            return bad_param(c, "group-by", "%s (race, ethnicity, language, county, population-of-focus, "
                             "phm-tier, category, organization)", msg);
        }
        for(size_t i = 0; i < p->n_dims; i++)
            if(p->dims[i] == d)
                return bad_param(c, "group-by", "'%s' is given more than once", code);
        p->dims[p->n_dims++] = d; /* at most LG_DIM_COUNT: each once */
        if(!s[n])
            return LG_OK;
        s += n + 1;
    }
}

/* Whether the client asked for FHIR (a MeasureReport) rather than the plain
 * JSON summary. Content negotiation (rest.c) has already refused formats
 * Loopgate does not speak and will turn a FHIR reply into XML when asked,
 * so any FHIR media type - JSON or XML - means the MeasureReport. */
static int wants_fhir(const lg_rest_request *req)
{
    static const char *const plain[] = {"json", "application/json", "text/json"};
    if(req->format) {
        for(size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++)
            if(strcasecmp(req->format, plain[i]) == 0)
                return 0;
        return 1;
    }
    return req->accept && (strstr(req->accept, "fhir+json") || strstr(req->accept, "fhir+xml") ||
                           strstr(req->accept, "application/xml") || strstr(req->accept, "text/xml"));
}

lg_status lg_do_closed_loop_report(lg_ctx *c)
{
    lg_params ps = {0};
    lg_report_table *t = NULL;
    lg_report_result *res = NULL;
    lg_buf b;
    lg_status st;
    const char *start = NULL, *end = NULL;
    int fhir = -1;
    lg_report_params p;
    memset(&p, 0, sizeof(p));
    lg_buf_init(&b, c->rest->cfg.max_response);

    const lg_actor *a = c->req->actor;
    if(a && a->role != LG_ROLE_REPORTING && a->role != LG_ROLE_COORDINATION)
        return lg_fail(c, LG_EFORBIDDEN, "forbidden", NULL,
                       "$closed-loop-report is for coordination staff and reporting clients");
    const char *q = c->req->query;
    if((st = lg_params_parse(q, q ? strlen(q) : 0, &ps))) {
        st = lg_fail(c, st, "invalid", NULL, "Could not parse the query string");
        goto out;
    }
    unsigned min_cell = c->rest->cfg.report_min_cell ? c->rest->cfg.report_min_cell : LG_REPORT_DEFAULT_THRESHOLD;
    p.threshold = min_cell;
    for(size_t i = 0; i < ps.count; i++) {
        const char *n = ps.items[i].name, *v = ps.items[i].value ? ps.items[i].value : "";
        if(strcmp(n, "start") == 0 || strcmp(n, "end") == 0) {
            const char **slot = n[0] == 's' ? &start : &end;
            if(*slot) {
                st = bad_param(c, n, "given more than once%s", "");
                goto out;
            }
            *slot = v;
        } else if(strcmp(n, "group-by") == 0) {
            if((st = add_dims(c, v, &p)))
                goto out;
        } else if(strcmp(n, "threshold") == 0) {
            char *e = NULL;
            unsigned long long th = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &e, 10) : 0;
            if(!e || *e || th > MAX_THRESHOLD) {
                st = bad_param(c, n, "'%s' is not a whole number up to 1000000", v);
                goto out;
            }
            if(th < min_cell) {
                char msg[96];
                snprintf(msg, sizeof(msg), "%llu is below this server's minimum of %u", th, min_cell);
                st = bad_param(c, n, "%s (cells smaller than the minimum are always suppressed)", msg);
                goto out;
            }
            p.threshold = (unsigned)th;
        } else {
            st = bad_param(c, n, "unknown parameter (start, end, group-by, threshold, _format)%s", "");
            goto out;
        }
    }
    int64_t lo, hi, elo, ehi;
    if(!start || !end) {
        st = bad_param(c, !start ? "start" : "end", "required (a FHIR date such as 2026-01-01)%s", "");
        goto out;
    }
    if(lg_time_parse_range(start, &lo, &hi) != LG_OK) {
        st = bad_param(c, "start", "'%s' is not a FHIR date or dateTime", start);
        goto out;
    }
    if(lg_time_parse_range(end, &elo, &ehi) != LG_OK) {
        st = bad_param(c, "end", "'%s' is not a FHIR date or dateTime", end);
        goto out;
    }
    if(ehi < lo) {
        st = bad_param(c, "end", "'%s' is before start", end);
        goto out;
    }
    p.start_ms = lo;
    p.end_ms = ehi + 1; /* the whole of end's day (or month, year) is in */
    p.now_ms = lg_time_now_ms();
    fhir = wants_fhir(c->req);

    if(!(t = lg_report_table_new())) {
        st = lg_fail(c, LG_ENOMEM, "exception", NULL, "Out of memory");
        goto out;
    }
    if((st = lg_report_fill_from_store(c->st, p.start_ms, p.end_ms, t))) {
        st = lg_fail(c, st, "exception", NULL, "Could not read the referral facts (%s)", lg_status_str(st));
        goto out;
    }
    if((st = lg_report_compute(t, &p, &res, &c->issues))) {
        st = lg_fail_issues(c, st);
        goto out;
    }
    if(fhir) {
        char id[40];
        lg_new_id(id);
        const lg_report_result *rs[1] = {res};
        st = lg_report_write_measure_report(rs, 1, id, &b);
    } else {
        st = lg_report_write_json(res, &b);
    }
    if(st) {
        st = lg_fail(c, st, st == LG_ETOOLARGE ? "too-costly" : "exception", NULL,
                     "Could not write the report (%s)", lg_status_str(st));
        goto out;
    }
    lg_reply_buf(c, 200, &b);
    if(!fhir && c->resp->body)
        c->resp->content_type = "application/json; charset=utf-8";
out:
    lg_buf_free(&b);
    lg_report_result_free(res);
    lg_report_table_free(t);
    lg_params_free(&ps);
    return st;
}
