"""Team calendars (issue 4, "Team calendars and subscriptions"; server/teams.h):
/teams/<team>/visits/ aggregates the members' default calendars, live and
read-only, masked per viewer; /teams/<team>/conflicts/ holds the flagged
visits only (issue 3); shared team calendars under /teams/<team>/ are
stored calendars written as the ACL says; every team calendar a user may
see appears in that user's home as /calendars/<user>/team-<team>-<cal>/.

The organisation and rules: tests/protocol/teams_helpers.py.  Owns its
server."""
import os
import shutil
import signal
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest

from helpers import CAL, CS, DAV, Multistatus, VisitdavServer, q, req
from teams_helpers import (CALDATA, DATA, GETETAG, SYNC_PREFIX, USERS, WRITE_PRIVS,
                           calendar_datas, login, multiget_body, next_day, privileges, prop_text,
                           propfind, put, query_body, report, session, sync, sync_body,
                           teams_server, unfolded, visit)

EAST = "/teams/east/visits/"
EAST_CONFLICTS = "/teams/east/conflicts/"
ALIAS = "/calendars/%s/team-east-visits/"
A1 = "/calendars/alice/visits/a1.ics"
B1 = "/calendars/bob/visits/b1.ics"
D1 = "/calendars/dan/visits/d1.ics"
C1 = "/calendars/carol/visits/c1.ics"
A1_SECRET, A1_ALARM = "alicesecret-1111", "alicealarm-2222"
B1_SECRET, B1_ALARM = "bobsecret-3333", "bobalarm-4444"
D1_SECRET, C1_SECRET = "dansecret-5555", "carolsecret-6666"
PROPS = [q(DAV, "resourcetype"), q(DAV, "displayname"), q(CS, "getctag"), q(DAV, "sync-token"),
         q(CAL, "supported-calendar-component-set"), q(DAV, "current-user-privilege-set")]


@pytest.fixture(scope="module")
def srv():
    with teams_server() as s:
        for u in USERS:
            login(session(s, u))
        seeds = [("alice", A1, visit("a1@teams.test", "20270301", "ACME Industrial", A1_SECRET,
                                     alarm=A1_ALARM)),
                 ("bob", B1, visit("b1@teams.test", "20270302", "Globex Partners", B1_SECRET,
                                   alarm=B1_ALARM)),
                 ("dan", D1, visit("d1@teams.test", "20270303", "ACME Industrial", D1_SECRET)),
                 ("carol", C1, visit("c1@teams.test", "20270304", "Globex Partners", C1_SECRET))]
        for user, path, ics in seeds:
            r = put(session(s, user), path, ics)
            assert r.status_code == 201, r.text
        yield s


@pytest.fixture
def S(srv):
    return {u: session(srv, u) for u in USERS}


def member(user, name, base=EAST):
    return base + "%s~%s" % (user, name)


def assert_need_privileges(r):
    assert r.status_code == 403, "%d %s" % (r.status_code, r.text[:400])
    root = ET.fromstring(r.content)
    assert root.tag == q(DAV, "error") and root.find(q(DAV, "need-privileges")) is not None, r.text


def assert_masked(text, owner, customer, secrets):
    t = unfolded(text)
    assert "SUMMARY:Visit: " + customer in t, t
    assert "X-VISIT-OWNER:" + owner in t, t
    for s in secrets:
        assert s not in t, "masked copy leaks %r:\n%s" % (s, t)
    assert "BEGIN:VALARM" not in t and "DESCRIPTION" not in t and "LOCATION" not in t, t


# ---------------------------------------------------------------- discovery
def test_home_lists_team_calendars(S):
    ms = Multistatus(propfind(S["alice"], "/calendars/alice/", PROPS, "1"))
    hrefs = ms.hrefs()
    assert {"/calendars/alice/visits/", ALIAS % "alice", "/calendars/alice/team-east-conflicts/"} <= hrefs
    assert not any("west" in h for h in hrefs), hrefs
    r = ms.get(ALIAS % "alice")
    assert r.prop(q(DAV, "resourcetype")).find(q(CAL, "calendar")) is not None
    assert r.text(q(DAV, "displayname")) == "East visits"
    assert r.text(q(DAV, "sync-token")).startswith(SYNC_PREFIX + "team-east-")
    assert r.text(q(CS, "getctag"))
    comps = {c.get("name") for c in r.prop(q(CAL, "supported-calendar-component-set"))}
    assert "VEVENT" in comps
    privs = privileges(r)
    assert q(DAV, "read") in privs and not (privs & WRITE_PRIVS), privs
    assert ms.get("/calendars/alice/team-east-conflicts/").text(q(DAV, "displayname")) == \
        "East conflicts"


