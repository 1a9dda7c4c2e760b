/* customers.c - the customer directory: conf/customers.csv parsed into an
 * immutable vd_customers, the index that recognises a customer in an
 * event's text, and the reference-counted holder the server reloads on
 * SIGHUP.  The only includer of libunistring.  Must not do I/O beyond
 * reading the one file, and must not know about iCalendar or the store.
 *
 * Normalisation: every name, alias, id and every text looked at is put
 * through fold(): NFKC case folding (u8_casefold, so "MÜLLER", "Müller",
 * "Mu\u0308ller" and full-width "ＭＵＬＬＥＲ" are the same bytes), runs
 * of white space collapsed to one space, ends trimmed.  Pure ASCII takes a
 * fast path (NFKC is the identity there and folding is tolower).
 *
 * Text index: an Aho-Corasick automaton over the bytes of the folded
 * UTF-8 of every name and alias, built once at load.  identify() folds a
 * text once and walks it byte by byte, so its cost is linear in the text
 * length (plus the matches found), independent of the number of
 * customers.  Layout: the trie is built from the sorted patterns (no
 * hashing: a pattern shares exactly its common prefix with the previous
 * one), then renumbered breadth-first so that the children of a node are
 * consecutive ids with sorted edge bytes (a binary search; the root has a
 * full 256-entry table).  Failure links and "dictionary" links (the next
 * shorter pattern ending at the same place) are computed in that same
 * breadth-first pass.  About 20 bytes per trie node.
 *
 * Word boundaries: a name whose first (last) character is a letter or
 * digit of a non-CJK script only matches if the text character before
 * (after) it is absent, not a letter or digit, or a CJK character (Chinese
 * writing puts Latin names between ideographs without spaces: "拜访SAP公司").
 * Names made of CJK characters match as plain substrings.  Longest match
 * in code points wins, ties go to the customer first in the file.
 *
 * Id, whole-name and domain lookups use open-addressing hash tables keyed
 * by the folded string (domains: lower-case ASCII). */
#include "customers.h"
#include "hash.h"
#include "holder.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#define FILE_MAX      (64u << 20)    /* bytes per file */
#define FIELD_MAX     4096           /* bytes per field */
#define CUSTOMERS_MAX 1000000
#define PATTERNS_MAX  (128u << 20)   /* folded name and alias bytes: the trie's size */
#define NCOLS         5

static const char *const col_name[NCOLS] = {"id", "name", "aliases", "domains", "address"};

/* ------------------------------------------------------------------ */
/* arena: every string of a directory lives in a few big chunks         */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

typedef struct arena { chunk *head; } arena;

static void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 60000 ? n : 60000;
        chunk *c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static char *arena_strndup(arena *a, const void *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void arena_free(arena *a)
{
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------ */
/* smap: folded string -> customer index; the first insert of a key wins */

typedef struct smap_ent {
    const uint8_t *key;   /* borrowed from the arena; NULL = empty slot */
    uint32_t len, val;
    uint64_t h;
} smap_ent;

typedef struct smap { smap_ent *e; size_t cap, n; } smap;

static smap_ent *smap_slot(const smap *m, const void *k, size_t n, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        smap_ent *e = &m->e[i];
        if (!e->key || (e->h == h && e->len == n && memcmp(e->key, k, n) == 0))
            return e;
    }
}

static bool smap_get(const smap *m, const void *k, size_t n, uint32_t *val)
{
    if (!m->cap)
        return false;
    smap_ent *e = smap_slot(m, k, n, vd_hash64(k, n));
    if (!e->key)
        return false;
    *val = e->val;
    return true;
}

/* 0 added, 1 key already there (*old set, nothing changed), -1 no memory */
static int smap_add(smap *m, const uint8_t *k, size_t n, uint32_t val, uint32_t *old)
{
    if ((m->n + 1) * 2 > m->cap) {   /* keep the load at most 1/2 */
        smap bigger = {calloc(m->cap ? m->cap * 2 : 64, sizeof(smap_ent)), m->cap ? m->cap * 2 : 64, m->n};
        if (!bigger.e)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key)
                *smap_slot(&bigger, m->e[i].key, m->e[i].len, m->e[i].h) = m->e[i];
        free(m->e);
        *m = bigger;
    }
    uint64_t h = vd_hash64(k, n);
    smap_ent *e = smap_slot(m, k, n, h);
    if (e->key) {
        if (old)
            *old = e->val;
        return 1;
    }
    *e = (smap_ent){k, (uint32_t)n, val, h};
    m->n++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* normalisation                                                        */

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Collapse runs of ASCII white space to one ' ' and trim, in place.  After
 * NFKC the other spaces (NBSP, U+3000, ...) have become U+0020. */
static size_t squeeze(uint8_t *s, size_t n)
{
    size_t o = 0;
    bool pending = false;
    for (size_t i = 0; i < n; i++) {
        if (is_space(s[i])) {
            pending = o > 0;
            continue;
        }
        if (pending)
            s[o++] = ' ';
        pending = false;
        s[o++] = s[i];
    }
    return o;
}

/* A copy of s with each invalid UTF-8 sequence replaced by U+FFFD. */
static uint8_t *repair_utf8(const uint8_t *s, size_t n, size_t *outn)
{
    uint8_t *r = malloc(n * 3 + 1), *o = r;
    if (!r)
        return NULL;
    for (size_t i = 0; i < n;) {
        ucs4_t uc;
        int k = u8_mbtoucr(&uc, s + i, n - i);
        if (k < 0) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(o, s + i, (size_t)k);
        o += k;
        i += (size_t)k;
    }
    *outn = (size_t)(o - r);
    return r;
}

/* Fold s[0..n) for matching (see the file head).  The result is buf when
 * it fits in bufsz bytes, else malloc'd (free it when != buf); NULL when
 * out of memory. */
static uint8_t *fold(const char *s, size_t n, uint8_t *buf, size_t bufsz, size_t *outn)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n && u[i] < 0x80)
        i++;
    if (i == n) {   /* ASCII: NFKC is the identity, folding is tolower */
        uint8_t *r = n <= bufsz ? buf : malloc(n + 1);
        if (!r)
            return NULL;
        for (i = 0; i < n; i++)
            r[i] = (u[i] >= 'A' && u[i] <= 'Z') ? (uint8_t)(u[i] + 32) : u[i];
        *outn = squeeze(r, n);
        return r;
    }
    uint8_t *fixed = NULL;
    if (u8_check(u, n)) {
        if (!(fixed = repair_utf8(u, n, &n)))
            return NULL;
        u = fixed;
    }
    size_t len = bufsz;
    uint8_t *r = u8_casefold(u, n, NULL, UNINORM_NFKC, buf, &len);
    free(fixed);
    if (!r)
        return NULL;
    *outn = squeeze(r, len);
    return r;
}

