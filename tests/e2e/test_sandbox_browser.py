"""The sandbox in a real browser: Debian's Chromium driven by Playwright, headless.

The sandbox runs in-process (emulator + real python-telegram-bot + web chat) on free ports
with a temporary SQLite database; the page is driven the way a person would use it, with the
rider and the grid worker (or a new rider and the community admin) in tabs of one browser.
The page's own words are checked in English and Chinese, chosen by ``?lang=``, by the
browser's language and by the picker's switch. Screenshots of each go to tests/artifacts/;
``GRIDSNAP_UPDATE_SCREENSHOTS=1`` also refreshes the two in docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.geo.crs import gcj02_to_wgs84
from bot.i18n import translator
from bot.sandbox.demo import DEMO_COMMUNITY, DEMO_GRID, DEMO_STREET, LOCALE
from bot.sandbox.runtime import Sandbox, sandbox
from handlers.common import HELP_INTRO

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
DOCS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPORT_NUMBER = re.compile(r"\d{6}-\d{4}")
WAIT_MS = 20_000  # a bot answer takes well under a second; pushes queue at ~1 message/s per chat
PHOTOS = ROOT.parent / "shared" / "data" / "realworld" / "photos"
CAMERA_PHOTO = PHOTOS / "gps" / "DSCN0010.jpg"  # a real 640×480 camera JPEG
NEW_RIDER_NAME = "赵磊"
CATEGORY = "C0101"  # 雨水井盖, a manhole cover: the sample photo's; it needs an after-photo
AFTER_SAMPLE = "pothole.jpg"  # any bundled sample stands in for the worker's after-photo

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    if os.environ.get("GRIDSNAP_TEST_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing; run `make browser` (needs root)")
    pytest.skip(f"{CHROMIUM} is missing; `make browser` installs it", allow_module_level=True)

from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Locator,
    Page,
    expect,
    sync_playwright,
)


class _SandboxThread:
    """The sandbox on its own event loop: Playwright's sync API owns the test's thread."""

    def __init__(self, tmp: Path) -> None:
        self.settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp / 'sandbox.db'}",
            photo_dir=tmp / "photos",
            telegram_token=None,
            webhook_url=None,
            sandbox_port=0,
        )
        self.ready = threading.Event()
        self.running: Sandbox | None = None
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with sandbox(self.settings) as running:
            self.running = running
            self.ready.set()
            await self._stop.wait()

    def start(self) -> Sandbox:
        self._thread.start()
        self.ready.wait(60)
        if self.running is None:
            raise RuntimeError(f"the sandbox did not start: {self.error!r}")
        return self.running

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def running_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    thread = _SandboxThread(tmp_path_factory.mktemp("sandbox"))
    try:
        yield thread.start()
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def tabs(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile: every persona opened in it is another tab, as a person would."""
    context = browser.new_context(viewport={"width": 400, "height": 780}, locale="zh-CN")
    yield context
    context.close()


@pytest.fixture
def english_tabs(browser: Browser) -> Iterator[BrowserContext]:
    """A browser set to English: it asks for pages in English (Accept-Language: en-US)."""
    context = browser.new_context(viewport={"width": 400, "height": 780}, locale="en-US")
    yield context
    context.close()


@pytest.fixture
def phone(tabs: BrowserContext) -> Page:
    return tabs.new_page()


