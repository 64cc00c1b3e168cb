/* pickle.c — the strict data.pkl reader: a pickle VM with an allow-list, no execution.
 *
 * Design notes:
 * (1) Nothing is ever called. The only "callables" are three tags (OrderedDict, the tensor
 *     rebuild function, a storage class); REDUCE on them builds our own records after
 *     checking the argument shapes, and any other global is refused where it is named.
 * (2) The VM is iterative (no recursion anywhere), so nesting depth costs memory, not C
 *     stack; the stack, the marks, the memo, each string and every allocation are bounded
 *     by the PICKLE_MAX_* limits, and every length read from the buffer is checked against
 *     the bytes left before it is used.
 * (3) Objects (tuples, dicts, lists, tensors) live in one allocation list freed at the end,
 *     so shared references (memo, BINGET) never need reference counts. Strings point into
 *     the pickle buffer; only the names and keys that are returned are copied.
 * (4) What torch.save writes (protocol 2): GLOBAL 'collections OrderedDict', EMPTY_TUPLE,
 *     REDUCE, MARK, then per tensor BINUNICODE name, GLOBAL 'torch._utils _rebuild_tensor_v2',
 *     a MARK-tuple holding BINPERSID of ('storage', torch.XStorage, key, 'cpu', numel),
 *     offset, size tuple, stride tuple, NEWFALSE, an empty OrderedDict; SETITEMS; STOP.
 *     model.state_dict() adds a BUILD with {'_metadata': {...}}; protocol 4 uses FRAME,
 *     SHORT_BINUNICODE, STACK_GLOBAL and MEMOIZE. All of these are accepted. */
#include "pickle.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { V_UNSET = 0, V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_DICT, V_LIST, V_GLOBAL, V_STORAGE, V_TENSOR, V_MARK };
enum { G_ODICT, G_REBUILD, G_STORAGE_F32, G_STORAGE_F16, G_STORAGE_BF16 };

typedef struct obj obj;
typedef struct val {
    int kind;
    int64_t i;     /* V_INT, V_BOOL, V_GLOBAL (G_*), V_STORAGE (index) */
    const char *s; /* V_STR: into the pickle buffer, not NUL-terminated */
    size_t n;      /* V_STR length */
    obj *o;        /* V_TUPLE, V_DICT, V_LIST, V_TENSOR */
} val;

struct obj {
    obj *next;          /* allocation list */
    int n, cap;         /* tuple/list: items; dict: pairs */
    val *items;         /* tuple/list: [n]; dict: [2n] key, value */
    pickle_tensor t;    /* V_TENSOR (name unused) */
};

typedef struct vm {
    const uint8_t *buf;
    size_t len, pos, op_pos;
    val *stack;
    int sp, stack_cap;
    int marks[PICKLE_MAX_MARKS];
    int n_marks;
    val *memo;
    size_t memo_cap;
    size_t memo_count;  /* slots set: MEMOIZE's next index, as len(memo) in Python */
    obj *objs;
    size_t bytes;       /* allocated for objects, against PICKLE_MAX_BYTES */
    pickle_storage *storages;
    int n_storages, cap_storages;
    json_t *storage_index; /* key -> index */
    rlv_err *err;
} vm;

