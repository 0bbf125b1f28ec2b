/* profile.c - compiles StructureDefinition snapshots into lg_profile
 * element trees (profile.h) and keeps them in an index by canonical URL.
 *
 * Snapshots list elements depth first, so a stack of open ancestors finds
 * each element's parent from its id ("A.b:s.c" -> "A.b:s"). A slice
 * ("A.b:s") is attached to the sliced element ("A.b"), not to the parent's
 * children, because the walker collects an element's values once and then
 * sorts them into slices. What identifies a slice (the fixed or pattern value
 * at the discriminator path, its type, its extension url) is computed here,
 * once, so matching a value at validation time is a comparison.
 *
 * Constraints are interned by (key, expression): ext-1 or dom-2 appear on
 * thousands of elements and are compiled once. ele-1 ("All FHIR elements
 * must have a @value or children") is not attached: the base structure
 * check rejects empty objects and nulls natively, much faster.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/fhirpath.h"
#include "defs/pset.h"

#define SYSTEM_PREFIX "http://hl7.org/fhirpath/System."
#define FHIR_TYPE_EXT "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
#define BASE_PREFIX "http://hl7.org/fhir/StructureDefinition/"
#define MAX_DEPTH 64 /* element nesting in one snapshot */

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

size_t lg_canon_len(const char *url)
{
    const char *bar = strchr(url, '|');
    return bar ? (size_t)(bar - url) : strlen(url);
}

