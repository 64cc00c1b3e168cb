"""ckpt_lib — small OmniLMM / RLAIF-V checkpoints in the real Hugging Face layout.

Tensor names and shapes follow docs/model.md §2; config.json has the real keys plus
the optional "vision_config" of docs/model.md §1. Writes safetensors (one file, or shards with
model.safetensors.index.json) by hand so the byte layout is visible; reads them back into
torch tensors for the reference implementations.
"""
import json
import math
import os
import struct

import numpy as np
import torch

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
ST_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
ST_TORCH = {v: k for k, v in ST_NAMES.items()}


def tiny_config(**kw):
    """A small config with every real key; keyword overrides (e.g. hidden_size=256)."""
    cfg = {
        "_name_or_path": "rlaifv-test-tiny",
        "architectures": ["OmniLMMForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "fully_tune": True,
        "hidden_act": "silu",
        "hidden_size": 256,
        "image_size": 112,
        "initializer_range": 0.02,
        "intermediate_size": 512,
        "max_position_embeddings": 32768,
        "mm_use_im_start_end": True,
        "mm_vision_tower": "eva02_enormous_patch14_clip_224.laion2b_plus",
        "model_type": "omnilmm",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        "num_query": 16,
        "pad_token_id": 2,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "sliding_window": 4096,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.36.0",
        "tune_CLIP": True,
        "tune_mm_mlp_adapter": False,
        "use_cache": False,
        "use_mm_proj": True,
        "vocab_size": 32009,
        "vision_config": {"embed_dim": 96, "num_heads": 4, "depth": 3, "mlp_dim": 192,
                          "patch_size": 14, "base_grid": 4},
    }
    vis = kw.pop("vision_config", None)
    cfg.update(kw)
    if vis:
        cfg["vision_config"] = dict(cfg["vision_config"], **vis)
    return cfg


def real_widths_config(layers=2, vit_blocks=2):
    """The real RLAIF-V-12B widths with few layers (for benchmarks)."""
    cfg = tiny_config(hidden_size=4096, intermediate_size=14336, num_attention_heads=32,
                      num_key_value_heads=8, num_hidden_layers=layers, num_query=256, image_size=448)
    cfg["vision_config"] = {"embed_dim": 1792, "num_heads": 16, "depth": vit_blocks + 1,
                            "mlp_dim": 15360, "patch_size": 14, "base_grid": 16}
    return cfg


def vision_config(cfg):
    v = cfg.get("vision_config")
    if v:
        return v
    return {"embed_dim": 1792, "num_heads": 16, "depth": 64, "mlp_dim": 15360, "patch_size": 14, "base_grid": 16}


def tensor_specs(cfg):
    """[(name, shape)] in the order of OmniLMMForCausalLM.state_dict()."""
    H, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = H // nh
    Q = cfg["num_query"]
    v = vision_config(cfg)
    D, M, P, G = v["embed_dim"], v["mlp_dim"], v["patch_size"], v["base_grid"]
    s = [("model.embed_tokens.weight", (V, H))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        s += [(p + "self_attn.q_proj.weight", (nh * hd, H)),
              (p + "self_attn.k_proj.weight", (nkv * hd, H)),
              (p + "self_attn.v_proj.weight", (nkv * hd, H)),
              (p + "self_attn.o_proj.weight", (H, nh * hd)),
              (p + "mlp.gate_proj.weight", (F, H)),
              (p + "mlp.up_proj.weight", (F, H)),
              (p + "mlp.down_proj.weight", (H, F)),
              (p + "input_layernorm.weight", (H,)),
              (p + "post_attention_layernorm.weight", (H,))]
    s.append(("model.norm.weight", (H,)))
    vt = "model.vision_tower."
    s += [(vt + "cls_token", (1, 1, D)), (vt + "pos_embed", (1, 1 + G * G, D)),
          (vt + "patch_embed.proj.weight", (D, 3, P, P)), (vt + "patch_embed.proj.bias", (D,))]
    for j in range(v["depth"] - 1):
        b = f"{vt}blocks.{j}."
        s += [(b + "norm1.weight", (D,)), (b + "norm1.bias", (D,)),
              (b + "attn.q_bias", (D,)), (b + "attn.v_bias", (D,)),
              (b + "attn.qkv.weight", (3 * D, D)),
              (b + "attn.proj.weight", (D, D)), (b + "attn.proj.bias", (D,)),
              (b + "norm2.weight", (D,)), (b + "norm2.bias", (D,)),
              (b + "mlp.fc1.weight", (M, D)), (b + "mlp.fc1.bias", (M,)),
              (b + "mlp.fc2.weight", (D, M)), (b + "mlp.fc2.bias", (D,))]
    s += [(vt + "norm.weight", (D,)), (vt + "norm.bias", (D,))]
    r = "model.resampler."
    s += [(r + "query", (Q, H)), (r + "pos_embed", (Q, H)), (r + "proj", (H, H)),
          (r + "kv_proj.weight", (H, D)),
          (r + "attn.in_proj_weight", (3 * H, H)), (r + "attn.in_proj_bias", (3 * H,)),
          (r + "attn.out_proj.weight", (H, H)), (r + "attn.out_proj.bias", (H,)),
          (r + "ln_q.weight", (H,)), (r + "ln_q.bias", (H,)),
          (r + "ln_kv.weight", (H,)), (r + "ln_kv.bias", (H,)),
          (r + "ln_post.weight", (H,)), (r + "ln_post.bias", (H,))]
    s.append(("lm_head.weight", (V, H)))
    return s


def sincos_pos_embed(embed_dim, grid):
    """The resampler's fixed 2D sin-cos table (numpy float32, as the official code builds it)."""
    gh = np.arange(grid, dtype=np.float32)
    gw = np.arange(grid, dtype=np.float32)
    g = np.meshgrid(gw, gh)  # w goes first: the first half encodes the column
    g = np.stack(g, axis=0).reshape([2, 1, grid, grid])

    def one(d, pos):
        omega = np.arange(d // 2, dtype=np.float32)
        omega /= d / 2.0
        omega = 1.0 / 10000 ** omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one(embed_dim // 2, g[0]), one(embed_dim // 2, g[1])], axis=1)


def random_weights(cfg, seed=0, dtype="bf16"):
    """{name: tensor} with scales that keep activations O(1) through a few layers."""
    gen = torch.Generator().manual_seed(seed)
    dt = DTYPES[dtype]
    out = {}
    for name, shape in tensor_specs(cfg):
        if name.endswith("resampler.pos_embed"):
            t = torch.from_numpy(sincos_pos_embed(shape[1], int(math.isqrt(shape[0]))))
        elif name.endswith(("norm.weight", "layernorm.weight", "norm1.weight", "norm2.weight")) or ".ln_" in name and name.endswith("weight"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 1 or name.endswith(("bias", "cls_token", "pos_embed")):
            t = 0.05 * torch.randn(shape, generator=gen)
        else:
            fan_in = shape[-1] if len(shape) == 2 else int(np.prod(shape[1:]))
            if name.endswith("resampler.proj"):
                fan_in = shape[0]
            t = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
            if name.endswith(("embed_tokens.weight", "resampler.query")):
                t = t * math.sqrt(fan_in) * 0.5  # embeddings: O(1) entries, like real ones
        out[name] = t.to(dt).contiguous()
    return out


def st_bytes(tensors):
    """safetensors bytes for an ordered {name: tensor}."""
    header, chunks, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.bfloat16, torch.float16) \
            else t.numpy().tobytes()
        header[name] = {"dtype": ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    return st_header_bytes(header) + b"".join(chunks)


def st_header_bytes(header):
    """The bytes before the tensor data: u64 length + the JSON header ({name: {dtype, shape,
    data_offsets}}, "__metadata__" added), padded with spaces to a multiple of 8."""
    header = dict(header, __metadata__={"format": "pt"})
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h


def write_configs(out_dir, cfg):
    """config.json and generation_config.json (RLAIF-V-12B's) into out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2,
                   "transformers_version": "4.36.0"}, f, indent=2)


def write_checkpoint(out_dir, cfg, tensors, shards=1):
    write_configs(out_dir, cfg)
    if shards <= 1:
        with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
            f.write(st_bytes(tensors))
        return

    def save(part, path):
        with open(path, "wb") as f:
            f.write(st_bytes(part))
    write_shards(out_dir, tensors, shards, "model-{}-of-{}.safetensors", save, "model.safetensors.index.json")


def write_shards(out_dir, tensors, shards, file_fmt, save, index_name):
    """tensors in order over `shards` files named file_fmt.format(i, n) (5 digits, from 1), each
    written by save(part, path), and the index index_name (the bytes in all, each name's file)."""
    names = list(tensors)
    per = math.ceil(len(names) / shards)
    weight_map, total = {}, 0
    for s in range(shards):
        fn = file_fmt.format(f"{s + 1:05d}", f"{shards:05d}")
        part = {n: tensors[n] for n in names[s * per:(s + 1) * per]}
        for n, t in part.items():
            weight_map[n] = fn
            total += t.numel() * t.element_size()
        save(part, os.path.join(out_dir, fn))
    write_index(out_dir, total, weight_map, index_name)


def write_index(out_dir, total_size, weight_map, index_name="model.safetensors.index.json"):
    """The index of a sharded checkpoint: the tensor bytes in all and the shard of each name."""
    with open(os.path.join(out_dir, index_name), "w") as f:
        json.dump({"metadata": {"total_size": total_size}, "weight_map": weight_map}, f, indent=2)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = ST_TORCH[info["dtype"]]
        raw = bytearray(data[base + a:base + b])
        if dt in (torch.bfloat16, torch.float16):
            t = torch.frombuffer(raw, dtype=torch.int16).view(dt) if raw else torch.empty(0, dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=torch.float32) if raw else torch.empty(0)
        out[name] = t.reshape(info["shape"])
    return out


def load_checkpoint(ckpt_dir):
    """(config dict, {name: tensor}) from a directory of safetensors (single or sharded)."""
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        cfg = json.load(f)
    idx = os.path.join(ckpt_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for fn in files:
        tensors.update(read_safetensors(os.path.join(ckpt_dir, fn)))
    return cfg, tensors


OMNILMM_ADDED = ["<im_patch>", "<im_start>", "<im_end>", "<box>", "</box>", "<ref>", "</ref>", "<quad>", "</quad>"]
MISTRAL_TOKENIZER_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node", "node_modules",
                                      "@lenml", "tokenizer-llama2", "models", "tokenizer.json")


def omnilmm_tokenizer_json(base_path=MISTRAL_TOKENIZER_JSON):
    """The Mistral tokenizer.json (32000 pieces) plus OmniLMM's 9 added tokens at 32000..32008
    (special, not normalised), as docs/model.md §7.2 describes."""
    with open(base_path) as f:
        t = json.load(f)
    n = len(t["model"]["vocab"])
    for k, content in enumerate(OMNILMM_ADDED):
        t["added_tokens"].append({"id": n + k, "content": content, "single_word": False, "lstrip": False,
                                  "rstrip": False, "normalized": False, "special": True})
    return t


def write_tokenizer_json(out_dir, tok=None):
    """Writes tokenizer.json (+ a tokenizer_config.json with the chat-template flags) into out_dir."""
    tok = tok or omnilmm_tokenizer_json()
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "legacy": True, "bos_token": "<s>",
                   "eos_token": "</s>", "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer",
                   "model_max_length": 2048}, f, indent=2)
