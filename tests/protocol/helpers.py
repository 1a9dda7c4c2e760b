"""Shared helpers for the protocol tests (owned by the protocol test suite).

Black-box only: everything goes over HTTP to the live visitdavd that the
conftest starts.  XML is always parsed with xml.etree, never matched with
regular expressions; iCalendar is unfolded and split into components by the
tiny parser below (enough to compare UIDs, DTSTARTs and FREEBUSY periods).
"""
import datetime as dt
import http.client
import os
import re
import sys
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from vdserver import VisitdavServer  # noqa: E402

DAV = "DAV:"
CAL = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
APPLE = "http://apple.com/ns/ical/"

DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "data", "protocol")

XML_CT = "application/xml; charset=utf-8"
ICS_CT = "text/calendar; charset=utf-8"


def q(ns, name):
    """Clark notation: {ns}name."""
    return "{%s}%s" % (ns, name)


def data(name):
    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as f:
        return f.read()


def tz_ny():
    return data("vtimezone-new-york.ics").replace("\n", "\r\n")


def tz_berlin():
    return data("vtimezone-berlin.ics").replace("\n", "\r\n")


def uid():
    return str(uuid.uuid4())


# ---------------------------------------------------------------- servers
class ExtraUserServer(VisitdavServer):
    """A VisitdavServer whose initial users may carry display name and
    email (the conftest's harness only passes name and password)."""

    def __init__(self, users, details=None, extra_config=""):
        super().__init__(extra_config=extra_config, users=users)
        self.details = details or {}

    def add_user(self, name, password, display=None, email=None):
        d = self.details.get(name, {})
        super().add_user(name, password, display or d.get("display"),
                         email or d.get("email"))


# ---------------------------------------------------------------- HTTP
def user_of(s):
    return s.auth[0]


def home(s):
    return "/calendars/%s/" % user_of(s)


def principal(s):
    return "/principals/users/%s/" % user_of(s)


