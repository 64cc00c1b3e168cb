/* settings.c — the one table of rlaifvd settings (Redis static_configs[] style): each row gives
 * the key, the type, where it lives in rlvd_settings, the default, the range and the help text.
 * Flags (--key value, --key=value), the config file (key value) and `info` all read this table. */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prefix.h"
#include "rlaifv_proto.h"
#include "rlaifv.h"

/* Each default is defined once, beside the option it belongs to (RLV_DEFAULT_* in include/rlaifv.h,
 * RLV_PROTO_DEFAULT_* in include/rlaifv_proto.h); the table holds their text. */
#define TXT_(x) #x
#define TXT(x) TXT_(x)
_Static_assert(RLV_PROTO_DEFAULT_MAX_CANDIDATES == RLV_DEFAULT_MAX_CANDIDATES,
               "max-candidates is one setting for the wire and the engine");

typedef enum { CFG_STR, CFG_INT, CFG_I64, CFG_BOOL } cfg_type;

typedef struct cfg_row {
    const char *key;
    cfg_type type;
    size_t off;
    const char *dflt;     /* as text; NULL = unset string */
    int64_t min, max;     /* numeric range */
    const char *choices;  /* for CFG_STR: "a|b|c" or NULL */
    const char *help;
} cfg_row;

#define F(x) offsetof(rlvd_settings, x)
static const cfg_row rows[] = {
    {"model", CFG_STR, F(model), NULL, 0, 0, NULL, "policy checkpoint directory (RLAIF-V-12B layout); unset with ref-model unset = the embedded demo pair"},
    {"ref-model", CFG_STR, F(ref_model), NULL, 0, 0, NULL, "reference checkpoint directory (OmniLMM-12B); enables the rlaifv/dpo rewards"},
    {"bind", CFG_STR, F(bind), "tcp://127.0.0.1:5555", 0, 0, NULL, "ZeroMQ endpoint of the ROUTER socket"},
    {"workers", CFG_INT, F(workers), "1", 1, 256, NULL, "worker threads, each with its own scratch and KV cache"},
    {"blas-threads", CFG_INT, F(blas_threads), TXT(RLV_DEFAULT_BLAS_THREADS), 1, 256, NULL, "threads of each worker's pool (its matrix products and stages)"},
    {"compute", CFG_STR, F(compute), "fp32", 0, 0, "fp32|bf16", "weight products: fp32, or bf16 products with fp32 sums (needs AVX512_BF16; faster, drifts: docs/performance.md)"},
    {"repack-weights", CFG_STR, F(repack_weights), "off", 0, 0, "off|auto|on", "copy the weights at load into the matrix kernel's panel layout (packing then reads them in order instead of transposing; auto: all when they fit in memory with 2 GiB to spare, else as many as fit, vision first; docs/performance.md)"},
    {"stream-weights", CFG_STR, F(stream_weights), "auto", 0, 0, "off|auto|on", "read the decoders' layers from the checkpoint files by direct reads into each worker's two slots, the next layer while one computes, instead of paging them in (auto: when the weights left in the mappings do not fit in memory with 2 GiB per model to spare; docs/operations.md)"},
    {"max-queue", CFG_INT, F(max_queue), "64", 1, 65536, NULL, "jobs waiting for a worker before `busy`"},
    {"max-job-ms", CFG_INT, F(max_job_ms), "0", 0, INT32_MAX, NULL, "a running score job past this many ms stops at the next decoder layer or ViT block and is answered `timeout` (0 = no limit); also bounds the SIGTERM drain"},
    {"reply-hold-ms", CFG_INT, F(reply_hold_ms), "10000", 1, 3600000, NULL, "a reply to a client whose pipe is full waits this long (the daemon stops reading requests meanwhile), then it is dropped and counted undeliverable"},
    {"max-peer-jobs", CFG_INT, F(max_peer_jobs), "0", 0, 65536, NULL, "score jobs one client (ZeroMQ routing id) may have queued or running before its next gets `busy` (0 = no limit): one client cannot fill the queue"},
    {"max-queued-bytes", CFG_I64, F(max_queued_bytes), "268435456", 1024, INT64_C(1) << 40, NULL, "request bytes held by queued and running score jobs before `busy` (bounds memory: docs/operations.md)"},
    {"max-message-bytes", CFG_I64, F(max_message_bytes), TXT(RLV_PROTO_DEFAULT_MAX_MESSAGE_BYTES), 1024, INT64_C(1) << 31, NULL, "largest request frame"},
    {"max-image-bytes", CFG_I64, F(max_image_bytes), TXT(RLV_PROTO_DEFAULT_MAX_IMAGE_BYTES), 1, INT64_C(1) << 31, NULL, "largest encoded image"},
    {"max-image-pixels", CFG_I64, F(max_image_pixels), TXT(RLV_DEFAULT_MAX_IMAGE_PIXELS), 1, INT64_C(1) << 40, NULL, "width x height limit, checked before decoding"},
    {"max-image-side", CFG_INT, F(max_image_side), TXT(RLV_DEFAULT_MAX_IMAGE_SIDE), 1, 1 << 20, NULL, "width and height limit, checked before decoding"},
    {"max-candidates", CFG_INT, F(max_candidates), TXT(RLV_DEFAULT_MAX_CANDIDATES), 1, 4096, NULL, "candidates per job"},
    {"max-candidate-bytes", CFG_I64, F(max_candidate_bytes), TXT(RLV_PROTO_DEFAULT_MAX_CANDIDATE_BYTES), 1, INT64_C(1) << 30, NULL, "bytes per candidate"},
    {"max-prompt-bytes", CFG_I64, F(max_prompt_bytes), TXT(RLV_PROTO_DEFAULT_MAX_PROMPT_BYTES), 1, INT64_C(1) << 30, NULL, "bytes of the prompt"},
    {"max-seq-tokens", CFG_INT, F(max_seq_tokens), TXT(RLV_DEFAULT_MAX_SEQ_TOKENS), 16, 1 << 20, NULL, "prefix + one candidate, in tokens (the official limit is 2048)"},
    {"max-total-tokens", CFG_INT, F(max_total_tokens), TXT(RLV_DEFAULT_MAX_TOTAL_TOKENS), 16, 1 << 24, NULL, "all candidates of one job, in tokens (sizes each worker's buffers)"},
    {"cache-mb", CFG_INT, F(cache_mb), TXT(RLV_DEFAULT_CACHE_MB), 0, 1 << 20, NULL, "image-embedding cache size in MiB (0 disables)"},
    {"prefix-cache-mb", CFG_INT, F(prefix_cache_mb), TXT(RLV_DEFAULT_PREFIX_CACHE_MB), 0, 1 << 24, NULL, "prefix cache (each model's decoder state after an (image, prompt)) in MiB, shared by all workers (0 disables)"},
    {"log-level", CFG_STR, F(log_level), "info", 0, 0, "debug|info|warn|error", "least severe level logged"},
    {"log-format", CFG_STR, F(log_format), "text", 0, 0, "text|json", "log line format on stderr"},
    {"curve-secret-file", CFG_STR, F(curve_secret_file), NULL, 0, 0, NULL, "server CURVE key pair file (see docs/operations.md); enables CurveZMQ"},
    {"curve-allow-dir", CFG_STR, F(curve_allow_dir), NULL, 0, 0, NULL, "directory of allowed client public key files (Z85, one per file)"},
    {"insecure", CFG_BOOL, F(insecure), "false", 0, 0, NULL, "allow a non-loopback bind without CurveZMQ (ZeroMQ) or without api-key-file (HTTP)"},
    {"http-bind", CFG_STR, F(http_bind), NULL, 0, 0, NULL, "HTTP/JSON listener (docs/http.md) as [HOST:]PORT, e.g. 8000 (= 127.0.0.1:8000), 0.0.0.0:8000, [::1]:8000; unset = no HTTP"},
    {"http-max-connections", CFG_INT, F(http_max_connections), "256", 1, 65536, NULL, "open HTTP connections at once; more are refused at accept"},
    {"http-timeout-s", CFG_INT, F(http_timeout_s), "60", 1, 86400, NULL, "an HTTP connection that sends nothing for this long (slow body, idle keep-alive) is closed; a job being scored is not cut by it"},
    {"api-key-file", CFG_STR, F(api_key_file), NULL, 0, 0, NULL, "file holding the HTTP API key (one line); requests but /health and /ready then need 'Authorization: Bearer KEY'"},
    {"tls-cert-file", CFG_STR, F(tls_cert_file), NULL, 0, 0, NULL, "PEM certificate: HTTP is served over TLS (with tls-key-file)"},
    {"tls-key-file", CFG_STR, F(tls_key_file), NULL, 0, 0, NULL, "PEM private key of tls-cert-file"},
    {"config", CFG_STR, F(config_file), NULL, 0, 0, NULL, "read settings from this file first (same keys, `key value` lines)"},
};
#undef F
#define N_ROWS (sizeof rows / sizeof rows[0])

