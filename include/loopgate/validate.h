/* validate.h - checking a FHIR resource (a parsed JSON tree) against the
 * definitions loaded in an lg_defs.
 *
 * This is the base-specification check every write passes through: element
 * names, JSON shapes, arrays vs single values, choice types, primitive
 * extensions, primitive formats, and min/max cardinality, at every level
 * including contained and Bundle entry resources. Profile rules (slicing,
 * fixed/pattern values, bindings, invariants) build on it.
 */
#ifndef LOOPGATE_VALIDATE_H
#define LOOPGATE_VALIDATE_H

#include <cjson/cJSON.h>

#include "loopgate/defs.h"
#include "loopgate/status.h"

/* At most this many issues are reported for one resource; the rest are
 * summarised in one last issue, so a hostile body cannot grow the reply. */
#define LG_VALIDATE_MAX_ISSUES 100

/* Validate res against the base R4 definitions. Issues (with FHIRPath
 * locations such as "Patient.name[0].given[1]") are appended to issues.
 * Returns LG_OK when no issue is an error, LG_EINVAL when one is, LG_ENOMEM
 * when the check could not finish. */
lg_status lg_validate_resource(const lg_defs *defs, const cJSON *res, lg_issues *issues);

#endif
