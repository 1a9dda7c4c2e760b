/* calobj.c - the calendar object store path (calobj.h): media type and
 * size checks, RFC 4791 5.3.2 validation and instance indexing outside the
 * write transaction, then inside it the component and UID rules and the
 * store itself, through the visit rules (visits.h) when the caller set
 * o->srv.  Every write of iCalendar data into a calendar takes this path
 * (PUT, COPY, MOVE, collection COPY, visitdav approve).
 * Must not: answer HTTP (it is linked into the admin command too), parse
 * XML, or touch LMDB or libical directly (store, ical). */
#include "calobj.h"

#include "visits.h"

#include "../lib/hash.h"
#include "../lib/ical_mask.h"
#include "../lib/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Set a failure on d and evaluate to VD_EPRECOND. */
#define FAIL(d, st, ns, pre, ...) \
    (vd_diag_set((d), (st), (ns), (pre), __VA_ARGS__), VD_EPRECOND)

/* Put the encoded path coll_path+name into d->href (empty if too long). */
static void diag_href(vd_diag *d, const char *coll_path, const char *name)
{
    size_t lc = strlen(coll_path), ln = strlen(name);
    char *p = malloc(lc + ln + 1), *enc = NULL;
    if (p) {
        memcpy(p, coll_path, lc);
        memcpy(p + lc, name, ln + 1);
        enc = vd_path_encode(p);
    }
    if (d && enc && strlen(enc) < sizeof d->href)
        strcpy(d->href, enc);
    free(enc);
    free(p);
}

static bool ascii_ieq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

bool vd_calobj_media_ok(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "text/calendar", 13) != 0)
        return false;
    const char *p = ct + 13;
    while (*p == ' ' || *p == '\t')
        p++;
    while (*p == ';') {                       /* parameters; only charset matters */
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ';' && *p != ' ')
            p++;
        size_t kl = (size_t)(p - k);
        while (*p == ' ')
            p++;
        const char *v = p;
        size_t vl = 0;
        if (*p == '=') {
            for (p++; *p == ' '; p++)
                ;
            bool q = *p == '"';
            v = p + q;
            for (p = v; *p && (q ? *p != '"' : (*p != ';' && *p != ' ')); p++)
                ;
            vl = (size_t)(p - v);
            if (q && *p == '"')
                p++;
        }
        if (ascii_ieq(k, kl, "charset") && !ascii_ieq(v, vl, "utf-8")
            && !ascii_ieq(v, vl, "utf8") && !ascii_ieq(v, vl, "us-ascii"))
            return false;
        while (*p && *p != ';')
            p++;
    }
    return *p == '\0';
}

vd_err vd_calobj_prepare(vd_calobj *o, const vd_config *cfg, const char *content_type,
                         const char *data, size_t len, uint32_t comp_mask, vd_diag *d)
{
    memset(o, 0, sizeof *o);
    o->sent = o->data = data;
    o->sent_len = o->len = len;
    /* RFC 4791 5.3.2.1: (CALDAV:supported-calendar-data) "The resource
     * submitted in the PUT request ... MUST be a supported media type" */
    if (!vd_calobj_media_ok(content_type))
        return FAIL(d, 403, VD_NS_CALDAV, "supported-calendar-data",
                    "a calendar collection accepts text/calendar (UTF-8) only, not %.100s",
                    content_type ? content_type : "a body without Content-Type");
    /* RFC 4791 5.3.2.1: (CALDAV:max-resource-size) */
    if (cfg && cfg->max_resource_bytes && len > cfg->max_resource_bytes)
        return FAIL(d, 403, VD_NS_CALDAV, "max-resource-size",
                    "the calendar object has %zu bytes; this server stores at most %zu",
                    len, cfg->max_resource_bytes);
    vd_err e = vd_ical_parse(data, len, comp_mask ? comp_mask : VD_COMP_DEFAULT, &o->ic, d);
    if (e != VD_OK) {
        o->ic = NULL;
        if (d && d->status == 0)
            vd_diag_set(d, e == VD_ENOMEM ? 500 : 403, VD_NS_CALDAV, "valid-calendar-data",
                        "the body is not a valid iCalendar object (%s)", vd_strerror(e));
        return VD_EPRECOND;
    }
    vd_time horizon = vd_now() + (vd_time)VD_INDEX_HORIZON_DAYS * 86400;
    size_t cap = cfg && cfg->max_instances ? cfg->max_instances : VD_MAX_EXPAND_INST;
    if (vd_ical_index_instances(o->ic, horizon, cap, &o->inst, &o->n_inst,
                                &o->open_ended) != VD_OK) {
        /* Unindexable: keep it a candidate of every time-range query. */
        free(o->inst);
        o->inst = NULL;
        o->n_inst = 0;
        o->open_ended = true;
    }
    return VD_OK;
}

/* RFC 4791 5.3.2.1: (CALDAV:no-uid-conflict) "The resource submitted in the
 * PUT request, or targeted by a COPY or MOVE request, MUST NOT specify an
 * iCalendar UID property value already in use in the targeted collection or
 * overwrite an existing calendar object resource with one that has a
 * different UID property value." */
