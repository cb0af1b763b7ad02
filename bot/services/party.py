"""Party membership (亮身份): declare, verify, withdraw, badge, and aggregate counts.

A registered rider declares their membership to the party organisation of one community;
the holders of ``RoleName.PARTY_SECRETARY`` on that community, and nobody else, get the
declaration with Verify / Ask for details / Decline. Everything a decision changes and the
rider's notice commit together in the caller's unit of work. Case staff never read a
declaration: only ``stats`` (counts per community and street) reaches admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.chat import Choices, Outgoing, choices
from bot.domain.model import Account, InformantProfile, InformantStatus, Level, RegionNode, RoleName
from bot.domain.party import (
    CommunityCount,
    DeclarationStatus,
    PartyDeclaration,
    Standing,
    Verdict,
)
from bot.i18n import N_, Translator, translator
from bot.ui.party import decision_choices

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.ports import BaseUnitOfWork

CONSENT_VERSION = "2026-12"

STANDING_NAMES: dict[Standing, str] = {
    Standing.FORMAL: N_("formal member"),
    Standing.PROBATIONARY: N_("probationary member"),
}
STATUS_NAMES: dict[DeclarationStatus, str] = {
    DeclarationStatus.PENDING: N_("waiting for verification"),
    DeclarationStatus.VERIFIED: N_("verified"),
    DeclarationStatus.NEEDS_DETAILS: N_("more details asked for"),
    DeclarationStatus.DECLINED: N_("not verified"),
}
BADGE = N_("Party member")
# Who may read the aggregate counts in chat, each for the communities under their grants.
ADMIN_ROLES = frozenset({RoleName.COMMUNITY_ADMIN, RoleName.STREET_ADMIN, RoleName.CITY_ADMIN})


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """What the rider's flow collected."""

    standing: Standing
    organisation: str
    year_joined: int
    community_id: int


async def declarant(uow: BaseUnitOfWork, account_id: int) -> InformantProfile | None:
    """The rider's registration when they may declare: registered and not rejected."""
    profile = await uow.informants.get(account_id)
    if profile is None or profile.status is InformantStatus.REJECTED:
        return None
    return profile


async def work_community(uow: BaseUnitOfWork, profile: InformantProfile) -> RegionNode | None:
    """The community of the rider's work area: the default for a declaration."""
    if profile.home_region_id is None:
        return None
    chain = await uow.regions.ancestors(profile.home_region_id)
    return next((node for node in chain if node.level is Level.COMMUNITY), None)


async def declare(
    uow: BaseUnitOfWork,
    env: Env,
    account: Account,
    draft: Draft,
    *,
    now: datetime,
    consented_at: datetime,
) -> tuple[PartyDeclaration, int]:
    """Store the declaration as waiting for verification (replacing an earlier one) and send
    it to the community's party organisation; returns it and how many were asked."""
    declaration = await uow.party.submit(
        PartyDeclaration(
            account_id=account.id,
            standing=draft.standing,
            organisation=draft.organisation,
            year_joined=draft.year_joined,
            community_id=draft.community_id,
            status=DeclarationStatus.PENDING,
            consent_version=CONSENT_VERSION,
            consented_at=consented_at,
            submitted_at=now,
        )
    )
    return declaration, await ask_secretaries(uow, env, declaration)


async def secretaries(uow: BaseUnitOfWork, community_id: int) -> list[Account]:
    """Who verifies declarations to this community: its party organisation's accounts."""
    holders = await uow.roles.holders(RoleName.PARTY_SECRETARY, [community_id])
    return [a for a in holders if a.chat_id]


async def ask_secretaries(uow: BaseUnitOfWork, env: Env, declaration: PartyDeclaration) -> int:
    asked = await secretaries(uow, declaration.community_id)
    for secretary in asked:
        t = translator(secretary.locale, env.zone)
        text, rows = await decision_request(uow, t, declaration)
        await uow.outbox.add(
            Outgoing(
                platform=secretary.platform,
                chat_id=secretary.chat_id,
                text=text,
                keyboard=choices(rows),
            )
        )
    return len(asked)


async def decision_request(
    uow: BaseUnitOfWork, t: Translator, declaration: PartyDeclaration
) -> tuple[str, Choices]:
    """The declaration as its party organisation reads it, with the decision choices. Name
    and company from the registration; the phone number stays with the registration."""
    profile = await uow.informants.get(declaration.account_id)
    community = await uow.regions.get_by_id(declaration.community_id)
    text = t._(
        "Party membership declaration to {community}:\nName: {name} ({company})\n"
        "{details}\nPlease verify it."
    ).format(
        community=community.name if community else "?",
        name=profile.real_name if profile else "?",
        company=profile.company if profile else "?",
        details=details(t, declaration),
    )
    return text, decision_choices(t, declaration)


def details(t: Translator, declaration: PartyDeclaration | Draft) -> str:
    return t._(
        "Standing: {standing}\nParty organisation: {organisation}\nYear joined: {year}"
    ).format(
        standing=t._(STANDING_NAMES[declaration.standing]),
        organisation=declaration.organisation,
        year=declaration.year_joined,
    )


