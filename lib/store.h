/* store.h - the storage interface.  store.c, store_coll.c, store_res.c and
 * store_visits.c are its LMDB implementation and the only files in visitdav
 * that include lmdb.h (through their internal header store_int.h).
 *
 * Model
 *   collection  a node addressed by its path ("/calendars/alice/visits/",
 *               always ending in '/'), with a numeric id that never changes
 *               (MOVE of a collection only rewrites paths), a kind, an owner,
 *               a sync sequence number and dead properties.  Collections
 *               nest (a home holds calendars; plain WebDAV collections may
 *               hold collections); a calendar holds no collections.
 *   resource    a member of a collection: (collection id, name) -> stored
 *               bytes + metadata (etag, uid, content type, times).
 *   indexes     uid per collection; instance start times per collection
 *               (time-range queries); a change log per collection with
 *               tombstones (sync-collection); a global audit log; the
 *               visit indexes and flag links of issue 3 (at the end).
 *
 * Transactions
 *   Every read happens in a read transaction (many at once, never blocked by
 *   the writer: LMDB MVCC).  Every write of one request happens inside one
 *   vd_store_write() call: one LMDB write transaction, all or nothing.  When
 *   the map is full, the store grows it and re-runs the callback, so the
 *   callback must have no side effects outside the transaction.
 *
 * Memory
 *   Pointers into stored data marked "borrowed" are valid until the
 *   transaction ends.  Everything else returned is malloc'd and freed with the
 *   matching _clear/_free function.
 */
#ifndef VD_STORE_H
#define VD_STORE_H

#include "buf.h"
#include "vd.h"

#define VD_STORE_SCHEMA_VERSION 1

/* Size limits of stored names (LMDB keys are at most 511 bytes).  Longer
 * input gives VD_ETOOBIG on writes and VD_ENOTFOUND on lookups. */
#define VD_STORE_MAX_PATH   480      /* collection path, bytes */
#define VD_STORE_MAX_NAME   255      /* member name, principal name */
#define VD_STORE_MAX_OWNER  255      /* collection owner (user name) */
#define VD_STORE_MAX_CLARK  240      /* "{ns}local" of a dead property */
#define VD_STORE_MAX_PROP   (64 * 1024)  /* xml of one dead property */

typedef struct vd_store vd_store;
typedef struct vd_txn vd_txn;

typedef struct vd_store_options {
    size_t initial_map_bytes;   /* 0 = 256 MiB; the map doubles when full */
    unsigned max_readers;       /* 0 = 126 */
    bool no_sync;               /* tests/benchmarks only: MDB_NOSYNC */
    unsigned schema_version;    /* tests only: 0 = VD_STORE_SCHEMA_VERSION */
} vd_store_options;

/* One line saying why the last store call of this thread failed with
 * VD_EIO (LMDB's message included); "" if none.  Thread-local, static. */
const char *vd_store_last_error(void);

/* Open (creating if needed) the store in directory dir (created if missing).
 * Errors: VD_EIO (diag message says why), VD_EINVAL when the stored schema
 * version differs from VD_STORE_SCHEMA_VERSION (message names both). */
vd_err vd_store_open(const char *dir, const vd_store_options *opt,
                     vd_store **out, vd_diag *d);
void   vd_store_close(vd_store *s);   /* NULL is harmless */

/* Start a read transaction. End it with vd_txn_end(). */
vd_err vd_store_read(vd_store *s, vd_txn **out);
/* The id of the last committed write transaction, by any process, read
 * without a transaction (0 if unknown).  Equal ids mean nothing was
 * written in between: a caller may keep what it read until it changes. */
uint64_t vd_store_generation(vd_store *s);

/* Run fn inside one write transaction and commit if it returns VD_OK; abort
 * and return its error otherwise.  actor (user name) and method are recorded
 * in the audit log of every resource change made through this txn.  On
 * MDB_MAP_FULL the txn is aborted, the map grown and fn called again (fn
 * must be re-runnable).  Write transactions are serialised. */
typedef vd_err (*vd_write_fn)(vd_txn *txn, void *ctx);
vd_err vd_store_write(vd_store *s, const char *actor, const char *method,
                      vd_write_fn fn, void *ctx);

void vd_txn_end(vd_txn *t);            /* for read txns; NULL harmless;
                                          a no-op on a write txn */
bool vd_txn_is_write(const vd_txn *t);

/* ---------- collections ---------- */
typedef enum vd_coll_kind {
    VD_COLL_PLAIN = 1,     /* WebDAV collection (MKCOL) */
    VD_COLL_HOME = 2,      /* a user's calendar home (/calendars/<user>/) */
    VD_COLL_CALENDAR = 3,  /* CalDAV calendar collection */
} vd_coll_kind;

