/* gen_referrals.c - deterministic synthetic closed-loop referrals (see
 * gen_referrals.h). The distributions are rough, documented guesses for a
 * California Medi-Cal children's population, enough to give the report
 * realistic group sizes (a few huge groups, a long tail of small cells):
 *  - race (OMB): White 30%, Black 7%, Asian 10%, AIAN 1.5%, NHPI 0.5%,
 *    several 5%, unknown 46% (race is often not recorded for Hispanic
 *    children); ethnicity: Hispanic 52%, not Hispanic 38%, unknown 10%;
 *  - preferred language: en 55%, es 36%, then vi, zh, tl, ko, ar, hy, ru,
 *    mixteco-style rare codes;
 *  - county: the 58 California FIPS county codes, Zipf (s = 1.1);
 *  - organization: 400 CBOs, Zipf (s = 1.0);
 *  - need category: food 30%, housing 20%, transportation 12%, financial
 *    10%, utility 8%, ... ; PHM tier basic 80%, complex 12%, enhanced 8%
 *    (ECM populations only for enhanced: one usually, two sometimes);
 *  - loop: 7% of referrals are never answered; first response lognormal
 *    (median 2 days, sigma 1); 85% accepted, 15% rejected; accepted ones
 *    close after a lognormal time (median 18 days, sigma 0.8) as
 *    completed 72%, failed 15%, cancelled 13%, else stay accepted,
 *    in-progress or on-hold at now_ms; 1% drafts, 0.5% entered-in-error.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gen_referrals.h"

#define DAY 86400000.0

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double unit(rng *r) /* [0, 1) */
{
    return (double)(next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double lognormal(rng *r, double median, double sigma)
{
    double u1 = unit(r), u2 = unit(r);
    double z = sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
    return median * exp(sigma * z);
}

/* Index drawn from cumulative weights w[0..n-1] (not normalised). */
static size_t pick(rng *r, const double *w, size_t n)
{
    double total = 0;
    for(size_t i = 0; i < n; i++)
        total += w[i];
    double x = unit(r) * total;
    for(size_t i = 0; i < n; i++) {
        if(x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

#define N_COUNTY 58
#define N_ORG 400

static const char *const race_codes[] = { "2106-3", "2054-5", "2028-9", "1002-5", "2076-8" };
static const double race_w[] = { 30, 7, 10, 1.5, 0.5, 5, 46 }; /* ..., several, unknown */
static const char *const eth_codes[] = { "2135-2", "2186-5" };
static const double eth_w[] = { 52, 38, 10 };
static const char *const langs[] = { "en", "es", "vi", "zh", "tl", "ko", "ar", "hy", "ru", "mix", "zap", "hmn" };
static const double lang_w[] = { 55, 36, 2, 2, 1.5, 0.8, 0.7, 0.8, 0.4, 0.3, 0.2, 0.3 };
static const lg_sdoh_category cats[] = {
    LG_SDOH_FOOD_INSECURITY, LG_SDOH_HOUSING_INSTABILITY, LG_SDOH_TRANSPORTATION_INSECURITY,
    LG_SDOH_FINANCIAL_INSECURITY, LG_SDOH_UTILITY_INSECURITY, LG_SDOH_HOMELESSNESS,
    LG_SDOH_STRESS, LG_SDOH_SOCIAL_CONNECTION, LG_SDOH_INTIMATE_PARTNER_VIOLENCE,
    LG_SDOH_LANGUAGE_ACCESS, LG_SDOH_EDUCATIONAL_ATTAINMENT, LG_SDOH_DIGITAL_ACCESS,
};
static const double cat_w[] = { 30, 20, 12, 10, 8, 6, 5, 3, 2, 2, 1.5, 0.5 };

typedef struct gen {
    double county_w[N_COUNTY], org_w[N_ORG];
    char county[N_COUNTY][8];
    char org[N_ORG][32];
} gen;

/* A child's demographics depend only on (seed, child index), so every
 * referral of the same child agrees. */
static void make_child(uint64_t seed, size_t k, const gen *g, lg_child *c, lg_code *race, lg_code *eth,
                       char *id, size_t idn)
{
    rng r = { seed ^ (0xC2B2AE3D27D4EB4FULL * (k + 1)) };
    memset(c, 0, sizeof(*c));
    snprintf(id, idn, "child-%zu", k);
    c->id = id;
    size_t ri = pick(&r, race_w, 7);
    c->n_race = 0;
    if(ri < 5) {
        race[0] = (lg_code){ (char *)"urn:oid:2.16.840.1.113883.6.238", (char *)race_codes[ri], NULL };
        c->n_race = 1;
    } else if(ri == 5) {
        size_t a = next(&r) % 5, b = (a + 1 + next(&r) % 4) % 5;
        race[0] = (lg_code){ (char *)"urn:oid:2.16.840.1.113883.6.238", (char *)race_codes[a], NULL };
        race[1] = (lg_code){ (char *)"urn:oid:2.16.840.1.113883.6.238", (char *)race_codes[b], NULL };
        c->n_race = 2;
    }
    c->race = race;
    size_t ei = pick(&r, eth_w, 3);
    if(ei < 2) {
        eth[0] = (lg_code){ (char *)"urn:oid:2.16.840.1.113883.6.238", (char *)eth_codes[ei], NULL };
        c->ethnicity = eth;
        c->n_ethnicity = 1;
    }
    c->preferred_language = (char *)langs[pick(&r, lang_w, sizeof(lang_w) / sizeof(lang_w[0]))];
    c->county = (char *)g->county[pick(&r, g->county_w, N_COUNTY)];
    double u = unit(&r);
    c->phm_tier = u < 0.80 ? LG_PHM_BASIC : u < 0.92 ? LG_PHM_COMPLEX : LG_PHM_ENHANCED;
    if(u < 0.02)
        c->phm_tier = LG_PHM_UNKNOWN;
    if(c->phm_tier == LG_PHM_ENHANCED) {
        c->ecm_populations = LG_ECM_BIT(next(&r) % LG_ECM_POPULATION_COUNT);
        if(unit(&r) < 0.2)
            c->ecm_populations |= LG_ECM_BIT(next(&r) % LG_ECM_POPULATION_COUNT);
    }
}

int lg_gen_referrals(uint64_t seed, size_t n, int64_t start_ms, int64_t end_ms, int64_t now_ms,
                     lg_gen_fn fn, void *ctx)
{
    static gen g; /* tables only; rebuilt each call (the bench calls once) */
    for(int i = 0; i < N_COUNTY; i++) {
        g.county_w[i] = 1.0 / pow(i + 1, 1.1);
        snprintf(g.county[i], sizeof(g.county[i]), "06%03d", 2 * i + 1); /* FIPS 06001..06115 */
    }
    for(int i = 0; i < N_ORG; i++) {
        g.org_w[i] = 1.0 / (i + 1);
        snprintf(g.org[i], sizeof(g.org[i]), "Organization/cbo-%d", i + 1);
    }
    rng r = { seed };
    size_t n_children = n / 2 + 1;
    char sr_id[32], child_id[32];
    for(size_t i = 0; i < n; i++) {
        lg_child c;
        lg_code race[2], eth[1];
        size_t k = (size_t)(next(&r) % n_children);
        make_child(seed, k, &g, &c, race, eth, child_id, sizeof(child_id));

        lg_referral ref;
        memset(&ref, 0, sizeof(ref));
        lg_referral_event ev[4];
        size_t ne = 0;
        snprintf(sr_id, sizeof(sr_id), "sr-%zu", i);
        ref.service_request_id = sr_id;
        ref.child.id = child_id;
        ref.recipient_org.reference = g.org[pick(&r, g.org_w, N_ORG)];
        lg_sdoh_category cat = cats[pick(&r, cat_w, sizeof(cat_w) / sizeof(cat_w[0]))];
        ref.categories = &cat;
        ref.n_categories = 1;
        ref.authored_ms = start_ms + (int64_t)(unit(&r) * (double)(end_ms - start_ms));
        int64_t t = ref.authored_ms;
        lg_task_status st = LG_TASK_REQUESTED;
        double u = unit(&r);
        if(u < 0.01) {
            st = LG_TASK_DRAFT;
        } else {
            ev[ne++] = (lg_referral_event){ LG_TASK_REQUESTED, t, NULL };
            if(u >= 0.015 && u < 0.085) {
                /* never answered */
            } else if(u >= 0.015) {
                int64_t resp = t + (int64_t)(lognormal(&r, 2.0, 1.0) * DAY);
                if(resp <= now_ms) {
                    bool accept = unit(&r) < 0.85;
                    st = accept ? LG_TASK_ACCEPTED : LG_TASK_REJECTED;
                    ev[ne++] = (lg_referral_event){ st, resp, NULL };
                    if(!accept)
                        ref.not_served = unit(&r) < 0.5 ? LG_NOT_SERVED_AT_CAPACITY : LG_NOT_SERVED_NOT_ELIGIBLE;
                    if(accept) {
                        int64_t close = resp + (int64_t)(lognormal(&r, 18.0, 0.8) * DAY);
                        double v = unit(&r);
                        if(close <= now_ms) {
                            st = v < 0.72 ? LG_TASK_COMPLETED : v < 0.87 ? LG_TASK_FAILED : LG_TASK_CANCELLED;
                            if(st == LG_TASK_FAILED)
                                ref.not_served = LG_NOT_SERVED_UNABLE_TO_CONTACT;
                            else if(st == LG_TASK_CANCELLED)
                                ref.not_served = LG_NOT_SERVED_CANCELLED;
                        } else {
                            st = v < 0.3 ? LG_TASK_ACCEPTED : v < 0.85 ? LG_TASK_IN_PROGRESS : LG_TASK_ON_HOLD;
                            close = resp + (int64_t)((double)(now_ms - resp) * unit(&r));
                        }
                        if(st != LG_TASK_ACCEPTED)
                            ev[ne++] = (lg_referral_event){ st, close, NULL };
                    }
                }
            } else {
                st = LG_TASK_ENTERED_IN_ERROR;
                ev[ne++] = (lg_referral_event){ st, t + 3600000, NULL };
            }
        }
        ref.timeline = ev;
        ref.n_timeline = ne;
        ref.task_status = st;
        ref.has_task = st != LG_TASK_DRAFT;
        ref.loop = lg_loop_state_of(st);
        int rc = fn(&ref, &c, ctx);
        if(rc)
            return rc;
    }
    return 0;
}
