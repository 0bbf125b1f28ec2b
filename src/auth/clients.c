/* clients.c - the clients file: load, validate, look up by token, save
 * atomically (contracts in include/loopgate/auth.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "loopgate/auth.h"
#include "loopgate/buf.h"
#include "loopgate/file.h"
#include "loopgate/json.h"

struct lg_clients {
    lg_client *items;
    size_t count, cap;
    /* Open-addressing table of indexes into items, keyed by the token
     * hash's first 8 bytes (already uniformly distributed). */
    size_t *slots;
    size_t nslots; /* power of two, > 2 * count; 0 when empty */
};

static const char *const role_names[] = {
    [LG_ROLE_NONE] = "none",
    [LG_ROLE_REFERRAL_SOURCE] = "referral-source",
    [LG_ROLE_REFERRAL_RECIPIENT] = "referral-recipient",
    [LG_ROLE_COORDINATION] = "coordination",
    [LG_ROLE_REPORTING] = "reporting",
};

const char *lg_auth_role_name(lg_actor_role r)
{
    return (unsigned)r < sizeof(role_names) / sizeof(role_names[0]) ? role_names[r] : "none";
}

lg_status lg_auth_role_parse(const char *name, lg_actor_role *out)
{
    for(size_t i = LG_ROLE_REFERRAL_SOURCE; name && i < sizeof(role_names) / sizeof(role_names[0]);
        i++)
        if(strcmp(name, role_names[i]) == 0) {
            *out = (lg_actor_role)i;
            return LG_OK;
        }
    return LG_EINVAL;
}

int lg_auth_valid_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if(n == 0 || n > LG_AUTH_MAX_ID)
        return 0;
    for(size_t i = 0; i < n; i++)
        if(!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

int lg_auth_valid_ref(const char *s)
{
    if(!s || strlen(s) > LG_AUTH_MAX_REF || !isupper((unsigned char)s[0]))
        return 0;
    const char *p = s;
    while(isalpha((unsigned char)*p))
        p++;
    if(*p != '/')
        return 0;
    const char *id = ++p;
    while(isalnum((unsigned char)*p) || *p == '-' || *p == '.')
        p++;
    return *p == '\0' && p > id && p - id <= 64;
}

/* OpenSSL 3 looks the algorithm up by name on every EVP_sha256() digest
 * (an implicit fetch: locks and a hash table, half the cost of hashing a
 * token); fetched once, the digest is a plain SHA-256 per request. */
static EVP_MD *sha256_md;
static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void lg_auth_hash(const char *token, size_t len, unsigned char hash[LG_AUTH_HASH_BYTES])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    unsigned int n = LG_AUTH_HASH_BYTES;
    pthread_once(&once, fetch_sha256);
    /* EVP_Digest only fails on allocation failure inside OpenSSL; a zero
     * hash then matches no client (hashes of real tokens are never zero in
     * practice, and lookup compares the whole hash). */
    if(!EVP_Digest(token, len, hash, &n, sha256_md ? sha256_md : EVP_sha256(), NULL))
        memset(hash, 0, LG_AUTH_HASH_BYTES);
}

lg_status lg_auth_new_token(char *buf, size_t n, unsigned char hash[LG_AUTH_HASH_BYTES])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[LG_AUTH_TOKEN_BYTES + 2] = {0};
    if(n < LG_AUTH_TOKEN_CHARS + 1)
        return LG_EINVAL;
    if(RAND_bytes(raw, LG_AUTH_TOKEN_BYTES) != 1)
        return LG_EIO;
    size_t o = 0;
    for(size_t i = 0; i < LG_AUTH_TOKEN_BYTES; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        for(int k = 0; k < 4 && o < LG_AUTH_TOKEN_CHARS; k++)
            buf[o++] = b64[(v >> (18 - 6 * k)) & 63];
    }
    buf[o] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    lg_auth_hash(buf, o, hash);
    return LG_OK;
}

