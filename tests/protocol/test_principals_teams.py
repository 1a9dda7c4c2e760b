"""Group principals for the ACL's teams (issue 4): /principals/teams/<team>/
(resourcetype principal, displayname, group-member-set = the members' and
managers' principals, principal-URL, calendar-user-type GROUP), a user's
DAV:group-membership, /principals/teams/ with principal-collection-set
naming it, and principal-property-search / principal-search-property-set
(RFC 3744 9.4, 9.5) over users and teams so clients find colleagues.

Written from the brief, RFC 3744 and server/server.h, not from props.c.
"""
import os
import signal
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from helpers import (CAL, CS, DAV, XML_CT, ExtraUserServer, Multistatus, propfind_ms, q, req)

ACL = """
[team east]
members = alice, bob
managers = carol

[team west]
members = dan, erin
managers = frank

# a manager who is also a member: listed once
[team field]
members = zoe
managers = zoe, frank

[role exec]
members = grace

[rules]
allow read-free-busy on /calendars/*/** to everyone
"""
USERS = {u: u + "-pw" for u in ("alice", "bob", "carol", "dan", "erin", "frank", "grace", "zoe")}
DETAILS = {
    "alice": {"display": "Alice Archer", "email": "alice@east.example"},
    "bob": {"display": "Bob Baker", "email": "bob@east.example"},
    "carol": {"display": "Carol Chief", "email": "carol@east.example"},
    "dan": {"display": "Dan Driver", "email": "dan@west.example"},
}
TEAMS = "/principals/teams/"


def princ(u):
    return "/principals/users/%s/" % u


def team(t):
    return TEAMS + t + "/"


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    d = tmp_path_factory.mktemp("teams-acl")
    acl = os.path.join(str(d), "acl.conf")
    with open(acl, "w", encoding="utf-8") as f:
        f.write(ACL)
    srv = ExtraUserServer(USERS, DETAILS, extra_config="acl = %s\n" % acl)
    srv.start()
    srv.acl_path = acl
    yield srv
    srv.stop()


def session(srv, user):
    s = requests.Session()
    s.auth = (user, USERS[user])
    s.base = srv.url
    return s


def hrefs(r, clark):
    return sorted(r.hrefs_in(clark))


# ---------------------------------------------------------------- group principals
def test_a_team_is_a_group_principal(org):
    p = team("east")
    r = propfind_ms(session(org, "alice"), p, [
        q(DAV, "resourcetype"), q(DAV, "displayname"), q(DAV, "group-member-set"),
        q(DAV, "principal-URL"), q(CAL, "calendar-user-type"), q(DAV, "group-membership"),
        q(CAL, "calendar-home-set"), q(CAL, "schedule-outbox-URL"),
        q(DAV, "current-user-privilege-set")]).get(p)
    rt = r.prop(q(DAV, "resourcetype"))
    assert rt.find(q(DAV, "principal")) is not None
    assert rt.find(q(CAL, "calendar")) is None
    assert r.text(q(DAV, "displayname")) == "east"
    assert hrefs(r, q(DAV, "group-member-set")) == sorted(map(princ, ("alice", "bob", "carol")))
    assert r.hrefs_in(q(DAV, "principal-URL")) == [p]
    assert r.text(q(CAL, "calendar-user-type")) == "GROUP"
    assert r.hrefs_in(q(DAV, "group-membership")) == []     # teams do not nest
    # a team has no calendars and sends no free-busy requests
    assert r.prop_status(q(CAL, "calendar-home-set")) == 404
    assert r.prop_status(q(CAL, "schedule-outbox-URL")) == 404
    privs = r.prop(q(DAV, "current-user-privilege-set"))
    names = {p.tag for pr in privs for p in pr}
    assert q(DAV, "read") in names and q(DAV, "write") not in names


def test_a_manager_who_is_a_member_is_listed_once(org):
    r = propfind_ms(session(org, "erin"), team("field"), [q(DAV, "group-member-set")]).get(team("field"))
    assert r.hrefs_in(q(DAV, "group-member-set")) and \
        sorted(r.hrefs_in(q(DAV, "group-member-set"))) == [princ("frank"), princ("zoe")]


