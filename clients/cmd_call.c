/* cmd_call.c — `rlaifv call --server ENDPOINT ping|info|stats`: one control request to rlaifvd,
 * the reply printed as JSON. Exit status 0 only on ok: true (scripts use `call ping` to wait). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "rlaifv_client.h"

int cmd_call(int argc, char **argv) {
    rlv_client_opts o = {.timeout_ms = 5000};
    const char *op = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: rlaifv call --server ENDPOINT [--timeout-ms N] [--server-key F --client-key F] "
                   "ping|info|stats\n");
            return 0;
        }
        if (a[0] != '-') { op = a; continue; }
        if (!v) { fprintf(stderr, "rlaifv call: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--server")) o.endpoint = v;
        else if (!strcmp(a, "--timeout-ms")) o.timeout_ms = atoi(v);
        else if (!strcmp(a, "--server-key")) o.server_key_file = v;
        else if (!strcmp(a, "--client-key")) o.client_key_file = v;
        else { fprintf(stderr, "rlaifv call: unknown option '%s'\n", a); return 2; }
    }
    if (!o.endpoint || !op) {
        fprintf(stderr, "rlaifv call: needs --server ENDPOINT and one of ping, info, stats\n");
        return 2;
    }
    char msg[256], *json = NULL;
    rlv_client *c = NULL;
    if (rlv_client_connect(&c, &o, msg, sizeof msg)) {
        fprintf(stderr, "rlaifv call: %s\n", msg);
        return 1;
    }
    rlv_client_error e;
    int rc = rlv_client_call(c, op, &json, &e);
    if (rc == 0) printf("%s\n", json);
    else fprintf(stderr, "rlaifv call: %s [%s]\n", e.message, e.code);
    free(json);
    rlv_client_destroy(&c);
    return rc == 0 ? 0 : 1;
}
