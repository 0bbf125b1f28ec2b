/* from_fhir.c - FHIR resources (cJSON trees) -> coordination model.
 *
 * Runs on every write of a Patient, ServiceRequest, Task, CarePlan,
 * RelatedPerson, Consent, Procedure or Organization. Where resources that
 * describe one referral disagree (a Task whose focus is another
 * ServiceRequest, a Task.for that is not the ServiceRequest's subject) the
 * translation fails with error issues, so the REST layer can refuse the
 * write with an OperationOutcome. The mapping is docs/model-mapping.md.
 */
#include "loopgate/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/time.h"
#include "model/internal.h"

/* ------------------------------------------------------------ JSON helpers */

const char *lg_mj_str(const cJSON *o, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t lg_mj_time(const cJSON *o, const char *key)
{
    const char *s = lg_mj_str(o, key);
    int64_t lo, hi;
    if(!s || lg_time_parse_range(s, &lo, &hi) != LG_OK)
        return INT64_MIN;
    return lo;
}

lg_status lg_mj_ref(lg_ref *r, const cJSON *o, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if(!cJSON_IsObject(v)) {
        memset(r, 0, sizeof(*r));
        return LG_OK;
    }
    return lg_ref_set(r, lg_mj_str(v, "reference"), lg_mj_str(v, "display"));
}

const cJSON *lg_mj_coding(const cJSON *cc, const char *system)
{
    const cJSON *codings = cc ? cJSON_GetObjectItemCaseSensitive(cc, "coding") : NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, codings) {
        const char *sys = lg_mj_str(c, "system");
        if(!system || (sys && strcmp(sys, system) == 0))
            return c;
    }
    return NULL;
}

lg_status lg_mj_code(lg_code *c, const cJSON *coding)
{
    bool oom = false;
    memset(c, 0, sizeof(*c));
    c->system = lg_model_strdup(lg_mj_str(coding, "system"), &oom);
    c->code = lg_model_strdup(lg_mj_str(coding, "code"), &oom);
    c->display = lg_model_strdup(lg_mj_str(coding, "display"), &oom);
    if(oom) {
        lg_code_clear(c);
        return LG_ENOMEM;
    }
    return LG_OK;
}

bool lg_mj_has_code(const cJSON *cc, const char *system, const char *code)
{
    const cJSON *codings = cc ? cJSON_GetObjectItemCaseSensitive(cc, "coding") : NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, codings) {
        const char *sys = lg_mj_str(c, "system"), *cd = lg_mj_str(c, "code");
        if(cd && strcmp(cd, code) == 0 && (!system || (sys && strcmp(sys, system) == 0)))
            return true;
    }
    return false;
}

/* Grow *arr (of *n items of size sz) by one zeroed item; NULL on failure or
 * past LG_MODEL_MAX_LIST (then *too_many is set). */
static void *push(void *arr_p, size_t *n, size_t sz, bool *too_many)
{
    void **arr = arr_p;
    if(*n >= LG_MODEL_MAX_LIST) {
        *too_many = true;
        return NULL;
    }
    void *g = realloc(*arr, (*n + 1) * sz);
    if(!g)
        return NULL;
    *arr = g;
    void *slot = (char *)g + *n * sz;
    memset(slot, 0, sz);
    (*n)++;
    return slot;
}

static bool is_type(const cJSON *res, const char *type)
{
    const char *rt = lg_mj_str(res, "resourceType");
    return rt && strcmp(rt, type) == 0;
}

static lg_status not_a(const cJSON *res, const char *type, lg_issues *issues)
{
    const char *rt = lg_mj_str(res, "resourceType");
    lg_issues_add(issues, LG_SEV_ERROR, "invalid", "resourceType",
                  "expected a %s, got %s", type, rt ? rt : "no resourceType");
    return LG_EINVAL;
}

static const cJSON *value_of(const cJSON *ext, const char *vkey)
{
    return ext ? cJSON_GetObjectItemCaseSensitive(ext, vkey) : NULL;
}

/* The first sub-extension of ext with url. */
static const cJSON *subext(const cJSON *ext, const char *url)
{
    const cJSON *e, *list = cJSON_GetObjectItemCaseSensitive(ext, "extension");
    cJSON_ArrayForEach(e, list) {
        const char *u = lg_mj_str(e, "url");
        if(u && strcmp(u, url) == 0)
            return e;
    }
    return NULL;
}

/* ------------------------------------------------------------ Patient */

/* Race or ethnicity (US Core OMB extension): ombCategory, detailed, text. */
static lg_status omb_ext(const cJSON *ext, lg_code **cat, size_t *n_cat, lg_code **det,
                         size_t *n_det, char **text, const char *loc, lg_issues *issues)
{
    const cJSON *e, *list = cJSON_GetObjectItemCaseSensitive(ext, "extension");
    bool oom = false, too_many = false;
    cJSON_ArrayForEach(e, list) {
        const char *u = lg_mj_str(e, "url");
        if(!u)
            continue;
        lg_code *slot = NULL;
        if(strcmp(u, "ombCategory") == 0)
            slot = push(cat, n_cat, sizeof(lg_code), &too_many);
        else if(strcmp(u, "detailed") == 0)
            slot = push(det, n_det, sizeof(lg_code), &too_many);
        else if(strcmp(u, "text") == 0) {
            free(*text);
            *text = lg_model_strdup(lg_mj_str(e, "valueString"), &oom);
            if(oom)
                return LG_ENOMEM;
            continue;
        } else
            continue;
        if(too_many) {
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", loc, "more than %d race/ethnicity codes",
                          LG_MODEL_MAX_LIST);
            return LG_EINVAL;
        }
        if(!slot || lg_mj_code(slot, value_of(e, "valueCoding")) != LG_OK)
            return LG_ENOMEM;
    }
    return LG_OK;
}

