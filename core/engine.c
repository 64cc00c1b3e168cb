/* engine.c — the scoring engine of rlaifv.h: models loaded once, one worker per thread, and
 * rlv_score going through a job's steps in order (docs/architecture.md; receive is the caller's):
 *   2. image   hash -> cache; on a miss decode, resize, normalise, ViT, resampler (per model)
 *   3. prefix  prompt assembly + tokenisation, the decoder over the shared prefix (per model)
 *   4. candidates  all N packed into one batch against the prefix KV (per model)
 *   5. reward and rank
 * The prefix cache (pcache.h) sits across steps 2 and 3: prompt assembly runs first (the key is
 * the exact prefix ids), then a model whose (identity, image hash, ids) is cached attaches that
 * entry's state in place and runs neither its vision side nor its prefix forward. Errors keep the
 * documented order (image header before tokens): a failed assembly probes the image first.
 * Policy and reference run one after the other in the same worker. Tensors that are
 * bit-identical in both checkpoints are served from the policy's mapping (ckpt_share_identical). */
#include "rlaifv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt.h"
#include "model_config.h"
#include "cpu.h"
#include "hugemem.h"
#include "image.h"
#include "imcache.h"
#include "llm.h"
#include "manifest.h"
#include "mm.h"
#include "pcache.h"
#include "pool.h"
#include "prompt.h"
#include "resampler.h"
#include "reward.h"
#include "timing.h"
#include "tok.h"
#include "vit.h"

enum { POL = 0, REF = 1 };

typedef struct engine_model {
    rlv_model_config cfg;
    ckpt *ck;
    llm_model *llm;
    vit_model *vit;
    resampler_model *rs;
    uint64_t vision_id;           /* image-cache identity of this model's vision weights */
    uint64_t model_id;            /* prefix-cache identity: every weight, and the compute mode */
} engine_model;

struct rlv_engine {
    rlv_engine_opts opts;
    char *policy_dir, *reference_dir;
    engine_model m[2];
    int n_models;
    tok *tok;
    imcache *cache;
    pcache *pcache;
    size_t weight_bytes, shared_bytes;
    mm_repack *repack;  /* the repacked weights (NULL: read from the mappings) */
    size_t streamed_bytes; /* read directly per job (stream_models) */
    const char *huge_pages; /* the THP setting at open (hugemem_thp): read once, not on every stats */
};

/* Conversation text a worker's prompt arena is first sized for (system + image block + question +
 * one candidate); a longer one grows it once. */
#define PROMPT_TEXT_BYTES (16 << 10)

struct rlv_worker {
    rlv_engine *e;
    rlv_pool *pool;               /* blas_threads threads, every parallel stage of a job */
    mm_ctx *mm;                   /* matrix products on the pool */
    llm_ws *llm[2];
    vit_ws *vit[2];
    resampler_ws *rs[2];
    image_ws *img;
    prompt_arena *prompt;  /* the job's conversation ids (sized for max_candidates x max_seq_tokens) */
    float *pixels;                /* [3][S][S] */
    float *feats;                 /* [grid^2][vit width] */
    float *emb[2];                /* [num_query][hidden] per model */
    int *emb_pos;                 /* [num_query] */
    char *text;                   /* NUL-terminated copies of prompt + candidates */
    size_t text_cap;
    const char **cands;           /* [max_candidates] */
    const int32_t **cand_ids;     /* [max_candidates] */
    int *cand_lens;               /* [max_candidates] */
    double *logps[2];             /* [max_total_tokens] */
    float *tok_logps[2];          /* [max_total_tokens] returned to the caller */
    rlv_ranked *ranked;           /* [max_candidates] */
    rlv_result res;
};

void rlv_engine_opts_default(rlv_engine_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_candidates = RLV_DEFAULT_MAX_CANDIDATES;
    o->max_seq_tokens = RLV_DEFAULT_MAX_SEQ_TOKENS;
    o->max_total_tokens = RLV_DEFAULT_MAX_TOTAL_TOKENS;
    o->max_image_side = RLV_DEFAULT_MAX_IMAGE_SIDE;
    o->max_image_pixels = RLV_DEFAULT_MAX_IMAGE_PIXELS;
    o->cache_bytes = (size_t)RLV_DEFAULT_CACHE_MB << 20;
    o->prefix_cache_bytes = (size_t)RLV_DEFAULT_PREFIX_CACHE_MB << 20;
    o->blas_threads = RLV_DEFAULT_BLAS_THREADS;
    o->stream = RLV_STREAM_AUTO;
}

/* The matrix products' compute mode for the engine's. */
static mm_compute mm_compute_of(rlv_compute c) { return c == RLV_COMPUTE_BF16 ? MM_COMPUTE_BF16 : MM_COMPUTE_F32; }

