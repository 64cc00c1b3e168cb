/* mm.h — matrix products against weights as stored (f32, f16, bf16 or q8), on a worker's thread pool.
 * Owns: mm_ctx, one per worker: its pool, its kernel (chosen at init from cpu_features() and the
 * compute mode: packed AVX-512 or AVX2 FMA kernels, OpenBLAS for `generic`), one packing
 * buffer per pool thread (allocated once, a fixed size whatever the shapes) and the buffer of a
 * held x (mm_hold_x; sized by mm_reserve_x, m x k floats). Half-precision
 * and q8 weights are never converted whole: each thread widens (q8: dequantises, q x scale, one
 * f32 product per element) the panel of weights it is about to multiply as it packs it (bf16 on
 * the AVX kernels: packs it as 16-bit words, which the tile widens as it loads them; on Intel's
 * cores as floats, mm_ctx_set_widen). Products split the output columns (weight rows) over the pool's
 * threads, so every weight byte is read by one thread once per call (the last eighth of each
 * thread's share handed out to whichever is free where x is packed whole: mm_reserve_pack;
 * narrow, tall products split rows instead; x.W^T of at most 4 rows reads the weights in place, without packing). Compute is fp32 with fp32 accumulation, or optionally bf16 products
 * with fp32 accumulation (MM_COMPUTE_BF16).
 * Thread-safety: an mm_ctx is driven by one thread at a time (its worker); models are shared. */
#ifndef RLV_MM_H
#define RLV_MM_H

#include "ckpt.h"
#include "err.h"
#include "pool.h"
#include "tensor.h"
#include "wstream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_ctx mm_ctx;

typedef enum {
    MM_COMPUTE_F32 = 0,  /* fp32 products and accumulation (the default) */
    MM_COMPUTE_BF16 = 1, /* activations and weights rounded to bf16 (nearest even; bf16 weights as
                          * stored), products summed in fp32 by vdpbf16ps; needs AVX512_BF16 */
} mm_compute;

/* pool may be NULL (products run on the caller alone); it must outlive the context.
 * RLV_ENOMEM; RLV_EUNSUPPORTED: MM_COMPUTE_BF16 on a CPU (or RLV_CPU cap) without AVX512_BF16;
 * RLV_EINVAL: unknown compute. */
int mm_ctx_init(mm_ctx **out, rlv_pool *pool, mm_compute compute, rlv_err *err);
/* *c becomes NULL; NULL is a no-op. */
void mm_ctx_free(mm_ctx **c);
rlv_pool *mm_ctx_pool(const mm_ctx *c);
/* Bytes of the packing buffers, the held x's and mm_reserve_pack's included. */
size_t mm_ctx_bytes(const mm_ctx *c);
/* The kernel every product of c runs on: "avx512bf16", "avx512", "avx2" or "generic" (OpenBLAS).
 * Static string. */
const char *mm_kernel_name(const mm_ctx *c);
/* Where c's fp32 kernel widens bf16 weight panels: 0, in every tile as it loads them (repacked
 * panels read in place; weights as stored packed as 16-bit words); 1, once per row block into
 * f32 panels (weights as stored packed as f32), which pays where the widening's integer ops take
 * the FMAs' issue ports (cpu_alu_on_fma_ports: mm_ctx_init's choice). Same bits either way; tests
 * and benchmarks set both. No effect on the generic and bf16 kernels. */
void mm_ctx_set_widen(mm_ctx *c, int on);
int mm_ctx_widen(const mm_ctx *c);
/* The kernel a context for compute would run on this CPU now (mm_kernel_name's strings), NULL
 * where compute is unsupported (as mm_ctx_init would refuse it). */
const char *mm_kernel_for(mm_compute compute);

/* A weight as the products read it: rows of ld elements of dtype dt from p. For RLV_I8 (q8,
 * docs/quantization.md) element (r, c) is p[r][c] * scale[r][(c0 + c) / block] with f16 scales,
 * ld / block of them per row: ld is then the stored row, and a view into it (mm_w_at) keeps its
 * scales by moving c0. Plain views leave scale NULL and block, c0 0. */
typedef struct mm_w {
    const void *p;          /* element (0, 0) of the view */
    rlv_dtype dt;
    int ld;                 /* elements between rows */
    const uint16_t *scale;  /* RLV_I8: f16 scales of row 0's stored row, from its first block */
    int block;              /* RLV_I8: elements per scale; divides ld */
    int c0;                 /* RLV_I8: stored column of the view's column 0 */
    /* Repacked weights (mm_repack_weight): panel = NR > 0, W [n, k] stored as panels of NR rows
     * of W, each [k][NR] (so p walks k with ld = NR), pstride elements from one panel to the
     * next; q8 scales likewise [k / block][NR] per panel, spstride apart, scale at the panel's
     * first block row and c0 the view's first k. Views start on a panel (r % NR == 0). */
    int panel;
    size_t pstride, spstride;
    /* A bf16 panel laid out for the kernel's tile_bf16p, which reads it in place: the layout
     * (mm_bf16p, described in mm_kern.h), 0 for the plain [k][NR] one. */
    int bf16p;
} mm_w;

