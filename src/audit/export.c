/* export.c - the audit log as FHIR R4 AuditEvents: which interaction a
 * logged request was, the AuditEvent for one line, and a searchset Bundle of
 * the newest lines read backwards from the end of the file (contracts in
 * include/loopgate/audit.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loopgate/audit.h"
#include "loopgate/time.h"

#define CHUNK (64u << 10)
/* Lines are appended by several threads, each stamped when its request
 * arrived, so the file is only nearly in time order: reading backwards we
 * stop this long before `since`, not at the first older line. */
#define ORDER_SLACK_MS (10 * 60 * 1000)
#define MAX_QUERY_PARAMS 32

/* Path segments without the leading '/': at most 5 looked at. */
static int split(const char *path, char seg[5][80])
{
    int n = 0;
    const char *p = path ? path : "/";
    while(*p == '/')
        p++;
    while(*p && n < 5) {
        size_t l = strcspn(p, "/");
        snprintf(seg[n++], 80, "%.*s", (int)(l < 79 ? l : 79), p);
        p += l;
        while(*p == '/')
            p++;
    }
    return *p ? 6 : n; /* 6: deeper than anything routed */
}

void lg_audit_interaction(const char *method, const char *path, const char *query,
                          const char **code, const char **action)
{
    char seg[5][80];
    int n = split(path, seg);
    const char *m = method ? method : "";
    int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0, post = strcmp(m, "POST") == 0;
    int put = strcmp(m, "PUT") == 0, del = strcmp(m, "DELETE") == 0, patch = strcmp(m, "PATCH") == 0;
    *code = "operation";
    *action = "E";
    if(n == 0) {
        if(post)
            *code = "transaction"; /* or batch: the line does not keep the body */
        else if(get)
            *code = "search-system", *action = "E";
        return;
    }
    if(n >= 1 && (seg[n - 1][0] == '$'))
        return; /* operation, E */
    if(n == 1 && strcmp(seg[0], "metadata") == 0) {
        *code = "capabilities", *action = "R";
        return;
    }
    if(n == 1 && strcmp(seg[0], "_history") == 0) {
        *code = "history-system", *action = "R";
        return;
    }
    if(n == 1) {
        if(get)
            *code = "search-type", *action = "E";
        else if(post)
            *code = "create", *action = "C";
        else if(put)
            *code = "update", *action = "U";
        else if(del)
            *code = "delete", *action = "D";
        else if(patch)
            *code = "patch", *action = "U";
        (void)query;
        return;
    }
    if(n == 2 && strcmp(seg[1], "_search") == 0) {
        *code = "search-type", *action = "E";
        return;
    }
    if(n == 2 && strcmp(seg[1], "_history") == 0) {
        *code = "history-type", *action = "R";
        return;
    }
    if(n == 2) {
        if(get)
            *code = "read", *action = "R";
        else if(put)
            *code = "update", *action = "U";
        else if(del)
            *code = "delete", *action = "D";
        else if(patch)
            *code = "patch", *action = "U";
        return;
    }
    if(n == 3 && strcmp(seg[2], "_history") == 0) {
        *code = "history-instance", *action = "R";
        return;
    }
    if(n == 4 && strcmp(seg[2], "_history") == 0) {
        *code = "vread", *action = "R";
        return;
    }
}

static int is_type(const char *s)
{
    if(!isupper((unsigned char)s[0]))
        return 0;
    for(; *s; s++)
        if(!isalpha((unsigned char)*s))
            return 0;
    return 1;
}

