/* admin.c - the `visitdav` admin command: users (add, passwd, del, list),
 * the store's audit log, a configuration check, and the visit rules'
 * conflicts listing and approval (the same code as the server: visits.h),
 * the ACL file's check and explain (lib/acl.h), and the secret-token
 * feeds (create, list, revoke: lib/store.h vd_store_feed_*).  It finds the data
 * directory and users file exactly as visitdavd does (built-in defaults,
 * then --config FILE, then --data DIR) and may run while the server runs:
 * users file edits are atomic renames the server notices by mtime, and LMDB
 * serves several processes.
 *
 * Must not: take a password from the command line (it would show in ps and
 * shell history), echo one to the terminal, or print stored text (audit
 * summaries come from clients) without neutralising control characters. */
#include "acl.h"
#include "config.h"
#include "store.h"
#include "users.h"
#include "visits.h"

#include "../lib/path.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

static const char usage_text[] =
    "Usage: visitdav [--config FILE] [--data DIR] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  user add NAME [--display-name TEXT] [--email ADDR]\n"
    "                        add a user\n"
    "  user passwd NAME      set a user's password\n"
    "  user del NAME [--purge]\n"
    "                        remove a user and revoke their feeds; --purge\n"
    "                        also deletes the user's\n"
    "                        calendars (/calendars/NAME/) and principal record\n"
    "  user list             one line per user: name, display name, e-mail\n"
    "                        (tab-separated)\n"
    "  audit [--since SEQ] [--limit N]\n"
    "                        print the audit log, oldest first: seq, time,\n"
    "                        user, method, path, old etag -> new etag, summary\n"
    "  config check          load the configuration and users file; report OK\n"
    "                        or the error with file:line\n"
    "  conflicts [--start T] [--end T] [--team NAME]\n"
    "                        the visit conflicts in [start, end) as JSON, as\n"
    "                        GET /api/v1/conflicts gives them to an approver\n"
    "                        (T: UTC like 20270301T000000Z; default: 30 days\n"
    "                        ago to the rules' horizon)\n"
    "  approve PATH RULE     accept a collision: add X-VISIT-APPROVED:RULE to the\n"
    "                        event at PATH (/calendars/USER/CAL/NAME.ics); its\n"
    "                        flags and those of the other visits are recomputed\n"
    "  acl check [FILE]      check the ACL file (default: the config's acl);\n"
    "                        OK, or every error as file:line:column: reason\n"
    "  acl explain USER METHOD PATH\n"
    "                        why USER may or may not do METHOD on PATH under\n"
    "                        the config's ACL file: the privilege needed, the\n"
    "                        verdict and the deciding rule\n"
    "  feed create USER PATH create a secret subscription URL for the calendar\n"
    "                        PATH, which USER must be able to read; prints the\n"
    "                        URL path /feeds/TOKEN.ics (no password needed: it\n"
    "                        serves what USER may read at each request)\n"
    "  feed list [USER]      the feeds (of USER): URL path, user, calendar,\n"
    "                        creation time (tab-separated)\n"
    "  feed revoke TOKEN     revoke a feed (TOKEN or its /feeds/TOKEN.ics path)\n"
    "  help                  show this text\n"
    "\n"
    "Options:\n"
    "  --config FILE         configuration file (default: none, built-in defaults)\n"
    "  --data DIR            data directory (default: the config's data, else\n"
    "                        ./visitdav-data); the users file follows it to\n"
    "                        DIR/users unless the config sets users\n"
    "\n"
    "Passwords are read from standard input (its first line) when it is not a\n"
    "terminal, otherwise prompted for twice without echo.\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("visitdav: ", stderr);
    fprintf(stderr, fmt, arg ? arg : "");
    fputs("\n\n", stderr);
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

static int fail(const char *what, const vd_diag *d, vd_err rc)
{
    const char *msg = d && d->message[0] ? d->message : vd_strerror(rc);
    fprintf(stderr, "visitdav: %s%s%s\n", what ? what : "", what ? ": " : "", msg);
    return 1;
}