/* Fold into the arena (load time). */
static const uint8_t *fold_keep(arena *a, const char *s, size_t n, size_t *outn)
{
    uint8_t tmp[512];
    uint8_t *f = fold(s, n, tmp, sizeof tmp, outn);
    if (!f)
        return NULL;
    const uint8_t *k = (const uint8_t *)arena_strndup(a, f, *outn);
    if (f != tmp)
        free(f);
    return k;
}

/* ------------------------------------------------------------------ */
/* Unicode classes for word boundaries                                  */

static const uc_script_t *script_han, *script_hira, *script_kata, *script_hangul;
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void scripts_init(void)
{
    script_han = uc_script_byname("Han");
    script_hira = uc_script_byname("Hiragana");
    script_kata = uc_script_byname("Katakana");
    script_hangul = uc_script_byname("Hangul");
}

/* CJK ideographs, kana (with the prolonged sound mark) and Hangul. */
static bool is_cjk(ucs4_t uc)
{
    if (uc < 0x1100)
        return false;
    pthread_once(&scripts_once, scripts_init);
    const uc_script_t *s = uc_script(uc);
    return uc == 0x30FC ||
           (s && (s == script_han || s == script_hira || s == script_kata || s == script_hangul));
}

/* Does a name edge with this character need a word boundary in the text? */
static bool wants_boundary(ucs4_t uc) { return uc_is_alnum(uc) && !is_cjk(uc); }

/* Is the neighbour character a boundary for a Latin-edged name? */
static bool is_boundary(ucs4_t uc) { return !uc_is_alnum(uc) || is_cjk(uc); }

/* ------------------------------------------------------------------ */
/* the directory                                                        */

typedef struct cust {
    vd_customer pub;
    uint32_t line;          /* where its record starts, for messages */
} cust;

typedef struct pat {        /* one name or alias in the automaton */
    const uint8_t *s;       /* folded bytes (arena) */
    uint32_t len, cps;      /* bytes, code points */
    uint32_t cust;
    uint8_t need_left, need_right;
} pat;

typedef struct ac {
    uint32_t n_nodes;
    uint32_t *first;        /* first child (children are consecutive ids); owns the block */
    uint16_t *nchild;
    uint8_t  *byte;         /* byte on the edge into the node, sorted among siblings */
    uint32_t *fail;
    uint32_t *dict;         /* next node in the failure chain that ends a pattern */
    uint32_t *term;         /* pattern index + 1 when the node ends a pattern */
    uint32_t root_next[256];
    pat *pats;              /* final, deduplicated patterns */
    uint32_t n_pats;
} ac;

struct vd_customers {
    cust *items;
    size_t n, cap;
    arena ar;
    smap ids, names, domains;
    pat *pin;               /* patterns collected while loading */
    size_t n_pin, cap_pin, pin_bytes;
    ac ac;
};

