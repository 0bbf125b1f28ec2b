/* access.c - who may see what (issue #4, "Who may see what").
 *
 * One decision, lg_access_decide: may this actor see this resource? It
 * reads only the resource itself, who created it, and - for the derived
 * rules ("what a CBO's Tasks point to") - a few bounded look-ups in the
 * store. The REST interactions call it on every resource they would show
 * or change, and make a refusal look exactly like a missing resource
 * (404), so a client learns nothing about what it may not see. The rules,
 * with a table per role and resource, are written down in docs/access.md.
 *
 * Look-ups fail closed: a store error or an allocation failure while
 * deciding means "not visible".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/model.h"
#include "loopgate/time.h"
#include "internal.h"

/* Candidates each derived rule looks at (Tasks of one ServiceRequest,
 * ServiceRequests of one patient): enough for any real referral history,
 * and a bound on what one decision may cost. */
#define LOOKUP_MAX 64
#define SHARING_ROLE_SYSTEM "https://loopgate.dev/fhir/CodeSystem/sharing-role"
/* The Loopgate sharing choice applies to adolescents from this age on. */
#define SHARING_MIN_AGE 12

/* Directory and conformance resources: shared reference data, visible to
 * every client that is not reporting-only. */
static const char *const shared_types[] = {
    "Organization", "Practitioner", "PractitionerRole", "HealthcareService", "Location",
    "Endpoint", "StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap",
    "SearchParameter", "OperationDefinition", "CapabilityStatement", "NamingSystem",
    "ImplementationGuide", "Questionnaire", NULL,
};

int lg_access_shared_type(const char *type)
{
    for(size_t i = 0; shared_types[i]; i++)
        if(strcmp(shared_types[i], type) == 0)
            return 1;
    return 0;
}

/* ---- small JSON and reference helpers ---- */

static const char *ref_of(const cJSON *res, const char *member)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(res, member);
    if(cJSON_IsArray(r))
        r = r->child;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "reference");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* "Type/id" at the end of a reference ("http://x/fhir/Type/id" too): 1 and
 * the two parts copied into type/id, else 0. A _history suffix is dropped. */
static int ref_split(const char *ref, char *type, size_t tn, char *id, size_t in)
{
    if(!ref)
        return 0;
    size_t n = strlen(ref);
    const char *h = strstr(ref, "/_history/");
    if(h)
        n = (size_t)(h - ref);
    const char *end = ref + n, *p = end;
    while(p > ref && p[-1] != '/')
        p--;
    if(p == ref || p == end)
        return 0;
    const char *slash = p - 1, *t = slash;
    while(t > ref && t[-1] != '/')
        t--;
    if(t == slash || (size_t)(slash - t) >= tn || (size_t)(end - p) >= in)
        return 0;
    memcpy(type, t, (size_t)(slash - t));
    type[slash - t] = 0;
    memcpy(id, p, (size_t)(end - p));
    id[end - p] = 0;
    return 1;
}

/* Does reference text ref name actor reference want ("Organization/x")?
 * Equal, or any absolute URL ending in "/" + want. Loose on purpose: used
 * only where a match takes visibility away (the sharing choice). */
static int ref_is(const char *ref, const char *want)
{
    if(!ref || !want || !*want)
        return 0;
    size_t rn = strlen(ref), wn = strlen(want);
    if(rn == wn)
        return strcmp(ref, want) == 0;
    return rn > wn && ref[rn - wn - 1] == '/' && strcmp(ref + rn - wn, want) == 0;
}

static int ref_is_actor(const lg_actor *a, const char *ref)
{
    for(size_t i = 0; ref && i < a->n_refs; i++)
        if(ref_is(ref, a->refs[i]))
            return 1;
    return 0;
}

/* The "Type/id" part of a reference to a resource on this server: the
 * reference itself when relative, what follows our own base URL when
 * absolute; NULL for another server's resource, a urn:, or a contained
 * "#x". What grants visibility must be ours: an owner
 * "https://elsewhere/Organization/cbo-a" is not cbo-a. */
