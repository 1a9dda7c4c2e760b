"""Accounts as the issue defines them: `visitdav user add / passwd / del`
work on the users file the running server reads; a user's home and default
calendar "visits" exist at first login (checked over HTTP)."""
import time
import uuid

import pytest
import requests

from helpers import CAL, DAV, Multistatus, event_ics, prop1, propfind, put_ok, q, req


@pytest.fixture(autouse=True)
def needs_local_server(server):
    if server.external:
        pytest.skip("needs the admin command on the server's users file")


def session(server, user, pw):
    s = requests.Session()
    s.auth = (user, pw)
    s.base = server.url
    return s


def wait_status(s, expected, path="/", timeout=6.0):
    """The server re-reads the users file on change (at most once a
    second): poll until PROPFIND answers `expected`."""
    deadline = time.time() + timeout
    while True:
        st = propfind(s, path, [q(DAV, "current-user-principal")]).status_code
        if st == expected or time.time() > deadline:
            return st
        time.sleep(0.2)


def new_user(server, pw="first-pw", **kw):
    name = "u" + uuid.uuid4().hex[:8]
    server.add_user(name, pw, **kw)
    return name


def test_added_user_can_log_in(server):
    name = new_user(server)
    assert wait_status(session(server, name, "first-pw"), 207) == 207


def test_first_login_creates_home_and_visits(server):
    name = new_user(server)
    s = session(server, name, "first-pw")
    assert wait_status(s, 207) == 207
    cal = "/calendars/%s/visits/" % name
    rt = prop1(s, cal, q(DAV, "resourcetype"))
    assert rt.find(q(CAL, "calendar")) is not None
    ms = Multistatus(req(s, "PROPFIND", "/calendars/%s/" % name, None, {"Depth": "1"}))
    assert cal in ms.hrefs()
    put_ok(s, cal + "first.ics", event_ics())


def test_user_with_display_name_and_email(server):
    name = new_user(server, display="Frieda Fahrer", email="frieda@example.com")
    s = session(server, name, "first-pw")
    assert wait_status(s, 207) == 207
    p = "/principals/users/%s/" % name
    assert prop1(s, p, q(DAV, "displayname")).text == "Frieda Fahrer"
    hrefs = [h.text.strip() for h in prop1(s, p, q(CAL, "calendar-user-address-set"))
             .iter(q(DAV, "href"))]
    assert hrefs[0].lower() == "mailto:frieda@example.com", hrefs


def test_passwd_changes_the_password(server):
    name = new_user(server)
    old = session(server, name, "first-pw")
    assert wait_status(old, 207) == 207
    server.admin_cmd("user", "passwd", name, stdin="second-pw\n")
    assert wait_status(old, 401) == 401
    assert wait_status(session(server, name, "second-pw"), 207) == 207


def test_deleted_user_is_refused(server):
    name = new_user(server)
    s = session(server, name, "first-pw")
    assert wait_status(s, 207) == 207
    server.admin_cmd("user", "del", name)
    assert wait_status(s, 401) == 401


def test_purged_and_added_again_gets_a_new_home(server):
    """The server skips the provisioning check while nothing was written
    since it last found the user provisioned; the purge (another process's
    write) must end that, so the user's next login provisions again."""
    name = new_user(server)
    s = session(server, name, "first-pw")
    assert wait_status(s, 207) == 207
    cal = "/calendars/%s/visits/" % name
    put_ok(s, cal + "old.ics", event_ics())
    for _ in range(16):                      # new connections: every worker thread sees the user
        fresh = session(server, name, "first-pw")
        assert propfind(fresh, cal, [q(DAV, "resourcetype")]).status_code == 207
        fresh.close()
    server.admin_cmd("user", "del", name, "--purge")
    assert wait_status(s, 401) == 401
    server.add_user(name, "first-pw")
    assert wait_status(s, 207) == 207
    for _ in range(16):
        fresh = session(server, name, "first-pw")
        assert propfind(fresh, cal, [q(DAV, "resourcetype")]).status_code == 207
        assert req(fresh, "GET", cal + "old.ics").status_code == 404   # a new, empty calendar
        fresh.close()


def test_user_list_shows_users(server):
    name = new_user(server, display="Listed Person")
    out = server.admin_cmd("user", "list").stdout
    lines = [ln.split("\t") for ln in out.splitlines()]
    mine = [ln for ln in lines if ln[0] == name]
    assert mine and "Listed Person" in mine[0], out


def test_add_existing_user_fails(server):
    name = new_user(server)
    r = server.admin_cmd("user", "add", name, stdin="x-pw\n", check=False)
    assert r.returncode != 0
    assert wait_status(session(server, name, "first-pw"), 207) == 207


def test_bad_user_name_refused(server):
    for bad in (".hidden", "a:b", "with space", "x" * 65):
        r = server.admin_cmd("user", "add", bad, stdin="pw\n", check=False)
        assert r.returncode != 0, bad


def test_utf8_password(server):
    name = new_user(server, pw="pässwörd-华")
    s = session(server, name.encode(), "pässwörd-华".encode("utf-8"))
    assert wait_status(s, 207) == 207


def test_password_with_colons(server):
    name = new_user(server, pw="a:b:c")
    assert wait_status(session(server, name, "a:b:c"), 207) == 207
    s = session(server, name, "a:b")
    assert propfind(s, "/", [q(DAV, "current-user-principal")]).status_code == 401
