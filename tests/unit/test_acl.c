/* test_acl.c - lib/acl.c: parse errors with line and column, the example
 * organisation's permission table, pattern and variable semantics, the
 * privilege closure, deciding lines, explain texts, the holder's reload
 * (a broken file keeps the rules in force) and acquire/release from
 * several threads while reloading.  Prints the cost of a check. */
#define _POSIX_C_SOURCE 200809L
#include "acl.h"
#include "check.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { FB = VD_ACL_FREEBUSY, MASK = 3, READ = 7, WRITE = 15, ADMIN = 31 };

static char src_root[PATH_MAX];

static void find_src_root(void)
{
    const char *env = getenv("VISITDAV_SRC");
    int dirlen = (int)(strrchr(__FILE__, '/') - __FILE__);
    if (env) {
        snprintf(src_root, sizeof src_root, "%s", env);
    } else if (__FILE__[0] == '/') {
        snprintf(src_root, sizeof src_root, "%.*s/../..", dirlen, __FILE__);
    } else {   /* __FILE__ is relative to the build dir, which holds tests/test_acl */
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(src_root, sizeof src_root, "%.*s/../%.*s/../..", PATH_MAX / 2, exe, dirlen, __FILE__);
    }
}

static vd_acl *parse(const char *text)
{
    vd_acl *a = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    if (vd_acl_parse("t.conf", text, strlen(text), &a, &d) != VD_OK)
        fprintf(stderr, "unexpected parse error: %s\n", d.message);
    return a;
}

/* ---------------------------------------------------------------- */

static void test_privs(void)
{
    unsigned p = 0;
    CHECK_INT(vd_acl_closure(VD_ACL_WRITE), WRITE);
    CHECK_INT(vd_acl_closure(VD_ACL_MASKED), MASK);
    CHECK_INT(vd_acl_closure(VD_ACL_FREEBUSY | VD_ACL_READ), READ);
    CHECK_INT(vd_acl_closure(VD_ACL_ADMIN), ADMIN);
    CHECK_INT(vd_acl_closure(0), 0);
    CHECK_STR(vd_acl_priv_name(VD_ACL_MASKED), "read-masked");
    CHECK_STR(vd_acl_priv_name(VD_ACL_FREEBUSY), "read-free-busy");
    CHECK(vd_acl_priv_name(VD_ACL_READ | VD_ACL_WRITE) == NULL);
    CHECK(vd_acl_priv_parse("write", &p) && p == VD_ACL_WRITE);
    CHECK(!vd_acl_priv_parse("Write", &p));
}

/* Each broken text fails with exactly this first "t.conf:L:C: ..." and a
 * reason containing why. */
