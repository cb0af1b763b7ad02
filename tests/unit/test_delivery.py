"""The outbox sender against an in-memory store, a fake clock and a scripted platform.

Times are read from the fake clock (sleeping advances it), so rate limits are checked by
the instants at which the platform saw each message, never by the wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.chat import Outgoing, OutKind
from bot.delivery import (
    MaybeSent,
    OutboxSender,
    PermanentError,
    RetryAfter,
    TransientError,
    Unreachable,
)
from bot.services.ports import OutboxRow

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def offset(self) -> float:
        return (self.current - T0).total_seconds()


@dataclass
class FakeRow:
    id: int
    message: Outgoing
    status: str = "pending"
    next_attempt_at: datetime = T0
    error: str | None = None
    message_id: str | None = None
    reply: bool = False
    failures: int = 0


@dataclass
class FakeOutbox:
    """The outbox repository's contract in memory: due rows by id, up to ``per_chat`` of
    each chat's earliest unsent rows (none while any is leased), leased for a minute."""

    rows: dict[int, FakeRow] = field(default_factory=dict)
    claimed: asyncio.Event = field(default_factory=asyncio.Event)
    claims: int = 0
    commits: list[list[int]] = field(default_factory=list)  # row ids per mark_sent commit
    commit_error: Exception | None = None  # the database refusing mark_sent's commit

    def add(
        self,
        chat_id: str,
        text: str = "",
        platform: str = "telegram",
        *,
        reply: bool = False,
        kind: OutKind = OutKind.TEXT,
    ) -> int:
        row_id = len(self.rows) + 1
        out = Outgoing(platform=platform, chat_id=chat_id, text=text or f"m{row_id}", kind=kind)
        if kind is OutKind.EDIT_TEXT:
            out = replace(out, message_id="7")
        self.rows[row_id] = FakeRow(row_id, out, reply=reply)
        return row_id

    async def claim(self, limit: int, now: datetime, per_chat: int) -> Sequence[OutboxRow]:
        self.claimed.set()
        self.claims += 1
        heads: dict[tuple[str, str], list[FakeRow]] = {}
        blocked: set[tuple[str, str]] = set()
        for row in sorted(self.rows.values(), key=lambda r: r.id):
            chat = (row.message.platform, row.message.chat_id)
            if row.status != "pending" or chat in blocked:
                continue
            if row.next_attempt_at > now or len(heads.setdefault(chat, [])) >= per_chat:
                blocked.add(chat)
                continue
            heads[chat].append(row)
        due = sorted((r for rows in heads.values() for r in rows), key=lambda r: r.id)
        for row in due[:limit]:
            row.next_attempt_at = now + timedelta(seconds=60)
        return [
            OutboxRow(
                id=r.id,
                message=r.message,
                attempts=0,
                created_at=T0,
                reply=r.reply,
                failures=r.failures,
            )
            for r in due[:limit]
        ]

    async def release_own(self, now: datetime) -> int:
        return 0

    async def mark_sent(self, sent: Sequence[tuple[int, str | None]]) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append([row_id for row_id, _ in sent])
        for row_id, platform_message_id in sent:
            self.rows[row_id].status = "sent"
            self.rows[row_id].message_id = platform_message_id

    async def mark_unsure(self, row_id: int, error: str) -> None:
        self.rows[row_id].status = "unsure"
        self.rows[row_id].error = error

    async def retry_later(
        self, row_id: int, at: datetime, error: str, *, failed: bool = False
    ) -> None:
        self.rows[row_id].next_attempt_at = at
        self.rows[row_id].error = error
        self.rows[row_id].failures += 1 if failed else 0

    async def give_up(self, row_id: int, error: str) -> None:
        self.rows[row_id].status = "failed"
        self.rows[row_id].error = error


