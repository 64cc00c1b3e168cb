/* ckpt_impl.h — internal: how a file-format reader (ckpt_st.c, ckpt_pt.c) fills a checkpoint.
 * A reader maps its file with ckpt_map_file(), then adds each tensor with ckpt_add_tensor(),
 * which checks the name is new and the byte range lies inside the mapping. The range
 * overlap check runs once per file in ckpt_check_overlaps(). */
#ifndef RLV_CKPT_IMPL_H
#define RLV_CKPT_IMPL_H

#include "ckpt.h"

#include <stddef.h>
#include <stdint.h>

/* Maps path read-only (and keeps it until ckpt_free). Returns the file index (>= 0) or an RLV_E*. */
int ckpt_map_file(ckpt *c, const char *path, const uint8_t **base, size_t *len, rlv_err *err);

/* Adds a tensor whose bytes are data[0..nbytes) inside file `file`. The name is copied.
 * Checks: name unique (RLV_EDUP), ndim <= RLV_MAX_DIMS, numel * dtype size == nbytes
 * (RLV_ESIZE, without overflow), data range inside the file's mapping (RLV_ERANGE). */
int ckpt_add_tensor(ckpt *c, int file, const char *name, rlv_dtype dt, int ndim,
                    const int64_t *shape, const void *data, size_t nbytes, rlv_err *err);

/* Records the q8 block size a file's __metadata__ declares ("rlaifv.q8_block"; 0 = none). */
void ckpt_set_q8_block(ckpt *c, int file, int block);

/* Records a file's panel layout and the comma-separated names of its tensors stored in it
 * (__metadata__ "rlaifv.panels" / "rlaifv.panel_tensors"); checked once every file is loaded
 * (ckpt.c note 6). RLV_OK or RLV_ENOMEM. */
int ckpt_set_panels(ckpt *c, int file, const char *layout, const char *names, rlv_err *err);

/* Fails with RLV_EOVERLAP if two tensors of one file share bytes. */
int ckpt_check_overlaps(ckpt *c, int file, rlv_err *err);

/* Readers, dispatched by ckpt_open. */
int ckpt_st_load_file(ckpt *c, const char *path, rlv_err *err);   /* ckpt_st.c: one .safetensors */
int ckpt_pt_load_file(ckpt *c, const char *path, rlv_err *err);   /* ckpt_pt.c: one torch.save zip */

#endif
