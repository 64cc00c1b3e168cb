/* jnum.c — see jnum.h. */
#include "jnum.h"

#include <math.h>

int jnum_int(const json_t *v, int64_t lo, int64_t hi, int64_t *out) {
    double x;
    if (json_is_integer(v)) x = (double)json_integer_value(v); /* a json_t built in memory */
    else if (json_is_real(v)) x = json_real_value(v);
    else return JNUM_ENOTINT;
    if (!isfinite(x) || x != floor(x)) return JNUM_ENOTINT;
    /* compare as doubles first: converting 1e30 to int64_t would be undefined */
    if (x < (double)lo || x > (double)hi) return JNUM_ERANGE;
    *out = (int64_t)x;
    return JNUM_OK;
}
