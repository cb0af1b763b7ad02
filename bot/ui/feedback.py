"""The rider's "Fixed?" buttons, sent by ``bot.services.notify`` after a Resolve and handled by
``handlers.feedback``: 👍 ``fb:ok:<report>``, 👎 ``fb:no:<report>``, then the rating
``fb:rate:<report>:<stars>``. Whether the presser is the reporter and the case still
resolved, the handler checks; here only the shape."""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import Field

from bot.chat import Keyboard, choices
from bot.domain.lifecycle import RATING_RANGE
from bot.i18n import Translator
from bot.ui.payloads import Id, Payload

ROUTE = "fb"


class Verdict(enum.StrEnum):
    FIXED = "ok"
    NOT_FIXED = "no"


class Answer(Payload, prefix=ROUTE):
    verdict: Verdict
    report_id: Id


class Rate(Payload, prefix=f"{ROUTE}:rate"):
    report_id: Id
    stars: Annotated[Id, Field(ge=min(RATING_RANGE), le=max(RATING_RANGE))]


def fixed_label(t: Translator) -> str:
    return "👍 " + t._("Fixed")


def not_fixed_label(t: Translator) -> str:
    return "👎 " + t._("Not fixed")


def feedback_keyboard(t: Translator, report_id: int) -> Keyboard:
    """👍 / 👎 under the message that says the case was resolved."""
    return choices(
        [
            [
                (fixed_label(t), Answer(verdict=Verdict.FIXED, report_id=report_id)),
                (not_fixed_label(t), Answer(verdict=Verdict.NOT_FIXED, report_id=report_id)),
            ]
        ]
    )
