"""Helpers for the ACL tests (tests/protocol/test_acl_*.py and
tests/clients/test_caldav_acl.py), written from issue 4, lib/acl.h and
lib/ical_mask.h, not from the implementation.

The organisation (tests/data/acl/acl.conf): team east = alice, bob,
manager carol; team west = dan, erin, manager frank; role exec = grace.
Rules: teammates read-masked each other's calendars, managers read+write
their reports' calendars, everyone read-free-busy on /calendars/*/**,
execs read on /**.

alice's "visits" holds three seeded events (tests/data/acl/event-*.ics):
a public customer visit with DESCRIPTION, LOCATION, ORGANIZER, ATTENDEE,
X-VISIT-PURPOSE and a VALARM; a CLASS:CONFIDENTIAL one; a CLASS:PRIVATE
one.  Every secret field carries a unique token so that any response body
can be searched for leaks.  Events the mutating tests create are named
"scratch-*" and lie in May 2027, away from the seeded March events.

What a viewer gets of an event (lib/ical_mask.h vd_ical_mask_level: the
stricter of the viewer's privilege and the event's CLASS, for everyone but
the owner; read-only viewers get no VALARM):
  FULL     the stored event (owner; a writer such as carol keeps VALARMs)
  NOALARM  the stored event without VALARM (read-only reader, grace)
  MASKED   time, customer and owner only, SUMMARY "Visit: <customer>"
  BUSY     time only, SUMMARY "Busy" (CLASS:CONFIDENTIAL for non-owners)
  HIDDEN   not served at all: 404, absent from listings (CLASS:PRIVATE)
  NONE     read-free-busy only: no event data of any kind (403 or 404)
"""
import contextlib
import itertools
import os
import re
import uuid

import requests

from helpers import (CAL, DAV, ICS_CT, XML_CT, Multistatus, VisitdavServer, parse_ical,
                     propfind_body, q, req)

ACL_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "data", "acl"))


def acl_file(name):
    return os.path.join(ACL_DIR, name)


USERS = {u: u + "-pw" for u in ("alice", "bob", "carol", "dan", "erin", "frank", "grace")}
ANON = "anonymous"
VIEWERS = ("alice", "bob", "dan", "carol", "grace", ANON)
WRITERS = ("alice", "carol")
ALICE_CAL = "/calendars/alice/visits/"
ALICE_OTHER = "/calendars/alice/other/"


# ---------------------------------------------------------------- servers
def server_config(acl_path, rules=None):
    return "acl = %s\ncustomers = %s\nrules = %s\n" % (
        acl_path, acl_file("customers.csv"), rules or acl_file("rules-off.conf"))


def make_server(acl_path=None, rules=None):
    """A server with the ACL (default: the test organisation), the test
    customers and the visit rules off (default)."""
    return VisitdavServer(extra_config=server_config(acl_path or acl_file("acl.conf"), rules),
                          users=USERS)


@contextlib.contextmanager
def acl_server(acl_path=None, rules=None):
    srv = make_server(acl_path, rules)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def session(srv, user):
    s = requests.Session()
    if user != ANON:
        s.auth = (user, USERS[user])
    s.base = srv.url
    s.viewer = user
    return s


def login(s):
    """First login provisions the user's calendar 'visits'."""
    path = "/calendars/%s/visits/" % s.viewer
    r = req(s, "PROPFIND", path, propfind_body([q(DAV, "resourcetype")]),
            {"Depth": "0", "Content-Type": XML_CT})
    assert r.status_code == 207, "PROPFIND %s as %s: %d" % (path, s.viewer, r.status_code)


# ---------------------------------------------------------------- events
FULL, NOALARM, MASKED, BUSY, HIDDEN, NONE = "full", "noalarm", "masked", "busy", "hidden", "none"


def the_vevent(text):
    root = parse_ical(text)
    cals = [c for c in root.children if c.name == "VCALENDAR"]
    assert len(cals) == 1, "expected one VCALENDAR in\n" + text
    evs = [c for c in cals[0].children if c.name == "VEVENT"]
    assert len(evs) == 1, "expected one VEVENT in\n" + text
    return evs[0]


def _load(name):
    with open(acl_file(name), encoding="utf-8") as f:
        return f.read().replace("\r\n", "\n").replace("\n", "\r\n")


