"""PROPPATCH (RFC 4918 9.2): dead properties round-trip exactly (namespace,
attributes, children, text), remove, protected properties and atomicity,
ctag changes.  Checklist 2.3 item 27."""
import xml.etree.ElementTree as ET

import pytest

from helpers import (APPLE, CAL, CS, DAV, XML_CT, Multistatus, event_ics, getctag,
                     home, new_calendar, propfind, propfind_ms, put_ok, q, req,
                     tz_calendar, tz_ny)

CUSTOM = "urn:x-example:visit-props"


def proppatch(s, path, set_xml="", remove_xml="", ns_decls=""):
    body = '<?xml version="1.0" encoding="utf-8"?>\n<D:propertyupdate xmlns:D="DAV:" %s>' % ns_decls
    if set_xml:
        body += "<D:set><D:prop>%s</D:prop></D:set>" % set_xml
    if remove_xml:
        body += "<D:remove><D:prop>%s</D:prop></D:remove>" % remove_xml
    body += "</D:propertyupdate>"
    return req(s, "PROPPATCH", path, body, {"Content-Type": XML_CT})


def patch_ok(s, path, set_xml="", remove_xml="", ns_decls="", expect=()):
    ms = Multistatus(proppatch(s, path, set_xml, remove_xml, ns_decls))
    r = ms.get(path)
    for name in expect:
        assert r.prop_status(name) == 200, (name, r.prop_status(name))
    assert all(ps.status == 200 for ps in r.propstats), [ps.status for ps in r.propstats]
    return r


def same_element(a, b):
    """Deep equality of two elements: tag (namespace + local name),
    attributes, text and children in order.  Prefixes are not semantic."""
    assert a.tag == b.tag, (a.tag, b.tag)
    assert a.attrib == b.attrib, (a.tag, a.attrib, b.attrib)
    assert (a.text or "") == (b.text or ""), (a.tag, a.text, b.text)
    assert len(a) == len(b), (a.tag, [c.tag for c in a], [c.tag for c in b])
    for ca, cb in zip(a, b):
        same_element(ca, cb)
        assert (ca.tail or "") == (cb.tail or ""), (ca.tag, ca.tail, cb.tail)


def roundtrip(s, path, xml_fragment, ns_decls=""):
    """Set the property written as xml_fragment and check PROPFIND returns
    an identical element."""
    wrapper = '<D:prop xmlns:D="DAV:" %s>%s</D:prop>' % (ns_decls, xml_fragment)
    sent = ET.fromstring(wrapper)[0]
    patch_ok(s, path, xml_fragment, ns_decls=ns_decls, expect=[sent.tag])
    got = propfind_ms(s, path, [sent.tag]).get(path).prop(sent.tag)
    assert got is not None, "property %s not returned" % sent.tag
    same_element(sent, got)
    return got


def test_apple_calendar_color_roundtrip(alice):
    cal = new_calendar(alice)
    got = roundtrip(alice, cal,
                    '<A:calendar-color symbolic-color="orange">#FD8208FF</A:calendar-color>',
                    'xmlns:A="%s"' % APPLE)
    assert got.get("symbolic-color") == "orange"
    assert got.text == "#FD8208FF"


