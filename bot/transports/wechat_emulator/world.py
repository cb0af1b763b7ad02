"""The WeChat emulator's in-memory world: followers, what each received, media, tokens.

Everything lives on one event loop, like the Bot API emulator's world: methods mutate plain
data and ``changed`` wakes whoever waits (the control API's long polls, the tests).
Times that WeChat's rules depend on (the 48-hour window, token and media lifetimes,
``CreateTime``) come from ``clock``, which a test can move forward.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import asdict, dataclass, field

from wechatpy.constants import WeChatErrorCode as Code

from bot.transports.emulator.faults import CallLog
from bot.transports.emulator.world import Signal, Waitable
from bot.transports.wechat_emulator.errors import JSON, WeChatError
from bot.transports.wechat_emulator.faults import FaultPlan

# WeChat's customer-service rule (客服消息下发规则, since June 2023): what the person does
# grants the account so many messages for so long. Beyond them 45047; once every grant has
# lapsed, 45015. A message (a msgmenu item tapped is one) grants 5 for 48 hours; following,
# a custom-menu click or a QR code scanned grants 3 for a minute.
SERVICE_WINDOW_S = 48 * 3600
MESSAGE_GRANT = (5, SERVICE_WINDOW_S)
EVENT_GRANT = (3, 60)
TOKEN_LIFETIME_S = 7200
# A refreshed token does not kill the previous one at once: it keeps working this long.
TOKEN_OVERLAP_S = 300
MEDIA_LIFETIME_S = 3 * 24 * 3600  # temporary media
# Real MsgIds are 64-bit decimal numbers of this magnitude.
FIRST_MSG_ID = 24_000_000_000_000_000


class Clock:
    """Wall-clock seconds plus an offset the tests advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds
        return self.now()


