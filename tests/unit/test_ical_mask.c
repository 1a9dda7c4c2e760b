/* test_ical_mask.c - lib/ical_mask.c: the level CLASS imposes per viewer
 * level; masked copies of a rich recurring event (master and override)
 * checked property by property at every level (nothing private left, time,
 * recurrence and time zones kept, the same instances, a valid object with
 * the same UID); VTIMEZONEs only when used; all-day dates; a VTODO;
 * VALARM stripping of the full event; determinism; the input left
 * unchanged; caller text that is not clean; and one shared vd_ical masked
 * from four threads.  Data files: tests/data/mask/. */
#include "check.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ical_mask.h"
#include "ical_visit.h"

static char src_root[PATH_MAX];
static bool quiet;              /* the checkers below explain failures unless set */

/* The source tree: $VISITDAV_SRC, else found from this file's path as the
 * compiler saw it (relative to the build dir, the parent of tests/). */
static void find_src_root(void)
{
    char p[PATH_MAX + 64], exe[PATH_MAX];
    const char *env = getenv("VISITDAV_SRC");
    int dirlen = (int)(strrchr(__FILE__, '/') - __FILE__);
    if (env)
        snprintf(src_root, sizeof src_root, "%s", env);
    else if (__FILE__[0] == '/')
        snprintf(src_root, sizeof src_root, "%.*s/../..", dirlen, __FILE__);
    else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        if (strrchr(exe, '/'))
            *strrchr(exe, '/') = '\0';
        snprintf(p, sizeof p, "%s/../%.*s/../..", exe, dirlen, __FILE__);
        snprintf(src_root, sizeof src_root, "%.*s", (int)sizeof src_root - 1, p);
    }
}

static char *slurp(const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/tests/data/mask/%s", src_root, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    vd_buf b = VD_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        vd_buf_append(&b, chunk, n);
    fclose(f);
    return vd_buf_steal(&b, NULL);
}

static vd_ical *parse(const char *text)
{
    vd_ical *ic = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    if (vd_ical_parse(text, strlen(text), VD_COMP_DEFAULT, &ic, &d) != VD_OK)
        fprintf(stderr, "parse failed: %s\n", d.message);
    return ic;
}

/* The masked object as a malloc'd string, NULL when masking failed. */
static char *mask(const vd_ical *ic, vd_mask_level level, const char *customer,
                  const char *owner, bool strip)
{
    vd_mask_opts o = {.level = level, .customer_name = customer, .owner = owner,
                      .strip_alarms = strip};
    vd_buf b = VD_BUF_INIT;
    vd_err e = vd_ical_mask(ic, &o, &b);
    if (e != VD_OK) {
        vd_buf_free(&b);
        return NULL;
    }
    return vd_buf_steal(&b, NULL);
}

