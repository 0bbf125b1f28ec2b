/* test_forward_config.c - the forwarding configuration (src/forward/config.c)
 * read with fake adapters: defaults and overrides, routes compared as
 * Type/id, and every kind of mistake refused with an issue at its JSON
 * location. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forward/internal.h"

/* ---- fake adapters: "plain" (no settings), "keyed" (requires "key"),
 * "dir" (answers searches) */

static int states_alive;

static lg_status keyed_configure(const lg_fwd_platform *p, const cJSON *obj, void **state,
                                 lg_issues *issues)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "key");
    if(!cJSON_IsString(k)) {
        lg_issues_add(issues, LG_SEV_ERROR, "required", "key", "key is required");
        return LG_EINVAL;
    }
    *state = strdup(k->valuestring);
    states_alive++;
    return *state ? LG_OK : LG_ENOMEM;
}

static void keyed_free(void *state)
{
    free(state);
    states_alive--;
}

static lg_status dir_build_search(const lg_fwd_platform *p, void *state, const char *query,
                                  lg_fwd_req *out, lg_issues *issues)
{
    return lg_fwd_req_url(out, p->base_url, "/services?%s", query);
}

static lg_status dir_parse_search(const lg_fwd_platform *p, void *state, const char *query,
                                  const char *base, const lg_fwd_resp *resp, cJSON **bundle,
                                  lg_issues *issues)
{
    *bundle = cJSON_CreateObject();
    return *bundle ? LG_OK : LG_ENOMEM;
}

static const lg_fwd_adapter plain = {.name = "plain"};
static const lg_fwd_adapter keyed = {.name = "keyed", .configure = keyed_configure,
                                     .free_state = keyed_free};
static const lg_fwd_adapter dirad = {.name = "dir", .build_search = dir_build_search,
                                   .parse_search = dir_parse_search};

