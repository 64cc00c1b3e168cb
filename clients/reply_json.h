/* reply_json.h — a daemon reply (msgpack) as JSON: the one conversion behind `rlaifv call` and
 * rlaifvd's HTTP front end, so both print the same text; and a score reply between that JSON and
 * the wire's typed result (rlv_proto_score_result): the client library decodes into it, `rlaifv
 * score` and `rlaifv eval` print it back (offline too), field for field as the daemon sent it.
 * Owns nothing; field names are the protocol's (docs/protocol.md). */
#ifndef RLV_REPLY_JSON_H
#define RLV_REPLY_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "rlaifv_proto.h"

/* json_dumps flags of a reply printed as `rlaifv score` prints it */
#define REPLY_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))

/* The reply body data[0..len) as a new JSON object (caller owns the reference), or NULL when the
 * bytes are not one well-formed msgpack map (checked with rlv_proto_check_msgpack before unpacking).
 * bin values become null (replies carry none); keys that are not strings are skipped. */
json_t *reply_to_json(const void *data, size_t len);

/* A score reply r (JSON, as reply_to_json or the HTTP front end gives it; id and ok ignored) as a
 * typed result in one malloc-ed block (free() it, or rlv_client_result_free), or NULL when r is
 * not a score result's shape (a field missing or of the wrong type, token_logps not `tokens`
 * long, reference on some entries only) or out of memory. v is 2 when timing_ms has cached. */
rlv_proto_score_result *reply_score_result(const json_t *r);

/* r as the daemon's score reply without id and ok, its fields in the daemon's order (a new
 * reference): json_dumps(.., REPLY_JSON_FLAGS) prints what `rlaifv score` prints. */
json_t *score_result_json(const rlv_proto_score_result *r);

#endif
