/* ckpt_pt.c — ckpt.c's back-end for torch.save zip archives (pytorch_model.bin): libzip for the directory, pickle.c for
 * data.pkl, tensors served from the checkpoint's mapping of the file.
 *
 * Design notes:
 * (1) The file is mapped once (ckpt_map_file); libzip reads the archive through a source
 *     callback over that mapping, so nothing is read twice and nothing is copied.
 * (2) libzip has no public call for where an entry's data starts. Opening an entry makes
 *     libzip seek to its local header at the offset the central directory gives; the source
 *     callback logs where seeks and reads go, and the first logged position that holds a
 *     local header signature with this entry's name is taken. From there the header (30
 *     bytes + name + extra, all bounds-checked here) gives the data offset, which must be
 *     where libzip's own read of the first data byte went. The entry must be STORED,
 *     unencrypted, and its size must equal the storage's numel x element size.
 * (3) Views: a tensor is (storage, offset, size, stride); only row-major contiguous views are
 *     served (stride of a size-1 dim is ignored, as torch's is_contiguous does). Tensors that
 *     view one storage share bytes by design, so ckpt_check_overlaps is not called; instead
 *     the byte ranges of distinct storages are checked against each other here.
 * (4) torch.save pads every record to 64 bytes. A storage at an address unaligned for its
 *     dtype (another zip writer) is COPIED into an anonymous memfd mapped by the checkpoint
 *     (page-aligned, unmapped by ckpt_free): the engine reads weights through typed pointers. */
#include "ckpt_pt.h"

#include "ckpt_impl.h"
#include "pickle.h"
#include "prefix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zip.h>

#define PT_MAX_ENTRIES (1 << 20)
#define PT_MAX_PICKLE  (64u << 20) /* the real 1130-tensor data.pkl is ~170 KB */
#define PT_MAX_LOG     16

/* A libzip source over the mapped file, logging where reads start (note 2). */
typedef struct pt_src {
    const uint8_t *base;
    size_t len;
    uint64_t pos;
    zip_error_t error;
    uint64_t log[PT_MAX_LOG]; /* while opening an entry: where seeks and reads went */
    int n_log;
    int in_fread;             /* then, reading its first byte: */
    uint64_t fread_pos;       /* where that read started */
} pt_src;

static zip_int64_t pt_src_cb(void *ud, void *data, zip_uint64_t n, zip_source_cmd_t cmd) {
    pt_src *s = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN: s->pos = 0; return 0;
    case ZIP_SOURCE_READ: {
        if (s->pos >= s->len) return 0;
        size_t k = s->len - s->pos < n ? s->len - s->pos : (size_t)n;
        if (s->in_fread && s->fread_pos == UINT64_MAX) s->fread_pos = s->pos;
        else if (!s->in_fread && s->n_log < PT_MAX_LOG) s->log[s->n_log++] = s->pos;
        memcpy(data, s->base + s->pos, k);
        s->pos += k;
        return (zip_int64_t)k;
    }
    case ZIP_SOURCE_CLOSE: return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = ZIP_SOURCE_GET_ARGS(zip_stat_t, data, n, &s->error);
        if (!st) return -1;
        zip_stat_init(st);
        st->size = s->len;
        st->valid |= ZIP_STAT_SIZE;
        return sizeof *st;
    }
    case ZIP_SOURCE_ERROR: return zip_error_to_data(&s->error, data, n);
    case ZIP_SOURCE_FREE: return 0;
    case ZIP_SOURCE_SEEK: {
        zip_int64_t p = zip_source_seek_compute_offset(s->pos, s->len, data, n, &s->error);
        if (p < 0) return -1;
        s->pos = (uint64_t)p;
        if (!s->in_fread && s->n_log < PT_MAX_LOG) s->log[s->n_log++] = s->pos;
        return 0;
    }
    case ZIP_SOURCE_TELL: return (zip_int64_t)s->pos;
    case ZIP_SOURCE_SUPPORTS: return ZIP_SOURCE_SUPPORTS_SEEKABLE;
    default: zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0); return -1;
    }
}

