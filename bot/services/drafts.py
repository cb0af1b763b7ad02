"""Abandoned drafts expire (PIPL Art. 6, minimum collection; Art. 47, deletion).

A half-finished flow keeps what the user gave so far in their conversation state: a
report's location and photos, a registration's name and phone, a worker's resolve note.
Nobody comes back to most of them, so a state whose flow was last saved more than
``env.draft_age`` ago is cleared and its user told once, in their language. The photos
it held then belong to nothing and the photo-retention sweep deletes them.

Clearing a state and queueing its notice happen in one commit, one unit of work per user
(one that fails is logged and the rest go on), and a cleared state has no flow, so a
second run (or a second bot process) finds nothing to tell again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.chat import Outgoing
from bot.domain.lifecycle import Action, ActionArgs
from bot.i18n import Translator, translator
from bot.services import alerts, cases

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)

Notice = Callable[[Translator, int], str]

# After 👎 the rider is asked for an optional reason (flow "fbr", holding the report id) and
# the case is reopened when it arrives. Discarding that prompt would drop their "not fixed",
# so it is kept from the draft expiry; instead a rider who leaves it unanswered for
# REASON_WAIT has the case reopened without a reason (finish_reason_prompts, every minute).
REASON_FLOW = "fbr"
KEPT_FLOWS = frozenset({REASON_FLOW})
REASON_WAIT = timedelta(minutes=10)
NOT_FIXED = alerts.NOT_FIXED  # the reason on record when the rider gives none


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


def _party_declaration(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your unfinished party membership declaration was discarded after {hours} hour, so "
        "nothing of it is kept. Send /party to start again.",
        "Your unfinished party membership declaration was discarded after {hours} hours, so "
        "nothing of it is kept. Send /party to start again.",
        hours,
    )


def _volunteer(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your unfinished volunteer registration was discarded after {hours} hour, so the "
        "choices you made are no longer kept. Send /volunteer to start again.",
        "Your unfinished volunteer registration was discarded after {hours} hours, so the "
        "choices you made are no longer kept. Send /volunteer to start again.",
        hours,
    )


def _party_question(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your unfinished question about a party membership declaration was discarded after "
        "{hours} hour. The declaration still waits; send /declarations to see it again.",
        "Your unfinished question about a party membership declaration was discarded after "
        "{hours} hours. The declaration still waits; send /declarations to see it again.",
        hours,
    )


def _task(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your unfinished service task was discarded after {hours} hour and was not "
        "published. Send /task new to start again.",
        "Your unfinished service task was discarded after {hours} hours and was not "
        "published. Send /task new to start again.",
        hours,
    )


def _check_in(t: Translator, hours: int) -> str:
    return t.ngettext(
        "Your check-in was not finished within {hours} hour. Press Check in on the task "
        "again to check in.",
        "Your check-in was not finished within {hours} hours. Press Check in on the task "
        "again to check in.",
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
    "party": _party_declaration,
    "pmq": _party_question,
    "vol": _volunteer,
    "task": _task,
    "chk": _check_in,
}


def notice(flow: str, t: Translator, age: timedelta) -> str:
    """What to tell the user whose ``flow`` was discarded after ``age``."""
    hours = max(1, round(age / timedelta(hours=1)))
    return NOTICES.get(flow, _anything)(t, hours).format(hours=t.number(hours))


async def expire_drafts(uow_factory: Callable[[], BaseUnitOfWork], env: Env, now: datetime) -> int:
    """Clear the states last saved before ``now - env.draft_age``; tell each user once.

    One unit of work per user, so one that fails is logged and the others still go.
    Returns how many were cleared.
    """
    cutoff = now - env.draft_age
    async with uow_factory() as uow:
        stale = await uow.conversations.stale(cutoff, keep=KEPT_FLOWS)
    expired = 0
    for user in stale:
        try:
            async with uow_factory() as uow:
                expired += await _expire_draft(uow, env, cutoff, user)
                await uow.commit()
        except Exception:
            log.exception("discarding the draft of %s:%s failed; the others go on", *user)
    return expired


async def _expire_draft(
    uow: BaseUnitOfWork, env: Env, cutoff: datetime, user: tuple[str, str]
) -> int:
    # Asked again inside the unit: the user may have come back since the listing.
    expired = await uow.conversations.expire_before(cutoff, keep=KEPT_FLOWS, users=[user])
    for state in expired:
        account = await uow.accounts.find(state.platform, state.user_id)
        if account is None:
            continue  # nobody to tell (the state outlived its account)
        t = translator(account.locale, env.zone)
        text = notice(state.flow, t, env.draft_age)
        await uow.outbox.add(Outgoing(platform=state.platform, chat_id=account.chat_id, text=text))
    return len(expired)


async def finish_reason_prompts(
    uow_factory: Callable[[], BaseUnitOfWork], env: Env, now: datetime
) -> int:
    """Reopen the cases whose rider pressed 👎 and left the reason prompt for ``REASON_WAIT``.

    The rider is told; a case that moved on meanwhile (a worker already acted) is left as
    it is. One unit of work per rider: one that fails is logged (and tried again next
    time), the others still go. Returns how many cases were reopened.
    """
    cutoff = now - REASON_WAIT
    async with uow_factory() as uow:
        waiting = await uow.conversations.stale(cutoff, only=KEPT_FLOWS)
    reopened = 0
    for user in waiting:
        try:
            async with uow_factory() as uow:
                reopened += await _reopen_not_fixed(uow, env, cutoff, user)
                await uow.commit()
        except Exception:
            log.exception("reopening the case of %s:%s as not fixed failed", *user)
    return reopened


async def _reopen_not_fixed(
    uow: BaseUnitOfWork, env: Env, cutoff: datetime, user: tuple[str, str]
) -> int:
    reopened = 0
    for state in await uow.conversations.expire_before(cutoff, only=KEPT_FLOWS, users=[user]):
        account = await uow.accounts.find(state.platform, state.user_id)
        report_id = state.data.get("report")
        if account is None or not isinstance(report_id, int):
            continue
        result = await cases.act(
            uow,
            env,
            report_id=report_id,
            actor_account=account,
            action=Action.REOPEN,
            args=ActionArgs(reason=NOT_FIXED),
        )
        if result.refusal is not None or result.report is None:
            log.info("not-fixed prompt of report %s ended: %s", report_id, result.refusal)
            continue
        t = translator(account.locale, env.zone)
        text = t._(
            "You did not add a note, so report {number} is reopened as not fixed; "
            "the grid workers have been told."
        ).format(number=result.report.number)
        await uow.outbox.add(Outgoing(platform=state.platform, chat_id=account.chat_id, text=text))
        reopened += 1
    return reopened
