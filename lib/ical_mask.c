/* ical_mask.c - what a viewer who may not read everything sees of an
 * event (lib/ical_mask.h): the level CLASS imposes (RFC 5545 3.8.1.3) and
 * the masked copy, a new VCALENDAR written as text from the kept
 * properties of every main component, the VTIMEZONEs they use, and
 * nothing else.
 *
 * Must not: change the vd_ical it reads (it may be shared), decide who may
 * read what (the ACL does; callers pass the level), or add anything to the
 * output that the input did not hold except the PRODID, the replaced
 * SUMMARY and X-VISIT-OWNER.
 *
 * Threads: libical 3.0 has no read-only walk over properties or parameters
 * (icalcomponent_get_first_property and icalproperty_get_first_parameter,
 * which serialisation uses too, move an iterator stored in the object), so
 * two readers of one vd_ical would corrupt each other's walk and could
 * drop a TZID.  Every read of a vd_ical here happens under a lock chosen
 * by the object's address; different objects proceed in parallel.  The
 * output is built as text, so no clone shares anything with the input
 * (cloning an ATTACH would bump a reference count that is not atomic).
 * Kept properties are rebuilt with only TZID, VALUE and RANGE parameters:
 * parameters are free text (X-...=...) and could carry anything. */
#include "ical_mask.h"
#include "ical_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK_PRODID  "-//visitdav//masked//EN"
#define LOCK_STRIPES 64
#define TEXT_MAX     512        /* bytes of customer name / owner written */

/* ------------------------------------------------------------------ */
/* locks                                                               */

static pthread_mutex_t stripes[LOCK_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
    for (size_t i = 0; i < LOCK_STRIPES; i++)
        pthread_mutex_init(&stripes[i], NULL);
}

static pthread_mutex_t *lock_of(const vd_ical *ic)
{
    pthread_once(&stripes_once, stripes_init);
    uintptr_t a = (uintptr_t)ic;
    return &stripes[((a >> 4) ^ (a >> 12)) % LOCK_STRIPES];
}

/* ------------------------------------------------------------------ */
/* CLASS                                                               */

/* RFC 5545 3.8.1.3: "Applications MUST treat x-name and iana-token values
 * they don't recognize the same way as they would the PRIVATE value." */
static vd_mask_level class_value_level(icalproperty *p)
{
    char *s = icalproperty_get_value_as_string_r(p);
    vd_mask_level l = VD_MASK_HIDDEN;
    if (s && strcasecmp(s, "PUBLIC") == 0)
        l = VD_MASK_NONE;
    else if (s && strcasecmp(s, "CONFIDENTIAL") == 0)
        l = VD_MASK_BUSY;
    icalmemory_free_buffer(s);
    return l;
}

/* The strictest CLASS of any main component: an override marked PRIVATE
 * hides the whole object, since it is served as one resource. */
static vd_mask_level class_level(icalcomponent *root)
{
    vd_mask_level worst = VD_MASK_NONE;
    for (icalcompiter it = icalcomponent_begin_component(root, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&it); icalcompiter_next(&it)) {
        icalcomponent *c = icalcompiter_deref(&it);
        if (!ic_kind_mask(icalcomponent_isa(c)))
            continue;
        for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_CLASS_PROPERTY); p;
             p = icalcomponent_get_next_property(c, ICAL_CLASS_PROPERTY)) {
            vd_mask_level l = class_value_level(p);
            if (l > worst)
                worst = l;
        }
    }
    return worst;
}

vd_mask_level vd_ical_mask_level(const vd_ical *ic, vd_mask_level viewer_level)
{
    /* never fail open: no object or an unknown level hides */
    if (!ic || !ic->root || (unsigned)viewer_level >= VD_MASK_HIDDEN)
        return VD_MASK_HIDDEN;
    ic_init();
    pthread_mutex_t *mu = lock_of(ic);
    pthread_mutex_lock(mu);
    vd_mask_level cl = class_level(ic->root);
    pthread_mutex_unlock(mu);
    return cl > viewer_level ? cl : viewer_level;
}

/* ------------------------------------------------------------------ */
/* text given by the caller                                            */

/* Length of the UTF-8 character at p, 0 when the bytes are not UTF-8
 * (overlong forms, surrogates and values above U+10FFFF included). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Copy s into out (cap bytes with the NUL): whole UTF-8 characters only,
 * control characters as spaces, bytes that are not UTF-8 as '?', so the
 * output stays a valid calendar object whatever the customer file holds. */
