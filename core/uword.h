/* uword.h — Unicode word characters as regular expressions' \w has them (UTS #18 Annex C:
 * Alphabetic, Mark, Decimal_Number, Connector_Punctuation, Join_Control), the test Hugging Face
 * tokenizers applies around single_word added tokens (its regex crate's \w).
 * Owns: one generated range table (uword_table.h, from scripts/gen_uword.pl). Knows nothing of UTF-8. */
#ifndef RLV_UWORD_H
#define RLV_UWORD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if code point cp is a word character, else 0. */
int uword_is_word(uint32_t cp);

#ifdef __cplusplus
}
#endif
#endif
