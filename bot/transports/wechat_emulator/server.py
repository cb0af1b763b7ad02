"""``WeChatEmulator``: the HTTP server plus an in-process API for tests and the sandbox.

Point the bot's WeChat transport at ``url`` (its ``GRIDSNAP_WECHAT_API_URL``) and the
emulator's receiver at the bot's ``/wechat`` URL; play followers with ``send_*``,
``subscribe``, ``click``, ``tap_menu``; read what each received with ``received`` or
``wait_for_message``. The same is reachable over HTTP under ``/control``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType

from starlette.applications import Starlette

from bot.transports.embedded_http import EmbeddedServer
from bot.transports.wechat_emulator import api, control, messages
from bot.transports.wechat_emulator.api import image_type
from bot.transports.wechat_emulator.callbacks import CallbackSender, Receiver
from bot.transports.wechat_emulator.errors import JSON
from bot.transports.wechat_emulator.faults import Fault
from bot.transports.wechat_emulator.world import Callback, Follower, Received, World

DEFAULT_APPID = "wx0123456789abcdef"
DEFAULT_SECRET = "gridsnap-emulator-secret"
DEFAULT_ORIGINAL_ID = "gh_0123456789ab"  # the account's 原始ID, the ToUserName of pushes


class WeChatEmulator:
    def __init__(
        self,
        *,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        original_id: str = DEFAULT_ORIGINAL_ID,
        receiver: Receiver | None = None,
        templates: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.world = World(
            appid=appid, secret=secret, original_id=original_id, templates=dict(templates or {})
        )
        self.receiver = receiver or Receiver()
        self._host, self._port = host, port
        self._server: EmbeddedServer | None = None
        self._sender: CallbackSender | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def app(self) -> Starlette:
        app = Starlette(routes=[*api.routes(), *control.routes()])
        app.state.world = self.world
        app.state.emulator = self
        return app

    async def start(self) -> None:
        self._sender = CallbackSender(self.world, self.receiver)
        self._server = EmbeddedServer(self.app(), host=self._host, port=self._port)
        self._port = await self._server.start()

    async def stop(self) -> None:
        self.world.close()  # answers the control API's open long polls
        if self._server is not None:
            await self._server.stop()
        if self._sender is not None:
            await self._sender.close()

    async def __aenter__(self) -> WeChatEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The API base: what ``GRIDSNAP_WECHAT_API_URL`` is set to."""
        return f"http://{self._host}:{self._port}"

    @property
    def appid(self) -> str:
        return self.world.appid

    @property
    def secret(self) -> str:
        return self.world.secret

    @property
    def sender(self) -> CallbackSender:
        if self._sender is None:
            raise RuntimeError("start the emulator first")
        return self._sender

    # --- playing followers ---------------------------------------------------------------

    def user(
        self, openid: str | None = None, *, nickname: str = "骑手", subscribed: bool = True
    ) -> Follower:
        """A follower made without a push (use ``subscribe`` to have the bot told)."""
        return self.world.add_follower(openid, nickname=nickname, subscribed=subscribed)

    def subscribe(
        self, openid: str, *, nickname: str = "骑手", scene: str | None = None
    ) -> Callback:
        """Following the account; with ``scene``, by scanning a QR code made with that scene
        (WeChat's ``EventKey`` is then ``qrscene_<scene>``)."""
        follower = self.world.followers.get(openid) or self.user(openid, nickname=nickname)
        follower.subscribed = True
        self.world.interacted(openid, message=False)
        key = None if scene is None else f"qrscene_{scene}"
        self._said(openid, "event:subscribe", {"event": "subscribe", "key": key})
        return self.sender.push(
            openid, "event:subscribe", messages.event("subscribe", key), msg_id=None
        )

    def scan(self, openid: str, scene: str) -> Callback:
        """A follower scanning a QR code made with ``scene``: a ``SCAN`` event, its bare scene."""
        self._speaker(openid)
        self.world.interacted(openid, message=False)
        self._said(openid, "event:SCAN", {"event": "SCAN", "key": scene})
        return self.sender.push(openid, "event:SCAN", messages.event("SCAN", scene), msg_id=None)

    def unsubscribe(self, openid: str) -> Callback:
        self._speaker(openid).subscribed = False
        self._said(openid, "event:unsubscribe", {"event": "unsubscribe"})
        return self.sender.push(
            openid, "event:unsubscribe", messages.event("unsubscribe"), msg_id=None
        )

    def click(self, openid: str, key: str) -> Callback:
        """A tap on a custom-menu button of type ``click``."""
        self._speaker(openid)
        self.world.interacted(openid, message=False)
        self._said(openid, "event:CLICK", {"event": "CLICK", "key": key})
        return self.sender.push(openid, "event:CLICK", messages.event("CLICK", key), msg_id=None)

    def send_text(self, openid: str, content: str) -> Callback:
        return self._message(
            openid, "text", {"content": content}, lambda msg_id: messages.text(content, msg_id)
        )

    def send_image(self, openid: str, data: bytes) -> Callback:
        """The photo is stored as media: the bot gets its MediaId and PicUrl."""
        self._speaker(openid)
        media = self.world.store_media(data, image_type(data))
        pic_url = f"{self.url}/mmbiz_jpg/{media.media_id}/0"
        return self._message(
            openid,
            "image",
            {"media_id": media.media_id},
            lambda msg_id: messages.image(pic_url, media.media_id, msg_id),
        )

    def send_location(
        self, openid: str, lat: float, lon: float, *, scale: int = 15, label: str = ""
    ) -> Callback:
        """``lat``/``lon`` in GCJ-02, as the WeChat client's Tencent map reports them."""
        shown = {"lat": lat, "lon": lon, "scale": scale, "label": label}
        return self._message(
            openid,
            "location",
            shown,
            lambda msg_id: messages.location(lat, lon, scale, label, msg_id),
        )

    def tap_menu(self, openid: str, item_id: str, content: str | None = None) -> Callback:
        """A tap on an item of a ``msgmenu`` the user received: a text message carrying
        ``bizmsgmenuid``. Without ``content`` the item is looked up in what they received."""
        text = content if content is not None else self._menu_item(openid, item_id)
        return self._message(
            openid,
            "text:menu",
            {"content": text, "menu_id": item_id},
            lambda msg_id: messages.text(text, msg_id, menu_id=item_id),
        )

    def _menu_item(self, openid: str, item_id: str) -> str:
        for item in reversed(self.world.received_by(openid)):
            for choice in item.body.get("list", []) if item.msgtype == "msgmenu" else []:
                if str(choice.get("id")) == item_id:
                    return str(choice["content"])
        raise ValueError(f"{openid} received no menu with an item {item_id!r}")

    def _message(
        self,
        openid: str,
        kind: str,
        shown: JSON,
        fields: Callable[[int], list[messages.Field]],
    ) -> Callback:
        self._speaker(openid)
        self.world.interacted(openid)
        self._said(openid, kind, shown)
        msg_id = self.world.next_msg_id()
        return self.sender.push(openid, kind, fields(msg_id), msg_id=msg_id)

    def _said(self, openid: str, kind: str, shown: JSON) -> None:
        """The user's own side of the chat, for a viewer (the sandbox) to show."""
        self.world.deliver(openid, via="user", msgtype=kind, body=shown)

    def _speaker(self, openid: str) -> Follower:
        follower = self.world.followers.get(openid)
        if follower is None or not follower.subscribed:
            raise ValueError(f"{openid} does not follow the account")
        return follower

    def push_again(self, callback: Callback) -> Callback:
        """Send ``callback`` to the bot again unchanged (same MsgId), as WeChat does when an
        answer is lost; its tries go on in the same record."""
        return self.sender.push_again(callback)

    async def verify_url(self, echostr: str | None = None) -> bool:
        """WeChat's GET check of the server URL: True when ``echostr`` comes back."""
        _status, echoed = await self.sender.verify_url(echostr)
        return echoed

    # --- reading what happened -----------------------------------------------------------

    def received(self, openid: str, *, since: int = 0) -> list[Received]:
        return self.world.received_by(openid, since)

    def conversation(self, openid: str, *, since: int = 0) -> list[Received]:
        """What ``openid`` sent (``via="user"``) and received, in order."""
        return self.world.conversation(openid, since)

    async def wait_for_message(
        self,
        openid: str,
        predicate: Callable[[Received], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 -- same test API as the Bot API emulator's
        *,
        since: int = 0,
    ) -> Received:
        """The first thing ``openid`` received (after ``since``) that satisfies ``predicate``."""

        def first_match() -> Received | None:
            for item in self.world.received_by(openid, since):
                if predicate is None or predicate(item):
                    return item
            return None

        found = await self.world.wait_until(first_match, timeout)
        if found is None:
            raise TimeoutError(f"{openid} received nothing matching within {timeout}s")
        return found

    async def settled(self, callback: Callback, timeout: float = 30.0) -> Callback:  # noqa: ASYNC109
        """``callback`` once WeChat is done with it: answered, or out of tries."""
        if not await self.world.wait_until(lambda: callback.done, timeout):
            raise TimeoutError(f"callback {callback.id} still pending after {timeout}s")
        return callback

    def media_bytes(self, media_id: str) -> bytes:
        return self.world.get_media(media_id).data

    @property
    def tokens_issued(self) -> int:
        return self.world.tokens_issued

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's time forward (48-hour window, token and media expiry)."""
        return self.world.clock.advance(seconds)

    def add_template(self, template_id: str, content: str) -> None:
        self.world.templates[template_id] = content

    def inject_fault(
        self,
        api: str | None = None,
        *,
        times: int = 1,
        errcode: int | None = None,
        status: int | None = None,
        hang: float = 0.0,
    ) -> Fault:
        return self.world.faults.inject(api, times=times, errcode=errcode, status=status, hang=hang)
