/* ckpt.c — opening a checkpoint directory, mmap-ing its files, the tensor name table.
 *
 * Design notes:
 * (1) Files are mapped read-only (MAP_PRIVATE, PROT_READ) and stay mapped until ckpt_free;
 *     tensors point into the mappings, nothing is copied at open.
 * (2) A reader (ckpt_st.c, ckpt_pt.c) adds tensors through ckpt_add_tensor, which validates the byte
 *     range against the mapping before the tensor can be seen; readers validate their own
 *     headers first. So every rlv_tensor handed out has nbytes inside a live mapping.
 * (3) Names map to indices through a jansson object (a hash table): O(1) lookup, no
 *     hand-written hashing.
 * (4) Format choice: model.safetensors.index.json > model.safetensors > any *.safetensors
 *     > pytorch_model.bin.index.json > pytorch_model.bin. An index's weight_map is checked
 *     against the shards: a missing shard is RLV_ESHARD, a listed tensor absent from its
 *     shard is RLV_EMISSING.
 * (5) q8 (docs/quantization.md): after every file is loaded, each I8 tensor is linked to its
 *     "<name>_scale" companion and validated once (dtype, shape, block from the file's metadata,
 *     every scale finite and >= 0). A bad one does not fail ckpt_open: its message is kept and
 *     returned by ckpt_q8, so `rlaifv inspect` can name every bad tensor and the manifest check
 *     (which every model load runs) refuses the checkpoint.
 * (6) Panels (docs/panels.md): a file's __metadata__ may say that some of its matrices are stored
 *     in a matrix kernel's panel layout ("rlaifv.panels", an opaque layout name mm.c reads) and
 *     which ("rlaifv.panel_tensors", comma-separated). Checked here: each name is a floating-point
 *     matrix of that file, and the checkpoint has one layout; what a layout means is mm.c's. */
#include "ckpt.h"
#include "ckpt_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "half.h"
#include "jnum.h"
#include "q8.h"

typedef struct ckpt_mapping {
    char *path;
    const uint8_t *base;
    size_t len;
    int q8_block; /* from __metadata__ "rlaifv.q8_block", 0 = none */
    char *panels;        /* from __metadata__ "rlaifv.panels": the layout, NULL = none (note 6) */
    json_t *panel_names; /* "rlaifv.panel_tensors" split at commas, until panel_link */
} ckpt_mapping;

typedef struct ckpt_q8link {
    int scale;  /* index of the companion, -1 when err is set */
    int block;
    char *err;  /* why the weight is unusable, NULL when valid */
} ckpt_q8link;

struct ckpt {
    char *dir;
    const char *format;
    ckpt_mapping *files;
    int n_files, cap_files;
    rlv_tensor *tensors;
    int n_tensors, cap_tensors;
    json_t *index; /* name -> tensor index */
    ckpt_q8link *q8; /* [n_tensors], meaningful for I8 tensors (note 5) */
    uint8_t *panel;  /* [n_tensors]: 1 = stored in its file's panel layout (note 6) */
};

int ckpt_map_file(ckpt *c, const char *path, const uint8_t **base, size_t *len, rlv_err *err) {
    if (c->n_files == c->cap_files) {
        int cap = c->cap_files ? 2 * c->cap_files : 8;
        ckpt_mapping *f = realloc(c->files, (size_t)cap * sizeof *f);
        if (!f) return rlv_errf(err, RLV_ENOMEM, "%s: out of memory", path);
        c->files = f;
        c->cap_files = cap;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rlv_errf(err, RLV_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rlv_errf(err, RLV_EIO, "%s: not a regular file", path);
    }
    const uint8_t *p = NULL;
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return rlv_errf(err, RLV_EIO, "%s: mmap failed: %s", path, strerror(errno));
        }
        p = m;
    }
    close(fd);
    ckpt_mapping *f = &c->files[c->n_files];
    f->path = strdup(path);
    f->base = p;
    f->len = (size_t)st.st_size;
    f->q8_block = 0;
    f->panels = NULL;
    f->panel_names = NULL;
    if (!f->path) {
        if (p) munmap((void *)p, f->len);
        return rlv_errf(err, RLV_ENOMEM, "%s: out of memory", path);
    }
    *base = p;
    *len = f->len;
    return c->n_files++;
}