static uint32_t rd32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Data offset of entry idx (named name, comp_size bytes): note 2. */
static int entry_data(zip_t *za, pt_src *s, zip_uint64_t idx, const char *name, uint64_t size, uint64_t *off,
                      const char *path, rlv_err *err) {
    s->n_log = 0;
    s->in_fread = 0;
    s->fread_pos = UINT64_MAX;
    zip_file_t *zf = zip_fopen_index(za, idx, ZIP_FL_COMPRESSED);
    if (!zf)
        return rlv_errf(err, RLV_EFORMAT, "%s: entry '%s': %s", path, name, zip_error_strerror(zip_get_error(za)));
    uint8_t one;
    s->in_fread = 1;
    zip_int64_t got = size ? zip_fread(zf, &one, 1) : 0;
    s->in_fread = 0;
    zip_fclose(zf);
    if (got < 0) return rlv_errf(err, RLV_EFORMAT, "%s: entry '%s' cannot be read", path, name);
    size_t nl = strlen(name);
    for (int i = 0; i < s->n_log; i++) {
        uint64_t p = s->log[i];
        if (p > s->len || s->len - p < 30 + nl) continue;
        const uint8_t *h = s->base + p;
        if (rd32(h) != 0x04034b50u || rd16(h + 26) != nl || memcmp(h + 30, name, nl)) continue;
        uint64_t d = p + 30 + nl + rd16(h + 28);
        if (d > s->len || size > s->len - d)
            return rlv_errf(err, RLV_ERANGE, "%s: entry '%s': %llu bytes at offset %llu run past the end (%zu B)",
                            path, name, (unsigned long long)size, (unsigned long long)d, s->len);
        /* libzip itself read the first data byte there: the two views of the entry agree. */
        if (size && s->fread_pos != d)
            return rlv_errf(err, RLV_EFORMAT, "%s: entry '%s': data offset %llu disagrees with libzip's", path, name,
                            (unsigned long long)d);
        *off = d;
        return RLV_OK;
    }
    return rlv_errf(err, RLV_EFORMAT, "%s: entry '%s': no local header found", path, name);
}

/* Reads a whole (small) entry into a malloc-ed buffer. */
static int read_entry(zip_t *za, zip_uint64_t idx, const char *name, uint8_t **out, size_t *n, const char *path,
                      rlv_err *err) {
    zip_stat_t st;
    if (zip_stat_index(za, idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return rlv_errf(err, RLV_EFORMAT, "%s: entry '%s': no size", path, name);
    if (st.size > PT_MAX_PICKLE)
        return rlv_errf(err, RLV_ELIMIT, "%s: '%s' is %llu B, above the %u MB limit", path, name,
                        (unsigned long long)st.size, PT_MAX_PICKLE >> 20);
    uint8_t *b = malloc(st.size ? (size_t)st.size : 1);
    if (!b) return rlv_errf(err, RLV_ENOMEM, "out of memory");
    zip_file_t *zf = zip_fopen_index(za, idx, 0);
    zip_int64_t got = zf ? zip_fread(zf, b, st.size) : -1;
    if (got != (zip_int64_t)st.size) {
        int rc = rlv_errf(err, RLV_EFORMAT, "%s: cannot read '%s': %s", path, name,
                          zf ? zip_error_strerror(zip_file_get_error(zf)) : zip_error_strerror(zip_get_error(za)));
        if (zf) zip_fclose(zf);
        free(b);
        return rc;
    }
    /* zip_fclose reports a CRC mismatch now that the whole entry was read. */
    if (zip_fclose(zf) != 0) {
        free(b);
        return rlv_errf(err, RLV_EFORMAT, "%s: '%s' fails its CRC check", path, name);
    }
    *out = b;
    *n = (size_t)st.size;
    return RLV_OK;
}

/* Finds the single "<archive>/data.pkl"; prefix gets "<archive>/". */
static int find_pickle(zip_t *za, zip_uint64_t *idx, char *prefix, size_t cap, const char *path, rlv_err *err) {
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n > PT_MAX_ENTRIES) return rlv_errf(err, RLV_ELIMIT, "%s: %lld zip entries, above the limit", path, (long long)n);
    int found = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!nm) continue;
        const char *slash = strchr(nm, '/');
        if (!slash || strcmp(slash + 1, "data.pkl") != 0) continue;
        if ((size_t)(slash - nm) + 2 > cap) return rlv_errf(err, RLV_EFORMAT, "%s: archive name too long", path);
        if (found++) return rlv_errf(err, RLV_EFORMAT, "%s: more than one data.pkl", path);
        memcpy(prefix, nm, (size_t)(slash - nm) + 1);
        prefix[slash - nm + 1] = 0;
        *idx = (zip_uint64_t)i;
    }
    if (!found) return rlv_errf(err, RLV_EFORMAT, "%s: zip archive without <archive>/data.pkl: not a torch.save file", path);
    return RLV_OK;
}

