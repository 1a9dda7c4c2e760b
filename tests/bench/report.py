"""report.py - the benchmark's table and target checks.

Owns: turning the results dict into the printed table (figures and the
ratio of each peer to visitdav) and the verdict on each issue-5 target.
Must not: measure anything.
"""

PEERS = ("radicale", "xandikos")

# (key, label, field, kind): kind "time" (lower is better, ratio peer/vd)
# or "rate" (higher is better, ratio vd/peer).
ROWS = (
    ("put", "PUT new visit, events/s", "events_per_s", "rate"),
    ("put", "PUT new visit p50 ms", "p50_ms", "time"),
    ("put", "PUT new visit p99 ms", "p99_ms", "time"),
    ("query", "query 1 week p50 ms", "p50_ms", "time"),
    ("query", "query 1 week p99 ms", "p99_ms", "time"),
    ("multiget", "multiget 100 p50 ms", "p50_ms", "time"),
    ("propfind", "PROPFIND D1 getetag p50 ms", "p50_ms", "time"),
    ("sync", "sync-collection no change p50 ms", "p50_ms", "time"),
    ("get", "GET one event p50 ms", "p50_ms", "time"),
    ("get", "GET server CPU us/request", "server_us", "time"),
    ("sync", "sync no change server CPU us/req", "server_us", "time"),
    ("query", "query 1 week server CPU us/req", "server_us", "time"),
    ("multiget", "multiget 100 server CPU us/req", "server_us", "time"),
    ("wrk", "wrk GET 32 conns, req/s", "rps", "rate"),
    ("wrk", "wrk GET 32 conns p50 ms", "p50_ms", "time"),
    ("wrk", "wrk GET 32 conns p99 ms", "p99_ms", "time"),
)


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 0.1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cell(res, server, size, key, field):
    w = res["servers"].get(server, {}).get(str(size), {}).get(key)
    if w is None:
        return None, "n/a"
    if "skipped" in w:
        return None, "capped"
    if "error" in w:
        return None, "timeout" if "timed out" in w["error"] else "error"
    v = w.get(field)
    if v is None:
        return None, "-"
    return v, _fmt(v) + ("*" if w.get("capped") else "")


def table(res):
    sizes = res["sizes"]
    head = f"{'workload':36s} {'size':>7s} {'visitdav':>10s}"
    for p in PEERS:
        head += f" {p:>10s} {p[:3] + '/vd':>9s}"
    lines = [head, "-" * len(head)]
    for key, label, field, kind in ROWS:
        for size in sizes:
            vd, vds = cell(res, "visitdav", size, key, field)
            row = f"{label:36s} {size:>7,d} {vds:>10s}"
            for p in PEERS:
                pv, ps = cell(res, p, size, key, field)
                ratio = "-"
                if vd and pv:
                    r = pv / vd if kind == "time" else vd / pv
                    ratio = f"{r:,.0f}x" if r >= 10 else f"{r:.1f}x"
                row += f" {ps:>10s} {ratio:>9s}"
            lines.append(row)
    lines.append("ratio column: how many times faster visitdav is (peer time / visitdav time,")
    lines.append("or visitdav rate / peer rate); '*' = stopped early by the per-request cap;")
    lines.append("'capped' = not run at this size (slower than the cap at a smaller size);")
    lines.append("'timeout' = one request took over 120 s.  server CPU = the server process's")
    lines.append("own CPU time per request (schedstat, or clock ticks for thread-per-request servers).")
    return "\n".join(lines)


def million_table(res):
    m = res.get("million")
    if not m:
        return ""
    lines = ["visitdav at 1M events (1,000 reps x 1,000 events), measured on one rep:"]
    for key, label, field, _ in ROWS:
        w = m["workloads"].get(key, {})
        lines.append(f"  {label:36s} {_fmt(w.get(field)):>10s}")
    cs = m.get("cold_start", {})
    lines.append(f"  cold start, page cache warm: first answer {_fmt(cs.get('warm', {}).get('first_answer_s', 0) * 1e3)} ms")
    if cs.get("dropped"):
        lines.append(f"  cold start, page cache dropped: first answer "
                     f"{_fmt(cs['dropped'].get('first_answer_s', 0) * 1e3)} ms, first PROPFIND "
                     f"{_fmt(cs['dropped'].get('first_propfind_s', 0) * 1e3)} ms")
    mem = m.get("memory", {})
    lines.append(f"  private memory after run: {mem.get('private_anon_kib', 0) / 1024:.1f} MiB "
                 f"without the LMDB map ({mem.get('private_kib', 0) / 1024:.1f} MiB Private_* in all)")
    lines.append(f"  store size: {m.get('store_bytes', 0) / 2**20:.0f} MiB; populate "
                 f"{m.get('populate_s', 0):.0f} s")
    return "\n".join(lines)


