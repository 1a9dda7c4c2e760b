"""Secret-token feeds (issue 4): `visitdav feed create USER PATH` prints
/feeds/<token>.ics; GET/HEAD of it, without credentials, serves the
calendar as one text/calendar document with what USER may read at the
time of the request; unknown, revoked, malformed, a deleted creator or a
creator who lost access: 404, never 401/403; other methods 405.

Written from the brief and lib/store.h / server/feeds.h.  The
organisation and the seeded events are the ACL tests' (tests/data/acl):
alice owns a public, a confidential and a private event; bob (teammate)
sees them masked, busy and not at all; dan holds free-busy only.
"""
import os
import re
import shutil
import signal
import time

import pytest
import requests

from acl_helpers import (ALICE_CAL, CONF, PRIV, PRIV_ALL, PUB, PUB_TEXT, SEEDED, USERS,
                         acl_file, check_view, login, server_config, session)
from helpers import ICS_CT, VisitdavServer, parse_ical, req

TOKEN_RE = re.compile(r"^/feeds/[0-9a-f]{64}\.ics$")


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """The test organisation with a writable copy of its ACL file (for the
    reload test) and alice's three seeded events."""
    d = tmp_path_factory.mktemp("feeds-acl")
    acl = os.path.join(str(d), "acl.conf")
    shutil.copy(acl_file("acl.conf"), acl)
    with open(acl, "a", encoding="utf-8") as f:      # the team calendars (teams.h)
        f.write("\nallow read on /teams/{team}/** to everyone\n")
    srv = VisitdavServer(extra_config=server_config(acl), users=USERS)
    srv.start()
    srv.acl_path = acl
    alice = session(srv, "alice")
    login(alice)
    for ev in SEEDED:
        r = req(alice, "PUT", ev.href, ev.text, {"Content-Type": ICS_CT})
        assert r.status_code == 201, (ev.key, r.status_code, r.text)
    for u in ("bob", "carol", "dan", "grace"):
        login(session(srv, u))
    yield srv
    srv.stop()


def create(srv, user, path, check=True):
    r = srv.admin_cmd("feed", "create", user, path, check=check)
    return r.stdout.strip() if check else r


def anon_get(srv, url_path, method="GET", headers=None):
    return requests.request(method, srv.url + url_path, headers=headers or {},
                            allow_redirects=False, timeout=60)


def events_in(text):
    root = parse_ical(text)
    cal = [c for c in root.children if c.name == "VCALENDAR"]
    assert len(cal) == 1, text
    return {e.value("UID"): e for e in cal[0].children if e.name == "VEVENT"}


