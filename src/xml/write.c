/* write.c - the JSON tree to FHIR XML (R4 json.html -> xml.html).
 *
 * XML is ordered where JSON is not, so children are written in the order of
 * the type's element table (the StructureDefinition's), not the JSON's.
 * Element.id and Extension.url become attributes, primitives a value
 * attribute beside the id and extensions of their `_name` twin. Output goes
 * straight into the caller's bounded buffer; no DOM is built.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"

#define PATH_LEN 512
#define MAX_REPORTED 100

typedef struct writer {
    const lg_defs *d;
    const lg_type_def *element, *extension, *xhtml;
    lg_buf *b;
    lg_issues *issues;
    lg_status st;   /* first buffer failure */
    size_t errors;
    int pretty;
    char path[PATH_LEN];
    size_t plen;
} writer;

static void report(writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(writer *w, const char *fmt, ...)
{
    if(w->errors++ >= MAX_REPORTED)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lg_issues_add(w->issues, LG_SEV_ERROR, "structure", w->plen ? w->path : NULL, "%s", msg);
}

/* The location steps (path.c). */
static size_t push(writer *w, const char *name, int index)
{
    return lg_xml_path_push(w->path, sizeof(w->path), &w->plen, name, index);
}

static void pop(writer *w, size_t mark)
{
    lg_xml_path_pop(w->path, &w->plen, mark);
}

static void put(writer *w, const char *s, size_t n)
{
    if(!w->st)
        w->st = lg_buf_add(w->b, s, n);
}

static void puts_(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void indent(writer *w, int depth)
{
    static const char spaces[] = "                                                                ";
    if(!w->pretty)
        return;
    puts_(w, "\n");
    size_t n = (size_t)depth * 2;
    while(n) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        put(w, spaces, k);
        n -= k;
    }
}

/* Escape for an attribute value; line ends and tabs become character
 * references so attribute-value normalisation cannot turn them into
 * spaces. Returns 0 when s holds a character XML 1.0 cannot carry. */
static int put_escaped(writer *w, const char *s)
{
    const char *run = s;
    for(const char *p = s; *p; p++) {
        const char *rep = NULL;
        switch(*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\n': rep = "&#xA;"; break;
        case '\r': rep = "&#xD;"; break;
        case '\t': rep = "&#x9;"; break;
        default:
            if((unsigned char)*p < 0x20)
                return 0;
            continue;
        }
        put(w, run, (size_t)(p - run));
        puts_(w, rep);
        run = p + 1;
    }
    put(w, run, strlen(run));
    return 1;
}

static void put_attr(writer *w, const char *name, const char *value)
{
    puts_(w, " ");
    puts_(w, name);
    puts_(w, "=\"");
    if(!put_escaped(w, value))
        report(w, "The %s holds a control character XML cannot carry", name);
    puts_(w, "\"");
}

/* A number as cJSON prints it, so XML and JSON show the same text. */
static void format_number(double d, char *buf, size_t n)
{
    if(!isfinite(d)) {
        snprintf(buf, n, "0");
    } else if(d == 0 && signbit(d)) {
        snprintf(buf, n, "-0"); /* as cJSON prints it; (int)-0.0 would lose the sign */
    } else if(d == floor(d) && d >= -2147483648.0 && d <= 2147483647.0) {
        snprintf(buf, n, "%d", (int)d);
    } else {
        snprintf(buf, n, "%1.15g", d);
        double test = strtod(buf, NULL);
        double max = fabs(test) > fabs(d) ? fabs(test) : fabs(d);
        if(!(fabs(test - d) <= max * DBL_EPSILON))
            snprintf(buf, n, "%1.17g", d);
    }
}

/* The value attribute text of a primitive, into buf or as a pointer into v. */
static const char *primitive_text(writer *w, const lg_type_def *t, const cJSON *v, char *buf,
                                  size_t n)
{
    switch(t->json) {
    case LG_JSON_KIND_BOOL:
        if(cJSON_IsBool(v))
            return cJSON_IsTrue(v) ? "true" : "false";
        break;
    case LG_JSON_KIND_DECIMAL:
    case LG_JSON_KIND_INTEGER:
        if(cJSON_IsNumber(v)) {
            const char *lit = lg_json_number_literal(v);
            if(lit) /* exact decimal text, as parsed (1.50 stays 1.50) */
                return lit;
            format_number(v->valuedouble, buf, n);
            return buf;
        }
        break;
    case LG_JSON_KIND_STRING:
        if(cJSON_IsString(v))
            return v->valuestring;
        break;
    }
    report(w, "The value is not of the JSON kind a %s needs; it is left out", t->name);
    return NULL;
}

static void write_object(writer *w, const lg_type_def *t, const cJSON *obj, int is_resource,
                         int depth);
static void write_resource(writer *w, const cJSON *res, int depth, int root);

/* 1 when key names an element written as an attribute in t. */
static int is_attr(const writer *w, const lg_type_def *t, const char *key, int is_resource)
{
    return !is_resource &&
           (strcmp(key, "id") == 0 || (t == w->extension && strcmp(key, "url") == 0));
}

static void write_div(writer *w, const cJSON *v, int depth)
{
    if(!cJSON_IsString(v)) {
        report(w, "The narrative div must be a JSON string of XHTML");
        return;
    }
    /* the div is written raw, so it must be well-formed XHTML on its own */
    lg_xml_doc d;
    lg_issues tmp = {0};
    lg_status st = lg_xml_doc_parse(&d, v->valuestring, strlen(v->valuestring), NULL, &tmp);
    const xmlNode *root = st ? NULL : xmlDocGetRootElement(d.doc);
    if(st || !lg_xml_in_ns(root, LG_XHTML_NS) || strcmp((const char *)root->name, "div") != 0)
        report(w, "The narrative div is not a well-formed <div> in the XHTML namespace%s%s",
               tmp.count ? ": " : "", tmp.count ? tmp.items[0].diagnostics : "");
    else {
        indent(w, depth);
        puts_(w, v->valuestring);
    }
    if(!st)
        lg_xml_doc_free(&d);
    lg_issues_free(&tmp);
}

static void write_primitive(writer *w, const lg_type_def *t, const char *name, const cJSON *v,
                            const cJSON *ext, int depth)
{
    if(cJSON_IsNull(ext))
        ext = NULL; /* the placeholder of a primitive array */
    if(ext && !cJSON_IsObject(ext)) {
        report(w, "'_%s' must be an object", name);
        ext = NULL;
    }
    const cJSON *id = NULL, *exts = NULL;
    if(ext) {
        for(const cJSON *k = ext->child; k; k = k->next) {
            if(strcmp(k->string, "id") == 0 && cJSON_IsString(k))
                id = k;
            else if(strcmp(k->string, "extension") == 0 && cJSON_IsArray(k))
                exts = k;
            else if(strcmp(k->string, "fhir_comments") != 0)
                report(w, "'_%s' may hold only id and extension, not '%s'", name, k->string);
        }
    }
    char buf[64];
    const char *text = v && !cJSON_IsNull(v) ? primitive_text(w, t, v, buf, sizeof(buf)) : NULL;
    if(!text && !id && !(exts && exts->child))
        return;
    indent(w, depth);
    puts_(w, "<");
    puts_(w, name);
    if(id)
        put_attr(w, "id", id->valuestring);
    if(text)
        put_attr(w, "value", text);
    if(!exts || !exts->child) {
        puts_(w, "/>");
        return;
    }
    puts_(w, ">");
    int i = 0;
    for(const cJSON *x = exts->child; x; x = x->next, i++) {
        size_t mark = push(w, "extension", i);
        if(!cJSON_IsObject(x)) {
            report(w, "An extension must be an object");
        } else {
            indent(w, depth + 1);
            puts_(w, "<extension");
            write_object(w, w->extension, x, 0, depth + 1);
            puts_(w, "</extension>");
        }
        pop(w, mark);
    }
    indent(w, depth);
    puts_(w, "</");
    puts_(w, name);
    puts_(w, ">");
}

/* One value (not an array) of element name of type ct. */
static void write_value(writer *w, const lg_type_def *ct, const char *name, const cJSON *v,
                        const cJSON *ext, int depth)
{
    if(ct->kind == LG_TYPE_PRIMITIVE) {
        if(ct == w->xhtml)
            write_div(w, v, depth);
        else
            write_primitive(w, ct, name, v, ext, depth);
        return;
    }
    if(!v || cJSON_IsNull(v))
        return;
    if(!cJSON_IsObject(v)) {
        report(w, "'%s' must be a JSON object", name);
        return;
    }
    indent(w, depth);
    puts_(w, "<");
    puts_(w, name);
    if(ct->kind == LG_TYPE_RESOURCE) {
        puts_(w, ">");
        write_resource(w, v, depth + 1, 0);
        indent(w, depth);
    } else {
        write_object(w, ct, v, 0, depth);
    }
    if(ct->kind == LG_TYPE_RESOURCE) {
        puts_(w, "</");
        puts_(w, name);
        puts_(w, ">");
    } else {
        puts_(w, "</");
        puts_(w, name);
        puts_(w, ">");
    }
}

/* The values of JSON key (and its `_key` twin for primitives). */
static void write_key(writer *w, const lg_type_def *t, const lg_type_def *ct, const char *key,
                      const cJSON *obj, int depth)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    const cJSON *x = NULL;
    char uname[256];
    if(ct->kind == LG_TYPE_PRIMITIVE && snprintf(uname, sizeof(uname), "_%s", key) < (int)sizeof(uname))
        x = cJSON_GetObjectItemCaseSensitive(obj, uname);
    if(!v && !x)
        return;
    if(cJSON_IsArray(v) || cJSON_IsArray(x)) {
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
        int nx = cJSON_IsArray(x) ? cJSON_GetArraySize(x) : 0;
        if(nx > n)
            n = nx;
        const cJSON *vi = cJSON_IsArray(v) ? v->child : NULL;
        const cJSON *xi = cJSON_IsArray(x) ? x->child : NULL;
        for(int i = 0; i < n; i++) {
            size_t mark = push(w, key, i);
            write_value(w, ct, key, vi, xi, depth);
            pop(w, mark);
            vi = vi ? vi->next : NULL;
            xi = xi ? xi->next : NULL;
        }
        return;
    }
    size_t mark = push(w, key, -1);
    write_value(w, ct, key, v, x, depth);
    pop(w, mark);
}

