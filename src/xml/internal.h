/* internal.h - private to src/xml/: the one safe way this layer runs
 * libxml2 (no DTD, no network, bounded), and source positions of elements. */
#ifndef LG_XML_INTERNAL_H
#define LG_XML_INTERNAL_H

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "loopgate/xml.h"

/* End offset of one XHTML div, recorded while parsing so the div's exact
 * source text can be kept. */
typedef struct lg_xml_end {
    const xmlNode *node;
    size_t end;
} lg_xml_end;

/* A parsed document and what the parse noted about it. */
typedef struct lg_xml_doc {
    xmlDocPtr doc;
    const char *text;      /* the caller's bytes, borrowed */
    size_t len;
    lg_xml_end *ends;      /* XHTML div end offsets, in document order */
    size_t nends, capends;
    int max_depth;
    size_t max_string;
    int refused;           /* 1 DOCTYPE, 2 too deep, 3 attribute too long, 4 no memory */
    size_t refused_at;     /* byte offset where the refusal happened */
} lg_xml_doc;

/* Parse text safely. On LG_OK d->doc holds the tree (lg_xml_doc_free).
 * On failure an issue with line/col is added and d is left freed. */
lg_status lg_xml_doc_parse(lg_xml_doc *d, const char *text, size_t len,
                           const lg_json_limits *lim, lg_issues *issues);
void lg_xml_doc_free(lg_xml_doc *d);

/* Byte offset of element n's '<' in the source, or (size_t)-1 if unknown. */
size_t lg_xml_node_offset(const xmlNode *n);
/* Byte offset just past the end tag of div n, or (size_t)-1. */
size_t lg_xml_div_end(const lg_xml_doc *d, const xmlNode *n);
/* 1-based line and column (characters) of byte offset off in the text. */
void lg_xml_line_col(const char *text, size_t len, size_t off, int *line, int *col);
/* Set the position of the last issue added from n's start. */
void lg_xml_issue_at(lg_issues *issues, const lg_xml_doc *d, const xmlNode *n);

/* 1 when the narrative div is certainly clean (xhtml.c's scanner without
 * libxml2); 0 means "not sure", and lg_xhtml_check then parses it. */
int lg_xhtml_fast_ok(const char *div, size_t len);
/* lg_xhtml_check without the fast path: always parses with libxml2. */
lg_status lg_xhtml_check_parsed(const char *div, size_t len, const char *location,
                                lg_issues *issues);

/* The FHIRPath location both directions report issues at, built while
 * walking: lg_xml_path_push appends ".name" (just "name" at the start) and
 * "[index]" (index >= 0) to path (cap bytes, NUL-terminated, length *plen),
 * truncating silently, and returns the mark lg_xml_path_pop restores. */
size_t lg_xml_path_push(char *path, size_t cap, size_t *plen, const char *name, int index);
void lg_xml_path_pop(char *path, size_t *plen, size_t mark);

/* 1 when n is an element in namespace ns. */
int lg_xml_in_ns(const xmlNode *n, const char *ns);
/* 1 when s (n bytes) is only XML whitespace. */
int lg_xml_blank(const xmlChar *s);

#endif
