"""Grid workers in chat: the case buttons of an alert, the resolve flow, /queue and /case.

The case buttons' payloads are in ``bot.ui.cases``; the dispatcher has validated them (ids,
verbs, reasons) before a press gets here. Each carries the version of the case it was made
for: a press after the case moved on is refused, and every press goes through
``cases.act``, which checks the presser's roles on the case's grid.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.chat import Kind, Request
from bot.domain.lifecycle import Action, ActionArgs, Need, allowed_actions, held_by_other
from bot.domain.model import Report, ReportPhoto, ReportStatus, is_case_staff
from bot.i18n import N_
from bot.services import cases, staff
from bot.services.alerts import case_actions
from bot.services.escalation import units_under
from bot.ui import cases as case_ui
from bot.ui.cases import CasePress, OpenCase, Reason, ReturnWith, TransferTo, Verb
from bot.ui.payloads import Payload
from handlers import edge
from handlers.base import Command, Context, Flow
from handlers.history import action_name, event_detail, rider_view
from handlers.registry import Registry

log = logging.getLogger(__name__)

QUEUE_MAX = 20
NOTE_MAX = 500
RESOLVE_FLOW = "wres"
RETURN_REASONS: dict[Reason, str] = {
    Reason.GRID: N_("Not this grid"),
    Reason.FAKE: N_("Not a real problem"),
}
TRANSFER_REASON = N_("Belongs to a neighbouring grid")
STATUS_NAMES: dict[ReportStatus, str] = {
    ReportStatus.SUBMITTED: N_("submitted"),
    ReportStatus.DISPATCHED: N_("waiting to be accepted"),
    ReportStatus.ACCEPTED: N_("accepted"),
    ReportStatus.RESOLVED: N_("resolved"),
    ReportStatus.CLOSED: N_("closed"),
    ReportStatus.RETURNED: N_("returned"),
    ReportStatus.MERGED: N_("merged"),
    ReportStatus.REJECTED: N_("rejected"),
    ReportStatus.CANCELLED: N_("cancelled"),
}
REFUSALS: dict[cases.Refusal, str] = {
    cases.Refusal.NOT_FOUND: N_("This case does not exist."),
    cases.Refusal.NOT_ALLOWED: N_("You cannot do this on this case: it is not in your grids."),
    cases.Refusal.STALE: N_("This case has moved on; it is now {status}."),
    # Only a grid worker is ever refused so; admins cannot resolve or return any case, so
    # the grid leader is the one to ask (a worker removed from the grid holds nothing).
    cases.Refusal.HELD_BY_OTHER: N_(
        "{name} has accepted this case, so it is theirs to handle. Ask them or your grid leader."
    ),
    cases.Refusal.MISSING: N_("Something is missing to do this."),
    cases.Refusal.INVALID_ARGUMENT: N_("That is not a valid choice."),
    cases.Refusal.INVALID_TARGET: N_("That is not a valid choice."),
    cases.Refusal.UNKNOWN_TARGET: N_("No case {number} that you can see."),
}
Versioned = CasePress | ReturnWith | TransferTo  # a press made for one version of the case


class SkipAfterPhoto(Payload, prefix=f"{RESOLVE_FLOW}:skip"):
    """Resolve without an after-photo (offered only where the category does not need one)."""


def setup(registry: Registry) -> None:
    registry.button(case_ui.ROUTE, on_press)
    registry.flow(ResolveFlow())
    registry.flow(DuplicateFlow())
    registry.command(Command("queue", show_queue, N_("Staff: your open cases")))
    registry.command(Command("case", show_case, N_("Show a case and its history"), menu=False))


# -- button presses --------------------------------------------------------------------------


async def on_press(ctx: Context) -> None:
    match ctx.pressed:
        case CasePress(verb=Verb.ACCEPT) as press:
            await _do(ctx, press, Action.ACCEPT, ActionArgs())
        case CasePress(verb=Verb.RESOLVE) as press:
            await _resolve(ctx, press)
        case CasePress(verb=Verb.RETURN) as press:
            await _return(ctx, press)
        case CasePress(verb=Verb.TRANSFER) as press:
            await _transfer(ctx, press)
        case CasePress(verb=Verb.BACK) as press:
            await _back(ctx, press)
        case ReturnWith() as press:
            await _return_reason(ctx, press)
        case TransferTo() as press:
            args = ActionArgs(target_grid_id=press.grid_id, reason=TRANSFER_REASON)
            await _do(ctx, press, Action.TRANSFER, args)
        case OpenCase() as press:
            await _open(ctx, press)
        case _:
            log.warning("invalid case button %r from %s", ctx.incoming.button_data, ctx.account.id)
            ctx.ack(ctx._("This button is not valid."), alert=True)


async def _resolve(ctx: Context, press: CasePress) -> None:
    if await _precheck(ctx, press, Action.RESOLVE) is None:
        return
    ctx.ack()
    await ResolveFlow().begin(
        ctx, rid=press.report_id, ver=press.version, mid=ctx.incoming.message_id
    )


async def _return(ctx: Context, press: CasePress) -> None:
    report = await _precheck(ctx, press, Action.RETURN)
    if report is None:
        return
    ctx.ack()
    reasons = [*RETURN_REASONS.items(), (Reason.DUPLICATE, N_("Duplicate of another report"))]
    rows: list[list[tuple[str, Payload]]] = [
        [(ctx._(label), case_ui.return_with(report, reason))] for reason, label in reasons
    ]
    rows.append([(ctx._("Back"), case_ui.press(Verb.BACK, report))])
    ctx.replace_choices(rows, prompt=ctx._("Why is it returned?"))


async def _return_reason(ctx: Context, press: ReturnWith) -> None:
    if press.reason is Reason.DUPLICATE:
        if await _precheck(ctx, press, Action.MERGE) is None:
            return
        ctx.ack()
        await DuplicateFlow().begin(
            ctx, rid=press.report_id, ver=press.version, mid=ctx.incoming.message_id
        )
        return
    await _do(ctx, press, Action.RETURN, ActionArgs(reason=RETURN_REASONS[press.reason]))


async def _transfer(ctx: Context, press: CasePress) -> None:
    report = await _precheck(ctx, press, Action.TRANSFER)
    if report is None or report.grid_id is None:
        return
    grid = await ctx.uow.regions.get_by_id(report.grid_id)
    gridmap = ctx.env.maps.current()
    neighbours = gridmap.neighbours(grid.code) if grid and grid.code in gridmap else []
    rows: list[list[tuple[str, Payload]]] = []
    for ref in neighbours:
        node = await ctx.uow.regions.get(ref.code)
        if node is not None:
            rows.append([(ref.name, case_ui.transfer_to(report, node.id))])
    ctx.ack()
    if not rows:
        ctx.reply(ctx._("This grid has no neighbouring grid to transfer to."))
        return
    rows.append([(ctx._("Back"), case_ui.press(Verb.BACK, report))])
    ctx.replace_choices(rows, prompt=ctx._("Transfer to which grid?"))


async def _back(ctx: Context, press: CasePress) -> None:
    report = await ctx.uow.reports.get(press.report_id)
    if report is None:
        ctx.ack(ctx._(REFUSALS[cases.Refusal.NOT_FOUND]), alert=True)
        return
    ctx.ack()
    ctx.replace_choices(await _case_choices(ctx, report))


async def _open(ctx: Context, press: OpenCase) -> None:
    report = await ctx.uow.reports.get(press.report_id)
    if report is None or not await _may_see(ctx, report):
        ctx.ack(ctx._("You cannot see this case."), alert=True)
        return
    ctx.ack()
    await _send_case(ctx, report)


async def _precheck(ctx: Context, press: Versioned, action: Action) -> Report | None:
    """For a button that only opens a choice: the same checks the action itself will make,
    so a worker of another grid never gets as far as the reason list."""
    report = await ctx.uow.reports.get(press.report_id)
    if report is None:
        _refuse(ctx, cases.CaseResult(report=None, refusal=cases.Refusal.NOT_FOUND))
        return None
    holder = await ctx.uow.accounts.get(report.assignee_id) if report.assignee_id else None
    if report.version != press.version or report.status not in _sources(action):
        _refuse(ctx, cases.CaseResult(report=report, refusal=cases.Refusal.STALE, holder=holder))
        ctx.replace_choices(await _case_choices(ctx, report))
        return None
    actor = await cases.actor_for(ctx.uow, report, ctx.account)
    refusal = None
    if action not in allowed_actions(report.status, actor):
        refusal = cases.Refusal.NOT_ALLOWED
    elif held_by_other(action, actor, await cases.holder_id(ctx.uow, report)):
        refusal = cases.Refusal.HELD_BY_OTHER
    if refusal is not None:
        _refuse(ctx, cases.CaseResult(report=report, refusal=refusal, holder=holder))
        return None
    return report


def _sources(action: Action) -> frozenset[ReportStatus | None]:
    from bot.domain.lifecycle import TRANSITIONS

    return TRANSITIONS[action].sources


async def _do(ctx: Context, press: Versioned, action: Action, args: ActionArgs) -> None:
    result = await cases.act(
        ctx.uow,
        ctx.env,
        report_id=press.report_id,
        actor_account=ctx.account,
        action=action,
        args=args,
        expected_version=press.version,
    )
    if not result.ok:
        _refuse(ctx, result)
        if result.refusal is cases.Refusal.STALE and result.report is not None:
            ctx.replace_choices(await _case_choices(ctx, result.report))
        return
    assert result.report is not None
    ctx.ack(_done_text(ctx, action, result.report))
    ctx.replace_choices(await _case_choices(ctx, result.report))


def _refuse(ctx: Context, result: cases.CaseResult) -> None:
    ctx.ack(refusal_text(ctx, result), alert=True)


def refusal_text(ctx: Context, result: cases.CaseResult) -> str:
    assert result.refusal is not None
    if result.refusal is cases.Refusal.MISSING and result.need is Need.PHOTO:
        return ctx._("This category needs a photo of the fixed problem.")
    if result.refusal is cases.Refusal.MISSING and result.need is Need.NOTE:
        return ctx._("Please write a short note on what was done.")
    text = ctx._(REFUSALS[result.refusal])
    if result.refusal is cases.Refusal.HELD_BY_OTHER:
        return text.format(name=result.holder.display_name if result.holder else "?")
    if result.refusal is cases.Refusal.STALE and result.report is not None:
        text = text.format(status=ctx._(STATUS_NAMES[result.report.status]))
        if result.holder is not None and result.report.status is ReportStatus.ACCEPTED:
            text += " " + ctx._("{name} took it.").format(name=result.holder.display_name)
    return text


def _done_text(ctx: Context, action: Action, report: Report) -> str:
    texts = {
        Action.ACCEPT: N_("Accepted. The case {number} is yours."),
        Action.RESOLVE: N_("Resolved. The reporter will be asked to confirm."),
        Action.RETURN: N_("Returned to the community admin."),
        Action.TRANSFER: N_("Transferred."),
        Action.MERGE: N_("Marked as a duplicate."),
    }
    return ctx._(texts.get(action, N_("Done."))).format(number=report.number)


async def _case_choices(ctx: Context, report: Report) -> list[list[tuple[str, Payload]]]:
    """The case's buttons for this person now: what ``cases.act`` would let them do."""
    roles = await cases.roles_in_scope(ctx.uow, ctx.account.id, report.grid_id)
    holder = await cases.holder_id(ctx.uow, report)
    actions = case_actions(report, frozenset(roles), holder_id=holder, account_id=ctx.account.id)
    return case_ui.case_choices(ctx.t, report, actions)