/* ---------- passwords ---------- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void restore_tty_and_die(int sig)
{
    if (tty_changed)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* One line from stdin without its line end.  false on EOF, error or a line
 * longer than cap - 1 (never silently truncated). */
static bool read_line(char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, stdin))
        return false;
    size_t n = strlen(buf);
    if (n == cap - 1 && buf[n - 1] != '\n' && !feof(stdin))
        return false;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return true;
}

static bool prompt_noecho(const char *prompt, char *buf, size_t cap)
{
    struct termios t;
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
        return false;
    t = saved_tty;
    t.c_lflag &= ~(tcflag_t)ECHO;
    signal(SIGINT, restore_tty_and_die);
    signal(SIGTERM, restore_tty_and_die);
    tty_changed = 1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
    bool ok = read_line(buf, cap);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    tty_changed = 0;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    fputc('\n', stderr);
    return ok;
}

/* The new password for name into buf (cap >= VD_USERS_MAX_PASSWORD + 2). */
static bool get_password(const char *name, char *buf, size_t cap)
{
    if (!isatty(STDIN_FILENO)) {
        if (!read_line(buf, cap)) {
            fputs("visitdav: no password on standard input (or longer than 1024 bytes)\n", stderr);
            return false;
        }
        return true;
    }
    char again[VD_USERS_MAX_PASSWORD + 2], prompt[128];
    snprintf(prompt, sizeof prompt, "New password for %s: ", name);
    bool ok = prompt_noecho(prompt, buf, cap) &&
              prompt_noecho("Retype the password: ", again, sizeof again);
    if (ok && strcmp(buf, again) != 0) {
        fputs("visitdav: the passwords do not match\n", stderr);
        ok = false;
    } else if (!ok) {
        fputs("visitdav: no password read\n", stderr);
    }
    explicit_bzero(again, sizeof again);
    return ok;
}

/* ---------- configuration ---------- */

typedef struct global_opts {
    const char *config;
    const char *data;
} global_opts;

static int load_config(const global_opts *g, vd_config *c)
{
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_err rc = vd_config_load(g->config, c, &d);
    if (rc != VD_OK)
        return fail(NULL, &d, rc);
    if (g->data && (rc = vd_config_set_data_dir(c, g->data)) != VD_OK) {
        vd_config_clear(c);
        return fail("--data", NULL, rc);
    }
    return 0;
}

/* mkdir -p the directory that holds path (0700: it holds password hashes). */
static int make_parent_dirs(const char *path)
{
    char *p = strdup(path);
    char *slash = p ? strrchr(p, '/') : NULL;
    int rc = 0;
    if (slash && slash != p) {
        *slash = '\0';
        for (char *q = p + 1; *q && rc == 0; q++) {
            if (*q != '/')
                continue;
            *q = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST)
                rc = -1;
            *q = '/';
        }
        if (rc == 0 && mkdir(p, 0700) != 0 && errno != EEXIST)
            rc = -1;
        if (rc != 0)
            fprintf(stderr, "visitdav: cannot create %s: %s\n", p, strerror(errno));
    }
    free(p);
    return rc;
}

/* ---------- user commands ---------- */

static int cmd_user_add(const vd_config *c, int argc, char **argv)
{
    const char *name = NULL, *display = NULL, *email = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--display-name") == 0 && i + 1 < argc)
            display = argv[++i];
        else if (strcmp(argv[i], "--email") == 0 && i + 1 < argc)
            email = argv[++i];
        else if (argv[i][0] == '-' || name)
            return usage_error("user add: unexpected argument '%s'", argv[i]);
        else
            name = argv[i];
    }
    if (!name)
        return usage_error("user add: missing NAME%s", NULL);
    if (!vd_users_name_valid(name)) {
        fprintf(stderr, "visitdav: invalid user name '%s': use 1-64 of A-Z a-z 0-9 . _ @ -, "
                        "not starting with '.'\n", name);
        return 1;
    }
    char pw[VD_USERS_MAX_PASSWORD + 2];
    if (!get_password(name, pw, sizeof pw) || make_parent_dirs(c->users_file) != 0)
        return 1;
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_err rc = vd_users_add(c->users_file, name, pw, display, email, &d);
    explicit_bzero(pw, sizeof pw);
    if (rc != VD_OK)
        return fail("user add", &d, rc);
    printf("added user %s to %s\n", name, c->users_file);
    return 0;
}

