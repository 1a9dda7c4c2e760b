"""`visitdavd --demo` with conf/demo.conf (what `./dev.sh start` runs): the
seeded visits go through the visit rules like any PUT, so the README's
promises hold: alice's and carol's visits to ACME on one day are flagged,
alice sees bob's visits masked, and the team calendar is there."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
import requests

from vdserver import SRC, _find_binary, free_port

CONF = os.path.join(SRC, "conf")


@pytest.fixture(scope="module")
def demo():
    if os.environ.get("VISITDAV_URL"):
        pytest.skip("needs a server started with --demo")
    tmp = tempfile.mkdtemp(prefix="visitdav-demo-")
    cfg = os.path.join(tmp, "demo.conf")
    with open(cfg, "w") as f:               # conf/demo.conf with absolute paths
        f.write(f"acl = {CONF}/acl.conf.example\ncustomers = {CONF}/customers.csv.example\n"
                f"rules = {CONF}/rules.conf.example\nstore.no_sync = true\n")
    port = free_port()
    log = open(os.path.join(tmp, "log"), "w+")
    proc = subprocess.Popen([_find_binary("VISITDAVD", "visitdavd"), "--config", cfg,
                             "--data", os.path.join(tmp, "data"), "--demo",
                             "--listen", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.options(url + "/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    code = proc.wait(timeout=10)
    log.seek(0)
    text = log.read()
    shutil.rmtree(tmp, ignore_errors=True)
    assert code == 0 and "runtime error:" not in text and "Sanitizer" not in text, text[-3000:]


def ics(url, user, path):
    r = requests.get(url + path, auth=(user, "demo"))
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.text


def test_colliding_demo_visits_are_flagged(demo):
    alice = ics(demo, "alice", "/calendars/alice/visits/")
    carol = ics(demo, "carol", "/calendars/carol/visits/")
    assert "SUMMARY:[CONFLICT] Visit: ACME GmbH" in alice
    assert "SUMMARY:[CONFLICT] Visit: ACME GmbH" in carol
    assert re.search(r"X-VISIT-CONFLICT;X-RULE=customer-overlap;X-OTHER-OWNER=carol", alice.replace("\r\n ", ""))
    r = requests.get(demo + "/api/v1/conflicts", auth=("carol", "demo"))
    assert r.status_code == 200
    got = {(c["owner"], c["other_owner"], c["rule"]) for c in r.json()["conflicts"]}
    assert got == {("alice", "carol", "customer-overlap"), ("carol", "alice", "customer-overlap")}


def test_only_the_collision_is_flagged(demo):
    bob = ics(demo, "bob", "/calendars/bob/visits/")
    assert bob.count("BEGIN:VEVENT") == 3 and "[CONFLICT]" not in bob


def test_teammate_masked_and_team_calendar(demo):
    bob_seen = ics(demo, "alice", "/calendars/alice/user-bob~visits/")
    assert "ACME GmbH" in bob_seen                      # customer and time stay
    assert "Service check of the installed line." not in bob_seen   # details do not
    team = ics(demo, "alice", "/teams/east/visits/")
    assert team.count("BEGIN:VEVENT") >= 6
