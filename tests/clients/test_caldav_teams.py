"""python3-caldav (caldav 0.11) as alice, a rep of team east
(tests/data/teams/acl.conf, issue 4): starting from the server URL alone,
the library discovers the team calendar "East visits" in her own calendar
home (principal -> calendar-home-set -> calendars()), lists her own visit
in full and her teammate bob's masked, and every attempt to save into it
or delete from it is an error for the library (a 403: caldav 0.11 raises
caldav.error.AuthorizationError).  dan, of team west, finds no east
calendar.  Owns its server, not the conftest's."""
import os
import sys

import caldav
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "protocol"))
from teams_helpers import USERS, login, put, session, teams_server, unfolded, visit  # noqa: E402
from helpers import req  # noqa: E402

A1 = "/calendars/alice/visits/a1.ics"
B1 = "/calendars/bob/visits/b1.ics"


@pytest.fixture(scope="module")
def srv():
    with teams_server() as s:
        for u in ("alice", "bob", "dan"):
            login(session(s, u))
        assert put(session(s, "alice"), A1, visit("a1@caldav.teams", "20270301", "ACME Industrial",
                                                  "alicesecret-1")).status_code == 201
        assert put(session(s, "bob"), B1, visit("b1@caldav.teams", "20270302", "Globex Partners",
                                                "bobsecret-2")).status_code == 201
        yield s


def calendars_of(srv, user):
    client = caldav.DAVClient(url=srv.url + "/", username=user, password=USERS[user])
    return {str(c.url): c for c in client.principal().calendars()}


def team_calendar(srv, user, team="east"):
    cals = calendars_of(srv, user)
    found = [c for url, c in cals.items() if url.rstrip("/").endswith("/team-%s-visits" % team)]
    assert len(found) == 1, "team calendar not found among %s" % sorted(cals)
    return found[0]


def test_rep_discovers_the_team_calendar_in_her_home(srv):
    cals = calendars_of(srv, "alice")
    urls = [u for u in cals if "/calendars/alice/" in u]
    assert len(urls) == len(cals), "a calendar outside the home: %s" % sorted(cals)
    cal = team_calendar(srv, "alice")
    assert cal.get_display_name() == "East visits"


def test_team_calendar_lists_own_full_and_teammates_masked(srv):
    events = team_calendar(srv, "alice").events()
    by_uid = {str(e.icalendar_component["UID"]): e for e in events}
    assert set(by_uid) == {"a1@caldav.teams", "b1@caldav.teams"}, sorted(by_uid)
    assert "alicesecret-1" in unfolded(by_uid["a1@caldav.teams"].data)
    bob = by_uid["b1@caldav.teams"].icalendar_component
    assert str(bob["SUMMARY"]) == "Visit: Globex Partners"
    assert "bobsecret-2" not in unfolded(by_uid["b1@caldav.teams"].data)
    assert "DESCRIPTION" not in bob and "LOCATION" not in bob


def test_rep_cannot_write_to_the_team_calendar(srv):
    cal = team_calendar(srv, "alice")
    with pytest.raises(caldav.error.AuthorizationError):
        cal.save_event(visit("new@caldav.teams", "20270305", "ACME Industrial", "x"))
    own = [e for e in cal.events() if str(e.icalendar_component["UID"]) == "a1@caldav.teams"][0]
    with pytest.raises(caldav.error.AuthorizationError):
        own.delete()
    r = req(session(srv, "alice"), "GET", A1)
    assert r.status_code == 200 and "alicesecret-1" in r.text
    uids = {str(e.icalendar_component["UID"]) for e in cal.events()}
    assert uids == {"a1@caldav.teams", "b1@caldav.teams"}


def test_other_team_finds_no_east_calendar(srv):
    cals = calendars_of(srv, "dan")
    assert not any("team-east" in u for u in cals), sorted(cals)
    assert any(u.rstrip("/").endswith("team-west-visits") for u in cals), sorted(cals)
