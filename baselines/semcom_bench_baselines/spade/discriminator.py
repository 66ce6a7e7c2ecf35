"""SPADE's training discriminator (``--netD multiscale``, ``--netD_subarch n_layer``) and its losses.

Re-implemented from the facts of NVlabs/SPADE ``models/networks/discriminator.py``,
``normalization.py`` and ``loss.py``, with the official module names (``discriminator_<i>`` of
``model0`` .. ``model<n_layers_D>``), so a state dict has the official key layout:

* :class:`NLayerDiscriminator` (PatchGAN): ``model0`` is a 4x4 stride-2 conv (with bias, no norm)
  and LeakyReLU 0.2; ``model1`` .. ``model<n-1>`` are 4x4 stride-2 convs doubling the width (at
  most 512) wrapped by ``norm_D`` (``spectralinstance``: spectral norm on the conv, its bias
  removed, then ``InstanceNorm2d(affine=False)``) and LeakyReLU 0.2; the last is a 4x4 stride-1
  conv to one channel (no norm). Padding ``ceil((4 - 1) / 2) = 2``. The forward returns every
  group's output (the intermediate features for the feature-matching loss, the last one the
  patch logits).
* :class:`MultiscaleDiscriminator`: ``num_D`` of them, the input average-pooled (3x3, stride 2,
  padding 1, ``count_include_pad=False``) between scales.
* The input is the segmap (one-hot labels + instance edges) concatenated with the image.
* :func:`hinge_d_loss`, :func:`hinge_g_loss`: ``gan_mode hinge``, averaged over the scales.
* :func:`feature_matching_loss`: L1 between the fake and (detached) real intermediate features,
  ``lambda_feat / num_D`` per layer, the last output of each scale excluded.
* :class:`VGGLoss`: the perceptual loss, L1 between VGG19 features (relu1_1 .. relu5_1) weighted
  1/32, 1/16, 1/8, 1/4, 1; the images enter in [-1, 1] as the official code feeds them. It needs
  the ImageNet VGG19 weights from a local file (torchvision's ``vgg19`` state dict).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from semcom_bench.errors import MissingWeightsError, UserError

_NORMS_D = ("instance", "batch", "none", "")


def _norm_layer(norm_D: str, conv: nn.Conv2d) -> nn.Module:
    """``get_nonspade_norm_layer(norm_D)`` applied to ``conv``: [spectral norm] then an optional norm."""
    spectral = norm_D.startswith("spectral")
    sub = norm_D[len("spectral"):] if spectral else norm_D
    if sub not in _NORMS_D:
        raise UserError(f"SPADE norm_D {norm_D!r} is not [spectral](instance|batch|none)")
    layer: nn.Module = spectral_norm(conv) if spectral else conv
    if sub in ("none", ""):
        return layer
    del layer.bias  # meaningless before a norm; the official code removes it
    layer.register_parameter("bias", None)
    norm: nn.Module = (nn.InstanceNorm2d(conv.out_channels, affine=False) if sub == "instance"
                       else nn.BatchNorm2d(conv.out_channels, affine=True))
    return nn.Sequential(layer, norm)


class NLayerDiscriminator(nn.Module):
    """The official PatchGAN ``NLayerDiscriminator`` (see the module docstring).

    Args:
        input_nc: ``semantic_nc + 3`` (segmap and image).
        ndf: width of the first layer.
        n_layers_D: stride-2 layers (the official default is 3).
        norm_D: ``spectralinstance`` (official default), or another ``[spectral](instance|batch|none)``.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers_D: int = 3, norm_D: str = "spectralinstance") -> None:
        super().__init__()
        if n_layers_D < 1 or ndf < 1:
            raise UserError(f"SPADE discriminator needs n_layers_D >= 1 and ndf >= 1, got {n_layers_D} and {ndf}")
        kw = 4
        padw = int(math.ceil((kw - 1.0) / 2))
        nf = ndf
        groups: list[list[nn.Module]] = [[nn.Conv2d(input_nc, nf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2, False)]]
        for _ in range(1, n_layers_D):
            nf_prev, nf = nf, min(nf * 2, 512)
            groups.append([_norm_layer(norm_D, nn.Conv2d(nf_prev, nf, kw, stride=2, padding=padw)),
                           nn.LeakyReLU(0.2, False)])
        groups.append([nn.Conv2d(nf, 1, kw, stride=1, padding=padw)])
        for n, group in enumerate(groups):
            self.add_module(f"model{n}", nn.Sequential(*group))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, input_nc, H, W) -> the output of every group, the patch logits (B, 1, h, w) last."""
        outs = []
        for group in self.children():
            x = group(x)
            outs.append(x)
        return outs


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` :class:`NLayerDiscriminator` (``discriminator_0`` ..) on successively halved inputs."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers_D: int = 3, num_D: int = 2,
                 norm_D: str = "spectralinstance") -> None:
        super().__init__()
        if num_D < 1:
            raise UserError(f"SPADE discriminator needs num_D >= 1, got {num_D}")
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(input_nc, ndf, n_layers_D, norm_D))

    @staticmethod
    def downsample(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=2, padding=[1, 1], count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """(B, input_nc, H, W) -> per scale, the outputs of every group (patch logits last)."""
        result = []
        for d in self.children():
            result.append(d(x))
            x = self.downsample(x)
        return result


def split_pred(pred: list[list[torch.Tensor]]) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """The outputs on ``cat([fake, real])`` split into (fake, real) halves along the batch."""
    fake = [[t[: t.shape[0] // 2] for t in scale] for scale in pred]
    real = [[t[t.shape[0] // 2:] for t in scale] for scale in pred]
    return fake, real


def hinge_d_loss(pred: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    """Discriminator hinge loss, mean over the scales: ``mean(relu(1 - x))`` (real) or ``mean(relu(1 + x))`` (fake)."""
    losses = [F.relu(1.0 - s[-1]).mean() if real else F.relu(1.0 + s[-1]).mean() for s in pred]
    return torch.stack(losses).mean()


def hinge_g_loss(pred_fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Generator hinge loss, mean over the scales: ``-mean(x)`` on the fakes."""
    return torch.stack([-s[-1].mean() for s in pred_fake]).mean()


