"""``gridsnap run`` with WeChat, as a real process: WeChat alone (no Telegram token) serves
``/wechat`` and answers through the emulator; a partly configured WeChat stops at start
with one line naming what is missing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.transports.emulator import BotApiEmulator
from bot.transports.wechat_emulator import Receiver, WeChatEmulator
from tests.cli_kit import run_gridsnap
from tests.e2e.test_run_startup import START_TIMEOUT_S, _read_until, _start, _stop

TOKEN = "gridsnap-run-token"


def _wechat_environment(tmp_path: Path, emulator: WeChatEmulator) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRIDSNAP_")},
        "GRIDSNAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
        "GRIDSNAP_PHOTO_DIR": str(tmp_path / "photos"),
        "GRIDSNAP_WECHAT_APPID": emulator.appid,
        "GRIDSNAP_WECHAT_SECRET": emulator.secret,
        "GRIDSNAP_WECHAT_TOKEN": TOKEN,
        "GRIDSNAP_WECHAT_API_URL": emulator.url,
        "GRIDSNAP_WECHAT_HOST": "127.0.0.1",
        "GRIDSNAP_WECHAT_PORT": "0",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


async def test_run_with_wechat_alone_serves_the_callback_and_answers_through_the_api(
    tmp_path: Path,
) -> None:
    async with WeChatEmulator(receiver=Receiver(token=TOKEN)) as emulator:
        process = await _start(_wechat_environment(tmp_path, emulator), tmp_path)
        try:
            started = await _read_until(process, "serves WeChat callbacks on")
            port = re.search(r"127\.0\.0\.1:(\d+)/wechat", started)
            assert port is not None, started
            emulator.receiver.url = f"http://127.0.0.1:{port.group(1)}/wechat"
            assert await emulator.verify_url()
            emulator.user("oRunRider00000000000000000001")
            emulator.send_text("oRunRider00000000000000000001", "/help")
            answer = await emulator.wait_for_message(
                "oRunRider00000000000000000001", timeout=START_TIMEOUT_S
            )
        finally:
            rest = await _stop(process)
    assert answer.via == "custom" and answer.text
    assert process.returncode == 0, rest
    assert "Traceback" not in started + rest


async def test_run_with_telegram_and_wechat_serves_both_from_one_process(tmp_path: Path) -> None:
    async with (
        WeChatEmulator(receiver=Receiver(token=TOKEN)) as wechat,
        BotApiEmulator(bot_username="both_probe_bot") as telegram,
    ):
        env = {
            **_wechat_environment(tmp_path, wechat),
            "GRIDSNAP_TELEGRAM_TOKEN": telegram.token,
            "GRIDSNAP_TELEGRAM_API_URL": telegram.url,
        }
        process = await _start(env, tmp_path)
        try:
            started = await _read_until(process, "polling Telegram as @both_probe_bot")
            port = re.search(r"WeChat callbacks on 127\.0\.0\.1:(\d+)/wechat", started)
            assert port is not None, started
            wechat.receiver.url = f"http://127.0.0.1:{port.group(1)}/wechat"
            wechat.user("oBothRider0000000000000000001")
            wechat.send_text("oBothRider0000000000000000001", "/help")
            rider = telegram.user(first_name="Wang", language_code="zh-hans")
            telegram.send_text(rider["id"], "/help")
            on_wechat = await wechat.wait_for_message(
                "oBothRider0000000000000000001", timeout=START_TIMEOUT_S
            )
            on_telegram = await telegram.wait_for_message(rider["id"], timeout=START_TIMEOUT_S)
        finally:
            rest = await _stop(process)
    assert on_wechat.text and on_telegram.text
    assert process.returncode == 0, rest


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"GRIDSNAP_WECHAT_APPID": "wx1"}, "GRIDSNAP_WECHAT_SECRET"),
        (
            {"GRIDSNAP_WECHAT_APPID": "wx1", "GRIDSNAP_WECHAT_SECRET": "s"},
            "GRIDSNAP_WECHAT_TOKEN",
        ),
        ({"GRIDSNAP_WECHAT_TOKEN": "t"}, "GRIDSNAP_WECHAT_APPID"),
        ({"GRIDSNAP_WECHAT_AES_KEY": "too-short"}, "GRIDSNAP_WECHAT_AES_KEY"),
    ],
)
def test_a_partly_configured_wechat_stops_at_start_with_one_line_naming_the_variable(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    done = run_gridsnap(
        "run",
        url=f"sqlite:///{tmp_path / 'g.db'}",
        cwd=tmp_path,
        GRIDSNAP_TELEGRAM_TOKEN="",
        GRIDSNAP_SANDBOX_DIR=str(tmp_path / "sandbox"),
        **given,
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert len(output.splitlines()) == 1, output
    assert missing in output and "Traceback" not in output
    assert not (tmp_path / "g.db").exists()
