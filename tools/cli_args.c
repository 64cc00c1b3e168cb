/* cli_args.c — option splitting and number checks for the rlaifv subcommands (see cli_args.h). */
#include "cli_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlaifv.h"
#include "rlaifv_client.h"
#include "prefix.h"

void cli_split(cli_arg *a, const char *cmd, const char *s) {
    a->cmd = cmd;
    a->value = NULL;
    a->has_inline = 0;
    const char *eq = prefix_skip(s, "--") ? strchr(s, '=') : NULL;
    size_t n = eq ? (size_t)(eq - s) : strlen(s);
    if (n >= sizeof a->name) n = sizeof a->name - 1;
    memcpy(a->name, s, n);
    a->name[n] = 0;
    if (eq) a->value = eq + 1, a->has_inline = 1;
}

int cli_flag(const cli_arg *a, const char *name) {
    if (strcmp(a->name, name)) return 0;
    if (a->has_inline) {
        fprintf(stderr, "%s: %s takes no value\n", a->cmd, name);
        return -1;
    }
    return 1;
}

const char *cli_value(cli_arg *a, int argc, char **argv, int *i) {
    if (a->has_inline) return a->value;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", a->cmd, a->name);
        return NULL;
    }
    return a->value = argv[++*i];
}

int cli_int(const cli_arg *a, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = a->value && *a->value ? strtol(a->value, &end, 10) : 0;
    if (!a->value || !*a->value || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "%s: %s must be a whole number from %ld to %ld, not '%s'\n", a->cmd, a->name, lo, hi,
                a->value ? a->value : "");
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_size(const cli_arg *a, unsigned long long hi, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = a->value && *a->value && *a->value != '-' ? strtoull(a->value, &end, 10) : 0;
    if (!a->value || !*a->value || *a->value == '-' || *end || errno || v > hi) {
        fprintf(stderr, "%s: %s must be a whole number from 0 to %llu, not '%s'\n", a->cmd, a->name, hi,
                a->value ? a->value : "");
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

int cli_double(const cli_arg *a, double lo, double hi, int lo_open, double *out) {
    char *end;
    double v = a->value && *a->value ? strtod(a->value, &end) : NAN;
    if (!a->value || !*a->value || *end || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) {
        fprintf(stderr, "%s: %s must be a number %s %g and <= %g, not '%s'\n", a->cmd, a->name, lo_open ? ">" : ">=",
                lo, hi, a->value ? a->value : "");
        return -1;
    }
    *out = v;
    return 0;
}

int cli_endpoint(const cli_arg *a) {
    rlv_client_error err;
    if (rlv_client_count_endpoints(a->value, &err) > 0) return 0;
    fprintf(stderr, "%s: %s: %s\n", a->cmd, a->name, err.message);
    return -1;
}

int cli_demo_models(const char *cmd, rlv_engine_opts *eo) {
    static char policy[4200], reference[4200];
    char demo[4096];
    if (rlv_demo_dir(demo, sizeof demo)) {
        fprintf(stderr, "%s: no --model given and the embedded demo pair is absent (share/rlaifv/demo next to the "
                        "executable, models/demo above a build tree)\n", cmd);
        return -1;
    }
    snprintf(policy, sizeof policy, "%s/policy", demo);
    snprintf(reference, sizeof reference, "%s/reference", demo);
    eo->model_dir = policy;
    eo->ref_model_dir = reference;
    return 0;
}

void cli_version(const char *cmd) { printf("%s %s\n", cmd, RLV_VERSION); }
