/* test_xml_roundtrip.c - JSON -> XML -> JSON is the identity on every
 * official R4 example and every resource of the US Core and SDOHCC
 * packages; the FHIRPath suite's XML inputs parse; and hand-written XML
 * exercises each mapping rule (primitive extensions in arrays, choice
 * names, contained and Bundle resources, the div, comments). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/xml.h"
#include "lg_test.h"

static lg_defs *D;

static void load(void)
{
    lg_issues is = {0};
    lg_status st = lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &D, &is);
    lg_issues_free(&is);
    cr_assert_eq(st, LG_OK, "definitions load from %s", lg_test_defs_dir());
}

static void unload(void)
{
    lg_defs_free(D);
}

TestSuite(xml, .init = load, .fini = unload, .timeout = 300);

/* Structural equality; objects ignore key order (XML reorders to the
 * definition's order), numbers compare by their exact text. */
static int same(const cJSON *a, const cJSON *b, char *where, size_t wn)
{
    if((a->type & 0xFF) != (b->type & 0xFF)) {
        snprintf(where, wn, "%s: type differs", a->string ? a->string : "?");
        return 0;
    }
    if(cJSON_IsNumber(a)) {
        /* lg_json_print writes a kept literal: 1.50 must come back 1.50 */
        char *pa = lg_json_print(a, 0), *pb = lg_json_print(b, 0);
        int ok = pa && pb && strcmp(pa, pb) == 0;
        if(!ok)
            snprintf(where, wn, "%s: %s vs %s", a->string ? a->string : "?", pa, pb);
        free(pa);
        free(pb);
        return ok;
    }
    if(cJSON_IsString(a)) {
        if(strcmp(a->valuestring, b->valuestring) != 0) {
            snprintf(where, wn, "%s: '%.80s' vs '%.80s'", a->string ? a->string : "?",
                     a->valuestring, b->valuestring);
            return 0;
        }
        return 1;
    }
    if(cJSON_IsArray(a) && a->string && a->string[0] == '_') {
        /* A `_name` array shorter than its value array (US Core writes
         * some) means nulls at the end: XML cannot tell, so compare so. */
        const cJSON *x = a->child, *y = b->child;
        for(; x || y; x = x ? x->next : NULL, y = y ? y->next : NULL) {
            if(!x || !y) {
                if(!cJSON_IsNull(x ? x : y)) {
                    snprintf(where, wn, "%s: array sizes differ", a->string);
                    return 0;
                }
            } else if(!same(x, y, where, wn)) {
                return 0;
            }
        }
        return 1;
    }
    if(cJSON_IsArray(a)) {
        if(cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) {
            snprintf(where, wn, "%s: array sizes %d vs %d", a->string ? a->string : "?",
                     cJSON_GetArraySize(a), cJSON_GetArraySize(b));
            return 0;
        }
        for(const cJSON *x = a->child, *y = b->child; x; x = x->next, y = y->next)
            if(!same(x, y, where, wn))
                return 0;
        return 1;
    }
    if(cJSON_IsObject(a)) {
        if(cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) {
            snprintf(where, wn, "%s: %d vs %d keys", a->string ? a->string : "(object)",
                     cJSON_GetArraySize(a), cJSON_GetArraySize(b));
            return 0;
        }
        for(const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if(!y) {
                snprintf(where, wn, "key '%s' lost", x->string);
                return 0;
            }
            if(!same(x, y, where, wn))
                return 0;
        }
        return 1;
    }
    return 1;
}

/* JSON -> XML -> JSON for one file; 1 when identical, 0 when not, -1 when
 * the file is not a resource. */
