/* jget.h - cJSON_GetObjectItemCaseSensitive for the validator's hot
 * paths, inline.
 *
 * The profile walk asks every object value for its resourceType (and
 * references for reference/type, Bundles for fullUrl...): through the
 * library that is a call plus a strcmp call per member, most of which
 * differ at the first byte. Same contract as the library's: NULL for a
 * NULL object or name, the first member of that exact name, and the scan
 * stops at a child without a name (an array's items).
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

#endif
