/* outcome.c - serialise issue lists as OperationOutcome (R4). */
#include "loopgate/outcome.h"

const char *lg_severity_str(lg_severity s)
{
    switch(s) {
    case LG_SEV_FATAL: return "fatal";
    case LG_SEV_ERROR: return "error";
    case LG_SEV_WARNING: return "warning";
    case LG_SEV_INFORMATION: return "information";
    }
    return "error";
}

/* line/col > 0: the position in the input, as the HL7 validator reports it
 * (the core operationoutcome-issue-line/-col extensions). */
static lg_status write_issue(lg_buf *b, lg_severity sev, const char *code, const char *loc,
                             const char *text, int line, int col)
{
    lg_status st = lg_buf_adds(b, "{");
    if(!st && line > 0)
        st = lg_buf_printf(b, "\"extension\":[{\"url\":\"http://hl7.org/fhir/StructureDefinition/"
                              "operationoutcome-issue-line\",\"valueInteger\":%d},{\"url\":"
                              "\"http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col\","
                              "\"valueInteger\":%d}],",
                           line, col);
    if(!st) st = lg_buf_printf(b, "\"severity\":\"%s\",\"code\":", lg_severity_str(sev));
    if(!st) st = lg_buf_add_json_string(b, code ? code : "processing");
    if(!st && text) {
        st = lg_buf_adds(b, ",\"diagnostics\":");
        if(!st) st = lg_buf_add_json_string(b, text);
    }
    if(!st && loc) {
        /* R4 has both: location (deprecated XPath slot) and expression (FHIRPath). */
        st = lg_buf_adds(b, ",\"expression\":[");
        if(!st) st = lg_buf_add_json_string(b, loc);
        if(!st) st = lg_buf_adds(b, "]");
    }
    if(!st && line > 0)
        st = lg_buf_printf(b, ",\"location\":[\"Line[%d] Col[%d]\"]", line, col);
    return st ? st : lg_buf_adds(b, "}");
}

lg_status lg_outcome_write(lg_buf *b, const lg_issues *issues, lg_severity fallback_sev,
                           const char *fallback_code, const char *fallback_text)
{
    lg_status st = lg_buf_adds(b, "{\"resourceType\":\"OperationOutcome\",\"issue\":[");
    if(!issues || issues->count == 0) {
        if(!st) st = write_issue(b, fallback_sev, fallback_code, NULL, fallback_text, 0, 0);
    } else {
        for(size_t i = 0; !st && i < issues->count; i++) {
            const lg_issue *it = &issues->items[i];
            if(i) st = lg_buf_adds(b, ",");
            if(!st) st = write_issue(b, it->severity, it->code, it->location, it->diagnostics,
                                       it->line, it->col);
        }
    }
    return st ? st : lg_buf_adds(b, "]}");
}
