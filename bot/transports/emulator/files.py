"""Files the emulated server holds: photos (as PhotoSize ladders) and documents (as sent)."""

from __future__ import annotations

import hashlib
import itertools
import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import PurePosixPath

from bot.transports.emulator.errors import JSON, bad_request, compact
from bot.transports.emulator.photos import recompress

WRONG_FILE = "wrong file identifier/HTTP URL specified"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str | None = None

    def as_file(self) -> JSON:
        """The Bot API ``File`` object, as getFile answers it."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


class FileStore:
    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        # Any one size's file_id maps to the whole ladder, so a photo re-sent by id keeps it.
        self._photos: dict[str, list[JSON]] = {}
        self._documents: dict[str, JSON] = {}
        self._numbers = itertools.count(1)

    def add_photo(self, original: bytes) -> list[JSON]:
        """Recompress like Telegram; raises ValueError when the bytes are not an image."""
        sizes: list[JSON] = []
        for variant in recompress(original):
            stored = self._add(variant.data, folder="photos", suffix=".jpg", mime_type="image/jpeg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": variant.width,
                    "height": variant.height,
                    "file_size": len(variant.data),
                }
            )
        for size in sizes:
            self._photos[size["file_id"]] = sizes
        return sizes

    def add_document(self, data: bytes, *, file_name: str, mime_type: str | None = None) -> JSON:
        """Kept byte for byte: a file sent as a document is not recompressed, EXIF included."""
        mime_type = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        suffix = PurePosixPath(file_name).suffix or ".bin"
        stored = self._add(data, folder="documents", suffix=suffix, mime_type=mime_type)
        document = compact(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(data),
            }
        )
        self._documents[stored.file_id] = document
        return document

    def photo(self, file_id: str) -> list[JSON]:
        if file_id not in self._photos:
            raise bad_request(WRONG_FILE)
        return self._photos[file_id]

    def document(self, file_id: str) -> JSON:
        if file_id not in self._documents:
            raise bad_request(WRONG_FILE)
        return self._documents[file_id]

    def get(self, file_id: str) -> StoredFile:
        if file_id not in self._by_id:
            raise bad_request(WRONG_FILE)
        return self._by_id[file_id]

    def by_path(self, file_path: str) -> StoredFile | None:
        return self._by_path.get(file_path)

    def _add(self, data: bytes, *, folder: str, suffix: str, mime_type: str) -> StoredFile:
        number = next(self._numbers)
        stored = StoredFile(
            file_id=f"{folder[:2].upper()}{number:06d}{secrets.token_urlsafe(12)}",
            # Like Telegram's, stable for the same content.
            file_unique_id="AQAD" + hashlib.sha256(data).hexdigest()[:16],
            file_path=f"{folder}/file_{number}{suffix}",
            data=data,
            mime_type=mime_type,
        )
        self._by_id[stored.file_id] = stored
        self._by_path[stored.file_path] = stored
        return stored

    # -- keeping them across a restart (the sandbox's chat history) ------------------------

    def stored(self) -> list[StoredFile]:
        return list(self._by_id.values())

    def index(self) -> JSON:
        """What ``restore`` needs besides the bytes: the photo ladders and documents."""
        return {"photos": self._photos, "documents": self._documents}

    def restore(self, files: list[StoredFile], index: JSON) -> None:
        """Take back files from ``stored`` and ``index``; new files are numbered after them."""
        for stored in files:
            self._by_id[stored.file_id] = stored
            self._by_path[stored.file_path] = stored
        self._photos.update(index.get("photos", {}))
        self._documents.update(index.get("documents", {}))
        self._numbers = itertools.count(len(self._by_id) + 1)
