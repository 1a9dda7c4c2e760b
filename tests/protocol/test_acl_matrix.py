"""The permission matrix of issue 4 on alice's calendar: each viewer (alice
the owner, bob a peer in her team (read-masked), dan of the other team
(read-free-busy only), carol her manager (read+write), grace an executive
(read), an anonymous client) by each request (PROPFIND Depth 1, GET, PUT
new, PUT over, DELETE, MOVE out, calendar-query, multiget with foreign
hrefs, sync-collection, free-busy-query, current-user-privilege-set) and
each seeded event (public, CLASS:CONFIDENTIAL, CLASS:PRIVATE): the status
and exactly which fields are visible.  Every response is searched for the
secrets the viewer may not read (acl_helpers.leak_check).

Expectations come from issue 4, lib/acl.h and lib/ical_mask.h; the table
of views is acl_helpers.VIEW.  Team aggregate calendars, group
principals, feeds and outbox free-busy are not tested here.
"""
import uuid

import pytest

from acl_helpers import (ALICE_CAL, ALICE_OTHER, ANON, BUSY, CALDATA, CONF, CUPS, FRANK, FULL,
                         GETETAG, HIDDEN, ICS_CT, MASKED, MISSING, NOALARM, NONE, PRIV, PUB,
                         SEEDED, USERS, VIEW, VIEWERS, WRITE_PRIVS, WRITERS, XML_CT,
                         assert_401, assert_no_event_data, busy_periods, calendar_query_body,
                         check_view, event_period, freebusy_body, href_status, is_scratch,
                         leak_check, login, make_server, members, multiget_body, privileges,
                         put, scratch_ics, scratch_name, session, sync_body, text_match,
                         the_vevent, time_range, visible, visible_hrefs)
from helpers import DAV, Multistatus, propfind_body, q, req

READERS = ("alice", "bob", "carol", "grace")     # get events in some view
MARCH = ("20270301T000000Z", "20270304T000000Z")  # the seeded events' days
EVENTS = {e.key: e for e in SEEDED}


class Org:
    def __init__(self, srv):
        self.srv = srv
        self.s = {u: session(srv, u) for u in VIEWERS}
        self.etags = {}          # alice's ETags of the seeded events

    def call(self, viewer, method, path, body=None, headers=None, listing=False):
        """One request as viewer; its answer is checked for leaks."""
        r = req(self.s[viewer], method, path, body, headers)
        leak_check(viewer, r, self.etags, listing)
        return r

    def alice_get(self, path):
        return req(self.s["alice"], "GET", path)

    def scratch(self):
        """alice creates a fresh event in her calendar: (href, etag, uid)."""
        href = ALICE_CAL + scratch_name()
        uid = "scratch-%s@acl.test" % href.rsplit("-", 1)[1][:-4]
        r = put(self.s["alice"], href, scratch_ics(uid))
        assert r.status_code == 201, "alice PUT %s: %d %s" % (href, r.status_code, r.text[:300])
        g = self.alice_get(href)
        assert g.status_code == 200
        return href, g.headers["ETag"], uid


@pytest.fixture(scope="module")
def org():
    srv = make_server()
    srv.start()
    try:
        o = Org(srv)
        for u in USERS:
            login(session(srv, u))
        alice = o.s["alice"]
        for ev in SEEDED:
            r = put(alice, ev.href, ev.text)
            assert r.status_code == 201, "seeding %s: %d %s" % (ev.key, r.status_code, r.text)
        r = put(session(srv, "frank"), FRANK.href, FRANK.text)
        assert r.status_code == 201, "seeding frank's event: %d %s" % (r.status_code, r.text)
        r = req(alice, "MKCALENDAR", ALICE_OTHER)
        assert r.status_code == 201, "MKCALENDAR %s: %d" % (ALICE_OTHER, r.status_code)
        for ev in SEEDED:
            g = req(alice, "GET", ev.href)
            assert g.status_code == 200, "alice GET %s: %d" % (ev.href, g.status_code)
            check_view(FULL, ev, g.text, "alice's own copy after seeding")
            o.etags[ev.key] = g.headers["ETag"]
        yield o
    finally:
        srv.stop()


def viewer_get(org, viewer, ev):
    r = req(org.s[viewer], "GET", ev.href)
    assert r.status_code == 200, "%s GET %s: %d" % (viewer, ev.href, r.status_code)
    return r


