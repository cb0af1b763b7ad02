"""Several processes starting at once on a fresh database (a deploy of N workers): each
migrates, one at a time, and every one of them succeeds."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from storage import migrate
from tests.cli_kit import GRIDSNAP

PROCESSES = 4


def _start_upgrade(url: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "GRIDSNAP_DATABASE_URL": url}
    return subprocess.Popen(
        [str(GRIDSNAP), "db", "upgrade"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_issue8_processes_racing_to_migrate_a_fresh_database_all_succeed(
    database_url: str, tmp_path: Path
) -> None:
    racers = [_start_upgrade(database_url, tmp_path) for _ in range(PROCESSES)]
    outputs = [racer.communicate(timeout=120)[0] for racer in racers]

    for racer, output in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, output
        assert "Traceback" not in output
        assert f"database at revision {migrate.head()}" in output
    assert await migrate.current(database_url) == migrate.head()
