/* worker.c — one scoring thread (see worker.h). Protocol with the frontend over a DEALER:
 *   worker -> frontend: empty frame = ready (sent once at start);
 *                       8-byte job pointer = this job is done (and I am ready again);
 *   frontend -> worker: 8-byte job pointer = score it; empty frame = stop.
 * Only pointers cross the socket: the job slot's memory is shared, and ownership moves with
 * the message (frontend.c invariant 3). */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "rlaifv_proto.h"

/* Engine error -> stable wire code. */
static rlv_proto_code code_of(int rc) {
    switch (rc) {
    case RLV_EIMAGE: return RLV_PROTO_E_BAD_IMAGE;
    case RLV_EUNSUPPORTED: return RLV_PROTO_E_UNSUPPORTED_IMAGE;
    case RLV_ELIMIT: return RLV_PROTO_E_TOO_LARGE;
    case RLV_ETOO_LONG: return RLV_PROTO_E_TOO_LONG;
    case RLV_EINVAL: return RLV_PROTO_E_BAD_REQUEST;
    case RLV_ETIMEOUT: return RLV_PROTO_E_TIMEOUT;
    default: return RLV_PROTO_E_INTERNAL;
    }
}

static void score_job(rlvd_worker *self, rlv_worker *w, rlv_proto_reply *rep, rlv_proto_ranked *ranked, rlvd_job *j) {
    const rlv_proto_request *q = &j->req;
    rlv_job job = {
        .image = q->image, .image_len = q->image_len, .prompt = q->prompt, .prompt_len = q->prompt_len,
        .n_candidates = (int)q->n_candidates, .candidates = q->candidates, .candidate_lens = q->candidate_lens,
        .reward = q->reward, .beta = q->has_beta ? q->beta : RLV_DEFAULT_BETA,
        .token_logps = q->token_logps,
    };
    const rlv_result *res = NULL;
    rlv_err err = {0};
    rlv_proto_error perr;
    double t0 = clock_now_ms();
    int rc = rlv_score(w, &job, &res, &err);
    j->compute_ms = clock_now_ms() - t0;
    if (rc == RLV_OK && res->n <= self->max_candidates) {
        rlv_proto_score_result pr;
        rlv_proto_score_result_of(&pr, ranked, res, q->v);
        if (rlv_proto_reply_score(rep, q->id, q->id_len, &pr, &perr) == RLV_PROTO_OK) {
            j->outcome = "ok";
            j->stage_ms[0] = res->image_ms;
            j->stage_ms[1] = res->prefix_ms;
            j->stage_ms[2] = res->candidates_ms;
            for (int i = 0; i < res->n; i++) j->tokens += res->ranking[i].tokens;
        } else {
            rc = RLV_ENOMEM;
            snprintf(err.msg, sizeof err.msg, "encoding the reply: %.400s", perr.msg);
        }
    } else if (rc == RLV_OK) {
        rc = RLV_EINVAL;
        snprintf(err.msg, sizeof err.msg, "engine returned more candidates than the limit");
    }
    if (rc != RLV_OK) {
        rlv_proto_code code = code_of(rc);
        rlv_proto_reply_error(rep, q->id, q->id_len, code, "%s", err.msg);
        j->outcome = rlv_proto_code_name(code);
        snprintf(j->message, sizeof j->message, "%.200s", err.msg);
    }
    j->reply = rlv_proto_reply_release(rep, &j->reply_len);
}

static void *worker_main(void *arg) {
    rlvd_worker *self = arg;
    rlv_err err = {0};
    rlv_worker *w = NULL;
    rlv_proto_reply *rep = rlv_proto_reply_new();
    rlv_proto_ranked *ranked = calloc((size_t)self->max_candidates, sizeof *ranked);
    void *sock = zmq_socket(self->zctx, ZMQ_DEALER);
    int linger = 0;
    /* The ready frame carries the open status: a worker without its workspace stops here and
     * the daemon exits at start-up instead of answering every job `internal` (worker.h). */
    int32_t status = RLV_OK;
    if ((status = rlv_worker_open(&w, self->engine, &err)) != RLV_OK)
        log_msg(LOG_ERROR, "worker %d: %s [%s]", self->id, err.msg, rlv_err_name(status));
    else if (!rep || !ranked) {
        status = RLV_ENOMEM;
        log_msg(LOG_ERROR, "worker %d: out of memory for its reply builder (%d candidates)", self->id, self->max_candidates);
    }
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(sock, RLVD_BACKEND_EP) != 0 || zmq_send(sock, &status, sizeof status, 0) != (int)sizeof status) {
        log_msg(LOG_ERROR, "worker %d: cannot reach the frontend: %s", self->id, zmq_strerror(zmq_errno()));
        goto out;
    }
    if (status != RLV_OK) goto out;
    for (;;) {
        rlvd_job *j = NULL;
        int n = zmq_recv(sock, &j, sizeof j, 0);
        if (n < 0 && zmq_errno() == EINTR) continue;
        if (n != (int)sizeof j) break; /* empty frame: stop */
        score_job(self, w, rep, ranked, j);
        int sent;
        while ((sent = zmq_send(sock, &j, sizeof j, 0)) < 0 && zmq_errno() == EINTR) {}
        if (sent < 0) { /* inproc to a live frontend does not fail; if it does, the job is lost: say so */
            log_msg(LOG_ERROR, "worker %d: cannot hand a finished job back: %s", self->id, zmq_strerror(zmq_errno()));
            break;
        }
    }
out:
    if (sock) zmq_close(sock);
    rlv_worker_free(&w);
    rlv_proto_reply_free(&rep);
    free(ranked);
    return NULL;
}

int worker_start(rlvd_worker *w, rlv_err *err) {
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc) return rlv_errf(err, RLV_EIO, "cannot start worker %d's thread: %s", w->id, strerror(rc));
    w->started = 1;
    return RLV_OK;
}

void worker_join(rlvd_worker *w) {
    if (w->started) pthread_join(w->thread, NULL);
    w->started = 0;
}
