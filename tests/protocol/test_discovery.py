"""Discovery and authentication: what a client does when an account is
added (RFC 6764 well-known, RFC 5397 current-user-principal, RFC 4791 6
principal properties, RFC 4918 PROPFIND semantics, checklist 2.3 items
1-2, 4-6, 8-11, 29)."""
import pytest
import requests

from helpers import (APPLE, CAL, CS, DAV, XML_CT, ExtraUserServer, Multistatus,
                     assert_dav_error, basic, data, home, new_calendar,
                     principal, propfind, propfind_ms, q, req)

USERS = {"alice": "alice-pw", "bob": "bob-pw",
         "dan@example.com": "dan-pw", "carol": "carol-pw"}
DETAILS = {"carol": {"display": "Carol Example", "email": "carol@example.com"}}


@pytest.fixture(scope="module")
def server():
    srv = ExtraUserServer(USERS, DETAILS)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def carol(server):
    s = requests.Session()
    s.auth = ("carol", USERS["carol"])
    s.base = server.url
    return s


def anon(server):
    s = requests.Session()
    s.base = server.url
    return s


CUP = q(DAV, "current-user-principal")


# ------------------------------------------------------------ well-known
def test_well_known_get_redirects_without_auth(server):
    r = req(anon(server), "GET", "/.well-known/caldav")
    assert r.status_code == 301, r.status_code
    loc = r.headers.get("Location")
    assert loc is not None
    assert loc in ("/", server.url + "/"), loc


def test_well_known_propfind_redirects_without_auth(server):
    r = req(anon(server), "PROPFIND", "/.well-known/caldav",
            data("thunderbird-detect-propfind.xml"), {"Depth": "0", "Content-Type": XML_CT})
    assert r.status_code == 301, r.status_code
    assert r.headers.get("Location") in ("/", server.url + "/")


def test_well_known_target_answers_propfind(alice):
    # the client follows the redirect and PROPFINDs the target (checklist 1)
    body = ('<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-principal/>'
            '<D:principal-URL/><D:resourcetype/></D:prop></D:propfind>')
    ms = Multistatus(req(alice, "PROPFIND", "/", body, {"Depth": "0", "Content-Type": XML_CT}))
    r = ms.get("/")
    assert r.hrefs_in(CUP) == [principal(alice)]


# ------------------------------------------------------------ authentication
def _assert_basic_challenge(r):
    assert r.status_code == 401, "expected 401, got %d" % r.status_code
    wa = r.headers.get("WWW-Authenticate", "")
    assert wa.lower().startswith("basic"), wa
    assert "realm=" in wa.lower(), wa


@pytest.mark.parametrize("method", ["GET", "PROPFIND", "REPORT", "PUT", "DELETE"])
def test_anonymous_requests_get_401_basic(server, method):
    s = anon(server)
    body = None
    h = {}
    if method == "PROPFIND":
        body, h = data("thunderbird-detect-propfind.xml"), {"Depth": "0", "Content-Type": XML_CT}
    r = req(s, method, "/calendars/alice/visits/" + ("x.ics" if method == "PUT" else ""), body, h)
    _assert_basic_challenge(r)


def test_anonymous_propfind_on_root_is_401_not_207_or_403(server):
    r = req(anon(server), "PROPFIND", "/", data("thunderbird-detect-propfind.xml"),
            {"Depth": "0", "Content-Type": XML_CT})
    _assert_basic_challenge(r)


def test_wrong_password_is_401(server):
    s = anon(server)
    s.auth = ("alice", "wrong")
    _assert_basic_challenge(req(s, "PROPFIND", "/", None, {"Depth": "0"}))


def test_unknown_user_is_401(server):
    s = anon(server)
    s.auth = ("mallory", "alice-pw")
    _assert_basic_challenge(req(s, "GET", "/calendars/alice/visits/"))