# ---------------------------------------------------------------- PROPFIND
@pytest.mark.parametrize("viewer", VIEWERS)
def test_propfind_depth1_lists_what_the_viewer_may_see(org, viewer):
    r = org.call(viewer, "PROPFIND", ALICE_CAL,
                 propfind_body([GETETAG, q(DAV, "resourcetype")]),
                 {"Depth": "1", "Content-Type": XML_CT}, listing=True)
    if viewer == ANON:
        return assert_401(r)
    if viewer == "dan":
        return assert_no_event_data(r)
    ms = Multistatus(r)
    listed = {h: m for h, m in members(ms).items() if not is_scratch(h)}
    assert set(listed) == visible_hrefs(viewer), "%s lists %s" % (viewer, sorted(listed))
    for h, m in listed.items():
        assert m.text(GETETAG), "%s: no getetag for %s" % (viewer, h)


# ---------------------------------------------------------------- GET
@pytest.mark.parametrize("key", [e.key for e in SEEDED])
@pytest.mark.parametrize("viewer", VIEWERS)
def test_get_event(org, viewer, key):
    ev = EVENTS[key]
    r = org.call(viewer, "GET", ev.href)
    if viewer == ANON:
        return assert_401(r)
    level = VIEW[viewer][key]
    if level == NONE:
        assert r.status_code in (403, 404), "%s GET %s: %d" % (viewer, key, r.status_code)
        assert "BEGIN:VEVENT" not in r.text, r.text
    elif level == HIDDEN:
        missing = org.call(viewer, "GET", MISSING)
        assert r.status_code == 404, "%s GET of the private event: expected 404, got %d %s" % (
            viewer, r.status_code, r.text[:300])
        assert missing.status_code == r.status_code
        assert "BEGIN:VEVENT" not in r.text, r.text
    else:
        assert r.status_code == 200, "%s GET %s: %d %s" % (viewer, key, r.status_code, r.text)
        assert r.headers.get("Content-Type", "").lower().startswith("text/calendar")
        assert r.headers.get("ETag"), "no ETag"
        check_view(level, ev, r.text, "%s GET" % viewer)


@pytest.mark.parametrize("viewer,key", [(v, e.key) for v in READERS for e in SEEDED
                                        if VIEW[v][e.key] in (NOALARM, MASKED, BUSY)])
def test_a_reduced_view_has_an_etag_of_its_own(org, viewer, key):
    r = viewer_get(org, viewer, EVENTS[key])
    assert r.headers["ETag"] != org.etags[key], \
        "%s's %s view of %s has alice's ETag %s" % (viewer, VIEW[viewer][key], key, r.headers["ETag"])


# ---------------------------------------------------------------- PUT, DELETE, MOVE
def denied_status(viewer):
    """Statuses a viewer without write may get on an existing event."""
    return (403, 404) if viewer == "dan" else (403,)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_put_new_event(org, viewer):
    href = ALICE_CAL + scratch_name()
    r = org.call(viewer, "PUT", href, scratch_ics(), {"Content-Type": ICS_CT})
    after = org.alice_get(href)
    if viewer == ANON:
        assert_401(r)
    elif viewer in WRITERS:
        assert r.status_code == 201, "%s PUT new: %d %s" % (viewer, r.status_code, r.text[:300])
        assert after.status_code == 200
        return
    else:
        assert r.status_code == 403, "%s PUT new: expected 403, got %d %s" % (
            viewer, r.status_code, r.text[:300])
    assert after.status_code == 404, "a refused PUT stored the event"


@pytest.mark.parametrize("viewer", VIEWERS)
def test_put_over_existing_event(org, viewer):
    href, etag, uid = org.scratch()
    r = org.call(viewer, "PUT", href, scratch_ics(uid, "Changed by " + viewer),
                 {"Content-Type": ICS_CT})
    after = org.alice_get(href)
    assert after.status_code == 200
    if viewer in WRITERS:
        assert r.status_code in (200, 204), "%s PUT over: %d %s" % (viewer, r.status_code, r.text)
        assert the_vevent(after.text).value("SUMMARY") == "Changed by " + viewer
        return
    if viewer == ANON:
        assert_401(r)
    else:
        assert r.status_code in denied_status(viewer), "%s PUT over: %d %s" % (
            viewer, r.status_code, r.text[:300])
    assert after.headers["ETag"] == etag, "a refused PUT changed the event"