static int cmd_user_passwd(const vd_config *c, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-')
        return usage_error("user passwd: want exactly one NAME%s", NULL);
    vd_users *u = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    /* Fail before prompting when the user does not exist. */
    vd_err rc = vd_users_load(c->users_file, &u, &d);
    bool known = rc == VD_OK && vd_users_find(u, argv[0]);
    vd_users_free(u);
    if (rc != VD_OK)
        return fail("user passwd", &d, rc);
    if (!known) {
        fprintf(stderr, "visitdav: user passwd: no user '%s' in %s\n", argv[0], c->users_file);
        return 1;
    }
    char pw[VD_USERS_MAX_PASSWORD + 2];
    if (!get_password(argv[0], pw, sizeof pw))
        return 1;
    rc = vd_users_passwd(c->users_file, argv[0], pw, &d);
    explicit_bzero(pw, sizeof pw);
    if (rc != VD_OK)
        return fail("user passwd", &d, rc);
    printf("password of %s changed\n", argv[0]);
    return 0;
}

typedef struct purge_ctx {
    const char *name;
    vd_server *srv;             /* the visit rules: the others' flags are re-checked */
    bool home, principal;
} purge_ctx;

/* One write transaction: the home with everything in it, and the principal
 * record.  Re-runnable (the store may call it again after growing). */
static vd_err purge_fn(vd_txn *t, void *ctx)
{
    purge_ctx *p = ctx;
    char home[128];
    p->home = p->principal = false;
    snprintf(home, sizeof home, "/calendars/%s/", p->name);
    vd_err rc = vd_visits_coll_delete(t, p->srv, home);
    if (rc != VD_OK && rc != VD_ENOTFOUND)
        return rc;
    p->home = rc == VD_OK;
    rc = vd_store_principal_delete(t, p->name);
    if (rc != VD_OK && rc != VD_ENOTFOUND)
        return rc;
    p->principal = rc == VD_OK;
    return VD_OK;
}

static int purge_store(const vd_config *c, const char *name)
{
    struct stat st;
    if (stat(c->data_dir, &st) != 0) {
        printf("no data directory %s: nothing to purge\n", c->data_dir);
        return 0;
    }
    vd_store_options opt = { .no_sync = c->no_sync };
    vd_store *s = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_err rc = vd_store_open(c->data_dir, &opt, &s, &d);
    if (rc != VD_OK)
        return fail("user del --purge: opening the store", &d, rc);
    vd_server srv = { .cfg = (vd_config *)c, .store = s };
    if (vd_visits_open(&srv, &d) != VD_OK)
        fprintf(stderr, "visitdav: warning: %s; the other visits' flags are re-checked "
                        "with the default rules\n", d.message);
    purge_ctx p = { .name = name, .srv = &srv };
    rc = vd_store_write(s, "(admin)", "USER-DEL", purge_fn, &p);
    vd_visits_close(&srv);
    vd_store_close(s);
    if (rc != VD_OK)
        return fail("user del --purge", NULL, rc);
    printf("purged %s: %s, %s\n", name,
           p.home ? "calendar home deleted" : "no calendar home",
           p.principal ? "principal record deleted" : "no principal record");
    return 0;
}

/* issue 4: a deleted user's feeds go with them, so that a new user of
 * the same name never inherits them (feeds also die at once: the server
 * checks the creator at every request). */
static int revoke_feeds(const vd_config *c, const char *name)
{
    struct stat st;
    if (stat(c->data_dir, &st) != 0)
        return 0;                       /* no store: no feeds */
    vd_store_options opt = { .no_sync = c->no_sync };
    vd_store *s = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    size_t n = 0;
    vd_err rc = vd_store_open(c->data_dir, &opt, &s, &d);
    if (rc == VD_OK)
        rc = vd_store_feed_revoke_user(s, name, &n);
    vd_store_close(s);
    if (rc != VD_OK)
        return fail("user del: revoking the user's feeds", &d, rc);
    if (n)
        printf("revoked %zu feed%s of %s\n", n, n == 1 ? "" : "s", name);
    return 0;
}

