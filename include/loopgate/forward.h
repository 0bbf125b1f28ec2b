/* forward.h - delivering referrals to resource-directory platforms and
 * bringing their status changes back (issue #5).
 *
 * Three parts, used by the layers above:
 *  - the forwarding configuration (DATA/forwarding.json): the platforms,
 *    which adapter speaks to each, and which receiving organization or
 *    program is routed to which platform. The REST layer asks it, inside a
 *    write transaction, whether a referral Task needs a forward job.
 *  - the forwarder: one thread with its own event_base and store handle
 *    that delivers due outbox jobs through libcurl's multi-socket interface
 *    (retries, backoff, dead jobs), polls the platforms that send no
 *    webhooks, and performs directory searches for the HTTP layer.
 *  - inbound events (webhooks and polls): verified, de-duplicated and
 *    applied to the Task through hooks the HTTP layer supplies - the same
 *    workflow rules as a CBO's own update. This layer never calls the REST
 *    layer itself.
 *
 * Wire formats of each platform style: docs/forwarding.md.
 */
#ifndef LOOPGATE_FORWARD_H
#define LOOPGATE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/model.h"
#include "loopgate/status.h"
#include "loopgate/store.h"

struct event_base;

/* ------------------------------------------------------ configuration */

typedef struct lg_fwd_config lg_fwd_config;

/* Where a referral for one receiving organization/program goes. Strings
 * belong to the configuration. */
typedef struct lg_fwd_route {
    const char *owner;    /* "Organization/cbo-1" or "HealthcareService/p-9" (Task.owner) */
    const char *platform; /* a platform name of the configuration */
    const char *target;   /* the program (or organization) id at the platform */
} lg_fwd_route;

/* Load path (JSON, bounded size). A missing file is an empty configuration
 * (nothing is forwarded): LG_OK. Unknown adapters, routes to unknown
 * platforms, missing required settings: LG_EINVAL with issues naming the
 * JSON location. Caller frees *out with lg_fwd_config_free. */
lg_status lg_fwd_config_load(const char *path, lg_fwd_config **out, lg_issues *issues);
void lg_fwd_config_free(lg_fwd_config *c);

/* The route of a Task owner reference (compared as Type/id), or NULL. */
const lg_fwd_route *lg_fwd_route_find(const lg_fwd_config *c, const char *owner_ref);
/* Number of platforms configured (0: forwarding off). */
size_t lg_fwd_platform_count(const lg_fwd_config *c);
/* Whether a platform of that name exists. */
int lg_fwd_platform_exists(const lg_fwd_config *c, const char *name);
/* The platform that answers HealthcareService searches ("directory" in the
 * file), or NULL. */
const char *lg_fwd_directory(const lg_fwd_config *c);

/* ------------------------------------------------------ inbound events */

/* How the HTTP layer applies a platform's status to a Task. Both run on
 * the calling thread with that thread's store handle, outside any open
 * transaction, and return an HTTP status: 2xx applied, 409/422/403 refused
 * by the workflow rules (msg says why), other values failed. */
typedef struct lg_fwd_hooks {
    /* Move Task task_id to status as its owner would; reason becomes
     * statusReason (rejected, cancelled, failed); for completed, outcome
     * (may be NULL) describes the service given and becomes the
     * resulting-activity output. */
    int (*apply_status)(void *ctx, lg_store *st, const char *task_id, lg_task_status status,
                        const char *reason, const char *outcome, char *msg, size_t msg_len);
    /* Set Task.businessStatus (code from the Loopgate forwarding code
     * system: "delivered", "delivery-failed", "delivery-retrying"; text
     * free) without changing its status. Unlike apply_status, it may
     * return with its write committed but not yet flushed
     * (lg_store_commit_nowait; not yet visible to reads outside a
     * transaction): the caller flushes (lg_store_commit of any write
     * transaction on st) before it relies on the write - the forwarder
     * does so once per loop iteration for all its verdicts. A write lost
     * to a crash before then goes with the verdict it describes, and the
     * job is sent again. */
    int (*set_business_status)(void *ctx, lg_store *st, const char *task_id, const char *code,
                               const char *text, char *msg, size_t msg_len);
    void *ctx;
} lg_fwd_hooks;

/* Header lookup for inbound requests: the value of name (case-insensitive)
 * or NULL. */
typedef const char *(*lg_fwd_header_fn)(const void *hctx, const char *name);

/* A webhook POSTed to /forward/{platform}/events: verify its signature,
 * parse it, drop it if (platform, event id) was seen, map it to the Task,
 * ignore it if older than the last applied event, otherwise apply it with
 * hooks and record the outcome. Returns the HTTP status to answer: 200
 * (applied, duplicate, ignored or parked - the platform must not resend a
 * refused transition), 401 bad signature, 400 unparsable, 404 unknown
 * platform or referral, 500 store failure. msg gets a one-line reason. */
int lg_fwd_inbound(const lg_fwd_config *c, lg_store *st, const char *platform,
                   lg_fwd_header_fn header, const void *hctx, const char *body, size_t body_len,
                   const lg_fwd_hooks *hooks, int64_t now_ms, char *msg, size_t msg_len);

/* ------------------------------------------------------ the forwarder */

typedef struct lg_forwarder lg_forwarder;

/* Start the forwarder thread: its own store handle on store_location,
 * config and hooks borrowed until lg_forwarder_stop. With no platform
 * configured it still starts (and does nothing). Caller stops it with
 * lg_forwarder_stop. */
lg_status lg_forwarder_start(const lg_fwd_config *config, const char *store_location,
                             const lg_fwd_hooks *hooks, lg_forwarder **out, lg_issues *issues);
/* New or replayed jobs are durable: look at the outbox now rather than at
 * the next timer. Any thread. */
void lg_forwarder_wake(lg_forwarder *fw);
/* Finish or abandon in-flight requests (abandoned jobs stay pending and are
 * sent again after a restart), join the thread, free. NULL is a no-op. */
void lg_forwarder_stop(lg_forwarder *fw);

/* Counters since start, for tests, the bench and logs. */
typedef struct lg_forwarder_stats {
    uint64_t attempts, delivered, retried, dead, polls, events;
    uint64_t in_flight;
} lg_forwarder_stats;
void lg_forwarder_stats_get(lg_forwarder *fw, lg_forwarder_stats *out);

/* A directory search for the HTTP layer (GET /HealthcareService): query is
 * the raw FHIR query string; base the server's base URL. The directory
 * platform's adapter builds the request; the forwarder thread sends it;
 * done is then called on reply_base's thread (event_base_once) with the
 * HTTP status to answer and a body it owns (a searchset Bundle, or an
 * OperationOutcome; free with free()). Query errors are reported through
 * done as well (400). Returns LG_EUNSUPPORTED when no directory is
 * configured; LG_ENOMEM. */
typedef void (*lg_fwd_search_done)(void *arg, int status, char *body, size_t body_len);
lg_status lg_forwarder_search(lg_forwarder *fw, const char *query, const char *base,
                              struct event_base *reply_base, lg_fwd_search_done done, void *arg);

#endif
