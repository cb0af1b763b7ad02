"""The buttons of registration, party, volunteer, tasks, points and the community admins are
typed payloads now; every button already on people's screens must still parse, to the class
that handles it, and pack back to the very same string."""

from __future__ import annotations

import pytest

from bot.domain.party import Standing, Verdict
from bot.domain.volunteer import ServiceType, Skill, Slot
from bot.ui import payloads
from bot.ui.approvals import ApplicationDecision, Approval, VolunteerDecision
from bot.ui.party import Decision
from bot.ui.payloads import Payload
from bot.ui.tasks import TaskPress, TaskVerb
from handlers import community, party, points, register, tasks, volunteer
from handlers.registry import collect


@pytest.fixture(scope="module", autouse=True)
def every_flow() -> None:
    collect()


LAYOUTS: list[tuple[str, Payload]] = [
    ("reg:agree", register.Answered(answer=register.Answer.AGREE)),
    ("reg:decline", register.Answered(answer=register.Answer.DECLINE)),
    ("reg:submit", register.Answered(answer=register.Answer.SUBMIT)),
    ("reg:restart", register.Answered(answer=register.Answer.RESTART)),
    ("reg:co:2", register.CompanyChosen(index=2)),
    ("reg:co:other", register.OtherCompany()),
    ("reg:streets:0", register.StreetsPage(page=0)),
    ("reg:street:7:1", register.StreetPage(street_id=7, page=1)),
    ("reg:comm:12", register.CommunityChosen(region_id=12)),
    ("deldata:yes", register.DeleteData(answer="yes")),
    ("deldata:no", register.DeleteData(answer="no")),
    ("party:agree", party.Answered(answer=party.Answer.AGREE)),
    ("party:restart", party.Answered(answer=party.Answer.RESTART)),
    ("party:st:formal", party.StandingChosen(standing=Standing.FORMAL)),
    ("party:st:probationary", party.StandingChosen(standing=Standing.PROBATIONARY)),
    ("party:streets:1", party.StreetsPage(page=1)),
    ("party:street:7:0", party.StreetPage(street_id=7, page=0)),
    ("party:comm:12", party.CommunityChosen(region_id=12)),
    ("pms:start", party.OnStatus(action=party.StatusAction.START)),
    ("pms:fix", party.OnStatus(action=party.StatusAction.FIX)),
    ("pms:wd", party.OnStatus(action=party.StatusAction.WITHDRAW)),
    ("pms:wd:yes", party.WithdrawConfirmed()),
    ("pms:wd:no", party.WithdrawCancelled()),
    ("pms:badge:on", party.Badge(shown="on")),
    ("pms:badge:off", party.Badge(shown="off")),
    ("pmd:ok:5:1234", Decision(verdict=Verdict.VERIFY, account_id=5, revision=1234)),
    ("pmd:ask:5:1234", Decision(verdict=Verdict.ASK, account_id=5, revision=1234)),
    ("pmd:no:5:1234", Decision(verdict=Verdict.DECLINE, account_id=5, revision=1234)),
    ("vol:street:3", volunteer.StreetChosen(region_id=3)),
    ("vol:comm:4", volunteer.CommunityChosen(region_id=4)),
    ("vol:sk:first_aid", volunteer.SkillToggled(skill=Skill.FIRST_AID)),
    ("vol:sv:request", volunteer.ServiceToggled(service=ServiceType.REQUEST)),
    ("vol:sl:we_eve", volunteer.SlotToggled(slot=Slot.WEEKEND_EVENING)),
    ("vol:next", volunteer.Answered(answer=volunteer.Answer.NEXT)),
    ("vol:submit", volunteer.Answered(answer=volunteer.Answer.SUBMIT)),
    ("va:ok:9", VolunteerDecision(approval=Approval.APPROVE, account_id=9)),
    ("va:no:9", VolunteerDecision(approval=Approval.REJECT, account_id=9)),
    ("task:at:4", tasks.AtCentre(community_id=4)),
    ("task:kind:skill", tasks.KindChosen(kind=ServiceType.SKILL)),
    ("task:sk:repairs", tasks.SkillToggled(skill=Skill.REPAIRS)),
    ("task:next", tasks.Answered(answer=tasks.Answer.NEXT)),
    ("task:publish", tasks.Answered(answer=tasks.Answer.PUBLISH)),
    ("task:restart", tasks.Answered(answer=tasks.Answer.RESTART)),
    ("tk:up:21", TaskPress(verb=TaskVerb.SIGN_UP, number=21)),
    ("tk:in:21", TaskPress(verb=TaskVerb.CHECK_IN, number=21)),
    ("tk:ok:33", TaskPress(verb=TaskVerb.CONFIRM_HOURS, number=33)),
    ("rk:hide", points.Visibility(choice="hide")),
    ("rk:show", points.Visibility(choice="show")),
    ("ia:ok:9", ApplicationDecision(approval=Approval.APPROVE, account_id=9)),
    ("ia:no:9", ApplicationDecision(approval=Approval.REJECT, account_id=9)),
    ("ra:rd:12:45", community.Redispatch(report_id=12, grid_id=45)),
    ("ra:rj:12", community.RejectReturned(report_id=12)),
]


@pytest.mark.parametrize(("data", "payload"), LAYOUTS, ids=[d for d, _ in LAYOUTS])
def test_a_button_on_peoples_screens_parses_to_its_payload_and_packs_back_the_same(
    data: str, payload: Payload
) -> None:
    assert payloads.parse(data) == payload
    assert payload.pack() == data


@pytest.mark.parametrize(
    "data",
    [
        "reg:co:²",  # superscript digits pass str.isdigit
        "reg:street:7",  # a field short
        "reg:comm:12:1",  # a field too many
        "reg:maybe",
        "deldata:perhaps",
        "party:st:honorary",
        "pms:badge:maybe",
        "pmd:ok:5",
        "pmd:yes:5:1",
        "vol:sk:juggling",
        "va:ok:-1",
        "task:kind:paid",
        "tk:up:",
        "tk:go:21",
        "rk:toggle",
        "ia:ok:1234567890123456789",  # past a BIGINT
        "ra:rd:12",
    ],
)
def test_forged_data_for_these_flows_is_refused_by_the_registry(data: str) -> None:
    with pytest.raises(payloads.BadPayload):
        payloads.parse(data)
