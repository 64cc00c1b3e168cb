/* rlaifv.h — the engine's public API: load a policy (and optionally a reference) checkpoint,
 * then score jobs (image + prompt + N candidates) into a ranking by the RLAIF-V reward.
 * Owns: nothing itself; this header is the manual. The engine is shared read-only by all
 * workers; each worker (one per thread) owns its scratch, KV cache, tokenizer scratch, prompt
 * arena and result buffers, sized once from the options, so a job does not allocate (tests/
 * test_alloc.c) except to decode an image the image cache has not seen (the decoders' buffers,
 * bounded by the image limits), to insert into the prefix cache (bounded by its budget), and to grow
 * the text buffers once for a conversation longer than 16 KiB.
 * Knows nothing of ZeroMQ or msgpack (see proto/ and daemon/). */
#ifndef RLAIFV_H
#define RLAIFV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RLV_VERSION "0.1.0"

/* What the shared library librlaifv.so exports: the functions of include/ marked RLV_API. It is
 * built with -fvisibility=hidden, so nothing else of core/, proto/ or the client is visible. */
#if defined(__GNUC__)
#define RLV_API __attribute__((visibility("default")))
#else
#define RLV_API
#endif

/* ---- errors: every fallible call returns RLV_OK (0) or a negative RLV_E* code and, given a
 * non-NULL rlv_err, fills its message naming the culprit (file, tensor, field). ---- */

/* X-macro: code, value, stable name. Names never change once released. */
#define RLV_ERR_TABLE(X)                                                         \
    X(RLV_OK,              0,  "ok")                                             \
    X(RLV_EIO,            -1,  "io")             /* open/read/mmap failed */     \
    X(RLV_ENOMEM,         -2,  "nomem")                                          \
    X(RLV_EINVAL,         -3,  "invalid_argument")                               \
    X(RLV_ETRUNCATED,     -4,  "truncated")      /* file shorter than its header says */ \
    X(RLV_EHEADER_LEN,    -5,  "header_length")  /* header length beyond the file */ \
    X(RLV_EHEADER_JSON,   -6,  "header_json")    /* header is not the JSON we need */ \
    X(RLV_EDTYPE,         -7,  "dtype")          /* unknown or unsupported dtype */ \
    X(RLV_ESIZE,          -8,  "size_mismatch")  /* shape x element size != byte range */ \
    X(RLV_EOVERLAP,       -9,  "overlap")        /* two tensors share bytes */  \
    X(RLV_ERANGE,        -10,  "out_of_range")   /* byte range outside the data */ \
    X(RLV_ESHARD,        -11,  "shard_missing")  /* index names a shard that is not there */ \
    X(RLV_EMISSING,      -12,  "tensor_missing") /* manifest tensor absent */   \
    X(RLV_ESHAPE,        -13,  "tensor_shape")   /* manifest tensor has another shape */ \
    X(RLV_ECONFIG,       -14,  "config")         /* config.json field missing or ill-typed */ \
    X(RLV_EDUP,          -15,  "duplicate")      /* a tensor name seen twice */ \
    X(RLV_EFORMAT,       -16,  "format")         /* other malformed file content */ \
    X(RLV_EUNSUPPORTED,  -17,  "unsupported")    /* valid but not supported here */ \
    X(RLV_ELIMIT,        -18,  "limit")          /* a configured limit was exceeded */ \
    X(RLV_EIMAGE,        -19,  "bad_image")      /* image bytes cannot be decoded */ \
    X(RLV_ETOO_LONG,     -20,  "too_long")       /* token limit exceeded */     \
    X(RLV_ETOKEN,        -21,  "tokenizer")      /* tokenizer file problem */   \
    X(RLV_EPICKLE,       -22,  "pickle")         /* refused or malformed pickle */ \
    X(RLV_EQ8,           -23,  "q8")             /* a q8 weight without a valid _scale companion */ \
    X(RLV_ETIMEOUT,      -24,  "timeout")        /* a job's time limit passed (max_job_ms) */

enum {
#define RLV_ERR_ENUM(code, val, name) code = val,
    RLV_ERR_TABLE(RLV_ERR_ENUM)
#undef RLV_ERR_ENUM
};

#define RLV_ERR_MSG_MAX 512

typedef struct rlv_err {
    int code;                   /* last RLV_E* code set */
    char msg[RLV_ERR_MSG_MAX];  /* human-readable, names file/tensor/field */
} rlv_err;

/* Stable short name of a code ("truncated", "dtype", ...); "unknown" otherwise. */
RLV_API const char *rlv_err_name(int code);