const char *rlv_compute_name(rlv_compute c) {
    return c == RLV_COMPUTE_FP32 ? "fp32" : c == RLV_COMPUTE_BF16 ? "bf16" : NULL;
}

const char *rlv_repack_name(rlv_repack r) {
    return r == RLV_REPACK_OFF ? "off" : r == RLV_REPACK_AUTO ? "auto" : r == RLV_REPACK_ON ? "on" : NULL;
}

int rlv_repack_parse(const char *name, rlv_repack *out) {
    for (int r = RLV_REPACK_OFF; r <= RLV_REPACK_ON; r++)
        if (name && !strcmp(name, rlv_repack_name((rlv_repack)r))) {
            *out = (rlv_repack)r;
            return RLV_OK;
        }
    return RLV_EINVAL;
}

const char *rlv_stream_name(rlv_stream s) { return rlv_repack_name((rlv_repack)s); }

int rlv_stream_parse(const char *name, rlv_stream *out) {
    rlv_repack r;
    if (rlv_repack_parse(name, &r)) return RLV_EINVAL;
    *out = (rlv_stream)r;
    return RLV_OK;
}

int rlv_compute_parse(const char *name, rlv_compute *out) {
    if (name && !strcmp(name, "fp32")) *out = RLV_COMPUTE_FP32;
    else if (name && !strcmp(name, "bf16")) *out = RLV_COMPUTE_BF16;
    else return RLV_EINVAL;
    return RLV_OK;
}

/* Identity of a model's weights for the caches (the vision weights alone for the image cache,
 * all of them for the prefix cache): hash the (pointer, size) of each tensor; aliased identical
 * tensors (ckpt_share_identical) share pointers, hence the identity, and one process's caches
 * never meet another's pointers. */
static uint64_t weights_identity(const ckpt *c, int vision_only) {
    uint64_t acc = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i);
        if (vision_only && !manifest_is_vision(t->name)) continue;
        struct { const void *p; size_t n; } k = {t->data, t->nbytes};
        acc ^= imcache_model_id(&k, sizeof k) + (acc << 6) + (acc >> 2);
    }
    return acc;
}

static int load_model(engine_model *m, const char *dir, rlv_err *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", dir);
    int rc = model_config_load(&m->cfg, p, err);
    if (!rc) rc = ckpt_open(&m->ck, dir, err);
    if (!rc) rc = manifest_check(&m->cfg, m->ck, NULL, NULL, NULL, err);
    if (rc) rlv_err_prefix(err, dir);
    return rc;
}

static int bind_model(engine_model *m, rlv_compute compute, rlv_err *err) {
    /* weights stored as panels are read in place: only by a kernel of their layout */
    const char *has = ckpt_panel_layout(m->ck);
    char want[MM_LAYOUT_MAX];
    if (has && (!mm_panel_layout(mm_compute_of(compute), want) || strcmp(has, want)))
        return rlv_errf(err, RLV_EUNSUPPORTED, "%s: its weights are stored as panels of layout %s, and compute %s runs the "
                        "%s kernel here, whose layout is %s: convert the original checkpoint again on this machine "
                        "(rlaifv convert --panels, docs/panels.md)", ckpt_file(m->ck, 0), has, rlv_compute_name(compute),
                        mm_kernel_for(mm_compute_of(compute)), want[0] ? want : "none");
    int rc = llm_model_init(&m->llm, m->ck, &m->cfg, err);
    if (!rc) rc = vit_model_init(&m->vit, m->ck, &m->cfg, err);
    if (!rc) rc = resampler_model_init(&m->rs, m->ck, &m->cfg, err);
    m->vision_id = weights_identity(m->ck, 1);
    m->model_id = weights_identity(m->ck, 0) ^ ((uint64_t)compute + 1) * 0x9E3779B97F4A7C15ull;
    return rc;
}

/* MemAvailable from /proc/meminfo in bytes; 0 when it cannot be read. */
static size_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    return (size_t)kb * 1024;
}

/* Repacks the models' product weights (rlv_engine_opts.repack). auto: all of them when the
 * distinct weights and 2 GiB of room fit in MemAvailable (the q8 pair on a 24 GiB machine);
 * else as many as fit in MemAvailable less 2 GiB and 2 GiB per model (a worker's KV caches and
 * scratch at full size, the page cache the rest streams through), the vision towers and
 * resamplers first — the most FLOPs per weight byte, and shared between models with the same
 * vision bytes — then each decoder from its first layer; the rest keeps streaming from its
 * mapping (the bf16 pair, 37.6 GB distinct on 24 GiB: its ViT and part of one decoder). */
