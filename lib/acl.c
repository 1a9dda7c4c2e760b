/* acl.c - the ACL file (conf/acl.conf): its parser, the compiled rules
 * (acl_int.h), the team and role queries, and the holder the server
 * swaps on SIGHUP (holder.c does its locking and counting).  The check
 * and the explain text are in acl_explain.c.  Must not do I/O
 * beyond reading the one file, and must not know about HTTP, WebDAV XML
 * or the store (the mapping to DAV privileges is the server's: docs/acl.md).
 *
 * A loaded file is immutable, so readers need no lock.  Every name (user,
 * team, role) is interned once in an arena and given a dense index by an
 * open-addressing table; the relations "u is a member of team t", "u
 * manages t" and "u has role r" are keys of one hash set of 64-bit
 * integers.  Each user also has the list of teams it is a member of (CSR
 * arrays), so {teammate} and {report} are a walk over the candidate's
 * (usually one) teams with one set lookup each: memory stays linear in
 * the file, not quadratic in the size of the teams.
 *
 * Never fail open: any error in the file (or running out of memory while
 * reading it) means no vd_acl at all; the holder keeps the one in force. */
#include "acl_int.h"
#include "holder.h"
#include "users.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX    (16u << 20)   /* bytes per file */
#define LINE_MAX_B  65536         /* bytes per line */
#define PAT_MAX     1024          /* bytes per pattern */
#define NAMES_MAX   (1u << 20)    /* users, teams, roles: indexes fit 30 bits */
#define RULES_MAX   100000
#define ERRORS_MAX  100           /* errors kept for `acl check` */

/* a token for messages: at most 80 bytes of it */
#define TOK(s, e) (int)((e) - (s) > 80 ? 80 : (e) - (s)), (s)

static const char *const priv_names[] = {
    "read-free-busy", "read-masked", "read", "write", "admin",
};
#define N_PRIVS 5

unsigned vd_acl_closure(unsigned privs)
{
    privs &= (1u << N_PRIVS) - 1;
    unsigned top = 0;
    for (unsigned b = 1; b && b <= privs; b <<= 1)
        if (privs & b)
            top = b;
    return top ? (top << 1) - 1 : 0;
}

const char *vd_acl_priv_name(unsigned one_priv)
{
    for (unsigned i = 0; i < N_PRIVS; i++)
        if (one_priv == 1u << i)
            return priv_names[i];
    return NULL;
}

bool vd_acl_priv_parse(const char *name, unsigned *out)
{
    for (unsigned i = 0; name && i < N_PRIVS; i++)
        if (strcmp(name, priv_names[i]) == 0) {
            *out = 1u << i;
            return true;
        }
    return false;
}

/* ------------------------------------------------------------------ */
/* arena, growable arrays                                               */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t mem[];
} chunk;

static void *arena_get(chunk **head, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!*head || (*head)->cap - (*head)->used < n) {
        size_t cap = n > 32768 ? n : 32768;
        chunk *c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = *head;
        c->used = 0;
        c->cap = cap;
        *head = c;
    }
    void *p = (char *)(*head)->mem + (*head)->used;
    (*head)->used += n;
    return p;
}

static char *arena_str(chunk **head, const char *s, size_t n)
{
    char *p = arena_get(head, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Room for need elements of size bytes: the (maybe moved) array, or NULL
 * without memory (p is then untouched).  *cap is updated on success. */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * size);
    if (q)
        *cap = n;
    return q;
}

/* ------------------------------------------------------------------ */
/* nmap: name -> dense index; pset: a set of nonzero 64-bit keys        */

/* key must stay valid (arena) and must not be in the map yet */
static bool nmap_put(nmap *m, const char *key, size_t n, uint32_t id)
{
    if ((m->n + 1) * 2 > m->cap) {
        nmap big = { calloc(m->cap ? m->cap * 2 : 64, sizeof(nslot)), m->cap ? m->cap * 2 : 64, m->n };
        if (!big.s)
            return false;
        for (size_t i = 0; i < m->cap; i++)
            if (m->s[i].key)
                big.s[nmap_slot(&big, m->s[i].key, m->s[i].len, m->s[i].h)] = m->s[i];
        free(m->s);
        *m = big;
    }
    uint64_t h = vd_hash64(key, n);
    m->s[nmap_slot(m, key, n, h)] = (nslot){ key, (uint32_t)n, id, h };
    m->n++;
    return true;
}

