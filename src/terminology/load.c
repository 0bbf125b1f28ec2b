/* load.c - reading CodeSystems and ValueSets into the terminology tables.
 *
 * A CodeSystem is compiled at once into interned concepts with their
 * properties and a parent/child graph (nested concepts plus the parent,
 * child and subsumedBy properties, since v3 code systems express their
 * polyhierarchy with `child`). A ValueSet only keeps copies of its compose
 * and expansion until lg_terminology_seal expands it, because an include
 * may name a CodeSystem or ValueSet that is added later.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "terminology/term_internal.h"
#include "loopgate/file.h"

#define TM_MAX_FILE (64u * 1024 * 1024)
#define TM_MAX_NESTING 64

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static uint32_t intern_str(lg_terminology *t, const char *s)
{
    return tm_intern_get(&t->in, s, strlen(s));
}

lg_status lg_terminology_new(lg_terminology **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? LG_OK : LG_ENOMEM;
}

static void cs_clear(tm_cs *cs)
{
    for(uint32_t i = 0; i < cs->n; i++) {
        free(cs->c[i].kids);
        free(cs->c[i].parents);
        free(cs->c[i].props);
    }
    free(cs->c);
    free(cs->slots);
    memset(cs, 0, sizeof(*cs));
}

void lg_terminology_free(lg_terminology *t)
{
    if(!t)
        return;
    for(uint32_t i = 0; i < t->ncs; i++)
        cs_clear(&t->cs[i]);
    free(t->cs);
    for(uint32_t i = 0; i < t->nvs; i++) {
        free(t->vs[i].version);
        cJSON_Delete(t->vs[i].compose);
        cJSON_Delete(t->vs[i].expansion);
        tm_set_free(&t->vs[i].set);
    }
    free(t->vs);
    tm_intern_free(&t->in);
    free(t);
}

/* --- CodeSystems --------------------------------------------------------- */

uint32_t tm_cs_find(const tm_cs *cs, uint32_t code)
{
    if(!cs->nslots || code == TM_NONE)
        return TM_NONE;
    uint32_t h = code * 2654435761u;
    for(uint32_t i = h & (cs->nslots - 1);; i = (i + 1) & (cs->nslots - 1)) {
        uint32_t e = cs->slots[i];
        if(!e)
            return TM_NONE;
        if(cs->c[e - 1].code == code)
            return e - 1;
    }
}

static int cs_index(tm_cs *cs, uint32_t idx)
{
    if((idx + 1) * 2 > cs->nslots) {
        uint32_t ns = cs->nslots ? cs->nslots * 2 : 64;
        uint32_t *slots = calloc(ns, sizeof(*slots));
        if(!slots)
            return -1;
        free(cs->slots);
        cs->slots = slots;
        cs->nslots = ns;
        /* rehash everything, idx included (it is already in c[]) */
        for(uint32_t j = 0; j <= idx; j++) {
            uint32_t i = (cs->c[j].code * 2654435761u) & (ns - 1);
            while(cs->slots[i])
                i = (i + 1) & (ns - 1);
            cs->slots[i] = j + 1;
        }
        return 0;
    }
    uint32_t i = (cs->c[idx].code * 2654435761u) & (cs->nslots - 1);
    while(cs->slots[i])
        i = (i + 1) & (cs->nslots - 1);
    cs->slots[i] = idx + 1;
    return 0;
}

