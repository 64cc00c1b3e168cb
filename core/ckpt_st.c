/* ckpt_st.c — ckpt.c's back-end for the safetensors reader: validates one file's header completely, then adds its tensors.
 * Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
 * then the data area; offsets are relative to the data area. Nothing from the file is used
 * before it is checked: N against the file size, the JSON, each dtype, shape x size against
 * the range, each range inside the data area, and (once per file) no two ranges overlapping. */
#include "ckpt_impl.h"

#include <jansson.h>
#include <string.h>

#include "jnum.h"
#include "q8.h"

/* The safetensors spec caps the header at 100 MB; the real index has 1130 tensors (~100 KB). */
#define ST_MAX_HEADER (100u << 20)

static int parse_dtype(const char *s, rlv_dtype *dt) {
    if (!strcmp(s, "F32")) *dt = RLV_F32;
    else if (!strcmp(s, "F16")) *dt = RLV_F16;
    else if (!strcmp(s, "BF16")) *dt = RLV_BF16;
    else if (!strcmp(s, "I8")) *dt = RLV_I8;
    else return 0;
    return 1;
}

/* A non-negative integer up to 2^53 (an offset or dimension past that is past any real file). */
static int get_u64(json_t *v, uint64_t *out) {
    int64_t x;
    if (jnum_int(v, 0, JNUM_EXACT_MAX, &x)) return 0;
    *out = (uint64_t)x;
    return 1;
}

static int add_entry(ckpt *c, int file, const char *path, const char *name, json_t *info,
                     const uint8_t *data, size_t data_len, rlv_err *err) {
    if (!json_is_object(info))
        return rlv_errf(err, RLV_EHEADER_JSON, "%s: tensor '%s': entry is not an object", path, name);
    json_t *jd = json_object_get(info, "dtype"), *js = json_object_get(info, "shape"),
           *jo = json_object_get(info, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
        return rlv_errf(err, RLV_EHEADER_JSON, "%s: tensor '%s': needs dtype (string), shape (array), "
                        "data_offsets ([begin, end])", path, name);
    rlv_dtype dt;
    if (!parse_dtype(json_string_value(jd), &dt))
        return rlv_errf(err, RLV_EDTYPE, "%s: tensor '%s': dtype %s is not supported (F32, F16, BF16, I8 are)",
                        path, name, json_string_value(jd));
    size_t nd = json_array_size(js);
    if (nd > RLV_MAX_DIMS)
        return rlv_errf(err, RLV_EHEADER_JSON, "%s: tensor '%s': %zu dimensions (max %d)", path, name, nd, RLV_MAX_DIMS);
    int64_t shape[RLV_MAX_DIMS];
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!get_u64(json_array_get(js, i), &d))
            return rlv_errf(err, RLV_EHEADER_JSON, "%s: tensor '%s': shape[%zu] is not an integer in [0, 2^53]",
                            path, name, i);
        shape[i] = (int64_t)d;
    }
    uint64_t b, e;
    if (!get_u64(json_array_get(jo, 0), &b) || !get_u64(json_array_get(jo, 1), &e) || e < b)
        return rlv_errf(err, RLV_EHEADER_JSON, "%s: tensor '%s': data_offsets must be integers 0 <= begin <= end <= 2^53", path, name);
    if (e > data_len)
        return rlv_errf(err, RLV_ERANGE, "%s: tensor '%s': data_offsets [%llu, %llu] outside the data area of %zu B",
                        path, name, (unsigned long long)b, (unsigned long long)e, data_len);
    return ckpt_add_tensor(c, file, name, dt, (int)nd, shape, data + b, (size_t)(e - b), err);
}

/* __metadata__ (string -> string, per the safetensors spec): only our keys are read.
 * "rlaifv.quant": "q8" and "rlaifv.q8_block": decimal in [1, Q8_BLOCK_MAX] go together;
 * "rlaifv.panels" (a layout name: letters, digits, '-') and "rlaifv.panel_tensors" too (ckpt.c note 6). */
