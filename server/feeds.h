/* feeds.h - secret-token subscription URLs (issue 4): GET/HEAD of
 * /feeds/<token>.ics, without authentication, serves the feed's
 * collection as one text/calendar document with what the feed's creator
 * may read at the time of the request.  The tokens live in the store
 * (lib/store.h vd_store_feed_*); the admin command creates, lists and
 * revokes them. */
#ifndef VD_FEEDS_H
#define VD_FEEDS_H

#include "server.h"

#define VD_FEEDS_PATH "/feeds/"

/* Is path (decoded) "/feeds" or below it?  dispatch.c sends every such
 * request here without asking for credentials. */
bool vd_feeds_path(const char *path);

/* Answer r (GET or HEAD; r->user NULL).  404 for anything but a live feed
 * whose creator still exists and may still read its collection; never a
 * 401 or 403 (a feed URL reveals nothing about why it does not work).
 * Sets r->user to the creator while serving (the access log names them). */
void vd_feeds_get(vd_request *r);

/* The other methods: 405, Allow: GET, HEAD (the feed is read-only). */
void vd_feeds_not_allowed(vd_request *r);

#endif