static int repack_models(rlv_engine *e, rlv_err *err) {
    if (e->opts.repack == RLV_REPACK_OFF) return RLV_OK;
    const size_t gib = (size_t)1 << 30;
    size_t avail = mem_available(), distinct = e->weight_bytes - e->shared_bytes, limit = 0;
    if (e->opts.repack == RLV_REPACK_AUTO && distinct + 2 * gib > avail) {
        size_t room = 2 * gib * (size_t)(1 + e->n_models);
        if (avail < room + gib) return RLV_OK;
        limit = avail - room;
    }
    int rc = mm_repack_init(&e->repack, mm_compute_of(e->opts.compute), err);
    if (!rc) mm_repack_limit(e->repack, limit);
    for (int k = 0; !rc && k < e->n_models; k++) {
        engine_model *m = &e->m[k];
        rc = vit_model_repack(m->vit, e->repack, m->ck, err);
        if (!rc) rc = resampler_model_repack(m->rs, e->repack, m->ck, err);
    }
    for (int k = 0; !rc && k < e->n_models; k++) rc = llm_model_repack(e->m[k].llm, e->repack, e->m[k].ck, err);
    return rc;
}

/* Direct reads of the vision towers' blocks and the decoders' layers (rlv_engine_opts.stream,
 * vit_model_stream, llm_model_stream): on, or auto when the weights left in the mappings
 * (distinct, not repacked) and 2 GiB per model do not fit in MemAvailable — then the page cache
 * could not keep them from one job to the next, and paging them in costs the compute threads
 * faults and the kernel reclaim. A file without direct reads fails `on`; `auto` then leaves
 * that tower or decoder mapped. */
static int stream_models(rlv_engine *e, rlv_err *err) {
    if (e->opts.stream == RLV_STREAM_OFF) return RLV_OK;
    size_t mapped = e->weight_bytes - e->shared_bytes - mm_repack_bytes(e->repack);
    if (e->opts.stream == RLV_STREAM_AUTO && mapped + ((size_t)2 << 30) * (size_t)e->n_models <= mem_available())
        return RLV_OK;
    for (int k = 0; k < e->n_models; k++) {
        rlv_err le = {0};
        int rc = vit_model_stream(e->m[k].vit, e->m[k].ck, &le);
        if (rc == RLV_EUNSUPPORTED && e->opts.stream == RLV_STREAM_AUTO) rc = RLV_OK;
        if (!rc) rc = llm_model_stream(e->m[k].llm, e->m[k].ck, &le);
        if (rc == RLV_EUNSUPPORTED && e->opts.stream == RLV_STREAM_AUTO) rc = RLV_OK;
        if (rc) {
            *err = le;
            return rc;
        }
        e->streamed_bytes += vit_model_stream_bytes(e->m[k].vit, NULL) + llm_model_stream_bytes(e->m[k].llm, NULL);
    }
    return RLV_OK;
}

