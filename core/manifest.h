/* manifest.h — the tensors an OmniLMM / RLAIF-V checkpoint must contain, shapes derived from config.
 * Owns: the expected-name list (model-spec.md section 2) and the check of a checkpoint against it,
 * which reports EVERY missing, mis-shaped or unexpected tensor, not just the first. */
#ifndef RLV_MANIFEST_H
#define RLV_MANIFEST_H

#include <stdint.h>

#include "ckpt.h"
#include "config.h"
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MANIFEST_NAME_MAX 96

typedef struct manifest_entry {
    char name[MANIFEST_NAME_MAX];
    int ndim;
    int64_t shape[4];
} manifest_entry;

/* The expected tensors, in state_dict order. *out is malloc-ed (caller frees with free()). */
int manifest_build(const rlv_config *cfg, manifest_entry **out, int *n, rlv_err *err);

typedef enum { MANIFEST_MISSING = 0, MANIFEST_BAD_SHAPE = 1, MANIFEST_UNEXPECTED = 2 } manifest_problem;

typedef struct manifest_report {
    int expected, missing, bad_shape, unexpected;
} manifest_report;

/* Checks c against the manifest of cfg. Calls cb (if non-NULL) once per problem with a one-line
 * message. Missing and mis-shaped tensors are errors (RLV_EMISSING / RLV_ESHAPE, err summarises);
 * unexpected ones are warnings only (RLV_OK). */
int manifest_check(const rlv_config *cfg, const ckpt *c,
                   void (*cb)(void *ctx, manifest_problem kind, const char *msg), void *ctx,
                   manifest_report *rep, rlv_err *err);

#ifdef __cplusplus
}
#endif
#endif
