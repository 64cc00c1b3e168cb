/* err.h — errors as values: one code table, one message buffer that names the culprit.
 * Owns: the RLV_E* codes, their stable names (rlv_err_name) and rlv_errf().
 * Every fallible core function returns RLV_OK (0) or a negative RLV_E* code and,
 * when given a non-NULL rlv_err, fills its message. Nothing in core/ exits or aborts
 * on input from a file or the network; RLV_ASSERT is for our own invariants only. */
#ifndef RLV_ERR_H
#define RLV_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro: code, value, stable name. Names never change once released. */
#define RLV_ERR_TABLE(X)                                                         \
    X(RLV_OK,              0,  "ok")                                             \
    X(RLV_EIO,            -1,  "io")             /* open/read/mmap failed */     \
    X(RLV_ENOMEM,         -2,  "nomem")                                          \
    X(RLV_EINVAL,         -3,  "invalid_argument")                               \
    X(RLV_ETRUNCATED,     -4,  "truncated")      /* file shorter than its header says */ \
    X(RLV_EHEADER_LEN,    -5,  "header_length")  /* header length beyond the file */ \
    X(RLV_EHEADER_JSON,   -6,  "header_json")    /* header is not the JSON we need */ \
    X(RLV_EDTYPE,         -7,  "dtype")          /* unknown or unsupported dtype */ \
    X(RLV_ESIZE,          -8,  "size_mismatch")  /* shape x element size != byte range */ \
    X(RLV_EOVERLAP,       -9,  "overlap")        /* two tensors share bytes */  \
    X(RLV_ERANGE,        -10,  "out_of_range")   /* byte range outside the data */ \
    X(RLV_ESHARD,        -11,  "shard_missing")  /* index names a shard that is not there */ \
    X(RLV_EMISSING,      -12,  "tensor_missing") /* manifest tensor absent */   \
    X(RLV_ESHAPE,        -13,  "tensor_shape")   /* manifest tensor has another shape */ \
    X(RLV_ECONFIG,       -14,  "config")         /* config.json field missing or ill-typed */ \
    X(RLV_EDUP,          -15,  "duplicate")      /* a tensor name seen twice */ \
    X(RLV_EFORMAT,       -16,  "format")         /* other malformed file content */ \
    X(RLV_EUNSUPPORTED,  -17,  "unsupported")    /* valid but not supported here */ \
    X(RLV_ELIMIT,        -18,  "limit")          /* a configured limit was exceeded */ \
    X(RLV_EIMAGE,        -19,  "bad_image")      /* image bytes cannot be decoded */ \
    X(RLV_ETOO_LONG,     -20,  "too_long")       /* token limit exceeded */     \
    X(RLV_ETOKEN,        -21,  "tokenizer")      /* tokenizer file problem */   \
    X(RLV_EPICKLE,       -22,  "pickle")         /* refused or malformed pickle */ \
    X(RLV_EQ8,           -23,  "q8")             /* a q8 weight without a valid _scale companion */ \
    X(RLV_ETIMEOUT,      -24,  "timeout")        /* a job's time limit passed (max_job_ms) */

enum {
#define RLV_ERR_ENUM(code, val, name) code = val,
    RLV_ERR_TABLE(RLV_ERR_ENUM)
#undef RLV_ERR_ENUM
};

#define RLV_ERR_MSG_MAX 512

typedef struct rlv_err {
    int code;                   /* last RLV_E* code set */
    char msg[RLV_ERR_MSG_MAX];  /* human-readable, names file/tensor/field */
} rlv_err;

/* Stable short name of a code ("truncated", "dtype", ...); "unknown" otherwise. */
const char *rlv_err_name(int code);

/* Sets err (if non-NULL) to code + formatted message and returns code,
 * so callers write `return rlv_errf(err, RLV_EDTYPE, "...", ...);`. */
int rlv_errf(rlv_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prepends "prefix: " to an error message already set (e.g. a file name). */
void rlv_err_prefix(rlv_err *err, const char *prefix);

/* Aborts with file:line. Only for the program's own invariants, never for input. */
void rlv_assert_fail(const char *expr, const char *file, int line);
#define RLV_ASSERT(x) ((x) ? (void)0 : rlv_assert_fail(#x, __FILE__, __LINE__))

#ifdef __cplusplus
}
#endif
#endif
