/* config.c - the forwarding configuration (DATA/forwarding.json, format in
 * docs/forwarding.md): platforms with their adapter and common delivery
 * settings, routes from a Task owner to a platform, and the directory
 * platform. Every problem is reported at its JSON location
 * ("platforms[1].timeout_ms") and a configuration with errors is refused
 * whole, so a typo never half-configures forwarding.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "forward/internal.h"
#include "loopgate/file.h"
#include "loopgate/json.h"

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void platform_clear(lg_fwd_platform *p)
{
    if(p->adapter && p->adapter->free_state && p->state)
        p->adapter->free_state(p->state);
    free(p->name);
    free(p->base_url);
    free(p->ca_file);
    memset(p, 0, sizeof *p);
}

void lg_fwd_config_free(lg_fwd_config *c)
{
    if(!c)
        return;
    for(size_t i = 0; i < c->n_platforms; i++)
        platform_clear(&c->platforms[i]);
    free(c->platforms);
    for(size_t i = 0; i < c->n_routes; i++) {
        free((char *)c->routes[i].route.owner);
        free((char *)c->routes[i].route.platform);
        free((char *)c->routes[i].route.target);
        lg_ref_clear(&c->routes[i].owner);
    }
    free(c->routes);
    free(c->directory);
    free(c);
}

/* Platform names appear in URL paths (/forward/{platform}/events) and logs:
 * keep them to a plain token. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if(n == 0 || n > 64)
        return 0;
    for(const char *p = s; *p; p++)
        if(!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

static int url_ok(const char *s)
{
    return (strncmp(s, "https://", 8) == 0 && s[8]) || (strncmp(s, "http://", 7) == 0 && s[7]);
}

/* A required or optional string member: NULL when absent (or null and
 * allowed); an issue when present with another type. */
static const char *get_string(const cJSON *obj, const char *key, const char *loc, int required,
                              int *bad, lg_issues *issues)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if(!v || cJSON_IsNull(v)) {
        if(required) {
            lg_issues_add(issues, LG_SEV_ERROR, "required", loc, "%s is required", key);
            *bad = 1;
        }
        return NULL;
    }
    if(!cJSON_IsString(v) || !v->valuestring) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc, "%s must be a string", key);
        *bad = 1;
        return NULL;
    }
    if(required && !v->valuestring[0]) {
        lg_issues_add(issues, LG_SEV_ERROR, "required", loc, "%s must not be empty", key);
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

/* An optional integer member in [lo, hi]; *out keeps its default when
 * absent. */
static void get_int(const cJSON *obj, const char *key, const char *loc, int64_t lo, int64_t hi,
                    int64_t *out, int *bad, lg_issues *issues)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if(!v || cJSON_IsNull(v))
        return;
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    /* Range first: converting a double outside int64_t is undefined. */
    if(!cJSON_IsNumber(v) || !(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc,
                      "%s must be an integer from %lld to %lld", key, (long long)lo, (long long)hi);
        *bad = 1;
        return;
    }
    *out = (int64_t)d;
}

static void loc_of(char *buf, size_t n, const char *arr, size_t i, const char *key)
{
    if(key)
        snprintf(buf, n, "%s[%zu].%s", arr, i, key);
    else
        snprintf(buf, n, "%s[%zu]", arr, i);
}