int rlv_engine_open(rlv_engine **out, const rlv_engine_opts *opts, rlv_err *err) {
    *out = NULL;
    if (!opts || !opts->model_dir) return rlv_errf(err, RLV_EINVAL, "no model directory given");
    if (opts->max_candidates < 1 || opts->max_seq_tokens < 16 || opts->max_total_tokens < 1)
        return rlv_errf(err, RLV_EINVAL, "limits must be positive (max_candidates, max_seq_tokens, max_total_tokens)");
    if (opts->blas_threads < 1 || opts->blas_threads > 1024)
        return rlv_errf(err, RLV_EINVAL, "blas threads %d: must be 1 to 1024", opts->blas_threads);
    if (opts->max_job_ms < 0) return rlv_errf(err, RLV_EINVAL, "max_job_ms %lld: must be >= 0", (long long)opts->max_job_ms);
    if (!rlv_compute_name(opts->compute)) return rlv_errf(err, RLV_EINVAL, "unknown compute mode %d", (int)opts->compute);
    if (!rlv_repack_name(opts->repack)) return rlv_errf(err, RLV_EINVAL, "unknown repack mode %d", (int)opts->repack);
    if (!rlv_stream_name(opts->stream)) return rlv_errf(err, RLV_EINVAL, "unknown stream mode %d", (int)opts->stream);
    if (opts->compute == RLV_COMPUTE_BF16 && !(cpu_features() & CPU_AVX512BF16))
        return rlv_errf(err, RLV_EUNSUPPORTED, "compute bf16 needs a CPU with AVX512_BF16 (vdpbf16ps); this one runs %s: "
                        "use compute fp32", cpu_level_name(cpu_features()));
    rlv_engine *e = calloc(1, sizeof *e);
    if (!e) return rlv_errf(err, RLV_ENOMEM, "out of memory");
    e->opts = *opts;
    e->huge_pages = hugemem_thp();
    e->policy_dir = strdup(opts->model_dir);
    e->reference_dir = opts->ref_model_dir ? strdup(opts->ref_model_dir) : NULL;
    e->opts.model_dir = e->policy_dir;
    e->opts.ref_model_dir = e->reference_dir;
    e->n_models = opts->ref_model_dir ? 2 : 1;
    int rc = load_model(&e->m[POL], opts->model_dir, err);
    if (!rc && e->n_models == 2) rc = load_model(&e->m[REF], opts->ref_model_dir, err);
    if (!rc && e->n_models == 2) {
        const rlv_model_config *a = &e->m[POL].cfg, *b = &e->m[REF].cfg;
        if (a->vocab_size != b->vocab_size || a->num_query != b->num_query || a->image_size != b->image_size)
            rc = rlv_errf(err, RLV_ECONFIG, "policy and reference differ in vocab_size, num_query or image_size "
                          "(%d/%d, %d/%d, %d/%d): they must share tokenizer and image slots", a->vocab_size,
                          b->vocab_size, a->num_query, b->num_query, a->image_size, b->image_size);
        else
            e->shared_bytes = ckpt_share_identical(e->m[REF].ck, e->m[POL].ck);
    }
    for (int k = 0; !rc && k < e->n_models; k++) {
        int win = e->m[k].cfg.sliding_window; /* full attention equals windowed attention only within it */
        if (win > 0 && opts->max_seq_tokens > win)
            rc = rlv_errf(err, RLV_ECONFIG, "%s: max_seq_tokens %d is above the model's sliding_window %d (attention "
                          "past the window is not implemented): use at most %d", k ? "reference" : "policy",
                          opts->max_seq_tokens, win, win);
    }
    for (int k = 0; !rc && k < e->n_models; k++) rc = bind_model(&e->m[k], opts->compute, err);
    if (!rc) rc = tok_load(&e->tok, opts->model_dir, err);
    if (!rc && tok_vocab_size(e->tok) > e->m[POL].cfg.vocab_size)
        rc = rlv_errf(err, RLV_ECONFIG, "tokenizer has %d ids, the model's vocab_size is %d", tok_vocab_size(e->tok),
                      e->m[POL].cfg.vocab_size);
    size_t emb_floats = 0; /* the image cache's slot: the larger model's image rows */
    for (int k = 0; k < e->n_models; k++) {
        size_t f = (size_t)e->m[k].cfg.num_query * (size_t)e->m[k].cfg.hidden_size;
        if (f > emb_floats) emb_floats = f;
    }
    if (!rc) rc = imcache_open(&e->cache, opts->cache_bytes, emb_floats, err);
    if (!rc) rc = pcache_open(&e->pcache, opts->prefix_cache_bytes, err);
    for (int k = 0; !rc && k < e->n_models; k++)
        for (int i = 0; i < ckpt_n_tensors(e->m[k].ck); i++) e->weight_bytes += ckpt_tensor(e->m[k].ck, i)->nbytes;
    if (!rc) rc = repack_models(e, err);
    if (!rc) rc = stream_models(e, err);
    if (rc) {
        rlv_engine_free(&e);
        return rc;
    }
    *out = e;
    return RLV_OK;
}

void rlv_engine_free(rlv_engine **ep) {
    if (!ep || !*ep) return;
    rlv_engine *e = *ep;
    for (int k = 1; k >= 0; k--) { /* the reference may alias the policy's bytes: free it first */
        llm_model_free(&e->m[k].llm);
        vit_model_free(&e->m[k].vit);
        resampler_model_free(&e->m[k].rs);
        ckpt_free(&e->m[k].ck);
    }
    tok_free(&e->tok);
    mm_repack_free(&e->repack);
    imcache_free(&e->cache);
    pcache_free(&e->pcache);
    free(e->policy_dir);
    free(e->reference_dir);
    free(e);
    *ep = NULL;
}

int rlv_engine_has_reference(const rlv_engine *e) { return e->n_models == 2; }

