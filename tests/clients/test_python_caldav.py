"""python3-caldav (Debian's caldav library) used as a real client:
discover, create a calendar, save, search by date range, modify, delete,
and sync with sync tokens."""
from datetime import datetime, timedelta, timezone

import caldav
import pytest


def ics(uid, start, summary, minutes=60):
    end = start + timedelta(minutes=minutes)
    f = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//caldav//EN\r\n"
        "BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start.strftime(f)}\r\nDTEND:{end.strftime(f)}\r\n"
        f"SUMMARY:{summary}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture(scope="module")
def client(server):
    return caldav.DAVClient(url=server.url + "/", username="alice", password="alice-pw")


def test_discovery_finds_principal_and_default_calendar(client):
    principal = client.principal()
    assert principal.url.path.rstrip("/").endswith("/principals/users/alice")
    names = [c.url.path for c in principal.calendars()]
    assert "/calendars/alice/visits/" in names


def test_full_lifecycle(client):
    principal = client.principal()
    cal = principal.make_calendar(name="Client test", cal_id="pycaldav")
    assert cal.url.path == "/calendars/alice/pycaldav/"
    assert cal.get_display_name() == "Client test"

    base = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
    for i in range(5):
        cal.save_event(ics(f"py-{i}@test", base + timedelta(days=i), f"Visit {i}"))

    # Search by date range: days 1..2 inclusive -> events 1 and 2.
    found = cal.date_search(start=base + timedelta(days=1),
                            end=base + timedelta(days=3), expand=False)
    uids = sorted(e.icalendar_instance.walk("VEVENT")[0]["UID"] for e in found)
    assert uids == ["py-1@test", "py-2@test"]

    # Sync: take a token, then modify one event and delete another.
    state = cal.objects_by_sync_token(load_objects=False)
    token = state.sync_token
    assert token
    assert len(list(state)) == 5

    ev = cal.event_by_uid("py-3@test")
    ev.data = ev.data.replace("SUMMARY:Visit 3", "SUMMARY:Visit 3 moved")
    ev.save()
    assert "Visit 3 moved" in cal.event_by_uid("py-3@test").data

    cal.event_by_uid("py-4@test").delete()
    with pytest.raises(caldav.error.NotFoundError):
        cal.event_by_uid("py-4@test")

    changed = cal.objects_by_sync_token(sync_token=token, load_objects=False)
    paths = sorted(o.url.path for o in changed)
    assert len(paths) == 2, paths
    assert changed.sync_token != token

    # Everything left is there with its data.
    assert sorted(e.icalendar_instance.walk("VEVENT")[0]["UID"] for e in cal.events()) == \
        [f"py-{i}@test" for i in range(4)]

    cal.delete()
    assert "/calendars/alice/pycaldav/" not in [c.url.path for c in principal.calendars()]


def test_wrong_password_is_an_auth_error(server):
    bad = caldav.DAVClient(url=server.url + "/", username="alice", password="nope")
    with pytest.raises(caldav.error.AuthorizationError):
        bad.principal()
