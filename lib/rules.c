/* rules.c - the visit rules (rules.h): the rules file parsed into an
 * immutable vd_rules, and vd_rules_check, which asks a caller-supplied
 * source for nearby visits and answers with conflicts.  Pure: the only I/O
 * is reading the file in vd_rules_load.  Must not find customers
 * (customers.c), touch the store or libical (the source and its local_day
 * do that), or decide who may see a conflict (the ACL layer masks). */
#include "rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hash.h"

#define MAX_FILE       (1u << 20)
#define MAX_LINE       4096
#define MAX_TEAMS      1024
#define MAX_TEAM_NAME  128
#define MAX_APPROVERS  256
#define MAX_MEMBERS    10000       /* team members over all teams */
#define MAX_USER       255
#define MAX_MARKER     64
#define MAX_TZ         200
#define MAX_HOURS      720
#define MAX_DAYS       366
#define MSG_OWNER_MAX  80          /* bytes of an owner name in a message */

/* Which fields of a rule_set were given (teams override only those). */
#define SET_WINDOW  (1u << VD_RULE_COUNT)
#define SET_DAYS    (1u << (VD_RULE_COUNT + 1))

/* The values a team may override. */
typedef struct rule_set {
    vd_policy policy[VD_RULE_COUNT];
    vd_window_kind window;
    int hours;                  /* VD_WINDOW_HOURS only */
    int days;                   /* customer-cadence */
    unsigned set;               /* bit (1 << rule), SET_WINDOW, SET_DAYS */
} rule_set;

typedef struct team {
    char *name;
    rule_set rs;
    char **members;             /* user names ("members ="), until the ACL file has teams */
    size_t n_members;
    bool members_set;
} team;

struct vd_rules {
    rule_set org;
    team *teams;
    size_t n_teams;
    char tz[MAX_TZ + 1];
    int horizon;
    vd_marker marker;
    char prefix[MAX_MARKER + 1];
    char category[MAX_MARKER + 1];
    char **approvers;
    size_t n_approvers;
    size_t n_members;           /* over all teams */
};

static const char *const RULE_NAMES[VD_RULE_COUNT] = {
    "rep-overlap", "customer-overlap", "customer-cadence", "required-fields"
};

static const vd_rules DEFAULTS = {
    .org = { .policy = { VD_POLICY_FLAG, VD_POLICY_FLAG, VD_POLICY_OFF, VD_POLICY_OFF },
             .window = VD_WINDOW_SAME_DAY, .hours = 0, .days = 14, .set = 0 },
    .tz = "UTC", .horizon = 366, .marker = VD_MARKER_SUMMARY,
    .prefix = "[CONFLICT] ", .category = "Conflict",
};

/* ------------------------------------------------------------------ */
/* names and accessors                                                 */

const char *vd_rule_name(vd_rule rule)
{
    return (unsigned)rule < VD_RULE_COUNT ? RULE_NAMES[rule] : "unknown";
}

bool vd_rule_from_name(const char *name, vd_rule *out)
{
    for (int i = 0; name && i < VD_RULE_COUNT; i++)
        if (strcasecmp(name, RULE_NAMES[i]) == 0) {
            if (out)
                *out = (vd_rule)i;
            return true;
        }
    return false;
}

static const team *find_team(const vd_rules *r, const char *name)
{
    for (size_t i = 0; name && i < r->n_teams; i++)
        if (strcmp(r->teams[i].name, name) == 0)
            return &r->teams[i];
    return NULL;
}

/* The organisation's set with the team's overrides applied. */
static void effective(const vd_rules *r, const char *team_name, rule_set *out)
{
    if (!r)
        r = &DEFAULTS;
    *out = r->org;
    const team *t = find_team(r, team_name);
    if (!t)
        return;
    for (int i = 0; i < VD_RULE_COUNT; i++)
        if (t->rs.set & (1u << i))
            out->policy[i] = t->rs.policy[i];
    if (t->rs.set & SET_WINDOW) {
        out->window = t->rs.window;
        out->hours = t->rs.hours;
    }
    if (t->rs.set & SET_DAYS)
        out->days = t->rs.days;
}

vd_policy vd_rules_policy(const vd_rules *r, vd_rule rule, const char *team_name)
{
    if ((unsigned)rule >= VD_RULE_COUNT)
        return VD_POLICY_OFF;
    rule_set e;
    effective(r, team_name, &e);
    return e.policy[rule];
}

