"""Transmission methods, by family: :mod:`.classical` (the image itself) and :mod:`.semantic`
(semantic maps); the contract is in :mod:`.base`."""

from semcom_bench.methods.base import Delivery, Method, Payload, Sender

__all__ = ["Delivery", "Method", "Payload", "Sender"]
