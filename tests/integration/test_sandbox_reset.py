"""``gridsnap sandbox reset`` as an operator runs it: the installed command, in a new process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_kit import run_gridsnap

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "realworld" / "photos"


def _sandbox_files(folder: Path, sqlite_template: Path) -> tuple[Path, Path]:
    """A migrated SQLite database with a leftover WAL beside it, and a photo directory."""
    database = folder / "gridsnap.db"
    database.parent.mkdir()
    shutil.copyfile(sqlite_template, database)
    database.with_name("gridsnap.db-wal").write_bytes(b"")
    photos = folder / "photos" / "ab"
    photos.mkdir(parents=True)
    shutil.copyfile(next((PHOTOS / "gps").glob("*.jpg")), photos / "ab12.jpg")
    chats = folder / "sandbox-chats"  # the web chat's kept conversations
    chats.mkdir()
    (chats / "chats.json").write_text("{}")
    return database, photos.parent


def test_sandbox_reset_with_yes_deletes_the_sqlite_database_and_the_photos(
    tmp_path: Path, sqlite_template: Path
) -> None:
    _sandbox_files(tmp_path / "sandbox", sqlite_template)

    done = run_gridsnap(
        "sandbox", "reset", "--yes", cwd=tmp_path, GRIDSNAP_SANDBOX_DIR=str(tmp_path / "sandbox")
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Sandbox reset" in done.stdout
    assert sorted(p.name for p in (tmp_path / "sandbox").iterdir()) == []


@pytest.mark.parametrize("url", ["postgresql+asyncpg://postgres@127.0.0.1:5432/test", "sqlite"])
def test_issue8_sandbox_reset_deletes_only_the_sandbox_never_the_configured_database(
    tmp_path: Path, sqlite_template: Path, url: str
) -> None:
    production, production_photos = _sandbox_files(tmp_path / "production", sqlite_template)
    _sandbox_files(tmp_path / "sandbox", sqlite_template)
    configured = f"sqlite+aiosqlite:///{production}" if url == "sqlite" else url

    done = run_gridsnap(
        "sandbox",
        "reset",
        "--yes",
        url=configured,
        cwd=tmp_path,
        GRIDSNAP_PHOTO_DIR=str(production_photos),
        GRIDSNAP_SANDBOX_DIR=str(tmp_path / "sandbox"),
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "sandbox").iterdir()) == []
    assert production.is_file()
    assert [p.name for p in production_photos.rglob("*.jpg")] == ["ab12.jpg"]


def test_sandbox_reset_answered_no_says_cancelled_and_deletes_nothing(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database, photos = _sandbox_files(tmp_path / "sandbox", sqlite_template)

    done = run_gridsnap(
        "sandbox",
        "reset",
        cwd=tmp_path,
        answer="n\n",
        GRIDSNAP_SANDBOX_DIR=str(tmp_path / "sandbox"),
    )

    assert done.returncode == 1
    assert "Cancelled: nothing was deleted." in done.stdout
    assert database.is_file() and (tmp_path / "sandbox" / "sandbox-chats" / "chats.json").is_file()
    assert [p.name for p in photos.rglob("*.jpg")] == ["ab12.jpg"]


@pytest.mark.parametrize("command", [(), ("sandbox", "reset"), ("map", "route")])
def test_help_shows_flags_without_a_value_type(tmp_path: Path, command: tuple[str, ...]) -> None:
    done = run_gridsnap(*command, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--help" in done.stdout and "Show this message and exit." in done.stdout
    assert "<bool>" not in done.stdout
