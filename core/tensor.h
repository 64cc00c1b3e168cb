/* tensor.h — a read-only view of one checkpoint tensor, whatever file it came from.
 * Owns: the rlv_dtype enum and rlv_tensor struct. The bytes belong to the checkpoint
 * (mmap-ed, read-only) and stay valid until ckpt_free(). Knows nothing of file formats. */
#ifndef RLV_TENSOR_H
#define RLV_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RLV_I8: the int8 values of a q8 weight; its scales are a companion tensor (ckpt_q8, q8.h). */
typedef enum { RLV_F32 = 0, RLV_F16 = 1, RLV_BF16 = 2, RLV_I8 = 3 } rlv_dtype;
#define RLV_N_DTYPES 4

#define RLV_MAX_DIMS 8

typedef struct rlv_tensor {
    const char *name;             /* owned by the checkpoint */
    rlv_dtype dtype;
    int ndim;
    int64_t shape[RLV_MAX_DIMS];  /* row-major, contiguous */
    const void *data;             /* nbytes, read-only, owned by the checkpoint */
    size_t nbytes;                /* = numel * rlv_dtype_size(dtype), checked at load */
    int shard;                    /* index of the file it came from (for messages) */
} rlv_tensor;

/* Bytes per element: 4, 2, 2, 1. */
size_t rlv_dtype_size(rlv_dtype t);
/* "F32", "F16", "BF16", "I8" (the safetensors spelling). */
const char *rlv_dtype_name(rlv_dtype t);
/* Product of the shape (1 for a scalar). */
int64_t rlv_tensor_numel(const rlv_tensor *t);
/* Writes "[a, b, c]" into buf. */
void rlv_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