static lg_status coded_ext(const cJSON *ext, const char *loc, const char **code_out, lg_issues *issues)
{
    const cJSON *c = lg_mj_coding(value_of(ext, "valueCodeableConcept"), NULL);
    *code_out = lg_mj_str(c, "code");
    if(!*code_out) {
        lg_issues_add(issues, LG_SEV_ERROR, "required", loc, "extension has no coded valueCodeableConcept");
        return LG_EINVAL;
    }
    return LG_OK;
}

static unsigned contact_bit(const char *m)
{
    static const char *const sys[] = { "phone", "fax", "email", "pager", "url", "sms", "other" };
    for(unsigned i = 0; i < 7; i++)
        if(strcmp(m, sys[i]) == 0)
            return 1u << i;
    return 0;
}

static lg_status caregiver_ext(lg_child *c, const cJSON *ext, const char *loc, lg_issues *issues)
{
    const cJSON *who = subext(ext, "caregiver"), *may = subext(ext, "mayContact");
    const cJSON *whoref = value_of(who, "valueReference"), *mayv = value_of(may, "valueBoolean");
    if(!cJSON_IsObject(whoref) || !cJSON_IsBool(mayv)) {
        lg_issues_add(issues, LG_SEV_ERROR, "required", loc,
                      "contactable-caregiver needs caregiver (Reference) and mayContact (boolean)");
        return LG_EINVAL;
    }
    bool too_many = false;
    lg_caregiver *cg = push(&c->caregivers, &c->n_caregivers, sizeof(*cg), &too_many);
    if(!cg) {
        if(too_many)
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", loc, "too many caregivers");
        return too_many ? LG_EINVAL : LG_ENOMEM;
    }
    if(lg_ref_set(&cg->person, lg_mj_str(whoref, "reference"), lg_mj_str(whoref, "display")) != LG_OK)
        return LG_ENOMEM;
    cg->may_contact = cJSON_IsTrue(mayv);
    const cJSON *e, *list = cJSON_GetObjectItemCaseSensitive(ext, "extension");
    cJSON_ArrayForEach(e, list) {
        const char *u = lg_mj_str(e, "url");
        if(u && strcmp(u, "method") == 0) {
            const char *m = lg_mj_str(e, "valueCode");
            unsigned bit = m ? contact_bit(m) : 0;
            if(!bit) {
                lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", loc,
                              "contact method '%s' is not a contact-point-system code", m ? m : "");
                return LG_EINVAL;
            }
            cg->methods |= bit;
        } else if(u && strcmp(u, "primaryContact") == 0)
            cg->primary = cJSON_IsTrue(value_of(e, "valueBoolean"));
    }
    return LG_OK;
}

static lg_status interpreter_ext(lg_child *c, const cJSON *ext, const char *loc, lg_issues *issues)
{
    const cJSON *lang = lg_mj_coding(value_of(subext(ext, "language"), "valueCodeableConcept"), NULL);
    const cJSON *need = value_of(subext(ext, "interpreterNeeded"), "valueBoolean");
    if(!lg_mj_str(lang, "code") || !cJSON_IsBool(need)) {
        lg_issues_add(issues, LG_SEV_ERROR, "required", loc,
                      "interpreter-need needs language (coded) and interpreterNeeded (boolean)");
        return LG_EINVAL;
    }
    bool too_many = false, oom = false;
    lg_language_need *l = push(&c->languages, &c->n_languages, sizeof(*l), &too_many);
    if(!l) {
        if(too_many)
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", loc, "too many interpreter needs");
        return too_many ? LG_EINVAL : LG_ENOMEM;
    }
    if(lg_mj_code(&l->language, lang) != LG_OK)
        return LG_ENOMEM;
    l->dialect = lg_model_strdup(lg_mj_str(subext(ext, "dialect"), "valueString"), &oom);
    l->interpreter_needed = cJSON_IsTrue(need);
    return oom ? LG_ENOMEM : LG_OK;
}

/* The county of the home (else current, else first) address. */
static lg_status county_of(lg_child *c, const cJSON *patient)
{
    const cJSON *a, *addrs = cJSON_GetObjectItemCaseSensitive(patient, "address");
    const cJSON *pick = NULL, *current = NULL;
    cJSON_ArrayForEach(a, addrs) {
        if(lg_mj_str(cJSON_GetObjectItemCaseSensitive(a, "period"), "end"))
            continue; /* a past address */
        const char *use = lg_mj_str(a, "use");
        if(use && strcmp(use, "home") == 0) {
            pick = a;
            break;
        }
        if(!current)
            current = a;
    }
    if(!pick)
        pick = current ? current : cJSON_GetArrayItem(addrs, 0);
    if(!pick)
        return LG_OK;
    const char *county = lg_mj_str(pick, "district");
    if(!county) {
        const cJSON *e, *exts = cJSON_GetObjectItemCaseSensitive(pick, "extension");
        cJSON_ArrayForEach(e, exts) {
            const char *u = lg_mj_str(e, "url");
            if(u && strcmp(u, LG_URL_COUNTY) == 0) {
                county = lg_mj_str(e, "valueString");
                if(!county)
                    county = lg_mj_str(e, "valueCode");
                break;
            }
        }
    }
    bool oom = false;
    c->county = lg_model_strdup(county, &oom);
    return oom ? LG_ENOMEM : LG_OK;
}

