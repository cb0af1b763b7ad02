"""The WeChat emulator over real HTTP: its pushes checked by an account server written with
wechatpy alone, its API called with httpx and with wechatpy's own client."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
import pytest
import xmltodict
from wechatpy import WeChatClient
from wechatpy.events import ClickEvent, SubscribeEvent, UnsubscribeEvent
from wechatpy.exceptions import WeChatClientException
from wechatpy.messages import ImageMessage, LocationMessage, TextMessage
from wechatpy.replies import TextReply

from bot.transports.wechat_emulator import WeChatEmulator
from bot.transports.wechat_emulator.callbacks import UNAVAILABLE
from tests.wechat_kit import (
    AES_KEY,
    CAMERA_PHOTO,
    RIDER,
    AccountServer,
    WeChatControl,
    account_server,
    serving_account,
    wechat_control,
    wechat_emulator,
)

__all__ = ["account_server", "wechat_control", "wechat_emulator"]  # the fixtures

HOUR = 3600


async def _token(emu: WeChatEmulator) -> str:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{emu.url}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": emu.appid, "secret": emu.secret},
        )
    return str(answer.json()["access_token"])


async def _api(emu: WeChatEmulator, api: str, token: str, body: Mapping[str, object]) -> dict:  # type: ignore[type-arg]
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{emu.url}/cgi-bin/{api}", params={"access_token": token}, json=body
        )
    return dict(answer.json())


def _text(openid: str, content: str) -> dict[str, object]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


# --- pushes ------------------------------------------------------------------------------------


async def test_a_text_push_is_signed_and_parsed_by_wechatpy(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    wechat_emulator.user(RIDER)
    callback = wechat_emulator.send_text(RIDER, "你好 <b>]]> & 再见")
    await wechat_emulator.settled(callback)

    (push,) = account_server.pushes
    assert isinstance(push.message, TextMessage)
    assert push.message.content == "你好 <b>]]> & 再见"
    assert push.message.source == RIDER
    assert push.message.target == wechat_emulator.world.original_id
    assert push.message.id == callback.msg_id
    assert push.query["openid"] == RIDER
    assert callback.outcome == "success"
    assert account_server.rejected == 0


async def test_safe_mode_pushes_are_encrypted_and_the_encrypted_reply_reaches_the_user(
    wechat_emulator: WeChatEmulator,
) -> None:
    async with serving_account(wechat_emulator, aes_key=AES_KEY) as account:
        account.answer = lambda message: TextReply(content="收到", message=message).render()
        wechat_emulator.user(RIDER)
        callback = await wechat_emulator.settled(wechat_emulator.send_text(RIDER, "秘密"))

    (push,) = account.pushes
    assert push.query["encrypt_type"] == "aes"
    assert "秘密" not in push.body and "<Encrypt>" in push.body
    assert push.message.content == "秘密"
    assert callback.outcome == "reply"
    (reply,) = wechat_emulator.received(RIDER)
    assert (reply.via, reply.msgtype, reply.text) == ("reply", "text", "收到")


async def test_a_plaintext_reply_in_safe_mode_shows_the_user_wechats_error_notice(
    wechat_emulator: WeChatEmulator,
) -> None:
    async with serving_account(wechat_emulator, aes_key=AES_KEY) as account:
        account.encrypt_replies = False
        account.answer = lambda message: TextReply(content="明文", message=message).render()
        wechat_emulator.user(RIDER)
        callback = await wechat_emulator.settled(wechat_emulator.send_text(RIDER, "hi"))
    assert callback.outcome == "invalid"
    assert [r.text for r in wechat_emulator.received(RIDER)] == [UNAVAILABLE]


async def test_a_slow_server_gets_the_same_msg_id_again_and_the_retry_is_answered(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    wechat_emulator.user(RIDER)
    account_server.hold()
    callback = wechat_emulator.send_text(RIDER, "慢")
    await account_server.wait_for_pushes(2)  # the first try timed out: WeChat sent it again
    account_server.release()
    await wechat_emulator.settled(callback)

    ids = {push.message.id for push in account_server.pushes}
    assert ids == {callback.msg_id}
    *timed_out, answered = [t.status for t in callback.tries]
    # One timed-out try at least; more only if this machine stalled past the retry timeout.
    assert timed_out and set(timed_out) == {None}
    assert answered == 200
    assert callback.outcome == "success"


async def test_a_message_pushed_again_is_the_same_message(
    wechat_emulator: WeChatEmulator, account_server: AccountServer, wechat_control: WeChatControl
) -> None:
    wechat_emulator.user(RIDER)
    callback = await wechat_emulator.settled(wechat_emulator.send_text(RIDER, "一次"))
    again = await wechat_control.push_again(callback.id)
    settled = await wechat_control.callback(again["id"], wait=10)

    first, second = await account_server.wait_for_pushes(2)
    assert first.message.id == second.message.id == callback.msg_id
    assert first.message.create_time == second.message.create_time
    assert len(settled["tries"]) == 2 and settled["outcome"] == "success"


async def test_a_server_that_never_answers_in_time_gets_three_tries_then_the_user_a_notice(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    wechat_emulator.receiver.reply_timeout = 0.3
    wechat_emulator.user(RIDER)
    account_server.hold()
    callback = await wechat_emulator.settled(wechat_emulator.send_text(RIDER, "在吗"))

    assert len(callback.tries) == 3
    assert {push.message.id for push in account_server.pushes} == {callback.msg_id}
    assert callback.outcome == "failed"
    assert [r.text for r in wechat_emulator.received(RIDER)] == [UNAVAILABLE]


async def test_an_image_push_carries_a_media_id_the_media_api_serves(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    photo = CAMERA_PHOTO.read_bytes()
    wechat_emulator.user(RIDER)
    await wechat_emulator.settled(wechat_emulator.send_image(RIDER, photo))

    (push,) = account_server.pushes
    assert isinstance(push.message, ImageMessage)
    token = await _token(wechat_emulator)
    async with httpx.AsyncClient() as client:
        by_api = await client.get(
            f"{wechat_emulator.url}/cgi-bin/media/get",
            params={"access_token": token, "media_id": push.message.media_id},
        )
        by_url = await client.get(push.message.image)
    assert by_api.content == photo
    assert by_api.headers["content-type"] == "image/jpeg"
    assert by_url.content == photo


async def test_a_location_push_carries_gcj02_coordinates_scale_and_label(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    wechat_emulator.user(RIDER)
    callback = wechat_emulator.send_location(RIDER, 39.9042, 116.4074, scale=16, label="天安门")
    await wechat_emulator.settled(callback)

    (push,) = account_server.pushes
    assert isinstance(push.message, LocationMessage)
    lat, lon = push.message.location  # wechatpy keeps them as the strings WeChat sent
    assert (float(lat), float(lon)) == (39.9042, 116.4074)
    assert int(push.message.scale) == 16
    assert push.message.label == "天安门"


async def test_subscribe_click_and_unsubscribe_arrive_as_events(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    await wechat_emulator.settled(wechat_emulator.subscribe(RIDER))
    await wechat_emulator.settled(wechat_emulator.click(RIDER, "REPORT"))
    await wechat_emulator.settled(wechat_emulator.unsubscribe(RIDER))

    kinds = [type(push.message) for push in account_server.pushes]
    assert kinds == [SubscribeEvent, ClickEvent, UnsubscribeEvent]
    assert account_server.pushes[1].message.key == "REPORT"
    assert not wechat_emulator.world.followers[RIDER].subscribed
    with pytest.raises(ValueError, match="does not follow"):
        wechat_emulator.send_text(RIDER, "gone")


async def test_a_tap_on_a_msgmenu_item_is_a_text_carrying_bizmsgmenuid(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    wechat_emulator.user(RIDER)
    await wechat_emulator.settled(wechat_emulator.send_text(RIDER, "hi"))
    menu = {
        "head_content": "您对本次服务是否满意？",
        "list": [{"id": "101", "content": "满意"}, {"id": "102", "content": "不满意"}],
        "tail_content": "欢迎再次光临",
    }
    sent = await _api(
        wechat_emulator,
        "message/custom/send",
        await _token(wechat_emulator),
        {"touser": RIDER, "msgtype": "msgmenu", "msgmenu": menu},
    )
    assert sent["errcode"] == 0
    await wechat_emulator.settled(wechat_emulator.tap_menu(RIDER, "102"))

    push = account_server.pushes[-1]
    assert push.message.content == "不满意"
    assert xmltodict.parse(push.body)["xml"]["bizmsgmenuid"] == "102"
    with pytest.raises(ValueError, match="no menu"):
        wechat_emulator.tap_menu(RIDER, "999")


async def test_the_url_check_echoes_echostr_only_with_the_right_token(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    assert await wechat_emulator.verify_url("12345")
    wechat_emulator.receiver.token = "not-the-token"
    assert not await wechat_emulator.verify_url("12345")
    assert account_server.rejected == 1


# --- the API -------------------------------------------------------------------------------


async def test_a_token_needs_the_right_appid_and_secret(wechat_emulator: WeChatEmulator) -> None:
    async def ask(appid: str, secret: str) -> dict:  # type: ignore[type-arg]
        async with httpx.AsyncClient() as client:
            params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
            answer = await client.get(f"{wechat_emulator.url}/cgi-bin/token", params=params)
        return dict(answer.json())

    assert (await ask(wechat_emulator.appid, "wrong"))["errcode"] == 40125
    assert (await ask("wx_other", wechat_emulator.secret))["errcode"] == 40013
    good = await ask(wechat_emulator.appid, wechat_emulator.secret)
    assert good["expires_in"] == 7200
    assert wechat_emulator.tokens_issued == 1


async def test_a_token_expires_after_7200_seconds_and_a_refreshed_one_retires_the_old(
    wechat_emulator: WeChatEmulator,
) -> None:
    wechat_emulator.user(RIDER)
    wechat_emulator.world.interacted(RIDER)
    first = await _token(wechat_emulator)
    assert (await _api(wechat_emulator, "message/custom/send", first, _text(RIDER, "a")))[
        "errcode"
    ] == 0
    wechat_emulator.advance_clock(7200)
    assert (await _api(wechat_emulator, "message/custom/send", first, _text(RIDER, "b")))[
        "errcode"
    ] == 42001

    second = await _token(wechat_emulator)
    third = await _token(wechat_emulator)  # the second still works for five minutes
    assert (await _api(wechat_emulator, "message/custom/send", second, _text(RIDER, "c")))[
        "errcode"
    ] == 0
    wechat_emulator.advance_clock(301)
    assert (await _api(wechat_emulator, "message/custom/send", second, _text(RIDER, "d")))[
        "errcode"
    ] == 42001
    assert (await _api(wechat_emulator, "message/custom/send", third, _text(RIDER, "e")))[
        "errcode"
    ] == 0
    assert (await _api(wechat_emulator, "message/custom/send", "forged", _text(RIDER, "f")))[
        "errcode"
    ] == 40001
    assert wechat_emulator.tokens_issued == 3
    assert [r.text for r in wechat_emulator.received(RIDER)] == ["a", "c", "e"]


async def test_customer_service_messages_stop_48_hours_after_the_user_last_wrote(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    wechat_emulator.user(RIDER)
    token = await _token(wechat_emulator)
    send = "message/custom/send"
    assert (await _api(wechat_emulator, send, token, _text(RIDER, "早")))["errcode"] == 45015

    await wechat_emulator.settled(wechat_emulator.send_text(RIDER, "我在"))
    wechat_emulator.advance_clock(47 * HOUR)
    token = await _token(wechat_emulator)  # tokens last two hours
    assert (await _api(wechat_emulator, send, token, _text(RIDER, "一")))["errcode"] == 0
    wechat_emulator.advance_clock(1 * HOUR + 1)
    token = await _token(wechat_emulator)
    late = await _api(wechat_emulator, send, token, _text(RIDER, "二"))
    assert late["errcode"] == 45015
    assert "rid:" in late["errmsg"]

    await wechat_emulator.settled(wechat_emulator.click(RIDER, "MENU"))  # a tap reopens it
    assert (await _api(wechat_emulator, send, token, _text(RIDER, "三")))["errcode"] == 0
    assert [r.text for r in wechat_emulator.received(RIDER)] == ["一", "三"]


async def test_template_messages_go_outside_the_window_and_need_a_known_template(
    wechat_emulator: WeChatEmulator,
) -> None:
    wechat_emulator.user(RIDER)
    token = await _token(wechat_emulator)
    body = {"touser": RIDER, "template_id": "TPL_STATUS", "data": {"first": {"value": "已处理"}}}
    sent = await _api(wechat_emulator, "message/template/send", token, body)
    unknown = await _api(
        wechat_emulator, "message/template/send", token, {**body, "template_id": "NOPE"}
    )

    assert sent["errcode"] == 0 and isinstance(sent["msgid"], int)
    assert unknown["errcode"] == 40037
    (shown,) = wechat_emulator.received(RIDER)
    assert (shown.via, shown.text, shown.body["msgid"]) == ("template", "已处理", sent["msgid"])


async def test_wechatpys_client_uploads_sends_and_downloads_an_image(
    wechat_emulator: WeChatEmulator,
) -> None:
    photo = CAMERA_PHOTO.read_bytes()
    wechat_emulator.user(RIDER)
    wechat_emulator.world.interacted(RIDER)
    client = WeChatClient(
        wechat_emulator.appid, wechat_emulator.secret, access_token=await _token(wechat_emulator)
    )
    client.API_BASE_URL = f"{wechat_emulator.url}/cgi-bin/"

    def upload_send_download() -> bytes:
        with CAMERA_PHOTO.open("rb") as media:
            media_id = client.media.upload("image", media)["media_id"]
        client.message.send_image(RIDER, media_id)
        client.message.send_text(RIDER, "照片已收到")
        return bytes(client.media.download(media_id).content)

    assert await asyncio.to_thread(upload_send_download) == photo
    image, text = wechat_emulator.received(RIDER)
    assert wechat_emulator.media_bytes(image.body["media_id"]) == photo
    assert text.text == "照片已收到"

    def unknown_media() -> None:
        client.message.send_image(RIDER, "no-such-media")

    with pytest.raises(WeChatClientException) as raised:
        await asyncio.to_thread(unknown_media)
    assert raised.value.errcode == 40007


async def test_an_upload_that_is_not_an_image_is_refused(wechat_emulator: WeChatEmulator) -> None:
    token = await _token(wechat_emulator)
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{wechat_emulator.url}/cgi-bin/media/upload",
            params={"access_token": token, "type": "image"},
            files={"media": ("a.txt", b"plain text", "text/plain")},
        )
    assert answer.json()["errcode"] == 40004


async def test_injected_faults_answer_an_errcode_or_a_gateway_error_then_recover(
    wechat_emulator: WeChatEmulator,
) -> None:
    wechat_emulator.user(RIDER)
    wechat_emulator.world.interacted(RIDER)
    token = await _token(wechat_emulator)
    wechat_emulator.inject_fault("message/custom/send", errcode=-1)
    wechat_emulator.inject_fault("message/custom/send", status=503)
    busy = await _api(wechat_emulator, "message/custom/send", token, _text(RIDER, "1"))
    async with httpx.AsyncClient() as client:
        gateway = await client.post(
            f"{wechat_emulator.url}/cgi-bin/message/custom/send",
            params={"access_token": token},
            json=_text(RIDER, "2"),
        )
    ok = await _api(wechat_emulator, "message/custom/send", token, _text(RIDER, "3"))

    assert busy["errcode"] == -1
    assert gateway.status_code == 503
    assert ok["errcode"] == 0
    assert [r.text for r in wechat_emulator.received(RIDER)] == ["3"]
    assert [c.status for c in wechat_emulator.world.calls.of("message/custom/send")] == [
        200,
        503,
        200,
    ]


# --- the control API -----------------------------------------------------------------------


async def test_the_control_api_plays_a_user_and_long_polls_what_they_receive(
    wechat_emulator: WeChatEmulator, account_server: AccountServer, wechat_control: WeChatControl
) -> None:
    account_server.answer = lambda message: TextReply(content="好的", message=message).render()
    await wechat_control.user(RIDER, nickname="小王")
    pushed = await wechat_control.send_text(RIDER, "报告")
    settled = await wechat_control.callback(pushed["id"], wait=10)
    assert settled["outcome"] == "reply"
    assert len(settled["tries"]) == 1

    first = await wechat_control.received(RIDER, wait=10)
    assert [m["text"] for m in first["messages"]] == ["好的"]
    waiting = asyncio.create_task(wechat_control.received(RIDER, since=first["cursor"], wait=10))
    await asyncio.sleep(0)  # let the long poll start before anything new exists
    token = await _token(wechat_emulator)
    await _api(wechat_emulator, "message/custom/send", token, _text(RIDER, "稍后"))
    later = await waiting
    assert [m["text"] for m in later["messages"]] == ["稍后"]

    photo = CAMERA_PHOTO.read_bytes()
    image = await wechat_control.send_image(RIDER, photo)
    assert (await wechat_control.callback(image["id"], wait=10))["done"]
    await wechat_control.advance_clock(49 * HOUR)
    assert not (await wechat_control.follower(RIDER))["in_service_window"]
    assert await wechat_control.tokens_issued() == 1
    assert (await wechat_control.verify("777"))["echoed"]


async def test_a_message_grants_five_customer_service_messages_until_the_user_writes_again(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    wechat_emulator.user(RIDER)
    await wechat_emulator.settled(wechat_emulator.send_text(RIDER, "hi"))
    token = await _token(wechat_emulator)
    codes = [(await _send(wechat_emulator, token, f"{n}"))["errcode"] for n in range(6)]
    assert codes == [0] * 5 + [45047]

    await wechat_emulator.settled(wechat_emulator.send_text(RIDER, "again"))
    assert (await _send(wechat_emulator, token, "ok"))["errcode"] == 0


async def test_following_grants_three_customer_service_messages_for_a_minute(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    await wechat_emulator.settled(wechat_emulator.subscribe(RIDER))
    token = await _token(wechat_emulator)
    codes = [(await _send(wechat_emulator, token, f"{n}"))["errcode"] for n in range(4)]
    assert codes == [0] * 3 + [45047]

    await wechat_emulator.settled(wechat_emulator.subscribe(RIDER))
    wechat_emulator.world.clock.advance(61)
    assert (await _send(wechat_emulator, token, "late"))["errcode"] == 45015


async def _send(emulator: WeChatEmulator, token: str, text: str) -> dict:  # type: ignore[type-arg]
    return await _api(emulator, "message/custom/send", token, _text(RIDER, text))


async def test_the_conversation_holds_what_the_user_sent_between_what_they_received(
    wechat_emulator: WeChatEmulator, account_server: AccountServer
) -> None:
    account_server.answer = lambda message: TextReply(content="收到", message=message).render()
    await wechat_emulator.settled(wechat_emulator.subscribe(RIDER))
    await wechat_emulator.settled(wechat_emulator.send_location(RIDER, 39.9, 116.4, label="这里"))

    shown = [(item.via, item.msgtype) for item in wechat_emulator.conversation(RIDER)]
    assert shown == [
        ("user", "event:subscribe"),
        ("reply", "text"),
        ("user", "location"),
        ("reply", "text"),
    ]
    assert [item.via for item in wechat_emulator.received(RIDER)] == ["reply", "reply"]


async def test_a_slow_fault_outlasts_the_clients_timeout_and_the_send_still_happens(
    wechat_emulator: WeChatEmulator,
) -> None:
    wechat_emulator.user(RIDER)
    wechat_emulator.world.interacted(RIDER)
    token = await _token(wechat_emulator)
    wechat_emulator.inject_fault("message/custom/send", hang=1.0)
    async with httpx.AsyncClient(timeout=0.1) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                f"{wechat_emulator.url}/cgi-bin/message/custom/send",
                params={"access_token": token},
                json=_text(RIDER, "迟到"),
            )

    late = await wechat_emulator.wait_for_message(RIDER, timeout=10)
    assert late.text == "迟到"  # carried out although the sender never heard back
