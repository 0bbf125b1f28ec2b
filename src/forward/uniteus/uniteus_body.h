/* uniteus_body.h - the JSON bodies the uniteus adapter sends
 * (docs/forwarding.md, Style A). Private to src/forward/uniteus/. */
#ifndef LG_FORWARD_UNITEUS_BODY_H
#define LG_FORWARD_UNITEUS_BODY_H

#include "forward/adapter.h"

/* The create body of job (POST /v1/referrals) into *body, a NUL-terminated
 * string the caller frees. LG_EINVAL (issues) without task id, target or
 * referral; LG_ENOMEM. */
lg_status lg_uu_create_body(const lg_fwd_job *job, char **body, lg_issues *issues);
/* The cancel body ({"reason": ...}; {} without a reason). Caller frees. */
lg_status lg_uu_cancel_body(const lg_fwd_job *job, char **body, lg_issues *issues);

#endif
