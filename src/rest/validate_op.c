/* validate_op.c - the FHIR R4 Resource.$validate operation
 * (http://hl7.org/fhir/R4/resource-operation-validate.html):
 *
 *   POST [base]/[type]/$validate        POST [base]/[type]/[id]/$validate
 *
 * The body is either the resource itself or a Parameters resource with
 * `resource`, optional `profile` (uri, repeatable) and `mode`
 * (create | update | delete | profile). `mode` and `profile` may also be
 * given in the query string when the body is the raw resource. Profiles are
 * checked by lg_validate_full against what the server loaded (--package).
 *
 * The answer is always 200 with an OperationOutcome (one "All OK"
 * information issue when nothing was found), because the spec says a 4xx
 * means the validation itself could not be performed. That is why only an
 * unparseable body or malformed Parameters is a 400, and only an unknown
 * type a 404. Nothing is written: $validate never takes the write lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/outcome.h"
#include "loopgate/validate.h"
#include "loopgate/xml.h"
#include "internal.h"

/* More profiles than any real request names; bounds the work per request. */
#define LG_VALIDATE_MAX_PROFILES 16

typedef enum vmode { MODE_NONE, MODE_CREATE, MODE_UPDATE, MODE_DELETE, MODE_PROFILE } vmode;

/* What to validate. Every pointer borrows from the parsed body or query. */
typedef struct vreq {
    const cJSON *resource;
    const char *profiles[LG_VALIDATE_MAX_PROFILES];
    size_t nprofiles;
    vmode mode;
    int mode_set;
} vreq;

static const char *mode_name(vmode m)
{
    switch(m) {
    case MODE_CREATE: return "create";
    case MODE_UPDATE: return "update";
    case MODE_DELETE: return "delete";
    case MODE_PROFILE: return "profile";
    case MODE_NONE: break;
    }
    return "none";
}

/* ResourceValidationMode codes; -1 when s is not one. */
static int parse_mode(const char *s)
{
    static const struct { const char *code; vmode m; } modes[] = {
        {"create", MODE_CREATE}, {"update", MODE_UPDATE},
        {"delete", MODE_DELETE}, {"profile", MODE_PROFILE},
    };
    for(size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++)
        if(strcmp(s, modes[i].code) == 0)
            return (int)modes[i].m;
    return -1;
}

static lg_status set_mode(lg_ctx *c, vreq *v, const char *s, const char *where)
{
    int m = parse_mode(s);
    if(m < 0)
        return lg_fail(c, LG_EINVAL, "value", where,
                       "Unknown validation mode '%.64s' (expected create, update, delete or "
                       "profile)", s);
    if(v->mode_set && v->mode != (vmode)m)
        return lg_fail(c, LG_EINVAL, "invalid", where, "The validation mode is given twice");
    v->mode = (vmode)m;
    v->mode_set = 1;
    return LG_OK;
}

static lg_status add_profile(lg_ctx *c, vreq *v, const char *url, const char *where)
{
    if(!url[0])
        return lg_fail(c, LG_EINVAL, "value", where, "An empty profile URL");
    if(v->nprofiles == LG_VALIDATE_MAX_PROFILES)
        return lg_fail(c, LG_EINVAL, "too-costly", where,
                       "At most %d profiles can be checked in one request",
                       LG_VALIDATE_MAX_PROFILES);
    v->profiles[v->nprofiles++] = url;
    return LG_OK;
}

/* mode and profile from the query string. The strings live in qp, which the
 * caller keeps until the reply is built. Other operation parameters are
 * refused; _format and friends (leading '_') are left to the HTTP layer. */
static lg_status query_params(lg_ctx *c, const lg_params *qp, vreq *v)
{
    lg_status st = LG_OK;
    for(size_t i = 0; !st && i < qp->count; i++) {
        const lg_param *p = &qp->items[i];
        if(strcmp(p->name, "mode") == 0)
            st = set_mode(c, v, p->value, NULL);
        else if(strcmp(p->name, "profile") == 0)
            st = add_profile(c, v, p->value, NULL);
        else if(p->name[0] != '_')
            st = lg_fail(c, LG_EINVAL, "not-supported", NULL,
                         "Unknown $validate parameter '%.64s' (known: mode, profile)", p->name);
    }
    return st;
}

/* The value[x] of a Parameters.parameter that must be a string-like
 * primitive; NULL (and a 400 reply) when it is missing or of another kind. */
