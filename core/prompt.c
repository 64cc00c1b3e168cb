/* prompt.c — the official conversation string and its ids (docs/model.md §7).
 * chat.py: expand_question_into_multimodal (replace every "<image>", else image + "\n" first),
 * Zephyr template with add_generation_prompt=False, .strip(); omni_preprocess tokenises the whole
 * string with BOS and scores everything after "\n<|assistant|>\n". Here the prefix text alone is
 * tokenised once and each whole string once; the shared prefix is checked, not assumed. */
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char PROMPT_DEFAULT_SYSTEM[] =
    "You are an artificial intelligence assistant, which gives helpful, detailed, and polite answers to the "
    "human's questions.";

static const char *const IMAGE_TOKENS[3] = {"<im_start>", "<im_patch>", "<im_end>"};

/* The conversation text into *buf (grown when *cap is short: once per larger text, so a worker's
 * arena stops allocating). Returns the text, NULL when out of memory. */
static char *build(char **buf, size_t *cap, const char *system, const char *question, int num_query, const char *cand,
                   size_t *len) {
    const char *tag = strstr(question, "<image>");
    size_t img_len = strlen("<im_start>") + (size_t)num_query * strlen("<im_patch>") + strlen("<im_end>");
    size_t n = strlen("<|system|>\n") + strlen(system) + strlen("</s>\n<|user|>\n") + img_len + 1 + strlen(question) +
               strlen("</s>\n<|assistant|>\n") + (cand ? strlen(cand) + 4 : 0) + 1;
    if (n > *cap) {
        char *nb = realloc(*buf, n);
        if (!nb) return NULL;
        *buf = nb, *cap = n;
    }
    char *s = *buf, *p = s;
#define PUT(str, l) (memcpy(p, (str), (l)), p += (l))
#define PUTS(str) PUT(str, strlen(str))
    PUTS("<|system|>\n");
    PUTS(system);
    PUTS("</s>\n<|user|>\n");
    if (num_query == 0) { /* text only: the question as it is (chat.py without an image) */
        PUTS(question);
    } else if (tag) {
        PUT(question, (size_t)(tag - question));
        PUTS("<im_start>");
        for (int i = 0; i < num_query; i++) PUTS("<im_patch>");
        PUTS("<im_end>");
        PUTS(tag + strlen("<image>"));
    } else {
        PUTS("<im_start>");
        for (int i = 0; i < num_query; i++) PUTS("<im_patch>");
        PUTS("<im_end>\n");
        PUTS(question);
    }
    PUTS("</s>\n<|assistant|>\n");
    if (cand) {
        PUTS(cand);
        PUTS("</s>"); /* the template's final "\n" is removed by .strip() */
    }
#undef PUT
#undef PUTS
    *p = 0;
    *len = (size_t)(p - s);
    return s;
}

char *prompt_text(const char *system, const char *question, int num_query, const char *candidate, size_t *len) {
    char *buf = NULL;
    size_t cap = 0;
    return build(&buf, &cap, system ? system : PROMPT_DEFAULT_SYSTEM, question, num_query, candidate ? candidate : "", len);
}

static int check_text(const char *what, int idx, const char *s, rlv_err *err) {
    for (int k = 0; k < 3; k++)
        if (strstr(s, IMAGE_TOKENS[k])) {
            if (idx >= 0)
                return rlv_errf(err, RLV_EINVAL, "%s %d contains the image token %s", what, idx, IMAGE_TOKENS[k]);
            return rlv_errf(err, RLV_EINVAL, "%s contains the image token %s", what, IMAGE_TOKENS[k]);
        }
    return RLV_OK;
}

/* Everything one prompt_build writes, sized at creation (prompt.h); pub first, so a prompt_ids
 * from prompt_build is its arena. */
struct prompt_arena {
    prompt_ids pub;
    int max_cands, max_tokens;
    int32_t *prefix;      /* [max_tokens] */
    int32_t *ids;         /* [max_cands][max_tokens]: each candidate's whole sequence, then its own part */
    int32_t *full;        /* [max_tokens] */
    int *lcp, *nfull;     /* [max_cands] */
    prompt_cand *cands;   /* [max_cands] */
    char *text;           /* the conversation text being tokenised, text_cap bytes */
    size_t text_cap;
    tok_scratch *ts;
};

