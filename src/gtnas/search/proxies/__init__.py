"""Proxies: cheap scores that stand in for an architecture's accuracy after full training.

A proxy is named ``kind``, ``kind:K`` or ``kind:KxR`` (``gtn:128``, ``gtn:32x2``, ``real:1200``,
``gtn-schedule:32``, ``synflow``, ``naswot``, ``params``, ``train:7``, ``rankavg:gtn:128+params``)
and is built by :func:`create_proxy` from the registry ``PROXIES``. ``proxy.score(genotype,
context, seed)`` returns a :class:`ProxyResult` with the score (higher is better) and its cost in
seconds. One module per family, each registering its proxies:

- :mod:`.trained`: ``gtn:K`` (the paper's: a fresh weight-normalised learner trained K inner
  steps on a trained teacher's synthetic data with its learned learning rates and momenta,
  scored on the VALIDATION split; past the teacher's T steps the curriculum is replayed),
  ``real:K`` (K SGD steps on real batches at a learning rate tuned once per search: the paper's
  real-data proxy) and ``gtn-schedule:K`` (a diagnostic: real batches with the teacher's
  schedule, which tells whether a teacher's ranking errors come from its images or its
  schedule). ``KxR`` averages R independent repeats (repeat 0 is exactly ``K``): one K-step run
  is a noisy measurement, and repeats buy ranking quality for R times the steps.
- :mod:`.zero_cost`: ``synflow`` (Tanaka et al. 2020, as a zero-cost NAS proxy in Abdelfattah
  et al. 2021: with all weights positive and norms removed, log sum |theta * dR/dtheta| for R
  the summed outputs on an all-ones input), ``naswot`` (Mellor et al. 2021: log |det K| of the
  Hamming-agreement kernel of the ReLU codes of one real minibatch), and the free floor:
  ``params`` (parameters of the final-training network) and ``flops`` (FLOPs of its forward pass
  on one image, 2 per multiply-accumulate, as :func:`gtnas.training.measure.count_flops` counts
  them). Both cost nothing, and on NAS-Bench-201 FLOPs alone rank cells at about 0.8, so a proxy
  is only worth its seconds where it beats them.
- :mod:`.final_training`: ``train:E``, E epochs of the final-training recipe on real data ->
  validation accuracy: what ground-truth sets are built with.
- :mod:`.rank_average`: ``rankavg:A+B``, the mean rank under two or more proxies; a set proxy
  (:class:`SetProxy`) that scores a set of architectures from its components' columns.
- :mod:`.population`: any proxy over a population of evaluations (what a search or a rung
  ranks by): a set proxy evaluated as its components, then ranked among the population.

Every proxy is deterministic for a seed: initial weights and data come from generators derived
from (seed, genotype), never from global state.
"""

from gtnas.search.proxies.base import (
    PROXIES,
    Proxy,
    ProxyContext,
    ProxyResult,
    SetProxy,
    create_proxy,
    proxy_needs_teacher,
)
from gtnas.search.proxies.final_training import TrainProxy, default_truth_recipe
from gtnas.search.proxies.rank_average import RankAverageProxy
from gtnas.search.proxies.trained import GTNProxy, RealProxy, ScheduleProxy
from gtnas.search.proxies.zero_cost import FlopsProxy, NASWOTProxy, ParamsProxy, SynflowProxy

__all__ = [
    "PROXIES",
    "FlopsProxy",
    "GTNProxy",
    "NASWOTProxy",
    "ParamsProxy",
    "Proxy",
    "ProxyContext",
    "ProxyResult",
    "RankAverageProxy",
    "RealProxy",
    "ScheduleProxy",
    "SetProxy",
    "SynflowProxy",
    "TrainProxy",
    "create_proxy",
    "default_truth_recipe",
    "proxy_needs_teacher",
]
