/* parse.c - the one place Loopgate hands bytes to libxml2.
 *
 * Untrusted XML is dangerous in ways JSON is not: external entities read
 * local files or the network (XXE), nested entity definitions expand a few
 * hundred bytes into gigabytes (billion laughs), and an external DTD is a
 * fetch. FHIR XML never needs a DTD, so the parser is wrapped so that the
 * first sign of one (the internal or external subset callback) stops the
 * parse; XML_PARSE_NOENT, DTDLOAD and HUGE stay off and NONET is on in case
 * a future libxml2 reaches a fetch some other way. Element start and end
 * callbacks are wrapped too, to bound depth and attribute size while
 * parsing (not after the tree is built) and to keep each element's source
 * offset, which libxml2's tree does not (it keeps only the line).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/SAX2.h>
#include <libxml/parserInternals.h>

#include "internal.h"

int lg_xml_in_ns(const xmlNode *n, const char *ns)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0;
}

int lg_xml_blank(const xmlChar *s)
{
    for(; s && *s; s++)
        if(*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

void lg_xml_line_col(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    if(off > len)
        off = len;
    for(size_t i = 0; i < off; i++) {
        if(text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if(((unsigned char)text[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

size_t lg_xml_node_offset(const xmlNode *n)
{
    uintptr_t v = n ? (uintptr_t)n->_private : 0;
    return v ? (size_t)(v - 1) : (size_t)-1;
}

size_t lg_xml_div_end(const lg_xml_doc *d, const xmlNode *n)
{
    for(size_t i = 0; i < d->nends; i++)
        if(d->ends[i].node == n)
            return d->ends[i].end;
    return (size_t)-1;
}

void lg_xml_issue_at(lg_issues *issues, const lg_xml_doc *d, const xmlNode *n)
{
    if(!issues->count)
        return;
    lg_issue *it = &issues->items[issues->count - 1];
    size_t off = lg_xml_node_offset(n);
    if(off != (size_t)-1) {
        lg_xml_line_col(d->text, d->len, off, &it->line, &it->col);
    } else if(n) {
        it->line = (int)xmlGetLineNo(n);
        it->col = 0;
    }
}

static void refuse(xmlParserCtxtPtr ctxt, lg_xml_doc *d, int why)
{
    if(!d->refused) {
        d->refused = why;
        long at = xmlByteConsumed(ctxt);
        d->refused_at = at > 0 ? (size_t)at : 0;
    }
    xmlStopParser(ctxt);
}

static void on_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id, const xmlChar *sys_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    refuse(ctxt, ctxt->_private, 1);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
    xmlParserCtxtPtr ctxt = ctx;
    refuse(ctxt, ctxt->_private, 1);
}

/* Source offset of the '<' of the start tag the parser is inside: the
 * cursor sits at its '>' when startElementNs runs, and '<' cannot occur in
 * attribute values, so the last '<' before it is the tag's. */
