/* adapter.c - the adapter table and the request/event helpers every
 * adapter shares (see adapter.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

void lg_fwd_req_clear(lg_fwd_req *r)
{
    if(!r)
        return;
    free(r->url);
    for(size_t i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

lg_status lg_fwd_req_header(lg_fwd_req *r, const char *fmt, ...)
{
    if(r->n_headers >= LG_FWD_MAX_HEADERS)
        return LG_ETOOLARGE;
    va_list ap;
    va_start(ap, fmt);
    char *h = vformat(fmt, ap);
    va_end(ap);
    if(!h)
        return LG_ENOMEM;
    r->headers[r->n_headers++] = h;
    return LG_OK;
}

lg_status lg_fwd_req_url(lg_fwd_req *r, const char *base, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *path = vformat(fmt, ap);
    va_end(ap);
    if(!path)
        return LG_ENOMEM;
    size_t bl = strlen(base);
    while(bl && base[bl - 1] == '/')
        bl--;
    char *url = NULL;
    int n = asprintf(&url, "%.*s%s", (int)bl, base, path);
    free(path);
    if(n < 0)
        return LG_ENOMEM;
    free(r->url);
    r->url = url;
    return LG_OK;
}

char *lg_fwd_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;
    if(!out)
        return NULL;
    for(const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
           *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

void lg_fwd_event_clear(lg_fwd_event *e)
{
    if(!e)
        return;
    free(e->event_id);
    free(e->remote_id);
    free(e->task_id);
    free(e->platform_status);
    free(e->reason);
    free(e->outcome);
    memset(e, 0, sizeof *e);
    e->occurred_ms = INT64_MIN;
}
