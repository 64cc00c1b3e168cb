#!/usr/bin/env python3
"""test_eval.py — `rlaifv eval` (docs/eval.md) on small data sets with a tiny model pair.

Cases: records and the summary (errors by code, mean/std, pairwise accuracy with ties apart, top-1
against gold, --group-by, --summary equal to stdout); a resumed run's summary covers the whole
output file; repeated ids are an error naming both lines; every input format (RLAIF-V-Dataset rows
with image {bytes, path}, image_path, "image": null, JSON-array files with model_answer and URL
images under --image-root); exit statuses and fail-fast checks (daemon down, reward without a
reference model); --concurrency against a fake daemon that records how many requests are in flight
and answers out of order (records stay in input order; busy is retried); the same results through
the real daemon; output durability (a full disk, a half-written last line, SIGKILL at random
moments offline and with 4 requests in flight); --report rendered by headless Chromium with the
same figures as --summary; the option grammar (--key=value, numbers checked, --help complete).

  test_eval.py --rlaifv BIN --rlaifvd BIN --model DIR --ref-model DIR --work DIR [--chromium BIN]
"""
import argparse
import base64
import html.parser
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_rlaifvd import FakeDaemon  # noqa: E402
from testlib import RlaifvdProcess, free_port, run_cases  # noqa: E402

A = None


def path(name):
    return os.path.join(A.work, name)


def fresh(name):
    p = path(name)
    if os.path.exists(p):
        os.remove(p)
    return p