class Event:
    def __init__(self, key, file, href):
        self.key, self.href, self.name = key, href, href.rsplit("/", 1)[1]
        self.text = _load(file)
        self.comp = the_vevent(self.text)
        self.uid = self.comp.value("UID")
        self.dtstart = self.comp.value("DTSTART")
        self.dtend = self.comp.value("DTEND")

    def __repr__(self):
        return self.key


PUB = Event("pub", "event-public.ics", ALICE_CAL + "a-pub.ics")
CONF = Event("conf", "event-confidential.ics", ALICE_CAL + "a-conf.ics")
PRIV = Event("priv", "event-private.ics", ALICE_CAL + "a-7f3e.ics")
FRANK = Event("frank", "event-frank.ics", "/calendars/frank/visits/f-1.ics")
SEEDED = (PUB, CONF, PRIV)
MISSING = ALICE_CAL + "no-such-visit.ics"
PUB_CUSTOMER = "ACME Industrial"
PUB_CUSTOMER_ID = "acme-ind"

VIEW = {
    "alice": {"pub": FULL, "conf": FULL, "priv": FULL},
    "carol": {"pub": FULL, "conf": BUSY, "priv": HIDDEN},
    "grace": {"pub": NOALARM, "conf": BUSY, "priv": HIDDEN},
    "bob": {"pub": MASKED, "conf": BUSY, "priv": HIDDEN},
    "dan": {"pub": NONE, "conf": NONE, "priv": NONE},
}


def visible(viewer):
    """The seeded events the viewer gets as events (any view)."""
    return [e for e in SEEDED if VIEW[viewer][e.key] not in (HIDDEN, NONE)]


def visible_hrefs(viewer):
    return {e.href for e in visible(viewer)}


# The secret tokens of each event (tests/data/acl/event-*.ics).
PUB_TEXT = ["pubsumm-7731", "desc-secret-4242", "loc-secret-5353", "hans.att6464",
            "alice.org8383", "purpose-secret-8686"]
PUB_ALARM = ["alarm-secret-7575"]
PUB_IDENT = [PUB.uid, PUB_CUSTOMER]
CONF_ALL = ["confsumm-1212", "confdesc-1313", "confloc-1414", "confalarm-1515",
            "Globex Partners"]
CONF_IDENT = [CONF.uid]
PRIV_ALL = ["privsumm-9191", "privdesc-9292", "privloc-9494", "Initech Private", PRIV.uid]
FRANK_ALL = ["franksumm-2020", "frankdesc-2121", FRANK.uid]


def forbidden(viewer, owner_etags):
    """Strings that must appear in no response (body or header) to viewer.
    owner_etags: alice's ETags {key: etag}; a viewer whose view differs
    from alice's must never be handed alice's ETag (a strong ETag names
    one representation)."""
    if viewer == "alice":
        return list(FRANK_ALL)
    out = CONF_ALL + PRIV_ALL
    if viewer != "grace":
        out += FRANK_ALL
    if viewer != "carol":
        out += PUB_ALARM
    if viewer in ("bob", "dan", ANON):
        out += PUB_TEXT
    if viewer in ("dan", ANON):
        out += PUB_IDENT + CONF_IDENT
    for e in SEEDED:
        if VIEW.get(viewer, {}).get(e.key) != FULL:
            out.append(owner_etags[e.key])
    return out


def leak_check(viewer, resp, owner_etags, listing=False):
    """Nothing the viewer may not read appears in resp.  In listings
    (PROPFIND, REPORTs the viewer did not name hrefs for) the hidden
    private event's href must not appear either (except for dan, whose
    listings may name members with 403/404)."""
    raw = resp.content.decode("utf-8", "replace")
    # also look through iCalendar line folding (raw or inside XML text)
    body = raw + "\n" + re.sub(r"\r?\n[ \t]", "", raw.replace("&#13;", "\r").replace("&#xD;", "\r"))
    heads = "\n".join("%s: %s" % kv for kv in resp.headers.items())
    bad = forbidden(viewer, owner_etags)
    if listing and viewer in ("bob", "carol", "grace"):
        bad = bad + [PRIV.name]
    where = "%s %s as %s (%d)" % (resp.request.method, resp.request.url, viewer,
                                   resp.status_code)
    for s in bad:
        assert s not in body, "%s: the body leaks %r:\n%s" % (where, s, body[:3000])
        assert s not in heads, "%s: a header leaks %r:\n%s" % (where, s, heads)


# ---------------------------------------------------------------- iCalendar views
MASKED_PROPS = {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID",
                "UID", "DTSTAMP", "SEQUENCE", "STATUS", "TRANSP", "X-VISIT-CUSTOMER",
                "X-VISIT-OWNER", "SUMMARY"}