typedef struct vd_coll {
    uint64_t id;
    vd_coll_kind kind;
    char *path;            /* malloc'd, ends in '/' */
    char *owner;           /* malloc'd user name */
    uint64_t seq;          /* sync sequence: bumps on every member change and
                              on every property change of the collection.
                              Drawn from one store-wide counter, so a
                              collection recreated at the same path never
                              repeats a seq (ctag) of its predecessor. */
    uint32_t comp_mask;    /* VD_COMP_* allowed (calendars) */
    vd_time created;
    vd_time modified;
} vd_coll;

void vd_coll_clear(vd_coll *c);   /* frees strings, zeroes */

/* VD_ENOTFOUND if no collection at path (path must end in '/'). */
vd_err vd_store_coll_get(vd_txn *t, const char *path, vd_coll *out);
vd_err vd_store_coll_get_by_id(vd_txn *t, uint64_t id, vd_coll *out);

/* Create a collection. The parent path must be an existing collection
 * (VD_ECONFLICT otherwise) except for homes, whose parent "/calendars/" is
 * virtual.  VD_EEXISTS if path is taken by a collection, or by a resource
 * in the parent collection.  A calendar cannot be created inside a calendar
 * (VD_EFORBIDDEN). out may be NULL. */
vd_err vd_store_coll_create(vd_txn *t, const char *path, vd_coll_kind kind,
                            const char *owner, uint32_t comp_mask, vd_coll *out);

/* Delete a collection with all its members, descendant collections, their
 * indexes and properties.  Change log entries of the deleted collections go
 * too; a deletion of a member collection is not a member change (members
 * are resources).  The members' visit index entries and flag links (both
 * directions) go too.  An audit entry records the collection deletion. */
vd_err vd_store_coll_delete(vd_txn *t, const char *path);

/* Rename path (and every descendant collection path).  Ids, members and
 * properties stay.  VD_EEXISTS if to exists. */
vd_err vd_store_coll_move(vd_txn *t, const char *from, const char *to);

/* Update comp_mask (MKCALENDAR's supported-calendar-component-set). */
vd_err vd_store_coll_set_comp_mask(vd_txn *t, uint64_t id, uint32_t mask);

/* Direct child collections of parent_path, in path order. */
typedef vd_err (*vd_coll_cb)(const vd_coll *c, void *ctx);  /* non-OK stops, is returned */
vd_err vd_store_coll_children(vd_txn *t, const char *parent_path, vd_coll_cb cb, void *ctx);

/* The collections exactly depth segments below parent_path (e.g. every
 * home's calendars: "/calendars/", 2), in path order, in one cursor pass.
 * want (NULL: all) is asked with each path first; only the collections it
 * accepts are decoded and passed to cb. */
typedef bool (*vd_coll_want_cb)(const char *path, void *ctx);
vd_err vd_store_coll_descendants(vd_txn *t, const char *parent_path, int depth,
                                 vd_coll_want_cb want, vd_coll_cb cb, void *ctx);

/* Number of member resources. */
vd_err vd_store_coll_count(vd_txn *t, uint64_t id, size_t *out);

/* ---------- resources ---------- */
typedef struct vd_res {
    const char *name;          /* borrowed */
    const char *etag;          /* borrowed, 16 hex digits, no quotes */
    const char *uid;           /* borrowed, NULL for non-calendar resources */
    const char *content_type;  /* borrowed */
    const char *data;          /* borrowed stored bytes */
    size_t len;
    vd_time created, modified;
    uint64_t change_seq;       /* collection seq of its last change */
    uint32_t comp;             /* VD_COMP_* or 0 */
} vd_res;

vd_err vd_store_res_get(vd_txn *t, uint64_t coll_id, const char *name, vd_res *out);

/* Members in name order. cb returning non-OK stops the walk. */
typedef vd_err (*vd_res_cb)(const vd_res *r, void *ctx);
vd_err vd_store_res_list(vd_txn *t, uint64_t coll_id, vd_res_cb cb, void *ctx);

typedef struct vd_put {
    uint64_t coll_id;
    const char *name;
    const char *data; size_t len;
    const char *content_type;
    const char *uid;                 /* NULL for non-calendar */
    uint32_t comp;                   /* VD_COMP_* or 0 */
    const vd_instance *inst; size_t n_inst;  /* from vd_ical_index_instances */
    bool open_ended;                 /* always a time-range candidate */
    const char *summary;             /* for the audit log, may be NULL */
} vd_put;

