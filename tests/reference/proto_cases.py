#!/usr/bin/env python3
"""proto_cases.py — cross-checks proto/ against Debian's python3-msgpack (an independent codec).

  proto_cases.py write DIR    writes DIR/cases/<name>.msgpack (request bodies encoded by python,
                              valid and invalid) and DIR/manifest.tsv (what the C decoder must say)
  proto_cases.py check DIR    decodes DIR/replies/<name>.msgpack (written by tests/test_proto_py.c
                              from the decoded requests) and checks every reply field by field
  proto_cases.py corpus DIR   writes the small cases as a libFuzzer seed corpus

manifest.tsv: name <TAB> expected code <TAB> substring of the message <TAB> key=value ... where the
key=values (valid cases only) are what the decoded request must hold (lengths, FNV-1a 64 hashes).
The synthetic score result the C side encodes is defined by synthetic_ranking() below and by
fill_result() in test_proto_py.c: the same formula on both sides.
"""
import math
import os
import struct
import sys

import msgpack

DEFAULTS = dict(max_message_bytes=32 << 20, max_image_bytes=16 << 20, max_candidates=64,
                max_candidate_bytes=64 << 10, max_prompt_bytes=64 << 10, max_id_bytes=1 << 10)
NO_ID = object()  # the reply must carry id: nil
IMAGE = bytes((i * 37 + 11) & 0xFF for i in range(40))


def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def raw_map(pairs):
    """A msgpack map from (key, raw encoded value) pairs: lets a case hold invalid UTF-8,
    duplicate keys or hand-made headers that msgpack.packb would refuse to write."""
    n = len(pairs)
    out = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
    for k, v in pairs:
        out += (msgpack.packb(k) if not isinstance(k, bytes) else k) + v
    return out


P = msgpack.packb
RLV_PROTO_VERSION = 2  # include/rlaifv_proto.h's; test_proto_py.c writes it into the synthetic ping and info replies


def base(**over):
    """A valid score request as (key, raw value) pairs; over: key -> raw bytes, or None to drop."""
    fields = [("v", P(1)), ("id", P("req-1")), ("op", P("score")), ("image", P(IMAGE, use_bin_type=True)),
              ("prompt", P("Describe the image.")), ("candidates", P(["A cat.", "A dog on a sofa."])),
              ("reward", P("rlaifv")), ("beta", P(0.1)), ("token_logps", P(True)), ("deadline_ms", P(5000))]
    out = []
    for k, v in fields:
        if k in over:
            if over[k] is not None:
                out.append((k, over[k]))
        else:
            out.append((k, v))
    for k, v in over.items():
        if k not in dict(fields):
            out.append((k, v))
    return out


def rawstr(b):
    assert len(b) < 32
    return bytes([0xa0 | len(b)]) + b


def want_score(prompt, cands, image=IMAGE, reward="rlaifv", beta=0.1, token_logps=1, deadline=5000, v=1):
    w = dict(op="score", v=v, n=len(cands), prompt_len=len(prompt.encode()), prompt_fnv=fnv(prompt.encode()),
             cands_fnv=fnv(b"\x00".join(c.encode() for c in cands)), reward=reward or "default",
             token_logps=token_logps)
    w["image_len"] = len(image) if image is not None else 0
    w["image_fnv"] = fnv(image) if image is not None else 0
    w["beta"] = repr(float(beta)) if beta is not None else "none"
    w["deadline"] = deadline if deadline is not None else -1
    return w


