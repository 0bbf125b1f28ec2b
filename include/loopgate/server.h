/* server.h - the HTTP front end: libevent workers serving lg_rest. */
#ifndef LOOPGATE_SERVER_H
#define LOOPGATE_SERVER_H

#include "loopgate/defs.h"
#include "loopgate/rest.h"

typedef struct lg_server_config {
    const char *listen;    /* "127.0.0.1:8080" ([v6]:port accepted) */
    const char *data_dir;  /* store location */
    int threads;           /* worker threads, >= 1 */
    int allow_remote;      /* permit a non-loopback listen address */
    int quiet;             /* no per-request log lines */
    int idle_timeout;      /* seconds a keep-alive connection may idle */
    size_t search_cache_bytes; /* per worker; 0 disables the search cache */
    lg_rest_config rest;
} lg_server_config;

/* Serve until SIGTERM or SIGINT, then stop accepting, let in-flight
 * requests finish, and close the store. defs must outlive the call.
 * Returns 0 on a clean shutdown, non-zero (after printing why to stderr) if
 * the server could not start. */
int lg_server_run(const lg_server_config *cfg, const lg_defs *defs);

#endif