@pytest.mark.parametrize("user,teams", [("carol", {"east"}), ("dan", {"west"}),
                                        ("grace", {"east", "west"})])
def test_each_home_lists_the_teams_its_user_may_see(S, user, teams):
    hrefs = Multistatus(propfind(S[user], "/calendars/%s/" % user, PROPS, "1")).hrefs()
    for team in ("east", "west"):
        alias = "/calendars/%s/team-%s-visits/" % (user, team)
        assert (alias in hrefs) == (team in teams), (alias, sorted(hrefs))


def test_team_collection_lists_its_aggregates(S):
    hrefs = Multistatus(propfind(S["bob"], "/teams/east/", [q(DAV, "resourcetype")], "1")).hrefs()
    assert {EAST, EAST_CONFLICTS} <= hrefs, hrefs


# ---------------------------------------------------------------- masking
def test_members_of_the_aggregate(S):
    ms = Multistatus(propfind(S["alice"], EAST, [GETETAG], "1"))
    assert ms.hrefs() == {EAST, member("alice", "a1.ics"), member("bob", "b1.ics")}, ms.hrefs()


def test_teammate_sees_masked_owner_sees_full(S):
    alice = S["alice"]
    assert req(alice, "GET", B1).status_code == 403       # free-busy only on bob's own
    r = req(alice, "GET", member("bob", "b1.ics", ALIAS % "alice"))
    assert r.status_code == 200
    assert_masked(r.text, "bob", "Globex Partners", [B1_SECRET, B1_ALARM])
    assert r.headers["ETag"] != req(S["bob"], "GET", B1).headers["ETag"]
    own = req(alice, "GET", member("alice", "a1.ics"))
    assert own.status_code == 200 and A1_SECRET in own.text and A1_ALARM in own.text
    assert own.headers["ETag"] == req(alice, "GET", A1).headers["ETag"]


@pytest.mark.parametrize("viewer", ["bob", "carol", "grace"])
def test_full_detail_with_read_on_the_reps_calendar(S, viewer):
    r = req(S[viewer], "GET", member("alice", "a1.ics"))
    assert r.status_code == 200
    t = unfolded(r.text)
    assert A1_SECRET + "-desc" in t and "LOCATION" in t, t
    assert A1_ALARM not in t, "a read-only viewer gets no VALARM:\n" + t


def test_manager_sees_every_member_in_full(S):
    ms = Multistatus(report(S["carol"], EAST, query_body("20270101T000000Z", "20280101T000000Z")))
    data = calendar_datas(ms)
    assert set(data) == {member("alice", "a1.ics"), member("bob", "b1.ics")}, set(data)
    assert B1_SECRET in data[member("bob", "b1.ics")]
    assert C1_SECRET not in "".join(data.values())   # managers are not members


def test_other_team_is_refused(S):
    dan = S["dan"]
    assert_need_privileges(propfind(dan, EAST, PROPS, "0"))
    assert req(dan, "GET", EAST).status_code == 403
    assert req(dan, "GET", member("alice", "a1.ics")).status_code in (403, 404)
    assert report(dan, EAST, multiget_body([member("alice", "a1.ics")])).status_code == 403
    assert propfind(dan, "/calendars/dan/team-east-visits/", PROPS).status_code == 404
    r = req(dan, "GET", "/teams/west/visits/")
    assert r.status_code == 200 and D1_SECRET in unfolded(r.text)


# ---------------------------------------------------------------- reports
def test_calendar_query_time_range(S):
    bob_day = Multistatus(report(S["alice"], ALIAS % "alice",
                                 query_body("20270302T000000Z", "20270303T000000Z")))
    assert calendar_datas(bob_day).keys() == {member("bob", "b1.ics", ALIAS % "alice")}
    text = calendar_datas(bob_day)[member("bob", "b1.ics", ALIAS % "alice")]
    assert_masked(text, "bob", "Globex Partners", [B1_SECRET])
    both = Multistatus(report(S["alice"], EAST, query_body("20270301T000000Z", "20270305T000000Z")))
    assert calendar_datas(both).keys() == {member("alice", "a1.ics"), member("bob", "b1.ics")}


