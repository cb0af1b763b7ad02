"""Status pushes: after every transition of a case, tell whoever the lifecycle names.

``status_changed`` is called by ``bot.services.cases.act`` inside the acting unit of work,
so the pushes are outbox rows that commit with the status change or not at all. Each
recipient reads the message in their own language. The person who acted is never told
here: the flow that took their action already answered them, and telling them twice is
noise. After Resolve the reporter also gets the after-photo and the "Fixed?" buttons.
The worker who held the case (``Audience.HOLDER``) is the one who held it *before* the
transition — a transfer or return lets go of them — so ``cases.act`` passes them in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.chat import Outgoing, OutKind, choices
from bot.domain.companies import company_label
from bot.domain.lifecycle import Action, Actor, Audience, Decision
from bot.domain.model import Account, InformantProfile, Report, RoleName
from bot.i18n import N_, Translator, translator
from bot.services.alerts import alert_reopened
from bot.ui.approvals import ApplicationDecision, approval_choices
from bot.ui.feedback import feedback_keyboard

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)


# One line per action, the same for every audience; {number} is the report number.
HEADLINES: dict[Action, str] = {
    Action.DISPATCH: N_("Report {number} ({category}) was sent to the grid workers."),
    Action.ACCEPT: N_("Report {number} ({category}) was accepted by a grid worker."),
    Action.RESOLVE: N_("Report {number} ({category}) was marked as fixed."),
    Action.CLOSE: N_("Report {number} ({category}) was closed."),
    Action.CONFIRM: N_("Report {number} ({category}) was confirmed fixed by the reporter."),
    Action.REOPEN: N_(
        "Report {number} ({category}) was reopened: the reporter says it is not fixed."
    ),
    Action.RETURN: N_("Report {number} ({category}) was returned to the community."),
    Action.TRANSFER: N_("Report {number} ({category}) was transferred to another grid."),
    Action.REDISPATCH: N_("Report {number} ({category}) was sent to a grid again."),
    Action.MERGE: N_("Report {number} ({category}) was merged into another report."),
    Action.REJECT: N_("Report {number} ({category}) was rejected."),
    Action.CANCEL: N_("Report {number} ({category}) was cancelled by the reporter."),
    Action.ESCALATE: N_("Report {number} ({category}) was escalated."),
}
# A merge names the report it went into, which its riders now follow (cases.act subscribes
# them); the headline above is kept for an original that can no longer be found.
MERGED_INTO = N_(
    "Report {number} ({category}) is a duplicate of report {original} and was merged into "
    "it. You will hear here how report {original} goes."
)

# Actions after which cases.act itself alerts the (new) grid with the actionable alert.
ALERTED_BY_CASES = frozenset({Action.DISPATCH, Action.TRANSFER, Action.REDISPATCH})
_GRID = frozenset({Audience.GRID_WORKERS, Audience.GRID_LEADER})

_STAFF_ROLES: dict[Audience, RoleName] = {
    Audience.GRID_WORKERS: RoleName.GRID_WORKER,
    Audience.GRID_LEADER: RoleName.GRID_LEADER,
    Audience.COMMUNITY_ADMIN: RoleName.COMMUNITY_ADMIN,
    Audience.STREET_ADMIN: RoleName.STREET_ADMIN,
}


async def status_changed(
    uow: BaseUnitOfWork,
    env: Env,
    *,
    report: Report,
    decision: Decision,
    actor: Actor,
    holder_id: int | None = None,
) -> None:
    """Queue the pushes for one transition of ``report`` (already saved, new status);
    ``holder_id`` is who held the case before it (see ``cases.holder_id``)."""
    told: set[int] = set() if actor.account_id is None else {actor.account_id}
    original = await merged_into(uow, report, decision)
    audiences = decision.notify
    if decision.action in ALERTED_BY_CASES:
        audiences -= _GRID  # cases.act sends these the full alert with buttons instead
    elif decision.action is Action.REOPEN:
        # The workers get the alert again, headed "reopened"; the leader hears of it.
        audiences -= {Audience.GRID_WORKERS}
    for audience, account in await recipients(uow, report, audiences, holder_id=holder_id):
        if account.id in told or not account.chat_id:
            continue  # the actor, someone already told, or a rider who deleted their data
        told.add(account.id)
        t = translator(account.locale, env.zone)
        composed = compose(
            t, env, account, audience, report=report, decision=decision, original=original
        )
        for message in composed:
            await uow.outbox.add(message)
    if decision.action is Action.REOPEN:
        # Back with its holder (or on the grid's desk): the alert with its buttons again.
        reason = decision.data.get("reason")
        await alert_reopened(uow, env, report, reason=reason if isinstance(reason, str) else None)


async def merged_into(uow: BaseUnitOfWork, report: Report, decision: Decision) -> str | None:
    """On a merge, the number of the report the case went into; otherwise None."""
    if decision.action is not Action.MERGE or report.merged_into_id is None:
        return None
    original = await uow.reports.get(report.merged_into_id)
    return original.number if original is not None else None


async def recipients(
    uow: BaseUnitOfWork,
    report: Report,
    audiences: Iterable[Audience],
    *,
    holder_id: int | None = None,
) -> list[tuple[Audience, Account]]:
    """Who each audience is for this report, riders first, then the worker who held it,
    then the staff roles, in a stable order."""
    wanted = set(audiences)
    found: list[tuple[Audience, Account]] = []
    if Audience.REPORTER in wanted:
        reporter = await uow.accounts.get(report.reporter_id)
        found += [(Audience.REPORTER, reporter)] if reporter else []
    if Audience.SUBSCRIBERS in wanted:
        found += [(Audience.SUBSCRIBERS, a) for a in await uow.reports.subscribers(report.id)]
    if Audience.HOLDER in wanted and holder_id is not None:
        holder = await uow.accounts.get(holder_id)
        found += [(Audience.HOLDER, holder)] if holder else []
    staff = [a for a in _STAFF_ROLES if a in wanted]
    if staff and report.grid_id is not None:
        region_ids = [node.id for node in await uow.regions.ancestors(report.grid_id)]
        for audience in staff:
            holders = await uow.roles.holders(_STAFF_ROLES[audience], region_ids)
            found += [(audience, account) for account in holders]
    return found


def compose(
    t: Translator,
    env: Env,
    account: Account,
    audience: Audience,
    *,
    report: Report,
    decision: Decision,
    original: str | None = None,
) -> list[Outgoing]:
    """The messages one recipient gets for one transition, in ``t``'s language;
    ``original`` is the number of the report a merged case went into."""
    text = "\n".join(_lines(t, env, report, decision, original))
    if audience is Audience.COMMUNITY_ADMIN and decision.action is Action.RETURN:
        text += "\n" + t._("Send /returned to re-dispatch or reject it.")
    photo = after_photo(report, decision) if decision.action is Action.RESOLVE else None
    keyboard = None
    if audience is Audience.REPORTER and decision.action is Action.RESOLVE:
        text += "\n\n" + t._("Is it fixed?")
        keyboard = feedback_keyboard(t, report.id)
    return [
        Outgoing(
            platform=account.platform,
            chat_id=account.chat_id,
            kind=OutKind.PHOTO if photo else OutKind.TEXT,
            text=text,
            photo=photo,
            keyboard=keyboard,
        )
    ]


def after_photo(report: Report, decision: Decision) -> str | None:
    """The store key of the worker's proof of fix: the one given with this action, else the
    newest "after" photo of the case."""
    given = decision.data.get("photo")
    if isinstance(given, str) and given:
        return given
    after = [p.sha256 for p in report.photos if p.kind == "after"]
    return after[-1] if after else None


def _lines(
    t: Translator, env: Env, report: Report, decision: Decision, original: str | None
) -> list[str]:
    headline = HEADLINES.get(decision.action, N_("Report {number} ({category}) changed."))
    if decision.action is Action.MERGE and original is not None:
        headline = MERGED_INTO
    category = env.catalogue.name(report.category_code, t.locale)
    lines = [t._(headline).format(number=report.number, category=category, original=original)]
    data = decision.data
    if note := data.get("note"):
        lines.append(t._("Note: {note}").format(note=note))
    if reason := data.get("reason"):
        # Chosen reasons are stored as their English source; a rider's own words pass through.
        lines.append(t._("Reason: {reason}").format(reason=t._(reason)))
    if (rating := data.get("rating")) is not None:
        lines.append(t._("Rating: {rating}/5").format(rating=rating))
    return lines


# -- informant applications -----------------------------------------------------------------

# Who reviews a rider's application: the community's admins, else the street's, else the city's.
_REVIEWERS = (RoleName.COMMUNITY_ADMIN, RoleName.STREET_ADMIN, RoleName.CITY_ADMIN)


async def application_submitted(
    uow: BaseUnitOfWork, env: Env, *, account: Account, profile: InformantProfile
) -> int:
    """Ask the admins of the rider's community to approve or reject; return how many were
    asked. Name and company only: the phone number stays with the application."""
    if profile.home_region_id is None:
        return 0  # no community chosen: the operators decide through `gridsnap informants`
    chain = await uow.regions.ancestors(profile.home_region_id)
    reviewers: list[Account] = []
    for role in _REVIEWERS:
        reviewers = [a for a in await uow.roles.holders(role, [n.id for n in chain]) if a.chat_id]
        if reviewers:
            break
    for reviewer in reviewers:
        t = translator(reviewer.locale, env.zone)
        text = t._(
            "New grid informant registration in {community}: {name} ({company}). Approve or reject?"
        ).format(
            community=chain[0].name if chain else "?",
            name=profile.real_name,
            company=company_label(profile.company, t._),
        )
        keyboard = choices(approval_choices(t, ApplicationDecision, account.id))
        await uow.outbox.add(
            Outgoing(
                platform=reviewer.platform, chat_id=reviewer.chat_id, text=text, keyboard=keyboard
            )
        )
    return len(reviewers)
