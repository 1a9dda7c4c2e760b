/* demo.c - `visitdavd --demo`: seeds the data directory with three demo
 * users (alice and bob, sales reps; carol, their manager; password "demo"),
 * their homes and default calendars, and a handful of customer visits in
 * the current and next week, then tells the operator how to connect.
 * Seeding is idempotent: existing users keep their passwords and a calendar
 * that already holds anything is left alone.
 * Must not: bypass the write path of a client's PUT (visits go through
 * vd_calobj_store in a vd_store_write txn: validated, indexed and checked by
 * the visit rules, so the demo's own collisions show as flags). */
#include "demo.h"

#include "../lib/ical.h"
#include "calobj.h"
#include "../lib/path.h"
#include "../lib/users.h"
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEMO_PASSWORD "demo"

static const struct demo_user {
    const char *name, *displayname, *email, *role;
} USERS[] = {
    {"alice", "Alice Becker", "alice@example.com", "sales rep"},
    {"bob",   "Bob Schulz",   "bob@example.com",   "sales rep"},
    {"carol", "Carol Wagner", "carol@example.com", "sales manager"},
};
#define N_USERS (sizeof USERS / sizeof USERS[0])

/* One visit: day 0 is this week's Monday, 7 next week's. */
static const struct demo_visit {
    const char *user;
    int day, start_h, start_m, end_h, end_m;
    const char *customer, *location, *rrule, *description;
} VISITS[] = {
    {"alice", 0, 9, 0, 10, 30, "ACME GmbH", "Industriestraße 12\\, 70565 Stuttgart",
     NULL, "Annual contract renewal\\, bring the new price list."},
    {"alice", 1, 14, 0, 15, 0, "Bäckerei Schmidt", "Marktplatz 3\\, 10178 Berlin",
     "FREQ=WEEKLY;COUNT=12", "Weekly order review."},
    {"alice", 10, 10, 0, 11, 30, "Nordwind Logistik AG", "Am Hafen 7\\, 20457 Hamburg",
     NULL, NULL},
    {"bob", 2, 11, 0, 12, 0, "ACME GmbH", "Industriestraße 12\\, 70565 Stuttgart",
     NULL, "Service check of the installed line."},
    {"bob", 7, 8, 30, 9, 30, "Stadtwerke Potsdam", "Steinstraße 104\\, 14480 Potsdam",
     NULL, NULL},
    {"bob", 11, 13, 0, 14, 0, "Weber Elektrotechnik KG", "Lindenallee 22\\, 04109 Leipzig",
     NULL, "Demo of the new controller."},
    /* Same customer, same day as alice's first visit: carol is in no team,
     * so the organisation's customer-overlap policy (flag) applies and
     * both visits show [CONFLICT]. */
    {"carol", 0, 15, 0, 16, 0, "ACME GmbH", "Industriestraße 12\\, 70565 Stuttgart",
     NULL, "Account review with the purchasing lead."},
};
#define N_VISITS (sizeof VISITS / sizeof VISITS[0])

/* Europe/Berlin since 1996: CET/CEST, last Sunday of March / October. */
static const char VTIMEZONE_BERLIN[] =
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "END:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "END:STANDARD\r\nEND:VTIMEZONE\r\n";

vd_err vd_demo_seed_users(const vd_config *cfg, vd_diag *d)
{
    vd_buf existing = VD_BUF_INIT;
    vd_err e = VD_OK;
    for (size_t i = 0; i < N_USERS && e == VD_OK; i++) {
        vd_diag ud = {0};
        e = vd_users_add(cfg->users_file, USERS[i].name, DEMO_PASSWORD,
                         USERS[i].displayname, USERS[i].email, &ud);
        if (e == VD_EEXISTS) {
            vd_buf_printf(&existing, "%s%s", existing.len ? ", " : "", USERS[i].name);
            e = VD_OK;
        } else if (e != VD_OK) {
            vd_diag_set(d, 0, NULL, NULL, "cannot add demo user %s: %s",
                        USERS[i].name, ud.message[0] ? ud.message : vd_strerror(e));
        }
    }
    if (existing.len)
        vd_log("demo: %s existed already (passwords left unchanged)", existing.data);
    vd_buf_free(&existing);
    return e;
}

/* Local (Europe/Berlin) date-time "YYYYMMDDTHHMMSS" of day `day` after
 * this week's Monday.  Only the calendar date of "now" matters here, so
 * UTC+1 is close enough to pick the week. */
static void local_stamp(int day, int h, int m, char out[16])
{
    time_t now = time(NULL) + 3600;
    struct tm t;
    gmtime_r(&now, &t);
    t.tm_mday += day - (t.tm_wday + 6) % 7;
    t.tm_hour = h;
    t.tm_min = m;
    t.tm_sec = 0;
    time_t x = timegm(&t);
    gmtime_r(&x, &t);
    strftime(out, 16, "%Y%m%dT%H%M%S", &t);
}

static void visit_ics(vd_buf *b, const struct demo_visit *v, const char *uid)
{
    char start[16], end[16], stamp[17];
    local_stamp(v->day, v->start_h, v->start_m, start);
    local_stamp(v->day, v->end_h, v->end_m, end);
    vd_time_format_utc(vd_now(), stamp);
    vd_buf_puts(b, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
                   "PRODID:-//visitdav//demo//EN\r\nCALSCALE:GREGORIAN\r\n");
    vd_buf_puts(b, VTIMEZONE_BERLIN);
    vd_buf_printf(b, "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:%s\r\n"
                     "DTSTART;TZID=Europe/Berlin:%s\r\n"
                     "DTEND;TZID=Europe/Berlin:%s\r\n"
                     "SUMMARY:Visit: %s\r\nLOCATION:%s\r\n",
                  uid, stamp, start, end, v->customer, v->location);
    if (v->rrule)
        vd_buf_printf(b, "RRULE:%s\r\n", v->rrule);
    if (v->description)
        vd_buf_printf(b, "DESCRIPTION:%s\r\n", v->description);
    vd_buf_puts(b, "END:VEVENT\r\nEND:VCALENDAR\r\n");
}

