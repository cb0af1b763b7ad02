"""The web chat in WeChat mode: the same page, playing WeChat followers through the WeChat
emulator instead of Telegram users through the Bot API one; in mixed mode both at once
(riders on WeChat, staff on Telegram), Telegram users by numeric id and followers by openid.

The page speaks the Bot API emulator's control API (``/control/chats/…/messages``,
``/control/users/…/text`` …); here those few routes are answered from the WeChat emulator,
each chat item shaped as the page draws a message: a ``msgmenu``'s items become its
buttons (a tap sends WeChat's ``bizmsgmenuid`` text), images link to the media, template
messages and WeChat's own notices read as text. Followers are keyed by openid. A location
picked on the map goes out in GCJ-02, as the WeChat client's Tencent map reports it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.domain.model import Crs
from bot.geo.crs import convert
from bot.sandbox import strings
from bot.sandbox.demo import MIXED, PERSONAS, WECHAT, openid, persona, platform_of
from bot.sandbox.mapview import MapView
from bot.sandbox.webchat import (
    NEW_RIDER_IDS,
    NEW_RIDER_PREFIX,
    json_body,
    json_endpoint,
    list_personas,
    new_rider_view,
    persona_view,
    request_locale,
    shared_routes,
    telegram_routes,
)
from bot.transports.emulator.world import World
from bot.transports.wechat_emulator import Received, WeChatEmulator, WeChatError

MAX_WAIT = 30.0
MEDIA = "/sandbox/wechat/media"  # not /control/files: that is the Bot API emulator's
# What the page draws, by what the chat item is; a follower's events are not drawn.
SHOWN = ("text", "text:menu", "image", "location", "msgmenu", "template", "notice")


@dataclass(frozen=True, slots=True, kw_only=True)
class WeChatChatState:
    emulator: WeChatEmulator
    maps: MapView
    mode: str = WECHAT  # or MIXED
    world: World | None = None  # the Bot API emulator's, in mixed mode


def create_wechat_app(
    *, emulator: WeChatEmulator, maps: MapView, world: World | None = None
) -> Starlette:
    """WeChat mode; with the Bot API emulator's ``world`` too, mixed mode."""
    # Telegram's routes take numeric ids only, so they come first and openids fall through.
    telegram = telegram_routes() if world is not None else []
    app = Starlette(routes=[*_persona_routes(), *shared_routes(), *telegram, *_routes()])
    app.state.world = world  # the Bot API emulator's control API reads it from here
    mode = MIXED if world is not None else WECHAT
    app.state.sandbox = WeChatChatState(emulator=emulator, maps=maps, mode=mode, world=world)
    return app


def add_followers(emulator: WeChatEmulator, mode: str = WECHAT) -> None:
    """The personas on WeChat follow the account and have written lately, so the bot may
    message them (the 48-hour window) from the start, as it may on Telegram."""
    for person in PERSONAS:
        if platform_of(person, mode) == WECHAT:
            follower = emulator.user(openid(person.user_id), nickname=person.name)
            emulator.world.interacted(follower.openid)


def _persona_routes() -> list[BaseRoute]:
    return [
        Route("/sandbox/personas", json_endpoint(list_platform_personas), methods=["GET"]),
        Route("/sandbox/personas/new", json_endpoint(new_rider), methods=["POST"]),
        Route("/sandbox/personas/{key}", json_endpoint(get_persona), methods=["GET"]),
    ]


def _routes() -> list[BaseRoute]:
    users = "/control/users/{openid}"
    return [
        Route("/sandbox/users/{openid}/location", json_endpoint(send_location), methods=["POST"]),
        Route("/sandbox/users/{openid}/press", json_endpoint(tap_menu), methods=["POST"]),
        Route("/control/chats/{openid}/messages", json_endpoint(list_messages), methods=["GET"]),
        Route(f"{users}/text", json_endpoint(send_text), methods=["POST"]),
        Route(f"{users}/photo", json_endpoint(send_photo), methods=["POST"]),
        Route(f"{MEDIA}/{{media_id}}", get_file, methods=["GET"]),
    ]


# --- personas ------------------------------------------------------------------------------------


def _wechat_view(view: dict[str, Any], uid: int) -> dict[str, Any]:
    return {**view, "user_id": openid(uid), "platform": WECHAT}


async def new_rider(request: Request, state: WeChatChatState) -> dict[str, Any]:
    """A new follower: following the account is WeChat's /start, so registration begins."""
    locale = request_locale(request)
    uid = NEW_RIDER_IDS[0] + secrets.randbelow(NEW_RIDER_IDS[1] - NEW_RIDER_IDS[0])
    return _follow(state, uid, locale)


def _follow(state: WeChatChatState, uid: int, locale: str) -> dict[str, Any]:
    name = strings.new_rider_name(uid, locale)
    state.emulator.subscribe(openid(uid), nickname=name)
    return _wechat_view(new_rider_view({"id": uid, "first_name": name}, locale), uid)


