/* model.h - the coordination model: referrals, children (members) and care
 * plans as care coordinators talk about them, independent of FHIR's shape.
 *
 * Three parts:
 *  - the C types and their destructors (src/model/model.c);
 *  - translation FHIR -> model (src/model/from_fhir.c) and model -> FHIR for
 *    what Loopgate itself produces (src/model/to_fhir.c); the mapping is the
 *    table in docs/model-mapping.md;
 *  - the SDOHCC referral Task state machine and Medi-Cal business rules
 *    (src/model/workflow.c).
 *
 * Ownership: every struct returned through an out-pointer is heap memory the
 * caller releases with the matching lg_model_*_free (each accepts NULL). All
 * strings inside a model struct belong to that struct. FHIR input is a cJSON
 * tree the caller keeps; nothing here holds on to it. Functions that find
 * problems append lg_issues (severity, IssueType code, FHIRPath location,
 * message) to a caller-owned list and never free or clear it.
 *
 * This is a pure library: no HTTP, no SQL. The REST layer maps the results.
 */
#ifndef LOOPGATE_MODEL_H
#define LOOPGATE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loopgate/status.h"

typedef struct cJSON cJSON;

/* Canonical URLs the model reads and writes. */
#define LG_SDOHCC_CODES "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
#define LG_URL_US_CORE_RACE "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
#define LG_URL_US_CORE_ETHNICITY "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
#define LG_URL_PHM_TIER "https://loopgate.dev/fhir/StructureDefinition/phm-tier"
#define LG_URL_ECM_POPULATION "https://loopgate.dev/fhir/StructureDefinition/ecm-population-of-focus"
#define LG_URL_INTERPRETER_NEED "https://loopgate.dev/fhir/StructureDefinition/interpreter-need"
#define LG_URL_CAREGIVER "https://loopgate.dev/fhir/StructureDefinition/contactable-caregiver"
#define LG_URL_SHARING "https://loopgate.dev/fhir/StructureDefinition/adolescent-sharing-choice"
/* A county given as an extension rather than Address.district (the
 * ISO/FIPS county code extension some US exchanges use). */
#define LG_URL_COUNTY "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-county"
/* Loopgate's codes for why a referral was closed without service. Not yet a
 * CodeSystem in profiles/ (see docs/model-mapping.md). */
#define LG_REASON_SYSTEM "https://loopgate.dev/fhir/CodeSystem/referral-closure-reason"
#define LG_TASK_PROFILE_REFERRAL "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"
#define LG_TASK_PROFILE_PATIENT "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForPatient"

/* ---------------------------------------------------------------- values */

/* A FHIR Reference taken apart. reference is the literal text ("Patient/7",
 * "https://x/fhir/Patient/7/_history/2", "urn:uuid:..."); type and id are
 * filled when the text ends in Type/id (optionally followed by
 * _history/vid), else NULL. All NULL when the Reference was absent. */
typedef struct lg_ref {
    char *reference, *type, *id, *display;
} lg_ref;

/* One Coding (the first of a CodeableConcept unless said otherwise). */
typedef struct lg_code {
    char *system, *code, *display;
} lg_code;

/* Same target: equal type and id when both sides have them, else equal
 * literal reference text. Absent references are never the same. */
bool lg_ref_same(const lg_ref *a, const lg_ref *b);
/* Fill r from the text of a reference (copies; r is zeroed first). LG_ENOMEM
 * or LG_OK; text NULL gives an empty ref. */
lg_status lg_ref_set(lg_ref *r, const char *text, const char *display);
void lg_ref_clear(lg_ref *r);
void lg_code_clear(lg_code *c);

/* ------------------------------------------------------ FHIR Task status */

/* R4 task-status, in the order of the spec's value set. */
typedef enum lg_task_status {
    LG_TASK_DRAFT, LG_TASK_REQUESTED, LG_TASK_RECEIVED, LG_TASK_ACCEPTED,
    LG_TASK_REJECTED, LG_TASK_READY, LG_TASK_CANCELLED, LG_TASK_IN_PROGRESS,
    LG_TASK_ON_HOLD, LG_TASK_FAILED, LG_TASK_COMPLETED, LG_TASK_ENTERED_IN_ERROR,
    LG_TASK_STATUS_COUNT
} lg_task_status;

