/* fuzz_request.c — libFuzzer target: rlv_proto_decode_request on arbitrary bytes, with the default
 * limits and with tiny ones, then the reply the daemon would send (error or score), which must
 * itself be well-formed msgpack that echoes the id bit-identically. */
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rlaifv_proto.h"

static void check_reply(rlv_proto_reply *r, const rlv_proto_request *q) {
    size_t len, off = 0;
    const uint8_t *d = rlv_proto_reply_data(r, &len);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)d, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) abort();
    if (u.data.type != MSGPACK_OBJECT_MAP) abort();
    msgpack_unpacked_destroy(&u);
    /* the id sits right after the map header and the "id" key */
    size_t hdr = d[0] == 0xdf ? 5 : 1;
    if (q->id && memcmp(d + hdr + 3, q->id, q->id_len)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rlv_proto_request q; /* reused across inputs, as the daemon does */
    static rlv_proto_reply *r;
    if (!r) r = rlv_proto_reply_new();
    rlv_proto_limits lims[2];
    rlv_proto_limits_default(&lims[0]);
    lims[1] = (rlv_proto_limits){64, 16, 2, 8, 8, 8};
    for (int l = 0; l < 2; l++) {
        rlv_proto_error e;
        rlv_proto_code rc = rlv_proto_decode_request(&q, data, size, &lims[l], &e);
        if ((unsigned)rc >= RLV_PROTO_CODE_COUNT || strlen(e.msg) >= RLV_PROTO_ERR_MSG_MAX) abort();
        if (q.id && (q.id < data || q.id + q.id_len > data + size || q.id_len > lims[l].max_id_bytes)) abort();
        if (rc != RLV_PROTO_OK) {
            if (rlv_proto_reply_error(r, q.id, q.id_len, rc, "%s", e.msg) != RLV_PROTO_OK) abort();
            check_reply(r, &q);
            continue;
        }
        if (q.v < 1 || q.v > RLV_PROTO_VERSION) abort();
        if (q.op != RLV_PROTO_OP_SCORE) {
            if (rlv_proto_reply_begin(r, q.id, q.id_len, &e) || rlv_proto_reply_add_int(r, "v", 1, &e) ||
                rlv_proto_reply_end(r, &e))
                abort();
            check_reply(r, &q);
            continue;
        }
        if (q.n_candidates < 1 || q.n_candidates > lims[l].max_candidates) abort();
        if (q.prompt_len > lims[l].max_prompt_bytes || (q.image && (q.image_len < 1 || q.image_len > lims[l].max_image_bytes)))
            abort();
        if (q.image && (q.image < data || q.image + q.image_len > data + size)) abort();
        rlv_proto_ranked rk[64];
        memset(rk, 0, sizeof rk);
        for (size_t i = 0; i < q.n_candidates; i++) {
            if (q.candidate_lens[i] > lims[l].max_candidate_bytes) abort();
            if ((const uint8_t *)q.candidates[i] < data || (const uint8_t *)q.candidates[i] + q.candidate_lens[i] > data + size)
                abort();
            rk[i].index = (int)i;
            rk[i].tokens = 1;
        }
        rlv_proto_score_result res = {rlv_reward_name(q.reward) ? rlv_reward_name(q.reward) : "logp_mean",
                                  q.has_beta ? q.beta : 0.1, true, q.n_candidates, rk, 0, 0, 0, 0, false, true, q.v};
        if (rlv_proto_reply_score(r, q.id, q.id_len, &res, &e) != RLV_PROTO_OK) abort();
        check_reply(r, &q);
    }
    return 0;
}