/* Names of every pickle opcode, for the refusal message. */
static const char *op_name(uint8_t op) {
    static const struct { uint8_t op; const char *name; } t[] = {
        {'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"}, {'F', "FLOAT"},
        {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'L', "LONG"}, {'M', "BININT2"}, {'N', "NONE"},
        {'P', "PERSID"}, {'Q', "BINPERSID"}, {'R', "REDUCE"}, {'S', "STRING"}, {'T', "BINSTRING"},
        {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"}, {'X', "BINUNICODE"}, {'a', "APPEND"}, {'b', "BUILD"},
        {'c', "GLOBAL"}, {'d', "DICT"}, {'}', "EMPTY_DICT"}, {'e', "APPENDS"}, {'g', "GET"}, {'h', "BINGET"},
        {'i', "INST"}, {'j', "LONG_BINGET"}, {'l', "LIST"}, {']', "EMPTY_LIST"}, {'o', "OBJ"}, {'p', "PUT"},
        {'q', "BINPUT"}, {'r', "LONG_BINPUT"}, {'s', "SETITEM"}, {'t', "TUPLE"}, {')', "EMPTY_TUPLE"},
        {'u', "SETITEMS"}, {'G', "BINFLOAT"}, {0x80, "PROTO"}, {0x81, "NEWOBJ"}, {0x82, "EXT1"},
        {0x83, "EXT2"}, {0x84, "EXT4"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"},
        {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {0x8a, "LONG1"}, {0x8b, "LONG4"}, {0x8c, "SHORT_BINUNICODE"},
        {0x8d, "BINUNICODE8"}, {0x8e, "BINBYTES8"}, {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"},
        {0x91, "FROZENSET"}, {0x92, "NEWOBJ_EX"}, {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"}, {0x95, "FRAME"},
        {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"}, {'B', "BINBYTES"},
        {'C', "SHORT_BINBYTES"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].op == op) return t[i].name;
    return "unknown";
}

/* Printable copy of untrusted bytes for a message (at most 80 of them). */
static const char *show(char *dst, size_t cap, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && i < 80 && k + 4 < cap; i++)
        dst[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n > 80 && k + 4 < cap) dst[k++] = '.', dst[k++] = '.', dst[k++] = '.';
    dst[k] = 0;
    return dst;
}

static int fail(vm *m, const char *what) {
    return rlv_errf(m->err, RLV_EPICKLE, "data.pkl byte %zu (%s): %s", m->op_pos, op_name(m->buf[m->op_pos]), what);
}

static const char *kind_name(int k) {
    static const char *n[] = {"unset", "None", "bool", "int", "str", "tuple", "dict", "list", "global",
                              "storage", "tensor", "MARK"};
    return k >= 0 && k <= V_MARK ? n[k] : "?";
}

static obj *new_obj(vm *m, int n_items) {
    size_t bytes = sizeof(obj) + (size_t)n_items * sizeof(val);
    if (m->bytes + bytes > PICKLE_MAX_BYTES) return NULL;
    obj *o = calloc(1, bytes);
    if (!o) return NULL;
    m->bytes += bytes;
    o->next = m->objs;
    m->objs = o;
    o->n = 0;
    o->cap = n_items;
    o->items = n_items ? (val *)(o + 1) : NULL;
    return o;
}

static int oom(vm *m) {
    if (m->bytes >= PICKLE_MAX_BYTES / 2)
        return rlv_errf(m->err, RLV_EPICKLE, "data.pkl byte %zu: allocations above the %u MB limit", m->op_pos,
                        PICKLE_MAX_BYTES >> 20);
    return rlv_errf(m->err, RLV_ENOMEM, "data.pkl: out of memory");
}

/* Grows a dict (pairs) or list (items) to hold one more; old blocks stay on the list. */
static int grow(vm *m, obj *o, int per) {
    if (o->n < o->cap) return RLV_OK;
    int cap = o->cap ? 2 * o->cap : 8;
    if (cap > (int)(PICKLE_MAX_BYTES / sizeof(val))) return oom(m);
    obj *blk = new_obj(m, cap * per);
    if (!blk) return oom(m);
    if (o->n) memcpy(blk->items, o->items, (size_t)o->n * per * sizeof(val));
    o->items = blk->items;
    o->cap = cap;
    return RLV_OK;
}

static int push(vm *m, val v) {
    if (m->sp == m->stack_cap) {
        if (m->stack_cap >= PICKLE_MAX_STACK) return fail(m, "stack deeper than the limit");
        int cap = m->stack_cap ? 2 * m->stack_cap : 64;
        val *s = realloc(m->stack, (size_t)cap * sizeof *s);
        if (!s) return rlv_errf(m->err, RLV_ENOMEM, "data.pkl: out of memory");
        m->stack = s;
        m->stack_cap = cap;
    }
    m->stack[m->sp++] = v;
    return RLV_OK;
}

/* Pops one value that is not below the current MARK. */
static int pop(vm *m, val *v) {
    int floor = m->n_marks ? m->marks[m->n_marks - 1] + 1 : 0;
    if (m->sp <= floor) return fail(m, "stack underflow");
    *v = m->stack[--m->sp];
    return RLV_OK;
}

static int top(vm *m, val **v) {
    int floor = m->n_marks ? m->marks[m->n_marks - 1] + 1 : 0;
    if (m->sp <= floor) return fail(m, "stack underflow");
    *v = &m->stack[m->sp - 1];
    return RLV_OK;
}

/* Values since the last MARK: stack[*first .. sp). The MARK itself is removed by the caller. */
static int since_mark(vm *m, int *first) {
    if (!m->n_marks) return fail(m, "no MARK to pop to");
    *first = m->marks[m->n_marks - 1] + 1;
    return RLV_OK;
}

static void drop_mark(vm *m) {
    m->sp = m->marks[--m->n_marks];
}

static int need(vm *m, size_t n) {
    if (n > m->len - m->pos) return fail(m, "operand runs past the end of data.pkl");
    return RLV_OK;
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int make_tuple(vm *m, const val *items, int n) {
    obj *o = new_obj(m, n);
    if (!o) return oom(m);
    for (int i = 0; i < n; i++) {
        if (items[i].kind == V_MARK) return fail(m, "MARK inside a tuple");
        o->items[i] = items[i];
    }
    o->n = n;
    return push(m, (val){.kind = V_TUPLE, .o = o});
}

static int resolve_global(vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
    static const struct { const char *mod, *name; int g; } allow[] = {
        {"collections", "OrderedDict", G_ODICT},
        {"torch._utils", "_rebuild_tensor_v2", G_REBUILD},
        {"torch", "FloatStorage", G_STORAGE_F32},
        {"torch", "HalfStorage", G_STORAGE_F16},
        {"torch", "BFloat16Storage", G_STORAGE_BF16},
    };
    for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
        if (strlen(allow[i].mod) == ml && !memcmp(allow[i].mod, mod, ml) && strlen(allow[i].name) == nl &&
            !memcmp(allow[i].name, name, nl))
            return push(m, (val){.kind = V_GLOBAL, .i = allow[i].g});
    char a[96], b[96], msg[320];
    snprintf(msg, sizeof msg, "global '%s.%s' is not allowed (only collections.OrderedDict, "
             "torch._utils._rebuild_tensor_v2, torch.{BFloat16,Half,Float}Storage)",
             show(a, sizeof a, mod, ml), show(b, sizeof b, name, nl));
    return fail(m, msg);
}

/* GLOBAL: "module\nname\n" in the stream. */
static int op_global(vm *m) {
    const char *p[2];
    size_t n[2];
    for (int k = 0; k < 2; k++) {
        const uint8_t *s = m->buf + m->pos;
        size_t left = m->len - m->pos, lim = left < 256 ? left : 256;
        const uint8_t *nl = memchr(s, '\n', lim);
        if (!nl) return fail(m, "GLOBAL name not terminated within 256 bytes");
        p[k] = (const char *)s;
        n[k] = (size_t)(nl - s);
        m->pos += n[k] + 1;
    }
    return resolve_global(m, p[0], n[0], p[1], n[1]);
}

/* A storage key names a zip entry <archive>/data/<key>: short, and no path characters. */
static int key_ok(const char *s, size_t n) {
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int op_persid(vm *m) {
    val pid = {0};
    int rc;
    if ((rc = pop(m, &pid))) return rc;
    const val *f = pid.kind == V_TUPLE ? pid.o->items : NULL;
    if (!f || pid.o->n != 5 || f[0].kind != V_STR || f[0].n != 7 || memcmp(f[0].s, "storage", 7) ||
        f[1].kind != V_GLOBAL || f[2].kind != V_STR || f[3].kind != V_STR || f[4].kind != V_INT)
        return fail(m, "persistent id is not ('storage', torch.XStorage, key, location, numel)");
    if (f[1].i < G_STORAGE_F32) return fail(m, "persistent id's storage class is not a storage");
    if (f[4].i < 0) return fail(m, "storage numel is negative");
    if (!key_ok(f[2].s, f[2].n)) return fail(m, "storage key is not 1-64 characters of [A-Za-z0-9_-]");
    rlv_dtype dt = f[1].i == G_STORAGE_F32 ? RLV_F32 : f[1].i == G_STORAGE_F16 ? RLV_F16 : RLV_BF16;
    char key[65];
    memcpy(key, f[2].s, f[2].n);
    key[f[2].n] = 0;
    json_t *j = json_object_get(m->storage_index, key);
    if (j) {
        int idx = (int)json_integer_value(j);
        if (m->storages[idx].dtype != dt || m->storages[idx].numel != f[4].i) {
            char msg[160];
            snprintf(msg, sizeof msg, "storage '%s' declared twice with another class or numel", key);
            return fail(m, msg);
        }
        return push(m, (val){.kind = V_STORAGE, .i = idx});
    }
    if (m->n_storages == m->cap_storages) {
        int cap = m->cap_storages ? 2 * m->cap_storages : 64;
        if (cap > PICKLE_MAX_MEMO) return fail(m, "more storages than the limit");
        pickle_storage *s = realloc(m->storages, (size_t)cap * sizeof *s);
        if (!s) return rlv_errf(m->err, RLV_ENOMEM, "data.pkl: out of memory");
        m->storages = s;
        m->cap_storages = cap;
    }
    pickle_storage *s = &m->storages[m->n_storages];
    s->key = strdup(key);
    if (!s->key || json_object_set_new_nocheck(m->storage_index, key, json_integer(m->n_storages))) {
        free(s->key);
        return rlv_errf(m->err, RLV_ENOMEM, "data.pkl: out of memory");
    }
    s->dtype = dt;
    s->numel = f[4].i;
    return push(m, (val){.kind = V_STORAGE, .i = m->n_storages++});
}

static int int_tuple(const val *v, int64_t *out, int *n) {
    if (v->kind != V_TUPLE || v->o->n > RLV_MAX_DIMS) return 0;
    for (int i = 0; i < v->o->n; i++) {
        if (v->o->items[i].kind != V_INT || v->o->items[i].i < 0) return 0;
        out[i] = v->o->items[i].i;
    }
    *n = v->o->n;
    return 1;
}

static int empty_dict(const val *v) { return v->kind == V_DICT && v->o->n == 0; }

static int op_reduce(vm *m) {
    val args = {0}, fn = {0};
    int rc;
    if ((rc = pop(m, &args)) || (rc = pop(m, &fn))) return rc;
    if (fn.kind != V_GLOBAL || (fn.i != G_ODICT && fn.i != G_REBUILD)) {
        char msg[96];
        snprintf(msg, sizeof msg, "REDUCE on a %s is not allowed", fn.kind == V_GLOBAL ? "storage class" : kind_name(fn.kind));
        return fail(m, msg);
    }
    if (args.kind != V_TUPLE) return fail(m, "REDUCE arguments are not a tuple");
    if (fn.i == G_ODICT) {
        if (args.o->n != 0) return fail(m, "OrderedDict() called with arguments");
        obj *o = new_obj(m, 0);
        if (!o) return oom(m);
        return push(m, (val){.kind = V_DICT, .o = o});
    }
    /* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
    const val *a = args.o->items;
    int n = args.o->n;
    obj *o = new_obj(m, 0);
    if (!o) return oom(m);
    int nd_size = 0, nd_stride = 0;
    if ((n != 6 && n != 7) || a[0].kind != V_STORAGE || a[1].kind != V_INT || a[1].i < 0 ||
        !int_tuple(&a[2], o->t.shape, &nd_size) || !int_tuple(&a[3], o->t.stride, &nd_stride) ||
        nd_size != nd_stride || (a[4].kind != V_BOOL && a[4].kind != V_INT) || !empty_dict(&a[5]) ||
        (n == 7 && a[6].kind != V_NONE && !empty_dict(&a[6])))
        return fail(m, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, requires_grad, "
                       "{} [, None]) with at most 8 non-negative dims");
    o->t.storage = (int)a[0].i;
    o->t.offset = a[1].i;
    o->t.ndim = nd_size;
    return push(m, (val){.kind = V_TENSOR, .o = o});
}

static int dict_set(vm *m, obj *d, val k, val v) {
    int rc;
    if (k.kind == V_MARK || v.kind == V_MARK) return fail(m, "MARK used as a dict key or value");
    if ((rc = grow(m, d, 2))) return rc;
    d->items[2 * d->n] = k;
    d->items[2 * d->n + 1] = v;
    d->n++;
    return RLV_OK;
}

static int memo_put(vm *m, uint64_t idx) {
    val *v = NULL;
    int rc;
    if ((rc = top(m, &v))) return rc;
    if (idx >= PICKLE_MAX_MEMO || idx >= m->len) {
        /* writers number memo entries densely from 0, one per put of at least 2 bytes: an index past
         * the pickle's length is malformed, and honouring it would make a 15-byte file allocate and
         * clear a 40 MB memo (a libFuzzer finding) */
        char msg[128];
        snprintf(msg, sizeof msg, "memo index %llu above the limit %d or the pickle's %zu bytes", (unsigned long long)idx,
                 PICKLE_MAX_MEMO, m->len);
        return fail(m, msg);
    }
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 256;
        while (cap <= idx) cap *= 2;
        val *mm = realloc(m->memo, cap * sizeof *mm);
        if (!mm) return rlv_errf(m->err, RLV_ENOMEM, "data.pkl: out of memory");
        memset(mm + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *mm);
        m->memo = mm;
        m->memo_cap = cap;
    }
    if (m->memo[idx].kind == V_UNSET) m->memo_count++;
    m->memo[idx] = *v;
    return RLV_OK;
}

static int memo_get(vm *m, uint64_t idx) {
    if (idx >= m->memo_cap || m->memo[idx].kind == V_UNSET) {
        char msg[96];
        snprintf(msg, sizeof msg, "memo index %llu was never stored", (unsigned long long)idx);
        return fail(m, msg);
    }
    return push(m, m->memo[idx]);
}

static int push_str(vm *m, uint64_t n) {
    if (n > PICKLE_MAX_STR) {
        char msg[96];
        snprintf(msg, sizeof msg, "string of %llu bytes above the limit %d", (unsigned long long)n, PICKLE_MAX_STR);
        return fail(m, msg);
    }
    int rc;
    if ((rc = need(m, (size_t)n))) return rc;
    val v = {.kind = V_STR, .s = (const char *)m->buf + m->pos, .n = (size_t)n};
    m->pos += (size_t)n;
    return push(m, v);
}

static int step(vm *m, int *done, val *result) {
    m->op_pos = m->pos;
    uint8_t op = m->buf[m->pos++];
    val a = {0}, b = {0}, *t = NULL;
    int rc = RLV_OK, first = 0;
    switch (op) {
    case 0x80: /* PROTO */
        if ((rc = need(m, 1))) return rc;
        if (m->buf[m->pos++] > 5) return fail(m, "protocol above 5");
        return RLV_OK;
    case 0x95: /* FRAME: a length hint; the opcodes inside are read as usual */
        if ((rc = need(m, 8))) return rc;
        if (rd_le(m->buf + m->pos, 8) > m->len - m->pos - 8) return fail(m, "frame longer than the data left");
        m->pos += 8;
        return RLV_OK;
    case '}': case ']': {
        obj *o = new_obj(m, 0);
        if (!o) return oom(m);
        return push(m, (val){.kind = op == '}' ? V_DICT : V_LIST, .o = o});
    }
    case ')': return make_tuple(m, NULL, 0);
    case '(':
        if (m->n_marks == PICKLE_MAX_MARKS) return fail(m, "MARKs nested deeper than the limit");
        m->marks[m->n_marks++] = m->sp;
        return push(m, (val){.kind = V_MARK});
    case 't':
        if ((rc = since_mark(m, &first))) return rc;
        {
            int n = m->sp - first;
            obj *o = new_obj(m, n);
            if (!o) return oom(m);
            if (n) memcpy(o->items, m->stack + first, (size_t)n * sizeof(val));
            o->n = n;
            drop_mark(m);
            return push(m, (val){.kind = V_TUPLE, .o = o});
        }
    case 0x85: case 0x86: case 0x87: {
        int n = op - 0x84;
        val it[3];
        for (int i = n - 1; i >= 0; i--)
            if ((rc = pop(m, &it[i]))) return rc;
        return make_tuple(m, it, n);
    }
    case 'X': if ((rc = need(m, 4))) return rc; m->pos += 4; return push_str(m, rd_le(m->buf + m->pos - 4, 4));
    case 0x8c: if ((rc = need(m, 1))) return rc; m->pos += 1; return push_str(m, m->buf[m->pos - 1]);
    case 0x8d: if ((rc = need(m, 8))) return rc; m->pos += 8; return push_str(m, rd_le(m->buf + m->pos - 8, 8));
    case 'c': return op_global(m);
    case 0x93: /* STACK_GLOBAL: module, name */
        if ((rc = pop(m, &b)) || (rc = pop(m, &a))) return rc;
        if (a.kind != V_STR || b.kind != V_STR) return fail(m, "STACK_GLOBAL operands are not strings");
        return resolve_global(m, a.s, a.n, b.s, b.n);
    case 'Q': return op_persid(m);
    case 'R': return op_reduce(m);
    case 'b': /* BUILD on a dict: state_dict()'s _metadata; read, then dropped */
        if ((rc = pop(m, &a)) || (rc = top(m, &t))) return rc;
        if (t->kind != V_DICT || (a.kind != V_DICT && a.kind != V_NONE))
            return fail(m, "BUILD is only allowed with a dict state on a dict");
        return RLV_OK;
    case 's':
        if ((rc = pop(m, &b)) || (rc = pop(m, &a)) || (rc = top(m, &t))) return rc;
        if (t->kind != V_DICT) return fail(m, "SETITEM on something that is not a dict");
        return dict_set(m, t->o, a, b);
    case 'u':
        if ((rc = since_mark(m, &first))) return rc;
        if ((m->sp - first) % 2) return fail(m, "SETITEMS with an odd number of values");
        if (first < 2 || m->stack[first - 2].kind != V_DICT) return fail(m, "SETITEMS on something that is not a dict");
        for (int i = first; i < m->sp && !rc; i += 2) rc = dict_set(m, m->stack[first - 2].o, m->stack[i], m->stack[i + 1]);
        if (!rc) drop_mark(m);
        return rc;
    case 'a':
        if ((rc = pop(m, &a)) || (rc = top(m, &t))) return rc;
        if (t->kind != V_LIST) return fail(m, "APPEND on something that is not a list");
        if ((rc = grow(m, t->o, 1))) return rc;
        t->o->items[t->o->n++] = a;
        return RLV_OK;
    case 'e':
        if ((rc = since_mark(m, &first))) return rc;
        if (first < 2 || m->stack[first - 2].kind != V_LIST) return fail(m, "APPENDS on something that is not a list");
        for (int i = first; i < m->sp && !rc; i++) {
            obj *l = m->stack[first - 2].o;
            if (!(rc = grow(m, l, 1))) l->items[l->n++] = m->stack[i];
        }
        if (!rc) drop_mark(m);
        return rc;
    case 'K': if ((rc = need(m, 1))) return rc; m->pos += 1; return push(m, (val){.kind = V_INT, .i = m->buf[m->pos - 1]});
    case 'M': if ((rc = need(m, 2))) return rc; m->pos += 2; return push(m, (val){.kind = V_INT, .i = (int64_t)rd_le(m->buf + m->pos - 2, 2)});
    case 'J': if ((rc = need(m, 4))) return rc; m->pos += 4; return push(m, (val){.kind = V_INT, .i = (int32_t)(uint32_t)rd_le(m->buf + m->pos - 4, 4)});
    case 0x8a: { /* LONG1: n-byte little-endian two's complement; n <= 8 here */
        if ((rc = need(m, 1))) return rc;
        int n = m->buf[m->pos++];
        if (n > 8) return fail(m, "integer wider than 64 bits");
        if ((rc = need(m, (size_t)n))) return rc;
        uint64_t u = n ? rd_le(m->buf + m->pos, n) : 0;
        if (n && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~UINT64_C(0) << (8 * n); /* sign-extend */
        m->pos += (size_t)n;
        return push(m, (val){.kind = V_INT, .i = (int64_t)u});
    }
    case 0x88: case 0x89: return push(m, (val){.kind = V_BOOL, .i = op == 0x88});
    case 'N': return push(m, (val){.kind = V_NONE});
    case 'q': if ((rc = need(m, 1))) return rc; m->pos += 1; return memo_put(m, m->buf[m->pos - 1]);
    case 'r': if ((rc = need(m, 4))) return rc; m->pos += 4; return memo_put(m, rd_le(m->buf + m->pos - 4, 4));
    case 0x94: return memo_put(m, m->memo_count); /* MEMOIZE: index len(memo) */
    case 'h': if ((rc = need(m, 1))) return rc; m->pos += 1; return memo_get(m, m->buf[m->pos - 1]);
    case 'j': if ((rc = need(m, 4))) return rc; m->pos += 4; return memo_get(m, rd_le(m->buf + m->pos - 4, 4));
    case '.':
        if ((rc = pop(m, result))) return rc;
        *done = 1;
        return RLV_OK;
    default: {
        char msg[64];
        snprintf(msg, sizeof msg, "opcode 0x%02x is not allowed in a state dict", op);
        return fail(m, msg);
    }
    }
}

static int collect(vm *m, const val *root, pickle_state_dict *out) {
    if (root->kind != V_DICT)
        return rlv_errf(m->err, RLV_EPICKLE, "data.pkl: the top-level object is a %s, not a dict of tensors",
                        kind_name(root->kind));
    const obj *d = root->o;
    out->tensors = calloc(d->n ? (size_t)d->n : 1, sizeof *out->tensors);
    if (!out->tensors) return rlv_errf(m->err, RLV_ENOMEM, "data.pkl: out of memory");
    for (int i = 0; i < d->n; i++) {
        const val *k = &d->items[2 * i], *v = &d->items[2 * i + 1];
        char s[96];
        if (k->kind != V_STR || memchr(k->s, 0, k->n) || k->n == 0)
            return rlv_errf(m->err, RLV_EPICKLE, "data.pkl: state-dict key %d is a %s, not a non-empty string",
                            i, k->kind == V_STR ? "string with NUL" : kind_name(k->kind));
        if (v->kind != V_TENSOR)
            return rlv_errf(m->err, RLV_EPICKLE, "data.pkl: '%s' is a %s, not a tensor",
                            show(s, sizeof s, k->s, k->n), kind_name(v->kind));
        pickle_tensor *t = &out->tensors[out->n_tensors];
        *t = v->o->t;
        char *name = malloc((size_t)k->n + 1); /* k->s is not NUL-terminated: no str* on it */
        if (!name) return rlv_errf(m->err, RLV_ENOMEM, "data.pkl: out of memory");
        memcpy(name, k->s, k->n);
        name[k->n] = 0;
        t->name = name;
        out->n_tensors++;
    }
    return RLV_OK;
}

int pickle_read_state_dict(const uint8_t *buf, size_t len, pickle_state_dict *out, rlv_err *err) {
    memset(out, 0, sizeof *out);
    vm m = {.buf = buf, .len = len, .err = err};
    m.storage_index = json_object();
    int rc = m.storage_index ? RLV_OK : rlv_errf(err, RLV_ENOMEM, "data.pkl: out of memory");
    int done = 0;
    val root = {0};
    while (!rc && !done) {
        if (m.pos >= m.len) {
            rc = rlv_errf(err, RLV_EPICKLE, "data.pkl: ended at byte %zu without STOP", m.len);
            break;
        }
        rc = step(&m, &done, &root);
    }
    if (!rc) rc = collect(&m, &root, out);
    if (!rc) {
        out->storages = m.storages;
        out->n_storages = m.n_storages;
        m.storages = NULL;
    } else {
        pickle_state_dict_free(out);
        for (int i = 0; i < m.n_storages; i++) free(m.storages[i].key);
        free(m.storages);
    }
    while (m.objs) {
        obj *n = m.objs->next;
        free(m.objs);
        m.objs = n;
    }
    free(m.stack);
    free(m.memo);
    json_decref(m.storage_index);
    return rc;
}

void pickle_state_dict_free(pickle_state_dict *sd) {
    if (!sd) return;
    for (int i = 0; i < sd->n_storages; i++) free(sd->storages[i].key);
    for (int i = 0; i < sd->n_tensors; i++) free(sd->tensors[i].name);
    free(sd->storages);
    free(sd->tensors);
    memset(sd, 0, sizeof *sd);
}
