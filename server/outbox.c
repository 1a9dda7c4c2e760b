/* outbox.c - free-busy through the schedule outbox (RFC 6638 sec. 5 and
 * 6; outbox.h): POST /calendars/<user>/outbox/ with a VCALENDAR
 * METHOD:REQUEST holding one VFREEBUSY, answered with a
 * C:schedule-response holding one C:response per recipient.
 * Owns: reading the request (a small, bounded iCalendar line reader: the
 * message is not a calendar object resource, so lib/ical's validator,
 * which refuses METHOD, is not the one to use), mapping recipients to
 * users (mailto: by the users file's e-mail, or a principal href), and
 * the busy time of each as far as the requester may see it.
 * Must not: process iTIP (no inbox, nothing stored, no VEVENT requests),
 * show anything but busy periods (CLASS does not matter: a private event
 * is busy time like any other), or say more about a user the requester
 * may not see than "3.8;No authority". */
#include "outbox.h"

#include "access.h"
#include "props.h"

#include "../lib/acl.h"
#include "../lib/davxml.h"
#include "../lib/ical.h"
#include "../lib/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BODY       (1024 * 1024)      /* bytes of a request */
#define MAX_LINES      10000              /* unfolded content lines */
#define MAX_LINE       8192               /* bytes of one unfolded line */
#define MAX_DEPTH      16                 /* component nesting */
#define MAX_RECIPIENTS 100
#define MAX_ADDR       1024               /* bytes of one calendar user address */
#define MAX_RANGE      ((vd_time)366 * 86400)
#define MAX_BUSY       100000             /* busy periods per request */
#define DAY            86400

/* ------------------------------------------------------------------ */
/* paths                                                                */

char *vd_outbox_path(const char *user)
{
    size_t n = strlen(VD_CALENDARS_PATH) + strlen(user) + strlen(VD_OUTBOX_NAME) + 3;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s/%s/", VD_CALENDARS_PATH, user, VD_OUTBOX_NAME);
    return p;
}

bool vd_outbox_is(const char *path)
{
    if (!path || strncmp(path, VD_CALENDARS_PATH, strlen(VD_CALENDARS_PATH)) != 0 ||
        vd_path_depth(path) != 3)
        return false;
    char *last = vd_path_segment(path, 2);
    bool is = last && strcmp(last, VD_OUTBOX_NAME) == 0;
    free(last);
    return is;
}

/* ------------------------------------------------------------------ */
/* the request: a VCALENDAR METHOD:REQUEST with one VFREEBUSY           */

typedef struct fbreq {
    char *method;                 /* METHOD of the VCALENDAR */
    int n_fb, n_other;            /* VFREEBUSY / other scheduling components */
    vd_time start, end;
    bool has_start, has_end, bad_time;
    char *uid, *organizer;
    char *att[MAX_RECIPIENTS];    /* ATTENDEE values */
    size_t n_att;
    bool too_many;
} fbreq;

static void fbreq_clear(fbreq *q)
{
    free(q->method);
    free(q->uid);
    free(q->organizer);
    for (size_t i = 0; i < q->n_att; i++)
        free(q->att[i]);
    memset(q, 0, sizeof *q);
}

/* RFC 5545 3.1: undo line folding (a line break followed by one blank). */
static void unfold(const char *in, size_t len, vd_buf *out)
{
    size_t i = 0;
    while (i < len) {
        size_t nl = in[i] == '\r' && i + 1 < len && in[i + 1] == '\n' ? 2 : in[i] == '\n' ? 1 : 0;
        if (nl && i + nl < len && (in[i + nl] == ' ' || in[i + nl] == '\t')) {
            i += nl + 1;
            continue;
        }
        vd_buf_append(out, in + i, 1);
        i++;
    }
}

typedef struct cline {
    char *name, *params, *value;
} cline;

/* Split "NAME;PARAMS:VALUE" in place (a ':' inside a quoted parameter
 * value is not the separator).  false: not a content line. */
