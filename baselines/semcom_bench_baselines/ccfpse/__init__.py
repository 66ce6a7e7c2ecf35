"""CC-FPSE (Liu et al., NeurIPS 2019; official code xh-liu/CC-FPSE) as a GAN receiver's networks.

:mod:`.network` holds the conditional-convolution generator (``--netG condconv``) and the image
encoder ``net_E`` in the official state-dict layout, with :func:`load_official` for the released
Cityscapes checkpoints (``cs_best``, epoch 200). No receiver is registered here yet.
"""

from semcom_bench_baselines.ccfpse.network import (
    CcfpseOptions,
    CondConvGenerator,
    ConvEncoder,
    encode_z,
    load_official,
    sample_z,
)

__all__ = ["CcfpseOptions", "CondConvGenerator", "ConvEncoder", "encode_z", "load_official", "sample_z"]
