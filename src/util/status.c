/* status.c - issue lists: the raw material of OperationOutcome. */
#include "loopgate/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lg_status lg_issues_add(lg_issues *l, lg_severity sev, const char *code,
                        const char *location, const char *fmt, ...)
{
    if(l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4;
        lg_issue *n = realloc(l->items, ncap * sizeof(*n));
        if(!n)
            return LG_ENOMEM;
        l->items = n;
        l->cap = ncap;
    }
    lg_issue *it = &l->items[l->count];
    memset(it, 0, sizeof(*it));
    it->severity = sev;
    it->code = strdup(code ? code : "processing");
    it->location = location ? strdup(location) : NULL;
    va_list ap;
    va_start(ap, fmt);
    if(vasprintf(&it->diagnostics, fmt, ap) < 0)
        it->diagnostics = NULL;
    va_end(ap);
    if(!it->code || (location && !it->location) || !it->diagnostics) {
        free(it->code);
        free(it->location);
        free(it->diagnostics);
        return LG_ENOMEM;
    }
    l->count++;
    return LG_OK;
}

size_t lg_issues_errors(const lg_issues *l)
{
    size_t n = 0;
    for(size_t i = 0; i < l->count; i++)
        if(l->items[i].severity <= LG_SEV_ERROR)
            n++;
    return n;
}

void lg_issues_free(lg_issues *l)
{
    for(size_t i = 0; i < l->count; i++) {
        free(l->items[i].code);
        free(l->items[i].location);
        free(l->items[i].diagnostics);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

const char *lg_status_str(lg_status s)
{
    switch(s) {
    case LG_OK: return "ok";
    case LG_EINVAL: return "invalid input";
    case LG_ENOTFOUND: return "not found";
    case LG_EGONE: return "gone";
    case LG_ECONFLICT: return "conflict";
    case LG_EPRECOND: return "precondition failed";
    case LG_ETOOLARGE: return "too large";
    case LG_EUNSUPPORTED: return "unsupported";
    case LG_EMETHOD: return "method not allowed";
    case LG_EUNPROCESSABLE: return "unprocessable";
    case LG_ENOMEM: return "out of memory";
    case LG_EIO: return "storage failure";
    case LG_EINTERNAL: return "internal error";
    case LG_EFORBIDDEN: return "forbidden";
    }
    return "unknown";
}
