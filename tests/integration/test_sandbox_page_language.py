"""The web chat's page and persona endpoints speak the page's language, over real HTTP.

The web chat app is served by uvicorn on a free port with a real emulator world; requests
come from httpx the way a browser sends them (``?lang=``, Accept-Language).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.sandbox.mapview import MapView
from bot.sandbox.webchat import add_personas, create_app
from bot.transports.embedded_http import serving
from bot.transports.emulator.world import World

TOKEN = "123456789:sandbox-page-token"
CHROME_JSON = re.compile(r'<script id="chrome" type="application/json">(.*?)</script>', re.S)


@pytest.fixture
async def web() -> AsyncIterator[tuple[httpx.AsyncClient, World]]:
    world = World(token=TOKEN, bot_username="gridsnap_test_bot")
    add_personas(world)
    app = create_app(world=world, maps=MapView(()))
    async with serving(app, host="127.0.0.1", port=0) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client, world
        world.close()


async def _page(client: httpx.AsyncClient, url: str = "/", accept: str | None = None) -> str:
    headers = {"Accept-Language": accept} if accept is not None else {}
    response = await client.get(url, headers=headers)
    assert response.status_code == 200
    return response.text


def _chrome(page: str) -> dict[str, object]:
    found = CHROME_JSON.search(page)
    assert found is not None, "the page carries no translated strings for its script"
    chrome: dict[str, object] = json.loads(found.group(1))
    return chrome


@pytest.mark.parametrize(
    ("accept", "locale"),
    [
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("fr-FR,fr;q=0.9,en;q=0.5,zh;q=0.4", "en"),  # the first supported preference
        ("zh;q=0.3, en;q=0.7", "en"),  # by weight, not by position
        ("zh;q=0, en", "en"),  # q=0: not Chinese
        ("fr-FR, de;q=0.5", "zh_CN"),  # nothing supported: the default
        ("", "zh_CN"),
    ],
)
async def test_the_page_language_follows_the_browsers_accept_language(
    web: tuple[httpx.AsyncClient, World], accept: str, locale: str
) -> None:
    client, _world = web
    chrome = _chrome(await _page(client, accept=accept))
    assert chrome["locale"] == locale


async def test_lang_in_the_url_wins_over_accept_language(
    web: tuple[httpx.AsyncClient, World],
) -> None:
    client, _world = web
    english = await _page(client, "/?lang=en", accept="zh-CN,zh;q=0.9")
    chinese = await _page(client, "/?lang=zh_CN", accept="en-US,en;q=0.9")

    assert '<html lang="en">' in english
    assert '<h1 id="picker-title">Choose a persona</h1>' in english
    assert 'placeholder="Message"' in english
    assert '<html lang="zh-CN">' in chinese
    assert '<h1 id="picker-title">选择身份</h1>' in chinese
    assert '<button id="send" class="send" type="button">发送</button>' in chinese


async def test_an_unknown_lang_in_the_url_falls_back_to_accept_language(
    web: tuple[httpx.AsyncClient, World],
) -> None:
    client, _world = web
    chrome = _chrome(await _page(client, "/?lang=fr", accept="en-GB"))
    assert chrome["locale"] == "en"


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
async def test_every_placeholder_of_the_page_is_filled_in_both_languages(
    web: tuple[httpx.AsyncClient, World], lang: str
) -> None:
    client, _world = web
    page = await _page(client, f"/?lang={lang}")
    assert "{{" not in page and "}}" not in page
    strings = _chrome(page)["strings"]
    assert isinstance(strings, dict) and all(strings.values())


async def test_the_chinese_page_carries_no_english_chrome(
    web: tuple[httpx.AsyncClient, World],
) -> None:
    client, _world = web
    chrome = _chrome(await _page(client, "/?lang=zh_CN"))
    strings = chrome["strings"]
    assert isinstance(strings, dict)
    # Every word but the brand is Chinese: a string left out of the catalogue shows here.
    english = {k: v for k, v in strings.items() if not re.search("[\u4e00-\u9fff]", v)}
    assert english == {}


async def test_persona_labels_are_translated_and_names_are_not(
    web: tuple[httpx.AsyncClient, World],
) -> None:
    client, _world = web
    english = (await client.get("/sandbox/personas?lang=en")).json()["result"]
    chinese = (await client.get("/sandbox/personas?lang=zh_CN")).json()["result"]

    assert [(p["name"], p["label"]) for p in english][:2] == [
        ("小王", "Rider"),
        ("李芳", "Grid worker"),
    ]
    assert [(p["name"], p["label"]) for p in chinese][:2] == [("小王", "骑手"), ("李芳", "网格员")]
    assert (english[-1]["key"], english[-1]["name"]) == ("new", "New rider")
    assert (chinese[-1]["key"], chinese[-1]["name"]) == ("new", "新骑手")


async def test_a_new_rider_from_the_english_page_has_an_english_telegram_client(
    web: tuple[httpx.AsyncClient, World],
) -> None:
    client, world = web
    rider = (await client.post("/sandbox/personas/new?lang=en")).json()["result"]

    user = world.user(rider["user_id"])
    assert user["language_code"] == "en"
    assert re.fullmatch(r"Rider \d{4}", rider["name"]), rider["name"]
    assert rider["label"] == "Rider"


async def test_a_new_rider_from_the_chinese_page_has_a_chinese_telegram_client(
    web: tuple[httpx.AsyncClient, World],
) -> None:
    client, world = web
    rider = await client.post("/sandbox/personas/new", headers={"Accept-Language": "zh-CN"})
    result = rider.json()["result"]

    assert world.user(result["user_id"])["language_code"] == "zh-hans"
    assert re.fullmatch(r"骑手\d{4}", result["name"]), result["name"]
