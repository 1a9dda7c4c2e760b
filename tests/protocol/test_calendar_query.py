"""REPORT calendar-query (RFC 4791 7.8, 9.7, 9.9): comp-filter with
time-range over recurrences (RRULE, RDATE, EXDATE, overridden instances),
time zones, all-day and floating times; prop-filter / param-filter /
text-match with collations; is-not-defined; VTODO; calendar-data and expand.
"""
import pytest

from helpers import (CAL, DAV, XML_CT, Multistatus, assert_dav_error, mkcalendar_body,
                     new_calendar, parse_ical, put_ok, req, tz_calendar, tz_ny, uid, vcal,
                     vevent, vtodo, q)


def query_body(filter_xml, props="<D:getetag/>", timezone=None):
    tz = "<C:timezone><![CDATA[%s]]></C:timezone>" % timezone if timezone else ""
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop>%s</D:prop><C:filter>%s</C:filter>%s</C:calendar-query>'
            % (props, filter_xml, tz))


def report(s, path, body, depth="1"):
    return req(s, "REPORT", path, body, {"Depth": depth, "Content-Type": XML_CT})


def names(s, cal, filter_xml, **kw):
    ms = Multistatus(report(s, cal, query_body(filter_xml, **kw)))
    out = set()
    for r in ms.responses:
        assert r.href.startswith(cal) and r.href != cal, r.href
        assert r.status is None, "response-level status %s for %s" % (r.status, r.href)
        assert r.prop(q(DAV, "getetag")) is not None, r.href
        out.add(r.href[len(cal):])
    return out


def tr(start=None, end=None):
    attrs = ""
    if start:
        attrs += ' start="%s"' % start
    if end:
        attrs += ' end="%s"' % end
    return "<C:time-range%s/>" % attrs


def events(inner=""):
    return ('<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">%s'
            '</C:comp-filter></C:comp-filter>' % inner)


def todos(inner=""):
    return ('<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO">%s'
            '</C:comp-filter></C:comp-filter>' % inner)


# ------------------------------------------------------------ recurrence
def recurring_ics(u):
    """Weekly on Mondays 10:00-11:00Z from 2024-01-01, 10 times; 15 Jan
    excluded; the 22 Jan instance moved to Wednesday 24 Jan 14:00-15:00Z."""
    return vcal(
        vevent(u, "20240101T100000Z", "20240101T110000Z", summary="weekly",
               extra=["RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE:20240115T100000Z"]),
        vevent(u, "20240124T140000Z", "20240124T150000Z", summary="moved",
               extra=["RECURRENCE-ID:20240122T100000Z"]))


def recurring_calendar(s):
    cal = new_calendar(s)
    put_ok(s, cal + "rec.ics", recurring_ics(uid()))
    put_ok(s, cal + "decoy.ics", vcal(vevent(uid(), "20240601T100000Z", "20240601T110000Z")))
    return cal


REC_WINDOWS = [
    ("first-instance", "20240101T000000Z", "20240102T000000Z", True),
    ("exdate-day", "20240115T000000Z", "20240116T000000Z", False),
    ("overridden-original-day", "20240122T000000Z", "20240123T000000Z", False),
    ("override-new-day", "20240124T000000Z", "20240125T000000Z", True),
    ("inside-override", "20240124T143000Z", "20240124T143100Z", True),
    ("last-instance", "20240304T000000Z", "20240305T000000Z", True),
    ("after-count", "20240311T000000Z", "20240312T000000Z", False),
    ("inside-an-instance", "20240212T103000Z", "20240212T103100Z", True),
    ("ends-at-instance-start", "20240108T090000Z", "20240108T100000Z", False),
    ("starts-at-instance-end", "20240108T110000Z", "20240108T120000Z", False),
    ("between-instances", "20240109T000000Z", "20240114T000000Z", False),
    ("before-first", "20231201T000000Z", "20231231T000000Z", False),
    ("open-end", "20240301T000000Z", None, True),   # decoy.ics added below
    ("open-start", None, "20240102T000000Z", True),
]