# DTSTAMP is not in ical_mask.h's list but RFC 5545 3.6.1 requires it.
BUSY_PROPS = {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID",
              "UID", "DTSTAMP", "STATUS", "TRANSP", "SUMMARY"}


def _values(comp):
    return {(name, value) for (name, _, value) in comp.props}


def check_view(level, ev, text, where=""):
    """Assert text is exactly what a viewer with level gets of ev."""
    assert level in (FULL, NOALARM, MASKED, BUSY), level
    e = the_vevent(text)
    ctx = "%s (%s view of %s):\n%s" % (where, level, ev.key, text)
    assert e.value("UID") == ev.uid, ctx
    assert e.value("DTSTART") == ev.dtstart, ctx
    assert e.value("DTEND") == ev.dtend, ctx
    names = {p[0] for p in e.props}
    subs = [c.name for c in e.children]
    if level in (FULL, NOALARM):
        missing = _values(ev.comp) - _values(e)
        assert not missing, "properties missing or changed %s: %s" % (sorted(missing), ctx)
        if level == FULL:
            want = [_values(a) for a in ev.comp.children]
            got = [_values(a) for a in e.children]
            assert got == want, "alarms differ: %s" % ctx
        else:
            assert subs == [], "a read-only viewer gets %s: %s" % (subs, ctx)
        return
    assert subs == [], "masked copy keeps %s: %s" % (subs, ctx)
    allowed = MASKED_PROPS if level == MASKED else BUSY_PROPS
    extra = names - allowed
    assert not extra, "masked copy keeps %s: %s" % (sorted(extra), ctx)
    if level == MASKED:
        assert e.value("SUMMARY") == "Visit: " + PUB_CUSTOMER, ctx
        assert e.value("X-VISIT-CUSTOMER") in (PUB_CUSTOMER, PUB_CUSTOMER_ID), ctx
        owner = e.value("X-VISIT-OWNER")
        assert owner is not None and "alice" in owner, "no X-VISIT-OWNER naming alice: " + ctx
    else:
        assert e.value("SUMMARY") == "Busy", ctx


# ---------------------------------------------------------------- scratch events
_slot = itertools.count()


def scratch_ics(uid_=None, summary="Scratch visit", extra=()):
    """An event in its own one-hour slot in May 2027 (no two scratch
    events overlap, so the visit rules never flag them)."""
    n = next(_slot)
    day, hour = 1 + n // 10, 8 + n % 10
    assert day <= 31, "out of scratch slots"
    start = "202705%02dT%02d0000Z" % (day, hour)
    end = "202705%02dT%02d3000Z" % (day, hour)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//visitdav acl tests//EN",
             "BEGIN:VEVENT", "UID:" + (uid_ or "scratch-%s@acl.test" % uuid.uuid4().hex),
             "DTSTAMP:20261201T000000Z", "DTSTART:" + start, "DTEND:" + end,
             "SUMMARY:" + summary] + list(extra) + ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def scratch_name(tag="scratch"):
    return "%s-%s.ics" % (tag, uuid.uuid4().hex[:10])


def is_scratch(href):
    return href.rsplit("/", 1)[-1].startswith(("scratch-", "moved-"))


# ---------------------------------------------------------------- requests
def put(s, path, ics, headers=None):
    h = {"Content-Type": ICS_CT}
    h.update(headers or {})
    return req(s, "PUT", path, ics, h)


def report(s, path, body, depth="1"):
    return req(s, "REPORT", path, body, {"Content-Type": XML_CT, "Depth": depth})


def propfind(s, path, props, depth):
    return req(s, "PROPFIND", path, propfind_body(props),
               {"Content-Type": XML_CT, "Depth": depth})


_CQ = ('<?xml version="1.0" encoding="utf-8"?>'
       '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
       '<D:prop><D:getetag/>%s</D:prop><C:filter><C:comp-filter name="VCALENDAR">'
       '<C:comp-filter name="VEVENT">%s</C:comp-filter></C:comp-filter></C:filter>'
       '</C:calendar-query>')


def calendar_query_body(inner, data=True):
    return _CQ % ("<C:calendar-data/>" if data else "", inner)


def time_range(start, end):
    return '<C:time-range start="%s" end="%s"/>' % (start, end)


