/* audit.h - the access log (issue #4): one JSON line per request in
 * audit.log in the data directory, and its export as FHIR R4 AuditEvents.
 *
 * A line: {"time":"2026-11-30T20:00:00.123Z","client":"cbo-1"|null,
 *          "role":"referral-recipient"|null,"who":"Organization/cbo-1"|null,
 *          "method":"GET","path":"/Task/7","query":"status=requested"|null,
 *          "status":200,"type":"Task"|null,"id":"7"|null,"ms":1.25}
 * Never the Authorization header or the body. The query is kept: without it
 * nobody could tell what a client searched for.
 */
#ifndef LOOPGATE_AUDIT_H
#define LOOPGATE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "loopgate/buf.h"
#include "loopgate/status.h"

#define LG_AUDIT_FILE "audit.log"
#define LG_AUDIT_MAX_LINE 4096   /* longer paths/queries are cut to fit */
#define LG_AUDIT_DEFAULT_COUNT 50
#define LG_AUDIT_MAX_COUNT 1000

/* One request, as logged. Strings are borrowed; NULL means absent/null. */
typedef struct lg_audit_record {
    int64_t time_ms;       /* wall clock when the request arrived */
    const char *client;    /* client id, NULL when unauthenticated or --no-auth */
    const char *role;      /* the client's role name */
    const char *who;       /* the client's first reference (AuditEvent.agent.who) */
    const char *method;
    const char *path;
    const char *query;
    int status;
    const char *type;      /* resource type touched, when known */
    const char *id;        /* resource id touched, when known */
    double ms;             /* duration */
} lg_audit_record;

/* Encode r as one line (with its '\n') into buf of cap >= LG_AUDIT_MAX_LINE
 * bytes. Path and query are cut (on a UTF-8 boundary, marked with
 * "cut":true) so the line fits. Returns the line's length. */
size_t lg_audit_encode(const lg_audit_record *r, char *buf, size_t cap);

/* A decoded line: r's strings point into storage owned by the entry
 * (lg_audit_entry_clear). offset is where the line starts in the file. */
typedef struct lg_audit_entry {
    lg_audit_record r;
    uint64_t offset;
    void *owner;
} lg_audit_entry;

/* Decode one line (without or with its '\n'). LG_EINVAL when it is not a
 * line this module wrote. */
lg_status lg_audit_decode(const char *line, size_t len, lg_audit_entry *out);
void lg_audit_entry_clear(lg_audit_entry *e);

/* The append-only log of a running server. Safe to use from many threads:
 * each line is one write() on an O_APPEND descriptor. */
typedef struct lg_audit_log lg_audit_log;
/* Open (creating, mode 0600) dir/audit.log for appending. *out is the
 * caller's: lg_audit_log_close. LG_EIO with an issue naming the file. */
lg_status lg_audit_log_open(const char *dir, lg_audit_log **out, lg_issues *issues);
/* Append r. LG_EIO when the write failed (the caller reports it; the
 * request itself is not failed for it). */
lg_status lg_audit_log_write(lg_audit_log *log, const lg_audit_record *r);
void lg_audit_log_close(lg_audit_log *log);

/* Which entries to export. since/until are inclusive bounds in ms
 * (INT64_MIN/INT64_MAX for none). */
typedef struct lg_audit_query {
    int64_t since, until;
    int count;
} lg_audit_query;

/* Parse a search query string for GET /AuditEvent: _count (default
 * LG_AUDIT_DEFAULT_COUNT, clamped to LG_AUDIT_MAX_COUNT) and date with the
 * prefixes ge, gt, le, lt, eq (or none: the date's whole range), repeatable.
 * Other parameters are LG_EINVAL with an issue naming them. */
lg_status lg_audit_query_parse(const char *query, lg_audit_query *q, lg_issues *issues);

/* Append to b a searchset Bundle of the log's entries matching q, newest
 * first, as FHIR R4 AuditEvents. path is the log file (a missing file is an
 * empty Bundle); base is the server's base URL ("http://host:port") for
 * fullUrl and links, or NULL for relative ones; self_query is the query to
 * echo in the self link (NULL: none). LG_EIO when the file cannot be read. */
lg_status lg_audit_export(const char *path, const lg_audit_query *q, const char *base,
                          const char *self_query, lg_buf *b, lg_issues *issues);

/* Append one AuditEvent for e (id "audit-<offset>") to b. */
lg_status lg_audit_event_write(const lg_audit_entry *e, lg_buf *b);

/* The RESTful interaction a method and path are ("read", "search-type",
 * "create", ... of http://hl7.org/fhir/restful-interaction) and its
 * AuditEvent.action (C, R, U, D or E). Both static. */
void lg_audit_interaction(const char *method, const char *path, const char *query,
                          const char **code, const char **action);

/* The resource a request touched, from its path ("/Patient/7/_history/2"
 * is Patient 7) or, for a create, the Location of its reply: type and id
 * are written into the buffers ("" when unknown). */
void lg_audit_target(const char *path, const char *location, char *type, size_t tn, char *id,
                     size_t idn);

#endif
