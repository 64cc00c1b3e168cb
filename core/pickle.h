/* pickle.h — a strict, non-executing reader for the data.pkl of a torch.save archive.
 * Owns: a small pickle VM that understands exactly what a state dict of tensors needs
 * (dicts, tuples, ints, strings, the memo, persistent ids naming storages) and the
 * globals collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
 * torch.{BFloat16,Half,Float}Storage. Every other opcode or global is refused with
 * RLV_EPICKLE naming it; nothing is ever imported, called or executed. Stack, marks,
 * memo, string lengths and allocations are bounded. Knows nothing of zip files or
 * of where the storage bytes live (see ckpt_pt.c). */
#ifndef RLV_PICKLE_H
#define RLV_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits on what a data.pkl may ask for (the real 1130-tensor state dict needs far less). */
#define PICKLE_MAX_STACK  65536       /* values on the stack */
#define PICKLE_MAX_MARKS  64          /* nested MARKs */
#define PICKLE_MAX_MEMO   (1 << 20)   /* memo indices */
#define PICKLE_MAX_STR    65536       /* bytes in one string (a tensor name, a storage key) */
#define PICKLE_MAX_BYTES  (256u << 20) /* bytes the VM may allocate for one pickle */

/* One storage record, from a persistent id ('storage', torch.XStorage, key, location, numel). */
typedef struct pickle_storage {
    char *key;      /* zip entry <archive>/data/<key>; owned by the state dict */
    rlv_dtype dtype;
    int64_t numel;  /* elements of dtype in the storage */
} pickle_storage;

/* One tensor of the state dict: a strided view into a storage (elements, not bytes). */
typedef struct pickle_tensor {
    char *name;     /* the state-dict key, NUL-free; owned by the state dict */
    int storage;    /* index into pickle_state_dict.storages */
    int64_t offset; /* storage offset, elements */
    int ndim;
    int64_t shape[RLV_MAX_DIMS];
    int64_t stride[RLV_MAX_DIMS];
} pickle_tensor;

typedef struct pickle_state_dict {
    pickle_storage *storages; /* distinct storage keys, in order of first use */
    int n_storages;
    pickle_tensor *tensors;   /* in the dict's order */
    int n_tensors;
} pickle_state_dict;

/* Runs buf[0..len) (a whole data.pkl) and returns the {name: tensor} dict it builds.
 * The top-level object must be a dict or OrderedDict whose keys are strings and whose
 * values are all tensors (an OrderedDict's BUILD state, e.g. state_dict()'s _metadata,
 * is read and dropped). A storage key used twice must name the same class and numel.
 * Returns RLV_OK and fills *out (free with pickle_state_dict_free), or RLV_EPICKLE /
 * RLV_ENOMEM with err naming the opcode, global or byte position; *out is then empty. */
int pickle_read_state_dict(const uint8_t *buf, size_t len, pickle_state_dict *out, rlv_err *err);

/* Frees what pickle_read_state_dict filled; leaves *sd empty. NULL is a no-op. */
void pickle_state_dict_free(pickle_state_dict *sd);

#ifdef __cplusplus
}
#endif
#endif
