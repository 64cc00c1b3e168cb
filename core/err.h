/* err.h — errors as values: one code table, one message buffer that names the culprit.
 * Owns: rlv_errf() and RLV_ASSERT; the RLV_E* codes, rlv_err and rlv_err_name are public and so
 * live in include/rlaifv.h.
 * Every fallible core function returns RLV_OK (0) or a negative RLV_E* code and,
 * when given a non-NULL rlv_err, fills its message. Nothing in core/ exits or aborts
 * on input from a file or the network; RLV_ASSERT is for our own invariants only. */
#ifndef RLV_ERR_H
#define RLV_ERR_H

#include <stddef.h>

#include "rlaifv.h"

#ifdef __cplusplus
extern "C" {
#endif

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
