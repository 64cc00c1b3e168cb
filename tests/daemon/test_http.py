#!/usr/bin/env python3
"""test_http.py — rlaifvd's HTTP front end (docs/http.md) with real clients: urllib, requests, curl and
a real Prometheus server, against the real daemon on the demo pair, next to ZeroMQ clients.

  test_http.py --rlaifvd BIN --rlaifv BIN --model DIR --ref-model DIR --image FILE --work DIR

Each case starts what it needs, asserts, and the run ends with the plain line 'N passed, N failed'.
Every loop is bounded in count and time; only 127.0.0.1 is used.
"""
import base64
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import msgpack
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon as td  # noqa: E402  (Daemon, dealer, rpc: the ZeroMQ side)

DOCS = ["A car waits while sheep cross the road.", "A cat sleeps on a sofa.", {"text": "Sheep."}, "The sky is green."]
QUERY = "What is happening in the picture?"


class HttpDaemon(td.Daemon):
    """A daemon with --http-bind on a free loopback port (self.url)."""

    def __init__(self, *extra, **kw):
        self.http_port = td.free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        super().__init__("--http-bind", self.http_port, *extra, **kw)


def call(url, path, body=None, method=None, headers=None, timeout=120):
    """(status, headers, parsed JSON or text) of one request; error statuses are returned, not raised."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    ctype = hdrs.get("Content-Type", "")
    return status, hdrs, json.loads(raw) if ctype.startswith("application/json") else raw.decode()


def expect(url, path, body, status, code, field=None, **kw):
    st, hdrs, rep = call(url, path, body, **kw)
    assert st == status and rep["error"]["code"] == code, (path, str(body)[:80], st, rep)
    assert set(rep) == {"error"} and set(rep["error"]) == {"code", "message"}, rep
    if field:
        assert field in rep["error"]["message"], rep
    return hdrs


def b64_image():
    return base64.b64encode(td.image()).decode()


def rerank_body(**kw):
    b = {"model": "rlaifv", "query": QUERY, "documents": DOCS, "image": "data:image/jpeg;base64," + b64_image()}
    b.update(kw)
    return b


def doc_text(d):
    return d if isinstance(d, str) else d["text"]


def zmq_score(ep, reward=None, token_logps=False):
    req = td.score_req("z", prompt=QUERY, candidates=[doc_text(d) for d in DOCS], v=2)
    if reward:
        req["reward"] = reward
    if token_logps:
        req["token_logps"] = True
    rep = td.rpc(td.dealer(ep), req, timeout_ms=60000)
    assert rep["ok"], rep
    return rep


# ---------------------------------------------------------------- the Prometheus text format, strictly

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(\{{(?:{LABEL})(?:,{LABEL})*\}})? (\S+)$")
NUMBER = re.compile(r"^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$")


def parse_exposition(text):
    """Validates text/plain version 0.0.4 as Prometheus' parser reads it; returns {family: [(name, labels, value)]}."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    fams, types, helps, order = {}, {}, {}, []
    for ln, line in enumerate(text.split("\n")[:-1], 1):
        assert line and line == line.strip(), f"line {ln}: empty or padded: {line!r}"
        if line.startswith("#"):
            m = re.match(rf"^# (HELP|TYPE) ({NAME}) (.+)$", line)
            assert m, f"line {ln}: bad comment {line!r}"
            kind, name, rest = m.groups()
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert name not in types, f"line {ln}: second TYPE for {name}"
                assert name not in fams, f"line {ln}: TYPE after samples of {name}"
                types[name] = rest
                order.append(name)
            else:
                assert name not in helps, f"line {ln}: second HELP for {name}"
                helps[name] = rest
            continue
        m = SAMPLE.match(line)
        assert m, f"line {ln}: bad sample {line!r}"
        name, labels, value = m.groups()
        assert NUMBER.match(value), f"line {ln}: bad value {value!r}"
        fam = re.sub(r"_(bucket|sum|count)$", "", name) if re.sub(r"_(bucket|sum|count)$", "", name) in types and \
            types[re.sub(r"_(bucket|sum|count)$", "", name)] == "histogram" else name
        assert fam in types, f"line {ln}: {name} has no TYPE"
        assert order[-1] == fam, f"line {ln}: samples of {fam} are not together"
        lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""))
        fams.setdefault(fam, []).append((name, lab, float(value)))
    for fam, t in types.items():
        assert fam in helps, f"{fam} has no HELP"
        if t == "counter":
            assert fam.endswith("_total"), fam
            assert all(v >= 0 for _, _, v in fams.get(fam, [])), fam
        if t == "histogram":
            series = {}
            for name, lab, v in fams.get(fam, []):
                key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
                series.setdefault(key, {"b": [], "sum": None, "count": None})
                if name.endswith("_bucket"):
                    series[key]["b"].append((float(lab["le"]), v))
                else:
                    series[key][name.rsplit("_", 1)[1]] = v
            for key, s in series.items():
                les = [le for le, _ in s["b"]]
                assert les == sorted(les) and les[-1] == math.inf, (fam, key, les)
                counts = [c for _, c in s["b"]]
                assert counts == sorted(counts), (fam, key, "buckets not cumulative", counts)
                assert s["count"] == counts[-1] and s["sum"] is not None, (fam, key, s)
    return fams