static int is_id(const char *s)
{
    size_t n = strlen(s);
    if(n == 0 || n > 64)
        return 0;
    for(; *s; s++)
        if(!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
            return 0;
    return 1;
}

void lg_audit_target(const char *path, const char *location, char *type, size_t tn, char *id,
                     size_t idn)
{
    char seg[5][80];
    type[0] = id[0] = '\0';
    int n = split(path, seg);
    if(n < 1 || n > 4 || !is_type(seg[0]))
        return;
    snprintf(type, tn, "%s", seg[0]);
    if(n >= 2 && is_id(seg[1])) {
        snprintf(id, idn, "%s", seg[1]);
        return;
    }
    /* a create: the id is in Location ".../Type/id/_history/1" */
    const char *l = location && *location ? strstr(location, "/_history/") : NULL;
    if(n == 1 && l) {
        const char *e = l;
        while(e > location && e[-1] != '/')
            e--;
        size_t len = (size_t)(l - e);
        if(len && len <= 64 && e - location > 1 &&
           strncmp(e - 1 - strlen(type), type, strlen(type)) == 0)
            snprintf(id, idn, "%.*s", (int)len, e);
    }
}

static int hexv(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode [s, s+n) into out (cap bytes); 0 when it does not fit. */
static int decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for(size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if(c == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            c = hexv(s[i + 1]) * 16 + hexv(s[i + 2]);
            i += 2;
        } else if(c == '+') {
            c = ' ';
        }
        if(o + 1 >= cap)
            return 0;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 1;
}

lg_status lg_audit_query_parse(const char *query, lg_audit_query *q, lg_issues *issues)
{
    q->since = INT64_MIN;
    q->until = INT64_MAX;
    q->count = LG_AUDIT_DEFAULT_COUNT;
    const char *p = query ? query : "";
    int nparams = 0;
    while(*p) {
        size_t l = strcspn(p, "&");
        const char *eq = memchr(p, '=', l);
        char name[64], value[128];
        if(l == 0) {
            p++;
            continue;
        }
        if(++nparams > MAX_QUERY_PARAMS) {
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                          "at most %d search parameters", MAX_QUERY_PARAMS);
            return LG_ETOOLARGE;
        }
        size_t nl = eq ? (size_t)(eq - p) : l;
        if(!decode(p, nl, name, sizeof(name)) ||
           !decode(eq ? eq + 1 : p + l, eq ? l - nl - 1 : 0, value, sizeof(value))) {
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                          "search parameter too long: %.40s", p);
            return LG_EINVAL;
        }
        p += l;
        if(*p == '&')
            p++;
        if(strcmp(name, "_count") == 0) {
            char *end;
            errno = 0;
            long v = strtol(value, &end, 10);
            if(errno || end == value || *end || v < 0) {
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                              "_count must be a non-negative integer, not '%s'", value);
                return LG_EINVAL;
            }
            q->count = v > LG_AUDIT_MAX_COUNT ? LG_AUDIT_MAX_COUNT : (int)v;
        } else if(strcmp(name, "date") == 0) {
            char *v = value;
            const char *pre = "eq";
            if(strlen(v) > 2 && isalpha((unsigned char)v[0]) && isalpha((unsigned char)v[1])) {
                static const char *const known[] = {"eq", "ge", "gt", "le", "lt"};
                pre = NULL;
                for(size_t i = 0; i < 5; i++)
                    if(strncmp(v, known[i], 2) == 0)
                        pre = known[i];
                if(!pre) {
                    lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                                  "date prefix '%.2s' is not supported (eq, ge, gt, le, lt)", v);
                    return LG_EINVAL;
                }
                v += 2;
            }
            /* an unencoded '+' of a zone offset arrives as a space */
            for(char *s = v; *s; s++)
                if(*s == ' ')
                    *s = '+';
            int64_t lo, hi;
            if(lg_time_parse_range(v, &lo, &hi)) {
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                              "date '%s' is not a FHIR date or dateTime", v);
                return LG_EINVAL;
            }
            if(strcmp(pre, "ge") == 0 || strcmp(pre, "eq") == 0) {
                if(lo > q->since)
                    q->since = lo;
            }
            if(strcmp(pre, "gt") == 0 && hi + 1 > q->since)
                q->since = hi + 1;
            if(strcmp(pre, "le") == 0 || strcmp(pre, "eq") == 0) {
                if(hi < q->until)
                    q->until = hi;
            }
            if(strcmp(pre, "lt") == 0 && lo - 1 < q->until)
                q->until = lo - 1;
        } else if(strcmp(name, "_format") == 0 || strcmp(name, "_pretty") == 0) {
            /* JSON only; accepted for clients that always send them */
        } else {
            lg_issues_add(issues, LG_SEV_ERROR, "not-supported", NULL,
                          "AuditEvent search supports date and _count, not '%s'", name);
            return LG_EINVAL;
        }
    }
    return LG_OK;
}

static lg_status add_b64(lg_buf *b, const char *s)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    lg_status st = lg_buf_adds(b, "\"");
    for(size_t i = 0; !st && i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char o[4] = {t[(v >> 18) & 63], t[(v >> 12) & 63], i + 1 < n ? t[(v >> 6) & 63] : '=',
                     i + 2 < n ? t[v & 63] : '='};
        st = lg_buf_add(b, o, 4);
    }
    return st ? st : lg_buf_adds(b, "\"");
}

/* XHTML text: the narrative's div holds the method and path. */
static lg_status add_xhtml_text(lg_buf *b, const char *s)
{
    lg_status st = LG_OK;
    for(; !st && *s; s++) {
        switch(*s) {
        case '<': st = lg_buf_adds(b, "&lt;"); break;
        case '>': st = lg_buf_adds(b, "&gt;"); break;
        case '&': st = lg_buf_adds(b, "&amp;"); break;
        case '"': st = lg_buf_adds(b, "\\\""); break;
        case '\\': st = lg_buf_adds(b, "\\\\"); break;
        default:
            if((unsigned char)*s < 0x20)
                st = lg_buf_adds(b, " ");
            else
                st = lg_buf_add(b, s, 1);
        }
    }
    return st;
}