/* Unfolded copy (RFC 5545 3.1: CRLF followed by a space or tab). */
static char *unfold(const char *s)
{
    char *o = malloc(strlen(s) + 1), *w = o;
    for (; *s; s++) {
        if (s[0] == '\r' && s[1] == '\n' && (s[2] == ' ' || s[2] == '\t')) {
            s += 2;
            continue;
        }
        *w++ = *s;
    }
    *w = '\0';
    return o;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Lines (unfolded, CRLF) that are exactly line. */
static int count_line(const char *unfolded, const char *line)
{
    char *want = malloc(strlen(line) + 5);
    sprintf(want, "\n%s\r\n", line);
    int n = count(unfolded, want) + (strncmp(unfolded, want + 1, strlen(want + 1)) == 0);
    free(want);
    return n;
}

/* Lines whose property name is name (followed by ':' or ';'). */
static int count_prop(const char *unfolded, const char *name)
{
    int n = 0;
    size_t len = strlen(name);
    for (const char *l = unfolded; *l;) {
        if (strncasecmp(l, name, len) == 0 && (l[len] == ':' || l[len] == ';'))
            n++;
        const char *e = strchr(l, '\n');
        if (!e)
            break;
        l = e + 1;
    }
    return n;
}

/* Every property line inside a VEVENT/VTODO (not in a VTIMEZONE) has a
 * name from allowed (a NULL-terminated list); the first one that does not
 * is printed.  Lines of a component nested in the event count too. */
static bool only_props(const char *unfolded, const char *const *allowed)
{
    int depth_main = 0;
    bool ok = true;
    for (const char *l = unfolded; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        size_t name_len = strcspn(l, ":;\r\n");
        if (strncmp(l, "BEGIN:VEVENT", 12) == 0 || strncmp(l, "BEGIN:VTODO", 11) == 0) {
            depth_main = 1;
        } else if (strncmp(l, "END:VEVENT", 10) == 0 || strncmp(l, "END:VTODO", 9) == 0) {
            depth_main = 0;
        } else if (depth_main) {
            bool found = false;
            for (size_t i = 0; allowed[i]; i++)
                if (strlen(allowed[i]) == name_len && strncasecmp(l, allowed[i], name_len) == 0)
                    found = true;
            if (!found) {
                if (!quiet)
                    fprintf(stderr, "  unexpected line: %.*s\n", (int)n, l);
                ok = false;
            }
        }
        if (!e)
            break;
        l = e + 1;
    }
    return ok;
}

static const char *const CUSTOMER_PROPS[] = {
    "UID", "DTSTAMP", "SEQUENCE", "DTSTART", "DTEND", "DURATION", "DUE", "RRULE", "RDATE",
    "EXDATE", "RECURRENCE-ID", "STATUS", "TRANSP", "SUMMARY", "X-VISIT-CUSTOMER",
    "X-VISIT-OWNER", NULL
};
static const char *const BUSY_PROPS[] = {
    "UID", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "DUE", "RRULE", "RDATE",
    "EXDATE", "RECURRENCE-ID", "STATUS", "TRANSP", "SUMMARY", NULL
};

/* Text from rich.ics that only a full reader may see. */
static const char *const SECRETS[] = {
    "discount", "door-code", "4711", "Bring the draft", "1234567", "Werkstrasse",
    "King Street", "52.52", "mailto:", "Bob", "Carol", "Dave", "contract-draft",
    "Negotiation", "Key account", "crm.example", "sales director", "Projector",
    "mallory", "Renewal at", "customer-overlap", "X-MOZ", "X-APPLE", "secret-chime",
    "Leave for", "London office", "bad-payer", "PRIORITY", "CREATED", "LAST-MODIFIED",
    "CLASS", "X-WR-CALNAME", "Visit Planner", NULL
};

static int secrets_left(const char *out)
{
    int n = 0;
    for (size_t i = 0; SECRETS[i]; i++)
        if (strstr(out, SECRETS[i])) {
            if (!quiet)
                fprintf(stderr, "  leaked: %s\n", SECRETS[i]);
            n++;
        }
    return n;
}

/* Same instances in a window as the original: recurrence survived. */
static bool same_instances(const vd_ical *a, const vd_ical *b)
{
    vd_instance *ia = NULL, *ib = NULL;
    size_t na = 0, nb = 0;
    bool ta = false, tb = false, same = false;
    vd_time from = 1700000000, until = 1800000000;   /* 2023-11 .. 2027-01 */
    if (vd_ical_instances(a, from, until, "Europe/Berlin", 1000, &ia, &na, &ta) == VD_OK &&
        vd_ical_instances(b, from, until, "Europe/Berlin", 1000, &ib, &nb, &tb) == VD_OK)
        same = na > 0 && na == nb && memcmp(ia, ib, na * sizeof *ia) == 0;
    free(ia);
    free(ib);
    return same;
}

/* The masked text re-parses as a calendar object resource with uid. */
static vd_ical *reparse(const char *out, const char *uid)
{
    vd_ical *m = out ? parse(out) : NULL;
    CHECK(m != NULL);
    if (m)
        CHECK_STR(vd_ical_uid(m), uid);
    return m;
}

/* ------------------------------------------------------------------ */

static void test_customer_level(const vd_ical *ic)
{
    char *out = mask(ic, VD_MASK_CUSTOMER, "ACME Corp", "alice", true);
    CHECK(out != NULL);
    if (!out)
        return;
    char *u = unfold(out);
    CHECK(strncmp(out, "BEGIN:VCALENDAR\r\n", 17) == 0);
    CHECK_INT(count_line(u, "VERSION:2.0"), 1);
    CHECK_INT(count_line(u, "PRODID:-//visitdav//masked//EN"), 1);
    CHECK_INT(count_line(u, "CALSCALE:GREGORIAN"), 1);
    CHECK(only_props(u, CUSTOMER_PROPS));
    CHECK_INT(secrets_left(out), 0);
    /* master and override: replaced SUMMARY, customer, owner from the server */
    CHECK_INT(count_prop(u, "SUMMARY"), 2);
    CHECK_INT(count_line(u, "SUMMARY:Visit: ACME Corp"), 2);
    CHECK_INT(count_line(u, "X-VISIT-CUSTOMER:ACME-1"), 2);
    CHECK_INT(count_line(u, "X-VISIT-OWNER:alice"), 2);
    CHECK_INT(count_prop(u, "X-VISIT-OWNER"), 2);
    /* time and recurrence exactly as stored, minus the X- parameter */
    CHECK_INT(count_line(u, "DTSTART;TZID=Europe/Berlin:20240108T100000"), 1);
    CHECK_INT(count_line(u, "DTEND;TZID=Europe/Berlin:20240108T113000"), 1);
    CHECK_INT(count_line(u, "RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=MO"), 1);
    CHECK_INT(count_line(u, "EXDATE;TZID=Europe/Berlin:20240122T100000"), 1);
    CHECK_INT(count_line(u, "RDATE;TZID=Europe/Berlin:20240110T140000"), 1);
    CHECK_INT(count_line(u, "RECURRENCE-ID;TZID=Europe/Berlin:20240115T100000"), 1);
    CHECK_INT(count_line(u, "DTSTART;TZID=Europe/London:20240115T120000"), 1);
    CHECK_INT(count_line(u, "DTEND;TZID=Europe/London:20240115T130000"), 1);
    CHECK_INT(count_line(u, "UID:rich-visit-1@example.com"), 2);
    CHECK_INT(count_line(u, "DTSTAMP:20240101T080000Z"), 2);
    CHECK_INT(count_line(u, "SEQUENCE:3"), 1);
    CHECK_INT(count_line(u, "SEQUENCE:4"), 1);
    CHECK_INT(count_line(u, "STATUS:CONFIRMED"), 1);
    CHECK_INT(count_line(u, "TRANSP:OPAQUE"), 1);
    CHECK_INT(count(u, "BEGIN:VALARM"), 0);
    /* zones: Berlin (master), London (override only), not New York */
    CHECK_INT(count_line(u, "TZID:Europe/Berlin"), 1);
    CHECK_INT(count_line(u, "TZID:Europe/London"), 1);
    CHECK_INT(count(u, "New_York"), 0);
    CHECK_INT(count(u, "BEGIN:VTIMEZONE"), 2);
    CHECK(count(out, "\r\n") == count(out, "\n"));          /* CRLF only */
    vd_ical *m = reparse(out, "rich-visit-1@example.com");
    if (m) {
        CHECK_INT(vd_ical_comp(m), VD_COMP_VEVENT);
        CHECK(same_instances(ic, m));
        CHECK_STR(vd_ical_summary(m), "Visit: ACME Corp");
    }
    vd_ical_free(m);
    free(u);
    free(out);
}

static void test_busy_level(const vd_ical *ic)
{
    char *out = mask(ic, VD_MASK_BUSY, "ACME Corp", "alice", false);
    CHECK(out != NULL);
    if (!out)
        return;
    char *u = unfold(out);
    CHECK(only_props(u, BUSY_PROPS));
    CHECK_INT(secrets_left(out), 0);
    CHECK_INT(count_line(u, "SUMMARY:Busy"), 2);
    CHECK_INT(count_prop(u, "SUMMARY"), 2);
    CHECK_INT(count(u, "ACME"), 0);                 /* neither name nor id */
    CHECK_INT(count(u, "alice"), 0);
    CHECK_INT(count_prop(u, "SEQUENCE"), 0);
    CHECK_INT(count(u, "BEGIN:VALARM"), 0);          /* even without strip_alarms */
    CHECK_INT(count_line(u, "DTSTART;TZID=Europe/Berlin:20240108T100000"), 1);
    CHECK_INT(count_line(u, "RECURRENCE-ID;TZID=Europe/Berlin:20240115T100000"), 1);
    CHECK_INT(count_line(u, "EXDATE;TZID=Europe/Berlin:20240122T100000"), 1);
    CHECK_INT(count(u, "BEGIN:VTIMEZONE"), 2);
    vd_ical *m = reparse(out, "rich-visit-1@example.com");
    if (m)
        CHECK(same_instances(ic, m));
    vd_ical_free(m);
    free(u);
    free(out);
}

/* Every line of the original's events, outside VALARMs, is in out. */
static bool keeps_event_lines(const char *orig_unfolded, const char *out_unfolded)
{
    bool ok = true, in_event = false, in_alarm = false;
    for (const char *l = orig_unfolded; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l + 1) : strlen(l);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(n > 2 ? n - 2 : 0), l);   /* no CRLF */
        if (strcmp(line, "BEGIN:VEVENT") == 0)
            in_event = true;
        else if (strcmp(line, "BEGIN:VALARM") == 0)
            in_alarm = true;
        if (in_event && !in_alarm && count_line(out_unfolded, line) == 0) {
            fprintf(stderr, "  missing line: %s\n", line);
            ok = false;
        }
        if (strcmp(line, "END:VEVENT") == 0)
            in_event = false;
        else if (strcmp(line, "END:VALARM") == 0)
            in_alarm = false;
        if (!e)
            break;
        l = e + 1;
    }
    return ok;
}

