"""The ACL file as ops live with it (issue 4, lib/acl.h): SIGHUP reloads
it; a file that fails to parse (or is gone) leaves the rules in force
unchanged, logs "path:line:column: reason" and never applies any of its
lines; a fixed file takes effect without a restart.  `visitdav acl check
FILE` reports errors with line and column (exit 1) and accepts good files
(exit 0); `visitdav acl explain USER METHOD PATH` names the deciding rule
with its line.

Each reload test runs its own server on a copy of the ACL file in a
temporary directory (tests/data/acl/reload-*.conf, broken-*.conf).
"""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from acl_helpers import (ALICE_CAL, MASKED, NOALARM, PUB, acl_file, acl_server, check_view,
                         login, make_server, put, scratch_ics, scratch_name, session)
from helpers import req
from vdserver import SRC, _find_binary

# broken file -> (text that finds the bad line, the span on that line the
# column must point into: the offending construct)
BROKEN = {
    "privilege": ("reed", "read, reed"),
    "subject": ("teem", "teem east"),
    "relative": ("on calendars/", "calendars/{user}/**"),
    "variable": ("{usr}", "/calendars/{usr}/**"),
    "globstar": ("**/visits", "/calendars/**/visits/"),
    "keyword": (" at ", "read at /calendars/{user}/** to everyone"),
    "section": ("[team west", "[team west"),
}
GOOD = ["acl.conf", "reload-a.conf", "reload-b.conf", "reload-none.conf"]
WAIT = 10.0


def broken_file(name):
    return acl_file("broken-%s.conf" % name)


def bad_position(name):
    """(line, first column, last column) of the error in broken-NAME.conf
    (1-based; the column may also point just past the span's end)."""
    marker, span = BROKEN[name]
    with open(broken_file(name), encoding="utf-8") as f:
        lines = f.read().split("\n")
    hits = [i for i, line in enumerate(lines) if marker in line]
    assert len(hits) == 1, "marker %r found on %d lines" % (marker, len(hits))
    text = lines[hits[0]]
    start = text.index(span) + 1
    return hits[0] + 1, start, start + len(span)


def assert_position(output, path, name):
    """output names path:line:column of broken-NAME.conf's error."""
    line, first, last = bad_position(name)
    found = re.findall(re.escape(path) + r":(\d+):(\d+)", output)
    assert found, "no %s:LINE:COLUMN in:\n%s" % (path, output[-3000:])
    got_line, col = int(found[0][0]), int(found[0][1])
    assert got_line == line, "error reported on line %d, the bad line is %d:\n%s" % (
        got_line, line, output[-3000:])
    assert first <= col <= last, "column %d is outside the offending text (columns %d-%d):\n%s" % (
        col, first, last, output[-3000:])


# ---------------------------------------------------------------- reload
class Live:
    """A server on a copy of reload-a.conf; alice's public visit seeded."""

    def __init__(self, srv, path):
        self.srv, self.path = srv, path
        self.s = {u: session(srv, u) for u in ("alice", "bob", "carol", "dan")}
        self.pid = srv.proc.pid

    def install(self, src):
        """Replace the ACL file's content (atomically, as an editor would)."""
        tmp = self.path + ".new"
        shutil.copyfile(src, tmp)
        os.replace(tmp, self.path)

    def hup(self):
        """SIGHUP; returns the log offset from which the reload's lines start."""
        mark = len(self.srv.read_log())
        self.srv.signal(signal.SIGHUP)
        return mark

    def log_since(self, mark):
        return self.srv.read_log()[mark:]

    def wait_log(self, mark, pattern):
        deadline = time.time() + WAIT
        while time.time() < deadline:
            if re.search(pattern, self.log_since(mark)):
                return self.log_since(mark)
            time.sleep(0.05)
        raise AssertionError("after SIGHUP the log never matched %r; it says:\n%s" % (
            pattern, self.log_since(mark)[-3000:]))

    def wait_for(self, what, cond):
        deadline = time.time() + WAIT
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise AssertionError("after SIGHUP: %s did not happen within %.0f s" % (what, WAIT))

    def get(self, user, path=PUB.href):
        return req(self.s[user], "GET", path)

    def running(self):
        assert self.srv.proc.poll() is None, "visitdavd exited:\n" + self.srv.read_log()[-3000:]
        assert self.srv.proc.pid == self.pid