static void clean_text(const char *s, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;
    while (*p) {
        size_t n = utf8_len(p);
        if (w + (n ? n : 1) >= cap)
            break;
        if (n == 0) {
            out[w++] = '?';
            p++;
            continue;
        }
        if (n == 1 && (*p < 0x20 || *p == 0x7f)) {
            out[w++] = ' ';
        } else {
            memcpy(out + w, p, n);
            w += n;
        }
        p += n;
    }
    out[w] = '\0';
}

/* ------------------------------------------------------------------ */
/* the masking pass                                                    */

typedef struct tzent {
    const char *tzid;           /* borrowed from the input, valid under the lock */
    icalcomponent *c;
    bool used;
} tzent;

typedef struct mask_ctx {
    vd_mask_level level;
    bool strip_alarms;
    tzent *tz;                  /* input VTIMEZONEs in input order */
    tzent **by_id;              /* the same, sorted by TZID then input order */
    size_t ntz;
    char *summary_line;         /* SUMMARY written for masked levels */
    char *owner_line;           /* X-VISIT-OWNER, or NULL */
    vd_buf body;
    vd_err err;
} mask_ctx;

/* Append libical's text s (NULL = out of memory) without X-LIC-ERROR
 * lines: they are libical's notes about input it dropped, never data. */
static void put_text(mask_ctx *m, char *s)
{
    if (!s) {
        m->err = VD_ENOMEM;
        return;
    }
    bool skipping = false;
    for (const char *l = s; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) + 1 : strlen(l);
        if (l[0] != ' ' && l[0] != '\t')     /* not a folded continuation */
            skipping = strncasecmp(l, "X-LIC-ERROR", 11) == 0;
        if (!skipping)
            vd_buf_append(&m->body, l, n);
        l += n;
    }
    icalmemory_free_buffer(s);
}

static int cmp_tz(const void *a, const void *b)
{
    const tzent *x = *(const tzent *const *)a, *y = *(const tzent *const *)b;
    int c = strcmp(x->tzid, y->tzid);
    return c ? c : (x < y ? -1 : x > y);
}

static vd_err collect_zones(mask_ctx *m, icalcomponent *root)
{
    size_t n = 0;
    for (icalcompiter it = icalcomponent_begin_component(root, ICAL_VTIMEZONE_COMPONENT);
         icalcompiter_deref(&it); icalcompiter_next(&it))
        n++;
    if (n == 0)
        return VD_OK;
    m->tz = calloc(n, sizeof *m->tz);
    m->by_id = calloc(n, sizeof *m->by_id);
    if (!m->tz || !m->by_id)
        return VD_ENOMEM;
    for (icalcompiter it = icalcomponent_begin_component(root, ICAL_VTIMEZONE_COMPONENT);
         icalcompiter_deref(&it); icalcompiter_next(&it)) {
        icalcomponent *c = icalcompiter_deref(&it);
        icalproperty *p = icalcomponent_get_first_property(c, ICAL_TZID_PROPERTY);
        const char *id = p ? icalproperty_get_tzid(p) : NULL;
        if (!id)
            continue;               /* a zone nobody can refer to */
        m->tz[m->ntz] = (tzent){.tzid = id, .c = c};
        m->by_id[m->ntz] = &m->tz[m->ntz];
        m->ntz++;
    }
    qsort(m->by_id, m->ntz, sizeof *m->by_id, cmp_tz);
    return VD_OK;
}

/* Mark the first VTIMEZONE called tzid as needed. */
static void note_tzid(mask_ctx *m, const char *tzid)
{
    size_t lo = 0, hi = m->ntz;
    if (!tzid)
        return;
    while (lo < hi) {                   /* first entry >= tzid */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->by_id[mid]->tzid, tzid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->ntz && strcmp(m->by_id[lo]->tzid, tzid) == 0)
        m->by_id[lo]->used = true;
}

static void note_prop_tzid(mask_ctx *m, icalproperty *p)
{
    icalparameter *q = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
    if (q)
        note_tzid(m, icalparameter_get_tzid(q));
}

static void note_tree_tzids(mask_ctx *m, icalcomponent *c)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY))
        note_prop_tzid(m, p);
    for (icalcompiter it = icalcomponent_begin_component(c, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&it); icalcompiter_next(&it))
        note_tree_tzids(m, icalcompiter_deref(&it));
}

/* What a masked component keeps (lib/ical_mask.h).  DTSTAMP stays at
 * VD_MASK_BUSY too: RFC 5545 3.6.1 makes it REQUIRED, and it says when
 * the object was written, not what it is about. */