const char *lg_auth_bearer(const char *header, size_t *len)
{
    if(!header)
        return NULL;
    while(*header == ' ' || *header == '\t')
        header++;
    if(strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return NULL;
    const char *t = header + 6;
    while(*t == ' ' || *t == '\t')
        t++;
    size_t n = strlen(t);
    while(n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    if(n == 0)
        return NULL;
    *len = n;
    return t;
}

static uint64_t hash_key(const unsigned char *h)
{
    uint64_t k;
    memcpy(&k, h, sizeof(k));
    return k;
}

/* Rebuild the token table after the list changed. */
static lg_status rebuild(lg_clients *cs)
{
    size_t n = 8;
    while(n <= cs->count * 2)
        n <<= 1;
    size_t *slots = malloc(n * sizeof(*slots));
    if(!slots)
        return LG_ENOMEM;
    for(size_t i = 0; i < n; i++)
        slots[i] = SIZE_MAX;
    for(size_t i = 0; i < cs->count; i++) {
        size_t s = (size_t)hash_key(cs->items[i].hash) & (n - 1);
        while(slots[s] != SIZE_MAX)
            s = (s + 1) & (n - 1);
        slots[s] = i;
    }
    free(cs->slots);
    cs->slots = slots;
    cs->nslots = n;
    return LG_OK;
}

const lg_client *lg_clients_authenticate(const lg_clients *cs, const char *token, size_t len)
{
    unsigned char h[LG_AUTH_HASH_BYTES];
    if(!cs || !token || len == 0 || len > LG_AUTH_MAX_TOKEN || !cs->nslots)
        return NULL;
    lg_auth_hash(token, len, h);
    size_t mask = cs->nslots - 1;
    for(size_t s = (size_t)hash_key(h) & mask;; s = (s + 1) & mask) {
        size_t i = cs->slots[s];
        if(i == SIZE_MAX)
            return NULL;
        /* constant-time on the full hash: no timing hint about how much of
         * a guessed hash matched */
        if(CRYPTO_memcmp(cs->items[i].hash, h, LG_AUTH_HASH_BYTES) == 0)
            return &cs->items[i];
    }
}

lg_status lg_clients_new(lg_clients **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? LG_OK : LG_ENOMEM;
}

static void client_clear(lg_client *c)
{
    for(size_t i = 0; c->refs && i < c->actor.n_refs; i++)
        free(c->refs[i]);
    free(c->refs);
    free(c->id);
    OPENSSL_cleanse(c->hash, sizeof(c->hash));
    memset(c, 0, sizeof(*c));
}

void lg_clients_free(lg_clients *cs)
{
    if(!cs)
        return;
    for(size_t i = 0; i < cs->count; i++)
        client_clear(&cs->items[i]);
    free(cs->items);
    free(cs->slots);
    free(cs);
}

size_t lg_clients_count(const lg_clients *cs)
{
    return cs ? cs->count : 0;
}

const lg_client *lg_clients_at(const lg_clients *cs, size_t i)
{
    return cs && i < cs->count ? &cs->items[i] : NULL;
}

const lg_client *lg_clients_find(const lg_clients *cs, const char *id)
{
    for(size_t i = 0; cs && id && i < cs->count; i++)
        if(strcmp(cs->items[i].id, id) == 0)
            return &cs->items[i];
    return NULL;
}

lg_status lg_clients_add(lg_clients *cs, const char *id, lg_actor_role role,
                         const char *const *refs, size_t nrefs,
                         const unsigned char hash[LG_AUTH_HASH_BYTES], lg_issues *issues)
{
    lg_client c = {0};
    if(!lg_auth_valid_id(id)) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                      "client id '%.80s' must be 1-%d letters, digits, '.', '_' or '-'",
                      id ? id : "", LG_AUTH_MAX_ID);
        return LG_EINVAL;
    }
    if(role == LG_ROLE_NONE || (unsigned)role >= sizeof(role_names) / sizeof(role_names[0])) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL, "client '%s': no valid role", id);
        return LG_EINVAL;
    }
    if(nrefs == 0 || nrefs > LG_AUTH_MAX_REFS) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                      "client '%s' must act for 1 to %d references, not %zu", id,
                      LG_AUTH_MAX_REFS, nrefs);
        return nrefs ? LG_ETOOLARGE : LG_EINVAL;
    }
    for(size_t i = 0; i < nrefs; i++)
        if(!lg_auth_valid_ref(refs[i])) {
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                          "client '%s': '%.160s' is not a reference Type/id (e.g. "
                          "Organization/cbo-1)", id, refs[i] ? refs[i] : "");
            return LG_EINVAL;
        }
    if(lg_clients_find(cs, id)) {
        lg_issues_add(issues, LG_SEV_ERROR, "duplicate", NULL, "a client with id '%s' exists",
                      id);
        return LG_ECONFLICT;
    }
    for(size_t i = 0; i < cs->count; i++)
        if(CRYPTO_memcmp(cs->items[i].hash, hash, LG_AUTH_HASH_BYTES) == 0) {
            lg_issues_add(issues, LG_SEV_ERROR, "duplicate", NULL,
                          "client '%s' has the same token hash as '%s'", id, cs->items[i].id);
            return LG_ECONFLICT;
        }
    if(cs->count >= LG_AUTH_MAX_CLIENTS) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "at most %d clients",
                      LG_AUTH_MAX_CLIENTS);
        return LG_ETOOLARGE;
    }
    if(cs->count == cs->cap) {
        size_t nc = cs->cap ? cs->cap * 2 : 8;
        lg_client *ni = realloc(cs->items, nc * sizeof(*ni));
        if(!ni)
            return LG_ENOMEM;
        cs->items = ni;
        cs->cap = nc;
    }
    c.id = strdup(id);
    c.refs = calloc(nrefs, sizeof(*c.refs));
    if(!c.id || !c.refs)
        goto nomem;
    for(size_t i = 0; i < nrefs; i++) {
        if(!(c.refs[i] = strdup(refs[i])))
            goto nomem;
        c.actor.n_refs = i + 1;
    }
    c.actor.role = role;
    c.actor.refs = (const char *const *)c.refs;
    memcpy(c.hash, hash, LG_AUTH_HASH_BYTES);
    cs->items[cs->count++] = c;
    if(rebuild(cs)) {
        client_clear(&cs->items[--cs->count]);
        return LG_ENOMEM;
    }
    return LG_OK;
