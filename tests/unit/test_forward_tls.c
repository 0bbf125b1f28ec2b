/* test_forward_tls.c - the forwarder's TLS settings (src/forward/engine.c:
 * CURLOPT_SSL_VERIFYPEER/VERIFYHOST unless "verify_tls": false, CURLOPT_CAINFO
 * from "ca_file"; docs/forwarding.md) against a real HTTPS peer on 127.0.0.1.
 *
 * Each test makes a fresh self-signed certificate (EC P-256, OpenSSL C API)
 * with the subjectAltName it needs, writes it as PEM into the test's temp
 * dir (for "ca_file"), and serves it from a tiny blocking OpenSSL accept
 * loop on its own thread that answers every complete HTTP request with
 * "201 Created" and {"id": "R-n"}. The peer counts TCP connections (so a
 * refusal is known to have reached it) and HTTP requests read after a
 * finished handshake (so a refusal is known to have sent nothing). A fake
 * adapter, as in test_forward_engine.c, turns a transport failure into a
 * retry carrying curl's message. Plain http:// delivery is covered by
 * test_forward_engine.c and not repeated here. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "forward/internal.h"
#include "loopgate/time.h"

/* ------------------------------------------------------ certificates */

/* A self-signed certificate for key with the given subjectAltName
 * ("IP:127.0.0.1", "DNS:example.org") and CN. Caller frees with X509_free. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san)
{
    X509 *x = X509_new();
    cr_assert_not_null(x);
    cr_assert_eq(X509_set_version(x, 2), 1); /* v3: extensions */
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(lg_time_now_ms() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    cr_assert_eq(X509_set_pubkey(x, key), 1);
    X509_NAME *name = X509_get_subject_name(x);
    cr_assert_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                                            -1, -1, 0),
                 1);
    cr_assert_eq(X509_set_issuer_name(x, name), 1); /* self-signed */
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    cr_assert_not_null(ext, "subjectAltName %s", san);
    cr_assert_eq(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    cr_assert_gt(X509_sign(x, key, EVP_sha256()), 0);
    return x;
}

static void write_pem(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(PEM_write_X509(f, x), 1);
    cr_assert_eq(fclose(f), 0);
}

/* ------------------------------------------------------ the HTTPS peer */

static struct {
    pthread_mutex_t mu;
    SSL_CTX *ctx;
    int lfd;
    int port;
    pthread_t thread;
    int running;
    int stop;
    int conns;          /* TCP connections accepted */
    int handshakes;     /* TLS handshakes the peer completed */
    int requests;       /* complete HTTP requests read (and answered) */
    char first_line[160];
} peer = {.mu = PTHREAD_MUTEX_INITIALIZER, .lfd = -1};

/* Read one request (head and Content-Length body, at most 8 KiB) from ssl;
 * 1 when complete, 0 otherwise. line gets the request line. */
static int read_request(SSL *ssl, char *line, size_t line_len)
{
    char buf[8192];
    size_t n = 0;
    for(;;) {
        if(n >= sizeof buf - 1)
            return 0;
        int r = SSL_read(ssl, buf + n, (int)(sizeof buf - 1 - n));
        if(r <= 0)
            return 0;
        n += (size_t)r;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if(!end)
            continue;
        size_t want = 0;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if(cl && cl < end)
            want = strtoul(cl + 17, NULL, 10);
        if(n - (size_t)(end + 4 - buf) < want)
            continue;
        size_t ll = strcspn(buf, "\r\n");
        snprintf(line, line_len, "%.*s", (int)ll, buf);
        return 1;
    }
}

