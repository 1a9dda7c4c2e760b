"""dataset.py - the benchmark's calendar data and request bodies.

Owns: the one-hour visit events (same bytes for every server), their
placement in time, and the REPORT/PROPFIND bodies.  Must not: talk to a
server or depend on any server's layout.

Placement: a rep has 25 visits a week (Mon-Fri, five one-hour slots a
day).  Event i lies in week i // 25 counted backwards from QUERY_WEEK, the
current week (UTC Monday of the day the run starts), so the one-week query
returns the same 25 events at every size and its cost shows the index, not
a growing result.  The measured PUTs go to the hours after it, back to back
from next Wednesday: they never change the query's answer, and they lie
within the visit rules' window (30 days back to 366 days ahead of now), so
every measured PUT is checked by the rules and enters the visit indexes
like a real new visit; history older than 30 days is stored but, as on a
real server, not in the rules' indexes.
"""
import datetime as dt

PER_WEEK = 25
HOURS = (9, 10, 11, 14, 15)
_today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
QUERY_WEEK = _today - dt.timedelta(days=_today.weekday())              # this week's Monday
FUTURE_WEEK = QUERY_WEEK + dt.timedelta(days=7)

# The customer directory visitdav runs with (customers_csv), so every PUT
# goes through customer recognition and the customer-overlap rule.  Rep r's
# event i is for customer 5r + i: a rep's five visits a day are five
# customers, and two reps (r < 1,000) never meet one on the same day, so
# nothing is flagged and the figures are those of the common, clean write.
N_CUSTOMERS = 10000


def customer(k):
    return f"Client {k % N_CUSTOMERS:05d} Services"


def customers_csv():
    rows = ["id,name,aliases,domains,address"]
    rows += [f"K-{k:05d},{customer(k)},,," for k in range(N_CUSTOMERS)]
    return "\n".join(rows) + "\n"


def name_of(i):
    return f"v{i:07d}.ics"


def put_name(tag, j):
    return f"p-{tag}-{j:06d}.ics"


def _stamp(t):
    return t.strftime("%Y%m%dT%H%M%SZ")


def slot_start(i, base=QUERY_WEEK, backwards=True):
    week, k = divmod(i, PER_WEEK)
    day, slot = divmod(k, len(HOURS))
    monday = base - dt.timedelta(days=7 * week) if backwards else base + dt.timedelta(days=7 * week)
    return monday + dt.timedelta(days=day, hours=HOURS[slot])


def event(uid, start, n, rep=0):
    """A one-hour visit, about 500 bytes, CRLF line ends."""
    end = start + dt.timedelta(hours=1)
    cust = customer(5 * rep + n)
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//visitdav//bench//EN",
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T080000Z",
        f"DTSTART:{_stamp(start)}", f"DTEND:{_stamp(end)}",
        f"SUMMARY:Visit {cust} #{n}",
        f"LOCATION:{100 + n % 900} Market Street\\, Springfield",
        "DESCRIPTION:Quarterly review of the service contract. Bring the price "
        "list\\, the new catalogue and the signed order forms.",
        "CATEGORIES:VISIT", "STATUS:CONFIRMED", "TRANSP:OPAQUE",
        "END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def stored_event(i, owner="bench", rep=0):
    """(name, body) of the i-th pre-populated event of rep number rep."""
    return name_of(i), event(f"{owner}-{i:07d}@bench.visitdav", slot_start(i), i, rep)


def new_event(tag, j, slot):
    """(name, body) of the j-th measured PUT, in hour number slot after
    next Wednesday (4,000 PUTs fill 24 weeks, well within the rules'
    horizon; from Wednesday because a calendar-query widens its range by a
    day on each side when it picks candidates, and the measured PUTs of one
    size must not add candidates to the next size's one-week query)."""
    start = FUTURE_WEEK + dt.timedelta(days=2, hours=slot)
    return put_name(tag, j), event(f"put-{tag}-{j:06d}@bench.visitdav", start, j)


def query_body():
    s = _stamp(QUERY_WEEK)
    e = _stamp(QUERY_WEEK + dt.timedelta(days=7))
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{s}" end="{e}"/>'
            '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>').encode()


def multiget_body(hrefs):
    inner = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop>'
            f'{inner}</C:calendar-multiget>').encode()


def propfind_body(props=("getetag",)):
    inner = "".join(f"<D:{p}/>" for p in props)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<D:propfind xmlns:D="DAV:"><D:prop>{inner}</D:prop></D:propfind>').encode()


def sync_body(token):
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<D:sync-collection xmlns:D="DAV:">'
            f'<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
            '<D:prop><D:getetag/></D:prop></D:sync-collection>').encode()


def count_responses(body):
    """Number of DAV:response elements in a multistatus, whatever prefix."""
    import re
    return len(re.findall(rb"<(?:[A-Za-z0-9_]+:)?response[ >]", body))


def sync_token_of(body):
    import re
    m = re.search(rb"<(?:[A-Za-z0-9_]+:)?sync-token[^>]*>([^<]+)<", body)
    return m.group(1).decode() if m else None
