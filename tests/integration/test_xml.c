/* Integration: FHIR XML on the wire against the real server (issue #6):
 * XML in and JSON out and the reverse, a transaction Bundle in XML,
 * _format and Accept (406), unsupported bodies (415), errors in the
 * negotiated format with the XML's line and column, and XML attacks that
 * get a 400 while the server stays up. */
#include <criterion/criterion.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void) { lg_it_start(&S, NULL); }
static void down(void) { lg_it_cleanup(&S); }
TestSuite(xml, .init = up, .fini = down, .timeout = 120);

static const char *const XML_CT[] = {"Content-Type: application/fhir+xml", NULL};
static const char *const XML_CT_JSON_ACCEPT[] = {"Content-Type: application/fhir+xml",
                                                 "Accept: application/fhir+json", NULL};
static const char *const ACCEPT_XML[] = {"Accept: application/fhir+xml", NULL};

/* The reply is well-formed FHIR XML whose root is root. */
static void assert_fhir_xml(const lg_resp *r, const char *root)
{
    cr_assert(strstr(r->content_type, "application/fhir+xml"), "content type %s", r->content_type);
    cr_assert_not_null(r->body);
    xmlDocPtr doc = xmlReadMemory(r->body, (int)r->len, NULL, NULL, XML_PARSE_NONET |
                                  XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    cr_assert_not_null(doc, "reply is not well-formed XML: %.200s", r->body);
    xmlNodePtr n = xmlDocGetRootElement(doc);
    cr_expect_str_eq((const char *)n->name, root);
    cr_expect(n->ns && strcmp((const char *)n->ns->href, "http://hl7.org/fhir") == 0);
    xmlFreeDoc(doc);
}

/* id from a Location header ".../Type/id/_history/n" (caller frees). */
static char *id_of(const char *location, const char *type)
{
    const char *p = strstr(location, type);
    cr_assert_not_null(p, "%s", location);
    p += strlen(type) + 1;
    return lg_fmt("%.*s", (int)strcspn(p, "/"), p);
}

Test(xml, post_xml_read_back_json_and_xml)
{
    const char *body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<Patient xmlns=\"http://hl7.org/fhir\">\n"
                       "  <!-- a comment is dropped -->\n"
                       "  <text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/"
                       "xhtml\"><p>Ana <b>Rivera</b></p></div></text>\n"
                       "  <name><family value=\"Rivera\"/><given value=\"Ana\"/><given id=\"g\">"
                       "<extension url=\"http://example.org/nick\"><valueString value=\"Annie\"/>"
                       "</extension></given></name>\n"
                       "  <gender value=\"female\"/><birthDate value=\"2014-05-06\"/>\n"
                       "  <multipleBirthInteger value=\"2\"/>\n"
                       "</Patient>\n";
    lg_resp r = lg_http(&S, "POST", "/Patient", XML_CT, body);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    /* no Accept: the reply follows the body's format */
    assert_fhir_xml(&r, "Patient");
    cr_expect(strstr(r.body, "<family value=\"Rivera\"/>"));
    char *id = id_of(r.location, "Patient");
    lg_resp_free(&r);

    r = lg_getf(&S, "/Patient/%s", id);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(r.json);
    cJSON *name = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "name"), 0);
    cr_expect_str_eq(lg_str(name, "family"), "Rivera");
    cJSON *given = cJSON_GetObjectItem(name, "given");
    cr_expect_eq(cJSON_GetArraySize(given), 2);
    cr_expect(cJSON_IsNull(cJSON_GetArrayItem(given, 1)), "given[1] has only an extension");
    cJSON *ug = cJSON_GetArrayItem(cJSON_GetObjectItem(name, "_given"), 1);
    cr_expect_str_eq(lg_str(ug, "id"), "g");
    cr_expect_eq(cJSON_GetObjectItem(r.json, "multipleBirthInteger")->valueint, 2);
    cr_expect_str_eq(lg_str(cJSON_GetObjectItem(r.json, "text"), "div"),
                     "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Ana <b>Rivera</b></p></div>");
    lg_resp_free(&r);

    /* XML back, by _format and by Accept */
    lg_resp x = lg_getf(&S, "/Patient/%s?_format=xml", id);
    cr_assert_eq(x.status, 200);
    assert_fhir_xml(&x, "Patient");
    cr_expect(strstr(x.body, "<given id=\"g\"><extension url=\"http://example.org/nick\">"
                             "<valueString value=\"Annie\"/></extension></given>"),
              "%s", x.body);
    cr_expect(strstr(x.body, "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Ana <b>Rivera</b>"
                             "</p></div>"));
    char *path = lg_fmt("/Patient/%s", id);
    lg_resp a = lg_http(&S, "GET", path, ACCEPT_XML, NULL);
    cr_assert_eq(a.status, 200);
    cr_expect_str_eq(a.body, x.body);
    lg_resp_free(&a);
    lg_resp_free(&x);
    /* search results too */
    x = lg_http(&S, "GET", "/Patient?family=Rivera&_format=application/fhir%2Bxml", NULL, NULL);
    cr_assert_eq(x.status, 200, "%ld %s", x.status, x.body);
    assert_fhir_xml(&x, "Bundle");
    cr_expect(strstr(x.body, "<resource><Patient>"));
    lg_resp_free(&x);
    free(path);
    free(id);
}

