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
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define MAX_REPORTED 20

/* The HL7 validator's element list (basic HTML 4 formatting, tables,
 * lists, images, links). */
static const char *const elements[] = {
    "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
    "small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr",
    "address", "bdo", "kbd", "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table",
    "caption", "colgroup", "col", "thead", "tr", "tfoot", "tbody", "th", "td", "code", "samp",
    "img", "map", "area", "s", "u", "strike", "font", "center", "ins", "del", NULL};

/* Attributes allowed on any element. */
static const char *const attrs[] = {
    "title", "style", "class", "id", "ID", "lang", "dir", "accesskey", "tabindex", "span", "width",
    "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope", "rowspan", "colspan",
    "bgcolor", "height", "nowrap", "border", "cellpadding", "cellspacing", "summary", "rules",
    "frame", "color", "size", "face", NULL};

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

lg_status lg_xhtml_check(const char *div, size_t len, const char *location, lg_issues *issues)
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
