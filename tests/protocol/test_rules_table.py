"""Visit rules, table-driven (issue 3, docs/rules.md).

Each case starts its own visitdavd with one rules file from
tests/data/rules/ and the customer directory tests/data/rules/customers.csv,
PUTs the "existing" visits, then PUTs the visit under test ("t") and checks
the outcome as a client sees it:
  - rejected: 403 naming the rule and the other visit's owner, nothing stored;
  - stored: exactly the expected X-VISIT-CONFLICT flags (rule, other owner,
    other href) on every visit -- the other side is flagged too -- with the
    SUMMARY marker "[CONFLICT] " exactly when flagged, and no ETag in the
    PUT response of a flagged visit.
Some cases then change the other visit (move, delete, cancel, MOVE to
another calendar) and check that flags appear / disappear everywhere.

Dates: March 2027.  2027-03-01 is a Monday; Berlin is UTC+1 until the DST
change on 2027-03-28 (02:00 -> 03:00), UTC+2 after.
"""
import pytest

from rules_helpers import (PREFIX, UTC_RE, USERS, B, D, F, NY, U, W, all_flag_props, flags_of,
                           get, href, ics, mkcalendar, new_uid, put, reject_conflicts, req,
                           rules_server, session, summary_of)


# ---------------------------------------------------------------- case DSL
def Vis(name, user, start, end=None, summary="Visit ACME", cal="visits", extra=(),
        rrule=None, exdates=(), overrides=()):
    return dict(name=name, user=user, start=start, end=end, summary=summary, cal=cal,
                extra=tuple(extra), rrule=rrule, exdates=tuple(exdates),
                overrides=tuple(overrides))


def Ov(rid, start, end, **kw):
    d = dict(rid=rid, start=start, end=end)
    d.update(kw)
    return d


def mutual(*triples):
    """mutual((rule, x, y), ...) -> x flagged because of y and y because of x."""
    out = {}
    for rule, x, y in triples:
        out.setdefault(x, set()).add((rule, y))
        out.setdefault(y, set()).add((rule, x))
    return out


def C(id, put, existing=(), conf="flag", flags=None, reject=None, then=(), starts=None):
    """starts: {(name, other): UTC} -- the X-OTHER-START expected on name's
    flag naming other (the colliding instance of a recurring other)."""
    return pytest.param(dict(conf=conf, existing=list(existing), put=put,
                             flags=flags or {}, reject=reject, then=list(then),
                             starts=starts or {}), id=id)


ACME = "Visit ACME"
CO = "customer-overlap"
RO = "rep-overlap"
CAD = "customer-cadence"
RF = "required-fields"
DESC = ["DESCRIPTION:Contract renewal"]

# alice's weekly ACME visit on Mondays 10:00 Berlin: 03-01, 03-08, (03-15
# excluded), 03-22 moved to Wednesday 03-24, 03-29 (CEST), 04-05.
WEEKLY_A0 = dict(rrule="FREQ=WEEKLY;COUNT=6", exdates=[B("03-15 10:00")],
                 overrides=[Ov(B("03-22 10:00"), B("03-24 10:00"), B("03-24 11:00"))])


def weekly_a0():
    return Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), ACME, **WEEKLY_A0)


def wed_t(**kw):
    """alice's weekly ACME visit on Wednesdays 03-03, 03-10, 03-17, 03-24 (09:00 UTC)."""
    return Vis("t", "alice", U("03-03 09:00"), U("03-03 10:00"), ACME,
               rrule="FREQ=WEEKLY;COUNT=4", **kw)


