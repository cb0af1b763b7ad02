"""How a case's history reads to a person, in their language (used by /case and /myreports).

Chosen reasons are stored as their English source and translated when shown; free text a
person wrote (a note, a rider's own reason) passes through gettext unchanged. Escalations
store a code (``ack_overdue``), shown as its text.

Riders (the reporter and those following a report as a duplicate) read the rider view:
statuses and reasons, never a person's name nor the reporter's note; grid staff in scope
read /case's full history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.lifecycle import Action
from bot.domain.model import AuditEvent, Report
from bot.i18n import N_
from bot.services.escalation import REASON_TEXTS
from handlers.base import Context
from handlers.report_ui import status_name

ACTION_NAMES: dict[str, str] = {
    Action.SUBMIT: N_("submitted"),
    Action.DISPATCH: N_("dispatched to the grid"),
    Action.ACCEPT: N_("accepted"),
    Action.RESOLVE: N_("resolved"),
    Action.CLOSE: N_("closed"),
    Action.CONFIRM: N_("confirmed fixed"),
    Action.REOPEN: N_("reopened: not fixed"),
    Action.RETURN: N_("returned"),
    Action.TRANSFER: N_("transferred"),
    Action.REDISPATCH: N_("dispatched again"),
    Action.MERGE: N_("merged as a duplicate"),
    Action.REJECT: N_("rejected"),
    Action.CANCEL: N_("cancelled"),
    Action.ESCALATE: N_("escalated"),
}


def action_name(ctx: Context, action: str) -> str:
    source = ACTION_NAMES.get(action)
    return ctx._(source) if source else action


def event_detail(ctx: Context, data: Mapping[str, Any]) -> str:
    """The note as written, else the reason in the reader's language."""
    if (note := data.get("note")) and isinstance(note, str):
        return note
    return reason_text(ctx, data.get("reason"))


def reason_text(ctx: Context, reason: object) -> str:
    # gettext("") would return the catalogue header, so an empty reason stays empty.
    if not isinstance(reason, str) or not reason:
        return ""
    return ctx._(REASON_TEXTS.get(reason, reason))


async def rider_view(ctx: Context, report: Report) -> str:
    """The report as a rider reads it: one summary line, then each status with its reason."""
    events = await ctx.uow.audit.history(report.id)
    return "\n".join([report_summary(ctx, report), *(event_line(ctx, e) for e in events)])


def report_summary(ctx: Context, report: Report) -> str:
    return ctx._("No. {number} · {category} · {status} · {date}").format(
        number=report.number,
        category=ctx.env.catalogue.name(report.category_code, ctx.account.locale),
        status=status_name(ctx, report.status),
        date=ctx.t.datetime(report.created_at),
    )


def event_line(ctx: Context, event: AuditEvent) -> str:
    line = f"• {ctx.t.datetime(event.at)}: {status_name(ctx, event.to_status)}"
    said = event_detail(ctx, event.data)
    return f"{line} — {said}" if said else line
