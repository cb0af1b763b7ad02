"""``/myreports``: the rider's reports with their status; a button (``my:<report>``) shows one
report's history, and under it ``my:w:<report>:<version>`` withdraws one not yet accepted."""

from __future__ import annotations

from bot.domain.lifecycle import Action
from bot.domain.model import Report, ReportStatus
from bot.i18n import N_
from bot.services import cases, party
from bot.ui.payloads import Id, Payload
from handlers.base import Command, Context
from handlers.history import report_summary, rider_view
from handlers.registry import Registry

SHOWN = 10  # newest first; older ones are still in the database, just not in one chat message
WITHDRAWABLE = frozenset({ReportStatus.SUBMITTED, ReportStatus.DISPATCHED})
REFUSALS: dict[cases.Refusal | None, str] = {
    cases.Refusal.STALE: N_("This report has moved on and can no longer be withdrawn."),
    cases.Refusal.NOT_ALLOWED: N_("Only the person who reported this can withdraw it."),
    None: N_("This button is not valid."),
}


ROUTE = "my"


class ShowReport(Payload, prefix=ROUTE):
    report_id: Id


class Withdraw(Payload, prefix=f"{ROUTE}:w"):
    """Withdraw the report, as it was at ``version`` (a press after it moved on is refused)."""

    report_id: Id
    version: Id


def setup(registry: Registry) -> None:
    registry.command(
        Command(
            "myreports", show_my_reports, N_("Your reports and their status"), allowed_mid_flow=True
        )
    )
    registry.button(ROUTE, on_button)


async def show_my_reports(ctx: Context) -> None:
    reports = (await ctx.uow.reports.for_reporter(ctx.account.id))[:SHOWN]
    if not reports:
        ctx.reply(ctx._("You have not sent any reports yet. Send a photo to report a problem."))
        return
    lines = [ctx._("Your reports (tap one to see its history):")]
    if badge := await party.badge_line(ctx.uow, ctx.t, ctx.account.id):
        lines.insert(0, badge)  # the rider's own choice, shown to them alone
    lines += [report_summary(ctx, r) for r in reports]
    rows: list[list[tuple[str, Payload]]] = [
        [(ctx._("No. {number}").format(number=r.number), ShowReport(report_id=r.id))]
        for r in reports
    ]
    ctx.choose("\n".join(lines), rows)


async def on_button(ctx: Context) -> None:
    match ctx.pressed:
        case ShowReport(report_id=report_id):
            await show_history(ctx, report_id)
        case Withdraw() as pressed:
            await withdraw(ctx, pressed)
        case _:
            ctx.ack(ctx._("This button is not valid."), alert=True)


async def show_history(ctx: Context, report_id: int) -> None:
    report = await _own_report(ctx, report_id)
    if report is None:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    ctx.ack()
    rows: list[list[tuple[str, Payload]]] = []
    if report.reporter_id == ctx.account.id and report.status in WITHDRAWABLE:
        # Only until a grid worker accepts it: after that the grid is already at work.
        pressed = Withdraw(report_id=report.id, version=report.version)
        rows.append([(ctx._("Withdraw this report"), pressed)])
    ctx.choose(await rider_view(ctx, report), rows)


async def withdraw(ctx: Context, pressed: Withdraw) -> None:
    result = await cases.act(
        ctx.uow,
        ctx.env,
        report_id=pressed.report_id,
        actor_account=ctx.account,
        action=Action.CANCEL,
        expected_version=pressed.version,
    )
    if result.refusal is not None or result.report is None:
        text = REFUSALS.get(result.refusal or cases.Refusal.NOT_FOUND, REFUSALS[None])
        ctx.ack(ctx._(text), alert=True)
        ctx.drop_choices()
        return
    ctx.ack()
    ctx.drop_choices()
    ctx.reply(
        ctx._("Report {number} is withdrawn; the grid workers have been told.").format(
            number=result.report.number
        )
    )


async def _own_report(ctx: Context, report_id: int) -> Report | None:
    """The report if this rider filed or follows it; None for anyone else's."""
    report = await ctx.uow.reports.get(report_id)
    if report is None or report.reporter_id == ctx.account.id:
        return report
    followers = await ctx.uow.reports.subscribers(report.id)
    return report if any(a.id == ctx.account.id for a in followers) else None
