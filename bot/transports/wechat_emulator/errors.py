"""WeChat's error answers: HTTP 200 with ``{"errcode": …, "errmsg": "… rid: …"}``."""

from __future__ import annotations

import secrets
from typing import Any

from wechatpy.constants import WeChatErrorCode as Code

JSON = dict[str, Any]

# The messages the official server writes (before its " rid: …" request id).
MESSAGES: dict[int, str] = {
    Code.SYSTEM_BUSY: "system error",
    Code.INVALID_CREDENTIAL: "invalid credential, access_token is invalid or not latest",
    Code.INVALID_CREDENTIAL_TYPE: "invalid grant_type",
    Code.INVALID_OPENID: "invalid openid",
    Code.INVALID_MEDIA_TYPE: "invalid media type",
    Code.INVALID_MEDIA_ID: "invalid media_id",
    Code.INVALID_MESSAGE_TYPE: "invalid message type",
    Code.INVALID_IMAGE_SIZE: "invalid image size",
    Code.INVALID_APP_ID: "invalid appid",
    Code.INVALID_TEMPLATE: "invalid template_id",
    Code.INVALID_APP_SECRET: "invalid appsecret",
    Code.MISSING_ACCESS_TOKEN: "access_token missing",
    Code.MISSING_MEDIA_DATA: "media data missing",
    Code.EXPIRED_ACCESS_TOKEN: "access_token expired",
    Code.REQUIRE_SUBSCRIBE: "require subscribe",
    Code.EMPTY_POST_DATA: "empty post data",
    Code.OUT_OF_RESPONSE_TIME_LIMIT: "response out of time limit or subscription is canceled",
    Code.DATA_FORMAT_ERROR: "data format error",
    Code.OUT_OF_RESPONSE_COUNT_LIMIT: "out of response count limit",
}


class WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        self.errcode = int(errcode)
        self.errmsg = errmsg or MESSAGES.get(self.errcode, "error")
        super().__init__(f"{self.errcode} {self.errmsg}")

    def body(self) -> JSON:
        # Every real answer carries a request id; clients must not compare errmsg verbatim.
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg} rid: {secrets.token_hex(12)}"}
