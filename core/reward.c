/* reward.c — rewards and ranking (see reward.h). Sums run in double: a 12B model's per-token
 * log-probs are fp32, and a few hundred of them summed in float lose the 1e-4 we test to. */
#include "reward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int rlv_reward_parse(const char *name, rlv_reward_kind *out) {
    for (int k = 0; k < RLV_REWARD_N; k++)
        if (!strcmp(name, rlv_reward_name((rlv_reward_kind)k))) {
            *out = (rlv_reward_kind)k;
            return RLV_OK;
        }
    return RLV_EINVAL;
}

int reward_compute(rlv_ranked *r, rlv_reward_kind kind, double beta, const double *pol, const double *ref, int T) {
    if (T <= 0 || !pol) return RLV_EINVAL;
    double sp = 0, sr = 0;
    for (int t = 0; t < T; t++) sp += pol[t];
    r->tokens = T;
    r->policy.logp_sum = sp;
    r->policy.logp_mean = sp / T;
    if (ref) {
        for (int t = 0; t < T; t++) sr += ref[t];
        r->reference.logp_sum = sr;
        r->reference.logp_mean = sr / T;
    }
    switch (kind) {
    case RLV_REWARD_RLAIFV:
        if (!ref) return RLV_EINVAL;
        r->reward = beta * (sp - sr) / T;
        return RLV_OK;
    case RLV_REWARD_DPO:
        if (!ref) return RLV_EINVAL;
        r->reward = beta * (sp - sr);
        return RLV_OK;
    case RLV_REWARD_LOGP_MEAN: r->reward = sp / T; return RLV_OK;
    case RLV_REWARD_LOGP_SUM: r->reward = sp; return RLV_OK;
    default: return RLV_EINVAL;
    }
}

static int cmp_rank(const void *a, const void *b) {
    const rlv_ranked *x = a, *y = b;
    int xn = isnan(x->reward), yn = isnan(y->reward);
    if (xn != yn) return xn - yn;
    if (!xn && x->reward != y->reward) return x->reward > y->reward ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index); /* ties: input order */
}

void reward_rank(rlv_ranked *r, int n) {
    if (n > 1) qsort(r, (size_t)n, sizeof *r, cmp_rank);
}