static lg_status parse_platform(lg_fwd_config *c, size_t i, const cJSON *obj,
                                lg_fwd_adapter_find_fn find, lg_issues *issues)
{
    char loc[96];
    int bad = 0;
    lg_fwd_platform *p = &c->platforms[i];
    memset(p, 0, sizeof *p);
    p->max_attempts = 8;
    p->backoff_ms = 1000;
    p->max_backoff_ms = 3600000;
    p->timeout_ms = 10000;
    p->concurrency = 8;
    p->verify_tls = 1;
    p->poll_seconds = 300;

    if(!cJSON_IsObject(obj)) {
        loc_of(loc, sizeof loc, "platforms", i, NULL);
        lg_issues_add(issues, LG_SEV_ERROR, "structure", loc, "a platform must be an object");
        return LG_EINVAL;
    }
    loc_of(loc, sizeof loc, "platforms", i, "name");
    const char *name = get_string(obj, "name", loc, 1, &bad, issues);
    if(name && !name_ok(name)) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc,
                      "platform name '%.64s' must be 1-64 letters, digits, '-', '_' or '.'", name);
        bad = 1;
    }
    if(name && lg_fwd_platform_get(c, name, NULL)) {
        lg_issues_add(issues, LG_SEV_ERROR, "duplicate", loc, "platform '%s' is defined twice", name);
        bad = 1;
    } else if(name && !(p->name = strdup(name))) {
        return LG_ENOMEM; /* named at once, so a later duplicate is found even if this one fails */
    }
    loc_of(loc, sizeof loc, "platforms", i, "adapter");
    const char *aname = get_string(obj, "adapter", loc, 1, &bad, issues);
    const lg_fwd_adapter *a = aname ? find(aname) : NULL;
    if(aname && !a) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-supported", loc, "unknown adapter '%.64s'", aname);
        bad = 1;
    }
    loc_of(loc, sizeof loc, "platforms", i, "base_url");
    const char *base = get_string(obj, "base_url", loc, 1, &bad, issues);
    if(base && !url_ok(base)) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc, "base_url must be an http:// or https:// URL");
        bad = 1;
    }

    int64_t v;
    v = p->max_attempts;
    loc_of(loc, sizeof loc, "platforms", i, "max_attempts");
    get_int(obj, "max_attempts", loc, 1, 1000, &v, &bad, issues);
    p->max_attempts = (int)v;
    loc_of(loc, sizeof loc, "platforms", i, "backoff_ms");
    get_int(obj, "backoff_ms", loc, 1, 86400000, &p->backoff_ms, &bad, issues);
    loc_of(loc, sizeof loc, "platforms", i, "max_backoff_ms");
    get_int(obj, "max_backoff_ms", loc, 1, 7 * 86400000LL, &p->max_backoff_ms, &bad, issues);
    if(p->max_backoff_ms < p->backoff_ms) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc, "max_backoff_ms must be at least backoff_ms");
        bad = 1;
    }
    loc_of(loc, sizeof loc, "platforms", i, "timeout_ms");
    get_int(obj, "timeout_ms", loc, 1, 600000, &p->timeout_ms, &bad, issues);
    v = p->concurrency;
    loc_of(loc, sizeof loc, "platforms", i, "concurrency");
    get_int(obj, "concurrency", loc, 1, 1024, &v, &bad, issues);
    p->concurrency = (int)v;
    v = p->poll_seconds;
    loc_of(loc, sizeof loc, "platforms", i, "poll_seconds");
    get_int(obj, "poll_seconds", loc, 1, 86400, &v, &bad, issues);
    p->poll_seconds = (int)v;

    const cJSON *vt = cJSON_GetObjectItemCaseSensitive(obj, "verify_tls");
    if(vt && !cJSON_IsNull(vt)) {
        if(!cJSON_IsBool(vt)) {
            loc_of(loc, sizeof loc, "platforms", i, "verify_tls");
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc, "verify_tls must be true or false");
            bad = 1;
        } else {
            p->verify_tls = cJSON_IsTrue(vt);
        }
    }
    loc_of(loc, sizeof loc, "platforms", i, "ca_file");
    const char *ca = get_string(obj, "ca_file", loc, 0, &bad, issues);

    if(bad)
        return LG_EINVAL;
    p->base_url = strdup(base);
    p->ca_file = dup_str(ca);
    if(!p->base_url || (ca && !p->ca_file))
        return LG_ENOMEM;
    p->adapter = a;
    if(a->configure) {
        lg_status rc = a->configure(p, obj, &p->state, issues);
        if(rc != LG_OK)
            return rc;
    }
    return LG_OK;
}