Test(xml, post_json_read_back_xml)
{
    char *id = lg_create(&S, "Patient", "{\"resourceType\":\"Patient\",\"active\":true,"
                                        "\"name\":[{\"family\":\"O'Neil & <Sons>\"}]}");
    lg_resp x = lg_getf(&S, "/Patient/%s?_format=text/xml", id);
    cr_assert_eq(x.status, 200);
    assert_fhir_xml(&x, "Patient");
    cr_expect(strstr(x.body, "<active value=\"true\"/>"));
    cr_expect(strstr(x.body, "<family value=\"O'Neil &amp; &lt;Sons&gt;\"/>"), "%s", x.body);
    /* and the XML reads back through PUT to the same resource */
    char *path = lg_fmt("/Patient/%s", id);
    lg_resp p = lg_http(&S, "PUT", path, XML_CT_JSON_ACCEPT, x.body);
    cr_assert_eq(p.status, 200, "%ld %s", p.status, p.body);
    cr_assert_not_null(p.json, "Accept JSON answers JSON");
    cr_expect_str_eq(lg_str(cJSON_GetArrayItem(cJSON_GetObjectItem(p.json, "name"), 0), "family"),
                     "O'Neil & <Sons>");
    lg_resp_free(&p);
    lg_resp_free(&x);
    free(path);
    free(id);
}

Test(xml, transaction_bundle_in_xml)
{
    const char *bundle =
        "<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"transaction\"/>"
        "<entry><fullUrl value=\"urn:uuid:7f4c5a5e-1a4b-4c3e-9a57-0a1d4e7b2c11\"/>"
        "<resource><Patient><name><family value=\"Xu\"/></name></Patient></resource>"
        "<request><method value=\"POST\"/><url value=\"Patient\"/></request></entry>"
        "<entry><resource><Task><status value=\"requested\"/><intent value=\"order\"/>"
        "<for><reference value=\"urn:uuid:7f4c5a5e-1a4b-4c3e-9a57-0a1d4e7b2c11\"/></for>"
        "</Task></resource><request><method value=\"POST\"/><url value=\"Task\"/></request>"
        "</entry></Bundle>";
    lg_resp r = lg_http(&S, "POST", "/", XML_CT, bundle);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    assert_fhir_xml(&r, "Bundle");
    cr_expect(strstr(r.body, "<type value=\"transaction-response\"/>"), "%s", r.body);
    const char *loc = strstr(r.body, "/Task/");
    cr_assert_not_null(loc, "%s", r.body);
    char *task = lg_fmt("%.*s", (int)strcspn(loc + 6, "/\""), loc + 6);
    lg_resp_free(&r);
    r = lg_getf(&S, "/Task/%s", task);
    cr_assert_eq(r.status, 200);
    const char *ref = lg_str(cJSON_GetObjectItem(r.json, "for"), "reference");
    cr_assert_not_null(ref);
    cr_expect(strncmp(ref, "Patient/", 8) == 0, "urn:uuid resolved: %s", ref);
    lg_resp_free(&r);
    free(task);
}

Test(xml, negotiation_406_and_415)
{
    const char *html[] = {"Accept: text/html", NULL};
    lg_resp r = lg_http(&S, "GET", "/metadata", html, NULL);
    cr_expect_eq(r.status, 406);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/metadata?_format=turtle", NULL, NULL);
    cr_expect_eq(r.status, 406);
    cr_expect_not_null(r.json, "an OperationOutcome");
    lg_resp_free(&r);
    /* _format overrides Accept */
    const char *json[] = {"Accept: application/fhir+json", NULL};
    r = lg_http(&S, "GET", "/metadata?_format=xml", json, NULL);
    cr_expect_eq(r.status, 200);
    assert_fhir_xml(&r, "CapabilityStatement");
    cr_expect(strstr(r.body, "<format value=\"xml\"/>"));
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/metadata?_format=json", ACCEPT_XML, NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_not_null(r.json);
    lg_resp_free(&r);
    /* q-values: XML preferred */
    const char *q[] = {"Accept: application/fhir+json;q=0.5, application/fhir+xml", NULL};
    r = lg_http(&S, "GET", "/metadata", q, NULL);
    assert_fhir_xml(&r, "CapabilityStatement");
    lg_resp_free(&r);
    /* an unsupported body type is 415, its OperationOutcome in the format asked */
    const char *plain[] = {"Content-Type: text/plain", "Accept: application/fhir+xml", NULL};
    r = lg_http(&S, "POST", "/Patient", plain, "hello");
    cr_expect_eq(r.status, 415);
    assert_fhir_xml(&r, "OperationOutcome");
    lg_resp_free(&r);
}