static int roundtrip_file(const char *path)
{
    size_t len;
    char *text = lg_test_read_text(path, &len);
    cr_assert_not_null(text, "%s", path);
    cJSON *j = cJSON_ParseWithLength(text, len);
    if(j)
        cr_assert_geq(lg_json_attach_literals(j, text, len), 0, "%s: number tokens", path);
    free(text);
    if(!j || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "resourceType"))) {
        cJSON_Delete(j);
        return -1;
    }
    lg_buf b;
    lg_buf_init(&b, 256u << 20);
    lg_issues is = {0};
    lg_status st = lg_json_to_xml(D, j, &b, &is);
    int ok = 0;
    char where[400] = "";
    if(st) {
        snprintf(where, sizeof(where), "to XML: %s at %s", is.count ? is.items[0].diagnostics : "?",
                 is.count && is.items[0].location ? is.items[0].location : "-");
    } else {
        cJSON *back = NULL;
        lg_json_limits lim = lg_json_default_limits;
        lim.max_bytes = 256u << 20;
        st = lg_xml_to_json(D, b.data, b.len, &lim, &back, &is);
        if(st)
            snprintf(where, sizeof(where), "from XML: %s at %s line %d",
                     is.count ? is.items[0].diagnostics : "?",
                     is.count && is.items[0].location ? is.items[0].location : "-",
                     is.count ? is.items[0].line : 0);
        else
            ok = same(j, back, where, sizeof(where));
        cJSON_Delete(back);
    }
    if(!ok)
        fprintf(stderr, "round trip %s: %s\n", path, where);
    lg_issues_free(&is);
    lg_buf_free(&b);
    cJSON_Delete(j);
    return ok;
}

static void sweep(const char *dir, int *n, int *bad)
{
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh, "%s", dir);
    struct dirent *de;
    while((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if(nl < 6 || strcmp(de->d_name + nl - 5, ".json") || !strcmp(de->d_name, "package.json") ||
           strstr(de->d_name, ".index."))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        int r = roundtrip_file(path);
        if(r < 0)
            continue;
        (*n)++;
        if(!r)
            (*bad)++;
    }
    closedir(dh);
}

Test(xml, every_official_r4_example_round_trips)
{
    int n = 0, bad = 0;
    sweep(LG_SHARED_DIR "/fhir/r4-examples", &n, &bad);
    fprintf(stderr, "xml round trip: %d R4 examples, %d differ\n", n, bad);
    cr_expect_gt(n, 150);
    cr_expect_eq(bad, 0, "%d of %d R4 examples do not round-trip", bad, n);
}

Test(xml, every_package_resource_round_trips)
{
    int n = 0, bad = 0;
    sweep(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.core#7.0.0/package", &n, &bad);
    int n1 = n;
    sweep(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package", &n, &bad);
    fprintf(stderr, "xml round trip: %d US Core + %d SDOHCC resources, %d differ\n", n1, n - n1,
            bad);
    cr_expect_gt(n1, 100);
    cr_expect_gt(n - n1, 50);
    cr_expect_eq(bad, 0, "%d of %d package resources do not round-trip", bad, n);
}

Test(xml, fhirpath_suite_xml_inputs_parse)
{
    const char *dir = LG_SHARED_DIR "/fhir/fhirpath/input";
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh);
    struct dirent *de;
    int n = 0;
    while((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if(nl < 5 || strcmp(de->d_name + nl - 4, ".xml"))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        size_t len;
        char *text = lg_test_read_text(path, &len);
        cr_assert_not_null(text);
        cJSON *j = NULL;
        lg_issues is = {0};
        lg_status st = lg_xml_to_json(D, text, len, NULL, &j, &is);
        cr_expect_eq(st, LG_OK, "%s: %s (line %d)", de->d_name,
                     is.count ? is.items[0].diagnostics : "", is.count ? is.items[0].line : 0);
        /* the root element names the resource type */
        char rt[64];
        snprintf(rt, sizeof(rt), "%.*s", (int)(strcspn(de->d_name, "-.")), de->d_name);
        const char *got = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "resourceType"));
        cr_expect(got && strcasecmp(got, rt) == 0, "%s: resourceType %s", de->d_name,
                  got ? got : "(none)");
        /* and what was read writes back and reads again to the same tree */
        if(j) {
            lg_buf b;
            lg_buf_init(&b, 64u << 20);
            cr_expect_eq(lg_json_to_xml(D, j, &b, &is), LG_OK, "%s writes", de->d_name);
            cJSON *again = NULL;
            cr_expect_eq(lg_xml_to_json(D, b.data, b.len, NULL, &again, &is), LG_OK);
            char where[400] = "";
            cr_expect(again && same(j, again, where, sizeof(where)), "%s: %s", de->d_name, where);
            cJSON_Delete(again);
            lg_buf_free(&b);
        }
        cJSON_Delete(j);
        lg_issues_free(&is);
        free(text);
        n++;
    }
    closedir(dh);
    fprintf(stderr, "xml: %d FHIRPath suite XML inputs parse\n", n);
    cr_expect_geq(n, 5);
}

