/* llm.h — the Mistral decoder of OmniLMM / RLAIF-V: per-token log-probs of N candidate
 * responses after one shared prefix (docs/model.md §8, §9).
 * Owns: llm_model (read-only views of the checkpoint's decoder tensors, shapes validated,
 * shared by every worker) and llm_ws (one per worker thread: KV cache, RoPE table and all
 * scratch, sized once from llm_limits; nothing is allocated per job).
 * Knows nothing of tokenizers, images or the wire: it takes token ids and embedding rows.
 *
 * Use:  llm_model_init(&m, ckpt, &cfg, &err);  llm_ws_init(&ws, m, &limits, mm, &err);
 *       per job: llm_prefix(ws, ids, P, img_rows, img_pos, 256, &err);
 *                llm_score(ws, cands, lens, N, logps, sums, &err);
 *       or both in one pass: llm_prefix_score(ws, ids, P, ..., cands, lens, N, logps, sums, &err);
 * Compute is fp32 with every large product in cblas_sgemm (mm.h); log-softmax with max
 * subtraction, per-token log-probs and their sums in double. */
#ifndef RLV_LLM_H
#define RLV_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"
#include "model_config.h"
#include "err.h"
#include "mm.h"
#include "timing.h"
#include "wstream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct llm_model llm_model;
typedef struct llm_ws llm_ws;

/* Binds the decoder's tensors of ckpt c (the manifest's MT_LLM_*, manifest_want: each checked
 * against cfg's sizes). RLV_EMISSING / RLV_ESHAPE / RLV_EDTYPE / RLV_EQ8 name the tensor,
 * RLV_ECONFIG the sizes; RLV_ENOMEM.
 * c and cfg must outlive the model (tensor bytes stay in the checkpoint's mmap). */
int llm_model_init(llm_model **out, const ckpt *c, const rlv_model_config *cfg, rlv_err *err);
/* *m becomes NULL; NULL is a no-op. */
void llm_model_free(llm_model **m);
/* Repacks every matrix of the products (mm_repack_weight: all but the token embeddings). */
int llm_model_repack(llm_model *m, mm_repack *r, const ckpt *c, rlv_err *err);
/* Direct reads of the layers' matrices (llm.c design note 7): every matrix the products read
 * from c's mapping as stored (not repacked, not q8) is then read by each workspace's wstream
 * (wstream.h) from its file into that workspace's slots, the next layer while one computes,
 * instead of through the page cache. Call after llm_model_repack, before llm_ws_init. RLV_OK
 * (nothing to read directly is fine), RLV_ENOMEM, RLV_EUNSUPPORTED naming a file that does not
 * open for direct reads (the model then reads its mapping as before). */
int llm_model_stream(llm_model *m, const ckpt *c, rlv_err *err);
/* Bytes read directly per pass over the layers (0: none); *slot_bytes (may be NULL): one slot. */
size_t llm_model_stream_bytes(const llm_model *m, size_t *slot_bytes);
/* Bytes of the weights the model reads: its matrices as stored (q8 with their scales), its norm
 * weights as the f32 copies it keeps. */
size_t llm_model_weight_bytes(const llm_model *m);

typedef struct llm_limits {
    int max_prefix;      /* tokens of the shared prefix (template + image slots + question) */
    int max_cand_tokens; /* sum over the candidates of one job of their token counts */
    int max_cands;       /* candidates per job */
} llm_limits;

/* Allocates one worker's workspace for model m (which must outlive it); its products run on
 * mm (the worker's context and thread pool, which must outlive it too). Everything a job
 * needs is allocated here. RLV_EINVAL for limits < 1, RLV_ENOMEM. */
int llm_ws_init(llm_ws **out, const llm_model *m, const llm_limits *lim, mm_ctx *mm, rlv_err *err);
/* *ws becomes NULL; NULL is a no-op. */
void llm_ws_free(llm_ws **ws);
/* Bytes allocated by the workspace: KV cache, and everything else (activations, scores, RoPE). */
size_t llm_ws_kv_bytes(const llm_ws *ws);
/* Bytes of the workspace's direct-read slots (0: none), and its reader's counters. */
size_t llm_ws_stream_bytes(const llm_ws *ws);
void llm_ws_stream_stats(llm_ws *ws, wstream_stats *out);
size_t llm_ws_scratch_bytes(const llm_ws *ws);
/* Stage times of every later llm_prefix / llm_score are added to *t (caller-owned, must outlive
 * its use; NULL stops measuring). For benchmarks; costs two clock reads per stage. */
