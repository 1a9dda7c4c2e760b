"""REPORT free-busy-query (RFC 4791 7.10): busy periods of the events in
the range, TRANSPARENT and CANCELLED excluded, TENTATIVE as BUSY-TENTATIVE,
recurrences and time zones honoured."""
import datetime as dt

from helpers import (XML_CT, event_ics, ical_duration, ical_utc, new_calendar, parse_ical,
                     put_ok, req, tz_ny, uid, vcal, vevent)

UTC = dt.timezone.utc


def fb_body(start, end):
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<C:time-range start="%s" end="%s"/></C:free-busy-query>' % (start, end))


def free_busy(s, cal, start, end):
    r = req(s, "REPORT", cal, fb_body(start, end), {"Depth": "1", "Content-Type": XML_CT})
    assert r.status_code == 200, (r.status_code, r.text[:500])
    assert r.headers["Content-Type"].lower().startswith("text/calendar")
    root = parse_ical(r.text)
    assert [c.name for c in root.children] == ["VCALENDAR"]
    fbs = root.children[0].walk("VFREEBUSY")
    assert len(fbs) == 1, len(fbs)
    return fbs[0]


def periods(fb):
    """{fbtype: merged [(start, end)]} from the FREEBUSY properties."""
    out = {}
    for name, params, value in fb.get("FREEBUSY"):
        kind = params.get("FBTYPE", "BUSY").upper()
        for p in value.split(","):
            a, b = p.split("/")
            start = ical_utc(a)
            end = start + ical_duration(b) if b.startswith(("P", "+P", "-P")) else ical_utc(b)
            out.setdefault(kind, []).append((start, end))
    return {k: merge(v) for k, v in out.items()}


def merge(iv):
    iv = sorted(iv)
    out = []
    for a, b in iv:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def t(s):
    return ical_utc(s)


def fb_calendar(s):
    cal = new_calendar(s)
    day = "20240610"
    put_ok(s, cal + "busy.ics", event_ics(uid(), day + "T100000Z", day + "T110000Z"))
    put_ok(s, cal + "transp.ics", event_ics(uid(), day + "T120000Z", day + "T130000Z",
                                            extra=["TRANSP:TRANSPARENT"]))
    put_ok(s, cal + "cancel.ics", event_ics(uid(), day + "T140000Z", day + "T150000Z",
                                            extra=["STATUS:CANCELLED"]))
    put_ok(s, cal + "tent.ics", event_ics(uid(), day + "T160000Z", day + "T170000Z",
                                          extra=["STATUS:TENTATIVE"]))
    put_ok(s, cal + "daily.ics", event_ics(uid(), "20240601T080000Z", "20240601T090000Z",
                                           extra=["RRULE:FREQ=DAILY;COUNT=30"]))
    put_ok(s, cal + "tomorrow.ics", event_ics(uid(), "20240611T100000Z", "20240611T110000Z"))
    return cal


def test_busy_periods(alice):
    cal = fb_calendar(alice)
    fb = free_busy(alice, cal, "20240610T000000Z", "20240611T000000Z")
    p = periods(fb)
    assert p.get("BUSY") == [(t("20240610T080000Z"), t("20240610T090000Z")),
                             (t("20240610T100000Z"), t("20240610T110000Z"))], p
    assert p.get("BUSY-TENTATIVE") == [(t("20240610T160000Z"), t("20240610T170000Z"))], p
    assert set(p) <= {"BUSY", "BUSY-TENTATIVE"}


def test_vfreebusy_range(alice):
    cal = fb_calendar(alice)
    fb = free_busy(alice, cal, "20240610T000000Z", "20240611T000000Z")
    assert fb.value("DTSTART") == "20240610T000000Z"
    assert fb.value("DTEND") == "20240611T000000Z"
    assert fb.value("DTSTAMP") is not None


