/* json.c - bounded JSON parsing for untrusted bodies (see json.h).
 *
 * cJSON recurses once per nesting level and has no notion of string or
 * document limits, so a linear pre-scan checks depth, string length and
 * UTF-8 before cJSON sees the bytes. cJSON's global error pointer is not
 * thread-safe; return_parse_end gives the error position instead.
 *
 * Numbers: cJSON keeps only a double, so after parsing the number tokens of
 * the text are matched to the tree's numbers in order, and a token whose
 * text cJSON would not print back keeps its literal (see json.h).
 */
#include "loopgate/json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

const lg_json_limits lg_json_default_limits = {
    .max_bytes = 16u << 20,
    .max_depth = 64,
    .max_string = 1u << 20,
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void line_col(const char *buf, size_t pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for(size_t i = 0; i < pos; i++) {
        if(buf[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if(((unsigned char)buf[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

static lg_status syntax_error(const char *buf, size_t len, size_t pos, const char *what,
                              lg_issues *issues)
{
    int line, col;
    char near[32];
    size_t start = pos > 10 ? pos - 10 : 0, n = 0;
    if(pos > len)
        pos = len;
    line_col(buf, pos, &line, &col);
    for(size_t i = start; i < len && n < 20; i++) {
        unsigned char ch = (unsigned char)buf[i];
        near[n++] = ch >= 0x20 && ch < 0x7f && ch != '\'' ? (char)ch : ' ';
    }
    near[n] = '\0';
    lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                  "JSON %s at line %d, column %d near '%s'", what, line, col, near);
    return LG_EINVAL;
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if(p[0] < 0x80)
        return 1;
    size_t need;
    unsigned cp;
    if(p[0] >= 0xC2 && p[0] <= 0xDF) { need = 2; cp = p[0] & 0x1F; }
    else if(p[0] >= 0xE0 && p[0] <= 0xEF) { need = 3; cp = p[0] & 0x0F; }
    else if(p[0] >= 0xF0 && p[0] <= 0xF4) { need = 4; cp = p[0] & 0x07; }
    else return 0;
    if(need > n)
        return 0;
    for(size_t i = 1; i < need; i++) {
        if((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
       (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return need;
}

static lg_status prescan(const char *buf, size_t len, const lg_json_limits *lim,
                         lg_issues *issues)
{
    const unsigned char *p = (const unsigned char *)buf;
    int depth = 0;
    for(size_t i = 0; i < len;) {
        unsigned char ch = p[i];
        if(ch == '"') {
            size_t start = ++i;
            while(i < len && p[i] != '"') {
                if(p[i] == '\\') {
                    i += 2;
                    continue;
                }
                if(p[i] < 0x20)
                    return syntax_error(buf, len, i, "control character in string", issues);
                size_t k = utf8_seq(p + i, len - i);
                if(!k)
                    return syntax_error(buf, len, i, "invalid UTF-8", issues);
                i += k;
            }
            if(i - start > lim->max_string) {
                lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                              "JSON string of %zu bytes exceeds the limit of %zu", i - start,
                              lim->max_string);
                return LG_ETOOLARGE;
            }
            i++;
            continue;
        }
        if(ch == '{' || ch == '[') {
            if(++depth > lim->max_depth) {
                lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                              "JSON nesting deeper than %d levels", lim->max_depth);
                return LG_ETOOLARGE;
            }
        } else if(ch == '}' || ch == ']') {
            depth--;
        } else if(ch >= 0x80) {
            return syntax_error(buf, len, i, "unexpected byte outside a string", issues);
        }
        i++;
    }
    return LG_OK;
}

static lg_status check_duplicates(const cJSON *node, lg_issues *issues, int depth)
{
    for(const cJSON *a = node->child; a; a = a->next) {
        if(cJSON_IsObject(node) && a->string)
            for(const cJSON *b = a->next; b; b = b->next)
                if(b->string && strcmp(a->string, b->string) == 0) {
                    lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                                  "Duplicate JSON property '%s'", a->string);
                    return LG_EINVAL;
                }
        if(a->child) {
            lg_status st = check_duplicates(a, issues, depth + 1);
            if(st)
                return st;
        }
    }
    return LG_OK;
}

lg_status lg_json_parse(const char *buf, size_t len, const lg_json_limits *lim, cJSON **out,
                        lg_issues *issues)
{
    *out = NULL;
    if(!lim)
        lim = &lg_json_default_limits;
    if(len > lim->max_bytes) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                      "JSON document of %zu bytes exceeds the limit of %zu", len, lim->max_bytes);
        return LG_ETOOLARGE;
    }
    size_t i = 0;
    while(i < len && is_ws(buf[i]))
        i++;
    if(i == len) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "The JSON document is empty");
        return LG_EINVAL;
    }
    lg_status st = prescan(buf, len, lim, issues);
    if(st)
        return st;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if(!j)
        return syntax_error(buf, len, end ? (size_t)(end - buf) : 0, "syntax error", issues);
    /* cJSON stops after the first value; anything but whitespace after it is an error. */
    size_t pos = (size_t)(end - buf);
    while(pos < len && is_ws(buf[pos]))
        pos++;
    if(pos < len && buf[pos] != '\0') {
        cJSON_Delete(j);
        return syntax_error(buf, len, pos, "trailing content", issues);
    }
    if((st = check_duplicates(j, issues, 0))) {
        cJSON_Delete(j);
        return st;
    }
    /* -1 (walk and text disagree) already dropped every literal: the tree is
     * still the one cJSON built, numbers only lose their exact text. */
    if(lg_json_attach_literals(j, buf, (size_t)(end - buf)) == -2) {
        cJSON_Delete(j);
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "Out of memory");
        return LG_ENOMEM;
    }
    *out = j;
    return LG_OK;
}

int lg_json_insert(cJSON *container, int pos, cJSON *item)
{
    if(!container || !item || pos < 0 || item->prev || item->next)
        return -1;
    cJSON *at = container->child;
    while(at && pos-- > 0)
        at = at->next;
    if(!at) {
        /* cJSON keeps child->prev pointing at the last element. */
        if(!container->child) {
            container->child = item;
            item->prev = item;
        } else {
            cJSON *last = container->child->prev;
            last->next = item;
            item->prev = last;
            container->child->prev = item;
        }
        return 0;
    }
    item->next = at;
    item->prev = at->prev;
    if(at == container->child) {
        container->child = item; /* item->prev is the old last element */
    } else {
        at->prev->next = item;
    }
    at->prev = item;
    return 0;
}

/* ---- exact number text ---- */

/* Literals live in a number's valuestring. Checked against the installed
 * cJSON 1.7.15 (Debian 1.7.15-1+deb12u4): cJSON_Delete frees valuestring of
 * any non-reference item and cJSON_Duplicate strdups it for any type, so
 * literals need no bookkeeping of their own (the duplicate/patch tests run
 * under ASan's leak checker); cJSON_Raw items print valuestring verbatim. */
#if CJSON_VERSION_MAJOR != 1 || CJSON_VERSION_MINOR != 7
#error "number literals rely on cJSON 1.7's valuestring handling; recheck cJSON_Delete/Duplicate"
#endif

/* 1 when s[0..n) is a strict JSON number (RFC 8259 section 6). cJSON also
 * accepts forms like 01, 1. or -.5 via strtod; those are never kept as
 * literals, since writing them back would be invalid JSON. */
static int json_number_syntax(const char *s, size_t n)
{
    size_t i = 0;
    if(i < n && s[i] == '-')
        i++;
    if(i >= n || s[i] < '0' || s[i] > '9')
        return 0;
    if(s[i] == '0')
        i++;
    else
        while(i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    if(i < n && s[i] == '.') {
        i++;
        if(i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        while(i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if(i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if(i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if(i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        while(i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == n;
}

/* The double of s[0..n) as strtod reads it (cJSON uses strtod too). */
static int text_value(const char *s, size_t n, double *d)
{
    char small[64], *tmp = small;
    if(n >= sizeof small && !(tmp = malloc(n + 1)))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    *d = strtod(tmp, &end);
    int ok = end == tmp + n;
    if(tmp != small)
        free(tmp);
    return ok ? 0 : 1;
}

int lg_json_number_set_literal(cJSON *num, const char *text, size_t n)
{
    if(!cJSON_IsNumber(num) || !text || !json_number_syntax(text, n))
        return 0;
    double d;
    int r = text_value(text, n, &d);
    if(r < 0)
        return -1;
    if(r > 0 || !(d == num->valuedouble))
        return 0;
    /* What cJSON itself would write for this double: printing the item
     * alone writes only its value, never its key or siblings. */
    char printed[64];
    if(cJSON_PrintPreallocated(num, printed, sizeof printed, 0) && strlen(printed) == n &&
       memcmp(printed, text, n) == 0) {
        lg_json_number_clear(num);
        return 0;
    }
    char *lit = malloc(n + 1);
    if(!lit)
        return -1;
    memcpy(lit, text, n);
    lit[n] = '\0';
    free(num->valuestring);
    num->valuestring = lit;
    return 1;
}

const char *lg_json_number_literal(const cJSON *num)
{
    return cJSON_IsNumber(num) ? num->valuestring : NULL;
}

void lg_json_number_clear(cJSON *num)
{
    if(cJSON_IsNumber(num) && num->valuestring) {
        free(num->valuestring);
        num->valuestring = NULL;
    }
}

typedef struct lexer {
    const char *buf;
    size_t len, pos;
} lexer;

/* The next number token at or after lx->pos: strings (escapes included)
 * and the words true/false/null are skipped. A token is the run of bytes
 * cJSON's parse_number reads. Returns 0 at the end of the text. */
static int next_number(lexer *lx, const char **tok, size_t *n)
{
    const char *b = lx->buf;
    size_t i = lx->pos;
    while(i < lx->len) {
        char ch = b[i];
        if(ch == '"') {
            i++;
            while(i < lx->len && b[i] != '"')
                i += b[i] == '\\' ? 2 : 1;
            i++;
        } else if(ch == '-' || (ch >= '0' && ch <= '9')) {
            size_t start = i;
            while(i < lx->len && ((b[i] >= '0' && b[i] <= '9') || b[i] == '-' || b[i] == '+' ||
                                  b[i] == '.' || b[i] == 'e' || b[i] == 'E'))
                i++;
            *tok = b + start;
            *n = i - start;
            lx->pos = i;
            return 1;
        } else if((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
            while(i < lx->len && ((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= 'A' && b[i] <= 'Z')))
                i++;
        } else {
            i++;
        }
    }
    lx->pos = lx->len;
    return 0;
}

/* Depth-first in text order (cJSON links members and items as they
 * appear). Returns the count attached, -1 on disagreement, -2 on memory. */
static int attach_walk(cJSON *node, lexer *lx)
{
    int count = 0;
    for(; node; node = node->next) {
        if(cJSON_IsNumber(node)) {
            const char *tok;
            size_t n;
            double d;
            if(!next_number(lx, &tok, &n))
                return -1;
            int r = text_value(tok, n, &d);
            if(r < 0)
                return -2;
            if(r > 0 || !(d == node->valuedouble))
                return -1;
            if((r = lg_json_number_set_literal(node, tok, n)) < 0)
                return -2;
            count += r;
        } else if(node->child) {
            int r = attach_walk(node->child, lx);
            if(r < 0)
                return r;
            count += r;
        }
    }
    return count;
}

static void clear_all(cJSON *node)
{
    for(; node; node = node->next) {
        lg_json_number_clear(node);
        if(node->child)
            clear_all(node->child);
    }
}

int lg_json_attach_literals(cJSON *root, const char *buf, size_t len)
{
    if(!root || !buf)
        return -1;
    lexer lx = {buf, len, 0};
    /* Walk root alone, not its siblings. */
    int r;
    if(cJSON_IsNumber(root) || !root->child) {
        cJSON *next = root->next;
        root->next = NULL;
        r = attach_walk(root, &lx);
        root->next = next;
    } else {
        r = attach_walk(root->child, &lx);
    }
    const char *tok;
    size_t n;
    if(r >= 0 && next_number(&lx, &tok, &n))
        r = -1; /* numbers left in the text that the tree does not have */
    if(r < 0) {
        lg_json_number_clear(root);
        if(root->child)
            clear_all(root->child);
    }
    return r == -2 ? -2 : r;
}

static int has_literal(const cJSON *node)
{
    for(; node; node = node->next)
        if((cJSON_IsNumber(node) && node->valuestring) || (node->child && has_literal(node->child)))
            return 1;
    return 0;
}

/* Numbers with a literal become raw items, which cJSON writes verbatim. */
static void literals_to_raw(cJSON *node)
{
    for(; node; node = node->next) {
        if(cJSON_IsNumber(node) && node->valuestring)
            node->type = cJSON_Raw | (node->type & ~0xFF);
        else if(node->child)
            literals_to_raw(node->child);
    }
}

char *lg_json_print(const cJSON *j, int formatted)
{
    if(!j)
        return NULL;
    int lit = (cJSON_IsNumber(j) && j->valuestring) || (j->child && has_literal(j->child));
    if(!lit)
        return formatted ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    /* A copy, so that j stays const and may be shared; only trees that hold
     * literals pay for it. */
    cJSON *dup = cJSON_Duplicate(j, 1);
    if(!dup)
        return NULL;
    if(cJSON_IsNumber(dup))
        dup->type = cJSON_Raw;
    else
        literals_to_raw(dup->child);
    char *s = formatted ? cJSON_Print(dup) : cJSON_PrintUnformatted(dup);
    cJSON_Delete(dup);
    return s;
}
