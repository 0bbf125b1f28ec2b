/* expand.c - lg_terminology_seal: every ValueSet into a membership set.
 *
 * Expansion is done once, at start-up, so that a check on the write path is
 * a hash probe. Each include/exclude becomes a tm_set (known codes plus the
 * systems it cannot decide), combined with union, intersection and
 * difference that keep track of what is undecided, so an unknown part can
 * never turn into a silent IN. Imports are expanded depth-first with an
 * "expanding" mark, which is how cycles are caught.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "terminology/term_internal.h"

#define TM_MAX_IMPORT_DEPTH 32

typedef struct seal_ctx {
    lg_terminology *t;
    lg_issues *issues;
    int nomem;
} seal_ctx;

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

int32_t tm_find_vs(const lg_terminology *t, const char *canonical)
{
    const char *bar = strchr(canonical, '|');
    size_t len = bar ? (size_t)(bar - canonical) : strlen(canonical);
    uint32_t id = tm_intern_find(&t->in, canonical, len);
    if(id == TM_NONE)
        return -1;
    int32_t i = t->in.v[id].vs;
    if(bar && bar[1]) {
        for(int32_t j = i; j >= 0; j = t->vs[j].prev)
            if(t->vs[j].version && !strcmp(t->vs[j].version, bar + 1))
                return j;
    }
    return i; /* no version asked, or not held: the last added version */
}

/* The concept index of code text in cs (case-folded when cs is), or TM_NONE. */
static uint32_t cs_lookup(const lg_terminology *t, const tm_cs *cs, const char *code)
{
    char low[LG_TERM_MAX_TEXT + 1];
    if(cs->case_insensitive) {
        size_t n = tm_lower(code, low, sizeof(low));
        return n == (size_t)-1 ? TM_NONE : tm_cs_find(cs, tm_intern_find(&t->in, low, n));
    }
    return tm_cs_find(cs, tm_intern_find(&t->in, code, strlen(code)));
}

/* mark every concept reachable from idx through kids (parents when up) */
static int walk(const tm_cs *cs, uint32_t idx, int up, unsigned char *mark)
{
    /* explicit stack: hierarchies are data, recursion depth must not be */
    uint32_t *stack = malloc((size_t)cs->n * sizeof(*stack) + sizeof(*stack));
    size_t sp = 0;
    if(!stack)
        return -1;
    stack[sp++] = idx;
    mark[idx] = 1;
    while(sp) {
        const tm_concept *c = &cs->c[stack[--sp]];
        uint32_t n = up ? c->nparents : c->nkids;
        const uint32_t *next = up ? c->parents : c->kids;
        for(uint32_t i = 0; i < n; i++)
            if(!mark[next[i]]) {
                mark[next[i]] = 1;
                stack[sp++] = next[i];
            }
    }
    free(stack);
    return 0;
}

static int has_prop(const tm_concept *c, uint32_t pid, uint32_t vid)
{
    for(uint32_t i = 0; i < c->nprops; i++)
        if(c->props[i].code == pid && (vid == TM_NONE || c->props[i].value == vid))
            return 1;
    return 0;
}

/* concepts whose property prop equals value (implicit: concept/code, parent,
 * child), or-ed into mark */
static int mark_eq(const lg_terminology *t, const tm_cs *cs, const char *prop, const char *value,
                   unsigned char *mark)
{
    if(!strcmp(prop, "concept") || !strcmp(prop, "code")) {
        uint32_t i = cs_lookup(t, cs, value);
        if(i != TM_NONE)
            mark[i] = 1;
        return 0;
    }
    if(!strcmp(prop, "parent") || !strcmp(prop, "child")) {
        uint32_t i = cs_lookup(t, cs, value);
        if(i == TM_NONE)
            return 0;
        const tm_concept *c = &cs->c[i];
        int kids = !strcmp(prop, "parent"); /* parent = X: the children of X */
        for(uint32_t j = 0; j < (kids ? c->nkids : c->nparents); j++)
            mark[kids ? c->kids[j] : c->parents[j]] = 1;
        return 0;
    }
    uint32_t pid = tm_intern_find(&t->in, prop, strlen(prop));
    uint32_t vid = tm_intern_find(&t->in, value, strlen(value));
    if(pid == TM_NONE || vid == TM_NONE)
        return 0;
    for(uint32_t i = 0; i < cs->n; i++)
        if(has_prop(&cs->c[i], pid, vid))
            mark[i] = 1;
    return 0;
}