/* 1 added, 0 already there, -1 no memory */
static int pset_add(pset *s, uint64_t key)
{
    if ((s->n + 1) * 2 > s->cap) {
        pset big = { calloc(s->cap ? s->cap * 2 : 64, sizeof(uint64_t)), s->cap ? s->cap * 2 : 64, s->n };
        if (!big.k)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[i])
                big.k[pset_slot(&big, s->k[i])] = s->k[i];
        free(s->k);
        *s = big;
    }
    size_t i = pset_slot(s, key);
    if (s->k[i] == key)
        return 0;
    s->k[i] = key;
    s->n++;
    return 1;
}

/* ------------------------------------------------------------------ */
/* the loaded file                                                      */

static void list_free(list *l)
{
    free(l->names);
    free(l->ids);
}

static bool list_add(list *l, const char *name, uint32_t id)
{
    size_t c1 = l->cap, c2 = l->cap;
    const char **names = grow(l->names, &c1, l->n + 1, sizeof *l->names);
    if (names)
        l->names = names;
    uint32_t *ids = names ? grow(l->ids, &c2, l->n + 1, sizeof *l->ids) : NULL;
    if (!ids)
        return false;
    l->ids = ids;
    l->cap = c1 < c2 ? c1 : c2;   /* both arrays hold at least this many */
    l->names[l->n] = name;
    l->ids[l->n++] = id;
    return true;
}

void vd_acl_free(vd_acl *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_teams; i++) {
        list_free(&a->team[i].members);
        list_free(&a->team[i].managers);
    }
    for (size_t i = 0; i < a->n_roles; i++)
        list_free(&a->role[i].members);
    free(a->team);
    free(a->role);
    free(a->user);
    free(a->users.s);
    free(a->teams.s);
    free(a->roles.s);
    free(a->rel.k);
    free(a->mt_off);
    free(a->mt);
    free(a->in_team);
    free(a->rule);
    for (chunk *c = a->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a->name);
    free(a);
}

/* The index of user name s[0..n), added if new; ID_NONE without memory
 * or past the limit. */
static uint32_t user_intern(vd_acl *a, const char *s, size_t n)
{
    uint32_t id = nmap_get(&a->users, s, n);
    if (id != ID_NONE)
        return id;
    const char **users = a->n_users < NAMES_MAX
                         ? grow(a->user, &a->cap_users, a->n_users + 1, sizeof *a->user) : NULL;
    if (!users)
        return ID_NONE;
    a->user = users;
    char *k = arena_str(&a->arena, s, n);
    if (!k || !nmap_put(&a->users, k, n, (uint32_t)a->n_users))
        return ID_NONE;
    a->user[a->n_users] = k;
    return (uint32_t)a->n_users++;
}

/* ------------------------------------------------------------------ */
/* the parser: errors carry line and column of the offending token      */

enum { SEC_NONE, SEC_SKIP, SEC_TEAM, SEC_ROLE, SEC_RULES };

typedef struct perr { int line, col; char msg[240]; } perr;

typedef struct parser {
    vd_acl *a;
    const char *ls;          /* start of the current line */
    int line;
    int sec;                 /* SEC_* */
    size_t cur;              /* the team or role being declared */
    perr err[ERRORS_MAX];
    size_t n_err, more_err;
    bool nomem;
} parser;