class FakePlatform:
    """Records what it accepted and when; raises scripted errors per chat, in order."""

    def __init__(self, clock: FakeClock, outbox: FakeOutbox) -> None:
        self.clock = clock
        self.outbox = outbox
        self.accepted: list[tuple[float, str, str]] = []  # (offset, chat, text)
        self.errors: dict[str, list[Exception]] = {}
        self.sent_event = asyncio.Event()
        self.unsent_before: list[int] = []

    async def send(self, out: Outgoing) -> str:
        self.unsent_before.append(sum(r.status == "pending" for r in self.outbox.rows.values()))
        script = self.errors.get(out.chat_id)
        if script:
            raise script.pop(0)
        self.accepted.append((self.clock.offset(), out.chat_id, out.text))
        self.sent_event.set()
        return f"tg-{len(self.accepted)}"

    def times(self, chat_id: str) -> list[float]:
        return [t for t, chat, _ in self.accepted if chat == chat_id]

    def texts(self, chat_id: str) -> list[str]:
        return [text for _, chat, text in self.accepted if chat == chat_id]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox() -> FakeOutbox:
    return FakeOutbox()


@pytest.fixture
def platform(clock: FakeClock, outbox: FakeOutbox) -> FakePlatform:
    return FakePlatform(clock, outbox)


def make_sender(outbox: FakeOutbox, platform: FakePlatform, **kwargs: Any) -> OutboxSender:
    return OutboxSender(
        store=outbox, senders={"telegram": platform.send}, clock=platform.clock, **kwargs
    )


async def drain(sender: OutboxSender) -> None:
    """Drain as ``run()`` does while rows keep settling."""
    while await sender.drain_once():
        pass


async def test_sent_rows_are_marked_sent_with_the_platform_message_id(outbox, platform):
    first, second = outbox.add("1"), outbox.add("2")
    await drain(make_sender(outbox, platform))
    assert [outbox.rows[i].status for i in (first, second)] == ["sent", "sent"]
    assert {outbox.rows[first].message_id, outbox.rows[second].message_id} == {"tg-1", "tg-2"}


async def test_a_chat_gets_a_burst_of_three_then_one_message_per_second(outbox, platform):
    for _ in range(6):
        outbox.add("42")
    await drain(make_sender(outbox, platform, rate_global=1e6))
    assert platform.times("42") == pytest.approx([0, 0, 0, 1, 2, 3], abs=1e-3)


async def test_the_global_limit_spaces_sends_to_many_chats_evenly(outbox, platform):
    for chat in range(61):
        outbox.add(str(chat))
    await drain(make_sender(outbox, platform, rate_global=30))
    times = [t for t, _, _ in platform.accepted]
    assert len(times) == 61
    assert times == pytest.approx([i / 30 for i in range(61)], abs=1e-3)
    assert max(sum(start <= t < start + 1 for t in times) for start in times) <= 30


async def test_two_live_processes_each_send_at_half_the_bots_rate(outbox, platform):
    for chat in range(31):
        outbox.add(str(chat))
    sender = make_sender(outbox, platform, rate_global=30)
    sender.share_rate(2)  # the heartbeat saw two processes sharing the database
    await drain(sender)
    times = [t for t, _, _ in platform.accepted]
    assert times == pytest.approx([i / 15 for i in range(31)], abs=1e-3)


async def test_the_rate_share_grows_back_when_the_other_process_leaves(outbox, platform):
    for chat in range(4):
        outbox.add(str(chat))
    sender = make_sender(outbox, platform, rate_global=30)
    sender.share_rate(3)
    sender.share_rate(1)
    await drain(sender)
    times = [t for t, _, _ in platform.accepted]
    assert times == pytest.approx([i / 30 for i in range(4)], abs=1e-3)


async def test_other_chats_are_not_held_up_by_a_slow_chat(outbox, platform):
    for _ in range(5):
        outbox.add("busy")
    outbox.add("quiet")
    await drain(make_sender(outbox, platform))
    assert platform.times("quiet")[0] < 1.0
    assert platform.times("busy")[-1] == pytest.approx(2.0, abs=1e-3)


async def test_retry_after_waits_for_that_chat_and_resends_the_same_row_first(outbox, platform):
    outbox.add("a", "first")
    outbox.add("a", "second")
    outbox.add("b", "other chat")
    platform.errors["a"] = [RetryAfter(5)]
    await drain(make_sender(outbox, platform))
    assert platform.texts("a") == ["first", "second"]
    assert platform.times("a")[0] == pytest.approx(5.0, abs=1e-3)
    assert platform.times("b") == pytest.approx([1 / 30], abs=1e-3)


