/* model.c - the FHIR type model for FHIRPath, compiled from the
 * StructureDefinition snapshots (R4 profiles-types.json and
 * profiles-resources.json): which elements each type has, of which types,
 * whether they repeat, and what each type derives from. The evaluator uses
 * it to type the nodes it walks (Patient.gender is a code), to answer is()
 * and as() on FHIR primitives, and to reject paths the model does not have.
 *
 * Only specializations are types; constraint profiles (SimpleQuantity, US
 * Core) add no types. Types are found through an open-addressing hash so a
 * step of a path costs a hash and a binary search, not a scan.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"

#define FP_MODEL_MAX_FILE ((long)128 * 1024 * 1024)

struct lg_fp_model {
    fp_mtype **types;
    size_t ntypes, cap;
    const fp_mtype **slots; /* hash of types by name; nslots a power of two */
    size_t nslots;
};

static size_t hash_name(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for(; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

const fp_mtype *fp_model_type(const lg_fp_model *m, const char *name)
{
    if(!m || !m->nslots || !name)
        return NULL;
    for(size_t i = hash_name(name) & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
        const fp_mtype *t = m->slots[i];
        if(!t)
            return NULL;
        if(!strcmp(t->name, name))
            return t;
    }
}

static int elem_cmp(const void *a, const void *b)
{
    return strcmp(((const fp_melem *)a)->name, ((const fp_melem *)b)->name);
}

const fp_melem *fp_model_elem(const fp_mtype *t, const char *name)
{
    if(!t || !t->nelems)
        return NULL;
    if(t->neslots) {
        /* every step of a path and every child comes here: a hash, not a
         * binary search of string compares */
        for(size_t i = hash_name(name) & (t->neslots - 1);; i = (i + 1) & (t->neslots - 1)) {
            unsigned k = t->eslots[i];
            if(!k)
                return NULL;
            if(!strcmp(t->elems[k - 1].name, name))
                return &t->elems[k - 1];
        }
    }
    fp_melem key = {.name = (char *)name};
    return bsearch(&key, t->elems, t->nelems, sizeof(*t->elems), elem_cmp);
}

/* The type a choice suffix names: "Quantity", "DateTime" (dateTime). */
static const fp_mtype *suffix_type(const fp_melem *el, const char *suffix)
{
    for(size_t i = 0; i < el->ntypes; i++)
        if(el->types[i] && !strcasecmp(el->types[i]->name, suffix) &&
           !strcmp(el->types[i]->name + 1, suffix + 1))
            return el->types[i];
    return NULL;
}

const fp_melem *fp_model_key(const fp_mtype *t, const char *key, const fp_mtype **type)
{
    *type = NULL;
    const fp_melem *el = fp_model_elem(t, key);
    if(el) {
        if(el->choice)
            return NULL; /* "value" alone is not a JSON name */
        *type = el->ntypes ? el->types[0] : NULL;
        return el;
    }
    /* a choice: the longest element name that prefixes key and whose
     * remainder names one of its types */
    for(size_t i = 0; t && i < t->nelems; i++) {
        const fp_melem *c = &t->elems[i];
        size_t n = strlen(c->name);
        if(c->choice && !strncmp(key, c->name, n) && key[n]) {
            const fp_mtype *st = suffix_type(c, key + n);
            if(st) {
                *type = st;
                return c;
            }
        }
    }
    return NULL;
}

int fp_mtype_derives(const fp_mtype *t, const fp_mtype *base)
{
    for(int guard = 0; t && guard < 32; t = t->base, guard++)
        if(t == base)
            return 1;
    return 0;
}

lg_status lg_fp_model_new(lg_fp_model **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? LG_OK : LG_ENOMEM;
}

static void mtype_free(fp_mtype *t)
{
    for(size_t i = 0; i < t->nelems; i++) {
        fp_melem *el = &t->elems[i];
        for(size_t k = 0; el->tnames && k < el->ntypes; k++)
            free(el->tnames[k]);
        free(el->tnames);
        free(el->types);
        free(el->name);
    }
    free(t->elems);
    free(t->eslots);
    free(t->name);
    free(t->base_name);
    free(t);
}

void lg_fp_model_free(lg_fp_model *m)
{
    if(!m)
        return;
    for(size_t i = 0; i < m->ntypes; i++)
        mtype_free(m->types[i]);
    free(m->types);
    free(m->slots);
    free(m);
}

/* The type named name, created when new (unhashed until resolve()). */
static fp_mtype *get_type(lg_fp_model *m, const char *name, fp_mkind kind)
{
    for(size_t i = m->ntypes; i > 0; i--) /* recent first: a snapshot's backbones */
        if(!strcmp(m->types[i - 1]->name, name))
            return m->types[i - 1];
    if(m->ntypes == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 256;
        fp_mtype **n = realloc(m->types, ncap * sizeof(*n));
        if(!n)
            return NULL;
        m->types = n;
        m->cap = ncap;
    }
    fp_mtype *t = calloc(1, sizeof(*t));
    if(!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->kind = kind;
    t->fhir_name = kind == FP_MK_BACKBONE ? "BackboneElement" : t->name;
    m->types[m->ntypes++] = t;
    return t;
}

static fp_melem *add_elem(fp_mtype *t, const char *name)
{
    for(size_t i = 0; i < t->nelems; i++)
        if(!strcmp(t->elems[i].name, name))
            return &t->elems[i]; /* repeated slices of one element */
    if(t->nelems == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        fp_melem *n = realloc(t->elems, ncap * sizeof(*n));
        if(!n)
            return NULL;
        t->elems = n;
        t->cap = ncap;
    }
    fp_melem *el = &t->elems[t->nelems];
    memset(el, 0, sizeof(*el));
    if(!(el->name = strdup(name)))
        return NULL;
    t->nelems++;
    return el;
}

static int add_tname(fp_melem *el, const char *name)
{
    for(size_t i = 0; i < el->ntypes; i++)
        if(!strcmp(el->tnames[i], name))
            return 0;
    char **n = realloc(el->tnames, (el->ntypes + 1) * sizeof(*n));
    if(!n)
        return -1;
    el->tnames = n;
    if(!(n[el->ntypes] = strdup(name)))
        return -1;
    el->ntypes++;
    return 0;
}

/* The FHIR type of an element's type entry: the code, or for the
 * System.* codes of id/url/value elements the fhir-type extension. */
static const char *type_code(const cJSON *ty)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(ty, "code");
    if(!cJSON_IsString(code))
        return NULL;
    const char *c = code->valuestring;
    if(strncmp(c, "http://hl7.org/fhirpath/System.", 31))
        return c;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(ty, "extension")) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(x, "url");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, "valueUrl");
        if(!v)
            v = cJSON_GetObjectItemCaseSensitive(x, "valueUri");
        if(cJSON_IsString(u) && cJSON_IsString(v) &&
           !strcmp(u->valuestring,
                   "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"))
            return v->valuestring;
    }
    c += 31;
    return !strcmp(c, "Boolean") ? "boolean" : !strcmp(c, "Integer") ? "integer"
           : !strcmp(c, "Decimal") ? "decimal" : !strcmp(c, "Date") ? "date"
           : !strcmp(c, "DateTime") ? "dateTime" : !strcmp(c, "Time") ? "time" : "string";
}

