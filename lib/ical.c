/* ical.c - parsing and validation of calendar object resources (RFC 4791
 * 4.1, 5.3.2), accessors, libical's process-wide setup, and time-zone
 * resolution (object VTIMEZONE, system zoneinfo, registered
 * calendar-timezone values).  Owns the zone cache and registry and the only
 * lock around libical's builtin-zone table.  Must not expand recurrences
 * (ical_expand.c), evaluate filters (ical_filter.c) or serialise
 * (ical_render.c).  Thread-safe: a vd_ical is used by one thread at a time,
 * everything shared here is behind zone_mu. */
#include "ical_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IC_MAX_INPUT      (64u << 20)  /* bytes; the store's limit is lower */
#define IC_MAX_COMPONENTS 10000        /* BEGIN lines per resource */
#define IC_MAX_UID        400          /* bytes; UIDs are LMDB key parts */
#define ZCACHE_SLOTS      1024         /* TZID -> system zone (or none) */
#define ZCACHE_MAX        512
#define REG_MAX           256          /* registered calendar-timezones */
#define TZID_MAX          200

static const char *const KEY_PROPS[] = {
    "DTSTART", "DTEND", "DUE", "DURATION", "RRULE", "UID",
    "RECURRENCE-ID", "RDATE", "EXDATE", NULL
};

/* ------------------------------------------------------------------ */
/* setup and zone resolution                                           */

typedef struct zslot { char *name; icaltimezone *zone; } zslot;
typedef struct regzone {
    char *tzid, *text;
    icaltimezone *zone;
    struct regzone *next;
} regzone;

static pthread_mutex_t zone_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static zslot zcache[ZCACHE_SLOTS];
static size_t zcache_n;
static regzone *reg_head;
static size_t reg_n;

static void init_once_fn(void)
{
    /* Keep unknown parameters instead of dropping them (libical 3.0 applies
     * this setting to parameters only). */
    ical_set_unknown_token_handling_setting(ICAL_ASSUME_IANA_TOKEN);
    /* System zoneinfo (tzdata), not libical's compiled-in copy. */
    icaltimezone_set_builtin_tzdata(0);
    /* Load the zone table once, single-threaded: libical 3.0 races when
     * several threads trigger the first load. */
    pthread_mutex_lock(&zone_mu);
    (void)icaltimezone_get_utc_timezone();
    (void)icaltimezone_get_builtin_timezones();
    pthread_mutex_unlock(&zone_mu);
}

void ic_init(void)
{
    pthread_once(&init_once, init_once_fn);
}

static icaltimezone *utc_zone(void)
{
    return icaltimezone_get_utc_timezone();
}

/* A TZID may become a file name below /usr/share/zoneinfo inside libical:
 * only plain zone names get that far. */
static bool tzid_plain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TZID_MAX || s[0] == '/' || s[0] == '.' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' ||
              c == '+' || c == '.'))
            return false;
    }
    return true;
}

static size_t zhash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % ZCACHE_SLOTS;
}

/* Builtin (system) zone by name, cached, negative answers too. */
static icaltimezone *sys_zone(const char *name)
{
    static const char *const prefixes[] = {
        "/freeassociation.sourceforge.net/Tzfile/",
        "/freeassociation.sourceforge.net/", NULL
    };
    for (int i = 0; prefixes[i]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) {
            name += strlen(prefixes[i]);
            break;
        }
    if (!tzid_plain(name))
        return NULL;
    icaltimezone *z = NULL;
    pthread_mutex_lock(&zone_mu);
    size_t h = zhash(name);
    for (size_t i = 0; i < ZCACHE_SLOTS; i++) {
        zslot *s = &zcache[(h + i) % ZCACHE_SLOTS];
        if (!s->name)
            break;
        if (strcmp(s->name, name) == 0) {
            z = s->zone;
            goto done;
        }
    }
    z = icaltimezone_get_builtin_timezone(name);
    if (z)
        (void)icaltimezone_get_component(z);   /* load now, under our lock */
    if (zcache_n < ZCACHE_MAX) {
        char *copy = strdup(name);
        for (size_t i = 0; copy && i < ZCACHE_SLOTS; i++) {
            zslot *s = &zcache[(h + i) % ZCACHE_SLOTS];
            if (!s->name) {
                s->name = copy;
                s->zone = z;
                zcache_n++;
                break;
            }
        }
    }
done:
    pthread_mutex_unlock(&zone_mu);
    return z;
}

