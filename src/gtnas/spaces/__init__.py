"""Search spaces: genotypes and the networks built from them (see :mod:`gtnas.spaces.base`)."""

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
