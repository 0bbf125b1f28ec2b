/* check.c - membership questions against a sealed terminology.
 *
 * This is the hot path of binding validation: called for every coded
 * element of every write, from many worker threads at once. It only reads
 * (sealed tables never change) and allocates nothing: a check is one probe
 * for the ValueSet url, one each for the system and the code strings, and
 * one in the ValueSet's member table.
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "terminology/term_internal.h"

/* cJSON_GetObjectItemCaseSensitive's answer (the first member so named;
 * the scan stops at a nameless child) as a string, with the compare
 * inline: every Coding checked asks this twice. */
static const char *str_of(const cJSON *o, const char *key)
{
    if(!o)
        return NULL;
    for(const cJSON *c = o->child; c && c->string; c = c->next) {
        const char *k = c->string;
        size_t i = 0;
        while(key[i] && k[i] == key[i])
            i++;
        if(!key[i] && !k[i])
            return (c->type & 0xFF) == cJSON_String && c->valuestring ? c->valuestring : NULL;
    }
    return NULL;
}

static const char WHY_ABSTRACT[] = "the code is abstract (not selectable) in its code system";
static const char WHY_UNDECIDED[] = "value set could not be fully expanded";

/* The interned id of code as system sys stores it (lower-cased for
 * case-insensitive systems), or TM_NONE. */
static uint32_t code_id(const lg_terminology *t, uint32_t sys, const char *code)
{
    int32_t ci = sys == TM_NONE ? -1 : t->in.v[sys].cs;
    if(ci >= 0 && t->cs[ci].case_insensitive) {
        char low[LG_TERM_MAX_TEXT + 1];
        size_t n = tm_lower(code, low, sizeof(low));
        return n == (size_t)-1 ? TM_NONE : tm_intern_find(&t->in, low, n);
    }
    return tm_intern_find(&t->in, code, strlen(code));
}

static lg_term_result set_why(const char **why, const char *text, lg_term_result r)
{
    if(why)
        *why = text;
    return r;
}

lg_term_result lg_terminology_check(const lg_terminology *t, const char *valueset,
                                    const char *system, const char *code, const char **why)
{
    if(why)
        *why = NULL;
    if(!t || !t->sealed)
        return set_why(why, "terminology is not loaded", LG_TERM_UNKNOWN);
    if(!valueset || !code)
        return set_why(why, "no value set or no code", LG_TERM_UNKNOWN);
    int32_t vi = tm_find_vs(t, valueset);
    if(vi < 0)
        return set_why(why, "value set is not available", LG_TERM_UNKNOWN);
    const tm_set *s = &t->vs[vi].set;
    const char *undecided = s->why ? s->why : WHY_UNDECIDED;

    if(system) {
        uint32_t sys = tm_intern_find(&t->in, system, strlen(system));
        const tm_member *m = sys == TM_NONE ? NULL : tm_set_find(s, sys, code_id(t, sys, code));
        if(m) {
            if(m->flags & TM_M_ABSTRACT)
                return set_why(why, WHY_ABSTRACT, LG_TERM_NOT_IN);
            if(m->flags & TM_M_MAYBE)
                return set_why(why, undecided, LG_TERM_UNKNOWN);
            return LG_TERM_IN;
        }
        /* a system nobody mentioned can still be covered by an unknown import */
        if(sys == TM_NONE ? s->open_any : tm_set_is_open(s, sys))
            return set_why(why, sys == TM_NONE ? undecided : tm_set_open_why(s, sys),
                           LG_TERM_UNKNOWN);
        return LG_TERM_NOT_IN;
    }

    /* a bare code: the ValueSet implies the system, so try each of its systems */
    int maybe = 0, abstract = 0;
    for(uint32_t i = 0; i < s->nsys; i++) {
        const tm_member *m = tm_set_find(s, s->systems[i], code_id(t, s->systems[i], code));
        if(!m)
            continue;
        if(m->flags & TM_M_ABSTRACT)
            abstract = 1;
        else if(m->flags & TM_M_MAYBE)
            maybe = 1;
        else
            return LG_TERM_IN;
    }
    if(maybe || s->open_any || s->nopen)
        return set_why(why, !maybe && !s->open_any && s->open[0].why ? s->open[0].why : undecided,
                       LG_TERM_UNKNOWN);
    if(abstract)
        return set_why(why, WHY_ABSTRACT, LG_TERM_NOT_IN);
    return LG_TERM_NOT_IN;
}

static const char *infer_type(const cJSON *node)
{
    if(cJSON_IsString(node))
        return "code";
    if(!cJSON_IsObject(node))
        return NULL;
    if(cJSON_GetObjectItemCaseSensitive(node, "coding") ||
       cJSON_GetObjectItemCaseSensitive(node, "text"))
        return "CodeableConcept";
    if(cJSON_GetObjectItemCaseSensitive(node, "value") ||
       cJSON_GetObjectItemCaseSensitive(node, "unit"))
        return "Quantity";
    return "Coding";
}

