/* main.c — rlaifvd: settings, logging, the HTTP listener (answering `loading` meanwhile), the
 * engine, then the frontend until SIGTERM/SIGINT, then the HTTP listener's last answers. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>

#include "frontend.h"
#include "http.h"
#include "log.h"
#include "rlaifv.h"
#include "settings.h"

static void on_signal(int sig) {
    if (sig == SIGTERM || sig == SIGINT) rlvd_stop = 1;
    else rlvd_signal = sig;
}

int main(int argc, char **argv) {
    rlvd_settings cfg;
    char msg[512];
    settings_defaults(&cfg);
    int rc = settings_parse(&cfg, argc, argv, msg, sizeof msg);
    if (rc != 0) {
        if (rc < 0) fprintf(stderr, "rlaifvd: %s\n", msg);
        settings_free(&cfg);
        return rc < 0 ? 2 : 0;
    }
    rlv_err lerr = {0};
    if (log_init(cfg.log_level, cfg.log_format, &lerr)) {
        fprintf(stderr, "rlaifvd: %s\n", lerr.msg);
        settings_free(&cfg);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: zmq_poll returns EINTR and the loop sees the flag */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* their default action kills the process mid-job with nothing logged (issue 18) */
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rlv_engine_opts o;
    rlv_engine_opts_default(&o);
    o.model_dir = cfg.model;
    o.ref_model_dir = cfg.ref_model;
    o.max_candidates = cfg.max_candidates;
    o.max_seq_tokens = cfg.max_seq_tokens;
    o.max_total_tokens = cfg.max_total_tokens;
    o.max_image_side = cfg.max_image_side;
    o.max_image_pixels = cfg.max_image_pixels;
    o.cache_bytes = (size_t)cfg.cache_mb << 20;
    o.prefix_cache_bytes = (size_t)cfg.prefix_cache_mb << 20;
    o.blas_threads = cfg.blas_threads;
    o.max_job_ms = cfg.max_job_ms;
    if (rlv_compute_parse(cfg.compute, &o.compute) != RLV_OK) o.compute = RLV_COMPUTE_FP32;  /* the table allows fp32|bf16 only */
    if (rlv_repack_parse(cfg.repack_weights, &o.repack) != RLV_OK) o.repack = RLV_REPACK_OFF; /* off|auto|on only */
    if (rlv_stream_parse(cfg.stream_weights, &o.stream) != RLV_OK) o.stream = RLV_STREAM_AUTO; /* off|auto|on only */
    void *zctx = zmq_ctx_new();
    rlvd_http *http = NULL;
    rlv_err err = {0};
    if (!zctx || http_start(&http, &cfg, zctx, &err) != RLV_OK) {
        if (zctx) log_msg(LOG_ERROR, "%s", err.msg);
        else log_msg(LOG_ERROR, "cannot create the ZeroMQ context: %s", zmq_strerror(zmq_errno()));
        if (zctx) zmq_ctx_term(zctx);
        settings_free(&cfg);
        return 1;
    }
    rlv_engine *e = NULL;
    if (cfg.demo)
        log_msg(LOG_WARN, "serving the embedded demo pair %s: a tiny model to try rlaifvd with, not the RLAIF-V "
                          "reward (give --model DIR --ref-model DIR); info says \"demo\": true", cfg.model);
    log_msg(LOG_INFO, "loading %s%s%s", cfg.model, cfg.ref_model ? " and reference " : "", cfg.ref_model ? cfg.ref_model : "");
    if (rlv_engine_open(&e, &o, &err) != RLV_OK) {
        log_msg(LOG_ERROR, "cannot load the model: %s [%s]", err.msg, rlv_err_name(err.code));
        rlvd_phase_now = RLVD_STOPPED;
        http_stop(&http);
        zmq_ctx_term(zctx);
        settings_free(&cfg);
        return 1;
    }
    rlv_engine_info in;
    rlv_engine_get_info(e, &in);
    log_msg(LOG_INFO, "model loaded: %.2f GB of weights (%.2f GB shared between policy and reference)",
            in.weight_bytes / 1e9, in.shared_bytes / 1e9);
    log_msg(LOG_INFO, "products on the %s kernel (CPU: %s, compute %s); transparent huge pages: %s", in.kernel, in.cpu,
            cfg.compute, in.huge_pages);
    if (strcmp(in.huge_pages, "always") && strcmp(in.huge_pages, "madvise"))
        log_msg(LOG_WARN, "transparent huge pages are %s here: the workspaces stay on 4 KB pages and the products run "
                          "~6%% slower (docs/operations.md, \"Huge pages\")", in.huge_pages);
    err = (rlv_err){0};
    rc = frontend_run(&cfg, e, zctx, &err);
    if (rc != RLV_OK) log_msg(LOG_ERROR, "%s", err.msg);
    rlvd_phase_now = RLVD_STOPPED;
    http_stop(&http);
    zmq_ctx_term(zctx);
    rlv_engine_free(&e);
    settings_free(&cfg);
    return rc == 0 ? 0 : 1;
}
