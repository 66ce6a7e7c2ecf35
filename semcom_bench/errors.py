"""User-facing errors: raised for a user mistake, printed by the CLI as one line, exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad name, bad value, missing path or weights).

    The message must name the bad input and say how to fix it, on one line.
    """


class MissingWeightsError(UserError):
    """Weights a component needs are not on this machine; the message says where to get them."""


class WeightsMismatchError(MissingWeightsError):
    """A file was found where weights are looked for, but its SHA-256 is not the declared one.

    A :class:`MissingWeightsError`: the verified weights are not on this machine (components
    that skip on missing weights skip on this too, with this message).
    """
