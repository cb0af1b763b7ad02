"""Community admins: approve riders' registrations, and the queue of returned cases.

``ia:ok:<account>`` / ``ia:no:<account>`` decide an application (the buttons come with the
notification from ``notify.application_submitted``); only an admin whose region covers the
rider's community may press them. ``/returned`` lists the returned cases in the admin's
area with Re-dispatch (``ra:rd:<report>:<grid>``) and Reject (``ra:rj:<report>``) buttons;
``cases.act`` checks scope and state again, so a forged or stale press changes nothing.
"""

from __future__ import annotations

from bot.domain.lifecycle import Action, ActionArgs
from bot.domain.model import InformantProfile, InformantStatus, Report, ReportStatus, RoleName
from bot.i18n import N_
from bot.services import cases, informants
from bot.services.escalation import units_under
from bot.ui.approvals import APPLICATION_ROUTE, ApplicationDecision, Approval
from bot.ui.payloads import Id, Payload
from handlers.base import Command, Context
from handlers.feedback import REFUSALS
from handlers.history import reason_text
from handlers.registry import Registry

RETURNED_ROUTE = "ra"
ADMIN_ROLES = frozenset({RoleName.COMMUNITY_ADMIN, RoleName.STREET_ADMIN, RoleName.CITY_ADMIN})
RETURNED_SHOWN = 10


class Redispatch(Payload, prefix=f"{RETURNED_ROUTE}:rd"):
    """Send a returned case to this grid: ``ra:rd:<report>:<grid>``."""

    report_id: Id
    grid_id: Id


class RejectReturned(Payload, prefix=f"{RETURNED_ROUTE}:rj"):
    """Reject a returned case after review: ``ra:rj:<report>``."""

    report_id: Id


def setup(registry: Registry) -> None:
    registry.button(APPLICATION_ROUTE, on_application)
    registry.button(RETURNED_ROUTE, on_returned)
    registry.command(Command("returned", show_returned, N_("Returned cases to re-dispatch")))


async def on_application(ctx: Context) -> None:
    pressed = ctx.pressed
    if not isinstance(pressed, ApplicationDecision):
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    profile = await ctx.uow.informants.get(pressed.account_id)
    if profile is None:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    if not await _covers(ctx, profile):
        ctx.ack(ctx._("Only an admin of this community can decide."), alert=True)
        return
    if profile.status is not InformantStatus.PENDING:
        # The buttons decide an application. Left on another admin's copy after it was
        # decided, a Reject would quietly revoke an approved rider; revoking is the CLI's.
        ctx.ack(ctx._("This registration was already decided."), alert=True)
        ctx.drop_choices()
        return
    approve = pressed.approval is Approval.APPROVE
    decide = informants.approve if approve else informants.reject
    await decide(ctx.uow, profile.account_id, by=ctx.account.id, now=ctx.now)
    ctx.ack()
    ctx.drop_choices()
    done = N_("Approved: {name}.") if approve else N_("Rejected: {name}.")
    ctx.reply(ctx._(done).format(name=profile.real_name))


async def _covers(ctx: Context, profile: InformantProfile) -> bool:
    grants = [g for g in await ctx.uow.roles.for_account(ctx.account.id) if g.role in ADMIN_ROLES]
    if profile.home_region_id is None:
        return any(g.role is RoleName.CITY_ADMIN for g in grants)
    scope = {node.id for node in await ctx.uow.regions.ancestors(profile.home_region_id)}
    return any(g.region_id in scope for g in grants)


async def show_returned(ctx: Context) -> None:
    grants = [g for g in await ctx.uow.roles.for_account(ctx.account.id) if g.role in ADMIN_ROLES]
    if not grants:
        ctx.reply(ctx._("This is for community, street and city admins."))
        return
    unit_ids = sorted({u for g in grants for u in await units_under(ctx.uow, g.region_id)})
    returned = [
        r
        for r in await ctx.uow.reports.open_for_grids(unit_ids)
        if r.status is ReportStatus.RETURNED
    ]
    if not returned:
        ctx.reply(ctx._("No returned cases in your area."))
        return
    ctx.reply(ctx._("Returned cases: {n}").format(n=len(returned)))
    for report in returned[:RETURNED_SHOWN]:
        await _show_one(ctx, report)


async def _show_one(ctx: Context, report: Report) -> None:
    history = await ctx.uow.audit.history(report.id)
    why = next((e.data.get("reason") for e in reversed(history) if e.action == "return"), None)
    text = f"{report.number} {ctx.env.catalogue.name(report.category_code, ctx.account.locale)}"
    if why:
        text += "\n" + ctx._("Reason: {reason}").format(reason=reason_text(ctx, why))
    rows: list[list[tuple[str, Payload]]] = [
        [(f"➡️ {name}", Redispatch(report_id=report.id, grid_id=gid))]
        for gid, name in await _targets(ctx, report)
    ]
    rows.append([(ctx._("Reject"), RejectReturned(report_id=report.id))])
    ctx.choose(text, rows)


async def _targets(ctx: Context, report: Report) -> list[tuple[int, str]]:
    """Where the case can go: its grid and the grids next to it (it may have been mis-routed)."""
    grid = await ctx.uow.regions.get_by_id(report.grid_id) if report.grid_id else None
    if grid is None:
        return []
    gridmap = ctx.env.maps.current()
    codes = [ref.code for ref in gridmap.neighbours(grid.code)] if grid.code in gridmap else []
    found = [(grid.id, grid.name)]
    for code in codes:
        node = await ctx.uow.regions.get(code)
        found += [(node.id, node.name)] if node else []
    return found


async def on_returned(ctx: Context) -> None:
    pressed = ctx.pressed
    if isinstance(pressed, Redispatch) and pressed.grid_id:
        action, args = Action.REDISPATCH, ActionArgs(target_grid_id=pressed.grid_id)
    elif isinstance(pressed, RejectReturned):
        action, args = Action.REJECT, ActionArgs(reason=N_("Rejected after review"))
    else:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    report_id = pressed.report_id
    report = await ctx.uow.reports.get(report_id)
    if report is None or report.status is not ReportStatus.RETURNED:
        # These buttons belong to the returned list: once another admin re-dispatched the
        # case, a Reject left on an old list must not reject the work now under way.
        ctx.ack(ctx._(REFUSALS[cases.Refusal.STALE]), alert=True)
        ctx.drop_choices()
        return
    result = await cases.act(
        ctx.uow, ctx.env, report_id=report_id, actor_account=ctx.account, action=action, args=args
    )
    if result.refusal is cases.Refusal.NOT_ALLOWED:
        ctx.ack(ctx._("This case is outside your area."), alert=True)
        return
    if result.refusal is not None:
        ctx.ack(ctx._(REFUSALS[result.refusal]), alert=True)
        return
    ctx.ack()
    ctx.drop_choices()
    number = result.report.number if result.report else ""
    done = (
        N_("Report {number} re-dispatched.")
        if action is Action.REDISPATCH
        else N_("Report {number} rejected.")
    )
    ctx.reply(ctx._(done).format(number=number))
