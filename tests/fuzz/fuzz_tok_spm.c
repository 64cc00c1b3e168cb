/* fuzz_tok_spm.c — arbitrary bytes as a tokenizer.model: the protobuf reader (spm_parse) and the
 * whole LlamaConverter load must return a value, never crash; a loaded tokenizer must encode and
 * decode a fixed text. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "spm.h"

static char dir[64];

static void cleanup(void) { rmdir(dir); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spm_model m;
    rlv_err err;
    if (spm_parse(&m, data, size, &err) == RLV_OK) {
        volatile uint32_t sink = 0;
        for (int i = 0; i < m.n_pieces; i++) sink ^= m.pieces[i].len ? (uint8_t)m.pieces[i].s[m.pieces[i].len - 1] : 0;
        (void)sink;
        spm_free(&m);
    }
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_tok_spm.XXXXXX");
        if (!mkdtemp(dir)) { dir[0] = 0; return 0; }
        atexit(cleanup);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    tok *t = NULL;
    if (tok_load(&t, dir, &err) == RLV_OK) {
        static const char text[] = " ab a\nb <s>x</s> \xE4\xB8\xAD\xF0\x9F\x98\x80";
        fuzz_tok_roundtrip(t, text, sizeof text - 1, 0);
        tok_free(&t);
    }
    unlink(path);
    return 0;
}