static bool keep_prop(icalproperty *p, vd_mask_level level)
{
    switch (icalproperty_isa(p)) {
    case ICAL_DTSTART_PROPERTY: case ICAL_DTEND_PROPERTY:
    case ICAL_DURATION_PROPERTY: case ICAL_DUE_PROPERTY:
    case ICAL_RRULE_PROPERTY: case ICAL_RDATE_PROPERTY:
    case ICAL_EXDATE_PROPERTY: case ICAL_EXRULE_PROPERTY:
    case ICAL_RECURRENCEID_PROPERTY: case ICAL_FREEBUSY_PROPERTY:
    case ICAL_UID_PROPERTY: case ICAL_DTSTAMP_PROPERTY:
    case ICAL_STATUS_PROPERTY: case ICAL_TRANSP_PROPERTY:
        return true;
    case ICAL_SEQUENCE_PROPERTY:
        return level == VD_MASK_CUSTOMER;
    case ICAL_X_PROPERTY:
        return level == VD_MASK_CUSTOMER && ic_prop_is(p, "X-VISIT-CUSTOMER");
    default:
        return false;
    }
}

static bool keep_param(icalparameter *q)
{
    icalparameter_kind k = icalparameter_isa(q);
    return k == ICAL_TZID_PARAMETER || k == ICAL_VALUE_PARAMETER || k == ICAL_RANGE_PARAMETER;
}

/* A copy of p with its value and only the parameters keep_param allows,
 * serialised.  libical 3.0's value clone loses the text of an enum value
 * outside the standard set (STATUS:X-...), so that text is copied too. */
static char *clean_line(icalproperty *p)
{
    icalvalue *v = icalproperty_get_value(p), *nv = NULL;
    icalproperty *np = icalproperty_new(icalproperty_isa(p));
    char *s = NULL;
    if (!np || !v || !(nv = icalvalue_new_clone(v)))
        goto out;
    if (icalproperty_isa(p) == ICAL_X_PROPERTY)
        icalproperty_set_x_name(np, icalproperty_get_x_name(p));
    if (icalvalue_get_x(v) && !icalvalue_get_x(nv))
        icalvalue_set_x(nv, icalvalue_get_x(v));
    icalproperty_set_value(np, nv);
    nv = NULL;
    for (icalparameter *q = icalproperty_get_first_parameter(p, ICAL_ANY_PARAMETER); q;
         q = icalproperty_get_next_parameter(p, ICAL_ANY_PARAMETER)) {
        icalparameter *nq = keep_param(q) ? icalparameter_new_clone(q) : NULL;
        if (nq)
            icalproperty_add_parameter(np, nq);
    }
    s = icalproperty_as_ical_string_r(np);
out:
    if (nv)
        icalvalue_free(nv);
    if (np)
        icalproperty_free(np);
    return s;
}

static void put_props(mask_ctx *m, icalcomponent *c)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
        if (icalproperty_isa(p) == ICAL_XLICERROR_PROPERTY)
            continue;
        if (m->level == VD_MASK_NONE) {
            put_text(m, icalproperty_as_ical_string_r(p));
        } else if (keep_prop(p, m->level) && icalproperty_get_value(p)) {
            put_text(m, clean_line(p));
        } else {
            continue;
        }
        note_prop_tzid(m, p);
    }
}

/* One VEVENT / VTODO / VJOURNAL / VFREEBUSY, master or override. */
static void put_main(mask_ctx *m, icalcomponent *c)
{
    const char *name = ic_comp_name(c);
    vd_buf_printf(&m->body, "BEGIN:%s\r\n", name);
    put_props(m, c);
    if (m->level != VD_MASK_NONE) {
        /* RFC 5545 3.6.4: a VFREEBUSY has no SUMMARY */
        if (icalcomponent_isa(c) != ICAL_VFREEBUSY_COMPONENT)
            vd_buf_puts(&m->body, m->summary_line);
        if (m->owner_line)
            vd_buf_puts(&m->body, m->owner_line);
    } else {
        for (icalcompiter it = icalcomponent_begin_component(c, ICAL_ANY_COMPONENT);
             icalcompiter_deref(&it); icalcompiter_next(&it)) {
            icalcomponent *sub = icalcompiter_deref(&it);
            if (m->strip_alarms && icalcomponent_isa(sub) == ICAL_VALARM_COMPONENT)
                continue;
            note_tree_tzids(m, sub);
            put_text(m, icalcomponent_as_ical_string_r(sub));
        }
    }
    vd_buf_printf(&m->body, "END:%s\r\n", name);
}

static void put_components(mask_ctx *m, icalcomponent *root)
{
    for (icalcompiter it = icalcomponent_begin_component(root, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&it) && m->err == VD_OK; icalcompiter_next(&it)) {
        icalcomponent *c = icalcompiter_deref(&it);
        icalcomponent_kind k = icalcomponent_isa(c);
        if (k == ICAL_VTIMEZONE_COMPONENT)
            continue;               /* written later, only when used */
        if (ic_kind_mask(k)) {
            put_main(m, c);
        } else if (m->level == VD_MASK_NONE) {
            note_tree_tzids(m, c);  /* e.g. an X- component: the full object */
            put_text(m, icalcomponent_as_ical_string_r(c));
        }
    }
}

