"""Request parameters as the Bot API reads them, whatever the body encoding.

Clients send JSON, urlencoded forms or multipart forms. In the form encodings every value
is a string and structured fields (reply_markup, media, commands) are JSON text, so the
getters coerce by the type the method expects, as the real server does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from bot.transports.emulator.errors import JSON, bad_request

ATTACH = "attach://"
# Starlette caps non-file form parts at 1 MB; a media group's JSON or a long text may be more.
MAX_FIELD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    data: bytes
    filename: str | None = None
    content_type: str | None = None


class Params:
    def __init__(self, fields: JSON, files: dict[str, Upload] | None = None) -> None:
        self.fields = fields
        self.files = files or {}

    @classmethod
    async def read(cls, request: Request) -> Params:
        fields: JSON = dict(request.query_params)
        files: dict[str, Upload] = {}
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = await request.json()
            if not isinstance(body, dict):
                raise bad_request("request body must be a JSON object")
            fields.update(body)
        elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            async with request.form(max_part_size=MAX_FIELD_BYTES) as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        files[key] = await _read_upload(value)
                    else:
                        fields[key] = value
        return cls(fields, files)

    def text(self, name: str) -> str | None:
        value = self.fields.get(name)
        return None if value is None else str(value)

    def integer(self, name: str) -> int | None:
        value = self.fields.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise bad_request(f"field {name!r} must be an Integer")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"field {name!r} must be an Integer") from None

    def number(self, name: str) -> float | None:
        value = self.fields.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"field {name!r} must be a Float number") from None

    def flag(self, name: str) -> bool:
        return self.fields.get(name) in (True, 1, "true", "True", "1")

    def obj(self, name: str) -> Any:
        value = self.fields.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None

    def upload(self, name: str) -> Upload | None:
        """The file sent in part ``name``, or in the part an ``attach://`` value points to."""
        if name in self.files:
            return self.files[name]
        return self.attached(self.fields.get(name))

    def attached(self, reference: object) -> Upload | None:
        if isinstance(reference, str) and reference.startswith(ATTACH):
            return self.files.get(reference.removeprefix(ATTACH))
        return None

    def loggable(self) -> JSON:
        logged = dict(self.fields)
        logged.update({name: f"<file {len(up.data)} bytes>" for name, up in self.files.items()})
        return logged


async def _read_upload(value: UploadFile) -> Upload:
    return Upload(data=await value.read(), filename=value.filename, content_type=value.content_type)