Test(xml, errors_carry_xml_line_and_column)
{
    /* not well-formed */
    lg_resp r = lg_http(&S, "POST", "/Patient", XML_CT,
                        "<Patient xmlns=\"http://hl7.org/fhir\">\n<active value=\"true\">\n</Patient>");
    cr_expect_eq(r.status, 400);
    assert_fhir_xml(&r, "OperationOutcome");
    cr_expect(strstr(r.body, "operationoutcome-issue-line\"><valueInteger value=\"3\"/>"), "%s",
              r.body);
    lg_resp_free(&r);
    /* unknown element */
    r = lg_http(&S, "POST", "/Patient", XML_CT_JSON_ACCEPT,
                "<Patient xmlns=\"http://hl7.org/fhir\">\n  <colour value=\"red\"/>\n</Patient>");
    cr_expect_eq(r.status, 400);
    cr_assert_not_null(r.json);
    cJSON *issue = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "issue"), 0);
    cr_expect_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(issue, "location"), 0)->valuestring,
                     "Line[2] Col[3]");
    lg_resp_free(&r);
    /* a validation error found on the converted tree is located in the XML */
    r = lg_http(&S, "POST", "/Patient", XML_CT_JSON_ACCEPT,
                "<Patient xmlns=\"http://hl7.org/fhir\">\n<name><family value=\"A\"/></name>\n"
                "\n   <birthDate value=\"2010-02-30\"/>\n</Patient>");
    cr_expect_eq(r.status, 400);
    cr_assert_not_null(r.json);
    issue = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "issue"), 0);
    cr_expect_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(issue, "expression"), 0)->valuestring,
                     "Patient.birthDate");
    cr_expect_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(issue, "location"), 0)->valuestring,
                     "Line[4] Col[4]");
    lg_resp_free(&r);
    /* a narrative with a script is refused */
    r = lg_http(&S, "POST", "/Patient", XML_CT_JSON_ACCEPT,
                "<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/>"
                "<div xmlns=\"http://www.w3.org/1999/xhtml\">x<script>alert(1)</script></div>"
                "</text></Patient>");
    cr_expect_eq(r.status, 400);
    cr_expect(r.body && strstr(r.body, "script"), "%s", r.body);
    lg_resp_free(&r);
}

Test(xml, attacks_get_400_and_the_server_stays_up)
{
    const char *attacks[] = {
        "<?xml version=\"1.0\"?><!DOCTYPE Patient [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
        "<Patient xmlns=\"http://hl7.org/fhir\"><name><family value=\"&xxe;\"/></name></Patient>",
        "<!DOCTYPE Patient SYSTEM \"http://127.0.0.1:9/x.dtd\"><Patient xmlns=\"http://hl7.org/fhir\"/>",
        "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
        "]><Patient xmlns=\"http://hl7.org/fhir\"><name><family value=\"&d;\"/></name></Patient>",
    };
    for(size_t i = 0; i < sizeof(attacks) / sizeof(*attacks); i++) {
        lg_resp r = lg_http(&S, "POST", "/Patient", XML_CT_JSON_ACCEPT, attacks[i]);
        cr_expect_eq(r.status, 400, "attack %zu: %ld", i, r.status);
        cr_expect(r.body && strstr(r.body, "DOCTYPE"), "attack %zu: %s", i, r.body);
        cr_expect(r.body && !strstr(r.body, "root:"), "attack %zu leaked a file", i);
        lg_resp_free(&r);
    }
    /* deep nesting */
    size_t levels = 5000;
    char *deep = malloc(levels * 6 + 64);
    cr_assert_not_null(deep);
    size_t n = (size_t)snprintf(deep, 64, "<Questionnaire xmlns=\"http://hl7.org/fhir\">");
    for(size_t i = 0; i < levels; i++) {
        memcpy(deep + n, "<item>", 6);
        n += 6;
    }
    lg_resp r = lg_http_n(&S, "POST", "/Questionnaire", XML_CT, deep, n);
    cr_expect(r.status == 413 || r.status == 400, "deep: %ld", r.status);
    lg_resp_free(&r);
    free(deep);
    r = lg_http(&S, "GET", "/metadata", NULL, NULL);
    cr_expect_eq(r.status, 200, "server still up");
    lg_resp_free(&r);
}