def test_malformed_authorization_header_is_401(server):
    s = anon(server)
    for value in ("Basic !!!notbase64", "Basic " + "QUFB", "Bearer abc", "Basic"):
        r = req(s, "PROPFIND", "/", None, {"Depth": "0", "Authorization": value})
        _assert_basic_challenge(r)


def test_empty_password_is_401(server):
    s = anon(server)
    r = req(s, "PROPFIND", "/", None, {"Depth": "0", "Authorization": basic("alice", "")})
    _assert_basic_challenge(r)


def test_percent_encoded_user_name_is_decoded(server):
    # iOS 18.4+ sends "@" as "%40" in the Basic user name (checklist 4)
    s = anon(server)
    s.auth = ("dan%40example.com", USERS["dan@example.com"])
    ms = propfind_ms(s, "/", [CUP])
    assert ms.get("/").hrefs_in(CUP) == ["/principals/users/dan@example.com/"]


def test_plain_at_user_name_works_and_owns_a_home(server):
    s = anon(server)
    s.auth = ("dan@example.com", USERS["dan@example.com"])
    ms = propfind_ms(s, "/calendars/dan@example.com/visits/", [q(DAV, "resourcetype")])
    rt = ms.get("/calendars/dan@example.com/visits/").prop(q(DAV, "resourcetype"))
    assert rt is not None and rt.find(q(CAL, "calendar")) is not None


def test_percent_encoded_user_with_wrong_password_is_401(server):
    s = anon(server)
    s.auth = ("dan%40example.com", "nope")
    _assert_basic_challenge(req(s, "PROPFIND", "/", None, {"Depth": "0"}))


# ------------------------------------------------------------ current-user-principal
@pytest.mark.parametrize("where", ["root", "principal", "home", "calendar", "principals"])
def test_current_user_principal_everywhere(alice, where):
    path = {"root": "/", "principal": principal(alice), "home": home(alice),
            "calendar": home(alice) + "visits/", "principals": "/principals/"}[where]
    ms = propfind_ms(alice, path, [CUP])
    assert ms.get(path).hrefs_in(CUP) == [principal(alice)]


def test_current_user_principal_is_per_user(bob):
    ms = propfind_ms(bob, "/", [CUP])
    assert ms.get("/").hrefs_in(CUP) == ["/principals/users/bob/"]


def test_thunderbird_detect_body_on_root(alice):
    r = req(alice, "PROPFIND", "/", data("thunderbird-detect-propfind.xml"),
            {"Depth": "0", "Content-Type": XML_CT})
    ms = Multistatus(r)
    resp = ms.get("/")
    assert resp.hrefs_in(CUP) == [principal(alice)]
    # the root is not a calendar; resourcetype is a collection
    rt = resp.prop(q(DAV, "resourcetype"))
    assert rt is not None and rt.find(q(CAL, "calendar")) is None
    # every requested property is answered, inapplicable ones with 404
    for name in ("resourcetype", "owner", "displayname", "current-user-principal",
                 "current-user-privilege-set"):
        assert resp.prop_status(q(DAV, name)) is not None, name
    assert resp.prop_status(q(APPLE, "calendar-color")) == 404
    assert resp.prop_status(q(CAL, "calendar-home-set")) in (200, 404)


def test_thunderbird_detect_body_on_calendar(alice):
    cal = home(alice) + "visits/"
    ms = Multistatus(req(alice, "PROPFIND", cal, data("thunderbird-detect-propfind.xml"),
                         {"Depth": "0", "Content-Type": XML_CT}))
    r = ms.get(cal)
    rt = r.prop(q(DAV, "resourcetype"))
    assert rt.find(q(CAL, "calendar")) is not None
    assert rt.find(q(DAV, "collection")) is not None
    assert r.hrefs_in(q(DAV, "owner")) == [principal(alice)]


