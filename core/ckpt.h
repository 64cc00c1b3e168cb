/* ckpt.h — a model checkpoint directory as users download it from the Hugging Face hub.
 * Owns: the set of mmap-ed files and the name -> rlv_tensor table (constant-time lookup).
 * Picks the format by what the directory holds: model.safetensors.index.json, then
 * *.safetensors, then pytorch_model.bin.index.json / pytorch_model.bin (see pt.h).
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
/* The directory holding the files (owned by c). */
const char *ckpt_dir(const ckpt *c);

/* For every tensor of c whose name, dtype, shape and bytes equal a tensor of src, serve it from
 * src's bytes instead (and tell the kernel c's copy is not needed), so identical weights of a
 * policy and its reference are read from one mapping. src must outlive c. Call before sharing c
 * between threads. Returns the bytes now shared. */
size_t ckpt_share_identical(ckpt *c, const ckpt *src);

/* Unmaps everything; *c becomes NULL. ckpt_free(NULL) and a NULL *c are no-ops. */
void ckpt_free(ckpt **c);

#ifdef __cplusplus
}
#endif
#endif