lg_status lg_audit_event_write(const lg_audit_entry *e, lg_buf *b)
{
    const lg_audit_record *r = &e->r;
    const char *code, *action;
    char t[LG_TIME_BUFSZ];
    lg_audit_interaction(r->method, r->path, r->query, &code, &action);
    lg_time_format(r->time_ms, t, sizeof(t));
    /* 0 success, 4 minor failure (the client's error), 8 serious failure
     * (the server's) */
    const char *outcome = r->status >= 500 ? "8" : r->status >= 400 ? "4" : "0";
    lg_status st = lg_buf_printf(
        b,
        "{\"resourceType\":\"AuditEvent\",\"id\":\"audit-%llu\","
        "\"text\":{\"status\":\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\">",
        (unsigned long long)e->offset);
    if(!st)
        st = add_xhtml_text(b, r->method);
    if(!st)
        st = lg_buf_adds(b, " ");
    if(!st)
        st = add_xhtml_text(b, r->path);
    if(!st)
        st = lg_buf_printf(
            b,
            ": %d</div>\"},"
            "\"type\":{\"system\":\"http://terminology.hl7.org/CodeSystem/audit-event-type\","
            "\"code\":\"rest\",\"display\":\"RESTful Operation\"},"
            "\"subtype\":[{\"system\":\"http://hl7.org/fhir/restful-interaction\",\"code\":\"%s\"}],"
            "\"action\":\"%s\",\"recorded\":\"%s\",\"outcome\":\"%s\","
            "\"outcomeDesc\":\"HTTP %d in %.3f ms\",\"agent\":[{",
            r->status, code, action, t, outcome, r->status, r->ms);
    if(!st && r->role) {
        st = lg_buf_adds(b, "\"role\":[{\"text\":");
        if(!st)
            st = lg_buf_add_json_string(b, r->role);
        if(!st)
            st = lg_buf_adds(b, "}],");
    }
    if(!st && r->who) {
        st = lg_buf_adds(b, "\"who\":{\"reference\":");
        if(!st)
            st = lg_buf_add_json_string(b, r->who);
        if(!st)
            st = lg_buf_adds(b, "},");
    }
    if(!st && r->client) {
        st = lg_buf_adds(b, "\"altId\":");
        if(!st)
            st = lg_buf_add_json_string(b, r->client);
        if(!st)
            st = lg_buf_adds(b, ",");
    } else if(!st) {
        st = lg_buf_adds(b, "\"name\":\"no authenticated client\",");
    }
    if(!st)
        st = lg_buf_adds(
            b, "\"requestor\":true}],"
               "\"source\":{\"site\":\"Loopgate\",\"observer\":{\"display\":\"Loopgate\"},"
               "\"type\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/security-source-type\","
               "\"code\":\"4\",\"display\":\"Application Server\"}]}");
    int has_ref = r->type && r->id && *r->type && *r->id;
    int has_query = r->query && *r->query;
    if(!st && (has_ref || has_query || (r->type && *r->type))) {
        st = lg_buf_adds(b, ",\"entity\":[{");
        if(!st && has_ref)
            st = lg_buf_printf(b, "\"what\":{\"reference\":\"%s/%s\"},", r->type, r->id);
        if(!st)
            st = lg_buf_adds(
                b, "\"type\":{\"system\":\"http://terminology.hl7.org/CodeSystem/audit-entity-type\","
                   "\"code\":\"2\",\"display\":\"System Object\"}");
        if(!st && r->type && *r->type && !has_ref) {
            st = lg_buf_adds(b, ",\"description\":");
            if(!st)
                st = lg_buf_add_json_string(b, r->type);
        }
        if(!st && has_query) {
            /* the search as sent (base64Binary, as AuditEvent.entity.query is) */
            st = lg_buf_adds(b, ",\"query\":");
            if(!st)
                st = add_b64(b, r->query);
        }
        if(!st)
            st = lg_buf_adds(b, "}]");
    }
    return st ? st : lg_buf_adds(b, "}");
}

/* The Bundle being built, and how many entries it has. */
typedef struct sink {
    lg_buf *b;
    const lg_audit_query *q;
    const char *base;
    int n;
    int done;
} sink;

