/* Unit tests for FHIR date/time ranges (src/util/time.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "loopgate/time.h"

static void range(const char *s, const char *lo_s, const char *hi_s)
{
    int64_t lo, hi;
    char a[LG_TIME_BUFSZ], b[LG_TIME_BUFSZ];
    cr_assert_eq(lg_time_parse_range(s, &lo, &hi), LG_OK, "%s should parse", s);
    lg_time_format(lo, a, sizeof(a));
    lg_time_format(hi, b, sizeof(b));
    cr_assert_str_eq(a, lo_s, "%s lo", s);
    cr_assert_str_eq(b, hi_s, "%s hi", s);
}

Test(time, precisions_cover_their_whole_span)
{
    range("2026", "2026-01-01T00:00:00.000Z", "2026-12-31T23:59:59.999Z");
    range("2024-02", "2024-02-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z");
    range("2026-11-24", "2026-11-24T00:00:00.000Z", "2026-11-24T23:59:59.999Z");
    range("2026-11-24T10:00", "2026-11-24T10:00:00.000Z", "2026-11-24T10:00:59.999Z");
    range("2026-11-24T10:00:05Z", "2026-11-24T10:00:05.000Z", "2026-11-24T10:00:05.999Z");
    range("2026-11-24T10:00:05.12Z", "2026-11-24T10:00:05.120Z", "2026-11-24T10:00:05.120Z");
    range("2026-11-24T10:00:00-08:00", "2026-11-24T18:00:00.000Z", "2026-11-24T18:00:00.999Z");
    range("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z");
}

Test(time, rejects_impossible_values)
{
    const char *bad[] = {"", "26", "2026-13", "2026-00-10", "2026-02-29", "2026-04-31",
                         "2026-11-24T24:00", "2026-11-24T10:60", "2026-11-24T10:00:61",
                         "2026-11-24T10", "2026-11-24T10:00+15:00", "2026-11-24X",
                         "2026-11-24T10:00:00.", "2026/11/24", "2026-1-2", "2026-11-24T10:00Zx"};
    int64_t lo, hi;
    for(size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        cr_assert_eq(lg_time_parse_range(bad[i], &lo, &hi), LG_EINVAL, "%s accepted", bad[i]);
    cr_assert_eq(lg_time_parse_range("2024-02-29", &lo, &hi), LG_OK);
    cr_assert_eq(lg_time_parse_range("2000-02-29", &lo, &hi), LG_OK);
    cr_assert_eq(lg_time_parse_range("1900-02-29", &lo, &hi), LG_EINVAL);
}

Test(time, http_date_and_round_trip)
{
    char buf[64];
    int64_t lo, hi;
    cr_assert_eq(lg_time_parse_range("2026-11-24T10:00:00Z", &lo, &hi), LG_OK);
    lg_time_format_http(lo, buf, sizeof(buf));
    cr_assert_str_eq(buf, "Tue, 24 Nov 2026 10:00:00 GMT");
    lg_time_format(lo + 123, buf, sizeof(buf));
    cr_assert_str_eq(buf, "2026-11-24T10:00:00.123Z");
    cr_assert_gt(lg_time_now_ms(), lo - 86400000LL * 365 * 10);
}

Test(time, month_lengths_and_leap_years)
{
    static const struct { const char *s; int ok; } cases[] = {
        {"2026-01-31", 1}, {"2026-01-32", 0}, {"2026-03-31", 1}, {"2026-06-31", 0},
        {"2026-06-30", 1}, {"2026-09-31", 0}, {"2026-11-31", 0}, {"2026-12-31", 1},
        {"2026-02-28", 1}, {"2028-02-29", 1}, {"2100-02-29", 0}, {"2400-02-29", 1},
        {"2026-02-00", 0}, {"2026-00", 0}, {"2026-12", 1}, {"0001-01-01", 1},
        {"9999-12-31T23:59:59.999Z", 1}, {"2026-11-24T23:59:59", 1},
        {"2026-11-24T00:00:00+14:00", 1}, {"2026-11-24T00:00:00-14:00", 1},
        {"2026-11-24T00:00:00+14:01", 0}, {"2026-11-24T00:00:00+13:60", 0},
        {"2026-11-24T00:00:00+0100", 0}, {"2026-11-24T00:00:00+1", 0},
        {"2026-11-24T00:00:00.123456789Z", 1}, {"2026-11-24T00:00:00.1234567890Z", 0},
        {"2026-11-24T00:00:60", 0}, {"2026-11-24T00:00:5", 0}, {"2026-11-24T-1:00", 0},
        {"2026-11-24Z", 0}, {"2026Z", 0}, {"2026-11T10:00", 0}, {" 2026", 0},
        {"2026 ", 0}, {"+2026", 0}, {"20261124", 0}, {"2026-11-24t10:00", 0},
    };
    int64_t lo, hi;
    for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
        cr_expect_eq(lg_time_parse_range(cases[i].s, &lo, &hi) == LG_OK, cases[i].ok,
                     "%s: expected %s", cases[i].s, cases[i].ok ? "valid" : "invalid");
    cr_assert_eq(lg_time_parse_range(NULL, &lo, &hi), LG_EINVAL);
}

Test(time, ranges_are_exact)
{
    int64_t lo, hi;
    cr_assert_eq(lg_time_parse_range("1970-01-01", &lo, &hi), LG_OK);
    cr_assert_eq(lo, 0);
    cr_assert_eq(hi, 86400000LL - 1);
    cr_assert_eq(lg_time_parse_range("1970", &lo, &hi), LG_OK);
    cr_assert_eq(hi, 365LL * 86400000 - 1);
    cr_assert_eq(lg_time_parse_range("1972", &lo, &hi), LG_OK);
    cr_assert_eq(hi - lo + 1, 366LL * 86400000, "leap year spans 366 days");
    cr_assert_eq(lg_time_parse_range("1970-01-01T01:00:00+01:00", &lo, &hi), LG_OK);
    cr_assert_eq(lo, 0);
    cr_assert_eq(lg_time_parse_range("1969-12-31T19:00:00-05:00", &lo, &hi), LG_OK);
    cr_assert_eq(lo, 0);
    /* A failed parse leaves the outputs alone. */
    lo = hi = 42;
    cr_assert_eq(lg_time_parse_range("2026-02-30", &lo, &hi), LG_EINVAL);
    cr_assert_eq(lo, 42);
    cr_assert_eq(hi, 42);
}

