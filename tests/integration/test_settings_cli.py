"""A bad or unreachable GRIDSNAP_DATABASE_URL, met by the installed ``gridsnap`` command: one
line naming the variable, a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.cli.database import DatabaseUnreachable, ensure_reachable
from tests.cli_kit import run_gridsnap

COMMANDS = [
    ("run",),
    ("db", "upgrade"),
    ("map", "stats"),
    ("informants", "list"),
    ("staff", "list"),
]


def gridsnap(args: tuple[str, ...], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # With a token `run` opens the configured database (without one it refuses any set
    # GRIDSNAP_DATABASE_URL outright). Should a check ever let it through, it must not reach
    # Telegram, take a port or write photos here.
    return run_gridsnap(
        *args,
        url=url,
        cwd=cwd,
        GRIDSNAP_TELEGRAM_TOKEN="123456:settings-test",
        GRIDSNAP_TELEGRAM_API_URL=f"http://127.0.0.1:{closed_port()}",
        GRIDSNAP_SANDBOX_PORT="0",
        GRIDSNAP_PHOTO_DIR=str(cwd / "photos"),
    )


def the_one_line(done: subprocess.CompletedProcess[str]) -> str:
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_malformed_database_url_stops_the_command_naming_the_variable(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = gridsnap(args, "nonsense", tmp_path)
    assert done.returncode == 2
    assert "GRIDSNAP_DATABASE_URL" in the_one_line(done)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_database_server_that_does_not_answer_is_named_with_the_reason(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = f"postgresql://postgres:s3cret@127.0.0.1:{closed_port()}/gridsnap"
    done = gridsnap(args, url, tmp_path)
    assert done.returncode == 1
    line = the_one_line(done)
    assert "GRIDSNAP_DATABASE_URL" in line
    assert "Connect call failed" in line
    assert "s3cret" not in line


@pytest.mark.parametrize("args", [("db", "upgrade"), ("map", "stats")], ids=" ".join)
def test_a_file_that_is_no_database_is_named_and_left_as_it_was(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("not a database, a shopping list\n" * 100)
    before = notes.read_bytes()
    done = gridsnap(args, f"sqlite:///{notes}", tmp_path)
    assert done.returncode == 1
    line = the_one_line(done)
    assert "GRIDSNAP_DATABASE_URL" in line
    assert "file is not a database" in line
    assert notes.read_bytes() == before


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_database_url_option_asyncpg_cannot_take_is_named_in_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/gridsnap?application_name=gridsnap"
    done = gridsnap(args, url, tmp_path)
    assert done.returncode == 2
    line = the_one_line(done)
    assert "GRIDSNAP_DATABASE_URL" in line
    assert "'application_name'" in line


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_an_unencoded_at_in_the_password_is_refused_without_showing_the_password(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = f"postgresql://postgres:p@ss@127.0.0.1:{closed_port()}/gridsnap"
    done = gridsnap(args, url, tmp_path)
    assert done.returncode == 2
    line = the_one_line(done)
    assert "GRIDSNAP_DATABASE_URL" in line
    assert "%40" in line
    assert "ss@" not in line


@pytest.mark.postgres
@pytest.mark.parametrize("args", [("db", "current"), ("staff", "list")], ids=" ".join)
def test_a_libpq_url_with_sslmode_and_connect_timeout_opens_the_database(
    tmp_path: Path, args: tuple[str, ...], postgres_migrated_url: str
) -> None:
    # As a managed PostgreSQL service hands it out; the test server speaks no SSL.
    plain = make_url(postgres_migrated_url).set(drivername="postgresql")
    url = plain.render_as_string(hide_password=False) + "?sslmode=disable&connect_timeout=10"
    done = gridsnap(args, url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


async def test_a_url_option_the_driver_refuses_is_one_cannot_open_line() -> None:
    # Past the settings' check (ensure_reachable takes any URL), asyncpg raises TypeError.
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/gridsnap?sslmode=require"
    with pytest.raises(DatabaseUnreachable, match="GRIDSNAP_DATABASE_URL: cannot open") as failed:
        await ensure_reachable(url)
    assert "\n" not in str(failed.value)
