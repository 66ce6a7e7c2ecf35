"""Component specs as users write them: ``name`` or ``name(key=value, key=value)``.

Anything that is not a spec (bad text, unbalanced parentheses, a repeated parameter, a table
without a text ``name``, a value of the wrong type) is a one-line :class:`UserError`; the
parameter values themselves are checked when the component is built
(:func:`semcom_bench.components.check_params`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from semcom_bench.errors import UserError

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: the keys of a component table in a TOML file
TABLE_KEYS = ("name", "params")


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


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def _check_key(key: Any, item: Any) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise UserError(f"bad parameter name {key!r} in {item!r}: write key=value with a name such as steps")
    return key


def _from_table(item: dict[Any, Any]) -> Spec:
    extra = sorted(repr(k) for k in item if k not in TABLE_KEYS)
    if extra:
        raise UserError(f"component table {item!r} has unknown key(s) {', '.join(extra)}; "
                        "write {name = \"lpips\", params = {net = \"vgg\"}}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserError(f"component table {item!r} needs name = \"<component name>\" (text); "
                        "write {name = \"awgn\"}")
    params = item.get("params", {})
    if not isinstance(params, dict):
        raise UserError(f"params of component {name!r} must be a table, got {params!r}; "
                        "write params = {key = value}")
    return Spec(name, {_check_key(k, item): v for k, v in params.items()})


def parse_spec(item: str | dict[str, Any] | Spec) -> Spec:
    """Parse ``"gesco(fds=false,s=2)"`` or a TOML table ``{name=..., params={...}}``."""
    if isinstance(item, Spec):
        return item
    if isinstance(item, dict):
        return _from_table(item)
    if not isinstance(item, str):
        raise UserError(f"cannot read component {item!r}: write a name, name(key=value,...) "
                        "or a table {name = ..., params = {...}}")
    m = _SPEC.match(item)
    if not m or (m.group(2) is not None and not _balanced(m.group(2))):
        raise UserError(f"cannot read component {item!r}: write name or name(key=value,...)")
    params: dict[str, Any] = {}
    if m.group(2):
        for part in split_top_level(m.group(2)):
            if "=" not in part:
                raise UserError(f"cannot read parameter {part!r} in {item!r}: write key=value")
            key, value = part.split("=", 1)
            key = _check_key(key.strip(), item)
            if key in params:
                raise UserError(f"parameter {key} is given twice in {item!r}; give it once")
            params[key] = _parse_value(value)
    return Spec(m.group(1), params)


def parse_specs(items: str | list[Any] | None) -> list[Spec]:
    """Parse a comma-separated string or a list of specs."""
    if items is None:
        return []
    if isinstance(items, (dict, Spec)):
        items = [items]
    if isinstance(items, str):
        items = split_top_level(items)
    if not isinstance(items, (list, tuple)):
        raise UserError(f"cannot read components {items!r}: give a comma-separated text or a list of names")
    out: list[Spec] = []
    for it in items:
        if isinstance(it, str) and "," in it and "(" not in it:
            out.extend(parse_spec(p) for p in split_top_level(it))
        else:
            out.append(parse_spec(it))
    return out
