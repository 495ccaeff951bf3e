"""A search's persistent record, kept in an Optuna storage (a SQLite file by default, any
database URL Optuna accepts otherwise), so ``optuna-dashboard <storage>`` can open it. The
SQLite file is kept in write-ahead-log mode (:func:`open_storage`): its latest commits may
sit in ``studies.db-wal`` beside it until SQLite folds them in, so a copy of ``studies.db``
takes that file with it where there is one.

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

import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
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


# Seconds a connection waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT = 60.0


def open_storage(url: str | Any) -> Any:
    """The Optuna storage at ``url``; an Optuna storage object is returned as it is.

    A SQLite file is opened in write-ahead-log mode with ``synchronous=NORMAL``: each of the
    study's small commits (several per evaluation: the trial, its attributes, its result)
    then appends to the log instead of waiting for a disk flush, which cost about 15 ms each
    here, more than a free proxy's whole evaluation. A process killed mid-search loses nothing
    committed; a power cut may lose the last commits, never the file's consistency, and
    resuming re-runs what they held. Any other URL is given to Optuna as it is."""
    path = sqlite_path(url) if isinstance(url, str) else None
    if path is None:
        return url
    optuna = _optuna()

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT, check_same_thread=False)
        # journal_mode persists in the file; it stays as it was (and this returns the old
        # mode) while another connection holds it, which is harmless
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return optuna.storages.RDBStorage(url, engine_kwargs={"creator": connect})


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///FILE`` URL; None for other databases and in-memory SQLite."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///")
    return None if path in ("", ":memory:") or "?" in path else path


def storage_missing(url: str) -> bool:
    """Whether ``url`` is a SQLite database with nothing to read: a file that does not exist
    (opening it would create an empty one) or an in-memory one. A command that only reads a
    study says so before it makes anything."""
    if url in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        return True
    path = sqlite_path(url)
    return path is not None and not Path(path).exists()


class Study:
    """Read and write one search study. Only the driver process writes."""

    def __init__(self, study: Any, distributions: dict[str, Any]) -> None:
        self._study = study
        self._distributions = distributions
        self._open: dict[int, int] = {}  # trial number -> storage id, running in this process
        # Records of finished trials (Optuna freezes them) and genotypes by trial number, so
        # that reading the study after each result costs the new trials, not all of them
        self._finished: dict[int, TrialRecord] = {}
        self._genotypes: dict[int, str] = {}

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        name: str,
        storage: str | Any,
        *,
        config: dict[str, Any] | None,
        decision_sizes: dict[str, int],
    ) -> Study:
        """Create study ``name`` in ``storage`` (a URL, or an Optuna storage object) with
        ``config``, or load it. Loading with a ``config`` that differs in a key a search
        cannot change midway is an error."""
        optuna = _optuna()
        distributions = {
            key: optuna.distributions.CategoricalDistribution(tuple(range(n)))
            for key, n in decision_sizes.items()
        }
        try:
            opened = open_storage(storage)
            names = [s.study_name for s in optuna.get_all_study_summaries(opened)]
        except Exception as exc:  # SQLAlchemy / driver errors vary
            raise GtnasError(f"cannot open the study storage {storage}: {exc}") from None
        if name in names:
            study = optuna.load_study(study_name=name, storage=opened)
            stored = study.user_attrs.get(CONFIG_KEY)
            if stored is None:
                raise ConfigError(f"study {name!r} in {storage} was not created by gtnas search")
            if config is not None:
                _check_compatible(name, stored, config)
        else:
            if config is None:
                raise ConfigError(f"no study {name!r} in {storage}; start it with its options")
            study = optuna.create_study(study_name=name, storage=opened, direction="maximize")
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
        user_attrs = {"genotype": genotype, **(attrs or {})}
        for key, value in (("ask_seq", ask_seq), ("retry_of", retry_of), ("started", started)):
            if value is not None:
                user_attrs[key] = value
        optuna = _optuna()
        return self._new_trial(optuna.trial.TrialState.RUNNING, decisions, keys, user_attrs)

    def _new_trial(
        self, state: Any, decisions: list[int], keys: list[str], user_attrs: dict[str, Any]
    ) -> int:
        """A trial written in one transaction, its parameters and attributes with it. (Optuna's
        ask and set_user_attr would commit each of them on its own: about 15 round trips to the
        database for a six-decision cell, which cost more than a free proxy's evaluation.)"""
        optuna = _optuna()
        now = datetime.now()
        template = optuna.trial.FrozenTrial(
            number=-1,  # the storage numbers it
            state=state,
            value=None,
            values=None,
            datetime_start=now,
            datetime_complete=now if state.is_finished() else None,
            params=dict(zip(keys, decisions, strict=True)),
            distributions={key: self._distributions[key] for key in keys},
            user_attrs=user_attrs,
            system_attrs={},
            intermediate_values={},
            trial_id=-1,
        )
        template._validate()
        storage = self._study._storage
        trial_id = storage.create_new_trial(self._study._study_id, template)
        number = storage.get_trial_number_from_id(trial_id)
        self._genotypes[number] = user_attrs["genotype"]
        if not state.is_finished():
            self._open[number] = trial_id
        return number

    def _finish(self, number: int, state: Any, value: float | None, attrs: dict[str, Any]) -> None:
        """Write a running trial's last attributes and end it, straight to the storage: Optuna's
        ``tell`` would read the whole trial back twice first, for a sampler this study does not
        use (the strategies propose; the trial's parameters are fixed when it is made)."""
        if value is not None and not math.isfinite(value):
            raise ValueError(f"trial {number}: non-finite value {value} (fail it instead)")
        trial_id = self._trial(number)
        storage = self._study._storage
        for key, item in attrs.items():
            storage.set_trial_user_attr(trial_id, key, item)
        storage.set_trial_state_values(trial_id, state, None if value is None else [value])
        self._open.pop(number, None)

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
        optuna = _optuna()
        attrs: dict[str, Any] = {"scores": scores, "seconds": seconds}
        if tell_seq is not None:  # None: a result the strategy is not told (a promotion)
            attrs["tell_seq"] = tell_seq
        if finished is not None:
            attrs["finished"] = finished
        self._finish(number, optuna.trial.TrialState.COMPLETE, float(score), attrs)

    def fail(self, number: int, error: str, *, tell_seq: int | None) -> None:
        optuna = _optuna()
        attrs: dict[str, Any] = {"error": error[:500]}
        if tell_seq is not None:
            attrs["tell_seq"] = tell_seq
        self._finish(number, optuna.trial.TrialState.FAIL, None, attrs)

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
        user_attrs = {"genotype": genotype, "ask_seq": seq, "duplicate_of": of, "tell_seq": seq,
                      "told": told}  # fmt: skip
        return self._new_trial(optuna.trial.TrialState.PRUNED, decisions, keys, user_attrs)

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
            record = self._finished.get(trial.number)
            if record is None:
                record = _record(trial)
                if record is None:  # queued, not yet asked: no genotype
                    continue
                if trial.state.is_finished():
                    self._finished[trial.number] = record
            out.append(record)
        return out

    def genotype_of(self, number: int) -> str:
        if number in self._genotypes:
            return self._genotypes[number]
        return self._frozen(number).user_attrs["genotype"]

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

    def _trial(self, number: int) -> int:
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


def _record(trial: Any) -> TrialRecord | None:
    """An Optuna trial as a search record; None for a trial without a genotype (queued)."""
    attrs = trial.user_attrs
    if "genotype" not in attrs:
        return None
    return TrialRecord(
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
        error=attrs.get("error") or ("interrupted" if attrs.get("interrupted") else None),
        started=attrs.get("started"),
        finished=attrs.get("finished"),
        told=attrs.get("told"),
        rung=attrs.get("rung"),
        proxy=attrs.get("proxy"),
        bracket=attrs.get("bracket"),
        order=attrs.get("order"),
        sampled=bool(attrs.get("sampled", False)),
    )


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
