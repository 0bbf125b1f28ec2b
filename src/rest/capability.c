/* capability.c - GET /metadata: the CapabilityStatement, generated from the
 * loaded definitions (served types and their search parameters) and from
 * the interaction table below, which lists exactly what lg_dispatch routes,
 * and from lg_operations and lg_system_operations, the router's tables of
 * $operations (type/instance level and system level). */
#include <stdio.h>
#include <string.h>

#include "loopgate/time.h"
#include "internal.h"

/* Keep in step with lg_dispatch in rest.c: every type gets all of these. */
static const char *const type_interactions[] = {
    "read", "vread", "update", "patch", "delete", "history-instance", "history-type",
    "create", "search-type",
};

static const char *sp_type_name(lg_sp_type t)
{
    switch(t) {
    case LG_SP_NUMBER: return "number";
    case LG_SP_DATE: return "date";
    case LG_SP_STRING: return "string";
    case LG_SP_TOKEN: return "token";
    case LG_SP_REFERENCE: return "reference";
    case LG_SP_COMPOSITE: return "composite";
    case LG_SP_QUANTITY: return "quantity";
    case LG_SP_URI: return "uri";
    case LG_SP_SPECIAL: return "special";
    }
    return "special";
}

lg_status lg_do_capabilities(lg_ctx *c)
{
    const lg_defs *d = c->rest->defs;
    char now[LG_TIME_BUFSZ];
    lg_buf b;
    lg_buf_init(&b, c->rest->cfg.max_response);
    lg_time_format(lg_time_now_ms(), now, sizeof(now));
    lg_status st = lg_buf_printf(
        &b,
        "{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\",\"date\":\"%s\","
        "\"publisher\":\"Loopgate\",\"kind\":\"instance\",\"software\":{\"name\":\"Loopgate\","
        "\"version\":\"0.1.0\"},\"implementation\":{\"description\":\"Loopgate FHIR R4 "
        "gateway\",\"url\":\"%s\"},\"fhirVersion\":\"%s\",\"format\":[\"json\",\"xml\","
        "\"application/fhir+json\",\"application/fhir+xml\"],\"patchFormat\":[\"application/json-patch+json\"],"
        "\"instantiates\":[\"http://hl7.org/fhir/us/sdoh-clinicalcare/CapabilityStatement/"
        "SDOHCC-CoordinationPlatform\"],\"rest\":[{\"mode\":\"server\",\"resource\":[",
        now, c->req->base, d->fhir_version ? d->fhir_version : "4.0.1");
    for(size_t i = 0; !st && i < d->ntypes; i++) {
        const lg_resource_def *t = &d->types[i];
        st = lg_buf_printf(&b, "%s{\"type\":\"%s\",\"interaction\":[", i ? "," : "", t->name);
        for(size_t k = 0; !st && k < sizeof(type_interactions) / sizeof(*type_interactions); k++)
            st = lg_buf_printf(&b, "%s{\"code\":\"%s\"}", k ? "," : "", type_interactions[k]);
        if(!st)
            st = lg_buf_adds(&b, "],\"versioning\":\"versioned-update\",\"readHistory\":true,"
                                 "\"updateCreate\":true,\"conditionalCreate\":true,"
                                 "\"conditionalUpdate\":true,\"conditionalDelete\":\"single\"");
        /* FHIR arrays are never empty: searchInclude only with a reference parameter. */
        int first = 1;
        for(size_t k = 0; !st && k < t->nparams; k++)
            if(t->params[k].type == LG_SP_REFERENCE) {
                st = lg_buf_printf(&b, "%s\"%s:%s\"", first ? ",\"searchInclude\":[" : ",", t->name,
                                   t->params[k].code);
                first = 0;
            }
        if(!st && !first) st = lg_buf_adds(&b, "]");
        if(!st) st = lg_buf_adds(&b, ",\"searchParam\":[");
        for(size_t k = 0; !st && k < t->nparams; k++) {
            const lg_search_param *p = &t->params[k];
            st = lg_buf_printf(&b, "%s{\"name\":", k ? "," : "");
            if(!st) st = lg_buf_add_json_string(&b, p->code);
            if(!st && p->url) {
                st = lg_buf_adds(&b, ",\"definition\":");
                if(!st) st = lg_buf_add_json_string(&b, p->url);
            }
            if(!st) st = lg_buf_printf(&b, ",\"type\":\"%s\"}", sp_type_name(p->type));
        }
        /* Operations come from the router's own table (lg_operations). */
        if(!st) st = lg_buf_adds(&b, "],\"operation\":[");
        for(size_t k = 0; !st && k < lg_noperations; k++)
            st = lg_buf_printf(&b, "%s{\"name\":\"%s\",\"definition\":\"%s\"}", k ? "," : "",
                               lg_operations[k].name, lg_operations[k].definition);
        if(!st) st = lg_buf_adds(&b, "]}");
    }
    if(!st)
        st = lg_buf_adds(&b, "],\"interaction\":[{\"code\":\"transaction\"},{\"code\":\"batch\"},"
                             "{\"code\":\"history-system\"}],\"operation\":[");
    /* System-level operations, from the router's table (lg_system_operations). */
    for(size_t k = 0; !st && k < lg_nsystem_operations; k++)
        st = lg_buf_printf(&b, "%s{\"name\":\"%s\",\"definition\":\"%s\"}", k ? "," : "",
                           lg_system_operations[k].name, lg_system_operations[k].definition);
    if(!st)
        st = lg_buf_adds(&b, "]}]}");
    if(st) {
        lg_buf_free(&b);
        return lg_fail(c, st, "exception", NULL, "Could not build the CapabilityStatement");
    }
    lg_reply_buf(c, 200, &b);
    return LG_OK;
}
