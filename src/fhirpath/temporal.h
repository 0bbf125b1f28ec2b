/* temporal.h - FHIRPath Date, DateTime and Time values with partial precision
 * (private to src/fhirpath). */
#ifndef LG_FHIRPATH_TEMPORAL_H
#define LG_FHIRPATH_TEMPORAL_H

#include <stddef.h>

typedef enum fp_tkind { FP_T_DATE, FP_T_DATETIME, FP_T_TIME } fp_tkind;

/* Precision: how many of year, month, day, hour, minute, second are given
 * (a time starts at hour, so a time of "10:00" has prec 5). Milliseconds
 * count as second precision, as the spec says. */
typedef struct fp_time {
    fp_tkind kind;
    int prec;
    int y, mo, d, h, mi;
    int ms;      /* seconds * 1000 + milliseconds */
    int has_ms;  /* fraction given: kept when formatting */
    int has_tz;
    int tz_min;  /* offset east of UTC, minutes */
} fp_time;

/* Parse text (no '@'). want: -1 to take the kind from the text, else the
 * fp_tkind required. A trailing 'T' ("2015T") makes a DateTime. Returns 0
 * on success, -1 when the text is not such a value. */
int fp_time_parse(const char *s, int want, fp_time *out);

/* Compare a and b to the precision both have. Returns 0 and sets *res to
 * -1/0/1, or -1 when they cannot be compared (kinds differ, or they are
 * equal as far as the less precise goes but precisions differ). */
int fp_time_cmp(const fp_time *a, const fp_time *b, int *res);

/* Add n units (calendar word or UCUM code: year/a, month/mo, week/wk, day/d,
 * hour/h, minute/min, second/s, millisecond/ms). Returns -1 for a unit the
 * value cannot take. */
int fp_time_add(fp_time *t, double n, const char *unit);

/* 1 when w is a FHIRPath calendar duration word (year, months, ...). */
int fp_calendar_word(const char *w);

/* lowBoundary (high 0) / highBoundary (high 1) of t at a precision in
 * digits (4 year, 6 month, 8 day, 10 hour, 12 minute, 14 second, 17
 * millisecond; times 2, 4, 6, 9). An absent zone becomes +14:00 (low) or
 * -12:00 (high). Returns -1 when digits is no precision of t's kind. */
int fp_time_boundary(fp_time *t, int high, int digits);
/* precision(): the digits t is given to (2014 is 4; a time 10:30 is 4). */
int fp_time_precision(const fp_time *t);

/* Format to the value's own precision, without '@'. */
void fp_time_format(const fp_time *t, char *buf, size_t n);

#endif
