"""Transmission methods: what crosses the channel and how the receiver rebuilds the image."""

from semcom_bench.methods.base import Method, Payload

__all__ = ["Method", "Payload"]