@pytest.mark.parametrize("viewer", ["bob", "grace"])
def test_saving_back_the_reduced_copy_is_refused(org, viewer):
    """A masked (bob) or alarm-less (grace) copy is read-only: saving it
    back with its own ETag is refused and alice's event is untouched."""
    mine = viewer_get(org, viewer, PUB)
    body = mine.text.replace("END:VEVENT", "DESCRIPTION:edited by %s\r\nEND:VEVENT" % viewer)
    r = org.call(viewer, "PUT", PUB.href, body,
                 {"Content-Type": ICS_CT, "If-Match": mine.headers["ETag"]})
    assert r.status_code == 403, "%s saving back its copy: %d %s" % (viewer, r.status_code, r.text)
    after = org.alice_get(PUB.href)
    assert after.headers["ETag"] == org.etags["pub"]
    check_view(FULL, PUB, after.text, "alice after %s's refused save" % viewer)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_delete_event(org, viewer):
    href, etag, _ = org.scratch()
    r = org.call(viewer, "DELETE", href)
    after = org.alice_get(href)
    if viewer in WRITERS:
        assert r.status_code in (200, 204), "%s DELETE: %d %s" % (viewer, r.status_code, r.text)
        assert after.status_code == 404
        return
    if viewer == ANON:
        assert_401(r)
    else:
        assert r.status_code in denied_status(viewer), "%s DELETE: %d %s" % (
            viewer, r.status_code, r.text[:300])
    assert after.status_code == 200 and after.headers["ETag"] == etag, "a refused DELETE acted"


@pytest.mark.parametrize("viewer", VIEWERS)
def test_move_event_out(org, viewer):
    href, etag, _ = org.scratch()
    owner = "bob" if viewer == ANON else viewer
    dest = (ALICE_OTHER if viewer == "alice" else "/calendars/%s/visits/" % owner) \
        + scratch_name("moved")
    r = org.call(viewer, "MOVE", href, None,
                 {"Destination": org.srv.url + dest, "Overwrite": "F"})
    src = org.alice_get(href)
    dst = req(org.s[owner], "GET", dest)
    if viewer in WRITERS:
        assert r.status_code == 201, "%s MOVE out: %d %s" % (viewer, r.status_code, r.text)
        assert src.status_code == 404 and dst.status_code == 200
        return
    if viewer == ANON:
        assert_401(r)
    else:
        assert r.status_code in denied_status(viewer), "%s MOVE out: %d %s" % (
            viewer, r.status_code, r.text[:300])
    assert src.status_code == 200 and src.headers["ETag"] == etag, "a refused MOVE acted"
    assert dst.status_code == 404, "a refused MOVE created the destination"


@pytest.mark.parametrize("key", [e.key for e in SEEDED])
@pytest.mark.parametrize("viewer", VIEWERS)
def test_copy_out_takes_only_the_viewers_copy(org, viewer, key):
    """COPY into the viewer's own calendar copies what the viewer may read
    of the event, nothing more (a copy is then the viewer's own event)."""
    ev = EVENTS[key]
    owner = "bob" if viewer == ANON else viewer
    dest = (ALICE_OTHER if viewer == "alice" else "/calendars/%s/visits/" % owner) \
        + scratch_name("moved")
    r = org.call(viewer, "COPY", ev.href, None,
                 {"Destination": org.srv.url + dest, "Overwrite": "F"})
    dst = org.call(owner, "GET", dest)
    if viewer == ANON:
        assert_401(r)
    else:
        level = VIEW[viewer][key]
        if level == NONE:
            assert r.status_code in (403, 404), "dan COPY %s: %d" % (key, r.status_code)
        elif level == HIDDEN:
            assert r.status_code == 404, "%s COPY of the private event: %d %s" % (
                viewer, r.status_code, r.text[:300])
        elif viewer == "bob" and r.status_code == 403:
            pass        # refusing to copy a masked event is fine too
        else:
            assert r.status_code == 201, "%s COPY %s: %d %s" % (viewer, key, r.status_code,
                                                                r.text[:300])
            assert dst.status_code == 200
            check_view(level, ev, dst.text, "%s's COPY of %s" % (viewer, key))
            return
    assert dst.status_code == 404, "a refused COPY created the destination"
    assert org.alice_get(ev.href).headers["ETag"] == org.etags[key]


