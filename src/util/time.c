/* time.c - FHIR date/time parsing into instant ranges, and formatting. */
#include "loopgate/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm): no timegm, no locale, no time zone state. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

/* Read exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for(int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if(ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

lg_status lg_time_parse_range(const char *s, int64_t *lo, int64_t *hi)
{
    int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, ms = 0;
    int prec; /* 0 year, 1 month, 2 day, 3 minute, 4 second, 5 fraction */
    int64_t span_ms;
    const char *p = s;
    if(!s || digits(&p, 4, &y))
        return LG_EINVAL;
    prec = 0;
    if(*p == '-') {
        p++;
        if(digits(&p, 2, &mo) || mo < 1 || mo > 12)
            return LG_EINVAL;
        prec = 1;
        if(*p == '-') {
            p++;
            if(digits(&p, 2, &d) || d < 1 || d > days_in_month(y, mo))
                return LG_EINVAL;
            prec = 2;
        }
    }
    int offset_min = 0;
    if(prec == 2 && *p == 'T') {
        p++;
        if(digits(&p, 2, &h) || h > 23 || *p++ != ':' || digits(&p, 2, &mi) || mi > 59)
            return LG_EINVAL;
        prec = 3;
        if(*p == ':') {
            p++;
            if(digits(&p, 2, &sec) || sec > 59)
                return LG_EINVAL;
            prec = 4;
            if(*p == '.') {
                p++;
                int nd = 0;
                ms = 0;
                while(*p >= '0' && *p <= '9') {
                    if(nd < 3)
                        ms = ms * 10 + (*p - '0');
                    nd++;
                    p++;
                }
                if(nd == 0 || nd > 9)
                    return LG_EINVAL;
                for(int k = nd; k < 3; k++)
                    ms *= 10;
                prec = 5;
            }
        }
        if(*p == 'Z') {
            p++;
        } else if(*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if(digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || om > 59 ||
               oh * 60 + om > 14 * 60)
                return LG_EINVAL;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if(*p)
        return LG_EINVAL;
    int64_t base = days_from_civil(y, mo, d) * 86400000LL + (int64_t)h * 3600000 +
                   (int64_t)mi * 60000 + (int64_t)sec * 1000 + ms - (int64_t)offset_min * 60000;
    switch(prec) {
    case 0: span_ms = (days_from_civil(y + 1, 1, 1) - days_from_civil(y, 1, 1)) * 86400000LL; break;
    case 1: span_ms = (int64_t)days_in_month(y, mo) * 86400000LL; break;
    case 2: span_ms = 86400000LL; break;
    case 3: span_ms = 60000; break;
    case 4: span_ms = 1000; break;
    default: span_ms = 1; break;
    }
    *lo = base;
    *hi = base + span_ms - 1;
    return LG_OK;
}

/* Instants outside years 0000..9999 cannot be written as FHIR instants; open
 * period ends are stored as INT64_MIN/INT64_MAX, so clamp instead of
 * overflowing when negating or converting them. */
#define LG_TIME_MIN_MS (-62167219200000LL)  /* 0000-01-01T00:00:00.000Z */
#define LG_TIME_MAX_MS (253402300799999LL)  /* 9999-12-31T23:59:59.999Z */

static int64_t clamp_ms(int64_t ms)
{
    return ms < LG_TIME_MIN_MS ? LG_TIME_MIN_MS : ms > LG_TIME_MAX_MS ? LG_TIME_MAX_MS : ms;
}

void lg_time_format(int64_t ms, char *buf, size_t n)
{
    ms = clamp_ms(ms);
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, (int)(rem / 3600000),
             (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
}

void lg_time_format_http(int64_t ms, char *buf, size_t n)
{
    static const char *wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *mn[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    ms = clamp_ms(ms);
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    int w = (int)(((days % 7) + 7) % 7);
    snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[w], d, mn[m - 1], y,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

int64_t lg_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lg_time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
