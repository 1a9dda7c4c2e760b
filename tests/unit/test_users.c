/* test_users.c - the users file: names, parsing, hashing, verification with
 * its credential cache and reload rules, atomic edits under a lock. */
#include "check.h"
#include "users.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256], path[300];

static void write_file(const char *p, const char *text)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.w", p);
    FILE *f = fopen(tmp, "w");
    fputs(text, f);
    fclose(f);
    rename(tmp, p);   /* a new inode, as an editor or the admin command makes */
}

static void collect(const vd_user *u, void *ctx)
{
    char *acc = ctx;
    size_t n = strlen(acc);
    snprintf(acc + n, 1024 - n, "%s|%s|%s;", u->name, u->displayname ? u->displayname : "-",
             u->email ? u->email : "-");
}

static void test_names(void)
{
    CHECK(vd_users_name_valid("alice"));
    CHECK(vd_users_name_valid("a.b_c-d@example.com"));
    CHECK(vd_users_name_valid("A9"));
    CHECK(!vd_users_name_valid(""));
    CHECK(!vd_users_name_valid(NULL));
    CHECK(!vd_users_name_valid(".hidden"));
    CHECK(!vd_users_name_valid("a b"));
    CHECK(!vd_users_name_valid("a:b"));
    CHECK(!vd_users_name_valid("a/b"));
    CHECK(!vd_users_name_valid("caf\xc3\xa9"));
    char n64[65], n65[66];
    memset(n64, 'x', 64);
    n64[64] = '\0';
    memset(n65, 'x', 65);
    n65[65] = '\0';
    CHECK(vd_users_name_valid(n64));
    CHECK(!vd_users_name_valid(n65));
}

static void test_hash(void)
{
    char *h = vd_users_hash_password("s3cret");
    CHECK(h && strncmp(h, "$y$", 3) == 0);
    char *h2 = vd_users_hash_password("s3cret");
    CHECK(h && h2 && strcmp(h, h2) != 0);   /* fresh salt each time */
    CHECK(vd_users_hash_password("") == NULL);
    free(h);
    free(h2);
}

static void test_round_trip(void)
{
    vd_diag d = {0};
    char acc[1024] = "";
    CHECK_INT(vd_users_add(path, "alice", "pw-a", "Alice Smith", "alice@example.com", &d), VD_OK);
    CHECK_INT(vd_users_add(path, "bob", "pw-b", NULL, NULL, &d), VD_OK);
    CHECK_INT(vd_users_add(path, "carol", "pw-c", NULL, "carol@example.com", &d), VD_OK);
    CHECK_INT(vd_users_add(path, "alice", "other", NULL, NULL, &d), VD_EEXISTS);
    CHECK(strstr(d.message, "already exists") != NULL);
    CHECK_INT(vd_users_add(path, ".bad", "pw", NULL, NULL, &d), VD_EINVAL);
    CHECK_INT(vd_users_add(path, "a b", "pw", NULL, NULL, &d), VD_EINVAL);
    CHECK_INT(vd_users_add(path, "dave", "", NULL, NULL, &d), VD_EINVAL);
    CHECK_INT(vd_users_add(path, "dave", "pw", "Dave: the boss", NULL, &d), VD_EINVAL);
    CHECK_INT(vd_users_add(path, "dave", "pw", "two\nlines", NULL, &d), VD_EINVAL);
    CHECK_INT(vd_users_add(path, "dave", "pw", NULL, "not-an-address", &d), VD_EINVAL);
    CHECK_INT(vd_users_list(path, collect, acc, &d), VD_OK);
    CHECK_STR(acc, "alice|Alice Smith|alice@example.com;bob|-|-;carol|-|carol@example.com;");

    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    char lock[400];
    snprintf(lock, sizeof lock, "%s.lock", path);
    CHECK(access(lock, F_OK) == 0);

    CHECK_INT(vd_users_passwd(path, "bob", "pw-b2", &d), VD_OK);
    CHECK_INT(vd_users_passwd(path, "nobody", "x", &d), VD_ENOTFOUND);
    CHECK_INT(vd_users_del(path, "carol", &d), VD_OK);
    CHECK_INT(vd_users_del(path, "carol", &d), VD_ENOTFOUND);
    acc[0] = '\0';
    CHECK_INT(vd_users_list(path, collect, acc, &d), VD_OK);
    CHECK_STR(acc, "alice|Alice Smith|alice@example.com;bob|-|-;");

    vd_users *u = NULL;
    CHECK_INT(vd_users_load(path, &u, &d), VD_OK);
    CHECK_INT(vd_users_count(u), 2);
    const vd_user *bob = vd_users_find(u, "bob");
    CHECK(bob && strncmp(bob->hash, "$y$", 3) == 0);
    CHECK(vd_users_find(u, "carol") == NULL);
    vd_users_free(u);
    vd_users_free(NULL);
}

