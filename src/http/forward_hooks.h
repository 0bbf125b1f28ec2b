/* forward_hooks.h - the HTTP layer's side of forwarding (issue #5): the
 * route look-up the REST layer asks inside a write, and the inbound hooks
 * (lg_fwd_hooks) that apply a platform's status to a Task through
 * lg_rest_handle, so the workflow rules, validation, history and report
 * facts apply exactly as to a CBO's own update. Private to src/http/. */
#ifndef LG_HTTP_FORWARD_HOOKS_H
#define LG_HTTP_FORWARD_HOOKS_H

#include "loopgate/forward.h"
#include "loopgate/rest.h"

/* What the hooks need, shared by the forwarder thread and every worker
 * (read-only once set up, except fw, which is set once the forwarder runs). */
typedef struct lg_fwd_glue {
    lg_rest rest;       /* the server's REST configuration with defer_sync 0:
                         * a status change is durable before the hook returns */
    lg_rest rest_deferred; /* the same with defer_sync 1: the business status,
                         * left for the forwarder's next flush */
    char base[160];     /* base URL of internal requests */
    lg_forwarder *fw;   /* atomic; woken when a hook's write adds jobs; NULL before start */
} lg_fwd_glue;

/* Set g up from the server's definitions (borrowed, must outlive g) and
 * REST configuration (copied; forward_route/forward_ctx kept). */
void lg_fwd_glue_init(lg_fwd_glue *g, const lg_defs *defs, const lg_rest_config *cfg, const char *base);
/* The hooks over g (g must outlive every use of *out). */
void lg_fwd_glue_hooks(lg_fwd_glue *g, lg_fwd_hooks *out);
/* Publish the running forwarder to the hooks (any thread may read it). */
void lg_fwd_glue_set_forwarder(lg_fwd_glue *g, lg_forwarder *fw);
lg_forwarder *lg_fwd_glue_forwarder(const lg_fwd_glue *g);

/* lg_rest_config.forward_route over a configuration (ctx: const
 * lg_fwd_config *): 1 with platform and target when owner_ref is routed. */
int lg_fwd_glue_route(const void *ctx, const char *owner_ref, const char **platform, const char **target);

/* The hooks themselves, exposed for tests (ctx: lg_fwd_glue *). */
int lg_fwd_glue_apply_status(void *ctx, lg_store *st, const char *task_id, lg_task_status status,
                             const char *reason, const char *outcome, char *msg, size_t msg_len);
int lg_fwd_glue_set_business_status(void *ctx, lg_store *st, const char *task_id, const char *code,
                                    const char *text, char *msg, size_t msg_len);

#endif