int ckpt_add_tensor(ckpt *c, int file, const char *name, rlv_dtype dt, int ndim,
                    const int64_t *shape, const void *data, size_t nbytes, rlv_err *err) {
    const ckpt_mapping *f = &c->files[file];
    if (json_object_get(c->index, name))
        return rlv_errf(err, RLV_EDUP, "%s: tensor '%s' appears twice", f->path, name);
    if (ndim < 0 || ndim > RLV_MAX_DIMS)
        return rlv_errf(err, RLV_EFORMAT, "%s: tensor '%s' has %d dimensions (max %d)", f->path, name, ndim, RLV_MAX_DIMS);
    /* numel * size without overflow: every factor checked against what is left of 2^62. */
    uint64_t bytes = rlv_dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return rlv_errf(err, RLV_EFORMAT, "%s: tensor '%s' has a negative dimension", f->path, name);
        if (shape[i] && bytes > (UINT64_C(1) << 62) / (uint64_t)shape[i])
            return rlv_errf(err, RLV_ESIZE, "%s: tensor '%s': shape overflows", f->path, name);
        bytes *= (uint64_t)shape[i];
    }
    if (bytes != nbytes) {
        char s[160];
        rlv_shape_str(shape, ndim, s, sizeof s);
        return rlv_errf(err, RLV_ESIZE, "%s: tensor '%s': shape %s x %s = %llu B, range holds %zu B",
                        f->path, name, s, rlv_dtype_name(dt), (unsigned long long)bytes, nbytes);
    }
    const uint8_t *d = data;
    if (nbytes && (!f->base || d < f->base || (size_t)(d - f->base) > f->len || nbytes > f->len - (size_t)(d - f->base)))
        return rlv_errf(err, RLV_ERANGE, "%s: tensor '%s': byte range outside the file", f->path, name);
    if (c->n_tensors == c->cap_tensors) {
        int cap = c->cap_tensors ? 2 * c->cap_tensors : 256;
        rlv_tensor *t = realloc(c->tensors, (size_t)cap * sizeof *t);
        if (!t) return rlv_errf(err, RLV_ENOMEM, "out of memory");
        c->tensors = t;
        c->cap_tensors = cap;
    }
    rlv_tensor *t = &c->tensors[c->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name || json_object_set_new(c->index, name, json_integer(c->n_tensors)) != 0) {
        free((void *)t->name);
        return rlv_errf(err, RLV_ENOMEM, "out of memory");
    }
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    t->shard = file;
    c->n_tensors++;
    return RLV_OK;
}

static int cmp_data(const void *a, const void *b) {
    const rlv_tensor *x = *(const rlv_tensor *const *)a, *y = *(const rlv_tensor *const *)b;
    return (const uint8_t *)x->data < (const uint8_t *)y->data ? -1 : (const uint8_t *)x->data > (const uint8_t *)y->data;
}

