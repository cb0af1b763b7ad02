"""Snap-and-report: photo(s) and location in either order, category, note, confirm, submit.

The next step is worked out from what the report already has (``_advance``), so a photo, a
location or a new album can arrive at any point and the rider is simply asked for what is
still missing. Everything lives in the conversation state, so a restart resumes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.chat import Kind
from bot.domain.categories import Category, UnknownCategoryError
from bot.domain.model import GeoPoint, InformantStatus, Report, ReportPhoto
from bot.geo.router import RouteResult, RouteStatus
from bot.i18n import N_
from bot.services.alerts import alert_new_report
from bot.services.informants import can_report
from bot.services.maps import NO_MAP_YET, loaded_map
from bot.services.ports import NotFound
from bot.services.reports import (
    NotOpen,
    OutsideServiceArea,
    find_duplicates,
    follow,
    submit_report,
)
from bot.ui.payloads import Payload
from handlers import edge
from handlers import report_ui as ui
from handlers.base import Command, Context, Flow
from handlers.register import RegisterFlow
from handlers.registry import Registry

MAX_PHOTOS = 3
MAX_NOTE = 500
MAX_DUPLICATES = 3
# EXIF GPS stands in for a shared location only when the photo is fresh: an old photo's
# position says where the rider was then, not where the hazard is reported from now.
EXIF_MAX_AGE = timedelta(hours=24)
EXIF_CLOCK_SKEW = timedelta(hours=1)  # camera clocks run a little ahead
# "Most used" means lately: a month follows the seasons (waterlogging in summer) without
# letting one busy afternoon reorder the menu.
USAGE_WINDOW = timedelta(days=30)


class ReportFlow(Flow):
    name = ui.FLOW

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        if not await _may_report(ctx):
            return
        self.enter(
            ctx, "photo", photos=[], loc=None, groups=[], full=[], cat=None, note=None, dups=[]
        )
        kind = ctx.incoming.kind
        if kind in (Kind.PHOTO, Kind.DOCUMENT, Kind.LOCATION):
            if not await self._take_media(ctx):
                ctx.state.clear()  # a refused first input starts nothing
            return
        ui.ask_first_photo(ctx)

    async def on_input(self, ctx: Context) -> None:
        kind = ctx.incoming.kind
        if kind is Kind.BUTTON:
            await self._on_button(ctx)
        elif kind in (Kind.PHOTO, Kind.DOCUMENT, Kind.LOCATION):
            await self._take_media(ctx)
        elif kind is Kind.TEXT and ctx.state.step == "location" and ui.is_last_place(ctx):
            await _take_last_place(ctx)
        elif kind is Kind.TEXT and ctx.state.step == "note":
            note = ctx.incoming.text.strip()
            if not edge.note_too_long(ctx, note, MAX_NOTE):
                ctx.state.data["note"] = note
                await _advance(ctx)
        else:
            await self.reprompt(ctx)

    async def reprompt(self, ctx: Context) -> None:
        await _advance(ctx)

    async def _take_media(self, ctx: Context) -> bool:
        """True when the photo or location was taken (and the rider was prompted onwards)."""
        if ctx.incoming.kind is Kind.LOCATION:
            return await _take_location(ctx)
        return await _take_photo(ctx)

    async def _on_button(self, ctx: Context) -> None:
        pressed = ctx.pressed
        live = _BUTTONS.get(_button_key(pressed)) if pressed is not None else None
        if pressed is None or live is None:
            ctx.ack(ctx._("This button is not valid."), alert=True)
            return
        steps, handler = live
        if ctx.state.step not in steps:  # a button left on an earlier message
            ctx.ack(ctx._("This button has expired."), alert=True)
            await _advance(ctx)
            return
        await handler(ctx, pressed)


# -- who may report --------------------------------------------------------------------


async def _may_report(ctx: Context) -> bool:
    if ctx.env.open_reporting and ctx.account.consent is None:
        # Whereabouts are sensitive personal information: consent comes before a location
        # or photo of anyone's is kept, even where the city lets everyone report.
        await RegisterFlow().begin(ctx, consent_only=True)
        return False
    if await can_report(ctx.uow, ctx.account, ctx.env.open_reporting):
        return True
    profile = await ctx.uow.informants.get(ctx.account.id)
    if profile is None:
        text = N_("Only registered grid informants can send reports. Send /register to sign up.")
    elif profile.status is InformantStatus.PENDING:
        text = N_(
            "Your informant registration is waiting for approval. "
            "You can send reports as soon as it is approved."
        )
    else:
        text = N_(
            "Your informant registration was not approved, so you cannot send reports. "
            "Send /register to apply again."
        )
    ctx.reply(ctx._(text))
    return False


# -- photos and location ---------------------------------------------------------------


async def _take_photo(ctx: Context) -> bool:
    intake, data = ctx.photo, ctx.state.data
    if intake is None or intake.key is None:
        code = intake.error if intake is not None else "download_failed"
        ctx.reply(ui.photo_refusal(ctx, code, ctx.env.max_download_bytes))
        return False
    group = ctx.incoming.media_group_id
    if len(data["photos"]) >= MAX_PHOTOS:
        if group is None or group not in data["full"]:  # say it once per album
            ctx.reply(ctx._("A report takes at most 3 photos; this one was not added."))
            if group is not None:
                data["full"].append(group)
        return False
    if all(p["key"] != intake.key for p in data["photos"]):
        data["photos"].append(
            {"key": intake.key, "phash": intake.phash, "w": intake.width, "h": intake.height}
        )
    _use_exif_location(ctx)
    _use_caption(ctx)
    if group is not None and group in data["groups"]:
        return True  # the rest of an album already answered: one step, not one per photo
    if group is not None:
        data["groups"].append(group)
    await _advance(ctx)
    return True


def _use_caption(ctx: Context) -> None:
    """A photo's caption is the rider's note (added to one written before); the
    confirmation shows it, and Edit takes it back."""
    caption, data = ctx.incoming.text.strip(), ctx.state.data
    if not caption or caption in (data["note"] or ""):  # none, or this photo sent again
        return
    note = f"{data['note']}\n{caption}" if data["note"] else caption
    if not edge.note_too_long(ctx, note, MAX_NOTE):
        data["note"] = note


def _use_exif_location(ctx: Context) -> None:
    intake = ctx.photo
    if ctx.state.data["loc"] is not None or intake is None or not intake.as_file:
        return
    if intake.gps is None or not _recent(intake.taken_at, ctx.now, ctx.env.zone):
        return
    lat, lon = intake.gps
    route = _route(ctx, lat, lon)
    if route is None:  # no map yet: the location step says so
        return
    if route.status is RouteStatus.OUTSIDE:
        ctx.reply(ctx._("The location stored in the photo is outside the service area."))
        return
    ctx.state.data["loc"] = {"lat": lat, "lon": lon}
    ctx.reply(
        ctx._(
            "I used the location stored in the photo. If it is wrong, share the right "
            "location before you submit."
        )
    )


def _recent(taken_at: datetime | None, now: datetime, zone: tzinfo) -> bool:
    if taken_at is None:
        return False
    # A camera without an offset tag writes its local time; riders are in the city's zone.
    taken = taken_at if taken_at.tzinfo else taken_at.replace(tzinfo=zone)
    return -EXIF_CLOCK_SKEW <= now - taken <= EXIF_MAX_AGE


async def _take_location(ctx: Context) -> bool:
    where = ctx.incoming.location
    assert where is not None  # a LOCATION update carries one
    route = _route(ctx, where.lat, where.lon)
    if route is None:  # the draft and its photos wait for the map
        ctx.reply(ctx._(NO_MAP_YET))
        return False
    if route.status is RouteStatus.OUTSIDE:
        ctx.reply(
            ctx._(
                "That location is outside the service area, so no grid can take the report. "
                "Please share the location of the problem in the city."
            )
        )
        return False
    ctx.state.data["loc"] = {"lat": where.lat, "lon": where.lon}
    ctx.state.data["dups"] = []
    if ctx.state.data["photos"]:
        ctx.reply(ctx._("📍 Location received."), remove_keyboard=True)
    await _advance(ctx)
    return True


def _route(ctx: Context, lat: float, lon: float) -> RouteResult | None:
    """Where the point goes; None before the city's map is imported."""
    gridmap = loaded_map(ctx.env.maps)
    return None if gridmap is None else gridmap.route(lat, lon)


