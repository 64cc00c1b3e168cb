#!/usr/bin/env python3
"""test_install.py — `cmake --install` into a temporary prefix, then the main job run from the
installed files alone: in a mount namespace where the source tree (and the build tree inside it)
is hidden under an empty tmpfs, the installed rlaifvd serves its default model (the demo pair
under share/rlaifv/demo, found from the binary's own path), `rlaifv score` ranks the sample
through it and offline, and a C program built with `pkg-config rlaifv` against the installed
headers and libraries scores the same job.

  test_install.py --build DIR --source DIR   (works in a fresh folder under /tmp, removed after)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import free_port, run_cases  # noqa: E402

A = None
PROGRAM = r"""
#include <rlaifv.h>
#include <rlaifv_client.h>
#include <rlaifv_proto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    char demo[4096], pol[4200], ref[4200];
    if (rlv_demo_dir(demo, sizeof demo)) { fprintf(stderr, "no demo pair\n"); return 1; }
    snprintf(pol, sizeof pol, "%s/policy", demo);
    snprintf(ref, sizeof ref, "%s/reference", demo);
    rlv_engine_opts o;
    rlv_engine_opts_default(&o);
    o.model_dir = pol;
    o.ref_model_dir = ref;
    rlv_engine *e = NULL;
    rlv_worker *w = NULL;
    rlv_err err = {0};
    if (rlv_engine_open(&e, &o, &err) || rlv_worker_open(&w, e, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    const char *c[2] = {argv[1], argv[2]};
    size_t l[2] = {strlen(c[0]), strlen(c[1])};
    rlv_job job = {.prompt = "What is in the picture?", .prompt_len = 23, .n_candidates = 2, .candidates = c,
                   .candidate_lens = l, .reward = RLV_REWARD_DEFAULT, .beta = 0.1};
    const rlv_result *r;
    if (rlv_score(w, &job, &r, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    printf("%s %d %.9f\n", demo, r->ranking[0].index, r->ranking[0].reward);
    rlv_proto_limits lim;
    rlv_proto_limits_default(&lim);
    if (strcmp(rlv_proto_code_name(RLV_PROTO_E_BUSY), "busy") || lim.max_candidates != RLV_DEFAULT_MAX_CANDIDATES) return 1;
    rlv_client *cl = NULL;
    rlv_client_error ce;
    rlv_client_opts co = {.endpoint = "tcp://127.0.0.1:1"};
    if (rlv_client_connect(&cl, &co, &ce)) return 1;
    rlv_client_destroy(&cl);
    rlv_worker_free(&w);
    rlv_engine_free(&e);
    return 0;
}
"""


def case_install_and_run_without_the_source_tree():
    prefix = os.path.join(A.work, "prefix")
    shutil.rmtree(prefix, ignore_errors=True)
    p = subprocess.run(["cmake", "--install", A.build, "--prefix", prefix], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    for f in ("bin/rlaifvd", "bin/rlaifv", "lib/librlaifv.so",
              "include/rlaifv/rlaifv.h", "include/rlaifv/rlaifv_proto.h", "include/rlaifv/rlaifv_client.h",
              "lib/pkgconfig/rlaifv.pc", "share/rlaifv/demo/policy/config.json",
              "share/rlaifv/demo/reference/config.json", "share/rlaifv/demo/sample.png",
              "share/doc/rlaifv/README.md", "share/doc/rlaifv/eval.md", "share/doc/rlaifv/protocol.md"):
        assert os.path.exists(os.path.join(prefix, f)), f
    # the C program, built against the installed files only (pkg-config finds the prefix from the .pc)
    open(os.path.join(A.work, "prog.c"), "w").write(PROGRAM)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "rlaifv"], capture_output=True, text=True, env=env)
    assert flags.returncode == 0 and "/lib/pkgconfig/../../include/rlaifv" in flags.stdout, flags.stdout + flags.stderr
    prog = os.path.join(prefix, "bin", "prog")
    cache = open(os.path.join(A.build, "CMakeCache.txt")).read()
    san = ["-fsanitize=address,undefined"] if "RLV_SANITIZE:BOOL=ON" in cache else []  # the libraries' own build
    p = subprocess.run(["cc", "-std=c11", *san, os.path.join(A.work, "prog.c"), "-o", prog, *flags.stdout.split(),
                        "-Wl,-rpath," + os.path.join(prefix, "lib")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    # only the public API is exported: the RLV_API functions (every one rlv_*: rlv_proto_* for the wire)
    installed = sorted(os.listdir(os.path.join(prefix, "include", "rlaifv")))
    assert installed == ["rlaifv.h", "rlaifv_client.h", "rlaifv_proto.h"], installed
    nm = subprocess.run(["nm", "-D", "--defined-only", os.path.join(prefix, "lib", "librlaifv.so")],
                        capture_output=True, text=True, check=True).stdout.split("\n")
    syms = [ln.split()[-1] for ln in nm if ln.strip() and ln.split()[-2] in "TtDdBbRrWwVvi"]
    assert "rlv_score" in syms and "rlv_proto_decode_request" in syms, syms
    bad = [s for s in syms if not s.startswith(("rlv_", "_init", "_fini"))]
    assert not bad, bad
    # the main job with the source tree hidden
    port = free_port()
    demo = os.path.join(prefix, "share", "rlaifv", "demo")
    script = f"""
set -e
mount -t tmpfs tmpfs {A.source}
test ! -e {A.source}/models/demo
B={prefix}/bin
$B/rlaifvd --bind tcp://127.0.0.1:{port} --log-level warn 2> {A.work}/daemon.log &
pid=$!
for i in $(seq 100); do $B/rlaifv call --server tcp://127.0.0.1:{port} --timeout-ms 200 ping >/dev/null 2>&1 && break; sleep 0.2; done
$B/rlaifv call --server tcp://127.0.0.1:{port} info > {A.work}/info.json
$B/rlaifv score --server tcp://127.0.0.1:{port} --image {demo}/sample.png --prompt "What is in the picture?" \
    --candidates {demo}/sample_candidates.txt > {A.work}/online.json
kill $pid; wait $pid || true
$B/rlaifv score --image {demo}/sample.png --prompt "What is in the picture?" \
    --candidates {demo}/sample_candidates.txt > {A.work}/offline.json
$B/prog "A yellow circle." "A blue dog." > {A.work}/prog.txt
"""
    p = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr + open(os.path.join(A.work, "daemon.log")).read()
    info = json.load(open(os.path.join(A.work, "info.json")))
    assert info["demo"] is True and info["models"]["policy"] == os.path.realpath(demo) + "/policy", info["models"]
    on = json.load(open(os.path.join(A.work, "online.json")))
    off = json.load(open(os.path.join(A.work, "offline.json")))
    assert len(on["ranking"]) == 4 and [r["index"] for r in on["ranking"]] == [r["index"] for r in off["ranking"]]
    out = open(os.path.join(A.work, "prog.txt")).read().split()
    assert out[0] == os.path.realpath(demo) and out[1] in ("0", "1"), out
    assert "demo pair" in open(os.path.join(A.work, "daemon.log")).read()


def main():
    global A
    ap = argparse.ArgumentParser()
    for k in ("--build", "--source"):
        ap.add_argument(k, required=True)
    A = ap.parse_args()
    A.source = os.path.realpath(A.source)
    A.work = tempfile.mkdtemp(prefix="rlaifv-install-")  # outside the source tree, which gets hidden
    try:
        run_cases([case_install_and_run_without_the_source_tree])
    finally:
        shutil.rmtree(A.work, ignore_errors=True)


if __name__ == "__main__":
    main()
