/* server.h - the HTTP front end: libevent workers serving lg_rest. */
#ifndef LOOPGATE_SERVER_H
#define LOOPGATE_SERVER_H

#include "loopgate/auth.h"
#include "loopgate/defs.h"
#include "loopgate/forward.h"
#include "loopgate/rest.h"

typedef struct lg_server_config {
    const char *listen;    /* "127.0.0.1:8080" ([v6]:port accepted) */
    const char *data_dir;  /* store location */
    int threads;           /* worker threads, >= 1 */
    int allow_remote;      /* permit a non-loopback listen address */
    int quiet;             /* no per-request log lines */
    int idle_timeout;      /* seconds a keep-alive connection may idle */
    size_t search_cache_bytes; /* per worker; 0 disables the search cache */
    lg_rest_config rest;
    /* The clients allowed in (borrowed; must outlive lg_server_run). NULL
     * serves without authentication (--no-auth): every request is the
     * server itself (lg_rest_request.actor NULL). */
    const lg_clients *clients;
    /* Forwarding to directory platforms (issue #5; borrowed, must outlive
     * lg_server_run), from DATA/forwarding.json or --forwarding. NULL: off
     * (nothing is forwarded, no webhook platform exists, HealthcareService
     * searches stay local). */
    const lg_fwd_config *forwarding;
} lg_server_config;

/* Every request except GET /metadata (and /.well-known/smart-configuration)
 * must carry "Authorization: Bearer <token>" of a client: otherwise 401 with
 * WWW-Authenticate and an OperationOutcome (code login). The client's actor
 * goes to the REST layer (NULL for an unrestricted client: the server
 * itself). Every reply is
 * appended to data_dir/audit.log; GET /AuditEvent (coordination clients, or
 * anyone under --no-auth) searches it. SIGHUP reads data_dir/clients.json
 * again (a file that fails to load or has no client changes nothing).
 *
 * With cfg->forwarding, a referral Task routed to a platform gets its
 * forward job in its write's transaction and the forwarder thread
 * (lg_forwarder_start) delivers it; POST /forward/{platform}/events takes a
 * platform's signed webhooks (no bearer token: the signature
 * authenticates; audited like any request); and GET /HealthcareService
 * (search) is answered from the directory platform when one is named.
 *
 * Serve until SIGTERM or SIGINT, then stop accepting, let in-flight
 * requests finish, and close the store. defs must outlive the call.
 * Returns 0 on a clean shutdown, non-zero (after printing why to stderr) if
 * the server could not start. */
int lg_server_run(const lg_server_config *cfg, const lg_defs *defs);

#endif