int ckpt_check_overlaps(ckpt *c, int file, rlv_err *err) {
    int n = 0;
    for (int i = 0; i < c->n_tensors; i++) n += c->tensors[i].shard == file && c->tensors[i].nbytes;
    if (n < 2) return RLV_OK;
    const rlv_tensor **v = malloc((size_t)n * sizeof *v);
    if (!v) return rlv_errf(err, RLV_ENOMEM, "out of memory");
    n = 0;
    for (int i = 0; i < c->n_tensors; i++)
        if (c->tensors[i].shard == file && c->tensors[i].nbytes) v[n++] = &c->tensors[i];
    qsort(v, (size_t)n, sizeof *v, cmp_data);
    int rc = RLV_OK;
    for (int i = 1; i < n && !rc; i++) {
        const uint8_t *end = (const uint8_t *)v[i - 1]->data + v[i - 1]->nbytes;
        if ((const uint8_t *)v[i]->data < end)
            rc = rlv_errf(err, RLV_EOVERLAP, "%s: tensors '%s' and '%s' share bytes", c->files[file].path,
                          v[i - 1]->name, v[i]->name);
    }
    free(v);
    return rc;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int load_one(ckpt *c, const char *path, rlv_err *err) {
    if (ends_with(path, ".bin") || ends_with(path, ".pt") || ends_with(path, ".pth")) {
        c->format = "pytorch";
        return ckpt_pt_load_file(c, path, err);
    }
    c->format = "safetensors";
    return ckpt_st_load_file(c, path, err);
}

/* Loads every shard named by an index's weight_map, then checks each listed tensor is there. */
static int load_index(ckpt *c, const char *index_path, rlv_err *err) {
    json_error_t je;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES | JNUM_DECODE, &je);
    if (!root) return rlv_errf(err, RLV_EHEADER_JSON, "%s: not valid JSON (line %d: %s)", index_path, je.line, je.text);
    int rc = RLV_OK;
    json_t *wm = json_object_get(root, "weight_map");
    json_t *seen = json_object();
    if (!json_is_object(wm)) {
        rc = rlv_errf(err, RLV_EHEADER_JSON, "%s: no 'weight_map' object", index_path);
        goto done;
    }
    const char *name;
    json_t *v;
    json_object_foreach(wm, name, v) {
        const char *fn = json_string_value(v);
        if (!fn || !*fn || strchr(fn, '/') || strstr(fn, "..")) {
            rc = rlv_errf(err, RLV_EHEADER_JSON, "%s: weight_map['%s'] is not a plain file name", index_path, name);
            goto done;
        }
        if (json_object_get(seen, fn)) continue;
        json_object_set_new(seen, fn, json_true());
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", c->dir, fn);
        if (!file_exists(p)) {
            rc = rlv_errf(err, RLV_ESHARD, "%s: names shard '%s', which is not in %s", index_path, fn, c->dir);
            goto done;
        }
        if ((rc = load_one(c, p, err))) goto done;
    }
    json_object_foreach(wm, name, v) {
        const rlv_tensor *t = ckpt_find(c, name);
        if (!t || strcmp(strrchr(c->files[t->shard].path, '/') + 1, json_string_value(v)) != 0) {
            rc = rlv_errf(err, RLV_EMISSING, "%s: tensor '%s' is not in shard '%s'", index_path, name,
                          json_string_value(v));
            goto done;
        }
    }
done:
    json_decref(seen);
    json_decref(root);
    return rc;
}

/* First *.safetensors in dir by name (for repos that use another file name). */
static int find_any_safetensors(const char *dir, char *out, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    char best[1024] = "";
    while ((e = readdir(d)))
        if (ends_with(e->d_name, ".safetensors") && (!best[0] || strcmp(e->d_name, best) < 0))
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    if (!best[0]) return 0;
    snprintf(out, cap, "%s/%s", dir, best);
    return 1;
}

void ckpt_set_q8_block(ckpt *c, int file, int block) { c->files[file].q8_block = block; }

int ckpt_set_panels(ckpt *c, int file, const char *layout, const char *names, rlv_err *err) {
    ckpt_mapping *f = &c->files[file];
    if (!(f->panels = strdup(layout)) || !(f->panel_names = json_array()))
        return rlv_errf(err, RLV_ENOMEM, "%s: out of memory", f->path);
    for (const char *k = names; *k;) {
        size_t l = strcspn(k, ",");
        if (json_array_append_new(f->panel_names, json_stringn(k, l)))
            return rlv_errf(err, RLV_ENOMEM, "%s: out of memory", f->path);
        k += l + (k[l] == ',');
    }
    return RLV_OK;
}

/* Note 6: every name a file's "rlaifv.panel_tensors" lists is a floating-point matrix of that
 * file; one layout for the whole checkpoint (a product reads one kernel's panels). */
