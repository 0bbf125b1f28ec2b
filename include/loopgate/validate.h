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

/* The full check: the base structure (lg_validate_resource), then res
 * against every profile that applies, each walked from its compiled
 * snapshot (profile.h):
 *   - each canonical in res.meta.profile (one that is not loaded is a
 *     warning at "Type.meta.profile[i]"; "|version" is ignored),
 *   - the nprofiles canonicals in profiles (may be NULL when 0; an unknown
 *     one is an error: the caller asked for it),
 *   - the profiles lg_defs_require_profile set for res's type;
 *   - when none of these applies, the base definition of the type, so its
 *     invariants are still checked.
 * Profile rules: cardinality (where tighter than the base), fixed[x] and
 * pattern[x], slicing (value, pattern, type, profile, exists
 * discriminators; closed/open/openAtEnd; slice cardinality), extensions
 * against their own definitions when loaded, reference targets against
 * targetProfile (relative references, "#id" contained, Bundle entries by
 * fullUrl; a contained or Bundle target is also checked against a
 * constraint target profile), invariants (constraint, FHIRPath; error or
 * warning as declared; memberOf() through the terminology), and bindings
 * when the defs have a terminology (lg_defs_load_terminology): required
 * -> error, extensible -> warning, a ValueSet that cannot be decided ->
 * information "not checked". A slice that only terminology or resolution
 * could recognise and cannot be decided is information, never an error.
 * Issues carry FHIRPath locations ("ServiceRequest.category[1]"; a choice
 * element is named by its JSON key, "Observation.valueQuantity", as in
 * lg_validate_resource) and messages naming the profile and slice.
 * Returns LG_OK when no issue is an error; LG_EINVAL when the base structure
 * check failed (the profile walk is then skipped); LG_EUNPROCESSABLE when
 * only profile rules failed; LG_ENOMEM when the check could not finish.
 * Thread-safe: defs is only read. */
lg_status lg_validate_full(const lg_defs *defs, const cJSON *res, const char *const *profiles,
                           size_t nprofiles, lg_issues *issues);

/* One profile only (no base structure check, no meta.profile): for tools
 * and tests. Same results as lg_validate_full. */
lg_status lg_validate_profile(const lg_defs *defs, const cJSON *res, const char *url,
                              lg_issues *issues);

#endif
