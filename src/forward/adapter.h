/* adapter.h - what a platform adapter provides to the forwarder.
 *
 * An adapter is pure translation: it builds outbound HTTP requests from the
 * coordination model, reads responses, verifies and parses inbound events,
 * and maps the platform's statuses to Task states. It never does I/O - the
 * forwarder (engine.c) sends what it builds - so every adapter is unit
 * tested without a network. Adding a platform is a new folder
 * src/forward/<name>/ and one line in adapter.c's table.
 *
 * Memory: every lg_fwd_req / lg_fwd_event an adapter fills is owned by the
 * caller (lg_fwd_req_clear / lg_fwd_event_clear). State returned by
 * configure belongs to the configuration (free_state).
 */
#ifndef LG_FORWARD_ADAPTER_H
#define LG_FORWARD_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/forward.h"
#include "loopgate/json.h"
#include "loopgate/model.h"
#include "loopgate/status.h"

#define LG_FWD_MAX_HEADERS 16

/* An outbound request. */
typedef struct lg_fwd_req {
    char method[8];                       /* "GET", "POST" */
    char *url;                            /* absolute; owned */
    char *headers[LG_FWD_MAX_HEADERS];    /* "Name: value"; owned */
    size_t n_headers;
    char *body;                           /* owned, NULL when none */
    size_t body_len;
} lg_fwd_req;

void lg_fwd_req_clear(lg_fwd_req *r);
/* Append a header (printf-style "Name: value"). LG_ETOOLARGE past
 * LG_FWD_MAX_HEADERS, LG_ENOMEM. */
