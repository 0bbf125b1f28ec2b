/* path.c - building validation locations (path.h). */
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
