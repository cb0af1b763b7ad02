"""``gridsnap db upgrade`` as an operator runs it: the installed command, in a new process."""

from __future__ import annotations

import subprocess
from pathlib import Path

from storage import migrate
from tests.cli_kit import run_gridsnap


def _gridsnap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_gridsnap(*args, **(env or {}))


async def test_db_upgrade_brings_the_configured_database_to_the_newest_revision(
    database_url: str,
) -> None:
    done = _gridsnap("db", "upgrade", env={"GRIDSNAP_DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    assert f"database at revision {migrate.head()}" in done.stdout
    assert await migrate.current(database_url) == migrate.head()


def test_db_upgrade_creates_the_sqlite_file_in_an_existing_folder(tmp_path: Path) -> None:
    path = tmp_path / "gridsnap.db"
    done = _gridsnap("db", "upgrade", "--url", f"sqlite:///{path}")
    assert done.returncode == 0, done.stderr
    assert path.is_file()


def test_issue8_a_sqlite_path_in_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "gridsnap.db"
    for args in (("db", "upgrade"), ("map", "stats"), ("run",)):
        done = _gridsnap(*args, env={"GRIDSNAP_DATABASE_URL": f"sqlite:///{path}"})
        assert done.returncode == 2, done.stdout + done.stderr
        output = (done.stdout + done.stderr).strip()
        assert "Traceback" not in output
        assert len(output.splitlines()) == 1, output
        assert "GRIDSNAP_DATABASE_URL" in output
        assert f"folder {path.parent} does not exist" in output
        assert not path.parent.exists()


def test_a_db_command_with_a_bad_setting_names_the_variable_and_exits_2() -> None:
    done = _gridsnap("db", "current", env={"GRIDSNAP_TIMEZONE": "Mars/Olympus"})
    assert done.returncode == 2
    assert "GRIDSNAP_TIMEZONE" in done.stderr
