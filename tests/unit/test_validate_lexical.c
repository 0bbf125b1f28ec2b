/* test_validate_lexical.c - the primitives checked without the regex
 * engine (src/validate/lexical.c) give exactly what the spec regex, as
 * loaded from the R4 definitions and compiled by PCRE2, gives: on edge
 * cases and on a few hundred thousand random strings over an alphabet of
 * every kind of space, control and high bytes.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <criterion/criterion.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "lg_test.h"
#include "validate/lexical.h"

static lg_defs *D;

static void load(void)
{
    lg_issues is = {0};
    cr_assert_eq(lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &D, &is), LG_OK);
    lg_issues_free(&is);
}

static void unload(void)
{
    lg_defs_free(D);
}

TestSuite(lexical, .init = load, .fini = unload, .timeout = 300);

static int pcre_ok(const lg_type_def *t, const char *s, size_t n, pcre2_match_data *md)
{
    int rc = pcre2_match(t->regex, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    cr_assert(rc >= 0 || rc == PCRE2_ERROR_NOMATCH, "regex engine error %d", rc);
    return rc >= 0;
}

static const char *const names[] = {"string", "markdown", "uri", "url", "canonical", "code", "id"};

Test(lexical, the_simple_regexes_are_recognised)
{
    static const lg_lex want[] = {LG_LEX_STRING,  LG_LEX_STRING,  LG_LEX_NOSPACE, LG_LEX_NOSPACE,
                                  LG_LEX_NOSPACE, LG_LEX_CODE,    LG_LEX_ID};
    for(size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        const lg_type_def *t = lg_defs_struct(D, names[i]);
        cr_assert_not_null(t);
        cr_expect_eq(t->lex, want[i], "%s is checked natively", names[i]);
        cr_assert_not_null(t->regex, "%s keeps its regex", names[i]);
    }
    /* the others stay with the regex engine */
    cr_expect_eq(lg_defs_struct(D, "dateTime")->lex, LG_LEX_REGEX);
    cr_expect_eq(lg_defs_struct(D, "oid")->lex, LG_LEX_REGEX);
    cr_expect_eq(lg_vlex_ok(LG_LEX_REGEX, "x", 1), -1);
}

Test(lexical, agrees_with_pcre2)
{
    static const char alphabet[] = {' ', '\t', '\n', '\v', '\f', '\r', 'a', 'Z', '0', '9', '-',
                                    '.', '_', '#', '/', ':', (char)0x80, (char)0xa0, (char)0xc3,
                                    (char)0xff, (char)0x85, 1, 0x1f, 0x7f};
    static const char *const edges[] = {"", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\vb",
                                        "a\fb", "\r\n", "x\n", "http://x.org/a b",
                                        "0123456789012345678901234567890123456789012345678901234567890123",
                                        "01234567890123456789012345678901234567890123456789012345678901234",
                                        "A-b.c", "a_b", "\xc3\xa9", "\v", "\f"};
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    cr_assert_not_null(md);
    srand(12345);
    long checked = 0, matched = 0;
    for(size_t k = 0; k < sizeof(names) / sizeof(*names); k++) {
        const lg_type_def *t = lg_defs_struct(D, names[k]);
        for(size_t e = 0; e < sizeof(edges) / sizeof(*edges); e++) {
            size_t n = strlen(edges[e]);
            cr_expect_eq(lg_vlex_ok(t->lex, edges[e], n), pcre_ok(t, edges[e], n, md),
                         "%s on \"%s\"", names[k], edges[e]);
        }
        char buf[80];
        for(int r = 0; r < 40000; r++) {
            size_t n = (size_t)(rand() % 70);
            /* mostly letters, so that long valid strings come up too */
            for(size_t i = 0; i < n; i++)
                buf[i] = rand() % 4 ? "abcXYZ019-."[rand() % 11]
                                    : alphabet[(size_t)rand() % sizeof(alphabet)];
            buf[n] = '\0';
            int want = pcre_ok(t, buf, n, md);
            int got = lg_vlex_ok(t->lex, buf, n);
            checked++;
            matched += want;
            if(got != want) {
                cr_expect_eq(got, want, "%s differs on a %zu-byte string", names[k], n);
                break;
            }
        }
    }
    pcre2_match_data_free(md);
    cr_expect_gt(matched, checked / 10, "valid strings are among those tried (%ld of %ld)",
                 matched, checked);
    cr_expect_lt(matched, checked - checked / 10, "and invalid ones");
}
