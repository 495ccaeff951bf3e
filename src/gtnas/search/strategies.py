"""Search strategies: what to evaluate next, through one ask/tell interface.

``genotype = strategy.ask()`` proposes; ``strategy.tell(genotype, score)`` reports the proxy score
(``None`` when the evaluation failed). A strategy draws all its randomness from its own seeded
generator and depends only on the sequence of asks and tells, so a study rebuilds it after a
crash by replaying the recorded events in order (see :mod:`gtnas.search.study`).

- ``random``: uniform samples from the space (the paper's GTN-NAS).
- ``evolution``: regularized (aging) evolution (Real et al. 2019): the first ``population``
  proposals are random; then a tournament of ``sample_size`` members drawn from the current
  population picks a parent, its one-decision mutation is the child, and when the population
  is full the OLDEST member dies (not the worst).
- ``reinforce``: an LSTM controller (Zoph & Le 2017) samples the decisions one after another;
  it is trained with REINFORCE on the proxy score minus an exponential moving-average baseline,
  with an entropy bonus.
- ``tpe``: Optuna's Tree-structured Parzen Estimator over the decisions (its own in-memory
  study; the persistent record of a search is kept by the study, not here).

Under a set proxy (``rankavg:gtn:32+synflow``) a score is a standing among the architectures
scored so far, so the scores told earlier move as the population grows: an architecture that
was the best of three is told 1.0 and may stand at 0.6 among fifty. The search calls
``strategy.restand(scores)`` after each result with every told architecture's standing now;
evolution's tournaments and TPE's good/bad split then compare standings on one population.
REINFORCE keeps what it was told: its gradient steps were taken on the standing at the time
(a quantile among those seen, a usual shaped reward).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from gtnas.config import config_from_dict
from gtnas.errors import ConfigError
from gtnas.registry import Registry
from gtnas.seeding import derive_seed, make_generator
from gtnas.spaces.base import SearchSpace


class Strategy(ABC):
    name: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, space: SearchSpace, seed: int, config: Any = None) -> None:
        self.space = space
        self.seed = seed
        self.config = config if config is not None else self.Config()
        self.generator = make_generator(derive_seed(seed, "strategy", self.name))

    @abstractmethod
    def ask(self) -> Any:
        """The next genotype to evaluate."""

    def tell(self, genotype: Any, score: float | None) -> None:  # noqa: B027 (optional hook)
        """The proxy score of an evaluated genotype (``None``: its evaluation failed)."""

    def restand(self, scores: Mapping[str, float]) -> None:  # noqa: B027 (optional hook)
        """The scores told so far have changed (a set proxy's standings, see the module's
        doc): ``scores`` maps each scored genotype's ``space.format`` text to its score now."""


STRATEGIES: Registry[type[Strategy]] = Registry("search strategy")


def create_strategy(
    name: str, space: SearchSpace, seed: int, options: dict[str, Any] | None = None
) -> Strategy:
    cls = STRATEGIES.get(name)
    config = config_from_dict(cls.Config, options or {}, where=f"{name}.")
    return cls(space, seed, config)


@dataclass(frozen=True)
class RandomConfig:
    pass


@STRATEGIES.register("random", help="uniform random samples (the paper's GTN-NAS)")
class RandomSearch(Strategy):
    name = "random"
    Config = RandomConfig

    def ask(self) -> Any:
        return self.space.sample(self.generator)


@dataclass(frozen=True)
class EvolutionConfig:
    population: int = 20  # members alive at once (Real et al. used 100 on a larger budget)
    sample_size: int = 5  # tournament size: members drawn to pick a parent

    def __post_init__(self) -> None:
        if self.population < 2 or not 1 <= self.sample_size <= self.population:
            raise ValueError("evolution needs population >= 2 and 1 <= sample_size <= population")


@STRATEGIES.register("evolution", help="regularized (aging) evolution: tournament, mutate, age")
class RegularizedEvolution(Strategy):
    name = "evolution"
    Config = EvolutionConfig

    def __init__(self, space: SearchSpace, seed: int, config: Any = None) -> None:
        super().__init__(space, seed, config)
        self.population: deque[tuple[Any, float]] = deque()
        self.asked = 0

    def ask(self) -> Any:
        self.asked += 1
        if self.asked <= self.config.population or not self.population:
            return self.space.sample(self.generator)
        members = list(self.population)
        size = min(self.config.sample_size, len(members))
        picks = torch.randperm(len(members), generator=self.generator)[:size].tolist()
        parent = max((members[i] for i in picks), key=lambda member: member[1])[0]
        return self.space.mutate(parent, self.generator)

    def tell(self, genotype: Any, score: float | None) -> None:
        if score is None:
            return
        self.population.append((genotype, score))
        if len(self.population) > self.config.population:
            self.population.popleft()  # aging: the oldest dies, however good it is

    def restand(self, scores: Mapping[str, float]) -> None:
        self.population = deque(
            (genotype, scores.get(self.space.format(genotype), score))
            for genotype, score in self.population
        )


