/* cmd_convert.c — `rlaifv convert MODEL OUT.safetensors`: writes every tensor of a checkpoint
 * (safetensors or pytorch_model.bin, single or sharded) into one safetensors file, bytes unchanged.
 * Views that share a storage in a .bin become separate ranges (safetensors forbids overlap).
 * Writes OUT.tmp, then renames, so a failed run leaves no half file under OUT.
 * `rlaifv convert --quantize q8 [--block B] [--keep NAME,...] IN_DIR OUT_DIR`: the q8 checkpoint directory of
 * docs/quantization.md, streamed (see convert_dir below); the arithmetic is core/q8.c's.
 * `rlaifv convert --panels [--compute fp32|bf16] IN_DIR OUT_DIR`: the same directory with the
 * products' weights stored in this machine's matrix kernel's panel layout (docs/panels.md); the
 * packing is core/mm.c's (mm_repack_fill), the choice of weights the models' own (*_model_repack). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "clock.h"
#include "hugemem.h"
#include "llm.h"
#include "mm.h"
#include "resampler.h"
#include "vit.h"
#include "cmd.h"
#include "model_config.h"
#include "half.h"
#include "manifest.h"
#include "q8.h"
#include "prefix.h"

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }


/* ---- `rlaifv convert --quantize q8 [--block B] [--keep NAME,...] IN_DIR OUT_DIR` (docs/quantization.md) ----
 * Design notes:
 * (1) Streaming: every output size is known from the input's shapes, so each shard's header is
 *     written first and the data follow with pwrite at their offsets. A weight is read RLV_Q8_CHUNK
 *     elements at a time (widened to f32, quantised by core/q8.c, written), and the input pages
 *     just read are dropped (ckpt_evict): resident memory stays ~30 MB + the file mappings' last
 *     chunk, whatever the checkpoint size.
 * (2) Which tensors: the manifest entries marked q8 (the weight matrices of decoder, ViT,
 *     resampler, lm_head, embed_tokens) but those named by --keep; everything else is copied byte
 *     for byte, in its dtype. --panels: the weights the models would repack at load
 *     (repack-weights, found by running their *_model_repack on a collecting mm_repack) whose rows
 *     are whole panels, but the token embeddings (read row by row, also when tied to lm_head);
 *     written panel block by panel block, same dtype, same shape, same bytes count.
 * (3) Layout: one output shard per input weight file, same tensors in the same order (a q8
 *     weight's scale right after it), named model.safetensors or model-0000i-of-0000n.safetensors,
 *     with model.safetensors.index.json when sharded. Every other regular file of IN_DIR (config,
 *     tokenizer files) is copied. The result is built in OUT_DIR.tmp and renamed at the end. */
#define RLV_Q8_CHUNK (4u << 20) /* elements per step: 16 MB of f32 */

enum { PLAN_COPY, PLAN_Q8, PLAN_SCALE, PLAN_PANEL };
#define PANEL_CHUNK ((size_t)32 << 20) /* bytes of panels packed per write */

/* What convert_dir makes: q8 (block, keep) or panels (pack: the collecting mm_repack, owned; its
 * layout; pbuf: pbuf_bytes for the panels of one write, at least one panel of every weight). */
typedef struct conv {
    int panels; /* 1: panels, else q8 */
    int block;
    const char *keep;
    mm_repack *pack;
    char layout[MM_LAYOUT_MAX];
    void *pbuf;
    size_t pbuf_bytes;
} conv;

/* Bytes of one panel of weight t: P of its rows. */
static size_t panel_bytes(const conv *cv, const rlv_tensor *t) {
    return (size_t)mm_repack_panel(cv->pack) * (size_t)(rlv_tensor_numel(t) / t->shape[0]) * rlv_dtype_size(t->dtype);
}

typedef struct plan_entry {
    const rlv_tensor *t;
    int kind, shard;
    rlv_dtype dt;
    int64_t shape[RLV_MAX_DIMS];
    int ndim;
    uint64_t nbytes, off; /* off: inside the shard's data area */
} plan_entry;

