/* errors.c — the one table of stable wire error codes, and the scrubbing of messages that go on
 * the wire or into logs (they may quote client bytes). */
#include <stdio.h>
#include <string.h>

#include "rlaifv_proto.h"
#include "proto_impl.h"

static const struct { const char *name, *meaning; } codes[RLV_PROTO_CODE_COUNT] = {
#define RLV_PROTO_CODE_ROW(e, name, meaning) [e] = {name, meaning},
    RLV_PROTO_CODE_TABLE(RLV_PROTO_CODE_ROW)
#undef RLV_PROTO_CODE_ROW
};

const char *rlv_proto_code_name(rlv_proto_code code) {
    return (unsigned)code < RLV_PROTO_CODE_COUNT ? codes[code].name : codes[RLV_PROTO_E_INTERNAL].name;
}

const char *rlv_proto_code_meaning(rlv_proto_code code) {
    return (unsigned)code < RLV_PROTO_CODE_COUNT ? codes[code].meaning : "";
}

rlv_proto_code rlv_proto_code_parse(const char *name, size_t len) {
    for (int c = 0; c < RLV_PROTO_CODE_COUNT; c++)
        if (strlen(codes[c].name) == len && !memcmp(codes[c].name, name, len)) return (rlv_proto_code)c;
    return RLV_PROTO_E_INTERNAL;
}

size_t rlv_proto_scrub(char *dst, size_t cap, const char *src, size_t len) {
    if (cap == 0) return 0;
    const uint8_t *s = (const uint8_t *)src;
    size_t o = 0, i = 0;
    while (i < len) {
        /* length of the next character, or 0 if the byte is not valid UTF-8 here */
        size_t n;
        uint8_t c = s[i];
        if (c < 0x80) n = 1;
        else {
            size_t bad = utf8_check(s + i, len - i < 4 ? len - i : 4);
            n = bad == 0 ? 0 : (c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2);
        }
        size_t out = n ? n : 1;
        if (o + out + 1 > cap) {
            /* does not fit: end with "..." at a character boundary */
            while (o > 0 && o + 4 > cap) {
                o--;
                while (o > 0 && ((uint8_t)dst[o] & 0xc0) == 0x80) o--;
            }
            if (o + 4 <= cap) { memcpy(dst + o, "...", 3); o += 3; }
            break;
        }
        if (n == 0) dst[o++] = '?';
        else if (n == 1) dst[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        else if (n == 2 && c == 0xc2 && s[i + 1] < 0xa0) dst[o++] = ' '; /* C1 controls U+0080..U+009F */
        else { memcpy(dst + o, s + i, n); o += n; }
        i += n ? n : 1;
    }
    dst[o] = '\0';
    return o;
}

size_t rlv_proto_sample(char *dst, size_t cap, const void *data, size_t len, size_t max) {
    if (cap == 0) return 0;
    const uint8_t *s = (const uint8_t *)data;
    size_t o = 0, n = len < max ? len : max;
    for (size_t i = 0; i < n; i++) {
        char tmp[5];
        int w = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') ? snprintf(tmp, sizeof tmp, "%c", s[i])
                                                               : snprintf(tmp, sizeof tmp, "\\x%02x", s[i]);
        if (o + (size_t)w + 1 > cap) break;
        memcpy(dst + o, tmp, (size_t)w);
        o += (size_t)w;
    }
    if (len > n) {
        char tail[40];
        int w = snprintf(tail, sizeof tail, "...(%zu bytes)", len);
        if (o + (size_t)w + 1 <= cap) { memcpy(dst + o, tail, (size_t)w); o += (size_t)w; }
    }
    dst[o] = '\0';
    return o;
}

rlv_proto_code rlv_proto_errorf(rlv_proto_error *err, rlv_proto_code code, const char *fmt, ...) {
    if (err) {
        char raw[RLV_PROTO_ERR_MSG_MAX * 2];
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        size_t n = w < 0 ? 0 : (size_t)w < sizeof raw ? (size_t)w : sizeof raw - 1;
        err->code = code;
        rlv_proto_scrub(err->msg, sizeof err->msg, raw, n);
    }
    return code;
}
