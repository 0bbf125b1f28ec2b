/* client.c - `loopgate client add|list|remove` (the clients file in the data
 * directory) and `loopgate audit export` (the audit log as AuditEvents),
 * offline: they work while the server is not running. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loopgate/audit.h"
#include "loopgate/auth.h"
#include "loopgate/cli.h"
#include "loopgate/time.h"

static void client_usage(FILE *f)
{
    fprintf(f,
            "Usage: loopgate client add --data DIR --id ID --role ROLE --org REF [--org REF]...\n"
            "                           [--unrestricted]\n"
            "       loopgate client list --data DIR\n"
            "       loopgate client remove --data DIR --id ID\n"
            "\n"
            "ROLE is referral-source, referral-recipient, coordination or reporting.\n"
            "REF is a reference the client acts for, Type/id: Organization/cbo-1,\n"
            "PractitionerRole/cm-3 (--ref is a synonym of --org).\n"
            "--unrestricted: the client is authenticated and audited, but acts as the server\n"
            "itself (no access rules): for data migration and tests, not for partners.\n"
            "`add` prints the client's bearer token on stdout, once: only its SHA-256 is\n"
            "stored (DIR/%s, mode 0600). A running server reads the file when it starts\n"
            "and on SIGHUP.\n",
            LG_AUTH_FILE);
}

static void print_issues(FILE *err, const lg_issues *is)
{
    for(size_t i = 0; i < is->count; i++)
        fprintf(err, "loopgate: %s\n", is->items[i].diagnostics);
}

/* Serialises concurrent `client add/remove` on one data directory (the
 * read-modify-write of the file would otherwise lose one of them). Returns
 * the lock's descriptor (close releases it), or -1. */