static int u32_push(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t x)
{
    for(uint32_t i = 0; i < *n; i++)
        if((*v)[i] == x)
            return 0;
    if(*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 2;
        uint32_t *p = realloc(*v, nc * sizeof(*p));
        if(!p)
            return -1;
        *v = p;
        *cap = nc;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static int cs_link(tm_cs *cs, uint32_t parent, uint32_t kid)
{
    if(parent == kid)
        return 0;
    tm_concept *p = &cs->c[parent], *k = &cs->c[kid];
    if(u32_push(&p->kids, &p->nkids, &p->capkids, kid))
        return -1;
    return u32_push(&k->parents, &k->nparents, &k->capparents, parent);
}

/* The text of a concept property value ("true"/"false" for booleans, the
 * code of a Coding, numbers in %.15g) in buf; NULL for unsupported types. */
static const char *prop_text(const cJSON *p, char *buf, size_t cap)
{
    const cJSON *v;
    static const char *const strs[] = {"valueCode", "valueString", "valueDateTime", NULL};
    for(int i = 0; strs[i]; i++)
        if(str_of(p, strs[i]))
            return str_of(p, strs[i]);
    if((v = cJSON_GetObjectItemCaseSensitive(p, "valueBoolean")) && cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if(((v = cJSON_GetObjectItemCaseSensitive(p, "valueInteger")) ||
        (v = cJSON_GetObjectItemCaseSensitive(p, "valueDecimal"))) && cJSON_IsNumber(v)) {
        snprintf(buf, cap, "%.15g", v->valuedouble);
        return buf;
    }
    if((v = cJSON_GetObjectItemCaseSensitive(p, "valueCoding")) && str_of(v, "code"))
        return str_of(v, "code");
    return NULL;
}

/* A hierarchy edge named by a property, resolved once every concept is in. */
typedef struct cs_edge {
    uint32_t from, to_code;
    int to_is_parent;
} cs_edge;

typedef struct cs_build {
    lg_terminology *t;
    tm_cs *cs;
    cs_edge *edges;
    size_t nedges, capedges;
    lg_issues *issues;
    const char *url;
    int truncated;
} cs_build;

static uint32_t intern_code(cs_build *b, const char *code)
{
    if(!b->cs->case_insensitive)
        return intern_str(b->t, code);
    char low[LG_TERM_MAX_TEXT + 1];
    size_t n = tm_lower(code, low, sizeof(low));
    return n == (size_t)-1 ? TM_NONE : tm_intern_get(&b->t->in, low, n);
}

static lg_status cs_concepts(cs_build *b, const cJSON *list, uint32_t parent, int depth)
{
    const cJSON *c;
    char num[64];
    if(depth > TM_MAX_NESTING) {
        lg_issues_add(b->issues, LG_SEV_WARNING, "too-costly", NULL,
                      "CodeSystem %s: concepts nested deeper than %d are skipped", b->url,
                      TM_MAX_NESTING);
        return LG_OK;
    }
    cJSON_ArrayForEach(c, list) {
        const char *code = str_of(c, "code");
        if(!code || !*code || strlen(code) > LG_TERM_MAX_TEXT)
            continue;
        uint32_t id = intern_code(b, code);
        if(id == TM_NONE)
            return LG_ENOMEM;
        tm_cs *cs = b->cs;
        uint32_t idx = tm_cs_find(cs, id);
        if(idx == TM_NONE) {
            if(cs->n >= LG_TERM_MAX_CODES) {
                b->truncated = 1;
                continue;
            }
            if(cs->n == cs->cap) {
                uint32_t nc = cs->cap ? cs->cap * 2 : 16;
                tm_concept *v = realloc(cs->c, (size_t)nc * sizeof(*v));
                if(!v)
                    return LG_ENOMEM;
                cs->c = v;
                cs->cap = nc;
            }
            idx = cs->n++;
            memset(&cs->c[idx], 0, sizeof(cs->c[idx]));
            cs->c[idx].code = id;
            if(cs_index(cs, idx))
                return LG_ENOMEM;
        }
        if(parent != TM_NONE && cs_link(cs, parent, idx))
            return LG_ENOMEM;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "property")) {
            const char *pc = str_of(p, "code"), *val = prop_text(p, num, sizeof(num));
            if(!pc || !val || strlen(pc) > LG_TERM_MAX_TEXT || strlen(val) > LG_TERM_MAX_TEXT)
                continue;
            tm_concept *k = &cs->c[idx];
            if((!strcmp(pc, "notSelectable") || !strcmp(pc, "abstract")) && !strcmp(val, "true"))
                k->abstract = 1;
            if(!strcmp(pc, "parent") || !strcmp(pc, "subsumedBy") || !strcmp(pc, "child")) {
                uint32_t to = intern_code(b, val);
                if(to == TM_NONE)
                    return LG_ENOMEM;
                if(b->nedges == b->capedges) {
                    size_t nc = b->capedges ? b->capedges * 2 : 16;
                    cs_edge *e = realloc(b->edges, nc * sizeof(*e));
                    if(!e)
                        return LG_ENOMEM;
                    b->edges = e;
                    b->capedges = nc;
                }
                b->edges[b->nedges++] = (cs_edge){idx, to, strcmp(pc, "child") != 0};
            }
            uint32_t pid = intern_str(b->t, pc), vid = intern_str(b->t, val);
            if(pid == TM_NONE || vid == TM_NONE)
                return LG_ENOMEM;
            if(k->nprops == k->capprops) {
                uint32_t nc = k->capprops ? k->capprops * 2 : 2;
                tm_prop *v = realloc(k->props, nc * sizeof(*v));
                if(!v)
                    return LG_ENOMEM;
                k->props = v;
                k->capprops = nc;
            }
            k->props[k->nprops++] = (tm_prop){pid, vid};
        }
        const cJSON *kids = cJSON_GetObjectItemCaseSensitive(c, "concept");
        if(cJSON_IsArray(kids)) {
            lg_status st = cs_concepts(b, kids, idx, depth + 1);
            if(st)
                return st;
        }
    }
    return LG_OK;
}

static int content_of(const char *content)
{
    if(!content || !strcmp(content, "complete"))
        return TM_CONTENT_COMPLETE; /* content is 1..1 in R4; absent: trust the concepts */
    if(!strcmp(content, "not-present"))
        return TM_CONTENT_NONE;
    return TM_CONTENT_PARTIAL; /* example, fragment */
}

static lg_status add_codesystem(lg_terminology *t, const cJSON *res, lg_issues *issues)
{
    const char *url = str_of(res, "url"), *content = str_of(res, "content");
    cs_build b = {.t = t, .issues = issues, .url = url};
    tm_cs cs = {0};
    lg_status st = LG_OK;
    if(!url || strlen(url) > LG_TERM_MAX_TEXT) {
        lg_issues_add(issues, LG_SEV_WARNING, "invalid", NULL,
                      "CodeSystem %s has no usable url; skipped",
                      str_of(res, "id") ? str_of(res, "id") : "(no id)");
        return LG_OK;
    }
    if(content && !strcmp(content, "supplement"))
        return LG_OK; /* supplements add designations and properties, not codes */
    uint32_t uid = intern_str(t, url);
    if(uid == TM_NONE)
        return LG_ENOMEM;
    cs.url = uid;
    cs.content = content_of(content);
    cs.case_insensitive = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(res, "caseSensitive"));
    cs.valueset = TM_NONE;
    if(str_of(res, "valueSet") && strlen(str_of(res, "valueSet")) <= LG_TERM_MAX_TEXT) {
        const char *vs = str_of(res, "valueSet");
        const char *bar = strchr(vs, '|');
        cs.valueset = tm_intern_get(&t->in, vs, bar ? (size_t)(bar - vs) : strlen(vs));
        if(cs.valueset == TM_NONE)
            return LG_ENOMEM;
    }
    int32_t old = t->in.v[uid].cs;
    if(old >= 0 && t->cs[old].content == TM_CONTENT_COMPLETE && cs.content != TM_CONTENT_COMPLETE)
        return LG_OK; /* keep the complete one */
    b.cs = &cs;
    const cJSON *concepts = cJSON_GetObjectItemCaseSensitive(res, "concept");
    if(concepts && !cJSON_IsArray(concepts)) {
        lg_issues_add(issues, LG_SEV_WARNING, "structure", NULL,
                      "CodeSystem %s: concept is not an array; skipped", url);
        return LG_OK;
    }
    st = cs_concepts(&b, concepts, TM_NONE, 0);
    if(st)
        goto fail;
    for(size_t i = 0; i < b.nedges; i++) {
        uint32_t other = tm_cs_find(&cs, b.edges[i].to_code);
        if(other == TM_NONE)
            continue; /* names a code the system does not define */
        int r = b.edges[i].to_is_parent ? cs_link(&cs, other, b.edges[i].from)
                                        : cs_link(&cs, b.edges[i].from, other);
        if(r) {
            st = LG_ENOMEM;
            goto fail;
        }
    }
    if(b.truncated)
        lg_issues_add(issues, LG_SEV_WARNING, "too-costly", NULL,
                      "CodeSystem %s has more than %d concepts; the rest are ignored", url,
                      LG_TERM_MAX_CODES);
    if(old >= 0) {
        cs_clear(&t->cs[old]);
        t->cs[old] = cs;
    } else {
        if(t->ncs == t->capcs) {
            uint32_t nc = t->capcs ? t->capcs * 2 : 64;
            tm_cs *v = realloc(t->cs, (size_t)nc * sizeof(*v));
            if(!v) {
                st = LG_ENOMEM;
                goto fail;
            }
            t->cs = v;
            t->capcs = nc;
        }
        t->in.v[uid].cs = (int32_t)t->ncs;
        t->cs[t->ncs++] = cs;
    }
    free(b.edges);
    return LG_OK;
fail:
    free(b.edges);
    cs_clear(&cs);
    return st;
}

