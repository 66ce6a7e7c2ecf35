"""``run --executor ray``: the run's work units as Ray tasks, on a local instance or a cluster.

The head process (the one running ``semcom-bench run``) does what the local executor's run
does up to the work itself: it builds the components, expands the cells, checks the cache
and cuts the work into units (:mod:`semcom_bench.runner`). Each unit becomes one Ray task:

- generation: one fixed batch of one cell (:func:`semcom_bench.runner.generate_batch`);
- scoring: one metric over one cell (:func:`semcom_bench.runner.score_unit`).

A task receives the run's config (specs, never live torch objects), the cell's method and
channel labels, SNR and seed, and sample indices. The worker builds the data set and the
components itself (kept between the tasks of one run in the same worker process), selects
the samples by index, checks that it computes the same cache keys as the head (the same
semcom-bench, weights and data on every node), runs the same function as the local executor
with the run's torch thread count, writes into the cache and returns only counts and rows.

Cache writes are atomic and idempotent (:mod:`semcom_bench.cache`): a retried or duplicated
task rewrites the same bytes, and a lost one is redone by the next run. Tasks are retried by
Ray when their worker or node dies (``max_retries``); an exception raised by the task itself
is not retried. Each task asks for the run's thread count of CPUs and, on a GPU device, one
GPU (Ray then gives the task one GPU as ``cuda``).

The cache must be the same folder for every node (a shared file system mounted at the same
path): the head writes a random id into ``<cache>/.semcom-cache-id`` and every task checks it.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from semcom_bench.cache import Cache, umask
from semcom_bench.components import RunContext, default_threads
from semcom_bench.config import RunConfig
from semcom_bench.errors import UserError
from semcom_bench.hashing import hash_obj

#: how many times Ray reruns a task whose worker process or node died
MAX_RETRIES = 3
#: seconds between two looks at the finished tasks (the progress bar's refresh)
WAIT_S = 0.5
#: the file in the cache folder that tells a worker it sees the head's cache
CACHE_ID = ".semcom-cache-id"
#: environment variables passed on to every task (the run's own settings, e.g. $SEMCOM_WEIGHTS) ...
ENV_PREFIX = "SEMCOM_"
#: ... except those the head has already decided (the cache folder and the thread count travel with the job)
ENV_DECIDED = ("SEMCOM_CACHE", "SEMCOM_THREADS")


# --------------------------------------------------------------------------------------------
# what travels to the workers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Everything a task needs besides its unit: put once into Ray's object store per run.

    Attributes:
        run_id: random, names the run (workers rebuild their components when it changes).
        config: the run's config (specs and settings).
        threads: torch CPU threads of every task (the run's thread count).
        device: the device of the tasks: "cpu" or "cuda" (the GPU Ray gives the task).
        modules: modules that registered the run's components outside semcom-bench (plugins,
            tests): workers import them first.
        cache_id: the content of ``<cache>/.semcom-cache-id`` as the head read it.
    """

    run_id: str
    config: RunConfig
    threads: int
    device: str
    modules: tuple[str, ...] = ()
    cache_id: str = ""


@dataclass(frozen=True)
class CellRef:
    """A cell by its labels: what a task gets instead of the cell's live objects."""

    method: str
    channel: str
    snr_db: float
    seed: int

    @classmethod
    def of(cls, cell: Any) -> "CellRef":
        return cls(cell.method_spec.label, cell.channel_spec.label, float(cell.snr_db), int(cell.seed))

    def __str__(self) -> str:
        return f"{self.method} / {self.channel} at {self.snr_db:g} dB, seed {self.seed}"


# --------------------------------------------------------------------------------------------
# the head's side
# --------------------------------------------------------------------------------------------