@pytest.mark.parametrize("label,start,end,hit", REC_WINDOWS, ids=[w[0] for w in REC_WINDOWS])
def test_recurring_event_windows(alice, label, start, end, hit):
    cal = recurring_calendar(alice)
    got = names(alice, cal, events(tr(start, end)))
    expected = {"rec.ics"} if hit else set()
    if label == "open-end":
        expected.add("decoy.ics")   # 2024-06-01 lies in [2024-03-01, infinity)
    assert got == expected, (label, got)


def test_infinite_rrule_far_in_the_future(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "forever.ics", vcal(vevent(uid(), "20240101T100000Z", "20240101T110000Z",
                                                   extra=["RRULE:FREQ=WEEKLY"])))
    assert names(alice, cal, events(tr("20300107T000000Z", "20300108T000000Z"))) == {"forever.ics"}
    assert names(alice, cal, events(tr("20300108T000000Z", "20300114T000000Z"))) == set()


def test_rdate_instance(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "rdate.ics", vcal(vevent(uid(), "20240610T100000Z", "20240610T110000Z",
                                                 extra=["RDATE:20240620T100000Z"])))
    assert names(alice, cal, events(tr("20240620T000000Z", "20240621T000000Z"))) == {"rdate.ics"}
    assert names(alice, cal, events(tr("20240615T000000Z", "20240616T000000Z"))) == set()


def test_until_rrule(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "until.ics", vcal(vevent(uid(), "20240601T080000Z", "20240601T090000Z",
                                                 extra=["RRULE:FREQ=DAILY;UNTIL=20240605T080000Z"])))
    assert names(alice, cal, events(tr("20240605T000000Z", "20240606T000000Z"))) == {"until.ics"}
    assert names(alice, cal, events(tr("20240606T000000Z", "20240607T000000Z"))) == set()


# ------------------------------------------------------------ time zones and edges
def tz_events_calendar(s):
    cal = new_calendar(s)
    tz = tz_ny()
    # 09:00 EST = 14:00Z; 09:00 EDT = 13:00Z
    put_ok(s, cal + "winter.ics", vcal(vevent(uid(), ";TZID=America/New_York:20240115T090000",
                                              ";TZID=America/New_York:20240115T100000"),
                                       timezones=[tz]))
    put_ok(s, cal + "summer.ics", vcal(vevent(uid(), ";TZID=America/New_York:20240715T090000",
                                              ";TZID=America/New_York:20240715T100000"),
                                       timezones=[tz]))
    put_ok(s, cal + "dst.ics", vcal(vevent(uid(), ";TZID=America/New_York:20240301T090000",
                                           ";TZID=America/New_York:20240301T100000",
                                           extra=["RRULE:FREQ=WEEKLY;COUNT=3"]),
                                    timezones=[tz]))
    put_ok(s, cal + "utc.ics", vcal(vevent(uid(), "20240301T235900Z", "20240302T000100Z")))
    return cal


TZ_WINDOWS = [
    ("winter-inside", "20240115T143000Z", "20240115T144500Z", {"winter.ics"}),
    ("winter-as-if-utc", "20240115T090000Z", "20240115T100000Z", set()),
    ("winter-after-end", "20240115T150000Z", "20240115T160000Z", set()),
    ("winter-before-start", "20240115T130000Z", "20240115T140000Z", set()),
    ("summer-inside", "20240715T130000Z", "20240715T133000Z", {"summer.ics"}),
    ("summer-as-if-standard", "20240715T140000Z", "20240715T143000Z", set()),
    ("dst-third-instance", "20240315T133000Z", "20240315T134000Z", {"dst.ics"}),
    ("dst-third-instance-wrong-offset", "20240315T140000Z", "20240315T143000Z", set()),
    ("dst-first-instance", "20240301T143000Z", "20240301T144000Z", {"dst.ics"}),
    ("utc-edge-next-day", "20240302T000000Z", "20240303T000000Z", {"utc.ics"}),
    ("utc-edge-ends-at-start", "20240301T200000Z", "20240301T235900Z", set()),
    ("utc-edge-starts-at-end", "20240302T000100Z", "20240302T010000Z", set()),
]


