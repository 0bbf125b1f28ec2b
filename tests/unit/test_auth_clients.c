/* test_auth_clients.c - the clients file (load, save, bad files), token
 * generation and lookup by token, the Authorization header parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loopgate/auth.h"

static char dir[64];
static char path[128];

static void mkdir_tmp(void)
{
    snprintf(dir, sizeof(dir), "/tmp/lg-auth-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/%s", dir, LG_AUTH_FILE);
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(auth, .init = mkdir_tmp, .fini = rm_tmp);

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Load path expecting failure st; returns the first diagnostic (static). */
static const char *load_fails(lg_status want)
{
    static char msg[512];
    lg_clients *cs = (lg_clients *)1;
    lg_issues is = {0};
    lg_status st = lg_clients_load(path, &cs, &is);
    cr_assert_eq(st, want, "status %s, wanted %s", lg_status_str(st), lg_status_str(want));
    cr_assert_null(cs);
    cr_assert_gt(is.count, 0);
    snprintf(msg, sizeof(msg), "%s", is.items[0].diagnostics);
    lg_issues_free(&is);
    return msg;
}

static const char HASH0[] = "0000000000000000000000000000000000000000000000000000000000000000";

Test(auth, new_tokens_are_random_base64url_and_hash_to_what_lookup_uses)
{
    char a[LG_AUTH_TOKEN_CHARS + 1], b[LG_AUTH_TOKEN_CHARS + 1];
    unsigned char ha[32], hb[32], h[32];
    cr_assert_eq(lg_auth_new_token(a, sizeof(a), ha), LG_OK);
    cr_assert_eq(lg_auth_new_token(b, sizeof(b), hb), LG_OK);
    cr_assert_eq(strlen(a), 43);
    cr_assert_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    cr_assert_str_neq(a, b);
    lg_auth_hash(a, strlen(a), h);
    cr_assert_eq(memcmp(h, ha, 32), 0);
    cr_assert_neq(memcmp(ha, hb, 32), 0);
    /* SHA-256("abc"), the FIPS 180-2 test vector */
    static const unsigned char abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    lg_auth_hash("abc", 3, h);
    cr_assert_eq(memcmp(h, abc, 32), 0);
    cr_assert_eq(lg_auth_new_token(a, 10, ha), LG_EINVAL, "buffer too small");
}

