"""The sandbox's chats kept across restarts: the emulator's messages and files on disk.

The emulator holds everything in memory, so a restarted sandbox used to open every persona's
tab on an empty chat while the database still had their cases. Now the chats (messages as the
Bot API shaped them, edits applied) go to ``chats.json`` in a folder under ``var/`` and the
files they show (photos, map images, documents) beside it, written once each; the sandbox
loads them before anyone opens a tab and saves after changes and on the way out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.transports.emulator.files import StoredFile
from bot.transports.emulator.world import Chat, Entry, Waitable, World

log = logging.getLogger(__name__)

VERSION = 1
SAVE_EVERY_S = 1.0  # after a change; a sandbox chat changes a few times a second at most


def history_folder(photo_dir: Path, mode: str = "telegram") -> Path:
    """Beside the photo store under ``var/``, so ``sandbox reset`` finds it there too; one
    per sandbox mode (telegram, wechat, mixed), as each has its own database."""
    suffix = "" if mode == "telegram" else f"-{mode}"
    return photo_dir.parent / f"sandbox-chats{suffix}"


async def keep_saving(world: Waitable, save: Callable[[], None]) -> None:
    """``save()`` after every change of ``world`` until cancelled, then once more."""
    try:
        while not world.closed:
            await world.changed.wait(SAVE_EVERY_S * 30)
            await asyncio.sleep(SAVE_EVERY_S)  # one write for a burst of changes
            save()
    finally:
        save()


def read_saved(path: Path, version: int) -> dict[str, Any] | None:
    """A saved JSON document of ``version``; None when absent, unreadable or older."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("sandbox chat history %s is unreadable (%s); starting empty", path, exc)
        return None
    if not isinstance(data, dict) or data.get("version") != version:
        return None
    return data


def write_saved(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically: a crash leaves the old file or the new one."""
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def write_once(path: Path, data: bytes) -> None:
    """A picture's bytes, written the first time only (they never change)."""
    if not path.exists():
        path.write_bytes(data)


def read_picture(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None  # deleted by hand: the message stays, its picture is gone


class ChatHistory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.chats_file = folder / "chats.json"
        self.files = folder / "files"
        self._saved_cursor = -1

    def load(self, world: World) -> bool:
        """Put the saved chats into a fresh ``world``; False when there is nothing (usable)."""
        data = read_saved(self.chats_file, VERSION)
        if data is None:
            return False
        files = [self._file(meta) for meta in data["files"]]
        world.files.restore([f for f in files if f is not None], data["file_index"])
        for uid, user in data["users"].items():
            world.users[int(uid)] = user
        for cid, chat in data["chats"].items():
            world.chats[int(cid)] = Chat(
                info=chat["info"],
                entries={
                    int(e["message"]["message_id"]): Entry(at=0.0, **e) for e in chat["entries"]
                },
                last_message_id=chat["last_message_id"],
                reply_keyboard=chat["reply_keyboard"],
            )
        world.cursor = int(data["cursor"])
        self._saved_cursor = world.cursor
        return True

    def save(self, world: World) -> None:
        """Write the chats (atomically) and any file not written yet."""
        if world.cursor == self._saved_cursor:
            return
        self.files.mkdir(parents=True, exist_ok=True)
        metas = [self._write_file(stored) for stored in world.files.stored()]
        data: dict[str, Any] = {
            "version": VERSION,
            "cursor": world.cursor,
            "users": {str(uid): user for uid, user in world.users.items()},
            "chats": {str(cid): _chat(chat) for cid, chat in world.chats.items()},
            "files": metas,
            "file_index": world.files.index(),
        }
        write_saved(self.chats_file, data)
        self._saved_cursor = world.cursor

    async def keep(self, world: World) -> None:
        """Save after every change until cancelled, then once more."""
        await keep_saving(world, lambda: self.save(world))

    def _write_file(self, stored: StoredFile) -> dict[str, Any]:
        write_once(self.files / stored.file_id, stored.data)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
            "mime_type": stored.mime_type,
        }

    def _file(self, meta: dict[str, Any]) -> StoredFile | None:
        data = read_picture(self.files / meta["file_id"])
        return None if data is None else StoredFile(data=data, **meta)


def _chat(chat: Chat) -> dict[str, Any]:
    return {
        "info": chat.info,
        "last_message_id": chat.last_message_id,
        "reply_keyboard": chat.reply_keyboard,
        "entries": [
            {
                "seq": e.seq,
                "message": e.message,
                "from_bot": e.from_bot,
                "reply_markup": e.reply_markup,
                "deleted": e.deleted,
            }
            for e in chat.entries.values()
        ],
    }
