"""Grid workers in chat: the case buttons of an alert, the resolve flow, /queue and /case.

Button data is ``w:<verb>:<report id>:<version>[:<extra>]``. The version is the one the
button was made for: a press after the case moved on is refused, and every press goes
through ``cases.act``, which checks the presser's roles on the case's grid. Forged data
(not ints, an unknown verb) is refused before anything is loaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.chat import Kind, Outgoing, OutKind
from bot.domain.lifecycle import Action, ActionArgs, Need, allowed_actions, held_by_other
from bot.domain.model import Report, ReportPhoto, ReportStatus, is_case_staff
from bot.i18n import N_
from bot.services import cases, staff
from bot.services.alerts import WORKER_PREFIX, button_data, case_keyboard
from bot.services.escalation import units_under
from handlers import edge
from handlers.base import Command, Context, Flow, buttons
from handlers.history import action_name, event_detail, rider_view
from handlers.registry import Registry

log = logging.getLogger(__name__)

QUEUE_MAX = 20
NOTE_MAX = 500
RETURN_REASONS: dict[str, str] = {
    "grid": N_("Not this grid"),
    "fake": N_("Not a real problem"),
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
_ACTIONS = {
    "acc": Action.ACCEPT,
    "res": Action.RESOLVE,
    "ret": Action.RETURN,
    "tr": Action.TRANSFER,
}
_VERBS = {*_ACTIONS, "rr", "tg", "back", "open"}


@dataclass(frozen=True, slots=True)
class Press:
    verb: str
    report_id: int
    version: int | None
    extra: str | None


def parse(data: str) -> Press | None:
    """The press, or None for anything a button of ours could not have carried."""
    parts = data.split(":")
    if len(parts) < 3 or parts[0] != WORKER_PREFIX or parts[1] not in _VERBS:
        return None
    numbers = parts[2:4]
    if not all(_is_id(p) for p in numbers):
        return None
    version = int(parts[3]) if len(parts) > 3 else None
    if parts[1] != "open" and version is None:
        return None
    extra = parts[4] if len(parts) == 5 else None
    if len(parts) > 5 or (parts[1] in ("rr", "tg") and not extra):
        return None
    return Press(parts[1], int(parts[2]), version, extra)


def _is_id(value: str) -> bool:
    # ASCII only: "²".isdigit() is true but int("²") raises; the length keeps it in a BIGINT.
    return value.isascii() and value.isdigit() and len(value) < 12


def setup(registry: Registry) -> None:
    registry.button(WORKER_PREFIX, on_press)
    registry.flow(ResolveFlow())
    registry.flow(DuplicateFlow())
    registry.command(Command("queue", show_queue, N_("Staff: your open cases")))
    registry.command(Command("case", show_case, N_("Show a case and its history"), menu=False))


# -- button presses --------------------------------------------------------------------------


async def on_press(ctx: Context) -> None:
    press = parse(ctx.incoming.button_data or "")
    if press is None:
        log.warning("forged worker button %r from %s", ctx.incoming.button_data, ctx.account.id)
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    handler = _HANDLERS[press.verb]
    await handler(ctx, press)


async def _accept(ctx: Context, press: Press) -> None:
    await _do(ctx, press, Action.ACCEPT, ActionArgs())


async def _resolve(ctx: Context, press: Press) -> None:
    if await _precheck(ctx, press, Action.RESOLVE) is None:
        return
    ctx.answer_button()
    await ResolveFlow().begin(
        ctx, rid=press.report_id, ver=press.version, mid=ctx.incoming.message_id
    )


async def _return(ctx: Context, press: Press) -> None:
    report = await _precheck(ctx, press, Action.RETURN)
    if report is None:
        return
    ctx.answer_button()
    rows = [
        [(ctx._(label), button_data("rr", report, code))] for code, label in RETURN_REASONS.items()
    ]
    rows.append([(ctx._("Duplicate of another report"), button_data("rr", report, "dup"))])
    rows.append([(ctx._("Back"), button_data("back", report))])
    ctx.edit_markup(buttons(*rows))


async def _return_reason(ctx: Context, press: Press) -> None:
    if press.extra == "dup":
        action = Action.MERGE
        if await _precheck(ctx, press, action) is None:
            return
        ctx.answer_button()
        await DuplicateFlow().begin(
            ctx, rid=press.report_id, ver=press.version, mid=ctx.incoming.message_id
        )
        return
    reason = RETURN_REASONS.get(press.extra or "")
    if reason is None:
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    await _do(ctx, press, Action.RETURN, ActionArgs(reason=reason))


async def _transfer(ctx: Context, press: Press) -> None:
    report = await _precheck(ctx, press, Action.TRANSFER)
    if report is None or report.grid_id is None:
        return
    grid = await ctx.uow.regions.get_by_id(report.grid_id)
    gridmap = ctx.env.maps.current()
    neighbours = gridmap.neighbours(grid.code) if grid and grid.code in gridmap else []
    rows = []
    for ref in neighbours:
        node = await ctx.uow.regions.get(ref.code)
        if node is not None:
            rows.append([(ref.name, button_data("tg", report, node.id))])
    ctx.answer_button()
    if not rows:
        ctx.reply(ctx._("This grid has no neighbouring grid to transfer to."))
        return
    rows.append([(ctx._("Back"), button_data("back", report))])
    ctx.edit_markup(buttons(*rows))


async def _transfer_to(ctx: Context, press: Press) -> None:
    extra = press.extra or ""
    if not _is_id(extra):
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    args = ActionArgs(target_grid_id=int(extra), reason=TRANSFER_REASON)
    await _do(ctx, press, Action.TRANSFER, args)


async def _back(ctx: Context, press: Press) -> None:
    report = await ctx.uow.reports.get(press.report_id)
    if report is None:
        ctx.answer_button(ctx._(REFUSALS[cases.Refusal.NOT_FOUND]), alert=True)
        return
    ctx.answer_button()
    ctx.edit_markup(await _keyboard_for(ctx, report))


async def _open(ctx: Context, press: Press) -> None:
    report = await ctx.uow.reports.get(press.report_id)
    if report is None or not await _may_see(ctx, report):
        ctx.answer_button(ctx._("You cannot see this case."), alert=True)
        return
    ctx.answer_button()
    await _send_case(ctx, report)


_HANDLERS: dict[str, Any] = {
    "acc": _accept,
    "res": _resolve,
    "ret": _return,
    "rr": _return_reason,
    "tr": _transfer,
    "tg": _transfer_to,
    "back": _back,
    "open": _open,
}


async def _precheck(ctx: Context, press: Press, action: Action) -> Report | None:
    """For a button that only opens a choice: the same checks the action itself will make,
    so a worker of another grid never gets as far as the reason list."""
    report = await ctx.uow.reports.get(press.report_id)
    if report is None:
        _refuse(ctx, cases.CaseResult(report=None, refusal=cases.Refusal.NOT_FOUND))
        return None
    holder = await ctx.uow.accounts.get(report.assignee_id) if report.assignee_id else None
    if report.version != press.version or report.status not in _sources(action):
        _refuse(ctx, cases.CaseResult(report=report, refusal=cases.Refusal.STALE, holder=holder))
        ctx.edit_markup(await _keyboard_for(ctx, report))
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


async def _do(ctx: Context, press: Press, action: Action, args: ActionArgs) -> None:
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
            ctx.edit_markup(await _keyboard_for(ctx, result.report))
        return
    assert result.report is not None
    ctx.answer_button(_done_text(ctx, action, result.report))
    ctx.edit_markup(await _keyboard_for(ctx, result.report))


def _refuse(ctx: Context, result: cases.CaseResult) -> None:
    ctx.answer_button(refusal_text(ctx, result), alert=True)


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


async def _keyboard_for(ctx: Context, report: Report) -> Any:
    roles = await cases.roles_in_scope(ctx.uow, ctx.account.id, report.grid_id)
    holder = await cases.holder_id(ctx.uow, report)
    return case_keyboard(
        ctx.t, report, frozenset(roles), holder_id=holder, account_id=ctx.account.id
    )


# -- flows: resolve (note, after-photo) and duplicate (the other report's number) -----------


class ResolveFlow(Flow):
    name = "wres"

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
        if ctx.incoming.kind is Kind.BUTTON and ctx.incoming.button_data == "wres:skip":
            ctx.answer_button()
            ctx.edit_markup(None)
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
    ctx.answer_button(ctx._("This button is not valid."), alert=True)
    return True


async def _ask_after_photo(ctx: Context) -> None:
    report = await ctx.uow.reports.get(ctx.state.data["rid"])
    required = (
        report is not None and ctx.env.catalogue.get(report.category_code).after_photo_required
    )
    if required:
        ctx.reply(ctx._("Send a photo of the fixed problem."))
    else:
        ctx.reply(
            ctx._("Send a photo of the fixed problem, or skip it."),
            buttons([(ctx._("Skip"), "wres:skip")]),
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
        ctx.out.append(
            Outgoing(
                platform=ctx.account.platform,
                chat_id=ctx.account.chat_id,
                kind=OutKind.EDIT_MARKUP,
                message_id=str(message_id),
                keyboard=await _keyboard_for(ctx, result.report),
            )
        )


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
    rows = [[(r.number, f"{WORKER_PREFIX}:open:{r.id}")] for r in shown]
    ctx.reply("\n".join(lines), buttons(*rows))


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
    ctx.reply("\n".join(lines), await _keyboard_for(ctx, report))


async def _name(ctx: Context, account_id: int | None, cache: dict[int, str]) -> str:
    if account_id is None:
        return ctx._("system")
    if account_id not in cache:
        account = await ctx.uow.accounts.get(account_id)
        cache[account_id] = account.display_name if account else "?"
    return cache[account_id]