static lg_status parse_route(lg_fwd_config *c, size_t i, const cJSON *obj, lg_issues *issues)
{
    char loc[96];
    int bad = 0;
    lg_fwd_route_entry *r = &c->routes[i];
    if(!cJSON_IsObject(obj)) {
        loc_of(loc, sizeof loc, "routes", i, NULL);
        lg_issues_add(issues, LG_SEV_ERROR, "structure", loc, "a route must be an object");
        return LG_EINVAL;
    }
    loc_of(loc, sizeof loc, "routes", i, "owner");
    const char *owner = get_string(obj, "owner", loc, 1, &bad, issues);
    lg_ref ref = {0};
    if(owner) {
        if(lg_ref_set(&ref, owner, NULL) != LG_OK)
            return LG_ENOMEM;
        if(!ref.type || !ref.id) {
            lg_issues_add(issues, LG_SEV_ERROR, "value", loc,
                          "owner '%.100s' must be a reference Type/id", owner);
            bad = 1;
        } else {
            for(size_t k = 0; k < i; k++)
                if(lg_ref_same(&c->routes[k].owner, &ref)) {
                    lg_issues_add(issues, LG_SEV_ERROR, "duplicate", loc,
                                  "owner '%.100s' already has a route (routes[%zu])", owner, k);
                    bad = 1;
                    break;
                }
        }
    }
    loc_of(loc, sizeof loc, "routes", i, "platform");
    const char *platform = get_string(obj, "platform", loc, 1, &bad, issues);
    if(platform && !lg_fwd_platform_get(c, platform, NULL)) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-found", loc, "no platform named '%.64s'", platform);
        bad = 1;
    }
    loc_of(loc, sizeof loc, "routes", i, "target");
    const char *target = get_string(obj, "target", loc, 1, &bad, issues);
    if(bad) {
        lg_ref_clear(&ref);
        return LG_EINVAL;
    }
    r->owner = ref;
    r->route.owner = strdup(owner);
    r->route.platform = strdup(platform);
    r->route.target = strdup(target);
    if(!r->route.owner || !r->route.platform || !r->route.target)
        return LG_ENOMEM;
    return LG_OK;
}

lg_status lg_fwd_config_parse(const char *json, size_t len, lg_fwd_adapter_find_fn find,
                              lg_fwd_config **out, lg_issues *issues)
{
    *out = NULL;
    lg_status rc = LG_OK;
    cJSON *root = NULL;
    lg_fwd_config *c = calloc(1, sizeof *c);
    if(!c)
        return LG_ENOMEM;
    lg_json_limits lim = {LG_FWD_CONFIG_MAX, 16, 64 * 1024};
    rc = lg_json_parse(json, len, &lim, &root, issues);
    if(rc != LG_OK)
        goto fail;
    if(!cJSON_IsObject(root)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                      "the forwarding configuration must be a JSON object");
        rc = LG_EINVAL;
        goto fail;
    }

    lg_status worst = LG_OK;
    const cJSON *plats = cJSON_GetObjectItemCaseSensitive(root, "platforms");
    if(plats && !cJSON_IsNull(plats) && !cJSON_IsArray(plats)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", "platforms", "platforms must be an array");
        worst = LG_EINVAL;
    } else if(plats) {
        size_t n = (size_t)cJSON_GetArraySize(plats);
        c->platforms = calloc(n ? n : 1, sizeof *c->platforms);
        if(!c->platforms) {
            rc = LG_ENOMEM;
            goto fail;
        }
        size_t i = 0;
        for(const cJSON *p = plats->child; p; p = p->next, i++) {
            /* Counted before parsing so a failed platform's partial state is
             * freed with the rest; lg_fwd_platform_get skips unnamed ones. */
            c->n_platforms = i + 1;
            lg_status prc = parse_platform(c, i, p, find, issues);
            if(prc == LG_ENOMEM) {
                rc = LG_ENOMEM;
                goto fail;
            }
            if(prc != LG_OK)
                worst = LG_EINVAL;
        }
    }

    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes");
    if(routes && !cJSON_IsNull(routes) && !cJSON_IsArray(routes)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", "routes", "routes must be an array");
        worst = LG_EINVAL;
    } else if(routes) {
        size_t n = (size_t)cJSON_GetArraySize(routes);
        c->routes = calloc(n ? n : 1, sizeof *c->routes);
        if(!c->routes) {
            rc = LG_ENOMEM;
            goto fail;
        }
        size_t i = 0;
        for(const cJSON *r = routes->child; r; r = r->next, i++) {
            c->n_routes = i + 1;
            lg_status rrc = parse_route(c, i, r, issues);
            if(rrc == LG_ENOMEM) {
                rc = LG_ENOMEM;
                goto fail;
            }
            if(rrc != LG_OK)
                worst = LG_EINVAL;
        }
    }

    int bad = 0;
    const char *dir = get_string(root, "directory", "directory", 0, &bad, issues);
    if(bad)
        worst = LG_EINVAL;
    if(dir) {
        const lg_fwd_platform *dp = lg_fwd_platform_get(c, dir, NULL);
        if(!dp) {
            lg_issues_add(issues, LG_SEV_ERROR, "not-found", "directory", "no platform named '%.64s'",
                          dir);
            worst = LG_EINVAL;
        } else if(!dp->adapter || !dp->adapter->build_search || !dp->adapter->parse_search) {
            lg_issues_add(issues, LG_SEV_ERROR, "not-supported", "directory",
                          "platform '%s' (adapter %s) cannot answer directory searches", dir,
                          dp->adapter ? dp->adapter->name : "?");
            worst = LG_EINVAL;
        } else if(!(c->directory = strdup(dir))) {
            rc = LG_ENOMEM;
            goto fail;
        }
    }
    if(worst != LG_OK) {
        rc = worst;
        goto fail;
    }
    cJSON_Delete(root);
    *out = c;
    return LG_OK;

