"""workloads.py - the measured requests of issue 5, run against one server.

Owns: each workload's loop, its bounds (a count and a time budget; a
request slower than the cap stops the workload and marks it capped) and
the check that the answer is right (status, result count), so a fast wrong
answer is never reported as a fast answer.  Must not: start or stop
servers, or print (the runner reports).
"""
import random
import re
import subprocess
import time

import dataset
import httpc


class Bounds:
    """reps: most requests; budget_s: stop after this much time once
    min_reps are done; cap_s: a single request slower than this ends the
    workload (and the runner skips it at larger sizes)."""

    def __init__(self, reps, budget_s, min_reps=3, cap_s=30.0):
        self.reps, self.budget_s, self.min_reps, self.cap_s = reps, budget_s, min_reps, cap_s


def repeat(fn, b):
    samples, t0, capped, last = [], time.perf_counter(), False, None
    for i in range(b.reps):
        dt, last = fn(i)
        samples.append(dt)
        if dt > b.cap_s:
            capped = True
            break
        if i + 1 >= b.min_reps and time.perf_counter() - t0 > b.budget_s:
            break
    out = httpc.summarise(samples)
    out["capped"] = capped
    return out, last


def _check_count(what, got, want):
    if want is not None and got != want:
        raise httpc.HTTPError(f"{what}: {got} results, expected {want}")


def get_one(srv, conn, b):
    path = srv.cal_path() + dataset.name_of(srv.count // 2)
    out, r = repeat(lambda i: httpc.timed(conn, "GET", path, expect=(200,)), b)
    if b"BEGIN:VEVENT" not in r.body:
        raise httpc.HTTPError("GET: no event in the body")
    return out


def propfind_d1(srv, conn, b, members):
    body = dataset.propfind_body(("getetag",))
    out, r = repeat(lambda i: httpc.timed(conn, "PROPFIND", srv.cal_path(), body,
                                          {"Depth": "1", "Content-Type": "application/xml"},
                                          expect=(207,)), b)
    out["results"] = dataset.count_responses(r.body)
    _check_count("PROPFIND Depth 1", out["results"], members + 1)
    return out


def sync_token(srv, conn):
    _, r = httpc.timed(conn, "PROPFIND", srv.cal_path(), dataset.propfind_body(("sync-token",)),
                       {"Depth": "0", "Content-Type": "application/xml"}, expect=(207,))
    tok = dataset.sync_token_of(r.body)
    if not tok:
        raise httpc.HTTPError("no sync-token on the calendar")
    return tok


def sync_nochange(srv, conn, b, token):
    body = dataset.sync_body(token)
    out, r = repeat(lambda i: httpc.timed(conn, "REPORT", srv.cal_path(), body,
                                          {"Depth": "1", "Content-Type": "application/xml"},
                                          expect=(207,)), b)
    out["results"] = dataset.count_responses(r.body)
    _check_count("sync-collection with no change", out["results"], 0)
    return out


def query_week(srv, conn, b):
    body = dataset.query_body()
    out, r = repeat(lambda i: httpc.timed(conn, "REPORT", srv.cal_path(), body,
                                          {"Depth": "1", "Content-Type": "application/xml"},
                                          expect=(207,)), b)
    out["results"] = dataset.count_responses(r.body)
    _check_count("one-week calendar-query", out["results"], min(srv.count, dataset.PER_WEEK))
    if out["results"] and b"BEGIN:VEVENT" not in r.body:
        raise httpc.HTTPError("calendar-query: no calendar-data in the answer")
    return out


def multiget(srv, conn, b, n=100):
    rng = random.Random(5)
    picks = rng.sample(range(srv.count), min(n, srv.count))
    body = dataset.multiget_body([srv.cal_path() + dataset.name_of(i) for i in picks])
    out, r = repeat(lambda i: httpc.timed(conn, "REPORT", srv.cal_path(), body,
                                          {"Depth": "1", "Content-Type": "application/xml"},
                                          expect=(207,)), b)
    out["results"] = dataset.count_responses(r.body)
    out["bytes"] = len(r.body)
    _check_count("multiget", out["results"], len(picks))
    return out


def put_new(srv, conn, b, tag):
    """Sequential PUTs of new one-hour visits (If-None-Match: * as clients
    send for a new event).  Returns events/s over the whole loop.  Slots
    continue after the earlier sizes' PUTs (srv.extra), so no two visits
    of the rep overlap and the visit rules have nothing to flag."""
    hdrs = {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}

    rewritten = [0]

    def one(j):
        name, body = dataset.new_event(tag, j, srv.extra + j)
        dt, r = httpc.timed(conn, "PUT", srv.cal_path() + name, body, hdrs, expect=(201, 204))
        # No ETag: the server stored other bytes (RFC 4791 5.3.4), e.g. a
        # visit rule flagged it.  Counted, so a flagged path is visible.
        rewritten[0] += "etag" not in r.headers
        return dt, r
    t0 = time.perf_counter()
    out, _ = repeat(one, b)
    out["events_per_s"] = out["n"] / (time.perf_counter() - t0)
    out["rewritten"] = rewritten[0]
    return out


_WRK_LAT = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_get(port, path, auth_header, seconds=10, conns=32, threads=2):
    """wrk -t2 -c32 -dNs --latency on one GET; returns requests/s, latency
    percentiles (ms) and non-2xx counts."""
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if auth_header:
        cmd += ["-H", f"Authorization: {auth_header}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    txt = r.stdout
    out = {"seconds": seconds, "connections": conns, "threads": threads}
    m = re.search(r"Requests/sec:\s+([\d.]+)", txt)
    out["rps"] = float(m.group(1)) if m else None
    for pct, val, unit in _WRK_LAT.findall(txt):
        out[f"p{pct}_ms"] = float(val) * _UNIT[unit]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", txt)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", txt)
    out["socket_errors"] = m.group(1).strip() if m else ""
    m = re.search(r"(\d+) requests in", txt)
    out["requests"] = int(m.group(1)) if m else None
    return out
