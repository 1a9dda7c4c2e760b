"""REPORT sync-collection (RFC 6578) on calendars: initial sync, changes
after create / modify / delete / MOVE, truncation with a limit, invalid
tokens (checklist 2.3 items 12-16)."""
import xml.etree.ElementTree as ET

import pytest

from helpers import (DAV, XML_CT, Multistatus, assert_dav_error, event_ics, getctag,
                     new_calendar, put_ok, q, req, sync_token_prop, uid)


def sync_body(token, props="<D:getetag/>", level="1", limit=None):
    lvl = "<D:sync-level>%s</D:sync-level>" % level if level is not None else ""
    lim = "<D:limit><D:nresults>%d</D:nresults></D:limit>" % limit if limit is not None else ""
    tok = "<D:sync-token>%s</D:sync-token>" % token if token else "<D:sync-token/>"
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<D:sync-collection xmlns:D="DAV:">%s%s%s<D:prop>%s</D:prop></D:sync-collection>'
            % (tok, lvl, lim, props))


def sync_raw(s, cal, token, depth="1", **kw):
    h = {"Content-Type": XML_CT}
    if depth is not None:
        h["Depth"] = depth
    return req(s, "REPORT", cal, sync_body(token, **kw), h)


def sync(s, cal, token, **kw):
    ms = Multistatus(sync_raw(s, cal, token, **kw))
    assert ms.sync_token, "multistatus without sync-token"
    return ms


def changes(ms, cal):
    """{name: 'deleted' | etag} for the member responses of a sync."""
    return changes_of(ms.responses, cal)


def changes_of(responses, cal):
    out = {}
    for r in responses:
        assert r.href.startswith(cal) and r.href != cal, r.href
        name = r.href[len(cal):]
        assert name not in out, "%s reported twice" % name
        if r.status is not None:
            assert r.status == 404, r.status
            assert r.propstats == [], "a deletion carries no propstat"
            out[name] = "deleted"
        else:
            out[name] = r.text(q(DAV, "getetag"))
            assert out[name], "changed member %s without getetag" % name
    return out


def etag(s, path):
    return req(s, "GET", path).headers["ETag"]


def member_uid(cal, i):
    return "%sm%d" % (cal, i)


def filled(s, n=3):
    """A fresh calendar with members m0.ics .. m<n-1>.ics."""
    cal = new_calendar(s)
    for i in range(n):
        put_ok(s, cal + "m%d.ics" % i, event_ics(member_uid(cal, i)))
    return cal


def test_initial_sync_returns_everything(alice):
    cal = filled(alice)
    ms = sync(alice, cal, "")
    got = changes(ms, cal)
    assert got == {"m%d.ics" % i: etag(alice, cal + "m%d.ics" % i) for i in range(3)}


def test_initial_sync_of_empty_calendar(alice):
    cal = new_calendar(alice)
    ms = sync(alice, cal, "")
    assert changes(ms, cal) == {}


def test_sync_without_sync_level(alice):
    # the OS X 10.7 body has no sync-level
    cal = filled(alice, 2)
    ms = sync(alice, cal, "", level=None)
    assert set(changes(ms, cal)) == {"m0.ics", "m1.ics"}


def test_sync_with_depth_0(alice):
    cal = filled(alice, 2)
    ms = sync(alice, cal, "", depth="0")
    assert set(changes(ms, cal)) == {"m0.ics", "m1.ics"}


def test_sync_token_matches_property(alice):
    cal = filled(alice, 2)
    ms = sync(alice, cal, "")
    assert ms.sync_token == sync_token_prop(alice, cal)


def test_unchanged_token_gives_no_responses(alice):
    cal = filled(alice, 2)
    tok = sync(alice, cal, "").sync_token
    ms = sync(alice, cal, tok)
    assert ms.responses == []
    assert ms.sync_token == tok


def test_changes_after_create_modify_delete(alice):
    cal = filled(alice, 3)
    tok = sync(alice, cal, "").sync_token
    u = uid()
    put_ok(alice, cal + "new.ics", event_ics(u))                       # create
    put_ok(alice, cal + "m0.ics", event_ics(member_uid(cal, 0), summary="changed"))  # modify
    req(alice, "DELETE", cal + "m1.ics")                               # delete
    ms = sync(alice, cal, tok)
    got = changes(ms, cal)
    assert got == {"new.ics": etag(alice, cal + "new.ics"),
                   "m0.ics": etag(alice, cal + "m0.ics"),
                   "m1.ics": "deleted"}
    assert ms.sync_token != tok
    # and from the new token: nothing
    assert sync(alice, cal, ms.sync_token).responses == []