/* "requested", ... ; static, never NULL ("?" for an out-of-range value). */
const char *lg_task_status_code(lg_task_status s);
/* 0 and *out set when code is an R4 task-status code, else -1. */
int lg_task_status_parse(const char *code, lg_task_status *out);
/* Whether s is in SDOHCC ValueSetReferralTaskStatus (all but received, ready). */
bool lg_task_status_in_referral_vs(lg_task_status s);

/* ------------------------------------------------------------- referral */

/* SDOH need categories (SDOHCC ValueSetSDOHCategory, codes of the SDOHCC
 * temporary code system). */
typedef enum lg_sdoh_category {
    LG_SDOH_UNSPECIFIED, LG_SDOH_FOOD_INSECURITY, LG_SDOH_HOUSING_INSTABILITY,
    LG_SDOH_HOMELESSNESS, LG_SDOH_INADEQUATE_HOUSING, LG_SDOH_TRANSPORTATION_INSECURITY,
    LG_SDOH_FINANCIAL_INSECURITY, LG_SDOH_MATERIAL_HARDSHIP, LG_SDOH_EDUCATIONAL_ATTAINMENT,
    LG_SDOH_EMPLOYMENT_STATUS, LG_SDOH_VETERAN_STATUS, LG_SDOH_STRESS,
    LG_SDOH_SOCIAL_CONNECTION, LG_SDOH_INTIMATE_PARTNER_VIOLENCE, LG_SDOH_ELDER_ABUSE,
    LG_SDOH_PERSONAL_HEALTH_LITERACY, LG_SDOH_HEALTH_INSURANCE_COVERAGE_STATUS,
    LG_SDOH_MEDICAL_COST_BURDEN, LG_SDOH_DIGITAL_LITERACY, LG_SDOH_DIGITAL_ACCESS,
    LG_SDOH_UTILITY_INSECURITY, LG_SDOH_LANGUAGE_ACCESS, LG_SDOH_INCARCERATION_STATUS,
    LG_SDOH_CATEGORY_COUNT
} lg_sdoh_category;
const char *lg_sdoh_category_code(lg_sdoh_category c); /* static; "?" if out of range */
int lg_sdoh_category_parse(const char *code, lg_sdoh_category *out); /* 0 or -1 */

/* R4 request-priority; UNSET when absent (FHIR's default is routine). */
typedef enum lg_priority {
    LG_PRIORITY_UNSET, LG_PRIORITY_ROUTINE, LG_PRIORITY_URGENT, LG_PRIORITY_ASAP, LG_PRIORITY_STAT
} lg_priority;
const char *lg_priority_code(lg_priority p); /* static; NULL for UNSET */
int lg_priority_parse(const char *code, lg_priority *out);

/* The state of the loop, derived from the referral Task (and, before a Task
 * exists, the ServiceRequest). What the closed-loop report counts. */
typedef enum lg_loop_state {
    LG_LOOP_DRAFT,          /* not yet sent */
    LG_LOOP_PENDING,        /* requested, no response yet */
    LG_LOOP_ACCEPTED,       /* first response: accepted */
    LG_LOOP_IN_PROGRESS,    /* in-progress */
    LG_LOOP_ON_HOLD,
    LG_LOOP_CLOSED_SERVED,  /* completed */
    LG_LOOP_CLOSED_NOT_SERVED, /* rejected, cancelled, failed (see reason) */
    LG_LOOP_ERROR,          /* entered-in-error: not counted */
    LG_LOOP_STATE_COUNT
} lg_loop_state;
const char *lg_loop_state_code(lg_loop_state s); /* static: "pending", ... */
/* The loop state a Task status puts a referral in. */
lg_loop_state lg_loop_state_of(lg_task_status s);
bool lg_loop_state_closed(lg_loop_state s);

