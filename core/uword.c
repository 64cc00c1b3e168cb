/* uword.c — see uword.h. The table is generated (scripts/gen_uword.pl). */
#include "uword.h"

#include "uword_table.h"

int uword_is_word(uint32_t cp) {
    if (cp < 0x80) /* the common case, without the search */
        return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || cp == '_';
    size_t lo = 0, hi = sizeof WORD / sizeof WORD[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < WORD[mid][0]) hi = mid;
        else if (cp > WORD[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}