/* torch >= 2.1 writes <archive>/byteorder; storages are raw host-order bytes, so only "little" is
 * served as is (an absent entry means an older, little-endian writer). */
static int check_byteorder(zip_t *za, const char *prefix, const char *path, rlv_err *err) {
    char name[600];
    snprintf(name, sizeof name, "%sbyteorder", prefix);
    zip_int64_t idx = zip_name_locate(za, name, ZIP_FL_ENC_RAW);
    if (idx < 0) return RLV_OK;
    zip_stat_t st;
    char v[16] = {0};
    zip_file_t *zf = zip_stat_index(za, (zip_uint64_t)idx, 0, &st) == 0 && st.size < sizeof v
                         ? zip_fopen_index(za, (zip_uint64_t)idx, 0) : NULL;
    zip_int64_t got = zf ? zip_fread(zf, v, st.size) : -1;
    if (zf) zip_fclose(zf);
    if (got != (zip_int64_t)st.size || !prefix_skip_n(v, (size_t)got, "little"))
        return rlv_errf(err, RLV_EUNSUPPORTED, "%s: '%s' is not \"little\": big-endian storages are not supported",
                        path, name);
    return RLV_OK;
}

typedef struct pt_storage {
    const uint8_t *data; /* inside a mapping of c */
    size_t nbytes;
    int file;            /* mapping index */
    uint64_t file_off;   /* offset in the .bin (for the overlap check) */
} pt_storage;

/* Note 4: an unaligned storage is copied into a memfd the checkpoint maps. */
static int copy_aligned(ckpt *c, const char *path, const char *key, pt_storage *s, rlv_err *err) {
    int fd = memfd_create("rlv-unaligned-storage", MFD_CLOEXEC);
    if (fd < 0) return rlv_errf(err, RLV_EIO, "%s: storage '%s' is unaligned and memfd_create failed", path, key);
    size_t done = 0;
    while (done < s->nbytes) {
        ssize_t w = write(fd, s->data + done, s->nbytes - done);
        if (w <= 0) {
            close(fd);
            return rlv_errf(err, RLV_EIO, "%s: storage '%s': copying the unaligned bytes failed", path, key);
        }
        done += (size_t)w;
    }
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    const uint8_t *base;
    size_t len;
    int f = ckpt_map_file(c, p, &base, &len, err);
    close(fd);
    if (f < 0) return f;
    s->data = base;
    s->file = f;
    return RLV_OK;
}

