/* keyfile.c — CurveZMQ key files as `rlaifv keygen` writes them (CZMQ zcert style):
 *   public-key = "Z85"   and, in the secret file, secret-key = "Z85"
 * A bare 40-character Z85 line is accepted as a public key. Shared by rlaifvd and the clients. */
#include <stdio.h>
#include <string.h>

#include "rlaifv_proto.h"

int rlv_proto_read_curve_key(const char *path, const char *name, char key[41]) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#') continue;
        char *q = strstr(p, name);
        if (q) {
            q = strchr(q, '=');
            if (!q) continue;
            q++;
            while (*q == ' ' || *q == '"') q++;
        } else if (!strcmp(name, "public-key")) {
            q = p; /* a bare key line */
        } else {
            continue;
        }
        size_t n = strspn(q, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#");
        if (n == 40) {
            memcpy(key, q, 40);
            key[40] = 0;
            found = 0;
        }
    }
    fclose(f);
    return found;
}

