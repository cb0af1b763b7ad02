"""``gridsnap run`` starting up as a real process (issue 8: no silent fallbacks at start).

No sandbox on a configured database; a Bot API that is not up yet is retried, one line per
attempt, until it answers; a command menu Telegram refuses does not stop the bot; a taken
port is one line naming its variable; a database with no map says so once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.transports.emulator import BotApiEmulator
from tests.cli_kit import run_gridsnap
from tests.e2e.conftest import has_button

GRIDSNAP = Path(sys.executable).with_name("gridsnap")
BOT_USERNAME = "startup_probe_bot"
TOKEN = "123456789:gridsnap-emulator"  # the emulator's default
START_TIMEOUT_S = 90.0
WAIT = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRIDSNAP_")},
        "GRIDSNAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
        "GRIDSNAP_PHOTO_DIR": str(tmp_path / "photos"),
        "GRIDSNAP_SANDBOX_DIR": str(tmp_path / "sandbox"),
        "GRIDSNAP_TELEGRAM_TOKEN": TOKEN,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        **extra,
    }


async def _start(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(GRIDSNAP),
        "run",
        cwd=cwd,  # away from the repository, so no developer's .env leaks in
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _read_until(process: asyncio.subprocess.Process, needle: str, times: int = 1) -> str:
    """Output lines until ``needle`` was seen ``times`` times or the output ends; all of them."""
    assert process.stdout is not None
    seen = ""
    async with asyncio.timeout(START_TIMEOUT_S):
        while seen.count(needle) < times:
            line = await process.stdout.readline()
            if not line:
                break
            seen += line.decode()
    return seen


async def _stop(process: asyncio.subprocess.Process) -> str:
    """SIGTERM, then the rest of the output."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(START_TIMEOUT_S):
        rest, _ = await process.communicate()
    return rest.decode()


def _lines_with(output: str, fragment: str) -> list[str]:
    return [line for line in output.splitlines() if fragment in line]


# -- the sandbox only on its own file -------------------------------------------------------


@pytest.mark.parametrize(
    "configured", ["sqlite", "postgresql://postgres@127.0.0.1:5432/production"], ids=str
)
def test_issue8_run_without_a_token_refuses_a_configured_database_naming_the_variable(
    tmp_path: Path, configured: str
) -> None:
    production = tmp_path / "production.db"
    url = f"sqlite:///{production}" if configured == "sqlite" else configured
    env = {"GRIDSNAP_SANDBOX_PORT": "0", "GRIDSNAP_SANDBOX_DIR": str(tmp_path / "sandbox")}

    done = run_gridsnap("run", url=url, cwd=tmp_path, **env)

    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert "GRIDSNAP_DATABASE_URL" in output
    assert "GRIDSNAP_TELEGRAM_TOKEN" in output
    assert "gridsnap sandbox run" in output
    assert not production.exists()
    assert not (tmp_path / "sandbox").exists()