static void err_line(parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void err_line(parser *p, int line, int col, const char *fmt, ...)
{
    if (p->n_err == ERRORS_MAX) {
        p->more_err++;
        return;
    }
    perr *e = &p->err[p->n_err++];
    e->line = line;
    e->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

/* 1-based column of at in the current line, in characters (UTF-8) */
static int col_of(const parser *p, const char *at)
{
    int col = 1;
    for (const char *c = p->ls; c < at; c++)
        col += ((unsigned char)*c & 0xC0) != 0x80;
    return col;
}

#define ERR_AT(p, at, ...) err_line((p), (p)->line, col_of((p), (at)), __VA_ARGS__)

static void out_of_memory(parser *p)
{
    if (!p->nomem)
        ERR_AT(p, p->ls, "out of memory");
    p->nomem = true;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static const char *skip_ws(const char *s, const char *e)
{
    while (s < e && is_ws(*s))
        s++;
    return s;
}

/* end of the token at s: up to white space or any byte of stops */
static const char *tok_end(const char *s, const char *e, const char *stops)
{
    while (s < e && !is_ws(*s) && !strchr(stops, *s))
        s++;
    return s;
}

static bool tok_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && memcmp(s, word, n) == 0;
}

/* vd_users_name_valid on a token (user, team and role names alike) */
static bool name_ok(const char *s, const char *e)
{
    char tmp[72];
    if (e - s <= 0 || (size_t)(e - s) >= sizeof tmp)
        return false;
    memcpy(tmp, s, (size_t)(e - s));
    tmp[e - s] = '\0';
    return vd_users_name_valid(tmp);
}

static void parse_section(parser *p, const char *s, const char *e)
{
    vd_acl *a = p->a;
    const char *kw = skip_ws(s + 1, e), *kwe = tok_end(kw, e, "]");
    const char *nm = skip_ws(kwe, e), *nme = tok_end(nm, e, "]");
    int kind = tok_is(kw, kwe, "team") ? SEC_TEAM : tok_is(kw, kwe, "role") ? SEC_ROLE
             : tok_is(kw, kwe, "rules") ? SEC_RULES : SEC_NONE;
    p->sec = SEC_SKIP;   /* the lines of a broken section are not looked at */
    if (kind == SEC_NONE) {
        ERR_AT(p, kw, "unknown section '%.*s' (team NAME, role NAME or rules)", TOK(kw, kwe));
        return;
    }
    if (kind != SEC_RULES && nm == nme) {
        ERR_AT(p, nm, "missing %s name", kind == SEC_TEAM ? "team" : "role");
        return;
    }
    const char *close = kind == SEC_RULES ? nm : skip_ws(nme, e);
    if (close == e || *close != ']') {
        ERR_AT(p, close, "expected ']'");
        return;
    }
    const char *rest = skip_ws(close + 1, e);
    if (rest != e) {
        ERR_AT(p, rest, "trailing garbage '%.*s'", TOK(rest, e));
        return;
    }
    if (kind == SEC_RULES) {
        p->sec = SEC_RULES;
        return;
    }
    const char *what = kind == SEC_TEAM ? "team" : "role";
    if (!name_ok(nm, nme)) {
        ERR_AT(p, nm, "bad %s name '%.*s' (1-64 of A-Z a-z 0-9 . _ @ -, not starting with '.')",
               what, TOK(nm, nme));
        return;
    }
    nmap *m = kind == SEC_TEAM ? &a->teams : &a->roles;
    group **g = kind == SEC_TEAM ? &a->team : &a->role;
    size_t *n = kind == SEC_TEAM ? &a->n_teams : &a->n_roles;
    size_t *cap = kind == SEC_TEAM ? &a->cap_teams : &a->cap_roles;
    uint32_t old = nmap_get(m, nm, (size_t)(nme - nm));
    if (old != ID_NONE) {
        ERR_AT(p, nm, "duplicate %s '%.*s' (first declared on line %d)", what, TOK(nm, nme),
               (*g)[old].line);
        return;
    }
    if (*n >= NAMES_MAX) {
        ERR_AT(p, nm, "too many %ss (at most %u)", what, NAMES_MAX);
        return;
    }
    char *key = arena_str(&a->arena, nm, (size_t)(nme - nm));
    group *ng = key ? grow(*g, cap, *n + 1, sizeof **g) : NULL;
    if (ng)
        *g = ng;
    if (!ng || !nmap_put(m, key, (size_t)(nme - nm), (uint32_t)*n)) {
        out_of_memory(p);
        return;
    }
    memset(&(*g)[*n], 0, sizeof **g);
    (*g)[*n].name = key;
    (*g)[*n].line = p->line;
    p->cur = (*n)++;
    p->sec = kind;
}

/* "alice, bob, carol" into the list rel (R_MEMBER, R_MANAGER or R_ROLE)
 * of group p->cur; a name twice in one list is an error. */
static void parse_names(parser *p, const char *s, const char *e, int rel)
{
    vd_acl *a = p->a;
    group *g = rel == R_ROLE ? &a->role[p->cur] : &a->team[p->cur];
    list *l = rel == R_MANAGER ? &g->managers : &g->members;
    for (bool first = true;; first = false) {
        const char *n = skip_ws(s, e), *ne = tok_end(n, e, ",");
        if (n == ne) {
            if (!(first && n == e))
                ERR_AT(p, n, "expected a user name");
            return;
        }
        if (!name_ok(n, ne)) {
            ERR_AT(p, n, "bad user name '%.*s' (1-64 of A-Z a-z 0-9 . _ @ -, not starting with '.')",
                   TOK(n, ne));
            return;
        }
        uint32_t u = user_intern(a, n, (size_t)(ne - n));
        int added = u == ID_NONE ? -1 : pset_add(&a->rel, REL(rel, u, p->cur));
        if (added < 0 || (added && !list_add(l, a->user[u], u))) {
            out_of_memory(p);
            return;
        }
        if (!added) {
            ERR_AT(p, n, "user '%.*s' is listed twice", TOK(n, ne));
            return;
        }
        s = skip_ws(ne, e);
        if (s == e)
            return;
        if (*s != ',') {
            ERR_AT(p, s, "expected ',' or the end of the line");
            return;
        }
        s++;
    }
}

static void parse_key(parser *p, const char *s, const char *e)
{
    const char *ke = tok_end(s, e, "=");
    const char *eq = skip_ws(ke, e);
    int rel = tok_is(s, ke, "members") ? (p->sec == SEC_ROLE ? R_ROLE : R_MEMBER)
            : p->sec == SEC_TEAM && tok_is(s, ke, "managers") ? R_MANAGER : 0;
    if (!rel) {
        ERR_AT(p, s, "unknown key '%.*s' (%s)", TOK(s, ke),
               p->sec == SEC_TEAM ? "a team has members and managers" : "a role has members");
        return;
    }
    if (eq == e || *eq != '=') {
        ERR_AT(p, eq, "expected '=' after '%.*s'", TOK(s, ke));
        return;
    }
    parse_names(p, eq + 1, e, rel);
}

/* "read, write" -> closure of the privileges; *sp moves past the list */
static bool parse_privs(parser *p, const char **sp, const char *e, unsigned *privs)
{
    const char *s = *sp;
    *privs = 0;
    for (;;) {
        const char *t = skip_ws(s, e), *te = tok_end(t, e, ",");
        char tmp[24];
        unsigned one;
        if (t == te) {
            ERR_AT(p, t, "expected a privilege (read-free-busy, read-masked, read, write, admin)");
            return false;
        }
        size_t n = (size_t)(te - t) < sizeof tmp ? (size_t)(te - t) : sizeof tmp - 1;
        memcpy(tmp, t, n);
        tmp[n] = '\0';
        if ((size_t)(te - t) >= sizeof tmp || !vd_acl_priv_parse(tmp, &one)) {
            ERR_AT(p, t, "unknown privilege '%.*s' (read-free-busy, read-masked, read, write, admin)",
                   TOK(t, te));
            return false;
        }
        *privs |= one;
        s = skip_ws(te, e);
        if (s == e || *s != ',')
            break;
        s++;
    }
    *privs = vd_acl_closure(*privs);
    *sp = s;
    return true;
}

static const struct { const char *name; uint8_t kind; } vars[] = {
    { "{user}", S_USER }, { "{team}", S_TEAM }, { "{managed}", S_MANAGED },
    { "{teammate}", S_TEAMMATE }, { "{report}", S_REPORT },
};

/* one segment c[0..n) of a pattern into *ps; false after an error */
static bool compile_seg(parser *p, const char *c, size_t n, pseg *ps)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f) {
            ERR_AT(p, c + i, "control character in pattern");
            return false;
        }
    if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
        ERR_AT(p, c, "'.' and '..' segments are not allowed in a pattern");
        return false;
    }
    if (n == 1 && c[0] == '*') {
        ps->kind = S_STAR;
        return true;
    }
    if (c[0] == '{' && c[n - 1] == '}') {
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            if (tok_is(c, c + n, vars[i].name)) {
                ps->kind = vars[i].kind;
                return true;
            }
        ERR_AT(p, c, "unknown variable '%.*s' ({user}, {team}, {managed}, {teammate}, {report})",
               TOK(c, c + n));
        return false;
    }
    const char *bad = NULL;
    for (size_t i = 0; i < n && !bad; i++)
        if (c[i] == '*' || c[i] == '{' || c[i] == '}')
            bad = c + i;
    if (bad) {
        ERR_AT(p, bad, "'*', '**' and {variables} must be whole segments");
        return false;
    }
    ps->kind = S_LIT;
    ps->len = (uint32_t)n;
    ps->lit = arena_str(&p->a->arena, c, n);
    if (!ps->lit)
        out_of_memory(p);
    return ps->lit != NULL;
}

