"""``/points`` (the balance and the newest ledger lines), ``/rank`` (leaderboards of the
rider's community and street, display names only, with a button to leave or rejoin them)
and ``/volunteerstats`` (volunteers, tasks and hours in an admin's area)."""

from __future__ import annotations

from typing import Literal

from bot.domain.lifecycle import Action
from bot.domain.points import OPENING_REASON, SERVICE_REASON
from bot.i18n import N_
from bot.services import party, points, volunteers
from bot.ui.payloads import Payload
from handlers.base import Command, Context
from handlers.registry import Registry

ENTRIES_SHOWN = 5
RANK_ROUTE = "rk"


class Visibility(Payload, prefix=RANK_ROUTE):
    """/rank's toggle: ``rk:hide`` leaves the leaderboards, ``rk:show`` rejoins them."""

    choice: Literal["hide", "show"]


# What a ledger reason means to the rider.
REASONS = {
    Action.ACCEPT.value: N_("report accepted"),
    Action.RESOLVE.value: N_("report resolved"),
    Action.CONFIRM.value: N_("fix confirmed"),
    Action.MERGE.value: N_("duplicate report"),
    Action.REJECT.value: N_("report rejected"),
    SERVICE_REASON: N_("volunteer service"),
    OPENING_REASON: N_("earlier balance"),
}


def setup(registry: Registry) -> None:
    registry.command(Command("points", show_points, N_("Your points")))
    registry.command(Command("rank", show_rank, N_("Leaderboards of your community and street")))
    registry.command(
        Command("volunteerstats", show_stats, N_("Volunteers, tasks and hours (admins)"))
    )
    registry.button(RANK_ROUTE, on_visibility)


async def show_points(ctx: Context) -> None:
    entries = await ctx.uow.points.entries(ctx.account.id, limit=ENTRIES_SHOWN)
    known = entries or await ctx.uow.informants.get(ctx.account.id)
    if not known and await ctx.uow.volunteers.get(ctx.account.id) is None:
        ctx.reply(
            ctx._(
                "You have no points yet. Send /register to report hazards, "
                "or /volunteer to offer volunteer service."
            )
        )
        return
    balance = await ctx.uow.points.balance(ctx.account.id)
    lines = [ctx._("You have {points} points.").format(points=balance)]
    if badge := await party.badge_line(ctx.uow, ctx.t, ctx.account.id):
        lines.insert(0, badge)  # the rider's own choice, shown to them alone
    if entries:
        lines.append(ctx._("Recent awards:"))
    for entry in entries:
        reason = REASONS.get(entry.reason)
        line = f"{entry.points:+d} · {ctx._(reason) if reason else entry.reason}"
        report = await ctx.uow.reports.get(entry.report_id) if entry.report_id else None
        task = await ctx.uow.tasks.get(entry.task_id) if entry.task_id else None
        line += f" · {report.number}" if report else ""
        line += f" · {task.title}" if task else ""
        lines.append(line + f" · {ctx.t.datetime(entry.at)}")
    ctx.reply("\n".join(lines))


async def my_data_lines(ctx: Context, *, always: bool) -> list[str]:
    """The balance and the leaderboard choice as ``/mydata`` lists them; the balance for
    anyone with ledger lines (a volunteer need not be an informant), or ``always``."""
    lines: list[str] = []
    if always or await ctx.uow.points.entries(ctx.account.id, limit=1):
        balance = await ctx.uow.points.balance(ctx.account.id)
        lines.append(ctx._("Points: {points}").format(points=balance))
    if await ctx.uow.points.hidden(ctx.account.id):
        lines.append(ctx._("You chose not to be shown on the leaderboards."))
    return lines


async def show_rank(ctx: Context) -> None:
    community = await points.home_community(ctx.uow, ctx.account.id)
    if community is None:
        ctx.reply(
            ctx._("Leaderboards are per community: send /register or /volunteer to join one.")
        )
        return
    parts = []
    for board in await points.leaderboards(ctx.uow, community):
        lines = [ctx._("Leaderboard of {area}:").format(area=board.region.name)]
        lines += [
            f"{place}. {line.display_name} · {line.points}"
            for place, line in enumerate(board.lines, 1)
        ] or [ctx._("No points earned here yet.")]
        parts.append("\n".join(lines))
    hidden = await ctx.uow.points.hidden(ctx.account.id)
    toggle = (
        (ctx._("Show me on the leaderboards"), Visibility(choice="show"))
        if hidden
        else (ctx._("Hide me from the leaderboards"), Visibility(choice="hide"))
    )
    ctx.choose("\n\n".join(parts), [[toggle]])


async def on_visibility(ctx: Context) -> None:
    pressed = ctx.pressed
    if not isinstance(pressed, Visibility):
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    hide = pressed.choice == "hide"
    await ctx.uow.points.set_hidden(ctx.account.id, hide)
    ctx.ack()
    ctx.drop_choices()
    ctx.reply(
        ctx._("You are no longer shown on the leaderboards.")
        if hide
        else ctx._("You are shown on the leaderboards again.")
    )


async def show_stats(ctx: Context) -> None:
    grants = [
        g for g in await ctx.uow.roles.for_account(ctx.account.id) if g.role in volunteers.DECIDERS
    ]
    if not grants:
        ctx.reply(ctx._("This is for community, street and city admins."))
        return
    lines: list[str] = []
    seen: set[int] = set()
    for grant in grants:
        for row in await volunteers.statistics(ctx.uow, under=grant.region_id):
            if row.region.id in seen:
                continue
            seen.add(row.region.id)
            lines.append(
                ctx._(
                    "{area}: {volunteers} volunteers ({pending} waiting), {tasks} tasks, "
                    "{signups} sign-ups, {hours} h confirmed"
                ).format(
                    area=row.region.name,
                    volunteers=row.volunteers,
                    pending=row.pending,
                    tasks=row.tasks,
                    signups=row.signups,
                    hours=f"{row.hours:g}",
                )
            )
    ctx.reply("\n".join(lines) or ctx._("No communities in your area."))
