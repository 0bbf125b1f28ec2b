/* job.c - assembling one delivery from an outbox job: the Task, its focus
 * ServiceRequest, the Patient and the requesting Organization are read from
 * the store when the job is attempted (so a retry sends the referral as it
 * is now) and turned into the coordination model the adapters translate.
 * When the referral forbids contacting the subject, the adapter only ever
 * sees a child built from the Patient stripped of its contact details.
 * A cancel of a deleted Task (or of one whose ServiceRequest was deleted)
 * is built from the last version stored before the deletion.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/internal.h"

void lg_fwd_job_data_clear(lg_fwd_job_data *d)
{
    if(!d)
        return;
    free(d->key);
    free(d->remote_id);
    lg_model_referral_free(d->referral);
    lg_model_child_free(d->child);
    free(d->referrer_name);
    free(d->cancel_reason);
    memset(d, 0, sizeof *d);
}

/* Read type/id and parse it. LG_ENOTFOUND when absent or deleted. The
 * caller cJSON_Deletes *out. */
static lg_status read_json(lg_store *st, const char *type, const char *id, cJSON **out)
{
    *out = NULL;
    lg_resource r = {0};
    lg_status rc = lg_store_read(st, type, id, &r);
    if(rc != LG_OK)
        return rc;
    if(r.deleted || !r.json) {
        lg_resource_clear(&r);
        return LG_ENOTFOUND;
    }
    *out = cJSON_ParseWithLength(r.json, r.json_len);
    lg_resource_clear(&r);
    return *out ? LG_OK : LG_EIO;
}

/* Like read_json, but a deleted resource gives its last stored version
 * (the one before the tombstone) and sets *deleted: a cancel of a deleted
 * referral still says what it withdraws. LG_ENOTFOUND when it never
 * existed or has no earlier version. The caller cJSON_Deletes *out. */
static lg_status read_json_last(lg_store *st, const char *type, const char *id, cJSON **out,
                                int *deleted)
{
    *out = NULL;
    lg_resource r = {0};
    lg_status rc = lg_store_read(st, type, id, &r);
    if(rc != LG_OK)
        return rc;
    if(r.deleted || !r.json) {
        int64_t v = r.version;
        lg_resource_clear(&r);
        *deleted = 1;
        if(v <= 1)
            return LG_ENOTFOUND;
        if((rc = lg_store_vread(st, type, id, v - 1, &r)) != LG_OK)
            return rc;
        if(r.deleted || !r.json) { /* deleted twice in a row: nothing to say */
            lg_resource_clear(&r);
            return LG_ENOTFOUND;
        }
    }
    *out = cJSON_ParseWithLength(r.json, r.json_len);
    lg_resource_clear(&r);
    return *out ? LG_OK : LG_EIO;
}

/* The id of a reference member of obj when it points to a resource of
 * type; caller frees. NULL when absent, of another type, or on ENOMEM. */
static char *ref_id(const cJSON *obj, const char *member, const char *type)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(obj, member);
    const cJSON *s = ref ? cJSON_GetObjectItemCaseSensitive(ref, "reference") : NULL;
    if(!cJSON_IsString(s) || !s->valuestring)
        return NULL;
    lg_ref r = {0};
    if(lg_ref_set(&r, s->valuestring, NULL) != LG_OK)
        return NULL;
    char *id = NULL;
    if(r.type && r.id && strcmp(r.type, type) == 0)
        id = strdup(r.id);
    lg_ref_clear(&r);
    return id;
}

static void issues_text(const lg_issues *is, char *err, size_t err_len, const char *lead)
{
    const char *first = is->count && is->items[0].diagnostics ? is->items[0].diagnostics : "";
    const char *loc = is->count && is->items[0].location ? is->items[0].location : "";
    snprintf(err, err_len, "%s%s%s%s%s", lead, *first ? ": " : "", loc, *loc ? ": " : "", first);
}