@pytest.mark.parametrize("user,teams", [
    ("alice", ["east"]),
    ("carol", ["east"]),                 # managers are in the group too
    ("frank", ["west", "field"]),
    ("zoe", ["field"]),
    ("grace", []),                       # a role is not a team
])
def test_group_membership_of_users(org, user, teams):
    p = princ(user)
    r = propfind_ms(session(org, "bob"), p, [q(DAV, "group-membership")]).get(p)
    assert r.prop_status(q(DAV, "group-membership")) == 200
    assert sorted(r.hrefs_in(q(DAV, "group-membership"))) == sorted(map(team, teams))


def test_every_member_of_a_group_lists_it_back(org):
    s = session(org, "grace")
    for t in ("east", "west", "field"):
        members = propfind_ms(s, team(t), [q(DAV, "group-member-set")]).get(team(t)) \
            .hrefs_in(q(DAV, "group-member-set"))
        assert members
        for m in members:
            back = propfind_ms(s, m, [q(DAV, "group-membership")]).get(m)
            assert team(t) in back.hrefs_in(q(DAV, "group-membership")), (t, m)


@pytest.mark.parametrize("path", [team("nosuch"), TEAMS + "east/x/", TEAMS + "alice/"])
def test_no_such_team(org, path):
    r = req(session(org, "alice"), "PROPFIND", path, headers={"Depth": "0"})
    assert r.status_code == 404, (path, r.status_code)


def test_team_principals_need_authentication(org):
    for p in (TEAMS, team("east")):
        r = requests.request("PROPFIND", org.url + p, headers={"Depth": "0"}, timeout=60)
        assert r.status_code == 401


# ---------------------------------------------------------------- the collection
def test_the_team_principal_collection(org):
    s = session(org, "dan")
    r = propfind_ms(s, TEAMS, [q(DAV, "resourcetype"), q(DAV, "current-user-privilege-set")]).get(TEAMS)
    rt = r.prop(q(DAV, "resourcetype"))
    assert rt.find(q(DAV, "collection")) is not None
    assert rt.find(q(DAV, "principal")) is None


def test_the_team_principal_collection_lists_the_teams(org):
    ms = propfind_ms(session(org, "dan"), TEAMS, [q(DAV, "displayname")], depth="1")
    assert ms.hrefs() == {TEAMS, team("east"), team("west"), team("field")}


@pytest.mark.parametrize("path", [princ("alice"), "/", "/calendars/alice/"])
def test_principal_collection_set_names_users_and_teams(org, path):
    s = session(org, "alice")
    req(s, "PROPFIND", "/calendars/alice/", headers={"Depth": "0"})
    r = propfind_ms(s, path, [q(DAV, "principal-collection-set")]).get(path)
    assert sorted(r.hrefs_in(q(DAV, "principal-collection-set"))) == \
        ["/principals/teams/", "/principals/users/"]


def test_teams_follow_an_acl_reload(org):
    with open(org.acl_path, encoding="utf-8") as f:
        original = f.read()
    s = session(org, "alice")
    try:
        with open(org.acl_path, "w", encoding="utf-8") as f:
            f.write(original.replace("[team west]", "[team north]"))
        org.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and \
                req(s, "PROPFIND", team("north"), headers={"Depth": "0"}).status_code != 207:
            time.sleep(0.2)
        assert req(s, "PROPFIND", team("north"), headers={"Depth": "0"}).status_code == 207
        assert req(s, "PROPFIND", team("west"), headers={"Depth": "0"}).status_code == 404
        r = propfind_ms(s, princ("dan"), [q(DAV, "group-membership")]).get(princ("dan"))
        assert r.hrefs_in(q(DAV, "group-membership")) == [team("north")]
    finally:
        with open(org.acl_path, "w", encoding="utf-8") as f:
            f.write(original)
        org.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and \
                req(s, "PROPFIND", team("west"), headers={"Depth": "0"}).status_code != 207:
            time.sleep(0.2)


def test_without_an_acl_file_there_are_no_teams(server):
    s = requests.Session()
    s.auth = ("alice", "alice-pw")
    s.base = server.url
    r = propfind_ms(s, princ("alice"), [q(DAV, "group-membership")]).get(princ("alice"))
    assert r.prop_status(q(DAV, "group-membership")) == 200
    assert r.hrefs_in(q(DAV, "group-membership")) == []
    assert req(s, "PROPFIND", TEAMS, headers={"Depth": "0"}).status_code == 207
    assert req(s, "PROPFIND", team("east"), headers={"Depth": "0"}).status_code == 404


