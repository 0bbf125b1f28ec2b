/* outbox.c - `loopgate outbox list|show|replay|events`: the operator's
 * view of forwarding (issue #5). Offline (--data DIR) it opens the store
 * directly; while a server holds the directory it goes through that
 * server's REST operations instead (--url URL --token TOKEN: GET /$outbox,
 * POST /$outbox-replay, GET /$outbox-events). Both forms get the same plain
 * JSON document (include/loopgate/outbox.h) and print it the same way, as
 * a table or, with --json, as it is.
 *
 * libcurl's easy interface is used here on purpose: the command does one
 * request at a time and has no event loop to hand back to.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loopgate/buf.h"
#include "loopgate/cli.h"
#include "loopgate/outbox.h"
#include "loopgate/store.h"
#include "loopgate/time.h"

#define MAX_REPLY (16u << 20)  /* the largest answer read from a server */
#define MAX_IDS 1000           /* ids on one replay command line */
#define HTTP_TIMEOUT_S 30L

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: loopgate outbox list   WHERE [--state pending|done|dead] [--platform P]\n"
            "                              [--count N] [--after ID] [--json]\n"
            "       loopgate outbox show   WHERE ID [--json]\n"
            "       loopgate outbox replay WHERE ID...\n"
            "       loopgate outbox events WHERE [--outcome applied|ignored|parked]\n"
            "                              [--count N] [--after SEQ] [--json]\n"
            "\n"
            "WHERE is --data DIR (the server's data directory, while the server is stopped)\n"
            "or --url URL --token TOKEN (a running server; a coordination client's token,\n"
            "or $LOOPGATE_TOKEN).\n"
            "list: the forward jobs, oldest first, and how many are pending, done, dead.\n"
            "show: one job. replay: dead jobs back to pending, due now (the forwarder sends\n"
            "them again). events: the status events received from the platforms; parked\n"
            "ones were refused by the workflow rules.\n");
}

typedef struct opts {
    const char *verb, *data, *url, *token, *state, *platform, *outcome, *count, *after;
    int json;
    char **ids;
    int nids;
} opts;

/* ---- getting the document: offline ---- */

/* The store in data, or NULL with the reason printed. */
static lg_store *open_store(const opts *o, FILE *err)
{
    char db[PATH_MAX];
    struct stat sb;
    lg_store *st = NULL;
    lg_issues is = {0};
    /* lg_store_open would create an empty store where there is none. */
    if(snprintf(db, sizeof(db), "%s/loopgate.db", o->data) >= (int)sizeof(db) ||
       stat(db, &sb) != 0) {
        fprintf(err, "loopgate: no store in %s (no loopgate.db there)\n", o->data);
        return NULL;
    }
    lg_status s = lg_store_open(o->data, &st, &is);
    if(s == LG_ECONFLICT) {
        fprintf(err,
                "loopgate: a running server holds the data directory %s.\n"
                "Ask the server instead: loopgate outbox %s --url http://HOST:PORT "
                "--token TOKEN ...\n",
                o->data, o->verb);
    } else if(s) {
        for(size_t i = 0; i < is.count; i++)
            fprintf(err, "loopgate: %s\n", is.items[i].diagnostics);
        if(!is.count)
            fprintf(err, "loopgate: cannot open the store in %s (%s)\n", o->data,
                    lg_status_str(s));
    }
    lg_issues_free(&is);
    return s ? NULL : st;
}

/* ---- getting the document: online ---- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    /* size is 1 for libcurl; a full buffer stops the transfer. */
    return lg_buf_add(arg, p, size * n) == LG_OK ? size * n : 0;
}

static const char *jstr(const cJSON *o, const char *k);

