"""The Bot API methods the bot uses, served at ``/bot<token>/<method>`` like the real server."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.transports.emulator.errors import JSON, ApiError, bad_request, compact
from bot.transports.emulator.faults import Call
from bot.transports.emulator.params import Params, Upload
from bot.transports.emulator.world import Chat, Webhook, World

Method = Callable[[World, Params], Awaitable[Any]]
METHODS: dict[str, Method] = {}  # lower-case names: Bot API method names are case-insensitive

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_BOT_PHOTO = 10 * 1024 * 1024
MAX_BOT_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def method(name: str) -> Callable[[Method], Method]:
    def register(handler: Method) -> Method:
        METHODS[name.lower()] = handler
        return handler

    return register


async def call_method(request: Request) -> Response:
    world: World = request.app.state.world
    if request.path_params["token"] != world.token:
        return error_response(ApiError(401, "Unauthorized"))
    name = request.path_params["method"]
    handler = METHODS.get(name.lower())
    if handler is None:
        return error_response(ApiError(404, "Not Found"))
    arrived = time.monotonic()
    try:
        params = await Params.read(request)
        response = await _answer(world, name, handler, params)
    except ApiError as exc:
        params, response = Params({}), error_response(exc)
    world.calls.record(
        Call(method=name, at=arrived, status=response.status_code, params=params.loggable())
    )
    return response


async def download(request: Request) -> Response:
    world: World = request.app.state.world
    stored = world.files.by_path(request.path_params["file_path"])
    if request.path_params["token"] != world.token or stored is None:
        return error_response(ApiError(404, "Not Found"))
    return Response(stored.data, media_type=stored.mime_type)


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.envelope(), status_code=error.code)


# What a misconfigured proxy in front of the Bot API answers with a 200.
GARBLED = b"<html><body>502 Bad Gateway</body></html>"


async def _answer(world: World, name: str, handler: Method, params: Params) -> Response:
    fault = world.faults.take(name)
    if fault is None:
        return JSONResponse({"ok": True, "result": await handler(world, params)})
    result = await handler(world, params) if fault.carried_out else None
    await world.sleep(fault.hang)
    error = fault.error()
    if error is not None:
        return error_response(error)
    if fault.garbled:
        return Response(GARBLED, status_code=200, media_type="text/html")
    if not fault.carried_out:
        result = await handler(world, params)
    return JSONResponse({"ok": True, "result": result})


# --- updates and webhook ------------------------------------------------------------------


@method("getMe")
async def get_me(world: World, params: Params) -> JSON:
    flags = ("can_read_all_group_messages", "supports_inline_queries", "can_connect_to_business")
    return {**world.bot, "can_join_groups": True, **dict.fromkeys(flags, False)}


@method("getUpdates")
async def get_updates(world: World, params: Params) -> list[JSON]:
    if world.webhook is not None:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active;"
            " use deleteWebhook to delete the webhook first",
        )
    world.confirm(params.integer("offset") or 0)
    allowed = params.obj("allowed_updates")
    if allowed is not None:
        world.allowed_updates = list(allowed)
    limit = min(max(params.integer("limit") or 100, 1), 100)
    timeout = max(params.number("timeout") or 0.0, 0.0)
    # As on Telegram, a second getUpdates while one waits ends the waiting one with 409:
    # only one process may poll a bot.
    world.polls += 1
    mine = world.polls
    world.changed.notify()
    await world.wait_until(lambda: world.updates[:limit] or world.polls != mine, timeout)
    if world.polls != mine:
        raise ApiError(
            409,
            "Conflict: terminated by other getUpdates request;"
            " make sure that only one bot instance is running",
        )
    updates = world.updates[:limit]
    world.served(updates)
    return updates


@method("setWebhook")
async def set_webhook(world: World, params: Params) -> bool:
    url = params.text("url") or ""
    secret = params.text("secret_token")
    if secret is not None and not SECRET.match(secret):
        raise bad_request("secret token contains unallowed characters")
    if params.flag("drop_pending_updates"):
        world.updates.clear()
    allowed = params.obj("allowed_updates")
    if allowed is not None:
        world.allowed_updates = list(allowed)
    # An empty url removes the webhook, as on the real server.
    connections = params.integer("max_connections") or 40
    world.webhook = (
        Webhook(url=url, secret_token=secret, max_connections=connections) if url else None
    )
    world.webhook_error = None
    world.changed.notify()
    return True


@method("deleteWebhook")
async def delete_webhook(world: World, params: Params) -> bool:
    if params.flag("drop_pending_updates"):
        world.updates.clear()
    world.webhook = None
    world.changed.notify()
    return True


@method("getWebhookInfo")
async def get_webhook_info(world: World, params: Params) -> JSON:
    hook = world.webhook
    info: JSON = {
        "url": hook.url if hook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(world.updates),
    }
    if hook is not None:
        info["max_connections"] = hook.max_connections
        if world.allowed_updates:
            info["allowed_updates"] = world.allowed_updates
    if world.webhook_error is not None:
        info["last_error_date"], info["last_error_message"] = world.webhook_error
    return info


# --- sending ----------------------------------------------------------------------------------


@method("sendMessage")
async def send_message(world: World, params: Params) -> JSON:
    chat = world.chat(params.text("chat_id"))
    text = params.text("text")
    if not text:
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    return world.post(chat, {**_reply_to(chat, params), "text": text}, _markup(params))


@method("sendPhoto")
async def send_photo(world: World, params: Params) -> JSON:
    chat = world.chat(params.text("chat_id"))
    sizes = _photo(world, params.fields.get("photo"), params.upload("photo"))
    content = compact({"photo": sizes, "caption": _caption(params)})
    return world.post(chat, {**_reply_to(chat, params), **content}, _markup(params))


@method("sendDocument")
async def send_document(world: World, params: Params) -> JSON:
    chat = world.chat(params.text("chat_id"))
    document = _document(world, params.fields.get("document"), params.upload("document"))
    content = compact({"document": document, "caption": _caption(params)})
    return world.post(chat, {**_reply_to(chat, params), **content}, _markup(params))


@method("sendLocation")
async def send_location(world: World, params: Params) -> JSON:
    chat = world.chat(params.text("chat_id"))
    latitude, longitude = params.number("latitude"), params.number("longitude")
    if latitude is None or longitude is None or abs(latitude) > 90 or abs(longitude) > 180:
        raise bad_request("wrong latitude or longitude")
    location = compact(
        {
            "latitude": latitude,
            "longitude": longitude,
            "live_period": params.integer("live_period"),
        }
    )
    return world.post(chat, {**_reply_to(chat, params), "location": location}, _markup(params))


@method("sendVenue")
async def send_venue(world: World, params: Params) -> JSON:
    chat = world.chat(params.text("chat_id"))
    latitude, longitude = params.number("latitude"), params.number("longitude")
    if latitude is None or longitude is None or abs(latitude) > 90 or abs(longitude) > 180:
        raise bad_request("wrong latitude or longitude")
    title, address = params.text("title"), params.text("address")
    if not title or address is None:
        raise bad_request("venue title and address are required")
    location = {"latitude": latitude, "longitude": longitude}
    venue = {"location": location, "title": title, "address": address}
    content = {"location": location, "venue": venue}
    return world.post(chat, {**_reply_to(chat, params), **content}, _markup(params))


@method("sendMediaGroup")
async def send_media_group(world: World, params: Params) -> list[JSON]:
    chat = world.chat(params.text("chat_id"))
    media = params.obj("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise bad_request("media must be a list of 2 to 10 items")
    # Resolve every item before posting any: a group is sent whole or not at all.
    contents = [_media_item(world, params, item) for item in media]
    group = world.new_media_group_id()
    reply = _reply_to(chat, params)
    return [world.post(chat, {**reply, "media_group_id": group, **c}, None) for c in contents]


@method("sendChatAction")
async def send_chat_action(world: World, params: Params) -> bool:
    world.chat(params.text("chat_id")).last_action = params.text("action")
    return True


# --- editing, buttons, files, commands -----------------------------------------------------


@method("editMessageText")
async def edit_message_text(world: World, params: Params) -> JSON:
    entry = world.bot_entry(_chat_id(params), params.integer("message_id"))
    if "text" not in entry.message:
        raise bad_request("there is no text in the message to edit")
    text = params.text("text")
    if not text:
        raise bad_request("message text is empty")
    return world.edit(entry, {"text": text, "entities": None}, _markup(params))


@method("editMessageCaption")
async def edit_message_caption(world: World, params: Params) -> JSON:
    entry = world.bot_entry(_chat_id(params), params.integer("message_id"))
    if "text" in entry.message:
        raise bad_request("there is no caption in the message to edit")
    return world.edit(entry, {"caption": _caption(params) or None}, _markup(params))


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(world: World, params: Params) -> JSON:
    entry = world.bot_entry(_chat_id(params), params.integer("message_id"))
    return world.edit(entry, {}, _markup(params))


@method("deleteMessage")
async def delete_message(world: World, params: Params) -> bool:
    world.delete(params.text("chat_id"), params.integer("message_id"))
    return True


@method("answerCallbackQuery")
async def answer_callback_query(world: World, params: Params) -> bool:
    query_id = params.text("callback_query_id") or ""
    if world.callback_answers.get(query_id, {}) is not None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    world.callback_answers[query_id] = {
        "text": params.text("text"),
        "show_alert": params.flag("show_alert"),
        "url": params.text("url"),
    }
    world.changed.notify()
    return True


@method("getFile")
async def get_file(world: World, params: Params) -> JSON:
    stored = world.files.get(params.text("file_id") or "")
    if len(stored.data) > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    return stored.as_file()


@method("setMyCommands")
async def set_my_commands(world: World, params: Params) -> bool:
    commands = params.obj("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be a list of at most 100 BotCommand")
    for command in commands:
        if not COMMAND.match(str(command.get("command", ""))) or not command.get("description"):
            raise bad_request("BOT_COMMAND_INVALID")
    world.commands[_scope_key(params)] = [
        {"command": c["command"], "description": c["description"]} for c in commands
    ]
    return True


@method("getMyCommands")
async def get_my_commands(world: World, params: Params) -> list[JSON]:
    return world.commands.get(_scope_key(params), [])


@method("deleteMyCommands")
async def delete_my_commands(world: World, params: Params) -> bool:
    world.commands.pop(_scope_key(params), None)
    return True


# --- helpers ------------------------------------------------------------------------------------


def _chat_id(params: Params) -> str | None:
    if params.text("inline_message_id"):
        raise bad_request("inline messages are not emulated")
    return params.text("chat_id")


def _markup(params: Params) -> JSON | None:
    markup = params.obj("reply_markup")
    return markup if isinstance(markup, dict) else None


def _caption(params: Params) -> str | None:
    caption = params.text("caption")
    if caption is not None and len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return caption


def _reply_to(chat: Chat, params: Params) -> JSON:
    reply = params.obj("reply_parameters")
    message_id = reply.get("message_id") if isinstance(reply, dict) else None
    message_id = message_id or params.integer("reply_to_message_id")
    entry = chat.entries.get(int(message_id or 0))
    if entry is None or entry.deleted:
        return {}
    return {"reply_to_message": entry.message}


def _photo(world: World, value: object, upload: Upload | None) -> list[JSON]:
    if upload is not None:
        if len(upload.data) > MAX_BOT_PHOTO:
            raise ApiError(413, "Request Entity Too Large")
        return world.photo_sizes(upload.data)
    if not isinstance(value, str) or not value:
        raise bad_request("there is no photo in the request")
    return world.files.photo(value)


def _document(world: World, value: object, upload: Upload | None) -> JSON:
    if upload is not None:
        if len(upload.data) > MAX_BOT_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        name = upload.filename or "document"
        return world.files.add_document(upload.data, file_name=name, mime_type=upload.content_type)
    if not isinstance(value, str) or not value:
        raise bad_request("there is no document in the request")
    return world.files.document(value)


def _media_item(world: World, params: Params, item: object) -> JSON:
    if not isinstance(item, dict) or item.get("type") not in ("photo", "document"):
        raise bad_request("unsupported media type; the emulator sends photo and document groups")
    kind, value = item["type"], item.get("media")
    upload = params.attached(value)
    if kind == "photo":
        file: object = _photo(world, value, upload)
    else:
        file = _document(world, value, upload)
    return compact({kind: file, "caption": item.get("caption")})


def _scope_key(params: Params) -> tuple[str, str]:
    scope = params.obj("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), params.text("language_code") or ""