static void serve_one(int fd)
{
    /* A stuck client must not hold the loop (and the test) forever. */
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(peer.ctx);
    if(!ssl)
        return;
    SSL_set_fd(ssl, fd);
    if(SSL_accept(ssl) != 1)
        goto done; /* the client refused the certificate (or went away) */
    pthread_mutex_lock(&peer.mu);
    peer.handshakes++;
    pthread_mutex_unlock(&peer.mu);
    char line[160];
    if(!read_request(ssl, line, sizeof line))
        goto done; /* handshake finished, then the client hung up */
    pthread_mutex_lock(&peer.mu);
    int n = ++peer.requests;
    if(n == 1)
        snprintf(peer.first_line, sizeof peer.first_line, "%s", line);
    pthread_mutex_unlock(&peer.mu);
    char body[64], out[256];
    int bl = snprintf(body, sizeof body, "{\"id\": \"R-%d\"}", n);
    int ol = snprintf(out, sizeof out,
                      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                      bl, body);
    SSL_write(ssl, out, ol);
    SSL_shutdown(ssl);
done:
    SSL_free(ssl);
    ERR_clear_error();
}

static void *peer_run(void *arg)
{
    (void)arg;
    for(;;) {
        pthread_mutex_lock(&peer.mu);
        int stop = peer.stop;
        pthread_mutex_unlock(&peer.mu);
        if(stop)
            break;
        struct pollfd pfd = {.fd = peer.lfd, .events = POLLIN};
        if(poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(peer.lfd, NULL, NULL);
        if(fd < 0)
            continue;
        pthread_mutex_lock(&peer.mu);
        peer.conns++;
        pthread_mutex_unlock(&peer.mu);
        serve_one(fd);
        close(fd);
    }
    return NULL;
}

/* Serve a fresh certificate with san on 127.0.0.1; its PEM goes to
 * {dir}/{pem_name}. */
static void peer_start(const char *dir, const char *pem_name, const char *cn, const char *san)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    cr_assert_not_null(key);
    X509 *cert = make_cert(key, cn, san);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, pem_name);
    write_pem(path, cert);

    peer.ctx = SSL_CTX_new(TLS_server_method());
    cr_assert_not_null(peer.ctx);
    cr_assert_eq(SSL_CTX_use_certificate(peer.ctx, cert), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey(peer.ctx, key), 1);
    cr_assert_eq(SSL_CTX_check_private_key(peer.ctx), 1);
    X509_free(cert); /* the context holds its own references */
    EVP_PKEY_free(key);

    peer.lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(peer.lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(peer.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(peer.lfd, 16), 0);
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(peer.lfd, (struct sockaddr *)&sa, &sl), 0);
    peer.port = ntohs(sa.sin_port);
    cr_assert_eq(pthread_create(&peer.thread, NULL, peer_run, NULL), 0);
    peer.running = 1;
}

static void peer_stop(void)
{
    if(peer.running) {
        pthread_mutex_lock(&peer.mu);
        peer.stop = 1;
        pthread_mutex_unlock(&peer.mu);
        pthread_join(peer.thread, NULL);
        peer.running = 0;
    }
    if(peer.lfd >= 0)
        close(peer.lfd);
    peer.lfd = -1;
    SSL_CTX_free(peer.ctx);
    peer.ctx = NULL;
}

static void peer_counts(int *conns, int *handshakes, int *requests)
{
    pthread_mutex_lock(&peer.mu);
    *conns = peer.conns;
    *handshakes = peer.handshakes;
    *requests = peer.requests;
    pthread_mutex_unlock(&peer.mu);
}

/* ------------------------------------------------------ fake adapter */

/* POST /referrals/{task}; a transport failure (status 0) is retried and
 * names curl's message, as the real adapters do. */
static lg_status fake_build(const lg_fwd_platform *p, void *state, const lg_fwd_job *job, int step,
                            lg_fwd_req *out, lg_issues *issues)
{
    snprintf(out->method, sizeof out->method, "POST");
    lg_status rc = lg_fwd_req_url(out, p->base_url, "/referrals/%s", job->task_id);
    if(rc == LG_OK)
        rc = lg_fwd_req_header(out, "Idempotency-Key: %s", job->idempotency_key);
    if(rc != LG_OK)
        return rc;
    if(asprintf(&out->body, "{\"task\": \"%s\"}", job->task_id) < 0) {
        out->body = NULL;
        return LG_ENOMEM;
    }
    out->body_len = strlen(out->body);
    return LG_OK;
}

