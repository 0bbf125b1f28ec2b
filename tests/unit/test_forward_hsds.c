/* test_forward_hsds.c - the "hsds" adapter (docs/forwarding.md, Style C):
 * FHIR HealthcareService queries become HSDS /services queries (every row
 * of the table, decoding and re-encoding, refusals naming the parameter,
 * _count clamped), and a realistic HSDS 3.0 page becomes a searchset
 * Bundle that validates against base R4 (lg_validate_full with
 * terminology), with contained Locations, total and paging links. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "lg_test.h"
#include "lg_test_forward.h"
#include "loopgate/buf.h"
#include "loopgate/defs.h"
#include "loopgate/validate.h"

#define BASE "https://hsds.example.org/api"
#define GW "https://gw.example.org/fhir"

static lg_fwd_platform P;
static void *S;
static lg_defs *D;

static void setup(void)
{
    P = tf_platform("dir", &lg_fwd_hsds, BASE);
    S = tf_configure(&lg_fwd_hsds, &P, "{\"name\":\"dir\",\"adapter\":\"hsds\",\"base_url\":\"" BASE "\"}");
}

static void teardown(void)
{
    lg_fwd_hsds.free_state(S);
    lg_defs_free(D);
    D = NULL;
}

TestSuite(hsds, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------ queries */

static char *url_for(const char *query)
{
    lg_fwd_req r = { 0 };
    lg_issues is = { 0 };
    lg_status st = lg_fwd_hsds.build_search(&P, S, query, &r, &is);
    cr_assert_eq(st, LG_OK, "%s: %s", query ? query : "(null)", is.count ? is.items[0].diagnostics : "");
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(tf_header(&r, "Accept"), "application/json");
    cr_assert_null(tf_header(&r, "X-API-Key"));
    lg_issues_free(&is);
    char *u = strdup(r.url);
    lg_fwd_req_clear(&r);
    return u;
}

static void expect_url(const char *query, const char *want)
{
    char *u = url_for(query);
    cr_assert_str_eq(u, want, "query %s", query ? query : "(null)");
    free(u);
}

Test(hsds, shape_of_a_directory)
{
    cr_assert_eq(lg_fwd_adapter_find("hsds"), &lg_fwd_hsds);
    cr_assert_null(lg_fwd_hsds.build);
    cr_assert_null(lg_fwd_hsds.verify);
    cr_assert_null(lg_fwd_hsds.build_poll);
}

Test(hsds, every_row_of_the_table)
{
    expect_url(NULL, BASE "/services");
    expect_url("", BASE "/services");
    expect_url("name=food", BASE "/services?search=food");
    expect_url("_text=food", BASE "/services?search=food");
    expect_url("_content=food", BASE "/services?search=food");
    expect_url("service-category=food-insecurity", BASE "/services?taxonomy_term_id=food-insecurity");
    expect_url("service-type=BD-1800.2000", BASE "/services?taxonomy_term_id=BD-1800.2000");
    expect_url("organization=Organization/org-7", BASE "/services?organization_id=org-7");
    expect_url("organization=org-7", BASE "/services?organization_id=org-7");
    expect_url("organization=https%3A%2F%2Fx.org%2Ffhir%2FOrganization%2Forg-7", BASE "/services?organization_id=org-7");
    expect_url("location.address-postalcode=94110", BASE "/services?postcode=94110");
    expect_url("address-postalcode=94110", BASE "/services?postcode=94110");
    expect_url("_count=25", BASE "/services?per_page=25");
    expect_url("_page=3", BASE "/services?page=3");
    /* all at once, in the doc's order whatever the query's */
    expect_url("_count=10&_page=2&address-postalcode=94110&organization=o1&service-type=t1&name=pantry",
               BASE "/services?search=pantry&taxonomy_term_id=t1&organization_id=o1&postcode=94110&page=2&per_page=10");
}