static icaltimezone *reg_zone(const char *tzid)
{
    icaltimezone *z = NULL;
    pthread_mutex_lock(&zone_mu);
    for (regzone *r = reg_head; r; r = r->next)
        if (strcmp(r->tzid, tzid) == 0) {
            z = r->zone;
            break;
        }
    pthread_mutex_unlock(&zone_mu);
    return z;
}

icaltimezone *ic_zone_for_tzid(icalcomponent *root, const char *tzid)
{
    if (!tzid || !*tzid)
        return NULL;
    if (strcmp(tzid, "UTC") == 0 || strcmp(tzid, "GMT") == 0 || strcmp(tzid, "Etc/UTC") == 0)
        return utc_zone();
    icaltimezone *z = root ? icalcomponent_get_timezone(root, tzid) : NULL;
    if (!z)
        z = sys_zone(tzid);
    if (!z)
        z = reg_zone(tzid);
    return z;
}

icaltimezone *ic_floating_zone(const char *name)
{
    ic_init();
    if (!name || !*name)
        return utc_zone();
    icaltimezone *z = reg_zone(name);
    if (!z)
        z = strcmp(name, "UTC") == 0 ? utc_zone() : sys_zone(name);
    return z ? z : utc_zone();
}

ic_dt ic_dt_make(icaltimetype t, icalproperty *p, icalcomponent *root,
                 icaltimezone *floating)
{
    ic_dt d;
    memset(&d, 0, sizeof d);
    if (!floating)
        floating = utc_zone();
    d.t = t;
    d.is_date = t.is_date != 0;
    if (d.is_date) {
        d.zone = floating;
        d.floating = true;
        d.t.zone = NULL;
        return d;
    }
    if (icaltime_is_utc(t)) {
        d.zone = utc_zone();
    } else {
        icalparameter *tp = p ? icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER) : NULL;
        const char *tzid = tp ? icalparameter_get_tzid(tp) : NULL;
        d.zone = tzid ? ic_zone_for_tzid(root, tzid) : NULL;
        if (!d.zone) {
            /* unknown TZID or none: floating (RFC 5545 3.3.5 form #1) */
            d.zone = floating;
            d.floating = true;
        }
    }
    d.t.zone = d.zone;
    return d;
}

bool ic_prop_dt(icalproperty *p, icalcomponent *root, icaltimezone *floating, ic_dt *out)
{
    icalvalue *v = p ? icalproperty_get_value(p) : NULL;
    if (!v)
        return false;
    icaltimetype t;
    switch (icalvalue_isa(v)) {
    case ICAL_DATETIME_VALUE:
        t = icalvalue_get_datetime(v);
        break;
    case ICAL_DATE_VALUE:
        t = icalvalue_get_date(v);
        break;
    case ICAL_DATETIMEPERIOD_VALUE: {
        struct icaldatetimeperiodtype dp = icalvalue_get_datetimeperiod(v);
        t = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
        break;
    }
    case ICAL_PERIOD_VALUE:
        t = icalvalue_get_period(v).start;
        break;
    default:
        return false;
    }
    if (icaltime_is_null_time(t))
        return false;
    *out = ic_dt_make(t, p, root, floating);
    return true;
}

vd_time ic_local_to_utc(icaltimetype t, icaltimezone *zone)
{
    if (t.is_date) {
        t.is_date = 0;
        t.hour = t.minute = t.second = 0;
    }
    if (!zone)
        zone = utc_zone();
    t.zone = zone;
    return (vd_time)icaltime_as_timet_with_zone(t, zone);
}

vd_time ic_dt_utc(const ic_dt *d)
{
    return ic_local_to_utc(d->t, d->zone);
}

bool ic_prop_is(icalproperty *p, const char *name)
{
    icalproperty_kind k = icalproperty_isa(p);
    if (k == ICAL_X_PROPERTY) {
        const char *x = icalproperty_get_x_name(p);
        return x && strcasecmp(x, name) == 0;
    }
    const char *s = icalproperty_kind_to_string(k);
    return s && strcasecmp(s, name) == 0;
}

