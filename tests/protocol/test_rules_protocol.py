"""Visit rules as a client sees them on the wire (docs/rules.md, issue 3):
the 403 reject body, the flag round trip (PUT without ETag, the marker,
the other visit's ETag, sync-collection on both calendars when the other
visit goes away, no double prefix), the CATEGORIES marker, the conflicts
listing (/api/v1/conflicts and `visitdav conflicts`) and `visitdav approve`.

Each test starts its own server with a rules file from tests/data/rules/.
"""
import json
import xml.etree.ElementTree as ET

import pytest

from rules_helpers import (DAV, PREFIX, V, U, all_flag_props, categories_of, conflicts_api,
                           ctag, ensure_home, flags_of, get, href, ics, mkcalendar, new_uid,
                           put, q, reject_conflicts, req, rules_server, session, summary_of,
                           sync_changes, sync_collection, sync_token)
from helpers import norm_href

A1 = href("alice", "visits", "a1")
B1 = href("bob", "visits", "b1")
ALICE_CAL = "/calendars/alice/visits/"
BOB_CAL = "/calendars/bob/visits/"


@pytest.fixture
def reject_srv():
    with rules_server("reject") as srv:
        yield srv


@pytest.fixture
def flag_srv():
    with rules_server("flag") as srv:
        yield srv


def users(srv):
    out = {u: session(srv, u) for u in ("alice", "bob", "carol", "dave")}
    for s in out.values():
        ensure_home(s)
    return out


def bob_visit(uid=None, day="03-01", summary="Visit ACME", extra=()):
    return ics(uid or new_uid("b1"), U(day + " 09:00"), U(day + " 10:00"), summary, extra)


def alice_visit(uid=None, day="03-01", summary="Visit ACME", extra=()):
    return ics(uid or new_uid("a1"), U(day + " 13:00"), U(day + " 14:00"), summary, extra)


def put_status(s, path, body, status=(201,), headers=None):
    r = put(s, path, body, headers)
    assert r.status_code in status, "PUT %s: %d %s" % (path, r.status_code, r.text[:500])
    return r


def flagged_pair(u):
    """bob's b1 (09:00-10:00Z) and alice's a1 (13:00-14:00Z), both ACME on
    2027-03-01: flagged under the flag rules.  Returns alice's PUT response."""
    put_status(u["bob"], B1, bob_visit())
    return put_status(u["alice"], A1, alice_visit(extra=["DESCRIPTION:Renewal"]))


# ---------------------------------------------------------------- reject
def test_reject_body_as_documented_and_nothing_stored(reject_srv):
    u = users(reject_srv)
    put_status(u["bob"], B1, bob_visit(
        summary="Visit ACME secret-summary-4711",
        extra=["DESCRIPTION:secret-description-4711", "LOCATION:ACME secret-location-4711"]))
    bob_etag = get(u["bob"], B1).headers["ETag"]
    ctag0 = ctag(u["alice"], ALICE_CAL)
    token0 = sync_token(u["alice"], ALICE_CAL)

    r = put(u["alice"], A1, alice_visit())
    assert r.status_code == 403, "expected 403, got %d %s" % (r.status_code, r.text[:500])
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/xml", \
        r.headers.get("Content-Type")
    root = ET.fromstring(r.content)
    assert root.tag == q(DAV, "error")
    vcs = root.findall(q(V, "visit-conflict"))
    assert len(vcs) == 1, r.text
    vc = vcs[0]
    assert vc.findtext(q(V, "rule")).strip() == "customer-overlap"
    assert vc.findtext(q(V, "other-owner")).strip() == "bob"
    assert vc.findtext(q(V, "other-start")).strip() == "20270301T090000Z"
    assert vc.findtext(q(V, "other-end")).strip() == "20270301T100000Z"
    desc = root.findtext(q(DAV, "responsedescription"))
    assert desc and desc.strip(), "empty DAV:responsedescription"
    assert "\n" not in desc.strip(), "responsedescription is not one line: %r" % desc
    assert "4711" not in r.text and "secret" not in r.text, \
        "the reject body reveals the other visit's text: " + r.text

    assert get(u["alice"], A1).status_code == 404, "a rejected visit was stored"
    assert ctag(u["alice"], ALICE_CAL) == ctag0, "ctag changed by a rejected PUT"
    ms = sync_collection(u["alice"], ALICE_CAL, token0)
    assert sync_changes(ms) == {}, "sync reports changes after a rejected PUT"
    assert ms.sync_token == token0
    after = get(u["bob"], B1)
    assert after.headers["ETag"] == bob_etag, "the other visit changed on a reject"
    assert not all_flag_props(after.text)


