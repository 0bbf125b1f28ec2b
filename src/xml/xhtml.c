/* xhtml.c - the FHIR narrative rules (R4 narrative.html, txt-1 and txt-2)
 * on a div's XHTML text, as the HL7 validator applies them.
 *
 * The div is XHTML text in both wire formats (a JSON string, or the XML
 * element the reader keeps as text), so one check serves both. Narrative is
 * shown to people by other systems; anything that can run code or fetch
 * from elsewhere (scripts, event handlers, external images, url() in
 * styles, javascript: links) is refused, not just warned about.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define MAX_REPORTED 20

/* The HL7 validator's element list (basic HTML 4 formatting, tables,
 * lists, images, links). */
static const char *const elements[] = {
    "a", "abbr", "acronym", "address", "area", "b", "bdo", "big", "blockquote", "br", "caption",
    "center", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em",
    "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "map", "ol",
    "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", NULL};

/* Attributes allowed on any element. */
static const char *const attrs[] = {
    "ID", "abbr", "accesskey", "align", "axis", "bgcolor", "border", "cellpadding", "cellspacing",
    "char", "charoff", "class", "color", "colspan", "dir", "face", "frame", "headers", "height",
    "id", "lang", "nowrap", "rowspan", "rules", "scope", "size", "span", "style", "summary",
    "tabindex", "title", "valign", "width", NULL};

/* element.attribute pairs allowed besides those. */
static const char *const pairs[] = {
    "a.href", "a.name", "a.target", "a.rel", "img.src", "img.alt", "blockquote.cite", "q.cite",
    "ol.start", "ol.type", "ol.compact", "ul.type", "ul.compact", "li.value", "li.type",
    "area.shape", "area.coords", "area.alt", "area.href", "map.name", "table.border",
    "del.cite", "ins.cite", "del.datetime", "ins.datetime", "bdo.dir", NULL};

typedef struct check {
    lg_issues *issues;
    const char *location;
    size_t errors;
    int content; /* txt-2: some text or an image */
} check;