/* Say what an error answer says (an OperationOutcome's diagnostics). */
static void print_outcome(const char *body, long code, FILE *err)
{
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    const cJSON *issues = cJSON_GetObjectItemCaseSensitive(j, "issue"), *i;
    int said = 0;
    cJSON_ArrayForEach(i, issues) {
        const char *d = jstr(i, "diagnostics");
        if(d) {
            fprintf(err, "loopgate: %s (HTTP %ld)\n", d, code);
            said = 1;
        }
    }
    if(!said)
        fprintf(err, "loopgate: the server answered HTTP %ld\n", code);
    cJSON_Delete(j);
}

/* method op?query against the server; on 200 the body into *body (the
 * caller frees it) and 0; else the error printed, and 1. */
static int request(const opts *o, const char *method, const char *op, const char *query,
                   char **body, FILE *err)
{
    lg_buf b, u, auth;
    long code = 0;
    int rc = 1;
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();
    lg_buf_init(&b, MAX_REPLY);
    lg_buf_init(&u, 8192);
    lg_buf_init(&auth, 4096);
    *body = NULL;
    if(!c)
        goto out;
    size_t n = strlen(o->url);
    while(n && o->url[n - 1] == '/')
        n--;
    if(lg_buf_add(&u, o->url, n) || lg_buf_printf(&u, "/$%s%s%s", op, query ? "?" : "",
                                                  query ? query : "") ||
       lg_buf_printf(&auth, "Authorization: Bearer %s", o->token)) {
        fprintf(err, "loopgate: --url or --token too long\n");
        goto out;
    }
    if(!(h = curl_slist_append(h, auth.data)) ||
       !curl_slist_append(h, "Accept: application/json")) {
        fprintf(err, "loopgate: out of memory\n");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, u.data);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if(strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode cc = curl_easy_perform(c);
    if(cc != CURLE_OK) {
        fprintf(err, "loopgate: cannot reach %s: %s\n", u.data, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if(code != 200) {
        print_outcome(b.data, code, err);
        goto out;
    }
    *body = lg_buf_take(&b, NULL);
    rc = *body ? 0 : 1;
    if(rc)
        fprintf(err, "loopgate: the server's answer is empty\n");
out:
    curl_slist_free_all(h);
    if(c)
        curl_easy_cleanup(c);
    lg_buf_free(&b);
    lg_buf_free(&u);
    lg_buf_free(&auth);
    return rc;
}

/* name=value (escaped) onto a query under construction. */
static lg_status add_param(CURL *c, lg_buf *q, const char *name, const char *value)
{
    if(!value)
        return LG_OK;
    char *e = curl_easy_escape(c, value, 0);
    if(!e)
        return LG_ENOMEM;
    lg_status st = lg_buf_printf(q, "%s%s=%s", q->len ? "&" : "", name, e);
    curl_free(e);
    return st;
}

/* ---- printing ---- */

/* The string member k of o, or NULL. Control characters in it become '?'
 * (in the parsed tree, which is ours): an error text a remote platform
 * wrote must not drive the operator's terminal. */
static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if(!cJSON_IsString(v))
        return NULL;
    for(char *p = v->valuestring; *p; p++)
        if((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return v->valuestring;
}

static long long jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static void when(const cJSON *o, const char *k, char *buf)
{
    lg_time_format(jnum(o, k), buf, LG_TIME_BUFSZ);
}

static void print_job(const cJSON *j, FILE *out)
{
    char t[3][LG_TIME_BUFSZ];
    when(j, "created_ms", t[0]);
    when(j, "next_at_ms", t[1]);
    when(j, "updated_ms", t[2]);
    const char *v;
    fprintf(out, "job %lld\n", jnum(j, "id"));
    fprintf(out, "  state        %s\n", (v = jstr(j, "state")) ? v : "-");
    fprintf(out, "  platform     %s\n", (v = jstr(j, "platform")) ? v : "-");
    fprintf(out, "  kind         %s\n", (v = jstr(j, "kind")) ? v : "-");
    fprintf(out, "  task         Task/%s\n", (v = jstr(j, "task_id")) ? v : "-");
    fprintf(out, "  referral     %s%s\n", jstr(j, "referral_id") ? "ServiceRequest/" : "",
            (v = jstr(j, "referral_id")) ? v : "-");
    fprintf(out, "  target       %s\n", (v = jstr(j, "target")) ? v : "-");
    fprintf(out, "  remote id    %s\n", (v = jstr(j, "remote_id")) ? v : "-");
    fprintf(out, "  attempts     %lld\n", jnum(j, "attempts"));
    fprintf(out, "  last error   %s\n", (v = jstr(j, "last_error")) ? v : "-");
    fprintf(out, "  created      %s\n", t[0]);
    fprintf(out, "  next attempt %s\n", t[1]);
    fprintf(out, "  updated      %s\n", t[2]);
}

static void print_list(const cJSON *doc, FILE *out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "counts"), *j;
    fprintf(out, "pending %lld, done %lld, dead %lld\n", jnum(c, "pending"), jnum(c, "done"),
            jnum(c, "dead"));
    fprintf(out, "%-8s %-8s %-12s %-7s %-38s %4s %-24s %s\n", "ID", "STATE", "PLATFORM", "KIND",
            "TASK", "TRY", "NEXT/UPDATED", "LAST ERROR");
    cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(doc, "jobs")) {
        char t[LG_TIME_BUFSZ];
        const char *state = jstr(j, "state"), *e = jstr(j, "last_error");
        when(j, state && strcmp(state, "pending") == 0 ? "next_at_ms" : "updated_ms", t);
        fprintf(out, "%-8lld %-8s %-12s %-7s %-38s %4lld %-24s %.100s\n", jnum(j, "id"),
                state ? state : "-", jstr(j, "platform") ? jstr(j, "platform") : "-",
                jstr(j, "kind") ? jstr(j, "kind") : "-",
                jstr(j, "task_id") ? jstr(j, "task_id") : "-", jnum(j, "attempts"), t,
                e ? e : "");
    }
    if(cJSON_GetObjectItemCaseSensitive(doc, "next_after"))
        fprintf(out, "(more: --after %lld)\n", jnum(doc, "next_after"));
}

static void print_events(const cJSON *doc, FILE *out)
{
    const cJSON *e;
    fprintf(out, "%-8s %-24s %-12s %-24s %-38s %-14s %-8s %s\n", "SEQ", "RECEIVED", "PLATFORM",
            "EVENT", "TASK", "STATUS", "OUTCOME", "DETAIL");
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "events")) {
        char t[LG_TIME_BUFSZ];
        const char *d = jstr(e, "detail");
        when(e, "received_ms", t);
        fprintf(out, "%-8lld %-24s %-12s %-24s %-38s %-14s %-8s %.100s\n", jnum(e, "seq"), t,
                jstr(e, "platform") ? jstr(e, "platform") : "-",
                jstr(e, "event_id") ? jstr(e, "event_id") : "-",
                jstr(e, "task_id") ? jstr(e, "task_id") : "-",
                jstr(e, "status") ? jstr(e, "status") : "-",
                jstr(e, "outcome") ? jstr(e, "outcome") : "-", d ? d : "");
    }
    if(cJSON_GetObjectItemCaseSensitive(doc, "next_after"))
        fprintf(out, "(more: --after %lld)\n", jnum(doc, "next_after"));
}