# -- moving on -------------------------------------------------------------------------


async def _advance(ctx: Context) -> None:
    """Ask for the first thing the report still lacks; confirm once it lacks nothing."""
    data, state = ctx.state.data, ctx.state
    if data["loc"] is None and not data["photos"]:
        state.step = "photo"
        ui.ask_first_photo(ctx)
    elif data["loc"] is None:
        state.step = "location"
        ui.ask_location(ctx, await _last_grid(ctx))
    elif not data["photos"]:
        state.step = "photo"
        ui.ask_photo_after_location(ctx)
    elif data["cat"] is None:
        state.step = "category"
        ui.ask_category(ctx, await _most_used(ctx))
    elif data["note"] is None:
        state.step = "note"
        ui.ask_note(ctx)
    else:
        state.step = "confirm"
        await _confirm(ctx)


async def _most_used(ctx: Context) -> list[Category]:
    # One GROUP BY on the indexed created_at, run only when the menu is about to be shown.
    counts = await ctx.uow.reports.category_counts(ctx.now - USAGE_WINDOW)
    popular = ctx.env.catalogue.popular(ui.POPULAR_COUNT, counts)
    last = await _last_report(ctx)
    if last is None or last.category_code not in ctx.env.catalogue:
        return popular
    # The rider's own last category first: riders on a round see the same hazards again.
    mine = ctx.env.catalogue.get(last.category_code)
    return [mine, *(c for c in popular if c.code != mine.code)][: ui.POPULAR_COUNT]