fail:
    cJSON_Delete(root);
    lg_fwd_config_free(c);
    return rc;
}

lg_status lg_fwd_config_load_with(const char *path, lg_fwd_adapter_find_fn find,
                                  lg_fwd_config **out, lg_issues *issues)
{
    *out = NULL;
    struct stat sb;
    if(stat(path, &sb) != 0 && errno == ENOENT) {
        /* No file: nothing is forwarded. */
        *out = calloc(1, sizeof **out);
        return *out ? LG_OK : LG_ENOMEM;
    }
    char *text = NULL;
    size_t len = 0;
    lg_status rc = lg_file_read(path, LG_FWD_CONFIG_MAX, &text, &len, issues);
    if(rc != LG_OK)
        return rc;
    rc = lg_fwd_config_parse(text, len, find, out, issues);
    free(text);
    return rc;
}

lg_status lg_fwd_config_load(const char *path, lg_fwd_config **out, lg_issues *issues)
{
    return lg_fwd_config_load_with(path, lg_fwd_adapter_find, out, issues);
}

const lg_fwd_platform *lg_fwd_platform_get(const lg_fwd_config *c, const char *name,
                                           size_t *index)
{
    if(!c || !name)
        return NULL;
    for(size_t i = 0; i < c->n_platforms; i++)
        if(c->platforms[i].name && strcmp(c->platforms[i].name, name) == 0) {
            if(index)
                *index = i;
            return &c->platforms[i];
        }
    return NULL;
}

const lg_fwd_route *lg_fwd_route_find(const lg_fwd_config *c, const char *owner_ref)
{
    if(!c || !owner_ref || !c->n_routes)
        return NULL;
    lg_ref ref = {0};
    if(lg_ref_set(&ref, owner_ref, NULL) != LG_OK)
        return NULL;
    const lg_fwd_route *found = NULL;
    for(size_t i = 0; i < c->n_routes && !found; i++)
        if(c->routes[i].route.owner && lg_ref_same(&c->routes[i].owner, &ref))
            found = &c->routes[i].route;
    lg_ref_clear(&ref);
    return found;
}

size_t lg_fwd_platform_count(const lg_fwd_config *c)
{
    return c ? c->n_platforms : 0;
}

int lg_fwd_platform_exists(const lg_fwd_config *c, const char *name)
{
    return lg_fwd_platform_get(c, name, NULL) != NULL;
}

const char *lg_fwd_directory(const lg_fwd_config *c)
{
    return c ? c->directory : NULL;
}
