/* body.c - the JSON bodies of the uniteus adapter, built from the
 * coordination model with cJSON (docs/forwarding.md, Style A). Absent
 * values are left out; with contact prohibited no contact detail is sent. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/adapter_util.h"
#include "uniteus_body.h"

/* Add a string member when s is non-empty. 0, or -1 on ENOMEM. */
static int put(cJSON *o, const char *key, const char *s)
{
    if(!s || !*s)
        return 0;
    return cJSON_AddStringToObject(o, key, s) ? 0 : -1;
}

static lg_status finish(cJSON *root, char **body)
{
    *body = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return *body ? LG_OK : LG_ENOMEM;
}

lg_status lg_uu_create_body(const lg_fwd_job *job, char **body, lg_issues *issues)
{
    *body = NULL;
    const lg_referral *r = job->referral;
    if(!r || !job->task_id || !*job->task_id || !job->target || !*job->target) {
        lg_issues_add(issues, LG_SEV_ERROR, "required", NULL,
                      "a create needs the referral, its Task id and the route's target");
        return LG_EINVAL;
    }
    cJSON *root = cJSON_CreateObject(), *o;
    char ext[300];
    if(!root)
        return LG_ENOMEM;
    snprintf(ext, sizeof ext, "Task/%.256s", job->task_id);
    if(put(root, "external_id", ext) || put(root, "service_request_id", r->service_request_id) ||
       put(root, "receiving_program_id", job->target))
        goto fail;

    const char *org_name = job->referrer_name ? job->referrer_name : r->referrer_org.display;
    if(r->referrer_org.reference || org_name) {
        if(!(o = cJSON_AddObjectToObject(root, "sending_organization")) ||
           put(o, "reference", r->referrer_org.reference) || put(o, "name", org_name))
            goto fail;
    }

    cJSON *person = cJSON_AddObjectToObject(root, "person");
    if(!person)
        goto fail;
    const lg_child *c = job->child;
    int contact = !r->contact_prohibited;
    if(c) {
        if(put(person, "first_name", c->given) || put(person, "last_name", c->family) ||
           put(person, "date_of_birth", c->birth_date) || put(person, "preferred_language", c->preferred_language))
            goto fail;
        const lg_language_need *ln = lg_fwd_language_need(c);
        if(ln && (put(person, "dialect", ln->dialect) ||
                  !cJSON_AddBoolToObject(person, "interpreter_needed", ln->interpreter_needed)))
            goto fail;
    }
    if(!cJSON_AddBoolToObject(person, "contact_allowed", contact))
        goto fail;
    /* Who may be contacted and how: only when contact is allowed at all. */
    if(contact && c && lg_fwd_add_caregivers(person, c) != 0)
        goto fail;

    const char *cat = lg_fwd_need_category(r);
    const char *desc = r->service_text ? r->service_text : r->service.display;
    if(cat || r->service.code || desc) {
        if(!(o = cJSON_AddObjectToObject(root, "need")) || put(o, "category", cat) ||
           put(o, "code", r->service.code) || put(o, "system", r->service.system) || put(o, "description", desc))
            goto fail;
    }
    if(put(root, "priority", lg_priority_code(r->priority)))
        goto fail;
    return finish(root, body);
fail:
    cJSON_Delete(root);
    return LG_ENOMEM;
}

lg_status lg_uu_cancel_body(const lg_fwd_job *job, char **body, lg_issues *issues)
{
    (void)issues;
    *body = NULL;
    cJSON *root = cJSON_CreateObject();
    if(!root || put(root, "reason", job->cancel_reason)) {
        cJSON_Delete(root);
        return LG_ENOMEM;
    }
    return finish(root, body);
}
