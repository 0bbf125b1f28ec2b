/* history.c - instance, type and system history as history Bundles,
 * newest first, paged by the seq of the last version shown.
 *
 * For a client with limited access (access.c) an instance history it may
 * not see is a 404 like an unknown resource, and type/system history keep
 * only versions of resources it may see now, filtered before paging. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/time.h"
#include "internal.h"

/* Versions scanned at most to fill one filtered page. */
#define HISTORY_SCAN_MAX 5000

/* Visibility per resource, remembered for the page (a resource's many
 * versions are decided once). */
typedef struct vis_memo {
    char **keys;
    int *vis;
    size_t count;
} vis_memo;

static void memo_free(vis_memo *m)
{
    for(size_t i = 0; i < m->count; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vis);
}

static int memo_visible(lg_ctx *c, vis_memo *m, const lg_resource *r)
{
    char key[200];
    snprintf(key, sizeof(key), "%s/%s", r->type, r->id);
    for(size_t i = 0; i < m->count; i++)
        if(strcmp(m->keys[i], key) == 0)
            return m->vis[i];
    int v = lg_access_current(c, r->type, r->id);
    char **k = realloc(m->keys, (m->count + 1) * sizeof(*k));
    if(k)
        m->keys = k;
    int *vv = k ? realloc(m->vis, (m->count + 1) * sizeof(*vv)) : NULL;
    if(vv)
        m->vis = vv;
    if(k && vv && (m->keys[m->count] = strdup(key))) {
        m->vis[m->count] = v;
        m->count++;
    }
    return v;
}

/* History for a limited client: versions it may see, newest first, up to
 * count + 1 of them (so the caller knows there is a next page). When the
 * scan bound ends the page early, *resume is the seq to continue before. */
static lg_status filtered_history(lg_ctx *c, const char *type, int64_t since, int64_t before,
                                  int count, lg_resource_list *out, int64_t *resume)
{
    vis_memo memo = {0};
    lg_status st = LG_OK;
    size_t scanned = 0;
    int chunk = count + 1 < 100 ? 100 : count + 1;
    *resume = 0;
    c->access_memo = lg_access_memo_new(); /* NULL: decide every time */
    while(out->count < (size_t)count + 1) {
        lg_resource_list l = {0};
        if((st = lg_store_history(c->st, type, NULL, since, before, chunk, &l)))
            break;
        size_t got = l.count > (size_t)chunk ? (size_t)chunk : l.count;
        for(size_t i = 0; i < got && out->count < (size_t)count + 1; i++) {
            before = l.items[i].seq;
            scanned++;
            if(!memo_visible(c, &memo, &l.items[i]))
                continue;
            if((st = lg_list_move(out, &l.items[i])))
                break;
        }
        int more = l.count > (size_t)chunk;
        lg_resource_list_clear(&l);
        if(st || !more)
            break;
        if(scanned >= HISTORY_SCAN_MAX && out->count < (size_t)count + 1) {
            *resume = before;
            break;
        }
    }
    memo_free(&memo);
    lg_access_memo_free(c->access_memo);
    c->access_memo = NULL;
    return st;
}

static const char *entry_status(const lg_resource *r)
{
    if(r->deleted)
        return "204 No Content";
    return r->version == 1 ? "201 Created" : "200 OK";
}

