/* findhelp.c - adapter "findhelp": a referral platform with an API key,
 * program lookup and status by polling (docs/forwarding.md, Style B).
 *
 * Pure translation (adapter.h): builds the program lookup, create, cancel
 * and poll requests and reads their replies. No mutable state. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter.h"
#include "forward/adapter_util.h"

typedef struct fh_state {
    char *api_key;
} fh_state;

static void fh_free_state(void *state)
{
    fh_state *s = state;
    if(!s)
        return;
    if(s->api_key)
        memset(s->api_key, 0, strlen(s->api_key));
    free(s->api_key);
    free(s);
}

static lg_status fh_configure(const lg_fwd_platform *p, const cJSON *obj, void **state, lg_issues *issues)
{
    *state = NULL;
    fh_state *s = calloc(1, sizeof *s);
    if(!s)
        return LG_ENOMEM;
    lg_status st = lg_fwd_setting_string(p, obj, "api_key", 1, &s->api_key, issues);
    /* poll_seconds is a common setting (config.c reads it into p); checked
     * here as well because only a polling adapter gives it a meaning. */
    const cJSON *ps = obj ? cJSON_GetObjectItemCaseSensitive(obj, "poll_seconds") : NULL;
    if(ps && !cJSON_IsNull(ps) &&
       (!cJSON_IsNumber(ps) || ps->valuedouble != (double)(int)ps->valuedouble || ps->valuedouble < 1 ||
        ps->valuedouble > 86400)) {
        char loc[160];
        snprintf(loc, sizeof loc, "platforms.where(name='%.64s').poll_seconds", p && p->name ? p->name : "?");
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc, "'poll_seconds' must be a whole number from 1 to 86400");
        if(st == LG_OK)
            st = LG_EINVAL;
    }
    if(st != LG_OK)
        goto fail;
    *state = s;
    return LG_OK;
fail:
    fh_free_state(s);
    return st;
}

const lg_fwd_adapter lg_fwd_findhelp = {
    .name = "findhelp",
    .configure = fh_configure,
    .free_state = fh_free_state,
};