static int cmd_user_del(const vd_config *c, int argc, char **argv)
{
    const char *name = NULL;
    bool purge = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--purge") == 0)
            purge = true;
        else if (argv[i][0] == '-' || name)
            return usage_error("user del: unexpected argument '%s'", argv[i]);
        else
            name = argv[i];
    }
    if (!name)
        return usage_error("user del: missing NAME%s", NULL);
    vd_diag d;
    memset(&d, 0, sizeof d);
    /* The users file first, so the user cannot log in (and so recreate a
     * home) while the store is being purged. */
    vd_err rc = vd_users_del(c->users_file, name, &d);
    if (rc == VD_OK)
        printf("deleted user %s from %s\n", name, c->users_file);
    else if (!(purge && rc == VD_ENOTFOUND))
        return fail("user del", &d, rc);
    else
        printf("%s is not in %s; purging its stored data\n", name, c->users_file);
    int frc = revoke_feeds(c, name);
    if (frc != 0)
        return frc;
    return purge ? purge_store(c, name) : 0;
}

static void print_user(const vd_user *u, void *ctx)
{
    (void)ctx;
    printf("%s\t%s\t%s\n", u->name, u->displayname ? u->displayname : "",
           u->email ? u->email : "");
}

static int cmd_user_list(const vd_config *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage_error("user list takes no arguments%s", NULL);
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_err rc = vd_users_list(c->users_file, print_user, NULL, &d);
    return rc == VD_OK ? 0 : fail("user list", &d, rc);
}

static int cmd_user(const vd_config *c, int argc, char **argv)
{
    if (argc < 1)
        return usage_error("user: missing subcommand (add, passwd, del, list)%s", NULL);
    if (strcmp(argv[0], "add") == 0)
        return cmd_user_add(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "passwd") == 0)
        return cmd_user_passwd(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "del") == 0)
        return cmd_user_del(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "list") == 0)
        return cmd_user_list(c, argc - 1, argv + 1);
    return usage_error("user: unknown subcommand '%s'", argv[0]);
}

/* ---------- audit ---------- */

/* Client-supplied text goes to a terminal: no control characters. */
static void put_clean(const char *s)
{
    for (; s && *s; s++)
        putchar(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s);
}

static vd_err print_audit(const vd_audit *a, void *ctx)
{
    (void)ctx;
    char when[32];
    struct tm tm;
    time_t t = (time_t)a->when;
    if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(when, sizeof when, "%lld", (long long)a->when);
    printf("%llu %s ", (unsigned long long)a->seq, when);
    const char *fields[] = { a->actor, a->method, a->path };
    for (size_t i = 0; i < 3; i++) {
        put_clean(fields[i] && fields[i][0] ? fields[i] : "-");
        putchar(' ');
    }
    put_clean(a->old_etag && a->old_etag[0] ? a->old_etag : "-");
    fputs(" -> ", stdout);
    put_clean(a->new_etag && a->new_etag[0] ? a->new_etag : "-");
    if (a->summary && a->summary[0]) {
        putchar(' ');
        put_clean(a->summary);
    }
    putchar('\n');
    return VD_OK;
}