size_t vd_customers_count(const vd_customers *c) { return c ? c->n : 0; }

const vd_customer *vd_customers_at(const vd_customers *c, size_t i)
{
    return c && i < c->n ? &c->items[i].pub : NULL;
}

const vd_customer *vd_customers_by_id(const vd_customers *c, const char *id)
{
    if (!c || !id)
        return NULL;
    uint8_t tmp[256];
    size_t n;
    uint8_t *f = fold(id, strlen(id), tmp, sizeof tmp, &n);
    uint32_t i;
    bool ok = f && smap_get(&c->ids, f, n, &i);
    if (f != tmp)
        free(f);
    return ok ? &c->items[i].pub : NULL;
}

static void ac_free(ac *a)
{
    free(a->first);   /* the block of every node array */
    free(a->pats);
    memset(a, 0, sizeof *a);
}

void vd_customers_free(vd_customers *c)
{
    if (!c)
        return;
    ac_free(&c->ac);
    free(c->pin);
    free(c->ids.e);
    free(c->names.e);
    free(c->domains.e);
    free(c->items);
    arena_free(&c->ar);
    free(c);
}

/* ------------------------------------------------------------------ */
/* Aho-Corasick: build                                                  */

static int pat_cmp(const void *a, const void *b)
{
    const pat *x = a, *y = b;
    int r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    if (r)
        return r;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->cust < y->cust ? -1 : x->cust > y->cust;
}

static uint32_t lcp(const pat *a, const pat *b)
{
    uint32_t n = a->len < b->len ? a->len : b->len, i = 0;
    while (i < n && a->s[i] == b->s[i])
        i++;
    return i;
}

static inline uint32_t ac_go(const ac *a, uint32_t s, uint8_t b)
{
    if (s == 0)
        return a->root_next[b];
    uint32_t lo = a->first[s], n = a->nchild[s];
    while (n > 0) {
        uint32_t half = n / 2;
        if (a->byte[lo + half] < b) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo < a->first[s] + a->nchild[s] && a->byte[lo] == b ? lo : 0;
}

/* The temporary depth-first trie: first child / next sibling lists. */
typedef struct tmp_trie { uint32_t *first, *next, *term; uint8_t *byte; } tmp_trie;

/* Insert the sorted patterns; duplicates keep the first (lowest customer).
 * Fills a->pats.  Node 0 is the root. */
static void trie_insert(const pat *in, size_t n, tmp_trie *t, ac *a, uint32_t *path, uint32_t *lastc)
{
    uint32_t nn = 1;
    path[0] = 0;
    lastc[0] = 0;
    t->first[0] = t->next[0] = t->term[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = i ? lcp(&in[i - 1], &in[i]) : 0;
        if (i && l == in[i].len && l == in[i - 1].len)
            continue;   /* same text as the previous: file order keeps that one */
        for (uint32_t d = l; d < in[i].len; d++) {
            uint32_t v = nn++;
            t->byte[v] = in[i].s[d];
            t->first[v] = t->next[v] = t->term[v] = 0;
            if (lastc[d])
                t->next[lastc[d]] = v;
            else
                t->first[path[d]] = v;
            lastc[d] = v;
            path[d + 1] = v;
            lastc[d + 1] = 0;
        }
        a->pats[a->n_pats] = in[i];
        t->term[path[in[i].len]] = ++a->n_pats;
    }
}

/* Renumber breadth-first (children consecutive) and compute the failure
 * and dictionary links in the same pass: a node's failure target is
 * shallower, so it is already laid out when the node's children are. */
static void ac_layout(ac *a, const tmp_trie *t, uint32_t *q)
{
    uint32_t tail = 1;
    q[0] = 0;
    a->fail[0] = a->dict[0] = a->term[0] = 0;
    for (uint32_t head = 0; head < tail; head++) {
        a->first[head] = tail;
        for (uint32_t c = t->first[q[head]]; c; c = t->next[c]) {
            q[tail] = c;
            a->byte[tail] = t->byte[c];
            a->term[tail] = t->term[c];
            tail++;
        }
        a->nchild[head] = (uint16_t)(tail - a->first[head]);
        for (uint32_t v = a->first[head]; v < tail; v++) {
            uint32_t g = 0;
            if (head == 0) {
                a->root_next[a->byte[v]] = v;
            } else {
                for (uint32_t f = a->fail[head];; f = a->fail[f]) {
                    g = ac_go(a, f, a->byte[v]);
                    if (g || f == 0)
                        break;
                }
            }
            a->fail[v] = g;
            a->dict[v] = a->term[g] ? g : a->dict[g];
        }
    }
}

static vd_err ac_build(ac *a, pat *in, size_t n)
{
    vd_err err = VD_ENOMEM;
    size_t nodes = 1, maxlen = 0;
    uint32_t *tmp = NULL;

    if (n)
        qsort(in, n, sizeof *in, pat_cmp);
    for (size_t i = 0; i < n; i++) {
        nodes += in[i].len - (i ? lcp(&in[i - 1], &in[i]) : 0);
        if (in[i].len > maxlen)
            maxlen = in[i].len;
    }
    if (nodes > UINT32_MAX / 2)
        return VD_ETOOBIG;
    memset(a, 0, sizeof *a);
    a->n_nodes = (uint32_t)nodes;
    /* one block for the node arrays, one for the temporary trie */
    a->first = malloc(nodes * (4 * 4 + 2 + 1));
    a->pats = malloc((n ? n : 1) * sizeof *a->pats);
    tmp = malloc(nodes * (4 * 4 + 1) + (maxlen + 2) * 4 * 2);
    if (!a->first || !a->pats || !tmp)
        goto out;
    a->fail = a->first + nodes;
    a->dict = a->fail + nodes;
    a->term = a->dict + nodes;
    a->nchild = (uint16_t *)(a->term + nodes);
    a->byte = (uint8_t *)(a->nchild + nodes);
    tmp_trie t = {tmp, tmp + nodes, tmp + 2 * nodes, NULL};
    uint32_t *q = tmp + 3 * nodes, *path = q + nodes, *lastc = path + maxlen + 2;
    t.byte = (uint8_t *)(lastc + maxlen + 2);
    trie_insert(in, n, &t, a, path, lastc);
    ac_layout(a, &t, q);
    err = VD_OK;
out:
    if (err)
        ac_free(a);
    free(tmp);
    return err;
}

/* ------------------------------------------------------------------ */
/* Aho-Corasick: search                                                 */

typedef struct best { const pat *p; } best;

static bool edge_ok(const uint8_t *s, size_t n, size_t start, size_t end, const pat *p)
{
    ucs4_t uc;
    if (p->need_left && start > 0 && u8_prev(&uc, s + start, s) && !is_boundary(uc))
        return false;
    if (p->need_right && end < n && u8_mbtouc(&uc, s + end, n - end) > 0 && !is_boundary(uc))
        return false;
    return true;
}

/* The longest (then first in file order) pattern in the folded text. */
static const pat *ac_scan(const ac *a, const uint8_t *s, size_t n)
{
    const pat *bestp = NULL;
    uint32_t st = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t nx;
        for (;;) {
            nx = ac_go(a, st, s[i]);
            if (nx || st == 0)
                break;
            st = a->fail[st];
        }
        st = nx;
        for (uint32_t t = a->term[st] ? st : a->dict[st]; t; t = a->dict[t]) {
            const pat *p = &a->pats[a->term[t] - 1];
            if (bestp && (p->cps < bestp->cps || (p->cps == bestp->cps && p->cust >= bestp->cust)))
                continue;
            if (edge_ok(s, n, i + 1 - p->len, i + 1, p))
                bestp = p;
        }
    }
    return bestp;
}

