/* manifest.h — the tensors an OmniLMM / RLAIF-V checkpoint must contain, shapes derived from config.
 * Owns: the expected-name list (docs/model.md §2) and the check of a checkpoint against it,
 * which reports EVERY missing, mis-shaped or unexpected tensor, not just the first. */
#ifndef RLV_MANIFEST_H
#define RLV_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"
#include "model_config.h"
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MANIFEST_NAME_MAX 96

/* Every tensor of the manifest, in state_dict order: the id a model module binds by. An id of a
 * decoder layer (MT_LLM_Q .. MT_LLM_LN_POST) or of a stored ViT block (MT_VIT_NORM1_W ..
 * MT_VIT_FC2_B) stands for that tensor of every layer / block, told apart by an index; the
 * others take index 0. Names and shapes are manifest.c's table, nowhere else. */
typedef enum manifest_id {
    MT_LLM_EMBED,
    MT_LLM_Q, MT_LLM_K, MT_LLM_V, MT_LLM_O, MT_LLM_GATE, MT_LLM_UP, MT_LLM_DOWN, MT_LLM_LN_IN, MT_LLM_LN_POST,
    MT_LLM_NORM,
    MT_VIT_CLS, MT_VIT_POS, MT_VIT_PATCH_W, MT_VIT_PATCH_B,
    MT_VIT_NORM1_W, MT_VIT_NORM1_B, MT_VIT_Q_BIAS, MT_VIT_V_BIAS, MT_VIT_QKV, MT_VIT_PROJ_W, MT_VIT_PROJ_B,
    MT_VIT_NORM2_W, MT_VIT_NORM2_B, MT_VIT_FC1_W, MT_VIT_FC1_B, MT_VIT_FC2_W, MT_VIT_FC2_B,
    MT_VIT_NORM_W, MT_VIT_NORM_B,
    MT_RS_QUERY, MT_RS_POS, MT_RS_PROJ, MT_RS_KV_PROJ, MT_RS_IN_PROJ_W, MT_RS_IN_PROJ_B, MT_RS_OUT_PROJ_W,
    MT_RS_OUT_PROJ_B, MT_RS_LN_Q_W, MT_RS_LN_Q_B, MT_RS_LN_KV_W, MT_RS_LN_KV_B, MT_RS_LN_POST_W, MT_RS_LN_POST_B,
    MT_LLM_HEAD, /* only when !tie_word_embeddings (tied: the decoder reads MT_LLM_EMBED) */
    MT_COUNT
} manifest_id;

typedef struct manifest_entry {
    char name[MANIFEST_NAME_MAX];
    manifest_id id;
    int index; /* the decoder layer or ViT block; 0 for the others */
    int ndim;
    int64_t shape[4];
    int q8; /* 1: may be stored as q8 (I8 + "<name>_scale", docs/quantization.md) */
} manifest_entry;

/* The expected tensors, in state_dict order. *out is malloc-ed (caller frees with free()). */
int manifest_build(const rlv_model_config *cfg, manifest_entry **out, int *n, rlv_err *err);

/* The tensor a model module binds: *out = tensor `id` (of layer / block `index`) of c when it
 * passes the check manifest_check makes of it: present, the shape cfg gives, I8 only where q8 is
 * allowed and then with a valid scale. RLV_OK, or RLV_EMISSING / RLV_ESHAPE / RLV_EDTYPE /
 * RLV_EQ8 with the line manifest_check reports for it (the tensor's name, both shapes). The
 * modules' one lookup, so they restate no name and no shape. index must exist under cfg. */
int manifest_want(const rlv_model_config *cfg, const ckpt *c, manifest_id id, int index, const rlv_tensor **out,
                  rlv_err *err);
/* manifest_want, then the tensor widened to f32 into dst (room for all its elements, which the
 * caller knows from cfg): the vectors and tables the modules keep in f32. *n (may be NULL) = the
 * floats written. For tensors that are never q8 (RLV_ASSERT). */
int manifest_want_f32(const rlv_model_config *cfg, const ckpt *c, manifest_id id, int index, float *dst, size_t *n,
                      rlv_err *err);

/* 1 when tensor `name` (a manifest name, or its q8 scale) is the vision tower's or the
 * resampler's: the weights behind an image embedding. */
int manifest_is_vision(const char *name);

typedef enum {
    MANIFEST_MISSING = 0,
    MANIFEST_BAD_SHAPE = 1,
    MANIFEST_UNEXPECTED = 2,
    MANIFEST_BAD_DTYPE = 3, /* I8 where the format keeps the original dtype (a norm, a bias...) */
    MANIFEST_BAD_Q8 = 4,    /* a q8 weight whose scale is missing or invalid, or a stray "_scale" */
} manifest_problem;

typedef struct manifest_report {
    int expected, missing, bad_shape, unexpected;
    int bad_dtype, bad_q8;
    int q8; /* expected tensors present as valid q8 weights */
} manifest_report;

/* Checks c against the manifest of cfg. Calls cb (if non-NULL) once per problem with a one-line
 * message. Each listed tensor may be F32/F16/BF16, or (entries with q8 set) I8 with a valid
 * companion (ckpt_q8). Missing, mis-shaped, wrongly-I8 and bad q8 tensors and stray "_scale"
 * tensors are errors (RLV_EMISSING / RLV_ESHAPE / RLV_EDTYPE / RLV_EQ8, err summarises);
 * unexpected ones are warnings only (RLV_OK). */
int manifest_check(const rlv_model_config *cfg, const ckpt *c,
                   void (*cb)(void *ctx, manifest_problem kind, const char *msg), void *ctx,
                   manifest_report *rep, rlv_err *err);

#ifdef __cplusplus
}
#endif
#endif