static lg_fwd_verdict fake_parse(const lg_fwd_platform *p, void *state, const lg_fwd_job *job,
                                 int step, const lg_fwd_resp *resp, char **remote_id, char **error)
{
    if(resp->status >= 200 && resp->status < 300) {
        cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        if(cJSON_IsString(id))
            *remote_id = strdup(id->valuestring);
        cJSON_Delete(j);
        return LG_FWD_DONE;
    }
    if(resp->status == 0) {
        if(asprintf(error, "transport: %s", resp->error ? resp->error : "?") < 0)
            *error = NULL;
        return LG_FWD_RETRY;
    }
    if(asprintf(error, "platform answered %d", resp->status) < 0)
        *error = NULL;
    return resp->status >= 500 ? LG_FWD_RETRY : LG_FWD_FAIL;
}

static const lg_fwd_adapter fake = {.name = "fake", .build = fake_build, .parse = fake_parse};

static const lg_fwd_adapter *find(const char *name)
{
    return strcmp(name, "fake") == 0 ? &fake : NULL;
}

/* The forwarder needs both hooks; delivery verdicts are read from the
 * outbox, so these only acknowledge. */
static int set_business(void *ctx, lg_store *s, const char *task_id, const char *code,
                        const char *text, char *msg, size_t msg_len)
{
    return 200;
}

static int apply_status(void *ctx, lg_store *s, const char *task_id, lg_task_status status,
                        const char *reason, const char *outcome, char *msg, size_t msg_len)
{
    return 200;
}

static const lg_fwd_hooks hooks = {.apply_status = apply_status, .set_business_status = set_business};

/* ------------------------------------------------------ store fixture */

static lg_store *st;
static char dir[] = "/tmp/lg-fwdtls-XXXXXX";
static lg_fwd_config *cfg;
static lg_forwarder *fw;

static void setup(void)
{
    /* The peer may write to a client that has just refused its certificate
     * and closed the socket (the server ignores SIGPIPE the same way). */
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    lg_issues is = {0};
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(lg_store_open(dir, &st, &is), LG_OK);
    lg_issues_free(&is);
}

static void teardown(void)
{
    /* The forwarder first: it may be mid-handshake with the peer. */
    lg_forwarder_stop(fw);
    fw = NULL;
    peer_stop();
    lg_fwd_config_free(cfg);
    cfg = NULL;
    lg_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(forward_tls, .init = setup, .fini = teardown, .timeout = 60);

static void put(const char *type, const char *id, const char *json)
{
    lg_store_write w = {.type = type, .id = id, .version = 1, .last_updated = lg_time_now_ms(),
                        .method = "PUT", .json = json, .json_len = strlen(json)};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_put(st, &w, NULL), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
}

/* Patient p-1, ServiceRequest sr-1, Task t-1 (owner cbo-1) from clinic-1,
 * and a pending create job for t-1 on platform "p"; the job id. */
static int64_t referral_job(void)
{
    put("Organization", "clinic-1",
        "{\"resourceType\":\"Organization\",\"id\":\"clinic-1\",\"name\":\"Sunrise Clinic\"}");
    put("Patient", "p-1",
        "{\"resourceType\":\"Patient\",\"id\":\"p-1\",\"name\":[{\"family\":\"Rivera\","
        "\"given\":[\"Ana\"]}],\"birthDate\":\"2015-04-02\"}");
    put("ServiceRequest", "sr-1",
        "{\"resourceType\":\"ServiceRequest\",\"id\":\"sr-1\",\"status\":\"active\","
        "\"intent\":\"order\",\"subject\":{\"reference\":\"Patient/p-1\"},"
        "\"requester\":{\"reference\":\"Organization/clinic-1\"},\"code\":{\"text\":\"food\"}}");
    put("Task", "t-1",
        "{\"resourceType\":\"Task\",\"id\":\"t-1\",\"status\":\"requested\",\"intent\":\"order\","
        "\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/CodeSystem/task-code\","
        "\"code\":\"fulfill\"}]},\"focus\":{\"reference\":\"ServiceRequest/sr-1\"},"
        "\"for\":{\"reference\":\"Patient/p-1\"},\"owner\":{\"reference\":\"Organization/cbo-1\"},"
        "\"requester\":{\"reference\":\"Organization/clinic-1\"}}");
    int64_t now = lg_time_now_ms();
    lg_outbox_job j = {.platform = "p", .kind = "create", .task_id = "t-1", .target = "prog-9",
                       .created_ms = now, .next_at_ms = now};
    int64_t id = 0;
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_assert_eq(lg_store_outbox_add(st, &j, &id), LG_OK);
    cr_assert_eq(lg_store_commit(st), LG_OK);
    return id;
}

/* Platform "p" at https://127.0.0.1:{peer}, with extra settings; a long
 * backoff so that a refused job is seen pending after its first attempt. */
static void configure_and_start(const char *extra)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"platforms\": [{\"name\": \"p\", \"adapter\": \"fake\", \"base_url\": "
             "\"https://127.0.0.1:%d\", \"timeout_ms\": 5000, \"backoff_ms\": 60000, "
             "\"max_attempts\": 5%s%s}]}",
             peer.port, extra && *extra ? ", " : "", extra ? extra : "");
    lg_issues is = {0};
    cr_assert_eq(lg_fwd_config_parse(json, strlen(json), find, &cfg, &is), LG_OK, "%s",
                 is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
    cr_assert_eq(lg_forwarder_start(cfg, dir, &hooks, &fw, &is), LG_OK);
    lg_issues_free(&is);
}