static int is_weight_file(const char *n) {
    size_t l = strlen(n);
    const char *suf[] = {".safetensors", ".bin", ".pt", ".pth", ".index.json"};
    for (size_t i = 0; i < sizeof suf / sizeof *suf; i++)
        if (l >= strlen(suf[i]) && !strcmp(n + l - strlen(suf[i]), suf[i])) return 1;
    return 0;
}

static int copy_file(const char *from, const char *to, char *msg, size_t cap) {
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char buf[1 << 16];
    size_t n;
    int ok = a && b;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    if (a && ferror(a)) ok = 0;
    if (b && fclose(b) != 0) ok = 0;
    if (a) fclose(a);
    if (!ok) snprintf(msg, cap, "copying %.400s to %.400s: %s", from, to, strerror(errno));
    return ok;
}

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off) {
    const uint8_t *s = p;
    while (n) {
        ssize_t w = pwrite(fd, s, n, (off_t)off);
        if (w <= 0) return 0;
        s += w, n -= (size_t)w, off += (uint64_t)w;
    }
    return 1;
}

/* Writes entries [e0, e1) of shard `shard` into path (header, then data streamed). */
static int write_shard(const ckpt *c, const plan_entry *p, int e0, int e1, const conv *cv, const char *path,
                       float *fbuf, int8_t *qbuf, uint16_t *sbuf, char *msg, size_t cap) {
    const int block = cv->block;
    json_t *h = json_object();
    for (int i = e0; i < e1; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < p[i].ndim; d++) json_array_append_new(shape, json_integer(p[i].shape[d]));
        char name[1024];
        snprintf(name, sizeof name, "%s%s", p[i].t->name, p[i].kind == PLAN_SCALE ? Q8_SCALE_SUFFIX : "");
        json_object_set_new(h, name, json_pack("{s:s, s:o, s:[I,I]}", "dtype", rlv_dtype_name(p[i].dt), "shape", shape,
                                               "data_offsets", (json_int_t)p[i].off, (json_int_t)(p[i].off + p[i].nbytes)));
    }
    char bs[16];
    snprintf(bs, sizeof bs, "%d", block);
    if (cv->panels) {
        json_t *md = json_pack("{s:s}", "format", "pt");
        char *names = NULL;
        size_t nl = 0;
        FILE *ns = open_memstream(&names, &nl);
        for (int i = e0; ns && i < e1; i++)
            if (p[i].kind == PLAN_PANEL) fprintf(ns, "%s%s", ftell(ns) ? "," : "", p[i].t->name);
        if (ns) fclose(ns);
        if (names && nl) {
            json_object_set_new(md, "rlaifv.panels", json_string(cv->layout));
            json_object_set_new(md, "rlaifv.panel_tensors", json_string(names));
        }
        free(names);
        json_object_set_new(h, "__metadata__", md);
    } else
        json_object_set_new(h, "__metadata__", json_pack("{s:s, s:s, s:s}", "format", "pt", "rlaifv.quant", "q8",
                                                         "rlaifv.q8_block", bs));
    char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!js) return snprintf(msg, cap, "%.900s: out of memory", path), 0;
    size_t jn = strlen(js), pad = (8 - jn % 8) % 8;
    uint64_t hl = jn + pad;
    uint8_t head[8];
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)(hl >> (8 * i));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = fd >= 0 && pwrite_all(fd, head, 8, 0) && pwrite_all(fd, js, jn, 8) && pwrite_all(fd, "        ", pad, 8 + jn);
    free(js);
    const uint64_t base = 8 + hl;
    for (int i = e0; ok && i < e1; i++) {
        const rlv_tensor *t = p[i].t;
        const uint8_t *src = t->data;
        if (p[i].kind == PLAN_SCALE) continue; /* written with its weight */
        if (p[i].kind == PLAN_PANEL) { /* note 2: whole panels, PANEL_CHUNK bytes (at least one panel) at a time */
            const int P = mm_repack_panel(cv->pack), np = (int)(t->shape[0] / P);
            const size_t pb = panel_bytes(cv, t);
            const int step = (int)(cv->pbuf_bytes / pb);
            for (int p0 = 0; ok && p0 < np; p0 += step) {
                int p1 = np - p0 < step ? np : p0 + step;
                mm_repack_fill(cv->pack, t, p0, p1, cv->pbuf);
                ok = pwrite_all(fd, cv->pbuf, (size_t)(p1 - p0) * pb, base + p[i].off + (uint64_t)p0 * pb);
                ckpt_evict(c, src + (size_t)p0 * pb, (size_t)(p1 - p0) * pb);
            }
            continue;
        }
        if (p[i].kind == PLAN_COPY) {
            for (uint64_t o = 0; ok && o < p[i].nbytes; o += RLV_Q8_CHUNK * 4u) {
                size_t n = p[i].nbytes - o < RLV_Q8_CHUNK * 4u ? (size_t)(p[i].nbytes - o) : RLV_Q8_CHUNK * 4u;
                ok = pwrite_all(fd, src + o, n, base + p[i].off + o);
                ckpt_evict(c, src + o, n);
            }
            continue;
        }
        const int64_t rows = t->shape[0], cols = t->shape[1], nb = cols / block;
        const int64_t step = (int64_t)RLV_Q8_CHUNK / cols > 0 ? (int64_t)RLV_Q8_CHUNK / cols : 1;
        const size_t es = rlv_dtype_size(t->dtype);
        const uint64_t soff = p[i + 1].off; /* the PLAN_SCALE entry follows */
        for (int64_t r0 = 0; ok && r0 < rows; r0 += step) {
            int64_t nr = rows - r0 < step ? rows - r0 : step, bad = 0;
            const uint8_t *s = src + (size_t)(r0 * cols) * es;
            half_to_f32_n(fbuf, s, t->dtype, (size_t)(nr * cols));
            ckpt_evict(c, s, (size_t)(nr * cols) * es);
            if (q8_quantize_rows(qbuf, sbuf, fbuf, nr, cols, block, &bad)) {
                bad += r0 * cols;
                snprintf(msg, cap, "'%s'[%lld][%lld] = %g: %s", t->name, (long long)(bad / cols), (long long)(bad % cols),
                         (double)fbuf[bad - r0 * cols], isfinite(fbuf[bad - r0 * cols]) ? "its block's scale overflows f16"
                                                                                         : "not finite, cannot be quantised");
                close(fd);
                return 0;
            }
            ok = pwrite_all(fd, qbuf, (size_t)(nr * cols), base + p[i].off + (uint64_t)(r0 * cols)) &&
                 pwrite_all(fd, sbuf, (size_t)(nr * nb) * 2, base + soff + (uint64_t)(r0 * nb) * 2);
        }
    }
    if (fd >= 0 && close(fd) != 0) ok = 0;
    if (!ok) snprintf(msg, cap, "%.900s: %s", path, strerror(errno));
    return ok;
}