static const char *local_part(const lg_access_env *env, const char *ref)
{
    if(!ref || !*ref || *ref == '#')
        return NULL;
    if(!strchr(ref, ':'))
        return ref;
    size_t bl = env->base ? strlen(env->base) : 0;
    if(bl && strncmp(ref, env->base, bl) == 0 && ref[bl] == '/')
        return ref + bl + 1;
    return NULL;
}

/* Does ref (a reference to a resource here) name one of the actor's
 * references? */
static int names_actor(const lg_access_env *env, const char *ref)
{
    const char *lp = local_part(env, ref);
    for(size_t i = 0; lp && i < env->actor->n_refs; i++)
        if(env->actor->refs[i] && strcmp(lp, env->actor->refs[i]) == 0)
            return 1;
    return 0;
}

/* Any element of res (any Reference at any depth) pointing at want
 * ("Type/id" here). */
static int refers_to(const lg_access_env *env, const cJSON *node, const char *want, int depth)
{
    if(depth > 64)
        return 0;
    for(const cJSON *ch = node ? node->child : NULL; ch; ch = ch->next) {
        if(cJSON_IsString(ch) && ch->string && strcmp(ch->string, "reference") == 0) {
            const char *lp = local_part(env, ch->valuestring);
            if(lp && strcmp(lp, want) == 0)
                return 1;
        } else if((cJSON_IsObject(ch) || cJSON_IsArray(ch)) &&
                  refers_to(env, ch, want, depth + 1)) {
            return 1;
        }
    }
    return 0;
}

static int created_by(const lg_access_env *env, const char *creator)
{
    return creator && env->client_id && strcmp(creator, env->client_id) == 0;
}

/* ---- decisions remembered for one search or history page ---- */

#define MEMO_SLOTS 4096 /* a power of two; past 3/4 full nothing more is kept */

struct lg_access_memo {
    char *keys[MEMO_SLOTS];
    unsigned char vis[MEMO_SLOTS];
    size_t count;
};

lg_access_memo *lg_access_memo_new(void)
{
    return calloc(1, sizeof(lg_access_memo));
}

void lg_access_memo_free(lg_access_memo *m)
{
    for(size_t i = 0; m && i < MEMO_SLOTS; i++)
        free(m->keys[i]);
    free(m);
}

