/* mm.c — x.W^T and x.W on the pool (see mm.h).
 * Kernels (chosen once per context from cpu_features() and the compute mode): our packed GEMM
 * (core/mm_kern.h: AVX-512 or AVX2 fp32 FMA, or AVX512_BF16 vdpbf16ps) run by the blocked
 * driver below, or, for `generic` (RLV_CPU=generic or a CPU without AVX2), single-threaded
 * cblas_sgemm on weight panels widened into the thread's buffer.
 *
 * Driver (BLIS loop order), per thread over its share of output columns:
 *   for jc (nc columns): for pc (kc depth): pack B [kc x nc] (weights, widened here, once per call)
 *     for ic (mc rows): pack A [mc x kc] (activations)
 *       for jr (nr micro-panel of B, stays in L1): for ir (mr rows): micro-tile
 * x.W^T's bias is added by the micro-tiles of the last depth block as they store y (a pass over
 * y afterwards read 63 MB back from memory for the ViT's fc1: 1.3 % of a 2-block tower's profile).
 * Repacked bf16 weights on a kernel with tile_bf16p skip B packing: its tile reads the panel
 * where it lies (at 256-1024 rows the transpose and widening were 7-20 % of a product).
 * An x held (mm_hold_x) is packed whole once, each thread a share of its blocks, and the
 * products of it skip A packing: the decoder multiplies one x by q, k and v, and by 7 blocks
 * each of gate and up. Any other x is packed whole the same way for its one product, where
 * mm_reserve_pack made room (else each thread packs all of x, block by block, for its columns);
 * the tiles of a block's last B panel bring the next block of it into L2 (next_ablock).
 * Threads split the output columns (weight rows), so each weight byte is read and widened by one
 * thread once per call whatever m is; only when n is too narrow to share (fewer than 4 micro-
 * panels per thread) and m is tall do they split the rows instead, each packing all of B.
 * With x packed whole (held, or packed for the product into mm_reserve_pack's room), the last
 * eighth of each thread's columns goes to whichever thread is free (mm_run).
 * Why panels, not whole widened weights: the bf16 weights of the real pair are 46 GB, 92 GB as f32. */
#include "mm.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "half.h"
#include "hugemem.h"
#include "mm_kern.h"
#include "q8.h"

/* Floats of each thread's buffer on the generic path (4 MB): a panel of weights widened to f32. */
#define MM_TBUF_FLOATS ((size_t)1 << 20)
/* Column ranges handed to threads on the generic path are multiples of this. */
#define MM_ALIGN 16
/* mm_run: a thread's share of columns is fixed but for its last 1/MM_TAIL_DIV (whole panels),
 * handed out in pieces of MM_PIECE panels to whichever thread is free. A piece re-reads the
 * packed x's blocks from L3, so pieces are not smaller and the tail is not larger. */
#define MM_TAIL_DIV 8
#define MM_PIECE 4

/* x packed whole (mm_hold_x): mpad rows (whole row blocks) by pbk bytes a row, a depth block after another. */
typedef struct apacked {
    char *p;
    size_t mpad, pbk;
} apacked;

struct mm_ctx {
    rlv_pool *pool;
    int nth;
    const mm_kern *kern;  /* NULL: generic (OpenBLAS) */
    int widen;            /* bf16 panels widened once per row block (mm_ctx_set_widen) */
    size_t buf_bytes;     /* of each thread's buffer */
    float **buf;          /* [nth]: generic: [MM_TBUF_FLOATS] f32; kernel: A block [mc][kc] then B block [nc][kc] */
    /* mm_hold_x: the held x and its layout in apk (mm_reserve_x's bytes) */
    const float *hx;
    int hldx, hm, hk, held;
    apacked hap;
    char *apk;
    size_t apk_bytes;
    /* mm_reserve_pack: room for a product's own x packed whole on the pool (see mm_run) */
    char *tpk;
    size_t tpk_bytes;
};

void openblas_set_num_threads(int);

/* Bytes of one packed k-row per lane at depth kb (kstep k values share a lane's 4 bytes). */
static size_t kern_lane_bytes(const mm_kern *k, int kb) {
    return (size_t)((kb + k->kstep - 1) / k->kstep) * 4;
}

/* Bytes of one packed block of `rows` rows/columns at full depth kc. */
static size_t kern_block_bytes(const mm_kern *k, int rows) {
    return (size_t)rows * kern_lane_bytes(k, k->kc);
}

/* The kernel for compute on this CPU (*kern NULL: generic). */
static int pick_kernel(mm_compute compute, const mm_kern **kern, rlv_err *err) {
    unsigned f = cpu_features();
    *kern = NULL;
    if (compute == MM_COMPUTE_BF16) {
        if (!(f & CPU_AVX512BF16))
            return rlv_errf(err, RLV_EUNSUPPORTED, "compute bf16 needs AVX512_BF16 (vdpbf16ps); this CPU runs %s",
                            cpu_level_name(f));
        *kern = &mm_kern_avx512bf16;
    } else if (compute != MM_COMPUTE_F32)
        return rlv_errf(err, RLV_EINVAL, "compute mode %d", (int)compute);
    else if (f & CPU_AVX512) *kern = &mm_kern_avx512;
    else if (f & CPU_AVX2) *kern = &mm_kern_avx2;
    return RLV_OK;
}

int mm_ctx_init(mm_ctx **out, rlv_pool *pool, mm_compute compute, rlv_err *err) {
    *out = NULL;
    const mm_kern *kern;
    int rc = pick_kernel(compute, &kern, err);
    if (rc) return rc;
    mm_ctx *c = calloc(1, sizeof *c);
    int nth = pool_threads(pool);
    if (!c || !(c->buf = calloc((size_t)nth, sizeof *c->buf))) {
        free(c);
        return rlv_errf(err, RLV_ENOMEM, "mm context");
    }
    c->pool = pool;
    c->nth = nth;
    c->kern = kern;
    c->widen = kern && kern->bf16p_widen && cpu_alu_on_fma_ports();
    c->buf_bytes = kern ? kern_block_bytes(kern, kern->mc) + kern_block_bytes(kern, kern->nc) : MM_TBUF_FLOATS * sizeof(float);
    for (int i = 0; i < nth; i++)
        if (!(c->buf[i] = hugemem_alloc(c->buf_bytes, 0))) {
            mm_ctx_free(&c);
            return rlv_errf(err, RLV_ENOMEM, "mm buffers: %d x %zu bytes", nth, c->buf_bytes);
        }
    /* the pool's threads are the parallelism: OpenBLAS runs on the thread that calls it */
    openblas_set_num_threads(1);
    *out = c;
    return RLV_OK;
}