static bool split_line(char *line, cline *c)
{
    char *p = line;
    bool quoted = false;
    c->name = line;
    c->params = NULL;
    while (*p && *p != ';' && *p != ':')
        p++;
    if (*p == ';') {
        *p++ = '\0';
        c->params = p;
        for (; *p && (quoted || *p != ':'); p++)
            if (*p == '"')
                quoted = !quoted;
    }
    if (*p != ':' || c->name[0] == '\0')
        return false;
    *p++ = '\0';
    c->value = p;
    return true;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return true;
    return false;
}

static bool set_str(char **slot, const char *v)
{
    if (*slot)
        return true;                    /* the first one counts */
    *slot = strdup(v);
    return *slot != NULL;
}

/* One property of the VFREEBUSY. */
static bool fb_prop(fbreq *q, const cline *c)
{
    if (strcasecmp(c->name, "DTSTART") == 0 || strcasecmp(c->name, "DTEND") == 0) {
        bool start = strcasecmp(c->name, "DTSTART") == 0;
        vd_time t;
        /* RFC 5546 3.6.1 (VFREEBUSY REQUEST): DTSTART and DTEND in UTC */
        if (vd_time_parse_utc(c->value, &t) != VD_OK) {
            q->bad_time = true;
            return true;
        }
        *(start ? &q->start : &q->end) = t;
        *(start ? &q->has_start : &q->has_end) = true;
        return true;
    }
    if (strcasecmp(c->name, "UID") == 0)
        return set_str(&q->uid, c->value);
    if (strcasecmp(c->name, "ORGANIZER") == 0)
        return set_str(&q->organizer, c->value);
    if (strcasecmp(c->name, "ATTENDEE") == 0) {
        if (q->n_att == MAX_RECIPIENTS) {
            q->too_many = true;
            return true;
        }
        char *v = strdup(c->value);
        if (!v)
            return false;
        q->att[q->n_att++] = v;
        return true;
    }
    return true;
}

typedef struct walk {
    int depth;
    bool in_cal, in_fb;
} walk;

static void component(fbreq *q, walk *w, const cline *c, bool begin)
{
    if (!begin) {
        if (w->depth == 2)
            w->in_fb = false;
        w->depth--;
        return;
    }
    w->depth++;
    if (w->depth == 1 && strcasecmp(c->value, "VCALENDAR") == 0) {
        w->in_cal = true;
    } else if (w->depth == 2 && w->in_cal && strcasecmp(c->value, "VFREEBUSY") == 0) {
        q->n_fb++;
        w->in_fb = true;
    } else if (w->depth == 2 && strcasecmp(c->value, "VTIMEZONE") != 0) {
        q->n_other++;
    }
}

/* Read the message into q.  false with why set when it is not one. */
static bool parse_request(const char *body, size_t len, fbreq *q, const char **why)
{
    vd_buf u = VD_BUF_INIT;
    walk w = {0};
    bool ok = true;
    size_t n = 0;
    *why = "out of memory";
    unfold(body, len, &u);
    char *p = u.data ? u.data : (char *)"";
    while (ok && *p) {
        char *eol = strchr(p, '\n'), *next = eol ? eol + 1 : p + strlen(p);
        if (eol)
            *eol = '\0';
        if (eol && eol > p && eol[-1] == '\r')
            eol[-1] = '\0';
        cline c;
        if (++n > MAX_LINES || strlen(p) > MAX_LINE) {
            *why = "the message is too large";
            ok = false;
        } else if (*p == '\0') {
            /* a blank line: tolerated */
        } else if (has_ctl(p) || !split_line(p, &c)) {
            *why = "the message is not iCalendar (RFC 5545 3.1)";
            ok = false;
        } else if (strcasecmp(c.name, "BEGIN") == 0 || strcasecmp(c.name, "END") == 0) {
            component(q, &w, &c, strcasecmp(c.name, "BEGIN") == 0);
            if (w.depth < 0 || w.depth > MAX_DEPTH) {
                *why = "the message's components do not nest";
                ok = false;
            }
        } else if (w.depth == 1 && w.in_cal && strcasecmp(c.name, "METHOD") == 0) {
            ok = set_str(&q->method, c.value);
        } else if (w.in_fb && w.depth == 2) {
            ok = fb_prop(q, &c);
        }
        p = next;
    }
    if (ok && (w.depth != 0 || !w.in_cal)) {
        *why = "the message is not one complete VCALENDAR";
        ok = false;
    }
    vd_buf_free(&u);
    return ok;
}

