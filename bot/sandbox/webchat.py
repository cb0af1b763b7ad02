"""The web chat: a phone-messenger page that plays emulator users against the real bot.

One Starlette app serves the page, its static files, the emulator's control API (mounted on
the same world, so the page needs no proxy and no CORS) and a few sandbox-only endpoints:
the personas, the map picker's polygons, a location click converted to what a phone would
report, and a button press that waits briefly for the bot's answer (for the toast).

The page's own words come translated from ``strings``: ``/`` fills the page template with
them for the request's language, and the persona endpoints take the same ``?lang=``.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.domain.model import RoleName
from bot.sandbox import strings
from bot.sandbox.demo import LANGUAGE_CODE, PERSONAS, PLATFORM, Persona, persona
from bot.sandbox.mapview import MapView
from bot.transports.emulator import control
from bot.transports.emulator.errors import ApiError
from bot.transports.emulator.world import World

STATIC = Path(__file__).resolve().parent / "static"
NEW_RIDER_PREFIX = "u"
# New riders get random ids far from the fixed personas', so a restart (the emulator
# forgets its users) never hands an old database account to a new tab.
NEW_RIDER_IDS = (10_000_000, 2_000_000_000)
ANSWER_WAIT_S = 3.0
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebChatState:
    world: World
    maps: MapView


class HasMaps(Protocol):
    """What the page's shared endpoints need of either platform's state."""

    @property
    def maps(self) -> MapView: ...


def create_app(*, world: World, maps: MapView) -> Starlette:
    app = Starlette(routes=_routes())
    app.state.world = world  # the control API's routes read it from here
    app.state.sandbox = WebChatState(world=world, maps=maps)
    return app


def add_personas(world: World) -> None:
    """The fixed personas must exist on the emulator before anyone opens a tab."""
    for person in PERSONAS:
        world.add_user(person.user_id, first_name=person.name, language_code=LANGUAGE_CODE)


def shared_routes() -> list[BaseRoute]:
    """The page, its files, the persona list and the map: the same on every platform."""
    return [
        Route("/", index, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/sandbox/personas", json_endpoint(list_personas), methods=["GET"]),
        Route("/sandbox/map", json_endpoint(map_overview), methods=["GET"]),
        Route("/sandbox/map/search", json_endpoint(map_search), methods=["GET"]),
        Route("/sandbox/map/{code}", json_endpoint(map_street), methods=["GET"]),
    ]


def _routes() -> list[BaseRoute]:
    return [
        *shared_routes(),
        Route("/sandbox/personas/new", json_endpoint(new_rider), methods=["POST"]),
        Route("/sandbox/personas/{key}", json_endpoint(get_persona), methods=["GET"]),
        *telegram_routes(),
    ]


def telegram_routes() -> list[BaseRoute]:
    """What a Telegram user does (by numeric id) and the Bot API emulator's control API;
    the state needs ``world`` (the Bot API emulator's) and ``maps``."""
    users = "/sandbox/users/{user_id:int}"
    return [
        Route(f"{users}/location", json_endpoint(send_location), methods=["POST"]),
        Route(f"{users}/contact", json_endpoint(send_own_contact), methods=["POST"]),
        Route(f"{users}/press", json_endpoint(press), methods=["POST"]),
        *control.routes(),
    ]


Endpoint = Callable[[Request, Any], Awaitable[Any]]


def json_endpoint(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """``endpoint(request, the app's state)`` answered as ``{"ok": …, "result": …}``."""

    async def answer(request: Request) -> Response:
        try:
            result = await endpoint(request, request.app.state.sandbox)
        except ApiError as exc:
            return JSONResponse(exc.envelope(), status_code=exc.code)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"ok": False, "description": str(exc)}, status_code=400)
        if result is None:
            return JSONResponse({"ok": False, "description": "not found"}, status_code=404)
        return JSONResponse({"ok": True, "result": result})

    return answer


def request_locale(request: Request) -> str:
    return strings.page_locale(
        request.query_params.get("lang"), request.headers.get("accept-language")
    )


async def index(request: Request) -> Response:
    page = render_page(request_locale(request))
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Vary": "Accept-Language"})


def render_page(locale: str) -> str:
    """The page template with its words in ``locale``; the script gets them as JSON too."""
    chrome = strings.chrome(locale)
    words: dict[str, str] = chrome["strings"]
    values = {key: html.escape(text) for key, text in words.items()}
    values["html_lang"] = strings.HTML_LANG[locale]
    # Inside <script> nothing is unescaped, so "<" is written as JSON's \u003c: no text
    # can end the element early.
    values["chrome_json"] = json.dumps(chrome, ensure_ascii=False).replace("<", "\\u003c")
    template = (STATIC / "index.html").read_text(encoding="utf-8")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