lg_status lg_model_child_from_fhir(const cJSON *patient, lg_child **out, lg_issues *issues)
{
    lg_status st = LG_ENOMEM;
    bool oom = false;
    char loc[96];
    *out = NULL;
    if(!is_type(patient, "Patient"))
        return not_a(patient, "Patient", issues);
    lg_child *c = calloc(1, sizeof(*c));
    if(!c)
        return LG_ENOMEM;
    size_t errors_before = lg_issues_errors(issues);
    c->id = lg_model_strdup(lg_mj_str(patient, "id"), &oom);
    c->birth_date = lg_model_strdup(lg_mj_str(patient, "birthDate"), &oom);

    /* Name: the official one if any, else the first. */
    const cJSON *n, *names = cJSON_GetObjectItemCaseSensitive(patient, "name"), *name = NULL;
    cJSON_ArrayForEach(n, names) {
        const char *use = lg_mj_str(n, "use");
        if(use && strcmp(use, "official") == 0) {
            name = n;
            break;
        }
        if(!name)
            name = n;
    }
    if(name) {
        c->family = lg_model_strdup(lg_mj_str(name, "family"), &oom);
        const cJSON *given = cJSON_GetObjectItemCaseSensitive(name, "given");
        const cJSON *g0 = cJSON_GetArrayItem(given, 0);
        c->given = lg_model_strdup(cJSON_IsString(g0) ? g0->valuestring : NULL, &oom);
    }

    /* Preferred language: the communication marked preferred, else the first. */
    const cJSON *cm, *comms = cJSON_GetObjectItemCaseSensitive(patient, "communication");
    const cJSON *pref = cJSON_GetArrayItem(comms, 0);
    cJSON_ArrayForEach(cm, comms)
        if(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cm, "preferred"))) {
            pref = cm;
            break;
        }
    if(pref)
        c->preferred_language = lg_model_strdup(
            lg_mj_str(lg_mj_coding(cJSON_GetObjectItemCaseSensitive(pref, "language"), NULL), "code"), &oom);
    if(oom)
        goto fail;

    const cJSON *ext, *exts = cJSON_GetObjectItemCaseSensitive(patient, "extension");
    int i = -1;
    cJSON_ArrayForEach(ext, exts) {
        i++;
        const char *url = lg_mj_str(ext, "url");
        if(!url)
            continue;
        snprintf(loc, sizeof(loc), "Patient.extension[%d]", i);
        lg_status s = LG_OK;
        if(strcmp(url, LG_URL_US_CORE_RACE) == 0)
            s = omb_ext(ext, &c->race, &c->n_race, &c->race_detailed, &c->n_race_detailed,
                        &c->race_text, loc, issues);
        else if(strcmp(url, LG_URL_US_CORE_ETHNICITY) == 0)
            s = omb_ext(ext, &c->ethnicity, &c->n_ethnicity, &c->ethnicity_detailed,
                        &c->n_ethnicity_detailed, &c->ethnicity_text, loc, issues);
        else if(strcmp(url, LG_URL_PHM_TIER) == 0) {
            const char *code;
            if((s = coded_ext(ext, loc, &code, issues)) == LG_OK && lg_model_phm_parse(code, &c->phm_tier) != 0) {
                lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", loc,
                              "'%s' is not a PHM tier (basic, complex, enhanced)", code);
                s = LG_EINVAL;
            }
        } else if(strcmp(url, LG_URL_ECM_POPULATION) == 0) {
            const char *code;
            lg_ecm_population p;
            if((s = coded_ext(ext, loc, &code, issues)) == LG_OK) {
                if(lg_ecm_population_parse(code, &p) != 0) {
                    lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", loc,
                                  "'%s' is not an ECM population of focus", code);
                    s = LG_EINVAL;
                } else
                    c->ecm_populations |= LG_ECM_BIT(p);
            }
        } else if(strcmp(url, LG_URL_INTERPRETER_NEED) == 0)
            s = interpreter_ext(c, ext, loc, issues);
        else if(strcmp(url, LG_URL_CAREGIVER) == 0)
            s = caregiver_ext(c, ext, loc, issues);
        if(s == LG_ENOMEM)
            goto fail;
    }
    if(county_of(c, patient) != LG_OK)
        goto fail;
    if(lg_issues_errors(issues) > errors_before) {
        st = LG_EINVAL;
        goto fail;
    }
    *out = c;
    return LG_OK;
fail:
    lg_model_child_free(c);
    return st;
}