CASES = [
    # ---- rep-overlap: one rep, busy events overlapping in time
    C("rep_overlap_across_two_calendars",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), "Dentist", cal="private")],
      put=Vis("t", "alice", U("03-01 09:30"), U("03-01 10:30"), ACME),
      flags=mutual((RO, "t", "a0"))),
    C("rep_overlap_same_calendar_no_customer",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), "Team meeting")],
      put=Vis("t", "alice", U("03-01 09:45"), U("03-01 11:00"), "Lunch"),
      flags=mutual((RO, "t", "a0"))),
    C("rep_adjacent_events_do_not_overlap",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), "Dentist", cal="private")],
      put=Vis("t", "alice", U("03-01 10:00"), U("03-01 11:00"), ACME)),
    C("rep_overlap_is_per_rep",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), "Dentist")],
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), "Dentist")),
    C("no_customer_only_rep_overlap_applies",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), "Lunch"),
                Vis("a0", "alice", U("03-01 09:30"), U("03-01 10:30"), "Gym", cal="private")],
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), "Lunch"),
      flags=mutual((RO, "t", "a0"))),

    # ---- customer-overlap, window same-day in Europe/Berlin
    C("customer_same_day_flagged",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0"))),
    C("customer_2330_and_0030_local_are_different_days",
      # 22:30Z = 23:30 Berlin on 03-01; 23:30Z = 00:30 Berlin on 03-02 (same UTC day)
      existing=[Vis("b0", "bob", U("03-01 22:30"), U("03-01 22:45"), ACME)],
      put=Vis("t", "alice", U("03-01 23:30"), U("03-01 23:50"), ACME)),
    C("customer_0800_and_1700_local_same_day",
      existing=[Vis("b0", "bob", B("03-02 08:00"), B("03-02 09:00"), ACME)],
      put=Vis("t", "alice", B("03-02 17:00"), B("03-02 18:00"), ACME),
      flags=mutual((CO, "t", "b0"))),
    C("customer_same_local_day_across_utc_midnight",
      # 03-01 23:30Z = 00:30 Berlin on 03-02; 03-02 22:00Z = 23:00 Berlin on 03-02
      existing=[Vis("b0", "bob", U("03-01 23:30"), U("03-01 23:50"), ACME)],
      put=Vis("t", "alice", U("03-02 22:00"), U("03-02 22:30"), ACME),
      flags=mutual((CO, "t", "b0"))),
    C("customer_same_rep_is_not_customer_overlap",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME)),
    C("customer_different_customers",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), "Visit Globex")],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME)),
    C("customer_next_day",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-02 09:00"), U("03-02 10:00"), ACME)),
    C("customer_three_visits_two_flags",
      existing=[Vis("b0", "bob", U("03-01 08:00"), U("03-01 09:00"), ACME),
                Vis("d0", "dave", U("03-01 11:00"), U("03-01 12:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "b0", "d0"), (CO, "t", "b0"), (CO, "t", "d0"))),

    # ---- customer-overlap, window overlap / 4h
    C("window_overlap_overlapping",
      conf="overlap",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 09:30"), U("03-01 10:30"), ACME),
      flags=mutual((CO, "t", "b0"))),
    C("window_overlap_same_day_not_overlapping",
      conf="overlap",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME)),
    C("window_4h_two_hours_apart",
      conf="4h",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 12:00"), U("03-01 13:00"), ACME),
      flags=mutual((CO, "t", "b0"))),
    C("window_4h_five_hours_apart_same_day",
      conf="4h",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 15:00"), U("03-01 16:00"), ACME)),

    # ---- customer-cadence, 14 days (customer-overlap off in this file)
    C("cadence_13_days_22_hours_later",
      conf="cadence",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-15 08:00"), U("03-15 09:00"), ACME),
      flags=mutual((CAD, "t", "b0"))),
    C("cadence_14_days_22_hours_later",
      conf="cadence",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-16 08:00"), U("03-16 09:00"), ACME)),
    C("cadence_new_visit_before_existing",
      conf="cadence",
      existing=[Vis("b0", "bob", U("03-15 08:00"), U("03-15 09:00"), ACME)],
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), ACME),
      flags=mutual((CAD, "t", "b0"))),
    C("cadence_same_rep_counts",
      conf="cadence",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-11 09:00"), U("03-11 10:00"), ACME),
      flags=mutual((CAD, "t", "a0"))),
    C("cadence_only_when_customer_overlap_off",
      conf="cadence",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CAD, "t", "b0"))),
    C("cadence_other_customer",
      conf="cadence",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), "Visit Globex")],
      put=Vis("t", "alice", U("03-05 09:00"), U("03-05 10:00"), ACME)),

    # ---- required-fields (reject in this file)
    C("required_no_purpose_rejected",
      conf="required",
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), ACME),
      reject=[(RF, None)]),
    C("required_description_is_a_purpose",
      conf="required",
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), ACME, extra=DESC)),
    C("required_x_visit_purpose_is_a_purpose",
      conf="required",
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), ACME,
              extra=["X-VISIT-PURPOSE:Product demo"])),
    C("required_unknown_x_visit_customer_rejected",
      conf="required",
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), "Meeting",
              extra=["X-VISIT-CUSTOMER:no-such-customer"] + DESC),
      reject=[(RF, None)]),
    C("required_flag_names_no_other_visit",
      conf="required-flag",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME, extra=DESC)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags={"t": {(RF, None)}}),
    C("required_not_a_customer_visit",
      conf="required",
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), "Dentist")),

    # ---- recurrences: the other visit recurs (weekly_a0), the tested one is single
    C("rrule_instance_day_collides",
      existing=[weekly_a0()],
      put=Vis("t", "bob", U("03-08 15:00"), U("03-08 16:00"), ACME),
      flags=mutual((CO, "t", "a0"))),
    C("rrule_exdate_day_does_not_collide",
      existing=[weekly_a0()],
      put=Vis("t", "bob", U("03-15 15:00"), U("03-15 16:00"), ACME)),
    C("rrule_day_between_instances",
      existing=[weekly_a0()],
      put=Vis("t", "bob", U("03-09 09:00"), U("03-09 10:00"), ACME)),
    C("rrule_overridden_instance_moved_off_the_day",
      existing=[weekly_a0()],
      put=Vis("t", "bob", U("03-22 15:00"), U("03-22 16:00"), ACME)),
    C("rrule_overridden_instance_moved_onto_the_day",
      existing=[weekly_a0()],
      put=Vis("t", "bob", U("03-24 15:00"), U("03-24 16:00"), ACME),
      flags=mutual((CO, "t", "a0")),
      starts={("t", "a0"): "20270324T090000Z", ("a0", "t"): "20270324T150000Z"}),
    C("rrule_instance_after_dst_change",
      # 03-29 10:00 CEST = 08:00Z: alice's 08:30Z call overlaps that instance
      existing=[weekly_a0()],
      put=Vis("t", "alice", U("03-29 08:30"), U("03-29 08:45"), "Dentist"),
      flags=mutual((RO, "t", "a0")),
      starts={("t", "a0"): "20270329T080000Z"}),
    C("rrule_unbounded_far_instance",
      # weekly on Mondays without end: 2027-10-04 (CEST) is an instance
      existing=[Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), ACME,
                    rrule="FREQ=WEEKLY")],
      put=Vis("t", "bob", U("10-04 15:00"), U("10-04 16:00"), ACME),
      flags=mutual((CO, "t", "a0")),
      starts={("t", "a0"): "20271004T080000Z"}),
    C("rrule_unbounded_day_between",
      existing=[Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), ACME,
                    rrule="FREQ=WEEKLY")],
      put=Vis("t", "bob", U("10-05 15:00"), U("10-05 16:00"), ACME)),
    C("rrule_cancelled_instance_does_not_collide",
      # alice cancelled the 03-08 occurrence (an override with STATUS:CANCELLED)
      existing=[Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), ACME,
                    rrule="FREQ=WEEKLY;COUNT=6",
                    overrides=[Ov(B("03-08 10:00"), B("03-08 10:00"), B("03-08 11:00"),
                                  extra=["STATUS:CANCELLED"])])],
      put=Vis("t", "bob", U("03-08 15:00"), U("03-08 16:00"), ACME)),
    C("rrule_transparent_instance_does_not_collide",
      existing=[Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), ACME,
                    rrule="FREQ=WEEKLY;COUNT=6",
                    overrides=[Ov(B("03-08 10:00"), B("03-08 10:00"), B("03-08 11:00"),
                                  extra=["TRANSP:TRANSPARENT"])])],
      put=Vis("t", "bob", U("03-08 15:00"), U("03-08 16:00"), ACME)),
    C("rrule_other_instances_of_a_partly_cancelled_series_collide",
      existing=[Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), ACME,
                    rrule="FREQ=WEEKLY;COUNT=6",
                    overrides=[Ov(B("03-08 10:00"), B("03-08 10:00"), B("03-08 11:00"),
                                  extra=["STATUS:CANCELLED"])])],
      put=Vis("t", "bob", U("03-01 15:00"), U("03-01 16:00"), ACME),
      flags=mutual((CO, "t", "a0"))),
    # ---- recurrences: the tested visit recurs
    C("rrule_tested_visit_recurs",
      existing=[Vis("b0", "bob", U("03-17 13:00"), U("03-17 14:00"), ACME)],
      put=wed_t(),
      flags=mutual((CO, "t", "b0"))),
    C("rrule_tested_visit_exdate_on_the_day",
      existing=[Vis("b0", "bob", U("03-17 13:00"), U("03-17 14:00"), ACME)],
      put=wed_t(exdates=[U("03-17 09:00")])),
    C("rrule_tested_visit_override_moved_onto_the_day",
      existing=[Vis("b0", "bob", U("03-18 13:00"), U("03-18 14:00"), ACME)],
      put=wed_t(overrides=[Ov(U("03-17 09:00"), U("03-18 09:00"), U("03-18 10:00"))]),
      flags=mutual((CO, "t", "b0")),
      starts={("b0", "t"): "20270318T090000Z", ("t", "b0"): "20270318T130000Z"}),
    C("rrule_tested_visit_cancelled_on_the_day",
      existing=[Vis("b0", "bob", U("03-17 13:00"), U("03-17 14:00"), ACME)],
      put=wed_t(overrides=[Ov(U("03-17 09:00"), U("03-17 09:00"), U("03-17 10:00"),
                              extra=["STATUS:CANCELLED"])])),
    C("rrule_tested_visit_override_moved_off_the_day",
      existing=[Vis("b0", "bob", U("03-17 13:00"), U("03-17 14:00"), ACME)],
      put=wed_t(overrides=[Ov(U("03-17 09:00"), U("03-19 09:00"), U("03-19 10:00"))])),

    # ---- TZID vs UTC vs floating (rep-overlap)
    C("tzid_berlin_overlaps_utc",
      existing=[Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), "Dentist")],
      put=Vis("t", "alice", U("03-01 09:30"), U("03-01 10:30"), "Call"),
      flags=mutual((RO, "t", "a0"))),
    C("tzid_berlin_adjacent_to_utc",
      # 10:00-11:00 Berlin is 09:00-10:00Z
      existing=[Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), "Dentist")],
      put=Vis("t", "alice", U("03-01 10:00"), U("03-01 11:00"), "Call")),
    C("tzid_new_york_overlaps_berlin",
      # 04:00 EST = 09:00Z; 10:30 CET = 09:30Z
      existing=[Vis("a0", "alice", NY("03-01 04:00"), NY("03-01 05:00"), "Call")],
      put=Vis("t", "alice", B("03-01 10:30"), B("03-01 11:30"), "Dentist"),
      flags=mutual((RO, "t", "a0"))),
    C("tzid_windows_name_with_its_vtimezone",
      # Outlook's zone name; its VTIMEZONE says CET: 10:00-11:00 = 09:00-10:00Z
      existing=[Vis("a0", "alice", W("03-01 10:00"), W("03-01 11:00"), "Dentist")],
      put=Vis("t", "alice", U("03-01 09:30"), U("03-01 10:30"), "Call"),
      flags=mutual((RO, "t", "a0"))),
    C("floating_is_organisation_local_time_overlap",
      # floating 10:00-11:00 = 09:00-10:00Z in Berlin
      existing=[Vis("a0", "alice", F("03-01 10:00"), F("03-01 11:00"), "Dentist")],
      put=Vis("t", "alice", U("03-01 09:30"), U("03-01 09:45"), "Call"),
      flags=mutual((RO, "t", "a0"))),
    C("floating_is_organisation_local_time_no_overlap",
      existing=[Vis("a0", "alice", F("03-01 10:00"), F("03-01 11:00"), "Dentist")],
      put=Vis("t", "alice", U("03-01 10:15"), U("03-01 10:45"), "Call")),

    # ---- the DST change 2027-03-28 in Europe/Berlin
    C("dst_daily_instance_after_change_overlaps",
      # daily 09:00 Berlin: 03-29 is 07:00-08:00Z
      existing=[Vis("a0", "alice", B("03-26 09:00"), B("03-26 10:00"), "Standup",
                    rrule="FREQ=DAILY;COUNT=5")],
      put=Vis("t", "alice", U("03-29 07:30"), U("03-29 07:45"), "Call"),
      flags=mutual((RO, "t", "a0"))),
    C("dst_daily_instance_after_change_no_overlap",
      existing=[Vis("a0", "alice", B("03-26 09:00"), B("03-26 10:00"), "Standup",
                    rrule="FREQ=DAILY;COUNT=5")],
      put=Vis("t", "alice", U("03-29 08:30"), U("03-29 08:45"), "Call")),
    C("dst_23_hour_day_next_day",
      # 03-28 22:30Z = 00:30 CEST on 03-29; 21:30Z = 23:30 CEST on 03-28
      existing=[Vis("b0", "bob", U("03-28 22:30"), U("03-28 22:45"), ACME)],
      put=Vis("t", "alice", U("03-28 21:30"), U("03-28 21:45"), ACME)),
    C("dst_23_hour_day_same_day",
      # 03-27 23:30Z = 00:30 CET on 03-28, same local day as 23:30 CEST
      existing=[Vis("b0", "bob", U("03-27 23:30"), U("03-27 23:45"), ACME)],
      put=Vis("t", "alice", U("03-28 21:30"), U("03-28 21:45"), ACME),
      flags=mutual((CO, "t", "b0"))),

    # ---- all-day visits (dates in the organisation's zone)
    C("allday_customer_visit_same_day",
      existing=[Vis("b0", "bob", D("03-03"), D("03-04"), ACME)],
      put=Vis("t", "alice", B("03-03 15:00"), B("03-03 16:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      starts={("t", "b0"): "20270302T230000Z", ("b0", "t"): "20270303T140000Z"}),
    C("allday_without_dtend_same_day",
      existing=[Vis("b0", "bob", D("03-03"), None, ACME)],
      put=Vis("t", "alice", B("03-03 15:00"), B("03-03 16:00"), ACME),
      flags=mutual((CO, "t", "b0"))),
    C("allday_busy_covers_local_midnight",
      # 03-03 23:30Z is 00:30 on 03-04 in Berlin
      existing=[Vis("a0", "alice", D("03-04"), D("03-05"), "Trade fair")],
      put=Vis("t", "alice", U("03-03 23:30"), U("03-03 23:45"), "Call"),
      flags=mutual((RO, "t", "a0"))),
    C("allday_ends_at_local_midnight",
      existing=[Vis("a0", "alice", D("03-04"), D("03-05"), "Trade fair")],
      put=Vis("t", "alice", U("03-04 23:30"), U("03-04 23:45"), "Call")),

    # ---- cancelled and transparent events never collide, on either side
    C("other_cancelled",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME,
                    extra=["STATUS:CANCELLED"])],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME)),
    C("tested_cancelled",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME,
              extra=["STATUS:CANCELLED"])),
    C("other_transparent",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME,
                    extra=["TRANSP:TRANSPARENT"])],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME)),
    C("tested_transparent_customer",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME,
              extra=["TRANSP:TRANSPARENT"])),
    C("tested_transparent_rep",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), "Dentist")],
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), "Call",
              extra=["TRANSP:TRANSPARENT"])),
    C("other_cancelled_rep",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), "Dentist",
                    extra=["STATUS:CANCELLED"])],
      put=Vis("t", "alice", U("03-01 09:00"), U("03-01 10:00"), "Call")),

    # ---- recognising the customer
    C("chinese_huawei_inside_summary",
      existing=[Vis("b0", "bob", U("03-01 02:00"), U("03-01 03:00"), "Meeting",
                    extra=["X-VISIT-CUSTOMER:huawei"])],
      put=Vis("t", "alice", U("03-01 06:00"), U("03-01 07:00"), "拜访华为讨论合同"),
      flags=mutual((CO, "t", "b0"))),
    C("chinese_tencent_location_and_summary",
      existing=[Vis("b0", "bob", U("03-01 02:00"), U("03-01 03:00"), "Meeting",
                    extra=["LOCATION:腾讯科技深圳总部"])],
      put=Vis("t", "alice", U("03-01 06:00"), U("03-01 07:00"), "与腾讯科技签约"),
      flags=mutual((CO, "t", "b0"))),
    C("chinese_longest_match_is_other_customer",
      existing=[Vis("b0", "bob", U("03-01 02:00"), U("03-01 03:00"), "Meeting",
                    extra=["X-VISIT-CUSTOMER:tencent"])],
      put=Vis("t", "alice", U("03-01 06:00"), U("03-01 07:00"), "拜访腾讯音乐")),
    C("chinese_longest_match_wins",
      existing=[Vis("b0", "bob", U("03-01 02:00"), U("03-01 03:00"), "Meeting",
                    extra=["X-VISIT-CUSTOMER:tencentmusic"])],
      put=Vis("t", "alice", U("03-01 06:00"), U("03-01 07:00"), "拜访腾讯音乐"),
      flags=mutual((CO, "t", "b0"))),
    C("chinese_name_latin_alias",
      existing=[Vis("b0", "bob", U("03-01 02:00"), U("03-01 03:00"), "拜访华为")],
      put=Vis("t", "alice", U("03-01 06:00"), U("03-01 07:00"), "Huawei workshop"),
      flags=mutual((CO, "t", "b0"))),
    C("latin_case_ignored",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "visit acme"),
      flags=mutual((CO, "t", "b0"))),
    C("latin_umlaut_upper_case_alias",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), "Besuch Müller Maschinenbau")],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Besuch bei MÜLLER"),
      flags=mutual((CO, "t", "b0"))),
    C("latin_umlaut_decomposed",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), "Termin",
                    extra=["X-VISIT-CUSTOMER:mueller"])],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Termin Mu\u0308ller"),
      flags=mutual((CO, "t", "b0"))),
    C("latin_word_boundary",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Visit ACMEX")),
    C("latin_longest_match_is_other_customer",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), "Meeting",
                    extra=["X-VISIT-CUSTOMER:acme"])],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Visit ACME Logistics")),
    C("alias_in_location",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Quarterly review",
              extra=["LOCATION:Acme Corporation\\, Berlin"]),
      flags=mutual((CO, "t", "b0"))),
    C("location_before_summary",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME,
              extra=["LOCATION:华为 Shenzhen"])),
    C("attendee_email_domain",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Call",
              extra=["ATTENDEE;CN=Jane Roe:mailto:jane@acme.de"]),
      flags=mutual((CO, "t", "b0"))),
    C("attendee_email_sub_domain",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Call",
              extra=["ATTENDEE;CN=Jim Poe:mailto:jim@sales.acme.de"]),
      flags=mutual((CO, "t", "b0"))),
    C("attendee_unknown_domain_no_customer",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Call",
              extra=["ATTENDEE:mailto:someone@acme.example.org"])),
    C("x_visit_customer_by_id",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Meeting",
              extra=["X-VISIT-CUSTOMER:acme"]),
      flags=mutual((CO, "t", "b0"))),
    C("x_visit_customer_by_name",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), "Visit ACME Logistics")],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), "Meeting",
              extra=["X-VISIT-CUSTOMER:acme logistics"]),
      flags=mutual((CO, "t", "b0"))),
    C("x_visit_customer_before_summary",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME,
              extra=["X-VISIT-CUSTOMER:globex"])),

    # ---- per-team override: team east (alice, bob) rejects, the organisation flags
    C("team_east_member_rejected",
      conf="team",
      existing=[Vis("d0", "dave", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      reject=[(CO, "d0")]),
    C("team_east_both_members_rejected",
      conf="team",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      reject=[(CO, "b0")]),
    C("team_outsider_flagged",
      conf="team",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "dave", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "a0"))),
    C("team_east_rep_overlap_not_overridden",
      conf="team",
      existing=[Vis("a0", "alice", U("03-01 09:00"), U("03-01 10:00"), "Dentist", cal="private")],
      put=Vis("t", "alice", U("03-01 09:30"), U("03-01 10:30"), ACME),
      flags=mutual((RO, "t", "a0"))),

    # ---- approval (carol is the approver)
    C("approved_by_approver",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "carol", U("03-01 13:00"), U("03-01 14:00"), ACME,
              extra=["X-VISIT-APPROVED:customer-overlap"])),
    C("then_approver_approves_later",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "carol", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("put", Vis("t", "carol", U("03-01 13:00"), U("03-01 14:00"), ACME,
                         extra=["X-VISIT-APPROVED:customer-overlap"])), {})]),
    C("approved_by_non_approver_has_no_effect",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME,
              extra=["X-VISIT-APPROVED:customer-overlap"]),
      flags=mutual((CO, "t", "b0"))),
    C("approval_of_another_rule",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "carol", U("03-01 13:00"), U("03-01 14:00"), ACME,
              extra=["X-VISIT-APPROVED:rep-overlap"]),
      flags=mutual((CO, "t", "b0"))),

    # ---- flags never go stale: the other visit changes
    C("then_other_moved_away",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("put", Vis("b0", "bob", U("03-05 09:00"), U("03-05 10:00"), ACME)), {})]),
    C("then_other_deleted",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("delete", "b0"), {})]),
    C("then_other_cancelled",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("put", Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME,
                         extra=["STATUS:CANCELLED"])), {})]),
    C("then_other_made_transparent",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("put", Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME,
                         extra=["TRANSP:TRANSPARENT"])), {})]),
    C("then_tested_visit_moved_away",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("put", Vis("t", "alice", U("03-04 13:00"), U("03-04 14:00"), ACME)), {})]),
    C("then_other_moved_onto_the_day",
      existing=[Vis("b0", "bob", U("03-05 09:00"), U("03-05 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      then=[(("put", Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)),
             mutual((CO, "t", "b0")))]),
    C("then_other_http_moved_to_another_calendar",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("move", "b0", "archive"), mutual((CO, "t", "b0")))]),
    C("then_calendar_of_other_deleted",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME, cal="archive")],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("delete_cal", "bob", "archive"), {})]),
    C("then_calendar_of_other_moved",
      existing=[Vis("b0", "bob", U("03-01 09:00"), U("03-01 10:00"), ACME, cal="archive")],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "t", "b0")),
      then=[(("move_cal", "bob", "archive", "old"), mutual((CO, "t", "b0")))]),
    C("then_one_of_two_others_deleted",
      existing=[Vis("b0", "bob", U("03-01 08:00"), U("03-01 09:00"), ACME),
                Vis("d0", "dave", U("03-01 11:00"), U("03-01 12:00"), ACME)],
      put=Vis("t", "alice", U("03-01 13:00"), U("03-01 14:00"), ACME),
      flags=mutual((CO, "b0", "d0"), (CO, "t", "b0"), (CO, "t", "d0")),
      then=[(("delete", "d0"), mutual((CO, "t", "b0")))]),
    C("then_recurring_other_excludes_the_day",
      existing=[weekly_a0()],
      put=Vis("t", "bob", U("03-08 15:00"), U("03-08 16:00"), ACME),
      flags=mutual((CO, "t", "a0")),
      then=[(("put", Vis("a0", "alice", B("03-01 10:00"), B("03-01 11:00"), ACME,
                         rrule="FREQ=WEEKLY;COUNT=6",
                         exdates=[B("03-08 10:00"), B("03-15 10:00")])), {})]),
]


