"""CDDM's JSCC: the Swin-Transformer (WITT-style) encoder and decoder of ``CDDM/Autoencoder/net``.

Re-implemented with the official module tree, so that ``encoder_snr{S}_channel_{ch}_C{C}.pt``
and ``decoder_…`` / ``redecoder_…`` (state dicts of the wrappers ``JSCC_encoder`` /
``JSCC_decoder``, keys prefixed ``encoder.`` / ``decoder.``) load with ``strict=True``.
Facts that shape it (``encoder.py``, ``decoder.py``, ``modules.py``, ``main.py``):

* **Encoder** (:class:`SwinEncoder`): ``patch_embed`` = 2x2 stride-2 conv ``3 -> embed[0]``, no norm
  (``PatchEmbed`` is built without ``norm_layer`` whatever ``patch_norm`` says); stage ``i``
  (``layers.i``) = ``PatchMerging`` for ``i >= 1`` (``norm`` LN(4d), ``reduction`` Linear(4d ->
  d', no bias); the 2x2 neighbours in the order (0,0), (1,0), (0,1), (1,1)) then ``depths[i]``
  Swin blocks at ``img / 2^(i+1)``; ``norm`` LN; ``head_list`` = 1x1 conv ``embed[-1] -> C``.
  The latent is (C, H / 2^n, W / 2^n) for n stages.
* **Decoder** (:class:`SwinDecoder`): ``head_list`` = 3x3 conv ``C -> embed[0]``; stage ``i`` =
  ``depths[i]`` Swin blocks at ``latent · 2^i``, then ``PatchReverseMerging`` (``norm`` LN(d),
  ``increment`` Linear(d -> 4·d', no bias), PixelShuffle 2), the last stage's d' = 3. No output
  activation (the official code clamps to [0, 1] for loss and metrics only).
* **Saved but unused** (WITT's SNR-adaptive modules, never called in CDDM): ``bm_list.0..6``
  (``AdaptiveModulator``: ``fc.{0,2,4}`` = Linear 1->M, M->M, M->M) and ``sm_list.0..7``
  (Linear embed->M, six M->M, M->embed), with M = int(1.5·embed[-1]) in the encoder and
  int(1.5·embed[0]) in the decoder.
* **Swin block** (``norm1``, ``attn.{relative_position_bias_table, relative_position_index, qkv,
  proj}``, ``norm2``, ``mlp.{fc1, fc2}``): window attention with relative position bias; odd
  blocks shift by ``window // 2`` and carry the ``attn_mask`` buffer (−100 across regions). A
  block whose resolution is at most the window uses one window of that size and no shift. Both
  buffers (``relative_position_index``, ``attn_mask``) are in the state dict; the mask's shape
  follows the image size the network was built for (``img_size``).

Configurations (``main.py``): DIV2K 256x256, ``embed [128, 192, 256, 320]``, ``depths [2, 2, 6,
2]``, ``heads [4, 6, 8, 10]``, window 8 (decoder mirrored); CIFAR-10 32x32, ``embed [128, 256]``,
``depths [2, 4]``, ``heads [4, 8]``, window 2. MLP ratio 4, qkv bias on, GELU.

Another image size runs as long as every stage's resolution is a multiple of the window
(:meth:`SwinJsccConfig.multiple`): the masks are recomputed for it (the saved ones are kept
for the state dict).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SwinJsccConfig:
    """What shapes the JSCC encoder and decoder (``config.encoder_kwargs`` / ``decoder_kwargs`` of ``main.py``).

    Attributes:
        C: latent channels (the bottleneck width; DIV2K 36, CIFAR 8..24).
        img_size: (H, W) the networks are built for (their attention masks' size).
        embed_dims: encoder stage widths (the decoder uses them reversed).
        depths: encoder Swin blocks per stage (the decoder's are reversed).
        num_heads: encoder heads per stage (reversed in the decoder).
        window_size: attention window.
        mlp_ratio: MLP hidden width / width.
        qkv_bias: bias of the qkv projection.
    """

    C: int
    img_size: tuple[int, int] = (256, 256)
    embed_dims: tuple[int, ...] = (128, 192, 256, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (4, 6, 8, 10)
    window_size: int = 8
    mlp_ratio: float = 4.0
    qkv_bias: bool = True

    @classmethod
    def div2k(cls, C: int = 36, narrow: int = 1) -> "SwinJsccConfig":
        """The DIV2K configuration; ``narrow`` divides every width (tests; heads unchanged)."""
        return cls(C=int(C), img_size=(256, 256), embed_dims=tuple(d // narrow for d in (128, 192, 256, 320)),
                   depths=(2, 2, 6, 2), num_heads=(4, 6, 8, 10), window_size=8)

    @classmethod
    def cifar(cls, C: int = 16, narrow: int = 1) -> "SwinJsccConfig":
        """The CIFAR-10 configuration; ``narrow`` divides every width (tests; heads unchanged)."""
        return cls(C=int(C), img_size=(32, 32), embed_dims=tuple(d // narrow for d in (128, 256)),
                   depths=(2, 4), num_heads=(4, 8), window_size=2)

    @classmethod
    def preset(cls, arch: str, C: int, narrow: int = 1) -> "SwinJsccConfig":
        if arch == "div2k":
            return cls.div2k(C, narrow)
        if arch == "cifar":
            return cls.cifar(C, narrow)
        raise ValueError(f"unknown CDDM JSCC configuration {arch!r}; known: div2k, cifar")

    @property
    def stages(self) -> int:
        return len(self.depths)

    @property
    def downsampling(self) -> int:
        """Image side / latent side: ``2^stages``."""
        return 2 ** self.stages

    def multiple(self) -> int:
        """Image sides must be multiples of this: every stage's grid a multiple of the window."""
        return self.downsampling * self.window_size

    def ratio(self) -> float:
        """Bandwidth ratio k/n: complex channel uses per real image value, ``C / (2 · 3 · 4^stages)``."""
        return self.C / (6 * self.downsampling ** 2)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("img_size", "embed_dims", "depths", "num_heads"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SwinJsccConfig":
        d = dict(d)
        for k in ("img_size", "embed_dims", "depths", "num_heads"):
            if k in d:
                d[k] = tuple(int(v) for v in d[k])
        return cls(**d)

    def with_size(self, img_size: tuple[int, int]) -> "SwinJsccConfig":
        return replace(self, img_size=(int(img_size[0]), int(img_size[1])))


# --------------------------------------------------------------------------------------------
# Swin pieces
# --------------------------------------------------------------------------------------------


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B·nW, ws, ws, C)."""
    B, H, W, C = x.shape
    x = x.reshape(B, H // ws, ws, W // ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, C)


def window_reverse(windows: torch.Tensor, ws: int, H: int, W: int) -> torch.Tensor:
    """(B·nW, ws, ws, C) -> (B, H, W, C)."""
    B = windows.shape[0] // ((H // ws) * (W // ws))
    x = windows.reshape(B, H // ws, W // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, -1)


def shift_mask(H: int, W: int, ws: int, shift: int) -> torch.Tensor:
    """(nW, ws², ws²) float32: 0 within a region of the shifted grid, −100 across regions."""
    img = torch.zeros((1, H, W, 1))
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[:, hs, wsl, :] = cnt
            cnt += 1
    win = window_partition(img, ws).reshape(-1, ws * ws)
    mask = win.unsqueeze(1) - win.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def relative_index(ws: int) -> torch.Tensor:
    """(ws², ws²) int64: the index into the (2ws−1)² relative-position bias table."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
    flat = torch.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += ws - 1
    rel[:, :, 1] += ws - 1
    rel[:, :, 0] *= 2 * ws - 1
    return rel.sum(-1)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    """Multi-head self-attention within windows, with a learned relative-position bias."""

    def __init__(self, dim: int, ws: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.dim, self.ws, self.num_heads = dim, ws, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_index(ws))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(N, N, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(B_ // nW, nW, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B_, N, C))


class SwinBlock(nn.Module):
    """``SwinTransformerBlock`` of the official encoder.py (used by the decoder too)."""

    def __init__(self, dim: int, input_resolution: tuple[int, int], num_heads: int, window_size: int,
                 shift_size: int, mlp_ratio: float = 4.0, qkv_bias: bool = True):
        super().__init__()
        self.dim, self.input_resolution = dim, tuple(input_resolution)
        if min(self.input_resolution) <= window_size:  # one window, no shift (as the official block)
            shift_size, window_size = 0, min(self.input_resolution)
        self.window_size, self.shift_size = window_size, shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = shift_mask(*self.input_resolution, window_size, shift_size) if shift_size > 0 else None
        self.register_buffer("attn_mask", mask)
        self._masks: dict[tuple[int, int, str], torch.Tensor] = {}

    def mask_for(self, H: int, W: int, device: torch.device) -> torch.Tensor | None:
        if self.shift_size == 0:
            return None
        if (H, W) == self.input_resolution:
            return self.attn_mask
        key = (H, W, str(device))
        if key not in self._masks:
            self._masks[key] = shift_mask(H, W, self.window_size, self.shift_size).to(device)
        return self._masks[key]

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, L, C = x.shape
        ws, s = self.window_size, self.shift_size
        if L != H * W or H % ws or W % ws:
            raise ValueError(f"Swin block: a {H}x{W} grid is not a multiple of the window {ws}")
        shortcut = x
        x = self.norm1(x).reshape(B, H, W, C)
        if s > 0:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
        win = window_partition(x, ws).reshape(-1, ws * ws, C)
        win = self.attn(win, self.mask_for(H, W, x.device)).reshape(-1, ws, ws, C)
        x = window_reverse(win, ws, H, W)
        if s > 0:
            x = torch.roll(x, shifts=(s, s), dims=(1, 2))
        x = shortcut + x.reshape(B, H * W, C)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 neighbours concatenated (order (0,0), (1,0), (0,1), (1,1)), LN(4d), Linear(4d -> d', no bias)."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, L, C = x.shape
        x = x.reshape(B, H, W, C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.reshape(B, H * W // 4, 4 * C)))


class PatchReverseMerging(nn.Module):
    """LN(d), Linear(d -> 4·d', no bias), PixelShuffle 2."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.increment = nn.Linear(dim, out_dim * 4, bias=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, L, C = x.shape
        x = self.increment(self.norm(x)).reshape(B, H, W, -1).permute(0, 3, 1, 2)
        return F.pixel_shuffle(x, 2).flatten(2).permute(0, 2, 1)


class AdaptiveModulator(nn.Module):
    """WITT's SNR modulator: saved in every CDDM JSCC file, never used by CDDM."""

    def __init__(self, M: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(1, M), nn.ReLU(), nn.Linear(M, M), nn.ReLU(), nn.Linear(M, M), nn.Sigmoid())


def _unused_modulators(width: int) -> tuple[int, nn.ModuleList, nn.ModuleList]:
    """(M, bm_list, sm_list) of WITT's SNR adaptation, as both official networks build them (7 layers)."""
    hidden = int(width * 1.5)
    bm, sm = nn.ModuleList(), nn.ModuleList()
    sm.append(nn.Linear(width, hidden))
    for i in range(7):
        bm.append(AdaptiveModulator(hidden))
        sm.append(nn.Linear(hidden, width if i == 6 else hidden))
    return hidden, bm, sm


class EncoderStage(nn.Module):
    """``BasicLayer`` of encoder.py: optional PatchMerging (``downsample``), then Swin blocks."""

    def __init__(self, dim: int, out_dim: int, block_res: tuple[int, int], depth: int, num_heads: int,
                 window_size: int, mlp_ratio: float, qkv_bias: bool, merge: bool):
        super().__init__()
        self.blocks = nn.ModuleList([
            SwinBlock(out_dim, block_res, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2,
                      mlp_ratio, qkv_bias) for i in range(depth)])
        self.downsample = PatchMerging(dim, out_dim) if merge else None

    def forward(self, x: torch.Tensor, H: int, W: int) -> tuple[torch.Tensor, int, int]:
        """``(x, H, W)`` -> output tokens and grid; ``H, W`` are the input grid (halved by merging)."""
        if self.downsample is not None:
            x = self.downsample(x, H, W)
            H, W = H // 2, W // 2
        for blk in self.blocks:
            x = blk(x, H, W)
        return x, H, W


class DecoderStage(nn.Module):
    """``BasicLayer`` of decoder.py: Swin blocks, then PatchReverseMerging (``upsample``)."""

    def __init__(self, dim: int, out_dim: int, res: tuple[int, int], depth: int, num_heads: int,
                 window_size: int, mlp_ratio: float, qkv_bias: bool):
        super().__init__()
        self.blocks = nn.ModuleList([
            SwinBlock(dim, res, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2, mlp_ratio, qkv_bias)
            for i in range(depth)])
        self.upsample = PatchReverseMerging(dim, out_dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> tuple[torch.Tensor, int, int]:
        for blk in self.blocks:
            x = blk(x, H, W)
        return self.upsample(x, H, W), 2 * H, 2 * W


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class SwinEncoder(nn.Module):
    """``JSCC_Encoder``: (B, 3, H, W) in [0, 1] -> (B, C, H / 2^n, W / 2^n) latent (before power normalisation)."""

    def __init__(self, config: SwinJsccConfig):
        super().__init__()
        c = config
        self.config = c
        H, W = c.img_size
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, c.embed_dims[0], kernel_size=2, stride=2)
        self.hidden_dim, self.bm_list, self.sm_list = _unused_modulators(c.embed_dims[-1])
        self.layers = nn.ModuleList()
        for i in range(c.stages):
            res = (H // 2 ** i, W // 2 ** i)
            self.layers.append(EncoderStage(
                dim=c.embed_dims[i - 1] if i else 3, out_dim=c.embed_dims[i], block_res=(res[0] // 2, res[1] // 2),
                depth=c.depths[i], num_heads=c.num_heads[i], window_size=c.window_size, mlp_ratio=c.mlp_ratio,
                qkv_bias=c.qkv_bias, merge=i != 0))
        self.norm = nn.LayerNorm(c.embed_dims[-1])
        self.head_list = nn.Conv2d(c.embed_dims[-1], c.C, kernel_size=1)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        m = self.config.multiple()
        if H % m or W % m:
            raise ValueError(f"CDDM Swin encoder: image {H}x{W} is not a multiple of {m}")
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        h, w = H // 2, W // 2
        for layer in self.layers:
            x, h, w = layer(x, h, w)
        x = self.norm(x)
        return self.head_list(x.permute(0, 2, 1).reshape(B, -1, h, w))


class SwinDecoder(nn.Module):
    """``JSCC_Decoder``: (B, C, h, w) latent -> (B, 3, h·2^n, w·2^n), no output activation."""

    def __init__(self, config: SwinJsccConfig):
        super().__init__()
        c = config
        self.config = c
        dims, depths, heads = c.embed_dims[::-1], c.depths[::-1], c.num_heads[::-1]
        self.embed_dims = dims
        h, w = c.img_size[0] // c.downsampling, c.img_size[1] // c.downsampling
        self.layers = nn.ModuleList()
        for i in range(c.stages):
            self.layers.append(DecoderStage(
                dim=dims[i], out_dim=dims[i + 1] if i < c.stages - 1 else 3, res=(h * 2 ** i, w * 2 ** i),
                depth=depths[i], num_heads=heads[i], window_size=c.window_size, mlp_ratio=c.mlp_ratio,
                qkv_bias=c.qkv_bias))
        self.head_list = nn.Conv2d(c.C, dims[0], kernel_size=3, padding=1)
        self.apply(_init_weights)
        self.hidden_dim, self.bm_list, self.sm_list = _unused_modulators(dims[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, h, w = x.shape
        x = self.head_list(x).reshape(B, self.embed_dims[0], h * w).permute(0, 2, 1)
        for layer in self.layers:
            x, h, w = layer(x, h, w)
        return x.reshape(B, h, w, -1).permute(0, 3, 1, 2)


class JsccEncoder(nn.Module):
    """The official wrapper ``JSCC_encoder`` (state-dict keys ``encoder.*``)."""

    def __init__(self, config: SwinJsccConfig):
        super().__init__()
        self.encoder = SwinEncoder(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class JsccDecoder(nn.Module):
    """The official wrapper ``JSCC_decoder`` (state-dict keys ``decoder.*``)."""

    def __init__(self, config: SwinJsccConfig):
        super().__init__()
        self.decoder = SwinDecoder(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(x)


__all__ = ["SwinJsccConfig", "SwinEncoder", "SwinDecoder", "JsccEncoder", "JsccDecoder", "SwinBlock", "shift_mask",
           "relative_index"]