static bool parse_count(const char *s, unsigned long long *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static int cmd_audit(const vd_config *c, int argc, char **argv)
{
    unsigned long long since = 0, limit = 0;
    for (int i = 0; i < argc; i++) {
        bool is_since = strcmp(argv[i], "--since") == 0;
        if (!is_since && strcmp(argv[i], "--limit") != 0)
            return usage_error("audit: unexpected argument '%s'", argv[i]);
        if (i + 1 >= argc || !parse_count(argv[i + 1], is_since ? &since : &limit))
            return usage_error("audit: %s wants a non-negative number", argv[i]);
        i++;
    }
    struct stat st;
    if (stat(c->data_dir, &st) != 0) {
        fprintf(stderr, "visitdav: audit: no data directory %s\n", c->data_dir);
        return 1;
    }
    vd_store_options opt = { .no_sync = c->no_sync };
    vd_store *s = NULL;
    vd_txn *t = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_err rc = vd_store_open(c->data_dir, &opt, &s, &d);
    if (rc != VD_OK)
        return fail("audit: opening the store", &d, rc);
    if ((rc = vd_store_read(s, &t)) == VD_OK)
        rc = vd_store_audit_list(t, (uint64_t)since, (size_t)limit, print_audit, NULL);
    vd_txn_end(t);
    vd_store_close(s);
    return rc == VD_OK ? 0 : fail("audit", NULL, rc);
}

/* ---------- config check ---------- */

static int cmd_config(const global_opts *g, const vd_config *c, int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "check") != 0)
        return usage_error("config: the only subcommand is 'check'%s", NULL);
    vd_users *u = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_err rc = vd_users_load(c->users_file, &u, &d);
    if (rc != VD_OK)
        return fail("users file", &d, rc);
    printf("config: %s\n", g->config ? g->config : "(none: built-in defaults)");
    printf("data:   %s%s\n", c->data_dir,
           access(c->data_dir, F_OK) == 0 ? "" : " (does not exist yet)");
    printf("users:  %s (%zu user%s%s)\n", c->users_file, vd_users_count(u),
           vd_users_count(u) == 1 ? "" : "s", access(c->users_file, F_OK) == 0 ? "" : ", file missing");
    for (size_t i = 0; i < c->n_listen; i++)
        printf("listen: %s\n", c->listen[i]);
    vd_users_free(u);
    vd_server s = { .cfg = (vd_config *)c };
    if ((rc = vd_visits_open(&s, &d)) != VD_OK)
        return fail("visit rules", &d, rc);
    vd_visits_close(&s);
    printf("customers: %s\nrules:  %s\n", c->customers_file ? c->customers_file : "(none)",
           c->rules_file ? c->rules_file : "(built-in defaults)");
    puts("OK");
    return 0;
}

/* ---------- visit rules: conflicts, approve ---------- */

/* The store and the visit rules as visitdavd has them (users not needed). */
static int open_server(const vd_config *c, vd_server *s, const char *what)
{
    struct stat st;
    vd_diag d;
    memset(&d, 0, sizeof d);
    memset(s, 0, sizeof *s);
    s->cfg = (vd_config *)c;
    if (stat(c->data_dir, &st) != 0) {
        fprintf(stderr, "visitdav: %s: no data directory %s\n", what, c->data_dir);
        return 1;
    }
    vd_store_options opt = { .no_sync = c->no_sync };
    vd_err rc = vd_store_open(c->data_dir, &opt, &s->store, &d);
    if (rc != VD_OK)
        return fail(what, &d, rc);
    if ((rc = vd_visits_open(s, &d)) != VD_OK) {
        vd_store_close(s->store);
        s->store = NULL;
        return fail(what, &d, rc);
    }
    return 0;
}

static void close_server(vd_server *s)
{
    vd_visits_close(s);
    vd_store_close(s->store);
    s->store = NULL;
}

typedef struct owner_list {
    vd_server *s;
    const char *team;
    char **v;
    size_t n;
} owner_list;

static void owner_cb(const vd_user *u, void *ctx)
{
    owner_list *o = ctx;
    if (!vd_visits_may_list(o->s, NULL, o->team, u->name))
        return;
    char **v = realloc(o->v, (o->n + 1) * sizeof *v);
    if (!v || !(v[o->n] = strdup(u->name))) {
        fputs("visitdav: out of memory\n", stderr);
        exit(1);
    }
    o->v = v;
    o->n++;
}