/* Output shard of each input file: a memfd ckpt_pt.c made for an unaligned storage belongs to the file
 * loaded before it. Returns the number of shards. */
static int shard_map(const ckpt *c, int *map) {
    int s = -1;
    for (int i = 0; i < ckpt_n_files(c); i++) {
        if (s < 0 || !prefix_skip(ckpt_file(c, i), "/proc/self/fd/")) s++;
        map[i] = s;
    }
    return s + 1;
}

/* Note 2, --panels: into *set (name -> true) the tensors a panel file holds; cv->pack, cv->layout.
 * The models are bound only to be asked: nothing is copied. 0 and msg on an error. */
static int panel_set(conv *cv, mm_compute compute, const rlv_model_config *cfg, const ckpt *c, json_t *set, char *msg,
                     size_t cap) {
    rlv_err err = {0};
    llm_model *lm = NULL;
    vit_model *vm = NULL;
    resampler_model *rm = NULL;
    const rlv_tensor *emb = NULL;
    mm_repack **pack = &cv->pack;
    int rc = mm_repack_init(pack, compute, &err);
    if (!rc && !mm_panel_layout(compute, cv->layout))
        rc = rlv_errf(&err, RLV_EUNSUPPORTED, "no packed matrix kernel runs here (%s): nothing reads panels",
                      mm_kernel_for(compute));
    if (!rc) mm_repack_collect(*pack);
    if (!rc) rc = manifest_check(cfg, c, NULL, NULL, NULL, &err);
    if (!rc) rc = llm_model_init(&lm, c, cfg, &err);
    if (!rc) rc = vit_model_init(&vm, c, cfg, &err);
    if (!rc) rc = resampler_model_init(&rm, c, cfg, &err);
    if (!rc) rc = vit_model_repack(vm, *pack, c, &err);
    if (!rc) rc = resampler_model_repack(rm, *pack, c, &err);
    if (!rc) rc = llm_model_repack(lm, *pack, c, &err);
    if (!rc) rc = manifest_want(cfg, c, MT_LLM_EMBED, 0, &emb, &err);
    for (int i = 0; !rc && i < mm_repack_collected(*pack); i++)
        if (mm_repack_collected_tensor(*pack, i) != emb)
            json_object_set_new(set, mm_repack_collected_tensor(*pack, i)->name, json_true());
    llm_model_free(&lm);
    vit_model_free(&vm);
    resampler_model_free(&rm);
    if (rc) snprintf(msg, cap, "%s [%s]", err.msg, rlv_err_name(err.code));
    return !rc;
}