static lg_status add_sd(lg_fp_model *m, const cJSON *sd)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(sd, "kind");
    const cJSON *deriv = cJSON_GetObjectItemCaseSensitive(sd, "derivation");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(sd, "type");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(sd, "baseDefinition");
    const cJSON *abs = cJSON_GetObjectItemCaseSensitive(sd, "abstract");
    if(!cJSON_IsString(kind) || !cJSON_IsString(type) || !strcmp(kind->valuestring, "logical"))
        return LG_OK;
    if(cJSON_IsString(deriv) && strcmp(deriv->valuestring, "specialization"))
        return LG_OK; /* a profile: constrains a type, adds none */
    fp_mkind mk = !strcmp(kind->valuestring, "primitive-type") ? FP_MK_PRIMITIVE
                  : !strcmp(kind->valuestring, "resource") ? FP_MK_RESOURCE : FP_MK_COMPLEX;
    const char *tn = type->valuestring;
    fp_mtype *t = get_type(m, tn, mk);
    if(!t)
        return LG_ENOMEM;
    t->kind = mk;
    t->abstract = cJSON_IsTrue(abs);
    if(cJSON_IsString(base)) {
        const char *slash = strrchr(base->valuestring, '/');
        free(t->base_name);
        if(!(t->base_name = strdup(slash ? slash + 1 : base->valuestring)))
            return LG_ENOMEM;
    }
    size_t tlen = strlen(tn);
    const cJSON *el;
    cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(sd, "snapshot"), "element")) {
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(el, "path");
        if(!cJSON_IsString(path) || strncmp(path->valuestring, tn, tlen) ||
           path->valuestring[tlen] != '.')
            continue;
        const char *p = path->valuestring;
        const char *last = strrchr(p, '.');
        if(mk == FP_MK_PRIMITIVE && !strcmp(last + 1, "value"))
            continue; /* the primitive's own value: the JSON value itself */
        /* the owner: the type itself or a backbone named by its path */
        char owner_name[512], name[128];
        size_t on = (size_t)(last - p), nn = strlen(last + 1);
        if(on >= sizeof(owner_name) || nn >= sizeof(name))
            continue;
        memcpy(owner_name, p, on);
        owner_name[on] = '\0';
        memcpy(name, last + 1, nn + 1);
        int choice = 0;
        if(nn > 3 && !strcmp(name + nn - 3, "[x]")) {
            name[nn - 3] = '\0';
            choice = 1;
        }
        fp_mtype *owner = on == tlen ? t : get_type(m, owner_name, FP_MK_BACKBONE);
        if(!owner)
            return LG_ENOMEM;
        fp_melem *e = add_elem(owner, name);
        if(!e)
            return LG_ENOMEM;
        e->choice = choice;
        const cJSON *max = cJSON_GetObjectItemCaseSensitive(el, "max");
        e->many = cJSON_IsString(max) &&
                  (!strcmp(max->valuestring, "*") || strtol(max->valuestring, NULL, 10) > 1);
        const cJSON *cref = cJSON_GetObjectItemCaseSensitive(el, "contentReference");
        if(cJSON_IsString(cref) && cref->valuestring[0] == '#') {
            if(!e->ntypes && add_tname(e, cref->valuestring + 1))
                return LG_ENOMEM;
            continue;
        }
        const cJSON *ty;
        cJSON_ArrayForEach(ty, cJSON_GetObjectItemCaseSensitive(el, "type")) {
            const char *code = type_code(ty);
            if(!code)
                continue;
            if(!strcmp(code, "BackboneElement") || (!strcmp(code, "Element") && strcmp(name, "id") &&
                                                     strcmp(tn, "Element"))) {
                /* inline children, typed by the element's own path */
                if(!get_type(m, p, FP_MK_BACKBONE))
                    return LG_ENOMEM;
                code = p;
            }
            if(add_tname(e, code))
                return LG_ENOMEM;
        }
    }
    return LG_OK;
}