static void test_full_level(const vd_ical *ic)
{
    vd_buf sb = VD_BUF_INIT;
    CHECK_INT(vd_ical_serialize(ic, &sb), VD_OK);
    char *orig = unfold(sb.data);
    char *out = mask(ic, VD_MASK_NONE, "ACME Corp", "alice", true);
    CHECK(out != NULL);
    if (!out) {
        free(orig);
        vd_buf_free(&sb);
        return;
    }
    char *u = unfold(out);
    CHECK_INT(count(u, "BEGIN:VALARM"), 0);
    CHECK_INT(count(u, "secret-chime"), 0);
    CHECK_INT(count(u, "Leave for"), 0);
    CHECK(keeps_event_lines(orig, u));
    /* the checkers used on masked levels do see a full event */
    quiet = true;
    CHECK(!only_props(u, CUSTOMER_PROPS));
    CHECK(!only_props(u, BUSY_PROPS));
    CHECK_INT(secrets_left(out), 30);    /* all but the alarms and the PRODID */
    quiet = false;
    /* spot checks of what keeps_event_lines covers, to show what it means */
    CHECK_INT(count_prop(u, "ATTENDEE"), 3);
    CHECK_INT(count_prop(u, "ORGANIZER"), 1);
    CHECK_INT(count_prop(u, "DESCRIPTION"), 2);
    CHECK_INT(count_prop(u, "ATTACH"), 1);
    CHECK_INT(count(u, "DTSTART;TZID=Europe/Berlin;X-SECRET=door-code-4711:20240108T100000"), 1);
    CHECK_INT(count_line(u, "SUMMARY:Contract renewal with ACME - discount 15%"), 1);
    CHECK_INT(count_prop(u, "X-VISIT-OWNER"), 1);    /* stored one; nothing added */
    CHECK_INT(count(u, "alice\r\n"), 0);
    CHECK_INT(count_line(u, "X-WR-CALNAME:Alice visits"), 1);
    CHECK_INT(count_line(u, "PRODID:-//visitdav//masked//EN"), 1);
    CHECK_INT(count(u, "BEGIN:VTIMEZONE"), 2);
    CHECK_INT(count(u, "New_York"), 0);
    /* the original minus the unused zone and the alarms: nothing added */
    CHECK_INT(count(u, "\r\n"), count(orig, "\r\n") - 17 /* New York zone */
              - 10 /* two VALARMs */);
    vd_ical_free(reparse(out, "rich-visit-1@example.com"));
    free(out);
    free(u);

    /* without strip_alarms: the VALARMs of master and override stay */
    out = mask(ic, VD_MASK_NONE, NULL, NULL, false);
    CHECK(out != NULL);
    if (out) {
        u = unfold(out);
        CHECK_INT(count(u, "BEGIN:VALARM"), 2);
        CHECK_INT(count(u, "secret-chime"), 1);
        free(u);
    }
    free(out);
    free(orig);
    vd_buf_free(&sb);
}

