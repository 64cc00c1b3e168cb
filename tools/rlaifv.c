/* rlaifv.c — the `rlaifv` command: one table of subcommands, each in tools/cmd_<name>.c.
 * Offline subcommands link core directly; none of them needs the daemon.
 * The option grammar is the same for all of them (cli_args.h): `--key=value` is split here into
 * `--key value` before the subcommand sees it, and `--version` works everywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cmd.h"
#include "prefix.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"inspect", cmd_inspect, "check a checkpoint directory: config, tensors, dtypes, manifest"},
    {"tokenize", cmd_tokenize, "JSON lines {\"text\"} in, {\"ids\"} out, with a tokenizer.json/.model"},
    {"score", cmd_score, "rank the candidates of one job (image + prompt) by the RLAIF-V reward"},
    {"eval", cmd_eval, "score a data set (JSON lines or array) offline or through rlaifvd: resumable, summary, report"},
    {"call", cmd_call, "send ping, info and/or stats to rlaifvd (--server ENDPOINT) and print the replies"},
    {"keygen", cmd_keygen, "make a CurveZMQ key pair for rlaifvd or a client"},
    {"convert", cmd_convert, "write a checkpoint (safetensors or pytorch_model.bin) as one safetensors file"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: rlaifv COMMAND [options]   (rlaifv COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--version")) {
            cli_version("rlaifv");
            return 0;
        }
    /* --key=value -> --key value: at most twice as many arguments */
    char **av = calloc((size_t)argc * 2 + 1, sizeof *av), **keys = calloc((size_t)argc, sizeof *keys);
    int ac = 0, nk = 0, rc = 2;
    for (int i = 0; av && keys && i < argc; i++) {
        const char *eq = i > 1 && prefix_skip(argv[i], "--") ? strchr(argv[i], '=') : NULL;
        if (eq) {
            av[ac++] = keys[nk++] = strndup(argv[i], (size_t)(eq - argv[i]));
            av[ac++] = (char *)eq + 1;
        } else {
            av[ac++] = argv[i];
        }
    }
    size_t i = 0;
    while (i < sizeof commands / sizeof commands[0] && strcmp(argv[1], commands[i].name)) i++;
    if (!av || !keys) rc = 1;
    else if (i < sizeof commands / sizeof commands[0]) rc = commands[i].run(ac - 1, av + 1);
    else {
        fprintf(stderr, "rlaifv: unknown command '%s'\n", argv[1]);
        usage(stderr);
    }
    while (nk > 0) free(keys[--nk]);
    free(keys);
    free(av);
    return rc;
}