/* the pattern token s[0..e) into r */
static bool parse_pattern(parser *p, const char *s, const char *e, rule *r)
{
    pseg seg[PAT_SEGS];
    size_t n = 0;
    if (s == e || *s != '/') {
        ERR_AT(p, s, "the pattern must be an absolute path (start with '/')");
        return false;
    }
    if (e - s > PAT_MAX) {
        ERR_AT(p, s, "pattern longer than %d bytes", PAT_MAX);
        return false;
    }
    for (const char *c = s + 1; c < e;) {
        const char *ce = memchr(c, '/', (size_t)(e - c));
        if (!ce)
            ce = e;
        if (ce == c) {
            ERR_AT(p, c, "empty segment ('//') in pattern");
            return false;
        }
        if (tok_is(c, ce, "**")) {
            if (ce < e && ce + 1 < e) {   /* more than a trailing '/' follows */
                ERR_AT(p, c, "'**' must be the last segment");
                return false;
            }
            r->dstar = true;
            break;
        }
        if (n == PAT_SEGS) {
            ERR_AT(p, c, "pattern deeper than %d segments", PAT_SEGS);
            return false;
        }
        if (!compile_seg(p, c, (size_t)(ce - c), &seg[n++]))
            return false;
        c = ce + 1;
    }
    pseg *keep = arena_get(&p->a->arena, (n ? n : 1) * sizeof *keep);
    if (!keep) {
        out_of_memory(p);
        return false;
    }
    memcpy(keep, seg, n * sizeof *keep);
    r->seg = keep;
    r->nseg = (uint32_t)n;
    return true;
}

