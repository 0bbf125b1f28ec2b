/* pset.h - internal to the defs layer: the set of compiled profiles
 * (profile.c) that lg_defs_load and lg_defs_load_package fill. */
#ifndef LOOPGATE_DEFS_PSET_H
#define LOOPGATE_DEFS_PSET_H

#include <cjson/cJSON.h>

#include "loopgate/defs.h"
#include "loopgate/profile.h"

struct lg_profile_set {
    lg_profile **items;          /* owned, in load order */
    size_t n, cap;
    const lg_profile **slots;    /* open-addressing index by url */
    size_t nslots;
    lg_pconstraint **cons;       /* interned constraints (owned), open addressing */
    size_t ncons, capcons;
};

/* Create the set on first use. */
lg_status lg_pset_init(lg_defs *d);
/* Compile one StructureDefinition (borrowed) from its snapshot and add it.
 * pkg names the package ("name#version"). Without a snapshot: a warning
 * naming it, LG_OK, nothing added. A url already loaded keeps the first and
 * warns. */
lg_status lg_pset_add(lg_defs *d, const cJSON *sd, const char *pkg, lg_issues *issues);
/* Link every type profile, target profile and type code to the loaded
 * profiles. Idempotent. */
void lg_pset_link(lg_defs *d);
void lg_pset_free(lg_defs *d);

/* Serve an IG's SearchParameter (borrowed): it joins every served type its
 * base names that has no parameter of that code yet (defs.c). One that
 * does not apply, or cannot be compiled, is skipped with a warning. */
lg_status lg_defs_add_search_param(lg_defs *d, const cJSON *sp, lg_issues *issues);

/* Strip "|version" while hashing and comparing. */
size_t lg_canon_len(const char *url);

#endif