/* VCALENDAR properties: ours replace VERSION and PRODID; CALSCALE says
 * how the dates are to be read, so it stays at every level; the rest
 * (X-WR-..., NAME) only in the full object. */
static void put_calendar_props(mask_ctx *m, icalcomponent *root)
{
    vd_buf_puts(&m->body, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:" MASK_PRODID "\r\n");
    for (icalproperty *p = icalcomponent_get_first_property(root, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(root, ICAL_ANY_PROPERTY)) {
        icalproperty_kind k = icalproperty_isa(p);
        if (k == ICAL_VERSION_PROPERTY || k == ICAL_PRODID_PROPERTY ||
            k == ICAL_METHOD_PROPERTY || k == ICAL_XLICERROR_PROPERTY)
            continue;
        if (k == ICAL_CALSCALE_PROPERTY || m->level == VD_MASK_NONE)
            put_text(m, icalproperty_as_ical_string_r(p));
    }
}

/* The SUMMARY and X-VISIT-OWNER lines of masked levels, made once. */
static vd_err make_lines(mask_ctx *m, const vd_mask_opts *o)
{
    char text[TEXT_MAX + 16];
    if (m->level == VD_MASK_NONE)
        return VD_OK;
    if (m->level == VD_MASK_CUSTOMER && o->customer_name && *o->customer_name) {
        char name[TEXT_MAX];
        clean_text(o->customer_name, name, sizeof name);
        snprintf(text, sizeof text, "Visit: %s", name);
    } else {
        snprintf(text, sizeof text, "Busy");
    }
    icalproperty *p = icalproperty_new_summary(text);
    m->summary_line = p ? icalproperty_as_ical_string_r(p) : NULL;
    if (p)
        icalproperty_free(p);
    if (!m->summary_line)
        return VD_ENOMEM;
    if (m->level != VD_MASK_CUSTOMER || !o->owner || !*o->owner)
        return VD_OK;
    clean_text(o->owner, text, TEXT_MAX);
    p = icalproperty_new_x(text);
    if (p)
        icalproperty_set_x_name(p, "X-VISIT-OWNER");
    m->owner_line = p ? icalproperty_as_ical_string_r(p) : NULL;
    if (p)
        icalproperty_free(p);
    return m->owner_line ? VD_OK : VD_ENOMEM;
}

/* Runs under the object's lock: everything that reads the input. */
static void mask_locked(mask_ctx *m, icalcomponent *root, vd_buf *cal)
{
    if ((m->err = collect_zones(m, root)) != VD_OK)
        return;
    put_components(m, root);          /* into m->body; notes the zones used */
    vd_buf events = m->body;
    m->body = (vd_buf)VD_BUF_INIT;
    put_calendar_props(m, root);
    for (size_t i = 0; i < m->ntz && m->err == VD_OK; i++)
        if (m->tz[i].used)
            put_text(m, icalcomponent_as_ical_string_r(m->tz[i].c));
    if (events.len)
        vd_buf_append(&m->body, events.data, events.len);
    vd_buf_puts(&m->body, "END:VCALENDAR\r\n");
    vd_buf_free(&events);
    *cal = m->body;
    m->body = (vd_buf)VD_BUF_INIT;
}

vd_err vd_ical_mask(const vd_ical *ic, const vd_mask_opts *o, vd_buf *out)
{
    mask_ctx m = {.body = VD_BUF_INIT};
    vd_buf cal = VD_BUF_INIT;
    if (!ic || !ic->root || !o || !out || (unsigned)o->level > VD_MASK_HIDDEN)
        return VD_EINVAL;
    if (o->level == VD_MASK_HIDDEN)
        return VD_EFORBIDDEN;       /* not served as an event at all */
    ic_init();
    m.level = o->level;
    m.strip_alarms = o->strip_alarms || o->level != VD_MASK_NONE;
    if ((m.err = make_lines(&m, o)) != VD_OK)
        goto done;
    pthread_mutex_t *mu = lock_of(ic);
    pthread_mutex_lock(mu);
    mask_locked(&m, ic->root, &cal);
    pthread_mutex_unlock(mu);
    if (m.err == VD_OK)
        vd_buf_append(out, cal.data, cal.len);
done:
    vd_buf_free(&cal);
    vd_buf_free(&m.body);
    free(m.tz);
    free(m.by_id);
    icalmemory_free_buffer(m.summary_line);
    icalmemory_free_buffer(m.owner_line);
    return m.err;
}
