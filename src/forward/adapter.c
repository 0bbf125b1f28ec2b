/* adapter.c - the adapter table and the request/event helpers every
 * adapter shares (see adapter.h, adapter_util.h). */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "adapter.h"
#include "adapter_util.h"

/* Adding a platform: its folder and one line here. */
static const lg_fwd_adapter *const adapters[] = { &lg_fwd_uniteus, &lg_fwd_findhelp, &lg_fwd_hsds };

const lg_fwd_adapter *lg_fwd_adapter_find(const char *name)
{
    if(!name)
        return NULL;
    for(size_t i = 0; i < sizeof adapters / sizeof adapters[0]; i++)
        if(strcmp(adapters[i]->name, name) == 0)
            return adapters[i];
    return NULL;
}

void lg_fwd_req_clear(lg_fwd_req *r)
{
    if(!r)
        return;
    free(r->url);
    for(size_t i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

lg_status lg_fwd_req_header(lg_fwd_req *r, const char *fmt, ...)
{
    if(r->n_headers >= LG_FWD_MAX_HEADERS)
        return LG_ETOOLARGE;
    va_list ap;
    va_start(ap, fmt);
    char *h = vformat(fmt, ap);
    va_end(ap);
    if(!h)
        return LG_ENOMEM;
    r->headers[r->n_headers++] = h;
    return LG_OK;
}

lg_status lg_fwd_req_url(lg_fwd_req *r, const char *base, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *path = vformat(fmt, ap);
    va_end(ap);
    if(!path)
        return LG_ENOMEM;
    size_t bl = strlen(base);
    while(bl && base[bl - 1] == '/')
        bl--;
    char *url = NULL;
    int n = asprintf(&url, "%.*s%s", (int)bl, base, path);
    free(path);
    if(n < 0)
        return LG_ENOMEM;
    free(r->url);
    r->url = url;
    return LG_OK;
}

char *lg_fwd_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;
    if(!out)
        return NULL;
    for(const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
           *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

void lg_fwd_event_clear(lg_fwd_event *e)
{
    if(!e)
        return;
    free(e->event_id);
    free(e->remote_id);
    free(e->task_id);
    free(e->platform_status);
    free(e->reason);
    free(e->outcome);
    memset(e, 0, sizeof *e);
    e->occurred_ms = INT64_MIN;
}

/* ------------------------------------------------------ adapter helpers */

lg_status lg_fwd_setting_string(const lg_fwd_platform *p, const cJSON *obj, const char *key,
                                int required, char **out, lg_issues *issues)
{
    char loc[160];
    snprintf(loc, sizeof loc, "platforms.where(name='%.64s').%.40s", p && p->name ? p->name : "?", key);
    *out = NULL;
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if(!v || cJSON_IsNull(v)) {
        if(!required)
            return LG_OK;
        lg_issues_add(issues, LG_SEV_ERROR, "required", loc, "'%s' is required for adapter %s", key,
                      p && p->adapter ? p->adapter->name : "?");
        return LG_EINVAL;
    }
    if(!cJSON_IsString(v) || !v->valuestring) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc, "'%s' must be a string", key);
        return LG_EINVAL;
    }
    size_t n = strnlen(v->valuestring, LG_FWD_MAX_SETTING + 1);
    if(n == 0 || n > LG_FWD_MAX_SETTING) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc, "'%s' must be 1 to %d characters", key,
                      LG_FWD_MAX_SETTING);
        return LG_EINVAL;
    }
    for(size_t i = 0; i < n; i++) {
        /* Settings end up in HTTP headers and URLs: a CR or LF would split them. */
        if((unsigned char)v->valuestring[i] < 0x20 || v->valuestring[i] == 0x7f) {
            lg_issues_add(issues, LG_SEV_ERROR, "value", loc, "'%s' holds a control character", key);
            return LG_EINVAL;
        }
    }
    *out = strndup(v->valuestring, n);
    return *out ? LG_OK : LG_ENOMEM;
}

