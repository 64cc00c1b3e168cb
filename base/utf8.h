/* utf8.h — strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF: what a
 * Rust &str, and so HF tokenizers, holds), shared by the tokenizer (core/tok.c) and the wire
 * (proto/: prompts, candidates, outgoing strings). Owns nothing. Knows nothing of models or the wire. */
#ifndef RLV_UTF8_H
#define RLV_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The length of the longest valid prefix of s[0..len): len when all of it is valid UTF-8,
 * otherwise the offset of the first byte of the first invalid or truncated sequence. Inline:
 * core/ and proto/ both use it and both go whole into librlaifv.so. */
static inline size_t utf8_check(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, 8 bytes at a time: prompts and candidates are mostly ASCII. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & UINT64_C(0x8080808080808080)) break;
            i += 8;
        }
        if (i >= len) break;
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;   /* allowed range of the first continuation byte */
        if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c == 0xe0) { need = 2; lo = 0xa0; }            /* no overlongs */
        else if (c == 0xed) { need = 2; hi = 0x9f; }            /* no surrogates */
        else if (c >= 0xe1 && c <= 0xef) need = 2;
        else if (c == 0xf0) { need = 3; lo = 0x90; }            /* no overlongs */
        else if (c == 0xf4) { need = 3; hi = 0x8f; }            /* <= U+10FFFF */
        else if (c >= 0xf1 && c <= 0xf3) need = 3;
        else return i;                                          /* 80..c1, f5..ff */
        if (len - i <= need) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80) return i;
        i += need + 1;
    }
    return len;
}

#endif