async def test_retry_after_in_two_chats_pauses_the_whole_bot(outbox, platform):
    outbox.add("a")
    outbox.add("b")
    outbox.add("c")
    platform.errors["a"] = [RetryAfter(10)]
    platform.errors["b"] = [RetryAfter(10)]
    await drain(make_sender(outbox, platform))
    assert platform.times("c")[0] >= 10.0


async def test_a_whole_bot_retry_after_pauses_every_chat(outbox, platform):
    outbox.add("a")
    outbox.add("b")
    platform.errors["a"] = [RetryAfter(7, whole_bot=True)]
    await drain(make_sender(outbox, platform))
    assert platform.times("b")[0] >= 7.0


async def test_a_long_retry_after_hands_the_rows_back_to_the_table(outbox, platform, clock):
    first, second = outbox.add("a"), outbox.add("a")
    platform.errors["a"] = [RetryAfter(600)]
    sender = make_sender(outbox, platform)
    await drain(sender)
    assert platform.accepted == []
    assert outbox.rows[first].next_attempt_at == T0 + timedelta(seconds=600)
    assert outbox.rows[first].error == "rate limited"
    clock.current = T0 + timedelta(seconds=600)
    await drain(sender)
    assert platform.texts("a") == [f"m{first}", f"m{second}"]


async def test_transient_errors_are_retried_with_exponential_backoff(outbox, platform, clock):
    row = outbox.add("a")
    platform.errors["a"] = [TransientError("timed out") for _ in range(3)]
    sender = make_sender(outbox, platform, backoff_base=2)
    delays = []
    for _ in range(3):
        before = clock.current
        await drain(sender)
        assert outbox.rows[row].status == "pending"
        delays.append((outbox.rows[row].next_attempt_at - before).total_seconds())
        clock.current = outbox.rows[row].next_attempt_at
    await drain(sender)
    assert delays == pytest.approx([2, 4, 8], abs=1e-3)
    assert outbox.rows[row].status == "sent"
    assert "timed out" in (outbox.rows[row].error or "")


async def test_an_unexpected_sender_error_is_retried_rather_than_dropped(outbox, platform):
    row = outbox.add("a")
    platform.errors["a"] = [KeyError("bug")]
    await drain(make_sender(outbox, platform))
    assert outbox.rows[row].status == "pending"
    assert outbox.rows[row].next_attempt_at > T0


async def test_a_permanent_error_marks_the_row_failed_and_keeps_it(outbox, platform):
    blocked, after = outbox.add("a", "blocked"), outbox.add("a", "next")
    platform.errors["a"] = [PermanentError("Forbidden: bot was blocked by the user")]
    await drain(make_sender(outbox, platform))
    assert outbox.rows[blocked].status == "failed"
    assert outbox.rows[blocked].error == "Forbidden: bot was blocked by the user"
    assert platform.texts("a") == ["next"]
    assert outbox.rows[after].status == "sent"


async def test_rows_of_a_chat_keep_their_order_when_the_head_row_is_retried(
    outbox, platform, clock
):
    outbox.add("a", "one")
    outbox.add("a", "two")
    platform.errors["a"] = [TransientError("502 Bad Gateway")]
    sender = make_sender(outbox, platform)
    await drain(sender)
    outbox.add("a", "three")  # written while the first two wait
    await drain(sender)
    assert platform.texts("a") == []
    clock.current += timedelta(seconds=60)
    await drain(sender)
    assert platform.texts("a") == ["one", "two", "three"]


async def test_a_row_for_a_platform_without_a_sender_is_marked_failed(outbox, platform):
    row = outbox.add("a", platform="wechat")
    await drain(make_sender(outbox, platform))
    assert outbox.rows[row].status == "failed"
    assert "wechat" in (outbox.rows[row].error or "")


async def test_each_row_is_marked_sent_before_the_next_is_sent(outbox, platform):
    for _ in range(3):
        outbox.add("a")
    await drain(make_sender(outbox, platform))
    assert platform.unsent_before == [3, 2, 1]


