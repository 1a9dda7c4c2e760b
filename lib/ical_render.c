/* ical_render.c - everything that writes iCalendar: calendar-data as asked
 * (RFC 4791 9.6: expand 9.6.5, limit-recurrence-set 9.6.6, partial
 * retrieval 9.6.1-9.6.4), VFREEBUSY replies (RFC 4791 7.10), and the merged
 * VCALENDAR of a whole collection.  Works on clones; never changes a
 * vd_ical.  libical strings come from the _r functions and are freed here.
 * limit-recurrence-set keeps an override when its own instance overlaps the
 * range or its RECURRENCE-ID lies inside it (the original end is not
 * considered). */
#include "ical_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VD_PRODID "-//visitdav//visitdav//EN"

static void remove_all(icalcomponent *c, icalproperty_kind k)
{
    icalproperty *p;
    while ((p = icalcomponent_get_first_property(c, k)) != NULL) {
        icalcomponent_remove_property(c, p);
        icalproperty_free(p);
    }
}

static void serialise(icalcomponent *cal, vd_buf *out)
{
    char *s = icalcomponent_as_ical_string_r(cal);   /* CRLF, folded */
    if (s)
        vd_buf_puts(out, s);
    icalmemory_free_buffer(s);
}

/* A UTC instant as it appears in expanded output: a DATE stays a DATE (in
 * the floating zone it was computed in), everything else is UTC. */
static icaltimetype time_out(vd_time t, bool is_date, icaltimezone *fz)
{
    if (is_date)
        return icaltime_from_timet_with_zone((time_t)t, 1, fz);
    return icaltime_from_timet_with_zone((time_t)t, 0, icaltimezone_get_utc_timezone());
}

/* RFC 4791 9.6.5: "Date and local time with reference to time zone
 * information MUST be converted into date with UTC time." */
static void utcify(icalcomponent *c, const vd_ical *ic, icaltimezone *fz)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
        icalvalue *v = icalproperty_get_value(p);
        ic_dt d;
        if (!icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER) || !v ||
            icalvalue_isa(v) != ICAL_DATETIME_VALUE || !ic_prop_dt(p, ic->root, fz, &d))
            continue;
        icalproperty_set_value(p, icalvalue_new_datetime(time_out(ic_dt_utc(&d), false, fz)));
        icalproperty_remove_parameter_by_kind(p, ICAL_TZID_PARAMETER);
    }
    for (icalcompiter it = icalcomponent_begin_component(c, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&it); icalcompiter_next(&it))
        utcify(icalcompiter_deref(&it), ic, fz);
}

static void replace_time(icalcomponent *c, icalproperty_kind k, icaltimetype t)
{
    if (!icalcomponent_get_first_property(c, k))
        return;
    remove_all(c, k);
    icalproperty *p = k == ICAL_DTSTART_PROPERTY ? icalproperty_new_dtstart(t)
                    : k == ICAL_DTEND_PROPERTY ? icalproperty_new_dtend(t)
                    : icalproperty_new_due(t);
    icalcomponent_add_property(c, p);
}

/* Turn a clone of inst->comp into the one instance it stands for. */
static void fix_instance(icalcomponent *c, const ic_inst *in, const vd_ical *ic, icaltimezone *fz)
{
    remove_all(c, ICAL_RRULE_PROPERTY);
    remove_all(c, ICAL_RDATE_PROPERTY);
    remove_all(c, ICAL_EXDATE_PROPERTY);
    remove_all(c, ICAL_EXRULE_PROPERTY);
    if (in->mode != IC_TR_TODO_NONE && in->mode != IC_TR_DUE_ONLY)
        replace_time(c, ICAL_DTSTART_PROPERTY, time_out(in->start, in->is_date, fz));
    if (in->mode != IC_TR_TODO_NONE) {
        replace_time(c, ICAL_DTEND_PROPERTY, time_out(in->end, in->is_date, fz));
        replace_time(c, ICAL_DUE_PROPERTY, time_out(in->end, in->is_date, fz));
    }
    if (in->in_set) {
        remove_all(c, ICAL_RECURRENCEID_PROPERTY);
        icalcomponent_add_property(c, icalproperty_new_recurrenceid(
            time_out(in->rid, in->rid_is_date, fz)));
    }
    utcify(c, ic, fz);
}