def _get(res, server, size, key, field):
    return res["servers"].get(server, {}).get(str(size), {}).get(key, {}).get(field)


def targets(res):
    """[(target, met True/False/None, detail)] per issue 5."""
    out = []
    s10 = 10000 if 10000 in res["sizes"] else None
    fs = res.get("fsync_per_s")
    if s10:
        for key, label, field, kind in ROWS:
            if field not in ("p50_ms", "events_per_s", "rps") or (key == "put" and field != "events_per_s"):
                continue
            vd = _get(res, "visitdav", s10, key, field)
            rd = _get(res, "radicale", s10, key, field)
            if key == "put":
                met = vd is not None and vd >= 1000
                out.append((f"PUT at 10k >= 1,000 events/s (disk: {fs:,.0f} fdatasync/s)", met,
                            f"{_fmt(vd)} events/s" + (f", {vd / rd:.0f}x Radicale" if vd and rd else "")))
                continue
            if vd is None or rd is None:
                out.append((f"{label} at 10k >= 100x Radicale", None, "not measured"))
                continue
            r = rd / vd if kind == "time" else vd / rd
            out.append((f"{label} at 10k >= 100x Radicale", r >= 100, f"{r:,.1f}x"))
    bare = res.get("bare", {}).get("wrk", {}).get("rps")
    for size in res["sizes"]:
        vd = _get(res, "visitdav", size, "wrk", "rps")
        adj = _get(res, "visitdav", size, "wrk_bare", "rps")      # same minute
        ref = adj or bare
        if ref and vd:
            when = "bare_mhd right after" if adj else "bare_mhd at the start"
            out.append((f"wrk GET at {size:,} >= 0.5 x bare_mhd", vd >= 0.5 * ref,
                        f"{vd:,.0f} / {ref:,.0f} ({when}) = {vd / ref:.2f}"))
    m = res.get("million")
    if m:
        small = min(res["sizes"])
        for key, field, limit, label in (("put", "p99_ms", 1.5, "PUT p99"), ("query", "p50_ms", 1.5, "query p50"),
                                         ("sync", "p50_ms", 1.2, "sync no change p50"),
                                         ("get", "p50_ms", 1.2, "GET p50")):
            a = _get(res, "visitdav", small, key, field)
            b = m["workloads"].get(key, {}).get(field)
            if a and b:
                lim = f"<= {limit}x" if limit == 1.5 else "flat (we take <= 1.2x)"
                ca = _get(res, "visitdav", small, key, "server_us")
                cb = m["workloads"].get(key, {}).get("server_us")
                cpu = f"; server CPU {_fmt(ca)} -> {_fmt(cb)} us = {cb / ca:.2f}x" if ca and cb else ""
                out.append((f"{label} growth {small:,} -> 1M {lim}", b / a <= limit,
                            f"{_fmt(a)} -> {_fmt(b)} ms = {b / a:.2f}x{cpu}"))
        cs = m.get("cold_start", {})
        for k in ("warm", "dropped"):
            if cs.get(k):
                v = cs[k]["first_answer_s"] * 1e3
                out.append((f"cold start on 1M < 200 ms (page cache {k})", v < 200, f"{v:.0f} ms"))
        mem = m.get("memory", {}).get("private_anon_kib")
        if mem is not None:
            out.append(("private memory after the run < 64 MiB", mem < 64 * 1024, f"{mem / 1024:.1f} MiB"))
    return out


def targets_text(res):
    lines = ["issue 5 targets:"]
    for t, met, detail in targets(res):
        tag = {True: "MET ", False: "MISS", None: "n/a "}[met]
        lines.append(f"  [{tag}] {t}: {detail}")
    return "\n".join(lines)