/* --- ValueSets ----------------------------------------------------------- */

static lg_status add_valueset(lg_terminology *t, const cJSON *res, lg_issues *issues)
{
    const char *url = str_of(res, "url"), *version = str_of(res, "version");
    const cJSON *compose = cJSON_GetObjectItemCaseSensitive(res, "compose");
    const cJSON *expansion = cJSON_GetObjectItemCaseSensitive(res, "expansion");
    tm_vs vs = {.prev = -1, .synth_cs = -1};
    if(!url || strlen(url) > LG_TERM_MAX_TEXT || strchr(url, '|')) {
        lg_issues_add(issues, LG_SEV_WARNING, "invalid", NULL,
                      "ValueSet %s has no usable url; skipped",
                      str_of(res, "id") ? str_of(res, "id") : "(no id)");
        return LG_OK;
    }
    if((compose && !cJSON_IsObject(compose)) || (expansion && !cJSON_IsObject(expansion))) {
        lg_issues_add(issues, LG_SEV_WARNING, "structure", NULL,
                      "ValueSet %s: compose or expansion is not an object; skipped", url);
        return LG_OK;
    }
    vs.url = intern_str(t, url);
    if(vs.url == TM_NONE)
        goto nomem;
    if(version && !(vs.version = strdup(version)))
        goto nomem;
    if(compose && !(vs.compose = cJSON_Duplicate(compose, 1)))
        goto nomem;
    if(expansion && !(vs.expansion = cJSON_Duplicate(expansion, 1)))
        goto nomem;
    if(t->nvs == t->capvs) {
        uint32_t nc = t->capvs ? t->capvs * 2 : 256;
        tm_vs *v = realloc(t->vs, (size_t)nc * sizeof(*v));
        if(!v)
            goto nomem;
        t->vs = v;
        t->capvs = nc;
    }
    vs.prev = t->in.v[vs.url].vs;
    t->in.v[vs.url].vs = (int32_t)t->nvs;
    t->vs[t->nvs++] = vs;
    return LG_OK;
nomem:
    free(vs.version);
    cJSON_Delete(vs.compose);
    cJSON_Delete(vs.expansion);
    return LG_ENOMEM;
}

