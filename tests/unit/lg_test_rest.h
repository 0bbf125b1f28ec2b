/* lg_test_rest.h - the REST-layer suites' fixture: definitions, a store in a
 * fresh temporary directory, and an lg_rest with default limits. Include
 * once per suite file, after lg_test.h. */
#ifndef LG_TEST_REST_H
#define LG_TEST_REST_H

#include <stdlib.h>

#include "loopgate/defs.h"
#include "loopgate/rest.h"
#include "loopgate/store.h"

static lg_defs *defs;
static lg_store *store;
static lg_rest rest;
static char dir[] = "/tmp/lg-rest-XXXXXX";

static void setup(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &defs, &is), LG_OK,
                 "FHIR definitions not installed (run scripts/setup.sh)");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(lg_store_open(dir, &store, &is), LG_OK);
    lg_issues_free(&is);
    rest.defs = defs;
    lg_rest_config_defaults(&rest.cfg);
}

static void teardown(void)
{
    char cmd[128];
    lg_store_close(store);
    lg_defs_free(defs);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

#endif