def persona_view(person: Persona, locale: str) -> dict[str, Any]:
    return {
        "key": person.key,
        "user_id": person.user_id,
        "name": person.name,
        "phone": person.phone,
        "role": person.role.value,
        "label": strings.role_label(person.role, locale),
        "platform": PLATFORM,  # the page plays a WeChat follower when this says "wechat"
    }


def new_rider_view(user: dict[str, Any], locale: str) -> dict[str, Any]:
    uid = int(user["id"])
    return {
        "key": f"{NEW_RIDER_PREFIX}{uid}",
        "user_id": uid,
        "name": str(user["first_name"]),
        "phone": _phone_for(uid),
        "role": "new",
        "label": strings.role_label(RoleName.INFORMANT, locale),
        "platform": PLATFORM,
    }


def _add_new_rider(world: World, uid: int, locale: str) -> dict[str, Any]:
    """An emulator user whose Telegram client speaks the page's language."""
    return world.add_user(
        uid,
        first_name=strings.new_rider_name(uid, locale),
        language_code=strings.TELEGRAM_LANGUAGE[locale],
    )


def _phone_for(user_id: int) -> str:
    return f"+86139{user_id % 10**8:08d}"


async def list_personas(request: Request, state: HasMaps) -> list[dict[str, Any]]:
    """The fixed personas, then the entry that makes a new rider."""
    locale = request_locale(request)
    words = strings.chrome(locale)["strings"]
    newcomer = {"key": "new", "name": words["new_rider"], "label": words["new_rider_label"]}
    return [*(persona_view(p, locale) for p in PERSONAS), newcomer]


async def new_rider(request: Request, state: WebChatState) -> dict[str, Any]:
    locale = request_locale(request)
    uid = NEW_RIDER_IDS[0] + secrets.randbelow(NEW_RIDER_IDS[1] - NEW_RIDER_IDS[0])
    return new_rider_view(_add_new_rider(state.world, uid, locale), locale)


async def get_persona(request: Request, state: WebChatState) -> dict[str, Any] | None:
    key = str(request.path_params["key"])
    locale = request_locale(request)
    fixed = persona(key)
    if fixed is not None:
        return persona_view(fixed, locale)
    if not key.startswith(NEW_RIDER_PREFIX) or not key[1:].isdigit():
        return None
    uid = int(key[1:])
    # A bookmarked new rider after a restart: the emulator forgot the user, recreate it.
    user = state.world.users.get(uid) or _add_new_rider(state.world, uid, locale)
    return new_rider_view(user, locale)


async def map_overview(request: Request, state: HasMaps) -> dict[str, Any]:
    return state.maps.overview()


async def map_street(request: Request, state: HasMaps) -> dict[str, Any] | None:
    return state.maps.street(str(request.path_params["code"]))


async def map_search(request: Request, state: HasMaps) -> list[dict[str, Any]]:
    return state.maps.search(request.query_params.get("q", ""))


async def json_body(request: Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


async def send_location(request: Request, state: WebChatState) -> dict[str, Any]:
    """``lat``/``lon`` as clicked on the map drawing; the bot gets WGS-84, like from a phone.
    ``"crs": "wgs84"`` marks a point that already is (the browser's own location)."""
    body = await json_body(request)
    lat, lon = float(body["lat"]), float(body["lon"])
    if body.get("crs") != "wgs84":
        lat, lon = state.maps.to_phone(lat, lon)
    uid = int(request.path_params["user_id"])
    return state.world.user_location(uid, round(lat, 6), round(lon, 6))


async def send_own_contact(request: Request, state: WebChatState) -> dict[str, Any]:
    """What a request_contact button sends: the user's own card."""
    uid = int(request.path_params["user_id"])
    user = state.world.user(uid)
    fixed = next((p for p in PERSONAS if p.user_id == uid), None)
    phone = fixed.phone if fixed else _phone_for(uid)
    return state.world.user_contact(
        uid, phone, first_name=str(user["first_name"]), contact_user_id=uid
    )


async def press(request: Request, state: WebChatState) -> dict[str, Any]:
    body = await json_body(request)
    uid = int(request.path_params["user_id"])
    query_id = state.world.press(uid, int(body["message_id"]), str(body["data"]))
    answer = await state.world.wait_until(
        lambda: state.world.callback_answers.get(query_id), ANSWER_WAIT_S
    )
    return {"callback_query_id": query_id, "answer": answer}
