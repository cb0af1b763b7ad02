"""The party organisation's decision on a membership declaration (``pmd:…``).

``pmd:<verdict>:<account id>:<revision>``: the revision is the one the buttons were made
for, so a press after the rider corrected or withdrew the declaration is refused. Here, not
in ``bot.services.party``, so no service owns a button prefix.
"""

from __future__ import annotations

from bot.chat import Choices
from bot.domain.party import PartyDeclaration, Verdict
from bot.i18n import N_, Translator
from bot.ui.payloads import Id, Payload

ROUTE = "pmd"
VERDICT_LABELS = {
    Verdict.VERIFY: N_("Verify"),
    Verdict.ASK: N_("Ask for details"),
    Verdict.DECLINE: N_("Decline"),
}


class Decision(Payload, prefix=ROUTE):
    verdict: Verdict
    account_id: Id
    revision: Id


def decision_choices(t: Translator, declaration: PartyDeclaration) -> Choices:
    """One row: Verify, Ask for details, Decline, made for this revision of the declaration."""
    return [
        [
            (
                t._(label),
                Decision(
                    verdict=verdict,
                    account_id=declaration.account_id,
                    revision=declaration.revision,
                ),
            )
            for verdict, label in VERDICT_LABELS.items()
        ]
    ]