void rlv_engine_get_info(const rlv_engine *e, rlv_engine_info *o) {
    memset(o, 0, sizeof *o);
    const rlv_model_config *c = &e->m[POL].cfg;
    o->policy_dir = e->policy_dir;
    o->reference_dir = e->reference_dir;
    o->hidden_size = c->hidden_size;
    o->num_layers = c->num_hidden_layers;
    o->num_heads = c->num_attention_heads;
    o->num_kv_heads = c->num_key_value_heads;
    o->vocab_size = c->vocab_size;
    o->num_query = c->num_query;
    o->image_size = c->image_size;
    o->vit_width = c->vision.embed_dim;
    o->vit_blocks = c->vision.depth - 1;
    o->weight_bytes = e->weight_bytes;
    o->shared_bytes = e->shared_bytes;
    o->repacked_bytes = mm_repack_bytes(e->repack);
    o->streamed_bytes = e->streamed_bytes;
    o->kernel = mm_kernel_for(mm_compute_of(e->opts.compute));
    if (!o->kernel) o->kernel = "unsupported"; /* a cap lowered under an open bf16 engine (tests) */
    o->cpu = cpu_level_name(cpu_features());
    o->huge_pages = e->huge_pages;
    imcache_stats s;
    imcache_get_stats(e->cache, &s);
    o->cache_hits = s.hits;
    o->cache_misses = s.misses;
    o->cache_used_bytes = s.used_bytes;
    o->cache_capacity_bytes = s.cap_bytes;
    pcache_stats ps;
    pcache_get_stats(e->pcache, &ps);
    o->prefix_cache_hits = ps.hits;
    o->prefix_cache_misses = ps.misses;
    o->prefix_cache_entries = ps.entries;
    o->prefix_cache_used_bytes = ps.used_bytes;
    o->prefix_cache_capacity_bytes = ps.cap_bytes;
}

/* ------------------------------------------------------------------ workers */

int rlv_worker_open(rlv_worker **out, rlv_engine *e, rlv_err *err) {
    *out = NULL;
    rlv_worker *w = calloc(1, sizeof *w);
    if (!w) return rlv_errf(err, RLV_ENOMEM, "out of memory");
    w->e = e;
    const rlv_engine_opts *o = &e->opts;
    const rlv_model_config *c = &e->m[POL].cfg;
    int S = c->image_size, maxc = o->max_candidates, maxt = o->max_total_tokens;
    llm_limits lim = {.max_prefix = o->max_seq_tokens, .max_cand_tokens = maxt, .max_cands = maxc};
    int rc = RLV_OK;
    size_t feat = 0;
    rc = pool_init(&w->pool, o->blas_threads, err);
    if (!rc) rc = mm_ctx_init(&w->mm, w->pool, mm_compute_of(o->compute), err);
    for (int k = 0; k < e->n_models && !rc; k++) {
        rc = llm_ws_init(&w->llm[k], e->m[k].llm, &lim, w->mm, err);
        if (!rc) rc = vit_ws_init(&w->vit[k], e->m[k].vit, w->mm, err);
        if (!rc) rc = resampler_ws_init(&w->rs[k], e->m[k].rs, w->mm, err);
        size_t f = (size_t)(vit_tokens(e->m[k].vit) - 1) * (size_t)vit_width(e->m[k].vit);
        if (f > feat) feat = f;
        if (!rc && !(w->emb[k] = malloc((size_t)c->num_query * e->m[k].cfg.hidden_size * sizeof(float))))
            rc = rlv_errf(err, RLV_ENOMEM, "worker: image embedding rows (%d x %d floats)", c->num_query,
                          e->m[k].cfg.hidden_size);
        if (!rc && (!(w->logps[k] = malloc((size_t)maxt * sizeof(double))) ||
                    !(w->tok_logps[k] = malloc((size_t)maxt * sizeof(float)))))
            rc = rlv_errf(err, RLV_ENOMEM, "worker: log-probs of %d candidate tokens", maxt);
    }
    if (!rc) rc = image_ws_init(&w->img, o->max_image_side, S, err);
    if (!rc) rc = prompt_arena_new(&w->prompt, maxc, o->max_seq_tokens, PROMPT_TEXT_BYTES, err);
    if (!rc) {
        w->pixels = malloc((size_t)3 * S * S * sizeof(float));
        w->feats = malloc(feat * sizeof(float));
        w->emb_pos = malloc((size_t)c->num_query * sizeof(int));
        w->cands = calloc((size_t)maxc, sizeof *w->cands);
        w->cand_ids = calloc((size_t)maxc, sizeof *w->cand_ids);
        w->cand_lens = calloc((size_t)maxc, sizeof *w->cand_lens);
        w->ranked = calloc((size_t)maxc, sizeof *w->ranked);
        w->text_cap = PROMPT_TEXT_BYTES;
        w->text = malloc(w->text_cap);
        if (!w->text || !w->pixels || !w->feats || !w->emb_pos || !w->cands || !w->cand_ids || !w->cand_lens || !w->ranked)
            rc = rlv_errf(err, RLV_ENOMEM, "worker: image, feature (%zu floats) and candidate buffers for %d candidates",
                          feat, maxc);
    }
    if (rc) { /* err holds the failing step's own message (which buffer, how many bytes) */
        rlv_worker_free(&w);
        return rc;
    }
    *out = w;
    return RLV_OK;
}