/* One filter into mark (1 = passes). Returns 0, -1 out of memory, 1 when
 * the filter is not supported (the caller leaves the system undecided). */
static int filter_mark(const lg_terminology *t, const tm_cs *cs, const cJSON *f,
                       unsigned char *mark)
{
    const char *prop = str_of(f, "property"), *op = str_of(f, "op"),
               *value = str_of(f, "value");
    if(!prop || !op || !value)
        return 1;
    memset(mark, 0, cs->n);
    int hier = !strcmp(prop, "concept") || !strcmp(prop, "code");
    if(hier && (!strcmp(op, "is-a") || !strcmp(op, "descendent-of") ||
                !strcmp(op, "is-not-a") || !strcmp(op, "generalizes"))) {
        uint32_t i = cs_lookup(t, cs, value);
        if(i != TM_NONE && !strcmp(op, "descendent-of")) {
            /* walk from each child into one mark array: linear, and the
             * root is marked only if it is its own descendant (a cycle) */
            for(uint32_t k = 0; k < cs->c[i].nkids; k++)
                if(!mark[cs->c[i].kids[k]] && walk(cs, cs->c[i].kids[k], 0, mark))
                    return -1;
        } else if(i != TM_NONE && walk(cs, i, !strcmp(op, "generalizes"), mark)) {
            return -1;
        }
        if(!strcmp(op, "is-not-a"))
            for(uint32_t k = 0; k < cs->n; k++)
                mark[k] = !mark[k];
        return 0;
    }
    if(!strcmp(op, "=")) {
        return mark_eq(t, cs, prop, value, mark);
    }
    if(!strcmp(op, "in") || !strcmp(op, "not-in")) {
        char one[LG_TERM_MAX_TEXT + 1];
        const char *p = value;
        while(*p) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            if(n <= LG_TERM_MAX_TEXT) {
                memcpy(one, p, n);
                one[n] = '\0';
                mark_eq(t, cs, prop, one, mark);
            }
            p += n + (comma ? 1 : 0);
        }
        if(!strcmp(op, "not-in"))
            for(uint32_t k = 0; k < cs->n; k++)
                mark[k] = !mark[k];
        return 0;
    }
    if(!strcmp(op, "exists")) {
        uint32_t pid = tm_intern_find(&t->in, prop, strlen(prop));
        int want = strcmp(value, "false") != 0;
        for(uint32_t k = 0; k < cs->n; k++)
            mark[k] = (unsigned char)((pid != TM_NONE && has_prop(&cs->c[k], pid, TM_NONE)) == want);
        return 0;
    }
    return 1; /* regex and anything newer */
}

