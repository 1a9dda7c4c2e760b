/* test_config.c - visitdav.conf: defaults, every key, errors with line
 * numbers, relative paths, listen addresses, sizes. */
#include "check.h"
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[256], conf[300];

static void write_conf(const char *text)
{
    FILE *f = fopen(conf, "w");
    fputs(text, f);
    fclose(f);
}

/* Load text; return the error and leave the message in msg. */
static vd_err load_text(const char *text, vd_config *c, char *msg, size_t cap)
{
    vd_diag d = {0};
    write_conf(text);
    vd_err rc = vd_config_load(conf, c, &d);
    snprintf(msg, cap, "%s", d.message);
    return rc;
}

static void test_defaults(void)
{
    vd_config c;
    vd_config_defaults(&c);
    CHECK_INT(c.n_listen, 1);
    CHECK_STR(c.listen[0], "127.0.0.1:8008");
    CHECK_STR(c.data_dir, "./visitdav-data");
    CHECK_STR(c.users_file, "./visitdav-data/users");
    CHECK_STR(c.realm, "visitdav");
    CHECK_INT(c.max_body_bytes, 10 << 20);
    CHECK_INT(c.max_resource_bytes, 1 << 20);
    CHECK_INT(c.max_multiget_hrefs, 5000);
    CHECK_INT(c.max_instances, VD_MAX_EXPAND_INST);
    CHECK_INT(c.threads, 4);
    CHECK_INT(c.conn_timeout_s, 60);
    CHECK_INT(c.max_connections, 512);
    CHECK_STR(c.default_calendar, "visits");
    CHECK_STR(c.default_calendar_displayname, "Visits");
    CHECK_STR(c.timezone, "UTC");
    CHECK(!c.no_sync);
    CHECK(c.access_log == NULL);
    vd_config_clear(&c);
    vd_config_clear(&c);   /* twice is harmless */
    CHECK(c.data_dir == NULL);

    vd_diag d = {0};
    CHECK_INT(vd_config_load(NULL, &c, &d), VD_OK);   /* no file: defaults */
    CHECK_STR(c.realm, "visitdav");
    /* --data moves the users file along */
    CHECK_INT(vd_config_set_data_dir(&c, "/srv/vd"), VD_OK);
    CHECK_STR(c.data_dir, "/srv/vd");
    CHECK_STR(c.users_file, "/srv/vd/users");
    vd_config_clear(&c);
}

static void test_every_key(void)
{
    vd_config c;
    char msg[512], want[600];
    CHECK_INT(load_text(
        "# all keys\n"
        "listen = 0.0.0.0:8080\n"
        "listen = [::1]:8443   # and IPv6\n"
        "data = /var/lib/visitdav\n"
        "users = /etc/visitdav/users\n"
        "realm = \"Sales # team\"\n"
        "max_body_bytes = 20M\n"
        "max_resource_bytes = 512K\n"
        "max_multiget_hrefs = 2000\n"
        "max_instances = 800\n"
        "threads = 8\n"
        "conn_timeout = 30\n"
        "max_connections = 100\n"
        "default_calendar = work\n"
        "default_calendar_displayname = Customer visits\n"
        "timezone = Europe/Berlin\n"
        "access_log = -\n"
        "\n"
        "[store]\n"
        "no_sync = yes\n", &c, msg, sizeof msg), VD_OK);
    CHECK_INT(c.n_listen, 2);
    CHECK_STR(c.listen[0], "0.0.0.0:8080");
    CHECK_STR(c.listen[1], "[::1]:8443");
    CHECK_STR(c.data_dir, "/var/lib/visitdav");
    CHECK_STR(c.users_file, "/etc/visitdav/users");
    CHECK(c.users_explicit);
    CHECK_STR(c.realm, "Sales # team");
    CHECK_INT(c.max_body_bytes, 20 << 20);
    CHECK_INT(c.max_resource_bytes, 512 << 10);
    CHECK_INT(c.max_multiget_hrefs, 2000);
    CHECK_INT(c.max_instances, 800);
    CHECK_INT(c.threads, 8);
    CHECK_INT(c.conn_timeout_s, 30);
    CHECK_INT(c.max_connections, 100);
    CHECK_STR(c.default_calendar, "work");
    CHECK_STR(c.default_calendar_displayname, "Customer visits");
    CHECK_STR(c.timezone, "Europe/Berlin");
    CHECK_STR(c.access_log, "-");
    CHECK(c.no_sync);
    /* --data does not move an explicitly configured users file */
    CHECK_INT(vd_config_set_data_dir(&c, "/elsewhere"), VD_OK);
    CHECK_STR(c.users_file, "/etc/visitdav/users");
    vd_config_clear(&c);

    /* the dotted form at top level, as the test harness writes it */
    CHECK_INT(load_text("store.no_sync = true\n", &c, msg, sizeof msg), VD_OK);
    CHECK(c.no_sync);
    CHECK_INT(c.n_listen, 1);
    vd_config_clear(&c);

    CHECK_INT(load_text("threads = 2\n\nthreds = 4\n", &c, msg, sizeof msg), VD_EINVAL);
    snprintf(want, sizeof want, "%s:3: unknown key 'threds'", conf);
    CHECK_STR(msg, want);
    CHECK(c.data_dir == NULL);   /* cleared on error */
    vd_config_clear(&c);
}