/* Bind names to types, sort elements and rebuild the hash. */
static lg_status resolve(lg_fp_model *m)
{
    size_t ns = 1024;
    while(ns < m->ntypes * 2)
        ns *= 2;
    const fp_mtype **slots = calloc(ns, sizeof(*slots));
    if(!slots)
        return LG_ENOMEM;
    free(m->slots);
    m->slots = slots;
    m->nslots = ns;
    for(size_t i = 0; i < m->ntypes; i++) {
        const fp_mtype *t = m->types[i];
        size_t h = hash_name(t->name) & (ns - 1);
        while(slots[h])
            h = (h + 1) & (ns - 1);
        slots[h] = t;
    }
    for(size_t i = 0; i < m->ntypes; i++) {
        fp_mtype *t = m->types[i];
        t->base = t->base_name ? fp_model_type(m, t->base_name) : NULL;
        if(t->kind == FP_MK_BACKBONE && !t->base)
            t->base = fp_model_type(m, "BackboneElement");
        for(size_t k = 0; k < t->nelems; k++) {
            fp_melem *el = &t->elems[k];
            const fp_mtype **ty = realloc(el->types, (el->ntypes ? el->ntypes : 1) * sizeof(*ty));
            if(!ty)
                return LG_ENOMEM;
            el->types = ty;
            for(size_t j = 0; j < el->ntypes; j++)
                ty[j] = fp_model_type(m, el->tnames[j]);
        }
        qsort(t->elems, t->nelems, sizeof(*t->elems), elem_cmp);
        size_t n = 8;
        while(n < t->nelems * 2)
            n *= 2;
        unsigned *es = calloc(n, sizeof(*es));
        if(!es)
            return LG_ENOMEM;
        for(size_t k = 0; k < t->nelems; k++) {
            size_t h = hash_name(t->elems[k].name) & (n - 1);
            while(es[h])
                h = (h + 1) & (n - 1);
            es[h] = (unsigned)k + 1;
        }
        free(t->eslots);
        t->eslots = es;
        t->neslots = n;
    }
    return LG_OK;
}