/* include/exclude with a system: enumerated concepts, filters, or all. */
static int system_part(seal_ctx *x, const cJSON *inc, const char *sysurl, tm_set *out)
{
    lg_terminology *t = x->t;
    const char *bar = strchr(sysurl, '|'); /* a version glued to the system: ignore it */
    size_t syslen = bar ? (size_t)(bar - sysurl) : strlen(sysurl);
    if(syslen > LG_TERM_MAX_TEXT)
        return tm_set_open_all(out, "a value set names a code system url that is too long");
    uint32_t sys = tm_intern_get(&t->in, sysurl, syslen);
    if(sys == TM_NONE)
        return -1;
    int32_t ci = t->in.v[sys].cs;
    const tm_cs *cs = ci >= 0 ? &t->cs[ci] : NULL;
    const cJSON *concepts = cJSON_GetObjectItemCaseSensitive(inc, "concept");
    const cJSON *filters = cJSON_GetObjectItemCaseSensitive(inc, "filter");
    int have_concepts = cJSON_GetArraySize(concepts) > 0, have_filters = cJSON_GetArraySize(filters) > 0;
    const char *sysname = t->in.v[sys].s;
    tm_set en = {0};
    unsigned char *mark = NULL, *one = NULL;
    int rc = -1;

    if(have_concepts) {
        /* an enumeration is closed: it decides its codes even for systems
         * we do not hold */
        const cJSON *c;
        cJSON_ArrayForEach(c, concepts) {
            const char *code = str_of(c, "code");
            if(!code || strlen(code) > LG_TERM_MAX_TEXT)
                continue; /* no held code is that long */
            if(cs && cs->content == TM_CONTENT_COMPLETE) {
                uint32_t k = cs_lookup(t, cs, code);
                if(k == TM_NONE)
                    continue; /* not a code of the system: cannot be valid */
                if(tm_set_add(&en, sys, cs->c[k].code,
                              TM_M_IN | (cs->c[k].abstract ? TM_M_ABSTRACT : 0)))
                    goto done;
            } else if(cs && cs->case_insensitive) {
                char low[LG_TERM_MAX_TEXT + 1];
                size_t n = tm_lower(code, low, sizeof(low));
                uint32_t id = tm_intern_get(&t->in, low, n);
                if(id == TM_NONE || tm_set_add(&en, sys, id, TM_M_IN))
                    goto done;
            } else {
                uint32_t id = tm_intern_get(&t->in, code, strlen(code));
                if(id == TM_NONE || tm_set_add(&en, sys, id, TM_M_IN))
                    goto done;
            }
        }
        if(!have_filters) {
            *out = en;
            return 0;
        }
    }
    if(!cs || cs->content != TM_CONTENT_COMPLETE) {
        const char *why = !cs ? tm_note(t, "code system %s is not available", sysname)
                          : cs->content == TM_CONTENT_NONE
                              ? tm_note(t, "code system %s is not available (content not-present)", sysname)
                              : tm_note(t, "code system %s is only partly available", sysname);
        if(cs && cs->content == TM_CONTENT_PARTIAL && !have_concepts && !have_filters) {
            /* an example or fragment system: the codes it lists are real */
            for(uint32_t k = 0; k < cs->n; k++)
                if(tm_set_add(out, sys, cs->c[k].code,
                              TM_M_IN | (cs->c[k].abstract ? TM_M_ABSTRACT : 0)))
                    goto done;
        }
        if(have_concepts) {
            /* enumeration AND an undecidable filter: the listed codes may be in */
            for(uint32_t j = 0; j < en.nslots; j++)
                if(en.slots[j].sys != TM_NONE)
                    en.slots[j].flags = (en.slots[j].flags & TM_M_ABSTRACT) | TM_M_MAYBE;
            en.why = why;
            *out = en;
            return 0;
        }
        tm_set_free(&en);
        return tm_set_open_sys(out, sys, why);
    }
    mark = malloc(cs->n ? cs->n : 1);
    one = malloc(cs->n ? cs->n : 1);
    if(!mark || !one)
        goto done;
    memset(mark, 1, cs->n);
    const cJSON *f;
    cJSON_ArrayForEach(f, filters) {
        int r = filter_mark(t, cs, f, one);
        if(r < 0)
            goto done;
        if(r > 0) {
            const char *op = str_of(f, "op");
            tm_set_free(&en);
            rc = tm_set_open_sys(out, sys, tm_note(t, "filter %s on %s is not supported",
                                                   op ? op : "(none)", sysname));
            goto done;
        }
        for(uint32_t k = 0; k < cs->n; k++)
            mark[k] &= one[k];
    }
    for(uint32_t k = 0; k < cs->n; k++) {
        if(!mark[k])
            continue;
        if(have_concepts && !tm_set_find(&en, sys, cs->c[k].code))
            continue;
        if(tm_set_add(out, sys, cs->c[k].code,
                      TM_M_IN | (cs->c[k].abstract ? TM_M_ABSTRACT : 0)))
            goto done;
    }
    tm_set_free(&en);
    rc = 0;
done:
    if(rc)
        tm_set_free(&en);
    free(mark);
    free(one);
    return rc;
}

static int expand_vs(seal_ctx *x, int32_t i, int depth);

