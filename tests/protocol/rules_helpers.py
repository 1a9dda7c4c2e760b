"""Helpers for the visit-rules tests (tests/protocol/test_rules_*.py and
tests/clients/test_caldav_rules.py).  Owned by the rules test suite.

Black-box only, written from docs/rules.md and issue 3: a real visitdavd
with a customer directory and a rules file (tests/data/rules/), real HTTP
(requests), XML parsed with xml.etree, iCalendar unfolded and split by the
small parser in helpers.py.

Times: every test date lies in 2027 (inside the default 366-day horizon of
a server running in late 2026); the organisation zone is Europe/Berlin
(CET +1 until 2027-03-28 02:00, CEST +2 after).
"""
import contextlib
import json
import os
import re
import sys
import uuid
import xml.etree.ElementTree as ET

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from helpers import (DAV, XML_CT, Multistatus, norm_href, parse_ical, q)  # noqa: E402
from vdserver import VisitdavServer  # noqa: E402

RULES_DIR = os.path.abspath(os.path.join(HERE, "..", "data", "rules"))
CUSTOMERS = os.path.join(RULES_DIR, "customers.csv")
V = "urn:visitdav:ns"
ICS_CT = "text/calendar; charset=utf-8"
PREFIX = "[CONFLICT] "
YEAR = 2027

# carol is the approver in every rules file; team east is alice and bob.
USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw"}


# ---------------------------------------------------------------- servers
def rules_path(conf):
    """'flag' -> /abs/tests/data/rules/rules-flag.conf"""
    return os.path.join(RULES_DIR, "rules-%s.conf" % conf)


def server_config(conf, customers=CUSTOMERS):
    # The daemon's own organisation zone is set too, so floating times and
    # all-day dates mean Berlin local time whichever setting the server uses.
    return ("timezone = Europe/Berlin\n"
            "customers = %s\n"
            "rules = %s\n" % (customers, rules_path(conf)))


def make_server(conf, users=None):
    return VisitdavServer(extra_config=server_config(conf), users=users or USERS)


@contextlib.contextmanager
def rules_server(conf, users=None):
    srv = make_server(conf, users)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def session(srv, user, users=None):
    s = requests.Session()
    s.auth = (user, (users or USERS)[user])
    s.base = srv.url
    return s


def req(s, method, path, body=None, headers=None):
    if isinstance(body, str):
        body = body.encode("utf-8")
    url = path if path.startswith("http") else s.base + path
    return s.request(method, url, data=body, headers=dict(headers or {}),
                     allow_redirects=False, timeout=120)


def href(user, cal, name):
    return "/calendars/%s/%s/%s.ics" % (user, cal, name)


def calendar(user, cal="visits"):
    return "/calendars/%s/%s/" % (user, cal)


def mkcalendar(s, user, cal):
    r = req(s, "MKCALENDAR", calendar(user, cal))
    assert r.status_code == 201, "MKCALENDAR %s: %d %s" % (cal, r.status_code, r.text[:300])


def ensure_home(s):
    """First login provisions the default calendar 'visits'."""
    r = req(s, "PROPFIND", calendar(s.auth[0]), headers={"Depth": "0"})
    assert r.status_code == 207, "PROPFIND visits of %s: %d" % (s.auth[0], r.status_code)


def put(s, path, ics, headers=None):
    h = {"Content-Type": ICS_CT}
    h.update(headers or {})
    return req(s, "PUT", path, ics, h)


def get(s, path):
    return req(s, "GET", path)


# ---------------------------------------------------------------- times
def _dt(md_hm):
    """'03-01 09:00' -> '20270301T090000'"""
    m = re.fullmatch(r"(\d\d)-(\d\d) (\d\d):(\d\d)", md_hm)
    assert m, md_hm
    return "%d%s%sT%s%s00" % (YEAR, m.group(1), m.group(2), m.group(3), m.group(4))


def U(md_hm):
    """UTC date-time value: ':20270301T090000Z'."""
    return ":" + _dt(md_hm) + "Z"