static int panel_link(ckpt *c, rlv_err *err) {
    const char *layout = NULL;
    for (int fi = 0; fi < c->n_files; fi++) {
        const ckpt_mapping *f = &c->files[fi];
        if (!f->panels) continue;
        if (layout && strcmp(layout, f->panels))
            return rlv_errf(err, RLV_EFORMAT, "%s: panel layout '%s', another file of the checkpoint has '%s'", f->path,
                            f->panels, layout);
        layout = f->panels;
        if (!c->panel && !(c->panel = calloc((size_t)c->n_tensors, 1))) return rlv_errf(err, RLV_ENOMEM, "out of memory");
        size_t i;
        json_t *v;
        json_array_foreach(f->panel_names, i, v) {
            json_t *ix = json_object_get(c->index, json_string_value(v));
            const rlv_tensor *t = ix ? &c->tensors[json_integer_value(ix)] : NULL;
            if (!t || t->shard != fi)
                return rlv_errf(err, RLV_EFORMAT, "%s: __metadata__ \"rlaifv.panel_tensors\" names '%s', not a tensor of this file",
                                f->path, json_string_value(v));
            if ((t->dtype != RLV_F32 && t->dtype != RLV_F16 && t->dtype != RLV_BF16) || t->ndim < 2)
                return rlv_errf(err, RLV_EFORMAT, "%s: '%s' is listed as panels but is a %d-dimensional %s tensor "
                                "(panels are floating-point matrices)", f->path, t->name, t->ndim, rlv_dtype_name(t->dtype));
            c->panel[t - c->tensors] = 1;
        }
    }
    return RLV_OK;
}

const char *ckpt_panels(const ckpt *c, const rlv_tensor *t) {
    if (!c->panel || t < c->tensors || t >= c->tensors + c->n_tensors || !c->panel[t - c->tensors]) return NULL;
    return c->files[t->shard].panels;
}

const char *ckpt_panel_layout(const ckpt *c) {
    for (int i = 0; i < c->n_files; i++)
        if (c->files[i].panels) return c->files[i].panels;
    return NULL;
}

/* Note 5: why I8 tensor t (of file block `block`) cannot be used, into msg; 0 when it can. */
static int q8_fault(const ckpt *c, const rlv_tensor *t, int *scale_idx, char *msg, size_t cap) {
    const ckpt_mapping *f = &c->files[t->shard];
    int block = f->q8_block;
    if (t->ndim != 2)
        return snprintf(msg, cap, "I8 tensor '%s' has %d dimensions; q8 weights are 2-D", t->name, t->ndim), 1;
    if (!block)
        return snprintf(msg, cap, "I8 tensor '%s': %s declares no q8 block size (__metadata__ \"rlaifv.q8_block\")",
                        t->name, f->path), 1;
    if (t->shape[1] % block)
        return snprintf(msg, cap, "q8 tensor '%s': block size %d does not divide its rows of %lld", t->name, block,
                        (long long)t->shape[1]), 1;
    size_t n = strlen(t->name) + sizeof Q8_SCALE_SUFFIX;
    char *sn = malloc(n);
    if (!sn) return snprintf(msg, cap, "out of memory"), 1;
    snprintf(sn, n, "%s" Q8_SCALE_SUFFIX, t->name);
    const rlv_tensor *s = ckpt_find(c, sn);
    free(sn);
    if (!s) return snprintf(msg, cap, "q8 tensor '%s' has no scale tensor '%s" Q8_SCALE_SUFFIX "'", t->name, t->name), 1;
    if (s->dtype != RLV_F16)
        return snprintf(msg, cap, "q8 scale '%s' is %s; q8 scales are F16", s->name, rlv_dtype_name(s->dtype)), 1;
    int64_t want[2] = {t->shape[0], t->shape[1] / block};
    if (s->ndim != 2 || s->shape[0] != want[0] || s->shape[1] != want[1]) {
        char a[96], b[96];
        rlv_shape_str(s->shape, s->ndim, a, sizeof a);
        rlv_shape_str(want, 2, b, sizeof b);
        return snprintf(msg, cap, "q8 scale '%s' has shape %s, expected %s (block %d)", s->name, a, b, block), 1;
    }
    const uint8_t *v = s->data; /* safetensors does not align ranges: read bytewise */
    int64_t ns = want[0] * want[1];
    for (int64_t i = 0; i < ns; i++) {
        uint16_t h = (uint16_t)(v[2 * i] | v[2 * i + 1] << 8);
        if ((h & 0x7c00u) == 0x7c00u || (h & 0x8000u && h != 0x8000u))
            return snprintf(msg, cap, "q8 scale '%s'[%lld][%lld] = %g; scales must be finite and >= 0", s->name,
                            (long long)(i / want[1]), (long long)(i % want[1]), (double)half_f16_to_f32(h)), 1;
    }
    *scale_idx = (int)(s - c->tensors);
    return 0;
}

