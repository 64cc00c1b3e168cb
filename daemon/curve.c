/* curve.c — CURVE server set-up and the ZAP handler (RFC 27) checking client keys. */
#include "curve.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "err.h"
#include "log.h"
#include "rlaifv_proto.h"

#define MAX_KEYS 4096

static uint8_t (*g_keys)[32];
static int g_n_keys;
static void *g_zap;
static pthread_t g_thread;
static volatile int g_run;

static int allowed(const uint8_t *k) {
    for (int i = 0; i < g_n_keys; i++)
        if (!memcmp(g_keys[i], k, 32)) return 1;
    return 0;
}

/* ZAP: request = version, request id, domain, address, identity, mechanism, credentials... */
static void *zap_main(void *arg) {
    (void)arg;
    while (g_run) {
        zmq_pollitem_t it = {g_zap, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) <= 0) continue;
        zmq_msg_t part[8];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, g_zap, 0) < 0) { zmq_msg_close(&m); break; }
            more = zmq_msg_more(&m);
            if (n < 8) { zmq_msg_init(&part[n]); zmq_msg_move(&part[n++], &m); }
            zmq_msg_close(&m);
        }
        int ok = n >= 7 && zmq_msg_size(&part[5]) == 5 && !memcmp(zmq_msg_data(&part[5]), "CURVE", 5) &&
                 zmq_msg_size(&part[6]) == 32 && allowed(zmq_msg_data(&part[6]));
        const char *status = ok ? "200" : "400", *text = ok ? "OK" : "client key not allowed";
        zmq_send(g_zap, "1.0", 3, ZMQ_SNDMORE);
        if (n >= 2) zmq_send(g_zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
        else zmq_send(g_zap, "", 0, ZMQ_SNDMORE);
        zmq_send(g_zap, status, 3, ZMQ_SNDMORE);
        zmq_send(g_zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(g_zap, "", 0, ZMQ_SNDMORE); /* user id */
        zmq_send(g_zap, "", 0, 0);           /* metadata */
        if (!ok) log_msg(LOG_WARN, "CURVE: refused a client (%s)", n >= 7 ? "key not in the allow-list" : "malformed ZAP request");
        for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    }
    return NULL;
}

int curve_start(void *zctx, const char *allow_dir, rlv_err *err) {
    if (!allow_dir) return rlv_errf(err, RLV_EINVAL, "CURVE needs --curve-allow-dir (the allowed client public keys)");
    DIR *d = opendir(allow_dir);
    if (!d) return rlv_errf(err, RLV_EIO, "cannot open --curve-allow-dir %s", allow_dir);
    g_keys = calloc(MAX_KEYS, sizeof *g_keys);
    struct dirent *e;
    while (g_keys && (e = readdir(d)) && g_n_keys < MAX_KEYS) {
        if (e->d_name[0] == '.') continue;
        char p[4096], z[41];
        snprintf(p, sizeof p, "%s/%s", allow_dir, e->d_name);
        if (rlv_proto_read_curve_key(p, "public-key", z) == 0 && zmq_z85_decode(g_keys[g_n_keys], z)) g_n_keys++;
        else log_msg(LOG_WARN, "CURVE: %s holds no public key, ignored", p);
    }
    closedir(d);
    if (!g_keys) return rlv_errf(err, RLV_ENOMEM, "CURVE: out of memory for %d keys", MAX_KEYS);
    if (!g_n_keys) return rlv_errf(err, RLV_EINVAL, "CURVE: no client keys in %s: nobody could connect", allow_dir);
    g_zap = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    if (!g_zap || zmq_setsockopt(g_zap, ZMQ_LINGER, &linger, sizeof linger) || zmq_bind(g_zap, "inproc://zeromq.zap.01") != 0)
        return rlv_errf(err, RLV_EIO, "CURVE: cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
    g_run = 1;
    if (pthread_create(&g_thread, NULL, zap_main, NULL) != 0) {
        g_run = 0;
        return rlv_errf(err, RLV_ENOMEM, "CURVE: cannot start the ZAP thread");
    }
    log_msg(LOG_INFO, "CURVE: %d allowed client keys", g_n_keys);
    return 0;
}

int curve_server_setup(void *sock, const char *secret_file, rlv_err *err) {
    char pub[41], sec[41];
    struct stat st;
    if (stat(secret_file, &st) != 0 || access(secret_file, R_OK) != 0)
        return rlv_errf(err, RLV_EIO, "CURVE: cannot read the secret key file %s: %s (make one with `rlaifv keygen`)",
                        secret_file, strerror(errno));
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        log_msg(LOG_WARN, "CURVE: the secret key file %s is accessible to group or others (mode %03o): chmod 600 it",
                secret_file, (unsigned)(st.st_mode & 0777));
    if (rlv_proto_read_curve_key(secret_file, "secret-key", sec) != 0 || rlv_proto_read_curve_key(secret_file, "public-key", pub) != 0)
        return rlv_errf(err, RLV_EFORMAT, "CURVE: %s lacks public-key/secret-key lines (make one with `rlaifv keygen`)", secret_file);
    int one = 1;
    const char *domain = "rlaifv";
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) || zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40) ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain))) {
        memset(sec, 0, sizeof sec);
        return rlv_errf(err, RLV_EIO, "CURVE: %s", zmq_strerror(zmq_errno()));
    }
    memset(sec, 0, sizeof sec);
    return RLV_OK;
}

void curve_stop(void) {
    if (g_run) {
        g_run = 0;
        pthread_join(g_thread, NULL);
    }
    if (g_zap) zmq_close(g_zap);
    g_zap = NULL;
    free(g_keys);
    g_keys = NULL;
    g_n_keys = 0;
}
