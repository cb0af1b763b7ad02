"""Content-addressed photo store on the local file system.

A photo's key is the SHA-256 of its bytes, so storing the same photo twice keeps one
file, and a key can never point at other content. Files live two directory levels down
(``ab/cd/abcd….jpg``) so no directory grows to millions of entries. A photo's thumbnail
lies beside it under a derived name (``abcd…-thumb.jpg``) and leaves the store with it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_KEY = re.compile(r"[0-9a-f]{64}")
_EXT = re.compile(r"[a-z0-9]{1,8}")
# A stored photo's file name; temporary files (".incoming-…") never match it.
_NAME = re.compile(r"(?P<key>[0-9a-f]{64})\.[a-z0-9]{1,8}")
_HEX2 = re.compile(r"[0-9a-f]{2}")
# Not "<key>.<ext>": neither ``path``'s glob nor ``_NAME`` takes a thumbnail for a photo.
_THUMBNAIL_SUFFIX = "-thumb.jpg"


class PhotoNotFound(KeyError):
    """No photo is stored under this key."""


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    key: str
    modified: datetime  # when the file was last written or stored again (UTC)


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    def put(self, data: bytes, ext: str, *, thumbnail: bytes | None = None) -> str:
        """Store ``data`` (idempotent) and its JPEG ``thumbnail``, if given; return the key."""
        if not _EXT.fullmatch(ext):
            raise ValueError(f"bad file extension {ext!r}")
        key = hashlib.sha256(data).hexdigest()
        _store(self._folder(key) / f"{key}.{ext}", data)
        if thumbnail is not None:
            # After the photo: a crash in between leaves a photo without a thumbnail, which
            # the sweep still finds, never a thumbnail no listing shows.
            _store(self._thumbnail(key), thumbnail)
        return key

    def path(self, key: str) -> Path:
        """Where the photo stored under ``key`` is; raises ``PhotoNotFound``."""
        for candidate in self._folder(key).glob(f"{key}.*"):
            return candidate
        raise PhotoNotFound(key)

    def thumbnail_path(self, key: str) -> Path:
        """Where the JPEG thumbnail of the photo under ``key`` is; raises ``PhotoNotFound``."""
        target = self._thumbnail(key)
        if not target.is_file():
            raise PhotoNotFound(key)
        return target

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> bool:
        """Remove the photo and its thumbnail (the sender's right to erasure); False if the
        photo was not there."""
        try:
            self._remove(key, self.path(key))
        except (PhotoNotFound, FileNotFoundError):
            return False
        return True

    def stored(self) -> Iterator[StoredPhoto]:
        """Every stored photo with its file's modification time, folder by folder."""
        for outer in _hex_folders(self._root):
            for inner in _hex_folders(Path(outer.path)):
                yield from _photos_in(inner)

    def delete_if_older(self, key: str, cutoff: datetime) -> bool:
        """Remove the photo if its file was last stored before ``cutoff``; True if removed.

        The age is read again right before the unlink, so a photo stored again since the
        caller listed it (see ``put``) stays.
        """
        try:
            target = self.path(key)
            if _modified(target.stat().st_mtime) >= cutoff:
                return False
            self._remove(key, target)
        except (PhotoNotFound, FileNotFoundError):
            return False  # gone already: another process swept it, or the sender erased it
        return True

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self.path(key)
        except PhotoNotFound:
            return False
        return True

    def _remove(self, key: str, photo: Path) -> None:
        # The thumbnail first: a crash in between leaves a photo the sweep still lists.
        self._thumbnail(key).unlink(missing_ok=True)
        photo.unlink()

    def _thumbnail(self, key: str) -> Path:
        return self._folder(key) / f"{key}{_THUMBNAIL_SUFFIX}"

    def _folder(self, key: str) -> Path:
        # The key becomes part of a path: anything but 64 hex digits could climb out of root.
        if not _KEY.fullmatch(key):
            raise PhotoNotFound(key)
        return self._root / key[:2] / key[2:4]


def _modified(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, UTC)


def _hex_folders(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if _HEX2.fullmatch(e.name) and e.is_dir()]
    except FileNotFoundError:
        return []  # nothing stored yet, or the folder went away meanwhile


def _photos_in(folder: os.DirEntry[str]) -> Iterator[StoredPhoto]:
    with os.scandir(folder.path) as entries:
        for entry in entries:
            name = _NAME.fullmatch(entry.name)
            if name is None or not entry.is_file():
                continue
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue  # deleted between listing and stat
            yield StoredPhoto(key=name["key"], modified=_modified(mtime))


def _store(target: Path, data: bytes) -> None:
    try:
        # Storing it again makes it young again: the retention sweep deletes only files
        # left untouched for its whole age, so a photo re-sent today is not swept away
        # while the report that will refer to it is still being written.
        os.utime(target)
    except FileNotFoundError:
        _write_atomically(target, data)


def _write_atomically(target: Path, data: bytes) -> None:
    # Write beside the target, flush to disk, then rename: a reader (or a crash) sees
    # either no file or the whole file, never a half-written photo.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
