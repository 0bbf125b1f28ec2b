/* Unit tests for the SQLite store backend (src/store/): persistence,
 * versions and tombstones, transactions, every lg_query semantic the backend
 * translates to SQL, paging, history, concurrent writers, and write speed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loopgate/store.h"
#include "loopgate/time.h"

/* ---- fixtures ---- */

static char dir[64];
static lg_store *st;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static lg_store *open_at(const char *d)
{
    lg_store *s = NULL;
    lg_issues is = {0};
    lg_status rc = lg_store_open(d, &s, &is);
    cr_assert_eq(rc, LG_OK, "open %s: %s", d, is.count ? is.items[0].diagnostics : "");
    lg_issues_free(&is);
    return s;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/lg_store_test_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    st = open_at(dir);
}

static void teardown(void)
{
    lg_store_close(st);
    st = NULL;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int64_t day(const char *d, int64_t *hi)
{
    int64_t lo = 0, h = 0;
    cr_assert_eq(lg_time_parse_range(d, &lo, &h), LG_OK, "date %s", d);
    if(hi)
        *hi = h;
    return lo;
}

/* Index entries built by hand (the tests need no lg_defs). */
static void ix_add(lg_index *ix, const char *param, lg_sp_type t, const char *s1, const char *s2,
                   const char *s3, int64_t lo, int64_t hi)
{
    if(ix->count == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 8;
        ix->items = realloc(ix->items, ix->cap * sizeof(*ix->items));
        cr_assert_not_null(ix->items);
    }
    ix->items[ix->count++] = (lg_index_entry){
        .param = param, .type = t, .s1 = s1 ? strdup(s1) : NULL, .s2 = s2 ? strdup(s2) : NULL,
        .s3 = s3 ? strdup(s3) : NULL, .lo = lo, .hi = hi};
}

static void ix_clear(lg_index *ix)
{
    for(size_t i = 0; i < ix->count; i++) {
        free(ix->items[i].s1);
        free(ix->items[i].s2);
        free(ix->items[i].s3);
    }
    free(ix->items);
    memset(ix, 0, sizeof(*ix));
}

static int64_t clock_ms = 1700000000000;

/* Write the next version of type/id in its own transaction; json NULL =
 * delete. Returns the seq. Takes the index and clears it. */
static int64_t put_on(lg_store *s, const char *type, const char *id, const char *json,
                      lg_index *ix, int64_t lu)
{
    lg_resource cur = {0};
    int64_t version = 1, seq = 0;
    cr_assert_eq(lg_store_begin(s), LG_OK);
    lg_status rc = lg_store_read(s, type, id, &cur);
    if(rc == LG_OK)
        version = cur.version + 1;
    else
        cr_assert_eq(rc, LG_ENOTFOUND);
    lg_resource_clear(&cur);
    lg_store_write w = {.type = type, .id = id, .version = version,
                        .last_updated = lu ? lu : ++clock_ms, .deleted = json == NULL,
                        .method = json ? (version == 1 ? "POST" : "PUT") : "DELETE",
                        .json = json, .json_len = json ? strlen(json) : 0, .index = ix};
    cr_assert_eq(lg_store_put(s, &w, &seq), LG_OK, "put %s/%s v%lld", type, id,
                 (long long)version);
    cr_assert_eq(lg_store_commit(s), LG_OK);
    if(ix)
        ix_clear(ix);
    return seq;
}

static int64_t put(const char *type, const char *id, const char *json, lg_index *ix)
{
    return put_on(st, type, id, json, ix, 0);
}

/* Queries built by hand; strings are strdup'd and freed by q_clear. */
static lg_query_param *q_param(lg_query *q, const char *code, lg_sp_type t, lg_modifier m)
{
    q->params = realloc(q->params, (q->nparams + 1) * sizeof(*q->params));
    cr_assert_not_null(q->params);
    lg_query_param *p = &q->params[q->nparams++];
    memset(p, 0, sizeof(*p));
    p->code = strdup(code);
    p->type = t;
    p->modifier = m;
    return p;
}

static lg_query_value *q_value(lg_query_param *p, const char *s1, const char *s2, const char *s3)
{
    p->values = realloc(p->values, (p->nvalues + 1) * sizeof(*p->values));
    cr_assert_not_null(p->values);
    lg_query_value *v = &p->values[p->nvalues++];
    memset(v, 0, sizeof(*v));
    v->s1 = s1 ? strdup(s1) : NULL;
    v->s2 = s2 ? strdup(s2) : NULL;
    v->s3 = s3 ? strdup(s3) : NULL;
    return v;
}

static void q_range(lg_query_param *p, lg_prefix pfx, int64_t lo, int64_t hi)
{
    lg_query_value *v = q_value(p, NULL, NULL, NULL);
    v->prefix = pfx;
    v->lo = lo;
    v->hi = hi;
}

static void q_clear(lg_query *q)
{
    for(size_t i = 0; i < q->nparams; i++) {
        lg_query_param *p = &q->params[i];
        for(size_t k = 0; k < p->nvalues; k++) {
            free(p->values[k].s1);
            free(p->values[k].s2);
            free(p->values[k].s3);
        }
        free(p->values);
        free(p->code);
        free(p->type_modifier);
    }
    free(q->params);
    free(q->type);
    memset(q, 0, sizeof(*q));
}

static lg_query q_new(const char *type)
{
    lg_query q = {0};
    q.type = type ? strdup(type) : NULL;
    q.count = 100;
    return q;
}

/* Ids of the results of q in result order, comma separated ("" for none);
 * also checks lg_store_count agrees. Clears q. */
static char *found(lg_query *q)
{
    static char buf[1024];
    lg_resource_list l = {0};
    lg_issues is = {0};
    int64_t total = -1;
    lg_status rc = lg_store_search(st, q, &l, &is);
    cr_assert_eq(rc, LG_OK, "search: %s", is.count ? is.items[0].diagnostics : "");
    cr_assert_eq(lg_store_count(st, q, &total, &is), LG_OK);
    cr_assert_eq(total, (int64_t)l.count, "count %lld vs %zu results", (long long)total, l.count);
    buf[0] = '\0';
    for(size_t i = 0; i < l.count; i++) {
        cr_assert_eq(l.items[i].deleted, 0);
        cr_assert_not_null(l.items[i].json);
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "," : "", l.items[i].id);
    }
    lg_resource_list_clear(&l);
    lg_issues_free(&is);
    q_clear(q);
    return buf;
}

#define EXPECT(q, want)                                                                    \
    do {                                                                                   \
        const char *got_ = found(&(q));                                                    \
        cr_expect_str_eq(got_, want);                                                      \
    } while(0)

/* ---- opening, persistence, versions ---- */

TestSuite(store, .init = setup, .fini = teardown);

Test(store, reopen_keeps_everything)
{
    lg_index ix = {0};
    ix_add(&ix, "code", LG_SP_TOKEN, "http://s", "c1", NULL, 0, 0);
    int64_t s1 = put("Patient", "a", "{\"resourceType\":\"Patient\",\"id\":\"a\"}", &ix);
    int64_t s2 = put("Patient", "a", "{\"resourceType\":\"Patient\",\"id\":\"a\",\"v\":2}", NULL);
    cr_assert_gt(s2, s1);
    lg_store_close(st);
    st = open_at(dir);
    lg_resource r = {0};
    cr_assert_eq(lg_store_read(st, "Patient", "a", &r), LG_OK);
    cr_expect_eq(r.version, 2);
    cr_expect_eq(r.seq, s2);
    cr_expect_str_eq(r.json, "{\"resourceType\":\"Patient\",\"id\":\"a\",\"v\":2}");
    cr_expect_eq(r.json_len, strlen(r.json));
    cr_expect_str_eq(r.method, "PUT");
    lg_resource_clear(&r);
    int64_t m = 0;
    cr_assert_eq(lg_store_max_seq(st, &m), LG_OK);
    cr_expect_eq(m, s2);
    /* seq keeps increasing across reopen */
    cr_expect_gt(put("Patient", "b", "{}", NULL), s2);
    struct stat sb;
    char db[128];
    snprintf(db, sizeof(db), "%s/loopgate.db", dir);
    cr_expect_eq(stat(db, &sb), 0);
    snprintf(db, sizeof(db), "%s/loopgate.db-wal", dir); /* WAL mode */
    cr_expect_eq(stat(db, &sb), 0);
}