# ---------------------------------------------------------------- runner
class Run:
    """One case against its own server: keeps each visit's user, calendar
    and UID so that later steps rewrite the same resource."""

    def __init__(self, srv):
        self.srv = srv
        self.sessions = {u: session(srv, u) for u in USERS}
        self.where = {}      # name -> (user, cal)
        self.uids = {}       # name -> UID
        self.summary = {}    # name -> SUMMARY as sent
        self.cals = set()
        for s in self.sessions.values():   # first login makes each rep's "visits"
            r = req(s, "PROPFIND", "/calendars/%s/visits/" % s.auth[0], headers={"Depth": "0"})
            assert r.status_code == 207, r.status_code

    def ensure_cal(self, user, cal):
        if cal != "visits" and (user, cal) not in self.cals:
            mkcalendar(self.sessions[user], user, cal)
            self.cals.add((user, cal))

    def path(self, name):
        user, cal = self.where[name]
        return href(user, cal, name)

    def owner(self, name):
        return self.where[name][0]

    def put(self, v):
        name, user = v["name"], v["user"]
        self.ensure_cal(user, v["cal"])
        uid = self.uids.setdefault(name, new_uid(name))
        body = ics(uid, v["start"], v["end"], v["summary"], v["extra"], v["rrule"],
                   v["exdates"], v["overrides"])
        r = put(self.sessions[user], href(user, v["cal"], name), body)
        if r.status_code in (201, 204):
            self.where[name] = (user, v["cal"])
            self.summary[name] = v["summary"]
        return r

    def delete(self, name):
        user = self.owner(name)
        r = req(self.sessions[user], "DELETE", self.path(name))
        assert r.status_code in (200, 204), "DELETE %s: %d" % (name, r.status_code)
        del self.where[name]

    def move(self, name, cal):
        user = self.owner(name)
        self.ensure_cal(user, cal)
        dest = self.srv.url + href(user, cal, name)
        r = req(self.sessions[user], "MOVE", self.path(name),
                headers={"Destination": dest, "Overwrite": "F"})
        assert r.status_code in (201, 204), "MOVE %s: %d %s" % (name, r.status_code, r.text[:300])
        self.where[name] = (user, cal)

    def delete_cal(self, user, cal):
        r = req(self.sessions[user], "DELETE", "/calendars/%s/%s/" % (user, cal))
        assert r.status_code in (200, 204), "DELETE calendar %s: %d" % (cal, r.status_code)
        for name in [n for n, w in self.where.items() if w == (user, cal)]:
            del self.where[name]

    def move_cal(self, user, cal, new):
        dest = self.srv.url + "/calendars/%s/%s/" % (user, new)
        r = req(self.sessions[user], "MOVE", "/calendars/%s/%s/" % (user, cal),
                headers={"Destination": dest, "Overwrite": "F"})
        assert r.status_code in (201, 204), "MOVE calendar %s: %d %s" % (cal, r.status_code,
                                                                          r.text[:300])
        for name, w in list(self.where.items()):
            if w == (user, cal):
                self.where[name] = (user, new)

    def flags(self, name):
        r = get(self.sessions[self.owner(name)], self.path(name))
        assert r.status_code == 200, "GET %s: %d" % (self.path(name), r.status_code)
        return r.text

    def want(self, rule, other):
        if other is None:       # required-fields: names no other visit
            return (rule, None, None)
        return (rule, self.owner(other), self.path(other))

    def check_state(self, expected, when, starts=None):
        """Every stored visit carries exactly the expected flags and marker."""
        for name in sorted(self.where):
            text = self.flags(name)
            want = {self.want(rule, o) for rule, o in expected.get(name, ())}
            got_flags = flags_of(text)
            got = {(f.rule, f.owner, f.other) if f.owner else (f.rule, None, None)
                   for f in got_flags}
            assert got == want, "%s: flags of %s: expected %s, got %s" % (
                when, name, sorted(want), sorted(got))
            assert len(got_flags) == len(got), "%s: duplicate flags on %s: %s" % (
                when, name, got_flags)
            for f in got_flags:
                if f.owner is None:
                    continue
                assert UTC_RE.match(f.start or "") and UTC_RE.match(f.end or ""), \
                    "%s: flag on %s without UTC X-OTHER-START/END: %s" % (when, name, f)
            for (n, o), start in (starts or {}).items():
                if n == name:
                    got_start = [f.start for f in got_flags if f.other == self.path(o)]
                    assert got_start == [start], "%s: X-OTHER-START on %s for %s: %s, want %s" % (
                        when, name, o, got_start, start)
            summary = summary_of(text)
            if want:
                assert summary == PREFIX + self.summary[name], \
                    "%s: flagged %s has SUMMARY %r" % (when, name, summary)
            else:
                assert not all_flag_props(text), "%s: %s still has X-VISIT-CONFLICT" % (when, name)
                assert summary == self.summary[name], \
                    "%s: unflagged %s has SUMMARY %r" % (when, name, summary)