/* Attributes, then '>' and the children in definition order, or "/>".
 * The caller has written "<name" and writes the end tag when this
 * returned with '>' (it always does: an empty element gets "></name>" from
 * the caller, which is well-formed). */
static void write_object(writer *w, const lg_type_def *t, const cJSON *obj, int is_resource,
                         int depth)
{
    if(!is_resource) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
        if(id) {
            if(cJSON_IsString(id))
                put_attr(w, "id", id->valuestring);
            else
                report(w, "'id' must be a string");
        }
        if(t == w->extension) {
            const cJSON *url = cJSON_GetObjectItemCaseSensitive(obj, "url");
            if(cJSON_IsString(url))
                put_attr(w, "url", url->valuestring);
            else if(url)
                report(w, "'url' must be a string");
        }
    }
    puts_(w, ">");
    /* keys that are no element of t would be lost silently otherwise */
    for(const cJSON *k = obj->child; k; k = k->next) {
        const char *key = k->string;
        if(!key || (is_resource && strcmp(key, "resourceType") == 0) ||
           strcmp(key, "fhir_comments") == 0)
            continue;
        const lg_type_def *ct = NULL;
        int ext = key[0] == '_';
        const lg_elem_def *e = lg_defs_elem(t, key + ext, &ct);
        if(!e) {
            size_t mark = push(w, key, -1);
            report(w, "Unrecognized element '%s' in %s; not written", key, t->name);
            pop(w, mark);
        }
    }
    for(size_t i = 0; i < t->nelems; i++) {
        const lg_elem_def *e = &t->elems[i];
        if(is_attr(w, t, e->name, is_resource))
            continue;
        if(!e->choice) {
            const lg_type_def *ct = e->body ? e->body : e->ntypes ? e->types[0] : NULL;
            if(ct)
                write_key(w, t, ct, e->name, obj, depth + 1);
            continue;
        }
        size_t n = strlen(e->name);
        for(const cJSON *k = obj->child; k; k = k->next) {
            const char *key = k->string;
            if(!key || key[0] == '_' || strncmp(key, e->name, n) != 0)
                continue;
            const lg_type_def *ct = NULL;
            if(lg_defs_elem(t, key, &ct) == e && ct)
                write_key(w, t, ct, key, obj, depth + 1);
        }
        /* a choice with only its `_name` twin (an extension, no value) */
        for(const cJSON *k = obj->child; k; k = k->next) {
            const char *key = k->string;
            if(!key || key[0] != '_' || strncmp(key + 1, e->name, n) != 0 ||
               cJSON_GetObjectItemCaseSensitive(obj, key + 1))
                continue;
            const lg_type_def *ct = NULL;
            if(lg_defs_elem(t, key + 1, &ct) == e && ct)
                write_key(w, t, ct, key + 1, obj, depth + 1);
        }
    }
    indent(w, depth);
}

