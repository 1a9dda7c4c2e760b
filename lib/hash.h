/* hash.h - non-cryptographic hashing used for ETags and in-memory caches. */
#ifndef VD_HASH_H
#define VD_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of bytes (stable across runs and machines: ETags depend on it). */
uint64_t vd_hash64(const void *data, size_t len);

/* SipHash-2-4 with a 128-bit key: keyed hash for caches that must not be
 * predictable by clients (e.g. the credential cache). */
uint64_t vd_siphash(const uint8_t key[16], const void *data, size_t len);

/* Write a strong ETag value (without quotes) for data into out (>= 17 bytes):
 * 16 lowercase hex digits of vd_hash64. */
void vd_etag_of(const void *data, size_t len, char out[17]);

#endif