def metric(fams, sample, **labels):
    """The sum of the samples named `sample` (a family's, or a histogram's _bucket/_sum/_count) with these labels."""
    return sum(v for f in fams.values() for name, lab, v in f
               if name == sample and all(lab.get(k) == x for k, x in labels.items()))


# ---------------------------------------------------------------- cases

def case_endpoints():
    """Every endpoint answers with its documented shape; rerank = the msgpack path's rewards; score = `rlaifv score`."""
    with HttpDaemon() as d:
        st, _, rep = call(d.url, "/health")
        assert st == 200 and rep == {"status": "ok"}, rep
        st, _, rep = call(d.url, "/ready")
        assert st == 200 and rep == {"status": "ready"}, rep
        st, _, rep = call(d.url, "/v1/models")
        assert st == 200 and rep["object"] == "list" and rep["data"][0]["id"] == "policy", rep
        assert rep["data"][0]["reward_kinds"] == ["rlaifv", "dpo", "logp_mean", "logp_sum"], rep
        want = zmq_score(d.ep)
        by_index = {r["index"]: r for r in want["ranking"]}
        for image in ("data:image/jpeg;base64," + b64_image(), b64_image(),
                      b64_image().rstrip("=").replace("+", "-").replace("/", "_")):  # URL-safe, unpadded
            st, _, rep = call(d.url, "/v1/rerank", rerank_body(image=image))
            assert st == 200, rep
            assert rep["model"] == "rlaifv" and rep["id"].startswith("rerank-"), rep
            assert [r["index"] for r in rep["results"]] == [r["index"] for r in want["ranking"]], (rep, want)
            for r in rep["results"]:
                assert r["relevance_score"] == by_index[r["index"]]["reward"], (r, by_index)  # bit-equal
                assert r["document"]["text"] == doc_text(DOCS[r["index"]])
            assert rep["usage"]["total_tokens"] == sum(r["tokens"] for r in want["ranking"]), rep
            scores = [r["relevance_score"] for r in rep["results"]]
            assert scores == sorted(scores, reverse=True), scores
        # the image inside the query, top_n, return_documents false, extras
        body = rerank_body(query={"text": QUERY, "image": b64_image()}, top_n=2, return_documents=False,
                           reward="logp_sum", token_logps=True)
        del body["image"]
        st, _, rep = call(d.url, "/v1/rerank", body)
        want2 = zmq_score(d.ep, reward="logp_sum", token_logps=True)
        assert st == 200 and len(rep["results"]) == 2 and "document" not in rep["results"][0], rep
        assert rep["reward_kind"] == "logp_sum" and rep["model"] == "rlaifv", rep
        for r, w in zip(rep["results"], want2["ranking"]):
            assert r["index"] == w["index"] and r["relevance_score"] == w["reward"], (r, w)
            assert len(r["policy"]["token_logps"]) == r["tokens"] == w["tokens"], r
        # text only (no image)
        st, _, rep = call(d.url, "/v1/rerank", {"query": QUERY, "documents": ["a", "b"]})
        assert st == 200 and len(rep["results"]) == 2 and "model" in rep, rep
        # /v1/score: exactly what `rlaifv score --server` prints for the same job (timing apart)
        body = {"image": b64_image(), "prompt": QUERY, "candidates": [doc_text(x) for x in DOCS], "reward": "dpo",
                "beta": 0.5, "token_logps": True}
        st, hdrs, rep = call(d.url, "/v1/score", body)
        assert st == 200, rep
        out = subprocess.run([td.A.rlaifv, "score", "--server", d.ep, "--image", td.A.image, "--prompt", QUERY,
                              "--reward", "dpo", "--beta", "0.5", "--token-logps"]
                             + sum((["--candidate", doc_text(x)] for x in DOCS), []), capture_output=True, check=True)
        cli = json.loads(out.stdout)
        for x in (rep, cli):
            x.pop("timing_ms")
        assert rep == cli, (rep, cli)
        # curl, as the docs show it
        out = subprocess.run(["curl", "-sS", "-f", d.url + "/v1/rerank", "-H", "Content-Type: application/json",
                              "-d", json.dumps({"query": QUERY, "documents": ["a", "b"]})], capture_output=True, check=True)
        assert json.loads(out.stdout)["results"], out.stdout
        # requests, with keep-alive: several requests on one connection
        with requests.Session() as s:
            for _ in range(3):
                r = s.post(d.url + "/v1/rerank", json={"query": QUERY, "documents": ["x", "y", "z"]}, timeout=60)
                assert r.status_code == 200 and len(r.json()["results"]) == 3, r.text
        # /metrics: strict exposition format, counts by transport, the same numbers as the stats op
        st, hdrs, text = call(d.url, "/metrics")
        assert st == 200 and hdrs["Content-Type"].startswith("text/plain; version=0.0.4"), hdrs
        fams = parse_exposition(text)
        zst = td.rpc(td.dealer(d.ep), {"v": 1, "id": "s", "op": "stats"})
        assert metric(fams, "rlaifv_requests_total", op="score", transport="zmq", outcome="ok") == 3
        http_ok = zst["replies_by_transport"]["http.score.ok"]
        assert http_ok == metric(fams, "rlaifv_requests_total", op="score", transport="http", outcome="ok") == 10, zst
        assert zst["replies_by_transport"]["zmq.score.ok"] == 3, zst
        assert metric(fams, "rlaifv_stage_duration_seconds_count", stage="total") == 13, fams["rlaifv_stage_duration_seconds"][-3:]
        for stage in ("queue", "image", "prefix", "candidates", "total"):
            assert metric(fams, "rlaifv_stage_duration_seconds_bucket", stage=stage, le="+Inf") == 13, stage
        assert metric(fams, "rlaifv_candidate_tokens_total") == zst["candidate_tokens"] > 0
        assert metric(fams, "rlaifv_image_cache_misses_total") == zst["image_cache"]["misses"] > 0
        assert metric(fams, "rlaifv_prefix_cache_hits_total") == zst["prefix_cache"]["hits"] > 0
        assert metric(fams, "rlaifv_weight_bytes") == zst["weight_bytes"] > 0
        assert metric(fams, "rlaifv_build_info", version=zst["version"]) == 1
        assert metric(fams, "rlaifv_queue_depth") == 0 and metric(fams, "rlaifv_jobs_running") == 0
        assert d.stop() == 0


