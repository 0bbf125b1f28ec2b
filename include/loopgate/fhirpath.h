/* fhirpath.h - FHIRPath (http://hl7.org/fhirpath/N1/) over cJSON trees.
 * Owned by the fhirpath module; see its implementation for details. */
#ifndef LOOPGATE_FHIRPATH_H
#define LOOPGATE_FHIRPATH_H
#endif
