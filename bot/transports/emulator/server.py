"""``BotApiEmulator``: the HTTP server plus an in-process API for tests.

Start it, point python-telegram-bot at ``base_url``/``base_file_url``, play users with
``user``/``send_*``/``press`` and read what the bot sent with ``messages`` or
``wait_for_message``. The same world is reachable over HTTP under ``/control``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from types import TracebackType

from starlette.applications import Starlette
from starlette.routing import Route

from bot.transports.embedded_http import EmbeddedServer
from bot.transports.emulator import botapi, control
from bot.transports.emulator.errors import JSON
from bot.transports.emulator.faults import Call, Fault
from bot.transports.emulator.webhook import WebhookSender
from bot.transports.emulator.world import Delivery, Entry, World

TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class BotApiEmulator:
    def __init__(
        self,
        *,
        token: str = "123456789:gridsnap-emulator",
        bot_username: str = "gridsnap_bot",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_delay: float = 0.2,
        webhook_backends: Sequence[str] = (),
    ) -> None:
        if not TOKEN_SHAPE.match(token):
            raise ValueError("a bot token looks like 123456:ABC-def")
        self.world = World(token=token, bot_username=bot_username)
        self._host = host
        self._port = port
        self._webhook_retry_delay = webhook_retry_delay
        # Several bot processes behind one webhook URL: deliveries go round robin to these.
        self._webhook_backends = tuple(webhook_backends)
        self._server: EmbeddedServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/bot{token}/{method}", botapi.call_method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", botapi.download, methods=["GET"]),
                *control.routes(),
            ]
        )
        app.state.world = self.world
        self._server = EmbeddedServer(app, host=self._host, port=self._port)
        self._port = await self._server.start()
        sender = WebhookSender(
            self.world, retry_delay=self._webhook_retry_delay, backends=self._webhook_backends
        )
        self._tasks.append(asyncio.create_task(sender.run()))

    async def stop(self) -> None:
        self.world.close()  # wakes long polls and hangs so the server can drain
        if self._server is not None:
            await self._server.stop()
        await asyncio.gather(*self._tasks)
        self._tasks.clear()

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(token, base_url=...)`` or ``ApplicationBuilder().base_url(...)``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def token(self) -> str:
        return self.world.token

    # --- playing users -------------------------------------------------------------------

    def user(
        self,
        user_id: int | None = None,
        *,
        first_name: str = "Courier",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> JSON:
        """Create (or replace) a user with a private chat whose id equals the user id."""
        return self.world.add_user(
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )

    def group(self, *, title: str) -> JSON:
        """Create a supergroup; users write in it with ``send_text(..., chat_id=...)``."""
        return self.world.add_group(title=title)

    def send_text(self, user_id: int, text: str, *, chat_id: int | None = None) -> JSON:
        return self.world.user_text(user_id, text, chat_id=chat_id)

    def send_photo(self, user_id: int, data: bytes, *, caption: str | None = None) -> JSON:
        """Sent the normal way: the bot gets recompressed sizes without EXIF."""
        return self.world.user_photo(user_id, data, caption=caption)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> JSON:
        """Sent as a file: the bot gets the bytes unchanged, EXIF included."""
        return self.world.user_document(
            user_id, data, file_name=file_name, mime_type=mime_type, caption=caption
        )

    def send_album(
        self, user_id: int, photos: list[bytes], *, caption: str | None = None
    ) -> list[JSON]:
        return self.world.user_album(user_id, photos, caption=caption)

    def send_location(
        self, user_id: int, latitude: float, longitude: float, *, live_period: int | None = None
    ) -> JSON:
        return self.world.user_location(user_id, latitude, longitude, live_period=live_period)

    def send_venue(
        self, user_id: int, latitude: float, longitude: float, *, title: str, address: str
    ) -> JSON:
        return self.world.user_venue(user_id, latitude, longitude, title=title, address=address)

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        own: bool = True,
        first_name: str | None = None,
        contact_user_id: int | None = None,
    ) -> JSON:
        """``own=True`` is what a request_contact button sends; else someone else's card."""
        whose = user_id if own else contact_user_id
        return self.world.user_contact(
            user_id, phone_number, first_name=first_name, contact_user_id=whose
        )

    def press(self, user_id: int, message_id: int, data: str, *, force: bool = False) -> str:
        """Press an inline button on a bot message; returns the callback query id.

        ``force=True`` sends ``data`` even though the message has no such button (a forged
        callback query)."""
        return self.world.press(user_id, message_id, data, force=force)

    # --- re-delivery ---------------------------------------------------------------------

    @property
    def last_update_id(self) -> int:
        """The id of the newest update a user action created (0 before any)."""
        return self.world.last_update_id

    def redeliver(self, update_id: int) -> JSON:
        """Deliver update ``update_id`` to the bot again, with the same id."""
        return self.world.redeliver(update_id)

    def times_served(self, update_id: int) -> int:
        """How many getUpdates answers or webhook calls carried update ``update_id``."""
        return self.world.times_served[update_id]

    # --- reading what happened --------------------------------------------------------------

    def messages(self, chat_id: int, *, since: int = 0) -> list[Entry]:
        return self.world.entries(chat_id, since)

    def bot_messages(self, chat_id: int) -> list[Entry]:
        return [entry for entry in self.world.entries(chat_id) if entry.from_bot]

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[Entry], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 -- the agreed test API; it raises on expiry
        *,
        since: int = 0,
    ) -> Entry:
        """The first bot message (edits applied) that satisfies ``predicate``."""

        def first_match() -> Entry | None:
            for entry in self.world.entries(chat_id, since):
                if entry.from_bot and not entry.deleted and (predicate is None or predicate(entry)):
                    return entry
            return None

        found = await self.world.wait_until(first_match, timeout)
        if found is None:
            raise TimeoutError(f"no matching bot message in chat {chat_id} within {timeout}s")
        return found

    def file_bytes(self, file_id: str) -> bytes:
        return self.world.files.get(file_id).data

    def callback_answer(self, query_id: str) -> JSON | None:
        """What the bot answered to a button press, or None while unanswered."""
        return self.world.callback_answers.get(query_id)

    def reply_keyboard(self, chat_id: int) -> JSON | None:
        return self.world.chat(chat_id).reply_keyboard

    def commands(self, language_code: str = "", scope: JSON | None = None) -> list[JSON]:
        key = (_scope_json(scope), language_code)
        return self.world.commands.get(key, [])

    # --- faults and logs -----------------------------------------------------------------------

    def inject_error(
        self,
        method: str | None = None,
        *,
        times: int = 1,
        status: int | None = 429,
        retry_after: int = 1,
        hang: float = 0.0,
        carried_out: bool = False,
        garbled: bool = False,
    ) -> Fault:
        """The next ``times`` calls of ``method`` (any when None) fail, hang, are answered
        late after being carried out, or get a 200 that is not JSON; see Fault."""
        return self.world.faults.inject(
            method,
            times=times,
            status=status,
            retry_after=retry_after,
            hang=hang,
            carried_out=carried_out,
            garbled=garbled,
        )

    def calls(self, method: str | None = None) -> list[Call]:
        return self.world.calls.of(method)

    @property
    def webhook_deliveries(self) -> list[Delivery]:
        return list(self.world.deliveries)


def _scope_json(scope: JSON | None) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)