def vevent_text(ev_comp):
    """One VEVENT as a VCALENDAR text, for check_view."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x"]

    def emit(c):
        lines.append("BEGIN:" + c.name)
        for name, params, value in c.props:
            ps = "".join(";%s=%s" % kv for kv in params.items())
            lines.append("%s%s:%s" % (name, ps, value))
        for ch in c.children:
            emit(ch)
        lines.append("END:" + c.name)
    emit(ev_comp)
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


# ---------------------------------------------------------------- create
def test_create_prints_a_fresh_token_url(org):
    a = create(org, "alice", ALICE_CAL)
    b = create(org, "alice", ALICE_CAL)
    assert TOKEN_RE.match(a), a
    assert TOKEN_RE.match(b), b
    assert a != b


def test_the_owner_feed_serves_everything_as_the_owner_gets_it(org):
    url = create(org, "alice", ALICE_CAL)
    r = anon_get(org, url)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/calendar")
    evs = events_in(r.text)
    assert set(evs) == {e.uid for e in SEEDED}
    # the same document alice gets with her password
    own = req(session(org, "alice"), "GET", ALICE_CAL)
    assert own.status_code == 200
    assert r.content == own.content
    assert r.headers["ETag"] == own.headers["ETag"]


def test_a_teammates_feed_is_masked_like_their_own_get(org):
    url = create(org, "bob", ALICE_CAL)
    r = anon_get(org, url)
    assert r.status_code == 200, r.text
    bob = req(session(org, "bob"), "GET", ALICE_CAL)
    assert bob.status_code == 200
    assert r.content == bob.content, "the feed differs from bob's own GET"
    evs = events_in(r.text)
    assert set(evs) == {PUB.uid, CONF.uid}, "the private event must not appear"
    check_view("masked", PUB, vevent_text(evs[PUB.uid]), "bob's feed")
    check_view("busy", CONF, vevent_text(evs[CONF.uid]), "bob's feed")
    for secret in PUB_TEXT + PRIV_ALL + ["alarm-secret-7575"]:
        assert secret not in r.text, "bob's feed leaks %r" % secret


def test_head_and_conditional_get(org):
    url = create(org, "alice", ALICE_CAL)
    g = anon_get(org, url)
    h = anon_get(org, url, "HEAD")
    assert h.status_code == 200 and h.content == b""
    assert h.headers["ETag"] == g.headers["ETag"]
    assert h.headers.get("Content-Length") == str(len(g.content))
    nm = anon_get(org, url, headers={"If-None-Match": g.headers["ETag"]})
    assert nm.status_code == 304


def test_the_feed_url_is_kept_out_of_shared_caches_and_referers(org):
    r = anon_get(org, create(org, "alice", ALICE_CAL))
    assert r.headers.get("Cache-Control") == "private"
    assert r.headers.get("Referrer-Policy") == "no-referrer"


def test_served_at_request_time(org):
    url = create(org, "grace", ALICE_CAL)
    before = events_in(anon_get(org, url).text)
    uid = "feed-live-1@feeds.test"
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:%s\r\n"
           "DTSTAMP:20261201T000000Z\r\nDTSTART:20270610T080000Z\r\nDTEND:20270610T083000Z\r\n"
           "SUMMARY:late addition\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % uid)
    alice = session(org, "alice")
    path = ALICE_CAL + "feed-live-1.ics"
    assert req(alice, "PUT", path, ics, {"Content-Type": ICS_CT}).status_code == 201
    try:
        after = events_in(anon_get(org, url).text)
        assert uid not in before and uid in after
    finally:
        req(alice, "DELETE", path)
    assert uid not in events_in(anon_get(org, url).text)


def test_credentials_are_neither_needed_nor_used(org):
    url = create(org, "bob", ALICE_CAL)
    plain = anon_get(org, url)
    # alice's password on bob's feed changes nothing: the creator decides
    as_alice = requests.get(org.url + url, auth=("alice", USERS["alice"]), timeout=60)
    wrong = requests.get(org.url + url, auth=("alice", "wrong"), timeout=60)
    assert as_alice.status_code == wrong.status_code == 200
    assert as_alice.content == wrong.content == plain.content
    assert PRIV.uid not in as_alice.text


def test_a_feed_of_a_team_calendar(org):
    url = create(org, "bob", "/teams/east/visits/")
    r = anon_get(org, url)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/calendar")
    own = req(session(org, "bob"), "GET", "/teams/east/visits/")
    assert own.status_code == 200
    assert r.content == own.content
    assert PUB.uid in events_in(r.text) and PRIV.uid not in events_in(r.text)
    for secret in PUB_TEXT + PRIV_ALL:
        assert secret not in r.text, secret
    assert create(org, "dan", "/teams/east/visits/", check=False).returncode == 1


@pytest.mark.parametrize("who,path,why", [
    ("dan", ALICE_CAL, "free-busy only"),
    ("zoe", ALICE_CAL, "no such user"),
    ("alice", "/calendars/alice/", "a home, not a calendar"),
    ("alice", "/calendars/alice/nothing-here/", "no such calendar"),
    ("bob", "/calendars/dan/visits/", "another team"),
])
def test_create_refuses(org, who, path, why):
    r = create(org, who, path, check=False)
    assert r.returncode == 1, (why, r.stdout, r.stderr)
    assert "/feeds/" not in r.stdout
    assert r.stderr.strip(), why


# ---------------------------------------------------------------- not found
@pytest.mark.parametrize("path", [
    "/feeds/" + "0" * 64 + ".ics",            # well-formed, unknown
    "/feeds/" + "A" * 64 + ".ics",            # upper case: not a token
    "/feeds/" + "0" * 63 + ".ics",
    "/feeds/" + "0" * 64,
    "/feeds/",
    "/feeds",
    "/feeds/x/y.ics",
])
def test_anything_but_a_live_feed_is_404(org, path):
    for method in ("GET", "HEAD"):
        r = anon_get(org, path, method)
        assert r.status_code == 404, (method, path, r.status_code)
        assert "WWW-Authenticate" not in r.headers


def test_a_token_differing_in_its_secret_part_is_404(org):
    url = create(org, "alice", ALICE_CAL)
    tok = url[len("/feeds/"):-len(".ics")]
    for i in (16, 40, 63):              # the selector stays, the secret changes
        bad = tok[:i] + ("0" if tok[i] != "0" else "1") + tok[i + 1:]
        assert anon_get(org, "/feeds/%s.ics" % bad).status_code == 404
    assert anon_get(org, url).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "PROPFIND", "PROPPATCH",
                                    "MKCOL", "OPTIONS", "REPORT", "MOVE", "COPY", "LOCK"])
def test_a_feed_is_read_only(org, method):
    url = create(org, "alice", ALICE_CAL)
    r = requests.request(method, org.url + url, data="BEGIN:VCALENDAR\r\n", timeout=60)
    assert r.status_code == 405, (method, r.status_code)
    assert r.headers.get("Allow") == "GET, HEAD"
    assert "WWW-Authenticate" not in r.headers
    assert anon_get(org, url).status_code == 200     # nothing changed


# ---------------------------------------------------------------- list, revoke
def test_list_and_revoke(org):
    url = create(org, "carol", ALICE_CAL)
    tok = url[len("/feeds/"):-len(".ics")]
    rows = [l.split("\t") for l in org.admin_cmd("feed", "list", "carol").stdout.splitlines()]
    mine = [r for r in rows if r[0] == url]
    assert len(mine) == 1, rows
    assert mine[0][1:3] == ["carol", ALICE_CAL]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", mine[0][3])
    assert all(r[1] == "carol" for r in rows)
    everyone = org.admin_cmd("feed", "list").stdout
    assert url in everyone and "\talice\t" in everyone
    assert anon_get(org, url).status_code == 200
    r = org.admin_cmd("feed", "revoke", tok)
    assert r.stdout.strip() == "revoked"
    assert anon_get(org, url).status_code == 404
    assert url not in org.admin_cmd("feed", "list").stdout
    again = org.admin_cmd("feed", "revoke", tok, check=False)
    assert again.returncode == 1


def test_revoke_by_url_path_and_bad_tokens(org):
    url = create(org, "alice", ALICE_CAL)
    assert org.admin_cmd("feed", "revoke", url).returncode == 0
    assert anon_get(org, url).status_code == 404
    assert org.admin_cmd("feed", "revoke", "nonsense", check=False).returncode == 2
    assert org.admin_cmd("feed", "revoke", "f" * 64, check=False).returncode == 1


def test_the_audit_log_names_the_feed_but_not_its_secret(org):
    url = create(org, "alice", ALICE_CAL)
    tok = url[len("/feeds/"):-len(".ics")]
    log = org.admin_cmd("audit").stdout
    assert tok[:16] in log
    assert tok not in log and tok[16:] not in log


# ---------------------------------------------------------------- at request time
def wait_status(srv, url, status, timeout=10):
    deadline = time.time() + timeout
    r = anon_get(srv, url)
    while r.status_code != status and time.time() < deadline:
        time.sleep(0.2)
        r = anon_get(srv, url)
    return r


def test_a_creator_who_loses_access_gets_404_and_back(org):
    url = create(org, "bob", ALICE_CAL)
    assert anon_get(org, url).status_code == 200
    with open(org.acl_path, encoding="utf-8") as f:
        original = f.read()
    reduced = original.replace("allow read-masked on /calendars/{teammate}/** to everyone", "")
    assert reduced != original
    try:
        with open(org.acl_path, "w", encoding="utf-8") as f:
            f.write(reduced)
        org.signal(signal.SIGHUP)
        r = wait_status(org, url, 404)
        assert r.status_code == 404, "bob lost read-masked, yet the feed answers %d" % r.status_code
        assert PUB.uid not in r.text
    finally:
        with open(org.acl_path, "w", encoding="utf-8") as f:
            f.write(original)
        org.signal(signal.SIGHUP)
    assert wait_status(org, url, 200).status_code == 200


def test_a_deleted_creator_gets_404(org):
    org.add_user("henry", "henry-pw")
    org.signal(signal.SIGHUP)           # the reload is asynchronous: poll for it
    henry = requests.Session()
    henry.auth = ("henry", "henry-pw")
    henry.base = org.url
    deadline = time.time() + 10
    while req(henry, "PROPFIND", "/calendars/henry/", headers={"Depth": "0"}).status_code != 207:
        assert time.time() < deadline, "henry cannot log in"
        time.sleep(0.2)
    url = create(org, "henry", "/calendars/henry/visits/")
    assert anon_get(org, url).status_code == 200
    out = org.admin_cmd("user", "del", "henry").stdout
    assert "revoked 1 feed of henry" in out, out
    org.signal(signal.SIGHUP)
    assert wait_status(org, url, 404).status_code == 404
    assert "\thenry\t" not in org.admin_cmd("feed", "list").stdout
    # a new user of the same name does not inherit the old feed
    org.add_user("henry", "other-pw")
    time.sleep(1.1)
    org.signal(signal.SIGHUP)
    henry.auth = ("henry", "other-pw")
    deadline = time.time() + 10
    while req(henry, "PROPFIND", "/calendars/henry/", headers={"Depth": "0"}).status_code != 207:
        assert time.time() < deadline, "the new henry cannot log in"
        time.sleep(0.2)
    assert anon_get(org, url).status_code == 404


def test_without_an_acl_file_a_feed_serves_the_own_calendar(server):
    s = requests.Session()
    s.auth = ("alice", "alice-pw")
    s.base = server.url
    assert req(s, "PROPFIND", "/calendars/alice/", headers={"Depth": "0"}).status_code == 207
    url = server.admin_cmd("feed", "create", "alice", "/calendars/alice/visits/").stdout.strip()
    r = anon_get(server, url)
    assert r.status_code == 200 and r.text.startswith("BEGIN:VCALENDAR")
    # bob may not read alice's calendar without an ACL: refused at creation
    r = server.admin_cmd("feed", "create", "bob", "/calendars/alice/visits/", check=False)
    assert r.returncode == 1
