"""Fault injection and the per-method call log, for tests of retries and rate limits."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Generic, Protocol, TypeVar

from bot.transports.emulator.errors import JSON, ApiError


@dataclass(slots=True, kw_only=True)
class Fault:
    """The next ``remaining`` calls of ``method`` (any method when None) misbehave.

    They first hang ``hang`` seconds, then answer ``status`` (429 carries ``retry_after``);
    with ``status=None`` they only hang and then are served normally.

    ``carried_out`` does the call before hanging: a send that is delivered but answered
    late (a slow server, past the client's read timeout). ``garbled`` answers 200 with a
    body that is not JSON (a proxy's page, a truncated answer) instead of the result.
    """

    method: str | None
    remaining: int
    status: int | None = 429
    retry_after: int = 1
    hang: float = 0.0
    carried_out: bool = False
    garbled: bool = False

    def matches(self, method: str) -> bool:
        return self.remaining > 0 and (self.method is None or self.method.lower() == method.lower())

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        if self.status == HTTPStatus.TOO_MANY_REQUESTS:
            return ApiError(
                429,
                f"Too Many Requests: retry after {self.retry_after}",
                retry_after=self.retry_after,
            )
        return ApiError(self.status, HTTPStatus(self.status).phrase)


class _Firing(Protocol):
    remaining: int

    def matches(self, name: str) -> bool: ...


F = TypeVar("F", bound=_Firing)


class FaultQueue(Generic[F]):
    """Injected faults, fired in injection order, each ``remaining`` times (both emulators)."""

    def __init__(self) -> None:
        self._faults: list[F] = []

    def _add(self, fault: F) -> F:
        self._faults.append(fault)
        return fault

    def take(self, name: str) -> F | None:
        """Consume one use of the first fault that matches ``name`` (a method, an API)."""
        for fault in self._faults:
            if fault.matches(name):
                fault.remaining -= 1
                self._faults = [f for f in self._faults if f.remaining > 0]
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()


class FaultPlan(FaultQueue[Fault]):
    def inject(
        self,
        method: str | None = None,
        *,
        times: int = 1,
        status: int | None = 429,
        retry_after: int = 1,
        hang: float = 0.0,
        carried_out: bool = False,
        garbled: bool = False,
    ) -> Fault:
        if times < 1 or retry_after < 1 or hang < 0:
            raise ValueError("times and retry_after must be ≥ 1 and hang ≥ 0")
        if status is not None and not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (4xx or 5xx)")
        if garbled and status is not None:
            raise ValueError("a garbled answer is a 200: give status=None")
        return self._add(
            Fault(
                method=method,
                remaining=times,
                status=status,
                retry_after=retry_after,
                hang=hang,
                carried_out=carried_out,
                garbled=garbled,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    method: str
    at: float  # time.monotonic() when the request arrived
    status: int
    params: JSON

    def as_dict(self) -> JSON:
        return asdict(self)


class CallLog:
    def __init__(self) -> None:
        self._calls: list[Call] = []

    def record(self, call: Call) -> None:
        self._calls.append(call)

    def of(self, method: str | None = None) -> list[Call]:
        if method is None:
            return list(self._calls)
        return [call for call in self._calls if call.method.lower() == method.lower()]
