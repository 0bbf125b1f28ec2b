/* structure.c - compiles the R4 StructureDefinition snapshots (datatypes
 * and resources) into element tables that validation walks without going
 * back to JSON.
 *
 * One lg_type_def per type, plus one per backbone element path
 * ("Patient.contact"), because a backbone's children are only defined inline
 * in its owner's snapshot. Element types point straight at their type's
 * lg_type_def, so the walker never looks anything up by name except a
 * contained resource's resourceType. Only specialisations are compiled:
 * constraint profiles (SimpleQuantity, ...) add rules, not shape, and belong
 * to the profile validator.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "defs/structure.h"

#define SYSTEM_PREFIX "http://hl7.org/fhirpath/System."
#define FHIR_TYPE_EXT "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
#define REGEX_EXT "http://hl7.org/fhir/StructureDefinition/regex"

/* The regexes the validator checks natively (lg_lex), by their exact R4
 * text: any other text (a future version's) stays with the regex engine. */
static const struct {
    const char *rx;
    lg_lex lex;
} lexes[] = {
    {"[ \\r\\n\\t\\S]+", LG_LEX_STRING},
    {"\\S*", LG_LEX_NOSPACE},
    {"[^\\s]+(\\s[^\\s]+)*", LG_LEX_CODE},
    {"[A-Za-z0-9\\-\\.]{1,64}", LG_LEX_ID},
};

/* A type name in elements waits for every definition to exist. */
typedef struct pending {
    lg_type_def *owner; /* by index: owners' element arrays still grow */
    size_t idx;
    char **names;       /* type codes, or the contentReference path when ref */
    size_t nnames;
    int ref;
} pending;

typedef struct builder {
    lg_defs *d;
    size_t cap;
    pending *todo;
    size_t ntodo, captodo;
} builder;

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *ext_of(const cJSON *o, const char *url, const char *vkey)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "extension")) {
        const char *u = str_of(e, "url");
        if(u && strcmp(u, url) == 0)
            return str_of(e, vkey);
    }
    return NULL;
}

static int cmp_def(const void *a, const void *b)
{
    return strcmp((*(lg_type_def *const *)a)->name, (*(lg_type_def *const *)b)->name);
}

/* strcmp's order, inline: the names compared are short and the call (per
 * probe, through bsearch's callback) cost more than the compare. */
