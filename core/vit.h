/* vit.h — the EVA02 vision tower (timm 0.9.10 Eva, post-norm blocks), docs/model.md §4:
 * normalised pixels [3, S, S] -> patch features [grid^2, embed_dim] (final norm applied, CLS dropped).
 * Owns: views of the tower's weights (as stored, bf16/f16/f32, never converted whole), their small
 * vectors in f32, the position table resampled once at load from base_grid to the image's grid
 * with antialiased bicubic (a = -0.5), and with direct reads the plan of its blocks' byte ranges.
 * A vit_ws is one worker's scratch (and then its two slots and reader), sized at creation, so
 * vit_forward does not allocate. The model is read-only after vit_model_init and shared by workers.
 * Its layers (LayerNorm, GELU, attention) and the bicubic kernels of docs/model.md §5 are nn.h's,
 * shared with the resampler. Knows nothing of images as files, of the resampler's math or the LLM.
 *
 * The whole vision step of a job (docs/architecture.md, the data path), per model, with one worker's buffers
 *   px [3 S S], feat [vit_grid^2 vit_width], emb [num_query hidden], all allocated once:
 *     k = imcache_key_of(bytes, len, model_id);
 *     if (!imcache_get(cache, &k, emb, Q * H)) {
 *         rc = image_to_pixels(iws, bytes, len, &limits, cfg.image_size, px, NULL, &err);  // RLV_EIMAGE...
 *         vit_forward(vm, vws, px, feat);
 *         resampler_forward(rm, rws, feat, emb);
 *         imcache_put(cache, &k, emb, Q * H, &err);
 *     }
 *     llm_prefix(lws, ids, P, emb, slot_positions, Q, &err);   // rows into the <im_patch> slots
 * (image_ws_init(&iws, limits.max_side, cfg.image_size, ..) so every accepted image fits.) */
#ifndef RLV_VIT_H
#define RLV_VIT_H

#include <stddef.h>

#include "ckpt.h"
#include "model_config.h"
#include "err.h"
#include "mm.h"
#include "timing.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vit_model vit_model;
typedef struct vit_ws vit_ws;

/* Binds the tower's tensors of c (the manifest's MT_VIT_*, manifest_want: RLV_EMISSING /
 * RLV_ESHAPE / RLV_EDTYPE / RLV_EQ8 naming the tensor) and precomputes the resampled position table. c must outlive *out. */
int vit_model_init(vit_model **out, const ckpt *c, const rlv_model_config *cfg, rlv_err *err);
/* *m becomes NULL; NULL-safe. */
void vit_model_free(vit_model **m);
/* Repacks the patch embedding and every block's four matrices (mm_repack_weight). */
int vit_model_repack(vit_model *m, mm_repack *r, const ckpt *c, rlv_err *err);

/* Direct reads of the blocks' matrices, as llm_model_stream does for the decoder's layers: every
 * block matrix the products read from c's mapping as stored (not repacked, not q8, not another
 * checkpoint's bytes) is then read by each workspace's wstream (wstream.h) from its file into that
 * workspace's two slots, block j + 1 while block j computes, instead of being paged in through
 * the mapping on the compute threads. vit_block must then run the blocks in order (vit_forward
 * does). Call after vit_model_repack, before vit_ws_init. RLV_OK (nothing to read directly is
 * fine), RLV_ENOMEM, RLV_EUNSUPPORTED naming a file that does not open for direct reads (the
 * model then reads its mapping as before). */
int vit_model_stream(vit_model *m, const ckpt *c, rlv_err *err);
/* Bytes read directly per forward (0: none); *slot_bytes (may be NULL): one slot. */
size_t vit_model_stream_bytes(const vit_model *m, size_t *slot_bytes);

/* Sizes: tokens = grid^2 + 1 (with CLS), width = embed_dim, blocks = depth - 1. */
int vit_tokens(const vit_model *m);
int vit_width(const vit_model *m);
int vit_blocks(const vit_model *m);

/* One worker's scratch for m (about 4 * tokens * (5 * width + mlp_dim + 64 * threads) bytes). */
/* mm (the worker's matrix-product context and thread pool) must outlive the workspace. */
int vit_ws_init(vit_ws **out, const vit_model *m, mm_ctx *mm, rlv_err *err);
void vit_ws_free(vit_ws **ws);

/* pixels [3][S][S] (image_to_pixels' output) -> out [grid^2][embed_dim]. RLV_OK, or RLV_ETIMEOUT
 * when ws's deadline passed before a block (out is then not written). */
int vit_forward(const vit_model *m, vit_ws *ws, const float *pixels, float *out);
/* Later vit_forward calls stop before the next block once deadline_ms (clock_now_ms' clock;
 * 0 = none, the default) has passed. */
void vit_ws_set_deadline(vit_ws *ws, double deadline_ms);

/* Steps of vit_forward, exposed for benchmarks: the embedding into the ws's token rows, and one
 * block in place on them. */
void vit_embed(const vit_model *m, vit_ws *ws, const float *pixels);
void vit_block(const vit_model *m, vit_ws *ws, int j);
/* Stage times of later vit_embed / vit_block / vit_forward calls are added to *t (caller-owned;
 * NULL stops measuring). For benchmarks. */
void vit_ws_set_timing(vit_ws *ws, rlv_timing *t);

#ifdef __cplusplus
}
#endif
#endif
