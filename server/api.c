/* api.c - the JSON API under /api/v1/ (api.h): request parsing and the
 * answer; the listing itself is vd_visits_conflicts_json_for (visits.h),
 * the same code the admin command runs.
 * Must not: write to the store, or widen what a user may see beyond
 * vd_visits_may_list and (issue 4) the calendars they may read. */
#include "api.h"

#include "visits.h"

#include <stdlib.h>
#include <string.h>

#define API_PREFIX   "/api/"
#define CONFLICTS    "/api/v1/conflicts"

const char *vd_req_query(vd_request *r, const char *name)
{
    if (!r || !r->get_query || !name)
        return NULL;
    return r->get_query(r->http_ctx, name);
}

bool vd_api_path(const char *path)
{
    return path && (strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0 ||
                    strcmp(path, "/api") == 0);
}

typedef struct owners {
    vd_server *s;
    const char *viewer, *team;
    const char **v;
    size_t n;
} owners;

static void owner_cb(const char *name, void *ctx)
{
    owners *o = ctx;
    if (!vd_visits_may_list(o->s, o->viewer, o->team, name))
        return;
    const char **v = realloc(o->v, (o->n + 1) * sizeof *v);
    char *copy = strdup(name);
    if (!v || !copy)
        abort();
    o->v = v;
    o->v[o->n++] = copy;
}

/* A time query parameter: absent -> dflt; false when malformed. */
static bool time_arg(vd_request *r, const char *name, vd_time dflt, vd_time *out)
{
    const char *v = vd_req_query(r, name);
    *out = dflt;
    return !v || !*v || vd_time_parse_utc(v, out) == VD_OK;
}

static void conflicts(vd_request *r)
{
    vd_time start, end;
    vd_time now = vd_now(), horizon = vd_visits_horizon(r->srv);
    if (!time_arg(r, "start", now - (vd_time)VD_VISITS_PAST_DAYS * 86400, &start) ||
        !time_arg(r, "end", now + horizon, &end)) {
        vd_resp_errorf(r, 400, "start and end are UTC date-times like 20270301T000000Z");
        return;
    }
    if (end <= start) {
        vd_resp_errorf(r, 400, "end must lie after start");
        return;
    }
    const char *team = vd_req_query(r, "team");
    owners o = {.s = r->srv, .viewer = r->user, .team = team && *team ? team : NULL};
    vd_userdb_each(r->srv->users, owner_cb, &o);
    vd_txn *t = NULL;
    vd_buf out = VD_BUF_INIT;
    vd_err e = vd_store_read(r->srv->store, &t);
    if (e == VD_OK)
        e = vd_visits_conflicts_json_for(t, r->srv, r->user, o.v, o.n, start, end, &out);
    vd_txn_end(t);
    if (e != VD_OK)
        vd_resp_errorf(r, 500, "the conflicts could not be read: %s", vd_strerror(e));
    else
        vd_resp_set(r, 200, "application/json; charset=utf-8", out.data, out.len);
    vd_buf_free(&out);
    for (size_t i = 0; i < o.n; i++)
        free((char *)o.v[i]);
    free(o.v);
}

void vd_api_handle(vd_request *r)
{
    if (strcmp(r->path, CONFLICTS) != 0) {
        vd_resp_errorf(r, 404, "no API resource at %s", r->path);
        return;
    }
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        vd_resp_errorf(r, 405, "%s is read-only: use GET", CONFLICTS);
        vd_resp_header(r, "Allow", "GET, HEAD");
        return;
    }
    conflicts(r);
}
