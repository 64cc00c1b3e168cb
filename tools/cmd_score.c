/* cmd_score.c — `rlaifv score`: one job (image + prompt + candidates) scored offline with the
 * engine linked in or by rlaifvd (--server), printed as the daemon's score reply JSON either way
 * (reply_json.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cmd.h"
#include "file_util.h"
#include "reply_json.h"
#include "rlaifv_client.h"
#include "rlaifv.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: rlaifv score [--model DIR [--ref-model DIR]] [--image FILE] --prompt TEXT\n"
            "                    (--candidate TEXT)... | --candidates FILE\n"
            "                    [--reward rlaifv|dpo|logp_mean|logp_sum] [--beta B] [--token-logps]\n"
            "                    [--blas-threads N] [--compute fp32|bf16] [--prefix-cache-mb MB] [--text]\n"
            "       rlaifv score --server ENDPOINT[,ENDPOINT...] [--server-key FILE.pub --client-key FILE.key]\n"
            "                    [--timeout-ms N] [--retries N] (the same job options, without --model)\n"
            "  Ranks the candidates by the RLAIF-V reward and prints the result as JSON.\n"
            "  --candidates FILE: a JSON array of strings, one JSON string per line, or plain text lines\n"
            "  (one candidate per line). Without --model and --server: the embedded demo pair, as rlaifvd.\n"
            "  Several --server endpoints: the job goes to one, and to another if it answers busy or\n"
            "  shutting_down, does not answer in time or drops the connection (docs/scaling.md).\n"
            "  --server http://HOST:PORT: rlaifvd's HTTP front end or a load balancer (docs/http.md);\n"
            "  --api-key-file F sends F's first line as the Bearer key.\n"
            "  Options take `--key value` or `--key=value`; --version prints the version.\n"
            "  Default reward: rlaifv with --ref-model, logp_mean without. Default beta: 0.1.\n"
            "  --text: a readable ranking table instead of JSON (candidates cut at 70 bytes, never inside a\n"
            "  UTF-8 character). Without --image the text is scored alone.\n");
}

/* The ranking as a table: rank, reward, mean log-probs, the candidate (one line, cut at 70 bytes). */
static void print_text(const rlv_proto_score_result *res, const char **cands) {
    printf("reward: %s (beta %g)\n", res->reward_kind, res->beta);
    printf("%-4s %12s %12s %12s  %s\n", "rank", "reward", "policy_mean", "ref_mean", "candidate");
    for (size_t i = 0; i < res->n; i++) {
        const rlv_proto_ranked *r = &res->ranking[i];
        int idx = r->index;
        char line[80];
        size_t len = strlen(cands[idx]), cut = len > 70 ? 70 : len;
        while (cut < len && cut > 0 && ((unsigned char)cands[idx][cut] & 0xC0) == 0x80) cut--; /* not inside a character */
        snprintf(line, sizeof line, "%.*s%s", (int)cut, cands[idx], cut < len ? "..." : "");
        for (char *p = line; *p; p++)
            if (*p == '\n' || *p == '\t') *p = ' ';
        char refs[32] = "-";
        if (res->has_reference) snprintf(refs, sizeof refs, "%.4f", r->reference.logp_mean);
        printf("%-4zu %12.6f %12.4f %12s  [%d] %s\n", i + 1, r->reward, r->policy.logp_mean, refs, idx, line);
    }
    printf("time: %.1f ms (image %.1f, prefix %.1f, candidates %.1f)\n", res->total_ms, res->image_ms, res->prefix_ms,
           res->candidates_ms);
}

/* The result as --text's table, or as the daemon's reply JSON (offline the same text). */
static void print_result(const rlv_proto_score_result *res, const char **cands, int text) {
    if (text) {
        print_text(res, cands);
        return;
    }
    json_t *out = score_result_json(res);
    char *js = json_dumps(out, REPLY_JSON_FLAGS);
    if (js) printf("%s\n", js);
    free(js);
    json_decref(out);
}

/* The same job through rlaifvd: the daemon's reply is the same result (docs/protocol.md). */
static int score_remote(const rlv_client_opts *co, const uint8_t *img, size_t img_len, const char *prompt,
                        const char **cands, int n, rlv_reward_kind reward, double beta, int token_logps, int text) {
    rlv_client_error e;
    rlv_client *c = NULL;
    if (rlv_client_connect(&c, co, &e)) {
        fprintf(stderr, "rlaifv score: %s\n", e.message);
        return 1;
    }
    rlv_client_job job = {.image = img, .image_len = img_len, .prompt = prompt, .candidates = cands,
                          .n_candidates = n, .reward = rlv_reward_name(reward), .beta = beta,
                          .token_logps = token_logps, .deadline_ms = -1};
    rlv_proto_score_result *res = NULL;
    int rc = rlv_client_score(c, &job, &res, &e);
    if (rc == 0) print_result(res, cands, text);
    else fprintf(stderr, "rlaifv score: %s [%s]\n", e.message, e.name);
    rlv_client_result_free(&res);
    rlv_client_destroy(&c);
    return rc == 0 ? 0 : 1;
}