static void test_customer_variants(const vd_ical *ic)
{
    /* no customer name: "Busy", but the stored customer id stays */
    char *out = mask(ic, VD_MASK_CUSTOMER, NULL, NULL, false);
    char *u = out ? unfold(out) : NULL;
    CHECK(u != NULL);
    if (u) {
        CHECK_INT(count_line(u, "SUMMARY:Busy"), 2);
        CHECK_INT(count_line(u, "X-VISIT-CUSTOMER:ACME-1"), 2);
        CHECK_INT(count_prop(u, "X-VISIT-OWNER"), 0);       /* stored one dropped */
        CHECK_INT(count(u, "BEGIN:VALARM"), 0);
    }
    free(u);
    free(out);

    /* a name that needs escaping, holds control characters and bad bytes */
    out = mask(ic, VD_MASK_CUSTOMER, "Müller, Sohn; GmbH\n\x01\xff\xc3", "bob.smith@example", false);
    vd_ical *m = reparse(out, "rich-visit-1@example.com");
    if (m)
        CHECK_STR(vd_ical_summary(m), "Visit: Müller, Sohn; GmbH  ??");
    CHECK(out && strstr(out, "X-VISIT-OWNER:bob.smith@example\r\n"));
    vd_ical_free(m);
    free(out);

    /* a very long name is cut (on a character boundary) */
    char big[3000];
    for (size_t i = 0; i + 2 < sizeof big; i += 2)
        memcpy(big + i, "\xc3\xa9", 2);                   /* é */
    big[sizeof big - 1 - (sizeof big - 1) % 2] = '\0';
    out = mask(ic, VD_MASK_CUSTOMER, big, NULL, false);
    m = reparse(out, "rich-visit-1@example.com");
    const char *s = m ? vd_ical_summary(m) : NULL;
    CHECK(s && strlen(s) > 300 && strlen(s) <= 520 && strlen(s) % 2 == 1);
    vd_ical_free(m);
    free(out);
}