/* everyone | user NAME | team NAME | managers of NAME | role NAME */
static bool parse_subject(parser *p, const char **sp, const char *e, rule *r)
{
    const char *k = skip_ws(*sp, e), *ke = tok_end(k, e, "");
    r->subj = tok_is(k, ke, "everyone") ? J_EVERYONE : tok_is(k, ke, "user") ? J_USER
            : tok_is(k, ke, "team") ? J_TEAM : tok_is(k, ke, "managers") ? J_MANAGERS
            : tok_is(k, ke, "role") ? J_ROLE : 255;
    if (r->subj == 255) {
        ERR_AT(p, k, "unknown subject '%.*s' (everyone, user NAME, team NAME, managers of NAME, "
               "role NAME)", TOK(k, ke));
        return false;
    }
    *sp = ke;
    if (r->subj == J_EVERYONE)
        return true;
    if (r->subj == J_MANAGERS) {
        const char *of = skip_ws(ke, e), *ofe = tok_end(of, e, "");
        if (!tok_is(of, ofe, "of")) {
            ERR_AT(p, of, "expected 'of' (managers of TEAM)");
            return false;
        }
        ke = ofe;
    }
    const char *n = skip_ws(ke, e), *ne = tok_end(n, e, "");
    const char *what = r->subj == J_USER ? "user" : r->subj == J_ROLE ? "role" : "team";
    if (n == ne) {
        ERR_AT(p, n, "expected a %s name", what);
        return false;
    }
    if (!name_ok(n, ne)) {
        ERR_AT(p, n, "bad %s name '%.*s'", what, TOK(n, ne));
        return false;
    }
    *sp = ne;
    if (r->subj == J_USER) {
        r->subj_id = user_intern(p->a, n, (size_t)(ne - n));
        if (r->subj_id == ID_NONE)
            out_of_memory(p);
        return r->subj_id != ID_NONE;
    }
    r->subj_col = col_of(p, n);   /* teams and roles may be declared further down */
    r->subj_name = arena_str(&p->a->arena, n, (size_t)(ne - n));
    if (!r->subj_name)
        out_of_memory(p);
    return r->subj_name != NULL;
}

/* expect the keyword word next; *sp moves past it */
static bool expect_word(parser *p, const char **sp, const char *e, const char *word, const char *hint)
{
    const char *t = skip_ws(*sp, e), *te = tok_end(t, e, "");
    if (!tok_is(t, te, word)) {
        ERR_AT(p, t, "expected '%s' %s", word, hint);
        return false;
    }
    *sp = te;
    return true;
}

/* allow PRIVS on PATTERN to SUBJECT */
static void parse_rule(parser *p, const char *s, const char *e)
{
    vd_acl *a = p->a;
    rule r = { .line = p->line };
    const char *t = s, *te = tok_end(t, e, "");
    if (!tok_is(t, te, "allow")) {
        ERR_AT(p, t, tok_is(t, te, "deny")
               ? "there are no deny rules: whatever no rule allows is denied"
               : "expected 'allow PRIVS on PATTERN to SUBJECT'");
        return;
    }
    const char *c = te;
    if (!parse_privs(p, &c, e, &r.privs) ||
        !expect_word(p, &c, e, "on", "after the privileges"))
        return;
    const char *pat = skip_ws(c, e);
    c = tok_end(pat, e, "");
    if (!parse_pattern(p, pat, c, &r) ||
        !expect_word(p, &c, e, "to", "after the pattern") ||
        !parse_subject(p, &c, e, &r))
        return;
    c = skip_ws(c, e);
    if (c != e) {
        ERR_AT(p, c, "trailing garbage '%.*s'", TOK(c, e));
        return;
    }
    if (a->n_rules >= RULES_MAX + 2) {
        ERR_AT(p, s, "too many rules (at most %d)", RULES_MAX);
        return;
    }
    char *text = arena_get(&a->arena, (size_t)(e - s) + 1);
    rule *rules = text ? grow(a->rule, &a->cap_rules, a->n_rules + 1, sizeof *a->rule) : NULL;
    if (!rules) {
        out_of_memory(p);
        return;
    }
    a->rule = rules;
    size_t n = 0;   /* kept for explain: blanks (tabs, CRs) collapsed to one space */
    for (const char *x = s; x < e; x++)
        if (!is_ws(*x))
            text[n++] = *x;
        else if (text[n - 1] != ' ')
            text[n++] = ' ';
    text[n] = '\0';
    r.text = text;
    a->rule[a->n_rules++] = r;
}