def test_reject_of_an_update_keeps_the_stored_version(reject_srv):
    u = users(reject_srv)
    put_status(u["bob"], B1, bob_visit())
    uid = new_uid("a1")
    put_status(u["alice"], A1, alice_visit(uid, day="03-02"))
    before = get(u["alice"], A1)
    r = put(u["alice"], A1, alice_visit(uid, day="03-01"), {"If-Match": before.headers["ETag"]})
    assert r.status_code == 403, "expected 403, got %d %s" % (r.status_code, r.text[:500])
    conflicts, desc = reject_conflicts(r)
    assert [(c["rule"], c["other-owner"]) for c in conflicts] == [("customer-overlap", "bob")]
    after = get(u["alice"], A1)
    assert after.status_code == 200
    assert after.headers["ETag"] == before.headers["ETag"]
    assert after.text == before.text


def test_reject_copy_onto_own_busy_time(reject_srv):
    """COPY passes the rules too: a copy into another of the rep's calendars
    overlaps the original (rep-overlap = reject in this file)."""
    u = users(reject_srv)
    src = href("alice", "visits", "d1")
    put_status(u["alice"], src, ics(new_uid("d1"), U("03-03 09:00"), U("03-03 10:00"), "Dentist"))
    mkcalendar(u["alice"], "alice", "private")
    dest = href("alice", "private", "d1")
    r = req(u["alice"], "COPY", src, headers={"Destination": reject_srv.url + dest,
                                               "Overwrite": "F"})
    assert r.status_code == 403, "expected 403, got %d %s" % (r.status_code, r.text[:500])
    conflicts, desc = reject_conflicts(r)
    assert ("rep-overlap", "alice") in [(c["rule"], c["other-owner"]) for c in conflicts], r.text
    assert desc
    assert get(u["alice"], dest).status_code == 404
    assert get(u["alice"], src).status_code == 200


# ---------------------------------------------------------------- flag
def test_flag_round_trip_as_a_client_sees_it(flag_srv):
    u = users(flag_srv)
    put_status(u["bob"], B1, bob_visit())
    bob_etag0 = get(u["bob"], B1).headers["ETag"]

    r = put_status(u["alice"], A1, alice_visit())
    assert "ETag" not in r.headers, "flagged PUT must not send an ETag (RFC 4791 5.3.4)"

    a = get(u["alice"], A1)
    assert summary_of(a.text) == PREFIX + "Visit ACME"
    fl = flags_of(a.text)
    assert [(f.rule, f.owner, f.other, f.start, f.end) for f in fl] == [
        ("customer-overlap", "bob", B1, "20270301T090000Z", "20270301T100000Z")], fl

    b = get(u["bob"], B1)
    assert b.headers["ETag"] != bob_etag0, "the other visit was flagged without a new ETag"
    assert summary_of(b.text) == PREFIX + "Visit ACME"
    fl = flags_of(b.text)
    assert [(f.rule, f.owner, f.other, f.start, f.end) for f in fl] == [
        ("customer-overlap", "alice", A1, "20270301T130000Z", "20270301T140000Z")], fl

    ta, tb = sync_token(u["alice"], ALICE_CAL), sync_token(u["bob"], BOB_CAL)
    alice_etag = a.headers["ETag"]
    d = req(u["bob"], "DELETE", B1)
    assert d.status_code in (200, 204)

    ca = sync_collection(u["alice"], ALICE_CAL, ta)
    changed = sync_changes(ca)
    assert set(changed) == {A1}, "alice's sync after the other visit went: %s" % changed
    assert changed[A1] not in ("deleted", alice_etag), "a1 not reported with a new ETag"
    assert ca.sync_token != ta
    cb = sync_collection(u["bob"], BOB_CAL, tb)
    assert sync_changes(cb) == {B1: "deleted"}

    a2 = get(u["alice"], A1)
    assert a2.headers["ETag"] == changed[A1]
    assert summary_of(a2.text) == "Visit ACME", "marker left after the other visit was deleted"
    assert not all_flag_props(a2.text), "X-VISIT-CONFLICT left after the other visit was deleted"


