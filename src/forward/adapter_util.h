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

/* *dst = strdup of src (NULL stays NULL). -1 on ENOMEM, else 0. */
int lg_fwd_dup(char **dst, const char *src);

#endif
