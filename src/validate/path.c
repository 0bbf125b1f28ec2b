/* path.c - building validation locations (path.h). */
#include <stdlib.h>

#include "path.h"

size_t lg_vpath_push(char *path, size_t size, size_t *len, char sep, const char *s, int index)
{
    size_t mark = *len, cap = size - 1, n = *len;
    if(sep && n < cap)
        path[n++] = sep;
    for(; s && *s && n < cap; s++)
        path[n++] = *s;
    if(index >= 0 && n + 13 < cap) {
        char digits[12];
        int k = 0;
        unsigned u = (unsigned)index;
        do
            digits[k++] = (char)('0' + u % 10);
        while((u /= 10) && k < (int)sizeof(digits));
        path[n++] = '[';
        while(k)
            path[n++] = digits[--k];
        path[n++] = ']';
    }
    path[n] = '\0';
    *len = n;
    return mark;
}

size_t lg_vloc_grow_push(lg_vloc *l, char sep, const char *s, int index)
{
    size_t k = l->n - LG_VLOC_INLINE;
    if(k >= l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        while(ncap <= k)
            ncap *= 2; /* a copy that starts deep (a quiet probe) may skip ahead */
        lg_vseg *g = realloc(l->heap, ncap * sizeof(*g));
        if(!g) {
            l->lost = 1;
            return l->n++;
        }
        l->heap = g;
        l->cap = ncap;
    }
    l->heap[k] = (lg_vseg){.s = s, .index = index, .sep = sep};
    return l->n++;
}

size_t lg_vloc_text(const lg_vloc *l, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for(size_t i = 0; i < l->n; i++) {
        if(i >= LG_VLOC_INLINE && (l->lost || i - LG_VLOC_INLINE >= l->cap))
            break;
        const lg_vseg *g = i < LG_VLOC_INLINE ? &l->inl[i] : &l->heap[i - LG_VLOC_INLINE];
        lg_vpath_push(buf, size, &len, g->sep, g->s, g->index);
    }
    return len;
}

void lg_vloc_free(lg_vloc *l)
{
    free(l->heap);
    l->heap = NULL;
    l->cap = 0;
}