def _shot(page: Page, name: str, *, docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    # The committed copies change only on request, so a test run leaves the tree clean.
    if docs and os.environ.get("GRIDSNAP_UPDATE_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / f"{name}.png")


def _click_label(page: Page, code: str) -> None:
    """Click where a unit's name is drawn (its inner point), as a person aiming at it would."""
    label = page.locator(f'#map text[data-code="{code}"]')
    expect(label).to_be_visible()
    box = label.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _zh(message: str) -> str:
    """What the bot says to the demo personas (their locale), from the same catalogue."""
    return translator(LOCALE)._(message)


def _said(message: str, number: str) -> re.Pattern[str]:
    """``message`` as the bot sends it: the number filled in, the other fields free."""
    pattern = re.escape(_zh(message)).replace(re.escape("{number}"), re.escape(number))
    return re.compile(re.sub(r"\\\{\w+\\\}", ".+?", pattern))


def _expect_bot_says(page: Page, message: str, *, number: str = "") -> None:
    said = page.locator(".msg.bot .bubble", has_text=_said(message, number))
    expect(said.last).to_be_visible(timeout=WAIT_MS)


def _message_id(button: Locator) -> str:
    mid = button.locator("xpath=ancestor::div[@data-mid]").get_attribute("data-mid")
    assert mid is not None
    return mid


def _open_as(tabs: BrowserContext, url: str, key: str, name: str) -> Page:
    page = tabs.new_page()
    page.goto(f"{url}/?as={key}")
    expect(page.locator("#who")).to_have_text(name)
    return page


def _send_sample(page: Page, sample: str) -> None:
    sent = page.locator(".msg.me img")
    before = sent.count()
    page.click("#plus")
    page.click("#m-samples")
    page.click(f'img[data-sample="{sample}"]')
    expect(sent).to_have_count(before + 1, timeout=WAIT_MS)


def _expect_loaded(image: Locator) -> None:
    """The browser fetched and decoded the picture: a broken link has no natural width."""
    image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=WAIT_MS
    )


def _expect_map_image(worker: Page, number: str) -> None:
    """The alert's third message: the bot's map of the grid, as a picture with its caption."""
    caption = _zh("Map of report {number}").format(number=number)
    shown = worker.locator(".msg.bot").filter(has=worker.locator(f'img[alt^="{caption}"]'))
    expect(shown).to_have_count(1, timeout=WAIT_MS)
    expect(shown.locator(".caption")).to_have_text(f"{caption}\n天洋新城社区第3网格")
    _expect_loaded(shown.locator("img"))


def _report_from_page(rider: Page) -> str:
    """Photo, location on the map drawing, category, Skip, Submit; returns the number."""
    earlier = rider.locator(".msg.bot .bubble", has_text=REPORT_NUMBER).count()
    _send_sample(rider, "manhole.jpg")
    location_button = rider.locator("#replykb button").first
    expect(location_button).to_be_visible(timeout=WAIT_MS)

    location_button.click()
    expect(rider.locator("#mappicker")).to_be_visible()
    _click_label(rider, DEMO_STREET)  # zoom to 燕山大街街道
    _click_label(rider, DEMO_GRID)
    _shot(rider, "sandbox-map-picker")
    places = rider.locator(".msg.me .bubble.place")
    before = places.count()
    rider.click("#map-send")
    expect(places).to_have_count(before + 1)

    rider.locator(f'button[data-callback="rep:cat:{CATEGORY}"]').click(timeout=WAIT_MS)
    # The menu keeps the choice, ticked, where the buttons were.
    expect(rider.locator('button[data-callback="chosen:"]').last).to_contain_text(
        "✓", timeout=WAIT_MS
    )
    rider.locator('button[data-callback="rep:skip"]').click(timeout=WAIT_MS)
    submit = rider.locator('button[data-callback="rep:submit"]')
    expect(submit).to_be_visible(timeout=WAIT_MS)
    assert "天洋新城社区" in rider.locator(".msg.bot .bubble").last.inner_text()
    submit.click()

    filed = rider.locator(".msg.bot .bubble", has_text=REPORT_NUMBER)
    expect(filed).to_have_count(earlier + 1, timeout=WAIT_MS)
    number = REPORT_NUMBER.search(filed.last.inner_text())
    assert number is not None
    return number.group(0)


def test_persona_picker_links_every_persona_to_its_own_tab(running_sandbox: Sandbox, phone: Page):
    phone.goto(running_sandbox.url + "/")
    links = phone.locator("#personas a")
    expect(links).to_have_count(6)
    expect(phone.locator('a[data-persona="worker"]')).to_contain_text("李芳")
    assert phone.locator('a[data-persona="rider"]').get_attribute("href") == "/?as=rider"
    _shot(phone, "sandbox-personas")


def test_rider_and_grid_worker_tabs_take_a_report_from_photo_to_closed(
    running_sandbox: Sandbox, tabs: BrowserContext
):
    rider = _open_as(tabs, running_sandbox.url, "rider", "小王")
    number = _report_from_page(rider)
    _shot(rider, "sandbox-rider-report", docs=True)

    worker = _open_as(tabs, running_sandbox.url, "worker", "李芳")
    accept = worker.locator('.msg.bot button[data-callback^="w:acc:"]')
    expect(accept).to_be_visible(timeout=WAIT_MS)
    # The alert by its message id: Accept edits its buttons, and the page redraws.
    alert = worker.locator(f'.msg[data-mid="{_message_id(accept)}"]')
    expect(alert).to_contain_text(number)
    expect(alert.locator("img")).to_have_count(1)  # the rider's photo
    # Which of 李芳's three grids, and where in it, in words.
    expect(alert).to_contain_text(_zh("Grid: {grid}").format(grid="天洋新城社区第3网格"))
    expect(alert).to_contain_text(_zh("Where: {place}").split("{")[0])
    _expect_map_image(worker, number)
    accept.click()
    expect(worker.locator("#toast")).to_contain_text(number, timeout=WAIT_MS)
    resolve = alert.locator('button[data-callback^="w:res:"]')
    expect(resolve).to_be_visible(timeout=WAIT_MS)
    expect(worker.locator("#toast")).to_be_hidden(timeout=WAIT_MS)  # a clean picture for the docs
    _shot(worker, "sandbox-worker-alert", docs=True)
    _expect_bot_says(
        rider, "Report {number} ({category}) was accepted by a grid worker.", number=number
    )

    resolve.click()
    _expect_bot_says(worker, "What was done? Write a short note.")
    worker.fill("#text", "已盖上新井盖")
    worker.press("#text", "Enter")
    _expect_bot_says(worker, "Send a photo of the fixed problem.")  # required for covers
    _send_sample(worker, AFTER_SAMPLE)
    _expect_bot_says(worker, "Resolved. The reporter will be asked to confirm.")

    fixed = rider.locator('button[data-callback^="fb:ok:"]')
    expect(fixed).to_contain_text("👍", timeout=WAIT_MS)
    question = rider.locator(".msg.bot").filter(has=fixed)
    expect(question).to_contain_text(_zh("Is it fixed?"))
    expect(question).to_contain_text("已盖上新井盖")  # the worker's note
    expect(question.locator("img")).to_have_count(1)  # the after-photo
    expect(question.locator('button[data-callback^="fb:no:"]')).to_contain_text("👎")
    _shot(rider, "sandbox-rider-fixed-question")
    asked = rider.locator(f'.msg[data-mid="{_message_id(fixed)}"]')  # by id: 👍 edits it
    fixed.click()
    expect(asked.locator('button[data-callback="chosen:"]')).to_contain_text("👍", timeout=WAIT_MS)
    rider.locator('button[data-callback^="fb:rate:"][data-callback$=":5"]').click(timeout=WAIT_MS)
    expect(rider.locator('button[data-callback="chosen:"]', has_text="⭐⭐⭐⭐⭐")).to_have_count(
        1, timeout=WAIT_MS
    )
    _expect_bot_says(rider, "Thank you! Report {number} is closed.", number=number)
    _expect_bot_says(
        worker, "Report {number} ({category}) was confirmed fixed by the reporter.", number=number
    )
    _shot(rider, "sandbox-rider-closed")
    _shot(worker, "sandbox-worker-closed")


def _expect_english_chat_chrome(chat: Page) -> None:
    expect(chat.locator("#send")).to_have_text("Send")
    expect(chat.locator("#text")).to_have_attribute("placeholder", "Message")
    chat.click("#plus")
    expect(chat.locator("#m-upload")).to_contain_text("Upload photo")
    expect(chat.locator("#m-samples")).to_contain_text("Sample photo")
    expect(chat.locator("#m-location")).to_contain_text("Location")
    chat.click("#m-samples")
    expect(chat.locator('img[data-sample="manhole.jpg"]')).to_have_attribute(
        "alt", "Missing manhole cover"
    )
    chat.click("#m-location")
    expect(chat.locator("#map-title")).to_have_text("Pick a location")
    expect(chat.locator("#map-hint")).to_have_text("Click a street to zoom in")
    expect(chat.locator("#map-send")).to_have_text("Send location")
    _click_label(chat, DEMO_STREET)
    expect(chat.locator("#map-hint")).to_have_text("Click inside a grid")
    expect(chat.locator("#map-up")).to_have_text("Whole city")


def test_english_page_shows_the_picker_and_the_chat_in_english(
    running_sandbox: Sandbox, tabs: BrowserContext
):
    picker = tabs.new_page()  # a Chinese browser: ?lang=en overrides it
    picker.goto(running_sandbox.url + "/?lang=en")
    expect(picker.locator("html")).to_have_attribute("lang", "en")
    expect(picker.locator("#picker-title")).to_have_text("Choose a persona")
    expect(picker.locator("#langs a.on")).to_have_text("English")
    worker = picker.locator('a[data-persona="worker"]')
    expect(worker).to_contain_text("李芳")  # a person's name stays as it is
    expect(worker).to_contain_text("Grid worker")
    expect(picker.locator('a[data-persona="new"]')).to_contain_text("Register as a new rider")
    assert worker.get_attribute("href") == "/?as=worker&lang=en"
    _shot(picker, "sandbox-personas-en")

    with tabs.expect_page() as opened:
        worker.click()
    chat = opened.value
    expect(chat.locator("#who")).to_have_text("李芳")
    expect(chat.locator("#title")).to_have_text("Gridsnap")
    assert chat.locator("#back").get_attribute("href") == "/?lang=en"
    _expect_english_chat_chrome(chat)
    _shot(chat, "sandbox-map-picker-en")


def test_chinese_page_shows_the_picker_and_the_chat_in_chinese(
    running_sandbox: Sandbox, english_tabs: BrowserContext
):
    picker = english_tabs.new_page()  # an English browser: ?lang=zh_CN overrides it
    picker.goto(running_sandbox.url + "/?lang=zh_CN")
    expect(picker.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(picker.locator("#picker-title")).to_have_text("选择身份")
    expect(picker.locator('a[data-persona="worker"]')).to_contain_text("网格员")
    expect(picker.locator('a[data-persona="new"]')).to_contain_text("注册新骑手")

    chat = english_tabs.new_page()
    chat.goto(running_sandbox.url + "/?as=worker&lang=zh_CN")
    expect(chat.locator("#title")).to_have_text("随手拍")  # the product's Chinese name
    expect(chat.locator("#send")).to_have_text("发送")
    expect(chat.locator("#text")).to_have_attribute("placeholder", "输入消息")
    chat.click("#plus")
    expect(chat.locator("#m-upload")).to_contain_text("上传照片")
    chat.click("#m-location")
    expect(chat.locator("#map-title")).to_have_text("选择位置")
    expect(chat.locator("#map-hint")).to_have_text("点击街道放大")


def test_without_lang_in_the_url_the_page_speaks_the_browsers_language(
    running_sandbox: Sandbox, english_tabs: BrowserContext, tabs: BrowserContext
):
    english = english_tabs.new_page()
    english.goto(running_sandbox.url + "/")
    expect(english.locator("#picker-title")).to_have_text("Choose a persona")
    # Not pinned in the links either: each tab follows the browser, as this one did.
    assert english.locator('a[data-persona="rider"]').get_attribute("href") == "/?as=rider"
    english_chat = english_tabs.new_page()
    english_chat.goto(running_sandbox.url + "/?as=rider")
    expect(english_chat.locator("#send")).to_have_text("Send")

    chinese = tabs.new_page()
    chinese.goto(running_sandbox.url + "/")
    expect(chinese.locator("#picker-title")).to_have_text("选择身份")


def test_the_language_switch_on_the_picker_changes_the_page_and_its_links(
    running_sandbox: Sandbox, tabs: BrowserContext
):
    picker = tabs.new_page()
    picker.goto(running_sandbox.url + "/")
    expect(picker.locator("#picker-title")).to_have_text("选择身份")

    picker.click('#langs a[data-lang="en"]')
    expect(picker.locator("#picker-title")).to_have_text("Choose a persona")
    assert picker.url.endswith("/?lang=en")
    rider = picker.locator('a[data-persona="rider"]')
    expect(rider).to_contain_text("Rider")
    assert rider.get_attribute("href") == "/?as=rider&lang=en"

    picker.click('#langs a[data-lang="zh_CN"]')
    expect(picker.locator("#picker-title")).to_have_text("选择身份")
    expect(picker.locator('a[data-persona="rider"]')).to_contain_text("骑手")


def test_new_rider_registers_from_the_page_and_the_community_admin_approves_in_another_tab(
    running_sandbox: Sandbox, tabs: BrowserContext
):
    picker = tabs.new_page()
    picker.goto(running_sandbox.url + "/")
    with tabs.expect_page() as opened:
        picker.click('a[data-persona="new"]')
    rider = opened.value
    expect(rider.locator("#who")).to_have_text(re.compile(r"骑手\d{4}"))
    rider.locator('button[data-callback="reg:agree"]').click(timeout=WAIT_MS)
    _expect_bot_says(rider, "What is your name? (1 to {max} characters)")
    rider.fill("#text", NEW_RIDER_NAME)
    rider.press("#text", "Enter")

    share = rider.locator("#replykb button", has_text=_zh("Share my phone number"))
    share.click(timeout=WAIT_MS)
    expect(rider.locator(".msg.me .bubble", has_text="👤")).to_contain_text("+86139")
    # The avatar of "骑手1234" is its first character: its last was a digit.
    expect(rider.locator(".msg.me .avatar").first).to_have_text("骑")
    _expect_bot_says(rider, "Thank you, your number is saved.")
    expect(share).to_have_count(0)  # the bot removed the keyboard
    rider.locator('button[data-callback="reg:co:0"]').click(timeout=WAIT_MS)  # 美团

    rider.locator("#replykb button", has_text=_zh("Share a location")).click(timeout=WAIT_MS)
    _click_label(rider, DEMO_STREET)
    _click_label(rider, DEMO_GRID)
    rider.click("#map-send")
    rider.locator('button[data-callback="reg:submit"]').click(timeout=WAIT_MS)
    _expect_bot_says(
        rider,
        "Thank you! Your registration was sent. A community admin will review it, "
        "and I will tell you here as soon as it is decided.",
    )
    _shot(rider, "sandbox-new-rider-registered")

    admin = _open_as(tabs, running_sandbox.url, "community", "陈静")
    approve = admin.locator('button[data-callback^="ia:ok:"]')
    alert = admin.locator(".msg.bot").filter(has=approve).filter(has_text=NEW_RIDER_NAME)
    expect(alert).to_have_count(1, timeout=WAIT_MS)
    # By its message id from here on: Approve edits the buttons away.
    alert = admin.locator(f'.msg[data-mid="{_message_id(alert.locator("button").first)}"]')
    expect(alert).to_contain_text("天洋新城社区")
    expect(alert.locator('button[data-callback^="ia:ok:"]')).to_have_text(_zh("Approve"))
    _shot(admin, "sandbox-admin-registration-alert")
    alert.locator('button[data-callback^="ia:ok:"]').click()
    _expect_bot_says(admin, "Approved: {name}.")
    expect(alert.locator("button")).to_have_count(0)  # decided: the buttons are gone

    _expect_bot_says(
        rider,
        "Your informant registration was approved. Send a photo of a hazard, "
        "or /report, to report it to the grid workers.",
    )
    _shot(rider, "sandbox-new-rider-approved")


def test_rider_uploads_a_camera_photo_and_the_bot_asks_where_it_is(
    running_sandbox: Sandbox, tabs: BrowserContext
):
    rider = _open_as(tabs, running_sandbox.url, "rider", "小王")
    rider.click("#plus")
    with rider.expect_response(re.compile(r"/control/users/\d+/photo$")) as response:
        rider.set_input_files("#file", CAMERA_PHOTO)
    sent = response.value.json()["result"]
    assert sent["photo"][-1]["width"] == 640  # the real file arrived, not a placeholder

    mine = rider.locator(f'.msg.me[data-mid="{sent["message_id"]}"]')
    expect(mine.locator("img")).to_have_count(1, timeout=WAIT_MS)
    _expect_loaded(mine.locator("img"))
    answer = rider.locator(
        f'xpath=//div[@data-mid="{sent["message_id"]}"]/following-sibling::div'
        '[contains(@class, "bot")]'
    )
    prompt = _zh(
        "Where is it? Tap the button below to share your location, or attach a "
        "location or place on the map."
    )
    expect(answer.first).to_contain_text(prompt, timeout=WAIT_MS)
    expect(rider.locator("#replykb button").first).to_be_visible()
    _shot(rider, "sandbox-rider-upload")

    rider.fill("#text", "/cancel")  # leave 小王 with no open draft
    rider.press("#text", "Enter")
    _expect_bot_says(rider, "Cancelled. Nothing was sent.")


# -- the map picker, the empty chat, the history ---------------------------------------------


def _view_box(page: Page) -> list[float]:
    box = page.locator("#map").get_attribute("viewBox")
    assert box is not None
    return [float(v) for v in box.split()]


def _label_px(page: Page, code: str) -> float:
    """How tall a unit's name is drawn on the screen, in CSS pixels."""
    box = page.locator(f'#map text[data-code="{code}"]').bounding_box()
    assert box is not None
    return float(box["height"])


def _open_map(page: Page) -> None:
    page.click("#plus")
    page.click("#m-location")
    expect(page.locator("#mappicker")).to_be_visible()
    expect(page.locator(f'#map text[data-code="{DEMO_STREET}"]')).to_be_visible()


def test_map_zooms_with_the_wheel_pans_by_drag_and_keeps_labels_readable(
    running_sandbox: Sandbox, tabs: BrowserContext
):
    rider = _open_as(tabs, running_sandbox.url, "leader", "张强")  # only the map is used
    _open_map(rider)
    assert _label_px(rider, DEMO_STREET) >= 11  # a street's name reads in the whole city
    before = _view_box(rider)
    stage = rider.locator("#map").bounding_box()
    assert stage is not None
    middle = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    rider.mouse.move(*middle)
    rider.mouse.wheel(0, -600)  # zoom in around the pointer
    rider.wait_for_function(f"document.getElementById('map').viewBox.baseVal.width < {before[2]}")
    zoomed = _view_box(rider)
    assert zoomed[2] < before[2] / 2
    assert _label_px(rider, DEMO_STREET) >= 11  # the same size on screen, not 4 px
    rider.mouse.down()
    rider.mouse.move(middle[0] + 80, middle[1] + 40, steps=8)
    rider.mouse.up()
    dragged = _view_box(rider)
    assert dragged[0] < zoomed[0] and dragged[1] < zoomed[1]  # the map moved with the pointer
    assert dragged[2] == pytest.approx(zoomed[2])
    expect(rider.locator("#map-send")).to_be_disabled()  # a drag is not a pick
    rider.click("#map-zoom-out")
    assert _view_box(rider)[2] > dragged[2]
    _shot(rider, "sandbox-map-zoomed")


def test_map_search_finds_a_community_and_the_hint_names_the_grid_picked(
    running_sandbox: Sandbox, tabs: BrowserContext
):
    rider = _open_as(tabs, running_sandbox.url, "leader", "张强")
    _open_map(rider)
    rider.fill("#map-search", "天洋新城")
    hit = rider.locator("#map-results button", has_text="天洋新城社区").first
    expect(hit).to_be_visible(timeout=WAIT_MS)
    hit.click()
    expect(rider.locator("#map-title")).to_have_text("燕山大街街道")
    expect(rider.locator(f'#map path.found[data-code="{DEMO_COMMUNITY}"]')).to_have_count(1)
    _click_label(rider, DEMO_GRID)
    expect(rider.locator("#map-hint")).to_have_text("天洋新城社区第3网格")  # not its code
    _shot(rider, "sandbox-map-search", docs=True)
    rider.fill("#map-search", "不存在的街道名")
    expect(rider.locator("#map-results")).to_contain_text(
        translator(LOCALE)._("No street, community or grid by that name"), timeout=WAIT_MS
    )


def test_use_my_location_sends_where_the_browser_is(running_sandbox: Sandbox, browser: Browser):
    gridmap = running_sandbox.app.env.maps.current()
    inside = gridmap.geometry(DEMO_GRID).representative_point()
    lat, lon = gcj02_to_wgs84(inside.y, inside.x)
    context = browser.new_context(
        viewport={"width": 400, "height": 780},
        locale="zh-CN",
        geolocation={"latitude": lat, "longitude": lon},
        permissions=["geolocation"],
    )
    try:
        rider = _open_as(context, running_sandbox.url, "rider", "小王")
        _open_map(rider)
        with rider.expect_response(re.compile(r"/sandbox/users/\d+/location$")) as response:
            rider.click("#map-locate")
        sent = response.value.json()["result"]["location"]
        assert (sent["latitude"], sent["longitude"]) == pytest.approx((lat, lon), abs=1e-5)
        _expect_bot_says(rider, "Location received. Now send a photo of the problem (up to 3).")
        rider.fill("#text", "/cancel")
        rider.press("#text", "Enter")
        _expect_bot_says(rider, "Cancelled. Nothing was sent.")
    finally:
        context.close()


def test_an_empty_chat_says_what_to_do_first(running_sandbox: Sandbox, tabs: BrowserContext):
    street = _open_as(tabs, running_sandbox.url, "street", "刘洋")
    expect(street.locator(".sys.empty")).to_have_text(
        translator(LOCALE)._(
            "Alerts for your grids arrive here. Open the rider's tab and file a report to see "
            "one, or send /help."
        )
    )
    street.fill("#text", "/help")
    street.press("#text", "Enter")
    _expect_bot_says(street, HELP_INTRO)
    expect(street.locator(".sys.empty")).to_have_count(0)


def test_the_chats_are_still_there_after_the_sandbox_restarts(browser: Browser, tmp_path: Path):
    first = _SandboxThread(tmp_path)
    try:
        running = first.start()
        context = browser.new_context(viewport={"width": 400, "height": 780}, locale="zh-CN")
        rider = _open_as(context, running.url, "rider", "小王")
        expect(rider.locator(".sys.empty")).to_have_count(1)  # a fresh sandbox
        rider.fill("#text", "/help")
        rider.press("#text", "Enter")
        _expect_bot_says(rider, HELP_INTRO)
        context.close()
    finally:
        first.stop()

    second = _SandboxThread(tmp_path)
    try:
        running = second.start()
        context = browser.new_context(viewport={"width": 400, "height": 780}, locale="zh-CN")
        rider = _open_as(context, running.url, "rider", "小王")
        expect(rider.locator(".msg.me .bubble", has_text="/help")).to_have_count(1)
        _expect_bot_says(rider, HELP_INTRO)
        expect(rider.locator(".sys.empty")).to_have_count(0)
        context.close()
    finally:
        second.stop()


def test_a_repeat_report_is_a_photo_and_three_taps(running_sandbox: Sandbox, tabs: BrowserContext):
    rider = _open_as(tabs, running_sandbox.url, "rider", "小王")
    _report_from_page(rider)  # the last report, whatever ran before
    filed = rider.locator(".msg.bot .bubble", has_text=REPORT_NUMBER)
    before = filed.count()
    _send_sample(rider, "manhole.jpg")
    repeat = rider.locator(
        "#replykb button", has_text=_zh("↩️ Same place and category as last time")
    )
    repeat.click(timeout=WAIT_MS)  # tap 1: the place and the category of the last report
    rider.locator('button[data-callback="rep:skip"]').last.click(timeout=WAIT_MS)  # tap 2
    submit = rider.locator('button[data-callback="rep:submit"]').last
    expect(submit).to_be_visible(timeout=WAIT_MS)
    _shot(rider, "sandbox-rider-repeat", docs=True)
    submit.click()  # tap 3 (a possible duplicate is offered above it; this files anew)
    expect(filed).to_have_count(before + 1, timeout=WAIT_MS)


def test_two_fingers_spreading_apart_zoom_the_map_in(running_sandbox: Sandbox, browser: Browser):
    context = browser.new_context(
        viewport={"width": 400, "height": 780}, locale="zh-CN", has_touch=True, is_mobile=True
    )
    try:
        page = _open_as(context, running_sandbox.url, "leader", "张强")
        _open_map(page)
        before = _view_box(page)
        stage = page.locator("#map").bounding_box()
        assert stage is not None
        x, y = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2
        touch = context.new_cdp_session(page)

        def fingers(apart: float) -> list[dict[str, float]]:
            return [{"x": x - apart, "y": y, "id": 0}, {"x": x + apart, "y": y, "id": 1}]

        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": fingers(20)})
        for apart in range(30, 130, 10):
            touch.send(
                "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": fingers(apart)}
            )
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        after = _view_box(page)
        assert after[2] < before[2] / 2  # fingers 40 px → 240 px apart: about 6× closer
        expect(page.locator("#map-send")).to_be_disabled()  # a pinch is not a pick
    finally:
        context.close()