void mm_ctx_free(mm_ctx **cp) {
    if (!cp || !*cp) return;
    mm_ctx *c = *cp;
    if (c->buf)
        for (int i = 0; i < c->nth; i++) hugemem_free(c->buf[i]);
    free(c->buf);
    hugemem_free(c->apk);
    hugemem_free(c->tpk);
    free(c);
    *cp = NULL;
}

rlv_pool *mm_ctx_pool(const mm_ctx *c) { return c->pool; }
size_t mm_ctx_bytes(const mm_ctx *c) { return (size_t)c->nth * c->buf_bytes + c->apk_bytes + c->tpk_bytes; }
void mm_ctx_set_widen(mm_ctx *c, int on) { c->widen = on && c->kern && c->kern->bf16p_widen; }
int mm_ctx_widen(const mm_ctx *c) { return c->widen; }
const char *mm_kernel_name(const mm_ctx *c) { return c->kern ? c->kern->name : "generic"; }
const char *mm_kernel_for(mm_compute compute) {
    const mm_kern *k;
    return pick_kernel(compute, &k, NULL) ? NULL : k ? k->name : "generic";
}

mm_w mm_w_plain(const void *p, rlv_dtype dt, int ld) {
    mm_w w = {p, dt, ld, NULL, 0, 0, 0, 0, 0, 0};
    return w;
}

mm_w mm_w_at(mm_w w, size_t r, size_t c) {
    if (w.panel) {
        size_t P = (size_t)w.panel;
        RLV_ASSERT(r % P == 0 && (w.bf16p != MM_BF16P_PAIRS || c % 2 == 0)); /* a k-row pair is not split */
        w.p = (const char *)w.p + ((r / P) * w.pstride + c * P) * rlv_dtype_size(w.dt);
        if (w.dt == RLV_I8) {
            w.scale += (r / P) * w.spstride;
            w.c0 += (int)c;
        }
        return w;
    }
    w.p = (const char *)w.p + (r * (size_t)w.ld + c) * rlv_dtype_size(w.dt);
    if (w.dt == RLV_I8) {
        w.scale += r * (size_t)(w.ld / w.block);
        w.c0 += (int)c;
    }
    return w;
}

/* Which layout a bf16 weight of depth k takes in a kernel whose bf16 panels are `mode`: pairs
 * only for even k (a view's k, mm_w_at, then stays even too, as every weight's here). */
static int bf16p_for(rlv_dtype dt, int mode, int k) {
    return dt == RLV_BF16 && (mode != MM_BF16P_PAIRS || k % 2 == 0) ? mode : 0;
}

/* v as panels of P rows at p ([n/P][k][P], mm_w.panel). */
static mm_w panel_view(mm_w v, const void *p, int P, int k, int bf16p) {
    v.p = p;
    v.ld = P;
    v.panel = P;
    v.pstride = (size_t)k * (size_t)P;
    v.bf16p = bf16p;
    return v;
}

static const char *const BF16P_NAMES[] = {"rows", "split", "pairs"}; /* by mm_bf16p; 0: the plain [k][P] */

/* A layout's name (docs/panels.md): "nr<P>-bf16<split|pairs|rows>", the panel width and how
 * bf16 panels are laid out; f32 and f16 panels are [k][P] in either. */
static void layout_name(const mm_kern *k, char out[MM_LAYOUT_MAX]) {
    snprintf(out, MM_LAYOUT_MAX, "nr%d-bf16%s", k->nr, BF16P_NAMES[k->bf16p]);
}

int mm_panel_layout(mm_compute compute, char out[MM_LAYOUT_MAX]) {
    const mm_kern *k;
    out[0] = 0;
    if (pick_kernel(compute, &k, NULL) || !k) return 0;
    layout_name(k, out);
    return 1;
}

/* *P, *bf16p of a layout name; 0 when it is not one layout_name makes. */
static int layout_parse(const char *s, int *P, int *bf16p) {
    char mode[8] = "";
    int n = 0;
    if (sscanf(s, "nr%d-bf16%7[a-z]%n", P, mode, &n) != 2 || s[n] || *P < 1 || *P > 64) return 0;
    for (int i = 0; i < 3; i++)
        if (!strcmp(mode, BF16P_NAMES[i])) return *bf16p = i, 1;
    return 0;
}

int mm_weight_bind(mm_weight *out, const ckpt *c, const rlv_tensor *t, rlv_err *err) {
    int64_t rows = t->ndim ? t->shape[0] : 1, cols = rows ? rlv_tensor_numel(t) / rows : 0;
    mm_weight b = {mm_w_plain(t->data, t->dtype, (int)cols), t, NULL, NULL};
    if (t->dtype == RLV_I8) {
        int rc = ckpt_q8(c, t, &b.scale, &b.w.block, err);
        if (rc) return rc;
        b.w.scale = b.scale->data;
    } else if (t->dtype != RLV_F32 && t->dtype != RLV_F16 && t->dtype != RLV_BF16)
        return rlv_errf(err, RLV_EDTYPE, "'%s': dtype %s is not a weight dtype", t->name, rlv_dtype_name(t->dtype));
    if ((b.layout = c ? ckpt_panels(c, t) : NULL)) { /* stored as panels (docs/panels.md) */
        int P, mode;
        if (!layout_parse(b.layout, &P, &mode))
            return rlv_errf(err, RLV_EFORMAT, "'%s': panel layout '%s' is not one this build reads", t->name, b.layout);
        if (rows % P)
            return rlv_errf(err, RLV_EFORMAT, "'%s': %lld rows are not whole panels of %d (layout %s)", t->name,
                            (long long)rows, P, b.layout);
        b.w = panel_view(b.w, t->data, P, (int)cols, bf16p_for(t->dtype, mode, (int)cols));
    }
    *out = b;
    return RLV_OK;
}

int mm_weight_rows(const mm_weight *w, rlv_err *err) {
    if (!w->layout) return RLV_OK;
    return rlv_errf(err, RLV_EFORMAT, "'%s' is stored as panels (layout %s), but is read row by row: only the products' "
                    "x . W^T weights may be (docs/panels.md)", w->t->name, w->layout);
}

void mm_weight_prefetch(const mm_weight *w) {
    if (w->t && w->w.p != w->t->data) return; /* a copy in memory: the source pages were released */
    ckpt_prefetch(w->t);
    ckpt_prefetch(w->scale);
}

