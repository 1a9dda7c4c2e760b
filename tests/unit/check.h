/* check.h - the unit tests' whole framework: CHECK records a pass or a
 * failure (with file:line and the expression), check_done() prints
 * "N passed, M failed" and gives the exit status. */
#ifndef VD_CHECK_H
#define VD_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(expr) do { \
    if (expr) { check_passed++; } \
    else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #expr); } \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *ca_ = (a), *cb_ = (b); \
    if (ca_ && cb_ && strcmp(ca_, cb_) == 0) { check_passed++; } \
    else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s == %s (\"%s\" vs \"%s\")\n", \
           __FILE__, __LINE__, #a, #b, ca_ ? ca_ : "(null)", cb_ ? cb_ : "(null)"); } \
} while (0)

#define CHECK_INT(a, b) do { \
    long long ca_ = (long long)(a), cb_ = (long long)(b); \
    if (ca_ == cb_) { check_passed++; } \
    else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s == %s (%lld vs %lld)\n", \
           __FILE__, __LINE__, #a, #b, ca_, cb_); } \
} while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
