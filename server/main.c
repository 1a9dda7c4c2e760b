/* main.c - visitdavd: command line, configuration, opening the store and
 * the user db, one HTTP listener per address, signals, orderly shutdown.
 * Signals are blocked in every thread and taken synchronously here with
 * sigwait(), so no handler code runs in signal context.
 * Must not: serve requests itself or keep state the handlers depend on
 * beyond the vd_server it hands to the listeners. */
#include "../lib/acl.h"
#include "../lib/config.h"
#include "../lib/store.h"
#include "../lib/users.h"
#include "demo.h"
#include "dispatch.h"
#include "http.h"
#include "teams.h"
#include "visits.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION "0.1.0"

typedef struct options {
    const char *config;
    const char *data;
    const char *listen[VD_MAX_LISTEN];
    size_t n_listen;
    bool demo;
} options;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: visitdavd [--listen ADDR:PORT]... [--data DIR] [--config FILE]\n"
        "                 [--demo] [--help] [--version]\n"
        "  --listen ADDR:PORT  listen here (repeatable; replaces the configured\n"
        "                      addresses; \"[::1]:8008\" for IPv6, port 0 = any free)\n"
        "  --data DIR          data directory (store, and users file unless the\n"
        "                      configuration names one)\n"
        "  --config FILE       configuration file (default: built-in defaults)\n"
        "  --demo              add demo users, calendars and visits, print how to\n"
        "                      connect\n");
}

/* 0 = run, 1 = exit 0 (help/version), 2 = usage error */
static int parse_args(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"demo", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (o->n_listen == VD_MAX_LISTEN) {
                fprintf(stderr, "visitdavd: at most %d --listen addresses\n", VD_MAX_LISTEN);
                return 2;
            }
            o->listen[o->n_listen++] = optarg;
            break;
        case 'd': o->data = optarg; break;
        case 'c': o->config = optarg; break;
        case 'D': o->demo = true; break;
        case 'h': usage(stdout); return 1;
        case 'V': printf("visitdavd " VERSION "\n"); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "visitdavd: unexpected argument %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return 0;
}

/* Configuration: file or defaults, then the command line on top.  A bad
 * file is fatal: never start with defaults after a file failed. */
static bool load_config(const options *o, vd_config *cfg)
{
    vd_diag d = {0};
    if (o->config) {
        if (vd_config_load(o->config, cfg, &d) != VD_OK) {
            fprintf(stderr, "visitdavd: %s\n", d.message[0] ? d.message : o->config);
            return false;
        }
    } else {
        vd_config_defaults(cfg);
    }
    /* --data: the users file follows unless the config file set it */
    if (o->data && vd_config_set_data_dir(cfg, o->data) != VD_OK) {
        fprintf(stderr, "visitdavd: --data %s: bad directory\n", o->data);
        return false;
    }
    bool replaced = false;
    for (size_t i = 0; i < o->n_listen; i++) {
        if (vd_config_add_listen(cfg, o->listen[i], &replaced, &d) != VD_OK) {
            fprintf(stderr, "visitdavd: --listen %s: %s\n", o->listen[i],
                    d.message[0] ? d.message : "bad address");
            return false;
        }
    }
    return true;
}

static void count_user(const char *name, void *ctx)
{
    (void)name;
    (*(size_t *)ctx)++;
}

/* Block the signals we handle in this thread and every thread started
 * after (the listeners inherit the mask). */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);   /* a client hanging up is not our death */
}

/* issue 4 (teams.h): /teams/<team>/ for every team of the ACL file in force. */
static void provision_teams(vd_server *s)
{
    vd_err e = vd_teams_provision(s);
    if (e != VD_OK)
        vd_log("cannot make the team collections under /teams/: %s", vd_strerror(e));
}

/* issue 4: SIGHUP re-reads the ACL file; one that fails to parse leaves
 * the rules in force unchanged (never fail open) and the log says why. */
