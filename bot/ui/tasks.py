"""A service task's buttons (``tk:<verb>:<id>``), sent by ``bot.services.volunteers`` and
``handlers.tasks``: a matching volunteer signs up for a task (``tk:up:<task>``), checks in
during it (``tk:in:<task>``), and its organiser confirms the hours (``tk:ok:<sign-up>``).
Every press is checked again by the service. Here, so no service owns a button prefix.
"""

from __future__ import annotations

import enum

from bot.chat import Choices
from bot.i18n import N_, Translator
from bot.ui.payloads import Id, Payload

ROUTE = "tk"


class TaskVerb(enum.StrEnum):
    SIGN_UP = "up"  # the task's id
    CHECK_IN = "in"  # the task's id
    CONFIRM_HOURS = "ok"  # the sign-up's id


LABELS = {
    TaskVerb.SIGN_UP: N_("Sign up"),
    TaskVerb.CHECK_IN: N_("Check in"),
    TaskVerb.CONFIRM_HOURS: N_("Confirm hours"),
}


class TaskPress(Payload, prefix=ROUTE):
    verb: TaskVerb
    number: Id


def task_choice(t: Translator, verb: TaskVerb, number: int) -> Choices:
    """The one button of ``verb`` for task (or sign-up) ``number``."""
    return [[(t._(LABELS[verb]), TaskPress(verb=verb, number=number))]]