/* Print the document text (a page, a job or events) as asked; 1 when it is
 * not the JSON it should be. */
static int print_doc(const opts *o, const char *text, void (*pr)(const cJSON *, FILE *),
                     FILE *out, FILE *err)
{
    if(o->json) {
        fprintf(out, "%s\n", text);
        return 0;
    }
    cJSON *doc = cJSON_Parse(text);
    if(!cJSON_IsObject(doc)) {
        fprintf(err, "loopgate: the answer is not the JSON expected\n");
        cJSON_Delete(doc);
        return 1;
    }
    pr(doc, out);
    cJSON_Delete(doc);
    return 0;
}

/* ---- the commands ---- */

/* A job id or seq: a whole number >= lo. */
static int parse_id(const char *v, int64_t lo, int64_t *out)
{
    char *e = NULL;
    if(!v || v[0] < '0' || v[0] > '9')
        return 0;
    long long n = strtoll(v, &e, 10);
    if(*e || n < lo || n > INT64_MAX / 2)
        return 0;
    *out = n;
    return 1;
}

/* list and events: the page, from the store or the server. */
static int cmd_page(const opts *o, int events, FILE *out, FILE *err)
{
    int64_t after = 0, count = 50;
    int state = -1, rc = 1;
    char *text = NULL;
    if(o->after && !parse_id(o->after, 0, &after)) {
        fprintf(err, "loopgate: --after '%s' is not an id\n", o->after);
        return LG_CLI_USAGE;
    }
    if(o->count && (!parse_id(o->count, 1, &count) || count > LG_OUTBOX_PAGE_MAX)) {
        fprintf(err, "loopgate: --count must be 1..%d\n", LG_OUTBOX_PAGE_MAX);
        return LG_CLI_USAGE;
    }
    if(!events && o->state && (state = lg_outbox_state_parse(o->state)) < 0) {
        fprintf(err, "loopgate: unknown state '%s' (pending, done, dead)\n", o->state);
        return LG_CLI_USAGE;
    }
    if(o->data) {
        lg_store *st = open_store(o, err);
        lg_buf b;
        if(!st)
            return 1;
        lg_buf_init(&b, MAX_REPLY);
        lg_status s = events ? lg_inbound_events_page_json(st, o->outcome, after, (int)count, &b)
                             : lg_outbox_page_json(st, state, o->platform, after, (int)count, &b);
        lg_store_close(st);
        if(s) {
            fprintf(err, "loopgate: cannot read the outbox (%s)\n", lg_status_str(s));
            lg_buf_free(&b);
            return 1;
        }
        text = lg_buf_take(&b, NULL);
    } else {
        lg_buf q;
        char num[2][24];
        CURL *c = curl_easy_init();
        lg_buf_init(&q, 4096);
        snprintf(num[0], sizeof(num[0]), "%lld", (long long)count);
        snprintf(num[1], sizeof(num[1]), "%lld", (long long)after);
        lg_status s = !c ? LG_ENOMEM : LG_OK;
        if(!s) s = add_param(c, &q, "_count", num[0]);
        if(!s && after) s = add_param(c, &q, "after", num[1]);
        if(!s) s = add_param(c, &q, events ? "outcome" : "state", events ? o->outcome : o->state);
        if(!s && !events) s = add_param(c, &q, "platform", o->platform);
        if(c)
            curl_easy_cleanup(c);
        if(s)
            fprintf(err, "loopgate: arguments too long\n");
        else
            rc = request(o, "GET", events ? "outbox-events" : "outbox", q.data, &text, err);
        lg_buf_free(&q);
        if(rc)
            return 1;
    }
    rc = text ? print_doc(o, text, events ? print_events : print_list, out, err) : 1;
    free(text);
    return rc;
}