static void parse_line(parser *p, const char *ls, const char *le)
{
    p->ls = ls;
    if (le - ls > LINE_MAX_B) {
        ERR_AT(p, ls, "line longer than %d bytes", LINE_MAX_B);
        return;
    }
    const char *nul = memchr(ls, '\0', (size_t)(le - ls));
    if (nul) {
        ERR_AT(p, nul, "NUL byte");
        return;
    }
    const char *e = ls;   /* '#' at the start or after a blank starts a comment */
    while (e < le && !(*e == '#' && (e == ls || is_ws(e[-1]))))
        e++;
    while (e > ls && is_ws(e[-1]))
        e--;
    const char *s = skip_ws(ls, e);
    if (s == e)
        return;
    if (*s == '[')
        parse_section(p, s, e);
    else if (p->sec == SEC_NONE)
        ERR_AT(p, s, "expected a section: [team NAME], [role NAME] or [rules]");
    else if (p->sec == SEC_TEAM || p->sec == SEC_ROLE)
        parse_key(p, s, e);
    else if (p->sec == SEC_RULES)
        parse_rule(p, s, e);
}

/* After the last line: resolve the team and role subjects, build the
 * per-user "member of" lists. */
static void finish(parser *p)
{
    vd_acl *a = p->a;
    for (size_t i = 0; i < a->n_rules; i++) {
        rule *r = &a->rule[i];
        if (!r->subj_name)
            continue;
        const nmap *m = r->subj == J_ROLE ? &a->roles : &a->teams;
        r->subj_id = nmap_get(m, r->subj_name, strlen(r->subj_name));
        if (r->subj_id == ID_NONE)
            err_line(p, r->line, r->subj_col, "unknown %s '%s'", r->subj == J_ROLE ? "role" : "team",
                     r->subj_name);
    }
    a->mt_off = calloc(a->n_users + 1, sizeof *a->mt_off);
    a->in_team = calloc(a->n_users + 1, 1);
    size_t total = 0;
    for (size_t t = 0; t < a->n_teams; t++)
        total += a->team[t].members.n;
    a->mt = malloc((total ? total : 1) * sizeof *a->mt);
    uint32_t *fill = calloc(a->n_users + 1, sizeof *fill);
    if (!a->mt_off || !a->in_team || !a->mt || !fill) {
        free(fill);
        out_of_memory(p);
        return;
    }
    for (size_t t = 0; t < a->n_teams; t++) {
        for (size_t k = 0; k < a->team[t].members.n; k++)
            a->mt_off[a->team[t].members.ids[k] + 1]++;
        for (size_t k = 0; k < a->team[t].managers.n; k++)
            a->in_team[a->team[t].managers.ids[k]] = 1;
    }
    for (size_t u = 0; u < a->n_users; u++)
        a->mt_off[u + 1] += a->mt_off[u];
    for (size_t t = 0; t < a->n_teams; t++)   /* team order = file order */
        for (size_t k = 0; k < a->team[t].members.n; k++) {
            uint32_t u = a->team[t].members.ids[k];
            a->mt[a->mt_off[u] + fill[u]++] = (uint32_t)t;
            a->in_team[u] = 1;
        }
    free(fill);
}

static int err_cmp(const void *x, const void *y)
{
    const perr *a = x, *b = y;
    return a->line != b->line ? (a->line > b->line) - (a->line < b->line)
                              : (a->col > b->col) - (a->col < b->col);
}

static const char *const builtin[] = {
    "allow admin on /calendars/{user}/** to everyone",
    "allow admin on /principals/users/{user}/ to everyone",
};

/* Parse text; on success *out is the new object.  Every error goes to
 * errs (if non-NULL), the first to d; *n_errs receives the count. */
