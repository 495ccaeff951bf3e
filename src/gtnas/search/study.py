"""A search's persistent record, kept in an Optuna storage (a SQLite file by default, any
database URL Optuna accepts otherwise), so ``optuna-dashboard <storage>`` can open it.

Layout of one study:

- study user attribute ``gtnas`` - the search's resolved config (JSON);
- one Optuna trial per evaluation; its parameters are the genotype's decision indices (a
  categorical distribution per decision), its value the primary proxy score, and its user
  attributes ``genotype`` (``"<space>:<string>"``), ``scores`` (every proxy's score),
  ``seconds`` (evaluation cost), ``ask_seq`` / ``tell_seq`` (the order in which the strategy
  proposed it and heard its score) and ``retry_of`` (for re-runs of cut-off evaluations);
- a proposal that repeats an already evaluated genotype is recorded as a PRUNED trial with
  ``duplicate_of`` (it advanced the strategy but cost nothing);
- study user attributes ``rescore/<trial>`` and ``final/<trial>`` - results added after the
  trial finished (multi-fidelity re-scores, final training), as Optuna freezes finished trials.

Resuming: trials left RUNNING by a crashed driver are marked FAIL (``interrupted``) and queued
again as new trials (``retry_of``); the strategy is rebuilt by replaying the recorded ask and
tell events in ``*_seq`` order (see :meth:`Study.events`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtnas.errors import ConfigError, GtnasError

CONFIG_KEY = "gtnas"


@dataclass
class TrialRecord:
    number: int
    genotype: str  # "<space>:<string>"
    state: str  # COMPLETE, FAIL, PRUNED (duplicate), RUNNING (queued / in flight)
    score: float | None
    seconds: float
    scores: dict[str, float] = field(default_factory=dict)
    ask_seq: int | None = None
    tell_seq: int | None = None
    duplicate_of: int | None = None
    retry_of: int | None = None
    error: str | None = None
    started: float | None = None  # wall-clock times (epoch seconds), when known
    finished: float | None = None
    told: float | None = None  # for duplicates: the score the strategy was told
    # multi-fidelity (gtnas.search.ladder): the rung, its proxy, the Hyperband bracket, the
    # position of the scheduler's decision, and whether the strategy drew it (not a promotion)
    rung: int | None = None
    proxy: str | None = None
    bracket: int | None = None
    order: int | None = None
    sampled: bool = False


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage(folder: Path) -> str:
    return f"sqlite:///{Path(folder).resolve() / 'studies.db'}"


class Study:
    """Read and write one search study. Only the driver process writes."""

    def __init__(self, study: Any, distributions: dict[str, Any]) -> None:
        self._study = study
        self._distributions = distributions
        self._open: dict[int, Any] = {}  # trial number -> optuna Trial still running here

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        name: str,
        storage: str,
        *,
        config: dict[str, Any] | None,
        decision_sizes: dict[str, int],
    ) -> Study:
        """Create study ``name`` in ``storage`` with ``config``, or load it. Loading with a
        ``config`` that differs in a key a search cannot change midway is an error."""
        optuna = _optuna()
        distributions = {
            key: optuna.distributions.CategoricalDistribution(tuple(range(n)))
            for key, n in decision_sizes.items()
        }
        try:
            names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        except Exception as exc:  # SQLAlchemy / driver errors vary
            raise GtnasError(f"cannot open the study storage {storage}: {exc}") from None
        if name in names:
            study = optuna.load_study(study_name=name, storage=storage)
            stored = study.user_attrs.get(CONFIG_KEY)
            if stored is None:
                raise ConfigError(f"study {name!r} in {storage} was not created by gtnas search")
            if config is not None:
                _check_compatible(name, stored, config)
        else:
            if config is None:
                raise ConfigError(f"no study {name!r} in {storage}; start it with its options")
            study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
            study.set_user_attr(CONFIG_KEY, config)
        return cls(study, distributions)

    @property
    def name(self) -> str:
        return self._study.study_name

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._study.user_attrs[CONFIG_KEY])

    # -- writing ------------------------------------------------------------------------------
    def start_trial(
        self,
        genotype: str,
        decisions: list[int],
        keys: list[str],
        *,
        ask_seq: int | None,
        retry_of: int | None = None,
        started: float | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> int:
        self._study.enqueue_trial(dict(zip(keys, decisions, strict=True)))
        trial = self._study.ask(self._distributions)
        trial.set_user_attr("genotype", genotype)
        for key, value in (attrs or {}).items():
            trial.set_user_attr(key, value)
        if ask_seq is not None:
            trial.set_user_attr("ask_seq", ask_seq)
        if retry_of is not None:
            trial.set_user_attr("retry_of", retry_of)
        if started is not None:
            trial.set_user_attr("started", started)
        self._open[trial.number] = trial
        return trial.number

    def complete(
        self,
        number: int,
        score: float,
        *,
        scores: dict[str, float],
        seconds: float,
        tell_seq: int | None,
        finished: float | None = None,
    ) -> None:
        trial = self._trial(number)
        trial.set_user_attr("scores", scores)
        trial.set_user_attr("seconds", seconds)
        if tell_seq is not None:  # None: a result the strategy is not told (a promotion)
            trial.set_user_attr("tell_seq", tell_seq)
        if finished is not None:
            trial.set_user_attr("finished", finished)
        self._study.tell(trial, score)
        self._open.pop(number, None)

    def fail(self, number: int, error: str, *, tell_seq: int | None) -> None:
        optuna = _optuna()
        trial = self._trial(number)
        trial.set_user_attr("error", error[:500])
        if tell_seq is not None:
            trial.set_user_attr("tell_seq", tell_seq)
        self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self._open.pop(number, None)

    def record_duplicate(
        self,
        genotype: str,
        decisions: list[int],
        keys: list[str],
        *,
        of: int,
        seq: int,
        told: float | None,
    ) -> int:
        optuna = _optuna()
        number = self.start_trial(genotype, decisions, keys, ask_seq=seq)
        trial = self._trial(number)
        trial.set_user_attr("duplicate_of", of)
        trial.set_user_attr("tell_seq", seq)
        trial.set_user_attr("told", told)
        self._study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        self._open.pop(number, None)
        return number

    def interrupt_running(self) -> list[TrialRecord]:
        """Mark trials left RUNNING (cut off by a crash) as FAIL; returns them for re-running."""
        optuna = _optuna()
        cut = [r for r in self.records() if r.state == "RUNNING"]
        for record in cut:
            trial_id = self._frozen(record.number)._trial_id
            storage = self._study._storage
            storage.set_trial_user_attr(trial_id, "interrupted", True)
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        return cut

    def set_result(self, kind: str, number: int, value: dict[str, Any]) -> None:
        """Attach a post-hoc result (``rescore`` or ``final``) to finished trial ``number``."""
        self._study.set_user_attr(f"{kind}/{number}", value)

    def results(self, kind: str) -> dict[int, dict[str, Any]]:
        prefix = f"{kind}/"
        return {
            int(key[len(prefix) :]): value
            for key, value in self._study.user_attrs.items()
            if key.startswith(prefix)
        }

    # -- reading ------------------------------------------------------------------------------
    def records(self) -> list[TrialRecord]:
        out = []
        for trial in self._study.get_trials(deepcopy=False):
            attrs = trial.user_attrs
            if "genotype" not in attrs:
                continue
            out.append(
                TrialRecord(
                    number=trial.number,
                    genotype=attrs["genotype"],
                    state=trial.state.name,
                    score=trial.value,
                    seconds=float(attrs.get("seconds", 0.0)),
                    scores=dict(attrs.get("scores", {})),
                    ask_seq=attrs.get("ask_seq"),
                    tell_seq=attrs.get("tell_seq"),
                    duplicate_of=attrs.get("duplicate_of"),
                    retry_of=attrs.get("retry_of"),
                    error=attrs.get("error")
                    or ("interrupted" if attrs.get("interrupted") else None),
                    started=attrs.get("started"),
                    finished=attrs.get("finished"),
                    told=attrs.get("told"),
                    rung=attrs.get("rung"),
                    proxy=attrs.get("proxy"),
                    bracket=attrs.get("bracket"),
                    order=attrs.get("order"),
                    sampled=bool(attrs.get("sampled", False)),
                )
            )
        return out

    def genotype_of(self, number: int) -> str:
        trial = self._open.get(number) or self._frozen(number)
        return trial.user_attrs["genotype"]

    def completed(self) -> list[TrialRecord]:
        return [r for r in self.records() if r.state == "COMPLETE"]

    def events(self) -> Iterator[tuple[int, str, TrialRecord]]:
        """The strategy's history in order: ("ask", record) when it proposed a genotype and
        ("tell", record) when it heard the result (score ``None`` for a failed evaluation)."""
        events = []
        for record in self.records():
            if record.ask_seq is not None:
                events.append((record.ask_seq, 0, "ask", record))
            if record.tell_seq is not None and record.state in ("COMPLETE", "FAIL", "PRUNED"):
                events.append((record.tell_seq, 1, "tell", record))
        for seq, _, kind, record in sorted(events, key=lambda e: (e[0], e[1], e[3].number)):
            yield seq, kind, record

    def _trial(self, number: int) -> Any:
        try:
            return self._open[number]
        except KeyError:
            raise RuntimeError(f"trial {number} is not running in this process") from None

    def _frozen(self, number: int) -> Any:
        return self._study.get_trials(deepcopy=False)[number]


# Options a resumed study must keep: changing them would make its records incomparable (a
# proxy learner scored on another number of validation images, or trained on real batches of
# another size, measures something else).
_FIXED_KEYS = (
    "dataset", "space", "space_options", "blueprint", "strategy", "proxy", "seed",
    "eval_examples", "real_batch_size", "scheduler", "ladder", "eta",
)  # fmt: skip
# What a study made before a key existed holds: its value then.
_KEY_DEFAULTS: dict[str, Any] = {"scheduler": "none", "ladder": [], "eta": 3}


def _check_compatible(name: str, stored: dict[str, Any], given: dict[str, Any]) -> None:
    for key in _FIXED_KEYS:
        was = stored.get(key, _KEY_DEFAULTS.get(key))
        now = given.get(key)
        if key in given and _plain(was) != _plain(now):
            raise ConfigError(
                f"study {name!r} was started with {key}={was!r}, not {now!r}; "
                "resume it without that option or start a new --study"
            )


def _plain(value: Any) -> Any:
    """Tuples as lists, as JSON keeps them."""
    return list(value) if isinstance(value, tuple) else value
