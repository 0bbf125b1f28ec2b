/* rest.h - the FHIR R4 RESTful API, independent of any HTTP library.
 *
 * The HTTP layer turns each request into an lg_rest_request, calls
 * lg_rest_handle, and writes the lg_rest_response back. Batch and
 * transaction Bundles use the same entry point for each entry, which is why
 * this layer must not depend on libevent. It talks to storage only through
 * store.h.
 */
#ifndef LOOPGATE_REST_H
#define LOOPGATE_REST_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/model.h"
#include "loopgate/status.h"
#include "loopgate/store.h"

/* Bounds and defaults; immutable once the server runs. */
typedef struct lg_rest_config {
    size_t max_body;           /* request body bytes (413 beyond) */
    lg_json_limits json;       /* depth and string bounds for bodies */
    int default_count;         /* page size when _count is absent */
    int max_count;             /* _count is clamped to this */
    size_t max_bundle_entries; /* batch/transaction entries */
    size_t max_response;       /* response body bytes */
    size_t max_includes;       /* resources added by _include/_revinclude */
    const char *base_url;      /* fixed base URL, or NULL: derive from Host */
    int defer_sync;            /* 1: writes commit without flushing and set the
                                * response's durable_ticket (see below) */
    unsigned report_min_cell;  /* $closed-loop-report: the smallest small-cell
                                * threshold a request may ask for (default 11) */
    /* Forwarding (issue #5): whether a referral Task owned by owner_ref
     * (Type/id) goes to a directory platform - 1 with *platform and
     * *target (borrowed from ctx) set, else 0. Called inside the write
     * transaction, which then also adds the forward job to the outbox.
     * NULL: nothing is forwarded. */
    int (*forward_route)(const void *ctx, const char *owner_ref, const char **platform,
                         const char **target);
    const void *forward_ctx;
} lg_rest_config;

void lg_rest_config_defaults(lg_rest_config *c);

typedef struct lg_rest {
    const lg_defs *defs;       /* borrowed; outlives the lg_rest */
    lg_rest_config cfg;
} lg_rest;

/* A worker thread's cache of search results (src/rest/search_cache.c):
 * repeated identical searches are answered without running them while no
 * resource of a type they depend on has been written. Used by one thread
 * only. max_bytes 0 gives *out = NULL (no caching). The caller frees it
 * with lg_search_cache_free. */
typedef struct lg_search_cache lg_search_cache;
lg_status lg_search_cache_new(size_t max_bytes, lg_search_cache **out);
void lg_search_cache_free(lg_search_cache *sc);

/* One request. Every pointer is borrowed for the duration of the call;
 * absent headers are NULL. path is the decoded path ("/Patient/1"), query the
 * raw (still percent-encoded) query string without '?', or NULL. */
typedef struct lg_rest_request {
    const char *method;
    const char *path;
    const char *query;
    const char *base;          /* "http://host:port", no trailing slash */
    const char *content_type;
    const char *accept;
    const char *if_match;
    const char *if_none_match;
    const char *if_none_exist;
    const char *if_modified_since;
    const char *prefer;
    const char *body;
    size_t body_len;
    lg_search_cache *search_cache; /* the calling thread's, or NULL */
    int rebuilt_body;              /* 1: body was re-serialised by the server (a Bundle
                                      entry), so issues get no line/column */
    /* Who is asking, as authenticated by the HTTP layer (borrowed). NULL
     * means the server itself (internal calls, tests of the REST layer
     * alone): no access limits, and the workflow checks only the state
     * machine, not who may make a transition. */
    const lg_actor *actor;
    const char *client_id;         /* the configured client's id, for the audit log; NULL with actor NULL */
    /* The _format value content negotiation took out of the query (decoded),
     * or NULL; set by lg_rest_handle. An operation whose plain answer is not
     * FHIR (the closed-loop report) reads it to tell "json" from FHIR. */
    const char *format;
    /* Set by lg_rest_handle when the client posted FHIR XML: body is then
     * the JSON it was converted to (rebuilt_body 1) and this the original,
     * where issues are located (lg_xml_issues_locate). NULL otherwise. */
    const char *xml_body;
    size_t xml_body_len;
} lg_rest_request;

#define LG_REST_MAX_HEADER 160
/* One response. body is malloc'd and owned by the response: lg_rest_response_clear. */
typedef struct lg_rest_response {
    int status;
    char *body;
    size_t body_len;
    const char *content_type;             /* static string, or NULL when no body */
    char location[LG_REST_MAX_HEADER * 2];/* "" when absent */
    char etag[40];                        /* W/"3" or "" */
    char last_modified[40];               /* HTTP-date or "" */
    char allow[64];                       /* for 405, else "" */
    int64_t last_updated;                 /* ms of the version answered, 0 if none */
    /* With cfg.defer_sync: nonzero when this interaction committed; the
     * response must not reach the client before lg_store_synced() >= it
     * (or, if the flush fails, must become a 500). */
    uint64_t durable_ticket;
    /* 1 when the interaction added (or replayed) outbox jobs: once durable,
     * the HTTP layer wakes the forwarder (lg_forwarder_wake). */
    int outbox_added;
} lg_rest_response;

void lg_rest_response_clear(lg_rest_response *r);

/* Handle one request with the given store handle (owned by the calling
 * thread). Always fills resp (errors become OperationOutcome bodies); the
 * return value is LG_OK unless even that failed (out of memory). */
lg_status lg_rest_handle(const lg_rest *rest, lg_store *st, const lg_rest_request *req,
                         lg_rest_response *resp);

#endif