def classed_scratch(org, cls):
    href = ALICE_CAL + scratch_name()
    r = put(org.s["alice"], href, scratch_ics(summary="classed " + cls, extra=["CLASS:" + cls]))
    assert r.status_code == 201
    return href, org.alice_get(href).headers["ETag"]


@pytest.mark.parametrize("cls", ["PRIVATE", "CONFIDENTIAL"])
@pytest.mark.parametrize("method", ["DELETE", "MOVE", "PUT"])
def test_a_writer_cannot_change_what_is_masked_or_hidden_from_them(org, method, cls):
    """carol may write alice's calendar, but alice's private event is
    hidden from her and the confidential one shows as "Busy": she may not
    delete, move away or overwrite either blind (masked copies are
    read-only; a hidden event answers as if it did not exist)."""
    href, etag = classed_scratch(org, cls)
    dest = "/calendars/carol/visits/" + scratch_name("moved")
    headers = {}
    body = None
    if method == "MOVE":
        headers = {"Destination": org.srv.url + dest, "Overwrite": "F"}
    elif method == "PUT":
        headers = {"Content-Type": ICS_CT}
        body = scratch_ics(summary="overwritten by carol")
    r = org.call("carol", method, href, body, headers)
    allowed = (403, 404) if cls == "PRIVATE" else (403,)
    assert r.status_code in allowed, "carol %s of alice's %s event: %d %s" % (
        method, cls, r.status_code, r.text[:300])
    after = org.alice_get(href)
    assert after.status_code == 200 and after.headers["ETag"] == etag, \
        "carol's %s changed alice's %s event" % (method, cls)
    assert req(org.s["carol"], "GET", dest).status_code == 404


# ---------------------------------------------------------------- calendar-query
@pytest.mark.parametrize("viewer", VIEWERS)
def test_calendar_query_time_range(org, viewer):
    r = org.call(viewer, "REPORT", ALICE_CAL, calendar_query_body(time_range(*MARCH)),
                 {"Depth": "1", "Content-Type": XML_CT}, listing=True)
    if viewer == ANON:
        return assert_401(r)
    if viewer == "dan":
        return assert_no_event_data(r)
    ms = Multistatus(r)
    got = members(ms)
    assert set(got) == visible_hrefs(viewer), "%s finds %s" % (viewer, sorted(got))
    for ev in visible(viewer):
        data = got[ev.href].text(CALDATA)
        assert data, "%s: no calendar-data for %s" % (viewer, ev.key)
        check_view(VIEW[viewer][ev.key], ev, data, "%s calendar-query" % viewer)


CALDATA_VARIANTS = {
    "expand": '<C:calendar-data><C:expand start="%s" end="%s"/></C:calendar-data>' % MARCH,
    "limit-recurrence-set": ('<C:calendar-data><C:limit-recurrence-set start="%s" end="%s"/>'
                             '</C:calendar-data>' % MARCH),
    "partial": ('<C:calendar-data><C:comp name="VCALENDAR"><C:allprop/>'
                '<C:comp name="VEVENT"><C:prop name="UID"/><C:prop name="SUMMARY"/>'
                '<C:prop name="DESCRIPTION"/><C:prop name="LOCATION"/><C:prop name="ATTENDEE"/>'
                '<C:comp name="VALARM"><C:allprop/></C:comp></C:comp></C:comp>'
                '</C:calendar-data>'),
}