Test(store, open_creates_nested_private_dir_and_rejects_bad_locations)
{
    char nested[128];
    snprintf(nested, sizeof(nested), "%s/x/y", dir);
    lg_store *s2 = open_at(nested);
    struct stat sb;
    cr_assert_eq(stat(nested, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0700);
    int64_t m = -1;
    cr_expect_eq(lg_store_max_seq(s2, &m), LG_OK);
    cr_expect_eq(m, 0);
    lg_store_close(s2);

    lg_store *bad = (lg_store *)1;
    lg_issues is = {0};
    char file[128];
    snprintf(file, sizeof(file), "%s/x/y/loopgate.db", dir); /* a file, not a directory */
    cr_expect_eq(lg_store_open(file, &bad, &is), LG_EIO);
    cr_expect_null(bad);
    cr_expect_gt(is.count, 0);
    lg_issues_free(&is);
    cr_expect_eq(lg_store_open("postgres://db/x", &bad, &is), LG_EUNSUPPORTED);
    cr_expect_eq(lg_store_open("", &bad, &is), LG_EINVAL);
    lg_issues_free(&is);
    lg_store_close(NULL);
}

Test(store, read_vread_and_not_found)
{
    put("Observation", "o1", "{\"v\":1}", NULL);
    put("Observation", "o1", "{\"v\":2}", NULL);
    lg_resource r = {0};
    cr_assert_eq(lg_store_vread(st, "Observation", "o1", 1, &r), LG_OK);
    cr_expect_str_eq(r.json, "{\"v\":1}");
    cr_expect_str_eq(r.method, "POST");
    cr_expect_str_eq(r.type, "Observation");
    cr_expect_str_eq(r.id, "o1");
    int64_t seq1 = r.seq;
    lg_resource_clear(&r);
    cr_assert_eq(lg_store_vread(st, "Observation", "o1", 2, &r), LG_OK);
    cr_expect_str_eq(r.json, "{\"v\":2}");
    cr_expect_gt(r.seq, seq1);
    lg_resource_clear(&r);
    cr_expect_eq(lg_store_vread(st, "Observation", "o1", 3, &r), LG_ENOTFOUND);
    cr_expect_eq(lg_store_vread(st, "Observation", "o1", 0, &r), LG_ENOTFOUND);
    cr_expect_eq(lg_store_read(st, "Observation", "nope", &r), LG_ENOTFOUND);
    cr_expect_eq(lg_store_read(st, "Patient", "o1", &r), LG_ENOTFOUND); /* type matters */
    cr_expect_null(r.json);
}

Test(store, version_conflicts)
{
    put("Patient", "p", "{}", NULL);
    int64_t seq = 0, before = 0;
    cr_assert_eq(lg_store_max_seq(st, &before), LG_OK);
    lg_store_write w = {.type = "Patient", .id = "p", .version = 1, .last_updated = 1,
                        .method = "PUT", .json = "{}", .json_len = 2};
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_expect_eq(lg_store_put(st, &w, &seq), LG_ECONFLICT); /* same version again */
    w.version = 3;
    cr_expect_eq(lg_store_put(st, &w, &seq), LG_ECONFLICT); /* skips one */
    w.id = "new";
    w.version = 2;
    cr_expect_eq(lg_store_put(st, &w, &seq), LG_ECONFLICT); /* new must be 1 */
    w.version = 1;
    w.json = NULL;
    cr_expect_eq(lg_store_put(st, &w, &seq), LG_EINVAL); /* not deleted but no json */
    lg_store_rollback(st);
    /* outside a transaction */
    w.json = "{}";
    cr_expect_eq(lg_store_put(st, &w, &seq), LG_EINTERNAL);
    cr_expect_eq(lg_store_commit(st), LG_EINTERNAL);
    int64_t after = 0;
    cr_assert_eq(lg_store_max_seq(st, &after), LG_OK);
    cr_expect_eq(after, before);
}

Test(store, tombstones)
{
    lg_index ix = {0};
    ix_add(&ix, "code", LG_SP_TOKEN, "", "x", NULL, 0, 0);
    put("Patient", "d", "{\"v\":1}", &ix);
    int64_t dseq = put("Patient", "d", NULL, NULL);
    lg_resource r = {0};
    cr_assert_eq(lg_store_read(st, "Patient", "d", &r), LG_OK);
    cr_expect_eq(r.deleted, 1);
    cr_expect_eq(r.version, 2);
    cr_expect_eq(r.seq, dseq);
    cr_expect_null(r.json);
    cr_expect_str_eq(r.method, "DELETE");
    lg_resource_clear(&r);
    cr_assert_eq(lg_store_vread(st, "Patient", "d", 1, &r), LG_OK);
    cr_expect_str_eq(r.json, "{\"v\":1}");
    lg_resource_clear(&r);
    cr_assert_eq(lg_store_vread(st, "Patient", "d", 2, &r), LG_OK);
    cr_expect_eq(r.deleted, 1);
    lg_resource_clear(&r);
    /* gone from search, index rows included */
    lg_query q = q_new("Patient");
    EXPECT(q, "");
    q = q_new("Patient");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, "x", NULL);
    EXPECT(q, "");
    /* re-created: version 3, no index until given one */
    put("Patient", "d", "{\"v\":3}", NULL);
    cr_assert_eq(lg_store_read(st, "Patient", "d", &r), LG_OK);
    cr_expect_eq(r.version, 3);
    cr_expect_eq(r.deleted, 0);
    lg_resource_clear(&r);
    q = q_new("Patient");
    EXPECT(q, "d");
    q = q_new("Patient");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, "x", NULL);
    EXPECT(q, "");
}

Test(store, rollback_leaves_nothing)
{
    lg_index ix = {0};
    ix_add(&ix, "code", LG_SP_TOKEN, "", "x", NULL, 0, 0);
    put("Patient", "keep", "{\"v\":1}", NULL);
    int64_t before = 0, after = 0, seq = 0;
    lg_store_max_seq(st, &before);
    cr_assert_eq(lg_store_begin(st), LG_OK);
    lg_store_write w = {.type = "Patient", .id = "gone", .version = 1, .last_updated = 5,
                        .method = "POST", .json = "{}", .json_len = 2, .index = &ix};
    cr_assert_eq(lg_store_put(st, &w, &seq), LG_OK);
    w = (lg_store_write){.type = "Patient", .id = "keep", .version = 2, .last_updated = 5,
                         .method = "PUT", .json = "{\"v\":2}", .json_len = 7, .index = &ix};
    cr_assert_eq(lg_store_put(st, &w, &seq), LG_OK);
    /* the transaction sees its own writes */
    lg_resource r = {0};
    cr_assert_eq(lg_store_read(st, "Patient", "gone", &r), LG_OK);
    lg_resource_clear(&r);
    lg_store_rollback(st);
    lg_store_rollback(st); /* harmless when no transaction is open */
    cr_expect_eq(lg_store_read(st, "Patient", "gone", &r), LG_ENOTFOUND);
    cr_assert_eq(lg_store_read(st, "Patient", "keep", &r), LG_OK);
    cr_expect_eq(r.version, 1);
    cr_expect_str_eq(r.json, "{\"v\":1}");
    lg_resource_clear(&r);
    lg_store_max_seq(st, &after);
    cr_expect_eq(after, before);
    lg_query q = q_new("Patient");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, "x", NULL);
    EXPECT(q, "");
    /* the writer lock was released: another handle can write */
    lg_store *other = open_at(dir);
    put_on(other, "Patient", "later", "{}", NULL, 0);
    lg_store_close(other);
    ix_clear(&ix);
    /* begin twice on one handle is a bug, reported */
    cr_assert_eq(lg_store_begin(st), LG_OK);
    cr_expect_eq(lg_store_begin(st), LG_EINTERNAL);
    lg_store_rollback(st);
}

