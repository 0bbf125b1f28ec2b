/* search.h - the store-neutral vocabulary of FHIR search.
 *
 * Two things live here:
 *  - index entries: what a resource version contributes to the search indexes
 *    (computed by lg_index_extract from the SearchParameter FHIRPath
 *    expressions, written by the store in the same transaction as the resource);
 *  - queries: a parsed search request (lg_query) that a store backend turns into
 *    its own query language. Nothing here knows SQL or HTTP.
 */
#ifndef LOOPGATE_SEARCH_H
#define LOOPGATE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/status.h"

typedef struct cJSON cJSON;
typedef struct lg_defs lg_defs;

/* SearchParameter.type */
typedef enum lg_sp_type {
    LG_SP_NUMBER, LG_SP_DATE, LG_SP_STRING, LG_SP_TOKEN, LG_SP_REFERENCE,
    LG_SP_COMPOSITE, LG_SP_QUANTITY, LG_SP_URI, LG_SP_SPECIAL
} lg_sp_type;

/* One index row. The meaning of the generic columns depends on type:
 *   TOKEN     s1 = system ("" when the coding/identifier has none),
 *             s2 = code/value, s3 = display/text or NULL
 *   REFERENCE s1 = target type, s2 = target id (relative literal references,
 *             "Type/id" or "Type/id/_history/n"), s3 = the reference string as
 *             written (absolute URLs, urn:uuid:, canonical) ; s1/s2 NULL when
 *             the reference is not a relative literal
 *   STRING    s1 = normalised value (lower case, ASCII-folded, whitespace
 *             collapsed), s2 = the value as written
 *   URI       s1 = the URI
 *   DATE      lo..hi = the instant range covered, ms since the epoch, both
 *             inclusive (a date "2026-11-24" covers the whole day, in UTC)
 *   NUMBER, QUANTITY  s1 = canonical decimal text, lo = hi = value * 1000
 *             (rounded), s2 = unit system, s3 = unit code (quantity only)
 * All strings are owned by the lg_index list. */
typedef struct lg_index_entry {
    const char *param; /* SearchParameter.code; borrowed from lg_defs */
    lg_sp_type type;
    char *s1, *s2, *s3;
    int64_t lo, hi;
} lg_index_entry;

typedef struct lg_index {
    lg_index_entry *items;
    size_t count, cap;
} lg_index;

/* Compute every index entry for one resource of type `type` (the resource's
 * resourceType) using the search parameters lg_defs holds for it. Appends to
 * *out (zero-initialised by the caller). Evaluation problems are reported as
 * warnings in issues and never fail the write. */
lg_status lg_index_extract(const lg_defs *defs, const char *type,
                           const cJSON *resource, lg_index *out,
                           lg_issues *issues);
/* The entries of one search parameter only (code, e.g. "focus"): what
 * _include needs from each match, without evaluating every parameter. */
lg_status lg_index_extract_param(const lg_defs *defs, const char *type, const cJSON *resource,
                                 const char *code, lg_index *out, lg_issues *issues);
void lg_index_free(lg_index *ix);

/* Search prefixes (number, date, quantity). */
typedef enum lg_prefix {
    LG_PFX_EQ, LG_PFX_NE, LG_PFX_GT, LG_PFX_LT, LG_PFX_GE, LG_PFX_LE,
    LG_PFX_SA, LG_PFX_EB, LG_PFX_AP
} lg_prefix;

typedef enum lg_modifier {
    LG_MOD_NONE, LG_MOD_EXACT, LG_MOD_CONTAINS, LG_MOD_MISSING, LG_MOD_NOT,
    LG_MOD_TEXT, LG_MOD_IDENTIFIER, LG_MOD_TYPE /* reference :Type */
} lg_modifier;

/* One value of a search parameter. Values of one parameter are ORed.
 *   TOKEN     s1 = system or NULL (any system); s1 = "" means "no system"
 *             (|code); s2 = code or NULL (system| : any code in system)
 *   REFERENCE s1 = type or NULL (any type; a bare id), s2 = id;
 *             s3 = absolute reference (s1/s2 NULL) when not relative
 *   STRING    s1 = normalised value (see lg_index_entry), s2 = as written
 *   URI       s1
 *   DATE      lo..hi = the range the value denotes (inclusive ms);
 *             prefix applies
 *   NUMBER    lo..hi = value range * 1000 with prefix
 *   :missing  missing = 1 for "true", 0 for "false" */
typedef struct lg_query_value {
    lg_prefix prefix;
    char *s1, *s2, *s3;
    int64_t lo, hi;
    int missing;
} lg_query_value;

/* One search parameter in a query; parameters are ANDed. The special codes
 * "_id" (TOKEN, s2 = id) and "_lastUpdated" (DATE) refer to the resource row
 * itself, not to index entries; a backend must map them. */
typedef struct lg_query_param {
    char *code;
    lg_sp_type type;
    lg_modifier modifier;
    char *type_modifier; /* reference :Type modifier's type, else NULL */
    lg_query_value *values;
    size_t nvalues;
} lg_query_param;

typedef enum lg_sort { LG_SORT_NONE, LG_SORT_LASTUPDATED_ASC, LG_SORT_LASTUPDATED_DESC } lg_sort;

/* A whole search. Results come ordered by (sort key, seq); without a _sort
 * the order is seq (the order in which versions were written). A page
 * starts strictly after the cursor (after_key, after_seq) when has_cursor
 * is set, so links stay correct while new resources arrive. */
typedef struct lg_query {
    char *type;                /* resource type searched */
    lg_query_param *params;
    size_t nparams;
    lg_sort sort;
    int count;                 /* page size, already bounded by the caller */
    int has_cursor;
    int64_t after_key;         /* last_updated ms of the last row seen (sorted searches) */
    int64_t after_seq;         /* seq of the last row seen */
    int64_t max_seq;           /* only versions with seq <= max_seq (0 = no bound) */
} lg_query;

void lg_query_free(lg_query *q);   /* frees the contents, not q itself */

/* Parse one search parameter name[:modifier] and its raw (already
 * URL-decoded) value string into *out, using the types from defs.
 * Unknown parameters and malformed values are LG_EINVAL with an issue whose
 * location is the parameter name. */
lg_status lg_query_add_param(const lg_defs *defs, lg_query *q,
                             const char *name, const char *value,
                             lg_issues *issues);

/* Normalise a string for STRING index/search (lower-case, ASCII-fold common
 * Latin-1 accents, collapse whitespace). Returns a malloc'd string the caller
 * frees, or NULL on allocation failure. */
char *lg_search_normalise(const char *s);

#endif