static const struct { const char *text; int line, col; const char *why; } bad[] = {
    { "[foo]\n", 1, 2, "unknown section 'foo'" },
    { "# org\n\n[team east]\nmembrs = alice\n", 4, 1, "unknown key 'membrs'" },
    { "[role ops]\nmanagers = olivia\n", 2, 1, "unknown key 'managers'" },
    { "[team east]\n[team west]\n[team east]\n", 3, 7, "duplicate team 'east' (first declared on line 1)" },
    { "[role r]\n[role  r]\n", 2, 8, "duplicate role 'r'" },
    { "[team east]\nmembers = alice, bob, alice\n", 2, 23, "user 'alice' is listed twice" },
    { "[team east]\nmanagers = carol\nmanagers = dan, carol\n", 3, 17, "listed twice" },
    { "[rules]\nallow read, raed on /x to everyone\n", 2, 13, "unknown privilege 'raed'" },
    { "[rules]\nallow read on calendars/** to everyone\n", 2, 15, "absolute path" },
    { "[rules]\nallow read on /a/**/b to everyone\n", 2, 18, "'**' must be the last segment" },
    { "[rules]\nallow read on /calendars/{usr}/** to everyone\n", 2, 26, "unknown variable '{usr}'" },
    { "[rules]\nallow read on /x to team nope\n", 2, 26, "unknown team 'nope'" },
    { "[rules]\nallow read on /x to role boss\n", 2, 26, "unknown role 'boss'" },
    { "[rules]\nallow read on /x to managers of nope\n", 2, 33, "unknown team 'nope'" },
    { "[team east]\nmembers = alice, b/ob\n", 2, 18, "bad user name 'b/ob'" },
    { "[rules]\nallow read on /x to user .hidden\n", 2, 26, "bad user name '.hidden'" },
    { "[team e ast]\n", 1, 9, "expected ']'" },
    { "[team east] extra\n", 1, 13, "trailing garbage 'extra'" },
    { "[rules]\nallow read on /x to everyone please\n", 2, 30, "trailing garbage 'please'" },
    { "members = alice\n", 1, 1, "expected a section" },
    { "[rules]\n  deny read on /x to everyone\n", 2, 3, "no deny rules" },
    { "[rules]\nallow read /x to everyone\n", 2, 12, "expected 'on'" },
    { "[rules]\nallow read on /x everyone\n", 2, 18, "expected 'to'" },
    { "[rules]\nallow read on /x to somebody\n", 2, 21, "unknown subject 'somebody'" },
    { "[rules]\nallow read on /x//y to everyone\n", 2, 18, "empty segment" },
    { "[rules]\nallow read on /a/b*.ics to everyone\n", 2, 19, "whole segments" },
    { "[rules]\nallow read on /a/../b to everyone\n", 2, 18, "'..'" },
    { "[team east]\nmembers = alice,\n", 2, 17, "expected a user name" },
    { "[team east]\nmembers alice\n", 2, 9, "expected '='" },
    { "[team east]\nmembers = alice bob\n", 2, 17, "expected ','" },
    { "[team]\n", 1, 6, "missing team name" },
    { "[rules]\nallow read, on /x to everyone\n", 2, 13, "unknown privilege 'on'" },
    { "[rules]\nallow read on /x to managers east\n", 2, 30, "expected 'of'" },
    { "[rules]\nallow read on /x to team\n", 2, 25, "expected a team name" },
    { "[rules]\nallow read,\n", 2, 12, "expected a privilege" },
    /* columns count characters, tabs are one column, CRLF is a line end */
    { "[rules]\r\nallow read on /kalender/\xc3\xbc/{x} to everyone\r\n", 2, 27, "unknown variable '{x}'" },
    { "[rules]\n\tallow read on /x to everybody\n", 2, 22, "unknown subject" },
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vd_acl *a = (vd_acl *)1;
        vd_diag d;
        memset(&d, 0, sizeof d);
        vd_err e = vd_acl_parse("t.conf", bad[i].text, strlen(bad[i].text), &a, &d);
        char want[64];
        snprintf(want, sizeof want, "t.conf:%d:%d: ", bad[i].line, bad[i].col);
        bool ok = e == VD_EINVAL && a == NULL && strncmp(d.message, want, strlen(want)) == 0 &&
                  strstr(d.message, bad[i].why);
        if (!ok)
            fprintf(stderr, "case %zu: want %s...%s, got %s\n", i, want, bad[i].why, d.message);
        CHECK(ok);
    }
}

/* every error of a file, sorted by line, the "unknown team" found after
 * the whole file was read in its place */
static void test_all_errors(void)
{
    const char *text = "[rules]\n"
                       "allow read on /teams/x/** to team ghost\n"   /* 2: unknown team */
                       "allow red on /x to everyone\n"              /* 3 */
                       "allow read on /teams/{team}/** to team east\n"
                       "[team east]\n"                              /* declared after use: fine */
                       "members = alice\n"
                       "[bogus]\n"                                  /* 7 */
                       "members = whatever\n";                      /* skipped: broken section */
    vd_buf b = VD_BUF_INIT;
    size_t n = vd_acl_check_text("acl.conf", text, strlen(text), &b);
    CHECK_INT(n, 3);
    CHECK_STR(b.data, "acl.conf:2:35: unknown team 'ghost'\n"
                      "acl.conf:3:7: unknown privilege 'red' (read-free-busy, read-masked, read, write, admin)\n"
                      "acl.conf:7:2: unknown section 'bogus' (team NAME, role NAME or rules)\n");
    vd_buf_reset(&b);
    CHECK_INT(vd_acl_check_text("ok.conf", "[rules]\n", 8, &b), 0);
    CHECK_INT(b.len, 0);
    CHECK_INT(vd_acl_check_file("/nonexistent/acl.conf", &b), 1);
    CHECK(b.data && strstr(b.data, "/nonexistent/acl.conf: cannot read"));
    vd_buf_free(&b);

    static const char nul[] = "[rules]\nallow read on /x\0 to everyone\n";
    vd_acl *a = NULL;
    vd_diag d;
    CHECK(vd_acl_parse("t.conf", nul, sizeof nul - 1, &a, &d) == VD_EINVAL && !a);
    CHECK(strncmp(d.message, "t.conf:2:17: NUL byte", 21) == 0);
    char *longline = malloc(70000);
    memset(longline, ' ', 70000);
    memcpy(longline, "[rules]\n", 8);
    CHECK(vd_acl_parse("t.conf", longline, 70000, &a, &d) == VD_EINVAL && !a);
    CHECK(strstr(d.message, "t.conf:2:1: line longer than") == d.message);
    free(longline);

    a = parse("# nothing but a comment\n\n");
    CHECK(a && vd_acl_rule_count(a) == 2);   /* the two built-in rules */
    vd_acl_free(a);
    vd_acl_free(NULL);
}

