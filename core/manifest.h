/* manifest.h — the tensors an OmniLMM / RLAIF-V checkpoint must contain, shapes derived from config.
 * Owns: the expected-name list (docs/model.md §2) and the check of a checkpoint against it,
 * which reports EVERY missing, mis-shaped or unexpected tensor, not just the first. */
#ifndef RLV_MANIFEST_H
#define RLV_MANIFEST_H

#include <stdint.h>

#include "ckpt.h"
#include "model_config.h"
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MANIFEST_NAME_MAX 96

typedef struct manifest_entry {
    char name[MANIFEST_NAME_MAX];
    int ndim;
    int64_t shape[4];
    int q8; /* 1: may be stored as q8 (I8 + "<name>_scale", docs/quantization.md) */
} manifest_entry;

/* The expected tensors, in state_dict order. *out is malloc-ed (caller frees with free()). */
int manifest_build(const rlv_model_config *cfg, manifest_entry **out, int *n, rlv_err *err);

typedef enum {
    MANIFEST_MISSING = 0,
    MANIFEST_BAD_SHAPE = 1,
    MANIFEST_UNEXPECTED = 2,
    MANIFEST_BAD_DTYPE = 3, /* I8 where the format keeps the original dtype (a norm, a bias...) */
    MANIFEST_BAD_Q8 = 4,    /* a q8 weight whose scale is missing or invalid, or a stray "_scale" */
} manifest_problem;

typedef struct manifest_report {
    int expected, missing, bad_shape, unexpected;
    int bad_dtype, bad_q8;
    int q8; /* expected tensors present as valid q8 weights */
} manifest_report;

/* Checks c against the manifest of cfg. Calls cb (if non-NULL) once per problem with a one-line
 * message. Each listed tensor may be F32/F16/BF16, or (entries with q8 set) I8 with a valid
 * companion (ckpt_q8). Missing, mis-shaped, wrongly-I8 and bad q8 tensors and stray "_scale"
 * tensors are errors (RLV_EMISSING / RLV_ESHAPE / RLV_EDTYPE / RLV_EQ8, err summarises);
 * unexpected ones are warnings only (RLV_OK). */
int manifest_check(const rlv_model_config *cfg, const ckpt *c,
                   void (*cb)(void *ctx, manifest_problem kind, const char *msg), void *ctx,
                   manifest_report *rep, rlv_err *err);

#ifdef __cplusplus
}
#endif
#endif
