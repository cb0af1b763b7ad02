"""People on WeChat for end-to-end scenes: followers of the emulated Official Account
talking to a running Gridsnap (beside its Telegram side) over real HTTP.

A ``WxPerson`` remembers where their chat stood when they last did something, so
``expect`` finds the bot's answer to *that* action, as ``Person`` does on Telegram.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from bot.app import SAMPLE_MAP, Gridsnap, running, serving_wechat
from bot.config import Settings
from bot.domain.model import Account, Report
from bot.geo.crs import wgs84_to_gcj02
from bot.i18n import translator
from bot.transports.wechat_emulator import Callback, Received, WeChatEmulator
from tests.e2e.conftest import APPROVED, WAIT, jpeg, register_and_approve
from tests.e2e.workers import new_invite

TOKEN = "gridsnap-e2e-token"
CATEGORY = "C0101"
WHERE_IS_IT = (
    "Where is it? Tap the button below to share your location, or attach a "
    "location or place on the map."
)
WxPredicate = Callable[[Received], bool]


def wechat_settings(emulator: WeChatEmulator, **more: Any) -> dict[str, Any]:
    """The GRIDSNAP_WECHAT_* settings for an app talking to ``emulator``."""
    return {
        "wechat_appid": emulator.appid,
        "wechat_secret": emulator.secret,
        "wechat_token": TOKEN,
        "wechat_api_url": emulator.url,
        "wechat_host": "127.0.0.1",
        "wechat_port": 0,
        **more,
    }


@contextlib.asynccontextmanager
async def running_with_wechat(
    settings: Settings, emulator: WeChatEmulator
) -> AsyncIterator[Gridsnap]:
    """Gridsnap on Telegram (the Bot API emulator) and WeChat at once, the emulator's
    pushes going to its ``/wechat``."""
    async with (
        running(settings, sample_map=SAMPLE_MAP) as (app, _telegram),
        serving_wechat(app, settings) as wechat,
    ):
        emulator.receiver.url = f"http://127.0.0.1:{wechat.port}/wechat"
        emulator.receiver.token = TOKEN
        emulator.receiver.aes_key = settings.wechat_aes_key
        yield app


@dataclass
class WxPerson:
    emu: WeChatEmulator
    openid: str
    name: str
    locale: str = "zh_CN"  # WeChat tells a bot no language: the default locale's
    mark: int = 0  # the emulator's received count when this person last acted

    def _(self, source: str) -> str:
        return translator(self.locale)._(source)

    def _act(self) -> None:
        self.mark = len(self.emu.world.received)

    def follow(self, *, scene: str | None = None) -> Callback:
        """Follow the account; with ``scene``, by scanning a QR code made with it."""
        self._act()
        return self.emu.subscribe(self.openid, nickname=self.name, scene=scene)

    def scan(self, scene: str) -> Callback:
        """A follower scans a QR code made with ``scene``."""
        self._act()
        return self.emu.scan(self.openid, scene)

    def say(self, text: str) -> Callback:
        self._act()
        return self.emu.send_text(self.openid, text)

    def photo(self, data: bytes) -> Callback:
        self._act()
        return self.emu.send_image(self.openid, data)

    def location_wgs84(self, lat: float, lon: float, *, label: str = "") -> Callback:
        """Share where (lat, lon) in WGS-84 is: WeChat's Tencent map reports it in GCJ-02."""
        self._act()
        gcj_lat, gcj_lon = wgs84_to_gcj02(lat, lon)
        return self.emu.send_location(self.openid, gcj_lat, gcj_lon, label=label)

    def tap(self, menu: Received, label: str) -> Callback:
        """Tap the msgmenu item whose text contains ``label``."""
        item_id = _item(menu, label)[1]
        self._act()
        return self.emu.tap_menu(self.openid, item_id)

    def type_number_of(self, menu: Received, label: str) -> Callback:
        """Type the number of the item whose text contains ``label`` instead of tapping."""
        return self.say(str(_item(menu, label)[0]))

    async def expect(self, predicate: WxPredicate | str | None = None) -> Received:
        check = _contains(predicate) if isinstance(predicate, str) else predicate
        try:
            return await self.emu.wait_for_message(self.openid, check, WAIT, since=self.mark)
        except TimeoutError:
            seen = [r.text for r in self.emu.received(self.openid, since=self.mark)]
            raise AssertionError(f"{self.name} waited for {predicate!r}; got {seen}") from None


def _item(menu: Received, label: str) -> tuple[int, str]:
    items = menu.body.get("list", []) if menu.msgtype == "msgmenu" else []
    for number, item in enumerate(items, start=1):
        if label in str(item["content"]):
            return number, str(item["id"])
    raise AssertionError(f"no item {label!r} in {menu.text!r}")