Test(hsds, values_are_decoded_and_encoded_again)
{
    expect_url("name=food+bank", BASE "/services?search=food%20bank");
    expect_url("name=caf%C3%A9%20%26%20pantry", BASE "/services?search=caf%C3%A9%20%26%20pantry");
    expect_url("name=a%2Bb%3Dc", BASE "/services?search=a%2Bb%3Dc");
    /* a token's system is the FHIR side's business */
    expect_url("service-category=http%3A%2F%2Fhl7.org%2Ffhir%2Fus%2Fsdoh-clinicalcare%2FCodeSystem%2FSDOHCC-CodeSystemTemporaryCodes%7Cfood-insecurity",
               BASE "/services?taxonomy_term_id=food-insecurity");
    expect_url("service-type=a,sys%7Cb", BASE "/services?taxonomy_term_id=a%2Cb");
    /* response-shaping parameters and empty values are dropped */
    expect_url("_format=json&name=&_pretty=true&address-postalcode", BASE "/services");
    expect_url("&&name=x&", BASE "/services?search=x");
}

Test(hsds, count_is_clamped)
{
    expect_url("_count=100", BASE "/services?per_page=100");
    expect_url("_count=101", BASE "/services?per_page=100");
    expect_url("_count=999999999", BASE "/services?per_page=100");
    expect_url("_count=0", BASE "/services?per_page=1");
}

static void expect_refused(const char *query, const char *loc)
{
    lg_fwd_req r = { 0 };
    lg_issues is = { 0 };
    cr_assert_eq(lg_fwd_hsds.build_search(&P, S, query, &r, &is), LG_EINVAL, "%s", query);
    cr_assert_null(r.url);
    cr_assert_eq(is.count, 1, "%s", query);
    cr_assert_eq(is.items[0].severity, LG_SEV_ERROR);
    if(loc)
        cr_assert_str_eq(is.items[0].location, loc, "%s", query);
    else
        cr_assert_null(is.items[0].location, "%s", query);
    lg_issues_free(&is);
}

Test(hsds, refusals_name_the_parameter)
{
    expect_refused("active=true", "active");
    expect_refused("name=x&specialty=394602003", "specialty");
    expect_refused("name:contains=food", "name:contains");
    expect_refused("_sort=name", "_sort");
    expect_refused("%5Fid=7", "_id"); /* decoded name */
    expect_refused("_count=ten", "_count");
    expect_refused("_count=-1", "_count");
    expect_refused("_page=0", "_page");
    expect_refused("_page=1.5", "_page");
    expect_refused("organization=Patient/7", "organization");
    expect_refused("organization=a,b", "organization");
    expect_refused("service-type=a%7Cb%7Cc", "service-type");
    expect_refused("service-type=a,", "service-type");
    expect_refused("name=a&_text=b", "_text"); /* both are the directory's search */
    expect_refused("postcode=1&address-postalcode=2", "postcode");
    expect_refused("name=%zz", "name");
    expect_refused("name=%4", "name");
    expect_refused("name=a%00b", "name");
    expect_refused("na%0Ame=x", NULL);
}

Test(hsds, queries_are_bounded)
{
    char q[5000];
    memset(q, 'a', sizeof q - 1);
    memcpy(q, "name=", 5);
    q[sizeof q - 1] = '\0';
    expect_refused(q, NULL);
    q[5 + 257] = '\0';
    expect_refused(q, "name");
    q[5 + 256] = '\0';
    char *u = url_for(q);
    free(u);
    /* dropped parameters take no room among the mapped ones */
    lg_buf many;
    lg_buf_init(&many, 4096);
    for(int i = 0; i < 40; i++)
        lg_buf_adds(&many, "_format=x&");
    lg_buf_adds(&many, "name=x");
    expect_url(many.data, BASE "/services?search=x");
    lg_buf_free(&many);
}