static const char *param_string(lg_ctx *c, const cJSON *p, const char *const *keys, size_t nkeys,
                                const char *loc, const char *name)
{
    for(size_t k = 0; k < nkeys; k++) {
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(p, keys[k]);
        if(cJSON_IsString(val))
            return val->valuestring;
    }
    lg_fail(c, LG_EINVAL, "invalid", loc, "Parameter '%s' needs %s", name, keys[0]);
    return NULL;
}

/* Read the operation's in-parameters from a Parameters body. */
static lg_status parameters_body(lg_ctx *c, const cJSON *body, vreq *v)
{
    static const char *const uri_keys[] = {"valueUri", "valueCanonical", "valueUrl",
                                           "valueString"};
    static const char *const code_keys[] = {"valueCode", "valueString"};
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(body, "parameter");
    if(params && !cJSON_IsArray(params))
        return lg_fail(c, LG_EINVAL, "structure", "Parameters.parameter",
                       "Parameters.parameter must be an array");
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        char loc[64];
        snprintf(loc, sizeof(loc), "Parameters.parameter[%d]", i++);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
        if(!cJSON_IsObject(p) || !cJSON_IsString(name))
            return lg_fail(c, LG_EINVAL, "structure", loc, "Each parameter needs a name");
        const char *s;
        if(strcmp(name->valuestring, "resource") == 0) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "resource");
            if(!cJSON_IsObject(r))
                return lg_fail(c, LG_EINVAL, "structure", loc,
                               "Parameter 'resource' needs a resource");
            if(v->resource)
                return lg_fail(c, LG_EINVAL, "invalid", loc,
                               "Only one resource can be validated per request");
            v->resource = r;
        } else if(strcmp(name->valuestring, "profile") == 0) {
            if(!(s = param_string(c, p, uri_keys, 4, loc, "profile")))
                return LG_EINVAL;
            lg_status st = add_profile(c, v, s, loc);
            if(st)
                return st;
        } else if(strcmp(name->valuestring, "mode") == 0) {
            if(!(s = param_string(c, p, code_keys, 2, loc, "mode")))
                return LG_EINVAL;
            lg_status st = set_mode(c, v, s, loc);
            if(st)
                return st;
        } else {
            return lg_fail(c, LG_EINVAL, "not-supported", loc,
                           "Unknown $validate parameter '%.64s' (known: resource, mode, profile)",
                           name->valuestring);
        }
    }
    return LG_OK;
}

/* A Parameters body posted to Parameters/$validate is the resource to
 * check unless it plainly wraps one (a parameter "resource" holding one). */
static int wraps_resource(const cJSON *body)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(body, "parameter")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
        if(cJSON_IsString(name) && strcmp(name->valuestring, "resource") == 0 &&
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(p, "resource")))
            return 1;
    }
    return 0;
}

/* mode=delete: would DELETE [type]/[id] succeed? Loopgate keeps no
 * referential integrity on delete, so only existence matters. */
static lg_status check_delete(lg_ctx *c, const char *type, const char *id, lg_issues *vi)
{
    lg_resource cur = {0};
    lg_status st = lg_store_read(c->st, type, id, &cur);
    /* What the client may not see (access.c) answers like what is gone. */
    int gone = st == LG_ENOTFOUND || (st == LG_OK && (cur.deleted || !lg_access_resource(c, &cur)));
    lg_resource_clear(&cur);
    if(st && st != LG_ENOTFOUND)
        return lg_fail(c, st, "exception", NULL, "Could not read %s/%s", type, id);
    if(gone && lg_issues_add(vi, LG_SEV_WARNING, "not-found", NULL,
                             "%s/%s does not exist; a delete would change nothing", type, id))
        return LG_ENOMEM;
    return LG_OK;
}

/* The checks a create or update of res at this endpoint would make beyond
 * the structure: type match, served type, id rules. */
