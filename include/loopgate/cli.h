/* cli.h - loopgate's offline subcommands (everything but `serve`), kept out
 * of main.c so the command line stays a thin dispatcher and each command can
 * be linked into tools and tests on its own.
 */
#ifndef LOOPGATE_CLI_H
#define LOOPGATE_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "loopgate/status.h"

/* Exit codes of `loopgate validate`. */
#define LG_CLI_VALID 0     /* no file has an error */
#define LG_CLI_INVALID 1   /* some file has an error (or is not JSON) */
#define LG_CLI_USAGE 2     /* bad arguments, definitions or a file unreadable */

/* `loopgate validate [--defs DIR] [--package DIR]... [--profile URL]... FILE...`
 * argv[0] is "validate"; argv0 is the program path (finds the default
 * definitions). Prints a summary per file to out, diagnostics to err.
 * Returns one of the LG_CLI_* exit codes. */
int lg_cli_validate(int argc, char **argv, const char *argv0, FILE *out, FILE *err);

/* `loopgate client add|list|remove --data DIR ...` (src/cli/client.c).
 * argv[0] is "client". `add` prints the new token, alone, on out; messages
 * go to err. Returns 0, 1 (failed: file unreadable or unwritable, unknown
 * client) or LG_CLI_USAGE (bad arguments, duplicate id, unknown role,
 * malformed reference). */
int lg_cli_client(int argc, char **argv, FILE *out, FILE *err);

/* `loopgate audit export --data DIR [--since T] [--count N]`: prints the
 * audit log as a searchset Bundle of AuditEvents on out. argv[0] is
 * "audit". Returns 0, 1 (log unreadable) or LG_CLI_USAGE. */
int lg_cli_audit(int argc, char **argv, FILE *out, FILE *err);

/* `loopgate outbox list|show|replay|events` (src/cli/outbox.c): the
 * forwarding outbox and inbound events, offline (--data DIR) or through a
 * running server (--url URL --token TOKEN). argv[0] is "outbox". Returns 0,
 * 1 (failed: unknown job, job not dead, store held by a server, server
 * error) or LG_CLI_USAGE (bad arguments). */
int lg_cli_outbox(int argc, char **argv, FILE *out, FILE *err);

/* Read a whole file ("-" is standard input) of at most max bytes into a new
 * NUL-terminated buffer *out (the caller frees it) of *len bytes.
 * LG_EIO (errno set) when it cannot be read, LG_ETOOLARGE beyond max,
 * LG_ENOMEM. */
lg_status lg_cli_read_file(const char *path, size_t max, char **out, size_t *len);

/* `loopgate convert [--defs DIR] [--to json|xml] [--compact] FILE` ("-" is
 * standard input): FHIR JSON to XML or XML to JSON (default: the other
 * format), written to out, indented unless --compact. argv[0] is "convert".
 * Returns LG_CLI_VALID on success, LG_CLI_INVALID when the input is not
 * convertible (problems printed to err with line and column), LG_CLI_USAGE
 * for bad arguments, unreadable files or definitions. */
int lg_cli_convert(int argc, char **argv, const char *argv0, FILE *out, FILE *err);

/* 1 when text (len bytes) looks like XML: its first non-blank character,
 * after any UTF-8 byte order mark, is '<'. JSON never starts so. */
int lg_cli_is_xml(const char *text, size_t len);

#endif