static uint64_t hash_n(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for(size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

lg_status lg_pset_init(lg_defs *d)
{
    if(d->profiles)
        return LG_OK;
    d->profiles = calloc(1, sizeof(*d->profiles));
    return d->profiles ? LG_OK : LG_ENOMEM;
}

/* ---- the url index ---- */

static const lg_profile **slot_for(const struct lg_profile_set *s, const char *url, size_t n)
{
    size_t mask = s->nslots - 1;
    for(size_t i = hash_n(url, n) & mask;; i = (i + 1) & mask) {
        const lg_profile *p = s->slots[i];
        if(!p || (strlen(p->url) == n && memcmp(p->url, url, n) == 0))
            return &s->slots[i];
    }
}

static lg_status index_add(struct lg_profile_set *s, const lg_profile *p)
{
    if((s->n + 1) * 2 > s->nslots) {
        size_t ns = s->nslots ? s->nslots * 2 : 1024;
        while((s->n + 1) * 2 > ns)
            ns *= 2;
        const lg_profile **slots = calloc(ns, sizeof(*slots));
        if(!slots)
            return LG_ENOMEM;
        const lg_profile **old = s->slots;
        size_t oldn = s->nslots;
        s->slots = slots;
        s->nslots = ns;
        for(size_t i = 0; i < oldn; i++)
            if(old[i])
                *slot_for(s, old[i]->url, strlen(old[i]->url)) = old[i];
        free(old);
    }
    *slot_for(s, p->url, strlen(p->url)) = p;
    return LG_OK;
}

const lg_profile *lg_defs_profile(const lg_defs *d, const char *url)
{
    if(!d || !d->profiles || !d->profiles->nslots || !url)
        return NULL;
    return *slot_for(d->profiles, url, lg_canon_len(url));
}

const lg_profile *lg_defs_base_profile(const lg_defs *d, const char *type)
{
    /* no printf: the walker asks this for every contained and entry resource */
    char url[256];
    size_t plen = sizeof(BASE_PREFIX) - 1, tlen = type ? strlen(type) : 0;
    if(!type || plen + tlen >= sizeof(url))
        return NULL;
    memcpy(url, BASE_PREFIX, plen);
    memcpy(url + plen, type, tlen + 1);
    return lg_defs_profile(d, url);
}

size_t lg_defs_profile_count(const lg_defs *d)
{
    return d && d->profiles ? d->profiles->n : 0;
}

/* ---- interned constraints ---- */

/* The R4 invariants the validator decides natively when it can
 * (lg_pshortcut): only these exact expressions, so a profile that reuses a
 * key with its own expression is evaluated as written. */
static const struct {
    const char *key, *expr;
    lg_pshortcut kind;
} shortcuts[] = {
    {"ref-1", "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
              "%rootResource.contained.id.trace('ids'))", LG_PSC_REF1},
    {"dom-2", "contained.contained.empty()", LG_PSC_DOM2},
    {"dom-4", "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
     LG_PSC_DOM4},
    {"dom-5", "contained.meta.security.empty()", LG_PSC_DOM5},
    {"dom-6", "text.`div`.exists()", LG_PSC_DOM6},
    {"bdl-8", "fullUrl.exists() implies fullUrl.contains('/_history/').not()", LG_PSC_BDL8},
    {"bdl-5", "resource.exists() or request.exists() or response.exists()", LG_PSC_BDL5},
    {"cmd-1", "comment.exists() or equivalence.empty() or ((equivalence != 'narrower') and "
              "(equivalence != 'inexact'))", LG_PSC_CMD1},
    {"cpt-2", "value.empty() or system.exists()", LG_PSC_CPT2},
    {"qty-3", "code.empty() or system.exists()", LG_PSC_QTY3},
    {"obs-6", "dataAbsentReason.empty() or value.empty()", LG_PSC_OBS6},
    {"obs-7", "value.empty() or component.code.where(coding.intersect(%resource.code.coding)."
              "exists()).empty()", LG_PSC_OBS7},
    {"per-1", "start.hasValue().not() or end.hasValue().not() or (start <= end)", LG_PSC_PER1},
    {"bdl-3", "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = "
              "'transaction' or %resource.type = 'history'))", LG_PSC_BDL3},
    {"bdl-4", "entry.all(response.exists() = (%resource.type = 'batch-response' or "
              "%resource.type = 'transaction-response' or %resource.type = 'history'))",
     LG_PSC_BDL4},
    {"bdl-7", "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta."
              "versionId).isDistinct()", LG_PSC_BDL7},
    {"txt-1", "htmlChecks()", LG_PSC_HTML},
    {"txt-2", "htmlChecks()", LG_PSC_HTML},
    {"ext-1", "extension.exists() != value.exists()", LG_PSC_EXT1},
};

static const lg_pconstraint *intern_constraint(struct lg_profile_set *s, const cJSON *c,
                                               lg_status *st)
{
    const char *key = str_of(c, "key"), *expr = str_of(c, "expression");
    const char *sev = str_of(c, "severity"), *human = str_of(c, "human");
    *st = LG_OK;
    if(!key || !expr)
        return NULL; /* xpath-only constraints: nothing we can evaluate */
    if(s->ncons + 1 > s->capcons / 2) {
        size_t ncap = s->capcons ? s->capcons * 2 : 1024;
        lg_pconstraint **nc = calloc(ncap, sizeof(*nc));
        if(!nc) {
            *st = LG_ENOMEM;
            return NULL;
        }
        for(size_t i = 0; i < s->capcons; i++) {
            lg_pconstraint *o = s->cons[i];
            if(!o)
                continue;
            size_t k = (hash_n(o->key, strlen(o->key)) ^ hash_n(o->expression, strlen(o->expression))) &
                       (ncap - 1);
            while(nc[k])
                k = (k + 1) & (ncap - 1);
            nc[k] = o;
        }
        free(s->cons);
        s->cons = nc;
        s->capcons = ncap;
    }
    size_t mask = s->capcons - 1;
    size_t k = (hash_n(key, strlen(key)) ^ hash_n(expr, strlen(expr))) & mask;
    for(; s->cons[k]; k = (k + 1) & mask) {
        const lg_pconstraint *o = s->cons[k];
        if(strcmp(o->key, key) == 0 && strcmp(o->expression, expr) == 0)
            return o;
    }
    lg_pconstraint *n = calloc(1, sizeof(*n));
    if(!n || !(n->key = strdup(key)) || !(n->expression = strdup(expr)) ||
       !(n->human = strdup(human ? human : key))) {
        if(n) {
            free(n->key);
            free(n->expression);
            free(n);
        }
        *st = LG_ENOMEM;
        return NULL;
    }
    n->severity = sev && strcmp(sev, "warning") == 0 ? LG_SEV_WARNING : LG_SEV_ERROR;
    n->is_dom3 = strcmp(key, "dom-3") == 0;
    for(size_t i = 0; i < sizeof(shortcuts) / sizeof(*shortcuts); i++)
        if(strcmp(key, shortcuts[i].key) == 0 && strcmp(expr, shortcuts[i].expr) == 0)
            n->shortcut = shortcuts[i].kind;
    lg_issues ignored = {0};
    /* An expression our engine cannot parse is skipped rather than failing
     * the load: the profile's other rules still apply. */
    if(lg_fhirpath_compile(expr, &n->expr, &ignored) != LG_OK)
        n->expr = NULL;
    lg_issues_free(&ignored);
    s->cons[k] = n;
    s->ncons++;
    return n;
}

/* ---- nodes ---- */

static void free_node(lg_pnode *n)
{
    if(!n)
        return;
    free(n->id);
    free(n->name);
    free(n->slice_name);
    cJSON_Delete(n->fixed);
    free(n->fixed_type);
    for(size_t i = 0; i < n->ntypes; i++) {
        lg_ptype *t = &n->types[i];
        free(t->code);
        for(size_t k = 0; k < t->nprofiles; k++)
            free(t->profiles[k]);
        for(size_t k = 0; k < t->ntargets; k++)
            free(t->targets[k]);
        free(t->profiles);
        free((void *)t->profile_defs);
        free(t->targets);
        free((void *)t->target_defs);
    }
    free(n->types);
    free((void *)n->constraints);
    free(n->valueset);
    for(size_t i = 0; i < n->nkids; i++)
        free_node(n->kids[i]);
    free(n->kids);
    free(n->kid_slots);
    free(n->empty_kids);
    for(size_t i = 0; i < n->ndiscs; i++)
        free(n->discs[i].path);
    free(n->discs);
    for(size_t i = 0; i < n->nslices; i++)
        free_node(n->slices[i]);
    free(n->slices);
    if(n->disc_values)
        for(size_t i = 0; n->disc_values[i].known >= 0; i++)
            cJSON_Delete(n->disc_values[i].owned);
    free(n->disc_values);
    free(n);
}

static void free_profile(lg_profile *p)
{
    if(!p)
        return;
    free(p->url);
    free(p->version);
    free(p->name);
    free(p->type);
    free(p->base);
    free(p->package);
    free_node(p->root);
    free(p);
}

static lg_status push_ptr(void ***arr, size_t *n, void *p)
{
    void **a = realloc(*arr, (*n + 1) * sizeof(*a));
    if(!a)
        return LG_ENOMEM;
    a[(*n)++] = p;
    *arr = a;
    return LG_OK;
}

static unsigned parse_max(const char *m)
{
    if(!m || strcmp(m, "*") == 0)
        return UINT_MAX;
    char *end;
    unsigned long v = strtoul(m, &end, 10);
    return *end || v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

static unsigned num_of(const cJSON *o, const char *key, unsigned dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (unsigned)v->valuedouble : dflt;
}

static lg_status str_array(const cJSON *arr, char ***out, size_t *n)
{
    int cnt = cJSON_GetArraySize(arr);
    *out = NULL;
    *n = 0;
    if(cnt <= 0)
        return LG_OK;
    if(!(*out = calloc((size_t)cnt, sizeof(**out))))
        return LG_ENOMEM;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if(!cJSON_IsString(v))
            continue;
        if(!((*out)[*n] = strndup(v->valuestring, lg_canon_len(v->valuestring))))
            return LG_ENOMEM;
        (*n)++;
    }
    return LG_OK;
}

static lg_status fill_types(lg_pnode *n, const cJSON *el)
{
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(el, "type"), *ty;
    int cnt = cJSON_GetArraySize(types);
    if(cnt <= 0)
        return LG_OK;
    if(!(n->types = calloc((size_t)cnt, sizeof(*n->types))))
        return LG_ENOMEM;
    cJSON_ArrayForEach(ty, types) {
        const char *code = str_of(ty, "code");
        if(!code)
            continue;
        if(strncmp(code, SYSTEM_PREFIX, strlen(SYSTEM_PREFIX)) == 0) {
            const cJSON *e;
            const char *ft = NULL;
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(ty, "extension")) {
                const char *u = str_of(e, "url");
                if(u && strcmp(u, FHIR_TYPE_EXT) == 0)
                    ft = str_of(e, "valueUrl");
            }
            code = ft ? ft : "string";
        }
        lg_ptype *t = &n->types[n->ntypes++];
        if(!(t->code = strdup(code)))
            return LG_ENOMEM;
        if(str_array(cJSON_GetObjectItemCaseSensitive(ty, "profile"), &t->profiles, &t->nprofiles) ||
           str_array(cJSON_GetObjectItemCaseSensitive(ty, "targetProfile"), &t->targets,
                     &t->ntargets))
            return LG_ENOMEM;
        if(t->nprofiles && !(t->profile_defs = calloc(t->nprofiles, sizeof(*t->profile_defs))))
            return LG_ENOMEM;
        if(t->ntargets && !(t->target_defs = calloc(t->ntargets, sizeof(*t->target_defs))))
            return LG_ENOMEM;
        t->extension = strcmp(t->code, "Extension") == 0;
    }
    return LG_OK;
}

static lg_status fill_node(struct lg_profile_set *s, lg_pnode *n, const cJSON *el,
                           const char *last_path_seg)
{
    lg_status st;
    size_t len = strlen(last_path_seg);
    if(len > 3 && strcmp(last_path_seg + len - 3, "[x]") == 0) {
        n->choice = 1;
        len -= 3;
    }
    if(!(n->name = strndup(last_path_seg, len)))
        return LG_ENOMEM;
    n->min = num_of(el, "min", 0);
    n->max = parse_max(str_of(el, "max"));
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(el, "base");
    n->base_min = base ? num_of(base, "min", 0) : n->min;
    n->base_max = base ? parse_max(str_of(base, "max")) : n->max;
    for(const cJSON *k = el->child; k; k = k->next) {
        int pat = strncmp(k->string, "pattern", 7) == 0;
        if(!pat && strncmp(k->string, "fixed", 5) != 0)
            continue;
        if(!(n->fixed = cJSON_Duplicate(k, 1)) ||
           !(n->fixed_type = strdup(k->string + (pat ? 7 : 5))))
            return LG_ENOMEM;
        n->is_pattern = pat;
        break;
    }
    if((st = fill_types(n, el)))
        return st;
    for(size_t i = 0; i < n->ntypes; i++)
        if(n->types[i].ntargets && strcmp(n->types[i].code, "Reference") == 0)
            n->reference = &n->types[i];
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(el, "constraint")) {
        const char *key = str_of(c, "key");
        if(key && strcmp(key, "ele-1") == 0)
            continue;
        const lg_pconstraint *pc = intern_constraint(s, c, &st);
        if(st)
            return st;
        if(pc && push_ptr((void ***)&n->constraints, &n->nconstraints, (void *)pc))
            return LG_ENOMEM;
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(el, "binding");
    const char *strength = str_of(b, "strength"), *vs = str_of(b, "valueSet");
    if(strength) {
        n->binding = !strcmp(strength, "required")     ? LG_BIND_REQUIRED
                     : !strcmp(strength, "extensible") ? LG_BIND_EXTENSIBLE
                     : !strcmp(strength, "preferred")  ? LG_BIND_PREFERRED
                                                       : LG_BIND_EXAMPLE;
        if(vs && !(n->valueset = strndup(vs, lg_canon_len(vs))))
            return LG_ENOMEM;
    }
    const cJSON *sl = cJSON_GetObjectItemCaseSensitive(el, "slicing");
    if(sl) {
        n->sliced = 1;
        const char *rules = str_of(sl, "rules");
        n->rules = rules && !strcmp(rules, "closed")       ? LG_SLICE_CLOSED
                   : rules && !strcmp(rules, "openAtEnd") ? LG_SLICE_OPEN_AT_END
                                                           : LG_SLICE_OPEN;
        n->ordered = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sl, "ordered"));
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(sl, "discriminator"), *di;
        int cnt = cJSON_GetArraySize(dl);
        if(cnt > 0 && !(n->discs = calloc((size_t)cnt, sizeof(*n->discs))))
            return LG_ENOMEM;
        cJSON_ArrayForEach(di, dl) {
            const char *ty = str_of(di, "type"), *path = str_of(di, "path");
            if(!ty || !path)
                continue;
            lg_pdisc *d = &n->discs[n->ndiscs];
            d->type = !strcmp(ty, "value")     ? LG_DISC_VALUE
                      : !strcmp(ty, "pattern") ? LG_DISC_PATTERN
                      : !strcmp(ty, "type")    ? LG_DISC_TYPE
                      : !strcmp(ty, "profile") ? LG_DISC_PROFILE
                                               : LG_DISC_EXISTS;
            if(!(d->path = strdup(path)))
                return LG_ENOMEM;
            n->ndiscs++;
        }
    }
    return LG_OK;
}