typedef enum {
    RLV_REWARD_DEFAULT = -1,  /* rlaifv with a reference model, logp_mean without */
    RLV_REWARD_RLAIFV = 0,    /* beta * mean_t(logp_policy - logp_ref): the paper's best-of-N reward */
    RLV_REWARD_DPO = 1,       /* beta * sum_t(logp_policy - logp_ref): plain DPO implicit reward */
    RLV_REWARD_LOGP_MEAN = 2, /* mean_t logp_policy (no reference needed) */
    RLV_REWARD_LOGP_SUM = 3,  /* sum_t logp_policy */
} rlv_reward_kind;

#define RLV_REWARD_N 4 /* the kinds from RLV_REWARD_RLAIFV on */

/* "rlaifv", "dpo", "logp_mean", "logp_sum" (the wire's names too: proto/ decodes them with it);
 * NULL for RLV_REWARD_DEFAULT and others. Static string. Inline so that proto/ and the client
 * library, which do not link the engine, read the same list. */
static inline const char *rlv_reward_name(rlv_reward_kind k) {
    static const char *const names[RLV_REWARD_N] = {"rlaifv", "dpo", "logp_mean", "logp_sum"};
    return (int)k >= 0 && (int)k < RLV_REWARD_N ? names[k] : NULL;
}
/* Parses a name; returns RLV_OK or RLV_EINVAL. */
RLV_API int rlv_reward_parse(const char *name, rlv_reward_kind *out);

#define RLV_DEFAULT_BETA 0.1 /* RLAIF-V's DPO beta (docs/model.md §10) */

/* How the weight products compute (rlv_engine_opts.compute). */
typedef enum {
    RLV_COMPUTE_FP32 = 0, /* fp32 products and accumulation (the default) */
    RLV_COMPUTE_BF16 = 1, /* activations and weights rounded to bf16, products accumulated in fp32
                           * (vdpbf16ps): faster, needs a CPU with AVX512_BF16; log-probs drift
                           * from fp32 (docs/performance.md) */
} rlv_compute;
/* "fp32" / "bf16"; NULL for an unknown value. Static string. */
RLV_API const char *rlv_compute_name(rlv_compute c);
/* Parses a name; returns RLV_OK or RLV_EINVAL. */
RLV_API int rlv_compute_parse(const char *name, rlv_compute *out);

/* Whether the weights are repacked at load into the matrix kernel's panel layout (rlv_engine_opts.
 * repack): a copy of the weights in memory that packing reads in order instead of transposing
 * (docs/performance.md); weights a checkpoint stores as panels already are copied as they are
 * (docs/panels.md). */
typedef enum {
    RLV_REPACK_OFF = 0,  /* never: the weights are read from the checkpoint's mapping (the default:
                          * the copy costs the weights' size in anonymous memory, which several
                          * daemons on one host cannot share; it gains 5-10 % on products of
                          * 256-480 rows, docs/performance.md) */
    RLV_REPACK_AUTO = 1, /* all when the distinct weights + 2 GiB fit in MemAvailable, else as many as
                          * fit with 2 GiB + 2 GiB per model to spare, vision towers first */
    RLV_REPACK_ON = 2,   /* always (fails with RLV_ENOMEM when memory runs out) */
} rlv_repack;
/* "auto" / "on" / "off"; NULL for an unknown value. Static string. */
RLV_API const char *rlv_repack_name(rlv_repack r);
/* Parses a name; returns RLV_OK or RLV_EINVAL. */
RLV_API int rlv_repack_parse(const char *name, rlv_repack *out);

/* Whether the decoders' layers are read from the disk by direct reads (rlv_engine_opts.stream):
 * each worker reads the next layer's matrices from the checkpoint's files into two slots of its
 * own while one layer computes, instead of paging them in through the page cache — for weights
 * that do not stay in memory (docs/operations.md). Only matrices read as stored (not repacked,
 * not q8) are; results are the same bits either way. */
typedef enum {
    RLV_STREAM_OFF = 0,  /* never: weights are paged in from the mapping */
    RLV_STREAM_AUTO = 1, /* when the weights read from the mappings and 2 GiB per model do not fit
                          * in MemAvailable (the default); quietly off where the files do not
                          * open for direct reads (tmpfs) */
    RLV_STREAM_ON = 2,   /* always (rlv_engine_open fails with RLV_EUNSUPPORTED where the files do
                          * not open for direct reads) */
} rlv_stream;
/* "auto" / "on" / "off" (the words of rlv_repack); NULL for an unknown value. Static string. */
RLV_API const char *rlv_stream_name(rlv_stream s);
/* Parses a name; returns RLV_OK or RLV_EINVAL. */
RLV_API int rlv_stream_parse(const char *name, rlv_stream *out);

/* The defaults of rlv_engine_opts, defined once: rlv_engine_opts_default, the image decoder's
 * limits and rlaifvd's settings table (daemon/settings.c, which docs/operations.md states and
 * tests/test_daemon_config.c checks against) all read these. Plain integers: the table
 * stringifies them. */
