"""Commands' help as the terminal should wrap it.

Typer (0.29) keeps a docstring's single line breaks after the first paragraph, so text wrapped
at the source's 100 columns prints as ragged short lines in an 80-column terminal. Before the
command runs, each command's help has the lines of every prose paragraph joined, and the
terminal wraps them; a paragraph that is a list, an example command or indented stays as
written, line for line.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

# A line that starts a list item, an example command or a block kept as written.
_KEEP = re.compile(r"^(\s|[-*•] |\d+[.)] |\$ |gtnas |python |make |\|)")


def reflow(text: str) -> str:
    """``text`` (a docstring) with each prose paragraph on one line; paragraphs with a list
    item, an example command or an indented line are kept line for line."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if any(_KEEP.match(line) for line in lines):
            out.append(paragraph)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def reflow_commands(command: Any) -> None:
    """Reflow the help of ``command`` (a click command, Typer's own copy of click) and of
    every command under it, in place."""
    if command.help:
        command.help = reflow(command.help)
    for sub in (getattr(command, "commands", None) or {}).values():
        reflow_commands(sub)
