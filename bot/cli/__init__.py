"""The ``gridsnap`` command. Each sub-command group lives in its own module."""

from __future__ import annotations

from typing import Any

import typer

from bot.cli import db, informants, map_cmd, run, staff, stats
from bot.cli.database import DatabaseUnreachable

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Gridsnap grid-informant bot.")
app.add_typer(db.app, name="db", help="Database migrations.")
app.add_typer(map_cmd.app, name="map", help="Grid map: import, route, stats.")
app.add_typer(
    informants.app, name="informants", help="Informant applications: list, approve, reject."
)
app.add_typer(staff.app, name="staff", help="Staff: invite links, list, remove.")
app.add_typer(stats.app, name="stats", help="Aggregate counts (never names).")
app.command("run")(run.run)
app.add_typer(run.sandbox_app, name="sandbox")


def command() -> Any:
    """The click command behind ``app``, with flags shown as flags in the help.

    Typer's rich help prints ``<bool>`` as the value type of every flag, ``--help`` included,
    though a flag takes no value; an empty metavar shows nothing there instead. (Typer
    vendors its own click, so its objects are handled by what they have, not by class.)"""
    root = typer.main.get_command(app)
    _quiet_flags(root, None)
    return root


def _quiet_flags(cmd: Any, parent: Any) -> None:
    context = cmd.context_class(cmd, info_name=cmd.name, parent=parent)
    for param in cmd.get_params(context):  # the help option is made (and kept) here
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(cmd, "commands", {}).values():
        _quiet_flags(sub, context)


def main() -> None:
    """Console entry point: usage errors (latitude 91, text for a number, an unknown option
    value) come out as one line naming the parameter instead of a boxed help screen."""
    # Typer vendors click; its UsageError is the base of every command-line mistake.
    usage_error: type[Exception] = typer.BadParameter.__mro__[1]
    try:
        # Without standalone mode click hands back a command's exit code instead of exiting.
        code = command().main(standalone_mode=False, prog_name="gridsnap")
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except DatabaseUnreachable as exc:  # any command's first connection; names the variable
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    except usage_error as exc:
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            typer.echo(context.get_help())
            raise SystemExit(0) from None
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        typer.echo(f"error: {message}", err=True)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    raise SystemExit(code if isinstance(code, int) else 0)
