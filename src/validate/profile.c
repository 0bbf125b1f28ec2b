/* profile.c - validation of a resource against StructureDefinitions
 * (profiles, extensions, and the base definitions) compiled into lg_pnode
 * trees by the defs layer.
 *
 * The walk follows the data: for each element definition of the current
 * node, the values the JSON holds for it are collected once, counted against
 * min/max, sorted into slices by the discriminators' precomputed values, and
 * each value is checked (fixed/pattern, reference targets, invariants) and
 * walked further: into the node's own children when the profile lists them,
 * else into the definition of the value's extension (by url) or type. The
 * base structure check (structure.c) has already vouched for names, JSON
 * shapes and base cardinalities, so here cardinality is reported only where
 * a profile is tighter than the base, and unknown names are ignored.
 *
 * A slice whose discriminator value the profile does not state (a slice
 * defined only by a ValueSet binding, or a profile on a resolved reference)
 * cannot be recognised without terminology or resolution: values are not
 * assigned to it and its cardinality is reported as not checked
 * (information), never as an error.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/fhirpath.h"
#include "loopgate/json.h"
#include "loopgate/profile.h"
#include "loopgate/terminology.h"
#include "loopgate/validate.h"
#include "path.h"
#include "validate/jget.h"
#include "validate/shortcut.h"

#define PATH_MAX_LEN 512
#define MAX_WALK_DEPTH 48
#define MAX_DISC_NODES 64
#define MAX_PROFILES 32

typedef struct val {
    const cJSON *v;      /* the value (JSON null when only _name exists) */
    const cJSON *ext;    /* the "_name" sibling of a primitive, or NULL */
    const char *key;     /* JSON property name */
    const char *type;    /* its FHIR type when known */
    int index;           /* position in its array, -1 when single */
    int slice;           /* matched slice, -1 none, -2 undecidable */
} val;

/* Pairs (constraint, node); starts in its own storage (4 KiB: all but the
 * largest resources fit, and growing is costly beyond the copy: a request
 * that large makes glibc consolidate the small chunks FHIRPath freed),
 * then grows on the heap. Not to be copied once seen_init has run. */
#define SEEN_INLINE 256
typedef struct seen_set {
    uintptr_t (*e)[2];
    size_t n, cap;
    uintptr_t own[SEEN_INLINE][2];
} seen_set;

static void seen_init(seen_set *s)
{
    s->e = s->own;
    s->n = 0;
    s->cap = SEEN_INLINE;
    memset(s->own, 0, sizeof(s->own));
}

static void seen_free(seen_set *s)
{
    if(s->e != s->own)
        free(s->e);
}

/* The entries of the Bundle being validated by fullUrl, built on the first
 * reference that needs one, so that resolving each reference is a probe
 * rather than a pass over every entry. first/suffix map a fullUrl, and
 * every tail of one after a '/', to the first entry that has it. */
typedef struct eslot {
    const char *key; /* NUL-terminated: a fullUrl or a tail of one (borrowed) */
    uint64_t hash;
    size_t entry;    /* index in Bundle.entry */
} eslot;

typedef struct emap {
    eslot *slots;
    size_t cap, n;
} emap;

typedef struct eindex {
    const cJSON *bundle;   /* what it indexes; NULL until built */
    const cJSON **entries; /* Bundle.entry in order */
    size_t nentries;
    emap exact, tails;
    int failed;            /* no memory: fall back to the scan */
} eindex;

typedef struct pwalk {
    const lg_defs *d;
    const cJSON *resource;  /* %resource: the resource holding the focus */
    const cJSON *root;      /* the outermost resource (a Bundle's fullUrls resolve in it) */
    const cJSON *fp_root;   /* %rootResource: the container of a contained resource,
                               else the resource itself (a Bundle entry is its own root) */
    const lg_profile *prof; /* for messages */
    lg_issues *issues;
    size_t reported, errors, omitted_errors;
    int depth;
    int quiet;              /* conformance probe: count errors, report nothing */
    seen_set *seen;
    eindex *eidx;           /* shared by the walks of one validation */
    lg_vloc loc;            /* written out only when an issue is reported */
    lg_status oom;
} pwalk;