static const lg_fwd_adapter *find(const char *name)
{
    const lg_fwd_adapter *all[] = {&plain, &keyed, &dirad};
    for(size_t i = 0; i < 3; i++)
        if(strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

static lg_status parse(const char *json, lg_fwd_config **c, lg_issues *is)
{
    return lg_fwd_config_parse(json, strlen(json), find, c, is);
}

/* Whether some issue is at location loc (and, when given, mentions text). */
static int has_issue(const lg_issues *is, const char *loc, const char *text)
{
    for(size_t i = 0; i < is->count; i++) {
        const lg_issue *x = &is->items[i];
        if(x->severity > LG_SEV_ERROR)
            continue;
        if(loc && (!x->location || strcmp(x->location, loc) != 0))
            continue;
        if(text && (!x->diagnostics || !strstr(x->diagnostics, text)))
            continue;
        return 1;
    }
    return 0;
}

static const char *good =
    "{\"platforms\": ["
    " {\"name\": \"uu\", \"adapter\": \"keyed\", \"base_url\": \"https://api.example.org\", \"key\": \"k1\","
    "  \"max_attempts\": 3, \"backoff_ms\": 50, \"max_backoff_ms\": 400, \"timeout_ms\": 2500,"
    "  \"concurrency\": 2, \"verify_tls\": false, \"ca_file\": \"/etc/ca.pem\", \"poll_seconds\": 5},"
    " {\"name\": \"fh\", \"adapter\": \"plain\", \"base_url\": \"http://127.0.0.1:9\"},"
    " {\"name\": \"d\", \"adapter\": \"dir\", \"base_url\": \"https://hsds.example.org/api\"}],"
    " \"routes\": ["
    " {\"owner\": \"Organization/cbo-food-1\", \"platform\": \"uu\", \"target\": \"prog-123\"},"
    " {\"owner\": \"HealthcareService/legal-7\", \"platform\": \"fh\", \"target\": \"fh-77\"}],"
    " \"directory\": \"d\"}";

Test(forward_config, good_file_defaults_and_overrides)
{
    lg_fwd_config *c = NULL;
    lg_issues is = {0};
    cr_assert_eq(parse(good, &c, &is), LG_OK, "%s", is.count ? is.items[0].diagnostics : "");
    cr_assert_eq(lg_fwd_platform_count(c), 3);
    cr_expect(lg_fwd_platform_exists(c, "uu"));
    cr_expect(lg_fwd_platform_exists(c, "fh"));
    cr_expect(!lg_fwd_platform_exists(c, "nope"));
    cr_expect_str_eq(lg_fwd_directory(c), "d");
    cr_expect_eq(states_alive, 1);

    const lg_fwd_platform *uu = lg_fwd_platform_get(c, "uu", NULL);
    cr_assert_not_null(uu);
    cr_expect_eq(uu->adapter, &keyed);
    cr_expect_str_eq((char *)uu->state, "k1");
    cr_expect_eq(uu->max_attempts, 3);
    cr_expect_eq(uu->backoff_ms, 50);
    cr_expect_eq(uu->max_backoff_ms, 400);
    cr_expect_eq(uu->timeout_ms, 2500);
    cr_expect_eq(uu->concurrency, 2);
    cr_expect_eq(uu->verify_tls, 0);
    cr_expect_str_eq(uu->ca_file, "/etc/ca.pem");
    cr_expect_eq(uu->poll_seconds, 5);

    size_t idx = 99;
    const lg_fwd_platform *fh = lg_fwd_platform_get(c, "fh", &idx);
    cr_assert_not_null(fh);
    cr_expect_eq(idx, 1);
    cr_expect_str_eq(fh->base_url, "http://127.0.0.1:9");
    cr_expect_eq(fh->max_attempts, 8);
    cr_expect_eq(fh->backoff_ms, 1000);
    cr_expect_eq(fh->max_backoff_ms, 3600000);
    cr_expect_eq(fh->timeout_ms, 10000);
    cr_expect_eq(fh->concurrency, 8);
    cr_expect_eq(fh->verify_tls, 1);
    cr_expect_null(fh->ca_file);
    cr_expect_eq(fh->poll_seconds, 300);

    lg_fwd_config_free(c);
    cr_expect_eq(states_alive, 0, "free_state runs for every configured platform");
    lg_issues_free(&is);
}

Test(forward_config, routes_compare_type_and_id)
{
    lg_fwd_config *c = NULL;
    lg_issues is = {0};
    cr_assert_eq(parse(good, &c, &is), LG_OK);
    const lg_fwd_route *r = lg_fwd_route_find(c, "Organization/cbo-food-1");
    cr_assert_not_null(r);
    cr_expect_str_eq(r->platform, "uu");
    cr_expect_str_eq(r->target, "prog-123");
    /* An absolute or versioned reference to the same Type/id is the same owner. */
    r = lg_fwd_route_find(c, "https://ehr.example.org/fhir/Organization/cbo-food-1");
    cr_assert_not_null(r);
    cr_expect_str_eq(r->platform, "uu");
    r = lg_fwd_route_find(c, "HealthcareService/legal-7/_history/3");
    cr_assert_not_null(r);
    cr_expect_str_eq(r->target, "fh-77");
    cr_expect_null(lg_fwd_route_find(c, "Organization/cbo-food-2"));
    cr_expect_null(lg_fwd_route_find(c, "HealthcareService/cbo-food-1"));
    cr_expect_null(lg_fwd_route_find(c, "cbo-food-1"));
    cr_expect_null(lg_fwd_route_find(c, NULL));
    lg_fwd_config_free(c);
    lg_issues_free(&is);
}

Test(forward_config, missing_file_is_empty)
{
    char dir[] = "/tmp/lg-fwdcfg-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/forwarding.json", dir);
    lg_fwd_config *c = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_fwd_config_load_with(path, find, &c, &is), LG_OK);
    cr_assert_not_null(c);
    cr_expect_eq(lg_fwd_platform_count(c), 0);
    cr_expect_null(lg_fwd_directory(c));
    cr_expect_null(lg_fwd_route_find(c, "Organization/x"));
    lg_fwd_config_free(c);
    rmdir(dir);
    lg_issues_free(&is);
}

Test(forward_config, file_is_read_and_bounded)
{
    char dir[] = "/tmp/lg-fwdcfg-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/forwarding.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(good, f);
    fclose(f);
    lg_fwd_config *c = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_fwd_config_load_with(path, find, &c, &is), LG_OK);
    cr_expect_eq(lg_fwd_platform_count(c), 3);
    lg_fwd_config_free(c);

    /* Past the bound: refused before parsing. */
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"platforms\": [], \"pad\": \"", f);
    for(size_t i = 0; i < LG_FWD_CONFIG_MAX / 64 + 1; i++)
        fputs("0123456789012345678901234567890123456789012345678901234567890123", f);
    fputs("\"}", f);
    fclose(f);
    cr_expect_eq(lg_fwd_config_load_with(path, find, &c, &is), LG_ETOOLARGE);
    cr_expect_null(c);
    unlink(path);
    rmdir(dir);
    lg_issues_free(&is);
}

