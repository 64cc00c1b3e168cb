/* cmd_convert.c — `rlaifv convert MODEL OUT.safetensors`: writes every tensor of a checkpoint
 * (safetensors or pytorch_model.bin, single or sharded) into one safetensors file, bytes unchanged.
 * Views that share a storage in a .bin become separate ranges (safetensors forbids overlap).
 * Writes OUT.tmp, then renames, so a failed run leaves no half file under OUT. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "cmd.h"

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

int cmd_convert(int argc, char **argv) {
    if (argc != 3) {
        fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
                "usage: rlaifv convert MODEL OUT.safetensors\n"
                "  MODEL: a checkpoint directory or file (safetensors or pytorch_model.bin, sharded or not).\n"
                "  Writes all its tensors, bytes unchanged, into one safetensors file.\n");
        return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    rlv_err err = {0};
    ckpt *c = NULL;
    if (ckpt_open(&c, argv[1], &err)) {
        fprintf(stderr, "error: %s [%s]\n", err.msg, rlv_err_name(err.code));
        return 1;
    }
    /* Header: {name: {dtype, shape, data_offsets}} in file order, padded to 8 bytes. */
    json_t *h = json_object();
    size_t off = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i);
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(h, t->name, json_pack("{s:s, s:o, s:[I,I]}", "dtype", rlv_dtype_name(t->dtype), "shape",
                                                  shape, "data_offsets", (json_int_t)off, (json_int_t)(off + t->nbytes)));
        off += t->nbytes;
    }
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!js) {
        ckpt_free(&c);
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    size_t jn = strlen(js), pad = (8 - jn % 8) % 8;
    uint64_t hl = jn + pad;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hl >> (8 * i));
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *f = fopen(tmp, "wb");
    int ok = f && write_all(f, len8, 8) && write_all(f, js, jn) && write_all(f, "        ", pad);
    for (int i = 0; ok && i < ckpt_n_tensors(c); i++) ok = write_all(f, ckpt_tensor(c, i)->data, ckpt_tensor(c, i)->nbytes);
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, argv[2]) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "error: %s: %s\n", f ? argv[2] : tmp, strerror(errno));
        remove(tmp);
    } else {
        printf("%s: %d tensors, %.3f GB (%s in)\n", argv[2], ckpt_n_tensors(c), off / 1e9, ckpt_format(c));
    }
    free(js);
    ckpt_free(&c);
    return ok ? 0 : 1;
}