static int lock_dir(const char *dir, FILE *err)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/clients.lock", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if(fd < 0 || flock(fd, LOCK_EX) != 0) {
        fprintf(err, "loopgate: cannot lock %s: %s\n", p, strerror(errno));
        if(fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int lg_cli_client(int argc, char **argv, FILE *out, FILE *err)
{
    enum { O_DATA = 1, O_ID, O_ROLE, O_ORG, O_HELP, O_UNR };
    static const struct option opts[] = {
        {"unrestricted", no_argument, NULL, O_UNR},
        {"data", required_argument, NULL, O_DATA}, {"id", required_argument, NULL, O_ID},
        {"role", required_argument, NULL, O_ROLE}, {"org", required_argument, NULL, O_ORG},
        {"ref", required_argument, NULL, O_ORG},   {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *id = NULL, *role_s = NULL, *refs[LG_AUTH_MAX_REFS];
    size_t nrefs = 0;
    lg_clients *cs = NULL;
    lg_issues issues = {0};
    char path[PATH_MAX];
    int rc = LG_CLI_USAGE, lockfd = -1, o, unrestricted = 0;
    if(argc < 2 || strcmp(argv[1], "--help") == 0) {
        client_usage(argc < 2 ? err : out);
        return argc < 2 ? LG_CLI_USAGE : 0;
    }
    const char *verb = argv[1];
    optind = 1;
    while((o = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch(o) {
        case O_DATA: data = optarg; break;
        case O_ID: id = optarg; break;
        case O_ROLE: role_s = optarg; break;
        case O_ORG:
            if(nrefs >= LG_AUTH_MAX_REFS) {
                fprintf(err, "loopgate: at most %d references per client\n", LG_AUTH_MAX_REFS);
                return LG_CLI_USAGE;
            }
            refs[nrefs++] = optarg;
            break;
        case O_HELP: client_usage(out); return 0;
        case O_UNR: unrestricted = 1; break;
        default: client_usage(err); return LG_CLI_USAGE;
        }
    }
    if(optind < argc - 1) {
        fprintf(err, "loopgate: unexpected argument '%s'\n", argv[optind + 1]);
        return LG_CLI_USAGE;
    }
    if(!data) {
        fprintf(err, "loopgate: client %s needs --data DIR\n", verb);
        return LG_CLI_USAGE;
    }
    if(snprintf(path, sizeof(path), "%s/%s", data, LG_AUTH_FILE) >= (int)sizeof(path)) {
        fprintf(err, "loopgate: --data path too long\n");
        return LG_CLI_USAGE;
    }
    int add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0,
        rm = strcmp(verb, "remove") == 0;
    if(!add && !list && !rm) {
        fprintf(err, "loopgate: unknown client command '%s' (add, list, remove)\n", verb);
        return LG_CLI_USAGE;
    }
    lg_actor_role role = LG_ROLE_NONE;
    if(add) {
        if(!id || !role_s || !nrefs) {
            fprintf(err, "loopgate: client add needs --id, --role and at least one --org\n");
            return LG_CLI_USAGE;
        }
        if(lg_auth_role_parse(role_s, &role)) {
            fprintf(err, "loopgate: unknown role '%s' (referral-source, referral-recipient, "
                         "coordination or reporting)\n", role_s);
            return LG_CLI_USAGE;
        }
        /* the server may not have run yet: the data directory may not exist */
        if(mkdir(data, 0700) != 0 && errno != EEXIST) {
            fprintf(err, "loopgate: cannot create %s: %s\n", data, strerror(errno));
            return 1;
        }
    }
    if(rm && !id) {
        fprintf(err, "loopgate: client remove needs --id\n");
        return LG_CLI_USAGE;
    }
    if(!list && (lockfd = lock_dir(data, err)) < 0)
        return 1;
    lg_status st = lg_clients_load(path, &cs, &issues);
    if(st == LG_ENOTFOUND && add) {
        lg_issues_free(&issues);
        st = lg_clients_new(&cs);
    } else if(st == LG_ENOTFOUND) {
        fprintf(err, "loopgate: no clients file %s (add one with: loopgate client add --data %s "
                     "--id ID --role ROLE --org Organization/ID)\n", path, data);
        rc = 1;
        goto out;
    }
    if(st) {
        print_issues(err, &issues);
        rc = 1;
        goto out;
    }
    if(list) {
        fprintf(out, "%-24s %-20s %s\n", "ID", "ROLE", "ACTS FOR");
        for(size_t i = 0; i < lg_clients_count(cs); i++) {
            const lg_client *c = lg_clients_at(cs, i);
            fprintf(out, "%-24s %-20s", c->id, lg_auth_role_name(c->actor.role));
            for(size_t k = 0; k < c->actor.n_refs; k++)
                fprintf(out, "%s%s", k ? ", " : " ", c->refs[k]);
            fputs(c->unrestricted ? "  (unrestricted)\n" : "\n", out);
        }
        rc = 0;
        goto out;
    }
    if(rm) {
        if(lg_clients_remove(cs, id) == LG_ENOTFOUND) {
            fprintf(err, "loopgate: no client '%s' in %s\n", id, path);
            rc = 1;
            goto out;
        }
        if(lg_clients_save(cs, path, &issues)) {
            print_issues(err, &issues);
            rc = 1;
            goto out;
        }
        fprintf(err, "loopgate: removed client '%s' (a running server keeps it until SIGHUP "
                     "or a restart)\n", id);
        rc = 0;
        goto out;
    }
    char token[LG_AUTH_TOKEN_CHARS + 1];
    unsigned char hash[LG_AUTH_HASH_BYTES];
    if(lg_auth_new_token(token, sizeof(token), hash)) {
        fprintf(err, "loopgate: the random generator failed\n");
        rc = 1;
        goto out;
    }
    st = lg_clients_add(cs, id, role, refs, nrefs, hash, &issues);
    if(!st && unrestricted)
        st = lg_clients_set_unrestricted(cs, id, 1);
    if(!st)
        st = lg_clients_save(cs, path, &issues);
    if(st) {
        print_issues(err, &issues);
        if(!issues.count)
            fprintf(err, "loopgate: %s\n", lg_status_str(st));
        rc = st == LG_EIO || st == LG_ENOMEM ? 1 : LG_CLI_USAGE;
        goto out;
    }
    /* stdout carries the token alone, so scripts can capture it */
    fprintf(out, "%s\n", token);
    fflush(out);
    fprintf(err, "loopgate: added client '%s' (%s). The token above is shown only now; use it as "
                 "'Authorization: Bearer <token>'. A running server sees new clients after "
                 "SIGHUP or a restart.\n", id, lg_auth_role_name(role));
    rc = 0;
out:
    lg_issues_free(&issues);
    lg_clients_free(cs);
    if(lockfd >= 0)
        close(lockfd);
    return rc;
}

int lg_cli_audit(int argc, char **argv, FILE *out, FILE *err)
{
    enum { O_DATA = 1, O_SINCE, O_COUNT, O_HELP };
    static const struct option opts[] = {
        {"data", required_argument, NULL, O_DATA}, {"since", required_argument, NULL, O_SINCE},
        {"count", required_argument, NULL, O_COUNT}, {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *since = NULL;
    long count = 1000000;
    int o;
    if(argc < 2 || strcmp(argv[1], "export") != 0) {
        fprintf(argc >= 2 && strcmp(argv[1], "--help") == 0 ? out : err,
                "Usage: loopgate audit export --data DIR [--since DATETIME] [--count N]\n"
                "Prints DIR/%s as a FHIR searchset Bundle of AuditEvents, newest first\n"
                "(at most N, default 1000000).\n", LG_AUDIT_FILE);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : LG_CLI_USAGE;
    }
    optind = 1;
    while((o = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch(o) {
        case O_DATA: data = optarg; break;
        case O_SINCE: since = optarg; break;
        case O_COUNT: {
            char *end;
            errno = 0;
            count = strtol(optarg, &end, 10);
            if(errno || *end || end == optarg || count < 0 || count > 10000000) {
                fprintf(err, "loopgate: --count expects 0..10000000\n");
                return LG_CLI_USAGE;
            }
            break;
        }
        case O_HELP: fprintf(out, "Usage: loopgate audit export --data DIR [--since T]\n"); return 0;
        default: return LG_CLI_USAGE;
        }
    }
    if(!data) {
        fprintf(err, "loopgate: audit export needs --data DIR\n");
        return LG_CLI_USAGE;
    }
    lg_audit_query q = {.since = INT64_MIN, .until = INT64_MAX, .count = (int)count};
    int64_t hi;
    if(since && lg_time_parse_range(since, &q.since, &hi)) {
        fprintf(err, "loopgate: --since '%s' is not a FHIR date or dateTime\n", since);
        return LG_CLI_USAGE;
    }
    char path[PATH_MAX];
    if(snprintf(path, sizeof(path), "%s/%s", data, LG_AUDIT_FILE) >= (int)sizeof(path))
        return LG_CLI_USAGE;
    lg_buf b;
    lg_issues issues = {0};
    lg_buf_init(&b, (size_t)1 << 31);
    lg_status st = lg_audit_export(path, &q, NULL, NULL, &b, &issues);
    if(st) {
        print_issues(err, &issues);
        if(!issues.count)
            fprintf(err, "loopgate: cannot export %s: %s\n", path, lg_status_str(st));
    } else {
        fwrite(b.data, 1, b.len, out);
        fputc('\n', out);
    }
    lg_issues_free(&issues);
    lg_buf_free(&b);
    return st ? 1 : 0;
}