static vd_err build(const char *name, const char *text, size_t len, vd_acl **out,
                    vd_buf *errs, size_t *n_errs, vd_diag *d)
{
    vd_err err = VD_ENOMEM;
    parser *p = calloc(1, sizeof *p);
    vd_acl *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!p || !a || !(a->name = strdup(name ? name : "acl")))
        goto done;
    p->a = a;
    p->sec = SEC_RULES;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)   /* line 0 */
        parse_line(p, builtin[i], builtin[i] + strlen(builtin[i]));
    p->sec = SEC_NONE;
    for (const char *ls = text, *end = text + len; ls < end && !p->nomem;) {
        const char *nl = memchr(ls, '\n', (size_t)(end - ls));
        p->line++;
        parse_line(p, ls, nl ? nl : end);
        ls = nl ? nl + 1 : end;
    }
    if (!p->nomem)
        finish(p);
    qsort(p->err, p->n_err, sizeof p->err[0], err_cmp);
    for (size_t i = 0; errs && i < p->n_err; i++)
        vd_buf_printf(errs, "%s:%d:%d: %s\n", a->name, p->err[i].line, p->err[i].col, p->err[i].msg);
    if (errs && p->more_err)
        vd_buf_printf(errs, "%s: %zu more errors not shown\n", a->name, p->more_err);
    if (n_errs)
        *n_errs = p->n_err + p->more_err;
    if (p->n_err) {
        err = p->nomem ? VD_ENOMEM : VD_EINVAL;
        size_t more = p->n_err - 1 + p->more_err;
        vd_diag_set(d, 0, NULL, NULL, "%s:%d:%d: %s%s", a->name, p->err[0].line, p->err[0].col,
                    p->err[0].msg, more ? " (and more errors: run visitdav acl check)" : "");
        goto done;
    }
    *out = a;
    a = NULL;
    err = VD_OK;
done:
    if (err == VD_ENOMEM && !(p && p->n_err))
        vd_diag_set(d, 0, NULL, NULL, "%s: out of memory", name ? name : "acl");
    vd_acl_free(a);
    free(p);
    return err;
}

vd_err vd_acl_parse(const char *name, const char *text, size_t len, vd_acl **out, vd_diag *d)
{
    return build(name, text, len, out, NULL, NULL, d);
}

