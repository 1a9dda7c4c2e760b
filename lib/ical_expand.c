/* ical_expand.c - recurrence expansion (RFC 5545 3.8.5: DTSTART + RRULE +
 * RDATE - EXDATE, overridden instances via RECURRENCE-ID), the instance
 * lists the store indexes, and busy time for free-busy (RFC 4791 7.10).
 * Owns every use of libical's recurrence iterator, always under two caps:
 * the caller's instance cap and IC_MAX_STEPS iterator steps.  Must not
 * validate (ical.c), evaluate filters (ical_filter.c) or serialise.
 * RANGE=THISANDFUTURE on a RECURRENCE-ID is treated as a plain override of
 * the one instance it names. */
#include "ical_internal.h"

#include <stdlib.h>
#include <string.h>

#define INDEX_MAX_SPAN (31 * 86400)   /* wider instances make an object open-ended */

/* Length of an instance: nominal days in local time, then exact seconds
 * (RFC 5545 3.3.6: days and weeks are nominal, the rest exact). */
typedef struct span {
    int days;
    long long secs;
    ic_trmode mode;
} span;

typedef enum { TM_NONE, TM_START, TM_DUE_ONLY, TM_FOREVER } tmkind;

/* EXDATEs and overridden RECURRENCE-IDs of one master. */
typedef struct excl {
    vd_time *at; size_t n_at, cap_at;     /* exact UTC instants, sorted */
    int *days; size_t n_days, cap_days;   /* yyyymmdd, for DATE vs DATE-TIME */
} excl;

typedef struct xctx {
    const vd_ical *ic;
    icaltimezone *floating;
    vd_time from, until;
    size_t cap;
    ic_set *out;
    size_t steps;
    bool oom;
} xctx;

enum { OCC_OUT, OCC_IN, OCC_AFTER };

static icalproperty *first(icalcomponent *c, icalproperty_kind k)
{
    return icalcomponent_get_first_property(c, k);
}

static long day_number(icaltimetype t)
{
    /* days since 1970-01-01 of a civil date (proleptic Gregorian) */
    long y = t.year - (t.month <= 2), m = t.month, d = t.day;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static vd_time sat_add(vd_time a, long long b)
{
    if (b > 0 && a > VD_TIME_MAX - b)
        return VD_TIME_MAX;
    if (b < 0 && a < VD_TIME_MIN - b)
        return VD_TIME_MIN;
    return a + b;
}

static bool push(xctx *x, const ic_inst *in)
{
    ic_set *s = x->out;
    if (s->n == s->alloc) {
        size_t nc = s->alloc ? s->alloc * 2 : 16;
        ic_inst *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) {
            x->oom = true;
            return false;
        }
        s->v = nv;
        s->alloc = nc;
    }
    s->v[s->n++] = *in;
    return true;
}

bool ic_trmatch(const ic_inst *in, vd_time rs, vd_time re)
{
    vd_time s = in->start, e = in->end;
    switch (in->mode) {
    case IC_TR_OVERLAP:   return rs < e && re > s;
    case IC_TR_POINT:     return rs <= s && re > s;
    case IC_TR_TODO_DUR:  return rs <= e && (re > s || re >= e);
    case IC_TR_TODO_DUE:  return (rs < e || rs <= s) && (re > s || re >= e);
    case IC_TR_DUE_ONLY:  return rs < e && re >= e;
    case IC_TR_TODO_NONE: return true;
    }
    return false;
}

bool ic_todo_nodate(icalcomponent *todo, icalcomponent *root, icaltimezone *floating,
                    vd_time rs, vd_time re)
{
    ic_dt d;
    bool hco = ic_prop_dt(first(todo, ICAL_COMPLETED_PROPERTY), root, floating, &d);
    vd_time co = hco ? ic_dt_utc(&d) : 0;
    bool hcr = ic_prop_dt(first(todo, ICAL_CREATED_PROPERTY), root, floating, &d);
    vd_time cr = hcr ? ic_dt_utc(&d) : 0;
    /* RFC 4791 9.9, the VTODO rows without DTSTART, DURATION and DUE */
    if (hco && hcr)
        return (rs <= cr || rs <= co) && (re >= cr || re >= co);
    if (hco)
        return rs <= co && re >= co;
    if (hcr)
        return re > cr;
    return true;
}