def B(md_hm):
    """Europe/Berlin local date-time."""
    return ";TZID=Europe/Berlin:" + _dt(md_hm)


def NY(md_hm):
    """America/New_York local date-time."""
    return ";TZID=America/New_York:" + _dt(md_hm)


def W(md_hm):
    """Outlook's Windows zone name for Berlin, defined by its own VTIMEZONE."""
    return ";TZID=W. Europe Standard Time:" + _dt(md_hm)


def F(md_hm):
    """Floating date-time (no zone)."""
    return ":" + _dt(md_hm)


def D(md):
    """All-day DATE value: ';VALUE=DATE:20270304'."""
    m = re.fullmatch(r"(\d\d)-(\d\d)", md)
    assert m, md
    return ";VALUE=DATE:%d%s%s" % (YEAR, m.group(1), m.group(2))


def utc(md_hm):
    """'03-01 09:00' -> '20270301T090000Z' (as X-OTHER-START and V:other-start show it)."""
    return _dt(md_hm) + "Z"


def _tz_file(name):
    with open(os.path.join(RULES_DIR, name), encoding="utf-8") as f:
        return f.read().replace("\r\n", "\n").replace("\n", "\r\n")


# ---------------------------------------------------------------- iCalendar
def vevent_lines(uid, start, end, summary, extra=(), rrule=None, exdates=(), rid=None):
    lines = ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20261201T000000Z"]
    if rid is not None:
        lines.append("RECURRENCE-ID" + rid)
    lines.append("DTSTART" + start)
    if end is not None:
        lines.append("DTEND" + end)
    if summary is not None:
        lines.append("SUMMARY:" + summary)
    if rrule:
        lines.append("RRULE:" + rrule)
    for x in exdates:
        lines.append("EXDATE" + x)
    lines.extend(extra)
    lines.append("END:VEVENT")
    return lines


def ics(uid, start, end=None, summary="Visit", extra=(), rrule=None, exdates=(), overrides=()):
    """A VCALENDAR with one event (and its overridden instances).  Each
    override is a dict rid/start/end and optionally summary/extra (default:
    the master's).  VTIMEZONEs are added for the zones used."""
    body = vevent_lines(uid, start, end, summary, extra, rrule, exdates)
    for o in overrides:
        body += vevent_lines(uid, o["start"], o.get("end"), o.get("summary", summary),
                             o.get("extra", extra), rid=o["rid"])
    text = "\r\n".join(body) + "\r\n"
    tzs = ""
    if "TZID=Europe/Berlin" in text:
        tzs += _tz_file("vtimezone-berlin.ics")
    if "TZID=America/New_York" in text:
        tzs += _tz_file("vtimezone-new-york.ics")
    if "TZID=W. Europe Standard Time" in text:
        tzs += _tz_file("vtimezone-w-europe.ics")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//visitdav rules tests//EN\r\n"
            + tzs + text + "END:VCALENDAR\r\n")


def new_uid(tag="v"):
    return "%s-%s@rules.test" % (tag, uuid.uuid4().hex[:12])


def events_of(text):
    cal = parse_ical(text)
    cals = [c for c in cal.children if c.name == "VCALENDAR"]
    assert len(cals) == 1, "expected one VCALENDAR"
    evs = [c for c in cals[0].children if c.name == "VEVENT"]
    assert evs, "no VEVENT in\n" + text
    return evs


def master_of(text):
    evs = events_of(text)
    masters = [e for e in evs if not e.get("RECURRENCE-ID")]
    assert len(masters) == 1, "expected one master VEVENT, found %d" % len(masters)
    return masters[0]


class Flag:
    """One X-VISIT-CONFLICT property."""

    def __init__(self, params, value):
        self.rule = params.get("X-RULE")
        self.owner = params.get("X-OTHER-OWNER")
        self.start = params.get("X-OTHER-START")
        self.end = params.get("X-OTHER-END")
        self.other = norm_href(value) if value.strip() else None

    def __repr__(self):
        return "Flag(%s, %s, %s, %s-%s)" % (self.rule, self.owner, self.other,
                                             self.start, self.end)


