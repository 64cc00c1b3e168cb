"""testlib.py — what the Python test scripts share: a free loopback port, a real rlaifvd started on
it, and the case loop that prints 'ok'/'FAIL' per case and ends with the plain line 'N passed,
N failed' (exit 1 on a failure)."""
import socket
import subprocess
import sys
import time
import traceback


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class RlaifvdProcess:
    """rlaifvd on a free loopback port with the given models and extra flags (http=True: also
    --http-bind on a free port, self.http_port), returned once `rlaifv call ... ping` gets an
    answer (at most 30 s); close() stops it with SIGTERM. free_port's ports can be taken by
    another test between the probe and the daemon's bind: a daemon that exits at start is started
    again on other ports (three tries); one that does not start is killed before the error, so
    that no daemon outlives its test."""

    def __init__(self, rlaifvd, rlaifv, model, ref_model, *extra, http=False):
        for _ in range(3):
            self.ep = f"tcp://127.0.0.1:{free_port()}"
            self.http_port = free_port() if http else None
            web = ["--http-bind", f"127.0.0.1:{self.http_port}"] if http else []
            self.p = subprocess.Popen([rlaifvd, "--model", model, "--ref-model", ref_model, "--bind", self.ep,
                                       "--log-level", "error", *web, *extra])
            for _ in range(150):
                if self.p.poll() is not None:
                    break
                if subprocess.run([rlaifv, "call", "--server", self.ep, "--timeout-ms", "300", "ping"],
                                  capture_output=True).returncode == 0:
                    return
                time.sleep(0.2)
            if self.p.poll() is None:
                break
        self.p.kill()
        self.p.wait(30)
        raise AssertionError(f"rlaifvd did not start (exit status {self.p.returncode})")

    def close(self):
        self.p.terminate()
        self.p.wait(30)


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
