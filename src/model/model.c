/* model.c - the coordination model's value tables, references, timeline and
 * destructors (types in include/loopgate/model.h). */
#include "loopgate/model.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/internal.h"

/* ------------------------------------------------------------ code tables */

static const char *const task_codes[LG_TASK_STATUS_COUNT] = {
    "draft", "requested", "received", "accepted", "rejected", "ready",
    "cancelled", "in-progress", "on-hold", "failed", "completed", "entered-in-error",
};

static const char *const sdoh_codes[LG_SDOH_CATEGORY_COUNT] = {
    "sdoh-category-unspecified", "food-insecurity", "housing-instability", "homelessness",
    "inadequate-housing", "transportation-insecurity", "financial-insecurity",
    "material-hardship", "educational-attainment", "employment-status", "veteran-status",
    "stress", "social-connection", "intimate-partner-violence", "elder-abuse",
    "personal-health-literacy", "health-insurance-coverage-status", "medical-cost-burden",
    "digital-literacy", "digital-access", "utility-insecurity", "language-access",
    "incarceration-status",
};

static const char *const priority_codes[] = { NULL, "routine", "urgent", "asap", "stat" };

static const char *const loop_codes[LG_LOOP_STATE_COUNT] = {
    "draft", "pending", "accepted", "in-progress", "on-hold", "closed-served",
    "closed-not-served", "entered-in-error",
};

static const char *const not_served_codes[LG_NOT_SERVED_COUNT] = {
    NULL, "declined", "unable-to-contact", "not-eligible", "at-capacity", "cancelled", "other",
};

static const char *const phm_codes[] = { NULL, "basic", "complex", "enhanced" };

static const char *const ecm_codes[LG_ECM_POPULATION_COUNT] = {
    "homelessness", "avoidable-utilization", "smh-sud", "transitioning-from-incarceration",
    "ccs-whole-child", "child-welfare", "birth-equity",
};

static int lookup(const char *const *tab, int n, const char *code)
{
    if(!code)
        return -1;
    for(int i = 0; i < n; i++)
        if(tab[i] && strcmp(tab[i], code) == 0)
            return i;
    return -1;
}

const char *lg_task_status_code(lg_task_status s)
{
    return (unsigned)s < LG_TASK_STATUS_COUNT ? task_codes[s] : "?";
}

int lg_task_status_parse(const char *code, lg_task_status *out)
{
    int i = lookup(task_codes, LG_TASK_STATUS_COUNT, code);
    if(i < 0)
        return -1;
    *out = (lg_task_status)i;
    return 0;
}

bool lg_task_status_in_referral_vs(lg_task_status s)
{
    return (unsigned)s < LG_TASK_STATUS_COUNT && s != LG_TASK_RECEIVED && s != LG_TASK_READY;
}

const char *lg_sdoh_category_code(lg_sdoh_category c)
{
    return (unsigned)c < LG_SDOH_CATEGORY_COUNT ? sdoh_codes[c] : "?";
}

int lg_sdoh_category_parse(const char *code, lg_sdoh_category *out)
{
    int i = lookup(sdoh_codes, LG_SDOH_CATEGORY_COUNT, code);
    if(i < 0)
        return -1;
    *out = (lg_sdoh_category)i;
    return 0;
}

const char *lg_priority_code(lg_priority p)
{
    return (unsigned)p <= LG_PRIORITY_STAT ? priority_codes[p] : NULL;
}

int lg_priority_parse(const char *code, lg_priority *out)
{
    int i = lookup(priority_codes, LG_PRIORITY_STAT + 1, code);
    if(i < 0)
        return -1;
    *out = (lg_priority)i;
    return 0;
}

const char *lg_loop_state_code(lg_loop_state s)
{
    return (unsigned)s < LG_LOOP_STATE_COUNT ? loop_codes[s] : "?";
}

