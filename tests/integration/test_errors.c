/* Integration: a client's mistakes get the right status and an
 * OperationOutcome, and never crash or wedge the server. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void)
{
    const char *extra[] = {"--max-body", "65536", NULL};
    lg_it_start(&S, extra);
}
static void down(void) { lg_it_cleanup(&S); }
TestSuite(errors, .init = up, .fini = down, .timeout = 120);

static void expect_oo(lg_resp *r, long status)
{
    cr_assert_eq(r->status, status, "want %ld got %ld: %s", status, r->status, r->body);
    cr_assert_not_null(r->json, "body is not JSON: %s", r->body);
    cr_assert_str_eq(lg_str(r->json, "resourceType"), "OperationOutcome");
    cJSON *i0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "issue"), 0);
    cr_assert_not_null(lg_str(i0, "severity"));
    cr_assert_not_null(lg_str(i0, "code"));
    cr_assert_str_neq(lg_diag(r->json), "");
    lg_resp_free(r);
}

static void still_alive(void)
{
    lg_resp r = lg_http(&S, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200, "server stopped answering");
    lg_resp_free(&r);
}

Test(errors, malformed_json_names_line_and_column)
{
    lg_resp r = lg_http_json(&S, "POST", "/Patient", "{\n \"resourceType\": \"Patient\",\n \"gender\": }");
    cr_assert_not_null(strstr(lg_diag(r.json), "line 3"), "%s", lg_diag(r.json));
    expect_oo(&r, 400);
    r = lg_http_json(&S, "POST", "/Patient", "[1,2]");
    expect_oo(&r, 400);
    r = lg_http_json(&S, "POST", "/Patient", "");
    expect_oo(&r, 400);
    still_alive();
}

Test(errors, wrong_type_unknown_type_and_methods)
{
    lg_resp r = lg_http_json(&S, "POST", "/Patient", "{\"resourceType\":\"Task\"}");
    expect_oo(&r, 400);
    r = lg_http_json(&S, "POST", "/Patient", "{\"gender\":\"male\"}");
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Foo/1", NULL, NULL);
    expect_oo(&r, 404);
    r = lg_http(&S, "GET", "/Account", NULL, NULL);
    expect_oo(&r, 404);
    r = lg_http(&S, "DELETE", "/Patient", NULL, NULL);
    cr_assert_neq(r.allow[0], '\0', "405 carries Allow");
    expect_oo(&r, 405);
    r = lg_http_json(&S, "PUT", "/metadata", "{}");
    expect_oo(&r, 405);
    r = lg_http(&S, "GET", "/Patient/bad$id", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Patient/does-not-exist", NULL, NULL);
    expect_oo(&r, 404);
}

Test(errors, content_type_and_size)
{
    const char *h[] = {"Content-Type: text/plain", NULL};
    lg_resp r = lg_http(&S, "POST", "/Patient", h, "{\"resourceType\":\"Patient\"}");
    expect_oo(&r, 415);
    size_t n = 100000;
    char *big = malloc(n + 64);
    cr_assert_not_null(big);
    int k = snprintf(big, n + 64, "{\"resourceType\":\"Patient\",\"x\":\"");
    memset(big + k, 'a', n);
    memcpy(big + k + n, "\"}", 3);
    r = lg_http_json(&S, "POST", "/Patient", big);
    expect_oo(&r, 413);
    free(big);
    still_alive();
}

Test(errors, search_parameter_errors)
{
    lg_resp r = lg_http(&S, "GET", "/Patient?nonsense=1", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Patient?_count=abc", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Task?authored-on=2026-13-01", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Patient?gender:contains=x", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Task?_sort=no-such-param", NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http(&S, "GET", "/Task?_cursor=garbage", NULL, NULL);
    expect_oo(&r, 400);
    /* lenient handling drops the unknown parameter and says so */
    const char *h[] = {"Prefer: handling=lenient", NULL};
    r = lg_http(&S, "GET", "/Patient?nonsense=1", h, NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lg_resp_free(&r);
}

Test(errors, hostile_bodies_do_not_crash)
{
    size_t depth = 10000;
    char *deep = malloc(depth * 2 + 64);
    cr_assert_not_null(deep);
    char *p = deep + snprintf(deep, 64, "{\"resourceType\":\"Patient\",\"x\":");
    for(size_t i = 0; i < depth; i++) *p++ = '[';
    for(size_t i = 0; i < depth; i++) *p++ = ']';
    memcpy(p, "}", 2);
    lg_resp r = lg_http_json(&S, "POST", "/Patient", deep);
    cr_assert(r.status == 400 || r.status == 413, "%ld", r.status);
    lg_resp_free(&r);
    free(deep);
    const char *junk[] = {"{\"resourceType\":\"Patient\",\"a\":\"\xff\xfe\"}",
                          "{\"resourceType\":\"Patient\",\"a\":1,\"a\":2}",
                          "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":7}",
                          "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{}]}",
                          "{\"resourceType\":\"Bundle\",\"type\":\"document\"}", "nul\x01l"};
    for(size_t i = 0; i < sizeof(junk) / sizeof(*junk); i++) {
        r = lg_http_json(&S, "POST", i < 2 ? "/Patient" : "/", junk[i]);
        cr_assert(r.status == 400, "junk %zu: %ld %s", i, r.status, r.body);
        lg_resp_free(&r);
    }
    still_alive();
}