@pytest.fixture
def live(tmp_path):
    path = str(tmp_path / "acl.conf")
    shutil.copyfile(acl_file("reload-a.conf"), path)
    srv = make_server(path)
    srv.start()
    try:
        lv = Live(srv, path)
        for s in lv.s.values():
            login(s)
        r = put(lv.s["alice"], PUB.href, PUB.text)
        assert r.status_code == 201, r.text
        yield lv
    finally:
        srv.stop()


def assert_rules_of_a(lv):
    """A is in force: bob reads alice's visit masked, dan reads nothing
    and writes nothing, bob writes nothing."""
    r = lv.get("bob")
    assert r.status_code == 200, "bob lost his masked read: %d %s" % (r.status_code, r.text)
    check_view(MASKED, PUB, r.text, "bob under rules A")
    r = lv.get("dan")
    assert r.status_code in (403, 404), "dan reads alice's visit: %d %s" % (
        r.status_code, r.text[:500])
    for user in ("dan", "bob"):
        href = ALICE_CAL + scratch_name()
        r = put(lv.s[user], href, scratch_ics())
        assert r.status_code == 403, "%s PUT into alice's calendar: %d" % (user, r.status_code)


def test_rules_a_in_force_at_start(live):
    assert_rules_of_a(live)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_keeps_the_rules_in_force(live, name):
    live.install(broken_file(name))
    mark = live.hup()
    log = live.wait_log(mark, re.escape(live.path) + r":\d+:\d+")
    assert_position(log, live.path, name)
    live.running()
    # none of the broken file's lines applies: not "read on /**", not
    # "write on /**", and the old masked read is still there
    assert_rules_of_a(live)


def test_missing_file_keeps_the_rules_in_force(live):
    os.unlink(live.path)
    mark = live.hup()
    live.wait_log(mark, re.escape(live.path))
    live.running()
    assert_rules_of_a(live)


def test_fixed_file_takes_effect_without_restart(live):
    live.install(broken_file("privilege"))
    mark = live.hup()
    live.wait_log(mark, re.escape(live.path) + r":\d+:\d+")
    assert_rules_of_a(live)

    live.install(acl_file("reload-b.conf"))
    live.hup()
    live.wait_for("dan's new read grant", lambda: live.get("dan").status_code == 200)
    live.running()
    # dan reads (read-only: no VALARM), bob still reads masked
    check_view(NOALARM, PUB, live.get("dan").text, "dan under rules B")
    check_view(MASKED, PUB, live.get("bob").text, "bob under rules B")
    href = ALICE_CAL + scratch_name()
    assert put(live.s["dan"], href, scratch_ics()).status_code == 403, "read granted write"


def test_removed_grant_takes_effect_without_restart(live):
    assert_rules_of_a(live)
    live.install(acl_file("reload-none.conf"))
    live.hup()
    live.wait_for("the removal of bob's masked read",
                  lambda: live.get("bob").status_code in (403, 404))
    live.running()
    r = live.get("bob")
    assert "BEGIN:VEVENT" not in r.text
    # the owner keeps every right on her own home (the built-in rule)
    assert live.get("alice").status_code == 200
    href = ALICE_CAL + scratch_name()
    assert put(live.s["alice"], href, scratch_ics()).status_code == 201


@pytest.mark.parametrize("what", ["broken", "missing"])
def test_a_bad_file_at_start_never_fails_open(tmp_path, what):
    """At start a broken or missing ACL file either stops the server (with
    the error named) or leaves it denying: never open."""
    path = str(tmp_path / "acl.conf")
    if what == "broken":
        shutil.copyfile(broken_file("privilege"), path)
    srv = make_server(path)
    try:
        try:
            srv.start()
        except RuntimeError as e:
            if what == "broken":
                assert_position(str(e), path, "privilege")
            else:
                assert path in str(e), str(e)[-3000:]
            return
        alice, bob = session(srv, "alice"), session(srv, "bob")
        login(alice)
        assert put(alice, PUB.href, PUB.text).status_code == 201
        r = req(bob, "GET", PUB.href)
        assert r.status_code in (403, 404), "bob reads alice's visit: %d" % r.status_code
        r = put(bob, ALICE_CAL + scratch_name(), scratch_ics())
        assert r.status_code == 403, "bob writes into alice's calendar: %d" % r.status_code
    finally:
        srv.stop()


