/* curve.h — CurveZMQ for rlaifvd: the server key pair and a ZAP handler that admits only
 * clients whose public key is in the allow-list directory (a CURVE server without a ZAP
 * handler encrypts but admits any key).
 * Owns: the ZAP thread and the allow-list (loaded once at start). Key files (docs/operations.md):
 *   server key file:  lines `public-key = "Z85"` and `secret-key = "Z85"` (CZMQ zcert style);
 *   allow dir:        one file per client holding its `public-key = "Z85"` (or the bare Z85 key). */
#ifndef RLVD_CURVE_H
#define RLVD_CURVE_H

#include "rlaifv.h" /* rlv_err */

/* Loads every key in allow_dir and starts the ZAP handler on ctx. Returns RLV_OK, or an RLV_E*
 * code with err saying why (no allow dir, no keys in it, ...); files without a key are logged as
 * warnings and skipped. */
int curve_start(void *zctx, const char *allow_dir, rlv_err *err);
/* Makes sock a CURVE server with the key pair in secret_file. RLV_OK or an RLV_E* code with err
 * (unreadable file, no key lines); a key file others may read is logged as a warning. */
int curve_server_setup(void *sock, const char *secret_file, rlv_err *err);
/* Stops and joins the ZAP handler (no-op if not started). */
void curve_stop(void);

#endif
