"""Party membership declarations (亮身份): what a rider declares, and its review.

Party membership is sensitive personal information: a declaration is collected only
after its own consent, holds only what the community party organisation needs to verify
it, and is shown to nobody but the rider and that organisation (``RoleName.PARTY_SECRETARY``
on the declared community).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime

# The Communist Party of China was founded in 1921: no one joined before.
FIRST_YEAR = 1921
ORGANISATION_MAX = 100
QUESTION_MAX = 300


class Standing(enum.StrEnum):
    FORMAL = "formal"  # 正式党员
    PROBATIONARY = "probationary"  # 预备党员


class DeclarationStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the community party organisation
    VERIFIED = "verified"
    NEEDS_DETAILS = "needs_details"  # the organisation asked a question; the rider corrects
    DECLINED = "declined"


class Verdict(enum.StrEnum):
    """What the party organisation decides (its values are what the decision buttons carry)."""

    VERIFY = "ok"
    ASK = "ask"
    DECLINE = "no"

    @property
    def status(self) -> DeclarationStatus:
        return _VERDICT_STATUS[self]


_VERDICT_STATUS = {
    Verdict.VERIFY: DeclarationStatus.VERIFIED,
    Verdict.ASK: DeclarationStatus.NEEDS_DETAILS,
    Verdict.DECLINE: DeclarationStatus.DECLINED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyDeclaration:
    account_id: int
    standing: Standing
    organisation: str  # 组织关系所在党组织, as the rider wrote it
    year_joined: int
    community_id: int  # whose party organisation the rider reports to
    status: DeclarationStatus
    consent_version: str
    consented_at: datetime
    submitted_at: datetime
    # Bumped on every submission, so a decision button made for an earlier one is stale;
    # a first submission starts at ``first_revision()``.
    revision: int = 1
    decided_at: datetime | None = None
    decided_by: int | None = None
    question: str = ""  # what the organisation asked, while NEEDS_DETAILS
    show_badge: bool = False  # the rider's choice: a 党员 badge on their own views only

    @property
    def verified(self) -> bool:
        return self.status is DeclarationStatus.VERIFIED


# A withdrawn declaration leaves no row behind (nothing of it is kept), so a declaration
# made after it cannot count on from the old revision. Starting each first submission at a
# random point keeps an old decision button (pmd:ok:<id>:<revision>) from matching the new
# declaration; the room above the start keeps resubmissions inside a 32-bit column.
_REVISION_STARTS = 2**30


def first_revision() -> int:
    """The revision of a declaration submitted where none is stored: a fresh nonce."""
    return secrets.randbelow(_REVISION_STARTS) + 1


def year_is_plausible(year: int, *, this_year: int) -> bool:
    return FIRST_YEAR <= year <= this_year


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunityCount:
    """Aggregate counts for one community: never names."""

    community_id: int
    declared: int  # every stored declaration, whatever its status
    verified: int