static int q8_link(ckpt *c, rlv_err *err) {
    c->q8 = calloc((size_t)c->n_tensors + 1, sizeof *c->q8);
    if (!c->q8) return rlv_errf(err, RLV_ENOMEM, "out of memory");
    char msg[RLV_ERR_MSG_MAX];
    for (int i = 0; i < c->n_tensors; i++) {
        const rlv_tensor *t = &c->tensors[i];
        ckpt_q8link *l = &c->q8[i];
        l->scale = -1;
        if (t->dtype != RLV_I8) continue;
        if (q8_fault(c, t, &l->scale, msg, sizeof msg)) {
            l->scale = -1;
            if (!(l->err = strdup(msg))) return rlv_errf(err, RLV_ENOMEM, "out of memory");
        } else {
            l->block = c->files[t->shard].q8_block;
        }
    }
    return RLV_OK;
}

int ckpt_q8(const ckpt *c, const rlv_tensor *w, const rlv_tensor **scale, int *block, rlv_err *err) {
    if (!w || w < c->tensors || w >= c->tensors + c->n_tensors || w->dtype != RLV_I8)
        return rlv_errf(err, RLV_EINVAL, "'%s' is not an I8 tensor of this checkpoint", w ? w->name : "(null)");
    const ckpt_q8link *l = &c->q8[w - c->tensors];
    if (l->err) return rlv_errf(err, RLV_EQ8, "%s", l->err);
    if (scale) *scale = &c->tensors[l->scale];
    if (block) *block = l->block;
    return RLV_OK;
}

/* Page-aligned [*a, *b) around [p, p + n): the pages that hold any of its bytes (outer) or only
 * the whole pages inside it (empty when *b <= *a). */
static void page_range(const void *p, size_t n, int outer, uintptr_t *a, uintptr_t *b) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), in = outer ? 0 : page - 1, out = outer ? page - 1 : 0;
    *a = ((uintptr_t)p + in) & ~(page - 1);
    *b = ((uintptr_t)p + n + out) & ~(page - 1);
}