static void test_parse_errors(void)
{
    char p[400];
    vd_users *u = NULL;
    vd_diag d = {0};
    snprintf(p, sizeof p, "%s/parse", dir);
    CHECK_INT(vd_users_load(p, &u, &d), VD_OK);   /* missing: empty list */
    CHECK_INT(vd_users_count(u), 0);
    vd_users_free(u);

    write_file(p, "# comment\n\nann:$y$abc:Ann Lee:ann@x.org\r\nben:$y$def\n");
    CHECK_INT(vd_users_load(p, &u, &d), VD_OK);
    CHECK_INT(vd_users_count(u), 2);
    CHECK_STR(vd_users_get(u, 0)->displayname, "Ann Lee");
    CHECK_STR(vd_users_get(u, 0)->email, "ann@x.org");
    vd_users_free(u);

    write_file(p, "ann:$y$abc\n# ok\nben $y$def\n");
    CHECK_INT(vd_users_load(p, &u, &d), VD_EINVAL);
    CHECK(u == NULL);
    char want[512];
    snprintf(want, sizeof want, "%s:3: ", p);
    CHECK(strncmp(d.message, want, strlen(want)) == 0);

    write_file(p, "ann:$y$abc\nann:$y$def\n");
    CHECK_INT(vd_users_load(p, &u, &d), VD_EINVAL);
    CHECK(strstr(d.message, ":2: duplicate user 'ann' (first on line 1)") != NULL);

    write_file(p, "ann:\n");
    CHECK_INT(vd_users_load(p, &u, &d), VD_EINVAL);
    write_file(p, "ann:$y$a:Ann:a@b:extra\n");
    CHECK_INT(vd_users_load(p, &u, &d), VD_EINVAL);
    CHECK(strstr(d.message, ":1: too many") != NULL);

    /* A broken file is never edited. */
    write_file(p, "ann:$y$abc\nbad line\n");
    CHECK_INT(vd_users_add(p, "zed", "pw", NULL, NULL, &d), VD_EINVAL);
    CHECK(strstr(d.message, ":2: ") != NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_verify_and_cache(void)
{
    vd_userdb *db = NULL;
    vd_userdb_stats st;
    vd_diag d = {0};
    char *dn = NULL, *em = NULL;
    CHECK_INT(vd_userdb_open(path, &db, &d), VD_OK);
    CHECK(vd_userdb_verify(db, "alice", "pw-a", &dn, &em));
    CHECK_STR(dn, "Alice Smith");
    CHECK_STR(em, "alice@example.com");
    free(dn);
    free(em);
    CHECK(!vd_userdb_verify(db, "alice", "wrong", &dn, NULL));
    CHECK(dn == NULL);
    CHECK(!vd_userdb_verify(db, "nobody", "pw-a", NULL, NULL));
    CHECK(!vd_userdb_verify(db, "alice", "", NULL, NULL));
    CHECK(!vd_userdb_verify(db, "bob", "pw-b", NULL, NULL));   /* the old one */
    CHECK(vd_userdb_verify(db, "bob", "pw-b2", NULL, NULL));
    CHECK(vd_userdb_lookup(db, "bob", NULL, NULL));
    CHECK(!vd_userdb_lookup(db, "carol", NULL, NULL));

    /* A failure is never cached: the same wrong pair runs crypt again. */
    vd_userdb_stats_get(db, &st);
    uint64_t misses = st.cache_misses, hits = st.cache_hits;
    CHECK(!vd_userdb_verify(db, "alice", "wrong", NULL, NULL));
    vd_userdb_stats_get(db, &st);
    CHECK_INT(st.cache_misses, misses + 1);
    CHECK_INT(st.cache_hits, hits);

    /* The same good pair again: answered from the cache, fast (100 hits
     * take less than 20 full verifications; without the cache, 100). */
    double t0 = now_s();
    CHECK(!vd_userdb_verify(db, "bob", "not-it", NULL, NULL));
    double one_crypt = now_s() - t0;
    t0 = now_s();
    int good = 0;
    for (int i = 0; i < 100; i++)
        good += vd_userdb_verify(db, "alice", "pw-a", NULL, NULL);
    double dt = now_s() - t0;
    CHECK_INT(good, 100);
    vd_userdb_stats_get(db, &st);
    CHECK_INT(st.cache_hits, hits + 100);
    CHECK(dt < 20 * one_crypt);

    /* passwd changes the file: after the next stat (<= 1 s) the cache is
     * gone and the old password fails, the new one works. */
    CHECK_INT(vd_users_passwd(path, "alice", "pw-a2", &d), VD_OK);
    usleep(1100 * 1000);
    CHECK(!vd_userdb_verify(db, "alice", "pw-a", NULL, NULL));
    CHECK(vd_userdb_verify(db, "alice", "pw-a2", NULL, NULL));
    vd_userdb_stats_get(db, &st);
    CHECK(st.reloads >= 1);

    /* A syntax error is not applied: the old users stay in force. */
    char *saved = NULL;
    size_t n = 0;
    FILE *f = fopen(path, "r");
    CHECK(f && getdelim(&saved, &n, '\0', f) > 0);
    fclose(f);
    write_file(path, "alice:$y$x\nthis is not a user line\n");
    d.message[0] = '\0';
    CHECK_INT(vd_userdb_reload(db, &d), VD_EINVAL);
    CHECK(strstr(d.message, ":2: ") != NULL);
    CHECK(vd_userdb_verify(db, "alice", "pw-a2", NULL, NULL));
    CHECK(vd_userdb_verify(db, "bob", "pw-b2", NULL, NULL));
    usleep(1100 * 1000);   /* the periodic check does not apply it either */
    CHECK(vd_userdb_lookup(db, "bob", NULL, NULL));
    vd_userdb_stats_get(db, &st);
    CHECK_INT(st.users, 2);
    CHECK(st.reload_errors >= 1);

    /* Fixed again: applied on SIGHUP-style reload. */
    write_file(path, saved);
    CHECK_INT(vd_userdb_reload(db, &d), VD_OK);
    CHECK(vd_userdb_verify(db, "bob", "pw-b2", NULL, NULL));
    free(saved);
    vd_userdb_close(db);
    vd_userdb_close(NULL);
}

static void name_cb(const char *name, void *ctx)
{
    char *acc = ctx;
    strncat(acc, name, 1000 - strlen(acc));
    strncat(acc, ",", 1000 - strlen(acc));
}

static void test_each_sorted(void)
{
    char p[400], acc[1024] = "";
    vd_userdb *db = NULL;
    vd_diag d = {0};
    snprintf(p, sizeof p, "%s/each", dir);
    write_file(p, "zoe:$y$a\nadam:$y$b\nmia:$y$c\n");
    CHECK_INT(vd_userdb_open(p, &db, &d), VD_OK);
    vd_userdb_each(db, name_cb, acc);
    CHECK_STR(acc, "adam,mia,zoe,");
    vd_userdb_close(db);
    write_file(p, "zoe:$y$a\nzoe:$y$b\n");
    CHECK_INT(vd_userdb_open(p, &db, &d), VD_EINVAL);
    CHECK(db == NULL);
}

typedef struct hammer {
    vd_userdb *db;
    int ok, bad;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < 40; i++) {
        char *dn = NULL;
        if (vd_userdb_verify(h->db, "ann", "pw", &dn, NULL) && dn && strcmp(dn, "Ann") == 0)
            h->ok++;
        else
            h->bad++;
        free(dn);
        if (!vd_userdb_lookup(h->db, "ann", NULL, NULL))
            h->bad++;
    }
    return NULL;
}

/* Readers verify while the file is replaced and reloaded under them: every
 * answer is right and nothing is torn (run under ASan). */
static void test_threads(void)
{
    char p[400], line[256];
    vd_userdb *db = NULL;
    vd_diag d = {0};
    snprintf(p, sizeof p, "%s/threads", dir);
    char *hash = vd_users_hash_password("pw");
    snprintf(line, sizeof line, "ann:%s:Ann\nzed:$y$x\n", hash);
    write_file(p, line);
    CHECK_INT(vd_userdb_open(p, &db, &d), VD_OK);
    pthread_t t[4];
    hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (hammer){ .db = db };
        pthread_create(&t[i], NULL, hammer_run, &h[i]);
    }
    int reload_ok = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(line, sizeof line, "ann:%s:Ann\nu%d:$y$x\n", hash, i);
        write_file(p, line);
        reload_ok += vd_userdb_reload(db, &d) == VD_OK;
    }
    int ok = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ok += h[i].ok;
        bad += h[i].bad;
    }
    CHECK_INT(reload_ok, 10);
    CHECK_INT(ok, 160);
    CHECK_INT(bad, 0);
    CHECK(vd_userdb_lookup(db, "u9", NULL, NULL));
    CHECK(!vd_userdb_lookup(db, "zed", NULL, NULL));
    vd_userdb_close(db);
    free(hash);
}

/* Two processes adding users at the same time: the lock keeps every add. */
static void test_concurrent_adds(void)
{
    char p[400];
    snprintf(p, sizeof p, "%s/conc", dir);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            int bad = 0;
            for (int i = 0; i < 12; i++) {
                char name[32];
                snprintf(name, sizeof name, "p%d-u%d", k, i);
                if (vd_users_add(p, name, "pw", NULL, NULL, NULL) != VD_OK)
                    bad++;
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status = -1;
        waitpid(kids[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    vd_users *u = NULL;
    CHECK_INT(vd_users_load(p, &u, NULL), VD_OK);
    CHECK_INT(vd_users_count(u), 24);
    CHECK(vd_users_find(u, "p0-u11") && vd_users_find(u, "p1-u11"));
    vd_users_free(u);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vd-users-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/users", dir);
    test_names();
    test_hash();
    test_round_trip();
    test_parse_errors();
    test_verify_and_cache();
    test_each_sorted();
    test_threads();
    test_concurrent_adds();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