class RayExecutor:
    """Runs the units as Ray tasks; see the module docstring.

    Joins the cluster at ``config.address`` (``auto``: the one started on this machine with
    ``ray start``), or without an address starts a local instance with every core (at least
    the run's thread count) and stops it at the end. A Ray connection already made in this
    process (``ray.init`` by the caller) is used as it is and left open.
    """

    name = "ray"

    def __init__(self, config: RunConfig, max_retries: int = MAX_RETRIES):
        self.config = config
        self.threads = int(config.threads or default_threads())
        self.max_retries = int(max_retries)
        self._started = False
        self._job: Any = None

    # --- start and stop ------------------------------------------------------------------------

    def __enter__(self) -> "RayExecutor":
        import ray

        if not ray.is_initialized():
            address = self.config.address
            options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
            if address in (None, "local"):  # "local": a new instance even where $RAY_ADDRESS or a cluster exists
                address = "local"
                options.update(num_cpus=max(os.cpu_count() or 1, self.threads), include_dashboard=False)
            try:
                ray.init(address=address, **options)
            except (ConnectionError, TimeoutError, ValueError) as exc:
                raise UserError(f"cannot join the Ray cluster at --address {address} ({_first_line(exc)}); start one "
                                "with 'ray start --head', or leave --address out to start a local instance") from None
            self._started = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def _largest_node(self) -> tuple[float, float]:
        """(CPUs, GPUs) of the largest live node of the cluster."""
        import ray

        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        return (max((r.get("CPU", 0.0) for r in nodes), default=0.0), max((r.get("GPU", 0.0) for r in nodes), default=0.0))

    def resolve_device(self, device: str) -> str:
        """'auto' -> 'cuda' when a node of the cluster has a GPU, else 'cpu'; 'cuda:N' -> 'cuda'
        (each task is given one GPU by Ray). Also checks that one task fits on a node."""
        cpus, gpus = self._largest_node()
        if cpus < self.threads:
            raise UserError(f"no node of the Ray cluster has {self.threads} CPUs for one task of {self.threads} torch "
                            f"threads (the largest has {cpus:g}); pass --threads {max(1, int(cpus))} or fewer")
        if device == "auto":
            return "cuda" if gpus >= 1 else "cpu"
        if device.startswith("cuda"):
            if gpus < 1:
                raise UserError(f"--device {device}: no node of the Ray cluster has a GPU; use --device cpu or auto")
            return "cuda"
        if device != "cpu":
            raise UserError(f"--device {device!r} is not known; use cpu, cuda, cuda:N or auto")
        return device

    def _job_ref(self, cache: Cache) -> Any:
        import ray

        if self._job is None:
            device = "cuda" if self.config.device.startswith("cuda") else "cpu"
            root = Path(os.path.abspath(cache.root))  # workers have their own working folders
            config = replace(self.config, cache_dir=root)
            job = Job(uuid.uuid4().hex, config, self.threads, device, _component_modules(config), cache_identity(root))
            self._job = ray.put(job)
        return self._job

    def _options(self) -> dict[str, Any]:
        """What every task asks for: the run's thread count of CPUs, one GPU on a GPU device,
        retries when its worker dies (not when it raises), and its environment."""
        return {
            "num_cpus": self.threads,
            "num_gpus": 1 if self.config.device.startswith("cuda") else 0,
            "max_retries": self.max_retries,
            "retry_exceptions": False,
            "runtime_env": {"env_vars": self._env()},
        }

    def _env(self) -> dict[str, str]:
        """The tasks' environment: this process's ``$SEMCOM_*`` settings, and on ``PYTHONPATH`` the
        folders this process imported semcom-bench and the run's plugin modules from (source
        checkouts; an installed package is left to each node's own installation)."""
        import semcom_bench

        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX) and k not in ENV_DECIDED}
        roots = [_import_root("semcom_bench", semcom_bench.__file__)]
        roots += [_import_root(m) for m in _component_modules(self.config)]
        installed = {os.path.realpath(p) for p in _site_folders()}
        folders = list(dict.fromkeys(r for r in roots if r and os.path.realpath(r) not in installed))
        if folders:
            env["PYTHONPATH"] = os.pathsep.join([*folders, "${PYTHONPATH}"])
        return env

    # --- the two phases ------------------------------------------------------------------------

    def generate(self, units: list[Any], cache: Cache, tally: dict[str, int], advance: Callable[[int], None]) -> int:
        import ray

        if not units:
            return 0
        job = self._job_ref(cache)
        task = ray.remote(**self._options())(_generate_task)
        refs, what = [], []
        for u in units:
            cell = CellRef.of(u.cell)
            label = f"batch {u.part.start}..{u.part.stop - 1} of {cell}"
            refs.append(task.options(name=f"generate {label}").remote(job, cell, (u.part.start, u.part.stop), u.keys,
                                                                     u.status))
            what.append(label)
        written = 0

        def done(i: int, result: tuple[int, dict[str, int]]) -> None:
            nonlocal written
            n, found = result
            _add(tally, found)
            written += n
            advance(n)

        self._collect(refs, what, done)
        return written

    def score(self, units: list[Any], cache: Cache, batch_size: int, tally: dict[str, int],
              advance: Callable[[int], None]) -> list[list[dict[str, Any]]]:
        import ray

        if not units:
            return []
        job = self._job_ref(cache)
        task = ray.remote(**self._options())(_score_task)
        hashes_of: dict[int, Any] = {}
        metric_keys: dict[str, str] = {}
        refs, what = [], []
        for u in units:
            cell = CellRef.of(u.cell)
            key = id(u.samples)
            if key not in hashes_of:  # one list per sample list (the cells of a run share theirs)
                hashes_of[key] = ray.put([s.content_hash for s in u.samples])
            if u.spec.label not in metric_keys:
                metric_keys[u.spec.label] = hash_obj(u.metric.identity())
            label = f"metric {u.spec.label} of {cell}"
            refs.append(task.options(name=f"score {label}")
                        .remote(job, cell, u.spec.label, metric_keys[u.spec.label], u.sample_keys, hashes_of[key],
                                u.keys, u.pngs, batch_size))
            what.append(label)
        out: list[list[dict[str, Any]]] = [[] for _ in units]

        def done(i: int, result: tuple[list[dict[str, Any]], dict[str, int]]) -> None:
            rows, found = result
            _add(tally, found)
            out[i] = rows
            advance(1)

        self._collect(refs, what, done)
        return out

    def _collect(self, refs: list[Any], what: list[str], done: Callable[[int, Any], None]) -> None:
        """Wait for every task, calling ``done(i, result)`` as each finishes (in any order)."""
        import ray

        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=WAIT_S)
                for ref in ready:
                    i = index[ref]
                    done(i, self._result(ref, what[i]))
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # already finished or gone: nothing to cancel
                    pass
            raise

    def _result(self, ref: Any, what: str) -> Any:
        import ray
        from ray.exceptions import RayError, RayTaskError

        try:
            return ray.get(ref)
        except RayTaskError as exc:
            if isinstance(exc.cause, UserError):
                raise UserError(str(exc.cause)) from None
            raise
        except RayError as exc:
            raise UserError(f"{what} failed on the Ray cluster after {self.max_retries} retries "
                            f"({type(exc).__name__}: {_first_line(exc)}); finished work is cached: run the same "
                            "command again to resume") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _add(tally: dict[str, int], found: dict[str, int]) -> None:
    for k in ("corrupt", "corrupt_values", "batch_mismatch"):
        tally[k] = tally.get(k, 0) + int(found.get(k, 0))


