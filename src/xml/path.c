/* path.c - the FHIRPath location the XML reader and writer report issues
 * at, built element by element as they walk. */
#include <string.h>

#include "internal.h"

size_t lg_xml_path_push(char *path, size_t cap, size_t *plen, const char *name, int index)
{
    /* memcpy, not printf: this runs for every element */
    size_t mark = *plen, room = cap - 1, n = *plen;
    if(n && n < room)
        path[n++] = '.';
    size_t k = name ? strlen(name) : 0;
    if(k > room - n)
        k = room - n;
    memcpy(path + n, name, k);
    n += k;
    if(index >= 0) {
        char idx[16], *q = idx + sizeof(idx);
        *--q = ']';
        do
            *--q = (char)('0' + index % 10);
        while((index /= 10) > 0);
        *--q = '[';
        size_t mk = (size_t)(idx + sizeof(idx) - q);
        if(mk > room - n)
            mk = room - n;
        memcpy(path + n, q, mk);
        n += mk;
    }
    path[n] = '\0';
    *plen = n;
    return mark;
}

void lg_xml_path_pop(char *path, size_t *plen, size_t mark)
{
    *plen = mark;
    path[mark] = '\0';
}
