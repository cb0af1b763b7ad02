"""Approve / Reject of an application, as its reviewers get it.

``ia:<ok|no>:<account id>`` decides a rider's informant registration (sent by
``bot.services.notify``); ``va:<ok|no>:<account id>`` a volunteer registration (sent by
``bot.services.volunteers``). The handlers check the presser's scope and the application's
state again on press. Here, not in the services, so no service owns a button prefix.
"""

from __future__ import annotations

import enum

from bot.chat import Choices
from bot.i18n import N_, Translator
from bot.ui.payloads import Id, Payload

APPLICATION_ROUTE = "ia"
VOLUNTEER_ROUTE = "va"


class Approval(enum.StrEnum):
    APPROVE = "ok"
    REJECT = "no"


LABELS = {Approval.APPROVE: N_("Approve"), Approval.REJECT: N_("Reject")}


class ApplicationDecision(Payload, prefix=APPLICATION_ROUTE):
    """A rider's grid informant registration."""

    approval: Approval
    account_id: Id


class VolunteerDecision(Payload, prefix=VOLUNTEER_ROUTE):
    """A volunteer registration (双报到)."""

    approval: Approval
    account_id: Id


def approval_choices(
    t: Translator, decision: type[ApplicationDecision | VolunteerDecision], account_id: int
) -> Choices:
    """One row: Approve, Reject, for ``account_id``'s application."""
    return [
        [
            (t._(label), decision(approval=approval, account_id=account_id))
            for approval, label in LABELS.items()
        ]
    ]