static int name_cmp(const char *a, const char *b)
{
    while(*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

/* Called for every resource validated (and for each contained or Bundle
 * entry resource): bsearch's own halving, with the compare inline. */
const lg_type_def *lg_defs_struct(const lg_defs *d, const char *name)
{
    if(!d || !name || !d->nstructs)
        return NULL;
    size_t lo = 0, hi = d->nstructs;
    while(lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = name_cmp(name, d->structs[mid]->name);
        if(c < 0)
            hi = mid;
        else if(c > 0)
            lo = mid + 1;
        else
            return d->structs[mid];
    }
    return NULL;
}

static size_t name_hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    while(*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

/* A choice element e matches key when key is e's name followed by one of
 * its type names with the first letter upper-cased (R4 formats.html#choice):
 * valueQuantity. */
static const lg_type_def *choice_type(const lg_elem_def *e, const char *key)
{
    size_t n = strlen(e->name);
    if(strncmp(e->name, key, n) != 0 || key[n] < 'A' || key[n] > 'Z')
        return NULL;
    for(size_t k = 0; k < e->ntypes; k++) {
        const char *tn = e->types[k]->name;
        if((tn[0] == key[n] || tn[0] - 'a' + 'A' == key[n]) && strcmp(tn + 1, key + n + 1) == 0)
            return e->types[k];
    }
    return NULL;
}

/* Every JSON key of every value validated comes through here, so the
 * index answers it with one hash and (usually) one string compare. The
 * compare is inline, and the hash pass measures the key: a strcmp call per
 * probe (most keys are short, most probes hit) cost more than the hash. */
const lg_elem_def *lg_defs_elem(const lg_type_def *t, const char *key, const lg_type_def **type)
{
    *type = NULL;
    if(!t)
        return NULL;
    if(t->slots) {
        size_t mask = t->nslots - 1;
        size_t h = 1469598103934665603ULL, len = 0; /* name_hash, and the length */
        for(; key[len]; len++)
            h = (h ^ (unsigned char)key[len]) * 1099511628211ULL;
        for(size_t i = h & mask; t->slots[i].index1; i = (i + 1) & mask) {
            const lg_elem_def *e = &t->elems[t->slots[i].index1 - 1];
            if(lg_name_slot_is(&t->slots[i], key, len, (const char *const *)&e->name))
                return e;
        }
        for(size_t i = 0; i < t->nchoices; i++) {
            const lg_elem_def *e = &t->elems[t->choices[i]];
            if((*type = choice_type(e, key)) != NULL)
                return e;
        }
        return NULL;
    }
    for(size_t i = 0; i < t->nelems; i++) {
        const lg_elem_def *e = &t->elems[i];
        if(!e->choice) {
            if(strcmp(e->name, key) == 0)
                return e;
        } else if((*type = choice_type(e, key)) != NULL) {
            return e;
        }
    }
    return NULL;
}

/* Build t's look-up index; without memory t keeps the linear search. */
static void index_def(lg_type_def *t)
{
    size_t nslots = 8;
    while(nslots < t->nelems * 2)
        nslots *= 2;
    lg_name_slot *slots = calloc(nslots, sizeof(*slots));
    unsigned *choices = calloc(t->nelems ? t->nelems : 1, sizeof(*choices));
    if(!slots || !choices) {
        free(slots);
        free(choices);
        return;
    }
    size_t nchoices = 0;
    for(size_t i = 0; i < t->nelems; i++) {
        if(t->elems[i].choice) {
            choices[nchoices++] = (unsigned)i;
            continue;
        }
        size_t k = name_hash(t->elems[i].name) & (nslots - 1);
        while(slots[k].index1)
            k = (k + 1) & (nslots - 1);
        lg_name_slot_set(&slots[k], i, t->elems[i].name, 0);
    }
    t->slots = slots;
    t->nslots = nslots;
    t->choices = choices;
    t->nchoices = nchoices;
    unsigned *req = calloc(t->nelems ? t->nelems : 1, sizeof(*req));
    if(!req)
        return;
    for(size_t i = 0; i < t->nelems; i++)
        if(t->elems[i].min > 0)
            req[t->nrequired++] = (unsigned)i;
    t->required = req;
    t->required_known = 1;
}

static lg_type_def *add_def(builder *b, const char *name, lg_type_kind kind)
{
    lg_defs *d = b->d;
    if(d->nstructs == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 512;
        lg_type_def **p = realloc(d->structs, cap * sizeof(*p));
        if(!p)
            return NULL;
        d->structs = p;
        b->cap = cap;
    }
    lg_type_def *t = calloc(1, sizeof(*t));
    if(!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->kind = kind;
    d->structs[d->nstructs++] = t;
    return t;
}

/* Linear: only used while building, when the array is not yet sorted. */
static lg_type_def *find_def(const builder *b, const char *name)
{
    for(size_t i = b->d->nstructs; i-- > 0;)
        if(strcmp(b->d->structs[i]->name, name) == 0)
            return b->d->structs[i];
    return NULL;
}

static lg_status push_pending(builder *b, lg_type_def *owner, size_t idx, const cJSON *el)
{
    if(b->ntodo == b->captodo) {
        size_t cap = b->captodo ? b->captodo * 2 : 4096;
        pending *p = realloc(b->todo, cap * sizeof(*p));
        if(!p)
            return LG_ENOMEM;
        b->todo = p;
        b->captodo = cap;
    }
    pending *p = &b->todo[b->ntodo];
    memset(p, 0, sizeof(*p));
    p->owner = owner;
    p->idx = idx;
    const char *cref = str_of(el, "contentReference");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(el, "type");
    size_t n = cref ? 1 : (size_t)cJSON_GetArraySize(types);
    if(n == 0)
        return LG_OK;
    if(!(p->names = calloc(n, sizeof(*p->names))))
        return LG_ENOMEM;
    b->ntodo++;
    if(cref) {
        const char *hash = strchr(cref, '#');
        p->ref = 1;
        p->nnames = 1;
        return (p->names[0] = strdup(hash ? hash + 1 : cref)) ? LG_OK : LG_ENOMEM;
    }
    const cJSON *ty;
    cJSON_ArrayForEach(ty, types) {
        const char *code = str_of(ty, "code");
        if(!code)
            continue;
        /* Element.id, Extension.url, primitive values: a FHIRPath system
         * type with the FHIR type it stands for in an extension. */
        if(strncmp(code, SYSTEM_PREFIX, strlen(SYSTEM_PREFIX)) == 0) {
            const char *ft = ext_of(ty, FHIR_TYPE_EXT, "valueUrl");
            code = ft ? ft : "string";
        }
        if(!(p->names[p->nnames++] = strdup(code)))
            return LG_ENOMEM;
    }
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

static lg_status add_elem(builder *b, lg_type_def *parent, const char *last, const cJSON *el,
                          lg_type_def *body)
{
    (void)b;
    lg_elem_def *p = realloc(parent->elems, (parent->nelems + 1) * sizeof(*p));
    if(!p)
        return LG_ENOMEM;
    parent->elems = p;
    lg_elem_def *e = &p[parent->nelems];
    memset(e, 0, sizeof(*e));
    size_t n = strlen(last);
    if(n > 3 && strcmp(last + n - 3, "[x]") == 0) {
        e->choice = 1;
        n -= 3;
    }
    if(!(e->name = strndup(last, n)))
        return LG_ENOMEM;
    parent->nelems++;
    const cJSON *min = cJSON_GetObjectItemCaseSensitive(el, "min");
    e->min = cJSON_IsNumber(min) && min->valuedouble > 0 ? (unsigned)min->valuedouble : 0;
    e->max = parse_max(str_of(el, "max"));
    e->body = body;
    return LG_OK;
}

/* Snapshots list an element's children right after it, so an element
 * has children exactly when the next path extends its own. */
static int has_children(const cJSON *el, const char *path)
{
    const char *next = el->next ? str_of(el->next, "path") : NULL;
    size_t n = strlen(path);
    return next && strncmp(next, path, n) == 0 && next[n] == '.';
}

static lg_status compile_sd(builder *b, const cJSON *sd, lg_issues *issues)
{
    const char *name = str_of(sd, "type"), *kind = str_of(sd, "kind");
    const cJSON *elems =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sd, "snapshot"),
                                         "element");
    if(!name || !kind || !cJSON_IsArray(elems))
        return LG_OK;
    lg_type_kind tk = strcmp(kind, "primitive-type") == 0 ? LG_TYPE_PRIMITIVE
                      : strcmp(kind, "resource") == 0     ? LG_TYPE_RESOURCE
                                                          : LG_TYPE_COMPLEX;
    lg_type_def *root = add_def(b, name, tk);
    if(!root)
        return LG_ENOMEM;
    const cJSON *abs = cJSON_GetObjectItemCaseSensitive(sd, "abstract");
    root->abstract = cJSON_IsTrue(abs) && tk == LG_TYPE_RESOURCE;
    const cJSON *el;
    cJSON_ArrayForEach(el, elems) {
        const char *path = str_of(el, "path");
        const char *dot = path ? strrchr(path, '.') : NULL;
        if(!dot)
            continue; /* the root element */
        if(tk == LG_TYPE_PRIMITIVE) {
            /* boolean.value carries the lexical rule; id and extension are
             * the ordinary Element children, reached through _name. */
            if(strcmp(dot + 1, "value") == 0) {
                const cJSON *ty = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(el, "type"), 0);
                const char *rx = ext_of(ty, REGEX_EXT, "valueString");
                if(rx) {
                    int err;
                    PCRE2_SIZE off;
                    pcre2_code *re = pcre2_compile((PCRE2_SPTR)rx, PCRE2_ZERO_TERMINATED,
                                                   PCRE2_ANCHORED | PCRE2_ENDANCHORED, &err,
                                                   &off, NULL);
                    if(!re) {
                        lg_issues_add(issues, LG_SEV_WARNING, "exception", path,
                                      "Regex of %s does not compile; its format is not checked",
                                      name);
                        continue;
                    }
                    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional speed-up */
                    root->regex = re;
                    for(size_t i = 0; i < sizeof(lexes) / sizeof(*lexes); i++)
                        if(strcmp(rx, lexes[i].rx) == 0)
                            root->lex = lexes[i].lex;
                }
            }
            continue;
        }
        char parent_path[512];
        size_t plen = (size_t)(dot - path);
        if(plen >= sizeof(parent_path))
            continue;
        memcpy(parent_path, path, plen);
        parent_path[plen] = 0;
        lg_type_def *parent = strcmp(parent_path, name) == 0 ? root : find_def(b, parent_path);
        if(!parent)
            continue; /* child of a slice or of something we did not compile */
        if(strchr(dot + 1, ':'))
            continue; /* a slice: shape comes from the sliced element */
        lg_type_def *body = NULL;
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(el, "type");
        const char *code0 = str_of(cJSON_GetArrayItem(types, 0), "code");
        if(code0 && has_children(el, path) &&
           (strcmp(code0, "BackboneElement") == 0 || strcmp(code0, "Element") == 0) &&
           !(body = add_def(b, path, LG_TYPE_BACKBONE)))
            return LG_ENOMEM;
        lg_status st = add_elem(b, parent, dot + 1, el, body);
        if(st)
            return st;
        if(!body && (st = push_pending(b, parent, parent->nelems - 1, el)))
            return st;
    }
    return LG_OK;
}

static void set_primitive_json(lg_type_def *t)
{
    static const struct { const char *name; lg_json_kind json; long long min; } kinds[] = {
        {"boolean", LG_JSON_KIND_BOOL, 0},         {"decimal", LG_JSON_KIND_DECIMAL, 0},
        {"integer", LG_JSON_KIND_INTEGER, INT_MIN}, {"positiveInt", LG_JSON_KIND_INTEGER, 1},
        {"unsignedInt", LG_JSON_KIND_INTEGER, 0},
    };
    t->json = LG_JSON_KIND_STRING;
    for(size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
        if(strcmp(t->name, kinds[i].name) == 0) {
            t->json = kinds[i].json;
            t->min_int = kinds[i].min;
        }
}

static lg_status resolve(builder *b, lg_issues *issues)
{
    for(size_t i = 0; i < b->ntodo; i++) {
        pending *p = &b->todo[i];
        lg_elem_def *e = &p->owner->elems[p->idx];
        if(p->ref) {
            e->body = lg_defs_struct(b->d, p->names[0]);
            if(!e->body)
                lg_issues_add(issues, LG_SEV_WARNING, "exception", p->names[0],
                              "contentReference to an unknown element");
            continue;
        }
        const lg_type_def **types = calloc(p->nnames, sizeof(*types));
        if(!types)
            return LG_ENOMEM;
        size_t n = 0;
        for(size_t k = 0; k < p->nnames; k++) {
            const lg_type_def *t = lg_defs_struct(b->d, p->names[k]);
            if(t)
                types[n++] = t;
        }
        e->types = types;
        e->ntypes = n;
    }
    return LG_OK;
}

static void free_def(lg_type_def *t)
{
    if(!t)
        return;
    for(size_t i = 0; i < t->nelems; i++) {
        free(t->elems[i].name);
        free((void *)t->elems[i].types);
    }
    free(t->elems);
    free(t->slots);
    free(t->choices);
    free(t->required);
    pcre2_code_free(t->regex);
    free(t->name);
    free(t);
}

void lg_structs_free(lg_defs *d)
{
    for(size_t i = 0; i < d->nstructs; i++)
        free_def(d->structs[i]);
    free(d->structs);
    d->structs = NULL;
    d->nstructs = 0;
}

lg_status lg_structs_build(lg_defs *d, const cJSON *const *bundles, size_t nbundles,
                           lg_issues *issues)
{
    builder b = {.d = d};
    lg_status st = LG_OK;
    for(size_t i = 0; i < nbundles && !st; i++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(bundles[i], "entry")) {
            const cJSON *sd = cJSON_GetObjectItemCaseSensitive(e, "resource");
            const char *rt = str_of(sd, "resourceType"), *der = str_of(sd, "derivation");
            const char *kind = str_of(sd, "kind");
            if(!rt || strcmp(rt, "StructureDefinition") || !kind || strcmp(kind, "logical") == 0)
                continue;
            /* Element and Resource have no derivation: they are the roots. */
            if(der && strcmp(der, "specialization"))
                continue;
            if((st = compile_sd(&b, sd, issues)))
                break;
        }
    }
    if(!st) {
        qsort(d->structs, d->nstructs, sizeof(*d->structs), cmp_def);
        for(size_t i = 0; i < d->nstructs; i++)
            if(d->structs[i]->kind == LG_TYPE_PRIMITIVE)
                set_primitive_json(d->structs[i]);
        st = resolve(&b, issues);
    }
    for(size_t i = 0; !st && i < d->nstructs; i++)
        index_def(d->structs[i]);
    for(size_t i = 0; i < b.ntodo; i++) {
        for(size_t k = 0; k < b.todo[i].nnames; k++)
            free(b.todo[i].names[k]);
        free(b.todo[i].names);
    }
    free(b.todo);
    if(!st && !lg_defs_struct(d, "Resource")) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                      "The definitions hold no StructureDefinition for Resource");
        st = LG_EINVAL;
    }
    if(st)
        lg_structs_free(d);
    return st;
}
