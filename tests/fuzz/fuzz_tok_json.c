/* fuzz_tok_json.c — arbitrary bytes as a tokenizer.json: tok_load must return a value, never
 * crash; a loaded tokenizer must encode and decode a fixed text. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd("tokenizer.json", data, size, path, sizeof path);
    if (fd < 0) return 0;
    tok *t = NULL;
    rlv_err err;
    if (tok_load(&t, path, &err) == RLV_OK) {
        static const char text[] = "  ab a\nb<im_patch> <s>x</s>\t\xE4\xB8\xAD\xF0\x9F\x98\x80 ab";
        fuzz_tok_roundtrip(t, text, sizeof text - 1, 1);
        tok_free(&t);
    }
    close(fd);
    return 0;
}
