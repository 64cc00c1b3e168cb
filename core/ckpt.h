/* ckpt.h — a model checkpoint directory as users download it from the Hugging Face hub.
 * Owns: the set of mmap-ed files and the name -> rlv_tensor table (constant-time lookup).
 * Picks the format by what the directory holds: model.safetensors.index.json, then
 * *.safetensors, then pytorch_model.bin.index.json / pytorch_model.bin (see ckpt_pt.h).
 * Every byte range is validated before a tensor is handed out. Read-only after
 * ckpt_open(); safe to share between threads. Knows nothing of the model's math. */
#ifndef RLV_CKPT_H
#define RLV_CKPT_H

#include "err.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt ckpt;

/* Opens a checkpoint: a directory (sharded or single file) or one .safetensors / .bin file.
 * Returns RLV_OK and *out, or an RLV_E* code with err naming file and tensor. */
int ckpt_open(ckpt **out, const char *path, rlv_err *err);

/* Tensor by name, or NULL. The view is owned by c, valid until ckpt_free(). */
const rlv_tensor *ckpt_find(const ckpt *c, const char *name);

/* Number of tensors and the i-th one (in file order, shard by shard). */
int ckpt_n_tensors(const ckpt *c);
const rlv_tensor *ckpt_tensor(const ckpt *c, int i);

/* "safetensors" or "pytorch". */
const char *ckpt_format(const ckpt *c);
/* Number of weight files and the path of the i-th (owned by c). */
int ckpt_n_files(const ckpt *c);
const char *ckpt_file(const ckpt *c, int i);

/* The q8 view of an I8 weight w of c (docs/quantization.md): its companion scale tensor
 * ("<name>_scale", F16, shape [rows, cols / block]) and the block size from its file's
 * __metadata__ ("rlaifv.q8_block"). Every companion was validated once at ckpt_open: dtype,
 * shape, block dividing the row, every scale finite and >= 0. Returns RLV_OK with *scale (owned
 * by c) and *block; RLV_EINVAL if w is not an I8 tensor of c; RLV_EQ8 with err naming the tensor
 * and the fault (missing scale, wrong shape or dtype, block not dividing the row, a NaN/inf/
 * negative scale and its index, no block size in the file's metadata). scale/block may be NULL. */
int ckpt_q8(const ckpt *c, const rlv_tensor *w, const rlv_tensor **scale, int *block, rlv_err *err);

/* The panel layout t is stored in (a name mm.c reads, e.g. "nr32-bf16split"; owned by c), or
 * NULL when t is stored as usual, row after row (ckpt.c note 6, docs/panels.md). */
const char *ckpt_panels(const ckpt *c, const rlv_tensor *t);
/* The layout of c's panel matrices, NULL when c has none. */
const char *ckpt_panel_layout(const ckpt *c);

/* Drops the pages wholly inside [p, p + n) of a mapping of c from this process's memory; they are
 * read again from the file if touched (a streaming reader's bound on resident memory). */
void ckpt_evict(const ckpt *c, const void *p, size_t n);

/* For every tensor of c whose name, dtype, shape and bytes equal a tensor of src, serve it from
 * src's bytes instead (and tell the kernel c's copy is not needed) — when both store it in the same layout —, so identical weights of a
 * policy and its reference are read from one mapping. q8 weights and their scales are tensors
 * like any other here: each is shared when its own bytes are identical; ckpt_q8 keeps working. src must outlive c. Call before sharing c
 * between threads. Returns the bytes now shared. */
size_t ckpt_share_identical(ckpt *c, const ckpt *src);

/* Asks the kernel to start reading t's bytes from the disk now (madvise MADV_WILLNEED on the
 * whole pages inside the tensor's range) and returns at once: the read-ahead of weights that are
 * used soon, e.g. the next layer's, so that a model larger than the page cache streams from the
 * disk while the current layer computes. On resident pages it is a page-cache lookup per page.
 * Never fails (the advice is only advice); NULL or an empty tensor is a no-op. Any thread. */
void ckpt_prefetch(const rlv_tensor *t);

/* Where bytes [p, p + n) of one of c's mappings lie on disk: RLV_OK with *path (owned by c) and
 * the file offset *off; RLV_ERANGE when no file of c maps them whole (e.g. bytes served from
 * another checkpoint's mapping, ckpt_share_identical). For direct reads (wstream.h). */
int ckpt_locate(const ckpt *c, const void *p, size_t n, const char **path, uint64_t *off);

/* Unmaps everything; *c becomes NULL. ckpt_free(NULL) and a NULL *c are no-ops. */
void ckpt_free(ckpt **c);

#ifdef __cplusplus
}
#endif
#endif
