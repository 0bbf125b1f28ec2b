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