@dataclass(slots=True, kw_only=True)
class Follower:
    openid: str
    nickname: str
    subscribed: bool = True
    last_interaction: float | None = None  # clock time
    message_grant: list[float] = field(default_factory=list)  # [messages left, until]
    event_grant: list[float] = field(default_factory=list)  # likewise, from the last event

    def view(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One thing in a user's chat with the account: what they sent (``via="user"``), or what
    they received: a customer-service message, a passive reply, a template message, or
    WeChat's own notice that the account failed to answer."""

    seq: int
    openid: str
    at: float  # clock time
    via: str  # "user" | "custom" | "reply" | "template" | "notice"
    # Received: "text" | "image" | "msgmenu" | "template" | "notice"; sent: the push's kind.
    msgtype: str
    body: JSON  # the JSON the bot sent under its msgtype key (a reply's fields likewise)

    @property
    def text(self) -> str:
        """What a person reads: the text, the menu's head/items/tail, the template lines."""
        if self.msgtype == "msgmenu":
            items = [item["content"] for item in self.body.get("list", [])]
            parts = [self.body.get("head_content", ""), *items, self.body.get("tail_content", "")]
            return "\n".join(part for part in parts if part)
        return str(self.body.get("content", ""))

    def view(self) -> JSON:
        return {**asdict(self), "text": self.text}


@dataclass(slots=True, kw_only=True)
class Media:
    media_id: str
    data: bytes
    content_type: str
    created_at: float


@dataclass(slots=True, kw_only=True)
class Try:
    at: float  # time.monotonic()
    status: int | None  # None: no answer in time or no connection
    answer: str  # the body as the bot sent it (plaintext or encrypted XML)
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class Callback:
    """One message or event pushed to the bot, with every try WeChat made."""

    id: int
    openid: str
    kind: str  # text, image, location, event:subscribe, event:CLICK, menu …
    xml: str  # the plaintext message (before encryption in safe mode)
    msg_id: int | None  # events have none; WeChat dedupes them by FromUserName+CreateTime
    create_time: int
    tries: list[Try] = field(default_factory=list)
    outcome: str = "pending"  # pending | success | empty | reply | invalid | failed
    reply: JSON | None = None  # a passive reply, parsed

    @property
    def done(self) -> bool:
        return self.outcome != "pending"

    def view(self) -> JSON:
        return {
            "id": self.id,
            "openid": self.openid,
            "kind": self.kind,
            "msg_id": self.msg_id,
            "create_time": self.create_time,
            "xml": self.xml,
            "tries": [asdict(t) for t in self.tries],
            "outcome": self.outcome,
            "reply": self.reply,
            "done": self.done,
        }


class World(Waitable):
    def __init__(
        self, *, appid: str, secret: str, original_id: str, templates: dict[str, str]
    ) -> None:
        self.appid, self.secret, self.original_id = appid, secret, original_id
        self.templates = dict(templates)  # template id → its text with {{key.DATA}} slots
        self.clock = Clock()
        self.changed = Signal()
        self.closed = False
        self.faults = FaultPlan()
        self.calls = CallLog()  # every API call, by api name ("message/custom/send")
        self.followers: dict[str, Follower] = {}
        self.received: list[Received] = []
        self.callbacks: list[Callback] = []
        self.media: dict[str, Media] = {}
        self.tokens: dict[str, float] = {}  # access_token → expiry (clock time)
        self.tokens_issued = 0
        self._msg_ids = itertools.count(FIRST_MSG_ID + secrets.randbelow(10**12))
        self._template_msg_ids = itertools.count(2_000_000_000)

    # --- followers -----------------------------------------------------------------------

    def add_follower(
        self, openid: str | None = None, *, nickname: str = "骑手", subscribed: bool = True
    ) -> Follower:
        # Real openids are 28 characters starting "o" for accounts made by the platform.
        openid = openid or "o" + secrets.token_urlsafe(21)[:27]
        follower = Follower(openid=openid, nickname=nickname, subscribed=subscribed)
        self.followers[openid] = follower
        self.changed.notify()
        return follower

    def follower(self, openid: str) -> Follower:
        try:
            return self.followers[openid]
        except KeyError:
            raise WeChatError(Code.INVALID_OPENID) from None

    def interacted(self, openid: str, *, message: bool = True) -> None:
        """The person wrote (``message``) or followed, clicked or scanned: a fresh grant."""
        follower = self.follower(openid)
        now = follower.last_interaction = self.clock.now()
        count, lasts = MESSAGE_GRANT if message else EVENT_GRANT
        grant = [float(count), now + lasts]
        if message:
            follower.message_grant = grant
        else:
            follower.event_grant = grant

    def _grants(self, openid: str) -> list[list[float]]:
        """The follower's grants that have not lapsed, the one lapsing first first."""
        follower, now = self.follower(openid), self.clock.now()
        grants = (follower.event_grant, follower.message_grant)
        return sorted((g for g in grants if g and now <= g[1]), key=lambda g: g[1])

    def in_service_window(self, openid: str) -> bool:
        return bool(self._grants(openid))

    def spend_custom_message(self, openid: str) -> None:
        """One customer-service message out of the grants: 45015 with none, 45047 used up."""
        grants = self._grants(openid)
        if not grants:
            raise WeChatError(Code.OUT_OF_RESPONSE_TIME_LIMIT)
        for grant in grants:
            if grant[0] >= 1:
                grant[0] -= 1
                return
        raise WeChatError(Code.OUT_OF_RESPONSE_COUNT_LIMIT)

    def next_msg_id(self) -> int:
        return next(self._msg_ids)

    def next_template_msg_id(self) -> int:
        return next(self._template_msg_ids)

    # --- what users see --------------------------------------------------------------------

    def deliver(self, openid: str, *, via: str, msgtype: str, body: JSON) -> Received:
        item = Received(
            seq=len(self.received) + 1,
            openid=openid,
            at=self.clock.now(),
            via=via,
            msgtype=msgtype,
            body=body,
        )
        self.received.append(item)
        self.changed.notify()
        return item

    def received_by(self, openid: str, since: int = 0) -> list[Received]:
        return [r for r in self.conversation(openid, since) if r.via != "user"]

    def conversation(self, openid: str, since: int = 0) -> list[Received]:
        """Both sides of the user's chat, in order: what they sent and what they received."""
        return [r for r in self.received if r.openid == openid and r.seq > since]

    # --- media ---------------------------------------------------------------------------

    def store_media(self, data: bytes, content_type: str) -> Media:
        media = Media(
            media_id=secrets.token_urlsafe(48),
            data=data,
            content_type=content_type,
            created_at=self.clock.now(),
        )
        self.media[media.media_id] = media
        return media

    def get_media(self, media_id: str) -> Media:
        media = self.media.get(media_id)
        if media is None or self.clock.now() - media.created_at > MEDIA_LIFETIME_S:
            raise WeChatError(Code.INVALID_MEDIA_ID)
        return media

    # --- access tokens -------------------------------------------------------------------

    def issue_token(self) -> str:
        now = self.clock.now()
        for old, expiry in self.tokens.items():
            self.tokens[old] = min(expiry, now + TOKEN_OVERLAP_S)
        token = secrets.token_urlsafe(96)
        self.tokens[token] = now + TOKEN_LIFETIME_S
        self.tokens_issued += 1
        self.changed.notify()
        return token

    def check_token(self, token: str | None) -> None:
        if not token:
            raise WeChatError(Code.MISSING_ACCESS_TOKEN)
        expiry = self.tokens.get(token)
        if expiry is None:
            raise WeChatError(Code.INVALID_CREDENTIAL)
        if self.clock.now() >= expiry:
            raise WeChatError(Code.EXPIRED_ACCESS_TOKEN)

    # --- callbacks -----------------------------------------------------------------------

    def new_callback(
        self, openid: str, *, kind: str, xml: str, msg_id: int | None, create_time: int
    ) -> Callback:
        callback = Callback(
            id=len(self.callbacks) + 1,
            openid=openid,
            kind=kind,
            xml=xml,
            msg_id=msg_id,
            create_time=create_time,
        )
        self.callbacks.append(callback)
        self.changed.notify()
        return callback

    def callback(self, callback_id: int) -> Callback:
        if not 1 <= callback_id <= len(self.callbacks):
            raise KeyError(f"no callback {callback_id}")
        return self.callbacks[callback_id - 1]