/* The slot of key: where it is, or the empty slot where it would go. */
static size_t memo_slot(const lg_access_memo *m, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for(const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    size_t i = (size_t)h & (MEMO_SLOTS - 1);
    while(m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (MEMO_SLOTS - 1);
    return i;
}

/* Remember key's decision (kept only while the table is under 3/4 full). */
static void memo_put(lg_access_memo *m, const char *key, int vis)
{
    if(!m || m->count >= MEMO_SLOTS / 4 * 3)
        return;
    size_t i = memo_slot(m, key);
    if(!m->keys[i] && (m->keys[i] = strdup(key))) {
        m->vis[i] = vis != 0;
        m->count++;
    }
}

/* ---- store look-ups ---- */

/* The current, not deleted version of the resource ref points at, parsed.
 * NULL when absent. Caller frees with cJSON_Delete; *creator (if given)
 * receives a malloc'd copy of its creator or NULL (caller frees). */
static cJSON *load_lazy(const lg_access_env *env, const char *ref, const char *want_type,
                        char **creator, int lazy)
{
    char type[72], id[72];
    lg_resource r = {0};
    cJSON *doc = NULL;
    if(creator)
        *creator = NULL;
    if(!ref_split(local_part(env, ref), type, sizeof(type), id, sizeof(id)) ||
       (want_type && strcmp(type, want_type) != 0))
        return NULL;
    /* lazy: the caller needs the resource only when it carries a sharing
     * choice; most do not, and this skips parsing them. (Stored JSON is
     * cJSON's own output, which never escapes '/'.) */
    if(lg_store_read(env->st, type, id, &r) == LG_OK && !r.deleted && r.json &&
       !(lazy && !strstr(r.json, LG_URL_SHARING))) {
        doc = cJSON_ParseWithLength(r.json, r.json_len);
        if(doc && creator && r.creator)
            *creator = strdup(r.creator);
    }
    lg_resource_clear(&r);
    return doc;
}

static cJSON *load(const lg_access_env *env, const char *ref, const char *want_type,
                   char **creator)
{
    return load_lazy(env, ref, want_type, creator, 0);
}

/* Search type with up to two reference parameters (name=value; value may
 * be a comma-separated OR list). At most LOOKUP_MAX results into *out. */
static lg_status lookup(const lg_access_env *env, const char *type, const char *p1,
                        const char *v1, const char *p2, const char *v2, lg_resource_list *out)
{
    lg_query q = {0};
    lg_issues is = {0};
    lg_status st = LG_ENOMEM;
    q.type = strdup(type);
    q.count = LOOKUP_MAX;
    if(!q.type)
        goto out;
    if((st = lg_query_add_param(env->defs, &q, p1, v1, &is)))
        goto out;
    if(p2 && (st = lg_query_add_param(env->defs, &q, p2, v2, &is)))
        goto out;
    st = lg_store_search(env->st, &q, out, &is);
out:
    lg_query_free(&q);
    lg_issues_free(&is);
    return st;
}

/* The actor's references as one OR list ("Organization/a,Organization/b")
 * into buf; 0 when there are none or they do not fit (or hold a comma or
 * backslash, which a search value would read as syntax). */
static int actor_ref_list(const lg_actor *a, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for(size_t i = 0; i < a->n_refs; i++) {
        const char *r = a->refs[i];
        if(!r || !*r || strpbrk(r, ",\\$|"))
            return 0;
        int k = snprintf(buf + len, n - len, "%s%s", len ? "," : "", r);
        if(k < 0 || (size_t)k >= n - len)
            return 0;
        len += (size_t)k;
    }
    return len > 0;
}

/* ---- the adolescent sharing choice ---- */

/* Does one sharing-choice extension refuse this actor? */
static int choice_refuses(const lg_actor *a, const cJSON *ext)
{
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(ext, "extension");
    const cJSON *who = NULL;
    int allowed = -1;
    for(const cJSON *e = sub ? sub->child : NULL; e; e = e->next) {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(e, "url");
        if(!cJSON_IsString(url))
            continue;
        if(strcmp(url->valuestring, "who") == 0) {
            who = e;
        } else if(strcmp(url->valuestring, "allowed") == 0) {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "valueBoolean");
            if(cJSON_IsBool(b))
                allowed = cJSON_IsTrue(b);
        }
    }
    /* Only an explicit "not allowed" restricts; allowed=true never widens. */
    if(allowed != 0 || !who)
        return 0;
    const cJSON *vr = cJSON_GetObjectItemCaseSensitive(who, "valueReference");
    if(vr) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(vr, "reference");
        return cJSON_IsString(r) && ref_is_actor(a, r->valuestring);
    }
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(who, "valueCodeableConcept");
    const cJSON *codings = cJSON_GetObjectItemCaseSensitive(cc, "coding");
    for(const cJSON *cd = codings ? codings->child : NULL; cd; cd = cd->next) {
        const cJSON *sys = cJSON_GetObjectItemCaseSensitive(cd, "system");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(cd, "code");
        if(!cJSON_IsString(code) ||
           (cJSON_IsString(sys) && strcmp(sys->valuestring, SHARING_ROLE_SYSTEM) != 0))
            continue;
        const char *k = code->valuestring;
        if((a->role == LG_ROLE_REFERRAL_RECIPIENT && strcmp(k, "cbo") == 0) ||
           (a->role == LG_ROLE_REFERRAL_SOURCE && strcmp(k, "primary-care") == 0) ||
           (a->role == LG_ROLE_COORDINATION &&
            (strcmp(k, "care-manager") == 0 || strcmp(k, "health-plan") == 0)))
            return 1;
    }
    return 0;
}

static int has_refusal(const lg_actor *a, const cJSON *res)
{
    const cJSON *exts = cJSON_GetObjectItemCaseSensitive(res, "extension");
    for(const cJSON *e = exts ? exts->child : NULL; e; e = e->next) {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(e, "url");
        if(cJSON_IsString(url) && strcmp(url->valuestring, LG_URL_SHARING) == 0 &&
           choice_refuses(a, e))
            return 1;
    }
    return 0;
}

