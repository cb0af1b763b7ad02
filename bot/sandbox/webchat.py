"""The web chat: a phone-messenger page that plays emulator users against the real bot.

One Starlette app serves the page, its static files, the emulator's control API (mounted on
the same world, so the page needs no proxy and no CORS) and a few sandbox-only endpoints:
the personas, the map picker's polygons, a location click converted to what a phone would
report, and a button press that waits briefly for the bot's answer (for the toast).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.sandbox.demo import LANGUAGE_CODE, PERSONAS, Persona, persona
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


@dataclass(frozen=True, slots=True, kw_only=True)
class WebChatState:
    world: World
    maps: MapView


def create_app(*, world: World, maps: MapView) -> Starlette:
    app = Starlette(routes=_routes())
    app.state.world = world  # the control API's routes read it from here
    app.state.sandbox = WebChatState(world=world, maps=maps)
    return app


def add_personas(world: World) -> None:
    """The fixed personas must exist on the emulator before anyone opens a tab."""
    for person in PERSONAS:
        world.add_user(person.user_id, first_name=person.name, language_code=LANGUAGE_CODE)


def _routes() -> list[BaseRoute]:
    users = "/sandbox/users/{user_id:int}"
    return [
        Route("/", index, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/sandbox/personas", _json(list_personas), methods=["GET"]),
        Route("/sandbox/personas/new", _json(new_rider), methods=["POST"]),
        Route("/sandbox/personas/{key}", _json(get_persona), methods=["GET"]),
        Route("/sandbox/map", _json(map_overview), methods=["GET"]),
        Route("/sandbox/map/{code}", _json(map_street), methods=["GET"]),
        Route(f"{users}/location", _json(send_location), methods=["POST"]),
        Route(f"{users}/contact", _json(send_own_contact), methods=["POST"]),
        Route(f"{users}/press", _json(press), methods=["POST"]),
        *control.routes(),
    ]


Endpoint = Callable[[Request, WebChatState], Awaitable[Any]]


def _json(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
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


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


def _persona_view(person: Persona) -> dict[str, Any]:
    return {
        "key": person.key,
        "user_id": person.user_id,
        "name": person.name,
        "phone": person.phone,
        "label_zh": person.label_zh,
        "label_en": person.label_en,
    }


def _new_rider_view(user: dict[str, Any]) -> dict[str, Any]:
    uid = int(user["id"])
    return {
        "key": f"{NEW_RIDER_PREFIX}{uid}",
        "user_id": uid,
        "name": str(user["first_name"]),
        "phone": _phone_for(uid),
        "label_zh": "新骑手",
        "label_en": "New rider",
    }


def _phone_for(user_id: int) -> str:
    return f"+86139{user_id % 10**8:08d}"


async def list_personas(request: Request, state: WebChatState) -> list[dict[str, Any]]:
    return [_persona_view(p) for p in PERSONAS]


async def new_rider(request: Request, state: WebChatState) -> dict[str, Any]:
    uid = NEW_RIDER_IDS[0] + secrets.randbelow(NEW_RIDER_IDS[1] - NEW_RIDER_IDS[0])
    user = state.world.add_user(
        uid, first_name=f"骑手{uid % 10000:04d}", language_code=LANGUAGE_CODE
    )
    return _new_rider_view(user)


async def get_persona(request: Request, state: WebChatState) -> dict[str, Any] | None:
    key = str(request.path_params["key"])
    fixed = persona(key)
    if fixed is not None:
        return _persona_view(fixed)
    if not key.startswith(NEW_RIDER_PREFIX) or not key[1:].isdigit():
        return None
    uid = int(key[1:])
    # A bookmarked new rider after a restart: the emulator forgot the user, recreate it.
    user = state.world.users.get(uid) or state.world.add_user(
        uid, first_name=f"骑手{uid % 10000:04d}", language_code=LANGUAGE_CODE
    )
    return _new_rider_view(user)


async def map_overview(request: Request, state: WebChatState) -> dict[str, Any]:
    return state.maps.overview()


async def map_street(request: Request, state: WebChatState) -> dict[str, Any] | None:
    return state.maps.street(str(request.path_params["code"]))


async def _body(request: Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


async def send_location(request: Request, state: WebChatState) -> dict[str, Any]:
    """``lat``/``lon`` as clicked on the map drawing; the bot gets WGS-84, like from a phone."""
    body = await _body(request)
    lat, lon = state.maps.to_phone(float(body["lat"]), float(body["lon"]))
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
    body = await _body(request)
    uid = int(request.path_params["user_id"])
    query_id = state.world.press(uid, int(body["message_id"]), str(body["data"]))
    answer = await state.world.wait_until(
        lambda: state.world.callback_answers.get(query_id), ANSWER_WAIT_S
    )
    return {"callback_query_id": query_id, "answer": answer}
