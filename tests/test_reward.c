/* test_reward.c — reward formulas (docs/model.md §10) and the ranking order. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reward.h"

static void test_formulas(void **s) {
    (void)s;
    const double pol[3] = {-1.0, -2.0, -0.5}, ref[3] = {-1.5, -2.5, -1.0};
    rlv_ranked r = {0};
    assert_int_equal(reward_compute(&r, RLV_REWARD_RLAIFV, 0.1, pol, ref, 3), RLV_OK);
    assert_true(fabs(r.reward - 0.1 * 1.5 / 3) < 1e-12);
    assert_true(fabs(r.policy.logp_sum + 3.5) < 1e-12);
    assert_true(fabs(r.policy.logp_mean + 3.5 / 3) < 1e-12);
    assert_true(fabs(r.reference.logp_mean + 5.0 / 3) < 1e-12);
    assert_int_equal(r.tokens, 3);
    assert_int_equal(reward_compute(&r, RLV_REWARD_DPO, 0.2, pol, ref, 3), RLV_OK);
    assert_true(fabs(r.reward - 0.2 * 1.5) < 1e-12);
    assert_int_equal(reward_compute(&r, RLV_REWARD_LOGP_MEAN, 0.1, pol, NULL, 3), RLV_OK);
    assert_true(fabs(r.reward + 3.5 / 3) < 1e-12);
    assert_int_equal(reward_compute(&r, RLV_REWARD_LOGP_SUM, 0.1, pol, NULL, 3), RLV_OK);
    assert_true(fabs(r.reward + 3.5) < 1e-12);
    assert_int_equal(reward_compute(&r, RLV_REWARD_RLAIFV, 0.1, pol, NULL, 3), RLV_EINVAL);
    assert_int_equal(reward_compute(&r, RLV_REWARD_DPO, 0.1, pol, NULL, 3), RLV_EINVAL);
    assert_int_equal(reward_compute(&r, RLV_REWARD_LOGP_SUM, 0.1, pol, NULL, 0), RLV_EINVAL);
}

static void test_names(void **s) {
    (void)s;
    rlv_reward_kind k;
    const char *names[] = {"rlaifv", "dpo", "logp_mean", "logp_sum"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rlv_reward_parse(names[i], &k), RLV_OK);
        assert_int_equal(k, i);
        assert_string_equal(rlv_reward_name(k), names[i]);
    }
    assert_int_equal(rlv_reward_parse("RLAIFV", &k), RLV_EINVAL);
    assert_null(rlv_reward_name(RLV_REWARD_DEFAULT));
}

static void test_rank(void **s) {
    (void)s;
    rlv_ranked r[6] = {{.index = 0, .reward = 1.0}, {.index = 1, .reward = 2.0}, {.index = 2, .reward = NAN},
                       {.index = 3, .reward = 2.0}, {.index = 4, .reward = -5.0}, {.index = 5, .reward = 1.0}};
    reward_rank(r, 6);
    const int want[6] = {1, 3, 0, 5, 4, 2};
    for (int i = 0; i < 6; i++) assert_int_equal(r[i].index, want[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formulas),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
