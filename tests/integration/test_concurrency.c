/* Integration: concurrent version-aware updates lose nothing, and many
 * concurrent creates are all stored. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_it.h"

static lg_server S;
static void up(void) { lg_it_start(&S, NULL); }
static void down(void) { lg_it_cleanup(&S); }
TestSuite(concurrency, .init = up, .fini = down, .timeout = 180);

#define THREADS 6
#define ROUNDS 15

static int wins[THREADS], conflicts[THREADS], others[THREADS];

/* Read the CarePlan, then update it with If-Match on what was read. */
static void *updater(void *arg)
{
    int me = (int)(long)arg;
    for(int i = 0; i < ROUNDS; i++) {
        lg_resp g = lg_http(&S, "GET", "/CarePlan/shared", NULL, NULL);
        char ifm[80], body[256];
        snprintf(ifm, sizeof(ifm), "If-Match: %s", g.etag);
        snprintf(body, sizeof(body), "{\"resourceType\":\"CarePlan\",\"id\":\"shared\",\"status\":"
                 "\"active\",\"intent\":\"plan\",\"subject\":{\"reference\":\"Patient/p\"},"
                 "\"description\":\"t%d r%d\"}", me, i);
        lg_resp_free(&g);
        const char *h[] = {"Content-Type: application/fhir+json", ifm, NULL};
        lg_resp u = lg_http(&S, "PUT", "/CarePlan/shared", h, body);
        if(u.status == 200) wins[me]++;
        else if(u.status == 412 || u.status == 409) conflicts[me]++;
        else others[me]++;
        lg_resp_free(&u);
    }
    return NULL;
}

Test(concurrency, if_match_updates_never_lose_a_write)
{
    lg_resp c = lg_http_json(&S, "PUT", "/CarePlan/shared",
                             "{\"resourceType\":\"CarePlan\",\"id\":\"shared\",\"status\":\"draft\","
                             "\"intent\":\"plan\",\"subject\":{\"reference\":\"Patient/p\"}}");
    cr_assert_eq(c.status, 201);
    lg_resp_free(&c);
    pthread_t t[THREADS];
    for(long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, updater, (void *)i);
    for(int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    int w = 0, k = 0, o = 0;
    for(int i = 0; i < THREADS; i++) {
        w += wins[i];
        k += conflicts[i];
        o += others[i];
    }
    cr_assert_eq(o, 0, "unexpected statuses");
    cr_assert_eq(w + k, THREADS * ROUNDS);
    cr_assert_gt(w, 0);
    lg_resp r = lg_http(&S, "GET", "/CarePlan/shared", NULL, NULL);
    char want[32];
    snprintf(want, sizeof(want), "W/\"%d\"", w + 1);
    cr_assert_str_eq(r.etag, want, "every successful update is a version (wins %d)", w);
    lg_resp_free(&r);
    r = lg_http(&S, "GET", "/CarePlan/shared/_history?_count=1000", NULL, NULL);
    cr_assert_eq(lg_entries(r.json), w + 1);
    lg_resp_free(&r);
}

#define CREATES 25

static char created[THREADS][CREATES][72];
static int create_failures[THREADS];

/* Criterion assertions belong to the main thread: workers only record. */
static void *creator(void *arg)
{
    int me = (int)(long)arg;
    for(int i = 0; i < CREATES; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"resourceType\":\"Task\",\"status\":\"requested\","
                 "\"intent\":\"order\",\"owner\":{\"reference\":\"Organization/conc\"},"
                 "\"identifier\":[{\"system\":\"urn:conc\",\"value\":\"%d-%d\"}]}", me, i);
        lg_resp r = lg_http_json(&S, "POST", "/Task", body);
        const char *id = lg_str(r.json, "id");
        if(r.status == 201 && id)
            snprintf(created[me][i], sizeof(created[me][i]), "%s", id);
        else
            create_failures[me]++;
        lg_resp_free(&r);
    }
    return NULL;
}

