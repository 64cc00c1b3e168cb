/* fuzz_safetensors.c — arbitrary bytes as a .safetensors file: ckpt_open must return a value,
 * never crash, and every tensor it hands out must lie inside the file. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ckpt *c = NULL;
    rlv_err err;
    if (ckpt_open(&c, path, &err) == RLV_OK) {
        volatile uint8_t sink = 0;
        for (int i = 0; i < ckpt_n_tensors(c); i++) {
            const rlv_tensor *t = ckpt_tensor(c, i);
            if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        (void)sink;
        ckpt_free(&c);
    }
    close(fd);
    return 0;
}
