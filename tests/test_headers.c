/* test_headers.c — every public header compiles alone as C11 -pedantic (each include below is
 * the first of its kind in this file only once; test_headers_cxx.cpp includes them as C++). */
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

int headers_cxx_ok(void);

int main(void) { return headers_cxx_ok() == 1 ? 0 : 1; }
