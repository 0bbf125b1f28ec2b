/* lexical.h - internal to the validate layer: the R4 primitive regexes
 * simple enough to check with a loop instead of the regex engine. */
#ifndef LOOPGATE_VALIDATE_LEXICAL_H
#define LOOPGATE_VALIDATE_LEXICAL_H

#include <stddef.h>

#include "loopgate/defs.h"

/* 1 when s (n bytes, NUL-terminated with no NUL before: n is strlen(s))
 * matches the whole regex lex stands for, 0 when not;
 * -1 for LG_LEX_REGEX (not handled here). Byte for byte what PCRE2 gives
 * without UTF mode, where \s is tab, LF, VT, FF, CR and space
 * (tests/unit/test_validate_lexical.c compares the two). */
int lg_vlex_ok(lg_lex lex, const char *s, size_t n);

#endif
