/* temporal.c - FHIRPath Date, DateTime and Time values: parsing partial
 * values, precision-aware comparison and calendar arithmetic.
 *
 * Values are kept as fields, not as epoch numbers, because FHIRPath
 * compares partial values ("2015" vs "2015-02") by precision and answers
 * "unknown" when precision runs out before a difference is found.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "temporal.h"

static int digits(const char **p, int n, int *v)
{
    int r = 0;
    for(int i = 0; i < n; i++) {
        if(!isdigit((unsigned char)(*p)[i]))
            return -1;
        r = r * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = r;
    return 0;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int mdays(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : dm[m - 1];
}

/* Days since 1970-01-01 (Howard Hinnant's civil algorithm). */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

/* hh(:mm(:ss(.fff)?)?)? ; base is the precision before the hour. */
static int parse_clock(const char **p, fp_time *t, int base)
{
    if(digits(p, 2, &t->h) || t->h > 23)
        return -1;
    t->prec = base + 1;
    if(**p != ':')
        return 0;
    (*p)++;
    if(digits(p, 2, &t->mi) || t->mi > 59)
        return -1;
    t->prec = base + 2;
    if(**p != ':')
        return 0;
    (*p)++;
    int sec;
    if(digits(p, 2, &sec) || sec > 59)
        return -1;
    t->prec = base + 3;
    t->ms = sec * 1000;
    if(**p == '.') {
        (*p)++;
        if(!isdigit((unsigned char)**p))
            return -1;
        int frac = 0, n = 0;
        while(isdigit((unsigned char)**p)) {
            if(n < 3) {
                frac = frac * 10 + (**p - '0');
                n++;
            }
            (*p)++;
        }
        while(n++ < 3)
            frac *= 10;
        t->ms += frac;
        t->has_ms = 1;
    }
    return 0;
}

static int parse_tz(const char **p, fp_time *t)
{
    if(**p == 'Z') {
        (*p)++;
        t->has_tz = 1;
        return 0;
    }
    if(**p != '+' && **p != '-')
        return 0;
    int sign = **p == '-' ? -1 : 1, hh, mm;
    (*p)++;
    if(digits(p, 2, &hh) || **p != ':')
        return -1;
    (*p)++;
    if(digits(p, 2, &mm) || hh > 14 || mm > 59)
        return -1;
    t->has_tz = 1;
    t->tz_min = sign * (hh * 60 + mm);
    return 0;
}

int fp_time_parse(const char *s, int want, fp_time *out)
{
    fp_time t;
    memset(&t, 0, sizeof(t));
    const char *p = s;
    if(!s)
        return -1;
    if(*p == 'T' || (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
                     (p[2] == ':' || p[2] == '\0'))) {
        if(*p == 'T')
            p++;
        t.kind = FP_T_TIME;
        /* the hour sits at precision 4 as in a DateTime, so cmp shares code */
        if(parse_clock(&p, &t, 3))
            return -1;
        goto done;
    }
    if(digits(&p, 4, &t.y))
        return -1;
    t.kind = FP_T_DATE;
    t.prec = 1;
    if(*p == '-') {
        p++;
        if(digits(&p, 2, &t.mo) || t.mo < 1 || t.mo > 12)
            return -1;
        t.prec = 2;
        if(*p == '-') {
            p++;
            if(digits(&p, 2, &t.d) || t.d < 1 || t.d > mdays(t.y, t.mo))
                return -1;
            t.prec = 3;
        }
    }
    if(*p == 'T') {
        p++;
        t.kind = FP_T_DATETIME;
        if(*p && t.prec == 3 && parse_clock(&p, &t, 3))
            return -1;
        if(parse_tz(&p, &t))
            return -1;
    }
done:
    if(*p)
        return -1;
    if(want >= 0 && (int)t.kind != want) {
        if(want == FP_T_DATETIME && t.kind == FP_T_DATE)
            t.kind = FP_T_DATETIME;
        else if(!(want == FP_T_DATE && t.kind == FP_T_DATETIME && t.prec <= 3))
            return -1;
        else
            t.kind = FP_T_DATE;
    }
    *out = t;
    return 0;
}

static int sgn(long long v)
{
    return v < 0 ? -1 : v > 0;
}

