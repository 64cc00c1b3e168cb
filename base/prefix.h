/* prefix.h — prefix tests that take the literal's own length: strncmp(s, "tcp://localhost:", 16)
 * is a number to keep in step with the literal by hand. Header-only; knows nothing else. */
#ifndef RLV_PREFIX_H
#define RLV_PREFIX_H

#include <stddef.h>
#include <string.h>

/* s past prefix p when s (NUL-terminated) starts with it; NULL otherwise. */
static inline const char *prefix_skip(const char *s, const char *p) {
    size_t n = strlen(p);
    return strncmp(s, p, n) ? NULL : s + n;
}

/* The same for s[0..len), which need not be NUL-terminated. */
static inline const char *prefix_skip_n(const char *s, size_t len, const char *p) {
    size_t n = strlen(p);
    return len >= n && !memcmp(s, p, n) ? s + n : NULL;
}

#endif
