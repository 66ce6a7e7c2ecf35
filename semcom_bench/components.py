"""Components and their parameters: one constructor signature is the single source.

Every method, channel, metric and data set is a class (or a factory function) whose
constructor takes the run context first and its parameters as keyword-only arguments, each
annotated with its type and a one-line :class:`Doc`::

    class Rayleigh(Channel):
        name = "rayleigh"

        def __init__(self, context: RunContext | None = None, *,
                     block: Annotated[int, Doc("symbols per fading coefficient", low=1)] = 1,
                     equalizer: Annotated[Literal["mmse", "zf"], Doc("equaliser")] = "mmse"):
            super().__init__(context)
            self.block, self.equalizer = block, equalizer

From that signature come the parameter checks with one-line errors (:func:`check_params`),
the cache key (:meth:`Component.params`: each parameter's value as the component stores it
under the same attribute name), ``semcom-bench list``'s option text and the parameter table
appended to the class docstring (:func:`parameter_table`). A subclass that passes
``**kwargs`` on to its base inherits the base's parameters; redeclaring one changes its
default (``sdm`` is ``gesco`` with other defaults).

The run context (device, data set, cache folder, threads) is handed to every component when
it is built, in one place (:func:`semcom_bench.registry.Registry.create`).
"""

from __future__ import annotations

import inspect
import math
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from semcom_bench.errors import UserError

__all__ = ["Doc", "Param", "RunContext", "Component", "parameters_of", "check_params", "parameter_table",
           "resolve_device", "Annotated", "Literal"]


# --------------------------------------------------------------------------------------------
# the run context
# --------------------------------------------------------------------------------------------


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is present, else 'cpu'; an unusable device is a UserError.

    The only place the package decides on a device: components read ``context.device``.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA GPU is visible here; use --device cpu or auto")
    if not (device == "cpu" or device.startswith("cuda")):
        raise UserError(f"--device {device!r} is not known; use cpu, cuda, cuda:N or auto")
    return device


@dataclass(frozen=True)
class RunContext:
    """What every component of a run shares, handed over when it is built.

    Attributes:
        device: a resolved torch device ("cpu", "cuda", "cuda:N"); see :func:`resolve_device`.
        dataset: the data set being sent (its label space: ``num_classes``), or None.
        cache_dir: the run's cache folder (set-level metrics keep reference statistics there).
        threads: torch CPU threads of the run, or None for torch's default.
    """

    device: str = "cpu"
    dataset: Any = None
    cache_dir: Path | None = None
    threads: int | None = None

    @property
    def num_classes(self) -> int | None:
        """Size of the data set's label space, or None without a labelled data set."""
        n = getattr(self.dataset, "num_classes", None)
        return int(n) if n else None


