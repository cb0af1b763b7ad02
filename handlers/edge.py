"""What the dispatcher settles before any flow sees an update: text PostgreSQL cannot store,
messages written in a group, and kinds of message no flow can use.

* U+0000 is stripped from every string of the update. PostgreSQL refuses it in text and in
  JSON, so a NUL typed into any field used to roll the whole update back.
* The bot serves private chats only. A message in a group (or supergroup) creates no
  account, changes no account's chat and no conversation: writing ``/mydata`` in a group
  once sent the rider's name and phone to it, and every later push and alert followed. The
  group is told, once ever (remembered in the database, so a restart does not repeat it),
  to talk to the bot privately, with a link that opens the private chat.
* A sticker, voice note, video, audio, dice or poll gets one line saying what can be sent.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from typing import TYPE_CHECKING, TypeVar

from bot.chat import ChatType, Incoming, Kind, Outgoing, OutKind
from bot.i18n import normalize, translator
from bot.services.staff import invite_link

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.ports import BaseUnitOfWork
    from handlers.base import Context

log = logging.getLogger(__name__)

# ``/start private``: the deep link a group is given; it starts like a plain /start.
PRIVATE_LINK_PAYLOAD = "private"
T = TypeVar("T")


def without_nul(value: T) -> T:
    """``value`` (an ``Incoming`` and everything in it) with U+0000 removed from every string."""
    if isinstance(value, enum.Enum):
        return value  # a StrEnum is a str; it stays the member it is
    if isinstance(value, str):
        return value.replace("\x00", "")  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: without_nul(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def in_group(incoming: Incoming) -> bool:
    return incoming.user.chat_type is not ChatType.PRIVATE


async def answer_group(uow: BaseUnitOfWork, env: Env, incoming: Incoming) -> None:
    """Handle a group message in ``uow``: point the group to the private chat the first time
    only, answer a button press so the client stops waiting, record the update, commit."""
    user = incoming.user
    if await uow.updates.seen(user.platform, incoming.update_id):
        return
    t = translator(normalize(user.language_code, env.default_locale))
    text = t._(
        "I only work in private chats, so nothing said in this group reaches me. "
        "Please talk to me privately: {link}"
    ).format(link=invite_link(env.bot_username, PRIVATE_LINK_PAYLOAD))
    if incoming.kind is Kind.BUTTON and incoming.callback_id is not None:
        await uow.outbox.add(
            Outgoing(
                platform=user.platform,
                chat_id=user.chat_id,
                kind=OutKind.ANSWER_BUTTON,
                text=t._("I only work in private chats. Please talk to me privately."),
                callback_id=incoming.callback_id,
                alert=True,
            )
        )
    elif await uow.group_notices.first(user.platform, user.chat_id, env.clock()):
        await uow.outbox.add(Outgoing(platform=user.platform, chat_id=user.chat_id, text=text))
    log.info("update %s from a group chat: no account or state touched", incoming.update_id)
    await uow.updates.mark(user.platform, incoming.update_id)
    await uow.commit()


def note_too_long(ctx: Context, note: str, limit: int) -> bool:
    """Refuse a note over ``limit`` characters, saying the limit (it used to be cut short
    without a word); True when refused."""
    if len(note) <= limit:
        return False
    log.info("note of %d characters refused (limit %d)", len(note), limit)
    ctx.reply(
        ctx._(
            "That note has {count} characters; the limit is {max}. Please send a shorter one."
        ).format(count=len(note), max=limit)
    )
    return True


def refuse_unsupported(ctx: Context) -> None:
    """A sticker, voice note, video, ...: say what can be sent; the step stays as it was."""
    log.info("update %s: a kind of message no flow takes", ctx.incoming.update_id)
    ctx.reply(ctx._("I can only take photos, locations and text here."))
