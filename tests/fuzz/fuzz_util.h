/* fuzz_util.h — what several fuzz targets do the same way: put the input bytes in a file the
 * loaders can open by path, touch every tensor a checkpoint hands out, and run a loaded tokenizer
 * over a fixed text. Header-only: each target is one translation unit. */
#ifndef RLV_FUZZ_UTIL_H
#define RLV_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt.h"
#include "tok.h"

/* The input as an anonymous file; path gets its /proc name. Returns the fd (close it), or -1. */
static inline int fuzz_memfd(const char *name, const uint8_t *data, size_t size, char *path, size_t cap) {
    int fd = memfd_create(name, 0);
    if (fd < 0) return -1;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); return -1; }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* Read the first and last byte of every tensor: ASan faults if one lies outside the file. */
static inline void fuzz_touch_tensors(const ckpt *c) {
    volatile uint8_t sink = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i);
        if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sink;
}

/* Encode a fixed text (len bytes, may hold NULs) and decode it back; errors are fine, crashes not. */
static inline void fuzz_tok_roundtrip(const tok *t, const char *text, size_t len, int skip_special) {
    int32_t ids[256];
    int n;
    rlv_err err;
    if (tok_encode(t, text, len, 1, ids, 256, &n, &err) == RLV_OK) {
        char out[1024];
        size_t olen;
        tok_decode(t, ids, n, skip_special, out, sizeof out, &olen, &err);
    }
}

#endif
