/* job.c — the fixed pool of job slots (see job.h). */
#include "job.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int job_pool_init(rlvd_pool *p, int n, rlv_err *err) {
    memset(p, 0, sizeof *p);
    p->jobs = calloc((size_t)n, sizeof *p->jobs);
    p->free_list = calloc((size_t)n, sizeof *p->free_list);
    if (!p->jobs || !p->free_list) {
        job_pool_free(p);
        return rlv_errf(err, RLV_ENOMEM, "out of memory for %d job slots", n);
    }
    p->n = n;
    for (int i = 0; i < n; i++) {
        p->jobs[i].slot = i;
        p->free_list[p->n_free++] = n - 1 - i;
    }
    return RLV_OK;
}

rlvd_job *job_alloc(rlvd_pool *p) {
    if (!p->n_free) return NULL;
    rlvd_job *j = &p->jobs[p->free_list[--p->n_free]];
    j->n_env = 0;
    zmq_msg_init(&j->body);
    j->reply = NULL;
    j->reply_len = 0;
    j->outcome = NULL;
    j->message[0] = 0;
    j->deadline_ms = 0;
    j->held_bytes = 0;
    j->src_fd = -1;
    j->epoch = 0;
    j->waiting = 0;
    j->compute_ms = 0;
    j->stage_ms[0] = j->stage_ms[1] = j->stage_ms[2] = 0;
    j->tokens = 0;
    j->http = 0;
    j->t_dispatch_ms = 0;
    return j;
}

void job_release(rlvd_pool *p, rlvd_job *j) {
    for (int i = 0; i < j->n_env; i++) zmq_msg_close(&j->env[i]);
    j->n_env = 0;
    zmq_msg_close(&j->body);
    if (j->waiting) zmq_msg_close(&j->out);
    j->waiting = 0;
    free(j->reply);
    j->reply = NULL;
    p->free_list[p->n_free++] = j->slot;
}

void job_pool_free(rlvd_pool *p) {
    if (p->jobs)
        for (int i = 0; i < p->n; i++) rlv_proto_request_free(&p->jobs[i].req);
    free(p->jobs);
    free(p->free_list);
    memset(p, 0, sizeof *p);
}
