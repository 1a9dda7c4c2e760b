"""vdirsyncer doing a two-way sync between visitdav and a local folder of
.ics files (a vdir): both directions, then a modification and a deletion
on each side."""
import glob
import os
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest
import requests

AUTH = ("alice", "alice-pw")


def event(uid, day, summary):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//vdir//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:202704{day:02d}T090000Z\r\nDTEND:202704{day:02d}T100000Z\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def setup(server):
    cal = server.url + "/calendars/alice/vdir/"
    r = requests.request("MKCALENDAR", cal, auth=AUTH)
    assert r.status_code == 201, r.text
    tmp = tempfile.mkdtemp(prefix="vdir-")
    local = os.path.join(tmp, "local")
    os.makedirs(local)
    cfg = os.path.join(tmp, "config")
    with open(cfg, "w") as f:
        f.write(f"""[general]
status_path = "{tmp}/status/"

[pair visits]
a = "local"
b = "remote"
collections = null
conflict_resolution = "b wins"

[storage local]
type = "filesystem"
path = "{local}/"
fileext = ".ics"

[storage remote]
type = "caldav"
url = "{cal}"
username = "alice"
password = "alice-pw"
""")
    yield cal, local, cfg
    requests.delete(cal, auth=AUTH)


def vdirsyncer(cfg, *args):
    r = subprocess.run(["vdirsyncer", "-c", cfg, *args], input="y\n" * 5,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"vdirsyncer {args} failed:\n{r.stdout}\n{r.stderr}"
    return r


def server_uids(cal):
    body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/>'
            '</C:comp-filter></C:filter></C:calendar-query>')
    r = requests.request("REPORT", cal, data=body, auth=AUTH,
                         headers={"Depth": "1", "Content-Type": "application/xml"})
    assert r.status_code == 207
    uids = []
    for data in ET.fromstring(r.content).iter("{urn:ietf:params:xml:ns:caldav}calendar-data"):
        uids += [line[4:].strip() for line in data.text.splitlines() if line.startswith("UID:")]
    return sorted(uids)


def local_uids(local):
    uids = []
    for p in glob.glob(os.path.join(local, "*.ics")):
        for line in open(p):
            if line.startswith("UID:"):
                uids.append(line[4:].strip())
    return sorted(uids)


def test_two_way_sync(setup):
    cal, local, cfg = setup
    for i in range(3):
        r = requests.put(f"{cal}srv-{i}.ics", data=event(f"srv-{i}@t", i + 1, f"Server {i}"),
                         auth=AUTH, headers={"Content-Type": "text/calendar"})
        assert r.status_code == 201
    for i in range(2):
        with open(os.path.join(local, f"loc-{i}.ics"), "w") as f:
            f.write(event(f"loc-{i}@t", i + 10, f"Local {i}"))

    vdirsyncer(cfg, "discover")
    vdirsyncer(cfg, "sync")
    want = sorted([f"srv-{i}@t" for i in range(3)] + [f"loc-{i}@t" for i in range(2)])
    assert server_uids(cal) == want
    assert local_uids(local) == want

    # Change on each side: delete one on the server, edit one locally.
    assert requests.delete(f"{cal}srv-0.ics", auth=AUTH).status_code == 204
    path = os.path.join(local, "loc-1.ics")
    text = open(path).read().replace("SUMMARY:Local 1", "SUMMARY:Local 1 edited")
    with open(path, "w") as f:
        f.write(text)
    vdirsyncer(cfg, "sync")

    want.remove("srv-0@t")
    assert server_uids(cal) == want
    assert local_uids(local) == want
    r = requests.request("REPORT", cal, auth=AUTH, headers={"Depth": "1"}, data=(
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        '<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match>'
        'Local 1 edited</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter>'
        '</C:filter></C:calendar-query>'))
    assert r.status_code == 207 and "loc-1@t" in r.text

    # A second sync with no changes changes nothing.
    vdirsyncer(cfg, "sync")
    assert server_uids(cal) == want and local_uids(local) == want
