/* json.c - bounded JSON parsing for untrusted bodies (see json.h).
 *
 * cJSON recurses once per nesting level and has no notion of string or
 * document limits, so a linear pre-scan checks depth, string length and
 * UTF-8 before cJSON sees the bytes. cJSON's global error pointer is not
 * thread-safe; return_parse_end gives the error position instead.
 */
#include "loopgate/json.h"

#include <cjson/cJSON.h>
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
