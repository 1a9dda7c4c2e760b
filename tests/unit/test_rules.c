/* test_rules.c - lib/rules.c: the rules file (defaults, every key, quoting,
 * per-team overrides, errors with line numbers) and vd_rules_check against
 * an in-memory source (a table of neighbours filtered by customer, owner
 * and range), with a fake local_day (UTC days) or the real one from
 * lib/ical_visit.c for time-zone and DST cases. */
#include "check.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ical_visit.h"
#include "rules.h"

/* ------------------------------------------------------------------ */
/* times: "MMDDTHHMM" in 2027 UTC, or a full "YYYYMMDDTHHMMSSZ"        */

static vd_time T(const char *s)
{
    char full[32];
    vd_time t = 0;
    if (strlen(s) == 16)
        snprintf(full, sizeof full, "%s", s);
    else
        snprintf(full, sizeof full, "2027%.4s%.5s00Z", s, s + 4);
    if (vd_time_parse_utc(full, &t) != VD_OK) {
        fprintf(stderr, "bad test time %s\n", s);
        abort();
    }
    return t;
}

/* "0301T0900/0301T1000" */
static vd_instance SPAN(const char *s)
{
    char a[32];
    const char *slash = strchr(s, '/');
    snprintf(a, sizeof a, "%.*s", (int)(slash - s), s);
    return (vd_instance){ T(a), T(slash + 1) };
}

static void short_time(vd_time t, char out[32])
{
    char full[17];
    vd_time_format_utc(t, full);
    if (strncmp(full, "2027", 4) == 0)
        snprintf(out, 32, "%.4sT%.4s", full + 4, full + 9);
    else
        snprintf(out, 32, "%s", full);
}

/* ------------------------------------------------------------------ */
/* the table                                                           */

enum {
    F_PURPOSE = 1, F_LOOKS = 2, F_TRANSP = 4, F_CANCEL = 8,
    F_REALTZ = 16,      /* local_day/utc_offset from lib/ical_visit.c */
    F_REVERSE = 32,     /* the source reports neighbours in reverse order */
    F_NOEXCL = 64,      /* the source forgets to exclude the visit itself */
};

typedef struct nbr { const char *ref, *owner, *cust, *span; } nbr;

typedef struct tcase {
    const char *desc;
    const char *conf;           /* rules text, NULL: defaults */
    const char *team;
    const char *cust;           /* the visit's customer, NULL: none */
    unsigned fl;
    uint32_t approved;
    const char *inst[6];        /* the visit's instances */
    nbr nb[8];                  /* what the indexes hold */
    const char *expect;         /* "rule/policy/ref@start ..." in order */
    bool reject;
    const char *msg;            /* substring of the first message, or NULL */
} tcase;

#define A(r) (1u << (r))
#define V9 "0301T0900/0301T1000"
#define C_WIN(w) "customer-overlap.window = " w "\n"
#define BERLIN "timezone = Europe/Berlin\n"

