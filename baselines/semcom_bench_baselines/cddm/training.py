"""Training of the embedded CDDM denoisers (:func:`train_cddm`): the official stage 2 on a frozen JSCC.

The official recipe (``Diffusion/Train.py::train_CHDDIM``, ``Diffusion.py::ChannelDiffusionTrainer``,
``main.py::CHDDIM_config``), sized for a CPU:

* frozen JSCC: the embedded ``deepjscc`` encoder of k/n = ``ratio`` (c = 96·k/n) trained at
  ``snr_train`` dB (13: the official +3 dB recipe for a 10 dB test point), or ``jscc_weights``;
  its latents of the synthetic-streets train split (10,000 scenes, 64x128) are computed once,
  power-normalised per image (unit power per complex symbol, ``E[x0²] = 1/2`` per real value),
  in the real layout the channel carries (consecutive values paired, as ``deepjscc`` sends them);
* denoiser: :class:`~.unet.UNet` in the official layout, narrowed (``ch`` 16, 8 GroupNorm groups;
  official: ``ch = 16·C``, 32 groups), ``ch_mult (1, 2, 2)``, ``attn (1,)``, 2 ResBlocks, dropout
  0.1, T = 1000, linear β 1e−4 .. 0.02, conditioned on ``|h|`` concatenated along the height;
* objective (``re_weight=True``): ``t ~ U{0..T−1}``, ``ε ~ N(0, I)``, MSE between ``ε`` and the
  prediction from ``x_t``. AWGN: ``x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε``, ``|h| = 1``. Rayleigh: one
  ``h ~ CN(0, 1)`` per complex symbol, ``x_t = √ᾱ_t·g·x0 + √(1−ᾱ_t)·h_n·ε`` with ``g = |h|²/(|h|²+s)``,
  ``h_n = |h|/(|h|²+s)``; ``s`` is the equaliser's noise term of the receiver's convention at the
  design test point ``snr_train − 3`` dB: ``paper`` (default) the true N0 = 10^(−(snr_train−3)/10),
  ``official`` 10^(−snr_train/10) (the official ``sigma_square`` of the trainer);
* optimiser: AdamW (weight decay 1e−4), gradient norm clipped to 1, learning rate warmed up
  linearly over ``warmup_steps`` then cosine to 0 at ``schedule_steps`` (official: warm-up ×2,
  cosine over 400 epochs). The schedule is fixed by ``schedule_steps``, not by ``--steps``, so a run
  stopped at step k (``time_limit_s``) is a run of k steps;
* randomness: the network is built under ``torch.manual_seed(seed)``; batch indices, t, ε and h
  come from one ``torch.Generator(seed)``; dropout from torch's global generator, seeded with
  ``seed + 1`` at the start and restored on resume.

Progress every ``log_every`` steps; ``state_<step>.pt`` (network, optimiser, random states,
history) every ``checkpoint_every`` steps and at the end, so ``resume=True`` continues as an
uninterrupted run would. Output: ``<out>/cddm-r<k>_<n>-<channel>-snr<S>.pt`` (the UNet state
dict, float16) and the ``.json`` beside it (the UNet configuration, the JSCC it was trained on,
recipe, provenance, and :func:`evaluate_latent`'s table: the latent MSE on the test split
before and after the sampler, against the linear MMSE); ``export=True`` copies both into
``semcom_bench/assets/cddm/``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import torch

from semcom_bench.bandwidth import parse_ratio
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_file
from semcom_bench.training import (default_data_cache, file_record, float16_state, render_training_set,
                                   run_provenance, training_record, write_provenance)
from semcom_bench_baselines.cddm.sampler import Schedule, noise_var_per_real, prepare, reverse, start_step
from semcom_bench_baselines.cddm.unet import UNet, UNetConfig

#: the package's assets folder of the embedded denoisers
ASSETS = Path(__import__("semcom_bench").__file__).resolve().parent / "assets" / "cddm"
#: training image (height, width)
SIZE = (64, 128)
#: SNRs (dB) of the evaluation table
EVAL_SNRS = (0.0, 5.0, 10.0, 15.0, 20.0)
CHANNELS = ("awgn", "rayleigh")

#: every recipe setting and its default (the embedded recipe); ``train_cddm(**recipe)`` overrides them
RECIPE: dict[str, Any] = {
    "ch": 16,
    "ch_mult": (1, 2, 2),
    "attn": (1,),
    "num_res_blocks": 2,
    "dropout": 0.1,
    "groups": 8,
    "T": 1000,
    "beta_1": 1e-4,
    "beta_T": 0.02,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "warmup_steps": 100,
    "schedule_steps": 2500,
    "grad_clip": 1.0,
    "convention": "paper",
    "data_size": 10000,
    "data_seed": 0,
    "log_every": 50,
    "checkpoint_every": 250,
    "eval_size": 32,
    "eval_seed": 0,
    "eval_snrs": EVAL_SNRS,
}
#: default optimisation steps and batch size of the embedded denoisers
STEPS, BATCH_SIZE = 2500, 16

_STATE = re.compile(r"^state_(\d+)\.pt$")


def data_spec(size: int = 10000, seed: int = 0, split: str = "train") -> dict[str, Any]:
    """The render spec of a synthetic-streets split at 64x128 (the deepjscc training images)."""
    return {"name": "synthetic-streets", "split": split, "size": int(size), "height": SIZE[0], "width": SIZE[1],
            "seed": int(seed)}


def _check_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(recipe) - set(RECIPE))
    if unknown:
        raise UserError(f"unknown CDDM recipe settings {unknown}; known: {', '.join(RECIPE)}")
    r = {**RECIPE, **{k: v for k, v in recipe.items() if v is not None}}
    r["ch_mult"], r["attn"] = tuple(int(v) for v in r["ch_mult"]), tuple(int(v) for v in r["attn"])
    r["eval_snrs"] = tuple(float(v) for v in r["eval_snrs"])
    if r["convention"] not in ("paper", "official"):
        raise UserError(f"CDDM convention must be paper or official, got {r['convention']!r}")
    for key in ("lr", "grad_clip"):
        if not float(r[key]) > 0:
            raise UserError(f"CDDM {key} must be above 0, got {r[key]!r}")
    for key in ("ch", "groups", "T", "data_size", "log_every", "checkpoint_every", "eval_size", "schedule_steps"):
        if int(r[key]) < 1:
            raise UserError(f"CDDM {key} must be at least 1, got {r[key]!r}")
    if int(r["ch"]) % int(r["groups"]):
        raise UserError(f"CDDM groups {r['groups']} must divide ch {r['ch']}")
    return r


def unet_config(channels: int, r: dict[str, Any]) -> UNetConfig:
    return UNetConfig(input_channel=int(channels), ch=int(r["ch"]), ch_mult=r["ch_mult"], attn=r["attn"],
                      num_res_blocks=int(r["num_res_blocks"]), dropout=float(r["dropout"]), T=int(r["T"]),
                      groups=int(r["groups"]))


def equalizer_noise_at(snr_train: float, convention: str) -> float:
    """``s`` of the Rayleigh training: N0 at snr_train − 3 dB (paper) or 10^(−snr_train/10) (official)."""
    if convention == "official":
        return 10.0 ** (-float(snr_train) / 10.0)
    return 10.0 ** (-(float(snr_train) - 3.0) / 10.0)


def learning_rate(step: int, r: dict[str, Any]) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine from ``lr`` to 0 at ``schedule_steps`` (0 after)."""
    lr, warm, total = float(r["lr"]), int(r["warmup_steps"]), int(r["schedule_steps"])
    if step < warm:
        return lr * (step + 1) / warm
    if step >= total:
        return 0.0
    return 0.5 * lr * (1.0 + math.cos(math.pi * (step - warm) / max(total - warm, 1)))