async def test_an_alert_of_three_messages_to_one_chat_goes_out_from_one_claim(outbox, platform):
    for text in ("photo", "pin", "map"):
        outbox.add("worker", text)
    sender = make_sender(outbox, platform)
    assert await sender.drain_once() == 3
    assert outbox.claims == 1
    assert platform.texts("worker") == ["photo", "pin", "map"]


async def test_a_chats_rows_beyond_claim_per_chat_wait_for_the_next_claim(outbox, platform):
    for n in range(3):
        outbox.add("a", str(n))
    sender = make_sender(outbox, platform, claim_per_chat=2)
    assert await sender.drain_once() == 2
    assert await sender.drain_once() == 1
    assert platform.texts("a") == ["0", "1", "2"]


async def test_rows_of_different_chats_sent_meanwhile_are_marked_in_one_commit(outbox, platform):
    rows = [outbox.add(chat) for chat in ("a", "b", "c")]
    await drain(make_sender(outbox, platform))
    assert outbox.commits == [rows]


async def test_a_chats_next_row_is_not_sent_when_marking_the_last_one_failed(outbox, platform):
    outbox.add("a", "first")
    outbox.add("a", "second")
    outbox.commit_error = OSError("connection refused")
    with pytest.raises(OSError):
        await make_sender(outbox, platform).drain_once()
    assert platform.texts("a") == ["first"]


async def test_wake_sends_a_new_row_at_once_instead_of_at_the_next_poll(outbox, platform):
    sender = make_sender(outbox, platform, poll_interval=3600)
    task = asyncio.create_task(sender.run())
    await asyncio.wait_for(outbox.claimed.wait(), 5)
    await asyncio.sleep(0)  # let the empty drain finish so the loop waits for a wake
    row = outbox.add("a")
    sender.wake()
    await asyncio.wait_for(platform.sent_event.wait(), 5)
    sender.stop()
    await asyncio.wait_for(task, 5)
    assert outbox.rows[row].status == "sent"


async def test_stop_during_a_send_marks_that_row_sent_and_hands_the_rest_back_unleased(
    outbox, platform, clock
):
    # The restart bug: a cancel between the platform's accepting a row and mark_sent left
    # the row leased, so the next process stalled that chat for a minute and then sent it
    # again. stop() now lets the row in flight settle and releases the other claimed rows.
    first, second = outbox.add("a"), outbox.add("b")
    sender = make_sender(outbox, platform)
    accept = platform.send

    async def stop_while_sending(out: Outgoing) -> str:
        sender.stop()
        return await accept(out)

    sender.add_sender("telegram", stop_while_sending)
    await sender.run()
    assert outbox.rows[first].status == "sent"
    assert outbox.rows[second].status == "pending"
    assert outbox.rows[second].next_attempt_at <= clock.now()
    assert platform.texts("b") == []


# -- replies and pushes (issue 12) --------------------------------------------------------


async def test_replies_to_a_persons_own_taps_go_out_at_once_not_one_per_second(outbox, platform):
    # Tapping quickly through a flow, each step waited 2–5.5 s behind the chat's pacing.
    for step in range(6):
        outbox.add("rider", f"step {step}", reply=True)
    await drain(make_sender(outbox, platform, rate_global=1e6))
    assert platform.times("rider") == pytest.approx([0] * 6, abs=1e-3)
    assert platform.texts("rider") == [f"step {step}" for step in range(6)]


async def test_pushes_to_a_chat_are_still_paced(outbox, platform):
    for _ in range(5):
        outbox.add("worker")
    await drain(make_sender(outbox, platform, rate_global=1e6))
    assert platform.times("worker") == pytest.approx([0, 0, 0, 1, 2], abs=1e-3)


