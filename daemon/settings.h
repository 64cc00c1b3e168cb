/* settings.h — rlvd_settings: every setting of rlaifvd, driven by ONE table (settings.c) that serves
 * the command-line flags, the optional config file (same keys), --help and the `info` op.
 * Owns: parsing and validation of settings; the strings it holds are owned by the struct
 * (settings_free). Knows nothing of sockets or the model. */
#ifndef RLVD_SETTINGS_H
#define RLVD_SETTINGS_H

#include <stdint.h>
#include <stdio.h>

typedef struct rlvd_settings {
    char *model;               /* policy checkpoint dir */
    char *ref_model;           /* reference checkpoint dir or NULL */
    char *bind;                /* ZeroMQ endpoint */
    int workers;
    int blas_threads;
    char *compute;             /* fp32|bf16: how weight products compute */
    char *repack_weights;      /* off|auto|on: weights repacked at load (rlv_engine_opts.repack) */
    char *stream_weights;      /* off|auto|on: decoder layers read directly (rlv_engine_opts.stream) */
    int max_queue;             /* jobs waiting before `busy` */
    int max_job_ms;            /* a running job past it stops at the next layer and is answered `timeout`; 0 = none */
    int reply_hold_ms;         /* how long a reply waits for a client that does not read (its pipe full) */
    int max_peer_jobs;         /* score jobs one routing id may have queued or running before `busy`; 0 = no limit */
    int64_t max_queued_bytes;  /* request bytes held by queued + running score jobs before `busy` */
    int64_t max_message_bytes;
    int64_t max_image_bytes;
    int64_t max_image_pixels;
    int max_image_side;
    int max_candidates;
    int64_t max_candidate_bytes;
    int64_t max_prompt_bytes;
    int max_seq_tokens;
    int max_total_tokens;
    int cache_mb;
    int prefix_cache_mb;
    char *log_level;           /* debug|info|warn|error */
    char *log_format;          /* text|json */
    char *curve_secret_file;   /* server key pair file (CurveZMQ) */
    char *curve_allow_dir;     /* directory of allowed client public keys */
    int insecure;              /* allow a non-loopback bind without CURVE (ZeroMQ) or an API key (HTTP) */
    char *http_bind;           /* HTTP listener "[HOST:]PORT" or NULL (off); no host = loopback */
    int http_max_connections;  /* open HTTP connections at once (more are refused) */
    int http_timeout_s;        /* an HTTP connection idle (or a body not arriving) this long is closed */
    char *api_key_file;        /* HTTP: Bearer token file; required off loopback unless insecure */
    char *tls_cert_file;       /* HTTP over TLS: PEM certificate (chain) */
    char *tls_key_file;        /* HTTP over TLS: PEM private key */
    char *config_file;
    int demo;                  /* not a setting: 1 when neither --model nor --ref-model was given and the
                                  embedded demo pair is served (logged as a warning, `info` says "demo") */
} rlvd_settings;

/* Fills every field with its default from the table. */
void settings_defaults(rlvd_settings *c);

/* Parses argv (flags override the config file named by --config). Returns 0 on success,
 * 1 when --help or --version was printed (exit 0), -1 on error with a message in err[errcap]. */
int settings_parse(rlvd_settings *c, int argc, char **argv, char *err, size_t errcap);

/* Applies one setting by key ("max-queue", "64"). Returns 0 or -1 with a message. */
int settings_set(rlvd_settings *c, const char *key, const char *value, char *err, size_t errcap);

/* Reads `key value` / `key = value` lines ('#' comments). Returns 0 or -1 with a message naming the line. */
int settings_load_file(rlvd_settings *c, const char *path, char *err, size_t errcap);

/* Writes the --help text (every key, type, default, range, meaning). */
void settings_help(FILE *f);

/* Calls fn(ctx, key, value-as-text) for every setting (for `info` and the start-up log). */
void settings_each(const rlvd_settings *c, void (*fn)(void *ctx, const char *key, const char *value), void *ctx);

void settings_free(rlvd_settings *c);

#endif