static int cmd_conflicts(const vd_config *c, int argc, char **argv)
{
    const char *start_s = NULL, *end_s = NULL, *team = NULL;
    for (int i = 0; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--start") == 0 ? &start_s
                          : strcmp(argv[i], "--end") == 0   ? &end_s
                          : strcmp(argv[i], "--team") == 0  ? &team : NULL;
        if (!slot || i + 1 >= argc)
            return usage_error("conflicts: unexpected or incomplete argument '%s'", argv[i]);
        *slot = argv[++i];
    }
    vd_server s;
    int rc = open_server(c, &s, "conflicts");
    if (rc != 0)
        return rc;
    vd_time now = vd_now(), start = now - (vd_time)VD_VISITS_PAST_DAYS * 86400;
    vd_time end = now + vd_visits_horizon(&s);
    if ((start_s && vd_time_parse_utc(start_s, &start) != VD_OK) ||
        (end_s && vd_time_parse_utc(end_s, &end) != VD_OK) || end <= start) {
        close_server(&s);
        return usage_error("conflicts: --start/--end want UTC times like 20270301T000000Z, "
                           "start before end%s", NULL);
    }
    owner_list o = { .s = &s, .team = team };
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_txn *t = NULL;
    vd_buf out = VD_BUF_INIT;
    vd_err e = vd_users_list(c->users_file, owner_cb, &o, &d);
    if (e == VD_OK && (e = vd_store_read(s.store, &t)) == VD_OK)
        e = vd_visits_conflicts_json(t, &s, (const char *const *)o.v, o.n, start, end, &out);
    vd_txn_end(t);
    if (e == VD_OK)
        fwrite(out.data, 1, out.len, stdout);
    vd_buf_free(&out);
    for (size_t i = 0; i < o.n; i++)
        free(o.v[i]);
    free(o.v);
    close_server(&s);
    return e == VD_OK ? 0 : fail("conflicts", &d, e);
}

static int cmd_approve(const vd_config *c, int argc, char **argv)
{
    if (argc != 2 || argv[0][0] == '-')
        return usage_error("approve: want PATH RULE%s", NULL);
    char *path = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    if (vd_href_decode(argv[0], &path, &d) != VD_OK) {
        fprintf(stderr, "visitdav: approve: %s is not a path\n", argv[0]);
        return 1;
    }
    vd_server s;
    int rc = open_server(c, &s, "approve");
    if (rc == 0) {
        vd_err e = vd_visits_approve(&s, "(admin)", path, argv[1], &d);
        close_server(&s);
        if (e != VD_OK)
            rc = fail("approve", &d, e);
        else
            printf("approved %s for %s\n", argv[1], path);
    }
    free(path);
    return rc;
}

/* ---------- acl: check, explain ---------- */

static int cmd_acl_explain(const vd_config *c, char **argv)
{
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_acl *a = NULL;
    char *path = NULL;
    vd_err e = vd_path_decode(argv[2], &path, &d);
    if (e != VD_OK)
        return fail("acl explain: PATH", &d, e);
    if ((e = vd_acl_load(c->acl_file, &a, &d)) != VD_OK) {
        free(path);
        return fail("acl", &d, e);
    }
    if (!c->acl_file)
        fputs("visitdav: no acl file configured: built-in rules only\n", stderr);
    vd_buf out = VD_BUF_INIT;
    vd_acl_explain(a, argv[0], argv[1], path, &out);
    fputs(out.data ? out.data : "", stdout);
    vd_buf_free(&out);
    vd_acl_free(a);
    free(path);
    return 0;
}

/* acl check [FILE]: OK or every error (exit 1); acl explain USER METHOD PATH */
static int cmd_acl(const vd_config *c, int argc, char **argv)
{
    if (argc >= 1 && argc <= 2 && strcmp(argv[0], "check") == 0) {
        const char *file = argc == 2 ? argv[1] : c->acl_file;
        if (!file)
            return usage_error("acl check: no FILE given and the config sets no acl%s", NULL);
        vd_buf errs = VD_BUF_INIT;
        size_t n = vd_acl_check_file(file, &errs);
        if (n)
            fputs(errs.data, stderr);
        else
            printf("OK\n");
        vd_buf_free(&errs);
        return n ? 1 : 0;
    }
    if (argc == 4 && strcmp(argv[0], "explain") == 0)
        return cmd_acl_explain(c, argv + 1);
    return usage_error("acl: want 'check [FILE]' or 'explain USER METHOD PATH'%s", NULL);
}

/* ---------- feeds (issue 4) ---------- */

