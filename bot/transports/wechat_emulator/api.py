"""The official API endpoints the bot calls, under ``/cgi-bin/`` as at api.weixin.qq.com.

Errors are answered the WeChat way: HTTP 200 with ``errcode``/``errmsg``. Every call is
logged by api name (``"message/custom/send"``) and may be hit by an injected fault first.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from wechatpy.constants import WeChatErrorCode as Code

from bot.transports.emulator.faults import Call
from bot.transports.wechat_emulator.errors import JSON, WeChatError
from bot.transports.wechat_emulator.world import TOKEN_LIFETIME_S, World

MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_TYPES = {  # magic bytes → content type; WeChat takes bmp/png/jpeg/jpg/gif
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG": "image/png",
    b"GIF8": "image/gif",
    b"BM": "image/bmp",
}
CUSTOM_TYPES = ("text", "image", "msgmenu")
TEMPLATE_SLOT = re.compile(r"\{\{(\w+)\.DATA\}\}")
Handler = Callable[[Request, World], Awaitable[Any]]


def routes() -> list[Route]:
    return [
        Route("/cgi-bin/{api:path}", call_api, methods=["GET", "POST"]),
        # Where a user's photo's PicUrl points (mmbiz.qpic.cn on the real platform).
        Route("/mmbiz_jpg/{media_id}/0", picture, methods=["GET"]),
    ]


async def call_api(request: Request) -> Response:
    world: World = request.app.state.world
    api = str(request.path_params["api"])
    handler = HANDLERS.get(api)
    fault = world.faults.take(api)
    status = 200
    try:
        if fault is not None:
            # Read first, as a server does: a slow answer is still carried out after the
            # client has given up waiting.
            await request.body()
            await asyncio.sleep(fault.hang)
            if fault.status is not None:
                status = fault.status
                return Response("<html>502 Bad Gateway</html>", status, media_type="text/html")
            if fault.errcode is not None:
                raise WeChatError(fault.errcode)
        if handler is None:
            return Response("api not found", 404)
        result = await handler(request, world)
    except WeChatError as exc:
        result = exc.body()
    finally:
        world.calls.record(
            Call(method=api, at=world.clock.now(), status=status, params=_params(request))
        )
    if isinstance(result, Response):
        return result
    return JSONResponse(result)


def _params(request: Request) -> JSON:
    return {k: v for k, v in request.query_params.items() if k != "access_token"}


async def _json_body(request: Request) -> JSON:
    raw = await request.body()
    if not raw:
        raise WeChatError(Code.EMPTY_POST_DATA)
    try:
        body = json.loads(raw)
    except ValueError:
        raise WeChatError(Code.DATA_FORMAT_ERROR) from None
    if not isinstance(body, dict):
        raise WeChatError(Code.DATA_FORMAT_ERROR)
    return body


def _authorised(request: Request, world: World) -> None:
    world.check_token(request.query_params.get("access_token"))


# --- the endpoints ---------------------------------------------------------------------------


async def token(request: Request, world: World) -> JSON:
    query = request.query_params
    if query.get("grant_type") != "client_credential":
        raise WeChatError(Code.INVALID_CREDENTIAL_TYPE)
    if query.get("appid") != world.appid:
        raise WeChatError(Code.INVALID_APP_ID)
    if query.get("secret") != world.secret:
        raise WeChatError(Code.INVALID_APP_SECRET)
    return {"access_token": world.issue_token(), "expires_in": TOKEN_LIFETIME_S}


async def custom_send(request: Request, world: World) -> JSON:
    _authorised(request, world)
    body = await _json_body(request)
    follower = world.follower(str(body.get("touser", "")))
    msgtype = body.get("msgtype")
    if msgtype not in CUSTOM_TYPES:
        raise WeChatError(Code.INVALID_MESSAGE_TYPE)
    content = body.get(msgtype)
    if not isinstance(content, dict):
        raise WeChatError(Code.DATA_FORMAT_ERROR)
    _check_custom(world, msgtype, content)
    # What the person did grants a few messages for a while (``world``); an unfollower none.
    if not follower.subscribed:
        raise WeChatError(Code.OUT_OF_RESPONSE_TIME_LIMIT)
    world.spend_custom_message(follower.openid)
    world.deliver(follower.openid, via="custom", msgtype=msgtype, body=content)
    return {"errcode": 0, "errmsg": "ok"}


def _check_custom(world: World, msgtype: str, content: JSON) -> None:
    if msgtype == "text" and not isinstance(content.get("content"), str):
        raise WeChatError(Code.DATA_FORMAT_ERROR)
    if msgtype == "image":
        world.get_media(str(content.get("media_id", "")))
    if msgtype == "msgmenu":
        items = content.get("list")
        if not isinstance(items, list) or not items:
            raise WeChatError(Code.DATA_FORMAT_ERROR)
        for item in items:
            if not isinstance(item, dict) or not {"id", "content"} <= item.keys():
                raise WeChatError(Code.DATA_FORMAT_ERROR)


async def template_send(request: Request, world: World) -> JSON:
    _authorised(request, world)
    body = await _json_body(request)
    follower = world.follower(str(body.get("touser", "")))
    template = world.templates.get(str(body.get("template_id", "")))
    if template is None:
        raise WeChatError(Code.INVALID_TEMPLATE)
    data = body.get("data")
    if not isinstance(data, dict):
        raise WeChatError(Code.DATA_FORMAT_ERROR)
    if not follower.subscribed:
        raise WeChatError(Code.REQUIRE_SUBSCRIBE)
    msgid = world.next_template_msg_id()
    shown = {
        "template_id": body["template_id"],
        "url": body.get("url"),
        "data": data,
        "content": _fill(template, data),
        "msgid": msgid,
    }
    world.deliver(follower.openid, via="template", msgtype="template", body=shown)
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def _fill(template: str, data: JSON) -> str:
    def value(match: re.Match[str]) -> str:
        slot = data.get(match.group(1))
        return str(slot.get("value", "")) if isinstance(slot, dict) else ""

    return TEMPLATE_SLOT.sub(value, template)


async def media_upload(request: Request, world: World) -> JSON:
    _authorised(request, world)
    if request.query_params.get("type") != "image":
        raise WeChatError(Code.INVALID_MEDIA_TYPE)
    async with request.form(max_part_size=MAX_IMAGE_BYTES + 1) as form:
        part = form.get("media")
        if not isinstance(part, UploadFile):
            raise WeChatError(Code.MISSING_MEDIA_DATA)
        data = await part.read()
    content_type = image_type(data)
    if not 0 < len(data) <= MAX_IMAGE_BYTES:
        raise WeChatError(Code.INVALID_IMAGE_SIZE)
    media = world.store_media(data, content_type)
    return {"type": "image", "media_id": media.media_id, "created_at": int(media.created_at)}


def image_type(data: bytes) -> str:
    for magic, content_type in IMAGE_TYPES.items():
        if data.startswith(magic):
            return content_type
    raise WeChatError(Code.INVALID_MEDIA_TYPE)


async def media_get(request: Request, world: World) -> Response:
    _authorised(request, world)
    media = world.get_media(request.query_params.get("media_id", ""))
    extension = media.content_type.split("/")[1]
    disposition = f'attachment; filename="{media.media_id}.{extension}"'
    return Response(
        media.data, media_type=media.content_type, headers={"Content-disposition": disposition}
    )


async def picture(request: Request) -> Response:
    world: World = request.app.state.world
    try:
        media = world.get_media(str(request.path_params["media_id"]))
    except WeChatError:
        return Response(status_code=404)
    return Response(media.data, media_type=media.content_type)


HANDLERS: dict[str, Handler] = {
    "token": token,
    "message/custom/send": custom_send,
    "message/template/send": template_send,
    "media/upload": media_upload,
    "media/get": media_get,
}