static void test_errors(const vd_ical *ic)
{
    vd_mask_opts o = {.level = VD_MASK_HIDDEN};
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, "x");
    CHECK_INT(vd_ical_mask(ic, &o, &b), VD_EFORBIDDEN);
    CHECK_INT(b.len, 1);                                 /* out untouched */
    o.level = (vd_mask_level)42;
    CHECK_INT(vd_ical_mask(ic, &o, &b), VD_EINVAL);
    o.level = VD_MASK_BUSY;
    CHECK_INT(vd_ical_mask(NULL, &o, &b), VD_EINVAL);
    CHECK_INT(vd_ical_mask(ic, NULL, &b), VD_EINVAL);
    CHECK_INT(vd_ical_mask(ic, &o, NULL), VD_EINVAL);
    CHECK_INT(b.len, 1);
    /* appends to what out already holds */
    CHECK_INT(vd_ical_mask(ic, &o, &b), VD_OK);
    CHECK(strncmp(b.data, "xBEGIN:VCALENDAR\r\n", 18) == 0);
    vd_buf_free(&b);
}

static void test_determinism(const char *text, const vd_ical *ic)
{
    vd_ical *again = parse(text);
    static const vd_mask_level levels[] = {VD_MASK_NONE, VD_MASK_CUSTOMER, VD_MASK_BUSY};
    int same = 0;
    for (size_t i = 0; i < 3; i++) {
        char *a = mask(ic, levels[i], "ACME Corp", "alice", true);
        char *b = mask(ic, levels[i], "ACME Corp", "alice", true);
        char *c = again ? mask(again, levels[i], "ACME Corp", "alice", true) : NULL;
        same += a && b && c && strcmp(a, b) == 0 && strcmp(a, c) == 0;
        free(a);
        free(b);
        free(c);
    }
    CHECK_INT(same, 3);
    /* the levels differ from each other, so ETags differ */
    char *n = mask(ic, VD_MASK_NONE, NULL, NULL, true);
    char *c = mask(ic, VD_MASK_CUSTOMER, NULL, NULL, true);
    char *b = mask(ic, VD_MASK_BUSY, NULL, NULL, true);
    CHECK(n && c && b && strcmp(n, c) != 0 && strcmp(c, b) != 0);
    free(n);
    free(c);
    free(b);
    vd_ical_free(again);
}

