/* structure.h - internal to the defs layer: building the element tables
 * (lg_type_def) from parsed StructureDefinition bundles. */
#ifndef LOOPGATE_DEFS_STRUCTURE_H
#define LOOPGATE_DEFS_STRUCTURE_H

#include <cjson/cJSON.h>

#include "loopgate/defs.h"

/* Compile every specialisation StructureDefinition in the bundles (R4
 * profiles-types.json, profiles-resources.json) into d->structs. The bundles
 * stay the caller's. On error d->structs is left empty. */
lg_status lg_structs_build(lg_defs *d, const cJSON *const *bundles, size_t nbundles,
                           lg_issues *issues);
void lg_structs_free(lg_defs *d);

#endif
