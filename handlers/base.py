"""What a flow step sees: the incoming message, the user's account and state, and helpers to
answer. A step appends ``Outgoing`` messages; the dispatcher writes them to the outbox in the
same commit as everything else the step changed."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.chat import Button, Incoming, Keyboard, Location, Outgoing, OutKind
from bot.domain.model import Account, ConversationState
from bot.i18n import Translator, translator

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.photos import PhotoIntake
    from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)

CHOSEN_PREFIX = "chosen"  # the button left on a message to show what was chosen there


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

    def answer_button(self, text: str = "", *, alert: bool = False) -> None:
        if self.incoming.callback_id is None:
            return
        self.out.append(
            Outgoing(
                platform=self.account.platform,
                chat_id=self.account.chat_id,
                kind=OutKind.ANSWER_BUTTON,
                text=text,
                callback_id=self.incoming.callback_id,
                alert=alert,
            )
        )

    def edit_markup(self, keyboard: Keyboard | None) -> None:
        """Replace (or drop) the buttons of the message the pressed button was on."""
        if self.incoming.message_id is None:
            return
        self.out.append(
            Outgoing(
                platform=self.account.platform,
                chat_id=self.account.chat_id,
                kind=OutKind.EDIT_MARKUP,
                message_id=self.incoming.message_id,
                keyboard=keyboard,
            )
        )

    def show_choice(self, label: str) -> None:
        """Replace the buttons of the pressed message with the one chosen, ticked, so the
        chat keeps showing what was picked; pressing it again does nothing (``chosen``)."""
        self.edit_markup(Keyboard(rows=((Button(text=f"✓ {label}", data=f"{CHOSEN_PREFIX}:"),),)))

    def send_location(self, location: Location) -> None:
        self.out.append(
            Outgoing(
                platform=self.account.platform,
                chat_id=self.account.chat_id,
                kind=OutKind.LOCATION,
                location=location,
            )
        )


def buttons(*rows: Sequence[tuple[str, str]]) -> Keyboard:
    """An inline keyboard from rows of (label, callback data)."""
    return Keyboard(rows=tuple(tuple(Button(text=t, data=d) for t, d in row) for row in rows))


def reply_keyboard(*rows: Sequence[Button]) -> Keyboard:
    return Keyboard(rows=tuple(tuple(row) for row in rows), inline=False, one_time=True)


class Flow(ABC):
    """A conversation flow. ``name`` keys the state row; button data for a flow starts with
    ``name + ":"`` so the dispatcher can route a press even after a restart."""

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
