/* read.c - FHIR XML to the JSON tree (R4 xml.html -> json.html).
 *
 * The libxml2 tree is walked beside the compiled element tables, so every
 * element's JSON shape (array or not, primitive kind, choice name, nested
 * resource) comes from the definitions. Each problem is reported with the
 * FHIRPath location being built and the element's line and column, and the
 * walk goes on so a client sees all of them at once (up to a cap).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "internal.h"

#define PATH_LEN 512
#define MAX_REPORTED 100
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"

typedef struct conv {
    const lg_defs *d;
    const lg_xml_doc *doc;
    const lg_type_def *element, *extension, *xhtml;
    lg_issues *issues;
    size_t errors;
    int nomem;
    char path[PATH_LEN];
    size_t plen;
} conv;

static void report(conv *cv, const xmlNode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(conv *cv, const xmlNode *at, const char *fmt, ...)
{
    if(cv->errors++ >= MAX_REPORTED)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    size_t off = lg_xml_node_offset(at);
    if(off != (size_t)-1)
        lg_xml_line_col(cv->doc->text, cv->doc->len, off, &line, &col);
    else if(at)
        line = (int)xmlGetLineNo(at);
    if(line > 0)
        lg_issues_add(cv->issues, LG_SEV_ERROR, "structure", cv->plen ? cv->path : NULL,
                      "%s (line %d, column %d)", msg, line, col);
    else
        lg_issues_add(cv->issues, LG_SEV_ERROR, "structure", cv->plen ? cv->path : NULL, "%s",
                      msg);
    if(cv->issues->count) {
        cv->issues->items[cv->issues->count - 1].line = line;
        cv->issues->items[cv->issues->count - 1].col = col;
    }
}

/* The location steps (path.c). */
static size_t push(conv *cv, const char *name, int index)
{
    return lg_xml_path_push(cv->path, sizeof(cv->path), &cv->plen, name, index);
}

static void pop(conv *cv, size_t mark)
{
    lg_xml_path_pop(cv->path, &cv->plen, mark);
}

static cJSON *convert_resource(conv *cv, xmlNode *n);
static void fill_object(conv *cv, const lg_type_def *t, xmlNode *n, cJSON *obj, int is_resource);