/* RFC 6638 6.1: what a free-busy request must hold; NULL when it does. */
static const char *check_request(const fbreq *q)
{
    if (!q->method || strcasecmp(q->method, "REQUEST") != 0)
        return "only METHOD:REQUEST is supported";
    if (q->n_fb != 1 || q->n_other)
        return "only free-busy requests (one VFREEBUSY) are supported: no iTIP scheduling here";
    if (q->bad_time || !q->has_start || !q->has_end)
        return "the VFREEBUSY needs DTSTART and DTEND in UTC (RFC 5546 3.6.1)";
    if (q->end <= q->start)
        return "DTEND must be after DTSTART";
    if (q->end - q->start > MAX_RANGE)
        return "a free-busy request covers at most 366 days";
    if (q->too_many)
        return "at most 100 recipients per request";
    return NULL;
}

/* ------------------------------------------------------------------ */
/* recipients -> users                                                  */

typedef struct mail_entry {
    char *user, *email;
} mail_entry;

typedef struct outbox {
    vd_request *r;
    vd_txn *t;
    fbreq q;
    mail_entry *mail;             /* every user with an e-mail (built on first need) */
    size_t n_mail, cap_mail;
    bool mail_done;
    vd_propcache cache;
    vd_instance *busy[3];         /* BUSY, BUSY-TENTATIVE, BUSY-UNAVAILABLE */
    size_t n_busy[3], cap_busy[3], total_busy;
    vd_buf ms;                    /* the schedule-response */
} outbox;

static void mail_cb(const char *name, void *ctx)
{
    outbox *x = ctx;
    char *email = NULL;
    if (!vd_userdb_lookup(x->r->srv->users, name, NULL, &email) || !email || !email[0]) {
        free(email);
        return;
    }
    if (x->n_mail == x->cap_mail) {
        size_t nc = x->cap_mail ? x->cap_mail * 2 : 32;
        mail_entry *nv = realloc(x->mail, nc * sizeof *nv);
        if (!nv) {
            free(email);
            return;
        }
        x->mail = nv;
        x->cap_mail = nc;
    }
    char *user = strdup(name);
    if (!user) {
        free(email);
        return;
    }
    x->mail[x->n_mail++] = (mail_entry){user, email};
}

/* The user whose users-file e-mail is addr (ASCII caseless, as mail
 * clients compare addresses), or NULL. */
static const char *user_by_email(outbox *x, const char *addr)
{
    if (!x->mail_done) {
        vd_userdb_each(x->r->srv->users, mail_cb, x);
        x->mail_done = true;
    }
    for (size_t i = 0; i < x->n_mail; i++)
        if (strcasecmp(x->mail[i].email, addr) == 0)
            return x->mail[i].user;
    return NULL;
}

/* The user a calendar user address names: "mailto:" + a user's e-mail,
 * or a user principal's href (a path or an absolute URL).  malloc'd, or
 * NULL for an unknown address. */
static char *user_of(outbox *x, const char *addr)
{
    if (strlen(addr) > MAX_ADDR)
        return NULL;
    if (strncasecmp(addr, "mailto:", 7) == 0) {
        const char *u = user_by_email(x, addr + 7);
        return u ? strdup(u) : NULL;
    }
    char *path = NULL, *user = NULL;
    if ((addr[0] == '/' || strncasecmp(addr, "http://", 7) == 0 ||
         strncasecmp(addr, "https://", 8) == 0) &&
        vd_href_decode(addr, &path, NULL) == VD_OK &&
        strncmp(path, VD_USERS_PATH, strlen(VD_USERS_PATH)) == 0 && vd_path_depth(path) == 3)
        user = vd_path_segment(path, 2);
    if (user && !vd_userdb_lookup(x->r->srv->users, user, NULL, NULL)) {
        free(user);
        user = NULL;
    }
    free(path);
    return user;
}