/* ---------------------------------------------------------------- */
/* the example organisation                                           */

static vd_acl *example;
static char example_text[8192];

static void load_example(void)
{
    char path[PATH_MAX + 64];
    vd_diag d;
    memset(&d, 0, sizeof d);
    snprintf(path, sizeof path, "%s/conf/acl.conf.example", src_root);
    CHECK(vd_acl_load(path, &example, &d) == VD_OK);
    if (!example) {
        fprintf(stderr, "example: %s\n", d.message);
        exit(1);
    }
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(example_text, 1, sizeof example_text - 1, f) : 0;
    example_text[n] = '\0';
    if (f)
        fclose(f);
    vd_buf b = VD_BUF_INIT;
    CHECK_INT(vd_acl_check_file(path, &b), 0);
    vd_buf_free(&b);
}

/* line number of the first line of the example starting with prefix */
static int line_of(const char *prefix)
{
    int line = 1;
    for (const char *c = example_text; *c; line++) {
        if (strncmp(c, prefix, strlen(prefix)) == 0)
            return line;
        c = strchr(c, '\n');
        if (!c)
            break;
        c++;
    }
    return -2;
}

static void test_example_teams(void)
{
    const vd_acl *a = example;
    size_t n = 0;
    CHECK_INT(vd_acl_team_count(a), 2);
    CHECK_STR(vd_acl_team_name(a, 0), "east");
    CHECK_STR(vd_acl_team_name(a, 1), "west");
    CHECK(vd_acl_team_name(a, 2) == NULL);
    CHECK(vd_acl_team_exists(a, "west") && !vd_acl_team_exists(a, "north"));
    CHECK(vd_acl_is_member(a, "east", "bob") && !vd_acl_is_member(a, "east", "carol"));
    CHECK(vd_acl_is_manager(a, "east", "carol") && !vd_acl_is_manager(a, "west", "carol"));
    const char *const *m = vd_acl_team_members(a, "west", &n);
    CHECK(n == 2 && m && strcmp(m[0], "dan") == 0 && strcmp(m[1], "erin") == 0);
    m = vd_acl_team_managers(a, "east", &n);
    CHECK(n == 1 && m && strcmp(m[0], "carol") == 0);
    CHECK(vd_acl_team_members(a, "north", &n) == NULL && n == 0);
    CHECK_STR(vd_acl_team_of(a, "erin"), "west");
    CHECK(vd_acl_team_of(a, "carol") == NULL);   /* a manager, not a member */
    CHECK(vd_acl_team_of(a, "nobody") == NULL);
    CHECK(vd_acl_has_role(a, "executives", "grace") && !vd_acl_has_role(a, "ops", "grace"));
    CHECK(vd_acl_has_role(a, "ops", "olivia") && !vd_acl_has_role(a, "nope", "olivia"));
}