static icalcomponent *expanded(const vd_ical *ic, const vd_caldata_spec *spec, icaltimezone *fz)
{
    ic_set s;
    if (ic_expand(ic, spec->expand_start, spec->expand_end, fz, VD_MAX_EXPAND_INST, &s))
        return NULL;
    icalcomponent *cal = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    for (icalproperty *p = icalcomponent_get_first_property(ic->root, ICAL_ANY_PROPERTY);
         p && cal; p = icalcomponent_get_next_property(ic->root, ICAL_ANY_PROPERTY))
        icalcomponent_add_property(cal, icalproperty_new_clone(p));
    for (size_t i = 0; i < s.n && cal; i++) {
        icalcomponent *c = icalcomponent_new_clone(s.v[i].comp);
        fix_instance(c, &s.v[i], ic, fz);
        icalcomponent_add_component(cal, c);
    }
    ic_set_free(&s);
    return cal;
}

/* Drop overrides that do not touch [ls, le) (RFC 4791 9.6.6).  cal is a
 * clone of ic->root, so children correspond one to one, in order. */
static void limit_overrides(const vd_ical *ic, icalcomponent *cal, const vd_caldata_spec *spec,
                            icaltimezone *fz)
{
    ic_set s;
    if (ic_expand(ic, spec->limit_start, spec->limit_end, fz, VD_MAX_EXPAND_INST, &s))
        return;
    icalcompiter oi = icalcomponent_begin_component(ic->root, ICAL_ANY_COMPONENT);
    icalcompiter ci = icalcomponent_begin_component(cal, ICAL_ANY_COMPONENT);
    icalcomponent **drop = calloc((size_t)icalcomponent_count_components(cal, ICAL_ANY_COMPONENT) + 1,
                                  sizeof *drop);
    size_t nd = 0;
    for (; drop && icalcompiter_deref(&oi) && icalcompiter_deref(&ci);
         icalcompiter_next(&oi), icalcompiter_next(&ci)) {
        icalcomponent *o = icalcompiter_deref(&oi);
        icalproperty *rp = icalcomponent_get_first_property(o, ICAL_RECURRENCEID_PROPERTY);
        ic_dt rid;
        if (icalcomponent_isa(o) != ic->kind || !rp || !ic_prop_dt(rp, ic->root, fz, &rid))
            continue;
        vd_time r = ic_dt_utc(&rid);
        bool keep = r >= spec->limit_start && r < spec->limit_end;
        for (size_t i = 0; i < s.n && !keep; i++)
            keep = s.v[i].comp == o;
        if (!keep)
            drop[nd++] = icalcompiter_deref(&ci);
    }
    for (size_t i = 0; i < nd; i++) {
        icalcomponent_remove_component(cal, drop[i]);
        icalcomponent_free(drop[i]);
    }
    free(drop);
    ic_set_free(&s);
}

static bool listed(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcasecmp(names[i], name) == 0)
            return true;
    return false;
}

static void keep_props(icalcomponent *c, const vd_caldata_spec *spec, bool is_cal)
{
    size_t n = (size_t)icalcomponent_count_properties(c, ICAL_ANY_PROPERTY), nd = 0;
    icalproperty **drop = calloc(n + 1, sizeof *drop);
    if (!drop)
        return;
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
        icalproperty_kind k = icalproperty_isa(p);
        if (is_cal && (k == ICAL_VERSION_PROPERTY || k == ICAL_PRODID_PROPERTY))
            continue;
        bool keep = false;
        for (size_t i = 0; i < spec->n_prop_names && !keep; i++)
            keep = spec->prop_names[i] && ic_prop_is(p, spec->prop_names[i]);
        if (!keep && nd < n)
            drop[nd++] = p;
    }
    for (size_t i = 0; i < nd; i++) {
        icalcomponent_remove_property(c, drop[i]);
        icalproperty_free(drop[i]);
    }
    free(drop);
}

