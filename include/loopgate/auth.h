/* auth.h - API clients and their bearer tokens (issue #4, "Who may see what").
 *
 * The clients file (clients.json in the data directory) lists every client
 * allowed to call the server: its id, role, the FHIR references it acts for
 * and the SHA-256 of its bearer token. The token itself is never stored: it
 * is printed once when the client is added. A server loads the file once at
 * start; lookups by token then hash the presented token and find the hash in
 * a table built at load, comparing in constant time.
 *
 * File format:
 *   {"clients":[{"id":"cbo-1","role":"referral-recipient",
 *                "actsFor":["Organization/cbo-1"],
 *                "tokenSha256":"<64 hex digits>"}]}
 * A client may also carry "unrestricted": true: it is authenticated and
 * audited under its id, but reaches the REST layer as the server itself
 * (no access rules, no workflow party checks). Meant for data migration and
 * the integration tests of the gateway core; `client list` shows it.
 */
#ifndef LOOPGATE_AUTH_H
#define LOOPGATE_AUTH_H

#include <stddef.h>

#include "loopgate/model.h"
#include "loopgate/status.h"

/* Bounds: a clients file is small, hand-managed configuration. */
#define LG_AUTH_MAX_FILE (1u << 20)     /* bytes of clients.json */
#define LG_AUTH_MAX_CLIENTS 4096
#define LG_AUTH_MAX_ID 64               /* client id characters */
#define LG_AUTH_MAX_REF 128             /* one "Type/id" reference */
#define LG_AUTH_MAX_REFS 16             /* references per client */
#define LG_AUTH_MAX_TOKEN 256           /* presented tokens beyond this are refused unhashed */
#define LG_AUTH_TOKEN_BYTES 32          /* random bytes in a new token */
#define LG_AUTH_TOKEN_CHARS 43          /* their base64url text, no padding */
#define LG_AUTH_HASH_BYTES 32           /* SHA-256 */
#define LG_AUTH_FILE "clients.json"

typedef struct lg_client {
    char *id;
    lg_actor actor;                     /* role + refs; refs point at refs below */
    char **refs;                        /* n = actor.n_refs */
    unsigned char hash[LG_AUTH_HASH_BYTES];
    int unrestricted;                   /* 1: acts as the server itself */
} lg_client;

/* The loaded clients. Immutable while a server uses it (lookups from many
 * threads at once are safe); add/remove are for the command line. */
typedef struct lg_clients lg_clients;

/* An empty list (*out is the caller's: lg_clients_free). LG_ENOMEM. */
lg_status lg_clients_new(lg_clients **out);

/* Load path. A missing file is LG_ENOTFOUND (with an issue naming it); a
 * malformed one LG_EINVAL with an issue naming the file and the problem
 * ("clients.json: client 3 (cbo-2): unknown role 'x'"); LG_ETOOLARGE over
 * the bounds above. *out is the caller's (lg_clients_free), NULL on error. */
lg_status lg_clients_load(const char *path, lg_clients **out, lg_issues *issues);

/* Write cs to path atomically (temporary file beside it, fsync, rename,
 * fsync of the directory), mode 0600. LG_EIO with an issue on failure. */
lg_status lg_clients_save(const lg_clients *cs, const char *path, lg_issues *issues);

void lg_clients_free(lg_clients *cs);

size_t lg_clients_count(const lg_clients *cs);
/* The i-th client in file order (borrowed from cs), NULL past the end. */
const lg_client *lg_clients_at(const lg_clients *cs, size_t i);
/* By id (borrowed), or NULL. */
const lg_client *lg_clients_find(const lg_clients *cs, const char *id);

/* Add a client (strings are copied). LG_ECONFLICT for a duplicate id or
 * token hash, LG_EINVAL for a bad id, role or reference (issue says which),
 * LG_ETOOLARGE beyond the bounds. Pointers from earlier lookups on cs may
 * become invalid. */
lg_status lg_clients_add(lg_clients *cs, const char *id, lg_actor_role role,
                         const char *const *refs, size_t nrefs,
                         const unsigned char hash[LG_AUTH_HASH_BYTES], lg_issues *issues);
/* Mark a client unrestricted (or not); LG_ENOTFOUND when absent. */
lg_status lg_clients_set_unrestricted(lg_clients *cs, const char *id, int on);
/* Remove by id; LG_ENOTFOUND when absent. */
lg_status lg_clients_remove(lg_clients *cs, const char *id);

/* The client whose token this is (borrowed from cs), or NULL: unknown,
 * empty, or longer than LG_AUTH_MAX_TOKEN (refused before hashing). */
const lg_client *lg_clients_authenticate(const lg_clients *cs, const char *token, size_t len);

/* The token in an Authorization header value "Bearer <token>" (scheme
 * case-insensitive, surrounding blanks ignored): a pointer into header and
 * its length, or NULL when header is NULL or not a bearer credential. */
const char *lg_auth_bearer(const char *header, size_t *len);

/* A new random token (OpenSSL RAND_bytes) as base64url text into buf
 * (>= LG_AUTH_TOKEN_CHARS + 1 bytes), and its hash. LG_EIO when the random
 * generator fails. */
lg_status lg_auth_new_token(char *buf, size_t n, unsigned char hash[LG_AUTH_HASH_BYTES]);
/* SHA-256 of the token text. */
void lg_auth_hash(const char *token, size_t len, unsigned char hash[LG_AUTH_HASH_BYTES]);

/* "referral-source", ... (static); "none" for LG_ROLE_NONE. */
const char *lg_auth_role_name(lg_actor_role r);
/* LG_OK and *out, or LG_EINVAL for an unknown name. */
lg_status lg_auth_role_parse(const char *name, lg_actor_role *out);
/* 1 when s is a relative reference Type/id: a resource type name
 * ([A-Z][A-Za-z]*) and a FHIR id ([A-Za-z0-9-.]{1,64}). */
int lg_auth_valid_ref(const char *s);
/* 1 when s is a client id: 1..LG_AUTH_MAX_ID of [A-Za-z0-9._-]. */
int lg_auth_valid_id(const char *s);

#endif