/* user x path -> exact privileges (closure) */
static const struct { const char *user, *path; unsigned want; } table[] = {
    /* a rep: own home, own principal, team calendars, peer, other team */
    { "alice", "/calendars/alice/", ADMIN },
    { "alice", "/calendars/alice/visits/x.ics", ADMIN },
    { "alice", "/principals/users/alice/", ADMIN },
    { "alice", "/principals/users/bob/", 0 },
    { "alice", "/teams/east/visits/", READ },
    { "alice", "/teams/east/shared/x.ics", WRITE },
    { "alice", "/teams/east/", READ },
    { "alice", "/teams/west/visits/", 0 },
    { "alice", "/teams/west/shared/y.ics", 0 },
    { "alice", "/calendars/bob/visits/", MASK },
    { "alice", "/calendars/bob/visits/v.ics", MASK },
    { "alice", "/calendars/carol/visits/", FB },   /* the manager is not a teammate of reps */
    { "alice", "/calendars/dan/visits/", FB },
    { "alice", "/calendars/", 0 },
    { "alice", "/", 0 },
    { "bob", "/calendars/alice/visits/", MASK },
    { "bob", "/calendars/bob/visits/", ADMIN },
    /* the manager of east: reports, own team, another team */
    { "carol", "/calendars/alice/visits/", WRITE },
    { "carol", "/calendars/bob/visits/b.ics", WRITE },
    { "carol", "/calendars/carol/visits/", ADMIN },
    { "carol", "/teams/east/visits/", READ },
    { "carol", "/teams/east/shared/", WRITE },
    { "carol", "/calendars/dan/visits/", FB },
    { "carol", "/teams/west/visits/", 0 },
    { "frank", "/calendars/erin/visits/", WRITE },
    { "frank", "/calendars/alice/visits/", FB },
    { "dan", "/calendars/erin/visits/", MASK },
    { "dan", "/calendars/frank/visits/", FB },
    { "dan", "/teams/west/shared/s.ics", WRITE },
    { "dan", "/teams/east/shared/s.ics", 0 },
    /* executive and ops */
    { "grace", "/calendars/alice/visits/", READ },
    { "grace", "/teams/west/shared/s.ics", READ },
    { "grace", "/", READ },
    { "grace", "/calendars/grace/", ADMIN },
    { "olivia", "/calendars/alice/visits/x.ics", ADMIN },
    { "olivia", "/teams/east/visits/", ADMIN },
    { "olivia", "/", ADMIN },
    /* a user the file does not name: own home, everyone's free-busy */
    { "zoe", "/calendars/zoe/visits/", ADMIN },
    { "zoe", "/calendars/alice/visits/", FB },
    { "zoe", "/teams/east/visits/", 0 },
    /* variables bind to existing names only */
    { "alice", "/teams/nowhere/visits/", 0 },
    { "carol", "/calendars/zoe/visits/", FB },
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        unsigned got = vd_acl_privs(example, table[i].user, table[i].path, NULL);
        if (got != table[i].want)
            fprintf(stderr, "table %zu: %s %s: want %u got %u\n", i, table[i].user,
                    table[i].path, table[i].want, got);
        CHECK_INT(got, table[i].want);
    }
    /* unauthenticated: nothing, not even "everyone" rules */
    CHECK_INT(vd_acl_privs(example, NULL, "/calendars/alice/", NULL), 0);
    CHECK_INT(vd_acl_privs(example, "", "/calendars/alice/", NULL), 0);
    CHECK_INT(vd_acl_privs(NULL, "alice", "/calendars/alice/", NULL), 0);
    CHECK_INT(vd_acl_privs(example, "alice", "calendars/alice/", NULL), 0);
}

static void test_deciding(void)
{
    int line = 99;
    CHECK_INT(vd_acl_privs(example, "alice", "/calendars/alice/visits/", &line), ADMIN);
    CHECK_INT(line, 0);
    CHECK_INT(vd_acl_privs(example, "bob", "/calendars/alice/visits/", &line), MASK);
    CHECK_INT(line, line_of("allow read-masked on /calendars/{teammate}/**"));
    CHECK_INT(vd_acl_privs(example, "carol", "/calendars/alice/visits/", &line), WRITE);
    CHECK_INT(line, line_of("allow write on /calendars/{report}/**"));
    vd_acl_privs(example, "zoe", "/calendars/alice/", &line);
    CHECK_INT(line, line_of("allow read-free-busy on /calendars/*/**"));
    vd_acl_privs(example, "grace", "/teams/east/", &line);
    CHECK_INT(line, line_of("allow read on /** to role executives"));
    vd_acl_privs(example, "alice", "/teams/west/", &line);
    CHECK_INT(line, -1);
    CHECK(line_of("allow read on /teams/{team}/**") > 0);
    /* the first rule granting the highest privilege held, not the last */
    vd_acl *a = parse("[rules]\n"
                      "allow read on /x/** to everyone\n"
                      "allow read-masked on /x/y/** to everyone\n"
                      "allow read on /x/y/** to everyone\n"
                      "allow write on /x/y/z to everyone\n");
    CHECK_INT(vd_acl_privs(a, "u", "/x/y/", &line), READ);
    CHECK_INT(line, 2);
    CHECK_INT(vd_acl_privs(a, "u", "/x/y/z/", &line), WRITE);
    CHECK_INT(line, 5);
    vd_acl_free(a);
}