async def list_platform_personas(request: Request, state: WeChatChatState) -> list[dict[str, Any]]:
    """The picker's list; in mixed mode each persona's label says where it chats."""
    people = await list_personas(request, state)
    if state.mode != MIXED:
        return people
    locale = request_locale(request)
    for person, entry in zip(PERSONAS, people, strict=False):
        where = strings.platform_name(platform_of(person, MIXED), locale)
        entry["label"] = f"{entry['label']} · {where}"
    people[-1]["label"] += f" · {strings.platform_name(WECHAT, locale)}"  # new riders
    return people


async def get_persona(request: Request, state: WeChatChatState) -> dict[str, Any] | None:
    key = str(request.path_params["key"])
    locale = request_locale(request)
    fixed = persona(key)
    if fixed is not None and platform_of(fixed, state.mode) != WECHAT:
        return persona_view(fixed, locale)  # a Telegram user, in mixed mode
    if fixed is not None:
        return _wechat_view(persona_view(fixed, locale), fixed.user_id)
    if not key.startswith(NEW_RIDER_PREFIX) or not key[1:].isdigit():
        return None
    uid = int(key[1:])
    follower = state.emulator.world.followers.get(openid(uid))
    if follower is None:  # a bookmarked new rider after a restart: follow again
        return _follow(state, uid, locale)
    view = new_rider_view({"id": uid, "first_name": follower.nickname}, locale)
    return _wechat_view(view, uid)


# --- what the follower does ---------------------------------------------------------------------


def _openid(request: Request) -> str:
    return str(request.path_params["openid"])


async def send_text(request: Request, state: WeChatChatState) -> dict[str, Any]:
    text = str((await json_body(request))["text"])
    return state.emulator.send_text(_openid(request), text).view()


async def send_photo(request: Request, state: WeChatChatState) -> dict[str, Any]:
    async with request.form() as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise ValueError("no file part in the form")
        data = await part.read()
    try:
        return state.emulator.send_image(_openid(request), data).view()
    except WeChatError as exc:  # not an image WeChat would take
        raise ValueError(str(exc)) from None


async def send_location(request: Request, state: WeChatChatState) -> dict[str, Any]:
    """``lat``/``lon`` as clicked on the map drawing, or the browser's own (``"crs":
    "wgs84"``); WeChat's Tencent map reports GCJ-02, so that is what goes out."""
    body = await json_body(request)
    lat, lon = float(body["lat"]), float(body["lon"])
    source = Crs.WGS84 if body.get("crs") == "wgs84" else state.maps.crs
    lat, lon = convert(lat, lon, source, Crs.GCJ02)
    return state.emulator.send_location(_openid(request), round(lat, 6), round(lon, 6)).view()


async def tap_menu(request: Request, state: WeChatChatState) -> dict[str, Any]:
    """A tap on a msgmenu item; there is no callback answer on WeChat (no toast)."""
    body = await json_body(request)
    callback = state.emulator.tap_menu(_openid(request), str(body["data"]))
    return {"callback_query_id": str(callback.id), "answer": None}


# --- what the page draws -----------------------------------------------------------------------


async def list_messages(request: Request, state: WeChatChatState) -> dict[str, Any]:
    emulator, who = state.emulator, _openid(request)
    since = int(request.query_params.get("since", 0))
    wait = min(float(request.query_params.get("wait", 0)), MAX_WAIT)
    items = await emulator.world.wait_until(lambda: emulator.conversation(who, since=since), wait)
    shown = [entry_view(item) for item in items if item.msgtype in SHOWN]
    return {"messages": shown, "cursor": len(emulator.world.received)}


def entry_view(item: Received) -> dict[str, Any]:
    """A chat item as the page draws a Bot API message."""
    message: dict[str, Any] = {"message_id": item.seq}
    file_url = None
    if item.msgtype == "image":
        media_id = str(item.body["media_id"])
        message["photo"] = [{"file_id": media_id}]
        file_url = f"{MEDIA}/{media_id}"
    elif item.msgtype == "location":
        message["location"] = {"latitude": item.body["lat"], "longitude": item.body["lon"]}
    elif item.msgtype == "msgmenu":
        # The items are drawn as buttons; the text is the head and tail around them.
        parts = (item.body.get("head_content"), item.body.get("tail_content"))
        message["text"] = "\n".join(part for part in parts if part)
        rows = [[_menu_button(choice)] for choice in item.body.get("list", [])]
        message["reply_markup"] = {"inline_keyboard": rows}
    else:
        message["text"] = item.text
    return {
        "seq": item.seq,
        "message_id": item.seq,
        "from_bot": item.via != "user",
        "at": item.at,
        "deleted": False,
        "message": message,
        "reply_markup": None,  # WeChat has no reply keyboard
        "file_url": file_url,
        "via": item.via,
    }


def _menu_button(choice: dict[str, Any]) -> dict[str, str]:
    return {"text": str(choice["content"]), "callback_data": str(choice["id"])}


async def get_file(request: Request) -> Response:
    state: WeChatChatState = request.app.state.sandbox
    # Not get_media: the chat shows a picture after WeChat's three days for the API's.
    media = state.emulator.world.media.get(str(request.path_params["media_id"]))
    if media is None:
        return JSONResponse({"ok": False, "description": "no such media"}, status_code=404)
    return Response(media.data, media_type=media.content_type)