def expect_reject(run, r, name, expected):
    assert r.status_code == 403, "expected 403, got %d %s" % (r.status_code, r.text[:500])
    assert r.headers.get("Content-Type", "").startswith("application/xml"), r.headers
    conflicts, desc = reject_conflicts(r)
    assert desc, "no DAV:responsedescription in " + r.text
    got = {(c["rule"], c["other-owner"] or None) for c in conflicts}
    for rule, other in expected:
        owner = run.owner(other) if other else None
        if owner is None:
            assert rule in {g[0] for g in got}, "rule %s not in %s" % (rule, r.text)
        else:
            assert (rule, owner) in got, "(%s, %s) not in %s" % (rule, owner, r.text)


@pytest.mark.parametrize("case", CASES)
def test_rules_table(case):
    with rules_server(case["conf"]) as srv:
        run = Run(srv)
        for v in case["existing"]:
            r = run.put(v)
            assert r.status_code == 201, "existing %s: %d %s" % (v["name"], r.status_code,
                                                                r.text[:500])
        t = case["put"]
        r = run.put(t)
        if case["reject"] is not None:
            expect_reject(run, r, t["name"], case["reject"])
            gone = get(run.sessions[t["user"]], href(t["user"], t["cal"], t["name"]))
            assert gone.status_code == 404, "rejected visit was stored: %d" % gone.status_code
        else:
            assert r.status_code == 201, "PUT %s: %d %s" % (t["name"], r.status_code, r.text[:500])
            if case["flags"].get(t["name"]):
                assert "ETag" not in r.headers, \
                    "flagged visit stored with changed bytes but PUT sent ETag %s" % r.headers["ETag"]
        run.check_state(case["flags"], "after PUT", case["starts"])
        for i, (step, expected) in enumerate(case["then"]):
            if step[0] == "put":
                r = run.put(step[1])
                assert r.status_code in (201, 204), "step %d PUT: %d %s" % (i, r.status_code,
                                                                           r.text[:500])
            elif step[0] == "delete":
                run.delete(step[1])
            elif step[0] == "move":
                run.move(step[1], step[2])
            elif step[0] == "delete_cal":
                run.delete_cal(step[1], step[2])
            elif step[0] == "move_cal":
                run.move_cal(step[1], step[2], step[3])
            run.check_state(expected, "after step %d %s" % (i, step[0]))
