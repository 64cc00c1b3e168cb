/* spm.h — SentencePiece ModelProto reader: the pieces, scores and types of a tokenizer.model.
 * Owns: a small bounds-checked reader of the protobuf wire format, for exactly the fields the
 * Llama conversion needs (pieces, trainer_spec.model_type, byte_fallback, unk_piece).
 * Does not own: turning pieces into a tokenizer (tok_spm.c) or normalisation rules (ignored, as
 * transformers' LlamaConverter ignores them). Untrusted bytes never abort: errors are values. */
#ifndef RLV_SPM_H
#define RLV_SPM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* sentencepiece_model.proto enums. */
enum { SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER_DEFINED = 4, SPM_UNUSED = 5, SPM_BYTE = 6 };
enum { SPM_UNIGRAM = 1, SPM_BPE = 2, SPM_WORD = 3, SPM_CHAR = 4 };

typedef struct spm_piece {
    const char *s;   /* points into the caller's buffer; NOT NUL-terminated */
    uint32_t len;    /* bytes */
    float score;     /* 0 when absent */
    int type;        /* SPM_* (NORMAL when absent) */
} spm_piece;

typedef struct spm_model {
    spm_piece *pieces;     /* [n_pieces], owned; strings borrowed from the parsed buffer */
    int n_pieces;
    int model_type;        /* trainer_spec.model_type, default SPM_UNIGRAM as in the .proto */
    int byte_fallback;     /* trainer_spec.byte_fallback */
    const char *unk_piece; /* trainer_spec.unk_piece, borrowed; "<unk>" when absent */
    uint32_t unk_piece_len;
} spm_model;

/* Parses a serialized ModelProto. The model borrows from buf: keep buf alive while it is used.
 * Returns RLV_OK, RLV_EFORMAT (malformed wire data, naming the byte offset), RLV_ENOMEM. */
int spm_parse(spm_model *m, const uint8_t *buf, size_t len, rlv_err *err);

/* Frees m->pieces; harmless on a zeroed or already freed model. */
void spm_free(spm_model *m);

#ifdef __cplusplus
}
#endif
#endif