/* ------------------------------------------------------------------ */
/* identify                                                             */

static const vd_customer *in_text(const vd_customers *c, const char *text)
{
    if (!text || !*text || c->ac.n_pats == 0)
        return NULL;
    uint8_t tmp[2048];
    size_t n;
    uint8_t *f = fold(text, strlen(text), tmp, sizeof tmp, &n);
    if (!f)
        abort();   /* as vd_buf: out of memory is not recoverable, and a
                      silent "no customer" would skip the customer rules */
    const pat *p = ac_scan(&c->ac, f, n);
    if (f != tmp)
        free(f);
    return p ? &c->items[p->cust].pub : NULL;
}

static const vd_customer *by_property(const vd_customers *c, const char *v)
{
    uint8_t tmp[512];
    size_t n;
    uint8_t *f = fold(v, strlen(v), tmp, sizeof tmp, &n);
    if (!f)
        abort();
    uint32_t i;
    bool ok = n > 0 && (smap_get(&c->ids, f, n, &i) || smap_get(&c->names, f, n, &i));
    if (f != tmp)
        free(f);
    return ok ? &c->items[i].pub : NULL;
}

/* "mailto:Bob@Sales.ACME.de" -> sales.acme.de, then acme.de; never "de". */
static const vd_customer *by_attendee(const vd_customers *c, const char *a)
{
    while (*a && is_space((uint8_t)*a))
        a++;
    if (strncasecmp(a, "mailto:", 7) == 0)
        a += 7;
    const char *at = strrchr(a, '@');
    if (!at)
        return NULL;
    const char *d = at + 1;
    size_t n = strlen(d);
    while (n && (is_space((uint8_t)d[n - 1]) || d[n - 1] == '>' || d[n - 1] == '.'))
        n--;
    char dom[256];
    if (n == 0 || n >= sizeof dom)
        return NULL;
    for (size_t i = 0; i < n; i++)
        dom[i] = (d[i] >= 'A' && d[i] <= 'Z') ? (char)(d[i] + 32) : d[i];
    for (const char *p = dom, *end = dom + n; p < end;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot)
            break;   /* a bare top-level domain names nobody */
        uint32_t i;
        if (smap_get(&c->domains, p, (size_t)(end - p), &i))
            return &c->items[i].pub;
        p = dot + 1;
    }
    return NULL;
}

