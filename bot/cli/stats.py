"""``gridsnap stats``: figures for supervisors. Each area's commands live in their own
module and are registered here."""

from __future__ import annotations

import typer

from bot.cli import stats_volunteers

app = typer.Typer(no_args_is_help=True)
stats_volunteers.register(app)