static lg_outbox_job job(int64_t id)
{
    lg_outbox_job j = {0};
    cr_assert_eq(lg_store_outbox_get(st, id, &j), LG_OK);
    return j;
}

/* Wait (up to ms) until job id is no longer pending or has a failed
 * attempt on record; the job (caller clears it). */
static lg_outbox_job wait_attempted(int64_t id, int ms)
{
    int64_t end = lg_time_now_ms() + ms;
    for(;;) {
        lg_outbox_job j = job(id);
        if(j.state != LG_OUTBOX_PENDING || (j.attempts >= 1 && j.last_error) ||
           lg_time_now_ms() > end)
            return j;
        lg_outbox_job_clear(&j);
        usleep(10000);
    }
}

static void ca_file_setting(char *out, size_t len, const char *pem_name)
{
    snprintf(out, len, "\"ca_file\": \"%s/%s\"", dir, pem_name);
}

/* The job was refused over TLS: still pending, one attempt, last_error
 * with curl's message, counted as a retry; the peer was reached but read
 * no request. Returns nothing; lerr gets last_error for further checks. */
static void expect_refused(int64_t id, char *lerr, size_t lerr_len)
{
    lg_outbox_job j = wait_attempted(id, 10000);
    cr_assert_eq(j.state, LG_OUTBOX_PENDING, "refused job left pending (state %d, error %s)",
                 j.state, j.last_error ? j.last_error : "");
    cr_expect_eq(j.attempts, 1);
    cr_assert_not_null(j.last_error, "a refused attempt records why");
    cr_expect(strstr(j.last_error, "transport") != NULL, "%s", j.last_error);
    cr_expect_null(j.remote_id);
    cr_expect_gt(j.next_at_ms, lg_time_now_ms(), "retried later, with backoff");
    snprintf(lerr, lerr_len, "%s", j.last_error);
    lg_outbox_job_clear(&j);

    lg_forwarder_stats s;
    lg_forwarder_stats_get(fw, &s);
    cr_expect_eq(s.delivered, 0);
    int64_t end = lg_time_now_ms() + 2000;
    while(s.retried < 1 && lg_time_now_ms() < end) {
        usleep(5000);
        lg_forwarder_stats_get(fw, &s);
    }
    cr_expect_eq(s.retried, 1);

    int conns, hs, reqs;
    peer_counts(&conns, &hs, &reqs);
    cr_expect_geq(conns, 1, "the forwarder reached the peer");
    cr_expect_eq(reqs, 0, "no HTTP request crosses a refused TLS connection");
}