Test(hsds, api_key_when_configured)
{
    void *st = tf_configure(&lg_fwd_hsds, &P, "{\"api_key\":\"dir-key\"}");
    lg_fwd_req r = { 0 };
    lg_issues is = { 0 };
    cr_assert_eq(lg_fwd_hsds.build_search(&P, st, "name=x", &r, &is), LG_OK);
    cr_assert_str_eq(tf_header(&r, "X-API-Key"), "dir-key");
    lg_fwd_req_clear(&r);
    lg_fwd_hsds.free_state(st);
    cJSON *o = cJSON_Parse("{\"api_key\":12}");
    void *bad = NULL;
    cr_assert_eq(lg_fwd_hsds.configure(&P, o, &bad, &is), LG_EINVAL);
    cr_assert_str_eq(is.items[0].location, "platforms.where(name='dir').api_key");
    cr_assert_null(bad);
    cJSON_Delete(o);
    lg_issues_free(&is);
}

/* ------------------------------------------------------------ pages */

/* A page as an HSDS 3.0 API would give it: two services, one with two
 * locations, phones, languages and SDOHCC and 211 taxonomy terms; one
 * inactive with no location and an id FHIR cannot carry. */
static const char PAGE[] =
    "{\"total_items\": 45, \"total_pages\": 5, \"page_number\": 2, \"size\": 10,"
    " \"first_page\": false, \"last_page\": false, \"empty\": false, \"contents\": ["
    "{\"id\": \"ac148810-d857-441c-9679-408f346de14b\", \"name\": \"  Weekly Food Pantry \","
    " \"description\": \"Free groceries every Saturday.\\nBring a bag.\\u0007\","
    " \"url\": \"https://mission-pantry.example.org\", \"email\": \"help@mission-pantry.example.org\","
    " \"status\": \"active\", \"organization\": {\"id\": \"org-12\", \"name\": \"Mission Pantry\"},"
    " \"phones\": [{\"number\": \"+1 415 555 0100\"}, {\"number\": \"415-555-0101\"}, {\"number\": \"\"}],"
    " \"languages\": [{\"name\": \"Spanish\", \"code\": \"es\"}, {\"name\": \"Cantonese\", \"code\": \"yue\"},"
    "                {\"name\": \"Sign languages\"}],"
    " \"attributes\": [{\"taxonomy_term\": {\"code\": \"food-insecurity\", \"term\": \"Food Insecurity\","
    "                   \"taxonomy\": \"SDOHCC\"}},"
    "                 {\"taxonomy_term\": {\"code\": \"BD-1800.2000\", \"term\": \"Food Pantries\","
    "                   \"taxonomy\": \"https://211taxonomy.org\"}},"
    "                 {\"taxonomy_term\": {\"term\": \"Walk-in\", \"taxonomy\": \"local tags\"}}],"
    " \"service_at_locations\": ["
    "   {\"id\": \"sal-1\", \"location\": {\"id\": \"loc-a\", \"name\": \"Mission Church Hall\","
    "     \"addresses\": [{\"address_1\": \"100 Valencia St\", \"address_2\": \"Rear entrance\", \"city\": \"San Francisco\","
    "                     \"state_province\": \"CA\", \"postal_code\": \"94110\", \"country\": \"US\"}],"
    "     \"latitude\": 37.7599, \"longitude\": -122.4214}},"
    "   {\"id\": \"sal-2\", \"location\": {\"id\": \"loc-b\", \"name\": \"Outreach van\", \"latitude\": 95,"
    "     \"longitude\": 10}}]},"
    "{\"id\": \"svc 2/with spaces\", \"name\": \"Rental Assistance\", \"status\": \"inactive\","
    " \"description\": \"\", \"organization\": {\"name\": \"City Housing\"},"
    " \"attributes\": [{\"taxonomy_term\": {\"code\": \"housing-instability\", \"term\": \"Housing Instability\"}}]}"
    "]}";

static void load_defs(void)
{
    static const char *const types[] = { "Bundle", "HealthcareService", "Location", "Organization", NULL };
    lg_issues is = { 0 };
    lg_status st = lg_defs_load(lg_test_defs_dir(), types, &D, &is);
    if(!st)
        st = lg_defs_load_terminology(D, lg_test_defs_dir(), &is);
    lg_issues_free(&is);
    cr_assert_eq(st, LG_OK, "definitions load from %s", lg_test_defs_dir());
}

