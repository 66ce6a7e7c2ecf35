"""The SDM/GESCO U-Net: shapes, SPADE conditioning, official key layout and loader."""

from __future__ import annotations

import torch

from semcom_bench.nets.semantic_unet import (
    SemanticUNet,
    UNetConfig,
    count_parameters,
    embedded_config,
    load_official,
    official_config,
)


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Give the zero-initialised output convolutions weights, so every path matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def _tiny(**kw) -> UNetConfig:
    return embedded_config(num_classes=5, model_channels=16, channel_mult=(1, 2), num_head_channels=16, spade_hidden=8,
                           image_size=8, attention_resolutions=(4,), **kw)


def test_shapes_and_embedded_size():
    model = SemanticUNet(_tiny())
    x, y = torch.randn(2, 3, 8, 16), torch.rand(2, 6, 8, 16)
    out = model(x, torch.tensor([0, 999]), y)
    assert out.shape == (2, 6, 8, 16)
    assert torch.count_nonzero(out) == 0  # zero-initialised output layer, as the official network
    no_sigma = SemanticUNet(_tiny(learn_sigma=False))
    assert no_sigma(x, torch.tensor([1, 2]), y).shape == (2, 3, 8, 16)
    emb = SemanticUNet(embedded_config())
    assert 2.0e6 < count_parameters(emb) < 3.0e6
    assert emb.config.label_channels == 35 and emb.downsampling == 8


def test_spade_conditioning_is_used():
    model = SemanticUNet(_tiny()).eval()
    _randomise(model)
    x, t = torch.randn(1, 3, 8, 16), torch.tensor([500])
    y1 = torch.zeros(1, 6, 8, 16)
    y1[:, 0] = 1.0
    y2 = torch.zeros(1, 6, 8, 16)
    y2[:, 3, :4] = 1.0
    y2[:, 1, 4:] = 1.0
    with torch.no_grad():
        a, b, c = model(x, t, y1), model(x, t, y2), model(x, t, y1.clone())
    assert torch.equal(a, c)
    assert (a - b).abs().mean() > 1e-3
    # the encoder ResBlocks take no maps: only the SPADE (middle/decoder) blocks do
    assert all(type(m).__name__ != "SpadeGroupNorm" for m in model.input_blocks.modules())


# --- official layout --------------------------------------------------------------------------