lg_status lg_model_child_add_related_person(lg_child *c, const cJSON *rp, lg_issues *issues)
{
    if(!is_type(rp, "RelatedPerson"))
        return not_a(rp, "RelatedPerson", issues);
    lg_ref pat;
    if(lg_mj_ref(&pat, rp, "patient") != LG_OK)
        return LG_ENOMEM;
    bool mine = pat.type && strcmp(pat.type, "Patient") == 0 && c->id && pat.id && strcmp(pat.id, c->id) == 0;
    if(!mine) {
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "RelatedPerson.patient",
                      "RelatedPerson.patient is %s, not Patient/%s", pat.reference ? pat.reference : "absent",
                      c->id ? c->id : "?");
        lg_ref_clear(&pat);
        return LG_EINVAL;
    }
    lg_ref_clear(&pat);
    const char *id = lg_mj_str(rp, "id");
    lg_caregiver *cg = NULL;
    for(size_t i = 0; id && i < c->n_caregivers; i++)
        if(c->caregivers[i].person.type && strcmp(c->caregivers[i].person.type, "RelatedPerson") == 0 &&
           c->caregivers[i].person.id && strcmp(c->caregivers[i].person.id, id) == 0)
            cg = &c->caregivers[i];
    if(!cg) {
        bool too_many = false;
        cg = push(&c->caregivers, &c->n_caregivers, sizeof(*cg), &too_many);
        if(!cg) {
            if(too_many)
                lg_issues_add(issues, LG_SEV_ERROR, "too-costly", "RelatedPerson", "too many caregivers");
            return too_many ? LG_EINVAL : LG_ENOMEM;
        }
        char ref[96];
        snprintf(ref, sizeof(ref), "RelatedPerson/%s", id ? id : "");
        if(lg_ref_set(&cg->person, id ? ref : NULL, NULL) != LG_OK)
            return LG_ENOMEM;
    }
    const cJSON *name = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rp, "name"), 0);
    const cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(name, "given"), 0);
    const char *family = lg_mj_str(name, "family");
    const char *given = cJSON_IsString(g0) ? g0->valuestring : NULL;
    const char *text = lg_mj_str(name, "text");
    free(cg->name);
    cg->name = NULL;
    if(text) {
        if(!(cg->name = strdup(text)))
            return LG_ENOMEM;
    } else if(family || given) {
        if(asprintf(&cg->name, "%s%s%s", given ? given : "", given && family ? " " : "",
                    family ? family : "") < 0) {
            cg->name = NULL;
            return LG_ENOMEM;
        }
    }
    lg_code_clear(&cg->relationship);
    const cJSON *rel = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rp, "relationship"), 0);
    if(lg_mj_coding(rel, NULL) && lg_mj_code(&cg->relationship, lg_mj_coding(rel, NULL)) != LG_OK)
        return LG_ENOMEM;
    return LG_OK;
}

/* ------------------------------------------------------------ referral */

/* Requester -> referrer_org (Organization) or referrer_practitioner. */
static lg_status set_referrer(lg_referral *r, const cJSON *res)
{
    lg_ref req;
    if(lg_mj_ref(&req, res, "requester") != LG_OK)
        return LG_ENOMEM;
    if(!req.reference && !req.display)
        return LG_OK;
    lg_ref_clear(&r->referrer_org);
    lg_ref_clear(&r->referrer_practitioner);
    if(req.type && strcmp(req.type, "Organization") == 0)
        r->referrer_org = req;
    else
        r->referrer_practitioner = req;
    return LG_OK;
}

/* A performer/owner -> recipient_program (HealthcareService) or recipient_org. */
static lg_status set_recipient(lg_referral *r, const cJSON *refobj)
{
    lg_ref rec;
    if(!cJSON_IsObject(refobj))
        return LG_OK;
    if(lg_ref_set(&rec, lg_mj_str(refobj, "reference"), lg_mj_str(refobj, "display")) != LG_OK)
        return LG_ENOMEM;
    lg_ref_clear(&r->recipient_org);
    lg_ref_clear(&r->recipient_program);
    if(rec.type && strcmp(rec.type, "HealthcareService") == 0)
        r->recipient_program = rec;
    else
        r->recipient_org = rec;
    return LG_OK;
}

static lg_status sr_categories(lg_referral *r, const cJSON *sr, lg_issues *issues)
{
    const cJSON *cat, *cats = cJSON_GetObjectItemCaseSensitive(sr, "category");
    int i = -1;
    cJSON_ArrayForEach(cat, cats) {
        i++;
        const cJSON *cd, *codings = cJSON_GetObjectItemCaseSensitive(cat, "coding");
        cJSON_ArrayForEach(cd, codings) {
            const char *sys = lg_mj_str(cd, "system"), *code = lg_mj_str(cd, "code");
            if(!sys || !code || strcmp(sys, LG_SDOHCC_CODES) != 0)
                continue;
            lg_sdoh_category c;
            if(lg_sdoh_category_parse(code, &c) != 0) {
                char loc[64];
                snprintf(loc, sizeof(loc), "ServiceRequest.category[%d]", i);
                lg_issues_add(issues, LG_SEV_WARNING, "code-invalid", loc,
                              "'%s' is not an SDOH category; ignored", code);
                continue;
            }
            bool dup = false, too_many = false;
            for(size_t k = 0; k < r->n_categories; k++)
                dup |= r->categories[k] == c;
            if(dup)
                continue;
            lg_sdoh_category *slot = push(&r->categories, &r->n_categories, sizeof(*slot), &too_many);
            if(!slot)
                return LG_ENOMEM; /* the category list is finite: too_many cannot happen */
            *slot = c;
        }
    }
    return LG_OK;
}

/* ServiceRequest.status -> loop state before any Task exists. */
static void sr_loop(lg_referral *r)
{
    const char *s = r->sr_status ? r->sr_status : "";
    if(strcmp(s, "draft") == 0)
        r->loop = LG_LOOP_DRAFT;
    else if(strcmp(s, "completed") == 0)
        r->loop = LG_LOOP_CLOSED_SERVED;
    else if(strcmp(s, "revoked") == 0) {
        r->loop = LG_LOOP_CLOSED_NOT_SERVED;
        r->not_served = LG_NOT_SERVED_CANCELLED;
    } else if(strcmp(s, "entered-in-error") == 0)
        r->loop = LG_LOOP_ERROR;
    else if(strcmp(s, "on-hold") == 0)
        r->loop = LG_LOOP_ON_HOLD;
    else
        r->loop = LG_LOOP_PENDING;
}