Test(errors, syntax_error_names_line_and_column)
{
    lg_resp r = lg_http_json(&S, "POST", "/Patient",
                             "{\"resourceType\":\"Patient\",\n  \"active\": tru }");
    const char *d = lg_diag(r.json);
    cr_assert_not_null(strstr(d, "line 2"), "%s", d);
    cr_assert(strstr(d, "column") || strstr(d, "col "), "no column in: %s", d);
    expect_oo(&r, 400);
}

/* R4 http.html#create: 400 when the resource fails basic FHIR validation
 * (422 is allowed for rules beyond the base specification). */
Test(errors, resource_failing_basic_validation_is_refused)
{
    const char *bad[] = {
        "{\"resourceType\":\"Patient\",\"active\":\"yes\"}",          /* boolean as string */
        "{\"resourceType\":\"Patient\",\"birthDate\":\"not-a-date\"}", /* date syntax */
        "{\"resourceType\":\"Patient\",\"gender\":7}",                 /* code as number */
        "{\"resourceType\":\"Patient\",\"name\":\"Smith\"}",           /* array of HumanName */
        "{\"resourceType\":\"Patient\",\"noSuchElement\":1}",          /* unknown element */
        "{\"resourceType\":\"Task\",\"intent\":\"order\"}",            /* Task.status 1..1 */
    };
    for(size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *path = i == 5 ? "/Task" : "/Patient";
        lg_resp r = lg_http_json(&S, "POST", path, bad[i]);
        cr_expect(r.status == 400 || r.status == 422, "%s accepted with %ld", bad[i], r.status);
        if(r.status == 400 || r.status == 422)
            cr_expect_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
        lg_resp_free(&r);
    }
    still_alive();
}

/* A validation issue says where in the posted text the element is, with
 * the core operationoutcome-issue-line/-col extensions. */
Test(errors, validation_issues_carry_line_and_column)
{
    lg_resp r = lg_http_json(&S, "POST", "/Patient",
                             "{\n  \"resourceType\": \"Patient\",\n  \"name\": [{\"family\": \"A\"}],\n"
                             "  \"birthDate\": \"not-a-date\"\n}");
    cr_assert(r.status == 400 || r.status == 422, "%ld", r.status);
    const cJSON *issue = lg_at(r.json, "issue.0");
    cr_assert_str_eq(lg_at_str(issue, "expression.0"), "Patient.birthDate", "%s", r.body);
    const cJSON *line = lg_at(issue, "extension.0.valueInteger");
    const cJSON *col = lg_at(issue, "extension.1.valueInteger");
    cr_assert(line && col, "%s", r.body);
    cr_assert_eq(line->valueint, 4);
    cr_assert_eq(col->valueint, 3);
    cr_assert_str_eq(lg_at_str(issue, "location.0"), "Line[4] Col[3]");
    lg_resp_free(&r);
}

Test(errors, body_size_limit_is_exact_enough)
{
    /* --max-body 65536: a body a little under passes, a little over is 413 */
    size_t sizes[] = {60000, 70000};
    for(int k = 0; k < 2; k++) {
        size_t n = sizes[k];
        char *b = malloc(n + 1);
        cr_assert_not_null(b);
        int h = snprintf(b, n + 1, "{\"resourceType\":\"Patient\",\"id\":\"x\",\"text\":{\"status\":"
                                   "\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/"
                                   "xhtml\\\">");
        memset(b + h, 'a', n - (size_t)h);
        memcpy(b + n - 9, "</div>\"}}", 10); /* ends at b[n] = NUL */
        lg_resp r = lg_http_json(&S, "PUT", "/Patient/x", b);
        free(b);
        if(k == 0)
            cr_assert(r.status == 200 || r.status == 201, "%zu bytes: %ld %.300s", n, r.status,
                      r.body);
        else
            cr_assert_eq(r.status, 413, "%zu bytes: %ld", n, r.status);
        lg_resp_free(&r);
    }
    still_alive();
}