char *lg_fwd_excerpt(const char *text, size_t len, size_t max)
{
    if(!text)
        len = 0;
    size_t n = len < max ? len : max;
    char *out = malloc(n + 4);
    if(!out)
        return NULL;
    for(size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    /* Do not end inside a UTF-8 sequence when cut. */
    if(len > n) {
        while(n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
            n--;
        if(n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
            n--;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

char *lg_fwd_error_text(const char *body, size_t len)
{
    if(!body || len == 0)
        return NULL;
    cJSON *j = lg_fwd_parse_body(body, len);
    const char *found = NULL;
    if(cJSON_IsObject(j)) {
        static const char *const keys[] = { "error_description", "message", "error", "detail" };
        for(size_t i = 0; !found && i < sizeof keys / sizeof keys[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
            if(cJSON_IsObject(v))
                v = cJSON_GetObjectItemCaseSensitive(v, "message");
            if(cJSON_IsString(v) && v->valuestring && *v->valuestring)
                found = v->valuestring;
        }
    }
    char *out = found ? lg_fwd_excerpt(found, strlen(found), LG_FWD_MAX_ERROR_TEXT)
                      : lg_fwd_excerpt(body, len, LG_FWD_MAX_ERROR_TEXT);
    cJSON_Delete(j);
    return out;
}

static const struct {
    const char *platform;
    lg_task_status status;
} status_table[] = {
    { "pending", LG_TASK_RECEIVED },       { "sent", LG_TASK_RECEIVED },
    { "viewed", LG_TASK_RECEIVED },        { "accepted", LG_TASK_ACCEPTED },
    { "in_progress", LG_TASK_IN_PROGRESS },{ "working", LG_TASK_IN_PROGRESS },
    { "on_hold", LG_TASK_ON_HOLD },        { "declined", LG_TASK_REJECTED },
    { "completed", LG_TASK_COMPLETED },    { "closed_served", LG_TASK_COMPLETED },
    { "not_served", LG_TASK_FAILED },      { "closed_not_served", LG_TASK_FAILED },
    { "cancelled", LG_TASK_CANCELLED },
};

int lg_fwd_status_map(const char *platform_status, lg_task_status *out)
{
    if(!platform_status)
        return -1;
    for(size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++) {
        if(strcmp(status_table[i].platform, platform_status) == 0) {
            *out = status_table[i].status;
            return 0;
        }
    }
    return -1;
}

lg_fwd_verdict lg_fwd_verdict_of_status(int status, int reauth_on_401)
{
    if(status == 0 || status == 408 || status == 429 || (status >= 500 && status <= 599))
        return LG_FWD_RETRY;
    if(status == 401 && reauth_on_401)
        return LG_FWD_REAUTH;
    return LG_FWD_FAIL;
}

cJSON *lg_fwd_parse_body(const char *body, size_t len)
{
    if(!body || len == 0)
        return NULL;
    static const lg_json_limits lim = { 4u << 20, 32, 64u << 10 };
    lg_issues is = { 0 };
    cJSON *j = NULL;
    lg_json_parse(body, len, &lim, &j, &is);
    lg_issues_free(&is);
    return j;
}

int lg_fwd_dup(char **dst, const char *src)
{
    *dst = NULL;
    if(!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

const lg_language_need *lg_fwd_language_need(const lg_child *c)
{
    if(!c || !c->n_languages)
        return NULL;
    for(size_t i = 0; c->preferred_language && i < c->n_languages; i++)
        if(c->languages[i].language.code && strcmp(c->languages[i].language.code, c->preferred_language) == 0)
            return &c->languages[i];
    return &c->languages[0];
}

const char *lg_fwd_need_category(const lg_referral *r)
{
    if(!r || !r->n_categories)
        return NULL;
    for(size_t i = 0; i < r->n_categories; i++)
        if(r->categories[i] != LG_SDOH_UNSPECIFIED)
            return lg_sdoh_category_code(r->categories[i]);
    return lg_sdoh_category_code(r->categories[0]);
}

int lg_fwd_add_caregivers(cJSON *obj, const lg_child *c)
{
    static const struct {
        unsigned bit;
        const char *name;
    } methods[] = { { LG_CONTACT_PHONE, "phone" }, { LG_CONTACT_SMS, "sms" }, { LG_CONTACT_EMAIL, "email" },
                    { LG_CONTACT_FAX, "fax" },     { LG_CONTACT_PAGER, "pager" }, { LG_CONTACT_URL, "url" },
                    { LG_CONTACT_OTHER, "other" } };
    cJSON *arr = NULL;
    for(size_t i = 0; c && i < c->n_caregivers; i++) {
        const lg_caregiver *g = &c->caregivers[i];
        if(!g->may_contact)
            continue;
        if(!arr && !(arr = cJSON_AddArrayToObject(obj, "caregivers")))
            return -1;
        cJSON *o = cJSON_CreateObject();
        if(!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return -1;
        }
        const char *rel = g->relationship.display ? g->relationship.display : g->relationship.code;
        if((g->name && !cJSON_AddStringToObject(o, "name", g->name)) ||
           (rel && !cJSON_AddStringToObject(o, "relationship", rel)) || !cJSON_AddBoolToObject(o, "primary", g->primary))
            return -1;
        cJSON *m = cJSON_AddArrayToObject(o, "methods");
        if(!m)
            return -1;
        for(size_t k = 0; k < sizeof methods / sizeof methods[0]; k++) {
            cJSON *s = (g->methods & methods[k].bit) ? cJSON_CreateString(methods[k].name) : NULL;
            if((g->methods & methods[k].bit) && (!s || !cJSON_AddItemToArray(m, s))) {
                cJSON_Delete(s);
                return -1;
            }
        }
    }
    return 0;
}

char *lg_fwd_status_error(const lg_fwd_resp *resp, const char *what)
{
    char *text = NULL, *out = NULL;
    if(resp->status == 0) {
        text = lg_fwd_excerpt(resp->error ? resp->error : "no error text",
                              resp->error ? strlen(resp->error) : 13, LG_FWD_MAX_ERROR_TEXT);
        if(asprintf(&out, "%s: no response (%s)", what, text ? text : "") < 0)
            out = NULL;
    } else {
        text = lg_fwd_error_text(resp->body, resp->body_len);
        if(asprintf(&out, "%s: HTTP %d%s%s", what, resp->status, text ? ": " : "", text ? text : "") < 0)
            out = NULL;
    }
    free(text);
    return out;
}

char *lg_fwd_reply_id(const cJSON *j, const char *key, size_t max)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, key);
    if(!cJSON_IsString(id))
        return NULL;
    size_t n = strlen(id->valuestring);
    if(n == 0 || n > max)
        return NULL;
    for(size_t i = 0; i < n; i++)
        if((unsigned char)id->valuestring[i] <= 0x20 || id->valuestring[i] == 0x7f)
            return NULL;
    return strdup(id->valuestring);
}

lg_status lg_fwd_member(const cJSON *obj, const char *key, const char *loc, int required, size_t max, char **out,
                        lg_issues *issues)
{
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if(!v || cJSON_IsNull(v)) {
        if(!required)
            return LG_OK;
        lg_issues_add(issues, LG_SEV_ERROR, "required", loc, "%s is required", loc);
        return LG_EINVAL;
    }
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    if(!cJSON_IsString(v) || n == 0 || n > max) {
        lg_issues_add(issues, LG_SEV_ERROR, "value", loc, "%s must be a string of 1 to %zu bytes", loc, max);
        return LG_EINVAL;
    }
    *out = strdup(v->valuestring);
    return *out ? LG_OK : LG_ENOMEM;
}


void lg_fwd_wipe_free(char *s)
{
    if(s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}
