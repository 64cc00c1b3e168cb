/* test_daemon_config.c — the rlaifvd settings table: defaults, flags, the config file, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rlvd_config.h"

static void test_defaults_and_flags(void **s) {
    (void)s;
    rlvd_config c;
    char err[256];
    rlvd_config_defaults(&c);
    assert_string_equal(c.bind, "tcp://127.0.0.1:5555");
    assert_int_equal(c.max_queue, 64);
    assert_int_equal(c.max_seq_tokens, 2048);
    assert_int_equal(c.insecure, 0);
    assert_null(c.ref_model);
    char *argv[] = {"rlaifvd", "--model", "/m", "--max-queue=3", "--insecure", "--log-format", "json",
                    "--max-image-bytes", "1024"};
    assert_int_equal(rlvd_config_parse(&c, 9, argv, err, sizeof err), 0);
    assert_string_equal(c.model, "/m");
    assert_int_equal(c.max_queue, 3);
    assert_int_equal(c.insecure, 1);
    assert_string_equal(c.log_format, "json");
    assert_int_equal(c.max_image_bytes, 1024);
    rlvd_config_free(&c);
}

static void test_errors(void **s) {
    (void)s;
    rlvd_config c;
    char err[256];
    struct { int argc; char *argv[4]; const char *needle; } cases[] = {
        {2, {"rlaifvd", "--workers"}, "needs a value"},
        {3, {"rlaifvd", "--model", "/m"}, NULL},
        {4, {"rlaifvd", "--model", "/m", "--nope"}, "unknown flag '--nope'"},
        {4, {"rlaifvd", "--model", "/m", "--max-queue=0"}, "max-queue: '0' is not an integer in [1, 65536]"},
        {4, {"rlaifvd", "--model", "/m", "--log-format=xml"}, "log-format: 'xml' is not one of text|json"},
        {4, {"rlaifvd", "--model", "/m", "stray"}, "unexpected argument 'stray'"},
        {3, {"rlaifvd", "--ref-model", "/r"}, "--model is required with --ref-model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rlvd_config_defaults(&c);
        int rc = rlvd_config_parse(&c, cases[i].argc, cases[i].argv, err, sizeof err);
        if (!cases[i].needle) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            if (!strstr(err, cases[i].needle)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
        }
        rlvd_config_free(&c);
    }
}

/* No --model and no --ref-model: the embedded demo pair when the source tree has it, else a named error. */
static void test_demo_default(void **s) {
    (void)s;
    rlvd_config c;
    char err[256];
    char *argv[] = {"rlaifvd", "--workers=2"};
    rlvd_config_defaults(&c);
    int rc = rlvd_config_parse(&c, 2, argv, err, sizeof err);
    if (access(RLAIFV_DEMO_DIR "/policy/config.json", R_OK) == 0) {
        assert_int_equal(rc, 0);
        assert_string_equal(c.model, RLAIFV_DEMO_DIR "/policy");
        assert_string_equal(c.ref_model, RLAIFV_DEMO_DIR "/reference");
    } else {
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, "the embedded demo pair"));
    }
    rlvd_config_free(&c);
}

static void test_file(void **s) {
    (void)s;
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/rlaifvd_test.conf", RLV_TEST_DATA);
    FILE *f = fopen(path, "w");
    fprintf(f, "# comment\nmodel /from/file\nworkers = 3\n\ncache-mb 17\n");
    fclose(f);
    rlvd_config c;
    rlvd_config_defaults(&c);
    char *argv[] = {"rlaifvd", "--config", path, "--workers", "5"};
    assert_int_equal(rlvd_config_parse(&c, 5, argv, err, sizeof err), 0);
    assert_string_equal(c.model, "/from/file");
    assert_int_equal(c.workers, 5); /* the flag wins over the file */
    assert_int_equal(c.cache_mb, 17);
    rlvd_config_free(&c);
    f = fopen(path, "w");
    fprintf(f, "model /m\nmax-candidates lots\n");
    fclose(f);
    rlvd_config_defaults(&c);
    assert_int_equal(rlvd_config_parse(&c, 3, argv, err, sizeof err), -1);
    assert_non_null(strstr(err, "rlaifvd_test.conf:2: max-candidates"));
    rlvd_config_free(&c);
    /* issue 18: a comment longer than the line buffer is an error, its tail never a setting */
    f = fopen(path, "w");
    fprintf(f, "model /m\n# ");
    for (int i = 0; i < 5000; i++) fputc('x', f);
    fprintf(f, " insecure true\n");
    fclose(f);
    rlvd_config_defaults(&c);
    assert_int_equal(rlvd_config_parse(&c, 3, argv, err, sizeof err), -1);
    assert_non_null(strstr(err, "rlaifvd_test.conf:2: line longer than 4094 bytes"));
    assert_int_equal(c.insecure, 0);
    rlvd_config_free(&c);
    /* a line of exactly the longest length, the file's last without a newline: read whole */
    f = fopen(path, "w");
    fprintf(f, "model /m\n#");
    for (int i = 0; i < 4094; i++) fputc('y', f);
    fclose(f);
    rlvd_config_defaults(&c);
    assert_int_equal(rlvd_config_parse(&c, 3, argv, err, sizeof err), 0);
    assert_string_equal(c.model, "/m");
    rlvd_config_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_demo_default),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
