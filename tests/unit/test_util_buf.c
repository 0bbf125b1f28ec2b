/* Unit tests for bounded buffers and issue lists (src/util). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/buf.h"
#include "loopgate/status.h"

Test(buf, grows_and_stays_nul_terminated)
{
    lg_buf b;
    lg_buf_init(&b, 1 << 20);
    for(int i = 0; i < 1000; i++)
        cr_assert_eq(lg_buf_printf(&b, "%d,", i), LG_OK);
    cr_assert_eq(b.data[b.len], '\0');
    cr_assert(strncmp(b.data, "0,1,2,", 6) == 0);
    cr_assert_str_eq(b.data + b.len - 4, "999,");
    lg_buf_free(&b);
}

Test(buf, refuses_to_pass_its_maximum_and_keeps_content)
{
    lg_buf b;
    lg_buf_init(&b, 10);
    cr_assert_eq(lg_buf_adds(&b, "0123456789"), LG_OK);
    cr_assert_eq(lg_buf_adds(&b, "x"), LG_ETOOLARGE);
    cr_assert_eq(lg_buf_printf(&b, "%s", "long enough to need the heap path........"),
                 LG_ETOOLARGE);
    cr_assert_eq(b.len, 10);
    cr_assert_str_eq(b.data, "0123456789");
    lg_buf_free(&b);
}

Test(buf, long_printf_takes_the_second_path)
{
    lg_buf b;
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lg_buf_init(&b, 1 << 16);
    cr_assert_eq(lg_buf_printf(&b, "<%s>", big), LG_OK);
    cr_assert_eq(b.len, 1001);
    cr_assert_eq(b.data[0], '<');
    cr_assert_eq(b.data[1000], '>');
    lg_buf_free(&b);
}

Test(buf, json_string_escapes_controls_quotes_and_backslashes)
{
    lg_buf b;
    lg_buf_init(&b, 1024);
    cr_assert_eq(lg_buf_add_json_string(&b, "a\"b\\c\nd\x01 é"), LG_OK);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\u0001 é\"");
    lg_buf_free(&b);
}

Test(buf, take_transfers_ownership)
{
    lg_buf b;
    size_t n = 0;
    lg_buf_init(&b, 100);
    lg_buf_adds(&b, "hello");
    char *p = lg_buf_take(&b, &n);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(p, "hello");
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    free(p);
}

Test(issues, collects_and_counts_errors)
{
    lg_issues l = {0};
    cr_assert_eq(lg_issues_add(&l, LG_SEV_WARNING, "informational", NULL, "w %d", 1), LG_OK);
    for(int i = 0; i < 10; i++)
        cr_assert_eq(lg_issues_add(&l, LG_SEV_ERROR, "invalid", "Patient.name", "e %d", i), LG_OK);
    cr_assert_eq(l.count, 11);
    cr_assert_eq(lg_issues_errors(&l), 10);
    cr_assert_str_eq(l.items[3].diagnostics, "e 2");
    cr_assert_str_eq(l.items[3].location, "Patient.name");
    cr_assert_null(l.items[0].location);
    lg_issues_free(&l);
    cr_assert_eq(l.count, 0);
}