static vd_err uid_rules(vd_txn *t, const vd_coll *coll, const char *name, const char *uid,
                        const char *replaced_uid, vd_diag *d)
{
    if (replaced_uid && strcmp(replaced_uid, uid) != 0) {
        vd_diag_set(d, 403, VD_NS_CALDAV, "no-uid-conflict",
                    "%s%s has UID %.150s; it may not be replaced by an object with UID %.150s",
                    coll->path, name, replaced_uid, uid);
        diag_href(d, coll->path, name);
        return VD_EPRECOND;
    }
    char *holder = NULL;
    vd_err e = vd_store_uid_lookup(t, coll->id, uid, &holder);
    if (e == VD_OK && strcmp(holder, name) != 0) {
        vd_diag_set(d, 403, VD_NS_CALDAV, "no-uid-conflict",
                    "UID %.200s is already used by %s%s in this calendar",
                    uid, coll->path, holder);
        diag_href(d, coll->path, holder);
        e = VD_EPRECOND;
    } else if (e == VD_ENOTFOUND) {
        e = VD_OK;
    }
    free(holder);
    return e;
}


/* Back to the sent bytes: a re-run of the write callback starts over. */
static void reset_data(vd_calobj *o)
{
    free(o->owned);
    o->owned = NULL;
    free(o->reject_xml);
    o->reject_xml = NULL;
    o->data = o->sent;
    o->len = o->sent_len;
}

/* The marker of member name: "{urn:visitdav:unseen}m<16 hex>" (a hash:
 * a property name is shorter than a member name may be). */
static void unseen_clark(const char *name, char clark[64], char xml[128])
{
    char h[17];
    vd_etag_of(name, strlen(name), h);
    snprintf(clark, 64, "{" VD_CALOBJ_UNSEEN_NS "}m%s", h);
    snprintf(xml, 128, "<U:m%s xmlns:U=\"" VD_CALOBJ_UNSEEN_NS "\"/>", h);
}

bool vd_calobj_unseen(vd_txn *t, uint64_t coll_id, const char *name)
{
    char clark[64], xml[128];
    const char *v = NULL;
    unseen_clark(name, clark, xml);
    return vd_store_prop_get(t, coll_id, NULL, clark, &v) == VD_OK;
}

/* issue 4: keep the "never seen" marker of name true after a store of ic
 * (calobj.h).  Only a change of the mark touches the collection. */
static vd_err mark_unseen(vd_txn *t, const vd_ical *ic, uint64_t coll_id, const char *name,
                          bool created)
{
    char clark[64], xml[128];
    const char *v = NULL;
    bool priv = vd_ical_mask_level(ic, VD_MASK_NONE) == VD_MASK_HIDDEN;
    unseen_clark(name, clark, xml);
    bool marked = vd_store_prop_get(t, coll_id, NULL, clark, &v) == VD_OK;
    if (priv && created && !marked)
        return vd_store_prop_set(t, coll_id, NULL, clark, xml);
    if (!priv && marked)
        return vd_store_prop_remove(t, coll_id, NULL, clark);
    return VD_OK;
}

vd_err vd_calobj_store(vd_txn *t, vd_calobj *o, const vd_coll *coll, const char *name,
                       const char *replaced_uid, vd_calobj_stored *out, vd_diag *d)
{
    memset(out, 0, sizeof *out);
    if (!o->ic || coll->kind != VD_COLL_CALENDAR)
        return VD_EINVAL;
    reset_data(o);
    uint32_t mask = coll->comp_mask ? coll->comp_mask : VD_COMP_DEFAULT;
    /* Re-checked here: the collection's component set may have changed
     * since prepare ran outside this transaction. */
    if (!(vd_ical_comp(o->ic) & mask))
        return FAIL(d, 403, VD_NS_CALDAV, "supported-calendar-component",
                    "%s does not accept this component type", coll->path);
    const char *uid = vd_ical_uid(o->ic);
    vd_err e = uid_rules(t, coll, name, uid, replaced_uid, d);
    if (e != VD_OK)
        return e;
    vd_put p = {
        .coll_id = coll->id, .name = name,
        .data = o->data, .len = o->len,
        .content_type = vd_ical_content_type(o->ic),
        .uid = uid, .comp = vd_ical_comp(o->ic),
        .inst = o->inst, .n_inst = o->n_inst, .open_ended = o->open_ended,
        .summary = vd_ical_summary(o->ic),
    };
    if (!o->srv) {
        e = vd_store_res_put(t, &p, &out->put);
        return e == VD_OK ? mark_unseen(t, o->ic, coll->id, name, out->put.created) : e;
    }
    /* Issue 3: the visit rules, in this txn; they may rewrite the bytes. */
    vd_visits_write w = {.srv = o->srv, .actor = o->actor, .admin = o->admin,
                         .coll = coll, .name = name, .ic = o->ic, .put = p};
    e = vd_visits_store(t, &w, &out->put, d);
    if (w.bytes) {
        o->owned = w.bytes;
        o->data = w.bytes;
        o->len = w.len;
        w.bytes = NULL;
    }
    o->reject_xml = w.reject_xml;
    w.reject_xml = NULL;
    vd_visits_write_clear(&w);
    out->bytes_changed = o->len != o->sent_len
                         || (o->len && memcmp(o->data, o->sent, o->len) != 0);
    return e == VD_OK ? mark_unseen(t, o->ic, coll->id, name, out->put.created) : e;
}

void vd_calobj_clear(vd_calobj *o)
{
    if (!o)
        return;
    vd_ical_free(o->ic);
    free(o->inst);
    free(o->owned);
    free(o->reject_xml);
    memset(o, 0, sizeof *o);
}