static const cfg_row *find(const char *key) {
    for (size_t i = 0; i < N_ROWS; i++)
        if (!strcmp(rows[i].key, key)) return &rows[i];
    return NULL;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) *out = 0;
    else return -1;
    return 0;
}

static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static int set_row(rlvd_settings *c, const cfg_row *r, const char *v, char *err, size_t cap) {
    char *base = (char *)c;
    switch (r->type) {
    case CFG_STR: {
        if (r->choices && !choice_ok(r->choices, v)) {
            snprintf(err, cap, "%s: '%s' is not one of %s", r->key, v, r->choices);
            return -1;
        }
        char **p = (char **)(base + r->off), *d = strdup(v);
        if (!d) { snprintf(err, cap, "out of memory"); return -1; }
        free(*p);
        *p = d;
        return 0;
    }
    case CFG_BOOL:
        if (parse_bool(v, (int *)(base + r->off))) {
            snprintf(err, cap, "%s: '%s' is not true or false", r->key, v);
            return -1;
        }
        return 0;
    case CFG_INT:
    case CFG_I64: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < r->min || x > r->max) {
            snprintf(err, cap, "%s: '%s' is not an integer in [%lld, %lld]", r->key, v, (long long)r->min,
                     (long long)r->max);
            return -1;
        }
        if (r->type == CFG_INT) *(int *)(base + r->off) = (int)x;
        else *(int64_t *)(base + r->off) = x;
        return 0;
    }
    }
    return -1;
}

