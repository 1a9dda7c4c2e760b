"""Privacy of the visit rules (issue 4, docs/rules.md "Privacy"): with an
ACL file, a reject body and the X-VISIT-CONFLICT flags of an event as
served name the other visit's owner, time and href only to a user who
holds at least read-free-busy on the other visit's calendar.

The organisation: team east = alice, team west = dan; the teams cannot see
each other at all, except that alice holds read-free-busy on dan's
calendar (one direction only).  Both visit the same customer.  So alice
may learn dan's name and time; dan may learn nothing about alice's visit
but that there is a collision.

Written from the brief and docs/rules.md, not from the implementation.
"""
import os
import re

import pytest
import requests

from helpers import CAL, DAV, ICS_CT, XML_CT, Multistatus, VisitdavServer, q, req

USERS = {"alice": "alice-pw", "dan": "dan-pw"}
CUSTOMERS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "data", "acl",
                                         "customers.csv"))
ACL = """[team east]
members = alice

[team west]
members = dan

[rules]
allow read-free-busy on /calendars/dan/** to user alice
"""
RULES = """[organisation]
timezone = UTC
rep-overlap = off
customer-overlap = %s
customer-overlap.window = same-day
customer-cadence = off
required-fields = off
marker = summary
marker.prefix = "[CONFLICT] "
"""
GETETAG = q(DAV, "getetag")
CALDATA = q(CAL, "calendar-data")


def start(tmp, policy, acl=True):
    d = str(tmp)
    with open(os.path.join(d, "rules.conf"), "w", encoding="utf-8") as f:
        f.write(RULES % policy)
    conf = "customers = %s\nrules = %s\n" % (CUSTOMERS, os.path.join(d, "rules.conf"))
    if acl:
        with open(os.path.join(d, "acl.conf"), "w", encoding="utf-8") as f:
            f.write(ACL)
        conf += "acl = %s\n" % os.path.join(d, "acl.conf")
    srv = VisitdavServer(extra_config=conf, users=USERS)
    srv.start()
    return srv


def session(srv, user):
    s = requests.Session()
    s.auth = (user, USERS[user])
    s.base = srv.url
    r = req(s, "PROPFIND", "/calendars/%s/" % user, None, {"Depth": "0"})
    assert r.status_code == 207, r.text
    return s


def visit(uid, day, hour):
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//visitdav privacy tests//EN",
        "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20261201T000000Z",
        "DTSTART:%sT%02d0000Z" % (day, hour), "DTEND:%sT%02d3000Z" % (day, hour),
        "SUMMARY:Visit", "X-VISIT-CUSTOMER:acme-ind", "END:VEVENT", "END:VCALENDAR"]) + "\r\n"


def put(s, path, ics):
    return req(s, "PUT", path, ics, {"Content-Type": ICS_CT})


def unfolded(text):
    return text.replace("\r\n ", "").replace("\n ", "")


def flag_lines(text):
    return [l for l in unfolded(text).splitlines() if l.upper().startswith("X-VISIT-CONFLICT")]


def etags_of(s, path, body, depth="1"):
    ms = Multistatus(req(s, "REPORT", path, body, {"Content-Type": XML_CT, "Depth": depth}))
    return {r.href: (r.text(GETETAG), r.text(CALDATA)) for r in ms.responses}


MULTIGET = ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>%s</D:href>'
            '</C:calendar-multiget>')
SYNC = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
        '<D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
        '</D:sync-collection>')

ALICE_EV = "/calendars/alice/visits/a1.ics"
DAN_EV = "/calendars/dan/visits/d1.ics"
DAY = "20270405"


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    """customer-overlap flags: dan's visit first (09:00), then alice's
    (14:00) the same day; both are flagged."""
    srv = start(tmp_path_factory.mktemp("privacy-flag"), "flag")
    alice, dan = session(srv, "alice"), session(srv, "dan")
    assert put(dan, DAN_EV, visit("d1", DAY, 9)).status_code == 201
    assert put(alice, ALICE_EV, visit("a1", DAY, 14)).status_code == 201
    yield srv, alice, dan
    srv.stop()


def test_dan_sees_the_collision_but_not_who_or_when(flagged):
    _, _, dan = flagged
    r = req(dan, "GET", DAN_EV)
    assert r.status_code == 200
    text = unfolded(r.text)
    assert flag_lines(text) == ["X-VISIT-CONFLICT;X-RULE=customer-overlap:customer-overlap"]
    assert "[CONFLICT] " in text                    # the marker stays
    for leak in ("alice", "a1.ics", "T140000Z", "T143000Z", "14:00", "X-OTHER-"):
        assert leak not in text, leak


def test_alice_sees_dans_name_time_and_href(flagged):
    _, alice, _ = flagged
    text = unfolded(req(alice, "GET", ALICE_EV).text)
    flags = flag_lines(text)
    assert len(flags) == 1
    f = flags[0]
    assert "X-OTHER-OWNER=dan" in f and f.endswith(":" + DAN_EV)
    assert "X-OTHER-START=%sT090000Z" % DAY in f and "X-OTHER-END=%sT093000Z" % DAY in f


