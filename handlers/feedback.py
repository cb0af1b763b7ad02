"""The rider's "Fixed?" answer after a Resolve (``/points`` is ``handlers.points``).

👍 (``Answer``, ``bot.ui.feedback``) asks for a 1–5 rating (``Rate``), which closes the
case; 👎 asks for an optional short reason (flow ``fbr``) and reopens
it, which alerts the grid again; left unanswered, the prompt reopens the case by itself
after ``drafts.REASON_WAIT``. Only the reporter may answer, and only while the case is
resolved: a button from a case that moved on is refused and removed. The state machine in
``cases.act`` judges again, so a forged press changes nothing either way.
"""

from __future__ import annotations

from typing import Any

from bot.chat import Kind
from bot.domain.lifecycle import RATING_RANGE, Action, ActionArgs
from bot.domain.model import Report, ReportStatus
from bot.i18n import N_
from bot.services import cases
from bot.services.drafts import NOT_FIXED, REASON_FLOW
from bot.ui import feedback as feedback_ui
from bot.ui.feedback import Answer, Rate, Verdict
from bot.ui.payloads import Payload
from handlers import edge
from handlers.base import Context, Flow
from handlers.registry import Registry

REASON_MAX = 200

REFUSALS = {
    cases.Refusal.NOT_FOUND: N_("I cannot find that report."),
    cases.Refusal.NOT_ALLOWED: N_("Only the person who reported this can answer."),
    cases.Refusal.STALE: N_("This case has moved on; that button no longer applies."),
    cases.Refusal.MISSING: N_("Something is missing; please try again."),
    cases.Refusal.INVALID_ARGUMENT: N_("This button is not valid."),
    cases.Refusal.INVALID_TARGET: N_("This button is not valid."),
    cases.Refusal.UNKNOWN_TARGET: N_("This button is not valid."),
}


class SkipReason(Payload, prefix=f"{REASON_FLOW}:skip"):
    """Reopen without saying what is still wrong."""


def setup(registry: Registry) -> None:
    registry.button(feedback_ui.ROUTE, on_feedback)
    registry.flow(NotFixedFlow())


async def on_feedback(ctx: Context) -> None:
    pressed = ctx.pressed
    if not isinstance(pressed, Answer | Rate):
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    report = await _answerable(ctx, pressed.report_id)
    if report is None:
        return
    match pressed:
        case Answer(verdict=Verdict.FIXED):
            await _ask_rating(ctx, report)
        case Answer(verdict=Verdict.NOT_FIXED):
            await _not_fixed(ctx, report)
        case Rate(stars=stars):
            await _confirm(ctx, report, stars)


async def _answerable(ctx: Context, report_id: int) -> Report | None:
    """The report when this person may answer for it now; otherwise refuse and say why."""
    report = await ctx.uow.reports.get(report_id)
    if report is None:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return None
    if report.reporter_id != ctx.account.id:
        ctx.ack(ctx._(REFUSALS[cases.Refusal.NOT_ALLOWED]), alert=True)
        return None
    if report.status is not ReportStatus.RESOLVED:
        ctx.ack(ctx._(REFUSALS[cases.Refusal.STALE]), alert=True)
        ctx.drop_choices()
        return None
    return report


async def _ask_rating(ctx: Context, report: Report) -> None:
    ctx.ack()
    ctx.show_choice(feedback_ui.fixed_label(ctx.t))
    stars: list[tuple[str, Payload]] = [
        ("⭐" * n, Rate(report_id=report.id, stars=n)) for n in RATING_RANGE
    ]
    ctx.choose(
        ctx._(
            "Glad it is fixed! How well was report {number} handled? 1 is poor, 5 is very good."
        ).format(number=report.number),
        [stars[:3], stars[3:]],
    )


async def _confirm(ctx: Context, report: Report, rating: int) -> None:
    result = await cases.act(
        ctx.uow,
        ctx.env,
        report_id=report.id,
        actor_account=ctx.account,
        action=Action.CONFIRM,
        args=ActionArgs(rating=rating),
    )
    if not _refused(ctx, result):
        ctx.ack()
        ctx.show_choice("⭐" * rating)
        ctx.reply(ctx._("Thank you! Report {number} is closed.").format(number=report.number))


async def _not_fixed(ctx: Context, report: Report) -> None:
    ctx.show_choice(feedback_ui.not_fixed_label(ctx.t))
    if ctx.state.flow not in (None, REASON_FLOW):
        # Mid another flow a reason prompt would take its input over: reopen right away.
        await reopen(ctx, report.id, NOT_FIXED)
        return
    ctx.ack()
    ctx.state.clear()
    ctx.state.flow, ctx.state.step, ctx.state.data = REASON_FLOW, "reason", {"report": report.id}
    _ask_reason(ctx)


def _ask_reason(ctx: Context) -> None:
    ctx.choose(
        ctx._("Sorry to hear that. What is still wrong? Write a short note, or press Skip."),
        [[(ctx._("Skip"), SkipReason())]],
    )


async def reopen(ctx: Context, report_id: int, reason: str) -> None:
    result = await cases.act(
        ctx.uow,
        ctx.env,
        report_id=report_id,
        actor_account=ctx.account,
        action=Action.REOPEN,
        args=ActionArgs(reason=reason),
    )
    if not _refused(ctx, result) and result.report is not None:
        ctx.ack()
        ctx.reply(
            ctx._("Report {number} is reopened; the grid workers have been told.").format(
                number=result.report.number
            )
        )


def _refused(ctx: Context, result: cases.CaseResult) -> bool:
    if result.refusal is None:
        return False
    text = ctx._(REFUSALS[result.refusal])
    if ctx.incoming.callback_id is not None:
        ctx.ack(text, alert=True)
    else:
        ctx.reply(text)
    if result.refusal is cases.Refusal.STALE:
        ctx.drop_choices()
    return True


class NotFixedFlow(Flow):
    """Waits for the optional reason after 👎; the state row keeps the report id."""

    name = REASON_FLOW

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        self.enter(ctx, "reason", report=kwargs["report"])
        _ask_reason(ctx)

    async def on_input(self, ctx: Context) -> None:
        report_id = ctx.state.data.get("report")
        incoming = ctx.incoming
        if isinstance(ctx.pressed, SkipReason):
            ctx.drop_choices()
            reason = NOT_FIXED
        elif incoming.kind is Kind.TEXT and incoming.text.strip():
            reason = incoming.text.strip()
            if edge.note_too_long(ctx, reason, REASON_MAX):
                return
        else:
            await self.reprompt(ctx)
            return
        ctx.state.clear()
        if isinstance(report_id, int):  # the state row is ours; anything else is no report
            await reopen(ctx, report_id, reason)

    async def reprompt(self, ctx: Context) -> None:
        ctx.ack()
        _ask_reason(ctx)
