/* write.c - the closed-loop report's output writers: plain JSON and a FHIR
 * R4 MeasureReport (type summary). Both only print what compute.c and
 * suppress.c decided; a hidden value is never written, not even as a
 * denominator ("n" of a days distribution is not written at all, since it
 * equals counts that may be hidden).
 */
#include <string.h>

#include "loopgate/time.h"
#include "report/internal.h"

#define TRY(x) do { if((st = (x)) != LG_OK) goto fail; } while(0)
#define HIDDEN(g, c) (((g)->suppressed >> (c)) & 1u)

#define DAR_URL "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
#define MASKED "{\"url\":\"" DAR_URL "\",\"valueCode\":\"masked\"}"
#define EXT_BASE "https://loopgate.dev/fhir/StructureDefinition/closed-loop-"

static lg_status add_time(lg_buf *b, int64_t ms)
{
    char t[LG_TIME_BUFSZ];
    lg_time_format(ms, t, sizeof(t));
    return lg_buf_add_json_string(b, t);
}

/* ---------------------------------------------------------------- JSON */

static lg_status json_count(lg_buf *b, const lg_report_group *g, int c)
{
    if(HIDDEN(g, c))
        return lg_buf_adds(b, "null");
    return lg_buf_printf(b, "%u", (unsigned)g->count[c]);
}

static lg_status json_days(lg_buf *b, const lg_report_days *d)
{
    if(d->n == 0 || d->suppressed)
        return lg_buf_adds(b, "{\"median\":null,\"p90\":null}");
    return lg_buf_printf(b, "{\"median\":%.3f,\"p90\":%.3f}", d->median, d->p90);
}

static lg_status json_row(lg_buf *b, const lg_report_result *r, const lg_report_group *g, bool with_key)
{
    lg_status st;
    TRY(lg_buf_adds(b, "{"));
    if(with_key) {
        TRY(lg_buf_adds(b, "\"key\":{"));
        for(size_t i = 0; i < r->params.n_dims; i++) {
            lg_report_dim d = r->params.dims[i];
            TRY(lg_buf_printf(b, "%s\"%s\":", i ? "," : "", lg_report_dim_code(d)));
            TRY(lg_buf_add_json_string(b, lg_report_value_code(r, d, g->key[i])));
        }
        TRY(lg_buf_adds(b, "},"));
    }
    TRY(lg_buf_adds(b, "\"total\":"));
    TRY(json_count(b, g, LG_RC_TOTAL));
    TRY(lg_buf_adds(b, ",\"states\":{"));
    for(int c = 0; c < LG_RC_STATES; c++) {
        TRY(lg_buf_printf(b, "%s\"%s\":", c ? "," : "", lg_report_cell_code((lg_report_cell)c)));
        TRY(json_count(b, g, c));
    }
    TRY(lg_buf_adds(b, "},\"closed\":"));
    TRY(json_count(b, g, LG_RC_CLOSED));
    if(g->share_suppressed || g->count[LG_RC_TOTAL] == 0)
        TRY(lg_buf_adds(b, ",\"shareClosed\":null"));
    else
        TRY(lg_buf_printf(b, ",\"shareClosed\":%.4f", g->share_closed));
    TRY(lg_buf_adds(b, ",\"overdue\":"));
    TRY(json_count(b, g, LG_RC_OVERDUE));
    TRY(lg_buf_adds(b, ",\"daysToFirstResponse\":"));
    TRY(json_days(b, &g->response));
    TRY(lg_buf_adds(b, ",\"daysToClosure\":"));
    TRY(json_days(b, &g->closure));
    TRY(lg_buf_adds(b, ",\"suppressed\":["));
    bool first = true;
    for(int c = 0; c < LG_RC_COUNT; c++)
        if(HIDDEN(g, c)) {
            TRY(lg_buf_printf(b, "%s\"%s\"", first ? "" : ",", lg_report_cell_code((lg_report_cell)c)));
            first = false;
        }
    if(g->share_suppressed) {
        TRY(lg_buf_printf(b, "%s\"shareClosed\"", first ? "" : ","));
        first = false;
    }
    if(g->response.suppressed) {
        TRY(lg_buf_printf(b, "%s\"daysToFirstResponse\"", first ? "" : ","));
        first = false;
    }
    if(g->closure.suppressed)
        TRY(lg_buf_printf(b, "%s\"daysToClosure\"", first ? "" : ","));
    TRY(lg_buf_adds(b, "]}"));
fail:
    return st;
}