static bool by_set(const short *a)
{
    return a[0] != ICAL_RECURRENCE_ARRAY_MAX;
}

bool ic_rrule_too_costly(const struct icalrecurrencetype *r)
{
    /* libical 3.0 steps sub-daily rules one unit at a time and tests the
     * BYxxx parts on each step, so a rare or impossible date filter means
     * millions of steps inside one icalrecur_iterator_next() call. */
    bool date_level = by_set(r->by_month) || by_set(r->by_week_no) ||
                      by_set(r->by_year_day) || by_set(r->by_month_day);
    switch (r->freq) {
    case ICAL_SECONDLY_RECURRENCE:
        return date_level || by_set(r->by_day) || by_set(r->by_hour) ||
               by_set(r->by_minute) || by_set(r->by_set_pos);
    case ICAL_MINUTELY_RECURRENCE:
        return date_level || by_set(r->by_day) || by_set(r->by_hour) || by_set(r->by_set_pos);
    case ICAL_HOURLY_RECURRENCE:
        return date_level;
    default:
        return false;
    }
}

/* BYMONTH + BYMONTHDAY that no month can satisfy (libical would search
 * until its year limit before giving up). */
static bool rule_impossible(const struct icalrecurrencetype *r)
{
    static const int mdays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!by_set(r->by_month) || !by_set(r->by_month_day))
        return false;
    for (int i = 0; i < ICAL_BY_MONTH_SIZE && r->by_month[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
        int m = icalrecurrencetype_month_month(r->by_month[i]);
        if (m < 1 || m > 12)
            return false;              /* leap months (RSCALE): let libical decide */
        for (int j = 0; j < ICAL_BY_MONTHDAY_SIZE &&
                        r->by_month_day[j] != ICAL_RECURRENCE_ARRAY_MAX; j++) {
            int d = r->by_month_day[j];
            if ((d < 0 ? -d : d) <= mdays[m])
                return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* timing of one component                                             */

static span dur_span(icalproperty *p)
{
    span s = {0, 0, IC_TR_POINT};
    struct icaldurationtype du = icalproperty_get_duration(p);
    if (du.is_neg)
        return s;
    s.days = (int)(du.weeks * 7 + du.days);
    s.secs = du.hours * 3600LL + du.minutes * 60LL + du.seconds;
    return s;
}

static span end_span(const ic_dt *start, const ic_dt *end)
{
    span s = {0, 0, IC_TR_POINT};
    if (start->is_date && end->is_date)
        s.days = (int)(day_number(end->t) - day_number(start->t));
    else
        s.secs = ic_dt_utc(end) - ic_dt_utc(start);
    if (s.days < 0 || s.secs < 0)
        s.days = 0, s.secs = 0;
    return s;
}

/* RFC 5545 3.6.1 (VEVENT), 3.6.2 (VTODO), 3.6.3 (VJOURNAL) durations and
 * the RFC 4791 9.9 comparison each of them implies. */
static tmkind comp_timing(xctx *x, icalcomponent *c, ic_dt *start, span *sp, ic_dt *due)
{
    icalcomponent *root = x->ic->root;
    icalcomponent_kind k = icalcomponent_isa(c);
    bool hs = ic_prop_dt(first(c, ICAL_DTSTART_PROPERTY), root, x->floating, start);
    icalproperty *pdur = first(c, ICAL_DURATION_PROPERTY);
    ic_dt end;
    sp->days = 0, sp->secs = 0;
    if (k == ICAL_VTODO_COMPONENT) {
        bool hdue = ic_prop_dt(first(c, ICAL_DUE_PROPERTY), root, x->floating, due);
        if (hs && pdur) {
            *sp = dur_span(pdur);
            sp->mode = IC_TR_TODO_DUR;
        } else if (hs && hdue) {
            *sp = end_span(start, due);
            sp->mode = IC_TR_TODO_DUE;
        } else if (hs) {
            sp->mode = IC_TR_POINT;
        } else {
            sp->mode = hdue ? IC_TR_DUE_ONLY : IC_TR_TODO_NONE;
            return hdue ? TM_DUE_ONLY : TM_FOREVER;
        }
        return TM_START;
    }
    if (!hs)
        return TM_NONE;
    if (k != ICAL_VJOURNAL_COMPONENT &&
        ic_prop_dt(first(c, ICAL_DTEND_PROPERTY), root, x->floating, &end))
        *sp = end_span(start, &end);
    else if (k != ICAL_VJOURNAL_COMPONENT && pdur)
        *sp = dur_span(pdur);
    else if (start->is_date)
        sp->days = 1;             /* a DATE lasts the whole day */
    sp->mode = (sp->days > 0 || sp->secs > 0) ? IC_TR_OVERLAP : IC_TR_POINT;
    return TM_START;
}

static void occ_times(const ic_dt *base, icaltimetype t, const span *sp, vd_time *s, vd_time *e)
{
    *s = ic_local_to_utc(t, base->zone);
    if (sp->days) {
        icaltimetype t2 = t;
        icaltime_adjust(&t2, sp->days, 0, 0, 0);
        *e = sat_add(ic_local_to_utc(t2, base->zone), sp->secs);
    } else {
        *e = sat_add(*s, sp->secs);
    }
}

/* ------------------------------------------------------------------ */
/* exclusions                                                          */

static int ymd(icaltimetype t)
{
    return t.year * 10000 + t.month * 100 + t.day;
}

static bool excl_add(xctx *x, excl *ex, const ic_dt *d, bool master_is_date)
{
    if (d->is_date && !master_is_date) {
        if (ex->n_days == ex->cap_days) {
            size_t nc = ex->cap_days ? ex->cap_days * 2 : 8;
            int *nv = realloc(ex->days, nc * sizeof *nv);
            if (!nv)
                return !(x->oom = true);
            ex->days = nv, ex->cap_days = nc;
        }
        ex->days[ex->n_days++] = ymd(d->t);
        return true;
    }
    if (ex->n_at == ex->cap_at) {
        size_t nc = ex->cap_at ? ex->cap_at * 2 : 16;
        vd_time *nv = realloc(ex->at, nc * sizeof *nv);
        if (!nv)
            return !(x->oom = true);
        ex->at = nv, ex->cap_at = nc;
    }
    ex->at[ex->n_at++] = ic_dt_utc(d);
    return true;
}

static int cmp_vt(const void *a, const void *b)
{
    vd_time x = *(const vd_time *)a, y = *(const vd_time *)b;
    return x < y ? -1 : x > y;
}

static bool same_uid(icalcomponent *a, icalcomponent *b)
{
    icalproperty *pa = first(a, ICAL_UID_PROPERTY), *pb = first(b, ICAL_UID_PROPERTY);
    const char *ua = pa ? icalproperty_get_uid(pa) : "";
    const char *ub = pb ? icalproperty_get_uid(pb) : "";
    return strcmp(ua ? ua : "", ub ? ub : "") == 0;
}

static void excl_collect(xctx *x, icalcomponent *master, bool is_date, excl *ex)
{
    icalcomponent *root = x->ic->root;
    ic_dt d;
    for (icalproperty *p = first(master, ICAL_EXDATE_PROPERTY); p;
         p = icalcomponent_get_next_property(master, ICAL_EXDATE_PROPERTY))
        if (ic_prop_dt(p, root, x->floating, &d))
            excl_add(x, ex, &d, is_date);
    for (icalcompiter it = icalcomponent_begin_component(root, x->ic->kind);
         icalcompiter_deref(&it); icalcompiter_next(&it)) {
        icalcomponent *c = icalcompiter_deref(&it);
        icalproperty *rp = first(c, ICAL_RECURRENCEID_PROPERTY);
        if (c != master && rp && same_uid(c, master) && ic_prop_dt(rp, root, x->floating, &d))
            excl_add(x, ex, &d, is_date);
    }
    if (ex->n_at > 1)
        qsort(ex->at, ex->n_at, sizeof *ex->at, cmp_vt);
}

static bool excluded(const excl *ex, vd_time s, icaltimetype local)
{
    size_t lo = 0, hi = ex->n_at;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ex->at[mid] < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ex->n_at && ex->at[lo] == s)
        return true;
    for (size_t i = 0; i < ex->n_days; i++)
        if (ex->days[i] == ymd(local))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* occurrences                                                         */

static int add_occ(xctx *x, const excl *ex, const ic_inst *base, const ic_dt *st,
                   icaltimetype t, const span *sp)
{
    ic_inst in = *base;
    occ_times(st, t, sp, &in.start, &in.end);
    in.rid = in.start;
    if (excluded(ex, in.start, t))
        return in.start > x->until ? OCC_AFTER : OCC_OUT;
    if (in.start >= x->until)
        x->out->beyond = true;
    if (ic_trmatch(&in, x->from, x->until))
        return push(x, &in) ? OCC_IN : OCC_AFTER;
    return in.start > x->until ? OCC_AFTER : OCC_OUT;
}

/* Skip ahead when the window starts long after DTSTART (not possible with
 * COUNT, which has to be counted from the start). */
static void fast_forward(xctx *x, icalrecur_iterator *it, const struct icalrecurrencetype *r,
                         const ic_dt *st, const span *sp)
{
    /* back by the instance length (nominal days may gain an hour at a DST
     * change) so instances that started earlier but overlap are kept */
    long long slack = (long long)sp->days * 86400 + sp->secs + (sp->days ? 3600 : 0) + 1;
    vd_time dts = ic_dt_utc(st);
    if (r->count > 0 || x->from == VD_TIME_MIN || x->from < VD_TIME_MIN + slack)
        return;
    vd_time target = x->from - slack;
    if (target <= dts || target > 253402300799LL)   /* year 9999 */
        return;
    icaltimetype t = icaltime_from_timet_with_zone((time_t)target, st->is_date, st->zone);
    t.zone = st->t.zone;
    (void)icalrecur_iterator_set_start(it, t);    /* on failure: iterate from DTSTART */
}

static void iterate_rule(xctx *x, const excl *ex, const ic_inst *base, const ic_dt *st,
                         const span *sp, struct icalrecurrencetype r)
{
    if (ic_rrule_too_costly(&r)) {
        x->out->truncated = true;     /* refused at PUT; stored data stays a candidate */
        return;
    }
    if (rule_impossible(&r))
        return;
    icaltimetype dt = st->t;
    /* A local UNTIL is in DTSTART's zone (RFC 5545 3.3.10). */
    if (!icaltime_is_null_time(r.until) && !st->is_date && !r.until.is_date &&
        !icaltime_is_utc(r.until))
        r.until.zone = st->zone;
    /* A DATE UNTIL with a DATE-TIME DTSTART (seen in the wild, not allowed
     * by RFC 5545): include the whole of that day. */
    if (!icaltime_is_null_time(r.until) && !st->is_date && r.until.is_date) {
        r.until.is_date = 0;
        r.until.hour = 23, r.until.minute = 59, r.until.second = 59;
        r.until.zone = st->zone;
    }
    icalrecur_iterator *it = icalrecur_iterator_new(r, dt);
    if (!it)
        return;
    fast_forward(x, it, &r, st, sp);
    size_t inwin = 0;
    for (;;) {
        if (x->steps >= IC_MAX_STEPS) {
            x->out->truncated = true;
            break;
        }
        x->steps++;
        icaltimetype o = icalrecur_iterator_next(it);
        if (icaltime_is_null_time(o))
            break;
        o.zone = dt.zone;
        int res = add_occ(x, ex, base, st, o, sp);
        if (res == OCC_AFTER)
            break;
        if (res == OCC_IN && ++inwin > x->cap) {
            x->out->truncated = true;
            break;
        }
    }
    icalrecur_iterator_free(it);
}

static void rdate_occ(xctx *x, const excl *ex, const ic_inst *base, const span *sp,
                      icalproperty *p)
{
    struct icaldatetimeperiodtype dp = icalproperty_get_rdate(p);
    ic_dt d;
    span psp = *sp;
    if (!icaltime_is_null_time(dp.time)) {
        d = ic_dt_make(dp.time, p, x->ic->root, x->floating);
    } else if (!icaltime_is_null_time(dp.period.start)) {
        d = ic_dt_make(dp.period.start, p, x->ic->root, x->floating);
        psp.days = 0;
        if (!icaltime_is_null_time(dp.period.end)) {
            ic_dt e = ic_dt_make(dp.period.end, p, x->ic->root, x->floating);
            psp.secs = ic_dt_utc(&e) - ic_dt_utc(&d);
        } else {
            psp.secs = icaldurationtype_as_int(dp.period.duration);
        }
        if (psp.secs < 0)
            psp.secs = 0;
        if (psp.mode == IC_TR_OVERLAP || psp.mode == IC_TR_POINT)
            psp.mode = psp.secs > 0 ? IC_TR_OVERLAP : IC_TR_POINT;
    } else {
        return;
    }
    if (d.floating)
        x->out->floating = true;
    ic_inst in = *base;
    in.is_date = in.rid_is_date = d.is_date;
    (void)add_occ(x, ex, &in, &d, d.t, &psp);
}

static void expand_master(xctx *x, icalcomponent *m)
{
    ic_dt st, due;
    span sp;
    tmkind tk = comp_timing(x, m, &st, &sp, &due);
    ic_inst in = {.comp = m, .mode = sp.mode};
    if (tk == TM_DUE_ONLY) {
        in.start = in.end = in.rid = ic_dt_utc(&due);
        in.is_date = in.rid_is_date = due.is_date;
        x->out->floating |= due.floating;
        if (in.start >= x->until)
            x->out->beyond = true;
        if (ic_trmatch(&in, x->from, x->until))
            push(x, &in);
        return;
    }
    if (tk == TM_FOREVER) {
        in.start = VD_TIME_MIN, in.end = VD_TIME_MAX;
        push(x, &in);
        return;
    }
    if (tk != TM_START)
        return;
    x->out->floating |= st.floating;
    excl ex;
    memset(&ex, 0, sizeof ex);
    excl_collect(x, m, st.is_date, &ex);
    in.is_date = in.rid_is_date = st.is_date;
    in.in_set = first(m, ICAL_RRULE_PROPERTY) || first(m, ICAL_RDATE_PROPERTY);
    (void)add_occ(x, &ex, &in, &st, st.t, &sp);    /* DTSTART is always an instance */
    for (icalproperty *p = first(m, ICAL_RRULE_PROPERTY); p && !x->oom;
         p = icalcomponent_get_next_property(m, ICAL_RRULE_PROPERTY))
        iterate_rule(x, &ex, &in, &st, &sp, icalproperty_get_rrule(p));
    for (icalproperty *p = first(m, ICAL_RDATE_PROPERTY); p && !x->oom;
         p = icalcomponent_get_next_property(m, ICAL_RDATE_PROPERTY))
        rdate_occ(x, &ex, &in, &sp, p);
    free(ex.at);
    free(ex.days);
}

static void expand_override(xctx *x, icalcomponent *c, icalproperty *rp)
{
    ic_dt rid, st, due;
    span sp;
    if (!ic_prop_dt(rp, x->ic->root, x->floating, &rid))
        return;
    tmkind tk = comp_timing(x, c, &st, &sp, &due);
    ic_inst in = {.comp = c, .mode = sp.mode, .in_set = true};
    in.rid = ic_dt_utc(&rid);
    in.rid_is_date = rid.is_date;
    x->out->floating |= rid.floating;
    if (tk == TM_START) {
        occ_times(&st, st.t, &sp, &in.start, &in.end);
        in.is_date = st.is_date;
        x->out->floating |= st.floating;
    } else if (tk == TM_DUE_ONLY) {
        in.start = in.end = ic_dt_utc(&due);
        in.is_date = due.is_date;
    } else {
        /* no DTSTART of its own: the instance it names, default length */
        in.start = in.rid;
        in.end = rid.is_date ? in.start + 86400 : in.start;
        in.mode = rid.is_date ? IC_TR_OVERLAP : IC_TR_POINT;
        in.is_date = rid.is_date;
    }
    if (in.start >= x->until)
        x->out->beyond = true;
    if (ic_trmatch(&in, x->from, x->until))
        push(x, &in);
}

static int cmp_inst(const void *a, const void *b)
{
    const ic_inst *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->comp > y->comp) - (x->comp < y->comp);
}

void ic_set_free(ic_set *s)
{
    if (!s)
        return;
    free(s->v);
    memset(s, 0, sizeof *s);
}

vd_err ic_expand(const vd_ical *ic, vd_time from, vd_time until,
                 icaltimezone *floating, size_t cap, ic_set *out)
{
    memset(out, 0, sizeof *out);
    if (!ic || !ic->root || ic->kind == ICAL_NO_COMPONENT)
        return VD_OK;
    xctx x = {.ic = ic, .floating = floating ? floating : icaltimezone_get_utc_timezone(),
              .from = from, .until = until, .cap = cap, .out = out};
    /* An external iterator: excl_collect walks the same children. */
    for (icalcompiter it = icalcomponent_begin_component(ic->root, ic->kind);
         icalcompiter_deref(&it) && !x.oom; icalcompiter_next(&it)) {
        icalcomponent *c = icalcompiter_deref(&it);
        icalproperty *rp = first(c, ICAL_RECURRENCEID_PROPERTY);
        if (rp)
            expand_override(&x, c, rp);
        else
            expand_master(&x, c);
    }
    if (x.oom) {
        ic_set_free(out);
        return VD_ENOMEM;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_inst);
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++)      /* DTSTART repeated by RRULE/RDATE */
        if (w == 0 || out->v[i].start != out->v[w - 1].start ||
            out->v[i].comp != out->v[w - 1].comp)
            out->v[w++] = out->v[i];
    out->n = w;
    if (out->n > cap) {
        out->n = cap;
        out->truncated = true;
    }
    return VD_OK;
}

/* ------------------------------------------------------------------ */
/* public: instances, index, busy                                      */

static bool transparent(icalcomponent *c);
static bool has_status(icalcomponent *c, icalproperty_status st);

/* busy_only: leave out instances whose own component (the master, or the
 * override that replaced them) is transparent or cancelled. */
static vd_err instances(const vd_ical *ic, vd_time from, vd_time until,
                        const char *floating_tz, size_t cap, bool busy_only,
                        vd_instance **out, size_t *n, bool *truncated)
{
    ic_set s;
    ic_init();
    *out = NULL;
    *n = 0;
    if (truncated)
        *truncated = false;
    if (!ic)
        return VD_EINVAL;
    vd_err rc = ic_expand(ic, from, until, ic_floating_zone(floating_tz), cap, &s);
    if (rc)
        return rc;
    if (s.n) {
        *out = malloc(s.n * sizeof **out);
        if (!*out) {
            ic_set_free(&s);
            return VD_ENOMEM;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < s.n; i++) {
        icalcomponent *c = s.v[i].comp;
        if (busy_only && (transparent(c) || has_status(c, ICAL_STATUS_CANCELLED)))
            continue;
        (*out)[k++] = (vd_instance){s.v[i].start, s.v[i].end};
    }
    *n = k;
    if (truncated)
        *truncated = s.truncated;
    ic_set_free(&s);
    return VD_OK;
}

vd_err vd_ical_instances(const vd_ical *ic, vd_time from, vd_time until,
                         const char *floating_tz, size_t cap,
                         vd_instance **out, size_t *n, bool *truncated)
{
    return instances(ic, from, until, floating_tz, cap, false, out, n, truncated);
}

vd_err vd_ical_busy_instances(const vd_ical *ic, vd_time from, vd_time until,
                              const char *floating_tz, size_t cap,
                              vd_instance **out, size_t *n, bool *truncated)
{
    return instances(ic, from, until, floating_tz, cap, true, out, n, truncated);
}

vd_err vd_ical_index_instances(const vd_ical *ic, vd_time horizon, size_t cap,
                               vd_instance **out, size_t *n, bool *open_ended)
{
    ic_set s;
    ic_init();
    *out = NULL;
    *n = 0;
    *open_ended = false;
    if (!ic)
        return VD_EINVAL;
    vd_err rc = ic_expand(ic, VD_TIME_MIN, horizon, NULL, cap, &s);
    if (rc)
        return rc;
    *open_ended = s.truncated || s.beyond || s.floating;
    if (s.n) {
        *out = malloc(s.n * sizeof **out);
        if (!*out) {
            ic_set_free(&s);
            return VD_ENOMEM;
        }
    }
    for (size_t i = 0; i < s.n; i++) {
        vd_time a = s.v[i].start, b = s.v[i].end;
        if (a == VD_TIME_MIN || b == VD_TIME_MAX || b - a > INDEX_MAX_SPAN)
            *open_ended = true;
        /* One second wider on both sides: RFC 4791 9.9 compares some
         * instances inclusively (zero-length events, VTODO rows), so the
         * index stays a superset under a plain overlap test. */
        (*out)[i] = (vd_instance){sat_add(a, -1), sat_add(b, 1)};
    }
    *n = s.n;
    ic_set_free(&s);
    return VD_OK;
}

static bool transparent(icalcomponent *c)
{
    icalproperty *p = first(c, ICAL_TRANSP_PROPERTY);
    icalproperty_transp t = p ? icalproperty_get_transp(p) : ICAL_TRANSP_OPAQUE;
    return t == ICAL_TRANSP_TRANSPARENT || t == ICAL_TRANSP_TRANSPARENTNOCONFLICT;
}

static bool has_status(icalcomponent *c, icalproperty_status st)
{
    icalproperty *p = first(c, ICAL_STATUS_PROPERTY);
    return p && icalproperty_get_status(p) == st;
}

static void busy_freebusy(const vd_ical *ic, vd_time from, vd_time until,
                          vd_busy_cb cb, void *ctx)
{
    for (icalcompiter it = icalcomponent_begin_component(ic->root, ICAL_VFREEBUSY_COMPONENT);
         icalcompiter_deref(&it); icalcompiter_next(&it)) {
        icalcomponent *c = icalcompiter_deref(&it);
        for (icalproperty *p = first(c, ICAL_FREEBUSY_PROPERTY); p;
             p = icalcomponent_get_next_property(c, ICAL_FREEBUSY_PROPERTY)) {
            icalparameter *fp = icalproperty_get_first_parameter(p, ICAL_FBTYPE_PARAMETER);
            icalparameter_fbtype t = fp ? icalparameter_get_fbtype(fp) : ICAL_FBTYPE_BUSY;
            const char *type = t == ICAL_FBTYPE_BUSYTENTATIVE ? "BUSY-TENTATIVE"
                             : t == ICAL_FBTYPE_BUSYUNAVAILABLE ? "BUSY-UNAVAILABLE"
                             : t == ICAL_FBTYPE_FREE ? NULL : "BUSY";
            struct icalperiodtype pt = icalproperty_get_freebusy(p);
            if (!type || icaltime_is_null_time(pt.start))
                continue;
            vd_time s = ic_local_to_utc(pt.start, NULL), e;
            e = icaltime_is_null_time(pt.end) ? s + icaldurationtype_as_int(pt.duration)
                                              : ic_local_to_utc(pt.end, NULL);
            s = s < from ? from : s;
            e = e > until ? until : e;
            if (e > s)
                cb(s, e, type, ctx);
        }
    }
}

vd_err vd_ical_busy(const vd_ical *ic, vd_time from, vd_time until,
                    const char *floating_tz, vd_busy_cb cb, void *ctx)
{
    ic_set s;
    ic_init();
    if (!ic || !cb)
        return VD_EINVAL;
    if (ic->kind == ICAL_VFREEBUSY_COMPONENT) {
        busy_freebusy(ic, from, until, cb, ctx);
        return VD_OK;
    }
    if (ic->kind != ICAL_VEVENT_COMPONENT)
        return VD_OK;               /* RFC 4791 7.10: only VEVENT and VFREEBUSY */
    vd_err rc = ic_expand(ic, from, until, ic_floating_zone(floating_tz),
                          VD_MAX_EXPAND_INST, &s);
    if (rc)
        return rc;
    for (size_t i = 0; i < s.n; i++) {
        icalcomponent *c = s.v[i].comp;
        if (transparent(c) || has_status(c, ICAL_STATUS_CANCELLED))
            continue;
        vd_time a = s.v[i].start < from ? from : s.v[i].start;
        vd_time b = s.v[i].end > until ? until : s.v[i].end;
        if (b <= a)
            continue;               /* zero-length events are not busy */
        cb(a, b, has_status(c, ICAL_STATUS_TENTATIVE) ? "BUSY-TENTATIVE" : "BUSY", ctx);
    }
    ic_set_free(&s);
    return VD_OK;
}