static cJSON *from_xml(const char *xml, lg_issues *is)
{
    cJSON *j = NULL;
    lg_xml_to_json(D, xml, strlen(xml), NULL, &j, is);
    return j;
}

static cJSON *from_xml_ok(const char *xml)
{
    lg_issues is = {0};
    cJSON *j = from_xml(xml, &is);
    cr_assert_not_null(j, "parse: %s", is.count ? is.items[0].diagnostics : "?");
    lg_issues_free(&is);
    return j;
}

static char *json_of(const char *xml)
{
    lg_issues is = {0};
    cJSON *j = from_xml(xml, &is);
    cr_assert_not_null(j, "parse: %s", is.count ? is.items[0].diagnostics : "?");
    lg_issues_free(&is);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

Test(xml, primitive_arrays_with_extensions_line_up)
{
    char *s = json_of(
        "<Patient xmlns=\"http://hl7.org/fhir\"><!-- dropped -->"
        "<name><given value=\"Ana\"/><given id=\"g2\"><extension url=\"http://x\">"
        "<valueString value=\"y\"/></extension></given><given value=\"Lu\"/></name>"
        "<active value=\"true\"/><birthDate value=\"2010-02-03\"><extension url=\"http://t\">"
        "<valueDateTime value=\"2010-02-03T10:00:00Z\"/></extension></birthDate></Patient>");
    cr_expect_str_eq(s,
                     "{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"Ana\",null,\"Lu\"],"
                     "\"_given\":[null,{\"id\":\"g2\",\"extension\":[{\"url\":\"http://x\","
                     "\"valueString\":\"y\"}]},null]}],\"active\":true,\"birthDate\":\"2010-02-03\","
                     "\"_birthDate\":{\"extension\":[{\"url\":\"http://t\",\"valueDateTime\":"
                     "\"2010-02-03T10:00:00Z\"}]}}");
    free(s);
}

Test(xml, numbers_choices_contained_and_div)
{
    char *s = json_of(
        "<?xml version=\"1.0\"?><Observation xmlns=\"http://hl7.org/fhir\"><id value=\"o1\"/>"
        "<text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\">"
        "<p>5 &amp; <b>x</b></p></div></text>"
        "<contained><Patient><id value=\"p\"/></Patient></contained>"
        "<status value=\"final\"/><code><text value=\"t\"/></code>"
        "<valueQuantity><value value=\"1.5e3\"/><unit value=\"mg\"/></valueQuantity>"
        "<component><code><text value=\"c\"/></code><valueInteger value=\"-7\"/></component>"
        "</Observation>");
    cr_expect_str_eq(s,
                     "{\"resourceType\":\"Observation\",\"id\":\"o1\",\"text\":{\"status\":"
                     "\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">"
                     "<p>5 &amp; <b>x</b></p></div>\"},\"contained\":[{\"resourceType\":"
                     "\"Patient\",\"id\":\"p\"}],\"status\":\"final\",\"code\":{\"text\":\"t\"},"
                     "\"valueQuantity\":{\"value\":1500,\"unit\":\"mg\"},\"component\":[{\"code\":"
                     "{\"text\":\"c\"},\"valueInteger\":-7}]}");
    free(s);
}

Test(xml, json_to_xml_orders_by_definition_and_escapes)
{
    cJSON *j = cJSON_Parse("{\"status\":\"active\",\"resourceType\":\"Patient\",\"active\":true,"
                           "\"name\":[{\"text\":\"a<b & \\\"c\\\"\\nd\",\"id\":\"n1\"}],"
                           "\"id\":\"x\",\"extension\":[{\"valueDecimal\":0.1,\"url\":\"http://u\"}]}");
    cr_assert_not_null(j);
    cJSON_DeleteItemFromObject(j, "status"); /* not a Patient element */
    lg_buf b;
    lg_buf_init(&b, 1 << 20);
    lg_issues is = {0};
    cr_assert_eq(lg_json_to_xml(D, j, &b, &is), LG_OK);
    cr_expect_str_eq(b.data,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Patient xmlns=\"http://hl7.org/"
                     "fhir\"><id value=\"x\"/><extension url=\"http://u\"><valueDecimal value="
                     "\"0.1\"/></extension><active value=\"true\"/><name id=\"n1\"><text value="
                     "\"a&lt;b &amp; &quot;c&quot;&#xA;d\"/></name></Patient>\n");
    /* fhir_comments (the JSON form's comments) are dropped, as the XML page says */
    cJSON *c = cJSON_Parse("{\"resourceType\":\"Patient\",\"fhir_comments\":[\"a note\"],"
                           "\"active\":true,\"name\":[{\"fhir_comments\":[\"x\"],\"family\":\"F\"}]}");
    cr_assert_not_null(c);
    lg_buf cb;
    lg_buf_init(&cb, 1 << 20);
    cr_assert_eq(lg_json_to_xml(D, c, &cb, &is), LG_OK);
    cr_expect(!strstr(cb.data, "comment") && !strstr(cb.data, "note"), "%s", cb.data);
    cr_expect(strstr(cb.data, "<family value=\"F\"/>"), "%s", cb.data);
    lg_buf_free(&cb);
    cJSON_Delete(c);
    /* a key that is no element is reported, not silently lost */
    cJSON_AddStringToObject(j, "colour", "red");
    lg_buf_free(&b);
    lg_buf_init(&b, 1 << 20);
    cr_expect_eq(lg_json_to_xml(D, j, &b, &is), LG_EINVAL);
    cr_expect(is.count && strstr(is.items[is.count - 1].diagnostics, "colour"));
    lg_buf_free(&b);
    lg_issues_free(&is);
    cJSON_Delete(j);
}

Test(xml, bundle_entries_hold_resources)
{
    char *s = json_of("<Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"transaction\"/>"
                      "<entry><fullUrl value=\"urn:uuid:1\"/><resource><Patient><active "
                      "value=\"false\"/></Patient></resource><request><method value=\"POST\"/>"
                      "<url value=\"Patient\"/></request></entry></Bundle>");
    cr_expect_str_eq(s, "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{"
                        "\"fullUrl\":\"urn:uuid:1\",\"resource\":{\"resourceType\":\"Patient\","
                        "\"active\":false},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}}]}");
    free(s);
}

/* Each non-FHIR shape is an error with the element's line and column. */
static void expect_error(const char *xml, const char *what, int line, int col)
{
    lg_issues is = {0};
    cJSON *j = from_xml(xml, &is);
    cr_expect_null(j, "%s: accepted", what);
    cr_assert_gt(is.count, 0, "%s: no issue", what);
    cr_expect_eq(is.items[0].line, line, "%s: line %d, expected %d (%s)", what, is.items[0].line,
                 line, is.items[0].diagnostics);
    if(col)
        cr_expect_eq(is.items[0].col, col, "%s: col %d, expected %d (%s)", what, is.items[0].col,
                     col, is.items[0].diagnostics);
    cJSON_Delete(j);
    lg_issues_free(&is);
}

Test(xml, errors_have_line_and_column)
{
    expect_error("<Patient xmlns=\"http://hl7.org/fhir\">\n  <colour value=\"red\"/>\n</Patient>",
                 "unknown element", 2, 3);
    expect_error("<Patient xmlns=\"http://hl7.org/fhir\">\n <active value=\"yes\"/></Patient>",
                 "bad boolean", 2, 2);
    expect_error("<Patient xmlns=\"http://other\"><active value=\"true\"/></Patient>",
                 "wrong namespace", 1, 1);
    expect_error("<Patient xmlns=\"http://hl7.org/fhir\">\n\n<active>true</active></Patient>",
                 "text in element", 3, 1);
    expect_error("<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"true\" foo=\"1\"/>"
                 "</Patient>", "stray attribute", 1, 38);
    expect_error("<Patient xmlns=\"http://hl7.org/fhir\">\n<active value=\"true\">\n</Patient>",
                 "not well-formed", 3, 0);
    expect_error("<Patient xmlns=\"http://hl7.org/fhir\"><name><id value=\"x\"/></name></Patient>",
                 "id as element in a datatype", 1, 44);
    expect_error("<Nonsense xmlns=\"http://hl7.org/fhir\"/>", "unknown resource", 1, 1);
    lg_issues is = {0};
    cJSON *j = from_xml("<Patient xmlns=\"http://hl7.org/fhir\"><gender value=\"x\"/><colour/>"
                        "</Patient>", &is);
    cr_expect_null(j);
    cr_expect_str_eq(is.items[0].location, "Patient.colour");
    lg_issues_free(&is);
}

Test(xml, locate_finds_elements_in_xml)
{
    const char *x = "<Bundle xmlns=\"http://hl7.org/fhir\">\n<entry>\n<resource>\n<Patient>\n"
                    "  <name><given value=\"a\"/><given value=\"b\"/></name>\n</Patient>\n"
                    "</resource>\n</entry>\n</Bundle>";
    int line = 0, col = 0;
    cr_expect_eq(lg_xml_locate(x, strlen(x), "Bundle.entry[0].resource.name[0].given[1]", &line,
                               &col), 1);
    cr_expect_eq(line, 5);
    cr_expect_eq(col, 27, "col %d", col);
    cr_expect_eq(lg_xml_locate(x, strlen(x), "Bundle.entry[0].resource.birthDate", &line, &col), 0);
    cr_expect_eq(line, 4, "line %d", line); /* the Patient, the nearest ancestor there is */
    cr_expect_eq(lg_xml_locate("<a", 2, "Bundle", &line, &col), -1);
}

Test(xml, div_with_namespaces_declared_outside_stands_alone)
{
    /* the div's source would not parse alone (x: is declared on the root),
     * so the kept text declares it */
    char *s = json_of("<Patient xmlns=\"http://hl7.org/fhir\" xmlns:x=\"urn:x\"><text><status "
                      "value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\"><p "
                      "x:a=\"1\">y</p></div></text></Patient>");
    cr_expect(strstr(s, "xmlns:x=\\\"urn:x\\\""), "%s", s);
    cJSON *j = cJSON_Parse(s);
    const char *div =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "text"), "div"));
    cr_assert_not_null(div);
    lg_buf b;
    lg_buf_init(&b, 1 << 20);
    lg_issues is = {0};
    cr_expect_eq(lg_json_to_xml(D, j, &b, &is), LG_OK, "the div is well-formed alone");
    lg_buf_free(&b);
    lg_issues_free(&is);
    cJSON_Delete(j);
    free(s);
    /* a prefixed XHTML div with the prefix declared outside */
    s = json_of("<Patient xmlns=\"http://hl7.org/fhir\" xmlns:h=\"http://www.w3.org/1999/xhtml\">"
                "<text><status value=\"generated\"/><h:div><h:p>x</h:p></h:div></text></Patient>");
    cr_expect(strstr(s, "<h:div xmlns:h=\\\"http://www.w3.org/1999/xhtml\\\"><h:p>x</h:p></h:div>"),
              "%s", s);
    free(s);
    /* source text kept as written: character references and quotes */
    s = json_of("<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/>"
                "<div xmlns='http://www.w3.org/1999/xhtml'>a&#160;b <br/></div></text></Patient>");
    cr_expect(strstr(s, "<div xmlns='http://www.w3.org/1999/xhtml'>a&#160;b <br/></div>"), "%s", s);
    free(s);
}

