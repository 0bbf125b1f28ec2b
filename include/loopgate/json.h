/* json.h - bounded JSON parsing for untrusted input.
 *
 * Every body that reaches Loopgate goes through lg_json_parse so that size,
 * nesting depth and string length are checked before cJSON builds a tree, and
 * a syntax error tells the client the line and column where it is.
 */
#ifndef LOOPGATE_JSON_H
#define LOOPGATE_JSON_H

#include <stddef.h>

#include "loopgate/status.h"

typedef struct cJSON cJSON;

typedef struct lg_json_limits {
    size_t max_bytes;   /* whole document */
    int max_depth;      /* nesting of objects and arrays */
    size_t max_string;  /* one string value or key, in bytes */
} lg_json_limits;

/* Sensible defaults: 16 MiB, depth 64, 1 MiB strings. */
extern const lg_json_limits lg_json_default_limits;

/* Parse len bytes of buf (need not be NUL-terminated). On LG_OK *out is a
 * tree the caller frees with cJSON_Delete. On failure *out is NULL and an
 * issue is appended: LG_EINVAL with code "structure" and diagnostics naming
 * line and column (1-based) for syntax errors; LG_ETOOLARGE with code
 * "too-costly" for exceeded limits; invalid UTF-8 is LG_EINVAL.
 * Duplicate keys in one object are LG_EINVAL (JSON FHIR forbids them). */
lg_status lg_json_parse(const char *buf, size_t len, const lg_json_limits *lim,
                        cJSON **out, lg_issues *issues);

/* Exact number text (FHIR json.html: decimal precision is kept, "1.50" is
 * not "1.5"). cJSON keeps numbers as doubles; when the text of a number is
 * not what cJSON would print from that double (1.50, 1e2, 0.10, -0, a
 * 20-digit integer), the text is kept in item->valuestring while the type
 * stays cJSON_Number, so valuedouble users are unaffected. cJSON 1.7.15's
 * cJSON_Delete frees and cJSON_Duplicate copies valuestring for any type.
 * lg_json_parse attaches these literals itself. Code that changes a
 * number's value in place must drop the literal (lg_json_number_clear). */

/* Attach literals to the numbers of root, taken from the JSON text it was
 * parsed from (len bytes of buf). The tree is walked depth-first and the
 * number tokens of the text are read in the same order; each pair must
 * agree in value. Returns the count attached, -1 when walk and text do
 * not agree, -2 without memory; on -1 and -2 no number of root keeps a
 * literal (fail closed: never a wrong one). */
int lg_json_attach_literals(cJSON *root, const char *buf, size_t len);

/* Keep n bytes of text as the literal of number item num when text is a
 * strict JSON number of the same value that cJSON would print differently.
 * Returns 1 when kept, 0 when not needed or not valid (num unchanged), -1
 * without memory. */
int lg_json_number_set_literal(cJSON *num, const char *text, size_t n);

/* The exact text of number num, or NULL when it has none (print the
 * double). Borrowed from num. */
const char *lg_json_number_literal(const cJSON *num);

/* Drop num's literal, e.g. before its value is changed. */
void lg_json_number_clear(cJSON *num);

/* Serialize j: byte-identical to cJSON_PrintUnformatted (formatted 0) or
 * cJSON_Print (formatted 1), except that numbers with a literal are written
 * as that literal. Returns a string the caller frees with free(), or NULL
 * without memory. */
char *lg_json_print(const cJSON *j, int formatted);

/* Insert item (owned; consumed on success) into an array or object at
 * position pos (0-based; past the end appends). For objects item->string must
 * already be set. Returns 0, or -1 (item not consumed). Exists because
 * cJSON_InsertItemInArray in Debian's cJSON 1.7.15 refuses valid inserts. */
int lg_json_insert(cJSON *container, int pos, cJSON *item);

/* Where, in the JSON text a resource was parsed from, the element named by
 * a FHIRPath location such as "Patient.name[0].given[1]" is: *line and
 * *col (1-based; columns count characters) of its key, or of the item for
 * an index. Returns 1 when the whole location was found, 0 when only an
 * ancestor was (e.g. a required element that is absent, or a function step
 * like extension('url')) - *line and *col then name that ancestor - and -1 for
 * text that is not a JSON object (nothing set). Reads at most len bytes. */
int lg_json_locate(const char *text, size_t len, const char *location, int *line, int *col);

/* Give issues [from, count) with a location and no position yet the
 * position lg_json_locate finds in text. */
void lg_issues_locate(lg_issues *issues, size_t from, const char *text, size_t len);

#endif