/* ---- search semantics ---- */

Test(store, token)
{
    lg_index ix = {0};
    ix_add(&ix, "code", LG_SP_TOKEN, "http://loinc.org", "1234-5", "Body Weight", 0, 0);
    put("Observation", "t1", "{}", &ix);
    ix_add(&ix, "code", LG_SP_TOKEN, "http://snomed.info/sct", "1234-5", "Other", 0, 0);
    put("Observation", "t2", "{}", &ix);
    ix_add(&ix, "code", LG_SP_TOKEN, "", "1234-5", NULL, 0, 0);
    put("Observation", "t3", "{}", &ix);
    ix_add(&ix, "code", LG_SP_TOKEN, "http://loinc.org", "999", "Heart rate", 0, 0);
    ix_add(&ix, "code", LG_SP_TOKEN, NULL, NULL, "Pulse résumé", 0, 0); /* CodeableConcept.text */
    put("Observation", "t4", "{}", &ix);
    ix_add(&ix, "status", LG_SP_TOKEN, "", "final", NULL, 0, 0);
    put("Observation", "t5", "{}", &ix);
    put("Patient", "t6", "{}", NULL);

    lg_query q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, "1234-5", NULL);
    EXPECT(q, "t1,t2,t3");
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), "http://loinc.org", "1234-5", NULL);
    EXPECT(q, "t1");
    q = q_new("Observation"); /* |code: no system */
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), "", "1234-5", NULL);
    EXPECT(q, "t3");
    q = q_new("Observation"); /* system|: any code */
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), "http://loinc.org", NULL, NULL);
    EXPECT(q, "t1,t4");
    q = q_new("Observation"); /* codes are case-sensitive */
    q_value(q_param(&q, "status", LG_SP_TOKEN, LG_MOD_NONE), NULL, "FINAL", NULL);
    EXPECT(q, "");
    q = q_new("Observation"); /* ORed */
    lg_query_param *p = q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE);
    q_value(p, NULL, "999", NULL);
    q_value(p, "", "1234-5", NULL);
    EXPECT(q, "t3,t4");
    /* :not keeps resources without the parameter */
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NOT), NULL, "1234-5", NULL);
    EXPECT(q, "t4,t5");
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NOT), "http://loinc.org", "1234-5", NULL);
    EXPECT(q, "t2,t3,t4,t5");
    q = q_new("Observation"); /* :not with ORed values: none of them */
    p = q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NOT);
    q_value(p, NULL, "999", NULL);
    q_value(p, "http://snomed.info/sct", NULL, NULL);
    EXPECT(q, "t1,t3,t5");
    /* :text: case- and accent-insensitive substring of display/text */
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_TEXT), NULL, NULL, "WEIGHT");
    EXPECT(q, "t1");
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_TEXT), NULL, NULL, "resume");
    EXPECT(q, "t4");
    q = q_new("Observation"); /* LIKE wildcards in the value are literal */
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_TEXT), NULL, NULL, "b%t");
    EXPECT(q, "");
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_TEXT), NULL, NULL, "e_");
    EXPECT(q, "");
    /* :missing */
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 1;
    EXPECT(q, "t5");
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 0;
    EXPECT(q, "t1,t2,t3,t4");
    /* ANDed parameters */
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NOT), NULL, "999", NULL);
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 0;
    EXPECT(q, "t1,t2,t3");
    /* type matters: other types never match */
    q = q_new("Patient");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, "1234-5", NULL);
    EXPECT(q, "");
    q = q_new(NULL); /* system search */
    EXPECT(q, "t1,t2,t3,t4,t5,t6");
}

Test(store, reference)
{
    lg_index ix = {0};
    ix_add(&ix, "subject", LG_SP_REFERENCE, "Patient", "p1", NULL, 0, 0);
    put("Observation", "r1", "{}", &ix);
    ix_add(&ix, "subject", LG_SP_REFERENCE, "Group", "p1", NULL, 0, 0);
    put("Observation", "r2", "{}", &ix);
    ix_add(&ix, "subject", LG_SP_REFERENCE, "Patient", "p9", "http://ext/fhir/Patient/p9", 0, 0);
    put("Observation", "r3", "{}", &ix);
    ix_add(&ix, "subject", LG_SP_REFERENCE, NULL, NULL, "urn:uuid:1234", 0, 0);
    put("Observation", "r4", "{}", &ix);
    put("Observation", "r5", "{}", NULL);

    lg_query q = q_new("Observation");
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_NONE), "Patient", "p1", NULL);
    EXPECT(q, "r1");
    q = q_new("Observation"); /* bare id: any type */
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_NONE), NULL, "p1", NULL);
    EXPECT(q, "r1,r2");
    q = q_new("Observation"); /* subject:Group=p1 */
    lg_query_param *p = q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_TYPE);
    p->type_modifier = strdup("Group");
    q_value(p, NULL, "p1", NULL);
    EXPECT(q, "r2");
    q = q_new("Observation"); /* a relative value also finds absolute refs ending in it */
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_NONE), "Patient", "p9", NULL);
    EXPECT(q, "r3");
    q = q_new("Observation");
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_NONE), NULL, NULL,
            "http://ext/fhir/Patient/p9");
    EXPECT(q, "r3");
    q = q_new("Observation");
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_NONE), NULL, NULL, "urn:uuid:1234");
    EXPECT(q, "r4");
    q = q_new("Observation");
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_NONE), NULL, NULL, "urn:uuid:12");
    EXPECT(q, "");
    q = q_new("Observation");
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 1;
    EXPECT(q, "r5");
    q = q_new("Observation");
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 0;
    EXPECT(q, "r1,r2,r3,r4");
    q = q_new("Observation"); /* :missing=true,false matches everything */
    p = q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_MISSING);
    q_value(p, NULL, NULL, NULL)->missing = 1;
    q_value(p, NULL, NULL, NULL)->missing = 0;
    EXPECT(q, "r1,r2,r3,r4,r5");
}

