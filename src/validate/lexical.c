/* lexical.c - string, markdown, uri/url/canonical, code and id checked by
 * hand: a quarter of the structure check went to PCRE2 for these, the
 * commonest primitives, whose regexes are single character classes. */
#include <string.h>

#include "validate/lexical.h"

/* PCRE2's \s without UTF or UCP: tab, LF, VT, FF, CR, space */
static int is_space(unsigned char c)
{
    return c == ' ' || (c >= 9 && c <= 13);
}

int lg_vlex_ok(lg_lex lex, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    switch(lex) {
    case LG_LEX_STRING:
        /* [ \r\n\t\S]+ : anything but VT and FF (strcspn is vectorised;
         * s has no NUL before n) */
        return n > 0 && strcspn(s, "\v\f") == n;
    case LG_LEX_NOSPACE:
        /* \S* */
        return strcspn(s, " \t\n\v\f\r") == n;
    case LG_LEX_CODE:
        /* [^\s]+(\s[^\s]+)* : words separated by single spaces, none at
         * either end */
        if(n == 0 || is_space(p[0]) || is_space(p[n - 1]))
            return 0;
        for(size_t i = 1; i < n; i++)
            if(is_space(p[i]) && is_space(p[i - 1]))
                return 0;
        return 1;
    case LG_LEX_ID:
        /* [A-Za-z0-9\-\.]{1,64} */
        if(n == 0 || n > 64)
            return 0;
        for(size_t i = 0; i < n; i++) {
            unsigned char c = p[i];
            if(!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.'))
                return 0;
        }
        return 1;
    case LG_LEX_REGEX:
        break;
    }
    return -1;
}