Test(auth, save_then_load_finds_each_client_by_its_token_only)
{
    lg_clients *cs;
    lg_issues is = {0};
    char tok[3][LG_AUTH_TOKEN_CHARS + 1];
    unsigned char h[3][32];
    cr_assert_eq(lg_clients_new(&cs), LG_OK);
    const char *r0[] = {"Organization/cbo-1"};
    const char *r1[] = {"Organization/ehr-1", "PractitionerRole/pr-9"};
    const char *r2[] = {"Organization/plan"};
    for(int i = 0; i < 3; i++)
        cr_assert_eq(lg_auth_new_token(tok[i], sizeof(tok[i]), h[i]), LG_OK);
    cr_assert_eq(lg_clients_add(cs, "cbo-1", LG_ROLE_REFERRAL_RECIPIENT, r0, 1, h[0], &is), LG_OK);
    cr_assert_eq(lg_clients_add(cs, "ehr_1", LG_ROLE_REFERRAL_SOURCE, r1, 2, h[1], &is), LG_OK);
    cr_assert_eq(lg_clients_add(cs, "plan.ops", LG_ROLE_COORDINATION, r2, 1, h[2], &is), LG_OK);
    cr_assert_eq(lg_clients_set_unrestricted(cs, "plan.ops", 1), LG_OK);
    cr_assert_eq(lg_clients_set_unrestricted(cs, "nobody", 1), LG_ENOTFOUND);
    cr_assert_eq(lg_clients_save(cs, path, &is), LG_OK);
    lg_clients_free(cs);

    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "mode %o", sb.st_mode & 0777);
    /* the tokens themselves are nowhere in the file */
    FILE *f = fopen(path, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    for(int i = 0; i < 3; i++)
        cr_assert_null(strstr(text, tok[i]));
    cr_assert_not_null(strstr(text, "\"tokenSha256\""));

    cr_assert_eq(lg_clients_load(path, &cs, &is), LG_OK);
    cr_assert_eq(lg_clients_count(cs), 3);
    const lg_client *c = lg_clients_authenticate(cs, tok[1], strlen(tok[1]));
    cr_assert_not_null(c);
    cr_assert_str_eq(c->id, "ehr_1");
    cr_assert_eq(c->actor.role, LG_ROLE_REFERRAL_SOURCE);
    cr_assert_eq(c->actor.n_refs, 2);
    cr_assert_str_eq(c->actor.refs[1], "PractitionerRole/pr-9");
    cr_assert_eq(lg_clients_authenticate(cs, tok[0], strlen(tok[0])), lg_clients_find(cs, "cbo-1"));
    cr_assert_eq(lg_clients_authenticate(cs, tok[2], strlen(tok[2]))->actor.role,
                 LG_ROLE_COORDINATION);
    cr_assert(lg_clients_find(cs, "plan.ops")->unrestricted, "unrestricted survives the file");
    cr_assert_not(lg_clients_find(cs, "cbo-1")->unrestricted);
    /* a token one character off, a prefix, empty: nobody */
    char bad[LG_AUTH_TOKEN_CHARS + 1];
    memcpy(bad, tok[0], sizeof(bad));
    bad[5] = bad[5] == 'A' ? 'B' : 'A';
    cr_assert_null(lg_clients_authenticate(cs, bad, strlen(bad)));
    cr_assert_null(lg_clients_authenticate(cs, tok[0], strlen(tok[0]) - 1));
    cr_assert_null(lg_clients_authenticate(cs, "", 0));
    cr_assert_null(lg_clients_authenticate(cs, NULL, 5));
    cr_assert_str_eq(lg_clients_at(cs, 2)->id, "plan.ops");
    cr_assert_null(lg_clients_at(cs, 3));

    /* remove: the token stops working, the others still do */
    cr_assert_eq(lg_clients_remove(cs, "cbo-1"), LG_OK);
    cr_assert_eq(lg_clients_remove(cs, "cbo-1"), LG_ENOTFOUND);
    cr_assert_null(lg_clients_authenticate(cs, tok[0], strlen(tok[0])));
    cr_assert_str_eq(lg_clients_authenticate(cs, tok[2], strlen(tok[2]))->id, "plan.ops");
    cr_assert_eq(lg_clients_save(cs, path, &is), LG_OK);
    lg_clients_free(cs);
    cr_assert_eq(lg_clients_load(path, &cs, &is), LG_OK);
    cr_assert_eq(lg_clients_count(cs), 2);
    cr_assert_null(lg_clients_authenticate(cs, tok[0], strlen(tok[0])));
    lg_clients_free(cs);
    /* no temporary file left beside it */
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    cr_assert_neq(access(tmp, F_OK), 0);
    lg_issues_free(&is);
}

Test(auth, overlong_tokens_are_refused_before_hashing)
{
    /* a client whose "token" is 300 characters: even the right one is
     * refused, because nothing longer than LG_AUTH_MAX_TOKEN is hashed */
    char big[301];
    unsigned char h[32];
    memset(big, 'x', 300);
    big[300] = '\0';
    lg_auth_hash(big, 300, h);
    lg_clients *cs;
    lg_issues is = {0};
    const char *r[] = {"Organization/a"};
    cr_assert_eq(lg_clients_new(&cs), LG_OK);
    cr_assert_eq(lg_clients_add(cs, "long", LG_ROLE_REPORTING, r, 1, h, &is), LG_OK);
    cr_assert_null(lg_clients_authenticate(cs, big, 300));
    /* 256 exactly is still looked up */
    lg_auth_hash(big, 256, h);
    cr_assert_eq(lg_clients_add(cs, "edge", LG_ROLE_REPORTING, r, 1, h, &is), LG_OK);
    cr_assert_not_null(lg_clients_authenticate(cs, big, 256));
    lg_clients_free(cs);
    lg_issues_free(&is);
}

Test(auth, many_clients_each_found)
{
    enum { N = 1500 };
    static char toks[N][LG_AUTH_TOKEN_CHARS + 1];
    lg_clients *cs;
    lg_issues is = {0};
    cr_assert_eq(lg_clients_new(&cs), LG_OK);
    for(int i = 0; i < N; i++) {
        unsigned char h[32];
        char id[32], ref[64];
        const char *r[] = {ref};
        snprintf(id, sizeof(id), "c%d", i);
        snprintf(ref, sizeof(ref), "Organization/o%d", i);
        cr_assert_eq(lg_auth_new_token(toks[i], sizeof(toks[i]), h), LG_OK);
        cr_assert_eq(lg_clients_add(cs, id, LG_ROLE_REFERRAL_RECIPIENT, r, 1, h, &is), LG_OK);
    }
    for(int i = 0; i < N; i++) {
        const lg_client *c = lg_clients_authenticate(cs, toks[i], strlen(toks[i]));
        cr_assert_not_null(c, "client %d", i);
        char id[32];
        snprintf(id, sizeof(id), "c%d", i);
        cr_assert_str_eq(c->id, id);
    }
    lg_clients_free(cs);
    lg_issues_free(&is);
}