Test(store, string_and_uri)
{
    lg_index ix = {0};
    ix_add(&ix, "name", LG_SP_STRING, "jose smith", "José Smith", NULL, 0, 0);
    put("Patient", "s1", "{}", &ix);
    ix_add(&ix, "name", LG_SP_STRING, "smithers", "Smithers", NULL, 0, 0);
    put("Patient", "s2", "{}", &ix);
    ix_add(&ix, "name", LG_SP_STRING, "ann smith", "Ann Smith", NULL, 0, 0);
    ix_add(&ix, "name", LG_SP_STRING, "100%_sure", "100%_sure", NULL, 0, 0);
    put("Patient", "s3", "{}", &ix);
    put("Patient", "s4", "{}", NULL);
    ix_add(&ix, "url", LG_SP_URI, "http://a/x", NULL, NULL, 0, 0);
    put("ValueSet", "u1", "{}", &ix);
    ix_add(&ix, "url", LG_SP_URI, "http://a/x/y", NULL, NULL, 0, 0);
    put("ValueSet", "u2", "{}", &ix);

    lg_query q = q_new("Patient"); /* default: prefix of the normalised value */
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_NONE), "smi", "Smi", NULL);
    EXPECT(q, "s2");
    q = q_new("Patient");
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_NONE), "jose", "José", NULL);
    EXPECT(q, "s1");
    q = q_new("Patient");
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_NONE), "smith", "smith", NULL);
    EXPECT(q, "s2");
    q = q_new("Patient"); /* the whole value is a prefix of itself */
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_NONE), "ann smith", "Ann Smith", NULL);
    EXPECT(q, "s3");
    q = q_new("Patient"); /* ORed */
    lg_query_param *p = q_param(&q, "name", LG_SP_STRING, LG_MOD_NONE);
    q_value(p, "ann", "ann", NULL);
    q_value(p, "jo", "jo", NULL);
    EXPECT(q, "s1,s3");
    q = q_new("Patient");
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_EXACT), "jose smith", "José Smith", NULL);
    EXPECT(q, "s1");
    q = q_new("Patient"); /* :exact is case and accent sensitive */
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_EXACT), "jose smith", "Jose Smith", NULL);
    EXPECT(q, "");
    q = q_new("Patient");
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_CONTAINS), "mith", "MITH", NULL);
    EXPECT(q, "s1,s2,s3");
    q = q_new("Patient"); /* % and _ are literal */
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_CONTAINS), "0%_s", "0%_s", NULL);
    EXPECT(q, "s3");
    q = q_new("Patient");
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_CONTAINS), "0%xs", "0%xs", NULL);
    EXPECT(q, "");
    q = q_new("Patient");
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 1;
    EXPECT(q, "s4");
    q = q_new("Patient");
    q_value(q_param(&q, "name", LG_SP_STRING, LG_MOD_NOT), "smi", "smi", NULL);
    EXPECT(q, "s1,s3,s4");

    q = q_new("ValueSet");
    q_value(q_param(&q, "url", LG_SP_URI, LG_MOD_NONE), "http://a/x", NULL, NULL);
    EXPECT(q, "u1");
    q = q_new("ValueSet");
    q_value(q_param(&q, "url", LG_SP_URI, LG_MOD_NONE), "http://a/", NULL, NULL);
    EXPECT(q, "");
}

/* Day ranges around 2020-01-01 and every prefix. */
Test(store, date_prefixes)
{
    int64_t d0hi, lo, hi, h;
    int64_t d0 = day("2020-01-01", &d0hi);
    lg_index ix = {0};
    lo = day("2015-01-01", &hi);
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, lo, hi);
    put("Encounter", "far", "{}", &ix);
    lo = day("2019-12-31", &hi);
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, lo, hi);
    put("Encounter", "before", "{}", &ix);
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, day("2019-12-31T12:00:00Z", NULL),
           day("2020-01-01T12:00:00Z", &h) + 0);
    put("Encounter", "span", "{}", &ix);
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, d0, d0hi);
    put("Encounter", "whole", "{}", &ix);
    lo = day("2020-01-01T10:00:00.000Z", &hi);
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, lo, hi);
    put("Encounter", "in", "{}", &ix);
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, day("2020-01-01T12:00:00Z", NULL),
           day("2020-01-02T12:00:00Z", NULL));
    put("Encounter", "spanhi", "{}", &ix);
    lo = day("2020-01-02", &hi);
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, lo, hi);
    put("Encounter", "after", "{}", &ix);
    put("Encounter", "none", "{}", NULL);

    static const struct { lg_prefix p; const char *want; } cases[] = {
        {LG_PFX_EQ, "whole,in"},
        {LG_PFX_NE, "far,before,span,spanhi,after"},
        {LG_PFX_GT, "spanhi,after"},
        {LG_PFX_LT, "far,before,span"},
        {LG_PFX_GE, "whole,in,spanhi,after"},
        {LG_PFX_LE, "far,before,span,whole,in"},
        {LG_PFX_SA, "after"},
        {LG_PFX_EB, "far,before"},
        {LG_PFX_AP, "before,span,whole,in,spanhi,after"}, /* now is years away: +-months */
    };
    for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        lg_query q = q_new("Encounter");
        q_range(q_param(&q, "date", LG_SP_DATE, LG_MOD_NONE), cases[i].p, d0, d0hi);
        const char *got = found(&q);
        cr_expect_str_eq(got, cases[i].want, "prefix %d", (int)cases[i].p);
    }
    /* ap close to now is tight */
    int64_t now = lg_time_now_ms();
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, now - 34200000, now - 34200000);
    put("Encounter", "recent", "{}", &ix);
    lg_query q = q_new("Encounter"); /* 10 h ago: +-1 h */
    q_range(q_param(&q, "date", LG_SP_DATE, LG_MOD_NONE), LG_PFX_AP, now - 36000000, now - 36000000);
    EXPECT(q, "recent");
    q = q_new("Encounter");
    q_range(q_param(&q, "date", LG_SP_DATE, LG_MOD_NONE), LG_PFX_AP, now - 72000000, now - 72000000);
    EXPECT(q, "");
    /* ORed values */
    q = q_new("Encounter");
    lg_query_param *p = q_param(&q, "date", LG_SP_DATE, LG_MOD_NONE);
    q_range(p, LG_PFX_SA, d0, d0hi);
    q_range(p, LG_PFX_EB, day("2019", NULL), day("2019", NULL));
    EXPECT(q, "far,after,recent");
    /* open-ended period (no end) */
    ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, d0, INT64_MAX);
    put("Encounter", "open", "{}", &ix);
    q = q_new("Encounter");
    q_range(q_param(&q, "date", LG_SP_DATE, LG_MOD_NONE), LG_PFX_GT, d0, d0hi);
    EXPECT(q, "spanhi,after,recent,open");
    q = q_new("Encounter");
    q_value(q_param(&q, "date", LG_SP_DATE, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 1;
    EXPECT(q, "none");
}

Test(store, number_prefixes)
{
    static const struct { const char *id; int64_t v; } vals[] = {
        {"a", 99000}, {"b", 100000}, {"c", 100400}, {"d", 100600}, {"e", 101000}, {"neg", -5000},
    };
    lg_index ix = {0};
    for(size_t i = 0; i < sizeof(vals) / sizeof(*vals); i++) {
        ix_add(&ix, "n", LG_SP_NUMBER, "x", NULL, NULL, vals[i].v, vals[i].v);
        put("RiskAssessment", vals[i].id, "{}", &ix);
    }
    put("RiskAssessment", "f", "{}", NULL);
    /* "100": [99.5, 100.5) as the parser gives it */
    static const struct { lg_prefix p; const char *want; } cases[] = {
        {LG_PFX_EQ, "b,c"},       {LG_PFX_NE, "a,d,e,neg"}, {LG_PFX_GT, "c,d,e"},
        {LG_PFX_LT, "a,neg"},     {LG_PFX_GE, "b,c,d,e"},   {LG_PFX_LE, "a,b,neg"},
        {LG_PFX_SA, "d,e"},       {LG_PFX_EB, "a,neg"},     {LG_PFX_AP, "a,b,c,d,e"},
    };
    for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        lg_query q = q_new("RiskAssessment");
        q_range(q_param(&q, "n", LG_SP_NUMBER, LG_MOD_NONE), cases[i].p, 99500, 100499);
        const char *got = found(&q);
        cr_expect_str_eq(got, cases[i].want, "prefix %d", (int)cases[i].p);
    }
    lg_query q = q_new("RiskAssessment"); /* negative exact: lt-5 (range [-5.5,-4.5)) */
    q_range(q_param(&q, "n", LG_SP_NUMBER, LG_MOD_NONE), LG_PFX_LT, -5500, -4501);
    EXPECT(q, "");
    q = q_new("RiskAssessment");
    q_range(q_param(&q, "n", LG_SP_NUMBER, LG_MOD_NONE), LG_PFX_LE, -5500, -4501);
    EXPECT(q, "neg");
    q = q_new("RiskAssessment");
    q_value(q_param(&q, "n", LG_SP_NUMBER, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 1;
    EXPECT(q, "f");
    /* quantity: number plus units */
    ix_add(&ix, "value-quantity", LG_SP_QUANTITY, "5.4", "http://unitsofmeasure.org", "mg", 5400, 5400);
    put("Observation", "q1", "{}", &ix);
    ix_add(&ix, "value-quantity", LG_SP_QUANTITY, "5.4", "http://unitsofmeasure.org", "g", 5400, 5400);
    put("Observation", "q2", "{}", &ix);
    q = q_new("Observation");
    lg_query_param *p = q_param(&q, "value-quantity", LG_SP_QUANTITY, LG_MOD_NONE);
    q_range(p, LG_PFX_EQ, 5350, 5449);
    p->values[0].s3 = strdup("mg");
    EXPECT(q, "q1");
    q = q_new("Observation");
    q_range(q_param(&q, "value-quantity", LG_SP_QUANTITY, LG_MOD_NONE), LG_PFX_GT, 5000, 5000);
    EXPECT(q, "q1,q2");
}

Test(store, id_and_last_updated)
{
    int64_t d0hi, d0 = day("2021-06-01", &d0hi);
    put_on(st, "Patient", "a", "{}", NULL, d0 - 1);
    put_on(st, "Patient", "b", "{}", NULL, d0);
    put_on(st, "Patient", "c", "{}", NULL, d0 + 5000);
    put_on(st, "Patient", "d", "{}", NULL, d0hi + 1);
    put_on(st, "Practitioner", "a", "{}", NULL, d0);

    lg_query q = q_new("Patient");
    q_value(q_param(&q, "_id", LG_SP_TOKEN, LG_MOD_NONE), NULL, "a", NULL);
    EXPECT(q, "a");
    q = q_new("Patient");
    lg_query_param *p = q_param(&q, "_id", LG_SP_TOKEN, LG_MOD_NONE);
    q_value(p, NULL, "c", NULL);
    q_value(p, NULL, "b", NULL);
    q_value(p, NULL, "zz", NULL);
    EXPECT(q, "b,c");
    q = q_new("Patient");
    p = q_param(&q, "_id", LG_SP_TOKEN, LG_MOD_NOT);
    q_value(p, NULL, "c", NULL);
    q_value(p, NULL, "b", NULL);
    EXPECT(q, "a,d");
    q = q_new("Patient");
    q_range(q_param(&q, "_lastUpdated", LG_SP_DATE, LG_MOD_NONE), LG_PFX_EQ, d0, d0hi);
    EXPECT(q, "b,c");
    q = q_new("Patient");
    q_range(q_param(&q, "_lastUpdated", LG_SP_DATE, LG_MOD_NONE), LG_PFX_GT, d0, d0);
    EXPECT(q, "c,d");
    q = q_new("Patient");
    q_range(q_param(&q, "_lastUpdated", LG_SP_DATE, LG_MOD_NONE), LG_PFX_GE, d0, d0);
    EXPECT(q, "b,c,d");
    q = q_new("Patient");
    q_range(q_param(&q, "_lastUpdated", LG_SP_DATE, LG_MOD_NONE), LG_PFX_LT, d0, d0hi);
    EXPECT(q, "a");
    q = q_new("Patient");
    q_range(q_param(&q, "_lastUpdated", LG_SP_DATE, LG_MOD_NONE), LG_PFX_NE, d0, d0hi);
    EXPECT(q, "a,d");
    q = q_new("Patient"); /* ANDed with _id */
    q_range(q_param(&q, "_lastUpdated", LG_SP_DATE, LG_MOD_NONE), LG_PFX_GE, d0, d0);
    q_value(q_param(&q, "_id", LG_SP_TOKEN, LG_MOD_NONE), NULL, "d", NULL);
    EXPECT(q, "d");
    q = q_new("Patient");
    q_value(q_param(&q, "_id", LG_SP_TOKEN, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 1;
    EXPECT(q, "");
    q = q_new("Patient"); /* a parameter without values adds nothing */
    q_param(&q, "_id", LG_SP_TOKEN, LG_MOD_NONE);
    EXPECT(q, "a,b,c,d");
}

/* Several index parameters: one drives, the others are probes. */
Test(store, anded_index_parameters)
{
    lg_index ix = {0};
    static const char *const ids[] = {"a", "b", "c", "d"};
    for(int i = 0; i < 4; i++) {
        ix_add(&ix, "code", LG_SP_TOKEN, "http://s", i < 3 ? "x" : "y", NULL, 0, 0);
        if(i != 1)
            ix_add(&ix, "subject", LG_SP_REFERENCE, "Patient", i == 2 ? "p2" : "p1", NULL, 0, 0);
        ix_add(&ix, "date", LG_SP_DATE, NULL, NULL, NULL, i * 1000, i * 1000 + 999);
        if(i == 0)
            ix_add(&ix, "code", LG_SP_TOKEN, "http://s", "z", NULL, 0, 0);
        put("Observation", ids[i], "{}", &ix);
    }
    lg_query q = q_new("Observation");
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_NONE), "Patient", "p1", NULL);
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), "http://s", "x", NULL);
    EXPECT(q, "a");
    q = q_new("Observation");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), "http://s", "x", NULL);
    q_range(q_param(&q, "date", LG_SP_DATE, LG_MOD_NONE), LG_PFX_GE, 1000, 1999);
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NOT), NULL, "z", NULL);
    EXPECT(q, "b,c");
    q = q_new("Observation");
    q_range(q_param(&q, "date", LG_SP_DATE, LG_MOD_NONE), LG_PFX_LT, 2000, 2999);
    q_value(q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_MISSING), NULL, NULL, NULL)->missing = 1;
    EXPECT(q, "b");
    q = q_new("Observation"); /* two values of one parameter ORed, another ANDed */
    lg_query_param *p = q_param(&q, "subject", LG_SP_REFERENCE, LG_MOD_NONE);
    q_value(p, NULL, "p2", NULL);
    q_value(p, "Patient", "p1", NULL);
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, "y", NULL);
    EXPECT(q, "d");
    q = q_new("Observation"); /* the same parameter twice: both must hold */
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, "x", NULL);
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, "z", NULL);
    EXPECT(q, "a");
}