# -- the Bot API at start ---------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["ptb", "aiogram"])
async def test_issue8_an_unreachable_bot_api_is_retried_one_line_per_attempt_until_it_answers(
    tmp_path: Path, transport: str
) -> None:
    port = _free_port()
    api = f"http://127.0.0.1:{port}"
    env = _environment(tmp_path, GRIDSNAP_TELEGRAM_API_URL=api, GRIDSNAP_TRANSPORT=transport)
    process = await _start(env, tmp_path)
    try:
        retrying = await _read_until(process, "not reachable", times=2)
        async with BotApiEmulator(bot_username=BOT_USERNAME, port=port) as emulator:
            started = await _read_until(process, f"polling Telegram as @{BOT_USERNAME}")
            assert f"@{BOT_USERNAME}" in started, retrying + started
            rider = emulator.user(first_name="Wang", language_code="en")
            emulator.send_text(rider["id"], "/start")
            consent = await emulator.wait_for_message(
                rider["id"], has_button("reg:agree"), timeout=WAIT
            )
            assert "What we collect" in consent.text
            rest = await _stop(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = retrying + started + rest
    assert process.returncode == 0, output
    assert "Traceback" not in output
    attempts = _lines_with(output, "not reachable")
    assert len(attempts) >= 2, output
    assert [f"attempt {n}:" in line for n, line in enumerate(attempts, 1)] == [True] * len(attempts)
    assert all(api in line for line in attempts), attempts
    # Outside the sandbox an empty database gets no sample map, and says so once.
    assert len(_lines_with(output, "no grid map imported")) == 1, output
    # No other warning or error at start: one line per attempt, no exception dumped beside it.
    start = retrying + started
    complaints = _lines_with(start, " WARNING ") + _lines_with(start, " ERROR ")
    assert len(complaints) == len(attempts) + 1, output


async def test_issue8_sigterm_while_the_bot_api_is_retried_stops_the_start_cleanly(
    tmp_path: Path,
) -> None:
    api = f"http://127.0.0.1:{_free_port()}"
    process = await _start(_environment(tmp_path, GRIDSNAP_TELEGRAM_API_URL=api), tmp_path)
    try:
        retrying = await _read_until(process, "not reachable")
        assert "not reachable" in retrying, retrying
        rest = await _stop(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, retrying + rest
    assert "Traceback" not in retrying + rest
    assert "Stopped before start-up finished" in rest


@pytest.mark.parametrize("transport", ["ptb", "aiogram"])
async def test_issue8_a_command_menu_telegram_refuses_is_logged_once_and_the_bot_runs(
    tmp_path: Path, transport: str
) -> None:
    async with BotApiEmulator(bot_username=BOT_USERNAME) as emulator:
        emulator.world.faults.inject("setMyCommands", times=10, status=500)
        env = _environment(
            tmp_path, GRIDSNAP_TELEGRAM_API_URL=emulator.url, GRIDSNAP_TRANSPORT=transport
        )
        process = await _start(env, tmp_path)
        try:
            started = await _read_until(process, f"polling Telegram as @{BOT_USERNAME}")
            assert f"@{BOT_USERNAME}" in started, started
            rider = emulator.user(first_name="Wang", language_code="en")
            emulator.send_text(rider["id"], "/start")
            consent = await emulator.wait_for_message(
                rider["id"], has_button("reg:agree"), timeout=WAIT
            )
            assert "What we collect" in consent.text
            rest = await _stop(process)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    output = started + rest
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert len(_lines_with(output, "command menu not set")) == 1, output


# -- ports ----------------------------------------------------------------------------------


def _one_error_line(output: str, fragment: str) -> str:
    assert "Traceback" not in output
    naming = _lines_with(output, fragment)
    assert len(naming) == 1, output
    assert _lines_with(output, " ERROR ") == [], output
    return naming[0]


def test_issue8_a_taken_sandbox_port_is_one_line_naming_gridsnap_sandbox_port(
    tmp_path: Path, taken_port: int
) -> None:
    env = _environment(tmp_path, GRIDSNAP_SANDBOX_PORT=str(taken_port))
    env.pop("GRIDSNAP_TELEGRAM_TOKEN")
    env.pop("GRIDSNAP_DATABASE_URL")

    done = run_gridsnap("run", cwd=tmp_path, **env)

    line = _one_error_line(done.stdout + done.stderr, f":{taken_port}")
    assert done.returncode == 1
    assert "GRIDSNAP_SANDBOX_PORT" in line
    assert "in use" in line


def test_issue8_a_taken_webhook_port_is_one_line_naming_gridsnap_webhook_port(
    tmp_path: Path, taken_port: int
) -> None:
    env = _environment(
        tmp_path,
        GRIDSNAP_TELEGRAM_API_URL=f"http://127.0.0.1:{_free_port()}",
        GRIDSNAP_WEBHOOK_URL="https://bot.example.org/telegram",
        GRIDSNAP_WEBHOOK_SECRET="webhook-secret",
        GRIDSNAP_WEBHOOK_HOST="127.0.0.1",
        GRIDSNAP_WEBHOOK_PORT=str(taken_port),
    )

    done = run_gridsnap("run", cwd=tmp_path, **env)

    line = _one_error_line(done.stdout + done.stderr, f":{taken_port}")
    assert done.returncode == 1
    assert "GRIDSNAP_WEBHOOK_PORT" in line
    assert "in use" in line
