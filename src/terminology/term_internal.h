/* term_internal.h - the terminology layer's private tables.
 *
 * Every string the layer keeps (urls, codes, property names and values,
 * reasons) is interned once in one table and referred to by a 32-bit id, so
 * a ValueSet member is two ids and a membership probe hashes two integers.
 * The intern entry of a url also says which CodeSystem / ValueSet has that
 * url, which makes url lookups one hash probe too. Everything here is
 * written only before lg_terminology_seal returns; afterwards it is read-only,
 * which is what makes checks thread-safe without locks.
 */
#ifndef LG_TERM_INTERNAL_H
#define LG_TERM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/terminology.h"

typedef struct cJSON cJSON;

#define TM_NONE UINT32_MAX

/* --- interned strings --------------------------------------------------- */
typedef struct tm_str {
    char *s;        /* owned, NUL-terminated */
    uint32_t len;
    uint32_t hash;
    int32_t cs;     /* index of the CodeSystem with this url, or -1 */
    int32_t vs;     /* index of the last added ValueSet with this url, or -1 */
} tm_str;

typedef struct tm_intern {
    tm_str *v;
    uint32_t n, cap;
    uint32_t *slots; /* open addressing: 0 empty, else id + 1 */
    uint32_t nslots; /* power of two */
} tm_intern;

/* The id of s[0..len), adding it if new; TM_NONE when out of memory. */
uint32_t tm_intern_get(tm_intern *in, const char *s, size_t len);
/* The id of s[0..len) or TM_NONE if it was never interned. Read-only. */
uint32_t tm_intern_find(const tm_intern *in, const char *s, size_t len);
void tm_intern_free(tm_intern *in);

/* --- membership sets ---------------------------------------------------- */
enum { TM_M_IN = 1, TM_M_MAYBE = 2, TM_M_ABSTRACT = 4 };

typedef struct tm_member {
    uint32_t sys, code; /* sys == TM_NONE marks an empty slot */
    uint32_t flags;     /* TM_M_IN or TM_M_MAYBE (maybe excluded), | TM_M_ABSTRACT */
} tm_member;

/* A set of (system, code) with the parts that could not be decided: open
 * systems (any code of them may or may not be in) and open_any (an unknown
 * import: any code of any system may be in). */
typedef struct tm_open {
    uint32_t sys;
    const char *why; /* t-owned or static */
} tm_open;

typedef struct tm_set {
    tm_member *slots;
    uint32_t nslots, count; /* nslots a power of two or 0 */
    tm_open *open;
    uint32_t nopen, capopen;
    uint32_t *systems; /* distinct systems of members; filled by tm_set_finish */
    uint32_t nsys;
    int open_any;
    int overflow;      /* more than LG_TERM_MAX_CODES were added */
    const char *why;   /* t-owned reason for the first undecided part, or NULL */
} tm_set;

/* 0 or -1 (out of memory). Adding beyond LG_TERM_MAX_CODES sets overflow and
 * returns 0 without adding. An existing member keeps IN over MAYBE. */
int tm_set_add(tm_set *s, uint32_t sys, uint32_t code, uint32_t flags);
const tm_member *tm_set_find(const tm_set *s, uint32_t sys, uint32_t code);
int tm_set_is_open(const tm_set *s, uint32_t sys);
/* Why sys is undecided in s (its own reason, else the set's), NULL if it is not. */
const char *tm_set_open_why(const tm_set *s, uint32_t sys);
int tm_set_open_sys(tm_set *s, uint32_t sys, const char *why);
int tm_set_open_all(tm_set *s, const char *why);
/* dst |= src */
int tm_set_union(tm_set *dst, const tm_set *src);
/* *out = a & b (out zero-initialised by the caller) */
int tm_set_intersect(const tm_set *a, const tm_set *b, tm_set *out);
/* dst -= src */
int tm_set_subtract(tm_set *dst, const tm_set *src);
/* Shrink nothing, but record the distinct systems for bare-code lookups. */
int tm_set_finish(tm_set *s);
void tm_set_free(tm_set *s);
size_t tm_set_bytes(const tm_set *s);

/* --- CodeSystems -------------------------------------------------------- */
typedef struct tm_prop {
    uint32_t code, value; /* interned property code and value text */
} tm_prop;

typedef struct tm_concept {
    uint32_t code;  /* interned; lower-cased when the system is case-insensitive */
    uint32_t *kids, nkids, capkids;       /* concept indices */
    uint32_t *parents, nparents, capparents;
    tm_prop *props;
    uint32_t nprops, capprops;
    int abstract;   /* notSelectable / abstract = true */
} tm_concept;

enum { TM_CONTENT_COMPLETE, TM_CONTENT_PARTIAL, TM_CONTENT_NONE };

typedef struct tm_cs {
    uint32_t url;
    uint32_t valueset;  /* CodeSystem.valueSet (interned) or TM_NONE */
    int content;        /* TM_CONTENT_* */
    int case_insensitive;
    tm_concept *c;
    uint32_t n, cap;
    uint32_t *slots;    /* code id -> concept index + 1; 0 empty */
    uint32_t nslots;
} tm_cs;

/* Concept index of interned code in cs, or TM_NONE. */
uint32_t tm_cs_find(const tm_cs *cs, uint32_t code);

/* --- ValueSets ---------------------------------------------------------- */
enum { TM_VS_NEW, TM_VS_EXPANDING, TM_VS_DONE };

typedef struct tm_vs {
    uint32_t url;
    char *version;      /* owned, or NULL */
    cJSON *compose;     /* owned copies, dropped by seal */
    cJSON *expansion;
    int32_t prev;       /* earlier ValueSet with the same url, or -1 */
    int32_t synth_cs;   /* >= 0: synthesised "all codes" of this CodeSystem */
    int state;
    tm_set set;
} tm_vs;

struct lg_terminology {
    tm_intern in;
    tm_cs *cs;
    uint32_t ncs, capcs;
    tm_vs *vs;
    uint32_t nvs, capvs;
    size_t synthesised;
    int sealed;
};

/* A t-owned, interned copy of a printf-formatted reason; a static fallback
 * when out of memory. */
const char *tm_note(lg_terminology *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lower-case ASCII copy of s into buf (size cap); returns length, or
 * (size_t)-1 when it does not fit. */
size_t tm_lower(const char *s, char *buf, size_t cap);

/* The ValueSet for canonical[0..len) with optional |version; -1 if none. */
int32_t tm_find_vs(const lg_terminology *t, const char *canonical);

#endif