Test(time, format_round_trips_and_clamps)
{
    const char *inst[] = {"2026-11-24T10:00:00.123Z", "2000-02-29T23:59:59.999Z",
                          "1900-03-01T00:00:00.000Z", "1969-07-20T20:17:40.000Z",
                          "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"};
    char buf[LG_TIME_BUFSZ];
    int64_t lo, hi;
    for(size_t i = 0; i < sizeof(inst) / sizeof(*inst); i++) {
        cr_assert_eq(lg_time_parse_range(inst[i], &lo, &hi), LG_OK, "%s", inst[i]);
        lg_time_format(lo, buf, sizeof(buf));
        cr_assert_str_eq(buf, inst[i]);
    }
    lg_time_format(INT64_MIN, buf, sizeof(buf));
    cr_assert_str_eq(buf, "0000-01-01T00:00:00.000Z");
    lg_time_format(INT64_MAX, buf, sizeof(buf));
    cr_assert_str_eq(buf, "9999-12-31T23:59:59.999Z");
    lg_time_format_http(INT64_MAX, buf, sizeof(buf));
    cr_assert_str_eq(buf, "Fri, 31 Dec 9999 23:59:59 GMT");
    lg_time_format_http(0, buf, sizeof(buf));
    cr_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    lg_time_format_http(-1, buf, sizeof(buf));
    cr_assert_str_eq(buf, "Wed, 31 Dec 1969 23:59:59 GMT");
    char small[8];
    lg_time_format(0, small, sizeof(small));
    cr_assert_str_eq(small, "1970-01", "truncated, still NUL-terminated");
    int64_t a = lg_time_mono_us(), b = lg_time_mono_us();
    cr_assert_geq(b, a);
}
