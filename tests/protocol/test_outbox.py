"""Free-busy through the schedule outbox (issue 4; RFC 6638 sec. 5/6,
free-busy only): the principal's C:schedule-outbox-URL, a POSTed
VCALENDAR METHOD:REQUEST with one VFREEBUSY (as Thunderbird sends it, with
Originator and Recipient headers), and the C:schedule-response: one
C:response per recipient with C:request-status 2.0 (busy time in a
METHOD:REPLY VFREEBUSY), 3.7 (unknown user) or 3.8 (no read-free-busy).

Written from the brief, RFC 6638 and docs/acl.md, not from outbox.c.
"""
import os
import xml.etree.ElementTree as ET

import pytest
import requests

from helpers import (CAL, DAV, ICS_CT, XML_CT, ExtraUserServer, parse_ical, propfind_ms, q,
                     req)

ACL = """
[team east]
members = alice, bob
managers = carol

[team west]
members = dan

[role exec]
members = grace

[rules]
# free-busy inside one's own teams only, so that dan has none on east
allow read-free-busy on /calendars/{teammate}/** to everyone
allow write on /calendars/{report}/** to everyone
allow read on /** to role exec
"""
USERS = {u: u + "-pw" for u in ("alice", "bob", "carol", "dan", "grace", "nomail")}
DETAILS = {u: {"email": u + "@example.com", "display": u.title()} for u in USERS
           if u != "nomail"}
OUTBOX = "/calendars/%s/outbox/"
DAY = ("20270301T000000Z", "20270302T000000Z")


def ev(uid, start, end, extra=()):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//outbox tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20261201T000000Z", "DTSTART:" + start, "DTEND:" + end,
             "SUMMARY:summary-of-" + uid, "DESCRIPTION:secret-of-" + uid]
    return "\r\n".join(lines + list(extra) + ["END:VEVENT", "END:VCALENDAR"]) + "\r\n"


# alice's day: what each event contributes to her busy time
ALICE_EVENTS = {
    "pub": (ev("pub", "20270301T090000Z", "20270301T100000Z"), ("BUSY", "20270301T090000Z/20270301T100000Z")),
    "priv": (ev("priv", "20270301T120000Z", "20270301T130000Z", ["CLASS:PRIVATE"]),
             ("BUSY", "20270301T120000Z/20270301T130000Z")),
    "conf": (ev("conf", "20270301T140000Z", "20270301T143000Z", ["CLASS:CONFIDENTIAL"]),
             ("BUSY", "20270301T140000Z/20270301T143000Z")),
    "tent": (ev("tent", "20270301T150000Z", "20270301T160000Z", ["STATUS:TENTATIVE"]),
             ("BUSY-TENTATIVE", "20270301T150000Z/20270301T160000Z")),
    "transp": (ev("transp", "20270301T170000Z", "20270301T180000Z", ["TRANSP:TRANSPARENT"]), None),
    "cancel": (ev("cancel", "20270301T190000Z", "20270301T200000Z", ["STATUS:CANCELLED"]), None),
    "late": (ev("late", "20270301T230000Z", "20270302T010000Z"),     # clipped to the range
             ("BUSY", "20270301T230000Z/20270302T000000Z")),
    "other-day": (ev("other-day", "20270305T090000Z", "20270305T100000Z"), None),
}
EXPECTED = sorted(p for _, p in ALICE_EVENTS.values() if p)


def session(srv, user):
    s = requests.Session()
    s.auth = (user, USERS[user])
    s.base = srv.url
    return s


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    d = tmp_path_factory.mktemp("outbox-acl")
    acl = os.path.join(str(d), "acl.conf")
    with open(acl, "w", encoding="utf-8") as f:
        f.write(ACL)
    srv = ExtraUserServer(USERS, DETAILS, extra_config="acl = %s\n" % acl)
    srv.start()
    for u in USERS:
        r = req(session(srv, u), "PROPFIND", "/calendars/%s/" % u, headers={"Depth": "0"})
        assert r.status_code == 207, (u, r.status_code)
    alice = session(srv, "alice")
    for name, (ics, _) in ALICE_EVENTS.items():
        r = req(alice, "PUT", "/calendars/alice/visits/%s.ics" % name, ics, {"Content-Type": ICS_CT})
        assert r.status_code == 201, (name, r.status_code, r.text)
    yield srv
    srv.stop()


