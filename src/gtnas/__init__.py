"""gtnas: neural architecture search accelerated by Generative Teaching Networks.

Sub-packages, one concept each:

- ``gtnas.data``      real data sets (MNIST, Fashion-MNIST, CIFAR-10, user folders), splits
- ``gtnas.learners``  weight-normalised learner networks and learner samplers
- ``gtnas.teachers``  things that produce training batches: GTN, GTN without curriculum,
                      optimised pixels, real data
- ``gtnas.meta``      the bilevel loop: differentiable inner training, meta-training
- ``gtnas.runtime``   devices, checkpoints, metric logs
- ``gtnas.reports``   plots and reports
- ``gtnas.cli``       the ``gtnas`` command line
"""

from gtnas.errors import GtnasError

__all__ = ["GtnasError", "__version__"]
__version__ = "0.1.0"