def req(s, method, path, body=None, headers=None, **kw):
    """One request on session s; path is absolute-path or a full URL.
    Redirects are never followed."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    url = path if path.startswith("http") else s.base + path
    return s.request(method, url, data=body, headers=dict(headers or {}),
                     allow_redirects=False, timeout=120, **kw)


def raw(server, method, path, headers=None, body=b"", timeout=30):
    """Send a request with the path exactly as given (no client-side
    normalisation of '..' or '%'); returns (status, headers, body)."""
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        h = dict(headers or {})
        if body or method in ("PUT", "PROPFIND", "REPORT", "PROPPATCH"):
            h.setdefault("Content-Length", str(len(body)))
        for k, v in h.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def basic(user, pw):
    import base64
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


# ---------------------------------------------------------------- XML
def propfind_body(props):
    """A DAV:propfind for the given Clark names (each element declares its
    own namespace, so any namespace works)."""
    parts = []
    for i, c in enumerate(props):
        ns, local = c[1:].split("}", 1)
        parts.append('<p%d:%s xmlns:p%d="%s"/>' % (i, local, i, ns))
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<D:propfind xmlns:D="DAV:"><D:prop>%s</D:prop></D:propfind>' % "".join(parts))


def status_code(text):
    """'HTTP/1.1 404 Not Found' -> 404."""
    return int(text.split()[1])


def norm_href(href):
    """Href as a decoded absolute path (hrefs may be full URLs)."""
    return unquote(urlsplit(href.strip()).path)


class PropStat:
    def __init__(self, el):
        self.status = status_code(el.find(q(DAV, "status")).text)
        prop = el.find(q(DAV, "prop"))
        self.props = list(prop) if prop is not None else []
        self.error = el.find(q(DAV, "error"))


class MSResponse:
    def __init__(self, el):
        self.el = el
        hrefs = el.findall(q(DAV, "href"))
        assert hrefs, "response without href: " + ET.tostring(el, "unicode")
        self.raw_hrefs = [h.text for h in hrefs]
        self.href = norm_href(hrefs[0].text)
        st = el.find(q(DAV, "status"))
        self.status = status_code(st.text) if st is not None else None
        self.propstats = [PropStat(p) for p in el.findall(q(DAV, "propstat"))]
        self.error = el.find(q(DAV, "error"))

    def prop_status(self, clark):
        """Status of the propstat the property appears in, or None."""
        found = [ps.status for ps in self.propstats for p in ps.props if p.tag == clark]
        assert len(found) <= 1, "property %s reported %d times" % (clark, len(found))
        return found[0] if found else None

    def prop(self, clark):
        """The property element if reported with 200, else None."""
        for ps in self.propstats:
            if ps.status == 200:
                for p in ps.props:
                    if p.tag == clark:
                        return p
        return None

    def text(self, clark):
        p = self.prop(clark)
        return None if p is None else (p.text or "")

    def hrefs_in(self, clark):
        p = self.prop(clark)
        if p is None:
            return None
        return [norm_href(h.text) for h in p.iter(q(DAV, "href"))]

    def propstat_of(self, clark):
        for ps in self.propstats:
            for p in ps.props:
                if p.tag == clark:
                    return ps
        return None


class Multistatus:
    def __init__(self, resp):
        assert resp.status_code == 207, "expected 207, got %d: %s" % (
            resp.status_code, resp.text[:800])
        ct = resp.headers.get("Content-Type", "")
        assert "xml" in ct, "multistatus with Content-Type %r" % ct
        self.root = ET.fromstring(resp.content)
        assert self.root.tag == q(DAV, "multistatus"), self.root.tag
        self.responses = [MSResponse(r) for r in self.root.findall(q(DAV, "response"))]
        tok = self.root.find(q(DAV, "sync-token"))
        self.sync_token = tok.text if tok is not None else None

    def by_href(self):
        d = {}
        for r in self.responses:
            assert r.href not in d, "href %s reported twice" % r.href
            d[r.href] = r
        return d

    def get(self, path):
        d = self.by_href()
        if path in d:
            return d[path]
        # a collection may be reported with or without its trailing slash
        alt = path[:-1] if path.endswith("/") else path + "/"
        assert alt in d, "no response for %s in %s" % (path, sorted(d))
        return d[alt]

    def hrefs(self):
        return set(self.by_href())


def propfind(s, path, props, depth="0", headers=None):
    h = {"Depth": depth, "Content-Type": XML_CT}
    h.update(headers or {})
    return req(s, "PROPFIND", path, propfind_body(props), h)


def propfind_ms(s, path, props, depth="0", headers=None):
    return Multistatus(propfind(s, path, props, depth, headers))


def prop1(s, path, clark, headers=None):
    """One property of one resource, asserted present with 200."""
    r = propfind_ms(s, path, [clark], "0", headers).get(path)
    p = r.prop(clark)
    assert p is not None, "%s on %s: status %s" % (clark, path, r.prop_status(clark))
    return p


def getctag(s, cal):
    return prop1(s, cal, q(CS, "getctag")).text


def sync_token_prop(s, cal):
    return prop1(s, cal, q(DAV, "sync-token")).text


def assert_dav_error(resp, ns, name, status=403):
    """resp is a DAV:error body naming precondition {ns}name and carrying a
    human-readable message; returns the precondition element."""
    assert resp.status_code == status, "expected %d %s, got %d: %s" % (
        status, name, resp.status_code, resp.text[:800])
    ct = resp.headers.get("Content-Type", "")
    assert "xml" in ct, "DAV:error with Content-Type %r" % ct
    root = ET.fromstring(resp.content)
    assert root.tag == q(DAV, "error"), "root is %s" % root.tag
    el = root.find(q(ns, name))
    assert el is not None, "precondition %s missing in %s" % (name, resp.text)
    msg = "".join(t for e in root.iter() if e.tag != q(DAV, "href")
                  for t in [e.text or ""]).strip()
    assert msg, "no human-readable message in " + resp.text
    return el


# ---------------------------------------------------------------- collections
def new_calendar(s, body=None, name=None, headers=None):
    """MKCALENDAR a fresh calendar in s's home; returns its path."""
    path = home(s) + (name or "cal-" + uuid.uuid4().hex[:12]) + "/"
    h = {"Content-Type": XML_CT} if body else {}
    h.update(headers or {})
    r = req(s, "MKCALENDAR", path, body, h)
    assert r.status_code == 201, "MKCALENDAR %s: %d %s" % (path, r.status_code, r.text[:500])
    return path


def mkcalendar_body(displayname=None, comps=None, timezone=None, extra=""):
    props = []
    if displayname is not None:
        props.append("<D:displayname>%s</D:displayname>" % displayname)
    if comps is not None:
        props.append("<C:supported-calendar-component-set>%s</C:supported-calendar-component-set>"
                     % "".join('<C:comp name="%s"/>' % c for c in comps))
    if timezone is not None:
        props.append("<C:calendar-timezone><![CDATA[%s]]></C:calendar-timezone>" % timezone)
    props.append(extra)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:set><D:prop>%s</D:prop></D:set></C:mkcalendar>' % "".join(props))


