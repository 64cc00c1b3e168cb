/* curve.h — CurveZMQ for rlaifvd: the server key pair and a ZAP handler that admits only
 * clients whose public key is in the allow-list directory (a CURVE server without a ZAP
 * handler encrypts but admits any key).
 * Owns: the ZAP thread and the allow-list (loaded once at start). Key files (docs/operations.md):
 *   server key file:  lines `public-key = "Z85"` and `secret-key = "Z85"` (CZMQ zcert style);
 *   allow dir:        one file per client holding its `public-key = "Z85"` (or the bare Z85 key). */
#ifndef RLVD_CURVE_H
#define RLVD_CURVE_H

/* Loads every key in allow_dir and starts the ZAP handler on ctx. Returns 0 or -1 (logged). */
int curve_start(void *zctx, const char *allow_dir);
/* Makes sock a CURVE server with the key pair in secret_file. Returns 0 or -1 (logged). */
int curve_server_setup(void *sock, const char *secret_file);
/* Stops and joins the ZAP handler (no-op if not started). */
void curve_stop(void);

#endif