static void bad(check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bad(check *c, const char *fmt, ...)
{
    if(c->errors++ >= MAX_REPORTED)
        return;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lg_issues_add(c->issues, LG_SEV_ERROR, "invalid", c->location, "Narrative: %s", msg);
}

static int listed(const char *const *list, const char *s)
{
    for(; *list; list++)
        if(strcmp(*list, s) == 0)
            return 1;
    return 0;
}

static int starts_ci(const char *s, const char *prefix)
{
    while(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for(; *s; s++)
        if(strncasecmp(s, needle, n) == 0)
            return 1;
    return 0;
}

/* An external reference: a scheme other than data:, or a network path. */
static int external(const char *s)
{
    while(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if(s[0] == '/' && s[1] == '/')
        return 1;
    size_t k = strcspn(s, ":/?#");
    return s[k] == ':' && !(k == 4 && strncasecmp(s, "data", 4) == 0);
}

static void check_attrs(check *c, const xmlNode *n)
{
    const char *en = (const char *)n->name;
    for(const xmlAttr *a = n->properties; a; a = a->next) {
        const char *an = (const char *)a->name;
        if(a->ns && a->ns->href && strcmp((const char *)a->ns->href,
                                          "http://www.w3.org/XML/1998/namespace") == 0 &&
           strcmp(an, "lang") == 0)
            continue; /* xml:lang */
        if(strncasecmp(an, "on", 2) == 0) {
            bad(c, "event attribute '%s' on <%s> is not allowed (txt-1)", an, en);
            continue;
        }
        char pair[128];
        snprintf(pair, sizeof(pair), "%s.%s", en, an);
        if(a->ns || (!listed(attrs, an) && !listed(pairs, pair))) {
            bad(c, "attribute '%s' is not allowed on <%s> (txt-1)", an, en);
            continue;
        }
        xmlChar *v = xmlNodeGetContent((const xmlNode *)a);
        if(!v)
            continue;
        const char *s = (const char *)v;
        if(strcmp(an, "style") == 0 && (contains_ci(s, "url(") || contains_ci(s, "expression(")))
            bad(c, "style on <%s> refers to an external resource (url())", en);
        else if(strcmp(an, "src") == 0 && external(s))
            bad(c, "<%s src> must not load from elsewhere ('%.60s'): use #id of a contained "
                   "Binary, a data: URL or a relative reference", en, s);
        else if((strcmp(an, "href") == 0 || strcmp(an, "cite") == 0) &&
                (starts_ci(s, "javascript:") || starts_ci(s, "vbscript:") ||
                 starts_ci(s, "data:text/html")))
            bad(c, "%s on <%s> may not hold script ('%.40s')", an, en, s);
        xmlFree(v);
    }
}

static void walk(check *c, const xmlNode *n, int depth)
{
    for(const xmlNode *k = n->children; k; k = k->next) {
        switch(k->type) {
        case XML_ELEMENT_NODE: {
            const char *en = (const char *)k->name;
            if(!lg_xml_in_ns(k, LG_XHTML_NS)) {
                bad(c, "<%s> is not in the XHTML namespace", en);
                break;
            }
            if(strcasecmp(en, "script") == 0) {
                bad(c, "<script> is not allowed (txt-1)");
                break;
            }
            if(!listed(elements, en)) {
                bad(c, "element <%s> is not allowed (txt-1)", en);
                break;
            }
            if(strcmp(en, "img") == 0)
                c->content = 1;
            check_attrs(c, k);
            walk(c, k, depth + 1);
            break;
        }
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if(!lg_xml_blank(k->content))
                c->content = 1;
            break;
        case XML_ENTITY_REF_NODE:
            c->content = 1;
            break;
        default:
            break;
        }
    }
}

/* ---- the fast path ----
 * Narrative is checked on every write, and a libxml2 parse (a DOM, an
 * allocation per node and attribute) cost more than the rest of the
 * structure check. Almost every div is plain XHTML, so a scanner without
 * allocation first tries to prove the div clean: well-formed, only allowed
 * elements and attributes, nothing that loads or runs, some content. It
 * never reports anything: whatever it is not sure of (a prefix, CDATA, a
 * processing instruction, an entity in a URL, any breach) sends the div to
 * the libxml2 check above, which says precisely what is wrong. Being
 * wrong the other way (accepting what libxml2 refuses) is the one thing
 * it must not do; tests and fuzz_xml compare the two. */

#define FAST_MAX_DEPTH 64
#define FAST_MAX_ATTRS 24

typedef struct scan {
    const char *p, *end;
    int content;
} scan;

static int is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* What each byte is to the scanner, so the loops that see every byte of a
 * narrative test one table entry instead of a chain of compares (the
 * narrative-heavy Bundles spend most of their validation here):
 *   C_TEXT   character data that needs no more look: printable ASCII (and
 *            DEL) other than < & ] - sets "has content"
 *   C_WS     white space (tab, LF, CR, space): character data, no content
 *   C_ATTR   fine as is inside a quoted attribute value: C_TEXT and C_WS
 *            bytes and ']' (the quote itself is checked apart)
 *   C_NAME1  may start a name (ASCII letters)
 *   C_NAME   may continue one (letters, digits, - _ .) */
enum { C_TEXT = 1, C_WS = 2, C_ATTR = 4, C_NAME1 = 8, C_NAME = 16 };
#define C_TXT (C_TEXT | C_ATTR)
#define C_SP (C_WS | C_ATTR)
#define C_LET (C_TEXT | C_ATTR | C_NAME1 | C_NAME)
#define C_DIG (C_TEXT | C_ATTR | C_NAME)
static const unsigned char cls[256] = {
    ['\t'] = C_SP, ['\n'] = C_SP, ['\r'] = C_SP, [' '] = C_SP,
    ['!'] = C_TXT, ['"'] = C_TXT, ['#'] = C_TXT, ['$'] = C_TXT, ['%'] = C_TXT,
    ['&'] = 0, ['\''] = C_TXT, ['('] = C_TXT, [')'] = C_TXT, ['*'] = C_TXT, ['+'] = C_TXT,
    [','] = C_TXT, ['-'] = C_TXT | C_NAME, ['.'] = C_TXT | C_NAME, ['/'] = C_TXT,
    ['0'] = C_DIG, ['1'] = C_DIG, ['2'] = C_DIG, ['3'] = C_DIG, ['4'] = C_DIG,
    ['5'] = C_DIG, ['6'] = C_DIG, ['7'] = C_DIG, ['8'] = C_DIG, ['9'] = C_DIG,
    [':'] = C_TXT, [';'] = C_TXT, ['<'] = 0, ['='] = C_TXT, ['>'] = C_TXT, ['?'] = C_TXT,
    ['@'] = C_TXT,
    ['A'] = C_LET, ['B'] = C_LET, ['C'] = C_LET, ['D'] = C_LET, ['E'] = C_LET, ['F'] = C_LET,
    ['G'] = C_LET, ['H'] = C_LET, ['I'] = C_LET, ['J'] = C_LET, ['K'] = C_LET, ['L'] = C_LET,
    ['M'] = C_LET, ['N'] = C_LET, ['O'] = C_LET, ['P'] = C_LET, ['Q'] = C_LET, ['R'] = C_LET,
    ['S'] = C_LET, ['T'] = C_LET, ['U'] = C_LET, ['V'] = C_LET, ['W'] = C_LET, ['X'] = C_LET,
    ['Y'] = C_LET, ['Z'] = C_LET,
    ['['] = C_TXT, ['\\'] = C_TXT, [']'] = C_ATTR, ['^'] = C_TXT, ['_'] = C_TXT | C_NAME,
    ['`'] = C_TXT,
    ['a'] = C_LET, ['b'] = C_LET, ['c'] = C_LET, ['d'] = C_LET, ['e'] = C_LET, ['f'] = C_LET,
    ['g'] = C_LET, ['h'] = C_LET, ['i'] = C_LET, ['j'] = C_LET, ['k'] = C_LET, ['l'] = C_LET,
    ['m'] = C_LET, ['n'] = C_LET, ['o'] = C_LET, ['p'] = C_LET, ['q'] = C_LET, ['r'] = C_LET,
    ['s'] = C_LET, ['t'] = C_LET, ['u'] = C_LET, ['v'] = C_LET, ['w'] = C_LET, ['x'] = C_LET,
    ['y'] = C_LET, ['z'] = C_LET,
    ['{'] = C_TXT, ['|'] = C_TXT, ['}'] = C_TXT, ['~'] = C_TXT, [0x7F] = C_TXT,
};

/* An ASCII name at s->p (no prefix); its length, or 0. */
static inline size_t scan_name(scan *s)
{
    const char *b = s->p;
    if(s->p >= s->end || !(cls[(unsigned char)*s->p] & C_NAME1))
        return 0;
    while(s->p < s->end && (cls[(unsigned char)*s->p] & C_NAME))
        s->p++;
    return (size_t)(s->p - b);
}

static int valid_char(unsigned long v)
{
    return v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) ||
           (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF);
}

/* One character at s->p: ASCII allowed in XML, or a valid UTF-8 sequence
 * of a character XML allows. 1 and past it, or 0. */
static int scan_char(scan *s)
{
    const unsigned char *p = (const unsigned char *)s->p;
    size_t left = (size_t)(s->end - s->p);
    if(p[0] < 0x80) {
        if(p[0] < 0x20 && p[0] != '\t' && p[0] != '\n' && p[0] != '\r')
            return 0;
        s->p++;
        return 1;
    }
    size_t need;
    unsigned long cp;
    if(p[0] >= 0xC2 && p[0] <= 0xDF) { need = 2; cp = p[0] & 0x1F; }
    else if(p[0] >= 0xE0 && p[0] <= 0xEF) { need = 3; cp = p[0] & 0x0F; }
    else if(p[0] >= 0xF0 && p[0] <= 0xF4) { need = 4; cp = p[0] & 0x07; }
    else return 0;
    if(need > left)
        return 0;
    for(size_t i = 1; i < need; i++) {
        if((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || !valid_char(cp))
        return 0;
    s->p += need;
    return 1;
}

/* A reference at s->p ('&'): a predefined entity or a valid character
 * reference. 1 and past it, or 0. */
static int scan_ref(scan *s)
{
    const char *p = s->p + 1;
    const char *semi = memchr(p, ';', (size_t)(s->end - p) < 12 ? (size_t)(s->end - p) : 12);
    if(!semi)
        return 0;
    size_t n = (size_t)(semi - p);
    if(n && p[0] == '#') {
        unsigned long v = 0;
        size_t i = 1;
        int hex = n > 1 && p[1] == 'x';
        if(hex)
            i = 2;
        if(i >= n)
            return 0;
        for(; i < n; i++) {
            char ch = p[i];
            int d = ch >= '0' && ch <= '9' ? ch - '0'
                  : hex && ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                  : hex && ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
            if(d < 0)
                return 0;
            v = v * (hex ? 16 : 10) + (unsigned long)d;
            if(v > 0x10FFFF)
                return 0;
        }
        if(!valid_char(v))
            return 0;
    } else if(!((n == 3 && !memcmp(p, "amp", 3)) || (n == 2 && !memcmp(p, "lt", 2)) ||
                (n == 2 && !memcmp(p, "gt", 2)) || (n == 4 && !memcmp(p, "quot", 4)) ||
                (n == 4 && !memcmp(p, "apos", 4)))) {
        return 0;
    }
    s->p = semi + 1;
    return 1;
}

/* Character data up to the next '<': no "]]>", references valid, no
 * control characters XML forbids. Sets content for non-blank text. */
static int scan_text(scan *s)
{
    while(s->p < s->end && *s->p != '<') {
        /* the common case, plain ASCII text and white space, in a tight
         * loop: content is set by any byte that is text and not space */
        const unsigned char *q = (const unsigned char *)s->p, *end = (const unsigned char *)s->end;
        unsigned k, content = 0;
        if(s->content) {
            /* content is known: eight bytes a step while all are printable
             * ASCII (space to '~') other than < & ] (exact byte tests,
             * Hacker's Delight 6-1); the loop below takes the rest */
            const uint64_t ones = ~(uint64_t)0 / 255, high = ones * 0x80;
            while(end - q >= 8) {
                uint64_t x;
                memcpy(&x, q, 8);
                uint64_t lt = (x - ones * 0x20) & ~x & high;         /* a byte < 0x20 */
                uint64_t ge = ((x + ones * (127 - 0x7E)) | x) & high; /* a byte > 0x7E */
                uint64_t a = x ^ (ones * '<'), b = x ^ (ones * '&'), c = x ^ (ones * ']');
                uint64_t eq = ((a - ones) & ~a) | ((b - ones) & ~b) | ((c - ones) & ~c);
                if(lt | ge | (eq & high))
                    break;
                q += 8;
            }
        }
        while(q < end && (k = cls[*q] & (C_TEXT | C_WS))) {
            content |= k;
            q++;
        }
        s->content |= (int)(content & C_TEXT);
        s->p = (const char *)q;
        if(q >= end || *q == '<')
            break;
        unsigned char ch = *q;
        if(ch == '&') {
            if(!scan_ref(s))
                return 0;
            s->content = 1;
            continue;
        }
        if(ch == ']' && s->end - s->p >= 3 && s->p[1] == ']' && s->p[2] == '>')
            return 0;
        if(!is_ws((char)ch))
            s->content = 1;
        if(!scan_char(s))
            return 0;
    }
    return 1;
}

/* Whether s (n name characters, never NUL) is in list, which is sorted by
 * byte value (elements and attrs above are: keep them so): a binary
 * search with the compare inline. Every tag and attribute of every
 * narrative comes through here, and a scan of the 60 elements was most of
 * the cost of a tag. Should a list ever be out of order, a name is missed
 * and the div goes to libxml2: slower, never wrong. */
static int in_list(const char *const *list, size_t count, const char *s, size_t n)
{
    size_t lo = 0, hi = count;
    while(lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const unsigned char *l = (const unsigned char *)list[mid];
        size_t i = 0;
        while(i < n && l[i] == (unsigned char)s[i])
            i++;
        /* s before l: s ends first (a prefix of l) or has the smaller byte */
        int c = i == n ? (l[n] ? -1 : 0) : (unsigned char)s[i] < l[i] ? -1 : 1;
        if(c == 0)
            return 1;
        if(c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}
#define NELEMENTS (sizeof(elements) / sizeof(*elements) - 1)
#define NATTRS (sizeof(attrs) / sizeof(*attrs) - 1)

static int has_ci(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for(size_t i = 0; i + k <= n; i++)
        if(strncasecmp(s + i, needle, k) == 0)
            return 1;
    return 0;
}

/* One start tag after its '<'; *self set for "/>". The element name is
 * (*name, *nlen). 0 when unsure. */
static int scan_start(scan *s, int root, const char **name, size_t *nlen, int *self)
{
    *name = s->p;
    if(!(*nlen = scan_name(s)) || (s->p < s->end && *s->p == ':'))
        return 0;
    if(!in_list(elements, NELEMENTS, *name, *nlen))
        return 0;
    if(*nlen == 3 && memcmp(*name, "img", 3) == 0)
        s->content = 1;
    const char *an[FAST_MAX_ATTRS];
    size_t al[FAST_MAX_ATTRS], na = 0;
    int has_xmlns = 0;
    for(;;) {
        const char *before = s->p;
        while(s->p < s->end && is_ws(*s->p))
            s->p++;
        if(s->p >= s->end)
            return 0;
        if(*s->p == '>' || (*s->p == '/' && s->p + 1 < s->end && s->p[1] == '>')) {
            *self = *s->p == '/';
            s->p += *self ? 2 : 1;
            break;
        }
        if(s->p == before)
            return 0; /* attributes must be separated by white space */
        const char *a = s->p;
        size_t n = scan_name(s);
        int xml_lang = 0;
        if(!n)
            return 0;
        if(s->p < s->end && *s->p == ':') {
            /* only xml:lang; any other prefix needs namespace resolution */
            if(!(n == 3 && memcmp(a, "xml", 3) == 0))
                return 0;
            s->p++;
            size_t m = scan_name(s);
            if(!(m == 4 && memcmp(s->p - 4, "lang", 4) == 0))
                return 0;
            n = (size_t)(s->p - a);
            xml_lang = 1;
        }
        for(size_t i = 0; i < na; i++)
            if(al[i] == n && memcmp(an[i], a, n) == 0)
                return 0; /* duplicate attribute */
        if(na == FAST_MAX_ATTRS)
            return 0;
        an[na] = a;
        al[na++] = n;
        while(s->p < s->end && is_ws(*s->p))
            s->p++;
        if(s->p >= s->end || *s->p != '=')
            return 0;
        s->p++;
        while(s->p < s->end && is_ws(*s->p))
            s->p++;
        if(s->p >= s->end || (*s->p != '"' && *s->p != '\''))
            return 0;
        char q = *s->p++;
        const char *v = s->p;
        int amp = 0;
        while(s->p < s->end && *s->p != q) {
            unsigned char ch = (unsigned char)*s->p;
            if(cls[ch] & C_ATTR) {
                s->p++; /* what scan_char would accept as it is */
                continue;
            }
            if(ch == '<')
                return 0;
            if(ch == '&') {
                if(!scan_ref(s))
                    return 0;
                amp = 1;
                continue;
            }
            if(!scan_char(s))
                return 0;
        }
        if(s->p >= s->end)
            return 0;
        size_t vl = (size_t)(s->p - v);
        s->p++;
        if(n == 5 && memcmp(a, "xmlns", 5) == 0) {
            /* only the XHTML namespace, as the default */
            if(vl != strlen(LG_XHTML_NS) || memcmp(v, LG_XHTML_NS, vl) != 0)
                return 0;
            has_xmlns = 1;
            continue;
        }
        if(xml_lang)
            continue;
        if(n >= 2 && (a[0] == 'o' || a[0] == 'O') && (a[1] == 'n' || a[1] == 'N'))
            return 0;
        if(!in_list(attrs, NATTRS, a, n)) {
            char pair[64];
            if(*nlen + 1 + n >= sizeof(pair))
                return 0;
            memcpy(pair, *name, *nlen);
            pair[*nlen] = '.';
            memcpy(pair + *nlen + 1, a, n);
            pair[*nlen + 1 + n] = '\0';
            if(!listed(pairs, pair))
                return 0;
        }
        int is_style = n == 5 && memcmp(a, "style", 5) == 0;
        int is_link = (n == 3 && memcmp(a, "src", 3) == 0) || (n == 4 && memcmp(a, "href", 4) == 0) ||
                      (n == 4 && memcmp(a, "cite", 4) == 0);
        if((is_style || is_link) && amp)
            return 0; /* a reference could hide what is checked below */
        if(is_style && (has_ci(v, vl, "url(") || has_ci(v, vl, "expression(")))
            return 0;
        if(is_link && vl && is_ws(*v))
            return 0; /* the checks below read the value's start */
        if(is_link) {
            char buf[24];
            size_t k = vl < sizeof(buf) - 1 ? vl : sizeof(buf) - 1;
            memcpy(buf, v, k);
            buf[k] = '\0';
            if(n == 3 ? external(buf) : (starts_ci(buf, "javascript:") || starts_ci(buf, "vbscript:") ||
                                         starts_ci(buf, "data:text/html")))
                return 0;
            /* src: external() looked at the first characters only */
            if(n == 3 && vl >= sizeof(buf) - 1 && memchr(v, ':', vl))
                return 0;
        }
    }
    if(root && !has_xmlns)
        return 0;
    return 1;
}

/* 1 when div is certainly clean under every rule lg_xhtml_check applies
 * (and has content, so not even the txt-2 warning applies). */
int lg_xhtml_fast_ok(const char *div, size_t len)
{
    scan s = {.p = div, .end = div + len};
    const char *stack[FAST_MAX_DEPTH];
    size_t lens[FAST_MAX_DEPTH];
    int depth = 0, done = 0;
    if(len < 5 || memcmp(div, "<div", 4) != 0)
        return 0;
    while(s.p < s.end) {
        if(*s.p != '<') {
            if(done) {
                while(s.p < s.end && is_ws(*s.p))
                    s.p++;
                if(s.p < s.end)
                    return 0;
                break;
            }
            if(!depth || !scan_text(&s))
                return 0;
            continue;
        }
        s.p++;
        if(s.p >= s.end || done)
            return 0;
        if(*s.p == '!') {
            /* a comment; CDATA and declarations go to libxml2 */
            if(s.end - s.p < 3 || s.p[1] != '-' || s.p[2] != '-')
                return 0;
            s.p += 3;
            for(;;) {
                if(s.p >= s.end)
                    return 0;
                if(*s.p == '-') {
                    if(s.end - s.p < 3 || s.p[1] != '-')
                        ; /* a single '-' */
                    else if(s.p[2] != '>')
                        return 0; /* "--" inside a comment */
                    else {
                        s.p += 3;
                        break;
                    }
                }
                if(!scan_char(&s))
                    return 0;
            }
            continue;
        }
        if(*s.p == '/') {
            s.p++;
            const char *n = s.p;
            size_t nl = scan_name(&s);
            while(s.p < s.end && is_ws(*s.p))
                s.p++;
            if(!nl || !depth || s.p >= s.end || *s.p != '>' || nl != lens[depth - 1])
                return 0;
            for(size_t i = 0; i < nl; i++) /* inline: names are short */
                if(n[i] != stack[depth - 1][i])
                    return 0;
            s.p++;
            if(--depth == 0)
                done = 1;
            continue;
        }
        const char *name;
        size_t nl;
        int self = 0;
        if(!scan_start(&s, depth == 0, &name, &nl, &self))
            return 0;
        if(depth == 0 && !(nl == 3 && memcmp(name, "div", 3) == 0))
            return 0;
        if(self) {
            if(depth == 0)
                done = 1;
            continue;
        }
        if(depth == FAST_MAX_DEPTH - 1)
            return 0;
        stack[depth] = name;
        lens[depth++] = nl;
    }
    return done && s.content;
}

lg_status lg_xhtml_check(const char *div, size_t len, const char *location, lg_issues *issues)
{
    if(lg_xhtml_fast_ok(div, len))
        return LG_OK;
    return lg_xhtml_check_parsed(div, len, location, issues);
}

lg_status lg_xhtml_check_parsed(const char *div, size_t len, const char *location,
                                lg_issues *issues)
{
    check c = {.issues = issues, .location = location};
    lg_xml_doc d;
    lg_issues tmp = {0};
    if(lg_xml_doc_parse(&d, div, len, NULL, &tmp)) {
        bad(&c, "the div is not well-formed XHTML: %s",
            tmp.count ? tmp.items[0].diagnostics : "parse error");
        lg_issues_free(&tmp);
        return LG_EINVAL;
    }
    lg_issues_free(&tmp);
    const xmlNode *root = xmlDocGetRootElement(d.doc);
    if(!lg_xml_in_ns(root, LG_XHTML_NS) || strcmp((const char *)root->name, "div") != 0) {
        bad(&c, "the narrative must be one <div> in the XHTML namespace (%s)", LG_XHTML_NS);
    } else {
        check_attrs(&c, root);
        walk(&c, root, 1);
        /* A warning, as the HL7 validator leaves it: official R4 examples
         * (Questionnaire zika-virus-exposure-assessment) have blank divs. */
        if(!c.content)
            lg_issues_add(issues, LG_SEV_WARNING, "invalid", location,
                          "Narrative: the div should have some non-whitespace content (txt-2)");
    }
    lg_xml_doc_free(&d);
    return c.errors ? LG_EINVAL : LG_OK;
}
