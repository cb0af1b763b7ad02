"""Faults for the API endpoints: the next N calls answer an errcode, a 5xx, or late."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bot.transports.emulator.faults import FaultQueue
from bot.transports.wechat_emulator.errors import JSON


@dataclass(slots=True, kw_only=True)
class Fault:
    """The next ``remaining`` calls of ``api`` (e.g. ``"message/custom/send"``; any when
    None) first wait ``hang`` seconds, then answer HTTP ``status`` (a 5xx from the gateway)
    or ``errcode`` (WeChat's 200 with an error body); with neither they are only slow."""

    api: str | None
    remaining: int
    errcode: int | None = None
    status: int | None = None
    hang: float = 0.0

    def matches(self, api: str) -> bool:
        return self.remaining > 0 and self.api in (None, api)

    def view(self) -> JSON:
        return asdict(self)


class FaultPlan(FaultQueue[Fault]):
    def inject(
        self,
        api: str | None = None,
        *,
        times: int = 1,
        errcode: int | None = None,
        status: int | None = None,
        hang: float = 0.0,
    ) -> Fault:
        if times < 1 or hang < 0:
            raise ValueError("times must be ≥ 1 and hang ≥ 0")
        if status is not None and not 500 <= status <= 599:
            raise ValueError("status must be a 5xx: WeChat answers its own errors with 200")
        if status is not None and errcode is not None:
            raise ValueError("give an errcode or an HTTP status, not both")
        return self._add(Fault(api=api, remaining=times, errcode=errcode, status=status, hang=hang))