vd_window_kind vd_rules_window(const vd_rules *r, const char *team_name, int *hours)
{
    rule_set e;
    effective(r, team_name, &e);
    if (hours)
        *hours = e.window == VD_WINDOW_HOURS ? e.hours : 0;
    return e.window;
}

int vd_rules_cadence_days(const vd_rules *r, const char *team_name)
{
    rule_set e;
    effective(r, team_name, &e);
    return e.days;
}

const char *vd_rules_timezone(const vd_rules *r)        { return (r ? r : &DEFAULTS)->tz; }
int         vd_rules_horizon_days(const vd_rules *r)    { return (r ? r : &DEFAULTS)->horizon; }
vd_marker   vd_rules_marker(const vd_rules *r)          { return (r ? r : &DEFAULTS)->marker; }
const char *vd_rules_marker_prefix(const vd_rules *r)   { return (r ? r : &DEFAULTS)->prefix; }
const char *vd_rules_marker_category(const vd_rules *r) { return (r ? r : &DEFAULTS)->category; }

const char *vd_rules_team_of(const vd_rules *r, const char *user)
{
    for (size_t i = 0; r && user && i < r->n_teams; i++)
        for (size_t j = 0; j < r->teams[i].n_members; j++)
            if (strcmp(r->teams[i].members[j], user) == 0)
                return r->teams[i].name;
    return NULL;
}

bool vd_rules_is_approver(const vd_rules *r, const char *user)
{
    for (size_t i = 0; r && user && i < r->n_approvers; i++)
        if (strcmp(r->approvers[i], user) == 0)
            return true;
    return false;
}

void vd_rules_free(vd_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_teams; i++) {
        free(r->teams[i].name);
        for (size_t j = 0; j < r->teams[i].n_members; j++)
            free(r->teams[i].members[j]);
        free(r->teams[i].members);
    }
    free(r->teams);
    for (size_t i = 0; i < r->n_approvers; i++)
        free(r->approvers[i]);
    free(r->approvers);
    free(r);
}

/* ------------------------------------------------------------------ */
/* the file                                                            */

typedef struct parser {
    const char *name;
    int line;
    vd_diag *d;
    vd_rules *r;
    rule_set *cur;              /* section being filled */
    team *cur_team;             /* its team, NULL in [organisation] */
    bool in_org;
    unsigned org_keys;          /* organisation-only keys already set */
} parser;

static vd_err perr(parser *p, const char *fmt, const char *a)
{
    char reason[256];
    snprintf(reason, sizeof reason, fmt, a ? a : "");
    vd_diag_set(p->d, 0, NULL, NULL, "%s:%d: %s", p->name, p->line, reason);
    return VD_EINVAL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Trim spaces on both sides in place; returns the new start. */
static char *trim(char *s)
{
    while (is_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* After a value or section: only spaces, then optionally a comment. */
static bool only_comment(const char *s)
{
    while (is_space(*s))
        s++;
    return *s == '\0' || *s == '#';
}

/* The value part of "key = value": quoted (with \" and \\) or bare up to
 * a comment.  Rewrites s in place; NULL on a quoting error. */
static char *parse_value(char *s)
{
    while (is_space(*s))
        s++;
    if (*s != '"') {
        char *hash = strchr(s, '#');
        if (hash)
            *hash = '\0';
        return trim(s);
    }
    char *w = s, *q = s + 1;
    for (; *q && *q != '"'; q++) {
        if (*q == '\\' && (q[1] == '"' || q[1] == '\\'))
            q++;
        *w++ = *q;
    }
    if (*q != '"' || !only_comment(q + 1))
        return NULL;
    *w = '\0';
    return s;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    long v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
        if (v > hi)
            return false;
    }
    if (v < lo)
        return false;
    *out = (int)v;
    return true;
}

static bool tz_plain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_TZ || s[0] == '/' || s[0] == '.' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
            return false;
    }
    return true;
}