def test_etag_is_that_of_the_bytes_served_everywhere(flagged):
    _, _, dan = flagged
    r = req(dan, "GET", DAN_EV)
    etag = r.headers["ETag"].strip('"')
    mg = etags_of(dan, "/calendars/dan/visits/", MULTIGET % DAN_EV)
    assert mg[DAN_EV][0].strip('"') == etag
    assert "alice" not in unfolded(mg[DAN_EV][1])
    assert flag_lines(mg[DAN_EV][1]) == flag_lines(r.text)
    pf = Multistatus(req(dan, "PROPFIND", DAN_EV,
                         '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
                         '</D:prop></D:propfind>', {"Depth": "0", "Content-Type": XML_CT}))
    assert pf.responses[0].text(GETETAG).strip('"') == etag
    sy = etags_of(dan, "/calendars/dan/visits/", SYNC)
    assert sy[DAN_EV][0].strip('"') == etag
    again = req(dan, "GET", DAN_EV, headers={"If-None-Match": '"%s"' % etag})
    assert again.status_code == 304


def test_calendar_query_masks_too(flagged):
    _, _, dan = flagged
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter>'
            '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter>'
            '</C:filter></C:calendar-query>')
    got = etags_of(dan, "/calendars/dan/visits/", body)
    assert "alice" not in unfolded(got[DAN_EV][1])
    assert flag_lines(got[DAN_EV][1])


# The whole-calendar GET (and so a feed) of the owner's own calendar goes
# through the same view as every other read.
def test_owner_calendar_get_masks(flagged):
    _, _, dan = flagged
    whole = req(dan, "GET", "/calendars/dan/visits/")
    assert whole.status_code == 200 and "X-VISIT-CONFLICT" in unfolded(whole.text)
    assert "alice" not in whole.text


def test_owner_feed_masks(flagged):
    srv, _, _ = flagged
    url = srv.admin_cmd("feed", "create", "dan", "/calendars/dan/visits/").stdout.strip()
    r = requests.get(srv.url + url, timeout=60)
    assert r.status_code == 200 and "X-VISIT-CONFLICT" in unfolded(r.text)
    assert "alice" not in r.text and "T140000Z" not in r.text


def test_owner_saves_a_flagged_event_with_the_etag_they_were_served(flagged):
    """Thunderbird and iOS send If-Match with the ETag they hold: the ETag
    of the masked copy must be accepted for a write (else 412 forever)."""
    _, _, dan = flagged
    r = req(dan, "GET", DAN_EV)
    served = r.headers["ETag"]
    w = dan.put(dan.base + DAN_EV, data=r.content, headers={
        "Content-Type": "text/calendar; charset=utf-8", "If-Match": served})
    assert w.status_code in (200, 204), w.text
    # and a made-up ETag is still refused
    w = dan.put(dan.base + DAN_EV, data=r.content, headers={
        "Content-Type": "text/calendar; charset=utf-8", "If-Match": '"0000000000000000"'})
    assert w.status_code == 412


def test_feed_keeps_what_its_creator_may_see(flagged):
    srv, _, _ = flagged
    url = srv.admin_cmd("feed", "create", "alice", "/calendars/alice/visits/").stdout.strip()
    r = requests.get(srv.url + url, timeout=60)
    assert r.status_code == 200 and "X-OTHER-OWNER=dan" in unfolded(r.text)


@pytest.fixture(scope="module")
def rejecting(tmp_path_factory):
    srv = start(tmp_path_factory.mktemp("privacy-reject"), "reject")
    yield srv, session(srv, "alice"), session(srv, "dan")
    srv.stop()


def test_reject_names_dan_to_alice(rejecting):
    _, alice, dan = rejecting
    assert put(dan, "/calendars/dan/visits/r1.ics", visit("r1", "20270510", 9)).status_code == 201
    r = put(alice, "/calendars/alice/visits/r2.ics", visit("r2", "20270510", 14))
    assert r.status_code == 403, r.text
    assert "<V:rule>customer-overlap</V:rule>" in r.text
    assert "<V:other-owner>dan</V:other-owner>" in r.text
    assert "<V:other-start>20270510T090000Z</V:other-start>" in r.text
    assert "dan" in re.search(r"<D:responsedescription>(.*)</D:responsedescription>",
                              r.text, re.S).group(1)


def test_reject_names_nobody_to_dan(rejecting):
    _, alice, dan = rejecting
    assert put(alice, "/calendars/alice/visits/r3.ics",
               visit("r3", "20270511", 14)).status_code == 201
    r = put(dan, "/calendars/dan/visits/r4.ics", visit("r4", "20270511", 9))
    assert r.status_code == 403, r.text
    assert "<V:rule>customer-overlap</V:rule>" in r.text
    for leak in ("other-owner", "other-start", "other-end", "alice", "r3.ics",
                 "T140000Z", "14:00"):
        assert leak not in r.text, leak
    desc = re.search(r"<D:responsedescription>(.*)</D:responsedescription>", r.text, re.S)
    assert desc.group(1) == ("another rep already visits this customer that day "
                             "(customer-overlap)")


def test_without_an_acl_file_names_and_times_stay(tmp_path):
    srv = start(tmp_path, "flag", acl=False)
    try:
        alice, dan = session(srv, "alice"), session(srv, "dan")
        assert put(dan, DAN_EV, visit("d1", DAY, 9)).status_code == 201
        assert put(alice, ALICE_EV, visit("a1", DAY, 14)).status_code == 201
        f = flag_lines(req(dan, "GET", DAN_EV).text)
        assert len(f) == 1 and "X-OTHER-OWNER=alice" in f[0] and f[0].endswith(":" + ALICE_EV)
    finally:
        srv.stop()