async def may_decide(uow: BaseUnitOfWork, account_id: int, declaration: PartyDeclaration) -> bool:
    """Only the party organisation of the declared community: a party secretary role on
    that very community (the role is granted on communities only)."""
    return any(
        g.role is RoleName.PARTY_SECRETARY and g.region_id == declaration.community_id
        for g in await uow.roles.for_account(account_id)
    )


async def secretary_communities(uow: BaseUnitOfWork, account_id: int) -> list[int]:
    grants = await uow.roles.for_account(account_id)
    return sorted({g.region_id for g in grants if g.role is RoleName.PARTY_SECRETARY})


async def decide(
    uow: BaseUnitOfWork,
    env: Env,
    declaration: PartyDeclaration,
    verdict: Verdict,
    *,
    by: int,
    now: datetime,
    question: str = "",
) -> PartyDeclaration:
    """Record the organisation's verdict and tell the rider in their language. The caller
    has checked ``may_decide``; raises ``ConcurrentUpdate`` when ``declaration`` was decided
    or resubmitted meanwhile."""
    decided = await uow.party.decide(
        declaration.account_id,
        verdict.status,
        revision=declaration.revision,
        by=by,
        at=now,
        question=question,
    )
    rider = await uow.accounts.get(declaration.account_id)
    if rider is not None and rider.chat_id:
        community = await uow.regions.get_by_id(declaration.community_id)
        t = translator(rider.locale, env.zone)
        text = outcome_text(t, decided, community.name if community else "")
        await uow.outbox.add(Outgoing(platform=rider.platform, chat_id=rider.chat_id, text=text))
    return decided


def outcome_text(t: Translator, declaration: PartyDeclaration, community: str) -> str:
    if declaration.status is DeclarationStatus.VERIFIED:
        return t._(
            "Your party membership was verified by the party organisation of {community}. "
            "Send /party if you want a party member badge on your own /points and /myreports; "
            "grid workers never see it."
        ).format(community=community)
    if declaration.status is DeclarationStatus.NEEDS_DETAILS:
        return t._(
            "The party organisation of {community} asks for more details about your party "
            "membership declaration:\n{question}\nSend /party to correct it, or to withdraw it."
        ).format(community=community, question=declaration.question)
    return t._(
        "The party organisation of {community} could not verify your party membership "
        "declaration. Send /party to correct it, or to withdraw it."
    ).format(community=community)


async def shows_badge(uow: BaseUnitOfWork, account_id: int) -> bool:
    """Whether the rider's own views carry the badge: verified, and chosen by the rider."""
    declaration = await uow.party.get(account_id)
    return declaration is not None and declaration.verified and declaration.show_badge


def badge(t: Translator) -> str:
    return "🏅 " + t._(BADGE)


async def badge_line(uow: BaseUnitOfWork, t: Translator, account_id: int) -> str | None:
    """The badge for the rider's own /points or /myreports, or None."""
    return badge(t) if await shows_badge(uow, account_id) else None


# -- aggregate counts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CountRow:
    street: str
    community: str  # empty on a street's subtotal row
    declared: int
    verified: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyStats:
    communities: list[CountRow]
    streets: list[CountRow]
    declared: int
    verified: int


async def communities_under(uow: BaseUnitOfWork, region_id: int) -> set[int]:
    """The communities at or below ``region_id``."""
    found: set[int] = set()
    pending = [region_id]
    while pending:
        node = await uow.regions.get_by_id(pending.pop())
        if node is None:
            continue
        if node.level is Level.COMMUNITY:
            found.add(node.id)
        elif node.level.depth < Level.COMMUNITY.depth:
            pending += [child.id for child in await uow.regions.children(node.id)]
    return found


async def visible_communities(uow: BaseUnitOfWork, account_id: int) -> set[int] | None:
    """The communities whose counts this admin may see (their grants' subtrees); None when
    they hold no admin role."""
    grants = [g for g in await uow.roles.for_account(account_id) if g.role in ADMIN_ROLES]
    if not grants:
        return None
    found: set[int] = set()
    for grant in grants:
        found |= await communities_under(uow, grant.region_id)
    return found


async def stats(uow: BaseUnitOfWork, scope: set[int] | None = None) -> PartyStats:
    """Declared and verified counts per community and per street, limited to the
    communities in ``scope`` (all when None). Counts only: never who."""
    counts = [c for c in await uow.party.counts() if scope is None or c.community_id in scope]
    rows = [await _row(uow, c) for c in counts]
    rows.sort(key=lambda r: (r.street, r.community))
    streets: dict[str, list[int]] = {}
    for row in rows:
        total = streets.setdefault(row.street, [0, 0])
        total[0] += row.declared
        total[1] += row.verified
    return PartyStats(
        communities=rows,
        streets=[
            CountRow(street=s, community="", declared=d, verified=v)
            for s, (d, v) in sorted(streets.items())
        ],
        declared=sum(r.declared for r in rows),
        verified=sum(r.verified for r in rows),
    )


async def _row(uow: BaseUnitOfWork, count: CommunityCount) -> CountRow:
    community = await uow.regions.get_by_id(count.community_id)
    street = (
        await uow.regions.get_by_id(community.parent_id)
        if community and community.parent_id
        else None
    )
    return CountRow(
        street=street.name if street and street.level is Level.STREET else "",
        community=community.name if community else str(count.community_id),
        declared=count.declared,
        verified=count.verified,
    )