/* Coding and Quantity: a system and a code or nothing to check. */
static lg_term_result check_coded(const lg_terminology *t, const char *valueset,
                                  const cJSON *node, const char *what, const char **why)
{
    const char *sys = str_of(node, "system"), *code = str_of(node, "code");
    if(!sys || !code) {
        if(why)
            *why = !strcmp(what, "Quantity") ? "the Quantity has no coded unit (system and code)"
                                             : "the Coding has no system or no code";
        return LG_TERM_UNKNOWN;
    }
    return lg_terminology_check(t, valueset, sys, code, why);
}

lg_term_result lg_terminology_check_value(const lg_terminology *t, const char *valueset,
                                          const cJSON *node, const char *type,
                                          const char **why)
{
    if(why)
        *why = NULL;
    if(!node)
        return set_why(why, "no value", LG_TERM_UNKNOWN);
    if(!type)
        type = infer_type(node);
    if(!type)
        return set_why(why, "value is not a code, Coding or CodeableConcept", LG_TERM_UNKNOWN);
    if(!strcmp(type, "code") || !strcmp(type, "string") || !strcmp(type, "uri") ||
       !strcmp(type, "canonical") || !strcmp(type, "url") || !strcmp(type, "id")) {
        if(!cJSON_IsString(node) || !node->valuestring)
            return set_why(why, "value is not a string", LG_TERM_UNKNOWN);
        return lg_terminology_check(t, valueset, NULL, node->valuestring, why);
    }
    if(!cJSON_IsObject(node))
        return set_why(why, "value is not an object", LG_TERM_UNKNOWN);
    if(!strcmp(type, "Coding") || !strcmp(type, "Quantity"))
        return check_coded(t, valueset, node, type, why);
    if(!strcmp(type, "CodeableConcept")) {
        const cJSON *c;
        const char *first_unknown = NULL, *first_not = NULL;
        int unknown = 0, any = 0;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(node, "coding")) {
            const char *w = NULL;
            if(!cJSON_IsObject(c))
                continue;
            any = 1;
            lg_term_result r = check_coded(t, valueset, c, "Coding", &w);
            if(r == LG_TERM_IN)
                return LG_TERM_IN;
            if(r == LG_TERM_UNKNOWN && !unknown) {
                unknown = 1;
                first_unknown = w;
            }
            if(r == LG_TERM_NOT_IN && !first_not)
                first_not = w;
        }
        if(unknown)
            return set_why(why, first_unknown, LG_TERM_UNKNOWN);
        if(!any)
            return set_why(why, "no coding", LG_TERM_NOT_IN);
        return set_why(why, first_not, LG_TERM_NOT_IN);
    }
    return set_why(why, "type cannot be bound to a value set", LG_TERM_UNKNOWN);
}

int lg_terminology_member_of(void *t, const cJSON *node, const char *type, const char *valueset)
{
    switch(lg_terminology_check_value(t, valueset, node, type, NULL)) {
    case LG_TERM_IN: return 1;
    case LG_TERM_NOT_IN: return 0;
    default: return -1;
    }
}

void lg_terminology_stats_get(const lg_terminology *t, lg_terminology_stats *out)
{
    memset(out, 0, sizeof(*out));
    size_t bytes = sizeof(*t);
    bytes += (size_t)t->in.cap * sizeof(tm_str) + (size_t)t->in.nslots * sizeof(uint32_t);
    for(uint32_t i = 0; i < t->in.n; i++)
        bytes += t->in.v[i].len + 1;
    bytes += (size_t)t->capcs * sizeof(tm_cs);
    for(uint32_t i = 0; i < t->ncs; i++) {
        const tm_cs *cs = &t->cs[i];
        out->codesystems++;
        if(cs->content == TM_CONTENT_COMPLETE)
            out->codesystems_complete++;
        out->concepts += cs->n;
        bytes += (size_t)cs->cap * sizeof(tm_concept) + (size_t)cs->nslots * sizeof(uint32_t);
        for(uint32_t k = 0; k < cs->n; k++)
            bytes += ((size_t)cs->c[k].capkids + cs->c[k].capparents) * sizeof(uint32_t) +
                     (size_t)cs->c[k].capprops * sizeof(tm_prop);
    }
    bytes += (size_t)t->capvs * sizeof(tm_vs);
    out->vs_synthesised = t->synthesised;
    for(uint32_t i = 0; i < t->nvs; i++) {
        const tm_vs *vs = &t->vs[i];
        const tm_set *s = &vs->set;
        bytes += tm_set_bytes(s) + (vs->version ? strlen(vs->version) + 1 : 0);
        out->members += s->count;
        if(vs->synth_cs >= 0)
            continue; /* counted in vs_synthesised only */
        out->valuesets++;
        if(!t->sealed)
            continue;
        int maybe = 0;
        for(uint32_t j = 0; j < s->nslots && !maybe; j++)
            maybe = s->slots[j].sys != TM_NONE && (s->slots[j].flags & TM_M_MAYBE);
        if(!s->open_any && !s->nopen && !maybe)
            out->vs_complete++;
        else if(s->count)
            out->vs_partial++;
        else
            out->vs_unknown++;
    }
    out->bytes = bytes;
}
