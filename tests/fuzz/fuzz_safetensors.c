/* fuzz_safetensors.c — arbitrary bytes as a .safetensors file: ckpt_open must return a value,
 * never crash, and every tensor it hands out must lie inside the file. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd("fuzz.safetensors", data, size, path, sizeof path);
    if (fd < 0) return 0;
    ckpt *c = NULL;
    rlv_err err;
    if (ckpt_open(&c, path, &err) == RLV_OK) {
        fuzz_touch_tensors(c);
        ckpt_free(&c);
    }
    close(fd);
    return 0;
}
