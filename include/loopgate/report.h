/* report.h - the closed-loop referral report (issue #4): a compact, indexed
 * in-memory table of referral facts filled from the coordination model, the
 * aggregate computation (counts per loop state, share closed, median and
 * 90th-percentile days to first response and to closure, overdue open
 * referrals) stratified by any combination of dimensions, small-cell
 * suppression, and two writers (plain JSON and a FHIR R4 MeasureReport).
 *
 * Ownership: lg_report_table_new / lg_report_compute return heap objects the
 * caller releases with lg_report_table_free / lg_report_result_free. A result
 * borrows its table (for value names): free the result first and do not add
 * to the table while a result is in use. Writers append text to a caller-
 * owned lg_buf (bounded by its max: LG_ETOOLARGE when it would overflow).
 *
 * Pure library: no HTTP, no SQL. The table's rows are laid out so that a
 * later layer can persist them one-to-one as SQLite tables (see report.c).
 */
#ifndef LOOPGATE_REPORT_H
#define LOOPGATE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loopgate/buf.h"
#include "loopgate/model.h"
#include "loopgate/status.h"

/* The California public-reporting small-cell threshold: cells 1..10 hidden. */
#define LG_REPORT_DEFAULT_THRESHOLD 11u
/* Default "overdue" clocks (configurable per call): an open referral is
 * overdue when it has had no first response 3 days after it was authored,
 * or has not closed 30 days after it was authored. */
#define LG_REPORT_DEFAULT_RESPONSE_DUE_MS (3 * 86400000LL)
#define LG_REPORT_DEFAULT_CLOSURE_DUE_MS (30 * 86400000LL)
/* Bounds: rows per table (ids are 32-bit) and interned bytes. */
#define LG_REPORT_MAX_ROWS 50000000u
#define LG_REPORT_MAX_STRING 1024u

/* One referral as the report sees it. String-valued facts are ids into the
 * table's string dictionary (0 = absent/unknown); enums are the model's. */
typedef struct lg_report_row {
    int64_t created_ms;        /* authored; INT64_MIN unknown (never reported) */
    int64_t first_response_ms; /* first accepted/rejected; INT64_MIN none */
    int64_t closed_ms;         /* first completed/rejected/cancelled/failed; INT64_MIN none */
    uint32_t referral;         /* ServiceRequest id (else Task id) */
    uint32_t child;
    uint32_t organization;     /* receiving organization/program reference */
    uint32_t race;             /* OMB race code, "multiple" when more than one */
    uint32_t ethnicity;        /* OMB ethnicity code */
    uint32_t language;         /* preferred language (BCP-47) */
    uint32_t county;
    uint8_t loop;              /* lg_loop_state */
    uint8_t not_served;        /* lg_not_served */
    uint8_t category;          /* lg_sdoh_category: the first category */
    uint8_t phm_tier;          /* lg_phm_tier */
    uint8_t population;        /* LG_REPORT_POP_* below */
} lg_report_row;

/* population: 0 none, 1 + lg_ecm_population when exactly one, MULTIPLE. */
#define LG_REPORT_POP_NONE 0u
#define LG_REPORT_POP_MULTIPLE 255u

typedef struct lg_report_table lg_report_table;

/* A new empty table, or NULL when out of memory. Caller frees. */
lg_report_table *lg_report_table_new(void);
void lg_report_table_free(lg_report_table *t);

/* Add (or, when its referral id is already in the table, replace) the row of
 * referral r for child c (c may be NULL: demographics unknown). A referral
 * needs a service_request_id or task_id: LG_EINVAL otherwise, LG_ETOOLARGE
 * past LG_REPORT_MAX_ROWS or for a string longer than LG_REPORT_MAX_STRING,
 * LG_ENOMEM. Nothing of r or c is kept. */
lg_status lg_report_add_referral(lg_report_table *t, const lg_referral *r, const lg_child *c);

