/* xml.h - FHIR XML on the wire (R4 xml.html), safely.
 *
 * Loopgate's internal tree is cJSON in FHIR JSON shape; XML is only a wire
 * format. The mapping is driven by the compiled element tables in lg_defs
 * (element order, types, max cardinality, choice types), never by
 * per-resource code. Parsing uses libxml2 with no network, no DTD (any
 * DOCTYPE is refused outright: FHIR XML never needs one, and refusing it
 * closes XXE and entity-expansion attacks), and the same size and depth
 * bounds as JSON bodies (lg_json_limits).
 *
 * Functions here are thread-safe: libxml2 state is per parser context.
 */
#ifndef LOOPGATE_XML_H
#define LOOPGATE_XML_H

#include <stddef.h>

#include "loopgate/buf.h"
#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/status.h"

#define LG_FHIR_NS "http://hl7.org/fhir"
#define LG_XHTML_NS "http://www.w3.org/1999/xhtml"

/* Parse len bytes of FHIR XML (need not be NUL-terminated) into the JSON
 * tree the JSON path would have produced for the same resource. lim NULL
 * means lg_json_default_limits (max_bytes: the document; max_depth: element
 * nesting; max_string: one attribute value or narrative div).
 * On LG_OK *out is a tree the caller frees with cJSON_Delete. On failure
 * *out is NULL and issues say why, each with line and column (lg_issue
 * line/col; column of the element's '<') and, for FHIR content errors, a
 * FHIRPath location: LG_EINVAL (code "structure") for XML that is not
 * well-formed, a DOCTYPE, a wrong namespace, an unknown element or
 * attribute, text where an element is expected, a malformed boolean or
 * number; LG_ETOOLARGE (code "too-costly") for exceeded limits.
 * Decimals become JSON numbers (as lg_json_parse makes them). The
 * narrative div is kept as the exact source text of the div element when
 * the document is UTF-8 and the div declares the XHTML namespace itself,
 * else libxml2's serialisation of it with the namespace declared.
 * Comments and processing instructions are dropped. */
lg_status lg_xml_to_json(const lg_defs *defs, const char *text, size_t len,
                         const lg_json_limits *lim, cJSON **out, lg_issues *issues);

/* Append res (a resource in FHIR JSON shape; only read) to out as FHIR XML:
 * an XML declaration, then the root element in the FHIR namespace with the
 * children in StructureDefinition order, primitives as value attributes,
 * `_name` ids and extensions merged, choice names kept, nested resources
 * wrapped in their element, the div written as XHTML (it must be a
 * well-formed <div> in the XHTML namespace). pretty != 0 indents.
 * Keys that are not elements of their type and values of the wrong JSON
 * kind are reported (LG_EINVAL, code "structure") and left out; out then
 * still holds well-formed XML of the rest. LG_ETOOLARGE when out is full.
 * On error out may hold a partial document: the caller discards it. */
lg_status lg_json_to_xml_opts(const lg_defs *defs, const cJSON *res, int pretty, lg_buf *out,
                              lg_issues *issues);
/* The same, compact. */
lg_status lg_json_to_xml(const lg_defs *defs, const cJSON *res, lg_buf *out, lg_issues *issues);

/* Where the element named by a FHIRPath location ("Patient.name[0].given[1]",
 * nested resources continue the path: "Bundle.entry[0].resource.status")
 * is in FHIR XML text: *line and *col (1-based) of its '<'. Returns 1 when
 * found, 0 when only an ancestor was (then its position), -1 when text is
 * not well-formed FHIR XML (nothing set). */
int lg_xml_locate(const char *text, size_t len, const char *location, int *line, int *col);

/* Give issues [from, count) that have a location and no position yet the
 * position lg_xml_locate finds in text (parsed once for all of them). */
void lg_xml_issues_locate(lg_issues *issues, size_t from, const char *text, size_t len);

/* The FHIR narrative rules (R4 narrative.html, invariants txt-1 and txt-2,
 * as the HL7 validator applies them) on a div's XHTML text, for both the
 * JSON and the XML path: well-formed, one <div> in the XHTML namespace, only
 * the basic HTML formatting elements and attributes, no <script>, no event
 * attributes (on*), no external references (img src other than "#..." or
 * "data:", url() in style), and some non-whitespace content. Each breach is
 * an error issue at location (may be NULL). Returns LG_OK or LG_EINVAL. */
lg_status lg_xhtml_check(const char *div, size_t len, const char *location, lg_issues *issues);

/* 1 when the media type (parameters after ';' ignored, case-insensitive)
 * is FHIR XML: application/fhir+xml, application/xml, text/xml,
 * application/xml+fhir. */
int lg_xml_media_type(const char *ct);

#endif