/* An X-VISIT-CUSTOMER that names nobody falls through to the next steps
 * (the caller sees how != VD_MATCH_PROPERTY and may treat it as
 * "looks like a visit" for required-fields). */
const vd_customer *vd_customers_identify(const vd_customers *c, const vd_visit_text *t,
                                         vd_match_source *how)
{
    const vd_customer *r = NULL;
    vd_match_source src = VD_MATCH_NONE;
    if (!c || !t)
        goto out;
    if (t->x_customer && (r = by_property(c, t->x_customer))) {
        src = VD_MATCH_PROPERTY;
        goto out;
    }
    for (size_t i = 0; t->attendees && i < t->n_attendees; i++)
        if (t->attendees[i] && (r = by_attendee(c, t->attendees[i]))) {
            src = VD_MATCH_ATTENDEE;
            goto out;
        }
    if ((r = in_text(c, t->location))) {
        src = VD_MATCH_LOCATION;
        goto out;
    }
    if ((r = in_text(c, t->summary)))
        src = VD_MATCH_SUMMARY;
out:
    if (how)
        *how = src;
    return r;
}

/* ------------------------------------------------------------------ */
/* CSV reading (RFC 4180, with comments, blank lines and a BOM)         */

typedef struct rec {
    unsigned line;                  /* where the record starts */
    size_t nf;
    size_t len[NCOLS];
    char f[NCOLS][FIELD_MAX + 1];
} rec;

typedef struct reader {
    const char *p, *end;
    unsigned line;
    size_t ncols;
    char err[400];
} reader;