static vd_err open_team(parser *p, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MAX_TEAM_NAME)
        return perr(p, "a team name must have 1 to 128 bytes", NULL);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] <= 0x20 || name[i] == 0x7f || name[i] == '"' || name[i] == ']')
            return perr(p, "bad character in team name \"%s\"", name);
    for (size_t i = 0; i < p->r->n_teams; i++)
        if (strcmp(p->r->teams[i].name, name) == 0) {
            p->cur = &p->r->teams[i].rs;
            p->cur_team = &p->r->teams[i];
            p->in_org = false;
            return VD_OK;
        }
    if (p->r->n_teams >= MAX_TEAMS)
        return perr(p, "more than 1024 teams", NULL);
    team *t = realloc(p->r->teams, (p->r->n_teams + 1) * sizeof *t);
    if (!t)
        return VD_ENOMEM;
    p->r->teams = t;
    t = &t[p->r->n_teams];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name)))
        return VD_ENOMEM;
    p->r->n_teams++;
    p->cur = &t->rs;
    p->cur_team = t;
    p->in_org = false;
    return VD_OK;
}

static vd_err section(parser *p, char *s)
{
    char *close = strchr(s, ']');
    if (!close || !only_comment(close + 1))
        return perr(p, "a section header must be [organisation] or [team NAME]", NULL);
    *close = '\0';
    char *in = trim(s + 1);
    if (strcasecmp(in, "organisation") == 0 || strcasecmp(in, "organization") == 0) {
        p->cur = &p->r->org;
        p->cur_team = NULL;
        p->in_org = true;
        return VD_OK;
    }
    if (strcasecmp(in, "team") == 0)
        return perr(p, "a team section needs a name: [team NAME]", NULL);
    if (strncasecmp(in, "team", 4) == 0 && is_space(in[4]))
        return open_team(p, trim(in + 5));
    return perr(p, "unknown section [%s]", in);
}

static vd_err set_policy(parser *p, vd_rule rule, const char *v)
{
    vd_policy pol;
    if (strcasecmp(v, "off") == 0)
        pol = VD_POLICY_OFF;
    else if (strcasecmp(v, "flag") == 0)
        pol = VD_POLICY_FLAG;
    else if (strcasecmp(v, "reject") == 0)
        pol = VD_POLICY_REJECT;
    else
        return perr(p, "policy must be reject, flag or off, not \"%s\"", v);
    p->cur->policy[rule] = pol;
    return VD_OK;
}

static vd_err set_window(parser *p, const char *v)
{
    size_t n = strlen(v);
    if (strcasecmp(v, "overlap") == 0) {
        p->cur->window = VD_WINDOW_OVERLAP;
        p->cur->hours = 0;
        return VD_OK;
    }
    if (strcasecmp(v, "same-day") == 0) {
        p->cur->window = VD_WINDOW_SAME_DAY;
        p->cur->hours = 0;
        return VD_OK;
    }
    char num[16];
    int h;
    if (n >= 2 && n < sizeof num && (v[n - 1] == 'h' || v[n - 1] == 'H')) {
        memcpy(num, v, n - 1);
        num[n - 1] = '\0';
        if (parse_int(num, 1, MAX_HOURS, &h)) {
            p->cur->window = VD_WINDOW_HOURS;
            p->cur->hours = h;
            return VD_OK;
        }
    }
    return perr(p, "window must be overlap, same-day or <N>h with N from 1 to 720, not \"%s\"", v);
}

/* Keys a team may override; true when key was one of them. */
static bool rule_key(parser *p, const char *key, const char *v, vd_err *err)
{
    vd_rule rule;
    unsigned bit;
    if (vd_rule_from_name(key, &rule)) {
        bit = 1u << rule;
        *err = set_policy(p, rule, v);
    } else if (strcasecmp(key, "customer-overlap.window") == 0) {
        bit = SET_WINDOW;
        *err = set_window(p, v);
    } else if (strcasecmp(key, "customer-cadence.days") == 0) {
        bit = SET_DAYS;
        *err = parse_int(v, 1, MAX_DAYS, &p->cur->days) ? VD_OK
             : perr(p, "customer-cadence.days must be a number from 1 to 366, not \"%s\"", v);
    } else {
        return false;
    }
    if (*err == VD_OK && (p->cur->set & bit))
        *err = perr(p, "%s is set twice", key);
    p->cur->set |= bit;
    return true;
}

static vd_err set_marker_text(parser *p, char *dst, const char *key, const char *v, bool category)
{
    size_t n = strlen(v);
    if (n == 0 || n > MAX_MARKER || has_ctl(v))
        return perr(p, "%s must have 1 to 64 bytes and no control characters", key);
    if (category && (strchr(v, ',') || strchr(v, ';')))
        return perr(p, "%s must not contain ',' or ';'", key);
    memcpy(dst, v, n + 1);
    return VD_OK;
}