async def _last_report(ctx: Context) -> Report | None:
    """The rider's latest report of the last month, for its place and category."""
    mine = await ctx.uow.reports.for_reporter(ctx.account.id)
    latest = mine[0] if mine else None
    if latest is None or latest.created_at < ctx.now - USAGE_WINDOW:
        return None
    return latest


async def _last_grid(ctx: Context) -> str | None:
    """The grid of the rider's last report, offered as "same place as last time"."""
    last = await _last_report(ctx)
    if last is None:
        return None
    route = _route(ctx, last.location.lat, last.location.lon)
    return route.grid.name if route is not None and route.grid is not None else None


async def _take_last_place(ctx: Context) -> None:
    """ "Same place as last time": the last report's point, routed again like a shared one."""
    last = await _last_report(ctx)
    if last is None:
        await _advance(ctx)
        return
    where = last.location
    route = _route(ctx, where.lat, where.lon)
    if route is None:
        ctx.reply(ctx._(NO_MAP_YET))
        return
    if route.status is RouteStatus.OUTSIDE:
        await _advance(ctx)  # the map changed since; ask as usual
        return
    ctx.state.data["loc"] = {"lat": where.lat, "lon": where.lon}
    ctx.state.data["dups"] = []
    if ui.is_last_both(ctx) and last.category_code in ctx.env.catalogue:
        # The repeat path: photo, this button, Skip, Submit.
        ctx.state.data["cat"] = last.category_code
        category = ui.category_label(ctx, ctx.env.catalogue.get(last.category_code))
        ctx.reply(
            ctx._("📍 Location received. Category: {name}").format(name=category),
            remove_keyboard=True,
        )
    else:
        ctx.reply(ctx._("📍 Location received."), remove_keyboard=True)
    await _advance(ctx)


async def _confirm(ctx: Context) -> None:
    data = ctx.state.data
    loc = GeoPoint(lat=data["loc"]["lat"], lon=data["loc"]["lon"])
    duplicates = await find_duplicates(
        ctx.uow,
        category_code=data["cat"],
        location=loc,
        phash=[p["phash"] for p in data["photos"]],
        now=ctx.now,
        radius_m=ctx.env.duplicate_radius_m,
        window_h=ctx.env.duplicate_window_h,
    )
    duplicates = duplicates[:MAX_DUPLICATES]
    data["dups"] = [r.id for r in duplicates]
    route = _route(ctx, loc.lat, loc.lon)
    if route is None:
        ctx.reply(ctx._(NO_MAP_YET))
        return
    text = ui.confirmation_text(
        ctx,
        category=ctx.env.catalogue.get(data["cat"]),
        route=route,
        photos=len(data["photos"]),
        note=data["note"],
    )
    if duplicates:
        text += "\n\n" + ui.duplicates_text(ctx, duplicates)
    ctx.choose(text, ui.confirmation_choices(ctx, duplicates))


# -- buttons ---------------------------------------------------------------------------


async def _choose_category(ctx: Context, pressed: ui.PickCategory) -> None:
    if pressed.code not in ctx.env.catalogue:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    ctx.ack()
    ctx.show_choice(ui.category_label(ctx, ctx.env.catalogue.get(pressed.code)))
    ctx.state.data["cat"] = pressed.code
    await _advance(ctx)


async def _show_classes(ctx: Context, _pressed: Payload) -> None:
    ctx.ack()
    ctx.replace_choices(ui.classes_choices(ctx), prompt=ui.category_prompt(ctx))


async def _show_popular(ctx: Context, _pressed: Payload) -> None:
    ctx.ack()
    top = ui.popular_choices(ctx, await _most_used(ctx))
    ctx.replace_choices(top, prompt=ui.category_prompt(ctx))


async def _show_class(ctx: Context, pressed: ui.OpenClass) -> None:
    groups = {cls.code: cats for cls, cats in ctx.env.catalogue.by_class().items()}
    if pressed.code not in groups:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    ctx.ack()
    ctx.replace_choices(ui.class_choices(ctx, groups[pressed.code]), prompt=ui.category_prompt(ctx))


