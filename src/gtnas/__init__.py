"""gtnas: neural architecture search accelerated by Generative Teaching Networks.

Sub-packages, one concept each, bottom to top (imports point down; tests/test_layering.py):

- ``gtnas.errors``, ``registry``, ``config``, ``seeding``, ``ranks``, ``runtime``: below all
  (errors, registries, typed configs, seeds, ranks; devices, processes, files, checkpoints,
  the run-folder lifecycle, metrics, progress)
- ``gtnas.data``      real data sets (MNIST, Fashion-MNIST, CIFAR-10, user folders), splits
- ``gtnas.learners``  weight-normalised learner networks and learner samplers
- ``gtnas.spaces``    search spaces: genotypes, networks, what to draw
- ``gtnas.teachers``  what produces training batches: GTN, GTN without curriculum, optimised
                      pixels, real data; ``gtnas.training``: final training on real data
- ``gtnas.meta``      the bilevel loop: inner training, meta-gradients, meta-training runs,
                      teacher assessment; ``gtnas.export``: found networks as files
- ``gtnas.search``    proxies, strategies, studies, executors, the search loop and ladder,
                      truth builds, the end-to-end pipeline
- ``gtnas.analysis``  truth sets, rank correlations, noise ceiling, speed-up, simulation
- ``gtnas.reports``   plots and reports
- ``gtnas.cli``       the ``gtnas`` command line
"""

from gtnas.errors import GtnasError

__all__ = ["GtnasError", "__version__"]
__version__ = "0.1.0"
