"""Component specs as users write them: ``name`` or ``name(key=value, key=value)``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from semcom_bench.errors import UserError

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\((.*)\))?\s*$")


@dataclass(frozen=True)
class Spec:
    """A component name with parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the component appears in tables: ``name`` or ``name(k=v,...)``."""
        if not self.params:
            return self.name
        inner = ",".join(f"{k}={_fmt(v)}" for k, v in sorted(self.params.items()))
        return f"{self.name}({inner})"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _parse_value(text: str) -> Any:
    text = text.strip()
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip("'\"")


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses: ``"a,b(x=1,y=2)"`` -> ``["a", "b(x=1,y=2)"]``."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_spec(item: str | dict[str, Any] | Spec) -> Spec:
    """Parse ``"gesco(fds=false,s=2)"`` or a TOML table ``{name=..., params={...}}``."""
    if isinstance(item, Spec):
        return item
    if isinstance(item, dict):
        if "name" not in item:
            raise UserError(f"component table {item!r} has no 'name' key; write {{name = \"awgn\"}}")
        return Spec(str(item["name"]), dict(item.get("params", {})))
    m = _SPEC.match(item)
    if not m:
        raise UserError(f"cannot read component {item!r}: write name or name(key=value,...)")
    params: dict[str, Any] = {}
    if m.group(2):
        for part in split_top_level(m.group(2)):
            if "=" not in part:
                raise UserError(f"cannot read parameter {part!r} in {item!r}: write key=value")
            key, value = part.split("=", 1)
            params[key.strip()] = _parse_value(value)
    return Spec(m.group(1), params)


def parse_specs(items: str | list[Any] | None) -> list[Spec]:
    """Parse a comma-separated string or a list of specs."""
    if items is None:
        return []
    if isinstance(items, str):
        items = split_top_level(items)
    out: list[Spec] = []
    for it in items:
        if isinstance(it, str) and "," in it and "(" not in it:
            out.extend(parse_spec(p) for p in split_top_level(it))
        else:
            out.append(parse_spec(it))
    return out