static const lg_pnode *find_id(const lg_pnode *n, const char *id)
{
    if(!n)
        return NULL;
    if(strcmp(n->id, id) == 0)
        return n;
    for(size_t i = 0; i < n->nkids; i++) {
        const lg_pnode *r = find_id(n->kids[i], id);
        if(r)
            return r;
    }
    for(size_t i = 0; i < n->nslices; i++) {
        const lg_pnode *r = find_id(n->slices[i], id);
        if(r)
            return r;
    }
    return NULL;
}

const lg_pnode *lg_profile_node(const lg_profile *p, const char *id)
{
    return p && id ? find_id(p->root, id) : NULL;
}

static const lg_pnode *kid_named(const lg_pnode *n, const char *name)
{
    for(size_t i = 0; i < n->nkids; i++)
        if(strcmp(n->kids[i]->name, name) == 0)
            return n->kids[i];
    return NULL;
}

/* The node a discriminator path leads to from a slice: "$this", or dotted
 * element names ("coding.code"). NULL when the slice does not define it. */
static const lg_pnode *disc_target(const lg_pnode *slice, const char *path)
{
    if(strcmp(path, "$this") == 0)
        return slice;
    const lg_pnode *n = slice;
    char seg[128];
    const char *p = path;
    while(n && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if(len == 0 || len >= sizeof(seg) || memchr(p, '(', len))
            return NULL; /* functions (extension('..'), resolve()) are handled by the caller */
        memcpy(seg, p, len);
        seg[len] = '\0';
        n = kid_named(n, seg);
        p += len + (dot ? 1 : 0);
    }
    return n;
}

