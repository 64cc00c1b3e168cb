/* test_daemon_config.c — the rlaifvd settings table: defaults, flags, the config file, errors. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "prefix.h"
#include "settings.h"

static void test_defaults_and_flags(void **s) {
    (void)s;
    rlvd_settings c;
    char err[256];
    settings_defaults(&c);
    assert_string_equal(c.bind, "tcp://127.0.0.1:5555");
    assert_int_equal(c.max_queue, 64);
    assert_int_equal(c.max_seq_tokens, 2048);
    assert_int_equal(c.insecure, 0);
    assert_null(c.ref_model);
    char *argv[] = {"rlaifvd", "--model", "/m", "--max-queue=3", "--insecure", "--log-format", "json",
                    "--max-image-bytes", "1024"};
    assert_int_equal(settings_parse(&c, 9, argv, err, sizeof err), 0);
    assert_string_equal(c.model, "/m");
    assert_int_equal(c.max_queue, 3);
    assert_int_equal(c.insecure, 1);
    assert_string_equal(c.log_format, "json");
    assert_int_equal(c.max_image_bytes, 1024);
    settings_free(&c);
}

/* One source of truth: docs/operations.md's settings table states every key of the table with its
 * default as the daemon has it, and docs/protocol.md's "`key` (value)" mentions agree. */
typedef struct doc_check {
    char *ops, *proto;
    int keys, proto_mentions;
} doc_check;

static char *read_doc(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/%s", RLV_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    return b;
}

/* "128 KiB" / "32 MiB" / "40 M" / "10 s" (for a -ms key) / "4096" as a number; -1 when it is not one. */
static double doc_number(const char *s, const char *key) {
    char *end;
    double v = strtod(s, &end);
    if (end == s) return -1;
    while (*end == ' ') end++;
    if (prefix_skip(end, "KiB")) v *= 1024;
    else if (prefix_skip(end, "MiB")) v *= 1024 * 1024;
    else if (prefix_skip(end, "GiB")) v *= 1024.0 * 1024 * 1024;
    else if (*end == 'M') v *= 1e6; /* "40 M" pixels */
    else if (*end == 's' && strstr(key, "-ms")) v *= 1000;
    return v;
}

static void check_key(void *ctx, const char *key, const char *value) {
    doc_check *d = ctx;
    char row[128];
    snprintf(row, sizeof row, "| `%s` | ", key);
    const char *p = strstr(d->ops, row);
    if (!p) fail_msg("docs/operations.md has no settings row for `%s`", key);
    p += strlen(row);
    const char *e = strchr(p, '|');
    assert_non_null(e);
    char doc[128];
    size_t n = 0;
    for (const char *q = p; q < e && n + 1 < sizeof doc; q++)
        if (*q != '`') doc[n++] = *q;
    while (n && doc[n - 1] == ' ') n--;
    doc[n] = 0;
    d->keys++;
    if (*value) { /* a value: stated exactly; unset: any words ("unset", "the demo pair") */
        if (strcmp(doc, value)) fail_msg("docs/operations.md: `%s` defaults to '%s', the daemon to '%s'", key, doc, value);
    } else if (!n)
        fail_msg("docs/operations.md: `%s` has an empty default", key);
    /* docs/protocol.md: every "`key` (N unit" names the default */
    snprintf(row, sizeof row, "`%s` (", key);
    for (const char *q = strstr(d->proto, row); q; q = strstr(q + 1, row)) {
        const char *v = q + strlen(row);
        const char *after = prefix_skip(v, "default ");
        if (after) v = after;
        double got = doc_number(v, key);
        if (got < 0) continue; /* prose, not a value */
        d->proto_mentions++;
        if (got != strtod(value, NULL))
            fail_msg("docs/protocol.md: `%s` (%.40s…) is not the daemon's default %s", key, v, value);
    }
}