/* ------------------------------------------------------------------ */
/* busy time                                                            */

static void busy_cb(vd_time start, vd_time end, const char *fbtype, void *ctx)
{
    outbox *x = ctx;
    int k = strcmp(fbtype, "BUSY-TENTATIVE") == 0 ? 1
          : strcmp(fbtype, "BUSY-UNAVAILABLE") == 0 ? 2 : 0;
    if (x->total_busy >= MAX_BUSY)
        return;
    if (x->n_busy[k] == x->cap_busy[k]) {
        size_t nc = x->cap_busy[k] ? x->cap_busy[k] * 2 : 64;
        vd_instance *nv = realloc(x->busy[k], nc * sizeof *nv);
        if (!nv)
            return;
        x->busy[k] = nv;
        x->cap_busy[k] = nc;
    }
    x->busy[k][x->n_busy[k]++] = (vd_instance){start, end};
    x->total_busy++;
}

typedef struct name_list {
    const char **v;               /* borrowed from the txn */
    size_t n, cap;
} name_list;

static vd_err name_cb(const char *name, void *ctx)
{
    name_list *l = ctx;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        const char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return VD_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = name;
    return VD_OK;
}

/* Every event of cal overlapping the range adds its busy periods,
 * whatever its CLASS (vd_ical_busy: not transparent, not cancelled). */
static vd_err busy_of_calendar(outbox *x, const vd_coll *cal)
{
    name_list l = {0};
    const char *tz = vd_props_floating_tz(&x->cache, x->r, x->t, cal);
    /* widened by a day: floating and all-day events depend on the zone */
    vd_err e = vd_store_time_candidates(x->t, cal->id, x->q.start - DAY, x->q.end + DAY,
                                        name_cb, &l);
    for (size_t i = 0; i < l.n && e == VD_OK; i++) {
        vd_res res;
        if (vd_store_res_get(x->t, cal->id, l.v[i], &res) != VD_OK || !res.uid)
            continue;
        vd_ical *ic = vd_ical_load(res.data, res.len);
        if (ic)
            vd_ical_busy(ic, x->q.start, x->q.end, tz, busy_cb, x);
        vd_ical_free(ic);
    }
    free(l.v);
    return e;
}

/* RFC 6638 9.1: a calendar marked transparent does not count as busy. */
static bool transparent(vd_txn *t, const vd_coll *c)
{
    const char *xml = NULL;
    return vd_store_prop_get(t, c->id, NULL, "{" VD_NS_CALDAV "}schedule-calendar-transp",
                             &xml) == VD_OK && xml && strstr(xml, "transparent");
}

typedef struct cal_list {
    outbox *x;
    uint64_t *ids;
    size_t n, cap;
    bool authority;
} cal_list;

static vd_err cal_cb(const vd_coll *c, void *ctx)
{
    cal_list *l = ctx;
    vd_node m;
    if (c->kind != VD_COLL_CALENDAR)
        return VD_OK;
    vd_props_coll_node(&m, c);
    if (!(vd_access_privs(l->x->r, &m) & (VD_PRIV_READ | VD_PRIV_READ_FREEBUSY)))
        return VD_OK;
    l->authority = true;
    if (transparent(l->x->t, c))
        return VD_OK;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        uint64_t *nv = realloc(l->ids, nc * sizeof *nv);
        if (!nv)
            return VD_ENOMEM;
        l->ids = nv;
        l->cap = nc;
    }
    l->ids[l->n++] = c->id;
    return VD_OK;
}

/* Collect user's busy time into x->busy: the calendars of their home the
 * requester holds read-free-busy (or more) on.  *authority: the requester
 * holds a privilege on the home or on one of those calendars. */
