/* jnum.h — JSON numbers of any size from the model's files (config.json, tokenizer.json,
 * tokenizer_config.json, safetensors headers, index files), read with a range check.
 * Owns: the decode flags every loader passes to jansson, and the one integer reader. Real files
 * carry integers past 64 bits (transformers writes model_max_length = 1e30 as an integer);
 * jansson refuses those unless told to decode every number as a double, so every number we use
 * is read back through jnum_int: integral, finite, inside [lo, hi]. Knows nothing of the files. */
#ifndef RLV_JNUM_H
#define RLV_JNUM_H

#include <jansson.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Flags to OR into every json_load*: numbers of any size load (as doubles), so a huge value in
 * a key we ignore cannot fail the file. */
#define JNUM_DECODE JSON_DECODE_INT_AS_REAL

/* The largest bound jnum_int accepts: every integer up to 2^53 is exact in a double. */
#define JNUM_EXACT_MAX ((int64_t)1 << 53)

enum { JNUM_OK = 0, JNUM_ENOTINT = -1, JNUM_ERANGE = -2 };

/* Reads v as an integer in [lo, hi] (|lo|, |hi| <= JNUM_EXACT_MAX). Returns JNUM_OK and *out;
 * JNUM_ENOTINT when v is absent, not a number, or not integral; JNUM_ERANGE when v is an
 * integer outside [lo, hi] (1e30 included). *out is untouched on error. */
int jnum_int(const json_t *v, int64_t lo, int64_t hi, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif
