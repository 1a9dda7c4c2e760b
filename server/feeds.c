/* feeds.c - GET/HEAD of /feeds/<token>.ics (feeds.h): the secret-token
 * subscription URLs of issue 4.
 * Owns: the token in the URL, the checks made at every request (the
 * feed exists, its creator still exists and may still read its
 * collection), and hiding every failure behind one 404.
 * Must not: serve anything the creator could not GET with their own
 * password right now (the collection is served by vd_method_get as the
 * creator, so masking, CLASS and VALARM stripping are exactly theirs), or
 * reveal why a feed does not work (no 401, no 403, one message). */
#include "feeds.h"

#include "access.h"
#include "methods.h"

#include "../lib/acl.h"
#include "../lib/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool vd_feeds_path(const char *path)
{
    size_t n = strlen(VD_FEEDS_PATH);
    return path && (strcmp(path, "/feeds") == 0 || strncmp(path, VD_FEEDS_PATH, n) == 0);
}

/* The token of "/feeds/<64 hex>.ics" into out; false for any other path. */
static bool token_of(const char *path, char out[VD_FEED_TOKEN_LEN + 1])
{
    size_t n = strlen(VD_FEEDS_PATH);
    if (strncmp(path, VD_FEEDS_PATH, n) != 0)
        return false;
    const char *t = path + n;
    if (strlen(t) != VD_FEED_TOKEN_LEN + 4 || strcmp(t + VD_FEED_TOKEN_LEN, ".ics") != 0)
        return false;
    memcpy(out, t, VD_FEED_TOKEN_LEN);
    out[VD_FEED_TOKEN_LEN] = '\0';
    return vd_feed_token_valid(out);
}

/* Drop whatever a handler put into the response. */
static void resp_reset(vd_request *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->n_headers = 0;
    free(r->content_type);
    r->content_type = NULL;
    vd_buf_reset(&r->out);
    r->status = 0;
}

static void not_found(vd_request *r)
{
    resp_reset(r);
    vd_resp_errorf(r, 404, "no such feed");
}

static bool is_calendar(const char *content_type)
{
    return content_type && strncasecmp(content_type, "text/calendar", 13) == 0;
}

/* Serve f's collection as its creator sees it now. */
static void serve(vd_request *r, vd_feed *f)
{
    char *user = strdup(f->user);
    if (!user) {
        vd_resp_errorf(r, 500, "out of memory");
        return;
    }
    free((char *)r->user);
    r->user = user;
    /* the creator's privileges from the ACL in force now: read or
     * read-masked, as a GET needs (docs/acl.md) */
    if (!(vd_access_acl(r, f->path) & (VD_ACL_MASKED | VD_ACL_READ))) {
        not_found(r);
        return;
    }
    free(r->path);
    r->path = f->path;
    f->path = NULL;
    vd_method_get(r);
    if (r->status == 304 || (r->status == 200 && is_calendar(r->content_type))) {
        /* the URL is the credential: keep it out of shared caches and
         * Referer headers */
        vd_resp_header(r, "Cache-Control", "private");
        vd_resp_header(r, "Referrer-Policy", "no-referrer");
        return;
    }
    not_found(r);                       /* gone, hidden, not a calendar */
}

void vd_feeds_get(vd_request *r)
{
    char token[VD_FEED_TOKEN_LEN + 1];
    vd_feed f = {0};
    vd_err e = VD_ENOTFOUND;
    if (token_of(r->path, token))
        e = vd_store_feed_get(r->srv->store, token, &f);
    explicit_bzero(token, sizeof token);
    if (e == VD_ENOTFOUND)
        not_found(r);
    else if (e != VD_OK)
        vd_resp_errorf(r, 500, "storage error");
    else if (!vd_userdb_lookup(r->srv->users, f.user, NULL, NULL))
        not_found(r);                   /* the creator was deleted */
    else
        serve(r, &f);
    vd_feed_clear(&f);
}

void vd_feeds_not_allowed(vd_request *r)
{
    vd_resp_errorf(r, 405, "a feed is read-only: GET or HEAD only");
    vd_resp_header(r, "Allow", "GET, HEAD");
}
