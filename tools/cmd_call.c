/* cmd_call.c — `rlaifv call --server ENDPOINT OP...`: control requests (ping, info, stats) to
 * rlaifvd, in order on one connection, each reply printed as JSON. Exit status 0 only
 * when every reply is ok: true (scripts use `call ping` to wait for a daemon). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cmd.h"
#include "rlaifv_client.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rlaifv call --server ENDPOINT[,ENDPOINT...] [--timeout-ms N] [--server-key F --client-key F] OP...\n"
               "  OP: ping, info or stats; several are sent in order on one connection, each reply printed\n"
               "  as JSON. --timeout-ms: per request, 1..86400000, default 5000. Several endpoints: each op\n"
               "  goes to one of them (the first free; another if it does not answer), as score requests do.\n"
               "  http://HOST:PORT: ping is GET /health, info GET /v1/models (--api-key-file F), no stats.\n"
               "  Options take `--key value` or `--key=value`. Exit status 0 when every reply is ok.\n");
}

int cmd_call(int argc, char **argv) {
    rlv_client_opts o = {.timeout_ms = 5000};
    const char **ops = calloc((size_t)argc, sizeof *ops);
    int n_ops = 0, rc = 2;
    if (!ops) return 1;
    for (int i = 1; i < argc; i++) {
        cli_arg a;
        cli_split(&a, "rlaifv call", argv[i]);
        if (!strcmp(a.name, "--help") || !strcmp(a.name, "-h")) {
            usage(stdout);
            free(ops);
            return 0;
        }
        if (argv[i][0] != '-') {
            if (strcmp(argv[i], "ping") && strcmp(argv[i], "info") && strcmp(argv[i], "stats")) {
                fprintf(stderr, "rlaifv call: '%s' is not an op (ping, info, stats)\n", argv[i]);
                goto out;
            }
            ops[n_ops++] = argv[i];
            continue;
        }
        const char *v = cli_value(&a, argc, argv, &i);
        if (!v) goto out;
        if (!strcmp(a.name, "--server")) {
            o.endpoint = v;
            if (cli_endpoint(&a)) goto out;
        } else if (!strcmp(a.name, "--timeout-ms")) {
            if (cli_int(&a, 1, 86400000, &o.timeout_ms)) goto out;
        } else if (!strcmp(a.name, "--server-key")) o.server_key_file = v;
        else if (!strcmp(a.name, "--client-key")) o.client_key_file = v;
        else if (!strcmp(a.name, "--api-key-file")) o.api_key_file = v;
        else {
            fprintf(stderr, "rlaifv call: unknown option '%s'\n", a.name);
            goto out;
        }
    }
    if (!o.endpoint || !n_ops) {
        fprintf(stderr, "rlaifv call: needs --server ENDPOINT and one or more of ping, info, stats\n");
        goto out;
    }
    rlv_client_error ce;
    rlv_client *c = NULL;
    if (rlv_client_connect(&c, &o, &ce)) {
        fprintf(stderr, "rlaifv call: %s\n", ce.message);
        rc = 1;
        goto out;
    }
    rc = 0;
    for (int k = 0; k < n_ops; k++) {
        char *json = NULL;
        rlv_client_error e;
        if (rlv_client_call(c, ops[k], &json, &e) == 0) {
            printf("%s\n", json);
        } else {
            fprintf(stderr, "rlaifv call: %s: %s [%s]\n", ops[k], e.message, e.name);
            rc = 1;
        }
        free(json);
    }
    rlv_client_destroy(&c);
out:
    free(ops);
    return rc;
}