def flags_of(text):
    """The X-VISIT-CONFLICT flags of the stored event's master component."""
    return [Flag(p, v) for (_, p, v) in master_of(text).get("X-VISIT-CONFLICT")]


def all_flag_props(text):
    return [p for e in events_of(text) for p in e.get("X-VISIT-CONFLICT")]


def summary_of(text):
    return master_of(text).value("SUMMARY")


def categories_of(text):
    """All CATEGORIES values of the master, split on unescaped commas."""
    out = []
    for (_, _, v) in master_of(text).get("CATEGORIES"):
        out += [c.replace("\\,", ",") for c in re.split(r"(?<!\\),", v)]
    return out


UTC_RE = re.compile(r"^\d{8}T\d{6}Z$")


# ---------------------------------------------------------------- reject bodies
def reject_conflicts(resp):
    """Parse a 403 visit-conflict body: (list of dicts, responsedescription)."""
    root = ET.fromstring(resp.content)
    assert root.tag == q(DAV, "error"), "root is %s: %s" % (root.tag, resp.text[:500])
    out = []
    for vc in root.findall(q(V, "visit-conflict")):
        d = {}
        for k in ("rule", "other-owner", "other-start", "other-end"):
            el = vc.find(q(V, k))
            d[k] = None if el is None else (el.text or "").strip()
        out.append(d)
    rd = root.find(q(DAV, "responsedescription"))
    return out, (None if rd is None else (rd.text or "").strip())


# ---------------------------------------------------------------- reports
def sync_collection(s, cal, token):
    tok = "<D:sync-token>%s</D:sync-token>" % token if token else "<D:sync-token/>"
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            '<D:sync-collection xmlns:D="DAV:">%s<D:sync-level>1</D:sync-level>'
            '<D:prop><D:getetag/></D:prop></D:sync-collection>' % tok)
    ms = Multistatus(req(s, "REPORT", cal, body, {"Content-Type": XML_CT, "Depth": "1"}))
    assert ms.sync_token, "sync-collection without sync-token"
    return ms


def sync_changes(ms):
    """{href: 'deleted' | etag} of a sync-collection answer."""
    out = {}
    for r in ms.responses:
        if r.status is not None:
            assert r.status == 404, "member status %s" % r.status
            out[r.href] = "deleted"
        else:
            out[r.href] = r.text(q(DAV, "getetag"))
    return out


def sync_token(s, cal):
    return sync_collection(s, cal, None).sync_token


def ctag(s, cal):
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            'xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/>'
            '</D:prop></D:propfind>')
    ms = Multistatus(req(s, "PROPFIND", cal, body, {"Content-Type": XML_CT, "Depth": "0"}))
    return ms.get(cal).text(q("http://calendarserver.org/ns/", "getctag"))


def calendar_query(s, cal, start, end):
    """Hrefs of the VEVENTs in cal overlapping [start, end) (UTC values)."""
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
            '<C:comp-filter name="VEVENT"><C:time-range start="%s" end="%s"/>'
            '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>' % (start, end))
    ms = Multistatus(req(s, "REPORT", cal, body, {"Content-Type": XML_CT, "Depth": "1"}))
    return {r.href for r in ms.responses if r.href != cal}


def conflicts_api(s, start, end, team=None):
    params = {"start": start, "end": end}
    if team:
        params["team"] = team
    r = s.get(s.base + "/api/v1/conflicts", params=params, timeout=60)
    assert r.status_code == 200, "GET /api/v1/conflicts: %d %s" % (r.status_code, r.text[:500])
    ct = r.headers.get("Content-Type", "")
    assert ct.startswith("application/json"), "Content-Type %r" % ct
    doc = json.loads(r.text)
    assert isinstance(doc.get("conflicts"), list), doc
    return doc["conflicts"]
