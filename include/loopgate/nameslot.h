/* nameslot.h - one entry of the open-addressing name indexes that the
 * validator probes for every JSON key it meets (lg_type_def.slots for the
 * structure check, lg_pnode.kid_slots for the profile walk).
 *
 * A slot holds the element's index and the first bytes of its name, so a
 * probe is decided inside the slot: the index used to lead to the element,
 * then to its name, then to the name's bytes, three dependent loads that
 * mostly missed the cache. Only a name longer than LG_NAME_HEAD bytes is
 * read further, from the element it names. Built once at load; read-only.
 */
#ifndef LOOPGATE_NAMESLOT_H
#define LOOPGATE_NAMESLOT_H

#include <stddef.h>
#include <stdint.h>

#define LG_NAME_HEAD 20

typedef struct lg_name_slot {
    uint32_t index1;          /* element (or kid) index + 1; 0: the slot is empty */
    uint32_t len;             /* the name's length in bytes */
    uint32_t choice;          /* the element is a choice (name[x]) */
    char head[LG_NAME_HEAD];  /* its first bytes (no NUL when the name is longer) */
} lg_name_slot;

/* Fill s for the element at index i named name (NUL-terminated). */
static inline void lg_name_slot_set(lg_name_slot *s, size_t i, const char *name, int choice)
{
    size_t n = 0;
    while(name[n])
        n++;
    s->index1 = (uint32_t)i + 1;
    s->len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    s->choice = choice != 0;
    for(size_t k = 0; k < LG_NAME_HEAD; k++)
        s->head[k] = k < n ? name[k] : '\0';
}

/* Whether the slot's name is key[0..len) (key need not be NUL-terminated
 * there); *full is the slot's whole name, read only for a name longer
 * than LG_NAME_HEAD (so that the element it is in is not touched). */
static inline int lg_name_slot_is(const lg_name_slot *s, const char *key, size_t len,
                                  const char *const *full)
{
    if(s->len != len)
        return 0;
    size_t k = 0, h = len < LG_NAME_HEAD ? len : LG_NAME_HEAD;
    while(k < h && s->head[k] == key[k])
        k++;
    if(k < h)
        return 0;
    if(k == len)
        return 1;
    const char *f = *full;
    while(k < len && f[k] == key[k])
        k++;
    return k == len;
}

#endif
