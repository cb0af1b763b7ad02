"""The control API under ``/control``: play followers and read what they received, over HTTP.

For the sandbox's page and for tests in another process; the in-process ``WeChatEmulator``
methods do the same. Answers are ``{"ok": true, "result": …}`` or ``{"ok": false,
"description": …}`` with a 4xx, like the Bot API emulator's control API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.transports.wechat_emulator.errors import JSON, WeChatError

if TYPE_CHECKING:
    from bot.transports.wechat_emulator.server import WeChatEmulator

MAX_WAIT = 30.0
Endpoint = Callable[[Request, "WeChatEmulator"], Awaitable[Any]]


def routes() -> list[Route]:
    user = "/control/users/{openid}"
    return [
        Route("/control/receiver", _json(get_receiver), methods=["GET"]),
        Route("/control/receiver", _json(set_receiver), methods=["POST"]),
        Route("/control/users", _json(create_user), methods=["POST"]),
        Route(user, _json(get_user), methods=["GET"]),
        Route(f"{user}/subscribe", _json(subscribe), methods=["POST"]),
        Route(f"{user}/unsubscribe", _json(unsubscribe), methods=["POST"]),
        Route(f"{user}/scan", _json(scan), methods=["POST"]),
        Route(f"{user}/text", _json(send_text), methods=["POST"]),
        Route(f"{user}/image", _json(send_image), methods=["POST"]),
        Route(f"{user}/location", _json(send_location), methods=["POST"]),
        Route(f"{user}/click", _json(click), methods=["POST"]),
        Route(f"{user}/menu", _json(tap_menu), methods=["POST"]),
        Route(f"{user}/received", _json(list_received), methods=["GET"]),
        Route("/control/callbacks", _json(list_callbacks), methods=["GET"]),
        Route("/control/callbacks/{callback_id:int}", _json(get_callback), methods=["GET"]),
        Route("/control/callbacks/{callback_id:int}/again", _json(push_again), methods=["POST"]),
        Route("/control/media/{media_id}", get_media, methods=["GET"]),
        Route("/control/clock", _json(advance_clock), methods=["POST"]),
        Route("/control/faults", _json(inject_fault), methods=["POST"]),
        Route("/control/faults", _json(clear_faults), methods=["DELETE"]),
        Route("/control/calls", _json(list_calls), methods=["GET"]),
        Route("/control/tokens", _json(tokens), methods=["GET"]),
        Route("/control/templates", _json(add_template), methods=["POST"]),
        Route("/control/verify", _json(verify), methods=["POST"]),
    ]


def _json(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        try:
            result = await endpoint(request, request.app.state.emulator)
        except (KeyError, TypeError, ValueError, WeChatError) as exc:
            return JSONResponse({"ok": False, "description": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "result": result})

    return answer


async def _body(request: Request) -> JSON:
    body = await request.json() if await request.body() else {}
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _openid(request: Request) -> str:
    return str(request.path_params["openid"])


def _wait(request: Request) -> float:
    return min(float(request.query_params.get("wait", 0)), MAX_WAIT)


async def get_receiver(request: Request, emu: WeChatEmulator) -> JSON:
    return emu.receiver.view()


async def set_receiver(request: Request, emu: WeChatEmulator) -> JSON:
    body = await _body(request)
    receiver = emu.receiver
    for key in ("url", "token", "aes_key"):
        if key in body:
            setattr(receiver, key, body[key])
    receiver.tries = int(body.get("tries", receiver.tries))
    receiver.reply_timeout = float(body.get("reply_timeout", receiver.reply_timeout))
    return receiver.view()


async def create_user(request: Request, emu: WeChatEmulator) -> JSON:
    body = await _body(request)
    follower = emu.user(
        body.get("openid"),
        nickname=str(body.get("nickname", "骑手")),
        subscribed=bool(body.get("subscribed", True)),
    )
    return follower.view()


async def get_user(request: Request, emu: WeChatEmulator) -> JSON:
    follower = emu.world.followers.get(_openid(request))
    if follower is None:
        raise KeyError(f"no follower {_openid(request)}")
    return {**follower.view(), "in_service_window": emu.world.in_service_window(follower.openid)}


async def subscribe(request: Request, emu: WeChatEmulator) -> JSON:
    body = await _body(request)
    scene = body.get("scene")
    return emu.subscribe(
        _openid(request),
        nickname=str(body.get("nickname", "骑手")),
        scene=None if scene is None else str(scene),
    ).view()


async def scan(request: Request, emu: WeChatEmulator) -> JSON:
    return emu.scan(_openid(request), str((await _body(request))["scene"])).view()


async def unsubscribe(request: Request, emu: WeChatEmulator) -> JSON:
    return emu.unsubscribe(_openid(request)).view()


async def send_text(request: Request, emu: WeChatEmulator) -> JSON:
    return emu.send_text(_openid(request), str((await _body(request))["content"])).view()


async def send_image(request: Request, emu: WeChatEmulator) -> JSON:
    """A multipart form with the photo in the ``media`` part."""
    async with request.form() as form:
        part = form.get("media")
        if not isinstance(part, UploadFile):
            raise ValueError("no media part in the form")
        data = await part.read()
    return emu.send_image(_openid(request), data).view()


async def send_location(request: Request, emu: WeChatEmulator) -> JSON:
    body = await _body(request)
    return emu.send_location(
        _openid(request),
        float(body["lat"]),
        float(body["lon"]),
        scale=int(body.get("scale", 15)),
        label=str(body.get("label", "")),
    ).view()


async def click(request: Request, emu: WeChatEmulator) -> JSON:
    return emu.click(_openid(request), str((await _body(request))["key"])).view()


async def tap_menu(request: Request, emu: WeChatEmulator) -> JSON:
    body = await _body(request)
    content = body.get("content")
    return emu.tap_menu(_openid(request), str(body["id"]), content).view()


async def list_received(request: Request, emu: WeChatEmulator) -> JSON:
    openid, since = _openid(request), int(request.query_params.get("since", 0))
    items = await emu.world.wait_until(lambda: emu.received(openid, since=since), _wait(request))
    return {
        "messages": [_received_view(request, item.view()) for item in items],
        "cursor": len(emu.world.received),
    }


def _received_view(request: Request, view: JSON) -> JSON:
    media_id = view["body"].get("media_id") if view["msgtype"] == "image" else None
    return {**view, "media_url": f"/control/media/{media_id}" if media_id else None}


async def list_callbacks(request: Request, emu: WeChatEmulator) -> list[JSON]:
    return [callback.view() for callback in emu.world.callbacks]


async def get_callback(request: Request, emu: WeChatEmulator) -> JSON:
    callback = emu.world.callback(int(request.path_params["callback_id"]))
    await emu.world.wait_until(lambda: callback.done, _wait(request))
    return callback.view()


async def push_again(request: Request, emu: WeChatEmulator) -> JSON:
    return emu.push_again(emu.world.callback(int(request.path_params["callback_id"]))).view()


async def get_media(request: Request) -> Response:
    emu: WeChatEmulator = request.app.state.emulator
    try:
        media = emu.world.get_media(str(request.path_params["media_id"]))
    except WeChatError as exc:
        return JSONResponse({"ok": False, "description": str(exc)}, status_code=404)
    return Response(media.data, media_type=media.content_type)


async def advance_clock(request: Request, emu: WeChatEmulator) -> JSON:
    seconds = float((await _body(request))["advance"])
    return {"now": emu.advance_clock(seconds), "offset": emu.world.clock.offset}


async def inject_fault(request: Request, emu: WeChatEmulator) -> JSON:
    body = await _body(request)
    fault = emu.inject_fault(
        body.get("api"),
        times=int(body.get("times", 1)),
        errcode=body.get("errcode"),
        status=body.get("status"),
        hang=float(body.get("hang", 0.0)),
    )
    return fault.view()


async def clear_faults(request: Request, emu: WeChatEmulator) -> bool:
    emu.world.faults.clear()
    return True


async def list_calls(request: Request, emu: WeChatEmulator) -> list[JSON]:
    return [asdict(call) for call in emu.world.calls.of(request.query_params.get("api"))]


async def tokens(request: Request, emu: WeChatEmulator) -> JSON:
    return {"issued": emu.tokens_issued}


async def add_template(request: Request, emu: WeChatEmulator) -> JSON:
    body = await _body(request)
    emu.add_template(str(body["template_id"]), str(body["content"]))
    return {"templates": sorted(emu.world.templates)}


async def verify(request: Request, emu: WeChatEmulator) -> JSON:
    body = await _body(request)
    status, echoed = await emu.sender.verify_url(body.get("echostr"))
    return {"status": status, "echoed": echoed}
