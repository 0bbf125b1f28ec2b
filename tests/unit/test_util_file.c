/* Unit tests for bounded whole-file reads (src/util/file.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopgate/file.h"

static char path[] = "/tmp/lg-file-XXXXXX";

static void make(void)
{
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "{\"a\":1}", 7), 7);
    close(fd);
}

static void unmake(void) { unlink(path); }

TestSuite(file, .init = make, .fini = unmake);

Test(file, reads_whole_file_nul_terminated)
{
    char *buf;
    size_t len;
    lg_issues is = {0};
    cr_assert_eq(lg_file_read(path, 100, &buf, &len, &is), LG_OK);
    cr_assert_eq(len, 7);
    cr_assert_str_eq(buf, "{\"a\":1}");
    cr_assert_eq(is.count, 0);
    free(buf);
}

Test(file, bound_and_missing_file_are_reported)
{
    char *buf = (char *)1;
    size_t len = 9;
    lg_issues is = {0};
    cr_assert_eq(lg_file_read(path, 6, &buf, &len, &is), LG_ETOOLARGE);
    cr_assert_null(buf);
    cr_assert_eq(len, 0);
    cr_assert_eq(lg_file_read("/nonexistent/x.json", 100, &buf, &len, &is), LG_EIO);
    cr_assert_eq(is.count, 2);
    cr_assert(strstr(is.items[0].diagnostics, path));
    cr_assert(strstr(is.items[1].diagnostics, "/nonexistent/x.json"));
    lg_issues_free(&is);
}
