"""The sandbox's WeChat mode without a browser: the page's own HTTP calls against the real
bot behind the WeChat emulator, and the settings and files that mode uses."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli.run import sandbox_settings
from bot.config import Settings, load_settings
from bot.i18n import translator
from bot.sandbox.demo import LOCALE, openid
from bot.sandbox.runtime import WeChatSandbox, wechat_sandbox
from handlers.common import HELP_INTRO
from tests.cli_kit import run_gridsnap
from tests.wechat_kit import CAMERA_PHOTO

WAIT = 10.0  # seconds; an answer normally takes a few tens of milliseconds
RIDER = openid(7001)


def _settings(folder: Path) -> Settings:
    return load_settings(
        database_url=f"sqlite+aiosqlite:///{folder / 'sandbox.db'}",
        photo_dir=folder / "photos",
        telegram_token=None,
        webhook_url=None,
        sandbox_port=0,
    )


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[WeChatSandbox]:
    async with wechat_sandbox(_settings(tmp_path)) as sandbox:
        yield sandbox


async def _page(client: httpx.AsyncClient, who: str, since: int) -> dict[str, Any]:
    answer = await client.get(
        f"/control/chats/{who}/messages", params={"since": since, "wait": WAIT}
    )
    return dict(answer.json()["result"])


async def _bot_says(
    client: httpx.AsyncClient, who: str, since: int, text: str = ""
) -> dict[str, Any]:
    """The bot's first message after ``since`` containing ``text`` (long-polled)."""
    for _ in range(20):
        page = await _page(client, who, since)
        for entry in page["messages"]:
            if entry["from_bot"] and text in entry["message"].get("text", ""):
                return dict(entry)
        since = page["cursor"]
    raise AssertionError(f"the bot did not say {text!r} to {who}")


async def test_a_typed_number_answers_the_bots_numbered_menu(running: WeChatSandbox) -> None:
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        sent = await client.post(f"/control/users/{RIDER}/text", json={"text": "/language"})
        assert sent.json()["ok"]
        menu = await _bot_says(client, RIDER, 0, translator(LOCALE)._("Choose your language:"))
        items = [row[0] for row in menu["message"]["reply_markup"]["inline_keyboard"]]
        english = next(n for n, item in enumerate(items, start=1) if "English" in item["text"])

        await client.post(f"/control/users/{RIDER}/text", json={"text": str(english)})
        # Said in the language just chosen: the typed number was that menu's item.
        await _bot_says(client, RIDER, menu["seq"], "Language set to English.")


async def test_a_tap_on_a_menu_item_reaches_the_bot_as_that_items_button(
    running: WeChatSandbox,
) -> None:
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        await client.post(f"/control/users/{RIDER}/text", json={"text": "/language"})
        menu = await _bot_says(client, RIDER, 0, translator(LOCALE)._("Choose your language:"))
        first = menu["message"]["reply_markup"]["inline_keyboard"][0][0]
        tapped = await client.post(
            f"/sandbox/users/{RIDER}/press",
            json={"message_id": menu["message_id"], "data": first["callback_data"]},
        )
        said = await _bot_says(client, RIDER, menu["seq"] + 1)

    assert said["message"]["text"]
    assert tapped.json()["result"]["answer"] is None  # WeChat has no callback answers
    pushed = running.emulator.world.callbacks[-1]
    assert f"<bizmsgmenuid><![CDATA[{first['callback_data']}]]></bizmsgmenuid>" in pushed.xml


async def test_a_photo_from_the_page_reaches_the_bot_and_shows_in_the_chat(
    running: WeChatSandbox,
) -> None:
    data = CAMERA_PHOTO.read_bytes()
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        await client.post(
            f"/control/users/{RIDER}/photo", files={"file": ("p.jpg", data, "image/jpeg")}
        )
        page = await _page(client, RIDER, 0)
        mine = [entry for entry in page["messages"] if not entry["from_bot"]]
        shown = await client.get(mine[0]["file_url"])
        # The report flow's next step: where is it?
        await _bot_says(
            client,
            RIDER,
            mine[0]["seq"],
            translator(LOCALE)._("To share a location: tap + below, then Location."),
        )

    assert shown.content == data
    # The bot fetched the photo through the media API with a token of its own.
    assert [call.status for call in running.emulator.world.calls.of("media/get")] == [200]