# ---------------------------------------------------------------- acl check
def acl_cmd(*args, config=None):
    admin = _find_binary("VISITDAV_ADMIN", "visitdav")
    cmd = [admin] + (["--config", config] if config else []) + ["acl"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", GOOD + ["conf/acl.conf.example"])
def test_acl_check_accepts_a_good_file(name):
    path = os.path.join(SRC, name) if "/" in name else acl_file(name)
    if not os.path.exists(path):
        pytest.skip("%s does not exist" % path)
    r = acl_cmd("check", path)
    assert r.returncode == 0, "acl check %s: exit %d\n%s%s" % (name, r.returncode, r.stdout,
                                                              r.stderr)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_acl_check_reports_line_and_column(name):
    path = broken_file(name)
    r = acl_cmd("check", path)
    assert r.returncode == 1, "acl check %s: exit %d\n%s%s" % (name, r.returncode, r.stdout,
                                                              r.stderr)
    assert_position(r.stdout + r.stderr, path, name)


def test_acl_check_of_a_missing_file_fails(tmp_path):
    path = str(tmp_path / "nope.conf")
    r = acl_cmd("check", path)
    assert r.returncode == 1, "exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr)
    assert path in r.stdout + r.stderr


# ---------------------------------------------------------------- acl explain
def rule_line(text):
    """(line number, text) of the rule in acl.conf that contains text."""
    with open(acl_file("acl.conf"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    hits = [(i + 1, line.strip()) for i, line in enumerate(lines)
            if line.startswith("allow") and text in line]
    assert len(hits) == 1, text
    return hits[0]


TEAMMATE = rule_line("{teammate}")
MANAGER = rule_line("{report}")
FREEBUSY = rule_line("read-free-busy")
EXEC = rule_line("role exec")


@pytest.fixture(scope="module")
def org_srv():
    with acl_server() as srv:
        yield srv


def squash(s):
    return re.sub(r"\s+", " ", s)


@pytest.mark.parametrize("user,method,path,rule", [
    ("bob", "PROPFIND", "/calendars/alice/visits/", TEAMMATE),
    ("bob", "GET", "/calendars/alice/visits/a.ics", TEAMMATE),
    ("carol", "PUT", "/calendars/alice/visits/a.ics", MANAGER),
    ("carol", "DELETE", "/calendars/bob/visits/a.ics", MANAGER),
    ("grace", "GET", "/calendars/frank/visits/a.ics", EXEC),
])
def test_acl_explain_names_the_deciding_rule(org_srv, user, method, path, rule):
    r = org_srv.admin_cmd("acl", "explain", user, method, path, check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 0, "acl explain %s %s %s: exit %d\n%s" % (
        user, method, path, r.returncode, out)
    line, text = rule
    assert re.search(r"(?<!\d)%d(?!\d)" % line, out), \
        "the deciding rule's line %d is not named:\n%s" % (line, out)
    assert squash(text) in squash(out), "the deciding rule %r is not quoted:\n%s" % (text, out)
    needed = "write" if method in ("PUT", "DELETE") else "read"
    assert re.search(r"\b%s" % needed, out), "the needed privilege is not named:\n" + out


@pytest.mark.parametrize("user,method,path,needed", [
    ("dan", "PROPFIND", "/calendars/alice/visits/", "read"),
    ("bob", "PUT", "/calendars/alice/visits/a.ics", "write"),
])
def test_acl_explain_a_denial(org_srv, user, method, path, needed):
    """dan may only see alice's busy time, bob may not write there: the
    explanation runs and names the privilege the method needs."""
    r = org_srv.admin_cmd("acl", "explain", user, method, path, check=False)
    out = r.stdout + r.stderr
    assert r.returncode in (0, 1), "acl explain: exit %d\n%s" % (r.returncode, out)
    assert re.search(r"\b%s\b" % needed, out), "the needed privilege %r is not named:\n%s" % (
        needed, out)
