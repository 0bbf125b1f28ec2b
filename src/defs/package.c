/* package.c - loads FHIR IG packages (package/package.json plus one JSON
 * resource per file) into an lg_defs: StructureDefinitions become profiles
 * (profile.c), ValueSets and CodeSystems are kept whole for the terminology
 * module, SearchParameters join the served types they apply to (defs.c),
 * everything else (examples, ...) is ignored.
 * Also the per-type required profiles (configuration).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loopgate/file.h"
#include "loopgate/terminology.h"
#include "defs/pset.h"

#define PKG_MAX_FILE (64u * 1024 * 1024)
#define PKG_MAX_FILES 20000

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Parse a JSON file; NULL (with *st set) when it cannot be read or parsed.
 * The tree is the caller's (cJSON_Delete). */
static cJSON *parse_file(const char *path, lg_status *st)
{
    char *buf;
    size_t len;
    lg_issues quiet = {0}; /* the caller words its own warning */
    *st = lg_file_read(path, PKG_MAX_FILE, &buf, &len, &quiet);
    lg_issues_free(&quiet);
    if(*st)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    *st = j ? LG_OK : LG_EINVAL;
    return j;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static lg_status keep_terminology(lg_defs *d, cJSON *res, const char *rt, const char *pkg)
{
    const char *url = str_of(res, "url");
    if(!url)
        return LG_OK;
    lg_pkg_resource *p = realloc(d->pkg_res, (d->npkg_res + 1) * sizeof(*p));
    if(!p)
        return LG_ENOMEM;
    d->pkg_res = p;
    lg_pkg_resource *r = &p[d->npkg_res];
    memset(r, 0, sizeof(*r));
    const char *ver = str_of(res, "version");
    if(!(r->type = strdup(rt)) || !(r->url = strndup(url, lg_canon_len(url))) ||
       !(r->package = strdup(pkg)) || (ver && !(r->version = strdup(ver)))) {
        free(r->type);
        free(r->url);
        free(r->package);
        free(r->version);
        return LG_ENOMEM;
    }
    r->json = res;
    d->npkg_res++;
    return LG_OK;
}

lg_status lg_defs_load_package(lg_defs *d, const char *dir, lg_issues *issues)
{
    char pdir[PATH_MAX], path[PATH_MAX], pkg[256];
    char **names = NULL;
    size_t nnames = 0;
    DIR *dh = NULL;
    cJSON *manifest = NULL;
    lg_status st;
    struct stat sb;
    if(!d || !dir)
        return LG_EINVAL;
    /* DIR/package/package.json, or DIR is the package folder itself */
    if(snprintf(pdir, sizeof(pdir), "%s/package", dir) >= (int)sizeof(pdir))
        goto notpkg;
    if(stat(pdir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        snprintf(pdir, sizeof(pdir), "%s", dir);
    if(snprintf(path, sizeof(path), "%s/package.json", pdir) >= (int)sizeof(path))
        goto notpkg;
    if(!(manifest = parse_file(path, &st)) || !str_of(manifest, "name"))
        goto notpkg;
    snprintf(pkg, sizeof(pkg), "%s#%s", str_of(manifest, "name"),
             str_of(manifest, "version") ? str_of(manifest, "version") : "?");
    cJSON_Delete(manifest);
    manifest = NULL;
    if((st = lg_pset_init(d)))
        return st;
    if(!(dh = opendir(pdir)))
        goto notpkg;
    /* sorted, so loading (and which duplicate wins) does not depend on the
     * file system's order */
    struct dirent *de;
    st = LG_ENOMEM;
    while((de = readdir(dh))) {
        size_t n = strlen(de->d_name);
        if(n < 6 || strcmp(de->d_name + n - 5, ".json") || de->d_name[0] == '.' ||
           !strcmp(de->d_name, "package.json"))
            continue;
        if(nnames >= PKG_MAX_FILES) {
            lg_issues_add(issues, LG_SEV_WARNING, "too-costly", NULL,
                          "%s holds more than %d files; the rest are ignored", pdir, PKG_MAX_FILES);
            break;
        }
        char **nn = realloc(names, (nnames + 1) * sizeof(*nn));
        if(!nn)
            goto fail;
        names = nn;
        if(!(names[nnames] = strdup(de->d_name)))
            goto fail;
        nnames++;
    }
    closedir(dh);
    dh = NULL;
    qsort(names, nnames, sizeof(*names), cmp_name);
    for(size_t i = 0; i < nnames; i++) {
        if(snprintf(path, sizeof(path), "%s/%s", pdir, names[i]) >= (int)sizeof(path))
            continue;
        lg_status fst;
        cJSON *res = parse_file(path, &fst);
        if(!res) {
            if(fst == LG_ENOMEM)
                goto fail;
            lg_issues_add(issues, LG_SEV_WARNING, "structure", NULL,
                          "%s is not readable JSON (%s); skipped", path, lg_status_str(fst));
            continue;
        }
        const char *rt = str_of(res, "resourceType");
        if(rt && strcmp(rt, "StructureDefinition") == 0) {
            st = lg_pset_add(d, res, pkg, issues);
            cJSON_Delete(res);
            if(st)
                goto fail;
        } else if(rt && strcmp(rt, "SearchParameter") == 0) {
            st = lg_defs_add_search_param(d, res, issues);
            cJSON_Delete(res);
            if(st)
                goto fail;
        } else if(rt && (strcmp(rt, "ValueSet") == 0 || strcmp(rt, "CodeSystem") == 0)) {
            if((st = keep_terminology(d, res, rt, pkg))) {
                cJSON_Delete(res);
                goto fail;
            }
        } else {
            cJSON_Delete(res);
        }
    }
    st = LG_ENOMEM;
    char **pk = realloc(d->packages, (d->npackages + 1) * sizeof(*pk));
    if(!pk)
        goto fail;
    d->packages = pk;
    if(!(pk[d->npackages] = strdup(pkg)))
        goto fail;
    d->npackages++;
    lg_pset_link(d);
    st = LG_OK;
fail:
    for(size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if(dh)
        closedir(dh);
    return st;
notpkg:
    cJSON_Delete(manifest);
    lg_issues_add(issues, LG_SEV_ERROR, "not-found", NULL,
                  "%s is not a FHIR package (no package/package.json with a name)", dir);
    return LG_EINVAL;
}

lg_status lg_defs_require_profile(lg_defs *d, const char *type, const char *url,
                                  lg_issues *issues)
{
    const lg_profile *p = lg_defs_profile(d, url);
    if(!type || !p) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-found", NULL,
                      "Required profile %s is not loaded", url ? url : "(none)");
        return LG_EINVAL;
    }
    if(strcmp(p->type, type) != 0) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                      "Profile %s constrains %s, not %s", p->url, p->type, type);
        return LG_EINVAL;
    }
    lg_required_profile *r = realloc(d->required, (d->nrequired + 1) * sizeof(*r));
    if(!r)
        return LG_ENOMEM;
    d->required = r;
    r[d->nrequired].type = strdup(type);
    r[d->nrequired].url = strdup(p->url);
    if(!r[d->nrequired].type || !r[d->nrequired].url) {
        free(r[d->nrequired].type);
        free(r[d->nrequired].url);
        return LG_ENOMEM;
    }
    d->nrequired++;
    return LG_OK;
}

