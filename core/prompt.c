/* prompt.c — the official conversation string and its ids (model-spec §4).
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

static char *build(const char *system, const char *question, int num_query, const char *cand, size_t *len) {
    const char *tag = strstr(question, "<image>");
    size_t img_len = strlen("<im_start>") + (size_t)num_query * strlen("<im_patch>") + strlen("<im_end>");
    size_t n = strlen("<|system|>\n") + strlen(system) + strlen("</s>\n<|user|>\n") + img_len + 1 + strlen(question) +
               strlen("</s>\n<|assistant|>\n") + (cand ? strlen(cand) + 4 : 0) + 1;
    char *s = malloc(n), *p = s;
    if (!s) return NULL;
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
    return build(system ? system : PROMPT_DEFAULT_SYSTEM, question, num_query, candidate ? candidate : "", len);
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

typedef struct prompt_mem {
    prompt_ids pub;
    int32_t *prefix;
    prompt_cand *cands;
    int32_t **cand_ids;
} prompt_mem;

void prompt_free(prompt_ids **pp) {
    if (!pp || !*pp) return;
    prompt_mem *m = (prompt_mem *)*pp;
    for (int i = 0; m->cand_ids && i < m->pub.n_cands; i++) free(m->cand_ids[i]);
    free(m->cand_ids);
    free(m->cands);
    free(m->prefix);
    free(m);
    *pp = NULL;
}

int prompt_build(prompt_ids **out, const tok *t, const prompt_req *req, rlv_err *err) {
    *out = NULL;
    const char *system = req->system ? req->system : PROMPT_DEFAULT_SYSTEM;
    if (!req->question || req->n_cands < 1 || req->n_cands > 1 << 16 || !req->cands)
        return rlv_errf(err, RLV_EINVAL, "prompt: needs a question and 1..65536 candidates (got %d)", req->n_cands);
    if (req->num_query < 0 || req->num_query > 65536)
        return rlv_errf(err, RLV_EINVAL, "prompt: num_query %d out of range", req->num_query);
    if (req->max_tokens < 1) return rlv_errf(err, RLV_EINVAL, "prompt: max_tokens %d", req->max_tokens);
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

    prompt_mem *m = calloc(1, sizeof *m);
    int cap = req->max_tokens;
    int32_t *full = malloc((size_t)cap * sizeof *full);
    int *lcp = calloc((size_t)req->n_cands, sizeof *lcp), *nfull = calloc((size_t)req->n_cands, sizeof *nfull);
    char *text = NULL;
    size_t len;
    if (m) {
        m->prefix = malloc((size_t)cap * sizeof *m->prefix);
        m->cands = calloc((size_t)req->n_cands, sizeof *m->cands);
        m->cand_ids = calloc((size_t)req->n_cands, sizeof *m->cand_ids);
        m->pub.n_cands = req->n_cands;
    }
    if (!m || !full || !lcp || !nfull || !m->prefix || !m->cands || !m->cand_ids) {
        rc = rlv_errf(err, RLV_ENOMEM, "prompt: %d candidates, %d tokens", req->n_cands, cap);
        goto fail;
    }
    /* 1. the prefix text alone */
    if (!(text = build(system, req->question, req->num_query, NULL, &len))) { rc = rlv_errf(err, RLV_ENOMEM, "prompt"); goto fail; }
    int n_p;
    rc = tok_encode(t, text, len, 1, m->prefix, cap, &n_p, err);
    free(text);
    text = NULL;
    if (rc == RLV_ELIMIT) {
        rc = rlv_errf(err, RLV_ETOO_LONG, "prompt: %d tokens before any candidate, limit %d", n_p, req->max_tokens);
        goto fail;
    }
    if (rc) { rlv_err_prefix(err, "prompt"); goto fail; }
    m->pub.image_pos = -1;
    for (int i = 0; i + req->num_query + 1 < n_p; i++)
        if (m->prefix[i] == im[0]) {
            m->pub.image_pos = i + 1;
            break;
        }
    int ok = req->num_query == 0 ? m->pub.image_pos < 0
                                 : m->pub.image_pos > 0 && m->prefix[m->pub.image_pos + req->num_query] == im[2];
    if (req->num_query == 0) m->pub.image_pos = -1;
    for (int i = 0; ok && i < req->num_query; i++) ok = m->prefix[m->pub.image_pos + i] == im[1];
    if (!ok) { rc = rlv_errf(err, RLV_ETOKEN, "prompt: the image block does not tokenise to its %d slots", req->num_query); goto fail; }
    /* 2. each whole string, as the official code tokenises it */
    int shared = n_p;
    for (int c = 0; c < req->n_cands; c++) {
        if (!(text = build(system, req->question, req->num_query, req->cands[c], &len))) { rc = rlv_errf(err, RLV_ENOMEM, "prompt"); goto fail; }
        int n;
        rc = tok_encode(t, text, len, 1, full, cap, &n, err);
        free(text);
        text = NULL;
        if (rc == RLV_ELIMIT) {
            rc = rlv_errf(err, RLV_ETOO_LONG, "candidate %d: %d tokens with the prompt (%d for the prompt), limit %d", c, n,
                          n_p, req->max_tokens);
            goto fail;
        }
        if (rc) {
            char w[32];
            snprintf(w, sizeof w, "candidate %d", c);
            rlv_err_prefix(err, w);
            goto fail;
        }
        int l = 0;
        while (l < n_p && l < n && full[l] == m->prefix[l]) l++;
        lcp[c] = l;
        nfull[c] = n;
        if (l < shared) shared = l;
        /* keep the whole sequence for now; trimmed to the shared prefix below */
        if (!(m->cand_ids[c] = malloc((size_t)(n ? n : 1) * sizeof *full))) { rc = rlv_errf(err, RLV_ENOMEM, "prompt"); goto fail; }
        memcpy(m->cand_ids[c], full, (size_t)n * sizeof *full);
    }
    if (req->num_query && shared <= m->pub.image_pos + req->num_query) { /* cannot happen: added tokens split the text */
        rc = rlv_errf(err, RLV_ETOKEN, "prompt: candidates change the tokens of the image block");
        goto fail;
    }
    m->pub.split_ok = shared == n_p;
    for (int c = 0; c < req->n_cands; c++) {
        int n = nfull[c] - shared;
        memmove(m->cand_ids[c], m->cand_ids[c] + shared, (size_t)n * sizeof *full);
        m->cands[c] = (prompt_cand){m->cand_ids[c], n, (lcp[c] == n_p ? n_p : lcp[c]) - shared};
    }
    m->pub.prefix = m->prefix;
    m->pub.n_prefix = shared;
    m->pub.num_query = req->num_query;
    m->pub.cands = m->cands;
    free(full);
    free(lcp);
    free(nfull);
    *out = &m->pub;
    return RLV_OK;
fail:
    free(full);
    free(lcp);
    free(nfull);
    prompt_ids *p = m ? &m->pub : NULL;
    prompt_free(&p);
    return rc;
}