/* Exact decimals both ways (FHIR json.html: 1.50 is not 1.5). The JSON is
 * in definition order, so its text must come back byte for byte. */
static const char DEC_JSON[] =
    "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"t\"},"
    "\"valueQuantity\":{\"value\":1.50,\"unit\":\"mg\"},\"component\":["
    "{\"code\":{\"text\":\"a\"},\"valueQuantity\":{\"value\":1e2}},"
    "{\"code\":{\"text\":\"b\"},\"valueQuantity\":{\"value\":100.000}},"
    "{\"code\":{\"text\":\"c\"},\"valueQuantity\":{\"value\":12345678901234567890}},"
    "{\"code\":{\"text\":\"d\"},\"valueQuantity\":{\"value\":-0.10E-3}},"
    "{\"code\":{\"text\":\"e\"},\"valueQuantity\":{\"value\":-0}},"
    "{\"code\":{\"text\":\"f\"},\"valueInteger\":7}]}";

static char *to_xml_text(const cJSON *j)
{
    lg_buf b;
    lg_buf_init(&b, 1u << 20);
    lg_issues is = {0};
    cr_assert_eq(lg_json_to_xml(D, j, &b, &is), LG_OK, "%s",
                 is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
    size_t n;
    return lg_buf_take(&b, &n);
}

Test(xml, exact_decimals_json_to_xml_to_json)
{
    cJSON *j = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_json_parse(DEC_JSON, strlen(DEC_JSON), NULL, &j, &is), LG_OK);
    char *xml = to_xml_text(j);
    static const char *const want[] = {"1.50", "1e2", "100.000", "12345678901234567890",
                                       "-0.10E-3", "-0", "7"};
    for(size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char attr[64];
        snprintf(attr, sizeof attr, " value=\"%s\"/>", want[i]);
        cr_expect_not_null(strstr(xml, attr), "XML has %s: %s", attr, xml);
    }
    cJSON *back = NULL;
    cr_assert_eq(lg_xml_to_json(D, xml, strlen(xml), NULL, &back, &is), LG_OK);
    char *s = lg_json_print(back, 0);
    cr_expect_str_eq(s, DEC_JSON);
    free(s);
    free(xml);
    cJSON_Delete(back);
    cJSON_Delete(j);
    lg_issues_free(&is);
}

