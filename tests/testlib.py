"""testlib.py — what the Python test scripts share: a free loopback port, and the case loop that
prints 'ok'/'FAIL' per case and ends with the plain line 'N passed, N failed' (exit 1 on a failure)."""
import socket
import sys
import time
import traceback


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run_cases(cases, only=""):
    passed = failed = 0
    for c in cases:
        if only and only not in c.__name__:
            continue
        t0 = time.time()
        try:
            c()
            passed += 1
            print(f"ok   {c.__name__} ({time.time() - t0:.1f} s)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {c.__name__}", flush=True)
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
