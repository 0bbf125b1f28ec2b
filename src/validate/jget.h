/* jget.h - cJSON_GetObjectItemCaseSensitive for the validator's hot
 * paths, inline.
 *
 * The profile walk asks every object value for its resourceType (and
 * references for reference/type, Bundles for fullUrl...): through the
 * library that is a call plus a strcmp call per member, most of which
 * differ at the first byte. Same contract as the library's: NULL for a
 * NULL object or name, the first member of that exact name, and the scan
 * stops at a child without a name (an array's items). The cJSON_Is*
 * tests below are the library's too, inline.
 */
#ifndef LG_VALIDATE_JGET_H
#define LG_VALIDATE_JGET_H

#include <cjson/cJSON.h>

static inline const cJSON *lg_vget(const cJSON *obj, const char *name)
{
    if(!obj || !name)
        return NULL;
    for(const cJSON *c = obj->child; c && c->string; c = c->next) {
        const char *k = c->string;
        size_t i = 0;
        while(name[i] && k[i] == name[i])
            i++;
        if(!name[i] && !k[i])
            return c;
    }
    return NULL;
}

/* cJSON's type tests, inline (the library's are calls, made for every
 * value walked); same answers, NULL included. */
static inline int lg_vis_object(const cJSON *v)
{
    return v && (v->type & 0xFF) == cJSON_Object;
}

static inline int lg_vis_array(const cJSON *v)
{
    return v && (v->type & 0xFF) == cJSON_Array;
}

static inline int lg_vis_string(const cJSON *v)
{
    return v && (v->type & 0xFF) == cJSON_String;
}

static inline int lg_vis_null(const cJSON *v)
{
    return v && (v->type & 0xFF) == cJSON_NULL;
}

static inline int lg_vis_number(const cJSON *v)
{
    return v && (v->type & 0xFF) == cJSON_Number;
}

static inline int lg_vis_bool(const cJSON *v)
{
    return v && (v->type & (cJSON_True | cJSON_False)) != 0;
}

#endif