# -- flows: resolve (note, after-photo) and duplicate (the other report's number) -----------


class ResolveFlow(Flow):
    name = RESOLVE_FLOW

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        ctx.state.clear()
        self.enter(ctx, "note", **kwargs)
        ctx.reply(ctx._("What was done? Write a short note."))

    async def on_input(self, ctx: Context) -> None:
        if ctx.state.step == "note":
            await self._note(ctx)
        else:
            await self._photo(ctx)

    async def reprompt(self, ctx: Context) -> None:
        if ctx.state.step == "note":
            ctx.reply(ctx._("What was done? Write a short note."))
        else:
            await _ask_after_photo(ctx)

    async def _note(self, ctx: Context) -> None:
        if _refused_button(ctx):
            return
        note = " ".join(ctx.incoming.text.split())  # a photo's caption is its note
        if not note or len(note) > NOTE_MAX:
            ctx.reply(ctx._("Please write a note of 1 to {max} characters.").format(max=NOTE_MAX))
            return
        self.enter(ctx, "photo", note=note)
        if ctx.incoming.kind in (Kind.PHOTO, Kind.DOCUMENT):
            await self._photo(ctx)  # the after-photo came with its note
            return
        await _ask_after_photo(ctx)

    async def _photo(self, ctx: Context) -> None:
        if isinstance(ctx.pressed, SkipAfterPhoto):
            ctx.ack()
            ctx.drop_choices()
            await self._finish(ctx, None)
            return
        if _refused_button(ctx):
            return
        intake = ctx.photo
        if intake is None or intake.key is None:
            if intake is not None and intake.error:
                ctx.reply(ctx._("I could not use that photo. Please send another one."))
            await _ask_after_photo(ctx)
            return
        if not await _caption_added(ctx):
            return
        photo = ReportPhoto(
            sha256=intake.key, phash=intake.phash, width=intake.width, height=intake.height
        )
        await self._finish(ctx, photo)

    async def _finish(self, ctx: Context, photo: ReportPhoto | None) -> None:
        data = ctx.state.data
        result = await cases.act(
            ctx.uow,
            ctx.env,
            report_id=data["rid"],
            actor_account=ctx.account,
            action=Action.RESOLVE,
            args=ActionArgs(note=data["note"]),
            expected_version=data["ver"],
            photo=photo,
        )
        if not result.ok and result.refusal is cases.Refusal.MISSING:
            ctx.reply(refusal_text(ctx, result))
            await _ask_after_photo(ctx)
            return
        await _close_flow(ctx, result, Action.RESOLVE)