nomem:
    client_clear(&c);
    return LG_ENOMEM;
}

lg_status lg_clients_set_unrestricted(lg_clients *cs, const char *id, int on)
{
    for(size_t i = 0; cs && id && i < cs->count; i++)
        if(strcmp(cs->items[i].id, id) == 0) {
            cs->items[i].unrestricted = on != 0;
            return LG_OK;
        }
    return LG_ENOTFOUND;
}

lg_status lg_clients_remove(lg_clients *cs, const char *id)
{
    for(size_t i = 0; cs && id && i < cs->count; i++)
        if(strcmp(cs->items[i].id, id) == 0) {
            client_clear(&cs->items[i]);
            memmove(&cs->items[i], &cs->items[i + 1], (cs->count - i - 1) * sizeof(lg_client));
            cs->count--;
            return rebuild(cs);
        }
    return LG_ENOTFOUND;
}

static int hexval(char c)
{
    if(c >= '0' && c <= '9')
        return c - '0';
    if(c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if(c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The file's basename, so messages name the file without long paths. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* One entry of "clients"; issues are prefixed with where it is. */
static lg_status load_client(lg_clients *cs, const char *file, size_t idx, const cJSON *o,
                             lg_issues *issues)
{
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *jrole = cJSON_GetObjectItemCaseSensitive(o, "role");
    const cJSON *jrefs = cJSON_GetObjectItemCaseSensitive(o, "actsFor");
    const cJSON *jhash = cJSON_GetObjectItemCaseSensitive(o, "tokenSha256");
    const cJSON *junr = cJSON_GetObjectItemCaseSensitive(o, "unrestricted");
    const char *id = cJSON_IsString(jid) ? jid->valuestring : NULL;
    const char *refs[LG_AUTH_MAX_REFS];
    unsigned char hash[LG_AUTH_HASH_BYTES];
    lg_actor_role role;
    size_t nrefs = 0;
    char where[LG_AUTH_MAX_ID + 64];
    snprintf(where, sizeof(where), "%s: client %zu%s%.*s%s", file, idx + 1, id ? " (" : "",
             LG_AUTH_MAX_ID, id ? id : "", id ? ")" : "");
    if(!cJSON_IsObject(o) || !id) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "%s: not an object with an \"id\"",
                      where);
        return LG_EINVAL;
    }
    if(!cJSON_IsString(jrole) || lg_auth_role_parse(jrole->valuestring, &role)) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", NULL,
                      "%s: unknown role '%.40s' (referral-source, referral-recipient, "
                      "coordination or reporting)", where,
                      cJSON_IsString(jrole) ? jrole->valuestring : "");
        return LG_EINVAL;
    }
    if(!cJSON_IsArray(jrefs)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                      "%s: \"actsFor\" must be an array of references", where);
        return LG_EINVAL;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, jrefs) {
        if(nrefs >= LG_AUTH_MAX_REFS) {
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                          "%s: more than %d references", where, LG_AUTH_MAX_REFS);
            return LG_ETOOLARGE;
        }
        if(!cJSON_IsString(r)) {
            lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                          "%s: \"actsFor\" holds a non-string", where);
            return LG_EINVAL;
        }
        refs[nrefs++] = r->valuestring;
    }
    const char *hx = cJSON_IsString(jhash) ? jhash->valuestring : "";
    int ok = strlen(hx) == 2 * LG_AUTH_HASH_BYTES;
    for(size_t i = 0; ok && i < LG_AUTH_HASH_BYTES; i++) {
        int hi = hexval(hx[2 * i]), lo = hexval(hx[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        hash[i] = (unsigned char)(hi << 4 | lo);
    }
    if(!ok) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", NULL,
                      "%s: \"tokenSha256\" must be 64 hex digits", where);
        return LG_EINVAL;
    }
    if(junr && !cJSON_IsBool(junr)) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", NULL,
                      "%s: \"unrestricted\" must be true or false", where);
        return LG_EINVAL;
    }
    lg_issues sub = {0};
    lg_status st = lg_clients_add(cs, id, role, refs, nrefs, hash, &sub);
    if(!st && cJSON_IsTrue(junr))
        st = lg_clients_set_unrestricted(cs, id, 1);
    for(size_t i = 0; i < sub.count; i++)
        lg_issues_add(issues, LG_SEV_ERROR, sub.items[i].code, NULL, "%s: %s", where,
                      sub.items[i].diagnostics);
    if(st && !sub.count)
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "%s: %s", where,
                      lg_status_str(st));
    lg_issues_free(&sub);
    return st;
}

