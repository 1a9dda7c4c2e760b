/* users.c - the users file: parsing, yescrypt hashing and verification, the
 * server's reloading credential store (vd_userdb) and the admin command's
 * atomic edits.  The only file that includes <crypt.h>.
 *
 * Must not: apply a file that fails to parse (the users in force stay in
 * force), cache a failed verification, keep a password or a plain copy of it
 * anywhere (the cache holds keyed hashes only), or rewrite the file in place
 * (edits go to a temp file that is renamed over it under a lock). */
#include "users.h"
#include "hash.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bounds on what we read: a users file is small; anything past these is a
 * mistake or an attack, not a team. */
#define MAX_FILE_BYTES   (16u << 20)
#define MAX_LINE_BYTES   4096
#define MAX_USERS        100000
#define MAX_NAME_BYTES   64
#define MAX_DISPLAY      256
#define MAX_EMAIL        254

#define CACHE_SLOTS      4096            /* power of two */
#define CACHE_TTL_MS     (10 * 60 * 1000)
#define STAT_INTERVAL_MS 1000

/* ---------- the parsed list ---------- */

typedef struct uent {
    vd_user u;
    size_t line;            /* 1-based line in the file */
} uent;

struct vd_users {
    uent *v;                /* file order */
    size_t n, cap;
    uent **sorted;          /* by name, for lookups */
};

void vd_users_free(vd_users *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++) {
        free(u->v[i].u.name);
        free(u->v[i].u.hash);
        free(u->v[i].u.displayname);
        free(u->v[i].u.email);
    }
    free(u->v);
    free(u->sorted);
    free(u);
}

size_t vd_users_count(const vd_users *u)
{
    return u ? u->n : 0;
}

const vd_user *vd_users_get(const vd_users *u, size_t i)
{
    return (u && i < u->n) ? &u->v[i].u : NULL;
}

static int cmp_uent(const void *a, const void *b)
{
    const uent *x = *(const uent *const *)a, *y = *(const uent *const *)b;
    return strcmp(x->u.name, y->u.name);
}

static int cmp_key_uent(const void *key, const void *b)
{
    const uent *y = *(const uent *const *)b;
    return strcmp((const char *)key, y->u.name);
}

static const uent *find_ent(const vd_users *u, const char *name)
{
    if (!u || !u->n || !u->sorted)
        return NULL;
    uent **p = bsearch(name, u->sorted, u->n, sizeof *u->sorted, cmp_key_uent);
    return p ? *p : NULL;
}

const vd_user *vd_users_find(const vd_users *u, const char *name)
{
    const uent *e = name ? find_ent(u, name) : NULL;
    return e ? &e->u : NULL;
}

/* ---------- validation ---------- */

bool vd_users_name_valid(const char *name)
{
    if (!name || !name[0] || name[0] == '.')
        return false;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '@' || c == '-';
        if (!ok || n >= MAX_NAME_BYTES)
            return false;
    }
    return true;
}

/* Display names: any text without ':' (the field separator) or control
 * characters (newlines would split the record). */
static const char *display_problem(const char *s)
{
    if (strlen(s) > MAX_DISPLAY)
        return "display name longer than 256 bytes";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == ':')
            return "display name may not contain ':'";
        if (*p < 0x20 || *p == 0x7f)
            return "display name may not contain control characters";
    }
    return NULL;
}

static const char *email_problem(const char *s)
{
    if (strlen(s) > MAX_EMAIL)
        return "e-mail address longer than 254 bytes";
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@'))
        return "e-mail address must be local@domain";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == ':' || *p == '<' || *p == '>' ||
            *p == '"' || *p == '\\')
            return "e-mail address contains a character that is not allowed";
    return NULL;
}

/* A crypt(3) string: printable ASCII without blanks or ':'.  "!" or "*"
 * (a locked account) is allowed: crypt_r never matches it. */
static const char *hash_problem(const char *s)
{
    if (!s[0])
        return "missing password hash";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return "password hash contains a character that is not allowed";
    return NULL;
}

/* ---------- reading and parsing ---------- */

