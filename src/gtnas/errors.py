"""Errors a user can act on.

Library code raises these with a one-line message that names the problem and the fix; the CLI
prints the message (never a traceback) and exits non-zero. Programming errors stay ordinary
Python exceptions.
"""


class GtnasError(Exception):
    """Base class: a problem with the user's input, data or environment."""


class DataError(GtnasError):
    """A data set is missing, corrupt, or not in the expected format."""


class ConfigError(GtnasError):
    """A configuration key or value is invalid."""


class NonFiniteError(GtnasError):
    """Training produced non-finite values too often to continue."""


class GenotypeError(ConfigError):
    """A genotype is invalid for its search space (unknown op, input out of range, ...)."""


class OutOfTime(GtnasError):
    """A time budget ran out before a stage finished; its message says what the stage had
    done (everything done is kept, so the same command with more time resumes it)."""