/* Everything a referral Task says, after checking it is one of r's. */
static lg_status take_task(lg_referral *r, const cJSON *task, int64_t now_ms, bool first, lg_issues *issues)
{
    lg_status st = LG_EINVAL;
    bool oom = false;
    lg_ref focus = { 0 }, forr = { 0 };
    size_t errors_before = lg_issues_errors(issues);
    if(!is_type(task, "Task"))
        return not_a(task, "Task", issues);
    if(lg_mj_ref(&focus, task, "focus") != LG_OK || lg_mj_ref(&forr, task, "for") != LG_OK) {
        st = LG_ENOMEM;
        goto fail;
    }
    const char *tid = lg_mj_str(task, "id");
    if(!first && r->task_id && tid && strcmp(r->task_id, tid) != 0)
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.id",
                      "Task/%s is not this referral's Task (Task/%s)", tid, r->task_id);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(task, "code");
    if(!lg_mj_has_code(code, "http://hl7.org/fhir/CodeSystem/task-code", "fulfill"))
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.code",
                      "a referral Task has code fulfill (http://hl7.org/fhir/CodeSystem/task-code)");
    if(!focus.reference)
        lg_issues_add(issues, LG_SEV_ERROR, "required", "Task.focus",
                      "a referral Task names its ServiceRequest in focus");
    else if(!focus.type || strcmp(focus.type, "ServiceRequest") != 0)
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.focus",
                      "Task.focus is %s, not a ServiceRequest", focus.reference);
    else if(r->service_request_id && (!focus.id || strcmp(focus.id, r->service_request_id) != 0))
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.focus",
                      "Task.focus is %s, but the referral is ServiceRequest/%s", focus.reference,
                      r->service_request_id);
    if(!forr.reference)
        lg_issues_add(issues, LG_SEV_ERROR, "required", "Task.for", "a referral Task names the patient in for");
    else if(r->child.reference && !lg_ref_same(&forr, &r->child))
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.for",
                      "Task.for is %s, but the ServiceRequest's subject is %s", forr.reference,
                      r->child.reference);
    const char *status = lg_mj_str(task, "status");
    lg_task_status ts = LG_TASK_REQUESTED;
    if(!status || lg_task_status_parse(status, &ts) != 0)
        lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", "Task.status", "'%s' is not a Task status",
                      status ? status : "");
    else if(!lg_task_status_in_referral_vs(ts))
        lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", "Task.status",
                      "'%s' is not in the SDOHCC referral Task status value set (no received, ready)", status);
    if(lg_issues_errors(issues) > errors_before)
        goto fail;

    if(first) {
        r->task_id = lg_model_strdup(tid, &oom);
        if(!r->child.reference && lg_ref_set(&r->child, forr.reference, forr.display) != LG_OK)
            oom = true;
        if(!r->service_request_id)
            r->service_request_id = lg_model_strdup(focus.id, &oom);
    }
    if(oom || (!r->referrer_org.reference && !r->referrer_practitioner.reference && set_referrer(r, task) != LG_OK) ||
       set_recipient(r, cJSON_GetObjectItemCaseSensitive(task, "owner")) != LG_OK)
        goto nomem;
    if(r->authored_ms == INT64_MIN)
        r->authored_ms = lg_mj_time(task, "authoredOn");

    /* Why, and with what result. */
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(task, "statusReason");
    free(r->status_reason);
    r->status_reason = lg_model_strdup(lg_mj_str(reason, "text"), &oom);
    r->not_served = LG_NOT_SERVED_NONE;
    if(lg_loop_state_of(ts) == LG_LOOP_CLOSED_NOT_SERVED) {
        const cJSON *cd, *codings = cJSON_GetObjectItemCaseSensitive(reason, "coding");
        cJSON_ArrayForEach(cd, codings) {
            const char *c = lg_mj_str(cd, "code");
            lg_not_served ns;
            if(c && lg_not_served_parse(c, &ns) == 0) {
                r->not_served = ns;
                break;
            }
            if(c && strcmp(c, "no-capacity") == 0) { /* SDOHCC's own code */
                r->not_served = LG_NOT_SERVED_AT_CAPACITY;
                break;
            }
        }
        if(ts == LG_TASK_CANCELLED)
            r->not_served = LG_NOT_SERVED_CANCELLED;
        else if(r->not_served == LG_NOT_SERVED_NONE)
            r->not_served = LG_NOT_SERVED_OTHER;
    }
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(task, "businessStatus");
    free(r->business_status);
    r->business_status = lg_model_strdup(lg_mj_str(bs, "text") ? lg_mj_str(bs, "text")
                                                               : lg_mj_str(lg_mj_coding(bs, NULL), "code"), &oom);
    const cJSON *o, *outputs = cJSON_GetObjectItemCaseSensitive(task, "output");
    cJSON_ArrayForEach(o, outputs) {
        if(!lg_mj_has_code(cJSON_GetObjectItemCaseSensitive(o, "type"), LG_SDOHCC_CODES, "resulting-activity"))
            continue;
        const cJSON *vr = cJSON_GetObjectItemCaseSensitive(o, "valueReference");
        const cJSON *vc = cJSON_GetObjectItemCaseSensitive(o, "valueCodeableConcept");
        if(cJSON_IsObject(vr)) {
            lg_ref_clear(&r->outcome_procedure);
            if(lg_ref_set(&r->outcome_procedure, lg_mj_str(vr, "reference"), lg_mj_str(vr, "display")) != LG_OK)
                goto nomem;
        } else if(lg_mj_coding(vc, NULL)) {
            lg_code_clear(&r->outcome_code);
            if(lg_mj_code(&r->outcome_code, lg_mj_coding(vc, NULL)) != LG_OK)
                goto nomem;
        }
    }
    if(oom)
        goto nomem;

    /* Timeline: creation at authoredOn, then the current status when it
     * moved on, at lastModified (else when we saw it). */
    lg_ref owner = { 0 }, req = { 0 };
    if(lg_mj_ref(&owner, task, "owner") != LG_OK || lg_mj_ref(&req, task, "requester") != LG_OK) {
        lg_ref_clear(&owner);
        goto nomem;
    }
    lg_status es = LG_OK;
    if(first) {
        lg_task_status start = ts == LG_TASK_DRAFT ? LG_TASK_DRAFT : LG_TASK_REQUESTED;
        es = lg_referral_add_event(r, start, lg_mj_time(task, "authoredOn"), req.reference);
    }
    if(es == LG_OK && (!r->has_task || r->task_status != ts)) {
        int64_t at = lg_mj_time(task, "lastModified");
        bool owner_sets = ts != LG_TASK_DRAFT && ts != LG_TASK_REQUESTED && ts != LG_TASK_ENTERED_IN_ERROR &&
                          ts != LG_TASK_CANCELLED;
        es = lg_referral_add_event(r, ts, at != INT64_MIN ? at : now_ms,
                                   owner_sets ? owner.reference : NULL);
    }
    lg_ref_clear(&owner);
    lg_ref_clear(&req);
    if(es != LG_OK)
        goto nomem;
    /* The Task version being applied is the current state, even when a
     * clock put its event before an earlier one on the timeline. */
    r->has_task = true;
    r->task_status = ts;
    r->loop = lg_loop_state_of(ts);
    lg_ref_clear(&focus);
    lg_ref_clear(&forr);
    return LG_OK;
