/* search.c - FHIR search (GET and POST _search), conditional-match look-ups,
 * _include/_revinclude, and searchset Bundles with keyset paging.
 *
 * Paging: a next link carries _cursor=<max_seq>.<key>.<seq>. max_seq is the
 * store's highest write at the first page; rows written later are outside
 * the search, so pages neither repeat nor skip rows while new resources
 * arrive (a resource updated mid-paging leaves the result set - its current
 * version is newer than the snapshot). key/seq are the sort position of the
 * last row returned.
 *
 * Access (access.c): for a client with limited access, matches it may not
 * see are dropped before paging - rows are read from the cursor in chunks
 * and filtered until the page is full - so totals count only visible
 * matches and next links neither skip nor repeat. _include/_revinclude
 * results it may not see are silently left out.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/outcome.h"
#include "loopgate/time.h"
#include "internal.h"

#define MAX_INCLUDE_SPECS 16

typedef struct incl_spec {
    char *src_type; /* resource type holding the reference */
    char *param;    /* its reference search parameter */
    char *target;   /* optional target type */
} incl_spec;

typedef struct search_req {
    lg_query q;
    int summary_count;
    int want_total;
    int lenient;
    incl_spec inc[MAX_INCLUDE_SPECS], rev[MAX_INCLUDE_SPECS];
    size_t ninc, nrev;
    lg_buf selfq; /* the query string for links, without _cursor */
    int cut;      /* a filtered page ended at the scan bound: next link at cut_key/cut_seq */
    int64_t cut_key, cut_seq;
} search_req;

/* Rows a filtered search or count reads at most per request: the price of
 * one page for a client that may see few of the matches. */
#define SEARCH_SCAN_MAX 5000

/* Rows of q from its cursor that the client may see, up to want of them,
 * appended to out - or, with out NULL, counted into *nvis (want ignored).
 * Scanning stops after SEARCH_SCAN_MAX rows: then *cut is 1 and
 * *cut_key, *cut_seq are the sort position to continue after. q's paging
 * fields are restored before returning. */
static lg_status filtered_search(lg_ctx *c, lg_query *q, size_t want, lg_resource_list *out,
                                 int64_t *nvis, int *cut, int64_t *cut_key, int64_t *cut_seq)
{
    const int save_count = q->count, save_has = q->has_cursor;
    const int64_t save_key = q->after_key, save_seq = q->after_seq;
    /* Most rows of a pushed-down search are visible: start with what the
     * page needs and grow while the filter drops rows. */
    int chunk = !out ? 500 : want < 1000 ? (int)want + 1 : 1000;
    size_t scanned = 0;
    lg_status st = LG_OK;
    *cut = 0;
    if(nvis)
        *nvis = 0;
    q->count = chunk;
    for(;;) {
        lg_resource_list l = {0};
        if((st = lg_store_search(c->st, q, &l, &c->issues)))
            break;
        size_t got = l.count > (size_t)chunk ? (size_t)chunk : l.count;
        int more = l.count > (size_t)chunk;
        for(size_t i = 0; i < got && (!out || out->count < want); i++) {
            scanned++;
            q->has_cursor = 1;
            q->after_key = l.items[i].last_updated;
            q->after_seq = l.items[i].seq;
            if(i + 1 < got)
                more = 1; /* rows of this chunk remain unread */
            if(!lg_access_resource(c, &l.items[i]))
                continue;
            if(!out)
                (*nvis)++;
            else if((st = lg_list_move(out, &l.items[i])))
                break;
        }
        if(out && out->count >= want)
            more = 0;
        lg_resource_list_clear(&l);
        if(st || !more)
            break;
        chunk = chunk < 500 ? chunk * 2 : 1000;
        if((size_t)chunk > SEARCH_SCAN_MAX - scanned)
            chunk = (int)(SEARCH_SCAN_MAX - scanned); /* never scan past the bound */
        q->count = chunk;
        if(scanned >= SEARCH_SCAN_MAX) {
            *cut = 1;
            *cut_key = q->after_key;
            *cut_seq = q->after_seq;
            break;
        }
    }
    q->count = save_count;
    q->has_cursor = save_has;
    q->after_key = save_key;
    q->after_seq = save_seq;
    return st;
}

