/* shortcut.c - the common cases of the hottest R4 invariants decided
 * natively. ref-1 runs on every Reference, dom-2..dom-6 on every resource,
 * bdl-5 and bdl-8 on every Bundle entry, cpt-2, qty-3 and per-1 on every
 * ContactPoint, Quantity and Period, and almost always the answer follows
 * from whether one member is there: evaluating the FHIRPath for that cost more
 * than the rest of the profile walk. Only a conclusive "passes" is taken
 * from here; anything else (including any "_name" primitive extension,
 * whose FHIRPath meaning is subtler) goes to the FHIRPath engine.
 */
#include <stdlib.h>
#include <string.h>

#include "validate/jget.h"
#include "validate/shortcut.h"

/* The member name of obj, or NULL. *unsure is set when obj has any
 * "_name" member, or a member that FHIRPath without types would also take
 * for name ("referenceRange" reads as reference[x] of type Range): then
 * the caller defers to FHIRPath. */
static const cJSON *member(const cJSON *obj, const char *name, int *unsure)
{
    const cJSON *found = NULL;
    size_t len = strlen(name);
    *unsure = 0;
    for(const cJSON *c = obj->child; c; c = c->next) {
        const char *k = c->string;
        if(!k)
            continue;
        if(k[0] == '_') {
            *unsure = 1;
            continue;
        }
        /* inline: a strncmp call per member was a third of the shortcuts */
        size_t i = 0;
        while(i < len && k[i] == name[i])
            i++;
        if(i == len) {
            if(!k[len] && !found)
                found = c;
            else if(k[len] >= 'A' && k[len] <= 'Z')
                *unsure = 1;
        }
    }
    return found;
}

/* What name.exists() gives on obj: 1 true, 0 false, -1 not sure (see
 * member). A null or an empty array is no value. */
static int presence(const cJSON *obj, const char *name)
{
    int unsure;
    const cJSON *m = member(obj, name, &unsure);
    if(unsure)
        return -1;
    return m && !lg_vis_null(m) && !(lg_vis_array(m) && !m->child);
}

/* The Bundle's type when focus is a Bundle whose type is one plain string
 * (then %resource, the Bundle the invariant sits on, is focus), else NULL. */
static const char *bundle_type(const cJSON *focus)
{
    int us;
    const cJSON *rt = member(focus, "resourceType", &us);
    if(us || !lg_vis_string(rt) || strcmp(rt->valuestring, "Bundle") != 0)
        return NULL;
    const cJSON *t = member(focus, "type", &us);
    return !us && lg_vis_string(t) ? t->valuestring : NULL;
}

/* bdl-3, bdl-4: entry.all(name.exists() = (the type is one of types)).
 * 1 when every entry is an object whose name is there exactly as asked. */
