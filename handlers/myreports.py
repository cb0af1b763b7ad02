"""``/myreports``: the rider's reports with their status; a button shows one report's history."""

from __future__ import annotations

from bot.domain.lifecycle import Action
from bot.domain.model import Report, ReportStatus
from bot.i18n import N_
from bot.services import cases, party
from handlers.base import Command, Context, buttons
from handlers.history import report_summary, rider_view
from handlers.registry import Registry

SHOWN = 10  # newest first; older ones are still in the database, just not in one chat message
WITHDRAWABLE = frozenset({ReportStatus.SUBMITTED, ReportStatus.DISPATCHED})
REFUSALS: dict[cases.Refusal | None, str] = {
    cases.Refusal.STALE: N_("This report has moved on and can no longer be withdrawn."),
    cases.Refusal.NOT_ALLOWED: N_("Only the person who reported this can withdraw it."),
    None: N_("This button is not valid."),
}


def setup(registry: Registry) -> None:
    registry.command(
        Command(
            "myreports", show_my_reports, N_("Your reports and their status"), allowed_mid_flow=True
        )
    )
    registry.button("my", on_button)


async def show_my_reports(ctx: Context) -> None:
    reports = (await ctx.uow.reports.for_reporter(ctx.account.id))[:SHOWN]
    if not reports:
        ctx.reply(ctx._("You have not sent any reports yet. Send a photo to report a problem."))
        return
    lines = [ctx._("Your reports (tap one to see its history):")]
    if badge := await party.badge_line(ctx.uow, ctx.t, ctx.account.id):
        lines.insert(0, badge)  # the rider's own choice, shown to them alone
    lines += [report_summary(ctx, r) for r in reports]
    ctx.reply(
        "\n".join(lines),
        buttons(
            *[[(ctx._("No. {number}").format(number=r.number), f"my:{r.id}")] for r in reports]
        ),
    )


async def on_button(ctx: Context) -> None:
    """``my:<id>`` shows a report's history; ``my:w:<id>:<version>`` withdraws it."""
    rest = (ctx.incoming.button_data or "").partition(":")[2]
    if rest.startswith("w:"):
        await withdraw(ctx, rest[2:])
    else:
        await show_history(ctx, rest)


async def show_history(ctx: Context, arg: str) -> None:
    report = await _own_report(ctx, arg)
    if report is None:
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    ctx.answer_button()
    keyboard = None
    if report.reporter_id == ctx.account.id and report.status in WITHDRAWABLE:
        # Only until a grid worker accepts it: after that the grid is already at work.
        data = f"my:w:{report.id}:{report.version}"
        keyboard = buttons([(ctx._("Withdraw this report"), data)])
    ctx.reply(await rider_view(ctx, report), keyboard)


async def withdraw(ctx: Context, arg: str) -> None:
    head, _, tail = arg.partition(":")
    report_id, version = _int(head), _int(tail)
    if report_id is None or version is None:
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    result = await cases.act(
        ctx.uow,
        ctx.env,
        report_id=report_id,
        actor_account=ctx.account,
        action=Action.CANCEL,
        expected_version=version,
    )
    if result.refusal is not None or result.report is None:
        text = REFUSALS.get(result.refusal or cases.Refusal.NOT_FOUND, REFUSALS[None])
        ctx.answer_button(ctx._(text), alert=True)
        ctx.edit_markup(None)
        return
    ctx.answer_button()
    ctx.edit_markup(None)
    ctx.reply(
        ctx._("Report {number} is withdrawn; the grid workers have been told.").format(
            number=result.report.number
        )
    )


async def _own_report(ctx: Context, arg: str) -> Report | None:
    """The report if this rider filed or follows it; None for anything else (forged data)."""
    report_id = _int(arg)
    if report_id is None:
        return None
    report = await ctx.uow.reports.get(report_id)
    if report is None or report.reporter_id == ctx.account.id:
        return report
    followers = await ctx.uow.reports.subscribers(report.id)
    return report if any(a.id == ctx.account.id for a in followers) else None


def _int(value: str) -> int | None:
    # ASCII only: "²".isdigit() is true but int("²") raises; the length keeps it in a BIGINT.
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None
