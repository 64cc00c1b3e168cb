/* reply_json.h — a daemon reply (msgpack) as JSON: the one conversion behind `rlaifv score
 * --server`, `rlaifv call` and rlaifvd's HTTP front end, so all three print the same text.
 * Owns nothing; knows the wire only as msgpack (field names are the protocol's, docs/protocol.md). */
#ifndef RLV_REPLY_JSON_H
#define RLV_REPLY_JSON_H

#include <jansson.h>
#include <stddef.h>

/* json_dumps flags of a reply printed as `rlaifv score` prints it */
#define REPLY_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))

/* The reply body data[0..len) as a new JSON object (caller owns the reference), or NULL when the
 * bytes are not one well-formed msgpack map (checked with rlv_proto_check_msgpack before unpacking).
 * bin values become null (replies carry none); keys that are not strings are skipped. */
json_t *reply_to_json(const void *data, size_t len);

#endif