lg_status lg_clients_load(const char *path, lg_clients **out, lg_issues *issues)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    lg_clients *cs = NULL;
    const char *file = base_name(path);
    lg_status st;
    *out = NULL;
    if(access(path, F_OK) != 0 && errno == ENOENT) {
        lg_issues_add(issues, LG_SEV_ERROR, "not-found", NULL, "%s: no such file", path);
        return LG_ENOTFOUND;
    }
    if((st = lg_file_read(path, LG_AUTH_MAX_FILE, &text, &len, issues)))
        return st;
    lg_json_limits lim = lg_json_default_limits;
    lim.max_bytes = LG_AUTH_MAX_FILE;
    lim.max_depth = 8;
    lg_issues perr = {0};
    st = lg_json_parse(text, len, &lim, &root, &perr);
    if(st) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL, "%s: not valid JSON: %s", file,
                      perr.count ? perr.items[0].diagnostics : lg_status_str(st));
        lg_issues_free(&perr);
        st = st == LG_ENOMEM ? st : LG_EINVAL;
        goto fail;
    }
    lg_issues_free(&perr);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "clients");
    if(!cJSON_IsObject(root) || !cJSON_IsArray(list)) {
        lg_issues_add(issues, LG_SEV_ERROR, "structure", NULL,
                      "%s: expected an object {\"clients\": [...]}", file);
        st = LG_EINVAL;
        goto fail;
    }
    if(cJSON_GetArraySize(list) > LG_AUTH_MAX_CLIENTS) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "%s: more than %d clients", file,
                      LG_AUTH_MAX_CLIENTS);
        st = LG_ETOOLARGE;
        goto fail;
    }
    if((st = lg_clients_new(&cs)))
        goto fail;
    const cJSON *o;
    size_t idx = 0;
    cJSON_ArrayForEach(o, list) {
        if((st = load_client(cs, file, idx++, o, issues)))
            goto fail;
    }
    cJSON_Delete(root);
    free(text);
    *out = cs;
    return LG_OK;
