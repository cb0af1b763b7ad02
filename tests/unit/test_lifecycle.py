"""The report lifecycle: who may do what from where, with what, telling whom."""

from __future__ import annotations

import dataclasses
from collections import deque
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.lifecycle import (
    TRANSITIONS,
    Action,
    ActionArgs,
    Actor,
    Audience,
    Decision,
    HeldByOther,
    InvalidArgument,
    InvalidFromState,
    MissingArgument,
    Need,
    NotAllowed,
    ReplayError,
    TransitionError,
    allowed_actions,
    decide,
    holds_cases,
    replay,
)
from bot.domain.model import AuditEvent, ReportStatus, RoleName

S = ReportStatus
R = RoleName
ALL_ARGS = ActionArgs(
    reason="not our street",
    note="cover replaced",
    photo="ab" * 32,
    target_grid_id=7,
    duplicate_of=3,
    rating=5,
)
NO_ARGS = ActionArgs()
EVERYONE = Actor(account_id=1, is_reporter=True, roles=frozenset(RoleName))
REPORTER = Actor(account_id=2, is_reporter=True, roles=frozenset({R.INFORMANT}))
WORKER = Actor(account_id=3, roles=frozenset({R.GRID_WORKER}))
STRANGER = Actor(account_id=4)
SYSTEM = Actor.system()
TERMINAL = {S.MERGED, S.REJECTED, S.CANCELLED}

# The rights as the grid-worker issue states them, written out independently of the table.
ROLES_ALLOWED: dict[Action, set[RoleName]] = {
    Action.SUBMIT: set(),
    Action.DISPATCH: {R.COMMUNITY_ADMIN, R.STREET_ADMIN, R.CITY_ADMIN},
    Action.ACCEPT: {R.GRID_WORKER, R.GRID_LEADER},
    Action.RESOLVE: {R.GRID_WORKER, R.GRID_LEADER},
    Action.CLOSE: {R.COMMUNITY_ADMIN, R.STREET_ADMIN, R.CITY_ADMIN},
    Action.CONFIRM: set(),
    Action.REOPEN: set(),
    Action.RETURN: {R.GRID_WORKER, R.GRID_LEADER},
    Action.TRANSFER: {
        R.GRID_WORKER,
        R.GRID_LEADER,
        R.COMMUNITY_ADMIN,
        R.STREET_ADMIN,
        R.CITY_ADMIN,
    },
    Action.REDISPATCH: {R.COMMUNITY_ADMIN, R.STREET_ADMIN, R.CITY_ADMIN},
    Action.MERGE: {R.GRID_WORKER, R.GRID_LEADER, R.COMMUNITY_ADMIN, R.STREET_ADMIN, R.CITY_ADMIN},
    Action.REJECT: {R.GRID_LEADER, R.COMMUNITY_ADMIN, R.STREET_ADMIN, R.CITY_ADMIN},
    Action.CANCEL: set(),
    Action.ESCALATE: {R.GRID_LEADER, R.COMMUNITY_ADMIN, R.STREET_ADMIN, R.CITY_ADMIN},
}
REPORTER_ALLOWED = {Action.SUBMIT, Action.CONFIRM, Action.REOPEN, Action.CANCEL}
SYSTEM_ALLOWED = {Action.DISPATCH, Action.CLOSE, Action.ESCALATE}
# One status each action can start from, also written out independently.
START: dict[Action, ReportStatus | None] = {
    Action.SUBMIT: None,
    Action.DISPATCH: S.SUBMITTED,
    Action.ACCEPT: S.DISPATCHED,
    Action.RESOLVE: S.ACCEPTED,
    Action.CLOSE: S.RESOLVED,
    Action.CONFIRM: S.RESOLVED,
    Action.REOPEN: S.RESOLVED,
    Action.RETURN: S.ACCEPTED,
    Action.TRANSFER: S.DISPATCHED,
    Action.REDISPATCH: S.RETURNED,
    Action.MERGE: S.DISPATCHED,
    Action.REJECT: S.SUBMITTED,
    Action.CANCEL: S.DISPATCHED,
    Action.ESCALATE: S.ACCEPTED,
}


def _allowed(action: Action, actor: Actor) -> bool:
    try:
        decide(START[action], action, actor, ALL_ARGS)
    except NotAllowed:
        return False
    return True


