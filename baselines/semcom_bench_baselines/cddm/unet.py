"""The CDDM denoiser: the DDPM-style UNet of ``CDDM/Diffusion/Model.py`` with its state-dict keys.

A re-implementation whose module tree (attribute names, creation order, parameters and buffers)
is the official one, so that ``CDDM_snr{S}_channel_{awgn|rayleigh}_C{C}.pt`` (a bare
``UNet.state_dict()``) loads with ``strict=True``. Facts that shape it:

* ``time_embedding.timembedding`` = ``Sequential(Embedding.from_pretrained(sinusoid [T, ch]),
  Linear(ch, 4ch), Swish, Linear(4ch, 4ch))``; the frozen sinusoid is saved as ``.0.weight``.
* ``head`` = 3x3 conv ``input_channel -> ch``; ``downblocks``: per level ``num_res_blocks``
  :class:`ResBlock` (attention at the levels in ``attn``) and a stride-2 :class:`DownSample`
  between levels; ``middleblocks`` = ResBlock with attention, ResBlock without;
  ``upblocks``: per level ``num_res_blocks + 1`` ResBlocks on the skip-concatenated input and a
  nearest-x2 :class:`UpSample` between levels; ``tail`` = GroupNorm, Swish, 3x3 conv ``ch ->
  input_channel``.
* ResBlock keys ``block1.{0,2}``, ``temb_proj.1``, ``block2.{0,3}``, ``shortcut`` (a 1x1 conv
  only when the width changes), ``attn.{group_norm, proj_q, proj_k, proj_v, proj}``.
* **Conditioning** (``forward(x, t, h)``): ``x`` (B, C, H, W) and the channel-gain magnitude map
  ``h`` (B, C, H, W; all ones for AWGN) are concatenated along the **height** axis, the network
  runs on (B, C, 2H, W), and the two height halves of its output are **summed** into the
  (B, C, H, W) noise prediction.

The official configuration (``main.py::CHDDIM_config``): T 1000, ``ch = 16·C`` (576 for C = 36),
``ch_mult [1, 2, 2]``, ``attn [1]``, ``num_res_blocks 2``, dropout 0.1. GroupNorm has 32 groups
there; ``groups`` may lower it for narrow test networks (it adds no key).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import init


@dataclass(frozen=True)
class UNetConfig:
    """What shapes the denoiser (``UNet(T, ch, ch_mult, attn, num_res_blocks, dropout, input_channel)``).

    Attributes:
        input_channel: C, the latent's channels (the JSCC's bottleneck width).
        ch: base width (official: ``16·C``).
        ch_mult: width multipliers per level (official ``(1, 2, 2)``: two down-samplings, so the
            conditioned input (C, 2H, W) needs 2H and W divisible by 4).
        attn: levels with self-attention (official ``(1,)``).
        num_res_blocks: ResBlocks per level on the way down (official 2).
        dropout: in each ResBlock (official 0.1; off in eval mode).
        T: diffusion steps of the frozen time embedding (official 1000).
        groups: GroupNorm groups (official 32; must divide every width).
    """

    input_channel: int
    ch: int
    ch_mult: tuple[int, ...] = (1, 2, 2)
    attn: tuple[int, ...] = (1,)
    num_res_blocks: int = 2
    dropout: float = 0.1
    T: int = 1000
    groups: int = 32

    @classmethod
    def official(cls, C: int) -> "UNetConfig":
        """``CHDDIM_config`` for bottleneck width ``C``: ``ch = 16·C``."""
        return cls(input_channel=int(C), ch=int(16 * C))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ch_mult"], d["attn"] = list(self.ch_mult), list(self.attn)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        d = dict(d)
        for k in ("ch_mult", "attn"):
            if k in d:
                d[k] = tuple(int(v) for v in d[k])
        return cls(**d)


class Swish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


def sinusoid_table(T: int, d_model: int) -> torch.Tensor:
    """(T, d_model) float32: interleaved sin/cos of ``t · 10000^(-2i/d)`` (the official TimeEmbedding table)."""
    if d_model % 2:
        raise ValueError(f"time embedding width must be even, got {d_model}")
    freq = torch.exp(-(torch.arange(0, d_model, step=2) / d_model * math.log(10000)))
    arg = torch.arange(T).float()[:, None] * freq[None, :]
    return torch.stack([torch.sin(arg), torch.cos(arg)], dim=-1).view(T, d_model)


class TimeEmbedding(nn.Module):
    def __init__(self, T: int, d_model: int, dim: int):
        super().__init__()
        self.timembedding = nn.Sequential(
            nn.Embedding.from_pretrained(sinusoid_table(T, d_model)),
            nn.Linear(d_model, dim),
            Swish(),
            nn.Linear(dim, dim),
        )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                init.xavier_uniform_(m.weight)
                init.zeros_(m.bias)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.timembedding(t)


class DownSample(nn.Module):
    def __init__(self, in_ch: int):
        super().__init__()
        self.main = nn.Conv2d(in_ch, in_ch, 3, stride=2, padding=1)
        init.xavier_uniform_(self.main.weight)
        init.zeros_(self.main.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class UpSample(nn.Module):
    def __init__(self, in_ch: int):
        super().__init__()
        self.main = nn.Conv2d(in_ch, in_ch, 3, stride=1, padding=1)
        init.xavier_uniform_(self.main.weight)
        init.zeros_(self.main.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return self.main(F.interpolate(x, scale_factor=2, mode="nearest"))


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions, residual."""

    def __init__(self, in_ch: int, groups: int = 32):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, in_ch)
        self.proj_q = nn.Conv2d(in_ch, in_ch, 1)
        self.proj_k = nn.Conv2d(in_ch, in_ch, 1)
        self.proj_v = nn.Conv2d(in_ch, in_ch, 1)
        self.proj = nn.Conv2d(in_ch, in_ch, 1)
        for m in (self.proj_q, self.proj_k, self.proj_v, self.proj):
            init.xavier_uniform_(m.weight)
            init.zeros_(m.bias)
        init.xavier_uniform_(self.proj.weight, gain=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.group_norm(x)
        q = self.proj_q(h).permute(0, 2, 3, 1).reshape(B, H * W, C)
        k = self.proj_k(h).reshape(B, C, H * W)
        w = F.softmax(torch.bmm(q, k) * (int(C) ** (-0.5)), dim=-1)
        v = self.proj_v(h).permute(0, 2, 3, 1).reshape(B, H * W, C)
        h = torch.bmm(w, v).view(B, H, W, C).permute(0, 3, 1, 2)
        return x + self.proj(h)


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, tdim: int, dropout: float, attn: bool = False, groups: int = 32):
        super().__init__()
        self.block1 = nn.Sequential(nn.GroupNorm(groups, in_ch), Swish(), nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.temb_proj = nn.Sequential(Swish(), nn.Linear(tdim, out_ch))
        self.block2 = nn.Sequential(nn.GroupNorm(groups, out_ch), Swish(), nn.Dropout(dropout),
                                    nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.attn = AttnBlock(out_ch, groups) if attn else nn.Identity()
        # as the official initialize(): every conv and linear, the attention's too (so its proj ends at gain 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.xavier_uniform_(m.weight)
                init.zeros_(m.bias)
        init.xavier_uniform_(self.block2[-1].weight, gain=1e-5)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.block1(x)
        h = h + self.temb_proj(temb)[:, :, None, None]
        h = self.block2(h)
        return self.attn(h + self.shortcut(x))


class UNet(nn.Module):
    """The CDDM denoiser ``eps(x_t, t, |h|)``; see the module docstring.

    ``forward(x, t, h)``: ``x`` (B, C, H, W) float32 noisy latent in the real layout, ``t`` (B,)
    int64 step indices in [0, T), ``h`` (B, C, H, W) float32 channel-gain magnitudes per real
    element (ones for AWGN). Returns the (B, C, H, W) noise prediction.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        c = config
        if any(i >= len(c.ch_mult) for i in c.attn):
            raise ValueError("attn index out of bound")
        self.config = c
        ch, tdim, g = c.ch, c.ch * 4, c.groups
        self.time_embedding = TimeEmbedding(c.T, ch, tdim)
        self.head = nn.Conv2d(c.input_channel, ch, kernel_size=3, stride=1, padding=1)
        self.downblocks = nn.ModuleList()
        chs = [ch]
        now = ch
        for i, mult in enumerate(c.ch_mult):
            out = ch * mult
            for _ in range(c.num_res_blocks):
                self.downblocks.append(ResBlock(now, out, tdim, c.dropout, attn=(i in c.attn), groups=g))
                now = out
                chs.append(now)
            if i != len(c.ch_mult) - 1:
                self.downblocks.append(DownSample(now))
                chs.append(now)
        self.middleblocks = nn.ModuleList([
            ResBlock(now, now, tdim, c.dropout, attn=True, groups=g),
            ResBlock(now, now, tdim, c.dropout, attn=False, groups=g),
        ])
        self.upblocks = nn.ModuleList()
        for i, mult in reversed(list(enumerate(c.ch_mult))):
            out = ch * mult
            for _ in range(c.num_res_blocks + 1):
                self.upblocks.append(ResBlock(chs.pop() + now, out, tdim, c.dropout, attn=(i in c.attn), groups=g))
                now = out
            if i != 0:
                self.upblocks.append(UpSample(now))
        assert not chs
        self.tail = nn.Sequential(nn.GroupNorm(g, now), Swish(), nn.Conv2d(now, c.input_channel, 3, padding=1))
        init.xavier_uniform_(self.head.weight)
        init.zeros_(self.head.bias)
        init.xavier_uniform_(self.tail[-1].weight, gain=1e-5)
        init.zeros_(self.tail[-1].bias)

    @property
    def factor(self) -> int:
        """The conditioned input's height (2H) and width must be multiples of this."""
        return 2 ** (len(self.config.ch_mult) - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        temb = self.time_embedding(t)
        H = x.shape[2]
        hcur = self.head(torch.cat((x, h), dim=2))
        hs = [hcur]
        for layer in self.downblocks:
            hcur = layer(hcur, temb)
            hs.append(hcur)
        for layer in self.middleblocks:
            hcur = layer(hcur, temb)
        for layer in self.upblocks:
            if isinstance(layer, ResBlock):
                hcur = torch.cat([hcur, hs.pop()], dim=1)
            hcur = layer(hcur, temb)
        out = self.tail(hcur)
        return out[:, :, :H, :] + out[:, :, H:, :]


__all__ = ["UNetConfig", "UNet", "ResBlock", "AttnBlock", "DownSample", "UpSample", "TimeEmbedding", "sinusoid_table"]