int mm_weight_plan(wstream_plan *p, int item, const mm_weight *w, const ckpt *c, size_t *soff, rlv_err *err) {
    const char *path;
    uint64_t off;
    *soff = MM_NO_SLOT;
    if (!w->t || w->scale || w->w.p != w->t->data || ckpt_locate(c, w->t->data, w->t->nbytes, &path, &off) != RLV_OK)
        return RLV_OK;
    return wstream_plan_add(p, item, path, off, w->t->nbytes, soff, err);
}

/* Element (r, c) of a float panel view (mm_w.panel, any mm_bf16p layout; docs/panels.md). */
static float panel_elem(const mm_w *w, size_t r, size_t c) {
    size_t P = (size_t)w->panel, i = r % P, e;
    const char *base = (const char *)w->p + (r / P) * w->pstride * rlv_dtype_size(w->dt);
    if (w->bf16p == MM_BF16P_SPLIT) e = 2 * (c * (P / 2) + i % (P / 2)) + (i >= P / 2); /* word halves: i, i + P/2 */
    else if (w->bf16p == MM_BF16P_PAIRS) e = 2 * ((c / 2) * P + i) + (c % 2);           /* word halves: k 2j, 2j + 1 */
    else e = c * P + i;
    if (w->dt == RLV_F32) return ((const float *)base)[e];
    uint16_t h = ((const uint16_t *)base)[e];
    return w->dt == RLV_BF16 ? half_bf16_to_f32(h) : half_f16_to_f32(h);
}

void mm_w_to_f32(float *dst, mm_w w, size_t rows, size_t cols) {
    if (w.panel) { /* weights stored as panels, read whole once (a product at load) */
        RLV_ASSERT(w.dt != RLV_I8);
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++) dst[r * cols + c] = panel_elem(&w, r, c);
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        mm_w row = mm_w_at(w, r, 0);
        if (w.dt == RLV_I8) q8_dequantize_span(dst + r * cols, row.p, row.scale, row.c0, (int64_t)cols, w.block);
        else half_to_f32_n(dst + r * cols, row.p, w.dt, cols);
    }
}

/* Columns [n0, n1) of y = alpha x.W^T (+ beta y), on buffer buf. */
static void xwt_cols(float *buf, float *y, int ldy, const float *x, int ldx, int m, int k, const mm_w *w, int n0,
                     int n1, float alpha, float beta) {
    if (n1 <= n0 || m <= 0) return;
    if (w->dt == RLV_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n1 - n0, k, alpha, x, ldx,
                    (const float *)w->p + (size_t)n0 * w->ld, w->ld, beta, y + n0, ldy);
        return;
    }
    /* panels of pr weight rows by kc inner elements; inner chunks after the first accumulate */
    int kc = k < (int)(MM_TBUF_FLOATS / MM_ALIGN) ? k : (int)(MM_TBUF_FLOATS / MM_ALIGN);
    int pr = (int)(MM_TBUF_FLOATS / (size_t)(kc > 0 ? kc : 1));
    for (int r0 = n0; r0 < n1; r0 += pr) {
        int nb = n1 - r0 < pr ? n1 - r0 : pr;
        for (int k0 = 0; k0 < k; k0 += kc) {
            int kb = k - k0 < kc ? k - k0 : kc;
            mm_w_to_f32(buf, mm_w_at(*w, (size_t)r0, (size_t)k0), (size_t)nb, (size_t)kb);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nb, kb, alpha, x + k0, ldx, buf, kb,
                        k0 ? 1.0f : beta, y + r0, ldy);
        }
    }
}

/* Columns [n0, n1) of y = alpha x.W (+ beta y), W [k, n]. */
static void xw_cols(float *buf, float *y, int ldy, const float *x, int ldx, int m, int k, const mm_w *w, int n0,
                    int n1, float alpha, float beta) {
    if (n1 <= n0 || m <= 0) return;
    if (w->dt == RLV_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n1 - n0, k, alpha, x, ldx,
                    (const float *)w->p + n0, w->ld, beta, y + n0, ldy);
        return;
    }
    int nc = n1 - n0;
    int kc = (int)(MM_TBUF_FLOATS / (size_t)nc);
    if (kc < 1) {  /* wider than a buffer: column blocks */
        for (int c0 = n0; c0 < n1; c0 += (int)MM_TBUF_FLOATS) {
            int c1 = n1 - c0 < (int)MM_TBUF_FLOATS ? n1 : c0 + (int)MM_TBUF_FLOATS;
            xw_cols(buf, y, ldy, x, ldx, m, k, w, c0, c1, alpha, beta);
        }
        return;
    }
    for (int k0 = 0; k0 < k; k0 += kc) {
        int kb = k - k0 < kc ? k - k0 : kc;
        mm_w_to_f32(buf, mm_w_at(*w, (size_t)k0, (size_t)n0), (size_t)kb, (size_t)nc);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, nc, kb, alpha, x + k0, ldx, buf, nc,
                    k0 ? 1.0f : beta, y + n0, ldy);
    }
}

/* The weight rows that B micro-panel (columns [col0, col0 + ncol), depth [k0, k0 + kb)) is packed
 * from, as lines for the tiles of the panel before it to bring in (mm_pf): read only when the
 * panel is packed, they stalled the packing on memory. A row's lines are counted from its first
 * byte, one more than its length needs, as rows need not start on a line. */
static mm_pf panel_rows(const mm_w *w, size_t es, int trans, int col0, int ncol, int k0, int kb) {
    int rows = trans ? ncol : kb;
    size_t row = ((size_t)(trans ? kb : ncol) * es + 63) / 64 * 64 + 64;
    const char *p = (const char *)w->p + (trans ? (size_t)col0 * w->ld + (size_t)k0 : (size_t)k0 * w->ld + (size_t)col0) * es;
    return (mm_pf){p, row, (size_t)w->ld * es, 0, rows * (int)(row / 64)};
}

/* All the lines of `bytes` contiguous bytes from p, for the tiles to bring in (mm_pf). */
static mm_pf span_lines(const char *p, size_t bytes) {
    size_t lines = (bytes + 63) / 64;
    return (mm_pf){p, lines * 64, 0, 0, (int)lines};
}

/* Where B micro-panel jr (a column) is packed in the B block, in panels' columns. ring: one row
 * block (or panels widened for each row block), each panel multiplied once as soon as packed, so
 * two slots take turns and the packing's
 * stores stay in cache (a slot a panel through a 2 MB B block missed L2: each line read in before
 * it was written); else every panel has its own, for the later row blocks. */