/* When the slice fixes a whole value higher up (patternCodeableConcept on
 * the slice, discriminator path "coding"), the discriminator's value is
 * the part of that value the rest of the path selects. */
static const cJSON *disc_json(const lg_pnode *slice, const char *path, int *pattern)
{
    const lg_pnode *n = slice;
    const cJSON *j = NULL;
    char seg[128];
    const char *p = path;
    while(*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if(len == 0 || len >= sizeof(seg) || memchr(p, '(', len))
            return NULL;
        memcpy(seg, p, len);
        seg[len] = '\0';
        if(!j && n && n->fixed) {
            j = n->fixed;
            *pattern = n->is_pattern;
        }
        if(j) {
            if(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1)
                j = j->child;
            j = cJSON_GetObjectItemCaseSensitive(j, seg);
            if(!j)
                return NULL;
        } else {
            n = n ? kid_named(n, seg) : NULL;
            if(!n)
                return NULL;
        }
        p += len + (dot ? 1 : 0);
    }
    return j;
}

static lg_status slice_values(lg_pnode *sliced)
{
    for(size_t i = 0; i < sliced->nslices; i++) {
        lg_pnode *sl = sliced->slices[i];
        /* one extra entry with known = -1 ends the array for free_node */
        if(!(sl->disc_values = calloc(sliced->ndiscs + 1, sizeof(*sl->disc_values))))
            return LG_ENOMEM;
        sl->disc_values[sliced->ndiscs].known = -1;
        for(size_t k = 0; k < sliced->ndiscs; k++) {
            const lg_pdisc *d = &sliced->discs[k];
            lg_pdisc_value *v = &sl->disc_values[k];
            const lg_pnode *t = disc_target(sl, d->path);
            v->exists = -1;
            switch(d->type) {
            case LG_DISC_VALUE:
            case LG_DISC_PATTERN:
                if(t && t->fixed) {
                    v->value = t->fixed;
                    v->pattern = t->is_pattern || d->type == LG_DISC_PATTERN;
                    v->known = 1;
                } else if((v->value = disc_json(sl, d->path, &v->pattern))) {
                    v->pattern = v->pattern || d->type == LG_DISC_PATTERN;
                    v->known = 1;
                } else if(strcmp(d->path, "url") == 0 && sl->ntypes == 1 &&
                          sl->types[0].nprofiles == 1) {
                    /* an extension slice names its definition; the url is that */
                    if(!(v->owned = cJSON_CreateString(sl->types[0].profiles[0])))
                        return LG_ENOMEM;
                    v->value = v->owned;
                    v->known = 1;
                }
                break;
            case LG_DISC_TYPE:
                if(t && t->ntypes == 1) {
                    v->type = t->types[0].code;
                    v->known = 1;
                } else if(t && t->sliced && t->nslices == 1 && t->slices[0]->ntypes == 1) {
                    /* value[x] left wide but type-sliced to one type
                     * ("value[x]:valueReference"): that type */
                    v->type = t->slices[0]->types[0].code;
                    v->known = 1;
                }
                break;
            case LG_DISC_PROFILE:
                /* "$this" or "resolve()": the slice's type profiles */
                if(sl->ntypes >= 1 && strcmp(d->path, "$this") == 0 && sl->types[0].nprofiles) {
                    v->profile_type = &sl->types[0];
                    v->known = 1;
                } else if(sl->ntypes >= 1 && strstr(d->path, "resolve()") &&
                          sl->types[0].ntargets) {
                    v->profile_type = &sl->types[0];
                    v->resolve = 1;
                    v->known = 1;
                }
                break;
            case LG_DISC_EXISTS:
                if(t) {
                    v->exists = t->min > 0 ? 1 : t->max == 0 ? 0 : -1;
                    v->known = v->exists >= 0;
                }
                break;
            }
        }
    }
    return LG_OK;
}

