/* convert.c - `loopgate convert`: FHIR JSON <-> XML offline, with the same
 * mapping the server uses on the wire (src/xml/), so a file can be checked
 * or prepared without a running gateway:
 *
 *   loopgate convert patient.json            -> XML on standard output
 *   loopgate convert --to json patient.xml   -> JSON
 *
 * The input format is recognised from the text (XML starts with '<'); the
 * output defaults to the other one. A problem in the input (not well-formed,
 * not FHIR, a key that is no element) is printed with its location and
 * makes the exit status 1; nothing is written then, so a pipeline never
 * gets half a resource.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "loopgate/buf.h"
#include "loopgate/cli.h"
#include "loopgate/defs.h"
#include "loopgate/json.h"
#include "loopgate/xml.h"

#define LG_CONVERT_MAX_FILE (256u << 20)

int lg_cli_is_xml(const char *text, size_t len)
{
    size_t i = 0;
    if(len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
       (unsigned char)text[2] == 0xBF)
        i = 3;
    while(i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    return i < len && text[i] == '<';
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: loopgate convert [--defs DIR] [--to json|xml] [--compact] FILE\n"
               "\n"
               "Convert a FHIR R4 resource between JSON and XML (\"-\" reads standard input).\n"
               "The output goes to standard output, in the other format unless --to says.\n"
               "\n"
               "Exit status: 0 converted, 1 the input is not valid FHIR JSON/XML, 2 usage or I/O.\n");
}

static void print_issues(FILE *err, const char *path, const lg_issues *is)
{
    for(size_t i = 0; i < is->count; i++) {
        const lg_issue *it = &is->items[i];
        fprintf(err, "%s", path);
        if(it->line > 0)
            fprintf(err, ":%d:%d", it->line, it->col);
        fprintf(err, ": %s%s%s\n", it->location ? it->location : "", it->location ? ": " : "",
                it->diagnostics ? it->diagnostics : "");
    }
}

int lg_cli_convert(int argc, char **argv, const char *argv0, FILE *out, FILE *err)
{
    enum { O_DEFS = 1, O_TO, O_COMPACT, O_HELP };
    static const struct option opts[] = {
        {"defs", required_argument, NULL, O_DEFS},
        {"to", required_argument, NULL, O_TO},
        {"compact", no_argument, NULL, O_COMPACT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    static const char *const no_types[] = {"Patient", NULL};
    const char *defs_dir = NULL, *to = NULL;
    int o, compact = 0;
    optind = 1;
    opterr = 0;
    while((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch(o) {
        case O_DEFS: defs_dir = optarg; break;
        case O_TO: to = optarg; break;
        case O_COMPACT: compact = 1; break;
        case O_HELP: usage(out); return LG_CLI_VALID;
        default:
            fprintf(err, "loopgate convert: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(err);
            return LG_CLI_USAGE;
        }
    }
    if(to && strcmp(to, "json") != 0 && strcmp(to, "xml") != 0) {
        fprintf(err, "loopgate convert: --to must be json or xml, not '%s'\n", to);
        return LG_CLI_USAGE;
    }
    if(argc - optind != 1) {
        fprintf(err, "loopgate convert: give exactly one FILE\n");
        usage(err);
        return LG_CLI_USAGE;
    }
    const char *path = argv[optind];
    if(!defs_dir)
        defs_dir = lg_defs_default_dir(argv0);
    if(!defs_dir) {
        fprintf(err, "loopgate convert: FHIR definitions not found; pass --defs DIR\n");
        return LG_CLI_USAGE;
    }
    char *text = NULL;
    size_t len = 0;
    lg_status st = lg_cli_read_file(path, LG_CONVERT_MAX_FILE, &text, &len);
    if(st) {
        fprintf(err, "loopgate convert: cannot read %s: %s\n", path,
                st == LG_EIO ? strerror(errno) : lg_status_str(st));
        return LG_CLI_USAGE;
    }
    lg_defs *defs = NULL;
    lg_issues is = {0};
    cJSON *res = NULL;
    lg_buf b;
    lg_buf_init(&b, LG_CONVERT_MAX_FILE * 4);
    int rc = LG_CLI_USAGE;
    if((st = lg_defs_load(defs_dir, no_types, &defs, &is))) {
        fprintf(err, "loopgate convert: cannot load definitions from %s: %s\n", defs_dir,
                lg_status_str(st));
        goto done;
    }
    lg_issues_free(&is);
    int from_xml = lg_cli_is_xml(text, len);
    int to_xml = to ? strcmp(to, "xml") == 0 : !from_xml;
    lg_json_limits lim = lg_json_default_limits;
    lim.max_bytes = LG_CONVERT_MAX_FILE;
    st = from_xml ? lg_xml_to_json(defs, text, len, &lim, &res, &is)
                  : lg_json_parse(text, len, &lim, &res, &is);
    if(!st && !from_xml && !cJSON_IsObject(res)) {
        lg_issues_add(&is, LG_SEV_ERROR, "structure", NULL, "The JSON is not a resource object");
        st = LG_EINVAL;
    }
    if(!st) {
        if(to_xml) {
            st = lg_json_to_xml_opts(defs, res, !compact, &b, &is);
        } else {
            char *s = lg_json_print(res, !compact);
            st = s ? lg_buf_adds(&b, s) : LG_ENOMEM;
            if(!st)
                st = lg_buf_adds(&b, "\n");
            free(s);
        }
    }
    if(st) {
        print_issues(err, path, &is);
        fprintf(err, "loopgate convert: %s not converted: %s\n", path, lg_status_str(st));
        rc = st == LG_ENOMEM ? LG_CLI_USAGE : LG_CLI_INVALID;
        goto done;
    }
    if(fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0) {
        fprintf(err, "loopgate convert: write failed: %s\n", strerror(errno));
        goto done;
    }
    rc = LG_CLI_VALID;
done:
    lg_buf_free(&b);
    cJSON_Delete(res);
    lg_issues_free(&is);
    lg_defs_free(defs);
    free(text);
    return rc;
}
