"""Training of the embedded DeepJSCC models on synthetic-streets at 64x128 (:func:`train_deepjscc`).

The paper's recipe (Bourtsoulatze et al. 2019; single-SNR variant: one model per training SNR),
sized for a CPU:

* network: :class:`~.network.DeepJsccEncoder` / :class:`~.network.DeepJsccDecoder` with
  c = 96·k/n channels, kaira's initialisation, built under ``torch.manual_seed(seed)``;
* channel during training: per-image power normalisation to unit average power per complex
  symbol, then AWGN at ``snr_train`` dB (Es/N0 per complex symbol: N(0, N0/2) per real value),
  exactly what the ``deepjscc`` method and the ``awgn`` channel do at run time;
* loss: the MSE between the decoder's output and the input, both in [0, 1];
* optimiser: Adam (betas 0.9, 0.999), learning rate ``lr`` = 1e-3, the paper's first rate. The
  paper later drops to 1e-4; here ``lr_drop_step`` (an absolute step, so that a run stopped at
  step k by ``time_limit_s`` is the same as a run of k steps) sets ``lr_final`` from that step
  on, and the embedded recipe leaves it off: 3,000 steps are far from convergence, and a drop
  at step 2,000 of 2,400 measured 0.5 dB lower test PSNR (22.78 against 23.25 dB at 13 dB,
  ratio 1/12) than 2,493 steps at 1e-3;
* data: ``synthetic-streets(split=train, height=64, width=128)`` images (10,000 scenes) through
  :func:`semcom_bench.training.render_training_set` (cached under the default cache folder),
  batches drawn uniformly with replacement and flipped horizontally with probability 1/2, from
  one ``torch.Generator`` seeded with ``seed`` (and the noise from another, seeded ``seed + 1``).

Progress lines every ``log_every`` steps; a checkpoint ``state_<step>.pt`` (weights, optimiser,
random states, history) every ``checkpoint_every`` steps and at the end (the two newest are
kept), so ``resume=True`` continues from the latest one exactly as an uninterrupted run would.

Output: ``<out>/deepjscc-c<c>-snr<S>-synthetic-streets.pt`` (the combined ``encoder.*``/``decoder.*``
state dict, floating tensors in float16) and the ``.json`` beside it: options, recipe, provenance
(command, reproduce command, steps, seconds, git commit, versions) and the evaluation of the
float16 weights as shipped (:func:`evaluate`: PSNR on the synthetic-streets test split at the
training SNR, at 0/5/10/15/20 dB and without noise). ``export=True`` copies both into
``semcom_bench/assets/deepjscc/``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from semcom_bench.bandwidth import parse_ratio
from semcom_bench.errors import UserError
from semcom_bench.training import (default_data_cache, file_record, float16_state, render_training_set, run_provenance,
                                   training_record, write_provenance)
from semcom_bench_baselines.deepjscc.network import (DeepJsccDecoder, DeepJsccEncoder, awgn, channels_for_ratio,
                                                     embedded_name, load_state, normalise, ratio_of, read_weights,
                                                     state_dict)

#: the package's assets folder of the embedded DeepJSCC models
ASSETS = Path(__import__("semcom_bench").__file__).resolve().parent / "assets" / "deepjscc"
#: training image (height, width)
SIZE = (64, 128)
#: SNRs (dB) of the evaluation table besides the training SNR; None: no noise
EVAL_SNRS: tuple[float | None, ...] = (0.0, 5.0, 10.0, 15.0, 20.0, None)

#: every recipe setting and its default (the embedded recipe); ``train_deepjscc(**recipe)`` overrides them
RECIPE: dict[str, Any] = {
    "lr": 1e-3,
    "lr_final": 1e-4,
    "lr_drop_step": None,
    "betas": (0.9, 0.999),
    "data_size": 10000,
    "data_seed": 0,
    "flip": True,
    "log_every": 50,
    "checkpoint_every": 200,
    "eval_size": 32,
    "eval_repeats": 4,
    "eval_seed": 0,
}
#: default optimisation steps and batch size of the embedded models
STEPS, BATCH_SIZE = 3000, 32

_STATE = re.compile(r"^state_(\d+)\.pt$")
#: checkpoints kept in the training folder (the newest)
KEEP_STATES = 2


def data_spec(size: int = 10000, seed: int = 0, split: str = "train") -> dict[str, Any]:
    """The render spec of a synthetic-streets split at 64x128."""
    return {"name": "synthetic-streets", "split": split, "size": int(size), "height": SIZE[0], "width": SIZE[1],
            "seed": int(seed)}


def _check_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(recipe) - set(RECIPE))
    if unknown:
        raise UserError(f"unknown DeepJSCC recipe settings {unknown}; known: {', '.join(RECIPE)}")
    r = {**RECIPE, **{k: v for k, v in recipe.items() if v is not None}}
    for key in ("lr", "lr_final"):
        if not float(r[key]) > 0:
            raise UserError(f"DeepJSCC {key} must be above 0, got {r[key]!r}")
    for key in ("data_size", "log_every", "checkpoint_every", "eval_size", "eval_repeats"):
        if int(r[key]) < 1:
            raise UserError(f"DeepJSCC {key} must be at least 1, got {r[key]!r}")
    if r["lr_drop_step"] is not None and int(r["lr_drop_step"]) < 0:
        raise UserError(f"DeepJSCC lr_drop_step must be at least 0 or None (no drop), got {r['lr_drop_step']!r}")
    r["betas"] = tuple(float(b) for b in r["betas"])
    return r


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] -> (B, H, W, 3) uint8 (rounded, clipped)."""
    return (x.detach().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()


def psnr_uint8(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR in dB (range 255) of two (B, H, W, 3) uint8 batches, per image (the ``psnr`` metric's)."""
    mse = (a.double() - b.double()).square().flatten(1).mean(dim=1)
    return torch.where(mse > 0, 10.0 * torch.log10(255.0**2 / mse.clamp_min(1e-300)), torch.full_like(mse, float("inf")))


def evaluation_images(size: int = 32, workers: int = 1, log: Callable[[str], None] = print) -> torch.Tensor:
    """The synthetic-streets test split at 64x128 (first ``size`` scenes): (N, 3, 64, 128) float32 in [0, 1]."""
    spec = data_spec(size, 0, "test")
    data = render_training_set(spec, workers, None, log, fields=("images",))
    return torch.from_numpy(data["images"]).permute(0, 3, 1, 2).float().div(255.0)


@torch.no_grad()
def evaluate(encoder: DeepJsccEncoder, decoder: DeepJsccDecoder, images: torch.Tensor,
             snrs: tuple[float | None, ...], repeats: int = 4, seed: int = 0) -> dict[str, float]:
    """Mean PSNR (dB, uint8 output, per image) over ``images`` and ``repeats`` noise draws per SNR.

    Args:
        images: (N, 3, H, W) float32 in [0, 1].
        snrs: AWGN SNRs in dB (Es/N0 per complex symbol); None: no noise (the clean latent).
        repeats: noise draws per image (1 for None).
        seed: seed of the noise generator (reseeded per SNR).

    Returns:
        ``{"<snr> dB" or "clean": mean PSNR}``.
    """
    encoder.eval()
    decoder.eval()
    truth = to_uint8(images)
    z, _ = normalise(encoder(images))
    out: dict[str, float] = {}
    for snr in snrs:
        if snr is None:
            out["clean"] = float(psnr_uint8(to_uint8(decoder(z)), truth).mean())
            continue
        gen = torch.Generator().manual_seed(int(seed))
        values = [psnr_uint8(to_uint8(decoder(awgn(z, float(snr), gen))), truth) for _ in range(int(repeats))]
        out[f"{float(snr):g} dB"] = float(torch.cat(values).mean())
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
    found = [(int(m.group(1)), p) for p in folder.glob("state_*.pt") if (m := _STATE.match(p.name))]
    return max(found)[1] if found else None


def train_deepjscc(*, ratio: Any = "1/12", snr_train: float = 13.0, steps: int = STEPS, batch_size: int = BATCH_SIZE,
                   seed: int = 0, threads: int | None = 1, time_limit_s: float | None = None,
                   out: str | Path | None = None, export: bool = False, resume: bool = False,
                   log: Callable[[str], None] = print, workers: int = 0, data_cache: str | Path | None = None,
                   command: str | None = None, **recipe: Any) -> dict[str, Any]:
    """Train one embedded DeepJSCC model (see the module docstring) on the CPU and write it out.

    Args:
        ratio: bandwidth ratio k/n ("1/12", 0.0833...); must be c/96 for a whole c.
        snr_train: training SNR in dB (Es/N0 per complex symbol, AWGN).
        steps: optimisation steps (in all, counting those of a resumed run).
        batch_size: images per step.
        seed: seed of the initialisation, of every batch and flip draw (``seed``) and of the
            channel noise (``seed + 1``).
        threads: torch CPU threads (None: leave torch's setting).
        time_limit_s: stop after this many seconds of this session (the steps done are recorded,
            and the reproduce command names them).
        out: training folder (default ``semcom-train/<file stem>``).
        export: also write the weights and JSON into the package's ``assets/deepjscc``.
        resume: continue from the latest ``state_<step>.pt`` in ``out``.
        log: where progress lines go.
        workers: processes rendering the training scenes (0: one per core).
        data_cache: ``.npz`` of the rendered scenes (default: under the project cache, keyed by the spec).
        command: the command line recorded in the provenance (default: this process's).
        recipe: overrides of :data:`RECIPE`.

    Returns:
        ``{"steps", "seconds", "seconds_per_step", "stopped_early", "history", "evaluation",
        "weights", "json", "info"}`` (``exported``: the assets' paths when ``export``).
    """
    r = _check_recipe(recipe)
    k_n = parse_ratio(ratio, "train deepjscc")
    channels = channels_for_ratio(k_n, "train deepjscc")
    snr_train = float(snr_train)
    if not np.isfinite(snr_train):
        raise UserError(f"snr_train must be a finite number of dB, got {snr_train!r}")
    if int(steps) < 1 or int(batch_size) < 1:
        raise UserError(f"steps and batch_size must be at least 1, got {steps} and {batch_size}")
    steps, batch_size, seed = int(steps), int(batch_size), int(seed)
    name = embedded_name(channels, snr_train)
    folder = Path(out) if out is not None else Path("semcom-train") / name
    folder.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(int(threads))

    spec = data_spec(r["data_size"], r["data_seed"])
    data = render_training_set(spec, workers, data_cache or default_data_cache(spec), log, fields=("images",))
    images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2)  # (N, 3, 64, 128) uint8, converted per batch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder, decoder = DeepJsccEncoder(channels), DeepJsccDecoder(channels)
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=float(r["lr"]), betas=r["betas"])
    gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator().manual_seed(seed + 1)
    identity = {"channels": channels, "snr_train": snr_train, "batch_size": batch_size, "seed": seed,
                "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in r.items()
                           if k not in ("log_every", "checkpoint_every")}}
    done, history, seconds_before = 0, [], 0.0
    if resume:
        path = latest_state(folder)
        if path is None:
            log(f"deepjscc resume: no checkpoint in {folder}; starting from step 0")
        else:
            try:
                saved = torch.load(path, map_location="cpu", weights_only=True)
                if saved["identity"] != json.loads(json.dumps(identity)):
                    raise UserError(f"cannot resume from {path}: it was trained with other settings "
                                    f"({saved['identity']}); start in another --out")
                encoder.load_state_dict(saved["encoder"])
                decoder.load_state_dict(saved["decoder"])
                opt.load_state_dict(saved["optimizer"])
                gen.set_state(saved["generator"])
                noise_gen.set_state(saved["noise_generator"])
                done, history, seconds_before = int(saved["step"]), list(saved["history"]), float(saved["seconds"])
            except UserError:
                raise
            except Exception as exc:
                raise UserError(f"cannot resume from {path} ({type(exc).__name__}: {str(exc)[:120]}); remove it to "
                                "resume from the one before, or start in another --out") from None
            log(f"deepjscc: resumed from step {done} in {folder}")

    def save_state() -> None:
        _write_atomic({"identity": identity, "encoder": encoder.state_dict(), "decoder": decoder.state_dict(),
                       "optimizer": opt.state_dict(), "generator": gen.get_state(),
                       "noise_generator": noise_gen.get_state(), "step": done, "history": history,
                       "seconds": seconds_before + (time.perf_counter() - start)}, folder / f"state_{done:06d}.pt")
        states = sorted((int(m.group(1)), p) for p in folder.glob("state_*.pt") if (m := _STATE.match(p.name)))
        for _, old in states[:-KEEP_STATES]:  # the latest few are enough to resume
            old.unlink(missing_ok=True)

    n_params = sum(p.numel() for p in params)
    log(f"deepjscc: c={channels} (k/n={ratio_of(channels)}), AWGN {snr_train:g} dB, {n_params / 1e3:.1f}k parameters, "
        f"{SIZE[0]}x{SIZE[1]}, batch {batch_size}, lr {r['lr']:g}"
        + (f" -> {r['lr_final']:g} at step {r['lr_drop_step']}" if r["lr_drop_step"] is not None else "") + ", "
        f"{torch.get_num_threads()} threads, steps {done}/{steps}")
    encoder.train()
    decoder.train()
    acc, n_acc = 0.0, 0
    stopped_early = False
    first_step = done
    start = time.perf_counter()
    while done < steps:
        drop = r["lr_drop_step"]
        lr = float(r["lr"]) if drop is None or done < int(drop) else float(r["lr_final"])
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(images.shape[0], (batch_size,), generator=gen)
        x = images[idx].float().div_(255.0)
        if r["flip"]:
            flip = torch.rand(batch_size, generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        z, _ = normalise(encoder(x))
        x_hat = decoder(awgn(z, snr_train, noise_gen))
        loss = (x_hat - x).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done += 1
        acc += float(loss.detach())
        n_acc += 1
        elapsed = time.perf_counter() - start
        if done % int(r["log_every"]) == 0 or done == steps:
            mse = acc / n_acc
            history.append({"step": done, "mse": mse, "psnr_float": float(10 * np.log10(1.0 / max(mse, 1e-12))), "lr": lr})
            acc, n_acc = 0.0, 0
            log(f"deepjscc step {done}/{steps} mse {mse:.5f} (train PSNR {history[-1]['psnr_float']:.2f} dB) "
                f"lr {lr:g} | {elapsed / max(done - first_step, 1):.3f} s/step")
        if done % int(r["checkpoint_every"]) == 0:
            save_state()
        if time_limit_s is not None and elapsed >= float(time_limit_s) and done < steps:
            stopped_early = True
            log(f"deepjscc: time limit {float(time_limit_s):.0f} s reached at step {done}")
            break
    save_state()
    seconds = seconds_before + time.perf_counter() - start

    # --- write out (float16, then evaluated as shipped) ---------------------------------------
    path = folder / f"{name}.pt"
    torch.save(float16_state(state_dict(encoder, decoder)), path)
    shipped_encoder, shipped_decoder = load_state(read_weights(path), channels, path)
    test = evaluation_images(int(r["eval_size"]), 1, log)
    snrs = (snr_train, *[s for s in EVAL_SNRS if s != snr_train])
    table = evaluate(shipped_encoder, shipped_decoder, test, snrs, int(r["eval_repeats"]), int(r["eval_seed"]))
    log("deepjscc PSNR on synthetic-streets test (64x128, "
        f"{test.shape[0]} images x {r['eval_repeats']} noise draws): " + ", ".join(f"{k} {v:.2f}" for k, v in table.items()))
    command = command or " ".join(shlex.quote(a) for a in ["semcom-bench", *sys.argv[1:]])
    run = run_provenance("cpu")
    record = file_record(path)
    info = {
        "method": "deepjscc",
        "variant": "single-SNR (Bourtsoulatze et al. 2019): one model per training SNR",
        "options": {"channels": channels, "ratio": str(ratio_of(channels)), "snr_train": snr_train},
        "size": list(SIZE),
        "decoder_input": "the received real layout of unit-power complex symbols (per-image normalisation, "
                         "2*mean(z^2) = 1); not multiplied back by the sender's scale",
        "train": {
            "seed": seed, "steps": steps, "batch_size": batch_size, "threads": threads, "time_limit_s": time_limit_s,
            "device": "cpu", "loss": "MSE on [0, 1] images",
            "channel": f"AWGN at {snr_train:g} dB (Es/N0 per complex symbol; N(0, N0/2) per real value), "
                       "after per-image power normalisation",
            "optimizer": {"name": "adam", "lr": r["lr"], "lr_final": r["lr_final"], "lr_drop_step": r["lr_drop_step"],
                          "betas": list(r["betas"])},
            "init": "kaira's: kaiming-normal fan_out (leaky_relu) for PReLU layers, xavier-normal for the sigmoid "
                    "layer, PyTorch defaults for biases; under torch.manual_seed(seed)",
            "data": {**spec, "fields": ["images"], "flip": r["flip"], "image_range": [0, 1],
                     "sampling": "uniform with replacement, torch.Generator(seed); noise torch.Generator(seed + 1)"},
            "log_every": r["log_every"], "checkpoint_every": r["checkpoint_every"],
        },
        "evaluation": {
            "data": data_spec(int(r["eval_size"]), 0, "test"),
            "noise_draws": int(r["eval_repeats"]), "noise_seed": int(r["eval_seed"]),
            "metric": "PSNR (dB, range 255) of the uint8 output, per image, averaged",
            "weights": "float16 as shipped, loaded as float32",
            "psnr": table,
        },
        "provenance": training_record(command, done, stopped_early, seconds, run, history[-1] if history else {}),
        "weights": {"file": record["file"], "sha256": record["sha256"], "bytes": record["bytes"], "dtype": "float16",
                    "layout": "encoder.model.{0..4}.conv/prelu, decoder.model.{0..4}.transconv/activate "
                              "(kaira Bourtsoulatze2019DeepJSCCEncoder/Decoder under DeepJSCCModel)",
                    "parameters": n_params},
    }
    json_path = write_provenance(path, info)
    log(f"deepjscc: {done} steps in {seconds:.1f} s ({seconds / max(done, 1):.3f} s/step); wrote {path} "
        f"({record['bytes']} bytes, sha256 {record['sha256'][:16]}…)")
    summary: dict[str, Any] = {"steps": done, "seconds": seconds, "seconds_per_step": seconds / max(done, 1),
                               "stopped_early": stopped_early, "history": history, "evaluation": table,
                               "weights": path, "json": json_path, "info": info}
    if export:
        ASSETS.mkdir(parents=True, exist_ok=True)
        if ASSETS.resolve() != folder.resolve():
            shutil.copyfile(path, ASSETS / path.name)
            shutil.copyfile(json_path, ASSETS / json_path.name)
        summary["exported"] = [ASSETS / path.name, ASSETS / json_path.name]
        log(f"exported {ASSETS / path.name}")
    return summary


__all__ = ["RECIPE", "ASSETS", "SIZE", "STEPS", "BATCH_SIZE", "EVAL_SNRS", "data_spec", "evaluate", "evaluation_images",
           "psnr_uint8", "to_uint8", "latest_state", "train_deepjscc"]