async def test_a_reply_waits_behind_an_earlier_push_of_its_chat_so_order_holds(outbox, platform):
    # The order a chat's rows were written in is the order they arrive in: a question
    # queued as a (paced) push is never overtaken by the reply written after it.
    for n in range(4):
        outbox.add("rider", f"push {n}")
    outbox.add("rider", "reply", reply=True)
    outbox.add("rider", "push 4")
    await drain(make_sender(outbox, platform, rate_global=1e6))
    assert platform.texts("rider") == ["push 0", "push 1", "push 2", "push 3", "reply", "push 4"]
    times = platform.times("rider")
    assert times[4] == pytest.approx(times[3], abs=1e-3)  # no wait of its own after push 3
    assert times[5] >= times[4] + 1 - 1e-3


async def test_pushes_after_a_burst_of_replies_wait_a_second_not_one_per_reply(outbox, platform):
    for _ in range(8):
        outbox.add("rider", reply=True)
    outbox.add("rider", "push")
    await drain(make_sender(outbox, platform, rate_global=1e6))
    assert platform.times("rider")[-1] == pytest.approx(1.0, abs=1e-3)


async def test_replies_still_honour_the_platforms_retry_after(outbox, platform):
    outbox.add("rider", "first", reply=True)
    outbox.add("rider", "second", reply=True)
    platform.errors["rider"] = [RetryAfter(4)]
    await drain(make_sender(outbox, platform))
    assert platform.texts("rider") == ["first", "second"]
    assert platform.times("rider")[0] == pytest.approx(4.0, abs=1e-3)


# -- failed tries and answers that never came (issue 8) --------------------------------------


async def test_a_row_that_keeps_failing_is_given_up_after_max_attempts_and_its_chat_moves_on(
    outbox, platform, clock
):
    stuck, after = outbox.add("a", "stuck"), outbox.add("a", "after")
    platform.errors["a"] = [TransientError("Invalid server response") for _ in range(3)]
    sender = make_sender(outbox, platform, max_attempts=3)
    for _ in range(3):
        await drain(sender)
        clock.current = max(clock.current, outbox.rows[stuck].next_attempt_at)
    await drain(sender)
    assert outbox.rows[stuck].status == "failed"
    assert (
        outbox.rows[stuck].error == "gave up after 3 tries: TransientError: Invalid server response"
    )
    assert outbox.rows[after].status == "sent"


async def test_an_unreachable_platform_does_not_use_up_a_rows_tries(outbox, platform, clock):
    row = outbox.add("a")
    platform.errors["a"] = [Unreachable("connection refused") for _ in range(5)]
    sender = make_sender(outbox, platform, max_attempts=2)
    for _ in range(5):
        await drain(sender)
        clock.current = outbox.rows[row].next_attempt_at
    await drain(sender)
    assert outbox.rows[row].status == "sent"


async def test_a_message_that_may_have_been_sent_is_not_sent_again(outbox, platform, clock):
    maybe, after = outbox.add("a", "maybe"), outbox.add("a", "next")
    platform.errors["a"] = [MaybeSent("read timeout")]
    sender = make_sender(outbox, platform)
    await drain(sender)
    clock.current += timedelta(hours=1)
    await drain(sender)
    assert outbox.rows[maybe].status == "unsure"
    assert outbox.rows[after].status == "sent"
    assert platform.texts("a") == ["next"]


async def test_an_edit_that_may_have_been_made_is_made_again(outbox, platform, clock):
    edit = outbox.add("a", "edited", kind=OutKind.EDIT_TEXT)
    platform.errors["a"] = [MaybeSent("read timeout")]
    sender = make_sender(outbox, platform)
    await drain(sender)
    clock.current += timedelta(hours=1)
    await drain(sender)
    assert outbox.rows[edit].status == "sent"
    assert platform.texts("a") == ["edited"]


async def test_answering_a_button_press_neither_waits_for_nor_uses_up_the_chats_pacing(
    outbox, platform
):
    # One tap was three rows (the answer, the edit, the reply): the answer alone used a
    # third of the chat's burst.
    outbox.add("worker", "answer", kind=OutKind.ANSWER_BUTTON)
    for n in range(3):
        outbox.add("worker", f"push {n}")
    outbox.add("worker", "answer", kind=OutKind.ANSWER_BUTTON)
    await drain(make_sender(outbox, platform, rate_global=1e6))
    assert platform.times("worker") == pytest.approx([0, 0, 0, 0, 0], abs=1e-3)
