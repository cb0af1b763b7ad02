"""Staff: invite links, the grants they turn into, the staff list, on/off duty.

An invite is a random token stored with the role and region it grants; the Telegram deep
link ``https://t.me/<bot>?start=inv_<token>`` carries it. Redeeming uses it once (the
storage port refuses an unknown, used or expired token) and grants the role in the same
unit of work, so a crash cannot leave a used invite without its grant.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.model import (
    CASE_STAFF_ROLES,
    INVITED_ROLES,
    ROLE_LEVELS,
    Account,
    Invite,
    RegionNode,
    RoleGrant,
    RoleName,
)
from bot.services.ports import BaseUnitOfWork

INVITE_PREFIX = "inv"
DEFAULT_HOURS = 72
# 16 random bytes → 22 url-safe characters: unguessable, and "inv_" + token stays well
# within Telegram's 64-character /start payload of [A-Za-z0-9_-].
_TOKEN_BYTES = 16


class StaffError(ValueError):
    """A staff command was given something that does not exist or is not a staff role."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedInvite:
    invite: Invite
    region: RegionNode
    payload: str  # what follows /start
    link: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffMember:
    grant: RoleGrant
    account: Account | None


def invite_link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"


async def create_invite(
    uow: BaseUnitOfWork,
    *,
    region_code: str,
    role: RoleName,
    now: datetime,
    bot_username: str,
    hours: float = DEFAULT_HOURS,
    created_by: int | None = None,
) -> CreatedInvite:
    if role not in INVITED_ROLES:
        raise StaffError(f"{role} is not a staff role")
    if hours <= 0:
        raise StaffError("an invite must be valid for some time")
    region = await uow.regions.get(region_code)
    if region is None:
        raise StaffError(f"no region with code {region_code!r}")
    level = ROLE_LEVELS.get(role)
    if level is not None and region.level is not level:
        raise StaffError(f"{role} is granted on a {level}; {region_code!r} is a {region.level}")
    invite = await uow.invites.create(
        token=secrets.token_urlsafe(_TOKEN_BYTES),
        role=role,
        region_id=region.id,
        expires_at=now + timedelta(hours=hours),
        created_by=created_by,
    )
    payload = f"{INVITE_PREFIX}_{invite.token}"
    return CreatedInvite(
        invite=invite, region=region, payload=payload, link=invite_link(bot_username, payload)
    )


async def redeem_invite(
    uow: BaseUnitOfWork, *, token: str, account: Account, now: datetime
) -> tuple[RoleGrant, RegionNode | None]:
    """Bind the account to the invite's role and region; raises ``InviteRefused``."""
    invite = await uow.invites.redeem(token, account.id, now)
    grant = await uow.roles.grant(account.id, invite.role, invite.region_id)
    return grant, await uow.regions.get_by_id(invite.region_id)


async def staff_grants(uow: BaseUnitOfWork, account_id: int) -> list[RoleGrant]:
    """The account's case-staff grants (what /queue and /duty are about)."""
    return [g for g in await uow.roles.for_account(account_id) if g.role in CASE_STAFF_ROLES]


async def list_staff(uow: BaseUnitOfWork) -> list[StaffMember]:
    grants = [g for g in await uow.roles.list_all() if g.role in INVITED_ROLES]
    return [StaffMember(grant=g, account=await uow.accounts.get(g.account_id)) for g in grants]


async def remove_staff(
    uow: BaseUnitOfWork, *, account_id: int, role: RoleName, region_code: str
) -> bool:
    region = await uow.regions.get(region_code)
    if region is None:
        raise StaffError(f"no region with code {region_code!r}")
    return await uow.roles.revoke(account_id, role, region.id)


async def toggle_duty(uow: BaseUnitOfWork, account: Account) -> bool | None:
    """Flip the staff member's duty; the new state, or None when they are not staff."""
    if not await staff_grants(uow, account.id):
        return None
    await uow.accounts.set_on_duty(account.id, not account.on_duty)
    return not account.on_duty