#define RLV_DEFAULT_MAX_CANDIDATES 64
#define RLV_DEFAULT_MAX_SEQ_TOKENS 2048   /* the official limit */
#define RLV_DEFAULT_MAX_TOTAL_TOKENS 4096
#define RLV_DEFAULT_MAX_IMAGE_SIDE 8192
#define RLV_DEFAULT_MAX_IMAGE_PIXELS 40000000
#define RLV_DEFAULT_CACHE_MB 256
#define RLV_DEFAULT_PREFIX_CACHE_MB 1024
#define RLV_DEFAULT_BLAS_THREADS 1

typedef struct rlv_engine_opts {
    const char *model_dir;      /* policy checkpoint (RLAIF-V-12B), required */
    const char *ref_model_dir;  /* reference checkpoint (OmniLMM-12B) or NULL */
    int max_candidates;         /* per job (RLV_DEFAULT_MAX_CANDIDATES) */
    int max_seq_tokens;         /* prefix + one candidate (RLV_DEFAULT_MAX_SEQ_TOKENS) */
    int max_total_tokens;       /* sum of all candidates' tokens in one job (RLV_DEFAULT_MAX_TOTAL_TOKENS) */
    int max_image_side;         /* pixels per side before decoding (RLV_DEFAULT_MAX_IMAGE_SIDE) */
    int64_t max_image_pixels;   /* width * height before decoding (RLV_DEFAULT_MAX_IMAGE_PIXELS) */
    size_t cache_bytes;         /* image-embedding cache (RLV_DEFAULT_CACHE_MB MiB; 0 disables) */
    size_t prefix_cache_bytes;  /* prefix cache: each model's decoder state after a job's prefix,
                                 * keyed by (model, image hash, prefix ids), shared by all workers
                                 * (RLV_DEFAULT_PREFIX_CACHE_MB MiB; 0 disables). An entry is about
                                 * prefix tokens x layers x 2 x kv_heads x head_dim x 4 bytes
                                 * (docs/operations.md) */
    int blas_threads;           /* threads of each worker's pool: its products and stages
                                 * (RLV_DEFAULT_BLAS_THREADS) */
    rlv_compute compute;        /* weight products (default RLV_COMPUTE_FP32); RLV_COMPUTE_BF16 on a CPU
                                 * without AVX512_BF16: rlv_engine_open fails with RLV_EUNSUPPORTED */
    rlv_repack repack;          /* weights repacked at load (default RLV_REPACK_OFF) */
    int64_t max_job_ms;         /* time limit of one rlv_score call: past it the job stops before the
                                 * next decoder layer or ViT block with RLV_ETIMEOUT (0 = none, the
                                 * default; the image decode is bounded by its own work limits) */
    int separate_prefix;        /* 0 (default): a prefix the prefix cache does not hold runs in the
                                 * same pass over the decoder as the candidates (llm_prefix_score);
                                 * 1: in a pass of its own before them — for measurements */
    rlv_stream stream;          /* decoder layers read by direct reads (default RLV_STREAM_AUTO) */
} rlv_engine_opts;

/* Fills the defaults above. */
RLV_API void rlv_engine_opts_default(rlv_engine_opts *o);

/* The embedded demo pair (a folder with policy/ and reference/), the default model of rlaifvd,
 * `rlaifv score` and `rlaifv eval`: <executable's folder>/../share/rlaifv/demo when installed,
 * else models/demo of the source tree two or three folders above a build tree's executable.
 * Returns 0 with the real path in out[cap], or -1 when no such folder holds both models. */
RLV_API int rlv_demo_dir(char *out, size_t cap);

typedef struct rlv_engine rlv_engine;
typedef struct rlv_worker rlv_worker;

/* Loads and validates the model(s) and tokenizer. *out owned by the caller (rlv_engine_free).
 * A checkpoint whose weights are stored as panels (rlaifv convert --panels, docs/panels.md) of a
 * layout that the kernel for opts->compute does not read fails with RLV_EUNSUPPORTED, naming both. */
RLV_API int rlv_engine_open(rlv_engine **out, const rlv_engine_opts *opts, rlv_err *err);
RLV_API void rlv_engine_free(rlv_engine **e);
RLV_API int rlv_engine_has_reference(const rlv_engine *e);