/* The kids by name, so that the walker finds a JSON member's element with
 * one probe instead of comparing it with every kid. */
static lg_status index_kids(lg_pnode *n)
{
    if(!n->nkids)
        return LG_OK;
    size_t cap = 8;
    while(cap < n->nkids * 2)
        cap *= 2;
    if(!(n->kid_slots = calloc(cap, sizeof(*n->kid_slots))))
        return LG_ENOMEM;
    n->nkid_slots = cap;
    for(size_t i = 0; i < n->nkids; i++) {
        uint32_t h = LG_PNAME_HASH_INIT;
        for(const char *c = n->kids[i]->name; *c; c++)
            h = lg_pname_hash_step(h, *c);
        size_t k = h & (cap - 1);
        while(n->kid_slots[k].index1)
            k = (k + 1) & (cap - 1);
        lg_name_slot_set(&n->kid_slots[k], i, n->kids[i]->name, n->kids[i]->choice);
        n->choice_kids |= n->kids[i]->choice;
    }
    for(size_t i = 0; i < n->nkids; i++) {
        const lg_pnode *kid = n->kids[i];
        int need = kid->min > kid->base_min;
        for(size_t k = 0; k < kid->nslices && !need; k++)
            need = kid->slices[k]->min > 0;
        if(!need)
            continue;
        if(!n->empty_kids && !(n->empty_kids = calloc(n->nkids, sizeof(*n->empty_kids))))
            return LG_ENOMEM;
        n->empty_kids[n->nempty_kids++] = (uint32_t)i;
    }
    return LG_OK;
}

