"""httpcore imports the optional sniffio on every request; when it is not installed, the
transport records it as absent once so that import fails at once instead of searching the
whole path every time (3 % of a report loop's CPU)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from httpcore._synchronization import current_async_library

from bot.transports.telegram import skip_missing_sniffio


def test_a_missing_sniffio_is_recorded_absent_and_httpcore_still_finds_asyncio() -> None:
    if importlib.util.find_spec("sniffio") is not None:
        pytest.skip("sniffio is installed here: nothing to skip")
    sys.modules.pop("sniffio", None)
    try:
        skip_missing_sniffio()
        assert "sniffio" in sys.modules and sys.modules["sniffio"] is None
        with pytest.raises(ImportError):
            import sniffio  # noqa: F401
        assert current_async_library() == "asyncio"
    finally:
        sys.modules.pop("sniffio", None)