static void assert_valid(const cJSON *res)
{
    if(!D)
        load_defs();
    lg_issues is = { 0 };
    lg_status st = lg_validate_full(D, res, NULL, 0, &is);
    char *text = cJSON_PrintUnformatted(res);
    for(size_t i = 0; i < is.count; i++)
        if(is.items[i].severity <= LG_SEV_ERROR)
            cr_log_error("%s at %s", is.items[i].diagnostics, is.items[i].location ? is.items[i].location : "");
    cr_assert_eq(st, LG_OK, "%s: %s", lg_status_str(st), text);
    cr_assert_eq(lg_issues_errors(&is), 0, "%s", text);
    /* the only warning allowed: no narrative (dom-6, best practice) */
    for(size_t i = 0; i < is.count; i++)
        if(is.items[i].severity == LG_SEV_WARNING)
            cr_assert(strstr(is.items[i].diagnostics, "dom-6"), "%s at %s", is.items[i].diagnostics,
                      is.items[i].location ? is.items[i].location : "");
    free(text);
    lg_issues_free(&is);
}

static cJSON *bundle_for(const char *query, int status, const char *body)
{
    lg_fwd_resp r = tf_resp(status, body);
    cJSON *b = NULL;
    lg_issues is = { 0 };
    lg_status st = lg_fwd_hsds.parse_search(&P, S, query, GW, &r, &b, &is);
    cr_assert_eq(st, LG_OK, "%s", is.count ? is.items[0].diagnostics : "");
    cr_assert_eq(is.count, 0);
    cr_assert_not_null(b);
    return b;
}

static const char *link_url(const cJSON *b, const char *rel)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(b, "link"))
        if(strcmp(tf_str(l, "relation"), rel) == 0)
            return tf_str(l, "url");
    return NULL;
}

