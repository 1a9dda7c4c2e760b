/* ical_visit.c - the visit side of the libical wrapper (ical_visit.h):
 * the fields customer recognition and the rules read, the flags the server
 * adds to stored events (X-VISIT-CONFLICT and the visible marker) and
 * strips from what clients send, serialisation of a modified object, and
 * local days / UTC offsets in a time zone.  Must not recognise customers
 * or judge conflicts (customers.c, rules.c), and must not touch libical's
 * zone table except through ical.c (ic_floating_zone, ic_zone_for_tzid),
 * which holds the lock around it. */
#include "ical_visit.h"

#include "ical_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ATTENDEES  1000     /* per event; more are ignored */
#define MAX_APPROVED   64       /* X-VISIT-APPROVED values kept */
#define MAX_PARAM      512      /* bytes of one flag parameter value */
#define T_1900         (-2208988800LL)
#define T_2200         (7258118400LL)
#define T_9999         (253402300799LL)
#define MARK_SUMMARY    1        /* vd_marker bits (rules.h) */
#define MARK_CATEGORIES 2

/* ------------------------------------------------------------------ */
/* reading                                                             */

/* The value of p as text, unescaped (TEXT, X, CAL-ADDRESS, URI), borrowed
 * from libical; NULL for other value types. */
static const char *text_value(icalproperty *p)
{
    icalvalue *v = icalproperty_get_value(p);
    if (!v)
        return NULL;
    switch (icalvalue_isa(v)) {
    case ICAL_TEXT_VALUE:       return icalvalue_get_text(v);
    case ICAL_X_VALUE:          return icalvalue_get_x(v);
    case ICAL_CALADDRESS_VALUE: return icalvalue_get_caladdress(v);
    case ICAL_URI_VALUE:        return icalvalue_get_uri(v);
    default:                    return NULL;
    }
}

static bool blank(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

static bool push(char ***arr, size_t *n, const char *s, size_t len)
{
    char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a)
        return false;
    *arr = a;
    if (!(a[*n] = strndup(s, len)))
        return false;
    (*n)++;
    return true;
}

/* "rep-overlap, customer-overlap": each trimmed non-empty value. */
static bool push_list(char ***arr, size_t *n, const char *s)
{
    while (s && *s && *n < MAX_APPROVED) {
        const char *comma = strchr(s, ',');
        const char *end = comma ? comma : s + strlen(s);
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        const char *e = end;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > s && !push(arr, n, s, (size_t)(e - s)))
            return false;
        s = comma ? comma + 1 : NULL;
    }
    return true;
}

static bool dup_once(char **dst, const char *s)
{
    if (*dst || !s)
        return true;
    return (*dst = strdup(s)) != NULL;
}

static bool read_prop(icalproperty *p, vd_visit_info *out)
{
    const char *s = text_value(p);
    switch (icalproperty_isa(p)) {
    case ICAL_ATTENDEE_PROPERTY:
        return !s || out->n_attendees >= MAX_ATTENDEES ||
               push(&out->attendees, &out->n_attendees, s, strlen(s));
    case ICAL_LOCATION_PROPERTY:
        return dup_once(&out->location, s);
    case ICAL_SUMMARY_PROPERTY:
        return dup_once(&out->summary, s);
    case ICAL_DESCRIPTION_PROPERTY:
        out->has_purpose |= !blank(s);
        return true;
    case ICAL_TRANSP_PROPERTY: {
        icalproperty_transp t = icalproperty_get_transp(p);
        out->transparent |= t == ICAL_TRANSP_TRANSPARENT ||
                            t == ICAL_TRANSP_TRANSPARENTNOCONFLICT;
        return true;
    }
    case ICAL_STATUS_PROPERTY:
        out->cancelled |= icalproperty_get_status(p) == ICAL_STATUS_CANCELLED;
        return true;
    default:
        break;
    }
    if (ic_prop_is(p, "X-VISIT-CUSTOMER"))
        return blank(s) || dup_once(&out->x_customer, s);
    if (ic_prop_is(p, "X-VISIT-PURPOSE"))
        out->has_purpose |= !blank(s);
    else if (ic_prop_is(p, "X-VISIT-APPROVED"))
        return push_list(&out->approved, &out->n_approved, s);
    return true;
}