typedef struct vd_put_result {
    bool created;                    /* new member (201) vs replaced (204) */
    char etag[17];                   /* new etag */
    char old_etag[17];               /* "" if created */
} vd_put_result;

/* Create or replace a member; maintains the uid index (a uid already used by
 * ANOTHER member of the collection is the caller's to check first with
 * vd_store_uid_lookup), the time index, the change log (bumps the
 * collection's seq) and the audit log.  The ETag is vd_etag_of(data).
 * VD_EEXISTS if a child collection has this name; VD_ENOTFOUND if the
 * collection does not exist; VD_EINVAL for an empty name or one with '/'.
 * Instances longer than 32 days, or more than 100,000 of them, make the
 * member open-ended instead (always a candidate). */
vd_err vd_store_res_put(vd_txn *t, const vd_put *p, vd_put_result *out);

/* Delete a member (tombstone in the change log, audit entry), with its
 * dead properties, visit index entries and flag links (both directions).
 * VD_ENOTFOUND if absent. */
vd_err vd_store_res_delete(vd_txn *t, uint64_t coll_id, const char *name);

/* Name of the member holding uid in the collection (malloc'd), or
 * VD_ENOTFOUND. */
vd_err vd_store_uid_lookup(vd_txn *t, uint64_t coll_id, const char *uid, char **name_out);

/* Candidates for a time-range [start, end): every member with an indexed
 * instance overlapping the range (a zero-length instance at t overlaps when
 * start <= t < end, RFC 4791 9.9) and every open-ended member; each name
 * once, in no particular order.  A member put with no instances and not
 * open-ended (e.g. a non-calendar resource) is never a candidate.
 * A superset: callers check each candidate exactly.  Cost O(log n + k).
 * name is borrowed (valid until the txn ends). */
typedef vd_err (*vd_name_cb)(const char *name, void *ctx);
vd_err vd_store_time_candidates(vd_txn *t, uint64_t coll_id, vd_time start, vd_time end,
                                vd_name_cb cb, void *ctx);

/* ---------- sync (RFC 6578) ---------- */
/* Changes after since_seq (0 = everything currently present, no
 * tombstones).  Each member reported once with its latest state, in seq
 * order; at most limit entries (0 = no limit).  *new_seq is the token seq to
 * hand out: the collection's seq when complete, else the seq of the last
 * reported change (then *truncated is set).  VD_EINVAL when since_seq is
 * greater than the collection's seq or older than the oldest kept tombstone
 * (the caller answers 403 valid-sync-token). */
typedef vd_err (*vd_change_cb)(const char *name, bool deleted, void *ctx);
vd_err vd_store_changes(vd_txn *t, uint64_t coll_id, uint64_t since_seq, size_t limit,
                        vd_change_cb cb, void *ctx, uint64_t *new_seq, bool *truncated);

/* ---------- dead properties ---------- */
/* Properties of a collection (name NULL) or of a member resource.  clark is
 * "{ns}local"; xml is the complete element as vd_propop.xml gives it.
 * Setting a collection property bumps the collection's seq. */
vd_err vd_store_prop_set(vd_txn *t, uint64_t coll_id, const char *name,
                         const char *clark, const char *xml);
/* Removing an unset property is VD_OK (RFC 4918 9.2: not an error). */
vd_err vd_store_prop_remove(vd_txn *t, uint64_t coll_id, const char *name, const char *clark);
/* *xml_out borrowed (valid until txn end); VD_ENOTFOUND if unset. */
vd_err vd_store_prop_get(vd_txn *t, uint64_t coll_id, const char *name,
                         const char *clark, const char **xml_out);
typedef vd_err (*vd_prop_cb)(const char *clark, const char *xml, void *ctx);
vd_err vd_store_prop_list(vd_txn *t, uint64_t coll_id, const char *name, vd_prop_cb cb, void *ctx);
/* Move/copy all dead properties of one resource to another place (used by
 * MOVE/COPY); copy keeps the source.  The destination's own dead properties
 * are replaced.  A member's properties go when the member is deleted. */
vd_err vd_store_prop_copy(vd_txn *t, uint64_t from_coll, const char *from_name,
                          uint64_t to_coll, const char *to_name);

/* ---------- principals ---------- */
typedef struct vd_principal {
    char *name;
    char *displayname;     /* may be NULL */
    char *email;           /* may be NULL */
    vd_time created;
} vd_principal;
void vd_principal_clear(vd_principal *p);
/* Create or update the record (displayname/email NULL = keep). */
vd_err vd_store_principal_put(vd_txn *t, const char *name, const char *displayname, const char *email);
vd_err vd_store_principal_get(vd_txn *t, const char *name, vd_principal *out);
vd_err vd_store_principal_delete(vd_txn *t, const char *name);

