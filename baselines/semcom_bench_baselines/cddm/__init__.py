"""CDDM (Wu et al., "CDDM: Channel denoising diffusion models for wireless semantic communications", TWC 2024).

* :mod:`.swin`: the official Swin (WITT-style) JSCC encoder and decoder, key for key;
* :mod:`.unet`: the official denoiser UNet (DDPM-style, conditioned on ``|h|`` along the height);
* :mod:`.sampler`: the schedule, SNR -> start step (paper and official conventions), the
  deterministic reverse process, the MMSE/noise scaling over fading;
* :mod:`.official`: finding and strictly loading the official checkpoint files;
* :mod:`.receiver`: the method ``cddm``;
* :mod:`.training`: the recipe of the embedded denoisers (``semcom-bench train cddm``).
"""

from semcom_bench_baselines.cddm.sampler import CONVENTIONS, Schedule, prepare, reverse, start_step
from semcom_bench_baselines.cddm.swin import JsccDecoder, JsccEncoder, SwinDecoder, SwinEncoder, SwinJsccConfig
from semcom_bench_baselines.cddm.unet import UNet, UNetConfig

__all__ = ["CONVENTIONS", "Schedule", "prepare", "reverse", "start_step", "JsccDecoder", "JsccEncoder", "SwinDecoder",
           "SwinEncoder", "SwinJsccConfig", "UNet", "UNetConfig"]