/* Masking reads only: the object serialises to the same bytes after. */
static void test_input_unchanged(const vd_ical *ic_const, vd_buf *before)
{
    vd_buf after = VD_BUF_INIT;
    CHECK_INT(vd_ical_serialize(ic_const, &after), VD_OK);
    CHECK(after.len == before->len && memcmp(after.data, before->data, after.len) == 0);
    vd_buf_free(&after);
}

static void test_allday(void)
{
    char *text = slurp("allday.ics");
    vd_ical *ic = parse(text);
    CHECK(ic != NULL);
    /* CLASS:CONFIDENTIAL: a reader with full rights still gets time only */
    CHECK_INT(vd_ical_mask_level(ic, VD_MASK_NONE), VD_MASK_BUSY);
    char *out = mask(ic, vd_ical_mask_level(ic, VD_MASK_NONE), NULL, NULL, true);
    char *u = out ? unfold(out) : NULL;
    CHECK(u != NULL);
    if (u) {
        CHECK_INT(count_line(u, "DTSTART;VALUE=DATE:20240304"), 1);
        CHECK_INT(count_line(u, "DTEND;VALUE=DATE:20240306"), 1);
        CHECK_INT(count_line(u, "EXDATE;VALUE=DATE:20250304"), 1);
        CHECK_INT(count_line(u, "RRULE:FREQ=YEARLY;COUNT=3"), 1);
        CHECK_INT(count_line(u, "TRANSP:TRANSPARENT"), 1);
        CHECK_INT(count(u, "VTIMEZONE"), 0);          /* its zone is unused */
        CHECK_INT(count(u, "Hall 7"), 0);
        CHECK_INT(count(u, "Trade fair"), 0);
        CHECK_INT(count_prop(u, "CLASS"), 0);
    }
    vd_ical *m = reparse(out, "trade-fair-2024@example.com");
    if (m)
        CHECK(same_instances(ic, m));
    vd_ical_free(m);
    free(u);
    free(out);
    vd_ical_free(ic);
    free(text);
}

static void test_todo(void)
{
    char *text = slurp("todo.ics");
    vd_ical *ic = parse(text);
    char *out = ic ? mask(ic, VD_MASK_CUSTOMER, "ACME Corp", "alice", false) : NULL;
    char *u = out ? unfold(out) : NULL;
    CHECK(u != NULL);
    if (u) {
        CHECK(only_props(u, CUSTOMER_PROPS));
        CHECK_INT(count_line(u, "DUE;TZID=Europe/Berlin:20240209T170000"), 1);
        CHECK_INT(count_line(u, "DTSTART;TZID=Europe/Berlin:20240205T090000"), 1);
        CHECK_INT(count_line(u, "STATUS:IN-PROCESS"), 1);
        CHECK_INT(count_line(u, "SUMMARY:Visit: ACME Corp"), 1);
        CHECK_INT(count_line(u, "TZID:Europe/Berlin"), 1);
        CHECK_INT(count(u, "48.000"), 0);
        CHECK_INT(count(u, "PERCENT-COMPLETE"), 0);
        CHECK_INT(count(u, "VALARM"), 0);
    }
    vd_ical *m = reparse(out, "quote-followup-7@example.com");
    if (m)
        CHECK_INT(vd_ical_comp(m), VD_COMP_VTODO);
    vd_ical_free(m);
    free(u);
    free(out);
    vd_ical_free(ic);
    free(text);
}