/* '**', '*', trailing slashes, literal segments */
static void test_patterns(void)
{
    vd_acl *a = parse("[rules]\n"
                      "allow read on /calendars/bob/** to user u\n"
                      "allow read-masked on /cal/*/visits to user u\n"
                      "allow read on /exact/ to user u\n"
                      "allow read on /** to user root\n"
                      "allow write on / to user w\n"
                      "allow read on /deep/*/** to user u\n");
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_INT(vd_acl_privs(a, "u", "/calendars/bob/", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "u", "/calendars/bob", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "u", "/calendars/bob/visits/x.ics", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "u", "/calendars/", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "u", "/calendars/bobby/", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "u", "/cal/x/visits/", NULL), MASK);
    CHECK_INT(vd_acl_privs(a, "u", "/cal/x/visits", NULL), MASK);
    CHECK_INT(vd_acl_privs(a, "u", "/cal/x/visits/e.ics", NULL), 0);   /* no '**' */
    CHECK_INT(vd_acl_privs(a, "u", "/cal/visits/", NULL), 0);          /* '*' is one segment */
    CHECK_INT(vd_acl_privs(a, "u", "/exact", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "u", "/exact/x", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "root", "/", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "root", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/1/2/3/4/5/6/7/8/9/", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "w", "/", NULL), WRITE);
    CHECK_INT(vd_acl_privs(a, "w", "/x", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "u", "/deep/", NULL), 0);               /* '*' needs a segment */
    CHECK_INT(vd_acl_privs(a, "u", "/deep/a", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "other", "/calendars/bob/", NULL), 0);
    vd_acl_free(a);
}

/* variables over a small org where a manager manages two teams and a
 * user is in two teams */
static void test_variables(void)
{
    vd_acl *a = parse("[team t1]\nmembers = m1, both\nmanagers = boss\n"
                      "[team t2]\nmembers = m2, both\nmanagers = boss, m1\n"
                      "[team t3]\nmembers = m3\n"
                      "[rules]\n"
                      "allow read on /u/{user}/** to everyone\n"
                      "allow read on /t/{team}/** to everyone\n"
                      "allow write on /m/{managed}/** to everyone\n"
                      "allow read-masked on /mate/{teammate}/ to everyone\n"
                      "allow write on /rep/{report}/ to everyone\n");
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_INT(vd_acl_privs(a, "m3", "/u/m3/x", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "m3", "/u/m1/x", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "stranger", "/u/stranger/", NULL), READ);   /* {user} needs no team */
    CHECK_INT(vd_acl_privs(a, "both", "/t/t1/", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "both", "/t/t2/", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "both", "/t/t3/", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "boss", "/t/t2/", NULL), READ);              /* managers too */
    CHECK_INT(vd_acl_privs(a, "boss", "/m/t1/", NULL), WRITE);
    CHECK_INT(vd_acl_privs(a, "m1", "/m/t1/", NULL), 0);                   /* member, not manager */
    CHECK_INT(vd_acl_privs(a, "m1", "/m/t2/", NULL), WRITE);
    CHECK_INT(vd_acl_privs(a, "m1", "/mate/both/", NULL), MASK);
    CHECK_INT(vd_acl_privs(a, "m1", "/mate/m2/", NULL), MASK);   /* m1 manages t2: belongs to it */
    CHECK_INT(vd_acl_privs(a, "m2", "/mate/m1/", NULL), 0);      /* m1 is only a manager of t2 */
    CHECK_INT(vd_acl_privs(a, "m2", "/mate/both/", NULL), MASK);
    CHECK_INT(vd_acl_privs(a, "m2", "/mate/m2/", NULL), MASK);   /* the user included */
    CHECK_INT(vd_acl_privs(a, "m3", "/mate/m1/", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "stranger", "/mate/stranger/", NULL), 0);   /* no team, no teammates */
    CHECK_INT(vd_acl_privs(a, "boss", "/rep/m2/", NULL), WRITE);
    CHECK_INT(vd_acl_privs(a, "boss", "/rep/m3/", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "boss", "/rep/boss/", NULL), 0);   /* not a member of what he manages */
    CHECK_INT(vd_acl_privs(a, "m1", "/rep/m2/", NULL), WRITE);
    CHECK_INT(vd_acl_privs(a, "m1", "/rep/m1/", NULL), 0);       /* m1 manages t2 but is a member of t1 */
    CHECK_INT(vd_acl_privs(a, "m1", "/rep/both/", NULL), WRITE);
    vd_acl_free(a);
}

/* the closure: a grant of write also answers read, masked and free-busy;
 * subjects: user, team, managers of, role */
static void test_closure_subjects(void)
{
    vd_acl *a = parse("[team t]\nmembers = rep\nmanagers = mgr\n[role r]\nmembers = x\n"
                      "[rules]\n"
                      "allow write on /w/ to user rep\n"
                      "allow read-free-busy, read-masked on /s/ to team t\n"
                      "allow admin on /mg/ to managers of t\n"
                      "allow read on /r/ to role r\n");
    CHECK(a != NULL);
    if (!a)
        return;
    unsigned p = vd_acl_privs(a, "rep", "/w/", NULL);
    CHECK((p & VD_ACL_READ) && (p & VD_ACL_MASKED) && (p & VD_ACL_FREEBUSY) && !(p & VD_ACL_ADMIN));
    CHECK_INT(vd_acl_privs(a, "mgr", "/w/", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "rep", "/s/", NULL), MASK);
    CHECK_INT(vd_acl_privs(a, "mgr", "/s/", NULL), MASK);
    CHECK_INT(vd_acl_privs(a, "mgr", "/mg/", NULL), ADMIN);
    CHECK_INT(vd_acl_privs(a, "rep", "/mg/", NULL), 0);
    CHECK_INT(vd_acl_privs(a, "x", "/r/", NULL), READ);
    CHECK_INT(vd_acl_privs(a, "rep", "/r/", NULL), 0);
    vd_acl_free(a);
}

/* ---------------------------------------------------------------- */

static void explain(const char *user, const char *method, const char *path, const char *want)
{
    vd_buf b = VD_BUF_INIT;
    vd_acl_explain(example, user, method, path, &b);
    if (!b.data || strcmp(b.data, want) != 0)
        fprintf(stderr, "explain %s %s %s:\n--- want\n%s--- got\n%s", user, method, path, want,
                b.data ? b.data : "");
    CHECK(b.data && strcmp(b.data, want) == 0);
    vd_buf_free(&b);
}

static void test_explain(void)
{
    char want[2048];
    snprintf(want, sizeof want,
             "bob PROPFIND /calendars/alice/visits/ needs read (or read-masked: masked view)\n"
             "-> allowed: read-masked, by acl.conf.example:%d: allow read-masked on /calendars/{teammate}/** to everyone\n"
             "   masked view: time, customer and owner only; read-only\n",
             line_of("allow read-masked"));
    explain("bob", "PROPFIND", "/calendars/alice/visits/", want);
    explain("alice", "put", "/calendars/alice/visits/x.ics",
            "alice PUT /calendars/alice/visits/x.ics needs write\n"
            "-> allowed: write, by built-in rule: allow admin on /calendars/{user}/** to everyone\n");
    snprintf(want, sizeof want,
             "dan GET /calendars/alice/visits/a.ics needs read (or read-masked: masked view)\n"
             "-> allowed: read-free-busy only (busy time: no event is shown), by acl.conf.example:%d: "
             "allow read-free-busy on /calendars/*/** to everyone\n",
             line_of("allow read-free-busy"));
    explain("dan", "GET", "/calendars/alice/visits/a.ics", want);
    snprintf(want, sizeof want,
             "alice PROPFIND /teams/west/visits/ needs read (or read-masked: masked view)\n"
             "-> denied: no rule grants read-free-busy or more on this path to alice (rules considered: 9)\n"
             "   not for alice: acl.conf.example:%d: allow read on /** to role executives\n"
             "   not for alice: acl.conf.example:%d: allow admin on /** to role ops\n",
             line_of("allow read on /** to role executives"), line_of("allow admin on /**"));
    explain("alice", "PROPFIND", "/teams/west/visits/", want);
    snprintf(want, sizeof want,
             "bob DELETE /calendars/alice/visits/a.ics needs write\n"
             "-> denied: no rule grants write or more on this path to bob (rules considered: 9)\n"
             "   bob holds read-masked here, by acl.conf.example:%d: allow read-masked on /calendars/{teammate}/** to everyone\n"
             "   not for bob: acl.conf.example:%d: allow admin on /** to role ops\n",
             line_of("allow read-masked"), line_of("allow admin on /**"));
    explain("bob", "DELETE", "/calendars/alice/visits/a.ics", want);
    snprintf(want, sizeof want,
             "carol MOVE /calendars/bob/visits/a.ics needs write (and write on the destination)\n"
             "-> allowed: write, by acl.conf.example:%d: allow write on /calendars/{report}/** to everyone\n",
             line_of("allow write on /calendars/{report}"));
    explain("carol", "MOVE", "/calendars/bob/visits/a.ics", want);
    /* the rule is quoted with its blanks collapsed; an unknown method needs admin */
    vd_acl *a = parse("[rules]\r\n  allow\tread,  write \ton /x/**  to everyone # why\r\n");
    vd_buf b = VD_BUF_INIT;
    vd_acl_explain(a, "u", "BREW", "/x/y", &b);
    CHECK_STR(b.data, "u BREW /x/y needs admin (unknown method: taken as admin)\n"
                      "-> denied: no rule grants admin or more on this path to u (rules considered: 3)\n"
                      "   u holds write here, by t.conf:2: allow read, write on /x/** to everyone\n");
    vd_buf_free(&b);
    vd_acl_free(a);
    explain("grace", "OPTIONS", "/", "grace OPTIONS / needs no privilege\n-> allowed: OPTIONS needs no privilege\n");
    explain("", "GET", "/", "(unauthenticated) GET / needs read (or read-masked: masked view)\n"
                            "-> denied: not authenticated\n");
}

/* ---------------------------------------------------------------- */
/* the holder                                                         */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static const char *const ruleset[2] = {
    "[rules]\nallow read on /shared/** to everyone\n",
    "[rules]\nallow write on /shared/** to everyone\n",
};

static void test_reload(const char *path)
{
    vd_acldb *db = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    write_file(path, ruleset[0]);
    CHECK(vd_acldb_open(path, &db, &d) == VD_OK);
    if (!db)
        return;
    const vd_acl *a = vd_acldb_acquire(db);
    CHECK_INT(vd_acl_privs(a, "u", "/shared/x", NULL), READ);
    write_file(path, "[rules]\nallow write on /shared/** to everyone\nallow teleport on /x to everyone\n");
    CHECK(vd_acldb_reload(db, &d) == VD_EINVAL);
    CHECK(strstr(d.message, ":3:7: unknown privilege 'teleport'") != NULL);
    const vd_acl *b = vd_acldb_acquire(db);
    CHECK(a == b);   /* the rules in force stay in force */
    CHECK_INT(vd_acl_privs(b, "u", "/shared/x", NULL), READ);
    vd_acldb_release(db, b);
    unlink(path);
    CHECK(vd_acldb_reload(db, &d) == VD_EIO);   /* a vanished file keeps them too */
    write_file(path, ruleset[1]);
    CHECK(vd_acldb_reload(db, &d) == VD_OK);
    b = vd_acldb_acquire(db);
    CHECK(b != a);
    CHECK_INT(vd_acl_privs(b, "u", "/shared/x", NULL), WRITE);
    CHECK_INT(vd_acl_privs(a, "u", "/shared/x", NULL), READ);   /* still valid while held */
    vd_acldb_release(db, a);
    vd_acldb_release(db, b);
    vd_acldb_close(db);

    vd_acldb *none = NULL;
    CHECK(vd_acldb_open(NULL, &none, &d) == VD_OK);   /* built-in rules only */
    a = vd_acldb_acquire(none);
    CHECK_INT(vd_acl_privs(a, "u", "/calendars/u/x/", NULL), ADMIN);
    CHECK_INT(vd_acl_privs(a, "u", "/calendars/v/x/", NULL), 0);
    vd_acldb_release(none, a);
    CHECK(vd_acldb_reload(none, &d) == VD_OK);
    vd_acldb_close(none);
    CHECK(vd_acldb_open("/nonexistent/acl.conf", &none, &d) == VD_EIO && none == NULL);
}

typedef struct worker { vd_acldb *db; int bad; long checks; atomic_int *stop; } worker;

static void *work(void *arg)
{
    worker *w = arg;
    while (!atomic_load(w->stop)) {
        const vd_acl *a = vd_acldb_acquire(w->db);
        for (int i = 0; i < 50; i++) {
            unsigned p = vd_acl_privs(a, "u", "/shared/x.ics", NULL);
            unsigned q = vd_acl_privs(a, "u", "/shared/x.ics", NULL);
            if ((p != READ && p != WRITE) || p != q)   /* one object: one answer */
                w->bad++;
            w->checks++;
        }
        vd_acldb_release(w->db, a);
    }
    return NULL;
}

static void test_threads(const char *path)
{
    vd_acldb *db = NULL;
    vd_diag d;
    write_file(path, ruleset[0]);
    CHECK(vd_acldb_open(path, &db, &d) == VD_OK);
    if (!db)
        return;
    atomic_int stop = 0;
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){ db, 0, 0, &stop };
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < 300; i++) {
        write_file(path, i % 3 == 2 ? "[rules]\nallow nonsense\n" : ruleset[i % 2]);
        vd_err e = vd_acldb_reload(db, &d);
        ok += e == VD_OK;
        refused += e == VD_EINVAL;
    }
    atomic_store(&stop, 1);
    long checks = 0;
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        checks += w[i].checks;
        bad += w[i].bad;
    }
    CHECK_INT(ok, 200);
    CHECK_INT(refused, 100);
    CHECK_INT(bad, 0);
    CHECK(checks > 0);
    vd_acldb_close(db);
    unlink(path);
}