def test_other_visit_moved_both_calendars_report_changes(flag_srv):
    u = users(flag_srv)
    buid = new_uid("b1")
    put_status(u["bob"], B1, bob_visit(buid))
    flagged_a = put_status(u["alice"], A1, alice_visit())
    assert "ETag" not in flagged_a.headers
    ta, tb = sync_token(u["alice"], ALICE_CAL), sync_token(u["bob"], BOB_CAL)
    put_status(u["bob"], B1, bob_visit(buid, day="03-05"), status=(204, 201))
    assert set(sync_changes(sync_collection(u["alice"], ALICE_CAL, ta))) == {A1}
    assert set(sync_changes(sync_collection(u["bob"], BOB_CAL, tb))) == {B1}
    for s, path in ((u["alice"], A1), (u["bob"], B1)):
        text = get(s, path).text
        assert not all_flag_props(text), "%s still flagged: %s" % (path, text)
        assert summary_of(text) == "Visit ACME"


def test_update_that_becomes_flagged_has_no_etag(flag_srv):
    u = users(flag_srv)
    put_status(u["bob"], B1, bob_visit())
    uid = new_uid("a1")
    put_status(u["alice"], A1, alice_visit(uid, day="03-02"))
    r = put_status(u["alice"], A1, alice_visit(uid, day="03-01"), status=(204,))
    assert "ETag" not in r.headers
    assert [f.other for f in flags_of(get(u["alice"], A1).text)] == [B1]


def test_saving_a_flagged_event_back_does_not_double_the_marker(flag_srv):
    u = users(flag_srv)
    flagged_pair(u)
    for _ in range(2):
        a = get(u["alice"], A1)
        put_status(u["alice"], A1, a.text, status=(204, 201),
                   headers={"If-Match": a.headers["ETag"]})
        text = get(u["alice"], A1).text
        assert summary_of(text) == PREFIX + "Visit ACME", summary_of(text)
        fl = flags_of(text)
        assert [(f.rule, f.other) for f in fl] == [("customer-overlap", B1)], fl
    fl = flags_of(get(u["bob"], B1).text)
    assert [(f.rule, f.other) for f in fl] == [("customer-overlap", A1)], fl


def test_stale_flagged_copy_saved_after_the_conflict_went(flag_srv):
    """A client saves its old flagged copy after the other visit is gone:
    the marker and X-VISIT-CONFLICT it sends are not user data."""
    u = users(flag_srv)
    flagged_pair(u)
    stale = get(u["alice"], A1).text
    assert summary_of(stale).startswith(PREFIX)
    assert req(u["bob"], "DELETE", B1).status_code in (200, 204)
    put_status(u["alice"], A1, stale, status=(204, 201))
    text = get(u["alice"], A1).text
    assert summary_of(text) == "Visit ACME"
    assert not all_flag_props(text)


def test_marker_in_summary_and_categories():
    with rules_server("both") as srv:
        u = users(srv)
        put_status(u["bob"], B1, bob_visit())
        put_status(u["alice"], A1, alice_visit(extra=["CATEGORIES:Customer"]))
        text = get(u["alice"], A1).text
        assert summary_of(text) == PREFIX + "Visit ACME"
        cats = categories_of(text)
        assert "Conflict" in cats and "Customer" in cats, cats
        assert cats.count("Conflict") == 1, cats
        # saved back unchanged: still one marker category
        a = get(u["alice"], A1)
        put_status(u["alice"], A1, a.text, status=(204, 201))
        assert categories_of(get(u["alice"], A1).text).count("Conflict") == 1
        assert req(u["bob"], "DELETE", B1).status_code in (200, 204)
        text = get(u["alice"], A1).text
        assert summary_of(text) == "Visit ACME"
        assert categories_of(text) == ["Customer"], categories_of(text)
        assert not all_flag_props(text)