/* One referral's facts with its strings spelled out: what the store keeps
 * per referral (joined with the child's demographics) and gives back to
 * fill a table without rebuilding model structs. Strings are borrowed
 * (NULL or "" = unknown); times INT64_MIN = none; enums as in
 * lg_report_row. */
typedef struct lg_report_fact {
    const char *referral, *child, *organization;
    const char *race, *ethnicity, *language, *county;
    int64_t created_ms, first_response_ms, closed_ms;
    uint8_t loop, not_served, category, phm_tier, population;
} lg_report_fact;

/* Add (or replace, by referral id) the row of fact f. Errors as
 * lg_report_add_referral. Nothing of f is kept. */
lg_status lg_report_add_fact(lg_report_table *t, const lg_report_fact *f);

/* The facts lg_report_add_referral would record for r and c, into *f
 * (strings borrowed from r and c, valid while they are). r may be NULL
 * (only the child's demographics are filled), c may be NULL (unknown). */
void lg_report_fact_of(const lg_referral *r, const lg_child *c, lg_report_fact *f);

size_t lg_report_table_rows(const lg_report_table *t);
/* Row i (0-based, in insertion order), NULL when out of range. Borrowed. */
const lg_report_row *lg_report_table_row(const lg_report_table *t, size_t i);
/* The text of an interned id; NULL for 0 or out of range. Borrowed. */
const char *lg_report_table_string(const lg_report_table *t, uint32_t id);
/* Build (or rebuild) the created_ms index. lg_report_compute uses it to
 * read only the period's rows while it is current; after further adds it
 * scans every row instead (same answer, slower). LG_ENOMEM or LG_OK. */
lg_status lg_report_table_index(lg_report_table *t);
/* Bytes the table holds (rows, indexes, dictionary), for the bench. */
size_t lg_report_table_bytes(const lg_report_table *t);

/* ---------------------------------------------------------- computation */

typedef enum lg_report_dim {
    LG_DIM_RACE, LG_DIM_ETHNICITY, LG_DIM_LANGUAGE, LG_DIM_COUNTY,
    LG_DIM_POPULATION, LG_DIM_PHM_TIER, LG_DIM_CATEGORY, LG_DIM_ORGANIZATION,
    LG_DIM_COUNT
} lg_report_dim;
/* "race", "ethnicity", "language", "county", "population-of-focus",
 * "phm-tier", "category", "organization" (the group-by codes); static. */
const char *lg_report_dim_code(lg_report_dim d);
int lg_report_dim_parse(const char *code, lg_report_dim *out); /* 0 or -1 */

/* The cells of one row of the report. The first six are the loop states a
 * sent referral can be in and sum to TOTAL; CLOSED is the sum of the two
 * closed states; OVERDUE is a subset of the four open states. */
typedef enum lg_report_cell {
    LG_RC_PENDING, LG_RC_ACCEPTED, LG_RC_IN_PROGRESS, LG_RC_ON_HOLD,
    LG_RC_CLOSED_SERVED, LG_RC_CLOSED_NOT_SERVED,
    LG_RC_TOTAL, LG_RC_CLOSED, LG_RC_OVERDUE,
    LG_RC_COUNT
} lg_report_cell;
#define LG_RC_STATES 6
/* "pending", ..., "total", "closed", "overdue"; static. */
const char *lg_report_cell_code(lg_report_cell c);

/* A distribution of days (first response or closure). n is the number of
 * referrals that reached the milestone; median/p90 are in days (fractional)
 * and meaningful only when n > 0 and !suppressed. */
typedef struct lg_report_days {
    uint32_t n;
    bool suppressed;
    double median, p90;
} lg_report_days;

typedef struct lg_report_group {
    uint32_t key[LG_DIM_COUNT]; /* value per requested dim, in request order */
    uint32_t count[LG_RC_COUNT];
    uint32_t suppressed;        /* bit (1u << lg_report_cell) per hidden cell */
    bool share_suppressed;      /* share closed hidden */
    double share_closed;        /* closed / total; 0 when total is 0 */
    lg_report_days response, closure;
} lg_report_group;