static lg_status add_json(lg_fp_model *m, const cJSON *j)
{
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "resourceType");
    if(!cJSON_IsString(rt))
        return LG_EINVAL;
    if(!strcmp(rt->valuestring, "StructureDefinition"))
        return add_sd(m, j);
    if(strcmp(rt->valuestring, "Bundle"))
        return LG_EINVAL;
    const cJSON *en;
    cJSON_ArrayForEach(en, cJSON_GetObjectItemCaseSensitive(j, "entry")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(en, "resource");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "resourceType");
        if(cJSON_IsString(t) && !strcmp(t->valuestring, "StructureDefinition")) {
            lg_status st = add_sd(m, r);
            if(st != LG_OK)
                return st;
        }
    }
    return LG_OK;
}

lg_status lg_fp_model_add(lg_fp_model *m, const cJSON *json, lg_issues *issues)
{
    lg_status st = add_json(m, json);
    if(st == LG_OK)
        st = resolve(m);
    if(st != LG_OK)
        lg_issues_add(issues, LG_SEV_ERROR, st == LG_ENOMEM ? "exception" : "invalid", NULL,
                      "%s", st == LG_ENOMEM ? "out of memory building the FHIRPath model"
                                            : "not a StructureDefinition or a Bundle of them");
    return st;
}

static cJSON *load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if(!f)
        return NULL;
    cJSON *j = NULL;
    char *buf = NULL;
    long n = -1;
    if(fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if(n > 0 && n <= FP_MODEL_MAX_FILE && fseek(f, 0, SEEK_SET) == 0 &&
       (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
        j = cJSON_ParseWithLength(buf, (size_t)n);
    free(buf);
    fclose(f);
    return j;
}

lg_status lg_fp_model_load(const char *dir, lg_fp_model **out, lg_issues *issues)
{
    static const char *const files[] = {"profiles-types.json", "profiles-resources.json"};
    lg_fp_model *m = NULL;
    lg_status st = lg_fp_model_new(&m);
    if(st != LG_OK)
        goto fail;
    for(size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        char path[1024];
        if((size_t)snprintf(path, sizeof(path), "%s/%s", dir, files[i]) >= sizeof(path)) {
            st = LG_EINVAL;
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL, "definitions path too long");
            goto fail;
        }
        cJSON *j = load_file(path);
        if(!j) {
            st = LG_EINVAL;
            lg_issues_add(issues, LG_SEV_ERROR, "not-found", NULL, "cannot read %s", path);
            goto fail;
        }
        st = add_json(m, j);
        cJSON_Delete(j);
        if(st != LG_OK)
            goto fail;
    }
    st = resolve(m);
    if(st != LG_OK)
        goto fail;
    *out = m;
    return LG_OK;
fail:
    lg_fp_model_free(m);
    *out = NULL;
    return st;
}

int lg_fp_model_elem(const lg_fp_model *m, const char *type, const char *key, lg_fp_elem_info *out)
{
    memset(out, 0, sizeof(*out));
    const fp_mtype *t = fp_model_type(m, type), *et = NULL;
    const fp_melem *el = t ? fp_model_key(t, key, &et) : NULL;
    if(!el)
        return -1;
    /* a type the model does not define is still named */
    out->type = et ? et->name : !el->choice && el->ntypes ? el->tnames[0] : NULL;
    out->many = el->many;
    out->choice = el->choice;
    out->primitive = et && et->kind == FP_MK_PRIMITIVE;
    return 0;
}

int lg_fp_model_has_type(const lg_fp_model *m, const char *type)
{
    return fp_model_type(m, type) != NULL;
}