def tz_calendar(tzid_vtimezone):
    """A VCALENDAR holding one VTIMEZONE (calendar-timezone / C:timezone)."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//visitdav tests//EN\r\n"
            + tzid_vtimezone + "END:VCALENDAR\r\n")


# ---------------------------------------------------------------- iCalendar
def _prop(name, value):
    if value.startswith((";", ":")):
        return name + value
    return name + ":" + value


def component(kind, uid_, start=None, end=None, summary="Visit", extra=(), stamp=True):
    lines = ["BEGIN:" + kind, "UID:" + uid_]
    if stamp:
        lines.append("DTSTAMP:20240101T000000Z")
    if start is not None:
        lines.append(_prop("DTSTART", start))
    if end is not None:
        lines.append(_prop("DUE" if kind == "VTODO" else "DTEND", end))
    if summary is not None:
        lines.append("SUMMARY:" + summary)
    lines.extend(extra)
    lines.append("END:" + kind)
    return "\r\n".join(lines) + "\r\n"


def vevent(uid_, start=None, end=None, summary="Visit", extra=()):
    return component("VEVENT", uid_, start, end, summary, extra)


def vtodo(uid_, start=None, due=None, summary="Todo", extra=()):
    return component("VTODO", uid_, start, due, summary, extra)


def vcal(*comps, timezones=()):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//visitdav tests//EN\r\n"
            + "".join(timezones) + "".join(comps) + "END:VCALENDAR\r\n")


def event_ics(uid_=None, start="20240610T100000Z", end="20240610T110000Z",
              summary="Visit", extra=()):
    return vcal(vevent(uid_ or uid(), start, end, summary, extra))


def put(s, path, ics, headers=None, ct=ICS_CT):
    h = {"Content-Type": ct} if ct else {}
    h.update(headers or {})
    return req(s, "PUT", path, ics, h)


def put_ok(s, path, ics, headers=None):
    r = put(s, path, ics, headers)
    assert r.status_code in (201, 204), "PUT %s: %d %s" % (path, r.status_code, r.text[:500])
    return r


def etag_of(s, path):
    r = req(s, "GET", path)
    assert r.status_code == 200, "GET %s: %d" % (path, r.status_code)
    return r.headers["ETag"]


def unfold(text):
    return re.sub(r"\n[ \t]", "", text.replace("\r\n", "\n"))


class Comp:
    def __init__(self, name):
        self.name = name
        self.props = []      # (NAME, {PARAM: value}, value)
        self.children = []

    def get(self, name):
        return [p for p in self.props if p[0] == name]

    def value(self, name):
        v = self.get(name)
        return v[0][2] if v else None

    def walk(self, name):
        out = []
        for c in self.children:
            if c.name == name:
                out.append(c)
            out.extend(c.walk(name))
        return out


def _split_contentline(line):
    # name *(";" param) ":" value; parameter values may be quoted
    i, inq = 0, False
    while i < len(line):
        ch = line[i]
        if ch == '"':
            inq = not inq
        elif ch == ":" and not inq:
            break
        i += 1
    head, value = line[:i], line[i + 1:]
    parts, cur, inq = [], "", False
    for ch in head:
        if ch == '"':
            inq = not inq
        if ch == ";" and not inq:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.upper()] = v.strip('"')
    return parts[0].upper(), params, value


def parse_ical(text):
    """Parse into a root Comp whose children are the top-level components."""
    root = Comp("ROOT")
    stack = [root]
    for line in unfold(text).split("\n"):
        if not line.strip():
            continue
        name, params, value = _split_contentline(line)
        if name == "BEGIN":
            c = Comp(value.upper())
            stack[-1].children.append(c)
            stack.append(c)
        elif name == "END":
            assert stack[-1].name == value.upper(), "END:%s closes %s" % (value, stack[-1].name)
            stack.pop()
        else:
            stack[-1].props.append((name, params, value))
    assert len(stack) == 1, "unterminated component " + stack[-1].name
    return root


def ical_utc(value, params=None):
    """Parse a DATE-TIME value ending in Z into an aware datetime."""
    return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def ical_duration(v):
    m = re.fullmatch(r"([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", v)
    assert m, "bad duration " + v
    sign = -1 if m.group(1) == "-" else 1
    w, d, h, mi, s = (int(x or 0) for x in m.groups()[1:])
    return sign * dt.timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)