/* Read the whole file.  A missing file gives *text = NULL, *exists = false. */
static vd_err read_text(const char *path, char **text, size_t *len, bool *exists, vd_diag *d)
{
    vd_err rc = VD_EIO;
    char *buf = NULL;
    *text = NULL;
    *len = 0;
    *exists = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return VD_OK;
        vd_diag_set(d, 0, NULL, NULL, "%s: %s", path, strerror(errno));
        return VD_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        vd_diag_set(d, 0, NULL, NULL, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size > (off_t)MAX_FILE_BYTES) {
        vd_diag_set(d, 0, NULL, NULL, "%s: larger than %u bytes", path, MAX_FILE_BYTES);
        rc = VD_ETOOBIG;
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    buf = malloc(cap + 1);
    if (!buf) {
        rc = VD_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            vd_diag_set(d, 0, NULL, NULL, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if ((n += (size_t)r) == cap) {   /* grew since fstat: half-written */
            vd_diag_set(d, 0, NULL, NULL, "%s: changed while being read", path);
            goto out;
        }
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    *exists = true;
    buf = NULL;
    rc = VD_OK;
out:
    free(buf);
    close(fd);
    return rc;
}

static vd_err add_entry(vd_users *u, char **f, size_t nf, size_t line)
{
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        uent *v = realloc(u->v, cap * sizeof *v);
        if (!v)
            return VD_ENOMEM;
        u->v = v;
        u->cap = cap;
    }
    uent *e = &u->v[u->n];
    memset(e, 0, sizeof *e);
    e->line = line;
    e->u.name = strdup(f[0]);
    e->u.hash = strdup(f[1]);
    if (nf > 2 && f[2][0])
        e->u.displayname = strdup(f[2]);
    if (nf > 3 && f[3][0])
        e->u.email = strdup(f[3]);
    u->n++;   /* counted first so vd_users_free frees a partial entry */
    if (!e->u.name || !e->u.hash || (nf > 2 && f[2][0] && !e->u.displayname) ||
        (nf > 3 && f[3][0] && !e->u.email))
        return VD_ENOMEM;
    return VD_OK;
}

/* One line (NUL-terminated, without its '\n', may be modified).  Returns
 * NULL when it was fine (added or skipped), else the reason. */
static const char *parse_line(vd_users *u, char *s, size_t lineno, vd_err *rc)
{
    size_t len = strlen(s);
    if (len && s[len - 1] == '\r')
        s[--len] = '\0';
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || *p == '#')
        return NULL;
    char *f[4] = {NULL, NULL, NULL, NULL};
    size_t nf = 0;
    for (char *q = s;; nf++) {
        if (nf == 4)
            return "too many ':'-separated fields (display name and e-mail may not contain ':')";
        f[nf] = q;
        char *c = strchr(q, ':');
        if (!c) {
            nf++;
            break;
        }
        *c = '\0';
        q = c + 1;
    }
    if (nf < 2)
        return "expected name:hash[:display name[:e-mail]]";
    if (!vd_users_name_valid(f[0]))
        return "invalid user name (1-64 of A-Z a-z 0-9 . _ @ -, not starting with '.')";
    const char *why = hash_problem(f[1]);
    if (!why && nf > 2)
        why = display_problem(f[2]);
    if (!why && nf > 3 && f[3][0])
        why = email_problem(f[3]);
    if (why)
        return why;
    if (u->n >= MAX_USERS)
        return "too many users";
    *rc = add_entry(u, f, nf, lineno);
    return *rc == VD_OK ? NULL : "out of memory";
}

static const char *check_duplicates(vd_users *u, size_t *line, char *msg, size_t cap)
{
    if (u->n == 0)
        return NULL;
    u->sorted = malloc(u->n * sizeof *u->sorted);
    if (!u->sorted)
        return "out of memory";
    for (size_t i = 0; i < u->n; i++)
        u->sorted[i] = &u->v[i];
    qsort(u->sorted, u->n, sizeof *u->sorted, cmp_uent);
    for (size_t i = 1; i < u->n; i++) {
        const uent *a = u->sorted[i - 1], *b = u->sorted[i];
        if (strcmp(a->u.name, b->u.name) == 0) {
            const uent *first = a->line < b->line ? a : b, *second = a->line < b->line ? b : a;
            *line = second->line;
            snprintf(msg, cap, "duplicate user '%s' (first on line %zu)", a->u.name, first->line);
            return msg;
        }
    }
    return NULL;
}

/* Parse text (not modified).  A syntax error: VD_EINVAL, "path:line: why". */
static vd_err parse_text(const char *path, const char *text, size_t len,
                         vd_users **out, vd_diag *d)
{
    vd_err rc = VD_OK;
    const char *why = NULL;
    char line[MAX_LINE_BYTES + 2], msg[160];
    size_t lineno = 0;
    vd_users *u = calloc(1, sizeof *u);
    if (!u)
        return VD_ENOMEM;
    for (size_t pos = 0; pos < len && !why;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        if (n > MAX_LINE_BYTES)
            why = "line longer than 4096 bytes";
        else if (memchr(text + pos, '\0', n))
            why = "NUL byte in line";
        else {
            memcpy(line, text + pos, n);
            line[n] = '\0';
            why = parse_line(u, line, lineno, &rc);
        }
        pos += n + 1;
    }
    if (!why)
        why = check_duplicates(u, &lineno, msg, sizeof msg);
    if (why) {
        vd_diag_set(d, 0, NULL, NULL, "%s:%zu: %s", path, lineno, why);
        vd_users_free(u);
        return rc != VD_OK ? rc : VD_EINVAL;
    }
    *out = u;
    return VD_OK;
}

vd_err vd_users_load(const char *path, vd_users **out, vd_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    bool exists;
    *out = NULL;
    vd_err rc = read_text(path, &text, &len, &exists, d);
    if (rc == VD_OK)
        rc = parse_text(path, text ? text : "", len, out, d);
    free(text);
    return rc;
}

vd_err vd_users_list(const char *path, void (*cb)(const vd_user *u, void *ctx), void *ctx,
                     vd_diag *d)
{
    vd_users *u = NULL;
    vd_err rc = vd_users_load(path, &u, d);
    if (rc != VD_OK)
        return rc;
    for (size_t i = 0; i < u->n; i++)
        cb(&u->v[i].u, ctx);
    vd_users_free(u);
    return VD_OK;
}

/* ---------- hashing ---------- */

char *vd_users_hash_password(const char *password)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    char *out = NULL;
    if (!password || !password[0] || strlen(password) > VD_USERS_MAX_PASSWORD)
        return NULL;
    /* count 0 = libcrypt's recommended yescrypt cost; NULL entropy = it
     * reads the OS random source itself. */
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, (int)sizeof salt))
        return NULL;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return NULL;
    const char *h = crypt_r(password, salt, cd);
    if (h && h[0] == '$')
        out = strdup(h);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return out;
}