/* The whole file into *text (malloc'd); on failure a message in why. */
static vd_err read_file(const char *path, char **text, size_t *len, char *why, size_t why_len)
{
    vd_err err = VD_EIO;
    size_t cap = 0, n = 0;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    *text = NULL;
    if (!f) {
        snprintf(why, why_len, "%s: cannot read: %s", path, strerror(errno));
        return VD_EIO;
    }
    for (;;) {
        if (n > FILE_MAX) {
            err = VD_ETOOBIG;
            snprintf(why, why_len, "%s: larger than %u MiB", path, FILE_MAX >> 20);
            goto out;
        }
        if (n == cap) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!nb) {
                err = VD_ENOMEM;
                snprintf(why, why_len, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(why, why_len, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    *text = buf;
    *len = n;
    buf = NULL;
    err = VD_OK;
out:
    fclose(f);
    free(buf);
    return err;
}

vd_err vd_acl_load(const char *path, vd_acl **out, vd_diag *d)
{
    char *text = NULL, why[480];
    size_t len = 0;
    if (!path)
        return build("(built-in)", "", 0, out, NULL, NULL, d);
    *out = NULL;
    vd_err err = read_file(path, &text, &len, why, sizeof why);
    if (err == VD_OK)
        err = build(path, text, len, out, NULL, NULL, d);
    else
        vd_diag_set(d, 0, NULL, NULL, "%s", why);
    free(text);
    return err;
}

size_t vd_acl_check_text(const char *name, const char *text, size_t len, vd_buf *errors)
{
    vd_acl *a = NULL;
    size_t n = 0;
    vd_err err = build(name, text, len, &a, errors, &n, NULL);
    vd_acl_free(a);
    if (err != VD_OK && n == 0) {
        vd_buf_printf(errors, "%s: %s\n", name ? name : "acl", vd_strerror(err));
        n = 1;
    }
    return n;
}

size_t vd_acl_check_file(const char *path, vd_buf *errors)
{
    char *text = NULL, why[480];
    size_t len = 0;
    if (read_file(path, &text, &len, why, sizeof why) != VD_OK) {
        vd_buf_printf(errors, "%s\n", why);
        return 1;
    }
    size_t n = vd_acl_check_text(path, text, len, errors);
    free(text);
    return n;
}

/* ------------------------------------------------------------------ */
/* teams and roles                                                      */

size_t vd_acl_team_count(const vd_acl *a)
{
    return a ? a->n_teams : 0;
}

const char *vd_acl_team_name(const vd_acl *a, size_t i)
{
    return a && i < a->n_teams ? a->team[i].name : NULL;
}

static uint32_t team_id(const vd_acl *a, const char *team)
{
    return a && team ? nmap_get(&a->teams, team, strlen(team)) : ID_NONE;
}

static uint32_t user_id(const vd_acl *a, const char *user)
{
    return a && user ? nmap_get(&a->users, user, strlen(user)) : ID_NONE;
}

bool vd_acl_team_exists(const vd_acl *a, const char *team)
{
    return team_id(a, team) != ID_NONE;
}

bool vd_acl_is_member(const vd_acl *a, const char *team, const char *user)
{
    uint32_t t = team_id(a, team), u = user_id(a, user);
    return t != ID_NONE && u != ID_NONE && pset_has(&a->rel, REL(R_MEMBER, u, t));
}

bool vd_acl_is_manager(const vd_acl *a, const char *team, const char *user)
{
    uint32_t t = team_id(a, team), u = user_id(a, user);
    return t != ID_NONE && u != ID_NONE && pset_has(&a->rel, REL(R_MANAGER, u, t));
}

static const char *const *team_list(const vd_acl *a, const char *team, size_t *n_out, bool managers)
{
    uint32_t t = team_id(a, team);
    const list *l = t == ID_NONE ? NULL : managers ? &a->team[t].managers : &a->team[t].members;
    if (n_out)
        *n_out = l ? l->n : 0;
    return l ? l->names : NULL;
}

const char *const *vd_acl_team_members(const vd_acl *a, const char *team, size_t *n_out)
{
    return team_list(a, team, n_out, false);
}

const char *const *vd_acl_team_managers(const vd_acl *a, const char *team, size_t *n_out)
{
    return team_list(a, team, n_out, true);
}

const char *vd_acl_team_of(const vd_acl *a, const char *user)
{
    uint32_t u = user_id(a, user);
    if (u == ID_NONE || a->mt_off[u] == a->mt_off[u + 1])
        return NULL;
    return a->team[a->mt[a->mt_off[u]]].name;
}

bool vd_acl_has_role(const vd_acl *a, const char *role, const char *user)
{
    uint32_t r = a && role ? nmap_get(&a->roles, role, strlen(role)) : ID_NONE;
    uint32_t u = user_id(a, user);
    return r != ID_NONE && u != ID_NONE && pset_has(&a->rel, REL(R_ROLE, u, r));
}

size_t vd_acl_rule_count(const vd_acl *a)
{
    return a ? a->n_rules : 0;
}

/* ------------------------------------------------------------------ */
/* the server's holder: holder.c does the locking and reference counting;
 * this only knows how to load a file. */

struct vd_acldb {
    char *path;                 /* NULL: built-in rules only */
    vd_holder *h;               /* the vd_acl in force */
};

static void free_acl(void *a)
{
    vd_acl_free(a);
}

typedef struct reload_ctx { const char *path; vd_diag *d; } reload_ctx;

static vd_err load_acl(void *ctx, void **out)
{
    const reload_ctx *rc = ctx;
    vd_acl *a = NULL;
    vd_err err = vd_acl_load(rc->path, &a, rc->d);
    *out = a;
    return err;
}

vd_err vd_acldb_open(const char *path, vd_acldb **out, vd_diag *d)
{
    vd_err err = VD_ENOMEM;
    vd_acl *a = NULL;
    vd_acldb *db = calloc(1, sizeof *db);
    *out = NULL;
    if (!db || (path && !(db->path = strdup(path))))
        goto fail;
    if ((err = vd_acl_load(path, &a, d)) != VD_OK)
        goto fail;
    err = VD_ENOMEM;
    if (!(db->h = vd_holder_new(a, free_acl)))
        goto fail;
    *out = db;
    return VD_OK;
fail:
    vd_acl_free(a);
    if (db)
        free(db->path);
    free(db);
    return err;
}

vd_err vd_acldb_reload(vd_acldb *db, vd_diag *d)
{
    if (!db->path)
        return VD_OK;
    reload_ctx rc = { db->path, d };
    return vd_holder_reload(db->h, load_acl, &rc);
}

const vd_acl *vd_acldb_acquire(vd_acldb *db)
{
    return vd_holder_acquire(db->h);
}

void vd_acldb_release(vd_acldb *db, const vd_acl *a)
{
    if (db)
        vd_holder_release(db->h, a);
}

void vd_acldb_close(vd_acldb *db)
{
    if (!db)
        return;
    vd_holder_free(db->h);
    free(db->path);
    free(db);
}