lg_fwd_load_result lg_fwd_job_load(lg_store *st, const lg_outbox_job *oj, lg_fwd_job_data *out,
                                   char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    err[0] = '\0';
    lg_fwd_load_result res = LG_FWD_LOAD_TRANSIENT;
    cJSON *task = NULL, *sr = NULL, *patient = NULL, *stripped = NULL, *org = NULL;
    char *sr_id = NULL, *patient_id = NULL;
    lg_issues is = {0};
    lg_status rc;

    /* A cancel may follow the Task's deletion (coordinate.c): it goes out
     * from the last version stored, so the platform stops working on it. */
    int cancel = strcmp(oj->kind, "cancel") == 0, task_deleted = 0;
    rc = cancel ? read_json_last(st, "Task", oj->task_id, &task, &task_deleted)
                : read_json(st, "Task", oj->task_id, &task);
    if(rc == LG_ENOTFOUND) {
        snprintf(err, err_len, "Task/%s is gone", oj->task_id);
        res = LG_FWD_LOAD_GONE;
        goto fail;
    }
    if(rc != LG_OK) {
        snprintf(err, err_len, "cannot read Task/%s: %s", oj->task_id, lg_status_str(rc));
        goto fail;
    }
    sr_id = oj->referral_id ? strdup(oj->referral_id) : ref_id(task, "focus", "ServiceRequest");
    if(!sr_id) {
        snprintf(err, err_len, "Task/%s has no ServiceRequest focus", oj->task_id);
        res = LG_FWD_LOAD_INVALID;
        goto fail;
    }
    int sr_deleted = 0;
    rc = cancel ? read_json_last(st, "ServiceRequest", sr_id, &sr, &sr_deleted)
                : read_json(st, "ServiceRequest", sr_id, &sr);
    if(rc == LG_ENOTFOUND) {
        snprintf(err, err_len, "ServiceRequest/%s is gone", sr_id);
        res = LG_FWD_LOAD_GONE;
        goto fail;
    }
    if(rc != LG_OK) {
        snprintf(err, err_len, "cannot read ServiceRequest/%s: %s", sr_id, lg_status_str(rc));
        goto fail;
    }
    rc = lg_model_referral_from_fhir(sr, task, &out->referral, &is);
    if(rc == LG_ENOMEM)
        goto fail;
    if(rc != LG_OK) {
        issues_text(&is, err, err_len, "the stored referral cannot be read");
        res = LG_FWD_LOAD_INVALID;
        goto fail;
    }

    /* The Patient: absent is allowed (the adapter sends what it has). */
    patient_id = ref_id(sr, "subject", "Patient");
    if(patient_id) {
        rc = read_json(st, "Patient", patient_id, &patient);
        if(rc != LG_OK && rc != LG_ENOTFOUND) {
            snprintf(err, err_len, "cannot read Patient/%s: %s", patient_id, lg_status_str(rc));
            goto fail;
        }
    }
    if(patient) {
        const cJSON *leaving = patient;
        if(out->referral->contact_prohibited) {
            rc = lg_rule_strip_contact(patient, &stripped);
            if(rc == LG_ENOMEM)
                goto fail;
            if(rc != LG_OK) {
                snprintf(err, err_len, "Patient/%s: contact details cannot be removed", patient_id);
                res = LG_FWD_LOAD_INVALID;
                goto fail;
            }
            /* Belt and braces: what leaves must pass the same rule the
             * REST layer enforces, or nothing leaves. */
            rc = lg_rule_forward_check(out->referral, stripped, &is);
            if(rc != LG_OK) {
                issues_text(&is, err, err_len, "contact details would leave a contact-prohibited referral");
                res = rc == LG_ENOMEM ? LG_FWD_LOAD_TRANSIENT : LG_FWD_LOAD_INVALID;
                goto fail;
            }
            leaving = stripped;
        }
        lg_issues_free(&is);
        rc = lg_model_child_from_fhir(leaving, &out->child, &is);
        if(rc == LG_ENOMEM)
            goto fail;
        if(rc != LG_OK) {
            issues_text(&is, err, err_len, "the stored Patient cannot be read");
            res = LG_FWD_LOAD_INVALID;
            goto fail;
        }
    }

    /* The referring organization's name, when it is stored. */
    if(out->referral->referrer_org.type && out->referral->referrer_org.id &&
       strcmp(out->referral->referrer_org.type, "Organization") == 0) {
        rc = read_json(st, "Organization", out->referral->referrer_org.id, &org);
        if(rc != LG_OK && rc != LG_ENOTFOUND) {
            snprintf(err, err_len, "cannot read Organization/%s: %s", out->referral->referrer_org.id,
                     lg_status_str(rc));
            goto fail;
        }
        const cJSON *name = org ? cJSON_GetObjectItemCaseSensitive(org, "name") : NULL;
        if(cJSON_IsString(name) && name->valuestring &&
           !(out->referrer_name = strdup(name->valuestring)))
            goto fail;
    }
    if(!out->referrer_name && out->referral->referrer_org.display &&
       !(out->referrer_name = strdup(out->referral->referrer_org.display)))
        goto fail;

    if(cancel) {
        /* A Task deleted while open (its last version is open): the reason
         * is the deletion (a cancelled one then deleted keeps its own). A
         * Task still open was given to another owner (the coordinator's
         * withdrawal from this platform): say so when the Task says
         * nothing. */
        int still_open = out->referral->has_task && !lg_fwd_status_terminal(out->referral->task_status);
        const char *why = task_deleted && still_open ? "the referral was deleted at the sender"
                          : out->referral->status_reason ? out->referral->status_reason
                          : still_open ? "the referral was given to another organization" : NULL;
        if(why && !(out->cancel_reason = strdup(why)))
            goto fail;
        /* The platform's id comes from the job, else from the link the
         * delivered create left. */
        if(oj->remote_id) {
            if(!(out->remote_id = strdup(oj->remote_id)))
                goto fail;
        } else {
            lg_forward_link l = {0};
            rc = lg_store_forward_link_by_task(st, oj->platform, oj->task_id, &l);
            if(rc == LG_OK) {
                out->remote_id = l.remote_id;
                l.remote_id = NULL;
            }
            lg_forward_link_clear(&l);
            if(rc != LG_OK && rc != LG_ENOTFOUND) {
                snprintf(err, err_len, "cannot read the forward link of Task/%s: %s", oj->task_id,
                         lg_status_str(rc));
                goto fail;
            }
        }
        if(!out->remote_id) {
            snprintf(err, err_len, "Task/%s was never delivered to %s: nothing to cancel",
                     oj->task_id, oj->platform);
            res = LG_FWD_LOAD_NOTHING;
            goto fail;
        }
    } else if(oj->remote_id && !(out->remote_id = strdup(oj->remote_id))) {
        goto fail;
    }

    if(asprintf(&out->key, "lg-%s-%s-%lld", oj->task_id, oj->kind, (long long)oj->id) < 0) {
        out->key = NULL;
        goto fail;
    }
    out->job.job_id = oj->id;
    out->job.kind = oj->kind;
    out->job.idempotency_key = out->key;
    out->job.task_id = oj->task_id;
    out->job.target = oj->target;
    out->job.remote_id = out->remote_id;
    out->job.referral = out->referral;
    out->job.child = out->child;
    out->job.referrer_name = out->referrer_name;
    out->job.cancel_reason = out->cancel_reason;
    res = LG_FWD_LOAD_OK;
    goto done;

fail:
    if(res == LG_FWD_LOAD_TRANSIENT && !err[0])
        snprintf(err, err_len, "out of memory assembling the job");
    lg_fwd_job_data_clear(out);
done:
    cJSON_Delete(task);
    cJSON_Delete(sr);
    cJSON_Delete(patient);
    cJSON_Delete(stripped);
    cJSON_Delete(org);
    free(sr_id);
    free(patient_id);
    lg_issues_free(&is);
    return res;
}
