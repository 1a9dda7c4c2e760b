/* acl_explain.c - evaluating a compiled ACL file (acl_int.h): the pure
 * check vd_acl_privs (user, path) -> privileges and the human text of
 * vd_acl_explain for `visitdav acl explain`.  Reads a vd_acl, never
 * changes it; must not parse, do I/O, or know about HTTP or the store.
 *
 * A check splits the path into segments on the stack once, then tries each
 * rule: subject first (a set lookup), then the pattern segment by segment.
 * A variable segment's user or team index is looked up at most once per
 * check and cached in the split.  Nothing is allocated. */
#include "acl_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define NEAR_MAX    3             /* "not for you" rules explain lists */

/* the single highest privilege in privs, 0 for none */
static unsigned top_priv(unsigned privs)
{
    unsigned c = vd_acl_closure(privs);
    return c ? (c + 1) >> 1 : 0;
}

/* ------------------------------------------------------------------ */
/* the check                                                            */

typedef struct pathseg {
    const char *s;
    size_t len;
    uint32_t uid, tid;       /* the segment as a user / team name, once looked up */
    uint8_t looked;          /* 1: uid valid, 2: tid valid */
} pathseg;

typedef struct view {
    const vd_acl *a;
    const char *user;
    size_t ulen;
    uint32_t uid;            /* ID_NONE: the file does not name this user */
    size_t n;                /* segments in the path */
    pathseg seg[PAT_SEGS];   /* the first PAT_SEGS of them: patterns look no further */
} view;

static void view_init(view *v, const vd_acl *a, const char *user, const char *path)
{
    v->a = a;
    v->user = user;
    v->ulen = strlen(user);
    v->uid = nmap_get(&a->users, user, v->ulen);
    v->n = 0;
    for (const char *c = path;;) {
        while (*c == '/')
            c++;
        if (!*c)
            break;
        const char *ce = c;
        while (*ce && *ce != '/')
            ce++;
        if (v->n < PAT_SEGS)
            v->seg[v->n] = (pathseg){ c, (size_t)(ce - c), ID_NONE, ID_NONE, 0 };
        v->n++;
        c = ce;
    }
}

static uint32_t seg_user(view *v, size_t i)
{
    pathseg *s = &v->seg[i];
    if (!(s->looked & 1)) {
        s->uid = nmap_get(&v->a->users, s->s, s->len);
        s->looked |= 1;
    }
    return s->uid;
}

static uint32_t seg_team(view *v, size_t i)
{
    pathseg *s = &v->seg[i];
    if (!(s->looked & 2)) {
        s->tid = nmap_get(&v->a->teams, s->s, s->len);
        s->looked |= 2;
    }
    return s->tid;
}

static bool in_team(const vd_acl *a, uint32_t u, uint32_t t, bool managers_only)
{
    return pset_has(&a->rel, REL(R_MANAGER, u, t)) ||
           (!managers_only && pset_has(&a->rel, REL(R_MEMBER, u, t)));
}

static bool seg_match(view *v, size_t i, const pseg *ps)
{
    const vd_acl *a = v->a;
    const pathseg *s = &v->seg[i];
    switch (ps->kind) {
    case S_LIT:
        return s->len == ps->len && memcmp(s->s, ps->lit, s->len) == 0;
    case S_STAR:
        return true;
    case S_USER:
        return s->len == v->ulen && memcmp(s->s, v->user, s->len) == 0;
    case S_TEAM:
    case S_MANAGED: {
        uint32_t t = v->uid == ID_NONE ? ID_NONE : seg_team(v, i);
        return t != ID_NONE && in_team(a, v->uid, t, ps->kind == S_MANAGED);
    }
    default: {   /* {teammate}, {report}: a member of one of the user's (managed) teams */
        uint32_t x = v->uid == ID_NONE ? ID_NONE : seg_user(v, i);
        if (x == ID_NONE)
            return false;
        if (ps->kind == S_TEAMMATE && x == v->uid)
            return a->in_team[x];
        for (uint32_t k = a->mt_off[x]; k < a->mt_off[x + 1]; k++)
            if (in_team(a, v->uid, a->mt[k], ps->kind == S_REPORT))
                return true;
        return false;
    }
    }
}

static bool pattern_match(view *v, const rule *r)
{
    if (r->dstar ? v->n < r->nseg : v->n != r->nseg)
        return false;
    for (size_t i = 0; i < r->nseg; i++)
        if (!seg_match(v, i, &r->seg[i]))
            return false;
    return true;
}

static bool subject_match(const view *v, const rule *r)
{
    if (r->subj == J_EVERYONE)
        return true;
    if (v->uid == ID_NONE)
        return false;
    switch (r->subj) {
    case J_USER:     return v->uid == r->subj_id;
    case J_TEAM:     return in_team(v->a, v->uid, r->subj_id, false);
    case J_MANAGERS: return in_team(v->a, v->uid, r->subj_id, true);
    default:         return pset_has(&v->a->rel, REL(R_ROLE, v->uid, r->subj_id));
    }
}

static bool usable(const vd_acl *a, const char *user, const char *path)
{
    return a && user && *user && path && path[0] == '/';
}