static int fail(reader *r, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(reader *r, unsigned line, const char *fmt, ...)
{
    int n = snprintf(r->err, sizeof r->err, "%u: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void eol(reader *r)
{
    if (r->p < r->end && *r->p == '\r') {
        r->p++;
        if (r->p < r->end && *r->p == '\n')
            r->p++;   /* CRLF */
    } else if (r->p < r->end && *r->p == '\n') {
        r->p++;
    }
    r->line++;
}

/* Skip blank lines and '#' comment lines; false at the end of input. */
static bool skip_noise(reader *r)
{
    while (r->p < r->end) {
        const char *q = r->p;
        while (q < r->end && (*q == ' ' || *q == '\t'))
            q++;
        bool blank = q == r->end || *q == '\n' || *q == '\r';
        if (!blank && *r->p != '#')
            return true;
        while (q < r->end && *q != '\n' && *q != '\r')
            q++;
        r->p = q;
        eol(r);
    }
    return false;
}

static int put(reader *r, rec *rc, size_t k, char c)
{
    if (rc->len[k] == FIELD_MAX)
        return fail(r, rc->line, "%s longer than %d bytes", col_name[k], FIELD_MAX);
    rc->f[k][rc->len[k]++] = c;
    return 0;
}

static int read_quoted(reader *r, rec *rc, size_t k)
{
    r->p++;
    for (;;) {
        if (r->p >= r->end)
            return fail(r, rc->line, "unterminated quote");
        char c = *r->p++;
        if (c == '"') {
            if (r->p == r->end || *r->p != '"')
                break;
            r->p++;
        } else if (c == '\r' || c == '\n') {   /* a line break inside quotes */
            if (c == '\r' && r->p < r->end && *r->p == '\n')
                r->p++;
            c = '\n';
            r->line++;
        }
        if (put(r, rc, k, c) < 0)
            return -1;
    }
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
        r->p++;
    if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r')
        return fail(r, rc->line, "text after the closing quote of %s", col_name[k]);
    return 0;
}

static int read_plain(reader *r, rec *rc, size_t k)
{
    while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
        if (*r->p == '"')
            return fail(r, rc->line, "quote inside unquoted %s (quote the whole field)",
                        col_name[k]);
        if (put(r, rc, k, *r->p++) < 0)
            return -1;
    }
    while (rc->len[k] && (rc->f[k][rc->len[k] - 1] == ' ' || rc->f[k][rc->len[k] - 1] == '\t'))
        rc->len[k]--;
    return 0;
}

/* 1 = a record in *rc, 0 = end of input, -1 = error in r->err. */
static int read_record(reader *r, rec *rc)
{
    if (!skip_noise(r))
        return 0;
    rc->line = r->line;
    rc->nf = 0;
    for (;;) {
        size_t k = rc->nf;
        if (k >= r->ncols)
            return fail(r, rc->line, "more than %zu fields", r->ncols);
        rc->nf++;
        rc->len[k] = 0;
        while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
            r->p++;
        int e = (r->p < r->end && *r->p == '"') ? read_quoted(r, rc, k) : read_plain(r, rc, k);
        if (e < 0)
            return -1;
        rc->f[k][rc->len[k]] = '\0';
        if (r->p >= r->end)
            return 1;
        if (*r->p != ',') {
            eol(r);
            return 1;
        }
        r->p++;
    }
}

static int read_header(reader *r, rec *rc)
{
    r->ncols = NCOLS;
    int e = read_record(r, rc);
    if (e < 0)
        return -1;
    if (e == 0)
        return fail(r, r->line, "missing header line id,name,aliases,domains,address");
    bool ok = rc->nf >= 2;
    for (size_t k = 0; ok && k < rc->nf; k++)
        ok = strcasecmp(rc->f[k], col_name[k]) == 0;
    if (!ok)
        return fail(r, rc->line, "header must be id,name,aliases,domains,address");
    r->ncols = rc->nf;
    return 0;
}

/* ------------------------------------------------------------------ */
/* rows                                                                 */

/* s, at most 60 bytes and cut at a character boundary, for messages. */
static const char *clip(const char *s, char out[64])
{
    size_t n = strlen(s);
    if (n > 60) {
        n = 60;
        while (n && ((uint8_t)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static bool domain_ok(const char *d, size_t n)
{
    size_t dots = 0, lab = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (c == '.') {
            if (lab == 0 || d[i - 1] == '-')
                return false;
            dots++;
            lab = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && lab > 0)) {
            if (++lab > 63)
                return false;
        } else {
            return false;
        }
    }
    return lab > 0 && d[n - 1] != '-' && dots >= 1;   /* never a bare top-level domain */
}

static int check_chars(reader *r, const rec *rc)
{
    for (size_t k = 0; k < rc->nf; k++) {
        const uint8_t *s = (const uint8_t *)rc->f[k];
        if (u8_check(s, rc->len[k]))
            return fail(r, rc->line, "invalid UTF-8 in %s", col_name[k]);
        for (size_t i = 0; i < rc->len[k]; i++)
            if ((s[i] < 0x20 || s[i] == 0x7F) &&
                !(k == 4 && (s[i] == '\n' || s[i] == '\t')))
                return fail(r, rc->line, "control character in %s", col_name[k]);
    }
    return 0;
}

/* Next ';'-separated item of *s, trimmed; false when none is left. */
static bool next_item(char **s, char **item, size_t *n)
{
    while (**s) {
        char *p = *s, *semi = strchr(p, ';');
        char *e = semi ? semi : p + strlen(p);
        *s = semi ? semi + 1 : e;
        while (p < e && is_space((uint8_t)*p))
            p++;
        while (e > p && is_space((uint8_t)e[-1]))
            e--;
        if (e > p) {
            *item = p;
            *n = (size_t)(e - p);
            return true;
        }
    }
    return false;
}

static int add_pattern(vd_customers *c, const uint8_t *s, size_t n, uint32_t ci)
{
    if (c->n_pin == c->cap_pin) {
        size_t cap = c->cap_pin ? c->cap_pin * 2 : 256;
        pat *p = realloc(c->pin, cap * sizeof *p);
        if (!p)
            return -1;
        c->pin = p;
        c->cap_pin = cap;
    }
    ucs4_t first, last;
    u8_mbtouc(&first, s, n);
    u8_prev(&last, s + n, s);
    c->pin_bytes += n;
    c->pin[c->n_pin++] = (pat){s, (uint32_t)n, (uint32_t)u8_mbsnlen(s, n), ci,
                                wants_boundary(first), wants_boundary(last)};
    return 0;
}

/* A folded name or alias: into the whole-name map and the automaton.
 * Returns 1 when this customer already has the same folded text. */
static int add_name(vd_customers *c, const char *s, size_t n, uint32_t ci)
{
    size_t fn;
    const uint8_t *f = fold_keep(&c->ar, s, n, &fn);
    if (!f)
        return -1;
    if (fn == 0)
        return 1;
    uint32_t old;
    int e = smap_add(&c->names, f, fn, ci, &old);
    if (e < 0)
        return -1;
    if (e == 1 && old == ci)
        return 1;
    return add_pattern(c, f, fn, ci) < 0 ? -1 : 0;
}

/* Trim a quoted field (unquoted ones are trimmed while read). */
static void trim_field(rec *rc, size_t k)
{
    char *s = rc->f[k];
    size_t a = 0, n = rc->len[k];
    while (a < n && is_space((uint8_t)s[a]))
        a++;
    while (n > a && is_space((uint8_t)s[n - 1]))
        n--;
    memmove(s, s + a, n - a);
    rc->len[k] = n - a;
    s[rc->len[k]] = '\0';
}

static size_t count_items(const char *s)
{
    size_t n = 1;
    for (; *s; s++)
        n += *s == ';';
    return n;
}

/* -2: out of memory, -1: bad row (r->err), 0: added. */
static int add_aliases(vd_customers *c, rec *rc, cust *u, uint32_t ci)
{
    const char **al = arena_alloc(&c->ar, count_items(rc->f[2]) * sizeof *al);
    if (!al)
        return -2;
    char *s = rc->f[2], *item;
    size_t n;
    while (next_item(&s, &item, &n)) {
        int e = add_name(c, item, n, ci);
        if (e < 0)
            return -2;
        if (e == 0 && !(al[u->pub.n_aliases++] = arena_strndup(&c->ar, item, n)))
            return -2;
    }
    u->pub.aliases = al;
    return 0;
}

static int add_domains(vd_customers *c, reader *r, rec *rc, cust *u, uint32_t ci)
{
    const char **dl = arena_alloc(&c->ar, count_items(rc->f[3]) * sizeof *dl);
    if (!dl)
        return -2;
    char *s = rc->f[3], *item, cb[64], cb2[64];
    size_t n;
    while (next_item(&s, &item, &n)) {
        char *src = item;
        size_t sn = n;
        if (*src == '@')
            src++, sn--;
        while (sn && src[sn - 1] == '.')
            sn--;
        char *low = arena_strndup(&c->ar, src, sn);
        if (!low)
            return -2;
        for (size_t i = 0; i < sn; i++)
            low[i] = (low[i] >= 'A' && low[i] <= 'Z') ? (char)(low[i] + 32) : low[i];
        item[n] = '\0';   /* for the message; the item is not read again */
        if (!domain_ok(low, sn))
            return fail(r, rc->line, "bad domain '%s'", clip(item, cb));
        uint32_t old;
        int e = smap_add(&c->domains, (const uint8_t *)low, sn, ci, &old);
        if (e < 0)
            return -2;
        if (e == 1 && old != ci)
            return fail(r, rc->line, "domain '%s' already belongs to '%s' (line %u)",
                        clip(low, cb), clip(c->items[old].pub.id, cb2), c->items[old].line);
        if (e == 0)
            dl[u->pub.n_domains++] = low;
    }
    u->pub.domains = dl;
    return 0;
}

static int add_row(vd_customers *c, reader *r, rec *rc)
{
    char cb[64];
    if (check_chars(r, rc) < 0)
        return -1;
    for (size_t k = 0; k < NCOLS; k++) {
        if (k >= rc->nf) {
            rc->len[k] = 0;
            rc->f[k][0] = '\0';
        }
        trim_field(rc, k);
    }
    if (!rc->len[0])
        return fail(r, rc->line, "missing id");
    if (!rc->len[1])
        return fail(r, rc->line, "missing name");
    if (c->n >= CUSTOMERS_MAX)
        return fail(r, rc->line, "more than %d customers", CUSTOMERS_MAX);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        cust *it = realloc(c->items, cap * sizeof *it);
        if (!it)
            return -2;
        c->items = it;
        c->cap = cap;
    }
    uint32_t ci = (uint32_t)c->n, old;
    cust *u = &c->items[ci];
    memset(u, 0, sizeof *u);
    u->line = rc->line;
    size_t fn;
    const uint8_t *fid = fold_keep(&c->ar, rc->f[0], rc->len[0], &fn);
    if (!fid)
        return -2;
    int e = smap_add(&c->ids, fid, fn, ci, &old);
    if (e < 0)
        return -2;
    if (e == 1)   /* ids compare case-insensitively, so must differ so */
        return fail(r, rc->line, "duplicate id '%s' (first on line %u)",
                    clip(rc->f[0], cb), c->items[old].line);
    u->pub.id = arena_strndup(&c->ar, rc->f[0], rc->len[0]);
    u->pub.name = arena_strndup(&c->ar, rc->f[1], rc->len[1]);
    u->pub.address = arena_strndup(&c->ar, rc->f[4], rc->len[4]);
    if (!u->pub.id || !u->pub.name || !u->pub.address)
        return -2;
    if ((e = add_name(c, rc->f[1], rc->len[1], ci)) < 0)
        return -2;
    if (e == 1)
        return fail(r, rc->line, "missing name");
    if ((e = add_aliases(c, rc, u, ci)) < 0 || (e = add_domains(c, r, rc, u, ci)) < 0)
        return e;
    if (c->pin_bytes > PATTERNS_MAX)
        return fail(r, rc->line, "names and aliases exceed %u MiB in total", PATTERNS_MAX >> 20);
    c->n++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* loading                                                              */

static vd_customers *empty_dir(void)
{
    vd_customers *c = calloc(1, sizeof *c);
    if (c && ac_build(&c->ac, NULL, 0) != VD_OK) {
        free(c);
        c = NULL;
    }
    return c;
}

vd_err vd_customers_parse(const char *name, const char *text, size_t len,
                          vd_customers **out, vd_diag *d)
{
    vd_err err = VD_ENOMEM;
    vd_customers *c = NULL;
    rec *rc = malloc(sizeof *rc);
    reader r = {text, text + len, 1, NCOLS, ""};
    if (!name)
        name = "customers";
    *out = NULL;
    if (!rc || !(c = calloc(1, sizeof *c)))
        goto out;
    err = VD_EINVAL;
    if (len > FILE_MAX) {
        vd_diag_set(d, 0, NULL, NULL, "%s: larger than %u MiB", name, FILE_MAX >> 20);
        goto out;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.p += 3;   /* a UTF-8 byte order mark, as spreadsheets write it */
    int e = read_header(&r, rc);
    while (e == 0 && (e = read_record(&r, rc)) == 1)
        e = add_row(c, &r, rc);
    if (e == -2) {
        err = VD_ENOMEM;
        goto out;
    }
    if (e < 0) {
        vd_diag_set(d, 0, NULL, NULL, "%s:%s", name, r.err);
        goto out;
    }
    if ((err = ac_build(&c->ac, c->pin, c->n_pin)) != VD_OK)
        goto out;
    free(c->pin);
    c->pin = NULL;
    c->n_pin = c->cap_pin = 0;
    *out = c;
    c = NULL;
out:
    if (err == VD_ENOMEM)
        vd_diag_set(d, 0, NULL, NULL, "%s: out of memory", name);
    vd_customers_free(c);
    free(rc);
    return err;
}

vd_err vd_customers_load(const char *path, vd_customers **out, vd_diag *d)
{
    vd_err err = VD_EIO;
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (!f || fstat(fileno(f), &st) != 0) {
        vd_diag_set(d, 0, NULL, NULL, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        vd_diag_set(d, 0, NULL, NULL, "%s: not a regular file", path);
        goto out;
    }
    /* sized by fstat, grown if the file grew meanwhile; one byte past the
     * cap is read so that an oversized file is refused, not cut */
    size_t cap = st.st_size < (off_t)FILE_MAX ? (size_t)st.st_size + 1 : FILE_MAX + 1;
    for (;;) {
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            err = VD_ENOMEM;
            goto out;
        }
        buf = nb;
        len += fread(buf + len, 1, cap - len, f);
        if (ferror(f)) {
            vd_diag_set(d, 0, NULL, NULL, "%s: read error", path);
            goto out;
        }
        if (len < cap || cap > FILE_MAX)
            break;
        cap = cap * 2 < FILE_MAX + 1 ? cap * 2 : FILE_MAX + 1;
    }
    err = vd_customers_parse(path, buf, len, out, d);
out:
    if (f)
        fclose(f);
    free(buf);
    return err;
}

/* ------------------------------------------------------------------ */
/* the server's holder: holder.c does the locking and reference counting;
 * this only knows how to load a directory. */

struct vd_customerdb {
    char *path;                 /* NULL: always the empty directory */
    vd_holder *h;               /* the vd_customers in force */
};

static void free_dir(void *c)
{
    vd_customers_free(c);
}

typedef struct reload_ctx { const char *path; vd_diag *d; } reload_ctx;

static vd_err load_dir(void *ctx, void **out)
{
    const reload_ctx *rc = ctx;
    vd_customers *c = NULL;
    vd_err err = vd_customers_load(rc->path, &c, rc->d);
    *out = c;
    return err;
}

vd_err vd_customerdb_open(const char *path, vd_customerdb **out, vd_diag *d)
{
    vd_err err = VD_ENOMEM;
    vd_customers *c = NULL;
    vd_customerdb *db = calloc(1, sizeof *db);
    *out = NULL;
    if (!db || (path && !(db->path = strdup(path))))
        goto fail;
    if (path)
        err = vd_customers_load(path, &c, d);
    else
        err = (c = empty_dir()) ? VD_OK : VD_ENOMEM;
    if (err)
        goto fail;
    err = VD_ENOMEM;
    if (!(db->h = vd_holder_new(c, free_dir)))
        goto fail;
    *out = db;
    return VD_OK;
fail:
    vd_customers_free(c);
    if (db)
        free(db->path);
    free(db);
    return err;
}

vd_err vd_customerdb_reload(vd_customerdb *db, vd_diag *d)
{
    if (!db->path)
        return VD_OK;
    reload_ctx rc = { db->path, d };
    return vd_holder_reload(db->h, load_dir, &rc);
}

const vd_customers *vd_customerdb_acquire(vd_customerdb *db)
{
    return vd_holder_acquire(db->h);
}

void vd_customerdb_release(vd_customerdb *db, const vd_customers *c)
{
    if (db)
        vd_holder_release(db->h, c);
}

void vd_customerdb_close(vd_customerdb *db)
{
    if (!db)
        return;
    vd_holder_free(db->h);
    free(db->path);
    free(db);
}