fail:
    lg_clients_free(cs);
    cJSON_Delete(root);
    free(text);
    return st;
}

static lg_status write_all(int fd, const char *p, size_t n)
{
    while(n) {
        ssize_t w = write(fd, p, n);
        if(w < 0 && errno == EINTR)
            continue;
        if(w <= 0)
            return LG_EIO;
        p += w;
        n -= (size_t)w;
    }
    return LG_OK;
}

lg_status lg_clients_save(const lg_clients *cs, const char *path, lg_issues *issues)
{
    lg_buf b;
    char tmp[PATH_MAX], dir[PATH_MAX];
    int fd = -1;
    lg_status st = LG_OK;
    lg_buf_init(&b, LG_AUTH_MAX_FILE);
    if(snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "%s: path too long", path);
        return LG_ETOOLARGE;
    }
    st = lg_buf_adds(&b, "{\"clients\": [");
    for(size_t i = 0; !st && i < cs->count; i++) {
        const lg_client *c = &cs->items[i];
        char hx[2 * LG_AUTH_HASH_BYTES + 1];
        for(size_t k = 0; k < LG_AUTH_HASH_BYTES; k++)
            snprintf(hx + 2 * k, 3, "%02x", c->hash[k]);
        st = lg_buf_adds(&b, i ? ",\n  {\"id\": " : "\n  {\"id\": ");
        if(!st)
            st = lg_buf_add_json_string(&b, c->id);
        if(!st)
            st = lg_buf_printf(&b, ", \"role\": \"%s\", \"actsFor\": [",
                               lg_auth_role_name(c->actor.role));
        for(size_t k = 0; !st && k < c->actor.n_refs; k++) {
            if(k)
                st = lg_buf_adds(&b, ", ");
            if(!st)
                st = lg_buf_add_json_string(&b, c->refs[k]);
        }
        if(!st)
            st = lg_buf_printf(&b, "], \"tokenSha256\": \"%s\"%s}", hx,
                               c->unrestricted ? ", \"unrestricted\": true" : "");
    }
    if(!st)
        st = lg_buf_adds(&b, "\n]}\n");
    if(st) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "%s: %s", path, lg_status_str(st));
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if(fd < 0 || fchmod(fd, 0600) || write_all(fd, b.data, b.len) || fsync(fd)) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "cannot write %s: %s", tmp,
                      strerror(errno));
        st = LG_EIO;
        goto out;
    }
    close(fd);
    fd = -1;
    if(rename(tmp, path)) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "cannot rename %s to %s: %s", tmp,
                      path, strerror(errno));
        st = LG_EIO;
        goto out;
    }
    /* the rename itself must reach the disk, or a crash could bring back
     * the old file (a removed client that can still log in) */
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if(slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if(dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out:
    if(fd >= 0) {
        close(fd);
        unlink(tmp);
    } else if(st) {
        unlink(tmp);
    }
    lg_buf_free(&b);
    return st;
}