@dataclass(frozen=True)
class ReinforceConfig:
    hidden: int = 64  # LSTM controller width
    lr: float = 0.01  # Adam learning rate of the controller
    baseline_decay: float = 0.9  # exponential moving average of the reward
    entropy_weight: float = 1e-3
    temperature: float = 1.0


class Controller(nn.Module):
    """LSTM policy over a space's decisions: step i reads an embedding of choice i-1 and outputs
    logits over decision i's options (one linear head per decision)."""

    def __init__(self, sizes: list[int], hidden: int) -> None:
        super().__init__()
        self.sizes = sizes
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.embeddings = nn.ModuleList(nn.Embedding(n, hidden) for n in sizes)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in sizes)

    def log_prob(
        self,
        choices: list[int] | None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Sample choices (when ``choices`` is None) or score given ones; returns
        (choices, sum of log-probabilities, sum of entropies)."""
        x = self.start
        state = None
        out: list[int] = []
        log_prob = torch.zeros(())
        entropy = torch.zeros(())
        for i, head in enumerate(self.heads):
            state = self.cell(x, state)
            logits = head(state[0])[0] / temperature  # (options,)
            probs = logits.softmax(-1)
            if choices is None:
                choice = int(torch.multinomial(probs.detach(), 1, generator=generator))
            else:
                choice = choices[i]
            log_probs = logits.log_softmax(-1)
            log_prob = log_prob + log_probs[choice]
            entropy = entropy - (probs * log_probs).sum()
            out.append(choice)
            x = self.embeddings[i](torch.tensor([choice]))
        return out, log_prob, entropy


@STRATEGIES.register("reinforce", help="LSTM controller trained with REINFORCE (Zoph & Le)")
class ReinforceController(Strategy):
    name = "reinforce"
    Config = ReinforceConfig

    def __init__(self, space: SearchSpace, seed: int, config: Any = None) -> None:
        super().__init__(space, seed, config)
        sizes = [len(d) for d in space.decisions()]
        with torch.random.fork_rng(devices=[]):
            # nn.LSTMCell and friends initialise from the global generator: fork it so the
            # controller depends on the seed only, and the caller's global state is untouched.
            torch.manual_seed(derive_seed(seed, "controller") % 2**63)
            self.controller = Controller(sizes, self.config.hidden)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=self.config.lr)
        self.baseline: float | None = None

    def ask(self) -> Any:
        with torch.no_grad():
            choices, _, _ = self.controller.log_prob(None, self.generator, self.config.temperature)
        return self.space.from_decisions(choices)

    def tell(self, genotype: Any, score: float | None) -> None:
        reward = 0.0 if score is None else float(score)
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        self.baseline = (
            self.config.baseline_decay * self.baseline + (1 - self.config.baseline_decay) * reward
        )
        choices = self.space.to_decisions(genotype)
        _, log_prob, entropy = self.controller.log_prob(choices, None, self.config.temperature)
        loss = -(advantage * log_prob) - self.config.entropy_weight * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


@dataclass(frozen=True)
class TPEConfig:
    startup_trials: int = 10  # random proposals before TPE models the scores
    multivariate: bool = True  # model decisions jointly (Optuna's multivariate TPE)


def tpe_gamma(n: int) -> int:
    """How many of n finished trials TPE counts as good: Optuna's default gamma, ``min(ceil(n
    / 10), 25)`` (the sampler's option to change it is deprecated; a test holds the two
    equal)."""
    return min(math.ceil(0.1 * n), 25)


def good_trials(trials: list[tuple[int, float | None]]) -> frozenset[int]:
    """The positions (in ``trials``) of the trials TPE models as good: the ``tpe_gamma(n)``
    best of the n finished ones (value not None), ties going to the lower trial number, as
    Optuna's TPE splits a maximising study. ``trials``: (trial number, value) pairs."""
    finished = [(i, number, value) for i, (number, value) in enumerate(trials)
                if value is not None]  # fmt: skip
    ranked = sorted(finished, key=lambda t: (-t[2], t[1]))  # best first, ties by number
    return frozenset(i for i, _, _ in ranked[: tpe_gamma(len(finished))])


