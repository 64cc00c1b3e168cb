/* spm.c — a bounds-checked protobuf wire-format reader for SentencePiece's ModelProto.
 * Only length-delimited submessages, varints and fixed32 are interpreted; every other field is
 * skipped by its wire type. Groups (types 3/4) are refused: ModelProto has none. */
#include "spm.h"

#include <stdlib.h>
#include <string.h>

typedef struct pb {
    const uint8_t *p, *end, *base; /* base: start of the whole file, for offsets in errors */
} pb;

static int pb_varint(pb *r, uint64_t *out, rlv_err *err) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return rlv_errf(err, RLV_EFORMAT, "tokenizer.model: truncated varint at byte %zu", (size_t)(r->p - r->base));
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *out = v; return RLV_OK; }
    }
    return rlv_errf(err, RLV_EFORMAT, "tokenizer.model: varint longer than 10 bytes at byte %zu", (size_t)(r->p - r->base));
}

/* Reads one field key; *wt = wire type. Returns 0 at the end of the message. */
static int pb_key(pb *r, uint32_t *field, int *wt, rlv_err *err) {
    uint64_t k;
    int rc = pb_varint(r, &k, err);
    if (rc) return rc;
    if ((k >> 3) == 0 || (k >> 3) > 0x1fffffff)
        return rlv_errf(err, RLV_EFORMAT, "tokenizer.model: invalid field number at byte %zu", (size_t)(r->p - r->base));
    *field = (uint32_t)(k >> 3);
    *wt = (int)(k & 7);
    return RLV_OK;
}

/* Length-delimited payload: checks the length against what is left. */
static int pb_bytes(pb *r, pb *sub, rlv_err *err) {
    uint64_t n;
    int rc = pb_varint(r, &n, err);
    if (rc) return rc;
    if (n > (uint64_t)(r->end - r->p))
        return rlv_errf(err, RLV_EFORMAT, "tokenizer.model: field of %llu B at byte %zu runs past its message",
                        (unsigned long long)n, (size_t)(r->p - r->base));
    sub->p = r->p;
    sub->end = r->p + n;
    sub->base = r->base;
    r->p += n;
    return RLV_OK;
}

static int pb_skip(pb *r, int wt, rlv_err *err) {
    uint64_t v;
    pb sub;
    switch (wt) {
    case 0: return pb_varint(r, &v, err);
    case 1:
    case 5: {
        size_t n = wt == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n)
            return rlv_errf(err, RLV_EFORMAT, "tokenizer.model: truncated fixed field at byte %zu", (size_t)(r->p - r->base));
        r->p += n;
        return RLV_OK;
    }
    case 2: return pb_bytes(r, &sub, err);
    default:
        return rlv_errf(err, RLV_EFORMAT, "tokenizer.model: wire type %d at byte %zu is not supported",
                        wt, (size_t)(r->p - r->base));
    }
}

static int parse_piece(pb *r, spm_piece *pc, rlv_err *err) {
    pc->s = "";
    pc->len = 0;
    pc->score = 0.0f;
    pc->type = SPM_NORMAL;
    while (r->p < r->end) {
        uint32_t f;
        int wt, rc = pb_key(r, &f, &wt, err);
        if (rc) return rc;
        if (f == 1 && wt == 2) {
            pb s;
            if ((rc = pb_bytes(r, &s, err))) return rc;
            pc->s = (const char *)s.p;
            pc->len = (uint32_t)(s.end - s.p);
        } else if (f == 2 && wt == 5) {
            if (r->end - r->p < 4)
                return rlv_errf(err, RLV_EFORMAT, "tokenizer.model: truncated score at byte %zu", (size_t)(r->p - r->base));
            uint32_t u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
            memcpy(&pc->score, &u, 4);
            r->p += 4;
        } else if (f == 3 && wt == 0) {
            uint64_t v;
            if ((rc = pb_varint(r, &v, err))) return rc;
            pc->type = (int)(v & 0xff);
        } else if ((rc = pb_skip(r, wt, err))) {
            return rc;
        }
    }
    return RLV_OK;
}

static int parse_trainer(pb *r, spm_model *m, rlv_err *err) {
    while (r->p < r->end) {
        uint32_t f;
        int wt, rc = pb_key(r, &f, &wt, err);
        if (rc) return rc;
        uint64_t v;
        if ((f == 3 || f == 35) && wt == 0) {
            if ((rc = pb_varint(r, &v, err))) return rc;
            if (f == 3) m->model_type = (int)(v & 0xff);
            else m->byte_fallback = v != 0;
        } else if (f == 45 && wt == 2) {
            pb s;
            if ((rc = pb_bytes(r, &s, err))) return rc;
            m->unk_piece = (const char *)s.p;
            m->unk_piece_len = (uint32_t)(s.end - s.p);
        } else if ((rc = pb_skip(r, wt, err))) {
            return rc;
        }
    }
    return RLV_OK;
}

int spm_parse(spm_model *m, const uint8_t *buf, size_t len, rlv_err *err) {
    memset(m, 0, sizeof *m);
    m->model_type = SPM_UNIGRAM;
    m->unk_piece = "<unk>";
    m->unk_piece_len = 5;
    /* Count pieces first (one cheap pass) so the array is allocated once. */
    pb r = {buf, buf + len, buf};
    size_t n = 0;
    while (r.p < r.end) {
        uint32_t f;
        int wt, rc = pb_key(&r, &f, &wt, err);
        if (rc) return rc;
        if (f == 1 && wt == 2) n++;
        if ((rc = pb_skip(&r, wt, err))) return rc;
    }
    if (n > (1u << 24))
        return rlv_errf(err, RLV_EFORMAT, "tokenizer.model: %zu pieces (limit 16M)", n);
    m->pieces = calloc(n ? n : 1, sizeof *m->pieces);
    if (!m->pieces) return rlv_errf(err, RLV_ENOMEM, "tokenizer.model: %zu pieces", n);
    r.p = buf;
    while (r.p < r.end) {
        uint32_t f;
        int wt, rc = pb_key(&r, &f, &wt, err);
        if (rc) goto fail;
        if ((f == 1 || f == 2) && wt == 2) {
            pb sub;
            if ((rc = pb_bytes(&r, &sub, err))) goto fail;
            rc = f == 1 ? parse_piece(&sub, &m->pieces[m->n_pieces++], err) : parse_trainer(&sub, m, err);
        } else {
            rc = pb_skip(&r, wt, err);
        }
        if (rc) {
        fail:
            spm_free(m);
            return rc;
        }
    }
    return RLV_OK;
}

void spm_free(spm_model *m) {
    if (!m) return;
    free(m->pieces);
    m->pieces = NULL;
    m->n_pieces = 0;
}