nomem:
    st = LG_ENOMEM;
fail:
    lg_ref_clear(&focus);
    lg_ref_clear(&forr);
    return st;
}

lg_status lg_model_referral_from_fhir(const cJSON *sr, const cJSON *task, lg_referral **out, lg_issues *issues)
{
    lg_status st = LG_ENOMEM;
    bool oom = false;
    *out = NULL;
    if(!is_type(sr, "ServiceRequest"))
        return not_a(sr, "ServiceRequest", issues);
    lg_referral *r = calloc(1, sizeof(*r));
    if(!r)
        return LG_ENOMEM;
    size_t errors_before = lg_issues_errors(issues);
    r->authored_ms = INT64_MIN;
    r->service_request_id = lg_model_strdup(lg_mj_str(sr, "id"), &oom);
    r->sr_status = lg_model_strdup(lg_mj_str(sr, "status"), &oom);
    if(oom || lg_mj_ref(&r->child, sr, "subject") != LG_OK || set_referrer(r, sr) != LG_OK ||
       set_recipient(r, cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sr, "performer"), 0)) != LG_OK)
        goto fail;
    if(!r->child.reference)
        lg_issues_add(issues, LG_SEV_ERROR, "required", "ServiceRequest.subject",
                      "a referral names the child in subject");
    else if(!r->child.type || strcmp(r->child.type, "Patient") != 0)
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "ServiceRequest.subject",
                      "ServiceRequest.subject is %s, not a Patient", r->child.reference);
    if(sr_categories(r, sr, issues) != LG_OK)
        goto fail;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(sr, "code");
    if(lg_mj_coding(code, NULL) && lg_mj_code(&r->service, lg_mj_coding(code, NULL)) != LG_OK)
        goto fail;
    r->service_text = lg_model_strdup(lg_mj_str(code, "text"), &oom);
    const char *prio = lg_mj_str(sr, "priority");
    if(prio && lg_priority_parse(prio, &r->priority) != 0)
        lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", "ServiceRequest.priority",
                      "'%s' is not a request priority", prio);
    r->authored_ms = lg_mj_time(sr, "authoredOn");
    const cJSON *od, *details = cJSON_GetObjectItemCaseSensitive(sr, "orderDetail");
    cJSON_ArrayForEach(od, details)
        if(lg_mj_has_code(od, LG_SDOHCC_CODES, "contacting-subject-prohibited"))
            r->contact_prohibited = true;
    const cJSON *si, *sis = cJSON_GetObjectItemCaseSensitive(sr, "supportingInfo");
    cJSON_ArrayForEach(si, sis) {
        lg_ref tmp;
        if(lg_ref_set(&tmp, lg_mj_str(si, "reference"), lg_mj_str(si, "display")) != LG_OK)
            goto fail;
        if(!r->consent.reference && tmp.type && strcmp(tmp.type, "Consent") == 0)
            r->consent = tmp;
        else
            lg_ref_clear(&tmp);
    }
    if(oom)
        goto fail;
    sr_loop(r);
    if(lg_issues_errors(issues) > errors_before) {
        st = LG_EINVAL;
        goto fail;
    }
    if(task && (st = take_task(r, task, lg_time_now_ms(), true, issues)) != LG_OK)
        goto fail;
    *out = r;
    return LG_OK;
fail:
    lg_model_referral_free(r);
    return st;
}

