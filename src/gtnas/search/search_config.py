"""The typed configuration of one search (:class:`SearchConfig`) and of the teacher behind its
``gtn:K`` proxies (:class:`SearchTeacherConfig`): every field with its default and its checks,
owned here so that the pipeline (:mod:`gtnas.search.pipeline`), the CLI and the benchmarks
build and validate them alike."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gtnas.config import config_from_dict
from gtnas.data.catalog import check_name
from gtnas.meta.meta_step import MetaTrainConfig
from gtnas.search.calibration import CalibrationConfig
from gtnas.search.ladder import SCHEDULERS
from gtnas.search.proxies import create_proxy, proxy_needs_teacher
from gtnas.search.strategies import STRATEGIES
from gtnas.spaces import SEARCH_SPACES
from gtnas.teachers import TeacherConfig
from gtnas.teachers.generator import GeneratorConfig
from gtnas.training.recipe import FinalTrainConfig


@dataclass(frozen=True)
class SearchTeacherConfig:
    """The teacher behind ``gtn:K`` proxies: an existing run, or one meta-trained here on
    learners sampled from the search space at the search blueprint."""

    run: str | None = None  # a finished `gtnas teach train` run folder to use as is
    teacher: str = "gtn"
    inner_steps: int = 32
    batch_size: int = 64
    iterations: int = 100
    meta_lr: float = 0.03
    gradient_checkpointing: bool = False
    eval_every: int = 25
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    # where meta-training starts ("real": a warm start fitted to real images, init_epochs
    # passes), learned soft labels, and learners averaged per meta-step (TeacherConfig and
    # MetaTrainConfig say more)
    init: str = "random"
    init_epochs: int = 20
    soft_labels: bool = False
    learners_per_step: int = 1
    # the learners' inner optimiser: its per-step learning rate and momentum meta-learned from
    # lr / momentum (the paper), or held there (learn_schedule false)
    learn_schedule: bool = True
    lr: float = 0.05
    momentum: float = 0.9
    # the ranking-aware meta-objective (MetaTrainConfig.rank_weight; 0: off): the teacher is
    # meta-trained on calibration architectures whose real-trained order its learners must
    # reproduce (gtnas.search.calibration: given, or trained here first)
    rank_weight: float = 0.0
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    # fresh learners (of the reference architecture and as many sampled ones) that assess
    # the teacher against real data at the same steps for the report (0: no assessment)
    assess_learners: int = 3

    def __post_init__(self) -> None:
        # the teacher's and meta-training's own checks, before any calibration architecture
        # is trained or meta-training starts
        self.teacher_options()
        self.meta_options()

    def teacher_options(self) -> TeacherConfig:
        return TeacherConfig(
            inner_steps=self.inner_steps,
            batch_size=self.batch_size,
            generator=self.generator,
            init=self.init,
            init_epochs=self.init_epochs,
            soft_labels=self.soft_labels,
            learn_schedule=self.learn_schedule,
            lr=self.lr,
            momentum=self.momentum,
        )

    def meta_options(self) -> MetaTrainConfig:
        return MetaTrainConfig(
            iterations=self.iterations,
            meta_lr=self.meta_lr,
            gradient_checkpointing=self.gradient_checkpointing,
            eval_every=self.eval_every,
            learners_per_step=self.learners_per_step,
            rank_weight=self.rank_weight,
        )


@dataclass(frozen=True)
class SearchConfig:
    """One search, every field. These are the library's plain defaults; ``gtnas search``
    starts a new study of a space from that space's best-known recipe on top of them
    (``gtnas/cli/search_defaults.json``; nb201: the teacher built to rank, the named config
    ``configs/nb201-rank-search.json``)."""

    dataset: str = "mnist"
    space: str = "gtn-cell"
    space_options: dict[str, Any] = field(default_factory=dict)
    # network size while searching (proxies, teacher's learners): a preset name or Blueprint
    # fields as a dict
    blueprint: str | dict[str, Any] = "search"
    strategy: str = "random"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    proxy: str = "gtn:128"  # what the strategy optimises
    extra_proxies: tuple[str, ...] = ()  # also scored for every architecture (for analysis)
    budget: int = 200  # architectures evaluated
    seed: int = 0
    workers: int = 1  # local evaluation processes (1: in the driver)
    threads: int = 0  # torch threads per worker (0: the cores this process may use / workers)
    device: str = "cpu"
    eval_examples: int = 2000  # validation images a proxy learner is scored on
    real_batch_size: int = 128
    rescore_fraction: float = 0.0  # re-score this top fraction with `rescore_proxy`
    rescore_proxy: str = "real:1200"
    top_k: int = 5  # architectures final-trained on real data
    # Multi-fidelity search (gtnas.search.ladder): "none" scores every architecture with
    # `proxy`; "sh", "asha" or "hyperband" climb the ladder (proxy, *ladder), keeping the best
    # 1/eta of each rung; `budget` is then the architectures drawn (Hyperband: in its most
    # exploratory bracket).
    scheduler: str = "none"
    ladder: tuple[str, ...] = ()
    eta: int = 3
    # Stop proposing evaluations once this many seconds are spent (the teacher's
    # calibration and meta-training and real:K's learning-rate tuning included; the final
    # training not); None: no limit. The evaluation under way when it runs out is finished;
    # a budget spent while the teacher is prepared stops that too (checkpointed, OutOfTime).
    time_budget: float | None = None
    teacher: SearchTeacherConfig = field(default_factory=SearchTeacherConfig)
    final: FinalTrainConfig = field(default_factory=FinalTrainConfig)

    def __post_init__(self) -> None:
        check_name(self.dataset)  # before a run folder or a teacher is made for it
        if self.space not in SEARCH_SPACES:
            raise ValueError(
                f"unknown search space {self.space!r}; choose one of: "
                f"{', '.join(SEARCH_SPACES.names())}"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {self.strategy!r}; choose one of: "
                f"{', '.join(STRATEGIES.names())}"
            )
        strategy = STRATEGIES.get(self.strategy)
        config_from_dict(strategy.Config, self.strategy_options, where="strategy_options.")
        for name in (self.proxy, *self.extra_proxies, self.rescore_proxy):
            create_proxy(name)  # raises a ConfigError naming a bad proxy
        if self.budget < 1 or self.top_k < 0 or self.workers < 1:
            raise ValueError("budget and workers must be >= 1 and top_k >= 0")
        if not 0.0 <= self.rescore_fraction <= 1.0:
            raise ValueError("rescore_fraction must be in [0, 1]")

        if self.scheduler != "none":
            if self.scheduler not in SCHEDULERS:
                raise ValueError(
                    f"unknown scheduler {self.scheduler!r}; choose none or one of: "
                    f"{', '.join(SCHEDULERS.names())}"
                )
            if not self.ladder:
                raise ValueError(
                    f"scheduler {self.scheduler!r} needs a ladder: the proxies above "
                    f'{self.proxy!r}, e.g. ladder=["real:128", "real:512"]'
                )
            for name in self.ladder:
                create_proxy(name)
            if self.eta < 2:
                raise ValueError(f"eta must be at least 2, got {self.eta}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"time_budget must be positive seconds, got {self.time_budget}")

    @property
    def proxies(self) -> tuple[str, ...]:
        return (self.proxy, *(p for p in self.extra_proxies if p != self.proxy))

    @property
    def rungs(self) -> tuple[str, ...]:
        """The ladder's proxies, cheapest first (just ``proxy`` without a scheduler)."""
        return (self.proxy, *self.ladder) if self.scheduler != "none" else (self.proxy,)

    def all_proxies(self) -> tuple[str, ...]:
        """Every proxy this search runs (the re-scoring one only when re-scoring is on)."""
        if self.scheduler != "none":
            return tuple(dict.fromkeys((*self.rungs, *self.extra_proxies)))
        rescore = (self.rescore_proxy,) if self.rescore_fraction > 0 else ()
        return (*self.proxies, *rescore)

    def needs_teacher(self) -> bool:
        return any(proxy_needs_teacher(p) for p in self.all_proxies())


def default_study_name(config: SearchConfig) -> str:
    name = f"{config.dataset}-{config.space}-{config.strategy}-{config.proxy}-s{config.seed}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
