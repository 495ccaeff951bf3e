"""Learners drawn from a search space, for meta-training a teacher on the architectures a
search will evaluate.

The GTN paper meta-trains on randomly sampled architectures so that the teacher generalises
across the search space; the public code used one fixed learner. Each outer iteration this
sampler draws a genotype uniformly from the space and builds it as a weight-normalised learner
(``norm="wn"``), initialised from the same generator.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gtnas.learners.layers import init_learner
from gtnas.seeding import make_generator
from gtnas.spaces.base import SearchSpace

# The reference genotype of a space (what `default` builds, the space's counterpart of the
# paper's fixed learner) is its first sample from this seed: fixed across runs and machines.
REFERENCE_SEED = 0


class SpaceLearnerSampler:
    """A :class:`gtnas.learners.LearnerSampler` over a search space's architectures."""

    def __init__(
        self,
        space: SearchSpace,
        image_shape: tuple[int, int, int],
        num_classes: int,
        blueprint: str | dict[str, Any] = "search",
        reference: Any = None,
    ) -> None:
        self.space, self.image_shape, self.num_classes = space, image_shape, num_classes
        self.name = space.name
        self.blueprint = space.resolve_blueprint(blueprint)
        if reference is None:
            reference = space.sample(make_generator(REFERENCE_SEED))
        space.validate(reference)
        self.reference = reference
        self.last_genotype: Any = None  # the genotype of the most recent `sample`

    def build(self, genotype: Any, generator: torch.Generator) -> nn.Module:
        network = self.space.build(
            genotype, self.image_shape, self.num_classes, norm="wn", blueprint=self.blueprint
        )
        return init_learner(network, generator)

    def default(self, generator: torch.Generator) -> nn.Module:
        return self.build(self.reference, generator)

    def sample(self, generator: torch.Generator) -> nn.Module:
        self.last_genotype = self.space.sample(generator)
        return self.build(self.last_genotype, generator)


class CalibrationSampler(SpaceLearnerSampler):
    """Learners drawn uniformly from given architectures of known accuracy (the calibration
    set of a ranking-aware meta-objective, :mod:`gtnas.meta.ranking`): ``accuracies`` maps each
    genotype's string (without the space prefix) to its accuracy after real training;
    ``last_accuracy`` is that of the most recent ``sample``."""

    def __init__(
        self,
        space: SearchSpace,
        image_shape: tuple[int, int, int],
        num_classes: int,
        accuracies: dict[str, float],
        blueprint: str | dict[str, Any] = "search",
    ) -> None:
        super().__init__(space, image_shape, num_classes, blueprint)
        if len(accuracies) < 2:
            raise ValueError("a calibration set needs at least 2 architectures")
        self.genotypes = [space.parse(text) for text in accuracies]
        self.accuracies = [float(a) for a in accuracies.values()]
        self.last_accuracy: float | None = None

    def sample(self, generator: torch.Generator) -> nn.Module:
        index = int(torch.randint(len(self.genotypes), (), generator=generator))
        self.last_genotype, self.last_accuracy = self.genotypes[index], self.accuracies[index]
        return self.build(self.last_genotype, generator)
