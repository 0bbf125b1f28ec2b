/* lg_sim.c - the directory simulator from the integration tests (contracts
 * in lg_sim.h). */
#include "lg_sim.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long lg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lg_sim_start(lg_sim *sim, const char *const *extra)
{
    const char *argv[4 + LG_SIM_MAX_EXTRA] = {LG_DIRSIM, "--port", "0"};
    int n = 3, pfd[2];
    memset(sim, 0, sizeof(*sim));
    for(int i = 0; extra && extra[i]; i++) {
        cr_assert_lt(i, LG_SIM_MAX_EXTRA, "too many simulator arguments");
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    char tmpl[] = "/tmp/lg-sim-XXXXXX";
    int lfd = mkstemp(tmpl);
    cr_assert(lfd >= 0, "mkstemp: %s", strerror(errno));
    snprintf(sim->log, sizeof(sim->log), "%s", tmpl);
    cr_assert_eq(pipe(pfd), 0, "pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if(pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if(getppid() != parent)
            _exit(126);
        dup2(pfd[1], STDOUT_FILENO);
        dup2(lfd, STDERR_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        close(lfd);
        execv(LG_DIRSIM, (char *const *)argv);
        _exit(127);
    }
    close(lfd);
    close(pfd[1]);
    sim->pid = pid;
    /* the first line is the port; wait at most 10 s for it */
    char line[32] = "";
    size_t len = 0;
    for(int i = 0; i < 1000 && len < sizeof(line) - 1 && !strchr(line, '\n'); i++) {
        ssize_t r = read(pfd[0], line + len, sizeof(line) - 1 - len);
        if(r > 0) {
            len += (size_t)r;
            line[len] = '\0';
        } else if(r == 0) {
            break;
        } else if(errno != EINTR) {
            break;
        }
    }
    close(pfd[0]);
    sim->port = (int)strtol(line, NULL, 10);
    cr_assert(sim->port > 0 && sim->port < 65536, "lg_dirsim printed '%s' (see %s)", line,
              sim->log);
    snprintf(sim->base, sizeof(sim->base), "http://127.0.0.1:%d", sim->port);
    snprintf(sim->http.base, sizeof(sim->http.base), "%s", sim->base);
}

void lg_sim_stop(lg_sim *sim)
{
    if(sim->pid <= 0)
        return;
    int wst = 0;
    pid_t got = 0;
    kill(sim->pid, SIGTERM);
    for(int i = 0; i < 500 && got == 0; i++) {
        got = waitpid(sim->pid, &wst, WNOHANG);
        if(got == 0)
            usleep(10000);
    }
    if(got == 0) {
        kill(sim->pid, SIGKILL);
        waitpid(sim->pid, &wst, 0);
        wst = -1;
    }
    sim->pid = 0;
    /* keep the log of a simulator that did not exit cleanly (sanitizers) */
    if(wst != -1 && WIFEXITED(wst) && WEXITSTATUS(wst) == 0)
        remove(sim->log);
    cr_expect(wst != -1 && WIFEXITED(wst) && WEXITSTATUS(wst) == 0,
              "lg_dirsim did not exit cleanly (wait status %#x, see %s)", wst, sim->log);
}

static lg_resp sim_http(const lg_sim *sim, const char *method, const char *path, const char *json)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", sim->base, path);
    const char *h[] = {"Content-Type: application/json", NULL};
    return lg_http_as(&sim->http, NULL, method, url, json ? h : NULL, json);
}

lg_resp lg_sim_get(const lg_sim *sim, const char *path)
{
    return sim_http(sim, "GET", path, NULL);
}

lg_resp lg_sim_post(const lg_sim *sim, const char *path, const char *json)
{
    return sim_http(sim, "POST", path, json ? json : "{}");
}

void lg_sim_control(const lg_sim *sim, const char *path, const char *json)
{
    lg_resp r = lg_sim_post(sim, path, json);
    cr_assert_eq(r.status, 200, "simulator %s %s: %ld %s %s", path, json, r.status,
                 r.body ? r.body : "", r.error);
    lg_resp_free(&r);
}

/* The array at key of a GET on the simulator (caller deletes). */
static cJSON *sim_array(const lg_sim *sim, const char *path, const char *key)
{
    lg_resp r = lg_sim_get(sim, path);
    cr_assert_eq(r.status, 200, "simulator GET %s: %ld %s", path, r.status, r.error);
    cJSON *a = cJSON_DetachItemFromObject(r.json, key);
    lg_resp_free(&r);
    cr_assert(cJSON_IsArray(a), "simulator GET %s: no %s array", path, key);
    return a;
}

cJSON *lg_sim_referrals(const lg_sim *sim)
{
    return sim_array(sim, "/_control/referrals", "referrals");
}

int lg_sim_referrals_for(const lg_sim *sim, const char *ext, cJSON **out)
{
    cJSON *all = lg_sim_referrals(sim);
    const cJSON *f, *last = NULL;
    int n = 0;
    cJSON_ArrayForEach(f, all) {
        const char *e = lg_str(f, "external_id");
        if(e && strcmp(e, ext) == 0) {
            n++;
            last = f;
        }
    }
    if(out)
        *out = last ? cJSON_Duplicate(last, 1) : NULL;
    cJSON_Delete(all);
    return n;
}

cJSON *lg_sim_requests(const lg_sim *sim, const char *prefix)
{
    cJSON *all = sim_array(sim, "/_control/requests", "requests");
    cJSON *out = cJSON_CreateArray();
    const cJSON *q;
    cJSON_ArrayForEach(q, all) {
        const char *p = lg_str(q, "path");
        if(p && strncmp(p, prefix, strlen(prefix)) == 0)
            cJSON_AddItemToArray(out, cJSON_Duplicate(q, 1));
    }
    cJSON_Delete(all);
    return out;
}
