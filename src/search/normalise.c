/* normalise.c - the one string folding used by both STRING index entries and
 * STRING search values, so "José  Smith" finds "jose smith". */
#include "loopgate/search.h"

#include <stdlib.h>
#include <string.h>

/* ASCII folding of U+00C0..U+00FF (UTF-8 C3 80..C3 BF), lower case. Every
 * replacement is at most two bytes, so output never outgrows input. */
static const char *const latin1_fold[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o", "x", "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o", "/", "o", "u", "u", "u", "u", "y", "th", "y",
};

char *lg_search_normalise(const char *s)
{
    if(!s)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(n + 1), *o = out;
    int pending_space = 0;
    if(!out)
        return NULL;
    for(const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if(*p == ' ' || (*p >= '\t' && *p <= '\r')) {
            pending_space = o != out; /* leading blanks vanish */
            continue;
        }
        if(pending_space) {
            *o++ = ' ';
            pending_space = 0;
        }
        if(*p >= 'A' && *p <= 'Z') {
            *o++ = (char)(*p + ('a' - 'A'));
        } else if(*p == 0xC3 && p[1] >= 0x80 && p[1] <= 0xBF) {
            const char *f = latin1_fold[p[1] - 0x80];
            size_t fl = strlen(f);
            memcpy(o, f, fl);
            o += fl;
            p++;
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}