static size_t panel_slot(int jr, int nr, int ring) { return (size_t)(ring ? jr / nr % 2 * nr : jr); }

/* The A block at depth pc (a multiple of kc), rows from ic, of x packed whole. */
static char *apacked_block(const apacked *ap, int kc, int pc, int ic) {
    return ap->p + ((size_t)(pc / kc) * ap->mpad + (size_t)ic) * ap->pbk;
}

/* The A block that follows (pc, ic) in kern_gemm's loop over x packed whole, as lines for the
 * tiles of the last B panel before it to bring in (mm_pf); none after the last. Else the first
 * panel of every block read its A micro-panels from L3 or memory: products 1-7 % slower (Zen 5,
 * most where a thread's columns are few per block, llm.k/v and vit.fc2: docs/performance.md). */
static mm_pf next_ablock(const mm_kern *kn, const apacked *ap, int m, int k, int mcb, int pc, int ic) {
    int pc2 = pc, ic2 = ic + mcb;
    if (ic2 >= m) ic2 = 0, pc2 = pc + kn->kc;
    if (pc2 >= k) return (mm_pf){0};
    int kb = k - pc2 < kn->kc ? k - pc2 : kn->kc, mb = m - ic2 < mcb ? m - ic2 : mcb;
    return span_lines(apacked_block(ap, kn->kc, pc2, ic2), (size_t)((mb + kn->mr - 1) / kn->mr * kn->mr) * kern_lane_bytes(kn, kb));
}

/* Row blocks of equal size (whole micro-tiles, at most mc): 1024 rows as 4 x ~256, not
 * 3 x 336 + 16, whose last block would reload every packed B panel for 2 tiles. */
static int row_block(const mm_kern *kn, int m) {
    int nblk = (m + kn->mc - 1) / kn->mc;
    return ((m + nblk - 1) / nblk + kn->mr - 1) / kn->mr * kn->mr;
}

/* The layout of x [m, k] packed whole at p: *rblocks row blocks by *kblocks depth blocks, each
 * one pack_a, *bytes in all. */
static apacked apacked_layout(const mm_kern *kn, char *p, int m, int k, int *rblocks, int *kblocks, size_t *bytes) {
    int mcb = row_block(kn, m);
    *rblocks = (m + mcb - 1) / mcb;
    *kblocks = (k + kn->kc - 1) / kn->kc;
    apacked ap = {p, (size_t)*rblocks * (size_t)mcb, kern_lane_bytes(kn, kn->kc)};
    *bytes = (size_t)*kblocks * ap.mpad * ap.pbk;
    return ap;
}

/* y[i][n0, n1) += bias[n0, n1) for rows [0, m): a pass over y, where the tiles did not add it. */
static void add_bias(float *y, int ldy, int m, int n0, int n1, const float *bias) {
    if (!bias) return;
    for (int i = 0; i < m; i++) {
        float *r = y + (size_t)i * ldy;
        for (int j = n0; j < n1; j++) r[j] += bias[j];
    }
}

/* Rows [0, m) x columns [n0, n1) of y = alpha x.op(W) (+ y when acc) (+ bias, NULL or n1
 * floats: the tiles of the last depth block add it) through kernel kn on buffer buf (see the
 * loop nest at the top). trans = 1: W [n, k] (x.W^T); 0: W [k, n] (x.W).
 * B micro-panels are packed one at a time during the first row block, each right before its
 * tiles, which bring in the next panel's weight rows as they run (mm_pf); later row blocks reuse
 * them (with one row block, two slots take turns: panel_slot).
 * ap: x already packed whole (mm_hold_x), or NULL: A blocks packed here into buf. */
