/* provision.c - first login: a user's principal record, calendar home
 * /calendars/<user>/ and default calendar (cfg->default_calendar, with its
 * displayname) come into existence on the user's first authenticated
 * request.  The default calendar is made together with the home only: a
 * user who later deletes it is not handed a new one on the next request.
 * Must not: write when nothing is missing (one read txn is the common
 * case), or trust the read txn's answer inside the write (two first
 * requests of one user may race: the write re-checks). */
#include "server.h"

#include "../lib/path.h"

#include <stdlib.h>
#include <string.h>

typedef struct prov_ctx {
    vd_server  *srv;
    const char *user, *displayname, *email;
    const char *home;       /* "/calendars/<user>/" */
    const char *calendar;   /* "/calendars/<user>/<default>/" */
} prov_ctx;

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Does the principal record need writing (missing, or the users file gives
 * a different display name / email than stored)? */
static vd_err principal_stale(vd_txn *t, const prov_ctx *c, bool *stale)
{
    vd_principal p = {0};
    vd_err e = vd_store_principal_get(t, c->user, &p);
    if (e == VD_ENOTFOUND) {
        *stale = true;
        return VD_OK;
    }
    if (e != VD_OK)
        return e;
    *stale = (c->displayname && !same(c->displayname, p.displayname)) ||
             (c->email && !same(c->email, p.email));
    vd_principal_clear(&p);
    return VD_OK;
}

static vd_err home_exists(vd_txn *t, const char *home, bool *exists)
{
    vd_coll c = {0};
    vd_err e = vd_store_coll_get(t, home, &c);
    vd_coll_clear(&c);
    *exists = e == VD_OK;
    return e == VD_ENOTFOUND ? VD_OK : e;
}

/* The default calendar with its {DAV:}displayname dead property. */
static vd_err create_calendar(vd_txn *t, const prov_ctx *c)
{
    vd_coll cal = {0};
    vd_buf xml = VD_BUF_INIT;
    const char *dn = c->srv->cfg->default_calendar_displayname;
    vd_err e = vd_store_coll_create(t, c->calendar, VD_COLL_CALENDAR, c->user,
                                    VD_COMP_DEFAULT, &cal);
    if (e != VD_OK || !dn || !*dn)
        goto out;
    vd_buf_puts(&xml, "<D:displayname xmlns:D=\"DAV:\">");
    vd_buf_xml_escape(&xml, dn, strlen(dn));
    vd_buf_puts(&xml, "</D:displayname>");
    e = vd_store_prop_set(t, cal.id, NULL, "{DAV:}displayname", xml.data);
out:
    vd_buf_free(&xml);
    vd_coll_clear(&cal);
    return e;
}

/* Inside the write txn: re-check everything, create what is missing.
 * Re-runnable (the store may call it again after growing the map). */
static vd_err provision_txn(vd_txn *t, void *ctx)
{
    const prov_ctx *c = ctx;
    bool stale = false, home = false;
    vd_err e = principal_stale(t, c, &stale);
    if (e == VD_OK && stale)
        e = vd_store_principal_put(t, c->user, c->displayname, c->email);
    if (e == VD_OK)
        e = home_exists(t, c->home, &home);
    if (e != VD_OK || home)
        return e;
    e = vd_store_coll_create(t, c->home, VD_COLL_HOME, c->user, 0, NULL);
    if (e == VD_OK && c->calendar)
        e = create_calendar(t, c);
    return e;
}

static vd_err provision(vd_server *s, const char *user, const char *displayname,
                        const char *email);

/* The last user this thread found fully provisioned, as "user\0dn\0email"
 * with the store generation of that check: while no write has happened
 * since and the users file says the same, the answer cannot have changed,
 * so the read txn of every request (GET, sync polls) is saved. */
typedef struct prov_seen {
    char key[512];
    size_t len;
    uint64_t gen;
} prov_seen;
static _Thread_local prov_seen seen;

static size_t seen_key(char out[512], const char *user, const char *dn, const char *email)
{
    size_t a = strlen(user) + 1, b = dn ? strlen(dn) + 1 : 0, c = email ? strlen(email) + 1 : 0;
    if (a + b + c + 2 > 512)
        return 0;                   /* too long to remember: always check */
    char *o = out;
    memcpy(o, user, a);
    o += a;
    *o++ = dn ? 1 : 0;              /* NULL and "" differ */
    memcpy(o, dn ? dn : "", b);
    o += b;
    *o++ = email ? 1 : 0;
    memcpy(o, email ? email : "", c);
    return a + b + c + 2;
}

vd_err vd_provision_user(vd_server *s, const char *user, const char *displayname,
                         const char *email)
{
    char key[512];
    size_t klen = user ? seen_key(key, user, displayname, email) : 0;
    uint64_t gen = vd_store_generation(s->store);
    if (klen && gen && seen.gen == gen && seen.len == klen && memcmp(seen.key, key, klen) == 0)
        return VD_OK;
    vd_err e = provision(s, user, displayname, email);
    if (e == VD_OK && klen && gen) {
        /* the generation read before the check: a write in between only
         * makes the next request check again */
        memcpy(seen.key, key, klen);
        seen.len = klen;
        seen.gen = gen;
    }
    return e;
}

static vd_err provision(vd_server *s, const char *user, const char *displayname,
                        const char *email)
{
    vd_err e = VD_ENOMEM;
    vd_txn *t = NULL;
    bool stale = false, home = false;
    prov_ctx c = {.srv = s, .user = user, .displayname = displayname, .email = email};
    const char *dflt = s->cfg->default_calendar;
    char *home_path = vd_home_path(user);
    vd_buf cal = VD_BUF_INIT;
    if (!home_path)
        goto out;
    if (dflt && vd_name_valid(dflt))
        vd_buf_printf(&cal, "%s%s/", home_path, dflt);
    c.home = home_path;
    c.calendar = cal.data;   /* NULL: no default calendar configured */
    /* the common case: everything there, one read txn */
    if ((e = vd_store_read(s->store, &t)) != VD_OK)
        goto out;
    e = principal_stale(t, &c, &stale);
    if (e == VD_OK)
        e = home_exists(t, home_path, &home);
    vd_txn_end(t);
    if (e != VD_OK || (!stale && home))
        goto out;
    e = vd_store_write(s->store, user, "PROVISION", provision_txn, &c);
out:
    free(home_path);
    vd_buf_free(&cal);
    return e;
}
