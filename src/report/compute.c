/* compute.c - the closed-loop report's aggregation over the fact table:
 * groups by any combination of dimensions, counts per loop state, share
 * closed, median and p90 days to first response and to closure, overdue
 * open referrals; then small-cell suppression (suppress.c).
 *
 * Who is counted: referrals authored in [start, end) whose loop state is
 * neither draft (never sent) nor entered-in-error (never existed); those
 * two are only counted in result->excluded.
 * Overdue (domain.md names the measure but not the clock; these are the
 * documented defaults, configurable per call): an open referral (pending,
 * accepted, in-progress, on-hold) with no first response response_due_ms
 * (3 days) after it was authored, or not closed closure_due_ms (30 days)
 * after it was authored, both as of now_ms.
 */
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"

static const char *const dim_codes[LG_DIM_COUNT] = {
    "race", "ethnicity", "language", "county", "population-of-focus", "phm-tier", "category",
    "organization",
};

static const char *const cell_codes[LG_RC_COUNT] = {
    "pending", "accepted", "in-progress", "on-hold", "closed-served", "closed-not-served",
    "total", "closed", "overdue",
};

const char *lg_report_dim_code(lg_report_dim d)
{
    return (unsigned)d < LG_DIM_COUNT ? dim_codes[d] : "?";
}

int lg_report_dim_parse(const char *code, lg_report_dim *out)
{
    for(int i = 0; code && i < LG_DIM_COUNT; i++)
        if(strcmp(code, dim_codes[i]) == 0) {
            *out = (lg_report_dim)i;
            return 0;
        }
    return -1;
}

const char *lg_report_cell_code(lg_report_cell c)
{
    return (unsigned)c < LG_RC_COUNT ? cell_codes[c] : "?";
}

const char *lg_report_value_code(const lg_report_result *r, lg_report_dim d, uint32_t v)
{
    const char *s = NULL;
    switch(d) {
    case LG_DIM_RACE: case LG_DIM_ETHNICITY: case LG_DIM_LANGUAGE: case LG_DIM_COUNTY:
    case LG_DIM_ORGANIZATION:
        s = lg_report_table_string(r->table, v);
        break;
    case LG_DIM_POPULATION:
        if(v == LG_REPORT_POP_NONE)
            return "none";
        if(v == LG_REPORT_POP_MULTIPLE)
            return "multiple";
        s = v - 1 < LG_ECM_POPULATION_COUNT ? lg_ecm_population_code((lg_ecm_population)(v - 1)) : NULL;
        break;
    case LG_DIM_PHM_TIER:
        s = lg_phm_tier_code((lg_phm_tier)v);
        break;
    case LG_DIM_CATEGORY:
        s = v < LG_SDOH_CATEGORY_COUNT ? lg_sdoh_category_code((lg_sdoh_category)v) : NULL;
        break;
    default:
        break;
    }
    return s ? s : "unknown";
}