lg_status lg_fwd_req_header(lg_fwd_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* url = base + path (base without trailing '/', path starting with '/');
 * path segments the caller inserts must be escaped with lg_fwd_escape. */
lg_status lg_fwd_req_url(lg_fwd_req *r, const char *base, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Percent-encode s for a URL path segment or query value (RFC 3986
 * unreserved kept). Caller frees. NULL on ENOMEM. */
char *lg_fwd_escape(const char *s);

/* A response as received (all borrowed for the call). status 0: no
 * response at all (connection refused, reset, timeout). */
typedef struct lg_fwd_resp {
    int status;
    const char *body;
    size_t body_len;
    const char *content_type;  /* or NULL */
    const char *retry_after;   /* Retry-After header value, or NULL */
    const char *error;         /* transport error text when status is 0 */
} lg_fwd_resp;

/* One delivery: what the adapter may put on the wire, read from the store
 * when the job is attempted (so a retry sends the referral as it is now).
 * All borrowed. child is already stripped of contact details when the
 * referral is contact-prohibited. */
typedef struct lg_fwd_job {
    int64_t job_id;
    const char *kind;             /* "create" | "cancel" */
    const char *idempotency_key;  /* send as Idempotency-Key on every attempt */
    const char *task_id;          /* our Task id */
    const char *target;           /* the route's program id at the platform */
    const char *remote_id;        /* the platform's referral id (cancel), or NULL */
    const lg_referral *referral;
    const lg_child *child;        /* NULL when the Patient is not stored */
    const char *referrer_name;    /* requesting organization's name, or NULL */
    const char *cancel_reason;    /* for cancel: Task.statusReason text, or NULL */
} lg_fwd_job;

/* What an attempt's response means. */
typedef enum lg_fwd_verdict {
    LG_FWD_DONE = 0, /* delivered (remote_id set for a create) */
    LG_FWD_NEXT,     /* this step succeeded; build step + 1 in the same attempt */
    LG_FWD_RETRY,    /* transient: network error, timeout, 408, 429, 5xx */
    LG_FWD_REAUTH,   /* credentials refused (401): drop the token, retry at once (once) */
    LG_FWD_FAIL      /* permanent: any other 4xx, or a success we cannot read */
} lg_fwd_verdict;

/* An inbound status change (webhook or poll). */
typedef struct lg_fwd_event {
    char *event_id;        /* the platform's event id (polls: remote_id + ":" + status + ":" + time) */
    char *remote_id;       /* the platform's referral id */
    char *task_id;         /* our Task id when the platform echoes it, or NULL */
    char *platform_status; /* as the platform says it */
    lg_task_status status; /* mapped */
    char *reason;          /* why declined / cancelled / not served, or NULL */
    char *outcome;         /* what was provided (completed), or NULL */
    int64_t occurred_ms;   /* INT64_MIN unknown */
} lg_fwd_event;

void lg_fwd_event_clear(lg_fwd_event *e);

/* Settings every platform has, read by config.c; the adapter reads its own
 * keys from the same JSON object in configure. */
typedef struct lg_fwd_platform {
    char *name;
    const struct lg_fwd_adapter *adapter;
    void *state;              /* the adapter's (configure / free_state) */
    char *base_url;
    int max_attempts;         /* default 8 */
    int64_t backoff_ms;       /* first retry delay, default 1000 */
    int64_t max_backoff_ms;   /* cap, default 3600000 */
    int64_t timeout_ms;       /* per request, default 10000 */
    int concurrency;          /* in-flight requests, default 8 */
    int verify_tls;           /* default 1 */
    char *ca_file;            /* or NULL */
    int poll_seconds;         /* polling adapters: default 300 */
} lg_fwd_platform;

typedef struct lg_fwd_adapter {
    const char *name; /* the "adapter" value in forwarding.json */

    /* Read the adapter's settings from the platform object (base settings
     * already in p). LG_EINVAL with issues at "platforms[i].key". */
    lg_status (*configure)(const lg_fwd_platform *p, const cJSON *obj, void **state, lg_issues *issues);
    void (*free_state)(void *state);

    /* Token-based authentication (NULL when the adapter needs none). When
     * the adapter holds no token valid at now_ms (with a margin), builds the
     * token request into *out and returns 1; 0 when ready; -1 (out left
     * empty) when the request cannot be built (no memory). token_response
     * stores the token (LG_OK) or says why not (msg): LG_EIO no response,
     * 408, 429 or 5xx (transient); LG_EFORBIDDEN any other refusal;
     * LG_EINVAL a 2xx without a usable token. invalidate forgets it. */
    int (*auth_request)(const lg_fwd_platform *p, void *state, int64_t now_ms, lg_fwd_req *out);
    lg_status (*auth_response)(const lg_fwd_platform *p, void *state, const lg_fwd_resp *resp,
                               int64_t now_ms, char *msg, size_t msg_len);
    void (*auth_invalidate)(void *state);

    /* Delivery of a job, in steps 0, 1, ... (most are one step; findhelp
     * looks the program up first). */
    lg_status (*build)(const lg_fwd_platform *p, void *state, const lg_fwd_job *job, int step,
                       lg_fwd_req *out, lg_issues *issues);
    /* *remote_id (caller frees) when the platform named the referral;
     * *error (caller frees) a one-line reason for anything but DONE/NEXT. */
    lg_fwd_verdict (*parse)(const lg_fwd_platform *p, void *state, const lg_fwd_job *job, int step,
                            const lg_fwd_resp *resp, char **remote_id, char **error);

    /* Webhooks (NULL when the platform sends none). verify: LG_OK or
     * LG_EFORBIDDEN (bad or missing signature, stale timestamp). */
    lg_status (*verify)(const lg_fwd_platform *p, void *state, lg_fwd_header_fn header,
                        const void *hctx, const char *body, size_t len, int64_t now_ms);
    /* Parse one event; LG_EINVAL (issues) when unreadable, LG_ENOTFOUND
     * for an event type that carries no status (to be ignored). */
    lg_status (*parse_event)(const lg_fwd_platform *p, void *state, const char *body, size_t len,
                             lg_fwd_event *out, lg_issues *issues);

    /* Polling (NULL when the platform sends webhooks). */
    lg_status (*build_poll)(const lg_fwd_platform *p, void *state, const char *remote_id,
                            lg_fwd_req *out);
    /* LG_OK with *out filled; LG_EAGAIN-like transient failures return
     * LG_EIO (poll again next round); LG_EINVAL unreadable. */
    lg_status (*parse_poll)(const lg_fwd_platform *p, void *state, const char *remote_id,
                            const lg_fwd_resp *resp, lg_fwd_event *out);

    /* Directory search (NULL when the platform is no directory). query:
     * the raw FHIR query of GET /HealthcareService. LG_EINVAL (issues with
     * the parameter as location) for a parameter that cannot be mapped. */
    lg_status (*build_search)(const lg_fwd_platform *p, void *state, const char *query,
                              lg_fwd_req *out, lg_issues *issues);
    /* The response as a FHIR searchset Bundle of HealthcareService (with
     * contained Location / Organization as needed, and next/previous links
     * on base). Caller cJSON_Deletes *bundle. LG_EIO when the platform
     * failed (msg in issues), LG_EINVAL when unreadable. */
    lg_status (*parse_search)(const lg_fwd_platform *p, void *state, const char *query,
                              const char *base, const lg_fwd_resp *resp, cJSON **bundle,
                              lg_issues *issues);
} lg_fwd_adapter;

/* The adapter called name, or NULL. */
const lg_fwd_adapter *lg_fwd_adapter_find(const char *name);

/* Map between the platform-neutral names used in docs/forwarding.md
 * ("uniteus", "findhelp", "hsds") and the adapters. */
extern const lg_fwd_adapter lg_fwd_uniteus;
extern const lg_fwd_adapter lg_fwd_findhelp;
extern const lg_fwd_adapter lg_fwd_hsds;

#endif