/* Age of the patient in whole years, or -1 when unknown. */
static int patient_age(const lg_access_env *env, const cJSON *patient)
{
    lg_child *ch = NULL;
    lg_issues is = {0};
    int age = -1;
    if(lg_model_child_from_fhir(patient, &ch, &is) == LG_OK) {
        age = lg_child_age(ch, env->now_ms);
    } else {
        /* Another Loopgate extension is malformed: the birth date alone
         * still says whether the choice applies. */
        const cJSON *bd = cJSON_GetObjectItemCaseSensitive(patient, "birthDate");
        lg_child tmp = {.birth_date = cJSON_IsString(bd) ? bd->valuestring : NULL};
        age = lg_child_age(&tmp, env->now_ms);
    }
    lg_model_child_free(ch);
    lg_issues_free(&is);
    return age;
}

/* Is a referral (the ServiceRequest sr, may be NULL, of the patient
 * patient_ref) withheld from the actor by the adolescent's choice, given on
 * the ServiceRequest or on the Patient? */
static int withheld(const lg_access_env *env, const cJSON *sr, const char *patient_ref)
{
    if(!patient_ref && sr)
        patient_ref = ref_of(sr, "subject");
    int sr_refuses = sr && has_refusal(env->actor, sr);
    /* The Patient is needed for its age when the ServiceRequest refuses,
     * else only when it carries a choice itself. */
    cJSON *patient = load_lazy(env, patient_ref, "Patient", NULL, !sr_refuses);
    int out = patient && (sr_refuses || has_refusal(env->actor, patient)) &&
              patient_age(env, patient) >= SHARING_MIN_AGE;
    cJSON_Delete(patient);
    return out;
}

/* A Task's referral: its focus ServiceRequest (NULL if none). */
static int task_withheld(const lg_access_env *env, const cJSON *task)
{
    const char *patient = ref_of(task, "for");
    /* Without Task.for the ServiceRequest's subject names the patient. */
    cJSON *sr = load_lazy(env, ref_of(task, "focus"), "ServiceRequest", NULL, patient != NULL);
    int out = withheld(env, sr, patient);
    cJSON_Delete(sr);
    return out;
}

/* ---- the rules per role ---- */

static lg_access decide_sr(const lg_access_env *env, const cJSON *sr, const char *creator);

/* Referral recipient: a Task it owns. (Not one it created for someone
 * else: ownership alone decides, which keeps the owner condition exact
 * enough to push into a search - lg_access_pushdown.) */
static int recipient_task(const lg_access_env *env, const cJSON *task)
{
    return names_actor(env, ref_of(task, "owner"));
}

/* Referral source: a Task it requested or created, or whose focus is a
 * ServiceRequest it requested or created. */
static int source_task(const lg_access_env *env, const cJSON *task, const char *creator)
{
    if(names_actor(env, ref_of(task, "requester")) || created_by(env, creator))
        return 1;
    char *sr_creator = NULL;
    cJSON *sr = load(env, ref_of(task, "focus"), "ServiceRequest", &sr_creator);
    int out = sr && (names_actor(env, ref_of(sr, "requester")) ||
                     created_by(env, sr_creator));
    cJSON_Delete(sr);
    free(sr_creator);
    return out;
}

/* A relative "Type/id" reference (not an absolute URL, which may name
 * another server's resource) of the given type: 1 and key = "Type/id". */
static int local_ref(const char *ref, const char *type, char *key, size_t n)
{
    size_t tl = strlen(type);
    if(!ref || strncmp(ref, type, tl) != 0 || ref[tl] != '/' || !ref[tl + 1] ||
       strchr(ref + tl + 1, '/') || strchr(ref, ':') || strlen(ref) >= n)
        return 0;
    memcpy(key, ref, strlen(ref) + 1);
    return 1;
}

/* A visible Task makes what it points to visible by the same rules
 * (docs/access.md): its Patient ("for" of a visible Task) always, and for
 * a CBO its focus ServiceRequest when that has the Task's patient as
 * subject (so the sharing choice already checked is the one that counts).
 * Noting them saves the look-ups that would find this Task again. */
