/* hash.c - 64-bit hashing for ETags (stable forever: stored ETags and the
 * ones clients hold depend on it) and SipHash-2-4 for keyed caches. */
#include "hash.h"

#include <stdio.h>
#include <string.h>

static uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A multiply-mix hash over 8-byte words with a murmur-style finaliser:
 * fast on large iCalendar bodies and well distributed.  Not keyed: an
 * ETag needs stability, not secrecy. */
uint64_t vd_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t h = 0x243F6A8885A308D3ull ^ ((uint64_t)len * k);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = load64(p + i) * 0xBF58476D1CE4E5B9ull;
        w ^= w >> 31;
        h = rotl(h ^ w, 27) * k + 0x52DCE729ull;
    }
    uint64_t tail = 0;
    for (size_t j = len; j > i; j--)
        tail = (tail << 8) | p[j - 1];
    h ^= tail * 0x94D049BB133111EBull;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

#define SIPROUND do { \
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
} while (0)

uint64_t vd_siphash(const uint8_t key[16], const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t k0 = load64(key), k1 = load64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = load64(p + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t j = 0; j < len - i; j++)
        b |= (uint64_t)p[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void vd_etag_of(const void *data, size_t len, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)vd_hash64(data, len));
}
