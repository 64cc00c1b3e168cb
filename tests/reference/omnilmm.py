"""omnilmm.py — the OmniLMM / RLAIF-V-12B model as torch nn.Modules, from docs/model.md.

state_dict() has exactly the real checkpoint's tensor names (ckpt_lib.tensor_specs), so the
same module loads test checkpoints, trains the embedded demo model pair, and serves as the
end-to-end reference. Math per docs/model.md §4–§8: EVA ViT with post-norm blocks (output
of the second-to-last block + final norm, CLS dropped), the resampler, and the Mistral decoder
(RMSNorm, rotate_half RoPE, GQA, SwiGLU). Run it in float64 for reference values.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H, self.nh, self.nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = H // self.nh
        self.theta = cfg.get("rope_theta", 10000.0)
        self.q_proj = nn.Linear(H, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(H, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(H, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, H, bias=False)

    def forward(self, x, pos, mask):
        B, L, _ = x.shape
        q = self.q_proj(x).view(B, L, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, L, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, L, self.nkv, self.hd).transpose(1, 2)
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        ang = pos.to(torch.float64)[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        a = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        a = torch.softmax(a, dim=-1)
        o = (a @ v).transpose(1, 2).reshape(B, L, self.nh * self.hd)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, H, Fd):
        super().__init__()
        self.gate_proj = nn.Linear(H, Fd, bias=False)
        self.up_proj = nn.Linear(H, Fd, bias=False)
        self.down_proj = nn.Linear(Fd, H, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.self_attn = Attention(cfg)
        self.mlp = MLP(H, cfg["intermediate_size"])
        self.input_layernorm = RMSNorm(H, cfg["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(H, cfg["rms_norm_eps"])

    def forward(self, x, pos, mask):
        x = x + self.self_attn(self.input_layernorm(x), pos, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class VisionAttention(nn.Module):
    def __init__(self, D, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(D))
        self.v_bias = nn.Parameter(torch.zeros(D))
        self.proj = nn.Linear(D, D)

    def forward(self, x):
        B, N, D = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(D // self.heads), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, N, D))


class VisionMlp(nn.Module):
    def __init__(self, D, M):
        super().__init__()
        self.fc1 = nn.Linear(D, M)
        self.fc2 = nn.Linear(M, D)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class VisionBlock(nn.Module):
    """timm EvaBlockPostNorm: x + LN(attn(x)), x + LN(mlp(x))."""

    def __init__(self, D, heads, M):
        super().__init__()
        self.attn = VisionAttention(D, heads)
        self.norm1 = nn.LayerNorm(D, eps=1e-6)
        self.mlp = VisionMlp(D, M)
        self.norm2 = nn.LayerNorm(D, eps=1e-6)

    def forward(self, x):
        x = x + self.norm1(self.attn(x))
        return x + self.norm2(self.mlp(x))


class PatchEmbed(nn.Module):
    def __init__(self, D, P):
        super().__init__()
        self.proj = nn.Conv2d(3, D, P, P)


class VisionTower(nn.Module):
    def __init__(self, v):
        super().__init__()
        D, self.P, self.G = v["embed_dim"], v["patch_size"], v["base_grid"]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.G * self.G, D))
        self.patch_embed = PatchEmbed(D, self.P)
        self.blocks = nn.ModuleList([VisionBlock(D, v["num_heads"], v["mlp_dim"]) for _ in range(v["depth"] - 1)])
        self.norm = nn.LayerNorm(D, eps=1e-6)

    def forward(self, px):
        B, _, Hh, Ww = px.shape
        ph, pw = (-Hh) % self.P, (-Ww) % self.P
        if ph or pw:
            px = F.pad(px, (0, pw, 0, ph))
        x = self.patch_embed.proj(px)  # B, D, gh, gw
        gh, gw = x.shape[2], x.shape[3]
        x = x.flatten(2).transpose(1, 2)
        D = x.shape[-1]
        grid = self.pos_embed[:, 1:].reshape(1, self.G, self.G, D).permute(0, 3, 1, 2)
        if (gh, gw) != (self.G, self.G):
            grid = F.interpolate(grid.float() if grid.dtype != torch.float64 else grid, size=(gh, gw),
                                 mode="bicubic", antialias=True, align_corners=False).to(x.dtype)
        pos = torch.cat((self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, D)), dim=1)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1) + pos
        for b in self.blocks:
            x = b(x)
        return self.norm(x)[:, 1:]


class Resampler(nn.Module):
    def __init__(self, Q, E, kv_dim):
        super().__init__()
        self.grid = int(math.isqrt(Q))
        self.query = nn.Parameter(torch.zeros(Q, E))
        self.pos_embed = nn.Parameter(torch.zeros(Q, E), requires_grad=False)
        self.kv_proj = nn.Linear(kv_dim, E, bias=False)
        self.attn = nn.MultiheadAttention(E, E // 128)
        self.ln_q = nn.LayerNorm(E, eps=1e-6)
        self.ln_kv = nn.LayerNorm(E, eps=1e-6)
        self.ln_post = nn.LayerNorm(E, eps=1e-6)
        self.proj = nn.Parameter(torch.zeros(E, E))

    def forward(self, x):  # x: B, N, kv_dim
        B, N, _ = x.shape
        E = self.query.shape[1]
        tgt = int(math.isqrt(N))
        pk = self.pos_embed.reshape(1, self.grid, self.grid, E).permute(0, 3, 1, 2)
        if tgt != self.grid:
            pk = F.interpolate(pk.float() if pk.dtype != torch.float64 else pk, size=(tgt, tgt), mode="bicubic",
                               align_corners=False).to(x.dtype)
        pk = pk.permute(0, 2, 3, 1).reshape(tgt * tgt, E)
        kv = self.ln_kv(self.kv_proj(x)).permute(1, 0, 2)  # N, B, E
        q = self.ln_q(self.query)
        qq = (q + self.pos_embed).unsqueeze(1).expand(-1, B, -1)
        out = self.attn(qq, kv + pk.unsqueeze(1), kv)[0]
        return self.ln_post(out.permute(1, 0, 2)) @ self.proj


class Inner(nn.Module):
    def __init__(self, cfg, vcfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], H)
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(H, cfg["rms_norm_eps"])
        self.vision_tower = VisionTower(vcfg)
        self.resampler = Resampler(cfg["num_query"], H, vcfg["embed_dim"])


class OmniLMM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        from ckpt_lib import vision_config
        self.cfg = cfg
        self.model = Inner(cfg, vision_config(cfg))
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def image_embedding(self, pixels):
        """pixels: B, 3, S, S normalised -> B, num_query, hidden."""
        return self.model.resampler(self.model.vision_tower(pixels))

    def forward(self, input_ids, image_rows=None, image_start=None):
        """input_ids: B, L. image_rows: B, Q, H spliced at positions image_start+1 ... (the <im_patch> slots).
        Returns logits B, L, V."""
        x = self.model.embed_tokens(input_ids)
        if image_rows is not None:
            x = x.clone()
            for b in range(x.shape[0]):
                s = int(image_start[b]) + 1
                x[b, s:s + image_rows.shape[1]] = image_rows[b]
        L = x.shape[1]
        pos = torch.arange(L)
        mask = torch.full((L, L), float("-inf"), dtype=x.dtype).triu(1)
        for layer in self.model.layers:
            x = layer(x, pos, mask)
        return self.lm_head(self.model.norm(x))


def load(ckpt_dir, dtype=torch.float64):
    """OmniLMM with the checkpoint's weights, cast to dtype (float64 for reference values)."""
    import ckpt_lib
    cfg, tensors = ckpt_lib.load_checkpoint(ckpt_dir)
    m = OmniLMM(cfg)
    missing, unexpected = m.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=True)
    return m.to(dtype).eval()


def normalise(rgb_u8):
    """HWC uint8 (already resized) -> 3, H, W float32 exactly as ToTensor + Normalize."""
    t = torch.from_numpy(rgb_u8).permute(2, 0, 1).to(torch.float32) / 255.0
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(CLIP_STD, dtype=torch.float32)[:, None, None]
    return (t - mean) / std


def candidate_logps(model, ids, P, image_rows=None, image_start=None):
    """Per-token log-probs of ids[P:] given ids[:P] (one full forward, no cache): logp of ids[P+j]
    from the logits at P-1+j (docs/model.md §9)."""
    x = torch.tensor([ids])
    logits = model(x, image_rows, None if image_start is None else [image_start])
    lp = torch.log_softmax(logits[0, P - 1:-1].to(torch.float64), dim=-1)
    return lp.gather(1, torch.tensor(ids[P:])[:, None])[:, 0]