const char *ic_comp_name(icalcomponent *c)
{
    const char *s = icalcomponent_kind_to_string(icalcomponent_isa(c));
    return s ? s : "";
}

uint32_t ic_kind_mask(icalcomponent_kind k)
{
    switch (k) {
    case ICAL_VEVENT_COMPONENT:    return VD_COMP_VEVENT;
    case ICAL_VTODO_COMPONENT:     return VD_COMP_VTODO;
    case ICAL_VJOURNAL_COMPONENT:  return VD_COMP_VJOURNAL;
    case ICAL_VFREEBUSY_COMPONENT: return VD_COMP_VFREEBUSY;
    default:                       return 0;
    }
}

icalcomponent *ic_first_main(const vd_ical *ic)
{
    icalcomponent *first = NULL;
    if (!ic || ic->kind == ICAL_NO_COMPONENT)
        return NULL;
    for (icalcompiter it = icalcomponent_begin_component(ic->root, ic->kind);
         icalcompiter_deref(&it); icalcompiter_next(&it)) {
        icalcomponent *c = icalcompiter_deref(&it);
        if (!icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY))
            return c;
        if (!first)
            first = c;
    }
    return first;
}

/* ------------------------------------------------------------------ */
/* registered time zones (CALDAV:calendar-timezone)                    */

static bool reg_add(const char *tzid, icalcomponent *vtz)
{
    char *text = icalcomponent_as_ical_string_r(vtz);
    regzone *r = NULL;
    bool ok = false;
    if (!text)
        return false;
    pthread_mutex_lock(&zone_mu);
    for (regzone *q = reg_head; q; q = q->next)
        if (strcmp(q->tzid, tzid) == 0 && strcmp(q->text, text) == 0) {
            ok = true;               /* same definition already known */
            goto done;
        }
    if (reg_n >= REG_MAX)
        goto done;                   /* full: callers fall back to tzdata */
    r = calloc(1, sizeof *r);
    if (!r)
        goto done;
    r->zone = icaltimezone_new();
    icalcomponent *copy = icalcomponent_new_clone(vtz);
    if (!r->zone || !copy || !icaltimezone_set_component(r->zone, copy)) {
        if (copy)
            icalcomponent_free(copy);
        if (r->zone)
            icaltimezone_free(r->zone, 1);
        free(r);
        goto done;
    }
    r->tzid = strdup(tzid);
    r->text = text;
    text = NULL;
    /* Newest first, so a changed definition wins; older ones stay
     * allocated because other threads may hold them. */
    r->next = reg_head;
    reg_head = r;
    reg_n++;
    ok = r->tzid != NULL;
done:
    pthread_mutex_unlock(&zone_mu);
    icalmemory_free_buffer(text);
    return ok;
}

/* ------------------------------------------------------------------ */
/* input checks before libical sees the bytes                          */

static vd_err bad_data(vd_diag *d, const char *fmt, const char *a, const char *b)
{
    vd_diag_set(d, 403, VD_NS_CALDAV, "valid-calendar-data", fmt, a, b);
    return VD_EPRECOND;
}

static vd_err bad_object(vd_diag *d, const char *fmt, const char *a, const char *b)
{
    vd_diag_set(d, 403, VD_NS_CALDAV, "valid-calendar-object-resource", fmt, a, b);
    return VD_EPRECOND;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; }
        else return false;
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

/* Count BEGIN lines and their nesting: libical frees and prints components
 * recursively, so depth must be bounded before parsing. */