/* Why a referral closed without service. */
typedef enum lg_not_served {
    LG_NOT_SERVED_NONE, LG_NOT_SERVED_DECLINED, LG_NOT_SERVED_UNABLE_TO_CONTACT,
    LG_NOT_SERVED_NOT_ELIGIBLE, LG_NOT_SERVED_AT_CAPACITY, LG_NOT_SERVED_CANCELLED,
    LG_NOT_SERVED_OTHER, LG_NOT_SERVED_COUNT
} lg_not_served;
/* "declined", "unable-to-contact", "not-eligible", "at-capacity",
 * "cancelled", "other"; NULL for NONE. Static. */
const char *lg_not_served_code(lg_not_served r);
int lg_not_served_parse(const char *code, lg_not_served *out);

/* One transition on the referral's timeline. */
typedef struct lg_referral_event {
    lg_task_status status;
    int64_t at_ms;   /* ms since the epoch; INT64_MIN when unknown */
    char *by;        /* reference text of who made it, or NULL */
} lg_referral_event;

typedef struct lg_referral {
    char *service_request_id;  /* ServiceRequest.id, or NULL */
    char *task_id;             /* the referral Task's id, or NULL before one exists */
    char *sr_status;           /* ServiceRequest.status ("active", "revoked", ...) */
    lg_ref child;              /* ServiceRequest.subject (= Task.for) */
    lg_ref referrer_org;       /* requester when it is an Organization */
    lg_ref referrer_practitioner; /* requester when Practitioner/PractitionerRole */
    lg_ref recipient_org;      /* Task.owner / performer: Organization, PractitionerRole, ... */
    lg_ref recipient_program;  /* Task.owner / performer when a HealthcareService */
    lg_sdoh_category *categories; /* SDOHCC categories of ServiceRequest.category */
    size_t n_categories;
    lg_code service;           /* ServiceRequest.code (first coding) */
    char *service_text;        /* ServiceRequest.code.text */
    lg_priority priority;
    lg_task_status task_status; /* meaningful when has_task */
    bool has_task;
    lg_loop_state loop;
    int64_t authored_ms;       /* ServiceRequest.authoredOn (else Task's); INT64_MIN unknown */
    lg_referral_event *timeline; /* in time order */
    size_t n_timeline, cap_timeline;
    lg_ref outcome_procedure;  /* Task.output resulting-activity valueReference */
    lg_code outcome_code;      /* ... or valueCodeableConcept */
    lg_not_served not_served;  /* why closed without service */
    char *status_reason;       /* Task.statusReason.text */
    char *business_status;     /* Task.businessStatus.text or first code, passed through */
    bool contact_prohibited;   /* orderDetail contacting-subject-prohibited */
    lg_ref consent;            /* supportingInfo that is a Consent (or one added) */
} lg_referral;

/* ---------------------------------------------------------------- child */

typedef enum lg_phm_tier {
    LG_PHM_UNKNOWN, LG_PHM_BASIC, LG_PHM_COMPLEX, LG_PHM_ENHANCED
} lg_phm_tier;
const char *lg_phm_tier_code(lg_phm_tier t); /* static; NULL for UNKNOWN */

/* ECM populations of focus for children and youth (Loopgate CodeSystem
 * ecm-population-of-focus); a child holds a bit set of them. */
typedef enum lg_ecm_population {
    LG_ECM_HOMELESSNESS, LG_ECM_AVOIDABLE_UTILIZATION, LG_ECM_SMH_SUD,
    LG_ECM_INCARCERATION, LG_ECM_CCS_WHOLE_CHILD, LG_ECM_CHILD_WELFARE,
    LG_ECM_BIRTH_EQUITY, LG_ECM_POPULATION_COUNT
} lg_ecm_population;
const char *lg_ecm_population_code(lg_ecm_population p); /* static */
int lg_ecm_population_parse(const char *code, lg_ecm_population *out);
#define LG_ECM_BIT(p) (1u << (p))

/* Contact-point systems a caregiver may be reached by (bit set). */
enum { LG_CONTACT_PHONE = 1, LG_CONTACT_FAX = 2, LG_CONTACT_EMAIL = 4, LG_CONTACT_PAGER = 8,
       LG_CONTACT_URL = 16, LG_CONTACT_SMS = 32, LG_CONTACT_OTHER = 64 };