/* "carol, dave": comma-separated user names appended to *list (at most
 * max in all); an empty value names nobody. */
static vd_err name_list(parser *p, char *v, const char *what, char ***list, size_t *n,
                        size_t max)
{
    for (char *tok = *v ? v : NULL; tok;) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        char *name = trim(tok);
        tok = comma ? comma + 1 : NULL;
        size_t len = strlen(name);
        if (len == 0 || len > MAX_USER || has_ctl(name) || strpbrk(name, " \t"))
            return perr(p, what, name);
        if (*n >= max)
            return perr(p, "too many names in this list%s", "");
        char **a = realloc(*list, (*n + 1) * sizeof *a);
        if (!a)
            return VD_ENOMEM;
        *list = a;
        if (!(a[*n] = strdup(name)))
            return VD_ENOMEM;
        (*n)++;
    }
    return VD_OK;
}

/* members = alice, bob: each user in one team at most. */
static vd_err set_members(parser *p, char *v)
{
    team *t = p->cur_team;
    if (!t)
        return perr(p, "members belongs in a [team NAME] section%s", "");
    if (t->members_set)
        return perr(p, "members is set twice%s", "");
    t->members_set = true;
    size_t before = t->n_members;
    vd_err err = name_list(p, v, "bad member name \"%s\"", &t->members, &t->n_members,
                           MAX_MEMBERS - p->r->n_members + before);
    if (err)
        return err;
    p->r->n_members += t->n_members - before;
    for (size_t i = before; i < t->n_members; i++) {
        const char *other = vd_rules_team_of(p->r, t->members[i]);
        bool self_dup = false;
        for (size_t j = before; j < i; j++)
            self_dup |= strcmp(t->members[j], t->members[i]) == 0;
        if (self_dup || (other && other != t->name))
            return perr(p, "%s is already a member of a team", t->members[i]);
    }
    return VD_OK;
}

static vd_err org_key(parser *p, const char *key, char *v)
{
    static const char *const KEYS[] = {
        "timezone", "horizon_days", "marker", "marker.prefix", "marker.category", "approvers", NULL
    };
    int k = 0;
    while (KEYS[k] && strcasecmp(KEYS[k], key) != 0)
        k++;
    if (!KEYS[k])
        return perr(p, "unknown key \"%s\"", key);
    if (!p->in_org)
        return perr(p, "%s belongs in [organisation], not in a team section", key);
    if (p->org_keys & (1u << k))
        return perr(p, "%s is set twice", key);
    p->org_keys |= 1u << k;
    vd_rules *r = p->r;
    switch (k) {
    case 0:
        if (!tz_plain(v))
            return perr(p, "timezone must be a zone name such as Europe/Berlin, not \"%s\"", v);
        memcpy(r->tz, v, strlen(v) + 1);
        return VD_OK;
    case 1:
        return parse_int(v, 1, VD_INDEX_HORIZON_DAYS, &r->horizon) ? VD_OK
             : perr(p, "horizon_days must be a number from 1 to 1098, not \"%s\"", v);
    case 2:
        if (strcasecmp(v, "summary") == 0)
            r->marker = VD_MARKER_SUMMARY;
        else if (strcasecmp(v, "categories") == 0)
            r->marker = VD_MARKER_CATEGORIES;
        else if (strcasecmp(v, "both") == 0)
            r->marker = VD_MARKER_BOTH;
        else
            return perr(p, "marker must be summary, categories or both, not \"%s\"", v);
        return VD_OK;
    case 3:
        return set_marker_text(p, r->prefix, key, v, false);
    case 4:
        return set_marker_text(p, r->category, key, v, true);
    default:
        return name_list(p, v, "bad approver name \"%s\"", &r->approvers, &r->n_approvers,
                         MAX_APPROVERS);
    }
}

static vd_err parse_line(parser *p, char *line)
{
    char *s = line;
    while (is_space(*s))
        s++;
    if (*s == '\0' || *s == '#')
        return VD_OK;
    if (*s == '[')
        return section(p, s);
    char *eq = strchr(s, '=');
    if (!eq)
        return perr(p, "expected \"key = value\" or a [section]", NULL);
    *eq = '\0';
    char *key = trim(s);
    if (!*key)
        return perr(p, "missing key before '='", NULL);
    char *v = parse_value(eq + 1);
    if (!v)
        return perr(p, "unterminated quoted value for %s", key);
    vd_err err = VD_OK;
    if (rule_key(p, key, v, &err))
        return err;
    if (strcasecmp(key, "members") == 0)
        return set_members(p, v);
    return org_key(p, key, v);
}

