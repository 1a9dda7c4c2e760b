/* ical_filter.c - CALDAV:filter evaluation (RFC 4791 9.7 comp-filter,
 * prop-filter, param-filter, text-match, is-not-defined; 9.9 time-range on
 * VEVENT, VTODO, VJOURNAL, VFREEBUSY, VALARM and on date-time properties,
 * with recurrence expansion) and the collations of RFC 4790/5051.
 * Reads components only; must not change them or validate.  Child lists
 * are snapshotted before they are evaluated because libical components
 * carry one internal iterator that nested walks would reset.
 * i;unicode-casemap folds each code point with towlower_l in C.UTF-8; the
 * NFKD step of RFC 5051 is not applied. */
#include "ical_internal.h"

#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#define ALARM_MAX_REPEAT 1000
#define ALARM_SLACK      (35LL * 86400)   /* instance length covered for RELATED=END */

typedef struct fctx {
    const vd_ical *ic;
    icaltimezone *floating;
    bool have;                 /* cached expansion for [rs, re) */
    vd_time rs, re;
    ic_set set;
} fctx;

static pthread_once_t loc_once = PTHREAD_ONCE_INIT;
static locale_t utf8_loc = (locale_t)0;

static void loc_init(void)
{
    utf8_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* ------------------------------------------------------------------ */
/* collations                                                          */

static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
             : (c & 0xF8) == 0xF0 ? 3 : 9;
    if (k == 9 || k >= n) {
        *cp = c;                  /* invalid: the byte stands for itself */
        return 1;
    }
    uint32_t v = k == 0 ? c : c & (0x3F >> k);
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xC0) != 0x80) {
            *cp = c;
            return 1;
        }
        v = (v << 6) | (s[j] & 0x3F);
    }
    *cp = v;
    return k + 1;
}

static size_t utf8_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A folded copy of s (malloc'd): ASCII letters only, or every code point. */
static char *fold(const char *s, vd_collation coll)
{
    size_t n = strlen(s);
    char *o = malloc(n * 4 + 1), *w = o;
    if (!o)
        return NULL;
    if (coll == VD_COLL_UNICODE_CASEMAP)
        pthread_once(&loc_once, loc_init);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (coll != VD_COLL_UNICODE_CASEMAP || c < 0x80 || !utf8_loc) {
            *w++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (k == 1 && cp >= 0x80) {
            *w++ = (char)c;           /* stray byte: kept as is */
        } else {
            wint_t f = towlower_l((wint_t)cp, utf8_loc);
            w += utf8_encode((uint32_t)f <= 0x10FFFF ? (uint32_t)f : cp, w);
        }
        i += k;
    }
    *w = '\0';
    return o;
}

/* RFC 4791 9.7.5: substring match under the collation, then negation. */
static bool text_matches(const vd_textmatch *tm, const char *value)
{
    const char *needle = tm->text ? tm->text : "";
    bool hit;
    if (tm->collation == VD_COLL_OCTET) {
        hit = strstr(value, needle) != NULL;
    } else {
        char *a = fold(value, tm->collation), *b = fold(needle, tm->collation);
        hit = a && b && strstr(a, b) != NULL;
        free(a);
        free(b);
    }
    return tm->negate ? !hit : hit;
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* Children of parent (all kinds) named name, as a malloc'd array. */
static size_t children_named(icalcomponent *parent, const char *name, icalcomponent ***out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (icalcompiter it = icalcomponent_begin_component(parent, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&it); icalcompiter_next(&it)) {
        icalcomponent *c = icalcompiter_deref(&it);
        if (strcasecmp(ic_comp_name(c), name) != 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            icalcomponent **nv = realloc(*out, nc * sizeof *nv);
            if (!nv)
                break;                /* out of memory: evaluate what we have */
            *out = nv;
            cap = nc;
        }
        (*out)[n++] = c;
    }
    return n;
}

static size_t props_named(icalcomponent *c, const char *name, icalproperty ***out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
        if (!ic_prop_is(p, name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            icalproperty **nv = realloc(*out, nc * sizeof *nv);
            if (!nv)
                break;
            *out = nv;
            cap = nc;
        }
        (*out)[n++] = p;
    }
    return n;
}

static const ic_set *expansion(fctx *fc, vd_time rs, vd_time re)
{
    if (fc->have && fc->rs == rs && fc->re == re)
        return &fc->set;
    ic_set_free(&fc->set);
    fc->have = false;
    if (ic_expand(fc->ic, rs, re, fc->floating, VD_MAX_EXPAND_INST, &fc->set) != VD_OK)
        return NULL;
    fc->have = true;
    fc->rs = rs;
    fc->re = re;
    return &fc->set;
}

/* ------------------------------------------------------------------ */
/* time-range on components (RFC 4791 9.9)                             */

static bool recurring_in_range(fctx *fc, icalcomponent *c, vd_time rs, vd_time re)
{
    const ic_set *s = expansion(fc, rs, re);
    if (!s)
        return true;              /* cannot tell: keep it a candidate */
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].comp != c)
            continue;
        if (s->v[i].mode == IC_TR_TODO_NONE)
            return ic_todo_nodate(c, fc->ic->root, fc->floating, rs, re);
        return true;
    }
    return s->truncated;          /* capped: may match beyond the cap */
}

