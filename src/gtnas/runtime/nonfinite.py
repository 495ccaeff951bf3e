"""Skipping non-finite steps without letting a run of them go unnoticed."""

from __future__ import annotations

from gtnas.errors import NonFiniteError


class SkipGuard:
    """Counts skipped (non-finite) steps; ``limit`` in a row raise :class:`NonFiniteError` with
    :meth:`message`. Subclasses say what a step is and what to do about it."""

    def __init__(self, limit: int, skipped_total: int = 0, consecutive: int = 0) -> None:
        self.limit, self.skipped_total, self.consecutive = limit, skipped_total, consecutive

    def update(self, skipped: bool, *where: int) -> None:
        """Record one step; ``where`` (iteration, step, epoch...) goes into the message."""
        if not skipped:
            self.consecutive = 0
            return
        self.skipped_total += 1
        self.consecutive += 1
        if self.consecutive >= self.limit:
            raise NonFiniteError(self.message(*where))

    def message(self, *where: int) -> str:
        raise NotImplementedError