static int feed_store(const vd_config *c, vd_store **s, const char *what)
{
    struct stat st;
    vd_diag d;
    memset(&d, 0, sizeof d);
    *s = NULL;
    if (stat(c->data_dir, &st) != 0) {
        fprintf(stderr, "visitdav: %s: no data directory %s\n", what, c->data_dir);
        return 1;
    }
    vd_store_options opt = { .no_sync = c->no_sync };
    vd_err rc = vd_store_open(c->data_dir, &opt, s, &d);
    return rc == VD_OK ? 0 : fail(what, &d, rc);
}

/* A feed serves a calendar: a stored one, or a team's aggregate
 * (/teams/<team>/visits/ or .../conflicts/, virtual: teams.h). */
static bool feedable(vd_store *s, const vd_acl *a, const char *dir)
{
    vd_txn *t = NULL;
    vd_coll coll = {0};
    bool ok = vd_store_read(s, &t) == VD_OK && vd_store_coll_get(t, dir, &coll) == VD_OK &&
              coll.kind == VD_COLL_CALENDAR;
    vd_coll_clear(&coll);
    vd_txn_end(t);
    if (ok || vd_path_depth(dir) != 3)
        return ok;
    char *top = vd_path_segment(dir, 0), *team = vd_path_segment(dir, 1),
         *agg = vd_path_segment(dir, 2);
    ok = top && team && agg && strcmp(top, "teams") == 0 && vd_acl_team_exists(a, team) &&
         (strcmp(agg, "visits") == 0 || strcmp(agg, "conflicts") == 0);
    free(top);
    free(team);
    free(agg);
    return ok;
}

static int cmd_feed_create(const vd_config *c, const char *user, const char *raw_path)
{
    vd_diag d;
    memset(&d, 0, sizeof d);
    vd_users *u = NULL;
    vd_acl *a = NULL;
    vd_store *s = NULL;
    char *path = NULL, *dir = NULL;
    int rc = 1;
    vd_err e = vd_users_load(c->users_file, &u, &d);
    if (e != VD_OK)
        return fail("feed create: users file", &d, e);
    if (!vd_users_find(u, user)) {
        fprintf(stderr, "visitdav: feed create: no user '%s' in %s\n", user, c->users_file);
        goto out;
    }
    if ((e = vd_path_decode(raw_path, &path, &d)) != VD_OK || !(dir = vd_path_as_dir(path))) {
        rc = fail("feed create: PATH", &d, e ? e : VD_ENOMEM);
        goto out;
    }
    if ((e = vd_acl_load(c->acl_file, &a, &d)) != VD_OK) {
        rc = fail("feed create: acl", &d, e);
        goto out;
    }
    /* what the user may read today; each request checks again */
    if (!(vd_acl_privs(a, user, dir, NULL) & (VD_ACL_MASKED | VD_ACL_READ))) {
        fprintf(stderr, "visitdav: feed create: %s may not read %s\n", user, dir);
        goto out;
    }
    if ((rc = feed_store(c, &s, "feed create")) != 0)
        goto out;
    rc = 1;
    vd_feed f = {0};
    if (!feedable(s, a, dir))
        fprintf(stderr, "visitdav: feed create: %s is not a calendar\n", dir);
    else if ((e = vd_store_feed_create(s, user, dir, &f)) != VD_OK)
        rc = fail("feed create", NULL, e);
    else
        rc = printf("/feeds/%s.ics\n", f.token) < 0;
    vd_feed_clear(&f);
out:
    vd_store_close(s);
    vd_acl_free(a);
    vd_users_free(u);
    free(path);
    free(dir);
    return rc;
}

static vd_err print_feed(const vd_feed *f, void *ctx)
{
    (void)ctx;
    char when[32];
    struct tm tm;
    time_t t = (time_t)f->created;
    if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(when, sizeof when, "%lld", (long long)f->created);
    printf("/feeds/%s.ics\t", f->token);
    put_clean(f->user);
    putchar('\t');
    put_clean(f->path);
    printf("\t%s\n", when);
    return VD_OK;
}

