"""Content-addressed photo store on the local file system.

A photo's key is the SHA-256 of its bytes, so storing the same photo twice keeps one
file, and a key can never point at other content. Files live two directory levels down
(``ab/cd/abcd….jpg``) so no directory grows to millions of entries.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_KEY = re.compile(r"[0-9a-f]{64}")
_EXT = re.compile(r"[a-z0-9]{1,8}")


class PhotoNotFound(KeyError):
    """No photo is stored under this key."""


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    def put(self, data: bytes, ext: str) -> str:
        """Store ``data`` (idempotent) and return its key."""
        if not _EXT.fullmatch(ext):
            raise ValueError(f"bad file extension {ext!r}")
        key = hashlib.sha256(data).hexdigest()
        target = self._folder(key) / f"{key}.{ext}"
        if not target.exists():
            _write_atomically(target, data)
        return key

    def path(self, key: str) -> Path:
        """Where the photo stored under ``key`` is; raises ``PhotoNotFound``."""
        for candidate in self._folder(key).glob(f"{key}.*"):
            return candidate
        raise PhotoNotFound(key)

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> bool:
        """Remove the photo (the sender's right to erasure); False if it was not there."""
        try:
            self.path(key).unlink()
        except (PhotoNotFound, FileNotFoundError):
            return False
        return True

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self.path(key)
        except PhotoNotFound:
            return False
        return True

    def _folder(self, key: str) -> Path:
        # The key becomes part of a path: anything but 64 hex digits could climb out of root.
        if not _KEY.fullmatch(key):
            raise PhotoNotFound(key)
        return self._root / key[:2] / key[2:4]


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