static void kern_gemm(const mm_kern *kn, int widen, void *buf, float *y, int ldy, const float *x, int ldx, int m, int k,
                      const mm_w *w, int trans, int n0, int n1, float alpha, int acc, const float *bias,
                      const apacked *ap) {
    if (m <= 0 || n1 <= n0) return;
    if (k <= 0) {  /* empty sum */
        if (!acc)
            for (int i = 0; i < m; i++) memset(y + (size_t)i * ldy + n0, 0, (size_t)(n1 - n0) * sizeof(float));
        add_bias(y, ldy, m, n0, n1, bias);
        return;
    }
    if (trans && m <= kn->gemv_rows && kn->gemv && !w->panel) {
        mm_w wp = mm_w_at(*w, (size_t)n0, 0);
        kn->gemv(y + n0, (size_t)ldy, x, (size_t)ldx, m, k, &wp, n1 - n0, alpha, acc);
        add_bias(y, ldy, m, n0, n1, bias);  /* a few rows: y is still in cache */
        return;
    }
    size_t es = rlv_dtype_size(w->dt);
    char *abuf = buf, *bbuf = abuf + kern_block_bytes(kn, kn->mc);
    int mr = kn->mr, nr = kn->nr;
    /* a bf16 panel in this kernel's layout is multiplied where it lies: no B block at all */
    int inplace = w->bf16p != 0;
    /* widen (mm_ctx_set_widen): such a panel is widened into a packed f32 one for each row block
     * (two ring slots of the B block) and multiplied by the f32 tile, where widening in every
     * tile would take FMA issue slots; same bits */
    /* bf16 weights as stored, on an fp32 kernel that reads such panels: packed into that layout
     * (16-bit words, half the bytes of widened floats, the transpose of repacking) and multiplied
     * by the same tile, the same bits as widened floats; with widen, packed as f32 (pack_b) */
    int pk16 = !widen && !inplace && trans && !w->panel && w->dt == RLV_BF16 && kn->bf16p == MM_BF16P_SPLIT;
    /* pairs: the tile reads k in pairs, so an odd k would take the next k-row of the weight */
    RLV_ASSERT(!inplace || (w->bf16p == kn->bf16p && w->panel == nr && w->dt == RLV_BF16 && (w->bf16p != MM_BF16P_PAIRS || k % 2 == 0)));
    /* ring: each panel's slot is used once, right after it is packed or widened (panel_slot) */
    int mcb = row_block(kn, m), ring = m <= mcb || (inplace && widen);
    for (int jc = n0; jc < n1; jc += kn->nc) {
        int nb = n1 - jc < kn->nc ? n1 - jc : kn->nc;
        for (int pc = 0; pc < k; pc += kn->kc) {
            int kb = k - pc < kn->kc ? k - pc : kn->kc;
            size_t pa = kern_lane_bytes(kn, kb);
            size_t pb = pk16 ? (size_t)kb * 2 : pa;                        /* of B: 16-bit words when pk16 */
            int a2 = acc || pc > 0;  /* later depth blocks add to the earlier ones */
            const float *bl = bias && pc + kb >= k ? bias + jc : NULL; /* the last adds the bias */
            /* with alpha 1 (mm_xwt's) the tile's alpha.s + bias rounds as s, then + bias, even where
             * the compiler fuses the two into one FMA: the bits of a pass afterwards */
            RLV_ASSERT(!bl || alpha == 1.0f);
            for (int ic = 0; ic < m; ic += mcb) {
                int mb = m - ic < mcb ? m - ic : mcb, tiles = (mb + mr - 1) / mr;
                if (ap) abuf = apacked_block(ap, kn->kc, pc, ic);
                else kn->pack_a(abuf, x + (size_t)ic * ldx + pc, (size_t)ldx, mb, kb);
                for (int jr = 0; jr < nb; jr += nr) {
                    int nbr = nb - jr < nr ? nb - jr : nr;
                    char *bpk = bbuf + panel_slot(jr, nr, ring) * pb; /* this panel packed (packed during the first row block) */
                    const void *bp = inplace ? mm_w_at(*w, (size_t)(jc + jr), (size_t)pc).p : bpk;
                    const void *tb = bp; /* what the tiles read */
                    if (inplace && widen) kn->bf16p_widen((float *)bpk, bp, kb), tb = bpk;
                    if (!inplace && ic == 0) {
                        mm_w wp = trans ? mm_w_at(*w, (size_t)(jc + jr), (size_t)pc) : mm_w_at(*w, (size_t)pc, (size_t)(jc + jr));
                        /* a repacked panel is already [k][nr]: its rows are copied (widened), not transposed */
                        if (pk16) kn->bf16p_pack(bpk, wp.p, (size_t)w->ld, nbr, kb, 0);
                        else kn->pack_b(bpk, &wp, trans && !w->panel, nbr, kb);
                    }
                    /* what the tiles bring in meanwhile, a share each: the next panel in place; the
                     * weight rows the next panel is packed from (repacked f32 and q8 panels are read
                     * in order: the hardware prefetches them); later row blocks, the next packed
                     * panel (packed B outgrows L2: nc x kc floats); after the last panel, the next
                     * block of a packed-whole x */
                    mm_pf pf = {0};
                    if (jr + nr < nb) {
                        if (inplace) pf = span_lines((const char *)bp + w->pstride * es, (size_t)nr * (size_t)kb * es);
                        else if (ic == 0 && !w->panel)
                            pf = panel_rows(w, es, trans, jc + jr + nr, nb - jr - nr < nr ? nb - jr - nr : nr, pc, kb);
                        else if (ic > 0) pf = span_lines(bbuf + panel_slot(jr + nr, nr, ring) * pb, (size_t)nr * pb);
                    } else if (ap) pf = next_ablock(kn, ap, m, k, mcb, pc, ic); /* the last panel: the next A block */
                    const float *bt = bl ? bl + jr : NULL; /* this panel's columns of the bias */
                    for (int ir = 0, t = 0; ir < mb; ir += mr, t++) {
                        mm_pf share = pf;
                        share.first = pf.n * t / tiles, share.n = pf.n * (t + 1) / tiles - share.first;
                        float *yt = y + (size_t)(ic + ir) * ldy + jc + jr;
                        int mt = mb - ir < mr ? mb - ir : mr;
                        if ((inplace && !widen) || pk16) kn->tile_bf16p(kb, abuf + (size_t)ir * pa, tb, yt, (size_t)ldy, mt, nbr, alpha, a2, bt, &share);
                        else kn->tile(kb, abuf + (size_t)ir * pa, tb, yt, (size_t)ldy, mt, nbr, alpha, a2, bt, &share);
                    }
                }
            }
        }
    }
}

/* One product on one thread: rows [r0, r1) x columns [n0, n1) (+ bias: NULL, or indexed by column). */
static void gemm_part(mm_ctx *c, int tid, int trans, float *y, int ldy, const float *x, int ldx, int r0, int r1, int k,
                      const mm_w *w, int n0, int n1, float alpha, int acc, const float *bias, const apacked *ap) {
    if (r1 <= r0 || n1 <= n0) return;
    y += (size_t)r0 * ldy, x += (size_t)r0 * ldx;
    if (c->kern) {
        kern_gemm(c->kern, c->widen, c->buf[tid], y, ldy, x, ldx, r1 - r0, k, w, trans, n0, n1, alpha, acc, bias, ap);
        return;
    }
    float beta = acc ? 1.0f : 0.0f;
    if (trans) xwt_cols(c->buf[tid], y, ldy, x, ldx, r1 - r0, k, w, n0, n1, alpha, beta);
    else xw_cols(c->buf[tid], y, ldy, x, ldx, r1 - r0, k, w, n0, n1, alpha, beta);
    add_bias(y, ldy, r1 - r0, n0, n1, bias);
}

typedef struct mm_task {
    mm_ctx *c;
    int trans;  /* 1: x.W^T, 0: x.W */
    float *y;
    int ldy, ldx, m, k, n;
    const float *x, *bias;
    mm_w w;
    int acc;
    const apacked *ap;  /* x packed whole (held, or for this product), or NULL: each thread packs its own */
    atomic_int next;    /* the next tail piece to hand out (col_piece) */
} mm_task;

/* Whether threads split a product's rows (each packing all of B) instead of its columns: when n
 * is too narrow to share (fewer than 4 micro-panels a thread) and m is tall. */
static int split_rows(const mm_ctx *c, int m, int n) {
    const mm_kern *kn = c->kern;
    int nr = kn ? kn->nr : MM_ALIGN, mr = kn ? kn->mr : 1;
    return c->nth > 1 && n < c->nth * 4 * nr && m >= c->nth * 4 * mr;
}

/* Thread u's head, [*n0, *n1): the first MM_TAIL_DIV - 1 eighths of its pool_split share of
 * n columns (whole panels of nr); the rest of the share is its tail. */
static void col_head(int n, int u, int nth, int nr, int *n0, int *n1, int *s1) {
    pool_split(n, u, nth, nr, n0, s1);
    *n1 = *n0 + (*s1 - *n0) / nr * (MM_TAIL_DIV - 1) / MM_TAIL_DIV * nr;
}

