/* test_ical_visit.c - lib/ical_visit.c: the visit fields of an event,
 * adding and stripping flags (round trip to the same bytes, repeated
 * prefixes, categories), serialisation, local days and UTC offsets in time
 * zones with DST (23 and 25 hour days, a DST gap at midnight), and local
 * days from several threads at once. */
#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ical_visit.h"

static vd_time T(const char *s)
{
    vd_time t = 0;
    if (vd_time_parse_utc(s, &t) != VD_OK) {
        fprintf(stderr, "bad time %s\n", s);
        abort();
    }
    return t;
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

/* Serialisation as a malloc'd string. */
static char *ser(const vd_ical *ic)
{
    vd_buf b = VD_BUF_INIT;
    if (vd_ical_serialize(ic, &b) != VD_OK)
        return NULL;
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

#define CAL(body) "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" body "END:VCALENDAR\r\n"

static const char VISIT[] = CAL(
    "BEGIN:VEVENT\r\n"
    "UID:v1@test\r\n"
    "DTSTAMP:20270101T000000Z\r\n"
    "DTSTART:20270301T090000Z\r\n"
    "DTEND:20270301T100000Z\r\n"
    "SUMMARY:Visit Acme\r\n"
    "LOCATION:Acme HQ\\, Berlin\r\n"
    "DESCRIPTION:  \r\n"
    "X-VISIT-PURPOSE:Demo of the new line\r\n"
    "X-VISIT-CUSTOMER:ACME-1\r\n"
    "ATTENDEE;CN=Bob:mailto:bob@acme.de\r\n"
    "ATTENDEE:mailto:eve@globex.com\r\n"
    "TRANSP:TRANSPARENT\r\n"
    "STATUS:CANCELLED\r\n"
    "X-VISIT-APPROVED:rep-overlap, customer-overlap\r\n"
    "X-VISIT-APPROVED:customer-cadence\r\n"
    "CATEGORIES:Customer,Important\r\n"
    "END:VEVENT\r\n");

static void test_info(void)
{
    vd_ical *ic = parse(VISIT);
    vd_visit_info vi;
    CHECK(ic != NULL);
    CHECK_INT(vd_ical_visit_info(ic, &vi), VD_OK);
    CHECK_STR(vi.x_customer, "ACME-1");
    CHECK_INT(vi.n_attendees, 2);
    if (vi.n_attendees == 2) {
        CHECK_STR(vi.attendees[0], "mailto:bob@acme.de");
        CHECK_STR(vi.attendees[1], "mailto:eve@globex.com");
    }
    CHECK_STR(vi.location, "Acme HQ, Berlin");   /* unescaped */
    CHECK_STR(vi.summary, "Visit Acme");
    CHECK(vi.has_purpose);                        /* X-VISIT-PURPOSE; DESCRIPTION is blank */
    CHECK(vi.transparent);
    CHECK(vi.cancelled);
    CHECK_INT(vi.n_approved, 3);
    if (vi.n_approved == 3) {
        CHECK_STR(vi.approved[0], "rep-overlap");
        CHECK_STR(vi.approved[1], "customer-overlap");
        CHECK_STR(vi.approved[2], "customer-cadence");
    }
    vd_visit_info_clear(&vi);
    CHECK(vi.x_customer == NULL && vi.n_attendees == 0 && vi.approved == NULL);
    vd_visit_info_clear(NULL);
    vd_ical_free(ic);
}

static void info_of(const char *body, vd_visit_info *vi)
{
    char *text = malloc(strlen(body) + 256);
    memset(vi, 0, sizeof *vi);
    if (!text)
        return;
    sprintf(text, CAL("BEGIN:VEVENT\r\nUID:x@test\r\nDTSTART:20270301T090000Z\r\n%sEND:VEVENT\r\n"),
            body);
    vd_ical *ic = parse(text);
    memset(vi, 0, sizeof *vi);
    if (ic)
        vd_ical_visit_info(ic, vi);
    vd_ical_free(ic);
    free(text);
}

static void test_info_variants(void)
{
    vd_visit_info vi;
    info_of("DESCRIPTION:Quarterly review\r\nTRANSP:OPAQUE\r\nSTATUS:CONFIRMED\r\n", &vi);
    CHECK(vi.has_purpose);
    CHECK(!vi.transparent);
    CHECK(!vi.cancelled);
    CHECK(vi.x_customer == NULL);
    CHECK_INT(vi.n_approved, 0);
    vd_visit_info_clear(&vi);

    info_of("DESCRIPTION: \r\nX-VISIT-PURPOSE:\r\nSUMMARY:Lunch\r\n", &vi);
    CHECK(!vi.has_purpose);
    CHECK(vi.location == NULL);
    vd_visit_info_clear(&vi);

    info_of("X-VISIT-CUSTOMER:华为\r\nLOCATION:深圳\r\n", &vi);
    CHECK_STR(vi.x_customer, "华为");
    CHECK_STR(vi.location, "深圳");
    vd_visit_info_clear(&vi);

    /* an override listed before the master: the master is read */
    vd_ical *ic = parse(CAL(
        "BEGIN:VEVENT\r\nUID:r@test\r\nRECURRENCE-ID:20270302T090000Z\r\n"
        "DTSTART:20270302T110000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:r@test\r\nDTSTART:20270301T090000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
        "SUMMARY:Daily\r\nX-VISIT-CUSTOMER:acme\r\nEND:VEVENT\r\n"));
    CHECK_INT(vd_ical_visit_info(ic, &vi), VD_OK);
    CHECK_STR(vi.summary, "Daily");
    CHECK_STR(vi.x_customer, "acme");
    vd_visit_info_clear(&vi);
    vd_ical_free(ic);
}

static const vd_flag FLAGS[] = {
    { "customer-overlap", "/calendars/bob/visits/b1.ics", "bob",
      1803891600 /* 20270301T090000Z */, 1803895200,
      "customer-overlap: bob already visits this customer on 2027-03-01 10:00-11:00 (same day)" },
    { "required-fields", NULL, NULL, 0, 0, "required-fields: a customer visit needs a purpose" },
};

static void test_round_trip(void)
{
    vd_ical *ic = parse(VISIT);
    char *orig = ser(ic);
    CHECK(orig != NULL && strstr(orig, "\r\n") != NULL);
    vd_ical_add_flags(ic, FLAGS, 2, 3, "[CONFLICT] ", "Conflict");
    char *flagged = ser(ic);
    char *flat = unfold(flagged);
    CHECK(strcmp(orig, flagged) != 0);
    CHECK(strstr(flat, "\r\nX-VISIT-CONFLICT;X-RULE=customer-overlap;X-OTHER-OWNER=bob;"
                       "X-OTHER-START=20270301T090000Z;X-OTHER-END=20270301T100000Z;") != NULL);
    CHECK(strstr(flat, ":/calendars/bob/visits/b1.ics\r\n") != NULL);
    /* ':' in the message: the parameter value is quoted */
    CHECK(strstr(flat, "X-MESSAGE=\"customer-overlap: bob already visits") != NULL);
    CHECK(strstr(flat, "\r\nX-VISIT-CONFLICT;X-RULE=required-fields;X-MESSAGE=") != NULL);
    CHECK(strstr(flat, "purpose\":required-fields\r\n") != NULL);   /* never an empty value */
    CHECK(strstr(flat, "X-LIC-ERROR") == NULL);      /* the blank DESCRIPTION's parser note */
    CHECK(strstr(flat, "\r\nSUMMARY:[CONFLICT] Visit Acme\r\n") != NULL);
    CHECK(strstr(flat, "\r\nCATEGORIES:Conflict\r\n") != NULL);
    CHECK_INT(count(flat, "X-VISIT-CONFLICT"), 2);

    /* stored bytes come back from a client and are stripped */
    vd_ical *again = parse(flagged);
    CHECK(vd_ical_strip_flags(again, "[CONFLICT] ", "Conflict"));
    char *back = ser(again);
    CHECK_STR(back, orig);
    CHECK(vd_ical_strip_flags(ic, "[CONFLICT] ", "Conflict"));
    char *back2 = ser(ic);
    CHECK_STR(back2, orig);
    CHECK(!vd_ical_strip_flags(ic, "[CONFLICT] ", "Conflict"));   /* nothing left */
    vd_ical_add_flags(ic, FLAGS, 0, 3, "[CONFLICT] ", "Conflict");  /* n == 0: no-op */
    char *same = ser(ic);
    CHECK_STR(same, orig);
    free(orig); free(flagged); free(flat); free(back); free(back2); free(same);
    vd_ical_free(again);
    vd_ical_free(ic);
}

static void test_recurring_marker(void)
{
    vd_ical *ic = parse(CAL(
        "BEGIN:VEVENT\r\nUID:r@test\r\nDTSTART:20270301T090000Z\r\nDURATION:PT1H\r\n"
        "RRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:Daily\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:r@test\r\nRECURRENCE-ID:20270302T090000Z\r\n"
        "DTSTART:20270302T110000Z\r\nDURATION:PT1H\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n"));
    char *orig = ser(ic);
    vd_ical_add_flags(ic, FLAGS, 1, 1, "[CONFLICT] ", "Conflict");
    vd_ical_add_flags(ic, FLAGS, 1, 1, "[CONFLICT] ", "Conflict");  /* again: no second prefix */
    char *flagged = ser(ic);
    char *flat = unfold(flagged);
    free(flagged);
    CHECK(strstr(flat, "SUMMARY:[CONFLICT] Daily\r\n") != NULL);
    CHECK(strstr(flat, "SUMMARY:[CONFLICT] Moved\r\n") != NULL);
    CHECK_INT(count(flat, "[CONFLICT] [CONFLICT]"), 0);
    CHECK_INT(count(flat, "X-VISIT-CONFLICT"), 2);       /* both on the master */
    CHECK(strstr(flat, "CATEGORIES") == NULL);           /* marker 1: summary only */
    CHECK(vd_ical_strip_flags(ic, "[CONFLICT] ", "Conflict"));
    char *back = ser(ic);
    CHECK_STR(back, orig);
    free(orig); free(flat); free(back);
    vd_ical_free(ic);
}

static void test_strip_cases(void)
{
    vd_ical *ic = parse(CAL(
        "BEGIN:VEVENT\r\nUID:s@test\r\nDTSTART:20270301T090000Z\r\n"
        "SUMMARY:[CONFLICT] [CONFLICT] Visit\r\n"
        "CATEGORIES:Customer,Conflict,Important\r\n"
        "CATEGORIES:conflict\r\n"
        "X-VISIT-CONFLICT;X-RULE=rep-overlap:/a.ics\r\n"
        "X-VISIT-CONFLICT;X-RULE=customer-overlap:/b.ics\r\n"
        "END:VEVENT\r\n"));
    CHECK(vd_ical_strip_flags(ic, "[CONFLICT] ", "Conflict"));
    CHECK_STR(vd_ical_summary(ic), "Visit");
    char *s = ser(ic);
    CHECK(s && strstr(s, "X-VISIT-CONFLICT") == NULL);
    CHECK(s && strstr(s, "Customer") && strstr(s, "Important"));
    CHECK(s && strstr(s, "onflict") == NULL);             /* neither Conflict nor conflict */
    free(s);
    vd_ical_free(ic);

    /* a SUMMARY that was only the marker goes; so does one the client trimmed */
    ic = parse(CAL("BEGIN:VEVENT\r\nUID:t@test\r\nDTSTART:20270301T090000Z\r\n"
                   "SUMMARY:[CONFLICT]\r\nEND:VEVENT\r\n"));
    CHECK(vd_ical_strip_flags(ic, "[CONFLICT] ", NULL));
    CHECK(vd_ical_summary(ic) == NULL);
    vd_ical_free(ic);

    /* no SUMMARY: add gives one holding the marker, strip takes it away */
    ic = parse(CAL("BEGIN:VEVENT\r\nUID:u@test\r\nDTSTART:20270301T090000Z\r\nEND:VEVENT\r\n"));
    char *orig = ser(ic);
    vd_ical_add_flags(ic, FLAGS, 1, 3, "[CONFLICT] ", "Conflict");
    CHECK_STR(vd_ical_summary(ic), "[CONFLICT]");
    CHECK(vd_ical_strip_flags(ic, "[CONFLICT] ", "Conflict"));
    s = ser(ic);
    CHECK_STR(s, orig);
    free(s);
    free(orig);
    vd_ical_free(ic);

    /* a summary that merely contains the prefix later keeps it */
    ic = parse(CAL("BEGIN:VEVENT\r\nUID:w@test\r\nDTSTART:20270301T090000Z\r\n"
                   "SUMMARY:Talk about [CONFLICT] handling\r\nEND:VEVENT\r\n"));
    CHECK(!vd_ical_strip_flags(ic, "[CONFLICT] ", "Conflict"));
    CHECK_STR(vd_ical_summary(ic), "Talk about [CONFLICT] handling");
    vd_ical_free(ic);
}

static void test_params_and_folding(void)
{
    vd_ical *ic = parse(CAL("BEGIN:VEVENT\r\nUID:p@test\r\nDTSTART:20270301T090000Z\r\n"
                            "SUMMARY:Visit\r\nEND:VEVENT\r\n"));
    vd_flag f = { "rep-overlap", "/calendars/o/visits/a;b,c.ics", "o'neil;x",
                  1803891600, 1803895200, "say \"hi\"\r\nthen: go" };
    vd_ical_add_flags(ic, &f, 1, 2, "[CONFLICT] ", "Conflict");
    char *s = ser(ic);
    char *flat = unfold(s);
    CHECK(strstr(flat, "X-OTHER-OWNER=\"o'neil;x\"") != NULL);
    CHECK(strstr(flat, "X-MESSAGE=\"say ^'hi^'  then: go\"") != NULL);   /* RFC 6868, no CR/LF */
    CHECK(strstr(flat, ":/calendars/o/visits/a;b,c.ics\r\n") != NULL);
    CHECK_STR(vd_ical_summary(ic), "Visit");                 /* marker 2: categories only */
    /* CRLF everywhere, folded at 75 octets */
    bool crlf = true, short_lines = true;
    for (const char *p = s; *p; p++)
        if (*p == '\n' && (p == s || p[-1] != '\r'))
            crlf = false;
    for (const char *line = s; *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if (end - line > 75)
            short_lines = false;
        line = end + 2;
    }
    CHECK(crlf);
    CHECK(short_lines);
    CHECK(strlen(s) > strlen(flat));                         /* something was folded */
    /* and it parses back, with the flag strippable */
    vd_ical *again = parse(s);
    CHECK(again != NULL);
    CHECK(vd_ical_strip_flags(again, "[CONFLICT] ", "Conflict"));
    free(s);
    free(flat);
    vd_ical_free(again);
    vd_ical_free(ic);
    vd_buf b = VD_BUF_INIT;
    CHECK_INT(vd_ical_serialize(NULL, &b), VD_EINVAL);
}

/* ------------------------------------------------------------------ */
/* local days                                                          */

static void day_is(const char *t, const char *tz, const char *start, const char *end)
{
    vd_time ds = 0, de = 0;
    vd_ical_local_day(T(t), tz, &ds, &de);
    char a[17], b[17];
    vd_time_format_utc(ds, a);
    vd_time_format_utc(de, b);
    CHECK_STR(a, start);
    CHECK_STR(b, end);
}

static void test_local_day(void)
{
    day_is("20270301T100000Z", "UTC", "20270301T000000Z", "20270302T000000Z");
    day_is("20270301T000000Z", NULL, "20270301T000000Z", "20270302T000000Z");
    day_is("20270301T235959Z", "Mars/Olympus", "20270301T000000Z", "20270302T000000Z");
    /* Berlin, a normal winter day: local midnight is 23:00Z */
    day_is("20270301T100000Z", "Europe/Berlin", "20270228T230000Z", "20270301T230000Z");
    day_is("20270301T230000Z", "Europe/Berlin", "20270301T230000Z", "20270302T230000Z");
    day_is("20270301T225959Z", "Europe/Berlin", "20270228T230000Z", "20270301T230000Z");
    /* 2027-03-28: clocks go forward, 23 hours */
    day_is("20270328T100000Z", "Europe/Berlin", "20270327T230000Z", "20270328T220000Z");
    /* 2027-10-31: clocks go back, 25 hours */
    day_is("20271031T100000Z", "Europe/Berlin", "20271030T220000Z", "20271031T230000Z");
    day_is("20271031T011500Z", "Europe/Berlin", "20271030T220000Z", "20271031T230000Z");
    /* Shanghai, UTC+8 without DST */
    day_is("20270301T200000Z", "Asia/Shanghai", "20270301T160000Z", "20270302T160000Z");
    day_is("20270301T155959Z", "Asia/Shanghai", "20270228T160000Z", "20270301T160000Z");
    /* Havana: DST starts at local midnight (00:00 -> 01:00), so 2027-03-14
     * begins at the transition, 05:00Z, and the 13th ends there */
    day_is("20270314T060000Z", "America/Havana", "20270314T050000Z", "20270315T040000Z");
    day_is("20270314T045320Z", "America/Havana", "20270313T050000Z", "20270314T050000Z");

    vd_time ds, de;
    vd_ical_local_day(VD_TIME_MIN, "Europe/Berlin", &ds, &de);
    CHECK(ds <= VD_TIME_MIN + 86400 && de > VD_TIME_MIN);
    vd_ical_local_day(VD_TIME_MAX, "Europe/Berlin", &ds, &de);
    CHECK(ds <= VD_TIME_MAX && de == VD_TIME_MAX);
}

static void test_offsets_and_zones(void)
{
    CHECK_INT(vd_ical_utc_offset(T("20270301T100000Z"), "Europe/Berlin"), 3600);
    CHECK_INT(vd_ical_utc_offset(T("20270701T100000Z"), "Europe/Berlin"), 7200);
    CHECK_INT(vd_ical_utc_offset(T("20270328T005959Z"), "Europe/Berlin"), 3600);
    CHECK_INT(vd_ical_utc_offset(T("20270328T010000Z"), "Europe/Berlin"), 7200);
    CHECK_INT(vd_ical_utc_offset(T("20270301T100000Z"), "Asia/Shanghai"), 28800);
    CHECK_INT(vd_ical_utc_offset(T("20270301T100000Z"), "America/New_York"), -18000);
    CHECK_INT(vd_ical_utc_offset(T("20270301T100000Z"), "UTC"), 0);
    CHECK_INT(vd_ical_utc_offset(T("20270301T100000Z"), NULL), 0);
    CHECK(vd_ical_zone_known("Europe/Berlin"));
    CHECK(vd_ical_zone_known("UTC"));
    CHECK(!vd_ical_zone_known("Mars/Olympus"));
    CHECK(!vd_ical_zone_known("../../etc/passwd"));
    CHECK(!vd_ical_zone_known(NULL));
}

/* Several threads asking for local days in several zones at once. */
static void *day_worker(void *arg)
{
    static const char *const zones[] = { "Europe/Berlin", "Asia/Shanghai", "America/Havana",
                                         "Australia/Sydney", "America/Sao_Paulo", "Asia/Kolkata" };
    long id = (long)arg, bad = 0;
    for (int i = 0; i < 300; i++) {
        vd_time t = T("20270328T100000Z") + (vd_time)i * 3571;
        vd_time ds, de;
        vd_ical_local_day(t, zones[(id + i) % 6], &ds, &de);
        if (!(ds <= t && t < de && de - ds >= 22 * 3600 && de - ds <= 26 * 3600))
            bad++;
        vd_ical_local_day(T("20270328T100000Z"), "Europe/Berlin", &ds, &de);
        if (de - ds != 23 * 3600)
            bad++;
    }
    return (void *)bad;
}

static void test_threads(void)
{
    pthread_t th[6];
    long bad = 0;
    for (long i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, day_worker, (void *)i);
    for (int i = 0; i < 6; i++) {
        void *r = NULL;
        pthread_join(th[i], &r);
        bad += (long)r;
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    test_info();
    test_info_variants();
    test_round_trip();
    test_recurring_marker();
    test_strip_cases();
    test_params_and_folding();
    test_local_day();
    test_offsets_and_zones();
    test_threads();
    return check_done();
}