Test(forward_config, errors_name_their_location)
{
    const char *bad =
        "{\"platforms\": ["
        " {\"name\": \"a\", \"adapter\": \"nosuch\", \"base_url\": \"https://x\"},"
        " {\"name\": \"b\", \"adapter\": \"plain\"},"
        " {\"name\": \"c\", \"adapter\": \"plain\", \"base_url\": \"ftp://x\", \"timeout_ms\": \"slow\","
        "  \"concurrency\": 0, \"verify_tls\": \"yes\"},"
        " {\"name\": \"a\", \"adapter\": \"plain\", \"base_url\": \"https://y\", \"max_attempts\": 1.5},"
        " {\"name\": \"bad name/\", \"adapter\": \"plain\", \"base_url\": \"https://z\"},"
        " {\"name\": \"k\", \"adapter\": \"keyed\", \"base_url\": \"https://k\", \"key\": \"s\"}],"
        " \"routes\": ["
        " {\"owner\": \"Organization/o1\", \"platform\": \"zz\", \"target\": \"t\"},"
        " {\"owner\": \"not a reference\", \"platform\": \"k\", \"target\": \"t\"},"
        " {\"owner\": \"Organization/o2\", \"platform\": \"k\"},"
        " {\"owner\": \"Organization/o3\", \"platform\": \"k\", \"target\": \"t\"},"
        " {\"owner\": \"https://h/fhir/Organization/o3\", \"platform\": \"k\", \"target\": \"u\"}],"
        " \"directory\": \"k\"}";
    lg_fwd_config *c = NULL;
    lg_issues is = {0};
    cr_assert_eq(parse(bad, &c, &is), LG_EINVAL);
    cr_expect_null(c);
    cr_expect(has_issue(&is, "platforms[0].adapter", "nosuch"));
    cr_expect(has_issue(&is, "platforms[1].base_url", NULL));
    cr_expect(has_issue(&is, "platforms[2].base_url", NULL));
    cr_expect(has_issue(&is, "platforms[2].timeout_ms", NULL));
    cr_expect(has_issue(&is, "platforms[2].concurrency", NULL));
    cr_expect(has_issue(&is, "platforms[2].verify_tls", NULL));
    cr_expect(has_issue(&is, "platforms[3].name", "twice"));
    cr_expect(has_issue(&is, "platforms[3].max_attempts", NULL));
    cr_expect(has_issue(&is, "platforms[4].name", NULL));
    cr_expect(has_issue(&is, "routes[0].platform", "zz"));
    cr_expect(has_issue(&is, "routes[1].owner", NULL));
    cr_expect(has_issue(&is, "routes[2].target", NULL));
    cr_expect(!has_issue(&is, "routes[3].owner", NULL));
    cr_expect(has_issue(&is, "routes[4].owner", "already"));
    cr_expect(has_issue(&is, "directory", "cannot answer"));
    cr_expect_eq(states_alive, 0, "a refused configuration frees what its adapters made");
    lg_issues_free(&is);
}

Test(forward_config, adapter_settings_and_shapes)
{
    lg_fwd_config *c = NULL;
    lg_issues is = {0};
    /* The adapter's own check fails the whole configuration. */
    cr_expect_eq(parse("{\"platforms\": [{\"name\": \"k\", \"adapter\": \"keyed\", "
                       "\"base_url\": \"https://k\"}]}", &c, &is), LG_EINVAL);
    cr_expect(has_issue(&is, "key", "required"));
    lg_issues_free(&is);
    cr_expect_eq(parse("[1, 2]", &c, &is), LG_EINVAL);
    cr_expect(has_issue(&is, NULL, "object"));
    lg_issues_free(&is);
    cr_expect_eq(parse("{\"platforms\": {}}", &c, &is), LG_EINVAL);
    cr_expect(has_issue(&is, "platforms", NULL));
    lg_issues_free(&is);
    cr_expect_eq(parse("{\"platforms\": [], \"directory\": \"none\"}", &c, &is), LG_EINVAL);
    cr_expect(has_issue(&is, "directory", "none"));
    lg_issues_free(&is);
    cr_expect_eq(parse("{\"platforms\": [3]}", &c, &is), LG_EINVAL);
    cr_expect(has_issue(&is, "platforms[0]", NULL));
    lg_issues_free(&is);
    cr_expect_eq(parse("{\"platforms\": [", &c, &is), LG_EINVAL);
    cr_expect_gt(is.count, 0);
    lg_issues_free(&is);
    cr_expect_eq(parse("{\"platforms\": [{\"name\": \"p\", \"adapter\": \"plain\", \"base_url\": "
                       "\"https://p\", \"backoff_ms\": 5000, \"max_backoff_ms\": 100}]}", &c, &is),
                 LG_EINVAL);
    cr_expect(has_issue(&is, "platforms[0].max_backoff_ms", NULL));
    lg_issues_free(&is);
    /* An empty document: nothing configured, not an error. */
    cr_assert_eq(parse("{}", &c, &is), LG_OK);
    cr_expect_eq(lg_fwd_platform_count(c), 0);
    lg_fwd_config_free(c);
    cr_expect_eq(states_alive, 0);
    lg_issues_free(&is);
}
