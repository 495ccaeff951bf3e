"""Search spaces: genotypes and the networks built from them (see :mod:`gtnas.spaces.base`)."""

# Importing a space's module registers it in SEARCH_SPACES.
from gtnas.spaces import gtn_cell, nb201, randwire  # noqa: F401
from gtnas.spaces.base import (
    NORMS,
    SEARCH_SPACES,
    Decision,
    SearchSpace,
    create_space,
    format_genotype,
    genotype_from_json,
    parse_genotype,
)

__all__ = [
    "NORMS",
    "SEARCH_SPACES",
    "Decision",
    "SearchSpace",
    "create_space",
    "format_genotype",
    "genotype_from_json",
    "parse_genotype",
]