Test(store, unsupported_queries_are_einval)
{
    put("Patient", "a", "{}", NULL);
    static const struct { lg_sp_type t; lg_modifier m; } bad[] = {
        {LG_SP_COMPOSITE, LG_MOD_NONE}, {LG_SP_SPECIAL, LG_MOD_NONE},
        {LG_SP_TOKEN, LG_MOD_EXACT},    {LG_SP_REFERENCE, LG_MOD_IDENTIFIER},
        {LG_SP_STRING, LG_MOD_TEXT},    {LG_SP_DATE, LG_MOD_CONTAINS},
        {LG_SP_REFERENCE, LG_MOD_TYPE}, /* without type_modifier */
    };
    for(size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        lg_query q = q_new("Patient");
        q_value(q_param(&q, "x", bad[i].t, bad[i].m), "a", "b", "c");
        lg_resource_list l = {0};
        lg_issues is = {0};
        int64_t n = 0;
        cr_expect_eq(lg_store_search(st, &q, &l, &is), LG_EINVAL, "case %zu", i);
        cr_expect_eq(lg_store_count(st, &q, &n, &is), LG_EINVAL, "case %zu", i);
        cr_expect_eq(l.count, 0);
        cr_expect_gt(is.count, 0);
        if(is.count)
            cr_expect_str_eq(is.items[0].location, "x");
        lg_issues_free(&is);
        q_clear(&q);
    }
    /* an incomplete value: a token with neither system nor code */
    lg_query q = q_new("Patient");
    q_value(q_param(&q, "code", LG_SP_TOKEN, LG_MOD_NONE), NULL, NULL, NULL);
    lg_resource_list l = {0};
    lg_issues is = {0};
    cr_expect_eq(lg_store_search(st, &q, &l, &is), LG_EINVAL);
    lg_issues_free(&is);
    q_clear(&q);
    /* _lastUpdated:not is not a thing */
    q = q_new("Patient");
    q_range(q_param(&q, "_lastUpdated", LG_SP_DATE, LG_MOD_NOT), LG_PFX_EQ, 0, 0);
    cr_expect_eq(lg_store_search(st, &q, &l, &is), LG_EINVAL);
    lg_issues_free(&is);
    q_clear(&q);
    /* SQL-looking values are just values */
    q = q_new("Patient");
    q_value(q_param(&q, "_id", LG_SP_TOKEN, LG_MOD_NONE), NULL, "a' OR '1'='1", NULL);
    EXPECT(q, "");
}

