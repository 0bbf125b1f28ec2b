/* search_cache.c - a worker's cache of whole search results.
 *
 * CBO platforms poll the same search every few seconds, and almost every
 * poll finds nothing new. A cached result is the searchset Bundle after its
 * envelope (id, meta.lastUpdated), keyed by everything that shapes it: the
 * type, the raw query string and form body, the base URL and the Prefer
 * header.
 *
 * Why a hit is never stale: before the result is computed the entry notes
 * lg_store_generation() and, for every type the result can depend on (the
 * searched type, _include targets, _revinclude sources), lg_store_type_seq().
 * Both are read before the search runs, so a write that lands during the
 * search makes the noted values older than the result, never newer: at
 * worst a fresh result is recomputed. On lookup, an unchanged generation
 * means nothing at all was committed (no I/O); otherwise the entry survives
 * only if none of its types was written, and then takes the new generation.
 *
 * One cache per worker thread: no locks. Bounded by bytes and by entry
 * count; the least recently used entry goes first.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SC_SLOTS 64
#define SC_MAX_TYPES LG_SEARCH_NOTE_TYPES

typedef struct sc_entry {
    uint64_t hash;
    char *key;            /* owned; NULL = empty slot */
    size_t key_len;
    char *tail;           /* owned */
    size_t tail_len;
    uint64_t gen;
    char *types[SC_MAX_TYPES]; /* owned */
    int64_t seqs[SC_MAX_TYPES];
    size_t ntypes;
    uint64_t used;
} sc_entry;

struct lg_search_cache {
    sc_entry e[SC_SLOTS];
    size_t bytes, max_bytes;
    uint64_t tick;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for(size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void entry_drop(lg_search_cache *sc, sc_entry *e)
{
    if(!e->key)
        return;
    sc->bytes -= e->key_len + e->tail_len;
    free(e->key);
    free(e->tail);
    for(size_t i = 0; i < e->ntypes; i++)
        free(e->types[i]);
    memset(e, 0, sizeof(*e));
}

lg_status lg_search_cache_new(size_t max_bytes, lg_search_cache **out)
{
    *out = NULL;
    if(max_bytes == 0)
        return LG_OK;
    lg_search_cache *sc = calloc(1, sizeof(*sc));
    if(!sc)
        return LG_ENOMEM;
    sc->max_bytes = max_bytes;
    *out = sc;
    return LG_OK;
}

void lg_search_cache_free(lg_search_cache *sc)
{
    if(!sc)
        return;
    for(size_t i = 0; i < SC_SLOTS; i++)
        entry_drop(sc, &sc->e[i]);
    free(sc);
}

int lg_search_cache_get(lg_search_cache *sc, lg_store *st, const char *key, size_t key_len,
                        const char **tail, size_t *tail_len)
{
    uint64_t h = fnv1a(key, key_len);
    for(size_t i = 0; i < SC_SLOTS; i++) {
        sc_entry *e = &sc->e[i];
        if(!e->key || e->hash != h || e->key_len != key_len || memcmp(e->key, key, key_len) != 0)
            continue;
        uint64_t gen = lg_store_generation(st);
        if(gen != e->gen) {
            for(size_t k = 0; k < e->ntypes; k++) {
                int64_t seq;
                if(lg_store_type_seq(st, e->types[k], &seq) != LG_OK || seq != e->seqs[k]) {
                    entry_drop(sc, e);
                    return 0;
                }
            }
            e->gen = gen;
        }
        e->used = ++sc->tick;
        *tail = e->tail;
        *tail_len = e->tail_len;
        return 1;
    }
    return 0;
}

lg_status lg_search_cache_note(lg_store *st, const char *const *types, size_t ntypes,
                               lg_search_note *n)
{
    memset(n, 0, sizeof(*n));
    if(ntypes > SC_MAX_TYPES)
        return LG_ETOOLARGE; /* not cached; the search itself goes on */
    n->gen = lg_store_generation(st);
    for(size_t i = 0; i < ntypes; i++) {
        lg_status s = lg_store_type_seq(st, types[i], &n->seqs[i]);
        if(s)
            return s;
        n->types[i] = types[i];
    }
    n->ntypes = ntypes;
    n->valid = 1;
    return LG_OK;
}

void lg_search_cache_put(lg_search_cache *sc, const lg_search_note *n, const char *key,
                         size_t key_len, const char *tail, size_t tail_len)
{
    size_t need = key_len + tail_len;
    if(!n->valid || need > sc->max_bytes / 4)
        return; /* one result may not push out most of the others */
    uint64_t h = fnv1a(key, key_len);
    sc_entry *slot = NULL;
    for(size_t i = 0; i < SC_SLOTS; i++) {
        sc_entry *e = &sc->e[i];
        if(e->key && e->hash == h && e->key_len == key_len && !memcmp(e->key, key, key_len))
            entry_drop(sc, e); /* replaced by the newer result */
    }
    for(;;) {
        sc_entry *lru = NULL;
        slot = NULL;
        for(size_t i = 0; i < SC_SLOTS; i++) {
            sc_entry *e = &sc->e[i];
            if(!e->key) {
                if(!slot)
                    slot = e;
            } else if(!lru || e->used < lru->used) {
                lru = e;
            }
        }
        if(slot && sc->bytes + need <= sc->max_bytes)
            break;
        if(!lru)
            return;
        entry_drop(sc, lru);
    }
    sc_entry e = {.hash = h, .key_len = key_len, .tail_len = tail_len, .gen = n->gen,
                  .ntypes = n->ntypes, .used = ++sc->tick};
    e.key = malloc(key_len);
    e.tail = malloc(tail_len ? tail_len : 1);
    if(!e.key || !e.tail)
        goto fail;
    memcpy(e.key, key, key_len);
    memcpy(e.tail, tail, tail_len);
    for(size_t i = 0; i < n->ntypes; i++) {
        e.seqs[i] = n->seqs[i];
        if(!(e.types[i] = strdup(n->types[i])))
            goto fail;
    }
    *slot = e;
    sc->bytes += need;
    return;
fail: /* a cache that cannot grow just does not cache */
    free(e.key);
    free(e.tail);
    for(size_t i = 0; i < n->ntypes; i++)
        free(e.types[i]);
}