def fb_request(attendees, start=DAY[0], end=DAY[1], organizer="mailto:bob@example.com",
               method="REQUEST", extra=(), comp="VFREEBUSY"):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
             "METHOD:" + method, "BEGIN:" + comp, "UID:fbreq-42", "DTSTAMP:20261201T000000Z",
             "DTSTART:" + start, "DTEND:" + end, "ORGANIZER:" + organizer]
    lines += ["ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL:" + a
              for a in attendees]
    return "\r\n".join(lines + list(extra) + ["END:" + comp, "END:VCALENDAR"]) + "\r\n"


def post(s, body, owner=None, recipient=None, ct="text/calendar; charset=utf-8"):
    h = {"Content-Type": ct, "Originator": "mailto:%s@example.com" % s.auth[0]}
    if recipient:
        h["Recipient"] = recipient
    return req(s, "POST", OUTBOX % (owner or s.auth[0]), body, h)


class Reply:
    """A C:schedule-response: {recipient: (status, calendar text or None)}."""

    def __init__(self, r):
        assert r.status_code == 200, (r.status_code, r.text)
        assert "xml" in r.headers["Content-Type"]
        root = ET.fromstring(r.content)
        assert root.tag == q(CAL, "schedule-response"), root.tag
        self.order, self.by = [], {}
        for resp in root.findall(q(CAL, "response")):
            href = resp.find(q(CAL, "recipient")).find(q(DAV, "href")).text.strip()
            status = resp.find(q(CAL, "request-status")).text.strip()
            cd = resp.find(q(CAL, "calendar-data"))
            self.order.append(href)
            self.by[href] = (status, cd.text if cd is not None else None)
        self.text = r.text

    def busy(self, href):
        status, text = self.by[href]
        assert status.startswith("2.0"), (href, status)
        cal = parse_ical(text).children
        assert [c.name for c in cal] == ["VCALENDAR"]
        assert cal[0].value("METHOD") == "REPLY"
        fbs = [c for c in cal[0].children if c.name == "VFREEBUSY"]
        assert len(fbs) == 1, text
        fb = fbs[0]
        periods = []
        for _, params, value in fb.get("FREEBUSY"):
            for p in value.split(","):
                periods.append((params.get("FBTYPE", "BUSY"), p))
        return fb, sorted(periods)


# ---------------------------------------------------------------- discovery
def test_principal_advertises_the_outbox_but_no_inbox(org):
    p = "/principals/users/alice/"
    r = propfind_ms(session(org, "alice"), p, [q(CAL, "schedule-outbox-URL"),
                                               q(CAL, "schedule-inbox-URL")]).get(p)
    assert r.hrefs_in(q(CAL, "schedule-outbox-URL")) == [OUTBOX % "alice"]
    assert r.prop_status(q(CAL, "schedule-inbox-URL")) == 404


def test_no_automatic_scheduling_is_advertised(org):
    r = req(session(org, "alice"), "OPTIONS", "/calendars/alice/visits/")
    assert "calendar-auto-schedule" not in r.headers.get("DAV", "")


# ---------------------------------------------------------------- free-busy
def test_a_teammate_gets_alices_busy_time(org):
    r = post(session(org, "bob"), fb_request(["mailto:alice@example.com"]),
             recipient="mailto:alice@example.com")
    rep = Reply(r)
    assert rep.order == ["mailto:alice@example.com"]
    fb, periods = rep.busy("mailto:alice@example.com")
    assert periods == EXPECTED
    assert fb.value("DTSTART") == DAY[0] and fb.value("DTEND") == DAY[1]
    assert fb.value("UID") == "fbreq-42"
    assert fb.value("ORGANIZER") == "mailto:bob@example.com"
    assert fb.value("ATTENDEE") == "mailto:alice@example.com"
    for name in ALICE_EVENTS:           # busy time only: no summary, no description
        assert "summary-of-" + name not in r.text and "secret-of-" + name not in r.text