def case_error_statuses():
    """Each error code gets its status and a JSON body naming it; none of them disturbs the next request."""
    with HttpDaemon("--max-seq-tokens", 64, "--max-message-bytes", 4 << 20, "--max-image-bytes", 1 << 20) as d:
        u = d.url
        expect(u, "/v1/rerank", b"{\"query\": ", 400, "bad_request", field="malformed JSON")
        expect(u, "/v1/rerank", b"[1, 2]", 400, "bad_request", field="object")
        expect(u, "/v1/rerank", {"query": 5, "documents": ["a"]}, 400, "bad_request", field="query")
        expect(u, "/v1/rerank", {"query": "q"}, 400, "bad_request", field="documents")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a", 7]}, 400, "bad_request", field="documents[1]")
        expect(u, "/v1/rerank", {"query": "q", "documents": []}, 400, "bad_request", field="empty")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, 400, "bad_request", field="top_n")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "image": "abc$"}, 400, "bad_request", field="base64")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "image": "abcde"}, 400, "bad_request", field="truncated")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "image": "data:text/plain;base64,QQ=="}, 400,
               "bad_request", field="data:image")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "image": "https://example.com/a.jpg"}, 400,
               "bad_request", field="not fetched")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "image": ""}, 400, "bad_image")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "image": base64.b64encode(b"\xff\xd8\xff" + bytes(500)).decode()},
               400, "bad_image")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "reward": "best"}, 400, "bad_request", field="reward")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "beta": -1}, 400, "bad_request", field="beta")
        expect(u, "/v1/score", {"image": None, "prompt": "q", "candidates": ["a"], "extra": 1}, 400, "bad_request",
               field="unknown field 'extra'")
        expect(u, "/v1/score", {"prompt": "q", "candidates": ["a"]}, 400, "bad_request", field="image")
        expect(u, "/v1/score", b'{"image": null, "image": null, "prompt": "q", "candidates": ["a"]}', 400, "bad_request",
               field="duplicate")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["a"], "image": base64.b64encode(bytes(2 << 20)).decode()},
               413, "too_large", field="max-image-bytes")
        expect(u, "/v1/rerank", {"query": "q", "documents": ["word " * 200]}, 422, "too_long")
        expect(u, "/v1/score", {"image": None, "prompt": "q", "candidates": ["a"], "deadline_ms": 0}, 504, "timeout")
        expect(u, "/nowhere", None, 404, "not_found")
        h = expect(u, "/v1/rerank", None, 405, "method_not_allowed")
        assert h["Allow"] == "POST", dict(h)
        h = expect(u, "/metrics", b"{}", 405, "method_not_allowed")
        assert h["Allow"] == "GET", dict(h)
        # a body above max-message-bytes: declared (refused before it is read), and chunked
        out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", u + "/v1/rerank", "-H",
                              "Content-Length: 99999999999", "-d", "x"], capture_output=True)
        assert out.stdout.decode().endswith("\n413") and b"too_large" in out.stdout, out
        big = b"x" * (5 << 20)
        r = requests.post(u + "/v1/rerank", data=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]), timeout=60)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large", r.text
        # still serving
        st, _, rep = call(u, "/v1/rerank", {"query": "q", "documents": ["a"]})
        assert st == 200, rep
        assert d.stop() == 0
    # unsupported reward without a reference model
    with HttpDaemon(ref=False) as d:
        expect(d.url, "/v1/rerank", {"query": "q", "documents": ["a"], "reward": "rlaifv"}, 400, "unsupported_reward")
        assert d.stop() == 0


