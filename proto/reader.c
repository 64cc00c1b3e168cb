/* reader.c — a bounded msgpack pull reader over one buffer (see proto_impl.h for why).
 * Every length is checked against the bytes left before it is used; nothing is allocated. */
#include <string.h>

#include "rlaifv_proto.h"
#include "proto_impl.h"

void proto_reader_init(proto_reader *r, const void *data, size_t len) {
    r->start = r->p = (const uint8_t *)data;
    r->end = r->p + len;
}

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; k++) v = (v << 8) | p[k];
    return v;
}

int proto_reader_next(proto_reader *r, mp_item *it) {
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);
    if (left < 1) return MP_ETRUNC;
    uint8_t c = *p++;
    left--;
    memset(it, 0, sizeof *it);
    int hdr = 0;         /* bytes of big-endian length/value that follow the type byte */
    uint32_t fixlen = 0;
    if (c <= 0x7f) { it->kind = MP_UINT; it->u = c; goto done; }
    if (c >= 0xe0) { it->kind = MP_INT; it->i = (int8_t)c; goto done; }
    if ((c & 0xf0) == 0x80) { it->kind = MP_MAP; it->len = c & 0x0f; goto done; }
    if ((c & 0xf0) == 0x90) { it->kind = MP_ARRAY; it->len = c & 0x0f; goto done; }
    if ((c & 0xe0) == 0xa0) { it->kind = MP_STR; fixlen = c & 0x1f; goto payload; }
    switch (c) {
    case 0xc0: it->kind = MP_NIL; goto done;
    case 0xc1: return MP_EBYTE;
    case 0xc2: case 0xc3: it->kind = MP_BOOL; it->b = c == 0xc3; goto done;
    case 0xc4: case 0xc5: case 0xc6: it->kind = MP_BIN; hdr = 1 << (c - 0xc4); break;
    case 0xd9: case 0xda: case 0xdb: it->kind = MP_STR; hdr = 1 << (c - 0xd9); break;
    case 0xc7: case 0xc8: case 0xc9: it->kind = MP_EXT; hdr = 1 << (c - 0xc7); break;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        it->kind = MP_EXT;
        if (left < 1) return MP_ETRUNC;
        it->ext_type = (int8_t)*p++;
        left--;
        fixlen = 1u << (c - 0xd4);
        goto payload;
    case 0xca: case 0xcb: {
        int n = c == 0xca ? 4 : 8;
        if (left < (size_t)n) return MP_ETRUNC;
        uint64_t bits = be(p, n);
        p += n;
        it->kind = MP_FLOAT;
        if (n == 4) { uint32_t b32 = (uint32_t)bits; float f; memcpy(&f, &b32, 4); it->f = f; }
        else memcpy(&it->f, &bits, 8);
        goto done;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int n = 1 << (c - 0xcc);
        if (left < (size_t)n) return MP_ETRUNC;
        it->kind = MP_UINT;
        it->u = be(p, n);
        p += n;
        goto done;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int n = 1 << (c - 0xd0);
        if (left < (size_t)n) return MP_ETRUNC;
        uint64_t raw = be(p, n);
        p += n;
        /* sign-extend from n bytes */
        int64_t v = n == 8 ? (int64_t)raw
                           : (int64_t)(raw ^ (UINT64_C(1) << (8 * n - 1))) - (INT64_C(1) << (8 * n - 1));
        if (v >= 0) { it->kind = MP_UINT; it->u = (uint64_t)v; }
        else { it->kind = MP_INT; it->i = v; }
        goto done;
    }
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        int n = (c & 1) ? 4 : 2;
        if (left < (size_t)n) return MP_ETRUNC;
        it->kind = c >= 0xde ? MP_MAP : MP_ARRAY;
        it->len = (uint32_t)be(p, n);
        p += n;
        left -= (size_t)n;
        /* each element takes at least one byte: a count beyond the bytes left is a lie */
        if ((uint64_t)it->len * (it->kind == MP_MAP ? 2 : 1) > left) return MP_ETRUNC;
        goto done;
    }
    default: return MP_EBYTE; /* unreachable: every byte value is handled above */
    }
    if (left < (size_t)hdr) return MP_ETRUNC;
    fixlen = (uint32_t)be(p, hdr);
    p += hdr;
    left -= (size_t)hdr;
    if (it->kind == MP_EXT) {
        if (left < 1) return MP_ETRUNC;
        it->ext_type = (int8_t)*p++;
        left--;
    }
payload:
    if (left < fixlen) return MP_ETRUNC;
    it->ptr = p;
    it->len = fixlen;
    p += fixlen;
done:
    r->p = p;
    return MP_OK;
}

int proto_reader_skip(proto_reader *r, int max_depth) {
    uint64_t rem[RLV_PROTO_MAX_DEPTH + 2]; /* items still to read at each open level */
    if (max_depth > RLV_PROTO_MAX_DEPTH) max_depth = RLV_PROTO_MAX_DEPTH;
    int depth = 0;
    rem[0] = 1;
    while (depth >= 0) {
        if (rem[depth] == 0) { depth--; continue; }
        mp_item it;
        const uint8_t *at = r->p;
        int rc = proto_reader_next(r, &it);
        if (rc != MP_OK) return rc;
        rem[depth]--;
        if (it.kind == MP_ARRAY || it.kind == MP_MAP) {
            if (depth + 1 > max_depth) { r->p = at; return MP_EDEPTH; }
            rem[++depth] = it.kind == MP_MAP ? 2 * (uint64_t)it.len : it.len;
        }
    }
    return MP_OK;
}

const char *proto_mp_kind_name(mp_kind k) {
    static const char *const names[] = {"nil", "bool", "int", "int", "float", "str", "bin", "array", "map", "ext"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}