/* One compose.include or compose.exclude element into *out. */
static int include_set(seal_ctx *x, const char *vsurl, const cJSON *inc, int depth, tm_set *out)
{
    lg_terminology *t = x->t;
    const char *sys = str_of(inc, "system");
    const cJSON *vsl = cJSON_GetObjectItemCaseSensitive(inc, "valueSet");
    tm_set acc = {0};
    int have = 0;
    if(sys) {
        if(system_part(x, inc, sys, &acc))
            goto fail;
        have = 1;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, vsl) {
        tm_set part = {0};
        const tm_set *src = &part;
        if(!cJSON_IsString(v))
            continue;
        int32_t j = tm_find_vs(t, v->valuestring);
        if(j < 0) {
            tm_set_open_all(&part, tm_note(t, "imported value set %s is not available",
                                           v->valuestring));
        } else if(t->vs[j].state == TM_VS_EXPANDING || depth >= TM_MAX_IMPORT_DEPTH) {
            lg_issues_add(x->issues, LG_SEV_WARNING, "processing", NULL,
                          "ValueSet %s: import of %s is cyclic or nested deeper than %d", vsurl,
                          v->valuestring, TM_MAX_IMPORT_DEPTH);
            tm_set_open_all(&part, tm_note(t, "import of %s is cyclic", v->valuestring));
        } else {
            if(expand_vs(x, j, depth + 1))
                goto fail;
            src = &t->vs[j].set; /* read in place, no copy */
        }
        if(!have) {
            if(tm_set_union(&acc, src)) {
                tm_set_free(&part);
                goto fail;
            }
            have = 1;
        } else {
            tm_set r = {0};
            if(tm_set_intersect(&acc, src, &r)) {
                tm_set_free(&r);
                tm_set_free(&part);
                goto fail;
            }
            tm_set_free(&acc);
            acc = r;
        }
        tm_set_free(&part);
    }
    if(!have) {
        lg_issues_add(x->issues, LG_SEV_WARNING, "invalid", NULL,
                      "ValueSet %s: an include or exclude has neither system nor valueSet", vsurl);
        tm_set_open_all(&acc, tm_note(t, "value set %s has an empty include", vsurl));
    }
    *out = acc;
    return 0;
fail:
    tm_set_free(&acc);
    return -1;
}

static int from_contains(lg_terminology *t, const cJSON *list, tm_set *s, int depth)
{
    const cJSON *c;
    if(depth > 64)
        return 0;
    cJSON_ArrayForEach(c, list) {
        const char *sys = str_of(c, "system"), *code = str_of(c, "code");
        if(sys && code && strlen(sys) <= LG_TERM_MAX_TEXT && strlen(code) <= LG_TERM_MAX_TEXT) {
            uint32_t sid = tm_intern_get(&t->in, sys, strlen(sys));
            if(sid == TM_NONE)
                return -1;
            int32_t ci = t->in.v[sid].cs;
            uint32_t cid;
            if(ci >= 0 && t->cs[ci].case_insensitive) {
                char low[LG_TERM_MAX_TEXT + 1];
                size_t n = tm_lower(code, low, sizeof(low));
                cid = n == (size_t)-1 ? TM_NONE : tm_intern_get(&t->in, low, n);
            } else {
                cid = tm_intern_get(&t->in, code, strlen(code));
            }
            int abstract = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "abstract"));
            if(cid != TM_NONE &&
               tm_set_add(s, sid, cid, TM_M_IN | (abstract ? TM_M_ABSTRACT : 0)))
                return -1;
        }
        if(from_contains(t, cJSON_GetObjectItemCaseSensitive(c, "contains"), s, depth + 1))
            return -1;
    }
    return 0;
}

/* an expansion we may trust as the whole set: not paged (total, when given,
 * is compared with what is listed by the caller) */
static int expansion_usable(const cJSON *exp)
{
    const cJSON *off = exp ? cJSON_GetObjectItemCaseSensitive(exp, "offset") : NULL;
    if(!exp || (off && !(cJSON_IsNumber(off) && off->valuedouble == 0)))
        return 0;
    return cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(exp, "contains"));
}

static int undecided(const tm_set *s)
{
    if(s->open_any || s->nopen || s->overflow)
        return 1;
    for(uint32_t j = 0; j < s->nslots; j++)
        if(s->slots[j].sys != TM_NONE && (s->slots[j].flags & TM_M_MAYBE))
            return 1;
    return 0;
}

