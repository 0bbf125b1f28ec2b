/* gen_referrals.h - a deterministic generator of synthetic closed-loop
 * referrals (model structs) for the report bench and for trying the report
 * on a realistic volume. Same seed and n: same referrals, on any machine. */
#ifndef LOOPGATE_GEN_REFERRALS_H
#define LOOPGATE_GEN_REFERRALS_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/model.h"

/* Called once per referral. r and c (and everything they point to) are
 * borrowed and valid only during the call. A non-zero return stops the
 * generator, which then returns that value. */
typedef int (*lg_gen_fn)(const lg_referral *r, const lg_child *c, void *ctx);

/* n referrals authored uniformly in [start_ms, end_ms), their loops played
 * forward to now_ms: about n/2 children (so children repeat), realistic
 * skews in race, ethnicity, language, county (58 California counties),
 * receiving organization (Zipf over 400 CBOs), need category, PHM tier and
 * ECM population; lognormal days to first response and to closure; some
 * referrals never answered. Returns 0, or the callback's non-zero value. */
int lg_gen_referrals(uint64_t seed, size_t n, int64_t start_ms, int64_t end_ms, int64_t now_ms,
                     lg_gen_fn fn, void *ctx);

#endif