/* A status outside the standard set survives masking (libical 3.0 loses
 * such values when it clones them). */
static void test_x_status(void)
{
    vd_ical *ic = parse("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                        "UID:xs@example.com\r\nDTSTAMP:20240101T000000Z\r\n"
                        "DTSTART:20240101T100000Z\r\nDURATION:PT1H\r\nSTATUS:X-ON-HOLD\r\n"
                        "END:VEVENT\r\nEND:VCALENDAR\r\n");
    char *out = ic ? mask(ic, VD_MASK_BUSY, NULL, NULL, false) : NULL;
    CHECK(out && strstr(out, "\r\nSTATUS:X-ON-HOLD\r\n"));
    CHECK(out && strstr(out, "\r\nDURATION:PT1H\r\n"));
    free(out);
    vd_ical_free(ic);
}

/* ------------------------------------------------------------------ */
/* CLASS x viewer level                                                */

static vd_ical *with_class(const char *master_class, const char *override_class)
{
    char text[2048];
    snprintf(text, sizeof text,
             "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
             "UID:cls@example.com\r\nDTSTAMP:20240101T000000Z\r\n"
             "DTSTART:20240101T100000Z\r\nDTEND:20240101T110000Z\r\n"
             "RRULE:FREQ=DAILY;COUNT=3\r\n%s%s%s"
             "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:cls@example.com\r\n"
             "DTSTAMP:20240101T000000Z\r\nRECURRENCE-ID:20240102T100000Z\r\n"
             "DTSTART:20240102T120000Z\r\nDTEND:20240102T130000Z\r\n%s%s%s"
             "END:VEVENT\r\nEND:VCALENDAR\r\n",
             master_class ? "CLASS:" : "", master_class ? master_class : "",
             master_class ? "\r\n" : "",
             override_class ? "CLASS:" : "", override_class ? override_class : "",
             override_class ? "\r\n" : "");
    return parse(text);
}