/* Equal length and bytes, in time that depends only on the lengths. */
static bool ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    const char *x = la == lb ? a : b;   /* compare b with itself on length mismatch */
    volatile unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(x[i] ^ b[i]);
    return diff == 0;
}

/* Does password hash to hash?  crypt_r signals failure with NULL or a string
 * starting with '*', which never equals a stored '$' hash. */
static bool check_hash(const char *hash, const char *password)
{
    bool ok = false;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return false;
    const char *h = crypt_r(password, hash, cd);
    if (h && h[0] != '*' && hash[0] != '*' && hash[0] != '!')
        ok = ct_equal(h, hash);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

/* ---------- vd_userdb: the server's reloading, caching handle ---------- */

typedef struct filesig {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} filesig;

typedef struct cache_ent {
    uint64_t h;
    uint64_t gen;            /* 0 = empty slot */
    int64_t expires_ms;
} cache_ent;

struct vd_userdb {
    char *path;
    pthread_rwlock_t lock;       /* guards users */
    vd_users *users;
    pthread_mutex_t reload_mu;   /* serialises reloads; guards sig, last_check_ms */
    filesig sig;
    int64_t last_check_ms;
    pthread_mutex_t cache_mu;    /* guards cache, gen, stats */
    uint64_t gen;                /* bumps on every applied reload */
    cache_ent *cache;
    vd_userdb_stats stats;
    uint8_t key[16];
    char *dummy_hash;            /* verified against for unknown users */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static filesig stat_sig(const char *path)
{
    filesig s;
    struct stat st;
    memset(&s, 0, sizeof s);
    if (stat(path, &st) == 0) {
        s.exists = true;
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.size = st.st_size;
        s.mtime = st.st_mtim;
    }
    return s;
}

static bool sig_equal(const filesig *a, const filesig *b)
{
    if (a->exists != b->exists)
        return false;
    return !a->exists ||
           (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
            a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec);
}

/* Called with reload_mu held.  force: re-read even if the file looks
 * unchanged.  A file that fails to parse is remembered by its signature so
 * the error is logged once, not every second. */
static vd_err reload_locked(vd_userdb *db, bool force, vd_diag *d)
{
    filesig sig = stat_sig(db->path);
    if (!force && sig_equal(&sig, &db->sig))
        return VD_OK;
    vd_users *fresh = NULL;
    vd_diag local;
    memset(&local, 0, sizeof local);
    vd_err rc = vd_users_load(db->path, &fresh, &local);
    db->sig = sig;
    if (rc != VD_OK) {
        fprintf(stderr, "visitdav: users file not applied, the previous users stay in force: %s\n",
                local.message);
        if (d)
            *d = local;
        pthread_mutex_lock(&db->cache_mu);
        db->stats.reload_errors++;
        pthread_mutex_unlock(&db->cache_mu);
        return rc;
    }
    pthread_rwlock_wrlock(&db->lock);
    vd_users *old = db->users;
    db->users = fresh;
    pthread_rwlock_unlock(&db->lock);
    vd_users_free(old);
    pthread_mutex_lock(&db->cache_mu);
    db->gen++;
    memset(db->cache, 0, CACHE_SLOTS * sizeof *db->cache);
    db->stats.reloads++;
    pthread_mutex_unlock(&db->cache_mu);
    return VD_OK;
}

/* At most one stat a second; a thread that finds a reload under way goes on
 * with the list in force rather than waiting for it. */
static void maybe_reload(vd_userdb *db)
{
    if (pthread_mutex_trylock(&db->reload_mu) != 0)
        return;
    int64_t now = mono_ms();
    if (now - db->last_check_ms >= STAT_INTERVAL_MS) {
        db->last_check_ms = now;
        reload_locked(db, false, NULL);
    }
    pthread_mutex_unlock(&db->reload_mu);
}

vd_err vd_userdb_reload(vd_userdb *db, vd_diag *d)
{
    pthread_mutex_lock(&db->reload_mu);
    db->last_check_ms = mono_ms();
    vd_err rc = reload_locked(db, true, d);
    pthread_mutex_unlock(&db->reload_mu);
    return rc;
}

vd_err vd_userdb_open(const char *path, vd_userdb **out, vd_diag *d)
{
    vd_err rc = VD_ENOMEM;
    *out = NULL;
    vd_userdb *db = calloc(1, sizeof *db);
    if (!db)
        return VD_ENOMEM;
    pthread_rwlock_init(&db->lock, NULL);
    pthread_mutex_init(&db->reload_mu, NULL);
    pthread_mutex_init(&db->cache_mu, NULL);
    db->gen = 1;
    db->path = strdup(path);
    db->cache = calloc(CACHE_SLOTS, sizeof *db->cache);
    if (!db->path || !db->cache)
        goto fail;
    /* Never a predictable cache key: no fallback if the OS cannot give one. */
    if (getrandom(db->key, sizeof db->key, 0) != (ssize_t)sizeof db->key) {
        vd_diag_set(d, 0, NULL, NULL, "getrandom: %s", strerror(errno));
        rc = VD_EIO;
        goto fail;
    }
    uint8_t junk[16];
    char dummy[33];
    if (getrandom(junk, sizeof junk, 0) != (ssize_t)sizeof junk)
        goto fail;
    for (size_t i = 0; i < sizeof junk; i++)
        snprintf(dummy + 2 * i, 3, "%02x", junk[i]);
    if (!(db->dummy_hash = vd_users_hash_password(dummy)))
        goto fail;
    db->sig = stat_sig(path);
    db->last_check_ms = mono_ms();
    if ((rc = vd_users_load(path, &db->users, d)) != VD_OK)
        goto fail;
    *out = db;
    return VD_OK;
fail:
    vd_userdb_close(db);
    return rc;
}

void vd_userdb_close(vd_userdb *db)
{
    if (!db)
        return;
    vd_users_free(db->users);
    pthread_rwlock_destroy(&db->lock);
    pthread_mutex_destroy(&db->reload_mu);
    pthread_mutex_destroy(&db->cache_mu);
    free(db->path);
    free(db->cache);
    free(db->dummy_hash);
    explicit_bzero(db->key, sizeof db->key);
    free(db);
}

/* Copy the user's optional fields out (under the read lock).  false on OOM. */
static bool copy_fields(const vd_user *u, char **displayname, char **email)
{
    if (displayname && u->displayname && !(*displayname = strdup(u->displayname)))
        return false;
    if (email && u->email && !(*email = strdup(u->email))) {
        if (displayname) {
            free(*displayname);
            *displayname = NULL;
        }
        return false;
    }
    return true;
}

bool vd_userdb_lookup(vd_userdb *db, const char *name, char **displayname, char **email)
{
    if (displayname)
        *displayname = NULL;
    if (email)
        *email = NULL;
    if (!db || !name)
        return false;
    maybe_reload(db);
    pthread_rwlock_rdlock(&db->lock);
    const uent *e = find_ent(db->users, name);
    bool ok = e && copy_fields(&e->u, displayname, email);
    pthread_rwlock_unlock(&db->lock);
    return ok;
}

static uint64_t cred_key(const vd_userdb *db, const char *name, const char *password)
{
    size_t ln = strlen(name), lp = strlen(password);
    char buf[MAX_NAME_BYTES + 1 + VD_USERS_MAX_PASSWORD + 1];
    memcpy(buf, name, ln + 1);          /* name + '\0' */
    memcpy(buf + ln + 1, password, lp);
    uint64_t h = vd_siphash(db->key, buf, ln + 1 + lp);
    explicit_bzero(buf, ln + 1 + lp);
    return h;
}

static bool cache_hit(vd_userdb *db, uint64_t h)
{
    pthread_mutex_lock(&db->cache_mu);
    const cache_ent *c = &db->cache[h & (CACHE_SLOTS - 1)];
    bool hit = c->gen == db->gen && c->h == h && c->expires_ms > mono_ms();
    if (hit)
        db->stats.cache_hits++;
    else
        db->stats.cache_misses++;
    pthread_mutex_unlock(&db->cache_mu);
    return hit;
}

/* Remember a success, unless the list changed since it was verified. */
static void cache_put(vd_userdb *db, uint64_t h, uint64_t gen)
{
    pthread_mutex_lock(&db->cache_mu);
    if (gen == db->gen) {
        cache_ent *c = &db->cache[h & (CACHE_SLOTS - 1)];
        c->h = h;
        c->gen = gen;
        c->expires_ms = mono_ms() + CACHE_TTL_MS;
    }
    pthread_mutex_unlock(&db->cache_mu);
}

static uint64_t current_gen(vd_userdb *db)
{
    pthread_mutex_lock(&db->cache_mu);
    uint64_t g = db->gen;
    pthread_mutex_unlock(&db->cache_mu);
    return g;
}

bool vd_userdb_verify(vd_userdb *db, const char *name, const char *password,
                      char **displayname, char **email)
{
    if (displayname)
        *displayname = NULL;
    if (email)
        *email = NULL;
    if (!db || !name || !password || !password[0] ||
        !vd_users_name_valid(name) || strlen(password) > VD_USERS_MAX_PASSWORD)
        return false;
    maybe_reload(db);
    uint64_t h = cred_key(db, name, password);
    if (cache_hit(db, h))   /* still a known user: the list did not change */
        return vd_userdb_lookup(db, name, displayname, email);
    /* Read the generation before the list: a reload in between makes
     * cache_put drop the entry instead of caching against a new list. */
    uint64_t gen = current_gen(db);
    pthread_rwlock_rdlock(&db->lock);
    const uent *e = find_ent(db->users, name);
    char *hash = strdup(e ? e->u.hash : db->dummy_hash);
    pthread_rwlock_unlock(&db->lock);
    if (!hash)
        return false;
    /* An unknown user costs one hash too, so timing does not tell names. */
    bool ok = check_hash(hash, password) && e;
    free(hash);
    if (!ok)
        return false;
    cache_put(db, h, gen);
    return vd_userdb_lookup(db, name, displayname, email);
}

void vd_userdb_each(vd_userdb *db, void (*cb)(const char *name, void *ctx), void *ctx)
{
    if (!db)
        return;
    maybe_reload(db);
    /* Copy the names so cb runs without our lock (it may call lookup). */
    pthread_rwlock_rdlock(&db->lock);
    size_t n = db->users ? db->users->n : 0;
    char **names = calloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; names && i < n; i++)
        names[i] = strdup(db->users->sorted[i]->u.name);
    pthread_rwlock_unlock(&db->lock);
    for (size_t i = 0; names && i < n; i++) {
        if (names[i])
            cb(names[i], ctx);
        free(names[i]);
    }
    free(names);
}

void vd_userdb_stats_get(vd_userdb *db, vd_userdb_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!db)
        return;
    pthread_mutex_lock(&db->cache_mu);
    *out = db->stats;
    pthread_mutex_unlock(&db->cache_mu);
    pthread_rwlock_rdlock(&db->lock);
    out->users = vd_users_count(db->users);
    pthread_rwlock_unlock(&db->lock);
}