Test(concurrency, concurrent_creates_are_all_stored)
{
    pthread_t t[THREADS];
    for(long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, creator, (void *)i);
    for(int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for(int i = 0; i < THREADS; i++)
        cr_assert_eq(create_failures[i], 0, "thread %d: %d creates failed", i, create_failures[i]);
    lg_resp r = lg_http(&S, "GET", "/Task?owner=Organization/conc&_summary=count", NULL, NULL);
    cr_assert_eq(lg_total(r.json), THREADS * CREATES, "%s", r.body);
    lg_resp_free(&r);
    for(int i = 0; i < THREADS; i++)
        for(int j = 0; j < CREATES; j++) {
            for(int k = 0; k < j; k++)
                cr_assert_str_neq(created[i][j], created[i][k], "id handed out twice");
            r = lg_getf(&S, "/Task/%s", created[i][j]);
            cr_assert_eq(r.status, 200, "Task/%s: %ld", created[i][j], r.status);
            char want[32];
            snprintf(want, sizeof(want), "%d-%d", i, j);
            cr_assert_str_eq(lg_at_str(r.json, "identifier.0.value"), want);
            lg_resp_free(&r);
        }
}

/* Conditional creates racing on the same identifier: at most one resource
 * may come of it (R4 If-None-Exist). */
static int cond_created[THREADS], cond_existing[THREADS], cond_other[THREADS];

static void *cond_creator(void *arg)
{
    int me = (int)(long)arg;
    const char *h[] = {"Content-Type: application/fhir+json",
                       "If-None-Exist: identifier=urn:race|R-1", NULL};
    lg_resp r = lg_http(&S, "POST", "/Patient", h,
                        "{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":"
                        "\"urn:race\",\"value\":\"R-1\"}]}");
    if(r.status == 201)
        cond_created[me]++;
    else if(r.status == 200)
        cond_existing[me]++;
    else
        cond_other[me]++;
    lg_resp_free(&r);
    return NULL;
}

Test(concurrency, racing_conditional_creates_make_one_resource)
{
    pthread_t t[THREADS];
    for(long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, cond_creator, (void *)i);
    int c = 0, e = 0, o = 0;
    for(int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        c += cond_created[i];
        e += cond_existing[i];
        o += cond_other[i];
    }
    cr_assert_eq(c, 1, "%d conditional creates made a resource (%d saw it, %d other)", c, e, o);
    cr_assert_eq(e + o, THREADS - 1);
    lg_resp r = lg_http(&S, "GET", "/Patient?identifier=urn:race|R-1", NULL, NULL);
    cr_assert_eq(lg_entries(r.json), 1, "%s", r.body);
    lg_resp_free(&r);
}

/* Readers racing writers: every read is one whole version (ETag agrees with
 * meta.versionId), and a reader never sees versions go backwards. */
static volatile int writers_done;
static int reader_bad[THREADS], reader_reads[THREADS];
static char reader_msg[THREADS][160];

static void *blind_writer(void *arg)
{
    int me = (int)(long)arg;
    for(int i = 0; i < 40; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"resourceType\":\"Task\",\"id\":\"rw\",\"status\":"
                 "\"in-progress\",\"intent\":\"order\",\"description\":\"w%d-%d\"}", me, i);
        lg_resp r = lg_http_json(&S, "PUT", "/Task/rw", body);
        lg_resp_free(&r);
    }
    return NULL;
}

static void *reader(void *arg)
{
    int me = (int)(long)arg;
    long last = 0;
    while(!__atomic_load_n(&writers_done, __ATOMIC_ACQUIRE)) {
        lg_resp r = lg_http(&S, "GET", "/Task/rw", NULL, NULL);
        const char *vid = lg_at_str(r.json, "meta.versionId");
        char want[40];
        snprintf(want, sizeof(want), "W/\"%s\"", vid ? vid : "?");
        long v = vid ? strtol(vid, NULL, 10) : -1;
        if(r.status != 200 || !vid || strcmp(want, r.etag) != 0 || v < last ||
           !lg_str(r.json, "description")) {
            if(!reader_bad[me])
                snprintf(reader_msg[me], sizeof(reader_msg[me]), "status %ld etag %s vid %s last %ld",
                         r.status, r.etag, vid ? vid : "-", last);
            reader_bad[me]++;
        }
        last = v > last ? v : last;
        reader_reads[me]++;
        lg_resp_free(&r);
    }
    return NULL;
}

Test(concurrency, readers_see_whole_versions_in_order)
{
    lg_put(&S, "Task", "rw", "{\"resourceType\":\"Task\",\"id\":\"rw\",\"status\":\"requested\","
                             "\"intent\":\"order\",\"description\":\"start\"}");
    pthread_t w[THREADS / 2], r[THREADS / 2];
    for(long i = 0; i < THREADS / 2; i++) {
        pthread_create(&r[i], NULL, reader, (void *)i);
        pthread_create(&w[i], NULL, blind_writer, (void *)i);
    }
    for(int i = 0; i < THREADS / 2; i++)
        pthread_join(w[i], NULL);
    __atomic_store_n(&writers_done, 1, __ATOMIC_RELEASE);
    for(int i = 0; i < THREADS / 2; i++)
        pthread_join(r[i], NULL);
    for(int i = 0; i < THREADS / 2; i++) {
        cr_assert_eq(reader_bad[i], 0, "reader %d: %d bad reads of %d, first: %s", i,
                     reader_bad[i], reader_reads[i], reader_msg[i]);
        cr_assert_gt(reader_reads[i], 0);
    }
    lg_resp g = lg_http(&S, "GET", "/Task/rw", NULL, NULL);
    char want[32];
    snprintf(want, sizeof(want), "W/\"%d\"", 1 + 40 * (THREADS / 2));
    cr_assert_str_eq(g.etag, want, "every unconditional update is its own version");
    lg_resp_free(&g);
}