vd_err vd_ical_visit_info(const vd_ical *ic, vd_visit_info *out)
{
    memset(out, 0, sizeof *out);
    if (!ic)
        return VD_EINVAL;
    ic_init();
    icalcomponent *m = ic_first_main(ic);
    if (!m)
        return VD_EINVAL;
    for (icalproperty *p = icalcomponent_get_first_property(m, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(m, ICAL_ANY_PROPERTY))
        if (!read_prop(p, out)) {
            vd_visit_info_clear(out);
            return VD_ENOMEM;
        }
    return VD_OK;
}

void vd_visit_info_clear(vd_visit_info *v)
{
    if (!v)
        return;
    free(v->x_customer);
    free(v->location);
    free(v->summary);
    for (size_t i = 0; i < v->n_attendees; i++)
        free(v->attendees[i]);
    free(v->attendees);
    for (size_t i = 0; i < v->n_approved; i++)
        free(v->approved[i]);
    free(v->approved);
    memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------------ */
/* stripping                                                           */

static size_t rtrim_len(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return n;
}

/* SUMMARY without every leading copy of prefix; true if changed.
 * *gone: nothing but prefixes was left (the property should go). */
static bool strip_summary(icalproperty *p, const char *prefix, bool *gone)
{
    const char *s = icalproperty_get_summary(p);
    size_t pl = strlen(prefix), tl = rtrim_len(prefix);
    const char *q = s;
    *gone = false;
    if (!s)
        return false;
    for (;;) {
        if (strncmp(q, prefix, pl) == 0)
            q += pl;
        else if (tl > 0 && strncmp(q, prefix, tl) == 0 && rtrim_len(q + tl) == 0)
            q += strlen(q);     /* the prefix with its trailing space trimmed away */
        else
            break;
    }
    if (q == s)
        return false;
    if (*q == '\0') {
        *gone = true;
        return true;
    }
    char *rest = strdup(q);
    if (!rest)
        return false;
    icalproperty_set_summary(p, rest);
    free(rest);
    return true;
}

static bool same_category(const char *s, size_t n, const char *category)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n == strlen(category) && strncasecmp(s, category, n) == 0;
}

/* CATEGORIES without the value category.  libical 3.0 keeps a list in one
 * property after an escaped separator and writes ',' unescaped there, so
 * the value is treated as a comma list.  true if changed; *gone: empty. */
static bool strip_category(icalproperty *p, const char *category, bool *gone)
{
    const char *s = icalproperty_get_categories(p);
    bool changed = false;
    *gone = false;
    if (!s)
        return false;
    vd_buf keep = VD_BUF_INIT;
    for (const char *it = s; it;) {
        const char *comma = strchr(it, ',');
        size_t n = comma ? (size_t)(comma - it) : strlen(it);
        if (same_category(it, n, category)) {
            changed = true;
        } else {
            if (keep.len)
                vd_buf_puts(&keep, ",");
            vd_buf_append(&keep, it, n);
        }
        it = comma ? comma + 1 : NULL;
    }
    if (changed && keep.len == 0)
        *gone = true;
    else if (changed)
        icalproperty_set_categories(p, keep.data);
    vd_buf_free(&keep);
    return changed;
}

static bool strip_comp(icalcomponent *c, const char *prefix, const char *category)
{
    bool changed = false;
    icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY);
    while (p) {
        /* advance first: removing p then leaves the iterator valid */
        icalproperty *next = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY);
        icalproperty_kind k = icalproperty_isa(p);
        bool gone = false;
        if (k == ICAL_X_PROPERTY && ic_prop_is(p, "X-VISIT-CONFLICT"))
            gone = true;
        else if (k == ICAL_SUMMARY_PROPERTY && prefix && *prefix)
            changed |= strip_summary(p, prefix, &gone);
        else if (k == ICAL_CATEGORIES_PROPERTY && category && *category)
            changed |= strip_category(p, category, &gone);
        if (gone) {
            icalcomponent_remove_property(c, p);
            icalproperty_free(p);
            changed = true;
        }
        p = next;
    }
    return changed;
}

