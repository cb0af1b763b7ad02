"""The ``gridsnap`` command. Each sub-command group lives in its own module."""

from __future__ import annotations

import typer

from bot.cli import db, informants, map_cmd, run, staff

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Gridsnap grid-informant bot.")
app.add_typer(db.app, name="db", help="Database migrations.")
app.add_typer(map_cmd.app, name="map", help="Grid map: import, route, stats.")
app.add_typer(
    informants.app, name="informants", help="Informant applications: list, approve, reject."
)
app.add_typer(staff.app, name="staff", help="Staff: invite links, list, remove.")
app.command("run")(run.run)
app.add_typer(run.sandbox_app, name="sandbox")