static bool freebusy_in_range(fctx *fc, icalcomponent *c, vd_time rs, vd_time re)
{
    icalcomponent *root = fc->ic->root;
    ic_dt s, e;
    if (ic_prop_dt(icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY), root,
                   fc->floating, &s) &&
        ic_prop_dt(icalcomponent_get_first_property(c, ICAL_DTEND_PROPERTY), root,
                   fc->floating, &e))
        return rs <= ic_dt_utc(&e) && re > ic_dt_utc(&s);
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_FREEBUSY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_FREEBUSY_PROPERTY)) {
        struct icalperiodtype pt = icalproperty_get_freebusy(p);
        vd_time a = ic_local_to_utc(pt.start, NULL);
        vd_time b = icaltime_is_null_time(pt.end) ? a + icaldurationtype_as_int(pt.duration)
                                                  : ic_local_to_utc(pt.end, NULL);
        if (rs < b && re > a)
            return true;
    }
    return false;
}

/* Does any repetition of a trigger at t (every d seconds, r more times)
 * fall in [rs, re)?  RFC 4791 9.9: start <= trigger AND end > trigger. */
static bool trigger_hits(vd_time t, long long d, int r, vd_time rs, vd_time re)
{
    for (int k = 0; k <= r; k++, t += d) {
        if (rs <= t && re > t)
            return true;
        if (d <= 0 || t >= re)
            break;
    }
    return false;
}

static bool alarm_in_range(fctx *fc, icalcomponent *parent, icalcomponent *alarm,
                           vd_time rs, vd_time re)
{
    icalproperty *tp = icalcomponent_get_first_property(alarm, ICAL_TRIGGER_PROPERTY);
    icalproperty *rp = icalcomponent_get_first_property(alarm, ICAL_REPEAT_PROPERTY);
    icalproperty *dp = icalcomponent_get_first_property(alarm, ICAL_DURATION_PROPERTY);
    if (!tp || !parent)
        return false;
    struct icaltriggertype tr = icalproperty_get_trigger(tp);
    int rep = rp ? icalproperty_get_repeat(rp) : 0;
    long long d = dp ? icaldurationtype_as_int(icalproperty_get_duration(dp)) : 0;
    rep = rep < 0 ? 0 : rep > ALARM_MAX_REPEAT ? ALARM_MAX_REPEAT : rep;
    if (!icaltime_is_null_time(tr.time))
        return trigger_hits(ic_local_to_utc(tr.time, NULL), d, rep, rs, re);
    if (icalcomponent_get_parent(parent) != fc->ic->root)
        return false;
    icalparameter *rel = icalproperty_get_first_parameter(tp, ICAL_RELATED_PARAMETER);
    bool at_end = rel && icalparameter_get_related(rel) == ICAL_RELATED_END;
    long long off = icaldurationtype_as_int(tr.duration);
    long long w = (off < 0 ? -off : off) + (long long)rep * (d < 0 ? -d : d) + ALARM_SLACK;
    if (rs < VD_TIME_MIN + w || re > VD_TIME_MAX - w)
        return true;              /* unbounded ranges: any alarm will do */
    ic_set s;
    if (ic_expand(fc->ic, rs - w, re + w, fc->floating, VD_MAX_EXPAND_INST, &s) != VD_OK)
        return true;
    bool hit = false;
    for (size_t i = 0; i < s.n && !hit; i++) {
        if (s.v[i].comp != parent || s.v[i].mode == IC_TR_TODO_NONE)
            continue;
        vd_time base = at_end ? s.v[i].end : s.v[i].start;
        hit = trigger_hits(base + off, d, rep, rs, re);
    }
    ic_set_free(&s);
    return hit;
}

static bool comp_in_range(fctx *fc, icalcomponent *parent, icalcomponent *c,
                          vd_time rs, vd_time re)
{
    icalcomponent_kind k = icalcomponent_isa(c);
    switch (k) {
    case ICAL_VEVENT_COMPONENT:
    case ICAL_VTODO_COMPONENT:
    case ICAL_VJOURNAL_COMPONENT:
        return parent == fc->ic->root && k == fc->ic->kind && recurring_in_range(fc, c, rs, re);
    case ICAL_VFREEBUSY_COMPONENT:
        return freebusy_in_range(fc, c, rs, re);
    case ICAL_VALARM_COMPONENT:
        return alarm_in_range(fc, parent, c, rs, re);
    default:
        return false;             /* time-range is only defined for the above */
    }
}