int fp_time_cmp(const fp_time *a, const fp_time *b, int *res)
{
    if((a->kind == FP_T_TIME) != (b->kind == FP_T_TIME))
        return -1;
    int mp = a->prec < b->prec ? a->prec : b->prec;
    if(mp <= 3 || a->kind == FP_T_DATE || b->kind == FP_T_DATE) {
        int fa[] = {a->y, a->mo, a->d}, fb[] = {b->y, b->mo, b->d};
        int lim = mp < 3 ? mp : 3;
        for(int i = 0; i < lim; i++)
            if(fa[i] != fb[i]) {
                *res = fa[i] < fb[i] ? -1 : 1;
                return 0;
            }
        *res = 0;
        return a->prec == b->prec ? 0 : -1;
    }
    /* Hour or finer: put both on one minute line, zone-adjusted; with a
     * zone on one side only, the order is unknown. */
    if(a->has_tz != b->has_tz)
        return -1;
    long long da = a->kind == FP_T_TIME ? 0 : days_from_civil(a->y, a->mo, a->d);
    long long db = b->kind == FP_T_TIME ? 0 : days_from_civil(b->y, b->mo, b->d);
    long long ma = da * 1440 + a->h * 60 + (a->prec >= 5 ? a->mi : 0) - (a->has_tz ? a->tz_min : 0);
    long long mb = db * 1440 + b->h * 60 + (b->prec >= 5 ? b->mi : 0) - (b->has_tz ? b->tz_min : 0);
    if(mp == 4) {
        long long ha = ma >= 0 ? ma / 60 : -((-ma + 59) / 60);
        long long hb = mb >= 0 ? mb / 60 : -((-mb + 59) / 60);
        if(ha != hb) {
            *res = sgn(ha - hb);
            return 0;
        }
        return a->prec == b->prec ? (*res = 0, 0) : -1;
    }
    if(ma != mb) {
        *res = sgn(ma - mb);
        return 0;
    }
    if(mp == 5)
        return a->prec == b->prec ? (*res = 0, 0) : -1;
    *res = sgn((long long)a->ms - b->ms);
    return 0;
}

