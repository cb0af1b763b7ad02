"""The control API under ``/control``: play users and read what the bot sent, over HTTP.

The in-process ``BotApiEmulator`` methods do the same; this is for the browser sandbox and
for tests in another process. Answers use the Bot API envelope so one client parses both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.transports.emulator.errors import JSON, ApiError, bad_request
from bot.transports.emulator.world import Entry, World

MAX_WAIT = 30.0
Endpoint = Callable[[Request, World], Awaitable[Any]]


def routes() -> list[Route]:
    user = "/control/users/{user_id:int}"
    return [
        Route("/control/users", _json(create_user), methods=["POST"]),
        Route(user, _json(get_user), methods=["GET"]),
        Route(f"{user}/text", _json(send_text), methods=["POST"]),
        Route(f"{user}/photo", _json(send_photo), methods=["POST"]),
        Route(f"{user}/document", _json(send_document), methods=["POST"]),
        Route(f"{user}/album", _json(send_album), methods=["POST"]),
        Route(f"{user}/location", _json(send_location), methods=["POST"]),
        Route(f"{user}/venue", _json(send_venue), methods=["POST"]),
        Route(f"{user}/contact", _json(send_contact), methods=["POST"]),
        Route(f"{user}/press", _json(press), methods=["POST"]),
        Route("/control/chats/{chat_id:int}/messages", _json(list_messages), methods=["GET"]),
        Route("/control/files/{file_id}", get_file, methods=["GET"]),
        Route("/control/faults", _json(inject_fault), methods=["POST"]),
        Route("/control/faults", _json(clear_faults), methods=["DELETE"]),
        Route("/control/calls", _json(list_calls), methods=["GET"]),
        Route("/control/webhook/deliveries", _json(list_deliveries), methods=["GET"]),
    ]


def entry_view(entry: Entry) -> JSON:
    file_id = entry.file_id()
    return {
        "seq": entry.seq,
        "message_id": entry.message_id,
        "from_bot": entry.from_bot,
        "at": entry.at,
        "deleted": entry.deleted,
        "message": entry.message,
        "reply_markup": entry.reply_markup,
        "file_url": f"/control/files/{file_id}" if file_id else None,
    }


def _json(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        try:
            result = await endpoint(request, request.app.state.world)
        except ApiError as exc:
            return JSONResponse(exc.envelope(), status_code=exc.code)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse(bad_request(f"bad control request: {exc}").envelope(), 400)
        return JSONResponse({"ok": True, "result": result})

    return answer


async def _body(request: Request) -> JSON:
    body = await request.json() if await request.body() else {}
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


async def _uploads(request: Request) -> tuple[list[tuple[bytes, str]], JSON]:
    """The ``file`` parts (bytes, filename) and the other form fields."""
    files: list[tuple[bytes, str]] = []
    fields: JSON = {}
    async with request.form() as form:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append((await value.read(), value.filename or "file"))
            else:
                fields[key] = value
    if not files:
        raise bad_request("no file part in the form")
    return files, fields


def _uid(request: Request) -> int:
    return int(request.path_params["user_id"])


async def create_user(request: Request, world: World) -> JSON:
    body = await _body(request)
    return world.add_user(
        body.get("id"),
        first_name=body.get("first_name", "Courier"),
        last_name=body.get("last_name"),
        username=body.get("username"),
        language_code=body.get("language_code"),
    )


async def get_user(request: Request, world: World) -> JSON:
    return world.user(_uid(request))


async def send_text(request: Request, world: World) -> JSON:
    return world.user_text(_uid(request), str((await _body(request))["text"]))


async def send_photo(request: Request, world: World) -> JSON:
    files, fields = await _uploads(request)
    return world.user_photo(_uid(request), files[0][0], caption=fields.get("caption"))


async def send_document(request: Request, world: World) -> JSON:
    files, fields = await _uploads(request)
    (data, name), caption = files[0], fields.get("caption")
    return world.user_document(_uid(request), data, file_name=name, caption=caption)


async def send_album(request: Request, world: World) -> list[JSON]:
    files, fields = await _uploads(request)
    photos = [data for data, _name in files]
    return world.user_album(_uid(request), photos, caption=fields.get("caption"))


async def send_location(request: Request, world: World) -> JSON:
    body = await _body(request)
    return world.user_location(
        _uid(request),
        float(body["latitude"]),
        float(body["longitude"]),
        live_period=body.get("live_period"),
    )


async def send_venue(request: Request, world: World) -> JSON:
    body = await _body(request)
    return world.user_venue(
        _uid(request),
        float(body["latitude"]),
        float(body["longitude"]),
        title=str(body["title"]),
        address=str(body["address"]),
    )


async def send_contact(request: Request, world: World) -> JSON:
    body, uid = await _body(request), _uid(request)
    # "own": true shares the user's own card, as a request_contact button does.
    contact_user_id = uid if body.get("own") else body.get("user_id")
    return world.user_contact(
        uid,
        str(body["phone_number"]),
        first_name=body.get("first_name"),
        contact_user_id=contact_user_id,
    )


async def press(request: Request, world: World) -> JSON:
    body = await _body(request)
    query_id = world.press(_uid(request), int(body["message_id"]), str(body["data"]))
    return {"callback_query_id": query_id}


async def list_messages(request: Request, world: World) -> JSON:
    chat_id = int(request.path_params["chat_id"])
    since = int(request.query_params.get("since", 0))
    wait = min(float(request.query_params.get("wait", 0)), MAX_WAIT)
    entries = await world.wait_until(lambda: world.entries(chat_id, since), wait)
    return {"messages": [entry_view(e) for e in entries], "cursor": world.cursor}


async def get_file(request: Request) -> Response:
    world: World = request.app.state.world
    try:
        stored = world.files.get(request.path_params["file_id"])
    except ApiError as exc:
        return JSONResponse(exc.envelope(), status_code=404)
    return Response(stored.data, media_type=stored.mime_type)


async def inject_fault(request: Request, world: World) -> JSON:
    body = await _body(request)
    fault = world.faults.inject(
        body.get("method"),
        times=int(body.get("times", 1)),
        status=body.get("status", 429),
        retry_after=int(body.get("retry_after", 1)),
        hang=float(body.get("hang", 0.0)),
        carried_out=bool(body.get("carried_out", False)),
        garbled=bool(body.get("garbled", False)),
    )
    return asdict(fault)


async def clear_faults(request: Request, world: World) -> bool:
    world.faults.clear()
    return True


async def list_calls(request: Request, world: World) -> list[JSON]:
    return [call.as_dict() for call in world.calls.of(request.query_params.get("method"))]


async def list_deliveries(request: Request, world: World) -> list[JSON]:
    return [asdict(delivery) for delivery in world.deliveries]
