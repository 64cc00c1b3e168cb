/* demo_dir.c — where the embedded demo pair is (see rlv_demo_dir in rlaifv.h): found from the
 * running executable's own path, so an installed tree and a build tree both work and no absolute
 * path is compiled in. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rlaifv.h"

static int has_pair(const char *dir) {
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/policy/config.json", dir);
    if (access(p, R_OK)) return 0;
    snprintf(p, sizeof p, "%s/reference/config.json", dir);
    return access(p, R_OK) == 0;
}

int rlv_demo_dir(char *out, size_t cap) {
    /* installed: <prefix>/bin/X; build tree: <src>/build[/<type>]/<folder>/X */
    static const char *rel[] = {"/../share/rlaifv/demo", "/../../models/demo", "/../../../models/demo",
                                "/../../../../models/demo"};
    char exe[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = 0;
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char p[PATH_MAX], real[PATH_MAX];
        snprintf(p, sizeof p, "%s%s", exe, rel[i]);
        if (has_pair(p) && realpath(p, real) && strlen(real) < cap) {
            memcpy(out, real, strlen(real) + 1);
            return 0;
        }
    }
    return -1;
}