static lg_status finish_nodes(lg_pnode *n, const lg_pnode *root)
{
    lg_status st;
    if((st = index_kids(n)))
        return st;
    if(n->nslices && !n->sliced) {
        /* slices without slicing (some generated snapshots): extensions
         * are sliced by url (the spec's default), anything else open
         * with no discriminator */
        n->sliced = 1;
        n->rules = LG_SLICE_OPEN;
        if(!strcmp(n->name, "extension") || !strcmp(n->name, "modifierExtension")) {
            if(!(n->discs = calloc(1, sizeof(*n->discs))) || !(n->discs[0].path = strdup("url")))
                return LG_ENOMEM;
            n->discs[0].type = LG_DISC_VALUE;
            n->ndiscs = 1;
        }
    }
    if(n->sliced && (st = slice_values(n)))
        return st;
    for(size_t i = 0; i < n->nkids; i++)
        if((st = finish_nodes(n->kids[i], root)))
            return st;
    for(size_t i = 0; i < n->nslices; i++)
        if((st = finish_nodes(n->slices[i], root)))
            return st;
    return LG_OK;
}

lg_status lg_pset_add(lg_defs *d, const cJSON *sd, const char *pkg, lg_issues *issues)
{
    struct lg_profile_set *s = d->profiles;
    const char *url = str_of(sd, "url"), *type = str_of(sd, "type");
    const char *kind = str_of(sd, "kind"), *der = str_of(sd, "derivation");
    const cJSON *elems = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(sd, "snapshot"), "element");
    lg_profile *p = NULL;
    lg_pnode *stack[MAX_DEPTH];
    size_t depth = 0;
    lg_status st = LG_ENOMEM;
    if(!url || !type || (kind && strcmp(kind, "logical") == 0))
        return LG_OK;
    if(!cJSON_IsArray(elems) || !elems->child) {
        lg_issues_add(issues, LG_SEV_WARNING, "not-supported", NULL,
                      "StructureDefinition %s (%s) in %s has no snapshot; it is not loaded "
                      "(snapshot generation is not supported)",
                      str_of(sd, "name") ? str_of(sd, "name") : "?", url, pkg);
        return LG_OK;
    }
    if(lg_defs_profile(d, url)) {
        lg_issues_add(issues, LG_SEV_WARNING, "duplicate", NULL,
                      "StructureDefinition %s is defined again in %s; the first one is kept", url,
                      pkg);
        return LG_OK;
    }
    if(!(p = calloc(1, sizeof(*p))))
        goto fail;
    if(!(p->url = strndup(url, lg_canon_len(url))) || !(p->type = strdup(type)) ||
       !(p->package = strdup(pkg)))
        goto fail;
    if((str_of(sd, "version") && !(p->version = strdup(str_of(sd, "version")))) ||
       (str_of(sd, "name") && !(p->name = strdup(str_of(sd, "name")))) ||
       (str_of(sd, "baseDefinition") && !(p->base = strdup(str_of(sd, "baseDefinition")))))
        goto fail;
    p->constraint = der && strcmp(der, "constraint") == 0;
    p->is_extension = strcmp(type, "Extension") == 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, elems) {
        const char *id = str_of(el, "id"), *path = str_of(el, "path");
        if(!id)
            id = path;
        if(!id || !path)
            continue;
        const char *pdot = strrchr(path, '.');
        lg_pnode *n = calloc(1, sizeof(*n));
        if(!n || !(n->id = strdup(id))) {
            free(n);
            goto fail;
        }
        if(!pdot) {
            /* the root element */
            if(p->root) {
                free_node(n);
                continue;
            }
            if((st = fill_node(s, n, el, path))) {
                free_node(n);
                goto fail;
            }
            p->root = n;
            stack[0] = n;
            depth = 1;
            continue;
        }
        const char *idot = strrchr(id, '.');
        size_t plen = idot ? (size_t)(idot - id) : 0;
        while(depth > 0 && !(strlen(stack[depth - 1]->id) == plen &&
                             strncmp(stack[depth - 1]->id, id, plen) == 0))
            depth--;
        if(depth == 0 || depth >= MAX_DEPTH) {
            free_node(n);
            depth = p->root ? 1 : 0;
            if(p->root)
                stack[0] = p->root;
            continue; /* outside the tree we can place: ignored */
        }
        lg_pnode *parent = stack[depth - 1];
        if((st = fill_node(s, n, el, pdot + 1))) {
            free_node(n);
            goto fail;
        }
        const char *colon = strchr(idot + 1, ':');
        const char *slice = str_of(el, "sliceName");
        if(colon) {
            /* a slice: attach to the sliced element, a sibling of the same name */
            lg_pnode *base = NULL;
            for(size_t i = parent->nkids; i-- > 0;)
                if(strcmp(parent->kids[i]->name, n->name) == 0) {
                    base = parent->kids[i];
                    break;
                }
            const char *sn = slice ? slice : colon + 1;
            if(!base || !(n->slice_name = strdup(sn)) ||
               push_ptr((void ***)&base->slices, &base->nslices, n)) {
                free_node(n);
                if(!base)
                    continue;
                goto fail;
            }
        } else if(push_ptr((void ***)&parent->kids, &parent->nkids, n)) {
            free_node(n);
            goto fail;
        }
        stack[depth++] = n;
        const char *cref = str_of(el, "contentReference");
        if(cref) {
            /* the referenced element comes earlier in the snapshot */
            const char *hash = strchr(cref, '#');
            n->content_ref = find_id(p->root, hash ? hash + 1 : cref);
        }
    }
    if(!p->root) {
        st = LG_OK;
        goto fail;
    }
    if((st = finish_nodes(p->root, p->root)))
        goto fail;
    st = LG_ENOMEM;
    if(push_ptr((void ***)&s->items, &s->n, p))
        goto fail;
    if(index_add(s, p)) {
        s->n--;
        goto fail;
    }
    return LG_OK;