typedef struct lg_caregiver {
    lg_ref person;        /* RelatedPerson reference */
    bool may_contact;
    bool primary;
    unsigned methods;     /* LG_CONTACT_* bits */
    char *name;           /* from the RelatedPerson, when added */
    lg_code relationship; /* from the RelatedPerson, when added */
} lg_caregiver;

typedef struct lg_language_need {
    lg_code language;     /* BCP-47 */
    char *dialect;        /* free text: the variety the family speaks */
    bool interpreter_needed;
} lg_language_need;

/* Tri-state for facts FHIR may not carry. */
typedef enum lg_tristate { LG_UNKNOWN = 0, LG_YES, LG_NO } lg_tristate;

typedef struct lg_child {
    char *id;
    char *family, *given;      /* first official (else first) name */
    char *birth_date;          /* "YYYY-MM-DD" (or coarser) as given */
    char *preferred_language;  /* Patient.communication preferred (else first) */
    lg_language_need *languages; size_t n_languages; /* interpreter-need */
    lg_code *race; size_t n_race;          /* us-core-race ombCategory */
    lg_code *race_detailed; size_t n_race_detailed;
    char *race_text;
    lg_code *ethnicity; size_t n_ethnicity; /* us-core-ethnicity ombCategory */
    lg_code *ethnicity_detailed; size_t n_ethnicity_detailed;
    char *ethnicity_text;
    char *county;              /* Address.district or county extension of the home address */
    lg_phm_tier phm_tier;
    unsigned ecm_populations;  /* LG_ECM_BIT set */
    lg_tristate former_foster_youth; /* no FHIR source yet: set by the caller */
    lg_caregiver *caregivers; size_t n_caregivers;
} lg_child;

/* Age in whole years on the day of now_ms (UTC), or -1 when the birth date
 * is missing or not at least a full date. */
int lg_child_age(const lg_child *c, int64_t now_ms);

/* ------------------------------------------------------------ care plan */

typedef struct lg_care_activity {
    lg_ref reference;   /* activity.reference: usually the referral ServiceRequest */
    lg_code code;       /* activity.detail.code when there is no reference */
    char *status;       /* activity.detail.status, or NULL */
} lg_care_activity;

typedef struct lg_care_plan {
    char *id;
    char *status;              /* CarePlan.status */
    lg_ref subject;
    lg_ref *goals; size_t n_goals;
    lg_care_activity *activities; size_t n_activities;
    lg_ref lead_care_manager;  /* CarePlan.author */
    char *review_due;          /* CarePlan.period.end as given */
    int64_t review_due_ms;     /* its start instant; INT64_MIN when absent */
    int64_t created_ms;        /* CarePlan.created; INT64_MIN when absent */
} lg_care_plan;

/* An organization (referral source, CBO) as the model needs it. */
typedef struct lg_org {
    char *id, *name;
    bool active;
    lg_code type;
} lg_org;

/* A Task for the patient or caregiver (SDOHCC TaskForPatient). */
typedef struct lg_patient_task {
    char *id;
    lg_task_status status;
    lg_code code;          /* make-contact, review-material, risk-questionnaire, ... */
    char *description;
    lg_ref child, owner, requester, focus;
    int64_t authored_ms;
} lg_patient_task;

/* ------------------------------------------------------------ lifecycle */

void lg_model_referral_free(lg_referral *r);
void lg_model_child_free(lg_child *c);
void lg_model_care_plan_free(lg_care_plan *p);
void lg_model_org_free(lg_org *o);
void lg_model_patient_task_free(lg_patient_task *t);

/* Append a transition to r's timeline (keeps time order; events with an
 * unknown time go last). by may be NULL. LG_ENOMEM or LG_OK. Also moves
 * r->task_status / r->loop to s when the event is the latest. */
lg_status lg_referral_add_event(lg_referral *r, lg_task_status s, int64_t at_ms, const char *by);

/* When the loop's milestones happened, from the timeline (ms since the
 * epoch, INT64_MIN when not yet or unknown): the first response (accepted or
 * rejected) and the closure (the first completed, rejected, cancelled or
 * failed). The closed-loop report measures them from authored_ms. */
