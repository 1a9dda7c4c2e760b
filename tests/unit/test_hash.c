/* test_hash.c - ETag hashing is stable and sensitive; SipHash matches the
 * reference test vector; time helpers round-trip. */
#include "check.h"
#include "hash.h"
#include "vd.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int main(void)
{
    char a[17], b[17];
    vd_etag_of("BEGIN:VCALENDAR", 15, a);
    vd_etag_of("BEGIN:VCALENDAR", 15, b);
    CHECK_STR(a, b);
    CHECK_INT(strlen(a), 16);
    vd_etag_of("BEGIN:VCALENDAr", 15, b);
    CHECK(strcmp(a, b) != 0);
    vd_etag_of("", 0, b);
    CHECK(strcmp(a, b) != 0);
    /* One flipped byte anywhere in a long body changes the hash. */
    char body[1000];
    memset(body, 'x', sizeof body);
    uint64_t h0 = vd_hash64(body, sizeof body);
    int changed = 0;
    for (size_t i = 0; i < sizeof body; i += 37) {
        body[i] = 'y';
        changed += vd_hash64(body, sizeof body) != h0;
        body[i] = 'x';
    }
    CHECK_INT(changed, (sizeof body + 36) / 37);

    /* SipHash-2-4 reference vector: key 00..0f, message 00..0e (15 bytes)
     * -> 0xa129ca6149be45e5 (from the SipHash paper's test vectors). */
    uint8_t key[16], msg[15];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++) msg[i] = (uint8_t)i;
    CHECK(vd_siphash(key, msg, 15) == 0xa129ca6149be45e5ull);
    CHECK(vd_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ull);

    vd_time t;
    CHECK_INT(vd_time_parse_utc("20240131T235959Z", &t), VD_OK);
    CHECK_INT(t, 1706745599);
    char s[17];
    vd_time_format_utc(t, s);
    CHECK_STR(s, "20240131T235959Z");
    CHECK_INT(vd_time_parse_utc("20240131T235959", &t), VD_EINVAL);
    CHECK_INT(vd_time_parse_utc("2024013XT235959Z", &t), VD_EINVAL);
    char h[30];
    vd_time_format_http(0, h);
    CHECK_STR(h, "Thu, 01 Jan 1970 00:00:00 GMT");
    vd_time_format_http(1706745599, h);
    CHECK_STR(h, "Wed, 31 Jan 2024 23:59:59 GMT");
    /* The digit-by-digit writer against printf over many times up to 9999. */
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    unsigned long long x = 88172645463325252ull;
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;           /* xorshift64 */
        time_t tt = (time_t)(x % 253402300800ull);         /* 1970 .. 9999-12-31 */
        struct tm tm;
        gmtime_r(&tt, &tm);
        char want[64];
        snprintf(want, sizeof want, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        vd_time_format_http((vd_time)tt, h);
        bad += strcmp(h, want) != 0;
    }
    CHECK_INT(bad, 0);
    return check_done();
}