Test(hsds, page_becomes_a_valid_searchset)
{
    cJSON *b = bundle_for("name=food&_count=10&_page=2&_format=json", 200, PAGE);
    assert_valid(b);
    cr_assert_str_eq(tf_str(b, "resourceType"), "Bundle");
    cr_assert_str_eq(tf_str(b, "type"), "searchset");
    cr_assert_eq(cJSON_GetObjectItem(b, "total")->valueint, 45);
    cr_assert_str_eq(link_url(b, "self"), GW "/HealthcareService?name=food&_count=10&_page=2");
    cr_assert_str_eq(link_url(b, "next"), GW "/HealthcareService?name=food&_count=10&_page=3");
    cr_assert_str_eq(link_url(b, "previous"), GW "/HealthcareService?name=food&_count=10&_page=1");
    const cJSON *entries = cJSON_GetObjectItem(b, "entry");
    cr_assert_eq(cJSON_GetArraySize(entries), 2);

    const cJSON *e0 = cJSON_GetArrayItem(entries, 0);
    cr_assert_str_eq(tf_str(e0, "fullUrl"), GW "/HealthcareService/ac148810-d857-441c-9679-408f346de14b");
    cr_assert_str_eq(tf_str(cJSON_GetObjectItem(e0, "search"), "mode"), "match");
    const cJSON *hs = cJSON_GetObjectItem(e0, "resource");
    cr_assert_str_eq(tf_str(hs, "resourceType"), "HealthcareService");
    cr_assert_str_eq(tf_str(hs, "id"), "ac148810-d857-441c-9679-408f346de14b");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(hs, "active")));
    cr_assert_str_eq(tf_str(hs, "name"), "Weekly Food Pantry"); /* trimmed */
    cr_assert_str_eq(tf_str(hs, "comment"), "Free groceries every Saturday.\nBring a bag. ");
    const cJSON *ident = cJSON_GetArrayItem(cJSON_GetObjectItem(hs, "identifier"), 0);
    cr_assert_str_eq(tf_str(ident, "system"), BASE "/services");
    cr_assert_str_eq(tf_str(ident, "value"), "ac148810-d857-441c-9679-408f346de14b");
    const cJSON *by = cJSON_GetObjectItem(hs, "providedBy");
    cr_assert_str_eq(tf_str(by, "display"), "Mission Pantry");
    cr_assert_str_eq(tf_str(cJSON_GetObjectItem(by, "identifier"), "value"), "org-12");
    cr_assert_str_eq(tf_str(cJSON_GetObjectItem(by, "identifier"), "system"), BASE "/organizations");

    const cJSON *tel = cJSON_GetObjectItem(hs, "telecom");
    cr_assert_eq(cJSON_GetArraySize(tel), 4, "two phones (the empty one dropped), email, url");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(tel, 0), "system"), "phone");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(tel, 0), "value"), "+1 415 555 0100");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(tel, 1), "value"), "415-555-0101");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(tel, 2), "system"), "email");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(tel, 3), "system"), "url");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(tel, 3), "value"), "https://mission-pantry.example.org");

    /* SDOHCC codes are categories (the coordination model's codes); the rest types */
    const cJSON *cat = cJSON_GetObjectItem(hs, "category");
    cr_assert_eq(cJSON_GetArraySize(cat), 1);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cat, 0), "coding"), 0);
    cr_assert_str_eq(tf_str(c0, "system"), LG_SDOHCC_CODES);
    cr_assert_str_eq(tf_str(c0, "code"), "food-insecurity");
    const cJSON *type = cJSON_GetObjectItem(hs, "type");
    cr_assert_eq(cJSON_GetArraySize(type), 2);
    const cJSON *t0 = cJSON_GetArrayItem(type, 0);
    const cJSON *t0c = cJSON_GetArrayItem(cJSON_GetObjectItem(t0, "coding"), 0);
    cr_assert_str_eq(tf_str(t0c, "system"), "https://211taxonomy.org");
    cr_assert_str_eq(tf_str(t0c, "code"), "BD-1800.2000");
    cr_assert_str_eq(tf_str(t0c, "display"), "Food Pantries");
    const cJSON *t1 = cJSON_GetArrayItem(type, 1);
    cr_assert_null(cJSON_GetObjectItem(t1, "coding"), "no code: text only");
    cr_assert_str_eq(tf_str(t1, "text"), "Walk-in");

    const cJSON *comm = cJSON_GetObjectItem(hs, "communication");
    cr_assert_eq(cJSON_GetArraySize(comm), 3);
    const cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(comm, 0), "coding"), 0);
    cr_assert_str_eq(tf_str(l0, "system"), "urn:ietf:bcp:47");
    cr_assert_str_eq(tf_str(l0, "code"), "es");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(comm, 2), "text"), "Sign languages");

    const cJSON *contained = cJSON_GetObjectItem(hs, "contained");
    cr_assert_eq(cJSON_GetArraySize(contained), 2);
    const cJSON *loc = cJSON_GetArrayItem(contained, 0);
    cr_assert_str_eq(tf_str(loc, "resourceType"), "Location");
    cr_assert_str_eq(tf_str(loc, "id"), "loc1");
    cr_assert_str_eq(tf_str(loc, "name"), "Mission Church Hall");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(cJSON_GetObjectItem(loc, "identifier"), 0), "value"), "loc-a");
    const cJSON *addr = cJSON_GetObjectItem(loc, "address");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(addr, "line")), 2);
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(addr, "line"), 0)->valuestring, "100 Valencia St");
    cr_assert_str_eq(tf_str(addr, "city"), "San Francisco");
    cr_assert_str_eq(tf_str(addr, "state"), "CA");
    cr_assert_str_eq(tf_str(addr, "postalCode"), "94110");
    cr_assert_str_eq(tf_str(addr, "country"), "US");
    const cJSON *pos = cJSON_GetObjectItem(loc, "position");
    cr_assert_float_eq(cJSON_GetObjectItem(pos, "latitude")->valuedouble, 37.7599, 1e-9);
    cr_assert_float_eq(cJSON_GetObjectItem(pos, "longitude")->valuedouble, -122.4214, 1e-9);
    /* latitude 95 is no place on Earth: no position */
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(contained, 1), "position"));
    const cJSON *locs = cJSON_GetObjectItem(hs, "location");
    cr_assert_eq(cJSON_GetArraySize(locs), 2);
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(locs, 0), "reference"), "#loc1");
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(locs, 1), "reference"), "#loc2");

    /* the second: inactive, an HSDS id FHIR cannot use as id (kept as identifier) */
    const cJSON *e1 = cJSON_GetArrayItem(entries, 1);
    cr_assert_null(cJSON_GetObjectItem(e1, "fullUrl"));
    const cJSON *hs1 = cJSON_GetObjectItem(e1, "resource");
    cr_assert_null(cJSON_GetObjectItem(hs1, "id"));
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(cJSON_GetObjectItem(hs1, "identifier"), 0), "value"), "svc 2/with spaces");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(hs1, "active")));
    cr_assert_null(cJSON_GetObjectItem(hs1, "comment"), "an empty description is left out");
    cr_assert_null(cJSON_GetObjectItem(hs1, "contained"));
    cr_assert_str_eq(tf_str(cJSON_GetObjectItem(hs1, "providedBy"), "display"), "City Housing");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(hs1, "category")), 1);

    /* the check above can fail: a location pointing nowhere is an error */
    cJSON *r0 = cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 0), "resource");
    cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r0, "location"), 0), "reference"),
                         "#nowhere");
    lg_issues is = { 0 };
    lg_validate_full(D, b, NULL, 0, &is);
    cr_assert_gt(lg_issues_errors(&is), 0, "a dangling contained reference is caught");
    lg_issues_free(&is);
    cJSON_Delete(b);
}