int64_t lg_referral_first_response_ms(const lg_referral *r);
int64_t lg_referral_closed_ms(const lg_referral *r);

/* ------------------------------------------------------ FHIR -> model */

/* Patient -> child. LG_EINVAL (and issues) when the input is not a Patient
 * or an extension Loopgate defines is malformed; unknown codes in required
 * bindings are errors too. *out is set only on LG_OK (caller frees). */
lg_status lg_model_child_from_fhir(const cJSON *patient, lg_child **out, lg_issues *issues);

/* Enrich c's caregiver from a RelatedPerson (name, relationship); the
 * RelatedPerson's patient must be c. A RelatedPerson not yet listed as a
 * caregiver is added with may_contact false (the Patient's contactable-
 * caregiver extension is what grants contact). LG_EINVAL when it belongs to
 * another patient. */
lg_status lg_model_child_add_related_person(lg_child *c, const cJSON *related_person, lg_issues *issues);

/* ServiceRequest (+ optional referral Task) -> referral. The Task must be a
 * referral Task (code fulfill) whose focus is this ServiceRequest and whose
 * for is its subject; a Task status outside the referral value set is an
 * error. LG_EINVAL with issues when they disagree. *out set only on LG_OK. */
lg_status lg_model_referral_from_fhir(const cJSON *service_request, const cJSON *task,
                                      lg_referral **out, lg_issues *issues);

/* Apply a (later) version of the referral Task to r: checks it belongs to
 * r (focus, for), then updates status, timeline (at Task.lastModified, else
 * now_ms), owner, outcome, reason. LG_EINVAL on disagreement. */
lg_status lg_model_referral_apply_task(lg_referral *r, const cJSON *task, int64_t now_ms,
                                       lg_issues *issues);

/* The Procedure that served the referral: subject must be the child; when
 * it has basedOn, one must be the ServiceRequest. Sets outcome_procedure. */
lg_status lg_model_referral_add_procedure(lg_referral *r, const cJSON *procedure, lg_issues *issues);

/* The Consent that allows sharing: Consent.patient must be the child and its
 * status active. Sets r->consent. */
lg_status lg_model_referral_add_consent(lg_referral *r, const cJSON *consent, lg_issues *issues);

lg_status lg_model_care_plan_from_fhir(const cJSON *care_plan, lg_care_plan **out, lg_issues *issues);
lg_status lg_model_org_from_fhir(const cJSON *organization, lg_org **out, lg_issues *issues);
/* A TaskForPatient (a code other than fulfill; the binding is extensible; owner the Patient or a
 * RelatedPerson). Status must be in the referral Task value set. */
lg_status lg_model_patient_task_from_fhir(const cJSON *task, lg_patient_task **out, lg_issues *issues);

/* ------------------------------------------------------ model -> FHIR */

/* A copy of the Task current with status s, lastModified at now_ms, and,
 * when given, statusReason.text = reason and an output resulting-activity
 * referencing output_ref (e.g. "Procedure/12"). Caller frees *out with
 * cJSON_Delete. LG_EINVAL if current is not a Task; LG_ENOMEM. */
lg_status lg_model_task_status_update(const cJSON *current, lg_task_status s, const char *reason,
                                      const char *output_ref, int64_t now_ms, cJSON **out);

/* The referral as a ServiceRequest and (when it has a Task, or always when
 * want_task) a referral Task, in SDOHCC shape. Ids are r's ids. Caller frees
 * both with cJSON_Delete; *task may be NULL. */
lg_status lg_model_referral_to_fhir(const lg_referral *r, bool want_task, cJSON **service_request,
                                    cJSON **task);

/* ------------------------------------------------------------ workflow */

/* Whom an actor is: its client role and the references it acts for
 * ("Organization/cbo-17", "PractitionerRole/cm-3"). */
typedef enum lg_actor_role {
    LG_ROLE_NONE, LG_ROLE_REFERRAL_SOURCE, LG_ROLE_REFERRAL_RECIPIENT,
    LG_ROLE_COORDINATION, LG_ROLE_REPORTING
} lg_actor_role;