vd_err vd_rules_parse(const char *name, const char *text, size_t len, vd_rules **out, vd_diag *d)
{
    vd_err err = VD_OK;
    char *line = NULL;
    parser p = { .name = name ? name : "rules", .line = 0, .d = d };
    *out = NULL;
    if (!text && len)
        return VD_EINVAL;
    if (len > MAX_FILE) {
        vd_diag_set(d, 0, NULL, NULL, "%s: larger than 1 MiB", p.name);
        return VD_ETOOBIG;
    }
    p.r = calloc(1, sizeof *p.r);
    line = malloc(MAX_LINE + 1);
    if (!p.r || !line) {
        err = VD_ENOMEM;
        goto done;
    }
    *p.r = DEFAULTS;
    p.cur = &p.r->org;
    p.in_org = true;
    for (size_t pos = 0; pos < len && !err;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = (nl ? (size_t)(nl - text) : len) - pos;
        p.line++;
        if (n > 0 && text[pos + n - 1] == '\r')
            n--;
        if (n > MAX_LINE)
            err = perr(&p, "line longer than 4096 bytes", NULL);
        else if (memchr(text + pos, '\0', n))
            err = perr(&p, "NUL byte in line", NULL);
        else {
            memcpy(line, text + pos, n);
            line[n] = '\0';
            err = parse_line(&p, line);
        }
        pos = nl ? (size_t)(nl - text) + 1 : len;
    }
done:
    free(line);
    if (err) {
        vd_rules_free(p.r);
        return err;
    }
    *out = p.r;
    return VD_OK;
}

vd_err vd_rules_load(const char *path, vd_rules **out, vd_diag *d)
{
    *out = NULL;
    if (!path)
        return vd_rules_parse("defaults", "", 0, out, d);
    vd_err err = VD_OK;
    char *text = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        vd_diag_set(d, 0, NULL, NULL, "%s: %s", path, strerror(errno));
        return VD_EIO;
    }
    text = malloc(MAX_FILE + 1);
    if (!text) {
        err = VD_ENOMEM;
        goto done;
    }
    len = fread(text, 1, MAX_FILE + 1, f);
    if (ferror(f)) {
        vd_diag_set(d, 0, NULL, NULL, "%s: read error", path);
        err = VD_EIO;
    } else if (len > MAX_FILE) {
        vd_diag_set(d, 0, NULL, NULL, "%s: larger than 1 MiB", path);
        err = VD_ETOOBIG;
    } else {
        err = vd_rules_parse(path, text, len, out, d);
    }
done:
    free(text);
    fclose(f);
    return err;
}

/* ------------------------------------------------------------------ */
/* checking                                                            */

void vd_conflicts_clear(vd_conflicts *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].other_ref);
        free(c->items[i].other_owner);
    }
    free(c->items);
    memset(c, 0, sizeof *c);
}

/* State of one vd_rules_check while neighbours are reported. */
typedef struct hits {
    vd_conflicts *out;
    size_t cap;                 /* allocated items */
    size_t first;               /* first item of the current rule */
    size_t *slots;              /* other_ref -> item index + 1, current rule */
    size_t nslots;
    const vd_visit *v;
    vd_rule rule;
    vd_policy pol;
    vd_instance inst;           /* v's instance being checked */
    vd_time ws, we;             /* the window a neighbour must overlap */
} hits;

static bool overlaps(vd_time a, vd_time b, vd_time c, vd_time d)
{
    return a < d && c < b;
}