static int read_metadata(ckpt *c, int file, const char *path, json_t *md, rlv_err *err) {
    if (!json_is_object(md)) return rlv_errf(err, RLV_EHEADER_JSON, "%s: __metadata__ is not an object", path);
    json_t *jl = json_object_get(md, "rlaifv.panels"), *jn = json_object_get(md, "rlaifv.panel_tensors");
    if (jl || jn) {
        const char *l = json_is_string(jl) ? json_string_value(jl) : "";
        size_t ll = strspn(l, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (!json_is_string(jn) || ll == 0 || ll > 64 || l[ll])
            return rlv_errf(err, RLV_EFORMAT, "%s: __metadata__ \"rlaifv.panels\" must be a layout name (letters, digits, "
                            "'-') with \"rlaifv.panel_tensors\" a string", path);
        int rc = ckpt_set_panels(c, file, l, json_string_value(jn), err);
        if (rc) return rc;
    }
    json_t *jq = json_object_get(md, "rlaifv.quant"), *jb = json_object_get(md, "rlaifv.q8_block");
    if (!jq && !jb) return RLV_OK;
    if (!json_is_string(jq) || strcmp(json_string_value(jq), "q8") != 0)
        return rlv_errf(err, RLV_EFORMAT, "%s: __metadata__ \"rlaifv.quant\" must be \"q8\" (with \"rlaifv.q8_block\")", path);
    const char *b = json_is_string(jb) ? json_string_value(jb) : "";
    long v = 0;
    size_t i = 0;
    for (; b[i] >= '0' && b[i] <= '9' && v <= Q8_BLOCK_MAX; i++) v = v * 10 + (b[i] - '0');
    if (i == 0 || b[i] || v < 1 || v > Q8_BLOCK_MAX)
        return rlv_errf(err, RLV_EFORMAT, "%s: __metadata__ \"rlaifv.q8_block\" must be a decimal string in [1, %d]",
                        path, Q8_BLOCK_MAX);
    ckpt_set_q8_block(c, file, (int)v);
    return RLV_OK;
}

int ckpt_st_load_file(ckpt *c, const char *path, rlv_err *err) {
    const uint8_t *base;
    size_t len;
    int file = ckpt_map_file(c, path, &base, &len, err);
    if (file < 0) return file;
    if (len < 8)
        return rlv_errf(err, RLV_ETRUNCATED, "%s: %zu bytes, shorter than the 8-byte header length", path, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | base[i];
    if (n > len - 8)
        return rlv_errf(err, RLV_EHEADER_LEN, "%s: header length %llu beyond the file (%zu B)", path,
                        (unsigned long long)n, len);
    if (n > ST_MAX_HEADER)
        return rlv_errf(err, RLV_EHEADER_LEN, "%s: header length %llu above the 100 MB limit", path,
                        (unsigned long long)n);
    json_error_t je;
    json_t *root = json_loadb((const char *)base + 8, (size_t)n, JSON_REJECT_DUPLICATES | JNUM_DECODE, &je);
    if (!root)
        return rlv_errf(err, RLV_EHEADER_JSON, "%s: header is not valid JSON (at byte %d: %s)", path, je.position,
                        je.text);
    int rc = RLV_OK;
    if (!json_is_object(root)) {
        rc = rlv_errf(err, RLV_EHEADER_JSON, "%s: header is not a JSON object", path);
    } else {
        const uint8_t *data = base + 8 + n;
        size_t data_len = len - 8 - (size_t)n;
        const char *name;
        json_t *info;
        /* A file cut short (download interrupted) keeps a header whose ranges tile [0, max_end)
         * exactly; that is reported as truncation rather than as one range out of bounds. */
        uint64_t max_end = 0, sum = 0, b, e;
        json_object_foreach(root, name, info) {
            json_t *jo = json_object_get(info, "data_offsets");
            if (json_is_array(jo) && get_u64(json_array_get(jo, 0), &b) && get_u64(json_array_get(jo, 1), &e) && e >= b) {
                sum += e - b;
                if (e > max_end) max_end = e;
            }
        }
        if (max_end > data_len && sum == max_end) {
            json_decref(root);
            return rlv_errf(err, RLV_ETRUNCATED, "%s: truncated: the header describes %llu B of data, the file holds %zu B",
                            path, (unsigned long long)max_end, data_len);
        }
        json_object_foreach(root, name, info) {
            if (!strcmp(name, "__metadata__")) {
                if ((rc = read_metadata(c, file, path, info, err))) break;
                continue;
            }
            if ((rc = add_entry(c, file, path, name, info, data, data_len, err))) break;
        }
        if (!rc) rc = ckpt_check_overlaps(c, file, err);
    }
    json_decref(root);
    return rc;
}