lg_loop_state lg_loop_state_of(lg_task_status s)
{
    switch(s) {
    case LG_TASK_DRAFT: return LG_LOOP_DRAFT;
    case LG_TASK_REQUESTED: case LG_TASK_RECEIVED: case LG_TASK_READY: return LG_LOOP_PENDING;
    case LG_TASK_ACCEPTED: return LG_LOOP_ACCEPTED;
    case LG_TASK_IN_PROGRESS: return LG_LOOP_IN_PROGRESS;
    case LG_TASK_ON_HOLD: return LG_LOOP_ON_HOLD;
    case LG_TASK_COMPLETED: return LG_LOOP_CLOSED_SERVED;
    case LG_TASK_REJECTED: case LG_TASK_CANCELLED: case LG_TASK_FAILED:
        return LG_LOOP_CLOSED_NOT_SERVED;
    case LG_TASK_ENTERED_IN_ERROR: default: return LG_LOOP_ERROR;
    }
}

bool lg_loop_state_closed(lg_loop_state s)
{
    return s == LG_LOOP_CLOSED_SERVED || s == LG_LOOP_CLOSED_NOT_SERVED;
}

const char *lg_not_served_code(lg_not_served r)
{
    return (unsigned)r < LG_NOT_SERVED_COUNT ? not_served_codes[r] : NULL;
}

int lg_not_served_parse(const char *code, lg_not_served *out)
{
    int i = lookup(not_served_codes, LG_NOT_SERVED_COUNT, code);
    if(i < 0)
        return -1;
    *out = (lg_not_served)i;
    return 0;
}

const char *lg_phm_tier_code(lg_phm_tier t)
{
    return (unsigned)t <= LG_PHM_ENHANCED ? phm_codes[t] : NULL;
}

int lg_model_phm_parse(const char *code, lg_phm_tier *out)
{
    int i = lookup(phm_codes, LG_PHM_ENHANCED + 1, code);
    if(i < 0)
        return -1;
    *out = (lg_phm_tier)i;
    return 0;
}

const char *lg_ecm_population_code(lg_ecm_population p)
{
    return (unsigned)p < LG_ECM_POPULATION_COUNT ? ecm_codes[p] : "?";
}

int lg_ecm_population_parse(const char *code, lg_ecm_population *out)
{
    int i = lookup(ecm_codes, LG_ECM_POPULATION_COUNT, code);
    if(i < 0)
        return -1;
    *out = (lg_ecm_population)i;
    return 0;
}

/* ------------------------------------------------------------ references */

char *lg_model_strdup(const char *s, bool *oom)
{
    if(!s)
        return NULL;
    char *d = strdup(s);
    if(!d)
        *oom = true;
    return d;
}

void lg_ref_clear(lg_ref *r)
{
    if(!r)
        return;
    free(r->reference);
    free(r->type);
    free(r->id);
    free(r->display);
    memset(r, 0, sizeof(*r));
}

void lg_code_clear(lg_code *c)
{
    if(!c)
        return;
    free(c->system);
    free(c->code);
    free(c->display);
    memset(c, 0, sizeof(*c));
}