typedef struct lg_actor {
    lg_actor_role role;
    const char *const *refs; /* borrowed */
    size_t n_refs;
} lg_actor;

/* Whether actor (may be NULL: false) acts for the reference text ref,
 * compared as Type/id (lg_ref_same). */
bool lg_actor_acts_for(const lg_actor *actor, const char *ref);

/* What the REST layer does with a refused change. */
typedef enum lg_wf_result {
    LG_WF_ALLOWED = 0,
    LG_WF_INVALID,   /* a status outside the value set, a missing statusReason/output,
                        a changed focus/for/requester: 400/422 */
    LG_WF_FORBIDDEN, /* the transition exists but not for this actor: 403 */
    LG_WF_CONFLICT,  /* the state machine has no such transition: 409 */
    LG_WF_NOMEM
} lg_wf_result;

/* Who may make a transition in the SDOHCC referral state machine. */
typedef enum lg_wf_party { LG_PARTY_NOBODY = 0, LG_PARTY_REQUESTER = 1, LG_PARTY_OWNER = 2,
                           LG_PARTY_EITHER = 3 } lg_wf_party;
/* Who may move a referral Task from -> to (from == LG_TASK_STATUS_COUNT
 * means creation); LG_PARTY_NOBODY when the machine has no such edge. An
 * unchanged status is not a transition (NOBODY). */
lg_wf_party lg_workflow_party(lg_task_status from, lg_task_status to);

/* May actor replace the referral Task current (NULL: create) with proposed?
 * actor NULL is the server itself: only the state machine and the fields a
 * transition needs are checked, not who makes it. Explanations (naming the current and requested state) are appended to
 * issues. Warnings (e.g. statusReason expected for on-hold) may be appended
 * even when allowed. */
lg_wf_result lg_workflow_check(const cJSON *current, const cJSON *proposed, const lg_actor *actor,
                               lg_issues *issues);

/* Keep a referral Task consistent with its ServiceRequest: when sr is
 * revoked (the referral was cancelled) and task is still open (draft,
 * requested, accepted, in-progress, on-hold), *task_update is the Task
 * cancelled; when sr is entered-in-error, the Task (unless already so)
 * becomes entered-in-error. statusReason.text says why, lastModified is
 * now_ms. Otherwise *task_update is NULL. Caller frees it with cJSON_Delete.
 * LG_EINVAL (issue at Task.focus) when task's focus is not sr. */
lg_status lg_workflow_follow_service_request(const cJSON *sr, const cJSON *task, int64_t now_ms,
                                             cJSON **task_update, lg_issues *issues);

/* ------------------------------------------------------ business rules */

/* ECM populations of focus are for members under 21; child-welfare and
 * transitioning-from-incarceration also cover former foster youth up to 26
 * (through age 25). With former_foster_youth unknown, 21-25 in those two
 * populations is accepted with a warning. LG_EUNPROCESSABLE with an error
 * issue per broken population; LG_OK otherwise (also when the age is
 * unknown: a warning). */
lg_status lg_rule_ecm_age(const lg_child *c, int64_t now_ms, lg_issues *issues);

/* A care plan's review date must exist and be at most six calendar months
 * after now_ms (a plan of care is reviewed at least every six months). A
 * review date already past is a warning (overdue). LG_EUNPROCESSABLE. */
lg_status lg_rule_care_plan_review(const lg_care_plan *p, int64_t now_ms, lg_issues *issues);

/* A copy of patient without contact details: telecom, contact, photo,
 * address lines/city/postalCode/text (district, state, country kept for
 * reporting), the contactable-caregiver extension, and the narrative. Caller
 * frees *out with cJSON_Delete. LG_EINVAL if not a Patient; LG_ENOMEM. */
lg_status lg_rule_strip_contact(const cJSON *patient, cJSON **out);

/* Before forwarding: when r is contact-prohibited, patient (what is about to
 * leave) must carry no contact details. LG_EUNPROCESSABLE with issues naming
 * each one. */
lg_status lg_rule_forward_check(const lg_referral *r, const cJSON *patient, lg_issues *issues);

#endif
