/* prompt.h — prompt assembly: the conversation the official RLAIF-V code scores (docs/model.md §7),
 * tokenised as the official code tokenises it (the whole string at once), split into the prefix
 * shared by all candidates of a job and each candidate's own ids.
 * Owns: the Zephyr template, the default system text, the image-slot splice, the token limit and
 * the refusal of image tokens in user text. Does not own: the tokenizer (tok.h), scoring, images. */
#ifndef RLV_PROMPT_H
#define RLV_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tok.h"

#ifdef __cplusplus
extern "C" {
#endif

/* chat.py's system text, used when the request brings none. */
extern const char PROMPT_DEFAULT_SYSTEM[];

typedef struct prompt_req {
    const char *system;       /* NULL: PROMPT_DEFAULT_SYSTEM */
    const char *question;     /* the user prompt; one literal "<image>" marks where the image goes,
                                 otherwise the image goes before it, followed by "\n" */
    const char *const *cands; /* [n_cands] candidate responses, UTF-8 */
    int n_cands;              /* >= 1 */
    int num_query;            /* image slots: config.json num_query (256 for RLAIF-V-12B);
                                 0 = a job without an image: the question is used as it is */
    int max_tokens;           /* limit on prefix + candidate tokens (the official code cuts at 2048) */
} prompt_req;

typedef struct prompt_cand {
    const int32_t *ids; /* [n] the tokens after the shared prefix; owned by the prompt_ids */
    int n;
    int score_from;     /* ids[score_from .. n) are scored: the response and the closing </s>.
                           0 when the split holds (always with the Mistral vocabulary) */
} prompt_cand;

typedef struct prompt_ids {
    const int32_t *prefix; /* [n_prefix] BOS … the final "\n" of "\n<|assistant|>\n": identical
                              for all candidates (the decoder computes it once) */
    int n_prefix;
    int image_pos;         /* index in prefix of the first <im_patch>; num_query of them follow
                              (-1 when num_query is 0) */
    int num_query;
    int n_cands;
    const prompt_cand *cands; /* [n_cands] */
    int split_ok;          /* 1 when every candidate's whole-string tokenisation begins with the
                              tokenisation of the prefix text alone. When it does not (a merge
                              across the header's final "\n", impossible with byte-token
                              newlines), n_prefix is the longest prefix common to all candidates
                              and score_from marks each candidate's first token that differs
                              from the prefix-alone tokenisation. */
} prompt_ids;

/* Builds "<|system|>\n{system}</s>\n<|user|>\n{user}</s>\n<|assistant|>\n{candidate}</s>" for each
 * candidate (Zephyr's template, then .strip()), with user = the question with the image block
 * <im_start> + num_query x <im_patch> + <im_end> spliced in, and tokenises each whole string
 * with BOS. Returns RLV_OK and *out (free with prompt_free), or:
 * RLV_EINVAL   a prompt or candidate containing <im_start>, <im_patch> or <im_end>, a question
 *              with more than one "<image>", num_query or n_cands out of range, invalid UTF-8;
 * RLV_ETOO_LONG  prefix + a candidate over max_tokens (the message names the candidate);
 * RLV_ETOKEN   a tokenizer without the image tokens; RLV_ENOMEM. */
int prompt_build(prompt_ids **out, const tok *t, const prompt_req *req, rlv_err *err);

/* Frees p and sets *p = NULL; harmless on NULL. */
void prompt_free(prompt_ids **p);

/* The memory prompt_build_in writes into, sized at creation for up to max_cands candidates and
 * max_tokens tokens per sequence (text_bytes: the conversation text expected; larger texts grow
 * its text buffers once). One per worker: building a job's prompt then does not allocate.
 * RLV_OK, RLV_EINVAL (sizes out of range) or RLV_ENOMEM. */
typedef struct prompt_arena prompt_arena;
int prompt_arena_new(prompt_arena **out, int max_cands, int max_tokens, size_t text_bytes, rlv_err *err);
void prompt_arena_free(prompt_arena **a);
/* prompt_build into a: *out is valid until the next prompt_build_in on a (do not prompt_free it).
 * Errors as prompt_build, and RLV_EINVAL when req needs more candidates or tokens than a holds. */
int prompt_build_in(prompt_arena *a, const prompt_ids **out, const tok *t, const prompt_req *req, rlv_err *err);

/* The conversation text for one candidate, NUL-terminated, malloc'ed (caller frees); *len its
 * length. NULL when out of memory. For tests and tools. */
char *prompt_text(const char *system, const char *question, int num_query, const char *candidate, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
