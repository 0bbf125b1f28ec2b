/* patch.c - JSON Patch (RFC 6902) with JSON Pointer (RFC 6901) paths.
 *
 * Operations apply to a deep copy, so a failing operation leaves the stored
 * resource untouched (all or nothing). Whether a patch may change
 * resourceType or id is the REST layer's decision, not this module's.
 */
#include "loopgate/patch.h"
#include "loopgate/json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTER 4096

/* Decode the next reference token of ptr (after a '/') into tok. */
static const char *next_token(const char *p, char *tok, size_t n, int *bad)
{
    size_t k = 0;
    *bad = 0;
    while(*p && *p != '/') {
        char ch = *p++;
        if(ch == '~') {
            if(*p == '0') ch = '~';
            else if(*p == '1') ch = '/';
            else { *bad = 1; return p; }
            p++;
        }
        if(k + 1 >= n) { *bad = 1; return p; }
        tok[k++] = ch;
    }
    tok[k] = '\0';
    return p;
}

/* Array index: digits without leading zeros; "-" = append (only if allow_end). */
static int array_index(const char *tok, int size, int allow_end)
{
    if(strcmp(tok, "-") == 0)
        return allow_end ? size : -1;
    if(!*tok || (tok[0] == '0' && tok[1]) || strlen(tok) > 9)
        return -1;
    for(const char *q = tok; *q; q++)
        if(!isdigit((unsigned char)*q))
            return -1;
    int i = (int)strtol(tok, NULL, 10); /* at most 9 digits: no overflow */
    return i <= (allow_end ? size : size - 1) ? i : -1;
}

/* Resolve ptr to its parent container and last token. Returns 0 or -1. */
static int resolve_parent(cJSON *doc, const char *ptr, cJSON **parent, char *last, size_t n)
{
    char tok[MAX_POINTER];
    int bad;
    if(ptr[0] != '/')
        return -1;
    cJSON *cur = doc;
    const char *p = ptr;
    for(;;) {
        p = next_token(p + 1, tok, sizeof(tok), &bad);
        if(bad)
            return -1;
        if(!*p) {
            *parent = cur;
            snprintf(last, n, "%s", tok);
            return 0;
        }
        if(cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        } else if(cJSON_IsArray(cur)) {
            int i = array_index(tok, cJSON_GetArraySize(cur), 0);
            cur = i < 0 ? NULL : cJSON_GetArrayItem(cur, i);
        } else {
            return -1;
        }
        if(!cur)
            return -1;
    }
}

static cJSON *get_ptr(cJSON *doc, const char *ptr)
{
    if(!*ptr)
        return doc;
    cJSON *parent;
    char last[MAX_POINTER];
    if(resolve_parent(doc, ptr, &parent, last, sizeof(last)))
        return NULL;
    if(cJSON_IsObject(parent))
        return cJSON_GetObjectItemCaseSensitive(parent, last);
    if(cJSON_IsArray(parent)) {
        int i = array_index(last, cJSON_GetArraySize(parent), 0);
        return i < 0 ? NULL : cJSON_GetArrayItem(parent, i);
    }
    return NULL;
}

/* Take the value at ptr out of doc (caller owns it). */
static cJSON *detach_ptr(cJSON *doc, const char *ptr)
{
    cJSON *parent;
    char last[MAX_POINTER];
    if(!*ptr || resolve_parent(doc, ptr, &parent, last, sizeof(last)))
        return NULL;
    if(cJSON_IsObject(parent))
        return cJSON_DetachItemFromObjectCaseSensitive(parent, last);
    if(cJSON_IsArray(parent)) {
        int i = array_index(last, cJSON_GetArraySize(parent), 0);
        return i < 0 ? NULL : cJSON_DetachItemFromArray(parent, i);
    }
    return NULL;
}

/* Add val (owned; consumed on success) at ptr. replace: the target must exist. */
static int put_ptr(cJSON **doc, const char *ptr, cJSON *val, int replace)
{
    if(!*ptr) {
        cJSON_Delete(*doc);
        *doc = val;
        return 0;
    }
    cJSON *parent;
    char last[MAX_POINTER];
    if(resolve_parent(*doc, ptr, &parent, last, sizeof(last)))
        return -1;
    if(cJSON_IsObject(parent)) {
        if(cJSON_GetObjectItemCaseSensitive(parent, last)) {
            return cJSON_ReplaceItemInObjectCaseSensitive(parent, last, val) ? 0 : -1;
        }
        if(replace)
            return -1;
        return cJSON_AddItemToObject(parent, last, val) ? 0 : -1;
    }
    if(cJSON_IsArray(parent)) {
        int size = cJSON_GetArraySize(parent);
        int i = array_index(last, size, !replace);
        if(i < 0)
            return -1;
        if(replace)
            return cJSON_ReplaceItemInArray(parent, i, val) ? 0 : -1;
        if(i == size)
            return cJSON_AddItemToArray(parent, val) ? 0 : -1;
        return lg_json_insert(parent, i, val);
    }
    return -1;
}

