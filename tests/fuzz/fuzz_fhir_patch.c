/* fuzz_fhir_patch.c - libFuzzer target for JSON Patch (lg_json_patch). The
 * input is parsed with lg_json_parse (default limits); a JSON array is
 * applied as a patch to a fixed Patient, exactly as PATCH /Patient/id does.
 * Contracts checked: the status is LG_OK (with a new tree), or LG_EINVAL /
 * LG_EUNPROCESSABLE with an error issue and no tree; the input document is
 * never modified (compared by its printed form before and after). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/json.h"
#include "loopgate/patch.h"

static const char doc_json[] =
    "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"3\"},"
    "\"active\":true,\"name\":[{\"family\":\"Rivera\",\"given\":[\"Ana\",\"Maria\"]}],"
    "\"telecom\":[],\"a/b\":{\"m~n\":1},\"\":{\"\":[0,1.5,null,\"x\"]},"
    "\"birthDate\":\"2014-12-25\",\"_birthDate\":{\"extension\":[{\"url\":\"u\","
    "\"valueString\":\"v\"}]}}";

static cJSON *doc;
static char *doc_printed; /* the reference form of doc */

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if(!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_fhir_patch: contract broken: %s (line %d)\n", #cond,\
                    __LINE__);                                                        \
            abort();                                                                  \
        }                                                                             \
    } while(0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    doc = cJSON_Parse(doc_json);
    doc_printed = doc ? cJSON_PrintUnformatted(doc) : NULL;
    if(!doc_printed) {
        fprintf(stderr, "fuzz_fhir_patch: the fixed document does not parse\n");
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *ops = NULL, *out = NULL;
    lg_issues is = {0};
    if(lg_json_parse((const char *)data, size, &lg_json_default_limits, &ops, &is) != LG_OK ||
       !cJSON_IsArray(ops))
        goto done;
    lg_issues_free(&is);
    lg_status st = lg_json_patch(doc, ops, &out, &is);
    CHECK(st == LG_OK || st == LG_EINVAL || st == LG_EUNPROCESSABLE || st == LG_ENOMEM);
    CHECK((st == LG_OK) == (out != NULL));
    if(st == LG_EINVAL || st == LG_EUNPROCESSABLE)
        CHECK(lg_issues_errors(&is) >= 1);
    if(out) {
        /* The result must be a tree cJSON can print: no cycles, no dangling
         * children (ASan would catch a freed one here). */
        char *p = cJSON_PrintUnformatted(out);
        CHECK(p != NULL);
        free(p);
    }
    char *now = cJSON_PrintUnformatted(doc);
    CHECK(now != NULL && strcmp(now, doc_printed) == 0);
    free(now);
done:
    cJSON_Delete(out);
    cJSON_Delete(ops);
    lg_issues_free(&is);
    return 0;
}
