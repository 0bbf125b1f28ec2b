/* test_fhir_json_decimal.c - exact number text (src/fhir/json.c): parsed
 * decimals keep their literal when the double would not print it back,
 * lg_json_print writes it, token order agrees with the tree on every R4
 * example, mismatches fail closed, and copies (JSON Patch) keep it. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/json.h"
#include "lg_test.h"
#include "loopgate/patch.h"

static cJSON *parse_ok(const char *s)
{
    cJSON *j = NULL;
    lg_issues is = {0};
    lg_status st = lg_json_parse(s, strlen(s), NULL, &j, &is);
    cr_assert_eq(st, LG_OK, "%s: %s", s, is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
    return j;
}

/* Parse s and print it back with lg_json_print; the caller frees. */
static char *reprint(const char *s)
{
    cJSON *j = parse_ok(s);
    char *out = lg_json_print(j, 0);
    cr_assert_not_null(out);
    cJSON_Delete(j);
    return out;
}

Test(json_decimal, literals_survive_parse_and_print)
{
    static const char *const keep[] = {
        "1.50", "0.10", "100.000", "12345678901234567890", "1e2", "1E+2", "-0.0",
        "0.30000000000000004", "-1.250e-3", "3.0", "9007199254740993",
    };
    for(size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
        char doc[128], want[128];
        snprintf(doc, sizeof doc, "{ \"v\" : %s , \"a\": [ %s ] }", keep[i], keep[i]);
        snprintf(want, sizeof want, "{\"v\":%s,\"a\":[%s]}", keep[i], keep[i]);
        char *out = reprint(doc);
        cr_expect_str_eq(out, want);
        free(out);
        cJSON *j = parse_ok(doc);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
        cr_expect(cJSON_IsNumber(v), "%s stays a number", keep[i]);
        cr_expect_str_eq(lg_json_number_literal(v), keep[i]);
        cr_expect_eq(v->valuedouble, strtod(keep[i], NULL), "%s keeps its value", keep[i]);
        cJSON_Delete(j);
    }
}

Test(json_decimal, plain_numbers_get_no_literal)
{
    static const char *const plain[] = {"1.5", "100", "0.1", "-3", "0", "-0", "2147483648",
                                        "1.2345678901234567e+19"};
    for(size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        char doc[64];
        snprintf(doc, sizeof doc, "[%s]", plain[i]);
        cJSON *j = parse_ok(doc);
        cr_expect_null(lg_json_number_literal(j->child), "%s needs no literal", plain[i]);
        char *a = lg_json_print(j, 0), *b = cJSON_PrintUnformatted(j);
        cr_expect_str_eq(a, b);
        cr_expect_str_eq(a, doc);
        free(a);
        free(b);
        cJSON_Delete(j);
    }
}

Test(json_decimal, strings_and_words_do_not_shift_tokens)
{
    /* digits, quotes, backslashes and e's inside strings and keys, and the
     * words true/false/null, must not be taken for number tokens */
    const char *doc = "{\"1.0\":\"2.50 \\\" 3.0 \\\\\",\"e1\":[true,false,null,1.50,"
                      "{\"k\\\"9\":\"\\u0031.0\",\"d\":2.0},-0.50e1],\"z\":0.10}";
    char *out = reprint(doc);
    /* cJSON decodes \u0031 to 1; everything else comes back verbatim */
    cr_expect_str_eq(out, "{\"1.0\":\"2.50 \\\" 3.0 \\\\\",\"e1\":[true,false,null,1.50,"
                          "{\"k\\\"9\":\"1.0\",\"d\":2.0},-0.50e1],\"z\":0.10}");
    free(out);
}

Test(json_decimal, formatted_print_writes_literals)
{
    cJSON *j = parse_ok("{\"a\":{\"b\":[1.50,2]}}");
    char *f = lg_json_print(j, 1);
    cr_assert_not_null(f);
    cr_expect_not_null(strstr(f, "1.50"), "%s", f);
    /* same layout as cJSON_Print apart from the literal */
    char *plain = cJSON_Print(j);
    char *at = strstr(plain, "1.5");
    cr_assert_not_null(at);
    cr_expect_eq(strlen(f), strlen(plain) + 1);
    cr_expect_eq(strncmp(f, plain, (size_t)(at - plain) + 3), 0);
    cr_expect_str_eq(f + (at - plain) + 4, at + 3);
    free(plain);
    free(f);
    cJSON_Delete(j);
}