static void test_docs_state_the_defaults(void **s) {
    (void)s;
    rlvd_settings c;
    settings_defaults(&c);
    doc_check d = {read_doc("operations.md"), read_doc("protocol.md"), 0, 0};
    settings_each(&c, check_key, &d);
    print_message("docs: %d settings in docs/operations.md, %d values in docs/protocol.md, all the daemon's defaults\n",
                  d.keys, d.proto_mentions);
    assert_true(d.keys >= 25 && d.proto_mentions >= 6); /* every key was found (or failed above) */
    free(d.ops);
    free(d.proto);
    settings_free(&c);
}

static void test_errors(void **s) {
    (void)s;
    rlvd_settings c;
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
        settings_defaults(&c);
        int rc = settings_parse(&c, cases[i].argc, cases[i].argv, err, sizeof err);
        if (!cases[i].needle) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            if (!strstr(err, cases[i].needle)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
        }
        settings_free(&c);
    }
}

/* No --model and no --ref-model: the embedded demo pair when the source tree has it, else a named error. */
static void test_demo_default(void **s) {
    (void)s;
    rlvd_settings c;
    char err[256];
    char *argv[] = {"rlaifvd", "--workers=2"};
    settings_defaults(&c);
    int rc = settings_parse(&c, 2, argv, err, sizeof err);
    char demo[PATH_MAX];
    if (realpath(RLV_SOURCE_DIR "/models/demo", demo) && access(RLV_SOURCE_DIR "/models/demo/policy/config.json", R_OK) == 0) {
        char want[PATH_MAX + 16];
        assert_int_equal(rc, 0);
        assert_int_equal(c.demo, 1);
        snprintf(want, sizeof want, "%s/policy", demo); /* found from this executable, build/release/tests */
        assert_string_equal(c.model, want);
        snprintf(want, sizeof want, "%s/reference", demo);
        assert_string_equal(c.ref_model, want);
    } else {
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, "the embedded demo pair"));
    }
    settings_free(&c);
}

static void test_file(void **s) {
    (void)s;
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/rlaifvd_test.conf", RLV_TEST_DATA);
    FILE *f = fopen(path, "w");
    fprintf(f, "# comment\nmodel /from/file\nworkers = 3\n\ncache-mb 17\n");
    fclose(f);
    rlvd_settings c;
    settings_defaults(&c);
    char *argv[] = {"rlaifvd", "--config", path, "--workers", "5"};
    assert_int_equal(settings_parse(&c, 5, argv, err, sizeof err), 0);
    assert_string_equal(c.model, "/from/file");
    assert_int_equal(c.workers, 5); /* the flag wins over the file */
    assert_int_equal(c.cache_mb, 17);
    settings_free(&c);
    f = fopen(path, "w");
    fprintf(f, "model /m\nmax-candidates lots\n");
    fclose(f);
    settings_defaults(&c);
    assert_int_equal(settings_parse(&c, 3, argv, err, sizeof err), -1);
    assert_non_null(strstr(err, "rlaifvd_test.conf:2: max-candidates"));
    settings_free(&c);
    /* issue 18: a comment longer than the line buffer is an error, its tail never a setting */
    f = fopen(path, "w");
    fprintf(f, "model /m\n# ");
    for (int i = 0; i < 5000; i++) fputc('x', f);
    fprintf(f, " insecure true\n");
    fclose(f);
    settings_defaults(&c);
    assert_int_equal(settings_parse(&c, 3, argv, err, sizeof err), -1);
    assert_non_null(strstr(err, "rlaifvd_test.conf:2: line longer than 4094 bytes"));
    assert_int_equal(c.insecure, 0);
    settings_free(&c);
    /* a line of exactly the longest length, the file's last without a newline: read whole */
    f = fopen(path, "w");
    fprintf(f, "model /m\n#");
    for (int i = 0; i < 4094; i++) fputc('y', f);
    fclose(f);
    settings_defaults(&c);
    assert_int_equal(settings_parse(&c, 3, argv, err, sizeof err), 0);
    assert_string_equal(c.model, "/m");
    settings_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_flags),
        cmocka_unit_test(test_docs_state_the_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_demo_default),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
