/* access.c - who may do what on a node, and the RFC 3744 403 answer.
 * Until issue 4 the rule is fixed: a user holds every privilege on their own
 * calendar home and everything below it, may read the virtual nodes of the
 * URL space and every principal, and holds nothing anywhere else.
 * Must not: fail open (no user, no rule: no privilege), or answer the client
 * except through vd_resp_forbidden. */
#include "access.h"

#include "../lib/path.h"

#include <stdlib.h>
#include <string.h>

/* Is path (a collection path or member path) inside user's home? */
static bool in_own_home(const char *user, const char *path)
{
    char *home = vd_home_path(user);
    char *dir = vd_path_as_dir(path);
    bool in = home && dir && strncmp(dir, home, strlen(home)) == 0;
    free(home);
    free(dir);
    return in;
}

/* Issue 4 replaces the body of this function with the ACL check
 * (acl file: teams, roles, shared calendars); the signature stays. */
uint32_t vd_access_privs(vd_request *r, const vd_node *n)
{
    if (!r || !r->user || !n || !n->path)
        return 0;
    switch (n->kind) {
    case VD_NODE_ROOT:
    case VD_NODE_PRINCIPALS:
    case VD_NODE_PRINCIPAL_USERS:
    case VD_NODE_PRINCIPAL:
    case VD_NODE_CALENDARS:
        return VD_PRIV_READ | VD_PRIV_READ_CUPS;
    case VD_NODE_COLL:
    case VD_NODE_RES:
    case VD_NODE_NONE:
        return in_own_home(r->user, n->path) ? VD_PRIV_ALL : 0;
    }
    return 0;
}

const char *vd_priv_name(uint32_t priv)
{
    switch (priv) {
    case VD_PRIV_READ:          return "read";
    case VD_PRIV_READ_FREEBUSY: return "read-free-busy";
    case VD_PRIV_WRITE_CONTENT: return "write-content";
    case VD_PRIV_WRITE_PROPS:   return "write-properties";
    case VD_PRIV_BIND:          return "bind";
    case VD_PRIV_UNBIND:        return "unbind";
    case VD_PRIV_READ_ACL:      return "read-acl";
    case VD_PRIV_READ_CUPS:     return "read-current-user-privilege-set";
    }
    return NULL;
}

void vd_resp_forbidden(vd_request *r, const char *path, const char *privilege)
{
    vd_buf b = VD_BUF_INIT;
    char *href = vd_path_encode(path ? path : "/");
    const char *priv = privilege ? privilege : "all";
    /* read-free-busy lives in the CalDAV namespace (RFC 4791 6.1.1) */
    bool caldav = strcmp(priv, "read-free-busy") == 0;
    vd_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                    "<D:error xmlns:D=\"DAV:\"");
    if (caldav)
        vd_buf_puts(&b, " xmlns:C=\"" VD_NS_CALDAV "\"");
    vd_buf_puts(&b, "><D:need-privileges><D:resource><D:href>");
    if (href)
        vd_buf_xml_escape(&b, href, strlen(href));
    vd_buf_puts(&b, "</D:href><D:privilege><");
    vd_buf_puts(&b, caldav ? "C:" : "D:");
    vd_buf_xml_escape(&b, priv, strlen(priv));
    vd_buf_puts(&b, "/></D:privilege></D:resource></D:need-privileges>"
                    "<D:responsedescription>");
    vd_buf_puts(&b, "you lack the ");
    vd_buf_xml_escape(&b, priv, strlen(priv));
    vd_buf_puts(&b, " privilege here");
    vd_buf_puts(&b, "</D:responsedescription></D:error>\n");
    vd_resp_set(r, 403, "application/xml; charset=utf-8", b.data, b.len);
    vd_buf_free(&b);
    free(href);
}

bool vd_access_check(vd_request *r, const vd_node *n, uint32_t need)
{
    uint32_t have = vd_access_privs(r, n);
    if ((have & need) == need)
        return true;
    uint32_t missing = need & ~have;
    uint32_t first = missing & (~missing + 1);   /* lowest missing bit */
    vd_resp_forbidden(r, n && n->path ? n->path : r->path, vd_priv_name(first));
    return false;
}