lg_status lg_report_write_json(const lg_report_result *r, lg_buf *b)
{
    lg_status st;
    const lg_report_params *p = &r->params;
    TRY(lg_buf_adds(b, "{\"period\":{\"start\":"));
    TRY(add_time(b, p->start_ms));
    TRY(lg_buf_adds(b, ",\"end\":"));
    TRY(add_time(b, p->end_ms));
    TRY(lg_buf_adds(b, "},\"now\":"));
    TRY(add_time(b, p->now_ms));
    TRY(lg_buf_adds(b, ",\"groupBy\":["));
    for(size_t i = 0; i < p->n_dims; i++)
        TRY(lg_buf_printf(b, "%s\"%s\"", i ? "," : "", lg_report_dim_code(p->dims[i])));
    TRY(lg_buf_printf(b, "],\"threshold\":%u,\"overdueAfterDays\":{\"firstResponse\":%.3f,\"closure\":%.3f},"
                         "\"overall\":",
                      p->threshold, (double)p->response_due_ms / 86400000.0,
                      (double)p->closure_due_ms / 86400000.0));
    TRY(json_row(b, r, &r->overall, false));
    TRY(lg_buf_adds(b, ",\"groups\":["));
    for(size_t g = 0; g < r->n_groups; g++) {
        if(g)
            TRY(lg_buf_adds(b, ","));
        TRY(json_row(b, r, &r->groups[g], true));
    }
    TRY(lg_buf_adds(b, "]}"));
fail:
    return st;
}

/* ------------------------------------------------------ MeasureReport */

/* The CodeableConcept of a stratum value. */
static lg_status fhir_value(lg_buf *b, const lg_report_result *r, lg_report_dim d, uint32_t v)
{
    lg_status st;
    const char *code = lg_report_value_code(r, d, v);
    const char *system = NULL;
    if(strcmp(code, "unknown") == 0)
        return lg_buf_adds(b, "{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-NullFlavor\","
                              "\"code\":\"UNK\"}],\"text\":\"unknown\"}");
    if(strcmp(code, "multiple") != 0 && strcmp(code, "none") != 0) {
        switch(d) {
        case LG_DIM_RACE: case LG_DIM_ETHNICITY: system = "urn:oid:2.16.840.1.113883.6.238"; break;
        case LG_DIM_LANGUAGE: system = "urn:ietf:bcp:47"; break;
        case LG_DIM_CATEGORY: system = LG_SDOHCC_CODES; break;
        case LG_DIM_PHM_TIER: system = "https://loopgate.dev/fhir/CodeSystem/phm-tier"; break;
        case LG_DIM_POPULATION: system = "https://loopgate.dev/fhir/CodeSystem/ecm-population-of-focus"; break;
        default: break; /* county, organization: text */
        }
    }
    TRY(lg_buf_adds(b, "{"));
    if(system) {
        TRY(lg_buf_printf(b, "\"coding\":[{\"system\":\"%s\",\"code\":", system));
        TRY(lg_buf_add_json_string(b, code));
        TRY(lg_buf_adds(b, "}],"));
    }
    TRY(lg_buf_adds(b, "\"text\":"));
    TRY(lg_buf_add_json_string(b, code));
    TRY(lg_buf_adds(b, "}"));
fail:
    return st;
}

static lg_status fhir_population(lg_buf *b, const lg_report_group *g, const char *system,
                                 const char *code, int cell, bool first)
{
    lg_status st;
    TRY(lg_buf_printf(b, "%s{\"code\":{\"coding\":[{\"system\":\"%s\",\"code\":\"%s\"}]},", first ? "" : ",",
                      system, code));
    if(HIDDEN(g, cell))
        TRY(lg_buf_adds(b, "\"_count\":{\"extension\":[" MASKED "]}}"));
    else
        TRY(lg_buf_printf(b, "\"count\":%u}", (unsigned)g->count[cell]));
fail:
    return st;
}

/* populations, measureScore and the days extensions of one row. */
static lg_status fhir_row(lg_buf *b, const lg_report_group *g)
{
    lg_status st;
    static const char *mp = "http://terminology.hl7.org/CodeSystem/measure-population";
    const lg_report_days *days[2] = { &g->response, &g->closure };
    static const char *names[2] = { "days-to-first-response", "days-to-closure" };
    bool first_ext = true;
    for(int i = 0; i < 2; i++) {
        if(days[i]->n == 0 || days[i]->suppressed)
            continue;
        /* FHIR arrays are never empty: open the array with its first item. */
        TRY(lg_buf_printf(b, "%s{\"url\":\"" EXT_BASE "%s-median\",\"valueDecimal\":%.3f},"
                             "{\"url\":\"" EXT_BASE "%s-p90\",\"valueDecimal\":%.3f}",
                          first_ext ? "\"extension\":[" : ",", names[i], days[i]->median, names[i],
                          days[i]->p90));
        first_ext = false;
    }
    if(!first_ext)
        TRY(lg_buf_adds(b, "],"));
    TRY(lg_buf_adds(b, "\"population\":["));
    TRY(fhir_population(b, g, mp, "initial-population", LG_RC_TOTAL, true));
    TRY(fhir_population(b, g, mp, "denominator", LG_RC_TOTAL, false));
    TRY(fhir_population(b, g, mp, "numerator", LG_RC_CLOSED, false));
    for(int c = 0; c < LG_RC_COUNT; c++)
        if(c != LG_RC_TOTAL && c != LG_RC_CLOSED)
            TRY(fhir_population(b, g, LG_REPORT_POPULATION_SYSTEM, lg_report_cell_code((lg_report_cell)c), c,
                                false));
    TRY(lg_buf_adds(b, "],\"measureScore\":"));
    if(g->share_suppressed || g->count[LG_RC_TOTAL] == 0)
        TRY(lg_buf_adds(b, "{\"extension\":[" MASKED "]}"));
    else
        TRY(lg_buf_printf(b, "{\"value\":%.4f,\"unit\":\"1\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"1\"}",
                          g->share_closed));
fail:
    return st;
}

