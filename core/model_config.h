/* model_config.h — the model's config.json of an OmniLMM / RLAIF-V checkpoint as a typed struct.
 * Owns: parsing (jansson) and the derived sizes (head dims, grids). A missing or ill-typed
 * required field is RLV_ECONFIG naming the field. The vision tower's sizes are fixed by the
 * timm name in mm_vision_tower (EVA02-E) unless the optional "vision_config" overrides them
 * (small test checkpoints, docs/model.md §1). Knows nothing of tensors or files beyond config.json. */
#ifndef RLV_MODEL_CONFIG_H
#define RLV_MODEL_CONFIG_H

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rlv_vision_config {
    int embed_dim;   /* 1792 */
    int num_heads;   /* 16 */
    int depth;       /* 64 in the timm model; depth - 1 blocks are stored and run */
    int mlp_dim;     /* 15360 */
    int patch_size;  /* 14 */
    int base_grid;   /* 16: side of the stored position table (1 + base_grid^2 rows) */
    double ln_eps;   /* 1e-6: eps of every LayerNorm of the tower and of the resampler (timm's EVA
                      * and OmniLMM's Resampler both build them with eps=1e-6); not in config.json */
} rlv_vision_config;

/* Width of one resampler head: OmniLMM's Resampler has hidden_size / 128 heads (not in config.json). */
#define RLV_RESAMPLER_HEAD_DIM 128

typedef struct rlv_model_config {
    char model_type[32];          /* "omnilmm" */
    char mm_vision_tower[128];
    char torch_dtype[16];
    int hidden_size;              /* 4096 */
    int intermediate_size;        /* 14336 */
    int num_hidden_layers;        /* 32 */
    int num_attention_heads;      /* 32 */
    int num_key_value_heads;      /* 8 */
    int vocab_size;               /* 32009 */
    int max_position_embeddings;  /* 32768 */
    int sliding_window;           /* 4096 (Mistral's attention window); 0 when null or absent */
    int num_query;                /* 256: image rows, a perfect square */
    int image_size;               /* 448 */
    int bos_token_id, eos_token_id;
    int tie_word_embeddings;      /* 0 for OmniLMM */
    int mm_use_im_start_end;
    double rms_norm_eps;          /* 1e-5 */
    double rope_theta;            /* 10000 */
    rlv_vision_config vision;
    /* derived */
    int head_dim;                 /* hidden / heads = 128 */
    int kv_dim;                   /* kv_heads * head_dim = 1024 */
    int query_grid;               /* sqrt(num_query) = 16 */
    int resampler_heads;          /* hidden / RLV_RESAMPLER_HEAD_DIM = 32 */
    int vit_grid;                 /* image_size / patch_size = 32 (padded up) */
    int vit_tokens;               /* vit_grid^2 + 1 = 1025 */
} rlv_model_config;

/* Parses config.json text. */
int model_config_parse(rlv_model_config *cfg, const char *json, size_t len, rlv_err *err);
/* Reads and parses a file (e.g. DIR/config.json). */
int model_config_load(rlv_model_config *cfg, const char *path, rlv_err *err);

#ifdef __cplusplus
}
#endif
#endif