static int expand_vs(seal_ctx *x, int32_t i, int depth)
{
    lg_terminology *t = x->t;
    tm_vs *vs = &t->vs[i];
    tm_set acc = {0};
    const char *url = t->in.v[vs->url].s;
    if(vs->state == TM_VS_DONE)
        return 0;
    vs->state = TM_VS_EXPANDING;
    if(vs->synth_cs >= 0) {
        const tm_cs *cs = &t->cs[vs->synth_cs];
        if(cs->content != TM_CONTENT_COMPLETE) {
            if(tm_set_open_sys(&acc, cs->url, tm_note(t, "code system %s is not available",
                                                      t->in.v[cs->url].s)))
                goto fail;
        } else {
            for(uint32_t k = 0; k < cs->n; k++)
                if(tm_set_add(&acc, cs->url, cs->c[k].code,
                              TM_M_IN | (cs->c[k].abstract ? TM_M_ABSTRACT : 0)))
                    goto fail;
        }
    } else if(vs->compose) {
        const cJSON *inc;
        cJSON_ArrayForEach(inc, cJSON_GetObjectItemCaseSensitive(vs->compose, "include")) {
            tm_set part = {0};
            if(include_set(x, url, inc, depth, &part) || tm_set_union(&acc, &part)) {
                tm_set_free(&part);
                goto fail;
            }
            tm_set_free(&part);
            vs = &t->vs[i]; /* imports never realloc t->vs, but stay honest */
        }
        cJSON_ArrayForEach(inc, cJSON_GetObjectItemCaseSensitive(vs->compose, "exclude")) {
            tm_set part = {0};
            if(include_set(x, url, inc, depth, &part) || tm_set_subtract(&acc, &part)) {
                tm_set_free(&part);
                goto fail;
            }
            tm_set_free(&part);
        }
    } else if(!vs->expansion) {
        tm_set_open_all(&acc, tm_note(t, "value set %s has neither compose nor expansion", url));
    }
    if((!vs->compose || undecided(&acc)) && expansion_usable(vs->expansion)) {
        /* the publisher's expansion decides what the compose cannot */
        tm_set e = {0};
        if(from_contains(t, cJSON_GetObjectItemCaseSensitive(vs->expansion, "contains"), &e, 0)) {
            tm_set_free(&e);
            goto fail;
        }
        const cJSON *total = cJSON_GetObjectItemCaseSensitive(vs->expansion, "total");
        if(!e.overflow && !(cJSON_IsNumber(total) && total->valuedouble > (double)e.count)) {
            tm_set_free(&acc);
            acc = e;
        } else {
            tm_set_free(&e);
        }
    }
    if(acc.overflow) {
        lg_issues_add(x->issues, LG_SEV_WARNING, "too-costly", NULL,
                      "ValueSet %s expands to more than %d codes; its membership is unknown", url,
                      LG_TERM_MAX_CODES);
        tm_set_free(&acc);
        tm_set_open_all(&acc, tm_note(t, "value set %s expands to more than %d codes", url,
                                      LG_TERM_MAX_CODES));
    }
    if(tm_set_finish(&acc))
        goto fail;
    vs->set = acc;
    vs->state = TM_VS_DONE;
    return 0;
fail:
    tm_set_free(&acc);
    x->nomem = 1;
    return -1;
}

/* CodeSystem.valueSet urls that no ValueSet claims become "all codes". */
static int synthesise(lg_terminology *t)
{
    for(uint32_t c = 0; c < t->ncs; c++) {
        uint32_t u = t->cs[c].valueset;
        if(u == TM_NONE || t->in.v[u].vs >= 0)
            continue;
        if(t->nvs == t->capvs) {
            uint32_t nc = t->capvs ? t->capvs * 2 : 256;
            tm_vs *v = realloc(t->vs, (size_t)nc * sizeof(*v));
            if(!v)
                return -1;
            t->vs = v;
            t->capvs = nc;
        }
        t->vs[t->nvs] = (tm_vs){.url = u, .prev = -1, .synth_cs = (int32_t)c};
        t->in.v[u].vs = (int32_t)t->nvs++;
        t->synthesised++;
    }
    return 0;
}

lg_status lg_terminology_seal(lg_terminology *t, lg_issues *issues)
{
    seal_ctx x = {.t = t, .issues = issues};
    if(t->sealed)
        return LG_OK;
    if(synthesise(t))
        return LG_ENOMEM;
    for(uint32_t i = 0; i < t->nvs; i++)
        if(expand_vs(&x, (int32_t)i, 0))
            return LG_ENOMEM;
    for(uint32_t i = 0; i < t->nvs; i++) {
        /* the JSON copies are no longer needed: give the memory back */
        cJSON_Delete(t->vs[i].compose);
        cJSON_Delete(t->vs[i].expansion);
        t->vs[i].compose = t->vs[i].expansion = NULL;
    }
    t->sealed = 1;
    return LG_OK;
}