def test_multiget_of_aggregate_hrefs(S):
    base = ALIAS % "alice"
    hrefs = [member("alice", "a1.ics", base), member("bob", "b1.ics", base),
             member("bob", "nothing.ics", base), member("carol", "c1.ics", base), B1]
    resp = report(S["alice"], base, multiget_body(hrefs))
    got = Multistatus(resp).by_href()
    assert A1_SECRET in got[hrefs[0]].text(CALDATA)
    assert_masked(got[hrefs[1]].text(CALDATA), "bob", "Globex Partners", [B1_SECRET])
    for h in hrefs[2:]:
        assert got[h].status == 404, (h, got[h].status)
    assert B1_SECRET not in resp.text and C1_SECRET not in resp.text


def test_sync_reports_new_changed_and_deleted(S):
    alice, bob = S["alice"], S["bob"]
    base = ALIAS % "alice"
    tok, first = sync(alice, base)
    assert tok.startswith(SYNC_PREFIX + "team-east-")
    assert {member("alice", "a1.ics", base), member("bob", "b1.ics", base)} <= set(first)
    assert prop_text(alice, base, q(DAV, "sync-token")) == tok
    ctag = prop_text(alice, base, q(CS, "getctag"))
    path = "/calendars/bob/visits/sync-b2.ics"
    day = next_day()
    assert put(bob, path, visit("b2@teams.test", day, "Globex Partners", "b2s-7777")).status_code == 201
    tok2, new = sync(alice, base, tok)
    assert tok2 != tok and prop_text(alice, base, q(CS, "getctag")) != ctag
    assert set(new) == {member("bob", "sync-b2.ics", base)}, new
    # a change alice's masked copy shows (the time): a new ETag for her too
    assert put(bob, path, visit("b2@teams.test", day, "Globex Partners", "b2s-8888",
                                hour=11)).status_code == 204
    tok3, changed = sync(alice, base, tok2)
    assert tok3 != tok2 and set(changed) == {member("bob", "sync-b2.ics", base)}
    assert changed[member("bob", "sync-b2.ics", base)] != new[member("bob", "sync-b2.ics", base)]
    assert req(bob, "DELETE", path).status_code == 204
    tok4, gone = sync(alice, base, tok3)
    assert tok4 != tok3 and gone == {member("bob", "sync-b2.ics", base): 404}, gone
    assert sync(alice, base, tok4)[1] == {}
    # a change outside the team moves nothing
    assert put(S["dan"], "/calendars/dan/visits/sync-d2.ics",
               visit("d2@teams.test", next_day(), "ACME Industrial", "x")).status_code == 201
    assert sync(alice, base, tok4) == (tok4, {})


def test_sync_tokens_of_others_are_refused(S):
    alice = S["alice"]
    west = prop_text(S["dan"], "/teams/west/visits/", q(DAV, "sync-token"))
    conflicts = prop_text(alice, EAST_CONFLICTS, q(DAV, "sync-token"))
    own = prop_text(alice, "/calendars/alice/visits/", q(DAV, "sync-token"))
    mine = prop_text(alice, EAST, q(DAV, "sync-token"))
    future = mine.rsplit("-", 2)
    future = "%s-%d-%s" % (future[0], int(future[1]) + 1000, future[2])
    for tok in (west, conflicts, own, future, mine[:-1] + ("0" if mine[-1] != "0" else "1"),
                SYNC_PREFIX + "team-east-1"):
        r = report(alice, EAST, sync_body(tok))
        assert r.status_code == 403 and "valid-sync-token" in r.text, (tok, r.status_code, r.text)


# ---------------------------------------------------------------- read-only
def test_privilege_set_has_no_write(S):
    for user in ("alice", "bob", "carol", "grace"):
        r = Multistatus(propfind(S[user], EAST, [q(DAV, "current-user-privilege-set")])).get(EAST)
        privs = privileges(r)
        assert q(DAV, "read") in privs and not (privs & WRITE_PRIVS), (user, privs)
        m = Multistatus(propfind(S[user], member("alice", "a1.ics"), [q(DAV, "current-user-privilege-set")]))
        assert not (privileges(m.responses[0]) & WRITE_PRIVS), user


