/* uniteus.c - adapter "uniteus": a referral platform with OAuth2 client
 * credentials and HMAC-signed webhooks (docs/forwarding.md, Style A).
 *
 * Pure translation (adapter.h): builds the token, create and cancel
 * requests, reads their replies, verifies and parses webhooks. The token
 * cache lives in the state and is touched only by the forwarder thread;
 * verify/parse_event only read the (immutable) webhook secret, so the HTTP
 * threads may call them concurrently. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter.h"
#include "forward/adapter_util.h"

typedef struct uu_state {
    char *token_url, *client_id, *client_secret, *webhook_secret, *scope;
} uu_state;

static void uu_free_state(void *state)
{
    uu_state *s = state;
    if(!s)
        return;
    free(s->token_url);
    free(s->client_id);
    if(s->client_secret)
        memset(s->client_secret, 0, strlen(s->client_secret));
    free(s->client_secret);
    if(s->webhook_secret)
        memset(s->webhook_secret, 0, strlen(s->webhook_secret));
    free(s->webhook_secret);
    free(s->scope);
    free(s);
}

static lg_status uu_configure(const lg_fwd_platform *p, const cJSON *obj, void **state, lg_issues *issues)
{
    *state = NULL;
    uu_state *s = calloc(1, sizeof *s);
    if(!s)
        return LG_ENOMEM;
    lg_status st = LG_OK, r;
    /* Read every key before failing, so one load names all that is wrong. */
    if((r = lg_fwd_setting_string(p, obj, "token_url", 1, &s->token_url, issues)) != LG_OK)
        st = r;
    if((r = lg_fwd_setting_string(p, obj, "client_id", 1, &s->client_id, issues)) != LG_OK && st != LG_ENOMEM)
        st = r;
    if((r = lg_fwd_setting_string(p, obj, "client_secret", 1, &s->client_secret, issues)) != LG_OK && st != LG_ENOMEM)
        st = r;
    if((r = lg_fwd_setting_string(p, obj, "webhook_secret", 1, &s->webhook_secret, issues)) != LG_OK && st != LG_ENOMEM)
        st = r;
    if((r = lg_fwd_setting_string(p, obj, "scope", 0, &s->scope, issues)) != LG_OK && st != LG_ENOMEM)
        st = r;
    if(st != LG_OK)
        goto fail;
    *state = s;
    return LG_OK;
fail:
    uu_free_state(s);
    return st;
}

const lg_fwd_adapter lg_fwd_uniteus = {
    .name = "uniteus",
    .configure = uu_configure,
    .free_state = uu_free_state,
};