static lg_status take_line(sink *k, const char *line, size_t len, uint64_t offset)
{
    lg_audit_entry e;
    if(len == 0 || lg_audit_decode(line, len, &e))
        return LG_OK; /* a torn or foreign line is skipped, not fatal */
    e.offset = offset;
    lg_status st = LG_OK;
    if(k->q->since > INT64_MIN + ORDER_SLACK_MS && e.r.time_ms < k->q->since - ORDER_SLACK_MS)
        k->done = 1;
    else if(e.r.time_ms >= k->q->since && e.r.time_ms <= k->q->until) {
        /* FHIR JSON has no empty arrays: "entry" opens with the first one */
        st = lg_buf_adds(k->b, k->n ? ",{" : ",\"entry\":[{");
        /* fullUrl must be absolute: offline (no base) there is none */
        if(!st && k->base)
            st = lg_buf_printf(k->b, "\"fullUrl\":\"%s/AuditEvent/audit-%llu\",", k->base,
                               (unsigned long long)offset);
        if(!st)
            st = lg_buf_adds(k->b, "\"resource\":");
        if(!st)
            st = lg_audit_event_write(&e, k->b);
        if(!st)
            st = lg_buf_adds(k->b, ",\"search\":{\"mode\":\"match\"}}");
        if(!st && ++k->n >= k->q->count)
            k->done = 1;
    }
    lg_audit_entry_clear(&e);
    return st;
}

/* Read path backwards in chunks, newest line first. */
static lg_status scan_backwards(int fd, off_t size, sink *k)
{
    char *carry = NULL;
    size_t carry_len = 0;
    off_t pos = size;
    lg_status st = LG_OK;
    while(pos > 0 && !k->done && !st) {
        size_t n = (size_t)(pos > (off_t)CHUNK ? (off_t)CHUNK : pos);
        pos -= (off_t)n;
        char *buf = malloc(n + carry_len + 1);
        if(!buf) {
            st = LG_ENOMEM;
            break;
        }
        size_t got = 0;
        while(got < n) {
            ssize_t r = pread(fd, buf + got, n - got, pos + (off_t)got);
            if(r < 0 && errno == EINTR)
                continue;
            if(r <= 0)
                break;
            got += (size_t)r;
        }
        if(got < n) {
            free(buf);
            st = LG_EIO;
            break;
        }
        if(carry_len)
            memcpy(buf + n, carry, carry_len);
        free(carry);
        carry = NULL;
        size_t total = n + carry_len;
        carry_len = 0;
        /* the part before the first newline may continue in the previous
         * chunk: it becomes the carry unless this is the file's start */
        size_t start = 0;
        if(pos > 0) {
            char *nl = memchr(buf, '\n', total);
            if(!nl) {
                if(total > 2 * LG_AUDIT_MAX_LINE) { /* no line is this long: skip it */
                    free(buf);
                    continue;
                }
                carry = buf;
                carry_len = total;
                continue;
            }
            start = (size_t)(nl - buf) + 1;
        }
        size_t end = total;
        for(size_t i = total; i > start && !k->done && !st; i--) {
            if(buf[i - 1] == '\n') {
                if(end > i)
                    st = take_line(k, buf + i, end - i, (uint64_t)pos + i);
                end = i - 1;
            }
        }
        if(!k->done && !st && end > start)
            st = take_line(k, buf + start, end - start, (uint64_t)pos + start);
        if(start > 0 && !k->done && !st) {
            carry_len = start - 1; /* without its newline */
            carry = malloc(carry_len + 1);
            if(!carry)
                st = LG_ENOMEM;
            else
                memcpy(carry, buf, carry_len);
        }
        free(buf);
    }
    free(carry);
    return st;
}

lg_status lg_audit_export(const char *path, const lg_audit_query *q, const char *base,
                          const char *self_query, lg_buf *b, lg_issues *issues)
{
    char now[LG_TIME_BUFSZ];
    sink k = {.b = b, .q = q, .base = base};
    lg_time_format(lg_time_now_ms(), now, sizeof(now));
    lg_status st = lg_buf_printf(b, "{\"resourceType\":\"Bundle\",\"meta\":{\"lastUpdated\":\"%s\"},"
                                    "\"type\":\"searchset\",\"link\":[{\"relation\":\"self\",\"url\":",
                                 now);
    if(!st) {
        lg_buf self;
        lg_buf_init(&self, 8192);
        st = lg_buf_printf(&self, "%s%sAuditEvent%s%.4000s", base ? base : "", base ? "/" : "",
                           self_query && *self_query ? "?" : "", self_query ? self_query : "");
        if(!st)
            st = lg_buf_add_json_string(b, self.data);
        lg_buf_free(&self);
    }
    if(!st)
        st = lg_buf_adds(b, "}]");
    if(st)
        return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if(fd < 0 && errno != ENOENT) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "cannot read %s: %s", path,
                      strerror(errno));
        return LG_EIO;
    }
    if(fd >= 0) {
        struct stat sb;
        if(fstat(fd, &sb) == 0)
            st = q->count > 0 ? scan_backwards(fd, sb.st_size, &k) : LG_OK;
        else
            st = LG_EIO;
        close(fd);
        if(st == LG_EIO)
            lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "cannot read %s", path);
        if(st)
            return st;
    }
    return lg_buf_adds(b, k.n ? "]}" : "}");
}
