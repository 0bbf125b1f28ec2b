/* Integration: decimals keep their exact text end to end (FHIR json.html:
 * "1.50" is not "1.5"): create, read, search, XML in and out, PATCH and
 * transaction entries serve the text that was sent, while search still
 * matches by value. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void) { lg_it_start(&S, NULL); }
static void down(void) { lg_it_cleanup(&S); }
TestSuite(decimal, .init = up, .fini = down, .timeout = 120);

/* An Observation with code `code` and these exact decimals. */
static char *obs(const char *code)
{
    return lg_fmt("{\"resourceType\":\"Observation\",\"status\":\"final\","
                  "\"code\":{\"coding\":[{\"system\":\"urn:dec\",\"code\":\"%s\"}]},"
                  "\"valueQuantity\":{\"value\":1.50,\"unit\":\"mg\"},\"component\":["
                  "{\"code\":{\"text\":\"a\"},\"valueQuantity\":{\"value\":0.10}},"
                  "{\"code\":{\"text\":\"b\"},\"valueQuantity\":{\"value\":100.000}},"
                  "{\"code\":{\"text\":\"c\"},\"valueQuantity\":"
                  "{\"value\":12345678901234567890}}]}",
                  code);
}

static void expect_exact(const char *body, const char *what)
{
    cr_assert_not_null(body, "%s: no body", what);
    static const char *const want[] = {"\"value\":1.50,", "\"value\":0.10}", "\"value\":100.000}",
                                       "\"value\":12345678901234567890}"};
    for(size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_expect_not_null(strstr(body, want[i]), "%s lacks %s: %s", what, want[i], body);
}

Test(decimal, create_read_search_serve_the_exact_text)
{
    char *body = obs("d1");
    lg_resp c = lg_http_json(&S, "POST", "/Observation", body);
    cr_assert_eq(c.status, 201, "%s", c.body);
    expect_exact(c.body, "create reply");
    char *id = strdup(lg_str(c.json, "id"));
    lg_resp r = lg_getf(&S, "/Observation/%s", id);
    cr_assert_eq(r.status, 200, "%s", r.body);
    expect_exact(r.body, "read");
    lg_resp v = lg_getf(&S, "/Observation/%s/_history/1", id);
    expect_exact(v.body, "vread");
    /* the index holds the value: 1.5 finds 1.50, 1.6 does not */
    lg_resp s = lg_getf(&S, "/Observation?code=urn:dec|d1&value-quantity=1.5");
    cr_assert_eq(s.status, 200, "%s", s.body);
    cr_expect_eq(lg_entries(s.json), 1, "%s", s.body);
    expect_exact(s.body, "search");
    lg_resp n = lg_getf(&S, "/Observation?code=urn:dec|d1&value-quantity=1.6");
    cr_expect_eq(lg_entries(n.json), 0, "%s", n.body);
    lg_resp_free(&n);
    lg_resp_free(&s);
    lg_resp_free(&v);
    lg_resp_free(&r);
    lg_resp_free(&c);
    free(id);
    free(body);
}

Test(decimal, xml_in_and_out_keep_the_text)
{
    char *body = obs("d2");
    char *id = lg_create(&S, "Observation", body);
    const char *ax[] = {"Accept: application/fhir+xml", NULL};
    char path[160];
    snprintf(path, sizeof path, "/Observation/%s", id);
    lg_resp x = lg_http(&S, "GET", path, ax, NULL);
    cr_assert_eq(x.status, 200, "%s", x.body);
    cr_expect_not_null(strstr(x.body, "<value value=\"1.50\"/>"), "%s", x.body);
    cr_expect_not_null(strstr(x.body, "<value value=\"0.10\"/>"), "%s", x.body);
    cr_expect_not_null(strstr(x.body, "<value value=\"100.000\"/>"), "%s", x.body);
    cr_expect_not_null(strstr(x.body, "<value value=\"12345678901234567890\"/>"), "%s", x.body);
    /* the XML served, sent back as an update, is stored with the same text */
    const char *cx[] = {"Content-Type: application/fhir+xml", NULL};
    lg_resp u = lg_http(&S, "PUT", path, cx, x.body);
    cr_assert(u.status == 200 || u.status == 201, "%ld %s", u.status, u.body);
    lg_resp r = lg_getf(&S, "%s", path);
    expect_exact(r.body, "read after XML update");
    lg_resp_free(&r);
    lg_resp_free(&u);
    lg_resp_free(&x);
    free(id);
    free(body);
}

Test(decimal, patch_copy_and_transaction_keep_the_text)
{
    char *body = obs("d3");
    char *id = lg_create(&S, "Observation", body);
    char path[160];
    snprintf(path, sizeof path, "/Observation/%s", id);
    const char *h[] = {"Content-Type: application/json-patch+json", NULL};
    lg_resp p = lg_http(&S, "PATCH", path, h,
                        "[{\"op\":\"copy\",\"from\":\"/valueQuantity\","
                        "\"path\":\"/component/0/valueQuantity\"},"
                        "{\"op\":\"add\",\"path\":\"/component/1/valueQuantity/value\","
                        "\"value\":2.500}]");
    cr_assert_eq(p.status, 200, "%s", p.body);
    lg_resp r = lg_getf(&S, "%s", path);
    cr_expect_not_null(strstr(r.body, "{\"code\":{\"text\":\"a\"},\"valueQuantity\":"
                                      "{\"value\":1.50,\"unit\":\"mg\"}}"),
                       "%s", r.body);
    cr_expect_not_null(strstr(r.body, "\"value\":2.500}"), "%s", r.body);
    lg_resp_free(&r);
    lg_resp_free(&p);
    char *tx = lg_fmt("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
                      "{\"resource\":%s,\"request\":{\"method\":\"POST\",\"url\":\"Observation\"}}]}",
                      body);
    lg_resp t = lg_http_json(&S, "POST", "/", tx);
    cr_assert_eq(t.status, 200, "%s", t.body);
    lg_resp s = lg_getf(&S, "/Observation?code=urn:dec|d3&value-quantity=1.50");
    cr_expect_eq(lg_entries(s.json), 2, "%s", s.body);
    expect_exact(s.body, "transaction entry");
    lg_resp_free(&s);
    lg_resp_free(&t);
    free(tx);
    free(id);
    free(body);
}