typedef struct rlv_engine_info {
    const char *policy_dir;      /* as given; owned by the engine */
    const char *reference_dir;   /* NULL without a reference model */
    int hidden_size, num_layers, num_heads, num_kv_heads, vocab_size;
    int num_query, image_size, vit_width, vit_blocks;
    size_t weight_bytes;         /* tensor bytes of the loaded checkpoints */
    size_t shared_bytes;         /* reference tensors served from the policy's identical bytes */
    size_t repacked_bytes;       /* weights repacked at load (rlv_engine_opts.repack); 0: none */
    size_t streamed_bytes;       /* weights read by direct reads per job, all models (rlv_engine_opts.
                                  * stream); 0: none */
    const char *kernel;          /* the matrix kernel the workers run: "avx512bf16", "avx512", "avx2" or
                                  * "generic" (OpenBLAS), from the CPU and rlv_engine_opts.compute */
    const char *cpu;             /* the widest level this CPU runs (after an RLV_CPU cap), same names */
    const char *huge_pages;      /* the host's transparent huge pages at rlv_engine_open: "always",
                                  * "madvise", "never", "unavailable"; the first two give the
                                  * workspaces 2 MB pages */
    uint64_t cache_hits, cache_misses;
    size_t cache_used_bytes, cache_capacity_bytes;
    uint64_t prefix_cache_hits, prefix_cache_misses;   /* one lookup per model per job */
    size_t prefix_cache_entries, prefix_cache_used_bytes, prefix_cache_capacity_bytes;
} rlv_engine_info;

/* A snapshot of sizes and counters (thread-safe). */
RLV_API void rlv_engine_get_info(const rlv_engine *e, rlv_engine_info *out);

/* One worker per thread; its buffers are sized from the options at creation. */
RLV_API int rlv_worker_open(rlv_worker **out, rlv_engine *e, rlv_err *err);
RLV_API void rlv_worker_free(rlv_worker **w);

typedef struct rlv_job {
    const uint8_t *image;       /* encoded image (JPEG, PNG, ...), image_len bytes; NULL scores the
                                   text alone (no image block in the prompt) */
    size_t image_len;
    const char *prompt;         /* UTF-8, prompt_len bytes (need not be NUL-terminated) */
    size_t prompt_len;
    int n_candidates;
    const char *const *candidates; /* UTF-8 */
    const size_t *candidate_lens;
    rlv_reward_kind reward;     /* RLV_REWARD_DEFAULT for the default */
    double beta;                /* <= 0 or NaN: RLV_DEFAULT_BETA */
    int token_logps;            /* fill token_logps arrays */
} rlv_job;

typedef struct rlv_logps {
    double logp_sum, logp_mean;
    const float *token_logps;   /* tokens entries, or NULL if not asked; owned by the worker */
} rlv_logps;

typedef struct rlv_ranked {
    int index;                  /* position in the job's candidates */
    double reward;
    int tokens;                 /* scored tokens: the response's + the closing </s> */
    rlv_logps policy;
    rlv_logps reference;        /* valid when rlv_result.has_reference */
} rlv_ranked;

typedef struct rlv_result {
    rlv_reward_kind reward;
    double beta;
    int has_reference;
    int n;
    const rlv_ranked *ranking;  /* n entries, highest reward first, ties in input order */
    double image_ms, prefix_ms, candidates_ms, total_ms; /* prefix_ms includes prompt assembly */
    int image_cache_hit;        /* an image and no vision side ran: every embedding came from the
                                 * image cache or was not needed (prefix-cache hits) */
    int prefix_cache_hit;       /* every model's prefix state came from the prefix cache: no vision
                                 * and no prefix forward ran */
    int prefix_cache_hit_model[2]; /* the same per model, [0] policy and [1] reference */
    /* The stages per model, [0] policy and [1] reference (0 without one): the image step of
     * the model that decodes first (the policy) includes the decode + resize of the image. */
    double image_ms_model[2], prefix_ms_model[2], candidates_ms_model[2];
    /* 1 where the model's ViT + resampler ran in this job; 0 on an image-cache hit, and for a
     * reference whose vision weights are the policy's own bytes (it takes the policy's embedding) */
    int image_ran_model[2];
    /* 1 where the model's prefix ran in the candidates' pass (a prefix-cache miss, one pass over
     * the decoder): that pass is in candidates_ms_model, and prefix_ms_model holds none of it */
    int one_pass_model[2];
    /* ms the model's decoder waited in this job for layers read directly (rlv_engine_opts.stream):
     * the disk behind the compute; 0 without direct reads */
    double stream_wait_ms_model[2];
} rlv_result;

/* Scores one job. On RLV_OK, *res points into w and is valid until the next rlv_score on w.
 * Errors: RLV_EIMAGE / RLV_EUNSUPPORTED / RLV_ELIMIT for the image, RLV_ETOO_LONG naming the
 * candidate, RLV_EINVAL for a bad field (e.g. a reward needing a reference model), RLV_ETIMEOUT
 * when max_job_ms passed (nothing is cached from the job's unfinished steps). */
RLV_API int rlv_score(rlv_worker *w, const rlv_job *job, const rlv_result **res, rlv_err *err);

#ifdef __cplusplus
}
#endif
#endif