static lg_status check_write_rules(lg_ctx *c, const char *type, const char *id, const cJSON *res,
                                   vmode mode, lg_issues *vi)
{
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(res, "resourceType");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(res, "id");
    const char *rtype = cJSON_IsString(rt) ? rt->valuestring : type;
    lg_status st = LG_OK;
    char loc[96];
    snprintf(loc, sizeof(loc), "%.64s.id", rtype);
    if(cJSON_IsString(rt) && strcmp(rt->valuestring, type) != 0)
        st = lg_issues_add(vi, LG_SEV_ERROR, "invalid", "resourceType",
                           "resourceType '%.64s' does not match the endpoint type '%s'",
                           rt->valuestring, type);
    if(!st && (mode == MODE_CREATE || mode == MODE_UPDATE) && !lg_defs_type(c->rest->defs, type))
        st = lg_issues_add(vi, LG_SEV_ERROR, "not-supported", NULL,
                           "Resource type '%s' is not served by this server; a %s would be "
                           "refused", type, mode_name(mode));
    if(st)
        return st;
    const char *rid_s = cJSON_IsString(rid) ? rid->valuestring : NULL;
    if(mode == MODE_UPDATE) {
        if(!rid_s)
            st = lg_issues_add(vi, LG_SEV_ERROR, "required", loc,
                               "The resource in an update must carry its id");
        else if(id && strcmp(rid_s, id) != 0)
            st = lg_issues_add(vi, LG_SEV_ERROR, "invalid", loc,
                               "Resource id '%.64s' does not match the id in the URL '%s'", rid_s,
                               id);
    } else if(id && rid_s && strcmp(rid_s, id) != 0) {
        st = lg_issues_add(vi, LG_SEV_WARNING, "invalid", loc,
                           "Resource id '%.64s' differs from the id in the URL '%s'", rid_s, id);
    } else if(mode == MODE_CREATE && rid_s) {
        st = lg_issues_add(vi, LG_SEV_INFORMATION, "informational", loc,
                           "A create ignores the resource id; the server assigns a new one");
    }
    return st;
}

lg_status lg_do_validate(lg_ctx *c, const char *type, const char *id)
{
    const lg_rest_request *req = c->req;
    lg_params qp = {0};
    lg_issues vi = {0};
    cJSON *body = NULL;
    vreq v = {0};
    int raw = 0;
    lg_status st = lg_params_parse(req->query, req->query ? strlen(req->query) : 0, &qp);
    if(st) {
        st = lg_fail(c, st, st == LG_ETOOLARGE ? "too-costly" : "exception", NULL,
                     "Could not read the query string");
        goto out;
    }
    if((st = query_params(c, &qp, &v)))
        goto out;
    if(req->body_len) {
        if((st = lg_json_parse(req->body, req->body_len, &c->rest->cfg.json, &body,
                               &c->issues))) {
            st = lg_fail_issues(c, st);
            goto out;
        }
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(body, "resourceType");
        if(!cJSON_IsObject(body) || !cJSON_IsString(rt)) {
            st = lg_fail(c, LG_EINVAL, "structure", NULL,
                         "The body must be a resource or a Parameters resource");
            goto out;
        }
        if(strcmp(rt->valuestring, "Parameters") == 0 &&
           (strcmp(type, "Parameters") != 0 || wraps_resource(body))) {
            if((st = parameters_body(c, body, &v)))
                goto out;
        } else {
            v.resource = body;
            raw = 1;
        }
    }
    if(v.mode == MODE_PROFILE && !v.nprofiles) {
        st = lg_fail(c, LG_EINVAL, "required", NULL, "mode=profile needs a profile parameter");
        goto out;
    }
    if(v.mode == MODE_DELETE) {
        if(!id) {
            st = lg_fail(c, LG_EINVAL, "invalid", NULL,
                         "mode=delete applies to an instance: POST %s/[id]/$validate", type);
            goto out;
        }
        if((st = check_delete(c, type, id, &vi)))
            goto out;
    } else if(!v.resource) {
        st = lg_fail(c, LG_EINVAL, "required", NULL,
                     "No resource to validate: send it as the body or as the Parameters "
                     "parameter 'resource'");
        goto out;
    } else {
        if((st = check_write_rules(c, type, id, v.resource, v.mode, &vi)))
            goto nomem;
        /* The full check: structure, then meta.profile claims, the requested
         * profiles (an unknown one is an error: the client asked for it) and
         * any profile the server requires, with their invariants. */
        st = lg_validate_full(c->rest->defs, v.resource, v.profiles, v.nprofiles, &vi);
        if(st == LG_ENOMEM)
            goto nomem;
        /* Positions only for a raw body: a resource inside Parameters has
         * locations relative to itself, not to the posted text. */
        if(raw && c->req->xml_body)
            lg_xml_issues_locate(&vi, 0, c->req->xml_body, c->req->xml_body_len);
        else if(raw && !c->req->rebuilt_body)
            lg_issues_locate(&vi, 0, c->req->body, c->req->body_len);
    }
    lg_buf b;
    lg_buf_init(&b, c->rest->cfg.max_response);
    if((st = lg_outcome_write(&b, &vi, LG_SEV_INFORMATION, "informational", "All OK"))) {
        lg_buf_free(&b);
        goto nomem;
    }
    lg_reply_buf(c, 200, &b);
    goto out;
nomem:
    st = lg_fail(c, LG_ENOMEM, "exception", NULL, "Out of memory while validating");
out:
    lg_issues_free(&vi);
    cJSON_Delete(body);
    lg_params_free(&qp);
    return st;
}
