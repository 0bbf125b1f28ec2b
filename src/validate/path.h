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

#endif
