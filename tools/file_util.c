/* file_util.c — file readers for the rlaifv subcommands (see file_util.h). */
#include "file_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *read_file(const char *path, size_t *len, char *msg, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = 0, c = 1 << 16;
    uint8_t *b = malloc(c);
    for (size_t got; b && (got = fread(b + n, 1, c - n, f)) > 0;) {
        n += got;
        if (n == c) {
            uint8_t *nb = realloc(b, c *= 2);
            if (!nb) { free(b); b = NULL; }
            else b = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        snprintf(msg, cap, "%s: %s", path, bad ? "read error" : "out of memory");
        return NULL;
    }
    *len = n;
    return b;
}

json_t *read_string_list(const char *path, char *msg, size_t cap) {
    size_t n;
    uint8_t *b = read_file(path, &n, msg, cap);
    if (!b) return NULL;
    json_error_t je;
    json_t *a = json_loadb((const char *)b, n, 0, &je);
    if (a && json_is_array(a)) {
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_is_string(json_array_get(a, i))) {
                snprintf(msg, cap, "%s: element %zu is not a string", path, i);
                json_decref(a);
                free(b);
                return NULL;
            }
        free(b);
        return a;
    }
    json_decref(a);
    /* One JSON string per line; if a line is not one, every line is a candidate as plain text. */
    for (int plain = 0; plain < 2; plain++) {
        a = json_array();
        int ok = 1;
        for (char *p = (char *)b, *end = (char *)b + n; ok && p < end;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (len && p[len - 1] == '\r') len--;
            size_t k = 0;
            while (k < len && (p[k] == ' ' || p[k] == '\t')) k++;
            if (k < len) {
                json_t *s = plain ? json_stringn(p, len) : json_loadb(p, len, JSON_DECODE_ANY, &je);
                if (!json_is_string(s)) {
                    ok = 0;
                    if (plain) snprintf(msg, cap, "%s: not UTF-8 text", path);
                }
                if (s) json_array_append_new(a, s);
            }
            p += (nl ? (size_t)(nl - p) : len) + 1;
        }
        if (ok) {
            free(b);
            return a;
        }
        json_decref(a);
    }
    free(b);
    return NULL;
}
