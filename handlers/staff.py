"""Staff in chat: redeem an invite deep link (``/start inv_<token>``) and ``/duty``."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.domain.model import RoleName
from bot.i18n import N_
from bot.services import staff
from bot.services.ports import InviteProblem, InviteRefused
from handlers.base import Command, Context
from handlers.registry import Registry

log = logging.getLogger(__name__)

ROLE_NAMES: dict[RoleName, str] = {
    RoleName.INFORMANT: N_("informant"),
    RoleName.GRID_WORKER: N_("grid worker"),
    RoleName.GRID_LEADER: N_("grid leader"),
    RoleName.COMMUNITY_ADMIN: N_("community admin"),
    RoleName.STREET_ADMIN: N_("street admin"),
    RoleName.CITY_ADMIN: N_("city admin"),
    RoleName.PARTY_SECRETARY: N_("party organisation"),
}

INVITE_PROBLEMS: dict[InviteProblem, str] = {
    InviteProblem.UNKNOWN: N_(
        "This invite link is not valid. Please ask for a new one from whoever sent it."
    ),
    InviteProblem.USED: N_("This invite link was already used. Each link works once."),
    InviteProblem.EXPIRED: N_("This invite link has expired. Please ask for a new one."),
}


def setup(registry: Registry) -> None:
    registry.deep_link(staff.INVITE_PREFIX, redeem)
    registry.command(Command("duty", toggle_duty, N_("Staff: go on or off duty"), menu=False))


async def redeem(ctx: Context, token: str) -> None:
    try:
        grant, region = await staff.redeem_invite(
            ctx.uow, token=token, account=ctx.account, now=ctx.now
        )
    except InviteRefused as exc:
        log.info("invite refused for account %s: %s", ctx.account.id, exc.problem)
        ctx.reply(ctx._(INVITE_PROBLEMS[exc.problem]))
        return
    if grant.role is RoleName.PARTY_SECRETARY:
        # Not case staff: no reports, no /queue; declarations to verify instead.
        ctx.reply(
            ctx._(
                "Welcome! You now verify party membership declarations for the party "
                "organisation of {region}. New declarations will reach you here; "
                "/declarations lists those waiting."
            ).format(region=region.name if region else "")
        )
        return
    ctx.reply(
        ctx._(
            "Welcome! You are now a {role} of {region}. New reports there will reach you here. "
            "Send /queue for your open cases and /duty to go off duty."
        ).format(role=ctx._(ROLE_NAMES[grant.role]), region=region.name if region else "")
    )


async def toggle_duty(ctx: Context) -> None:
    on_duty = await staff.toggle_duty(ctx.uow, ctx.account)
    if on_duty is None:
        ctx.reply(ctx._("Only grid staff can go on or off duty."))
        return
    ctx.account = replace(ctx.account, on_duty=on_duty)
    if on_duty:
        ctx.reply(ctx._("You are on duty: new reports in your grids will reach you."))
    else:
        ctx.reply(
            ctx._(
                "You are off duty: new reports go to your colleagues on duty, or to the "
                "grid leader. Send /duty again when you are back."
            )
        )