# ---------------------------------------------------------------- listing
def norm_entry(e):
    keys = ("rule", "visit", "owner", "start", "end", "other", "other_owner",
            "other_start", "other_end")
    missing = [k for k in keys if k not in e]
    assert not missing, "conflict entry without %s: %s" % (missing, e)
    d = {k: e[k] for k in keys}
    d["visit"], d["other"] = norm_href(d["visit"]), norm_href(d["other"])
    return d


A1_ENTRY = {"rule": "customer-overlap", "visit": A1, "owner": "alice",
            "start": "20270301T130000Z", "end": "20270301T140000Z",
            "other": B1, "other_owner": "bob",
            "other_start": "20270301T090000Z", "other_end": "20270301T100000Z"}
B1_ENTRY = {"rule": "customer-overlap", "visit": B1, "owner": "bob",
            "start": "20270301T090000Z", "end": "20270301T100000Z",
            "other": A1, "other_owner": "alice",
            "other_start": "20270301T130000Z", "other_end": "20270301T140000Z"}


def key(e):
    return json.dumps(e, sort_keys=True)


def test_conflicts_api_and_admin_command(flag_srv):
    u = users(flag_srv)
    flagged_pair(u)
    day = ("20270301T000000Z", "20270302T000000Z")
    got = [norm_entry(e) for e in conflicts_api(u["alice"], *day)]
    assert got == [A1_ENTRY], "alice sees the conflicts of her own visits: %s" % got
    got = [norm_entry(e) for e in conflicts_api(u["bob"], *day)]
    assert got == [B1_ENTRY], got
    got = sorted((norm_entry(e) for e in conflicts_api(u["carol"], *day)), key=key)
    assert got == sorted([A1_ENTRY, B1_ENTRY], key=key), "the approver sees everyone's: %s" % got
    assert conflicts_api(u["dave"], *day) == []
    assert conflicts_api(u["carol"], "20270302T000000Z", "20270303T000000Z") == []

    out = flag_srv.admin_cmd("conflicts", "--start", day[0], "--end", day[1])
    doc = json.loads(out.stdout)
    got = sorted((norm_entry(e) for e in doc["conflicts"]), key=key)
    assert got == sorted([A1_ENTRY, B1_ENTRY], key=key), out.stdout


def test_conflicts_api_needs_authentication(flag_srv):
    import requests
    r = requests.get(flag_srv.url + "/api/v1/conflicts",
                     params={"start": "20270301T000000Z", "end": "20270302T000000Z"}, timeout=30)
    assert r.status_code == 401


def test_admin_approve_clears_the_flag(flag_srv):
    u = users(flag_srv)
    flagged_pair(u)
    etag_a = get(u["alice"], A1).headers["ETag"]
    etag_b = get(u["bob"], B1).headers["ETag"]
    ta = sync_token(u["alice"], ALICE_CAL)
    r = flag_srv.admin_cmd("approve", A1, "customer-overlap", check=False)
    assert r.returncode == 0, "visitdav approve: %d %s %s" % (r.returncode, r.stdout, r.stderr)

    a = get(u["alice"], A1)
    assert a.headers["ETag"] != etag_a
    assert not [f for f in flags_of(a.text) if f.rule == "customer-overlap"], a.text
    assert summary_of(a.text) == "Visit ACME"
    assert A1 in sync_changes(sync_collection(u["alice"], ALICE_CAL, ta))
    b = get(u["bob"], B1)
    assert not all_flag_props(b.text), "the approved collision is still flagged on bob's visit"
    assert summary_of(b.text) == "Visit ACME"
    assert b.headers["ETag"] != etag_b
    assert conflicts_api(u["carol"], "20270301T000000Z", "20270302T000000Z") == []

    # alice saves her approved visit again (as a client would): still approved
    a = get(u["alice"], A1)
    put_status(u["alice"], A1, a.text, status=(204, 201), headers={"If-Match": a.headers["ETag"]})
    assert not all_flag_props(get(u["alice"], A1).text)
    assert not all_flag_props(get(u["bob"], B1).text)


def test_approval_from_a_non_approver_is_not_stored(flag_srv):
    u = users(flag_srv)
    put_status(u["bob"], B1, bob_visit())
    put_status(u["alice"], A1, alice_visit(extra=["X-VISIT-APPROVED:customer-overlap"]))
    text = get(u["alice"], A1).text
    assert [(f.rule, f.other) for f in flags_of(text)] == [("customer-overlap", B1)]
    from rules_helpers import master_of
    assert master_of(text).get("X-VISIT-APPROVED") == [], \
        "the server kept an approval it did not accept: " + text