static void write_resource(writer *w, const cJSON *res, int depth, int root)
{
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(res, "resourceType");
    const lg_type_def *t = cJSON_IsString(rt) ? lg_defs_struct(w->d, rt->valuestring) : NULL;
    if(!t || t->kind != LG_TYPE_RESOURCE || t->abstract) {
        report(w, "A resource needs the resourceType of an R4 resource");
        return;
    }
    size_t mark = w->plen ? w->plen : push(w, t->name, -1);
    indent(w, depth);
    puts_(w, "<");
    puts_(w, t->name);
    if(root)
        puts_(w, " xmlns=\"" LG_FHIR_NS "\"");
    write_object(w, t, res, 1, depth);
    puts_(w, "</");
    puts_(w, t->name);
    puts_(w, ">");
    pop(w, mark);
}

lg_status lg_json_to_xml_opts(const lg_defs *defs, const cJSON *res, int pretty, lg_buf *out,
                              lg_issues *issues)
{
    writer w = {.d = defs, .b = out, .issues = issues, .pretty = pretty};
    w.element = lg_defs_struct(defs, "Element");
    w.extension = lg_defs_struct(defs, "Extension");
    w.xhtml = lg_defs_struct(defs, "xhtml");
    if(!w.element || !w.extension) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL,
                      "No structure definitions are loaded; cannot write XML");
        return LG_EINVAL;
    }
    if(!cJSON_IsObject(res)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "A resource must be a JSON object");
        return LG_EINVAL;
    }
    puts_(&w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    if(!pretty)
        puts_(&w, "\n");
    write_resource(&w, res, 0, 1);
    puts_(&w, "\n");
    if(w.st) {
        if(w.st == LG_ETOOLARGE)
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                          "The XML is larger than the buffer allows");
        return w.st;
    }
    if(w.errors > MAX_REPORTED)
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                      "%zu more problems were found and not listed", w.errors - MAX_REPORTED);
    return w.errors ? LG_EINVAL : LG_OK;
}

lg_status lg_json_to_xml(const lg_defs *defs, const cJSON *res, lg_buf *out, lg_issues *issues)
{
    return lg_json_to_xml_opts(defs, res, 0, out, issues);
}
