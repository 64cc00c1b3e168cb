/* tensor.c — dtype sizes and names, shape helpers (see tensor.h). */
#include "tensor.h"

#include <stdio.h>

size_t rlv_dtype_size(rlv_dtype t) { return t == RLV_F32 ? 4 : t == RLV_I8 ? 1 : 2; }

const char *rlv_dtype_name(rlv_dtype t) {
    switch (t) {
    case RLV_F32: return "F32";
    case RLV_F16: return "F16";
    case RLV_BF16: return "BF16";
    case RLV_I8: return "I8";
    }
    return "?";
}

int64_t rlv_tensor_numel(const rlv_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

void rlv_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t o = 0;
    if (cap == 0) return;
    buf[0] = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}