void rlv_worker_free(rlv_worker **wp) {
    if (!wp || !*wp) return;
    rlv_worker *w = *wp;
    for (int k = 0; k < 2; k++) {
        llm_ws_free(&w->llm[k]);
        vit_ws_free(&w->vit[k]);
        resampler_ws_free(&w->rs[k]);
        free(w->emb[k]);
        free(w->logps[k]);
        free(w->tok_logps[k]);
    }
    image_ws_free(&w->img);
    prompt_arena_free(&w->prompt);
    free(w->pixels);
    free(w->feats);
    free(w->emb_pos);
    free(w->text);
    free(w->cands);
    free(w->cand_ids);
    free(w->cand_lens);
    free(w->ranked);
    mm_ctx_free(&w->mm);
    pool_free(&w->pool);
    free(w);
    *wp = NULL;
}

/* ------------------------------------------------------------------ scoring */

/* NUL-terminated copies of the prompt and the candidates in one worker buffer (grown rarely:
 * its size only ever increases). A NUL byte inside the text is refused: it would cut it. */
static int copy_texts(rlv_worker *w, const rlv_job *j, const char **prompt, rlv_err *err) {
    size_t need = j->prompt_len + 1;
    for (int i = 0; i < j->n_candidates; i++) need += j->candidate_lens[i] + 1;
    if (need > w->text_cap) {
        char *t = realloc(w->text, need);
        if (!t) return rlv_errf(err, RLV_ENOMEM, "out of memory for the job's text");
        w->text = t;
        w->text_cap = need;
    }
    char *p = w->text;
    if (memchr(j->prompt, 0, j->prompt_len)) return rlv_errf(err, RLV_EINVAL, "prompt contains a NUL byte");
    memcpy(p, j->prompt, j->prompt_len);
    p[j->prompt_len] = 0;
    *prompt = p;
    p += j->prompt_len + 1;
    for (int i = 0; i < j->n_candidates; i++) {
        if (memchr(j->candidates[i], 0, j->candidate_lens[i]))
            return rlv_errf(err, RLV_EINVAL, "candidate %d contains a NUL byte", i);
        memcpy(p, j->candidates[i], j->candidate_lens[i]);
        p[j->candidate_lens[i]] = 0;
        w->cands[i] = p;
        p += j->candidate_lens[i] + 1;
    }
    return RLV_OK;
}

/* 1 when model k takes the policy's image embedding: a reference whose vision weights are the
 * policy's own bytes (ckpt_share_identical), so the same weights, code and threads give the same floats. */
static int takes_policy_embedding(const rlv_engine *e, int k) {
    const rlv_model_config *a = &e->m[k].cfg, *p = &e->m[POL].cfg;
    return k > 0 && e->m[k].vision_id == e->m[POL].vision_id &&
           (size_t)a->num_query * a->hidden_size == (size_t)p->num_query * p->hidden_size;
}

/* Step 2: the image embedding of model k into w->emb[k] (img: the image's hash); *ran = 1 when its
 * vision side ran. */
static int image_step(rlv_worker *w, const rlv_job *j, imcache_key img, int k, int *decoded, int *ran, rlv_err *err) {
    rlv_engine *e = w->e;
    engine_model *m = &e->m[k];
    size_t n = (size_t)m->cfg.num_query * m->cfg.hidden_size;
    if (takes_policy_embedding(e, k)) {
        memcpy(w->emb[k], w->emb[POL], n * sizeof *w->emb[k]);
        return RLV_OK;
    }
    imcache_key key = img;
    key.model = m->vision_id;
    if (imcache_get(e->cache, &key, w->emb[k], n)) return RLV_OK;
    if (!*decoded) {
        image_limits lim = {.max_side = e->opts.max_image_side, .max_pixels = e->opts.max_image_pixels};
        int rc = image_to_pixels(w->img, j->image, j->image_len, &lim, m->cfg.image_size, w->pixels, NULL, err);
        if (rc) return rc;
        *decoded = 1;
    }
    /* the resampler's weights come in from the disk while the tower computes (the tower reads
     * its own blocks ahead, vit.c) */
    resampler_prefetch(m->rs);
    *ran = 1;
    if (vit_forward(m->vit, w->vit[k], w->pixels, w->feats) != RLV_OK)
        return rlv_errf(err, RLV_ETIMEOUT, "the time limit of %lld ms passed in the vision tower",
                        (long long)e->opts.max_job_ms);
    resampler_forward(m->rs, w->rs[k], w->feats, w->emb[k]);
    return imcache_put(e->cache, &key, w->emb[k], n, err);
}

/* A token error found before the image was looked at: an error of the image's header comes first
 * (docs/protocol.md, order of checks). Returns the error to report. */