static lg_status add_one(lg_terminology *t, const cJSON *res, int in_bundle, lg_issues *issues)
{
    const char *rt = str_of(res, "resourceType");
    if(rt && !strcmp(rt, "CodeSystem"))
        return add_codesystem(t, res, issues);
    if(rt && !strcmp(rt, "ValueSet"))
        return add_valueset(t, res, issues);
    if(in_bundle)
        return LG_OK;
    lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                  "terminology accepts CodeSystem, ValueSet or Bundle, not %s",
                  rt ? rt : "(no resourceType)");
    return LG_EINVAL;
}

lg_status lg_terminology_add(lg_terminology *t, const cJSON *res, lg_issues *issues)
{
    if(t->sealed) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL,
                      "terminology is sealed; nothing can be added");
        return LG_EINVAL;
    }
    const char *rt = str_of(res, "resourceType");
    if(rt && !strcmp(rt, "Bundle")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(res, "entry")) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "resource");
            if(!cJSON_IsObject(r))
                continue;
            lg_status st = add_one(t, r, 1, issues);
            if(st)
                return st;
        }
        return LG_OK;
    }
    return add_one(t, res, 0, issues);
}

static lg_status load_file(lg_terminology *t, const char *dir, const char *name,
                           lg_issues *issues)
{
    char path[PATH_MAX];
    char *buf = NULL;
    size_t len;
    if(snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "Path too long: %s/%s", dir, name);
        return LG_EINVAL;
    }
    lg_status st = lg_file_read(path, TM_MAX_FILE, &buf, &len, issues);
    if(st)
        return st;
    cJSON *doc = cJSON_ParseWithLength(buf, len);
    free(buf);
    if(!doc || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "entry"))) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "%s is not a JSON Bundle", path);
        cJSON_Delete(doc);
        return LG_EINVAL;
    }
    st = lg_terminology_add(t, doc, issues);
    cJSON_Delete(doc);
    return st;
}

lg_status lg_terminology_load_r4(lg_terminology *t, const char *r4dir, lg_issues *issues)
{
    /* code systems first only for readability of issues; seal resolves
     * references in any order */
    static const char *const files[] = {"v3-codesystems.json", "v2-tables.json",
                                        "valuesets.json", NULL};
    for(int i = 0; files[i]; i++) {
        lg_status st = load_file(t, r4dir, files[i], issues);
        if(st)
            return st;
    }
    return LG_OK;
}