static void expect_error(const char *text, const char *line_and_reason)
{
    vd_config c;
    char msg[512], want[600];
    snprintf(want, sizeof want, "%s:%s", conf, line_and_reason);
    CHECK_INT(load_text(text, &c, msg, sizeof msg), VD_EINVAL);
    if (strncmp(msg, want, strlen(want)) != 0)
        fprintf(stderr, "  got: %s\n  want prefix: %s\n", msg, want);
    CHECK(strncmp(msg, want, strlen(want)) == 0);
    vd_config_clear(&c);
}

static void test_errors(void)
{
    expect_error("realm = a\nrealm = b\n", "2: duplicate key 'realm' (first set on line 1)");
    expect_error("threads = many\n", "1: threads: not a number");
    expect_error("threads = 0\n", "1: threads: out of range");
    expect_error("threads = -1\n", "1: threads: not a number");
    expect_error("# c\n[store]\nno_sync = maybe\n", "3: store.no_sync: not a boolean");
    expect_error("no_sync = true\n", "1: unknown key 'no_sync'");
    expect_error("[server]\n", "1: unknown section");
    expect_error("[store]\nthreads = 2\n", "2: unknown key 'store.threads'");
    expect_error("just words\n", "1: expected 'key = value'");
    expect_error("realm = \"open\n", "1: realm: unterminated quoted value");
    expect_error("realm = say \"hi\"\n", "1: realm: realm may not contain");
    expect_error("data =\n", "1: data: missing value");
    expect_error("max_body_bytes = 10X\n", "1: max_body_bytes: not a size");
    expect_error("max_body_bytes = 2G\n", "1: max_body_bytes: out of range");
    expect_error("listen = 127.0.0.1\n", "1: listen: bad listen address");
    expect_error("default_calendar = a/b\n", "1: default_calendar: calendar name");
    expect_error("timezone = ../../etc/passwd\n", "1: timezone: not an IANA");
    expect_error("listen = a:1\nlisten = a:2\nlisten = a:3\nlisten = a:4\nlisten = a:5\n"
                 "listen = a:6\nlisten = a:7\nlisten = a:8\nlisten = a:9\n",
                 "9: listen: more than 8");

    vd_config c;
    vd_diag d = {0};
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nope.conf", dir);
    CHECK_INT(vd_config_load(missing, &c, &d), VD_EIO);
    CHECK(strstr(d.message, "nope.conf") != NULL);
    vd_config_clear(&c);
}

