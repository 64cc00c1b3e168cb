/* test_util.h — helpers the C tests share. Header-only: each test is one executable. */
#ifndef RLV_TEST_UTIL_H
#define RLV_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Whole file into a malloc-ed buffer (caller frees); NULL if it cannot be read. *n = its size. */
static inline void *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    fclose(f);
    *n = len > 0 ? (size_t)len : 0;
    return b;
}

/* Writes n bytes to path through a temporary file renamed over it: a mapping of the old file
 * keeps the old bytes, a later open() sees the new ones. 0, or -1 when a step failed. */
static inline int replace_file(const char *path, const void *b, size_t n) {
    char tmp[1024];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -1;
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    int ok = fwrite(b, 1, n, f) == n;
    if (fclose(f) != 0) ok = 0;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

#endif