@pytest.mark.parametrize("variant", sorted(CALDATA_VARIANTS))
@pytest.mark.parametrize("viewer", VIEWERS)
def test_calendar_data_variants_serve_the_viewers_copy(org, viewer, variant):
    """expand, limit-recurrence-set and a partial calendar-data asking for
    the masked fields by name all work on the viewer's copy (every answer
    goes through the leak grep)."""
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/>%s</D:prop><C:filter><C:comp-filter name="VCALENDAR">'
            '<C:comp-filter name="VEVENT">%s</C:comp-filter></C:comp-filter></C:filter>'
            '</C:calendar-query>' % (CALDATA_VARIANTS[variant], time_range(*MARCH)))
    r = org.call(viewer, "REPORT", ALICE_CAL, body, {"Depth": "1", "Content-Type": XML_CT},
                 listing=True)
    if viewer == ANON:
        return assert_401(r)
    if viewer == "dan":
        return assert_no_event_data(r)
    got = members(Multistatus(r))
    assert set(got) == visible_hrefs(viewer), "%s finds %s" % (viewer, sorted(got))
    for ev in visible(viewer):
        data = got[ev.href].text(CALDATA)
        assert data, "%s: no calendar-data for %s" % (viewer, ev.key)
        comp = the_vevent(data)
        assert comp.value("UID") == ev.uid
        level = VIEW[viewer][ev.key]
        if level == MASKED:
            assert comp.value("SUMMARY") == "Visit: ACME Industrial", data
        elif level == BUSY:
            assert comp.value("SUMMARY") == "Busy", data
        if level in (FULL, NOALARM) and variant == "partial":
            assert comp.value("DESCRIPTION") == ev.comp.value("DESCRIPTION"), data
        if level != FULL:
            assert not comp.walk("VALARM"), "%s gets a VALARM via %s:\n%s" % (viewer, variant, data)


@pytest.mark.parametrize("key", [e.key for e in SEEDED])
@pytest.mark.parametrize("viewer", VIEWERS)
def test_propfind_depth0_on_an_event(org, viewer, key):
    ev = EVENTS[key]
    r = org.call(viewer, "PROPFIND", ev.href,
                 propfind_body([GETETAG, q(DAV, "getcontentlength"), q(DAV, "displayname")]),
                 {"Depth": "0", "Content-Type": XML_CT})
    if viewer == ANON:
        return assert_401(r)
    level = VIEW[viewer][key]
    if level == NONE:
        return assert_no_event_data(r)
    if level == HIDDEN:
        missing = org.call(viewer, "PROPFIND", MISSING, propfind_body([GETETAG]),
                           {"Depth": "0", "Content-Type": XML_CT})
        assert r.status_code == 404 == missing.status_code, \
            "%s PROPFIND of the private event: %d (missing: %d)" % (
                viewer, r.status_code, missing.status_code)
        return
    etag = Multistatus(r).get(ev.href).text(GETETAG)
    assert etag == viewer_get(org, viewer, ev).headers["ETag"], "%s: PROPFIND ETag %s" % (
        viewer, etag)


# filter -> {event key: the views in which the event matches}
TEXT_CASES = {
    "pub-description": (text_match("DESCRIPTION", "desc-secret-4242"), {"pub": (FULL, NOALARM)}),
    "pub-location": (text_match("LOCATION", "loc-secret-5353"), {"pub": (FULL, NOALARM)}),
    "pub-summary": (text_match("SUMMARY", "pubsumm-7731"), {"pub": (FULL, NOALARM)}),
    "pub-attendee": (text_match("ATTENDEE", "hans.att6464"), {"pub": (FULL, NOALARM)}),
    "pub-purpose": (text_match("X-VISIT-PURPOSE", "purpose-secret-8686"),
                    {"pub": (FULL, NOALARM)}),
    "pub-customer": (text_match("X-VISIT-CUSTOMER", "ACME Industrial"),
                     {"pub": (FULL, NOALARM, MASKED)}),
    "masked-summary": (text_match("SUMMARY", "Visit: ACME Industrial"), {"pub": (MASKED,)}),
    "busy-summary": (text_match("SUMMARY", "Busy"), {"conf": (BUSY,)}),
    "conf-description": (text_match("DESCRIPTION", "confdesc-1313"), {"conf": (FULL,)}),
    "conf-customer": (text_match("X-VISIT-CUSTOMER", "Globex"), {"conf": (FULL,)}),
    "priv-summary": (text_match("SUMMARY", "privsumm-9191"), {"priv": (FULL,)}),
    "priv-customer": (text_match("X-VISIT-CUSTOMER", "Initech"), {"priv": (FULL,)}),
    "has-description": ('<C:prop-filter name="DESCRIPTION"/>',
                        {"pub": (FULL, NOALARM), "conf": (FULL,), "priv": (FULL,)}),
    "has-attendee": ('<C:prop-filter name="ATTENDEE"/>', {"pub": (FULL, NOALARM)}),
    "has-alarm": ('<C:comp-filter name="VALARM"/>', {"pub": (FULL,), "conf": (FULL,)}),
}


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
@pytest.mark.parametrize("viewer", VIEWERS)
def test_calendar_query_filters_see_only_the_viewers_copy(org, viewer, case):
    """A filter matches what the viewer may read and nothing else: a
    text-match on a masked field must not reveal which event holds it."""
    inner, matches = TEXT_CASES[case]
    r = org.call(viewer, "REPORT", ALICE_CAL, calendar_query_body(inner, data=False),
                 {"Depth": "1", "Content-Type": XML_CT}, listing=True)
    if viewer == ANON:
        return assert_401(r)
    if viewer == "dan":
        return assert_no_event_data(r)
    want = {e.href for e in SEEDED if VIEW[viewer][e.key] in matches.get(e.key, ())}
    got = {h for h in members(Multistatus(r)) if not is_scratch(h)}
    assert got == want, "%s, filter %s: expected %s, got %s" % (
        viewer, case, sorted(want), sorted(got))