fail:
    free_profile(p);
    return st;
}

static void link_node(const lg_defs *d, lg_pnode *n)
{
    for(size_t i = 0; i < n->ntypes; i++) {
        lg_ptype *t = &n->types[i];
        for(size_t k = 0; k < t->nprofiles; k++)
            t->profile_defs[k] = lg_defs_profile(d, t->profiles[k]);
        for(size_t k = 0; k < t->ntargets; k++)
            t->target_defs[k] = lg_defs_profile(d, t->targets[k]);
        /* primitives have nothing below them worth walking */
        if(t->code[0] >= 'A' && t->code[0] <= 'Z')
            t->type_def = lg_defs_base_profile(d, t->code);
    }
    for(size_t i = 0; i < n->nkids; i++)
        link_node(d, n->kids[i]);
    for(size_t i = 0; i < n->nslices; i++)
        link_node(d, n->slices[i]);
}

/* Whether checking a value against n can report anything (see lg_pnode.work),
 * from the current flags of the nodes and types below. Returns 1 when a flag
 * changed. The type graph has cycles (Identifier.assigner is a Reference,
 * Reference.identifier an Identifier; contentReference), so lg_pset_link
 * repeats this until nothing changes: flags only ever go from 0 to 1. */
static int mark_work(const lg_defs *d, lg_pnode *n)
{
    int changed = 0;
    for(size_t i = 0; i < n->nkids; i++)
        changed |= mark_work(d, n->kids[i]);
    for(size_t i = 0; i < n->nslices; i++)
        changed |= mark_work(d, n->slices[i]);
    int work = n->fixed || n->reference || n->nconstraints ||
               (n->binding >= LG_BIND_EXTENSIBLE && n->valueset);
    const lg_pnode *kids = n->nkids ? n : n->content_ref;
    if(kids && kids->nkids) {
        for(size_t i = 0; i < kids->nkids && !work; i++)
            work = kids->kids[i]->kid_work;
    } else {
        /* what descend() walks: a contained or entry resource, an
         * extension's definition (found by url), a type profile, or the
         * type's base definition */
        for(size_t i = 0; i < n->ntypes && !work; i++) {
            const lg_ptype *t = &n->types[i];
            if(t->extension || !strcmp(t->code, "Resource") || lg_defs_is_resource_type(d, t->code)) {
                work = 1;
                break;
            }
            const lg_profile *p = NULL;
            for(size_t k = 0; k < t->nprofiles && !p; k++)
                p = t->profile_defs[k];
            if(!p)
                p = t->type_def;
            work = p && p->root != n && p->root->work;
        }
    }
    int kid_work = work || n->choice || n->min > n->base_min || n->max < n->base_max ||
                   (n->sliced && n->nslices);
    for(size_t i = 0; i < n->nslices && !kid_work; i++)
        kid_work = n->slices[i]->work;
    if(work != n->work || kid_work != n->kid_work)
        changed = 1;
    n->work = work;
    n->kid_work = kid_work;
    return changed;
}