/* RFC 4791 9.6.1-9.6.4 partial retrieval, from the flat name lists. */
static void partial(icalcomponent *c, const vd_caldata_spec *spec, bool is_cal)
{
    if (spec->prop_names && icalcomponent_isa(c) != ICAL_VTIMEZONE_COMPONENT)
        keep_props(c, spec, is_cal);
    size_t n = (size_t)icalcomponent_count_components(c, ICAL_ANY_COMPONENT), nd = 0;
    icalcomponent **drop = calloc(n + 1, sizeof *drop);
    if (!drop)
        return;
    for (icalcompiter it = icalcomponent_begin_component(c, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&it); icalcompiter_next(&it)) {
        icalcomponent *s = icalcompiter_deref(&it);
        if (spec->comp_names && !listed(spec->comp_names, spec->n_comp_names, ic_comp_name(s)))
            drop[nd++] = s;
        else if (icalcomponent_isa(s) != ICAL_VTIMEZONE_COMPONENT)
            partial(s, spec, false);
    }
    for (size_t i = 0; i < nd; i++) {
        icalcomponent_remove_component(c, drop[i]);
        icalcomponent_free(drop[i]);
    }
    free(drop);
}

vd_err vd_ical_render(const vd_ical *ic, const vd_caldata_spec *spec,
                      const char *floating_tz, vd_buf *out)
{
    ic_init();
    if (!ic || !out)
        return VD_EINVAL;
    icaltimezone *fz = ic_floating_zone(floating_tz);
    icalcomponent *cal = spec && spec->expand ? expanded(ic, spec, fz)
                                              : icalcomponent_new_clone(ic->root);
    if (!cal)
        return VD_ENOMEM;
    if (spec && spec->limit_recurrence && !spec->expand)
        limit_overrides(ic, cal, spec, fz);
    if (spec && (spec->comp_names || spec->prop_names))
        partial(cal, spec, true);
    serialise(cal, out);
    icalcomponent_free(cal);
    return VD_OK;
}

/* ------------------------------------------------------------------ */
/* VFREEBUSY (RFC 4791 7.10)                                           */

