/* nn.h — the layers the EVA ViT (vit.c) and the resampler (resampler.c) share: LayerNorm, row
 * softmax, GELU, row adds, unmasked multi-head attention on a worker's pool, and the bicubic
 * resampling of square position tables (docs/model.md §4, §5, §6); and the element-wise exp sums
 * and SiLU the decoder (llm.c) uses too.
 * Owns nothing: every buffer is the caller's. Knows nothing of checkpoints or models. */
#ifndef RLV_NN_H
#define RLV_NN_H

#include <stddef.h>

#include "err.h"
#include "mm.h"
#include "pool.h"
#include "tensor.h"
#include "timing.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Resamples a square position table: src rows row0 .. row0 + in_grid^2 - 1 of a [rows][dim] tensor
 * (any dtype) from in_grid x in_grid to out_grid x out_grid, into dst [out_grid^2][dim] f32, row-major.
 * antialias = 1: torch's antialiased bicubic (a = -0.5, taps truncated and renormalised: timm's
 * resample_abs_pos_embed); antialias = 0: plain bicubic (a = -0.75, clamped taps: F.interpolate
 * mode='bicubic'). Computed in double. Returns RLV_OK or RLV_ENOMEM (allocates at load time only). */
int nn_resample_table(const rlv_tensor *src, int row0, int in_grid, int out_grid, int antialias,
                      float *dst, rlv_err *err);

/* LayerNorm of n rows of width d in place (biased variance, eps), w and b f32, rows split over
 * pool p (NULL: on the caller). */
void nn_layer_norm(rlv_pool *p, float *x, int n, int d, const float *w, const float *b, float eps);
/* dst = LayerNorm(src), n rows of width d (dst and src apart). */
void nn_layer_norm_from(rlv_pool *p, float *dst, const float *src, int n, int d, const float *w, const float *b,
                        float eps);
/* x += LayerNorm(br) row by row (a post-norm residual); br is normalised in place. */
void nn_add_layer_norm(rlv_pool *p, float *x, float *br, int n, int d, const float *w, const float *b, float eps);
/* GELU (the erf form) of n rows of width d in place, on pool p. */
void nn_gelu_rows(rlv_pool *p, float *x, int n, int d);
/* y = a + b for n rows of width d, on pool p (y may be a). */
void nn_add_rows(rlv_pool *p, float *y, const float *a, const float *b, int n, int d);
/* Element-wise, on the calling thread (the decoder's too): with glibc's libmvec on an AVX2 CPU, 8
 * lanes at a time (max error 4 ulp), else expf one at a time; a scalar expf per element was ~2 %
 * of a real-width job (log-softmax over 32000 logits a row, SwiGLU, the decoder's softmax). */
/* The largest z[i], i < n (n >= 1), as m = z[i] > m ? z[i] : m from m = z[0] finds it: a NaN z[0]
 * gives NaN, a later NaN is passed over (of +0 and -0 either may come back). 32 lanes on AVX2: one
 * chain of scalar maxes (4 cycles each) was half of a softmax row. */
float nn_max(const float *z, int n);
/* The sum of exp(z[i] - mx), i < n, in double; with r (which may be z), r[i] = exp(z[i] - mx). */
double nn_exp_sum(float *r, const float *z, int n, float mx);
/* g[i] = silu(g[i]) u[i] = g[i] / (1 + exp(-g[i])) u[i], i < n. */
void nn_silu_mul(float *g, const float *u, size_t n);
/* The sums of x[i] and of (x[i] - c)^2, i < n, in double (the norms' mean and variance, RMSNorm's
 * mean square), in 16 double lanes on AVX2: the order of the additions differs from one chain. */
double nn_sum(const float *x, int n);
double nn_sum_sq(const float *x, int n, double c);
/* r[i] *= s, i < n, where s <= 1 normalises a softmax row: a result below NN_PROB_MIN is stored
 * as 0. Intel's FMAs take a microcode assist for every subnormal operand or result, and in P.V a
 * chain that starts on keys of tiny probability accumulates subnormals until a large term comes:
 * the full-size ViT's attention products ran 4.2 x slower than at 2 blocks (11.1 s of a 45.7 s
 * ViT; flushing only subnormal probabilities: 4.5 s; below 2^-64: 2.6 s, the 2-block rate). The
 * dropped terms move an output by < 2^-64 n max|v| <= 2^-52 max|v| (n <= 4096 keys), far below
 * fp32's 2^-24 of an output near max|v| (not of one that cancels to near 0); the drift measured
 * on whole jobs is in docs/performance.md. */
#define NN_PROB_MIN 0x1p-64f
void nn_scale_probs(float *r, int n, float s);
/* Row-wise softmax in place of an [n][d] matrix (leading dimension ld), on the calling thread;
 * probabilities below NN_PROB_MIN are 0 (nn_scale_probs). */
void nn_softmax_rows(float *x, int n, int d, int ld);

/* Attention without mask, every head on mm's pool: for h < heads, columns [h hd, (h+1) hd) of
 * out [nq][ldo] = softmax(q_h . k_h^T / sqrt(hd)) . v_h, with q [nq][ldq], k and v [nk][ldk] f32
 * (head h at column h hd of each). sc: one score buffer of nn_attention_floats(nk) floats per
 * pool thread, thread after thread. Work items are (head, block of query rows), fixed whatever
 * the thread count, so the result does not depend on it. With tm, its
 * time is added to tm's attention (products) and softmax stages. */
void nn_attention(mm_ctx *mm, float *sc, float *out, int ldo, const float *q, int ldq, const float *k,
                  const float *v, int ldk, int nq, int nk, int heads, int hd, rlv_timing *tm);
size_t nn_attention_floats(int nk);

#ifdef __cplusplus
}
#endif
#endif