# ------------------------------------------------------------ principal
def test_principal_properties(alice):
    p = principal(alice)
    ms = Multistatus(req(alice, "PROPFIND", p, data("apple-principal-propfind.xml"),
                         {"Depth": "0", "Content-Type": XML_CT}))
    r = ms.get(p)
    assert r.hrefs_in(q(CAL, "calendar-home-set")) == [home(alice)]
    assert r.hrefs_in(q(DAV, "principal-URL")) == [p]
    assert r.hrefs_in(CUP) == [p]
    pcs = r.hrefs_in(q(DAV, "principal-collection-set"))
    assert pcs and any(p.startswith(h) for h in pcs), pcs
    assert (r.text(q(DAV, "displayname")) or "").strip()
    cuas = r.prop(q(CAL, "calendar-user-address-set"))
    assert cuas is not None
    srs = r.prop(q(DAV, "supported-report-set"))
    assert srs is not None
    # not implemented (no scheduling, no dropbox): 404 propstats in the same 207
    for name in (q(CAL, "schedule-inbox-URL"), q(CAL, "schedule-outbox-URL"),
                 q(CS, "dropbox-home-URL"), q(CS, "notification-URL")):
        assert r.prop_status(name) == 404, (name, r.prop_status(name))


def test_principal_resourcetype(alice):
    p = principal(alice)
    rt = propfind_ms(alice, p, [q(DAV, "resourcetype")]).get(p).prop(q(DAV, "resourcetype"))
    assert rt is not None
    assert rt.find(q(DAV, "principal")) is not None
    assert rt.find(q(CAL, "calendar")) is None


def test_principal_with_email_lists_mailto_first(carol):
    p = principal(carol)
    r = propfind_ms(carol, p, [q(CAL, "calendar-user-address-set"),
                               q(DAV, "displayname")]).get(p)
    hrefs = [h.text.strip() for h in r.prop(q(CAL, "calendar-user-address-set")).iter(q(DAV, "href"))]
    assert hrefs and hrefs[0].lower() == "mailto:carol@example.com", hrefs
    assert r.text(q(DAV, "displayname")) == "Carol Example"


def test_principal_of_unknown_user_is_404(alice):
    r = propfind(alice, "/principals/users/nosuchuser/", [q(DAV, "displayname")])
    assert r.status_code == 404


def test_principal_collection_lists_users_principals(alice):
    ms = propfind_ms(alice, "/principals/", [q(DAV, "resourcetype")])
    rt = ms.get("/principals/").prop(q(DAV, "resourcetype"))
    assert rt is not None and rt.find(q(DAV, "collection")) is not None


# ------------------------------------------------------------ unknown properties
def test_unknown_properties_are_404_propstats(alice):
    cal = home(alice) + "visits/"
    props = [q(DAV, "displayname"), q("urn:x-nobody:ns", "nothing"), q(CS, "pushkey"),
             q(DAV, "quota-used-bytes")]
    r = propfind_ms(alice, cal, props).get(cal)
    assert r.prop_status(q(DAV, "displayname")) == 200
    assert r.prop_status(q("urn:x-nobody:ns", "nothing")) == 404
    assert r.prop_status(q(CS, "pushkey")) == 404
    # every requested property is accounted for exactly once
    for p in props:
        assert r.prop_status(p) is not None, p


def test_only_unknown_properties_still_207(alice):
    r = propfind(alice, "/", [q("urn:x-nobody:ns", "a"), q("urn:x-nobody:ns", "b")])
    resp = Multistatus(r).get("/")
    assert resp.prop_status(q("urn:x-nobody:ns", "a")) == 404
    assert resp.prop_status(q("urn:x-nobody:ns", "b")) == 404


