"""Tiny random diffusers bases and F_d/F_u checkpoints for the ddsc tests (no downloads).

:func:`tiny_base` saves, with ``save_pretrained``, an ``AutoencoderKL`` (64x128 RGB -> 4x16x32, as
the embedded base), a ``UNet2DModel`` or a ``UNet2DConditionModel`` with a tiny CLIP text encoder
and tokenizer (a hand-made byte-pair vocabulary), and SD 2's ``DDIMScheduler`` settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch


def tiny_base(folder: Path, conditional: bool = False, scheduler_class: str = "DDIMScheduler") -> Path:
    from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, UNet2DConditionModel, UNet2DModel

    folder = Path(folder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
                            up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(8, 8, 8), layers_per_block=1,
                            latent_channels=4, norm_num_groups=4, sample_size=64, scaling_factor=0.7)
        if conditional:
            unet = UNet2DConditionModel(sample_size=(16, 32), in_channels=4, out_channels=4, layers_per_block=1,
                                        block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                        attention_head_dim=2, norm_num_groups=4)
        else:
            unet = UNet2DModel(sample_size=(16, 32), in_channels=4, out_channels=4, layers_per_block=1,
                               block_out_channels=(8, 16), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                               up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=4)
    vae.save_pretrained(folder / "vae")
    unet.save_pretrained(folder / "unet")
    settings = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", set_alpha_to_one=False,
                    steps_offset=1, prediction_type="epsilon")
    if scheduler_class == "PNDMScheduler":  # what stabilityai/stable-diffusion-2-1-base ships
        PNDMScheduler(skip_prk_steps=True, **settings).save_pretrained(folder / "scheduler")
    else:
        DDIMScheduler(clip_sample=False, **settings).save_pretrained(folder / "scheduler")
    if conditional:
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

        vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
        for ch in "abcdefghijklmnopqrstuvwxyz":
            vocab[ch] = len(vocab)
            vocab[ch + "</w>"] = len(vocab)
        raw = folder / "bpe"
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "vocab.json").write_text(json.dumps(vocab))
        (raw / "merges.txt").write_text("#version: 0.2\n")
        CLIPTokenizer(str(raw / "vocab.json"), str(raw / "merges.txt"), model_max_length=8).save_pretrained(folder / "tokenizer")
        config = CLIPTextConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, max_position_embeddings=8, bos_token_id=0, eos_token_id=1,
                                pad_token_id=1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            CLIPTextModel(config).save_pretrained(folder / "text_encoder")
    return folder


def official_checkpoint(path: Path, c: int = 8, latent_channels: int = 4, with_optimizers: bool = True) -> Path:
    """A random F_d/F_u saved as the official ``save_checkpoint`` does (optimiser states after one Adam step)."""
    from semcom_bench_baselines.ddsc.compression import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        en, de = build(latent_channels, c)
        opts = [torch.optim.Adam(n.parameters(), lr=1e-3) for n in (en, de)]
        if with_optimizers:
            y = torch.randn(2, latent_channels, 16, 32)
            out, mu, std = de(en(y), 5.0)
            (out.square().mean() + std.mean()).backward()
            for o in opts:
                o.step()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 3, "en_state_dict": en.state_dict(), "de_state_dict": de.state_dict(),
                "en_optimizer": opts[0].state_dict(), "de_optimizer": opts[1].state_dict()}, path)
    return path
