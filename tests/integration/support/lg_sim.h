/* lg_sim.h - the directory simulator (tests/sim/dirsim.c, built as
 * lg_dirsim) from the integration tests: start it on a free loopback port,
 * speak to its control API, wait for what it received.
 *
 * Like lg_it.h, failures to start or to talk to it are Criterion assertion
 * failures; call these on the test's main thread. */
#ifndef LG_SIM_H
#define LG_SIM_H

#include <cjson/cJSON.h>
#include <sys/types.h>

#include "lg_it.h"

#define LG_SIM_MAX_EXTRA 12

typedef struct lg_sim {
    pid_t pid;       /* 0 when stopped */
    int port;
    char base[64];   /* http://127.0.0.1:PORT */
    char log[160];   /* its stderr */
    lg_server http;  /* only base set and no token: for lg_http on the simulator */
} lg_sim;

/* Start lg_dirsim --port 0 with extra arguments (NULL-terminated, at most
 * LG_SIM_MAX_EXTRA, borrowed for the call) and read the port it prints. It
 * dies with the test process. */
void lg_sim_start(lg_sim *sim, const char *const *extra);
/* SIGTERM, reap, remove the log (kept when it did not exit 0). */
void lg_sim_stop(lg_sim *sim);

/* GET/POST path (starting with '/') on the simulator; caller frees with
 * lg_resp_free. */
lg_resp lg_sim_get(const lg_sim *sim, const char *path);
lg_resp lg_sim_post(const lg_sim *sim, const char *path, const char *json);
/* POST a control request and assert 200. */
void lg_sim_control(const lg_sim *sim, const char *path, const char *json);

/* The referrals the simulator received (GET /_control/referrals), as a cJSON
 * array the caller deletes. */
cJSON *lg_sim_referrals(const lg_sim *sim);
/* The referrals whose external id is ext ("Task/7"), counted; *out (if not
 * NULL) gets a copy of the last one (caller deletes), or NULL. */
int lg_sim_referrals_for(const lg_sim *sim, const char *ext, cJSON **out);
/* The platform requests it logged whose path starts with prefix (GET
 * /_control/requests), as a cJSON array the caller deletes. */
cJSON *lg_sim_requests(const lg_sim *sim, const char *prefix);

/* Milliseconds since the epoch (the simulator's received_ms clock). */
long long lg_now_ms(void);

#endif