def case_busy_mixed_transports():
    """HTTP and ZeroMQ clients at once against --max-queue 2: every request gets exactly one answer, ok or busy
    (429 with Retry-After over HTTP), and the daemon's counters add up to what was sent."""
    with HttpDaemon("--workers", 1, "--max-queue", 2, "--http-max-connections", 64) as d:
        want = {r["index"]: r["reward"] for r in zmq_score(d.ep)["ranking"]}
        results, errors = [], []
        lock = threading.Lock()
        n_http, n_zmq = 8 * 6, 4 * 12

        def http_client(k):
            try:
                with requests.Session() as s:
                    for j in range(6):
                        r = s.post(d.url + "/v1/rerank", json=rerank_body(), timeout=120)
                        if r.status_code == 200:
                            got = {x["index"]: x["relevance_score"] for x in r.json()["results"]}
                            assert got == want, (got, want)
                            with lock:
                                results.append(("http", "ok"))
                        else:
                            assert r.status_code == 429 and r.headers["Retry-After"] == "1", (r.status_code, r.text)
                            assert r.json()["error"]["code"] == "busy", r.text
                            with lock:
                                results.append(("http", "busy"))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        def zmq_client(k):
            try:
                s = td.dealer(d.ep)
                for j in range(12):
                    rid = f"z{k}-{j}"
                    s.send(msgpack.packb(td.score_req(rid, prompt=QUERY, candidates=[doc_text(x) for x in DOCS]),
                                         use_bin_type=True))
                seen = {}
                t0 = time.time()
                while len(seen) < 12 and time.time() - t0 < 120:
                    if s.poll(1000):
                        r = msgpack.unpackb(s.recv(), raw=False)
                        assert r["id"] not in seen, "two replies for one request"
                        seen[r["id"]] = r
                assert len(seen) == 12, f"{len(seen)} of 12 answered"
                assert not s.poll(300), "an extra reply"
                for r in seen.values():
                    code = "ok" if r["ok"] else r["error"]["code"]
                    assert code in ("ok", "busy"), r
                    if r["ok"]:
                        assert {x["index"]: x["reward"] for x in r["ranking"]} == want
                    with lock:
                        results.append(("zmq", code))
                s.close(0)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        ts = [threading.Thread(target=http_client, args=(k,)) for k in range(8)] + \
             [threading.Thread(target=zmq_client, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(300)
        assert not errors, errors[:3]
        assert len(results) == n_http + n_zmq, len(results)
        codes = [c for _, c in results]
        assert codes.count("busy") > 0 and codes.count("ok") > 0, codes
        st = td.rpc(td.dealer(d.ep), {"v": 1, "id": "s", "op": "stats"})["replies_by_transport"]
        for tr in ("http", "zmq"):
            for code in ("ok", "busy"):
                sent = sum(1 for t, c in results if t == tr and c == code)
                assert st.get(f"{tr}.score.{code}", 0) == sent + (tr == "zmq" and code == "ok"), (tr, code, st, sent)
        assert d.stop() == 0


def case_max_peer_jobs_not_for_http():
    """max-peer-jobs limits a ZeroMQ routing id; HTTP jobs, which all come through one inproc DEALER, are not one
    client: 8 concurrent HTTP requests with --max-peer-jobs 1 are all scored."""
    with HttpDaemon("--workers", 1, "--max-peer-jobs", 1) as d:
        out = []
        ts = [threading.Thread(target=lambda: out.append(call(d.url, "/v1/rerank", rerank_body())[0])) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        assert out == [200] * 8, out
        assert d.stop() == 0


def case_sigterm_drains_http():
    """SIGTERM while HTTP requests are queued: each gets exactly one response, 200 or 503 shutting_down."""
    with HttpDaemon("--workers", 1, "--max-queue", 32) as d:
        out, errs = [], []

        def one():
            try:
                docs = [f"{k} sheep and a car on a road, seen from the side." for k in range(48)]
                st, _, rep = call(d.url, "/v1/rerank", rerank_body(documents=docs), timeout=120)
                out.append(st if st == 200 else (st, rep["error"]["code"]))
            except Exception as e:  # noqa: BLE001
                errs.append(repr(e))

        ts = [threading.Thread(target=one) for _ in range(12)]
        for t in ts:
            t.start()
        time.sleep(0.2)
        d.p.send_signal(signal.SIGTERM)
        for t in ts:
            t.join(120)
        assert not errs, errs
        assert len(out) == 12 and set(out) <= {200, (503, "shutting_down")}, out
        assert (503, "shutting_down") in out, out
        assert d.stop() == 0


def case_ready_and_loading():
    """/ready is 503 `loading` with Retry-After until the model is loaded, 200 after; /health is 200 throughout."""
    with HttpDaemon(expect_start=False) as d:
        seen = []
        t0 = time.time()
        while time.time() - t0 < 60:
            try:
                st, h, rep = call(d.url, "/ready", timeout=5)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.01)
                continue
            seen.append(st if st == 200 else (st, rep["error"]["code"], h["Retry-After"]))
            if st == 200:
                break
            assert call(d.url, "/health")[0] == 200
            time.sleep(0.01)
        assert seen and seen[-1] == 200 and set(seen) <= {200, (503, "loading", "1")}, seen
        if len(seen) > 1:
            print(f"     /ready said loading {len(seen) - 1} times before ready")
        assert d.stop() == 0


def case_api_key_and_bind_rules():
    key = os.path.join(td.A.work, "api.key")
    with open(key, "w") as f:
        f.write("k" * 8 + "0123456789abcdef\n")
    os.chmod(key, 0o600)
    with HttpDaemon("--api-key-file", key) as d:
        expect(d.url, "/v1/models", None, 401, "unauthorized")
        expect(d.url, "/v1/models", None, 403, "forbidden", headers={"Authorization": "Bearer wrong"})
        expect(d.url, "/metrics", None, 403, "forbidden", headers={"Authorization": "Bearer " + "k" * 8 + "0123456789abcdeX"})
        st, _, _ = call(d.url, "/v1/models", headers={"Authorization": "Bearer " + "k" * 8 + "0123456789abcdef"})
        assert st == 200
        assert call(d.url, "/health")[0] == 200 and call(d.url, "/ready")[0] == 200  # probes need no key
        assert d.stop() == 0
    for bind, extra, msg in [("0.0.0.0:%d", [], "without an API key"), ("nohost:%d", [], "numeric address"),
                             ("127.0.0.1:0", [], "port 1..65535"), ("%d", ["--tls-cert-file", key], "both")]:
        port = td.free_port()
        b = bind % port if "%d" in bind else bind
        d = td.Daemon("--http-bind", b, *extra, expect_start=False)
        try:
            rc = d.p.wait(30)
        except subprocess.TimeoutExpired:
            d.p.kill()
            raise AssertionError(f"--http-bind {b} {extra} was accepted")
        assert rc != 0 and msg in d.read_log(), (b, rc, d.read_log())
    # the HTTP port already taken: named, exit 1
    with HttpDaemon() as d:
        d2 = td.Daemon("--http-bind", d.http_port, expect_start=False)
        rc = d2.p.wait(30)
        assert rc == 1 and "cannot serve HTTP" in d2.read_log(), d2.read_log()
        assert d.stop() == 0


def case_tls():
    """HTTPS through libmicrohttpd's GnuTLS with a self-signed certificate (openssl), curl --cacert."""
    crt, key = os.path.join(td.A.work, "tls.crt"), os.path.join(td.A.work, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    with HttpDaemon("--tls-cert-file", crt, "--tls-key-file", key) as d:
        url = d.url.replace("http://", "https://")
        out = subprocess.run(["curl", "-sS", "--cacert", crt, url + "/v1/rerank", "-d",
                              json.dumps({"query": QUERY, "documents": ["a", "b"]})], capture_output=True, check=True)
        assert len(json.loads(out.stdout)["results"]) == 2, out
        out = subprocess.run(["curl", "-sS", d.url + "/health"], capture_output=True)  # plain HTTP on a TLS port
        assert out.returncode != 0 or b"status" not in out.stdout, out
        assert d.stop() == 0


def case_slow_client_cut_off():
    """A client that sends half a body and stops is cut off after http-timeout-s; others are served meanwhile."""
    with HttpDaemon("--http-timeout-s", 2) as d:
        s = socket.create_connection(("127.0.0.1", d.http_port))
        s.sendall(b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"q")
        st, _, _ = call(d.url, "/v1/rerank", {"query": "q", "documents": ["a"]})
        assert st == 200
        s.settimeout(20)
        t0 = time.time()
        data = s.recv(4096)
        assert data == b"" and 1 <= time.time() - t0 <= 15, (data, time.time() - t0)
        s.close()
        assert d.stop() == 0


def case_prometheus_scrape():
    """A real Prometheus (Debian's) on loopback scrapes /metrics; its own query API finds the request counter and
    the stage histogram after a few jobs."""
    prom = shutil.which("prometheus")
    assert prom, "prometheus is not installed (scripts/setup.sh installs Debian's package)"
    with HttpDaemon() as d:
        for _ in range(3):
            assert call(d.url, "/v1/rerank", rerank_body())[0] == 200
        work = os.path.join(td.A.work, "prometheus")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                    f"  - job_name: rlaifvd\n    static_configs:\n      - targets: ['127.0.0.1:{d.http_port}']\n")
        pport = td.free_port()
        log = open(os.path.join(work, "prometheus.log"), "w+")
        p = subprocess.Popen([prom, f"--config.file={cfg}", f"--storage.tsdb.path={work}/data",
                              f"--web.listen-address=127.0.0.1:{pport}"], stdout=log, stderr=log)
        try:
            api = f"http://127.0.0.1:{pport}/api/v1/"
            found = {}
            t0 = time.time()
            queries = {
                "requests": 'rlaifv_requests_total{op="score",transport="http",outcome="ok"}',
                "histogram": 'rlaifv_stage_duration_seconds_bucket{stage="total",le="+Inf"}',
                "p50": 'histogram_quantile(0.5, rlaifv_stage_duration_seconds_bucket{stage="total"})',
                "up": 'up{job="rlaifvd"}',
            }
            while len(found) < len(queries) and time.time() - t0 < 90:
                for k, q in queries.items():
                    if k in found:
                        continue
                    try:
                        r = requests.get(api + "query", params={"query": q}, timeout=5).json()
                    except requests.RequestException:
                        continue
                    if r.get("status") == "success" and r["data"]["result"]:
                        found[k] = float(r["data"]["result"][0]["value"][1])
                time.sleep(0.5)
            assert len(found) == len(queries), (found, open(os.path.join(work, "prometheus.log")).read()[-2000:])
            assert found["up"] == 1 and found["requests"] == 3 and found["histogram"] == 3, found
            assert 0 < found["p50"] < 300, found
            tg = requests.get(api + "targets", timeout=5).json()["data"]["activeTargets"][0]
            assert tg["health"] == "up" and not tg["lastError"], tg
        finally:
            p.terminate()
            p.wait(30)
        assert d.stop() == 0


CASES = [case_endpoints, case_error_statuses, case_busy_mixed_transports, case_max_peer_jobs_not_for_http,
         case_sigterm_drains_http, case_ready_and_loading,
         case_api_key_and_bind_rules, case_tls, case_slow_client_cut_off, case_prometheus_scrape]


def main():
    td.run(CASES)


if __name__ == "__main__":
    main()
