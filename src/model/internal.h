/* internal.h - helpers shared by the model's source files (not public). */
#ifndef LOOPGATE_MODEL_INTERNAL_H
#define LOOPGATE_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "loopgate/model.h"

/* At most this many items in any list the model copies out of a resource
 * (categories, caregivers, goals, ...): the JSON limits bound the tree, this
 * bounds what one resource can make the model allocate. */
#define LG_MODEL_MAX_LIST 256

/* strdup that records failure in *oom; NULL in gives NULL out. Caller frees. */
char *lg_model_strdup(const char *s, bool *oom);
/* "YYYY-MM-DD..." -> y, m, d; -1 when s is not at least a full date. */
int lg_model_date_ymd(const char *s, int *y, int *m, int *d);
/* UTC calendar day of ms since the epoch. */
void lg_model_ms_ymd(int64_t ms, int *y, int *m, int *d);
int lg_model_phm_parse(const char *code, lg_phm_tier *out);

/* JSON accessors: NULL when absent or of another JSON type. */
const char *lg_mj_str(const cJSON *o, const char *key);
/* The start instant of a FHIR date/dateTime string, INT64_MIN if absent or bad. */
int64_t lg_mj_time(const cJSON *o, const char *key);
/* Copy the Reference at o[key] (absent gives an empty ref). LG_ENOMEM/LG_OK. */
lg_status lg_mj_ref(lg_ref *r, const cJSON *o, const char *key);
/* First Coding of CodeableConcept cc whose system is system (any when NULL). */
const cJSON *lg_mj_coding(const cJSON *cc, const char *system);
/* Copy a Coding into c (zeroed first). */
lg_status lg_mj_code(lg_code *c, const cJSON *coding);
/* Whether CodeableConcept cc has a Coding (system, code); system NULL = any. */
bool lg_mj_has_code(const cJSON *cc, const char *system, const char *code);

#endif
