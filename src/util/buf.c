/* buf.c - bounded growable buffers (see buf.h). */
#include "loopgate/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lg_buf_init(lg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

static lg_status grow(lg_buf *b, size_t need)
{
    if(need > b->max || need < b->len) /* second test: overflow */
        return LG_ETOOLARGE;
    if(need + 1 <= b->cap)
        return LG_OK;
    size_t ncap = b->cap ? b->cap : 256;
    while(ncap < need + 1)
        ncap *= 2;
    if(ncap > b->max + 1)
        ncap = b->max + 1;
    char *n = realloc(b->data, ncap);
    if(!n)
        return LG_ENOMEM;
    b->data = n;
    b->cap = ncap;
    return LG_OK;
}

lg_status lg_buf_add(lg_buf *b, const void *p, size_t n)
{
    lg_status st = grow(b, b->len + n);
    if(st)
        return st;
    if(n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return LG_OK;
}

lg_status lg_buf_adds(lg_buf *b, const char *s)
{
    return lg_buf_add(b, s, strlen(s));
}

lg_status lg_buf_printf(lg_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if(n < 0)
        return LG_EINTERNAL;
    if((size_t)n < sizeof(small))
        return lg_buf_add(b, small, (size_t)n);
    lg_status st = grow(b, b->len + (size_t)n);
    if(st)
        return st;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return LG_OK;
}

lg_status lg_buf_add_json_string(lg_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    lg_status st = lg_buf_add(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while(!st && *p) {
        const unsigned char *run = p;
        while(*p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        if(p > run && (st = lg_buf_add(b, run, (size_t)(p - run))))
            break;
        if(!*p)
            break;
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch(*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[*p >> 4]; esc[5] = hex[*p & 15];
            n = 6;
        }
        st = lg_buf_add(b, esc, n);
        p++;
    }
    return st ? st : lg_buf_add(b, "\"", 1);
}

char *lg_buf_take(lg_buf *b, size_t *len)
{
    char *d = b->data;
    if(len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void lg_buf_free(lg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