@pytest.mark.parametrize("args", [
    (A1, "no-such-rule"),
    ("/calendars/alice/visits/missing.ics", "customer-overlap"),
])
def test_admin_approve_refuses_bad_input(flag_srv, args):
    u = users(flag_srv)
    flagged_pair(u)
    r = flag_srv.admin_cmd("approve", *args, check=False)
    assert r.returncode != 0, "visitdav approve %s succeeded: %s" % (args, r.stdout)
    assert r.stderr.strip(), "no reason given on stderr"
    assert [f.other for f in flags_of(get(u["alice"], A1).text)] == [B1]


def test_conflicts_listing_for_a_team():
    """With team=east an approver sees only the team members' visits
    (rules-team.conf: team east is alice and bob; dave is in no team)."""
    with rules_server("team") as srv:
        u = users(srv)
        d1 = href("dave", "visits", "d1")
        put_status(u["alice"], A1, alice_visit(extra=["DESCRIPTION:Renewal"]))
        put_status(u["dave"], d1, bob_visit())          # dave is outside east: flagged
        day = ("20270301T000000Z", "20270302T000000Z")
        got = [norm_entry(e) for e in conflicts_api(u["carol"], *day, team="east")]
        assert [(e["visit"], e["other"]) for e in got] == [(A1, d1)], got
        everyone = [norm_entry(e) for e in conflicts_api(u["carol"], *day)]
        assert sorted(e["visit"] for e in everyone) == sorted([A1, d1]), everyone
        out = srv.admin_cmd("conflicts", "--start", day[0], "--end", day[1], "--team", "east")
        got = [norm_entry(e) for e in json.loads(out.stdout)["conflicts"]]
        assert [(e["visit"], e["other"]) for e in got] == [(A1, d1)], out.stdout


# ---------------------------------------------------------------- more writes
def test_flagged_copy_flags_both_copies(flag_srv):
    u = users(flag_srv)
    src = href("alice", "visits", "d1")
    put_status(u["alice"], src, ics(new_uid("d1"), U("03-03 09:00"), U("03-03 10:00"), "Dentist"))
    mkcalendar(u["alice"], "alice", "private")
    dest = href("alice", "private", "d1")
    r = req(u["alice"], "COPY", src, headers={"Destination": flag_srv.url + dest,
                                               "Overwrite": "F"})
    assert r.status_code == 201, "COPY: %d %s" % (r.status_code, r.text[:300])
    for path, other in ((src, dest), (dest, src)):
        text = get(u["alice"], path).text
        assert [(f.rule, f.owner, f.other) for f in flags_of(text)] == [
            ("rep-overlap", "alice", other)], text
        assert summary_of(text) == PREFIX + "Dentist"


def test_purging_the_other_rep_clears_the_flag(flag_srv):
    u = users(flag_srv)
    flagged_pair(u)
    flag_srv.admin_cmd("user", "del", "bob", "--purge")
    text = get(u["alice"], A1).text
    assert not all_flag_props(text), text
    assert summary_of(text) == "Visit ACME"


def test_defaults_without_a_rules_file():
    """No `rules` line: rep-overlap and customer-overlap (same day) flag."""
    from vdserver import VisitdavServer
    from rules_helpers import CUSTOMERS, USERS
    srv = VisitdavServer(extra_config="customers = %s\n" % CUSTOMERS, users=USERS)
    srv.start()
    try:
        u = users(srv)
        flagged_pair(u)
        assert [(f.rule, f.other) for f in flags_of(get(u["alice"], A1).text)] == [
            ("customer-overlap", B1)]
        a2 = href("alice", "visits", "a2")
        put_status(u["alice"], a2, ics(new_uid("a2"), U("03-01 13:30"), U("03-01 14:30"), "Call"))
        assert [(f.rule, f.other) for f in flags_of(get(u["alice"], a2).text)] == [
            ("rep-overlap", A1)]
    finally:
        srv.stop()