/* One visit, validated and indexed before the write txn (the txn callback
 * must be re-runnable and free of side effects). */
typedef struct prepared {
    char name[96];
    vd_buf ics;
    vd_calobj obj;
} prepared;

typedef struct seed_ctx {
    const char *cal_path;
    prepared p[N_VISITS];
    size_t n;
    size_t written, flagged, rejected;
} seed_ctx;

static vd_err prepare(vd_server *s, seed_ctx *c, const struct demo_visit *v,
                      size_t idx, vd_diag *d)
{
    prepared *p = &c->p[c->n];
    char day[16], uid[80];
    local_stamp(0, 0, 0, day);
    day[8] = '\0';
    snprintf(uid, sizeof uid, "visitdav-demo-%s-%zu@example.com", day, idx);
    snprintf(p->name, sizeof p->name, "%s.ics", uid);
    visit_ics(&p->ics, v, uid);
    c->n++;   /* counted even on failure: cleanup frees it */
    vd_err e = vd_calobj_prepare(&p->obj, s->cfg, "text/calendar", p->ics.data, p->ics.len,
                                 0, d);
    p->obj.srv = s;             /* the visit rules run, as for a client's PUT */
    p->obj.actor = v->user;
    return e;
}

/* Every visit goes through vd_calobj_store like a client's PUT: indexed,
 * checked by the visit rules, flagged (both sides) where they collide.  A
 * visit the rules reject is left out and counted. */
static vd_err seed_txn(vd_txn *t, void *ctx)
{
    seed_ctx *c = ctx;
    vd_coll cal = {0};
    size_t count = 0;
    c->written = c->flagged = c->rejected = 0;
    vd_err e = vd_store_coll_get(t, c->cal_path, &cal);
    if (e == VD_ENOTFOUND)
        return VD_OK;   /* no default calendar (deleted, or none configured) */
    if (e == VD_OK)
        e = vd_store_coll_count(t, cal.id, &count);
    for (size_t i = 0; e == VD_OK && count == 0 && i < c->n; i++) {
        prepared *p = &c->p[i];
        vd_calobj_stored st;
        vd_diag d = {0};
        free(p->obj.reject_xml);
        p->obj.reject_xml = NULL;
        e = vd_calobj_store(t, &p->obj, &cal, p->name, NULL, &st, &d);
        if (e == VD_EPRECOND) {
            vd_log("demo: %s not stored: %s", p->name, d.message);
            c->rejected++;
            e = VD_OK;
        } else if (e == VD_OK) {
            c->written++;
            c->flagged += st.bytes_changed;
        }
    }
    vd_coll_clear(&cal);
    return e;
}

static vd_err seed_user(vd_server *s, const struct demo_user *u, vd_diag *d)
{
    char *dn = NULL, *email = NULL, *home = NULL;
    seed_ctx c = {0};
    vd_buf cal = VD_BUF_INIT;
    vd_err e = VD_OK;
    vd_userdb_lookup(s->users, u->name, &dn, &email);
    if ((e = vd_provision_user(s, u->name, dn, email)) != VD_OK) {
        vd_diag_set(d, 0, NULL, NULL, "demo: cannot provision %s: %s", u->name,
                    vd_strerror(e));
        goto out;
    }
    if (!s->cfg->default_calendar || !vd_name_valid(s->cfg->default_calendar) ||
        !(home = vd_home_path(u->name)))
        goto out;
    vd_buf_printf(&cal, "%s%s/", home, s->cfg->default_calendar);
    c.cal_path = cal.data;
    for (size_t i = 0; e == VD_OK && i < N_VISITS; i++)
        if (strcmp(VISITS[i].user, u->name) == 0)
            e = prepare(s, &c, &VISITS[i], i, d);
    if (e == VD_OK)
        e = vd_store_write(s->store, u->name, "DEMO", seed_txn, &c);
    if (e == VD_OK && c.written)
        vd_log("demo: %zu visits written to %s (%zu flagged by the visit rules)",
               c.written, c.cal_path, c.flagged);
    else if (e != VD_OK && !d->message[0])
        vd_diag_set(d, 0, NULL, NULL, "demo: cannot write visits of %s: %s",
                    u->name, vd_strerror(e));
out:
    for (size_t i = 0; i < c.n; i++) {
        vd_calobj_clear(&c.p[i].obj);
        vd_buf_free(&c.p[i].ics);
    }
    vd_buf_free(&cal);
    free(home);
    free(dn);
    free(email);
    return e;
}

vd_err vd_demo_seed_calendars(vd_server *s, vd_diag *d)
{
    for (size_t i = 0; i < N_USERS; i++) {
        vd_err e = seed_user(s, &USERS[i], d);
        if (e != VD_OK)
            return e;
    }
    return VD_OK;
}

void vd_demo_print(const vd_server *s, const char *url)
{
    const char *cal = s->cfg->default_calendar ? s->cfg->default_calendar : "visits";
    size_t n = strlen(url);
    const char *sep = (n && url[n - 1] == '/') ? "" : "/";
    printf("\nvisitdav demo is ready.  Add a CalDAV account in your calendar client:\n"
           "  server URL:  %s\n"
           "  users:       alice, bob (sales reps), carol (sales manager)\n"
           "  password:    " DEMO_PASSWORD "\n"
           "  calendar:    %s%scalendars/alice/%s/  (likewise for bob and carol)\n\n",
           url, url, sep, cal);
    fflush(stdout);
}