def default_threads() -> int:
    """``$SEMCOM_THREADS`` or every core."""
    return int(os.environ.get("SEMCOM_THREADS", 0)) or (os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    """The one-line documentation of a parameter, and its numeric range if it has one.

    Attributes:
        text: one line: what the parameter does (and its unit: dB, linear, pixels...).
        low, high: inclusive bounds of a numeric parameter, or None.
    """

    text: str
    low: float | None = None
    high: float | None = None


_NO_DEFAULT = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    """One parameter of a component, read from its constructor signature.

    Attributes:
        name: the keyword users write.
        kind: ``bool``, ``int``, ``float``, ``str``, ``Path`` or ``Any`` (no check).
        default: the default value (``inspect.Parameter.empty`` if required).
        doc: the one-line :class:`Doc`.
        choices: the accepted values of a ``Literal`` parameter, else None.
        optional: None is accepted.
        alternatives: further accepted kinds of a union such as ``int | str``.
    """

    name: str
    kind: Any
    default: Any
    doc: Doc
    choices: tuple[Any, ...] | None = None
    optional: bool = False
    alternatives: tuple[Any, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT

    def type_text(self) -> str:
        if self.choices is not None:
            text = "|".join(_show(c) for c in self.choices)
        else:
            text = " | ".join(_kind_name(k) for k in (self.kind, *self.alternatives))
        return text + (" | none" if self.optional else "")

    def describe(self) -> str:
        """``name=default (type): doc``, the option text of ``semcom-bench list``."""
        default = "required" if self.required else _show(self.default)
        return f"{self.name}={default} ({self.type_text()}): {self.doc.text}"

    def check(self, value: Any, owner: str) -> Any:
        """``value`` converted to this parameter's kind, or a one-line UserError naming it."""
        if self.optional or self.default is None:
            if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
                return None
        for kind in (self.kind, *self.alternatives):
            try:
                out = _convert(value, kind)
            except (TypeError, ValueError):
                continue
            break
        else:
            raise UserError(f"parameter {self.name} of {owner} must be {self._expected()}, got {value!r}")
        if self.choices is not None and out not in self.choices:
            raise UserError(f"parameter {self.name} of {owner} must be one of "
                            f"{', '.join(_show(c) for c in self.choices)}; got {value!r}")
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            if (self.doc.low is not None and out < self.doc.low) or (self.doc.high is not None and out > self.doc.high):
                raise UserError(f"parameter {self.name} of {owner} must be in [{_show(self.doc.low)}, "
                                f"{_show(self.doc.high)}], got {value!r}")
        return out

    def _expected(self) -> str:
        names = {bool: "true or false", int: "an integer", float: "a finite number", str: "text",
                 Path: "a path"}
        text = " or ".join(names.get(k, _kind_name(k)) for k in (self.kind, *self.alternatives))
        return text + (" or none" if self.optional else "")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def _kind_name(kind: Any) -> str:
    return "any" if kind is Any else getattr(kind, "__name__", str(kind)).lower()


def _convert(value: Any, kind: Any) -> Any:
    """``value`` as ``kind``; TypeError/ValueError when it is not one."""
    if kind is Any:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise TypeError
    if kind is int:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise TypeError
    if kind is float:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, str):
            value = float(value.strip())
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
        raise ValueError
    if kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise TypeError
    if kind is Path:
        if isinstance(value, (str, Path)):
            return str(value)
        raise TypeError
    raise TypeError(f"unsupported parameter kind {kind!r}")


def _unpack(annotation: Any) -> tuple[Any, Doc, tuple[Any, ...] | None, bool, tuple[Any, ...]]:
    """(kind, doc, choices, optional, alternatives) of an ``Annotated[type, Doc(...)]`` annotation."""
    doc = Doc("")
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        doc = next((e for e in extra if isinstance(e, Doc)), doc)
        annotation = base
    optional = False
    kinds: list[Any] = [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(kinds) < len(get_args(annotation))
    choices = None
    if len(kinds) == 1 and get_origin(kinds[0]) is Literal:
        choices = tuple(get_args(kinds[0]))
        kinds = [type(choices[0])]
    return kinds[0], doc, choices, optional, tuple(kinds[1:])


def parameters_of(target: Any) -> list[Param]:
    """The parameters of a component class (its ``__init__`` along the MRO) or factory function.

    Keyword-only arguments are the parameters; the first positional one is the run context.
    A class that forwards ``**kwargs`` to its base inherits the base's parameters; a name it
    declares itself overrides the base's (its default wins).
    """
    functions = []
    if inspect.isclass(target):
        for klass in target.__mro__:
            if "__init__" in vars(klass) and klass is not object:
                functions.append(vars(klass)["__init__"])
    else:
        functions.append(target)
    seen: dict[str, Param] = {}
    for fn in functions:
        hints = typing.get_type_hints(fn, include_extras=True)
        sig = inspect.signature(fn)
        for p in sig.parameters.values():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.name in seen:
                continue
            kind, doc, choices, optional, alternatives = _unpack(hints.get(p.name, Any))
            seen[p.name] = Param(p.name, kind, p.default, doc, choices, optional, alternatives)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
            break  # the base's parameters are not reachable from here
    return list(seen.values())


def check_params(target: Any, params: dict[str, Any], owner: str) -> dict[str, Any]:
    """``params`` checked and converted against ``target``'s parameters (one-line UserErrors).

    ``owner`` names the component in messages, e.g. ``"method 'gesco'"``.
    """
    known = {p.name: p for p in parameters_of(target)}
    unknown = sorted(set(params) - set(known))
    if unknown:
        listed = ", ".join(known) if known else "none"
        raise UserError(f"{owner} has no parameter {', '.join(unknown)}; its parameters: {listed}")
    out = {name: known[name].check(value, owner) for name, value in params.items()}
    missing = [p.name for p in known.values() if p.required and p.name not in out]
    if missing:
        raise UserError(f"{owner} needs parameter {', '.join(missing)}: write {missing[0]}=... in its spec")
    return out


def parameter_table(target: Any) -> str:
    """A Markdown table of ``target``'s parameters (name, default, accepted values, meaning)."""
    params = parameters_of(target)
    if not params:
        return "This component takes no parameters."
    lines = ["| parameter | default | accepts | meaning |", "|---|---|---|---|"]
    for p in params:
        default = "required" if p.required else f"`{_show(p.default)}`"
        lines.append(f"| `{p.name}` | {default} | {p.type_text()} | {p.doc.text} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the base class
# --------------------------------------------------------------------------------------------


class Component:
    """Base of every registered class: a name, a version, the run context and its parameters.

    Attributes:
        name: the registry name users type.
        version: bumped whenever outputs change; part of every cache key.
        speed_only: parameters that change speed but not outputs (left out of the cache key).
        added_later: parameters added after the component's cache keys were in use: left out of
            the key while at their default, so images cached before them stay valid.
        context: the :class:`RunContext` the component was built with.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    speed_only: ClassVar[tuple[str, ...]] = ()
    added_later: ClassVar[tuple[str, ...]] = ()

    def __init__(self, context: RunContext | None = None):
        self.context = context if context is not None else RunContext()

    @property
    def device(self) -> str:
        return self.context.device

    @property
    def dataset(self) -> Any:
        return self.context.dataset

    @classmethod
    def parameters(cls) -> list[Param]:
        return parameters_of(cls)

    def params(self) -> dict[str, Any]:
        """Parameters that change the output (part of the cache key), as stored on ``self``."""
        return {p.name: getattr(self, p.name) for p in self.parameters() if p.name not in self.speed_only
                and not (p.name in self.added_later and getattr(self, p.name) == p.default)}
