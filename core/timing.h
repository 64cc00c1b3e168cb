/* timing.h — where a forward pass spends its time, stage by stage, for benchmarks.
 * Owns: the list of stages (rlv_stage, shared by the decoder, the ViT and the resampler so one
 * table covers a whole job) and rlv_timing, seconds and call counts per stage.
 * A workspace holds a pointer to a caller-owned rlv_timing (NULL: off, no clock is read);
 * with one, each stage costs two clock_now_ms reads (vDSO, tens of ns), so it is compiled in
 * always. Stages are timed on the thread that drives the pool, around the whole parallel stage.
 * Knows nothing of models. */
#ifndef RLV_TIMING_H
#define RLV_TIMING_H

#include "clock.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RLV_STAGE_MATMUL,     /* products against weights (mm_xwt / mm_xw), but lm_head's */
    RLV_STAGE_LM_HEAD,    /* the lm_head product (once per forward, not per layer) */
    RLV_STAGE_ATTENTION,  /* attention's products Q.K^T and P.V, all heads (see timing_split) */
    RLV_STAGE_SOFTMAX,    /* attention's softmax (with the causal mask), all heads */
    RLV_STAGE_NORM,       /* RMSNorm / LayerNorm (ViT: with the residual add fused) */
    RLV_STAGE_ROPE,
    RLV_STAGE_ACT,        /* SiLU(gate) * up, GELU */
    RLV_STAGE_ADD,        /* residual and position-table adds, copies of token rows */
    RLV_STAGE_EMBED,      /* embedding-row gather */
    RLV_STAGE_IM2COL,
    RLV_STAGE_LOGSOFTMAX, /* the log-softmax accumulation over lm_head's logits */
    RLV_STAGE_PREFETCH,   /* madvise(WILLNEED) of weights ahead of use */
    RLV_STAGE_STREAM,     /* waiting for a layer's direct reads (wstream.h) */
    RLV_STAGE_N
} rlv_stage;

typedef struct rlv_timing {
    double s[RLV_STAGE_N];  /* seconds, summed over calls */
    long n[RLV_STAGE_N];    /* calls */
} rlv_timing;

/* Short name of a stage ("matmul", "attention", ...). */
const char *timing_stage_name(int stage);

/* Starts a stage: the clock now in seconds (clock_now_ms' clock), or 0 without a table. */
static inline double timing_start(const rlv_timing *t) { return t ? clock_now_ms() * 1e-3 : 0; }

/* 1 when deadline_ms (clock_now_ms' base; 0 = none) has passed: what the forward loops poll
 * between layers. */
static inline int timing_past(double deadline_ms) { return deadline_ms > 0 && clock_now_ms() >= deadline_ms; }

/* Ends a stage begun at *t0, charges it to `stage` and restarts *t0 for the next one. */
static inline void timing_stop(rlv_timing *t, rlv_stage stage, double *t0) {
    if (!t) return;
    double now = timing_start(t);
    t->s[stage] += now - *t0;
    t->n[stage]++;
    *t0 = now;
}

/* Ends a parallel stage begun at *t0 whose parts a and b interleave on every thread: its wall
 * time is charged to a and b in the proportion thread 0 spent on them (a_s, b_s seconds). */
static inline void timing_split(rlv_timing *t, rlv_stage a, rlv_stage b, double *t0, double a_s, double b_s) {
    if (!t) return;
    double now = timing_start(t), wall = now - *t0, fb = a_s + b_s > 0 ? b_s / (a_s + b_s) : 0;
    t->s[a] += wall * (1 - fb);
    t->s[b] += wall * fb;
    t->n[a]++;
    t->n[b]++;
    *t0 = now;
}

#ifdef __cplusplus
}
#endif
#endif