lg_status lg_do_history(lg_ctx *c, const char *type, const char *id, const char *query)
{
    lg_params ps = {0};
    lg_resource_list l = {0};
    lg_buf b, self;
    int64_t since = 0, before = 0;
    int count = c->rest->cfg.default_count;
    char bid[40], now[LG_TIME_BUFSZ], path[200];
    lg_status st = lg_params_parse(query, query ? strlen(query) : 0, &ps);
    lg_buf_init(&b, c->rest->cfg.max_response);
    lg_buf_init(&self, 8192);
    if(st) {
        st = lg_fail(c, st, "invalid", NULL, "Could not parse the history parameters");
        goto out;
    }
    for(size_t i = 0; i < ps.count; i++) {
        const char *n = ps.items[i].name, *v = ps.items[i].value;
        if(strcmp(n, "_count") == 0) {
            char *end;
            long k = strtol(v, &end, 10);
            if(!*v || *end || k < 1) {
                st = lg_fail(c, LG_EINVAL, "invalid", "_count",
                             "_count must be a positive integer, not '%s'", v);
                goto out;
            }
            count = k > c->rest->cfg.max_count ? c->rest->cfg.max_count : (int)k;
        } else if(strcmp(n, "_since") == 0) {
            int64_t hi;
            if(lg_time_parse_range(v, &since, &hi)) {
                st = lg_fail(c, LG_EINVAL, "invalid", "_since", "_since '%s' is not an instant",
                             v);
                goto out;
            }
        } else if(strcmp(n, "_cursor") == 0) {
            char *end;
            before = strtoll(v, &end, 10);
            if(!*v || *end || before < 1) {
                st = lg_fail(c, LG_EINVAL, "invalid", "_cursor", "Malformed paging cursor");
                goto out;
            }
            continue;
        } else if(strcmp(n, "_format") != 0 && strcmp(n, "_pretty") != 0) {
            st = lg_fail(c, LG_EINVAL, "not-supported", n,
                         "History supports _count, _since; not '%s'", n);
            goto out;
        }
        if((st = lg_buf_printf(&self, "%s%s=%s", self.len ? "&" : "", n, v)))
            goto out;
    }
    int64_t resume = 0;
    if(id) {
        lg_resource cur = {0};
        st = lg_store_read(c->st, type, id, &cur);
        if(st == LG_OK && !lg_access_resource(c, &cur))
            st = LG_ENOTFOUND; /* hidden looks like unknown */
        lg_resource_clear(&cur);
        if(st == LG_ENOTFOUND) {
            st = lg_fail(c, st, "not-found", NULL, "%s/%s is not known", type, id);
            goto out;
        }
    }
    if(!id && lg_access_limited(c))
        st = filtered_history(c, type, since, before, count, &l, &resume);
    else
        st = lg_store_history(c->st, type, id, since, before, count, &l);
    if(st) {
        st = lg_fail(c, st, "exception", NULL, "Could not read history");
        goto out;
    }
    snprintf(path, sizeof(path), "%s%s%s%s_history", type ? type : "", type ? "/" : "",
             id ? id : "", id ? "/" : "");
    lg_new_id(bid);
    lg_time_format(lg_time_now_ms(), now, sizeof(now));
    st = lg_buf_printf(&b, "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":{\"lastUpdated\":"
                           "\"%s\"},\"type\":\"history\",\"link\":[{\"relation\":\"self\","
                           "\"url\":\"%s/%s%s%s\"}",
                       bid, now, c->req->base, path, self.len ? "?" : "",
                       self.len ? self.data : "");
    size_t n = l.count > (size_t)count ? (size_t)count : l.count;
    if(!st && (l.count > (size_t)count || resume))
        st = lg_buf_printf(&b, ",{\"relation\":\"next\",\"url\":\"%s/%s?%s%s_cursor=%" PRId64
                               "\"}",
                           c->req->base, path, self.len ? self.data : "", self.len ? "&" : "",
                           l.count > (size_t)count ? l.items[n - 1].seq : resume);
    if(!st) st = lg_buf_adds(&b, "],\"entry\":[");
    for(size_t i = 0; !st && i < n; i++) {
        const lg_resource *r = &l.items[i];
        char lm[LG_TIME_BUFSZ];
        lg_time_format(r->last_updated, lm, sizeof(lm));
        st = lg_buf_printf(&b, "%s{\"fullUrl\":\"%s/%s/%s\"", i ? "," : "", c->req->base,
                           r->type, r->id);
        if(!st && r->json) {
            st = lg_buf_adds(&b, ",\"resource\":");
            if(!st) st = lg_buf_add(&b, r->json, r->json_len);
        }
        if(!st)
            st = lg_buf_printf(&b, ",\"request\":{\"method\":\"%s\",\"url\":\"%s%s%s\"},"
                                   "\"response\":{\"status\":\"%s\",\"etag\":\"W/\\\"%" PRId64
                                   "\\\"\",\"lastModified\":\"%s\"}}",
                               r->method[0] ? r->method : "PUT", r->type,
                               strcmp(r->method, "POST") == 0 ? "" : "/",
                               strcmp(r->method, "POST") == 0 ? "" : r->id, entry_status(r),
                               r->version, lm);
    }
    if(!st) st = lg_buf_adds(&b, "]}");
    if(st) {
        st = lg_fail(c, st, "exception", NULL, "Could not assemble the history");
        goto out;
    }
    lg_reply_buf(c, 200, &b);
out:
    lg_buf_free(&b);
    lg_buf_free(&self);
    lg_params_free(&ps);
    lg_resource_list_clear(&l);
    return st;
}
