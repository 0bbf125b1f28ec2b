/* tables.c - interned strings and (system, code) membership sets.
 *
 * These are the two hash tables a membership check touches. Both use open
 * addressing with linear probing over power-of-two tables kept at most
 * half full (sets) or 70% full (strings), so a probe is a few cache lines.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "terminology/term_internal.h"

/* Eight bytes per step, multiply and fold: every binding check hashes a
 * ValueSet url, a system url and a code, and byte-at-a-time FNV-1a over
 * the urls was most of a check. Nothing stronger is needed since the
 * tables are built from definitions, not from client input (a client's
 * code only probes); only the slots depend on it, never an answer. */
static uint32_t hash_bytes(const char *s, size_t len)
{
    const uint64_t k = 0xff51afd7ed558ccdull;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    size_t i = 0;
    for(; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    if(i < len) {
        uint64_t w = 0;
        for(unsigned b = 0; i < len; i++, b += 8)
            w |= (uint64_t)(unsigned char)s[i] << b;
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static int intern_grow(tm_intern *in)
{
    uint32_t ns = in->nslots ? in->nslots * 2 : 1024;
    uint32_t *slots = calloc(ns, sizeof(*slots));
    if(!slots)
        return -1;
    for(uint32_t id = 0; id < in->n; id++) {
        uint32_t i = in->v[id].hash & (ns - 1);
        while(slots[i])
            i = (i + 1) & (ns - 1);
        slots[i] = id + 1;
    }
    free(in->slots);
    in->slots = slots;
    in->nslots = ns;
    return 0;
}

uint32_t tm_intern_find(const tm_intern *in, const char *s, size_t len)
{
    if(!in->nslots || len > LG_TERM_MAX_TEXT)
        return TM_NONE;
    uint32_t h = hash_bytes(s, len);
    for(uint32_t i = h & (in->nslots - 1);; i = (i + 1) & (in->nslots - 1)) {
        uint32_t e = in->slots[i];
        if(!e)
            return TM_NONE;
        const tm_str *x = &in->v[e - 1];
        if(x->hash == h && x->len == len && !memcmp(x->s, s, len))
            return e - 1;
    }
}

uint32_t tm_intern_get(tm_intern *in, const char *s, size_t len)
{
    uint32_t id = tm_intern_find(in, s, len);
    if(id != TM_NONE)
        return id;
    if(len > LG_TERM_MAX_TEXT || in->n >= UINT32_MAX / 4)
        return TM_NONE;
    if((uint64_t)(in->n + 1) * 10 > (uint64_t)in->nslots * 7 && intern_grow(in))
        return TM_NONE;
    if(in->n == in->cap) {
        uint32_t nc = in->cap ? in->cap * 2 : 1024;
        tm_str *v = realloc(in->v, (size_t)nc * sizeof(*v));
        if(!v)
            return TM_NONE;
        in->v = v;
        in->cap = nc;
    }
    char *copy = malloc(len + 1);
    if(!copy)
        return TM_NONE;
    memcpy(copy, s, len);
    copy[len] = '\0';
    id = in->n++;
    in->v[id] = (tm_str){.s = copy, .len = (uint32_t)len, .hash = hash_bytes(s, len),
                         .cs = -1, .vs = -1};
    uint32_t i = in->v[id].hash & (in->nslots - 1);
    while(in->slots[i])
        i = (i + 1) & (in->nslots - 1);
    in->slots[i] = id + 1;
    return id;
}

void tm_intern_free(tm_intern *in)
{
    for(uint32_t i = 0; i < in->n; i++)
        free(in->v[i].s);
    free(in->v);
    free(in->slots);
    memset(in, 0, sizeof(*in));
}

size_t tm_lower(const char *s, char *buf, size_t cap)
{
    size_t i = 0;
    for(; s[i]; i++) {
        if(i + 1 >= cap)
            return (size_t)-1;
        char c = s[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    buf[i] = '\0';
    return i;
}

const char *tm_note(lg_terminology *t, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if(n < 0)
        return "value set could not be fully expanded";
    size_t len = (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;
    uint32_t id = tm_intern_get(&t->in, text, len);
    return id == TM_NONE ? "value set could not be fully expanded" : t->in.v[id].s;
}

/* --- sets ---------------------------------------------------------------- */

static uint32_t mix(uint32_t sys, uint32_t code)
{
    uint64_t k = ((uint64_t)sys << 32 | code) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(k >> 32);
}

static int set_grow(tm_set *s)
{
    uint32_t ns = s->nslots ? s->nslots * 2 : 16;
    tm_member *slots = malloc((size_t)ns * sizeof(*slots));
    if(!slots)
        return -1;
    for(uint32_t i = 0; i < ns; i++)
        slots[i].sys = TM_NONE;
    for(uint32_t j = 0; j < s->nslots; j++) {
        const tm_member *m = &s->slots[j];
        if(m->sys == TM_NONE)
            continue;
        uint32_t i = mix(m->sys, m->code) & (ns - 1);
        while(slots[i].sys != TM_NONE)
            i = (i + 1) & (ns - 1);
        slots[i] = *m;
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = ns;
    return 0;
}

const tm_member *tm_set_find(const tm_set *s, uint32_t sys, uint32_t code)
{
    if(!s->nslots || sys == TM_NONE)
        return NULL;
    for(uint32_t i = mix(sys, code) & (s->nslots - 1);; i = (i + 1) & (s->nslots - 1)) {
        const tm_member *m = &s->slots[i];
        if(m->sys == TM_NONE)
            return NULL;
        if(m->sys == sys && m->code == code)
            return m;
    }
}

int tm_set_add(tm_set *s, uint32_t sys, uint32_t code, uint32_t flags)
{
    if(sys == TM_NONE || code == TM_NONE)
        return 0;
    tm_member *m = (tm_member *)tm_set_find(s, sys, code);
    if(m) {
        if(flags & TM_M_IN)
            m->flags = (m->flags & ~(uint32_t)TM_M_MAYBE) | TM_M_IN;
        m->flags |= flags & TM_M_ABSTRACT;
        return 0;
    }
    if(s->count >= LG_TERM_MAX_CODES) {
        s->overflow = 1;
        return 0;
    }
    if((s->count + 1) * 2 > s->nslots && set_grow(s))
        return -1;
    uint32_t i = mix(sys, code) & (s->nslots - 1);
    while(s->slots[i].sys != TM_NONE)
        i = (i + 1) & (s->nslots - 1);
    s->slots[i] = (tm_member){sys, code, flags};
    s->count++;
    return 0;
}

int tm_set_is_open(const tm_set *s, uint32_t sys)
{
    if(s->open_any)
        return 1;
    for(uint32_t i = 0; i < s->nopen; i++)
        if(s->open[i].sys == sys)
            return 1;
    return 0;
}

const char *tm_set_open_why(const tm_set *s, uint32_t sys)
{
    for(uint32_t i = 0; i < s->nopen; i++)
        if(s->open[i].sys == sys && s->open[i].why)
            return s->open[i].why;
    if(tm_set_is_open(s, sys))
        return s->why ? s->why : "value set could not be fully expanded";
    return NULL;
}

int tm_set_open_sys(tm_set *s, uint32_t sys, const char *why)
{
    if(!s->why)
        s->why = why;
    if(sys == TM_NONE)
        return tm_set_open_all(s, why);
    for(uint32_t i = 0; i < s->nopen; i++)
        if(s->open[i].sys == sys)
            return 0;
    if(s->nopen == s->capopen) {
        uint32_t nc = s->capopen ? s->capopen * 2 : 4;
        tm_open *o = realloc(s->open, nc * sizeof(*o));
        if(!o)
            return -1;
        s->open = o;
        s->capopen = nc;
    }
    s->open[s->nopen++] = (tm_open){sys, why};
    return 0;
}

int tm_set_open_all(tm_set *s, const char *why)
{
    if(!s->why)
        s->why = why;
    s->open_any = 1;
    return 0;
}

int tm_set_union(tm_set *dst, const tm_set *src)
{
    for(uint32_t j = 0; j < src->nslots; j++) {
        const tm_member *m = &src->slots[j];
        if(m->sys != TM_NONE && tm_set_add(dst, m->sys, m->code, m->flags))
            return -1;
    }
    for(uint32_t i = 0; i < src->nopen; i++)
        if(tm_set_open_sys(dst, src->open[i].sys, src->open[i].why))
            return -1;
    if(src->open_any)
        tm_set_open_all(dst, src->why);
    if(src->overflow)
        dst->overflow = 1;
    if(!dst->why)
        dst->why = src->why;
    return 0;
}

int tm_set_intersect(const tm_set *a, const tm_set *b, tm_set *out)
{
    /* A code is certainly in both only if certainly in each; it may be in
     * both when one side has it and the other has it or cannot say. */
    for(int pass = 0; pass < 2; pass++) {
        const tm_set *x = pass ? b : a, *y = pass ? a : b;
        for(uint32_t j = 0; j < x->nslots; j++) {
            const tm_member *m = &x->slots[j];
            if(m->sys == TM_NONE)
                continue;
            const tm_member *o = tm_set_find(y, m->sys, m->code);
            uint32_t ab = (m->flags | (o ? o->flags : 0)) & TM_M_ABSTRACT;
            if(o) {
                if(pass)
                    continue; /* pass 0 handled members of both */
                uint32_t st = (m->flags & TM_M_IN) && (o->flags & TM_M_IN) ? TM_M_IN : TM_M_MAYBE;
                if(tm_set_add(out, m->sys, m->code, st | ab))
                    return -1;
            } else if(tm_set_is_open(y, m->sys)) {
                if(tm_set_add(out, m->sys, m->code, TM_M_MAYBE | ab))
                    return -1;
            }
        }
    }
    const char *why = a->why ? a->why : b->why;
    if(a->open_any && b->open_any)
        tm_set_open_all(out, why);
    for(uint32_t i = 0; i < a->nopen; i++)
        if(tm_set_is_open(b, a->open[i].sys) &&
           tm_set_open_sys(out, a->open[i].sys, a->open[i].why))
            return -1;
    for(uint32_t i = 0; i < b->nopen; i++)
        if(a->open_any && tm_set_open_sys(out, b->open[i].sys, b->open[i].why))
            return -1;
    if(a->overflow || b->overflow)
        out->overflow = 1;
    return 0;
}

int tm_set_subtract(tm_set *dst, const tm_set *src)
{
    tm_set r = {0};
    for(uint32_t j = 0; j < dst->nslots; j++) {
        const tm_member *m = &dst->slots[j];
        if(m->sys == TM_NONE)
            continue;
        const tm_member *o = tm_set_find(src, m->sys, m->code);
        uint32_t flags = m->flags;
        if(o && (o->flags & TM_M_IN))
            continue;
        if(o || tm_set_is_open(src, m->sys)) {
            /* the exclusion cannot be decided: membership becomes unknown */
            flags = (flags & TM_M_ABSTRACT) | TM_M_MAYBE;
            if(!dst->why)
                dst->why = src->why;
        }
        if(tm_set_add(&r, m->sys, m->code, flags)) {
            tm_set_free(&r);
            return -1;
        }
    }
    free(dst->slots);
    dst->slots = r.slots;
    dst->nslots = r.nslots;
    dst->count = r.count;
    if(src->overflow)
        dst->overflow = 1;
    return 0;
}

int tm_set_finish(tm_set *s)
{
    uint32_t cap = 0;
    free(s->systems);
    s->systems = NULL;
    s->nsys = 0;
    for(uint32_t j = 0; j < s->nslots; j++) {
        uint32_t sys = s->slots[j].sys;
        if(sys == TM_NONE)
            continue;
        uint32_t i = 0;
        while(i < s->nsys && s->systems[i] != sys)
            i++;
        if(i < s->nsys)
            continue;
        if(s->nsys == cap) {
            uint32_t nc = cap ? cap * 2 : 2;
            uint32_t *v = realloc(s->systems, nc * sizeof(*v));
            if(!v)
                return -1;
            s->systems = v;
            cap = nc;
        }
        s->systems[s->nsys++] = sys;
    }
    return 0;
}

void tm_set_free(tm_set *s)
{
    free(s->slots);
    free(s->open);
    free(s->systems);
    memset(s, 0, sizeof(*s));
}

size_t tm_set_bytes(const tm_set *s)
{
    return (size_t)s->nslots * sizeof(tm_member) + (size_t)s->capopen * sizeof(tm_open) +
           (size_t)s->nsys * sizeof(uint32_t);
}
