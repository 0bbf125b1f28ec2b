/* internal.h - what the forwarder's own files (config.c, job.c, engine.c,
 * inbound.c) share, and the entry points its unit tests use to run it with
 * a fake adapter. Private to src/forward/ and tests/unit/test_forward_*.c.
 */
#ifndef LG_FORWARD_INTERNAL_H
#define LG_FORWARD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "forward/adapter.h"
#include "loopgate/forward.h"
#include "loopgate/model.h"
#include "loopgate/store.h"

/* The largest forwarding.json read (it holds a handful of platforms and
 * one line per routed organization). */
#define LG_FWD_CONFIG_MAX (4u << 20)

/* How the configuration finds an adapter by name: lg_fwd_adapter_find in
 * the server, a fake in the unit tests. */
typedef const lg_fwd_adapter *(*lg_fwd_adapter_find_fn)(const char *name);

/* A route with its owner taken apart once, for Type/id comparison. */
typedef struct lg_fwd_route_entry {
    lg_fwd_route route; /* strings owned by the configuration */
    lg_ref owner;       /* parsed route.owner */
} lg_fwd_route_entry;

struct lg_fwd_config {
    lg_fwd_platform *platforms; /* each platform's strings and state owned here */
    size_t n_platforms;
    lg_fwd_route_entry *routes;
    size_t n_routes;
    char *directory; /* platform name, or NULL */
};

/* Parse a configuration from len bytes of json (need not be
 * NUL-terminated), finding adapters with find. Same results as
 * lg_fwd_config_load (an empty or absent document is not allowed here:
 * LG_EINVAL). Caller frees *out with lg_fwd_config_free. */
lg_status lg_fwd_config_parse(const char *json, size_t len, lg_fwd_adapter_find_fn find,
                              lg_fwd_config **out, lg_issues *issues);
/* lg_fwd_config_load with an adapter lookup of the caller's choosing. */
lg_status lg_fwd_config_load_with(const char *path, lg_fwd_adapter_find_fn find,
                                  lg_fwd_config **out, lg_issues *issues);

/* The platform called name, or NULL; its index in c->platforms in *index
 * when index is not NULL. Borrowed from c. */
const lg_fwd_platform *lg_fwd_platform_get(const lg_fwd_config *c, const char *name,
                                           size_t *index);

/* ------------------------------------------------------ job assembly */

/* Everything an lg_fwd_job points to, owned here. */
typedef struct lg_fwd_job_data {
    lg_fwd_job job;         /* its pointers borrow the members below */
    char *key;              /* idempotency key */
    char *remote_id;
    lg_referral *referral;
    lg_child *child;
    char *referrer_name;
    char *cancel_reason;
} lg_fwd_job_data;

/* What lg_fwd_job_load found. */
typedef enum lg_fwd_load_result {
    LG_FWD_LOAD_OK = 0,
    LG_FWD_LOAD_GONE,     /* the Task (or its ServiceRequest) is gone: a permanent failure */
    LG_FWD_LOAD_INVALID,  /* the stored referral cannot be forwarded (unreadable, contact
                             details would leak): a permanent failure */
    LG_FWD_LOAD_NOTHING,  /* a cancel for a referral never delivered: nothing to send */
    LG_FWD_LOAD_TRANSIENT /* store or memory failure: try again later */
} lg_fwd_load_result;

/* Read the job's Task, its focus ServiceRequest, the Patient and the
 * requesting Organization with st (outside a transaction), build the
 * coordination model and fill *out (zeroed first). When the referral is
 * contact-prohibited the child is built from the Patient stripped of its
 * contact details, checked with lg_rule_forward_check. err gets a one-line
 * reason for anything but OK. Release with lg_fwd_job_data_clear. */
lg_fwd_load_result lg_fwd_job_load(lg_store *st, const lg_outbox_job *oj, lg_fwd_job_data *out,
                                   char *err, size_t err_len);
void lg_fwd_job_data_clear(lg_fwd_job_data *d);

/* ------------------------------------------------------ inbound events */

/* Whether a Task status ends the loop (completed, failed, rejected,
 * cancelled, entered-in-error): its link is closed. */
int lg_fwd_status_terminal(lg_task_status s);

/* What applying one event did (for tests and the forwarder's counters). */
typedef enum lg_fwd_apply_result {
    LG_FWD_APPLIED = 0,
    LG_FWD_DUPLICATE,  /* (platform, event id) already recorded */
    LG_FWD_IGNORED,    /* older than the last applied event, or no change */
    LG_FWD_PARKED,     /* the workflow refused it */
    LG_FWD_UNKNOWN,    /* no referral of that remote id / task id */
    LG_FWD_FAILED      /* store failure or hook failure: not recorded, may come again */
} lg_fwd_apply_result;

/* The shared second half of webhooks and polls: de-duplicate ev, map it to
 * its Task, drop it when stale, apply it with hooks, record the outcome and
 * update the link. Runs with st outside any transaction. *http (if not
 * NULL) gets the status lg_fwd_inbound answers. msg gets a one-line reason. */
lg_fwd_apply_result lg_fwd_apply_event(lg_store *st, const lg_fwd_platform *p,
                                       const lg_fwd_event *ev, const lg_fwd_hooks *hooks,
                                       int64_t now_ms, int *http, char *msg, size_t msg_len);

/* ------------------------------------------------------ the engine */

/* Retry delay before attempt number attempts + 1 (attempts >= 1 made so
 * far), docs/forwarding.md: min(max_backoff, backoff * 2^(attempts-1)),
 * then half of it plus a random part of the other half. rnd is a uniform
 * random number in [0, 1). */
int64_t lg_fwd_backoff_ms(const lg_fwd_platform *p, int attempts, double rnd);
/* A Retry-After value (delta-seconds or HTTP-date) as a delay in ms from
 * now_ms (>= 0), or -1 when it cannot be read. */
int64_t lg_fwd_retry_after_ms(const char *value, int64_t now_ms);

#endif
