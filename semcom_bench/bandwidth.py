"""The bandwidth ratio k/n: complex channel uses k per real source dimension n = 3·H·W.

JSCC papers (DeepJSCC, CDDM) fix k/n as a design parameter; the ``bits`` metric reports the
achieved ``bandwidth_ratio`` of every image. Methods that can be run at a requested ratio
(``deepjscc``, ``full-image``, ``digital``) take it as the text ``"1/12"`` or a number
(``0.0833``); :func:`parse_ratio` turns either into an exact :class:`~fractions.Fraction`
(a float is read as the nearest fraction with a denominator of at most :data:`MAX_DENOMINATOR`,
so ``0.0833333`` is ``1/12``) and :func:`ratio_text` gives its one canonical spelling, which is
what methods store and what enters their cache keys.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from semcom_bench.components import Annotated, Doc
from semcom_bench.errors import UserError

#: a float ratio is read as the nearest fraction with at most this denominator
MAX_DENOMINATOR = 10_000

#: the option type of a bandwidth ratio (parsed by :func:`parse_ratio` in the constructor)
RatioOption = Annotated[str | None, Doc("bandwidth ratio k/n (complex channel uses per real source dimension "
                                        "3·H·W), as 1/12 or 0.0833; none: the method's own size")]


def parse_ratio(value: Any, owner: str, *, high: Fraction | None = None) -> Fraction:
    """``value`` ("1/12", "0.25", 0.25, Fraction) as a Fraction in (0, ``high``]; a bad value is a one-line UserError.

    Args:
        value: the ratio as the user wrote it.
        owner: who takes it, for the message (e.g. ``"method 'full-image'"``).
        high: the largest ratio ``owner`` can meet (default: no bound).
    """
    try:
        if isinstance(value, Fraction):
            out = value
        elif isinstance(value, bool):
            raise ValueError
        elif isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise ValueError
            out = Fraction(value).limit_denominator(MAX_DENOMINATOR)
        elif isinstance(value, str):
            text = value.strip()
            if "/" in text:
                num, _, den = text.partition("/")
                out = Fraction(int(num.strip()), int(den.strip()))
            else:
                number = float(text)
                if not math.isfinite(number):
                    raise ValueError
                out = Fraction(number).limit_denominator(MAX_DENOMINATOR)
        else:
            raise ValueError
    except (ValueError, ZeroDivisionError):
        raise UserError(f"parameter ratio of {owner} must be a bandwidth ratio k/n such as 1/12 or 0.0833, "
                        f"got {value!r}") from None
    if out <= 0 or (high is not None and out > high):
        bound = f"in (0, {high}]" if high is not None else "above 0"
        raise UserError(f"parameter ratio of {owner} must be {bound}, got {value!r}")
    return out


def ratio_text(ratio: Fraction) -> str:
    """The canonical spelling of a ratio: ``"1/12"``, ``"1/2"``, ``"1"``."""
    return str(ratio)


def channel_use_budget(ratio: Fraction, height: int, width: int, channels: int = 3) -> int:
    """The most complex channel uses an image of ``height`` x ``width`` x ``channels`` may take at ``ratio``:
    ``floor(ratio · channels·H·W)`` (exact, no float rounding)."""
    return math.floor(ratio * channels * int(height) * int(width))


def achieved_ratio(channel_uses: int, height: int, width: int, channels: int = 3) -> float:
    """k/n of ``channel_uses`` complex symbols for an image of ``height`` x ``width`` x ``channels``."""
    return channel_uses / (channels * int(height) * int(width))


__all__ = ["MAX_DENOMINATOR", "RatioOption", "parse_ratio", "ratio_text", "channel_use_budget", "achieved_ratio"]
