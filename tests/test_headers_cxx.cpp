// test_headers_cxx.cpp — the public headers compile as C++ and their extern "C" guards link.
#include "err.h"
#include "tensor.h"
#include "half.h"
#include "q8.h"
#include "ckpt.h"
#include "model_config.h"
#include "manifest.h"
#include "cpu.h"
#include "pool.h"
#include "timing.h"
#include "mm.h"
#include "image.h"
#include "vit.h"
#include "resampler.h"
#include "imcache.h"
#include "llm.h"

extern "C" int headers_cxx_ok(void) {
    rlv_err e = {};
    return rlv_errf(&e, RLV_EIO, "x") == RLV_EIO && rlv_dtype_size(RLV_BF16) == 2 ? 1 : 0;
}
