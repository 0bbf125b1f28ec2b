/* table.c - the closed-loop report's referral fact table: one fixed-size
 * row per referral, strings interned as small integers, filled from the
 * coordination model (lg_referral + lg_child).
 *
 * Intended SQLite layout when a later layer persists it (one row per
 * lg_report_row, the dictionary shared by every string column):
 *
 *   CREATE TABLE report_string (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
 *   CREATE TABLE report_referral (
 *     referral INTEGER PRIMARY KEY REFERENCES report_string(id),
 *     child INTEGER, organization INTEGER, race INTEGER, ethnicity INTEGER,
 *     language INTEGER, county INTEGER,            -- report_string ids, NULL = unknown
 *     created_ms INTEGER NOT NULL,
 *     first_response_ms INTEGER, closed_ms INTEGER, -- NULL = not yet
 *     loop INTEGER NOT NULL,                        -- lg_loop_state
 *     not_served INTEGER NOT NULL,                  -- lg_not_served
 *     category INTEGER NOT NULL, phm_tier INTEGER NOT NULL,
 *     population INTEGER NOT NULL);                 -- LG_REPORT_POP_*
 *   CREATE INDEX report_referral_created ON report_referral(created_ms);
 *
 * In memory the created_ms index is a permutation of row numbers sorted by
 * created_ms, rebuilt lazily (compute.c) when rows were added since.
 */
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"

