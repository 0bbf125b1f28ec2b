/* log.c - the audit log's line format and its append-only writer
 * (contracts in include/loopgate/audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "loopgate/audit.h"
#include "loopgate/json.h"
#include "loopgate/time.h"

/* Room kept for everything but path and query (time, ids, role, who,
 * method, type, id, status, duration): each of those is bounded below. */
#define FIXED_ROOM 1200
#define SHORT_MAX 160 /* client, role, who, method, type, id: input bytes */

struct lg_audit_log {
    int fd;
};

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t k;
    if(s[0] < 0x80)
        return 1;
    if(s[0] >= 0xC2 && s[0] <= 0xDF)
        k = 2;
    else if(s[0] >= 0xE0 && s[0] <= 0xEF)
        k = 3;
    else if(s[0] >= 0xF0 && s[0] <= 0xF4)
        k = 4;
    else
        return 0;
    if(k > n)
        return 0;
    for(size_t i = 1; i < k; i++)
        if((s[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

/* Append s as a JSON string (or null) at buf[*o], using at most room bytes
 * of output and at most max_in bytes of input. Invalid UTF-8 becomes '?',
 * so the log stays valid JSON whatever the client sent. Returns 1 when s
 * had to be cut. */
static int put_str(char *buf, size_t *o, size_t room, const char *s, size_t max_in)
{
    if(!s) {
        if(room >= 4) {
            memcpy(buf + *o, "null", 4);
            *o += 4;
        }
        return 0;
    }
    if(room < 2)
        return 1;
    size_t end = *o + room - 1; /* keep one byte for the closing quote */
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    int cut = 0;
    buf[(*o)++] = '"';
    while(i < n) {
        char esc[8];
        size_t el = 0, adv = 1;
        unsigned char c = p[i];
        if(i >= max_in) {
            cut = 1;
            break;
        }
        if(c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            el = 2;
        } else if(c < 0x20 || c == 0x7f) {
            el = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else if(c < 0x80) {
            esc[0] = (char)c;
            el = 1;
        } else {
            size_t k = utf8_len(p + i, n - i);
            if(k) {
                memcpy(esc, p + i, k);
                el = adv = k;
            } else {
                esc[0] = '?';
                el = 1;
            }
        }
        if(*o + el > end) {
            cut = 1;
            break;
        }
        memcpy(buf + *o, esc, el);
        *o += el;
        i += adv;
    }
    buf[(*o)++] = '"';
    return cut;
}

/* Decimal digits of v (>= 0) at buf[*o]: the line is written per request,
 * and snprintf's general machinery (floating point above all) was most of
 * the encoding's cost. */
static void put_uint(char *buf, size_t *o, uint64_t v, int min_digits)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while(v || n < min_digits);
    while(n)
        buf[(*o)++] = d[--n];
}

static void put_raw(char *buf, size_t *o, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if(*o + n < cap) {
        memcpy(buf + *o, s, n);
        *o += n;
    }
}

size_t lg_audit_encode(const lg_audit_record *r, char *buf, size_t cap)
{
    /* The date and time to the second change once a second: each thread
     * keeps the last one formatted. */
    static __thread int64_t last_sec = INT64_MIN;
    static __thread char last_t[LG_TIME_BUFSZ];
    char t[LG_TIME_BUFSZ];
    size_t o = 0;
    int cut = 0;
    if(cap < LG_AUDIT_MAX_LINE)
        return 0;
    cap = LG_AUDIT_MAX_LINE;
    int64_t sec = r->time_ms >= 0 ? r->time_ms / 1000 : -1;
    if(sec >= 0 && sec == last_sec) {
        memcpy(t, last_t, sizeof(t));
        size_t tl = strlen(t); /* "....:SS.mmmZ": rewrite the milliseconds */
        int ms3 = (int)(r->time_ms % 1000);
        t[tl - 4] = (char)('0' + ms3 / 100);
        t[tl - 3] = (char)('0' + ms3 / 10 % 10);
        t[tl - 2] = (char)('0' + ms3 % 10);
    } else {
        lg_time_format(r->time_ms, t, sizeof(t));
        if(sec >= 0) {
            last_sec = sec;
            memcpy(last_t, t, sizeof(t));
        }
    }
    put_raw(buf, &o, cap, "{\"time\":\"");
    put_raw(buf, &o, cap, t);
    put_raw(buf, &o, cap, "\",\"client\":");
    put_str(buf, &o, SHORT_MAX + 2, r->client, SHORT_MAX / 2);
    put_raw(buf, &o, cap, ",\"role\":");
    put_str(buf, &o, SHORT_MAX + 2, r->role, SHORT_MAX / 2);
    put_raw(buf, &o, cap, ",\"who\":");
    put_str(buf, &o, SHORT_MAX + 2, r->who, SHORT_MAX);
    put_raw(buf, &o, cap, ",\"method\":");
    put_str(buf, &o, 32, r->method, 16);
    /* path and query share what is left after the fixed fields */
    size_t half = (cap - FIXED_ROOM) / 2;
    put_raw(buf, &o, cap, ",\"path\":");
    cut |= put_str(buf, &o, half, r->path, half);
    put_raw(buf, &o, cap, ",\"query\":");
    cut |= put_str(buf, &o, half, r->query, half);
    put_raw(buf, &o, cap, ",\"status\":");
    if(r->status < 0)
        buf[o++] = '-';
    put_uint(buf, &o, (uint64_t)(r->status < 0 ? -(int64_t)r->status : r->status), 1);
    put_raw(buf, &o, cap, ",\"type\":");
    put_str(buf, &o, 2 * 64 + 2, r->type, 64);
    put_raw(buf, &o, cap, ",\"id\":");
    put_str(buf, &o, 2 * 64 + 2, r->id, 64);
    /* milliseconds with three decimals, from whole microseconds */
    uint64_t us = r->ms >= 0 && r->ms < 1e9 ? (uint64_t)(r->ms * 1000.0 + 0.5) : 0;
    put_raw(buf, &o, cap, ",\"ms\":");
    put_uint(buf, &o, us / 1000, 1);
    buf[o++] = '.';
    put_uint(buf, &o, us % 1000, 3);
    if(cut)
        put_raw(buf, &o, cap, ",\"cut\":true");
    put_raw(buf, &o, cap, "}\n");
    return o;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

lg_status lg_audit_decode(const char *line, size_t len, lg_audit_entry *out)
{
    cJSON *root = NULL;
    lg_issues tmp = {0};
    int64_t lo, hi;
    memset(out, 0, sizeof(*out));
    while(len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if(len == 0 || len > LG_AUDIT_MAX_LINE)
        return LG_EINVAL;
    lg_json_limits lim = {.max_bytes = LG_AUDIT_MAX_LINE, .max_depth = 2,
                          .max_string = LG_AUDIT_MAX_LINE};
    lg_status st = lg_json_parse(line, len, &lim, &root, &tmp);
    lg_issues_free(&tmp);
    if(st)
        return st == LG_ENOMEM ? st : LG_EINVAL;
    const char *time = jstr(root, "time");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "ms");
    out->r.method = jstr(root, "method");
    out->r.path = jstr(root, "path");
    if(!cJSON_IsObject(root) || !time || lg_time_parse_range(time, &lo, &hi) ||
       !cJSON_IsNumber(status) || !out->r.method || !out->r.path) {
        cJSON_Delete(root);
        memset(out, 0, sizeof(*out));
        return LG_EINVAL;
    }
    out->r.time_ms = lo;
    out->r.status = status->valueint;
    out->r.client = jstr(root, "client");
    out->r.role = jstr(root, "role");
    out->r.who = jstr(root, "who");
    out->r.query = jstr(root, "query");
    out->r.type = jstr(root, "type");
    out->r.id = jstr(root, "id");
    out->r.ms = cJSON_IsNumber(ms) ? ms->valuedouble : 0;
    out->owner = root;
    return LG_OK;
}

void lg_audit_entry_clear(lg_audit_entry *e)
{
    if(!e)
        return;
    cJSON_Delete(e->owner);
    memset(e, 0, sizeof(*e));
}

lg_status lg_audit_log_open(const char *dir, lg_audit_log **out, lg_issues *issues)
{
    char path[PATH_MAX];
    *out = NULL;
    if(snprintf(path, sizeof(path), "%s/%s", dir, LG_AUDIT_FILE) >= (int)sizeof(path)) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "%s: path too long", dir);
        return LG_ETOOLARGE;
    }
    lg_audit_log *l = calloc(1, sizeof(*l));
    if(!l)
        return LG_ENOMEM;
    /* O_APPEND: every write lands at the end whatever other threads do, and
     * the file persists across restarts (never truncated). */
    l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if(l->fd < 0) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "cannot open %s: %s", path,
                      strerror(errno));
        free(l);
        return LG_EIO;
    }
    /* A crash can leave a torn last line: end it, so the next line is
     * whole (the torn one is skipped by readers). */
    char last = '\n';
    off_t size = lseek(l->fd, 0, SEEK_END);
    int rfd = size > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if(rfd >= 0) {
        if(pread(rfd, &last, 1, size - 1) == 1 && last != '\n' && write(l->fd, "\n", 1) != 1)
            lg_issues_add(issues, LG_SEV_WARNING, "exception", NULL, "cannot end %s's torn line",
                          path);
        close(rfd);
    }
    *out = l;
    return LG_OK;
}

lg_status lg_audit_log_write(lg_audit_log *log, const lg_audit_record *r)
{
    char line[LG_AUDIT_MAX_LINE];
    size_t n = lg_audit_encode(r, line, sizeof(line));
    /* One write() per line, no fsync: the audit log records access, and no
     * clinical data's durability depends on it; an fsync per request would
     * cost as much as the request. Lines reach the disk with the page
     * cache's writeback (and are in the file for readers at once). */
    ssize_t w;
    do
        w = write(log->fd, line, n);
    while(w < 0 && errno == EINTR);
    return w == (ssize_t)n ? LG_OK : LG_EIO;
}

void lg_audit_log_close(lg_audit_log *log)
{
    if(!log)
        return;
    if(log->fd >= 0)
        close(log->fd);
    free(log);
}