def test_transparent_and_cancelled_excluded(alice):
    cal = fb_calendar(alice)
    fb = free_busy(alice, cal, "20240610T120000Z", "20240610T150000Z")
    assert periods(fb) == {}


def test_periods_clipped_to_range(alice):
    cal = fb_calendar(alice)
    fb = free_busy(alice, cal, "20240610T103000Z", "20240610T163000Z")
    p = periods(fb)
    assert p.get("BUSY") == [(t("20240610T103000Z"), t("20240610T110000Z"))], p
    assert p.get("BUSY-TENTATIVE") == [(t("20240610T160000Z"), t("20240610T163000Z"))], p


def test_empty_range_has_no_freebusy(alice):
    cal = fb_calendar(alice)
    fb = free_busy(alice, cal, "20250101T000000Z", "20250102T000000Z")
    assert fb.get("FREEBUSY") == []


def test_recurring_instances_over_several_days(alice):
    cal = fb_calendar(alice)
    fb = free_busy(alice, cal, "20240628T000000Z", "20240703T000000Z")
    # daily from 1 June, 30 times: last on 30 June
    assert periods(fb).get("BUSY") == [(t("202406%02dT080000Z" % d), t("202406%02dT090000Z" % d))
                                       for d in (28, 29, 30)]


def test_timezone_event_in_utc(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "ny.ics", vcal(vevent(uid(), ";TZID=America/New_York:20240715T090000",
                                              ";TZID=America/New_York:20240715T100000"),
                                       timezones=[tz_ny()]))
    fb = free_busy(alice, cal, "20240715T000000Z", "20240716T000000Z")
    assert periods(fb) == {"BUSY": [(t("20240715T130000Z"), t("20240715T140000Z"))]}


def test_overlapping_events_merge_or_cover(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "a.ics", event_ics(uid(), "20240610T100000Z", "20240610T120000Z"))
    put_ok(alice, cal + "b.ics", event_ics(uid(), "20240610T110000Z", "20240610T130000Z"))
    fb = free_busy(alice, cal, "20240610T000000Z", "20240611T000000Z")
    assert periods(fb) == {"BUSY": [(t("20240610T100000Z"), t("20240610T130000Z"))]}


def test_free_busy_other_users_calendar_is_403(alice, bob):
    req(bob, "PROPFIND", "/", None, {"Depth": "0"})
    r = req(alice, "REPORT", "/calendars/bob/visits/", fb_body("20240610T000000Z", "20240611T000000Z"),
            {"Depth": "1", "Content-Type": XML_CT})
    assert r.status_code == 403


def test_free_busy_bad_range_rejected(alice):
    cal = new_calendar(alice)
    r = req(alice, "REPORT", cal, fb_body("tomorrow", "20240611T000000Z"),
            {"Depth": "1", "Content-Type": XML_CT})
    assert r.status_code in (400, 403), r.status_code


def test_all_day_event_busy_whole_day(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "day.ics", vcal(vevent(uid(), ";VALUE=DATE:20240612", ";VALUE=DATE:20240613")))
    fb = free_busy(alice, cal, "20240611T000000Z", "20240614T000000Z")
    assert periods(fb) == {"BUSY": [(t("20240612T000000Z"), t("20240613T000000Z"))]}


def test_recurring_with_exdate_and_override(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "r.ics", vcal(
        vevent(u, "20240610T080000Z", "20240610T090000Z",
               extra=["RRULE:FREQ=DAILY;COUNT=3", "EXDATE:20240611T080000Z"]),
        vevent(u, "20240612T150000Z", "20240612T160000Z",
               extra=["RECURRENCE-ID:20240612T080000Z"])))
    fb = free_busy(alice, cal, "20240610T000000Z", "20240613T000000Z")
    assert periods(fb) == {"BUSY": [(t("20240610T080000Z"), t("20240610T090000Z")),
                                    (t("20240612T150000Z"), t("20240612T160000Z"))]}