static const char *str_member(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

lg_status lg_json_patch(const cJSON *doc, const cJSON *patch, cJSON **out, lg_issues *issues)
{
    *out = NULL;
    if(!cJSON_IsArray(patch)) {
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", "Patch",
                      "A JSON Patch document must be an array of operations");
        return LG_EINVAL;
    }
    cJSON *work = cJSON_Duplicate(doc, 1);
    if(!work)
        return LG_ENOMEM;
    int i = 0;
    lg_status st = LG_OK;
    char loc[32];
    for(const cJSON *op = patch->child; op; op = op->next, i++) {
        snprintf(loc, sizeof(loc), "Patch[%d]", i);
        const char *name = str_member(op, "op"), *path = str_member(op, "path");
        const char *from = str_member(op, "from");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
        if(!cJSON_IsObject(op) || !name || !path) {
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                          "Operation %d needs string members 'op' and 'path'", i);
            st = LG_EINVAL;
            break;
        }
        if(strlen(path) >= MAX_POINTER || (from && strlen(from) >= MAX_POINTER) ||
           (*path && *path != '/')) {
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                          "op '%s': '%s' is not a JSON Pointer", name, path);
            st = LG_EINVAL;
            break;
        }
        if(strcmp(name, "add") == 0 || strcmp(name, "replace") == 0) {
            int rep = name[0] == 'r';
            cJSON *v = value ? cJSON_Duplicate(value, 1) : NULL;
            if(!value) {
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc, "op '%s' at %s needs a value",
                              name, path);
                st = LG_EINVAL;
                break;
            }
            if(!v) {
                st = LG_ENOMEM;
                break;
            }
            if(rep && *path && !get_ptr(work, path)) {
                cJSON_Delete(v);
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                              "op 'replace' at %s: path does not exist", path);
                st = LG_EINVAL;
                break;
            }
            if(put_ptr(&work, path, v, rep)) {
                cJSON_Delete(v);
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                              "op '%s' at %s: the parent does not exist or the index is out of "
                              "range", name, path);
                st = LG_EINVAL;
                break;
            }
        } else if(strcmp(name, "remove") == 0) {
            cJSON *gone = *path ? detach_ptr(work, path) : NULL;
            if(!gone) {
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                              "op 'remove' at %s: path does not exist", path);
                st = LG_EINVAL;
                break;
            }
            cJSON_Delete(gone);
        } else if(strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
            int move = name[0] == 'm';
            if(!from) {
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc, "op '%s' needs 'from'", name);
                st = LG_EINVAL;
                break;
            }
            size_t fl = strlen(from);
            if(move && strncmp(path, from, fl) == 0 && path[fl] == '/') {
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                              "op 'move' cannot move %s into its own child %s", from, path);
                st = LG_EINVAL;
                break;
            }
            cJSON *src = get_ptr(work, from);
            cJSON *v = !src ? NULL : move ? detach_ptr(work, from) : cJSON_Duplicate(src, 1);
            if(!v) {
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                              "op '%s': from %s does not exist", name, from);
                st = LG_EINVAL;
                break;
            }
            if(put_ptr(&work, path, v, 0)) {
                cJSON_Delete(v);
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc,
                              "op '%s' to %s: the target's parent does not exist", name, path);
                st = LG_EINVAL;
                break;
            }
        } else if(strcmp(name, "test") == 0) {
            const cJSON *cur = get_ptr(work, path);
            if(!value) {
                lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc, "op 'test' needs a value");
                st = LG_EINVAL;
                break;
            }
            /* cJSON_Compare ignores object member order and compares numbers by value. */
            if(!cur || !cJSON_Compare(cur, value, 1)) {
                lg_issues_add(issues, LG_SEV_ERROR, "processing", loc,
                              "op 'test' at %s failed: the value differs", path);
                st = LG_EUNPROCESSABLE;
                break;
            }
        } else {
            lg_issues_add(issues, LG_SEV_ERROR, "invalid", loc, "Unknown patch op '%s'", name);
            st = LG_EINVAL;
            break;
        }
    }
    if(st) {
        cJSON_Delete(work);
        return st;
    }
    *out = work;
    return LG_OK;
}