static const tcase CASES[] = {
    /* rep-overlap */
    { "rep-overlap: own busy event overlapping", NULL, NULL, NULL, 0, 0, {V9},
      {{"a2", "alice", NULL, "0301T0930/0301T1030"}},
      "rep-overlap/flag/a2@0301T0930", false,
      "rep-overlap: alice already has a busy event on 2027-03-01 09:30-10:30" },
    { "rep-overlap: back to back (end == start) is no overlap", NULL, NULL, NULL, 0, 0, {V9},
      {{"a2", "alice", NULL, "0301T1000/0301T1100"}, {"a3", "alice", NULL, "0301T0800/0301T0900"}},
      "", false, NULL },
    { "rep-overlap: other event inside mine", NULL, NULL, NULL, 0, 0, {V9},
      {{"a2", "alice", NULL, "0301T0915/0301T0945"}},
      "rep-overlap/flag/a2@0301T0915", false, NULL },
    { "rep-overlap: another rep's event at the same time", NULL, NULL, NULL, 0, 0, {V9},
      {{"b1", "bob", NULL, "0301T0900/0301T1000"}}, "", false, NULL },
    { "rep-overlap: off", "rep-overlap = off\n", NULL, NULL, 0, 0, {V9},
      {{"a2", "alice", NULL, "0301T0930/0301T1030"}}, "", false, NULL },
    { "rep-overlap: reject", "rep-overlap = reject\n", NULL, NULL, 0, 0, {V9},
      {{"a2", "alice", NULL, "0301T0930/0301T1030"}},
      "rep-overlap/reject/a2@0301T0930", true, NULL },
    { "rep-overlap: a zero-length visit overlaps nothing", NULL, NULL, NULL, 0, 0,
      {"0301T0900/0301T0900"}, {{"a2", "alice", NULL, "0301T0800/0301T1000"}}, "", false, NULL },

    /* customer-overlap, same-day (default) */
    { "same-day: bob later that day", NULL, NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "customer-overlap/flag/b1@0301T1500", false,
      "customer-overlap: bob already visits this customer on 2027-03-01 15:00-16:00 (same day)" },
    { "same-day: next day at midnight is another day", NULL, NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0302T0000/0302T0100"}}, "", false, NULL },
    { "same-day: previous day ending at midnight", NULL, NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0228T2300/0301T0000"}}, "", false, NULL },
    { "same-day: previous day running past midnight", NULL, NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0228T2300/0301T0030"}},
      "customer-overlap/flag/b1@0228T2300", false,
      "on 2027-02-28 23:00-2027-03-01 00:30 (same day)" },
    { "same-day: the same rep again that day is not customer-overlap", NULL, NULL, "acme",
      F_PURPOSE, 0, {V9}, {{"a2", "alice", "acme", "0301T1500/0301T1600"}}, "", false, NULL },
    { "same-day: the same rep overlapping is rep-overlap only", NULL, NULL, "acme", F_PURPOSE, 0,
      {V9}, {{"a2", "alice", "acme", "0301T0930/0301T1030"}},
      "rep-overlap/flag/a2@0301T0930", false, NULL },
    { "same-day: another customer", NULL, NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "globex", "0301T1500/0301T1600"}}, "", false, NULL },
    { "same-day: an all-day visit of bob", NULL, NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T0000/0302T0000"}},
      "customer-overlap/flag/b1@0301T0000", false, "2027-03-01 00:00-24:00 (same day)" },

    /* customer-overlap, other windows */
    { "window overlap: back to back is not overlap", C_WIN("overlap"), NULL, "acme", F_PURPOSE, 0,
      {V9}, {{"b1", "bob", "acme", "0301T1000/0301T1100"}}, "", false, NULL },
    { "window overlap: overlapping", C_WIN("overlap"), NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T0930/0301T1030"}},
      "customer-overlap/flag/b1@0301T0930", false, "(overlapping)" },
    { "window 4h: starting exactly 4 h after the end", C_WIN("4h"), NULL, "acme", F_PURPOSE, 0,
      {V9}, {{"b1", "bob", "acme", "0301T1400/0301T1500"}}, "", false, NULL },
    { "window 4h: a minute inside", C_WIN("4h"), NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T1359/0301T1500"}},
      "customer-overlap/flag/b1@0301T1359", false, "(within 4 hours)" },
    { "window 4h: ending exactly 4 h before the start, and a minute later", C_WIN("4h"), NULL,
      "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T0400/0301T0500"}, {"b2", "bob", "acme", "0301T0401/0301T0501"}},
      "customer-overlap/flag/b2@0301T0401", false, NULL },
    { "window 4h: same day but far apart", C_WIN("4h"), NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T2000/0301T2100"}}, "", false, NULL },
    { "same-day: a visit across midnight covers both days", NULL, NULL, "acme", F_PURPOSE, 0,
      {"0301T2200/0302T0200"},
      {{"b1", "bob", "acme", "0302T1000/0302T1100"}, {"b2", "bob", "acme", "0303T0000/0303T0100"}},
      "customer-overlap/flag/b1@0302T1000", false, NULL },

    /* time zones and DST (real local_day) */
    { "Berlin: 00:30 local is the same day as 09:00 local", BERLIN, NULL, "acme",
      F_PURPOSE | F_REALTZ, 0, {"0301T0800/0301T0900"},
      {{"b1", "bob", "acme", "0228T2330/0301T0000"}},
      "customer-overlap/flag/b1@0228T2330", false, "on 2027-03-01 00:30-01:00 (same day)" },
    { "Berlin: 23:59 local same day, 00:00 local next day", BERLIN, NULL, "acme",
      F_PURPOSE | F_REALTZ, 0, {"0301T0800/0301T0900"},
      {{"b1", "bob", "acme", "0301T2300/0302T0000"}, {"b2", "bob", "acme", "0301T2259/0301T2330"}},
      "customer-overlap/flag/b2@0301T2259", false, NULL },
    { "UTC organisation: 23:30Z the day before is another day", NULL, NULL, "acme",
      F_PURPOSE | F_REALTZ, 0, {"0301T0800/0301T0900"},
      {{"b1", "bob", "acme", "0228T2330/0301T0000"}}, "", false, NULL },
    { "DST 2027-03-28 Berlin (23 h): 23:30 CEST is the same day", BERLIN, NULL, "acme",
      F_PURPOSE | F_REALTZ, 0, {"0328T1000/0328T1100"},
      {{"b1", "bob", "acme", "0328T2130/0328T2145"}},
      "customer-overlap/flag/b1@0328T2130", false, "on 2027-03-28 23:30-23:45" },
    { "DST 2027-03-28 Berlin: the day runs 23:00Z..22:00Z", BERLIN, NULL, "acme",
      F_PURPOSE | F_REALTZ, 0, {"0328T1000/0328T1100"},
      {{"b1", "bob", "acme", "0328T2200/0328T2230"}, {"b2", "bob", "acme", "0327T2259/0327T2300"},
       {"b3", "bob", "acme", "0327T2300/0327T2330"}},
      "customer-overlap/flag/b3@0327T2300", false, NULL },
    { "DST 2027-10-31 Berlin (25 h): the day runs 22:00Z..23:00Z", BERLIN, NULL, "acme",
      F_PURPOSE | F_REALTZ, 0, {"1031T1000/1031T1100"},
      {{"b1", "bob", "acme", "1031T2230/1031T2300"}, {"b2", "bob", "acme", "1031T2300/1031T2330"},
       {"b3", "bob", "acme", "1030T2130/1030T2200"}},
      "customer-overlap/flag/b1@1031T2230", false, "on 2027-10-31 23:30-24:00 (same day)" },

    /* customer-cadence */
    { "cadence 14 days: bob 10 days later", "customer-cadence = flag\n", NULL, "acme", F_PURPOSE,
      0, {V9}, {{"b1", "bob", "acme", "0311T0900/0311T1000"}},
      "customer-cadence/flag/b1@0311T0900", false,
      "customer-cadence: bob also visits this customer on 2027-03-11 09:00-10:00 (within 14 days)" },
    { "cadence: the rep's own earlier visit counts", "customer-cadence = flag\n", NULL, "acme",
      F_PURPOSE, 0, {V9}, {{"a2", "alice", "acme", "0220T0900/0220T1000"}},
      "customer-cadence/flag/a2@0220T0900", false, NULL },
    { "cadence edges: exactly 14 days apart is not within", "customer-cadence = flag\n", NULL,
      "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0315T1000/0315T1100"}, {"b2", "bob", "acme", "0215T0800/0215T0900"},
       {"b3", "bob", "acme", "0315T0959/0315T1100"}},
      "customer-cadence/flag/b3@0315T0959", false, NULL },
    { "cadence 3 days under reject", "customer-cadence = reject\ncustomer-cadence.days = 3\n",
      NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0305T0900/0305T1000"}, {"b2", "bob", "acme", "0303T0900/0303T1000"}},
      "customer-cadence/reject/b2@0303T0900", true, "(within 3 days)" },
    { "cadence is off by default", NULL, NULL, "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0311T0900/0311T1000"}}, "", false, NULL },

    /* required-fields */
    { "required-fields: a customer visit without purpose", "required-fields = flag\n", NULL,
      "acme", 0, 0, {V9}, {{NULL, NULL, NULL, NULL}},
      "required-fields/flag/-", false, "required-fields: a customer visit needs a purpose" },
    { "required-fields: with a purpose", "required-fields = flag\n", NULL, "acme", F_PURPOSE, 0,
      {V9}, {{NULL, NULL, NULL, NULL}}, "", false, NULL },
    { "required-fields: looks like a visit, customer unknown", "required-fields = flag\n", NULL,
      NULL, F_LOOKS, 0, {V9}, {{NULL, NULL, NULL, NULL}},
      "required-fields/flag/-", false, "not recognised" },
    { "required-fields: a plain event", "required-fields = flag\n", NULL, NULL, 0, 0, {V9},
      {{NULL, NULL, NULL, NULL}}, "", false, NULL },
    { "required-fields: off by default", NULL, NULL, "acme", 0, 0, {V9},
      {{NULL, NULL, NULL, NULL}}, "", false, NULL },

    /* transparent and cancelled */
    { "required-fields still applies to a transparent visit", "required-fields = reject\n",
      NULL, "acme", F_TRANSP, 0, {V9},
      {{"a2", "alice", NULL, "0301T0930/0301T1030"}, {"b1", "bob", "acme", "0301T0900/0301T1000"}},
      "required-fields/reject/-", true, NULL },
    { "a transparent visit collides with nothing", NULL, NULL, "acme", F_PURPOSE | F_TRANSP, 0,
      {V9}, {{"a2", "alice", NULL, "0301T0930/0301T1030"}, {"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "", false, NULL },
    { "a cancelled visit collides with nothing", "customer-cadence = reject\n", NULL, "acme",
      F_PURPOSE | F_CANCEL, 0, {V9},
      {{"a2", "alice", NULL, "0301T0930/0301T1030"}, {"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "", false, NULL },

    /* teams */
    { "team east rejects customer-overlap", "[team east]\ncustomer-overlap = reject\n", "east",
      "acme", F_PURPOSE, 0, {V9}, {{"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "customer-overlap/reject/b1@0301T1500", true, NULL },
    { "team west (not in the file) gets the organisation's flag",
      "[team east]\ncustomer-overlap = reject\n", "west", "acme", F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "customer-overlap/flag/b1@0301T1500", false, NULL },
    { "no team gets the organisation's policy", "[team east]\ncustomer-overlap = reject\n", NULL,
      "acme", F_PURPOSE, 0, {V9}, {{"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "customer-overlap/flag/b1@0301T1500", false, NULL },
    { "a team turns a rule off", "[organisation]\nrep-overlap = reject\n[team field]\nrep-overlap = off\n",
      "field", NULL, 0, 0, {V9}, {{"a2", "alice", NULL, "0301T0930/0301T1030"}}, "", false, NULL },
    { "a team narrows the window to overlap", "[team east]\n" C_WIN("overlap"), "east", "acme",
      F_PURPOSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T1500/0301T1600"}, {"b2", "bob", "acme", "0301T0959/0301T1030"}},
      "customer-overlap/flag/b2@0301T0959", false, "(overlapping)" },
    { "a team sets cadence days", "customer-cadence = flag\n[team east]\ncustomer-cadence.days = 30\n",
      "east", "acme", F_PURPOSE, 0, {V9}, {{"b1", "bob", "acme", "0325T0900/0325T1000"}},
      "customer-cadence/flag/b1@0325T0900", false, "(within 30 days)" },

    /* approvals */
    { "approved customer-overlap: rep-overlap still reported", NULL, NULL, "acme", F_PURPOSE,
      A(VD_RULE_CUSTOMER_OVERLAP), {V9},
      {{"a2", "alice", NULL, "0301T0930/0301T1030"}, {"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "rep-overlap/flag/a2@0301T0930", false, NULL },
    { "every rule approved", "required-fields = reject\ncustomer-cadence = reject\n", NULL, "acme",
      0, 0xF, {V9},
      {{"a2", "alice", NULL, "0301T0930/0301T1030"}, {"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "", false, NULL },

    /* recurring visits */
    { "recurring: one conflict per other visit, its first instance pair", NULL, NULL, "acme",
      F_PURPOSE, 0, {"0301T0900/0301T1000", "0302T0900/0302T1000", "0303T0900/0303T1000"},
      {{"b1", "bob", "acme", "0303T1500/0303T1600"}, {"b1", "bob", "acme", "0302T1500/0302T1600"}},
      "customer-overlap/flag/b1@0302T1500", false, "2027-03-02 15:00-16:00" },
    { "recurring: two other visits, ordered by their start", NULL, NULL, "acme", F_PURPOSE, 0,
      {"0301T0900/0301T1000", "0302T0900/0302T1000", "0303T0900/0303T1000"},
      {{"b2", "bob", "acme", "0303T0800/0303T0830"}, {"b1", "bob", "acme", "0302T1500/0302T1600"}},
      "customer-overlap/flag/b1@0302T1500 customer-overlap/flag/b2@0303T0800", false, NULL },
    { "recurring rep-overlap: only the third instance collides", NULL, NULL, NULL, 0, 0,
      {"0301T0900/0301T1000", "0302T0900/0302T1000", "0303T0900/0303T1000"},
      {{"a2", "alice", NULL, "0303T0959/0303T1100"}, {"a3", "alice", NULL, "0302T1000/0302T1100"}},
      "rep-overlap/flag/a2@0303T0959", false, NULL },

    /* ordering and robustness */
    { "ordering: by rule, then start, then ref", NULL, NULL, "acme", F_PURPOSE, 0, {V9},
      {{"c1", "carol", "acme", "0301T1500/0301T1600"}, {"b1", "bob", "acme", "0301T1500/0301T1600"},
       {"a2", "alice", NULL, "0301T0930/0301T1030"}, {"d1", "dave", "acme", "0301T1200/0301T1300"}},
      "rep-overlap/flag/a2@0301T0930 customer-overlap/flag/d1@0301T1200 "
      "customer-overlap/flag/b1@0301T1500 customer-overlap/flag/c1@0301T1500", false, NULL },
    { "ordering: the same with the source reporting in reverse", NULL, NULL, "acme",
      F_PURPOSE | F_REVERSE, 0, {V9},
      {{"c1", "carol", "acme", "0301T1500/0301T1600"}, {"b1", "bob", "acme", "0301T1500/0301T1600"},
       {"a2", "alice", NULL, "0301T0930/0301T1030"}, {"d1", "dave", "acme", "0301T1200/0301T1300"}},
      "rep-overlap/flag/a2@0301T0930 customer-overlap/flag/d1@0301T1200 "
      "customer-overlap/flag/b1@0301T1500 customer-overlap/flag/c1@0301T1500", false, NULL },
    { "first pair is the earliest whatever the source order", NULL, NULL, "acme",
      F_PURPOSE | F_REVERSE, 0, {V9},
      {{"b1", "bob", "acme", "0301T1200/0301T1300"}, {"b1", "bob", "acme", "0301T1500/0301T1600"}},
      "customer-overlap/flag/b1@0301T1200", false, NULL },
    { "no customer: only rep-overlap applies", "customer-cadence = flag\n", NULL, NULL, 0, 0, {V9},
      {{"b1", "bob", "acme", "0301T1500/0301T1600"}, {"a2", "alice", NULL, "0301T0930/0301T1030"}},
      "rep-overlap/flag/a2@0301T0930", false, NULL },
    { "the visit itself is never its own neighbour", "customer-cadence = flag\n", NULL, "acme",
      F_PURPOSE | F_NOEXCL, 0, {V9}, {{"v", "alice", "acme", V9}}, "", false, NULL },
    { "everything at once under reject",
      "rep-overlap = reject\ncustomer-overlap = reject\ncustomer-cadence = reject\n"
      "required-fields = reject\n", NULL, "acme", 0, 0, {V9},
      {{"a2", "alice", NULL, "0301T0930/0301T1030"}, {"b1", "bob", "acme", "0301T1500/0301T1600"},
       {"c1", "carol", "acme", "0306T0900/0306T1000"}},
      "rep-overlap/reject/a2@0301T0930 customer-overlap/reject/b1@0301T1500 "
      "customer-cadence/reject/b1@0301T1500 customer-cadence/reject/c1@0306T0900 "
      "required-fields/reject/-", true, NULL },
};

/* ------------------------------------------------------------------ */
/* the fake source                                                     */

typedef struct fake {
    const tcase *tc;
    int calls;
    vd_err fail;                /* returned by every lookup when set */
} fake;

static size_t n_neighbours(const tcase *tc)
{
    size_t n = 0;
    while (n < 8 && tc->nb[n].ref)
        n++;
    return n;
}

static vd_err lookup(fake *f, bool by_cust, const char *key, vd_time s, vd_time e,
                     const char *excl, vd_neighbour_cb cb, void *ctx)
{
    f->calls++;
    if (f->fail)
        return f->fail;
    size_t n = n_neighbours(f->tc);
    for (size_t k = 0; k < n; k++) {
        const nbr *b = &f->tc->nb[(f->tc->fl & F_REVERSE) ? n - 1 - k : k];
        const char *field = by_cust ? b->cust : b->owner;
        if (!field || strcmp(field, key) != 0)
            continue;
        if (!(f->tc->fl & F_NOEXCL) && excl && strcmp(b->ref, excl) == 0)
            continue;
        vd_instance in = SPAN(b->span);
        if (!(in.start < e && s < in.end))
            continue;
        vd_neighbour nb = { b->ref, b->owner, b->cust, in.start, in.end };
        vd_err err = cb(&nb, ctx);
        if (err)
            return err;
    }
    return VD_OK;
}

static vd_err by_customer(void *ctx, const char *customer_id, vd_time start, vd_time end,
                          const char *exclude_ref, vd_neighbour_cb cb, void *cb_ctx)
{
    return lookup(ctx, true, customer_id, start, end, exclude_ref, cb, cb_ctx);
}

static vd_err by_owner(void *ctx, const char *owner, vd_time start, vd_time end,
                       const char *exclude_ref, vd_neighbour_cb cb, void *cb_ctx)
{
    return lookup(ctx, false, owner, start, end, exclude_ref, cb, cb_ctx);
}

/* Fake: UTC days whatever the zone. */
static void utc_day(vd_time t, const char *tzid, vd_time *ds, vd_time *de)
{
    (void)tzid;
    vd_time r = ((t % 86400) + 86400) % 86400;
    *ds = t - r;
    *de = *ds + 86400;
}

static vd_rules_source make_source(fake *f, bool real)
{
    vd_rules_source src = {
        .ctx = f, .local_day = real ? vd_ical_local_day : utc_day,
        .by_customer = by_customer, .by_owner = by_owner,
        .utc_offset = real ? vd_ical_utc_offset : NULL,
    };
    return src;
}

static void describe(const vd_conflicts *c, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->n && len < n; i++) {
        const vd_conflict *x = &c->items[i];
        char when[32];
        short_time(x->other_start, when);
        const char *pol = x->policy == VD_POLICY_REJECT ? "reject"
                        : x->policy == VD_POLICY_FLAG ? "flag" : "OFF";
        if (x->other_ref)
            len += (size_t)snprintf(out + len, n - len, "%s%s/%s/%s@%s", i ? " " : "",
                                    vd_rule_name(x->rule), pol, x->other_ref, when);
        else
            len += (size_t)snprintf(out + len, n - len, "%s%s/%s/-", i ? " " : "",
                                    vd_rule_name(x->rule), pol);
    }
}

/* Build v from a case; inst is the storage for its instances. */
static vd_visit make_visit(const tcase *tc, vd_instance inst[6])
{
    vd_visit v = { .ref = "v", .owner = "alice", .team = tc->team, .customer_id = tc->cust,
                   .looks_like_visit = (tc->fl & F_LOOKS) != 0,
                   .has_purpose = (tc->fl & F_PURPOSE) != 0,
                   .transparent = (tc->fl & F_TRANSP) != 0,
                   .cancelled = (tc->fl & F_CANCEL) != 0,
                   .approved = tc->approved, .inst = inst };
    while (v.n_inst < 6 && tc->inst[v.n_inst]) {
        inst[v.n_inst] = SPAN(tc->inst[v.n_inst]);
        v.n_inst++;
    }
    return v;
}

static void run_case(const tcase *tc)
{
    vd_rules *r = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    const char *conf = tc->conf ? tc->conf : "";
    if (vd_rules_parse("case.conf", conf, strlen(conf), &r, &d) != VD_OK) {
        fprintf(stderr, "FAIL [%s]: config: %s\n", tc->desc, d.message);
        check_failed++;
        return;
    }
    vd_instance inst[6];
    vd_visit v = make_visit(tc, inst);
    fake f = { .tc = tc };
    vd_rules_source src = make_source(&f, (tc->fl & F_REALTZ) != 0);
    vd_conflicts out;
    vd_err err = vd_rules_check(r, &v, &src, &out);
    char got[1024];
    describe(&out, got, sizeof got);
    bool ok = err == VD_OK && strcmp(got, tc->expect) == 0 && out.reject == tc->reject;
    if (ok && tc->msg)
        ok = out.n > 0 && strstr(out.items[0].message, tc->msg) != NULL;
    for (size_t i = 0; ok && i < out.n; i++)   /* never empty, never a summary */
        ok = out.items[i].message[0] != '\0' &&
             strncmp(out.items[i].message, vd_rule_name(out.items[i].rule),
                     strlen(vd_rule_name(out.items[i].rule))) == 0;
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "FAIL [%s]: err %d reject %d\n  got:    \"%s\"\n  expect: \"%s\"\n",
                tc->desc, err, out.reject, got, tc->expect);
        if (out.n)
            fprintf(stderr, "  message: %s\n", out.items[0].message);
    }
    vd_conflicts_clear(&out);
    vd_rules_free(r);
}

/* ------------------------------------------------------------------ */
/* checks outside the table                                            */

static const tcase *find_case(const char *prefix)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        if (strncmp(CASES[i].desc, prefix, strlen(prefix)) == 0)
            return &CASES[i];
    abort();
}

static void test_first_pair_and_calls(void)
{
    const tcase *tc = find_case("recurring: one conflict per other visit");
    vd_instance inst[6];
    vd_visit v = make_visit(tc, inst);
    fake f = { .tc = tc };
    vd_rules_source src = make_source(&f, false);
    vd_conflicts out;
    CHECK_INT(vd_rules_check(NULL, &v, &src, &out), VD_OK);
    CHECK_INT(out.n, 1);
    if (out.n == 1) {
        CHECK_INT(out.items[0].start, T("0302T0900"));   /* the visit's second instance */
        CHECK_INT(out.items[0].end, T("0302T1000"));
        CHECK_INT(out.items[0].other_end, T("0302T1600"));
        CHECK_STR(out.items[0].other_owner, "bob");
    }
    /* 3 instances x 2 active rules (rep-overlap, customer-overlap) */
    CHECK_INT(f.calls, 6);
    vd_conflicts_clear(&out);
    CHECK_INT(out.n, 0);
    CHECK(out.items == NULL);
    vd_conflicts_clear(NULL);
}

static void test_source_errors(void)
{
    const tcase *tc = find_case("same-day: bob later that day");
    vd_instance inst[6];
    vd_visit v = make_visit(tc, inst);
    fake f = { .tc = tc, .fail = VD_EIO };
    vd_rules_source src = make_source(&f, false);
    vd_conflicts out;
    CHECK_INT(vd_rules_check(NULL, &v, &src, &out), VD_EIO);
    CHECK_INT(out.n, 0);
    f.fail = VD_OK;
    src.by_customer = NULL;        /* an active rule without its lookup: refuse */
    CHECK_INT(vd_rules_check(NULL, &v, &src, &out), VD_EINVAL);
    src = make_source(&f, false);
    src.local_day = NULL;          /* same-day without local days: refuse */
    CHECK_INT(vd_rules_check(NULL, &v, &src, &out), VD_EINVAL);
    CHECK_INT(vd_rules_check(NULL, &v, NULL, &out), VD_EINVAL);
    CHECK_INT(vd_rules_check(NULL, NULL, &src, &out), VD_EINVAL);
    v.n_inst = VD_MAX_EXPAND_INST + 1;
    CHECK_INT(vd_rules_check(NULL, &v, &src, &out), VD_ETOOBIG);
}

/* 1,200 other visits the same day: at most VD_RULES_MAX_OTHERS recorded. */
static vd_err many(void *ctx, const char *customer_id, vd_time start, vd_time end,
                   const char *exclude_ref, vd_neighbour_cb cb, void *cb_ctx)
{
    (void)ctx; (void)customer_id; (void)end; (void)exclude_ref;
    for (int i = 0; i < 1200; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "r%04d", i);
        vd_neighbour n = { ref, "bob", "acme", start + 60 * (i % 600), start + 60 * (i % 600) + 60 };
        vd_err err = cb(&n, cb_ctx);
        if (err)
            return err;
    }
    return VD_OK;
}

static void test_truncation(void)
{
    vd_instance in = { T("0301T0900"), T("0301T1000") };
    vd_visit v = { .ref = "v", .owner = "alice", .customer_id = "acme", .has_purpose = true,
                   .inst = &in, .n_inst = 1 };
    vd_rules_source src = { .local_day = utc_day, .by_customer = many, .by_owner = many };
    vd_rules *r = NULL;
    CHECK_INT(vd_rules_parse("t", "rep-overlap = off\n", 18, &r, NULL), VD_OK);
    vd_conflicts out;
    CHECK_INT(vd_rules_check(r, &v, &src, &out), VD_OK);
    CHECK_INT(out.n, VD_RULES_MAX_OTHERS);
    CHECK(out.truncated);
    bool sorted = true;
    for (size_t i = 1; i < out.n; i++)
        if (out.items[i - 1].other_start > out.items[i].other_start)
            sorted = false;
    CHECK(sorted);
    vd_conflicts_clear(&out);
    vd_rules_free(r);
}

/* Without utc_offset the times are UTC and say so (unless the zone is UTC). */
static void test_message_zone(void)
{
    const tcase *tc = find_case("Berlin: 00:30 local");
    vd_instance inst[6];
    vd_visit v = make_visit(tc, inst);
    fake f = { .tc = tc };
    vd_rules_source src = make_source(&f, true);
    src.utc_offset = NULL;
    vd_rules *r = NULL;
    CHECK_INT(vd_rules_parse("t", BERLIN, strlen(BERLIN), &r, NULL), VD_OK);
    vd_conflicts out;
    CHECK_INT(vd_rules_check(r, &v, &src, &out), VD_OK);
    CHECK_INT(out.n, 1);
    if (out.n)
        CHECK(strstr(out.items[0].message, "on 2027-02-28 23:30-24:00 UTC (same day)") != NULL);
    vd_conflicts_clear(&out);
    vd_rules_free(r);
}

/* ------------------------------------------------------------------ */
/* the file                                                            */

static void test_defaults(void)
{
    vd_rules *r = NULL;
    CHECK_INT(vd_rules_load(NULL, &r, NULL), VD_OK);
    CHECK(r != NULL);
    for (int pass = 0; pass < 2; pass++) {
        const vd_rules *x = pass ? NULL : r;     /* NULL answers the defaults too */
        CHECK_INT(vd_rules_policy(x, VD_RULE_REP_OVERLAP, NULL), VD_POLICY_FLAG);
        CHECK_INT(vd_rules_policy(x, VD_RULE_CUSTOMER_OVERLAP, "any"), VD_POLICY_FLAG);
        CHECK_INT(vd_rules_policy(x, VD_RULE_CUSTOMER_CADENCE, NULL), VD_POLICY_OFF);
        CHECK_INT(vd_rules_policy(x, VD_RULE_REQUIRED_FIELDS, NULL), VD_POLICY_OFF);
        int h = -1;
        CHECK_INT(vd_rules_window(x, NULL, &h), VD_WINDOW_SAME_DAY);
        CHECK_INT(h, 0);
        CHECK_INT(vd_rules_cadence_days(x, NULL), 14);
        CHECK_STR(vd_rules_timezone(x), "UTC");
        CHECK_INT(vd_rules_horizon_days(x), 366);
        CHECK_INT(vd_rules_marker(x), VD_MARKER_SUMMARY);
        CHECK_STR(vd_rules_marker_prefix(x), "[CONFLICT] ");
        CHECK_STR(vd_rules_marker_category(x), "Conflict");
        CHECK(!vd_rules_is_approver(x, "carol"));
    }
    vd_rules_free(r);
    vd_rules_free(NULL);
}

static void test_names(void)
{
    vd_rule rule = VD_RULE_COUNT;
    CHECK_STR(vd_rule_name(VD_RULE_REP_OVERLAP), "rep-overlap");
    CHECK_STR(vd_rule_name(VD_RULE_CUSTOMER_OVERLAP), "customer-overlap");
    CHECK_STR(vd_rule_name(VD_RULE_CUSTOMER_CADENCE), "customer-cadence");
    CHECK_STR(vd_rule_name(VD_RULE_REQUIRED_FIELDS), "required-fields");
    CHECK(vd_rule_from_name("Customer-Cadence", &rule) && rule == VD_RULE_CUSTOMER_CADENCE);
    CHECK(!vd_rule_from_name("customer", &rule));
    CHECK(!vd_rule_from_name(NULL, &rule));
}

static const char FULL[] =
    "# a comment\r\n"
    "[organisation]\r\n"
    "timezone = Europe/Berlin   # for same-day\r\n"
    "horizon_days = 90\r\n"
    "rep-overlap = REJECT\r\n"
    "customer-overlap.window = 6h\r\n"
    "customer-cadence = flag\r\n"
    "customer-cadence.days = 21\r\n"
    "required-fields = flag\r\n"
    "marker = both\r\n"
    "marker.prefix = \"[CONFLICT] \"   # trailing space kept\r\n"
    "marker.category = Konflikt\r\n"
    "approvers = carol,  dave\r\n"
    "\r\n"
    "[team east]\r\n"
    "customer-overlap = reject\r\n"
    "[team west]\r\n"
    "customer-overlap.window = overlap\r\n"
    "members = alice,bob\r\n"
    "[team east]\r\n"
    "customer-cadence.days = 7\r\n"
    "members = carol";             /* no final newline; carol is also an approver */

static void test_full(void)
{
    vd_rules *r = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    CHECK_INT(vd_rules_parse("full", FULL, strlen(FULL), &r, &d), VD_OK);
    if (!r) {
        fprintf(stderr, "  %s\n", d.message);
        return;
    }
    CHECK_STR(vd_rules_timezone(r), "Europe/Berlin");
    CHECK_INT(vd_rules_horizon_days(r), 90);
    CHECK_INT(vd_rules_policy(r, VD_RULE_REP_OVERLAP, NULL), VD_POLICY_REJECT);
    CHECK_INT(vd_rules_policy(r, VD_RULE_REP_OVERLAP, "east"), VD_POLICY_REJECT);
    CHECK_INT(vd_rules_policy(r, VD_RULE_CUSTOMER_OVERLAP, NULL), VD_POLICY_FLAG);
    CHECK_INT(vd_rules_policy(r, VD_RULE_CUSTOMER_OVERLAP, "east"), VD_POLICY_REJECT);
    CHECK_INT(vd_rules_policy(r, VD_RULE_CUSTOMER_OVERLAP, "West"), VD_POLICY_FLAG);
    int h = 0;
    CHECK_INT(vd_rules_window(r, NULL, &h), VD_WINDOW_HOURS);
    CHECK_INT(h, 6);
    CHECK_INT(vd_rules_window(r, "east", &h), VD_WINDOW_HOURS);
    CHECK_INT(vd_rules_window(r, "west", &h), VD_WINDOW_OVERLAP);
    CHECK_INT(h, 0);
    CHECK_INT(vd_rules_cadence_days(r, NULL), 21);
    CHECK_INT(vd_rules_cadence_days(r, "east"), 7);
    CHECK_INT(vd_rules_cadence_days(r, "west"), 21);
    CHECK_INT(vd_rules_policy(r, VD_RULE_REQUIRED_FIELDS, "west"), VD_POLICY_FLAG);
    CHECK_INT(vd_rules_marker(r), VD_MARKER_BOTH);
    CHECK_STR(vd_rules_marker_prefix(r), "[CONFLICT] ");
    CHECK_STR(vd_rules_marker_category(r), "Konflikt");
    CHECK(vd_rules_is_approver(r, "carol"));
    CHECK(vd_rules_is_approver(r, "dave"));
    CHECK(!vd_rules_is_approver(r, "Carol"));
    CHECK(!vd_rules_is_approver(r, NULL));
    CHECK_STR(vd_rules_team_of(r, "alice"), "west");
    CHECK_STR(vd_rules_team_of(r, "bob"), "west");
    CHECK_STR(vd_rules_team_of(r, "carol"), "east");
    CHECK(vd_rules_team_of(r, "dave") == NULL);
    CHECK(vd_rules_team_of(r, NULL) == NULL);
    vd_rules_free(r);

    const char *q = "marker.prefix = \"say \\\"hi\\\" \\\\ \"\napprovers =\n";
    r = NULL;
    CHECK_INT(vd_rules_parse("q", q, strlen(q), &r, &d), VD_OK);
    if (r)
        CHECK_STR(vd_rules_marker_prefix(r), "say \"hi\" \\ ");
    vd_rules_free(r);
}

typedef struct ecase { const char *text, *msg; } ecase;

static const ecase ERRORS[] = {
    { "rep-overlap = maybe\n", "e.conf:1: policy must be reject, flag or off" },
    { "# c\n\nfoo = bar\n", "e.conf:3: unknown key \"foo\"" },
    { "[team]\n", "e.conf:1: a team section needs a name" },
    { "[team a b]\n", "e.conf:1: bad character in team name" },
    { "[team east]\ntimezone = UTC\n", "e.conf:2: timezone belongs in [organisation]" },
    { "\nmarker.prefix = \"[X] \n", "e.conf:2: unterminated quoted value" },
    { "marker.prefix = \"[X] \" trailing\n", "e.conf:1: unterminated quoted value" },
    { "customer-overlap.window = 0h\n", "e.conf:1: window must be" },
    { "customer-overlap.window = 721h\n", "e.conf:1: window must be" },
    { "customer-overlap.window = sameday\n", "e.conf:1: window must be" },
    { "customer-cadence.days = -1\n", "e.conf:1: customer-cadence.days must be" },
    { "customer-cadence.days = 367\n", "e.conf:1: customer-cadence.days must be" },
    { "horizon_days = 2000\n", "e.conf:1: horizon_days must be" },
    { "horizon_days =\n", "e.conf:1: horizon_days must be" },
    { "rep-overlap = flag\nrep-overlap = off\n", "e.conf:2: rep-overlap is set twice" },
    { "[team east]\nrep-overlap = flag\n[team east]\nrep-overlap = off\n",
      "e.conf:4: rep-overlap is set twice" },
    { "[frobnicate]\n", "e.conf:1: unknown section [frobnicate]" },
    { "[organisation] x\n", "e.conf:1: a section header" },
    { "marker = pink\n", "e.conf:1: marker must be summary, categories or both" },
    { "marker.category = a,b\n", "e.conf:1: marker.category must not contain" },
    { "marker.prefix = \"\"\n", "e.conf:1: marker.prefix must have 1 to 64 bytes" },
    { "approvers = carol,,dave\n", "e.conf:1: bad approver name" },
    { "timezone = ../etc/passwd\n", "e.conf:1: timezone must be a zone name" },
    { "just text\n", "e.conf:1: expected \"key = value\"" },
    { " = flag\n", "e.conf:1: missing key" },
    { "[team east]\nmarker = both\n", "e.conf:2: marker belongs in [organisation]" },
    { "a\n\n\n\n\n\n\n\n\nrep-overlap=x\n", "e.conf:1: expected" },
    { "\n\n\n\n\n\n\n\n\n\nrep-overlap=x\n", "e.conf:11: policy" },
    { "members = alice\n", "e.conf:1: members belongs in a [team NAME] section" },
    { "[team a]\nmembers = alice\n[team b]\nmembers = bob, alice\n",
      "e.conf:4: alice is already a member of a team" },
    { "[team a]\nmembers = alice, alice\n", "e.conf:2: alice is already a member" },
    { "[team a]\nmembers = alice\n[team a]\nmembers = bob\n", "e.conf:4: members is set twice" },
    { "[team a]\nmembers = al ice\n", "e.conf:2: bad member name" },
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++) {
        vd_rules *r = (vd_rules *)1;
        vd_diag d;
        memset(&d, 0, sizeof d);
        vd_err err = vd_rules_parse("e.conf", ERRORS[i].text, strlen(ERRORS[i].text), &r, &d);
        bool ok = err == VD_EINVAL && r == NULL &&
                  strncmp(d.message, ERRORS[i].msg, strlen(ERRORS[i].msg)) == 0;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  case %zu: err %d message \"%s\", want \"%s\"\n", i, err,
                    d.message, ERRORS[i].msg);
    }
    /* a long line and a NUL byte */
    char *big = malloc(5000);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    vd_rules *r = NULL;
    vd_diag d;
    CHECK_INT(vd_rules_parse("e.conf", big, 4999, &r, &d), VD_EINVAL);
    CHECK(strstr(d.message, "e.conf:1: line longer") != NULL);
    free(big);
    CHECK_INT(vd_rules_parse("e.conf", "rep-overlap = flag\0", 19, &r, &d), VD_EINVAL);
    CHECK(strstr(d.message, "NUL") != NULL);
}

static char src_root[PATH_MAX];

static void find_src_root(void)
{
    const char *env = getenv("VISITDAV_SRC");
    int dirlen = (int)(strrchr(__FILE__, '/') - __FILE__);
    if (env) {
        snprintf(src_root, sizeof src_root, "%s", env);
    } else if (__FILE__[0] == '/') {
        snprintf(src_root, sizeof src_root, "%.*s/../..", dirlen, __FILE__);
    } else {
        /* __FILE__ is relative to the build dir, which holds tests/test_rules */
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(src_root, sizeof src_root, "%.*s/../%.*s/../..", (int)(PATH_MAX / 2), exe,
                 dirlen, __FILE__);
    }
}

static void test_files(void)
{
    char path[PATH_MAX + 64];
    vd_rules *r = NULL;
    vd_diag d;
    memset(&d, 0, sizeof d);
    snprintf(path, sizeof path, "%s/conf/rules.conf.example", src_root);
    CHECK_INT(vd_rules_load(path, &r, &d), VD_OK);
    if (!r) {
        fprintf(stderr, "  %s: %s\n", path, d.message);
    } else {
        CHECK_STR(vd_rules_timezone(r), "Europe/Berlin");
        CHECK(vd_ical_zone_known(vd_rules_timezone(r)));
        CHECK_STR(vd_rules_marker_prefix(r), "[CONFLICT] ");
        CHECK_INT(vd_rules_policy(r, VD_RULE_CUSTOMER_OVERLAP, "east"), VD_POLICY_REJECT);
        CHECK_INT(vd_rules_policy(r, VD_RULE_CUSTOMER_CADENCE, "field-service"), VD_POLICY_FLAG);
        CHECK_INT(vd_rules_cadence_days(r, "field-service"), 7);
        CHECK(vd_rules_is_approver(r, "dave"));
        CHECK_STR(vd_rules_team_of(r, "bob"), "east");
    }
    vd_rules_free(r);

    /* the file the protocol tests run the server with */
    snprintf(path, sizeof path, "%s/tests/data/rules/rules-team.conf", src_root);
    r = NULL;
    CHECK_INT(vd_rules_load(path, &r, &d), VD_OK);
    CHECK_STR(vd_rules_team_of(r, "bob"), "east");
    CHECK_INT(vd_rules_policy(r, VD_RULE_CUSTOMER_OVERLAP, vd_rules_team_of(r, "alice")),
              VD_POLICY_REJECT);
    CHECK_INT(vd_rules_policy(r, VD_RULE_CUSTOMER_OVERLAP, vd_rules_team_of(r, "dave")),
              VD_POLICY_FLAG);
    vd_rules_free(r);

    char tmp[] = "/tmp/test_rules_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    const char *bad = "[organisation]\nrep-overlap = flag\ncustomer-overlap = sometimes\n";
    CHECK(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
    close(fd);
    r = NULL;
    CHECK_INT(vd_rules_load(tmp, &r, &d), VD_EINVAL);
    CHECK(r == NULL);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s:3: policy", tmp);
    CHECK(strncmp(d.message, want, strlen(want)) == 0);
    unlink(tmp);
    CHECK_INT(vd_rules_load("/nonexistent/rules.conf", &r, &d), VD_EIO);
    CHECK(strstr(d.message, "/nonexistent/rules.conf") != NULL);
}

int main(void)
{
    find_src_root();
    size_t n = sizeof CASES / sizeof CASES[0];
    for (size_t i = 0; i < n; i++)
        run_case(&CASES[i]);
    printf("%zu table cases\n", n);
    test_first_pair_and_calls();
    test_source_errors();
    test_truncation();
    test_message_zone();
    test_defaults();
    test_names();
    test_full();
    test_errors();
    test_files();
    return check_done();
}
