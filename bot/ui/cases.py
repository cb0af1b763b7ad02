"""A case's buttons, as an alert and /case offer them to grid staff.

``w:<verb>:<report id>:<version>`` acts; ``w:rr:<report>:<version>:<reason>`` returns with a
reason; ``w:tg:<report>:<version>:<grid id>`` transfers; ``w:open:<report>`` shows a case.
The version is the one the button was made for: a press after the case moved on is refused
(``cases.act`` checks it and the presser's roles). Here, not in ``bot.services.alerts``, so
the service says which actions apply and no service owns a button prefix.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from bot.chat import Keyboard, choices
from bot.domain.lifecycle import Action
from bot.domain.model import Report
from bot.i18n import N_, Translator
from bot.ui.payloads import Id, Payload

ROUTE = "w"


class Verb(enum.StrEnum):
    ACCEPT = "acc"
    RESOLVE = "res"
    RETURN = "ret"
    TRANSFER = "tr"
    BACK = "back"  # from a list of reasons or grids back to the case's buttons


class Reason(enum.StrEnum):
    GRID = "grid"
    FAKE = "fake"
    DUPLICATE = "dup"


class CasePress(Payload, prefix=ROUTE):
    verb: Verb
    report_id: Id
    version: Id


class ReturnWith(Payload, prefix=f"{ROUTE}:rr"):
    report_id: Id
    version: Id
    reason: Reason


class TransferTo(Payload, prefix=f"{ROUTE}:tg"):
    report_id: Id
    version: Id
    grid_id: Id


class OpenCase(Payload, prefix=f"{ROUTE}:open"):
    report_id: Id


CasePayload = CasePress | ReturnWith | TransferTo | OpenCase

# The buttons a case can carry, in the order they are shown.
CASE_BUTTONS: dict[Action, tuple[Verb, str]] = {
    Action.ACCEPT: (Verb.ACCEPT, N_("Accept")),
    Action.RESOLVE: (Verb.RESOLVE, N_("Resolve")),
    Action.RETURN: (Verb.RETURN, N_("Return")),
    Action.TRANSFER: (Verb.TRANSFER, N_("Transfer")),
}


def press(verb: Verb, report: Report) -> CasePress:
    return CasePress(verb=verb, report_id=report.id, version=report.version)


def return_with(report: Report, reason: Reason) -> ReturnWith:
    return ReturnWith(report_id=report.id, version=report.version, reason=reason)


def transfer_to(report: Report, grid_id: int) -> TransferTo:
    return TransferTo(report_id=report.id, version=report.version, grid_id=grid_id)


def case_choices(
    t: Translator, report: Report, actions: Iterable[Action]
) -> list[list[tuple[str, Payload]]]:
    """One row with a button per action of ``actions`` that has one; no rows for none."""
    offered = set(actions)
    row: list[tuple[str, Payload]] = [
        (t._(label), press(verb, report))
        for action, (verb, label) in CASE_BUTTONS.items()
        if action in offered
    ]
    return [row] if row else []


def case_keyboard(t: Translator, report: Report, actions: Iterable[Action]) -> Keyboard | None:
    """``case_choices`` as the keyboard an alert carries, or None for none."""
    rows = case_choices(t, report, actions)
    return choices(rows) if rows else None
