/* cli_args.h — the option grammar of the rlaifv subcommands, one rule for all of them:
 * `--key value` and `--key=value` are the same; a number must be whole and in range
 * (`--timeout-ms abc` is an error, never a default); `--version` prints RLV_VERSION.
 * Owns nothing: it reads argv and prints its own error messages on stderr. */
#ifndef RLV_CLI_ARGS_H
#define RLV_CLI_ARGS_H

#include <stddef.h>

typedef struct cli_arg {
    const char *cmd;    /* "rlaifv eval": prefix of every message */
    char name[64];      /* the option, "--key" (also for "--key=value") */
    const char *value;  /* the text after '=', or NULL until cli_value() */
    int has_inline;     /* 1 when the value came after '=' */
} cli_arg;

/* Splits argv[i] into a->name (and a->value for "--key=value"). */
void cli_split(cli_arg *a, const char *cmd, const char *argv_i);

/* 1 when a is the flag `name`; a flag given "=value" is an error (-1, message printed). */
int cli_flag(const cli_arg *a, const char *name);

/* The option's value: the inline one, or argv[++*i]. NULL with "needs a value" printed. */
const char *cli_value(cli_arg *a, int argc, char **argv, int *i);

/* Whole numbers only, within [lo, hi]. 0, or -1 with the reason printed. */
int cli_int(const cli_arg *a, long lo, long hi, int *out);
int cli_size(const cli_arg *a, unsigned long long hi, size_t *out);
int cli_double(const cli_arg *a, double lo, double hi, int lo_open, double *out);

/* --server: one endpoint or a comma-separated list (rlv_client_count_endpoints); each must name
 * its transport: "127.0.0.1:5555" gets "write tcp://127.0.0.1:5555". 0, or -1 with the hint printed. */
int cli_endpoint(const cli_arg *a);

/* The default model of `score` and `eval` without --model and --server, the same as rlaifvd's:
 * the embedded demo pair (rlv_demo_dir). Sets eo's model_dir and ref_model_dir (static storage).
 * 0, or -1 with a message printed. */
struct rlv_engine_opts;
int cli_demo_models(const char *cmd, struct rlv_engine_opts *eo);

/* Prints "<cmd> <version>" (RLV_VERSION) on stdout. */
void cli_version(const char *cmd);

#endif