def cases():
    C = []

    def ok(name, body, want, id=NO_ID):
        C.append(dict(name=name, body=body, code="ok", substr="", want=want, id=id))

    def bad(name, body, code, substr, id=NO_ID):
        C.append(dict(name=name, body=body, code=code, substr=substr, want=None, id=id))

    cands = ["A cat.", "A dog on a sofa."]
    prompt = "Describe the image."
    # --- valid
    ok("score_full", raw_map(base()), want_score(prompt, cands), "req-1")
    # v2: the same request; its reply adds timing_ms.cached
    ok("score_v2", raw_map(base(v=P(2))), want_score(prompt, cands, v=2), "req-1")
    ok("score_min", P({"v": 1, "op": "score", "image": IMAGE, "prompt": prompt, "candidates": ["x"]}, use_bin_type=True),
       want_score(prompt, ["x"], reward=None, beta=None, token_logps=0, deadline=None))
    uprompt, ucands = "Décris l'image 🐱 — 説明して", ["猫です。", "Ein Hund 🐶", "", "a\nb\tc"]
    ok("score_unicode", raw_map(base(id=P("ü-1"), prompt=P(uprompt), candidates=P(ucands))),
       want_score(uprompt, ucands), "ü-1")
    ok("score_image_nil", raw_map(base(image=P(None))), want_score(prompt, cands, image=None), "req-1")
    for kind in ("rlaifv", "dpo", "logp_mean", "logp_sum"):
        ok("score_reward_" + kind, raw_map(base(reward=P(kind), token_logps=P(False))),
           want_score(prompt, cands, reward=kind, token_logps=0), "req-1")
    ok("score_beta_int", raw_map(base(beta=P(2))), want_score(prompt, cands, beta=2.0), "req-1")
    ok("score_beta_f32", raw_map(base(beta=P(0.5, use_single_float=True))), want_score(prompt, cands, beta=0.5), "req-1")
    ok("score_beta_int8", raw_map(base(beta=b"\xd0\x03")), want_score(prompt, cands, beta=3.0), "req-1")
    ok("score_deadline_0", raw_map(base(deadline_ms=P(0))), want_score(prompt, cands, deadline=0), "req-1")
    ok("score_deadline_u64", raw_map(base(deadline_ms=P(2**64 - 1))), want_score(prompt, cands, deadline=2**63 - 1), "req-1")
    ok("score_nils", raw_map(base(reward=P(None), beta=P(None), token_logps=P(None), deadline_ms=P(None))),
       want_score(prompt, cands, reward=None, beta=None, token_logps=0, deadline=None), "req-1")
    rev = list(reversed(base()))
    ok("score_reordered", raw_map(rev), want_score(prompt, cands), "req-1")
    # ids of every msgpack type come back bit-identical
    ids = {"int": 42, "neg": -7, "u64": 2**64 - 1, "float": 1.5, "bool": True, "bin": b"\x00\xff",
           "map": {"a": [1, 2, {"b": None}], "c": 3.25}, "intkeys": {1: "x", 2: [b"y"]},
           "ext": msgpack.ExtType(5, b"abc"), "nested14": [[[[[[[[[[[[[["deep"]]]]]]]]]]]]]], "nil": None}
    for k, v in ids.items():
        ok("id_" + k, raw_map(base(id=P(v, use_bin_type=True))), want_score(prompt, cands), v)
    m64 = ["c%02d " % i + "x" * (1000 + i) for i in range(64)]
    ok("score_64_candidates", raw_map(base(candidates=P(m64))), want_score(prompt, m64), "req-1")
    big = "é" * (32 << 10)  # exactly 65536 bytes
    ok("score_candidate_at_limit", raw_map(base(candidates=P([big, "y"]))), want_score(prompt, [big, "y"]), "req-1")
    for op in ("ping", "info", "stats"):
        ok(op, P({"v": 1, "id": op + "-1", "op": op}), dict(op=op), op + "-1")
    ok("ping_no_id", P({"op": "ping", "v": 1}), dict(op="ping"))

    # --- malformed msgpack
    bad("empty", b"", "bad_request", "empty body")
    bad("byte_c1", b"\xc1", "bad_request", "invalid byte 0xc1")
    bad("random", bytes(range(0xc1, 0xd1)) * 3, "bad_request", "malformed msgpack")
    full = raw_map(base())
    bad("truncated", full[:-3], "bad_request", "truncated", "req-1")
    bad("trailing", full + b"\x00", "bad_request", "1 trailing bytes", "req-1")
    bad("top_array", P([1, 2, 3]), "bad_request", "expected a map, got array")
    bad("top_str", P("hello"), "bad_request", "expected a map, got str")
    bad("huge_array32", raw_map([("v", P(1)), ("id", P(9)), ("op", P("score")), ("candidates", b"\xdd\xff\xff\xff\xff")]),
        "bad_request", "truncated", 9)
    bad("huge_bin32", raw_map([("id", P(8)), ("image", b"\xc6\xff\xff\xff\xff")]), "bad_request", "truncated", 8)
    bad("huge_str32", raw_map([("id", P(7)), ("prompt", b"\xdb\xff\xff\xff\xf0abc")]), "bad_request", "truncated", 7)
    bad("huge_map32", b"\xdf\xff\xff\xff\xff", "bad_request", "truncated")
    deep = "x"
    for _ in range(40):
        deep = [deep]
    bad("deep_id", raw_map(base(id=P(deep))), "bad_request", "nested deeper than 16")
    deep15 = "x"
    for _ in range(15):
        deep15 = [deep15]  # levels 2..16 under the top map: the deepest allowed
    ok("id_nested15", raw_map(base(id=P(deep15))), want_score(prompt, cands), deep15)
    bad("deep_id_16", raw_map(base(id=P([deep15]))), "bad_request", "nested deeper than 16")
    bad("key_int", raw_map(base() + [(P(5), P(1))]), "bad_request", "field name at byte", "req-1")
    bad("unknown_field", raw_map(base(prompts=P("x"))), "bad_request", "unknown field 'prompts'", "req-1")
    bad("unknown_field_bytes", raw_map(base() + [(rawstr(b"a\x01\xff"), P(1))]), "bad_request", "unknown field 'a\\x01\\xff'", "req-1")
    bad("duplicate", raw_map(base() + [("prompt", P("again"))]), "bad_request", "duplicate field 'prompt'", "req-1")
    # --- version and op
    bad("missing_v", raw_map(base(v=None)), "bad_request", "missing field 'v'", "req-1")
    bad("v_str", raw_map(base(v=P("1"))), "bad_request", "field 'v': expected int, got str", "req-1")
    bad("v_zero", raw_map(base(v=P(0))), "bad_request", "field 'v'", "req-1")
    bad("v_neg", raw_map(base(v=P(-1))), "bad_request", "field 'v'", "req-1")
    bad("v_3", raw_map(base(v=P(3))), "unsupported_version", "v 3", "req-1")
    bad("v_3_new_fields", raw_map(base(v=P(3), images=P([]))), "unsupported_version", "v 3", "req-1")
    bad("missing_op", raw_map(base(op=None)), "bad_request", "missing field 'op'", "req-1")
    bad("op_unknown", raw_map(base(op=P("score2"))), "bad_request", "'score2' is not one of", "req-1")
    bad("op_int", raw_map(base(op=P(5))), "bad_request", "field 'op': expected str, got int", "req-1")
    bad("ping_with_prompt", P({"v": 1, "id": 3, "op": "ping", "prompt": "x"}), "bad_request",
        "field 'prompt' is not allowed with op 'ping'", 3)
    # --- score fields
    for f in ("image", "prompt", "candidates"):
        bad("missing_" + f, raw_map(base(**{f: None})), "bad_request", "missing field '%s'" % f, "req-1")
    bad("image_str", raw_map(base(image=P("abc"))), "bad_request", "field 'image': expected bin", "req-1")
    bad("image_empty", raw_map(base(image=P(b"", use_bin_type=True))), "bad_image", "image: 0 bytes", "req-1")
    bad("image_too_large", raw_map(base(image=P(b"\x00" * ((16 << 20) + 1), use_bin_type=True))), "too_large",
        "max-image-bytes", "req-1")
    bad("prompt_bin", raw_map(base(prompt=P(b"x", use_bin_type=True))), "bad_request", "field 'prompt': expected str, got bin", "req-1")
    bad("prompt_bad_utf8", raw_map(base(prompt=rawstr(b"ok \xff"))), "bad_request", "prompt: invalid UTF-8 at byte 3", "req-1")
    bad("prompt_overlong", raw_map(base(prompt=rawstr(b"\xc0\xaf"))), "bad_request", "prompt: invalid UTF-8 at byte 0", "req-1")
    bad("prompt_too_large", raw_map(base(prompt=P("p" * ((64 << 10) + 1)))), "too_large", "max-prompt-bytes", "req-1")
    bad("candidates_str", raw_map(base(candidates=P("x"))), "bad_request", "field 'candidates': expected array", "req-1")
    bad("candidates_empty", raw_map(base(candidates=P([]))), "bad_request", "empty array", "req-1")
    bad("candidates_65", raw_map(base(candidates=P(["x"] * 65))), "too_large", "candidates: 65 > max-candidates 64", "req-1")
    bad("candidates_10000", raw_map(base(candidates=P(["x"] * 10000))), "too_large", "candidates: 10000 > max-candidates", "req-1")
    bad("candidate_int", raw_map(base(candidates=P(["x", 5]))), "bad_request", "candidates[1]: expected str, got int", "req-1")
    bad("candidate_surrogate", raw_map(base(candidates=b"\x92" + P("x") + rawstr(b"ab\xed\xa0\x80"))), "bad_request",
        "candidates[1]: invalid UTF-8 at byte 2", "req-1")
    bad("candidate_too_large", raw_map(base(candidates=P(["x", "y" * ((64 << 10) + 1)]))), "too_large",
        "candidates[1]: 65537 bytes > max-candidate-bytes 65536", "req-1")
    bad("reward_unknown", raw_map(base(reward=P("ppo"))), "bad_request", "'ppo' is not one of", "req-1")
    bad("reward_int", raw_map(base(reward=P(1))), "bad_request", "field 'reward': expected str", "req-1")
    bad("beta_str", raw_map(base(beta=P("0.1"))), "bad_request", "field 'beta': expected float or int", "req-1")
    bad("beta_zero", raw_map(base(beta=P(0.0))), "bad_request", "field 'beta'", "req-1")
    bad("beta_neg", raw_map(base(beta=P(-1))), "bad_request", "field 'beta'", "req-1")
    bad("beta_nan", raw_map(base(beta=P(math.nan))), "bad_request", "field 'beta'", "req-1")
    bad("beta_inf", raw_map(base(beta=P(math.inf))), "bad_request", "field 'beta'", "req-1")
    bad("token_logps_int", raw_map(base(token_logps=P(1))), "bad_request", "field 'token_logps': expected bool", "req-1")
    bad("deadline_neg", raw_map(base(deadline_ms=P(-5))), "bad_request", "field 'deadline_ms': -5 is negative", "req-1")
    bad("deadline_float", raw_map(base(deadline_ms=P(1.5))), "bad_request", "field 'deadline_ms': expected int", "req-1")
    # --- id limits
    bad("id_too_large", raw_map(base(id=P(b"i" * 2000, use_bin_type=True))), "too_large", "max-id-bytes")
    return C


