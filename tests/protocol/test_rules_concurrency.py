"""Visit rules under concurrency (issue 3: "the check and the write happen
in the same LMDB write transaction"): many reps save visits to the same
customer on the same day at the same moment.

Under customer-overlap = reject exactly one visit is stored and every
other PUT gets 403 naming the one that won; under flag every visit is
stored and carries one flag for each of the others (no flag lost).
"""
import threading

import pytest

from rules_helpers import (U, calendar, calendar_query, ensure_home, flags_of, get, href,
                           ics, new_uid, put, reject_conflicts, rules_server, session)

N_REJECT = 20
N_FLAG = 10
REPS = {"u%02d" % i: "pw-u%02d" % i for i in range(N_REJECT)}


def simultaneous_puts(srv, reps, day, tag):
    """Every rep PUTs its own ACME visit on `day` (different times) after a
    barrier; returns {rep: response}."""
    sessions = {}
    for rep in reps:
        s = session(srv, rep, REPS)
        ensure_home(s)            # provisioned and connection kept alive
        sessions[rep] = s
    barrier = threading.Barrier(len(reps))
    results, errors = {}, []

    def worker(i, rep):
        minute = 8 * 60 + 20 * i
        start = U("%s %02d:%02d" % (day, minute // 60, minute % 60))
        end = U("%s %02d:%02d" % (day, (minute + 15) // 60, (minute + 15) % 60))
        body = ics(new_uid(tag), start, end, "Visit ACME", ["DESCRIPTION:Quarterly review"])
        try:
            barrier.wait(timeout=30)
            results[rep] = put(sessions[rep], href(rep, "visits", tag), body)
        except Exception as e:  # reported below, never swallowed
            errors.append((rep, repr(e)))

    threads = [threading.Thread(target=worker, args=(i, rep)) for i, rep in enumerate(reps)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(results) == len(reps)
    return sessions, results


@pytest.mark.parametrize("day", ["03-01", "03-02", "03-03"])
def test_simultaneous_conflicting_puts_under_reject_store_exactly_one(day):
    with rules_server("reject", users=REPS) as srv:
        reps = sorted(REPS)
        sessions, results = simultaneous_puts(srv, reps, day, "v" + day.replace("-", ""))
        codes = {rep: r.status_code for rep, r in results.items()}
        winners = [rep for rep, c in codes.items() if c == 201]
        assert len(winners) == 1, "expected exactly one 201: %s" % codes
        winner = winners[0]
        others = {rep: c for rep, c in codes.items() if rep != winner}
        assert set(others.values()) == {403}, "the rest must be 403: %s" % others
        for rep in others:
            conflicts, desc = reject_conflicts(results[rep])
            assert ("customer-overlap", winner) in [(c["rule"], c["other-owner"])
                                                    for c in conflicts], results[rep].text
            assert desc

        m, d = day.split("-")
        start, end = "2027%s%sT000000Z" % (m, d), "2027%s%sT235959Z" % (m, d)
        found = set()
        for rep in reps:
            found |= calendar_query(sessions[rep], calendar(rep), start, end)
        assert found == {href(winner, "visits", "v" + day.replace("-", ""))}, found


def test_simultaneous_puts_under_flag_lose_no_flag():
    reps = sorted(REPS)[:N_FLAG]
    with rules_server("flag", users=REPS) as srv:
        sessions, results = simultaneous_puts(srv, reps, "03-04", "f0304")
        codes = {rep: r.status_code for rep, r in results.items()}
        assert set(codes.values()) == {201}, codes
        for rep in reps:
            text = get(sessions[rep], href(rep, "visits", "f0304")).text
            got = sorted((f.rule, f.owner, f.other) for f in flags_of(text))
            want = sorted(("customer-overlap", o, href(o, "visits", "f0304"))
                          for o in reps if o != rep)
            assert got == want, "%s: expected %d flags, got %s" % (rep, len(want), got)