def official_layout(mc: int, mult: tuple, nrb: int, att: tuple, label_nc: int, gesco_stub: bool = False,
                    hidden: int = 128, out_ch: int = 6) -> dict[str, tuple]:
    """Key -> shape of the official guided-diffusion/SDM ``UNetModel`` (resblock_updown, scale-shift),
    enumerated independently from the project's network, following the official constructor."""
    keys: dict[str, tuple] = {}
    emb = 4 * mc

    def res(prefix: str, cin: int, cout: int) -> None:
        if gesco_stub:
            keys[f"{prefix}.spade_norm.mlp_shared.0.weight"] = (hidden, 3, 3, 3)
            keys[f"{prefix}.spade_norm.mlp_shared.0.bias"] = (hidden,)
            for n in ("gamma", "beta"):
                keys[f"{prefix}.spade_norm.mlp_{n}.weight"] = (cin, hidden, 3, 3)
                keys[f"{prefix}.spade_norm.mlp_{n}.bias"] = (cin,)
        keys[f"{prefix}.in_layers.0.weight"] = (cin,)
        keys[f"{prefix}.in_layers.0.bias"] = (cin,)
        keys[f"{prefix}.in_layers.2.weight"] = (cout, cin, 3, 3)
        keys[f"{prefix}.in_layers.2.bias"] = (cout,)
        keys[f"{prefix}.emb_layers.1.weight"] = (2 * cout, emb)
        keys[f"{prefix}.emb_layers.1.bias"] = (2 * cout,)
        keys[f"{prefix}.out_layers.0.weight"] = (cout,)
        keys[f"{prefix}.out_layers.0.bias"] = (cout,)
        keys[f"{prefix}.out_layers.3.weight"] = (cout, cout, 3, 3)
        keys[f"{prefix}.out_layers.3.bias"] = (cout,)
        if cin != cout:
            keys[f"{prefix}.skip_connection.weight"] = (cout, cin, 1, 1)
            keys[f"{prefix}.skip_connection.bias"] = (cout,)

    def spade(prefix: str, c: int) -> None:
        keys[f"{prefix}.mlp_shared.0.weight"] = (hidden, label_nc, 3, 3)
        keys[f"{prefix}.mlp_shared.0.bias"] = (hidden,)
        for n in ("gamma", "beta"):
            keys[f"{prefix}.mlp_{n}.weight"] = (c, hidden, 3, 3)
            keys[f"{prefix}.mlp_{n}.bias"] = (c,)

    def sdmres(prefix: str, cin: int, cout: int) -> None:
        spade(f"{prefix}.in_norm", cin)
        keys[f"{prefix}.in_layers.1.weight"] = (cout, cin, 3, 3)
        keys[f"{prefix}.in_layers.1.bias"] = (cout,)
        keys[f"{prefix}.emb_layers.1.weight"] = (2 * cout, emb)
        keys[f"{prefix}.emb_layers.1.bias"] = (2 * cout,)
        spade(f"{prefix}.out_norm", cout)
        keys[f"{prefix}.out_layers.2.weight"] = (cout, cout, 3, 3)
        keys[f"{prefix}.out_layers.2.bias"] = (cout,)
        if cin != cout:
            keys[f"{prefix}.skip_connection.weight"] = (cout, cin, 1, 1)
            keys[f"{prefix}.skip_connection.bias"] = (cout,)

    def attn(prefix: str, c: int) -> None:
        keys[f"{prefix}.norm.weight"] = (c,)
        keys[f"{prefix}.norm.bias"] = (c,)
        keys[f"{prefix}.qkv.weight"] = (3 * c, c, 1)
        keys[f"{prefix}.qkv.bias"] = (3 * c,)
        keys[f"{prefix}.proj_out.weight"] = (c, c, 1)
        keys[f"{prefix}.proj_out.bias"] = (c,)

    keys["time_embed.0.weight"], keys["time_embed.0.bias"] = (emb, mc), (emb,)
    keys["time_embed.2.weight"], keys["time_embed.2.bias"] = (emb, emb), (emb,)
    ch = int(mult[0] * mc)
    keys["input_blocks.0.0.weight"], keys["input_blocks.0.0.bias"] = (ch, 3, 3, 3), (ch,)
    chans, ds, i = [ch], 1, 1
    for level, m in enumerate(mult):
        for _ in range(nrb):
            res(f"input_blocks.{i}.0", ch, int(m * mc))
            ch = int(m * mc)
            if ds in att:
                attn(f"input_blocks.{i}.1", ch)
            chans.append(ch)
            i += 1
        if level != len(mult) - 1:
            res(f"input_blocks.{i}.0", ch, ch)
            chans.append(ch)
            ds *= 2
            i += 1
    sdmres("middle_block.0", ch, ch)
    attn("middle_block.1", ch)
    sdmres("middle_block.2", ch, ch)
    i = 0
    for level, m in list(enumerate(mult))[::-1]:
        for j in range(nrb + 1):
            ich = chans.pop()
            sdmres(f"output_blocks.{i}.0", ch + ich, int(mc * m))
            ch = int(mc * m)
            k = 1
            if ds in att:
                attn(f"output_blocks.{i}.1", ch)
                k = 2
            if level and j == nrb:
                sdmres(f"output_blocks.{i}.{k}", ch, ch)
                ds //= 2
            i += 1
    keys["out.0.weight"], keys["out.0.bias"] = (ch,), (ch,)
    keys["out.2.weight"], keys["out.2.bias"] = (out_ch, ch, 3, 3), (out_ch,)
    return keys


def _official_state(gesco_stub: bool, mc: int = 32) -> dict[str, torch.Tensor]:
    # the official Cityscapes structure (6 levels, 2 ResBlocks, attention at 32,16,8 of 256 =
    # rates 8,16,32), 35 classes + instance edges, at a small width
    layout = official_layout(mc, (1, 1, 2, 2, 4, 4), 2, (8, 16, 32), 36, gesco_stub)
    g = torch.Generator().manual_seed(1)
    return {k: (torch.randn(s, generator=g) * 0.02).half() for k, s in layout.items()}


def test_official_layout_matches_the_network():
    cfg = official_config(model_channels=32, num_head_channels=16)
    mine = {k: tuple(v.shape) for k, v in SemanticUNet(cfg).state_dict().items()}
    assert mine == official_layout(32, (1, 1, 2, 2, 4, 4), 2, (8, 16, 32), 36)
    assert len(mine) == 766  # as the official UNetModel with these flags
    stub = {k: tuple(v.shape) for k, v in SemanticUNet(official_config(model_channels=32, num_head_channels=16,
                                                                       encoder_spade_stub=True)).state_dict().items()}
    assert stub == official_layout(32, (1, 1, 2, 2, 4, 4), 2, (8, 16, 32), 36, gesco_stub=True)
    assert len(stub) == 868  # GESCO's fork: an unused spade_norm in every encoder ResBlock


def test_official_loader_strict_sdm_and_gesco(tmp_path):
    for stub in (False, True):
        state = _official_state(stub)
        path = tmp_path / f"ema_0.9999_{int(stub):06d}.pt"
        torch.save(state, path)
        model = load_official(path, official_config(num_head_channels=16))
        assert model.config.model_channels == 32 and model.config.num_classes == 35
        assert model.config.encoder_spade_stub is stub
        loaded = model.state_dict()
        assert all(torch.equal(loaded[k], v.float()) for k, v in state.items())
        with torch.no_grad():
            out = model(torch.randn(1, 3, 32, 64), torch.tensor([10]), torch.rand(1, 36, 32, 64))
        assert out.shape == (1, 6, 32, 64) and torch.isfinite(out).all()
