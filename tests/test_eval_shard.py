#!/usr/bin/env python3
"""test_eval_shard.py — `rlaifv eval --shard i/n` and `--merge` (docs/eval.md "Sharding") on the
embedded demo pair.

Cases: 3 shards merged equal one unsharded run — the output byte for byte with only each record's
result.timing_ms masked (wall times and cache hits depend on what ran before in the process), the
summary key for key except the run's own figures (concurrency, seconds, items_per_s), the exit
status, the errors of failed rows (bad JSON, a repeated id, a bad row) by code and group, and the
--report page; every row in exactly one shard, the one FNV-1a 64 of its id key names (computed here
independently); the same for a JSON-array input split 2 ways; the order comes from the input (a
shard file shuffled, as a resumed run leaves it, merges the same); a shard run that did not finish
(missing_record) and its resumed rerun; bad --shard specs and option mixes (exit 2); every check
of a merge of inconsistent shards by its name (no_manifest, shard_mismatch, duplicate_shard,
missing_shard, input_mismatch, model_mismatch, reward_mismatch, bad_record, duplicate_record,
wrong_shard, unknown_record), each leaving --out as it was; shards scored through rlaifvd, one over
ZeroMQ and one over HTTP, merge into what one run through the daemon writes.

  test_eval_shard.py --rlaifv BIN --rlaifvd BIN --demo DIR --work DIR
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import RlaifvdProcess, run_cases  # noqa: E402

A = None
RUN_KEYS = ("concurrency", "seconds", "items_per_s")  # this run's own figures: legitimately differ


def path(name):
    return os.path.join(A.work, name)


def run(*args):
    return subprocess.run([A.rlaifv, "eval", *args], capture_output=True, text=True)


def fnv_shard(key, n):
    h = 14695981039346656037
    for b in key.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    return h % n


def id_key(row, where):
    """The resume key of docs/eval.md: the id (else idx, else the line) as compact, sorted JSON."""
    rid = row.get("id", row.get("idx", where)) if isinstance(row, dict) else where
    return json.dumps(rid, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def masked(out):
    """The output's bytes with each record's timing_ms object replaced by a fixed token."""
    text = open(out, "rb").read().decode()
    masked_text, n = re.subn(r'"timing_ms":\{[^{}]*\}', '"timing_ms":"-"', text)
    assert n == text.count("\n"), (n, out)
    return masked_text


def rows():
    r = []
    for i in range(24):
        if i % 4 == 0:
            r.append({"id": f"p{i}", "image": "sample.png", "prompt": f"What is in picture {i}?",
                      "chosen": "A car and sheep.", "rejected": f"A boat number {i}.", "ds": "vqa"})
        elif i % 4 == 1:
            r.append({"id": i, "image": None, "prompt": "The capital of France?", "candidates": ["Paris.", "Lyon.", f"{i}"],
                      "gold": 0, "ds": "text"})
        elif i % 4 == 2:
            r.append({"image": "sample.png", "question": f"Colour {i}?", "chosen": "Red.", "rejected": "Blue."})
        else:
            r.append({"idx": {"k": i}, "image": None, "prompt": "Two plus two?", "model_answer": "Four.", "ds": "vqa"})
    r.insert(5, "{not json")
    r.insert(9, {"id": "p0", "image": None, "prompt": "again", "candidates": ["a"]})   # duplicate_id
    r.insert(13, {"id": "x", "image": None, "prompt": "no candidates"})                # bad_input
    r.insert(17, {"id": "y", "image": "missing.png", "prompt": "?", "candidates": ["a"]})  # bad_image
    return r


def write_input(name, items, array=False):
    p = path(name)
    with open(p, "w") as f:
        if array:
            json.dump(items, f)
        else:
            for x in items:
                f.write((x if isinstance(x, str) else json.dumps(x)) + "\n")
    return p


def shard_runs(inp, tag, n, *extra):
    outs = []
    for i in range(n):
        out = path(f"{tag}.{i}-of-{n}.jsonl")
        for f in (out, out + ".shard.json"):
            if os.path.exists(f):
                os.remove(f)
        p = run("--in", inp, "--out", out, "--shard", f"{i}/{n}", *extra)
        assert p.returncode in (0, 1), p.stderr
        outs.append(out)
    return outs


def compare_with_one_run(inp, tag, n):
    full, fsum, frep = path(f"{tag}.full.jsonl"), path(f"{tag}.full.sum.json"), path(f"{tag}.full.html")
    for f in (full,):
        if os.path.exists(f):
            os.remove(f)
    one = run("--in", inp, "--out", full, "--group-by", "ds", "--summary", fsum, "--report", frep)
    outs = shard_runs(inp, tag, n)
    merged, msum, mrep = path(f"{tag}.merged.jsonl"), path(f"{tag}.merged.sum.json"), path(f"{tag}.merged.html")
    m = run("--merge", "--in", inp, "--out", merged, "--group-by", "ds", "--summary", msum, "--report", mrep, *outs)
    assert m.returncode == one.returncode, (m.returncode, one.returncode, m.stderr)
    assert masked(merged) == masked(full)
    drop = lambda d: {k: v for k, v in d.items() if k not in RUN_KEYS}
    a, b = json.load(open(msum)), json.load(open(fsum))
    assert drop(a) == drop(b) and a["concurrency"] == n, (a, b)
    assert drop(json.loads(m.stdout)) == drop(json.loads(one.stdout)), (m.stdout, one.stdout)
    # the report differs only where the summary does (its embedded JSON and the run's figures)
    strip = lambda t: re.sub(r'<script type="application/json" id="summary-json">.*?</script>', "", t, flags=re.S)
    ra, rb = strip(open(mrep).read()), strip(open(frep).read())
    assert len(ra) > 1000 and ra == rb
    # the failed rows are named as one run names them
    fails = lambda t: sorted(l.split(" (")[0] for l in t.splitlines() if l.startswith("rlaifv eval: " + inp + ":"))
    assert fails(m.stderr) == fails(one.stderr) and len(fails(one.stderr)) >= 3, (m.stderr, one.stderr)
    # every row in exactly one shard: the one FNV-1a 64 of its id key names
    where = {}
    for i, out in enumerate(outs):
        for line in open(out):
            k = id_key(json.loads(line), None)
            assert k not in where and fnv_shard(k, n) == i, (k, where.get(k), i)
            where[k] = i
    assert len(where) == sum(1 for _ in open(full)) == b["items"]
    return outs, merged


def case_three_shards_equal_one_run():
    inp = write_input("in.jsonl", rows())
    outs, _ = compare_with_one_run(inp, "lines", 3)
    assert all(sum(1 for _ in open(o)) > 0 for o in outs)
    man = json.load(open(outs[0] + ".shard.json"))
    assert man["shard"] == "0/3" and man["scorer"]["reward"] == "rlaifv" and len(man["input"]["blake2b"]) == 64


def case_json_array_two_shards():
    items = [x for x in rows() if not isinstance(x, str)]
    inp = write_input("in_array.json", items, array=True)
    compare_with_one_run(inp, "array", 2)


def case_order_from_input_and_resume():
    inp = write_input("in.jsonl", rows())
    outs = shard_runs(inp, "order", 3)
    ref = path("order.ref.jsonl")
    assert run("--merge", "--in", inp, "--out", ref, *outs).returncode == 1
    lines = open(outs[1]).readlines()
    random.Random(3).shuffle(lines)  # a resumed shard's retried rows come last
    open(outs[1], "w").writelines(lines)
    merged = path("order.merged.jsonl")
    assert run("--merge", "--in", inp, "--out", merged, *outs).returncode == 1
    assert open(merged, "rb").read() == open(ref, "rb").read()
    # a shard whose run did not finish: a row with neither record nor failure stops the merge
    open(outs[1], "w").writelines(lines[1:])
    open(merged, "w").write("before\n")
    p = run("--merge", "--in", inp, "--out", merged, *outs)
    assert p.returncode == 3 and "[missing_record]" in p.stderr and "shard 1/3" in p.stderr, p.stderr
    assert open(merged).read() == "before\n"
    # rerun it: it resumes, scoring only the missing row, and the merge is whole again
    p = run("--in", inp, "--out", outs[1], "--shard", "1/3")
    assert json.loads(p.stdout)["new_items"] == 1, p.stdout
    assert run("--merge", "--in", inp, "--out", merged, *outs).returncode == 1
    assert masked(merged) == masked(ref)


def case_bad_options():
    inp = write_input("in.jsonl", rows())
    out = path("opt.jsonl")
    for spec in ("3/3", "-1/3", "1/0", "a/b", "1", "1/3/4", "0/10001", " 1/3", "1/3x", "", "1/", "/3"):
        p = run("--in", inp, "--out", out, "--shard", spec)
        assert p.returncode == 2 and "--shard" in p.stderr and not os.path.exists(out), (spec, p.returncode, p.stderr)
    assert "the index must be 0..2" in run("--in", inp, "--out", out, "--shard=3/3").stderr
    for args, words in ((["--merge"], "needs the shard outputs"),
                        (["--merge", "--shard", "0/2", "a.jsonl"], "scores nothing"),
                        (["--merge", "--server", "tcp://127.0.0.1:1", "a.jsonl"], "scores nothing"),
                        (["a.jsonl"], "shard outputs follow --merge")):
        p = run("--in", inp, "--out", out, *args)
        assert p.returncode == 2 and words in p.stderr, (args, p.stderr)
    h = subprocess.run([A.rlaifv, "eval", "--help"], capture_output=True, text=True).stdout
    assert "--shard I/N" in h and "--merge SHARD.jsonl" in h


def expect_merge_error(inp, outs, code, *extra):
    out = path("bad.merged.jsonl")
    open(out, "w").write("untouched\n")
    p = run("--merge", "--in", inp, "--out", out, *extra, *outs)
    assert p.returncode == 3 and f"[{code}]" in p.stderr, (code, p.returncode, p.stderr)
    assert open(out).read() == "untouched\n" and not os.path.exists(out + ".merge.tmp")
    return p.stderr


def case_inconsistent_shards():
    inp = write_input("in.jsonl", rows())
    outs = shard_runs(inp, "bad", 3)
    expect_merge_error(inp, outs[:2], "missing_shard")
    expect_merge_error(inp, [outs[0], outs[0], outs[1], outs[2]], "duplicate_shard")
    two = shard_runs(inp, "two", 2)
    expect_merge_error(inp, [outs[0], outs[1], two[1]], "shard_mismatch")
    other = write_input("other.jsonl", rows()[:-1])
    expect_merge_error(other, outs, "input_mismatch")
    # the scorer: other models (policy and reference swapped), another beta
    demo = A.demo
    swapped = shard_runs(inp, "swapped", 3, "--model", f"{demo}/reference", "--ref-model", f"{demo}/policy")
    err = expect_merge_error(inp, [outs[0], swapped[1], outs[2]], "model_mismatch")
    assert "policy" in err, err
    beta = shard_runs(inp, "beta", 3, "--beta", "0.2")
    expect_merge_error(inp, [outs[0], outs[1], beta[2]], "reward_mismatch")
    # the records: edited copies of shard 0
    lines = open(outs[0]).readlines()

    def edited(name, new_lines):
        p = path(name)
        open(p, "w").writelines(new_lines)
        shutil.copy(outs[0] + ".shard.json", p + ".shard.json")
        return [p, outs[1], outs[2]]

    expect_merge_error(inp, edited("e_dup.jsonl", lines + lines[:1]), "duplicate_record")
    expect_merge_error(inp, edited("e_partial.jsonl", lines + ['{"id": "p4", "res']), "bad_record")
    expect_merge_error(inp, edited("e_wrong.jsonl", lines + open(outs[1]).readlines()[:1]), "wrong_shard")
    stranger = next(f"zz{i}" for i in range(1000) if fnv_shard(json.dumps(f"zz{i}"), 3) == 0)
    rec = json.loads(lines[0])
    rec["id"] = stranger
    expect_merge_error(inp, edited("e_unknown.jsonl", lines + [json.dumps(rec) + "\n"]), "unknown_record")
    bad = edited("e_manifest.jsonl", lines)
    man = json.load(open(bad[0] + ".shard.json"))
    for broken in ([{"where": "6", "code": "bad_json", "message": "m"}], [{"where": 6}], {"6": "bad_json"}):
        man["failed"] = broken
        json.dump(man, open(bad[0] + ".shard.json", "w"))
        expect_merge_error(inp, bad, "no_manifest")
    os.remove(path("e_unknown.jsonl.shard.json"))
    expect_merge_error(inp, [path("e_unknown.jsonl"), outs[1], outs[2]], "no_manifest")


def case_daemon_shards_over_zmq_and_http():
    """Shards scored through rlaifvd, one over ZeroMQ and one over HTTP, merge into what one run
    through the daemon writes; the HTTP shard's manifest knows the models but not the weight bytes."""
    inp = write_input("in.jsonl", rows())
    d = RlaifvdProcess(A.rlaifvd, A.rlaifv, f"{A.demo}/policy", f"{A.demo}/reference", http=True)
    web = d.http_port
    try:
        full = path("d.full.jsonl")
        if os.path.exists(full):
            os.remove(full)
        one = run("--server", d.ep, "--in", inp, "--out", full)
        outs = []
        for i, server in enumerate((f"http://127.0.0.1:{web}", d.ep)):
            out = path(f"d.{i}-of-2.jsonl")
            if os.path.exists(out):
                os.remove(out)
            p = run("--server", server, "--in", inp, "--out", out, "--shard", f"{i}/2")
            assert p.returncode in (0, 1), p.stderr
            outs.append(out)
    finally:
        d.close()
    scorers = [json.load(open(o + ".shard.json"))["scorer"] for o in outs]
    assert scorers[0]["policy"] == scorers[1]["policy"] == f"{A.demo}/policy", scorers
    assert scorers[0]["weight_bytes"] is None and scorers[1]["weight_bytes"] > 0, scorers
    merged = path("d.merged.jsonl")
    m = run("--merge", "--in", inp, "--out", merged, *outs)
    assert m.returncode == one.returncode == 1, (m.stderr, one.stderr)
    assert masked(merged) == masked(full)
    drop = lambda d: {k: v for k, v in d.items() if k not in RUN_KEYS}
    assert drop(json.loads(m.stdout)) == drop(json.loads(one.stdout))


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlaifv", required=True)
    ap.add_argument("--rlaifvd", required=True)
    ap.add_argument("--demo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="")
    A = ap.parse_args()
    A.demo = os.path.realpath(A.demo)
    os.makedirs(A.work, exist_ok=True)
    shutil.copy(os.path.join(A.demo, "sample.png"), path("sample.png"))
    run_cases([case_three_shards_equal_one_run, case_json_array_two_shards, case_order_from_input_and_resume,
               case_bad_options, case_inconsistent_shards, case_daemon_shards_over_zmq_and_http], A.only)


if __name__ == "__main__":
    main()
