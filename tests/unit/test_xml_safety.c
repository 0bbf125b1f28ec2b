/* test_xml_safety.c - the XML attacks each refused with an issue and no
 * crash (the suite also runs under ASan): external entities (XXE), an
 * external DTD, billion laughs, deep nesting, a huge attribute; and the
 * narrative rules (txt-1/txt-2) on divs from either wire format. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/defs.h"
#include "loopgate/xml.h"
#include "lg_test.h"

static lg_defs *D;

static void load(void)
{
    lg_issues is = {0};
    lg_status st = lg_defs_load(lg_test_defs_dir(), lg_defs_default_types, &D, &is);
    lg_issues_free(&is);
    cr_assert_eq(st, LG_OK);
}

static void unload(void)
{
    lg_defs_free(D);
}

TestSuite(xml_safety, .init = load, .fini = unload, .timeout = 60);

/* Parse xml; it must be refused with status want and an issue whose text
 * holds needle. Nothing of the payload may reach the tree. */
static void refused(const char *xml, size_t len, lg_status want, const char *needle)
{
    cJSON *j = NULL;
    lg_issues is = {0};
    lg_status st = lg_xml_to_json(D, xml, len, NULL, &j, &is);
    cr_expect_eq(st, want, "status %d, expected %d (%s)", st, want,
                 is.count ? is.items[0].diagnostics : "no issue");
    cr_expect_null(j);
    cr_assert_gt(is.count, 0);
    cr_expect(strstr(is.items[0].diagnostics, needle), "'%s' not in '%s'", needle,
              is.items[0].diagnostics);
    cJSON_Delete(j);
    lg_issues_free(&is);
}

Test(xml_safety, external_entity_is_refused)
{
    const char *x = "<?xml version=\"1.0\"?>\n<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "
                    "\"file:///etc/passwd\">]>\n<Patient xmlns=\"http://hl7.org/fhir\"><name><family "
                    "value=\"&xxe;\"/></name></Patient>";
    refused(x, strlen(x), LG_EINVAL, "DOCTYPE");
}

Test(xml_safety, parameter_entity_and_external_dtd_are_refused)
{
    const char *x = "<!DOCTYPE Patient SYSTEM \"http://127.0.0.1:1/evil.dtd\">"
                    "<Patient xmlns=\"http://hl7.org/fhir\"/>";
    refused(x, strlen(x), LG_EINVAL, "DOCTYPE");
    const char *y = "<!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>"
                    "<Patient xmlns=\"http://hl7.org/fhir\"/>";
    refused(y, strlen(y), LG_EINVAL, "DOCTYPE");
}

