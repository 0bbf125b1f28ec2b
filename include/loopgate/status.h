/* status.h - the one error vocabulary every Loopgate layer speaks.
 *
 * A function that can fail returns lg_status. When the failure is something a
 * client must be told about, the function also appends lg_issue entries to a
 * caller-owned lg_issues list; the REST layer turns that list into an
 * OperationOutcome and lg_status into an HTTP status code. Layers below REST
 * never know about HTTP: they pick the lg_status that says what went wrong.
 */
#ifndef LOOPGATE_STATUS_H
#define LOOPGATE_STATUS_H

#include <stddef.h>

typedef enum lg_status {
    LG_OK = 0,
    LG_EINVAL,      /* the input is malformed or breaks a rule (400) */
    LG_ENOTFOUND,   /* no such resource, type or version (404) */
    LG_EGONE,       /* the resource was deleted (410) */
    LG_ECONFLICT,   /* version conflict, duplicate id, concurrent write (409) */
    LG_EPRECOND,    /* If-Match / conditional precondition failed (412) */
    LG_ETOOLARGE,   /* a configured bound was exceeded (413) */
    LG_EUNSUPPORTED,/* content type or feature not supported (415 / 501) */
    LG_EMETHOD,     /* interaction not allowed on this path (405) */
    LG_EUNPROCESSABLE, /* well-formed but semantically invalid (422) */
    LG_ENOMEM,      /* allocation failed (500) */
    LG_EIO,         /* storage or system failure (500) */
    LG_EINTERNAL,   /* a bug: an invariant did not hold (500) */
    LG_EFORBIDDEN,  /* the client's role never allows this interaction (403) */
} lg_status;

/* OperationOutcome.issue.severity */
typedef enum lg_severity {
    LG_SEV_FATAL, LG_SEV_ERROR, LG_SEV_WARNING, LG_SEV_INFORMATION
} lg_severity;

/* One OperationOutcome.issue. All strings are owned by the lg_issues list. */
typedef struct lg_issue {
    lg_severity severity;
    char *code;        /* IssueType code: "invalid", "structure", "not-found", ... */
    char *location;    /* FHIRPath expression, or NULL */
    char *diagnostics; /* human-readable message */
    int line, col;     /* where in the input text (1-based), 0 when unknown */
} lg_issue;

/* A growable list of issues. Zero-initialise it ({0}) before first use and
 * release it with lg_issues_free(). */
typedef struct lg_issues {
    lg_issue *items;
    size_t count, cap;
} lg_issues;

/* Append an issue; fmt is printf-style for diagnostics. location may be NULL.
 * Returns LG_ENOMEM if the list could not grow (the issue is then dropped). */
lg_status lg_issues_add(lg_issues *l, lg_severity sev, const char *code,
                        const char *location, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Number of issues of severity error or fatal. */
size_t lg_issues_errors(const lg_issues *l);
void lg_issues_free(lg_issues *l);

/* Static, never NULL: "ok", "invalid input", ... */
const char *lg_status_str(lg_status s);

#endif
