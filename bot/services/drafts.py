"""Abandoned drafts expire (PIPL Art. 6, minimum collection; Art. 47, deletion).

A half-finished flow keeps what the user gave so far in their conversation state: a
report's location and photos, a registration's name and phone, a worker's resolve note.
Nobody comes back to most of them, so a state whose flow was last saved more than
``env.draft_age`` ago is cleared and its user told once, in their language. The photos
it held then belong to nothing and the photo-retention sweep deletes them.

Clearing and queueing the notices happen in one commit, and a cleared state has no flow,
so a second run (or a second bot process) finds nothing to tell again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.chat import Outgoing
from bot.i18n import Translator, translator

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)

Notice = Callable[[Translator, int], str]

# The rider's optional reason after 👎 ("fbr") holds only a report id, and the case is
# reopened when the reason arrives: expiring it would silently drop their "not fixed".
KEPT_FLOWS = frozenset({"fbr"})


def _report(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your unfinished report was discarded after {hours} hour, so its location and "
        "photos are no longer kept. Send a photo to start again.",
        "Your unfinished report was discarded after {hours} hours, so its location and "
        "photos are no longer kept. Send a photo to start again.",
        hours,
    )


def _registration(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your unfinished registration was discarded after {hours} hour, so the details "
        "you gave are no longer kept. Send /register to start again.",
        "Your unfinished registration was discarded after {hours} hours, so the details "
        "you gave are no longer kept. Send /register to start again.",
        hours,
    )


def _resolve_note(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your unfinished resolve note was discarded after {hours} hour. The case is "
        "unchanged; press Resolve on it again to finish.",
        "Your unfinished resolve note was discarded after {hours} hours. The case is "
        "unchanged; press Resolve on it again to finish.",
        hours,
    )


def _duplicate(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your unfinished duplicate marking was discarded after {hours} hour. The case "
        "is unchanged.",
        "Your unfinished duplicate marking was discarded after {hours} hours. The case "
        "is unchanged.",
        hours,
    )


def _anything(t: Translator, hours: int) -> str:
    return t.ngettext(
        "What you had started was discarded after {hours} hour, so nothing of it is "
        "kept. Send /help to see what I can do.",
        "What you had started was discarded after {hours} hours, so nothing of it is "
        "kept. Send /help to see what I can do.",
        hours,
    )


# Keyed by the handlers' Flow.name (tests check every flow the bot has is covered).
NOTICES: dict[str, Notice] = {
    "rep": _report,
    "reg": _registration,
    "wres": _resolve_note,
    "wdup": _duplicate,
}


def notice(flow: str, t: Translator, age: timedelta) -> str:
    """What to tell the user whose ``flow`` was discarded after ``age``."""
    hours = max(1, round(age / timedelta(hours=1)))
    return NOTICES.get(flow, _anything)(t, hours).format(hours=t.number(hours))


async def expire_drafts(uow_factory: Callable[[], BaseUnitOfWork], env: Env, now: datetime) -> int:
    """Clear the states last saved before ``now - env.draft_age``; tell each user once.

    Returns how many were cleared.
    """
    async with uow_factory() as uow:
        expired = await uow.conversations.expire_before(now - env.draft_age, keep=KEPT_FLOWS)
        for platform, user_id, flow in expired:
            account = await uow.accounts.find(platform, user_id)
            if account is None:
                continue  # nobody to tell (the state outlived its account)
            t = translator(account.locale, env.zone)
            text = notice(flow, t, env.draft_age)
            await uow.outbox.add(Outgoing(platform=platform, chat_id=account.chat_id, text=text))
        await uow.commit()
    return len(expired)
