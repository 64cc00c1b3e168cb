#!/usr/bin/env python3
"""test_slurm.py — deploy/slurm/ for real, on a single-node Slurm cluster brought up here.

munged, slurmctld and slurmd (Debian's munge and slurm-wlm packages, scripts/setup.sh) run in the
foreground from a temporary folder: a fresh munge key, a generated slurm.conf with the controller
and the node on 127.0.0.1 (free ports, CPUs=4 with config_overrides so the 3 tasks run at once on a
2-core machine, no accounting, no cgroups). deploy/slurm/submit.sh then scores a data set of the
demo pair's kind (pairs with an image, text-only candidates with gold, id-less rows) 3 ways: 3 array
tasks, each starting its own rlaifvd on the node with the models from a shared path, then the merge
task (--dependency=afterok). Checked: every task and the merge COMPLETED; each task's daemon is
gone afterwards (no process of this cluster left, its socket removed); the merged output equals one
process's run through one rlaifvd started the same way — byte for byte with each record's
result.timing_ms masked — and the merged summary equals that run's except concurrency, seconds and
items_per_s (docs/eval.md "Sharding"). Then a run whose shards fail (rlaifv eval refuses its
options): the tasks FAILED, their daemons stopped all the same, the merge cancelled.

Slurm's daemons need root here (slurmd starts jobs as their user, munged and slurmctld check who owns
their files): run as another user the test prints 'SKIP: ...' and exits 77, which ctest shows as
Skipped and scripts/test.sh counts as a failure; so does a slurmctld that will not start (its log is
printed). Missing programs fail. Everything started here is stopped, and the folder removed, at the
end, passed or failed.

  test_slurm.py --rlaifv BIN --rlaifvd BIN --demo DIR --deploy DIR --work DIR
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import free_port  # noqa: E402

SKIP = 77
RUN_KEYS = ("concurrency", "seconds", "items_per_s")


def skip(why):
    print(f"SKIP: {why}", flush=True)
    sys.exit(SKIP)


def masked(out):
    text = open(out, "rb").read().decode()
    masked_text, n = re.subn(r'"timing_ms":\{[^{}]*\}', '"timing_ms":"-"', text)
    assert n == text.count("\n") and n > 0, (n, out)
    return masked_text


def data_set(path, image):
    rows = []
    for i in range(24):
        if i % 3 == 0:
            rows.append({"id": f"p{i}", "image": image, "prompt": f"What is in picture {i}?",
                         "chosen": "A car and sheep.", "rejected": f"A boat number {i}.", "ds": "vqa"})
        elif i % 3 == 1:
            rows.append({"id": i, "image": None, "prompt": "The capital of France?",
                         "candidates": ["Paris.", "Lyon.", f"{i}"], "gold": 0, "ds": "text"})
        else:
            rows.append({"image": image, "question": f"Colour {i}?", "chosen": "Red.", "rejected": "Blue."})
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


class Cluster:
    """munged + slurmctld + slurmd in the foreground, all state under root_dir."""

    def __init__(self, root_dir):
        self.dir = root_dir
        self.procs = []
        self.env = dict(os.environ, SLURM_CONF=os.path.join(root_dir, "slurm.conf"))
        for d in ("munge", "state", "spool", "log", "tmp"):
            os.makedirs(os.path.join(root_dir, d), exist_ok=True)
        os.chmod(os.path.join(root_dir, "munge"), 0o700)

    def start(self, name, cmd):
        log = open(os.path.join(self.dir, "log", name + ".out"), "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs.append((name, p))
        return p

    def log_tail(self, name, n=30):
        p = os.path.join(self.dir, "log", name)
        return "".join(open(p).readlines()[-n:]) if os.path.exists(p) else f"({name}: no log)\n"

    def up(self, tools):
        d = self.dir
        key = os.path.join(d, "munge", "munge.key")
        subprocess.run([tools["mungekey"], "--create", f"--keyfile={key}"], check=True, capture_output=True)
        os.chmod(key, 0o400)
        sock = os.path.join(d, "munge", "munge.sock")
        # --force: runs as root; the socket's folder is not world-searchable, which is fine for root clients
        self.start("munged", [tools["munged"], "-F", "-f", f"--key-file={key}", f"--socket={sock}",
                              f"--pid-file={d}/munge/munged.pid", f"--log-file={d}/log/munged.log",
                              f"--seed-file={d}/munge/seed"])
        wait_for(lambda: os.path.exists(sock), 20, "munged's socket", lambda: self.log_tail("munged.out"))
        host = socket.gethostname().split(".")[0]
        conf = f"""ClusterName=rlvtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=rlvnode NodeHostname={host} NodeAddr=127.0.0.1 CPUs=4 RealMemory=8000 State=UNKNOWN
