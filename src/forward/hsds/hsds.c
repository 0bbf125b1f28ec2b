/* hsds.c - adapter "hsds": an Open Referral HSDS 3.0 directory answering
 * GET /HealthcareService (docs/forwarding.md, Style C).
 *
 * Pure translation (adapter.h): a FHIR search query becomes an HSDS
 * /services query, an HSDS page becomes a FHIR searchset Bundle of
 * HealthcareService with contained Locations. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter.h"
#include "forward/adapter_util.h"

typedef struct hsds_state {
    char *api_key; /* optional: sent as X-API-Key when the directory wants one */
} hsds_state;

static void hsds_free_state(void *state)
{
    hsds_state *s = state;
    if(!s)
        return;
    if(s->api_key)
        memset(s->api_key, 0, strlen(s->api_key));
    free(s->api_key);
    free(s);
}

static lg_status hsds_configure(const lg_fwd_platform *p, const cJSON *obj, void **state, lg_issues *issues)
{
    *state = NULL;
    hsds_state *s = calloc(1, sizeof *s);
    if(!s)
        return LG_ENOMEM;
    lg_status st = lg_fwd_setting_string(p, obj, "api_key", 0, &s->api_key, issues);
    if(st != LG_OK)
        goto fail;
    *state = s;
    return LG_OK;
fail:
    hsds_free_state(s);
    return st;
}

const lg_fwd_adapter lg_fwd_hsds = {
    .name = "hsds",
    .configure = hsds_configure,
    .free_state = hsds_free_state,
};