static int unit_of(const char *u)
{
    static const struct { const char *w; int p; } units[] = {
        {"year", 1}, {"years", 1}, {"a", 1}, {"month", 2}, {"months", 2}, {"mo", 2},
        {"week", 10}, {"weeks", 10}, {"wk", 10}, {"day", 3}, {"days", 3}, {"d", 3},
        {"hour", 4}, {"hours", 4}, {"h", 4}, {"minute", 5}, {"minutes", 5}, {"min", 5},
        {"second", 6}, {"seconds", 6}, {"s", 6}, {"millisecond", 7}, {"milliseconds", 7},
        {"ms", 7},
    };
    for(size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
        if(!strcmp(u, units[i].w))
            return units[i].p;
    return -1;
}

int fp_calendar_word(const char *w)
{
    static const char *const words[] = {
        "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
        "minute", "minutes", "second", "seconds", "millisecond", "milliseconds",
    };
    for(size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
        if(!strcmp(w, words[i]))
            return 1;
    return 0;
}

int fp_time_add(fp_time *t, double n, const char *unit)
{
    int u = unit ? unit_of(unit) : -1;
    if(u < 0 || !isfinite(n) || fabs(n) > 1e7)
        return -1;
    /* UCUM 'a' and 'mo' are not calendar years and months: not addable */
    if(!strcmp(unit, "a") || !strcmp(unit, "mo"))
        return -1;
    long long k = (long long)trunc(n);
    if(u == 10) {
        u = 3;
        k *= 7;
    }
    if(t->kind == FP_T_TIME ? u < 4 : 0)
        return -1;
    if(t->kind == FP_T_DATE && u > 3)
        return -1;
    if(u == 1 || u == 2) {
        long long months = (long long)t->y * 12 + (t->mo ? t->mo - 1 : 0) + (u == 1 ? k * 12 : k);
        if(u == 2 && t->prec < 2)
            months = (long long)t->y * 12 + k / 12 * 12; /* whole years only at year precision */
        if(months < 0 || months > 9999LL * 12 + 11)
            return -1;
        t->y = (int)(months / 12);
        if(t->prec >= 2)
            t->mo = (int)(months % 12) + 1;
        if(t->prec >= 3 && t->d > mdays(t->y, t->mo))
            t->d = mdays(t->y, t->mo);
        return 0;
    }
    long long step = u == 3 ? 86400000LL : u == 4 ? 3600000LL : u == 5 ? 60000LL : u == 6 ? 1000LL : 1;
    long long total = (t->kind == FP_T_TIME ? 0 : (long long)days_from_civil(t->y, t->mo ? t->mo : 1, t->d ? t->d : 1)) * 86400000LL +
                      t->h * 3600000LL + t->mi * 60000LL + t->ms;
    if(t->prec < 3 && t->kind != FP_T_TIME)
        return 0; /* a day or finer on a year or month: below its precision */
    total += k * step;
    if(t->kind == FP_T_TIME) {
        total %= 86400000LL;
        if(total < 0)
            total += 86400000LL;
    }
    long long days = total >= 0 ? total / 86400000LL : -((-total + 86399999LL) / 86400000LL);
    long long rem = total - days * 86400000LL;
    if(t->kind != FP_T_TIME) {
        int y, m, d;
        civil_from_days((long)days, &y, &m, &d);
        if(y < 1 || y > 9999)
            return -1;
        t->y = y;
        t->mo = m;
        t->d = d;
    }
    t->h = (int)(rem / 3600000LL);
    t->mi = (int)(rem / 60000LL % 60);
    t->ms = (int)(rem % 60000LL);
    return 0;
}

void fp_time_format(const fp_time *t, char *buf, size_t n)
{
    int o = 0;
    buf[0] = '\0';
#define PUT(...)                                                                      \
    do {                                                                              \
        int w_ = snprintf(buf + o, n > (size_t)o ? n - (size_t)o : 0, __VA_ARGS__);   \
        if(w_ > 0)                                                                    \
            o += w_;                                                                  \
    } while(0)
    if(t->kind != FP_T_TIME) {
        PUT("%04d", t->y);
        if(t->prec >= 2)
            PUT("-%02d", t->mo);
        if(t->prec >= 3)
            PUT("-%02d", t->d);
        if(t->kind == FP_T_DATE)
            return;
        PUT("T");
    }
    if(t->prec >= 4)
        PUT("%02d", t->h);
    if(t->prec >= 5)
        PUT(":%02d", t->mi);
    if(t->prec >= 6)
        PUT(":%02d", t->ms / 1000);
    if(t->prec >= 6 && t->has_ms)
        PUT(".%03d", t->ms % 1000);
    if(t->kind == FP_T_DATETIME && t->has_tz && t->prec >= 4) {
        if(t->tz_min == 0)
            PUT("Z");
        else
            PUT("%c%02d:%02d", t->tz_min < 0 ? '-' : '+', (t->tz_min < 0 ? -t->tz_min : t->tz_min) / 60,
                (t->tz_min < 0 ? -t->tz_min : t->tz_min) % 60);
    }
#undef PUT
}

int fp_time_boundary(fp_time *t, int high, int digits)
{
    int prec, ms = 0;
    if(t->kind == FP_T_TIME) {
        switch(digits) {
        case 2: prec = 4; break;
        case 4: prec = 5; break;
        case 6: prec = 6; break;
        case 9: prec = 6; ms = 1; break;
        default: return -1;
        }
    } else {
        switch(digits) {
        case 4: prec = 1; break;
        case 6: prec = 2; break;
        case 8: prec = 3; break;
        case 10: prec = 4; break;
        case 12: prec = 5; break;
        case 14: prec = 6; break;
        case 17: prec = 6; ms = 1; break;
        default: return -1;
        }
        if(t->kind == FP_T_DATE && prec > 3)
            return -1;
    }
    /* an hour alone ("T08") is not a FHIR time: it stands for 08:00 */
    if(t->prec == 4) {
        t->mi = 0;
        t->prec = 5;
    }
    if(t->prec < 2)
        t->mo = high ? 12 : 1;
    if(t->prec < 3)
        t->d = high ? mdays(t->y, t->mo) : 1;
    if(t->prec < 4)
        t->h = high ? 23 : 0;
    if(t->prec < 5)
        t->mi = high ? 59 : 0;
    if(t->prec < 6)
        t->ms = high ? 59999 : 0;
    else if(!t->has_ms && high)
        t->ms += 999;
    /* no zone: the earliest zone is +14:00, the latest -12:00 */
    if(t->kind == FP_T_DATETIME && !t->has_tz && prec > 3) {
        t->has_tz = 1;
        t->tz_min = high ? -720 : 840;
    }
    t->prec = prec;
    t->has_ms = ms;
    if(t->kind == FP_T_DATETIME && prec <= 3) {
        t->kind = FP_T_DATE;
        t->has_tz = 0;
    }
    return 0;
}

int fp_time_precision(const fp_time *t)
{
    static const int dt[] = {0, 4, 6, 8, 10, 12, 14};
    int p = t->prec < 0 ? 0 : t->prec > 6 ? 6 : t->prec;
    if(t->kind == FP_T_TIME)
        return (p - 3) * 2 + (t->has_ms && p >= 6 ? 3 : 0);
    return dt[p] + (t->has_ms && p >= 6 ? 3 : 0);
}