static void report(pwalk *w, lg_severity sev, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(pwalk *w, lg_severity sev, const char *code, const char *fmt, ...)
{
    if(sev <= LG_SEV_ERROR)
        w->errors++;
    if(w->quiet)
        return;
    if(w->reported++ >= LG_VALIDATE_MAX_ISSUES) {
        w->omitted_errors += sev <= LG_SEV_ERROR;
        return;
    }
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char path[PATH_MAX_LEN];
    size_t len = lg_vloc_text(&w->loc, path, sizeof(path));
    if(lg_issues_add(w->issues, sev, code, len ? path : NULL, "%s", msg) == LG_ENOMEM)
        w->oom = LG_ENOMEM;
}

/* Step the location (this runs for every value, so it only records the
 * step; report() writes the text): sep (may be 0), then s, then "[index]"
 * when index >= 0. Returns the mark to restore. */
static size_t push_seg(pwalk *w, char sep, const char *s, int index)
{
    return lg_vloc_push(&w->loc, sep, s, index);
}

static void pop(pwalk *w, size_t mark)
{
    lg_vloc_pop(&w->loc, mark);
}

static const char *pname(const pwalk *w)
{
    return w->prof->name ? w->prof->name : w->prof->url;
}

/* ---- the (constraint, node) pairs already evaluated ----
 * Several profiles (and a profile plus its extensions' definitions) carry
 * the same inherited invariants; each is evaluated once per value. */
static int seen_add(pwalk *w, const void *c, const void *node)
{
    seen_set *s = w->seen;
    uintptr_t a = (uintptr_t)c, b = (uintptr_t)node;
    if((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap * 2;
        uintptr_t(*ne)[2] = calloc(ncap, sizeof(*ne));
        if(!ne) {
            w->oom = LG_ENOMEM;
            return 0;
        }
        for(size_t i = 0; i < s->cap; i++) {
            if(!s->e[i][0])
                continue;
            size_t k = ((s->e[i][0] >> 4) ^ (s->e[i][1] * 31)) & (ncap - 1);
            while(ne[k][0])
                k = (k + 1) & (ncap - 1);
            ne[k][0] = s->e[i][0];
            ne[k][1] = s->e[i][1];
        }
        seen_free(s);
        s->e = ne;
        s->cap = ncap;
    }
    size_t k = ((a >> 4) ^ (b * 31)) & (s->cap - 1);
    for(; s->e[k][0]; k = (k + 1) & (s->cap - 1))
        if(s->e[k][0] == a && s->e[k][1] == b)
            return 0;
    s->e[k][0] = a;
    s->e[k][1] = b;
    s->n++;
    return 1;
}

/* ---- JSON comparisons ---- */

static int json_equal(const cJSON *a, const cJSON *b)
{
    if(lg_vis_string(a) && lg_vis_string(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    return cJSON_Compare(a, b, 1);
}

/* FHIR pattern[x]: every property the pattern has, the value has with a
 * matching value; every item of a pattern array matches some value item. */
static int pattern_match(const cJSON *p, const cJSON *v)
{
    if(!v)
        return 0;
    if(lg_vis_array(p)) {
        const cJSON *pi;
        cJSON_ArrayForEach(pi, p) {
            int found = 0;
            if(lg_vis_array(v)) {
                const cJSON *vi;
                cJSON_ArrayForEach(vi, v) if(pattern_match(pi, vi)) {
                    found = 1;
                    break;
                }
            } else {
                found = pattern_match(pi, v);
            }
            if(!found)
                return 0;
        }
        return 1;
    }
    if(lg_vis_object(p)) {
        if(!lg_vis_object(v))
            return 0;
        const cJSON *pk;
        cJSON_ArrayForEach(pk, p) {
            if(!pattern_match(pk, lg_vget(v, pk->string)))
                return 0;
        }
        return 1;
    }
    return json_equal(p, v);
}

/* ---- types ---- */

/* The type code a choice key's suffix names ("valueQuantity" -> "Quantity",
 * "valueString" -> "string"), among the node's allowed types, or NULL. */
static const char *choice_type(const lg_pnode *n, const char *suffix)
{
    for(size_t i = 0; i < n->ntypes; i++) {
        const char *c = n->types[i].code;
        if((c[0] == suffix[0] || c[0] - 'a' + 'A' == suffix[0]) && strcmp(c + 1, suffix + 1) == 0)
            return c;
    }
    return NULL;
}

static const lg_ptype *type_entry(const lg_pnode *n, const char *code)
{
    if(n->ntypes == 1)
        return !code || n->types[0].code == code || strcmp(n->types[0].code, code) == 0
                   ? &n->types[0]
                   : NULL;
    for(size_t i = 0; i < n->ntypes; i++)
        if(!code || strcmp(n->types[i].code, code) == 0)
            return &n->types[i];
    return NULL;
}

static const char *val_type(const lg_pnode *n, const val *v)
{
    if(v->type)
        return v->type;
    if(lg_vis_object(v->v)) {
        const cJSON *rt = lg_vget(v->v, "resourceType");
        if(lg_vis_string(rt))
            return rt->valuestring;
    }
    return n->ntypes == 1 ? n->types[0].code : NULL;
}

/* ---- discriminator paths over the data ---- */

typedef struct dnode {
    const cJSON *v;
    const char *type;
} dnode;

static void add_dn(dnode *out, size_t *n, const cJSON *v, const char *type)
{
    if(*n < MAX_DISC_NODES) {
        out[*n].v = v;
        out[*n].type = type;
        (*n)++;
    }
}

/* What path ("$this", "url", "coding.code", "value") selects from v. A
 * choice name matches name + TypeSuffix and yields the suffix as type. */
static size_t eval_path(const val *v, const char *path, dnode *out)
{
    size_t n = 0;
    dnode cur[MAX_DISC_NODES], next[MAX_DISC_NODES];
    size_t ncur = 0;
    add_dn(cur, &ncur, v->v, v->type);
    if(strcmp(path, "$this") == 0) {
        memcpy(out, cur, sizeof(*cur) * ncur);
        return ncur;
    }
    const char *p = path;
    while(*p && ncur) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        size_t nn = 0;
        for(size_t i = 0; i < ncur; i++) {
            if(!lg_vis_object(cur[i].v))
                continue;
            for(const cJSON *k = cur[i].v->child; k; k = k->next) {
                const char *type = NULL;
                if(strncmp(k->string, p, len) != 0)
                    continue;
                if(k->string[len]) {
                    if(k->string[len] < 'A' || k->string[len] > 'Z')
                        continue;
                    type = k->string + len; /* choice suffix, type name capitalised */
                }
                if(lg_vis_array(k)) {
                    const cJSON *x;
                    cJSON_ArrayForEach(x, k) add_dn(next, &nn, x, type);
                } else {
                    add_dn(next, &nn, k, type);
                }
            }
        }
        memcpy(cur, next, sizeof(*next) * nn);
        ncur = nn;
        p += len + (dot ? 1 : 0);
    }
    memcpy(out, cur, sizeof(*cur) * ncur);
    n = ncur;
    return n;
}

static int type_matches(const char *have, const char *want)
{
    if(!have || !want)
        return 0;
    /* a choice suffix is capitalised ("String" for string) */
    return (have[0] == want[0] || have[0] == want[0] - 'a' + 'A') && strcmp(have + 1, want + 1) == 0;
}

static void check_node(pwalk *w, const lg_pnode *n, const val *v);
static int conforms(pwalk *w, const lg_profile *p, const val *v);
static int conforms_resource(pwalk *w, const lg_profile *p, const cJSON *res);
static const cJSON *resolve_local(pwalk *w, const cJSON *ref);

/* 1 matches, 0 does not, -1 the slice cannot be recognised here. */
static int slice_match(pwalk *w, const lg_pnode *base, const lg_pnode *slice, const val *v)
{
    int unknown = 0;
    if(base->ndiscs == 0) {
        /* a type slice of a choice ("value[x]:valueQuantity") */
        if(base->choice && slice->slice_name && v->key)
            return strcmp(slice->slice_name, v->key) == 0 ||
                   (slice->ntypes == 1 && type_matches(v->type, slice->types[0].code));
        return -1;
    }
    for(size_t i = 0; i < base->ndiscs; i++) {
        const lg_pdisc *d = &base->discs[i];
        const lg_pdisc_value *dv = &slice->disc_values[i];
        if(!dv->known && (d->type == LG_DISC_PATTERN || d->type == LG_DISC_VALUE) &&
           strcmp(d->path, "$this") == 0 && slice->binding == LG_BIND_REQUIRED &&
           slice->valueset && w->d->term) {
            /* a slice defined by its required binding (US Core's
             * "slicing by value sets"): membership decides */
            lg_term_result r = lg_terminology_check_value(w->d->term, slice->valueset, v->v,
                                                          val_type(base, v), NULL);
            if(r == LG_TERM_NOT_IN)
                return 0;
            if(r == LG_TERM_UNKNOWN)
                unknown = 1;
            continue;
        }
        if(!dv->known) {
            unknown = 1;
            continue;
        }
        dnode nodes[MAX_DISC_NODES];
        size_t nn = eval_path(v, d->path, nodes);
        int ok = 0;
        switch(d->type) {
        case LG_DISC_VALUE:
        case LG_DISC_PATTERN:
            if(lg_vis_array(dv->value) && nn) {
                /* a pattern array (coding [...]) against the selected items */
                ok = 1;
                const cJSON *pi;
                cJSON_ArrayForEach(pi, dv->value) {
                    int f = 0;
                    for(size_t k = 0; k < nn && !f; k++)
                        f = pattern_match(pi, nodes[k].v);
                    if(!f) {
                        ok = 0;
                        break;
                    }
                }
            } else {
                for(size_t k = 0; k < nn && !ok; k++)
                    ok = dv->pattern ? pattern_match(dv->value, nodes[k].v)
                                     : json_equal(dv->value, nodes[k].v);
            }
            break;
        case LG_DISC_TYPE:
            for(size_t k = 0; k < nn && !ok; k++) {
                const char *t = nodes[k].type;
                if(!t && lg_vis_object(nodes[k].v)) {
                    const cJSON *rt = lg_vget(nodes[k].v, "resourceType");
                    t = lg_vis_string(rt) ? rt->valuestring : NULL;
                }
                if(!t && strcmp(d->path, "$this") == 0)
                    t = val_type(base, v);
                ok = type_matches(t, dv->type);
            }
            break;
        case LG_DISC_PROFILE:
            if(dv->resolve) {
                /* the referenced resource, when we hold it, against the
                 * slice's target profiles */
                const cJSON *target = w->quiet ? NULL : resolve_local(w, v->v);
                if(!target) {
                    unknown = 1;
                    continue;
                }
                const lg_ptype *pt = dv->profile_type;
                for(size_t k = 0; k < pt->ntargets && !ok; k++) {
                    if(!pt->target_defs[k]) {
                        unknown = 1;
                        continue;
                    }
                    ok = conforms_resource(w, pt->target_defs[k], target);
                }
                if(!ok && unknown)
                    continue;
                break;
            }
            for(size_t k = 0; k < dv->profile_type->nprofiles && !ok; k++) {
                const lg_profile *p = dv->profile_type->profile_defs[k];
                if(!p) {
                    unknown = 1;
                    continue;
                }
                ok = conforms(w, p, v);
            }
            if(!ok && unknown)
                continue;
            break;
        case LG_DISC_EXISTS:
            ok = (nn > 0) == (dv->exists == 1);
            break;
        }
        if(!ok)
            return 0;
    }
    return unknown ? -1 : 1;
}

/* ---- references ---- */

static const cJSON *find_contained(const cJSON *res, const char *id)
{
    const cJSON *c;
    if(!id)
        return NULL;
    cJSON_ArrayForEach(c, lg_vget(res, "contained")) {
        const cJSON *cid = lg_vget(c, "id");
        if(lg_vis_string(cid) && strcmp(cid->valuestring, id) == 0)
            return c;
    }
    return NULL;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for(; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Record key -> entry unless key is there already (the first entry wins).
 * 0, or -1 without memory. */
static int emap_add(emap *m, const char *key, size_t entry)
{
    if((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        eslot *ns = calloc(ncap, sizeof(*ns));
        if(!ns)
            return -1;
        for(size_t i = 0; i < m->cap; i++) {
            if(!m->slots[i].key)
                continue;
            size_t k = m->slots[i].hash & (ncap - 1);
            while(ns[k].key)
                k = (k + 1) & (ncap - 1);
            ns[k] = m->slots[i];
        }
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    uint64_t h = str_hash(key);
    size_t k = h & (m->cap - 1);
    for(; m->slots[k].key; k = (k + 1) & (m->cap - 1))
        if(m->slots[k].hash == h && strcmp(m->slots[k].key, key) == 0)
            return 0;
    m->slots[k] = (eslot){.key = key, .hash = h, .entry = entry};
    m->n++;
    return 0;
}

/* The first entry recorded for key, or (size_t)-1. */
static size_t emap_find(const emap *m, const char *key)
{
    if(!m->cap)
        return (size_t)-1;
    uint64_t h = str_hash(key);
    for(size_t k = h & (m->cap - 1); m->slots[k].key; k = (k + 1) & (m->cap - 1))
        if(m->slots[k].hash == h && strcmp(m->slots[k].key, key) == 0)
            return m->slots[k].entry;
    return (size_t)-1;
}

static void eindex_free(eindex *x)
{
    free((void *)x->entries);
    free(x->exact.slots);
    free(x->tails.slots);
    memset(x, 0, sizeof(*x));
}

static int eindex_build(eindex *x, const cJSON *bundle)
{
    eindex_free(x);
    x->bundle = bundle;
    const cJSON *list = lg_vget(bundle, "entry"), *e;
    size_t n = 0;
    cJSON_ArrayForEach(e, list) n++;
    if(n && !(x->entries = malloc(n * sizeof(*x->entries))))
        goto fail;
    cJSON_ArrayForEach(e, list) {
        size_t i = x->nentries++;
        x->entries[i] = e;
        const cJSON *fu = lg_vget(e, "fullUrl");
        if(!lg_vis_string(fu))
            continue;
        const char *f = fu->valuestring;
        if(emap_add(&x->exact, f, i))
            goto fail;
        for(const char *sl = strchr(f, '/'); sl; sl = strchr(sl + 1, '/'))
            if(emap_add(&x->tails, sl + 1, i))
                goto fail;
    }
    return 0;
fail:
    eindex_free(x);
    x->failed = 1;
    return -1;
}

/* The entry whose fullUrl is ref, or - for a relative "Type/id" - ends in
 * "/Type/id" (R4 bundle.html#references: relative to the fullUrl's base). */
static const cJSON *find_entry(pwalk *w, const cJSON *bundle, const char *ref)
{
    eindex *x = w->eidx;
    int relative = !strstr(ref, "://") && strncmp(ref, "urn:", 4) != 0;
    if(x && !x->failed && (x->bundle == bundle || !eindex_build(x, bundle))) {
        /* the first entry that either test below accepts */
        size_t a = emap_find(&x->exact, ref), b = relative ? emap_find(&x->tails, ref) : (size_t)-1;
        size_t i = a < b ? a : b;
        return i == (size_t)-1 ? NULL
                               : lg_vget(x->entries[i], "resource");
    }
    const cJSON *e;
    size_t rlen = strlen(ref);
    cJSON_ArrayForEach(e, lg_vget(bundle, "entry")) {
        const cJSON *fu = lg_vget(e, "fullUrl");
        if(!lg_vis_string(fu))
            continue;
        const char *f = fu->valuestring;
        size_t flen = strlen(f);
        if(strcmp(f, ref) == 0 ||
           (relative && flen > rlen && f[flen - rlen - 1] == '/' && strcmp(f + flen - rlen, ref) == 0))
            return lg_vget(e, "resource");
    }
    return NULL;
}

/* The resource a Reference points at when it is here: contained ("#id")
 * or an entry of the Bundle being validated (by fullUrl). NULL otherwise. */
static const cJSON *resolve_local(pwalk *w, const cJSON *ref)
{
    const cJSON *r = lg_vget(ref, "reference");
    if(!lg_vis_string(r))
        return NULL;
    const char *s = r->valuestring;
    const cJSON *target = NULL;
    if(s[0] == '#') {
        target = find_contained(w->resource, s + 1);
        if(!target && w->root != w->resource)
            target = find_contained(w->root, s + 1);
    } else if(w->root) {
        const cJSON *rt = lg_vget(w->root, "resourceType");
        if(lg_vis_string(rt) && strcmp(rt->valuestring, "Bundle") == 0)
            target = find_entry(w, w->root, s);
    }
    return lg_vis_object(target) ? target : NULL;
}

/* The type a reference points at, written into buf; NULL when unknown.
 * target is what resolve_local found for ref (NULL: nothing). */
static const char *ref_target_type(pwalk *w, const cJSON *ref, const cJSON *target, char *buf,
                                   size_t bufsz)
{
    const cJSON *r = lg_vget(ref, "reference");
    const cJSON *t = lg_vget(ref, "type");
    if(!lg_vis_string(r))
        return lg_vis_string(t) ? t->valuestring : NULL;
    const char *s = r->valuestring;
    if(target) {
        const cJSON *rt = lg_vget(target, "resourceType");
        return lg_vis_string(rt) ? rt->valuestring : NULL;
    }
    if(s[0] == '#' || strncmp(s, "urn:", 4) == 0)
        return lg_vis_string(t) ? t->valuestring : NULL;
    /* [base/]Type/id[/_history/vid] */
    size_t len = strlen(s);
    const char *hist = strstr(s, "/_history/");
    if(hist)
        len = (size_t)(hist - s);
    size_t end = len;
    while(end > 0 && s[end - 1] != '/')
        end--;
    if(end == 0)
        return lg_vis_string(t) ? t->valuestring : NULL;
    size_t tend = end - 1, tstart = tend;
    while(tstart > 0 && s[tstart - 1] != '/')
        tstart--;
    if(tend - tstart == 0 || tend - tstart >= bufsz)
        return NULL;
    memcpy(buf, s + tstart, tend - tstart);
    buf[tend - tstart] = '\0';
    return lg_defs_is_resource_type(w->d, buf) ? buf : NULL;
}

static const char *target_type_name(const lg_ptype *t, size_t k)
{
    if(t->target_defs[k])
        return t->target_defs[k]->type;
    const char *slash = strrchr(t->targets[k], '/');
    return slash ? slash + 1 : t->targets[k];
}

static void check_reference(pwalk *w, const lg_pnode *n, const val *v)
{
    const lg_ptype *t = n->reference;
    if(!t || !lg_vis_object(v->v))
        return;
    char buf[128];
    const cJSON *target = resolve_local(w, v->v);
    const char *have = ref_target_type(w, v->v, target, buf, sizeof(buf));
    if(!have)
        return;
    char allowed[384];
    size_t alen = 0;
    allowed[0] = '\0';
    int type_ok = 0, need_profile = 0, conforms_one = 0;
    for(size_t k = 0; k < t->ntargets; k++) {
        if(!t->target_defs[k] && strncmp(t->targets[k], "http://hl7.org/fhir/StructureDefinition/",
                                         40) != 0)
            return; /* a target profile we do not have: its type is unknown */
        const char *tn = target_type_name(t, k);
        if(strcmp(tn, have) == 0 || strcmp(tn, "Resource") == 0 ||
           (strcmp(tn, "DomainResource") == 0 && strcmp(have, "Bundle") && strcmp(have, "Binary") &&
            strcmp(have, "Parameters"))) {
            type_ok = 1;
            const lg_profile *tp = t->target_defs[k];
            /* inside a conformance probe, targets are not probed again: a
             * Bundle whose entries point at each other stays linear */
            if(!target || !tp || !tp->constraint || w->quiet) {
                conforms_one = 1; /* a base type: the type is all it asks */
            } else if(!conforms_one) {
                need_profile = 1;
                conforms_one = conforms_resource(w, tp, target);
            }
        }
    }
    if(type_ok) {
        if(need_profile && !conforms_one)
            report(w, LG_SEV_ERROR, "structure",
                   "The referenced %s does not conform to the target profile(s) profile %s "
                   "requires here (%s)",
                   have, pname(w), n->id);
        return;
    }
    for(size_t k = 0; k < t->ntargets; k++) {
        const char *tn = target_type_name(t, k);
        const lg_profile *tp = t->target_defs[k];
        int m = tp && tp->constraint
                    ? snprintf(allowed + alen, sizeof(allowed) - alen, "%s%s (%s)", alen ? ", " : "",
                               tn, tp->name ? tp->name : tp->url)
                    : snprintf(allowed + alen, sizeof(allowed) - alen, "%s%s", alen ? ", " : "", tn);
        if(m > 0)
            alen = alen + (size_t)m >= sizeof(allowed) ? sizeof(allowed) - 1 : alen + (size_t)m;
    }
    report(w, LG_SEV_ERROR, "structure",
           "The reference points to a %s, but profile %s allows only %s here (%s)", have,
           pname(w), allowed, n->id);
}

/* ---- invariants ---- */

/* memberOf() for the FHIRPath engine, answered by the terminology. */
static int member_of(void *ud, const lg_fp_item *item, const char *valueset)
{
    const lg_terminology *t = ud;
    if(item->kind == LG_FP_NODE)
        return lg_terminology_member_of(ud, item->node, item->type, valueset);
    if(item->kind == LG_FP_STRING) {
        lg_term_result r = lg_terminology_check(t, valueset, NULL, item->s, NULL);
        return r == LG_TERM_IN ? 1 : r == LG_TERM_NOT_IN ? 0 : -1;
    }
    return -1;
}

/* 1 if the string "#id" is a value anywhere under j (references, canonicals,
 * uris: what dom-3's descendants() collects), skipping the subtree skip. */
static int mentions(const cJSON *j, const char *hid, const cJSON *skip, int depth)
{
    if(j == skip || depth > 64)
        return 0;
    if(lg_vis_string(j))
        return strcmp(j->valuestring, hid) == 0;
    for(const cJSON *k = j->child; k; k = k->next)
        if(mentions(k, hid, skip, depth + 1))
            return 1;
    return 0;
}

/* dom-3 natively: the FHIRPath needs typed descendants (as(canonical))
 * that untyped JSON cannot give, and this scan is far cheaper. A contained
 * resource must be referenced from elsewhere in the resource ("#id"), or
 * itself refer to the container ("#"). */
static void check_dom3(pwalk *w, const lg_pconstraint *c, const cJSON *res)
{
    const cJSON *ct;
    int i = 0;
    cJSON_ArrayForEach(ct, lg_vget(res, "contained")) {
        const cJSON *id = lg_vget(ct, "id");
        char hid[160];
        if(lg_vis_string(id) && snprintf(hid, sizeof(hid), "#%s", id->valuestring) < (int)sizeof(hid) &&
           !mentions(res, hid, ct, 0) && !mentions(ct, "#", NULL, 0)) {
            size_t mark = push_seg(w, '.', "contained", i);
            report(w, c->severity, "invariant", "Constraint failed: %s: '%s' (profile %s)", c->key,
                   c->human, pname(w));
            pop(w, mark);
        }
        i++;
    }
}

static void check_constraints(pwalk *w, const lg_pnode *n, const val *v)
{
    for(size_t i = 0; i < n->nconstraints; i++) {
        const lg_pconstraint *c = n->constraints[i];
        if(c->shortcut && lg_vshortcut_passes(c->shortcut, v->v))
            continue; /* decided natively: passes */
        if(c->is_dom3) {
            if(seen_add(w, c, v->v))
                check_dom3(w, c, v->v);
            continue;
        }
        if(!c->expr || !seen_add(w, c, v->v == NULL || lg_vis_null(v->v) ? (const void *)v->ext
                                                                          : (const void *)v->v))
            continue;
        lg_fp_collection out = {0};
        lg_issues ev = {0};
        lg_fp_item focus = {.kind = LG_FP_NODE, .node = v->v, .type = val_type(n, v),
                            .ext = v->ext};
        lg_fp_env env = {.context_item = &focus, .resource = w->resource,
                         .root_resource = w->fp_root};
        if(w->d->term) {
            env.ud = (void *)w->d->term;
            env.member_of = member_of;
        }
        lg_status st = lg_fhirpath_eval_env(c->expr, &env, &out, &ev);
        int truth = st ? -2 : lg_fp_truth(&out);
        if(truth == 0 && ev.count) {
            /* memberOf/conformsTo answered without terminology (a warning
             * from the engine): false may only mean "could not tell" */
            report(w, LG_SEV_INFORMATION, "informational",
                   "Constraint %s of profile %s depends on terminology and was not checked: %s",
                   c->key, pname(w), ev.items[0].diagnostics);
        } else if(st == LG_ENOMEM)
            w->oom = LG_ENOMEM;
        else if(st)
            report(w, LG_SEV_INFORMATION, "informational",
                   "Constraint %s of profile %s could not be evaluated (%s); not checked", c->key,
                   pname(w), ev.count ? ev.items[0].diagnostics : "error");
        else if(truth == 0)
            report(w, c->severity, "invariant", "Constraint failed: %s: '%s' (profile %s)",
                   c->key, c->human, pname(w));
        lg_fp_collection_free(&out);
        lg_issues_free(&ev);
    }
}

/* ---- elements ---- */

static void check_fixed(pwalk *w, const lg_pnode *n, const val *v)
{
    if(!n->fixed || lg_vis_null(v->v))
        return;
    int ok = n->is_pattern ? pattern_match(n->fixed, v->v) : json_equal(n->fixed, v->v);
    if(ok)
        return;
    /* json_equal compares decimals by value, as the HL7 validator does (a
     * fixed 1.5 accepts 1.50); the message shows the profile's exact text. */
    char *want = lg_json_print(n->fixed, 0);
    report(w, LG_SEV_ERROR, "value", "Value does not match the %s value %.200s%s required by profile %s (%s)",
           n->is_pattern ? "pattern" : "fixed", want ? want : "?",
           want && strlen(want) > 200 ? "..." : "", pname(w), n->id);
    free(want);
}

static void check_children(pwalk *w, const lg_pnode *n, const cJSON *obj);

/* Types a binding can apply to (R4 terminologies.html#4.1). */
static int bindable(const char *t)
{
    if(!t)
        return 0;
    switch(t[0]) { /* by the first letter: this runs for every bound value */
    case 'c': return !strcmp(t, "code");
    case 'C': return !strcmp(t, "Coding") || !strcmp(t, "CodeableConcept");
    case 'Q': return !strcmp(t, "Quantity");
    case 's': return !strcmp(t, "string");
    case 'u': return !strcmp(t, "uri");
    default: return 0;
    }
}

/* required: the code must be in the ValueSet (error); extensible: should be
 * (warning); preferred and example bind nothing. A ValueSet we cannot
 * decide is reported once as not checked. */
static void check_binding(pwalk *w, const lg_pnode *n, const val *v)
{
    if(n->binding < LG_BIND_EXTENSIBLE || !n->valueset || !w->d->term || lg_vis_null(v->v))
        return;
    const char *type = val_type(n, v);
    if(!bindable(type))
        return;
    const char *why = NULL;
    lg_term_result r = lg_terminology_check_value(w->d->term, n->valueset, v->v, type, &why);
    if(r == LG_TERM_IN)
        return;
    if(r == LG_TERM_UNKNOWN) {
        report(w, LG_SEV_INFORMATION, "informational",
               "The %s binding to %s (profile %s) was not checked: %s",
               n->binding == LG_BIND_REQUIRED ? "required" : "extensible", n->valueset, pname(w),
               why ? why : "the value set cannot be expanded here");
        return;
    }
    const char *shown = lg_vis_string(v->v) ? v->v->valuestring : NULL;
    const cJSON *codings = lg_vget(v->v, "coding");
    const cJSON *first = lg_vis_array(codings) ? codings->child : v->v;
    const cJSON *code = lg_vget(first, "code");
    if(!shown && lg_vis_string(code))
        shown = code->valuestring;
    report(w, n->binding == LG_BIND_REQUIRED ? LG_SEV_ERROR : LG_SEV_WARNING, "code-invalid",
           "The code '%.80s' is not in the value set %s, which %s binds %s (profile %s)%s%s",
           shown ? shown : "(none)", n->valueset, n->id,
           n->binding == LG_BIND_REQUIRED ? "(required)" : "(extensible)", pname(w),
           why ? ": " : "", why ? why : "");
}

/* Walk a value below a node that lists no children: the definition of its
 * extension (by url) or of its type. */
static void descend(pwalk *w, const lg_pnode *n, const val *v, const lg_ptype *t)
{
    if(!lg_vis_object(v->v))
        return;
    const lg_profile *saved = w->prof;
    const cJSON *rt = lg_vget(v->v, "resourceType");
    if(lg_vis_string(rt)) {
        /* a contained or Bundle entry resource: its own base definition,
         * with %resource moved to it */
        const cJSON *res = w->resource, *fp_root = w->fp_root;
        w->resource = v->v;
        if(!v->key || strcmp(v->key, "contained") != 0)
            w->fp_root = v->v;
        val rv = {.v = v->v, .type = rt->valuestring, .index = -1, .slice = -1};
        int walked = 0;
        const cJSON *u;
        cJSON_ArrayForEach(u, lg_vget(
                                  lg_vget(v->v, "meta"), "profile")) {
            /* the profiles it claims, when we have them (an unknown one is
             * only reported for the outermost resource) */
            const lg_profile *p = lg_vis_string(u) ? lg_defs_profile(w->d, u->valuestring) : NULL;
            if(!p || strcmp(p->type, rt->valuestring) != 0)
                continue;
            w->prof = p;
            check_node(w, p->root, &rv);
            walked = 1;
        }
        const lg_profile *p = walked ? NULL : lg_defs_base_profile(w->d, rt->valuestring);
        if(p) {
            w->prof = p;
            check_node(w, p->root, &rv);
        }
        w->resource = res;
        w->fp_root = fp_root;
        w->prof = saved;
        return;
    }
    const lg_profile *p = NULL;
    if(t && t->nprofiles) {
        for(size_t k = 0; k < t->nprofiles && !p; k++)
            p = t->profile_defs[k];
    }
    if(!p && t && t->extension) {
        const cJSON *url = lg_vget(v->v, "url");
        if(lg_vis_string(url))
            p = lg_defs_profile(w->d, url->valuestring);
    }
    if(!p && t)
        p = t->type_def;
    if(!p || p->root == n)
        return;
    if(p->constraint || p->is_extension)
        w->prof = p;
    check_node(w, p->root, v);
    w->prof = saved;
}

static void check_node(pwalk *w, const lg_pnode *n, const val *v)
{
    if(w->depth >= MAX_WALK_DEPTH || w->oom)
        return;
    w->depth++;
    check_fixed(w, n, v);
    check_reference(w, n, v);
    check_constraints(w, n, v);
    check_binding(w, n, v);
    const lg_pnode *kids = n->nkids ? n : n->content_ref;
    if(kids && kids->nkids) {
        if(lg_vis_object(v->v))
            check_children(w, kids, v->v);
    } else {
        const char *tc = val_type(n, v);
        descend(w, n, v, type_entry(n, tc));
    }
    w->depth--;
}

/* A JSON member of the object being walked, matched to a kid. */
typedef struct kmatch {
    uint32_t kid;          /* index in the node's kids */
    uint32_t mem;          /* position of the member in the object */
    uint32_t nlen;         /* length of the kid's name (the key's prefix it matched) */
    const cJSON *item;
} kmatch;

/* Stack room per object walked (check_children nests at most
 * MAX_WALK_DEPTH deep, so a few KiB each): larger objects and arrays go to
 * the heap. Big enough for the common case, because a large malloc after
 * the many small frees of FHIRPath makes glibc consolidate its bins. */
#define KM_STACK 64
#define VAL_STACK 48

/* The slot of the kid of n named exactly name[0..len), or NULL. */
static const lg_name_slot *kid_lookup(const lg_pnode *n, uint32_t h, const char *name, size_t len)
{
    size_t mask = n->nkid_slots - 1;
    for(size_t k = h & mask; n->kid_slots[k].index1; k = (k + 1) & mask) {
        /* decided in the slot (nameslot.h): the kid itself is read only
         * for a long name */
        const lg_name_slot *s = &n->kid_slots[k];
        if(lg_name_slot_is(s, name, len, (const char *const *)&n->kids[s->index1 - 1]->name))
            return s;
    }
    return NULL;
}

/* Add to m[*nm] every kid of n that the member item names: the kid of the
 * same name (not a choice), and every choice kid whose name is a prefix of
 * the key followed by a capital ("valueQuantity": value[x]). "_name"
 * siblings name the same kids. Returns 0, or -1 when m is full. */
static int match_member(const lg_pnode *n, const cJSON *item, uint32_t mem, kmatch *m, size_t *nm,
                        size_t cap)
{
    const char *key = item->string;
    if(!key)
        return 0;
    const char *name = key + (key[0] == '_');
    uint32_t h = LG_PNAME_HASH_INIT;
    size_t j = 0;
    for(; name[j]; j++) {
        if(j && n->choice_kids && name[j] >= 'A' && name[j] <= 'Z') {
            const lg_name_slot *s = kid_lookup(n, h, name, j);
            if(s && s->choice) {
                if(*nm >= cap)
                    return -1;
                m[(*nm)++] = (kmatch){.kid = s->index1 - 1, .mem = mem, .nlen = (uint32_t)j,
                                      .item = item};
            }
        }
        h = lg_pname_hash_step(h, name[j]);
    }
    const lg_name_slot *s = kid_lookup(n, h, name, j);
    if(s && !s->choice) {
        if(*nm >= cap)
            return -1;
        m[(*nm)++] = (kmatch){.kid = s->index1 - 1, .mem = mem, .nlen = (uint32_t)j, .item = item};
    }
    return 0;
}

/* k's values among the members m[0..nm) (all matched to k, in member
 * order) of obj, into *vals (a buffer of *cap; grown with malloc when the
 * caller's stack buffer is too small: *vals then differs from stackbuf and
 * the caller frees it). Returns how many, or (size_t)-1 when out of memory. */
static size_t collect(pwalk *w, const lg_pnode *k, const cJSON *obj, int underscore,
                      const kmatch *m, size_t nm, val **vals, size_t *cap, val *stackbuf)
{
    size_t n = 0;
    size_t nlen = nm ? m[0].nlen : 0; /* every match of k matched k's whole name */
    for(size_t mi = 0; mi < nm; mi++) {
        const cJSON *item = m[mi].item;
        const char *key = item->string;
        int ext = key[0] == '_';
        const char *type = NULL;
        if(key[ext + nlen]) {
            type = choice_type(k, key + ext + nlen);
            if(!type) {
                /* the base check accepted the name, so the profile narrowed the types */
                if(!ext) {
                    size_t mark = push_seg(w, '.', key, -1);
                    report(w, LG_SEV_ERROR, "structure",
                           "Type %s is not allowed for %s[x] by profile %s", key + nlen, k->name,
                           pname(w));
                    pop(w, mark);
                }
                continue;
            }
        }
        char other[160];
        if(ext) {
            /* "_name" alone (no value): a primitive with only extensions */
            if(lg_vget(obj, key + 1))
                continue;
        }
        const cJSON *sib = NULL;
        size_t klen = strlen(key);
        if(!ext && underscore && klen + 1 < sizeof(other)) {
            other[0] = '_';
            memcpy(other + 1, key, klen + 1);
            sib = lg_vget(obj, other);
        }
        int arr = lg_vis_array(item);
        size_t cnt = arr ? (size_t)cJSON_GetArraySize(item) : 1;
        if(n + cnt > *cap) {
            size_t ncap = (n + cnt) * 2;
            val *nv = *vals == stackbuf ? malloc(ncap * sizeof(*nv))
                                        : realloc(*vals, ncap * sizeof(*nv));
            if(!nv)
                return (size_t)-1;
            if(*vals == stackbuf)
                memcpy(nv, stackbuf, n * sizeof(*nv));
            *vals = nv;
            *cap = ncap;
        }
        static const cJSON null_value = {.type = cJSON_NULL};
        const cJSON *x = arr ? item->child : item;
        const cJSON *xs = lg_vis_array(sib) ? sib->child : sib;
        for(int i = 0; x; i++) {
            val *v = &(*vals)[n++];
            v->v = ext ? &null_value : x;
            v->ext = ext ? x : (lg_vis_object(xs) ? xs : NULL);
            v->key = key + ext;
            v->type = type;
            v->index = arr ? i : -1;
            v->slice = -1;
            x = arr ? x->next : NULL;
            xs = xs && lg_vis_array(sib) ? xs->next : NULL;
        }
    }
    return n;
}

static size_t push_val(pwalk *w, const val *v)
{
    return push_seg(w, '.', v->key, v->index);
}

static void check_slices(pwalk *w, const lg_pnode *k, val *vals, size_t n)
{
    int undecidable = 0;
    int last_slice = -1;
    size_t last_in_slice = 0;
    int any_in_slice = 0;
    for(size_t i = 0; i < n; i++) {
        val *v = &vals[i];
        for(size_t s = 0; s < k->nslices && v->slice == -1; s++) {
            int m = slice_match(w, k, k->slices[s], v);
            if(m == 1)
                v->slice = (int)s;
            else if(m < 0)
                undecidable = 1;
        }
        if(v->slice >= 0) {
            if(k->ordered && v->slice < last_slice) {
                size_t mark = push_val(w, v);
                report(w, LG_SEV_ERROR, "structure",
                       "Slice %s of %s is out of order (profile %s says the slices are ordered)",
                       k->slices[v->slice]->slice_name, k->id, pname(w));
                pop(w, mark);
            }
            last_slice = v->slice;
            last_in_slice = i;
            any_in_slice = 1;
        }
    }
    for(size_t i = 0; i < n; i++) {
        val *v = &vals[i];
        if(v->slice >= 0)
            continue;
        if(k->rules == LG_SLICE_CLOSED && !undecidable) {
            size_t mark = push_val(w, v);
            report(w, LG_SEV_ERROR, "structure",
                   "This %s does not match any slice defined by profile %s, and the slicing of %s "
                   "is closed",
                   k->name, pname(w), k->id);
            pop(w, mark);
        } else if(k->rules == LG_SLICE_OPEN_AT_END && any_in_slice && i < last_in_slice) {
            size_t mark = push_val(w, v);
            report(w, LG_SEV_ERROR, "structure",
                   "This %s matches no slice but comes before a sliced one; profile %s allows "
                   "others only at the end of %s",
                   k->name, pname(w), k->id);
            pop(w, mark);
        }
    }
    for(size_t s = 0; s < k->nslices; s++) {
        const lg_pnode *sl = k->slices[s];
        unsigned cnt = 0;
        for(size_t i = 0; i < n; i++)
            cnt += vals[i].slice == (int)s;
        if(cnt >= sl->min && cnt <= sl->max)
            continue;
        /* could a value we could not sort be in this slice? */
        int unsure = 0;
        for(size_t i = 0; i < n && !unsure; i++)
            if(vals[i].slice < 0 && slice_match(w, k, sl, &vals[i]) < 0)
                unsure = 1;
        size_t mark = push_seg(w, '.', k->name, -1);
        if(cnt < sl->min && unsure)
            report(w, LG_SEV_INFORMATION, "informational",
                   "Slice %s of %s (profile %s) needs at least %u value(s); whether the values "
                   "here belong to it was not checked (it is recognised by terminology or "
                   "resolution)",
                   sl->slice_name, k->id, pname(w), sl->min);
        else if(cnt < sl->min)
            report(w, LG_SEV_ERROR, "required",
                   "Slice %s of %s requires at least %u value(s), found %u (profile %s)",
                   sl->slice_name, k->id, sl->min, cnt, pname(w));
        else
            report(w, LG_SEV_ERROR, "structure",
                   "Slice %s of %s allows at most %u value(s), found %u (profile %s)",
                   sl->slice_name, k->id, sl->max, cnt, pname(w));
        pop(w, mark);
    }
}

/* One kid of an object: its values (members run[0..nrun), in object
 * order), its cardinality where the profile is tighter than the base, its
 * slices, and each value against the kid or the slice it matched. */
static void check_kid(pwalk *w, const lg_pnode *k, const cJSON *obj, int underscore,
                      const kmatch *run, size_t nrun)
{
    val vstack[VAL_STACK], *vals = vstack;
    size_t vcap = VAL_STACK;
    size_t cnt = collect(w, k, obj, underscore, run, nrun, &vals, &vcap, vstack);
    if(cnt == (size_t)-1) {
        w->oom = LG_ENOMEM;
        return;
    }
    /* the base check already reported what the base definition requires */
    if((cnt < k->min && k->min > k->base_min) || (cnt > k->max && k->max < k->base_max)) {
        size_t mark = push_seg(w, '.', k->name, -1);
        if(cnt < k->min)
            report(w, LG_SEV_ERROR, "required",
                   "%s: minimum required = %u, but only found %zu (profile %s)", k->id, k->min,
                   cnt, pname(w));
        else
            report(w, LG_SEV_ERROR, "structure",
                   "%s: maximum allowed = %u, but found %zu (profile %s)", k->id, k->max, cnt,
                   pname(w));
        pop(w, mark);
    }
    if(k->sliced && k->nslices)
        check_slices(w, k, vals, cnt);
    for(size_t j = 0; j < cnt && !w->oom; j++) {
        const lg_pnode *target = vals[j].slice >= 0 ? k->slices[vals[j].slice] : k;
        if(!target->work)
            continue;
        size_t mark = push_val(w, &vals[j]);
        check_node(w, target, &vals[j]);
        pop(w, mark);
    }
    if(vals != vstack)
        free(vals);
}

static int cmp_kmatch(const void *a, const void *b)
{
    const kmatch *x = a, *y = b;
    if(x->kid != y->kid)
        return x->kid < y->kid ? -1 : 1;
    return x->mem < y->mem ? -1 : x->mem > y->mem;
}

/* The members of obj are matched to n's kids once, by hashed name, and
 * put in kid order (members of one kid stay in object order). Then the
 * kids are checked in snapshot order - so issues come in the same order as
 * a kid-by-kid scan would give - but only those with a value, or that can
 * report without one (lg_pnode.empty_kids), and only when their subtree
 * can report anything at all (lg_pnode.kid_work). */
static void check_children(pwalk *w, const lg_pnode *n, const cJSON *obj)
{
    kmatch mstack[KM_STACK], *m = mstack;
    size_t nm = 0, cap = KM_STACK;
    /* "_name" siblings are rare: look for them only in objects that have one */
    int underscore = 0;
    uint32_t mem = 0;
    for(const cJSON *c = obj->child; c; c = c->next, mem++) {
        underscore |= c->string && c->string[0] == '_';
        while(match_member(n, c, mem, m, &nm, cap)) {
            size_t ncap = cap * 2;
            kmatch *grown = m == mstack ? malloc(ncap * sizeof(*grown))
                                        : realloc(m, ncap * sizeof(*grown));
            if(!grown) {
                w->oom = LG_ENOMEM;
                goto done;
            }
            if(m == mstack)
                memcpy(grown, mstack, nm * sizeof(*grown));
            m = grown;
            cap = ncap;
        }
    }
    /* JSON members mostly come in snapshot order: insertion sort is about
     * linear then; qsort (by kid, then position: stable) for big objects */
    if(nm > 32) {
        qsort(m, nm, sizeof(*m), cmp_kmatch);
    } else {
        for(size_t i = 1; i < nm; i++) {
            kmatch x = m[i];
            size_t j = i;
            for(; j > 0 && m[j - 1].kid > x.kid; j--)
                m[j] = m[j - 1];
            m[j] = x;
        }
    }
    const uint32_t *empty = n->empty_kids;
    size_t i = 0, e = 0, ne = n->nempty_kids;
    while(!w->oom && (i < nm || e < ne)) {
        uint32_t kid = i < nm ? m[i].kid : UINT32_MAX;
        if(e < ne && empty[e] <= kid)
            kid = empty[e];
        size_t from = i;
        while(i < nm && m[i].kid == kid)
            i++;
        while(e < ne && empty[e] == kid)
            e++;
        const lg_pnode *k = n->kids[kid];
        if(k->kid_work)
            check_kid(w, k, obj, underscore, m + from, i - from);
    }
done:
    if(m != mstack)
        free(m);
}

/* Does v conform to p? Counted quietly, for profile discriminators. */
static int conforms(pwalk *w, const lg_profile *p, const val *v)
{
    if(w->depth >= MAX_WALK_DEPTH)
        return 0;
    seen_set seen;
    seen_init(&seen);
    pwalk q = *w;
    /* q never reports (quiet): it must not grow w's location steps, which
     * it would share */
    q.loc.heap = NULL;
    q.loc.cap = 0;
    q.quiet = 1;
    q.errors = 0;
    q.prof = p;
    q.seen = &seen;
    q.depth = w->depth + 1;
    val pv = *v;
    pv.slice = -1;
    check_node(&q, p->root, &pv);
    seen_free(&seen);
    lg_vloc_free(&q.loc);
    if(q.oom)
        w->oom = q.oom;
    return q.errors == 0;
}

/* Does the resource res (contained or a Bundle entry) conform to p? */
static int conforms_resource(pwalk *w, const lg_profile *p, const cJSON *res)
{
    const cJSON *rt = lg_vget(res, "resourceType");
    if(!lg_vis_string(rt) || strcmp(rt->valuestring, p->type) != 0)
        return 0;
    const cJSON *saved = w->resource, *fp_root = w->fp_root;
    w->resource = res;
    if(!find_contained(saved, cJSON_GetStringValue(lg_vget(res, "id"))))
        w->fp_root = res; /* a Bundle entry: its own root */
    val rv = {.v = res, .type = p->type, .index = -1, .slice = -1};
    int ok = conforms(w, p, &rv);
    w->resource = saved;
    w->fp_root = fp_root;
    return ok;
}

static lg_status walk_profile(const lg_defs *d, const cJSON *res, const lg_profile *p,
                              seen_set *seen, eindex *eidx, lg_issues *issues, size_t *errors)
{
    pwalk w = {.d = d, .resource = res, .root = res, .fp_root = res, .prof = p, .issues = issues,
               .seen = seen, .eidx = eidx};
    const cJSON *rt = lg_vget(res, "resourceType");
    push_seg(&w, 0, lg_vis_string(rt) ? rt->valuestring : p->type, -1);
    val v = {.v = res, .type = p->type, .index = -1, .slice = -1};
    check_node(&w, p->root, &v);
    if(w.reported > LG_VALIDATE_MAX_ISSUES)
        lg_issues_add(issues, w.omitted_errors ? LG_SEV_ERROR : LG_SEV_WARNING, "too-costly", NULL,
                      "%zu more issues (%zu errors) were found against profile %s and not listed",
                      w.reported - LG_VALIDATE_MAX_ISSUES, w.omitted_errors, pname(&w));
    *errors += w.errors;
    lg_vloc_free(&w.loc);
    return w.oom;
}

lg_status lg_validate_profile(const lg_defs *defs, const cJSON *res, const char *url,
                              lg_issues *issues)
{
    const lg_profile *p = lg_defs_profile(defs, url);
    if(!p) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-found", NULL, "Profile %s is not loaded",
                      url ? url : "(none)");
        return LG_EINVAL;
    }
    seen_set seen;
    seen_init(&seen);
    eindex eidx = {0};
    size_t errors = 0;
    lg_status st = walk_profile(defs, res, p, &seen, &eidx, issues, &errors);
    seen_free(&seen);
    eindex_free(&eidx);
    return st ? st : errors ? LG_EUNPROCESSABLE : LG_OK;
}

static int add_profile(const lg_profile **list, size_t *n, const lg_profile *p)
{
    for(size_t i = 0; i < *n; i++)
        if(list[i] == p)
            return 0;
    if(*n >= MAX_PROFILES)
        return 0;
    list[(*n)++] = p;
    return 1;
}

lg_status lg_validate_full(const lg_defs *defs, const cJSON *res, const char *const *profiles,
                           size_t nprofiles, lg_issues *issues)
{
    lg_status st = lg_validate_resource(defs, res, issues);
    if(st)
        return st;
    const char *type = lg_vget(res, "resourceType")->valuestring;
    const lg_profile *list[MAX_PROFILES];
    size_t n = 0, errors = 0;
    const cJSON *mp = lg_vget(
        lg_vget(res, "meta"), "profile");
    int i = 0;
    const cJSON *u;
    cJSON_ArrayForEach(u, mp) {
        if(i >= MAX_PROFILES) {
            /* a hostile list of thousands of canonicals: one issue, not thousands */
            lg_issues_add(issues, LG_SEV_WARNING, "too-costly", NULL,
                          "meta.profile lists more than %d profiles; the rest were not checked",
                          MAX_PROFILES);
            break;
        }
        const lg_profile *p = lg_vis_string(u) ? lg_defs_profile(defs, u->valuestring) : NULL;
        char loc[160];
        snprintf(loc, sizeof(loc), "%s.meta.profile[%d]", type, i);
        if(!p) {
            lg_issues_add(issues, LG_SEV_WARNING, "not-found", loc,
                          "Profile %.300s is not known here; the resource was not checked "
                          "against it",
                          lg_vis_string(u) ? u->valuestring : "?");
        } else if(strcmp(p->type, type) != 0) {
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                          "Profile %s constrains %s, not %s", p->url, p->type, type);
            errors++;
        } else {
            add_profile(list, &n, p);
        }
        i++;
    }
    for(size_t k = 0; k < nprofiles; k++) {
        const lg_profile *p = lg_defs_profile(defs, profiles[k]);
        if(!p || strcmp(p->type, type) != 0) {
            lg_issues_add(issues, LG_SEV_ERROR, "not-found", NULL,
                          p ? "Profile %s does not constrain this resource type"
                            : "Profile %s is not loaded",
                          profiles[k] ? profiles[k] : "(none)");
            errors++;
            continue;
        }
        add_profile(list, &n, p);
    }
    for(size_t k = 0; k < defs->nrequired; k++) {
        if(strcmp(defs->required[k].type, type) != 0)
            continue;
        const lg_profile *p = lg_defs_profile(defs, defs->required[k].url);
        if(p)
            add_profile(list, &n, p);
    }
    if(n == 0) {
        const lg_profile *p = lg_defs_base_profile(defs, type);
        if(p)
            list[n++] = p;
    }
    seen_set seen;
    seen_init(&seen);
    eindex eidx = {0};
    for(size_t k = 0; k < n && !st; k++)
        st = walk_profile(defs, res, list[k], &seen, &eidx, issues, &errors);
    seen_free(&seen);
    eindex_free(&eidx);
    if(st)
        return st;
    return errors ? LG_EUNPROCESSABLE : LG_OK;
}