# ---------------------------------------------------------------- multiget
@pytest.mark.parametrize("viewer", VIEWERS)
def test_multiget_with_hrefs_the_viewer_may_not_see(org, viewer):
    hrefs = [PUB.href, CONF.href, PRIV.href, MISSING, FRANK.href]
    r = org.call(viewer, "REPORT", ALICE_CAL, multiget_body(hrefs),
                 {"Depth": "1", "Content-Type": XML_CT})
    if viewer == ANON:
        return assert_401(r)
    if viewer == "dan":
        assert_no_event_data(r)
        return assert_no_event_data(r, "/calendars/frank/")
    ms = Multistatus(r)
    by = ms.by_href()
    assert set(by) == set(hrefs), "multiget answered %s" % sorted(by)
    missing = by[MISSING]
    assert href_status(missing) == 404, "missing href: %s" % href_status(missing)
    for ev in SEEDED:
        level = VIEW[viewer][ev.key]
        got = by[ev.href]
        if level == HIDDEN:
            assert href_status(got) == 404, "%s multiget of the private event: %s" % (
                viewer, href_status(got))
            assert (got.status is None) == (missing.status is None), \
                "the private event answers unlike a missing one"
            assert got.prop(CALDATA) is None and got.prop(GETETAG) is None
        else:
            assert href_status(got) == 200, "%s multiget %s: %s" % (
                viewer, ev.key, href_status(got))
            check_view(level, ev, got.text(CALDATA), "%s multiget" % viewer)
    if viewer != "grace":   # grace (exec) may read frank's calendar
        f = by[FRANK.href]
        assert href_status(f) in (403, 404), "%s gets frank's event: %s" % (
            viewer, href_status(f))


# ---------------------------------------------------------------- sync-collection
@pytest.mark.parametrize("viewer", VIEWERS)
def test_sync_collection_initial(org, viewer):
    r = org.call(viewer, "REPORT", ALICE_CAL, sync_body(None),
                 {"Depth": "1", "Content-Type": XML_CT}, listing=True)
    if viewer == ANON:
        return assert_401(r)
    if viewer == "dan":
        return assert_no_event_data(r)
    ms = Multistatus(r)
    assert ms.sync_token, "sync-collection without a sync-token"
    listed = {h: m for h, m in members(ms).items() if not is_scratch(h)}
    assert set(listed) == visible_hrefs(viewer), "%s syncs %s" % (viewer, sorted(listed))
    for h, m in listed.items():
        assert m.status is None and m.text(GETETAG), "%s: %s without getetag" % (viewer, h)


class Syncer:
    """Incremental sync-collection on alice's calendar as one viewer."""

    def __init__(self, org, viewer, secrets=()):
        self.org, self.viewer, self.secrets = org, viewer, secrets
        self.token = self.sync()[1]

    def sync(self):
        tok = getattr(self, "token", None)
        r = self.org.call(self.viewer, "REPORT", ALICE_CAL, sync_body(tok),
                          {"Depth": "1", "Content-Type": XML_CT}, listing=True)
        ms = Multistatus(r)
        assert ms.sync_token, "sync-collection without a sync-token"
        for s in self.secrets:
            assert s not in r.text, "%s's sync shows %r" % (self.viewer, s)
        return members(ms), ms.sync_token

    def changes(self):
        """{href: MSResponse} since the last call."""
        got, self.token = self.sync()
        return got