Test(errors, media_type_parameters_and_ids)
{
    const char *h[] = {"Content-Type: application/fhir+json; charset=utf-8", NULL};
    lg_resp r = lg_http(&S, "POST", "/Patient", h, "{\"resourceType\":\"Patient\"}");
    cr_assert_eq(r.status, 201, "charset parameter refused: %ld %s", r.status, r.body);
    lg_resp_free(&r);
    /* FHIR XML is accepted (issue #6), parameters too; other types are 415 */
    const char *x[] = {"Content-Type: application/fhir+xml; charset=utf-8", NULL};
    r = lg_http(&S, "POST", "/Patient", x, "<Patient xmlns=\"http://hl7.org/fhir\"/>");
    cr_assert_eq(r.status, 201, "XML refused: %ld %s", r.status, r.body);
    lg_resp_free(&r);
    const char *t[] = {"Content-Type: text/plain", NULL};
    r = lg_http(&S, "POST", "/Patient", t, "Patient");
    expect_oo(&r, 415);
    /* ids are [A-Za-z0-9\-\.]{1,64} */
    char path[128];
    snprintf(path, sizeof(path), "/Patient/%0*d", 65, 0);
    r = lg_http(&S, "GET", path, NULL, NULL);
    expect_oo(&r, 400);
    r = lg_http_json(&S, "PUT", "/Patient/a_b", "{\"resourceType\":\"Patient\",\"id\":\"a_b\"}");
    expect_oo(&r, 400);
    r = lg_http(&S, "PATCH", "/Patient", NULL, "[]");
    cr_assert(r.status == 405 || r.status == 400 || r.status == 415, "%ld", r.status);
    lg_resp_free(&r);
}

Test(errors, deep_nesting_in_every_shape)
{
    size_t depth = 10000;
    char *b = malloc(depth * 8 + 64);
    cr_assert_not_null(b);
    /* top-level arrays */
    memset(b, '[', depth);
    memset(b + depth, ']', depth);
    b[2 * depth] = '\0';
    lg_resp r = lg_http_json(&S, "POST", "/Patient", b);
    cr_assert(r.status == 400 || r.status == 413, "%ld", r.status);
    lg_resp_free(&r);
    /* objects: {"a":{"a":...}} */
    char *p = b + snprintf(b, 64, "{\"resourceType\":\"Patient\",\"a\":");
    for(size_t i = 0; i < depth; i++) {
        memcpy(p, "{\"a\":", 5);
        p += 5;
    }
    *p++ = '1';
    memset(p, '}', depth + 1);
    p[depth + 1] = '\0';
    r = lg_http_json(&S, "POST", "/Patient", b);
    cr_assert(r.status == 400 || r.status == 413, "%ld", r.status);
    lg_resp_free(&r);
    /* unterminated: depth without closers */
    memset(b, '[', depth);
    b[depth] = '\0';
    r = lg_http_json(&S, "POST", "/", b);
    cr_assert(r.status == 400 || r.status == 413, "%ld", r.status);
    lg_resp_free(&r);
    free(b);
    still_alive();
}