int cmd_score(int argc, char **argv) {
    rlv_engine_opts o;
    rlv_engine_opts_default(&o);
    const char *image = NULL, *prompt = NULL, *cand_file = NULL;
    const char **cands = calloc((size_t)argc, sizeof *cands);
    int n = 0, token_logps = 0, text = 0, rc = 1;
    rlv_reward_kind reward = RLV_REWARD_DEFAULT;
    double beta = RLV_DEFAULT_BETA;
    rlv_client_opts co = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); free(cands); return 0; }
        if (!strcmp(a, "--token-logps")) { token_logps = 1; continue; }
        if (!strcmp(a, "--text")) { text = 1; continue; }
        if (!v) { fprintf(stderr, "rlaifv score: %s needs a value\n", a); free(cands); return 2; }
        i++;
        cli_arg ca; /* the number checks of cli_args.h */
        cli_split(&ca, "rlaifv score", a);
        ca.value = v;
        size_t mb = 0;
        int bad = 0;
        if (!strcmp(a, "--model")) o.model_dir = v;
        else if (!strcmp(a, "--ref-model")) o.ref_model_dir = v;
        else if (!strcmp(a, "--image")) image = v;
        else if (!strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--candidate")) cands[n++] = v;
        else if (!strcmp(a, "--candidates")) cand_file = v;
        else if (!strcmp(a, "--blas-threads")) bad = cli_int(&ca, 1, 1024, &o.blas_threads);
        else if (!strcmp(a, "--prefix-cache-mb")) bad = cli_size(&ca, 1u << 30, &mb), o.prefix_cache_bytes = mb << 20;
        else if (!strcmp(a, "--compute") && rlv_compute_parse(v, &o.compute) != RLV_OK)
            fprintf(stderr, "rlaifv score: --compute must be fp32 or bf16\n"), bad = 1;
        else if (!strcmp(a, "--compute")) {}
        else if (!strcmp(a, "--server")) bad = cli_endpoint(&ca), co.endpoint = v;
        else if (!strcmp(a, "--server-key")) co.server_key_file = v;
        else if (!strcmp(a, "--client-key")) co.client_key_file = v;
        else if (!strcmp(a, "--api-key-file")) co.api_key_file = v;
        else if (!strcmp(a, "--timeout-ms")) bad = cli_int(&ca, 1, 86400000, &co.timeout_ms);
        else if (!strcmp(a, "--retries")) bad = cli_int(&ca, 0, 100, &co.retries);
        else if (!strcmp(a, "--beta")) bad = cli_double(&ca, 0, 1e6, 1, &beta);
        else if (!strcmp(a, "--reward") && rlv_reward_parse(v, &reward))
            fprintf(stderr, "rlaifv score: unknown reward '%s' (rlaifv, dpo, logp_mean, logp_sum)\n", v), bad = 1;
        else if (!strcmp(a, "--reward")) {}
        else {
            fprintf(stderr, "rlaifv score: unknown option '%s'\n", a);
            usage(stderr);
            bad = 1;
        }
        if (bad) {
            free(cands);
            return 2;
        }
    }
    json_t *cand_json = NULL;
    size_t img_len = 0;
    uint8_t *img = NULL;
    rlv_engine *e = NULL;
    rlv_worker *w = NULL;
    size_t *lens = NULL;
    char msg[512];
    if (!prompt || (!n && !cand_file) || (n && cand_file) || (co.endpoint && (o.model_dir || o.ref_model_dir)) ||
        (!o.model_dir && o.ref_model_dir)) {
        fprintf(stderr, "rlaifv score: needs --prompt and --candidate... or --candidates, and --model [--ref-model],\n"
                        "  --server, or neither (the demo pair)\n");
        rc = 2;
        goto done;
    }
    if (!co.endpoint && !o.model_dir && cli_demo_models("rlaifv score", &o)) /* the same default as rlaifvd */
        goto done;
    if (cand_file) {
        if (!(cand_json = read_string_list(cand_file, msg, sizeof msg))) {
            fprintf(stderr, "rlaifv score: %s\n", msg);
            goto done;
        }
        n = (int)json_array_size(cand_json);
        const char **more = realloc(cands, (n > 0 ? (size_t)n : 1u) * sizeof *cands);
        if (!more) goto done;
        cands = more;
        for (int i = 0; i < n; i++) cands[i] = json_string_value(json_array_get(cand_json, (size_t)i));
    }
    if (image && !(img = read_file(image, &img_len, msg, sizeof msg))) {
        fprintf(stderr, "rlaifv score: %s\n", msg);
        goto done;
    }
    lens = calloc(n > 0 ? (size_t)n : 1u, sizeof *lens);
    if (!lens) goto done;
    for (int i = 0; i < n; i++) lens[i] = strlen(cands[i]);
    if (co.endpoint) {
        rc = score_remote(&co, img, img_len, prompt, cands, n, reward, beta, token_logps, text);
        goto done;
    }
    rlv_err err = {0};
    if (rlv_engine_open(&e, &o, &err) || rlv_worker_open(&w, e, &err)) {
        fprintf(stderr, "rlaifv score: %s [%s]\n", err.msg, rlv_err_name(err.code));
        goto done;
    }
    rlv_job job = {.image = img, .image_len = img_len, .prompt = prompt, .prompt_len = strlen(prompt),
                   .n_candidates = n, .candidates = cands, .candidate_lens = lens, .reward = reward,
                   .beta = beta, .token_logps = token_logps};
    const rlv_result *res;
    if (rlv_score(w, &job, &res, &err)) {
        fprintf(stderr, "rlaifv score: %s [%s]\n", err.msg, rlv_err_name(err.code));
        goto done;
    }
    rlv_proto_ranked *ranked = malloc(((size_t)res->n + 1) * sizeof *ranked);
    if (!ranked) goto done;
    rlv_proto_score_result pr;
    rlv_proto_score_result_of(&pr, ranked, res, RLV_PROTO_VERSION);
    print_result(&pr, cands, text);
    free(ranked);
    rc = 0;
done:
    rlv_worker_free(&w);
    rlv_engine_free(&e);
    free(img);
    free(lens);
    free(cands);
    json_decref(cand_json);
    return rc;
}