def private_scratch(org):
    """alice creates a CLASS:PRIVATE event: (href, uid, secret summary)."""
    href = ALICE_CAL + scratch_name()
    tag = href[-14:-4]
    uid, secret = "scratch-priv-%s@acl.test" % tag, "scratchpriv-%s" % tag
    r = put(org.s["alice"], href, scratch_ics(uid, secret, ["CLASS:PRIVATE"]))
    assert r.status_code == 201
    return href, uid, secret


@pytest.mark.parametrize("viewer", ["bob", "carol", "grace"])
def test_sync_changes_show_public_not_private_events(org, viewer):
    """Incremental sync reports a new and a changed public event, but
    neither the creation nor a change of a private one."""
    alice = org.s["alice"]
    tag = uuid.uuid4().hex[:10]
    sy = Syncer(org, viewer, ["scratchpriv-" + tag])
    pub_href, _, pub_uid = org.scratch()
    priv_href = ALICE_CAL + "scratch-%s.ics" % tag
    priv_uid = "scratch-priv-%s@acl.test" % tag
    assert put(alice, priv_href, scratch_ics(priv_uid, "scratchpriv-" + tag,
                                             ["CLASS:PRIVATE"])).status_code == 201
    hrefs = set(sy.changes())
    assert pub_href in hrefs, "the new public event is not reported: %s" % sorted(hrefs)
    assert priv_href not in hrefs, "%s's sync reports alice's new private event" % viewer

    r = put(alice, priv_href, scratch_ics(priv_uid, "scratchpriv-" + tag, ["CLASS:PRIVATE"]))
    assert r.status_code in (200, 204)
    assert put(alice, pub_href, scratch_ics(pub_uid, "changed")).status_code in (200, 204)
    hrefs = set(sy.changes())
    assert pub_href in hrefs, "the public change is not reported: %s" % sorted(hrefs)
    assert priv_href not in hrefs, "%s's sync reports a change of a private event" % viewer


@pytest.mark.parametrize("viewer", ["bob", "carol", "grace"])
def test_sync_does_not_report_deleting_a_private_event(org, viewer):
    """The viewer never saw the private event: its deletion is no news to
    them (a 404 entry would reveal its href and that it existed)."""
    alice = org.s["alice"]
    priv_href, _, secret = private_scratch(org)
    pub_href, _, _ = org.scratch()
    sy = Syncer(org, viewer, [secret])
    assert req(alice, "DELETE", priv_href).status_code in (200, 204)
    assert req(alice, "DELETE", pub_href).status_code in (200, 204)
    hrefs = set(sy.changes())
    assert pub_href in hrefs, "the public deletion is not reported: %s" % sorted(hrefs)
    assert priv_href not in hrefs, "%s's sync reports the private event's deletion" % viewer


@pytest.mark.parametrize("viewer", ["bob", "carol", "grace"])
def test_sync_reports_an_event_turning_private_as_removed(org, viewer):
    """A public event alice makes private leaves the viewer's calendar
    (sync: 404, GET: 404), and comes back when it is public again."""
    alice = org.s["alice"]
    href, _, uid = org.scratch()
    secret = "turnedpriv-" + uuid.uuid4().hex[:10]
    sy = Syncer(org, viewer, [secret])
    assert put(alice, href, scratch_ics(uid, secret, ["CLASS:PRIVATE"])).status_code in (200, 204)
    got = sy.changes()
    assert href in got, "%s's sync does not remove the event turned private" % viewer
    assert got[href].status == 404, "%s: the event turned private is reported with %s" % (
        viewer, got[href].status)
    assert org.call(viewer, "GET", href).status_code == 404
    assert put(alice, href, scratch_ics(uid, "public again")).status_code in (200, 204)
    got = sy.changes()
    assert href in got and got[href].status is None and got[href].text(GETETAG), \
        "%s: the event public again is not reported" % viewer
    assert org.call(viewer, "GET", href).status_code == 200


# ---------------------------------------------------------------- free-busy
@pytest.mark.parametrize("viewer", VIEWERS)
def test_free_busy_query(org, viewer):
    r = org.call(viewer, "REPORT", ALICE_CAL, freebusy_body(*MARCH),
                 {"Depth": "1", "Content-Type": XML_CT})
    if viewer == ANON:
        return assert_401(r)
    assert r.status_code == 200, "%s free-busy-query: %d %s" % (viewer, r.status_code, r.text)
    assert r.headers.get("Content-Type", "").lower().startswith("text/calendar")
    assert "BEGIN:VEVENT" not in r.text
    p = busy_periods(r.text)
    # the private and the confidential event count as busy for everyone
    assert p == {"BUSY": sorted(event_period(e) for e in SEEDED)}, "%s: %s" % (viewer, p)


