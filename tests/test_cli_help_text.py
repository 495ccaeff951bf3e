"""Commands' help is wrapped by the terminal, not by the source's line breaks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gtnas.cli.app import main
from gtnas.cli.help_text import reflow


def test_prose_paragraphs_are_joined_and_lists_and_commands_kept() -> None:
    text = """Summary line.

    A paragraph wrapped
    at the source's width.

    - a list item
    - another

        indented block
        kept

    gtnas search --space nb201
    gtnas report STUDY
    """
    assert reflow(text) == (
        "Summary line.\n\n"
        "A paragraph wrapped at the source's width.\n\n"
        "- a list item\n- another\n\n"
        "    indented block\n    kept\n\n"
        "gtnas search --space nb201\ngtnas report STUDY"
    )


@pytest.mark.parametrize(
    "command,words",
    [  # each spans a line break of the docstring
        (["search"], "exports the best. On nb201 the defaults"),
        (["truth", "build"], "The defaults take about 18 hours"),
    ],
)
def test_help_joins_the_source_lines_of_a_paragraph(capsys, monkeypatch, command, words) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that the terminal wraps none of these
    assert main([*command, "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(words in line for line in lines), lines


def test_the_command_line_starts_without_torch() -> None:
    """`gtnas --help` stays fast: the CLI imports a command's machinery (and torch) when the
    command runs, not when it starts."""
    script = "import sys, gtnas.cli.app; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]