def pair_map(habs: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """(B, N) per-symbol values -> (B, C, h, w) per real value, consecutive values sharing a symbol (``pairs``)."""
    return habs.repeat_interleave(2, dim=1).reshape(habs.shape[0], *shape)


def jscc(ratio: Fraction, snr_train: float, jscc_weights: str | Path | None) -> tuple[Any, Any, dict[str, Any]]:
    """(encoder, decoder, description) of the frozen deepjscc JSCC."""
    from semcom_bench_baselines.deepjscc.network import channels_for_ratio, load_embedded, load_weights

    channels = channels_for_ratio(ratio, "train cddm (--ratio)")
    if jscc_weights is not None:
        encoder, decoder = load_weights(jscc_weights, channels)
        path = Path(jscc_weights).expanduser()
        desc = {"jscc": "deepjscc", "weights": str(path), "sha256": hash_file(path), "channels": channels}
    else:
        encoder, decoder, info = load_embedded(channels, snr_train)
        desc = {"jscc": "deepjscc", "embedded": Path(info["path"]).name, "sha256": hash_file(info["path"]),
                "channels": channels, "snr_train": float(snr_train)}
    return encoder.eval(), decoder.eval(), desc


@torch.no_grad()
def latents(encoder: Any, images: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, c, H/4, W/4) float32 latents normalised per image (``deepjscc.normalise``)."""
    from semcom_bench_baselines.deepjscc.network import normalise

    out = []
    for i in range(0, images.shape[0], batch):
        z, _ = normalise(encoder(images[i: i + batch].float().div(255.0)))
        out.append(z)
    return torch.cat(out)


def noisy(x0: torch.Tensor, t: torch.Tensor, sched: Schedule, channel: str, s: float,
          gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_t, |h| map, ε) of the training forward process (module docstring) for a batch of latents."""
    B = x0.shape[0]
    sa = torch.sqrt(sched.alphas_bar).float()[t].view(B, 1, 1, 1)
    s1a = torch.sqrt(1.0 - sched.alphas_bar).float()[t].view(B, 1, 1, 1)
    eps = torch.randn(x0.shape, generator=gen)
    if channel == "awgn":
        return sa * x0 + s1a * eps, torch.ones_like(x0), eps
    n = x0[0].numel() // 2
    h = torch.complex(torch.randn(B, n, generator=gen), torch.randn(B, n, generator=gen)) / math.sqrt(2.0)
    habs = pair_map(h.abs(), tuple(x0.shape[1:]))
    p = habs.square()
    return sa * (p / (p + s)) * x0 + s1a * (habs / (p + s)) * eps, habs, eps


@torch.no_grad()
def evaluate_latent(net: UNet, x0: torch.Tensor, channel: str, snrs: tuple[float, ...] = EVAL_SNRS,
                    seed: int = 0) -> dict[str, dict[str, float]]:
    """Latent MSE per real value on ``x0`` (N, c, h, w) over ``channel`` at each SNR, before and after the sampler.

    Per SNR (dB, Es/N0): ``received`` = MSE of the receiver's input (AWGN: ``y``; Rayleigh: the
    MMSE estimate ``g·x0 + noise``); ``lmmse`` = the per-channel linear MMSE from ``y`` (AWGN:
    ``Σ_c v_c·σ²/(v_c+σ²)`` with the empirical variance ``v_c`` of channel c; Rayleigh: the
    scalar MMSE per symbol, ``E[N0/(|h|²+N0)]/2`` for unit-power symbols); ``cddm_paper`` and
    ``cddm_official`` = MSE of the sampler's output under each convention, with its step count.
    """
    gen = torch.Generator().manual_seed(seed)
    net.eval()
    N = x0.shape[0]
    shape = tuple(x0.shape[1:])
    var_c = x0.transpose(0, 1).reshape(shape[0], -1).var(dim=1)
    out: dict[str, dict[str, float]] = {}
    for snr in snrs:
        no = 10.0 ** (-snr / 10.0)
        sigma2 = noise_var_per_real(snr)
        noise = torch.randn(x0.shape, generator=gen) * math.sqrt(sigma2)
        if channel == "awgn":
            y, habs = x0 + noise, None
            received = y
            lmmse = float((var_c * sigma2 / (var_c + sigma2)).mean())
        else:
            n = x0[0].numel() // 2
            h = torch.complex(torch.randn(N, n, generator=gen), torch.randn(N, n, generator=gen)) / math.sqrt(2.0)
            habs = pair_map(h.abs(), shape)
            y = x0 + noise / habs  # the unbiased (zero-forcing) estimate
            received = y * habs.square() / (habs.square() + no)  # the channel's MMSE output
            lmmse = float((no / (habs.square() + no)).mean() / 2.0)
        row = {"received": float((received - x0).square().mean()), "lmmse": lmmse}
        for conv in ("paper", "official"):
            x, cond, es = prepare(y, habs, snr, no, conv)
            k = start_step(snr, conv)
            row[f"cddm_{conv}"] = float((reverse(net, x, cond, es, k) - x0).square().mean())
            row[f"steps_{conv}"] = k
        out[f"{snr:g}"] = row
    return out


def _write_atomic(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def latest_state(folder: Path) -> Path | None:
    """The ``state_<step>.pt`` of the highest step in ``folder``, or None."""
    found = [(int(m.group(1)), p) for p in Path(folder).glob("state_*.pt") if (m := _STATE.match(p.name))]
    return max(found)[1] if found else None


def train_cddm(*, ratio: Any = "1/12", channel: str = "awgn", snr_train: float = 13.0, steps: int = STEPS,
               batch_size: int = BATCH_SIZE, seed: int = 0, threads: int | None = 1, time_limit_s: float | None = None,
               out: str | Path | None = None, export: bool = False, resume: bool = False,
               jscc_weights: str | Path | None = None, log: Callable[[str], None] = print, workers: int = 0,
               data_cache: str | Path | None = None, command: str | None = None, **recipe: Any) -> dict[str, Any]:
    """Train one embedded CDDM denoiser (see the module docstring) on the CPU and write it out.

    Args:
        ratio: bandwidth ratio k/n of the deepjscc JSCC ("1/12", "1/6").
        channel: ``awgn`` or ``rayleigh``.
        snr_train: training SNR (dB) of the JSCC (selects the embedded deepjscc) and, for Rayleigh,
            the design point ``snr_train − 3`` of the equaliser term.
        steps: optimisation steps (in all, counting those of a resumed run).
        batch_size: latents per step.
        seed: seed of the initialisation and of every random draw.
        threads: torch CPU threads (None: leave torch's setting).
        time_limit_s: stop after this many seconds of this session (the steps done are recorded).
        out: training folder (default ``semcom-train/<file stem>``).
        export: also write the weights and JSON into ``semcom_bench/assets/cddm``.
        resume: continue from the latest ``state_<step>.pt`` in ``out``.
        jscc_weights: a deepjscc weights file instead of the embedded JSCC.
        log: where progress lines go.
        workers: processes rendering the training scenes (0: one per core).
        data_cache: ``.npz`` of the rendered scenes (default: under the project cache).
        command: the command line recorded in the provenance (default: this process's).
        recipe: overrides of :data:`RECIPE`.

    Returns:
        ``{"steps", "seconds", "stopped_early", "history", "evaluation", "weights", "json", "info"}``
        (``exported``: the assets' paths when ``export``).
    """
    from semcom_bench_baselines.cddm.receiver import embedded_name

    r = _check_recipe(recipe)
    k_n = parse_ratio(ratio, "train cddm (--ratio)")
    if channel not in CHANNELS:
        raise UserError(f"--channel must be awgn or rayleigh, got {channel!r}")
    snr_train = float(snr_train)
    if not math.isfinite(snr_train):
        raise UserError(f"snr_train must be a finite number of dB, got {snr_train!r}")
    if int(steps) < 1 or int(batch_size) < 1:
        raise UserError(f"steps and batch_size must be at least 1, got {steps} and {batch_size}")
    steps, batch_size, seed = int(steps), int(batch_size), int(seed)
    name = embedded_name(k_n, channel, snr_train)
    folder = Path(out) if out is not None else Path("semcom-train") / name
    folder.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(int(threads))

    encoder, _, jscc_desc = jscc(k_n, snr_train, jscc_weights)
    spec = data_spec(r["data_size"], r["data_seed"])
    data = render_training_set(spec, workers, data_cache or default_data_cache(spec), log, fields=("images",))
    t0 = time.perf_counter()
    x_all = latents(encoder, torch.from_numpy(data["images"]).permute(0, 3, 1, 2))
    log(f"cddm: encoded {x_all.shape[0]} training scenes to latents {tuple(x_all.shape[1:])} in "
        f"{time.perf_counter() - t0:.1f} s")
    config = unet_config(x_all.shape[1], r)
    sched = Schedule.linear(int(r["T"]), float(r["beta_1"]), float(r["beta_T"]))
    s_eq = equalizer_noise_at(snr_train, r["convention"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = UNet(config)
    opt = torch.optim.AdamW(net.parameters(), lr=float(r["lr"]), weight_decay=float(r["weight_decay"]))
    gen = torch.Generator().manual_seed(seed)
    dropout_state = torch.Generator().manual_seed(seed + 1).get_state()
    identity = {"ratio": str(k_n), "channel": channel, "snr_train": snr_train, "batch_size": batch_size, "seed": seed,
                "jscc": jscc_desc, "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in r.items()
                                              if k not in ("log_every", "checkpoint_every")}}
    done, history, seconds_before = 0, [], 0.0
    if resume:
        path = latest_state(folder)
        if path is None:
            log(f"cddm resume: no checkpoint in {folder}; starting from step 0")
        else:
            try:
                saved = torch.load(path, map_location="cpu", weights_only=True)
                if saved["identity"] != json.loads(json.dumps(identity)):
                    raise UserError(f"cannot resume from {path}: it was trained with other settings; start in another --out")
                net.load_state_dict(saved["model"])
                opt.load_state_dict(saved["optimizer"])
                gen.set_state(saved["generator"])
                dropout_state = saved["dropout_generator"]
                done, history, seconds_before = int(saved["step"]), list(saved["history"]), float(saved["seconds"])
            except UserError:
                raise
            except Exception as exc:
                raise UserError(f"cannot resume from {path} ({type(exc).__name__}: {str(exc)[:120]}); remove it to "
                                "resume from the one before, or start in another --out") from None
            log(f"cddm: resumed from step {done} in {folder}")

    n_params = sum(p.numel() for p in net.parameters())
    log(f"cddm: {channel} denoiser for deepjscc k/n={k_n} (c={config.input_channel}, JSCC {snr_train:g} dB), UNet ch "
        f"{config.ch} ({n_params / 1e3:.1f}k parameters), batch {batch_size}, lr {r['lr']:g} (warm-up "
        f"{r['warmup_steps']}, cosine to {r['schedule_steps']}), "
        + (f"equaliser term s={s_eq:.4g} ({r['convention']}), " if channel == "rayleigh" else "")
        + f"{torch.get_num_threads()} threads, steps {done}/{steps}")

    start = time.perf_counter()

    def save_state() -> None:
        _write_atomic({"identity": identity, "model": net.state_dict(), "optimizer": opt.state_dict(),
                       "generator": gen.get_state(), "dropout_generator": torch.get_rng_state(), "step": done,
                       "history": history, "seconds": seconds_before + (time.perf_counter() - start)},
                      folder / f"state_{done:06d}.pt")

    net.train()
    acc, n_acc, stopped_early, first_step = 0.0, 0, False, done
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(dropout_state)
        while done < steps:
            lr = learning_rate(done, r)
            for group in opt.param_groups:
                group["lr"] = lr
            idx = torch.randint(x_all.shape[0], (batch_size,), generator=gen)
            t = torch.randint(int(r["T"]), (batch_size,), generator=gen)
            x_t, habs, eps = noisy(x_all[idx], t, sched, channel, s_eq, gen)
            loss = (net(x_t, t, habs) - eps).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), float(r["grad_clip"]))
            opt.step()
            done += 1
            acc += float(loss.detach())
            n_acc += 1
            elapsed = time.perf_counter() - start
            if done % int(r["log_every"]) == 0 or done == steps:
                history.append({"step": done, "loss": acc / n_acc, "lr": lr})
                acc, n_acc = 0.0, 0
                log(f"cddm step {done}/{steps} eps-mse {history[-1]['loss']:.4f} lr {lr:.3g} | "
                    f"{elapsed / max(done - first_step, 1):.3f} s/step")
            if done % int(r["checkpoint_every"]) == 0:
                save_state()
            if time_limit_s is not None and elapsed >= float(time_limit_s) and done < steps:
                stopped_early = True
                log(f"cddm: time limit {float(time_limit_s):.0f} s reached at step {done}")
                break
        save_state()
    seconds = seconds_before + time.perf_counter() - start

    # --- write out (float16), evaluate as shipped ------------------------------------------------
    path = folder / f"{name}.pt"
    torch.save(float16_state(net.state_dict()), path)
    shipped = UNet(config)
    shipped.load_state_dict({k: v.float() if v.is_floating_point() else v
                             for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}, strict=True)
    test_spec = data_spec(int(r["eval_size"]), 0, "test")
    test = render_training_set(test_spec, 1, None, log, fields=("images",))
    x_test = latents(encoder, torch.from_numpy(test["images"]).permute(0, 3, 1, 2))
    table = evaluate_latent(shipped, x_test, channel, r["eval_snrs"], int(r["eval_seed"]))
    for snr, row in table.items():
        log(f"cddm latent MSE at {snr} dB: received {row['received']:.5f}, linear MMSE {row['lmmse']:.5f}, "
            f"cddm paper {row['cddm_paper']:.5f} ({row['steps_paper']} steps), official {row['cddm_official']:.5f} "
            f"({row['steps_official']} steps)")
    command = command or " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
    run = run_provenance("cpu")
    record = file_record(path)
    info = {
        "method": "cddm",
        "options": {"ratio": str(k_n), "channel": channel, "snr_train": snr_train, "convention": r["convention"]},
        "unet": config.to_dict(),
        "jscc": jscc_desc,
        "size": list(SIZE),
        "latent": {"shape": list(x_all.shape[1:]), "layout": "deepjscc's real layout, consecutive values paired into "
                   "complex symbols, per-image unit power per complex symbol (E[x0^2] = 1/2)"},
        "train": {
            "seed": seed, "steps": steps, "batch_size": batch_size, "threads": threads, "time_limit_s": time_limit_s,
            "device": "cpu", "stage": "2 (the denoiser on the frozen encoder's latents; stage 3 not run)",
            "loss": "MSE between eps and the prediction (re_weight=True), t ~ U{0..T-1}",
            "schedule": {"kind": "linear", "T": r["T"], "beta_1": r["beta_1"], "beta_T": r["beta_T"]},
            "channel": ("AWGN: x_t = sqrt(ab) x0 + sqrt(1-ab) eps, |h| = 1" if channel == "awgn" else
                        "Rayleigh: h ~ CN(0,1) per complex symbol, x_t = sqrt(ab) g x0 + sqrt(1-ab) h_n eps, "
                        f"g = |h|^2/(|h|^2+s), h_n = |h|/(|h|^2+s), s = {s_eq:.6g} ({r['convention']} convention at "
                        f"{snr_train - 3:g} dB)"),
            "optimizer": {"name": "adamw", "lr": r["lr"], "weight_decay": r["weight_decay"],
                          "warmup_steps": r["warmup_steps"], "schedule": "linear warm-up, then cosine to 0",
                          "schedule_steps": r["schedule_steps"], "grad_clip": r["grad_clip"]},
            "init": "the official UNet initialisation (xavier-uniform, gain 1e-5 on the last convolutions), "
                    "under torch.manual_seed(seed)",
            "data": {**spec, "fields": ["images"], "latents": "computed once with the frozen encoder, no flip",
                     "sampling": "uniform with replacement; t, eps, h from torch.Generator(seed); dropout from "
                                 "torch's generator seeded seed + 1"},
        },
        "evaluation": {
            "data": test_spec, "noise_seed": int(r["eval_seed"]),
            "metric": "latent MSE per real value against the transmitted unit-power latent",
            "weights": "float16 as shipped, loaded as float32",
            "mse": table,
        },
        "provenance": training_record(command, done, stopped_early, seconds, run, history[-1] if history else {}),
        "weights": {"file": record["file"], "sha256": record["sha256"], "bytes": record["bytes"], "dtype": "float16",
                    "layout": "CDDM Diffusion/Model.py UNet state dict (bare keys)", "parameters": n_params},
    }
    json_path = write_provenance(path, info)
    log(f"cddm: {done} steps in {seconds:.1f} s ({seconds / max(done, 1):.3f} s/step); wrote {path} "
        f"({record['bytes']} bytes, sha256 {record['sha256'][:16]}…)")
    summary: dict[str, Any] = {"steps": done, "seconds": seconds, "stopped_early": stopped_early, "history": history,
                               "evaluation": table, "weights": path, "json": json_path, "info": info}
    if export:
        ASSETS.mkdir(parents=True, exist_ok=True)
        if ASSETS.resolve() != folder.resolve():
            shutil.copyfile(path, ASSETS / path.name)
            shutil.copyfile(json_path, ASSETS / json_path.name)
        summary["exported"] = [ASSETS / path.name, ASSETS / json_path.name]
        log(f"exported {ASSETS / path.name}")
    return summary


__all__ = ["RECIPE", "ASSETS", "SIZE", "STEPS", "BATCH_SIZE", "EVAL_SNRS", "data_spec", "unet_config",
           "equalizer_noise_at", "learning_rate", "latents", "noisy", "evaluate_latent", "latest_state", "train_cddm"]