lg_status lg_model_referral_apply_task(lg_referral *r, const cJSON *task, int64_t now_ms, lg_issues *issues)
{
    return take_task(r, task, now_ms, !r->has_task, issues);
}

lg_status lg_model_referral_add_procedure(lg_referral *r, const cJSON *proc, lg_issues *issues)
{
    if(!is_type(proc, "Procedure"))
        return not_a(proc, "Procedure", issues);
    lg_status st = LG_EINVAL;
    lg_ref subj;
    if(lg_mj_ref(&subj, proc, "subject") != LG_OK)
        return LG_ENOMEM;
    size_t errors_before = lg_issues_errors(issues);
    if(!lg_ref_same(&subj, &r->child))
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Procedure.subject",
                      "Procedure.subject is %s, but the referral is for %s",
                      subj.reference ? subj.reference : "absent", r->child.reference ? r->child.reference : "?");
    const cJSON *b, *based = cJSON_GetObjectItemCaseSensitive(proc, "basedOn");
    bool any = false, ours = false;
    cJSON_ArrayForEach(b, based) {
        lg_ref br;
        if(lg_ref_set(&br, lg_mj_str(b, "reference"), NULL) != LG_OK) {
            st = LG_ENOMEM;
            goto fail;
        }
        any = true;
        ours |= br.type && strcmp(br.type, "ServiceRequest") == 0 && br.id && r->service_request_id &&
                strcmp(br.id, r->service_request_id) == 0;
        lg_ref_clear(&br);
    }
    if(any && !ours)
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Procedure.basedOn",
                      "Procedure.basedOn does not name ServiceRequest/%s",
                      r->service_request_id ? r->service_request_id : "?");
    if(lg_issues_errors(issues) > errors_before)
        goto fail;
    char ref[96];
    const char *id = lg_mj_str(proc, "id");
    snprintf(ref, sizeof(ref), "Procedure/%s", id ? id : "");
    lg_ref_clear(&r->outcome_procedure);
    if(lg_ref_set(&r->outcome_procedure, id ? ref : NULL, NULL) != LG_OK) {
        st = LG_ENOMEM;
        goto fail;
    }
    st = LG_OK;
fail:
    lg_ref_clear(&subj);
    return st;
}

lg_status lg_model_referral_add_consent(lg_referral *r, const cJSON *consent, lg_issues *issues)
{
    if(!is_type(consent, "Consent"))
        return not_a(consent, "Consent", issues);
    lg_status st = LG_EINVAL;
    lg_ref pat;
    if(lg_mj_ref(&pat, consent, "patient") != LG_OK)
        return LG_ENOMEM;
    size_t errors_before = lg_issues_errors(issues);
    if(!lg_ref_same(&pat, &r->child))
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Consent.patient",
                      "Consent.patient is %s, but the referral is for %s",
                      pat.reference ? pat.reference : "absent", r->child.reference ? r->child.reference : "?");
    const char *status = lg_mj_str(consent, "status");
    if(!status || strcmp(status, "active") != 0)
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Consent.status",
                      "Consent is %s, not active: it does not allow sharing", status ? status : "without status");
    if(lg_issues_errors(issues) > errors_before)
        goto fail;
    char ref[96];
    const char *id = lg_mj_str(consent, "id");
    snprintf(ref, sizeof(ref), "Consent/%s", id ? id : "");
    lg_ref_clear(&r->consent);
    st = lg_ref_set(&r->consent, id ? ref : NULL, NULL);
fail:
    lg_ref_clear(&pat);
    return st;
}

/* ------------------------------------------------------------ CarePlan */

lg_status lg_model_care_plan_from_fhir(const cJSON *cp, lg_care_plan **out, lg_issues *issues)
{
    bool oom = false, too_many = false;
    lg_status st = LG_ENOMEM;
    *out = NULL;
    if(!is_type(cp, "CarePlan"))
        return not_a(cp, "CarePlan", issues);
    lg_care_plan *p = calloc(1, sizeof(*p));
    if(!p)
        return LG_ENOMEM;
    size_t errors_before = lg_issues_errors(issues);
    p->id = lg_model_strdup(lg_mj_str(cp, "id"), &oom);
    p->status = lg_model_strdup(lg_mj_str(cp, "status"), &oom);
    const cJSON *period = cJSON_GetObjectItemCaseSensitive(cp, "period");
    p->review_due = lg_model_strdup(lg_mj_str(period, "end"), &oom);
    p->review_due_ms = lg_mj_time(period, "end");
    p->created_ms = lg_mj_time(cp, "created");
    if(oom || lg_mj_ref(&p->subject, cp, "subject") != LG_OK ||
       lg_mj_ref(&p->lead_care_manager, cp, "author") != LG_OK)
        goto fail;
    if(p->review_due && p->review_due_ms == INT64_MIN)
        lg_issues_add(issues, LG_SEV_ERROR, "value", "CarePlan.period.end", "'%s' is not a date", p->review_due);
    const cJSON *g, *goals = cJSON_GetObjectItemCaseSensitive(cp, "goal");
    cJSON_ArrayForEach(g, goals) {
        lg_ref *slot = push(&p->goals, &p->n_goals, sizeof(*slot), &too_many);
        if(!slot)
            goto list;
        if(lg_ref_set(slot, lg_mj_str(g, "reference"), lg_mj_str(g, "display")) != LG_OK)
            goto fail;
    }
    const cJSON *a, *acts = cJSON_GetObjectItemCaseSensitive(cp, "activity");
    cJSON_ArrayForEach(a, acts) {
        lg_care_activity *slot = push(&p->activities, &p->n_activities, sizeof(*slot), &too_many);
        if(!slot)
            goto list;
        const cJSON *detail = cJSON_GetObjectItemCaseSensitive(a, "detail");
        const cJSON *coding = lg_mj_coding(cJSON_GetObjectItemCaseSensitive(detail, "code"), NULL);
        if(lg_mj_ref(&slot->reference, a, "reference") != LG_OK ||
           (coding && lg_mj_code(&slot->code, coding) != LG_OK))
            goto fail;
        slot->status = lg_model_strdup(lg_mj_str(detail, "status"), &oom);
        if(oom)
            goto fail;
    }
    if(lg_issues_errors(issues) > errors_before) {
        st = LG_EINVAL;
        goto fail;
    }
    *out = p;
    return LG_OK;
list:
    if(too_many) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", "CarePlan", "more than %d goals or activities",
                      LG_MODEL_MAX_LIST);
        st = LG_EINVAL;
    }
