"""Other users' calendars in the viewer's home (issue 4: "Every calendar a
user may see ... also appears as a child of that user's calendar home";
server/teams.h, docs/acl.md "Team calendars"): with an ACL file, every
calendar under another user's home on which the viewer holds any
privilege appears as /calendars/<viewer>/user-<owner>~<cal>/, behaves
exactly like the real path (its ACL, the per-viewer view), answers with
the alias path, and "user-..." home children are reserved.

The organisation: tests/data/acl/acl.conf (east = alice, bob, manager
carol; west = dan, erin, manager frank; exec grace; teammates read-masked,
managers read+write their reports, everyone free-busy).  Owns its servers."""
import uuid

import pytest

from acl_helpers import USERS, acl_server, login, propfind, put, report, session
from helpers import CAL, DAV, Multistatus, VisitdavServer, q, req

ALICE_REAL = "/calendars/alice/visits/"
SECRET = "aliassecret-8181"
EV = "ev-1.ics"
RTYPE, CALDATA, ETAG = q(DAV, "resourcetype"), q(CAL, "calendar-data"), q(DAV, "getetag")
CUPS = q(DAV, "current-user-privilege-set")


def alias(viewer, owner, cal="visits"):
    return "/calendars/%s/user-%s~%s/" % (viewer, owner, cal)


def ics(uid, day):
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//visitdav alias tests//EN",
        "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20261201T000000Z",
        "DTSTART:202708%02dT090000Z" % day, "DTEND:202708%02dT100000Z" % day,
        "SUMMARY:Visit " + SECRET, "DESCRIPTION:notes " + SECRET,
        "X-VISIT-CUSTOMER:ACME Industrial", "END:VEVENT", "END:VCALENDAR"]) + "\r\n"


@pytest.fixture(scope="module")
def srv():
    with acl_server() as s:
        for u in USERS:
            login(session(s, u))
        r = put(session(s, "alice"), ALICE_REAL + EV, ics("alias-1@acl.test", 2))
        assert r.status_code == 201, r.text
        yield s


def home_children(s, viewer):
    ms = Multistatus(propfind(s, "/calendars/%s/" % viewer, [RTYPE, CUPS], "1"))
    return ms.by_href()


def is_calendar(resp):
    rt = resp.prop(RTYPE)
    return rt is not None and rt.find(q(CAL, "calendar")) is not None


def privs(resp):
    p = resp.prop(CUPS)
    assert p is not None, "no current-user-privilege-set"
    return {c.tag for priv in p.findall(q(DAV, "privilege")) for c in priv}


def caldata(s, path):
    body = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
            '</D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>')
    ms = Multistatus(report(s, path, body))
    return {r.href: r.text(CALDATA) for r in ms.responses if r.prop(CALDATA) is not None}


# ---------------------------------------------------------------- listing
@pytest.mark.parametrize("viewer, owners", [
    # listed where the viewer may see events (read-masked or more), not
    # where the everyone-free-busy rule alone applies
    ("carol", {"alice", "bob"}),        # her reports
    ("bob", {"alice"}),                 # teammate, read-masked
    ("alice", {"bob"}),
    ("dan", {"erin"}),                  # west teammate; alice is free-busy only
])
def test_home_lists_other_users_calendars(srv, viewer, owners):
    kids = home_children(session(srv, viewer), viewer)
    listed = {h for h in kids if "/user-" in h}
    assert listed == {alias(viewer, o) for o in owners}, sorted(kids)
    for h in listed:
        assert is_calendar(kids[h]), h
    assert alias(viewer, viewer) not in kids          # never one's own calendar


def test_alias_privileges_follow_the_real_path(srv):
    carol = home_children(session(srv, "carol"), "carol")
    assert q(DAV, "write-content") in privs(carol[alias("carol", "alice")])
    assert alias("carol", "dan") not in carol           # free-busy only: not listed
    bob = home_children(session(srv, "bob"), "bob")
    p = privs(bob[alias("bob", "alice")])
    assert q(DAV, "read") in p and q(DAV, "write-content") not in p
    dan = home_children(session(srv, "dan"), "dan")
    assert alias("dan", "alice") not in dan


def test_home_sync_lists_the_aliases(srv):
    body = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
            '<D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
            '</D:sync-collection>')
    ms = Multistatus(report(session(srv, "carol"), "/calendars/carol/", body))
    hrefs = {h.rstrip("/") for h in ms.hrefs()}
    assert alias("carol", "alice").rstrip("/") in hrefs, sorted(hrefs)