def test_modified_twice_reported_once(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "x.ics", event_ics(u, summary="1"))
    tok = sync(alice, cal, "").sync_token
    put_ok(alice, cal + "x.ics", event_ics(u, summary="2"))
    put_ok(alice, cal + "x.ics", event_ics(u, summary="3"))
    assert changes(sync(alice, cal, tok), cal) == {"x.ics": etag(alice, cal + "x.ics")}


def test_deletion_is_response_level_404(alice):
    cal = filled(alice, 1)
    tok = sync(alice, cal, "").sync_token
    req(alice, "DELETE", cal + "m0.ics")
    ms = sync(alice, cal, tok)
    assert len(ms.responses) == 1
    r = ms.responses[0]
    assert r.href == cal + "m0.ics"
    st = r.el.find(q(DAV, "status"))
    assert st is not None and " 404 " in st.text + " "
    assert r.el.find(q(DAV, "propstat")) is None


def test_move_in_and_out(alice):
    a, b = filled(alice, 1), new_calendar(alice)
    ta, tb = sync(alice, a, "").sync_token, sync(alice, b, "").sync_token
    r = req(alice, "MOVE", a + "m0.ics", headers={"Destination": alice.base + b + "moved.ics"})
    assert r.status_code == 201
    assert changes(sync(alice, a, ta), a) == {"m0.ics": "deleted"}
    assert changes(sync(alice, b, tb), b) == {"moved.ics": etag(alice, b + "moved.ics")}


def test_requested_properties_returned(alice):
    cal = filled(alice, 1)
    ms = sync(alice, cal, "", props="<D:getetag/><D:getcontenttype/>")
    r = ms.get(cal + "m0.ics")
    assert r.text(q(DAV, "getcontenttype")).startswith("text/calendar")
    assert r.text(q(DAV, "getetag")) == etag(alice, cal + "m0.ics")


def test_unknown_property_in_sync_is_404_propstat(alice):
    cal = filled(alice, 1)
    ms = sync(alice, cal, "", props='<D:getetag/><X:nope xmlns:X="urn:x"/>')
    r = ms.get(cal + "m0.ics")
    assert r.prop_status(q(DAV, "getetag")) == 200
    assert r.prop_status(q("urn:x", "nope")) == 404


def test_limit_truncates_with_507_and_continues(alice):
    cal = new_calendar(alice)
    tok = sync(alice, cal, "").sync_token
    names = {"l%d.ics" % i for i in range(5)}
    for n in sorted(names):
        put_ok(alice, cal + n, event_ics())
    seen = {}
    rounds = 0
    while True:
        rounds += 1
        assert rounds <= 5, "sync did not converge"
        ms = sync(alice, cal, tok, limit=2)
        members = [r for r in ms.responses if r.href != cal and r.href != cal[:-1]]
        coll = [r for r in ms.responses if r.href in (cal, cal[:-1])]
        assert len(members) <= 2, len(members)
        for r in members:
            seen[r.href[len(cal):]] = r.text(q(DAV, "getetag"))
        assert ms.sync_token and ms.sync_token != tok
        tok = ms.sync_token
        if not coll:
            break
        assert len(coll) == 1 and coll[0].status == 507, [c.status for c in coll]
    assert set(seen) == names
    assert rounds >= 3  # 5 changes, 2 at a time
    assert sync(alice, cal, tok).responses == []


def test_first_truncated_round_has_507(alice):
    cal = new_calendar(alice)
    for i in range(5):
        put_ok(alice, cal + "t%d.ics" % i, event_ics())
    ms = sync(alice, cal, "", limit=2)
    coll = [r for r in ms.responses if r.href == cal]
    assert len(coll) == 1 and coll[0].status == 507
    assert len([r for r in ms.responses if r.href != cal]) == 2


def test_limit_larger_than_changes_has_no_507(alice):
    cal = filled(alice, 3)
    ms = sync(alice, cal, "", limit=10)
    assert all(r.status != 507 for r in ms.responses)
    assert len(changes(ms, cal)) == 3


def _assert_invalid_token(r):
    assert '<D:error xmlns:D="DAV:"/>' not in r.text
    assert_dav_error(r, DAV, "valid-sync-token")
    assert ET.fromstring(r.content).find(q(DAV, "valid-sync-token")) is not None


@pytest.mark.parametrize("token", ["garbage", "http://visitdav.org/ns/sync/",
                                   "http://visitdav.org/ns/sync/abc-def",
                                   "http://example.com/other-server/token"])
def test_garbage_token_is_403_valid_sync_token(alice, token):
    cal = filled(alice, 1)
    _assert_invalid_token(sync_raw(alice, cal, token))


def test_token_of_another_calendar_is_403(alice):
    a, b = filled(alice, 1), filled(alice, 1)
    tb = sync(alice, b, "").sync_token
    _assert_invalid_token(sync_raw(alice, a, tb))