static int cmp_off(const void *a, const void *b) {
    const pt_storage *x = *(const pt_storage *const *)a, *y = *(const pt_storage *const *)b;
    return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

static int check_storage_overlaps(pt_storage *st, const pickle_state_dict *sd, const char *path, rlv_err *err) {
    pt_storage **v = malloc((size_t)(sd->n_storages ? sd->n_storages : 1) * sizeof *v);
    if (!v) return rlv_errf(err, RLV_ENOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < sd->n_storages; i++)
        if (st[i].nbytes) v[n++] = &st[i];
    qsort(v, (size_t)n, sizeof *v, cmp_off);
    int rc = RLV_OK;
    for (int i = 1; i < n && !rc; i++)
        if (v[i]->file_off < v[i - 1]->file_off + v[i - 1]->nbytes)
            rc = rlv_errf(err, RLV_EOVERLAP, "%s: storages '%s' and '%s' share bytes", path,
                          sd->storages[v[i - 1] - st].key, sd->storages[v[i] - st].key);
    free(v);
    return rc;
}

/* Note 3: contiguous row-major views inside their storage. */
static int add_view(ckpt *c, const pickle_tensor *t, const pickle_storage *ps, const pt_storage *s,
                    const char *path, rlv_err *err) {
    size_t es = rlv_dtype_size(ps->dtype);
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] && numel > (UINT64_C(1) << 62) / (uint64_t)t->shape[d])
            return rlv_errf(err, RLV_ESIZE, "%s: tensor '%s': shape overflows", path, t->name);
        numel *= (uint64_t)t->shape[d];
    }
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0 && numel; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) {
            char sh[160], sr[160];
            rlv_shape_str(t->shape, t->ndim, sh, sizeof sh);
            rlv_shape_str(t->stride, t->ndim, sr, sizeof sr);
            return rlv_errf(err, RLV_EUNSUPPORTED, "%s: tensor '%s' is a non-contiguous view (size %s, stride %s); "
                            "save tensor.contiguous() instead", path, t->name, sh, sr);
        }
        expect *= t->shape[d];
    }
    if ((uint64_t)t->offset > (uint64_t)ps->numel || numel > (uint64_t)(ps->numel - t->offset))
        return rlv_errf(err, RLV_ERANGE, "%s: tensor '%s': elements [%lld, %lld) outside storage '%s' of %lld",
                        path, t->name, (long long)t->offset, (long long)(t->offset + (int64_t)numel), ps->key,
                        (long long)ps->numel);
    const uint8_t *data = numel ? s->data + (size_t)t->offset * es : s->data;
    return ckpt_add_tensor(c, s->file, t->name, ps->dtype, t->ndim, t->shape, data, (size_t)numel * es, err);
}

static int load_storages(ckpt *c, zip_t *za, pt_src *src, int file, const char *prefix,
                         const pickle_state_dict *sd, pt_storage *st, const char *path, rlv_err *err) {
    for (int i = 0; i < sd->n_storages; i++) {
        const pickle_storage *ps = &sd->storages[i];
        char name[1100];
        snprintf(name, sizeof name, "%sdata/%s", prefix, ps->key);
        zip_int64_t idx = zip_name_locate(za, name, ZIP_FL_ENC_RAW);
        if (idx < 0) return rlv_errf(err, RLV_EFORMAT, "%s: data.pkl names storage '%s', but there is no entry '%s'",
                                     path, ps->key, name);
        zip_stat_t zs;
        if (zip_stat_index(za, (zip_uint64_t)idx, 0, &zs) != 0)
            return rlv_errf(err, RLV_EFORMAT, "%s: entry '%s': %s", path, name, zip_error_strerror(zip_get_error(za)));
        if ((zs.valid & ZIP_STAT_COMP_METHOD) && zs.comp_method != ZIP_CM_STORE)
            return rlv_errf(err, RLV_EUNSUPPORTED, "%s: entry '%s' is compressed (method %u); torch.save stores "
                            "storages uncompressed so they can be mapped", path, name, (unsigned)zs.comp_method);
        if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE)
            return rlv_errf(err, RLV_EUNSUPPORTED, "%s: entry '%s' is encrypted", path, name);
        size_t es = rlv_dtype_size(ps->dtype);
        if ((uint64_t)ps->numel > (UINT64_C(1) << 62) / es || zs.size != (uint64_t)ps->numel * es ||
            zs.comp_size != zs.size)
            return rlv_errf(err, RLV_ESIZE, "%s: entry '%s' holds %llu B, storage '%s' declares %lld x %s = %llu B",
                            path, name, (unsigned long long)zs.size, ps->key, (long long)ps->numel,
                            rlv_dtype_name(ps->dtype), (unsigned long long)((uint64_t)ps->numel * es));
        uint64_t off = 0;
        int rc = entry_data(za, src, (zip_uint64_t)idx, name, zs.size, &off, path, err);
        if (rc) return rc;
        st[i].data = src->base + off;
        st[i].nbytes = (size_t)zs.size;
        st[i].file = file;
        st[i].file_off = off;
        if (st[i].nbytes && ((uintptr_t)st[i].data % es) && (rc = copy_aligned(c, path, ps->key, &st[i], err)))
            return rc;
    }
    return RLV_OK;
}