Test(auth, refuses_duplicates_bad_ids_roles_and_references)
{
    lg_clients *cs;
    lg_issues is = {0};
    unsigned char h1[32], h2[32];
    char t[64];
    lg_auth_new_token(t, sizeof(t), h1);
    lg_auth_new_token(t, sizeof(t), h2);
    const char *ok[] = {"Organization/a"};
    cr_assert_eq(lg_clients_new(&cs), LG_OK);
    cr_assert_eq(lg_clients_add(cs, "a", LG_ROLE_REPORTING, ok, 1, h1, &is), LG_OK);
    cr_assert_eq(lg_clients_add(cs, "a", LG_ROLE_REPORTING, ok, 1, h2, &is), LG_ECONFLICT);
    cr_assert_eq(lg_clients_add(cs, "b", LG_ROLE_REPORTING, ok, 1, h1, &is), LG_ECONFLICT,
                 "same token hash");
    cr_assert_eq(lg_clients_add(cs, "b c", LG_ROLE_REPORTING, ok, 1, h2, &is), LG_EINVAL);
    cr_assert_eq(lg_clients_add(cs, "", LG_ROLE_REPORTING, ok, 1, h2, &is), LG_EINVAL);
    cr_assert_eq(lg_clients_add(cs, "b", LG_ROLE_NONE, ok, 1, h2, &is), LG_EINVAL);
    cr_assert_eq(lg_clients_add(cs, "b", LG_ROLE_REPORTING, ok, 0, h2, &is), LG_EINVAL);
    const char *bad[][1] = {{"Organization"}, {"organization/a"}, {"Organization/"},
                            {"Organization/a/b"}, {"http://x/Organization/a"}, {"Organization/a b"}};
    for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(lg_clients_add(cs, "b", LG_ROLE_REPORTING, bad[i], 1, h2, &is), LG_EINVAL,
                     "%s", bad[i][0]);
    cr_assert_eq(lg_clients_count(cs), 1);
    cr_assert(lg_auth_valid_ref("PractitionerRole/cm-3.x"));
    lg_actor_role r;
    cr_assert_eq(lg_auth_role_parse("referral-recipient", &r), LG_OK);
    cr_assert_eq(r, LG_ROLE_REFERRAL_RECIPIENT);
    cr_assert_eq(lg_auth_role_parse("none", &r), LG_EINVAL);
    cr_assert_eq(lg_auth_role_parse("Coordination", &r), LG_EINVAL);
    cr_assert_str_eq(lg_auth_role_name(LG_ROLE_COORDINATION), "coordination");
    lg_clients_free(cs);
    lg_issues_free(&is);
}