async def _caption_added(ctx: Context) -> bool:
    """An after-photo's caption is added to the note; False (and asked again) when that
    would make the note too long."""
    caption, note = " ".join(ctx.incoming.text.split()), ctx.state.data["note"]
    if not caption or caption in note:  # none, or it is the note (sent at the note step)
        return True
    if edge.note_too_long(ctx, f"{note} {caption}", NOTE_MAX):
        await _ask_after_photo(ctx)
        return False
    ctx.state.data["note"] = f"{note} {caption}"
    return True


class DuplicateFlow(Flow):
    name = "wdup"

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        ctx.state.clear()
        self.enter(ctx, "number", **kwargs)
        await self.reprompt(ctx)

    async def reprompt(self, ctx: Context) -> None:
        ctx.reply(ctx._("Which report is this a duplicate of? Send its number."))

    async def on_input(self, ctx: Context) -> None:
        if _refused_button(ctx):
            return
        if ctx.incoming.kind is not Kind.TEXT:
            await self.reprompt(ctx)
            return
        number = ctx.incoming.text.strip()
        other = await ctx.uow.reports.by_number(number) if number else None
        if other is None:
            ctx.reply(_unknown_case_text(ctx, number))
            return
        data = ctx.state.data
        result = await cases.act(
            ctx.uow,
            ctx.env,
            report_id=data["rid"],
            actor_account=ctx.account,
            action=Action.MERGE,
            args=ActionArgs(duplicate_of=other.id),
            expected_version=data["ver"],
        )
        if not result.ok and result.refusal is cases.Refusal.UNKNOWN_TARGET:
            ctx.reply(await _unseen_duplicate_text(ctx, other))
            return
        if not result.ok and result.refusal is cases.Refusal.INVALID_TARGET:
            ctx.reply(ctx._("A report cannot be a duplicate of itself or of a finished case."))
            return
        await _close_flow(ctx, result, Action.MERGE)