# ---- the synthetic score result (same formula as fill_result() in tests/test_proto_py.c)
def synthetic_ranking(n, token_logps, with_ref):
    out = []
    for i in range(n):
        idx = n - 1 - i
        tokens = 3 + idx % 5
        pol = {"logp_sum": -1.5 * (idx + 1), "logp_mean": -1.5 * (idx + 1) / tokens}
        if token_logps:
            pol["token_logps"] = [-0.125 * (t + 1) - idx for t in range(tokens)]
        e = {"index": idx, "reward": 1.0 - 0.25 * i, "tokens": tokens, "policy": pol}
        if with_ref:
            ref = {"logp_sum": -2.0 * (idx + 1), "logp_mean": -2.0 * (idx + 1) / tokens}
            if token_logps:
                ref["token_logps"] = [-0.25 * (t + 1) - idx for t in range(tokens)]
            e["reference"] = ref
        out.append(e)
    return out


def expected_reply(c):
    w = c["want"]
    rid = None if c["id"] is NO_ID else c["id"]
    if w is None:
        return None
    if w["op"] == "ping":
        return {"id": rid, "ok": True, "v": RLV_PROTO_VERSION}
    if w["op"] == "info":
        return {"id": rid, "ok": True, "v": RLV_PROTO_VERSION, "version": "0.1.0",
                "reward_kinds": ["rlaifv", "dpo", "logp_mean", "logp_sum"], "limits": DEFAULTS,
                "errors": {"empty_map": {}, "empty_array": []}}
    if w["op"] == "stats":
        return {"id": rid, "ok": True, "requests": {"score.ok": 3, "ping.ok": 1}, "queue_depth": 0,
                "latency_ms": {"p50": 1.5, "p99": 9.25}, "neg": -7, "big": 2**64 - 1, "flag": True, "nothing": None,
                "text": "caf?"}
    reward = w["reward"] if w["reward"] != "default" else "logp_mean"
    return {"id": rid, "ok": True, "reward_kind": reward, "beta": 0.1 if w["beta"] == "none" else float(w["beta"]),
            "ranking": synthetic_ranking(w["n"], w["token_logps"], reward in ("rlaifv", "dpo")),
            "timing_ms": dict({"image": 1.25, "prefix": 2.5, "candidates": 3.75, "total": 7.5},
                              **({"cached": ["image", "prefix"]} if w["v"] >= 2 else {}))}