PartitionName=rlv Nodes=rlvnode Default=YES MaxTime=INFINITE State=UP
"""
        open(self.env["SLURM_CONF"], "w").write(conf)
        ctld = self.start("slurmctld", [tools["slurmctld"], "-D", "-i", "-f", self.env["SLURM_CONF"]])
        time.sleep(1)
        if ctld.poll() is not None:
            skip(f"slurmctld cannot start here (exit {ctld.returncode}):\n" + self.log_tail("slurmctld.log") +
                 self.log_tail("slurmctld.out"))
        self.start("slurmd", [tools["slurmd"], "-D", "-f", self.env["SLURM_CONF"], "-N", "rlvnode"])
        wait_for(lambda: "State=IDLE" in self.scontrol("show", "node", "rlvnode"), 60, "the node to be idle",
                 lambda: self.log_tail("slurmctld.log") + self.log_tail("slurmd.log") + self.log_tail("slurmd.out"))

    def scontrol(self, *args):
        return subprocess.run([shutil.which("scontrol"), "-o", *args], capture_output=True, text=True, env=self.env).stdout

    def job_states(self, job):
        return re.findall(r"JobState=(\S+)", self.scontrol("show", "job", job))

    def our_processes(self):
        """pids of processes whose command line names this cluster's folder (the jobs' daemons among them)."""
        pids = []
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) != os.getpid():
                try:
                    if self.dir.encode() in open(f"/proc/{p}/cmdline", "rb").read():
                        pids.append(int(p))
                except OSError:
                    pass
        return pids

    def down(self):
        subprocess.run([shutil.which("scancel") or "scancel", "--user=root"], capture_output=True, env=self.env)
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        for pid in self.our_processes():  # what the jobs left (a test failure): ours, by pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(cond, seconds, what, logs):
    t0 = time.time()
    while time.time() - t0 < seconds:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}\n" + logs())


def one_process_run(a, inp, out, summary, tmp):
    """The reference: one rlaifvd started as rlaifv_shard.sbatch starts it, one unsharded eval."""
    ep = f"ipc://{tmp}/reference.sock"
    d = subprocess.Popen([a.rlaifvd, "--model", f"{a.demo}/policy", "--ref-model", f"{a.demo}/reference", "--bind", ep,
                          "--workers", "1", "--blas-threads", "1", "--log-level", "error"])
    try:
        wait_for(lambda: subprocess.run([a.rlaifv, "call", "--server", ep, "--timeout-ms", "2000", "ping"],
                                        capture_output=True).returncode == 0, 60, "the reference rlaifvd", lambda: "")
        p = subprocess.run([a.rlaifv, "eval", "--server", ep, "--in", inp, "--out", out, "--summary", summary],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    finally:
        d.terminate()
        assert d.wait(60) == 0


def main():
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--rlaifvd", "--demo", "--deploy", "--work"):
        ap.add_argument(k, required=True)
    a = ap.parse_args()
    a.demo = os.path.realpath(a.demo)
    if os.geteuid() != 0:
        skip(f"slurmctld and slurmd need root here (uid {os.geteuid()}); scripts/test.sh runs as root")
    tools = {t: shutil.which(t) or shutil.which(t, path="/usr/sbin:/sbin") for t in
             ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel")}
    missing = [t for t, p in tools.items() if not p]
    assert not missing, f"missing {missing}: scripts/setup.sh installs munge, slurmctld, slurmd, slurm-client"

    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    inp = os.path.join(a.work, "pairs.jsonl")
    data_set(inp, os.path.join(a.demo, "sample.png"))
    # a short path: munged's socket and the jobs' ipc:// sockets live under it
    cluster = Cluster(tempfile.mkdtemp(prefix="rlv_slurm_"))
    t0 = time.time()
    try:
        cluster.up(tools)
        print(f"cluster up in {time.time() - t0:.1f} s", flush=True)
        bindir = os.path.join(cluster.dir, "bin")  # RLAIFV_BIN: one folder with both programs
        os.makedirs(bindir)
        os.symlink(a.rlaifv, os.path.join(bindir, "rlaifv"))
        os.symlink(a.rlaifvd, os.path.join(bindir, "rlaifvd"))
        out_dir = os.path.join(a.work, "run")
        env = dict(cluster.env, RLAIFV_MODEL=f"{a.demo}/policy", RLAIFV_REF_MODEL=f"{a.demo}/reference",
                   RLAIFV_BIN=bindir, RLAIFVD_ARGS="--log-level warn", RLAIFV_MERGE_SBATCH_ARGS="--mem=100M",
                   RLAIFV_MERGE_ARGS="", TMPDIR=os.path.join(cluster.dir, "tmp"))
        t1 = time.time()
        p = subprocess.run([os.path.join(a.deploy, "submit.sh"), inp, out_dir, "3", "--cpus-per-task=1", "--mem=300M"],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        array, merge = p.stdout.split()
        logs = lambda: "".join(f"--- {f}\n" + open(os.path.join(out_dir, f)).read()[-3000:]
                               for f in sorted(os.listdir(out_dir)) if f.endswith(".log")) + \
            cluster.log_tail("slurmctld.log") + cluster.log_tail("slurmd.log")
        done = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "DEADLINE")
        wait_for(lambda: any(s in done for s in cluster.job_states(merge)), 300, f"merge job {merge}", logs)
        states = cluster.job_states(array)
        assert states == ["COMPLETED"] * 3 and cluster.job_states(merge) == ["COMPLETED"], (states, logs())
        print(f"3 shard tasks + merge COMPLETED in {time.time() - t1:.1f} s", flush=True)
        # each task stopped its daemon: nothing of this cluster runs but its three daemons, no socket left
        ours = set(cluster.our_processes()) - {p.pid for _, p in cluster.procs}
        assert not ours, [open(f"/proc/{x}/cmdline", "rb").read() for x in ours]
        assert not [f for f in os.listdir(env["TMPDIR"]) if f.endswith(".sock")], os.listdir(env["TMPDIR"])
        for i in range(3):
            man = json.load(open(os.path.join(out_dir, f"scored.{i}-of-3.jsonl.shard.json")))
            assert man["shard"] == f"{i}/3" and man["failed"] == [] and man["scorer"]["policy"] == f"{a.demo}/policy"

        ref, ref_sum = os.path.join(a.work, "one.jsonl"), os.path.join(a.work, "one.summary.json")
        one_process_run(a, inp, ref, ref_sum, cluster.dir)
        assert masked(os.path.join(out_dir, "scored.jsonl")) == masked(ref)
        drop = lambda d: {k: v for k, v in d.items() if k not in RUN_KEYS}
        merged_sum = json.load(open(os.path.join(out_dir, "summary.json")))
        assert drop(merged_sum) == drop(json.load(open(ref_sum))), (merged_sum, ref_sum)
        assert merged_sum["items"] == 24 and merged_sum["concurrency"] == 3
        assert os.path.getsize(os.path.join(out_dir, "report.html")) > 1000
        print(f"merged output and summary equal one process's run ({merged_sum['items']} records)")

        # a failing shard (rlaifv eval refuses its options): the task FAILS with the daemon stopped
        # by the trap, and the merge (afterok) is cancelled, never run
        bad_dir = os.path.join(a.work, "run_bad")
        p = subprocess.run([os.path.join(a.deploy, "submit.sh"), inp, bad_dir, "2", "--cpus-per-task=1", "--mem=300M"],
                           capture_output=True, text=True, env=dict(env, RLAIFV_EVAL_ARGS="--beta -1"))
        assert p.returncode == 0, p.stderr
        array, merge = p.stdout.split()
        wait_for(lambda: any(s in done for s in cluster.job_states(merge)), 120, f"merge job {merge}", logs)
        assert cluster.job_states(array) == ["FAILED"] * 2 and cluster.job_states(merge) == ["CANCELLED"], \
            (cluster.job_states(array), cluster.job_states(merge))
        assert not os.path.exists(os.path.join(bad_dir, "scored.jsonl"))
        assert "--beta" in open(os.path.join(bad_dir, "shard-0.log")).read()
        ours = set(cluster.our_processes()) - {p.pid for _, p in cluster.procs}
        assert not ours and not [f for f in os.listdir(env["TMPDIR"]) if f.endswith(".sock")], ours
        print("a failing shard task: FAILED, its daemon stopped, the merge cancelled")
    finally:
        cluster.down()
    assert not os.path.exists(cluster.dir)
    print(f"1 passed, 0 failed ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