/* ---- paging, count, history ---- */

/* Walk all pages of q (count per page), calling between(page) after each
 * page; returns the ids seen, comma separated. */
static char *walk(lg_query *q, int sorted, void (*between)(int page))
{
    static char seen[4096];
    seen[0] = '\0';
    for(int page = 0; page < 100; page++) {
        lg_resource_list l = {0};
        lg_issues is = {0};
        cr_assert_eq(lg_store_search(st, q, &l, &is), LG_OK);
        cr_assert_leq(l.count, (size_t)q->count + 1);
        size_t keep = l.count > (size_t)q->count ? (size_t)q->count : l.count;
        for(size_t i = 0; i < keep; i++) {
            size_t n = strlen(seen);
            snprintf(seen + n, sizeof(seen) - n, "%s%s", n ? "," : "", l.items[i].id);
        }
        int more = l.count > (size_t)q->count;
        if(more) {
            q->has_cursor = 1;
            q->after_seq = l.items[keep - 1].seq;
            q->after_key = sorted ? l.items[keep - 1].last_updated : 0;
        }
        lg_resource_list_clear(&l);
        lg_issues_free(&is);
        if(!more)
            break;
        if(between)
            between(page);
    }
    return seen;
}

static void insert_two(int page)
{
    char id[16];
    for(int i = 0; i < 2; i++) {
        snprintf(id, sizeof(id), "n%d_%d", page, i);
        put_on(st, "Patient", id, "{}", NULL, 1000); /* ties the first last_updated */
    }
}

Test(store, paging_with_inserts_between_pages)
{
    char id[8];
    for(int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "p%d", i);
        put_on(st, "Patient", id, "{}", NULL, 1000 + (i / 3) * 10); /* ties in groups of 3 */
    }
    int64_t snap = 0;
    lg_store_max_seq(st, &snap);

    lg_query q = q_new("Patient");
    q.count = 3;
    q.max_seq = snap;
    cr_expect_str_eq(walk(&q, 0, insert_two), "p0,p1,p2,p3,p4,p5,p6,p7,p8,p9");
    q_clear(&q);

    /* without max_seq new rows show up once, at the end (seq order) */
    q = q_new("Patient");
    q.count = 4;
    const char *all = walk(&q, 0, NULL);
    cr_expect_str_eq(all, "p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,n0_0,n0_1,n1_0,n1_1,n2_0,n2_1");
    q_clear(&q);

    /* sorted ascending with ties on last_updated */
    q = q_new("Patient");
    q.count = 2;
    q.max_seq = snap;
    q.sort = LG_SORT_LASTUPDATED_ASC;
    cr_expect_str_eq(walk(&q, 1, insert_two), "p0,p1,p2,p3,p4,p5,p6,p7,p8,p9");
    q_clear(&q);

    q = q_new("Patient");
    q.count = 2;
    q.max_seq = snap;
    q.sort = LG_SORT_LASTUPDATED_DESC;
    cr_expect_str_eq(walk(&q, 1, insert_two), "p9,p8,p7,p6,p5,p4,p3,p2,p1,p0");
    q_clear(&q);

    /* count ignores the cursor and page size, honours max_seq */
    q = q_new("Patient");
    q.count = 1;
    q.has_cursor = 1;
    q.after_seq = 5;
    int64_t n = 0;
    lg_issues is = {0};
    cr_assert_eq(lg_store_count(st, &q, &n, &is), LG_OK);
    cr_expect_eq(n, 18); /* 10 + n0..n3 x 2 from the walks */
    q.max_seq = snap;
    cr_assert_eq(lg_store_count(st, &q, &n, &is), LG_OK);
    cr_expect_eq(n, 10);
    q.max_seq = 3;
    cr_assert_eq(lg_store_count(st, &q, &n, &is), LG_OK);
    cr_expect_eq(n, 3);
    q_clear(&q);
    /* count 0: just tells whether there is anything */
    q = q_new("Patient");
    q.count = 0;
    lg_resource_list l = {0};
    cr_assert_eq(lg_store_search(st, &q, &l, &is), LG_OK);
    cr_expect_eq(l.count, 1);
    lg_resource_list_clear(&l);
    q_clear(&q);
    lg_issues_free(&is);
}

Test(store, history)
{
    int64_t s1 = put_on(st, "Patient", "a", "{\"v\":1}", NULL, 100);
    int64_t s2 = put_on(st, "Observation", "o", "{}", NULL, 200);
    int64_t s3 = put_on(st, "Patient", "a", "{\"v\":2}", NULL, 300);
    int64_t s4 = put_on(st, "Patient", "b", "{}", NULL, 400);
    int64_t s5 = put_on(st, "Patient", "a", NULL, NULL, 500);
    lg_resource_list l = {0};

    cr_assert_eq(lg_store_history(st, "Patient", "a", 0, 0, 10, &l), LG_OK);
    cr_assert_eq(l.count, 3);
    cr_expect_eq(l.items[0].seq, s5);
    cr_expect_eq(l.items[0].deleted, 1);
    cr_expect_null(l.items[0].json);
    cr_expect_str_eq(l.items[0].method, "DELETE");
    cr_expect_eq(l.items[1].version, 2);
    cr_expect_str_eq(l.items[1].json, "{\"v\":2}");
    cr_expect_eq(l.items[2].seq, s1);
    cr_expect_str_eq(l.items[2].method, "POST");
    lg_resource_list_clear(&l);

    /* type history, paged: count + 1 then before_seq */
    cr_assert_eq(lg_store_history(st, "Patient", NULL, 0, 0, 2, &l), LG_OK);
    cr_assert_eq(l.count, 3);
    cr_expect_eq(l.items[0].seq, s5);
    cr_expect_eq(l.items[1].seq, s4);
    cr_expect_str_eq(l.items[1].id, "b");
    int64_t cursor = l.items[1].seq;
    lg_resource_list_clear(&l);
    cr_assert_eq(lg_store_history(st, "Patient", NULL, 0, cursor, 2, &l), LG_OK);
    cr_assert_eq(l.count, 2);
    cr_expect_eq(l.items[0].seq, s3);
    cr_expect_eq(l.items[1].seq, s1);
    lg_resource_list_clear(&l);

    /* system history with since */
    cr_assert_eq(lg_store_history(st, NULL, NULL, 200, 0, 10, &l), LG_OK);
    cr_assert_eq(l.count, 4);
    cr_expect_eq(l.items[3].seq, s2);
    cr_expect_str_eq(l.items[3].type, "Observation");
    lg_resource_list_clear(&l);
    cr_assert_eq(lg_store_history(st, NULL, NULL, 0, 0, 0, &l), LG_OK);
    cr_expect_eq(l.count, 1);
    lg_resource_list_clear(&l);
    cr_assert_eq(lg_store_history(st, "Patient", "zz", 0, 0, 10, &l), LG_OK);
    cr_expect_eq(l.count, 0);
    /* appends to what the list holds */
    cr_assert_eq(lg_store_history(st, "Observation", NULL, 0, 0, 10, &l), LG_OK);
    cr_assert_eq(lg_store_history(st, "Observation", "o", 0, 0, 10, &l), LG_OK);
    cr_expect_eq(l.count, 2);
    lg_resource_list_clear(&l);
    /* an id needs its type */
    cr_expect_eq(lg_store_history(st, NULL, "a", 0, 0, 10, &l), LG_EINVAL);
    cr_expect_eq(l.count, 0);
}

