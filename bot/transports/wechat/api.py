"""The WeChat API calls Gridsnap makes, over httpx, against ``GRIDSNAP_WECHAT_API_URL``.

The access_token lasts 7,200 s and a new one retires the old: every process reads the
one stored in the database (``storage.wechat.TokenRow``) and only the process that wins
the row's compare-and-set fetches a new one, ``REFRESH_EARLY`` before the old one runs
out, or at once when WeChat says it is invalid or expired (40001, 40014, 42001). WeChat's
error codes leave ``call`` as the outbox's neutral errors.
"""

from __future__ import annotations

import asyncio
import json as json_lib  # ``json`` is the body argument of ``call``, as in httpx
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.delivery import (
    AwaitingUser,
    DeliveryError,
    MaybeSent,
    PermanentError,
    RetryAfter,
    TransientError,
    Unreachable,
    UnreadableAnswer,
)
from bot.services.photos import FileTooBig
from storage.wechat import TokenRow

log = logging.getLogger(__name__)

REFRESH_EARLY = timedelta(minutes=5)
REFRESH_HOLD = timedelta(seconds=30)  # a refresher that died is replaced after this
TOKEN_WAIT_S = 0.2  # while another process refreshes, read its row again after this
BAD_TOKEN = frozenset({40001, 40014, 42001})
OUTSIDE_WINDOW = frozenset({45015, 45047})  # 48 h since the user wrote; too many unanswered
BUSY = frozenset({-1})
RATE_LIMITED = frozenset({45009, 45011})


class WeChatError(PermanentError):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode


def now_utc() -> datetime:
    return datetime.now(UTC)


class WeChatApi:
    def __init__(
        self,
        *,
        base_url: str,
        appid: str,
        secret: str,
        tokens: TokenRow,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = now_utc,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._appid, self._secret = appid, secret
        self._tokens = tokens
        self._clock = clock
        self._http = client or httpx.AsyncClient(timeout=timeout)
        self._cached: tuple[str, datetime] | None = None
        self._refreshing = asyncio.Lock()  # one refresh per process; the row for the rest
        self.tokens_fetched = 0  # how many times this process asked WeChat for a token

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the token ------------------------------------------------------------------------

    async def token(self) -> str:
        while True:
            if self._fresh(self._cached):
                assert self._cached is not None
                return self._cached[0]
            async with self._refreshing:
                found = await self._tokens.current()
                if self._fresh(found):
                    self._cached = found
                    continue
                now = self._clock()
                stale_at = now + REFRESH_EARLY
                if await self._tokens.take_refresh(now, hold=REFRESH_HOLD, stale_at=stale_at):
                    return await self._fetch_token(now)
            await asyncio.sleep(TOKEN_WAIT_S)  # another process is fetching it

    def _fresh(self, found: tuple[str, datetime] | None) -> bool:
        return found is not None and found[1] - REFRESH_EARLY > self._clock()

    async def _fetch_token(self, now: datetime) -> str:
        params = {"grant_type": "client_credential", "appid": self._appid, "secret": self._secret}
        try:
            answer = await self._request("GET", "/cgi-bin/token", params=params)
            token = str(answer["access_token"])
            expires_at = now + timedelta(seconds=int(answer.get("expires_in", 7200)))
        except WeChatError as exc:
            # A wrong appid or secret is the operator's to fix: transient, as a refused
            # Telegram token is, so the messages are tried again once it is fixed.
            await self._tokens.release()
            raise TransientError(f"no access_token: {exc}") from exc
        except BaseException:
            await self._tokens.release()
            raise
        self.tokens_fetched += 1
        await self._tokens.save(token, expires_at)
        self._cached = (token, expires_at)
        log.info("wechat: new access_token, valid until %s", expires_at.isoformat())
        return token

    async def _drop(self, token: str) -> None:
        if self._cached is not None and self._cached[0] == token:
            self._cached = None
        await self._tokens.invalidate(token)

    # -- calls ----------------------------------------------------------------------------

    async def call(
        self,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """POST ``path`` with the access_token; a refused token is renewed once."""
        for attempt in (1, 2):
            token = await self.token()
            try:
                return await self._request(
                    "POST", path, params={**(params or {}), "access_token": token},
                    json=json, files=files,
                )  # fmt: skip
            except WeChatError as exc:
                if exc.errcode not in BAD_TOKEN or attempt == 2:
                    raise
                log.info("wechat: access_token refused (%s); fetching a new one", exc.errcode)
                await self._drop(token)
        raise AssertionError("unreachable")

    async def media(self, media_id: str, *, max_bytes: int) -> bytes:
        """A received image's bytes (``/cgi-bin/media/get``), refused past ``max_bytes``."""
        for attempt in (1, 2):
            token = await self.token()
            params = {"access_token": token, "media_id": media_id}
            try:
                return await self._download(params, max_bytes)
            except WeChatError as exc:
                if exc.errcode not in BAD_TOKEN or attempt == 2:
                    raise
                await self._drop(token)
        raise AssertionError("unreachable")

    async def _download(self, params: Mapping[str, str], max_bytes: int) -> bytes:
        url = f"{self._base}/cgi-bin/media/get"
        try:
            async with self._http.stream("GET", url, params=params) as answer:
                declared = answer.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FileTooBig(f"{declared} bytes > {max_bytes}")
                data = bytearray()
                async for chunk in answer.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise FileTooBig(f"more than {max_bytes} bytes")
                kind = answer.headers.get("content-type", "")
                status = answer.status_code
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from exc
        if status >= 500:
            raise TransientError(f"WeChat answered {status}")
        if kind.startswith(("application/json", "text/plain")):
            _checked(_json(bytes(data)))  # an error, or JSON where a file was expected
            raise UnreadableAnswer("JSON instead of the media file")
        return bytes(data)

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer = await self._http.request(method, f"{self._base}{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from exc
        if answer.status_code >= 500:
            raise TransientError(f"WeChat answered {answer.status_code}")
        return _checked(_json(answer.content))


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json_lib.loads(body)
    except ValueError as exc:
        raise UnreadableAnswer(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UnreadableAnswer("not a JSON object")
    return data


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    code = int(data.get("errcode") or 0)
    if code == 0:
        return data
    message = str(data.get("errmsg", ""))
    if code in OUTSIDE_WINDOW:
        raise AwaitingUser(f"WeChat error {code}: {message}")
    if code in BUSY:
        raise TransientError(f"WeChat error {code}: {message}")
    if code in RATE_LIMITED:
        raise RetryAfter(60.0, whole_bot=True)
    raise WeChatError(code, message)


def _transport_error(exc: httpx.HTTPError) -> DeliveryError:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Unreachable(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.ReadTimeout):
        return MaybeSent(f"no answer in time: {exc}")
    return TransientError(str(exc) or type(exc).__name__)