def same(a, b, path="reply"):
    """Exact equality with types: msgpack ints stay ints, floats floats, ExtType compared by value."""
    if type(a) is not type(b):
        raise AssertionError("%s: %r (%s) != %r (%s)" % (path, a, type(a).__name__, b, type(b).__name__))
    if isinstance(a, dict):
        if set(a) != set(b):
            raise AssertionError("%s: keys %s != %s" % (path, sorted(map(str, a)), sorted(map(str, b))))
        for k in a:
            same(a[k], b[k], "%s.%s" % (path, k))
    elif isinstance(a, list):
        if len(a) != len(b):
            raise AssertionError("%s: %d items != %d" % (path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, "%s[%d]" % (path, i))
    elif a != b:
        raise AssertionError("%s: %r != %r" % (path, a, b))


def check(root):
    n_ok = n_err = 0
    for c in cases():
        path = os.path.join(root, "replies", c["name"] + ".msgpack")
        with open(path, "rb") as f:
            body = f.read()
        # raw=False: every str must be valid UTF-8; strict_map_key=False: ids may have int keys
        rep = msgpack.unpackb(body, raw=False, strict_map_key=False)
        want = expected_reply(c)
        if want is not None:
            same(rep, want, c["name"])
            n_ok += 1
            continue
        rid = None if c["id"] is NO_ID else c["id"]
        assert set(rep) == {"id", "ok", "error"}, (c["name"], rep.keys())
        same(rep["id"], rid, c["name"] + ".id")
        assert rep["ok"] is False, c["name"]
        e = rep["error"]
        assert set(e) == {"code", "message"}, (c["name"], e)
        assert e["code"] == c["code"], (c["name"], e)
        msg = e["message"]
        assert c["substr"] in msg, (c["name"], msg, c["substr"])
        assert len(msg.encode()) < 512 and all(ch >= " " and ch != "\x7f" for ch in msg), (c["name"], msg)
        n_err += 1
    print("proto replies: %d ok replies and %d error replies match field by field" % (n_ok, n_err))


def write(root):
    os.makedirs(os.path.join(root, "cases"), exist_ok=True)
    os.makedirs(os.path.join(root, "replies"), exist_ok=True)
    with open(os.path.join(root, "manifest.tsv"), "w") as m:
        for c in cases():
            with open(os.path.join(root, "cases", c["name"] + ".msgpack"), "wb") as f:
                f.write(c["body"])
            kv = " ".join("%s=%s" % (k, v) for k, v in (c["want"] or {}).items())
            m.write("%s\t%s\t%s\t%s\n" % (c["name"], c["code"], c["substr"], kv))


def corpus(root):
    os.makedirs(root, exist_ok=True)
    for c in cases():
        if len(c["body"]) <= 600:
            with open(os.path.join(root, c["name"]), "wb") as f:
                f.write(c["body"])


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check", "corpus"):
        sys.exit(__doc__)
    {"write": write, "check": check, "corpus": corpus}[sys.argv[1]](sys.argv[2])
