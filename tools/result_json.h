/* result_json.h — an rlv_result as the JSON object `rlaifv score` prints and `rlaifv eval` writes
 * (the same field names as the wire protocol's score reply, docs/protocol.md). */
#ifndef RLV_RESULT_JSON_H
#define RLV_RESULT_JSON_H

#include <jansson.h>

#include "rlaifv.h"

/* A new JSON object (caller owns the reference): reward_kind, beta, ranking[...], timing_ms{...}.
 * token_logps arrays are included when the result carries them. */
json_t *result_to_json(const rlv_result *r);

#endif