def write_jsonl(name, rows):
    with open(path(name), "w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path(name)


def offline(*args):
    return [A.rlaifv, "eval", "--model", A.model, "--ref-model", A.ref_model, *args]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def records(out):
    return [json.loads(l) for l in open(out)]


def rewards(rec):
    return {r["index"]: r["reward"] for r in rec["result"]["ranking"]}


B64 = None
BASIC = None


def setup():
    global B64, BASIC
    img = path("img.png")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(img)
    B64 = base64.b64encode(open(img, "rb").read()).decode()
    BASIC = [
        {"id": "a", "image": "img.png", "prompt": "What is it?", "candidates": ["A cat.", "A dog.", "Noise."], "gold": 2,
         "ds_name": "vqa"},
        {"id": 2, "image": B64, "question": "Describe it.", "chosen": "Random noise.", "rejected": "A red car.",
         "ds_name": "cap"},
        {"id": "c", "image": "img.png"},
        "{not json",
        {"id": "d", "image": "data:image/png;base64," + B64, "prompt": "Colours?", "chosen": "Many colours.",
         "rejected": "Only blue.", "ds_name": "vqa"},
        {"id": "t", "image": "img.png", "prompt": "Same?", "chosen": "The same answer.", "rejected": "The same answer.",
         "ds_name": "cap"},
    ]


def expected_summary(recs):
    """The summary computed here from the records, as docs/eval.md defines it."""
    rw = [r for rec in recs for r in rewards(rec).values()]
    pairs = [rec for rec in recs if "chosen_wins" in rec]
    m = [rewards(p)[0] - rewards(p)[1] for p in pairs]
    gold = [rec for rec in recs if "gold" in rec]
    correct = sum(1 for g in gold if all(v < rewards(g)[g["gold"]] for k, v in rewards(g).items() if k != g["gold"]))
    mean = sum(rw) / len(rw)
    return {"items": len(recs), "rewards": len(rw), "mean_reward": mean,
            "std_reward": math.sqrt(sum((x - mean) ** 2 for x in rw) / len(rw)),
            "pairs": len(pairs), "pair_wins": sum(x > 0 for x in m), "pair_losses": sum(x < 0 for x in m),
            "pair_ties": sum(x == 0 for x in m), "pairwise_accuracy": sum(x > 0 for x in m) / len(m),
            "top1_items": len(gold), "top1_correct": correct}


def close(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-7 * max(1.0, abs(a), abs(b))
    return a == b


def case_summary_and_resume():
    inp = write_jsonl("in.jsonl", BASIC)
    out, sfile = fresh("out.jsonl"), fresh("summary.json")
    p = run(offline("--in", inp, "--out", out, "--group-by", "ds_name", "--summary", sfile))
    assert p.returncode == 1, (p.returncode, p.stderr)  # two rows failed
    s = json.loads(p.stdout)
    sf = json.load(open(sfile))
    assert s.keys() == sf.keys() and all(close(s[k], sf[k]) for k in s if k not in ("groups", "errors", "seconds")), sf
    assert s["items"] == 4 and s["new_items"] == 4 and s["bad_lines"] == 2, s
    assert s["errors"] == {"bad_input": 1, "bad_json": 1}, s
    assert ":3: no 'prompt'" in p.stderr and ":4: not JSON" in p.stderr and "2 of 6 rows failed" in p.stderr, p.stderr
    recs = records(out)
    assert [r["id"] for r in recs] == ["a", 2, "d", "t"]
    assert recs[0]["gold"] == 2 and recs[0]["top1"] in ("correct", "wrong", "tie") and "chosen_wins" not in recs[0]
    assert recs[0]["fields"] == {"ds_name": "vqa"}
    # a tie is reported, and is not a win
    assert recs[3]["outcome"] == "tie" and recs[3]["chosen_wins"] is False and recs[3]["margin"] == 0, recs[3]
    exp = expected_summary(recs)
    for k, v in exp.items():
        assert close(s[k], v), (k, s[k], v)
    assert s["pair_ties"] == 1 and s["pairs"] == 3
    assert s["groups"]["cap"]["pairs"] == 2 and s["groups"]["cap"]["pair_ties"] == 1, s["groups"]
    assert s["groups"]["vqa"]["top1_items"] == 1 and s["groups"]["(none)"]["errors"] == {"bad_input": 1, "bad_json": 1}
    # Resume: nothing new, the summary still covers the whole file (main printed items 0 and no accuracy).
    p = run(offline("--in", inp, "--out", out, "--group-by", "ds_name"))
    s2 = json.loads(p.stdout)
    assert s2["new_items"] == 0 and s2["skipped_done"] == 4 and s2["items"] == 4, s2
    for k in exp:
        assert close(s2[k], s[k]), (k, s2[k], s[k])
    assert p.returncode == 1  # the two bad rows still fail
    # Resume after the file lost its last two records: they are redone, the summary is the same.
    lines = open(out).read().splitlines(keepends=True)
    open(out, "w").write("".join(lines[:2]))
    p = run(offline("--in", inp, "--out", out))
    s3 = json.loads(p.stdout)
    assert s3["new_items"] == 2 and s3["items"] == 4 and close(s3["pairwise_accuracy"], s["pairwise_accuracy"]), s3


def case_duplicate_ids():
    rows = [{"id": 7, "image": "img.png", "prompt": "Q", "candidates": ["x"]},
            {"id": 8, "image": "img.png", "prompt": "Q", "candidates": ["y"]},
            {"id": 7, "image": "img.png", "prompt": "Q2", "candidates": ["z"]}]
    inp = write_jsonl("dup.jsonl", rows)
    out = fresh("dup_out.jsonl")
    p = run(offline("--in", inp, "--out", out))
    assert p.returncode == 1, p.stderr
    assert "dup.jsonl:3: id 7 repeats the id of line 1 [duplicate_id]" in p.stderr, p.stderr
    s = json.loads(p.stdout)
    assert s["items"] == 2 and s["errors"] == {"duplicate_id": 1}, s
    assert [r["id"] for r in records(out)] == [7, 8]
    # resumed: still an error (not "already done"), never a second record
    p = run(offline("--in", inp, "--out", out))
    assert "repeats the id of line 1" in p.stderr and [r["id"] for r in records(out)] == [7, 8], p.stderr


def case_input_formats():
    img = open(path("img.png"), "rb").read()
    os.makedirs(path("pics"), exist_ok=True)
    shutil.copy(path("img.png"), path("pics/COCO_1.png"))
    rows = [
        # RLAIF-V-Dataset row: image as {bytes, path}, the dataset's fields
        {"ds_name": "RLAIF-V", "image": {"bytes": B64, "path": "x.png"}, "question": "What is it?", "chosen": "Noise.",
         "rejected": "A cat.", "origin_dataset": "OK-VQA", "origin_split": "train", "idx": 101, "image_path": "nope.png"},
        {"ds_name": "RLAIF-V", "image": {"bytes": None, "path": "img.png"}, "question": "What is it?",
         "chosen": "Noise.", "rejected": "A cat.", "origin_dataset": "VQAv2", "idx": 102},
        {"ds_name": "RLAIF-V", "image": {"bytes": list(img), "path": None}, "question": "What is it?",
         "chosen": "Noise.", "rejected": "A cat.", "origin_dataset": "VQAv2", "idx": 103},
        # image_path when there is no image
        {"idx": 104, "image_path": "img.png", "question": "What is it?", "chosen": "Noise.", "rejected": "A cat."},
        # text only
        {"id": "text", "image": None, "prompt": "Say hello.", "candidates": ["Hello.", "Goodbye."], "gold": 0},
    ]
    inp = write_jsonl("formats.jsonl", rows)
    out = fresh("formats_out.jsonl")
    p = run(offline("--in", inp, "--out", out, "--group-by", "origin_dataset"))
    assert p.returncode == 0, p.stderr
    recs = records(out)
    assert [r["id"] for r in recs] == [101, 102, 103, 104, "text"], recs
    assert recs[0]["fields"]["origin_dataset"] == "OK-VQA" and recs[0]["fields"]["ds_name"] == "RLAIF-V"
    r0, r1, r2, r3 = (rewards(r) for r in recs[:4])
    assert r0 == r1 == r2 == r3, (r0, r1, r2, r3)  # the same image by every route
    s = json.loads(p.stdout)
    assert s["groups"]["VQAv2"]["pairs"] == 2 and s["groups"]["OK-VQA"]["pairs"] == 1, s["groups"]
    # the text-only row scores the text alone: different from the same text with the image
    assert recs[4]["top1"] in ("correct", "wrong", "tie")
    # A JSON array (MMHal-Bench's response template): model_answer, image_src URLs under --image-root.
    arr = [{"question_type": "attribute", "question_topic": "animal", "image_id": "1",
            "image_src": "https://example.org/images/COCO_1.png", "question": "What is it?", "gt_answer": "Noise",
            "model_answer": "Random noise."},
           {"question_type": "counting", "image_src": "https://example.org/images/COCO_1.png",
            "question": "How many?", "model_answer": "Two."}]
    json.dump(arr, open(path("mmhal.json"), "w"), indent=1)
    out2 = fresh("mmhal_out.jsonl")
    p = run(offline("--in", path("mmhal.json"), "--out", out2, "--image-root", path("pics"), "--group-by",
                    "question_type"))
    assert p.returncode == 0, p.stderr
    recs2 = records(out2)
    assert [r["id"] for r in recs2] == [1, 2] and len(recs2[0]["result"]["ranking"]) == 1, recs2
    assert json.loads(p.stdout)["groups"]["counting"]["items"] == 1
    # an element that is bad is named by its number
    json.dump(arr + [{"question": "no answer"}], open(path("mmhal2.json"), "w"))
    p = run(offline("--in", path("mmhal2.json"), "--out", fresh("mmhal2_out.jsonl"), "--image-root", path("pics")))
    assert p.returncode == 1 and "mmhal2.json:3:" in p.stderr, p.stderr


def case_fail_fast_and_exit_status():
    inp = write_jsonl("ff.jsonl", [BASIC[0], BASIC[1]])
    # daemon down: one message before any row, in seconds (main: 600 s a row, then exit 0)
    t0 = time.time()
    p = run([A.rlaifv, "eval", "--server", f"tcp://127.0.0.1:{free_port()}", "--in", inp, "--out", fresh("ff.out")])
    assert p.returncode == 3 and time.time() - t0 < 20, (p.returncode, time.time() - t0, p.stderr)
    assert "does not answer ping" in p.stderr and "ff.jsonl:" not in p.stderr, p.stderr
    # a reward the models cannot give: one message, status 3 (main: the same error per row, exit 0)
    p = run([A.rlaifv, "eval", "--model", A.model, "--reward", "rlaifv", "--in", inp, "--out", fresh("ff.out")])
    assert p.returncode == 3 and p.stderr.count("reference") == 1 and "ff.jsonl:" not in p.stderr, p.stderr
    # a model that does not load
    p = run([A.rlaifv, "eval", "--model", path("nowhere"), "--in", inp, "--out", fresh("ff.out")])
    assert p.returncode == 3, p.stderr
    # every row failing and nothing in the output: 3; all scored: 0
    bad = write_jsonl("allbad.jsonl", [{"id": 1}, "[1,"])
    p = run(offline("--in", bad, "--out", fresh("allbad.out")))
    assert p.returncode == 3 and "2 of 2 rows failed" in p.stderr, (p.returncode, p.stderr)
    p = run(offline("--in", inp, "--out", fresh("ff.out")))
    assert p.returncode == 0, p.stderr
    # the endpoint needs its transport
    p = run([A.rlaifv, "eval", "--server", "127.0.0.1:5555", "--in", inp, "--out", fresh("ff.out")])
    assert p.returncode == 2 and "write tcp://127.0.0.1:5555" in p.stderr, p.stderr


def case_options():
    p = run([A.rlaifv, "eval", "--help"])
    for opt in ("--timeout-ms", "--retries", "--concurrency", "--group-by", "--summary", "--report", "--token-logps",
                "--image-root", "--blas-threads", "--prefix-cache-mb", "--compute", "--reward", "--beta", "--version",
                "exit status"):
        assert opt in p.stdout, opt
    inp = write_jsonl("opt.jsonl", [BASIC[0]])
    for bad in (["--timeout-ms", "abc"], ["--timeout-ms=30s"], ["--concurrency", "0"], ["--beta", "-1"],
                ["--blas-threads", "x"], ["--prefix-cache-mb", "-5"], ["--frobnicate", "1"]):
        p = run(offline("--in", inp, "--out", fresh("opt.out"), *bad))
        assert p.returncode == 2 and p.stderr, (bad, p.returncode, p.stderr)
    p = run(offline("--in", inp, "--out", fresh("opt.out"), "--token-logps"))  # main: "needs a value"
    assert p.returncode == 0, p.stderr
    assert "token_logps" in records(path("opt.out"))[0]["result"]["ranking"][0]["policy"]
    p = run(offline("--in=" + inp, "--out=" + fresh("opt.out"), "--beta=0.2", "--reward=dpo"))
    assert p.returncode == 0 and records(path("opt.out"))[0]["result"]["beta"] == 0.2, p.stderr
    p = run([A.rlaifv, "eval", "--version"])
    assert p.returncode == 0 and p.stdout.startswith("rlaifv "), p.stdout


def case_concurrency_in_order():
    rows = [{"id": i, "image": None, "prompt": f"p{i}", "chosen": "a", "rejected": "b"} for i in range(30)]
    inp = write_jsonl("conc.jsonl", rows)
    fake = FakeDaemon(workers=3, busy_once=["p4", "p17"])
    try:
        out = fresh("conc.out")
        p = run([A.rlaifv, "eval", "--server", fake.ep, "--in", inp, "--out", out], timeout=120)
        assert p.returncode == 0, p.stderr
        s = json.loads(p.stdout)
        # the default: the daemon's workers from info; main kept one request in flight
        assert s["concurrency"] == 3 and fake.max_in_flight == 3, (s["concurrency"], fake.max_in_flight)
        assert fake.busy_sent == 2 and s["items"] == 30
        assert [r["id"] for r in records(out)] == list(range(30))  # input order, whatever the reply order
        # the fake gives the last candidate (rejected) the higher reward: every pair a loss
        assert s["pair_losses"] == 30 and s["pairwise_accuracy"] == 0.0, s
        fake.workers = 8
        out = fresh("conc2.out")
        p = run([A.rlaifv, "eval", "--server", fake.ep, "--concurrency", "5", "--in", inp, "--out", out], timeout=120)
        assert p.returncode == 0 and json.loads(p.stdout)["concurrency"] == 5 and fake.max_in_flight == 5, p.stderr
    finally:
        fake.close()


def sigkill_rounds(cmd, out, n, seed):
    rnd = random.Random(seed)
    for _ in range(6):
        q = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.1, 0.6))
        q.kill()
        q.wait()
    p = run(cmd)
    assert p.returncode == 0, p.stderr
    text = open(out).read()
    assert text.endswith("\n"), text[-200:]
    ids = [json.loads(l)["id"] for l in text.splitlines()]
    assert sorted(ids) == list(range(n)), (len(ids), len(set(ids)))
    assert json.loads(p.stdout)["items"] == n