@pytest.mark.parametrize("label,start,end,expected", TZ_WINDOWS, ids=[w[0] for w in TZ_WINDOWS])
def test_timezone_windows(alice, label, start, end, expected):
    cal = tz_events_calendar(alice)
    assert names(alice, cal, events(tr(start, end))) == expected


def test_all_day_event_utc_calendar(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "day.ics", vcal(vevent(uid(), ";VALUE=DATE:20240405", ";VALUE=DATE:20240406")))
    assert names(alice, cal, events(tr("20240405T120000Z", "20240405T130000Z"))) == {"day.ics"}
    assert names(alice, cal, events(tr("20240407T000000Z", "20240408T000000Z"))) == set()
    assert names(alice, cal, events(tr("20240403T000000Z", "20240404T000000Z"))) == set()


def test_all_day_event_without_dtend_lasts_one_day(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "d1.ics", vcal(vevent(uid(), ";VALUE=DATE:20240408")))
    assert names(alice, cal, events(tr("20240408T120000Z", "20240408T130000Z"))) == {"d1.ics"}
    assert names(alice, cal, events(tr("20240410T000000Z", "20240411T000000Z"))) == set()


def ny_calendar(s):
    return new_calendar(s, mkcalendar_body("NY", timezone=tz_calendar(tz_ny())))


def test_all_day_event_in_calendar_timezone(alice):
    # an all-day event is a floating day: in New York, 5 April runs from
    # 04:00Z on the 5th to 04:00Z on the 6th
    cal = ny_calendar(alice)
    put_ok(alice, cal + "day.ics", vcal(vevent(uid(), ";VALUE=DATE:20240405", ";VALUE=DATE:20240406")))
    assert names(alice, cal, events(tr("20240405T020000Z", "20240405T030000Z"))) == set()
    assert names(alice, cal, events(tr("20240406T020000Z", "20240406T030000Z"))) == {"day.ics"}


def test_floating_event_in_calendar_timezone(alice):
    cal = ny_calendar(alice)
    put_ok(alice, cal + "float.ics", vcal(vevent(uid(), "20240115T090000", "20240115T100000")))
    assert names(alice, cal, events(tr("20240115T143000Z", "20240115T144500Z"))) == {"float.ics"}
    assert names(alice, cal, events(tr("20240115T093000Z", "20240115T094500Z"))) == set()


def test_floating_event_with_query_timezone(alice):
    # RFC 4791 9.9: C:timezone in the query sets the zone for floating times
    cal = new_calendar(alice)
    put_ok(alice, cal + "float.ics", vcal(vevent(uid(), "20240115T090000", "20240115T100000")))
    tz = tz_calendar(tz_ny())
    assert names(alice, cal, events(tr("20240115T143000Z", "20240115T144500Z")),
                 timezone=tz) == {"float.ics"}
    assert names(alice, cal, events(tr("20240115T093000Z", "20240115T094500Z")),
                 timezone=tz) == set()


def test_event_with_duration(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "dur.ics", vcal(vevent(uid(), "20240610T100000Z", None,
                                               extra=["DURATION:PT2H"])))
    assert names(alice, cal, events(tr("20240610T113000Z", "20240610T114500Z"))) == {"dur.ics"}
    assert names(alice, cal, events(tr("20240610T120000Z", "20240610T130000Z"))) == set()


def test_event_without_end_is_instant(alice):
    # RFC 4791 9.9: DTSTART only (DATE-TIME) matches if start <= DTSTART < end
    cal = new_calendar(alice)
    put_ok(alice, cal + "inst.ics", vcal(vevent(uid(), "20240610T100000Z")))
    assert names(alice, cal, events(tr("20240610T100000Z", "20240610T100100Z"))) == {"inst.ics"}
    assert names(alice, cal, events(tr("20240610T090000Z", "20240610T100000Z"))) == set()


def test_comp_filter_without_time_range_returns_all_events(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "a.ics", vcal(vevent(uid(), "20240610T100000Z", "20240610T110000Z")))
    put_ok(alice, cal + "b.ics", recurring_ics(uid()))
    put_ok(alice, cal + "t.ics", vcal(vtodo(uid(), "20240610T100000Z")))
    assert names(alice, cal, events()) == {"a.ics", "b.ics"}
    assert names(alice, cal, '<C:comp-filter name="VCALENDAR"/>') == {"a.ics", "b.ics", "t.ics"}