def test_token_from_the_future_is_403(alice):
    cal = filled(alice, 1)
    tok = sync(alice, cal, "").sync_token
    base, _, seq = tok.rpartition("-")
    assert seq.isdigit(), tok
    _assert_invalid_token(sync_raw(alice, cal, "%s-%d" % (base, int(seq) + 1000)))


def test_token_of_deleted_and_recreated_calendar_is_403(alice):
    cal = filled(alice, 1)
    tok = sync(alice, cal, "").sync_token
    assert req(alice, "DELETE", cal).status_code == 204
    assert req(alice, "MKCALENDAR", cal).status_code == 201
    _assert_invalid_token(sync_raw(alice, cal, tok))


def test_token_and_ctag_change_together(alice):
    cal = filled(alice, 1)
    t0, c0 = sync_token_prop(alice, cal), getctag(alice, cal)
    put_ok(alice, cal + "more.ics", event_ics())
    t1, c1 = sync_token_prop(alice, cal), getctag(alice, cal)
    assert t1 != t0 and c1 != c0


def test_supported_report_set_has_sync_collection(alice):
    cal = new_calendar(alice)
    ms = Multistatus(req(alice, "PROPFIND", cal, '<D:propfind xmlns:D="DAV:"><D:prop>'
                         '<D:supported-report-set/></D:prop></D:propfind>',
                         {"Depth": "0", "Content-Type": XML_CT}))
    srs = ms.get(cal).prop(q(DAV, "supported-report-set"))
    assert srs.find(".//" + q(DAV, "sync-collection")) is not None


def test_collection_property_change_reports_no_members(alice):
    cal = filled(alice, 2)
    tok = sync(alice, cal, "").sync_token
    r = req(alice, "PROPPATCH", cal, '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            '<D:displayname>renamed</D:displayname></D:prop></D:set></D:propertyupdate>',
            {"Content-Type": XML_CT})
    assert r.status_code == 207
    ms = sync(alice, cal, tok)
    assert changes(ms, cal) == {}


def test_failed_put_changes_nothing(alice):
    cal = filled(alice, 1)
    tok = sync(alice, cal, "").sync_token
    from helpers import put
    assert put(alice, cal + "bad.ics", "garbage").status_code == 403
    ms = sync(alice, cal, tok)
    assert ms.responses == [] and ms.sync_token == tok


def test_truncation_with_deletions_and_updates(alice):
    cal = filled(alice, 4)
    tok = sync(alice, cal, "").sync_token
    req(alice, "DELETE", cal + "m0.ics")
    put_ok(alice, cal + "m1.ics", event_ics(member_uid(cal, 1), summary="changed"))
    req(alice, "DELETE", cal + "m2.ics")
    put_ok(alice, cal + "n.ics", event_ics())
    seen = {}
    for _ in range(6):
        ms = sync(alice, cal, tok, limit=1)
        coll = [r for r in ms.responses if r.href == cal]
        members = [r for r in ms.responses if r.href != cal]
        assert len(members) <= 1
        seen.update(changes_of(members, cal))
        tok = ms.sync_token
        if not coll:
            break
        assert coll[0].status == 507
    assert seen == {"m0.ics": "deleted", "m1.ics": etag(alice, cal + "m1.ics"),
                    "m2.ics": "deleted", "n.ics": etag(alice, cal + "n.ics")}


def test_deleted_then_recreated_member_is_reported_present(alice):
    cal = filled(alice, 1)
    tok = sync(alice, cal, "").sync_token
    req(alice, "DELETE", cal + "m0.ics")
    put_ok(alice, cal + "m0.ics", event_ics(member_uid(cal, 0), summary="again"))
    assert changes(sync(alice, cal, tok), cal) == {"m0.ics": etag(alice, cal + "m0.ics")}


def test_token_survives_calendar_rename(alice):
    # MOVE of a collection keeps its identity (ids never change), so a
    # client that follows the move can keep syncing with its token, or is
    # told to start over with 403 valid-sync-token; never a wrong answer
    cal = filled(alice, 1)
    tok = sync(alice, cal, "").sync_token
    dst = cal[:-1] + "-renamed/"
    assert req(alice, "MOVE", cal, headers={"Destination": alice.base + dst}).status_code == 201
    r = sync_raw(alice, dst, tok)
    if r.status_code == 207:
        assert Multistatus(r).responses == []
    else:
        _assert_invalid_token(r)


@pytest.mark.parametrize("limit", ["abc", "-1"])
def test_bad_limit_is_rejected(alice, limit):
    cal = filled(alice, 1)
    body = ('<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>'
            '<D:limit><D:nresults>%s</D:nresults></D:limit><D:prop><D:getetag/></D:prop>'
            '</D:sync-collection>' % limit)
    r = req(alice, "REPORT", cal, body, {"Depth": "1", "Content-Type": XML_CT})
    assert r.status_code in (400, 403), r.status_code
