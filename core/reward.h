/* reward.h — rewards from per-token log-probs, and the ranking (docs/model.md §10).
 * Owns: the reward formulas and the stable sort; pure functions, no model, no allocation. */
#ifndef RLV_REWARD_H
#define RLV_REWARD_H

#include "rlaifv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills policy/reference sums and means (in double) and the reward of one candidate with T scored
 * tokens. ref may be NULL only for logp_mean / logp_sum. Returns RLV_OK or RLV_EINVAL. */
int reward_compute(rlv_ranked *r, rlv_reward_kind kind, double beta, const double *pol, const double *ref, int T);

/* Sorts r[0..n) by reward, highest first; equal rewards keep input order; NaN last. */
void reward_rank(rlv_ranked *r, int n);

#ifdef __cplusplus
}
#endif
#endif