@pytest.mark.parametrize("where", [EAST, ALIAS % "alice"])
def test_writes_into_the_aggregate_are_refused(S, where):
    alice = S["alice"]
    ics = visit("w1@teams.test", next_day(), "ACME Industrial", "w")
    assert_need_privileges(put(alice, where + "new.ics", ics))
    assert_need_privileges(put(alice, where + "alice~a1.ics", ics))     # even the owner's own
    assert_need_privileges(req(alice, "DELETE", where + "alice~a1.ics"))
    assert_need_privileges(req(alice, "DELETE", where))
    pp = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
          '<D:displayname>mine</D:displayname></D:prop></D:set></D:propertyupdate>')
    assert_need_privileges(req(alice, "PROPPATCH", where, pp, {"Content-Type": "application/xml"}))
    assert_need_privileges(req(alice, "MOVE", where + "alice~a1.ics",
                               headers={"Destination": "/calendars/alice/visits/moved.ics"}))
    assert_need_privileges(req(alice, "MOVE", A1, headers={"Destination": where + "x.ics"}))
    assert req(alice, "MKCALENDAR", where).status_code == 405
    r = req(alice, "GET", A1)
    assert r.status_code == 200 and A1_SECRET in r.text


# ---------------------------------------------------------------- conflicts
def test_conflicts_lists_flagged_visits_only(S):
    alice, bob = S["alice"], S["bob"]
    base = "/calendars/bob/team-east-conflicts/"
    tok0, before = sync(bob, base)
    assert before == {}, before
    pa, pb = "/calendars/alice/visits/cf-a.ics", "/calendars/bob/visits/cf-b.ics"
    assert put(alice, pa, visit("cfa@teams.test", "20270410", "ACME Industrial", "cfa")).status_code == 201
    r = put(bob, pb, visit("cfb@teams.test", "20270410", "ACME Industrial", "cfb", hour=14))
    assert r.status_code == 201
    assert "X-VISIT-CONFLICT" in req(bob, "GET", pb).text
    listed = Multistatus(propfind(bob, base, [GETETAG], "1")).hrefs()
    assert listed == {base, base + "alice~cf-a.ics", base + "bob~cf-b.ics"}, listed
    tok1, flagged = sync(bob, base, tok0)
    assert set(flagged) == {base + "alice~cf-a.ics", base + "bob~cf-b.ics"}
    q_all = Multistatus(report(bob, base, query_body("20270101T000000Z", "20280101T000000Z")))
    assert set(calendar_datas(q_all)) == set(flagged)
    # bob's visit goes: alice's is no longer flagged, and leaves the aggregate
    assert req(bob, "DELETE", pb).status_code == 204
    assert "X-VISIT-CONFLICT" not in req(alice, "GET", pa).text
    tok2, gone = sync(bob, base, tok1)
    assert gone == {base + "alice~cf-a.ics": 404, base + "bob~cf-b.ics": 404}, gone
    assert tok2 != tok1
    assert req(bob, "GET", base + "alice~cf-a.ics").status_code == 404
    assert Multistatus(propfind(bob, base, [GETETAG], "1")).hrefs() == {base}
    assert req(alice, "GET", member("alice", "cf-a.ics")).status_code == 200   # still a visit
    assert req(alice, "DELETE", pa).status_code == 204


# ---------------------------------------------------------------- shared calendars
def test_shared_team_calendar(S):
    alice, bob, carol, dan = S["alice"], S["bob"], S["carol"], S["dan"]
    assert req(alice, "MKCALENDAR", "/teams/east/other/").status_code == 403   # no bind there
    assert req(carol, "MKCALENDAR", "/teams/east/shared/").status_code == 201
    alias = "/calendars/alice/team-east-shared/"
    ms = Multistatus(propfind(alice, "/calendars/alice/", PROPS, "1"))
    assert alias in ms.hrefs()
    assert q(DAV, "write") in privileges(ms.get(alias)), "members write the shared calendar"
    ics = visit("s1@teams.test", next_day(), "Globex Partners", "shared-9999")
    assert put(alice, alias + "s1.ics", ics).status_code == 201
    r = req(bob, "GET", "/teams/east/shared/s1.ics")
    assert r.status_code == 200 and "shared-9999" in r.text
    listing = Multistatus(propfind(alice, alias, [GETETAG], "1")).hrefs()
    assert listing == {alias, alias + "s1.ics"}, listing
    tok, got = sync(alice, alias)
    assert set(got) == {alias + "s1.ics"}
    assert_need_privileges(put(dan, "/teams/east/shared/d.ics", ics.replace("s1@", "d@")))
    assert req(dan, "GET", "/teams/east/shared/s1.ics").status_code == 403
    # the alias cannot be deleted, moved over or made by a member
    assert req(alice, "DELETE", alias).status_code == 403
    assert req(alice, "MKCALENDAR", "/calendars/alice/team-east-mine/").status_code == 403
    r = req(alice, "MOVE", "/calendars/alice/visits/", headers={"Destination": alias})
    assert r.status_code == 403
    assert req(bob, "GET", "/teams/east/shared/s1.ics").status_code == 200