void settings_defaults(rlvd_settings *c) {
    memset(c, 0, sizeof *c);
    char err[64];
    for (size_t i = 0; i < N_ROWS; i++)
        if (rows[i].dflt) set_row(c, &rows[i], rows[i].dflt, err, sizeof err);
}

int settings_set(rlvd_settings *c, const char *key, const char *value, char *err, size_t cap) {
    const cfg_row *r = find(key);
    if (!r) {
        snprintf(err, cap, "unknown setting '%s' (see --help)", key);
        return -1;
    }
    return set_row(c, r, value, err, cap);
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int settings_load_file(rlvd_settings *c, const char *path, char *err, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[4096], msg[512];
    int ln = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        ln++;
        size_t n = strlen(line);
        int ch;
        if (n == sizeof line - 1 && line[n - 1] != '\n' && (ch = getc(f)) != EOF) {
            /* never parse the tail of a line as a line of its own (issue 18: a long comment's
             * tail became `insecure true`) */
            snprintf(err, cap, "%s:%d: line longer than %zu bytes", path, ln, sizeof line - 2);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *sep = s + strcspn(s, " \t=");
        char *v = sep;
        if (*v) *v++ = 0;
        v = trim(v);
        if (*v == '=') v = trim(v + 1);
        if (!strcmp(s, "config")) {
            snprintf(err, cap, "%s:%d: 'config' cannot be set inside a config file", path, ln);
            rc = -1;
        } else if (settings_set(c, s, v, msg, sizeof msg)) {
            snprintf(err, cap, "%s:%d: %s", path, ln, msg);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

int settings_parse(rlvd_settings *c, int argc, char **argv, char *err, size_t cap) {
    /* First pass: --help and --config (the file is applied before the other flags). */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            settings_help(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("rlaifvd %s\n", RLV_VERSION);
            return 1;
        }
        const char *v = prefix_skip(argv[i], "--config=");
        if (!v && !strcmp(argv[i], "--config") && i + 1 < argc) v = argv[i + 1];
        if (v && settings_load_file(c, v, err, cap)) return -1;
        if (v && settings_set(c, "config", v, err, cap)) return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!prefix_skip(a, "--")) {
            snprintf(err, cap, "unexpected argument '%s' (settings are --key value)", a);
            return -1;
        }
        char key[128];
        const char *eq = strchr(a + 2, '='), *v;
        size_t kl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (kl >= sizeof key) kl = sizeof key - 1;
        memcpy(key, a + 2, kl);
        key[kl] = 0;
        const cfg_row *r = find(key);
        if (!r) {
            snprintf(err, cap, "unknown flag '--%s' (see --help)", key);
            return -1;
        }
        if (eq) v = eq + 1;
        else if (r->type == CFG_BOOL) v = "true";
        else if (i + 1 < argc) v = argv[++i];
        else {
            snprintf(err, cap, "--%s needs a value", key);
            return -1;
        }
        if (!strcmp(key, "config")) continue; /* applied in the first pass */
        if (set_row(c, r, v, err, cap)) return -1;
    }
    if (!c->model && c->ref_model) {
        snprintf(err, cap, "--model is required with --ref-model (a checkpoint directory)");
        return -1;
    }
    if (!c->model) {
        /* Neither named: the embedded demo pair, so a fresh checkout (or install) runs as it is. */
        char demo[4096], p[4200];
        if (rlv_demo_dir(demo, sizeof demo)) {
            snprintf(err, cap, "--model is required (a checkpoint directory): the embedded demo pair is absent "
                               "(looked for share/rlaifv/demo next to the executable and models/demo above it)");
            return -1;
        }
        snprintf(p, sizeof p, "%s/policy", demo);
        if (settings_set(c, "model", p, err, cap)) return -1;
        snprintf(p, sizeof p, "%s/reference", demo);
        if (settings_set(c, "ref-model", p, err, cap)) return -1;
        c->demo = 1;
    }
    if (!strstr(c->bind, "://")) { /* zmq_bind would fail with "Invalid argument", or CURVE be asked for */
        snprintf(err, cap, "--bind '%s' names no transport: write tcp://%s (or ipc://PATH)", c->bind, c->bind);
        return -1;
    }
    return 0;
}

void settings_help(FILE *f) {
    fprintf(f, "usage: rlaifvd [--model DIR [--ref-model DIR]] [--key value ...]   (rlaifvd --version)\n\n"
               "rlaifvd ranks candidate answers of multimodal LLMs by the RLAIF-V reward over ZeroMQ.\n"
               "Every setting is a flag (--key value or --key=value) and a config-file key (key value).\n"
               "Without --model it serves the embedded demo pair (share/rlaifv/demo when installed,\n"
               "models/demo in a build tree).\n\n");
    for (size_t i = 0; i < N_ROWS; i++) {
        const cfg_row *r = &rows[i];
        char type[96];
        if (r->type == CFG_BOOL) snprintf(type, sizeof type, "bool");
        else if (r->type == CFG_STR) snprintf(type, sizeof type, "%s", r->choices ? r->choices : "text");
        else snprintf(type, sizeof type, "int %lld..%lld", (long long)r->min, (long long)r->max);
        fprintf(f, "  --%-20s %s\n  %-22s [%s; default %s]\n", r->key, r->help, "", type, r->dflt ? r->dflt : "unset");
    }
}

void settings_each(const rlvd_settings *c, void (*fn)(void *ctx, const char *key, const char *value), void *ctx) {
    const char *base = (const char *)c;
    char buf[64];
    for (size_t i = 0; i < N_ROWS; i++) {
        const cfg_row *r = &rows[i];
        const char *v = buf;
        switch (r->type) {
        case CFG_STR: v = *(char *const *)(base + r->off); if (!v) v = ""; break;
        case CFG_BOOL: v = *(const int *)(base + r->off) ? "true" : "false"; break;
        case CFG_INT: snprintf(buf, sizeof buf, "%d", *(const int *)(base + r->off)); break;
        case CFG_I64: snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)(base + r->off)); break;
        }
        fn(ctx, r->key, v);
    }
}

void settings_free(rlvd_settings *c) {
    for (size_t i = 0; i < N_ROWS; i++)
        if (rows[i].type == CFG_STR) {
            char **p = (char **)((char *)c + rows[i].off);
            free(*p);
            *p = NULL;
        }
}