/* Mutated copies of the example (bytes replaced, deleted, lines cut):
 * each either loads or fails with a "name:line:column: " message and no
 * object; run under ASan this is a small fuzz of the parser. */
static void test_mutations(void)
{
    static const char alphabet[] = "[]{}*/,=#. \t\nazAZ09-\xc3\xbc";
    size_t len = strlen(example_text);
    char *buf = malloc(len + 1);
    unsigned seed = 12345, loaded = 0, refused = 0, malformed = 0;
    for (int i = 0; i < 3000 && buf; i++) {
        memcpy(buf, example_text, len + 1);
        size_t n = len;
        for (int k = 0; k < 1 + i % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            if (k % 2 == 0)
                buf[at] = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
            else
                memmove(buf + at, buf + at + 1, n-- - at);
        }
        vd_acl *a = NULL;
        vd_diag d;
        memset(&d, 0, sizeof d);
        vd_err e = vd_acl_parse("m.conf", buf, n, &a, &d);
        int line = 0, col = 0;
        if (e == VD_OK && a)
            loaded++;
        else if (e == VD_EINVAL && !a && sscanf(d.message, "m.conf:%d:%d: ", &line, &col) == 2 &&
                 line > 0 && col > 0)
            refused++;
        else
            malformed++;
        vd_acl_free(a);
    }
    free(buf);
    CHECK_INT(malformed, 0);
    CHECK(loaded > 0 && refused > 1000);
}

/* Not asserted: the cost of a check over the example organisation. */
static void bench(void)
{
    static const char *const paths[] = {
        "/calendars/alice/visits/x.ics", "/calendars/bob/visits/", "/teams/east/shared/s.ics",
        "/teams/west/visits/", "/calendars/dan/visits/a/b/c.ics",
    };
    static const char *const users[] = { "alice", "bob", "carol", "frank", "grace", "zoe" };
    struct timespec t0, t1;
    unsigned sink = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10000; i++)
        sink += vd_acl_privs(example, users[i % 6], paths[i % 5], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 10000;
    printf("acl check: %.0f ns per check (10000 checks, %zu rules; sum %u)\n", ns,
           vd_acl_rule_count(example), sink);
}

int main(void)
{
    char tmp[] = "/tmp/test_acl_XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/acl.conf", tmp);
    find_src_root();
    test_privs();
    test_errors();
    test_all_errors();
    load_example();
    test_example_teams();
    test_table();
    test_deciding();
    test_patterns();
    test_variables();
    test_closure_subjects();
    test_explain();
    test_mutations();
    test_reload(path);
    test_threads(path);
    bench();
    vd_acl_free(example);
    rmdir(tmp);
    return check_done();
}