bool vd_ical_strip_flags(vd_ical *ic, const char *prefix, const char *category)
{
    if (!ic || !ic->root)
        return false;
    ic_init();
    bool changed = strip_comp(ic->root, prefix, category);
    for (icalcomponent *c = icalcomponent_get_first_component(ic->root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(ic->root, ICAL_ANY_COMPONENT))
        changed |= strip_comp(c, prefix, category);
    return changed;
}

/* ------------------------------------------------------------------ */
/* adding                                                              */

/* A parameter or value safe to write: control characters become spaces,
 * at most MAX_PARAM bytes (cut at a UTF-8 boundary). */
static char *clean_text(const char *s)
{
    size_t n = strlen(s);
    if (n > MAX_PARAM) {
        n = MAX_PARAM;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    char *c = strndup(s, n);
    for (size_t i = 0; c && i < n; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
            c[i] = ' ';
    return c;
}

static void add_param(icalproperty *p, const char *name, const char *value)
{
    char *v = value ? clean_text(value) : NULL;
    icalparameter *par = v ? icalparameter_new_x(v) : NULL;
    if (par) {
        icalparameter_set_xname(par, name);
        icalproperty_add_parameter(p, par);
    }
    free(v);
}

static void add_time_param(icalproperty *p, const char *name, vd_time t)
{
    char buf[17];
    if (t < 0 || t > T_9999)
        return;                 /* not writable as a DATE-TIME: leave it out */
    vd_time_format_utc(t, buf);
    add_param(p, name, buf);
}

static void add_conflict(icalcomponent *m, const vd_flag *f)
{
    /* never an empty value: libical drops such a property on the next parse */
    char *value = clean_text(f->other_ref && *f->other_ref ? f->other_ref
                             : f->rule ? f->rule : "unknown");
    icalproperty *p = value ? icalproperty_new_x(value) : NULL;
    free(value);
    if (!p)
        return;
    icalproperty_set_x_name(p, "X-VISIT-CONFLICT");
    add_param(p, "X-RULE", f->rule ? f->rule : "unknown");
    add_param(p, "X-OTHER-OWNER", f->other_owner);
    if (f->other_ref) {
        add_time_param(p, "X-OTHER-START", f->other_start);
        add_time_param(p, "X-OTHER-END", f->other_end);
    }
    if (f->message && *f->message)
        add_param(p, "X-MESSAGE", f->message);
    icalcomponent_add_property(m, p);
}

static void add_prefix(icalcomponent *c, const char *prefix)
{
    icalproperty *p = icalcomponent_get_first_property(c, ICAL_SUMMARY_PROPERTY);
    if (!p) {
        char *t = strndup(prefix, rtrim_len(prefix));
        if (t && *t)
            icalcomponent_add_property(c, icalproperty_new_summary(t));
        free(t);
        return;
    }
    const char *s = icalproperty_get_summary(p);
    if (!s)
        s = "";
    if (strncmp(s, prefix, strlen(prefix)) == 0)
        return;
    vd_buf b = VD_BUF_INIT;
    vd_buf_puts(&b, prefix);
    vd_buf_puts(&b, s);
    icalproperty_set_summary(p, b.data);
    vd_buf_free(&b);
}

static bool has_category(icalcomponent *c, const char *category)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_CATEGORIES_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_CATEGORIES_PROPERTY)) {
        const char *s = icalproperty_get_categories(p);
        for (const char *it = s; it;) {
            const char *comma = strchr(it, ',');
            size_t n = comma ? (size_t)(comma - it) : strlen(it);
            if (same_category(it, n, category))
                return true;
            it = comma ? comma + 1 : NULL;
        }
    }
    return false;
}

void vd_ical_add_flags(vd_ical *ic, const vd_flag *flags, size_t n,
                       int marker, const char *prefix, const char *category)
{
    if (!ic || !flags || n == 0)
        return;
    ic_init();
    icalcomponent *m = ic_first_main(ic);
    if (!m)
        return;
    for (size_t i = 0; i < n; i++)
        add_conflict(m, &flags[i]);
    for (icalcomponent *c = icalcomponent_get_first_component(ic->root, ic->kind); c;
         c = icalcomponent_get_next_component(ic->root, ic->kind)) {
        if ((marker & MARK_SUMMARY) && prefix && *prefix)
            add_prefix(c, prefix);
        if ((marker & MARK_CATEGORIES) && category && *category &&
            !has_category(c, category))
            icalcomponent_add_property(c, icalproperty_new_categories(category));
    }
}

/* Append s without its X-LIC-ERROR lines (and their folded continuation
 * lines).  Filtering the text keeps the object untouched: a clone would
 * change how libical escapes X- values. */
