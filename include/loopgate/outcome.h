/* outcome.h - OperationOutcome resources built from lg_issues. */
#ifndef LOOPGATE_OUTCOME_H
#define LOOPGATE_OUTCOME_H

#include "loopgate/buf.h"
#include "loopgate/status.h"

/* Append an OperationOutcome JSON object for issues to b. If issues is empty
 * a single issue (severity from fallback_sev, code fallback_code, text
 * fallback_text) is written, because an OperationOutcome needs at least one. */
lg_status lg_outcome_write(lg_buf *b, const lg_issues *issues, lg_severity fallback_sev,
                           const char *fallback_code, const char *fallback_text);

/* "error", "warning", ... (static) */
const char *lg_severity_str(lg_severity s);

#endif
