/* patch.h - JSON Patch (RFC 6902) applied to a FHIR resource tree. */
#ifndef LOOPGATE_PATCH_H
#define LOOPGATE_PATCH_H

#include "loopgate/status.h"

typedef struct cJSON cJSON;

/* Apply the operations of patch (a JSON array of RFC 6902 operations: add,
 * remove, replace, move, copy, test) to doc, all or nothing. On LG_OK *out is
 * a new tree owned by the caller (cJSON_Delete); doc is never modified.
 * Errors: a malformed patch document or a path that does not exist is
 * LG_EINVAL (issue code "invalid", location "Patch[i]" naming the
 * operation); a failed "test" is LG_EUNPROCESSABLE (code "processing").
 * JSON Pointer escapes (~0, ~1) and the "-" array index are supported. */
lg_status lg_json_patch(const cJSON *doc, const cJSON *patch, cJSON **out,
                        lg_issues *issues);

#endif
