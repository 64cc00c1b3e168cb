/* rlaifv.c — the `rlaifv` command: one table of subcommands, each in clients/cmd_<name>.c.
 * Offline subcommands link core directly; none of them needs the daemon. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"inspect", cmd_inspect, "check a checkpoint directory: config, tensors, dtypes, manifest"},
    {"tokenize", cmd_tokenize, "JSON lines {\"text\"} in, {\"ids\"} out, with a tokenizer.json/.model"},
    {"score", cmd_score, "rank the candidates of one job (image + prompt) by the RLAIF-V reward"},
    {"eval", cmd_eval, "score a JSONL data set offline (resumable), with a summary"},
    {"call", cmd_call, "send ping, info or stats to rlaifvd (--server ENDPOINT) and print the reply"},
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
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "rlaifv: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