# ---------------------------------------------------------------- searching
def search(s, path, conds, props=(q(DAV, "displayname"),), anyof=False):
    body = ['<?xml version="1.0" encoding="utf-8"?><D:principal-property-search xmlns:D="DAV:" '
            'xmlns:C="%s" xmlns:CS="%s"%s>' % (CAL, CS, ' test="anyof"' if anyof else "")]
    for prop, match in conds:
        ns, local = prop[1:].split("}")
        prefix = {DAV: "D", CAL: "C", CS: "CS"}[ns]
        body.append("<D:property-search><D:prop><%s:%s/></D:prop><D:match>%s</D:match>"
                    "</D:property-search>" % (prefix, local, match))
    body.append("<D:prop>%s</D:prop></D:principal-property-search>" % "".join(
        "<%s:%s/>" % ({DAV: "D", CAL: "C", CS: "CS"}[p[1:].split("}")[0]], p.split("}")[1])
        for p in props))
    r = req(s, "REPORT", path, "".join(body), {"Depth": "0", "Content-Type": XML_CT})
    return Multistatus(r)


@pytest.mark.parametrize("path", ["/principals/", "/", princ("bob")])
def test_search_by_name_finds_teams_and_people(org, path):
    s = session(org, "bob")
    assert search(s, path, [(q(DAV, "displayname"), "east")]).hrefs() == {team("east")}
    assert search(s, path, [(q(DAV, "displayname"), "ALICE")]).hrefs() == {princ("alice")}
    # "er" is in Alice Archer, Bob Baker, Dan Driver, erin and west... not in "east"
    got = search(s, path, [(q(DAV, "displayname"), "er")]).hrefs()
    assert got == {princ("alice"), princ("bob"), princ("dan"), princ("erin")}


def test_search_by_address(org):
    s = session(org, "dan")
    ms = search(s, "/principals/", [(q(CAL, "calendar-user-address-set"), "mailto:carol@east.example")],
                props=(q(DAV, "displayname"), q(CAL, "calendar-user-address-set")))
    assert ms.hrefs() == {princ("carol")}
    addrs = [h.text for h in ms.get(princ("carol")).prop(q(CAL, "calendar-user-address-set"))]
    assert addrs[0] == "mailto:carol@east.example"
    ms = search(s, "/principals/", [(q(CS, "email-address-set"), "east.example")])
    assert ms.hrefs() == {princ("alice"), princ("bob"), princ("carol")}
    ms = search(s, "/principals/", [(q(CAL, "calendar-user-address-set"), "/principals/teams/we")])
    assert ms.hrefs() == {team("west")}


def test_search_within_one_principal_collection(org):
    s = session(org, "alice")
    assert search(s, TEAMS, [(q(DAV, "displayname"), "e")]).hrefs() == \
        {team("east"), team("west"), team("field")}
    users = search(s, "/principals/users/", [(q(DAV, "displayname"), "e")]).hrefs()
    assert users and all(h.startswith("/principals/users/") for h in users)
    assert team("east") not in users


def test_search_anyof_and_allof(org):
    s = session(org, "alice")
    conds = [(q(DAV, "displayname"), "field"), (q(DAV, "displayname"), "Bob")]
    assert search(s, "/principals/", conds, anyof=True).hrefs() == {team("field"), princ("bob")}
    assert search(s, "/principals/", conds).hrefs() == set()


def test_found_teams_carry_their_members(org):
    ms = search(session(org, "zoe"), "/principals/", [(q(DAV, "displayname"), "west")],
                props=(q(DAV, "displayname"), q(DAV, "group-member-set"), q(DAV, "resourcetype")))
    r = ms.get(team("west"))
    assert sorted(r.hrefs_in(q(DAV, "group-member-set"))) == \
        sorted(map(princ, ("dan", "erin", "frank")))


def test_principal_search_property_set(org):
    for path in (TEAMS, "/principals/users/", princ("alice")):
        r = req(session(org, "alice"), "REPORT", path,
                '<?xml version="1.0" encoding="utf-8"?>'
                '<D:principal-search-property-set xmlns:D="DAV:"/>',
                {"Depth": "0", "Content-Type": XML_CT})
        assert r.status_code == 200, (path, r.status_code)
        root = ET.fromstring(r.content)
        assert root.tag == q(DAV, "principal-search-property-set")
        props = {p.tag for sp in root.findall(q(DAV, "principal-search-property"))
                 for p in sp.find(q(DAV, "prop"))}
        assert {q(DAV, "displayname"), q(CAL, "calendar-user-address-set")} <= props
