"""What the report flow says and which buttons it shows; the flow logic is in ``report.py``.

The buttons' payloads are ``rep:<step>`` (``ReportStep``), ``rep:cat:<code>``,
``rep:cls:<code>`` and ``rep:follow:<report id>``: typed and validated by ``bot.ui.payloads``
(a client can send any callback data it likes); whether a code is in the catalogue, and a
report one that was offered, the flow checks.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import timedelta

from babel.dates import format_timedelta

from bot.chat import Request
from bot.domain.categories import Category
from bot.domain.model import Level, Report, ReportStatus
from bot.geo.router import RouteResult, RouteStatus
from bot.i18n import N_
from bot.ui.payloads import Code, Id, Payload
from handlers.base import Context

FLOW = "rep"
POPULAR_COUNT = 6
Rows = list[list[tuple[str, Payload]]]


class Step(enum.StrEnum):
    MORE = "more"  # the category classes
    TOP = "top"  # back to the most used categories
    SKIP = "skip"  # no note
    EDIT = "edit"
    CANCEL = "cancel"
    SUBMIT = "submit"


class ReportStep(Payload, prefix=FLOW):
    step: Step


class PickCategory(Payload, prefix=f"{FLOW}:cat"):
    code: Code


class OpenClass(Payload, prefix=f"{FLOW}:cls"):
    code: Code


class FollowReport(Payload, prefix=f"{FLOW}:follow"):
    report_id: Id


# What intake refusals mean to a rider; codes come from bot.media.errors and the dispatcher.
PHOTO_REFUSALS = {
    "not_an_image": N_("That file is not a photo. Please send a photo (JPEG, PNG, WebP or HEIC)."),
    "unsupported_format": N_(
        "I cannot read this picture format. Please send a JPEG, PNG, WebP or HEIC photo."
    ),
    "too_big": N_("That file is too big (the limit is {mb} MB). Please send a smaller photo."),
    "too_many_pixels": N_("That picture has too many pixels. Please send a normal camera photo."),
    "corrupt": N_("That photo is damaged and cannot be opened. Please take or send it again."),
    "empty": N_("That file is empty. Please send the photo again."),
    "download_failed": N_("I could not download that photo. Please send it again."),
}

STATUS_NAMES = {
    ReportStatus.SUBMITTED: N_("Submitted"),
    ReportStatus.DISPATCHED: N_("Sent to the grid"),
    ReportStatus.ACCEPTED: N_("Accepted by a grid worker"),
    ReportStatus.RESOLVED: N_("Fixed, waiting for confirmation"),
    ReportStatus.CLOSED: N_("Closed"),
    ReportStatus.RETURNED: N_("Returned for re-dispatch"),
    ReportStatus.MERGED: N_("Merged into another report"),
    ReportStatus.REJECTED: N_("Rejected"),
    ReportStatus.CANCELLED: N_("Cancelled"),
}


def status_name(ctx: Context, status: ReportStatus) -> str:
    return ctx._(STATUS_NAMES[status])


def photo_refusal(ctx: Context, code: str | None, max_bytes: int) -> str:
    template = PHOTO_REFUSALS.get(code or "", PHOTO_REFUSALS["corrupt"])
    return ctx._(template).format(mb=max_bytes // (1024 * 1024))


LAST_PLACE = N_("↩️ Same place as last time")
LAST_BOTH = N_("↩️ Same place and category as last time")


def is_last_place(ctx: Context) -> bool:
    return ctx.incoming.text.strip() in (ctx._(LAST_PLACE), ctx._(LAST_BOTH))


def is_last_both(ctx: Context) -> bool:
    return ctx.incoming.text.strip() == ctx._(LAST_BOTH)


def ask_first_photo(ctx: Context) -> None:
    ctx.ask(
        Request.PHOTO | Request.LOCATION,
        ctx._(
            "Send a photo of the problem (up to 3). You can also share its location first "
            "with the button below."
        ),
    )


def ask_photo_after_location(ctx: Context) -> None:
    ctx.ask(Request.PHOTO, ctx._("Location received. Now send a photo of the problem (up to 3)."))


def ask_location(ctx: Context, last_grid: str | None = None) -> None:
    text = ctx._(
        "Where is it? Tap the button below to share your location, or attach a "
        "location or place on the map."
    )
    if last_grid is None:
        ctx.ask(Request.LOCATION, text)
        return
    text += "\n" + ctx._("Your last report was in {grid}.").format(grid=last_grid)
    # Ready-made replies: what they send is their label, recognised by ``is_last_place``.
    ctx.ask(Request.LOCATION, text, options=[ctx._(LAST_PLACE), ctx._(LAST_BOTH)])


def category_label(ctx: Context, category: Category) -> str:
    return category.name(ctx.account.locale)


def _pairs(items: Sequence[tuple[str, Payload]]) -> Rows:
    return [list(items[i : i + 2]) for i in range(0, len(items), 2)]


def popular_choices(ctx: Context, top: Sequence[Category]) -> Rows:
    rows = _pairs([(category_label(ctx, c), PickCategory(code=c.code)) for c in top])
    return [*rows, [(ctx._("More…"), ReportStep(step=Step.MORE))]]


def classes_choices(ctx: Context) -> Rows:
    groups = ctx.env.catalogue.by_class()
    rows = _pairs([(cls.name(ctx.account.locale), OpenClass(code=cls.code)) for cls in groups])
    return [*rows, [(ctx._("« Back"), ReportStep(step=Step.TOP))]]


def class_choices(ctx: Context, categories: Sequence[Category]) -> Rows:
    rows = _pairs([(category_label(ctx, c), PickCategory(code=c.code)) for c in categories])
    return [*rows, [(ctx._("« Back"), ReportStep(step=Step.MORE))]]


def category_prompt(ctx: Context) -> str:
    return ctx._("What is the problem? Choose a category:")


def ask_category(ctx: Context, top: Sequence[Category]) -> None:
    ctx.choose(category_prompt(ctx), popular_choices(ctx, top))


def ask_note(ctx: Context) -> None:
    ctx.choose(
        ctx._("Add a short note if it helps (what exactly, where exactly), or tap Skip."),
        [[(ctx._("Skip"), ReportStep(step=Step.SKIP))]],
    )


def route_lines(ctx: Context, route: RouteResult) -> list[str]:
    if route.unit is None:
        return []
    if route.grid is None:
        return _unit_route_lines(ctx, route, route.unit.name)
    community = next((u.name for u in route.path[1:] if u.level is Level.COMMUNITY), None)
    where = route.grid.name
    if community:
        where = ctx._("{grid}, {community}").format(grid=route.grid.name, community=community)
    lines = [ctx._("Goes to: {where}").format(where=where)]
    if route.status is RouteStatus.BOUNDARY:
        lines.append(ctx._("(The point is on the boundary between grids; the map chose this one.)"))
    elif route.status is RouteStatus.NEAREST and route.distance_m is not None:
        lines.append(
            ctx._(
                "(The point is outside every grid; this is the nearest grid, {m} m away.)"
            ).format(m=ctx.t.number(round(route.distance_m)))
        )
    return lines


def _unit_route_lines(ctx: Context, route: RouteResult, name: str) -> list[str]:
    """The map has no grids where the point is (only a district's or community's outline):
    the report is taken all the same, by that unit's staff, and the rider is told so rather
    than shown a grid that does not exist."""
    lines = [
        ctx._("Goes to: {where}").format(where=name),
        ctx._("(No grids are mapped here yet, so the staff of {unit} will handle it.)").format(
            unit=name
        ),
    ]
    if route.status is RouteStatus.NEAREST and route.distance_m is not None:
        lines.append(
            ctx._("(The point is just outside {unit}, {m} m away.)").format(
                unit=name, m=ctx.t.number(round(route.distance_m))
            )
        )
    return lines


def confirmation_text(
    ctx: Context, *, category: Category, route: RouteResult, photos: int, note: str
) -> str:
    lines = [
        ctx._("Please check your report:"),
        ctx._("Category: {name}").format(name=category_label(ctx, category)),
        *route_lines(ctx, route),
        ctx.t.ngettext("{n} photo", "{n} photos", photos).format(n=photos),
    ]
    if note:
        lines.append(ctx._("Note: {note}").format(note=note))
    return "\n".join(lines)


def duplicates_text(ctx: Context, duplicates: Sequence[Report]) -> str:
    lines = [ctx._("This may already have been reported:")]
    for report in duplicates:
        lines.append(
            ctx._("• No. {number}: {category}, {status}, {date}").format(
                number=report.number,
                category=ctx.env.catalogue.name(report.category_code, ctx.account.locale),
                status=status_name(ctx, report.status),
                date=ctx.t.datetime(report.created_at),
            )
        )
    return "\n".join(lines)


def confirmation_choices(ctx: Context, duplicates: Sequence[Report]) -> Rows:
    edit_row: list[tuple[str, Payload]] = [
        (ctx._("Edit"), ReportStep(step=Step.EDIT)),
        (ctx._("Cancel"), ReportStep(step=Step.CANCEL)),
    ]
    if not duplicates:
        return [[(ctx._("Submit"), ReportStep(step=Step.SUBMIT))], edit_row]
    follow_rows: Rows = [
        [
            (
                ctx._("The same problem (No. {number}) — follow it").format(number=r.number),
                FollowReport(report_id=r.id),
            )
        ]
        for r in duplicates
    ]
    submit = (ctx._("A different problem — submit"), ReportStep(step=Step.SUBMIT))
    return [*follow_rows, [submit], edit_row]


def submitted_text(ctx: Context, report: Report, route: RouteResult, ack_minutes: int) -> str:
    head = ctx._("Thank you! Your report No. {number} has been filed.").format(number=report.number)
    if report.status is not ReportStatus.DISPATCHED or route.unit is None:
        nxt = ctx._("The community will send it to the right grid. I will tell you what happens.")
        return f"{head}\n{nxt}"
    within = format_timedelta(timedelta(minutes=ack_minutes), locale=ctx.t.locale)
    if route.grid is None:
        nxt = ctx._(
            "It went to the staff of {unit}, who should accept it within {within}; I will "
            "tell you when it is accepted and when it is fixed. See /myreports at any time."
        ).format(unit=route.unit.name, within=within)
        return f"{head}\n{nxt}"
    nxt = ctx._(
        "It went to {grid}. A grid worker there should accept it within {within}; "
        "I will tell you when it is accepted and when it is fixed. See /myreports at any time."
    ).format(grid=route.grid.name, within=within)
    return f"{head}\n{nxt}"