/* Tail piece p of a product's columns, [*n0, *n1): the threads' tails in thread order, each
 * cut into pieces of MM_PIECE panels. 0 past the last piece. */
static int col_piece(int n, int nth, int nr, int p, int *n0, int *n1) {
    for (int u = 0; u < nth; u++) {
        int h0, h1, s1;
        col_head(n, u, nth, nr, &h0, &h1, &s1);
        int w = MM_PIECE * nr, pieces = (s1 - h1 + w - 1) / w;
        if (p < pieces) {
            *n0 = h1 + p * w, *n1 = *n0 + w < s1 ? *n0 + w : s1;
            return 1;
        }
        p -= pieces;
    }
    return 0;
}

static void mm_cols(const mm_task *t, int tid, int r0, int r1, int n0, int n1) {
    gemm_part(t->c, tid, t->trans, t->y, t->ldy, t->x, t->ldx, r0, r1, t->k, &t->w, n0, n1, 1.0f, t->acc, t->bias, t->ap);
}

/* Columns (or rows: split_rows) split over the threads. With x packed whole, only the heads are
 * fixed: each thread then takes tail pieces until none is left, so that a thread slowed by the
 * machine (another process on its core, a busier cache) does less instead of the others waiting
 * for it — measured, the second thread of a job ran 6-8 % longer than the first on the same
 * shares (Xeon model 207) and the first waited 8-15 % of its time. Which thread computes a column
 * does not change its bits. */
static void mm_run(void *arg, int tid, int nth) {
    mm_task *t = arg;
    const mm_kern *kn = t->c->kern;
    int nr = kn ? kn->nr : MM_ALIGN, mr = kn ? kn->mr : 1;
    int n0, n1, s1;
    if (split_rows(t->c, t->m, t->n)) {
        int r0, r1;
        pool_split(t->m, tid, nth, mr, &r0, &r1);
        mm_cols(t, tid, r0, r1, 0, t->n);
    } else if (!t->ap || nth == 1) {
        pool_split(t->n, tid, nth, nr, &n0, &n1);
        mm_cols(t, tid, 0, t->m, n0, n1);
    } else {
        col_head(t->n, tid, nth, nr, &n0, &n1, &s1);
        mm_cols(t, tid, 0, t->m, n0, n1);
        while (col_piece(t->n, nth, nr, atomic_fetch_add(&t->next, 1), &n0, &n1)) mm_cols(t, tid, 0, t->m, n0, n1);
    }
}

/* The q8 invariant every view keeps (mm_w): whole scale rows per stored row. */
static void check_w(const mm_w *w) {
    RLV_ASSERT(w->dt != RLV_I8 || (w->block > 0 && (w->panel || w->ld % w->block == 0) && w->scale && w->c0 >= 0));
}

typedef struct pack_task {
    const mm_kern *kn;
    apacked ap;
    const float *x;
    int ldx, m, k, rblocks, units;
} pack_task;

static void pack_run(void *arg, int tid, int nth) {
    const pack_task *t = arg;
    int mcb = (int)(t->ap.mpad / (size_t)t->rblocks), kc = t->kn->kc;
    for (int u = tid; u < t->units; u += nth) {
        int ic = u % t->rblocks * mcb, pc = u / t->rblocks * kc;
        int mb = t->m - ic < mcb ? t->m - ic : mcb, kb = t->k - pc < kc ? t->k - pc : kc;
        t->kn->pack_a(apacked_block(&t->ap, kc, pc, ic), t->x + (size_t)ic * t->ldx + pc, (size_t)t->ldx, mb, kb);
    }
}

/* *buf (of *bytes) grown to hold any x of at most m rows by k packed whole. */
static int reserve_packed(const mm_kern *kn, char **buf, size_t *bytes, int m, int k, const char *what, rlv_err *err) {
    if (!kn || m <= 0 || k <= 0) return RLV_OK;
    /* the most any x of at most m rows takes: fewer rows may pad their row blocks a little more */
    size_t need = 0;
    for (int r = 1; r <= m; r++) {
        int rblocks, kblocks;
        size_t b;
        apacked_layout(kn, NULL, r, k, &rblocks, &kblocks, &b);
        if (b > need) need = b;
    }
    if (need <= *bytes) return RLV_OK;
    char *p = hugemem_alloc(need, 0);
    if (!p) return rlv_errf(err, RLV_ENOMEM, "mm: %zu bytes for %s of %d x %d", need, what, m, k);
    hugemem_free(*buf);
    *buf = p, *bytes = need;
    return RLV_OK;
}

int mm_reserve_x(mm_ctx *c, int m, int k, rlv_err *err) {
    char *was = c->apk;
    int rc = reserve_packed(c->kern, &c->apk, &c->apk_bytes, m, k, "a held x", err);
    if (c->apk != was) c->held = 0; /* a held x was in the old buffer */
    return rc;
}

int mm_reserve_pack(mm_ctx *c, int m, int k, rlv_err *err) {
    return reserve_packed(c->kern, &c->tpk, &c->tpk_bytes, m, k, "a product's packed x", err);
}

/* x packed whole into buf (of cap bytes) on the pool, *ap its layout; 0 where nothing would be
 * packed (generic kernel, m within the gemv rows) or it does not fit. */
static int pack_whole(mm_ctx *c, char *buf, size_t cap, const float *x, int ldx, int m, int k, apacked *ap) {
    if (!c->kern || m <= c->kern->gemv_rows || k <= 0) return 0;
    int rblocks, kblocks;
    size_t bytes;
    pack_task t = {c->kern, apacked_layout(c->kern, buf, m, k, &rblocks, &kblocks, &bytes), x, ldx, m, k, rblocks,
                   rblocks * kblocks};
    if (bytes > cap) return 0;
    pool_run(c->pool, pack_run, &t);
    *ap = t.ap;
    return 1;
}

int mm_hold_x(mm_ctx *c, const float *x, int ldx, int m, int k) {
    c->held = pack_whole(c, c->apk, c->apk_bytes, x, ldx, m, k, &c->hap);
    if (c->held) c->hx = x, c->hldx = ldx, c->hm = m, c->hk = k;
    return c->held;
}

void mm_release_x(mm_ctx *c) { c->held = 0; }

/* x packed whole for a product of it on the whole pool: as held, else packed now into the room
 * of mm_reserve_pack where there is more than one thread to share the columns; or NULL (each
 * thread packs x for its own columns). *tmp: the layout when packed now. */
