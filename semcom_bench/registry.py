"""Registries of methods, channels, metrics and data sets.

One decorator registers a component with its metadata; an unknown name fails with a
"did you mean" suggestion and the list of what exists. Component modules are listed in
:mod:`semcom_bench.catalog` and imported on first use, so heavy dependencies load only when
a component is actually asked for.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from semcom_bench.errors import UserError


@dataclass(frozen=True)
class Entry:
    """One registered component.

    Attributes:
        name: the name users type (lower-case, dashes).
        factory: callable building the component from keyword parameters.
        version: bumped whenever outputs change; part of every cache key.
        summary: one line for ``semcom-bench list``.
        meta: free metadata shown by ``list`` (e.g. ``lower_better``, ``weights``).
        aliases: other accepted names.
    """

    name: str
    factory: Callable[..., Any]
    version: str
    summary: str
    meta: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


class Registry:
    """A named collection of components of one kind ("method", "channel", ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    def register(
        self,
        name: str,
        *,
        version: str,
        summary: str,
        aliases: tuple[str, ...] = (),
        **meta: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register ``factory`` under ``name``. Duplicate names are refused."""

        def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
            for n in (name, *aliases):
                if n in self._entries or n in self._aliases:
                    raise ValueError(f"{self.kind} {n!r} is registered twice")
            self._entries[name] = Entry(name, factory, version, summary, dict(meta), tuple(aliases))
            for alias in aliases:
                self._aliases[alias] = name
            return factory

        return decorate

    def names(self) -> list[str]:
        _load_catalog()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        _load_catalog()
        return [self._entries[n] for n in sorted(self._entries)]

    def get(self, name: str) -> Entry:
        """Return the entry for ``name`` or raise a one-line :class:`UserError`."""
        _load_catalog()
        name = self._aliases.get(name, name)
        if name in self._entries:
            return self._entries[name]
        known = sorted(self._entries) + sorted(self._aliases)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(
            f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(sorted(self._entries))}."
        )

    def create(self, name: str, **params: Any) -> Any:
        """Build the component ``name`` with ``params``; bad parameters are a :class:`UserError`."""
        entry = self.get(name)
        try:
            return entry.factory(**params)
        except TypeError as exc:
            raise UserError(f"bad parameters for {self.kind} {entry.name!r}: {exc}") from None


methods = Registry("method")
channels = Registry("channel")
metrics = Registry("metric")
datasets = Registry("dataset")

_loaded = False


def _load_catalog() -> None:
    """Import every component module named in the catalog (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from semcom_bench.catalog import MODULES

    for module in MODULES:
        importlib.import_module(module)
