"""Photo intake as a use case: download, check, clean and store a photo (and its thumbnail)
*before* the database transaction opens, so slow work never holds a transaction."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.chat import FileRef
from bot.services.env import Env

log = logging.getLogger(__name__)


class FileTooBig(Exception):
    """The platform says the file is larger than we accept; it was not downloaded."""


class FileFetcher(Protocol):
    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PhotoIntake:
    """A processed photo (``key`` set) or the reason it was refused (``error`` set)."""

    key: str | None = None
    phash: str = ""
    width: int = 0
    height: int = 0
    gps: tuple[float, float] | None = None
    taken_at: datetime | None = None
    error: str | None = None  # too_big, not_an_image, unsupported_format, corrupt, ...
    as_file: bool = False  # sent as a document: EXIF GPS is trustworthy only then


async def intake(ref: FileRef, *, fetcher: FileFetcher, env: Env, as_file: bool) -> PhotoIntake:
    from bot.media.intake import PhotoRejected, process_photo

    if ref.size is not None and ref.size > env.max_download_bytes:
        return PhotoIntake(error="too_big", as_file=as_file)
    try:
        data = await fetcher.fetch(ref, max_bytes=env.max_download_bytes)
    except FileTooBig:
        return PhotoIntake(error="too_big", as_file=as_file)
    try:
        photo = await asyncio.to_thread(
            process_photo,
            data,
            max_bytes=env.max_download_bytes,
            max_pixels=env.max_photo_pixels,
            file_name=ref.file_name,
            mime_type=ref.mime_type,
        )
    except PhotoRejected as exc:
        log.info("photo %s refused: %s", ref.file_id, exc.code)
        return PhotoIntake(error=exc.code, as_file=as_file)
    key = await asyncio.to_thread(
        env.photos.put, photo.clean_bytes, photo.ext, thumbnail=photo.thumbnail_bytes
    )
    return PhotoIntake(
        key=key,
        phash=photo.phash,
        width=photo.width,
        height=photo.height,
        gps=photo.gps,
        taken_at=photo.taken_at,
        as_file=as_file,
    )
