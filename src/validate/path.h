/* path.h - the FHIRPath location a validation walk is at ("Patient.name[0]
 * .given[1]"), built in a fixed buffer without printf because it changes
 * for every value. Private to src/validate/. */
#ifndef LG_VALIDATE_PATH_H
#define LG_VALIDATE_PATH_H

#include <stddef.h>

/* Append sep (0 for none), then s (may be NULL), then "[index]" when
 * index >= 0 to path (size bytes, *len used); truncates at the end of the
 * buffer and keeps it NUL-terminated. Returns the length to restore with
 * lg_vpath_pop. */
size_t lg_vpath_push(char *path, size_t size, size_t *len, char sep, const char *s, int index);

static inline void lg_vpath_pop(char *path, size_t *len, size_t mark)
{
    *len = mark;
    path[mark] = '\0';
}

/* The same location kept as its steps, so that walking a value costs a
 * few stores and the text is written only when an issue is reported
 * (most values have none). The first LG_VLOC_INLINE steps live in the
 * struct; deeper ones on the heap (lg_vloc_free). The text is the same as
 * lg_vpath_push would have built step by step. */
#define LG_VLOC_INLINE 48

typedef struct lg_vseg {
    const char *s; /* borrowed: lives as long as the walk (resource or definitions) */
    int index;
    char sep;
} lg_vseg;

typedef struct lg_vloc {
    lg_vseg inl[LG_VLOC_INLINE];
    lg_vseg *heap; /* steps LG_VLOC_INLINE.. (owned) */
    size_t n, cap; /* steps; heap capacity */
    int lost;      /* a step could not be kept (no memory): the text stops there */
} lg_vloc;

/* Add a step: sep (0 for none), s (may be NULL), "[index]" when index >= 0.
 * Returns the mark to restore with lg_vloc_pop. */
size_t lg_vloc_grow_push(lg_vloc *l, char sep, const char *s, int index);

static inline size_t lg_vloc_push(lg_vloc *l, char sep, const char *s, int index)
{
    if(l->n >= LG_VLOC_INLINE)
        return lg_vloc_grow_push(l, sep, s, index);
    l->inl[l->n] = (lg_vseg){.s = s, .index = index, .sep = sep};
    return l->n++;
}

static inline void lg_vloc_pop(lg_vloc *l, size_t mark)
{
    l->n = mark;
}

/* Write l into buf (size bytes, truncated as lg_vpath_push truncates);
 * returns the length. */
size_t lg_vloc_text(const lg_vloc *l, char *buf, size_t size);
void lg_vloc_free(lg_vloc *l);

#endif