/* ---------- audit ---------- */
typedef struct vd_audit {
    uint64_t seq;
    vd_time when;
    const char *actor, *method, *path;      /* borrowed */
    const char *old_etag, *new_etag;        /* borrowed, "" when none */
    const char *summary;                    /* borrowed, may be "" */
} vd_audit;
typedef vd_err (*vd_audit_cb)(const vd_audit *a, void *ctx);
/* Entries with seq > since, oldest first, at most limit (0 = all). */
vd_err vd_store_audit_list(vd_txn *t, uint64_t since, size_t limit, vd_audit_cb cb, void *ctx);

/* ---------- maintenance ---------- */
typedef struct vd_store_stats {
    size_t map_bytes, used_bytes;
    size_t collections, resources;
} vd_store_stats;
vd_err vd_store_stats_get(vd_store *s, vd_store_stats *out);

/* ---------- visit indexes (issue 3: the visit rules) ----------
 * Two indexes of event instances, written by the server inside the same
 * write transaction as the event itself:
 *   by customer  (customer id, start, coll id, name) -> end, owner
 *   by owner     (owner, start, coll id, name) -> end, customer id
 * Only instances that can collide are indexed (the caller leaves out
 * transparent and cancelled events).  A per-index maximum instance span
 * bounds how far back a lookup seeks, so a lookup costs O(log n + k).
 * (The span is kept per customer and per owner, and only grows: one very
 * long instance slows lookups under its own customer/owner only.)
 * Plus the flag links: "visit A carries a flag because of visit B", kept
 * so that when B changes or goes, every A it flagged is re-checked (flags
 * never go stale).
 *
 * Removal: vd_store_res_delete and vd_store_coll_delete (every member of
 * every deleted collection) remove the members' index entries and both
 * directions of their links, so nothing stale remains.  A caller that
 * wants to re-check the visits flagged because of a member must therefore
 * read vd_store_links_to BEFORE deleting it.  vd_store_res_put does not
 * touch either: the caller replaces the entries with vd_store_visits_put
 * (a MOVE is a put at the destination plus a delete of the source, whose
 * entries and links go).  vd_store_coll_move keeps everything (ids stay).
 * Index changes are not audited. */
#define VD_STORE_MAX_CUSTOMER   128      /* customer id, bytes */
#define VD_STORE_MAX_VISIT_INST 100000   /* instances per visits_put */
#define VD_STORE_MAX_LINKS      10000    /* targets per links_set */

typedef struct vd_visit_entry {
    uint64_t coll_id;
    const char *name;          /* borrowed */
    const char *owner;         /* borrowed */
    const char *customer_id;   /* borrowed, NULL when not a customer visit */
    vd_time start, end;
} vd_visit_entry;
typedef vd_err (*vd_visit_cb)(const vd_visit_entry *e, void *ctx);  /* non-OK stops, is returned */

/* Replace every index entry of (coll_id, name) with these instances.
 * customer_id NULL: owner index only. n == 0: just remove.  Instances are
 * taken in any order; an end before its start counts as the start; of
 * several instances with one start the longest is kept.
 * Errors: VD_ENOTFOUND (n > 0 and no member (coll_id, name)), VD_EINVAL
 * (NULL/empty name or owner, customer_id "", inst NULL with n > 0, a read
 * txn), VD_ETOOBIG (name, owner or customer_id over its VD_STORE_MAX_*,
 * n over VD_STORE_MAX_VISIT_INST, or owner/customer + name over 493
 * bytes together: an LMDB key), VD_EIO, VD_ENOMEM. */
vd_err vd_store_visits_put(vd_txn *t, uint64_t coll_id, const char *name, const char *owner,
                           const char *customer_id, const vd_instance *inst, size_t n);
/* Remove every index entry of (coll_id, name); none is VD_OK. */
vd_err vd_store_visits_delete(vd_txn *t, uint64_t coll_id, const char *name);
/* Instances overlapping [start, end), in start order (ties: coll id, then
 * name).  Overlap: instance start < end and instance end > start, so an
 * instance ending at start does not overlap; an instance starting exactly
 * at start always does (a zero-length instance at start is included; a
 * point query start == end finds the instances containing it).  start >
 * end finds nothing.  Entries are borrowed (txn); the callback may write
 * in a write txn.  An unknown or over-long customer/owner finds nothing
 * (VD_OK).  Errors: VD_EINVAL (NULL/empty key, NULL cb), VD_EIO, or what
 * cb returned. */
