"""The component modules that register methods, channels, metrics and data sets.

Importing one of these modules must stay cheap: heavy libraries are imported inside the
component, when it is built or first used.
"""

MODULES = [
    "semcom_bench.data.synthetic_streets",
    "semcom_bench.data.cityscapes",
    "semcom_bench.data.coco_stuff",
    "semcom_bench.data.ade20k",
    "semcom_bench.data.lsun",
    "semcom_bench.data.folder",
    "semcom_bench.channels.awgn",
    "semcom_bench.channels.rayleigh",
    "semcom_bench.channels.mimo",
    "semcom_bench.channels.gesco_code",
    "semcom_bench.methods.classical.full_image",
    "semcom_bench.methods.classical.digital",
    "semcom_bench.methods.semantic.gesco",
    "semcom_bench.metrics.image_quality",
    "semcom_bench.metrics.bits",
    "semcom_bench.metrics.cost",
    "semcom_bench.metrics.semantic",
    "semcom_bench.metrics.distribution",
    "semcom_bench.metrics.perceptual",
]