/* ------------------------------------------------------------------ */
/* prop-filter and param-filter (RFC 4791 9.7.2, 9.7.3)                */

static bool prop_in_range(fctx *fc, icalproperty *p, vd_time rs, vd_time re)
{
    icalvalue *v = icalproperty_get_value(p);
    ic_dt d;
    if (v && icalvalue_isa(v) == ICAL_PERIOD_VALUE) {
        struct icalperiodtype pt = icalvalue_get_period(v);
        vd_time a = ic_local_to_utc(pt.start, NULL);
        vd_time b = icaltime_is_null_time(pt.end) ? a + icaldurationtype_as_int(pt.duration)
                                                  : ic_local_to_utc(pt.end, NULL);
        return rs < b && re > a;
    }
    if (!ic_prop_dt(p, fc->ic->root, fc->floating, &d))
        return false;
    vd_time t = ic_dt_utc(&d);
    if (d.is_date) {
        icaltimetype n = d.t;
        icaltime_adjust(&n, 1, 0, 0, 0);
        return rs < ic_local_to_utc(n, d.zone) && re > t;
    }
    return rs <= t && re > t;
}

static char *prop_text(icalproperty *p)
{
    icalvalue *v = icalproperty_get_value(p);
    if (v && icalvalue_isa(v) == ICAL_TEXT_VALUE) {
        const char *t = icalvalue_get_text(v);     /* unescaped */
        return strdup(t ? t : "");
    }
    char *s = icalproperty_get_value_as_string_r(p);
    char *copy = strdup(s ? s : "");
    icalmemory_free_buffer(s);
    return copy;
}

static bool param_matches(icalproperty *p, const vd_paramfilter *pf)
{
    char *val = icalproperty_get_parameter_as_string_r(p, pf->name);
    bool ok;
    if (pf->is_not_defined)
        ok = val == NULL;
    else
        ok = val && (!pf->text_match || text_matches(pf->text_match, val));
    icalmemory_free_buffer(val);
    return ok;
}

static bool prop_matches(fctx *fc, icalproperty *p, const vd_propfilter *pf)
{
    if (pf->has_time_range && !prop_in_range(fc, p, pf->start, pf->end))
        return false;
    if (pf->text_match) {
        char *t = prop_text(p);
        bool ok = t && text_matches(pf->text_match, t);
        free(t);
        if (!ok)
            return false;
    }
    for (const vd_paramfilter *q = pf->params; q; q = q->next)
        if (!param_matches(p, q))
            return false;
    return true;
}

static bool propfilter_ok(fctx *fc, icalcomponent *c, const vd_propfilter *pf)
{
    icalproperty **v;
    size_t n = props_named(c, pf->name ? pf->name : "", &v);
    bool ok = false;
    if (pf->is_not_defined)
        ok = n == 0;
    else
        for (size_t i = 0; i < n && !ok; i++)
            ok = prop_matches(fc, v[i], pf);
    free(v);
    return ok;
}

/* ------------------------------------------------------------------ */
/* comp-filter (RFC 4791 9.7.1)                                        */

static bool compfilter_ok(fctx *fc, icalcomponent *parent, const vd_compfilter *f);

static bool comp_matches(fctx *fc, icalcomponent *parent, icalcomponent *c,
                         const vd_compfilter *f)
{
    if (f->has_time_range && !comp_in_range(fc, parent, c, f->start, f->end))
        return false;
    for (const vd_propfilter *p = f->props; p; p = p->next)
        if (!propfilter_ok(fc, c, p))
            return false;
    for (const vd_compfilter *s = f->comps; s; s = s->next)
        if (!compfilter_ok(fc, c, s))
            return false;
    return true;
}

/* f matches parent when some child named f->name matches it (or, with
 * is-not-defined, when there is no such child). */
static bool compfilter_ok(fctx *fc, icalcomponent *parent, const vd_compfilter *f)
{
    icalcomponent **v;
    size_t n = children_named(parent, f->name ? f->name : "", &v);
    bool ok = false;
    if (f->is_not_defined)
        ok = n == 0;
    else
        for (size_t i = 0; i < n && !ok; i++)
            ok = comp_matches(fc, parent, v[i], f);
    free(v);
    return ok;
}

bool vd_ical_matches(const vd_ical *ic, const vd_compfilter *f, const char *floating_tz)
{
    ic_init();
    if (!ic)
        return false;
    if (!f)
        return true;              /* no filter: every object */
    fctx fc = {.ic = ic, .floating = ic_floating_zone(floating_tz)};
    bool ok = true;
    /* The top comp-filter names the VCALENDAR itself. */
    for (; f && ok; f = f->next)
        ok = f->name && strcasecmp(f->name, "VCALENDAR") == 0 && !f->is_not_defined &&
             comp_matches(&fc, NULL, ic->root, f);
    ic_set_free(&fc.set);
    return ok;
}
