/* time.h - FHIR date/time values as instant ranges, and the clocks we use. */
#ifndef LOOPGATE_TIME_H
#define LOOPGATE_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/status.h"

/* Parse a FHIR date, dateTime or instant ("2026", "2026-11",
 * "2026-11-24", "2026-11-24T10:00", "2026-11-24T10:00:00",
 * "2026-11-24T10:00:00.123", each optionally followed by "Z" or "+hh:mm"/
 * "-hh:mm" when a time is present) into the inclusive range of milliseconds
 * since the epoch it covers: "2026-11-24" covers
 * [2026-11-24T00:00:00.000Z, 2026-11-24T23:59:59.999Z]. A value without a
 * zone is taken as UTC. LG_EINVAL if s is not such a value (including
 * impossible dates such as 2026-02-30). */
lg_status lg_time_parse_range(const char *s, int64_t *lo, int64_t *hi);

/* Write ms as a FHIR instant with millisecond precision in UTC,
 * "2026-11-24T10:00:00.123Z", NUL-terminated; n must be >= LG_TIME_BUFSZ. */
#define LG_TIME_BUFSZ 40
void lg_time_format(int64_t ms, char *buf, size_t n);
/* Write ms as an RFC 7231 HTTP-date, "Tue, 24 Nov 2026 10:00:00 GMT". */
void lg_time_format_http(int64_t ms, char *buf, size_t n);

/* Wall clock, ms since the epoch. */
int64_t lg_time_now_ms(void);
/* Monotonic clock in microseconds, for measuring durations. */
int64_t lg_time_mono_us(void);

#endif