/* Layouts of bf16 panels read in place (mm_w.bf16p, mm_kern.tile_bf16p). */
typedef enum mm_bf16p { MM_BF16P_SPLIT = 1, MM_BF16P_PAIRS = 2 } mm_bf16p;

/* A plain (f32/f16/bf16) weight, or f32 activations used as one (attention's K and V). */
mm_w mm_w_plain(const void *p, rlv_dtype dt, int ld);
/* The view of w from row r, column c on (a row block or column block of a wider weight). */
mm_w mm_w_at(mm_w w, size_t r, size_t c);
/* A checkpoint weight bound for the products: its view and the tensors the view reads. */
typedef struct mm_weight {
    mm_w w;
    const rlv_tensor *t;      /* the weight's tensor (owned by the checkpoint); NULL for a copy */
    const rlv_tensor *scale;  /* q8: its scales' tensor; NULL otherwise */
    const char *layout;       /* the panel layout t is stored in (ckpt_panels), NULL: rows */
} mm_weight;
/* Binds checkpoint tensor t of c as a matrix [shape[0], numel / shape[0]]: F32/F16/BF16 as
 * stored, I8 with its q8 scales (ckpt_q8); a tensor c stores as panels (ckpt_panels) as a view
 * of its panels, read in place (docs/panels.md). RLV_EQ8 (an I8 tensor without valid scales, err
 * from ckpt_q8), RLV_EDTYPE (another dtype), RLV_EFORMAT (a panel layout this build does not
 * read, or rows that are not whole panels), each naming the tensor. */
int mm_weight_bind(mm_weight *out, const ckpt *c, const rlv_tensor *t, rlv_err *err);
/* For a weight read row by row or as x . W (token embeddings, the resampler's proj), never from
 * panels: RLV_EFORMAT naming it when its checkpoint stores it as panels (a file the converter did
 * not make: it never lists these), else RLV_OK. */
int mm_weight_rows(const mm_weight *w, rlv_err *err);
/* Read-ahead of the bytes the weight reads, scales included (ckpt_prefetch). */
void mm_weight_prefetch(const mm_weight *w);
/* Where a weight lies in a slot of direct reads; MM_NO_SLOT: it is not read directly. */
#define MM_NO_SLOT ((size_t)-1)
/* Adds w to item `item` of plan p when the products read it from c's mapping as stored — its view
 * is its tensor's own bytes in one of c's files (not repacked, not served from another
 * checkpoint) and not q8 —: *soff = where its bytes will be in the item's slot; else *soff =
 * MM_NO_SLOT. RLV_OK, or wstream_plan_add's error. */
int mm_weight_plan(wstream_plan *p, int item, const mm_weight *w, const ckpt *c, size_t *soff, rlv_err *err);
/* dst[rows][cols] = the view's first rows x cols elements widened (q8: dequantised) to f32:
 * embedding rows, the panels of the generic kernel; a float weight stored as panels too, element
 * by element (the resampler's query projection at load, whatever kernel the panels are for). */
void mm_w_to_f32(float *dst, mm_w w, size_t rows, size_t cols);

/* The name of the panel layout the kernel for compute reads (docs/panels.md, e.g.
 * "nr32-bf16split") into out; 0 (out "") where no packed kernel runs (`generic`). Weights a
 * checkpoint stores as panels (ckpt_panels) are read by a kernel of the same layout only. */
#define MM_LAYOUT_MAX 32
int mm_panel_layout(mm_compute compute, char out[MM_LAYOUT_MAX]);

/* Weights repacked once, at load, into the panel layout of the kernel the products will run
 * (mm_w.panel): packing a product's weights is then a sequential widen instead of a transpose,
 * which cost 17-20 % of an M = 256 product (docs/performance.md), and bf16 panels are not
 * packed at all on the AVX-512 and AVX2 kernels: their tiles read them in place (mm_w.bf16p). The copies live in anonymous
 * memory owned by the mm_repack, one per distinct source (weights shared by two models stay
 * shared); the source pages are released from the mapping. Only for x.W^T (mm_xwt) weights,
 * and only where a packed kernel runs (NR 0 for `generic`: mm_repack_weight does nothing). */
typedef struct mm_repack mm_repack;
/* RLV_OK; RLV_EUNSUPPORTED / RLV_EINVAL as mm_ctx_init for compute; RLV_ENOMEM. */
int mm_repack_init(mm_repack **out, mm_compute compute, rlv_err *err);
void mm_repack_free(mm_repack **r);
/* The panel width the kernel for compute uses (0: no repacking). */
int mm_repack_panel(const mm_repack *r);
/* Replaces w->w by its repacked copy (made on first sight of w's source, shared after that) and
 * releases the source's pages (ckpt c, may be NULL). A weight stored as panels (w->layout, in
 * this kernel's layout) is copied as it is. RLV_OK or RLV_ENOMEM. */
