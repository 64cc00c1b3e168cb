/* cmd_keygen.c — `rlaifv keygen PREFIX`: a CurveZMQ key pair for rlaifvd or a client.
 * Writes PREFIX.key (public + secret, mode 0600) and PREFIX.pub (public only, to hand out:
 * a client's .pub goes into the daemon's --curve-allow-dir, the daemon's .pub to its clients). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "cmd.h"

static int write_file(const char *path, int mode, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        perror(path);
        return -1;
    }
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

int cmd_keygen(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: rlaifv keygen PREFIX\n"
                "  Writes PREFIX.key (key pair, mode 0600) and PREFIX.pub (public key) for CurveZMQ.\n"
                "  Refuses to overwrite existing files.\n");
        return argc == 2 ? 0 : 2;
    }
    char pub[41], sec[41], path[4096], text[256];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "rlaifv keygen: %s (libzmq without CURVE?)\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    snprintf(path, sizeof path, "%s.key", argv[1]);
    snprintf(text, sizeof text, "# rlaifv CurveZMQ key pair: keep secret\ncurve\n    public-key = \"%s\"\n"
             "    secret-key = \"%s\"\n", pub, sec);
    if (write_file(path, 0600, text)) return 1;
    snprintf(path, sizeof path, "%s.pub", argv[1]);
    snprintf(text, sizeof text, "# rlaifv CurveZMQ public key\ncurve\n    public-key = \"%s\"\n", pub);
    if (write_file(path, 0644, text)) return 1;
    memset(sec, 0, sizeof sec);
    printf("%s.key and %s.pub written (public key %s)\n", argv[1], argv[1], pub);
    return 0;
}