int prompt_arena_new(prompt_arena **out, int max_cands, int max_tokens, size_t text_bytes, rlv_err *err) {
    *out = NULL;
    if (max_cands < 1 || max_cands > 1 << 16 || max_tokens < 1)
        return rlv_errf(err, RLV_EINVAL, "prompt: arena for %d candidates of %d tokens", max_cands, max_tokens);
    prompt_arena *a = calloc(1, sizeof *a);
    size_t mc = (size_t)max_cands, mt = (size_t)max_tokens;
    if (a) {
        a->max_cands = max_cands, a->max_tokens = max_tokens;
        a->prefix = malloc(mt * sizeof *a->prefix);
        a->ids = malloc(mc * mt * sizeof *a->ids);
        a->full = malloc(mt * sizeof *a->full);
        a->lcp = malloc(mc * sizeof *a->lcp);
        a->nfull = malloc(mc * sizeof *a->nfull);
        a->cands = malloc(mc * sizeof *a->cands);
        a->text_cap = text_bytes ? text_bytes : 1;
        a->text = malloc(a->text_cap);
    }
    if (!a || !a->prefix || !a->ids || !a->full || !a->lcp || !a->nfull || !a->cands || !a->text ||
        tok_scratch_new(&a->ts, text_bytes)) {
        prompt_arena_free(&a);
        return rlv_errf(err, RLV_ENOMEM, "prompt: arena for %d candidates of %d tokens", max_cands, max_tokens);
    }
    *out = a;
    return RLV_OK;
}

void prompt_arena_free(prompt_arena **ap) {
    if (!ap || !*ap) return;
    prompt_arena *a = *ap;
    free(a->prefix);
    free(a->ids);
    free(a->full);
    free(a->lcp);
    free(a->nfull);
    free(a->cands);
    free(a->text);
    tok_scratch_free(&a->ts);
    free(a);
    *ap = NULL;
}

void prompt_free(prompt_ids **pp) {
    if (!pp || !*pp) return;
    prompt_arena *a = (prompt_arena *)*pp;
    prompt_arena_free(&a);
    *pp = NULL;
}

int prompt_build(prompt_ids **out, const tok *t, const prompt_req *req, rlv_err *err) {
    *out = NULL;
    prompt_arena *a;
    int nc = req->n_cands >= 1 && req->n_cands <= 1 << 16 ? req->n_cands : 1; /* out of range: build_in names it */
    int rc = prompt_arena_new(&a, nc, req->max_tokens >= 1 ? req->max_tokens : 1, 0, err);
    const prompt_ids *p = NULL;
    if (!rc) rc = prompt_build_in(a, &p, t, req, err);
    if (rc) {
        prompt_arena_free(&a);
        return rc;
    }
    *out = &a->pub;
    return RLV_OK;
}