# ------------------------------------------------------------ text-match
def text_calendar(s):
    cal = new_calendar(s)
    put_ok(s, cal + "m.ics", vcal(vevent(uid(), "20240610T100000Z", "20240610T110000Z",
                                         summary="Besuch bei Müller GmbH",
                                         extra=["DESCRIPTION:Angebot besprechen"])))
    put_ok(s, cal + "h.ics", vcal(vevent(uid(), "20240611T100000Z", "20240611T110000Z",
                                         summary="拜访华为技术有限公司")))
    put_ok(s, cal + "o.ics", vcal(vevent(uid(), "20240612T100000Z", "20240612T110000Z",
                                         summary="Other appointment")))
    return cal


def summary_match(text, collation=None, negate=False, prop="SUMMARY"):
    attrs = ""
    if collation:
        attrs += ' collation="%s"' % collation
    if negate:
        attrs += ' negate-condition="yes"'
    return events('<C:prop-filter name="%s"><C:text-match%s>%s</C:text-match></C:prop-filter>'
                  % (prop, attrs, text))


TEXT_CASES = [
    ("unicode-casemap-upper-umlaut", "MÜLLER", "i;unicode-casemap", False, {"m.ics"}),
    ("unicode-casemap-lower", "müller", "i;unicode-casemap", False, {"m.ics"}),
    ("ascii-casemap-does-not-fold-umlaut", "MÜLLER", "i;ascii-casemap", False, set()),
    ("ascii-casemap-folds-ascii", "MüLLER", "i;ascii-casemap", False, {"m.ics"}),
    ("default-collation-is-ascii-casemap", "besuch", None, False, {"m.ics"}),
    ("octet-is-case-sensitive", "besuch", "i;octet", False, set()),
    ("octet-exact", "Besuch", "i;octet", False, {"m.ics"}),
    ("cjk-substring-unicode", "华为", "i;unicode-casemap", False, {"h.ics"}),
    ("cjk-substring-ascii", "华为", "i;ascii-casemap", False, {"h.ics"}),
    ("negate", "Müller", "i;unicode-casemap", True, {"h.ics", "o.ics"}),
    ("substring-in-middle", "bei m", None, False, {"m.ics"}),
    ("no-match", "Siemens", None, False, set()),
]