int mm_repack_weight(mm_repack *r, mm_weight *w, const ckpt *c, rlv_err *err);
/* The same for a view of W [n, k] (c0 0, k <= ld; q8: k a multiple of the block): *w becomes the
 * copy's view. For benchmarks and tests; the source is not released, and must outlive r (copies
 * are found again by the source's address). */
int mm_repack_view(mm_repack *r, mm_w *w, int n, int k, rlv_err *err);
/* Bytes of the copies. */
size_t mm_repack_bytes(const mm_repack *r);
/* Panel files (rlaifv convert --panels, docs/panels.md): after mm_repack_collect, mm_repack_weight
 * copies nothing and records each weight's tensor a panel file can hold instead (a stored F32/
 * F16/BF16 matrix, read from its own tensor, whose rows are whole panels), each once;
 * mm_repack_fill writes panels [p0, p1) of such a tensor into dst ((p1 - p0) x P x k elements of its
 * dtype), as the copies hold them (mm_panel_layout names their layout). */
void mm_repack_collect(mm_repack *r);
int mm_repack_collected(const mm_repack *r);
const rlv_tensor *mm_repack_collected_tensor(const mm_repack *r, int i);
void mm_repack_fill(const mm_repack *r, const rlv_tensor *t, int p0, int p1, void *dst);
/* At most this many bytes of copies (0: no limit, the default): a weight whose copy would pass
 * it is left as it is (read from its mapping), and later smaller ones may still fit. */
void mm_repack_limit(mm_repack *r, size_t bytes);

/* y[m, n] (leading dim ldy) = x[m, k] (ld ldx) . W^T (+ bias[n]), with W [n, k] the view w
 * (w.ld >= k; the nn.Linear layout, or a column block of a wider weight). bias may be NULL.
 * accumulate: y += instead of y =. Runs on the whole pool. */
void mm_xwt(mm_ctx *c, float *y, int ldy, const float *x, int ldx, int m, int k, mm_w w, int n, const float *bias,
            int accumulate);

/* y[m, n] = x[m, k] . W (+ y if accumulate), with W [k, n] the view w (w.ld >= n; e.g. the
 * resampler's proj, or attention's V). Runs on the whole pool. */
void mm_xw(mm_ctx *c, float *y, int ldy, const float *x, int ldx, int m, int k, mm_w w, int n, int accumulate);

/* x [m, k] (ld ldx) packed once for the products of it that follow (those of mm_xwt / mm_xw with
 * this same x, ldx, m and k: the q, k and v of a decoder layer, the gate and up blocks of its FFN,
 * the lm_head's vocabulary blocks), on the whole pool, each thread a share: without it every
 * product packs x again (whole on the pool where mm_reserve_pack made room, else on every
 * thread for its own columns). x must not change until
 * mm_release_x or the next hold. Results are the same bits either way. Returns 1 if x is held;
 * 0 where nothing would be packed (generic kernel, m within the gemv rows) or x is larger than
 * mm_reserve_x made room for: products then pack x as usual. Never allocates. */
int mm_hold_x(mm_ctx *c, const float *x, int ldx, int m, int k);
/* Room for holding any x of at most m rows by k (at start-up; the largest of all calls is kept).
 * RLV_OK or RLV_ENOMEM; nothing for the generic kernel. */
int mm_reserve_x(mm_ctx *c, int m, int k, rlv_err *err);
/* Room for packing the x of any one product of at most m rows by k whole, on the pool, each
 * thread a share, before the product (at start-up; the largest of all calls is kept). Where x
 * fits it and the pool has several threads, a product of an x not held packs it so, and its
 * columns are then handed out in pieces at the end (mm.c: a thread slowed by the machine does
 * less instead of the others waiting); otherwise each thread packs x for its own fixed share.
 * Same bits either way. RLV_OK or RLV_ENOMEM; nothing for the generic kernel. */
int mm_reserve_pack(mm_ctx *c, int m, int k, rlv_err *err);
/* Ends a hold: later products pack their x themselves. */
void mm_release_x(mm_ctx *c);

/* The same two products scaled by alpha (y = alpha x.W^T [+ y]), serially on the calling thread,
 * which must be thread tid of c's pool inside a pool_run task (tid 0 outside one): for many small
 * independent products run side by side, such as attention heads. */
void mm_xwt_on(mm_ctx *c, int tid, float *y, int ldy, const float *x, int ldx, int m, int k, mm_w w, int n,
               float alpha, int accumulate);
void mm_xw_on(mm_ctx *c, int tid, float *y, int ldy, const float *x, int ldx, int m, int k, mm_w w, int n,
              float alpha, int accumulate);

#ifdef __cplusplus
}
#endif
#endif