def test_the_outbox_agrees_with_the_free_busy_query_report(org):
    body = ('<?xml version="1.0" encoding="utf-8"?><C:free-busy-query xmlns:C="%s">'
            '<C:time-range start="%s" end="%s"/></C:free-busy-query>' % (CAL, DAY[0], DAY[1]))
    g = req(session(org, "grace"), "REPORT", "/calendars/alice/visits/", body,
            {"Depth": "1", "Content-Type": XML_CT})
    assert g.status_code == 200, g.text
    fb = [c for c in parse_ical(g.text).children[0].children if c.name == "VFREEBUSY"][0]
    report = sorted((params.get("FBTYPE", "BUSY"), p) for _, params, v in fb.get("FREEBUSY")
                    for p in v.split(","))
    _, outbox = Reply(post(session(org, "grace"), fb_request(["mailto:alice@example.com"],
                                                            organizer="mailto:grace@example.com"))
                      ).busy("mailto:alice@example.com")
    assert outbox == report == EXPECTED


def test_recipients_by_address_principal_and_case(org):
    hrefs = ["MAILTO:Alice@Example.COM", "/principals/users/alice/",
             org.url + "/principals/users/alice/"]
    rep = Reply(post(session(org, "carol"), fb_request(hrefs, organizer="mailto:carol@example.com")))
    assert rep.order == hrefs
    for h in hrefs:
        assert rep.busy(h)[1] == EXPECTED, h


def test_one_response_per_recipient_in_order_and_once(org):
    hrefs = ["mailto:nobody@example.com", "mailto:dan@example.com", "mailto:bob@example.com",
             "mailto:alice@example.com", "mailto:ALICE@example.com", "urn:uuid:1234",
             "/principals/users/nosuch/", "/principals/teams/east/"]
    rep = Reply(post(session(org, "bob"), fb_request(hrefs)))
    assert rep.order == [h for h in hrefs if h != "mailto:ALICE@example.com"]
    st = {h: s for h, (s, _) in rep.by.items()}
    assert st["mailto:alice@example.com"] == "2.0;Success"
    assert st["mailto:bob@example.com"] == "2.0;Success"       # oneself
    assert st["mailto:dan@example.com"] == "3.8;No authority"  # another team
    for h in ("mailto:nobody@example.com", "urn:uuid:1234", "/principals/users/nosuch/",
              "/principals/teams/east/"):
        assert st[h] == "3.7;Invalid calendar user", h
    for h in rep.order:
        if not st[h].startswith("2.0"):
            assert rep.by[h][1] is None, "calendar data for %s (%s)" % (h, st[h])


def test_no_authority_says_nothing_more(org):
    r = post(session(org, "dan"), fb_request(["mailto:alice@example.com"],
                                             organizer="mailto:dan@example.com"))
    rep = Reply(r)
    assert rep.by["mailto:alice@example.com"] == ("3.8;No authority", None)
    assert "FREEBUSY" not in r.text and "20270301T09" not in r.text


def test_a_user_without_email_is_found_by_principal_href(org):
    rep = Reply(post(session(org, "nomail"), fb_request(["/principals/users/nomail/"],
                                                       organizer="/principals/users/nomail/")))
    assert rep.by["/principals/users/nomail/"][0] == "2.0;Success"


def test_the_recipient_header_when_there_is_no_attendee(org):
    rep = Reply(post(session(org, "bob"), fb_request([]), recipient="mailto:alice@example.com"))
    assert rep.order == ["mailto:alice@example.com"]
    assert rep.busy("mailto:alice@example.com")[1] == EXPECTED


def test_a_transparent_calendar_is_not_busy(org):
    """RFC 6638 9.1: schedule-calendar-transp transparent leaves a calendar
    out of its owner's busy time."""
    bob = session(org, "bob")
    cal = "/calendars/bob/holidays/"
    assert req(bob, "MKCALENDAR", cal).status_code == 201
    r = req(bob, "PUT", cal + "h.ics", ev("hol", "20270301T080000Z", "20270301T083000Z"),
            {"Content-Type": ICS_CT})
    assert r.status_code == 201
    ask = fb_request(["mailto:bob@example.com"], organizer="mailto:alice@example.com")
    before = Reply(post(session(org, "alice"), ask)).busy("mailto:bob@example.com")[1]
    assert before == [("BUSY", "20270301T080000Z/20270301T083000Z")]
    pp = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="%s">'
          '<D:set><D:prop><C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp>'
          '</D:prop></D:set></D:propertyupdate>' % CAL)
    assert req(bob, "PROPPATCH", cal, pp, {"Content-Type": XML_CT}).status_code == 207
    after = Reply(post(session(org, "alice"), ask)).busy("mailto:bob@example.com")[1]
    assert after == []