def feature_matching_loss(pred_fake: list[list[torch.Tensor]], pred_real: list[list[torch.Tensor]],
                          lambda_feat: float) -> torch.Tensor:
    """Sum over scales and intermediate layers of ``L1(fake, real.detach()) * lambda_feat / num_D``."""
    num_d = len(pred_fake)
    loss = pred_fake[0][0].new_zeros(())
    for fake, real in zip(pred_fake, pred_real):
        for f, r in zip(fake[:-1], real[:-1]):
            loss = loss + F.l1_loss(f, r.detach()) * (lambda_feat / num_d)
    return loss


class VGGLoss(nn.Module):
    """SPADE's perceptual loss on torchvision's VGG19 ``features`` read from a local weights file.

    Args:
        weights: a torchvision ``vgg19`` state dict (e.g. ``vgg19-dcbb9e9d.pth``); only the
            ``features.*`` keys are used. Nothing is downloaded.
    """

    SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
    WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        from torchvision.models import vgg19

        path = Path(weights)
        if not path.is_file():
            raise MissingWeightsError(f"VGG19 weights {path} not found: give torchvision's ImageNet vgg19 state dict "
                                      "(vgg19-dcbb9e9d.pth) as vgg_weights, or leave the VGG loss out")
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = vgg19(weights=None)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError:
            raise UserError(f"{path} is not a torchvision vgg19 state dict") from None
        features = net.features
        self.slices = nn.ModuleList(nn.Sequential(*[features[i] for i in range(a, b)]) for a, b in self.SLICES)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for w, block in zip(self.WEIGHTS, self.slices):
            x, y = block(x), block(y)
            loss = loss + w * F.l1_loss(x, y.detach())
        return loss


__all__ = ["NLayerDiscriminator", "MultiscaleDiscriminator", "split_pred", "hinge_d_loss", "hinge_g_loss",
           "feature_matching_loss", "VGGLoss"]
