/* cmd_inspect.c — `rlaifv inspect MODEL_DIR`: configuration, tensor count, bytes per dtype, the
 * q8 weights (count, block sizes) and the manifest check, which names every bad q8 tensor. Exit 0 only when the checkpoint is complete and consistent; one line
 * per problem otherwise. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ckpt.h"
#include "clock.h"
#include "cmd.h"
#include "model_config.h"
#include "manifest.h"

/* q8 summary: valid I8 weights by block size; the bad ones are named by the manifest check. */
static void print_q8(const ckpt *c) {
    int blocks[8] = {0}, nblk[8] = {0}, nb = 0, bad = 0, ok = 0;
    size_t scale_bytes = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i), *s;
        int b;
        if (t->dtype != RLV_I8) continue;
        if (ckpt_q8(c, t, &s, &b, NULL)) {
            bad++;
            continue;
        }
        ok++;
        scale_bytes += s->nbytes;
        int j = 0;
        while (j < nb && blocks[j] != b) j++;
        if (j == nb && nb < 8) blocks[nb++] = b;
        if (j < nb) nblk[j]++;
    }
    if (!ok && !bad) return;
    printf("q8: %d weight(s) int8 + F16 scales (%zu scale bytes)", ok, scale_bytes);
    for (int j = 0; j < nb; j++) printf(", %d with block %d", nblk[j], blocks[j]);
    if (bad) printf(", %d bad (errors below)", bad);
    printf("\n");
}

/* Panels (docs/panels.md): how many weights are stored in which kernel layout. */
static void print_panels(const ckpt *c) {
    int n = 0;
    size_t bytes = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++)
        if (ckpt_panels(c, ckpt_tensor(c, i))) n++, bytes += ckpt_tensor(c, i)->nbytes;
    if (n) printf("panels: %d weight(s), %zu bytes, stored in layout %s (read only by a kernel of that layout)\n", n, bytes,
                  ckpt_panel_layout(c));
}

static void on_problem(void *ctx, manifest_problem kind, const char *msg) {
    (void)ctx;
    printf("%s: %s\n", kind == MANIFEST_UNEXPECTED ? "warning" : "error", msg);
}

int cmd_inspect(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: rlaifv inspect MODEL_DIR\n"
                "  Prints config.json's model sizes, the tensors by dtype, and checks every tensor\n"
                "  an OmniLMM / RLAIF-V checkpoint must hold. Exit status 0 only if complete.\n");
        return argc == 2 ? 0 : 2;
    }
    const char *dir = argv[1];
    rlv_err err = {0};
    rlv_model_config cfg;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (model_config_load(&cfg, path, &err)) {
        printf("error: %s [%s]\n", err.msg, rlv_err_name(err.code));
        return 1;
    }
    printf("config: %s, hidden %d, layers %d, heads %d/%d (head dim %d), ffn %d, vocab %d\n",
           cfg.model_type, cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads,
           cfg.num_key_value_heads, cfg.head_dim, cfg.intermediate_size, cfg.vocab_size);
    printf("vision: %s, width %d, %d blocks used, %d heads, mlp %d, patch %d, image %d px (grid %d), "
           "%d image rows (resampler %d heads)\n",
           cfg.mm_vision_tower, cfg.vision.embed_dim, cfg.vision.depth - 1, cfg.vision.num_heads,
           cfg.vision.mlp_dim, cfg.vision.patch_size, cfg.image_size, cfg.vit_grid, cfg.num_query,
           cfg.resampler_heads);
    double t0 = clock_now_ms();
    ckpt *c = NULL;
    if (ckpt_open(&c, dir, &err)) {
        printf("error: %s [%s]\n", err.msg, rlv_err_name(err.code));
        return 1;
    }
    double t1 = clock_now_ms();
    size_t bytes[RLV_N_DTYPES] = {0}, count[RLV_N_DTYPES] = {0}, total = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i);
        bytes[t->dtype] += t->nbytes;
        count[t->dtype]++;
        total += t->nbytes;
    }
    printf("weights: %s, %d file(s), %d tensors, %.1f MB, opened in %.1f ms\n", ckpt_format(c),
           ckpt_n_files(c), ckpt_n_tensors(c), total / 1e6, t1 - t0);
    for (int d = 0; d < RLV_N_DTYPES; d++)
        if (count[d]) printf("  %-4s %5zu tensors %12zu bytes\n", rlv_dtype_name((rlv_dtype)d), count[d], bytes[d]);
    print_q8(c);
    print_panels(c);
    manifest_report rep;
    int rc = manifest_check(&cfg, c, on_problem, NULL, &rep, &err);
    if (rc) {
        printf("error: %s [%s]\n", err.msg, rlv_err_name(err.code));
    } else {
        printf("manifest: ok, %d expected tensors present with the expected shapes", rep.expected);
        if (rep.q8) printf(", %d of them q8", rep.q8);
        if (rep.unexpected) printf(", %d unexpected (warnings above)", rep.unexpected);
        printf("\n");
    }
    ckpt_free(&c);
    return rc ? 1 : 0;
}