# ---------------------------------------------------------------- privileges
def cups_of(org, viewer, path):
    return org.call(viewer, "PROPFIND", path, propfind_body([CUPS]),
                    {"Depth": "0", "Content-Type": XML_CT})


def can_read(privs):
    return bool(privs & {q(DAV, "read"), q(DAV, "all")})


@pytest.mark.parametrize("viewer", VIEWERS)
def test_current_user_privilege_set_on_the_calendar(org, viewer):
    r = cups_of(org, viewer, ALICE_CAL)
    if viewer == ANON:
        return assert_401(r)
    privs = privileges(Multistatus(r), ALICE_CAL)
    fb = q("urn:ietf:params:xml:ns:caldav", "read-free-busy")
    if viewer in WRITERS:
        assert privs & {q(DAV, "write"), q(DAV, "write-content"), q(DAV, "all")}, \
            "%s cannot write per %s" % (viewer, sorted(privs))
        assert can_read(privs), sorted(privs)
    elif viewer in ("bob", "grace"):
        assert q(DAV, "read") in privs, "%s: %s" % (viewer, sorted(privs))
        assert not privs & WRITE_PRIVS, "%s may write per %s" % (viewer, sorted(privs))
    else:
        assert fb in privs, "dan: %s" % sorted(privs)
        extra = privs - {fb, q(DAV, "read-current-user-privilege-set")}
        assert not extra, "dan holds %s" % sorted(extra)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_current_user_privilege_set_on_an_event(org, viewer):
    r = cups_of(org, viewer, PUB.href)
    if viewer == ANON:
        return assert_401(r)
    if viewer == "dan":
        if r.status_code in (403, 404):
            return
        privs = privileges(Multistatus(r), PUB.href)
        assert not can_read(privs) and not privs & WRITE_PRIVS, sorted(privs)
        return
    privs = privileges(Multistatus(r), PUB.href)
    assert can_read(privs), "%s: %s" % (viewer, sorted(privs))
    if viewer in WRITERS:
        assert privs & {q(DAV, "write"), q(DAV, "write-content"), q(DAV, "all")}, sorted(privs)
    else:
        assert not privs & WRITE_PRIVS, "%s may write per %s" % (viewer, sorted(privs))


# ---------------------------------------------------------------- consistency
def norm(text):
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("viewer", READERS)
def test_every_report_serves_the_viewers_copy_alike(org, viewer):
    """GET, PROPFIND, multiget, calendar-query and sync give the viewer
    one representation: the same ETag, bytes and getcontentlength."""
    gets = {e.href: viewer_get(org, viewer, e) for e in visible(viewer)}
    h = {"Depth": "1", "Content-Type": XML_CT}
    pf = members(Multistatus(org.call(
        viewer, "PROPFIND", ALICE_CAL,
        propfind_body([GETETAG, q(DAV, "getcontentlength")]), h, listing=True)))
    mg = Multistatus(org.call(viewer, "REPORT", ALICE_CAL, multiget_body(list(gets)), h)).by_href()
    cq = members(Multistatus(org.call(viewer, "REPORT", ALICE_CAL,
                                      calendar_query_body(time_range(*MARCH)), h, listing=True)))
    sy = members(Multistatus(org.call(viewer, "REPORT", ALICE_CAL, sync_body(None), h,
                                      listing=True)))
    for href, g in gets.items():
        etag = g.headers["ETag"]
        for name, src in (("PROPFIND", pf), ("multiget", mg), ("calendar-query", cq),
                          ("sync-collection", sy)):
            assert src[href].text(GETETAG) == etag, "%s: %s ETag %s, GET %s" % (
                viewer, name, src[href].text(GETETAG), etag)
        for name, src in (("multiget", mg), ("calendar-query", cq)):
            assert norm(src[href].text(CALDATA)) == norm(g.text), \
                "%s: %s calendar-data differs from GET of %s" % (viewer, name, href)
        length = pf[href].text(q(DAV, "getcontentlength"))
        if length is not None:
            assert int(length) == len(g.content), "%s: getcontentlength %s, GET %d bytes" % (
                viewer, length, len(g.content))
