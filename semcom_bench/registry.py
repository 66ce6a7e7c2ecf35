"""Registries of methods, channels, metrics and data sets.

One decorator registers a component with its metadata; an unknown name fails with a
"did you mean" suggestion and the list of what exists. Component modules are listed in
:mod:`semcom_bench.catalog` and imported on first use, so heavy dependencies load only when
a component is actually asked for. Installed packages add components through the
``semcom_bench.plugins`` entry-point group: each entry point names a module whose import
registers them (``[project.entry-points."semcom_bench.plugins"] mine = "my_package.module"``).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from semcom_bench.components import Component, Param, RunContext, check_params, parameter_table, parameters_of
from semcom_bench.errors import UserError


@dataclass(frozen=True)
class Entry:
    """One registered component.

    Attributes:
        name: the name users type (lower-case, dashes).
        factory: the component class (its constructor signature gives the parameters, see
            :mod:`semcom_bench.components`) or a factory function.
        version: bumped whenever outputs change; part of every cache key.
        summary: one line for ``semcom-bench list``.
        meta: free metadata shown by ``list`` (e.g. ``lower_better``, ``weights``).
        aliases: other accepted names.
        origin: the module that registered it (a plugin's module for plugin components).
    """

    name: str
    factory: Callable[..., Any]
    version: str
    summary: str
    meta: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    origin: str = ""

    @property
    def is_class(self) -> bool:
        """A :class:`~semcom_bench.components.Component` class (built with the run context)."""
        return inspect.isclass(self.factory) and issubclass(self.factory, Component)

    def parameters(self) -> list[Param]:
        return parameters_of(self.factory)


class Registry:
    """A named collection of components of one kind ("method", "channel", ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    def register(
        self,
        name: str | None = None,
        *,
        version: str | None = None,
        summary: str,
        aliases: tuple[str, ...] = (),
        **meta: Any,
    ) -> Callable[[Any], Any]:
        """Decorator: register a component class (or factory function) under ``name``.

        For a class, ``name`` and ``version`` default to its ``name`` and ``version``
        attributes, and its docstring gets the parameter table. Duplicate names are refused.
        """

        def decorate(factory: Any) -> Any:
            key = name or getattr(factory, "name", "")
            ver = version or getattr(factory, "version", "")
            if not key or not ver:
                raise ValueError(f"{self.kind} {factory!r} needs a name and a version")
            for n in (key, *aliases):
                if n in self._entries or n in self._aliases:
                    raise ValueError(f"{self.kind} {n!r} is registered twice")
            listed = {**getattr(factory, "listing", dict)(), **meta}
            self._entries[key] = Entry(key, factory, str(ver), summary, listed, tuple(aliases),
                                       getattr(factory, "__module__", ""))
            for alias in aliases:
                self._aliases[alias] = key
            if inspect.isclass(factory) and issubclass(factory, Component):
                factory.__doc__ = (inspect.cleandoc(factory.__doc__ or "") + "\n\nParameters:\n\n"
                                   + parameter_table(factory))
            return factory

        return decorate

    def unregister(self, name: str) -> None:
        """Remove ``name`` and its aliases (tests that register temporary components)."""
        entry = self._entries.pop(name)
        for alias in entry.aliases:
            self._aliases.pop(alias, None)

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

    def create(self, name: str, context: RunContext | None = None, **params: Any) -> Any:
        """Build the component ``name`` with ``params`` in ``context``.

        A class gets its parameters checked against its signature (a bad name or value is a
        one-line :class:`UserError` naming the parameter and what it accepts) and is built as
        ``cls(context, **params)``; a factory function (data sets, which the context holds)
        is called as ``factory(**params)``, its keyword-only parameters checked the same way.
        """
        entry = self.get(name)
        owner = f"{self.kind} {entry.name!r}"
        if entry.is_class:
            return entry.factory(context, **check_params(entry.factory, params, owner))
        if entry.parameters():  # a factory function with keyword-only, annotated parameters
            return entry.factory(**check_params(entry.factory, params, owner))
        try:
            return entry.factory(**params)
        except TypeError as exc:
            raise UserError(f"bad parameters for {owner}: {exc}") from None

    def build(self, spec: Any, context: RunContext | None = None) -> Any:
        """Build a :class:`~semcom_bench.specs.Spec` (``name`` and ``params``) in ``context``."""
        return self.create(spec.name, context, **spec.params)


methods = Registry("method")
channels = Registry("channel")
metrics = Registry("metric")
datasets = Registry("dataset")

#: entry-point group through which installed packages add components (one module each)
PLUGIN_GROUP = "semcom_bench.plugins"

_loaded = False
plugin_errors: dict[str, str] = {}


def _load_catalog() -> None:
    """Import every component module named in the catalog, then every plugin (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from semcom_bench.catalog import MODULES

    for module in MODULES:
        importlib.import_module(module)
    load_plugins()


def load_plugins() -> list[str]:
    """Import the module of every ``semcom_bench.plugins`` entry point not imported yet.

    A plugin that fails to import is skipped with a one-line warning on stderr (kept in
    :data:`plugin_errors`); the tool's own components still work. Returns the loaded names.
    """
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not break the tool
            plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
            print(f"warning: plugin {ep.name!r} ({ep.value}) failed to load and is skipped: {exc}", file=sys.stderr)
            continue
        loaded.append(ep.name)
    return loaded
