"""What every search space provides: genotypes, their string/JSON forms, the operations a search
needs (sample, mutate, choices for a controller, an encoding for a model-based sampler) and the
network builders (weight-normalised learner for a teacher, BatchNorm network for final training).

A genotype is an immutable, hashable value (frozen dataclass / tuples) owned by its space. A
search sees an architecture as a fixed-length list of categorical **decisions** (see
:class:`Decision`); every space can turn a genotype into decision indices and back, which gives
uniform sampling, one-choice mutation, a REINFORCE controller's action sequence, Optuna's
categorical parameters and a one-hot encoding from one definition.

Outside a space, a genotype travels as ``"<space>:<canonical string>"`` (see
:func:`format_genotype` / :func:`parse_genotype`) or as the JSON envelope
``{"space": ..., "genotype": <canonical string>, "options": {space options}}``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import torch
from torch import nn

from gtnas.config import config_from_dict, config_to_dict
from gtnas.errors import ConfigError, GenotypeError
from gtnas.registry import Registry

G = TypeVar("G")
Norm = Literal["wn", "bn"]
NORMS: tuple[str, ...] = ("wn", "bn")


@dataclass(frozen=True)
class DagDrawing:
    """One graph to draw: node ``i`` is labelled ``nodes[i]``; an edge is (source, target,
    label), with label "" for none; edges listed in ``dashed`` are drawn dashed and grey (e.g.
    NAS-Bench-201's 'none' operation)."""

    title: str
    nodes: tuple[str, ...]
    edges: tuple[tuple[int, int, str], ...]
    dashed: frozenset[tuple[int, int]] = frozenset()


@dataclass(frozen=True)
class GenotypePicture:
    """What a space draws of one genotype: its graphs side by side under ``title``."""

    title: str
    graphs: tuple[DagDrawing, ...]


@dataclass(frozen=True)
class Decision:
    """One categorical choice of an architecture: ``options`` are the values it can take."""

    name: str  # e.g. "normal.node2.op_a", "edge(1<-0)"
    options: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.options)


class SearchSpace(ABC, Generic[G]):
    """A search space: genotype model + builders. Subclasses set ``name``, ``Config`` (a frozen
    dataclass of space options), ``Blueprint`` (a frozen dataclass of network sizes, with named
    presets in ``blueprints``) and implement the abstract methods."""

    name: ClassVar[str]
    Config: ClassVar[type]
    Blueprint: ClassVar[type]
    blueprints: ClassVar[dict[str, Any]]  # preset name -> Blueprint; must hold "search", "final"
    ops: ClassVar[tuple[str, ...]] = ()  # the space's operation set (for listing)

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()

    # -- the decision view --------------------------------------------------------------------
    @abstractmethod
    def decisions(self) -> list[Decision]:
        """The fixed-length list of choices that defines a genotype."""

    @abstractmethod
    def from_decisions(self, indices: Sequence[int]) -> G:
        """The genotype whose i-th choice is ``decisions()[i].options[indices[i]]``."""

    @abstractmethod
    def to_decisions(self, genotype: G) -> list[int]:
        """Inverse of :meth:`from_decisions`."""

    # -- text and JSON ------------------------------------------------------------------------
    @abstractmethod
    def to_string(self, genotype: G) -> str:
        """Canonical string: equal genotypes give equal strings, and :meth:`parse` inverts it."""

    @abstractmethod
    def parse(self, text: str) -> G:
        """Parse (and validate) a canonical string; :class:`GenotypeError` names what is wrong."""

    @abstractmethod
    def validate(self, genotype: G) -> None:
        """Raise :class:`GenotypeError` naming the bad field (unknown op, input out of range...)."""

    # -- networks -----------------------------------------------------------------------------
    def build(
        self,
        genotype: G,
        image_shape: tuple[int, int, int],
        num_classes: int,
        *,
        norm: Norm = "bn",
        blueprint: str | Any = "search",
    ) -> nn.Module:
        """The network of ``genotype``: ``norm="wn"`` gives a weight-normalised learner with
        mean-only BN for a teacher's inner loop (initialise it with
        :func:`gtnas.learners.layers.init_learner`); ``norm="bn"`` an ordinary BatchNorm network
        for final training. Input (B, C, H, W) -> logits (B, num_classes)."""
        self.validate(genotype)
        if norm not in NORMS:
            raise ConfigError(f"norm must be one of: {', '.join(NORMS)}; got {norm!r}")
        if len(image_shape) != 3 or min(image_shape) < 1 or num_classes < 1:
            raise ConfigError(
                f"image_shape must be (C, H, W) with positive sizes and num_classes positive, "
                f"got {tuple(image_shape)} and {num_classes}"
            )
        return self._network(
            genotype, tuple(image_shape), num_classes, self.resolve_blueprint(blueprint), norm
        )

    @abstractmethod
    def _network(
        self,
        genotype: G,
        image_shape: tuple[int, int, int],
        num_classes: int,
        blueprint: Any,
        norm: Norm,
    ) -> nn.Module:
        """The network of a valid ``genotype`` at a resolved ``blueprint`` (see :meth:`build`)."""

    def picture(self, genotype: G) -> GenotypePicture:
        """What to draw of ``genotype``: its cells or wiring as graphs (drawn by
        :func:`gtnas.reports.graphs.draw_genotype`)."""
        raise NotImplementedError(f"space {self.name!r} cannot draw genotypes yet")

    # -- search operations, defined once on top of the decisions ------------------------------
    def sample(self, generator: torch.Generator) -> G:
        """A genotype drawn uniformly over the decisions."""
        indices = [int(torch.randint(len(d), (), generator=generator)) for d in self.decisions()]
        return self.from_decisions(indices)

    def mutate(self, genotype: G, generator: torch.Generator) -> G:
        """A valid genotype that differs from ``genotype`` in exactly one decision."""
        indices = self.to_decisions(genotype)
        decisions = self.decisions()
        mutable = [i for i, d in enumerate(decisions) if len(d) > 1]
        if not mutable:
            raise GenotypeError(f"space {self.name!r} has a single architecture; nothing to mutate")
        which = mutable[int(torch.randint(len(mutable), (), generator=generator))]
        # a different value for that decision: shift by 1..n-1 (uniform over the others)
        shift = 1 + int(torch.randint(len(decisions[which]) - 1, (), generator=generator))
        indices[which] = (indices[which] + shift) % len(decisions[which])
        return self.from_decisions(indices)

    def encode(self, genotype: G) -> torch.Tensor:
        """One-hot of every decision, concatenated: a (sum of option counts,) float vector."""
        parts = []
        for decision, index in zip(self.decisions(), self.to_decisions(genotype), strict=True):
            one_hot = torch.zeros(len(decision))
            one_hot[index] = 1.0
            parts.append(one_hot)
        return torch.cat(parts)

    def resolve_blueprint(self, blueprint: str | Any) -> Any:
        """A Blueprint from a preset name, a dict of fields, or a Blueprint itself."""
        if isinstance(blueprint, self.Blueprint):
            return blueprint
        if isinstance(blueprint, str):
            if blueprint not in self.blueprints:
                raise ConfigError(
                    f"unknown blueprint {blueprint!r} for space {self.name!r}; "
                    f"choose one of: {', '.join(self.blueprints)}"
                )
            return self.blueprints[blueprint]
        if isinstance(blueprint, dict):
            return config_from_dict(self.Blueprint, blueprint, where="blueprint.")
        raise ConfigError(f"blueprint must be a preset name or a dict, got {blueprint!r}")

    def describe(self) -> dict[str, Any]:
        """What ``gtnas arch spaces`` prints: options, op set, blueprints, decision count."""
        decisions = self.decisions()
        return {
            "name": self.name,
            "help": SEARCH_SPACES.help(self.name),
            "options": config_to_dict(self.config),
            "ops": list(self.ops),
            "blueprints": {k: config_to_dict(v) for k, v in self.blueprints.items()},
            "decisions": len(decisions),
            "log10_size": float(sum(torch.tensor(float(len(d))).log10() for d in decisions)),
        }

    # -- envelopes ----------------------------------------------------------------------------
    def to_json(self, genotype: G) -> dict[str, Any]:
        return {
            "space": self.name,
            "genotype": self.to_string(genotype),
            "options": config_to_dict(self.config),
        }

    def format(self, genotype: G) -> str:
        return f"{self.name}:{self.to_string(genotype)}"