lg_status lg_report_write_measure_report(const lg_report_result *const *results, size_t n, const char *id,
                                         lg_buf *b)
{
    lg_status st;
    if(n == 0)
        return LG_EINVAL;
    const lg_report_result *r0 = results[0];
    TRY(lg_buf_adds(b, "{\"resourceType\":\"MeasureReport\","));
    if(id) {
        TRY(lg_buf_adds(b, "\"id\":"));
        TRY(lg_buf_add_json_string(b, id));
        TRY(lg_buf_adds(b, ","));
    }
    TRY(lg_buf_adds(b, "\"status\":\"complete\",\"type\":\"summary\",\"measure\":\"" LG_REPORT_MEASURE_URL
                       "\",\"date\":"));
    TRY(add_time(b, r0->params.now_ms));
    TRY(lg_buf_adds(b, ",\"period\":{\"start\":"));
    TRY(add_time(b, r0->params.start_ms));
    TRY(lg_buf_adds(b, ",\"end\":"));
    /* The period is [start, end); FHIR's Period.end is inclusive. */
    TRY(add_time(b, r0->params.end_ms - 1));
    TRY(lg_buf_adds(b, "},\"improvementNotation\":{\"coding\":[{\"system\":"
                       "\"http://terminology.hl7.org/CodeSystem/measure-improvement-notation\","
                       "\"code\":\"increase\"}]},\"group\":[{\"code\":{\"coding\":[{\"system\":\""
                       LG_REPORT_POPULATION_SYSTEM "\",\"code\":\"closed-loop\"}]},"));
    TRY(fhir_row(b, &r0->overall));
    /* A result without dims adds no stratifier (a stratum needs a value). */
    bool first_strat = true;
    for(size_t k = 0; k < n; k++) {
        const lg_report_result *r = results[k];
        if(r->params.n_dims == 0)
            continue;
        TRY(lg_buf_adds(b, first_strat ? ",\"stratifier\":[{\"code\":[" : ",{\"code\":["));
        first_strat = false;
        for(size_t i = 0; i < r->params.n_dims; i++) {
            const char *dc = lg_report_dim_code(r->params.dims[i]);
            TRY(lg_buf_printf(b, "%s{\"coding\":[{\"system\":\"" LG_REPORT_DIM_SYSTEM "\",\"code\":\"%s\"}],"
                                 "\"text\":\"%s\"}", i ? "," : "", dc, dc));
        }
        TRY(lg_buf_adds(b, "]"));
        for(size_t g = 0; g < r->n_groups; g++) {
            const lg_report_group *grp = &r->groups[g];
            TRY(lg_buf_adds(b, g ? ",{" : ",\"stratum\":[{")); /* no empty array */
            if(r->params.n_dims == 1) {
                TRY(lg_buf_adds(b, "\"value\":"));
                TRY(fhir_value(b, r, r->params.dims[0], grp->key[0]));
                TRY(lg_buf_adds(b, ","));
            } else {
                TRY(lg_buf_adds(b, "\"component\":["));
                for(size_t i = 0; i < r->params.n_dims; i++) {
                    const char *dc = lg_report_dim_code(r->params.dims[i]);
                    TRY(lg_buf_printf(b, "%s{\"code\":{\"coding\":[{\"system\":\"" LG_REPORT_DIM_SYSTEM
                                         "\",\"code\":\"%s\"}]},\"value\":", i ? "," : "", dc));
                    TRY(fhir_value(b, r, r->params.dims[i], grp->key[i]));
                    TRY(lg_buf_adds(b, "}"));
                }
                TRY(lg_buf_adds(b, "],"));
            }
            TRY(fhir_row(b, grp));
            TRY(lg_buf_adds(b, "}"));
        }
        TRY(lg_buf_adds(b, r->n_groups ? "]}" : "}"));
    }
    TRY(lg_buf_adds(b, first_strat ? "}]}" : "]}]}"));
fail:
    return st;
}