static int nesting_problem(const char *s)
{
    int depth = 0, count = 0;
    for (const char *line = s; line && *line;) {
        if (strncasecmp(line, "BEGIN:", 6) == 0) {
            if (++depth > IC_MAX_DEPTH)
                return 1;
            if (++count > IC_MAX_COMPONENTS)
                return 2;
        } else if (strncasecmp(line, "END:", 4) == 0 && depth > 0) {
            depth--;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return 0;
}

/* A NUL-terminated copy without BOM and leading blank lines. */
static vd_err prepare_text(const char *data, size_t len, bool strict, char **out, vd_diag *d)
{
    *out = NULL;
    if (len > IC_MAX_INPUT) {
        vd_diag_set(d, 403, VD_NS_CALDAV, "max-resource-size",
                    "calendar data larger than %u bytes", IC_MAX_INPUT);
        return VD_EPRECOND;
    }
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        data += 3;
        len -= 3;
    }
    while (len > 0 && (*data == '\r' || *data == '\n' || *data == ' ' || *data == '\t')) {
        data++;
        len--;
    }
    if (memchr(data, '\0', len))
        return bad_data(d, "calendar data contains a NUL byte%s%s", "", "");
    if (strict && !utf8_valid((const unsigned char *)data, len))
        return bad_data(d, "calendar data is not valid UTF-8%s%s", "", "");
    if (len < 15 || strncasecmp(data, "BEGIN:VCALENDAR", 15) != 0)
        return bad_data(d, "not iCalendar data (it must start with BEGIN:VCALENDAR)%s%s", "", "");
    char *s = malloc(len + 1);
    if (!s)
        return VD_ENOMEM;
    memcpy(s, data, len);
    s[len] = '\0';
    int np = nesting_problem(s);
    if (np) {
        free(s);
        return np == 1 ? bad_data(d, "components nested too deeply%s%s", "", "")
                       : bad_data(d, "too many components in one resource%s%s", "", "");
    }
    *out = s;
    return VD_OK;
}

/* ------------------------------------------------------------------ */
/* validation after parsing                                            */

static vd_err check_root(icalcomponent *root, vd_diag *d)
{
    if (!root)
        return bad_data(d, "not parseable iCalendar data (unbalanced BEGIN/END?)%s%s", "", "");
    icalcomponent_kind k = icalcomponent_isa(root);
    if (k == ICAL_XROOT_COMPONENT) {
        char n[32];
        snprintf(n, sizeof n, "%d", icalcomponent_count_components(root, ICAL_ANY_COMPONENT));
        return bad_data(d, "%s top-level components in one resource (expected one VCALENDAR)%s",
                        n, "");
    }
    if (k != ICAL_VCALENDAR_COMPONENT)
        return bad_data(d, "top-level component is %s, not VCALENDAR", ic_comp_name(root), "");
    return VD_OK;
}

/* Name of the property an X-LIC-ERROR text complains about, or "". */
static void lic_error_subject(const char *msg, char *name, size_t cap)
{
    static const char *const marks[] = {" in ", "for property ", "tag: ", NULL};
    name[0] = '\0';
    for (int i = 0; marks[i]; i++) {
        const char *m = strstr(msg, marks[i]);
        if (!m)
            continue;
        m += strlen(marks[i]);
        size_t n = 0;
        while (m[n] && n + 1 < cap &&
               ((m[n] >= 'A' && m[n] <= 'Z') || (m[n] >= 'a' && m[n] <= 'z') || m[n] == '-'))
            n++;
        memcpy(name, m, n);
        name[n] = '\0';
        for (int k = 0; KEY_PROPS[k]; k++)
            if (strcasecmp(name, KEY_PROPS[k]) == 0)
                return;
    }
    name[0] = '\0';
}

/* libical keeps going on bad values and inserts X-LIC-ERROR instead. */
static vd_err check_lic_errors(icalcomponent *c, vd_diag *d)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_XLICERROR_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_XLICERROR_PROPERTY)) {
        const char *msg = icalproperty_get_xlicerror(p);
        char name[32];
        lic_error_subject(msg ? msg : "", name, sizeof name);
        if (!name[0])
            continue;                 /* e.g. a bad X- property: tolerated */
        const char *val = msg ? strrchr(msg, ':') : NULL;
        if (val)
            for (val++; *val == ' '; val++)
                ;
        return bad_data(d, "%s has an invalid value (%s)", name,
                        val && *val ? val : "unparseable");
    }
    for (icalcomponent *s = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); s;
         s = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT)) {
        vd_err rc = check_lic_errors(s, d);
        if (rc)
            return rc;
    }
    return VD_OK;
}