@pytest.mark.parametrize("label,text,coll,neg,expected", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_match(alice, label, text, coll, neg, expected):
    cal = text_calendar(alice)
    assert names(alice, cal, summary_match(text, coll, neg)) == expected


def test_negated_text_match_needs_the_property(alice):
    # RFC 4791 9.7.2: a prop-filter with text-match matches only a defined property
    cal = text_calendar(alice)
    assert names(alice, cal, summary_match("nothing-like-this", negate=True,
                                           prop="DESCRIPTION")) == {"m.ics"}


def test_unknown_collation_is_supported_collation_error(alice):
    cal = text_calendar(alice)
    r = report(alice, cal, query_body(summary_match("x", "i;klingon")))
    assert_dav_error(r, CAL, "supported-collation")


# ------------------------------------------------------------ param-filter, is-not-defined
def attendee_calendar(s):
    cal = new_calendar(s)
    put_ok(s, cal + "acc.ics", vcal(vevent(uid(), "20240610T100000Z", "20240610T110000Z", extra=[
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Anna:mailto:anna@example.com"])))
    put_ok(s, cal + "need.ics", vcal(vevent(uid(), "20240611T100000Z", "20240611T110000Z", extra=[
        "ATTENDEE;CN=Ben;PARTSTAT=NEEDS-ACTION:mailto:ben@example.com",
        "LOCATION:Werk 2"])))
    put_ok(s, cal + "nopart.ics", vcal(vevent(uid(), "20240612T100000Z", "20240612T110000Z", extra=[
        "ATTENDEE:mailto:cleo@example.com"])))
    put_ok(s, cal + "alone.ics", vcal(vevent(uid(), "20240613T100000Z", "20240613T110000Z", extra=[
        "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:go", "TRIGGER:-PT15M", "END:VALARM"])))
    return cal


def test_param_filter_partstat(alice):
    cal = attendee_calendar(alice)
    f = events('<C:prop-filter name="ATTENDEE"><C:param-filter name="PARTSTAT">'
               '<C:text-match>NEEDS-ACTION</C:text-match></C:param-filter></C:prop-filter>')
    assert names(alice, cal, f) == {"need.ics"}


def test_param_filter_is_not_defined(alice):
    cal = attendee_calendar(alice)
    f = events('<C:prop-filter name="ATTENDEE"><C:param-filter name="PARTSTAT">'
               '<C:is-not-defined/></C:param-filter></C:prop-filter>')
    assert names(alice, cal, f) == {"nopart.ics"}


def test_prop_filter_defined(alice):
    cal = attendee_calendar(alice)
    assert names(alice, cal, events('<C:prop-filter name="ATTENDEE"/>')) == \
        {"acc.ics", "need.ics", "nopart.ics"}


def test_prop_filter_text_match_on_cal_address(alice):
    cal = attendee_calendar(alice)
    f = events('<C:prop-filter name="ATTENDEE"><C:text-match>ben@EXAMPLE.com</C:text-match>'
               '</C:prop-filter>')
    assert names(alice, cal, f) == {"need.ics"}


def test_prop_is_not_defined(alice):
    cal = attendee_calendar(alice)
    f = events('<C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter>')
    assert names(alice, cal, f) == {"acc.ics", "nopart.ics", "alone.ics"}


def test_comp_is_not_defined_valarm(alice):
    cal = attendee_calendar(alice)
    f = events('<C:comp-filter name="VALARM"><C:is-not-defined/></C:comp-filter>')
    assert names(alice, cal, f) == {"acc.ics", "need.ics", "nopart.ics"}


def test_nested_comp_filter_valarm(alice):
    cal = attendee_calendar(alice)
    assert names(alice, cal, events('<C:comp-filter name="VALARM"/>')) == {"alone.ics"}


def test_all_filters_must_match(alice):
    cal = attendee_calendar(alice)
    f = events(tr("20240611T000000Z", "20240612T000000Z") + '<C:prop-filter name="ATTENDEE"/>'
               '<C:prop-filter name="LOCATION"><C:text-match>werk</C:text-match></C:prop-filter>')
    assert names(alice, cal, f) == {"need.ics"}
    f = events(tr("20240610T000000Z", "20240611T000000Z") + '<C:prop-filter name="LOCATION"/>')
    assert names(alice, cal, f) == set()


# ------------------------------------------------------------ VTODO
def todo_calendar(s):
    cal = new_calendar(s)
    put_ok(s, cal + "open.ics", vcal(vtodo(uid(), "20240610T100000Z", "20240610T120000Z",
                                           summary="call back")))
    put_ok(s, cal + "done.ics", vcal(vtodo(uid(), "20240611T100000Z", "20240611T120000Z",
                                           summary="send offer",
                                           extra=["STATUS:COMPLETED", "COMPLETED:20240611T110000Z"])))
    put_ok(s, cal + "event.ics", vcal(vevent(uid(), "20240610T100000Z", "20240610T120000Z")))
    return cal


def test_vtodo_query(alice):
    cal = todo_calendar(alice)
    assert names(alice, cal, todos()) == {"open.ics", "done.ics"}
    assert names(alice, cal, events()) == {"event.ics"}


def test_vtodo_incomplete(alice):
    cal = todo_calendar(alice)
    f = todos('<C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter>')
    assert names(alice, cal, f) == {"open.ics"}


def test_vtodo_time_range(alice):
    cal = todo_calendar(alice)
    assert names(alice, cal, todos(tr("20240610T110000Z", "20240610T113000Z"))) == {"open.ics"}
    assert names(alice, cal, todos(tr("20240612T000000Z", "20240613T000000Z"))) == set()


# ------------------------------------------------------------ calendar-data, expand
def test_calendar_data_returned(alice):
    cal = text_calendar(alice)
    body = query_body(events(), props="<D:getetag/><C:calendar-data/>")
    ms = Multistatus(report(alice, cal, body))
    assert len(ms.responses) == 3
    for r in ms.responses:
        g = req(alice, "GET", r.href)
        assert r.text(q(DAV, "getetag")) == g.headers["ETag"]
        data = r.text(q(CAL, "calendar-data"))
        assert data.replace("\r\n", "\n") == g.text.replace("\r\n", "\n")


def test_calendar_data_not_returned_unless_asked(alice):
    cal = text_calendar(alice)
    ms = Multistatus(report(alice, cal, query_body(events())))
    for r in ms.responses:
        assert r.prop_status(q(CAL, "calendar-data")) is None


def expanded(s, cal, start, end, name):
    body = query_body(events(tr(start, end)),
                      props='<D:getetag/><C:calendar-data><C:expand start="%s" end="%s"/>'
                            '</C:calendar-data>' % (start, end))
    ms = Multistatus(report(s, cal, body))
    vc = parse_ical(ms.get(cal + name).text(q(CAL, "calendar-data"))).children[0]
    return vc.walk("VEVENT")


def test_expand_returns_instances_in_utc(alice):
    cal = recurring_calendar(alice)
    evs = expanded(alice, cal, "20240101T000000Z", "20240201T000000Z", "rec.ics")
    starts = sorted(e.value("DTSTART") for e in evs)
    assert starts == ["20240101T100000Z", "20240108T100000Z", "20240124T140000Z",
                      "20240129T100000Z"], starts
    for e in evs:
        assert e.get("RRULE") == [] and e.get("EXDATE") == [] and e.get("RDATE") == []
        assert e.value("RECURRENCE-ID") is not None
        assert e.value("RECURRENCE-ID").endswith("Z")
        assert e.value("DTSTART").endswith("Z")
    moved = [e for e in evs if e.value("DTSTART") == "20240124T140000Z"][0]
    assert moved.value("RECURRENCE-ID") == "20240122T100000Z"
    assert moved.value("SUMMARY") == "moved"


def test_expand_across_dst_in_utc(alice):
    cal = tz_events_calendar(alice)
    evs = expanded(alice, cal, "20240225T000000Z", "20240320T000000Z", "dst.ics")
    starts = sorted(e.value("DTSTART") for e in evs)
    assert starts == ["20240301T140000Z", "20240308T140000Z", "20240315T130000Z"], starts
    for e in evs:
        assert "TZID" not in e.get("DTSTART")[0][1]


def test_bad_time_range_is_valid_filter(alice):
    cal = new_calendar(alice)
    for start in ("20240101", "garbage", "2024-01-01T00:00:00Z"):
        r = report(alice, cal, query_body(events(tr(start, "20240201T000000Z"))))
        assert_dav_error(r, CAL, "valid-filter")


def test_missing_filter_is_rejected(alice):
    cal = new_calendar(alice)
    body = ('<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/></D:prop></C:calendar-query>')
    r = report(alice, cal, body)
    assert r.status_code in (400, 403), r.status_code


def test_query_on_other_users_calendar_is_403(alice, bob):
    req(bob, "PROPFIND", "/", None, {"Depth": "0"})
    r = report(alice, "/calendars/bob/visits/", query_body(events()))
    assert r.status_code == 403


# ------------------------------------------------------------ more time-range semantics
def test_vtodo_without_dates_matches_any_range(alice):
    # RFC 4791 9.9: a VTODO with neither DTSTART, DUE, DURATION, COMPLETED
    # nor CREATED overlaps every time range
    cal = new_calendar(alice)
    put_ok(alice, cal + "nodate.ics", vcal(vtodo(uid(), None, None, summary="whenever")))
    assert names(alice, cal, todos(tr("20300101T000000Z", "20300102T000000Z"))) == {"nodate.ics"}


def test_vtodo_with_due_only(alice):
    # RFC 4791 9.9: DUE only: (start < DUE) AND (end >= DUE)
    cal = new_calendar(alice)
    put_ok(alice, cal + "due.ics", vcal(vtodo(uid(), None, "20240610T120000Z")))
    assert names(alice, cal, todos(tr("20240610T110000Z", "20240610T120000Z"))) == {"due.ics"}
    assert names(alice, cal, todos(tr("20240610T120000Z", "20240610T130000Z"))) == set()


def test_long_event_spanning_window(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "long.ics", vcal(vevent(uid(), "20240601T000000Z", "20240620T000000Z")))
    assert names(alice, cal, events(tr("20240610T000000Z", "20240610T010000Z"))) == {"long.ics"}


def test_tzid_recurrence_with_exdate_and_override(alice):
    cal = new_calendar(alice)
    u = uid()
    # daily 09:00 New York (14:00Z in winter); 3 Jan excluded; 4 Jan moved to 15:00 local
    put_ok(alice, cal + "nyrec.ics", vcal(
        vevent(u, ";TZID=America/New_York:20240101T090000", ";TZID=America/New_York:20240101T100000",
               extra=["RRULE:FREQ=DAILY;COUNT=5",
                      "EXDATE;TZID=America/New_York:20240103T090000"]),
        vevent(u, ";TZID=America/New_York:20240104T150000", ";TZID=America/New_York:20240104T160000",
               extra=["RECURRENCE-ID;TZID=America/New_York:20240104T090000"]),
        timezones=[tz_ny()]))
    hit = {"nyrec.ics"}
    assert names(alice, cal, events(tr("20240102T143000Z", "20240102T144000Z"))) == hit
    assert names(alice, cal, events(tr("20240103T000000Z", "20240104T000000Z"))) == set()
    assert names(alice, cal, events(tr("20240104T140000Z", "20240104T150000Z"))) == set()
    assert names(alice, cal, events(tr("20240104T200000Z", "20240104T203000Z"))) == hit
    assert names(alice, cal, events(tr("20240106T000000Z", "20240107T000000Z"))) == set()


def test_override_outside_master_range(alice):
    # an instance moved after the last regular occurrence still matches there
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "late.ics", vcal(
        vevent(u, "20240101T100000Z", "20240101T110000Z", extra=["RRULE:FREQ=DAILY;COUNT=2"]),
        vevent(u, "20240301T100000Z", "20240301T110000Z",
               extra=["RECURRENCE-ID:20240102T100000Z"])))
    assert names(alice, cal, events(tr("20240301T000000Z", "20240302T000000Z"))) == {"late.ics"}
    assert names(alice, cal, events(tr("20240102T000000Z", "20240103T000000Z"))) == set()


def test_partial_calendar_data(alice):
    # RFC 4791 9.6: only the asked-for components and properties come back
    cal = text_calendar(alice)
    props = ('<D:getetag/><C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/>'
             '<C:comp name="VEVENT"><C:prop name="SUMMARY"/><C:prop name="UID"/></C:comp>'
             '</C:comp></C:calendar-data>')
    ms = Multistatus(report(alice, cal, query_body(events(), props=props)))
    r = ms.get(cal + "m.ics")
    vc = parse_ical(r.text(q(CAL, "calendar-data"))).children[0]
    ev = vc.walk("VEVENT")[0]
    assert ev.value("SUMMARY") == "Besuch bei Müller GmbH"
    assert ev.value("UID") is not None
    assert ev.get("DESCRIPTION") == [] and ev.get("DTSTART") == []


def test_query_timezone_does_not_move_utc_events(alice):
    cal = tz_events_calendar(alice)
    got = names(alice, cal, events(tr("20240302T000000Z", "20240303T000000Z")),
                timezone=tz_calendar(tz_ny()))
    assert got == {"utc.ics"}


def custom_tz():
    # a zone no tz database knows: only the object's VTIMEZONE can place it
    return ("BEGIN:VTIMEZONE\r\nTZID:Visit-Custom/Plus0530\r\nBEGIN:STANDARD\r\n"
            "DTSTART:19700101T000000\r\nTZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\n"
            "TZNAME:X530\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")


def test_custom_vtimezone_from_the_object(alice):
    cal = new_calendar(alice)
    # 09:00 at +05:30 is 03:30Z
    put_ok(alice, cal + "custom.ics", vcal(vevent(uid(), ";TZID=Visit-Custom/Plus0530:20240610T090000",
                                                  ";TZID=Visit-Custom/Plus0530:20240610T100000"),
                                           timezones=[custom_tz()]))
    assert names(alice, cal, events(tr("20240610T034500Z", "20240610T040000Z"))) == {"custom.ics"}
    assert names(alice, cal, events(tr("20240610T090000Z", "20240610T100000Z"))) == set()


def test_expand_single_tzid_event_gives_utc(alice):
    cal = tz_events_calendar(alice)
    evs = expanded(alice, cal, "20240115T000000Z", "20240116T000000Z", "winter.ics")
    assert [e.value("DTSTART") for e in evs] == ["20240115T140000Z"]
    assert [e.value("DTEND") for e in evs] in (["20240115T150000Z"], [None])


# ------------------------------------------------------------ index consistency
def test_update_moves_event_in_time(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "mv.ics", vcal(vevent(u, "20240610T100000Z", "20240610T110000Z")))
    put_ok(alice, cal + "mv.ics", vcal(vevent(u, "20240710T100000Z", "20240710T110000Z")))
    assert names(alice, cal, events(tr("20240610T000000Z", "20240611T000000Z"))) == set()
    assert names(alice, cal, events(tr("20240710T000000Z", "20240711T000000Z"))) == {"mv.ics"}


def test_update_from_recurring_to_single(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "r.ics", vcal(vevent(u, "20240610T100000Z", "20240610T110000Z",
                                             extra=["RRULE:FREQ=DAILY"])))
    assert names(alice, cal, events(tr("20250101T000000Z", "20250102T000000Z"))) == {"r.ics"}
    put_ok(alice, cal + "r.ics", vcal(vevent(u, "20240610T100000Z", "20240610T110000Z")))
    assert names(alice, cal, events(tr("20250101T000000Z", "20250102T000000Z"))) == set()


def test_deleted_event_not_found_by_query(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "d.ics", vcal(vevent(uid(), "20240610T100000Z", "20240610T110000Z")))
    assert req(alice, "DELETE", cal + "d.ics").status_code == 204
    assert names(alice, cal, events(tr("20240610T000000Z", "20240611T000000Z"))) == set()


def test_moved_event_found_in_new_calendar_only(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "m.ics", vcal(vevent(uid(), "20240610T100000Z", "20240610T110000Z")))
    r = req(alice, "MOVE", a + "m.ics", headers={"Destination": alice.base + b + "m.ics"})
    assert r.status_code == 201
    window = events(tr("20240610T000000Z", "20240611T000000Z"))
    assert names(alice, a, window) == set()
    assert names(alice, b, window) == {"m.ics"}


def test_moved_calendar_is_queryable(alice):
    a = new_calendar(alice)
    put_ok(alice, a + "q.ics", vcal(vevent(uid(), "20240610T100000Z", "20240610T110000Z")))
    dst = a[:-1] + "-moved/"
    assert req(alice, "MOVE", a, headers={"Destination": alice.base + dst}).status_code == 201
    assert names(alice, dst, events(tr("20240610T000000Z", "20240611T000000Z"))) == {"q.ics"}


def test_recreated_calendar_has_no_old_events(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "old.ics", vcal(vevent(u, "20240610T100000Z", "20240610T110000Z")))
    assert req(alice, "DELETE", cal).status_code == 204
    assert req(alice, "MKCALENDAR", cal).status_code == 201
    assert names(alice, cal, events(tr("20240610T000000Z", "20240611T000000Z"))) == set()
    assert names(alice, cal, events()) == set()
    # and the UID is free again
    from helpers import put
    assert put(alice, cal + "new.ics", vcal(vevent(u, "20240610T100000Z", "20240610T110000Z"))) \
        .status_code == 201


def test_all_day_yearly_recurrence(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "bday.ics", vcal(vevent(uid(), ";VALUE=DATE:20200229", ";VALUE=DATE:20200301",
                                                extra=["RRULE:FREQ=YEARLY"])))
    # 29 February only exists in leap years (RFC 5545: invalid dates are skipped)
    assert names(alice, cal, events(tr("20280229T120000Z", "20280229T130000Z"))) == {"bday.ics"}
    assert names(alice, cal, events(tr("20270228T000000Z", "20270302T000000Z"))) == set()