async def test_the_bot_answers_a_message_wechat_sent_twice_once(running: WeChatSandbox) -> None:
    help_intro = translator(LOCALE)._(HELP_INTRO)
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        callback = running.emulator.send_text(RIDER, "/help")
        first = await _bot_says(client, RIDER, 0, help_intro)
        await running.emulator.settled(running.emulator.push_again(callback))
        # Handled in order per user: once this is answered, a duplicate would have been too.
        await client.post(f"/control/users/{RIDER}/text", json={"text": "/language"})
        await _bot_says(client, RIDER, first["seq"], translator(LOCALE)._("Choose your language:"))
        page = await _page(client, RIDER, 0)

    helps = [e for e in page["messages"] if e["from_bot"] and help_intro in e["message"]["text"]]
    assert len(helps) == 1
    assert [t.status for t in callback.tries][-2:] == [200, 200]  # both deliveries answered


async def test_a_restarted_wechat_sandbox_shows_the_chats_where_they_were(tmp_path: Path) -> None:
    data = CAMERA_PHOTO.read_bytes()
    async with (
        wechat_sandbox(_settings(tmp_path)) as first,
        httpx.AsyncClient(base_url=first.url, timeout=30) as client,
    ):
        await client.post(
            f"/control/users/{RIDER}/photo", files={"file": ("p.jpg", data, "image/jpeg")}
        )
        before = await _bot_says(client, RIDER, 0)
    async with (
        wechat_sandbox(_settings(tmp_path)) as second,
        httpx.AsyncClient(base_url=second.url, timeout=30) as client,
    ):
        page = await _page(client, RIDER, 0)
        photo = next(e for e in page["messages"] if not e["from_bot"])
        shown = await client.get(photo["file_url"])

    assert before in page["messages"]
    assert shown.content == data


def test_the_wechat_sandbox_has_its_own_database_and_never_a_real_account(tmp_path: Path) -> None:
    configured = load_settings(
        sandbox_dir=tmp_path,
        sandbox_platform="wechat",
        wechat_appid="wx_real",
        wechat_secret="real-secret",
        wechat_token="real-token",
    )
    telegram = sandbox_settings(configured.model_copy(update={"sandbox_platform": "telegram"}))
    wechat = sandbox_settings(configured)

    assert wechat.database_url.endswith("/gridsnap-wechat.db")
    assert telegram.database_url.endswith("/gridsnap.db")
    assert wechat.photo_dir != telegram.photo_dir
    assert not wechat.wechat_enabled


def test_sandbox_reset_deletes_the_wechat_sandbox_too(
    tmp_path: Path, sqlite_template: Path
) -> None:
    folder = tmp_path / "sandbox"
    (folder / "photos-wechat").mkdir(parents=True)
    (folder / "sandbox-chats-mixed").mkdir()
    (folder / "sandbox-chats-wechat").mkdir()
    (folder / "sandbox-chats-wechat" / "wechat.json").write_text("{}")
    shutil.copyfile(sqlite_template, folder / "gridsnap-wechat.db")
    shutil.copyfile(sqlite_template, folder / "gridsnap-mixed.db")

    done = run_gridsnap("sandbox", "reset", "--yes", cwd=tmp_path, GRIDSNAP_SANDBOX_DIR=str(folder))

    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in folder.iterdir()) == []


def test_sandbox_run_refuses_an_unknown_platform(tmp_path: Path) -> None:
    done = run_gridsnap("sandbox", "run", "--platform", "line", cwd=tmp_path)

    assert done.returncode == 2
    assert "--platform must be one of: telegram, wechat, mixed" in done.stdout