# ---------------------------------------------------------------- refusals
def test_only_the_owner_may_post_to_an_outbox(org):
    r = post(session(org, "bob"), fb_request(["mailto:alice@example.com"]), owner="alice")
    assert r.status_code == 403
    assert "20270301T09" not in r.text
    r = post(session(org, "grace"), fb_request(["mailto:alice@example.com"]), owner="alice")
    assert r.status_code == 403         # even an executive: the outbox is alice's


def test_anonymous_gets_the_challenge(org):
    r = requests.post(org.url + OUTBOX % "alice", data=fb_request(["mailto:alice@example.com"]),
                      headers={"Content-Type": ICS_CT}, timeout=60)
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers


def test_only_text_calendar(org):
    r = post(session(org, "bob"), fb_request(["mailto:alice@example.com"]), ct="application/xml")
    assert r.status_code == 415


@pytest.mark.parametrize("case,body", [
    ("an event invitation (iTIP)", fb_request(["mailto:alice@example.com"], comp="VEVENT")),
    ("METHOD:PUBLISH", fb_request(["mailto:alice@example.com"], method="PUBLISH")),
    ("more than a year", fb_request(["mailto:alice@example.com"], end="20280303T000000Z")),
    ("end before start", fb_request(["mailto:alice@example.com"], start=DAY[1], end=DAY[0])),
    ("local times", fb_request(["mailto:alice@example.com"], start="20270301T000000")),
    ("too many recipients", fb_request(["mailto:u%d@example.com" % i for i in range(101)])),
    ("no recipient", fb_request([])),
])
def test_refused_requests(org, case, body):
    r = post(session(org, "bob"), body)
    assert r.status_code == 403, (case, r.status_code, r.text)
    root = ET.fromstring(r.content)
    assert root.find(q(CAL, "valid-scheduling-message")) is not None, (case, r.text)


@pytest.mark.parametrize("body", ["not a calendar at all",
                                  "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\n",
                                  "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nEND:VCALENDAR\r\n"])
def test_malformed_requests(org, body):
    assert post(session(org, "bob"), body).status_code == 400


def test_a_hundred_recipients_are_fine(org):
    hrefs = ["mailto:u%d@example.com" % i for i in range(99)] + ["mailto:alice@example.com"]
    rep = Reply(post(session(org, "bob"), fb_request(hrefs)))
    assert len(rep.order) == 100
    assert rep.busy("mailto:alice@example.com")[1] == EXPECTED


def test_post_elsewhere_is_still_not_allowed(org):
    r = post(session(org, "alice"), fb_request(["mailto:alice@example.com"]))
    assert r.status_code == 200
    r = req(session(org, "alice"), "POST", "/calendars/alice/visits/", "x",
            {"Content-Type": ICS_CT})
    assert r.status_code == 405


# ---------------------------------------------------------------- no ACL file
def test_without_an_acl_file_no_outbox_is_advertised_but_self_works(server):
    s = requests.Session()
    s.auth = ("alice", "alice-pw")
    s.base = server.url
    p = "/principals/users/alice/"
    r = propfind_ms(s, p, [q(CAL, "schedule-outbox-URL")]).get(p)
    assert r.prop_status(q(CAL, "schedule-outbox-URL")) == 404
    rep = Reply(req(s, "POST", OUTBOX % "alice",
                    fb_request(["/principals/users/alice/", "/principals/users/bob/"],
                               organizer="/principals/users/alice/"),
                    {"Content-Type": ICS_CT}))
    assert rep.by["/principals/users/alice/"][0] == "2.0;Success"
    assert rep.by["/principals/users/bob/"] == ("3.8;No authority", None)