async def _skip_note(ctx: Context, _pressed: Payload) -> None:
    ctx.ack()
    ctx.drop_choices()
    ctx.state.data["note"] = ""
    await _advance(ctx)


async def _edit(ctx: Context, _pressed: Payload) -> None:
    ctx.ack()
    ctx.drop_choices()
    ctx.state.data.update(cat=None, note=None, dups=[])
    await _advance(ctx)


async def _cancel(ctx: Context, _pressed: Payload) -> None:
    ctx.ack()
    ctx.drop_choices()
    ctx.state.clear()
    ctx.reply(ctx._("Cancelled. Nothing was sent."), remove_keyboard=True)


async def _follow(ctx: Context, pressed: ui.FollowReport) -> None:
    if pressed.report_id not in ctx.state.data.get("dups", []):
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    ctx.ack()
    ctx.drop_choices()
    try:
        report = await follow(ctx.uow, pressed.report_id, ctx.account.id)
    except (NotFound, NotOpen):
        ctx.reply(ctx._("That report is no longer open."))
        await _advance(ctx)
        return
    ctx.state.clear()
    ctx.reply(
        ctx._(
            "Thank you! You now follow report No. {number}; I will tell you when its status "
            "changes. No new report was filed."
        ).format(number=report.number),
        remove_keyboard=True,
    )


async def _submit(ctx: Context, _pressed: Payload) -> None:
    ctx.ack()
    if not await _may_report(ctx):
        return
    data = ctx.state.data
    loc = GeoPoint(lat=data["loc"]["lat"], lon=data["loc"]["lon"])
    gridmap = loaded_map(ctx.env.maps)
    if gridmap is None:
        ctx.reply(ctx._(NO_MAP_YET))
        return
    try:
        report = await submit_report(
            ctx.uow,
            reporter=ctx.account.id,
            category_code=data["cat"],
            location=loc,
            photos=[
                ReportPhoto(sha256=p["key"], phash=p["phash"], width=p["w"], height=p["h"])
                for p in data["photos"]
            ],
            note=data["note"],
            now=ctx.now,
            catalogue=ctx.env.catalogue,
            gridmap=gridmap,
            zone=ctx.env.zone,
        )
    except (OutsideServiceArea, UnknownCategoryError):
        # The map or catalogue changed under the rider; ask again for what is now wrong.
        ctx.reply(ctx._("Something about this report changed; please check it again."))
        data.update(loc=None, cat=None, note=None, dups=[])
        await _advance(ctx)
        return
    await alert_new_report(ctx.uow, ctx.env, report)  # commits with the case, or neither
    ctx.drop_choices()
    ack = ctx.env.catalogue.get(report.category_code).ack_minutes
    ctx.state.clear()
    route = gridmap.route(loc.lat, loc.lon)
    ctx.reply(ui.submitted_text(ctx, report, route, ack), remove_keyboard=True)


# A handler takes the payload class its entry is keyed by (ReportStep for a step).
ButtonHandler = Callable[[Context, Any], Awaitable[None]]


def _button_key(pressed: Payload) -> ui.Step | type[Payload]:
    return pressed.step if isinstance(pressed, ui.ReportStep) else type(pressed)


# A step button by its step, any other by its payload class → (steps where it is live, handler)
_BUTTONS: dict[ui.Step | type[Payload], tuple[frozenset[str], ButtonHandler]] = {
    ui.PickCategory: (frozenset({"category"}), _choose_category),
    ui.Step.MORE: (frozenset({"category"}), _show_classes),
    ui.Step.TOP: (frozenset({"category"}), _show_popular),
    ui.OpenClass: (frozenset({"category"}), _show_class),
    ui.Step.SKIP: (frozenset({"note"}), _skip_note),
    ui.Step.EDIT: (frozenset({"confirm"}), _edit),
    ui.Step.CANCEL: (frozenset({"confirm"}), _cancel),
    ui.FollowReport: (frozenset({"confirm"}), _follow),
    ui.Step.SUBMIT: (frozenset({"confirm"}), _submit),
}


# -- wiring ----------------------------------------------------------------------------


def setup(registry: Registry) -> None:
    flow = ReportFlow()

    async def start(ctx: Context) -> None:
        await flow.begin(ctx)

    registry.flow(flow)
    registry.command(Command("report", start, N_("Report a problem")))
    for kind in (Kind.PHOTO, Kind.DOCUMENT, Kind.LOCATION):
        registry.fallback(kind, start)
