/* internal.h - what the REST interaction modules share: the per-request
 * context, error replies, and helpers for the FHIR write pipeline. Private to
 * src/rest/. */
#ifndef LG_REST_INTERNAL_H
#define LG_REST_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "loopgate/buf.h"
#include "loopgate/rest.h"

/* Everything one interaction needs. issues collects what the client is told. */
typedef struct lg_ctx {
    const lg_rest *rest;
    lg_store *st;
    const lg_rest_request *req;
    lg_rest_response *resp;
    lg_issues issues;
    int in_txn;        /* 1 inside a transaction Bundle: the caller begins/commits */
    int64_t now;       /* lastUpdated for writes made under the write lock, 0 = not yet */
    const char *forced_id; /* transaction: the id a create must use (urn:uuid mapping) */
    struct lg_access_memo *access_memo; /* decisions kept for one search/history (access.c) */
} lg_ctx;

/* ---- search cache (search_cache.c) ----
 * lg_search_cache_note, called BEFORE a search runs, notes the store's
 * generation and the last write of each type the result depends on (types
 * are borrowed until lg_search_cache_put). lg_search_cache_put keeps the
 * computed Bundle tail under key. lg_search_cache_get returns 1 and points
 * *tail at the cached tail (valid until the next call on sc) when the entry
 * is still right, else 0. */
#define LG_SEARCH_NOTE_TYPES 32
typedef struct lg_search_note {
    uint64_t gen;
    const char *types[LG_SEARCH_NOTE_TYPES];
    int64_t seqs[LG_SEARCH_NOTE_TYPES];
    size_t ntypes;
    int valid;
} lg_search_note;

int lg_search_cache_get(lg_search_cache *sc, lg_store *st, const char *key, size_t key_len,
                        const char **tail, size_t *tail_len);
lg_status lg_search_cache_note(lg_store *st, const char *const *types, size_t ntypes,
                               lg_search_note *n);
void lg_search_cache_put(lg_search_cache *sc, const lg_search_note *n, const char *key,
                         size_t key_len, const char *tail, size_t tail_len);

/* Percent-decoded key/value pairs of a query string or form body. */
typedef struct lg_param {
    char *name;
    char *value;
} lg_param;

typedef struct lg_params {
    lg_param *items;
    size_t count;
} lg_params;

/* Parse a query string ("a=1&b=2", percent-encoded, '+' is a space).
 * *out is owned by the caller: lg_params_free. LG_ETOOLARGE beyond max pairs. */
lg_status lg_params_parse(const char *qs, size_t len, lg_params *out);
void lg_params_free(lg_params *p);

/* HTTP status for an lg_status. */
int lg_rest_http_status(lg_status s);

/* Reply with an OperationOutcome built from ctx->issues plus one issue
 * (severity error, code, printf message). Returns s so callers can
 * `return lg_fail(...)`. */