Test(auth, bad_files_say_which_file_and_what)
{
    cr_assert_not_null(strstr(load_fails(LG_ENOTFOUND), "clients.json"));
    write_file("{\"clients\": [");
    const char *m = load_fails(LG_EINVAL);
    cr_assert(strstr(m, "clients.json") && strstr(m, "JSON"), "%s", m);
    write_file("[]");
    cr_assert_not_null(strstr(load_fails(LG_EINVAL), "{\"clients\""));
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"clients\":[{\"id\":\"ok\",\"role\":\"reporting\",\"actsFor\":[\"Organization/a\"],"
             "\"tokenSha256\":\"%s\"},{\"id\":\"cbo-2\",\"role\":\"boss\",\"actsFor\":"
             "[\"Organization/b\"],\"tokenSha256\":\"%s\"}]}", HASH0, HASH0);
    write_file(buf);
    m = load_fails(LG_EINVAL);
    cr_assert(strstr(m, "clients.json: client 2 (cbo-2)") && strstr(m, "unknown role 'boss'"),
              "%s", m);
    snprintf(buf, sizeof(buf),
             "{\"clients\":[{\"id\":\"x\",\"role\":\"reporting\",\"actsFor\":[\"Organization/a\"],"
             "\"tokenSha256\":\"abc\"}]}");
    write_file(buf);
    cr_assert_not_null(strstr(load_fails(LG_EINVAL), "64 hex digits"));
    snprintf(buf, sizeof(buf),
             "{\"clients\":[{\"id\":\"x\",\"role\":\"reporting\",\"actsFor\":[\"Org a\"],"
             "\"tokenSha256\":\"%s\"}]}", HASH0);
    write_file(buf);
    cr_assert_not_null(strstr(load_fails(LG_EINVAL), "'Org a' is not a reference"));
    snprintf(buf, sizeof(buf),
             "{\"clients\":[{\"id\":\"x\",\"role\":\"reporting\",\"actsFor\":\"Organization/a\","
             "\"tokenSha256\":\"%s\"}]}", HASH0);
    write_file(buf);
    cr_assert_not_null(strstr(load_fails(LG_EINVAL), "actsFor"));
    snprintf(buf, sizeof(buf),
             "{\"clients\":[{\"id\":\"x\",\"role\":\"reporting\",\"actsFor\":[\"Organization/a\"],"
             "\"tokenSha256\":\"%s\",\"unrestricted\":\"yes\"}]}", HASH0);
    write_file(buf);
    cr_assert_not_null(strstr(load_fails(LG_EINVAL), "\"unrestricted\" must be true or false"));
    /* the same client twice */
    snprintf(buf, sizeof(buf),
             "{\"clients\":[{\"id\":\"x\",\"role\":\"reporting\",\"actsFor\":[\"Organization/a\"],"
             "\"tokenSha256\":\"%s\"},{\"id\":\"x\",\"role\":\"reporting\",\"actsFor\":"
             "[\"Organization/a\"],\"tokenSha256\":\"%s\"}]}", HASH0, HASH0);
    write_file(buf);
    cr_assert_not_null(strstr(load_fails(LG_ECONFLICT), "client 2 (x)"));
    /* too many references */
    char refs[2048] = "";
    for(int i = 0; i <= LG_AUTH_MAX_REFS; i++) {
        char one[40];
        snprintf(one, sizeof(one), "%s\"Organization/o%d\"", i ? "," : "", i);
        strncat(refs, one, sizeof(refs) - strlen(refs) - 1);
    }
    char *big = malloc(4096);
    snprintf(big, 4096, "{\"clients\":[{\"id\":\"x\",\"role\":\"reporting\",\"actsFor\":[%s],"
             "\"tokenSha256\":\"%s\"}]}", refs, HASH0);
    write_file(big);
    free(big);
    cr_assert_not_null(strstr(load_fails(LG_ETOOLARGE), "references"));
    /* a file over the size bound is refused before parsing */
    size_t n = LG_AUTH_MAX_FILE + 10;
    char *huge = malloc(n + 1);
    memset(huge, ' ', n);
    huge[n] = '\0';
    write_file(huge);
    free(huge);
    load_fails(LG_ETOOLARGE);
}

Test(auth, too_many_clients_in_a_file)
{
    size_t cap = (size_t)(LG_AUTH_MAX_CLIENTS + 1) * 40 + 64, o = 0;
    char *t = malloc(cap);
    o += (size_t)snprintf(t + o, cap - o, "{\"clients\":[");
    for(int i = 0; i <= LG_AUTH_MAX_CLIENTS; i++)
        o += (size_t)snprintf(t + o, cap - o, "%s{}", i ? "," : "");
    snprintf(t + o, cap - o, "]}");
    write_file(t);
    free(t);
    cr_assert_not_null(strstr(load_fails(LG_ETOOLARGE), "more than"));
}

Test(auth, bearer_header)
{
    size_t n = 0;
    const char *t = lg_auth_bearer("Bearer abc.def", &n);
    cr_assert(t && n == 7 && strncmp(t, "abc.def", n) == 0);
    t = lg_auth_bearer("  bearer \t xyz  ", &n);
    cr_assert(t && n == 3 && strncmp(t, "xyz", 3) == 0);
    cr_assert_null(lg_auth_bearer("Basic dXNlcjpwYXNz", &n));
    cr_assert_null(lg_auth_bearer("Bearer", &n));
    cr_assert_null(lg_auth_bearer("Bearer   ", &n));
    cr_assert_null(lg_auth_bearer("Bearerabc", &n));
    cr_assert_null(lg_auth_bearer(NULL, &n));
}