# ---------------------------------------------------------------- SIGHUP
def _wait(pred, what, timeout=10.0):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def _hup(srv, what):
    """SIGHUP, then wait until the server logged that it reloaded `what`
    ("customers" or "rules"), whether or not the file was good: probing
    before that races the reload (a probe PUT made under the old rules
    changes what the next probe sees)."""
    import signal
    start = len(srv.read_log())
    srv.signal(signal.SIGHUP)
    _wait(lambda: any(line.startswith(what + " ") or (" " + what + " ") in line
                      for line in srv.read_log()[start:].splitlines()
                      if "reloaded" in line),
          "the server to reload " + what)


def _pair(u, tag, day, summary):
    """bob's and alice's visits with this summary on day; alice's response."""
    put_status(u["bob"], href("bob", "visits", "b" + tag),
               ics("b%s@rules.test" % tag, U(day + " 09:00"), U(day + " 10:00"), summary),
               status=(201, 204))
    return put(u["alice"], href("alice", "visits", "a" + tag),
               ics("a%s@rules.test" % tag, U(day + " 13:00"), U(day + " 14:00"), summary))


def _alice_flagged(u, tag):
    return bool(flags_of(get(u["alice"], href("alice", "visits", "a" + tag)).text))


def test_sighup_reloads_customers_and_keeps_them_on_a_bad_file(tmp_path):
    import signal
    from vdserver import VisitdavServer
    from rules_helpers import USERS, rules_path
    cust = tmp_path / "customers.csv"
    cust.write_text("id,name,aliases,domains,address\nacme,ACME,,acme.de,\n", encoding="utf-8")
    srv = VisitdavServer(extra_config="customers = %s\nrules = %s\n" % (cust, rules_path("flag")),
                         users=USERS)
    srv.start()
    try:
        u = users(srv)
        assert _pair(u, "1", "03-01", "Visit Initech").status_code == 201
        assert not _alice_flagged(u, "1"), "Initech is not a customer yet"

        with open(cust, "a", encoding="utf-8") as f:
            f.write("initech,Initech,,initech.example,\n")
        _hup(srv, "customers")
        assert _pair(u, "2", "03-02", "Visit Initech").status_code == 201
        assert _alice_flagged(u, "2"), "the new customer after SIGHUP"

        with open(cust, "a", encoding="utf-8") as f:      # line 4: duplicate id
            f.write("initech,Initech Again,,,\n")
        _hup(srv, "customers")
        assert "%s:4" % cust.name in srv.read_log(), "the bad row reported with its line in the log"
        r = _pair(u, "3", "03-03", "Visit Initech")
        assert r.status_code == 201
        assert _alice_flagged(u, "3"), "the directory in force was dropped by a bad file"
    finally:
        srv.stop()


def test_sighup_reloads_rules_and_keeps_them_on_a_bad_file(tmp_path):
    import signal
    from vdserver import VisitdavServer
    from rules_helpers import CUSTOMERS, USERS, rules_path
    rules = tmp_path / "rules.conf"
    base = open(rules_path("flag"), encoding="utf-8").read()
    rules.write_text(base, encoding="utf-8")
    srv = VisitdavServer(extra_config="customers = %s\nrules = %s\n" % (CUSTOMERS, rules),
                         users=USERS)
    srv.start()
    try:
        u = users(srv)
        assert _pair(u, "1", "03-01", "Visit ACME").status_code == 201
        assert _alice_flagged(u, "1")

        rules.write_text(base.replace("customer-overlap = flag", "customer-overlap = reject"),
                         encoding="utf-8")
        _hup(srv, "rules")
        assert _pair(u, "2", "03-02", "Visit ACME").status_code == 403, \
            "customer-overlap = reject after SIGHUP"

        bad = base.replace("customer-overlap = flag", "customer-overlap = reject")
        bad += "no-such-key = 1\n"
        bad_line = bad.count("\n")
        rules.write_text(bad, encoding="utf-8")
        _hup(srv, "rules")
        assert "%s:%d" % (rules.name, bad_line) in srv.read_log(), \
            "the bad rules line reported in the log"
        assert _pair(u, "3", "03-03", "Visit ACME").status_code == 403, \
            "the rules in force were dropped by a bad file"
    finally:
        srv.stop()