static void test_relative_paths(void)
{
    vd_config c;
    char msg[512], want[PATH_MAX + 64], real[PATH_MAX];
    CHECK(realpath(dir, real) != NULL);
    CHECK_INT(load_text("data = store\naccess_log = logs/access.log\n", &c, msg, sizeof msg), VD_OK);
    snprintf(want, sizeof want, "%s/store", real);
    CHECK_STR(c.data_dir, want);
    snprintf(want, sizeof want, "%s/store/users", real);
    CHECK_STR(c.users_file, want);   /* follows data */
    CHECK(!c.users_explicit);
    snprintf(want, sizeof want, "%s/logs/access.log", real);
    CHECK_STR(c.access_log, want);
    vd_config_clear(&c);

    CHECK_INT(load_text("users = ../u\naccess_log =\n", &c, msg, sizeof msg), VD_OK);
    snprintf(want, sizeof want, "%s/../u", real);
    CHECK_STR(c.users_file, want);
    CHECK_STR(c.data_dir, "./visitdav-data");   /* default stays cwd-relative */
    CHECK(c.access_log == NULL);
    vd_config_clear(&c);

    CHECK_INT(load_text("data = .\nusers = ./etc/users\n", &c, msg, sizeof msg), VD_OK);
    CHECK_STR(c.data_dir, real);
    snprintf(want, sizeof want, "%s/etc/users", real);
    CHECK_STR(c.users_file, want);
    vd_config_clear(&c);

    /* a config named by a relative path resolves against its own directory */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(dir) == 0);
    vd_diag d = {0};
    write_conf("data = d\n");
    CHECK_INT(vd_config_load("test.conf", &c, &d), VD_OK);
    snprintf(want, sizeof want, "%s/d", real);
    CHECK_STR(c.data_dir, want);
    vd_config_clear(&c);
    CHECK(chdir(cwd) == 0);
}

static void check_addr(const char *addr, vd_err want_rc, const char *want_host, unsigned want_port)
{
    char *host = (char *)"unset";
    unsigned port = 12345;
    vd_err rc = vd_config_parse_addr(addr, &host, &port);
    CHECK_INT(rc, want_rc);
    if (want_rc == VD_OK) {
        CHECK_STR(host, want_host);
        CHECK_INT(port, want_port);
        free(host);
    } else {
        CHECK(host == NULL);
    }
}

static void test_listen(void)
{
    check_addr("127.0.0.1:8008", VD_OK, "127.0.0.1", 8008);
    check_addr("[::1]:8008", VD_OK, "::1", 8008);
    check_addr("[::]:443", VD_OK, "::", 443);
    check_addr("localhost:8008", VD_OK, "localhost", 8008);
    check_addr("127.0.0.1:0", VD_OK, "127.0.0.1", 0);
    check_addr("127.0.0.1:65535", VD_OK, "127.0.0.1", 65535);
    check_addr("127.0.0.1:65536", VD_EINVAL, NULL, 0);
    check_addr("127.0.0.1:", VD_EINVAL, NULL, 0);
    check_addr("127.0.0.1", VD_EINVAL, NULL, 0);
    check_addr(":8008", VD_EINVAL, NULL, 0);
    check_addr("::1:8008", VD_EINVAL, NULL, 0);
    check_addr("[::1]", VD_EINVAL, NULL, 0);
    check_addr("[::1]8008", VD_EINVAL, NULL, 0);
    check_addr("[not:v6]:80", VD_EINVAL, NULL, 0);
    check_addr("host:-1", VD_EINVAL, NULL, 0);
    check_addr("host:80x", VD_EINVAL, NULL, 0);
    check_addr("ho st:80", VD_EINVAL, NULL, 0);

    /* command line: the first --listen replaces the list, later ones append */
    vd_config c;
    vd_diag d = {0};
    bool replaced = false;
    vd_config_defaults(&c);
    CHECK_INT(vd_config_add_listen(&c, "127.0.0.1:9000", &replaced, &d), VD_OK);
    CHECK_INT(vd_config_add_listen(&c, "[::1]:9000", &replaced, &d), VD_OK);
    CHECK_INT(c.n_listen, 2);
    CHECK_STR(c.listen[0], "127.0.0.1:9000");
    CHECK_INT(vd_config_add_listen(&c, "bad", &replaced, &d), VD_EINVAL);
    CHECK(strstr(d.message, "bad listen address 'bad'") != NULL);
    CHECK_INT(c.n_listen, 2);
    vd_config_clear(&c);
}

static void test_sizes(void)
{
    static const struct { const char *v; size_t want; } ok[] = {
        { "1", 1 }, { "4096", 4096 }, { "64k", 64 << 10 }, { "64K", 64 << 10 },
        { "3M", 3 << 20 }, { "2MiB", 2 << 20 }, { "5MB", 5 << 20 }, { "1G", 1u << 30 },
        { "100B", 100 },
    };
    static const char *const bad[] = { "", "M", "1.5M", "1 M", "1T", "0", "-5", "1Mi", "99999999999999999999" };
    vd_config c;
    char text[128], msg[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(text, sizeof text, "max_resource_bytes = %s\n", ok[i].v);
        CHECK_INT(load_text(text, &c, msg, sizeof msg), VD_OK);
        CHECK_INT(c.max_resource_bytes, ok[i].want);
        vd_config_clear(&c);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "max_resource_bytes = \"%s\"\n", bad[i]);
        vd_err rc = load_text(text, &c, msg, sizeof msg);
        if (rc != VD_EINVAL)
            fprintf(stderr, "  accepted size '%s'\n", bad[i]);
        CHECK_INT(rc, VD_EINVAL);
        vd_config_clear(&c);
    }
}

