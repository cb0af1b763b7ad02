"""``gridsnap sandbox reset`` as an operator runs it: the installed command, in a new process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_kit import run_gridsnap

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "realworld" / "photos"


def _sandbox_files(tmp_path: Path, sqlite_template: Path) -> tuple[Path, Path]:
    """A migrated SQLite database with a leftover WAL beside it, and a photo directory."""
    database = tmp_path / "var" / "gridsnap.db"
    database.parent.mkdir()
    shutil.copyfile(sqlite_template, database)
    database.with_name("gridsnap.db-wal").write_bytes(b"")
    photos = tmp_path / "var" / "photos" / "ab"
    photos.mkdir(parents=True)
    shutil.copyfile(next((PHOTOS / "gps").glob("*.jpg")), photos / "ab12.jpg")
    chats = tmp_path / "var" / "sandbox-chats"  # the web chat's kept conversations
    chats.mkdir()
    (chats / "chats.json").write_text("{}")
    return database, photos.parent


def test_sandbox_reset_with_yes_deletes_the_sqlite_database_and_the_photos(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database, photos = _sandbox_files(tmp_path, sqlite_template)

    done = run_gridsnap(
        "sandbox",
        "reset",
        "--yes",
        url=f"sqlite+aiosqlite:///{database}",
        cwd=tmp_path,
        GRIDSNAP_PHOTO_DIR=str(photos),
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Sandbox reset" in done.stdout
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == []


@pytest.mark.parametrize(
    "url",
    ["postgresql+asyncpg://postgres@127.0.0.1:5432/test", "sqlite+aiosqlite:///:memory:"],
)
def test_sandbox_reset_refuses_a_database_that_is_not_a_sqlite_file_and_deletes_nothing(
    tmp_path: Path, sqlite_template: Path, url: str
) -> None:
    database, photos = _sandbox_files(tmp_path, sqlite_template)

    done = run_gridsnap(
        "sandbox", "reset", "--yes", url=url, cwd=tmp_path, GRIDSNAP_PHOTO_DIR=str(photos)
    )

    assert done.returncode == 2
    assert "reset only deletes a SQLite file" in done.stdout
    assert database.is_file()
    assert [p.name for p in photos.rglob("*.jpg")] == ["ab12.jpg"]


def test_sandbox_reset_answered_no_says_cancelled_and_deletes_nothing(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database, photos = _sandbox_files(tmp_path, sqlite_template)

    done = run_gridsnap(
        "sandbox",
        "reset",
        url=f"sqlite+aiosqlite:///{database}",
        cwd=tmp_path,
        answer="n\n",
        GRIDSNAP_PHOTO_DIR=str(photos),
    )

    assert done.returncode == 1
    assert "Cancelled: nothing was deleted." in done.stdout
    assert database.is_file() and (tmp_path / "var" / "sandbox-chats" / "chats.json").is_file()
    assert [p.name for p in photos.rglob("*.jpg")] == ["ab12.jpg"]


@pytest.mark.parametrize("command", [(), ("sandbox", "reset"), ("map", "route")])
def test_help_shows_flags_without_a_value_type(tmp_path: Path, command: tuple[str, ...]) -> None:
    done = run_gridsnap(*command, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--help" in done.stdout and "Show this message and exit." in done.stdout
    assert "<bool>" not in done.stdout
