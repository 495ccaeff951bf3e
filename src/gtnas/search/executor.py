"""Where evaluations run: in the driver process, in a local pool of worker processes, or on Ray.

Workers only compute; they never touch the study store (the driver writes every result). A
worker receives a picklable :class:`ContextSpec`, builds its :class:`ProxyContext` once (data
set, teacher) and caches it, then scores genotypes. Proxy scores depend only on (seed,
genotype), so where an evaluation runs does not change its result.

Failure model: an exception inside an evaluation is that evaluation's failure (recorded, the
search goes on); a worker process that dies (killed, out of memory) costs only the
evaluations it held, which are retried up to ``retries`` times on a fresh worker.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import json
import multiprocessing
import os
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch

from gtnas.data import load_dataset
from gtnas.errors import ConfigError
from gtnas.meta.run import teacher_from_run
from gtnas.runtime.cores import usable_cores
from gtnas.runtime.device import resolve_device
from gtnas.runtime.orphans import exit_with_parent
from gtnas.search.proxies import ProxyContext, create_proxy
from gtnas.spaces import create_space, parse_genotype


@dataclass(frozen=True)
class ContextSpec:
    """Everything a worker needs to rebuild the proxy context (picklable, small)."""

    dataset: str
    space: str
    space_options: dict[str, Any]
    blueprint: str | dict[str, Any]
    teacher_dir: str | None = None  # a finished `gtnas teach train` run, for gtn:K
    real_lr: float = 0.05
    real_momentum: float = 0.9
    real_batch_size: int = 128
    eval_examples: int = 2000
    device: str = "cpu"
    threads: int = 1  # torch intra-op threads per worker
    data_root: str | None = None
    train_subset: int = 0  # score on the first N training images only (tests)
    extra: dict[str, Any] = field(default_factory=dict)  # proxy-specific (train:E's recipe)


@dataclass(frozen=True)
class EvaluationTask:
    key: int  # the driver's handle (the study trial number)
    genotype: str  # "<space>:<string>"
    proxies: tuple[str, ...]
    seed: int


@dataclass(frozen=True)
class EvaluationResult:
    key: int
    scores: dict[str, float]
    seconds: dict[str, float]
    error: str | None = None  # set when the evaluation raised


_CONTEXTS: dict[str, Any] = {}  # ContextSpec as JSON -> context (specs hold dicts)


def build_context(spec: ContextSpec) -> Any:
    """The worker-side :class:`ProxyContext` for ``spec`` (cached per process)."""
    key = json.dumps(dataclasses.asdict(spec), sort_keys=True)
    if key in _CONTEXTS:
        return _CONTEXTS[key]

    torch.set_num_threads(spec.threads)
    device = resolve_device(spec.device)
    dataset = load_dataset(spec.dataset, spec.data_root, quiet=True)
    train = (dataset.train.images, dataset.train.labels)
    if spec.train_subset:
        train = (train[0][: spec.train_subset], train[1][: spec.train_subset])
    teacher = None
    if spec.teacher_dir is not None:
        teacher, _ = teacher_from_run(spec.teacher_dir, device=device)
        teacher.eval()
    context = ProxyContext(
        space=create_space(spec.space, spec.space_options),
        blueprint=spec.blueprint,
        image_shape=dataset.image_shape,
        num_classes=dataset.num_classes,
        train=train,
        val=(dataset.val.images, dataset.val.labels),
        teacher=teacher,
        real_lr=spec.real_lr,
        real_momentum=spec.real_momentum,
        real_batch_size=spec.real_batch_size,
        eval_examples=spec.eval_examples,
        device=device,
        dataset=dataset,
        extra=dict(spec.extra),
    )
    _CONTEXTS[key] = context
    return context


def evaluate(spec: ContextSpec, task: EvaluationTask) -> EvaluationResult:
    """Score ``task.genotype`` with each proxy (runs in a worker)."""

    try:
        context = build_context(spec)
        _, genotype = parse_genotype(task.genotype, spec.space_options)
        scores, seconds = {}, {}
        for name in task.proxies:
            result = create_proxy(name).score(genotype, context, task.seed)
            scores[name], seconds[name] = result.score, result.seconds
            # numeric details travel as "<proxy>/<key>" (e.g. a final training's test accuracy)
            for key, value in result.details.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    scores[f"{name}/{key}"] = float(value)
        return EvaluationResult(task.key, scores, seconds)
    except Exception as exc:  # an evaluation failing is data, not a crash
        detail = f"{type(exc).__name__}: {exc}"
        if os.environ.get("GTNAS_DEBUG"):
            detail += "\n" + traceback.format_exc()
        return EvaluationResult(task.key, {}, {}, error=detail)


class Executor(ABC):
    """Submit evaluations, collect finished ones (in completion order)."""

    workers: int

    @abstractmethod
    def submit(self, task: EvaluationTask) -> None: ...

    @abstractmethod
    def wait(self) -> list[EvaluationResult]:
        """Block until at least one submitted evaluation is done; return all that are."""

    @abstractmethod
    def pending(self) -> int: ...

    def close(self) -> None:  # noqa: B027 - optional
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineExecutor(Executor):
    """Evaluate in the driver process, one at a time (``--workers 1``; deterministic order)."""

    workers = 1

    def __init__(self, spec: ContextSpec) -> None:
        self.spec = spec
        self._queue: list[EvaluationTask] = []

    def submit(self, task: EvaluationTask) -> None:
        self._queue.append(task)

    def wait(self) -> list[EvaluationResult]:
        return [evaluate(self.spec, self._queue.pop(0))] if self._queue else []

    def pending(self) -> int:
        return len(self._queue)


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)
    exit_with_parent()  # a killed driver leaves no worker training on (gtnas.runtime.orphans)


class ProcessExecutor(Executor):
    """A local pool of worker processes (spawned: no state shared with the driver)."""

    def __init__(self, spec: ContextSpec, workers: int, retries: int = 2) -> None:
        self.spec, self.workers, self.retries = spec, workers, retries
        self._futures: dict[futures.Future, EvaluationTask] = {}
        self._attempts: dict[int, int] = {}
        self._pool = self._new_pool()

    def _new_pool(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(self.spec.threads,),
        )

    def submit(self, task: EvaluationTask) -> None:
        self._futures[self._pool.submit(evaluate, self.spec, task)] = task

    def wait(self) -> list[EvaluationResult]:
        if not self._futures:
            return []
        done, _ = futures.wait(self._futures, return_when=futures.FIRST_COMPLETED)
        results, resubmit, broken = [], [], False
        for future in done:
            task = self._futures.pop(future)
            try:
                results.append(future.result())
            except futures.process.BrokenProcessPool:
                broken = True
                resubmit.append(task)
        if broken:
            # A worker died: the pool is unusable. Requeue every evaluation it held on a fresh
            # pool; each keeps a retry count so a genotype that kills workers cannot loop.
            resubmit += list(self._futures.values())
            self._futures.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            for task in resubmit:
                attempts = self._attempts.get(task.key, 0) + 1
                self._attempts[task.key] = attempts
                if attempts > self.retries:
                    results.append(
                        EvaluationResult(task.key, {}, {}, error="worker died (retries spent)")
                    )
                else:
                    self.submit(task)
        return results

    def pending(self) -> int:
        return len(self._futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor(Executor):
    """Evaluations as Ray tasks: local (``address=None`` starts Ray here) or on a cluster.

    Each task asks for ``spec.threads`` CPUs and, on CUDA, one GPU; Ray retries a task whose
    worker died (``max_retries``). The dashboard is off unless asked for, and binds to
    localhost when on.
    """

    def __init__(
        self,
        spec: ContextSpec,
        *,
        address: str | None = None,
        workers: int | None = None,
        retries: int = 2,
        dashboard: bool = False,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "Ray is not installed; pip install 'gtnas[ray]' (or run without --ray)"
            ) from None
        self._ray = ray
        self.spec = spec
        if not ray.is_initialized():
            if address is None:
                ray.init(
                    num_cpus=workers or usable_cores(),
                    include_dashboard=dashboard,
                    dashboard_host="127.0.0.1",
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        resources = ray.cluster_resources()
        self.workers = workers or max(1, int(resources.get("CPU", 1)) // max(1, spec.threads))
        gpus = 1 if spec.device.startswith("cuda") else 0
        self._remote = ray.remote(num_cpus=spec.threads, num_gpus=gpus, max_retries=retries)(
            evaluate
        )
        self._spec_ref = ray.put(spec)
        self._refs: dict[Any, EvaluationTask] = {}

    def submit(self, task: EvaluationTask) -> None:
        self._refs[self._remote.remote(self._spec_ref, task)] = task

    def wait(self) -> list[EvaluationResult]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1)
        results = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                results.append(self._ray.get(ref))
            except Exception as exc:  # retries spent: this evaluation failed
                results.append(EvaluationResult(task.key, {}, {}, error=f"ray: {exc}"))
        return results

    def pending(self) -> int:
        return len(self._refs)


def create_executor(
    spec: ContextSpec,
    *,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
) -> Executor:
    if ray or ray_address:
        return RayExecutor(spec, address=ray_address, workers=workers if workers > 1 else None)
    if workers <= 1:
        return InlineExecutor(spec)
    return ProcessExecutor(spec, workers)