typedef struct lg_report_params {
    int64_t start_ms, end_ms;  /* referrals authored in [start_ms, end_ms) */
    int64_t now_ms;            /* "now" for overdue */
    lg_report_dim dims[LG_DIM_COUNT];
    size_t n_dims;             /* 0: only the overall row; each dim at most once */
    unsigned threshold;        /* 0: LG_REPORT_DEFAULT_THRESHOLD; 1 turns suppression off */
    int64_t response_due_ms;   /* 0: default */
    int64_t closure_due_ms;    /* 0: default */
} lg_report_params;

typedef struct lg_report_result {
    lg_report_params params;   /* as used (defaults filled in) */
    const lg_report_table *table; /* borrowed */
    lg_report_group overall;   /* every reported referral; key unused */
    lg_report_group *groups;   /* ordered by key (value ids, then dims in order) */
    size_t n_groups;
    uint32_t excluded;         /* in the period but draft or entered-in-error */
} lg_report_result;

/* Compute the report. LG_EINVAL (with an issue) for a bad period, a repeated
 * or unknown dim; LG_ENOMEM. *out is set only on LG_OK; caller frees. */
lg_status lg_report_compute(const lg_report_table *t, const lg_report_params *p,
                            lg_report_result **out, lg_issues *issues);
void lg_report_result_free(lg_report_result *r);

/* The text of a group's value for dim (race code, county name, phm tier
 * code, ...), "unknown" when absent, "multiple" for several. Static or
 * borrowed from the table. */
const char *lg_report_value_code(const lg_report_result *r, lg_report_dim d, uint32_t value);

/* Small-cell suppression of counts (documented in suppress.c); exported so
 * the rule can be tested on hand-made matrices. cells is a rows x LG_RC_COUNT
 * matrix in row order; the last row is the overall (column totals). Sets
 * supp (same shape, bit per cell as in lg_report_group.suppressed). */
void lg_report_suppress(const uint32_t (*cells)[LG_RC_COUNT], uint32_t *supp, size_t rows,
                        unsigned threshold);

/* Percentile of sorted values v[0..n-1] (n > 0), p in [0, 1]: linear
 * interpolation between closest ranks (Hyndman-Fan type 7, as R's default
 * and Excel's PERCENTILE.INC): h = (n - 1) p, v[floor h] + (h - floor h)
 * (v[floor h + 1] - v[floor h]). The median is p = 0.5 (the mean of the two
 * middle values for even n). */
double lg_report_percentile(const double *v, size_t n, double p);

/* ---------------------------------------------------------- writers */

/* Plain JSON: {"period":{...},"groupBy":[...],"threshold":11,
 * "overall":{...},"groups":[{"key":{"race":"2106-3"},...}]}; a suppressed
 * value is null and its name is listed in the row's "suppressed" array. */
lg_status lg_report_write_json(const lg_report_result *r, lg_buf *out);

/* A FHIR R4 MeasureReport (status complete, type summary) for one or more
 * results over the same period: the group's populations and measureScore
 * (share closed) come from results[0]'s overall row, and each result becomes
 * one stratifier whose code lists its dims (system
 * LG_REPORT_DIM_SYSTEM) and whose strata carry value (one dim) or component
 * (several). Suppressed counts have no count and a data-absent-reason
 * "masked" extension. id may be NULL. */
#define LG_REPORT_DIM_SYSTEM "https://loopgate.dev/fhir/CodeSystem/closed-loop-report-dimension"
#define LG_REPORT_POPULATION_SYSTEM "https://loopgate.dev/fhir/CodeSystem/closed-loop-report-population"
#define LG_REPORT_MEASURE_URL "https://loopgate.dev/fhir/Measure/closed-loop-referral"
lg_status lg_report_write_measure_report(const lg_report_result *const *results, size_t n_results,
                                         const char *id, lg_buf *out);

#endif