static int cmp_inst(const void *a, const void *b)
{
    const vd_instance *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void fb_lines(vd_buf *out, const char *type, const vd_instance *v, size_t n,
                     vd_time from, vd_time until)
{
    vd_instance *s = n ? malloc(n * sizeof *s) : NULL;
    size_t m = 0;
    if (!s)
        return;
    for (size_t i = 0; i < n; i++) {
        vd_instance x = {v[i].start < from ? from : v[i].start,
                         v[i].end > until ? until : v[i].end};
        if (x.end > x.start)
            s[m++] = x;
    }
    qsort(s, m, sizeof *s, cmp_inst);
    for (size_t i = 0; i < m;) {
        vd_instance cur = s[i++];
        while (i < m && s[i].start <= cur.end) {   /* overlapping or touching */
            if (s[i].end > cur.end)
                cur.end = s[i].end;
            i++;
        }
        char a[17], b[17];
        vd_time_format_utc(cur.start, a);
        vd_time_format_utc(cur.end, b);
        vd_buf_printf(out, "FREEBUSY;FBTYPE=%s:%s/%s\r\n", type, a, b);
    }
    free(s);
}

void vd_ical_freebusy_render(vd_buf *out, vd_time from, vd_time until,
                             const vd_instance *busy, size_t n_busy,
                             const vd_instance *tentative, size_t n_tentative,
                             const vd_instance *unavailable, size_t n_unavail)
{
    char t[17];
    vd_buf_puts(out, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:" VD_PRODID "\r\n"
                     "CALSCALE:GREGORIAN\r\nBEGIN:VFREEBUSY\r\n");
    vd_time_format_utc(vd_now(), t);
    vd_buf_printf(out, "DTSTAMP:%s\r\n", t);
    if (from != VD_TIME_MIN) {
        vd_time_format_utc(from, t);
        vd_buf_printf(out, "DTSTART:%s\r\n", t);
    }
    if (until != VD_TIME_MAX) {
        vd_time_format_utc(until, t);
        vd_buf_printf(out, "DTEND:%s\r\n", t);
    }
    fb_lines(out, "BUSY", busy, n_busy, from, until);
    fb_lines(out, "BUSY-TENTATIVE", tentative, n_tentative, from, until);
    fb_lines(out, "BUSY-UNAVAILABLE", unavailable, n_unavail, from, until);
    vd_buf_puts(out, "END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
}

/* ------------------------------------------------------------------ */
/* merging a collection into one VCALENDAR                             */

struct vd_ical_merge {
    icalcomponent *cal;
    char **tzids;
    size_t n_tz, cap_tz;
};

vd_ical_merge *vd_ical_merge_new(const char *name)
{
    ic_init();
    vd_ical_merge *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cal = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    if (!m->cal) {
        free(m);
        return NULL;
    }
    icalcomponent_add_property(m->cal, icalproperty_new_version("2.0"));
    icalcomponent_add_property(m->cal, icalproperty_new_prodid(VD_PRODID));
    if (name) {
        icalproperty *x = icalproperty_new_x(name);
        icalproperty_set_x_name(x, "X-WR-CALNAME");
        icalcomponent_add_property(m->cal, x);
        icalcomponent_add_property(m->cal, icalproperty_new_name(name));   /* RFC 7986 */
    }
    return m;
}

static bool tz_seen(vd_ical_merge *m, const char *tzid)
{
    for (size_t i = 0; i < m->n_tz; i++)
        if (strcmp(m->tzids[i], tzid) == 0)
            return true;
    if (m->n_tz == m->cap_tz) {
        size_t nc = m->cap_tz ? m->cap_tz * 2 : 8;
        char **nv = realloc(m->tzids, nc * sizeof *nv);
        if (!nv)
            return true;              /* cannot remember it: skip the copy */
        m->tzids = nv;
        m->cap_tz = nc;
    }
    char *copy = strdup(tzid);
    if (!copy)
        return true;
    m->tzids[m->n_tz++] = copy;
    return false;
}

bool vd_ical_merge_add(vd_ical_merge *m, const char *data, size_t len)
{
    if (!m)
        return false;
    vd_ical *ic = vd_ical_load(data, len);
    if (!ic)
        return false;
    icalcomponent *c;
    /* Move the children over; the emptied source is freed below. */
    while ((c = icalcomponent_get_first_component(ic->root, ICAL_ANY_COMPONENT)) != NULL) {
        icalcomponent_remove_component(ic->root, c);
        if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT) {
            icalproperty *tp = icalcomponent_get_first_property(c, ICAL_TZID_PROPERTY);
            const char *tzid = tp ? icalproperty_get_tzid(tp) : NULL;
            if (!tzid || tz_seen(m, tzid)) {
                icalcomponent_free(c);
                continue;
            }
        }
        icalcomponent_add_component(m->cal, c);
    }
    vd_ical_free(ic);
    return true;
}

void vd_ical_merge_finish(vd_ical_merge *m, vd_buf *out)
{
    if (!m)
        return;
    if (out)
        serialise(m->cal, out);
    icalcomponent_free(m->cal);
    for (size_t i = 0; i < m->n_tz; i++)
        free(m->tzids[i]);
    free(m->tzids);
    free(m);
}