@pytest.mark.parametrize("in_scope", [True, False], ids=["in-scope", "out-of-scope"])
@pytest.mark.parametrize("role", list(RoleName))
@pytest.mark.parametrize("action", list(Action))
def test_authorization_matrix_for_every_role_and_action(
    action: Action, role: RoleName, in_scope: bool
) -> None:
    # Out of scope the service finds no role holding on the case's grid or above.
    actor = Actor(account_id=10, roles=frozenset({role}) if in_scope else frozenset())
    assert _allowed(action, actor) == (in_scope and role in ROLES_ALLOWED[action])


@pytest.mark.parametrize("action", list(Action))
def test_authorization_matrix_for_the_reporter_and_the_system(action: Action) -> None:
    assert _allowed(action, REPORTER) == (action in REPORTER_ALLOWED)
    assert _allowed(action, SYSTEM) == (action in SYSTEM_ALLOWED)
    assert not _allowed(action, STRANGER)


def test_a_grid_worker_who_reported_the_case_may_also_accept_it() -> None:
    both = dataclasses.replace(WORKER, is_reporter=True)
    assert decide(S.DISPATCHED, Action.ACCEPT, both).to_status is S.ACCEPTED


def test_the_reporter_may_cancel_before_acceptance_but_not_after() -> None:
    assert decide(S.DISPATCHED, Action.CANCEL, REPORTER).to_status is S.CANCELLED
    with pytest.raises(InvalidFromState) as refused:
        decide(S.ACCEPTED, Action.CANCEL, REPORTER)
    assert (refused.value.code, refused.value.status) == ("invalid_from_state", S.ACCEPTED)


def test_not_fixed_after_resolve_sends_the_case_back_to_the_grid() -> None:
    decision = decide(S.RESOLVED, Action.REOPEN, REPORTER, ActionArgs(reason="still open"))
    assert decision.to_status is S.DISPATCHED
    assert {Audience.GRID_WORKERS, Audience.GRID_LEADER} <= decision.notify


def test_not_fixed_stays_with_the_worker_who_holds_the_case_accepted() -> None:
    decision = decide(
        S.RESOLVED, Action.REOPEN, REPORTER, ActionArgs(reason="still open"), assignee_id=7
    )
    assert decision.to_status is S.ACCEPTED


def test_not_fixed_after_an_automatic_close_reopens_too() -> None:
    decision = decide(S.CLOSED, Action.REOPEN, REPORTER, ActionArgs(reason="still open"))
    assert decision.to_status is S.DISPATCHED


def test_confirming_the_fix_closes_the_case_with_the_rating_recorded() -> None:
    decision = decide(S.RESOLVED, Action.CONFIRM, REPORTER, ActionArgs(rating=4))
    assert decision.to_status is S.CLOSED
    assert decision.data == {"rating": 4}