Test(json_decimal, mismatched_text_fails_closed)
{
    /* the tree of one text, the tokens of another: values disagree */
    cJSON *j = cJSON_Parse("[1.50,2.0]");
    const char *other = "[2.0,1.50]";
    cr_expect_eq(lg_json_attach_literals(j, other, strlen(other)), -1);
    cr_expect_null(lg_json_number_literal(j->child));
    cr_expect_null(lg_json_number_literal(j->child->next));
    char *s = lg_json_print(j, 0);
    cr_expect_str_eq(s, "[1.5,2]");
    free(s);
    /* a right text first attaches, then a text with one number more drops
     * everything rather than keep a possibly wrong literal */
    const char *right = "[1.50,2.0]", *longer = "[1.50,2.0,3]", *shorter = "[1.50]";
    cr_expect_eq(lg_json_attach_literals(j, right, strlen(right)), 2);
    cr_expect_str_eq(lg_json_number_literal(j->child), "1.50");
    cr_expect_eq(lg_json_attach_literals(j, longer, strlen(longer)), -1);
    cr_expect_null(lg_json_number_literal(j->child));
    cr_expect_null(lg_json_number_literal(j->child->next));
    cr_expect_eq(lg_json_attach_literals(j, shorter, strlen(shorter)), -1);
    cr_expect_null(lg_json_number_literal(j->child));
    cJSON_Delete(j);
}

Test(json_decimal, set_literal_checks_syntax_and_value)
{
    cJSON *n = cJSON_CreateNumber(1.5);
    cr_expect_eq(lg_json_number_set_literal(n, "1.50", 4), 1);
    cr_expect_str_eq(lg_json_number_literal(n), "1.50");
    /* not JSON number syntax (cJSON's strtod accepts these), wrong value,
     * or already what cJSON prints: no literal */
    cr_expect_eq(lg_json_number_set_literal(n, "+1.5", 4), 0);
    cr_expect_eq(lg_json_number_set_literal(n, "01.5", 4), 0);
    cr_expect_eq(lg_json_number_set_literal(n, "1.5.", 4), 0);
    cr_expect_eq(lg_json_number_set_literal(n, "1.60", 4), 0);
    cr_expect_str_eq(lg_json_number_literal(n), "1.50", "invalid text leaves the literal");
    cr_expect_eq(lg_json_number_set_literal(n, "1.5", 3), 0);
    cr_expect_null(lg_json_number_literal(n));
    lg_json_number_set_literal(n, "1.50", 4);
    lg_json_number_clear(n);
    cr_expect_null(lg_json_number_literal(n));
    cJSON_Delete(n);
    cJSON *s = cJSON_CreateString("1.50");
    cr_expect_eq(lg_json_number_set_literal(s, "1.50", 4), 0, "only numbers take literals");
    cr_expect_null(lg_json_number_literal(s));
    cJSON_Delete(s);
}

Test(json_decimal, lenient_cjson_forms_print_as_valid_json)
{
    /* cJSON reads 01 via strtod; writing "01" back would be invalid JSON */
    cJSON *j = NULL;
    lg_issues is = {0};
    if(lg_json_parse("[01, 1.50]", 10, NULL, &j, &is) == LG_OK) {
        char *s = lg_json_print(j, 0);
        cr_expect_str_eq(s, "[1,1.50]");
        free(s);
    }
    cJSON_Delete(j);
    lg_issues_free(&is);
}

Test(json_decimal, duplicate_and_patch_copy_keep_the_literal)
{
    cJSON *doc = parse_ok("{\"resourceType\":\"Observation\",\"valueQuantity\":{\"value\":1.50},"
                          "\"component\":[{}]}");
    cJSON *dup = cJSON_Duplicate(doc, 1);
    char *a = lg_json_print(dup, 0);
    cr_expect_not_null(strstr(a, "\"value\":1.50"), "%s", a);
    free(a);
    cJSON_Delete(dup);
    cJSON *ops = parse_ok("[{\"op\":\"copy\",\"from\":\"/valueQuantity\","
                          "\"path\":\"/component/0/valueQuantity\"},"
                          "{\"op\":\"add\",\"path\":\"/component/0/valueInteger\",\"value\":1e1},"
                          "{\"op\":\"test\",\"path\":\"/valueQuantity/value\",\"value\":1.5}]");
    cJSON *out = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_json_patch(doc, ops, &out, &is), LG_OK, "%s",
                 is.count ? is.items[0].diagnostics : "");
    char *s = lg_json_print(out, 0);
    cr_expect_str_eq(s, "{\"resourceType\":\"Observation\",\"valueQuantity\":{\"value\":1.50},"
                        "\"component\":[{\"valueQuantity\":{\"value\":1.50},\"valueInteger\":1e1}]}");
    free(s);
    cJSON_Delete(out);
    cJSON_Delete(ops);
    cJSON_Delete(doc);
    lg_issues_free(&is);
}

/* Numbers of a tree; each literal must read back as the double it sits on. */
static void count_numbers(const cJSON *node, int *nums, int *lits, const char *name)
{
    for(; node; node = node->next) {
        if(cJSON_IsNumber(node)) {
            (*nums)++;
            const char *lit = lg_json_number_literal(node);
            if(lit) {
                (*lits)++;
                cr_expect_eq(strtod(lit, NULL), node->valuedouble, "%s: %s", name, lit);
            }
        }
        count_numbers(node->child, nums, lits, name);
    }
}