Test(hsds, paging_links_at_the_ends)
{
    /* first page: next, no previous; the client's _page absent means 1 */
    cJSON *b = bundle_for("service-type=t1", 200,
                          "{\"total_items\":3,\"total_pages\":2,\"page_number\":1,\"first_page\":true,"
                          "\"last_page\":false,\"contents\":[]}");
    cr_assert_str_eq(link_url(b, "self"), GW "/HealthcareService?service-type=t1&_page=1");
    cr_assert_str_eq(link_url(b, "next"), GW "/HealthcareService?service-type=t1&_page=2");
    cr_assert_null(link_url(b, "previous"));
    cr_assert_null(cJSON_GetObjectItem(b, "entry"));
    cr_assert_eq(cJSON_GetObjectItem(b, "total")->valueint, 3);
    assert_valid(b);
    cJSON_Delete(b);
    /* last page: previous, no next */
    b = bundle_for("_page=2", 200,
                   "{\"total_items\":3,\"total_pages\":2,\"page_number\":2,\"first_page\":false,"
                   "\"last_page\":true,\"contents\":[{\"id\":\"s3\",\"name\":\"Three\"}]}");
    cr_assert_str_eq(link_url(b, "self"), GW "/HealthcareService?_page=2");
    cr_assert_str_eq(link_url(b, "previous"), GW "/HealthcareService?_page=1");
    cr_assert_null(link_url(b, "next"));
    assert_valid(b);
    cJSON_Delete(b);
    /* no last_page flag: total_pages decides; no page_number: the one asked for */
    b = bundle_for("_page=4&_count=500", 200, "{\"total_pages\":5,\"contents\":[]}");
    cr_assert_str_eq(link_url(b, "self"), GW "/HealthcareService?_count=100&_page=4");
    cr_assert_str_eq(link_url(b, "next"), GW "/HealthcareService?_count=100&_page=5");
    cr_assert_str_eq(link_url(b, "previous"), GW "/HealthcareService?_count=100&_page=3");
    cr_assert_null(cJSON_GetObjectItem(b, "total"), "no total_items: no total");
    cJSON_Delete(b);
    /* values in links are encoded */
    b = bundle_for("name=food+bank%26more", 200, "{\"page_number\":1,\"last_page\":true,\"contents\":[]}");
    cr_assert_str_eq(link_url(b, "self"), GW "/HealthcareService?name=food%20bank%26more&_page=1");
    cJSON_Delete(b);
}