#define CHUNK_BYTES (1u << 20)

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for(size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

lg_report_table *lg_report_table_new(void)
{
    lg_report_table *t = calloc(1, sizeof(*t));
    if(!t)
        return NULL;
    /* id 0 is "absent": reserve it so real strings start at 1. */
    t->strs = calloc(16, sizeof(*t->strs));
    t->row_of = calloc(16, sizeof(*t->row_of));
    if(!t->strs || !t->row_of) {
        lg_report_table_free(t);
        return NULL;
    }
    t->n_strs = 1;
    t->cap_strs = 16;
    t->row_of[0] = UINT32_MAX;
    return t;
}

void lg_report_table_free(lg_report_table *t)
{
    if(!t)
        return;
    for(size_t i = 0; i < t->n_chunks; i++)
        free(t->chunks[i]);
    free(t->chunks);
    free(t->strs);
    free(t->row_of);
    free(t->slots);
    free(t->rows);
    free(t->by_created);
    free(t);
}

static char *arena_copy(lg_report_table *t, const char *s, size_t n)
{
    if(t->chunk_used + n + 1 > t->chunk_cap) {
        size_t cap = n + 1 > CHUNK_BYTES ? n + 1 : CHUNK_BYTES;
        if(t->n_chunks == t->cap_chunks) {
            size_t nc = t->cap_chunks ? t->cap_chunks * 2 : 16;
            char **c = realloc(t->chunks, nc * sizeof(*c));
            if(!c)
                return NULL;
            t->chunks = c;
            t->cap_chunks = nc;
        }
        char *c = malloc(cap);
        if(!c)
            return NULL;
        t->chunks[t->n_chunks++] = c;
        t->chunk_used = 0;
        t->chunk_cap = cap;
        t->bytes += cap;
    }
    char *p = t->chunks[t->n_chunks - 1] + t->chunk_used;
    memcpy(p, s, n);
    p[n] = '\0';
    t->chunk_used += n + 1;
    return p;
}

static lg_status grow_slots(lg_report_table *t)
{
    size_t ncap = t->cap_slots ? t->cap_slots * 2 : 1024;
    uint32_t *ns = malloc(ncap * sizeof(*ns));
    if(!ns)
        return LG_ENOMEM;
    memset(ns, 0, ncap * sizeof(*ns)); /* 0 = empty slot (id 0 is never stored) */
    for(uint32_t id = 1; id < t->n_strs; id++) {
        size_t i = hash_str(t->strs[id], strlen(t->strs[id])) & (ncap - 1);
        while(ns[i])
            i = (i + 1) & (ncap - 1);
        ns[i] = id;
    }
    t->bytes += (ncap - t->cap_slots) * sizeof(*ns);
    free(t->slots);
    t->slots = ns;
    t->cap_slots = ncap;
    return LG_OK;
}

/* The id of s (interning it when new); 0 for NULL or "". */
lg_status lg_report_intern(lg_report_table *t, const char *s, uint32_t *id)
{
    *id = 0;
    if(!s || !*s)
        return LG_OK;
    size_t n = strlen(s);
    if(n > LG_REPORT_MAX_STRING)
        return LG_ETOOLARGE;
    if((t->n_strs + 1) * 2 > t->cap_slots && grow_slots(t) != LG_OK)
        return LG_ENOMEM;
    size_t i = hash_str(s, n) & (t->cap_slots - 1);
    while(t->slots[i]) {
        const char *x = t->strs[t->slots[i]];
        if(strcmp(x, s) == 0) {
            *id = t->slots[i];
            return LG_OK;
        }
        i = (i + 1) & (t->cap_slots - 1);
    }
    if(t->n_strs >= UINT32_MAX - 1)
        return LG_ETOOLARGE;
    if(t->n_strs == t->cap_strs) {
        size_t nc = t->cap_strs * 2;
        const char **ns = realloc(t->strs, nc * sizeof(*ns));
        if(!ns)
            return LG_ENOMEM;
        t->strs = ns;
        uint32_t *nr = realloc(t->row_of, nc * sizeof(*nr));
        if(!nr)
            return LG_ENOMEM;
        t->row_of = nr;
        t->bytes += (nc - t->cap_strs) * (sizeof(*ns) + sizeof(*nr));
        t->cap_strs = nc;
    }
    char *copy = arena_copy(t, s, n);
    if(!copy)
        return LG_ENOMEM;
    uint32_t nid = (uint32_t)t->n_strs++;
    t->strs[nid] = copy;
    t->row_of[nid] = UINT32_MAX;
    t->slots[i] = nid;
    *id = nid;
    return LG_OK;
}

/* The race (or ethnicity) code the report groups by: the one OMB category,
 * "multiple" for several (the OMB "two or more races" convention). */
static const char *omb_value(const lg_code *codes, size_t n)
{
    if(n == 0)
        return NULL;
    for(size_t i = 1; i < n; i++)
        if(!codes[i].code || !codes[0].code || strcmp(codes[i].code, codes[0].code) != 0)
            return "multiple";
    return codes[0].code;
}

static uint8_t population_of(unsigned bits)
{
    bits &= (1u << LG_ECM_POPULATION_COUNT) - 1;
    if(!bits)
        return LG_REPORT_POP_NONE;
    if(bits & (bits - 1))
        return LG_REPORT_POP_MULTIPLE;
    return (uint8_t)(1 + __builtin_ctz(bits));
}

void lg_report_fact_of(const lg_referral *r, const lg_child *c, lg_report_fact *f)
{
    memset(f, 0, sizeof(*f));
    f->created_ms = f->first_response_ms = f->closed_ms = INT64_MIN;
    if(c) {
        f->race = omb_value(c->race, c->n_race);
        f->ethnicity = omb_value(c->ethnicity, c->n_ethnicity);
        f->language = c->preferred_language;
        f->county = c->county;
        f->phm_tier = (uint8_t)c->phm_tier;
        f->population = population_of(c->ecm_populations);
        f->child = c->id;
    }
    if(!r)
        return;
    f->referral = r->service_request_id ? r->service_request_id : r->task_id;
    f->organization = r->recipient_org.reference ? r->recipient_org.reference
                                                 : r->recipient_program.reference;
    if(!f->child)
        f->child = r->child.id ? r->child.id : r->child.reference;
    f->created_ms = r->authored_ms;
    f->first_response_ms = lg_referral_first_response_ms(r);
    f->closed_ms = lg_referral_closed_ms(r);
    f->loop = (uint8_t)r->loop;
    f->not_served = (uint8_t)r->not_served;
    f->category = (uint8_t)(r->n_categories ? r->categories[0] : LG_SDOH_UNSPECIFIED);
}

lg_status lg_report_add_referral(lg_report_table *t, const lg_referral *r, const lg_child *c)
{
    lg_report_fact f;
    lg_report_fact_of(r, c, &f);
    return lg_report_add_fact(t, &f);
}

lg_status lg_report_add_fact(lg_report_table *t, const lg_report_fact *f)
{
    lg_status st;
    if(!f->referral || !*f->referral)
        return LG_EINVAL;
    if(f->loop >= LG_LOOP_STATE_COUNT || f->not_served >= LG_NOT_SERVED_COUNT ||
       f->category >= LG_SDOH_CATEGORY_COUNT || f->phm_tier > LG_PHM_ENHANCED ||
       (f->population > LG_ECM_POPULATION_COUNT && f->population != LG_REPORT_POP_MULTIPLE))
        return LG_EINVAL; /* rows come from storage: never trust an enum blindly */
    lg_report_row row;
    memset(&row, 0, sizeof(row));
    if((st = lg_report_intern(t, f->referral, &row.referral)) != LG_OK ||
       (st = lg_report_intern(t, f->organization, &row.organization)) != LG_OK ||
       (st = lg_report_intern(t, f->child, &row.child)) != LG_OK ||
       (st = lg_report_intern(t, f->race, &row.race)) != LG_OK ||
       (st = lg_report_intern(t, f->ethnicity, &row.ethnicity)) != LG_OK ||
       (st = lg_report_intern(t, f->language, &row.language)) != LG_OK ||
       (st = lg_report_intern(t, f->county, &row.county)) != LG_OK)
        return st;
    row.phm_tier = f->phm_tier;
    row.population = f->population;
    row.created_ms = f->created_ms;
    row.first_response_ms = f->first_response_ms;
    row.closed_ms = f->closed_ms;
    row.loop = f->loop;
    row.not_served = f->not_served;
    row.category = f->category;

    uint32_t at = t->row_of[row.referral];
    if(at != UINT32_MAX) { /* a later version of a referral already counted */
        t->rows[at] = row;
        t->index_dirty = true;
        return LG_OK;
    }
    if(t->n_rows >= LG_REPORT_MAX_ROWS)
        return LG_ETOOLARGE;
    if(t->n_rows == t->cap_rows) {
        size_t nc = t->cap_rows ? t->cap_rows * 2 : 256;
        lg_report_row *nr = realloc(t->rows, nc * sizeof(*nr));
        if(!nr)
            return LG_ENOMEM;
        t->bytes += (nc - t->cap_rows) * sizeof(*nr);
        t->rows = nr;
        t->cap_rows = nc;
    }
    t->rows[t->n_rows] = row;
    t->row_of[row.referral] = (uint32_t)t->n_rows;
    t->n_rows++;
    t->index_dirty = true;
    return LG_OK;
}

size_t lg_report_table_rows(const lg_report_table *t)
{
    return t->n_rows;
}

const lg_report_row *lg_report_table_row(const lg_report_table *t, size_t i)
{
    return i < t->n_rows ? &t->rows[i] : NULL;
}

const char *lg_report_table_string(const lg_report_table *t, uint32_t id)
{
    return id && id < t->n_strs ? t->strs[id] : NULL;
}

size_t lg_report_table_bytes(const lg_report_table *t)
{
    return sizeof(*t) + t->bytes + t->cap_chunks * sizeof(char *) +
           (t->by_created ? t->n_index * sizeof(uint32_t) : 0);
}
