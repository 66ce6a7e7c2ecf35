"""semcom-bench: benchmark generative semantic communication over noisy channels."""

__version__ = "0.1.0"
