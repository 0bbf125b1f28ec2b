/* Unit tests for the FHIRPath parser (src/fhirpath/parse.c): syntax errors
 * name their exact position, limits hold, and valid grammar compiles. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/fhirpath.h"

/* Compile src, expect a syntax error, return the offset the issue names. */
static long error_offset(const char *src, char *diag, size_t n)
{
    lg_fhirpath *e = (lg_fhirpath *)0x1;
    lg_issues is = {0};
    cr_assert_eq(lg_fhirpath_compile(src, &e, &is), LG_EINVAL, "'%s' compiled", src);
    cr_assert_null(e, "output set on failure");
    cr_assert_eq(is.count, 1);
    cr_assert_eq(is.items[0].severity, LG_SEV_ERROR);
    const char *at = strstr(is.items[0].diagnostics, "at offset ");
    cr_assert_not_null(at, "%s", is.items[0].diagnostics);
    long off = strtol(at + 10, NULL, 10);
    if(diag)
        snprintf(diag, n, "%s", is.items[0].diagnostics);
    lg_issues_free(&is);
    return off;
}

Test(fhirpath_parse, syntax_errors_name_their_offset)
{
    static const struct { const char *src; long off; } cases[] = {
        {"Patient.", 8},                 /* nothing after the dot */
        {"Patient..name", 8},
        {"1 +", 3},
        {"(1", 2},
        {"Patient.name.where(", 19},
        {"f(1,)", 4},
        {"'unterminated", 0},
        {"a ! b", 2},
        {"{1}", 1},
        {"x is", 4},
        {"Patient.name #", 13},
        {"2 + 2 /* not finished", 6},
        {"1 2", 2},
        {"@2026-13-01", 0},              /* month 13 */
        {"@2026-02-30", 0},
        {"@T25:00", 0},
        {"", 0},
        {"name.where(x = 'a') and", 23},
    };
    for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char diag[512];
        long off = error_offset(cases[i].src, diag, sizeof(diag));
        cr_expect_eq(off, cases[i].off, "'%s': %s", cases[i].src, diag);
    }
}

Test(fhirpath_parse, errors_give_line_and_column_and_a_short_excerpt)
{
    char diag[512];
    long off = error_offset("Patient.name\n  .given\n  .where(", diag, sizeof(diag));
    cr_expect_eq(off, 31);
    cr_expect_not_null(strstr(diag, "line 3, column 10"), "%s", diag);
    /* a long expression is not copied whole into the issue */
    size_t n = 10000;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n - 1] = '+';
    big[n] = '\0';
    error_offset(big, diag, sizeof(diag));
    cr_expect_lt(strlen(diag), 200, "%s", diag);
    free(big);
}

Test(fhirpath_parse, limits_are_enforced)
{
    lg_fhirpath *e = NULL;
    lg_issues is = {0};
    /* longer than 64 KiB */
    size_t n = 64 * 1024 + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '1';
    big[n] = '\0';
    cr_expect_eq(lg_fhirpath_compile(big, &e, &is), LG_EINVAL);
    cr_expect_eq(lg_issues_errors(&is), 1);
    lg_issues_free(&is);
    big[64 * 1024] = '\0'; /* exactly 64 KiB: accepted */
    cr_expect_eq(lg_fhirpath_compile(big, &e, &is), LG_OK);
    lg_fhirpath_free(e);
    free(big);
    /* nesting: 150 parentheses compile, 5000 do not (and do not overflow) */
    char deep[10100];
    size_t k = 0;
    for(int i = 0; i < 150; i++) deep[k++] = '(';
    deep[k++] = '1';
    for(int i = 0; i < 150; i++) deep[k++] = ')';
    deep[k] = '\0';
    cr_expect_eq(lg_fhirpath_compile(deep, &e, &is), LG_OK);
    lg_fhirpath_free(e);
    k = 0;
    for(int i = 0; i < 5000; i++) deep[k++] = '(';
    deep[k] = '\0';
    cr_expect_eq(lg_fhirpath_compile(deep, &e, &is), LG_EINVAL);
    lg_issues_free(&is);
    /* so do long chains of unary minus and of function calls */
    k = 0;
    for(int i = 0; i < 5000; i++) deep[k++] = '-';
    deep[k++] = '1';
    deep[k] = '\0';
    cr_expect_eq(lg_fhirpath_compile(deep, &e, &is), LG_EINVAL);
    lg_issues_free(&is);
    k = 0;
    for(int i = 0; i < 3000; i++) { memcpy(deep + k, "f(", 2); k += 2; }
    deep[k] = '\0';
    cr_expect_eq(lg_fhirpath_compile(deep, &e, &is), LG_EINVAL);
    lg_issues_free(&is);
    /* a long chain is not nesting, but its tree is deep: 500 links are
     * fine (and evaluate), 2000 are refused at compile time */
    k = 0;
    deep[k++] = 'a';
    for(int i = 0; i < 500; i++) { memcpy(deep + k, ".b", 2); k += 2; }
    deep[k] = '\0';
    cr_expect_eq(lg_fhirpath_compile(deep, &e, &is), LG_OK);
    lg_fp_collection c = {0};
    cr_expect_eq(lg_fhirpath_eval(e, NULL, &c, &is), LG_OK);
    cr_expect_eq(c.count, 0);
    lg_fhirpath_free(e);
    k = 1;
    for(int i = 0; i < 2000; i++) { memcpy(deep + k, "+1", 2); k += 2; }
    deep[k] = '\0';
    deep[0] = '1';
    cr_expect_eq(lg_fhirpath_compile(deep, &e, &is), LG_EINVAL);
    lg_issues_free(&is);
    cr_expect_eq(lg_fhirpath_compile(NULL, &e, &is), LG_EINVAL);
    lg_issues_free(&is);
}

Test(fhirpath_parse, valid_grammar_compiles)
{
    static const char *ok[] = {
        "Patient.name.where(use = 'official').family",
        "Observation.value as Quantity",
        "(Observation.value as Quantity).value",
        "Observation.value.as(Quantity)",
        "Patient.deceased is FHIR.boolean",
        "x is System.String",
        "Task.for.where(resolve() is Patient)",
        "Patient.name | Practitioner.name",
        "a implies b or c xor d and e",
        "1 in (1 | 2) and (1 | 2) contains 1",
        "-1.abs() + -(2) * 3 div 4 mod 5 - 6 / 7 & 'x'",
        "@2026-11-24 + 1 day < today()",
        "@2026-11-24T10:00:00.123+01:00 ~ @2026T",
        "@T10:00 != @T10:00:00",
        "4 'mg' = 4 'mg' and 1 year > 6 months",
        "`div`.`name with space`",
        "'esc\\'aped \\u00e9 \\n'.length()",
        "$this.a[0].b[$index]",
        "%resource.id = %context.id and %ucum.exists() and %`vs-administrative-gender`.exists()",
        "{}.empty()",
        "// comment\n1 /* block */ + 1",
        "name.select(given.first() & ' ' & family)",
        "descendants().ofType(Reference).where(reference.startsWith('#'))",
        "iif(true, 1, 2).aggregate($this + $total, 0)",
    };
    for(size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        lg_fhirpath *e = NULL;
        lg_issues is = {0};
        cr_expect_eq(lg_fhirpath_compile(ok[i], &e, &is), LG_OK, "%s: %s", ok[i],
                     is.count ? is.items[0].diagnostics : "");
        if(e)
            cr_expect_str_eq(lg_fhirpath_source(e), ok[i]);
        lg_fhirpath_free(e);
        lg_issues_free(&is);
    }
    lg_fhirpath_free(NULL);
}