@pytest.mark.parametrize("hdr", [{"Brief": "t"}, {"Prefer": "return=minimal"}])
def test_brief_and_prefer_minimal_omit_404_propstat(alice, hdr):
    cal = home(alice) + "visits/"
    props = [q(DAV, "displayname"), q("urn:x-nobody:ns", "nothing")]
    r = propfind_ms(alice, cal, props, headers=hdr).get(cal)
    assert r.prop_status(q(DAV, "displayname")) == 200
    assert r.prop_status(q("urn:x-nobody:ns", "nothing")) is None
    assert all(ps.status != 404 for ps in r.propstats)


def test_without_brief_404_propstat_is_present(alice):
    cal = home(alice) + "visits/"
    r = propfind_ms(alice, cal, [q("urn:x-nobody:ns", "nothing")]).get(cal)
    assert r.prop_status(q("urn:x-nobody:ns", "nothing")) == 404


# ------------------------------------------------------------ the home
def test_home_depth1_lists_default_calendar(alice):
    h = home(alice)
    r = req(alice, "PROPFIND", h, data("apple-home-propfind.xml"),
            {"Depth": "1", "Content-Type": XML_CT})
    ms = Multistatus(r)
    hrefs = ms.hrefs()
    assert h in hrefs
    cal = ms.get(h + "visits/")
    rt = cal.prop(q(DAV, "resourcetype"))
    assert rt.find(q(DAV, "collection")) is not None
    assert rt.find(q(CAL, "calendar")) is not None
    assert cal.text(q(DAV, "displayname")) == "Visits"
    assert cal.text(q(CS, "getctag"))
    assert cal.text(q(DAV, "sync-token"))
    comps = {c.get("name") for c in cal.prop(q(CAL, "supported-calendar-component-set"))
             .findall(q(CAL, "comp"))}
    assert {"VEVENT", "VTODO"} <= comps, comps
    cups = cal.prop(q(DAV, "current-user-privilege-set"))
    privs = {c.tag for p in cups.findall(q(DAV, "privilege")) for c in p}
    assert q(DAV, "write") in privs, privs
    assert q(DAV, "read") in privs, privs
    assert cal.hrefs_in(q(DAV, "owner")) == [principal(alice)]
    srs = cal.prop(q(DAV, "supported-report-set"))
    reports = {c.tag for sr in srs.iter(q(DAV, "report")) for c in sr}
    assert {q(CAL, "calendar-query"), q(CAL, "calendar-multiget"),
            q(DAV, "sync-collection"), q(CAL, "free-busy-query")} <= reports, reports
    # Apple's many unimplemented properties come back as 404 propstats
    assert cal.prop_status(q(CS, "pushkey")) == 404
    assert cal.prop_status(q("http://me.com/_namespace/", "bulk-requests")) == 404
    # the home itself is a plain collection, not a calendar
    hrt = ms.get(h).prop(q(DAV, "resourcetype"))
    assert hrt.find(q(DAV, "collection")) is not None
    assert hrt.find(q(CAL, "calendar")) is None


def test_home_depth1_lists_new_calendar(alice):
    cal = new_calendar(alice)
    ms = propfind_ms(alice, home(alice), [q(DAV, "resourcetype")], depth="1")
    assert cal in ms.hrefs()
    assert ms.get(cal).prop(q(DAV, "resourcetype")).find(q(CAL, "calendar")) is not None


def test_home_depth0_lists_only_itself(alice):
    ms = propfind_ms(alice, home(alice), [q(DAV, "resourcetype")], depth="0")
    assert ms.hrefs() == {home(alice)}


def test_sync_token_and_ctag_formats(alice):
    cal = home(alice) + "visits/"
    r = propfind_ms(alice, cal, [q(DAV, "sync-token"), q(CS, "getctag")]).get(cal)
    tok = r.text(q(DAV, "sync-token"))
    ctag = r.text(q(CS, "getctag"))
    assert tok.startswith("http://visitdav.org/ns/sync/"), tok
    idseq = tok[len("http://visitdav.org/ns/sync/"):]
    ident, _, seq = idseq.partition("-")
    assert ident.isdigit() and seq.isdigit(), tok
    assert ctag == '"%s"' % idseq, (ctag, tok)


