/* acl_int.h - internal to acl.c (parser, teams, holder) and
 * acl_explain.c (the check and explain): the compiled form of an ACL
 * file and the two lookup tables both read.  Not for any other file:
 * the public contract is acl.h.  A vd_acl is immutable once built. */
#ifndef VD_ACL_INT_H
#define VD_ACL_INT_H

#include "acl.h"
#include "hash.h"

#include <stdint.h>
#include <string.h>

#define PAT_SEGS    32            /* segments per pattern */
#define ID_NONE     UINT32_MAX

/* ------------------------------------------------------------------ */
/* nmap: name -> dense index; pset: a set of nonzero 64-bit keys        */
/* (lookups inline: the check makes several per request)               */

typedef struct nslot { const char *key; uint32_t len, id; uint64_t h; } nslot;
typedef struct nmap { nslot *s; size_t cap, n; } nmap;

static inline size_t nmap_slot(const nmap *m, const char *k, size_t n, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const nslot *e = &m->s[i];
        if (!e->key || (e->h == h && e->len == n && memcmp(e->key, k, n) == 0))
            return i;
    }
}

static inline uint32_t nmap_get(const nmap *m, const char *k, size_t n)
{
    if (!m->cap)
        return ID_NONE;
    const nslot *e = &m->s[nmap_slot(m, k, n, vd_hash64(k, n))];
    return e->key ? e->id : ID_NONE;
}

typedef struct pset { uint64_t *k; size_t cap, n; } pset;

enum { R_MEMBER = 1, R_MANAGER, R_ROLE };
#define REL(r, a, b) (((uint64_t)(r) << 60) | ((uint64_t)(a) << 30) | (uint64_t)(b))

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline size_t pset_slot(const pset *s, uint64_t key)
{
    size_t mask = s->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask)
        if (s->k[i] == key || s->k[i] == 0)
            return i;
}

static inline bool pset_has(const pset *s, uint64_t key)
{
    return s->cap && s->k[pset_slot(s, key)] == key;
}

/* ------------------------------------------------------------------ */
/* the loaded file                                                      */

typedef struct list { const char **names; uint32_t *ids; size_t n, cap; } list;

/* a team (members, managers) or a role (members only) */
typedef struct group { const char *name; int line; list members, managers; } group;

enum { S_LIT, S_STAR, S_USER, S_TEAM, S_MANAGED, S_TEAMMATE, S_REPORT };
typedef struct pseg { uint8_t kind; uint32_t len; const char *lit; } pseg;

enum { J_EVERYONE, J_USER, J_TEAM, J_MANAGERS, J_ROLE };

typedef struct rule {
    int line;                /* 0: built-in */
    unsigned privs;          /* closure applied */
    uint8_t subj;            /* J_* */
    uint32_t subj_id;        /* user, team or role index */
    const char *subj_name;   /* team/role name until resolved at the end */
    int subj_col;
    bool dstar;              /* the pattern ends in '**' */
    uint32_t nseg;           /* segments before any '**' */
    const pseg *seg;
    const char *text;        /* the line as written, without its comment */
} rule;

struct vd_acl {
    char *name;              /* the file, for messages */
    struct chunk *arena;     /* acl.c's allocator: every string and pattern */
    nmap users, teams, roles;
    const char **user; size_t n_users, cap_users;
    group *team; size_t n_teams, cap_teams;
    group *role; size_t n_roles, cap_roles;
    pset rel;
    uint32_t *mt_off, *mt;   /* mt[mt_off[u] .. mt_off[u+1]): teams u is a member of */
    uint8_t *in_team;        /* u is a member or manager of some team */
    rule *rule; size_t n_rules, cap_rules;
};

#endif