static vd_err check_calendar_props(icalcomponent *root, vd_diag *d)
{
    /* RFC 4791 4.1: calendar object resources MUST NOT specify METHOD. */
    if (icalcomponent_get_first_property(root, ICAL_METHOD_PROPERTY))
        return bad_object(d, "METHOD is not allowed in a stored calendar object (RFC 4791 4.1)%s%s",
                          "", "");
    icalproperty *v = icalcomponent_get_first_property(root, ICAL_VERSION_PROPERTY);
    const char *ver = v ? icalproperty_get_version(v) : NULL;
    if (ver && strcmp(ver, "2.0") != 0)
        return bad_data(d, "VERSION is %s, only 2.0 is supported%s", ver, "");
    return VD_OK;
}

static int count_props(icalcomponent *c, icalproperty_kind k)
{
    return icalcomponent_count_properties(c, k);
}

static vd_err check_end(icalcomponent *root, icalcomponent *c, const ic_dt *start,
                        icalproperty_kind k, const char *name, vd_diag *d)
{
    ic_dt end;
    icalproperty *p = icalcomponent_get_first_property(c, k);
    if (!p || !ic_prop_dt(p, root, NULL, &end))
        return VD_OK;
    if (end.is_date != start->is_date)
        return bad_data(d, "%s and DTSTART must both be DATE or both DATE-TIME%s", name, "");
    if (ic_dt_utc(&end) < ic_dt_utc(start))
        return bad_data(d, "%s is before DTSTART%s", name, "");
    return VD_OK;
}

static vd_err check_rrules(icalcomponent *c, bool has_start, vd_diag *d)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_RRULE_PROPERTY)) {
        struct icalrecurrencetype r = icalproperty_get_rrule(p);
        if (!has_start)
            return bad_data(d, "RRULE without DTSTART%s%s", "", "");
        if (r.freq == ICAL_NO_RECURRENCE)
            return bad_data(d, "RRULE has an invalid value (no FREQ)%s%s", "", "");
        if (ic_rrule_too_costly(&r))
            return bad_data(d, "RRULE FREQ=%s with date-level BYxxx parts is not supported%s",
                            icalrecur_freq_to_string(r.freq), "");
    }
    return VD_OK;
}

/* RFC 5545 3.6.1 / 3.6.2 value rules on one component. */
static vd_err check_times(icalcomponent *root, icalcomponent *c, icalcomponent_kind kind,
                          vd_diag *d)
{
    const char *kn = ic_comp_name(c);
    ic_dt start;
    icalproperty *ps = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    bool has_start = ps && ic_prop_dt(ps, root, NULL, &start);
    bool has_dur = icalcomponent_get_first_property(c, ICAL_DURATION_PROPERTY) != NULL;
    if (count_props(c, ICAL_DTSTART_PROPERTY) > 1)
        return bad_data(d, "%s has more than one DTSTART%s", kn, "");
    if (kind == ICAL_VEVENT_COMPONENT && !has_start)
        return bad_data(d, "%s without DTSTART%s", kn, "");
    if (has_dur) {
        struct icaldurationtype du = icalproperty_get_duration(
            icalcomponent_get_first_property(c, ICAL_DURATION_PROPERTY));
        if (du.is_neg)
            return bad_data(d, "DURATION is negative%s%s", "", "");
        if (!has_start)
            return bad_data(d, "DURATION without DTSTART%s%s", "", "");
    }
    if (kind == ICAL_VEVENT_COMPONENT || kind == ICAL_VFREEBUSY_COMPONENT) {
        if (has_dur && icalcomponent_get_first_property(c, ICAL_DTEND_PROPERTY))
            return bad_data(d, "%s has both DTEND and DURATION%s", kn, "");
        if (has_start) {
            vd_err rc = check_end(root, c, &start, ICAL_DTEND_PROPERTY, "DTEND", d);
            if (rc)
                return rc;
        }
    } else if (kind == ICAL_VTODO_COMPONENT) {
        if (has_dur && icalcomponent_get_first_property(c, ICAL_DUE_PROPERTY))
            return bad_data(d, "%s has both DUE and DURATION%s", kn, "");
        if (has_start) {
            vd_err rc = check_end(root, c, &start, ICAL_DUE_PROPERTY, "DUE", d);
            if (rc)
                return rc;
        }
    }
    return check_rrules(c, has_start, d);
}

typedef struct scan {
    icalcomponent_kind kind;
    const char *uid;
    int masters;
    vd_time *rids;
    size_t n_rids, cap_rids;
} scan;