/* ---- concurrency and speed ---- */

#define WRITES_PER_THREAD 150

typedef struct worker {
    int n;
    int errors;
} worker;

/* Each worker writes its own resources and bumps one shared counter resource
 * with read-then-write inside the transaction: the shared writer lock must
 * make every increment see the previous one. */
static void *writer(void *arg)
{
    worker *w = arg;
    lg_store *s = NULL;
    lg_issues is = {0};
    if(lg_store_open(dir, &s, &is) != LG_OK) {
        w->errors++;
        lg_issues_free(&is);
        return NULL;
    }
    char id[32], json[64];
    for(int i = 0; i < WRITES_PER_THREAD; i++) {
        lg_index ix = {0};
        lg_resource cur = {0};
        int64_t seq;
        snprintf(id, sizeof(id), "w%d-%d", w->n, i);
        if(lg_store_begin(s) != LG_OK) {
            w->errors++;
            continue;
        }
        lg_store_write a = {.type = "Patient", .id = id, .version = 1, .last_updated = i,
                            .method = "POST", .json = "{}", .json_len = 2, .index = &ix};
        lg_status rc = lg_store_put(s, &a, &seq);
        int64_t v = lg_store_read(s, "Basic", "counter", &cur) == LG_OK ? cur.version : 0;
        lg_resource_clear(&cur);
        snprintf(json, sizeof(json), "{\"n\":%lld}", (long long)v + 1);
        lg_store_write b = {.type = "Basic", .id = "counter", .version = v + 1, .last_updated = i,
                            .method = "PUT", .json = json, .json_len = strlen(json)};
        if(rc == LG_OK)
            rc = lg_store_put(s, &b, &seq);
        if(rc == LG_OK)
            rc = lg_store_commit(s);
        else
            lg_store_rollback(s);
        if(rc != LG_OK)
            w->errors++;
        /* a read outside the transaction, beside the other writer */
        if(lg_store_read(s, "Patient", id, &cur) != LG_OK)
            w->errors++;
        lg_resource_clear(&cur);
    }
    lg_store_close(s);
    return NULL;
}

static void *searcher(void *arg)
{
    worker *w = arg;
    lg_store *s = NULL;
    lg_issues is = {0};
    if(lg_store_open(dir, &s, &is) != LG_OK) {
        w->errors++;
        lg_issues_free(&is);
        return NULL;
    }
    int64_t last = 0;
    for(int i = 0; i < 100; i++) {
        lg_query q = {.type = "Patient", .count = 10};
        int64_t n = 0;
        if(lg_store_count(s, &q, &n, &is) != LG_OK || n < last)
            w->errors++;
        last = n;
    }
    lg_issues_free(&is);
    lg_store_close(s);
    return NULL;
}

Test(store, concurrent_writers_lose_nothing)
{
    pthread_t t[3];
    worker w[3] = {{.n = 0}, {.n = 1}, {.n = 2}};
    cr_assert_eq(pthread_create(&t[0], NULL, writer, &w[0]), 0);
    cr_assert_eq(pthread_create(&t[1], NULL, writer, &w[1]), 0);
    cr_assert_eq(pthread_create(&t[2], NULL, searcher, &w[2]), 0);
    for(int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    cr_expect_eq(w[0].errors + w[1].errors + w[2].errors, 0);
    lg_resource r = {0};
    cr_assert_eq(lg_store_read(st, "Basic", "counter", &r), LG_OK);
    cr_expect_eq(r.version, 2 * WRITES_PER_THREAD);
    lg_resource_clear(&r);
    lg_query q = q_new("Patient");
    int64_t n = 0;
    lg_issues is = {0};
    cr_assert_eq(lg_store_count(st, &q, &n, &is), LG_OK);
    cr_expect_eq(n, 2 * WRITES_PER_THREAD);
    q_clear(&q);
    int64_t m = 0;
    lg_store_max_seq(st, &m);
    cr_expect_eq(m, 4 * WRITES_PER_THREAD); /* seq is dense: one per version */
    /* history sees every version, newest first, strictly decreasing seq */
    lg_resource_list l = {0};
    cr_assert_eq(lg_store_history(st, NULL, NULL, 0, 0, 10000, &l), LG_OK);
    cr_expect_eq(l.count, 4 * WRITES_PER_THREAD);
    for(size_t i = 1; i < l.count; i++)
        cr_expect_lt(l.items[i].seq, l.items[i - 1].seq);
    lg_resource_list_clear(&l);
}

static char fresh[128];

static void *open_and_write(void *arg)
{
    worker *w = arg;
    lg_store *s = NULL;
    lg_issues is = {0};
    char id[16];
    snprintf(id, sizeof(id), "f%d", w->n);
    if(lg_store_open(fresh, &s, &is) != LG_OK) {
        w->errors++;
        /* say why: a race lost here is otherwise invisible */
        for(size_t i = 0; i < is.count; i++)
            fprintf(stderr, "open %d: %s\n", w->n, is.items[i].diagnostics);
    } else {
        lg_store_write a = {.type = "Patient", .id = id, .version = 1, .last_updated = 1,
                            .method = "POST", .json = "{}", .json_len = 2};
        if(lg_store_begin(s) != LG_OK || lg_store_put(s, &a, NULL) != LG_OK ||
           lg_store_commit(s) != LG_OK)
            w->errors++;
        lg_store_close(s);
    }
    lg_issues_free(&is);
    return NULL;
}

/* Handles opened at once on a new directory race to create the schema. */
Test(store, concurrent_open_of_a_new_store)
{
    snprintf(fresh, sizeof(fresh), "%s/fresh", dir);
    pthread_t t[4];
    worker w[4];
    for(int i = 0; i < 4; i++) {
        w[i] = (worker){.n = i};
        cr_assert_eq(pthread_create(&t[i], NULL, open_and_write, &w[i]), 0);
    }
    for(int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(w[i].errors, 0, "thread %d", i);
    }
    lg_store *s = open_at(fresh);
    int64_t m = 0;
    cr_expect_eq(lg_store_max_seq(s, &m), LG_OK);
    cr_expect_eq(m, 4);
    lg_store_close(s);
}

/* 1000 durable begin / put (3 KB, 15 index rows) / commit cycles, half of
 * them updates: every index row of a replaced version is gone (speed is
 * measured by scripts/bench, not here). */
Test(store, many_sequential_commits_keep_index_exact, .timeout = 120)
{
    char json[3200];
    memset(json, 'x', sizeof(json) - 1);
    json[sizeof(json) - 1] = '\0';
    memcpy(json, "{\"a\":\"", 6);
    memcpy(json + sizeof(json) - 3, "\"}", 2);
    lg_index ix = {0};
    for(int k = 0; k < 15; k++) {
        char v[32];
        snprintf(v, sizeof(v), "value-%d", k);
        if(k < 5)
            ix_add(&ix, "identifier", LG_SP_TOKEN, "http://sys", v, NULL, 0, 0);
        else if(k < 10)
            ix_add(&ix, "name", LG_SP_STRING, v, v, NULL, 0, 0);
        else
            ix_add(&ix, "birthdate", LG_SP_DATE, NULL, NULL, NULL, k * 1000, k * 1000 + 999);
    }
    const int N = 1000;
    for(int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "b%d", i % 500); /* half creates, half updates */
        lg_resource cur = {0};
        int64_t v = 0, seq;
        cr_assert_eq(lg_store_begin(st), LG_OK);
        if(lg_store_read(st, "Patient", id, &cur) == LG_OK)
            v = cur.version;
        lg_resource_clear(&cur);
        lg_store_write w = {.type = "Patient", .id = id, .version = v + 1, .last_updated = i,
                            .method = "PUT", .json = json, .json_len = strlen(json), .index = &ix};
        cr_assert_eq(lg_store_put(st, &w, &seq), LG_OK);
        cr_assert_eq(lg_store_commit(st), LG_OK);
    }
    ix_clear(&ix);
    lg_query q = q_new("Patient");
    q_value(q_param(&q, "identifier", LG_SP_TOKEN, LG_MOD_NONE), "http://sys", "value-3", NULL);
    int64_t n = 0;
    lg_issues is = {0};
    cr_assert_eq(lg_store_count(st, &q, &n, &is), LG_OK);
    cr_expect_eq(n, 500);
    q_clear(&q);
}

