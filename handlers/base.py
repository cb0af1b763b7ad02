"""What a flow step sees: the incoming message, the user's account and state, and helpers to
answer. A step appends ``Outgoing`` messages; the dispatcher writes them to the outbox in the
same commit as everything else the step changed."""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from bot.chat import (
    Ask,
    Choices,
    Incoming,
    Keyboard,
    Location,
    Outgoing,
    OutKind,
    Request,
    choices,
)
from bot.domain.model import Account, ConversationState
from bot.i18n import N_, Translator, translator
from bot.ui import payloads
from bot.ui.payloads import Payload

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.photos import PhotoIntake
    from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)

CHOSEN_PREFIX = "chosen"  # the button left on a message to show what was chosen there
SHARE_LABELS = {
    Request.LOCATION: N_("📍 Share location"),
    Request.PHONE: N_("Share my phone number"),
}


class Chosen(Payload, prefix=CHOSEN_PREFIX):
    """The ticked button left where a choice was made: ``chosen:`` (an empty field, as the
    buttons already on people's screens have)."""

    blank: Literal[""] = ""


@dataclass(kw_only=True)
class Context:
    incoming: Incoming
    account: Account
    state: ConversationState
    uow: BaseUnitOfWork
    env: Env
    now: datetime
    photo: PhotoIntake | None = None  # the incoming photo/document, already processed
    out: list[Outgoing] = field(default_factory=list)

    @property
    def t(self) -> Translator:
        return translator(self.account.locale, self.env.zone)

    def _(self, message: str) -> str:
        return self.t._(message)

    def reply(
        self,
        text: str,
        keyboard: Keyboard | None = None,
        *,
        remove_keyboard: bool = False,
        photo: str | None = None,
    ) -> None:
        self.out.append(
            Outgoing(
                platform=self.account.platform,
                chat_id=self.account.chat_id,
                kind=OutKind.PHOTO if photo else OutKind.TEXT,
                text=text,
                photo=photo,
                keyboard=keyboard,
                remove_keyboard=remove_keyboard,
            )
        )

    def choose(self, text: str, rows: Choices, *, photo: str | None = None) -> None:
        """Offer a choice: ``rows`` of (label, payload) under ``text`` (or a photo's caption)."""
        self.reply(text, choices(rows) if any(rows) else None, photo=photo)

    def ask(
        self,
        wants: Request,
        text: str,
        *,
        button: str = "",
        options: Sequence[str] = (),
    ) -> None:
        """Ask the person to send a location, photo or phone number (``wants``, combined
        with ``|``). ``button`` labels the share button (a default per request when empty);
        ``options`` are ready-made replies whose label comes back as text."""
        share = Ask(wants=wants).share
        if share is not None and not button:
            button = self._(SHARE_LABELS[share])
        request = Ask(wants=wants, button=button, options=tuple(options))
        self.out.append(self._to_me(text=text, request=request))

    def ack(self, text: str = "", *, alert: bool = False) -> None:
        """Acknowledge the press being handled, with a short notice (a dialog if ``alert``)."""
        if self.incoming.callback_id is None:
            return
        self.out.append(
            self._to_me(
                kind=OutKind.ANSWER_BUTTON,
                text=text,
                callback_id=self.incoming.callback_id,
                alert=alert,
            )
        )

    def replace_choices(
        self, rows: Choices, *, prompt: str = "", message_id: str | None = None
    ) -> None:
        """Put ``rows`` in place of the choices of an earlier prompt: the pressed message, or
        ``message_id``. ``prompt`` is what that prompt asked: with no message to edit (a press
        that names none) the new menu goes out as a fresh message under it, and a platform
        that cannot edit does the same."""
        if any(rows) and prompt and (message_id or self.incoming.message_id) is None:
            self.choose(prompt, rows)
            return
        self._edit(choices(rows) if any(rows) else None, prompt, message_id)

    def replace_prompt(self, text: str, rows: Choices) -> None:
        """Put ``text`` and ``rows`` in place of the pressed prompt, both (a list paged in
        place, whose heading changes with the page); a fresh choice when nothing was
        pressed. Without edits: a fresh message, as for ``replace_choices``."""
        if self.incoming.message_id is None:
            self.choose(text, rows)
            return
        self.out.append(
            self._to_me(
                kind=OutKind.EDIT_TEXT,
                text=text,
                message_id=self.incoming.message_id,
                keyboard=choices(rows),
            )
        )

    def drop_choices(self, *, message_id: str | None = None) -> None:
        """Remove the choices of the pressed message (or ``message_id``): they no longer apply."""
        self._edit(None, "", message_id)

    def show_choice(self, label: str) -> None:
        """Replace the buttons of the pressed message with the one chosen, ticked, so the
        chat keeps showing what was picked; pressing it again does nothing (``chosen``)."""
        self._edit(choices([[(f"✓ {label}", Chosen())]]), "", None)

    @functools.cached_property
    def pressed(self) -> Payload | None:
        """The payload of the button pressed, validated; None for no press or bad data.
        Parsed once per update however often a flow step asks."""
        if self.incoming.button_data is None:
            return None
        try:
            return payloads.parse(self.incoming.button_data)
        except payloads.BadPayload:
            return None

    def _edit(self, keyboard: Keyboard | None, prompt: str, message_id: str | None) -> None:
        message_id = message_id or self.incoming.message_id
        if message_id is None:
            return
        self.out.append(
            self._to_me(
                kind=OutKind.EDIT_MARKUP, text=prompt, message_id=message_id, keyboard=keyboard
            )
        )

    def _to_me(self, **fields: Any) -> Outgoing:
        return Outgoing(platform=self.account.platform, chat_id=self.account.chat_id, **fields)

    def send_location(self, location: Location) -> None:
        self.out.append(
            Outgoing(
                platform=self.account.platform,
                chat_id=self.account.chat_id,
                kind=OutKind.LOCATION,
                location=location,
            )
        )


class Flow(ABC):
    """A conversation flow. ``name`` keys the state row; the payloads of a flow's buttons
    route to ``name`` (``bot.ui.payloads``), so the dispatcher can route a press even after a
    restart, and refuses one from a flow the person has left as expired."""

    name: str

    @abstractmethod
    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        """Enter the flow (the state is empty or belongs to another flow that was cancelled)."""

    @abstractmethod
    async def on_input(self, ctx: Context) -> None:
        """Handle one message or button press while the user is in this flow."""

    async def reprompt(self, ctx: Context) -> None:
        """Say again what the current step expects (after unexpected input)."""
        await self.on_input(ctx)

    def untouched(self, ctx: Context) -> bool:
        """Whether the person has answered nothing in this flow yet (it was offered to them,
        as registration is on /start): a link they open may then replace it, losing nothing."""
        return False

    def enter(self, ctx: Context, step: str, **data: Any) -> None:
        ctx.state.flow = self.name
        ctx.state.step = step
        ctx.state.data.update(data)


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command: ``handler(ctx)``; ``menu`` commands are registered with the platform."""

    name: str
    handler: Callable[[Context], Any]
    description: str  # English source, translated when registered
    menu: bool = True
    allowed_mid_flow: bool = False  # /help, /language, /cancel work inside a flow
    # With a payload (a link opened, a QR code scanned) it replaces an untouched flow.
    linked_over_untouched: bool = False