def _component_modules(config: RunConfig) -> tuple[str, ...]:
    """The modules outside semcom-bench that registered a component of the run (plugins, tests).

    Workers import these before building anything (a component registers itself when its
    module is imported). A component registered in the script being run cannot reach them.
    """
    from semcom_bench import registry

    kinds = [(registry.datasets, [config.dataset]), (registry.methods, config.methods),
             (registry.channels, config.channels), (registry.metrics, config.metrics)]
    found: list[str] = []
    for reg, specs in kinds:
        for spec in specs:
            entry = reg.get(spec.name)
            module = entry.origin
            if not module or module == "semcom_bench" or module.startswith("semcom_bench.") or module in found:
                continue
            if module == "__main__":
                raise UserError(f"{reg.kind} {entry.name} is registered in the script being run, which Ray workers "
                                "cannot import; register it in a module of its own and import that module")
            found.append(module)
    return tuple(sorted(found))


def _import_root(module: str, file: str | None = None) -> str:
    """The sys.path folder ``module`` was imported from ('' when unknown)."""
    file = file or getattr(sys.modules.get(module), "__file__", None)
    if not file:
        return ""
    path = Path(file).resolve()
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return str(path.parents[depth]) if depth < len(path.parents) else ""


def _site_folders() -> list[str]:
    """The folders installed packages live in."""
    import site
    import sysconfig

    folders = [sysconfig.get_paths().get(k, "") for k in ("purelib", "platlib")]
    try:
        folders += site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:  # some virtual environments lack these
        pass
    return [f for f in folders if f]


def cache_identity(root: Path) -> str:
    """The random id in ``root/.semcom-cache-id``, written once (never replaced) by the first run that needs it."""
    path = Path(root) / CACHE_ID
    try:
        text = path.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror or exc}); check the permissions of the cache folder") from None
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{CACHE_ID}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(uuid.uuid4().hex + "\n")
        try:
            os.chmod(tmp, 0o666 & ~umask())
        except OSError:
            pass
        try:
            os.link(tmp, path)  # never replaces an id another run wrote meanwhile
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return path.read_text().strip()


# --------------------------------------------------------------------------------------------
# the workers' side
# --------------------------------------------------------------------------------------------


#: components built in this worker process, most recently used last (a few, for one run)
_KEEP = 8