void ckpt_evict(const ckpt *c, const void *p, size_t n) {
    (void)c;
    uintptr_t a, b;
    page_range(p, n, 0, &a, &b);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

int ckpt_open(ckpt **out, const char *path, rlv_err *err) {
    *out = NULL;
    ckpt *c = calloc(1, sizeof *c);
    if (!c) return rlv_errf(err, RLV_ENOMEM, "out of memory");
    c->index = json_object();
    struct stat st;
    int rc;
    if (stat(path, &st) != 0) {
        rc = rlv_errf(err, RLV_EIO, "%s: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        c->dir = strdup(path);
        char p[4096];
        if (snprintf(p, sizeof p, "%s/model.safetensors.index.json", path), file_exists(p))
            rc = load_index(c, p, err);
        else if (snprintf(p, sizeof p, "%s/model.safetensors", path), file_exists(p))
            rc = load_one(c, p, err);
        else if (find_any_safetensors(path, p, sizeof p))
            rc = load_one(c, p, err);
        else if (snprintf(p, sizeof p, "%s/pytorch_model.bin.index.json", path), file_exists(p))
            rc = load_index(c, p, err);
        else if (snprintf(p, sizeof p, "%s/pytorch_model.bin", path), file_exists(p))
            rc = load_one(c, p, err);
        else
            rc = rlv_errf(err, RLV_EIO, "%s: no model.safetensors(.index.json) or pytorch_model.bin(.index.json)", path);
    } else {
        c->dir = strdup(path);
        char *slash = c->dir ? strrchr(c->dir, '/') : NULL;
        if (slash) *slash = 0;
        else if (c->dir) strcpy(c->dir, ".");
        rc = load_one(c, path, err);
    }
    if (!rc && c->n_tensors == 0) rc = rlv_errf(err, RLV_EFORMAT, "%s: checkpoint holds no tensors", path);
    if (!rc) rc = q8_link(c, err);
    if (!rc) rc = panel_link(c, err);
    if (rc) {
        ckpt_free(&c);
        return rc;
    }
    *out = c;
    return RLV_OK;
}

const rlv_tensor *ckpt_find(const ckpt *c, const char *name) {
    json_t *v = json_object_get(c->index, name);
    return v ? &c->tensors[json_integer_value(v)] : NULL;
}

int ckpt_n_tensors(const ckpt *c) { return c->n_tensors; }
const rlv_tensor *ckpt_tensor(const ckpt *c, int i) { return i >= 0 && i < c->n_tensors ? &c->tensors[i] : NULL; }
const char *ckpt_format(const ckpt *c) { return c->format; }
int ckpt_n_files(const ckpt *c) { return c->n_files; }
const char *ckpt_file(const ckpt *c, int i) { return i >= 0 && i < c->n_files ? c->files[i].path : NULL; }

void ckpt_prefetch(const rlv_tensor *t) {
    if (!t || !t->nbytes) return;
    /* the partial pages at either end are needed too (reading a neighbour's bytes with them is
     * harmless); they lie inside the file's mapping, which holds the tensor */
    uintptr_t a, b;
    page_range(t->data, t->nbytes, 1, &a, &b);
    if (b > a) (void)madvise((void *)a, b - a, MADV_WILLNEED);
}

int ckpt_locate(const ckpt *c, const void *p, size_t n, const char **path, uint64_t *off) {
    uintptr_t a = (uintptr_t)p;
    for (int i = 0; i < c->n_files; i++) {
        uintptr_t b = (uintptr_t)c->files[i].base;
        if (c->files[i].base && a >= b && n <= c->files[i].len && a - b <= c->files[i].len - n) {
            *path = c->files[i].path;
            *off = (uint64_t)(a - b);
            return RLV_OK;
        }
    }
    return RLV_ERANGE;
}

size_t ckpt_share_identical(ckpt *c, const ckpt *src) {
    size_t shared = 0;
    for (int i = 0; i < c->n_tensors; i++) {
        rlv_tensor *t = &c->tensors[i];
        const rlv_tensor *s = ckpt_find(src, t->name);
        if (!s || s->dtype != t->dtype || s->ndim != t->ndim || s->nbytes != t->nbytes || !t->nbytes) continue;
        const char *pa = ckpt_panels(c, t), *pb = ckpt_panels(src, s); /* the same bytes read the same way */
        if ((pa || pb) && (!pa || !pb || strcmp(pa, pb))) continue;
        if (memcmp(s->shape, t->shape, sizeof s->shape[0] * (size_t)t->ndim) || memcmp(s->data, t->data, t->nbytes))
            continue;
        /* Drop the pages wholly inside our copy from memory (read-only file pages: safe). */
        ckpt_evict(c, t->data, t->nbytes);
        t->data = s->data;
        shared += t->nbytes;
    }
    return shared;
}

void ckpt_free(ckpt **cp) {
    if (!cp || !*cp) return;
    ckpt *c = *cp;
    for (int i = 0; i < c->n_tensors; i++) free((void *)c->tensors[i].name);
    for (int i = 0; c->q8 && i < c->n_tensors; i++) free(c->q8[i].err);
    free(c->q8);
    free(c->panel);
    for (int i = 0; i < c->n_files; i++) {
        if (c->files[i].base) munmap((void *)c->files[i].base, c->files[i].len);
        free(c->files[i].path);
        free(c->files[i].panels);
        json_decref(c->files[i].panel_names);
    }
    free(c->tensors);
    free(c->files);
    json_decref(c->index);
    free(c->dir);
    free(c);
    *cp = NULL;
}