/* TOKEN, or the URL path /feeds/TOKEN.ics (as create and list print it). */
static const char *token_arg(const char *arg, char buf[VD_FEED_TOKEN_LEN + 1])
{
    const char *p = strncmp(arg, "/feeds/", 7) == 0 ? arg + 7 : arg;
    size_t n = strlen(p);
    if (n > 4 && strcmp(p + n - 4, ".ics") == 0)
        n -= 4;
    if (n != VD_FEED_TOKEN_LEN)
        return NULL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return vd_feed_token_valid(buf) ? buf : NULL;
}

/* feed create USER PATH | feed list [USER] | feed revoke TOKEN */
static int cmd_feed(const vd_config *c, int argc, char **argv)
{
    vd_store *s = NULL;
    int rc;
    if (argc == 3 && strcmp(argv[0], "create") == 0)
        return cmd_feed_create(c, argv[1], argv[2]);
    if (argc >= 1 && argc <= 2 && strcmp(argv[0], "list") == 0) {
        struct stat st;
        if (stat(c->data_dir, &st) != 0)
            return 0;                   /* no store: no feeds */
        if ((rc = feed_store(c, &s, "feed list")) != 0)
            return rc;
        vd_err e = vd_store_feed_list(s, argc == 2 ? argv[1] : NULL, print_feed, NULL);
        vd_store_close(s);
        return e == VD_OK ? 0 : fail("feed list", NULL, e);
    }
    if (argc == 2 && strcmp(argv[0], "revoke") == 0) {
        char buf[VD_FEED_TOKEN_LEN + 1];
        const char *token = token_arg(argv[1], buf);
        if (!token)
            return usage_error("feed revoke: '%s' is not a feed token", argv[1]);
        if ((rc = feed_store(c, &s, "feed revoke")) != 0)
            return rc;
        vd_err e = vd_store_feed_revoke(s, token);
        vd_store_close(s);
        if (e == VD_ENOTFOUND) {
            fputs("visitdav: feed revoke: no such feed\n", stderr);
            return 1;
        }
        if (e != VD_OK)
            return fail("feed revoke", NULL, e);
        puts("revoked");
        return 0;
    }
    return usage_error("feed: want 'create USER PATH', 'list [USER]' or 'revoke TOKEN'%s", NULL);
}

/* ---------- main ---------- */

/* --opt VALUE or --opt=VALUE; advances *i past what it consumed. */
static bool take_opt(const char *name, int argc, char **argv, int *i, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return false;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return false;
    *out = argv[++*i];
    return true;
}

int main(int argc, char **argv)
{
    global_opts g = { 0 };
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!take_opt("--config", argc, argv, &i, &g.config) &&
            !take_opt("--data", argc, argv, &i, &g.data))
            return usage_error("unknown or incomplete option '%s'", argv[i]);
    }
    if (i >= argc)
        return usage_error("missing COMMAND%s", NULL);
    const char *cmd = argv[i++];
    if (strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "user") && strcmp(cmd, "audit") && strcmp(cmd, "config") &&
        strcmp(cmd, "conflicts") && strcmp(cmd, "approve") && strcmp(cmd, "acl") &&
        strcmp(cmd, "feed"))
        return usage_error("unknown command '%s'", cmd);
    vd_config c;
    int rc = load_config(&g, &c);
    if (rc != 0)
        return rc;
    if (strcmp(cmd, "user") == 0)
        rc = cmd_user(&c, argc - i, argv + i);
    else if (strcmp(cmd, "audit") == 0)
        rc = cmd_audit(&c, argc - i, argv + i);
    else if (strcmp(cmd, "conflicts") == 0)
        rc = cmd_conflicts(&c, argc - i, argv + i);
    else if (strcmp(cmd, "approve") == 0)
        rc = cmd_approve(&c, argc - i, argv + i);
    else if (strcmp(cmd, "acl") == 0)
        rc = cmd_acl(&c, argc - i, argv + i);
    else if (strcmp(cmd, "feed") == 0)
        rc = cmd_feed(&c, argc - i, argv + i);
    else
        rc = cmd_config(&g, &c, argc - i, argv + i);
    vd_config_clear(&c);
    fflush(stdout);
    return rc;
}