vd_err vd_store_visits_by_customer(vd_txn *t, const char *customer_id, vd_time start, vd_time end,
                                   vd_visit_cb cb, void *ctx);
vd_err vd_store_visits_by_owner(vd_txn *t, const char *owner, vd_time start, vd_time end,
                                vd_visit_cb cb, void *ctx);

/* Flag links.  links_set replaces the outgoing links of (coll_id, name)
 * ("I am flagged because of these") and maintains the reverse index.
 * n == 0 removes them; a target listed twice is kept once.
 * Errors: VD_ENOTFOUND (the member or a target does not exist; nothing
 * changed), VD_EINVAL (a link to itself, NULL/empty name, to NULL with
 * n > 0, a read txn), VD_ETOOBIG (n over VD_STORE_MAX_LINKS, a name over
 * VD_STORE_MAX_NAME), VD_EIO, VD_ENOMEM. */
typedef struct vd_ref {
    uint64_t coll_id;
    const char *name;
} vd_ref;
typedef vd_err (*vd_ref_cb)(uint64_t coll_id, const char *name, void *ctx);
vd_err vd_store_links_set(vd_txn *t, uint64_t coll_id, const char *name, const vd_ref *to, size_t n);
/* Visits flagged because of (coll_id, name).  Both lists come in (coll
 * id, name) byte order; name is borrowed (txn).  The list is read before
 * the first callback, so the callback may change links (e.g. re-check each
 * visit and links_set it).  None: VD_OK without calls.  Errors: VD_EINVAL
 * (NULL/empty name, NULL cb), VD_EIO, VD_ENOMEM, or what cb returned. */
vd_err vd_store_links_to(vd_txn *t, uint64_t coll_id, const char *name, vd_ref_cb cb, void *ctx);
/* Visits (coll_id, name) is flagged because of. */
vd_err vd_store_links_from(vd_txn *t, uint64_t coll_id, const char *name, vd_ref_cb cb, void *ctx);

/* ---------- feeds (issue 4: secret-token subscription URLs) ----------
 * store_feeds.c, in a named database of its own ("feeds"), opened on first
 * use (the other databases are not touched):
 *   feeds   selector (the token's first 16 hex digits) -> record: the rest
 *           of the token, user, collection path, creation time
 * A token is 64 lowercase hex digits: 32 bytes from getrandom(2).  It is
 * looked up by its selector and the rest compared in constant time, so
 * lookup timing tells nothing about the secret part.  These functions
 * take the store, not a txn: each runs its own transaction (the
 * database handle must be opened outside any other open txn of the
 * caller's thread, and is opened by one thread at a time). */
#define VD_FEED_TOKEN_LEN 64

typedef struct vd_feed {
    char token[VD_FEED_TOKEN_LEN + 1];
    char *user;            /* malloc'd */
    char *path;            /* malloc'd, the collection path (ends in '/') */
    vd_time created;
} vd_feed;
void vd_feed_clear(vd_feed *f);   /* frees strings, zeroes; NULL harmless */

/* A syntactically valid token (64 lowercase hex digits)? */
bool vd_feed_token_valid(const char *token);

/* Create a feed of path for user with a fresh token (out may be NULL).
 * The caller has checked that user may read path.  Errors: VD_EINVAL
 * (empty user or path, a path not starting and ending with '/'),
 * VD_ETOOBIG (user over VD_STORE_MAX_OWNER, path over VD_STORE_MAX_PATH),
 * VD_EIO (no randomness, store failure), VD_ENOMEM. */
vd_err vd_store_feed_create(vd_store *s, const char *user, const char *path, vd_feed *out);
/* The feed of token.  VD_ENOTFOUND for an unknown, revoked or malformed
 * token; VD_EIO, VD_ENOMEM. */
vd_err vd_store_feed_get(vd_store *s, const char *token, vd_feed *out);
/* Every feed (user NULL) or those of user, in token order.  f is valid
 * during the call only; cb returning non-OK stops the walk (returned). */
typedef vd_err (*vd_feed_cb)(const vd_feed *f, void *ctx);
vd_err vd_store_feed_list(vd_store *s, const char *user, vd_feed_cb cb, void *ctx);
/* Revoke (delete) the feed of token.  VD_ENOTFOUND when there is none. */
vd_err vd_store_feed_revoke(vd_store *s, const char *token);
/* Revoke every feed of user (when the user is deleted, so that a new user
 * of the same name never inherits them); *n_out (may be NULL) receives
 * how many.  None is VD_OK. */
vd_err vd_store_feed_revoke_user(vd_store *s, const char *user, size_t *n_out);

#endif
