/* tok.h — tokenizer: encodes UTF-8 text to ids exactly as Hugging Face `tokenizers` does for the
 * Llama/Mistral family (SentencePiece-BPE vocabularies with byte fallback), and decodes ids.
 * Loads either a tokenizer.json, or a tokenizer.model (SentencePiece ModelProto) + its
 * tokenizer_config.json / special_tokens_map.json converted as transformers 4.35's LlamaConverter
 * does (docs/model.md §7.2). Owns: vocab, merge ranks, added tokens, normaliser/pre-tokeniser/decoder
 * settings. Read-only after tok_load(): one tok may be shared by any number of threads.
 * Knows nothing of images, prompts (prompt.h) or the wire. */
#ifndef RLV_TOK_H
#define RLV_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tok tok;

/* Loads a tokenizer from PATH: a tokenizer.json file, a tokenizer.model file (its directory's
 * tokenizer_config.json and special_tokens_map.json are read when present), or a checkpoint
 * directory (tokenizer.json wins over tokenizer.model when both are there).
 * A feature these files may carry but this module does not implement (another model type, a
 * regex normaliser, ...) is a load error naming it (RLV_EUNSUPPORTED):
 * never a silent difference. Returns RLV_OK and *out (free with tok_free), or RLV_EIO,
 * RLV_ETOKEN (malformed content), RLV_EFORMAT (bad protobuf), RLV_EUNSUPPORTED, RLV_ENOMEM. */
int tok_load(tok **out, const char *path, rlv_err *err);

/* Frees t and sets *t = NULL; tok_free(NULL) and tok_free(&null) are harmless. */
void tok_free(tok **t);

/* Encodes len bytes of UTF-8 text (added tokens are cut out first, as the library does).
 * add_special: add the template's special tokens (BOS for Llama/Mistral; what
 * `add_special_tokens=True` adds). Writes at most cap ids to ids (may be NULL when cap == 0) and
 * sets *n_out to the full count, also when it exceeds cap.
 * Returns RLV_OK; RLV_ELIMIT when the ids did not fit in cap (*n_out says how many are needed);
 * RLV_EINVAL when text is not valid UTF-8. Thread-safe; allocates a scratch buffer per call
 * (sized from len), never per token. */
int tok_encode(const tok *t, const char *text, size_t len, int add_special, int32_t *ids, int cap,
               int *n_out, rlv_err *err);

/* Buffers tok_encode_s works in, kept by one thread between calls (a worker has one): sized for
 * text_bytes at creation, they grow only for a longer text, so encoding with them does not
 * allocate. tok_scratch_new returns RLV_OK or RLV_ENOMEM; free with tok_scratch_free. */
typedef struct tok_scratch tok_scratch;
int tok_scratch_new(tok_scratch **out, size_t text_bytes);
void tok_scratch_free(tok_scratch **s);
/* tok_encode in s's buffers (tok_encode itself uses temporary ones). */
int tok_encode_s(const tok *t, tok_scratch *s, const char *text, size_t len, int add_special, int32_t *ids, int cap,
                 int *n_out, rlv_err *err);

/* Decodes ids as the library's decode(ids, skip_special) does (its decoder chain, e.g. "▁"→" ",
 * byte fallback with one U+FFFD per byte of an invalid run, one leading space stripped).
 * Ids outside the vocabulary are skipped, as the library skips them. Writes at most cap-1 bytes
 * plus a NUL to out (out may be NULL when cap == 0); *len_out = the full length in bytes.
 * Returns RLV_OK, RLV_ELIMIT when the text did not fit, RLV_ENOMEM. Thread-safe. */
int tok_decode(const tok *t, const int32_t *ids, int n, int skip_special, char *out, size_t cap,
               size_t *len_out, rlv_err *err);

/* Id of a token given its text (added tokens first, then the model vocabulary); -1 if absent. */
int tok_piece_id(const tok *t, const char *piece);

/* Text of token id (NUL-terminated, owned by t, valid until tok_free); NULL if no such id. */
const char *tok_piece(const tok *t, int id);

/* One more than the largest id, added tokens included (32009 for RLAIF-V-12B). */
int tok_vocab_size(const tok *t);

/* Whether id is an added token flagged special (skipped by decode with skip_special). */
int tok_is_special(const tok *t, int id);

/* The BPE merges by rank (rank 0 merges first): number, and the ids of the pair at a rank.
 * Returns RLV_OK or RLV_EINVAL for a rank out of range. For checking a conversion. */
int tok_n_merges(const tok *t);
int tok_merge(const tok *t, int rank, int *left, int *right);

/* Source kind: "tokenizer.json" or "tokenizer.model". */
const char *tok_source(const tok *t);

#ifdef __cplusplus
}
#endif
#endif