static const cJSON *find_res(const lg_defs *d, const char *type, const char *url)
{
    if(!d || !url)
        return NULL;
    size_t n = lg_canon_len(url);
    for(size_t i = 0; i < d->npkg_res; i++) {
        const lg_pkg_resource *r = &d->pkg_res[i];
        if(strlen(r->url) == n && memcmp(r->url, url, n) == 0 && strcmp(r->type, type) == 0)
            return r->json;
    }
    return NULL;
}

const cJSON *lg_defs_valueset(const lg_defs *d, const char *url)
{
    return find_res(d, "ValueSet", url);
}

const cJSON *lg_defs_codesystem(const lg_defs *d, const char *url)
{
    return find_res(d, "CodeSystem", url);
}

lg_status lg_defs_load_terminology(lg_defs *d, const char *r4dir, lg_issues *issues)
{
    lg_terminology *t = NULL;
    lg_status st = lg_terminology_new(&t);
    if(st)
        return st;
    if(r4dir && (st = lg_terminology_load_r4(t, r4dir, issues)))
        goto fail;
    for(size_t i = 0; i < d->npkg_res; i++)
        if((st = lg_terminology_add(t, d->pkg_res[i].json, issues)) == LG_ENOMEM)
            goto fail;
    if((st = lg_terminology_seal(t, issues)))
        goto fail;
    lg_terminology_free(d->own_term);
    d->own_term = t;
    d->term = t;
    return LG_OK;
fail:
    lg_terminology_free(t);
    return st;
}

void lg_defs_set_terminology(lg_defs *d, const struct lg_terminology *t)
{
    d->term = t;
}

lg_status lg_defs_add_profile(lg_defs *d, const cJSON *sd, lg_issues *issues)
{
    lg_status st = lg_pset_init(d);
    if(!st)
        st = lg_pset_add(d, sd, "local", issues);
    if(!st)
        lg_pset_link(d);
    return st;
}