def test_calendar_privileges_on_home(alice):
    r = propfind_ms(alice, home(alice), [q(DAV, "current-user-privilege-set")]).get(home(alice))
    privs = {c.tag for p in r.prop(q(DAV, "current-user-privilege-set"))
             .findall(q(DAV, "privilege")) for c in p}
    assert q(DAV, "read") in privs


def test_depth_infinity_refused(alice):
    r = propfind(alice, home(alice), [q(DAV, "displayname")], depth="infinity")
    assert_dav_error(r, DAV, "propfind-finite-depth")


def test_propfind_on_missing_resource_is_404(alice):
    r = propfind(alice, home(alice) + "no-such-calendar/", [q(DAV, "displayname")])
    assert r.status_code == 404


def test_propfind_malformed_xml_is_400(alice):
    r = req(alice, "PROPFIND", "/", "<D:propfind xmlns:D='DAV:'><D:prop>",
            {"Depth": "0", "Content-Type": XML_CT})
    assert r.status_code == 400


def test_propfind_wrong_root_is_400(alice):
    r = req(alice, "PROPFIND", "/", "<D:propertyupdate xmlns:D='DAV:'/>",
            {"Depth": "0", "Content-Type": XML_CT})
    assert r.status_code == 400


def test_propfind_empty_body_is_allprop(alice):
    cal = home(alice) + "visits/"
    ms = Multistatus(req(alice, "PROPFIND", cal, None, {"Depth": "0"}))
    rt = ms.get(cal).prop(q(DAV, "resourcetype"))
    assert rt is not None and rt.find(q(CAL, "calendar")) is not None


def test_propfind_propname(alice):
    cal = home(alice) + "visits/"
    body = '<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'
    ms = Multistatus(req(alice, "PROPFIND", cal, body, {"Depth": "0", "Content-Type": XML_CT}))
    r = ms.get(cal)
    names = {p.tag for ps in r.propstats if ps.status == 200 for p in ps.props}
    assert q(DAV, "resourcetype") in names and q(DAV, "displayname") in names
    # propname returns names only: no values
    for ps in r.propstats:
        for p in ps.props:
            assert len(p) == 0 and not (p.text or "").strip(), p.tag


# ------------------------------------------------------------ OPTIONS
def _dav_classes(r):
    return {t.strip() for v in r.headers.get("DAV", "").split(",") for t in [v] if t.strip()}


def _allow(r):
    return {t.strip().upper() for t in r.headers.get("Allow", "").split(",") if t.strip()}


def test_options_dav_header_is_honest(alice):
    r = req(alice, "OPTIONS", home(alice) + "visits/")
    assert r.status_code == 200
    classes = _dav_classes(r)
    assert {"1", "3", "calendar-access", "extended-mkcol"} <= classes, classes
    # no LOCK implemented: class 2 must not be claimed; no server-side scheduling
    assert "2" not in classes
    assert "calendar-auto-schedule" not in classes


def test_options_allow_on_calendar(alice):
    r = req(alice, "OPTIONS", home(alice) + "visits/")
    allow = _allow(r)
    assert {"OPTIONS", "GET", "HEAD", "PROPFIND", "PROPPATCH", "REPORT", "DELETE",
            "MOVE"} <= allow, allow
    assert "LOCK" not in allow and "UNLOCK" not in allow
    assert "MKCALENDAR" not in allow  # it exists already


def test_options_allow_on_resource(alice):
    cal = new_calendar(alice)
    from helpers import event_ics, put_ok
    put_ok(alice, cal + "e.ics", event_ics())
    r = req(alice, "OPTIONS", cal + "e.ics")
    assert r.status_code == 200
    allow = _allow(r)
    assert {"GET", "HEAD", "PUT", "DELETE", "PROPFIND", "COPY", "MOVE"} <= allow, allow
    assert "MKCALENDAR" not in allow and "LOCK" not in allow


