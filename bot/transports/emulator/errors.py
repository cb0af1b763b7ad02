"""The Bot API's error envelope, raised anywhere in the emulator and answered by the router."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


class ApiError(Exception):
    """An answer with ``ok: false``; ``code`` is both the HTTP status and ``error_code``."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def envelope(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def compact(data: JSON) -> JSON:
    """Drop absent optional fields, as the Bot API omits them instead of sending null."""
    return {key: value for key, value in data.items() if value is not None}
