"""What the Telegram transport tests share: one user in the local Bot API emulator, a photo
store that counts its reads, and the settings that point an adapter at the emulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.chat import Incoming, Outgoing, OutKind
from bot.config import Settings
from bot.transports.emulator.server import BotApiEmulator

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realworld" / "photos"
PHOTO_KEY = "a" * 64
USER = 7001
WAIT = 10.0  # seconds; an update normally arrives within milliseconds


class PhotoStore:
    """Counts reads, so a second upload of the same photo would show."""

    def __init__(self) -> None:
        self.data = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()
        self.reads = 0

    def load(self, key: str) -> bytes:
        if key != PHOTO_KEY:
            raise KeyError(key)
        self.reads += 1
        return self.data


@contextlib.asynccontextmanager
async def emulator_with_user() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator() as emu:
        emu.user(USER, first_name="Wei")
        yield emu


def out(kind: OutKind = OutKind.TEXT, **fields: Any) -> Outgoing:
    return Outgoing(platform="telegram", chat_id=str(USER), kind=kind, **fields)


def settings_for(emulator: BotApiEmulator, **overrides: Any) -> Settings:
    return Settings(telegram_token=emulator.token, telegram_api_url=emulator.url).model_copy(
        update=overrides
    )


async def next_incoming(received: asyncio.Queue[Incoming]) -> Incoming:
    return await asyncio.wait_for(received.get(), WAIT)
