"""Entry point of the ``gtnas`` command.

Every user-facing error (:class:`gtnas.errors.GtnasError`) becomes one readable line on stderr
and exit status 2; any other exception one line too, naming its type, with exit status 1; an
interrupted command exits 130. ``GTNAS_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from gtnas import __version__
from gtnas.cli import analysis as analysis_cli
from gtnas.cli import arch as arch_cli
from gtnas.cli import data as data_cli
from gtnas.cli import search as search_cli
from gtnas.cli import teach as teach_cli
from gtnas.cli import truth as truth_cli
from gtnas.cli.help_text import reflow_commands
from gtnas.cli.options import set_invocation
from gtnas.errors import GtnasError
from gtnas.runtime.allocator import keep_freed_memory
from gtnas.runtime.launch import LAUNCHED

app = typer.Typer(
    name="gtnas",
    help="Neural architecture search accelerated by Generative Teaching Networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(arch_cli.app, name="arch")
app.add_typer(data_cli.app, name="data")
app.add_typer(teach_cli.app, name="teach")
app.command("search")(search_cli.search)
app.command("report")(search_cli.report)
app.add_typer(truth_cli.app, name="truth")
app.command("rank-corr")(analysis_cli.rank_corr)
app.command("speedup")(analysis_cli.speedup)
app.command("simulate")(analysis_cli.simulate)

err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gtnas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Neural architecture search accelerated by Generative Teaching Networks."""


def _one_line(exc: Exception) -> str:
    """What went wrong, and a hint, in one line (its closing parenthesis left to the caller)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        # A path the command could not make, read or write (`--out /proc/x`, a full disk): name
        # the path and the reason, not the exception class.
        where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
        return f"{where}: {exc.strerror or exc} (check the path, its permissions and the free disk"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    hint = (
        "check the path, the disk and its permissions"
        if isinstance(exc, OSError)
        else "a bug, or something changed under a running command (a file or a database)"
    )
    return f"unexpected {type(exc).__name__}: {first} ({hint}"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (also used by tests)."""
    keep_freed_memory()  # training frees and re-allocates large tensors (gtnas.runtime.allocator)
    set_invocation(list(sys.argv[1:] if argv is None else argv))
    try:
        command = typer.main.get_command(app)
        reflow_commands(command)
        status = command(args=argv, prog_name="gtnas", standalone_mode=False)
    except GtnasError as exc:
        if os.environ.get("GTNAS_DEBUG"):
            raise
        if getattr(exc, "launcher_reports", False) and os.environ.get(LAUNCHED):
            return 2  # a rank of `--nproc N`: the launcher says which rank stopped, once
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                          soft_wrap=True)  # fmt: skip
        return 2
    except KeyboardInterrupt:  # before Typer took the command over (it returns 130 itself)
        status = 130
    except typer.Abort:
        err_console.print("[yellow]aborted[/]")
        return 1
    except typer.TyperException as exc:  # usage errors (bad option, missing argument)
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        return int(getattr(exc, "exit_code", 2))
    except Exception as exc:  # anything else: still one line, the traceback on request
        if os.environ.get("GTNAS_DEBUG"):
            raise
        err_console.print(
            f"[bold red]error:[/] {escape(_one_line(exc))}; run again with GTNAS_DEBUG=1 for the "
            "traceback)",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    # Outside standalone mode Typer turns Ctrl-C (KeyboardInterrupt) and typer.Exit into an exit
    # status it returns rather than raises (so no typer.Exit reaches here); the commands
    # themselves return None.
    if isinstance(status, int) and not isinstance(status, bool) and status:
        if status == 130:
            err_console.print("[yellow]interrupted[/]")
        return status
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