Test(xml_safety, billion_laughs_is_refused)
{
    char x[4096];
    int n = snprintf(x, sizeof(x), "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    /* lol1 is ten lol, lol2 ten lol1, ... lol9 is 10^9 "lol"s */
    for(int i = 1; i <= 9; i++) {
        char prev[8];
        snprintf(prev, sizeof(prev), i > 1 ? "lol%d" : "lol", i - 1);
        n += snprintf(x + n, sizeof(x) - (size_t)n, "<!ENTITY lol%d \"", i);
        for(int k = 0; k < 10; k++)
            n += snprintf(x + n, sizeof(x) - (size_t)n, "&%s;", prev);
        n += snprintf(x + n, sizeof(x) - (size_t)n, "\">");
    }
    n += snprintf(x + n, sizeof(x) - (size_t)n,
                  "]><Patient xmlns=\"http://hl7.org/fhir\"><name><family value=\"&lol9;\"/>"
                  "</name></Patient>");
    refused(x, (size_t)n, LG_EINVAL, "DOCTYPE");
}

Test(xml_safety, undeclared_entity_is_not_well_formed)
{
    const char *x = "<Patient xmlns=\"http://hl7.org/fhir\"><name><family value=\"&xxe;\"/></name>"
                    "</Patient>";
    refused(x, strlen(x), LG_EINVAL, "not well-formed");
}

Test(xml_safety, deep_nesting_is_refused)
{
    /* far past the depth limit and past libxml2's own 256 */
    size_t levels = 100000, cap = levels * 30 + 200, n = 0;
    char *x = malloc(cap);
    cr_assert_not_null(x);
    n += (size_t)snprintf(x, cap, "<Questionnaire xmlns=\"http://hl7.org/fhir\">");
    for(size_t i = 0; i < levels; i++)
        n += (size_t)snprintf(x + n, cap - n, "<item>");
    refused(x, n, LG_ETOOLARGE, "deeper");
    /* 70 levels of legal Questionnaire.item nesting: also refused (limit 64) */
    n = (size_t)snprintf(x, cap, "<Questionnaire xmlns=\"http://hl7.org/fhir\">");
    for(size_t i = 0; i < 70; i++)
        n += (size_t)snprintf(x + n, cap - n, "<item><linkId value=\"a\"/>");
    for(size_t i = 0; i < 70; i++)
        n += (size_t)snprintf(x + n, cap - n, "</item>");
    n += (size_t)snprintf(x + n, cap - n, "</Questionnaire>");
    refused(x, n, LG_ETOOLARGE, "deeper");
    free(x);
}

Test(xml_safety, huge_attribute_and_document_are_refused)
{
    size_t big = (2u << 20) + 100;
    char *x = malloc(big + 200);
    cr_assert_not_null(x);
    size_t n = (size_t)snprintf(x, 200, "<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"");
    memset(x + n, 'a', big);
    n += big;
    n += (size_t)snprintf(x + n, 200, "\"/></Patient>");
    refused(x, n, LG_ETOOLARGE, "attribute");
    lg_json_limits lim = lg_json_default_limits;
    lim.max_bytes = 1024;
    cJSON *j = NULL;
    lg_issues is = {0};
    cr_expect_eq(lg_xml_to_json(D, x, n, &lim, &j, &is), LG_ETOOLARGE);
    cr_expect_null(j);
    lg_issues_free(&is);
    free(x);
}

Test(xml_safety, garbage_and_truncation_fail_cleanly)
{
    const char *full = "<Patient xmlns=\"http://hl7.org/fhir\"><name><family value=\"R\"/>"
                       "<given value=\"A\"/></name><birthDate value=\"2001-01-01\"/></Patient>";
    size_t len = strlen(full);
    /* every prefix: refused (or, for the whole, accepted), never a crash */
    for(size_t k = 0; k <= len; k++) {
        cJSON *j = NULL;
        lg_issues is = {0};
        lg_status st = lg_xml_to_json(D, full, k, NULL, &j, &is);
        if(k == len)
            cr_expect_eq(st, LG_OK);
        else
            cr_expect_neq(st, LG_OK, "prefix of %zu accepted", k);
        cJSON_Delete(j);
        lg_issues_free(&is);
    }
    refused("\x00\x01\x02", 3, LG_EINVAL, "well-formed");
    refused("", 0, LG_EINVAL, "empty");
}

static int narrative_errors(const char *div)
{
    lg_issues is = {0};
    lg_status st = lg_xhtml_check(div, strlen(div), "Patient.text.div", &is);
    size_t n = lg_issues_errors(&is);
    if(n)
        cr_expect_str_eq(is.items[0].location, "Patient.text.div");
    lg_issues_free(&is);
    cr_expect_eq(st == LG_OK, n == 0);
    return (int)n;
}

#define DIV "<div xmlns=\"http://www.w3.org/1999/xhtml\">"

Test(xml_safety, narrative_rules)
{
    cr_expect_eq(narrative_errors(DIV "<p>Ana <b>Rivera</b></p><table border=\"1\"><tr><td "
                                      "colspan=\"2\">x</td></tr></table><img src=\"#pic\" "
                                      "alt=\"p\"/><a href=\"http://example.org\">l</a></div>"),
                 0);
    cr_expect_gt(narrative_errors(DIV "<script>alert(1)</script>x</div>"), 0);
    cr_expect_gt(narrative_errors(DIV "<p onclick=\"alert(1)\">x</p></div>"), 0);
    cr_expect_gt(narrative_errors(DIV "<img src=\"http://evil.example/t.gif\"/></div>"), 0);
    cr_expect_gt(narrative_errors(DIV "<p style=\"background:url(http://evil/x)\">x</p></div>"), 0);
    cr_expect_gt(narrative_errors(DIV "<a href=\"javascript:alert(1)\">x</a></div>"), 0);
    cr_expect_gt(narrative_errors(DIV "<iframe>x</iframe></div>"), 0);
    cr_expect_gt(narrative_errors(DIV "<form>x</form></div>"), 0);
    cr_expect_gt(narrative_errors(DIV "<img src=\"//evil.example/t.gif\"/></div>"), 0);
    cr_expect_eq(narrative_errors(DIV "<img src=\"pic.png\"/></div>"), 0);
    /* txt-2 is a warning (the HL7 validator's level) */
    lg_issues is = {0};
    cr_expect_eq(lg_xhtml_check(DIV "   </div>", strlen(DIV "   </div>"), NULL, &is), LG_OK);
    cr_expect(is.count == 1 && is.items[0].severity == LG_SEV_WARNING);
    lg_issues_free(&is);
    cr_expect_gt(narrative_errors("<div>no namespace</div>"), 0);
    cr_expect_gt(narrative_errors(DIV "<p>unclosed</div>"), 0);
    cr_expect_gt(narrative_errors(DIV "x<p xmlns=\"http://other\">y</p></div>"), 0);
    cr_expect_eq(narrative_errors(DIV "<img src=\"data:image/png;base64,AAAA\"/></div>"), 0);
}