static vd_err busy_of_user(outbox *x, const char *user, bool *authority)
{
    char *home = vd_home_path(user);
    cal_list l = {.x = x};
    vd_err e = home ? vd_store_coll_children(x->t, home, cal_cb, &l) : VD_ENOMEM;
    *authority = l.authority || (home && vd_access_acl(x->r, home) != 0);
    for (int k = 0; k < 3; k++)
        x->n_busy[k] = 0;
    x->total_busy = 0;
    for (size_t i = 0; i < l.n && e == VD_OK && *authority; i++) {
        vd_coll c = {0};
        if (vd_store_coll_get_by_id(x->t, l.ids[i], &c) == VD_OK)
            e = busy_of_calendar(x, &c);
        vd_coll_clear(&c);
    }
    free(l.ids);
    free(home);
    return e;
}

/* ------------------------------------------------------------------ */
/* the reply                                                            */

/* "NAME:value\r\n", folded at 75 octets between characters (RFC 5545 3.1). */
static void put_prop(vd_buf *b, const char *name, const char *value)
{
    size_t col = strlen(name) + 1;
    vd_buf_printf(b, "%s:", name);
    for (const char *p = value; *p;) {
        size_t cl = 1;
        while (((unsigned char)p[cl] & 0xC0) == 0x80 && cl < 4)
            cl++;
        if (col + cl > 75) {
            vd_buf_puts(b, "\r\n ");
            col = 1;
        }
        vd_buf_append(b, p, cl);
        col += cl;
        p += cl;
    }
    vd_buf_puts(b, "\r\n");
}

/* RFC 6638 B.5: a VCALENDAR METHOD:REPLY whose VFREEBUSY names the
 * organizer and the recipient, with the collected busy periods. */
static void reply_calendar(outbox *x, const char *recipient, vd_buf *out)
{
    static const char mark[] = "BEGIN:VFREEBUSY\r\n";
    vd_buf raw = VD_BUF_INIT;
    vd_ical_freebusy_render(&raw, x->q.start, x->q.end, x->busy[0], x->n_busy[0],
                            x->busy[1], x->n_busy[1], x->busy[2], x->n_busy[2]);
    const char *at = raw.data ? strstr(raw.data, mark) : NULL;
    if (!at) {
        vd_buf_append(out, raw.data, raw.len);
        vd_buf_free(&raw);
        return;
    }
    size_t head = (size_t)(at - raw.data), body = head + sizeof mark - 1;
    vd_buf_append(out, raw.data, head);
    vd_buf_puts(out, "METHOD:REPLY\r\n");
    vd_buf_puts(out, mark);
    if (x->q.uid)
        put_prop(out, "UID", x->q.uid);
    if (x->q.organizer)
        put_prop(out, "ORGANIZER", x->q.organizer);
    put_prop(out, "ATTENDEE", recipient);
    vd_buf_append(out, raw.data + body, raw.len - body);
    vd_buf_free(&raw);
}

/* One C:response (RFC 6638 10.2). */
static vd_err respond(outbox *x, const char *recipient)
{
    vd_buf ics = VD_BUF_INIT;
    const char *status = "3.7;Invalid calendar user";
    bool authority = false;
    vd_err e = VD_OK;
    char *user = user_of(x, recipient);
    if (user && (e = busy_of_user(x, user, &authority)) == VD_OK) {
        status = authority ? "2.0;Success" : "3.8;No authority";
        if (authority)
            reply_calendar(x, recipient, &ics);
    }
    vd_buf_puts(&x->ms, "<C:response><C:recipient><D:href>");
    vd_buf_xml_escape(&x->ms, recipient, strlen(recipient));
    vd_buf_puts(&x->ms, "</D:href></C:recipient><C:request-status>");
    vd_buf_puts(&x->ms, status);
    vd_buf_puts(&x->ms, "</C:request-status>");
    if (ics.len) {
        vd_buf_puts(&x->ms, "<C:calendar-data>");
        vd_buf_xml_escape(&x->ms, ics.data, ics.len);
        vd_buf_puts(&x->ms, "</C:calendar-data>");
    }
    vd_buf_puts(&x->ms, "</C:response>\n");
    vd_buf_free(&ics);
    free(user);
    return e;
}