def _unknown_case_text(ctx: Context, number: str) -> str:
    return ctx._(REFUSALS[cases.Refusal.UNKNOWN_TARGET]).format(number=number)


async def _unseen_duplicate_text(ctx: Context, other: Report) -> str:
    """A target outside the worker's grids. Whether it exists, and whether it is finished,
    is said only to someone who may see it anyway (its reporter or a follower)."""
    if not await _may_see(ctx, other):
        return _unknown_case_text(ctx, other.number)
    return ctx._(
        "Report {number} is not in your grids: a case can only be marked a duplicate of "
        "a report in a grid you work on."
    ).format(number=other.number)


def _refused_button(ctx: Context) -> bool:
    """A press this step has no use for (a button left on an older message, or forged data):
    answer it, so the client stops waiting, and keep the step as it is."""
    if ctx.incoming.kind is not Kind.BUTTON:
        return False
    log.info("button %r not used in step %s", ctx.incoming.button_data, ctx.state.step)
    ctx.ack(ctx._("This button is not valid."), alert=True)
    return True


async def _ask_after_photo(ctx: Context) -> None:
    report = await ctx.uow.reports.get(ctx.state.data["rid"])
    required = (
        report is not None and ctx.env.catalogue.get(report.category_code).after_photo_required
    )
    if required:
        ctx.ask(Request.PHOTO, ctx._("Send a photo of the fixed problem."))
    else:
        ctx.choose(
            ctx._("Send a photo of the fixed problem, or skip it."),
            [[(ctx._("Skip"), SkipAfterPhoto())]],
        )


async def _close_flow(ctx: Context, result: cases.CaseResult, action: Action) -> None:
    """End the flow and, on success, refresh the buttons of the alert it started from."""
    message_id = ctx.state.data.get("mid")
    ctx.state.clear()
    if not result.ok:
        ctx.reply(refusal_text(ctx, result))
        return
    assert result.report is not None
    ctx.reply(_done_text(ctx, action, result.report))
    if message_id:
        choices = await _case_choices(ctx, result.report)
        ctx.replace_choices(choices, message_id=str(message_id))


# -- /queue and /case ----------------------------------------------------------------------


