"""Helpers for the team calendar tests (tests/protocol/test_teams.py and
tests/clients/test_caldav_teams.py), written from issue 4 and
server/teams.h, not from the implementation.

The organisation (tests/data/teams/acl.conf): team east = alice, bob,
manager carol; team west = dan, erin, manager frank; role exec = grace.
There is no teammate rule: a rep holds only read-free-busy on a teammate's
calendar, so whatever more alice sees of bob's visits comes from the team
calendar, masked.  bob holds read on alice's calendar (full detail, no
alarms); carol reads and writes her reports' calendars; grace reads all.
Everyone in a team reads /teams/<team>/**; the team writes
/teams/<team>/shared/**; managers write /teams/<their team>/**.

Visit rules (tests/data/teams/rules.conf): only customer-overlap flags
(same UTC day), so only the conflict tests' visits ever collide; every
other event gets a day of its own (next_day).
"""
import contextlib
import itertools
import os

import requests

from helpers import CAL, CS, DAV, ICS_CT, XML_CT, Multistatus, VisitdavServer, q, req

DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "data"))
USERS = {u: u + "-pw" for u in ("alice", "bob", "carol", "dan", "erin", "frank", "grace")}

SYNC_PREFIX = "http://visitdav.org/ns/sync/"
CUPS = q(DAV, "current-user-privilege-set")
GETETAG = q(DAV, "getetag")
CALDATA = q(CAL, "calendar-data")
WRITE_PRIVS = {q(DAV, "write"), q(DAV, "write-content"), q(DAV, "write-properties"),
               q(DAV, "bind"), q(DAV, "unbind"), q(DAV, "all")}


def server_config():
    return "acl = %s\ncustomers = %s\nrules = %s\n" % (
        os.path.join(DATA, "teams", "acl.conf"), os.path.join(DATA, "acl", "customers.csv"),
        os.path.join(DATA, "teams", "rules.conf"))


@contextlib.contextmanager
def teams_server():
    srv = VisitdavServer(extra_config=server_config(), users=USERS)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def session(srv, user):
    s = requests.Session()
    s.auth = (user, USERS[user])
    s.base = srv.url
    return s


def login(s):
    """The first request provisions the user's home and calendar 'visits'."""
    r = req(s, "PROPFIND", "/calendars/%s/" % s.auth[0], None, {"Depth": "0"})
    assert r.status_code == 207, r.text


# ---------------------------------------------------------------- events
_day = itertools.count()


def next_day():
    """A day of its own (June 2027 onwards): no two such events collide."""
    n = next(_day)
    return "2027%02d%02d" % (6 + n // 28, 1 + n % 28)


def visit(uid, day, customer, secret, hour=9, alarm=None, cls=None):
    """A customer visit whose private fields all carry `secret`."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//visitdav team tests//EN",
             "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20261201T000000Z",
             "DTSTART:%sT%02d0000Z" % (day, hour), "DTEND:%sT%02d3000Z" % (day, hour),
             "SUMMARY:Plan %s" % secret, "DESCRIPTION:notes %s-desc" % secret,
             "LOCATION:room %s-loc" % secret, "X-VISIT-CUSTOMER:" + customer]
    if cls:
        lines.append("CLASS:" + cls)
    if alarm:
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M",
                  "DESCRIPTION:" + alarm, "END:VALARM"]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def put(s, path, ics, headers=None):
    h = {"Content-Type": ICS_CT}
    h.update(headers or {})
    return req(s, "PUT", path, ics, h)


def unfolded(text):
    return text.replace("\r\n ", "").replace("\n ", "")


# ---------------------------------------------------------------- requests
def propfind(s, path, props, depth="0"):
    parts = "".join('<p%d:%s xmlns:p%d="%s"/>' % (i, c.split("}")[1], i, c[1:].split("}")[0])
                    for i, c in enumerate(props))
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>%s'
            '</D:prop></D:propfind>' % parts)
    return req(s, "PROPFIND", path, body, {"Depth": depth, "Content-Type": XML_CT})


def report(s, path, body, depth="1"):
    return req(s, "REPORT", path, body, {"Content-Type": XML_CT, "Depth": depth})


def multiget_body(hrefs):
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop>%s</C:calendar-multiget>'
            % "".join("<D:href>%s</D:href>" % h for h in hrefs))


def query_body(start, end):
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter>'
            '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            '<C:time-range start="%s" end="%s"/></C:comp-filter></C:comp-filter></C:filter>'
            '</C:calendar-query>' % (start, end))


def sync_body(token):
    tok = "<D:sync-token>%s</D:sync-token>" % token if token else "<D:sync-token/>"
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<D:sync-collection xmlns:D="DAV:">%s<D:sync-level>1</D:sync-level>'
            '<D:prop><D:getetag/></D:prop></D:sync-collection>' % tok)


def sync(s, path, token=None):
    """(token, {href: etag or 404}) of a sync-collection report."""
    ms = Multistatus(report(s, path, sync_body(token)))
    out = {}
    for r in ms.responses:
        out[r.href] = r.status if r.status is not None else r.text(GETETAG)
    return ms.sync_token, out


def privileges(resp):
    out = set()
    p = resp.prop(CUPS)
    assert p is not None, "no current-user-privilege-set"
    for priv in p.findall(q(DAV, "privilege")):
        out.update(c.tag for c in priv)
    return out


def prop_text(s, path, clark):
    ms = Multistatus(propfind(s, path, [clark]))
    v = ms.get(path).text(clark)
    assert v, "%s on %s: %s" % (clark, path, ms.get(path).prop_status(clark))
    return v


def calendar_datas(ms):
    """{href: calendar-data text} of a multistatus (200 responses)."""
    return {r.href: r.text(CALDATA) for r in ms.responses if r.prop(CALDATA) is not None}