/* ------------------------------------------------------------------ */
/* POST                                                                 */

static void bad_message(vd_request *r, int status, const char *why)
{
    vd_diag d = {0};
    vd_diag_set(&d, status, VD_NS_CALDAV, "valid-scheduling-message", "%s", why);
    vd_resp_error(r, &d, status);
}

/* Only the owner may POST to an outbox (RFC 6638 6.2: schedule-send). */
static bool owner_posts(vd_request *r)
{
    char *owner = vd_path_segment(r->path, 1);
    bool ok = owner && r->user && strcmp(owner, r->user) == 0;
    free(owner);
    if (!ok) {
        vd_diag d = {0};
        vd_diag_set(&d, 403, VD_NS_DAV, "need-privileges",
                    "only the owner of this outbox may send from it");
        vd_resp_error(r, &d, 403);
    }
    return ok;
}

/* The recipients: the VFREEBUSY's ATTENDEEs, else the Recipient header
 * (Thunderbird sends both), each once. */
static size_t recipients(outbox *x, const char **out)
{
    size_t n = 0;
    const char *h = vd_req_header(x->r, "Recipient");
    if (!x->q.n_att && h && strlen(h) <= MAX_ADDR && !has_ctl(h))
        out[n++] = h;
    for (size_t i = 0; i < x->q.n_att; i++) {
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = strcasecmp(out[k], x->q.att[i]) == 0;
        if (!dup)
            out[n++] = x->q.att[i];
    }
    return n;
}

static void answer(outbox *x)
{
    const char *rcpt[MAX_RECIPIENTS];
    size_t n = recipients(x, rcpt);
    if (n == 0) {
        bad_message(x->r, 403, "the request names no recipient (ATTENDEE)");
        return;
    }
    if (vd_store_read(x->r->srv->store, &x->t) != VD_OK) {
        vd_resp_errorf(x->r, 500, "storage error");
        return;
    }
    vd_buf_puts(&x->ms, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<C:schedule-response"
                        " xmlns:D=\"DAV:\" xmlns:C=\"" VD_NS_CALDAV "\">\n");
    vd_err e = VD_OK;
    for (size_t i = 0; i < n && e == VD_OK; i++)
        e = respond(x, rcpt[i]);
    vd_buf_puts(&x->ms, "</C:schedule-response>\n");
    if (e != VD_OK)
        vd_resp_errorf(x->r, 500, "storage error");
    else
        vd_resp_set(x->r, 200, "application/xml; charset=utf-8", x->ms.data, x->ms.len);
}

static void outbox_clear(outbox *x)
{
    vd_txn_end(x->t);
    fbreq_clear(&x->q);
    for (size_t i = 0; i < x->n_mail; i++) {
        free(x->mail[i].user);
        free(x->mail[i].email);
    }
    free(x->mail);
    for (int k = 0; k < 3; k++)
        free(x->busy[k]);
    vd_propcache_clear(&x->cache);
    vd_buf_free(&x->ms);
}

void vd_outbox_post(vd_request *r)
{
    outbox x = {.r = r};
    const char *why = NULL;
    const char *ct = vd_req_header(r, "Content-Type");
    if (!owner_posts(r))
        return;
    /* RFC 6638 6.1.1: the POSTed resource is iCalendar (text/calendar) */
    if (!ct || strncasecmp(ct, "text/calendar", 13) != 0) {
        bad_message(r, 415, "POST to the outbox wants Content-Type: text/calendar");
        return;
    }
    if (r->body_len > MAX_BODY)
        bad_message(r, 413, "the message is too large");
    else if (!parse_request(r->body, r->body_len, &x.q, &why))
        bad_message(r, 400, why);
    else if ((why = check_request(&x.q)) != NULL)
        bad_message(r, 403, why);
    else
        answer(&x);
    outbox_clear(&x);
}
