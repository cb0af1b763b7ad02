"""How a case's history reads to a person, in their language (used by /case and /myreports).

Chosen reasons are stored as their English source and translated when shown; free text a
person wrote (a note, a rider's own reason) passes through gettext unchanged. Escalations
store a code (``ack_overdue``), shown as its text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.lifecycle import Action
from bot.i18n import N_
from bot.services.escalation import REASON_TEXTS
from handlers.base import Context

ACTION_NAMES: dict[str, str] = {
    Action.SUBMIT: N_("submitted"),
    Action.DISPATCH: N_("dispatched to the grid"),
    Action.ACCEPT: N_("accepted"),
    Action.RESOLVE: N_("resolved"),
    Action.CLOSE: N_("closed"),
    Action.CONFIRM: N_("confirmed fixed"),
    Action.REOPEN: N_("reopened: not fixed"),
    Action.RETURN: N_("returned"),
    Action.TRANSFER: N_("transferred"),
    Action.REDISPATCH: N_("dispatched again"),
    Action.MERGE: N_("merged as a duplicate"),
    Action.REJECT: N_("rejected"),
    Action.CANCEL: N_("cancelled"),
    Action.ESCALATE: N_("escalated"),
}


def action_name(ctx: Context, action: str) -> str:
    source = ACTION_NAMES.get(action)
    return ctx._(source) if source else action


def event_detail(ctx: Context, data: Mapping[str, Any]) -> str:
    """The note as written, else the reason in the reader's language."""
    if (note := data.get("note")) and isinstance(note, str):
        return note
    return reason_text(ctx, data.get("reason"))


def reason_text(ctx: Context, reason: object) -> str:
    # gettext("") would return the catalogue header, so an empty reason stays empty.
    if not isinstance(reason, str) or not reason:
        return ""
    return ctx._(REASON_TEXTS.get(reason, reason))