static const apacked *packed_x(mm_ctx *c, const float *x, int ldx, int m, int k, int n, apacked *tmp) {
    if (split_rows(c, m, n)) return NULL;
    if (c->held && x == c->hx && ldx == c->hldx && m == c->hm && k == c->hk) return &c->hap;
    return c->nth > 1 && pack_whole(c, c->tpk, c->tpk_bytes, x, ldx, m, k, tmp) ? tmp : NULL;
}

void mm_xwt(mm_ctx *c, float *y, int ldy, const float *x, int ldx, int m, int k, mm_w w, int n, const float *bias,
            int accumulate) {
    if (m <= 0 || n <= 0) return;
    check_w(&w);
    RLV_ASSERT(!w.panel || (c->kern && w.panel == c->kern->nr && (!w.bf16p || w.bf16p == c->kern->bf16p)));
    /* m > gemv_rows when packed: the gemv path (in place, no packing) is not taken */
    apacked tmp;
    mm_task t = {c, 1, y, ldy, ldx, m, k, n, x, bias, w, accumulate, packed_x(c, x, ldx, m, k, n, &tmp), 0};
    pool_run(c->pool, mm_run, &t);
}

void mm_xw(mm_ctx *c, float *y, int ldy, const float *x, int ldx, int m, int k, mm_w w, int n, int accumulate) {
    if (m <= 0 || n <= 0) return;
    check_w(&w);
    RLV_ASSERT(!w.panel);
    apacked tmp;
    mm_task t = {c, 0, y, ldy, ldx, m, k, n, x, NULL, w, accumulate, packed_x(c, x, ldx, m, k, n, &tmp), 0};
    pool_run(c->pool, mm_run, &t);
}

void mm_xwt_on(mm_ctx *c, int tid, float *y, int ldy, const float *x, int ldx, int m, int k, mm_w w, int n,
               float alpha, int accumulate) {
    check_w(&w);
    RLV_ASSERT(!w.panel || (c->kern && w.panel == c->kern->nr && (!w.bf16p || w.bf16p == c->kern->bf16p)));
    gemm_part(c, tid, 1, y, ldy, x, ldx, 0, m, k, &w, 0, n, alpha, accumulate, NULL, NULL);
}

void mm_xw_on(mm_ctx *c, int tid, float *y, int ldy, const float *x, int ldx, int m, int k, mm_w w, int n,
              float alpha, int accumulate) {
    check_w(&w);
    RLV_ASSERT(!w.panel);
    gemm_part(c, tid, 0, y, ldy, x, ldx, 0, m, k, &w, 0, n, alpha, accumulate, NULL, NULL);
}

/* ------------------------------------------------------------------ repacking (mm.h) */

typedef struct repacked {
    const void *src, *src_scale;  /* the source view's data and scales, and its shape: the key */
    int n, k;
    rlv_dtype dt;
    void *p;                      /* panels */
    uint16_t *scale;              /* q8: panel scales */
    size_t bytes;                 /* of the copy and its scales */
} repacked;

struct mm_repack {
    const mm_kern *kern;  /* NULL: generic (nothing repacked) */
    int panel;
    int bf16p;  /* the layout of bf16 panels: the kernel's tile_bf16p reads them in place (mm_kern.h) */
    repacked *v;
    int n, cap;
    size_t bytes, limit;  /* limit: 0, or the most bytes of copies (mm_repack_limit) */
    int collect;          /* mm_repack_collect: tensors recorded in `got`, nothing copied */
    const rlv_tensor **got;
    int n_got, cap_got;
};

int mm_repack_init(mm_repack **out, mm_compute compute, rlv_err *err) {
    *out = NULL;
    const mm_kern *kern;
    int rc = pick_kernel(compute, &kern, err);
    if (rc) return rc;
    mm_repack *r = calloc(1, sizeof *r);
    if (!r) return rlv_errf(err, RLV_ENOMEM, "weight repacking");
    r->kern = kern;
    r->panel = kern ? kern->nr : 0;
    r->bf16p = kern ? kern->bf16p : 0;
    RLV_ASSERT(!r->bf16p || kern->bf16p_pack);
    *out = r;
    return RLV_OK;
}

void mm_repack_free(mm_repack **rp) {
    if (!rp || !*rp) return;
    mm_repack *r = *rp;
    for (int i = 0; i < r->n; i++) {
        hugemem_free(r->v[i].p);
        free(r->v[i].scale);
    }
    free(r->v);
    free(r->got);
    free(r);
    *rp = NULL;
}

int mm_repack_panel(const mm_repack *r) { return r ? r->panel : 0; }
size_t mm_repack_bytes(const mm_repack *r) { return r ? r->bytes : 0; }
void mm_repack_limit(mm_repack *r, size_t bytes) { r->limit = bytes; }

/* Panels of w [n, k] (a whole stored weight: c0 0) into p / scale: element (j, q) of W goes to
 * panel j / P at [q][j % P], rows past n zero; q8 scale (j, b) to [b][j % P] of the panel. bf16
 * panels for a kernel's tile_bf16p (layout bf16p, mm_kern.h) are its bf16p_pack's.
 * k outer, the panel's P rows inner: P source lines stay cached while 64 bytes of each are used. */
#define REPACK_ELEMS(T)                                                                          \
    for (size_t pi = 0; pi < np; pi++) {                                                         \
        T *dst = (T *)p + pi * (size_t)k * (size_t)P;                                            \
        const T *src = (const T *)w->p + pi * (size_t)P * (size_t)w->ld;                         \
        size_t rows = (size_t)n - pi * (size_t)P < (size_t)P ? (size_t)n - pi * (size_t)P : (size_t)P; \
        for (size_t q = 0; q < (size_t)k; q++)                                                   \
            for (size_t jj = 0; jj < (size_t)P; jj++)                                            \
                dst[q * (size_t)P + jj] = jj < rows ? src[jj * (size_t)w->ld + q] : (T)0;         \
    }