int ckpt_pt_load_file(ckpt *c, const char *path, rlv_err *err) {
    const uint8_t *base;
    size_t len;
    int file = ckpt_map_file(c, path, &base, &len, err);
    if (file < 0) return file;
    if (len < 22) return rlv_errf(err, RLV_ETRUNCATED, "%s: %zu bytes, too short for a zip archive", path, len);

    pt_src src = {.base = base, .len = len};
    zip_error_init(&src.error);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *zsrc = zip_source_function_create(pt_src_cb, &src, &ze);
    zip_t *za = zsrc ? zip_open_from_source(zsrc, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!za) {
        int code = zip_error_code_zip(&ze);
        int rc;
        if (code == ZIP_ER_NOZIP && rd32(base) == 0x04034b50u)
            rc = rlv_errf(err, RLV_ETRUNCATED, "%s: zip archive without its central directory (truncated?)", path);
        else
            rc = rlv_errf(err, code == ZIP_ER_MEMORY ? RLV_ENOMEM : RLV_EFORMAT, "%s: not a readable zip archive: %s",
                          path, zip_error_strerror(&ze));
        if (zsrc) zip_source_free(zsrc);
        zip_error_fini(&ze);
        zip_error_fini(&src.error);
        return rc;
    }
    zip_error_fini(&ze);

    pickle_state_dict sd = {0};
    pt_storage *st = NULL;
    uint8_t *pkl = NULL;
    size_t pkl_len = 0;
    char prefix[512];
    zip_uint64_t pidx = 0;
    int rc = find_pickle(za, &pidx, prefix, sizeof prefix, path, err);
    if (!rc) rc = check_byteorder(za, prefix, path, err);
    if (!rc) rc = read_entry(za, pidx, "data.pkl", &pkl, &pkl_len, path, err);
    if (!rc && (rc = pickle_read_state_dict(pkl, pkl_len, &sd, err))) rlv_err_prefix(err, path);
    if (!rc && !(st = calloc(sd.n_storages ? (size_t)sd.n_storages : 1, sizeof *st)))
        rc = rlv_errf(err, RLV_ENOMEM, "out of memory");
    if (!rc) rc = load_storages(c, za, &src, file, prefix, &sd, st, path, err);
    if (!rc) rc = check_storage_overlaps(st, &sd, path, err);
    for (int i = 0; !rc && i < sd.n_tensors; i++)
        rc = add_view(c, &sd.tensors[i], &sd.storages[sd.tensors[i].storage], &st[sd.tensors[i].storage], path, err);
    zip_discard(za);
    zip_error_fini(&src.error);
    free(st);
    free(pkl);
    pickle_state_dict_free(&sd);
    return rc;
}