static void reload_acl(vd_server *s)
{
    vd_diag d = {0};
    if (!s->acl)
        return;
    if (vd_acldb_reload(s->acl, &d) != VD_OK)
        vd_log("acl %s not reloaded, previous rules stay in force: %s", s->cfg->acl_file,
               d.message[0] ? d.message : "error");
    else
        vd_log("acl %s reloaded", s->cfg->acl_file);
    provision_teams(s);
}

static void wait_for_shutdown(vd_server *s, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            vd_server_reload(s);
            reload_acl(s);
            continue;
        }
        vd_log("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
}

static int open_all(const options *o, vd_server *s)
{
    vd_diag d = {0};
    vd_store_options so = {.no_sync = s->cfg->no_sync};
    if (vd_store_open(s->cfg->data_dir, &so, &s->store, &d) != VD_OK) {
        fprintf(stderr, "visitdavd: cannot open store in %s: %s\n", s->cfg->data_dir,
                d.message[0] ? d.message : "error");
        return 1;
    }
    if (o->demo && vd_demo_seed_users(s->cfg, &d) != VD_OK) {
        fprintf(stderr, "visitdavd: %s\n", d.message);
        return 1;
    }
    if (vd_userdb_open(s->cfg->users_file, &s->users, &d) != VD_OK) {
        fprintf(stderr, "visitdavd: cannot read users file %s: %s\n",
                s->cfg->users_file, d.message[0] ? d.message : "error");
        return 1;
    }
    /* issue 3: a bad customer or rules file at start is fatal (file:line) */
    if (vd_visits_open(s, &d) != VD_OK) {
        fprintf(stderr, "visitdavd: %s\n", d.message[0] ? d.message : "cannot load the visit rules");
        return 1;
    }
    /* issue 4: a bad ACL file at start is fatal (file:line:column); no
     * `acl` key: the built-in own-home rule only (s->acl stays NULL) */
    if (s->cfg->acl_file && vd_acldb_open(s->cfg->acl_file, &s->acl, &d) != VD_OK) {
        fprintf(stderr, "visitdavd: %s\n", d.message[0] ? d.message : "cannot load the ACL file");
        return 1;
    }
    provision_teams(s);
    if (o->demo && vd_demo_seed_calendars(s, &d) != VD_OK) {
        fprintf(stderr, "visitdavd: %s\n", d.message);
        return 1;
    }
    return 0;
}

static int start_listeners(vd_server *s, vd_http **http, char **urls)
{
    for (size_t i = 0; i < s->cfg->n_listen; i++) {
        vd_diag d = {0};
        if (vd_http_start(s, s->cfg->listen[i], &http[i], &urls[i], &d) != VD_OK) {
            fprintf(stderr, "visitdavd: %s\n", d.message[0] ? d.message : "cannot listen");
            return 1;
        }
        printf("visitdavd listening on %s\n", urls[i]);
        fflush(stdout);
    }
    return 0;
}

static void print_hints(const options *o, const vd_server *s, char **urls)
{
    size_t users = 0;
    vd_userdb_each(s->users, count_user, &users);
    if (o->demo && s->cfg->n_listen > 0)
        vd_demo_print(s, urls[0]);
    else if (users == 0)
        vd_log("no users yet: visitdav --data %s user add NAME", s->cfg->data_dir);
}

int main(int argc, char **argv)
{
    options o = {0};
    vd_config cfg = {0};
    vd_server s = {.cfg = &cfg};
    vd_http *http[VD_MAX_LISTEN] = {0};
    char *urls[VD_MAX_LISTEN] = {0};
    sigset_t sigs;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    rc = 1;
    if (!load_config(&o, &cfg))
        goto out;
    block_signals(&sigs);
    if (open_all(&o, &s) != 0 || start_listeners(&s, http, urls) != 0)
        goto out;
    print_hints(&o, &s, urls);
    wait_for_shutdown(&s, &sigs);
    rc = 0;
out:
    for (size_t i = 0; i < VD_MAX_LISTEN; i++) {
        vd_http_stop(http[i]);
        free(urls[i]);
    }
    vd_userdb_close(s.users);
    vd_visits_close(&s);
    if (s.acl)
        vd_acldb_close(s.acl);
    vd_store_close(s.store);
    vd_config_clear(&cfg);
    return rc;
}