static void seed_from_task(const lg_access_env *env, const cJSON *task)
{
    char pkey[160], skey[160];
    const char *pref = ref_of(task, "for");
    if(!local_ref(pref, "Patient", pkey, sizeof(pkey)))
        return;
    memo_put(env->memo, pkey, 1);
    if(env->actor->role != LG_ROLE_REFERRAL_RECIPIENT ||
       !local_ref(ref_of(task, "focus"), "ServiceRequest", skey, sizeof(skey)))
        return;
    cJSON *sr = load(env, skey, "ServiceRequest", NULL);
    const char *subject = sr ? ref_of(sr, "subject") : NULL;
    if(subject && strcmp(subject, pref) == 0 && !has_refusal(env->actor, sr))
        memo_put(env->memo, skey, 1);
    cJSON_Delete(sr);
}

static lg_access decide_task(const lg_access_env *env, const cJSON *task, const char *creator)
{
    int base = 0;
    switch(env->actor->role) {
    case LG_ROLE_COORDINATION: base = 1; break;
    case LG_ROLE_REFERRAL_RECIPIENT: base = recipient_task(env, task); break;
    case LG_ROLE_REFERRAL_SOURCE: base = source_task(env, task, creator); break;
    default: base = 0;
    }
    if(!base || task_withheld(env, task))
        return LG_ACCESS_HIDDEN;
    if(env->memo)
        seed_from_task(env, task);
    return LG_ACCESS_VISIBLE;
}

/* The ServiceRequest's reference text ("ServiceRequest/id") into buf. */
static int self_ref(const cJSON *res, char *buf, size_t n)
{
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(res, "resourceType");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "id");
    if(!cJSON_IsString(rt) || !cJSON_IsString(id))
        return 0;
    int k = snprintf(buf, n, "%s/%s", rt->valuestring, id->valuestring);
    return k > 0 && (size_t)k < n;
}

static lg_access decide_sr(const lg_access_env *env, const cJSON *sr, const char *creator)
{
    const lg_actor *a = env->actor;
    int base = 0;
    if(a->role == LG_ROLE_COORDINATION) {
        base = 1;
    } else if(a->role == LG_ROLE_REFERRAL_SOURCE) {
        base = names_actor(env, ref_of(sr, "requester")) || created_by(env, creator);
    } else if(a->role == LG_ROLE_REFERRAL_RECIPIENT) {
        /* What one of its Tasks points to: a Task it owns whose focus this
         * is. (It may not create ServiceRequests: lg_access_may_create.) */
        char self[160], owners[1024];
        lg_resource_list l = {0};
        if(self_ref(sr, self, sizeof(self)) &&
           actor_ref_list(a, owners, sizeof(owners)) &&
           lookup(env, "Task", "focus", self, "owner", owners, &l) == LG_OK)
            base = l.count > 0;
        lg_resource_list_clear(&l);
    }
    return base && !withheld(env, sr, NULL) ? LG_ACCESS_VISIBLE : LG_ACCESS_HIDDEN;
}

/* Any of the resources found by a look-up visible to the actor? */
static int any_visible(const lg_access_env *env, const lg_resource_list *l)
{
    for(size_t i = 0; i < l->count; i++) {
        cJSON *doc = cJSON_ParseWithLength(l->items[i].json, l->items[i].json_len);
        lg_access v = doc ? lg_access_decide(env, l->items[i].type, doc, l->items[i].creator)
                          : LG_ACCESS_HIDDEN;
        cJSON_Delete(doc);
        if(v == LG_ACCESS_VISIBLE)
            return 1;
    }
    return 0;
}

/* A Patient is visible to a referral party through a visible referral:
 * the subject of a ServiceRequest or the "for" of a Task it may see. */
static lg_access decide_patient(const lg_access_env *env, const cJSON *patient,
                                const char *creator)
{
    char self[160];
    if(env->actor->role == LG_ROLE_COORDINATION || created_by(env, creator))
        return LG_ACCESS_VISIBLE;
    if(!self_ref(patient, self, sizeof(self)))
        return LG_ACCESS_HIDDEN;
    lg_resource_list l = {0};
    int vis = 0;
    if(lookup(env, "Task", "patient", self, NULL, NULL, &l) == LG_OK)
        vis = any_visible(env, &l);
    lg_resource_list_clear(&l);
    if(!vis && lookup(env, "ServiceRequest", "subject", self, NULL, NULL, &l) == LG_OK)
        vis = any_visible(env, &l);
    lg_resource_list_clear(&l);
    return vis ? LG_ACCESS_VISIBLE : LG_ACCESS_HIDDEN;
}