def test_apple_calendar_order_roundtrip(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<A:calendar-order>12</A:calendar-order>', 'xmlns:A="%s"' % APPLE)


def test_calendar_timezone_roundtrip(alice):
    cal = new_calendar(alice)
    tz = tz_calendar(tz_ny()).replace("\r\n", "\n")
    got = roundtrip(alice, cal, "<C:calendar-timezone>%s</C:calendar-timezone>" % tz,
                    'xmlns:C="%s"' % CAL)
    assert "TZID:America/New_York" in got.text


def test_custom_namespace_with_prefix_roundtrip(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<X:region>Süd-West 华为</X:region>', 'xmlns:X="%s"' % CUSTOM)


def test_default_namespace_property_roundtrip(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<territory xmlns="urn:x-example:default">north</territory>')


def test_nested_children_and_attributes_roundtrip(alice):
    cal = new_calendar(alice)
    frag = ('<X:route xmlns:Y="urn:x-example:other" kind="weekly">'
            '<X:stop order="1" Y:code="A7">Müller GmbH</X:stop>'
            '<X:stop order="2"><X:note>ring twice &amp; wait &lt;5 min&gt;</X:note></X:stop>'
            '<Y:empty/>'
            '</X:route>')
    got = roundtrip(alice, cal, frag, 'xmlns:X="%s"' % CUSTOM)
    stops = got.findall(q(CUSTOM, "stop"))
    assert stops[0].get("{urn:x-example:other}code") == "A7"
    assert stops[1].find(q(CUSTOM, "note")).text == "ring twice & wait <5 min>"


def test_empty_dead_property_roundtrip(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<X:flag/>', 'xmlns:X="%s"' % CUSTOM)


def test_property_overwrite_replaces_value(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<X:level a="1">one</X:level>', 'xmlns:X="%s"' % CUSTOM)
    got = roundtrip(alice, cal, '<X:level>two</X:level>', 'xmlns:X="%s"' % CUSTOM)
    assert got.attrib == {}


def test_dead_property_on_home(alice):
    # Apple PROPPATCHes default alarms onto the home
    alarm = "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT15M\nEND:VALARM\n"
    roundtrip(alice, home(alice),
              "<C:default-alarm-vevent-datetime>%s</C:default-alarm-vevent-datetime>" % alarm,
              'xmlns:C="%s"' % CAL)


def test_dead_property_on_resource(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "p.ics", event_ics())
    roundtrip(alice, cal + "p.ics", '<X:checked by="ops">yes</X:checked>', 'xmlns:X="%s"' % CUSTOM)


def test_displayname_set_unicode(alice):
    cal = new_calendar(alice)
    patch_ok(alice, cal, "<D:displayname>Besuche Müller 华为</D:displayname>",
             expect=[q(DAV, "displayname")])
    r = propfind_ms(alice, cal, [q(DAV, "displayname")]).get(cal)
    assert r.text(q(DAV, "displayname")) == "Besuche Müller 华为"


def test_several_properties_in_one_request(alice):
    cal = new_calendar(alice)
    patch_ok(alice, cal,
             '<A:calendar-color>#112233</A:calendar-color><A:calendar-order>4</A:calendar-order>'
             '<D:displayname>Mehrere</D:displayname>',
             ns_decls='xmlns:A="%s"' % APPLE,
             expect=[q(APPLE, "calendar-color"), q(APPLE, "calendar-order"), q(DAV, "displayname")])
    r = propfind_ms(alice, cal, [q(APPLE, "calendar-color"), q(APPLE, "calendar-order"),
                                 q(DAV, "displayname")]).get(cal)
    assert r.text(q(APPLE, "calendar-color")) == "#112233"
    assert r.text(q(APPLE, "calendar-order")) == "4"
    assert r.text(q(DAV, "displayname")) == "Mehrere"


def test_remove_dead_property(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<X:gone>soon</X:gone>', 'xmlns:X="%s"' % CUSTOM)
    patch_ok(alice, cal, remove_xml='<X:gone/>', ns_decls='xmlns:X="%s"' % CUSTOM,
             expect=[q(CUSTOM, "gone")])
    r = propfind_ms(alice, cal, [q(CUSTOM, "gone")]).get(cal)
    assert r.prop_status(q(CUSTOM, "gone")) == 404


def test_remove_absent_property_is_not_an_error(alice):
    # RFC 4918 14.23: removing a property that does not exist is not an error
    cal = new_calendar(alice)
    patch_ok(alice, cal, remove_xml='<X:never-set/>', ns_decls='xmlns:X="%s"' % CUSTOM,
             expect=[q(CUSTOM, "never-set")])


def test_set_then_remove_in_document_order(alice):
    cal = new_calendar(alice)
    body = ('<D:propertyupdate xmlns:D="DAV:" xmlns:X="%s">'
            '<D:set><D:prop><X:temp>1</X:temp></D:prop></D:set>'
            '<D:remove><D:prop><X:temp/></D:prop></D:remove>'
            '</D:propertyupdate>' % CUSTOM)
    r = req(alice, "PROPPATCH", cal, body, {"Content-Type": XML_CT})
    Multistatus(r)
    assert propfind_ms(alice, cal, [q(CUSTOM, "temp")]).get(cal).prop_status(q(CUSTOM, "temp")) == 404


def test_protected_property_fails_atomically(alice):
    cal = new_calendar(alice)
    before = getctag(alice, cal)
    r = proppatch(alice, cal,
                  '<A:calendar-color>#00FF00</A:calendar-color><D:getetag>"x"</D:getetag>'
                  '<X:other>v</X:other>',
                  ns_decls='xmlns:A="%s" xmlns:X="%s"' % (APPLE, CUSTOM))
    resp = Multistatus(r).get(cal)
    assert resp.prop_status(q(DAV, "getetag")) == 403
    ps = resp.propstat_of(q(DAV, "getetag"))
    err = ps.error if ps.error is not None else resp.error
    assert err is not None and err.find(q(DAV, "cannot-modify-protected-property")) is not None, \
        r.text
    assert resp.prop_status(q(APPLE, "calendar-color")) == 424
    assert resp.prop_status(q(CUSTOM, "other")) == 424
    # nothing was applied
    after = propfind_ms(alice, cal, [q(APPLE, "calendar-color"), q(CUSTOM, "other")]).get(cal)
    assert after.prop_status(q(APPLE, "calendar-color")) == 404
    assert after.prop_status(q(CUSTOM, "other")) == 404
    assert getctag(alice, cal) == before


@pytest.mark.parametrize("prop", ['<D:resourcetype><D:collection/></D:resourcetype>',
                                  '<CS:getctag>"1-1"</CS:getctag>',
                                  '<D:sync-token>http://x/</D:sync-token>',
                                  '<D:current-user-principal><D:href>/x/</D:href>'
                                  '</D:current-user-principal>'])
def test_other_protected_properties_are_403(alice, prop):
    cal = new_calendar(alice)
    r = proppatch(alice, cal, prop, ns_decls='xmlns:CS="%s"' % CS)
    resp = Multistatus(r).get(cal)
    assert [ps.status for ps in resp.propstats] == [403], r.text


def test_remove_protected_property_is_403(alice):
    cal = new_calendar(alice)
    r = proppatch(alice, cal, remove_xml="<D:getetag/>")
    resp = Multistatus(r).get(cal)
    assert resp.prop_status(q(DAV, "getetag")) == 403


def test_getctag_changes_after_proppatch(alice):
    cal = new_calendar(alice)
    before = getctag(alice, cal)
    patch_ok(alice, cal, '<A:calendar-order>9</A:calendar-order>', ns_decls='xmlns:A="%s"' % APPLE)
    assert getctag(alice, cal) != before


def test_proppatch_malformed_is_400(alice):
    cal = new_calendar(alice)
    r = req(alice, "PROPPATCH", cal, "<D:propertyupdate xmlns:D='DAV:'><D:set>",
            {"Content-Type": XML_CT})
    assert r.status_code == 400


def test_proppatch_missing_resource_is_404(alice):
    r = proppatch(alice, home(alice) + "nope-nothing/", "<D:displayname>x</D:displayname>")
    assert r.status_code == 404


def test_proppatch_other_users_calendar_is_403(alice, bob):
    propfind(bob, "/", [q(DAV, "current-user-principal")])  # provision bob
    r = proppatch(alice, "/calendars/bob/visits/", "<D:displayname>pwned</D:displayname>")
    assert r.status_code == 403
    r = propfind_ms(bob, "/calendars/bob/visits/", [q(DAV, "displayname")]).get("/calendars/bob/visits/")
    assert r.text(q(DAV, "displayname")) != "pwned"


def test_dead_properties_listed_in_allprop(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<X:visible>yes</X:visible>', 'xmlns:X="%s"' % CUSTOM)
    ms = Multistatus(req(alice, "PROPFIND", cal, None, {"Depth": "0"}))
    assert ms.get(cal).text(q(CUSTOM, "visible")) == "yes"


def test_markup_characters_in_value_roundtrip(alice):
    cal = new_calendar(alice)
    got = roundtrip(alice, cal, '<X:note>a &lt; b &amp;&amp; c &gt; d ]]&gt; "q" \'s\'</X:note>',
                    'xmlns:X="%s"' % CUSTOM)
    assert got.text == 'a < b && c > d ]]> "q" \'s\''


def test_cdata_value_roundtrip_as_text(alice):
    cal = new_calendar(alice)
    patch_ok(alice, cal, '<X:raw><![CDATA[<not-xml> & stuff]]></X:raw>',
             ns_decls='xmlns:X="%s"' % CUSTOM)
    got = propfind_ms(alice, cal, [q(CUSTOM, "raw")]).get(cal).prop(q(CUSTOM, "raw"))
    assert got.text == "<not-xml> & stuff"


def test_proppatch_empty_body_is_400(alice):
    cal = new_calendar(alice)
    r = req(alice, "PROPPATCH", cal, None, {"Content-Type": XML_CT})
    assert r.status_code == 400


def test_dead_properties_survive_collection_move(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<A:calendar-color symbolic-color="red">#FF0000FF</A:calendar-color>',
              'xmlns:A="%s"' % APPLE)
    dst = home(alice) + "moved-props-" + cal.rstrip("/").rsplit("-", 1)[1] + "/"
    r = req(alice, "MOVE", cal, headers={"Destination": alice.base + dst})
    assert r.status_code == 201
    got = propfind_ms(alice, dst, [q(APPLE, "calendar-color")]).get(dst).prop(q(APPLE, "calendar-color"))
    assert got is not None and got.text == "#FF0000FF" and got.get("symbolic-color") == "red"


def test_prefix_collision_with_dav_prefix(alice):
    # a client may bind "D" (or "C") to its own namespace inside the value
    cal = new_calendar(alice)
    frag = ('<D:shade xmlns:D="urn:x-example:not-dav"><D:tone>dark</D:tone>'
            '<C:mix xmlns:C="urn:x-example:not-caldav">50</C:mix></D:shade>')
    got = roundtrip(alice, cal, frag)
    assert got.tag == q("urn:x-example:not-dav", "shade")
    assert got.find(q("urn:x-example:not-dav", "tone")).text == "dark"
    assert got.find(q("urn:x-example:not-caldav", "mix")).text == "50"


def test_unnamespaced_child_roundtrip(alice):
    cal = new_calendar(alice)
    got = roundtrip(alice, cal, '<X:wrap xmlns:X="%s"><plain a="1">no namespace</plain></X:wrap>'
                    % CUSTOM)
    assert got.find("plain") is not None and got.find("plain").text == "no namespace"


def test_dead_property_in_dav_namespace(alice):
    cal = new_calendar(alice)
    roundtrip(alice, cal, '<D:x-visit-note>dead but in DAV:</D:x-visit-note>')


def test_large_dead_property_value(alice):
    # 40 KB: well over any real client value (a VTIMEZONE is a few KB)
    cal = new_calendar(alice)
    value = "".join("line %05d of a long note\n" % i for i in range(1600))
    assert len(value) > 40000
    roundtrip(alice, cal, "<X:big>%s</X:big>" % value, 'xmlns:X="%s"' % CUSTOM)


def test_oversized_dead_property_is_507_and_atomic(alice):
    # RFC 4918 9.2.1: 507 when there is no room to record the property
    # (the store bounds one dead property at 64 KiB); the rest fails with 424
    cal = new_calendar(alice)
    value = "x" * (200 * 1024)
    r = proppatch(alice, cal, "<X:huge>%s</X:huge><X:small>s</X:small>" % value,
                  ns_decls='xmlns:X="%s"' % CUSTOM)
    resp = Multistatus(r).get(cal)
    assert resp.prop_status(q(CUSTOM, "huge")) == 507
    assert resp.prop_status(q(CUSTOM, "small")) == 424
    after = propfind_ms(alice, cal, [q(CUSTOM, "huge"), q(CUSTOM, "small")]).get(cal)
    assert after.prop_status(q(CUSTOM, "huge")) == 404
    assert after.prop_status(q(CUSTOM, "small")) == 404


def test_many_dead_properties(alice):
    cal = new_calendar(alice)
    frag = "".join("<X:p%d>v%d</X:p%d>" % (i, i, i) for i in range(100))
    patch_ok(alice, cal, frag, ns_decls='xmlns:X="%s"' % CUSTOM)
    r = propfind_ms(alice, cal, [q(CUSTOM, "p%d" % i) for i in range(100)]).get(cal)
    for i in range(100):
        assert r.text(q(CUSTOM, "p%d" % i)) == "v%d" % i