lg_status lg_fail(lg_ctx *c, lg_status s, const char *code, const char *location,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Reply with ctx->issues as an OperationOutcome using status s (issues
 * already explain the problem). */
lg_status lg_fail_issues(lg_ctx *c, lg_status s);

/* Take ownership of a buffer as the response body (JSON). */
void lg_reply_buf(lg_ctx *c, int status, lg_buf *b);
/* Reply with a stored version as the body, plus ETag and Last-Modified. */
lg_status lg_reply_resource(lg_ctx *c, int status, const lg_resource *r);
/* Reply with an informational OperationOutcome. */
lg_status lg_reply_info(lg_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void lg_set_version_headers(lg_ctx *c, const lg_resource *r, int with_location);

/* Body checks shared by create/update: a JSON object whose resourceType is
 * type. On success *out is the tree (caller frees). */
/* Parse the request body as a resource of type (object, resourceType, id
 * syntax). lg_parse_resource_body also validates it against the base
 * definitions; the base-URL batch/transaction handler uses the plain form
 * because each entry is validated as it is processed (a bad batch entry
 * fails alone). On success *out is the caller's to cJSON_Delete; on error
 * the reply is already set. */
lg_status lg_parse_body_object(lg_ctx *c, const char *type, cJSON **out);
lg_status lg_parse_resource_body(lg_ctx *c, const char *type, cJSON **out);

/* Write pipeline. All require an open write transaction (lg_txn_begin). */
lg_status lg_txn_begin(lg_ctx *c);
lg_status lg_txn_commit(lg_ctx *c);
void lg_txn_rollback(lg_ctx *c);

/* Store res (type already checked) as the next version of type/id after
 * prev_version (0 = new). Sets id and meta.versionId/lastUpdated in res.
 * On LG_OK *out holds the stored version (caller clears). */
lg_status lg_write_version(lg_ctx *c, const char *type, const char *id, cJSON *res,
                           int64_t prev_version, const char *method, lg_resource *out);

/* The coordination model's part of a write (coordinate.c), called by every
 * create, update, patch and delete just before the version is stored, in
 * the same write transaction: referral and patient Task workflow, the
 * ServiceRequest -> Task cascade, the Medi-Cal rules on Patient and
 * CarePlan, and the closed-loop report's fact rows. res is the proposed
 * resource (its id is set to id), NULL for a delete. LG_OK, or an error
 * with the reply already set (409, 403, 422, ...). */
lg_status lg_coordinate(lg_ctx *c, const char *type, const char *id, cJSON *res);

/* A new server-assigned id (UUID v4 text) into buf (>= 37 bytes). */
void lg_new_id(char *buf);
int lg_valid_id(const char *id);

/* Parse "W/\"3\"" or "3" into 3; -1 if malformed. */
int64_t lg_parse_etag(const char *s);

/* Run a search for conditional interactions: query is the raw query text.
 * Finds up to 2 matches (enough to tell 0, 1 and many). On LG_OK *out holds
 * them. Errors reply and return the status. */
lg_status lg_conditional_match(lg_ctx *c, const char *type, const char *query,
                               lg_resource_list *out);

/* Interaction entry points (each fills c->resp). */
lg_status lg_do_create(lg_ctx *c, const char *type, cJSON *body, const char *if_none_exist,
                       const char *forced_id);
lg_status lg_do_read(lg_ctx *c, const char *type, const char *id);
lg_status lg_do_vread(lg_ctx *c, const char *type, const char *id, const char *vid);
lg_status lg_do_update(lg_ctx *c, const char *type, const char *id, cJSON *body);
lg_status lg_do_conditional_update(lg_ctx *c, const char *type, const char *query, cJSON *body);
lg_status lg_do_delete(lg_ctx *c, const char *type, const char *id);
lg_status lg_do_conditional_delete(lg_ctx *c, const char *type, const char *query);
lg_status lg_do_patch(lg_ctx *c, const char *type, const char *id, const char *query);
lg_status lg_do_search(lg_ctx *c, const char *type, const char *query, const char *form,
                       size_t form_len);
lg_status lg_do_history(lg_ctx *c, const char *type, const char *id, const char *query);
lg_status lg_do_capabilities(lg_ctx *c);
lg_status lg_do_bundle(lg_ctx *c);
/* POST [type]/$validate and [type]/[id]/$validate (validate_op.c); id is NULL
 * at type level. Always 200 with an OperationOutcome unless the request
 * itself is malformed. */
lg_status lg_do_validate(lg_ctx *c, const char *type, const char *id);

/* The operations lg_dispatch routes on a type or an instance ("$validate").
 * /metadata lists this same table, so the CapabilityStatement cannot claim
 * an operation the router does not serve. */
typedef struct lg_operation {
    const char *name;        /* URL segment without the '$' */
    const char *definition;  /* canonical URL of the OperationDefinition */
    const char *methods;     /* the methods allowed (Allow header of a 405) */
    int any_r4_type;         /* 1: the type level accepts every R4 resource type,
                              * not only served ones (it touches no storage) */
    lg_status (*run)(lg_ctx *c, const char *type, const char *id);
} lg_operation;
extern const lg_operation lg_operations[];
extern const size_t lg_noperations;

/* Operations on the base URL (/$name), routed by lg_dispatch and listed at
 * the rest level of /metadata from this same table. */
typedef struct lg_system_operation {
    const char *name;        /* URL segment without the '$' */
    const char *definition;  /* canonical URL of the OperationDefinition */
    const char *methods;     /* the methods allowed */
    lg_status (*run)(lg_ctx *c);
} lg_system_operation;
extern const lg_system_operation lg_system_operations[];
extern const size_t lg_nsystem_operations;

/* GET /$closed-loop-report (report_op.c). */
lg_status lg_do_closed_loop_report(lg_ctx *c);
/* GET /$outbox, POST /$outbox-replay, GET /$outbox-events (outbox_op.c). */
lg_status lg_do_outbox(lg_ctx *c);
lg_status lg_do_outbox_replay(lg_ctx *c);
lg_status lg_do_outbox_events(lg_ctx *c);
/* Add the store's referral fact rows created in [start_ms, end_ms) (joined
 * with the children's demographics) to t and index it: what the endpoint
 * computes from (also used by scripts/bench/report_store_bench.c). */
typedef struct lg_report_table lg_report_table;
lg_status lg_report_fill_from_store(lg_store *st, int64_t start_ms, int64_t end_ms, lg_report_table *t);

/* ---- who may see what (access.c; rules in docs/access.md) ----
 * Every function here treats a NULL req->actor as the server itself: no
 * limits. */
typedef enum lg_access { LG_ACCESS_HIDDEN = 0, LG_ACCESS_VISIBLE = 1 } lg_access;

/* Decisions remembered by resource ("Type/id") while one search or history
 * is assembled: a page's Patients are decided through the same Tasks the
 * page matched. Valid only while the store does not change (a snapshot).
 * lg_access_memo_new returns NULL when out of memory (no memo then); free
 * with lg_access_memo_free (NULL is fine). */
typedef struct lg_access_memo lg_access_memo;
lg_access_memo *lg_access_memo_new(void);
void lg_access_memo_free(lg_access_memo *m);

/* What a decision needs besides the resource: who asks, and the store and
 * definitions for the look-ups of the derived rules. All borrowed. */
typedef struct lg_access_env {
    const lg_actor *actor;   /* NULL: the server itself */
    const char *client_id;   /* matched against a resource's creator */
    const char *base;        /* our base URL: absolute references under it are local */
    const lg_defs *defs;
    lg_store *st;
    int64_t now_ms;          /* for the adolescent's age */
    lg_access_memo *memo;    /* or NULL */
} lg_access_env;

void lg_access_env_init(const lg_ctx *c, lg_access_env *env);
/* May env->actor see res (parsed, of type; creator = the client that
 * created it, or NULL)? Look-up failures decide "hidden". */
lg_access lg_access_decide(const lg_access_env *env, const char *type, const cJSON *res,
                           const char *creator);
/* Directory and conformance types every non-reporting client sees. */
int lg_access_shared_type(const char *type);
/* 1 when the request has an actor (access is limited). */
int lg_access_limited(const lg_ctx *c);
/* 1 when search results of type must be filtered for this actor. */
int lg_access_filters(const lg_ctx *c, const char *type);
/* May the actor see stored version r? Tombstones are decided on the last
 * version with content. 1 visible, 0 not. */
int lg_access_resource(lg_ctx *c, const lg_resource *r);
/* Same for the current version of type/id (0 when it never existed). */
int lg_access_current(lg_ctx *c, const char *type, const char *id);
/* 403 for clients that see no individual resource (reporting); replies. */
lg_status lg_access_guard(lg_ctx *c);
/* 403 when the actor's role may not create type; replies. */
lg_status lg_access_may_create(lg_ctx *c, const char *type);
/* Add to q a condition every row visible to the actor meets (a CBO's
 * Task search: owner = its references), so a filtered search scans fewer
 * rows. Never changes the visible result. */
lg_status lg_access_pushdown(const lg_ctx *c, lg_query *q);

/* Append *r to l, taking its contents (r is left cleared). LG_ENOMEM. */
lg_status lg_list_move(lg_resource_list *l, lg_resource *r);

/* Route a request into the interactions above (also used for Bundle entries). */
lg_status lg_dispatch(lg_ctx *c);

#endif