static int cmp_time(const void *a, const void *b)
{
    vd_time x = *(const vd_time *)a, y = *(const vd_time *)b;
    return x < y ? -1 : x > y;
}

static vd_err note_identity(scan *sc, icalcomponent *root, icalcomponent *c, vd_diag *d)
{
    const char *kn = ic_comp_name(c);
    icalproperty *up = icalcomponent_get_first_property(c, ICAL_UID_PROPERTY);
    const char *uid = up ? icalproperty_get_uid(up) : NULL;
    if (!uid || !*uid)
        return bad_data(d, "%s without UID%s", kn, "");
    if (strlen(uid) > IC_MAX_UID)
        return bad_data(d, "UID is longer than 400 bytes%s%s", "", "");
    if (sc->uid && strcmp(sc->uid, uid) != 0)
        return bad_object(d, "two different UIDs (%s, %s) in one resource", sc->uid, uid);
    sc->uid = uid;
    icalproperty *rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    ic_dt rid;
    if (!rp) {
        if (++sc->masters > 1)
            return bad_object(d, "more than one %s without RECURRENCE-ID for UID %s", kn, uid);
        return VD_OK;
    }
    if (!ic_prop_dt(rp, root, NULL, &rid))
        return bad_data(d, "RECURRENCE-ID has an invalid value%s%s", "", "");
    if (sc->n_rids == sc->cap_rids) {
        size_t nc = sc->cap_rids ? sc->cap_rids * 2 : 16;
        vd_time *nv = realloc(sc->rids, nc * sizeof *nv);
        if (!nv)
            return VD_ENOMEM;
        sc->rids = nv;
        sc->cap_rids = nc;
    }
    sc->rids[sc->n_rids++] = ic_dt_utc(&rid);
    return VD_OK;
}

static vd_err check_components(icalcomponent *root, uint32_t allowed, scan *sc, vd_diag *d)
{
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        icalcomponent_kind k = icalcomponent_isa(c);
        if (k == ICAL_VTIMEZONE_COMPONENT) {
            if (!icalcomponent_get_first_property(c, ICAL_TZID_PROPERTY))
                return bad_data(d, "VTIMEZONE without TZID%s%s", "", "");
            continue;
        }
        uint32_t m = ic_kind_mask(k);
        if (!m)
            continue;               /* X- and unknown components are carried along */
        if (!(m & allowed)) {
            /* RFC 4791 5.3.2.1: supported-calendar-component */
            vd_diag_set(d, 403, VD_NS_CALDAV, "supported-calendar-component",
                        "%s is not supported in this calendar", ic_comp_name(c));
            return VD_EPRECOND;
        }
        if (sc->kind != ICAL_NO_COMPONENT && sc->kind != k)
            return bad_object(d, "mixed component types (%s and %s) in one resource",
                              icalcomponent_kind_to_string(sc->kind), ic_comp_name(c));
        sc->kind = k;
        vd_err rc = note_identity(sc, root, c, d);
        if (!rc)
            rc = check_times(root, c, k, d);
        if (rc)
            return rc;
    }
    if (sc->kind == ICAL_NO_COMPONENT)
        return bad_object(d, "no VEVENT, VTODO or VJOURNAL in the calendar object%s%s", "", "");
    if (sc->n_rids > 1)
        qsort(sc->rids, sc->n_rids, sizeof *sc->rids, cmp_time);
    for (size_t i = 1; i < sc->n_rids; i++)
        if (sc->rids[i] == sc->rids[i - 1])
            return bad_object(d, "two overrides with the same RECURRENCE-ID for UID %s%s",
                              sc->uid, "");
    return VD_OK;
}

/* ------------------------------------------------------------------ */
/* public API                                                          */

static vd_ical *wrap(icalcomponent *root)
{
    vd_ical *ic = calloc(1, sizeof *ic);
    if (!ic)
        return NULL;
    ic->root = root;
    ic->kind = ICAL_NO_COMPONENT;
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        icalcomponent_kind k = icalcomponent_isa(c);
        if (ic_kind_mask(k)) {
            ic->kind = k;
            ic->comp = ic_kind_mask(k);
            icalproperty *up = icalcomponent_get_first_property(c, ICAL_UID_PROPERTY);
            const char *uid = up ? icalproperty_get_uid(up) : NULL;
            ic->uid = strdup(uid ? uid : "");
            break;
        }
    }
    if (!ic->uid)
        ic->uid = strdup("");
    if (!ic->uid) {
        free(ic);
        return NULL;
    }
    return ic;
}