@pytest.mark.parametrize("rating", [0, 6, -1, True])
def test_a_rating_outside_one_to_five_is_invalid(rating: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        decide(S.RESOLVED, Action.CONFIRM, REPORTER, ActionArgs(rating=rating))
    assert (refused.value.code, refused.value.need) == ("invalid_argument", Need.RATING)


def test_resolving_needs_an_after_photo_only_when_the_category_asks_for_one() -> None:
    note_only = ActionArgs(note="swept")
    assert decide(S.ACCEPTED, Action.RESOLVE, WORKER, note_only).to_status is S.RESOLVED
    with pytest.raises(MissingArgument) as refused:
        decide(S.ACCEPTED, Action.RESOLVE, WORKER, note_only, after_photo_required=True)
    assert (refused.value.code, refused.value.need) == ("missing_argument", Need.PHOTO)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_returning_a_case_needs_a_reason_that_is_not_blank(reason: str | None) -> None:
    with pytest.raises(MissingArgument) as refused:
        decide(S.ACCEPTED, Action.RETURN, WORKER, ActionArgs(reason=reason))
    assert refused.value.need is Need.REASON


def test_a_transfer_goes_back_to_dispatched_and_needs_the_new_grid() -> None:
    leader = Actor(account_id=5, roles=frozenset({R.GRID_LEADER}))
    with pytest.raises(MissingArgument) as refused:
        decide(S.ACCEPTED, Action.TRANSFER, leader, ActionArgs(reason="next street"))
    assert refused.value.need is Need.TARGET_GRID
    moved = decide(S.ACCEPTED, Action.TRANSFER, leader, ActionArgs(reason="x", target_grid_id=9))
    assert (moved.to_status, moved.data["target_grid_id"]) == (S.DISPATCHED, 9)


def test_merging_a_duplicate_needs_the_original_and_tells_the_reporter_and_followers() -> None:
    with pytest.raises(MissingArgument):
        decide(S.DISPATCHED, Action.MERGE, WORKER)
    merged = decide(S.DISPATCHED, Action.MERGE, WORKER, ActionArgs(duplicate_of=41))
    assert (merged.to_status, merged.notify) == (
        S.MERGED,
        frozenset({Audience.REPORTER, Audience.SUBSCRIBERS, Audience.HOLDER}),
    )


def test_escalation_is_recorded_without_changing_the_status() -> None:
    decision = decide(S.ACCEPTED, Action.ESCALATE, SYSTEM, ActionArgs(reason="ack overdue"))
    assert decision.to_status is S.ACCEPTED
    assert not decision.changes_status
    assert decision.notify == {Audience.COMMUNITY_ADMIN, Audience.STREET_ADMIN}


def test_authorization_is_judged_before_the_status() -> None:
    # A stranger learns nothing about the case, not even that it is closed.
    with pytest.raises(NotAllowed) as refused:
        decide(S.CLOSED, Action.ACCEPT, STRANGER)
    assert refused.value.code == "not_allowed"


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_merged_rejected_and_cancelled_cases_allow_no_action(status: ReportStatus) -> None:
    assert allowed_actions(status, EVERYONE) == []


def test_allowed_actions_offers_a_grid_worker_the_buttons_for_a_new_dispatch() -> None:
    assert set(allowed_actions(S.DISPATCHED, WORKER)) == {
        Action.ACCEPT,
        Action.RETURN,
        Action.TRANSFER,
        Action.MERGE,
    }


COLLEAGUE = Actor(account_id=30, roles=frozenset({R.GRID_WORKER}))
HOLDER_ONLY = {Action.RESOLVE, Action.RETURN, Action.TRANSFER, Action.MERGE}


@pytest.mark.parametrize("action", sorted(HOLDER_ONLY))
def test_a_colleague_may_not_act_on_a_case_another_worker_accepted(action: Action) -> None:
    with pytest.raises(HeldByOther) as refused:
        decide(S.ACCEPTED, action, COLLEAGUE, ALL_ARGS, assignee_id=WORKER.account_id)
    assert refused.value.code == "held_by_other"
    assert decide(S.ACCEPTED, action, WORKER, ALL_ARGS, assignee_id=WORKER.account_id)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (R.GRID_LEADER, HOLDER_ONLY),
        (R.COMMUNITY_ADMIN, {Action.TRANSFER, Action.MERGE}),
    ],
)
def test_supervisors_may_still_act_on_a_case_a_worker_accepted(
    role: RoleName, expected: set[Action]
) -> None:
    supervisor = Actor(account_id=40, roles=frozenset({role}))
    offered = set(allowed_actions(S.ACCEPTED, supervisor, assignee_id=WORKER.account_id))
    assert offered & HOLDER_ONLY == expected


def test_a_colleague_is_offered_no_buttons_on_a_case_another_worker_accepted() -> None:
    assert allowed_actions(S.ACCEPTED, COLLEAGUE, assignee_id=WORKER.account_id) == []
    assert set(allowed_actions(S.ACCEPTED, WORKER, assignee_id=WORKER.account_id)) == (HOLDER_ONLY)


def test_the_reporter_hears_of_every_status_change_they_did_not_make() -> None:
    for action, rule in TRANSITIONS.items():
        if rule.target is not None and action not in REPORTER_ALLOWED:
            assert Audience.REPORTER in rule.notify, action


def test_followers_hear_of_every_status_change_after_the_report_was_filed() -> None:
    for action, rule in TRANSITIONS.items():
        if rule.target is not None and action is not Action.SUBMIT:
            assert Audience.SUBSCRIBERS in rule.notify, action


def test_every_status_is_reachable_and_every_open_case_can_still_end() -> None:
    reachable = _reachable_from(None)
    assert reachable == set(ReportStatus)
    for status in ReportStatus:
        if status.is_open:
            assert _reachable_from(status) & (TERMINAL | {S.CLOSED}), status


def _reachable_from(start: ReportStatus | None) -> set[ReportStatus]:
    seen: set[ReportStatus] = set()
    queue: deque[ReportStatus | None] = deque([start])
    while queue:
        status = queue.popleft()
        for rule in TRANSITIONS.values():
            target = rule.target or status
            if status in rule.sources and target is not None and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