Test(hsds, directory_failures)
{
    const int statuses[] = { 0, 500, 503, 404, 401 };
    for(size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        lg_fwd_resp r = tf_resp(statuses[i], "{\"message\":\"index rebuilding\"}");
        cJSON *b = NULL;
        lg_issues is = { 0 };
        cr_assert_eq(lg_fwd_hsds.parse_search(&P, S, "name=x", GW, &r, &b, &is), LG_EIO, "status %d", statuses[i]);
        cr_assert_null(b);
        cr_assert_eq(is.count, 1);
        cr_assert_str_eq(is.items[0].code, statuses[i] == 0 || statuses[i] >= 500 ? "transient" : "exception");
        if(statuses[i])
            cr_assert(strstr(is.items[0].diagnostics, "index rebuilding"), "%s", is.items[0].diagnostics);
        lg_issues_free(&is);
    }
    static const char *const unreadable[] = { "<html>", "[]", "{\"total_items\":1}", "{\"contents\":{}}",
                                              "{\"contents\":[1]}" };
    for(size_t i = 0; i < sizeof unreadable / sizeof unreadable[0]; i++) {
        lg_fwd_resp r = tf_resp(200, unreadable[i]);
        cJSON *b = NULL;
        lg_issues is = { 0 };
        cr_assert_eq(lg_fwd_hsds.parse_search(&P, S, NULL, GW, &r, &b, &is), LG_EINVAL, "case %zu", i);
        cr_assert_null(b);
        cr_assert_geq(is.count, 1);
        lg_issues_free(&is);
    }
}

Test(hsds, pages_are_bounded)
{
    /* 1001 services is more than any page the adapter takes */
    lg_buf page;
    lg_buf_init(&page, 1u << 20);
    lg_buf_adds(&page, "{\"contents\":[");
    for(int i = 0; i < 1001; i++)
        lg_buf_printf(&page, "%s{\"id\":\"s\"}", i ? "," : "");
    lg_buf_adds(&page, "]}");
    lg_fwd_resp r = tf_resp(200, page.data);
    cJSON *b = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_fwd_hsds.parse_search(&P, S, NULL, GW, &r, &b, &is), LG_EINVAL);
    cr_assert_str_eq(is.items[0].code, "too-costly");
    lg_issues_free(&is);
    lg_buf_free(&page);
    /* members beyond their bound are not taken: 30 phones give 10 telecoms */
    lg_buf svc;
    lg_buf_init(&svc, 4096);
    lg_buf_adds(&svc, "{\"contents\":[{\"id\":\"s1\",\"name\":\"Many\",\"phones\":[");
    for(int i = 0; i < 30; i++)
        lg_buf_printf(&svc, "%s{\"number\":\"555-01%02d\"}", i ? "," : "", i);
    lg_buf_adds(&svc, "]}]}");
    b = bundle_for(NULL, 200, svc.data);
    lg_buf_free(&svc);
    const cJSON *hs = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "entry"), 0), "resource");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(hs, "telecom")), 10);
    assert_valid(b);
    cJSON_Delete(b);
}

Test(hsds, a_repeated_service_id_keeps_fullurls_unique)
{
    cJSON *b = bundle_for(NULL, 200, "{\"contents\":[{\"id\":\"s1\",\"name\":\"A\"},{\"id\":\"s1\",\"name\":\"B\"}]}");
    const cJSON *entries = cJSON_GetObjectItem(b, "entry");
    cr_assert_eq(cJSON_GetArraySize(entries), 2);
    cr_assert_str_eq(tf_str(cJSON_GetArrayItem(entries, 0), "fullUrl"), GW "/HealthcareService/s1");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 1), "fullUrl"));
    assert_valid(b);
    cJSON_Delete(b);
}

Test(hsds, a_bad_query_is_refused_before_the_page)
{
    lg_fwd_resp r = tf_resp(200, PAGE);
    cJSON *b = NULL;
    lg_issues is = { 0 };
    cr_assert_eq(lg_fwd_hsds.parse_search(&P, S, "bogus=1", GW, &r, &b, &is), LG_EINVAL);
    cr_assert_str_eq(is.items[0].location, "bogus");
    cr_assert_null(b);
    lg_issues_free(&is);
}