def _contains(text: str) -> WxPredicate:
    return lambda received: text in received.text


def has_item(prefix: str) -> WxPredicate:
    """A msgmenu with an item whose id (the button's data) starts with ``prefix``."""

    def matches(received: Received) -> bool:
        items = received.body.get("list", []) if received.msgtype == "msgmenu" else []
        return any(str(item["id"]).startswith(prefix) for item in items)

    return matches


async def wx_informant(app: Gridsnap, who: WxPerson) -> Account:
    """``who``, a follower who wrote (so the 48 h window is open), is registered and approved
    through the services (in-chat registration on WeChat needs the typed phone number that
    the registration flow gains separately)."""
    who.emu.user(who.openid, nickname=who.name)
    who.say("/help")
    await who.expect()
    account = await register_and_approve(
        app, platform="wechat", user_id=who.openid, name=who.name, locale=who.locale
    )
    await who.expect(who._(APPROVED))
    who.mark = len(who.emu.world.received)
    return account


async def report_on_wechat(rider: WxPerson, where: tuple[float, float]) -> str:
    rider.photo(jpeg(31))
    asked = await rider.expect(rider._(WHERE_IS_IT))
    # The share-location button becomes how to send one from WeChat's + panel.
    assert rider._("To share a location: tap + below, then Location.") in asked.text
    rider.location_wgs84(*where, label="海港区")
    categories = await rider.expect(has_item("rep:cat:"))
    rider.tap(categories, app_category_label(categories))
    rider.tap(await rider.expect(has_item("rep:skip")), rider._("Skip"))
    rider.tap(await rider.expect(has_item("rep:submit")), rider._("Submit"))
    head = rider._("Thank you! Your report No. {number} has been filed.").split("{")[0]
    filed = await rider.expect(head)
    number = re.search(r"\d{6}-\d{4}", filed.text)
    assert number is not None
    return number.group()


def app_category_label(menu: Received) -> str:
    """The label of the menu item for ``CATEGORY``."""
    for item in menu.body["list"]:
        if item["id"] == f"rep:cat:{CATEGORY}":
            return str(item["content"]).split(". ", 1)[1]
    raise AssertionError(f"no {CATEGORY} in {menu.text}")


async def rider_confirms(rider: WxPerson, number: str) -> None:
    question = await rider.expect(lambda r: has_item("fb:")(r) and number in r.text)
    assert rider._("Is it fixed?") in question.text
    rider.tap(question, "👍")
    rating = await rider.expect(has_item("fb:rate:"))
    rider.type_number_of(rating, "⭐⭐⭐⭐⭐")  # typed, not tapped: the number answers the menu
    closed = rider._("Thank you! Report {number} is closed.").format(number=number)
    await rider.expect(closed)


async def worker_accepts_and_resolves(worker: WxPerson, alert: Received) -> None:
    worker.tap(alert, worker._("Accept"))
    resolve = await worker.expect(has_item("w:res:"))  # the edit, as a fresh menu
    worker.tap(resolve, worker._("Resolve"))
    await worker.expect(worker._("What was done? Write a short note."))
    worker.say("换了新井盖")
    await worker.expect(worker._("Send a photo of the fixed problem."))
    worker.photo(jpeg(32))
    await worker.expect(worker._("Resolved. The reporter will be asked to confirm."))


async def bind_wechat_worker(app: Gridsnap, worker: WxPerson, grid: str) -> None:
    invite = await new_invite(app, grid)
    # A follower already (as after scanning the invite's QR code); the link's payload
    # comes as /start's, as Telegram's deep link does.
    worker.emu.user(worker.openid, nickname=worker.name)
    worker.say(f"/start {invite.payload}")
    await worker.expect(invite.region.name)


async def worker_follows_then_types_the_invite(
    app: Gridsnap, worker: WxPerson, grid: str
) -> Received:
    """How a grid worker joins on WeChat without the invite's QR code: they follow the
    account (which offers them registration) and type the invite they were sent."""
    invite = await new_invite(app, grid)
    worker.follow()
    await worker.expect(has_item("reg:agree"))
    worker.say(f"/start {invite.payload}")
    return await worker.expect(invite.region.name)


async def account_of_wechat(app: Gridsnap, who: WxPerson) -> Account:
    async with app.uow_factory() as uow:
        account = await uow.accounts.find("wechat", who.openid)
    assert account is not None, f"{who.name} has no account"
    return account


async def reports_of_wechat(app: Gridsnap, rider: WxPerson) -> list[Report]:
    account = await account_of_wechat(app, rider)
    async with app.uow_factory() as uow:
        return list(await uow.reports.for_reporter(account.id))