/* Other patient data (Consent, Condition, Observation, ...): what the
 * client created, or what a ServiceRequest it may see refers to
 * (supportingInfo, reasonReference, ...). The ServiceRequests looked at
 * are those of the resource's own patient. */
static lg_access decide_other(const lg_access_env *env, const cJSON *res, const char *creator)
{
    static const char *const patient_members[] = {"patient", "subject", "for", "beneficiary",
                                                  NULL};
    char self[160], ptype[72], pid[72], pref[160];
    if(env->actor->role == LG_ROLE_COORDINATION || created_by(env, creator))
        return LG_ACCESS_VISIBLE;
    if(!self_ref(res, self, sizeof(self)))
        return LG_ACCESS_HIDDEN;
    const char *patient = NULL;
    for(size_t i = 0; !patient && patient_members[i]; i++) {
        const char *r = ref_of(res, patient_members[i]);
        if(ref_split(local_part(env, r), ptype, sizeof(ptype), pid, sizeof(pid)) &&
           strcmp(ptype, "Patient") == 0)
            patient = r;
    }
    if(!patient || snprintf(pref, sizeof(pref), "Patient/%s", pid) >= (int)sizeof(pref))
        return LG_ACCESS_HIDDEN;
    lg_resource_list l = {0};
    int vis = 0;
    if(lookup(env, "ServiceRequest", "subject", pref, NULL, NULL, &l) == LG_OK) {
        for(size_t i = 0; !vis && i < l.count; i++) {
            cJSON *sr = cJSON_ParseWithLength(l.items[i].json, l.items[i].json_len);
            vis = sr && refers_to(env, sr, self, 0) &&
                  decide_sr(env, sr, l.items[i].creator) == LG_ACCESS_VISIBLE;
            cJSON_Delete(sr);
        }
    }
    lg_resource_list_clear(&l);
    return vis ? LG_ACCESS_VISIBLE : LG_ACCESS_HIDDEN;
}

static lg_access decide_uncached(const lg_access_env *env, const char *type, const cJSON *res,
                                 const char *creator)
{
    if(lg_access_shared_type(type))
        return LG_ACCESS_VISIBLE;
    if(strcmp(type, "Task") == 0)
        return decide_task(env, res, creator);
    if(strcmp(type, "ServiceRequest") == 0)
        return decide_sr(env, res, creator);
    if(strcmp(type, "Patient") == 0)
        return decide_patient(env, res, creator);
    return decide_other(env, res, creator);
}

lg_access lg_access_decide(const lg_access_env *env, const char *type, const cJSON *res,
                           const char *creator)
{
    const lg_actor *a = env->actor;
    char key[160];
    if(!a)
        return LG_ACCESS_VISIBLE;
    if(a->role != LG_ROLE_COORDINATION && a->role != LG_ROLE_REFERRAL_SOURCE &&
       a->role != LG_ROLE_REFERRAL_RECIPIENT)
        return LG_ACCESS_HIDDEN; /* reporting (aggregates only) and unknown roles */
    if(!type || !cJSON_IsObject(res))
        return LG_ACCESS_HIDDEN;
    lg_access_memo *m = env->memo;
    if(!m || lg_access_shared_type(type) || !self_ref(res, key, sizeof(key)))
        return decide_uncached(env, type, res, creator);
    size_t i = memo_slot(m, key);
    if(m->keys[i])
        return m->vis[i] ? LG_ACCESS_VISIBLE : LG_ACCESS_HIDDEN;
    lg_access v = decide_uncached(env, type, res, creator);
    memo_put(m, key, v == LG_ACCESS_VISIBLE);
    return v;
}

/* ---- what the REST interactions call ---- */