int prompt_build_in(prompt_arena *a, const prompt_ids **out, const tok *t, const prompt_req *req, rlv_err *err) {
    *out = NULL;
    const char *system = req->system ? req->system : PROMPT_DEFAULT_SYSTEM;
    if (!req->question || req->n_cands < 1 || req->n_cands > 1 << 16 || !req->cands)
        return rlv_errf(err, RLV_EINVAL, "prompt: needs a question and 1..65536 candidates (got %d)", req->n_cands);
    if (req->num_query < 0 || req->num_query > 65536)
        return rlv_errf(err, RLV_EINVAL, "prompt: num_query %d out of range", req->num_query);
    if (req->max_tokens < 1) return rlv_errf(err, RLV_EINVAL, "prompt: max_tokens %d", req->max_tokens);
    if (req->n_cands > a->max_cands || req->max_tokens > a->max_tokens)
        return rlv_errf(err, RLV_EINVAL, "prompt: %d candidates of %d tokens, the arena holds %d of %d", req->n_cands,
                        req->max_tokens, a->max_cands, a->max_tokens);
    int im[3];
    for (int k = 0; k < 3; k++)
        if ((im[k] = tok_piece_id(t, IMAGE_TOKENS[k])) < 0)
            return rlv_errf(err, RLV_ETOKEN, "tokenizer has no %s token (not an OmniLMM tokenizer)", IMAGE_TOKENS[k]);
    int rc;
    if ((rc = check_text("system text", -1, system, err)) || (rc = check_text("prompt", -1, req->question, err))) return rc;
    const char *tag = strstr(req->question, "<image>");
    if (tag && strstr(tag + 1, "<image>"))
        return rlv_errf(err, RLV_EINVAL, "prompt contains more than one <image> tag (one image per job)");
    for (int i = 0; i < req->n_cands; i++) {
        if (!req->cands[i]) return rlv_errf(err, RLV_EINVAL, "candidate %d is missing", i);
        if ((rc = check_text("candidate", i, req->cands[i], err))) return rc;
    }

    prompt_ids *pub = &a->pub;
    memset(pub, 0, sizeof *pub);
    int cap = req->max_tokens;
    size_t len;
    /* 1. the prefix text alone */
    const char *text = build(&a->text, &a->text_cap, system, req->question, req->num_query, NULL, &len);
    if (!text) return rlv_errf(err, RLV_ENOMEM, "prompt");
    int n_p;
    rc = tok_encode_s(t, a->ts, text, len, 1, a->prefix, cap, &n_p, err);
    if (rc == RLV_ELIMIT)
        return rlv_errf(err, RLV_ETOO_LONG, "prompt: %d tokens before any candidate, limit %d", n_p, req->max_tokens);
    if (rc) {
        rlv_err_prefix(err, "prompt");
        return rc;
    }
    pub->image_pos = -1;
    for (int i = 0; i + req->num_query + 1 < n_p; i++)
        if (a->prefix[i] == im[0]) {
            pub->image_pos = i + 1;
            break;
        }
    int ok = req->num_query == 0 ? pub->image_pos < 0
                                 : pub->image_pos > 0 && a->prefix[pub->image_pos + req->num_query] == im[2];
    if (req->num_query == 0) pub->image_pos = -1;
    for (int i = 0; ok && i < req->num_query; i++) ok = a->prefix[pub->image_pos + i] == im[1];
    if (!ok) return rlv_errf(err, RLV_ETOKEN, "prompt: the image block does not tokenise to its %d slots", req->num_query);
    /* 2. each whole string, as the official code tokenises it */
    int shared = n_p;
    for (int c = 0; c < req->n_cands; c++) {
        if (!(text = build(&a->text, &a->text_cap, system, req->question, req->num_query, req->cands[c], &len)))
            return rlv_errf(err, RLV_ENOMEM, "prompt");
        int n;
        int32_t *full = a->ids + (size_t)c * (size_t)a->max_tokens; /* the whole sequence for now; trimmed below */
        rc = tok_encode_s(t, a->ts, text, len, 1, full, cap, &n, err);
        if (rc == RLV_ELIMIT)
            return rlv_errf(err, RLV_ETOO_LONG, "candidate %d: %d tokens with the prompt (%d for the prompt), limit %d", c, n,
                            n_p, req->max_tokens);
        if (rc) {
            char w[32];
            snprintf(w, sizeof w, "candidate %d", c);
            rlv_err_prefix(err, w);
            return rc;
        }
        int l = 0;
        while (l < n_p && l < n && full[l] == a->prefix[l]) l++;
        a->lcp[c] = l;
        a->nfull[c] = n;
        if (l < shared) shared = l;
    }
    if (req->num_query && shared <= pub->image_pos + req->num_query) /* cannot happen: added tokens split the text */
        return rlv_errf(err, RLV_ETOKEN, "prompt: candidates change the tokens of the image block");
    pub->split_ok = shared == n_p;
    for (int c = 0; c < req->n_cands; c++) {
        int32_t *ids = a->ids + (size_t)c * (size_t)a->max_tokens;
        int n = a->nfull[c] - shared;
        memmove(ids, ids + shared, (size_t)n * sizeof *ids);
        a->cands[c] = (prompt_cand){ids, n, (a->lcp[c] == n_p ? n_p : a->lcp[c]) - shared};
    }
    pub->prefix = a->prefix;
    pub->n_prefix = shared;
    pub->num_query = req->num_query;
    pub->n_cands = req->n_cands;
    pub->cands = a->cands;
    *out = pub;
    return RLV_OK;
}
