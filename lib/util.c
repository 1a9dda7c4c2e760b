/* util.c - error strings, diagnostics and time formatting shared by all. */
#include "vd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *vd_strerror(vd_err e)
{
    switch (e) {
    case VD_OK:         return "ok";
    case VD_ENOTFOUND:  return "not found";
    case VD_EEXISTS:    return "already exists";
    case VD_EINVAL:     return "invalid input";
    case VD_ENOMEM:     return "out of memory";
    case VD_EIO:        return "storage error";
    case VD_ETOOBIG:    return "limit exceeded";
    case VD_EPRECOND:   return "precondition failed";
    case VD_EFORBIDDEN: return "forbidden";
    case VD_ECONFLICT:  return "conflict";
    case VD_EBUSY:      return "busy";
    }
    return "unknown error";
}

void vd_diag_set(vd_diag *d, int status, const char *precond_ns,
                 const char *precond, const char *fmt, ...)
{
    if (!d)
        return;
    d->status = status;
    d->precond_ns = precond_ns;
    d->precond = precond;
    d->href[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->message, sizeof d->message, fmt, ap);
        va_end(ap);
    } else {
        d->message[0] = '\0';
    }
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

vd_err vd_time_parse_utc(const char *s, vd_time *out)
{
    /* YYYYMMDDTHHMMSSZ */
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' ||
        !all_digits(s, 8) || !all_digits(s + 9, 6))
        return VD_EINVAL;
    struct tm tm = {0};
    tm.tm_year = num(s, 4) - 1900;
    tm.tm_mon = num(s + 4, 2) - 1;
    tm.tm_mday = num(s + 6, 2);
    tm.tm_hour = num(s + 9, 2);
    tm.tm_min = num(s + 11, 2);
    tm.tm_sec = num(s + 13, 2);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return VD_EINVAL;
    *out = (vd_time)timegm(&tm);
    return VD_OK;
}

void vd_time_format_utc(vd_time t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void vd_time_format_http(vd_time t, char out[30])
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    /* Locale-independent on purpose: strftime's %a/%b follow LC_TIME.  Written
     * digit by digit, not with snprintf: every GET and PROPFIND member asks. */
    int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999) {            /* outside IMF-fixdate: clamp */
        snprintf(out, 30, "%s", year < 0 ? "Thu, 01 Jan 1970 00:00:00 GMT"
                                         : "Fri, 31 Dec 9999 23:59:59 GMT");
        return;
    }
    char *o = out;
    memcpy(o, days[tm.tm_wday], 3);
    o += 3;
    *o++ = ',';
    *o++ = ' ';
    *o++ = (char)('0' + tm.tm_mday / 10);
    *o++ = (char)('0' + tm.tm_mday % 10);
    *o++ = ' ';
    memcpy(o, mons[tm.tm_mon], 3);
    o += 3;
    *o++ = ' ';
    *o++ = (char)('0' + year / 1000);
    *o++ = (char)('0' + year / 100 % 10);
    *o++ = (char)('0' + year / 10 % 10);
    *o++ = (char)('0' + year % 10);
    *o++ = ' ';
    int hms[3] = { tm.tm_hour, tm.tm_min, tm.tm_sec };
    for (int i = 0; i < 3; i++) {
        *o++ = (char)('0' + hms[i] / 10);
        *o++ = (char)('0' + hms[i] % 10);
        *o++ = i < 2 ? ':' : ' ';
    }
    memcpy(o, "GMT", 4);                      /* 29 characters and the NUL */
}

vd_time vd_now(void)
{
    return (vd_time)time(NULL);
}