static int cmd_show(const opts *o, FILE *out, FILE *err)
{
    int64_t id;
    char *text = NULL;
    int rc = 1;
    if(o->nids != 1 || !parse_id(o->ids[0], 1, &id)) {
        fprintf(err, "loopgate: outbox show needs one job id\n");
        return LG_CLI_USAGE;
    }
    if(o->data) {
        lg_store *st = open_store(o, err);
        lg_outbox_job j;
        lg_buf b;
        if(!st)
            return 1;
        lg_status s = lg_store_outbox_get(st, id, &j);
        lg_store_close(st);
        if(s == LG_ENOTFOUND) {
            fprintf(err, "loopgate: no outbox job %lld\n", (long long)id);
            return 1;
        }
        if(s) {
            fprintf(err, "loopgate: cannot read the outbox (%s)\n", lg_status_str(s));
            return 1;
        }
        lg_buf_init(&b, MAX_REPLY);
        s = lg_outbox_job_write_json(&b, &j);
        lg_outbox_job_clear(&j);
        text = s ? NULL : lg_buf_take(&b, NULL);
        lg_buf_free(&b);
    } else {
        char q[40];
        snprintf(q, sizeof(q), "id=%lld", (long long)id);
        if(request(o, "GET", "outbox", q, &text, err))
            return 1;
    }
    rc = text ? print_doc(o, text, print_job, out, err) : 1;
    free(text);
    return rc;
}

