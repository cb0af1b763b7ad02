"""``gridsnap map``: import a boundary file, route a point, show statistics."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