Test(json_decimal, every_r4_example_agrees_and_prints_as_before, .timeout = 300)
{
    const char *dir = LG_SHARED_DIR "/fhir/r4-examples";
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh, "%s", dir);
    int files = 0, numbers = 0, literals = 0, identical = 0;
    lg_json_limits lim = lg_json_default_limits;
    lim.max_bytes = 256u << 20;
    struct dirent *de;
    while((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if(nl < 6 || strcmp(de->d_name + nl - 5, ".json"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len = 0;
        char *text = lg_test_read_text(path, &len);
        cr_assert_not_null(text, "%s", path);
        /* the walk and the token order agree: attaching to a fresh tree
         * never reports a mismatch */
        cJSON *raw = cJSON_ParseWithLength(text, len);
        if(raw)
            cr_expect_geq(lg_json_attach_literals(raw, text, len), 0, "%s", de->d_name);
        cJSON_Delete(raw);
        cJSON *j = NULL;
        lg_issues is = {0};
        if(lg_json_parse(text, len, &lim, &j, &is) != LG_OK) {
            lg_issues_free(&is);
            free(text);
            continue;
        }
        files++;
        int n = 0, l = 0;
        count_numbers(j, &n, &l, de->d_name);
        numbers += n;
        literals += l;
        char *mine = lg_json_print(j, 0), *theirs = cJSON_PrintUnformatted(j);
        cr_assert(mine && theirs);
        if(!l) {
            cr_expect_str_eq(mine, theirs, "%s prints as before", de->d_name);
            identical++;
        }
        /* re-parse: same values, and the same exact text again */
        cJSON *again = NULL;
        cr_expect_eq(lg_json_parse(mine, strlen(mine), &lim, &again, &is), LG_OK, "%s",
                     de->d_name);
        cr_expect(cJSON_Compare(j, again, 1), "%s re-parses equal", de->d_name);
        char *twice = lg_json_print(again, 0);
        cr_expect_str_eq(twice, mine, "%s prints stably", de->d_name);
        free(twice);
        cJSON_Delete(again);
        free(mine);
        free(theirs);
        cJSON_Delete(j);
        lg_issues_free(&is);
        free(text);
    }
    closedir(dh);
    fprintf(stderr, "json decimal: %d R4 examples, %d numbers, %d kept literals, %d byte-identical\n",
            files, numbers, literals, identical);
    cr_expect_gt(files, 150);
    cr_expect_gt(numbers, 100);
}

/* ---- random documents: input with random whitespace, expected compact
 * text; numbers from a pool of kept literals and plain forms, strings full
 * of digits, e's, quotes and backslashes. ---- */

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

typedef struct twin {
    char in[8192], out[8192];
    size_t ni, no;
} twin;

static void put(twin *t, const char *s, int ws)
{
    size_t n = strlen(s);
    cr_assert_lt(t->ni + n + 2, sizeof t->in);
    cr_assert_lt(t->no + n + 1, sizeof t->out);
    if(ws && rnd(3) == 0)
        t->in[t->ni++] = rnd(2) ? ' ' : '\n';
    memcpy(t->in + t->ni, s, n);
    memcpy(t->out + t->no, s, n);
    t->ni += n;
    t->no += n;
    t->in[t->ni] = t->out[t->no] = '\0';
}

static void gen(twin *t, int depth, int *key)
{
    static const char *const nums[] = {"1.50", "1.5", "0.10", "100", "100.000", "-0.0", "1e2",
                                       "-7", "12345678901234567890", "2.5E-3", "0", "3.0"};
    static const char *const strs[] = {"\"1.0\"", "\"e\\\"2.50\"", "\"\\\\\"", "\"true 1\"",
                                       "\"-3e\\\\\\\"\"", "\"\""};
    unsigned kind = depth > 3 ? rnd(4) : rnd(6);
    if(kind == 0 || kind == 1) {
        put(t, nums[rnd(sizeof nums / sizeof *nums)], 1);
    } else if(kind == 2) {
        put(t, strs[rnd(sizeof strs / sizeof *strs)], 1);
    } else if(kind == 3) {
        static const char *const words[] = {"true", "false", "null"};
        put(t, words[rnd(3)], 1);
    } else {
        int obj = kind == 4;
        put(t, obj ? "{" : "[", 1);
        unsigned n = rnd(4);
        for(unsigned i = 0; i < n; i++) {
            if(i)
                put(t, ",", 1);
            if(obj) {
                char k[32];
                snprintf(k, sizeof k, "\"%d.5e\"", (*key)++); /* unique, number-like */
                put(t, k, 1);
                put(t, ":", 1);
            }
            gen(t, depth + 1, key);
        }
        put(t, obj ? "}" : "]", 1);
    }
}

Test(json_decimal, random_documents_print_back_exactly)
{
    for(int round = 0; round < 2000; round++) {
        twin t = {.ni = 0};
        int key = 0;
        put(&t, "[", 0);
        gen(&t, 0, &key);
        put(&t, "]", 0);
        cJSON *j = parse_ok(t.in);
        char *s = lg_json_print(j, 0);
        cr_assert_str_eq(s, t.out, "round %d from %s", round, t.in);
        free(s);
        cJSON_Delete(j);
    }
}
