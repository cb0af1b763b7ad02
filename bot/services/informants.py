"""Informant use cases: apply, approve, reject, and who may report.

A rider's application is stored as a pending profile; a community admin (today through
``gridsnap informants``) approves or rejects it. The decision and the rider's notification
are written in the caller's unit of work, so they commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.chat import Outgoing
from bot.domain.model import Account, InformantProfile, InformantStatus
from bot.i18n import Translator, translator
from bot.services.ports import BaseUnitOfWork


class InformantError(Exception):
    """A decision that cannot be made; the message is one line for an operator."""


class UnknownInformant(InformantError):
    def __init__(self, account_id: int) -> None:
        super().__init__(f"no informant application with ID {account_id}")
        self.account_id = account_id


class AlreadyDecided(InformantError):
    def __init__(self, account_id: int, status: InformantStatus) -> None:
        super().__init__(f"informant {account_id} is already {status.value}")
        self.account_id = account_id
        self.status = status


@dataclass(frozen=True, slots=True, kw_only=True)
class Application:
    """What the registration flow collected."""

    real_name: str
    phone: str
    company: str
    home_region_id: int | None


async def register(
    uow: BaseUnitOfWork, account: Account, application: Application, *, now: datetime
) -> InformantProfile:
    """Store the application as pending (a rejected rider may apply again)."""
    await uow.accounts.set_phone(account.id, application.phone)
    return await uow.informants.upsert(
        InformantProfile(
            account_id=account.id,
            real_name=application.real_name,
            phone=application.phone,
            company=application.company,
            status=InformantStatus.PENDING,
            home_region_id=application.home_region_id,
            created_at=now,
        )
    )


async def approve(
    uow: BaseUnitOfWork, account_id: int, *, by: int, now: datetime
) -> InformantProfile:
    profile = await _decide(uow, account_id, InformantStatus.APPROVED, by=by, now=now)
    await _notify(uow, account_id, _approved_text)
    return profile


async def reject(
    uow: BaseUnitOfWork,
    account_id: int,
    *,
    by: int,
    now: datetime,
    reason: str | None = None,
) -> InformantProfile:
    profile = await _decide(uow, account_id, InformantStatus.REJECTED, by=by, now=now)
    await _notify(uow, account_id, lambda t: _rejected_text(t, reason))
    return profile


async def can_report(uow: BaseUnitOfWork, account: Account, open_reporting: bool) -> bool:
    """Only approved informants submit, unless the city opened reporting to everyone."""
    if open_reporting:
        return True
    profile = await uow.informants.get(account.id)
    return profile is not None and profile.status is InformantStatus.APPROVED


async def _decide(
    uow: BaseUnitOfWork, account_id: int, status: InformantStatus, *, by: int, now: datetime
) -> InformantProfile:
    profile = await uow.informants.get(account_id)
    if profile is None:
        raise UnknownInformant(account_id)
    # Deciding twice would notify the rider twice; an approved rider can still be rejected.
    if profile.status is status:
        raise AlreadyDecided(account_id, status)
    return await uow.informants.decide(account_id, status, by=by, at=now)


async def _notify(
    uow: BaseUnitOfWork, account_id: int, compose: Callable[[Translator], str]
) -> None:
    account = await uow.accounts.get(account_id)
    if account is None or not account.chat_id:
        return  # the rider deleted their data; nobody to tell
    text = compose(translator(account.locale))
    await uow.outbox.add(Outgoing(platform=account.platform, chat_id=account.chat_id, text=text))


def _approved_text(t: Translator) -> str:
    return t._(
        "Your informant registration was approved. Send a photo of a hazard, "
        "or /report, to report it to the grid workers."
    )


def _rejected_text(t: Translator, reason: str | None) -> str:
    text = t._("Your informant registration was not approved.")
    if reason:
        text += "\n" + t._("Reason: {reason}").format(reason=reason)
    return text + "\n" + t._("You can send /register to apply again.")