unsigned vd_acl_privs(const vd_acl *a, const char *user, const char *path, int *deciding_line)
{
    unsigned all = 0;
    int line = -1;
    if (usable(a, user, path)) {
        view v;
        view_init(&v, a, user, path);
        /* grants are closures (1, 3, 7, 15, 31): the union is the largest,
         * and a rule no larger than what is held cannot change anything */
        for (size_t i = 0; i < a->n_rules && !(all & VD_ACL_ADMIN); i++) {
            const rule *r = &a->rule[i];
            if (r->privs <= all || !subject_match(&v, r) || !pattern_match(&v, r))
                continue;
            all = r->privs;
            line = r->line;
        }
    }
    if (deciding_line)
        *deciding_line = line;
    return all;
}

/* ------------------------------------------------------------------ */
/* explain                                                              */

static void put_rule(const vd_acl *a, const rule *r, vd_buf *out)
{
    if (!r)
        return;
    if (r->line == 0) {
        vd_buf_printf(out, "built-in rule: %s", r->text);
        return;
    }
    const char *base = strrchr(a->name, '/');
    vd_buf_printf(out, "%s:%d: %s", base ? base + 1 : a->name, r->line, r->text);
}

/* the first rule that matches and grants priv, or NULL */
static const rule *first_granting(const vd_acl *a, view *v, unsigned priv)
{
    for (size_t i = 0; i < a->n_rules; i++) {
        const rule *r = &a->rule[i];
        if ((r->privs & priv) && subject_match(v, r) && pattern_match(v, r))
            return r;
    }
    return NULL;
}

/* What a method needs; *read_like: a viewer with less than read gets a
 * reduced view instead of a refusal. */
static unsigned method_need(const char *m, bool *read_like, bool *known)
{
    static const char *const reads[] = { "GET", "HEAD", "PROPFIND", "REPORT" };
    static const char *const writes[] = { "PUT", "DELETE", "MKCALENDAR", "MKCOL", "PROPPATCH",
                                          "MOVE", "COPY", "POST", "LOCK", "UNLOCK" };
    *read_like = false;
    *known = true;
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
        if (strcmp(m, reads[i]) == 0) {
            *read_like = true;
            return VD_ACL_READ;
        }
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
        if (strcmp(m, writes[i]) == 0)
            return VD_ACL_WRITE;
    if (strcmp(m, "OPTIONS") == 0)
        return 0;
    *known = strcmp(m, "ACL") == 0;
    return VD_ACL_ADMIN;
}

/* rules that would grant at least priv here, but not to this user */
static void near_misses(const vd_acl *a, view *v, unsigned priv, vd_buf *out)
{
    size_t shown = 0;
    for (size_t i = 0; i < a->n_rules && shown < NEAR_MAX; i++) {
        const rule *r = &a->rule[i];
        if (!(r->privs & priv) || subject_match(v, r) || !pattern_match(v, r))
            continue;
        vd_buf_printf(out, "   not for %s: ", v->user);
        put_rule(a, r, out);
        vd_buf_puts(out, "\n");
        shown++;
    }
}

void vd_acl_explain(const vd_acl *a, const char *user, const char *method,
                    const char *path, vd_buf *out)
{
    char m[24];
    size_t i = 0;
    bool read_like, known;
    for (; method && method[i] && i + 1 < sizeof m; i++)
        m[i] = (char)toupper((unsigned char)method[i]);
    m[i] = '\0';
    unsigned need = method_need(m, &read_like, &known);
    const char *who = user && *user ? user : "(unauthenticated)";
    vd_buf_printf(out, "%s %s %s needs %s%s%s\n", who, m, path ? path : "(none)",
                  need ? vd_acl_priv_name(need) : "no privilege",
                  read_like ? " (or read-masked: masked view)" : "",
                  !known ? " (unknown method: taken as admin)"
                  : (!strcmp(m, "MOVE") || !strcmp(m, "COPY")) ? " (and write on the destination)" : "");
    if (!usable(a, user, path)) {
        vd_buf_puts(out, user && *user ? "-> denied: not a path\n" : "-> denied: not authenticated\n");
        return;
    }
    if (!need) {
        vd_buf_printf(out, "-> allowed: %s needs no privilege\n", m);
        return;
    }
    view v;
    view_init(&v, a, user, path);
    unsigned all = vd_acl_privs(a, user, path, NULL);
    unsigned level = (all & need) ? need : read_like ? top_priv(all) : 0;
    if (level) {
        vd_buf_printf(out, "-> allowed: %s%s, by ", vd_acl_priv_name(level),
                      level == VD_ACL_FREEBUSY ? " only (busy time: no event is shown)" : "");
        put_rule(a, first_granting(a, &v, level), out);
        vd_buf_puts(out, "\n");
        if (level == VD_ACL_MASKED)
            vd_buf_puts(out, "   masked view: time, customer and owner only; read-only\n");
        return;
    }
    unsigned min = read_like ? VD_ACL_FREEBUSY : need;
    vd_buf_printf(out, "-> denied: no rule grants %s or more on this path to %s (rules considered: %zu)\n",
                  vd_acl_priv_name(min), who, a->n_rules);
    if (all) {
        vd_buf_printf(out, "   %s holds %s here, by ", who, vd_acl_priv_name(top_priv(all)));
        put_rule(a, first_granting(a, &v, top_priv(all)), out);
        vd_buf_puts(out, "\n");
    }
    near_misses(a, &v, min, out);
}
