/* test_half.c — bf16/f16 -> f32 for all 65536 bit patterns: vector == scalar, f16 == numpy's
 * conversion (NaNs: same sign and payload, quiet bit set as F16C sets it), bf16 == bits << 16. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "half.h"

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static uint16_t all[65536 + 7];
static float vec[65536 + 7], sca[65536 + 7];

static void fill(void) { for (uint32_t i = 0; i < 65536; i++) all[i] = (uint16_t)i; }

static void test_bf16_all(void **s) {
    (void)s;
    fill();
    half_bf16_to_f32_n(vec, all, 65536);
    half_bf16_to_f32_n_scalar(sca, all, 65536);
    for (uint32_t i = 0; i < 65536; i++) {
        assert_int_equal(bits(vec[i]), i << 16);
        assert_int_equal(bits(sca[i]), i << 16);
    }
    /* odd lengths and offsets exercise the vector tail */
    for (size_t n = 0; n < 40; n++) {
        half_bf16_to_f32_n(vec, all + 3, n);
        for (size_t i = 0; i < n; i++) assert_int_equal(bits(vec[i]), (uint32_t)(i + 3) << 16);
    }
}

static void test_f16_all(void **s) {
    (void)s;
    fill();
    half_f16_to_f32_n(vec, all, 65536);
    half_f16_to_f32_n_scalar(sca, all, 65536);
    char path[512];
    snprintf(path, sizeof path, "%s/half/f16_to_f32.bin", RLV_TEST_DATA);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint32_t want[65536];
    assert_int_equal(fread(want, 4, 65536, f), 65536);
    fclose(f);
    int nans = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        assert_int_equal(bits(vec[i]), bits(sca[i]));
        int is_nan = ((i >> 10) & 0x1f) == 0x1f && (i & 0x3ff);
        if (is_nan) {
            nans++;
            assert_int_equal(bits(sca[i]), want[i] | 0x00400000u);
        } else {
            assert_int_equal(bits(sca[i]), want[i]);
        }
    }
    assert_int_equal(nans, 2 * 1023);
    assert_true(half_f16_to_f32(0x3c00) == 1.0f);
    assert_true(half_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(half_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    assert_true(half_f16_to_f32(0xfc00) == -__builtin_inff());
}

static void test_f32_to_bf16(void **s) {
    (void)s;
    assert_int_equal(half_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(half_f32_to_bf16(1.00390625f), 0x3f80);  /* tie -> even */
    assert_int_equal(half_f32_to_bf16(1.01171875f), 0x3f82);  /* tie -> even (up) */
    for (uint32_t i = 0; i < 65536; i++) {
        if (((i >> 7) & 0xff) == 0xff && (i & 0x7f)) continue; /* NaN */
        assert_int_equal(half_f32_to_bf16(half_bf16_to_f32((uint16_t)i)), i);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_all),
        cmocka_unit_test(test_f16_all),
        cmocka_unit_test(test_f32_to_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
