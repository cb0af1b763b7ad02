"""One incoming update in, one commit out.

The dispatcher downloads and processes a photo first (slow, outside any transaction), and
only when its sender has a basis for keeping it (a consent, a registration, a staff role);
then it opens one unit of work: record the update id (an id recorded before means the
update was handled: skip it), load the user's account and conversation state, route to a
command, a button handler or the user's current flow, save the state if it changed, write
every outgoing message to the outbox, commit. Only then is the outbox sender woken. A
failure rolls everything back. When the caller will try again (the inbox,
``last_try=False``) the error is raised, so the update is retried later rather than lost
after an apology; on the last try the user is told instead — unless it failed because a
concurrent delivery of the same update (another process) committed first: then there is
nothing to say.

Updates of different users are handled concurrently (the transport may call ``handle``
for several at once), but one user's updates take turns, in the order ``handle`` was
called: their conversation state is one row, and a reply to step 2 must not overtake
step 1 just because step 1 carried a slow photo download.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from bot.chat import Incoming, Kind, Outgoing
from bot.domain.model import ConversationState
from bot.i18n import normalize, translator
from bot.services.photos import FileFetcher, PhotoIntake, intake
from bot.services.ports import DuplicateUpdate
from bot.ui import payloads
from handlers import edge
from handlers.base import Command, Context, Flow

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)

ButtonHandler = Callable[[Context], Awaitable[None]]
Fallback = Callable[[Context], Awaitable[None]]
UserKey = tuple[str, str]  # (platform, user id)


class Turns:
    """One FIFO lock per user, kept only while someone holds or waits for it.

    ``asyncio.Lock`` hands itself to waiters in the order they asked, and taking a free
    lock does not yield to the event loop, so turns follow the order of ``hold`` calls.
    """

    def __init__(self) -> None:
        self._locks: dict[UserKey, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: UserKey) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]


def _opens_over(command: Command, current: Flow, ctx: Context) -> bool:
    """A link opened (``/start <payload>``) while in a flow the person has given nothing to,
    such as the registration that following a WeChat account begins: the link was meant."""
    return command.linked_over_untouched and bool(ctx.incoming.payload) and current.untouched(ctx)


def is_reply(message: Outgoing, incoming: Incoming) -> bool:
    """Whether ``message`` answers the person's own action: it goes to the chat the update
    came from, and is sent without the per-chat pacing (``bot.delivery``). Messages to
    anyone else (an alert to a grid's workers, a push to a reporter) are paced."""
    user = incoming.user
    return (message.platform, message.chat_id) == (user.platform, user.chat_id)


class Dispatcher:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], BaseUnitOfWork],
        env: Env,
        flows: Iterable[Flow],
        commands: Iterable[Command],
        button_handlers: dict[str, ButtonHandler],
        fallback: Fallback,
        fetchers: dict[str, FileFetcher] | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._env = env
        self.flows = {flow.name: flow for flow in flows}
        self.commands = {command.name: command for command in commands}
        self._buttons = button_handlers
        self._fallback = fallback
        self._fetchers = fetchers or {}
        self._on_commit = on_commit
        self._turns = Turns()

    def add_fetcher(self, platform: str, fetcher: FileFetcher) -> None:
        self._fetchers[platform] = fetcher

    async def handle(self, incoming: Incoming, *, last_try: bool = True) -> Exception | None:
        """Handle ``incoming`` in one unit of work; None when it is handled (now or before).

        A failed unit is rolled back. With ``last_try`` False the error is raised: the
        caller tries again later (the inbox, with its backoff, holding back the user's later
        updates). On the last try it is logged, the user is told, and the error is returned.
        """
        incoming = edge.without_nul(incoming)  # PostgreSQL stores no U+0000
        async with self._turns.hold((incoming.user.platform, incoming.user.user_id)):
            if edge.in_group(incoming):
                return await self._answer_group(incoming, last_try)
            return await self._handle(incoming, last_try)

    async def _answer_group(self, incoming: Incoming, last_try: bool) -> Exception | None:
        """A group message: no account upsert, no state; see ``handlers.edge``."""
        try:
            async with self._uow_factory() as uow:
                await edge.answer_group(uow, self._env, incoming)
        except Exception as exc:
            if not last_try:
                raise
            log.exception("group update %s failed; rolled back", incoming.update_id)
            return exc
        finally:
            if self._on_commit is not None:
                self._on_commit()
        return None

    async def _handle(self, incoming: Incoming, last_try: bool) -> Exception | None:
        photo = None
        if incoming.photo is not None or incoming.document is not None:
            seen, may_keep = await self._before_download(incoming)
            if seen:
                log.info("update %s already handled; skipped", incoming.update_id)
                return None
            if may_keep:
                photo = await self._prepare_photo(incoming)
            else:
                log.info("update %s: file not fetched, no basis to keep it", incoming.update_id)
        try:
            await self._handle_in_unit(incoming, photo)
        except Exception as exc:
            if await self._handled_by_a_twin(incoming, exc):
                log.info("update %s was handled by a concurrent delivery", incoming.update_id)
                return None
            if not last_try:
                raise  # rolled back; the caller tries again
            log.exception("update %s failed; rolled back", incoming.update_id)
            await self._apologise(incoming)
            return exc
        finally:
            if self._on_commit is not None:
                self._on_commit()
        return None

    async def _before_download(self, incoming: Incoming) -> tuple[bool, bool]:
        """(seen, may_keep): whether the update was handled already, and whether its sender
        has a basis for keeping what they send (a consent, a registration, a staff role).

        Asked before the download, in a short unit of its own (an update without a file
        skips it): a stranger's photo is never fetched, so the photo store never holds it
        (PIPL Art. 6). The flows answer them as before: the report flow refuses anyone
        without a consent or registration before it looks at the photo, and the unit below
        checks the update id again in any case.
        """
        user = incoming.user
        async with self._uow_factory() as uow:
            if await uow.updates.seen(user.platform, incoming.update_id):
                return True, False
            return False, await uow.accounts.may_keep_data(user.platform, user.user_id)

    async def _handled_by_a_twin(self, incoming: Incoming, exc: Exception) -> bool:
        """Whether the unit failed only because a concurrent delivery of the same update
        (another process, on PostgreSQL) committed first: its id taken, or a row it created
        (the new user's account) conflicting. Then there is nothing to apologise for."""
        if isinstance(exc, DuplicateUpdate):
            return True
        # Marking the id again, never committed, waits for a twin's transaction still open
        # on it (a plain look would not) and refuses if that twin committed.
        try:
            async with self._uow_factory() as uow:
                await uow.updates.mark(incoming.user.platform, incoming.update_id)
        except DuplicateUpdate:
            return True
        except Exception:
            log.debug("could not tell whether update %s was handled", incoming.update_id)
        return False

    async def _prepare_photo(self, incoming: Incoming) -> PhotoIntake | None:
        ref = incoming.photo or incoming.document
        fetcher = self._fetchers.get(incoming.user.platform)
        if ref is None or fetcher is None:
            return None
        try:
            return await intake(
                ref, fetcher=fetcher, env=self._env, as_file=incoming.document is not None
            )
        except Exception:
            # A network failure while downloading: the flow tells the user to send it again.
            log.exception("could not fetch file %s", ref.file_id)
            return PhotoIntake(error="download_failed", as_file=incoming.document is not None)

    async def _handle_in_unit(self, incoming: Incoming, photo: PhotoIntake | None) -> None:
        user = incoming.user
        async with self._uow_factory() as uow:
            try:
                # Recorded first, as the check that it was not seen: a concurrent delivery
                # of the same update (another process) waits here until the first commits.
                await uow.updates.mark(user.platform, incoming.update_id)
            except DuplicateUpdate:
                log.info("update %s already handled; skipped", incoming.update_id)
                return
            await self._env.maps.refresh(uow)
            account, state = await uow.from_chat(
                platform=user.platform,
                platform_user_id=user.user_id,
                chat_id=user.chat_id,
                display_name=user.display_name,
                locale=normalize(user.language_code, self._env.default_locale),
            )
            before = ConversationState(
                flow=state.flow, step=state.step, data=copy.deepcopy(state.data)
            )
            ctx = Context(
                incoming=incoming,
                account=account,
                state=state,
                uow=uow,
                env=self._env,
                now=self._env.clock(),
                photo=photo,
            )
            await self.route(ctx)
            if ctx.state != before:  # a draft ages from its last change (bot.services.drafts)
                await uow.conversations.save(user.platform, user.user_id, ctx.state, at=ctx.now)
            await uow.outbox.add_all([(m, is_reply(m, incoming)) for m in ctx.out])
            await uow.commit()

    async def route(self, ctx: Context) -> None:
        incoming = ctx.incoming
        if incoming.kind is Kind.UNSUPPORTED:
            edge.refuse_unsupported(ctx)
        elif incoming.kind is Kind.COMMAND:
            await self._route_command(ctx)
        elif incoming.kind is Kind.BUTTON:
            await self._route_button(ctx)
        elif ctx.state.flow in self.flows:
            await self.flows[ctx.state.flow].on_input(ctx)
        else:
            ctx.state.clear()  # a flow this version no longer has
            await self._fallback(ctx)

    async def _route_command(self, ctx: Context) -> None:
        name = ctx.incoming.command or ""
        command = self.commands.get(name)
        current = self.flows.get(ctx.state.flow or "")
        if command is None:
            ctx.reply(ctx._("I don't know that command. Send /help to see what I can do."))
            if current is not None:
                await current.reprompt(ctx)
            return
        if current is not None and _opens_over(command, current, ctx):
            log.info("%s /%s link replaces the untouched %s", ctx.account.id, name, current.name)
            ctx.state.clear()
        elif current is not None and not command.allowed_mid_flow:
            ctx.reply(
                ctx._(
                    "You are in the middle of something. Finish it first, "
                    "or send /cancel to stop it."
                )
            )
            await current.reprompt(ctx)
            return
        await command.handler(ctx)

    async def _route_button(self, ctx: Context) -> None:
        """Route a press by its payload's route (``bot.ui.payloads``): to the flow of that name
        (expired unless the person is still in it) or to the button handler of that key."""
        data = ctx.incoming.button_data or ""
        try:
            route = payloads.parse(data).route
        except payloads.ExpiredPayload:
            log.info("retired button layout %r from %s", data, ctx.account.id)
            self._expired(ctx)
            return
        except payloads.BadPayload:
            route = ""
        if route in self.flows:
            if ctx.state.flow != route:
                log.info("stale %s button from %s", route, ctx.account.id)
                self._expired(ctx)
                return
            await self.flows[route].on_input(ctx)
            return
        handler = self._buttons.get(route)
        if handler is None:
            log.warning("invalid button data %r from account %s", data, ctx.account.id)
            ctx.ack(ctx._("This button is not valid."), alert=True)
            return
        await handler(ctx)

    @staticmethod
    def _expired(ctx: Context) -> None:
        ctx.ack(ctx._("This button has expired."), alert=True)
        ctx.drop_choices()

    async def _apologise(self, incoming: Incoming) -> None:
        """Tell the user something went wrong, in a unit of its own (the failed one is gone)."""
        t = translator(normalize(incoming.user.language_code, self._env.default_locale))
        try:
            async with self._uow_factory() as uow:
                await uow.outbox.add(
                    Outgoing(
                        platform=incoming.user.platform,
                        chat_id=incoming.user.chat_id,
                        text=t._("Sorry, something went wrong on our side. Please try again."),
                    ),
                    reply=True,
                )
                await uow.commit()
        except Exception:
            log.exception("could not queue the apology for update %s", incoming.update_id)
