/* proto_impl.h — internal to proto/: the bounded msgpack pull reader (reader.c). Not part of the public API; nothing outside proto/ includes it.
 *
 * Why a reader of our own for decoding (msgpack-c is still used for every reply): msgpack-c 4.0's
 * C unpacker materialises a msgpack_object tree and allocates each array/map's element table from
 * the count the header DECLARES, before reading a single element — the 5 bytes dd ff ff ff ff
 * ask its zone for 128 GiB (ASan aborts; without it the daemon may be OOM-killed). A pull reader
 * over the message buffer checks every declared length against the bytes that are really there,
 * allocates nothing, hands out pointers into the buffer (zero-copy), and lets the decoder check a
 * limit (max candidates) on the array header before any element is touched. */
#ifndef RLV_PROTO_IMPL_H
#define RLV_PROTO_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "utf8.h"

typedef enum mp_kind {
    MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY, MP_MAP, MP_EXT
} mp_kind;

/* One msgpack item as read from the buffer. Scalars are decoded; str/bin/ext point into the
 * buffer (ptr, len); arrays/maps carry their element (pair) count in len and are NOT entered. */
typedef struct mp_item {
    mp_kind kind;
    bool b;            /* MP_BOOL */
    uint64_t u;        /* MP_UINT: every non-negative integer, whatever its encoding */
    int64_t i;         /* MP_INT: negative integers only */
    double f;          /* MP_FLOAT (float32 widened) */
    const uint8_t *ptr;/* MP_STR / MP_BIN / MP_EXT payload */
    uint32_t len;      /* payload bytes, or MP_ARRAY elements / MP_MAP pairs */
    int8_t ext_type;   /* MP_EXT */
} mp_item;

typedef struct proto_reader {
    const uint8_t *start, *p, *end;  /* p advances; start only for offsets in messages */
} proto_reader;

enum {
    MP_OK = 0,
    MP_ETRUNC = -1,    /* a header or payload runs past the end of the buffer */
    MP_EBYTE = -2,     /* 0xc1, the one byte msgpack never uses */
    MP_EDEPTH = -3,    /* nesting deeper than allowed */
};

void proto_reader_init(proto_reader *r, const void *data, size_t len);
/* Reads one item header (and a scalar/str/bin/ext payload). On error r->p is unchanged. */
int proto_reader_next(proto_reader *r, mp_item *it);
/* Skips one complete value (containers with all they hold), at most max_depth container levels
 * (a container counts 1, its child containers 2, ...). Non-recursive; every declared count is
 * checked against the bytes left. On error r->p points at the offending item. */
int proto_reader_skip(proto_reader *r, int max_depth);
/* "nil", "bool", "int", "float", "str", "bin", "array", "map", "ext". */
const char *proto_mp_kind_name(mp_kind k);

#endif
