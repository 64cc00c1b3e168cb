/* fuzz_torch_bin.c — arbitrary bytes as a pytorch_model.bin (zip + data.pkl + storages): ckpt_open
 * must return a value, never crash, and every tensor it hands out must be readable end to end. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.bin", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ckpt *c = NULL;
    rlv_err err;
    /* ckpt_open picks the reader by suffix: a .bin symlink to the memfd. */
    char link[80];
    snprintf(link, sizeof link, "/tmp/rlv_fuzz_%d.bin", (int)getpid());
    unlink(link);
    if (symlink(path, link) == 0) {
        if (ckpt_open(&c, link, &err) == RLV_OK) {
            volatile uint8_t sink = 0;
            for (int i = 0; i < ckpt_n_tensors(c); i++) {
                const rlv_tensor *t = ckpt_tensor(c, i);
                if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
            }
            (void)sink;
            ckpt_free(&c);
        }
        unlink(link);
    }
    close(fd);
    return 0;
}
