/* resampler.h — OmniLMM's perceiver resampler, docs/model.md §6: the ViT features
 * [grid^2][vit width] -> the image embedding [num_query][hidden] that fills the <im_patch> slots.
 * Owns: views of model.resampler.* (as stored), its f32 vectors, the key position table resized
 * once at load with PLAIN bicubic (a = -0.75) from query_grid to the ViT grid, and the query side
 * (LN_q(query) + pos_q).Wq^T + bq, which depends on no image and is therefore computed once at load.
 * A resampler_ws is one worker's scratch; resampler_forward does not allocate.
 * Knows nothing of pixels or of the decoder. */
#ifndef RLV_RESAMPLER_H
#define RLV_RESAMPLER_H

#include "ckpt.h"
#include "model_config.h"
#include "err.h"
#include "mm.h"
#include "timing.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct resampler_model resampler_model;
typedef struct resampler_ws resampler_ws;

/* Binds the tensors (the manifest's MT_RS_*, manifest_want: RLV_EMISSING / RLV_ESHAPE /
 * RLV_EDTYPE / RLV_EQ8 naming the tensor), precomputes the position table
 * and the projected queries. c must outlive *out. */
int resampler_model_init(resampler_model **out, const ckpt *c, const rlv_model_config *cfg, rlv_err *err);
void resampler_model_free(resampler_model **m);
/* Repacks kv_proj, out_proj and in_proj (when its q/k/v thirds start on panels) — not proj,
 * which multiplies as x.W (mm_xw). */
int resampler_model_repack(resampler_model *m, mm_repack *r, const ckpt *c, rlv_err *err);

/* Rows of the output (num_query; each hidden_size wide). */
int resampler_rows(const resampler_model *m);

/* mm (the worker's matrix-product context and thread pool) must outlive the workspace. */
int resampler_ws_init(resampler_ws **out, const resampler_model *m, mm_ctx *mm, rlv_err *err);
void resampler_ws_free(resampler_ws **ws);
/* Stage times of later resampler_forward calls are added to *t (caller-owned; NULL stops
 * measuring). For benchmarks. */
void resampler_ws_set_timing(resampler_ws *ws, rlv_timing *t);

/* Starts reading the resampler's weight matrices from the disk (ckpt_prefetch) and returns. */
void resampler_prefetch(const resampler_model *m);

/* x [vit_grid^2][vit width] (vit_forward's output) -> out [num_query][hidden]. */
void resampler_forward(const resampler_model *m, resampler_ws *ws, const float *x, float *out);

#ifdef __cplusplus
}
#endif
#endif