lg_status lg_list_move(lg_resource_list *l, lg_resource *r)
{
    if(l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        lg_resource *n = realloc(l->items, ncap * sizeof(*n));
        if(!n)
            return LG_ENOMEM;
        l->items = n;
        l->cap = ncap;
    }
    l->items[l->count++] = *r;
    memset(r, 0, sizeof(*r));
    return LG_OK;
}

void lg_access_env_init(const lg_ctx *c, lg_access_env *env)
{
    env->actor = c->req->actor;
    env->client_id = c->req->client_id;
    env->base = c->req->base;
    env->defs = c->rest->defs;
    env->st = c->st;
    env->now_ms = lg_time_now_ms();
    env->memo = c->access_memo;
}

int lg_access_limited(const lg_ctx *c)
{
    return c->req->actor != NULL;
}

int lg_access_filters(const lg_ctx *c, const char *type)
{
    const lg_actor *a = c->req->actor;
    if(!a)
        return 0;
    if(a->role == LG_ROLE_COORDINATION)
        return strcmp(type, "Task") == 0 || strcmp(type, "ServiceRequest") == 0;
    return !lg_access_shared_type(type);
}

int lg_access_resource(lg_ctx *c, const lg_resource *r)
{
    if(!c->req->actor)
        return 1;
    lg_access_env env;
    lg_access_env_init(c, &env);
    lg_resource prev = {0};
    const lg_resource *use = r;
    /* A tombstone has no content: decide on the last version that had. */
    for(int64_t v = r->version - 1; use->deleted && v >= 1 && v >= r->version - 8; v--) {
        lg_resource_clear(&prev);
        if(lg_store_vread(c->st, r->type, r->id, v, &prev) != LG_OK)
            break;
        use = &prev;
    }
    int vis = 0;
    if(!use->deleted && use->json) {
        cJSON *doc = cJSON_ParseWithLength(use->json, use->json_len);
        vis = doc && lg_access_decide(&env, r->type, doc, r->creator ? r->creator : use->creator) ==
                         LG_ACCESS_VISIBLE;
        cJSON_Delete(doc);
    }
    lg_resource_clear(&prev);
    return vis;
}

int lg_access_current(lg_ctx *c, const char *type, const char *id)
{
    if(!c->req->actor)
        return 1;
    lg_resource r = {0};
    int vis = lg_store_read(c->st, type, id, &r) == LG_OK && lg_access_resource(c, &r);
    lg_resource_clear(&r);
    return vis;
}

lg_status lg_access_guard(lg_ctx *c)
{
    const lg_actor *a = c->req->actor;
    if(a && a->role == LG_ROLE_REPORTING)
        return lg_fail(c, LG_EFORBIDDEN, "forbidden", NULL,
                       "Reporting clients see aggregates only (the closed-loop report), not "
                       "individual resources");
    if(a && a->role == LG_ROLE_NONE)
        return lg_fail(c, LG_EFORBIDDEN, "forbidden", NULL, "This client has no role");
    return LG_OK;
}

lg_status lg_access_may_create(lg_ctx *c, const char *type)
{
    lg_status st = lg_access_guard(c);
    if(st)
        return st;
    const lg_actor *a = c->req->actor;
    if(a && a->role == LG_ROLE_REFERRAL_RECIPIENT && strcmp(type, "ServiceRequest") == 0)
        return lg_fail(c, LG_EFORBIDDEN, "forbidden", NULL,
                       "A referral recipient cannot create ServiceRequests (referrals come from "
                       "a referral source)");
    return LG_OK;
}

lg_status lg_access_pushdown(const lg_ctx *c, lg_query *q)
{
    const lg_actor *a = c->req->actor;
    char owners[1024];
    /* A CBO sees only Tasks it owns: the owner condition is necessary, so
     * adding it to the query never drops a visible row, and the filter
     * after it (the sharing choice) sees far fewer candidates. */
    if(!a || a->role != LG_ROLE_REFERRAL_RECIPIENT || strcmp(q->type, "Task") != 0 ||
       !actor_ref_list(a, owners, sizeof(owners)))
        return LG_OK;
    lg_issues is = {0};
    lg_status st = lg_query_add_param(c->rest->defs, q, "owner", owners, &is);
    lg_issues_free(&is);
    return st == LG_EINVAL ? LG_OK : st;
}