static bool same_str(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static vd_time sat_add(vd_time t, vd_time d)
{
    return t > VD_TIME_MAX - d ? VD_TIME_MAX : t + d;
}

static vd_time sat_sub(vd_time t, vd_time d)
{
    return t < VD_TIME_MIN + d ? VD_TIME_MIN : t - d;
}

static vd_conflict *new_item(hits *h)
{
    vd_conflicts *o = h->out;
    if (o->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        vd_conflict *it = realloc(o->items, cap * sizeof *it);
        if (!it)
            return NULL;
        o->items = it;
        h->cap = cap;
    }
    vd_conflict *c = &o->items[o->n];
    memset(c, 0, sizeof *c);
    c->rule = h->rule;
    c->policy = h->pol;
    c->start = h->inst.start;
    c->end = h->inst.end;
    return c;
}

/* Rebuild the ref hash of the current rule with room for twice as many. */
static bool grow_slots(hits *h)
{
    size_t n = h->nslots ? h->nslots * 2 : 64;
    size_t *s = calloc(n, sizeof *s);
    if (!s)
        return false;
    for (size_t i = h->first; i < h->out->n; i++) {
        const char *ref = h->out->items[i].other_ref;
        size_t k = vd_hash64(ref, strlen(ref)) & (n - 1);
        while (s[k])
            k = (k + 1) & (n - 1);
        s[k] = i + 1;
    }
    free(h->slots);
    h->slots = s;
    h->nslots = n;
    return true;
}

/* Keep the smallest (instance start, other start, other end) per ref. */
static bool earlier(const hits *h, const vd_neighbour *n, const vd_conflict *c)
{
    if (h->inst.start != c->start)
        return h->inst.start < c->start;
    if (n->start != c->other_start)
        return n->start < c->other_start;
    return n->end < c->other_end;
}

static vd_err record(hits *h, const vd_neighbour *n)
{
    size_t n_rule = h->out->n - h->first;
    if (n_rule * 2 >= h->nslots && !grow_slots(h))
        return VD_ENOMEM;
    size_t k = vd_hash64(n->ref, strlen(n->ref)) & (h->nslots - 1);
    for (; h->slots[k]; k = (k + 1) & (h->nslots - 1)) {
        vd_conflict *c = &h->out->items[h->slots[k] - 1];
        if (strcmp(c->other_ref, n->ref) != 0)
            continue;
        if (earlier(h, n, c)) {
            c->start = h->inst.start;
            c->end = h->inst.end;
            c->other_start = n->start;
            c->other_end = n->end;
        }
        return VD_OK;
    }
    if (n_rule >= VD_RULES_MAX_OTHERS) {
        h->out->truncated = true;
        return VD_OK;
    }
    vd_conflict *c = new_item(h);
    if (!c)
        return VD_ENOMEM;
    c->other_ref = strdup(n->ref);
    c->other_owner = n->owner ? strdup(n->owner) : NULL;
    if (!c->other_ref || (n->owner && !c->other_owner)) {
        free(c->other_ref);
        free(c->other_owner);
        return VD_ENOMEM;
    }
    c->other_start = n->start;
    c->other_end = n->end;
    h->slots[k] = h->out->n + 1;
    h->out->n++;
    return VD_OK;
}

static vd_err on_neighbour(const vd_neighbour *n, void *ctx)
{
    hits *h = ctx;
    const vd_visit *v = h->v;
    if (!n || !n->ref || !overlaps(n->start, n->end, h->ws, h->we) || same_str(n->ref, v->ref))
        return VD_OK;
    switch (h->rule) {
    case VD_RULE_REP_OVERLAP:
        if (n->owner && !same_str(n->owner, v->owner))
            return VD_OK;        /* the source's business, checked anyway */
        break;
    case VD_RULE_CUSTOMER_OVERLAP:
        if (same_str(n->owner, v->owner))
            return VD_OK;        /* the same rep: rep-overlap's business */
        /* fall through */
    default:
        if (n->customer_id && !same_str(n->customer_id, v->customer_id))
            return VD_OK;
        break;
    }
    return record(h, n);
}

/* The window instance `in` must be compared against for rule. */
static void window_of(const rule_set *e, const char *tz, const vd_rules_source *src,
                      vd_rule rule, vd_instance in, vd_time *ws, vd_time *we)
{
    *ws = in.start;
    *we = in.end;
    if (rule == VD_RULE_CUSTOMER_CADENCE) {
        *ws = sat_sub(in.start, (vd_time)e->days * 86400);
        *we = sat_add(in.end, (vd_time)e->days * 86400);
    } else if (rule == VD_RULE_CUSTOMER_OVERLAP && e->window == VD_WINDOW_HOURS) {
        *ws = sat_sub(in.start, (vd_time)e->hours * 3600);
        *we = sat_add(in.end, (vd_time)e->hours * 3600);
    } else if (rule == VD_RULE_CUSTOMER_OVERLAP && e->window == VD_WINDOW_SAME_DAY) {
        vd_time ds = VD_TIME_MIN, de = VD_TIME_MAX, xs, xe;
        if (in.start != VD_TIME_MIN)
            src->local_day(in.start, tz, &ds, &de);
        if (in.end == VD_TIME_MAX)
            de = VD_TIME_MAX;
        else if (in.end > de) {      /* crosses midnight: through the last second's day */
            src->local_day(in.end - 1, tz, &xs, &xe);
            de = xe > de ? xe : de;
        }
        *ws = ds < in.start ? ds : in.start;
        *we = de > in.end ? de : in.end;
    }
}

static vd_err check_instances(const vd_rules *r, const rule_set *e, const vd_visit *v,
                              const vd_rules_source *src, hits *h)
{
    bool by_owner = h->rule == VD_RULE_REP_OVERLAP;
    if (by_owner ? !v->owner : !v->customer_id)
        return VD_OK;            /* nothing this rule can say */
    if (!src || (by_owner ? !src->by_owner : !src->by_customer) ||
        (h->rule == VD_RULE_CUSTOMER_OVERLAP && e->window == VD_WINDOW_SAME_DAY &&
         !src->local_day))
        return VD_EINVAL;
    h->first = h->out->n;
    vd_time last_ws = 0, last_we = 0;
    bool have_last = false;
    for (size_t i = 0; i < v->n_inst; i++) {
        h->inst = v->inst[i];
        if (h->inst.end < h->inst.start)
            h->inst.end = h->inst.start;
        window_of(e, r->tz, src, h->rule, h->inst, &h->ws, &h->we);
        if (h->ws >= h->we)
            continue;            /* empty: nothing can overlap it strictly */
        if (have_last && h->ws == last_ws && h->we == last_we)
            continue;            /* same window, same answers (first instance wins) */
        have_last = true;
        last_ws = h->ws;
        last_we = h->we;
        vd_err err = by_owner
            ? src->by_owner(src->ctx, v->owner, h->ws, h->we, v->ref, on_neighbour, h)
            : src->by_customer(src->ctx, v->customer_id, h->ws, h->we, v->ref, on_neighbour, h);
        if (err)
            return err;
    }
    return VD_OK;
}

static vd_err check_required(const vd_visit *v, hits *h)
{
    if (!(v->customer_id && !v->has_purpose) && !(!v->customer_id && v->looks_like_visit))
        return VD_OK;
    h->inst = v->n_inst ? v->inst[0] : (vd_instance){0, 0};
    vd_conflict *c = new_item(h);
    if (!c)
        return VD_ENOMEM;
    h->out->n++;
    return VD_OK;
}

static int cmp_str(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : b ? -1 : 0;
    return strcmp(a, b);
}

static int cmp_conflict(const void *pa, const void *pb)
{
    const vd_conflict *a = pa, *b = pb;
    if (a->rule != b->rule)
        return a->rule < b->rule ? -1 : 1;
    if (a->other_start != b->other_start)
        return a->other_start < b->other_start ? -1 : 1;
    int c = cmp_str(a->other_ref, b->other_ref);
    if (c)
        return c;
    if (a->other_end != b->other_end)
        return a->other_end < b->other_end ? -1 : 1;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* ------------------------------------------------------------------ */
/* messages                                                            */

typedef struct local_tm {
    char date[16];              /* 2027-03-01 */
    char hm[8];                 /* 09:00 */
} local_tm;

static bool local_time(vd_time t, int off, local_tm *out)
{
    /* years 1..9999 only: the rest is "unbounded" for a message */
    if (t < -62135596800LL || t > 253402300799LL)
        return false;
    time_t tt = (time_t)(t + off);
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return false;
    snprintf(out->date, sizeof out->date, "%04d-%02d-%02d",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100);
    snprintf(out->hm, sizeof out->hm, "%02d:%02d", tm.tm_hour % 100, tm.tm_min % 100);
    return true;
}

/* "2027-03-01 09:00-10:00", "... 00:00-24:00", or across days with both dates. */
static void format_span(char *buf, size_t n, vd_time s, vd_time e, const char *tz,
                        const vd_rules_source *src)
{
    local_tm a, b;
    int oa = src && src->utc_offset ? src->utc_offset(s, tz) : 0;
    int ob = src && src->utc_offset ? src->utc_offset(e, tz) : 0;
    const char *suffix = (src && src->utc_offset) || strcmp(tz, "UTC") == 0 ? "" : " UTC";
    if (!local_time(s, oa, &a) || !local_time(e, ob, &b)) {
        snprintf(buf, n, "an open-ended time");
        return;
    }
    local_tm before_end;
    bool midnight_end = strcmp(b.hm, "00:00") == 0 && e > s &&
                        local_time(e - 1, ob, &before_end) && strcmp(before_end.date, a.date) == 0;
    if (e == s)
        snprintf(buf, n, "%s %s%s", a.date, a.hm, suffix);
    else if (strcmp(a.date, b.date) == 0)
        snprintf(buf, n, "%s %s-%s%s", a.date, a.hm, b.hm, suffix);
    else if (midnight_end)
        snprintf(buf, n, "%s %s-24:00%s", a.date, a.hm, suffix);
    else
        snprintf(buf, n, "%s %s-%s %s%s", a.date, a.hm, b.date, b.hm, suffix);
}

/* At most max bytes of s, cut at a UTF-8 character boundary. */
static int utf8_prefix(const char *s, int max)
{
    int n = (int)strnlen(s, (size_t)max + 1);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static void set_message(vd_conflict *c, const rule_set *e, const vd_visit *v, const char *tz,
                        const vd_rules_source *src)
{
    const char *name = vd_rule_name(c->rule);
    if (c->rule == VD_RULE_REQUIRED_FIELDS) {
        if (v->customer_id)
            snprintf(c->message, sizeof c->message, "%s: a customer visit needs a purpose "
                     "(DESCRIPTION or X-VISIT-PURPOSE)", name);
        else
            snprintf(c->message, sizeof c->message, "%s: the customer of this visit is "
                     "not recognised", name);
        return;
    }
    char when[96], why[48] = "";
    format_span(when, sizeof when, c->other_start, c->other_end, tz, src);
    const char *who = c->other_owner ? c->other_owner : "someone";
    int wl = utf8_prefix(who, MSG_OWNER_MAX);
    if (c->rule == VD_RULE_REP_OVERLAP) {
        snprintf(c->message, sizeof c->message, "%s: %.*s already has a busy event on %s",
                 name, wl, who, when);
        return;
    }
    if (c->rule == VD_RULE_CUSTOMER_CADENCE)
        snprintf(why, sizeof why, "within %d days", e->days);
    else if (e->window == VD_WINDOW_SAME_DAY)
        snprintf(why, sizeof why, "same day");
    else if (e->window == VD_WINDOW_HOURS)
        snprintf(why, sizeof why, "within %d hours", e->hours);
    else
        snprintf(why, sizeof why, "overlapping");
    snprintf(c->message, sizeof c->message, "%s: %.*s %s this customer on %s (%s)", name, wl,
             who, c->rule == VD_RULE_CUSTOMER_CADENCE ? "also visits" : "already visits",
             when, why);
}

vd_err vd_rules_check(const vd_rules *r, const vd_visit *v, const vd_rules_source *src,
                      vd_conflicts *out)
{
    if (!out)
        return VD_EINVAL;
    memset(out, 0, sizeof *out);
    if (!v || (v->n_inst && !v->inst))
        return VD_EINVAL;
    if (v->n_inst > VD_MAX_EXPAND_INST)
        return VD_ETOOBIG;
    if (!r)
        r = &DEFAULTS;
    rule_set e;
    effective(r, v->team, &e);
    hits h = { .out = out, .v = v };
    vd_err err = VD_OK;
    for (int i = 0; i < VD_RULE_COUNT && !err; i++) {
        h.rule = (vd_rule)i;
        h.pol = e.policy[i];
        if (h.pol == VD_POLICY_OFF || (v->approved & (1u << i)))
            continue;
        if (h.rule == VD_RULE_REQUIRED_FIELDS)
            err = check_required(v, &h);
        else if (!v->transparent && !v->cancelled)
            err = check_instances(r, &e, v, src, &h);
        free(h.slots);
        h.slots = NULL;
        h.nslots = 0;
    }
    if (err) {
        vd_conflicts_clear(out);
        return err;
    }
    if (out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, cmp_conflict);
    for (size_t i = 0; i < out->n; i++) {
        set_message(&out->items[i], &e, v, r->tz, src);
        if (out->items[i].policy == VD_POLICY_REJECT)
            out->reject = true;
    }
    return VD_OK;
}