/* ---------- edits (admin command) ---------- */

static char *str_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/* Exclusive flock on "<path>.lock" for a read-modify-write.  -1 on error. */
static int lock_users(const char *path, vd_diag *d)
{
    char *lp = str_concat(path, ".lock");
    if (!lp)
        return -1;
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        vd_diag_set(d, 0, NULL, NULL, "%s: %s", lp, strerror(errno));
    while (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            vd_diag_set(d, 0, NULL, NULL, "%s: lock: %s", lp, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    free(lp);
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static vd_err fsync_dir_of(const char *path, vd_diag *d)
{
    char *dir = strdup(path);
    if (!dir)
        return VD_ENOMEM;
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    vd_err rc = VD_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        vd_diag_set(d, 0, NULL, NULL, "%s: fsync: %s", dir, strerror(errno));
        rc = VD_EIO;
    }
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/* Replace path with data: temp file (0600, the old file's owner when we
 * may set it) in the same directory, fsync, rename, fsync the directory. */
static vd_err write_atomic(const char *path, const char *data, size_t len, vd_diag *d)
{
    vd_err rc = VD_EIO;
    char *tmp = str_concat(path, ".tmp.XXXXXX");
    if (!tmp)
        return VD_ENOMEM;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        vd_diag_set(d, 0, NULL, NULL, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return VD_EIO;
    }
    struct stat st;
    if (stat(path, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) {
        /* not root: the file stays ours, which is who edits it anyway */
    }
    if (fchmod(fd, 0600) != 0 || !write_all(fd, data, len) || fsync(fd) != 0) {
        vd_diag_set(d, 0, NULL, NULL, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        vd_diag_set(d, 0, NULL, NULL, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        vd_diag_set(d, 0, NULL, NULL, "rename to %s: %s", path, strerror(errno));
        goto out;
    }
    rc = fsync_dir_of(path, d);
out:
    if (fd >= 0)
        close(fd);
    if (rc != VD_OK)
        unlink(tmp);   /* harmless after a successful rename: tmp is gone */
    free(tmp);
    return rc;
}

static void put_record(FILE *f, const char *name, const char *hash,
                       const char *displayname, const char *email)
{
    fprintf(f, "%s:%s", name, hash);
    if (displayname || email)
        fprintf(f, ":%s", displayname ? displayname : "");
    if (email)
        fprintf(f, ":%s", email);
    fputc('\n', f);
}

enum edit_op { EDIT_ADD, EDIT_PASSWD, EDIT_DEL };

typedef struct edit {
    enum edit_op op;
    const char *name, *hash, *displayname, *email;
} edit;

/* Copy text, replacing or dropping the record on line `line` (0: none), and
 * append e's record for an add.  Comments and other lines stay verbatim. */
static vd_err render_edit(const char *text, size_t len, size_t line, const vd_user *old,
                          const edit *e, char **out, size_t *out_len)
{
    FILE *f = open_memstream(out, out_len);
    if (!f)
        return VD_ENOMEM;
    if (len == 0)
        fputs("# visitdav users: name:crypt-hash[:display name[:e-mail]]\n", f);
    size_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (++lineno != line) {
            fwrite(text + pos, 1, n, f);
            fputc('\n', f);
        } else if (e->op == EDIT_PASSWD) {
            put_record(f, old->name, e->hash, old->displayname, old->email);
        }
        pos += n + 1;
    }
    if (e->op == EDIT_ADD)
        put_record(f, e->name, e->hash, e->displayname, e->email);
    return fclose(f) == 0 ? VD_OK : VD_ENOMEM;
}

/* Read-modify-write under the lock.  A file that does not parse is never
 * edited (we would not know what we are keeping). */
static vd_err edit_file(const char *path, const edit *e, vd_diag *d)
{
    vd_err rc;
    char *text = NULL, *out = NULL;
    size_t len = 0, out_len = 0;
    bool exists;
    vd_users *u = NULL;
    int lock = lock_users(path, d);
    if (lock < 0)
        return VD_EIO;
    if ((rc = read_text(path, &text, &len, &exists, d)) != VD_OK)
        goto out;
    if ((rc = parse_text(path, text ? text : "", len, &u, d)) != VD_OK)
        goto out;
    const uent *old = find_ent(u, e->name);
    if (e->op == EDIT_ADD && old) {
        vd_diag_set(d, 0, NULL, NULL, "user '%s' already exists (%s:%zu)", e->name, path, old->line);
        rc = VD_EEXISTS;
        goto out;
    }
    if (e->op != EDIT_ADD && !old) {
        vd_diag_set(d, 0, NULL, NULL, "no user '%s' in %s", e->name, path);
        rc = VD_ENOTFOUND;
        goto out;
    }
    if ((rc = render_edit(text ? text : "", len, old ? old->line : 0, old ? &old->u : NULL,
                          e, &out, &out_len)) != VD_OK)
        goto out;
    rc = write_atomic(path, out, out_len, d);
out:
    free(text);
    free(out);
    vd_users_free(u);
    close(lock);   /* releases the flock */
    return rc;
}

static vd_err check_password_arg(const char *password, vd_diag *d)
{
    if (!password || !password[0]) {
        vd_diag_set(d, 0, NULL, NULL, "empty password");
        return VD_EINVAL;
    }
    if (strlen(password) > VD_USERS_MAX_PASSWORD) {
        vd_diag_set(d, 0, NULL, NULL, "password longer than %d bytes", VD_USERS_MAX_PASSWORD);
        return VD_EINVAL;
    }
    if (strpbrk(password, "\r\n")) {
        vd_diag_set(d, 0, NULL, NULL, "password contains a line break");
        return VD_EINVAL;
    }
    return VD_OK;
}

static vd_err check_name_arg(const char *name, vd_diag *d)
{
    if (vd_users_name_valid(name))
        return VD_OK;
    vd_diag_set(d, 0, NULL, NULL,
                "invalid user name '%.80s': use 1-64 of A-Z a-z 0-9 . _ @ -, not starting with '.'",
                name ? name : "");
    return VD_EINVAL;
}

static vd_err hash_and_edit(const char *path, edit *e, const char *password, vd_diag *d)
{
    char *hash = vd_users_hash_password(password);
    if (!hash) {
        vd_diag_set(d, 0, NULL, NULL, "cannot hash the password (libcrypt failed)");
        return VD_EIO;
    }
    e->hash = hash;
    vd_err rc = edit_file(path, e, d);
    free(hash);
    return rc;
}

vd_err vd_users_add(const char *path, const char *name, const char *password,
                    const char *displayname, const char *email, vd_diag *d)
{
    vd_err rc;
    if ((rc = check_name_arg(name, d)) != VD_OK || (rc = check_password_arg(password, d)) != VD_OK)
        return rc;
    if (displayname && !displayname[0])
        displayname = NULL;
    if (email && !email[0])
        email = NULL;
    const char *why = displayname ? display_problem(displayname) : NULL;
    if (!why && email)
        why = email_problem(email);
    if (why) {
        vd_diag_set(d, 0, NULL, NULL, "%s", why);
        return VD_EINVAL;
    }
    edit e = { .op = EDIT_ADD, .name = name, .displayname = displayname, .email = email };
    return hash_and_edit(path, &e, password, d);
}

vd_err vd_users_passwd(const char *path, const char *name, const char *password, vd_diag *d)
{
    vd_err rc;
    if ((rc = check_name_arg(name, d)) != VD_OK || (rc = check_password_arg(password, d)) != VD_OK)
        return rc;
    edit e = { .op = EDIT_PASSWD, .name = name };
    return hash_and_edit(path, &e, password, d);
}

vd_err vd_users_del(const char *path, const char *name, vd_diag *d)
{
    vd_err rc = check_name_arg(name, d);
    if (rc != VD_OK)
        return rc;
    edit e = { .op = EDIT_DEL, .name = name };
    return edit_file(path, &e, d);
}
