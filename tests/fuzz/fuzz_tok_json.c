/* fuzz_tok_json.c — arbitrary bytes as a tokenizer.json: tok_load must return a value, never
 * crash; a loaded tokenizer must encode and decode a fixed text. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("tokenizer.json", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    tok *t = NULL;
    rlv_err err;
    if (tok_load(&t, path, &err) == RLV_OK) {
        static const char text[] = "  ab a\nb<im_patch> <s>x</s>\t\xE4\xB8\xAD\xF0\x9F\x98\x80 ab";
        int32_t ids[256];
        int n;
        if (tok_encode(t, text, sizeof text - 1, 1, ids, 256, &n, &err) == RLV_OK) {
            char out[1024];
            size_t len;
            tok_decode(t, ids, n, 1, out, sizeof out, &len, &err);
        }
        tok_free(&t);
    }
    close(fd);
    return 0;
}