static void search_req_free(search_req *s)
{
    lg_query_free(&s->q);
    for(size_t i = 0; i < s->ninc; i++) {
        free(s->inc[i].src_type);
        free(s->inc[i].param);
        free(s->inc[i].target);
    }
    for(size_t i = 0; i < s->nrev; i++) {
        free(s->rev[i].src_type);
        free(s->rev[i].param);
        free(s->rev[i].target);
    }
    lg_buf_free(&s->selfq);
}

static lg_status add_encoded(lg_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    lg_status st = LG_OK;
    for(const unsigned char *p = (const unsigned char *)s; !st && *p; p++) {
        if(isalnum(*p) || strchr("-._~:,/", *p)) {
            st = lg_buf_add(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            st = lg_buf_add(b, e, 3);
        }
    }
    return st;
}

static lg_status add_link_param(lg_buf *b, const char *name, const char *value)
{
    lg_status st = LG_OK;
    if(b->len)
        st = lg_buf_adds(b, "&");
    if(!st) st = add_encoded(b, name);
    if(!st) st = lg_buf_adds(b, "=");
    if(!st) st = add_encoded(b, value);
    return st;
}

static int parse_int(const char *s, long long *out)
{
    char *end;
    if(!*s || !(isdigit((unsigned char)*s) || *s == '-'))
        return -1;
    long long v = strtoll(s, &end, 10);
    if(*end)
        return -1;
    *out = v;
    return 0;
}

/* "Type:param[:target]" */
static lg_status parse_incl(lg_ctx *c, const char *name, const char *v, incl_spec *out)
{
    char *dup = strdup(v), *p2, *p3;
    if(!dup)
        return LG_ENOMEM;
    p2 = strchr(dup, ':');
    if(!p2) {
        free(dup);
        return lg_fail(c, LG_EINVAL, "invalid", name,
                       "%s value '%s' must be Type:parameter[:targetType]", name, v);
    }
    *p2++ = '\0';
    p3 = strchr(p2, ':');
    if(p3)
        *p3++ = '\0';
    const lg_search_param *sp = lg_defs_param(c->rest->defs, dup, p2);
    if(!sp || sp->type != LG_SP_REFERENCE) {
        lg_status st = lg_fail(c, LG_EINVAL, "not-supported", name,
                               "%s: '%s' is not a reference search parameter of a served type",
                               name, v);
        free(dup);
        return st;
    }
    out->src_type = strdup(dup);
    out->param = strdup(p2);
    out->target = p3 && *p3 ? strdup(p3) : NULL;
    free(dup);
    return out->src_type && out->param ? LG_OK : LG_ENOMEM;
}

static lg_status parse_cursor(const char *v, lg_query *q)
{
    long long m, k, s;
    char extra;
    if(sscanf(v, "%lld.%lld.%lld%c", &m, &k, &s, &extra) != 3 || m < 0 || s < 0)
        return LG_EINVAL;
    q->max_seq = m;
    q->after_key = k;
    q->after_seq = s;
    q->has_cursor = 1;
    return LG_OK;
}

/* A reference to one of our own resources may arrive absolute
 * ("http://host/fhir/Organization/x"); the store indexes it as the local
 * "Organization/x", so strip our base from each comma-separated value.
 * Returns a malloc'd value the caller frees, or NULL when nothing changes
 * (or on out-of-memory, when the caller keeps the original). */
static char *strip_own_base(const lg_ctx *c, const char *type, const char *name, const char *v)
{
    const char *base = c->req->base;
    size_t blen = base ? strlen(base) : 0;
    char code[128];
    size_t n = strcspn(name, ":.");
    if(!blen || n >= sizeof(code) || !strstr(v, base))
        return NULL;
    memcpy(code, name, n);
    code[n] = 0;
    const lg_search_param *sp = lg_defs_param(c->rest->defs, type, code);
    if(!sp || sp->type != LG_SP_REFERENCE)
        return NULL;
    char *out = malloc(strlen(v) + 1), *o = out;
    if(!out)
        return NULL;
    for(const char *p = v; *p;) {
        if(strncmp(p, base, blen) == 0 && p[blen] == '/')
            p += blen + 1;
        while(*p && *p != ',') {
            if(*p == '\\' && p[1])
                *o++ = *p++;
            *o++ = *p++;
        }
        if(*p == ',')
            *o++ = *p++;
    }
    *o = 0;
    return out;
}

/* Build a search from query-string and form parameters. Replies on error. */
static lg_status build_search(lg_ctx *c, const char *type, const lg_params *ps, search_req *s,
                              int conditional)
{
    lg_status st = LG_OK;
    const lg_rest_config *cfg = &c->rest->cfg;
    s->q.type = strdup(type);
    if(!s->q.type)
        return LG_ENOMEM;
    s->q.count = conditional ? 2 : cfg->default_count;
    s->lenient = c->req->prefer && strstr(c->req->prefer, "handling=lenient");
    lg_buf_init(&s->selfq, 64 * 1024);
    for(size_t i = 0; i < ps->count; i++) {
        const char *n = ps->items[i].name, *v = ps->items[i].value;
        int link = 1;
        if(!conditional && strcmp(n, "_count") == 0) {
            long long k;
            if(parse_int(v, &k) || k < 0)
                return lg_fail(c, LG_EINVAL, "invalid", "_count",
                               "_count must be a non-negative integer, not '%s'", v);
            s->q.count = k > cfg->max_count ? cfg->max_count : (int)k;
        } else if(!conditional && strcmp(n, "_sort") == 0) {
            if(strcmp(v, "_lastUpdated") == 0)
                s->q.sort = LG_SORT_LASTUPDATED_ASC;
            else if(strcmp(v, "-_lastUpdated") == 0)
                s->q.sort = LG_SORT_LASTUPDATED_DESC;
            else
                return lg_fail(c, LG_EINVAL, "not-supported", "_sort",
                               "_sort supports _lastUpdated and -_lastUpdated, not '%s'", v);
        } else if(!conditional && strcmp(n, "_summary") == 0) {
            if(strcmp(v, "count") == 0)
                s->summary_count = 1;
            else if(strcmp(v, "false") != 0)
                lg_issues_add(&c->issues, LG_SEV_WARNING, "not-supported", "_summary",
                              "_summary=%s is not supported; full resources are returned", v);
        } else if(!conditional && strcmp(n, "_total") == 0) {
            s->want_total = strcmp(v, "accurate") == 0 || strcmp(v, "estimate") == 0;
        } else if(!conditional && (strcmp(n, "_include") == 0 || strcmp(n, "_revinclude") == 0 ||
                                   strcmp(n, "_include:iterate") == 0 ||
                                   strcmp(n, "_revinclude:iterate") == 0)) {
            int rev = n[1] == 'r';
            size_t *cnt = rev ? &s->nrev : &s->ninc;
            if(*cnt == MAX_INCLUDE_SPECS)
                return lg_fail(c, LG_ETOOLARGE, "too-costly", n, "Too many %s parameters", n);
            if((st = parse_incl(c, n, v, rev ? &s->rev[*cnt] : &s->inc[*cnt])))
                return st;
            (*cnt)++;
        } else if(!conditional && strcmp(n, "_cursor") == 0) {
            link = 0;
            if(parse_cursor(v, &s->q))
                return lg_fail(c, LG_EINVAL, "invalid", "_cursor", "Malformed paging cursor '%s'",
                               v);
        } else if(strcmp(n, "_format") == 0 || strcmp(n, "_pretty") == 0 ||
                  strcmp(n, "_elements") == 0) {
            if(strcmp(n, "_format") == 0 && strstr(v, "xml"))
                return lg_fail(c, LG_EUNSUPPORTED, "not-supported", "_format",
                               "Only JSON is supported (_format=%s)", v);
        } else {
            size_t before = c->issues.count;
            char *local = strip_own_base(c, type, n, v);
            st = lg_query_add_param(c->rest->defs, &s->q, n, local ? local : v, &c->issues);
            free(local);
            if(st == LG_EINVAL && s->lenient) {
                for(size_t k = before; k < c->issues.count; k++)
                    c->issues.items[k].severity = LG_SEV_WARNING;
                link = 0;
                st = LG_OK;
            }
            if(st)
                return lg_fail_issues(c, st);
        }
        if(link && (st = add_link_param(&s->selfq, n, v)))
            return st;
    }
    return LG_OK;
}

lg_status lg_conditional_match(lg_ctx *c, const char *type, const char *query,
                               lg_resource_list *out)
{
    lg_params ps = {0};
    search_req s = {0};
    lg_status st = lg_params_parse(query, query ? strlen(query) : 0, &ps);
    if(st) {
        lg_fail(c, st, "invalid", NULL, "Could not parse the conditional criteria");
        goto out;
    }
    if(ps.count == 0) {
        st = lg_fail(c, LG_EINVAL, "invalid", NULL,
                     "A conditional interaction needs search criteria");
        goto out;
    }
    if((st = build_search(c, type, &ps, &s, 1)))
        goto out;
    if(lg_access_filters(c, type)) {
        /* Only matches the client may see count: a hidden one is "no match". */
        int cut = 0;
        int64_t k, q;
        if((st = lg_access_pushdown(c, &s.q)) ||
           (st = filtered_search(c, &s.q, 2, out, NULL, &cut, &k, &q))) {
            lg_fail_issues(c, st);
        } else if(cut && out->count < 2) {
            st = lg_fail(c, LG_ETOOLARGE, "too-costly", NULL,
                         "The conditional criteria match too many %s resources to check", type);
        }
        goto out;
    }
    if((st = lg_store_search(c->st, &s.q, out, &c->issues)))
        lg_fail_issues(c, st);
out:
    lg_params_free(&ps);
    search_req_free(&s);
    return st;
}

/* ---- Bundle assembly ---- */

typedef struct seen_set {
    char **keys;
    size_t count, cap;
} seen_set;

static int seen_has(const seen_set *s, const char *k)
{
    for(size_t i = 0; i < s->count; i++)
        if(strcmp(s->keys[i], k) == 0)
            return 1;
    return 0;
}

static lg_status seen_add(seen_set *s, const char *type, const char *id)
{
    if(s->count == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 32;
        char **n = realloc(s->keys, ncap * sizeof(*n));
        if(!n)
            return LG_ENOMEM;
        s->keys = n;
        s->cap = ncap;
    }
    if(asprintf(&s->keys[s->count], "%s/%s", type, id) < 0)
        return LG_ENOMEM;
    s->count++;
    return LG_OK;
}

static void seen_free(seen_set *s)
{
    for(size_t i = 0; i < s->count; i++)
        free(s->keys[i]);
    free(s->keys);
}

static lg_status add_entry(lg_ctx *c, lg_buf *b, const lg_resource *r, const char *mode,
                           int *first)
{
    lg_status st = lg_buf_adds(b, *first ? "" : ",");
    *first = 0;
    if(!st) st = lg_buf_printf(b, "{\"fullUrl\":\"%s/%s/%s\",\"resource\":", c->req->base,
                               r->type, r->id);
    if(!st) st = lg_buf_add(b, r->json, r->json_len);
    if(!st) st = lg_buf_printf(b, ",\"search\":{\"mode\":\"%s\"}}", mode);
    return st;
}

/* Resources the page's matches point at through s->inc. */
static lg_status add_includes(lg_ctx *c, search_req *s, const lg_resource_list *page,
                              size_t n, seen_set *seen, lg_buf *b, int *first)
{
    lg_status st = LG_OK;
    size_t added = 0;
    for(size_t i = 0; !st && i < n; i++) {
        cJSON *doc = cJSON_ParseWithLength(page->items[i].json, page->items[i].json_len);
        lg_index ix = {0};
        lg_issues w = {0};
        if(!doc)
            continue;
        for(size_t k = 0; !st && k < s->ninc; k++) {
            if(strcmp(s->inc[k].src_type, page->items[i].type) != 0)
                continue;
            /* Only the include's own parameter: evaluating every search
             * parameter of each match was most of a polling search's cost. */
            lg_index_free(&ix);
            st = lg_index_extract_param(c->rest->defs, page->items[i].type, doc, s->inc[k].param,
                                        &ix, &w);
            for(size_t e = 0; !st && e < ix.count; e++) {
                const lg_index_entry *en = &ix.items[e];
                if(en->type != LG_SP_REFERENCE || !en->s1 || !en->s2 ||
                   strcmp(en->param, s->inc[k].param) != 0)
                    continue;
                if(s->inc[k].target && strcmp(s->inc[k].target, en->s1) != 0)
                    continue;
                if(!lg_defs_type(c->rest->defs, en->s1))
                    continue;
                char key[256];
                snprintf(key, sizeof(key), "%s/%s", en->s1, en->s2);
                if(seen_has(seen, key))
                    continue;
                if(added >= c->rest->cfg.max_includes) {
                    lg_issues_add(&c->issues, LG_SEV_WARNING, "too-costly", "_include",
                                  "Only the first %zu included resources are returned",
                                  c->rest->cfg.max_includes);
                    break;
                }
                lg_resource r = {0};
                if(lg_store_read(c->st, en->s1, en->s2, &r) == LG_OK && !r.deleted &&
                   lg_access_resource(c, &r)) {
                    st = add_entry(c, b, &r, "include", first);
                    if(!st) st = seen_add(seen, en->s1, en->s2);
                    added++;
                }
                lg_resource_clear(&r);
            }
        }
        lg_index_free(&ix);
        lg_issues_free(&w);
        cJSON_Delete(doc);
    }
    return st;
}

/* Resources that point at the page's matches through s->rev. */
static lg_status add_revincludes(lg_ctx *c, search_req *s, const lg_resource_list *page,
                                 size_t n, seen_set *seen, lg_buf *b, int *first)
{
    lg_status st = LG_OK;
    for(size_t k = 0; !st && k < s->nrev && n; k++) {
        lg_buf v;
        lg_buf_init(&v, 1 << 20);
        for(size_t i = 0; !st && i < n; i++)
            st = lg_buf_printf(&v, "%s%s/%s", i ? "," : "", page->items[i].type,
                               page->items[i].id);
        lg_query q = {0};
        lg_resource_list res = {0};
        q.type = strdup(s->rev[k].src_type);
        q.count = (int)c->rest->cfg.max_includes;
        if(!st && !q.type)
            st = LG_ENOMEM;
        if(!st)
            st = lg_query_add_param(c->rest->defs, &q, s->rev[k].param, v.data, &c->issues);
        if(!st)
            st = lg_store_search(c->st, &q, &res, &c->issues);
        for(size_t i = 0; !st && i < res.count && i < (size_t)q.count; i++) {
            char key[256];
            snprintf(key, sizeof(key), "%s/%s", res.items[i].type, res.items[i].id);
            if(seen_has(seen, key) || !lg_access_resource(c, &res.items[i]))
                continue;
            st = add_entry(c, b, &res.items[i], "include", first);
            if(!st) st = seen_add(seen, res.items[i].type, res.items[i].id);
        }
        lg_resource_list_clear(&res);
        lg_query_free(&q);
        lg_buf_free(&v);
    }
    return st;
}

/* The envelope every searchset starts with: a fresh id and time, so a
 * cached tail (search_cache.c) can follow it. */
static lg_status write_head(lg_buf *b)
{
    char id[40], now[LG_TIME_BUFSZ];
    lg_new_id(id);
    lg_time_format(lg_time_now_ms(), now, sizeof(now));
    return lg_buf_printf(b, "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":{"
                            "\"lastUpdated\":\"%s\"},\"type\":\"searchset\"",
                         id, now);
}

/* note (may be NULL) says the result may be cached under key. */
static lg_status write_search_bundle(lg_ctx *c, const char *type, search_req *s,
                                     const lg_resource_list *page, int64_t total,
                                     const lg_search_note *note, const lg_buf *key)
{
    lg_buf b;
    seen_set seen = {0};
    int first = 1;
    size_t n = page->count > (size_t)s->q.count ? (size_t)s->q.count : page->count;
    lg_buf_init(&b, c->rest->cfg.max_response);
    lg_status st = write_head(&b);
    size_t head_len = b.len;
    if(!st && total >= 0)
        st = lg_buf_printf(&b, ",\"total\":%" PRId64, total);
    if(!st) st = lg_buf_printf(&b, ",\"link\":[{\"relation\":\"self\",\"url\":\"%s/%s%s%s", c->req->base,
                               type, s->selfq.len ? "?" : "", s->selfq.len ? s->selfq.data : "");
    if(!st && s->q.has_cursor)
        st = lg_buf_printf(&b, "%s_cursor=%" PRId64 ".%" PRId64 ".%" PRId64,
                           s->selfq.len ? "&" : "?", s->q.max_seq, s->q.after_key,
                           s->q.after_seq);
    if(!st) st = lg_buf_adds(&b, "\"}");
    if(!st && ((page->count > (size_t)s->q.count && n > 0) || s->cut)) {
        /* A filtered page cut short by the scan bound continues after the
         * last row scanned, not the last row shown. */
        int64_t nkey = s->cut ? s->cut_key : page->items[n - 1].last_updated;
        int64_t nseq = s->cut ? s->cut_seq : page->items[n - 1].seq;
        st = lg_buf_printf(&b, ",{\"relation\":\"next\",\"url\":\"%s/%s?%s%s_cursor=%" PRId64
                               ".%" PRId64 ".%" PRId64 "\"}",
                           c->req->base, type, s->selfq.len ? s->selfq.data : "",
                           s->selfq.len ? "&" : "", s->q.max_seq, nkey, nseq);
    }
    if(!st) st = lg_buf_adds(&b, "]");
    if(!st && !s->summary_count) {
        st = lg_buf_adds(&b, ",\"entry\":[");
        for(size_t i = 0; !st && i < n; i++) {
            st = add_entry(c, &b, &page->items[i], "match", &first);
            if(!st && (s->ninc || s->nrev))
                st = seen_add(&seen, page->items[i].type, page->items[i].id);
        }
        if(!st && s->ninc)
            st = add_includes(c, s, page, n, &seen, &b, &first);
        if(!st && s->nrev)
            st = add_revincludes(c, s, page, n, &seen, &b, &first);
        if(!st && c->issues.count) {
            /* Warnings (lenient handling, ignored options) travel in an
             * OperationOutcome entry with search.mode outcome. */
            st = lg_buf_adds(&b, first ? "{\"resource\":" : ",{\"resource\":");
            if(!st) st = lg_outcome_write(&b, &c->issues, LG_SEV_WARNING, "informational", "");
            if(!st) st = lg_buf_adds(&b, ",\"search\":{\"mode\":\"outcome\"}}");
        }
        if(!st) st = lg_buf_adds(&b, "]");
    } else if(!st && c->issues.count) {
        /* _summary=count: warnings (e.g. why there is no total) still travel. */
        st = lg_buf_adds(&b, ",\"entry\":[{\"resource\":");
        if(!st) st = lg_outcome_write(&b, &c->issues, LG_SEV_WARNING, "informational", "");
        if(!st) st = lg_buf_adds(&b, ",\"search\":{\"mode\":\"outcome\"}}]");
    }
    if(!st) st = lg_buf_adds(&b, "}");
    seen_free(&seen);
    if(st) {
        lg_buf_free(&b);
        return lg_fail(c, st, st == LG_ETOOLARGE ? "too-costly" : "exception", NULL,
                       "Could not assemble the search result");
    }
    if(note && note->valid)
        lg_search_cache_put(c->req->search_cache, note, key->data, key->len, b.data + head_len,
                            b.len - head_len);
    lg_reply_buf(c, 200, &b);
    return LG_OK;
}

/* Answer from the worker's cache. 1: replied (or failed replying). */
static int reply_cached(lg_ctx *c, const lg_buf *key)
{
    const char *tail;
    size_t tail_len;
    if(!lg_search_cache_get(c->req->search_cache, c->st, key->data, key->len, &tail, &tail_len))
        return 0;
    lg_buf b;
    lg_buf_init(&b, c->rest->cfg.max_response);
    lg_status st = write_head(&b);
    if(!st) st = lg_buf_add(&b, tail, tail_len);
    if(st) {
        lg_buf_free(&b);
        lg_fail(c, st, "exception", NULL, "Could not assemble the search result");
        return 1;
    }
    lg_reply_buf(c, 200, &b);
    return 1;
}

static lg_status add_key_part(lg_buf *k, const char *s, size_t n)
{
    lg_status st = s ? lg_buf_add(k, s, n) : LG_OK;
    return st ? st : lg_buf_add(k, "\n", 1);
}

/* Everything a searchset's tail depends on besides the stored data. */
static lg_status cache_key(lg_ctx *c, const char *type, const char *query, const char *form,
                           size_t form_len, lg_buf *k)
{
    const lg_rest_request *r = c->req;
    lg_status st = add_key_part(k, type, strlen(type));
    if(!st) st = add_key_part(k, query, query ? strlen(query) : 0);
    if(!st) st = add_key_part(k, form, form_len);
    if(!st) st = add_key_part(k, r->base, r->base ? strlen(r->base) : 0);
    if(!st) st = add_key_part(k, r->prefer, r->prefer ? strlen(r->prefer) : 0);
    /* Who asks: two clients never share a cached result (each may see
     * different matches). The server itself is the empty identity. */
    if(!st) st = add_key_part(k, r->client_id, r->client_id ? strlen(r->client_id) : 0);
    if(!st && r->actor) {
        st = lg_buf_printf(k, "role=%d\n", (int)r->actor->role);
        for(size_t i = 0; !st && i < r->actor->n_refs; i++)
            st = add_key_part(k, r->actor->refs[i],
                              r->actor->refs[i] ? strlen(r->actor->refs[i]) : 0);
    }
    return st;
}

static void add_dep(const char **types, size_t *n, const char *t)
{
    for(size_t i = 0; i < *n; i++)
        if(strcmp(types[i], t) == 0)
            return;
    if(*n < LG_SEARCH_NOTE_TYPES + 1)
        types[(*n)++] = t;
}

/* Note what the result will depend on, before computing it. Leaves
 * note->valid 0 when the result must not be cached: the "ap" prefix
 * compares with the current time; too many types to follow. */
static void note_deps(lg_ctx *c, const search_req *s, lg_search_note *note)
{
    const char *types[LG_SEARCH_NOTE_TYPES + 1];
    size_t n = 0;
    memset(note, 0, sizeof(*note));
    for(size_t i = 0; i < s->q.nparams; i++)
        for(size_t k = 0; k < s->q.params[i].nvalues; k++)
            if(s->q.params[i].values[k].prefix == LG_PFX_AP)
                return;
    add_dep(types, &n, s->q.type);
    for(size_t i = 0; i < s->ninc; i++) {
        if(s->inc[i].target) {
            add_dep(types, &n, s->inc[i].target);
            continue;
        }
        const lg_search_param *sp = lg_defs_param(c->rest->defs, s->inc[i].src_type,
                                                  s->inc[i].param);
        for(size_t t = 0; sp && t < sp->ntargets; t++)
            if(lg_defs_type(c->rest->defs, sp->targets[t])) /* only served types are included */
                add_dep(types, &n, sp->targets[t]);
    }
    for(size_t i = 0; i < s->nrev; i++)
        add_dep(types, &n, s->rev[i].src_type);
    if(c->req->actor) {
        /* What a client may see is decided from its referrals: the
         * look-ups in access.c read these types. */
        add_dep(types, &n, "Task");
        add_dep(types, &n, "ServiceRequest");
        add_dep(types, &n, "Patient");
    }
    if(n <= LG_SEARCH_NOTE_TYPES)
        lg_search_cache_note(c->st, types, n, note);
}

lg_status lg_do_search(lg_ctx *c, const char *type, const char *query, const char *form,
                       size_t form_len)
{
    lg_params qp = {0}, fp = {0}, all = {0};
    search_req s = {0};
    lg_resource_list page = {0};
    lg_search_note note = {0};
    lg_buf key;
    int64_t total = -1;
    int snap = 0;
    lg_status st = LG_OK;
    lg_buf_init(&key, 64 * 1024);
    if(c->req->search_cache) {
        if(cache_key(c, type, query, form, form_len, &key))
            lg_buf_free(&key); /* too long to cache: key.len 0 */
        else if(reply_cached(c, &key))
            goto out;
    }
    st = lg_params_parse(query, query ? strlen(query) : 0, &qp);
    if(!st)
        st = lg_params_parse(form, form_len, &fp);
    if(st) {
        st = lg_fail(c, st, st == LG_ETOOLARGE ? "too-costly" : "invalid", NULL,
                     "Could not parse the search parameters");
        goto out;
    }
    /* Query-string and form parameters combine (R4 3.1.0.1.2). */
    all.count = qp.count + fp.count;
    all.items = calloc(all.count ? all.count : 1, sizeof(*all.items));
    if(!all.items) {
        st = LG_ENOMEM;
        goto out;
    }
    if(qp.count)
        memcpy(all.items, qp.items, qp.count * sizeof(*all.items));
    if(fp.count)
        memcpy(all.items + qp.count, fp.items, fp.count * sizeof(*all.items));
    if((st = build_search(c, type, &all, &s, 0)))
        goto out;
    if(key.len)
        note_deps(c, &s, &note); /* before the snapshot: see search_cache.c */
    /* One read transaction for the whole search: every include read sees
     * the same store, and SQLite takes its locks once. Not available (and
     * not needed) inside a transaction Bundle's write transaction. */
    snap = lg_store_snapshot_begin(c->st) == LG_OK;
    if(c->req->actor)
        c->access_memo = lg_access_memo_new(); /* NULL: decide every time */
    if(!s.q.has_cursor && (st = lg_store_max_seq(c->st, &s.q.max_seq))) {
        st = lg_fail(c, st, "exception", NULL, "Store unavailable");
        goto out;
    }
    int filter = lg_access_filters(c, type);
    if(filter && (st = lg_access_pushdown(c, &s.q))) {
        st = lg_fail(c, st, "exception", NULL, "Could not restrict the search");
        goto out;
    }
    if(s.summary_count || s.want_total || s.q.count == 0) {
        if(filter) {
            lg_query all_q = s.q; /* the whole result, not from the cursor */
            int cut = 0;
            int64_t k, q;
            all_q.has_cursor = 0;
            if((st = filtered_search(c, &all_q, 0, NULL, &total, &cut, &k, &q))) {
                st = lg_fail_issues(c, st);
                goto out;
            }
            if(cut) {
                total = -1;
                lg_issues_add(&c->issues, LG_SEV_WARNING, "too-costly", "_total",
                              "The total is not given: more than %d matches would have to be "
                              "checked",
                              SEARCH_SCAN_MAX);
            }
        } else if((st = lg_store_count(c->st, &s.q, &total, &c->issues))) {
            st = lg_fail_issues(c, st);
            goto out;
        }
    }
    if(!s.summary_count && s.q.count > 0) {
        if(filter)
            st = filtered_search(c, &s.q, (size_t)s.q.count + 1, &page, NULL, &s.cut,
                                 &s.cut_key, &s.cut_seq);
        else
            st = lg_store_search(c->st, &s.q, &page, &c->issues);
        if(st) {
            st = lg_fail_issues(c, st);
            goto out;
        }
    }
    st = write_search_bundle(c, type, &s, &page, total, key.len ? &note : NULL, &key);
out:
    lg_access_memo_free(c->access_memo);
    c->access_memo = NULL;
    if(snap)
        lg_store_snapshot_end(c->st);
    lg_buf_free(&key);
    free(all.items); /* the pairs themselves belong to qp and fp */
    lg_params_free(&qp);
    lg_params_free(&fp);
    search_req_free(&s);
    lg_resource_list_clear(&page);
    return st;
}
