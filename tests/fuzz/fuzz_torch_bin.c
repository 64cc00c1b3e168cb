/* fuzz_torch_bin.c — arbitrary bytes as a pytorch_model.bin (zip + data.pkl + storages): ckpt_open
 * must return a value, never crash, and every tensor it hands out must be readable end to end. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd("fuzz.bin", data, size, path, sizeof path);
    if (fd < 0) return 0;
    /* ckpt_open picks the reader by suffix: a .bin symlink to the memfd. */
    char link[80];
    snprintf(link, sizeof link, "/tmp/rlv_fuzz_%d.bin", (int)getpid());
    unlink(link);
    if (symlink(path, link) == 0) {
        ckpt *c = NULL;
        rlv_err err;
        if (ckpt_open(&c, link, &err) == RLV_OK) {
            fuzz_touch_tensors(c);
            ckpt_free(&c);
        }
        unlink(link);
    }
    close(fd);
    return 0;
}