fail:
    lg_model_care_plan_free(p);
    return st;
}

/* ------------------------------------------------------------ Organization */

lg_status lg_model_org_from_fhir(const cJSON *org, lg_org **out, lg_issues *issues)
{
    bool oom = false;
    *out = NULL;
    if(!is_type(org, "Organization"))
        return not_a(org, "Organization", issues);
    lg_org *o = calloc(1, sizeof(*o));
    if(!o)
        return LG_ENOMEM;
    o->id = lg_model_strdup(lg_mj_str(org, "id"), &oom);
    o->name = lg_model_strdup(lg_mj_str(org, "name"), &oom);
    const cJSON *active = cJSON_GetObjectItemCaseSensitive(org, "active");
    o->active = !cJSON_IsFalse(active); /* absent means active */
    const cJSON *coding = lg_mj_coding(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(org, "type"), 0), NULL);
    if(oom || (coding && lg_mj_code(&o->type, coding) != LG_OK)) {
        lg_model_org_free(o);
        return LG_ENOMEM;
    }
    *out = o;
    return LG_OK;
}

/* ------------------------------------------------------------ TaskForPatient */

lg_status lg_model_patient_task_from_fhir(const cJSON *task, lg_patient_task **out, lg_issues *issues)
{
    bool oom = false;
    lg_status st = LG_ENOMEM;
    *out = NULL;
    if(!is_type(task, "Task"))
        return not_a(task, "Task", issues);
    lg_patient_task *t = calloc(1, sizeof(*t));
    if(!t)
        return LG_ENOMEM;
    size_t errors_before = lg_issues_errors(issues);
    t->id = lg_model_strdup(lg_mj_str(task, "id"), &oom);
    t->description = lg_model_strdup(lg_mj_str(task, "description"), &oom);
    t->authored_ms = lg_mj_time(task, "authoredOn");
    /* The code binding is extensible (SDOHCC-ValueSetTaskCode; the examples
     * also use SDC's complete-questionnaire): prefer an SDOHCC coding. */
    const cJSON *tcode = cJSON_GetObjectItemCaseSensitive(task, "code");
    const cJSON *coding = lg_mj_coding(tcode, LG_SDOHCC_CODES);
    if(!coding)
        coding = lg_mj_coding(tcode, NULL);
    if(oom || lg_mj_ref(&t->child, task, "for") != LG_OK || lg_mj_ref(&t->owner, task, "owner") != LG_OK ||
       lg_mj_ref(&t->requester, task, "requester") != LG_OK || lg_mj_ref(&t->focus, task, "focus") != LG_OK ||
       (coding && lg_mj_code(&t->code, coding) != LG_OK))
        goto fail;
    if(!t->code.code)
        lg_issues_add(issues, LG_SEV_ERROR, "required", "Task.code", "a patient Task says what to do in code");
    else if(lg_mj_has_code(tcode, "http://hl7.org/fhir/CodeSystem/task-code", "fulfill"))
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.code",
                      "a fulfill Task is a referral Task, not a Task for the patient");
    const char *status = lg_mj_str(task, "status");
    if(!status || lg_task_status_parse(status, &t->status) != 0 || !lg_task_status_in_referral_vs(t->status))
        lg_issues_add(issues, LG_SEV_ERROR, "code-invalid", "Task.status",
                      "'%s' is not in the SDOHCC referral Task status value set", status ? status : "");
    if(!t->child.type || strcmp(t->child.type, "Patient") != 0)
        lg_issues_add(issues, LG_SEV_ERROR, "required", "Task.for", "a patient Task is for a Patient");
    if(t->owner.reference && (!t->owner.type || (strcmp(t->owner.type, "Patient") != 0 &&
                                                 strcmp(t->owner.type, "RelatedPerson") != 0)))
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.owner",
                      "a patient Task is owned by the Patient or a RelatedPerson, not %s", t->owner.reference);
    else if(t->owner.type && strcmp(t->owner.type, "Patient") == 0 && !lg_ref_same(&t->owner, &t->child))
        lg_issues_add(issues, LG_SEV_ERROR, "business-rule", "Task.owner",
                      "Task.owner %s is another patient than Task.for %s", t->owner.reference,
                      t->child.reference ? t->child.reference : "?");
    if(lg_issues_errors(issues) > errors_before) {
        st = LG_EINVAL;
        goto fail;
    }
    *out = t;
    return LG_OK;
fail:
    lg_model_patient_task_free(t);
    return st;
}
