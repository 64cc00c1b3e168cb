/* fuzz_safetensors.c — arbitrary bytes as a .safetensors file: ckpt_open must return a value,
 * never crash, and every tensor it hands out must lie inside the file; every I8 tensor's q8 view
 * (ckpt_q8) is a value too, and a valid one's scales are read in full; a tensor stored as panels
 * (ckpt_panels) binds to a value, and a bound one's rows are whole panels. */
#include "fuzz_util.h"
#include "mm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd("fuzz.safetensors", data, size, path, sizeof path);
    if (fd < 0) return 0;
    ckpt *c = NULL;
    rlv_err err;
    if (ckpt_open(&c, path, &err) == RLV_OK) {
        fuzz_touch_tensors(c);
        for (int i = 0; i < ckpt_n_tensors(c); i++) {
            const rlv_tensor *t = ckpt_tensor(c, i), *sc;
            int block;
            mm_weight b;
            if (ckpt_panels(c, t) && mm_weight_bind(&b, c, t, &err) == RLV_OK && (b.w.panel < 1 || t->shape[0] % b.w.panel))
                __builtin_trap();
            if (t->dtype == RLV_I8 && ckpt_q8(c, t, &sc, &block, &err) == RLV_OK) {
                volatile uint8_t x = 0;
                for (size_t j = 0; j < sc->nbytes; j++) x ^= ((const uint8_t *)sc->data)[j];
                (void)x;
                if (block < 1 || t->shape[1] % block || sc->shape[1] * block != t->shape[1]) __builtin_trap();
            }
        }
        ckpt_free(&c);
    }
    close(fd);
    return 0;
}