@STRATEGIES.register("tpe", help="Optuna's TPE sampler over the decisions")
class TPESearch(Strategy):
    """Optuna's TPE over the space's decisions, in an in-memory study.

    Under a set proxy every result re-tells the standings of all (:meth:`restand`). TPE uses a
    trial's value only to split the finished trials into a good and a bad set (the
    ``tpe_gamma(n)`` best; within each, trials are weighed by number, not by value), so each
    ask rebuilds the study with the standings of now only where the split it holds differs
    from theirs, or where a trial asked by a replaced study was told since. Rebuilding at
    every ask after a re-telling cost 0.2 s at 400 trials here, three times TPE's own asking.
    """

    name = "tpe"
    Config = TPEConfig

    def __init__(self, space: SearchSpace, seed: int, config: Any = None) -> None:
        super().__init__(space, seed, config)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.decisions = space.decisions()
        # Every told trial: its decisions, the genotype's text and its score now (None:
        # failed), from which _rebuild() makes the in-memory study with the scores of now.
        self.history: list[tuple[dict[str, int], str, float | None]] = []
        # Aligned with history: (trial number, value) as the current study holds each told
        # trial; None where the study does not hold it (asked by a study since replaced).
        self.held: list[tuple[int, float | None] | None] = []
        self.generation = 0  # studies built so far
        self.study = self._new_study()
        # canonical string -> open trials, each with the generation of the study that asked it
        self.pending: dict[str, list[tuple[int, Any]]] = {}

    def _new_study(self) -> Any:
        import optuna

        # A sampler per study, seeded by the generation: a fresh one keeps no cache of an
        # earlier study's trials, and a replay after a crash builds the same ones.
        sampler = optuna.samplers.TPESampler(
            seed=derive_seed(self.seed, "tpe", self.generation) % 2**32,
            n_startup_trials=self.config.startup_trials,
            multivariate=self.config.multivariate,
        )
        return optuna.create_study(direction="maximize", sampler=sampler)

    def _rebuild(self) -> None:
        import optuna

        self.generation += 1
        self.study = self._new_study()
        spaces = {
            d.name: optuna.distributions.CategoricalDistribution(list(range(len(d))))
            for d in self.decisions
        }
        self.study.add_trials(
            [
                optuna.trial.create_trial(params=params, distributions=spaces, value=score)
                if score is not None
                else optuna.trial.create_trial(
                    params=params, distributions=spaces, state=optuna.trial.TrialState.FAIL
                )
                for params, _, score in self.history
            ]
        )
        self.held = [(number, score) for number, (_, _, score) in enumerate(self.history)]

    def _split_holds(self) -> bool:
        """Whether the study splits its trials as the standings of now do (as a study rebuilt
        from them, numbering the trials in history order, would)."""
        if any(entry is None for entry in self.held):
            return False
        values = [score for _, _, score in self.history]
        if [value for _, value in self.held] == values:  # type: ignore[misc]
            return True
        return good_trials(self.held) == good_trials(list(enumerate(values)))  # type: ignore[arg-type]

    def ask(self) -> Any:
        if not self._split_holds():
            self._rebuild()
        trial = self.study.ask()
        choices = [trial.suggest_categorical(d.name, list(range(len(d)))) for d in self.decisions]
        genotype = self.space.from_decisions(choices)
        self.pending.setdefault(self.space.to_string(genotype), []).append((self.generation, trial))
        return genotype

    def tell(self, genotype: Any, score: float | None) -> None:
        import optuna

        trials = self.pending.get(self.space.to_string(genotype))
        if not trials:
            return  # not proposed by this strategy (e.g. a seeded architecture): nothing to do
        generation, trial = trials.pop(0)
        params = {d.name: int(trial.params[d.name]) for d in self.decisions}
        self.history.append((params, self.space.format(genotype), score))
        if generation != self.generation:
            self.held.append(None)  # asked by a study since replaced: the next ask rebuilds
            return
        self.held.append((trial.number, score))
        if score is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, score)

    def restand(self, scores: Mapping[str, float]) -> None:
        history = [(p, text, scores.get(text, s) if s is not None else None)
                   for p, text, s in self.history]  # fmt: skip
        self.history = history  # the next ask checks the study's split against these


@dataclass(frozen=True)
class ListConfig:
    genotypes: tuple[str, ...] = ()  # "<space>:<string>", proposed first, in this order


@STRATEGIES.register("list", help="given genotypes in order, then uniform random samples")
class ListStrategy(Strategy):
    """Proposes ``genotypes`` in order (scoring a truth set: a budget of exactly the list),
    then, past the list's end, uniform samples as ``random`` does."""

    name = "list"
    Config = ListConfig

    def __init__(self, space: Any, seed: int, config: Any = None) -> None:
        super().__init__(space, seed, config)
        self.asked = 0

    def ask(self) -> Any:
        self.asked += 1
        if self.asked > len(self.config.genotypes):
            return self.space.sample(self.generator)
        text = self.config.genotypes[self.asked - 1]
        name, _, rest = text.partition(":")
        if name != self.space.name:
            raise ConfigError(f"the list holds a {name} genotype, the space is {self.space.name}")
        return self.space.parse(rest)