/* ---- group commit ---- */

static uint64_t write_nowait(lg_store *s, const char *id)
{
    int64_t seq;
    uint64_t ticket = 0;
    cr_assert_eq(lg_store_begin(s), LG_OK);
    lg_store_write w = {.type = "Patient", .id = id, .version = 1, .last_updated = ++clock_ms,
                        .method = "POST", .json = "{}", .json_len = 2};
    cr_assert_eq(lg_store_put(s, &w, &seq), LG_OK);
    cr_assert_eq(lg_store_commit_nowait(s, &ticket), LG_OK);
    return ticket;
}

Test(store, commit_nowait_batches_until_sync)
{
    int64_t ts0, ts1;
    uint64_t g0 = lg_store_generation(st);
    cr_assert_eq(lg_store_type_seq(st, "Patient", &ts0), LG_OK);
    uint64_t t1 = write_nowait(st, "g1"), t2 = write_nowait(st, "g2");
    cr_assert_gt(t1, 0);
    cr_assert_gt(t2, t1, "tickets follow commit order");
    cr_assert_lt(lg_store_synced(st), t1, "nothing flushed yet");
    /* another handle's plain reads do not see the batch before it commits... */
    lg_store *other = open_at(dir);
    lg_resource r = {0};
    cr_assert_eq(lg_store_read(other, "Patient", "g2", &r), LG_ENOTFOUND);
    cr_assert_eq(lg_store_generation(other), g0, "nothing visible was committed");
    /* ...but its transactions do, so versions stay in order */
    cr_assert_eq(lg_store_begin(other), LG_OK);
    cr_assert_eq(lg_store_read(other, "Patient", "g2", &r), LG_OK);
    lg_resource_clear(&r);
    lg_store_rollback(other);
    /* one sync for the later ticket commits and flushes the earlier one too */
    cr_assert_eq(lg_store_sync(other, t2), LG_OK);
    cr_assert_geq(lg_store_synced(st), t2);
    cr_assert_eq(lg_store_sync(st, t1), LG_OK);
    cr_assert_eq(lg_store_read(other, "Patient", "g1", &r), LG_OK);
    lg_resource_clear(&r);
    cr_assert_neq(lg_store_generation(other), g0, "a committed batch changes the generation");
    cr_assert_eq(lg_store_type_seq(other, "Patient", &ts1), LG_OK);
    cr_assert_gt(ts1, ts0, "the type's last write moved");
    int64_t org;
    cr_assert_eq(lg_store_type_seq(other, "Organization", &org), LG_OK);
    cr_assert_eq(org, 0, "no Organization was ever written");
    lg_store_close(other);
    /* lg_store_commit is durable on return */
    put("Patient", "g3", "{}", NULL);
    cr_assert_gt(lg_store_synced(st), t2);
}

Test(store, rollback_keeps_earlier_writes_of_the_batch)
{
    uint64_t t1 = write_nowait(st, "k1");
    cr_assert_eq(lg_store_begin(st), LG_OK);
    lg_store_write w = {.type = "Patient", .id = "k2", .version = 1, .last_updated = ++clock_ms,
                        .method = "POST", .json = "{}", .json_len = 2};
    cr_assert_eq(lg_store_put(st, &w, NULL), LG_OK);
    lg_store_rollback(st);
    cr_assert_eq(lg_store_sync(st, t1), LG_OK);
    lg_resource r = {0};
    cr_assert_eq(lg_store_read(st, "Patient", "k1", &r), LG_OK);
    lg_resource_clear(&r);
    cr_assert_eq(lg_store_read(st, "Patient", "k2", &r), LG_ENOTFOUND, "rolled back");
}

Test(store, directory_is_flocked_while_open)
{
    /* A forked child shares this process's registry of open directories, so
     * it checks the lock itself; tests/integration/test_search_cache.c
     * starts a real second server and sees it refused. */
    char lp[512];
    snprintf(lp, sizeof(lp), "%s/loopgate.lock", dir);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if(pid == 0) {
        int fd = open(lp, O_RDWR | O_CLOEXEC);
        _exit(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK ? 0 : 1);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "loopgate.lock must be held");
}

typedef struct {
    int n, base;
    uint64_t max_ticket;
} gc_arg;

static void *gc_writer(void *p)
{
    gc_arg *a = p;
    lg_store *s = open_at(dir);
    for(int i = 0; i < a->n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "w%d-%d", a->base, i);
        uint64_t t = write_nowait(s, id);
        cr_assert_eq(lg_store_sync(s, t), LG_OK);
        cr_assert_geq(lg_store_synced(s), t);
        if(t > a->max_ticket)
            a->max_ticket = t;
    }
    lg_store_close(s);
    return NULL;
}

/* Eight writers sharing flushes: every commit acknowledged as durable is
 * readable, and the watermark ends at the last commit. */
Test(store, concurrent_writers_share_flushes)
{
    pthread_t th[8];
    gc_arg args[8];
    for(int i = 0; i < 8; i++) {
        args[i] = (gc_arg){.n = 50, .base = i};
        cr_assert_eq(pthread_create(&th[i], NULL, gc_writer, &args[i]), 0);
    }
    uint64_t max = 0;
    for(int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        if(args[i].max_ticket > max)
            max = args[i].max_ticket;
    }
    cr_assert_eq(max, 400, "one ticket per commit");
    cr_assert_geq(lg_store_synced(st), 400);
    lg_query q = q_new("Patient");
    int64_t n = 0;
    lg_issues is = {0};
    cr_assert_eq(lg_store_count(st, &q, &n, &is), LG_OK);
    cr_assert_eq(n, 400);
    q_clear(&q);
}

/* A failed flush is never forgotten: that sync and every later one fail. */
Test(store, failed_flush_poisons_durability)
{
    uint64_t t = write_nowait(st, "f1");
    char wal[128];
    snprintf(wal, sizeof(wal), "%s/loopgate.db-wal", dir);
    char moved[140];
    snprintf(moved, sizeof(moved), "%s.away", wal);
    cr_assert_eq(rename(wal, moved), 0);
    cr_assert_eq(lg_store_sync(st, t), LG_EIO);
    cr_assert_eq(rename(moved, wal), 0);
    cr_assert_eq(lg_store_sync(st, t), LG_EIO, "a later flush must not vouch for lost pages");
    cr_assert_eq(lg_store_synced(st), 0);
}

Test(store, snapshot_reads_see_one_moment)
{
    put("Patient", "s1", "{}", NULL);
    lg_store *reader = open_at(dir);
    lg_resource r = {0};
    cr_assert_eq(lg_store_snapshot_begin(reader), LG_OK);
    cr_assert_eq(lg_store_read(reader, "Patient", "s1", &r), LG_OK);
    lg_resource_clear(&r);
    put("Patient", "s2", "{}", NULL); /* committed and synced meanwhile */
    cr_assert_eq(lg_store_read(reader, "Patient", "s2", &r), LG_ENOTFOUND,
                 "the snapshot predates s2");
    cr_assert_eq(lg_store_begin(reader), LG_EINTERNAL, "no write inside a snapshot");
    lg_store_snapshot_end(reader);
    cr_assert_eq(lg_store_read(reader, "Patient", "s2", &r), LG_OK);
    lg_resource_clear(&r);
    lg_store_close(reader);
}