/* conf/visitdav.conf.example: every key appears, and with the "# " taken
 * off its settings the file loads and gives exactly the defaults. */
static void test_example(void)
{
    char p[PATH_MAX + 128];
    const char *src = getenv("VISITDAV_SRC");
    FILE *f = NULL;
    if (src) {
        snprintf(p, sizeof p, "%s/conf/visitdav.conf.example", src);
        f = fopen(p, "r");
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (!f && n > 0 && __FILE__[0] != '/') {
        /* __FILE__ is relative to the build dir, the parent of tests/ */
        exe[n] = '\0';
        *strrchr(exe, '/') = '\0';
        snprintf(p, sizeof p, "%s/../%.*s/../../conf/visitdav.conf.example", exe,
                 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
        f = fopen(p, "r");
    }
    if (!f && __FILE__[0] == '/') {
        snprintf(p, sizeof p, "%.*s/../../conf/visitdav.conf.example",
                 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
        f = fopen(p, "r");
    }
    CHECK(f != NULL);
    if (!f)
        return;
    char line[512], text[8192] = "";
    int settings = 0;
    while (fgets(line, sizeof line, f)) {
        const char *eq = strstr(line, " = ");
        bool setting = line[0] == '#' && line[1] == ' ' && eq &&
                       strspn(line + 2, "abcdefghijklmnopqrstuvwxyz_") == (size_t)(eq - line - 2);
        settings += setting;
        strncat(text, setting ? line + 2 : line, sizeof text - strlen(text) - 1);
    }
    fclose(f);
    CHECK_INT(settings, 19);
    vd_config c, def;
    char msg[512];
    CHECK_INT(load_text(text, &c, msg, sizeof msg), VD_OK);
    if (msg[0])
        fprintf(stderr, "  example: %s\n", msg);
    /* The three optional files are examples of paths, not defaults. */
    CHECK(c.customers_file && strstr(c.customers_file, "/customers.csv") != NULL);
    CHECK(c.rules_file && strstr(c.rules_file, "/rules.conf") != NULL);
    CHECK(c.acl_file && strstr(c.acl_file, "/acl.conf") != NULL);
    vd_config_defaults(&def);
    CHECK(c.n_listen == 1 && c.listen[0] && strcmp(c.listen[0], def.listen[0]) == 0);
    CHECK(c.data_dir && strstr(c.data_dir, "/visitdav-data") != NULL);
    CHECK(c.users_file && strstr(c.users_file, "/visitdav-data/users") != NULL);
    CHECK(c.realm && strcmp(c.realm, def.realm) == 0);
    CHECK(c.max_body_bytes == def.max_body_bytes && c.max_resource_bytes == def.max_resource_bytes);
    CHECK(c.max_multiget_hrefs == def.max_multiget_hrefs && c.max_instances == def.max_instances);
    CHECK(c.threads == def.threads && c.conn_timeout_s == def.conn_timeout_s &&
          c.max_connections == def.max_connections);
    CHECK(c.default_calendar && strcmp(c.default_calendar, def.default_calendar) == 0);
    CHECK(c.default_calendar_displayname &&
          strcmp(c.default_calendar_displayname, def.default_calendar_displayname) == 0);
    CHECK(c.timezone && strcmp(c.timezone, def.timezone) == 0);
    CHECK(c.access_log == NULL && c.no_sync == def.no_sync);
    vd_config_clear(&c);
    vd_config_clear(&def);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vd-config-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(conf, sizeof conf, "%s/test.conf", dir);
    test_defaults();
    test_every_key();
    test_errors();
    test_relative_paths();
    test_listen();
    test_sizes();
    test_example();
    unlink(conf);
    rmdir(dir);
    return check_done();
}