static void clear_work(lg_pnode *n)
{
    n->work = n->kid_work = 0;
    for(size_t i = 0; i < n->nkids; i++)
        clear_work(n->kids[i]);
    for(size_t i = 0; i < n->nslices; i++)
        clear_work(n->slices[i]);
}

void lg_pset_link(lg_defs *d)
{
    if(!d->profiles)
        return;
    for(size_t i = 0; i < d->profiles->n; i++)
        link_node(d, d->profiles->items[i]->root);
    /* a newly loaded package may link types differently: start over */
    for(size_t i = 0; i < d->profiles->n; i++)
        clear_work(d->profiles->items[i]->root);
    for(int changed = 1; changed;) {
        changed = 0;
        for(size_t i = 0; i < d->profiles->n; i++)
            changed |= mark_work(d, d->profiles->items[i]->root);
    }
}

void lg_pset_free(lg_defs *d)
{
    struct lg_profile_set *s = d->profiles;
    if(!s)
        return;
    for(size_t i = 0; i < s->n; i++)
        free_profile(s->items[i]);
    free(s->items);
    free(s->slots);
    for(size_t i = 0; i < s->capcons; i++) {
        lg_pconstraint *c = s->cons[i];
        if(!c)
            continue;
        lg_fhirpath_free(c->expr);
        free(c->key);
        free(c->human);
        free(c->expression);
        free(c);
    }
    free(s->cons);
    free(s);
    d->profiles = NULL;
}