static int entries_match(const cJSON *focus, const char *name, const char *const *types)
{
    const char *type = bundle_type(focus);
    if(!type)
        return 0;
    int want = 0;
    for(; *types; types++)
        want |= strcmp(type, *types) == 0;
    int us;
    const cJSON *entries = member(focus, "entry", &us);
    if(us)
        return 0;
    if(!entries || lg_vis_null(entries))
        return 1; /* all() of nothing is true */
    if(!lg_vis_array(entries))
        return 0;
    for(const cJSON *e = entries->child; e; e = e->next)
        if(!lg_vis_object(e) || presence(e, name) != want)
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* bdl-7 on a Bundle that is no history: 1 when every entry is an object
 * whose fullUrl (when there) is a plain string and whose
 * resource.meta.versionId is absent or a plain string, and the strings
 * fullUrl & versionId are all different. */
static int fullurls_distinct(const cJSON *focus)
{
    int us, ok = 1;
    const cJSON *entries = member(focus, "entry", &us);
    if(us || !lg_vis_array(entries))
        return 0;
    size_t n = (size_t)cJSON_GetArraySize(entries), k = 0;
    if(n > 100000)
        return 0;
    char **keys = calloc(n ? n : 1, sizeof(*keys));
    if(!keys)
        return 0;
    for(const cJSON *e = entries->child; e && ok; e = e->next) {
        const cJSON *fu, *res, *meta = NULL, *vid = NULL;
        if(!lg_vis_object(e) || (fu = member(e, "fullUrl", &us), us) ||
           (res = member(e, "resource", &us), us)) {
            ok = 0;
            break;
        }
        if(!fu)
            continue; /* where(fullUrl.exists()) leaves it out */
        if(!lg_vis_string(fu)) {
            ok = 0;
            break;
        }
        if(res && (!lg_vis_object(res) || (meta = member(res, "meta", &us), us) ||
                   (meta && (!lg_vis_object(meta) || (vid = member(meta, "versionId", &us), us) ||
                             (vid && !lg_vis_string(vid)))))) {
            ok = 0;
            break;
        }
        size_t a = strlen(fu->valuestring), b = vid ? strlen(vid->valuestring) : 0;
        if(!(keys[k] = malloc(a + b + 1))) {
            ok = 0;
            break;
        }
        memcpy(keys[k], fu->valuestring, a);
        memcpy(keys[k] + a, vid ? vid->valuestring : "", b + 1);
        k++;
    }
    if(ok && k > 1) {
        qsort(keys, k, sizeof(*keys), cmp_str);
        for(size_t i = 1; i < k && ok; i++)
            ok = strcmp(keys[i - 1], keys[i]) != 0;
    }
    for(size_t i = 0; i < k; i++)
        free(keys[i]);
    free(keys);
    return ok;
}

/* Type suffixes that FHIRPath without types reads as value[x] (a subset of
 * the engine's list, fhirpath/eval.c is_data_type: a key with another
 * suffix, such as valueSet, leaves the answer to FHIRPath). */
static int value_suffix(const char *t)
{
    static const char *const types[] = {
        "String", "Code", "Boolean", "Integer", "Decimal", "Uri", "Url", "Canonical",
        "DateTime", "Date", "Instant", "Time", "Id", "Markdown", "PositiveInt", "UnsignedInt",
        "Oid", "Uuid", "Base64Binary", "Address", "Age", "Annotation", "Attachment",
        "CodeableConcept", "Coding", "ContactDetail", "ContactPoint", "Contributor", "Count",
        "DataRequirement", "Distance", "Dosage", "Duration", "Expression", "HumanName",
        "Identifier", "Meta", "Money", "ParameterDefinition", "Period", "Quantity", "Range",
        "Ratio", "Reference", "RelatedArtifact", "SampledData", "Signature", "Timing",
        "TriggerDefinition", "UsageContext",
    };
    for(size_t i = 0; i < sizeof(types) / sizeof(*types); i++)
        if(strcmp(t, types[i]) == 0)
            return 1;
    return 0;
}

/* ext-1: extension.exists() != value.exists(), where value is value[x]
 * ("valueString", ...). 1 when exactly one of them is there. */
static int ext_or_value(const cJSON *focus)
{
    int ext = 0, value = 0;
    for(const cJSON *c = focus->child; c; c = c->next) {
        const char *k = c->string;
        if(!k || k[0] == '_')
            return 0;
        int empty = lg_vis_null(c) || (lg_vis_array(c) && !c->child);
        if(strcmp(k, "extension") == 0) {
            if(empty)
                return 0;
            ext = 1;
        } else if(strncmp(k, "extension", 9) == 0 && k[9] >= 'A' && k[9] <= 'Z') {
            return 0;
        } else if(strncmp(k, "value", 5) == 0 && (!k[5] || (k[5] >= 'A' && k[5] <= 'Z'))) {
            if(empty || (k[5] && !value_suffix(k + 5)))
                return 0;
            value = 1;
        }
    }
    return ext != value;
}

int lg_vshortcut_passes(lg_pshortcut kind, const cJSON *focus)
{
    int us = 0;
    if(kind == LG_PSC_HTML)
        return 1; /* htmlChecks() is true whatever it is given (fhirpath/eval.c) */
    if(!lg_vis_object(focus))
        return 0;
    switch(kind) {
    case LG_PSC_REF1: {
        /* reference.startsWith('#').not() or (... in %rootResource...):
         * no reference: empty or empty; "Type/id": true or ... */
        const cJSON *r = member(focus, "reference", &us);
        if(us)
            return 0;
        return !r || (lg_vis_string(r) && r->valuestring[0] != '#');
    }
    case LG_PSC_DOM2:
    case LG_PSC_DOM4:
    case LG_PSC_DOM5:
        /* contained.<...>.empty(): true without contained */
        return !member(focus, "contained", &us) && !us;
    case LG_PSC_DOM6: {
        /* text.`div`.exists() */
        const cJSON *t = member(focus, "text", &us);
        if(us)
            return 0;
        const cJSON *div = lg_vis_object(t) ? lg_vget(t, "div") : NULL;
        return lg_vis_string(div);
    }
    case LG_PSC_BDL8: {
        /* fullUrl.exists() implies fullUrl.contains('/_history/').not():
         * no fullUrl: empty; one without /_history/: true */
        const cJSON *u = member(focus, "fullUrl", &us);
        if(us)
            return 0;
        return !u || (lg_vis_string(u) && !strstr(u->valuestring, "/_history/"));
    }
    /* "A or B": A true decides; A false or empty (exists() and empty()
     * never fail) leaves B, which decides when true */
    case LG_PSC_BDL5:
        return presence(focus, "resource") == 1;
    case LG_PSC_CMD1:
        return presence(focus, "comment") == 1 || presence(focus, "equivalence") == 0;
    case LG_PSC_CPT2:
        return presence(focus, "value") == 0 || presence(focus, "system") == 1;
    case LG_PSC_QTY3:
        return presence(focus, "code") == 0 || presence(focus, "system") == 1;
    case LG_PSC_OBS6:
        return presence(focus, "dataAbsentReason") == 0 || presence(focus, "value") == 0;
    case LG_PSC_OBS7:
        /* no component: component.code.where(...) is empty, its empty() true */
        return presence(focus, "value") == 0 || presence(focus, "component") == 0;
    case LG_PSC_PER1: {
        /* start.hasValue().not() is true without a start; with one plain
         * start and no end, end.hasValue().not() is */
        if(presence(focus, "start") == 0)
            return 1;
        const cJSON *st = member(focus, "start", &us);
        return !us && lg_vis_string(st) && presence(focus, "end") == 0;
    }
    case LG_PSC_BDL3: {
        static const char *const t[] = {"batch", "transaction", "history", NULL};
        return entries_match(focus, "request", t);
    }
    case LG_PSC_BDL4: {
        static const char *const t[] = {"batch-response", "transaction-response", "history", NULL};
        return entries_match(focus, "response", t);
    }
    case LG_PSC_BDL7: {
        const char *type = bundle_type(focus);
        return type && (strcmp(type, "history") == 0 || fullurls_distinct(focus));
    }
    case LG_PSC_EXT1:
        return ext_or_value(focus);
    case LG_PSC_HTML:
    case LG_PSC_NONE:
        break;
    }
    return 0;
}