/* q8 (cv->keep: NULL, or tensor names separated by commas that stay as stored, each a q8 weight)
 * or panels (compute: whose kernel's layout). */
static int convert_dir(conv *cv, mm_compute compute, const char *in, const char *out) {
    const int block = cv->block;
    const char *keep = cv->keep;
    json_t *pset = json_object();
    char msg[1024] = "", p[4096], tmp[4096];
    rlv_err err = {0};
    rlv_model_config cfg;
    ckpt *c = NULL;
    manifest_entry *m = NULL;
    plan_entry *plan = NULL;
    int *map = NULL, n_m = 0, rc = 1, nq = 0;
    float *fbuf = NULL;
    int8_t *qbuf = NULL;
    uint16_t *sbuf = NULL;
    json_t *q8set = json_object(), *wmap = json_object();
    struct stat st;
    DIR *d = NULL;
    struct dirent *de;
    int made_tmp = 0;
    double t0_ms = clock_now_ms();
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    if (stat(in, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(msg, sizeof msg, "%s: not a checkpoint directory", in);
        goto done;
    }
    if (stat(out, &st) == 0) {
        snprintf(msg, sizeof msg, "%s exists; give a new directory", out);
        goto done;
    }
    snprintf(p, sizeof p, "%s/config.json", in);
    if (model_config_load(&cfg, p, &err) || manifest_build(&cfg, &m, &n_m, &err) || ckpt_open(&c, in, &err)) {
        snprintf(msg, sizeof msg, "%s [%s]", err.msg, rlv_err_name(err.code));
        goto done;
    }
    if (cv->panels && !panel_set(cv, compute, &cfg, c, pset, msg, sizeof msg)) goto done;
    for (int i = 0; !cv->panels && i < n_m; i++)
        if (m[i].q8) json_object_set_new(q8set, m[i].name, json_true());
    for (const char *k = keep; k && *k;) {
        size_t l = strcspn(k, ",");
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)(l < sizeof name ? l : sizeof name - 1), k);
        if (json_object_del(q8set, name)) {
            snprintf(msg, sizeof msg, "--keep '%.400s': not a weight this model quantises", name);
            goto done;
        }
        k += l + (k[l] == ',');
    }
    int n_t = ckpt_n_tensors(c), n_p = 0;
    plan = calloc((size_t)n_t * 2, sizeof *plan);
    map = calloc((size_t)ckpt_n_files(c), sizeof *map);
    fbuf = malloc(RLV_Q8_CHUNK * sizeof *fbuf);
    qbuf = malloc(RLV_Q8_CHUNK);
    sbuf = malloc(RLV_Q8_CHUNK * sizeof *sbuf);
    if (!plan || !map || !fbuf || !qbuf || !sbuf) {
        snprintf(msg, sizeof msg, "out of memory");
        goto done;
    }
    int n_s = shard_map(c, map);
    uint64_t *size = calloc((size_t)n_s, sizeof *size), in_bytes = 0, out_bytes = 0;
    if (!size) {
        snprintf(msg, sizeof msg, "out of memory");
        goto done;
    }
    /* Plan (note 2, 3): tensors are in file order, so each shard's entries are contiguous. */
    for (int i = 0; i < n_t; i++) {
        const rlv_tensor *t = ckpt_tensor(c, i);
        size_t l = strlen(t->name), sl = strlen(Q8_SCALE_SUFFIX);
        if (ckpt_panels(c, t)) { /* its rows are scrambled: convert the original */
            snprintf(msg, sizeof msg, "'%s': %s already stores panels (layout %s); convert the original checkpoint",
                     t->name, in, ckpt_panels(c, t));
            free(size);
            goto done;
        }
        if (cv->panels && t->dtype == RLV_I8) { /* its files' q8 metadata is not carried over */
            snprintf(msg, sizeof msg, "'%s': %s is a q8 checkpoint; panels are made from a bf16, f16 or f32 one", t->name,
                     in);
            free(size);
            goto done;
        }
        if (!cv->panels && (t->dtype == RLV_I8 || (l > sl && !strcmp(t->name + l - sl, Q8_SCALE_SUFFIX)))) {
            snprintf(msg, sizeof msg, "'%s': %s is already quantised (or holds a '%s' tensor)", t->name, in,
                     Q8_SCALE_SUFFIX);
            free(size);
            goto done;
        }
        int sh = map[t->shard], q = json_object_get(q8set, t->name) && t->ndim == 2;
        if (q && t->shape[1] > (int64_t)RLV_Q8_CHUNK) {
            snprintf(msg, sizeof msg, "'%s': rows of %lld elements, above this converter's %u", t->name,
                     (long long)t->shape[1], RLV_Q8_CHUNK);
            free(size);
            goto done;
        }
        if (q && t->shape[1] % block) {
            snprintf(msg, sizeof msg, "'%s': rows of %lld are not a multiple of the block size %d", t->name,
                     (long long)t->shape[1], block);
            free(size);
            goto done;
        }
        int pn = json_object_get(pset, t->name) != NULL;
        plan_entry *e = &plan[n_p++];
        *e = (plan_entry){.t = t, .kind = q ? PLAN_Q8 : pn ? PLAN_PANEL : PLAN_COPY, .shard = sh, .dt = q ? RLV_I8 : t->dtype,
                          .ndim = t->ndim, .off = size[sh]};
        memcpy(e->shape, t->shape, sizeof e->shape);
        e->nbytes = q ? (uint64_t)rlv_tensor_numel(t) : t->nbytes;
        size[sh] += e->nbytes;
        in_bytes += t->nbytes;
        if (q) {
            plan_entry *s = &plan[n_p++];
            *s = (plan_entry){.t = t, .kind = PLAN_SCALE, .shard = sh, .dt = RLV_F16, .ndim = 2, .off = size[sh]};
            s->shape[0] = t->shape[0], s->shape[1] = t->shape[1] / block;
            s->nbytes = (uint64_t)(s->shape[0] * s->shape[1]) * 2;
            size[sh] += s->nbytes;
            nq++;
        }
        nq += pn;
        if (pn && panel_bytes(cv, t) > cv->pbuf_bytes) /* one write's buffer: PANEL_CHUNK, or one panel where larger */
            cv->pbuf_bytes = panel_bytes(cv, t);
    }
    free(size);
    if (cv->panels) {
        if (cv->pbuf_bytes < PANEL_CHUNK) cv->pbuf_bytes = PANEL_CHUNK;
        if (!(cv->pbuf = hugemem_alloc(cv->pbuf_bytes, 0))) {
            snprintf(msg, sizeof msg, "out of memory for %zu bytes of panels", cv->pbuf_bytes);
            goto done;
        }
    }
    if (mkdir(tmp, 0755) != 0) {
        snprintf(msg, sizeof msg, "%.900s: %s (a failed run's leftover? remove it)", tmp, strerror(errno));
        goto done;
    }
    made_tmp = 1;
    for (int s = 0, e0 = 0; s < n_s; s++) {
        int e1 = e0;
        while (e1 < n_p && plan[e1].shard == s) e1++;
        char fn[64];
        if (n_s == 1) snprintf(fn, sizeof fn, "model.safetensors");
        else snprintf(fn, sizeof fn, "model-%05d-of-%05d.safetensors", s + 1, n_s);
        snprintf(p, sizeof p, "%.4000s/%.64s", tmp, fn);
        if (!write_shard(c, plan, e0, e1, cv, p, fbuf, qbuf, sbuf, msg, sizeof msg)) goto done;
        for (int i = e0; i < e1; i++) {
            char name[1024];
            snprintf(name, sizeof name, "%s%s", plan[i].t->name, plan[i].kind == PLAN_SCALE ? Q8_SCALE_SUFFIX : "");
            json_object_set_new(wmap, name, json_string(fn));
            out_bytes += plan[i].nbytes;
        }
        e0 = e1;
    }
    if (n_s > 1) {
        json_t *idx = json_pack("{s:{s:I}, s:O}", "metadata", "total_size", (json_int_t)out_bytes, "weight_map", wmap);
        snprintf(p, sizeof p, "%.4000s/model.safetensors.index.json", tmp);
        int bad = !idx || json_dump_file(idx, p, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0;
        json_decref(idx);
        if (bad) {
            snprintf(msg, sizeof msg, "%.900s: cannot write", p);
            goto done;
        }
    }
    /* Note 3: config.json, tokenizer files and any other non-weight file. */
    d = opendir(in);
    while (d && (de = readdir(d))) {
        char from[4096];
        snprintf(from, sizeof from, "%s/%s", in, de->d_name);
        if (de->d_name[0] == '.' || is_weight_file(de->d_name) || stat(from, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        snprintf(p, sizeof p, "%.3800s/%.255s", tmp, de->d_name);
        if (!copy_file(from, p, msg, sizeof msg)) {
            closedir(d);
            goto done;
        }
    }
    if (d) closedir(d);
    if (rename(tmp, out) != 0) {
        snprintf(msg, sizeof msg, "renaming %.400s to %.400s: %s", tmp, out, strerror(errno));
        goto done;
    }
    double s = (clock_now_ms() - t0_ms) / 1e3;
    if (cv->panels)
        printf("%s: %d tensors, %d as panels of layout %s (%s kernel), %d shard(s), %.3f GB in %.1f s (%.0f MB/s)\n", out,
               n_t, nq, cv->layout, mm_kernel_for(compute), n_s, out_bytes / 1e9, s, in_bytes / 1e6 / (s > 0 ? s : 1));
    else
        printf("%s: %d tensors, %d q8 (block %d, F16 scales), %d shard(s), %.3f GB -> %.3f GB in %.1f s (%.0f MB/s in)\n",
               out, n_t, nq, block, n_s, in_bytes / 1e9, out_bytes / 1e9, s, in_bytes / 1e6 / (s > 0 ? s : 1));
    rc = 0;
done:
    if (rc) {
        fprintf(stderr, "error: %s\n", msg);
        if (made_tmp && (d = opendir(tmp))) { /* remove the partial OUT.tmp */
            while ((de = readdir(d)))
                if (de->d_name[0] != '.') snprintf(p, sizeof p, "%.3800s/%.255s", tmp, de->d_name), remove(p);
            closedir(d);
            rmdir(tmp);
        }
    }
    json_decref(q8set);
    json_decref(pset);
    json_decref(wmap);
    mm_repack_free(&cv->pack);
    hugemem_free(cv->pbuf);
    free(plan);
    free(map);
    free(fbuf);
    free(qbuf);
    free(sbuf);
    free(m);
    ckpt_free(&c);
    return rc;
}

int cmd_convert(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "--quantize")) {
        int block = Q8_BLOCK_DEFAULT, a = 3;
        const char *keep = NULL;
        for (; a + 1 < argc && argv[a][0] == '-'; a += 2)
            if (!strcmp(argv[a], "--block")) {
                char *end;
                long b = strtol(argv[a + 1], &end, 10);
                if (*end || b < 1 || b > 4096) {
                    fprintf(stderr, "error: --block %s: a whole number in [1, 4096]\n", argv[a + 1]);
                    return 2;
                }
                block = (int)b;
            } else if (!strcmp(argv[a], "--keep")) keep = argv[a + 1];
            else break;
        if (argc != a + 2 || argc < 3 || strcmp(argv[2], "q8")) {
            fprintf(stderr, "usage: rlaifv convert --quantize q8 [--block %d] [--keep NAME,...] IN_DIR OUT_DIR\n",
                    Q8_BLOCK_DEFAULT);
            return 2;
        }
        conv cv = {.block = block, .keep = keep};
        return convert_dir(&cv, MM_COMPUTE_F32, argv[a], argv[a + 1]);
    }
    if (argc >= 2 && !strcmp(argv[1], "--panels")) {
        int a = 2;
        rlv_compute comp = RLV_COMPUTE_FP32;
        if (a + 1 < argc && !strcmp(argv[a], "--compute")) {
            if (rlv_compute_parse(argv[a + 1], &comp)) {
                fprintf(stderr, "error: --compute %s: fp32 or bf16\n", argv[a + 1]);
                return 2;
            }
            a += 2;
        }
        if (argc != a + 2) {
            fprintf(stderr, "usage: rlaifv convert --panels [--compute fp32|bf16] IN_DIR OUT_DIR\n");
            return 2;
        }
        conv cv = {.panels = 1};
        return convert_dir(&cv, comp == RLV_COMPUTE_BF16 ? MM_COMPUTE_BF16 : MM_COMPUTE_F32, argv[a], argv[a + 1]);
    }
    if (argc != 3) {
        fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
                "usage: rlaifv convert MODEL OUT.safetensors\n"
                "       rlaifv convert --quantize q8 [--block %d] [--keep NAME,...] IN_DIR OUT_DIR\n"
                "       rlaifv convert --panels [--compute fp32|bf16] IN_DIR OUT_DIR\n"
                "  MODEL: a checkpoint directory or file (safetensors or pytorch_model.bin, sharded or not).\n"
                "  Writes all its tensors, bytes unchanged, into one safetensors file.\n"
                "  --quantize q8: writes OUT_DIR, a checkpoint whose weight matrices are int8 in blocks of\n"
                "  --block along each row with one F16 scale per block (docs/quantization.md), sharded like\n"
                "  IN_DIR, with its config and tokenizer files; other tensors are copied unchanged, and so are\n"
                "  the weights named by --keep (e.g. lm_head.weight,model.embed_tokens.weight).\n"
                "  --panels: writes OUT_DIR with the products' weights stored in the panel layout of this\n"
                "  machine's matrix kernel for --compute (default fp32), read in place at load with no copy\n"
                "  and no packing (docs/panels.md); only a machine whose kernel has that layout opens it.\n",
                Q8_BLOCK_DEFAULT);
        return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    rlv_err err = {0};
    ckpt *c = NULL;
    if (ckpt_open(&c, argv[1], &err)) {
        fprintf(stderr, "error: %s [%s]\n", err.msg, rlv_err_name(err.code));
        return 1;
    }
    if (ckpt_panel_layout(c)) { /* the one file would lose which weights are panels */
        fprintf(stderr, "error: %s stores weights as panels (layout %s); convert the original checkpoint\n", argv[1],
                ckpt_panel_layout(c));
        ckpt_free(&c);
        return 1;
    }
    /* Header: {name: {dtype, shape, data_offsets}} in file order, padded to 8 bytes. */
    json_t *h = json_object();
    size_t off = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i);
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(h, t->name, json_pack("{s:s, s:o, s:[I,I]}", "dtype", rlv_dtype_name(t->dtype), "shape",
                                                  shape, "data_offsets", (json_int_t)off, (json_int_t)(off + t->nbytes)));
        off += t->nbytes;
    }
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!js) {
        ckpt_free(&c);
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    size_t jn = strlen(js), pad = (8 - jn % 8) % 8;
    uint64_t hl = jn + pad;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hl >> (8 * i));
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *f = fopen(tmp, "wb");
    int ok = f && write_all(f, len8, 8) && write_all(f, js, jn) && write_all(f, "        ", pad);
    for (int i = 0; ok && i < ckpt_n_tensors(c); i++) ok = write_all(f, ckpt_tensor(c, i)->data, ckpt_tensor(c, i)->nbytes);
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, argv[2]) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "error: %s: %s\n", f ? argv[2] : tmp, strerror(errno));
        remove(tmp);
    } else {
        printf("%s: %d tensors, %.3f GB (%s in)\n", argv[2], ckpt_n_tensors(c), off / 1e9, ckpt_format(c));
    }
    free(js);
    ckpt_free(&c);
    return ok ? 0 : 1;
}