SEARCH_SPACES: Registry[SearchSpace] = Registry("search space")


def create_space(name: str, options: dict[str, Any] | None = None) -> SearchSpace:
    """The registered space ``name`` with its options (a dict checked against its Config)."""
    cls = SEARCH_SPACES.get(name)
    config = config_from_dict(cls.Config, options or {}, where=f"{name}.")
    return cls(config)


def format_genotype(space: SearchSpace, genotype: Any) -> str:
    return space.format(genotype)


def parse_genotype(text: str, options: dict[str, Any] | None = None) -> tuple[SearchSpace, Any]:
    """``"<space>:<string>"``, a JSON envelope, or a path to a JSON envelope file ->
    (space, validated genotype)."""
    text = text.strip()
    path = Path(text)
    if text.endswith(".json"):
        if not path.is_file():
            raise GenotypeError(f"genotype file {text} does not exist")
        try:
            text = path.read_text()
        except OSError as exc:
            raise GenotypeError(f"cannot read genotype file {path}: {exc.strerror}") from None
    if text.startswith("{"):
        try:
            envelope = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GenotypeError(
                f"genotype JSON is malformed: {exc.msg} (line {exc.lineno})"
            ) from None
        return genotype_from_json(envelope)
    name, sep, rest = text.partition(":")
    if not sep or name not in SEARCH_SPACES:
        raise GenotypeError(
            f"genotype {text[:60]!r} must start with its space, '<space>:...', where space is "
            f"one of: {', '.join(SEARCH_SPACES.names())} (see `gtnas arch sample`)"
        )
    space = create_space(name, options)
    return space, space.parse(rest)


def genotype_from_json(envelope: dict[str, Any]) -> tuple[SearchSpace, Any]:
    if not isinstance(envelope, dict) or not {"space", "genotype"} <= envelope.keys():
        raise GenotypeError('genotype JSON needs the keys "space" and "genotype"')
    unknown = set(envelope) - {"space", "genotype", "options"}
    if unknown:
        raise GenotypeError(f"genotype JSON has unknown keys: {', '.join(sorted(unknown))}")
    name = envelope["space"]
    if name not in SEARCH_SPACES:
        raise GenotypeError(
            f"unknown search space {name!r}; choose one of: {', '.join(SEARCH_SPACES.names())}"
        )
    space = create_space(name, envelope.get("options"))
    return space, space.parse(str(envelope["genotype"]))