void llm_ws_set_timing(llm_ws *ws, rlv_timing *t);

/* Later llm_prefix / llm_score calls stop before the next decoder layer once deadline_ms
 * (clock_now_ms' clock; 0 = none, the default) has passed, returning RLV_ETIMEOUT. */
void llm_ws_set_deadline(llm_ws *ws, double deadline_ms);

/* Runs the decoder over the prefix once and keeps its KV cache in ws (replacing any earlier
 * prefix). ids[n] are token ids; for k < n_emb, position emb_pos[k] takes the float row
 * emb + k * hidden instead of the embedding of ids[emb_pos[k]] (the image slots; that id is
 * ignored). RLV_EINVAL (n < 1, id out of range, bad or repeated position),
 * RLV_ETOO_LONG (n > max_prefix), RLV_ETIMEOUT (the deadline). On error ws holds no prefix. */
int llm_prefix(llm_ws *ws, const int32_t *ids, int n, const float *emb, const int *emb_pos,
               int n_emb, rlv_err *err);

/* Saved prefixes (the prefix cache's values): the state llm_prefix leaves — K/V rows of every
 * layer and the last row's logits with their log-sum-exp — as one block of bytes.
 * llm_prefix_state_bytes: the size for an n-token prefix of model m.
 * llm_prefix_save: copies ws's current prefix into dst (bytes must be that size for ws's prefix;
 *   dst 8-byte aligned). RLV_EINVAL without a prefix or for another size.
 * llm_prefix_attach: makes a saved state the prefix of ws's next llm_score calls, read in place
 *   (no copy): src must stay alive and unchanged until llm_prefix_detach, the next llm_prefix or
 *   attach, or llm_ws_free. The state must come from a model of the same weights (the caller's
 *   key says so; only the sizes are checked: RLV_EINVAL, RLV_ETOO_LONG above max_prefix).
 *   Log-probs are then bitwise those after llm_prefix of the same ids and rows.
 * llm_prefix_detach: forgets the prefix (ws no longer points into src). */
size_t llm_prefix_state_bytes(const llm_model *m, int n);
int llm_prefix_save(const llm_ws *ws, void *dst, size_t bytes, rlv_err *err);
int llm_prefix_attach(llm_ws *ws, const void *src, size_t bytes, rlv_err *err);
void llm_prefix_detach(llm_ws *ws);

/* Log-probs of n candidates after the current prefix, all packed into one batch: cand[i]
 * holds lens[i] >= 1 ids; logps receives sum(lens) values, candidate after candidate
 * (logps[off_i + j] = log p(cand[i][j] | prefix, cand[i][<j])); sums[i] (may be NULL) gets
 * their sum. RLV_EINVAL (no prefix, bad length or id), RLV_ELIMIT (n > max_cands),
 * RLV_ETOO_LONG (sum(lens) > max_cand_tokens), RLV_ETIMEOUT (the deadline). The prefix stays
 * valid for further calls. */
int llm_score(llm_ws *ws, const int32_t *const *cand, const int *lens, int n, double *logps,
              double *sums, rlv_err *err);

/* llm_prefix then llm_score, in one pass over the weights: every layer takes the prefix rows and
 * the candidate rows as one batch (the candidates' attention reads the prefix's K/V of the same
 * layer), so each weight is read and packed once per job instead of twice, with more rows per
 * product. Log-probs as the two calls give (test_llm_ref); ws then holds the prefix as after
 * llm_prefix (llm_prefix_save works). Runs the two calls instead when the prefix and candidate
 * rows together exceed max(max_prefix, max_cand_tokens), the rows one forward holds. Errors of
 * either call; on any error ws holds no prefix. */
int llm_prefix_score(llm_ws *ws, const int32_t *ids, int np, const float *emb, const int *emb_pos, int n_emb,
                     const int32_t *const *cand, const int *lens, int n, double *logps, double *sums, rlv_err *err);

#ifdef __cplusplus
}
#endif
#endif