def case_durability():
    inp = write_jsonl("dur.jsonl", BASIC)
    out = fresh("dur.out")
    run(offline("--in", inp, "--out", out))
    # A full disk: exit 1, and the summary counts no item it did not write.
    p = run(offline("--in", inp, "--out", "/dev/full"))
    s = json.loads(p.stdout)
    assert p.returncode == 1 and s["items"] == 0 and s.get("write_error") is True, (p.returncode, p.stdout, p.stderr)
    assert "No space left" in p.stderr, p.stderr
    # A run killed mid-write leaves a partial last line: resume cuts it and redoes that item.
    whole = open(out).read().splitlines(keepends=True)
    open(out, "w").write(whole[0] + whole[1] + whole[2] + whole[3][: len(whole[3]) // 2])
    p = run(offline("--in", inp, "--out", out))
    assert json.loads(p.stdout)["new_items"] == 1, (p.stdout, p.stderr)
    assert "partial last line" in p.stderr, p.stderr
    assert [json.loads(l)["id"] for l in open(out)] == ["a", 2, "d", "t"]
    # SIGKILL at random moments of a longer run, resumed each time: whole lines, each item once.
    n = 60
    many = write_jsonl("many.jsonl", [{"id": i, "image": "img.png", "prompt": "What is it?",
                                       "candidates": [f"A cat number {i} sitting " * 6] * 8} for i in range(n)])
    out3 = fresh("out_killed.jsonl")
    sigkill_rounds(offline("--in", many, "--out", out3), out3, n, 11)
    # The same with 4 requests in flight through the daemon (shorter jobs: the kills must land mid-run).
    n = 40
    many = write_jsonl("many_server.jsonl", [{"id": i, "image": "img.png", "prompt": "What is it?",
                                              "candidates": [f"A cat number {i} sitting " * 3] * 4} for i in range(n)])
    d = RealDaemon("--workers", "2")
    try:
        out4 = fresh("out_killed_server.jsonl")
        sigkill_rounds([A.rlaifv, "eval", "--server", d.ep, "--concurrency", "4", "--in", many, "--out", out4], out4, n, 12)
    finally:
        d.close()


def RealDaemon(*extra):
    return RlaifvdProcess(A.rlaifvd, A.rlaifv, A.model, A.ref_model, *extra)


def case_server_equals_offline():
    inp = write_jsonl("srv.jsonl", BASIC)
    off = fresh("srv_off.jsonl")
    run(offline("--in", inp, "--out", off))
    d = RealDaemon("--workers", "2")
    try:
        out = fresh("srv_on.jsonl")
        p = run([A.rlaifv, "eval", "--server", d.ep, "--in", inp, "--out", out])
        assert p.returncode == 1 and json.loads(p.stdout)["concurrency"] == 2, (p.returncode, p.stderr)
        for x, y in zip(records(off), records(out)):
            assert x["id"] == y["id"] and x.get("outcome") == y.get("outcome")
            for u, v in zip(x["result"]["ranking"], y["result"]["ranking"]):
                assert u["index"] == v["index"] and abs(u["reward"] - v["reward"]) <= 1e-6 * max(1, abs(u["reward"]))
    finally:
        d.close()
    # a reward kind the daemon's models do not allow (no reference model): refused before the first row
    d = subprocess.Popen([A.rlaifvd, "--model", A.model, "--bind", "tcp://127.0.0.1:%d" % (port := free_port()),
                          "--log-level", "error"])
    try:
        for _ in range(150):
            if run([A.rlaifv, "call", "--server", f"tcp://127.0.0.1:{port}", "--timeout-ms", "300", "ping"]).returncode == 0:
                break
            time.sleep(0.2)
        p = run([A.rlaifv, "eval", "--server", f"tcp://127.0.0.1:{port}", "--reward", "dpo", "--in", inp, "--out",
                 fresh("srv_dpo.jsonl")])
        assert p.returncode == 3 and "cannot score --reward dpo" in p.stderr and "srv.jsonl:" not in p.stderr, p.stderr
    finally:
        d.terminate()
        d.wait(30)


class Cells(html.parser.HTMLParser):
    """data-v of every summary cell by (group, key); accuracy bars; histogram bar counts."""

    def __init__(self):
        super().__init__()
        self.cells, self.acc, self.hist, self.group, self.fig, self.json, self.in_json = {}, {}, {}, None, None, "", False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-group" in a:
            self.group = a["data-group"]
        if tag == "td" and "data-v" in a:
            self.cells[(self.group, a["data-key"])] = a["data-v"]
        if tag == "g" and "data-kind" in a:
            self.acc[(a["data-group"], a["data-kind"])] = float(a["data-v"])
        if tag == "figure":
            self.fig = a["data-group"]
            self.hist[self.fig] = 0
        if tag == "rect" and "data-count" in a:
            self.hist[self.fig] += int(a["data-count"])
        if tag == "script" and a.get("id") == "summary-json":
            self.in_json = True

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_json = False

    def handle_data(self, d):
        if self.in_json:
            self.json += d


def case_report_in_browser():
    rows = []
    for i in range(40):
        ds = ["vqa", "caption", "<b>odd & name</b>"][i % 3]
        rows.append({"id": i, "image": "img.png", "question": "What is it?", "chosen": f"Noise number {i}.",
                     "rejected": ["A cat.", "Noise number %d." % i][i % 7 == 0], "ds_name": ds})
    rows.append({"id": "g", "image": "img.png", "prompt": "Q", "candidates": ["x", "y", "z"], "gold": 1, "ds_name": "vqa"})
    inp = write_jsonl("rep.jsonl", rows)
    out, sfile, rep = fresh("rep.out"), fresh("rep_summary.json"), fresh("rep.html")
    p = run(offline("--in", inp, "--out", out, "--group-by", "ds_name", "--summary", sfile, "--report", rep))
    assert p.returncode == 0, p.stderr
    s = json.load(open(sfile))
    assert s["pair_ties"] >= 5, s  # rows with rejected == chosen
    dom = run([A.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + os.path.abspath(rep)], timeout=120)
    assert dom.returncode == 0 and "</table>" in dom.stdout, (dom.returncode, dom.stderr[-2000:])
    shot = path("rep.png")
    if os.path.exists(shot):
        os.remove(shot)
    r = run([A.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1300,1400",
             "--screenshot=" + shot, "file://" + os.path.abspath(rep)], timeout=120)
    assert r.returncode == 0 and os.path.exists(shot), r.stderr[-2000:]
    px = np.asarray(Image.open(shot).convert("RGB"))
    assert (np.abs(px.astype(int) - [0x47, 0x77, 0xaa]).sum(axis=2) < 30).sum() > 500, "no accuracy bars drawn"
    c = Cells()
    c.feed(dom.stdout)
    groups = {"all": s, **s["groups"]}
    for g, t in groups.items():
        for k, v in t.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and (g, k) in c.cells:
                assert float(c.cells[(g, k)]) == v, (g, k, c.cells[(g, k)], v)
        assert c.cells[(g, "pairwise_accuracy")] and float(c.cells[(g, "pairwise_accuracy")]) == t["pairwise_accuracy"]
        assert c.acc[(g, "pairwise_accuracy")] == t["pairwise_accuracy"]
        assert c.hist[g] == t["pairs"], (g, c.hist[g], t["pairs"])
    assert json.loads(c.json) == s  # the embedded summary is --summary's
    assert "<b>odd" not in dom.stdout.split("<script")[0].replace("&lt;b&gt;", ""), "group name not escaped"


CASES = [case_summary_and_resume, case_duplicate_ids, case_input_formats, case_fail_fast_and_exit_status, case_options,
         case_concurrency_in_order, case_server_equals_offline, case_durability, case_report_in_browser]


def main():
    global A
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--rlaifvd", "--model", "--ref-model", "--work"):
        ap.add_argument(k, required=True)
    ap.add_argument("--chromium", default="chromium-headless-shell")
    ap.add_argument("--only", default="")
    A = ap.parse_args()
    os.makedirs(A.work, exist_ok=True)
    setup()
    run_cases(CASES, A.only)

if __name__ == "__main__":
    main()