static int token_error(const rlv_engine *e, const rlv_job *j, int rc, rlv_err *err) {
    if (!j->image) return rc;
    image_limits lim = {.max_side = e->opts.max_image_side, .max_pixels = e->opts.max_image_pixels};
    image_header h;
    rlv_err ie = {0};
    if (image_probe(j->image, j->image_len, &lim, &h, &ie) == RLV_OK) return rc;
    *err = ie;
    return ie.code;
}

/* Stores ws's fresh prefix under k; not cached when the cache is off, the entry larger than its
 * budget, or memory short (the job goes on either way). */
static void store_prefix(rlv_engine *e, const llm_ws *ws, const llm_model *m, const pcache_key *k) {
    size_t vb = llm_prefix_state_bytes(m, k->n);
    pcache_entry *pe = pcache_reserve(e->pcache, k, vb);
    if (!pe) return;
    if (llm_prefix_save(ws, pcache_value_w(pe), vb, NULL) == RLV_OK) pcache_publish(e->pcache, &pe);
    else pcache_discard(&pe);
}

int rlv_score(rlv_worker *w, const rlv_job *j, const rlv_result **res, rlv_err *err) {
    rlv_engine *e = w->e;
    double t0 = clock_now_ms();
    *res = NULL;
    int n = j->n_candidates, nm = e->n_models;
    if (n < 1 || n > e->opts.max_candidates)
        return rlv_errf(err, RLV_ELIMIT, "%d candidates (1 to %d allowed)", n, e->opts.max_candidates);
    rlv_reward_kind kind = j->reward == RLV_REWARD_DEFAULT ? (nm == 2 ? RLV_REWARD_RLAIFV : RLV_REWARD_LOGP_MEAN)
                                                           : j->reward;
    if (!rlv_reward_name(kind)) return rlv_errf(err, RLV_EINVAL, "unknown reward kind %d", (int)kind);
    if ((kind == RLV_REWARD_RLAIFV || kind == RLV_REWARD_DPO) && nm < 2)
        return rlv_errf(err, RLV_EINVAL, "reward '%s' needs a reference model", rlv_reward_name(kind));
    double beta = j->beta > 0 && isfinite(j->beta) ? j->beta : RLV_DEFAULT_BETA;
    if (j->image && !j->image_len) return rlv_errf(err, RLV_EIMAGE, "the image is empty (0 bytes)");
    int with_image = j->image != NULL; /* NULL: score the text alone, as chat.py without an image */
    const char *prompt = NULL;
    int rc = copy_texts(w, j, &prompt, err);
    if (rc) return rc;
    double deadline = e->opts.max_job_ms > 0 ? t0 + (double)e->opts.max_job_ms : 0;
    for (int k = 0; k < nm; k++) {
        llm_ws_set_deadline(w->llm[k], deadline);
        vit_ws_set_deadline(w->vit[k], deadline);
    }

    /* 3a. prompt assembly: its prefix ids are the prefix cache's key */
    const rlv_model_config *c = &e->m[POL].cfg;
    int nq = with_image ? c->num_query : 0;
    prompt_req pr = {.question = prompt, .cands = w->cands, .n_cands = n, .num_query = nq,
                     .max_tokens = e->opts.max_seq_tokens};
    const prompt_ids *p = NULL;
    if ((rc = prompt_build_in(w->prompt, &p, e->tok, &pr, err))) return token_error(e, j, rc, err);
    int total = 0;
    for (int i = 0; i < n; i++) {
        w->cand_ids[i] = p->cands[i].ids;
        w->cand_lens[i] = p->cands[i].n;
        total += p->cands[i].n;
    }
    if (total > e->opts.max_total_tokens)
        return token_error(e, j, rlv_errf(err, RLV_ETOO_LONG, "the candidates hold %d tokens in all, above the limit "
                                          "of %d", total, e->opts.max_total_tokens), err);
    for (int q = 0; q < nq; q++) w->emb_pos[q] = p->image_pos + q;
    double t_asm = clock_now_ms() - t0;

    /* prefix cache: a hit pins the model's saved prefix state, read in place by step 4 */
    double t1 = clock_now_ms();
    imcache_key img = with_image ? imcache_key_of(j->image, j->image_len, 0) : (imcache_key){0, 0, 0};
    const pcache_entry *hit[2] = {NULL, NULL};
    pcache_key pk[2];
    for (int k = 0; k < nm; k++) {
        pk[k] = (pcache_key){e->m[k].model_id, img.lo, img.hi, with_image, p->prefix, p->n_prefix};
        hit[k] = pcache_get(e->pcache, &pk[k]);
    }

    /* 2. image: the models that missed, and the policy for a reference that missed and takes its
     * embedding */
    int need[2] = {with_image && !hit[POL], with_image && nm == 2 && !hit[REF]};
    if (need[REF] && takes_policy_embedding(e, REF)) need[POL] = 1;
    int decoded = 0, ran[2] = {0, 0};
    double t_img[2] = {0, 0};
    for (int k = 0; k < nm && !rc; k++) {
        double a = clock_now_ms();
        if (need[k]) rc = image_step(w, j, img, k, &decoded, &ran[k], err);
        t_img[k] = clock_now_ms() - a;
    }
    double t2 = clock_now_ms();

    /* 3b. prefix (attached from the cache, or run and stored), 4. candidates */
    double t_prefix = t_asm, t_cands = 0, t_pre[2] = {0, 0}, t_cand[2] = {0, 0}, t_wait[2] = {0, 0};
    int one_pass[2] = {0, 0};
    for (int k = 0; k < nm && !rc; k++) {
        double a = clock_now_ms(), b = a;
        wstream_stats s0, s1;
        llm_ws_stream_stats(w->llm[k], &s0);
        one_pass[k] = !hit[k] && !e->opts.separate_prefix;
        if (one_pass[k]) /* the prefix's rows go through the decoder with the candidates' */
            rc = llm_prefix_score(w->llm[k], p->prefix, p->n_prefix, w->emb[k], w->emb_pos, nq, w->cand_ids,
                                  w->cand_lens, n, w->logps[k], NULL, err);
        else if (hit[k]) {
            size_t vb;
            const void *v = pcache_value(hit[k], &vb);
            rc = llm_prefix_attach(w->llm[k], v, vb, err);
        } else
            rc = llm_prefix(w->llm[k], p->prefix, p->n_prefix, w->emb[k], w->emb_pos, nq, err);
        if (!rc && !hit[k]) store_prefix(e, w->llm[k], e->m[k].llm, &pk[k]);
        if (!one_pass[k]) {
            b = clock_now_ms();
            if (!rc) rc = llm_score(w->llm[k], w->cand_ids, w->cand_lens, n, w->logps[k], NULL, err);
        }
        if (hit[k]) llm_prefix_detach(w->llm[k]);
        llm_ws_stream_stats(w->llm[k], &s1);
        t_wait[k] = (s1.wait_s - s0.wait_s) * 1e3;
        t_pre[k] = b - a;
        t_cand[k] = clock_now_ms() - b;
        t_prefix += t_pre[k];
        t_cands += t_cand[k];
    }
    int prefix_hit[2] = {hit[0] != NULL, hit[1] != NULL};
    for (int k = 0; k < nm; k++) pcache_release(e->pcache, &hit[k]);
    if (rc) return rc;

    /* 5. reward and rank: the scored span of candidate i is ids[score_from .. n) (response + </s>). */
    int off = 0;
    for (int i = 0; i < n && !rc; i++) {
        int from = p->cands[i].score_from, T = p->cands[i].n - from;
        rlv_ranked *r = &w->ranked[i];
        memset(r, 0, sizeof *r);
        r->index = i;
        const double *pol = w->logps[POL] + off + from, *ref = nm == 2 ? w->logps[REF] + off + from : NULL;
        rc = reward_compute(r, kind, beta, pol, ref, T);
        if (rc) rlv_errf(err, RLV_EINVAL, "candidate %d: nothing to score", i);
        for (int k = 0; k < nm && j->token_logps; k++) {
            float *dst = w->tok_logps[k] + off + from;
            for (int t = 0; t < T; t++) dst[t] = (float)w->logps[k][off + from + t];
            if (k == POL) r->policy.token_logps = dst;
            else r->reference.token_logps = dst;
        }
        off += p->cands[i].n;
    }
    if (rc) return rc;
    reward_rank(w->ranked, n);
    w->res = (rlv_result){.reward = kind, .beta = beta, .has_reference = nm == 2, .n = n, .ranking = w->ranked,
                          .image_ms = t2 - t1, .prefix_ms = t_prefix, .candidates_ms = t_cands,
                          .image_cache_hit = with_image && !ran[0] && !ran[1],
                          .prefix_cache_hit = prefix_hit[0] && (nm < 2 || prefix_hit[1]),
                          .prefix_cache_hit_model = {prefix_hit[0], prefix_hit[1]},
                          .image_ran_model = {ran[0], ran[1]},
                          .image_ms_model = {t_img[0], t_img[1]}, .prefix_ms_model = {t_pre[0], t_pre[1]},
                          .candidates_ms_model = {t_cand[0], t_cand[1]}, .one_pass_model = {one_pass[0], one_pass[1]},
                          .stream_wait_ms_model = {t_wait[0], t_wait[1]}};
    w->res.total_ms = clock_now_ms() - t0;
    *res = &w->res;
    return RLV_OK;
}