static size_t tag_start(const lg_xml_doc *d, xmlParserCtxtPtr ctxt)
{
    long at = xmlByteConsumed(ctxt);
    if(at < 0)
        return (size_t)-1;
    size_t i = (size_t)at < d->len ? (size_t)at : d->len;
    while(i > 0 && d->text[i - 1] != '<')
        i--;
    return i > 0 ? i - 1 : (size_t)-1;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                     int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ctx;
    lg_xml_doc *d = ctxt->_private;
    if(ctxt->nodeNr >= d->max_depth) {
        refuse(ctxt, d, 2);
        return;
    }
    for(int i = 0; i < nb_attributes; i++) {
        const xmlChar *v = attributes[i * 5 + 3], *end = attributes[i * 5 + 4];
        if((size_t)(end - v) > d->max_string) {
            refuse(ctxt, d, 3);
            return;
        }
    }
    size_t off = tag_start(d, ctxt);
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
    xmlNodePtr n = ctxt->node;
    if(n && n->type == XML_ELEMENT_NODE && off != (size_t)-1)
        n->_private = (void *)(uintptr_t)(off + 1);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = ctx;
    lg_xml_doc *d = ctxt->_private;
    xmlNodePtr n = ctxt->node;
    /* Only the narrative div needs its end: its exact text is kept. */
    if(n && uri && strcmp((const char *)localname, "div") == 0 &&
       strcmp((const char *)uri, LG_XHTML_NS) == 0 && !lg_xml_in_ns(n->parent, LG_XHTML_NS)) {
        long at = xmlByteConsumed(ctxt);
        if(at > 0) {
            if(d->nends == d->capends) {
                size_t cap = d->capends ? d->capends * 2 : 8;
                lg_xml_end *p = realloc(d->ends, cap * sizeof(*p));
                if(!p) {
                    refuse(ctxt, d, 4);
                    return;
                }
                d->ends = p;
                d->capends = cap;
            }
            d->ends[d->nends].node = n;
            d->ends[d->nends++].end = (size_t)at;
        }
    }
    xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

void lg_xml_doc_free(lg_xml_doc *d)
{
    if(d->doc)
        xmlFreeDoc(d->doc);
    free(d->ends);
    d->doc = NULL;
    d->ends = NULL;
    d->nends = d->capends = 0;
}

lg_status lg_xml_doc_parse(lg_xml_doc *d, const char *text, size_t len,
                           const lg_json_limits *lim, lg_issues *issues)
{
    memset(d, 0, sizeof(*d));
    if(!lim)
        lim = &lg_json_default_limits;
    d->text = text;
    d->len = len;
    d->max_depth = lim->max_depth;
    d->max_string = lim->max_string;
    if(len > lim->max_bytes) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                      "XML document of %zu bytes exceeds the limit of %zu", len, lim->max_bytes);
        return LG_ETOOLARGE;
    }
    if(len == 0 || len > INT32_MAX) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "The XML document is empty");
        return LG_EINVAL;
    }
    /* libxml2's global set-up is not safe to race: do it once, whichever
     * worker thread parses first. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, xmlInitParser);
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if(!ctxt)
        return LG_ENOMEM;
    ctxt->_private = d;
    ctxt->sax->internalSubset = on_subset;
    ctxt->sax->externalSubset = on_subset;
    ctxt->sax->entityDecl = on_entity_decl;
    ctxt->sax->startElementNs = on_start;
    ctxt->sax->endElementNs = on_end;
    /* No NOENT (entities are not substituted), no DTDLOAD, no HUGE. */
    int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, text, (int)len, NULL, NULL, opts);
    lg_status st = LG_OK;
    int line = 0, col = 0;
    if(d->refused) {
        lg_xml_line_col(text, len, d->refused_at, &line, &col);
        switch(d->refused) {
        case 1:
            lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                          "XML with a DOCTYPE or entity declaration is refused (FHIR XML never "
                          "needs one) at line %d, column %d", line, col);
            st = LG_EINVAL;
            break;
        case 2:
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                          "XML elements nested deeper than %d levels", d->max_depth);
            st = LG_ETOOLARGE;
            break;
        case 3:
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                          "XML attribute value longer than the limit of %zu bytes", d->max_string);
            st = LG_ETOOLARGE;
            break;
        default:
            st = LG_ENOMEM;
            break;
        }
    } else if(!doc || !ctxt->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        char msg[256] = "not well-formed";
        if(e && e->message) {
            size_t n = strlen(e->message);
            while(n && (e->message[n - 1] == '\n' || e->message[n - 1] == ' '))
                n--;
            if(n >= sizeof(msg))
                n = sizeof(msg) - 1;
            memcpy(msg, e->message, n);
            msg[n] = '\0';
        }
        line = e ? e->line : 0;
        col = e ? e->int2 : 0;
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                      "XML is not well-formed at line %d, column %d: %s", line, col, msg);
        st = LG_EINVAL;
    } else if(!xmlDocGetRootElement(doc)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "The XML document has no element");
        st = LG_EINVAL;
    }
    if(st && issues->count && line > 0) {
        issues->items[issues->count - 1].line = line;
        issues->items[issues->count - 1].col = col;
    }
    xmlFreeParserCtxt(ctxt);
    if(st) {
        if(doc)
            xmlFreeDoc(doc);
        lg_xml_doc_free(d);
        return st;
    }
    d->doc = doc;
    return LG_OK;
}

int lg_xml_media_type(const char *ct)
{
    if(!ct)
        return 0;
    while(*ct == ' ')
        ct++;
    size_t n = strcspn(ct, ";");
    while(n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    static const char *const types[] = {"application/fhir+xml", "application/xml", "text/xml",
                                        "application/xml+fhir"};
    for(size_t i = 0; i < sizeof(types) / sizeof(*types); i++)
        if(n == strlen(types[i]) && strncasecmp(ct, types[i], n) == 0)
            return 1;
    return 0;
}