def test_options_on_root(alice):
    r = req(alice, "OPTIONS", "/")
    assert r.status_code == 200
    assert "calendar-access" in _dav_classes(r)
    assert "PROPFIND" in _allow(r)


# ------------------------------------------------------------ headers and reports
def test_vary_names_brief_and_prefer(alice):
    # checklist 29: responses that depend on Brief/Prefer say so
    r = propfind(alice, home(alice), [q(DAV, "displayname")], headers={"Brief": "t"})
    vary = {t.strip().lower() for t in r.headers.get("Vary", "").split(",")}
    assert {"brief", "prefer"} <= vary, r.headers.get("Vary")


def test_gzip_response_when_accepted(alice):
    # checklist 30: Apple sends Accept-Encoding: gzip, deflate
    cal = new_calendar(alice)
    from helpers import event_ics, put_ok
    for i in range(30):
        put_ok(alice, cal + "g%02d.ics" % i, event_ics())
    r = req(alice, "PROPFIND", cal, data("apple-home-propfind.xml"),
            {"Depth": "1", "Content-Type": XML_CT, "Accept-Encoding": "gzip, deflate"})
    assert r.status_code == 207
    assert r.headers.get("Content-Encoding", "").lower() in ("gzip", "deflate"), r.headers
    Multistatus(r)  # requests decoded it: still a well-formed multistatus


def test_no_gzip_unless_accepted(alice):
    r = req(alice, "PROPFIND", home(alice), None, {"Depth": "1", "Accept-Encoding": "identity"})
    assert r.status_code == 207
    assert r.headers.get("Content-Encoding", "identity").lower() == "identity"


def test_unknown_report_is_supported_report_error(alice):
    r = req(alice, "REPORT", home(alice) + "visits/", '<X:frobnicate xmlns:X="urn:x-nobody"/>',
            {"Depth": "0", "Content-Type": XML_CT})
    assert_dav_error(r, DAV, "supported-report")


@pytest.mark.parametrize("depth", ["2", "one", "-1"])
def test_invalid_depth_is_400(alice, depth):
    r = req(alice, "PROPFIND", home(alice), None, {"Depth": depth})
    assert r.status_code == 400


def test_hrefs_are_percent_encoded(alice):
    # RFC 4918 8.3: an href is a URI: no raw spaces, '&' or non-ASCII
    cal = new_calendar(alice)
    from helpers import event_ics, put_ok
    put_ok(alice, cal + "M%C3%BCller%20%26%20Co.ics", event_ics())
    ms = propfind_ms(alice, cal, [q(DAV, "getetag")], depth="1")
    resp = ms.get(cal + "Müller & Co.ics")
    raw_href = resp.raw_hrefs[0].strip()
    assert " " not in raw_href and "&" not in raw_href and "ü" not in raw_href, raw_href
    assert raw_href.endswith("/M%C3%BCller%20%26%20Co.ics"), raw_href


def test_sync_collection_on_home_lists_calendars(alice):
    # checklist 12: Apple syncs the calendar home too
    cal = new_calendar(alice)
    body = ('<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>'
            '<D:prop><D:resourcetype/></D:prop></D:sync-collection>')
    ms = Multistatus(req(alice, "REPORT", home(alice), body, {"Depth": "1", "Content-Type": XML_CT}))
    assert ms.sync_token
    assert cal in ms.hrefs() and home(alice) + "visits/" in ms.hrefs()


@pytest.mark.parametrize("path", ["/calendars/nobody-here/x/", "/principals/users/alice/",
                                  "/no/such/path", "/calendars/"])
def test_anonymous_401_everywhere_else(server, path):
    # no existence leak and no anonymous answer: always the Basic challenge
    r = req(anon(server), "PROPFIND", path, None, {"Depth": "0"})
    _assert_basic_challenge(r)
