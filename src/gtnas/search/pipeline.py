"""GTN-NAS end to end (the paper's recipe, section "GTN-NAS"):

1. a teacher meta-trained with learners sampled from the search space (or a given one);
2. the search: a strategy proposes, a proxy scores, the study records;
   - or, with a ``scheduler`` (``sh``, ``asha``, ``hyperband``), a ladder of proxies from
     ``proxy`` up through ``ladder``, climbed by the best 1/eta of each rung
     (:mod:`gtnas.search.ladder`);
3. optionally, the top fraction re-scored with a more expensive proxy (multi-fidelity);
4. the top-k (by the last proxy that scored them) trained on real data with the final recipe;
5. the best by VALIDATION accuracy exported (test accuracy is reported, never used to choose).

Every stage is resumable: the teacher run and the final trainings checkpoint, the study keeps
every evaluation, and a stage whose result is on record is not run again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gtnas.config import config_from_dict, config_to_dict
from gtnas.data import load_dataset
from gtnas.errors import GtnasError, OutOfTime
from gtnas.export.bundle import read_network, save_loaded
from gtnas.export.onnx import export_verified
from gtnas.meta.fresh_learners import tune_real_lr
from gtnas.meta.run import TeachRunConfig, meta_training_seconds, run_meta_training
from gtnas.meta.run_assessment import EVAL_FILE, assess_run
from gtnas.runtime.cores import usable_cores
from gtnas.runtime.files import atomic_write_text
from gtnas.runtime.run_folder import RunFolder
from gtnas.search.calibration import calibrate, calibration_truth_config
from gtnas.search.executor import ContextSpec, EvaluationTask, create_executor, evaluate
from gtnas.search.ladder import create_scheduler, run_ladder
from gtnas.search.proxies import create_proxy
from gtnas.search.proxies.population import (
    finite_parts,
    is_set_proxy,
    plain_proxies,
    population_scores,
)
from gtnas.search.runner import SearchProgress, run_search
from gtnas.search.search_config import SearchConfig, SearchTeacherConfig, default_study_name
from gtnas.search.strategies import create_strategy
from gtnas.search.study import Study, TrialRecord, default_storage
from gtnas.spaces import create_space, parse_genotype
from gtnas.spaces.sampler import SpaceLearnerSampler
from gtnas.teachers.store import META as TEACHER_FILE
from gtnas.training.trainer import train_network

CALIBRATION_RESULT = "calibration"  # the study's record of the ranking teacher's calibration

__all__ = [  # the configs live in gtnas.search.search_config; imported from here as before
    "SearchConfig",
    "SearchOutcome",
    "SearchPipeline",
    "SearchTeacherConfig",
    "default_study_name",
]


@dataclass
class SearchOutcome:
    study: Study
    folder: Path
    progress: SearchProgress
    top: list[TrialRecord]
    finals: dict[int, dict[str, Any]]  # trial -> final-training result
    best: int | None  # trial number of the exported architecture
    export_dir: Path | None


Hooks = dict[str, Callable[..., Any]]


class SearchPipeline:
    """Runs (or resumes) one study's stages. ``out``/<study> holds its files."""

    def __init__(
        self,
        study_name: str,
        out: Path,
        *,
        config: SearchConfig | None,
        storage: str | None = None,
        ray: bool = False,
        ray_address: str | None = None,
        show_progress: bool = True,
        hooks: Hooks | None = None,
    ) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.storage = storage or default_storage(self.out)
        given = config_to_dict(config) if config is not None else None
        space_name = config.space if config is not None else None
        sizes = {}
        if space_name is not None:
            space = create_space(space_name, config.space_options)  # type: ignore[union-attr]
            sizes = {d.name: len(d) for d in space.decisions()}
        self.study = Study.open(study_name, self.storage, config=given, decision_sizes=sizes)
        stored = self.study.config
        if given is not None:
            # resumable knobs (budget, workers, top_k...) may change; fixed ones were checked
            stored = {**stored, **given}
        self.config = config_from_dict(SearchConfig, stored)
        self.space = create_space(self.config.space, self.config.space_options)
        if not sizes:  # opened by name only: now we know the space
            self.study = Study.open(
                study_name,
                self.storage,
                config=None,
                decision_sizes={d.name: len(d) for d in self.space.decisions()},
            )
        self.folder = self.out / study_name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ray, self.ray_address = ray, ray_address
        self.show_progress = show_progress
        self.hooks = hooks or {}

    def study_progress(self) -> int:
        """Finished evaluations on record (what the budget counts)."""
        return sum(
            r.state in ("COMPLETE", "FAIL") and r.error != "interrupted"
            for r in self.study.records()
        )

    # -- stage 1: the teacher ----------------------------------------------------------------
    def teacher_dir(self) -> str | None:
        if not self.config.needs_teacher():
            return None
        if self.config.teacher.run:
            return self.config.teacher.run

        t = self.config.teacher
        run_dir = self.folder / "teacher"
        run_config = TeachRunConfig(
            dataset=self.config.dataset,
            teacher=t.teacher,
            learner=self.config.space,
            blueprint=self.config.blueprint,
            space_options=dict(self.config.space_options),
            seed=self.config.seed,
            device=self.config.device,
            teacher_options=t.teacher_options(),
            meta=t.meta_options(),
            calibration=self.calibration(),
        )
        if not (run_dir / TEACHER_FILE).is_file():
            resume = RunFolder(run_dir, command="gtnas teach train").holds_run()
            self._hook("stage", f"meta-training the teacher in {run_dir}")
            done = run_meta_training(run_config, run_dir, resume=resume,
                                     show_progress=self.show_progress,
                                     out_of_time=self._setup_clock())  # fmt: skip
            if not (run_dir / TEACHER_FILE).is_file():
                self._out_of_time(
                    f"meta-training the teacher (iteration {done.iterations} of "
                    f"{t.iterations}, checkpointed in {run_dir})"
                )
        return str(run_dir)

    def _setup_clock(self) -> Callable[[], bool] | None:
        """``out_of_time()`` for a set-up stage starting now: true once the search's time
        budget is spent (what earlier stages and sessions spent counted); None without one."""
        if self.config.time_budget is None:
            return None
        deadline = time.monotonic() + self.config.time_budget - self.elapsed()
        return lambda: time.monotonic() >= deadline

    def _out_of_time(self, stage: str) -> None:
        budget = self.config.time_budget
        raise OutOfTime(
            f"the time budget ({budget:.4g} s) ran out while {stage}, before any architecture "
            f"was scored; resume with more time (gtnas search --study {self.study.name} "
            "--time-budget 6h), or search without training a teacher: --teacher RUN, "
            "--calibration TRUTH, or a proxy such as synflow"
        )

    def calibration(self) -> dict[str, float]:
        """The ranking teacher's calibration architectures and their validation accuracies
        (empty without the ranking objective): given, or trained into ``calibration/`` first
        (resumably; the wall time it took is kept in the study, as part of the search's
        cost)."""
        t = self.config.teacher
        if t.rank_weight <= 0:
            return {}
        if t.calibration.accuracies:  # given (a truth set's): nothing to train or pay here
            return dict(t.calibration.accuracies)
        recorded = self.study.results(CALIBRATION_RESULT).get(0, {})
        if recorded.get("complete"):
            return dict(recorded["accuracies"])
        c = t.calibration
        self._hook("stage", f"training {c.count} calibration architectures ({c.epochs} "
                   f"epochs, {c.seeds} seed(s) each)")  # fmt: skip
        truth = calibration_truth_config(
            t.calibration,
            dataset=self.config.dataset,
            space=self.config.space,
            space_options=dict(self.config.space_options),
            blueprint=self.config.blueprint,
            seed=self.config.seed,
            workers=self.config.workers,
            threads=self.config.threads,
            device=self.config.device,
        )
        spent = float(recorded.get("seconds", 0.0))
        start = time.perf_counter()

        def keep_time(record: Any) -> None:  # an interrupted build's time is not lost
            self._hook("calibration", record)
            now = spent + time.perf_counter() - start
            self.study.set_result(CALIBRATION_RESULT, 0, {"seconds": now, "complete": False})

        try:
            found = calibrate(truth, self.folder / "calibration", on_result=keep_time,
                              out_of_time=self._setup_clock())  # fmt: skip
        except OutOfTime as stopped:
            self._out_of_time(str(stopped))
        self.study.set_result(CALIBRATION_RESULT, 0, {
            "accuracies": found.accuracies, "seconds": spent + time.perf_counter() - start,
            "complete": True,
            "training_seconds": found.training_seconds,
        })  # fmt: skip
        return found.accuracies

    # -- stage 2: the search -----------------------------------------------------------------
    def context_spec(self, teacher_dir: str | None) -> ContextSpec:
        threads = self.config.threads or max(1, usable_cores() // self.config.workers)
        return ContextSpec(
            dataset=self.config.dataset,
            space=self.config.space,
            space_options=dict(self.config.space_options),
            blueprint=self.config.blueprint,
            teacher_dir=teacher_dir,
            real_lr=self._real_lr(),
            real_batch_size=self.config.real_batch_size,
            eval_examples=self.config.eval_examples,
            device=self.config.device,
            threads=threads,
        )

    def _real_lr(self) -> float:
        # real:K proxies share one learning rate, tuned on the validation split for the
        # space's reference architecture once per study and kept in the store.
        kinds = [p for p in plain_proxies(self.config.all_proxies()) if p.startswith("real")]
        if not kinds:
            return 0.05
        recorded = self.study.results("real_lr")
        if 0 in recorded:
            return float(recorded[0]["lr"])

        dataset = load_dataset(self.config.dataset, quiet=True)
        sampler = SpaceLearnerSampler(
            self.space, dataset.image_shape, dataset.num_classes, self.config.blueprint
        )
        steps = create_proxy(kinds[0]).steps  # type: ignore[attr-defined]
        self._hook("stage", f"tuning the real-data learning rate for {steps} steps")
        start = time.perf_counter()
        tuned = tune_real_lr(
            sampler,
            (dataset.train.images, dataset.train.labels),
            (dataset.val.images[:2000], dataset.val.labels[:2000]),
            steps=steps,
            batch_size=self.config.real_batch_size,
            learners=1,
            seed=self.config.seed,
        )
        # its seconds are part of what a real:K search costs (gtnas simulate pays them)
        seconds = time.perf_counter() - start
        self.study.set_result("real_lr", 0, {"lr": tuned.lr, "steps": steps, "seconds": seconds})
        return tuned.lr

    def search(self, teacher_dir: str | None, *, stop_after: int | None = None) -> SearchProgress:
        """Evaluate architectures: one proxy for each (``scheduler`` none), or up the ladder;
        until the budget, the scheduler, or the time budget says stop."""

        spec = self.context_spec(teacher_dir)
        strategy = create_strategy(
            self.config.strategy, self.space, self.config.seed, self.config.strategy_options
        )
        executor = create_executor(
            spec, workers=self.config.workers, ray=self.ray, ray_address=self.ray_address
        )
        session = len(self.study.results("clock"))
        self._session_start = time.time()
        hook = self.hooks.get("result")

        def on_result(record: TrialRecord) -> None:
            self.study.set_result(
                "clock", session,
                {"start": self._session_start, "seconds": time.time() - self._session_start},
            )  # fmt: skip
            if hook is not None:
                hook(record)

        budget = self.config.time_budget
        out_of_time = None if budget is None else (lambda: self.elapsed() >= budget)
        with executor:
            if self.config.scheduler == "none":
                return run_search(
                    self.study,
                    self.space,
                    strategy,
                    executor,
                    budget=self.config.budget,
                    proxies=self.config.proxies,
                    seed=self.config.seed,
                    on_result=on_result,
                    stop_after=stop_after,
                    out_of_time=out_of_time,
                )
            scheduler = create_scheduler(
                self.config.scheduler, len(self.config.rungs), self.config.eta, self.config.budget
            )
            return run_ladder(
                self.study,
                self.space,
                strategy,
                executor,
                scheduler,
                self.config.rungs,
                extra_proxies=self.config.extra_proxies,
                seed=self.config.seed,
                on_result=on_result,
                stop_after=stop_after,
                out_of_time=out_of_time,
            )

    def setup_seconds(self) -> float:
        """What this search paid before its first evaluation: the meta-training of a teacher
        it trained itself (a given one was paid for elsewhere) and the tuning of real:K's
        learning rate."""

        total = 0.0
        if self.config.needs_teacher() and not self.config.teacher.run:
            total += meta_training_seconds(self.folder / "teacher") or 0.0
            calibrated = self.study.results(CALIBRATION_RESULT)
            total += float(calibrated.get(0, {}).get("seconds", 0.0))
        tuned = self.study.results("real_lr")
        if 0 in tuned:
            total += float(tuned[0].get("seconds", 0.0))
        return total

    def elapsed(self) -> float:
        """Seconds this search has spent: :meth:`setup_seconds` and the wall time of its
        sessions of evaluations (this one up to now)."""
        clock = self.study.results("clock")
        start = getattr(self, "_session_start", None)
        total = self.setup_seconds()
        for record in clock.values():
            if start is not None and record.get("start") == start:
                continue  # this session: counted live below
            total += float(record.get("seconds", 0.0))
        return total + (time.time() - start if start is not None else 0.0)

    def assess_teacher(self, teacher_dir: str | None) -> dict[str, Any] | None:
        """The teacher's fresh learners against real data at its T steps, on the test split
        (a report, never a choice): its run's ``eval.json``, written once
        (:func:`gtnas.meta.run_assessment.assess_run`); None without a teacher."""

        learners = self.config.teacher.assess_learners
        if teacher_dir is None or learners < 1:
            return None

        path = Path(teacher_dir) / EVAL_FILE
        if path.is_file():
            return json.loads(path.read_text())

        self._hook("stage", f"assessing the teacher: {learners} fresh learners against real data")
        # on as many images as a proxy learner is scored on: a report, at a proxy's cost
        return assess_run(
            Path(teacher_dir), learners=learners, sampled=True, baseline=True, match=False,
            device=self.config.device, examples=self.config.eval_examples, curve_points=8,
        )  # fmt: skip

    # -- stage 3: multi-fidelity re-scoring --------------------------------------------------
    def rescore(self, teacher_dir: str | None) -> None:
        fraction = self.config.rescore_fraction
        if fraction <= 0:
            return

        spec = self.context_spec(teacher_dir)
        done = self.study.results("rescore")
        completed = self.study.completed()
        standing = _standing(self.config.proxy, completed)
        ranked = [r for _, r in sorted(zip(standing, completed, strict=True),
                                       key=lambda p: (-p[0], p[1].number))]  # fmt: skip
        chosen = ranked[: max(1, round(fraction * len(ranked)))]
        for record in chosen:
            if record.number in done:
                continue
            proxy = self.config.rescore_proxy
            task = EvaluationTask(
                record.number, record.genotype, plain_proxies((proxy,)), self.config.seed
            )
            result = evaluate(spec, task)
            if result.error is None and finite_parts(proxy, result.scores) is None:
                self.study.set_result(
                    "rescore",
                    record.number,
                    {
                        "proxy": proxy,
                        **result.scores,
                        **{"seconds": sum(result.seconds.values())},
                    },
                )
            self._hook("rescored", record, result)

    def top(self) -> list[TrialRecord]:
        """The top-k by the most expensive score on record: on a ladder, each architecture's
        highest rung first, then its score there; else the re-score, then the proxy. A set
        proxy ranks the whole of what it scored (a rung's evaluations, every completed one,
        the re-scored ones), not the standings recorded as they came in."""
        return self.ranked()[: self.config.top_k]

    def ranked(self) -> list[TrialRecord]:
        """Every scored architecture, best first, as :meth:`top` orders them; a record's
        ``score`` is its proxy's (its rung's) score, for a set proxy its standing among all
        that proxy scored (not the standing recorded when it came in)."""
        completed = self.study.completed()
        if self.config.scheduler != "none":
            best: dict[str, TrialRecord] = {}
            for record in completed:
                if record.rung is None:
                    continue
                held = best.get(record.genotype)
                if held is None or (record.rung, record.number) > (held.rung, held.number):
                    best[record.genotype] = record
            standing: dict[int, float] = {}
            for rung, proxy in enumerate(self.config.rungs):
                on_rung = [r for r in completed if r.rung == rung]
                values = _standing(proxy, on_rung)
                standing.update((r.number, v) for r, v in zip(on_rung, values, strict=True))
            now = [replace(r, score=standing[r.number]) for r in best.values()]
            return sorted(now, key=lambda r: (-(r.rung or 0), -(r.score or 0.0), r.number))
        values = _standing(self.config.proxy, completed)
        now = [replace(r, score=v) for r, v in zip(completed, values, strict=True)]
        rescored = self.study.results("rescore")
        again = [r for r in now if r.number in rescored]
        values = population_scores(self.config.rescore_proxy, [rescored[r.number] for r in again])
        score_again = {r.number: v for r, v in zip(again, values, strict=True)}

        def key(record: TrialRecord) -> tuple[int, float, int]:
            if record.number in score_again:
                return (1, score_again[record.number], -record.number)
            return (0, float(record.score or 0.0), -record.number)

        return sorted(now, key=key, reverse=True)

    # -- stage 4: final training -------------------------------------------------------------
    def final_train(self) -> dict[int, dict[str, Any]]:
        finals = self.study.results("final")
        top = self.top()
        if all(r.number in finals for r in top):
            return finals
        dataset = load_dataset(self.config.dataset, quiet=True)
        config = replace(self.config.final, dataset=self.config.dataset, seed=self.config.seed)
        for rank, record in enumerate(top, 1):
            if record.number in finals:
                continue
            space, genotype = parse_genotype(record.genotype, self.config.space_options)
            run_dir = self.folder / "final" / f"trial-{record.number}"
            resume = RunFolder(run_dir, command="gtnas arch train").holds_run()
            self._hook("stage", f"final training {rank}/{len(top)}: trial {record.number}")
            result = train_network(
                space,
                genotype,
                dataset,
                config,
                run_dir,
                resume=resume,
                show_progress=self.show_progress,
            )
            finals[record.number] = {
                "val_accuracy": result.val_accuracy,
                "test_accuracy": result.test_accuracy,
                "parameters": result.parameters,
                "flops": result.flops,
                "train_seconds": result.train_seconds,
                "run_dir": str(run_dir),
            }
            self.study.set_result("final", record.number, finals[record.number])
        return finals

    # -- stage 5: export ---------------------------------------------------------------------
    def export_best(self, finals: dict[int, dict[str, Any]]) -> tuple[int | None, Path | None]:
        """The best final-trained architecture by VALIDATION accuracy to ``best/``: genotype,
        network description and weights, and ``model.onnx`` checked against PyTorch with
        onnxruntime (left out, with a line in ``export.json``, where the export extras are
        not installed)."""
        if not finals:
            return None, None
        best = max(finals, key=lambda n: finals[n]["val_accuracy"] or 0.0)

        export_dir = self.folder / "best"
        onnx_path = export_dir / "model.onnx"
        onnx_path.unlink(missing_ok=True)  # never a stale model beside new weights
        loaded = read_network(finals[best]["run_dir"])
        extra: dict[str, Any] = {
            "study": self.study.name,
            "trial": best,
            "val_accuracy": finals[best]["val_accuracy"],
            "test_accuracy": finals[best]["test_accuracy"],
        }
        save_loaded(export_dir, loaded, extra=extra)
        try:
            difference, _ = export_verified(
                loaded.module, onnx_path, image_shape=loaded.image_shape
            )
            report = {"onnx": onnx_path.name, "max_abs_difference_vs_pytorch": difference}
        except GtnasError as exc:  # the export extras missing, or a model that disagrees
            report = {"onnx": None, "why": str(exc)}

        atomic_write_text(export_dir / "export.json", json.dumps(report, indent=2) + "\n")
        self._hook("exported", export_dir, report)
        return best, export_dir

    def run(self, *, final: bool = True) -> SearchOutcome:
        teacher_dir = self.teacher_dir()
        self.assess_teacher(teacher_dir)
        progress = self.search(teacher_dir)
        self.rescore(teacher_dir)
        finals = self.final_train() if final and self.config.top_k else {}
        best, export_dir = self.export_best(finals)
        return SearchOutcome(
            self.study, self.folder, progress, self.top(), finals, best, export_dir
        )

    def _hook(self, name: str, *args: Any) -> None:
        hook = self.hooks.get(name)
        if hook is not None:
            hook(*args)


def _standing(proxy: str, records: list[TrialRecord]) -> list[float]:
    """``proxy``'s score of each record among ``records``: a plain proxy's recorded score, a
    set proxy's combination over these records' component scores."""
    if is_set_proxy(proxy):
        return population_scores(proxy, [r.scores for r in records])
    return [float(r.score or 0.0) for r in records]
