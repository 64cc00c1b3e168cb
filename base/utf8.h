/* utf8.h — strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF: what a
 * Rust &str, and so HF tokenizers, holds), shared by the tokenizer (core/tok.c) and the wire
 * (proto/: prompts, candidates, outgoing strings). Owns nothing. Knows nothing of models or the wire. */
#ifndef RLV_UTF8_H
#define RLV_UTF8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The length of the longest valid prefix of s[0..len): len when all of it is valid UTF-8,
 * otherwise the offset of the first byte of the first invalid or truncated sequence. */
size_t utf8_check(const uint8_t *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