double lg_report_percentile(const double *v, size_t n, double p)
{
    if(n == 0)
        return 0;
    if(p <= 0)
        return v[0];
    if(p >= 1)
        return v[n - 1];
    double h = (double)(n - 1) * p;
    size_t lo = (size_t)h;
    if(lo + 1 >= n)
        return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

static int cmp_created(const void *a, const void *b, void *ctx)
{
    const lg_report_row *rows = ctx;
    int64_t x = rows[*(const uint32_t *)a].created_ms, y = rows[*(const uint32_t *)b].created_ms;
    return (x > y) - (x < y);
}

lg_status lg_report_table_index(lg_report_table *t)
{
    uint32_t *ix = realloc(t->by_created, (t->n_rows ? t->n_rows : 1) * sizeof(*ix));
    if(!ix)
        return LG_ENOMEM;
    t->by_created = ix;
    for(size_t i = 0; i < t->n_rows; i++)
        ix[i] = (uint32_t)i;
    qsort_r(ix, t->n_rows, sizeof(*ix), cmp_created, t->rows);
    t->n_index = t->n_rows;
    t->index_dirty = false;
    return LG_OK;
}

/* The first index position whose row was created at or after ms. */
static size_t lower_bound(const lg_report_table *t, int64_t ms)
{
    size_t lo = 0, hi = t->n_index;
    while(lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if(t->rows[t->by_created[mid]].created_ms < ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t dim_value(const lg_report_row *row, lg_report_dim d)
{
    switch(d) {
    case LG_DIM_RACE: return row->race;
    case LG_DIM_ETHNICITY: return row->ethnicity;
    case LG_DIM_LANGUAGE: return row->language;
    case LG_DIM_COUNTY: return row->county;
    case LG_DIM_POPULATION: return row->population;
    case LG_DIM_PHM_TIER: return row->phm_tier;
    case LG_DIM_CATEGORY: return row->category;
    case LG_DIM_ORGANIZATION: return row->organization;
    default: return 0;
    }
}

static int cell_of(uint8_t loop)
{
    switch((lg_loop_state)loop) {
    case LG_LOOP_PENDING: return LG_RC_PENDING;
    case LG_LOOP_ACCEPTED: return LG_RC_ACCEPTED;
    case LG_LOOP_IN_PROGRESS: return LG_RC_IN_PROGRESS;
    case LG_LOOP_ON_HOLD: return LG_RC_ON_HOLD;
    case LG_LOOP_CLOSED_SERVED: return LG_RC_CLOSED_SERVED;
    case LG_LOOP_CLOSED_NOT_SERVED: return LG_RC_CLOSED_NOT_SERVED;
    default: return -1;
    }
}

/* Working state of one computation. */
typedef struct work {
    const lg_report_params *p;
    lg_report_group *groups;
    size_t n_groups, cap_groups;
    uint32_t *slots; /* hash of group index + 1 (0 = empty) */
    size_t cap_slots;
} work;

static uint64_t key_hash(const uint32_t *k, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for(size_t i = 0; i < n; i++) {
        h ^= k[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

static lg_status grow_groups(work *w)
{
    size_t ncap = w->cap_slots ? w->cap_slots * 2 : 64;
    uint32_t *ns = calloc(ncap, sizeof(*ns));
    if(!ns)
        return LG_ENOMEM;
    for(size_t g = 0; g < w->n_groups; g++) {
        size_t i = key_hash(w->groups[g].key, w->p->n_dims) & (ncap - 1);
        while(ns[i])
            i = (i + 1) & (ncap - 1);
        ns[i] = (uint32_t)g + 1;
    }
    free(w->slots);
    w->slots = ns;
    w->cap_slots = ncap;
    return LG_OK;
}

/* The group of key k, created when new. */
static lg_status find_group(work *w, const uint32_t *k, uint32_t *out)
{
    size_t nd = w->p->n_dims;
    if((w->n_groups + 1) * 2 > w->cap_slots && grow_groups(w) != LG_OK)
        return LG_ENOMEM;
    size_t i = key_hash(k, nd) & (w->cap_slots - 1);
    while(w->slots[i]) {
        uint32_t g = w->slots[i] - 1;
        if(memcmp(w->groups[g].key, k, nd * sizeof(*k)) == 0) {
            *out = g;
            return LG_OK;
        }
        i = (i + 1) & (w->cap_slots - 1);
    }
    if(w->n_groups == w->cap_groups) {
        size_t nc = w->cap_groups ? w->cap_groups * 2 : 16;
        lg_report_group *ng = realloc(w->groups, nc * sizeof(*ng));
        if(!ng)
            return LG_ENOMEM;
        w->groups = ng;
        w->cap_groups = nc;
    }
    lg_report_group *g = &w->groups[w->n_groups];
    memset(g, 0, sizeof(*g));
    memcpy(g->key, k, nd * sizeof(*k));
    w->slots[i] = (uint32_t)w->n_groups + 1;
    *out = (uint32_t)w->n_groups++;
    return LG_OK;
}

/* Rearrange v[0..n-1] so that v[k] is the k-th smallest, everything before
 * it <= v[k] and everything after >= v[k] (Hoare's quickselect with a
 * median-of-three pivot; expected O(n), unlike a full sort). */
static void select_k(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while(hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        /* order v[lo], v[mid], v[hi]; the median becomes the pivot */
        if(v[mid] < v[lo]) { double x = v[mid]; v[mid] = v[lo]; v[lo] = x; }
        if(v[hi] < v[lo]) { double x = v[hi]; v[hi] = v[lo]; v[lo] = x; }
        if(v[hi] < v[mid]) { double x = v[hi]; v[hi] = v[mid]; v[mid] = x; }
        double pivot = v[mid];
        size_t i = lo, j = hi;
        while(i <= j) {
            while(v[i] < pivot)
                i++;
            while(v[j] > pivot)
                j--;
            if(i <= j) {
                double x = v[i]; v[i] = v[j]; v[j] = x;
                i++;
                if(j == 0)
                    break;
                j--;
            }
        }
        /* now v[lo..j] <= pivot <= v[i..hi], and j < i */
        if(k <= j)
            hi = j;
        else if(k >= i)
            lo = i;
        else
            return; /* v[j+1..i-1] all equal the pivot */
    }
}

/* The smallest of v[0..n-1] (n > 0). */
static double min_of(const double *v, size_t n)
{
    double m = v[0];
    for(size_t i = 1; i < n; i++)
        if(v[i] < m)
            m = v[i];
    return m;
}

/* The type-7 percentile p of unsorted v[0..n-1] (reorders v): the
 * (floor h)-th smallest by selection, its successor as the minimum of what
 * lies above it. Same value as lg_report_percentile on the sorted array.
 * Selections for increasing p may share v: each one only reorders the
 * part at or above the previous k. */
static double select_percentile(double *v, size_t n, size_t from, double p)
{
    double h = (double)(n - 1) * p;
    size_t k = (size_t)h;
    if(k < from)
        k = from;
    select_k(v + from, n - from, k - from);
    double lo = v[k];
    if(k + 1 >= n || h == (double)k)
        return lo;
    return lo + (h - (double)k) * (min_of(v + k + 1, n - k - 1) - lo);
}

/* Fill a days distribution from values[0..n-1] (reorders them). */
static void days_of(lg_report_days *d, double *values, size_t n)
{
    d->n = (uint32_t)n;
    if(n == 0)
        return;
    d->median = select_percentile(values, n, 0, 0.5);
    d->p90 = select_percentile(values, n, (size_t)((double)(n - 1) * 0.5), 0.9);
}

static int cmp_group(const void *a, const void *b, void *ctx)
{
    const lg_report_result *r = ctx;
    const lg_report_group *x = a, *y = b;
    for(size_t i = 0; i < r->params.n_dims; i++) {
        lg_report_dim d = r->params.dims[i];
        if(x->key[i] == y->key[i])
            continue;
        int c = strcmp(lg_report_value_code(r, d, x->key[i]), lg_report_value_code(r, d, y->key[i]));
        if(c)
            return c;
        return x->key[i] < y->key[i] ? -1 : 1;
    }
    return 0;
}

void lg_report_result_free(lg_report_result *r)
{
    if(!r)
        return;
    free(r->groups);
    free(r);
}

lg_status lg_report_compute(const lg_report_table *t, const lg_report_params *pin,
                            lg_report_result **out, lg_issues *issues)
{
    lg_status st = LG_ENOMEM;
    lg_report_result *res = NULL;
    work w = { 0 };
    uint32_t *sel = NULL, *gid = NULL, *offs = NULL;
    double *vals = NULL, *all = NULL;
    uint32_t (*cells)[LG_RC_COUNT] = NULL;
    uint32_t *supp = NULL;
    *out = NULL;

    if(pin->start_ms >= pin->end_ms) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", "start", "the report period is empty: start must be before end");
        return LG_EINVAL;
    }
    if(pin->n_dims > LG_DIM_COUNT) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", "group-by", "too many group-by dimensions");
        return LG_EINVAL;
    }
    unsigned seen = 0;
    for(size_t i = 0; i < pin->n_dims; i++) {
        if((unsigned)pin->dims[i] >= LG_DIM_COUNT || (seen & (1u << pin->dims[i]))) {
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", "group-by",
                          "group-by dimension %zu is unknown or repeated", i + 1);
            return LG_EINVAL;
        }
        seen |= 1u << pin->dims[i];
    }
    res = calloc(1, sizeof(*res));
    if(!res)
        goto fail;
    res->params = *pin;
    lg_report_params *p = &res->params;
    if(p->threshold == 0)
        p->threshold = LG_REPORT_DEFAULT_THRESHOLD;
    if(p->response_due_ms <= 0)
        p->response_due_ms = LG_REPORT_DEFAULT_RESPONSE_DUE_MS;
    if(p->closure_due_ms <= 0)
        p->closure_due_ms = LG_REPORT_DEFAULT_CLOSURE_DUE_MS;
    res->table = t;
    w.p = p;

    /* Rows in the period: a binary search on the created_ms index when it
     * is current, else a scan. */
    size_t n_sel = 0;
    sel = malloc((t->n_rows ? t->n_rows : 1) * sizeof(*sel));
    if(!sel)
        goto fail;
    bool scan = true;
    if(!t->index_dirty && t->by_created && t->n_index == t->n_rows) {
        size_t lo = lower_bound(t, p->start_ms), hi = lower_bound(t, p->end_ms);
        /* Rows are read through the index in random order (a cache miss
         * each); a sequential scan is cheaper once the period holds more
         * than about a quarter of the table. */
        if(hi - lo <= t->n_rows / 4) {
            scan = false;
            for(size_t i = lo; i < hi; i++)
                sel[n_sel++] = t->by_created[i];
        }
    }
    if(scan) {
        for(size_t i = 0; i < t->n_rows; i++)
            if(t->rows[i].created_ms >= p->start_ms && t->rows[i].created_ms < p->end_ms &&
               t->rows[i].created_ms != INT64_MIN)
                sel[n_sel++] = (uint32_t)i;
    }

    /* Count. gid[i] is the group of sel[i], UINT32_MAX when excluded. */
    gid = malloc((n_sel ? n_sel : 1) * sizeof(*gid));
    if(!gid)
        goto fail;
    uint32_t key[LG_DIM_COUNT] = { 0 };
    size_t n_resp = 0, n_clos = 0;
    for(size_t i = 0; i < n_sel; i++) {
        const lg_report_row *row = &t->rows[sel[i]];
        int cell = cell_of(row->loop);
        gid[i] = UINT32_MAX;
        if(cell < 0) {
            res->excluded++;
            continue;
        }
        for(size_t d = 0; d < p->n_dims; d++)
            key[d] = dim_value(row, p->dims[d]);
        uint32_t g;
        if((st = find_group(&w, key, &g)) != LG_OK)
            goto fail;
        gid[i] = g;
        bool open = cell <= LG_RC_ON_HOLD;
        bool overdue = open && ((row->first_response_ms == INT64_MIN &&
                                 p->now_ms - row->created_ms > p->response_due_ms) ||
                                p->now_ms - row->created_ms > p->closure_due_ms);
        lg_report_group *grp[2] = { &w.groups[g], &res->overall };
        for(int k = 0; k < 2; k++) {
            grp[k]->count[cell]++;
            grp[k]->count[LG_RC_TOTAL]++;
            if(!open)
                grp[k]->count[LG_RC_CLOSED]++;
            if(overdue)
                grp[k]->count[LG_RC_OVERDUE]++;
        }
        if(row->first_response_ms != INT64_MIN && row->first_response_ms >= row->created_ms) {
            w.groups[g].response.n++;
            n_resp++;
        }
        if(!open && row->closed_ms != INT64_MIN && row->closed_ms >= row->created_ms) {
            w.groups[g].closure.n++;
            n_clos++;
        }
    }

    st = LG_ENOMEM;
    /* Days: bucket each milestone's values by group (counting sort), then
     * sort each bucket; the overall row sorts all of them once more. */
    offs = malloc((w.n_groups + 1) * sizeof(*offs));
    size_t n_vals = n_resp > n_clos ? n_resp : n_clos;
    vals = malloc((n_vals ? n_vals : 1) * sizeof(*vals));
    all = malloc((n_vals ? n_vals : 1) * sizeof(*all));
    if(!offs || !vals || !all)
        goto fail;
    for(int which = 0; which < 2; which++) {
        uint32_t o = 0;
        for(size_t g = 0; g < w.n_groups; g++) {
            offs[g] = o;
            o += which ? w.groups[g].closure.n : w.groups[g].response.n;
        }
        size_t n_all = 0;
        for(size_t i = 0; i < n_sel; i++) {
            if(gid[i] == UINT32_MAX)
                continue;
            const lg_report_row *row = &t->rows[sel[i]];
            int64_t at = which ? row->closed_ms : row->first_response_ms;
            if(which && cell_of(row->loop) <= LG_RC_ON_HOLD)
                continue; /* reopened after a closure event: not closed now */
            if(at == INT64_MIN || at < row->created_ms)
                continue;
            double days = (double)(at - row->created_ms) / 86400000.0;
            vals[offs[gid[i]]++] = days;
            all[n_all++] = days;
        }
        o = 0;
        for(size_t g = 0; g < w.n_groups; g++) {
            lg_report_days *d = which ? &w.groups[g].closure : &w.groups[g].response;
            days_of(d, vals + o, d->n);
            o += d->n;
        }
        days_of(which ? &res->overall.closure : &res->overall.response, all, n_all);
    }

    res->groups = w.groups;
    res->n_groups = w.n_groups;
    w.groups = NULL;
    if(res->n_groups > 1)
        qsort_r(res->groups, res->n_groups, sizeof(*res->groups), cmp_group, res);

    /* Suppression over groups + the overall row (last). */
    size_t rows = res->n_groups + 1;
    cells = malloc(rows * sizeof(*cells));
    supp = malloc(rows * sizeof(*supp));
    if(!cells || !supp)
        goto fail;
    for(size_t g = 0; g < res->n_groups; g++)
        memcpy(cells[g], res->groups[g].count, sizeof(cells[g]));
    memcpy(cells[rows - 1], res->overall.count, sizeof(cells[0]));
    lg_report_suppress((const uint32_t (*)[LG_RC_COUNT])cells, supp, rows, p->threshold);
    for(size_t g = 0; g < rows; g++) {
        lg_report_group *grp = g + 1 < rows ? &res->groups[g] : &res->overall;
        grp->suppressed = supp[g];
        grp->share_closed = grp->count[LG_RC_TOTAL]
                                ? (double)grp->count[LG_RC_CLOSED] / grp->count[LG_RC_TOTAL] : 0;
        grp->share_suppressed = (supp[g] & ((1u << LG_RC_CLOSED) | (1u << LG_RC_TOTAL))) != 0;
        /* A median of a handful of referrals describes those few. */
        grp->response.suppressed = grp->response.n > 0 && grp->response.n < p->threshold;
        grp->closure.suppressed = grp->closure.n > 0 && grp->closure.n < p->threshold;
    }
    *out = res;
    res = NULL;
    st = LG_OK;
fail:
    lg_report_result_free(res);
    free(w.groups);
    free(w.slots);
    free(sel);
    free(gid);
    free(offs);
    free(vals);
    free(all);
    free(cells);
    free(supp);
    return st;
}
