/* ckpt_pt.h — ckpt.c's back-end for the PyTorch checkpoint reader: one torch.save zip archive (pytorch_model.bin, PyTorch >= 1.6).
 * Owns: reading the archive's directory (libzip), running its data.pkl through the strict pickle
 * reader (pickle.h) and serving every tensor zero-copy from the checkpoint's mapping of the file.
 * Does not own the mapping or the name table (ckpt.c) nor the choice of format or shards (ckpt_open).
 *
 * Archive layout: <archive>/data.pkl (the pickled state dict), <archive>/data/<key> (one raw
 * little-endian storage per key, STORED, 64-byte aligned by torch), <archive>/version, maybe
 * <archive>/byteorder. A tensor is (storage key, storage offset, size, stride): served at
 * offset inside its storage when contiguous, refused otherwise. Several tensors may view one
 * storage (their bytes then overlap, which is allowed); two different storages may not.
 * Nothing in the file is executed; everything is bounds-checked before use. */
#ifndef RLV_CKPT_PT_H
#define RLV_CKPT_PT_H

#include "ckpt.h"

/* Maps path into c and adds its tensors. Returns RLV_OK or, with err naming file and culprit:
 * RLV_ETRUNCATED (zip without its end), RLV_EFORMAT (not a consistent zip, no data.pkl,
 * missing storage entry), RLV_EPICKLE (refused or malformed pickle), RLV_EUNSUPPORTED
 * (compressed storage, non-contiguous view), RLV_ESIZE (entry size != numel x dtype),
 * RLV_ERANGE (view outside its storage), RLV_EOVERLAP (two storages share bytes), RLV_EDUP. */
int ckpt_pt_load_file(ckpt *c, const char *path, rlv_err *err);

#endif