/* A resource type name: an upper-case ASCII letter then letters. */
static bool type_like(const char *s, size_t n)
{
    if(n == 0 || n > 64 || s[0] < 'A' || s[0] > 'Z')
        return false;
    for(size_t i = 1; i < n; i++)
        if(!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

/* FHIR id: [A-Za-z0-9\-\.]{1,64} */
static bool id_like(const char *s, size_t n)
{
    if(n == 0 || n > 64)
        return false;
    for(size_t i = 0; i < n; i++) {
        char c = s[i];
        if(!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.'))
            return false;
    }
    return true;
}

lg_status lg_ref_set(lg_ref *r, const char *text, const char *display)
{
    bool oom = false;
    memset(r, 0, sizeof(*r));
    r->reference = lg_model_strdup(text, &oom);
    r->display = lg_model_strdup(display, &oom);
    if(oom)
        goto fail;
    if(!text || strncmp(text, "urn:", 4) == 0 || text[0] == '#')
        return LG_OK;
    /* Split into segments from the end: [..., Type, id] or
     * [..., Type, id, _history, vid]. */
    const char *seg[4];
    size_t len[4];
    int n = 0;
    const char *end = text + strlen(text);
    while(n < 4 && end > text) {
        const char *p = end;
        while(p > text && p[-1] != '/')
            p--;
        seg[n] = p;
        len[n] = (size_t)(end - p);
        n++;
        end = p > text ? p - 1 : text;
        if(p == text)
            break;
    }
    int ti = -1;
    if(n >= 2 && type_like(seg[1], len[1]) && id_like(seg[0], len[0]))
        ti = 1;
    else if(n >= 4 && len[1] == 8 && strncmp(seg[1], "_history", 8) == 0 &&
            type_like(seg[3], len[3]) && id_like(seg[2], len[2]))
        ti = 3;
    if(ti > 0) {
        r->type = strndup(seg[ti], len[ti]);
        r->id = strndup(seg[ti - 1], len[ti - 1]);
        if(!r->type || !r->id)
            goto fail;
    }
    return LG_OK;
fail:
    lg_ref_clear(r);
    return LG_ENOMEM;
}

bool lg_ref_same(const lg_ref *a, const lg_ref *b)
{
    if(!a || !b)
        return false;
    if(a->type && a->id && b->type && b->id)
        return strcmp(a->type, b->type) == 0 && strcmp(a->id, b->id) == 0;
    return a->reference && b->reference && strcmp(a->reference, b->reference) == 0;
}

/* ------------------------------------------------------------ timeline */

lg_status lg_referral_add_event(lg_referral *r, lg_task_status s, int64_t at_ms, const char *by)
{
    if(r->n_timeline == r->cap_timeline) {
        size_t ncap = r->cap_timeline ? r->cap_timeline * 2 : 4;
        lg_referral_event *n = realloc(r->timeline, ncap * sizeof(*n));
        if(!n)
            return LG_ENOMEM;
        r->timeline = n;
        r->cap_timeline = ncap;
    }
    char *b = NULL;
    if(by && !(b = strdup(by)))
        return LG_ENOMEM;
    /* Insert after every event not later than this one; unknown times
     * (INT64_MIN) sort last because their order is only arrival order. */
    size_t pos = r->n_timeline;
    if(at_ms != INT64_MIN)
        while(pos > 0 && (r->timeline[pos - 1].at_ms == INT64_MIN || r->timeline[pos - 1].at_ms > at_ms))
            pos--;
    memmove(&r->timeline[pos + 1], &r->timeline[pos], (r->n_timeline - pos) * sizeof(*r->timeline));
    r->timeline[pos] = (lg_referral_event){ .status = s, .at_ms = at_ms, .by = b };
    r->n_timeline++;
    if(pos == r->n_timeline - 1) {
        r->task_status = s;
        r->has_task = true;
        r->loop = lg_loop_state_of(s);
    }
    return LG_OK;
}

int64_t lg_referral_first_response_ms(const lg_referral *r)
{
    for(size_t i = 0; i < r->n_timeline; i++)
        if(r->timeline[i].status == LG_TASK_ACCEPTED || r->timeline[i].status == LG_TASK_REJECTED)
            return r->timeline[i].at_ms;
    return INT64_MIN;
}

int64_t lg_referral_closed_ms(const lg_referral *r)
{
    for(size_t i = 0; i < r->n_timeline; i++)
        if(lg_loop_state_closed(lg_loop_state_of(r->timeline[i].status)))
            return r->timeline[i].at_ms;
    return INT64_MIN;
}

/* ------------------------------------------------------------ age */

int lg_model_date_ymd(const char *s, int *y, int *m, int *d)
{
    if(!s || strlen(s) < 10)
        return -1;
    for(int i = 0; i < 10; i++) {
        if(i == 4 || i == 7) {
            if(s[i] != '-')
                return -1;
        } else if(s[i] < '0' || s[i] > '9')
            return -1;
    }
    *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    *m = (s[5] - '0') * 10 + (s[6] - '0');
    *d = (s[8] - '0') * 10 + (s[9] - '0');
    if(*m < 1 || *m > 12 || *d < 1 || *d > 31)
        return -1;
    return 0;
}

void lg_model_ms_ymd(int64_t ms, int *y, int *m, int *d)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    *y = tm.tm_year + 1900;
    *m = tm.tm_mon + 1;
    *d = tm.tm_mday;
}

int lg_child_age(const lg_child *c, int64_t now_ms)
{
    int by, bm, bd, ny, nm, nd;
    if(!c || lg_model_date_ymd(c->birth_date, &by, &bm, &bd) != 0)
        return -1;
    lg_model_ms_ymd(now_ms, &ny, &nm, &nd);
    int age = ny - by;
    if(nm < bm || (nm == bm && nd < bd))
        age--; /* birthday not reached yet this year (29 Feb counts from 1 Mar) */
    return age < 0 ? -1 : age;
}

/* ------------------------------------------------------------ destructors */

static void free_codes(lg_code *c, size_t n)
{
    for(size_t i = 0; i < n; i++)
        lg_code_clear(&c[i]);
    free(c);
}

void lg_model_referral_free(lg_referral *r)
{
    if(!r)
        return;
    free(r->service_request_id);
    free(r->task_id);
    free(r->sr_status);
    lg_ref_clear(&r->child);
    lg_ref_clear(&r->referrer_org);
    lg_ref_clear(&r->referrer_practitioner);
    lg_ref_clear(&r->recipient_org);
    lg_ref_clear(&r->recipient_program);
    free(r->categories);
    lg_code_clear(&r->service);
    free(r->service_text);
    for(size_t i = 0; i < r->n_timeline; i++)
        free(r->timeline[i].by);
    free(r->timeline);
    lg_ref_clear(&r->outcome_procedure);
    lg_code_clear(&r->outcome_code);
    free(r->status_reason);
    free(r->business_status);
    lg_ref_clear(&r->consent);
    free(r);
}

void lg_model_child_free(lg_child *c)
{
    if(!c)
        return;
    free(c->id);
    free(c->family);
    free(c->given);
    free(c->birth_date);
    free(c->preferred_language);
    for(size_t i = 0; i < c->n_languages; i++) {
        lg_code_clear(&c->languages[i].language);
        free(c->languages[i].dialect);
    }
    free(c->languages);
    free_codes(c->race, c->n_race);
    free_codes(c->race_detailed, c->n_race_detailed);
    free(c->race_text);
    free_codes(c->ethnicity, c->n_ethnicity);
    free_codes(c->ethnicity_detailed, c->n_ethnicity_detailed);
    free(c->ethnicity_text);
    free(c->county);
    for(size_t i = 0; i < c->n_caregivers; i++) {
        lg_ref_clear(&c->caregivers[i].person);
        free(c->caregivers[i].name);
        lg_code_clear(&c->caregivers[i].relationship);
    }
    free(c->caregivers);
    free(c);
}

void lg_model_care_plan_free(lg_care_plan *p)
{
    if(!p)
        return;
    free(p->id);
    free(p->status);
    lg_ref_clear(&p->subject);
    for(size_t i = 0; i < p->n_goals; i++)
        lg_ref_clear(&p->goals[i]);
    free(p->goals);
    for(size_t i = 0; i < p->n_activities; i++) {
        lg_ref_clear(&p->activities[i].reference);
        lg_code_clear(&p->activities[i].code);
        free(p->activities[i].status);
    }
    free(p->activities);
    lg_ref_clear(&p->lead_care_manager);
    free(p->review_due);
    free(p);
}

void lg_model_org_free(lg_org *o)
{
    if(!o)
        return;
    free(o->id);
    free(o->name);
    lg_code_clear(&o->type);
    free(o);
}

void lg_model_patient_task_free(lg_patient_task *t)
{
    if(!t)
        return;
    free(t->id);
    lg_code_clear(&t->code);
    free(t->description);
    lg_ref_clear(&t->child);
    lg_ref_clear(&t->owner);
    lg_ref_clear(&t->requester);
    lg_ref_clear(&t->focus);
    free(t);
}