/* Replay one job offline: 0, or 1 with the reason printed. */
static int replay_offline(lg_store *st, int64_t id, FILE *out, FILE *err)
{
    lg_outbox_job j;
    lg_status s = lg_store_begin(st);
    if(!s && (s = lg_store_outbox_replay(st, id, lg_time_now_ms()))) {
        lg_store_rollback(st);
    } else if(!s) {
        s = lg_store_commit(st);
    }
    if(s == LG_ENOTFOUND) {
        fprintf(err, "loopgate: no outbox job %lld\n", (long long)id);
        return 1;
    }
    if(s == LG_ECONFLICT) {
        const char *state = "?";
        if(lg_store_outbox_get(st, id, &j) == LG_OK) {
            state = lg_outbox_state_name((int)j.state);
            lg_outbox_job_clear(&j);
        }
        fprintf(err, "loopgate: job %lld is %s, not dead: not replayed\n", (long long)id,
                state ? state : "?");
        return 1;
    }
    if(s) {
        fprintf(err, "loopgate: cannot replay job %lld (%s)\n", (long long)id, lg_status_str(s));
        return 1;
    }
    if(lg_store_outbox_get(st, id, &j) == LG_OK) {
        fprintf(out, "replayed job %lld (%s %s of Task/%s): dead -> pending, due now\n",
                (long long)id, j.platform, j.kind, j.task_id);
        lg_outbox_job_clear(&j);
    } else {
        fprintf(out, "replayed job %lld: dead -> pending, due now\n", (long long)id);
    }
    return 0;
}

static int replay_online(const opts *o, int64_t id, FILE *out, FILE *err)
{
    char q[40], *text = NULL;
    snprintf(q, sizeof(q), "id=%lld", (long long)id);
    int rc = request(o, "POST", "outbox-replay", q, &text, err);
    if(rc)
        return 1;
    cJSON *j = cJSON_Parse(text);
    fprintf(out, "replayed job %lld (%s %s of Task/%s): dead -> pending, due now\n", (long long)id,
            jstr(j, "platform") ? jstr(j, "platform") : "?",
            jstr(j, "kind") ? jstr(j, "kind") : "?",
            jstr(j, "task_id") ? jstr(j, "task_id") : "?");
    cJSON_Delete(j);
    free(text);
    return 0;
}

static int cmd_replay(const opts *o, FILE *out, FILE *err)
{
    int64_t ids[MAX_IDS];
    int failed = 0;
    if(o->nids < 1 || o->nids > MAX_IDS) {
        fprintf(err, "loopgate: outbox replay needs 1..%d job ids\n", MAX_IDS);
        return LG_CLI_USAGE;
    }
    for(int i = 0; i < o->nids; i++)
        if(!parse_id(o->ids[i], 1, &ids[i])) {
            fprintf(err, "loopgate: '%s' is not a job id\n", o->ids[i]);
            return LG_CLI_USAGE;
        }
    lg_store *st = NULL;
    if(o->data && !(st = open_store(o, err)))
        return 1;
    for(int i = 0; i < o->nids; i++)
        failed += st ? replay_offline(st, ids[i], out, err) : replay_online(o, ids[i], out, err);
    lg_store_close(st);
    return failed ? 1 : 0;
}