static void append_without_lic_errors(vd_buf *out, const char *s)
{
    bool skipping = false;
    for (const char *line = s; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (line[0] != ' ' && line[0] != '\t')
            skipping = strncmp(line, "X-LIC-ERROR", 11) == 0;
        if (!skipping)
            vd_buf_append(out, line, n);
        line += n;
    }
}

vd_err vd_ical_serialize(const vd_ical *ic, vd_buf *out)
{
    if (!ic || !ic->root || !out)
        return VD_EINVAL;
    ic_init();
    char *s = icalcomponent_as_ical_string_r(ic->root);   /* CRLF, folded at 75 */
    if (!s)
        return VD_ENOMEM;
    /* X-LIC-ERROR is libical's note about input it dropped (e.g. an empty
     * DESCRIPTION): never user data, so never written back. */
    if (strstr(s, "X-LIC-ERROR"))
        append_without_lic_errors(out, s);
    else
        vd_buf_puts(out, s);
    icalmemory_free_buffer(s);
    return VD_OK;
}

/* ------------------------------------------------------------------ */
/* local days                                                          */

static void utc_day(vd_time t, vd_time *ds, vd_time *de)
{
    vd_time r = t % 86400;
    if (r < 0)
        r += 86400;
    *ds = t < VD_TIME_MIN + r ? VD_TIME_MIN : t - r;
    *de = *ds > VD_TIME_MAX - 86400 ? VD_TIME_MAX : *ds + 86400;
}

static bool date_before(icaltimetype a, icaltimetype d)
{
    if (a.year != d.year)
        return a.year < d.year;
    if (a.month != d.month)
        return a.month < d.month;
    return a.day < d.day;
}

/* UTC instant where local date d (at 00:00:00) begins in zone z. */
static vd_time day_begin(icaltimetype d, icaltimezone *z)
{
    vd_time s0 = ic_local_to_utc(d, z);
    icaltimetype back = icaltime_from_timet_with_zone((time_t)s0, 0, z);
    if (back.year == d.year && back.month == d.month && back.day == d.day &&
        back.hour == 0 && back.minute == 0 && back.second == 0)
        return s0;
    /* Midnight falls in a DST gap: the day begins at the transition, the
     * first instant whose local date is d.  Offsets change at most once
     * within a few hours, so a binary search around s0 finds it. */
    vd_time lo = s0 - 4 * 3600, hi = s0 + 4 * 3600;
    if (!date_before(icaltime_from_timet_with_zone((time_t)lo, 0, z), d) ||
        date_before(icaltime_from_timet_with_zone((time_t)hi, 0, z), d))
        return s0;
    while (hi - lo > 1) {
        vd_time mid = lo + (hi - lo) / 2;
        if (date_before(icaltime_from_timet_with_zone((time_t)mid, 0, z), d))
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

void vd_ical_local_day(vd_time t, const char *tzid, vd_time *day_start, vd_time *day_end)
{
    if (t < T_1900 || t > T_2200) {
        utc_day(t, day_start, day_end);
        return;
    }
    icaltimezone *z = ic_floating_zone(tzid);   /* ic_init, zone lock, UTC fallback */
    icaltimetype d = icaltime_from_timet_with_zone((time_t)t, 0, z);
    d.hour = d.minute = d.second = 0;
    vd_time s = day_begin(d, z);
    icaltime_adjust(&d, 1, 0, 0, 0);
    vd_time e = day_begin(d, z);
    /* never hand out a day that does not hold t (a fall-back across
     * midnight repeats a local hour around the boundary) */
    *day_start = s <= t ? s : t;
    *day_end = e > t ? e : t + 1;
}

int vd_ical_utc_offset(vd_time t, const char *tzid)
{
    if (t < T_1900 || t > T_2200)
        return 0;
    icaltimezone *z = ic_floating_zone(tzid);
    icaltimetype lt = icaltime_from_timet_with_zone((time_t)t, 0, z);
    lt.zone = NULL;
    /* icaltime_as_timet reads the fields as UTC: the difference is the offset */
    return (int)((vd_time)icaltime_as_timet(lt) - t);
}

bool vd_ical_zone_known(const char *tzid)
{
    if (!tzid || !*tzid)
        return false;
    ic_init();
    return ic_zone_for_tzid(NULL, tzid) != NULL;
}
