"""Why a photo was refused, in a form the flows can translate."""

from __future__ import annotations

import enum


class RejectCode(enum.StrEnum):
    EMPTY = "empty"
    TOO_BIG = "too_big"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT = "corrupt"
    TOO_MANY_PIXELS = "too_many_pixels"


class PhotoRejected(Exception):
    """The only exception photo intake lets out, whatever the input bytes."""

    def __init__(self, code: RejectCode, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.detail = detail