# ---------------------------------------------------------------- contents
def test_manager_reads_full_detail_under_the_alias(srv):
    s = session(srv, "carol")
    data = caldata(s, alias("carol", "alice"))
    assert list(data) == [alias("carol", "alice") + EV], sorted(data)
    assert SECRET in data[alias("carol", "alice") + EV]
    r = req(s, "GET", alias("carol", "alice") + EV)
    assert r.status_code == 200 and SECRET in r.text


def test_peer_sees_the_event_masked(srv):
    s = session(srv, "bob")
    data = caldata(s, alias("bob", "alice"))
    text = data[alias("bob", "alice") + EV]
    assert SECRET not in text and "DTSTART" in text and "ACME Industrial" in text, text
    real = caldata(s, ALICE_REAL)[ALICE_REAL + EV]
    assert real == text                                # the same view as the real path
    r = put(s, alias("bob", "alice") + EV, ics("alias-1@acl.test", 3))
    assert r.status_code == 403, r.text


def test_free_busy_viewer_alias_resolves_but_shows_no_events(srv):
    s = session(srv, "dan")
    ms = Multistatus(propfind(s, alias("dan", "alice"), [ETAG], "1"))
    assert ms.hrefs() == {alias("dan", "alice")} or ms.hrefs() == {alias("dan", "alice")[:-1]}
    r = req(s, "GET", alias("dan", "alice") + EV)
    assert r.status_code in (403, 404) and SECRET not in r.text


def test_put_through_the_alias_writes_the_real_calendar(srv):
    name = "via-alias-%s.ics" % uuid.uuid4().hex[:8]
    r = put(session(srv, "carol"), alias("carol", "alice") + name, ics("alias-2@acl.test", 4))
    assert r.status_code == 201, r.text
    r = req(session(srv, "alice"), "GET", ALICE_REAL + name)
    assert r.status_code == 200 and "alias-2@acl.test" in r.text
    r = req(session(srv, "carol"), "DELETE", alias("carol", "alice") + name)
    assert r.status_code == 204, r.text
    assert req(session(srv, "alice"), "GET", ALICE_REAL + name).status_code == 404


def test_no_alias_without_privilege_or_of_nothing(srv):
    s = session(srv, "alice")
    assert req(s, "GET", alias("alice", "alice") + EV).status_code == 404
    assert propfind(s, alias("alice", "nobody"), [RTYPE], "0").status_code == 404
    assert propfind(s, alias("alice", "bob", "nosuch"), [RTYPE], "0").status_code == 404


# ---------------------------------------------------------------- reserved
def test_user_names_in_a_home_are_reserved(srv):
    s = session(srv, "carol")
    mkcal = ('<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" '
             'xmlns:C="urn:ietf:params:xml:ns:caldav"/>')
    for path in (alias("carol", "zed"), alias("carol", "alice", "nosuch"),
                 "/calendars/carol/user-x/"):
        assert req(s, "MKCALENDAR", path, mkcal).status_code == 403, path
        assert req(s, "MKCOL", path).status_code == 403, path
    # an existing alias is there already (as for team aliases, test_teams.py)
    assert req(s, "MKCALENDAR", alias("carol", "alice"), mkcal).status_code == 405
    dest = srv.url + alias("carol", "zed")
    for m in ("MOVE", "COPY"):
        r = req(s, m, "/calendars/carol/visits/", None, {"Destination": dest})
        assert r.status_code == 403, "%s: %d" % (m, r.status_code)
    assert propfind(s, "/calendars/carol/visits/", [RTYPE], "0").status_code == 207


def test_no_aliases_without_an_acl_file():
    users = {"alice": "alice-pw", "bob": "bob-pw"}
    srv = VisitdavServer(users=users)
    srv.start()
    try:
        for u in users:
            login(session_plain(srv, u, users[u]))
        ms = Multistatus(propfind(session_plain(srv, "alice", "alice-pw"), "/calendars/alice/",
                                  [RTYPE], "1"))
        assert not [h for h in ms.hrefs() if "/user-" in h], sorted(ms.hrefs())
    finally:
        srv.stop()


def session_plain(srv, user, pw):
    s = session(srv, "alice")
    s.auth = (user, pw)
    s.viewer = user
    return s
