/* shortcut.h - internal to the validate layer: deciding some R4
 * invariants (lg_pshortcut) from one look at the focus, without FHIRPath. */
#ifndef LOOPGATE_VALIDATE_SHORTCUT_H
#define LOOPGATE_VALIDATE_SHORTCUT_H

#include <cjson/cJSON.h>

#include "loopgate/profile.h"

/* 1 when the invariant kind, evaluated on focus, is known to give true or
 * empty without error (nothing to report); 0 when the FHIRPath must be
 * evaluated (which may still pass). Never 1 for LG_PSC_NONE.
 * tests/unit/test_validate_shortcut.c checks over the whole corpus that
 * every 1 agrees with the FHIRPath result. */
int lg_vshortcut_passes(lg_pshortcut kind, const cJSON *focus);

#endif