int lg_cli_outbox(int argc, char **argv, FILE *out, FILE *err)
{
    enum { O_DATA = 1, O_URL, O_TOKEN, O_STATE, O_PLATFORM, O_OUTCOME, O_COUNT, O_AFTER, O_JSON,
           O_HELP };
    static const struct option lopts[] = {
        {"data", required_argument, NULL, O_DATA},   {"url", required_argument, NULL, O_URL},
        {"token", required_argument, NULL, O_TOKEN}, {"state", required_argument, NULL, O_STATE},
        {"platform", required_argument, NULL, O_PLATFORM},
        {"outcome", required_argument, NULL, O_OUTCOME},
        {"count", required_argument, NULL, O_COUNT}, {"after", required_argument, NULL, O_AFTER},
        {"json", no_argument, NULL, O_JSON},         {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    opts o;
    int c;
    memset(&o, 0, sizeof(o));
    if(argc < 2 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? err : out);
        return argc < 2 ? LG_CLI_USAGE : 0;
    }
    o.verb = argv[1];
    int list = strcmp(o.verb, "list") == 0, show = strcmp(o.verb, "show") == 0,
        replay = strcmp(o.verb, "replay") == 0, events = strcmp(o.verb, "events") == 0;
    if(!list && !show && !replay && !events) {
        fprintf(err, "loopgate: unknown outbox command '%s' (list, show, replay, events)\n", o.verb);
        return LG_CLI_USAGE;
    }
    optind = 1;
    while((c = getopt_long(argc - 1, argv + 1, "", lopts, NULL)) != -1) {
        switch(c) {
        case O_DATA: o.data = optarg; break;
        case O_URL: o.url = optarg; break;
        case O_TOKEN: o.token = optarg; break;
        case O_STATE: o.state = optarg; break;
        case O_PLATFORM: o.platform = optarg; break;
        case O_OUTCOME: o.outcome = optarg; break;
        case O_COUNT: o.count = optarg; break;
        case O_AFTER: o.after = optarg; break;
        case O_JSON: o.json = 1; break;
        case O_HELP: usage(out); return 0;
        default: usage(err); return LG_CLI_USAGE;
        }
    }
    /* getopt_long moved the operands (job ids) to the end */
    o.ids = argv + 1 + optind;
    o.nids = argc - 1 - optind;
    if(!show && !replay && o.nids > 0) {
        fprintf(err, "loopgate: unexpected argument '%s'\n", o.ids[0]);
        return LG_CLI_USAGE;
    }
    if(!o.token)
        o.token = getenv("LOOPGATE_TOKEN");
    if(!o.data == !o.url) {
        fprintf(err, "loopgate: outbox %s needs --data DIR, or --url URL with --token TOKEN\n",
                o.verb);
        return LG_CLI_USAGE;
    }
    if(o.url && (!o.token || !*o.token)) {
        fprintf(err, "loopgate: --url needs --token TOKEN (or $LOOPGATE_TOKEN)\n");
        return LG_CLI_USAGE;
    }
    if((o.state && !list) || (o.platform && !list) || (o.outcome && !events) ||
       ((o.count || o.after) && !list && !events)) {
        fprintf(err, "loopgate: an option given does not apply to outbox %s\n", o.verb);
        return LG_CLI_USAGE;
    }
    if((o.platform && strlen(o.platform) > LG_STORE_NAME_MAX) ||
       (o.outcome && strlen(o.outcome) > LG_STORE_NAME_MAX)) {
        fprintf(err, "loopgate: --platform or --outcome too long\n");
        return LG_CLI_USAGE;
    }
    if(o.url && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(err, "loopgate: cannot initialise libcurl\n");
        return 1;
    }
    int rc = list ? cmd_page(&o, 0, out, err) : events ? cmd_page(&o, 1, out, err)
             : show ? cmd_show(&o, out, err) : cmd_replay(&o, out, err);
    if(o.url)
        curl_global_cleanup();
    return rc;
}
