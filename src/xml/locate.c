/* locate.c - line and column, in FHIR XML text, of the element an issue's
 * FHIRPath location names ("Patient.name[0].given[1]").
 *
 * Validation runs on the JSON tree, which has no positions; like the JSON
 * path (src/fhir/locate.c) positions are found afterwards, only for the
 * issues there are, by walking the re-parsed document along the location.
 * Nested resources continue their container's path
 * ("Bundle.entry[0].resource.status"), so a step that names no child of a
 * <resource>-like element is looked for inside the resource it wraps.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The idx-th element child of n named name (FHIR namespace, or XHTML for
 * the div), or NULL. */
static const xmlNode *child(const xmlNode *n, const char *name, size_t nlen, long idx)
{
    for(const xmlNode *c = n->children; c; c = c->next) {
        if(c->type != XML_ELEMENT_NODE)
            continue;
        if(strlen((const char *)c->name) == nlen && strncmp((const char *)c->name, name, nlen) == 0 &&
           idx-- == 0)
            return c;
    }
    return NULL;
}

/* The only element child of n, when it is a resource (capitalised name). */
static const xmlNode *wrapped_resource(const xmlNode *n)
{
    const xmlNode *found = NULL;
    for(const xmlNode *c = n->children; c; c = c->next) {
        if(c->type != XML_ELEMENT_NODE)
            continue;
        if(found)
            return NULL;
        found = c;
    }
    return found && found->name[0] >= 'A' && found->name[0] <= 'Z' ? found : NULL;
}

/* Walk location from the root; *found set to 1 when every step matched. */
static const xmlNode *walk(const xmlNode *root, const char *loc, int *found)
{
    const xmlNode *n = root;
    *found = 0;
    const char *p = loc;
    size_t first = strcspn(p, ".[");
    if(strlen((const char *)root->name) != first || strncmp((const char *)root->name, p, first) != 0)
        return root;
    p += first;
    while(*p) {
        if(*p != '.')
            return n;
        p++;
        size_t k = strcspn(p, ".[(");
        if(p[k] == '(')
            return n; /* a function step (extension('url')): stop at the ancestor */
        long idx = 0;
        const char *q = p + k;
        if(*q == '[') {
            char *end;
            idx = strtol(q + 1, &end, 10);
            if(*end != ']' || idx < 0)
                return n;
            q = end + 1;
        }
        const xmlNode *c = child(n, p, k, idx);
        if(!c) {
            const xmlNode *r = wrapped_resource(n);
            if(r && !(c = child(r, p, k, idx)))
                return r;
        }
        if(!c)
            return n;
        n = c;
        p = q;
    }
    *found = 1;
    return n;
}

static void position(const lg_xml_doc *d, const xmlNode *n, int *line, int *col)
{
    size_t off = lg_xml_node_offset(n);
    if(off != (size_t)-1) {
        lg_xml_line_col(d->text, d->len, off, line, col);
    } else {
        *line = (int)xmlGetLineNo(n);
        *col = 0;
    }
}

int lg_xml_locate(const char *text, size_t len, const char *location, int *line, int *col)
{
    lg_xml_doc d;
    lg_issues tmp = {0};
    lg_status st = lg_xml_doc_parse(&d, text, len, NULL, &tmp);
    lg_issues_free(&tmp);
    if(st)
        return -1;
    int found = 0;
    const xmlNode *n = walk(xmlDocGetRootElement(d.doc), location ? location : "", &found);
    position(&d, n, line, col);
    lg_xml_doc_free(&d);
    return found;
}

void lg_xml_issues_locate(lg_issues *issues, size_t from, const char *text, size_t len)
{
    int need = 0;
    for(size_t i = from; i < issues->count; i++)
        if(issues->items[i].location && !issues->items[i].line)
            need = 1;
    if(!need)
        return;
    lg_xml_doc d;
    lg_issues tmp = {0};
    lg_status st = lg_xml_doc_parse(&d, text, len, NULL, &tmp);
    lg_issues_free(&tmp);
    if(st)
        return;
    const xmlNode *root = xmlDocGetRootElement(d.doc);
    for(size_t i = from; i < issues->count; i++) {
        lg_issue *it = &issues->items[i];
        if(!it->location || it->line)
            continue;
        int found;
        const xmlNode *n = walk(root, it->location, &found);
        position(&d, n, &it->line, &it->col);
    }
    lg_xml_doc_free(&d);
}