/* FHIR decimal/integer lexical forms (R4 datatypes.html). */
static int decimal_syntax(const char *s, int integer)
{
    const char *p = s;
    if(*p == '-' || (integer && *p == '+'))
        p++;
    if(!(*p >= '0' && *p <= '9'))
        return 0;
    if(*p == '0' && p[1] >= '0' && p[1] <= '9' && !integer)
        return 0;
    while(*p >= '0' && *p <= '9')
        p++;
    if(integer)
        return *p == '\0';
    if(*p == '.') {
        p++;
        if(!(*p >= '0' && *p <= '9'))
            return 0;
        while(*p >= '0' && *p <= '9')
            p++;
    }
    if(*p == 'e' || *p == 'E') {
        p++;
        if(*p == '+' || *p == '-')
            p++;
        if(!(*p >= '0' && *p <= '9'))
            return 0;
        while(*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* The typed JSON value of a primitive's value attribute, or NULL (reported). */
static cJSON *primitive_value(conv *cv, const lg_type_def *t, const xmlNode *n, const char *v)
{
    switch(t->json) {
    case LG_JSON_KIND_BOOL:
        if(strcmp(v, "true") == 0)
            return cJSON_CreateTrue();
        if(strcmp(v, "false") == 0)
            return cJSON_CreateFalse();
        report(cv, n, "'%.40s' is not a valid boolean (true or false)", v);
        return NULL;
    case LG_JSON_KIND_INTEGER:
    case LG_JSON_KIND_DECIMAL: {
        int integer = t->json == LG_JSON_KIND_INTEGER;
        if(!decimal_syntax(v, integer)) {
            report(cv, n, "'%.40s' is not a valid %s", v, t->name);
            return NULL;
        }
        errno = 0;
        double dv = strtod(v, NULL);
        if(!isfinite(dv)) {
            report(cv, n, "'%.40s' is out of range for %s", v, t->name);
            return NULL;
        }
        cJSON *num = cJSON_CreateNumber(dv);
        /* Keep the exact text (1.50, 1e2) when the double would not print it
         * back; forms JSON does not allow (+1) stay plain numbers. */
        if(num && lg_json_number_set_literal(num, v, strlen(v)) < 0) {
            cJSON_Delete(num);
            return NULL;
        }
        return num;
    }
    case LG_JSON_KIND_STRING:
        break;
    }
    return cJSON_CreateString(v);
}

/* Attribute a's value: borrowed from the tree when it is one text node
 * (*own NULL), else a copy in *own (xmlFree it). NULL without memory. */
static const char *attr_value(const xmlAttr *a, xmlChar **own)
{
    *own = NULL;
    const xmlNode *t = a->children;
    if(!t)
        return "";
    if(t->type == XML_TEXT_NODE && !t->next && t->content)
        return (const char *)t->content;
    *own = xmlNodeGetContent((const xmlNode *)a);
    return (const char *)*own;
}

static int add_item(conv *cv, cJSON *obj, const char *key, int many, cJSON *v, const xmlNode *at)
{
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, key);
    if(many) {
        if(!cur && !(cur = cJSON_AddArrayToObject(obj, key))) {
            cJSON_Delete(v);
            cv->nomem = 1;
            return -1;
        }
        cJSON_AddItemToArray(cur, v);
        return 0;
    }
    if(cur) {
        report(cv, at, "'%s' holds at most one value but appears more than once", key);
        cJSON_Delete(v);
        return -1;
    }
    cJSON_AddItemToObject(obj, key, v);
    return 0;
}

/* A primitive element: value attribute, id attribute, extension children.
 * *v and *ext receive the JSON value and the `_name` object (or NULL). */
static void convert_primitive(conv *cv, const lg_type_def *t, xmlNode *n, cJSON **v, cJSON **ext)
{
    *v = *ext = NULL;
    for(xmlAttr *a = n->properties; a; a = a->next) {
        const char *an = (const char *)a->name;
        if(a->ns) {
            if(!a->ns->href || strcmp((const char *)a->ns->href, XSI_NS) != 0)
                report(cv, n, "Attribute '%s' in namespace '%s' is not allowed", an,
                       a->ns->href ? (const char *)a->ns->href : "");
            continue;
        }
        int is_value = strcmp(an, "value") == 0, is_id = strcmp(an, "id") == 0;
        if(!is_value && !is_id) {
            report(cv, n, "Attribute '%s' is not allowed on a %s element (only value and id)", an,
                   t->name);
            continue;
        }
        xmlChar *own;
        const char *val = attr_value(a, &own);
        if(!val) {
            cv->nomem = 1;
            return;
        }
        if(is_value) {
            *v = primitive_value(cv, t, n, val);
        } else {
            if(!*ext)
                *ext = cJSON_CreateObject();
            if(*ext)
                cJSON_AddStringToObject(*ext, "id", val);
        }
        xmlFree(own);
    }
    int i = 0;
    for(xmlNode *c = n->children; c; c = c->next) {
        if(c->type == XML_ELEMENT_NODE) {
            if(!lg_xml_in_ns(c, LG_FHIR_NS) || strcmp((const char *)c->name, "extension") != 0) {
                report(cv, c, "Element '%s' is not allowed inside a primitive (only extension)",
                       (const char *)c->name);
                continue;
            }
            if(!*ext && !(*ext = cJSON_CreateObject())) {
                cv->nomem = 1;
                return;
            }
            cJSON *o = cJSON_CreateObject();
            if(!o) {
                cv->nomem = 1;
                return;
            }
            size_t mark = push(cv, "extension", i++);
            fill_object(cv, cv->extension, c, o, 0);
            pop(cv, mark);
            add_item(cv, *ext, "extension", 1, o, c);
        } else if((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
                  !lg_xml_blank(c->content)) {
            report(cv, n, "Text is not allowed inside <%s> (the value goes in the value attribute)",
                   (const char *)n->name);
        }
    }
}

/* 1 when ns is declared on n or an ancestor up to div (or is xml:). */
static int declared_within(const xmlNode *div, const xmlNode *n, const xmlNs *ns)
{
    if(ns->prefix && strcmp((const char *)ns->prefix, "xml") == 0)
        return 1;
    for(const xmlNode *p = n; p; p = p == div ? NULL : p->parent)
        for(const xmlNs *d = p->nsDef; d; d = d->next)
            if(d == ns)
                return 1;
    return 0;
}

/* 1 when every namespace element n and its descendants use is declared
 * within div: then div's source text parses on its own. Recursion is
 * bounded by the parse depth limit. */
static int self_contained(const xmlNode *div, const xmlNode *n)
{
    if(n->ns && !declared_within(div, n, n->ns))
        return 0;
    for(const xmlAttr *a = n->properties; a; a = a->next)
        if(a->ns && !declared_within(div, n, a->ns))
            return 0;
    for(const xmlNode *c = n->children; c; c = c->next)
        if(c->type == XML_ELEMENT_NODE && !self_contained(div, c))
            return 0;
    return 1;
}

/* The narrative div as text: its exact source when that stands alone
 * (UTF-8, and it re-parses on its own: no prefix declared outside it),
 * else libxml2's serialisation of a copy in a document of its own, where
 * the copy declares every namespace it uses. */
static cJSON *convert_div(conv *cv, xmlNode *n)
{
    const lg_xml_doc *d = cv->doc;
    size_t start = lg_xml_node_offset(n), end = lg_xml_div_end(d, n);
    const char *enc = (const char *)d->doc->encoding;
    if(start != (size_t)-1 && end != (size_t)-1 && end > start && end <= d->len &&
       (!enc || strcasecmp(enc, "UTF-8") == 0)) {
        if(self_contained(n, n)) {
            /* The body is not NUL-terminated (it is the HTTP layer's
             * buffer): copy exactly, never scan for a terminator. */
            size_t len = end - start;
            char *s = malloc(len + 1);
            if(s) {
                memcpy(s, d->text + start, len);
                s[len] = '\0';
            }
            cJSON *v = s ? cJSON_CreateString(s) : NULL;
            free(s);
            return v;
        }
    }
    xmlDocPtr own = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr copy = own ? xmlDocCopyNode(n, own, 1) : NULL;
    xmlBufferPtr b = copy ? xmlBufferCreate() : NULL;
    cJSON *v = NULL;
    if(b) {
        xmlDocSetRootElement(own, copy);
        copy = NULL;
        if(xmlNodeDump(b, own, xmlDocGetRootElement(own), 0, 0) >= 0)
            v = cJSON_CreateString((const char *)xmlBufferContent(b));
    }
    xmlBufferFree(b);
    if(copy)
        xmlFreeNode(copy);
    if(own)
        xmlFreeDoc(own);
    return v;
}

/* <contained>, <resource>, <outcome>, ...: one resource element inside. */
static cJSON *convert_nested(conv *cv, xmlNode *n)
{
    xmlNode *res = NULL;
    for(xmlAttr *a = n->properties; a; a = a->next)
        report(cv, n, "Attribute '%s' is not allowed on <%s>", (const char *)a->name,
               (const char *)n->name);
    for(xmlNode *c = n->children; c; c = c->next) {
        if(c->type == XML_ELEMENT_NODE) {
            if(res) {
                report(cv, c, "<%s> holds one resource; found a second element <%s>",
                       (const char *)n->name, (const char *)c->name);
                continue;
            }
            res = c;
        } else if((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
                  !lg_xml_blank(c->content)) {
            report(cv, n, "Text is not allowed inside <%s>", (const char *)n->name);
        }
    }
    if(!res) {
        report(cv, n, "<%s> must hold a resource element", (const char *)n->name);
        return NULL;
    }
    return convert_resource(cv, res);
}

/* Drop the placeholder arrays a primitive array left all-null (no value
 * or no `_name` at any index): JSON leaves such an array out. */
static void drop_null_arrays(cJSON *obj)
{
    cJSON *c = obj->child;
    while(c) {
        cJSON *next = c->next;
        if(cJSON_IsArray(c) && c->child) {
            int all_null = 1;
            for(cJSON *x = c->child; x && all_null; x = x->next)
                all_null = cJSON_IsNull(x);
            if(all_null)
                cJSON_Delete(cJSON_DetachItemViaPointer(obj, c));
        }
        c = next;
    }
}

static void convert_child(conv *cv, const lg_type_def *t, xmlNode *c, cJSON *obj, int is_resource)
{
    const char *name = (const char *)c->name;
    int in_xhtml = lg_xml_in_ns(c, LG_XHTML_NS);
    if(!lg_xml_in_ns(c, LG_FHIR_NS) && !in_xhtml) {
        size_t mark = push(cv, name, -1);
        report(cv, c, "Element <%s> is not in the FHIR namespace (%s)", name, LG_FHIR_NS);
        pop(cv, mark);
        return;
    }
    const lg_type_def *ct = NULL;
    const lg_elem_def *e = lg_defs_elem(t, name, &ct);
    int attr_only = !is_resource && ((strcmp(name, "id") == 0 && t->kind != LG_TYPE_PRIMITIVE) ||
                                     (t == cv->extension && strcmp(name, "url") == 0));
    if(!e || attr_only) {
        size_t mark = push(cv, name, -1);
        if(attr_only)
            report(cv, c, "'%s' is an attribute in FHIR XML, not an element", name);
        else
            report(cv, c, "Unrecognized element <%s> in %s", name, t->name);
        pop(cv, mark);
        return;
    }
    if(!ct)
        ct = e->body ? e->body : e->ntypes ? e->types[0] : NULL;
    if(!ct)
        return; /* a type the definitions do not describe */
    if(in_xhtml != (ct == cv->xhtml)) {
        size_t mark = push(cv, name, -1);
        report(cv, c, "<%s> must be in the %s namespace", name,
               ct == cv->xhtml ? LG_XHTML_NS : LG_FHIR_NS);
        pop(cv, mark);
        return;
    }
    int many = e->max > 1;
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, name);
    int index = many ? (cur ? cJSON_GetArraySize(cur) : 0) : -1;
    size_t mark = push(cv, name, index);
    switch(ct->kind) {
    case LG_TYPE_PRIMITIVE: {
        cJSON *v = NULL, *ext = NULL;
        if(ct == cv->xhtml) {
            if(!(v = convert_div(cv, c)))
                report(cv, c, "The narrative div could not be kept");
        } else {
            convert_primitive(cv, ct, c, &v, &ext);
            if(!v && !ext)
                report(cv, c, "<%s> has no value attribute and no extension", name);
        }
        if(!v && !ext)
            break;
        char uname[256];
        if(snprintf(uname, sizeof(uname), "_%s", name) >= (int)sizeof(uname)) {
            cJSON_Delete(v);
            cJSON_Delete(ext);
            break;
        }
        if(many) {
            /* both arrays grow together so value[i] and _value[i] line up;
             * all-null ones are dropped when the object is complete */
            cJSON *va = cJSON_GetObjectItemCaseSensitive(obj, name);
            cJSON *xa = cJSON_GetObjectItemCaseSensitive(obj, uname);
            if(!va)
                va = cJSON_AddArrayToObject(obj, name);
            if(!xa)
                xa = cJSON_AddArrayToObject(obj, uname);
            if(!va || !xa) {
                cJSON_Delete(v);
                cJSON_Delete(ext);
                cv->nomem = 1;
                break;
            }
            cJSON_AddItemToArray(va, v ? v : cJSON_CreateNull());
            cJSON_AddItemToArray(xa, ext ? ext : cJSON_CreateNull());
        } else {
            if(v)
                add_item(cv, obj, name, 0, v, c);
            if(ext)
                add_item(cv, obj, uname, 0, ext, c);
        }
        break;
    }
    case LG_TYPE_RESOURCE: {
        cJSON *v = convert_nested(cv, c);
        if(v)
            add_item(cv, obj, name, many, v, c);
        break;
    }
    case LG_TYPE_COMPLEX:
    case LG_TYPE_BACKBONE: {
        cJSON *o = cJSON_CreateObject();
        if(!o) {
            cv->nomem = 1;
            break;
        }
        fill_object(cv, ct, c, o, 0);
        add_item(cv, obj, name, many, o, c);
        break;
    }
    }
    pop(cv, mark);
}

static void fill_object(conv *cv, const lg_type_def *t, xmlNode *n, cJSON *obj, int is_resource)
{
    for(xmlAttr *a = n->properties; a; a = a->next) {
        const char *an = (const char *)a->name;
        if(a->ns) {
            if(!a->ns->href || strcmp((const char *)a->ns->href, XSI_NS) != 0)
                report(cv, n, "Attribute '%s' in namespace '%s' is not allowed", an,
                       a->ns->href ? (const char *)a->ns->href : "");
            continue;
        }
        const lg_type_def *ct = NULL;
        int ok = !is_resource && ((strcmp(an, "id") == 0 && lg_defs_elem(t, "id", &ct)) ||
                                  (t == cv->extension && strcmp(an, "url") == 0));
        if(!ok) {
            report(cv, n, "Attribute '%s' is not allowed on <%s>", an, (const char *)n->name);
            continue;
        }
        xmlChar *own;
        const char *val = attr_value(a, &own);
        if(!val || !cJSON_AddStringToObject(obj, an, val))
            cv->nomem = 1;
        xmlFree(own);
    }
    for(xmlNode *c = n->children; c && !cv->nomem; c = c->next) {
        switch(c->type) {
        case XML_ELEMENT_NODE:
            convert_child(cv, t, c, obj, is_resource);
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if(!lg_xml_blank(c->content))
                report(cv, n, "Text is not allowed inside <%s>: FHIR values go in value attributes",
                       (const char *)n->name);
            break;
        case XML_ENTITY_REF_NODE:
            report(cv, n, "Entity references are not allowed");
            break;
        default:
            break; /* comments and processing instructions are dropped */
        }
    }
    drop_null_arrays(obj);
}

static cJSON *convert_resource(conv *cv, xmlNode *n)
{
    const char *name = (const char *)n->name;
    if(!lg_xml_in_ns(n, LG_FHIR_NS)) {
        report(cv, n, "<%s> is not in the FHIR namespace (%s)", name, LG_FHIR_NS);
        return NULL;
    }
    const lg_type_def *t = lg_defs_struct(cv->d, name);
    if(!t || t->kind != LG_TYPE_RESOURCE || t->abstract) {
        report(cv, n, "<%.64s> is not an R4 resource type", name);
        return NULL;
    }
    cJSON *obj = cJSON_CreateObject();
    if(!obj || !cJSON_AddStringToObject(obj, "resourceType", name)) {
        cJSON_Delete(obj);
        cv->nomem = 1;
        return NULL;
    }
    /* the outermost resource starts the path; nested ones continue it */
    size_t mark = cv->plen ? cv->plen : push(cv, name, -1);
    fill_object(cv, t, n, obj, 1);
    pop(cv, mark);
    return obj;
}

lg_status lg_xml_to_json(const lg_defs *defs, const char *text, size_t len,
                         const lg_json_limits *lim, cJSON **out, lg_issues *issues)
{
    *out = NULL;
    lg_xml_doc d;
    lg_status st = lg_xml_doc_parse(&d, text, len, lim, issues);
    if(st)
        return st;
    conv cv = {.d = defs, .doc = &d, .issues = issues};
    cv.element = lg_defs_struct(defs, "Element");
    cv.extension = lg_defs_struct(defs, "Extension");
    cv.xhtml = lg_defs_struct(defs, "xhtml");
    cJSON *res = NULL;
    if(!cv.element || !cv.extension) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL,
                      "No structure definitions are loaded; cannot read XML");
        st = LG_EINVAL;
        goto out;
    }
    res = convert_resource(&cv, xmlDocGetRootElement(d.doc));
    if(cv.nomem) {
        st = LG_ENOMEM;
    } else if(cv.errors || !res) {
        if(cv.errors > MAX_REPORTED)
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                          "%zu more XML problems were found and not listed",
                          cv.errors - MAX_REPORTED);
        st = LG_EINVAL;
    }
out:
    if(st)
        cJSON_Delete(res);
    else
        *out = res;
    lg_xml_doc_free(&d);
    return st;
}
