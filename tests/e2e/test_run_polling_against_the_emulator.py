"""``gridsnap run`` with a token and no webhook URL, as a real process: it long-polls the Bot
API at ``GRIDSNAP_TELEGRAM_API_URL`` (here the emulator, started by this test on a free
local port), says which bot it polls as, answers a rider, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.transports.emulator import BotApiEmulator
from tests.e2e.conftest import has_button

GRIDSNAP = Path(sys.executable).with_name("gridsnap")
BOT_USERNAME = "polling_probe_bot"  # not the settings' default, so it must come from getMe
START_TIMEOUT_S = 90.0
WAIT = 15.0


async def _read_until(stream: asyncio.StreamReader, needle: str) -> str:
    """Lines from ``stream`` until one holds ``needle`` or the stream ends; all of them."""
    seen = ""
    async with asyncio.timeout(START_TIMEOUT_S):
        while needle not in seen:
            line = await stream.readline()
            if not line:
                break
            seen += line.decode()
    return seen


def _environment(emulator: BotApiEmulator, tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRIDSNAP_")},
        "GRIDSNAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
        "GRIDSNAP_PHOTO_DIR": str(tmp_path / "photos"),
        "GRIDSNAP_TELEGRAM_TOKEN": emulator.token,
        "GRIDSNAP_TELEGRAM_API_URL": emulator.url,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


async def test_run_with_a_token_polls_as_the_bot_answers_start_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    async with BotApiEmulator(bot_username=BOT_USERNAME, host="127.0.0.1", port=0) as emulator:
        process = await asyncio.create_subprocess_exec(
            str(GRIDSNAP),
            "run",
            cwd=tmp_path,  # away from the repository, so no developer's .env leaks in
            env=_environment(emulator, tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert process.stdout is not None
        try:
            printed = await _read_until(process.stdout, f"@{BOT_USERNAME}")
            assert f"polling Telegram as @{BOT_USERNAME}" in printed, printed

            rider = emulator.user(first_name="Wang", language_code="en")
            emulator.send_text(rider["id"], "/start")
            consent = await emulator.wait_for_message(
                rider["id"], has_button("reg:agree"), timeout=WAIT
            )
            assert "What we collect" in consent.text
            assert emulator.calls("getUpdates"), "the reply did not come by polling"
            assert emulator.world.webhook is None

            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(START_TIMEOUT_S):
                rest, _ = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    output = printed + rest.decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