vd_err vd_ical_parse(const char *data, size_t len, uint32_t allowed_mask,
                     vd_ical **out, vd_diag *d)
{
    char *text = NULL;
    icalcomponent *root = NULL;
    scan sc = {.kind = ICAL_NO_COMPONENT};
    vd_err rc;

    ic_init();
    *out = NULL;
    rc = prepare_text(data ? data : "", data ? len : 0, true, &text, d);
    if (rc)
        goto done;
    root = icalparser_parse_string(text);
    rc = check_root(root, d);
    if (!rc)
        rc = check_lic_errors(root, d);
    if (!rc)
        rc = check_calendar_props(root, d);
    if (!rc)
        rc = check_components(root, allowed_mask, &sc, d);
    if (rc)
        goto done;
    *out = wrap(root);
    if (!*out)
        rc = VD_ENOMEM;
    else
        root = NULL;
done:
    if (root)
        icalcomponent_free(root);
    free(sc.rids);
    free(text);
    return rc;
}

vd_ical *vd_ical_load(const char *data, size_t len)
{
    char *text = NULL;
    ic_init();
    if (!data || prepare_text(data, len, false, &text, NULL) != VD_OK)
        return NULL;
    icalcomponent *root = icalparser_parse_string(text);
    free(text);
    if (!root)
        return NULL;
    if (icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT) {
        icalcomponent_free(root);
        return NULL;
    }
    vd_ical *ic = wrap(root);
    if (!ic)
        icalcomponent_free(root);
    return ic;
}

void vd_ical_free(vd_ical *ic)
{
    if (!ic)
        return;
    icalcomponent_free(ic->root);
    free(ic->uid);
    free(ic);
}

const char *vd_ical_uid(const vd_ical *ic)
{
    return ic ? ic->uid : "";
}

uint32_t vd_ical_comp(const vd_ical *ic)
{
    return ic ? ic->comp : 0;
}

const char *vd_ical_content_type(const vd_ical *ic)
{
    switch (ic ? ic->comp : 0) {
    case VD_COMP_VEVENT:    return "text/calendar; charset=utf-8; component=vevent";
    case VD_COMP_VTODO:     return "text/calendar; charset=utf-8; component=vtodo";
    case VD_COMP_VJOURNAL:  return "text/calendar; charset=utf-8; component=vjournal";
    case VD_COMP_VFREEBUSY: return "text/calendar; charset=utf-8; component=vfreebusy";
    default:                return "text/calendar; charset=utf-8";
    }
}

const char *vd_ical_summary(const vd_ical *ic)
{
    icalcomponent *c = ic_first_main(ic);
    icalproperty *p = c ? icalcomponent_get_first_property(c, ICAL_SUMMARY_PROPERTY) : NULL;
    return p ? icalproperty_get_summary(p) : NULL;
}

char *vd_ical_timezone_id(const char *vcalendar_text)
{
    char *text = NULL, *result = NULL;
    icalcomponent *root = NULL;
    ic_init();
    if (!vcalendar_text ||
        prepare_text(vcalendar_text, strlen(vcalendar_text), true, &text, NULL) != VD_OK)
        return NULL;
    root = icalparser_parse_string(text);
    if (!root || icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT)
        goto done;
    icalcomponent *vtz = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT);
    icalproperty *tp = vtz ? icalcomponent_get_first_property(vtz, ICAL_TZID_PROPERTY) : NULL;
    const char *tzid = tp ? icalproperty_get_tzid(tp) : NULL;
    if (!tzid || !*tzid || strlen(tzid) > TZID_MAX)
        goto done;
    if (!icalcomponent_get_first_component(vtz, ICAL_XSTANDARD_COMPONENT) &&
        !icalcomponent_get_first_component(vtz, ICAL_XDAYLIGHT_COMPONENT))
        goto done;
    (void)reg_add(tzid, vtz);    /* a full registry still yields the TZID */
    result = strdup(tzid);
done:
    if (root)
        icalcomponent_free(root);
    free(text);
    return result;
}