@dataclass
class _Worker:
    """What one worker process keeps between the tasks of one run."""

    job: Job
    dataset: Any
    context: RunContext
    cache: Cache
    built: "OrderedDict[tuple[str, str], Any]" = field(default_factory=OrderedDict)

    def component(self, kind: str, label: str) -> Any:
        from semcom_bench import registry

        key = (kind, label)
        if key in self.built:
            self.built.move_to_end(key)
            return self.built[key]
        specs = {"method": self.job.config.methods, "channel": self.job.config.channels,
                 "metric": self.job.config.metrics}[kind]
        spec = next(s for s in specs if s.label == label)
        reg = {"method": registry.methods, "channel": registry.channels, "metric": registry.metrics}[kind]
        self.built[key] = (spec, reg.build(spec, self.context))
        while len(self.built) > _KEEP:
            self.built.popitem(last=False)
        return self.built[key]

    def cell(self, ref: CellRef) -> Any:
        from semcom_bench.runner import Cell

        ms, method = self.component("method", ref.method)
        cs, channel = self.component("channel", ref.channel)
        return Cell(ms, cs, method, channel, float(ref.snr_db), int(ref.seed))


_worker: _Worker | None = None


def _node() -> str:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:
        import socket

        return socket.gethostname()


def _prepare(job: Job) -> _Worker:
    """This process's :class:`_Worker` for ``job`` (built on the run's first task here), checked
    against the head's cache, with the run's torch thread count."""
    global _worker
    import torch

    if _worker is None or _worker.job.run_id != job.run_id:
        from semcom_bench import registry

        for module in job.modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise UserError(f"the Ray worker on {_node()} cannot import {module} ({exc}), which registers a "
                                "component of this run; install it on every node") from None
        dataset = registry.datasets.build(job.config.dataset)
        context = RunContext(device=job.device, dataset=dataset, cache_dir=job.config.cache_dir,
                             threads=job.config.threads)
        _worker = _Worker(job, dataset, context, Cache(job.config.cache_dir))
    root = _worker.cache.root
    try:
        seen = (root / CACHE_ID).read_text().strip()
    except OSError:
        seen = None
    if seen != job.cache_id:
        raise UserError(f"the Ray worker on {_node()} does not see this run's cache folder {root} "
                        f"({'another cache there' if seen else 'no ' + CACHE_ID + ' there'}): put --cache-dir on a "
                        "file system shared by every node, mounted at the same path")
    torch.set_num_threads(job.threads)
    return _worker


def _keys_differ(where: str, cell: CellRef) -> UserError:
    return UserError(f"the Ray worker on {_node()} computes other cache keys than the head for {where} of {cell}: "
                     "install the same semcom-bench version, weights and data on every node")


def _generate_task(job: Job, ref: CellRef, part: tuple[int, int], keys: list[str],
                   status: list[str]) -> tuple[int, dict[str, int]]:
    """One fixed batch of one cell: (images written, what was found wrong in the cache)."""
    from semcom_bench.runner import BatchUnit, generate_batch, new_tally

    w = _prepare(job)
    cell = w.cell(ref)
    span = range(*part)
    samples = [w.dataset[i] for i in span]
    if [cell.image_key(s) for s in samples] != list(keys):
        raise _keys_differ(f"batch {span.start}..{span.stop - 1}", ref)
    tally = new_tally()
    written = generate_batch(BatchUnit(cell, span, samples, list(keys), list(status)), w.cache, tally)
    return written, tally


class _Samples(Sequence):
    """The run's samples read by index from the worker's data set, each checked against the head's."""

    def __init__(self, dataset: Any, keys: list[str], hashes: list[str]):
        self.dataset, self.keys, self.hashes = dataset, keys, hashes

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        sample = self.dataset[i]
        if sample.key != self.keys[i] or sample.content_hash != self.hashes[i]:
            raise UserError(f"the Ray worker on {_node()} reads another sample {i} of the data set than the head "
                            f"({sample.key} instead of {self.keys[i]}, or other content): give every node the same data")
        return sample


def _score_task(job: Job, ref: CellRef, metric_label: str, metric_key: str, sample_keys: list[str], hashes: list[str],
                keys: list[str], pngs: list[str], batch_size: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One metric over one cell: (its rows, what was found wrong in the cache)."""
    from semcom_bench.runner import ScoreUnit, new_tally, score_unit

    w = _prepare(job)
    cell = w.cell(ref)
    spec, metric = w.component("metric", metric_label)
    if hash_obj(metric.identity()) != metric_key:
        raise _keys_differ(f"metric {metric_label}", ref)
    samples = _Samples(w.dataset, list(sample_keys), list(hashes))
    tally = new_tally()
    rows = score_unit(ScoreUnit(cell, spec, metric, samples, list(sample_keys), list(keys), list(pngs)), w.cache,
                      batch_size, tally)
    return rows, tally


__all__ = ["RayExecutor", "Job", "CellRef", "cache_identity", "MAX_RETRIES"]