# ---------------------------------------------------------------- subscriptions
def test_get_of_the_aggregate_is_one_masked_document(S):
    r = req(S["alice"], "GET", ALIAS % "alice")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/calendar")
    t = unfolded(r.text)
    assert t.count("BEGIN:VCALENDAR") == 1 and "East visits" in t
    assert "UID:a1@teams.test" in t and "UID:b1@teams.test" in t and "UID:d1@" not in t
    assert A1_SECRET in t and B1_SECRET not in t and B1_ALARM not in t
    assert "SUMMARY:Visit: Globex Partners" in t
    assert r.headers.get("ETag")
    again = req(S["alice"], "GET", ALIAS % "alice", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == r.headers["ETag"]
    assert req(S["bob"], "GET", ALIAS % "bob").headers["ETag"] != r.headers["ETag"]   # his view
    own = req(S["bob"], "GET", "/calendars/bob/visits/")
    assert own.status_code == 200 and B1_SECRET in unfolded(own.text)
    assert req(S["dan"], "GET", EAST).status_code == 403


def test_home_sync_lists_the_team_calendars(S):
    """Apple syncs the home itself: its members include the aliases."""
    ms = Multistatus(report(S["bob"], "/calendars/bob/", sync_body(None)))
    hrefs = ms.hrefs()
    assert {"/calendars/bob/visits/", "/calendars/bob/team-east-visits/",
            "/calendars/bob/team-east-conflicts/"} <= hrefs, hrefs


def test_team_collections_are_owned_by_the_team(S):
    ms = Multistatus(propfind(S["carol"], "/teams/east/", [q(DAV, "owner")]))
    owner = ms.get("/teams/east/").hrefs_in(q(DAV, "owner"))
    assert owner == ["/principals/teams/east/"], owner


# ---------------------------------------------------------------- ACL reload
def test_membership_change_invalidates_tokens_and_new_teams_appear():
    """SIGHUP with erin moved into east and a new team north: old east
    tokens are refused (the client resyncs and then sees erin's visits),
    /teams/north/ exists and shows in its member's home."""
    tmp = tempfile.mkdtemp(prefix="visitdav-teams-acl-")
    acl = os.path.join(tmp, "acl.conf")
    shutil.copy(os.path.join(DATA, "teams", "acl.conf"), acl)
    cfg = "acl = %s\ncustomers = %s\nrules = %s\n" % (
        acl, os.path.join(DATA, "acl", "customers.csv"), os.path.join(DATA, "teams", "rules.conf"))
    srv = VisitdavServer(extra_config=cfg, users=USERS)
    srv.start()
    try:
        alice, erin = session(srv, "alice"), session(srv, "erin")
        for s in (alice, erin):
            login(s)
        assert put(erin, "/calendars/erin/visits/e1.ics",
                   visit("e1@teams.test", next_day(), "ACME Industrial", "erin-1")).status_code == 201
        tok, got = sync(alice, EAST)
        assert not any("erin~" in h for h in got)
        assert propfind(erin, "/calendars/erin/team-north-visits/", PROPS).status_code == 404
        with open(acl) as f:
            text = f.read()
        text = text.replace("members = dan, erin", "members = dan")
        text = text.replace("members = alice, bob", "members = alice, bob, erin")
        with open(acl, "w") as f:
            f.write(text + "\n[team north]\nmembers = erin\n")
        srv.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while propfind(erin, "/teams/north/", PROPS).status_code != 207:
            assert time.time() < deadline, srv.read_log()
            time.sleep(0.05)
        r = report(alice, EAST, sync_body(tok))
        assert r.status_code == 403 and "valid-sync-token" in r.text, r.text
        tok2, got2 = sync(alice, EAST)
        assert tok2 != tok and member("erin", "e1.ics") in got2, got2
        hrefs = Multistatus(propfind(erin, "/calendars/erin/", PROPS, "1")).hrefs()
        assert {"/calendars/erin/team-north-visits/", "/calendars/erin/team-east-visits/"} <= hrefs
        assert "/calendars/erin/team-west-visits/" not in hrefs
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