def text_match(prop, text):
    return ('<C:prop-filter name="%s"><C:text-match>%s</C:text-match></C:prop-filter>'
            % (prop, text))


def multiget_body(hrefs):
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop>%s</C:calendar-multiget>'
            % "".join("<D:href>%s</D:href>" % h for h in hrefs))


def sync_body(token):
    tok = "<D:sync-token>%s</D:sync-token>" % token if token else "<D:sync-token/>"
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<D:sync-collection xmlns:D="DAV:">%s<D:sync-level>1</D:sync-level>'
            '<D:prop><D:getetag/></D:prop></D:sync-collection>' % tok)


def freebusy_body(start, end):
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<C:time-range start="%s" end="%s"/></C:free-busy-query>' % (start, end))


# ---------------------------------------------------------------- multistatus views
GETETAG = q(DAV, "getetag")
CALDATA = q(CAL, "calendar-data")
CUPS = q(DAV, "current-user-privilege-set")
# What Thunderbird and iOS take as "writable" (research notes 2.1/2.3 item 9).
WRITE_PRIVS = {q(DAV, "write"), q(DAV, "write-content"), q(DAV, "write-properties"),
               q(DAV, "bind"), q(DAV, "unbind"), q(DAV, "all")}


def members(ms, coll=ALICE_CAL):
    """{href: MSResponse} of the responses for resources inside coll."""
    return {r.href: r for r in ms.responses if r.href.startswith(coll) and r.href != coll}


def has_data(r):
    """The response reports the resource with some property at 200."""
    if r.status is not None and r.status != 200:
        return False
    return any(ps.status == 200 and ps.props for ps in r.propstats)


def href_status(r):
    """A multiget/listing response's status: the response-level status, or
    200 when calendar-data/getetag came with 200, else the first propstat's."""
    if r.status is not None:
        return r.status
    if r.prop(CALDATA) is not None or r.prop(GETETAG) is not None:
        return 200
    return r.propstats[0].status if r.propstats else None


def privileges(ms, path):
    """The Clark names in current-user-privilege-set of path."""
    p = ms.get(path).prop(CUPS)
    assert p is not None, "no current-user-privilege-set on %s" % path
    out = set()
    for priv in p.findall(q(DAV, "privilege")):
        out.update(c.tag for c in priv)
    return out


def assert_no_event_data(resp, coll=ALICE_CAL):
    """A response to a viewer who may read nothing of the events: an error
    status, or a multistatus in which no member of coll carries data."""
    body = resp.content.decode("utf-8", "replace")
    assert "BEGIN:VEVENT" not in body, "event data served: " + body[:2000]
    if resp.status_code == 207:
        ms = Multistatus(resp)
        shown = sorted(h for h, r in members(ms, coll).items() if has_data(r))
        assert not shown, "members reported with data: %s\n%s" % (shown, body[:2000])
    else:
        assert resp.status_code in (403, 404), "expected 207/403/404, got %d: %s" % (
            resp.status_code, body[:800])


def assert_401(resp):
    assert resp.status_code == 401, "anonymous: expected 401, got %d: %s" % (
        resp.status_code, resp.text[:500])
    assert resp.headers.get("WWW-Authenticate", "").lower().startswith("basic"), resp.headers


# ---------------------------------------------------------------- free-busy
def _utc(v):
    import datetime as dt
    return dt.datetime.strptime(v, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def busy_periods(text):
    """{FBTYPE: merged [(start, end)]} of the single VFREEBUSY in text."""
    from helpers import ical_duration
    root = parse_ical(text)
    assert [c.name for c in root.children] == ["VCALENDAR"], text
    fbs = root.children[0].walk("VFREEBUSY")
    assert len(fbs) == 1, "expected one VFREEBUSY in\n" + text
    out = {}
    for _, params, value in fbs[0].get("FREEBUSY"):
        kind = params.get("FBTYPE", "BUSY").upper()
        for p in value.split(","):
            a, b = p.split("/")
            start = _utc(a)
            end = start + ical_duration(b) if b.lstrip("+-").startswith("P") else _utc(b)
            out.setdefault(kind, []).append((start, end))
    merged = {}
    for kind, iv in out.items():
        acc = []
        for a, b in sorted(iv):
            if acc and a <= acc[-1][1]:
                acc[-1] = (acc[-1][0], max(acc[-1][1], b))
            else:
                acc.append((a, b))
        merged[kind] = acc
    return merged


def event_period(ev):
    return (_utc(ev.dtstart), _utc(ev.dtend))