# --- properties over random sequences of requests -------------------------------------------

steps = st.lists(
    st.tuples(
        st.sampled_from(list(Action)),
        st.sampled_from([EVERYONE, REPORTER, WORKER, SYSTEM, STRANGER]),
        st.sampled_from([ALL_ARGS, NO_ARGS]),
    ),
    max_size=40,
)


def _run(
    requests: list[tuple[Action, Actor, ActionArgs]],
) -> tuple[ReportStatus | None, list[Decision]]:
    state: ReportStatus | None = None
    accepted: list[Decision] = []
    for action, actor, args in requests:
        try:
            decision = decide(state, action, actor, args)
        except TransitionError:
            continue
        accepted.append(decision)
        state = decision.to_status
    return state, accepted


def _audit_log(decisions: list[Decision]) -> list[AuditEvent]:
    at = datetime(2025, 6, 1, tzinfo=UTC)
    return [
        AuditEvent(
            report_id=1,
            seq=seq,
            action=d.action,
            actor_id=None,
            from_status=d.from_status,
            to_status=d.to_status,
            at=at,
            data=d.data,
        )
        for seq, d in enumerate(decisions, start=1)
    ]


@given(steps)
def test_no_sequence_of_requests_reaches_an_undefined_state(requests) -> None:
    state, accepted = _run(requests)
    assert state is None or state in set(ReportStatus)
    for decision in accepted:
        rule = TRANSITIONS[decision.action]
        assert decision.from_status in rule.sources
        assert decision.to_status is (rule.target or decision.from_status)


@given(steps)
def test_replaying_the_audit_log_rebuilds_the_current_status(requests) -> None:
    state, accepted = _run(requests)
    assert replay(_audit_log(accepted)) is state


@given(steps.filter(lambda requests: _run(requests)[1]))
def test_replay_refuses_a_log_whose_recorded_status_was_tampered_with(requests) -> None:
    log = _audit_log(_run(requests)[1])
    wrong = S.REJECTED if log[-1].to_status is not S.REJECTED else S.CANCELLED
    log[-1] = dataclasses.replace(log[-1], to_status=wrong)
    with pytest.raises(ReplayError, match=f"event seq {log[-1].seq}"):
        replay(log)


def test_replay_refuses_events_out_of_order() -> None:
    submit, cancel = (Action.SUBMIT, REPORTER, NO_ARGS), (Action.CANCEL, REPORTER, NO_ARGS)
    first, second = _audit_log(_run([submit, cancel])[1])
    with pytest.raises(ReplayError, match="seq 1 does not follow seq 1"):
        replay([first, dataclasses.replace(second, seq=1)])


def test_replay_refuses_an_unknown_action() -> None:
    log = _audit_log(_run([(Action.SUBMIT, REPORTER, NO_ARGS)])[1])
    with pytest.raises(ReplayError, match="unknown action 'teleport'"):
        replay([dataclasses.replace(log[0], action="teleport")])


def test_replaying_an_empty_log_means_no_case_yet() -> None:
    assert replay([]) is None


def test_the_audit_data_keeps_free_text_but_not_arguments_the_action_does_not_use() -> None:
    decision = decide(S.DISPATCHED, Action.ACCEPT, WORKER, ALL_ARGS)
    assert decision.data == {
        "note": "cover replaced",
        "photo": "ab" * 32,
        "reason": "not our street",
    }


# -- the holder of an accepted case -------------------------------------------------------


def test_the_worker_holding_a_case_hears_of_every_action_that_takes_it_from_them() -> None:
    taking = {
        action
        for action, rule in TRANSITIONS.items()
        if S.ACCEPTED in rule.sources and rule.target not in (None, S.ACCEPTED)
    }
    assert taking == HOLDER_ONLY | {Action.REJECT}
    for action in taking:
        assert Audience.HOLDER in TRANSITIONS[action].notify, action


@pytest.mark.parametrize(
    ("roles", "holds"),
    [
        ({R.GRID_WORKER}, True),
        ({R.GRID_LEADER}, True),
        ({R.INFORMANT, R.GRID_WORKER}, True),
        (set(), False),  # removed from staff
        ({R.INFORMANT}, False),
        ({R.COMMUNITY_ADMIN}, False),  # promoted away from the grid
    ],
)
def test_only_someone_with_a_grid_role_on_the_case_can_hold_it(
    roles: set[RoleName], holds: bool
) -> None:
    assert holds_cases(roles) is holds
