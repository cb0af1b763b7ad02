"""A rider's first photo and a worker's first alert map no longer pay the process's one-time
costs (SciPy's FFT for the photo hash, Pillow's encoders and fonts): the app pays them at
start, on the map it routes with."""

from __future__ import annotations

from pathlib import Path

from bot.app import SAMPLE_MAP, bootstrap, warm_up
from bot.config import load_settings
from bot.geo import render


async def test_warm_up_draws_a_map_of_the_current_grid_map(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}",
        photo_dir=tmp_path / "photos",
    )
    app = await bootstrap(settings, sample_map=SAMPLE_MAP)
    try:
        gridmap = app.env.maps.current()
        assert not render._BASES.get(gridmap)  # a map object new to this process
        warm_up(app.env, settings)
        assert render._BASES.get(gridmap)  # its first alert map starts from a drawn base
    finally:
        await app.engine.dispose()