static void test_class_table(void)
{
    static const struct { const char *cls; vd_mask_level lvl; } classes[] = {
        {NULL, VD_MASK_NONE}, {"PUBLIC", VD_MASK_NONE},
        {"CONFIDENTIAL", VD_MASK_BUSY}, {"PRIVATE", VD_MASK_HIDDEN},
        {"private", VD_MASK_HIDDEN}, {"X-SECRET", VD_MASK_HIDDEN},
    };
    static const vd_mask_level viewers[] = {
        VD_MASK_NONE, VD_MASK_CUSTOMER, VD_MASK_BUSY, VD_MASK_HIDDEN
    };
    /* expected[class][viewer]: the stricter of the two */
    static const vd_mask_level expected[6][4] = {
        {VD_MASK_NONE, VD_MASK_CUSTOMER, VD_MASK_BUSY, VD_MASK_HIDDEN},
        {VD_MASK_NONE, VD_MASK_CUSTOMER, VD_MASK_BUSY, VD_MASK_HIDDEN},
        {VD_MASK_BUSY, VD_MASK_BUSY, VD_MASK_BUSY, VD_MASK_HIDDEN},
        {VD_MASK_HIDDEN, VD_MASK_HIDDEN, VD_MASK_HIDDEN, VD_MASK_HIDDEN},
        {VD_MASK_HIDDEN, VD_MASK_HIDDEN, VD_MASK_HIDDEN, VD_MASK_HIDDEN},
        {VD_MASK_HIDDEN, VD_MASK_HIDDEN, VD_MASK_HIDDEN, VD_MASK_HIDDEN},
    };
    for (size_t c = 0; c < 6; c++) {
        vd_ical *ic = with_class(classes[c].cls, NULL);
        CHECK(ic != NULL);
        for (size_t v = 0; ic && v < 4; v++) {
            vd_mask_level got = vd_ical_mask_level(ic, viewers[v]);
            if (got != expected[c][v])
                fprintf(stderr, "  CLASS %s viewer %d\n", classes[c].cls ? classes[c].cls : "-",
                        (int)viewers[v]);
            CHECK_INT(got, expected[c][v]);
        }
        vd_ical_free(ic);
    }
    /* an override's CLASS counts for the whole object */
    vd_ical *ic = with_class("PUBLIC", "PRIVATE");
    CHECK_INT(vd_ical_mask_level(ic, VD_MASK_NONE), VD_MASK_HIDDEN);
    vd_ical_free(ic);
    ic = with_class(NULL, "CONFIDENTIAL");
    CHECK_INT(vd_ical_mask_level(ic, VD_MASK_CUSTOMER), VD_MASK_BUSY);
    /* never fail open */
    CHECK_INT(vd_ical_mask_level(NULL, VD_MASK_NONE), VD_MASK_HIDDEN);
    CHECK_INT(vd_ical_mask_level(ic, (vd_mask_level)7), VD_MASK_HIDDEN);
    CHECK_INT(vd_ical_mask_level(ic, (vd_mask_level)-1), VD_MASK_HIDDEN);
    vd_ical_free(ic);
}

/* ------------------------------------------------------------------ */
/* four threads, one shared object                                     */

#define THREADS 4
#define ROUNDS  150

typedef struct shared {
    const vd_ical *ic;
    char *expect[3];            /* NONE, CUSTOMER, BUSY */
    int bad;                    /* per thread */
} shared;

typedef struct worker { shared *s; int bad, done; } worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        vd_mask_level l = (vd_mask_level)(i % 3);
        char *out = mask(w->s->ic, l, "ACME Corp", "alice", true);
        if (!out || strcmp(out, w->s->expect[l]) != 0)
            w->bad++;
        if (vd_ical_mask_level(w->s->ic, VD_MASK_CUSTOMER) != VD_MASK_CUSTOMER)
            w->bad++;
        w->done++;
        free(out);
    }
    return NULL;
}

static void test_threads(const vd_ical *ic)
{
    shared s = {.ic = ic};
    for (int l = 0; l < 3; l++)
        s.expect[l] = mask(ic, (vd_mask_level)l, "ACME Corp", "alice", true);
    pthread_t t[THREADS];
    worker w[THREADS];
    memset(w, 0, sizeof w);
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        w[i].s = &s;
        started += pthread_create(&t[i], NULL, work, &w[i]) == 0;
    }
    CHECK_INT(started, THREADS);
    int bad = 0, done = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].bad;
        done += w[i].done;
    }
    CHECK_INT(done, THREADS * ROUNDS);
    CHECK_INT(bad, 0);
    for (int l = 0; l < 3; l++)
        free(s.expect[l]);
}

int main(void)
{
    find_src_root();
    char *text = slurp("rich.ics");
    vd_ical *ic = parse(text);
    CHECK(ic != NULL);
    if (!ic)
        return check_done();
    vd_buf before = VD_BUF_INIT;
    CHECK_INT(vd_ical_serialize(ic, &before), VD_OK);
    CHECK_INT(vd_ical_mask_level(ic, VD_MASK_NONE), VD_MASK_NONE);   /* CLASS:PUBLIC */

    test_customer_level(ic);
    test_busy_level(ic);
    test_full_level(ic);
    test_customer_variants(ic);
    test_errors(ic);
    test_determinism(text, ic);
    test_threads(ic);
    test_input_unchanged(ic, &before);
    test_allday();
    test_todo();
    test_x_status();
    test_class_table();

    vd_buf_free(&before);
    vd_ical_free(ic);
    free(text);
    return check_done();
}
