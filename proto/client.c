/* client.c — the client's half of the protocol: encoding requests, checking replies.
 * Requests are packed with msgpack-c. A reply is checked with the bounded pull reader before
 * anyone unpacks it: a well-formed value whose every declared length fits in the frame cannot
 * make msgpack-c's unpacker allocate more than a small multiple of the frame's size. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "rlaifv_proto.h"
#include "proto_impl.h"

int rlv_proto_check_msgpack(const void *data, size_t len) {
    proto_reader r;
    proto_reader_init(&r, data, len);
    if (proto_reader_skip(&r, RLV_PROTO_MAX_DEPTH) != MP_OK) return -1;
    return r.p == r.end ? 0 : -1;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n) {
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_key(msgpack_packer *pk, const char *k) { pack_str(pk, k, strlen(k)); }

uint8_t *rlv_proto_encode_request(const rlv_proto_client_request *q, size_t *len) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int score = q->op == RLV_PROTO_OP_SCORE;
    size_t n = 3 + (score ? 3 : 0) + (score && q->reward ? 1 : 0) + (score && q->beta > 0 ? 1 : 0) +
               (score && q->token_logps ? 1 : 0) + (score && q->deadline_ms >= 0 ? 1 : 0);
    msgpack_pack_map(&pk, n);
    pack_key(&pk, "v");
    msgpack_pack_int(&pk, RLV_PROTO_VERSION);
    pack_key(&pk, "id");
    msgpack_pack_uint64(&pk, q->id);
    pack_key(&pk, "op");
    pack_key(&pk, rlv_proto_op_name(q->op));
    if (score) {
        pack_key(&pk, "image");
        if (q->image) {
            msgpack_pack_bin(&pk, q->image_len);
            msgpack_pack_bin_body(&pk, q->image, q->image_len);
        } else {
            msgpack_pack_nil(&pk); /* score the text alone */
        }
        pack_key(&pk, "prompt");
        pack_str(&pk, q->prompt, q->prompt_len);
        pack_key(&pk, "candidates");
        msgpack_pack_array(&pk, q->n_candidates);
        for (size_t i = 0; i < q->n_candidates; i++) pack_str(&pk, q->candidates[i], q->candidate_lens[i]);
        if (q->reward) { pack_key(&pk, "reward"); pack_key(&pk, q->reward); }
        if (q->beta > 0) { pack_key(&pk, "beta"); msgpack_pack_double(&pk, q->beta); }
        if (q->token_logps) { pack_key(&pk, "token_logps"); msgpack_pack_true(&pk); }
        if (q->deadline_ms >= 0) { pack_key(&pk, "deadline_ms"); msgpack_pack_int64(&pk, q->deadline_ms); }
    }
    *len = sb.size;
    return (uint8_t *)sb.data; /* malloc-ed by the sbuffer: the caller frees it */
}

size_t rlv_proto_id_text(char *dst, size_t cap, const uint8_t *id, size_t id_len) {
    if (cap == 0) return 0;
    if (!id) return (size_t)snprintf(dst, cap, "-") < cap ? 1 : 0;
    proto_reader r;
    mp_item it;
    proto_reader_init(&r, id, id_len);
    int n = -1;
    if (proto_reader_next(&r, &it) == MP_OK) {
        if (it.kind == MP_UINT) n = snprintf(dst, cap, "%llu", (unsigned long long)it.u);
        else if (it.kind == MP_INT) n = snprintf(dst, cap, "%lld", (long long)it.i);
        else if (it.kind == MP_STR) return rlv_proto_scrub(dst, cap, (const char *)it.ptr, it.len);
        else if (it.kind == MP_NIL) n = snprintf(dst, cap, "nil");
    }
    if (n < 0) return rlv_proto_sample(dst, cap, id, id_len, 32);
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
