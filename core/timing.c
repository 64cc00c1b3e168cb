/* timing.c — stage names of timing.h. */
#include "timing.h"

static const char *const names[RLV_STAGE_N] = {
    "matmul", "lm_head matmul", "attention mm", "softmax", "norm", "rope", "activation", "add/copy", "embed gather", "im2col", "log-softmax",
    "prefetch", "stream wait",
};

const char *timing_stage_name(int stage) { return stage >= 0 && stage < RLV_STAGE_N ? names[stage] : "?"; }