async def show_queue(ctx: Context) -> None:
    grants = await staff.staff_grants(ctx.uow, ctx.account.id)
    if not grants:
        ctx.reply(ctx._("/queue is for grid staff."))
        return
    unit_ids: set[int] = set()
    for grant in grants:  # a case routed to a community or district is that unit's own
        unit_ids.update(await units_under(ctx.uow, grant.region_id))
    reports = sorted(await ctx.uow.reports.open_for_grids(unit_ids), key=_due_key)
    if not reports:
        ctx.reply(ctx._("No open cases in your grids."))
        return
    shown = reports[:QUEUE_MAX]
    lines = [ctx._("Open cases: {count}").format(count=len(reports))]
    lines += [_queue_line(ctx, r) for r in shown]
    rows: list[list[tuple[str, Payload]]] = [[(r.number, OpenCase(report_id=r.id))] for r in shown]
    ctx.choose("\n".join(lines), rows)


def _due(report: Report) -> Any:
    """The deadline the grid is working to; none once the case left its hands (resolved and
    waiting for the rider, or returned), so such a case is never shown as overdue."""
    if report.status is ReportStatus.DISPATCHED:
        return report.ack_due_at
    return report.resolve_due_at if report.status is ReportStatus.ACCEPTED else None


def _due_key(report: Report) -> tuple[bool, Any, int]:
    # The earliest deadline first puts every overdue case ahead of every case still in time.
    due = _due(report)
    return (due is None, due, report.id)


def _queue_line(ctx: Context, report: Report) -> str:
    category = ctx.env.catalogue.name(report.category_code, ctx.t.locale)
    status = ctx._(STATUS_NAMES[report.status])
    due = _due(report)
    line = f"• {report.number} {category} — {status}"
    if due is not None and due <= ctx.now:
        line += " — " + ctx._("OVERDUE since {when}").format(when=ctx.t.datetime(due))
    elif due is not None:
        line += " — " + ctx._("due {when}").format(when=ctx.t.datetime(due))
    return line


async def show_case(ctx: Context) -> None:
    number = ctx.incoming.payload.strip()
    if not number:
        ctx.reply(ctx._("Send /case followed by the report number, e.g. /case 261126-0001."))
        return
    report = await ctx.uow.reports.by_number(number)
    if report is None or not await _may_see(ctx, report):
        # The same answer for both: a number must not reveal that a case exists.
        ctx.reply(ctx._("No case {number} that you can see.").format(number=number))
        return
    await _send_case(ctx, report)


async def _may_see(ctx: Context, report: Report) -> bool:
    return await _is_staff_on(ctx, report) or await _rides_with(ctx, report)


async def _is_staff_on(ctx: Context, report: Report) -> bool:
    roles = await cases.roles_in_scope(ctx.uow, ctx.account.id, report.grid_id)
    return is_case_staff(roles)


async def _rides_with(ctx: Context, report: Report) -> bool:
    """The reporter, or a rider following the report as a duplicate (who hears of every
    change anyway)."""
    if report.reporter_id == ctx.account.id:
        return True
    return any(a.id == ctx.account.id for a in await ctx.uow.reports.subscribers(report.id))


async def _send_case(ctx: Context, report: Report) -> None:
    if not await _is_staff_on(ctx, report):
        # A follower is a stranger to the reporter, and neither needs the workers' names:
        # riders read it as /myreports shows it, statuses and reasons only.
        ctx.reply(await rider_view(ctx, report))
        return
    category = ctx.env.catalogue.name(report.category_code, ctx.t.locale)
    lines = [
        ctx._("Case {number}: {category}").format(number=report.number, category=category),
        ctx._("Status: {status}").format(status=ctx._(STATUS_NAMES[report.status])),
    ]
    if report.note:
        lines.append(ctx._("Note: {note}").format(note=report.note))
    lines.append(ctx._("History:"))
    names: dict[int, str] = {}
    for event in await ctx.uow.audit.history(report.id):
        who = await _name(ctx, event.actor_id, names)
        detail = event_detail(ctx, event.data)
        line = f"{ctx.t.datetime(event.at)} {action_name(ctx, event.action)} — {who}"
        lines.append(f"{line}: {detail}" if detail else line)
    ctx.choose("\n".join(lines), await _case_choices(ctx, report))


async def _name(ctx: Context, account_id: int | None, cache: dict[int, str]) -> str:
    if account_id is None:
        return ctx._("system")
    if account_id not in cache:
        account = await ctx.uow.accounts.get(account_id)
        cache[account_id] = account.display_name if account else "?"
    return cache[account_id]