Test(xml, exact_decimals_xml_to_json_to_xml)
{
    const char *xml1 =
        "<Observation xmlns=\"http://hl7.org/fhir\"><status value=\"final\"/>"
        "<code><text value=\"t\"/></code>"
        "<valueQuantity><value value=\"1.50\"/></valueQuantity>"
        "<component><code><text value=\"a\"/></code>"
        "<valueQuantity><value value=\"1.0e+2\"/></valueQuantity></component>"
        "<component><code><text value=\"b\"/></code>"
        "<valueQuantity><value value=\"0.10\"/></valueQuantity></component>"
        "<component><code><text value=\"c\"/></code>"
        "<valueQuantity><value value=\"98765432109876543210\"/></valueQuantity></component>"
        "</Observation>";
    cJSON *j = from_xml_ok(xml1);
    char *s = lg_json_print(j, 0);
    cr_expect_not_null(strstr(s, "\"value\":1.50}"), "%s", s);
    cr_expect_not_null(strstr(s, "\"value\":1.0e+2}"), "%s", s);
    cr_expect_not_null(strstr(s, "\"value\":0.10}"), "%s", s);
    cr_expect_not_null(strstr(s, "\"value\":98765432109876543210}"), "%s", s);
    /* through JSON text, as the server stores it, and back to XML */
    cJSON *stored = NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_json_parse(s, strlen(s), NULL, &stored, &is), LG_OK);
    char *xml2 = to_xml_text(stored);
    const char *vals[] = {"1.50", "1.0e+2", "0.10", "98765432109876543210"};
    for(size_t i = 0; i < 4; i++) {
        char attr[64];
        snprintf(attr, sizeof attr, "<value value=\"%s\"/>", vals[i]);
        cr_expect_not_null(strstr(xml2, attr), "XML has %s: %s", attr, xml2);
    }
    /* and the XML written is a fixed point */
    cJSON *j3 = from_xml_ok(xml2);
    char *xml3 = to_xml_text(j3);
    cr_expect_str_eq(xml3, xml2);
    free(xml3);
    free(xml2);
    free(s);
    cJSON_Delete(j3);
    cJSON_Delete(stored);
    cJSON_Delete(j);
    lg_issues_free(&is);
}
