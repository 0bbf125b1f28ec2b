/* lg_it.h - harness for integration tests: start the real loopgate binary on
 * a free loopback port with a fresh data directory, speak HTTP to it with
 * libcurl, and build and inspect FHIR JSON with cJSON.
 *
 * Failures inside the harness (cannot start the server, cannot allocate) are
 * Criterion assertion failures, so callers need no error paths. Functions that
 * assert must run on the test's main thread; lg_http and the JSON helpers
 * never assert and are safe from worker threads. */
#ifndef LG_IT_H
#define LG_IT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>

#define LG_IT_MAX_EXTRA 8

typedef struct lg_server {
    pid_t pid;          /* 0 when stopped */
    int port;
    char dir[128];      /* data directory (removed by lg_it_cleanup) */
    char log[160];      /* the server's stdout+stderr */
    char base[64];      /* http://127.0.0.1:PORT */
    const char *extra[LG_IT_MAX_EXTRA + 1]; /* borrowed; must outlive the server */
    int unclean;        /* a stop went wrong: lg_it_cleanup keeps the log */
    char token[128];    /* bearer token of the "it-admin" coordination client,
                           "" when started with --no-auth */
} lg_server;

typedef struct lg_resp {
    long status;        /* HTTP status, 0 when the exchange failed */
    char *body;         /* NUL-terminated, NULL when empty */
    size_t len;
    cJSON *json;        /* parsed body, or NULL */
    char etag[64];
    char location[512];
    char last_modified[64];
    char content_type[128];
    char allow[128];
    char www_authenticate[128];
    char error[256];    /* libcurl's reason when status is 0 */
} lg_resp;

/* Start a server on a free port with a new mkdtemp data dir, and wait (at
 * most 10 s) until GET /metadata answers 200. Before it starts, a
 * coordination client "it-admin" acting for Organization/loopgate-it is
 * added with `loopgate client add --unrestricted` (unless extra holds
 * --no-auth): authenticated and audited, it acts as the server itself, so
 * the gateway core's suites are not subject to the access rules. Its token
 * is s->token, and lg_http sends it. Clients with a role's limits come from
 * lg_it_add_client. extra: NULL-terminated extra
 * command-line flags (borrowed, at most LG_IT_MAX_EXTRA), or NULL. The server
 * dies with the test process even if the test never calls lg_it_cleanup. */
void lg_it_start(lg_server *s, const char *const *extra);
/* lg_it_start with files written into the data directory (mode 0600)
 * before the server starts: files holds pairs of name (relative to the data
 * dir, e.g. "forwarding.json") and content, NULL-terminated; may be NULL. */
void lg_it_start_files(lg_server *s, const char *const *extra, const char *const *files);
/* Start again on the same data dir, port and flags (after lg_it_stop). */
void lg_it_restart(lg_server *s);
/* Stop with sig and reap the process. SIGTERM must end in exit status 0
 * within 10 s (graceful shutdown); SIGKILL simulates a crash. */
void lg_it_stop(lg_server *s, int sig);
/* Stop with SIGTERM if running, then remove the data directory and log. */
void lg_it_cleanup(lg_server *s);

/* Add a client to the server's clients file with `loopgate client add` and
 * return its token (caller frees). role: referral-source, referral-recipient,
 * coordination or reporting; ref: "Organization/cbo-1". The server reads the
 * file at start and on SIGHUP: lg_it_reload (or lg_it_stop + lg_it_restart)
 * before using the token. */
char *lg_it_add_client(const lg_server *s, const char *id, const char *role, const char *ref);
/* SIGHUP the server and wait (at most 5 s) until token is accepted. */
void lg_it_reload(const lg_server *s, const char *token);
/* Run the loopgate binary with args (NULL-terminated, after the program
 * name); its stdout is returned (caller frees) and its exit status put in
 * *status; stderr goes to the file err_path (may be NULL: discarded). */
char *lg_it_run(const char *const *args, int *status, const char *err_path);

/* One request. headers: NULL-terminated "Name: value" strings, may be NULL.
 * body may be NULL. path is appended to the base URL unless it starts with
 * "http". s->token goes as "Authorization: Bearer" unless headers hold an
 * Authorization header. The response is owned by the caller: lg_resp_free. */
lg_resp lg_http(const lg_server *s, const char *method, const char *path,
                const char *const *headers, const char *body);
/* Same with an explicit body length (bodies holding NUL bytes). */
lg_resp lg_http_n(const lg_server *s, const char *method, const char *path,
                  const char *const *headers, const char *body, size_t len);
/* Same as lg_http_n with another client's token ("" or NULL: none at all). */
lg_resp lg_http_as(const lg_server *s, const char *token, const char *method, const char *path,
                   const char *const *headers, const char *body);
/* POST/PUT/PATCH with Content-Type application/fhir+json. */
lg_resp lg_http_json(const lg_server *s, const char *method, const char *path, const char *body);
/* GET of a printf-formatted path. */
lg_resp lg_getf(const lg_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free what a response owns and zero it; safe on a zeroed response. */
void lg_resp_free(lg_resp *r);

/* POST body to /type, assert 201 and return the new id (caller frees). */
char *lg_create(const lg_server *s, const char *type, const char *body);
/* PUT body to /type/id, assert 200 or 201. */
void lg_put(const lg_server *s, const char *type, const char *id, const char *body);

/* printf into a new string (caller frees); asserts on allocation failure. */
char *lg_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Resource builders: each returns compact JSON text the caller frees. Any
 * NULL argument leaves the element out. */
char *lg_res_patient(const char *system, const char *value, const char *family,
                     const char *given, const char *gender, const char *birth_date);
/* A Task (intent order); focus, patient (Task.for) and owner are references
 * like "ServiceRequest/1". */
char *lg_res_task(const char *status, const char *owner, const char *focus, const char *patient);
/* A ServiceRequest (intent order) with subject and optional category code. */
char *lg_res_service_request(const char *status, const char *subject, const char *category_system,
                             const char *category_code);

/* Helpers on parsed JSON; all borrow from o and accept NULL. */
const char *lg_str(const cJSON *o, const char *key);
/* Walk a dotted path of keys and array indexes: "entry.0.response.status". */
const cJSON *lg_at(const cJSON *o, const char *path);
/* String at a dotted path, or NULL. */
const char *lg_at_str(const cJSON *o, const char *path);
int lg_entries(const cJSON *bundle);
/* Bundle.total, or -1 when absent. */
int lg_total(const cJSON *bundle);
/* The url of Bundle.link with this relation, or NULL. */
const char *lg_link(const cJSON *bundle, const char *relation);
/* issue[0].diagnostics of an OperationOutcome, or "". */
const char *lg_diag(const cJSON *oo);
/* Read a file under LG_SHARED_DIR/fhir (caller frees); asserts it exists. */
char *lg_shared_file(const char *rel);
/* The resource types the server's CapabilityStatement lists (cJSON array of
 * strings, caller frees with cJSON_Delete). */
cJSON *lg_served_types(const lg_server *s);
/* 1 when name is in a cJSON array of strings. */
int lg_in(const cJSON *strings, const char *name);

#endif