static void expect_delivered(int64_t id)
{
    lg_outbox_job j = wait_attempted(id, 10000);
    cr_assert_eq(j.state, LG_OUTBOX_DONE, "state %d, error %s", j.state,
                 j.last_error ? j.last_error : "");
    cr_expect_eq(j.attempts, 1);
    cr_expect_str_eq(j.remote_id, "R-1");
    lg_outbox_job_clear(&j);
    int conns, hs, reqs;
    peer_counts(&conns, &hs, &reqs);
    cr_expect_eq(reqs, 1);
    cr_expect_geq(hs, 1);
    pthread_mutex_lock(&peer.mu);
    cr_expect_str_eq(peer.first_line, "POST /referrals/t-1 HTTP/1.1");
    pthread_mutex_unlock(&peer.mu);
}

/* ------------------------------------------------------ the cases */

Test(forward_tls, self_signed_peer_is_refused_by_default)
{
    peer_start(dir, "peer.pem", "127.0.0.1", "IP:127.0.0.1");
    int64_t id = referral_job();
    configure_and_start(NULL); /* verify_tls defaults to true, system CAs */
    char err[512];
    expect_refused(id, err, sizeof err);
    cr_expect(strstr(err, "certificate") != NULL, "last_error names the certificate problem: %s",
              err);
    int conns, hs, reqs;
    peer_counts(&conns, &hs, &reqs);
    cr_expect_eq(hs, 0, "the chain is refused during the handshake");
}

Test(forward_tls, ca_file_trusts_the_peer)
{
    peer_start(dir, "peer.pem", "127.0.0.1", "IP:127.0.0.1");
    int64_t id = referral_job();
    char ca[300];
    ca_file_setting(ca, sizeof ca, "peer.pem");
    configure_and_start(ca);
    expect_delivered(id);
}

Test(forward_tls, ca_file_of_another_certificate_is_refused)
{
    /* The same name, a different key: trusting one certificate is not
     * trusting any self-signed one. */
    peer_start(dir, "peer.pem", "127.0.0.1", "IP:127.0.0.1");
    EVP_PKEY *other = EVP_EC_gen("P-256");
    cr_assert_not_null(other);
    X509 *x = make_cert(other, "127.0.0.1", "IP:127.0.0.1");
    char path[256];
    snprintf(path, sizeof path, "%s/other.pem", dir);
    write_pem(path, x);
    X509_free(x);
    EVP_PKEY_free(other);
    int64_t id = referral_job();
    char ca[300];
    ca_file_setting(ca, sizeof ca, "other.pem");
    configure_and_start(ca);
    char err[512];
    expect_refused(id, err, sizeof err);
    cr_expect(strstr(err, "certificate") != NULL, "%s", err);
}

Test(forward_tls, verify_tls_false_accepts_the_self_signed_peer)
{
    peer_start(dir, "peer.pem", "127.0.0.1", "IP:127.0.0.1");
    int64_t id = referral_job();
    configure_and_start("\"verify_tls\": false");
    expect_delivered(id);
}

Test(forward_tls, trusted_certificate_for_another_host_is_refused)
{
    /* Trusted through ca_file, but issued to example.org: only host name
     * verification can refuse it. */
    peer_start(dir, "peer.pem", "example.org", "DNS:example.org");
    int64_t id = referral_job();
    char ca[300];
    ca_file_setting(ca, sizeof ca, "peer.pem");
    configure_and_start(ca);
    char err[512];
    expect_refused(id, err, sizeof err);
    cr_expect(strstr(err, "127.0.0.1") != NULL && strstr(err, "name") != NULL,
              "last_error names the host name mismatch: %s", err);
}

Test(forward_tls, verify_tls_false_also_skips_the_host_name)
{
    /* The counterpart of the case above: the same certificate is served
     * fine once verification is off, so the refusal there was the name. */
    peer_start(dir, "peer.pem", "example.org", "DNS:example.org");
    int64_t id = referral_job();
    configure_and_start("\"verify_tls\": false");
    expect_delivered(id);
}