/* Raw bytes on a socket: returns what came back (possibly nothing). */
static void raw_exchange(const char *req, size_t len, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    struct timeval tv = {.tv_sec = 5};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ssize_t w = send(fd, req, len, MSG_NOSIGNAL);
    (void)w;
    size_t got = 0;
    ssize_t n;
    while(got + 1 < cap && (n = recv(fd, out + got, cap - 1 - got, 0)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fd);
}

Test(errors, broken_http_does_not_wedge_the_server)
{
    char out[4096];
    raw_exchange("GARBAGE\r\n\r\n", 11, out, sizeof(out));
    cr_assert(out[0] == '\0' || strncmp(out, "HTTP/1.1 4", 10) == 0 ||
              strncmp(out, "HTTP/1.0 4", 10) == 0, "%.200s", out);
    /* declared body longer than what is sent, then the client goes away */
    const char *half = "POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json"
                       "\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"resourceType\"";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ssize_t w = send(fd, half, strlen(half), MSG_NOSIGNAL);
    (void)w;
    close(fd);
    /* a header block far beyond any sane size */
    size_t n = 200000;
    char *big = malloc(n + 64);
    cr_assert_not_null(big);
    int h = snprintf(big, 64, "GET /metadata HTTP/1.1\r\nX-Big: ");
    memset(big + h, 'a', n);
    memcpy(big + h + n, "\r\n\r\n", 5);
    raw_exchange(big, strlen(big), out, sizeof(out));
    free(big);
    cr_assert(out[0] == '\0' || strstr(out, " 4") != NULL, "%.200s", out);
    /* a well-formed raw request is answered with a status line */
    const char *ok = "GET /metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_exchange(ok, strlen(ok), out, sizeof(out));
    cr_assert_eq(strncmp(out, "HTTP/1.1 200", 12), 0, "%.200s", out);
    still_alive();
}

Test(errors, pipelined_requests_on_one_connection)
{
    /* two requests in one write: both are answered, in order */
    char *two = lg_fmt("GET /Patient/nope-1 HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\n\r\n"
                       "GET /metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       S.token);
    char out[1 << 17];
    raw_exchange(two, strlen(two), out, sizeof(out));
    free(two);
    cr_assert_eq(strncmp(out, "HTTP/1.1 404", 12), 0, "%.200s", out);
    const char *second = strstr(out + 12, "HTTP/1.1 ");
    cr_assert_not_null(second, "second pipelined request not answered");
    cr_assert_eq(strncmp(second, "HTTP/1.1 200", 12), 0, "%.200s", second);
    still_alive();
}

Test(errors, oversized_counts_are_bounded)
{
    lg_resp r = lg_http(&S, "GET", "/Patient?_count=100000000", NULL, NULL);
    cr_assert(r.status == 200 || r.status == 400, "%ld %s", r.status, r.body);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/Patient?_count=-1", NULL, NULL);
    expect_oo(&r, 400);
    /* a transaction with far more entries than any limit: refused whole */
    size_t n = 20000;
    size_t cap = n * 80 + 128;
    char *b = malloc(cap);
    cr_assert_not_null(b);
    size_t k = (size_t)snprintf(b, cap, "{\"resourceType\":\"Bundle\",\"type\":\"transaction\","
                                        "\"entry\":[");
    for(size_t i = 0; i < n; i++)
        k += (size_t)snprintf(b + k, cap - k, "%s{\"request\":{\"method\":\"GET\",\"url\":"
                              "\"Patient/x%zu\"}}", i ? "," : "", i);
    snprintf(b + k, cap - k, "]}");
    r = lg_http_json(&S, "POST", "/", b);
    free(b);
    /* over --max-body (64 KiB here) or over the entry limit */
    cr_assert(r.status == 413 || r.status == 400, "%ld", r.status);
    lg_resp_free(&r);
    still_alive();
}

/* Configured limits (--max-entries, --max-count, --default-count). */
static lg_server L;
static void limits_up(void)
{
    const char *extra[] = {"--max-entries", "5", "--max-count", "7", "--default-count", "3", NULL};
    lg_it_start(&L, extra);
}
static void limits_down(void) { lg_it_cleanup(&L); }
TestSuite(limits, .init = limits_up, .fini = limits_down, .timeout = 60);

static char *batch_of(int n)
{
    char *b = lg_fmt("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[");
    for(int i = 0; i < n; i++) {
        char *nb = lg_fmt("%s%s{\"resource\":{\"resourceType\":\"Organization\",\"name\":\"L%d\"},"
                          "\"request\":{\"method\":\"POST\",\"url\":\"Organization\"}}",
                          b, i ? "," : "", i);
        free(b);
        b = nb;
    }
    char *nb = lg_fmt("%s]}", b);
    free(b);
    return nb;
}

Test(limits, bundle_entries_and_page_sizes)
{
    char *b = batch_of(6);
    lg_resp r = lg_http_json(&L, "POST", "/", b);
    free(b);
    cr_assert(r.status == 413 || r.status == 400, "6 entries over --max-entries 5: %ld", r.status);
    cr_assert_str_eq(lg_str(r.json, "resourceType"), "OperationOutcome");
    lg_resp_free(&r);
    r = lg_http(&L, "GET", "/Organization?_summary=count", NULL, NULL);
    cr_assert_eq(lg_total(r.json), 0, "a refused batch stored entries");
    lg_resp_free(&r);
    for(int k = 0; k < 2; k++) {
        b = batch_of(5);
        r = lg_http_json(&L, "POST", "/", b);
        free(b);
        cr_assert_eq(r.status, 200, "%s", r.body);
        lg_resp_free(&r);
    }
    r = lg_http(&L, "GET", "/Organization", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(lg_entries(r.json), 3, "--default-count 3");
    cr_assert_not_null(lg_link(r.json, "next"));
    lg_resp_free(&r);
    r = lg_http(&L, "GET", "/Organization?_count=100", NULL, NULL);
    cr_assert_eq(r.status, 200, "a large _count is clamped, not refused: %s", r.body);
    cr_assert_eq(lg_entries(r.json), 7, "--max-count 7");
    const char *next = lg_link(r.json, "next");
    cr_assert_not_null(next);
    lg_resp n = lg_http(&L, "GET", next, NULL, NULL);
    cr_assert_eq(n.status, 200);
    cr_assert_eq(lg_entries(n.json), 3);
    cr_assert_null(lg_link(n.json, "next"));
    lg_resp_free(&n);
    lg_resp_free(&r);
}
