"""The access log (config access_log): one line per request with the
status, the body size, the time the server took (milliseconds with three
decimals: most requests take well under one) and the user."""
import re
import time

import pytest
import requests

from vdserver import VisitdavServer

USERS = {"ana": "ana-pw"}
LINE = re.compile(r'^(\d{8}T\d{6}Z) "(\S+) (\S+)" (\d{3}) (\d+) (\d+)\.(\d{3})ms (\S+)$')


@pytest.fixture(scope="module")
def logged():
    srv = VisitdavServer(extra_config="access_log = -\n", users=USERS)
    if srv.external:
        pytest.skip("needs a server started with its own configuration")
    srv.start()
    yield srv
    srv.stop()


def log_lines(srv, path):
    for _ in range(20):
        got = [m for m in (LINE.match(ln) for ln in srv.read_log().splitlines()) if m and m.group(3) == path]
        if got:
            return got
        time.sleep(0.05)
    return []


def test_line_per_request_with_status_bytes_duration_user(logged):
    url = logged.url + "/calendars/ana/"
    r = requests.request("PROPFIND", url, auth=("ana", "ana-pw"), headers={"Depth": "0"})
    assert r.status_code == 207
    lines = log_lines(logged, "/calendars/ana/")
    assert len(lines) == 1, logged.read_log()[-2000:]
    m = lines[0]
    assert m.group(2) == "PROPFIND" and m.group(4) == "207" and m.group(8) == "ana"
    assert int(m.group(5)) == len(r.content)
    ms = int(m.group(6)) + int(m.group(7)) / 1000
    assert 0 < ms < 10000, m.group(0)      # microsecond resolution: never a flat 0ms


def test_unauthenticated_and_missing(logged):
    r = requests.get(logged.url + "/calendars/ana/nothing-here.ics")
    assert r.status_code == 401
    m = log_lines(logged, "/calendars/ana/nothing-here.ics")
    assert m and m[0].group(4) == "401" and m[0].group(8) == "-"
    r = requests.get(logged.url + "/calendars/ana/visits/none.ics", auth=("ana", "ana-pw"))
    assert r.status_code == 404
    m = log_lines(logged, "/calendars/ana/visits/none.ics")
    assert m and m[0].group(4) == "404" and m[0].group(8) == "ana"
