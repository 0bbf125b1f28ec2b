/* adapter_util.h - helpers the platform adapters share (reading their
 * settings, bounding platform text, the status table of
 * docs/forwarding.md). Private to src/forward/; defined in adapter.c. */
#ifndef LG_FORWARD_ADAPTER_UTIL_H
#define LG_FORWARD_ADAPTER_UTIL_H

#include <stddef.h>

#include "adapter.h"

/* Longest setting string an adapter accepts (URLs, ids, secrets). */
#define LG_FWD_MAX_SETTING 2048
/* Longest piece of a platform's reply quoted in an error message. */
#define LG_FWD_MAX_ERROR_TEXT 200

/* Read the string setting key of platform object obj into *out (a copy the
 * caller frees; NULL when absent and not required). Issues are located at
 * "platforms.where(name='<name>').<key>". LG_EINVAL when required and
 * missing, not a string, empty, longer than LG_FWD_MAX_SETTING or holding
 * control characters; LG_ENOMEM. */
lg_status lg_fwd_setting_string(const lg_fwd_platform *p, const cJSON *obj, const char *key,
                                int required, char **out, lg_issues *issues);

/* A one-line, printable copy of at most max bytes of text (len bytes, need
 * not be NUL-terminated): control bytes become spaces, a cut adds "...".
 * Caller frees; NULL on ENOMEM. */
char *lg_fwd_excerpt(const char *text, size_t len, size_t max);

/* The platform error text of a JSON reply body, bounded: the first string
 * found at "error_description", "message", "error" (string, or an object's
 * "message"), "detail"; else the body's excerpt. Caller frees; NULL when
 * the body is empty, or on ENOMEM. */
char *lg_fwd_error_text(const char *body, size_t len);

/* The status table of docs/forwarding.md (both referral styles): 0 and
 * *out set for a known platform status, -1 otherwise. */
int lg_fwd_status_map(const char *platform_status, lg_task_status *out);

/* The verdict for a transport-level result that is not a success: status
 * 0 (no response), 408, 429, 5xx -> RETRY; 401 -> REAUTH when
 * reauth_on_401, else FAIL; other -> FAIL. */
lg_fwd_verdict lg_fwd_verdict_of_status(int status, int reauth_on_401);

/* Parse a reply body as JSON with bounded limits (4 MiB, depth 32,
 * strings of 64 KiB).
 * NULL when it is no JSON (or too large). Caller cJSON_Deletes. */
cJSON *lg_fwd_parse_body(const char *body, size_t len);

/* The language need that goes with the child's preferred language (else
 * the first one), or NULL when none is recorded. Borrowed from c. */
const lg_language_need *lg_fwd_language_need(const lg_child *c);

/* The need category sent to a platform: the coordination model's SDOHCC
 * code (lg_sdoh_category_code) of the referral's first specific category,
 * else of its first; NULL when it has none. Static. */
const char *lg_fwd_need_category(const lg_referral *r);

/* Add "caregivers": [{"name", "relationship", "primary", "methods": [...]}]
 * to obj for the caregivers who may be contacted (none: nothing added).
 * Call only when the referral allows contact. 0, or -1 on ENOMEM. */
int lg_fwd_add_caregivers(cJSON *obj, const lg_child *c);

/* A one-line error for a reply that is no success: "what: HTTP 422:
 * <platform text>" or "what: no response (<transport error>)", bounded.
 * Caller frees; NULL on ENOMEM. */
char *lg_fwd_status_error(const lg_fwd_resp *resp, const char *what);

/* The string member key of j as an id: 1 to max bytes, no spaces or
 * control bytes. Caller frees; NULL when there is none such. */
char *lg_fwd_reply_id(const cJSON *j, const char *key, size_t max);

/* A string member of an inbound JSON object: LG_OK with *out a copy (NULL
 * when absent or null and not required); LG_EINVAL with an issue at loc
 * when missing but required, not a string, empty or over max bytes;
 * LG_ENOMEM. */
lg_status lg_fwd_member(const cJSON *obj, const char *key, const char *loc, int required, size_t max,
                        char **out, lg_issues *issues);

/* *dst = strdup of src (NULL stays NULL). -1 on ENOMEM, else 0. */
int lg_fwd_dup(char **dst, const char *src);

/* Overwrite a secret (a key, a token) before freeing it, so it does not
 * linger in freed heap memory. NULL is a no-op. */
void lg_fwd_wipe_free(char *s);

#endif