static void repack_into(const mm_repack *r, const mm_w *w, int n, int k, int bf16p, void *p, uint16_t *scale) {
    int P = r->panel;
    size_t np = (size_t)(n + P - 1) / (size_t)P;
    RLV_ASSERT((uintptr_t)p % 64 == 0);
    if (bf16p)
        for (size_t pi = 0; pi < np; pi++) {
            int rows = n - (int)pi * P < P ? n - (int)pi * P : P;
            r->kern->bf16p_pack((uint16_t *)p + pi * (size_t)k * (size_t)P, (const uint16_t *)w->p + pi * (size_t)P * (size_t)w->ld,
                                (size_t)w->ld, rows, k, 1);
        }
    else switch (rlv_dtype_size(w->dt)) {
        case 1: REPACK_ELEMS(int8_t) break;
        case 2: REPACK_ELEMS(uint16_t) break;
        default: REPACK_ELEMS(float) break;
        }
    if (w->dt != RLV_I8) return;
    size_t nbk = (size_t)(k / w->block), lds = (size_t)(w->ld / w->block);
    for (size_t pi = 0; pi < np; pi++)
        for (size_t b = 0; b < nbk; b++)
            for (size_t jj = 0; jj < (size_t)P; jj++) {
                size_t j = pi * (size_t)P + jj;
                scale[(pi * nbk + b) * (size_t)P + jj] = j < (size_t)n ? w->scale[j * lds + b] : 0;
            }
}
#undef REPACK_ELEMS

static int repack(mm_repack *r, mm_w *w, int n, int k, const ckpt *c, const char *name, rlv_err *err);

int mm_repack_weight(mm_repack *r, mm_weight *w, const ckpt *c, rlv_err *err) {
    /* a weight stored as panels (w->layout) is copied as it is; one already in memory is left */
    if (!r->panel || !w->t || !w->t->ndim || w->w.p != w->t->data) return RLV_OK;
    int64_t rows = w->t->shape[0], cols = rows ? rlv_tensor_numel(w->t) / rows : 0; /* as mm_weight_bind */
    if (r->collect) { /* a whole stored float matrix of whole panels: what a panel file can hold */
        if (w->scale || w->layout || rows % r->panel) return RLV_OK;
        for (int i = 0; i < r->n_got; i++)
            if (r->got[i] == w->t) return RLV_OK;
        if (r->n_got == r->cap_got) {
            int cap = r->cap_got ? 2 * r->cap_got : 256;
            const rlv_tensor **g = realloc(r->got, (size_t)cap * sizeof *g);
            if (!g) return rlv_errf(err, RLV_ENOMEM, "collecting '%s'", w->t->name);
            r->got = g, r->cap_got = cap;
        }
        r->got[r->n_got++] = w->t;
        return RLV_OK;
    }
    return repack(r, &w->w, (int)rows, (int)cols, c, w->t->name, err);
}

void mm_repack_collect(mm_repack *r) { r->collect = 1; }
int mm_repack_collected(const mm_repack *r) { return r->n_got; }
const rlv_tensor *mm_repack_collected_tensor(const mm_repack *r, int i) { return r->got[i]; }

void mm_repack_fill(const mm_repack *r, const rlv_tensor *t, int p0, int p1, void *dst) {
    int64_t rows = t->shape[0], cols = rlv_tensor_numel(t) / rows;
    int P = r->panel, k = (int)cols;
    RLV_ASSERT(P && rows % P == 0 && p0 >= 0 && p0 <= p1 && (int64_t)p1 * P <= rows && t->dtype != RLV_I8);
    mm_w w = mm_w_at(mm_w_plain(t->data, t->dtype, k), (size_t)p0 * (size_t)P, 0);
    repack_into(r, &w, (p1 - p0) * P, k, bf16p_for(t->dtype, r->bf16p, k), dst, NULL);
}

int mm_repack_view(mm_repack *r, mm_w *w, int n, int k, rlv_err *err) {
    if (!r->panel || w->panel) return RLV_OK;
    return repack(r, w, n, k, NULL, "a weight", err);
}

/* w as panels in memory: repacked from its rows, or, a view of a panel file, copied as it is
 * (its layout is the kernel's: the engine refuses another at open). */
static int repack(mm_repack *r, mm_w *w, int n, int k, const ckpt *c, const char *name, rlv_err *err) {
    int P = r->panel, bf16p = w->panel ? w->bf16p : bf16p_for(w->dt, r->bf16p, k);
    RLV_ASSERT(w->c0 == 0 && (w->panel ? w->panel == P && n % P == 0 && w->dt != RLV_I8 : k <= w->ld) &&
               (w->dt != RLV_I8 || k % w->block == 0));
    const void *key = w->p, *skey = w->scale;
    repacked *hit = NULL;
    for (int i = 0; i < r->n && !hit; i++)
        if (r->v[i].src == key && r->v[i].src_scale == skey && r->v[i].n == n && r->v[i].k == k && r->v[i].dt == w->dt)
            hit = &r->v[i];
    if (!hit) {
        if (r->n == r->cap) {
            int cap = r->cap ? 2 * r->cap : 256;
            repacked *nv = realloc(r->v, (size_t)cap * sizeof *nv);
            if (!nv) return rlv_errf(err, RLV_ENOMEM, "repacking '%s'", name);
            r->v = nv, r->cap = cap;
        }
        size_t es = rlv_dtype_size(w->dt), np = (size_t)(n + P - 1) / (size_t)P;
        size_t bytes = np * (size_t)P * (size_t)k * es, sbytes = w->dt == RLV_I8 ? np * (size_t)P * (size_t)(k / w->block) * 2 : 0;
        if (r->limit && r->bytes + bytes + sbytes > r->limit) return RLV_OK; /* stays as stored */
        /* populated at once: faulted in page by page, the copies of a real-width pair spent two
         * thirds of the repack in faults and page clearing (perf of an open); open 11.2-11.6 s
         * against 7.2-7.8 s populated */
        repacked e = {key, skey, n, k, w->dt, hugemem_alloc(bytes, 1), sbytes ? malloc(sbytes) : NULL, bytes + sbytes};
        if (!e.p || (sbytes && !e.scale)) {
            hugemem_free(e.p);
            free(e.scale);
            return rlv_errf(err, RLV_ENOMEM, "repacking '%s': %zu bytes", name, bytes + sbytes);
        }
        if (w->panel) memcpy(e.p, w->p, bytes);
        else repack_into(r, w, n, k, bf16p, e.p, e.scale);
        if (c) {
            ckpt_evict(c, w->p, (size_t)n * (size_t)k * es);
            if (sbytes) ckpt_evict(c, w->scale, (size_t)n * (size_t)(k / w->block) * 2);
        }
        r->v[r->n] = e;
        hit = &r->v[r->n++];
        r->bytes += e.bytes;
    }
    mm_w v = panel_view(*w, hit->p, P, k, bf16p);
    if (v.dt == RLV_I8) {
        v.scale = hit->scale;
        v.spstride = (size_t)(k / v.block) * (size_t)P;
        v.c0 = 0;
    }
    *w = v;
    return RLV_OK;
}
