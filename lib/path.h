/* path.h - URL paths are decoded and normalised exactly once, at the HTTP
 * boundary, and encoded again only when written into a response. */
#ifndef VD_PATH_H
#define VD_PATH_H

#include "buf.h"
#include "vd.h"

/* Decode a request path (the part of the URL before '?', as received):
 * percent-decoding, then normalisation.  Rejects (VD_EINVAL, diag 400):
 * bad %-escapes, NUL or control bytes, invalid UTF-8, "." or ".." segments,
 * a path not starting with '/', longer than 4096 bytes.  Collapses "//" into
 * "/".  A trailing '/' is kept as given.  Returns a malloc'd string in *out. */
vd_err vd_path_decode(const char *raw, char **out, vd_diag *d);

/* Encode a decoded path for use in a DAV:href / Location header: every byte
 * outside unreserved (A-Za-z0-9-._~) and "/" , "@", "+", ":" becomes %XX.
 * Returns malloc'd string. */
char *vd_path_encode(const char *path);

/* Append to b exactly what vd_path_encode(path) returns, without a
 * malloc (for hrefs written straight into a response body). */
void vd_path_encode_buf(vd_buf *b, const char *path);

/* Decode an href found in a request body (may be absolute "http://host/x" or
 * a path): strips scheme+authority, then as vd_path_decode. */
vd_err vd_href_decode(const char *href, char **out, vd_diag *d);

/* Split "/a/b/c.ics" into parent "/a/b/" and name "c.ics" (both malloc'd).
 * For "/a/b/" the parent is "/a/" and name "b".  Root "/" has no parent:
 * VD_EINVAL. */
vd_err vd_path_split(const char *path, char **parent, char **name);

/* Number of segments: "/" -> 0, "/a/" -> 1, "/a/b.ics" -> 2. */
int vd_path_depth(const char *path);

/* Copy segment i (0-based) of path into a malloc'd string, NULL if absent. */
char *vd_path_segment(const char *path, int i);

/* True if path ends with '/'. */
bool vd_path_is_dir(const char *path);

/* malloc'd path with a trailing '/' added if missing. */
char *vd_path_as_dir(const char *path);

/* Is name acceptable as a single resource/collection name (no '/', not
 * empty, not "." or "..", at most 255 bytes)? */
bool vd_name_valid(const char *name);

#endif
